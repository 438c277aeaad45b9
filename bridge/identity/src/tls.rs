//! rustls configurations for the bridge and the management API: TLS 1.3 only, mutual
//! authentication, the fleet CA the only trust anchor, the peer's role checked from its SPIFFE
//! ID, and the node's own key behind [`NodeSigner`] (a file now, the TPM later).
//!
//! The bridge is between nodes (cloud and local) only. The management API is an operator's
//! (role `operator`) view of one node: a node serves it to operators only, an operator dials
//! it and accepts any node of the fleet. Each has its own ALPN id, so neither client completes
//! a handshake with the other's server.
//!
//! The peer's identity is its SPIFFE ID, not a DNS name: a dialer checks the peer's chain and
//! role and ignores the name it dialled (127.0.0.1 in tests, an address in production).
use std::sync::Arc;

use qp_node_key::NodeSigner;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, Error as TlsError, ServerConfig,
    SignatureAlgorithm, SignatureScheme,
};

use crate::{IdentityError, NodeId, Role};

/// ALPN protocol id of the bridge.
pub const BRIDGE_ALPN: &[u8] = b"qp-bridge/1";

/// ALPN protocol id of the management API (HTTP/1.1 underneath).
pub const MANAGEMENT_ALPN: &[u8] = b"qp-mgmt/1";

/// Also offered by the management server, so that `curl` (which offers `h2` and `http/1.1`)
/// reaches it; a bridge client offers only [`BRIDGE_ALPN`] and is refused.
const HTTP11_ALPN: &[u8] = b"http/1.1";

/// Whom a verifier admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accept {
    /// This role only.
    Role(Role),
    /// Any node: cloud or local.
    Node,
}

/// A node's TLS credentials: its certificate (issued by the fleet CA for its key) and its
/// signer, and the fleet CA it trusts.
#[derive(Clone)]
pub struct NodeCredentials {
    pub id: NodeId,
    cert: CertificateDer<'static>,
    signer: Arc<dyn NodeSigner>,
    /// The fleet CA, the one trust anchor.
    anchor: rustls::pki_types::TrustAnchor<'static>,
    /// On the bridge, admit only peers with attested certificates ([`crate::AttestedPolicy`]).
    attested_peers: Option<crate::AttestedPolicy>,
}

impl std::fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredentials").field("id", &self.id).finish_non_exhaustive()
    }
}

impl NodeCredentials {
    /// `cert` (DER) must be the fleet CA's (`ca`, DER) certificate for `signer`'s key; its SPIFFE
    /// ID is the node's identity.
    pub fn new(cert: Vec<u8>, signer: Arc<dyn NodeSigner>, ca: Vec<u8>) -> Result<Self, IdentityError> {
        let id = crate::certificate_node_id(&cert)?;
        let key = qp_node_key::PublicKey::from_spki_der(&crate::certificate_spki(&cert)?)
            .map_err(|err| IdentityError::Crypto(err.to_string()))?;
        if key != signer.public_key() {
            return Err(IdentityError::KeyMismatch { id: id.uri() });
        }
        let anchor = webpki::anchor_from_trusted_cert(&CertificateDer::from(ca.as_slice()))
            .map_err(|err| IdentityError::Crypto(format!("fleet CA certificate: {err:?}")))?
            .to_owned();
        Ok(Self { id, cert: CertificateDer::from(cert), signer, anchor, attested_peers: None })
    }

    /// From files: the node certificate (PEM), the node's key file (`FileKeySigner`) and the
    /// fleet CA certificate (PEM).
    pub fn load(
        cert_pem: &std::path::Path,
        key: &std::path::Path,
        ca_pem: &std::path::Path,
    ) -> Result<Self, IdentityError> {
        let signer = qp_node_key::FileKeySigner::load(key)
            .map_err(|err| IdentityError::File { path: key.to_owned(), reason: err.to_string() })?;
        Self::with_signer(cert_pem, Arc::new(signer), ca_pem)
    }

    /// As [`NodeCredentials::load`] with any signer (the TPM's).
    pub fn with_signer(
        cert_pem: &std::path::Path,
        signer: Arc<dyn NodeSigner>,
        ca_pem: &std::path::Path,
    ) -> Result<Self, IdentityError> {
        let first = |path: &std::path::Path| -> Result<Vec<u8>, IdentityError> {
            let text =
                std::fs::read_to_string(path).map_err(|source| IdentityError::Io { path: path.to_owned(), source })?;
            crate::pem_certificates(&text, path)?
                .into_iter()
                .next()
                .ok_or_else(|| IdentityError::File { path: path.to_owned(), reason: "no certificate".to_owned() })
        };
        Self::new(first(cert_pem)?, signer, first(ca_pem)?)
    }

