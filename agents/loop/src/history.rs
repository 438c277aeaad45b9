//! RiskSentinel's VaR history for the loop: one scenario return per configured asset and row,
//! in `[[assets]]` order, from the configured source ([`HistoryConfig`]).
//!
//! - **Replay** (the demo): each asset's recording goes through its own [`MarketFeed`] (the
//!   node's decoder and depth synchroniser), and the book's mid is sampled every
//!   `interval_ms` of feed time over the span in which every book is synchronised. The
//!   scenarios are the simple returns between consecutive samples, so the VaR horizon is
//!   `interval_ms`. Nothing is made up: a sample is the last mid the recording showed.
//! - **CSV**: daily closes (`Date,SYMBOL,…`), one column per configured asset; simple
//!   returns between consecutive rows (a 1-day horizon).
use std::path::Path;

use qp_book::BookRead;
use qp_replay::FeedRecording;
use qp_risk_model::{PriceTable, ReturnMatrix, RiskModelError};

use crate::config::{HistoryConfig, LoopConfig};
use crate::market_feed::MarketFeed;

/// Why no VaR history could be had.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("risk history {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("risk history {source_name}: {source}")]
    Model { source_name: String, source: RiskModelError },
    #[error("risk history {source_name}: no column for asset {symbol}")]
    MissingColumn { source_name: String, symbol: String },
    #[error("risk history: replay needs one recording per asset ({expected}), got {found}")]
    Recordings { expected: usize, found: usize },
    #[error("risk history: asset {symbol}: {problem}")]
    Replay { symbol: String, problem: String },
    #[error("risk history: the recordings share {samples} samples of {interval_ms} ms, at least {needed} are needed")]
    TooShort { samples: usize, interval_ms: u64, needed: usize },
}

/// Fewest replay samples accepted: 100 scenarios (RiskSentinel's minimum for a 99% VaR)
/// plus the first price.
const MIN_SAMPLES: usize = 101;

/// The history `config.risk.history` names. `recordings` are the assets' market-data
/// recordings in `[[assets]]` order (read only by the replay source).
pub fn load_history(config: &LoopConfig, recordings: &[FeedRecording]) -> Result<ReturnMatrix, HistoryError> {
    match &config.risk.history {
        HistoryConfig::Replay { interval_ms } => replay_returns(config, recordings, *interval_ms),
        HistoryConfig::Csv { path } => {
            let text = std::fs::read_to_string(Path::new(path))
                .map_err(|source| HistoryError::Read { path: path.clone(), source })?;
            csv_returns(config, &text, path)
        }
    }
}

/// Returns of each asset's recorded mid price, sampled every `interval_ms` of feed time.
pub fn replay_returns(
    config: &LoopConfig,
    recordings: &[FeedRecording],
    interval_ms: u64,
) -> Result<ReturnMatrix, HistoryError> {
    if recordings.len() != config.assets.len() {
        return Err(HistoryError::Recordings { expected: config.assets.len(), found: recordings.len() });
    }
    // Each asset's mid (ticks × 2) after every message that left its book synchronised.
    let mut series: Vec<Vec<(u64, i64)>> = Vec::with_capacity(recordings.len());
    for (asset, recording) in config.assets.iter().zip(recordings) {
        let problem = |problem: String| HistoryError::Replay { symbol: asset.symbol.clone(), problem };
        let mut feed = MarketFeed::new(asset.price_decimals, asset.qty_decimals).map_err(|e| problem(e.to_string()))?;
        let mut mids = Vec::new();
        for line in &recording.lines {
            let ts = line.local_ts_ns;
            // A message the decoder refuses is skipped, as the loop skips it.
            let _ = feed.on_message(recording.json(line), |_, book| {
                if let Some(mid_x2) = book.mid_x2().filter(|_| !book.is_crossed()) {
                    mids.push((ts, mid_x2));
                }
            });
        }
        if mids.is_empty() {
            return Err(problem("the recording never gives a synchronised two-sided book".to_owned()));
        }
        series.push(mids);
    }
    // The span every asset covers: from the latest first mid to the earliest last one.
    let start = series.iter().filter_map(|s| s.first()).map(|(ts, _)| *ts).max().unwrap_or(0);
    let end = series.iter().filter_map(|s| s.last()).map(|(ts, _)| *ts).min().unwrap_or(0);
    let step = interval_ms.saturating_mul(1_000_000);
    let samples = if end >= start { ((end - start) / step) as usize + 1 } else { 0 };
    if samples < MIN_SAMPLES {
        return Err(HistoryError::TooShort { samples, interval_ms, needed: MIN_SAMPLES });
    }
    // Row-major prices: at each sample time, each asset's last mid at or before it.
    let mut prices = vec![0.0; samples * series.len()];
    for (column, mids) in series.iter().enumerate() {
        let mut next = 0;
        let mut last = mids[0].1;
        for row in 0..samples {
            let at = start + row as u64 * step;
            while let Some(&(_, mid)) = mids.get(next).filter(|(ts, _)| *ts <= at) {
                last = mid;
                next += 1;
            }
            prices[row * series.len() + column] = last as f64 / 2.0;
        }
    }
    let symbols = config.assets.iter().map(|a| a.symbol.clone()).collect();
    let labels = (0..samples).map(|row| format!("+{}ms", row as u64 * interval_ms)).collect();
    let model = |source| HistoryError::Model { source_name: "replay".to_owned(), source };
    let table = PriceTable::new(symbols, labels, prices).map_err(model)?;
    ReturnMatrix::from_prices(&table).map_err(model)
}

/// Returns of daily closes in `Date,SYMBOL,…` CSV text, one column per configured asset
/// (other columns are ignored).
pub fn csv_returns(config: &LoopConfig, text: &str, source_name: &str) -> Result<ReturnMatrix, HistoryError> {
    let model = |source| HistoryError::Model { source_name: source_name.to_owned(), source };
    let table = PriceTable::parse_csv(text).map_err(model)?;
    if let Some(asset) = config.assets.iter().find(|a| table.column_index(&a.symbol).is_none()) {
        return Err(HistoryError::MissingColumn { source_name: source_name.to_owned(), symbol: asset.symbol.clone() });
    }
    let symbols: Vec<&str> = config.assets.iter().map(|a| a.symbol.as_str()).collect();
    ReturnMatrix::from_prices(&table.select(&symbols).map_err(model)?).map_err(model)
}
