#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
use proptest::prelude::*;

use super::*;

fn complete<T>(decoded: Result<Decoded<T>, ProtoError>) -> (T, usize) {
    match decoded {
        Ok(Decoded::Complete { message, consumed }) => (message, consumed),
        Ok(Decoded::NeedMore) => panic!("need more"),
        Err(err) => panic!("{err}"),
    }
}

fn evidence() -> Response {
    Response::Evidence {
        image_id: "local-0.1.0-0707070707070707".to_owned(),
        quote_attest: vec![1; 120],
        quote_signature: vec![2; 72],
        log: b"qp-measurement-log v1\n".to_vec(),
        certify_attest: vec![3; 140],
        certify_signature: vec![4; 72],
    }
}

#[test]
fn frames_have_the_documented_layout() {
    assert_eq!(Request::GetEnrollment.encode(), vec![0, 0, 0, 1, 0x01]);
    let quote = Request::Quote { nonce: [9; 32] }.encode();
    assert_eq!(&quote[..5], &[0, 0, 0, 33, 0x03]);
    assert_eq!(&quote[5..], &[9; 32]);
    let error = Response::Error { code: 2, message: "no".to_owned() }.encode();
    assert_eq!(error, vec![0, 0, 0, 9, 0x85, 0, 2, 0, 0, 0, 2, b'n', b'o']);
    let install = Request::InstallCertificate { cert_der: vec![7; 3] }.encode();
    assert_eq!(install, vec![0, 0, 0, 8, 0x04, 0, 0, 0, 3, 7, 7, 7]);
}

#[test]
fn need_more_until_the_frame_is_whole() {
    let frame = evidence().encode();
    for cut in 0..frame.len() {
        assert_eq!(Response::decode(&frame[..cut]), Ok(Decoded::NeedMore), "cut at {cut}");
    }
    let mut two = frame.clone();
    two.extend_from_slice(&Response::Installed.encode());
    let (message, consumed) = complete(Response::decode(&two));
    assert_eq!(message, evidence());
    assert_eq!(consumed, frame.len());
    assert_eq!(complete(Response::decode(&two[consumed..])).0, Response::Installed);
}

#[test]
fn refusals_are_typed() {
    // Over the limit, from the header alone.
    let huge = ((MAX_PAYLOAD + 1) as u32).to_be_bytes();
    assert_eq!(Request::decode(&huge), Err(ProtoError::FrameTooLarge { len: MAX_PAYLOAD + 1, max: MAX_PAYLOAD }));
    assert_eq!(Request::decode(&[0, 0, 0, 0]), Err(ProtoError::EmptyFrame));
    assert_eq!(Request::decode(&[0, 0, 0, 1, 0x7f]), Err(ProtoError::UnknownType { ty: 0x7f, expected: "request" }));
    // A response type is not a request.
    assert!(matches!(Request::decode(&Response::Installed.encode()), Err(ProtoError::UnknownType { ty: 0x84, .. })));
    assert!(matches!(
        Response::decode(&Request::GetEnrollment.encode()),
        Err(ProtoError::UnknownType { ty: 0x01, .. })
    ));
    // Trailing bytes inside a frame.
    assert_eq!(
        Request::decode(&[0, 0, 0, 2, 0x01, 0]),
        Err(ProtoError::TrailingBytes { message: "GetEnrollment", count: 1 })
    );
    // A field whose length runs past its frame.
    assert_eq!(
        Request::decode(&[0, 0, 0, 6, 0x04, 0, 0, 0, 9, 1]),
        Err(ProtoError::Truncated { message: "InstallCertificate", field: "cert_der" })
    );
    // A truncated fixed field.
    assert_eq!(
        Request::decode(&[0, 0, 0, 2, 0x03, 1]),
        Err(ProtoError::Truncated { message: "Quote", field: "nonce" })
    );
    // An oversize field.
    let cert = Request::InstallCertificate { cert_der: vec![0; MAX_CERT + 1] }.encode();
    assert_eq!(
        Request::decode(&cert),
        Err(ProtoError::FieldTooLong {
            message: "InstallCertificate",
            field: "cert_der",
            len: MAX_CERT + 1,
            max: MAX_CERT
        })
    );
    let secret = Response::Activated { secret: vec![0; 65] }.encode();
    assert!(matches!(Response::decode(&secret), Err(ProtoError::FieldTooLong { field: "secret", .. })));
    // Field contents.
    let bad_id = Response::Evidence {
        image_id: "local 0.1".to_owned(),
        quote_attest: vec![],
        quote_signature: vec![],
        log: vec![],
        certify_attest: vec![],
        certify_signature: vec![],
    };
    assert!(matches!(Response::decode(&bad_id.encode()), Err(ProtoError::BadField { field: "image_id", .. })));
    let control = Response::Error { code: 1, message: "a\nb".to_owned() };
    assert!(matches!(Response::decode(&control.encode()), Err(ProtoError::BadField { field: "message", .. })));
    let mut not_utf8 = Response::Error { code: 1, message: "ab".to_owned() }.encode();
    let last = not_utf8.len() - 1;
    not_utf8[last] = 0xff;
    assert!(matches!(Response::decode(&not_utf8), Err(ProtoError::BadField { problem: "not UTF-8", .. })));
}

