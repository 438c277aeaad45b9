//! LOBSTER replay checks on the shared sample.
#![allow(clippy::unwrap_used, clippy::panic)] // helpers in test files are test code too
use std::path::PathBuf;

use qp_book::lobster::{
    LobsterBookRow, LobsterErrorKind, LobsterEventType, LobsterMessage, LobsterMismatchKind, check_lobster,
    parse_book_rows, parse_messages,
};
use qp_book::{BookSide, Grid, L3Kind, Level};

/// AAPL: one cent (USD × 10,000) per tick, one share per lot.
fn aapl_grid() -> Grid {
    Grid::new(100, 1).unwrap()
}

fn sample_path(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../../shared/data/lobster/AAPL_2012-06-21_34200000_57600000_{kind}_10.csv"))
}

fn sample() -> (Vec<LobsterMessage>, Vec<LobsterBookRow>) {
    let messages = parse_messages(&std::fs::read_to_string(sample_path("message")).unwrap()).unwrap();
    let rows = parse_book_rows(&std::fs::read_to_string(sample_path("orderbook")).unwrap()).unwrap();
    (messages, rows)
}

#[test]
fn the_sample_is_right_on_every_determined_level_one_step_at_a_time() {
    let (messages, rows) = sample();
    assert_eq!(messages.len(), 999);
    let report = check_lobster(&messages, &rows, aapl_grid()).unwrap();
    assert_eq!(report.messages, 999);
    assert_eq!(report.rows_compared, 998);
    assert_eq!(report.first_mismatch, None);
    assert_eq!(report.rows_matched, 998);
    assert_eq!(report.rows_matched_all_levels, 680);
    assert_eq!(report.rows_unknowable_level, 998 - 680);
    assert!(report.continuous_rows_matched > 0 && report.continuous_rows_matched <= 998);
}

#[test]
fn the_sample_rows_parse_into_typed_fields() {
    let (messages, rows) = sample();
    let first = messages[0];
    assert_eq!(first.time_ns, 34_200_004_241_176);
    assert_eq!(first.event, LobsterEventType::Submit);
    assert_eq!((first.order_id, first.size, first.price, first.side), (16_113_575, 18, 5_853_300, BookSide::Bid));
    assert_eq!(first.visible_event().map(|e| e.kind), Some(L3Kind::Add));
    assert!(
        messages.iter().filter(|m| m.event == LobsterEventType::HiddenExecution).all(|m| m.visible_event().is_none())
    );
    assert_eq!(rows[0].depth, 10);
    assert_eq!(rows[0].asks[0], Level { price: 5_859_400, qty: 200 });
    assert_eq!(rows[0].bids[0], Level { price: 5_853_300, qty: 18 });
    assert!(rows.iter().all(|r| r.asks.len() == 10 && r.bids.len() == 10));
}

#[test]
fn padding_for_empty_levels_is_dropped() {
    let row = LobsterBookRow::parse("5859400,200,5853300,18,9999999999,0,-9999999999,0", 1).unwrap();
    assert_eq!(row.depth, 2);
    assert_eq!(row.asks, vec![Level { price: 5_859_400, qty: 200 }]);
    assert_eq!(row.bids, vec![Level { price: 5_853_300, qty: 18 }]);
    let err = LobsterBookRow::parse("9999999999,0,5853300,18,5859400,200,5853200,5", 7).unwrap_err();
    assert_eq!((err.line, err.column), (7, 5));
    assert_eq!(err.kind, LobsterErrorKind::LevelAfterEmpty { side: BookSide::Ask });
}

#[test]
fn a_step_that_disagrees_is_reported_with_its_row_side_and_level() {
    let rows = parse_book_rows("5859400,200,5853300,18\n5859400,200,5853300,30\n").unwrap();
    // Message 2 adds 10 at the best bid, but row 2 shows 30 there.
    let messages = parse_messages("1.0,1,1,18,5853300,1\n1.5,1,2,10,5853300,1\n").unwrap();
    let report = check_lobster(&messages, &rows, aapl_grid()).unwrap();
    assert_eq!((report.rows_compared, report.rows_matched), (1, 0));
    let mismatch = report.first_mismatch.unwrap();
    assert_eq!(mismatch.row, 2);
    assert_eq!(
        mismatch.kind,
        LobsterMismatchKind::Level {
            side: BookSide::Bid,
            level: 1,
            expected: Some(Level { price: 5_853_300, qty: 30 }),
            got: Some(Level { price: 5_853_300, qty: 28 }),
        }
    );
}

