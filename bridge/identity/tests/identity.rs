#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The fleet CA, node certificates and the mutual-TLS configurations, with real rustls
//! handshakes in memory: who is admitted and who is refused, and why.
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use qp_bridge_identity::{FleetCa, IdentityError, NodeCredentials, NodeId, Role, Validity, peer_node_id};
use qp_node_key::{FileKeySigner, NodeSigner};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};

const DAY: Duration = Duration::from_secs(86_400);

fn node(ca: &FleetCa, dir: &Path, role: Role, name: &str, validity: Validity) -> NodeCredentials {
    let (cert, key) = ca.issue_with_new_key(role, name, validity, dir).unwrap();
    let signer = FileKeySigner::load(&key).unwrap();
    NodeCredentials::new(cert.der, Arc::new(signer), ca.cert_der().to_vec()).unwrap()
}

/// Runs a handshake in memory; answers the client's and the server's outcome.
fn handshake(
    client: rustls::ClientConfig,
    server: rustls::ServerConfig,
) -> (Result<ClientConnection, rustls::Error>, Result<ServerConnection, rustls::Error>) {
    let mut client = ClientConnection::new(Arc::new(client), ServerName::try_from("127.0.0.1").unwrap()).unwrap();
    let mut server = ServerConnection::new(Arc::new(server)).unwrap();
    let mut buf = Vec::new();
    let (mut client_err, mut server_err) = (None, None);
    for _ in 0..20 {
        buf.clear();
        client.write_tls(&mut buf).unwrap();
        if !buf.is_empty() && server_err.is_none() {
            server.read_tls(&mut buf.as_slice()).unwrap();
            if let Err(err) = server.process_new_packets() {
                server_err = Some(err);
            }
        }
        buf.clear();
        server.write_tls(&mut buf).unwrap();
        if !buf.is_empty() && client_err.is_none() {
            client.read_tls(&mut buf.as_slice()).unwrap();
            if let Err(err) = client.process_new_packets() {
                client_err = Some(err);
            }
        }
        if (!client.is_handshaking() && !server.is_handshaking()) || client_err.is_some() || server_err.is_some() {
            // One more round so the other side hears an alert.
            continue;
        }
    }
    (client_err.map_or(Ok(client), Err), server_err.map_or(Ok(server), Err))
}

struct Fleet {
    _dir: tempfile::TempDir,
    ca: FleetCa,
    local: NodeCredentials,
    cloud: NodeCredentials,
}

fn fleet(name: &str) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let ca = FleetCa::init(&dir.path().join("ca"), name, 365 * DAY).unwrap();
    let nodes = dir.path().join("nodes");
    let local = node(&ca, &nodes, Role::Local, "vault-1", Validity::starting_now(DAY));
    let cloud = node(&ca, &nodes, Role::Cloud, "swarm-1", Validity::starting_now(DAY));
    Fleet { _dir: dir, ca, local, cloud }
}

