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
fn reads_the_real_usdm_recording_into_timestamped_lines() {
    let feed = read_feed(&shared_data().join("binance/usdm-btcusdt-20240808.gz")).unwrap();
    assert_eq!(feed.lines.len(), 93_954, "the data README counts 93,954 lines");
    let tickers = feed.lines.iter().filter(|l| feed.json(l).starts_with(b"{\"stream\":\"btcusdt@bookTicker\"")).count();
    assert_eq!(tickers, 66_089, "the data README counts 66,089 bookTicker events");
    assert!(feed.lines.iter().all(|l| feed.json(l).starts_with(b"{") && feed.json(l).ends_with(b"}")));
    assert_eq!(feed.lines[0].local_ts_ns, 1_723_161_255_030_314_667);
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
    let path = gz(dir.path(), "bad.gz", &format!("{good}\n\nx2 {{\"a\":1}}\n"));
    let err = read_feed(&path).unwrap_err().to_string();
    assert_eq!(err, format!("{}:3: bad timestamp \"x2\"", path.display()));
    let path = gz(dir.path(), "nospace.gz", "12345\n");
    let err = read_feed(&path).unwrap_err().to_string();
    assert_eq!(err, format!("{}:1: expected `<timestamp> <json>`", path.display()));
    let path = gz(dir.path(), "good.gz", &format!("{good}\n\n{good}\n"));
    let feed = read_feed(&path).unwrap();
    assert_eq!(feed.lines.iter().map(|l| l.line_no).collect::<Vec<_>>(), [1, 3]);
    assert!(feed.lines.iter().all(|l| feed.json(l) == &good.as_bytes()[2..]));

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
    assert!(read_feed(&missing).unwrap_err().to_string().starts_with(&missing.display().to_string()));
}

#[test]
fn timeline_is_time_ordered_and_spreads_headlines() {
    let feed = |times: &[u64]| {
        let mut recording = FeedRecording::default();
        for &ts in times {
            let start = recording.bytes.len();
            recording.bytes.extend_from_slice(b"{}");
            recording.lines.push(FeedLine { local_ts_ns: ts, json: start..start + 2, line_no: 1 });
        }
        recording
    };
    let instruments = vec![feed(&[100, 400]), feed(&[250])];
    let headlines = vec!["a".to_owned(), "b".to_owned()];
    let events = merge_timeline(&instruments, &headlines);
    let times: Vec<u64> = events.iter().map(ReplayEvent::ts_ns).collect();
    assert_eq!(times, [100, 200, 250, 300, 400]);
    assert!(matches!(events[1], ReplayEvent::Headline { text: "a", .. }));
    assert!(matches!(events[2], ReplayEvent::Market { instrument: 1, json: b"{}", .. }));
}
