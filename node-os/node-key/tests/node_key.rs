#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The node key file: made once, private, and what it signs verifies under its public half.
use qp_node_key::{FileKeySigner, KeyError, NodeSigner, PublicKey, sha256};

#[test]
fn a_key_file_signs_digests_and_messages_its_public_half_verifies() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = (dir.path().join("node.key"), dir.path().join("node.key.pub"));
    let signer = FileKeySigner::generate(&private, &public).unwrap();
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    let key = PublicKey::load_pem(&public).unwrap();
    assert_eq!(key, signer.public_key());
    assert_eq!(FileKeySigner::load(&private).unwrap().public_key(), key);

    let digest = sha256(b"chain head");
    let raw = signer.sign_digest(&digest).unwrap();
    assert!(key.verify_digest(&digest, &raw));
    let der = signer.sign_message_der(b"TLS 1.3 CertificateVerify content").unwrap();
    assert!(key.verify_message_der(b"TLS 1.3 CertificateVerify content", &der));
    assert!(!key.verify_message_der(b"another message", &der));
    // SPKI round trip, as a certificate carries the key.
    assert_eq!(PublicKey::from_spki_der(&key.to_spki_der().unwrap()).unwrap(), key);

    // Never overwritten; a file that is not a key says so.
    assert!(matches!(FileKeySigner::generate(&private, &public), Err(KeyError::Io { .. })));
    let err = FileKeySigner::load(&public).unwrap_err().to_string();
    assert!(err.ends_with("not a PKCS#8 PEM P-256 private key"), "{err}");
}

#[test]
fn a_socket_signer_signs_through_the_service_and_survives_its_restart() {
    use std::os::unix::net::UnixListener;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let key = qp_node_key::FileKeySigner::generate(&dir.path().join("k"), &dir.path().join("k.pub")).unwrap();
    let signer: Arc<dyn qp_node_key::NodeSigner> = Arc::new(key);
    let path = dir.path().join("signer.sock");
    let serve = |signer: Arc<dyn qp_node_key::NodeSigner>| {
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || qp_node_key::serve_signer(listener, signer))
    };
    let _service = serve(signer.clone());
    let remote = qp_node_key::SocketSigner::connect(&path).unwrap();
    assert_eq!(qp_node_key::NodeSigner::public_key(&remote), signer.public_key());
    let digest = qp_node_key::sha256(b"transcript");
    let signature = qp_node_key::NodeSigner::sign_digest(&remote, &digest).unwrap();
    assert!(signer.public_key().verify_digest(&digest, &signature));
    let der = qp_node_key::NodeSigner::sign_message_der(&remote, b"hello").unwrap();
    assert!(signer.public_key().verify_message_der(b"hello", &der));
    // A socket with nobody behind it: a typed error naming the path.
    let err = qp_node_key::SocketSigner::connect(&dir.path().join("absent.sock")).unwrap_err();
    assert!(err.to_string().contains("absent.sock"), "{err}");
}