#[test]
fn a_cloud_node_and_a_local_node_of_one_fleet_authenticate_each_other() {
    let f = fleet("acme");
    // The cloud node dials the local node, which accepts only cloud nodes.
    let (client, server) =
        handshake(f.cloud.client_config(Role::Local).unwrap(), f.local.server_config(Role::Cloud).unwrap());
    let (client, server) = (client.unwrap(), server.unwrap());
    assert!(!client.is_handshaking() && !server.is_handshaking());
    assert_eq!(client.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(client.alpn_protocol(), Some(qp_bridge_identity::BRIDGE_ALPN));
    let seen_by_server = peer_node_id(server.peer_certificates()).unwrap();
    let seen_by_client = peer_node_id(client.peer_certificates()).unwrap();
    assert_eq!(seen_by_server.uri(), "spiffe://acme/cloud/swarm-1");
    assert_eq!(seen_by_client.uri(), "spiffe://acme/local/vault-1");
    // Either end may dial: the local node dialling the cloud node works too.
    let (client, server) =
        handshake(f.local.client_config(Role::Cloud).unwrap(), f.cloud.server_config(Role::Local).unwrap());
    assert!(client.is_ok() && server.is_ok());
}

#[test]
fn a_peer_of_the_wrong_role_is_refused() {
    let f = fleet("acme");
    let nodes = tempfile::tempdir().unwrap();
    let other_local = node(&f.ca, nodes.path(), Role::Local, "vault-2", Validity::starting_now(DAY));
    // A local node dials a local node: the server wants cloud nodes only.
    let (_, server) =
        handshake(other_local.client_config(Role::Local).unwrap(), f.local.server_config(Role::Cloud).unwrap());
    let err = format!("{:?}", server.unwrap_err());
    assert!(
        err.contains(
            r#"WrongPeer { found: "spiffe://acme/local/vault-2", expected_fleet: "acme", expected_role: Cloud }"#
        ),
        "{err}"
    );
    // And a cloud node that expects a local peer refuses a cloud one.
    let (client, _) =
        handshake(f.cloud.client_config(Role::Local).unwrap(), f.cloud.server_config(Role::Cloud).unwrap());
    let err = format!("{:?}", client.unwrap_err());
    assert!(err.contains("expected_role: Local"), "{err}");
}

#[test]
fn a_certificate_from_another_fleet_ca_is_refused() {
    let ours = fleet("acme");
    let theirs = fleet("acme"); // same fleet name, another CA: the CA is what counts
    // A node certified by another CA, which trusts ours (as an intruder would): the local node
    // refuses it.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) =
        theirs.ca.issue_with_new_key(Role::Cloud, "swarm-1", Validity::starting_now(DAY), dir.path()).unwrap();
    let signer = Arc::new(FileKeySigner::load(&key).unwrap());
    let intruder = NodeCredentials::new(cert.der, signer, ours.ca.cert_der().to_vec()).unwrap();
    let (_, server) =
        handshake(intruder.client_config(Role::Local).unwrap(), ours.local.server_config(Role::Cloud).unwrap());
    // Same issuer name as our CA, another key: the signature does not verify.
    let err = server.unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)), "{err:?}");
    // Another fleet's node as a server: the dialer finds no issuer it knows.
    let globex = fleet("globex");
    let (client, _) =
        handshake(ours.cloud.client_config(Role::Local).unwrap(), globex.local.server_config(Role::Cloud).unwrap());
    let err = client.unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)), "{err:?}");
}

#[test]
fn an_expired_certificate_is_refused() {
    let f = fleet("acme");
    let nodes = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let expired = Validity { not_before: now - 2 * DAY, not_after: now - DAY };
    let stale = node(&f.ca, nodes.path(), Role::Cloud, "swarm-old", expired);
    let (_, server) = handshake(stale.client_config(Role::Local).unwrap(), f.local.server_config(Role::Cloud).unwrap());
    assert!(matches!(server.unwrap_err(), rustls::Error::InvalidCertificate(rustls::CertificateError::Expired)));
}

/// A client that has no certificate to offer.
#[derive(Debug)]
struct NoClientCert;

impl rustls::client::ResolvesClientCert for NoClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }
    fn has_certs(&self) -> bool {
        false
    }
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let f = fleet("acme");
    // A dialer that checks the server as a cloud node would, and offers no certificate.
    let mut anonymous = f.cloud.client_config(Role::Local).unwrap();
    anonymous.client_auth_cert_resolver = Arc::new(NoClientCert);
    let (_, server) = handshake(anonymous, f.local.server_config(Role::Cloud).unwrap());
    let err = server.unwrap_err();
    assert!(matches!(err, rustls::Error::NoCertificatesPresented), "no certificate, no entry: {err:?}");
}

#[test]
fn credentials_refuse_a_certificate_for_another_key() {
    let f = fleet("acme");
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = f.ca.issue_with_new_key(Role::Cloud, "swarm-9", Validity::starting_now(DAY), dir.path()).unwrap();
    let other = FileKeySigner::generate(&dir.path().join("other.key"), &dir.path().join("other.key.pub")).unwrap();
    let err = NodeCredentials::new(cert.der, Arc::new(other), f.ca.cert_der().to_vec()).unwrap_err();
    assert!(matches!(err, IdentityError::KeyMismatch { .. }), "{err}");
    assert_eq!(err.to_string(), "the certificate of spiffe://acme/cloud/swarm-9 is not for this node's key");
}

