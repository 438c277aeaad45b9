//! `qp-node demo`: recorded headlines and market data through the five-step loop.
//!
//! Signals, polled by the replay loop between events (and every 10 ms while it waits to keep
//! `--speed`): SIGHUP re-reads the risk limits file and sends it to RiskSentinel through the
//! loop's command ring (validated first: an invalid file is refused, with the reason, and the
//! old limits stay); SIGTERM and SIGINT stop the replay early, and the report is still printed.
//!
//! The replay is deterministic ([`FiveStepLoop::start_replay`]: feed time, lockstep, fills from
//! `qp-fill-sim`): the report carries a SHA-256 over the output stream (every output frame with
//! its stage stamps zeroed, since they are this run's latencies, and every execution report with
//! its fill), the same for the same data and configuration. With an audit trail, every order
//! intent, veto and execution report is appended to a hash-chained, signed `qp-audit` file, on
//! feed time, after the two models behind them.
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use qp_alpha_scanner::ScannerCounts;
use qp_audit::{AuditError, AuditWriter, FileKeySigner, KeyError, ModelRef, SealPolicy};
use qp_book::binance::DepthSyncStats;
use qp_darkpool_scan::DarkPoolCounts;
use qp_loop::history::{HistoryError, load_history};
use qp_loop::{
    DecisionMaker, ExecEvent, ExecutionSummary, FiveStepLoop, IngestCounts, Liquidity, LoopConfig, LoopError,
    PortfolioSummary, RiskCommandOutcome, decision_maker,
};
use qp_replay::{ReplayError, ReplayEvent, merge_timeline, read_feed, read_headlines};
use qp_runtime::{LatencyBucket, LatencySummary, LatencyTable, Percentiles, StageStats};
use qp_wire::{AssetId, FrameBuf, FrameRef, Side, Stage, TimeInForce, VetoReason, decode};
use sha2::Digest;

/// Headlines file inside the data folder.
const HEADLINES: &str = "tfns/train.csv";
/// How many order intents the report lists.
const SAMPLE_INTENTS: usize = 5;
/// The longest the replay loop sleeps at a time, so signals are noticed.
const MAX_SLEEP: Duration = Duration::from_millis(10);
/// How long the end of the replay waits for the risk stage to answer reloads still in flight.
const OUTCOME_WAIT: Duration = Duration::from_secs(5);

/// How the demo runs, beyond the configuration.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Replay pace relative to recorded time; `None`: as fast as the loop takes it.
    pub speed: Option<f64>,
    pub signals: crate::signals::NodeSignals,
    /// Replay only the events from `from` to `to` seconds after the first one (headlines and
    /// market data); `None`: all of them.
    pub window: Option<(f64, f64)>,
    /// Write the audit trail here.
    pub audit: Option<AuditOptions>,
}

/// `--audit FILE [--audit-key KEYFILE]`.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// The trail (a new file: never overwritten).
    pub path: PathBuf,
    /// The node's signing key (PKCS#8 PEM); `None`: a fresh key made beside the trail as
    /// `FILE.key` and `FILE.key.pub`.
    pub key: Option<PathBuf>,
}

/// The audit trail the demo wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSummary {
    pub path: PathBuf,
    pub entries: u64,
    pub chain_head: String,
    /// The key that signed it, and whether the demo made it.
    pub key: PathBuf,
    pub key_generated: bool,
}

/// Risk limits reloads (SIGHUP) and what became of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskReloads {
    /// The limits file (or the embedded default's name).
    pub source_name: String,
    pub applied: u64,
    pub refused: u64,
    /// Why the last refused reload was refused.
    pub last_refused: Option<String>,
    /// Sent to the risk stage, no outcome yet: (sequence number, file).
    pending: Vec<(u64, String)>,
}

impl RiskReloads {
    /// Re-read the limits file and send it down the risk stage's command ring; a file that
    /// cannot be read or is invalid is refused here.
    fn reload(&mut self, config: &LoopConfig, five_step: &mut FiveStepLoop) {
        let sent = config.risk_limits().map_err(|err| err.to_string()).and_then(|limits| {
            five_step
                .reload_risk_limits(&limits.text, &limits.source_name)
                .map(|seq| (seq, limits.source_name))
                .map_err(|err| err.to_string())
        });
        match sent {
            Ok((seq, source_name)) => {
                tracing::debug!(file = %source_name, seq, "risk limits reload: valid, sent to the risk stage");
                self.pending.push((seq, source_name));
            }
            Err(reason) => self.refused(reason),
        }
    }

