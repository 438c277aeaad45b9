use crate::binance::BookTicker;

/// One event of a replay, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayEvent<'a> {
    /// A headline, stamped with the replay time it is published at.
    Headline { ts_ns: u64, text: &'a str },
    /// A top-of-book update for the instrument at `instrument` in the replay's list.
    Ticker { instrument: usize, ticker: &'a BookTicker },
}

impl ReplayEvent<'_> {
    pub fn ts_ns(&self) -> u64 {
        match self {
            ReplayEvent::Headline { ts_ns, .. } => *ts_ns,
            ReplayEvent::Ticker { ticker, .. } => ticker.local_ts_ns,
        }
    }
}

/// Merge per-instrument ticker streams and headlines into one time-ordered
/// replay. TFNS headlines carry no time, so they are spread evenly, in file
/// order, over the span the market data covers.
pub fn merge_timeline<'a>(instruments: &'a [Vec<BookTicker>], headlines: &'a [String]) -> Vec<ReplayEvent<'a>> {
    let mut events: Vec<ReplayEvent<'a>> = instruments
        .iter()
        .enumerate()
        .flat_map(|(instrument, tickers)| tickers.iter().map(move |ticker| ReplayEvent::Ticker { instrument, ticker }))
        .collect();
    let first = events.iter().map(ReplayEvent::ts_ns).min().unwrap_or(0);
    let last = events.iter().map(ReplayEvent::ts_ns).max().unwrap_or(0);
    let step = (last - first) / (headlines.len() as u64 + 1);
    events.extend(
        headlines
            .iter()
            .enumerate()
            .map(|(i, text)| ReplayEvent::Headline { ts_ns: first + step * (i as u64 + 1), text }),
    );
    // Stable: ties keep tickers before headlines and each stream's own order.
    events.sort_by_key(ReplayEvent::ts_ns);
    events
}
