#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! qp-tpm against swtpm: each test starts its own swtpm (fresh TPM state) in its own temp dir.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use proptest::prelude::*;
use qp_node_key::{NodeSigner, sha256};
use qp_tpm::swtpm::{Swtpm, SwtpmError};
use qp_tpm::{
    KIND_CONFIG, KIND_MODEL, KIND_SERVICE_BINARY, KIND_VERITY_ROOT_HASH, LogError, LogErrorKind, MAX_LOG_BYTES,
    Measurement, MeasurementLog, PCR_PRODUCT, Tpm, TpmError, TpmSigner, Tss2ResponseCodeKind,
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
