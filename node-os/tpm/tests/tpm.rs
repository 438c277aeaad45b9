#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! qp-tpm against swtpm: each test starts its own swtpm (fresh TPM state) in its own temp dir.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use proptest::prelude::*;
use qp_attest_core::hex;
use qp_node_key::{NodeSigner, sha256};
use qp_tpm::swtpm::{self, LocalCa, Swtpm, SwtpmError, SwtpmForQemu};
use qp_tpm::{
    AttestationKey, KIND_CONFIG, KIND_MODEL, KIND_SERVICE_BINARY, KIND_VERITY_ROOT_HASH, LogError, LogErrorKind,
    MAX_LOG_BYTES, Measurement, MeasurementLog, PCR_PRODUCT, PolicyApproval, SealedSecret, Tpm, TpmError, TpmSigner,
    Tss2ResponseCodeKind, UnsealStep,
};

fn swtpm() -> Swtpm {
    Swtpm::start().unwrap_or_else(|err| panic!("{err}"))
}

fn open(swtpm: &Swtpm) -> Tpm {
    Tpm::open(&swtpm.tcti()).unwrap_or_else(|err| panic!("{err}"))
}

fn p256_verifies(signer: &dyn NodeSigner, digest: &[u8; 32], signature: &[u8; 64]) -> bool {
    let key = VerifyingKey::from_sec1_bytes(signer.public_key().as_bytes()).unwrap();
    let signature = Signature::from_slice(signature).unwrap();
    key.verify_prehash(digest, &signature).is_ok()
}

#[test]
fn signs_in_the_tpm_and_a_reloaded_key_is_the_same_key() {
    let swtpm = swtpm();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("node.tpmkey");
    let signer = TpmSigner::create(open(&swtpm), &key_file).unwrap();
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);

    let digest = sha256(b"audit seal 1");
    let signature = signer.sign_digest(&digest).unwrap();
    assert!(p256_verifies(&signer, &digest, &signature));
    assert!(signer.public_key().verify_digest(&digest, &signature));
    assert!(!signer.public_key().verify_digest(&sha256(b"audit seal 2"), &signature));

    // A new context on the same TPM (the next start of the node) loads the same key.
    let reloaded = TpmSigner::load(open(&swtpm), &key_file).unwrap();
    assert_eq!(reloaded.public_key(), signer.public_key());
    let signature = reloaded.sign_digest(&digest).unwrap();
    assert!(p256_verifies(&signer, &digest, &signature));

    // Never overwrites a key file.
    let err = TpmSigner::create(open(&swtpm), &key_file).unwrap_err();
    assert!(matches!(err, TpmError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists));
}

#[test]
fn the_key_blob_copied_to_another_tpm_cannot_authenticate() {
    let (first, second) = (swtpm(), swtpm());
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("node.tpmkey");
    let original = TpmSigner::create(open(&first), &key_file).unwrap();

    // The stolen blob (and the certificate: it only carries this public key) on another TPM.
    let stolen = dir.path().join("stolen.tpmkey");
    std::fs::copy(&key_file, &stolen).unwrap();
    let err = TpmSigner::load(open(&second), &stolen).unwrap_err();
    assert!(
        matches!(err, TpmError::Command { command: "TPM2_Load", .. }),
        "loading the blob on another TPM failed otherwise: {err}"
    );
    assert_eq!(err.response_code(), Some(Tss2ResponseCodeKind::Integrity), "{err}");

    // What the other TPM can sign with does not pass for the node.
    let other = TpmSigner::create(open(&second), &dir.path().join("other.tpmkey")).unwrap();
    let digest = sha256(b"tls 1.3 certificate verify");
    let forged = other.sign_digest(&digest).unwrap();
    assert!(!original.public_key().verify_digest(&digest, &forged));
    assert!(!p256_verifies(&original, &digest, &forged));
}

