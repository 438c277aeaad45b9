#![allow(clippy::unwrap_used)] // helpers in test files are test code too
use qp_wire::*;
use zerocopy::IntoBytes;

fn sample_frames() -> Vec<FrameBuf> {
    let asset = AssetId::from_wire(2);
    let decision = Decision::new(11, asset, Side::Sell, 5, 6_000_000, 3);
    let block = BlockPrint {
        asset: asset.get().into(),
        side: Side::Buy as u8,
        flags: BLOCK_PRINT_HIDDEN,
        venue: 4.into(),
        price: 6_000_100.into(),
        qty: 250.into(),
        print_ts_ns: 99.into(),
    };
    let report = ExecReport {
        intent_id: 12.into(),
        asset: asset.get().into(),
        side: Side::Sell as u8,
        status: ExecStatus::PartiallyFilled as u8,
        _pad: 0.into(),
        last_qty: 2.into(),
        last_price: 6_000_000.into(),
        cum_qty: 2.into(),
        leaves_qty: 3.into(),
    };
    vec![
        FrameBuf::encode(1, 1, &SentimentSignal::new(asset, -10, 10_000, 5, 1)),
        FrameBuf::encode(1, 2, &BookSignal::new(asset, BookSignalKind::Spoofing, -250, 6_000_000, 6)),
        FrameBuf::encode(1, 3, &block),
        FrameBuf::encode(1, 4, &decision),
        FrameBuf::encode(1, 5, &RiskVerdict::new(11, asset, Verdict::Veto, VetoReason::PriceCollar)),
        FrameBuf::encode(1, 6, &OrderIntent::new(12, &decision, TimeInForce::Day)),
        FrameBuf::encode(1, 7, &report),
        FrameBuf::encode(
            1,
            8,
            &Confirmed::new(
                &SentimentSignal::new(asset, 4, 9_000, 5, 1),
                &BookSignal::new(asset, BookSignalKind::Imbalance, 900, 6_000_000, 6),
            ),
        ),
        FrameBuf::encode(1, 9, &Quote::new(asset, (5_999_990, 1_250), (6_000_010, 40), 7)),
    ]
}

#[test]
fn every_frame_type_round_trips_in_place() {
    for (buf, expected) in sample_frames().iter().zip(FrameType::ALL) {
        let frame = decode(buf.as_frame_bytes()).unwrap();
        assert_eq!(frame.frame_type(), expected);
        assert_eq!(frame.len(), buf.as_frame_bytes().len());
        assert_eq!(frame.header().origin_node.get(), 1);
        // Zero-copy: the decoded header points into the buffer itself.
        assert!(std::ptr::eq(frame.header(), buf.header()));
    }
}

#[test]
fn decoded_fields_match_what_was_encoded() {
    let asset = AssetId::from_wire(9);
    let buf = FrameBuf::encode(3, 77, &SentimentSignal::new(asset, 7, 8_123, 1_700_000_000_000_000_000, 42));
    let framed = decode_as::<SentimentSignal>(buf.as_frame_bytes()).unwrap();
    assert_eq!(framed.payload.asset(), asset);
    assert_eq!(framed.payload.score, 7);
    assert_eq!(framed.payload.confidence_bp.get(), 8_123);
    assert_eq!(framed.payload.source_ts_ns.get(), 1_700_000_000_000_000_000);
    assert_eq!(framed.payload.model_id.get(), 42);
    assert_eq!(framed.header.sequence.get(), 77);
}

#[test]
fn layout_is_fixed_little_endian() {
    assert_eq!(HEADER_LEN, 72);
    let buf = FrameBuf::encode(0x0102_0304, 5, &SentimentSignal::new(AssetId::from_wire(1), 1, 1, 1, 1));
    let bytes = buf.as_frame_bytes();
    assert_eq!(&bytes[0..4], b"QPWF");
    assert_eq!(&bytes[4..6], &WIRE_VERSION.to_le_bytes());
    assert_eq!(&bytes[6..8], &1u16.to_le_bytes());
    assert_eq!(&bytes[8..12], &(bytes.len() as u32).to_le_bytes());
    assert_eq!(&bytes[12..16], &[4, 3, 2, 1]);
    for ty in FrameType::ALL {
        assert_eq!(FrameType::from_wire(ty as u16), Some(ty));
    }
    assert_eq!(FrameType::from_wire(0), None);
    assert_eq!(FrameType::from_wire(9), Some(FrameType::Quote), "appended, never renumbered");
    assert_eq!(FrameType::from_wire(10), None);
}

#[test]
fn frames_decode_from_unaligned_buffers() {
    for buf in sample_frames() {
        let mut shifted = vec![0u8; buf.as_frame_bytes().len() + 3];
        shifted[3..].copy_from_slice(buf.as_frame_bytes());
        assert!(decode(&shifted[3..]).is_ok());
    }
}

