//! The Decide agent's model (`qpctl forge alpha`): dataset from replayed market data,
//! training, evaluation against no-skill baselines, packaging.
//!
//! 1. **Replay.** The shared Binance recordings go through the loop's own ingest agents and
//!    Confirm step ([`qp_loop::SignalReplay`], on feed time), with the TFNS headlines spread
//!    over the recordings' span as `qp-node demo` spreads them and scored by the shipped
//!    SentimentX. Two replays: the demo's (USD-M BTCUSDT and spot ETHUSDT) and spot BTCUSDT
//!    on its own (as BTCUSDT, so Bitcoin headlines reach it).
//! 2. **Rows.** The frames the Decide stage would see go through [`AlphaFeatures`], the code
//!    the agent runs. A row is taken at the first quote of an asset at least `row_interval` of
//!    feed time after its previous row (every 250 ms by default), features as they stand then.
//! 3. **Labels.** The mid move over the horizon (5 s of feed time by default): the last quote
//!    mid at or before `t + horizon` against the mid at `t`, in bp. Up above `+dead_zone_bp`,
//!    down below `−dead_zone_bp`, flat between. A row whose horizon passes the end of its
//!    recording has no label and is dropped.
//! 4. **Split in time.** Over the recordings' common span: the first 70 % is training, the
//!    last 30 % test. The last fifth of the training period is validation (early stopping, the
//!    threshold); a row is in a period only if its horizon ends inside it too (no label crosses
//!    a boundary).
//! 5. **Train** ([`crate::alpha_train`]), write the ONNX file with the features' standardization
//!    folded into the first layer (int8 weights when they decide as the f32 ones do).
//! 6. **Evaluate on the test period**: hit rate, and a backtest that runs the real
//!    [`DecideAgent`] on the replayed frames with the written model file (its decisions at the
//!    cadence and on `Confirmed` frames): each decision holds `direction × size` for the
//!    horizon, mid to mid, less a round-trip cost in bp. The same decisions (times and sizes)
//!    are scored with random directions (averaged over seeds) and all long.
use std::path::{Path, PathBuf};

use qp_alpha::{
    AlphaFeatures, AlphaModel, BackendKind, DecideAgent, DecideConfig, DecisionPolicy, FEATURE_COUNT, FEATURE_NAMES,
    FeatureVector, Observed,
};
use qp_loop::{AssetConfig, LoopConfig, SignalReplay};
use qp_models::{SplitMix64, WeightStorage};
use qp_replay::{merge_timeline, read_feed, read_headlines};
use qp_runtime::{Agent, AgentContext, Outbox};
use qp_wire::{AssetId, FrameBuf, FrameRef, decode};
use serde::Serialize;

use crate::alpha_train::{Standardizer, TrainConfig, TrainOutcome, train};

/// Headlines file inside the data folder (as the demo reads it).
const HEADLINES: &str = "tfns/train.csv";

/// Everything that shapes `qpctl forge alpha`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlphaForgeOptions {
    /// The shared data folder (`binance/`, `tfns/`).
    pub data: PathBuf,
    /// Where the model file is written.
    pub out: PathBuf,
    pub horizon_ns: u64,
    pub row_interval_ns: u64,
    /// Share of the span that is training (the rest is test).
    pub train_fraction: f64,
    /// Share of the training period, at its end, that is validation.
    pub validation_fraction: f64,
    pub dead_zone_bp: f64,
    /// Round-trip cost of a trade, bp of its notional.
    pub cost_bp: f64,
    /// Seeds of the random-direction baseline.
    pub random_seeds: u64,
    /// The decision threshold; `None`: chosen on the validation period.
    pub min_edge: Option<f32>,
    pub max_order_qty_lots: i64,
    pub train: TrainConfig,
    /// Training runs, seeds `train.seed ..`; the lowest validation loss is kept.
    pub seeds: u64,
}