    fn refused(&mut self, reason: String) {
        tracing::warn!("risk limits reload refused, old limits kept: {reason}");
        self.refused += 1;
        self.last_refused = Some(reason);
    }

    /// Take the risk stage's answers.
    fn poll(&mut self, five_step: &mut FiveStepLoop) {
        while !self.pending.is_empty() {
            let Some(outcome) = five_step.poll_risk_outcome() else { return };
            let Some(at) = self.pending.iter().position(|(seq, _)| *seq == outcome.seq()) else { continue };
            let (_, file) = self.pending.remove(at);
            match outcome {
                RiskCommandOutcome::LimitsApplied { .. } => {
                    tracing::info!(file = %file, "risk limits reload applied");
                    self.applied += 1;
                }
                other => self.refused(format!("{file}: {other}")),
            }
        }
    }
}

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
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("audit key: {0}")]
    AuditKey(#[from] KeyError),
    #[error("replay window {from}..{to} s: from must be below to, both 0 or more")]
    Window { from: f64, to: f64 },
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
    /// Decisions at the loop's output by the agent that made them (`decide`, `neuralarb`,
    /// `liquidityflow`; `guardian`: its parent orders, which LiquidityFlow works).
    pub decisions: BTreeMap<&'static str, u64>,
    /// What NeuralArb, Guardian and LiquidityFlow did.
    pub portfolio: PortfolioSummary,
    pub samples: Vec<String>,
    pub latency: LatencySummary,
    /// Events replayed: all of them unless a signal stopped the replay early.
    pub replayed: usize,
    pub speed: Option<f64>,
    pub risk_reloads: RiskReloads,
    /// Lockstep markers (they pass Confirm, Decide, Risk and Execute; not counted as frames here).
    pub markers: u64,
    /// What the execution side did: fills, P&L, slippage.
    pub execution: ExecutionSummary,
    /// SHA-256 of the output stream (hex), and what went into it: output frames, execution reports.
    pub output_hash: String,
    pub hashed: (u64, u64),
    pub audit: Option<AuditSummary>,
    /// The replayed window (seconds after the first event), if not everything.
    pub window: Option<(f64, f64)>,
    /// P&L (realised + marked to the last mid − fees) over the replay: (seconds of feed time
    /// after the first event, P&L), every [`PNL_SAMPLE_NS`] and at the end.
    pub pnl_curve: Vec<(f64, f64)>,
    /// Each stage's latency distribution and the whole loop's, in power-of-two buckets.
    pub latency_buckets: Vec<(&'static str, Vec<LatencyBucket>)>,
}

/// Feed time between the points of [`DemoReport::pnl_curve`].
pub const PNL_SAMPLE_NS: u64 = 1_000_000_000;

/// The five steps' counts, as the report prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepCounts {
    /// Signal frames the ingest agents emitted (sentiment, book signals, prints).
    pub signals: u64,
    /// Sentiment signals the book confirmed.
    pub confirmed: u64,
    pub decisions: u64,
    /// Decisions approved: each an order intent handed to the execution side.
    pub approved: u64,
    pub vetoed: u64,
}

impl DemoReport {
    /// Signals and confirmations read off the Confirm stage's counters (quotes, execution
    /// reports, lockstep markers and the other agents' decisions pass it and are not counted);
    /// decisions, approvals and vetoes off the loop's output.
    pub fn counts(&self) -> StepCounts {
        let confirm = self.stats.iter().find(|s| s.stage == "confirm");
        let routed: u64 =
            self.decisions.iter().filter(|(maker, _)| !matches!(**maker, "decide" | "guardian")).map(|(_, n)| n).sum();
        let passed_on = self.quotes + self.reports + self.markers + routed;
        let vetoed: u64 = self.vetoes.values().sum();
        let approved: u64 = self.intents.values().map(|(orders, _)| orders).sum();
        StepCounts {
            signals: confirm.map_or(0, |s| s.frames_in).saturating_sub(passed_on),
            // Confirm passes every input on (Decide reads the signals too) and adds one
            // `Confirmed` per joined pair.
            confirmed: confirm.map_or(0, |s| s.frames_out.saturating_sub(s.frames_in)),
            // Guardian's parents are not judged: their children are.
            decisions: self.decisions.iter().filter(|(maker, _)| **maker != "guardian").map(|(_, n)| n).sum(),
            approved,
            vetoed,
        }
    }
}

