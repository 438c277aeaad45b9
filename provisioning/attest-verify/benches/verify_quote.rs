//! `verify_evidence` on realistic evidence: a 40-event log (decoded and replayed), a quote and a
//! certification, each signature verified (ECDSA P-256). Target: p99 ≤ 20 ms.
//!
//! Besides criterion's estimate, prints one JSON line with p50/p99/p99.9 over 10,000 timed calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group};
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use qp_attest_core::golden::GoldenValues;
use qp_attest_core::log::{
    KIND_CONFIG, KIND_MODEL, KIND_SERVICE_BINARY, KIND_VERITY_ROOT_HASH, Measurement, MeasurementLog,
};
use qp_attest_core::tpm_struct::{
    Attest, Attested, ClockInfo, KeyParameters, ObjectAttributes, PcrSelection, PublicArea, Scheme, Signature,
    SymmetricDef, TPM_ALG_AES, TPM_ALG_CFB, TPM_ALG_ECDSA, TPM_ALG_SHA256, TPM_ECC_NIST_P256, TPM_RH_ENDORSEMENT,
    qualified_name,
};
use qp_attest_verify::{EnrolledNode, EvidenceParts, verify_evidence};

const PCR: u8 = 15;
const NONCE: [u8; 32] = [0x4e; 32];

fn ecc_public(key: &SigningKey, attributes: u32, scheme: Scheme) -> PublicArea {
    let point = key.verifying_key().to_encoded_point(false);
    PublicArea {
        object_attributes: ObjectAttributes(attributes),
        auth_policy: Vec::new(),
        parameters: KeyParameters::Ecc {
            symmetric: SymmetricDef::Null,
            scheme,
            curve_id: TPM_ECC_NIST_P256,
            kdf: Scheme::Null,
            x: point.x().unwrap().to_vec(),
            y: point.y().unwrap().to_vec(),
        },
    }
}

fn log() -> MeasurementLog {
    let mut log = MeasurementLog::new();
    log.append(Measurement::new(PCR, KIND_VERITY_ROOT_HASH, "root", [7; 32])).unwrap();
    for i in 0..24 {
        let name = format!("/usr/bin/qp-service-{i:02}");
        log.append(Measurement::of_bytes(PCR, KIND_SERVICE_BINARY, &name, name.as_bytes())).unwrap();
    }
    for i in 0..8 {
        let name = format!("models/risk-{i} v2.onnx");
        log.append(Measurement::of_bytes(PCR, KIND_MODEL, &name, name.as_bytes())).unwrap();
    }
    for i in 0..7 {
        let name = format!("/etc/qp/agent-{i}.toml");
        log.append(Measurement::of_bytes(PCR, KIND_CONFIG, &name, name.as_bytes())).unwrap();
    }
    log
}

fn fixture() -> (EnrolledNode, EvidenceParts, GoldenValues) {
    let bound = ObjectAttributes::FIXED_TPM | ObjectAttributes::FIXED_PARENT | ObjectAttributes::SENSITIVE_DATA_ORIGIN;
    let ak = SigningKey::from_bytes(&[1; 32].into()).unwrap();
    let identity = SigningKey::from_bytes(&[2; 32].into()).unwrap();
    let ak_public = ecc_public(
        &ak,
        bound | ObjectAttributes::USER_WITH_AUTH | ObjectAttributes::RESTRICTED | ObjectAttributes::SIGN,
        Scheme::Hash { scheme: TPM_ALG_ECDSA, hash_alg: TPM_ALG_SHA256 },
    );
    let identity_public =
        ecc_public(&identity, bound | ObjectAttributes::USER_WITH_AUTH | ObjectAttributes::SIGN, Scheme::Null);
    let ek_public = PublicArea {
        object_attributes: ObjectAttributes(0x0003_00b2),
        auth_policy: vec![0x83; 32],
        parameters: KeyParameters::Rsa {
            symmetric: SymmetricDef::Block { algorithm: TPM_ALG_AES, key_bits: 128, mode: TPM_ALG_CFB },
            scheme: Scheme::Null,
            key_bits: 2048,
            exponent: 0,
            modulus: vec![0xc5; 256],
        },
    };
    let enrolled = EnrolledNode {
        node: "node-1".to_owned(),
        ek_public: ek_public.encode(),
        ak_public: ak_public.encode(),
        identity_public: identity_public.encode(),
        ek_certificate_der: vec![0x30, 0x00],
        enrolled_at_unix: 0,
    };
    let log = log();
    let golden =
        GoldenValues::new("local-0.1.0-0707070707070707".into(), "local".into(), "0.1.0".into(), PCR, log.clone());
    let quote = Attest {
        qualified_signer: qualified_name(&ek_public.primary_qualified_name(TPM_RH_ENDORSEMENT), &ak_public.name()),
        extra_data: NONCE.to_vec(),
        clock_info: ClockInfo { clock: 5000, reset_count: 0, restart_count: 0, safe: true },
        firmware_version: 1,
        attested: Attested::Quote {
            pcr_select: vec![PcrSelection::sha256(&[PCR])],
            pcr_digest: qp_attest_core::sha256(&golden.pcr_value).to_vec(),
        },
    };
    let certify = Attest {
        attested: Attested::Certify { name: identity_public.name(), qualified_name: identity_public.name() },
        ..quote.clone()
    };
    let sign = |attest: &Attest| {
        let bytes = attest.encode();
        let signature: p256::ecdsa::Signature = ak.sign(&bytes);
        let (r, s) = signature.split_bytes();
        (bytes, Signature { r: r.into(), s: s.into() }.encode())
    };
    let (quote_attest, quote_signature) = sign(&quote);
    let (certify_attest, certify_signature) = sign(&certify);
    let evidence = EvidenceParts {
        image_id: golden.image_id.clone(),
        quote_attest,
        quote_signature,
        log: log.encode().into_bytes(),
        certify_attest,
        certify_signature,
    };
    (enrolled, evidence, golden)
}

fn bench(c: &mut Criterion) {
    let (enrolled, evidence, golden) = fixture();
    assert!(verify_evidence(&enrolled, &NONCE, &evidence, &golden).pass);
    c.bench_function("verify_evidence_40_events", |b| {
        b.iter(|| verify_evidence(black_box(&enrolled), black_box(&NONCE), black_box(&evidence), black_box(&golden)))
    });
}

fn percentiles() {
    let (enrolled, evidence, golden) = fixture();
    const CALLS: usize = 10_000;
    let mut nanos = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        let verdict =
            verify_evidence(black_box(&enrolled), black_box(&NONCE), black_box(&evidence), black_box(&golden));
        nanos.push(start.elapsed().as_nanos() as u64);
        assert!(verdict.pass);
    }
    nanos.sort_unstable();
    let at = |q: f64| nanos[((CALLS as f64 * q) as usize).min(CALLS - 1)] as f64 / 1e6;
    println!(
        "{{\"bench\":\"verify_evidence_40_events\",\"calls\":{CALLS},\"p50_ms\":{:.4},\"p99_ms\":{:.4},\"p99_9_ms\":{:.4},\"max_ms\":{:.4},\"target_p99_ms\":20}}",
        at(0.50),
        at(0.99),
        at(0.999),
        nanos[CALLS - 1] as f64 / 1e6
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    percentiles();
    Criterion::default().configure_from_args().final_summary();
}
