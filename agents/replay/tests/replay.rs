#![allow(clippy::unwrap_used)] // helpers in test files are test code too
use std::io::Write;
use std::path::{Path, PathBuf};

use qp_replay::*;

fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn gz(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut encoder = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap();
    path
}

#[test]
fn reads_the_real_usdm_book_tickers() {
    let tickers = read_book_tickers(&shared_data().join("binance/usdm-btcusdt-20240808.gz"), 1, 3).unwrap();
    assert_eq!(tickers.len(), 66_089, "the data README counts 66,089 bookTicker events");
    assert!(tickers.iter().all(|t| t.bid_price < t.ask_price && t.bid_qty >= 0 && t.ask_qty >= 0));
    assert!(tickers.windows(2).all(|w| w[0].local_ts_ns <= w[1].local_ts_ns));
    assert_eq!((tickers[0].bid_price, tickers[0].ask_price), (618_002, 618_003));
}

#[test]
fn reads_the_real_tfns_headlines() {
    let headlines = read_headlines(&shared_data().join("tfns/train.csv")).unwrap();
    assert_eq!(headlines.len(), 9_543);
    let count = |label| headlines.iter().filter(|h| h.label == label).count();
    assert_eq!(
        (count(SentimentLabel::Bearish), count(SentimentLabel::Bullish), count(SentimentLabel::Neutral)),
        (1_442, 1_923, 6_178)
    );
}

#[test]
fn malformed_lines_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"1 {"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5,"b":"1.0","B":"2.000","a":"1.1","A":"3.000"}}"#;
    let path = gz(dir.path(), "bad.gz", &format!("{good}\n2 {{not json\n"));
    let err = read_book_tickers(&path, 1, 3).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:2: ", path.display())), "{err}");

    let path = gz(dir.path(), "offgrid.gz", &good.replace("\"1.1\"", "\"1.15\""));
    let err = read_book_tickers(&path, 1, 3).unwrap_err().to_string();
    assert!(err.contains(":1: field a: \"1.15\" has more precision than 1 decimals"), "{err}");

    let csv = dir.path().join("h.csv");
    std::fs::write(&csv, "text,label\nfine,1\nbroken,7\n").unwrap();
    let err = read_headlines(&csv).unwrap_err().to_string();
    assert_eq!(err, format!("{}:3: label \"7\" is not 0, 1 or 2", csv.display()));

    std::fs::write(&csv, "headline,sentiment\nfine,1\n").unwrap();
    let err = read_headlines(&csv).unwrap_err().to_string();
    assert_eq!(err, format!("{}:1: expected the header `text,label`, found `headline,sentiment`", csv.display()));
    std::fs::write(&csv, "").unwrap();
    assert_eq!(read_headlines(&csv).unwrap_err().to_string(), format!("{}:1: empty file", csv.display()));

    let missing = dir.path().join("missing.gz");
    assert!(read_book_tickers(&missing, 1, 3).unwrap_err().to_string().starts_with(&missing.display().to_string()));
}

#[test]
fn timeline_is_time_ordered_and_spreads_headlines() {
    let ticker = |ts| BookTicker { local_ts_ns: ts, update_id: ts, bid_price: 1, bid_qty: 1, ask_price: 2, ask_qty: 1 };
    let instruments = vec![vec![ticker(100), ticker(400)], vec![ticker(250)]];
    let headlines = vec!["a".to_owned(), "b".to_owned()];
    let events = merge_timeline(&instruments, &headlines);
    let times: Vec<u64> = events.iter().map(ReplayEvent::ts_ns).collect();
    assert_eq!(times, [100, 200, 250, 300, 400]);
    assert!(matches!(events[1], ReplayEvent::Headline { text: "a", .. }));
    assert!(matches!(events[2], ReplayEvent::Ticker { instrument: 1, .. }));
}