#[test]
fn stamps_are_recorded_and_inherited() {
    let mut signal = FrameBuf::encode(1, 9, &SentimentSignal::new(AssetId::from_wire(1), 3, 5_000, 0, 1));
    assert_eq!(signal.header().stamp(Stage::Ingest), None);
    signal.stamp(Stage::Ingest, 100);
    signal.stamp(Stage::Confirm, 150);
    let decision = Decision::new(1, AssetId::from_wire(1), Side::Buy, 1, 10, 0);
    let derived = FrameBuf::derive(signal.header(), &decision);
    assert_eq!(derived.header().stamp(Stage::Ingest), Some(100));
    assert_eq!(derived.header().stamp(Stage::Confirm), Some(150));
    assert_eq!(derived.header().sequence.get(), 9);
    assert_eq!(derived.decode().unwrap().frame_type(), FrameType::Decision);
}

#[test]
fn truncated_frames_are_typed_errors() {
    for buf in sample_frames() {
        let bytes = buf.as_frame_bytes();
        for cut in 0..bytes.len() {
            let err = decode(&bytes[..cut]).unwrap_err();
            assert!(matches!(err, DecodeError::Truncated { .. }), "cut {cut}: {err}");
        }
    }
}

#[test]
fn bad_magic_version_type_and_length_are_typed_errors() {
    let good = sample_frames().remove(0);
    let mut bytes = good.as_frame_bytes().to_vec();

    bytes[0] ^= 0xff;
    assert!(matches!(decode(&bytes), Err(DecodeError::BadMagic { .. })));
    bytes[0] ^= 0xff;

    bytes[4] = 2;
    let err = decode(&bytes).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedVersion { found: 2, supported: WIRE_VERSION });
    assert_eq!(err.to_string(), "unsupported wire version 2 (this build speaks 1)");
    bytes[4] = 1;

    bytes[6] = 200;
    assert_eq!(decode(&bytes).unwrap_err(), DecodeError::UnknownType { found: 200 });
    assert_eq!(decode(&bytes).unwrap_err().to_string(), "unknown frame type 200");
    bytes[6] = 1;

    bytes[8] = 200;
    assert!(matches!(decode(&bytes), Err(DecodeError::LengthMismatch { declared: 200, .. })));
}

#[test]
fn out_of_range_fields_are_typed_errors() {
    let asset = AssetId::from_wire(1);
    let mut sentiment = SentimentSignal::new(asset, 0, 0, 0, 0);
    sentiment.score = 11;
    let err = decode(FrameBuf::encode(1, 1, &sentiment).as_frame_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "Sentiment frame has invalid score = 11");
    sentiment.score = -11;
    assert!(decode(FrameBuf::encode(1, 1, &sentiment).as_frame_bytes()).is_err());
    sentiment.score = 0;
    sentiment.confidence_bp = 10_001.into();
    assert!(decode(FrameBuf::encode(1, 1, &sentiment).as_frame_bytes()).is_err());

    let mut decision = Decision::new(1, asset, Side::Buy, 1, 1, 0);
    decision.side = 3;
    assert!(matches!(
        decode(FrameBuf::encode(1, 1, &decision).as_frame_bytes()),
        Err(DecodeError::InvalidField { field: "side", .. })
    ));
    decision.side = Side::Buy as u8;
    decision.qty = 0.into();
    assert!(decode(FrameBuf::encode(1, 1, &decision).as_frame_bytes()).is_err());

    // An approval with a reason, or a veto without one, is a lie.
    let mut verdict = RiskVerdict::new(1, asset, Verdict::Approve, VetoReason::None);
    verdict.reason = (VetoReason::MaxNotional as u16).into();
    assert!(decode(FrameBuf::encode(1, 1, &verdict).as_frame_bytes()).is_err());
    let veto = RiskVerdict::new(1, asset, Verdict::Veto, VetoReason::None);
    assert!(decode(FrameBuf::encode(1, 1, &veto).as_frame_bytes()).is_err());
}

