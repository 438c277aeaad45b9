use std::io::Read;
use std::ops::Range;
use std::path::Path;

use crate::error::ReplayError;

/// One line of a recorded feed: when the recorder received it and where its
/// JSON sits in [`FeedRecording::bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedLine {
    /// Recorder's clock (Unix ns).
    pub local_ts_ns: u64,
    /// The JSON message, as a range of the recording's bytes.
    pub json: Range<usize>,
    /// 1-based line number in the file, for messages about it.
    pub line_no: usize,
}

/// A gzipped Binance recording (`<local ns> <json>` per line), decompressed into
/// memory. The JSON is not parsed here: the node's own feed decoder
/// (`qp_book::binance`) reads it, at replay time, exactly as it reads a live feed.
#[derive(Debug, Clone, Default)]
pub struct FeedRecording {
    pub bytes: Vec<u8>,
    pub lines: Vec<FeedLine>,
}

impl FeedRecording {
    /// The JSON of one line.
    pub fn json(&self, line: &FeedLine) -> &[u8] {
        self.bytes.get(line.json.clone()).unwrap_or_default()
    }
}

/// Why a recorded line is not `<local ns> <json>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedLineError<'a> {
    /// No space between the timestamp and the message.
    NoSeparator,
    /// The text before the space is not a u64 of decimal digits.
    BadTimestamp(&'a [u8]),
}

/// Split one recorded line `<local ns> <json>` into the recorder's timestamp and the
/// message bytes. No allocation: the fuzzers and the feed benchmarks call it per line.
pub fn split_recorded_line(line: &[u8]) -> Result<(u64, &[u8]), RecordedLineError<'_>> {
    let space = line.iter().position(|&b| b == b' ').ok_or(RecordedLineError::NoSeparator)?;
    let (ts, json) = (&line[..space], &line[space + 1..]);
    if ts.is_empty() || ts.len() > 20 || !ts.iter().all(u8::is_ascii_digit) {
        return Err(RecordedLineError::BadTimestamp(ts));
    }
    let mut local_ns: u64 = 0;
    for &b in ts {
        local_ns = local_ns
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(RecordedLineError::BadTimestamp(ts))?;
    }
    Ok((local_ns, json))
}

/// Read and split a gzipped recording. A line without a numeric timestamp is an
/// error naming the file and line; the JSON is checked later, by the decoder.
pub fn read_feed(path: &Path) -> Result<FeedRecording, ReplayError> {
    let io = |error| ReplayError::Io { path: path.to_owned(), error };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut bytes).map_err(io)?;
    let mut lines = Vec::new();
    let mut start = 0;
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let range = start..start + raw.len();
        start = range.end + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (local_ts_ns, json) = split_recorded_line(raw).map_err(|error| ReplayError::Parse {
            path: path.to_owned(),
            line: line_no,
            detail: match error {
                RecordedLineError::NoSeparator => "expected `<timestamp> <json>`".to_owned(),
                RecordedLineError::BadTimestamp(ts) => format!("bad timestamp {:?}", String::from_utf8_lossy(ts)),
            },
        })?;
        let json_start = range.end - json.len();
        lines.push(FeedLine { local_ts_ns, json: json_start..range.end, line_no });
    }
    Ok(FeedRecording { bytes, lines })
}
