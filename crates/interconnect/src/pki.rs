//! The cluster PKI: a cluster CA and one key and certificate per node.
//!
//! `cvipctl pki init` calls [`init`]; the operator then copies `node<N>/` to node N's
//! configuration directory. A node added to clustertab later gets its files from [`add_node`]
//! (`cvipctl pki add-node`), signed by the same CA, so the running nodes accept it unchanged. A node's certificate names it twice: DNS SAN `node<N>.ssinet.cluster`
//! (what peers verify) and IP SAN = its interconnect address (for operators' tools).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::NodeId;

/// The DNS name a node's certificate carries and peers verify.
pub fn node_dns_name(node: NodeId) -> String {
    format!("node{node}.ssinet.cluster")
}

/// File names inside a node's PKI directory.
pub const CA_FILE: &str = "ca.pem";
/// The node's certificate.
pub const CERT_FILE: &str = "node.pem";
/// The node's private key (mode 0600).
pub const KEY_FILE: &str = "node.key";
/// The CA's private key, kept only in the `pki init` output directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// A node to issue a certificate for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PkiNode {
    /// Node number from `clustertab`.
    pub node: NodeId,
    /// Interconnect IP from `clustertab`.
    pub interconnect_ip: IpAddr,
}

/// Why the PKI could not be created.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A CA already exists in the output directory; replacing it would lock every node out.
    #[error(
        "{0} already exists: refusing to replace the cluster CA (every node would need new files); pass overwrite to replace it"
    )]
    CaExists(PathBuf),
    /// A node directory exists already; replacing its key would lock that node out until it
    /// gets the new files.
    #[error(
        "{0} already exists: refusing to replace that node's key and certificate (a running node may use them); pass force (cvipctl pki add-node --force) to issue new ones"
    )]
    NodeExists(PathBuf),
    /// The CA files could not be read or do not form a CA that can sign.
    #[error(
        "cannot use {path} as the cluster CA: {reason}; give the directory `cvipctl pki init` wrote (it holds ca.pem and ca.key)"
    )]
    BadCa { path: PathBuf, reason: String },
    /// No nodes were given.
    #[error("no nodes to issue certificates for: the clustertab lists none")]
    NoNodes,
    /// Node numbers must be unique and positive.
    #[error("node number {0} is listed twice or is 0")]
    BadNodeNumber(NodeId),
    /// rcgen could not build a key or certificate.
    #[error("cannot generate {what}: {source}")]
    Generate { what: String, source: rcgen::Error },
    /// Writing an output file failed.
    #[error("cannot write {path}: {source}; check the output directory and its permissions")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What [`init`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiLayout {
    /// `out_dir/ca.pem`.
    pub ca_cert: PathBuf,
    /// `out_dir/ca.key` (0600).
    pub ca_key: PathBuf,
    /// Per node, `out_dir/node<N>`, holding `ca.pem`, `node.pem`, `node.key`.
    pub node_dirs: Vec<(NodeId, PathBuf)>,
}

/// Creates the cluster CA and one key and certificate per node under `out_dir`.
///
/// Writes `out_dir/ca.pem`, `out_dir/ca.key` (0600) and `out_dir/node<N>/{ca.pem,node.pem,
/// node.key}` (directory 0700, key 0600). Refuses to replace an existing `ca.pem` unless
/// `overwrite`.
pub fn init(nodes: &[PkiNode], out_dir: &Path, overwrite: bool) -> Result<PkiLayout, PkiError> {
    if nodes.is_empty() {
        return Err(PkiError::NoNodes);
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in nodes {
        if n.node.get() == 0 || !seen.insert(n.node) {
            return Err(PkiError::BadNodeNumber(n.node));
        }
    }
    let ca_cert_path = out_dir.join(CA_FILE);
    if ca_cert_path.exists() && !overwrite {
        return Err(PkiError::CaExists(ca_cert_path));
    }
    make_dir(out_dir)?;

    let ca_key = generate_key("the CA key")?;
    let ca_params = ca_params();
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|source| PkiError::Generate {
            what: "the CA certificate".into(),
            source,
        })?;
    let ca_pem = ca_cert.pem();
    let ca_key_path = out_dir.join(CA_KEY_FILE);
    write_file(&ca_key_path, ca_key.serialize_pem().as_bytes(), true)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut node_dirs = Vec::new();
    for n in nodes {
        let dir = out_dir.join(format!("node{}", n.node));
        let (cert, key) = issue(n, &issuer)?;
        write_node_dir(&dir, &ca_pem, &cert, &key)?;
        node_dirs.push((n.node, dir));
    }
    // The CA certificate goes last: its presence marks a complete PKI.
    write_file(&ca_cert_path, ca_pem.as_bytes(), false)?;
    tracing::info!(out_dir = %out_dir.display(), nodes = nodes.len(), "cluster PKI created");
    Ok(PkiLayout {
        ca_cert: ca_cert_path,
        ca_key: ca_key_path,
        node_dirs,
    })
}