#[test]
fn the_stream_decoder_refuses_an_oversize_frame_before_buffering_it() {
    let mut decoder = FrameDecoder::new();
    decoder.push(&[0xff, 0xff]);
    assert_eq!(decoder.next_request(), Ok(None));
    decoder.push(&[0xff, 0xff]);
    assert_eq!(decoder.buffered(), 0);
    decoder.push(&[0u8; 4096]);
    assert_eq!(decoder.buffered(), 0, "bytes after a refused header are dropped");
    assert!(matches!(decoder.next_request(), Err(ProtoError::FrameTooLarge { .. })));
    assert!(matches!(decoder.next_request(), Err(ProtoError::FrameTooLarge { .. })), "stays failed");
}

#[test]
fn the_stream_decoder_takes_bytes_one_at_a_time_and_reports_a_cut() {
    let requests = [
        Request::GetEnrollment,
        Request::Quote { nonce: [5; 32] },
        Request::ActivateCredential { credential_blob: vec![1; 100], encrypted_secret: vec![2; 256] },
    ];
    let stream: Vec<u8> = requests.iter().flat_map(Request::encode).collect();
    let mut decoder = FrameDecoder::new();
    let mut got = Vec::new();
    for byte in &stream {
        decoder.push(std::slice::from_ref(byte));
        while let Some(request) = decoder.next_request().unwrap() {
            got.push(request);
        }
    }
    assert_eq!(got, requests);
    assert_eq!(decoder.finish(), Ok(()));
    decoder.push(&stream[5..12]);
    assert_eq!(decoder.next_request(), Ok(None));
    assert_eq!(decoder.finish(), Err(ProtoError::TruncatedFrame { buffered: 7 }));
}

#[test]
fn sealed_secret_names_are_file_names_and_nothing_else() {
    let install = |name: &str| {
        let mut frame = Request::InstallSealedSecret {
            name: "x".repeat(name.len()),
            public_area: vec![1],
            duplicate: vec![2],
            encrypted_seed: vec![3],
        }
        .encode();
        frame[9..9 + name.len()].copy_from_slice(name.as_bytes());
        Request::decode(&frame)
    };
    assert!(install("strategy-key").is_ok());
    assert!(install("venue.binance_1").is_ok());
    for bad in ["../etc", ".hidden", "Upper", "a/b", "sp ace", &"x".repeat(65)] {
        let err = install(bad);
        assert!(
            matches!(err, Err(ProtoError::BadField { field: "name", .. }) | Err(ProtoError::FieldTooLong { .. })),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn debug_does_not_print_secrets() {
    let text = format!("{:?}", Response::Activated { secret: vec![0xAB; 32] });
    assert_eq!(text, "Activated { secret: \"<32 bytes>\" }");
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

fn arb_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::GetEnrollment),
        (arb_bytes(MAX_CREDENTIAL_BLOB), arb_bytes(MAX_ENCRYPTED_SECRET)).prop_map(
            |(credential_blob, encrypted_secret)| Request::ActivateCredential { credential_blob, encrypted_secret }
        ),
        any::<[u8; 32]>().prop_map(|nonce| Request::Quote { nonce }),
        arb_bytes(2048).prop_map(|cert_der| Request::InstallCertificate { cert_der }),
        ("[a-z0-9_-][a-z0-9._-]{0,63}", arb_bytes(MAX_IMPORT_PART), arb_bytes(MAX_IMPORT_PART), arb_bytes(300))
            .prop_map(|(name, public_area, duplicate, encrypted_seed)| Request::InstallSealedSecret {
                name,
                public_area,
                duplicate,
                encrypted_seed
            }),
        arb_bytes(crate::policy::MAX_APPROVAL_JSON)
            .prop_map(|approval_json| Request::InstallApproval { approval_json }),
    ]
}

fn arb_response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (arb_bytes(2048), arb_bytes(MAX_PUBLIC), arb_bytes(MAX_PUBLIC), arb_bytes(MAX_PUBLIC)).prop_map(
            |(ek_certificate_der, ek_public, ak_public, identity_public)| Response::Enrollment {
                ek_certificate_der,
                ek_public,
                ak_public,
                identity_public
            }
        ),
        arb_bytes(MAX_SECRET).prop_map(|secret| Response::Activated { secret }),
        (
            "[A-Za-z0-9._-]{1,128}",
            arb_bytes(MAX_ATTEST),
            arb_bytes(200),
            arb_bytes(4096),
            arb_bytes(MAX_ATTEST),
            arb_bytes(200)
        )
            .prop_map(|(image_id, quote_attest, quote_signature, log, certify_attest, certify_signature)| {
                Response::Evidence { image_id, quote_attest, quote_signature, log, certify_attest, certify_signature }
            }),
        Just(Response::Installed),
        (any::<u16>(), "[^\\p{Cc}]{0,120}").prop_map(|(code, message)| Response::Error { code, message }),
    ]
}

proptest! {
    #[test]
    fn every_request_round_trips(request in arb_request()) {
        let frame = request.encode();
        prop_assert_eq!(Request::decode(&frame), Ok(Decoded::Complete { message: request, consumed: frame.len() }));
        prop_assert!(fuzz_harness(&frame).is_ok());
    }

    #[test]
    fn every_response_round_trips(response in arb_response()) {
        let frame = response.encode();
        prop_assert_eq!(Response::decode(&frame), Ok(Decoded::Complete { message: response, consumed: frame.len() }));
        prop_assert!(fuzz_harness(&frame).is_ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in arb_bytes(600)) {
        prop_assert!(fuzz_harness(&bytes).is_ok());
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(response in arb_response(), at in any::<prop::sample::Index>(), value in any::<u8>()) {
        let mut frame = response.encode();
        let index = at.index(frame.len());
        frame[index] = value;
        prop_assert!(fuzz_harness(&frame).is_ok());
    }
}
