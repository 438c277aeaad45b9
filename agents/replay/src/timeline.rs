use crate::binance::FeedRecording;

/// One event of a replay, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayEvent<'a> {
    /// A headline, stamped with the replay time it is published at.
    Headline { ts_ns: u64, text: &'a str },
    /// One market-data message (JSON) for the instrument at `instrument` in the replay's list.
    Market { instrument: usize, ts_ns: u64, json: &'a [u8] },
}

impl ReplayEvent<'_> {
    pub fn ts_ns(&self) -> u64 {
        match self {
            ReplayEvent::Headline { ts_ns, .. } | ReplayEvent::Market { ts_ns, .. } => *ts_ns,
        }
    }
}

/// Merge per-instrument feed recordings and headlines into one time-ordered
/// replay. TFNS headlines carry no time, so they are spread evenly, in file
/// order, over the span the market data covers.
pub fn merge_timeline<'a>(instruments: &'a [FeedRecording], headlines: &'a [String]) -> Vec<ReplayEvent<'a>> {
    let mut events: Vec<ReplayEvent<'a>> = instruments
        .iter()
        .enumerate()
        .flat_map(|(instrument, feed)| {
            feed.lines.iter().map(move |line| ReplayEvent::Market {
                instrument,
                ts_ns: line.local_ts_ns,
                json: feed.json(line),
            })
        })
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
    // Stable: ties keep market data before headlines and each stream's own order.
    events.sort_by_key(ReplayEvent::ts_ns);
    events
}
