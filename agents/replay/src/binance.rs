use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use crate::error::ReplayError;
use crate::fixed_point::parse_fixed;

/// Best bid and ask as Binance's `bookTicker` stream reported them, in fixed point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookTicker {
    /// When the recorder received it (Unix ns, recorder's clock).
    pub local_ts_ns: u64,
    /// Binance's order-book update id.
    pub update_id: u64,
    pub bid_price: i64,
    pub bid_qty: i64,
    pub ask_price: i64,
    pub ask_qty: i64,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    stream: Option<&'a str>,
    /// Parsed only for the streams this reader takes (depth updates carry arrays).
    #[serde(borrow)]
    data: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct TickerData<'a> {
    /// Futures streams name the event; spot's bookTicker stream does not.
    e: Option<&'a str>,
    u: Option<u64>,
    b: Option<&'a str>,
    #[serde(rename = "B")]
    bid_qty: Option<&'a str>,
    a: Option<&'a str>,
    #[serde(rename = "A")]
    ask_qty: Option<&'a str>,
}

/// Read every `bookTicker` event of a gzipped Binance recording
/// (`<local ns> <json>` per line). Other streams (depth, trades, the REST
/// snapshot) are skipped here; the book issues read them.
pub fn read_book_tickers(path: &Path, price_decimals: u32, qty_decimals: u32) -> Result<Vec<BookTicker>, ReplayError> {
    let file = std::fs::File::open(path).map_err(|source| ReplayError::Io { path: path.to_owned(), source })?;
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line_no = index + 1;
        let parse_error = |detail: String| ReplayError::Parse { path: path.to_owned(), line: line_no, detail };
        let line = line.map_err(|source| ReplayError::Io { path: path.to_owned(), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let (ts, json) = line.split_once(' ').ok_or_else(|| parse_error("expected `<timestamp> <json>`".to_owned()))?;
        let local_ts_ns: u64 = ts.parse().map_err(|_| parse_error(format!("bad timestamp {ts:?}")))?;
        let envelope: Envelope<'_> = serde_json::from_str(json).map_err(|e| parse_error(e.to_string()))?;
        let (Some(stream), Some(data)) = (envelope.stream, envelope.data) else {
            continue; // the REST depth snapshot has no stream wrapper
        };
        if !stream.ends_with("@bookTicker") {
            continue;
        }
        let data: TickerData<'_> = serde_json::from_str(data.get()).map_err(|e| parse_error(e.to_string()))?;
        if data.e.is_some_and(|e| e != "bookTicker") {
            continue;
        }
        let field = |name: &str, value: Option<&str>, decimals| -> Result<i64, ReplayError> {
            let value = value.ok_or_else(|| parse_error(format!("bookTicker without field {name}")))?;
            parse_fixed(value, decimals).map_err(|e| parse_error(format!("field {name}: {e}")))
        };
        out.push(BookTicker {
            local_ts_ns,
            update_id: data.u.ok_or_else(|| parse_error("bookTicker without field u".to_owned()))?,
            bid_price: field("b", data.b, price_decimals)?,
            bid_qty: field("B", data.bid_qty, qty_decimals)?,
            ask_price: field("a", data.a, price_decimals)?,
            ask_qty: field("A", data.ask_qty, qty_decimals)?,
        });
    }
    Ok(out)
}
