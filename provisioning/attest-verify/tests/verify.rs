#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The verifier end to end. Evidence built in software (an AK as a p256 key, its public area and
//! the TPMS_ATTEST made with `qp_attest_core::tpm_struct`'s encoders) tests every rejection
//! deterministically; swtpm tests MakeCredential against a real TPM2_ActivateCredential, the EK
//! certificate checks against `swtpm_localca`'s certificates, and a real quote and certification.

use aes::cipher::{AsyncStreamCipher as _, KeyIvInit as _};
use hmac::Mac as _;
use p256::ecdsa::SigningKey;
use qp_attest_core::golden::GoldenValues;
use qp_attest_core::log::{KIND_SERVICE_BINARY, KIND_VERITY_ROOT_HASH, Measurement, MeasurementLog};
use qp_attest_core::tpm_struct::{
    KeyParameters, ObjectAttributes, PublicArea, Scheme, TPM_ECC_NIST_P384, TPM_RH_ENDORSEMENT, qualified_name,
};
use qp_attest_verify::{
    EnrolledNode, Enrollment, EvidenceParts, LogDifference, NonceBook, NonceError, Reason, Statement, VerifyError,
    check_attestation_key, check_identity_key, kdfa_sha256, make_credential, verify_ek_certificate, verify_evidence,
};

mod soft_evidence;
use soft_evidence::*;

fn codes(reasons: &[Reason]) -> Vec<&'static str> {
    reasons.iter().map(Reason::code).collect()
}

// ---------- evidence ----------

#[test]
fn good_evidence_passes() {
    let node = SoftNode::new();
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &Make::good(&node).evidence(), &golden());
    assert!(verdict.pass, "{:?}", verdict.reasons);
    assert!(verdict.reasons.is_empty());
    assert_eq!(verdict.pcrs.len(), 1);
    assert_eq!(verdict.pcrs[&PCR], golden().pcr_value);
    let json = serde_json::to_value(&verdict).unwrap();
    assert_eq!(json["pass"], true);
    assert_eq!(json["pcrs"]["15"], qp_attest_core::hex(&golden().pcr_value));
}

#[test]
fn a_wrong_nonce_is_refused() {
    let node = SoftNode::new();
    let mut make = Make::good(&node);
    make.quote_nonce = [1; 32];
    make.certify_nonce = [1; 32];
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &make.evidence(), &golden());
    assert!(!verdict.pass);
    assert_eq!(
        verdict.reasons,
        vec![
            Reason::WrongNonce { statement: Statement::Quote },
            Reason::WrongNonce { statement: Statement::Certification }
        ]
    );
}

#[test]
fn a_replayed_nonce_is_refused_by_the_nonce_book() {
    let mut book = NonceBook::default();
    let nonce = book.issue([9; 32], 1_000);
    assert_eq!(book.redeem(&nonce, 1_500), Ok(()));
    assert_eq!(book.redeem(&nonce, 1_600), Err(NonceError::Replayed));
    assert_eq!(book.redeem(&[8; 32], 1_600), Err(NonceError::Unknown));

    let late = book.issue([7; 32], 10_000);
    assert_eq!(book.redeem(&late, 70_001), Err(NonceError::Expired { age_ms: 60_001, lifetime_ms: 60_000 }));

    // Bounded: the oldest is forgotten, and a forgotten nonce is unknown.
    let mut small = NonceBook::new(60_000, 2);
    let first = small.issue([1; 32], 0);
    let second = small.issue([2; 32], 1);
    let third = small.issue([3; 32], 2);
    assert_eq!(small.len(), 2);
    assert_eq!(small.redeem(&first, 3), Err(NonceError::Unknown));
    assert_eq!(small.redeem(&second, 3), Ok(()));
    assert_eq!(small.redeem(&third, 3), Ok(()));
    let mut big = NonceBook::default();
    for i in 0..5000u32 {
        let mut random = [0u8; 32];
        random[..4].copy_from_slice(&i.to_be_bytes());
        big.issue(random, u64::from(i));
    }
    assert_eq!(big.len(), qp_attest_verify::DEFAULT_CAPACITY);
}

#[test]
fn a_quote_over_other_pcrs_is_refused() {
    let node = SoftNode::new();
    let mut make = Make::good(&node);
    make.pcrs = vec![0, PCR];
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &make.evidence(), &golden());
    assert_eq!(verdict.reasons, vec![Reason::OtherPcrs { selected: "sha256:{0,15}".to_owned(), expected: PCR }]);
    assert_eq!(verdict.pcrs.keys().copied().collect::<Vec<_>>(), vec![0, PCR]);
    assert!(verdict.reasons[0].to_string().contains("sha256:{0,15}"));
}