impl AlphaForgeOptions {
    /// The defaults `qpctl forge alpha` uses, reading `data` and writing `out`.
    pub fn new(data: PathBuf, out: PathBuf) -> Self {
        Self {
            data,
            out,
            horizon_ns: qp_alpha::HORIZON_NS,
            row_interval_ns: 250_000_000,
            train_fraction: 0.7,
            validation_fraction: 0.2,
            dead_zone_bp: 0.5,
            cost_bp: 1.0,
            random_seeds: 200,
            min_edge: None,
            max_order_qty_lots: 10,
            train: TrainConfig::default(),
            seeds: 5,
        }
    }
}

/// Why `qpctl forge alpha` stopped.
#[derive(Debug, thiserror::Error)]
pub enum AlphaForgeError {
    #[error(transparent)]
    Replay(#[from] qp_replay::ReplayError),
    #[error(transparent)]
    Config(#[from] qp_loop::ConfigError),
    #[error("replaying the loop's agents: {0}")]
    Loop(#[from] qp_loop::LoopError),
    #[error(transparent)]
    Model(#[from] qp_models::ModelError),
    #[error(transparent)]
    AlphaModel(#[from] qp_alpha::AlphaModelError),
    #[error("{0}")]
    TooFewRows(String),
}

/// Rows per period.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RowCounts {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

/// The model's answers on the test rows.
#[derive(Debug, Clone, Serialize)]
pub struct TestMetrics {
    /// Mean cross-entropy on the test rows.
    pub loss: f64,
    /// Share of test rows whose class (down, flat, up) the model's most likely class is.
    pub accuracy: f64,
    /// The same for always answering the training period's most frequent class.
    pub majority_accuracy: f64,
    /// Among test rows where the model would trade (|edge| ≥ min_edge) and the mid moved:
    /// share where it moved the way the model said.
    pub hit_rate: f64,
    pub traded_rows: usize,
    /// The same at threshold 0 (every row whose mid moved, direction = sign of the edge).
    pub hit_rate_all_rows: f64,
    pub moved_rows: usize,
}

/// The backtest of the Decide agent's decisions on the test period.
#[derive(Debug, Clone, Serialize)]
pub struct Backtest {
    pub trades: usize,
    pub cadence_trades: usize,
    pub confirmed_trades: usize,
    /// Share of trades whose mid moved the way they bet (a zero move is not a hit).
    pub hit_rate: f64,
    /// Σ size × (direction × mid move − cost), bp of the capped size's notional.
    pub pnl_bp: f64,
    /// The same without costs.
    pub gross_pnl_bp: f64,
    /// Same trades, random directions: mean and standard deviation over the seeds, and the
    /// share of seeds that did at least as well as the model.
    pub random_mean_bp: f64,
    pub random_std_bp: f64,
    pub random_at_least_model: f64,
    /// Same trades, all long.
    pub always_long_bp: f64,
    pub loses_to_random: bool,
    pub loses_to_always_long: bool,
    /// One sentence: whether the model beat the baselines, said plainly.
    pub verdict: String,
}

/// What `qpctl forge alpha` made and measured.
#[derive(Debug, Clone, Serialize)]
pub struct AlphaForgeReport {
    pub replays: Vec<String>,
    pub horizon_ms: u64,
    pub row_interval_ms: u64,
    pub dead_zone_bp: f64,
    pub cost_bp: f64,
    pub split_ts_ns: u64,
    pub rows: RowCounts,
    /// Share of down, flat, up among the training and test rows.
    pub class_balance_train: [f64; 3],
    pub class_balance_test: [f64; 3],
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
    pub min_edge: f32,
    pub min_edge_from_validation: bool,
    pub test: TestMetrics,
    pub backtest: Backtest,
    pub model_path: PathBuf,
    pub model_bytes: usize,
    pub model_sha256: String,
    /// `"int8"` or `"f32"` weights in the written file.
    pub weights: &'static str,
    /// Share of test rows where the written file (native f32 kernel) decides as the trained f32
    /// network, and where the native int8 kernel on it decides as the trained network.
    pub file_agreement: f64,
    pub int8_kernel_agreement: f64,
    pub features: Vec<&'static str>,
    pub feature_mean: Vec<f32>,
    pub feature_std: Vec<f32>,
    /// Features that never varied in the training rows, which the written model ignores.
    pub constant_features: Vec<&'static str>,
}

/// One replay's frames, as the Decide stage would see them, and each asset's quote mids.
#[derive(Debug)]
struct Replay {
    name: String,
    assets: usize,
    frames: Vec<FrameBuf>,
    /// Per asset id: (feed time, mid) of each quote.
    mids: Vec<Vec<(u64, f64)>>,
}

impl Replay {
    /// The mid move from `ts` to `ts + horizon`, bp; `None` past the recording's end.
    fn move_bp(&self, asset: AssetId, ts: u64, horizon_ns: u64) -> Option<f64> {
        let series = self.mids.get(asset.get() as usize)?;
        let end = ts.checked_add(horizon_ns)?;
        if series.last().is_none_or(|(last, _)| *last < end) {
            return None;
        }
        let at = |t: u64| {
            let i = series.partition_point(|(ts, _)| *ts <= t);
            series.get(i.checked_sub(1)?).map(|(_, mid)| *mid)
        };
        Some((at(end)? / at(ts)?).ln() * 1e4)
    }
}

/// A feature row and its label.
#[derive(Debug, Clone, Copy)]
struct Row {
    ts: u64,
    x: FeatureVector,
    move_bp: f64,
}

fn class_of(move_bp: f64, dead_zone_bp: f64) -> u8 {
    if move_bp > dead_zone_bp {
        2
    } else if move_bp < -dead_zone_bp {
        0
    } else {
        1
    }
}

/// The loop configurations replayed: the demo's, and spot BTCUSDT on its own.
fn replay_configs() -> Result<Vec<(String, LoopConfig)>, AlphaForgeError> {
    let demo = LoopConfig::embedded_default()?;
    let mut spot = demo.clone();
    let template = demo.assets.first().cloned().ok_or(qp_loop::LoopError::NoAssets)?;
    spot.assets = vec![AssetConfig {
        symbol: "BTCUSDT".to_owned(),
        price_decimals: 2,
        qty_decimals: 5,
        feed: "binance/spot-btcusdt-20240808.gz".to_owned(),
        ..template
    }];
    let name = |c: &LoopConfig| c.assets.iter().map(|a| a.feed.clone()).collect::<Vec<_>>().join(" + ");
    Ok(vec![(name(&demo), demo), (name(&spot), spot)])
}

fn run_replay(name: String, config: &LoopConfig, data: &Path, headlines: &[String]) -> Result<Replay, AlphaForgeError> {
    let mut recordings = Vec::new();
    for asset in &config.assets {
        recordings.push(read_feed(&data.join(&asset.feed))?);
    }
    let timeline = merge_timeline(&recordings, headlines);
    let mut replay = SignalReplay::new(config)?;
    let assets = replay.registry().len();
    let mut frames = Vec::new();
    let mut mids = vec![Vec::new(); assets + 1];
    replay.replay(&timeline, |_, frame| {
        if let Ok(FrameRef::Quote(q)) = decode(frame.as_frame_bytes())
            && let Some(series) = mids.get_mut(q.payload.asset().get() as usize)
        {
            let (bid, ask) = (q.payload.bid_price.get() as f64, q.payload.ask_price.get() as f64);
            series.push((q.payload.feed_ts_ns.get(), (bid + ask) / 2.0));
        }
        frames.push(*frame);
    });
    Ok(Replay { name, assets, frames, mids })
}

/// Rows every `row_interval_ns` per asset, with labels where the horizon fits.
fn rows_of(replay: &Replay, options: &AlphaForgeOptions) -> Vec<Row> {
    let mut features = AlphaFeatures::new(replay.assets);
    let mut next_row = vec![0u64; replay.assets + 1];
    let mut rows = Vec::new();
    let mut x = [0.0; FEATURE_COUNT];
    for frame in &replay.frames {
        let Ok(decoded) = decode(frame.as_frame_bytes()) else { continue };
        let Ok(Observed::Quote { asset, feed_ts_ns }) = features.observe(&decoded) else { continue };
        let Some(next) = next_row.get_mut(asset.get() as usize) else { continue };
        if feed_ts_ns < *next {
            continue;
        }
        *next = feed_ts_ns + options.row_interval_ns;
        features.features(asset, &mut x);
        if let Some(move_bp) = replay.move_bp(asset, feed_ts_ns, options.horizon_ns) {
            rows.push(Row { ts: feed_ts_ns, x, move_bp });
        }
    }
    rows
}

/// A decision of the backtest: when, which way, how big, and the move that followed.
#[derive(Debug, Clone, Copy)]
struct Trade {
    sign: f64,
    size: f64,
    move_bp: f64,
    reason: u16,
}

/// Run the Decide agent with `model` over a replay, keeping the decisions made at or after `from_ts`.
fn decisions(
    replay: &Replay,
    model: AlphaModel,
    policy: DecisionPolicy,
    options: &AlphaForgeOptions,
    from_ts: u64,
) -> Vec<Trade> {
    let config =
        DecideConfig { policy, limit_offset_ticks: 0, cadence_ns: options.horizon_ns, max_assets: replay.assets };
    let mut agent = DecideAgent::new(model, config);
    let mut outbox = Outbox::new("backtest");
    let mut trades = Vec::new();
    for frame in &replay.frames {
        let Ok(decoded) = decode(frame.as_frame_bytes()) else { continue };
        if agent.on_frame(AgentContext { now_ns: 0 }, decoded, &mut outbox).is_err() {
            continue;
        }
        let mut decided = None;
        outbox.drain_into(|out| {
            if let Ok(FrameRef::Decision(d)) = decode(out.as_frame_bytes()) {
                decided = Some((d.payload.side(), d.payload.qty.get(), d.payload.reason.get()));
            }
            Ok(())
        });
        let (Some((Some(side), qty, reason)), Some(verdict)) = (decided, agent.last_verdict()) else { continue };
        if verdict.feed_ts_ns < from_ts {
            continue;
        }
        let Some(move_bp) = replay.move_bp(verdict.asset, verdict.feed_ts_ns, options.horizon_ns) else { continue };
        trades.push(Trade { sign: side.sign() as f64, size: policy.size_fraction(qty), move_bp, reason });
    }
    trades
}

fn pnl(trades: &[Trade], signs: impl Iterator<Item = f64>, cost_bp: f64) -> f64 {
    trades.iter().zip(signs).map(|(t, sign)| t.size * (sign * t.move_bp - cost_bp)).sum()
}

fn backtest(trades: &[Trade], options: &AlphaForgeOptions) -> Backtest {
    let model = pnl(trades, trades.iter().map(|t| t.sign), options.cost_bp);
    let gross = pnl(trades, trades.iter().map(|t| t.sign), 0.0);
    let long = pnl(trades, trades.iter().map(|_| 1.0), options.cost_bp);
    let randoms: Vec<f64> = (0..options.random_seeds.max(1))
        .map(|seed| {
            let mut rng = SplitMix64::new(0xa1fa_0000 + seed);
            let signs: Vec<f64> = trades.iter().map(|_| if rng.below(2) == 0 { 1.0 } else { -1.0 }).collect();
            pnl(trades, signs.into_iter(), options.cost_bp)
        })
        .collect();
    let n = randoms.len() as f64;
    let mean = randoms.iter().sum::<f64>() / n;
    let std = (randoms.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
    let at_least = randoms.iter().filter(|r| **r >= model).count() as f64 / n;
    let hits = trades.iter().filter(|t| t.sign * t.move_bp > 0.0).count();
    let (loses_to_random, loses_to_always_long) = (model < mean, model < long);
    let verdict = match (loses_to_random, loses_to_always_long) {
        (false, false) => format!(
            "the model beats both baselines on the test period ({model:.1} bp against {mean:.1} bp random, {long:.1} bp \
             always long); {:.0} % of random-direction runs did at least as well",
            at_least * 100.0
        ),
        _ => format!(
            "THE MODEL LOSES on the test period: {model:.1} bp against {mean:.1} bp for random directions and {long:.1} bp \
             for always long on the same trades"
        ),
    };
    Backtest {
        trades: trades.len(),
        cadence_trades: trades.iter().filter(|t| t.reason == qp_alpha::REASON_CADENCE).count(),
        confirmed_trades: trades.iter().filter(|t| t.reason == qp_alpha::REASON_CONFIRMED).count(),
        hit_rate: hits as f64 / trades.len().max(1) as f64,
        pnl_bp: model,
        gross_pnl_bp: gross,
        random_mean_bp: mean,
        random_std_bp: std,
        random_at_least_model: at_least,
        always_long_bp: long,
        loses_to_random,
        loses_to_always_long,
        verdict,
    }
}

fn balance(rows: &[(FeatureVector, u8)]) -> [f64; 3] {
    let mut counts = [0usize; 3];
    for (_, y) in rows {
        counts[usize::from(*y)] += 1;
    }
    counts.map(|c| c as f64 / rows.len().max(1) as f64)
}

/// The side (or flat) a policy takes on an edge, as a small integer for agreement counts.
fn decided(policy: &DecisionPolicy, edge: f32) -> i64 {
    policy.decide(edge).map_or(0, |(side, qty)| side.sign() * qty)
}

/// Replay, build the rows, train, write the model to `options.out` and evaluate it.
pub fn forge_alpha(
    options: &AlphaForgeOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<AlphaForgeReport, AlphaForgeError> {
    let headlines: Vec<String> = read_headlines(&options.data.join(HEADLINES))?.into_iter().map(|h| h.text).collect();
    let mut replays = Vec::new();
    for (name, config) in replay_configs()? {
        progress(&format!("replaying {name} with {} headlines", headlines.len()));
        replays.push(run_replay(name, &config, &options.data, &headlines)?);
    }
    let rows: Vec<Vec<Row>> = replays.iter().map(|r| rows_of(r, options)).collect();
    let all_ts = replays.iter().flat_map(|r| r.mids.iter().flatten().map(|(ts, _)| *ts));
    let (first, last) = all_ts.fold((u64::MAX, 0), |(lo, hi), ts| (lo.min(ts), hi.max(ts)));
    let span = last.saturating_sub(first) as f64;
    let split_ts = first + (span * options.train_fraction) as u64;
    let validation_ts = first + (span * options.train_fraction * (1.0 - options.validation_fraction)) as u64;
    let horizon = options.horizon_ns;
    let labelled = |r: &Row| (r.x, class_of(r.move_bp, options.dead_zone_bp));
    let pick =
        |keep: &dyn Fn(&Row) -> bool| -> Vec<Row> { rows.iter().flatten().filter(|r| keep(r)).copied().collect() };
    let fit_rows = pick(&|r| r.ts + horizon <= validation_ts);
    let validation_rows = pick(&|r| r.ts >= validation_ts && r.ts + horizon <= split_ts);
    let test_rows = pick(&|r| r.ts >= split_ts);
    if fit_rows.len() < 100 || validation_rows.len() < 20 || test_rows.len() < 20 {
        return Err(AlphaForgeError::TooFewRows(format!(
            "forge alpha: too few rows ({} train, {} validation, {} test) in {}",
            fit_rows.len(),
            validation_rows.len(),
            test_rows.len(),
            options.data.display()
        )));
    }
    let standardizer = Standardizer::fit(&fit_rows.iter().map(|r| r.x).collect::<Vec<_>>());
    let standardized = |rows: &[Row]| -> Vec<(FeatureVector, u8)> {
        rows.iter().map(|r| (standardizer.apply(&r.x), labelled(r).1)).collect()
    };
    let (fit, validation, test) = (standardized(&fit_rows), standardized(&validation_rows), standardized(&test_rows));
    progress(&format!("training on {} rows ({} validation, {} test)", fit.len(), validation.len(), test.len()));
    // Several seeds; the one with the lowest validation loss is kept (the test period plays no part).
    let mut outcome: Option<TrainOutcome> = None;
    for offset in 0..options.seeds.max(1) {
        let config = TrainConfig { seed: options.train.seed + offset, ..options.train.clone() };
        let run = train(&fit, &validation, &config);
        if outcome.as_ref().is_none_or(|best| run.validation_loss < best.validation_loss) {
            outcome = Some(run);
        }
    }
    let Some(TrainOutcome { model: mut mlp, epochs_run, best_epoch, train_loss, validation_loss }) = outcome else {
        return Err(AlphaForgeError::TooFewRows("forge alpha: no training run".to_owned()));
    };
    mlp.ignore_constant_features(&standardizer);

    // The threshold: the best validation P&L (same sizing and cost as the backtest) over a grid,
    // unless given. Rows overlap (one every row interval, each held for the horizon), so this
    // is a ranking, not a P&L.
    let policy_at =
        |min_edge: f32| DecisionPolicy { min_edge, min_qty_lots: 1, max_qty_lots: options.max_order_qty_lots };
    let (min_edge, from_validation) = match options.min_edge {
        Some(edge) => (edge, false),
        None => {
            let score = |min_edge: f32| {
                let policy = policy_at(min_edge);
                let (mut pnl, mut trades) = (0.0, 0usize);
                for ((x, _), row) in validation.iter().zip(&validation_rows) {
                    let p = mlp.probabilities(x);
                    if let Some((side, qty)) = policy.decide(p[2] - p[0]) {
                        trades += 1;
                        pnl += policy.size_fraction(qty) * (side.sign() as f64 * row.move_bp - options.cost_bp);
                    }
                }
                (pnl, trades)
            };
            let candidates = (1..=12).map(|i| i as f32 * 0.05);
            let best = candidates
                .map(|edge| (edge, score(edge)))
                .filter(|(_, (_, trades))| *trades >= 20)
                .max_by(|a, b| a.1.0.total_cmp(&b.1.0));
            (best.map_or(0.2, |(edge, _)| edge), true)
        }
    };
    let policy = policy_at(min_edge);

    // Write the model: int8 weights when they decide as the f32 network does on the test rows.
    let builder = mlp.to_builder(&standardizer)?;
    let reference: Vec<i64> = test
        .iter()
        .map(|(x, _)| {
            let p = mlp.probabilities(x);
            decided(&policy, p[2] - p[0])
        })
        .collect();
    let agreement = |bytes: &[u8], kind: BackendKind| -> Result<f64, AlphaForgeError> {
        let mut model = AlphaModel::from_bytes(bytes, "candidate", kind)?;
        let mut same = 0usize;
        for (row, want) in test_rows.iter().zip(&reference) {
            same += usize::from(decided(&policy, model.predict(&row.x)?.edge()) == *want);
        }
        Ok(same as f64 / test_rows.len().max(1) as f64)
    };
    let int8_bytes = builder.clone().weight_storage(WeightStorage::Int8).to_bytes()?;
    let int8_file = agreement(&int8_bytes, BackendKind::NativeF32)?;
    let (bytes, weights) = if int8_file >= 0.99 {
        (int8_bytes, "int8")
    } else {
        (builder.weight_storage(WeightStorage::F32).to_bytes()?, "f32")
    };
    let file_agreement = agreement(&bytes, BackendKind::NativeF32)?;
    let int8_kernel_agreement = agreement(&bytes, BackendKind::NativeInt8)?;
    if let Some(dir) = options.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| qp_models::ModelError::Io { path: dir.to_path_buf(), source })?;
    }
    std::fs::write(&options.out, &bytes)
        .map_err(|source| qp_models::ModelError::Io { path: options.out.clone(), source })?;
    let name = options.out.display().to_string();
    let identity = qp_alpha::ModelIdentity::of(&name, &bytes);
    progress(&format!("wrote {name} ({} B, {weights} weights)", bytes.len()));

    // Test metrics from the written file, as the agent runs it.
    let mut shipped = AlphaModel::from_bytes(&bytes, &name, BackendKind::NativeF32)?;
    let (mut loss, mut correct, mut majority) = (0.0, 0usize, 0usize);
    let train_balance = balance(&fit);
    let majority_class =
        (0..3u8).max_by(|a, b| train_balance[usize::from(*a)].total_cmp(&train_balance[usize::from(*b)])).unwrap_or(1);
    let (mut traded, mut traded_hits, mut moved, mut moved_hits) = (0usize, 0usize, 0usize, 0usize);
    for (row, (_, y)) in test_rows.iter().zip(&test) {
        let p = shipped.predict(&row.x)?;
        loss -= f64::from(p.probabilities[usize::from(*y)].max(1e-7)).ln();
        let argmax = (0..3).max_by(|a, b| p.probabilities[*a].total_cmp(&p.probabilities[*b])).unwrap_or(1);
        correct += usize::from(argmax == usize::from(*y));
        majority += usize::from(*y == majority_class);
        let edge = f64::from(p.edge());
        if row.move_bp != 0.0 && edge != 0.0 {
            moved += 1;
            moved_hits += usize::from(edge * row.move_bp > 0.0);
            if policy.decide(p.edge()).is_some() {
                traded += 1;
                traded_hits += usize::from(edge * row.move_bp > 0.0);
            }
        }
    }
    let n = test.len().max(1) as f64;
    let test_metrics = TestMetrics {
        loss: loss / n,
        accuracy: correct as f64 / n,
        majority_accuracy: majority as f64 / n,
        hit_rate: traded_hits as f64 / traded.max(1) as f64,
        traded_rows: traded,
        hit_rate_all_rows: moved_hits as f64 / moved.max(1) as f64,
        moved_rows: moved,
    };

    progress("backtesting the Decide agent on the test period");
    let mut trades = Vec::new();
    for replay in &replays {
        let model = AlphaModel::from_bytes(&bytes, &name, BackendKind::NativeF32)?;
        trades.extend(decisions(replay, model, policy, options, split_ts));
    }
    let backtest = backtest(&trades, options);

    Ok(AlphaForgeReport {
        replays: replays.iter().map(|r| r.name.clone()).collect(),
        horizon_ms: options.horizon_ns / 1_000_000,
        row_interval_ms: options.row_interval_ns / 1_000_000,
        dead_zone_bp: options.dead_zone_bp,
        cost_bp: options.cost_bp,
        split_ts_ns: split_ts,
        rows: RowCounts { train: fit.len(), validation: validation.len(), test: test.len() },
        class_balance_train: train_balance,
        class_balance_test: balance(&test),
        epochs_run,
        best_epoch,
        train_loss,
        validation_loss,
        min_edge,
        min_edge_from_validation: from_validation,
        test: test_metrics,
        backtest,
        model_path: options.out.clone(),
        model_bytes: bytes.len(),
        model_sha256: identity.sha256_hex(),
        weights,
        file_agreement,
        int8_kernel_agreement,
        features: FEATURE_NAMES.to_vec(),
        feature_mean: standardizer.mean.to_vec(),
        feature_std: standardizer.std.to_vec(),
        constant_features: FEATURE_NAMES
            .iter()
            .zip(standardizer.constant)
            .filter(|(_, constant)| *constant)
            .map(|(name, _)| *name)
            .collect(),
    })
}
