#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The fuzz targets' seed corpus (`fuzz/corpus/<target>/`) through the fuzz harnesses, on stable.
//! The seeds are written by this file: `QP_WRITE_CORPUS=1 cargo test -p qp-attest-core --test corpus`
//! rewrites them, and the test fails if a committed seed differs from what it would write.
use std::path::{Path, PathBuf};

use qp_attest_core::attest_proto::{Request, Response};
use qp_attest_core::golden::GoldenValues;
use qp_attest_core::log::{KIND_CONFIG, KIND_SERVICE_BINARY, KIND_VERITY_ROOT_HASH, Measurement, MeasurementLog};
use qp_attest_core::tpm_struct::{
    Attest, Attested, ClockInfo, KeyParameters, ObjectAttributes, PcrSelection, PublicArea, Scheme, Signature,
    SymmetricDef, TPM_ALG_AES, TPM_ALG_CFB, TPM_ALG_ECDSA, TPM_ALG_SHA256, TPM_ECC_NIST_P256,
};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

fn ak() -> PublicArea {
    PublicArea {
        object_attributes: ObjectAttributes(0x0005_0472),
        auth_policy: Vec::new(),
        parameters: KeyParameters::Ecc {
            symmetric: SymmetricDef::Null,
            scheme: Scheme::Hash { scheme: TPM_ALG_ECDSA, hash_alg: TPM_ALG_SHA256 },
            curve_id: TPM_ECC_NIST_P256,
            kdf: Scheme::Null,
            x: vec![0x6b; 32],
            y: vec![0x4f; 32],
        },
    }
}

fn ek() -> PublicArea {
    PublicArea {
        object_attributes: ObjectAttributes(0x0003_00b2),
        auth_policy: vec![0x83; 32],
        parameters: KeyParameters::Rsa {
            symmetric: SymmetricDef::Block { algorithm: TPM_ALG_AES, key_bits: 128, mode: TPM_ALG_CFB },
            scheme: Scheme::Null,
            key_bits: 2048,
            exponent: 0,
            modulus: vec![0xc5; 256],
        },
    }
}

fn quote() -> Attest {
    Attest {
        qualified_signer: [&[0x00, 0x0b][..], &[0x33; 32]].concat(),
        extra_data: vec![0x4e; 32],
        clock_info: ClockInfo { clock: 81_000, reset_count: 3, restart_count: 0, safe: true },
        firmware_version: 0x2019_1023_0016_3636,
        attested: Attested::Quote { pcr_select: vec![PcrSelection::sha256(&[15])], pcr_digest: vec![0x55; 32] },
    }
}

fn log() -> MeasurementLog {
    let mut log = MeasurementLog::new();
    log.append(Measurement::new(15, KIND_VERITY_ROOT_HASH, "root", [7; 32])).unwrap();
    log.append(Measurement::of_bytes(15, KIND_SERVICE_BINARY, "/usr/bin/qp-node", b"qp-node")).unwrap();
    log.append(Measurement::of_bytes(15, KIND_CONFIG, "/etc/qp/manifest.toml", b"variant = \"local\"")).unwrap();
    log
}

/// (target, file, bytes, whether the main decoder accepts it).
fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>, bool)> {
    let certify = Attest {
        attested: Attested::Certify { name: ak().name(), qualified_name: [&[0x00, 0x0b][..], &[0x21; 32]].concat() },
        ..quote()
    };
    let mut huge_frame = ((1u32 << 20) + 1).to_be_bytes().to_vec();
    huge_frame.push(0x83);
    let stream: Vec<u8> = [Request::GetEnrollment.encode(), Request::Quote { nonce: [0x4e; 32] }.encode()].concat();
    let evidence = Response::Evidence {
        image_id: "local-0.1.0-0707070707070707".to_owned(),
        quote_attest: quote().encode(),
        quote_signature: Signature { r: [0x12; 32], s: [0x34; 32] }.encode(),
        log: log().encode().into_bytes(),
        certify_attest: certify.encode(),
        certify_signature: Signature { r: [0x56; 32], s: [0x78; 32] }.encode(),
    };
    let golden = GoldenValues::new("local-0.1.0-0707070707070707".into(), "local".into(), "0.1.0".into(), 15, log());
    let text = log().encode();
    vec![
        ("attest_decode", "quote", quote().encode(), true),
        ("attest_decode", "certify", certify.encode(), true),
        ("attest_decode", "signature", Signature { r: [0x12; 32], s: [0x34; 32] }.encode(), true),
        ("attest_decode", "ak-public", ak().encode(), true),
        ("attest_decode", "ek-public", ek().encode(), true),
        ("attest_decode", "truncated-quote", quote().encode()[..60].to_vec(), false),
        ("proto_decode", "requests", stream, true),
        ("proto_decode", "evidence", evidence.encode(), true),
        ("proto_decode", "error", Response::Error { code: 2, message: "TPM: busy".into() }.encode(), true),
        ("proto_decode", "oversize-frame", huge_frame, false),
        ("log_decode", "log", text.clone().into_bytes(), true),
        ("log_decode", "golden", golden.to_json().into_bytes(), true),
        ("log_decode", "truncated-log", text.as_bytes()[..text.len() - 1].to_vec(), false),
    ]
}

fn accepted(target: &str, bytes: &[u8]) -> bool {
    match target {
        "attest_decode" => {
            Attest::decode(bytes).is_ok() || Signature::decode(bytes).is_ok() || PublicArea::decode(bytes).is_ok()
        }
        "proto_decode" => matches!(
            (Request::decode(bytes), Response::decode(bytes)),
            (Ok(qp_attest_core::attest_proto::Decoded::Complete { .. }), _)
                | (_, Ok(qp_attest_core::attest_proto::Decoded::Complete { .. }))
        ),
        _ => MeasurementLog::decode(bytes).is_ok() || GoldenValues::from_json(bytes).is_ok(),
    }
}

fn harness(target: &str, bytes: &[u8]) -> Result<(), String> {
    match target {
        "attest_decode" => qp_attest_core::tpm_struct::fuzz_harness(bytes),
        "proto_decode" => qp_attest_core::attest_proto::fuzz_harness(bytes),
        _ => qp_attest_core::log_fuzz_harness(bytes),
    }
}

#[test]
fn seeds_are_current_and_run_through_the_fuzz_harnesses() {
    let write = std::env::var_os("QP_WRITE_CORPUS").is_some();
    for (target, name, bytes, ok) in seeds() {
        let path = corpus(target).join(name);
        if write {
            std::fs::create_dir_all(corpus(target)).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        assert_eq!(committed, bytes, "{} is stale: rerun with QP_WRITE_CORPUS=1", path.display());
        assert_eq!(accepted(target, &bytes), ok, "{}", path.display());
    }
    // Every file in the corpus directories (seeds and anything a fuzzer added) keeps the invariants.
    for target in ["attest_decode", "proto_decode", "log_decode"] {
        for entry in std::fs::read_dir(corpus(target)).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            harness(target, &bytes).unwrap_or_else(|broken| panic!("{}: {broken}", path.display()));
        }
    }
}
