//! `qpctl forge alpha`: the Decide agent's model from the replayed market data, its hit rate
//! and backtest on the test period against no-skill baselines (`qp_forge::alpha`).
use std::path::PathBuf;

use anyhow::Context;
use qp_forge::alpha::{AlphaForgeOptions, forge_alpha};

#[derive(Debug, clap::Args)]
pub struct AlphaArgs {
    /// The shared data folder (binance/, tfns/).
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// Where to write the model (the loop embeds agents/alpha/models/alpha-v1.onnx).
    #[arg(long, default_value = "agents/alpha/models/alpha-v1.onnx")]
    pub out: PathBuf,
    /// Label horizon: the mid move over this much feed time, ms.
    #[arg(long, default_value_t = 5000)]
    pub horizon_ms: u64,
    /// A row every this much feed time per asset, ms.
    #[arg(long, default_value_t = 250)]
    pub row_interval_ms: u64,
    /// Moves within ±this many bp are labelled flat.
    #[arg(long, default_value_t = 0.5)]
    pub dead_zone_bp: f64,
    /// Round-trip cost per trade in the backtest, bp of notional.
    #[arg(long, default_value_t = 1.0)]
    pub cost_bp: f64,
    /// Decision threshold on |P(up) − P(down)|; default: chosen on the validation period.
    #[arg(long)]
    pub min_edge: Option<f32>,
    /// Seeds of the random-direction baseline.
    #[arg(long, default_value_t = 200)]
    pub random_seeds: u64,
    /// Training seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Training runs (seeds `seed ..`); the one with the lowest validation loss is kept.
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Hidden layer width.
    #[arg(long, default_value_t = 8)]
    pub hidden: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: AlphaArgs) -> anyhow::Result<()> {
    let mut options = AlphaForgeOptions::new(args.data, args.out);
    options.horizon_ns = args.horizon_ms * 1_000_000;
    options.row_interval_ns = args.row_interval_ms.max(1) * 1_000_000;
    options.dead_zone_bp = args.dead_zone_bp;
    options.cost_bp = args.cost_bp;
    options.min_edge = args.min_edge;
    options.random_seeds = args.random_seeds;
    options.train.seed = args.seed;
    options.train.hidden = args.hidden;
    options.seeds = args.seeds;
    let json = args.json;
    let report = forge_alpha(&options, &mut |step| eprintln!("==> {step}")).context("forge alpha")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    println!("alpha model trained on {}", report.replays.join("; "));
    println!(
        "  horizon {} ms, a row every {} ms per asset, flat within ±{} bp; split at feed time {} (first 70 % train)",
        report.horizon_ms, report.row_interval_ms, report.dead_zone_bp, report.split_ts_ns
    );
    println!(
        "  rows: {} train, {} validation, {} test; classes down/flat/up train {:?}, test {:?}",
        report.rows.train,
        report.rows.validation,
        report.rows.test,
        report.class_balance_train.map(|x| (x * 1000.0).round() / 1000.0),
        report.class_balance_test.map(|x| (x * 1000.0).round() / 1000.0)
    );
    println!(
        "  training: best epoch {} of {}, loss train {:.4} validation {:.4} test {:.4}",
        report.best_epoch, report.epochs_run, report.train_loss, report.validation_loss, report.test.loss
    );
    let t = &report.test;
    println!(
        "  test: class accuracy {} (majority class {}); hit rate {} on {} rows it trades (min_edge {:.2}{}), {} on all {} moved rows",
        pct(t.accuracy),
        pct(t.majority_accuracy),
        pct(t.hit_rate),
        t.traded_rows,
        report.min_edge,
        if report.min_edge_from_validation { ", chosen on validation" } else { "" },
        pct(t.hit_rate_all_rows),
        t.moved_rows
    );
    let b = &report.backtest;
    println!(
        "  backtest of the Decide agent on the test period: {} trades ({} at the cadence, {} on Confirmed), hit rate {}",
        b.trades,
        b.cadence_trades,
        b.confirmed_trades,
        pct(b.hit_rate)
    );
    println!(
        "    P&L {:.1} bp after {} bp costs ({:.1} bp gross); random directions {:.1} ± {:.1} bp ({} of seeds at least as good); always long {:.1} bp",
        b.pnl_bp,
        report.cost_bp,
        b.gross_pnl_bp,
        b.random_mean_bp,
        b.random_std_bp,
        pct(b.random_at_least_model),
        b.always_long_bp
    );
    println!("  {}", b.verdict);
    if !report.constant_features.is_empty() {
        println!(
            "  never varied in the training rows, so ignored by the model: {}",
            report.constant_features.join(", ")
        );
    }
    println!(
        "  wrote {} ({} B, {} weights, sha256 {}); decides as the trained network on {} of test rows (native int8 kernel: {})",
        report.model_path.display(),
        report.model_bytes,
        report.weights,
        report.model_sha256,
        pct(report.file_agreement),
        pct(report.int8_kernel_agreement)
    );
    Ok(())
}