#[test]
fn quotes_carry_a_valid_top_of_book() {
    let asset = AssetId::from_wire(2);
    let quote = Quote::new(asset, (600_000, 1_000), (600_003, 250), 1_723_161_255_000_000_000);
    let buf = FrameBuf::encode(1, 1, &quote);
    assert_eq!(buf.as_frame_bytes().len(), HEADER_LEN + 48);
    let framed = decode_as::<Quote>(buf.as_frame_bytes()).unwrap();
    assert_eq!(framed.payload.asset(), asset);
    assert_eq!(framed.payload.mid_price(), 600_001, "rounded down");
    assert_eq!(framed.payload.feed_ts_ns.get(), 1_723_161_255_000_000_000);
    assert_eq!(decode(buf.as_frame_bytes()).unwrap().frame_type(), FrameType::Quote);

    let refused = |bid: (i64, i64), ask: (i64, i64)| match decode(
        FrameBuf::encode(1, 1, &Quote::new(asset, bid, ask, 0)).as_frame_bytes(),
    ) {
        Err(DecodeError::InvalidField { frame_type: FrameType::Quote, field, .. }) => field,
        other => panic!("{bid:?} {ask:?}: {other:?}"),
    };
    assert_eq!(refused((0, 1), (10, 1)), "bid_price");
    assert_eq!(refused((-5, 1), (10, 1)), "bid_price");
    assert_eq!(refused((10, 1), (0, 1)), "ask_price");
    assert_eq!(refused((10, 1), (10, 1)), "ask_price", "a locked book is no quote");
    assert_eq!(refused((11, 1), (10, 1)), "ask_price", "nor a crossed one");
    assert_eq!(refused((10, 0), (11, 1)), "bid_qty");
    assert_eq!(refused((10, 1), (11, -1)), "ask_qty");
    let err = decode(FrameBuf::encode(1, 1, &Quote::new(asset, (10, 1), (9, 1), 0)).as_frame_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "Quote frame has invalid ask_price = 9");
}

#[test]
fn decode_as_rejects_the_wrong_type() {
    let buf = sample_frames().remove(0);
    assert_eq!(
        decode_as::<Decision>(buf.as_frame_bytes()).unwrap_err(),
        DecodeError::WrongType { expected: FrameType::Decision, found: FrameType::Sentiment }
    );
}

/// Deterministic mutation storm: every mutated frame decodes or errors, never panics.
#[test]
fn hostile_bytes_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let seeds = sample_frames();
    let mut accepted = 0;
    for round in 0..200_000 {
        let mut buf = seeds[round % seeds.len()];
        let slot = buf.as_slot_bytes_mut();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() % slot.len() as u64) as usize;
            slot[at] = next() as u8;
        }
        let len = (next() % (slot.len() as u64 + 1)) as usize;
        if decode(&slot[..len]).is_ok() {
            accepted += 1;
        }
    }
    assert!(accepted > 0, "some mutations (payload bytes) stay valid");
}

#[test]
fn registry_interns_and_rejects_bad_symbols() {
    let mut registry = AssetRegistry::new();
    let btc = registry.intern("BTCUSDT").unwrap();
    let eu = registry.intern("EU_BANKS").unwrap();
    let db = registry.intern("DB").unwrap();
    assert_eq!(registry.intern("BTCUSDT").unwrap(), btc);
    assert_eq!((btc.get(), eu.get(), db.get()), (1, 2, 3));
    assert_eq!(registry.symbol(eu), Some("EU_BANKS"));
    assert_eq!(registry.lookup("DB"), Some(db));
    assert_eq!(registry.symbol(AssetId::from_wire(0)), None);
    assert_eq!(registry.symbol(AssetId::from_wire(99)), None);
    for bad in ["", "btcusdt", "A B", "ÄPFEL", "X".repeat(MAX_SYMBOL_LEN + 1).as_str()] {
        assert!(matches!(registry.intern(bad), Err(RegistryError::InvalidSymbol { .. })), "{bad:?}");
    }
    assert_eq!(registry.len(), 3);
    assert_eq!(registry.iter().map(|(_, s)| s).collect::<Vec<_>>(), ["BTCUSDT", "EU_BANKS", "DB"]);
}

#[test]
fn frame_buf_is_one_aligned_slot() {
    assert_eq!(size_of::<FrameBuf>(), FRAME_CAPACITY);
    assert_eq!(align_of::<FrameBuf>(), 64);
    assert_eq!(FrameBuf::default().as_bytes().len(), FRAME_CAPACITY);
    assert!(FrameBuf::default().decode().is_err());
}

#[test]
fn an_exec_report_is_terminal_when_nothing_stays_open() {
    let report = |status: ExecStatus, leaves: i64| ExecReport {
        intent_id: 1u64.into(),
        asset: 1u32.into(),
        side: Side::Buy as u8,
        status: status as u8,
        _pad: 0u16.into(),
        last_qty: 0i64.into(),
        last_price: 0i64.into(),
        cum_qty: 0i64.into(),
        leaves_qty: leaves.into(),
    };
    for status in [ExecStatus::Filled, ExecStatus::Canceled, ExecStatus::Rejected] {
        assert!(report(status, 5).is_terminal(), "{status:?}");
    }
    assert!(!report(ExecStatus::New, 0).is_terminal(), "an acknowledgement leaves the order open");
    assert!(!report(ExecStatus::PartiallyFilled, 5).is_terminal());
    assert!(report(ExecStatus::PartiallyFilled, 0).is_terminal());
}
