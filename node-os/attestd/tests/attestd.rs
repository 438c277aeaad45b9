#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The TPM service end to end on the host: an EK-certified swtpm, a boot measured into it with
//! PID 1's raw PCR commands, the service on 127.0.0.1, and the operator's verifier driving it
//! as `qpctl enroll` and `qpctl attest` do: enrolment with credential activation, a quote checked
//! against golden values, an attested certificate installed, and the bridge signing through the
//! signer socket with the TPM's key.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use qp_attest_core::attest_proto::{FrameDecoder, Request, Response};
use qp_attest_core::golden::GoldenValues;
use qp_attestd::{NodeTpm, Service, ServiceConfig, TpmBackend, VaultConfig};
use qp_bridge_identity::{FleetCa, Role, Validity};
use qp_tpm::swtpm::{LocalCa, Swtpm};
use rand_core::RngCore;

fn exchange(addr: SocketAddr, request: &Request) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(&request.encode()).unwrap();
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> Response {
    let mut decoder = FrameDecoder::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(response) = decoder.next_response().unwrap() {
            return response;
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the service hung up without an answer");
        decoder.push(&buf[..n]);
    }
}

fn random32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A root folder with a manifest and one service program, measured as PID 1 measures a boot,
/// extended into the TPM over its raw socket; answers the golden values and writes the log.
fn measured_boot(dir: &Path, swtpm: &Swtpm, program: &[u8]) -> (GoldenValues, PathBuf) {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc/qp")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(root.join("usr/bin/svc"), program).unwrap();
    let manifest_text = "variant = \"local\"\n[[services]]\nname = \"svc\"\nprogram = \"/usr/bin/svc\"\n";
    std::fs::write(root.join("etc/qp/manifest.toml"), manifest_text).unwrap();
    let manifest = qp_supervisor_manifest(manifest_text);
    let root_hash = [0x5a; 32];
    let boot = qp_supervisor::boot_measurements(&root, &manifest, &root_hash).unwrap();
    let socket = TcpStream::connect(("127.0.0.1", swtpm.port())).unwrap();
    let mut channel = qp_init::tpm::TpmChannel::new(socket);
    for event in boot.log.events() {
        channel.extend(event.pcr, &event.digest).unwrap();
    }
    let log_path = dir.join("measurements.log");
    std::fs::write(&log_path, boot.log.encode()).unwrap();
    let id = qp_attest_core::golden::image_id("local", "0.1.0", &root_hash);
    (GoldenValues::new(id, "local".into(), "0.1.0".into(), 15, boot.log), log_path)
}

fn qp_supervisor_manifest(text: &str) -> qp_supervisor::Manifest {
    qp_supervisor::Manifest::from_toml(text, "manifest.toml").unwrap()
}

struct Node {
    _swtpm: Swtpm,
    _manufacturer: LocalCa,
    manufacturer_certs: Vec<Vec<u8>>,
    backend: Arc<TpmBackend>,
    addr: SocketAddr,
    golden: GoldenValues,
    log: PathBuf,
    install: PathBuf,
    fleet: FleetCa,
    service: Arc<Service>,
}

