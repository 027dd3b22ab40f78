//! `pki::init` and `pki::add_node` output: files, modes, names, and the refusals to replace a CA
//! or a node's key.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use ssinet_interconnect::NodeId;
use ssinet_interconnect::identity::{IdentityError, NodeIdentity, certificate_names_node};
use ssinet_interconnect::pki::{self, PkiError, PkiNode};
use tempfile::TempDir;

fn nodes() -> Vec<PkiNode> {
    [(1, 10), (2, 11), (7, 12)]
        .into_iter()
        .map(|(node, last)| PkiNode {
            node: NodeId(node),
            interconnect_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn leaf(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).unwrap()
}

#[test]
fn init_writes_a_ca_and_one_identity_per_node() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("pki");
    let layout = pki::init(&nodes(), &out, false).unwrap();
    assert_eq!(layout.ca_cert, out.join("ca.pem"));
    assert_eq!(mode(&layout.ca_key), 0o600);
    assert_eq!(
        layout.node_dirs.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![NodeId(1), NodeId(2), NodeId(7)]
    );
    for (node, dir) in &layout.node_dirs {
        assert_eq!(mode(&dir.join("node.key")), 0o600);
        assert_eq!(mode(dir), 0o700);
        assert_eq!(
            std::fs::read(dir.join("ca.pem")).unwrap(),
            std::fs::read(&layout.ca_cert).unwrap()
        );
        let cert = leaf(&dir.join("node.pem"));
        certificate_names_node(&cert, *node).unwrap();
        assert!(certificate_names_node(&cert, NodeId(node.get() + 1)).is_err());
        // The IP SAN is the interconnect address.
        let ip = nodes()
            .iter()
            .find(|n| n.node == *node)
            .unwrap()
            .interconnect_ip;
        let end_entity = webpki::EndEntityCert::try_from(&cert).unwrap();
        end_entity
            .verify_is_valid_for_subject_name(&ServerName::IpAddress(ip.into()))
            .unwrap();
        let identity = NodeIdentity::load(dir, *node).unwrap();
        assert_eq!(identity.node(), *node);
    }
}

#[test]
fn init_refuses_to_replace_a_ca_unless_asked() {
    let tmp = TempDir::new().unwrap();
    pki::init(&nodes(), tmp.path(), false).unwrap();
    let before = std::fs::read(tmp.path().join("ca.pem")).unwrap();
    let err = pki::init(&nodes(), tmp.path(), false).unwrap_err();
    assert!(matches!(err, PkiError::CaExists(_)), "{err}");
    assert_eq!(std::fs::read(tmp.path().join("ca.pem")).unwrap(), before);

    pki::init(&nodes(), tmp.path(), true).unwrap();
    assert_ne!(std::fs::read(tmp.path().join("ca.pem")).unwrap(), before);
    assert_eq!(mode(&tmp.path().join("ca.key")), 0o600);
}

#[test]
fn init_rejects_bad_node_lists() {
    let tmp = TempDir::new().unwrap();
    assert!(matches!(
        pki::init(&[], tmp.path(), false),
        Err(PkiError::NoNodes)
    ));
    let mut twice = nodes();
    twice.push(twice[0]);
    assert!(matches!(
        pki::init(&twice, tmp.path(), false),
        Err(PkiError::BadNodeNumber(NodeId(1)))
    ));
    assert!(!tmp.path().join("ca.pem").exists());
}

#[test]
fn loading_another_nodes_files_is_refused() {
    let tmp = TempDir::new().unwrap();
    pki::init(&nodes(), tmp.path(), false).unwrap();
    let err = NodeIdentity::load(&tmp.path().join("node2"), NodeId(7)).unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::WrongNode {
                node: NodeId(7),
                ..
            }
        ),
        "{err}"
    );
    let err = NodeIdentity::load(&tmp.path().join("node9"), NodeId(9)).unwrap_err();
    assert!(matches!(err, IdentityError::Pem { .. }), "{err}");
}

#[test]
fn add_node_issues_an_identity_from_the_existing_ca() {
    let tmp = TempDir::new().unwrap();
    let layout = pki::init(&nodes(), tmp.path(), false).unwrap();
    let new = PkiNode {
        node: NodeId(9),
        interconnect_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 19)),
    };
    let out = tmp.path().join("issued");
    let dir = pki::add_node(tmp.path(), new, &out, false).unwrap();
    assert_eq!(dir, out.join("node9"));
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("node.key")), 0o600);
    assert_eq!(
        std::fs::read(dir.join("ca.pem")).unwrap(),
        std::fs::read(&layout.ca_cert).unwrap()
    );
    let cert = leaf(&dir.join("node.pem"));
    certificate_names_node(&cert, NodeId(9)).unwrap();
    webpki::EndEntityCert::try_from(&cert)
        .unwrap()
        .verify_is_valid_for_subject_name(&ServerName::IpAddress(new.interconnect_ip.into()))
        .unwrap();
    assert_eq!(
        NodeIdentity::load(&dir, NodeId(9)).unwrap().node(),
        NodeId(9)
    );

    // Replacing the node's key needs force; the refusal says how.
    let key = std::fs::read(dir.join("node.key")).unwrap();
    let err = pki::add_node(tmp.path(), new, &out, false).unwrap_err();
    assert!(matches!(err, PkiError::NodeExists(_)), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(std::fs::read(dir.join("node.key")).unwrap(), key);
    pki::add_node(tmp.path(), new, &out, true).unwrap();
    assert_ne!(std::fs::read(dir.join("node.key")).unwrap(), key);
    assert_eq!(mode(&dir.join("node.key")), 0o600);
}

#[test]
fn add_node_refuses_a_ca_key_from_another_ca() {
    let tmp = TempDir::new().unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    pki::init(&nodes(), &ours, false).unwrap();
    pki::init(&nodes(), &theirs, false).unwrap();
    std::fs::copy(theirs.join("ca.key"), ours.join("ca.key")).unwrap();
    let new = PkiNode {
        node: NodeId(9),
        interconnect_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 19)),
    };
    let err = pki::add_node(&ours, new, &ours, false).unwrap_err();
    assert!(matches!(err, PkiError::BadCa { .. }), "{err}");
    assert!(!ours.join("node9").exists());

    let err = pki::add_node(&tmp.path().join("missing"), new, &ours, false).unwrap_err();
    assert!(err.to_string().contains("cvipctl pki init"), "{err}");
}
