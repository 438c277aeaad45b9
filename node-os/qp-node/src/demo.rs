//! `qp-node demo`: recorded headlines and market data through the five-step loop.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qp_alpha_scanner::ScannerCounts;
use qp_book::binance::DepthSyncStats;
use qp_darkpool_scan::DarkPoolCounts;
use qp_loop::history::{HistoryError, load_history};
use qp_loop::{FiveStepLoop, IngestCounts, LoopConfig, LoopError};
use qp_replay::{ReplayError, ReplayEvent, merge_timeline, read_feed, read_headlines};
use qp_runtime::{LatencySummary, LatencyTable, Percentiles, StageStats};
use qp_wire::{AssetId, FrameBuf, FrameRef, Side, Stage, VetoReason, decode};

/// Headlines file inside the data folder.
const HEADLINES: &str = "tfns/train.csv";
/// How many order intents the report lists.
const SAMPLE_INTENTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("data folder {0} does not exist (pass --data DIR)")]
    DataDir(PathBuf),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Loop(#[from] LoopError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Everything the demo prints.
#[derive(Debug)]
pub struct DemoReport {
    pub workers: Vec<String>,
    pub cores: usize,
    pub loaded: Vec<(String, usize, String)>,
    pub headlines: usize,
    pub events: usize,
    /// RiskSentinel's VaR history: scenarios and where they came from.
    pub history: (usize, String),
    /// Quote frames the ingest side published.
    pub quotes: u64,
    /// Execution reports (the stand-in execution's) sent back to risk.
    pub reports: u64,
    pub elapsed: Duration,
    pub stats: Vec<StageStats>,
    pub ingest_time: Percentiles,
    pub ingest_counts: IngestCounts,
    /// Per configured asset: symbol and its feed's synchronisation figures.
    pub feeds: Vec<(String, DepthSyncStats)>,
    pub scanner: ScannerCounts,
    pub darkpool: DarkPoolCounts,
    pub intents: BTreeMap<(String, &'static str), (u64, i64)>,
    pub vetoes: BTreeMap<String, u64>,
    pub samples: Vec<String>,
    pub latency: LatencySummary,
}

struct Tally<'a> {
    config: &'a LoopConfig,
    symbols: Vec<String>,
    intents: BTreeMap<(String, &'static str), (u64, i64)>,
    vetoes: BTreeMap<String, u64>,
    samples: Vec<String>,
    latency: LatencyTable,
}

impl Tally<'_> {
    fn symbol(&self, asset: AssetId) -> String {
        self.symbols.get(asset.get().wrapping_sub(1) as usize).cloned().unwrap_or_else(|| format!("#{}", asset.get()))
    }

    fn record(&mut self, frame: &FrameBuf) {
        self.latency.record(frame.header());
        match decode(frame.as_frame_bytes()) {
            Ok(FrameRef::OrderIntent(f)) => {
                let i = f.payload;
                let side = match i.side() {
                    Some(Side::Buy) => "buy",
                    _ => "sell",
                };
                let symbol = self.symbol(i.asset());
                let entry = self.intents.entry((symbol.clone(), side)).or_default();
                entry.0 += 1;
                entry.1 += i.qty.get();
                if self.samples.len() < SAMPLE_INTENTS {
                    let scale = self.config.assets.iter().find(|a| a.symbol == symbol);
                    let (pd, qd) = scale.map_or((0, 0), |a| (a.price_decimals, a.qty_decimals));
                    self.samples.push(format!(
                        "intent #{} {} {} {} @ {} IOC (decision #{})",
                        i.intent_id.get(),
                        side.to_uppercase(),
                        fixed(i.qty.get(), qd),
                        symbol,
                        fixed(i.limit_price.get(), pd),
                        i.decision_id.get()
                    ));
                }
            }
            Ok(FrameRef::RiskVerdict(f)) => {
                let reason = f.payload.reason().unwrap_or(VetoReason::None);
                *self.vetoes.entry(format!("{reason:?}")).or_default() += 1;
            }
            _ => {}
        }
    }
}

/// `value` × 10^-decimals, printed exactly.
fn fixed(value: i64, decimals: u32) -> String {
    if decimals == 0 {
        return value.to_string();
    }
    let scale = 10i64.pow(decimals);
    format!(
        "{}{}.{:0width$}",
        if value < 0 { "-" } else { "" },
        (value / scale).abs(),
        (value % scale).abs(),
        width = decimals as usize
    )
}

/// Replay everything under `data` through the loop configured by `config`.
pub fn run_demo(config: &LoopConfig, data: &Path) -> Result<DemoReport, DemoError> {
    if !data.is_dir() {
        return Err(DemoError::DataDir(data.to_owned()));
    }
    tracing::info!(data = %data.display(), "loading recorded data");
    let headlines: Vec<String> = read_headlines(&data.join(HEADLINES))?.into_iter().map(|h| h.text).collect();
    let mut instruments = Vec::with_capacity(config.assets.len());
    let mut loaded = Vec::new();
    for asset in &config.assets {
        let feed = read_feed(&data.join(&asset.feed))?;
        loaded.push((asset.symbol.clone(), feed.lines.len(), asset.feed.clone()));
        instruments.push(feed);
    }
    let timeline = merge_timeline(&instruments, &headlines);
    // RiskSentinel's VaR history (the recordings' own mids, or daily closes: see the config).
    let history = load_history(config, &instruments)?;
    let history_source = match &config.risk.history {
        qp_loop::HistoryConfig::Replay { interval_ms } => {
            format!("recorded mids every {interval_ms} ms: a {interval_ms} ms VaR horizon")
        }
        qp_loop::HistoryConfig::Csv { path } => format!("daily closes in {path}"),
    };

    let mut five_step = FiveStepLoop::start(config, &history)?;
    let workers = five_step.worker_names().iter().map(|s| (*s).to_owned()).collect();
    let mut tally = Tally {
        config,
        // Indexed by asset id − 1, as the registry numbers them.
        symbols: five_step.registry().iter().map(|(_, s)| s.to_owned()).collect(),
        intents: BTreeMap::new(),
        vetoes: BTreeMap::new(),
        samples: Vec::new(),
        latency: LatencyTable::new(Stage::Ingest, Stage::Execute),
    };

    let start = Instant::now();
    for event in &timeline {
        match *event {
            ReplayEvent::Headline { ts_ns, text } => five_step.ingest_headline(ts_ns, text, |f| tally.record(f)),
            ReplayEvent::Market { instrument, ts_ns, json } => {
                five_step.ingest_market(instrument, ts_ns, json, |f| tally.record(f));
            }
        }
    }
    let ingest_time = five_step.ingest_time();
    let ingest_counts = five_step.ingest_counts();
    let feeds = five_step.feeds().map(|(asset, feed)| (tally.symbol(asset), feed.stats())).collect();
    let (scanner, darkpool) = (five_step.scanner().counts(), five_step.darkpool().counts());
    // Read before `finish`, which sends no more execution reports.
    let (quotes, reports) = (five_step.quotes_published(), five_step.reports_sent());
    let stats = five_step.finish(|f| tally.record(f))?;
    let elapsed = start.elapsed();

    Ok(DemoReport {
        workers,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        loaded,
        headlines: headlines.len(),
        events: timeline.len(),
        history: (history.rows(), history_source),
        quotes,
        reports,
        elapsed,
        stats,
        ingest_time,
        ingest_counts,
        feeds,
        scanner,
        darkpool,
        intents: tally.intents,
        vetoes: tally.vetoes,
        samples: tally.samples,
        latency: tally.latency.summary(),
    })
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "QuantPype Node demo: recorded data through the five-step loop")?;
        for (symbol, count, feed) in &self.loaded {
            writeln!(f, "  loaded {count:>7} {symbol} market-data messages  ({feed})")?;
        }
        writeln!(
            f,
            "  loaded {:>7} headlines  ({HEADLINES}, spread evenly over the market data's span)",
            self.headlines
        )?;
        writeln!(
            f,
            "  replayed {} events in {:.2?} on {} core(s); stage threads: {}",
            self.events,
            self.elapsed,
            self.cores,
            self.workers.join(", ")
        )?;
        let stage = |name: &str| self.stats.iter().find(|s| s.stage == name);
        let (confirm, decide, risk, execute) = (stage("confirm"), stage("decide"), stage("risk"), stage("execute"));
        // Quotes and execution reports pass Confirm and Decide unchanged, for risk.
        let passed_on = self.quotes + self.reports;
        writeln!(f, "  risk: RiskSentinel, VaR history {} scenarios ({})", self.history.0, self.history.1)?;
        writeln!(f, "\nWhat happened")?;
        writeln!(
            f,
            "  1 ingest   {} signal frames (SentimentX sentiment + AlphaScanner book + DarkPoolScan prints), \
             {} quotes (top-of-book changes, for risk)",
            confirm.map_or(0, |s| s.frames_in).saturating_sub(passed_on),
            self.quotes,
        )?;
        for (symbol, s) in &self.feeds {
            writeln!(
                f,
                "             {symbol} book: {} of {} depth diffs applied, {} gaps, {} crossed; {} trades; \
                 book tickers that line up with a diff: {}/{} agree",
                s.applied, s.depth_updates, s.gaps, s.crossed, s.trades, s.ticker_matched, s.ticker_compared
            )?;
        }
        let c = &self.scanner;
        writeln!(
            f,
            "             AlphaScanner: {} imbalance, {} liquidity-drop, {} spoofing signals; \
             DarkPoolScan: {} prints, {} hidden, {} blocks",
            c.imbalance_signals,
            c.liquidity_signals,
            c.spoofing_signals,
            self.darkpool.prints,
            self.darkpool.hidden,
            self.darkpool.blocks
        )?;
        let bad = &self.ingest_counts;
        writeln!(
            f,
            "             refused as bad data: {} feed messages, {} agent events",
            bad.feed_errors, bad.agent_errors
        )?;
        writeln!(
            f,
            "  2 confirm  {} sentiment signals confirmed by the book within the window",
            confirm.map_or(0, |s| s.frames_out).saturating_sub(passed_on)
        )?;
        writeln!(f, "  3 decide   {} decisions", decide.map_or(0, |s| s.frames_out).saturating_sub(passed_on))?;
        let vetoed: u64 = self.vetoes.values().sum();
        let approved = risk.map_or(0, |s| s.frames_out).saturating_sub(vetoed);
        let reasons: Vec<String> = self.vetoes.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        writeln!(
            f,
            "  4 risk     RiskSentinel: {approved} approved, {vetoed} vetoed{}",
            if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) }
        )?;
        writeln!(
            f,
            "  5 execute  {} order intents handed to the execution side \
             (no venue: each immediate-or-cancel order reported expired unfilled, {} reports back to risk)",
            execute.map_or(0, |s| s.frames_out) - vetoed,
            self.reports
        )?;
        for ((symbol, side), (count, lots)) in &self.intents {
            writeln!(f, "             {symbol} {side}: {count} orders, {lots} lots")?;
        }
        for sample in &self.samples {
            writeln!(f, "             {sample}")?;
        }
        let errors: u64 = self.stats.iter().map(|s| s.decode_errors + s.agent_errors).sum();
        let held: u64 = self.stats.iter().map(|s| s.backpressure).sum();
        writeln!(f, "  frames refused by a stage: {errors}; back-pressure waits: {held}")?;

        writeln!(f, "\nLatency (ns)                p50      p99    p99.9      max    count")?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, p: &Percentiles| {
            writeln!(f, "  {name:<22}{:>8} {:>8} {:>8} {:>8} {:>8}", p.p50_ns, p.p99_ns, p.p999_ns, p.max_ns, p.count)
        };
        row(f, "ingest (agent work)", &self.ingest_time)?;
        for name in ["confirm", "decide", "risk", "execute"] {
            if let Some(p) = self.latency.stages.get(name) {
                row(f, &format!("{name} (hop + work)"), p)?;
            }
        }
        row(f, "loop ingest->execute", &self.latency.whole_loop)
    }
}