/// The trail being written, the models' entries and the first error.
struct AuditSink {
    writer: AuditWriter<BufWriter<File>, FileKeySigner>,
    /// The Decide model's entry: intents and vetoes name it.
    decide_model: ModelRef,
    error: Option<AuditError>,
    summary: AuditSummary,
}

impl AuditSink {
    fn open(
        options: &AuditOptions,
        origin_node: u32,
    ) -> Result<(AuditWriter<BufWriter<File>, FileKeySigner>, AuditSummary), DemoError> {
        if options.path.exists() {
            // Checked before a key is made for it: a trail is never overwritten.
            let source = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
            return Err(AuditError::Io { path: options.path.clone(), source }.into());
        }
        let (signer, key, key_generated) = match &options.key {
            Some(key) => (FileKeySigner::load(key)?, key.clone(), false),
            None => {
                let key = PathBuf::from(format!("{}.key", options.path.display()));
                let public = PathBuf::from(format!("{}.key.pub", options.path.display()));
                (FileKeySigner::generate(&key, &public)?, key, true)
            }
        };
        let writer = AuditWriter::create(&options.path, origin_node, signer, SealPolicy::default())?;
        let summary =
            AuditSummary { path: options.path.clone(), entries: 0, chain_head: String::new(), key, key_generated };
        Ok((writer, summary))
    }

    fn frame(&mut self, time_ns: u64, frame: &[u8], model: Option<ModelRef>) {
        if self.error.is_some() {
            return;
        }
        if let Err(err) = self.writer.record_frame(time_ns, frame, model) {
            self.error = Some(err);
        }
    }
}

struct Tally<'a> {
    config: &'a LoopConfig,
    symbols: Vec<String>,
    intents: BTreeMap<(String, &'static str), (u64, i64)>,
    vetoes: BTreeMap<String, u64>,
    decisions: BTreeMap<&'static str, u64>,
    samples: Vec<String>,
    latency: LatencyTable,
    /// Feed time of the event being replayed.
    now_ns: u64,
    hasher: sha2::Sha256,
    hashed_frames: u64,
    hashed_reports: u64,
    audit: Option<AuditSink>,
}

