//! TLS identities for the interconnect: mutual TLS 1.3 where the cluster CA vouches for both
//! sides and the certificate's DNS name says which node a peer is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, DnsName, PrivateKeyDer, ServerName};

use crate::NodeId;
use crate::pki::{CA_FILE, CERT_FILE, KEY_FILE, node_dns_name};

/// Why a node's TLS identity could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A PEM file is missing, unreadable or holds no usable item.
    #[error(
        "cannot read {path}: {reason}; copy the node's files from `cvipctl pki init` output (node<N>/ca.pem, node.pem, node.key)"
    )]
    Pem { path: PathBuf, reason: String },
    /// The certificate belongs to another node (files copied to the wrong machine).
    #[error("{path} is not a certificate for node {node} ({name}): {reason}")]
    WrongNode {
        path: PathBuf,
        node: NodeId,
        name: String,
        reason: String,
    },
    /// rustls rejected the configuration (e.g. key and certificate do not match).
    #[error("invalid TLS configuration from {dir}: {reason}")]
    Config { dir: PathBuf, reason: String },
}

/// A node's loaded TLS identity: the server and client configurations of the interconnect.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    node: NodeId,
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl NodeIdentity {
    /// Loads `ca.pem`, `node.pem` and `node.key` from `dir` and checks the certificate is node
    /// `node`'s.
    pub fn load(dir: &Path, node: NodeId) -> Result<Self, IdentityError> {
        let ca_path = dir.join(CA_FILE);
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        let pem_err = |path: &Path, reason: String| IdentityError::Pem {
            path: path.to_path_buf(),
            reason,
        };
        let ca: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&ca_path)
            .and_then(|it| it.collect())
            .map_err(|e| pem_err(&ca_path, e.to_string()))?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
            .and_then(|it| it.collect())
            .map_err(|e| pem_err(&cert_path, e.to_string()))?;
        let key = PrivateKeyDer::from_pem_file(&key_path)
            .map_err(|e| pem_err(&key_path, e.to_string()))?;
        let leaf = chain
            .first()
            .ok_or_else(|| pem_err(&cert_path, "no certificate in the file".into()))?;
        if ca.is_empty() {
            return Err(pem_err(&ca_path, "no certificate in the file".into()));
        }
        certificate_names_node(leaf, node).map_err(|reason| IdentityError::WrongNode {
            path: cert_path.clone(),
            node,
            name: node_dns_name(node),
            reason,
        })?;

        let config_err = |reason: String| IdentityError::Config {
            dir: dir.to_path_buf(),
            reason,
        };
        let mut roots = RootCertStore::empty();
        for cert in ca {
            roots
                .add(cert)
                .map_err(|e| config_err(format!("ca.pem: {e}")))?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| config_err(format!("client verifier: {e}")))?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| config_err(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| config_err(format!("node.pem/node.key: {e}")))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| config_err(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| config_err(format!("node.pem/node.key: {e}")))?;
        Ok(Self {
            node,
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }

    /// The node this identity belongs to.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The server side: requires a client certificate from the cluster CA.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }

    /// The client side: presents this node's certificate and trusts only the cluster CA.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }
}

/// The TLS server name to verify when dialing `node`.
pub fn server_name(node: NodeId) -> ServerName<'static> {
    ServerName::DnsName(
        DnsName::try_from(node_dns_name(node)).expect("node<N>.ssinet.cluster is a valid DNS name"),
    )
}

/// Checks that `cert` (already verified against the CA) names `node`.
pub fn certificate_names_node(cert: &CertificateDer<'_>, node: NodeId) -> Result<(), String> {
    let cert = webpki::EndEntityCert::try_from(cert).map_err(|e| format!("unparsable: {e}"))?;
    cert.verify_is_valid_for_subject_name(&server_name(node))
        .map_err(|e| format!("not valid for {}: {e}", node_dns_name(node)))
}
