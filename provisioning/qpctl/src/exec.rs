//! `qpctl exec …`: execution agents replayed against recorded books.
//!
//! `qpctl exec replay --agent neural-arb|liquidity-flow` reads one or two Binance recordings with
//! the node's decoder and depth synchroniser, routes the agent's decisions through a real
//! RiskSentinel into the fill simulator (`qp_fill_sim`), and prints fills, slippage and P&L.
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use qp_fill_sim::{FeedSpec, FillSimConfig, Liquidity, QueueModel, ReplayConfig, ReplayReport, run_replay};
use qp_liquidity_flow::{Algo, ExecutionSummary, FlowConfig, FlowReplayAgent, ParentOrder};
use qp_neural_arb::{ArbConfig, ArbReplayAgent, ArbStats, HedgeRatio};
use qp_replay::{parse_fixed, read_feed};
use qp_risk_sentinel::InstrumentSpec;
use qp_wire::{AssetId, Side, TimeInForce};

const DEFAULT_SPOT: &str = "../shared/data/binance/spot-btcusdt-20240808.gz";
const DEFAULT_USDM: &str = "../shared/data/binance/usdm-btcusdt-20240808.gz";
const SEC: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentKind {
    NeuralArb,
    LiquidityFlow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlgoKind {
    Twap,
    Pov,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SideArg {
    Buy,
    Sell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueueArg {
    Pessimistic,
    Proportional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HedgeArg {
    /// β = 1: the basis.
    Fixed,
    /// Rolling OLS over the window.
    Ols,
}

#[derive(Debug, Subcommand)]
pub enum ExecCommand {
    /// Replay an agent on a recorded feed; prints fills, slippage and P&L.
    Replay {
        #[arg(long, value_enum)]
        agent: AgentKind,
        /// The recording (neural-arb: the near leg, default spot BTCUSDT; liquidity-flow: default
        /// USD-M BTCUSDT).
        #[arg(long)]
        data: Option<PathBuf>,
        /// neural-arb's far leg (default USD-M BTCUSDT futures).
        #[arg(long)]
        data2: Option<PathBuf>,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
        /// Print one line per fill.
        #[arg(long)]
        fills: bool,
        /// Order and cancel latency to the book, µs of feed time.
        #[arg(long, default_value_t = 1_000)]
        latency_us: u64,
        /// Fee on every fill's notional, basis points.
        #[arg(long, default_value_t = 0.0)]
        fee_bp: f64,
        /// How a resting order's queue follows cancels at its level.
        #[arg(long, value_enum, default_value_t = QueueArg::Pessimistic)]
        queue: QueueArg,
        /// RiskSentinel limits file (default: permissive limits for the replay's instruments).
        #[arg(long)]
        risk_limits: Option<PathBuf>,
        // --- liquidity-flow ---
        #[arg(long, value_enum, default_value_t = AlgoKind::Twap)]
        algo: AlgoKind,
        #[arg(long, value_enum, default_value_t = SideArg::Buy)]
        side: SideArg,
        /// Parent quantity in the instrument's units (BTC).
        #[arg(long, default_value = "2")]
        qty: String,
        /// TWAP slices.
        #[arg(long, default_value_t = 30)]
        slices: u32,
        /// POV participation rate (0.05 = 5 %).
        #[arg(long, default_value_t = 0.05)]
        rate: f64,
        /// Parent limit price (quote currency); default none.
        #[arg(long)]
        limit: Option<String>,
        /// Parent start, seconds after the recording's first line.
        #[arg(long, default_value_t = 10)]
        start_s: u64,
        /// Parent duration, seconds.
        #[arg(long, default_value_t = 300)]
        duration_s: u64,
        // --- neural-arb ---
        #[arg(long, default_value_t = 2.0)]
        entry_z: f64,
        #[arg(long, default_value_t = 0.5)]
        exit_z: f64,
        /// Model window, samples (100 ms apart).
        #[arg(long, default_value_t = 600)]
        window: usize,
        /// One clip of the spread position, in BTC per leg.
        #[arg(long, default_value = "0.01")]
        clip: String,
        #[arg(long, default_value_t = 1)]
        max_clips: i64,
        /// Ticks beyond the far touch for the legs' limits.
        #[arg(long, default_value_t = 0)]
        aggressiveness: i64,
        #[arg(long, value_enum, default_value_t = HedgeArg::Fixed)]
        hedge: HedgeArg,
    },
}

pub fn run(command: ExecCommand) -> anyhow::Result<()> {
    let ExecCommand::Replay {
        agent,
        data,
        data2,
        json,
        fills,
        latency_us,
        fee_bp,
        queue,
        risk_limits,
        algo,
        side,
        qty,
        slices,
        rate,
        limit,
        start_s,
        duration_s,
        entry_z,
        exit_z,
        window,
        clip,
        max_clips,
        aggressiveness,
        hedge,
    } = command;
    let limits_toml = match &risk_limits {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let queue_model = match queue {
        QueueArg::Pessimistic => QueueModel::Pessimistic,
        QueueArg::Proportional => QueueModel::Proportional,
    };
    if !fee_bp.is_finite() || fee_bp < 0.0 {
        bail!("--fee-bp must be a non-negative number");
    }
    let mut config = ReplayConfig {
        sim: FillSimConfig { latency_ns: latency_us.saturating_mul(1_000), queue_model },
        fee_bp,
        limits_toml,
        ..ReplayConfig::default()
    };
    let output = match agent {
        AgentKind::NeuralArb => {
            let near_path = data.unwrap_or_else(|| PathBuf::from(DEFAULT_SPOT));
            let far_path = data2.unwrap_or_else(|| PathBuf::from(DEFAULT_USDM));
            let near = instrument(&near_path, 1)?;
            let far = instrument(&far_path, 2)?;
            let near_feed = read_feed(&near_path)?;
            let far_feed = read_feed(&far_path)?;
            let clip_near = parse_fixed(&clip, u32::from(near.qty_decimals)).context("--clip")?;
            let clip_far = parse_fixed(&clip, u32::from(far.qty_decimals)).context("--clip")?;
            let mut arb_config = ArbConfig::btcusdt(near.asset, far.asset);
            arb_config.near.price_decimals = near.price_decimals;
            arb_config.far.price_decimals = far.price_decimals;
            arb_config.near.clip_lots = clip_near;
            arb_config.far.clip_lots = clip_far;
            arb_config.near.max_order_lots = clip_near.saturating_mul(max_clips.max(1));
            arb_config.far.max_order_lots = clip_far.saturating_mul(max_clips.max(1));
            arb_config.entry_z = entry_z;
            arb_config.exit_z = exit_z;
            arb_config.window = window;
            arb_config.max_clips = max_clips;
            arb_config.aggressiveness_ticks = aggressiveness;
            arb_config.hedge = match hedge {
                HedgeArg::Fixed => HedgeRatio::Fixed(1.0),
                HedgeArg::Ols => HedgeRatio::RollingOls,
            };
            let mut arb = ArbReplayAgent::new(arb_config)?;
            let feeds = [
                FeedSpec { name: near_path.display().to_string(), instrument: near, recording: &near_feed },
                FeedSpec { name: far_path.display().to_string(), instrument: far, recording: &far_feed },
            ];
            let report = run_replay(&feeds, &mut arb, &config)?;
            Output { report, extra: Extra::Arb(arb.agent.stats()) }
        }
        AgentKind::LiquidityFlow => {
            let path = data.unwrap_or_else(|| PathBuf::from(DEFAULT_USDM));
            let spec = instrument(&path, 1)?;
            let feed = read_feed(&path)?;
            let first =
                feed.lines.first().map(|l| l.local_ts_ns).with_context(|| format!("{}: empty", path.display()))?;
            let qty_lots = parse_fixed(&qty, u32::from(spec.qty_decimals)).context("--qty")?;
            let limit_price = match &limit {
                Some(text) => Some(parse_fixed(text, u32::from(spec.price_decimals)).context("--limit")?),
                None => None,
            };
            if !(rate > 0.0 && rate <= 1.0) {
                bail!("--rate must be in (0, 1]");
            }
            let start_ns = first.saturating_add(start_s.saturating_mul(SEC));
            let parent = ParentOrder {
                asset: spec.asset,
                side: match side {
                    SideArg::Buy => Side::Buy,
                    SideArg::Sell => Side::Sell,
                },
                qty_lots,
                limit_price,
                start_ns,
                end_ns: start_ns.saturating_add(duration_s.saturating_mul(SEC)),
                algo: match algo {
                    AlgoKind::Twap => Algo::Twap { slices },
                    AlgoKind::Pov => Algo::Pov { rate_bp: (rate * 10_000.0).round() as u32 },
                },
            };
            let mut flow = FlowReplayAgent::new(FlowConfig::new(parent))?;
            config.time_in_force = TimeInForce::GoodTillCancel;
            let feeds = [FeedSpec { name: path.display().to_string(), instrument: spec, recording: &feed }];
            let report = run_replay(&feeds, &mut flow, &config)?;
            Output { report, extra: Extra::Flow(flow.agent.summary(), parent) }
        }
    };
    let decimals: Vec<(AssetId, u8, u8)> =
        output.report.feeds.iter().map(|f| (f.asset, price_decimals(&f.symbol), qty_decimals(&f.symbol))).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&to_json(&output, &decimals, fills))?);
    } else {
        print_summary(&output, &decimals, fills);
    }
    Ok(())
}

/// Asset id, symbol and decimals from a shared recording's file name.
fn instrument(path: &Path, asset: u32) -> anyhow::Result<InstrumentSpec> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
    let symbol = if name.contains("usdm-btcusdt") {
        "BTCUSDT-PERP"
    } else if name.contains("spot-btcusdt") {
        "BTCUSDT"
    } else if name.contains("spot-ethusdt") {
        "ETHUSDT"
    } else {
        bail!("{}: not one of the shared Binance recordings (usdm-btcusdt, spot-btcusdt, spot-ethusdt)", path.display())
    };
    Ok(InstrumentSpec {
        asset: AssetId::from_wire(asset),
        symbol: symbol.into(),
        class: "crypto".into(),
        groups: vec!["venue:binance".into()],
        price_decimals: price_decimals(symbol),
        qty_decimals: qty_decimals(symbol),
        contract_multiplier: 1,
    })
}

/// As `qpctl book binance` reads them: spot sizes carry 6 (BTC) or 5 (ETH) decimals.
fn price_decimals(symbol: &str) -> u8 {
    if symbol == "BTCUSDT-PERP" { 1 } else { 2 }
}

fn qty_decimals(symbol: &str) -> u8 {
    match symbol {
        "BTCUSDT-PERP" => 3,
        "ETHUSDT" => 5,
        _ => 6,
    }
}

#[derive(Debug)]
enum Extra {
    Arb(ArbStats),
    Flow(ExecutionSummary, ParentOrder),
}

#[derive(Debug)]
struct Output {
    report: ReplayReport,
    extra: Extra,
}

fn scale(value: i64, decimals: u8) -> f64 {
    value as f64 / 10f64.powi(i32::from(decimals))
}

fn decimals_of(decimals: &[(AssetId, u8, u8)], asset: AssetId) -> (u8, u8) {
    decimals.iter().find(|d| d.0 == asset).map_or((0, 0), |d| (d.1, d.2))
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn liquidity_name(liquidity: Liquidity) -> &'static str {
    match liquidity {
        Liquidity::Maker => "maker",
        Liquidity::Taker => "taker",
    }
}

fn to_json(output: &Output, decimals: &[(AssetId, u8, u8)], with_fills: bool) -> serde_json::Value {
    let r = &output.report;
    let feeds: Vec<serde_json::Value> = r
        .feeds
        .iter()
        .map(|f| {
            let (pd, qd) = decimals_of(decimals, f.asset);
            serde_json::json!({
                "file": f.name,
                "symbol": f.symbol,
                "depth_updates": f.depth_updates,
                "trades": f.trades,
                "gaps": f.gaps,
                "market_volume": scale(f.market_volume_lots, qd),
                "first_mid": scale(f.first_mid_x2, pd) / 2.0,
                "last_mid": scale(f.last_mid_x2, pd) / 2.0,
                "bought": scale(f.bought_lots, qd),
                "sold": scale(f.sold_lots, qd),
                "position": scale(f.position_lots, qd),
                "realised": f.realised,
                "unrealised": f.unrealised,
                "fees": f.fees,
            })
        })
        .collect();
    let fills: Vec<serde_json::Value> = r
        .fills
        .iter()
        .map(|f| {
            let (pd, qd) = decimals_of(decimals, f.asset);
            serde_json::json!({
                "ts_ns": f.ts_ns,
                "intent_id": f.intent_id,
                "asset": f.asset.get(),
                "side": side_name(f.side),
                "qty": scale(f.qty_lots, qd),
                "price": scale(f.price, pd),
                "liquidity": liquidity_name(f.liquidity),
                "arrival_mid": scale(f.arrival_mid_x2, pd) / 2.0,
                "slippage_bp": f.slippage_bp,
            })
        })
        .collect();
    let extra = match &output.extra {
        Extra::Arb(s) => serde_json::json!({
            "neural_arb": {
                "entries": s.entries, "exits": s.exits, "decisions": s.decisions, "vetoes": s.vetoes,
                "fills": s.fills, "samples": s.samples, "max_abs_z": s.max_abs_z,
            }
        }),
        Extra::Flow(s, parent) => {
            let (pd, qd) = decimals_of(decimals, parent.asset);
            serde_json::json!({
                "liquidity_flow": {
                    "algo": match parent.algo { Algo::Twap { slices } => format!("twap/{slices}"), Algo::Pov { rate_bp } => format!("pov/{rate_bp}bp") },
                    "side": side_name(parent.side),
                    "qty": scale(parent.qty_lots, qd),
                    "filled": scale(s.filled_lots, qd),
                    "fill_rate": s.fill_rate,
                    "arrival_mid": scale(s.arrival_mid_x2, pd) / 2.0,
                    "avg_price": s.avg_price / 10f64.powi(i32::from(pd)),
                    "shortfall_bp": s.shortfall_bp,
                    "participation": s.participation,
                    "market_volume": scale(s.market_volume_lots, qd),
                    "children": s.children,
                    "cancels": s.cancels,
                    "passive_fills": s.passive_fills,
                    "aggressive_fills": s.aggressive_fills,
                    "passive_share": if s.filled_lots > 0 { s.passive_lots as f64 / s.filled_lots as f64 } else { 0.0 },
                    "duration_s": (s.last_fill_ns.saturating_sub(parent.start_ns)) as f64 / 1e9,
                }
            })
        }
    };
    let mut value = serde_json::json!({
        "events": r.events,
        "feeds": feeds,
        "decisions": r.decisions,
        "approved": r.approved,
        "vetoed": r.vetoed,
        "cancels_sent": r.cancels_sent,
        "fills": r.fills.len(),
        "maker_fills": r.sim.maker_fills,
        "taker_fills": r.sim.taker_fills,
        "expired": r.sim.expired,
        "slippage_bp": r.slippage_bp,
        "pnl": {
            "realised": r.pnl.realised,
            "unrealised": r.pnl.unrealised,
            "fees": r.pnl.fees,
            "total": r.pnl.total,
        },
        "risk_sentinel_pnl": r.sentinel_pnl_micros as f64 / 1e6,
        "agent": extra,
    });
    if with_fills {
        value["fill_list"] = serde_json::Value::Array(fills);
    }
    value
}

fn print_summary(output: &Output, decimals: &[(AssetId, u8, u8)], with_fills: bool) {
    let r = &output.report;
    println!("replayed {} events over {:.1} s", r.events, r.last_ts_ns.saturating_sub(r.first_ts_ns) as f64 / 1e9);
    for f in &r.feeds {
        let (pd, qd) = decimals_of(decimals, f.asset);
        println!(
            "  {} ({}): mid {:.2} → {:.2}; bought {} sold {} position {}; realised {:.4} unrealised {:.4} fees {:.4}",
            f.symbol,
            f.name,
            scale(f.first_mid_x2, pd) / 2.0,
            scale(f.last_mid_x2, pd) / 2.0,
            scale(f.bought_lots, qd),
            scale(f.sold_lots, qd),
            scale(f.position_lots, qd),
            f.realised,
            f.unrealised,
            f.fees
        );
    }
    println!(
        "decisions {} (approved {}, vetoed {}), cancels {}; fills {} ({} maker, {} taker), {} IOC remainders expired",
        r.decisions,
        r.approved,
        r.vetoed,
        r.cancels_sent,
        r.fills.len(),
        r.sim.maker_fills,
        r.sim.taker_fills,
        r.sim.expired
    );
    println!("slippage vs each order's arrival mid: {:.3} bp (notional-weighted; cost > 0)", r.slippage_bp);
    println!(
        "P&L: realised {:.4}, unrealised {:.4}, fees {:.4}, total {:.4} (RiskSentinel's mark: {:.4})",
        r.pnl.realised,
        r.pnl.unrealised,
        r.pnl.fees,
        r.pnl.total,
        r.sentinel_pnl_micros as f64 / 1e6
    );
    match &output.extra {
        Extra::Arb(s) => println!(
            "neural-arb: {} entries, {} exits, {} decisions, {} vetoes, max |z| {:.2}",
            s.entries, s.exits, s.decisions, s.vetoes, s.max_abs_z
        ),
        Extra::Flow(s, parent) => {
            let (pd, qd) = decimals_of(decimals, parent.asset);
            println!(
                "liquidity-flow: {} {} {:?}: filled {} of {} ({:.1} %), arrival mid {:.2}, average {:.2}, \
                 implementation shortfall {:.3} bp, participation {:.2} % of {} printed, {} children, {} cancels, \
                 {:.0} % filled passively",
                side_name(parent.side),
                scale(parent.qty_lots, qd),
                parent.algo,
                scale(s.filled_lots, qd),
                scale(parent.qty_lots, qd),
                s.fill_rate * 100.0,
                scale(s.arrival_mid_x2, pd) / 2.0,
                s.avg_price / 10f64.powi(i32::from(pd)),
                s.shortfall_bp,
                s.participation * 100.0,
                scale(s.market_volume_lots, qd),
                s.children,
                s.cancels,
                if s.filled_lots > 0 { s.passive_lots as f64 / s.filled_lots as f64 * 100.0 } else { 0.0 }
            );
        }
    }
    if with_fills {
        for f in &r.fills {
            let (pd, qd) = decimals_of(decimals, f.asset);
            println!(
                "fill {} intent {} asset {} {} {} @ {} {} (arrival mid {:.3}, {:+.3} bp)",
                f.ts_ns,
                f.intent_id,
                f.asset.get(),
                side_name(f.side),
                scale(f.qty_lots, qd),
                scale(f.price, pd),
                liquidity_name(f.liquidity),
                scale(f.arrival_mid_x2, pd) / 2.0,
                f.slippage_bp
            );
        }
    }
}
