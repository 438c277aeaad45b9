//! Evidence made in software, for the tests and the benchmark (`benches/verify_quote.rs` includes
//! this file): an AK, identity key and EK as p256 keys and public areas, a realistic 40-event
//! image log, and [`Make`], which builds (possibly bad) quotes and certifications.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test code; each user takes a part

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
use qp_attest_verify::{EnrolledNode, EvidenceParts};

pub(crate) const PCR: u8 = 15;
pub(crate) const IMAGE: &str = "local-0.1.0-0707070707070707";
pub(crate) const NONCE: [u8; 32] = [0x4e; 32];

pub(crate) fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32].into()).unwrap()
}

pub(crate) fn ecc_public(key: &SigningKey, attributes: u32, scheme: Scheme) -> PublicArea {
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

pub(crate) const BOUND: u32 =
    ObjectAttributes::FIXED_TPM | ObjectAttributes::FIXED_PARENT | ObjectAttributes::SENSITIVE_DATA_ORIGIN;
pub(crate) const AK_ATTRIBUTES: u32 =
    BOUND | ObjectAttributes::USER_WITH_AUTH | ObjectAttributes::RESTRICTED | ObjectAttributes::SIGN;
pub(crate) const IDENTITY_ATTRIBUTES: u32 = BOUND | ObjectAttributes::USER_WITH_AUTH | ObjectAttributes::SIGN;
pub(crate) const ECDSA_SHA256: Scheme = Scheme::Hash { scheme: TPM_ALG_ECDSA, hash_alg: TPM_ALG_SHA256 };

pub(crate) fn ak_public(key: &SigningKey) -> PublicArea {
    ecc_public(key, AK_ATTRIBUTES, ECDSA_SHA256)
}

pub(crate) fn identity_public(key: &SigningKey) -> PublicArea {
    ecc_public(key, IDENTITY_ATTRIBUTES, Scheme::Null)
}

/// The TCG default EK template with a made-up modulus (enough for the evidence checks).
pub(crate) fn ek_public(modulus: Vec<u8>) -> PublicArea {
    PublicArea {
        object_attributes: ObjectAttributes(0x0003_00b2),
        auth_policy: vec![0x83; 32],
        parameters: KeyParameters::Rsa {
            symmetric: SymmetricDef::Block { algorithm: TPM_ALG_AES, key_bits: 128, mode: TPM_ALG_CFB },
            scheme: Scheme::Null,
            key_bits: 2048,
            exponent: 0,
            modulus,
        },
    }
}

/// A node in software: its AK, identity key and EK.
pub(crate) struct SoftNode {
    pub(crate) ak: SigningKey,
    pub(crate) identity: SigningKey,
    pub(crate) ek: PublicArea,
}

impl SoftNode {
    pub(crate) fn new() -> Self {
        Self { ak: signing_key(1), identity: signing_key(2), ek: ek_public(vec![0xc5; 256]) }
    }

    pub(crate) fn enrolled(&self) -> EnrolledNode {
        EnrolledNode {
            node: "node-1".to_owned(),
            ek_public: self.ek.encode(),
            ak_public: ak_public(&self.ak).encode(),
            identity_public: identity_public(&self.identity).encode(),
            ek_certificate_der: vec![0x30, 0x00],
            enrolled_at_unix: 1_800_000_000,
        }
    }

    /// The AK's qualified Name: a child of the EK, a primary of the endorsement hierarchy.
    pub(crate) fn ak_qualified_name(&self) -> Vec<u8> {
        qualified_name(&self.ek.primary_qualified_name(TPM_RH_ENDORSEMENT), &ak_public(&self.ak).name())
    }
}

/// What a realistic image's PID 1 measures: 40 events.
pub(crate) fn image_log() -> MeasurementLog {
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
    assert_eq!(log.len(), 40);
    log
}

pub(crate) fn golden() -> GoldenValues {
    GoldenValues::new(IMAGE.to_owned(), "local".to_owned(), "0.1.0".to_owned(), PCR, image_log())
}

/// How to make (possibly bad) evidence.
#[derive(Clone)]
pub(crate) struct Make {
    pub(crate) signer: SigningKey,
    pub(crate) qualified_signer: Vec<u8>,
    pub(crate) quote_nonce: [u8; 32],
    pub(crate) certify_nonce: [u8; 32],
    pub(crate) pcrs: Vec<u8>,
    /// The log the TPM measured (the quote's digest is of its replay).
    pub(crate) measured: MeasurementLog,
    /// The log the node sends.
    pub(crate) sent: Vec<u8>,
    pub(crate) image_id: String,
    pub(crate) certified_name: Vec<u8>,
}

impl Make {
    pub(crate) fn good(node: &SoftNode) -> Self {
        Self {
            signer: node.ak.clone(),
            qualified_signer: node.ak_qualified_name(),
            quote_nonce: NONCE,
            certify_nonce: NONCE,
            pcrs: vec![PCR],
            measured: image_log(),
            sent: image_log().encode().into_bytes(),
            image_id: IMAGE.to_owned(),
            certified_name: identity_public(&node.identity).name(),
        }
    }

    pub(crate) fn sign(&self, attest: &Attest) -> (Vec<u8>, Vec<u8>) {
        let bytes = attest.encode();
        let signature: p256::ecdsa::Signature = self.signer.sign(&bytes);
        let (r, s) = signature.split_bytes();
        (bytes, Signature { r: r.into(), s: s.into() }.encode())
    }

    pub(crate) fn evidence(&self) -> EvidenceParts {
        let mut values = Vec::new();
        for &pcr in &self.pcrs {
            values.extend_from_slice(&self.measured.replay(pcr, [0; 32]));
        }
        let quote = Attest {
            qualified_signer: self.qualified_signer.clone(),
            extra_data: self.quote_nonce.to_vec(),
            clock_info: ClockInfo { clock: 5000, reset_count: 0, restart_count: 0, safe: true },
            firmware_version: 0x2019_1023_0016_3636,
            attested: Attested::Quote {
                pcr_select: vec![PcrSelection::sha256(&self.pcrs)],
                pcr_digest: qp_attest_core::sha256(&values).to_vec(),
            },
        };
        let certify = Attest {
            extra_data: self.certify_nonce.to_vec(),
            attested: Attested::Certify {
                name: self.certified_name.clone(),
                qualified_name: qualified_name(&[0x40, 0, 0, 1], &self.certified_name),
            },
            ..quote.clone()
        };
        let (quote_attest, quote_signature) = self.sign(&quote);
        let (certify_attest, certify_signature) = self.sign(&certify);
        EvidenceParts {
            image_id: self.image_id.clone(),
            quote_attest,
            quote_signature,
            log: self.sent.clone(),
            certify_attest,
            certify_signature,
        }
    }
}