#[test]
fn a_modified_event_log_is_refused() {
    // The TPM measured the golden image; the node sends a log edited at event 3.
    let node = SoftNode::new();
    let mut make = Make::good(&node);
    let mut edited = MeasurementLog::new();
    for (index, event) in image_log().events().iter().enumerate() {
        let mut event = event.clone();
        if index == 3 {
            event.digest = [0xee; 32];
        }
        edited.append(event).unwrap();
    }
    make.sent = edited.encode().into_bytes();
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &make.evidence(), &golden());
    assert_eq!(codes(&verdict.reasons), vec!["LogDoesNotMatchQuote", "LogDiffersFromGolden", "PcrNotGolden"]);
    assert_eq!(
        verdict.reasons[1],
        Reason::LogDiffersFromGolden {
            index: 3,
            kind: KIND_SERVICE_BINARY.to_owned(),
            name: "/usr/bin/qp-service-02".to_owned(),
            difference: LogDifference::Digest,
        }
    );
    assert_eq!(
        verdict.reasons[1].to_string(),
        "the event log differs from the golden log at event 3 (service-binary /usr/bin/qp-service-02): another digest"
    );

    // A log that does not decode.
    make.sent = b"qp-measurement-log v1\n15 zz service-binary x\n".to_vec();
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &make.evidence(), &golden());
    assert_eq!(codes(&verdict.reasons), vec!["LogMalformed"]);
    assert!(verdict.pcrs.is_empty());
}

#[test]
fn a_node_that_ran_another_binary_is_refused_with_where() {
    // The TPM measured a changed binary and the node's log says so honestly.
    let node = SoftNode::new();
    let mut make = Make::good(&node);
    let mut changed = MeasurementLog::new();
    for event in image_log().events() {
        changed.append(event.clone()).unwrap();
    }
    changed.append(Measurement::of_bytes(PCR, KIND_SERVICE_BINARY, "/usr/bin/backdoor", b"x")).unwrap();
    make.measured = changed.clone();
    make.sent = changed.encode().into_bytes();
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &make.evidence(), &golden());
    assert_eq!(codes(&verdict.reasons), vec!["LogDiffersFromGolden", "PcrNotGolden"]);
    assert_eq!(
        verdict.reasons[0],
        Reason::LogDiffersFromGolden {
            index: 40,
            kind: KIND_SERVICE_BINARY.to_owned(),
            name: "/usr/bin/backdoor".to_owned(),
            difference: LogDifference::Extra,
        }
    );
    assert_eq!(verdict.pcrs[&PCR], changed.replay(PCR, [0; 32]));
}

#[test]
fn an_ak_that_is_not_the_enrolled_one_is_refused() {
    let node = SoftNode::new();
    let mut make = Make::good(&node);
    let other = signing_key(3);
    make.signer = other.clone();
    make.qualified_signer =
        qualified_name(&node.ek.primary_qualified_name(TPM_RH_ENDORSEMENT), &ak_public(&other).name());
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &make.evidence(), &golden());
    assert_eq!(
        verdict.reasons,
        vec![
            Reason::QuoteSignature,
            Reason::AkNotEnrolled { statement: Statement::Quote },
            Reason::CertifySignature,
            Reason::AkNotEnrolled { statement: Statement::Certification },
        ]
    );
    // The enrolled key, but a statement that names another signer.
    let mut make = Make::good(&node);
    make.qualified_signer = ak_public(&node.ak).name();
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &make.evidence(), &golden());
    assert_eq!(codes(&verdict.reasons), vec!["AkNotEnrolled", "AkNotEnrolled"]);
}

#[test]
fn golden_values_of_another_image_are_refused() {
    let node = SoftNode::new();
    let mut other_log = MeasurementLog::new();
    other_log.append(Measurement::new(PCR, KIND_VERITY_ROOT_HASH, "root", [8; 32])).unwrap();
    let other = GoldenValues::new(
        "local-0.2.0-0808080808080808".to_owned(),
        "local".to_owned(),
        "0.2.0".to_owned(),
        PCR,
        other_log,
    );
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &Make::good(&node).evidence(), &other);
    assert_eq!(codes(&verdict.reasons), vec!["OtherImage", "LogDiffersFromGolden", "PcrNotGolden"]);
    assert_eq!(
        verdict.reasons[0].to_string(),
        "the node runs image local-0.1.0-0707070707070707, not the golden values' local-0.2.0-0808080808080808"
    );
    // The same golden log under another name: only the image id differs.
    let renamed = GoldenValues { image_id: "local-0.1.0-ffffffffffffffff".to_owned(), ..golden() };
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &Make::good(&node).evidence(), &renamed);
    assert_eq!(codes(&verdict.reasons), vec!["OtherImage"]);
}

