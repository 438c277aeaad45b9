//! Fleet identity for the Quantum Bridge (issue 8).
//!
//! - [`FleetCa`]: the fleet's certificate authority (`qpctl ca init`), which issues each node a
//!   certificate (`qpctl ca issue --node NAME --role cloud|local`) naming it
//!   `spiffe://<fleet>/<role>/<name>` ([`NodeId`]).
//! - [`NodeCredentials`]: a node's certificate and its key behind `qp_node_key::NodeSigner` (a
//!   key file now, the TPM later, nothing else changing), and the rustls configurations built
//!   from them: TLS 1.3 only, mutual authentication, the fleet CA the only anchor, the peer's
//!   role checked (a local node accepts only cloud nodes of its fleet, and the other way).
//! - An operator certificate (`qpctl ca issue --node NAME --role operator`, client
//!   authentication only) is for the node's management API: `management_server_config` on a
//!   node admits operators only, `management_client_config` on the operator's side accepts any
//!   node of the fleet. The bridge's configurations refuse operators.
//!
//! Design: `bridge/DESIGN.md`.
#![forbid(unsafe_code)]

mod attested;
mod fleet_ca;
mod node_id;
mod tls;

use std::path::{Path, PathBuf};

pub use attested::{ATTESTED_EXTENSION_OID, Attested, AttestedPolicy, certificate_attested};
pub use fleet_ca::{CA_CERT_FILE, CA_FLEET_FILE, CA_KEY_FILE, FleetCa, IssuedCert, Validity};
pub use node_id::{NodeId, Role};
pub use tls::{BRIDGE_ALPN, MANAGEMENT_ALPN, NodeCredentials, peer_node_id};

/// Why an identity, a certificate or a CA was refused. Names the file or the value.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("{what} {value:?}: must be {rule}")]
    Name { what: &'static str, value: String, rule: &'static str },
    #[error("certificate validity: {0}")]
    Validity(&'static str),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("the certificate of {id} is not for this node's key")]
    KeyMismatch { id: String },
    #[error("peer {found} is not a {expected_role} node of fleet {expected_fleet}")]
    WrongPeer { found: String, expected_fleet: String, expected_role: Role },
    #[error("peer {found} is not a cloud or local node of fleet {expected_fleet}")]
    NotANode { found: String, expected_fleet: String },
    #[error("{role} certificates are not for {purpose}")]
    RoleNotAllowed { role: Role, purpose: &'static str },
    #[error("the peer's certificate was not issued after an attestation (no attested extension)")]
    NotAttested,
    #[error("the peer's attested certificate lives {lifetime:?}, longer than the {max:?} accepted")]
    AttestedLifetime { lifetime: std::time::Duration, max: std::time::Duration },
    #[error("the peer presented no certificate")]
    NoPeerCertificate,
    #[error("{0}")]
    Crypto(String),
}

/// The certificates in a PEM text, DER, in order; `path` names it in errors.
pub fn pem_certificates(text: &str, path: &Path) -> Result<Vec<Vec<u8>>, IdentityError> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(text.as_bytes())
        .map(|cert| cert.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| IdentityError::File { path: path.to_owned(), reason: format!("bad PEM certificate: {err:?}") })
}

pub(crate) fn parse_certificate(der: &[u8]) -> Result<x509_parser::certificate::X509Certificate<'_>, IdentityError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|err| IdentityError::Certificate(format!("not a DER X.509 certificate: {err}")))?;
    if !rest.is_empty() {
        return Err(IdentityError::Certificate("trailing bytes after the certificate".to_owned()));
    }
    Ok(cert)
}

/// A certificate's SubjectPublicKeyInfo, DER.
pub fn certificate_spki(der: &[u8]) -> Result<Vec<u8>, IdentityError> {
    Ok(parse_certificate(der)?.tbs_certificate.subject_pki.raw.to_vec())
}

/// Checks that `cert_der` is a node certificate the fleet CA (`ca_der`) issued and that it is
/// valid now (for TLS client and server use, as the bridge needs); answers the node it names.
/// A node checks a certificate this way before it installs one it was sent.
pub fn verify_node_certificate(cert_der: &[u8], ca_der: &[u8]) -> Result<NodeId, IdentityError> {
    use rustls_pki_types::{CertificateDer, UnixTime};
    let ca = CertificateDer::from(ca_der);
    let anchor = webpki::anchor_from_trusted_cert(&ca)
        .map_err(|err| IdentityError::Certificate(format!("fleet CA certificate: {err:?}")))?;
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|err| IdentityError::Certificate(format!("not a certificate: {err:?}")))?;
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    for usage in [webpki::KeyUsage::client_auth(), webpki::KeyUsage::server_auth()] {
        cert.verify_for_usage(algorithms.all, std::slice::from_ref(&anchor), &[], UnixTime::now(), usage, None, None)
            .map_err(|err| IdentityError::Certificate(format!("not valid under the fleet CA: {err:?}")))?;
    }
    let id = certificate_node_id(cert_der)?;
    if !id.role().is_node() {
        return Err(IdentityError::RoleNotAllowed { role: id.role(), purpose: "a node's bridge certificate" });
    }
    Ok(id)
}

/// When a certificate stops being valid.
pub fn certificate_not_after(der: &[u8]) -> Result<std::time::SystemTime, IdentityError> {
    let seconds = parse_certificate(der)?.validity().not_after.timestamp();
    let seconds = u64::try_from(seconds).map_err(|_| IdentityError::Validity("notAfter before 1970"))?;
    Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
}

/// The node a certificate names: its one URI SAN, a SPIFFE ID ([`NodeId::from_uri`]).
pub fn certificate_node_id(der: &[u8]) -> Result<NodeId, IdentityError> {
    use x509_parser::extensions::GeneralName;
    let cert = parse_certificate(der)?;
    let san = cert
        .subject_alternative_name()
        .map_err(|err| IdentityError::Certificate(format!("subject alternative names: {err}")))?
        .ok_or_else(|| IdentityError::Certificate("no subject alternative name".to_owned()))?;
    let mut uris = san.value.general_names.iter().filter_map(|name| match name {
        GeneralName::URI(uri) => Some(*uri),
        _ => None,
    });
    match (uris.next(), uris.next()) {
        (Some(uri), None) => NodeId::from_uri(uri),
        (None, _) => Err(IdentityError::Certificate("no URI subject alternative name".to_owned())),
        (Some(_), Some(_)) => Err(IdentityError::Certificate("more than one URI subject alternative name".to_owned())),
    }
}
