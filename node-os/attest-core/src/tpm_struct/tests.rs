#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
use proptest::prelude::*;

use super::*;

/// The AK template's public area with a point (what tss-esapi marshals for the project's AK).
pub(crate) fn ak_public() -> PublicArea {
    PublicArea {
        object_attributes: ObjectAttributes(
            ObjectAttributes::FIXED_TPM
                | ObjectAttributes::FIXED_PARENT
                | ObjectAttributes::SENSITIVE_DATA_ORIGIN
                | ObjectAttributes::USER_WITH_AUTH
                | ObjectAttributes::NO_DA
                | ObjectAttributes::RESTRICTED
                | ObjectAttributes::SIGN,
        ),
        auth_policy: Vec::new(),
        parameters: KeyParameters::Ecc {
            symmetric: SymmetricDef::Null,
            scheme: Scheme::Hash { scheme: TPM_ALG_ECDSA, hash_alg: TPM_ALG_SHA256 },
            curve_id: TPM_ECC_NIST_P256,
            kdf: Scheme::Null,
            x: vec![0x11; 32],
            y: vec![0x22; 32],
        },
    }
}

/// The TCG default EK template (RSA-2048, AES-128-CFB, the standard policy), with a modulus.
fn ek_public() -> PublicArea {
    PublicArea {
        object_attributes: ObjectAttributes(0x0003_00b2),
        auth_policy: vec![
            0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52,
            0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
        ],
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
        extra_data: vec![0x44; 32],
        clock_info: ClockInfo { clock: 1234, reset_count: 1, restart_count: 2, safe: true },
        firmware_version: 0x2019_1023_0016_3636,
        attested: Attested::Quote { pcr_select: vec![PcrSelection::sha256(&[15])], pcr_digest: vec![0x55; 32] },
    }
}

#[test]
fn attest_round_trips_and_keeps_its_bytes() {
    let bytes = quote().encode();
    assert_eq!(&bytes[..6], &[0xff, 0x54, 0x43, 0x47, 0x80, 0x18]);
    assert_eq!(Attest::decode(&bytes).unwrap(), quote());
    let raw = RawAttest::decode(&bytes).unwrap();
    assert_eq!(raw.raw(), bytes.as_slice());
    assert_eq!(raw.attest().attest_type(), TPM_ST_ATTEST_QUOTE);
    let Attested::Quote { pcr_select, .. } = &raw.attest().attested else { panic!("not a quote") };
    assert_eq!(pcr_select[0].pcrs(), vec![15]);
    assert_eq!(pcr_select[0].bitmap, vec![0x00, 0x80, 0x00]);

    let certify = Attest {
        attested: Attested::Certify { name: vec![0x00, 0x0b, 1, 2], qualified_name: vec![0x00, 0x0b, 3] },
        ..quote()
    };
    assert_eq!(Attest::decode(&certify.encode()).unwrap(), certify);
}

#[test]
fn attest_refusals_are_typed() {
    let bytes = quote().encode();
    let mut bad = bytes.clone();
    bad[0] = 0;
    assert_eq!(Attest::decode(&bad), Err(StructError::BadMagic));
    let mut other = bytes.clone();
    other[5] = 0x14; // TPM_ST_ATTEST_TIME
    assert_eq!(Attest::decode(&other), Err(StructError::UnsupportedAttestType(0x8014)));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(Attest::decode(&trailing), Err(StructError::TrailingBytes { structure: "TPMS_ATTEST", count: 1 }));
    for cut in 0..bytes.len() {
        assert!(matches!(Attest::decode(&bytes[..cut]), Err(StructError::Truncated { .. })), "cut at {cut}");
    }
    let mut unsafe_clock = quote();
    unsafe_clock.clock_info.safe = false;
    let mut bytes = unsafe_clock.encode();
    let safe_at = 4 + 2 + 2 + 34 + 2 + 32 + 8 + 4 + 4;
    bytes[safe_at] = 2;
    assert!(matches!(Attest::decode(&bytes), Err(StructError::BadBool { value: 2, .. })));
    let long_nonce = Attest { extra_data: vec![0; 65], ..quote() };
    assert!(matches!(
        Attest::decode(&long_nonce.encode()),
        Err(StructError::TooLong { field: "extraData", len: 65, max: 64, .. })
    ));
    let many = Attest {
        attested: Attested::Quote { pcr_select: vec![PcrSelection::sha256(&[1]); 17], pcr_digest: vec![] },
        ..quote()
    };
    assert!(matches!(Attest::decode(&many.encode()), Err(StructError::TooLong { field: "pcrSelect.count", .. })));
    let wide = Attest {
        attested: Attested::Quote {
            pcr_select: vec![PcrSelection { hash: TPM_ALG_SHA256, bitmap: vec![0; 5] }],
            pcr_digest: vec![],
        },
        ..quote()
    };
    assert!(matches!(
        Attest::decode(&wide.encode()),
        Err(StructError::TooLong { field: "pcrSelect.sizeofSelect", .. })
    ));
}

