//! `qpctl risk parity|var`: Guardian's risk-parity weights and the VaR figures
//! and backtests RiskSentinel's limits are set against.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use qp_risk_model::{BacktestReport, PriceTable, TailRisk, parity_report, var_report};
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// Equal-risk-contribution weights (variance, long-only, fully invested) from
    /// the last N daily returns of a price CSV (`Date,ASSET,…`).
    Parity {
        #[arg(long)]
        prices: PathBuf,
        /// Comma-separated asset columns.
        #[arg(long, value_delimiter = ',', required = true)]
        assets: Vec<String>,
        /// Returns in the covariance window.
        #[arg(long, default_value_t = 200)]
        window: usize,
        #[arg(long)]
        json: bool,
    },
    /// 1-day historical and parametric VaR and CVaR of a weighted portfolio over
    /// the last N returns, and rolling N-day backtests over the whole history
    /// (exceptions, Kupiec's proportion-of-failures p-value, Basel traffic light).
    Var {
        #[arg(long)]
        prices: PathBuf,
        #[arg(long, value_delimiter = ',', required = true)]
        assets: Vec<String>,
        /// Comma-separated weights, one per asset (fractions of portfolio value);
        /// default: equal weights.
        #[arg(long, value_delimiter = ',')]
        weights: Vec<f64>,
        #[arg(long, default_value_t = 250)]
        window: usize,
        #[arg(long, default_value_t = 0.99)]
        confidence: f64,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: RiskCommand) -> anyhow::Result<()> {
    match command {
        RiskCommand::Parity { prices, assets, window, json } => parity(&prices, &assets, window, json),
        RiskCommand::Var { prices, assets, weights, window, confidence, json } => {
            var(&prices, &assets, weights, window, confidence, json)
        }
    }
}

fn read_prices(path: &Path) -> anyhow::Result<PriceTable> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    PriceTable::parse_csv(&text).with_context(|| format!("parsing {}", path.display()))
}

fn parity(path: &Path, assets: &[String], window: usize, as_json: bool) -> anyhow::Result<()> {
    let report = parity_report(&read_prices(path)?, assets, window)?;
    let named = |values: &[f64]| -> BTreeMap<&str, f64> {
        report.assets.iter().map(String::as_str).zip(values.iter().copied()).collect()
    };
    if as_json {
        let out = json!({
            "weights": named(&report.solution.weights),
            "risk_contributions": named(&report.solution.risk_contributions),
            "iterations": report.solution.iterations,
            "residual": report.solution.residual,
            "window": window,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("risk parity over the last {window} returns ({} iterations)", report.solution.iterations);
    println!("  {:<8} {:>12} {:>14}", "asset", "weight", "risk share");
    for ((asset, w), rc) in report.assets.iter().zip(&report.solution.weights).zip(&report.solution.risk_contributions)
    {
        println!("  {asset:<8} {w:>12.8} {rc:>14.12}");
    }
    Ok(())
}

fn tail_json(tail: &TailRisk) -> Value {
    json!({ "var": tail.var, "cvar": tail.cvar })
}

fn backtest_json(b: &BacktestReport) -> Value {
    json!({
        "window": b.window,
        "observations": b.observations,
        "exceptions": b.exceptions,
        "kupiec_likelihood_ratio": b.kupiec.likelihood_ratio,
        "kupiec_p_value": b.kupiec.p_value,
        "traffic_light": b.zone.as_str(),
    })
}

fn var(
    path: &Path,
    assets: &[String],
    mut weights: Vec<f64>,
    window: usize,
    confidence: f64,
    as_json: bool,
) -> anyhow::Result<()> {
    if weights.is_empty() {
        weights = vec![1.0 / assets.len() as f64; assets.len()];
    }
    anyhow::ensure!(
        weights.len() == assets.len(),
        "--weights has {} values for {} assets",
        weights.len(),
        assets.len()
    );
    let report = var_report(&read_prices(path)?, assets, &weights, window, confidence)?;
    if as_json {
        let out = json!({
            "assets": report.assets,
            "weights": report.weights,
            "confidence": report.confidence,
            "window": report.window,
            "historical": tail_json(&report.historical),
            "parametric": tail_json(&report.parametric),
            "backtest": {
                "historical": backtest_json(&report.historical_backtest),
                "parametric": backtest_json(&report.parametric_backtest),
            },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "1-day VaR at {:.1}% over the last {} returns (fractions of portfolio value)",
        confidence * 100.0,
        report.window
    );
    println!("  historical  VaR {:.6}  CVaR {:.6}", report.historical.var, report.historical.cvar);
    println!("  parametric  VaR {:.6}  CVaR {:.6}", report.parametric.var, report.parametric.cvar);
    for (name, b) in [("historical", &report.historical_backtest), ("parametric", &report.parametric_backtest)] {
        println!(
            "  backtest {name}: {} exceptions in {} days, Kupiec p = {:.4}, zone {}",
            b.exceptions,
            b.observations,
            b.kupiec.p_value,
            b.zone.as_str()
        );
    }
    Ok(())
}