    /// On the bridge (not the management API), admit only peers whose certificate the verifier
    /// issued after a passing attestation and that live no longer than `policy` allows; expired
    /// ones are refused like any other.
    pub fn require_attested_peers(mut self, policy: crate::AttestedPolicy) -> Self {
        self.attested_peers = Some(policy);
        self
    }

    /// This node's own certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        self.cert.as_ref()
    }

    fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::new(CertifiedKey::new(vec![self.cert.clone()], Arc::new(NodeSigningKey { signer: self.signer.clone() })))
    }

    fn verifier(
        &self,
        accept: Accept,
        attested: Option<crate::AttestedPolicy>,
        provider: &CryptoProvider,
    ) -> Arc<FleetVerifier> {
        // A trust anchor's subject is the Name's contents; the hint is the whole DER Name.
        let subject = DistinguishedName::in_sequence(self.anchor.subject.as_ref());
        Arc::new(FleetVerifier {
            anchors: vec![self.anchor.clone()],
            root_subjects: vec![subject],
            fleet: self.id.fleet().to_owned(),
            accept,
            attested,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    /// Refuses `role` on the bridge: both ends of it are nodes.
    fn bridge_role(role: Role) -> Result<(), IdentityError> {
        if role.is_node() { Ok(()) } else { Err(IdentityError::RoleNotAllowed { role, purpose: "the bridge" }) }
    }

    /// The bridge's accepting end: TLS 1.3 only, a client certificate required, from this fleet's
    /// CA and of role `accept`. Refused for an operator's credentials or `accept` operator.
    pub fn server_config(&self, accept: Role) -> Result<ServerConfig, IdentityError> {
        Self::bridge_role(self.id.role())?;
        Self::bridge_role(accept)?;
        self.build_server_config(Accept::Role(accept), self.attested_peers, vec![BRIDGE_ALPN.to_vec()])
    }

    /// The management API's server, on a node: TLS 1.3 only, a client certificate required, from
    /// this fleet's CA and of role operator; this node's certificate presented. ALPN
    /// [`MANAGEMENT_ALPN`] (or `http/1.1`, for curl). Refused for an operator's credentials.
    pub fn management_server_config(&self) -> Result<ServerConfig, IdentityError> {
        if !self.id.role().is_node() {
            return Err(IdentityError::RoleNotAllowed { role: self.id.role(), purpose: "serving the management API" });
        }
        self.build_server_config(
            Accept::Role(Role::Operator),
            None,
            vec![MANAGEMENT_ALPN.to_vec(), HTTP11_ALPN.to_vec()],
        )
    }

    /// The management API's client, an operator's: TLS 1.3 only, the server's certificate from
    /// this fleet's CA and of a node (cloud or local, any name), the operator's certificate
    /// offered, ALPN [`MANAGEMENT_ALPN`]. Refused unless these are an operator's credentials.
    pub fn management_client_config(&self) -> Result<ClientConfig, IdentityError> {
        if self.id.role() != Role::Operator {
            return Err(IdentityError::RoleNotAllowed {
                role: self.id.role(),
                purpose: "the management API's client (an operator's)",
            });
        }
        self.build_client_config(Accept::Node, None, vec![MANAGEMENT_ALPN.to_vec()])
    }

    fn build_server_config(
        &self,
        accept: Accept,
        attested: Option<crate::AttestedPolicy>,
        alpn: Vec<Vec<u8>>,
    ) -> Result<ServerConfig, IdentityError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = self.verifier(accept, attested, &provider);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|err| IdentityError::Crypto(err.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(FixedCert(self.certified_key())));
        config.alpn_protocols = alpn;
        // No resumption tickets: every connection authenticates in full, and nothing about a
        // past session outlives the process.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(config)
    }

    /// The bridge's dialling end: TLS 1.3 only, the peer's certificate from this fleet's CA and of
    /// role `accept`, this node's certificate offered. Refused for an operator's credentials or
    /// `accept` operator.
    pub fn client_config(&self, accept: Role) -> Result<ClientConfig, IdentityError> {
        Self::bridge_role(self.id.role())?;
        Self::bridge_role(accept)?;
        self.build_client_config(Accept::Role(accept), self.attested_peers, vec![BRIDGE_ALPN.to_vec()])
    }

    fn build_client_config(
        &self,
        accept: Accept,
        attested: Option<crate::AttestedPolicy>,
        alpn: Vec<Vec<u8>>,
    ) -> Result<ClientConfig, IdentityError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = self.verifier(accept, attested, &provider);
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|err| IdentityError::Crypto(err.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(Arc::new(FixedCert(self.certified_key())));
        config.alpn_protocols = alpn;
        config.resumption = rustls::client::Resumption::disabled();
        Ok(config)
    }
}

/// The peer's identity from a finished handshake's certificate.
pub fn peer_node_id(certificates: Option<&[CertificateDer<'_>]>) -> Result<NodeId, IdentityError> {
    let first = certificates.and_then(|c| c.first()).ok_or(IdentityError::NoPeerCertificate)?;
    crate::certificate_node_id(first)
}

#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl rustls::client::ResolvesClientCert for FixedCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The node's [`NodeSigner`] as rustls's signing key: ECDSA P-256 with SHA-256 only.
struct NodeSigningKey {
    signer: Arc<dyn NodeSigner>,
}

impl std::fmt::Debug for NodeSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSigningKey").field("public_key", &self.signer.public_key()).finish()
    }
}