#[test]
fn errors_never_echo_the_input() {
    let mut bytes = quote().encode();
    bytes[4] = 0xAB;
    bytes[5] = 0xCD;
    let text = Attest::decode(&bytes).unwrap_err().to_string();
    assert_eq!(text, "TPMS_ATTEST: type 0xabcd is neither TPM_ST_ATTEST_QUOTE nor TPM_ST_ATTEST_CERTIFY");
}

#[test]
fn signature_round_trips_pads_and_refuses_other_algorithms() {
    let signature = Signature { r: [7; 32], s: [9; 32] };
    let bytes = signature.encode();
    assert_eq!(bytes.len(), 72);
    assert_eq!(&bytes[..6], &[0x00, 0x18, 0x00, 0x0b, 0x00, 0x20]);
    assert_eq!(Signature::decode(&bytes).unwrap(), signature);
    assert_eq!(signature.to_bytes()[..32], [7; 32]);

    // A short r is left-padded.
    let mut short = vec![0x00, 0x18, 0x00, 0x0b, 0x00, 0x01, 0x05, 0x00, 0x20];
    short.extend_from_slice(&[9; 32]);
    let decoded = Signature::decode(&short).unwrap();
    let mut r = [0u8; 32];
    r[31] = 5;
    assert_eq!(decoded, Signature { r, s: [9; 32] });

    let mut rsa = bytes.clone();
    rsa[1] = 0x14;
    assert_eq!(Signature::decode(&rsa), Err(StructError::UnsupportedSignatureAlgorithm(0x0014)));
    assert!(Signature::decode(&rsa).unwrap_err().to_string().contains("0x0014"));
    let mut sha1 = bytes.clone();
    sha1[3] = 0x04;
    assert!(matches!(Signature::decode(&sha1), Err(StructError::UnsupportedHash { alg: 0x0004, .. })));
    let mut long = vec![0x00, 0x18, 0x00, 0x0b, 0x00, 0x21];
    long.extend_from_slice(&[1; 33]);
    assert!(matches!(Signature::decode(&long), Err(StructError::TooLong { len: 33, max: 32, .. })));
    let mut trailing = bytes;
    trailing.push(0);
    assert!(matches!(Signature::decode(&trailing), Err(StructError::TrailingBytes { count: 1, .. })));
}