#[test]
fn an_uncertified_identity_key_is_refused() {
    let node = SoftNode::new();
    let mut make = Make::good(&node);
    make.certified_name = identity_public(&signing_key(4)).name();
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &make.evidence(), &golden());
    assert_eq!(verdict.reasons, vec![Reason::IdentityNotCertified]);
}

#[test]
fn malformed_statements_are_refused_with_every_reason() {
    let node = SoftNode::new();
    let good = Make::good(&node).evidence();
    // Quote and certification swapped.
    let swapped = EvidenceParts {
        quote_attest: good.certify_attest.clone(),
        quote_signature: good.certify_signature.clone(),
        certify_attest: good.quote_attest.clone(),
        certify_signature: good.quote_signature.clone(),
        ..good.clone()
    };
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &swapped, &golden());
    assert_eq!(
        verdict.reasons,
        vec![
            Reason::WrongAttestType { statement: Statement::Quote },
            Reason::WrongAttestType { statement: Statement::Certification }
        ]
    );
    // Garbage everywhere: each part says so.
    let garbage = EvidenceParts {
        image_id: "bad id\n".to_owned(),
        quote_attest: vec![0xff; 10],
        quote_signature: vec![],
        log: vec![0xff],
        certify_attest: good.certify_attest.clone(),
        certify_signature: [&[0x00, 0x14][..], &good.certify_signature[2..]].concat(),
    };
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &garbage, &golden());
    assert_eq!(codes(&verdict.reasons), vec!["AttestMalformed", "LogMalformed", "OtherImage", "SignatureMalformed"]);
    let text: Vec<String> = verdict.reasons.iter().map(ToString::to_string).collect();
    assert!(text[2].contains("(an invalid image id)"), "{}", text[2]);
    assert!(text[3].contains("0x0014"), "{}", text[3]);
    let json = serde_json::to_value(&verdict.reasons[0]).unwrap();
    assert_eq!(json["code"], "AttestMalformed");
    assert_eq!(json.as_object().unwrap().len(), 2);
    // A signature over other bytes.
    let mut flipped = good.clone();
    let last = flipped.quote_signature.len() - 1;
    flipped.quote_signature[last] ^= 1;
    let verdict = verify_evidence(&node.enrolled(), &NONCE, &flipped, &golden());
    assert_eq!(verdict.reasons, vec![Reason::QuoteSignature]);
}

// ---------- enrollment records and key policies ----------

#[test]
fn enrolled_nodes_round_trip_through_strict_json() {
    let enrolled = SoftNode::new().enrolled();
    let json = serde_json::to_string(&enrolled).unwrap();
    assert!(json.contains("\"format\":\"qp-enrolled v1\""));
    assert_eq!(serde_json::from_str::<EnrolledNode>(&json).unwrap(), enrolled);
    let unknown = json.replacen('{', "{\"extra\":1,", 1);
    assert!(serde_json::from_str::<EnrolledNode>(&unknown).is_err());
    let upper = json
        .replace(&qp_attest_core::hex(&enrolled.ak_public), &qp_attest_core::hex(&enrolled.ak_public).to_uppercase());
    assert!(serde_json::from_str::<EnrolledNode>(&upper).is_err());
    // An AK that would not pass the policy is not accepted from a record either.
    let weak = EnrolledNode { ak_public: identity_public(&signing_key(1)).encode(), ..enrolled };
    let json = serde_json::to_string(&weak).unwrap();
    assert!(serde_json::from_str::<EnrolledNode>(&json).is_err());
}

#[test]
fn key_policies_refuse_what_they_must() {
    let key = signing_key(1);
    assert!(check_attestation_key(&ak_public(&key).encode()).is_ok());
    assert!(check_identity_key(&identity_public(&key).encode()).is_ok());
    let ak_with = |attributes: u32, scheme: Scheme| ecc_public(&key, attributes, scheme).encode();
    let cases = [
        (ak_with(AK_ATTRIBUTES | ObjectAttributes::DECRYPT, ECDSA_SHA256), "a decryption key"),
        (ak_with(AK_ATTRIBUTES & !ObjectAttributes::RESTRICTED, ECDSA_SHA256), "not a restricted signing key"),
        (
            ak_with(AK_ATTRIBUTES & !ObjectAttributes::FIXED_TPM, ECDSA_SHA256),
            "not fixedTPM, fixedParent and sensitiveDataOrigin",
        ),
        (ak_with(AK_ATTRIBUTES, Scheme::Null), "its scheme is not ECDSA-SHA256"),
    ];
    for (public, problem) in cases {
        assert_eq!(check_attestation_key(&public), Err(VerifyError::AkPolicy(problem)));
    }
    assert_eq!(check_attestation_key(&ek_public(vec![1; 256]).encode()), Err(VerifyError::AkPolicy("not an ECC key")));
    let mut p384 = ak_public(&key);
    if let KeyParameters::Ecc { curve_id, .. } = &mut p384.parameters {
        *curve_id = TPM_ECC_NIST_P384;
    }
    assert_eq!(check_attestation_key(&p384.encode()), Err(VerifyError::AkPolicy("not a P-256 key")));
    assert!(matches!(check_attestation_key(&[0, 1]), Err(VerifyError::PublicArea { .. })));

    let identity_with = |attributes: u32| ecc_public(&key, attributes, Scheme::Null).encode();
    let cases = [
        (identity_with(IDENTITY_ATTRIBUTES | ObjectAttributes::RESTRICTED), "a restricted key"),
        (identity_with(IDENTITY_ATTRIBUTES | ObjectAttributes::DECRYPT), "a decryption key"),
        (identity_with(IDENTITY_ATTRIBUTES & !ObjectAttributes::SIGN), "not a signing key"),
        (
            identity_with(IDENTITY_ATTRIBUTES & !ObjectAttributes::SENSITIVE_DATA_ORIGIN),
            "not fixedTPM, fixedParent and sensitiveDataOrigin",
        ),
    ];
    for (public, problem) in cases {
        assert_eq!(check_identity_key(&public), Err(VerifyError::IdentityPolicy(problem)));
    }
}

