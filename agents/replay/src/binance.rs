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

/// Read and split a gzipped recording. A line without a numeric timestamp is an
/// error naming the file and line; the JSON is checked later, by the decoder.
pub fn read_feed(path: &Path) -> Result<FeedRecording, ReplayError> {
    let io = |source| ReplayError::Io { path: path.to_owned(), source };
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
        let parse_error = |detail: String| ReplayError::Parse { path: path.to_owned(), line: line_no, detail };
        let space = raw
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| parse_error("expected `<timestamp> <json>`".to_owned()))?;
        let ts = &raw[..space];
        let local_ts_ns = std::str::from_utf8(ts)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| parse_error(format!("bad timestamp {:?}", String::from_utf8_lossy(ts))))?;
        lines.push(FeedLine { local_ts_ns, json: range.start + space + 1..range.end, line_no });
    }
    Ok(FeedRecording { bytes, lines })
}