/// Issues a key and certificate for `node`, signed by the CA whose files `pki init` wrote in
/// `ca_dir` (`ca.pem`, `ca.key`), into `out_dir/node<N>/` in the same layout as [`init`].
/// Returns that directory.
///
/// For a node added to clustertab after `pki init`: the running nodes trust the same CA, so
/// they accept the new node without any change. Refuses to replace an existing node directory
/// unless `force`. The new certificate is checked to chain to `ca.pem` before anything is
/// written, so a `ca.key` from another CA is refused.
pub fn add_node(
    ca_dir: &Path,
    node: PkiNode,
    out_dir: &Path,
    force: bool,
) -> Result<PathBuf, PkiError> {
    if node.node.get() == 0 {
        return Err(PkiError::BadNodeNumber(node.node));
    }
    let dir = out_dir.join(format!("node{}", node.node));
    if dir.exists() && !force {
        return Err(PkiError::NodeExists(dir));
    }
    let ca_cert_path = ca_dir.join(CA_FILE);
    let ca_key_path = ca_dir.join(CA_KEY_FILE);
    let read = |path: &Path| {
        fs::read_to_string(path).map_err(|e| PkiError::BadCa {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    };
    let ca_pem = read(&ca_cert_path)?;
    let ca_key = KeyPair::from_pem(&read(&ca_key_path)?).map_err(|e| PkiError::BadCa {
        path: ca_key_path.clone(),
        reason: format!("not a private key: {e}"),
    })?;
    // `pki init` made the CA from these parameters; the check below proves ca.key is its key.
    let issuer = Issuer::new(ca_params(), ca_key);
    let (cert, key) = issue(&node, &issuer)?;
    verify_chain(&ca_pem, &cert).map_err(|reason| PkiError::BadCa {
        path: ca_key_path,
        reason: format!(
            "a certificate it signs does not chain to {}: {reason}",
            ca_cert_path.display()
        ),
    })?;
    write_node_dir(&dir, &ca_pem, &cert, &key)?;
    tracing::info!(node = %node.node, dir = %dir.display(), "node certificate issued");
    Ok(dir)
}

/// A fresh key and a certificate for `node`, signed by `issuer`.
fn issue(node: &PkiNode, issuer: &Issuer<'_, KeyPair>) -> Result<(String, KeyPair), PkiError> {
    let key = generate_key(&format!("the key of node {}", node.node))?;
    let cert = node_params(node)?
        .signed_by(&key, issuer)
        .map_err(|source| PkiError::Generate {
            what: format!("the certificate of node {}", node.node),
            source,
        })?;
    Ok((cert.pem(), key))
}

/// Checks that `cert_pem` is accepted as a client certificate by a peer trusting `ca_pem`,
/// exactly as the RPC server checks it.
fn verify_chain(ca_pem: &str, cert_pem: &str) -> Result<(), String> {
    use rustls::server::WebPkiClientVerifier;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, UnixTime};

    let ca =
        CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| format!("ca.pem: {e}"))?;
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| format!("certificate: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).map_err(|e| format!("ca.pem: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| e.to_string())?;
    verifier
        .verify_client_cert(&cert, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Writes `dir/{ca.pem,node.pem,node.key}` (directory 0700, key 0600).
fn write_node_dir(dir: &Path, ca_pem: &str, cert_pem: &str, key: &KeyPair) -> Result<(), PkiError> {
    make_dir(dir)?;
    write_file(&dir.join(CA_FILE), ca_pem.as_bytes(), false)?;
    write_file(&dir.join(CERT_FILE), cert_pem.as_bytes(), false)?;
    write_file(&dir.join(KEY_FILE), key.serialize_pem().as_bytes(), true)
}

fn generate_key(what: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate().map_err(|source| PkiError::Generate {
        what: what.into(),
        source,
    })
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "ssinet cluster CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn node_params(node: &PkiNode) -> Result<CertificateParams, PkiError> {
    let name = node_dns_name(node.node);
    let mut params =
        CertificateParams::new(vec![name.clone()]).map_err(|source| PkiError::Generate {
            what: format!("the certificate parameters of node {}", node.node),
            source,
        })?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(node.interconnect_ip));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // Every node is both a server (peers dial it) and a client (it dials peers).
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn make_dir(dir: &Path) -> Result<(), PkiError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PkiError::Write {
            path: dir.to_path_buf(),
            source,
        })
}

fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), PkiError> {
    let err = |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)
        .map_err(err)?;
    if secret {
        // `mode` applies only to new files; an overwritten key must not keep a looser mode.
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(err)?;
    }
    file.write_all(contents).map_err(err)?;
    file.sync_all().map_err(err)
}