#[test]
fn public_areas_round_trip_with_names_and_keys() {
    for public in [ak_public(), ek_public()] {
        let bytes = public.encode();
        assert_eq!(PublicArea::decode(&bytes).unwrap(), public);
        let name = public.name();
        assert_eq!(name.len(), 34);
        assert_eq!(&name[..2], &[0x00, 0x0b]);
        assert_eq!(&name[2..], &crate::sha256(&bytes));
    }
    let ak = ak_public();
    assert!(ak.object_attributes.restricted() && ak.object_attributes.sign() && !ak.object_attributes.decrypt());
    assert!(ak.object_attributes.fixed_tpm() && ak.object_attributes.fixed_parent());
    assert!(ak.object_attributes.sensitive_data_origin() && ak.object_attributes.no_da());
    assert!(ak.object_attributes.user_with_auth() && !ak.object_attributes.admin_with_policy());
    let point = ak.ecc_p256_point().unwrap();
    assert_eq!(point[0], 4);
    assert_eq!(point[1..33], [0x11; 32]);
    assert_eq!(point[33..], [0x22; 32]);
    assert_eq!(ak.ecc_point().unwrap(), point.to_vec());
    assert_eq!(ak.rsa_modulus(), None);
    let ek = ek_public();
    assert_eq!(ek.rsa_modulus().unwrap(), &[0xc5; 256][..]);
    assert_eq!(ek.rsa_exponent(), Some(65537));
    assert_eq!(ek.ecc_p256_point(), None);
    assert!(
        ek.object_attributes.decrypt() && ek.object_attributes.restricted() && ek.object_attributes.admin_with_policy()
    );
    // TPM2_CreatePrimary's TPMT_PUBLIC for the TCG EK template starts like this.
    assert_eq!(&ek.encode()[..10], &[0x00, 0x01, 0x00, 0x0b, 0x00, 0x03, 0x00, 0xb2, 0x00, 0x20]);
    let qn = ek.primary_qualified_name(TPM_RH_ENDORSEMENT);
    assert_eq!(qn, qualified_name(&[0x40, 0, 0, 0x0b], &ek.name()));
}