fn node(dir: &Path) -> Node {
    let manufacturer = LocalCa::create(&dir.join("manufacturer")).unwrap();
    let swtpm = Swtpm::start_with_ek(&manufacturer).unwrap();
    let (golden, log) = measured_boot(dir, &swtpm, b"the service program");
    let backend = Arc::new(TpmBackend::open(&swtpm.tcti(), &dir.join("tpm-state")).unwrap());
    let fleet = FleetCa::init(&dir.join("ca"), "acme", Duration::from_secs(86_400)).unwrap();
    let install = dir.join("identity/bridge.pem");
    let service = Arc::new(Service::new(
        backend.clone(),
        ServiceConfig {
            image_id: golden.image_id.clone(),
            log: log.clone(),
            ca: dir.join("ca/ca.pem"),
            install_cert: install.clone(),
            attested_marker: Some(dir.join("health/attested")),
            vault: Some(VaultConfig {
                sealed_dir: dir.join("vault/sealed"),
                approvals_dir: dir.join("vault/approvals"),
                release_key: dir.join("identity/release.pub"),
            }),
        },
    ));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = service.clone();
    std::thread::spawn(move || qp_attestd::serve_tcp(listener, serving, Arc::new(AtomicBool::new(false))));
    let manufacturer_certs = manufacturer.issuer_certs_der().unwrap();
    Node {
        _swtpm: swtpm,
        _manufacturer: manufacturer,
        manufacturer_certs,
        backend,
        addr,
        golden,
        log,
        install,
        fleet,
        service,
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

/// `qpctl enroll`'s steps.
fn enroll(node: &Node) -> qp_attest_verify::EnrolledNode {
    let Response::Enrollment { ek_certificate_der, ek_public, ak_public, identity_public } =
        exchange(node.addr, &Request::GetEnrollment)
    else {
        panic!("no enrolment")
    };
    let (challenge, pending) = qp_attest_verify::Enrollment::begin(
        "vault-1",
        ek_certificate_der,
        ek_public,
        ak_public,
        identity_public,
        &node.manufacturer_certs,
        unix_now(),
        random32(),
        random32(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let request = Request::ActivateCredential {
        credential_blob: challenge.credential_blob,
        encrypted_secret: challenge.encrypted_secret,
    };
    let Response::Activated { secret } = exchange(node.addr, &request) else { panic!("not activated") };
    pending.finish(&secret).unwrap()
}

fn evidence(node: &Node, nonce: [u8; 32]) -> qp_attest_verify::EvidenceParts {
    let Response::Evidence { image_id, quote_attest, quote_signature, log, certify_attest, certify_signature } =
        exchange(node.addr, &Request::Quote { nonce })
    else {
        panic!("no evidence")
    };
    qp_attest_verify::EvidenceParts { image_id, quote_attest, quote_signature, log, certify_attest, certify_signature }
}

#[test]
fn a_node_is_enrolled_attested_against_its_golden_values_and_given_an_attested_bridge_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let enrolled = enroll(&node);

    // The real TPM's quote of the boot measured with PID 1's raw commands passes.
    let nonce = random32();
    let parts = evidence(&node, nonce);
    let verdict = qp_attest_verify::verify_evidence(&enrolled, &nonce, &parts, &node.golden);
    assert!(verdict.pass, "{:?}", verdict.reasons);
    assert_eq!(verdict.pcrs.get(&15), Some(&node.golden.pcr_value));

    // Another nonce than the one asked with, and another image's golden values: refused.
    let verdict = qp_attest_verify::verify_evidence(&enrolled, &random32(), &parts, &node.golden);
    assert!(!verdict.pass);
    let mut other = node.golden.clone();
    other.image_id = "local-0.1.1-0000000000000000".into();
    let verdict = qp_attest_verify::verify_evidence(&enrolled, &nonce, &parts, &other);
    assert!(!verdict.pass);

    // A modified log on the node (one event dropped) no longer matches the quote.
    let text = std::fs::read_to_string(&node.log).unwrap();
    let shorter: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&node.log, shorter).unwrap();
    let nonce = random32();
    let verdict = qp_attest_verify::verify_evidence(&enrolled, &nonce, &evidence(&node, nonce), &node.golden);
    assert!(!verdict.pass);
    std::fs::write(&node.log, text).unwrap();

    // The attested certificate for the certified key: installed, and the bridge signs through the
    // signer socket with the TPM's key that the certificate names.
    let key = node.backend.signer().public_key();
    let validity = Validity::starting_now(Duration::from_secs(1800));
    // A certificate attesting another image is installed, but is no health pass for this one.
    let marker = dir.path().join("health/attested");
    let other_image = node.fleet.issue_attested(Role::Local, "vault-1", &key, validity, "local-0.0.9-1111111111111111");
    let other_image = other_image.unwrap();
    assert_eq!(exchange(node.addr, &Request::InstallCertificate { cert_der: other_image.der }), Response::Installed);
    assert!(!marker.exists());
    let cert = node.fleet.issue_attested(Role::Local, "vault-1", &key, validity, &node.golden.image_id).unwrap();
    assert_eq!(exchange(node.addr, &Request::InstallCertificate { cert_der: cert.der.clone() }), Response::Installed);
    assert!(marker.exists(), "the update service's attestation marker");
    let socket = dir.path().join("signer.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let signer = node.backend.signer();
    std::thread::spawn(move || qp_node_key::serve_signer(listener, signer));
    let remote = Arc::new(qp_node_key::SocketSigner::connect(&socket).unwrap());
    let credentials =
        qp_bridge_identity::NodeCredentials::with_signer(&node.install, remote.clone(), &dir.path().join("ca/ca.pem"))
            .unwrap();
    assert_eq!(
        qp_bridge_identity::certificate_attested(credentials.certificate_der()).unwrap().unwrap().image_id,
        node.golden.image_id
    );
    let digest = qp_node_key::sha256(b"a TLS 1.3 transcript");
    let signature = qp_node_key::NodeSigner::sign_digest(remote.as_ref(), &digest).unwrap();
    assert!(key.verify_digest(&digest, &signature));
}

#[test]
fn the_service_refuses_foreign_certificates_and_hostile_bytes_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let refused = |response: Response| match response {
        Response::Error { message, .. } => message,
        other => panic!("accepted: {other:?}"),
    };
    // A certificate of our CA for another key: refused, nothing written.
    let other_dir = dir.path().join("other");
    let (other, _) = node
        .fleet
        .issue_with_new_key(Role::Local, "vault-1", Validity::starting_now(Duration::from_secs(600)), &other_dir)
        .unwrap();
    let message = refused(exchange(node.addr, &Request::InstallCertificate { cert_der: other.der }));
    assert!(message.contains("not for this node's key"), "{message}");
    // A certificate for our key from another CA: refused.
    let stranger = FleetCa::init(&dir.path().join("ca2"), "acme", Duration::from_secs(86_400)).unwrap();
    let key = node.backend.signer().public_key();
    let foreign =
        stranger.issue(Role::Local, "vault-1", &key, Validity::starting_now(Duration::from_secs(600))).unwrap();
    let message = refused(exchange(node.addr, &Request::InstallCertificate { cert_der: foreign.der }));
    assert!(message.contains("fleet CA"), "{message}");
    assert!(!node.install.exists());
    // Garbage: one error, a hang-up, and the service still answers the next client.
    let mut stream = TcpStream::connect(node.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(&[0, 0, 0, 3, 0x42, 1, 2]).unwrap();
    let message = refused(read_response(&mut stream));
    assert!(!message.is_empty());
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(matches!(exchange(node.addr, &Request::GetEnrollment), Response::Enrollment { .. }));
}

/// The release process's approval of PCR 15 = `value` for `image_id` (`qpctl release approve`).
fn approval(release: &p256::ecdsa::SigningKey, image_id: &str, value: [u8; 32]) -> Vec<u8> {
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use qp_attest_core::policy::{ImageApproval, PolicyApproval, approval_digest, policy_pcr_digest};
    let approved_policy = policy_pcr_digest(&[15], &[value]);
    let signature: p256::ecdsa::Signature = release.sign_prehash(&approval_digest(&approved_policy, b"vault")).unwrap();
    ImageApproval {
        image_id: image_id.to_owned(),
        approval: PolicyApproval {
            pcrs: vec![15],
            approved_policy,
            signature: signature.to_bytes().into(),
            authority_public: release.verifying_key().to_encoded_point(false).as_bytes().try_into().unwrap(),
            policy_ref: b"vault".to_vec(),
        },
    }
    .to_json()
    .into_bytes()
}

/// What the node's binaries do on the vault socket.
fn ask_vault(socket: &Path, name: &str) -> qp_attest_core::vault_socket::VaultResponse {
    use qp_attest_core::vault_socket::{RESPONSE_HEADER, VaultResponse, encode_request};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream.write_all(&encode_request(name).unwrap()).unwrap();
    let mut header = [0u8; RESPONSE_HEADER];
    stream.read_exact(&mut header).unwrap();
    let mut message = header.to_vec();
    message.resize(RESPONSE_HEADER + VaultResponse::body_len(header).unwrap(), 0);
    stream.read_exact(&mut message[RESPONSE_HEADER..]).unwrap();
    VaultResponse::decode(&message).unwrap()
}

#[test]
fn a_secret_sealed_for_the_node_is_unsealed_for_its_binaries_only_under_an_approval_of_its_image() {
    use qp_attest_core::vault_socket::VaultResponse;
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let enrolled = enroll(&node);
    let socket = dir.path().join("vault.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let service = node.service.clone();
    std::thread::spawn(move || qp_attestd::serve_vault(listener, service));
    let refused = |response: Response| match response {
        Response::Error { message, .. } => message,
        other => panic!("accepted: {other:?}"),
    };

    // `qpctl vault seal`: wrapped to the enrolled EK off the node, imported by its TPM.
    let release = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    {
        use p256::pkcs8::EncodePublicKey as _;
        let pem = release.verifying_key().to_public_key_pem(p256::pkcs8::LineEnding::LF).unwrap();
        std::fs::create_dir_all(dir.path().join("identity")).unwrap();
        std::fs::write(dir.path().join("identity/release.pub"), pem).unwrap();
    }
    let authority: [u8; 65] = release.verifying_key().to_encoded_point(false).as_bytes().try_into().unwrap();
    let ek = qp_attest_core::tpm_struct::PublicArea::decode(&enrolled.ek_public).unwrap();
    let secret = b"FIX venue password 7Hq!".to_vec();
    let blob = qp_attest_verify::seal_for_import(
        &ek,
        &authority,
        b"vault",
        &secret,
        &random32(),
        &random32(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let install = Request::InstallSealedSecret {
        name: "venue-password".to_owned(),
        public_area: blob.public_area.clone(),
        duplicate: blob.duplicate.clone(),
        encrypted_seed: blob.encrypted_seed.clone(),
    };
    assert_eq!(exchange(node.addr, &install), Response::Installed);
    // Sent again (a rotation): the new one replaces the old only once imported.
    assert_eq!(exchange(node.addr, &install), Response::Installed);
    let sealed = dir.path().join("vault/sealed/venue-password.sealed");
    assert!(sealed.exists() && !dir.path().join("vault/sealed/venue-password.sealed.new").exists());

    // No approval of the booted image yet: refused, saying so.
    let VaultResponse::Refused(reason) = ask_vault(&socket, "venue-password") else { panic!("unsealed") };
    assert!(reason.contains("no release approval for image"), "{reason}");
    let VaultResponse::Refused(reason) = ask_vault(&socket, "strategy-key") else { panic!("unsealed") };
    assert!(reason.contains("no sealed secret strategy-key"), "{reason}");

    // Approvals of another image, or with a broken signature, are refused at installation.
    let pcr = node.golden.pcr_value;
    let other = approval(&release, "local-9.9.9-0000000000000000", pcr);
    assert!(refused(exchange(node.addr, &Request::InstallApproval { approval_json: other })).contains("is for image"));
    let mut forged = String::from_utf8(approval(&release, &node.golden.image_id, pcr)).unwrap();
    let at = forged.find("\"signature\": \"").unwrap() + 14;
    let flipped = if &forged[at..at + 1] == "0" { "1" } else { "0" };
    forged.replace_range(at..at + 1, flipped);
    let message = refused(exchange(node.addr, &Request::InstallApproval { approval_json: forged.into_bytes() }));
    assert!(message.contains("does not verify"), "{message}");

    // An approval by another key than the node's release key: refused (it would not unseal, and
    // must not replace the node's own).
    let stranger = p256::ecdsa::SigningKey::from_slice(&[0x43; 32]).unwrap();
    let theirs = approval(&stranger, &node.golden.image_id, pcr);
    let message = refused(exchange(node.addr, &Request::InstallApproval { approval_json: theirs }));
    assert!(message.contains("not by this node's release key"), "{message}");

    // The release key's approval of another PCR 15 value for this image id (a tampered boot would
    // have it): installed, but the TPM does not unseal.
    let approval_json = approval(&release, &node.golden.image_id, [0x77; 32]);
    assert_eq!(exchange(node.addr, &Request::InstallApproval { approval_json }), Response::Installed);
    let VaultResponse::Refused(reason) = ask_vault(&socket, "venue-password") else { panic!("unsealed") };
    assert!(reason.contains("unsealing") && reason.contains("PCR"), "{reason}");

    // The approval of the golden value the node booted with: the secret, for the node's binaries.
    let approval_json = approval(&release, &node.golden.image_id, pcr);
    assert_eq!(exchange(node.addr, &Request::InstallApproval { approval_json }), Response::Installed);
    assert_eq!(ask_vault(&socket, "venue-password"), VaultResponse::Secret(secret));

    // Hostile names never reach the file system.
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    stream.write_all(b"U\x05../ab").unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty());
}

#[test]
fn the_image_id_comes_from_the_command_line_and_the_build_record() {
    let cmdline = format!("console=ttyS0 qp.slot=a qp.verity.root={} quiet", "ab".repeat(32));
    let info = r#"{"variant": "cloud", "image_version": "0.1.0"}"#;
    assert_eq!(qp_attestd::image_id_from_boot(&cmdline, info).unwrap(), "cloud-0.1.0-abababababababab");
    assert!(qp_attestd::image_id_from_boot("console=ttyS0", info).is_err());
    assert!(qp_attestd::image_id_from_boot(&cmdline, "{}").is_err());
}