#[test]
fn the_ca_is_written_once_its_key_private_and_loads_back() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let ca = FleetCa::init(&ca_dir, "acme", DAY).unwrap();
    let mode = std::fs::metadata(ca_dir.join("ca.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let err = FleetCa::init(&ca_dir, "acme", DAY).unwrap_err().to_string();
    assert!(err.contains("ca.key") && err.contains("exists"), "never overwrites a CA: {err}");
    let loaded = FleetCa::load(&ca_dir).unwrap();
    assert_eq!((loaded.fleet(), loaded.cert_der()), (ca.fleet(), ca.cert_der()));
    // A node issued by the loaded CA is trusted by one built from the first.
    let nodes = dir.path().join("nodes");
    let cloud = node(&loaded, &nodes, Role::Cloud, "swarm-1", Validity::starting_now(DAY));
    let local = node(&ca, &nodes, Role::Local, "vault-1", Validity::starting_now(DAY));
    let (client, server) =
        handshake(cloud.client_config(Role::Local).unwrap(), local.server_config(Role::Cloud).unwrap());
    assert!(client.is_ok() && server.is_ok());
    // A node key from elsewhere (the TPM's, later): the certificate binds the given public key.
    let signer = FileKeySigner::generate(&dir.path().join("tpm.key"), &dir.path().join("tpm.key.pub")).unwrap();
    let cert = ca.issue(Role::Local, "vault-7", &signer.public_key(), Validity::starting_now(DAY)).unwrap();
    assert_eq!(qp_bridge_identity::certificate_node_id(&cert.der).unwrap().uri(), "spiffe://acme/local/vault-7");
    NodeCredentials::new(cert.der, Arc::new(signer), ca.cert_der().to_vec()).unwrap();
}

#[test]
fn names_follow_the_rule_and_spiffe_ids_round_trip() {
    let id = NodeId::new("acme", Role::Local, "vault-1").unwrap();
    assert_eq!(NodeId::from_uri(&id.uri()).unwrap(), id);
    for bad in ["", "-a", "a-", "UPPER", "a.b", "a/b", &"x".repeat(64)] {
        let err = NodeId::new("acme", Role::Cloud, bad).unwrap_err().to_string();
        assert!(err.starts_with("node name"), "{bad:?}: {err}");
    }
    for bad in ["spiffe://acme/edge/x", "https://acme/cloud/x", "spiffe://acme/cloud/x/y", "spiffe://acme/cloud"] {
        assert!(NodeId::from_uri(bad).is_err(), "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = FleetCa::init(&dir.path().join("ca"), "acme", DAY).unwrap();
    let key = FileKeySigner::generate(&dir.path().join("k"), &dir.path().join("k.pub")).unwrap();
    let now = SystemTime::now();
    let backwards = Validity { not_before: now, not_after: now - DAY };
    assert!(matches!(ca.issue(Role::Cloud, "x", &key.public_key(), backwards), Err(IdentityError::Validity(_))));
    assert!(FleetCa::init(&dir.path().join("ca2"), "Bad Fleet", DAY).is_err());
}

fn operator(ca: &FleetCa, dir: &Path, name: &str) -> NodeCredentials {
    node(ca, dir, Role::Operator, name, Validity::starting_now(DAY))
}

#[test]
fn an_operator_reaches_a_nodes_management_api_and_each_sees_the_other() {
    let f = fleet("acme");
    let dir = tempfile::tempdir().unwrap();
    let alice = operator(&f.ca, dir.path(), "alice");
    assert_eq!(alice.id.uri(), "spiffe://acme/operator/alice");
    for server in [&f.local, &f.cloud] {
        let (client, server_side) =
            handshake(alice.management_client_config().unwrap(), server.management_server_config().unwrap());
        let (client, server_side) = (client.unwrap(), server_side.unwrap());
        assert_eq!(client.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
        assert_eq!(client.alpn_protocol(), Some(qp_bridge_identity::MANAGEMENT_ALPN));
        assert_eq!(peer_node_id(server_side.peer_certificates()).unwrap().uri(), "spiffe://acme/operator/alice");
        assert_eq!(peer_node_id(client.peer_certificates()).unwrap(), server.id);
    }
}

#[test]
fn the_role_operator_parses_and_round_trips() {
    assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
    assert_eq!(Role::Operator.to_string(), "operator");
    assert!(!Role::Operator.is_node() && Role::Cloud.is_node() && Role::Local.is_node());
    assert_eq!(Role::Operator.peer(), None);
    assert_eq!(Role::Cloud.peer(), Some(Role::Local));
    let err = "admin".parse::<Role>().unwrap_err().to_string();
    assert!(err.contains("cloud, local or operator"), "{err}");
    let id = NodeId::from_uri("spiffe://acme/operator/alice").unwrap();
    assert_eq!(id.role(), Role::Operator);
}

#[test]
fn the_bridge_refuses_operator_certificates() {
    let f = fleet("acme");
    let dir = tempfile::tempdir().unwrap();
    let alice = operator(&f.ca, dir.path(), "alice");
    // An operator's credentials build no bridge configuration, and no bridge accepts operators.
    for err in [
        alice.client_config(Role::Local).unwrap_err(),
        alice.server_config(Role::Cloud).unwrap_err(),
        f.local.server_config(Role::Operator).unwrap_err(),
        f.cloud.client_config(Role::Operator).unwrap_err(),
    ] {
        assert!(matches!(err, IdentityError::RoleNotAllowed { role: Role::Operator, .. }), "{err}");
    }
    assert_eq!(
        alice.client_config(Role::Local).unwrap_err().to_string(),
        "operator certificates are not for the bridge"
    );
    // An operator's certificate offered on the bridge's ALPN: the local node refuses it.
    let mut dialer = alice.management_client_config().unwrap();
    dialer.alpn_protocols = vec![qp_bridge_identity::BRIDGE_ALPN.to_vec()];
    let (_, server) = handshake(dialer, f.local.server_config(Role::Cloud).unwrap());
    let err = format!("{:?}", server.unwrap_err());
    assert!(
        err.contains(r#"found: "spiffe://acme/operator/alice", expected_fleet: "acme", expected_role: Cloud"#),
        "{err}"
    );
}

#[test]
fn the_management_api_admits_operators_only_and_bridge_clients_never_land_on_it() {
    let f = fleet("acme");
    let dir = tempfile::tempdir().unwrap();
    let alice = operator(&f.ca, dir.path(), "alice");
    // A node's certificate, not an operator's, on the management ALPN: refused for its role.
    let mut node_dialer = f.cloud.client_config(Role::Local).unwrap();
    node_dialer.alpn_protocols = vec![qp_bridge_identity::MANAGEMENT_ALPN.to_vec()];
    let (_, server) = handshake(node_dialer, f.local.management_server_config().unwrap());
    let err = format!("{:?}", server.unwrap_err());
    assert!(err.contains("expected_role: Operator"), "{err}");
    // A bridge client (its ALPN) at the management server: no common protocol.
    let (_, server) =
        handshake(f.cloud.client_config(Role::Local).unwrap(), f.local.management_server_config().unwrap());
    assert!(matches!(server.unwrap_err(), rustls::Error::NoApplicationProtocol));
    // An operator at a bridge server: no common protocol either.
    let (_, server) = handshake(alice.management_client_config().unwrap(), f.local.server_config(Role::Cloud).unwrap());
    assert!(server.is_err());
    // Only an operator builds the client, only a node the server.
    assert!(matches!(f.cloud.management_client_config(), Err(IdentityError::RoleNotAllowed { role: Role::Cloud, .. })));
    assert!(matches!(
        alice.management_server_config(),
        Err(IdentityError::RoleNotAllowed { role: Role::Operator, .. })
    ));
}

#[test]
fn an_operator_refuses_a_server_of_another_ca_or_an_operator_certificate_as_server() {
    let ours = fleet("acme");
    let dir = tempfile::tempdir().unwrap();
    let alice = operator(&ours.ca, dir.path(), "alice");
    // Another fleet's node: unknown issuer.
    let globex = fleet("globex");
    let (client, _) =
        handshake(alice.management_client_config().unwrap(), globex.local.management_server_config().unwrap());
    let err = client.unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)), "{err:?}");
    // Another operator's certificate presented as a server (forced through a node's server
    // configuration): its certificate is for client authentication only, and it is no node.
    operator(&ours.ca, dir.path(), "bob");
    let mut impostor = ours.local.management_server_config().unwrap();
    let bob_cert = std::fs::read_to_string(dir.path().join("bob.pem")).unwrap();
    let bob_der = qp_bridge_identity::pem_certificates(&bob_cert, Path::new("bob.pem")).unwrap().remove(0);
    impostor.cert_resolver = Arc::new(FixedServerCert(Arc::new(rustls::sign::CertifiedKey::new(
        vec![bob_der.into()],
        rustls::crypto::ring::sign::any_ecdsa_type(&pkcs8_key(&dir.path().join("bob.key"))).unwrap(),
    ))));
    let (client, _) = handshake(alice.management_client_config().unwrap(), impostor);
    let err = client.unwrap_err();
    assert!(matches!(err, rustls::Error::InvalidCertificate(rustls::CertificateError::InvalidPurpose)), "{err:?}");
}

fn pkcs8_key(path: &Path) -> rustls::pki_types::PrivateKeyDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::PrivateKeyDer::from_pem_file(path).unwrap()
}

#[derive(Debug)]
struct FixedServerCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for FixedServerCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A cloud node whose certificate the verifier issued after attestation, for `validity`.
fn attested_cloud(f: &Fleet, dir: &Path, name: &str, validity: Validity) -> NodeCredentials {
    let key = dir.join(format!("{name}.key"));
    let signer = FileKeySigner::generate(&key, &dir.join(format!("{name}.key.pub"))).unwrap();
    let cert = f.ca.issue_attested(Role::Cloud, name, &signer.public_key(), validity, "cloud-0.1.0-0123456789abcdef");
    NodeCredentials::new(cert.unwrap().der, Arc::new(signer), f.ca.cert_der().to_vec()).unwrap()
}

#[test]
fn a_local_node_that_requires_attestation_admits_only_attested_short_lived_unexpired_cloud_certificates() {
    let f = fleet("acme");
    let nodes = tempfile::tempdir().unwrap();
    let policy = qp_bridge_identity::AttestedPolicy { max_lifetime: Duration::from_secs(3600) };
    let local = f.local.clone().require_attested_peers(policy);
    let server = || local.server_config(Role::Cloud).unwrap();
    let refusal = |client: &NodeCredentials| {
        let (_, server) = handshake(client.client_config(Role::Local).unwrap(), server());
        format!("{:?}", server.unwrap_err())
    };
    // Attested for 30 minutes: admitted, and its mark names the image.
    let now = SystemTime::now();
    let fresh = attested_cloud(&f, nodes.path(), "swarm-2", Validity { not_before: now, not_after: now + 1800 * SEC });
    let (client, accepted) = handshake(fresh.client_config(Role::Local).unwrap(), server());
    assert!(client.is_ok() && accepted.is_ok(), "{:?} {:?}", client.err(), accepted.err());
    let attested = qp_bridge_identity::certificate_attested(fresh.certificate_der()).unwrap().unwrap();
    assert_eq!(attested.image_id, "cloud-0.1.0-0123456789abcdef");
    assert_eq!(attested.lifetime, Duration::from_secs(1800));
    // Issued by `qpctl ca issue`, not after an attestation: refused, though the CA is the same.
    assert!(refusal(&f.cloud).contains("NotAttested"), "{}", refusal(&f.cloud));
    // Attested, but for a day: longer than the local node accepts.
    let long = attested_cloud(&f, nodes.path(), "swarm-3", Validity::starting_now(DAY));
    assert!(refusal(&long).contains("AttestedLifetime"), "{}", refusal(&long));
    // Attested and expired: a node that fails its next attestation is refused once it expires.
    let expired = attested_cloud(
        &f,
        nodes.path(),
        "swarm-4",
        Validity { not_before: now - 1900 * SEC, not_after: now - 100 * SEC },
    );
    assert!(refusal(&expired).contains("Expired"), "{}", refusal(&expired));
    // The cloud side without the requirement still admits the local node's plain certificate,
    // and a node that does not require attestation admits an attested peer.
    let (client, accepted) =
        handshake(fresh.client_config(Role::Local).unwrap(), f.local.server_config(Role::Cloud).unwrap());
    assert!(client.is_ok() && accepted.is_ok());
    // Operators never get attested bridge certificates.
    let signer = FileKeySigner::generate(&nodes.path().join("op.key"), &nodes.path().join("op.key.pub")).unwrap();
    let err =
        f.ca.issue_attested(Role::Operator, "ops", &signer.public_key(), Validity::starting_now(DAY), "x").unwrap_err();
    assert!(matches!(err, IdentityError::RoleNotAllowed { .. }), "{err}");
    // A malformed image id is refused when issuing.
    let err = f.ca.issue_attested(Role::Cloud, "swarm-5", &signer.public_key(), Validity::starting_now(DAY), "a b");
    assert!(matches!(err.unwrap_err(), IdentityError::Name { .. }));
}

const SEC: Duration = Duration::from_secs(1);