#[test]
fn public_area_refusals_are_typed() {
    let bytes = ak_public().encode();
    let mut sha1 = bytes.clone();
    sha1[3] = 0x04;
    assert!(matches!(PublicArea::decode(&sha1), Err(StructError::UnsupportedHash { field: "nameAlg", .. })));
    let mut keyedhash = bytes.clone();
    keyedhash[1] = 0x08;
    assert!(matches!(PublicArea::decode(&keyedhash), Err(StructError::UnsupportedAlgorithm { alg: 0x0008, .. })));
    let mut trailing = bytes.clone();
    trailing.push(1);
    assert!(matches!(PublicArea::decode(&trailing), Err(StructError::TrailingBytes { count: 1, .. })));
    for cut in 0..bytes.len() {
        assert!(PublicArea::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut odd_scheme = ak_public();
    if let KeyParameters::Ecc { scheme, .. } = &mut odd_scheme.parameters {
        *scheme = Scheme::Hash { scheme: TPM_ALG_RSASSA, hash_alg: TPM_ALG_SHA256 };
    }
    assert!(matches!(
        PublicArea::decode(&odd_scheme.encode()),
        Err(StructError::UnsupportedAlgorithm { field: "parameters.scheme", alg: TPM_ALG_RSASSA, .. })
    ));
}

#[test]
fn left_pad_handles_every_length() {
    assert_eq!(left_pad::<4>(&[]), [0; 4]);
    assert_eq!(left_pad::<4>(&[1, 2]), [0, 0, 1, 2]);
    assert_eq!(left_pad::<2>(&[1, 2, 3]), [2, 3]);
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

fn arb_attest() -> impl Strategy<Value = Attest> {
    let quote = (
        proptest::collection::vec((any::<u16>(), arb_bytes(MAX_PCR_SELECT)), 0..=MAX_PCR_SELECTIONS),
        arb_bytes(MAX_DIGEST),
    )
        .prop_map(|(selections, pcr_digest)| Attested::Quote {
            pcr_select: selections.into_iter().map(|(hash, bitmap)| PcrSelection { hash, bitmap }).collect(),
            pcr_digest,
        });
    let certify = (arb_bytes(MAX_NAME), arb_bytes(MAX_NAME))
        .prop_map(|(name, qualified_name)| Attested::Certify { name, qualified_name });
    (
        arb_bytes(MAX_NAME),
        arb_bytes(MAX_DATA),
        (any::<u64>(), any::<u32>(), any::<u32>(), any::<bool>()),
        any::<u64>(),
        prop_oneof![quote, certify],
    )
        .prop_map(
            |(qualified_signer, extra_data, (clock, reset_count, restart_count, safe), firmware_version, attested)| {
                Attest {
                    qualified_signer,
                    extra_data,
                    clock_info: ClockInfo { clock, reset_count, restart_count, safe },
                    firmware_version,
                    attested,
                }
            },
        )
}

fn arb_symmetric() -> impl Strategy<Value = SymmetricDef> {
    prop_oneof![
        Just(SymmetricDef::Null),
        (prop::sample::select(vec![TPM_ALG_AES, TPM_ALG_SM4, TPM_ALG_CAMELLIA]), any::<u16>(), any::<u16>())
            .prop_map(|(algorithm, key_bits, mode)| SymmetricDef::Block { algorithm, key_bits, mode }),
    ]
}

fn arb_scheme(hash_schemes: Vec<u16>, rsaes: bool, ecdaa: bool) -> BoxedStrategy<Scheme> {
    let mut options: Vec<BoxedStrategy<Scheme>> = vec![
        Just(Scheme::Null).boxed(),
        (prop::sample::select(hash_schemes), any::<u16>())
            .prop_map(|(scheme, hash_alg)| Scheme::Hash { scheme, hash_alg })
            .boxed(),
    ];
    if rsaes {
        options.push(Just(Scheme::Rsaes).boxed());
    }
    if ecdaa {
        options
            .push((any::<u16>(), any::<u16>()).prop_map(|(hash_alg, count)| Scheme::Ecdaa { hash_alg, count }).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

fn arb_public() -> impl Strategy<Value = PublicArea> {
    let rsa = (
        arb_symmetric(),
        arb_scheme(vec![TPM_ALG_RSASSA, TPM_ALG_RSAPSS, TPM_ALG_OAEP], true, false),
        any::<u16>(),
        any::<u32>(),
        arb_bytes(MAX_RSA_BYTES),
    )
        .prop_map(|(symmetric, scheme, key_bits, exponent, modulus)| KeyParameters::Rsa {
            symmetric,
            scheme,
            key_bits,
            exponent,
            modulus,
        });
    let ecc = (
        arb_symmetric(),
        arb_scheme(vec![TPM_ALG_ECDSA, TPM_ALG_ECDH, TPM_ALG_SM2, TPM_ALG_ECSCHNORR, TPM_ALG_ECMQV], false, true),
        any::<u16>(),
        arb_scheme(vec![TPM_ALG_MGF1, TPM_ALG_KDF1_SP800_56A, TPM_ALG_KDF2, TPM_ALG_KDF1_SP800_108], false, false),
        arb_bytes(MAX_ECC_BYTES),
        arb_bytes(MAX_ECC_BYTES),
    )
        .prop_map(|(symmetric, scheme, curve_id, kdf, x, y)| KeyParameters::Ecc {
            symmetric,
            scheme,
            curve_id,
            kdf,
            x,
            y,
        });
    (any::<u32>(), arb_bytes(MAX_DIGEST), prop_oneof![rsa, ecc]).prop_map(|(attributes, auth_policy, parameters)| {
        PublicArea { object_attributes: ObjectAttributes(attributes), auth_policy, parameters }
    })
}

proptest! {
    #[test]
    fn every_attest_round_trips(attest in arb_attest()) {
        let bytes = attest.encode();
        prop_assert_eq!(Attest::decode(&bytes), Ok(attest));
        prop_assert!(fuzz_harness(&bytes).is_ok());
    }

    #[test]
    fn every_public_area_round_trips(public in arb_public()) {
        let bytes = public.encode();
        prop_assert_eq!(PublicArea::decode(&bytes), Ok(public));
        prop_assert!(fuzz_harness(&bytes).is_ok());
    }

    #[test]
    fn every_signature_round_trips(r in any::<[u8; 32]>(), s in any::<[u8; 32]>()) {
        let signature = Signature { r, s };
        prop_assert_eq!(Signature::decode(&signature.encode()), Ok(signature));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in arb_bytes(700)) {
        prop_assert!(fuzz_harness(&bytes).is_ok());
    }

    #[test]
    fn mutated_structures_never_panic(which in 0usize..3, at in any::<prop::sample::Index>(), value in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = match which {
            0 => quote().encode(),
            1 => ak_public().encode(),
            _ => ek_public().encode(),
        };
        let index = at.index(bytes.len());
        bytes[index] = value;
        let len = bytes.len();
        bytes.truncate(cut.index(len + 1).max(len / 2));
        prop_assert!(fuzz_harness(&bytes).is_ok());
    }
}