// ---------- MakeCredential in software ----------

/// A deterministic CSPRNG stand-in for tests (SHA-256 in counter mode).
struct TestRng(u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            self.0 += 1;
            let block = qp_attest_core::sha256(&self.0.to_be_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for TestRng {}

/// TPM2_ActivateCredential in software (to check the blob's layout without a TPM).
fn soft_activate(ek: &rsa::RsaPrivateKey, name: &[u8], blob: &[u8], encrypted_secret: &[u8]) -> Option<Vec<u8>> {
    let seed = ek.decrypt(rsa::Oaep::new_with_label::<sha2::Sha256, _>("IDENTITY\0"), encrypted_secret).ok()?;
    let hmac_len = usize::from(u16::from_be_bytes([blob[0], blob[1]]));
    let (outer_hmac, enc_identity) = blob[2..].split_at(hmac_len);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&kdfa_sha256(&seed, "INTEGRITY", &[], &[], 256)).unwrap();
    mac.update(enc_identity);
    mac.update(name);
    mac.verify_slice(outer_hmac).ok()?;
    let key = kdfa_sha256(&seed, "STORAGE", name, &[], 128);
    let mut plain = enc_identity.to_vec();
    cfb_mode::Decryptor::<aes::Aes128>::new_from_slices(&key, &[0; 16]).unwrap().decrypt(&mut plain);
    let size = usize::from(u16::from_be_bytes([plain[0], plain[1]]));
    Some(plain[2..2 + size].to_vec())
}

#[test]
fn make_credential_opens_in_software_only_for_its_name() {
    use rsa::traits::PublicKeyParts as _;
    let mut rng = TestRng(0);
    let ek_private = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let ek = ek_public(ek_private.n().to_bytes_be());
    let name = ak_public(&signing_key(1)).name();
    let secret = [0x5a; 32];
    let challenge = make_credential(&ek, &name, &secret, &[3; 32], &mut TestRng(100)).unwrap();
    assert_eq!(challenge.credential_blob.len(), 2 + 32 + 2 + 32);
    assert_eq!(challenge.encrypted_secret.len(), 256);
    // Deterministic given its randomness.
    assert_eq!(make_credential(&ek, &name, &secret, &[3; 32], &mut TestRng(100)).unwrap(), challenge);
    assert_eq!(
        soft_activate(&ek_private, &name, &challenge.credential_blob, &challenge.encrypted_secret),
        Some(secret.to_vec())
    );
    let other = ak_public(&signing_key(2)).name();
    assert_eq!(soft_activate(&ek_private, &other, &challenge.credential_blob, &challenge.encrypted_secret), None);
    // KDFa's first block, by hand.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[1; 32]).unwrap();
    mac.update(&[0, 0, 0, 1]);
    mac.update(b"STORAGE\0");
    mac.update(&name);
    mac.update(&[0, 0, 0, 128]);
    assert_eq!(kdfa_sha256(&[1; 32], "STORAGE", &name, &[], 128), mac.finalize().into_bytes()[..16].to_vec());
    // Refusals.
    let refuse =
        |ek: &PublicArea, name: &[u8], secret: &[u8]| make_credential(ek, name, secret, &[3; 32], &mut TestRng(1));
    assert!(matches!(refuse(&ek, &name, &[0; 33]), Err(VerifyError::Credential(_))));
    assert!(matches!(refuse(&ek, &name, &[]), Err(VerifyError::Credential(_))));
    assert!(matches!(refuse(&ek, &name[..10], &secret), Err(VerifyError::Credential(_))));
    assert!(matches!(refuse(&ak_public(&signing_key(1)), &name, &secret), Err(VerifyError::Credential(_))));
}

// ---------- against swtpm ----------

mod tpm {
    use std::str::FromStr as _;

    use tss_esapi::Context;
    use tss_esapi::abstraction::{AsymmetricAlgorithmSelection, ak, ek};
    use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
    use tss_esapi::constants::SessionType;
    use tss_esapi::handles::{AuthHandle, KeyHandle, ObjectHandle, PcrHandle, SessionHandle};
    use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm, SignatureSchemeAlgorithm};
    use tss_esapi::interface_types::ecc::EccCurve;
    use tss_esapi::interface_types::key_bits::RsaKeyBits;
    use tss_esapi::interface_types::resource_handles::Hierarchy;
    use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
    use tss_esapi::structures::{
        Data, Digest, DigestValues, EccPoint, EccScheme, EncryptedSecret, HashScheme, IdObject,
        KeyDerivationFunctionScheme, PcrSelectionListBuilder, PcrSlot, PublicBuilder, PublicEccParametersBuilder,
        SignatureScheme, SymmetricDefinition, SymmetricDefinitionObject,
    };
    use tss_esapi::tcti_ldr::TctiNameConf;
    use tss_esapi::traits::Marshall as _;

    use super::*;

    pub(super) struct Tpm {
        pub(super) ctx: Context,
        pub(super) ek: KeyHandle,
        pub(super) ak: KeyHandle,
        pub(super) ek_public: Vec<u8>,
        pub(super) ak_public: Vec<u8>,
    }

    impl Tpm {
        /// A context on `tcti` with the RSA EK and an ECC P-256 ECDSA-SHA256 AK under it.
        pub(super) fn open(tcti: &str) -> Self {
            let mut ctx = Context::new(TctiNameConf::from_str(tcti).unwrap()).unwrap();
            let ek =
                ek::create_ek_object_2(&mut ctx, AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048), None).unwrap();
            let created = ak::create_ak_2(
                &mut ctx,
                ek,
                HashingAlgorithm::Sha256,
                AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256),
                SignatureSchemeAlgorithm::EcDsa,
                None,
                None,
            )
            .unwrap();
            let ak = ak::load_ak(&mut ctx, ek, None, created.out_private, created.out_public).unwrap();
            let (ek_public, _, _) = ctx.read_public(ek).unwrap();
            let (ak_public, ak_name, ak_qualified_name) = ctx.read_public(ak).unwrap();
            let ek_public = ek_public.marshall().unwrap();
            let ak_public = ak_public.marshall().unwrap();
            // The TPM's Names are the ones the verifier computes from the public areas.
            let decoded_ak = PublicArea::decode(&ak_public).unwrap();
            let decoded_ek = PublicArea::decode(&ek_public).unwrap();
            assert_eq!(decoded_ak.name(), ak_name.value());
            assert_eq!(
                qualified_name(&decoded_ek.primary_qualified_name(TPM_RH_ENDORSEMENT), &decoded_ak.name()),
                ak_qualified_name.value()
            );
            Self { ctx, ek, ak, ek_public, ak_public }
        }

        /// TPM2_ActivateCredential of (blob, secret) for the AK, the EK authorized by a
        /// PolicySecret(endorsement) session.
        pub(super) fn activate(&mut self, blob: &[u8], secret: &[u8]) -> tss_esapi::Result<Vec<u8>> {
            let ctx = &mut self.ctx;
            let (attributes, mask) = SessionAttributesBuilder::new().build();
            let hmac = ctx
                .start_auth_session(
                    None,
                    None,
                    None,
                    SessionType::Hmac,
                    SymmetricDefinition::AES_256_CFB,
                    HashingAlgorithm::Sha256,
                )?
                .unwrap();
            ctx.tr_sess_set_attributes(hmac, attributes, mask)?;
            let policy = ctx
                .start_auth_session(
                    None,
                    None,
                    None,
                    SessionType::Policy,
                    SymmetricDefinition::AES_256_CFB,
                    HashingAlgorithm::Sha256,
                )?
                .unwrap();
            ctx.tr_sess_set_attributes(policy, attributes, mask)?;
            ctx.execute_with_session(Some(hmac), |ctx| {
                ctx.policy_secret(
                    PolicySession::try_from(policy)?,
                    AuthHandle::Endorsement,
                    Default::default(),
                    Default::default(),
                    Default::default(),
                    None,
                )
            })?;
            ctx.set_sessions((Some(hmac), Some(policy), None));
            let result = ctx.activate_credential(
                self.ak,
                self.ek,
                IdObject::try_from(blob.to_vec())?,
                EncryptedSecret::try_from(secret.to_vec())?,
            );
            ctx.clear_sessions();
            for session in [hmac, policy] {
                let _ = ctx.flush_context(SessionHandle::from(session).into());
            }
            result.map(|digest| digest.value().to_vec())
        }
    }

    #[test]
    fn make_credential_activates_in_a_real_tpm_only_for_its_ak() {
        let swtpm = qp_tpm::swtpm::Swtpm::start().unwrap();
        let mut tpm = Tpm::open(&swtpm.tcti());
        let ek = PublicArea::decode(&tpm.ek_public).unwrap();
        let ak_name = PublicArea::decode(&tpm.ak_public).unwrap().name();
        let mut rng = TestRng(7);
        let secret = [0xa5; 32];
        let challenge = make_credential(&ek, &ak_name, &secret, &[0x11; 32], &mut rng).unwrap();
        let released = tpm.activate(&challenge.credential_blob, &challenge.encrypted_secret).unwrap();
        assert_eq!(released, secret);
        // A short secret too.
        let challenge = make_credential(&ek, &ak_name, b"sixteen bytes!!!", &[0x12; 32], &mut rng).unwrap();
        assert_eq!(tpm.activate(&challenge.credential_blob, &challenge.encrypted_secret).unwrap(), b"sixteen bytes!!!");
        // Made for another object's Name: the TPM refuses (integrity check).
        let other = ak_public(&signing_key(9)).name();
        let challenge = make_credential(&ek, &other, &secret, &[0x13; 32], &mut rng).unwrap();
        assert!(tpm.activate(&challenge.credential_blob, &challenge.encrypted_secret).is_err());
        // Made for another EK: the TPM cannot decrypt the seed.
        let not_ours = ek_public(vec![0xc5; 256]);
        let mut rng2 = TestRng(8);
        if let Ok(challenge) = make_credential(&not_ours, &ak_name, &secret, &[0x14; 32], &mut rng2) {
            assert!(tpm.activate(&challenge.credential_blob, &challenge.encrypted_secret).is_err());
        }
    }

    /// An unrestricted P-256 ECDSA signing key made in the TPM: the node's identity key.
    fn create_identity(ctx: &mut Context) -> (KeyHandle, Vec<u8>) {
        let template = PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(
                ObjectAttributesBuilder::new()
                    .with_fixed_tpm(true)
                    .with_fixed_parent(true)
                    .with_sensitive_data_origin(true)
                    .with_user_with_auth(true)
                    .with_sign_encrypt(true)
                    .build()
                    .unwrap(),
            )
            .with_ecc_parameters(
                PublicEccParametersBuilder::new()
                    .with_symmetric(SymmetricDefinitionObject::Null)
                    .with_ecc_scheme(EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)))
                    .with_curve(EccCurve::NistP256)
                    .with_key_derivation_function_scheme(KeyDerivationFunctionScheme::Null)
                    .with_is_signing_key(true)
                    .with_is_decryption_key(false)
                    .with_restricted(false)
                    .build()
                    .unwrap(),
            )
            .with_ecc_unique_identifier(EccPoint::default())
            .build()
            .unwrap();
        let key = ctx
            .execute_with_nullauth_session(|ctx| ctx.create_primary(Hierarchy::Owner, template, None, None, None, None))
            .unwrap()
            .key_handle;
        let (public, _, _) = ctx.read_public(key).unwrap();
        (key, public.marshall().unwrap())
    }

    #[test]
    fn a_real_tpm_enrolls_and_its_quote_and_certification_verify() {
        let dir = tempfile::tempdir().unwrap();
        let ca = qp_tpm::swtpm::LocalCa::create(dir.path()).unwrap();
        let cas = ca.issuer_certs_der().unwrap();
        let swtpm = qp_tpm::swtpm::Swtpm::start_with_ek(&ca).unwrap();
        let mut tpm = Tpm::open(&swtpm.tcti());
        let ek_cert =
            ek::retrieve_ek_pubcert(&mut tpm.ctx, AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048)).unwrap();
        let (identity, identity_public) = create_identity(&mut tpm.ctx);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();

        // The EK certificate: swtpm_localca's, for this EK; refused for anything else.
        verify_ek_certificate(&ek_cert, &cas, &tpm.ek_public, now).unwrap();
        assert_eq!(
            verify_ek_certificate(&ek_cert, &cas[1..], &tpm.ek_public, now),
            Err(VerifyError::EkCertificateNotTrusted { cas: 1 })
        );
        let other_ek = ek_public(vec![0xc5; 256]).encode();
        assert_eq!(verify_ek_certificate(&ek_cert, &cas, &other_ek, now), Err(VerifyError::EkKeyMismatch));
        assert!(matches!(
            verify_ek_certificate(&ek_cert, &cas, &tpm.ek_public, 0),
            Err(VerifyError::EkCertificateNotValidNow { .. })
        ));
        let mut tampered = ek_cert.clone();
        let at = tampered.len() / 2;
        tampered[at] ^= 0x01;
        assert!(verify_ek_certificate(&tampered, &cas, &tpm.ek_public, now).is_err());
        assert!(matches!(
            verify_ek_certificate(&[0x30, 0x03, 1, 2, 3], &cas, &tpm.ek_public, now),
            Err(VerifyError::EkCertificate(_))
        ));

        // Enrollment: a wrong answer is refused, the TPM's answer accepted.
        let begin = |rng: &mut TestRng, secret: [u8; 32]| {
            Enrollment::begin(
                "node-1",
                ek_cert.clone(),
                tpm.ek_public.clone(),
                tpm.ak_public.clone(),
                identity_public.clone(),
                &cas,
                now,
                secret,
                [0x77; 32],
                rng,
            )
            .unwrap()
        };
        let (_, pending) = begin(&mut TestRng(1), [0x31; 32]);
        assert_eq!(pending.finish(&[0x32; 32]).unwrap_err(), VerifyError::ActivationMismatch);
        let (challenge, pending) = begin(&mut TestRng(2), [0x33; 32]);
        let answer = tpm.activate(&challenge.credential_blob, &challenge.encrypted_secret).unwrap();
        let enrolled = pending.finish(&answer).unwrap();
        assert_eq!(enrolled.node, "node-1");
        let json = serde_json::to_string(&enrolled).unwrap();
        assert_eq!(serde_json::from_str::<EnrolledNode>(&json).unwrap(), enrolled);
        // The identity key must be the node's own, not one it could export.
        assert!(matches!(
            Enrollment::begin(
                "node-1",
                ek_cert.clone(),
                tpm.ek_public.clone(),
                tpm.ak_public.clone(),
                tpm.ak_public.clone(),
                &cas,
                now,
                [0; 32],
                [0; 32],
                &mut TestRng(3),
            ),
            Err(VerifyError::IdentityPolicy(_))
        ));

        // PID 1 measures the image into PCR 15; the TPM quotes it and certifies the identity key.
        let log = image_log();
        for event in log.events() {
            let mut values = DigestValues::new();
            values.set(HashingAlgorithm::Sha256, Digest::try_from(event.digest.to_vec()).unwrap());
            tpm.ctx
                .execute_with_session(Some(AuthSession::Password), |ctx| ctx.pcr_extend(PcrHandle::Pcr15, values))
                .unwrap();
        }
        let mut book = NonceBook::default();
        let nonce = book.issue([0x21; 32], 1_000);
        let selection = PcrSelectionListBuilder::new()
            .with_selection(HashingAlgorithm::Sha256, &[PcrSlot::Slot15])
            .build()
            .unwrap();
        let ak = tpm.ak;
        let (quote, quote_signature) = tpm
            .ctx
            .execute_with_session(Some(AuthSession::Password), |ctx| {
                ctx.quote(ak, Data::try_from(nonce.to_vec())?, SignatureScheme::Null, selection)
            })
            .unwrap();
        let (certify, certify_signature) = tpm
            .ctx
            .execute_with_sessions((Some(AuthSession::Password), Some(AuthSession::Password), None), |ctx| {
                ctx.certify(ObjectHandle::from(identity), ak, Data::try_from(nonce.to_vec())?, SignatureScheme::Null)
            })
            .unwrap();
        let evidence = EvidenceParts {
            image_id: IMAGE.to_owned(),
            quote_attest: quote.marshall().unwrap(),
            quote_signature: quote_signature.marshall().unwrap(),
            log: log.encode().into_bytes(),
            certify_attest: certify.marshall().unwrap(),
            certify_signature: certify_signature.marshall().unwrap(),
        };
        book.redeem(&nonce, 1_100).unwrap();
        let verdict = verify_evidence(&enrolled, &nonce, &evidence, &golden());
        assert!(verdict.pass, "{:?}", verdict.reasons);
        assert_eq!(verdict.pcrs[&PCR], golden().pcr_value);
        // The same evidence for another nonce, or a replay of it, is refused.
        let verdict = verify_evidence(&enrolled, &[0x22; 32], &evidence, &golden());
        assert_eq!(codes(&verdict.reasons), vec!["WrongNonce", "WrongNonce"]);
        assert_eq!(book.redeem(&nonce, 1_200), Err(NonceError::Replayed));
    }

    /// The release process's approval of `value` for PCR 15 (what `qpctl release approve` writes).
    fn approve(release: &SigningKey, value: [u8; 32], policy_ref: &[u8]) -> qp_tpm::PolicyApproval {
        use p256::ecdsa::signature::hazmat::PrehashSigner as _;
        let approved_policy = qp_tpm::policy_pcr_digest(&[PCR], &[value]);
        let signature: p256::ecdsa::Signature =
            release.sign_prehash(&qp_tpm::approval_digest(&approved_policy, policy_ref)).unwrap();
        qp_tpm::PolicyApproval {
            pcrs: vec![PCR],
            approved_policy,
            signature: signature.to_bytes().into(),
            authority_public: release.verifying_key().to_encoded_point(false).as_bytes().try_into().unwrap(),
            policy_ref: policy_ref.to_vec(),
        }
    }

    #[test]
    fn a_secret_sealed_for_import_opens_in_its_tpm_only_with_an_approval() {
        use qp_tpm::{SealedSecret, TpmError, UnsealStep};
        let (one, two) = (qp_tpm::swtpm::Swtpm::start().unwrap(), qp_tpm::swtpm::Swtpm::start().unwrap());
        let tpm = qp_tpm::Tpm::open(&one.tcti()).unwrap();
        let other_tpm = qp_tpm::Tpm::open(&two.tcti()).unwrap();
        let ek = PublicArea::decode(&tpm.ek_public_area().unwrap()).unwrap();
        let release = signing_key(0x21);
        let authority: [u8; 65] = release.verifying_key().to_encoded_point(false).as_bytes().try_into().unwrap();
        let secret = b"venue password: hunter2, strategy key 0123".to_vec();
        let dir = tempfile::tempdir().unwrap();
        let mut rng = TestRng(3);
        let blob = qp_attest_verify::seal_for_import(&ek, &authority, b"vault", &secret, &[5; 32], &[6; 32], &mut rng)
            .unwrap();
        assert!(!format!("{blob:?}").contains("hunter2"));

        // Imported under the EK, and it unseals with the release key's approval of PCR 15 as it is.
        tpm.pcr_extend(PCR, [0x31; 32]).unwrap();
        let file = dir.path().join("strategy.sealed");
        SealedSecret::import(&tpm, &blob.public_area, &blob.duplicate, &blob.encrypted_seed, &file).unwrap();
        let v1 = tpm.pcr_read(PCR).unwrap();
        assert_eq!(SealedSecret::unseal(&tpm, &file, &approve(&release, v1, b"vault")).unwrap(), secret);

        // A changed PCR 15 (another image) fails; the approval of the new value (a signed update)
        // opens the same file without resealing.
        tpm.pcr_extend(PCR, [0x32; 32]).unwrap();
        let step = |err: TpmError| match err {
            TpmError::Unseal { step, .. } => step,
            other => panic!("not an unseal error: {other}"),
        };
        let refused = SealedSecret::unseal(&tpm, &file, &approve(&release, v1, b"vault")).unwrap_err();
        assert_eq!(step(refused), UnsealStep::PcrsNotApproved);
        let v2 = tpm.pcr_read(PCR).unwrap();
        assert_eq!(SealedSecret::unseal(&tpm, &file, &approve(&release, v2, b"vault")).unwrap(), secret);
        // Another release key, or another policy reference, does not open it.
        let refused = SealedSecret::unseal(&tpm, &file, &approve(&signing_key(0x22), v2, b"vault")).unwrap_err();
        assert_eq!(step(refused), UnsealStep::PolicyAuthorize);
        let refused = SealedSecret::unseal(&tpm, &file, &approve(&release, v2, b"other")).unwrap_err();
        assert_eq!(step(refused), UnsealStep::PolicyAuthorize);

        // The blob is useless to another TPM, and a changed public area is caught by the HMAC.
        let elsewhere = dir.path().join("elsewhere.sealed");
        let err =
            SealedSecret::import(&other_tpm, &blob.public_area, &blob.duplicate, &blob.encrypted_seed, &elsewhere)
                .unwrap_err();
        assert!(err.to_string().contains("TPM2_Import"), "{err}");
        assert!(!elsewhere.exists());
        let mut public = blob.public_area.clone();
        let last = public.len() - 1;
        public[last] ^= 1;
        let err = SealedSecret::import(&tpm, &public, &blob.duplicate, &blob.encrypted_seed, &elsewhere).unwrap_err();
        assert!(err.to_string().contains("TPM2_Import"), "{err}");
        // A blob whose public area is not an importable sealed object is refused before the TPM.
        let fixed =
            qp_attest_core::policy::sealed_public_area(qp_attest_core::policy::SEALED_ATTRIBUTES, &[0; 32], &[0; 32]);
        let err = SealedSecret::import(&tpm, &fixed, &blob.duplicate, &blob.encrypted_seed, &elsewhere).unwrap_err();
        assert!(matches!(err, TpmError::Input(_)), "{err}");
        // An existing file is never overwritten.
        let err =
            SealedSecret::import(&tpm, &blob.public_area, &blob.duplicate, &blob.encrypted_seed, &file).unwrap_err();
        assert!(matches!(err, TpmError::Io { .. }), "{err}");
    }
}
