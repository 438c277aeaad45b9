//! Fuzz the LOBSTER row parsers of `qp-book`, and the one-step checker behind them.
//!
//! Every line of the input is parsed as a message row and as an order-book row;
//! the rows that parse are paired and checked. Parsing must answer a row or a
//! typed `LobsterError` naming the line, never panic; the invariants below must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qp_book::lobster::{LobsterBookRow, LobsterMessage, check_lobster};
use qp_book::{BookSide, Grid};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut messages = Vec::new();
    let mut rows = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let line_no = index + 1;
        match LobsterMessage::parse(line, line_no) {
            Ok(message) => {
                assert!(message.size >= 0);
                let _ = message.visible_event();
                messages.push(message);
            }
            Err(err) => {
                assert_eq!(err.line, line_no);
                assert!(!err.to_string().is_empty());
            }
        }
        match LobsterBookRow::parse(line, line_no) {
            Ok(row) => {
                assert!(row.depth >= 1);
                for side in [BookSide::Bid, BookSide::Ask] {
                    let levels = row.side(side);
                    assert!(levels.len() <= row.depth);
                    assert!(levels.iter().all(|l| l.price > 0 && l.qty > 0));
                    assert!(levels.windows(2).all(|w| side.better(w[0].price, w[1].price)));
                }
                rows.push(row);
            }
            Err(err) => {
                assert_eq!(err.line, line_no);
                assert!(!err.to_string().is_empty());
            }
        }
    }
    let n = messages.len().min(rows.len());
    for (tick, lot) in [(1, 1), (100, 1)] {
        let Ok(grid) = Grid::new(tick, lot) else { return };
        if let Ok(report) = check_lobster(&messages[..n], &rows[..n], grid) {
            assert_eq!(report.rows_compared, n.saturating_sub(1));
            assert!(report.rows_matched <= report.rows_compared);
            assert_eq!(report.rows_matched, report.rows_matched_all_levels + report.rows_unknowable_level);
            assert_eq!(report.first_mismatch.is_none(), report.rows_matched == report.rows_compared);
            assert!(report.continuous_rows_matched <= report.rows_compared);
        }
    }
});