impl SigningKey for NodeSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
            .then(|| Box::new(NodeTlsSigner { signer: self.signer.clone() }) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

struct NodeTlsSigner {
    signer: Arc<dyn NodeSigner>,
}

impl std::fmt::Debug for NodeTlsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeTlsSigner")
    }
}

impl Signer for NodeTlsSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TlsError> {
        self.signer.sign_message_der(message).map_err(|err| TlsError::General(err.to_string()))
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}

/// Checks a peer's chain to the fleet CA (validity period included) and its SPIFFE ID: this
/// fleet, the expected role.
#[derive(Debug)]
struct FleetVerifier {
    anchors: Vec<rustls::pki_types::TrustAnchor<'static>>,
    root_subjects: Vec<DistinguishedName>,
    fleet: String,
    accept: Accept,
    attested: Option<crate::AttestedPolicy>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl FleetVerifier {
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        usage: webpki::KeyUsage,
    ) -> Result<(), TlsError> {
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(webpki_error)?;
        cert.verify_for_usage(self.algorithms.all, &self.anchors, intermediates, now, usage, None, None)
            .map_err(webpki_error)?;
        let id = crate::certificate_node_id(end_entity)
            .map_err(|err| TlsError::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(err)))))?;
        let refusal = match self.accept {
            Accept::Role(role) if id.fleet() != self.fleet || id.role() != role => Some(IdentityError::WrongPeer {
                found: id.uri(),
                expected_fleet: self.fleet.clone(),
                expected_role: role,
            }),
            Accept::Node if id.fleet() != self.fleet || !id.role().is_node() => {
                Some(IdentityError::NotANode { found: id.uri(), expected_fleet: self.fleet.clone() })
            }
            _ => None,
        };
        let refusal = match (refusal, &self.attested) {
            (None, Some(policy)) => crate::attested::check(end_entity, policy).err(),
            (refusal, _) => refusal,
        };
        match refusal {
            Some(err) => Err(TlsError::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(err))))),
            None => Ok(()),
        }
    }
}

impl FleetVerifier {
    fn tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

/// TLS 1.3 only: a 1.2 handshake never gets as far as a signature.
fn tls12_refused() -> TlsError {
    TlsError::General("TLS 1.2 is not accepted".to_owned())
}

fn webpki_error(err: webpki::Error) -> TlsError {
    use webpki::Error as E;
    let cert = match err {
        E::BadDer | E::BadDerTime => CertificateError::BadEncoding,
        E::CertExpired { .. } | E::InvalidCertValidity => CertificateError::Expired,
        E::CertNotValidYet { .. } => CertificateError::NotValidYet,
        E::UnknownIssuer => CertificateError::UnknownIssuer,
        E::InvalidSignatureForPublicKey | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            CertificateError::BadSignature
        }
        E::RequiredEkuNotFoundContext(_) => CertificateError::InvalidPurpose,
        other => CertificateError::Other(rustls::OtherError(Arc::new(IdentityError::Crypto(format!("{other:?}"))))),
    };
    TlsError::InvalidCertificate(cert)
}

impl ClientCertVerifier for FleetVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.root_subjects
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        self.verify(end_entity, intermediates, now, webpki::KeyUsage::client_auth())?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        Err(tls12_refused())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ServerCertVerifier for FleetVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        self.verify(end_entity, intermediates, now, webpki::KeyUsage::server_auth())?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        Err(tls12_refused())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