impl Tally<'_> {
    fn symbol(&self, asset: AssetId) -> String {
        self.symbols.get(asset.get().wrapping_sub(1) as usize).cloned().unwrap_or_else(|| format!("#{}", asset.get()))
    }

    /// An execution report the execution side sent back, with its fill.
    fn exec(&mut self, event: &ExecEvent) {
        self.hashed_reports += 1;
        let frame = FrameBuf::encode(self.config.node.origin_node, self.hashed_reports, &event.report);
        let bytes = frame.as_frame_bytes();
        self.hasher.update(b"report");
        self.hasher.update(event.ts_ns.to_le_bytes());
        self.hasher.update(bytes);
        if let Some(fill) = &event.fill {
            self.hasher.update([u8::from(fill.liquidity == Liquidity::Maker)]);
            self.hasher.update(fill.arrival_mid_x2.to_le_bytes());
        }
        if let Some(audit) = &mut self.audit {
            audit.frame(event.ts_ns, bytes, None);
        }
    }

    fn record(&mut self, frame: &FrameBuf) {
        let decoded = decode(frame.as_frame_bytes());
        // Whose decision the frame is about: only Decide's name a model file.
        let maker = match &decoded {
            Ok(FrameRef::Decision(f)) => Some(decision_maker(f.payload.decision_id.get())),
            Ok(FrameRef::OrderIntent(f)) => Some(decision_maker(f.payload.decision_id.get())),
            Ok(FrameRef::RiskVerdict(f)) => Some(decision_maker(f.payload.decision_id.get())),
            _ => None,
        };
        // The latency table times what risk made (intents, vetoes), as before decisions were
        // recorded too.
        if !matches!(decoded, Ok(FrameRef::Decision(_))) {
            self.latency.record(frame.header());
        }
        // The stream hash and the trail take the frame without its stage stamps: they are this
        // run's latencies (in the latency table), the rest is the same run after run.
        let mut bare = *frame;
        for stage in Stage::ALL {
            bare.stamp(stage, 0);
        }
        self.hashed_frames += 1;
        self.hasher.update(b"frame");
        self.hasher.update(bare.as_frame_bytes());
        if let Some(audit) = &mut self.audit {
            let model = (maker == Some(DecisionMaker::Decide)).then_some(audit.decide_model);
            audit.frame(self.now_ns, bare.as_frame_bytes(), model);
        }
        match decoded {
            Ok(FrameRef::Decision(_)) => {
                if let Some(maker) = maker {
                    *self.decisions.entry(maker.name()).or_default() += 1;
                }
            }
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
                    let tif = match TimeInForce::from_wire(i.time_in_force) {
                        Some(TimeInForce::GoodTillCancel) => "GTC",
                        Some(TimeInForce::Day) => "DAY",
                        _ => "IOC",
                    };
                    self.samples.push(format!(
                        "intent #{} {} {} {} @ {} {tif} (decision #{} by {})",
                        i.intent_id.get(),
                        side.to_uppercase(),
                        fixed(i.qty.get(), qd),
                        symbol,
                        fixed(i.limit_price.get(), pd),
                        i.decision_id.get(),
                        maker.map_or("?", |m| m.name())
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

/// Replay everything under `data` through the loop configured by `config`, at
/// `options.speed`, reloading the risk limits when `options.signals.reload` is raised and
/// stopping early when `options.signals.stop` is.
pub fn run_demo(config: &LoopConfig, data: &Path, options: &DemoOptions) -> Result<DemoReport, DemoError> {
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
    let mut timeline = merge_timeline(&instruments, &headlines);
    if let Some((from, to)) = options.window {
        if !(from >= 0.0 && from < to) {
            return Err(DemoError::Window { from, to });
        }
        let first = timeline.first().map_or(0, ReplayEvent::ts_ns);
        let (lo, hi) = (first + (from * 1e9) as u64, first.saturating_add((to * 1e9).min(u64::MAX as f64) as u64));
        timeline.retain(|event| (lo..hi).contains(&event.ts_ns()));
    }
    // RiskSentinel's VaR history (the recordings' own mids, or daily closes: see the config).
    let history = load_history(config, &instruments)?;
    let history_source = match &config.risk.history {
        qp_loop::HistoryConfig::Replay { interval_ms } => {
            format!("recorded mids every {interval_ms} ms: a {interval_ms} ms VaR horizon")
        }
        qp_loop::HistoryConfig::Csv { path } => format!("daily closes in {path}"),
    };

    let mut five_step = FiveStepLoop::start_replay(config, &history)?;
    let workers = five_step.worker_names().iter().map(|s| (*s).to_owned()).collect();
    let first_ts_ns = timeline.first().map_or(0, ReplayEvent::ts_ns);
    // The trail opens with the models behind what follows: SentimentX (the shipped student)
    // and the Decide agent's model, each named by its file's SHA-256.
    let audit = match &options.audit {
        Some(audit) => {
            let (mut writer, summary) = AuditSink::open(audit, config.node.origin_node)?;
            let sentiment: [u8; 32] = sha2::Sha256::digest(qp_sentiment::shipped::MODEL_BYTES).into();
            writer.record_model(first_ts_ns, qp_sentiment::shipped::MODEL_NAME, &sentiment)?;
            let decide = five_step.decide_model();
            let decide_model = writer.record_model(first_ts_ns, &decide.name, &decide.sha256)?;
            Some(AuditSink { writer, decide_model, error: None, summary })
        }
        None => None,
    };
    let mut tally = Tally {
        config,
        // Indexed by asset id − 1, as the registry numbers them.
        symbols: five_step.registry().iter().map(|(_, s)| s.to_owned()).collect(),
        intents: BTreeMap::new(),
        vetoes: BTreeMap::new(),
        decisions: BTreeMap::new(),
        samples: Vec::new(),
        latency: LatencyTable::new(Stage::Ingest, Stage::Execute),
        now_ns: first_ts_ns,
        hasher: sha2::Sha256::new(),
        hashed_frames: 0,
        hashed_reports: 0,
        audit,
    };

    let signals = &options.signals;
    let mut risk_reloads = RiskReloads {
        source_name: config.risk_limits().map(|l| l.source_name).unwrap_or_else(|_| config.risk.limits.clone()),
        ..RiskReloads::default()
    };
    tracing::info!(events = timeline.len(), speed = ?options.speed, "replaying");
    let start = Instant::now();
    let mut replayed = 0;
    let mut pnl_curve = Vec::new();
    let mut next_sample_ns = first_ts_ns;
    'replay: for event in &timeline {
        // Keep the pace: wait in short steps, taking the loop's output and the signals.
        if let Some(speed) = options.speed {
            let due = start + Duration::from_secs_f64(event.ts_ns().saturating_sub(first_ts_ns) as f64 / 1e9 / speed);
            loop {
                let now = Instant::now();
                if now >= due || signals.stop.load(Ordering::Relaxed) {
                    break;
                }
                five_step.poll_output(|f| tally.record(f));
                if crate::signals::NodeSignals::take(&signals.reload) {
                    risk_reloads.reload(config, &mut five_step);
                }
                risk_reloads.poll(&mut five_step);
                std::thread::sleep((due - now).min(MAX_SLEEP));
            }
        }
        if signals.stop.load(Ordering::Relaxed) {
            tracing::warn!(replayed, events = timeline.len(), "stopped by a signal: replay ends early");
            break 'replay;
        }
        if crate::signals::NodeSignals::take(&signals.reload) {
            risk_reloads.reload(config, &mut five_step);
        }
        risk_reloads.poll(&mut five_step);
        tally.now_ns = event.ts_ns();
        match *event {
            ReplayEvent::Headline { ts_ns, text } => five_step.ingest_headline(ts_ns, text, |f| tally.record(f)),
            ReplayEvent::Market { instrument, ts_ns, json } => {
                five_step.ingest_market(instrument, ts_ns, json, |f| tally.record(f));
            }
        }
        five_step.drain_exec_events(|e| tally.exec(e));
        if event.ts_ns() >= next_sample_ns {
            let at_s = event.ts_ns().saturating_sub(first_ts_ns) as f64 / 1e9;
            pnl_curve.push((at_s, five_step.execution_summary().pnl()));
            next_sample_ns = event.ts_ns().saturating_add(PNL_SAMPLE_NS);
        }
        replayed += 1;
    }
    // A reload signalled at the very end, and the answers still on their way.
    if crate::signals::NodeSignals::take(&signals.reload) {
        risk_reloads.reload(config, &mut five_step);
    }
    let waiting = Instant::now();
    while !risk_reloads.pending.is_empty() && waiting.elapsed() < OUTCOME_WAIT {
        five_step.poll_output(|f| tally.record(f));
        risk_reloads.poll(&mut five_step);
        std::thread::sleep(Duration::from_millis(1));
    }
    for (_, file) in std::mem::take(&mut risk_reloads.pending) {
        risk_reloads.refused(format!("{file}: the risk stage did not answer within {OUTCOME_WAIT:?}"));
    }
    let ingest_time = five_step.ingest_time();
    let ingest_counts = five_step.ingest_counts();
    let feeds = five_step.feeds().map(|(asset, feed)| (tally.symbol(asset), feed.stats())).collect();
    let (scanner, darkpool) = (five_step.scanner().counts(), five_step.darkpool().counts());
    // Read before `finish`, which sends no more execution reports.
    let (quotes, markers) = (five_step.quotes_published(), five_step.markers_sent());
    let mut exec_events = Vec::new();
    let finished = five_step.finish_replay(|f| tally.record(f), |e| exec_events.push(*e))?;
    for event in &exec_events {
        tally.exec(event);
    }
    let elapsed = start.elapsed();
    let stats = finished.stats;
    pnl_curve.push((tally.now_ns.saturating_sub(first_ts_ns) as f64 / 1e9, finished.execution.pnl()));
    // Every execution report pushed back, the last ones (at the end) included.
    let reports = tally.hashed_reports;
    let audit = match tally.audit.take() {
        Some(mut sink) => {
            if let Some(err) = sink.error.take() {
                return Err(err.into());
            }
            let end_ns = tally.now_ns;
            // The last seal signs the chain head; `finish` then only flushes.
            sink.writer.seal(end_ns)?;
            let (entries, head) = (sink.writer.entries(), sink.writer.chain_head());
            sink.writer.finish(end_ns)?;
            Some(AuditSummary { entries, chain_head: qp_audit::to_hex(&head), ..sink.summary })
        }
        None => None,
    };

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
        decisions: tally.decisions,
        portfolio: finished.portfolio,
        samples: tally.samples,
        latency: tally.latency.summary(),
        latency_buckets: tally.latency.log2_buckets(),
        replayed,
        speed: options.speed,
        risk_reloads,
        markers,
        execution: finished.execution,
        output_hash: qp_audit::to_hex(&tally.hasher.finalize()),
        hashed: (tally.hashed_frames, tally.hashed_reports),
        audit,
        window: options.window,
        pnl_curve,
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
        let replayed = if self.replayed == self.events {
            format!("{} events", self.events)
        } else {
            format!("{} of {} events (stopped by a signal)", self.replayed, self.events)
        };
        let mut pace = self.speed.map_or(String::new(), |x| format!(" at {x}x recorded speed"));
        if let Some((from, to)) = self.window {
            pace.push_str(&format!(" (window {from} s to {to} s)"));
        }
        writeln!(
            f,
            "  replayed {replayed}{pace} in {:.2?} on {} core(s); stage threads: {}",
            self.elapsed,
            self.cores,
            self.workers.join(", ")
        )?;
        let counts = self.counts();
        writeln!(f, "  risk: RiskSentinel, VaR history {} scenarios ({})", self.history.0, self.history.1)?;
        let r = &self.risk_reloads;
        writeln!(
            f,
            "  risk limits: {}; {} reloads applied, {} refused{}",
            r.source_name,
            r.applied,
            r.refused,
            r.last_refused.as_ref().map_or(String::new(), |why| format!(" (last: {why})"))
        )?;
        writeln!(f, "\nWhat happened")?;
        writeln!(
            f,
            "  1 ingest   {} signal frames (SentimentX sentiment + AlphaScanner book + DarkPoolScan prints), \
             {} quotes (top-of-book changes, for risk)",
            counts.signals, self.quotes,
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
        writeln!(f, "  2 confirm  {} sentiment signals confirmed by the book within the window", counts.confirmed)?;
        let by_agent: Vec<String> = self
            .decisions
            .iter()
            .filter(|(maker, _)| **maker != "guardian")
            .map(|(maker, n)| format!("{maker} {n}"))
            .collect();
        writeln!(f, "  3 decide   {} decisions ({})", counts.decisions, by_agent.join(", "))?;
        self.write_portfolio(f)?;
        let (approved, vetoed) = (counts.approved, counts.vetoed);
        let reasons: Vec<String> = self.vetoes.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        writeln!(
            f,
            "  4 risk     RiskSentinel: {approved} approved, {vetoed} vetoed{}",
            if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) }
        )?;
        // Each approval is an order intent handed to the execution side.
        let handed = counts.approved;
        let x = &self.execution;
        if x.venue == "expire" {
            writeln!(
                f,
                "  5 execute  {handed} order intents handed to the execution side \
                 (no venue: each immediate-or-cancel order reported expired unfilled, {} reports back to risk)",
                self.reports
            )?;
        } else {
            writeln!(
                f,
                "  5 execute  {handed} order intents handed to the execution side \
                 (fill simulator on the replayed book, {} reports back to risk)",
                self.reports
            )?;
        }
        for ((symbol, side), (count, lots)) in &self.intents {
            writeln!(f, "             {symbol} {side}: {count} orders, {lots} lots")?;
        }
        for sample in &self.samples {
            writeln!(f, "             {sample}")?;
        }
        if x.venue != "expire" {
            writeln!(
                f,
                "  fills      {} fills ({} maker, {} taker) on {} orders; {} IOC remainders expired, {} rejected, \
                 {} cancelled at the end",
                x.fills, x.maker_fills, x.taker_fills, x.orders, x.expired, x.rejected, x.cancelled_at_end
            )?;
            for a in &x.assets {
                writeln!(
                    f,
                    "             {} filled: bought {}, sold {}, position {}; P&L {:+.4} (realised {:+.4}, \
                     unrealised {:+.4})",
                    a.symbol,
                    fixed(a.bought_lots, a.qty_decimals),
                    fixed(a.sold_lots, a.qty_decimals),
                    fixed(a.position_lots, a.qty_decimals),
                    a.pnl(),
                    a.realised,
                    a.unrealised
                )?;
            }
            writeln!(
                f,
                "  P&L        {:+.2} (realised {:+.2}, unrealised {:+.2} marked to the last mid, fees {:.2})",
                x.pnl(),
                x.realised,
                x.unrealised,
                x.fees
            )?;
            writeln!(
                f,
                "  slippage   {:+.2} bp vs the arrival mid (notional-weighted; a cost is positive)",
                x.slippage_bp
            )?;
        }
        let errors: u64 = self.stats.iter().map(|s| s.decode_errors + s.agent_errors).sum();
        let held: u64 = self.stats.iter().map(|s| s.backpressure).sum();
        writeln!(f, "  frames refused by a stage: {errors}; back-pressure waits: {held}")?;
        writeln!(
            f,
            "  output hash  sha256 {} ({} output frames, stage stamps zeroed; {} execution reports)",
            self.output_hash, self.hashed.0, self.hashed.1
        )?;
        if let Some(a) = &self.audit {
            writeln!(
                f,
                "  audit trail  {}: {} entries, chain head {}; signed with {}{}",
                a.path.display(),
                a.entries,
                a.chain_head,
                a.key.display(),
                if a.key_generated { " (a fresh key made for this trail)" } else { "" }
            )?;
        }

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

impl DemoReport {
    fn symbol_of(&self, asset: AssetId) -> &str {
        self.execution.assets.iter().find(|a| a.asset == asset).map_or("?", |a| a.symbol.as_str())
    }

    fn units_of(&self, asset: AssetId, lots: i64) -> String {
        let decimals = self.execution.assets.iter().find(|a| a.asset == asset).map_or(0, |a| a.qty_decimals);
        fixed(lots, decimals)
    }

    /// NeuralArb's and Guardian's lines under "3 decide".
    fn write_portfolio(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(arb) = &self.portfolio.arb {
            let s = &arb.stats;
            writeln!(
                f,
                "             NeuralArb ({} against {}): {} entries, {} exits, max |z| {:.2}; {} decisions, {} vetoed, \
                 {} fills; position {} / {}",
                self.symbol_of(arb.far),
                self.symbol_of(arb.near),
                s.entries,
                s.exits,
                s.max_abs_z,
                s.decisions,
                s.vetoes,
                s.fills,
                self.units_of(arb.near, arb.positions.0),
                self.units_of(arb.far, arb.positions.1),
            )?;
        }
        if let Some(g) = &self.portfolio.guardian {
            let book: Vec<String> = g
                .positions
                .iter()
                .map(|(asset, lots)| format!("{} {}", self.symbol_of(*asset), self.units_of(*asset, *lots)))
                .collect();
            writeln!(
                f,
                "             Guardian: {} rebalances ({} failed), {} parent orders worked by LiquidityFlow ({} done, \
                 {} abandoned) in {} children ({} vetoed); shortfall {:+.2} bp; book {}",
                g.stats.ticks,
                g.errors,
                g.parents,
                g.parents_done,
                g.parents_abandoned,
                g.children,
                g.child_vetoes,
                g.mean_shortfall_bp,
                book.join(", ")
            )?;
        }
        Ok(())
    }

    /// Writes the latency histogram and the P&L curve as SVG files into `dir` (created if
    /// missing); returns their paths.
    pub fn write_charts(&self, dir: &Path) -> std::io::Result<[PathBuf; 2]> {
        std::fs::create_dir_all(dir)?;
        let latency = dir.join("latency.svg");
        let pnl = dir.join("pnl.svg");
        crate::charts::write_latency_histogram(
            &latency,
            "qp-node demo: per-stage latency (share of frames per power-of-two bucket)",
            &self.latency_buckets,
        )?;
        crate::charts::write_pnl_curve(
            &pnl,
            "qp-node demo: P&L (realised + marked to the mid, quote currency)",
            &[("P&L", self.pnl_curve.clone())],
        )?;
        Ok([latency, pnl])
    }
}