#[test]
fn a_tampered_or_foreign_blob_is_a_typed_error() {
    let swtpm = swtpm();
    let tpm = Arc::new(open(&swtpm));
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("node.tpmkey");
    drop(TpmSigner::create(Arc::clone(&tpm), &key_file).unwrap());
    let blob = std::fs::read(&key_file).unwrap();

    // A flipped bit in the encrypted private part: the TPM's integrity check refuses it.
    let mut tampered = blob.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let path = dir.path().join("tampered.tpmkey");
    std::fs::write(&path, &tampered).unwrap();
    let err = TpmSigner::load(Arc::clone(&tpm), &path).unwrap_err();
    assert!(matches!(err, TpmError::Command { command: "TPM2_Load", .. }), "{err}");

    // Truncated, trailing bytes, empty: refused before the TPM sees them, naming the file.
    for (name, bytes) in [("short", &blob[..blob.len() - 3]), ("empty", &[][..])] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = TpmSigner::load(Arc::clone(&tpm), &path).unwrap_err();
        assert!(matches!(err, TpmError::KeyBlob { path: ref p, .. } if *p == path), "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    let mut long = blob.clone();
    long.push(0);
    let path = dir.path().join("long");
    std::fs::write(&path, &long).unwrap();
    assert!(matches!(TpmSigner::load(Arc::clone(&tpm), &path), Err(TpmError::KeyBlob { .. })));

    let missing = dir.path().join("missing");
    assert!(matches!(TpmSigner::load(tpm, &missing), Err(TpmError::Io { .. })));
}

#[test]
fn sign_message_der_verifies_as_tls_carries_it() {
    let swtpm = swtpm();
    let dir = tempfile::tempdir().unwrap();
    let signer = TpmSigner::create(open(&swtpm), &dir.path().join("node.tpmkey")).unwrap();
    let message = b"TLS 1.3, server CertificateVerify\0transcript hash";
    let der = signer.sign_message_der(message).unwrap();
    let key = VerifyingKey::from_sec1_bytes(signer.public_key().as_bytes()).unwrap();
    let signature = Signature::from_der(&der).unwrap();
    assert!(key.verify_prehash(&sha256(message), &signature).is_ok());
    assert!(signer.public_key().verify_message_der(message, &der));
    assert!(!signer.public_key().verify_message_der(b"another transcript", &der));
}

#[test]
fn two_hundred_signatures_on_one_context() {
    let swtpm = swtpm();
    let dir = tempfile::tempdir().unwrap();
    let signer: Arc<dyn NodeSigner> =
        Arc::new(TpmSigner::create(open(&swtpm), &dir.path().join("node.tpmkey")).unwrap());
    // From two threads at once: the signer is Send + Sync and serializes on its context.
    let threads: Vec<_> = (0..2u32)
        .map(|thread| {
            let signer = Arc::clone(&signer);
            std::thread::spawn(move || {
                for i in 0..100u32 {
                    let digest = sha256(&[thread.to_be_bytes(), i.to_be_bytes()].concat());
                    let signature = signer.sign_digest(&digest).unwrap();
                    assert!(signer.public_key().verify_digest(&digest, &signature), "signature {thread}/{i}");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

fn product_log() -> MeasurementLog {
    let mut log = MeasurementLog::new();
    for (kind, name, bytes) in [
        (KIND_VERITY_ROOT_HASH, "rootfs", &b"root hash"[..]),
        (KIND_SERVICE_BINARY, "/usr/bin/qp-node", b"\x7fELF node"),
        (KIND_SERVICE_BINARY, "/usr/bin/qp-bridge", b"\x7fELF bridge"),
        (KIND_MODEL, "risk-model v3", b"onnx bytes"),
        (KIND_CONFIG, "/etc/qp/node.toml", b"[node]\n"),
    ] {
        log.append(Measurement::of_bytes(PCR_PRODUCT, kind, name, bytes)).unwrap();
    }
    log
}

#[test]
fn pcr_extends_replay_and_modified_logs_do_not() {
    let swtpm = swtpm();
    let tpm = open(&swtpm);
    assert_eq!(tpm.pcr_read(PCR_PRODUCT).unwrap(), [0; 32], "a fresh TPM starts the PCR at zero");
    let expected = product_log();
    let mut log = MeasurementLog::new();
    for event in expected.events() {
        tpm.measure(&mut log, event.clone()).unwrap();
    }
    assert_eq!(log, expected);
    let quoted = tpm.pcr_read(PCR_PRODUCT).unwrap();
    assert_ne!(quoted, [0; 32]);
    assert_eq!(log.replay(PCR_PRODUCT, [0; 32]), quoted);
    // The peer's log, as the verifier receives it.
    let received = MeasurementLog::decode(log.encode().as_bytes()).unwrap();
    assert_eq!(received.replay(PCR_PRODUCT, [0; 32]), quoted);

    let events = log.events().to_vec();
    let rebuild = |events: Vec<Measurement>| {
        let mut log = MeasurementLog::new();
        for event in events {
            log.append(event).unwrap();
        }
        log
    };
    let mut changed = events.clone();
    changed[1].digest[0] ^= 1;
    let mut dropped = events.clone();
    dropped.remove(3);
    let mut reordered = events.clone();
    reordered.swap(1, 2);
    let mut other_pcr = events.clone();
    other_pcr[4].pcr = 16;
    for (what, modified) in [("changed", changed), ("dropped", dropped), ("reordered", reordered), ("moved", other_pcr)]
    {
        assert_ne!(rebuild(modified).replay(PCR_PRODUCT, [0; 32]), quoted, "{what} log replays to the TPM's value");
    }

    // Other PCRs are untouched, and the raw extend is the same operation.
    assert_eq!(tpm.pcr_read(16).unwrap(), [0; 32]);
    tpm.pcr_extend(16, sha256(b"debug")).unwrap();
    assert_eq!(tpm.pcr_read(16).unwrap(), qp_tpm::pcr_extend_value(&[0; 32], &sha256(b"debug")));
    assert!(matches!(tpm.pcr_read(24), Err(TpmError::NoSuchPcr(24))));
    assert!(matches!(tpm.pcr_extend(200, [0; 32]), Err(TpmError::NoSuchPcr(200))));
    // A bad event never reaches the TPM.
    let before = tpm.pcr_read(PCR_PRODUCT).unwrap();
    let bad = Measurement::new(PCR_PRODUCT, KIND_CONFIG, "two\nlines", [1; 32]);
    assert!(matches!(tpm.measure(&mut log, bad), Err(TpmError::Measurement(LogError::Event(_)))));
    assert_eq!(tpm.pcr_read(PCR_PRODUCT).unwrap(), before);
}

#[test]
fn the_log_decoder_round_trips_and_names_the_bad_line() {
    let log = product_log();
    let text = log.encode();
    assert_eq!(MeasurementLog::decode(text.as_bytes()).unwrap(), log);

    let good = format!("15 {} model m", "ab".repeat(32));
    let header = "qp-measurement-log v1";
    let cases: Vec<(String, usize, LogErrorKind)> = vec![
        (String::new(), 1, LogErrorKind::MissingHeader),
        ("qp-measurement-log v2\n".into(), 1, LogErrorKind::BadHeader),
        (format!("{header}\n{good}"), 2, LogErrorKind::Truncated),
        (format!("{header}\n{good}\n\n"), 3, LogErrorKind::EmptyLine),
        (format!("{header}\n{good}\n15 {}\n", "ab".repeat(32)), 3, LogErrorKind::MissingField("kind")),
        (format!("{header}\n15\n"), 2, LogErrorKind::MissingField("digest")),
        (format!("{header}\n15 {} model\n", "ab".repeat(32)), 2, LogErrorKind::MissingField("name")),
        (format!("{header}\n15 {} model m\n", "ab".repeat(31)), 2, LogErrorKind::DigestLength { hex_digits: 62 }),
        (format!("{header}\n15 {} model m\n", "ab".repeat(33)), 2, LogErrorKind::DigestLength { hex_digits: 66 }),
        (format!("{header}\n15 {}zz model m\n", "ab".repeat(31)), 2, LogErrorKind::BadHex),
        (format!("{header}\n15 {} model m\n", "AB".repeat(32)), 2, LogErrorKind::BadHex),
        (format!("{header}\n15 {}é model m\n", "a".repeat(62)), 2, LogErrorKind::BadHex),
        (format!("{header}\n24 {} model m\n", "ab".repeat(32)), 2, LogErrorKind::BadPcr),
        (format!("{header}\n015 {} model m\n", "ab".repeat(32)), 2, LogErrorKind::BadPcr),
        (format!("{header}\n-1 {} model m\n", "ab".repeat(32)), 2, LogErrorKind::BadPcr),
        (format!("{header}\n99999999999999999999 {} model m\n", "ab".repeat(32)), 2, LogErrorKind::BadPcr),
        (format!("{header}\n15 {} Model m\n", "ab".repeat(32)), 2, LogErrorKind::BadKind),
        (format!("{header}\n15 {} model m\r\n", "ab".repeat(32)), 2, LogErrorKind::BadName("a control character")),
        (
            format!("{header}\n{good}\n15 {} model  m\n", "ab".repeat(32)),
            3,
            LogErrorKind::BadName("leading or trailing white space"),
        ),
        (
            format!("{header}\n15 {} model {}\n", "ab".repeat(32), "n".repeat(513)),
            2,
            LogErrorKind::BadName("longer than 512 bytes"),
        ),
        (
            format!("{header}\n15 {} model {}\n", "ab".repeat(32), "n".repeat(2000)),
            2,
            LogErrorKind::LineTooLong { bytes: 2074, max: 1024 },
        ),
    ];
    for (input, line, kind) in cases {
        let err = MeasurementLog::decode(input.as_bytes()).unwrap_err();
        assert_eq!(err, LogError::Line { line, kind }, "{input:?}");
        assert!(err.to_string().contains(&format!("line {line}")), "{err}");
    }

    let not_utf8 = [b"qp-measurement-log v1\n15 ".as_slice(), &[0xff, 0xfe], b" model m\n"].concat();
    assert_eq!(MeasurementLog::decode(&not_utf8), Err(LogError::Line { line: 2, kind: LogErrorKind::NotUtf8 }));

    let huge = vec![b'a'; MAX_LOG_BYTES + 1];
    assert!(matches!(MeasurementLog::decode(&huge), Err(LogError::TooLarge { .. })));
    let many = format!("{header}\n{}", format!("{good}\n").repeat(qp_tpm::MAX_EVENTS + 1));
    assert_eq!(
        MeasurementLog::decode(many.as_bytes()),
        Err(LogError::Line {
            line: qp_tpm::MAX_EVENTS + 2,
            kind: LogErrorKind::TooManyEvents { max: qp_tpm::MAX_EVENTS }
        })
    );
}

#[test]
fn a_missing_swtpm_says_how_to_install_it() {
    assert!(SwtpmError::NotInstalled.to_string().contains("apt-get install swtpm swtpm-tools"));
}

fn event() -> impl Strategy<Value = Measurement> {
    (0u8..24, any::<[u8; 32]>(), "[a-z0-9-]{1,32}", "[^\\p{Cc}\\s][^\\p{Cc}]{0,40}[^\\p{Cc}\\s]|[^\\p{Cc}\\s]")
        .prop_map(|(pcr, digest, kind, name)| Measurement { pcr, digest, kind, name })
}

proptest! {
    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = MeasurementLog::decode(&bytes);
        let mut with_header = b"qp-measurement-log v1\n".to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = MeasurementLog::decode(&with_header);
    }

    #[test]
    fn valid_logs_round_trip(events in proptest::collection::vec(event(), 0..20)) {
        let mut log = MeasurementLog::new();
        for event in events {
            log.append(event).unwrap();
        }
        let encoded = log.encode();
        prop_assert_eq!(MeasurementLog::decode(encoded.as_bytes()).unwrap(), log.clone());
        // Any cut short of the whole is refused, never misread as a shorter valid log.
        if encoded.len() > 1 {
            let cut = encoded.len() - 1;
            prop_assert!(MeasurementLog::decode(&encoded.as_bytes()[..cut]).is_err());
        }
    }
}

// ---- swtpm with EK certificates ----

fn local_ca(dir: &std::path::Path) -> LocalCa {
    LocalCa::create(&dir.join("ca")).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn a_local_ca_issues_the_ek_certificate_and_prepared_state_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ca = local_ca(dir.path());
    let certs = ca.issuer_certs_der().unwrap();
    assert_eq!(certs.len(), 2);
    let (_, issuer) = x509_parser::parse_x509_certificate(&certs[0]).unwrap();
    let (_, root) = x509_parser::parse_x509_certificate(&certs[1]).unwrap();
    assert_eq!(issuer.issuer(), root.subject());
    assert_eq!(root.issuer(), root.subject());
    // A second create on the same directory keeps the CA.
    assert_eq!(LocalCa::create(ca.dir()).unwrap().issuer_certs_der().unwrap(), certs);

    let state = dir.path().join("vm-tpm");
    swtpm::prepare_state(&state, &ca).unwrap();
    let permall = std::fs::read(state.join("tpm2-00.permall")).unwrap();
    swtpm::prepare_state(&state, &ca).unwrap();
    assert_eq!(std::fs::read(state.join("tpm2-00.permall")).unwrap(), permall, "prepare_state re-manufactured");

    // The QEMU-facing swtpm: its control socket appears; dropping it stops it.
    let socket = dir.path().join("swtpm.sock");
    let mut qemu_tpm = SwtpmForQemu::start(&state, &socket).unwrap();
    assert!(qemu_tpm.running());
    assert_eq!(qemu_tpm.socket(), socket.as_path());
    drop(qemu_tpm);
}

// ---- EK, AK, quote, certify, credential activation ----

/// A swtpm with an EK certificate from a fresh local CA, its context, and the temp dir.
fn swtpm_with_ek() -> (Swtpm, Arc<Tpm>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ca = local_ca(dir.path());
    let swtpm = Swtpm::start_with_ek(&ca).unwrap_or_else(|err| panic!("{err}"));
    let tpm = Arc::new(open(&swtpm));
    (swtpm, tpm, dir)
}

/// The ECDSA signature in a marshalled TPMT_SIGNATURE, as p256 takes it.
fn tpmt_signature_ecdsa(bytes: &[u8]) -> Signature {
    assert_eq!(&bytes[..4], &[0x00, 0x18, 0x00, 0x0B], "not ECDSA-SHA256");
    let r_len = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
    let r = &bytes[6..6 + r_len];
    let s_at = 6 + r_len;
    let s_len = usize::from(u16::from_be_bytes([bytes[s_at], bytes[s_at + 1]]));
    let s = &bytes[s_at + 2..s_at + 2 + s_len];
    assert_eq!(bytes.len(), s_at + 2 + s_len);
    let mut rs = [0u8; 64];
    rs[32 - r.len()..32].copy_from_slice(r);
    rs[64 - s.len()..].copy_from_slice(s);
    Signature::from_slice(&rs).unwrap()
}

fn ak_verifying_key(ak: &AttestationKey) -> VerifyingKey {
    use tss_esapi::traits::UnMarshall;
    let tss_esapi::structures::Public::Ecc { unique, .. } =
        tss_esapi::structures::Public::unmarshall(&ak.public_area()).unwrap()
    else {
        panic!("not ECC");
    };
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(unique.x().value());
    sec1.extend_from_slice(unique.y().value());
    VerifyingKey::from_sec1_bytes(&sec1).unwrap()
}

#[test]
fn the_ek_certificate_matches_the_ek_and_the_ak_survives_a_reload() {
    use tss_esapi::traits::UnMarshall;
    let (_swtpm, tpm, dir) = swtpm_with_ek();
    let ca = LocalCa::create(&dir.path().join("ca")).unwrap();

    let cert_der = tpm.ek_certificate().unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).unwrap();
    let x509_parser::public_key::PublicKey::RSA(rsa) = cert.public_key().parsed().unwrap() else {
        panic!("the EK certificate's key is not RSA");
    };
    let ek_area = tpm.ek_public_area().unwrap();
    assert_eq!(tpm.ek_public_area().unwrap(), ek_area, "the EK is re-derived identically");
    let tss_esapi::structures::Public::Rsa { unique, .. } =
        tss_esapi::structures::Public::unmarshall(&ek_area).unwrap()
    else {
        panic!("the EK is not RSA");
    };
    let modulus = rsa.modulus.iter().skip_while(|byte| **byte == 0).copied().collect::<Vec<_>>();
    assert_eq!(modulus, unique.value(), "the EK certificate is for another key");
    // Issued by the local CA's issuer, which the root signed.
    let issuers = ca.issuer_certs_der().unwrap();
    let (_, issuer) = x509_parser::parse_x509_certificate(&issuers[0]).unwrap();
    assert_eq!(cert.issuer(), issuer.subject());
    assert!(cert.verify_signature(Some(issuer.public_key())).is_ok(), "the EK certificate is not the issuer's");

    // The AK: created once (0600, never overwritten), reloaded on a new context with the same Name.
    let ak_file = dir.path().join("ak.tpmkey");
    let ak = AttestationKey::create(Arc::clone(&tpm), &ak_file).unwrap();
    assert_eq!(std::fs::metadata(&ak_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(ak.name(), qp_tpm::name_of(&ak.public_area()));
    assert_eq!(ak.name().len(), 34);
    let name = ak.name();
    drop(ak);
    let reloaded = AttestationKey::load(Arc::clone(&tpm), &ak_file).unwrap();
    assert_eq!(reloaded.name(), name);
    let err = AttestationKey::create(Arc::clone(&tpm), &ak_file).unwrap_err();
    assert!(matches!(err, TpmError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists));

    // The identity key's blob is not an AK, and an AK is not an identity key.
    let key_file = dir.path().join("node.tpmkey");
    drop(TpmSigner::create(Arc::clone(&tpm), &key_file).unwrap());
    assert!(matches!(AttestationKey::load(Arc::clone(&tpm), &key_file), Err(TpmError::KeyBlob { .. })));
    assert!(matches!(TpmSigner::load(Arc::clone(&tpm), &ak_file), Err(TpmError::KeyBlob { .. })));
}

#[test]
fn a_plain_swtpm_has_no_ek_certificate() {
    let swtpm = swtpm();
    let err = open(&swtpm).ek_certificate().unwrap_err();
    assert!(matches!(err, TpmError::EkCertificate { .. }), "{err}");
}

#[test]
fn a_quote_over_pcr_15_passes_tpm2_checkquote_and_a_flipped_byte_does_not() {
    let (_swtpm, tpm, dir) = swtpm_with_ek();
    for event in [b"qp-supervisor".as_slice(), b"model v7", b"config"] {
        tpm.pcr_extend(PCR_PRODUCT, sha256(event)).unwrap();
    }
    let ak = AttestationKey::create(Arc::clone(&tpm), &dir.path().join("ak.tpmkey")).unwrap();
    let nonce = sha256(b"verifier nonce 1");
    let quote = ak.quote(&nonce, &[PCR_PRODUCT]).unwrap();
    // The signature is the AK's over SHA-256(TPMS_ATTEST).
    let signature = tpmt_signature_ecdsa(&quote.signature);
    assert!(ak_verifying_key(&ak).verify_prehash(&sha256(&quote.attest), &signature).is_ok());

    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let pem = write("ak.pem", ak.public_key_pem().as_bytes());
    let message = write("quote.msg", &quote.attest);
    let sig = write("quote.sig", &quote.signature);
    let checkquote = |message: &std::path::Path, nonce: &[u8]| {
        std::process::Command::new("tpm2_checkquote")
            .arg("-u")
            .arg(&pem)
            .arg("-m")
            .arg(message)
            .arg("-s")
            .arg(&sig)
            .arg("-q")
            .arg(hex(nonce))
            .args(["-g", "sha256"])
            .output()
            .unwrap()
    };
    let output = checkquote(&message, &nonce);
    assert!(output.status.success(), "tpm2_checkquote: {}", String::from_utf8_lossy(&output.stderr));

    let mut flipped = quote.attest.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let flipped = write("flipped.msg", &flipped);
    assert!(!checkquote(&flipped, &nonce).status.success(), "a modified quote passed");
    assert!(!checkquote(&message, &sha256(b"another nonce")).status.success(), "another nonce passed");

    // Refused before the TPM: a long nonce, an empty or repeated PCR list.
    assert!(matches!(ak.quote(&[0u8; 65], &[PCR_PRODUCT]), Err(TpmError::Input(_))));
    assert!(matches!(ak.quote(&nonce, &[]), Err(TpmError::Input(_))));
    assert!(matches!(ak.quote(&nonce, &[24]), Err(TpmError::NoSuchPcr(24))));
}

#[test]
fn the_ak_certifies_the_node_identity_key() {
    let (_swtpm, tpm, dir) = swtpm_with_ek();
    let ak = AttestationKey::create(Arc::clone(&tpm), &dir.path().join("ak.tpmkey")).unwrap();
    let signer = TpmSigner::create(Arc::clone(&tpm), &dir.path().join("node.tpmkey")).unwrap();
    let nonce = sha256(b"certify nonce");
    let certified = ak.certify(&signer, &nonce).unwrap();
    let signature = tpmt_signature_ecdsa(&certified.signature);
    assert!(ak_verifying_key(&ak).verify_prehash(&sha256(&certified.attest), &signature).is_ok());
    let contains = |needle: &[u8]| certified.attest.windows(needle.len()).any(|window| window == needle);
    // TPMS_ATTEST: magic TPM_GENERATED_VALUE, type TPM_ST_ATTEST_CERTIFY, the nonce, the key's Name.
    assert_eq!(&certified.attest[..6], &[0xff, 0x54, 0x43, 0x47, 0x80, 0x17]);
    assert!(contains(&nonce));
    assert!(contains(&qp_tpm::name_of(&signer.public_area())));
    // A key on another context (another TPM) is refused.
    let (_other, other_tpm, other_dir) = swtpm_with_ek();
    let foreign = TpmSigner::create(other_tpm, &other_dir.path().join("node.tpmkey")).unwrap();
    assert!(matches!(ak.certify(&foreign, &nonce), Err(TpmError::Input(_))));
}

#[test]
fn credential_activation_releases_the_secret_only_for_the_ak_it_names() {
    let (_swtpm, tpm, dir) = swtpm_with_ek();
    let ak = AttestationKey::create(Arc::clone(&tpm), &dir.path().join("ak.tpmkey")).unwrap();
    let ek = tpm.ek_public_area().unwrap();
    let secret = sha256(b"enrollment challenge");
    let (blob, encrypted) = tpm.make_credential(&ek, &ak.name(), &secret).unwrap();
    assert_eq!(ak.activate_credential(&blob, &encrypted).unwrap(), secret);
    // Activation leaves no session or object behind: it can run again, many times.
    for _ in 0..5 {
        assert_eq!(ak.activate_credential(&blob, &encrypted).unwrap(), secret);
    }

    // A credential for another name (another AK) is refused by this AK.
    let other = AttestationKey::create(Arc::clone(&tpm), &dir.path().join("other-ak.tpmkey")).unwrap();
    let (blob, encrypted) = tpm.make_credential(&ek, &other.name(), &secret).unwrap();
    let err = ak.activate_credential(&blob, &encrypted).unwrap_err();
    assert!(matches!(err, TpmError::Command { command: "TPM2_ActivateCredential", .. }), "{err}");
    assert_eq!(other.activate_credential(&blob, &encrypted).unwrap(), secret);

    // A credential for another TPM's EK is refused.
    let (_swtpm2, tpm2, _dir2) = swtpm_with_ek();
    let (blob, encrypted) = tpm.make_credential(&tpm2.ek_public_area().unwrap(), &ak.name(), &secret).unwrap();
    assert!(ak.activate_credential(&blob, &encrypted).is_err());
}

// ---- sealing under an authorized PCR policy ----

struct Authority(p256::ecdsa::SigningKey);

impl Authority {
    fn new(seed: u8) -> Self {
        Self(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap())
    }

    fn public(&self) -> [u8; 65] {
        self.0.verifying_key().to_encoded_point(false).as_bytes().try_into().unwrap()
    }

    /// The release process: approve `values` of `pcrs`.
    fn approve(&self, pcrs: &[u8], values: &[[u8; 32]], policy_ref: &[u8]) -> PolicyApproval {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let approved_policy = qp_tpm::policy_pcr_digest(pcrs, values);
        let signature: Signature = self.0.sign_prehash(&qp_tpm::approval_digest(&approved_policy, policy_ref)).unwrap();
        PolicyApproval {
            pcrs: pcrs.to_vec(),
            approved_policy,
            signature: signature.to_bytes().into(),
            authority_public: self.public(),
            policy_ref: policy_ref.to_vec(),
        }
    }
}

fn unseal_step(err: TpmError) -> UnsealStep {
    match err {
        TpmError::Unseal { step, .. } => step,
        other => panic!("not an unseal error: {other}"),
    }
}

#[test]
fn a_sealed_secret_opens_only_for_approved_pcr_values_and_survives_a_signed_update() {
    let first = swtpm();
    let tpm = open(&first);
    let dir = tempfile::tempdir().unwrap();
    let release = Authority::new(0x11);
    let policy_ref = b"qp-vault v1";
    let secret = b"strategy key: 0123456789abcdef".to_vec();
    tpm.pcr_extend(PCR_PRODUCT, sha256(b"image 1.0")).unwrap();
    let file = dir.path().join("vault.sealed");
    SealedSecret::seal(&tpm, &release.public(), policy_ref, &secret, &file).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(matches!(
        SealedSecret::seal(&tpm, &release.public(), policy_ref, &secret, &file),
        Err(TpmError::Io { .. })
    ));

    // The pure digest is the TPM's.
    let v1 = tpm.pcr_read(PCR_PRODUCT).unwrap();
    assert_eq!(tpm.pcr_policy_digest(&[PCR_PRODUCT]).unwrap(), qp_tpm::policy_pcr_digest(&[PCR_PRODUCT], &[v1]));
    let approval_v1 = release.approve(&[PCR_PRODUCT], &[v1], policy_ref);
    assert_eq!(SealedSecret::unseal(&tpm, &file, &approval_v1).unwrap(), secret);

    // Tampered measurements: the approval no longer matches.
    tpm.pcr_extend(PCR_PRODUCT, sha256(b"image 1.1 (signed update)")).unwrap();
    let err = SealedSecret::unseal(&tpm, &file, &approval_v1).unwrap_err();
    assert!(err.to_string().contains("PCR policy"), "{err}");
    assert_eq!(unseal_step(err), UnsealStep::PcrsNotApproved);

    // The release key approves the new value: unseals without resealing.
    let v2 = tpm.pcr_read(PCR_PRODUCT).unwrap();
    let approval_v2 = release.approve(&[PCR_PRODUCT], &[v2], policy_ref);
    assert_eq!(SealedSecret::unseal(&tpm, &file, &approval_v2).unwrap(), secret);

    // An approval signed by another key: with its own public key (not the sealed authority), or
    // claiming the release key's.
    let rogue = Authority::new(0x22);
    let forged = rogue.approve(&[PCR_PRODUCT], &[v2], policy_ref);
    assert_eq!(unseal_step(SealedSecret::unseal(&tpm, &file, &forged).unwrap_err()), UnsealStep::PolicyAuthorize);
    let forged = PolicyApproval { authority_public: release.public(), ..forged };
    assert_eq!(unseal_step(SealedSecret::unseal(&tpm, &file, &forged).unwrap_err()), UnsealStep::VerifySignature);
    // Another policy reference (an approval for another secret).
    let other_ref = release.approve(&[PCR_PRODUCT], &[v2], b"qp-other v1");
    assert_eq!(unseal_step(SealedSecret::unseal(&tpm, &file, &other_ref).unwrap_err()), UnsealStep::PolicyAuthorize);
    // Still works after all those refusals (nothing left loaded).
    for _ in 0..3 {
        assert_eq!(SealedSecret::unseal(&tpm, &file, &approval_v2).unwrap(), secret);
    }

    // On another TPM the sealed file does not load.
    // (Even with the same measurements, so that the approval itself passes there.)
    let other = swtpm();
    let other_tpm = open(&other);
    other_tpm.pcr_extend(PCR_PRODUCT, sha256(b"image 1.0")).unwrap();
    other_tpm.pcr_extend(PCR_PRODUCT, sha256(b"image 1.1 (signed update)")).unwrap();
    let err = SealedSecret::unseal(&other_tpm, &file, &approval_v2).unwrap_err();
    assert_eq!(unseal_step(err), UnsealStep::Load);

    // Refused inputs.
    let long = vec![0u8; 129];
    assert!(matches!(
        SealedSecret::seal(&tpm, &release.public(), policy_ref, &long, &dir.path().join("x")),
        Err(TpmError::Input(_))
    ));
    assert!(matches!(
        SealedSecret::seal(&tpm, &[4u8; 65], policy_ref, &secret, &dir.path().join("y")),
        Err(TpmError::Input(_))
    ));
}

#[test]
fn the_pure_policy_digests_equal_the_tpms() {
    let swtpm = swtpm();
    let tpm = open(&swtpm);
    for pcrs in [&[PCR_PRODUCT][..], &[0, 7, PCR_PRODUCT], &[23]] {
        let values: Vec<[u8; 32]> = pcrs.iter().map(|&pcr| tpm.pcr_read(pcr).unwrap()).collect();
        assert_eq!(tpm.pcr_policy_digest(pcrs).unwrap(), qp_tpm::policy_pcr_digest(pcrs, &values), "{pcrs:?}");
    }
    // PolicyAuthorize's digest, from the TPM: a trial session (which does not check the ticket).
    let release = Authority::new(0x11);
    let name = qp_tpm::authority_name(&release.public());
    drop(tpm);
    let mut ctx = tss_esapi::Context::new(swtpm.tcti().parse().unwrap()).unwrap();
    for policy_ref in [&b""[..], b"qp-vault v1"] {
        let session = ctx
            .start_auth_session(
                None,
                None,
                None,
                tss_esapi::constants::SessionType::Trial,
                tss_esapi::structures::SymmetricDefinition::Null,
                tss_esapi::interface_types::algorithm::HashingAlgorithm::Sha256,
            )
            .unwrap()
            .unwrap();
        let policy = tss_esapi::interface_types::session_handles::PolicySession::try_from(session).unwrap();
        let ticket = tss_esapi::structures::VerifiedTicket::try_from(tss_esapi::tss2_esys::TPMT_TK_VERIFIED {
            tag: tss_esapi::constants::tss::TPM2_ST_VERIFIED,
            hierarchy: tss_esapi::constants::tss::TPM2_RH_NULL,
            digest: Default::default(),
        })
        .unwrap();
        ctx.policy_authorize(
            policy,
            tss_esapi::structures::Digest::try_from(vec![0u8; 32]).unwrap(),
            tss_esapi::structures::Nonce::try_from(policy_ref.to_vec()).unwrap(),
            &tss_esapi::structures::Name::try_from(name.clone()).unwrap(),
            ticket,
        )
        .unwrap();
        let digest = ctx.policy_get_digest(policy).unwrap();
        assert_eq!(digest.value(), qp_tpm::policy_authorize_digest(&name, policy_ref));
        ctx.flush_context(tss_esapi::handles::SessionHandle::from(session).into()).unwrap();
    }
}
