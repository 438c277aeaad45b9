//! `qpctl backtest`: the node's replay (`qp-node demo`: recorded headlines and market data through
//! the five-step loop, RiskSentinel, and the fill simulator on the replayed book) over a window
//! of the recordings, with its summary as text or JSON. Deterministic: the same data, window and
//! configuration give the same summary and output hash.
use std::path::PathBuf;

use qp_loop::LoopConfig;
use qp_node::demo::{DemoOptions, DemoReport, run_demo};

/// `qpctl backtest [--from S] [--to S] [--json]`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// The recorded data (the project's shared data folder).
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// A full loop configuration replacing the embedded default (`[execution]` picks the venue).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// RiskSentinel's limits file (default: the configuration's `[risk] limits`).
    #[arg(long, value_name = "FILE")]
    pub risk_limits: Option<PathBuf>,
    /// Start of the window, seconds after the recordings' first event.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    pub from: f64,
    /// End of the window (exclusive), seconds after the first event; default: the end.
    #[arg(long, value_name = "SECONDS")]
    pub to: Option<f64>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Run the replay over the window and print its summary.
pub fn run(args: BacktestArgs) -> anyhow::Result<()> {
    let mut config = LoopConfig::load(args.config.as_deref())?;
    if let Some(path) = args.risk_limits {
        config.risk.limits = path.display().to_string();
    }
    let window = (args.from, args.to.unwrap_or(f64::INFINITY));
    let options = DemoOptions { window: Some(window), ..DemoOptions::default() };
    let report = run_demo(&config, &args.data, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary_json(&report, window))?);
    } else {
        print!("{report}");
    }
    Ok(())
}

/// The summary as JSON: counts per step, vetoes by reason, orders, fills, P&L, slippage, the
/// output hash (what `qp-node demo` prints, as numbers).
pub fn summary_json(report: &DemoReport, (from, to): (f64, f64)) -> serde_json::Value {
    let counts = report.counts();
    let x = &report.execution;
    let assets: Vec<serde_json::Value> = x
        .assets
        .iter()
        .map(|a| {
            let units = |lots: i64| lots as f64 / 10f64.powi(a.qty_decimals as i32);
            serde_json::json!({
                "symbol": a.symbol,
                "fills": a.fills,
                "bought": units(a.bought_lots),
                "sold": units(a.sold_lots),
                "position": units(a.position_lots),
                "last_mid": a.last_mid_x2 as f64 / 2.0 / 10f64.powi(a.price_decimals as i32),
                "realised": a.realised,
                "unrealised": a.unrealised,
                "fees": a.fees,
                "pnl": a.pnl(),
            })
        })
        .collect();
    let intents: Vec<serde_json::Value> = report
        .intents
        .iter()
        .map(|((symbol, side), (orders, lots))| {
            serde_json::json!({ "symbol": symbol, "side": side, "orders": orders, "lots": lots })
        })
        .collect();
    serde_json::json!({
        "window_s": { "from": from, "to": if to.is_finite() { serde_json::json!(to) } else { serde_json::Value::Null } },
        "events": report.replayed,
        "elapsed_ms": report.elapsed.as_secs_f64() * 1e3,
        "signals": counts.signals,
        "quotes": report.quotes,
        "confirmed": counts.confirmed,
        "decisions": counts.decisions,
        "decisions_by_agent": report.decisions,
        "neuralarb": report.portfolio.arb.as_ref().map(|arb| serde_json::json!({
            "entries": arb.stats.entries,
            "exits": arb.stats.exits,
            "decisions": arb.stats.decisions,
            "vetoes": arb.stats.vetoes,
            "fills": arb.stats.fills,
            "max_abs_z": arb.stats.max_abs_z,
            "position_lots": [arb.positions.0, arb.positions.1],
        })),
        "guardian": report.portfolio.guardian.as_ref().map(|g| serde_json::json!({
            "rebalances": g.stats.ticks,
            "failed": g.errors,
            "parents": g.parents,
            "parents_done": g.parents_done,
            "parents_abandoned": g.parents_abandoned,
            "children": g.children,
            "child_vetoes": g.child_vetoes,
            "filled_lots": g.filled_lots,
            "mean_shortfall_bp": g.mean_shortfall_bp,
            "position_lots": g.positions.iter().map(|(_, lots)| *lots).collect::<Vec<_>>(),
        })),
        "approved": counts.approved,
        "vetoed": counts.vetoed,
        "vetoes_by_reason": report.vetoes,
        "orders": counts.approved,
        "orders_by_asset_and_side": intents,
        "execution": {
            "venue": x.venue,
            "orders": x.orders,
            "fills": x.fills,
            "maker_fills": x.maker_fills,
            "taker_fills": x.taker_fills,
            "expired": x.expired,
            "rejected": x.rejected,
            "cancelled_at_end": x.cancelled_at_end,
            "assets": assets,
        },
        "pnl": { "total": x.pnl(), "realised": x.realised, "unrealised": x.unrealised, "fees": x.fees },
        "slippage_bp": x.slippage_bp,
        "output_hash": report.output_hash,
    })
}