#[test]
fn a_level_surfacing_from_beyond_the_last_is_unknowable_not_matched() {
    // One level per side; deleting the only bid lets an unseen bid surface.
    let rows = parse_book_rows("5859400,200,5853300,18\n5859400,200,5853000,7\n").unwrap();
    let messages = parse_messages("1.0,1,1,18,5853300,1\n1.5,3,1,18,5853300,1\n").unwrap();
    let report = check_lobster(&messages, &rows, aapl_grid()).unwrap();
    assert_eq!((report.rows_matched, report.rows_unknowable_level, report.rows_matched_all_levels), (1, 1, 0));
    // A "surfaced" level that is not beyond the known prices is a mismatch.
    let rows = parse_book_rows("5859400,200,5853300,18\n5859400,200,5853400,7\n").unwrap();
    let report = check_lobster(&messages, &rows, aapl_grid()).unwrap();
    assert_eq!(report.rows_matched, 0);
}

#[test]
fn bad_rows_give_typed_errors_with_line_and_column() {
    let cases: [(&str, usize, LobsterErrorKind); 6] = [
        ("34200.1,1,5,18,5853300", 6, LobsterErrorKind::MissingColumn { expected: 6 }),
        ("34200.1,1,5,18,5853300,1,9", 7, LobsterErrorKind::ExtraColumn { expected: 6 }),
        ("34200.1,9,5,18,5853300,1", 2, LobsterErrorKind::UnknownEventType(9)),
        ("34200.1,1,5,18,5853300,0", 6, LobsterErrorKind::BadDirection(0)),
        ("34200.1,1,5,-18,5853300,1", 4, LobsterErrorKind::NegativeSize(-18)),
        ("34200.1,1,5,x,5853300,1", 4, LobsterErrorKind::NotInteger { text: "x".to_owned() }),
    ];
    for (line, column, kind) in cases {
        let err = LobsterMessage::parse(line, 3).unwrap_err();
        assert_eq!((err.line, err.column, &err.kind), (3, column, &kind), "{line}");
    }
    let err = LobsterMessage::parse("34200.1234567891,1,5,18,5853300,1", 1).unwrap_err();
    assert!(matches!(err.kind, LobsterErrorKind::BadTime(_)));
    let err = LobsterMessage::parse("99999999999999999999,1,5,18,5853300,1", 1).unwrap_err();
    assert!(matches!(err.kind, LobsterErrorKind::BadTime(_)));
    let err = LobsterBookRow::parse("5859400,200,5853300", 2).unwrap_err();
    assert_eq!(err.kind, LobsterErrorKind::BadColumnCount { columns: 3 });
    let err = LobsterBookRow::parse("5859400,200,5853300,18,5859300,5,5853200,5", 2).unwrap_err();
    assert_eq!((err.column, err.kind), (5, LobsterErrorKind::NotSorted { side: BookSide::Ask, price: 5_859_300 }));
    let err = LobsterBookRow::parse("5859400,0,5853300,18", 2).unwrap_err();
    assert_eq!((err.column, err.kind), (2, LobsterErrorKind::NonPositiveQty { side: BookSide::Ask, qty: 0 }));
    let err = parse_messages("34200.1,1,5,18,5853300,1\n\n34200.2,1,5,18,5853300,2\n").unwrap_err();
    assert_eq!((err.line, err.column), (3, 6));
}

#[test]
fn files_of_different_lengths_do_not_pair() {
    let rows = parse_book_rows("5859400,200,5853300,18\n").unwrap();
    let messages = parse_messages("1.0,1,1,18,5853300,1\n1.5,1,2,10,5853300,1\n").unwrap();
    assert!(check_lobster(&messages, &rows, aapl_grid()).is_err());
}
