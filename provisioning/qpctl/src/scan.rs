//! `qpctl scan spoofing|darkpool`: score the sensing agents' detectors.
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use qp_alpha_scanner::{SCAN_DURATION_NS, ScanRow, SimulatorConfig, mix_name, spoofing_scan};
use qp_darkpool_scan::{DarkPoolConfig, score_lobster};
use serde_json::json;

const LOBSTER_MESSAGE: &str = "../shared/data/lobster/AAPL_2012-06-21_34200000_57600000_message_10.csv";
const LOBSTER_ORDERBOOK: &str = "../shared/data/lobster/AAPL_2012-06-21_34200000_57600000_orderbook_10.csv";

#[derive(Debug, Subcommand)]
pub enum ScanCommand {
    /// AlphaScanner's spoofing detector on the labelled simulator: precision and
    /// recall per detector configuration × background intensity × episode style.
    Spoofing {
        /// Simulator seed (the same seed gives the same flows and figures).
        #[arg(long, default_value_t = SimulatorConfig::default().seed)]
        seed: u64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also run this many further seeds (seed+1, seed+2, ...) and report each
        /// cell's minimum and mean precision and recall over all of them.
        #[arg(long, default_value_t = 0)]
        more_seeds: u64,
    },
    /// DarkPoolScan's hidden-liquidity flag on LOBSTER executions: type 5
    /// (hidden) recall and precision against type 4 (visible), from print + book only.
    Darkpool {
        /// LOBSTER message file.
        #[arg(long, default_value = LOBSTER_MESSAGE)]
        message: PathBuf,
        /// LOBSTER order-book file (the book after each message).
        #[arg(long, default_value = LOBSTER_ORDERBOOK)]
        orderbook: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: ScanCommand) -> anyhow::Result<()> {
    match command {
        ScanCommand::Spoofing { seed, json, more_seeds } => spoofing(seed, json, more_seeds),
        ScanCommand::Darkpool { message, orderbook, json } => darkpool(&message, &orderbook, json),
    }
}

/// Per cell (detector, flow, episode style) over several seeds: (min, mean) of precision and of recall.
fn seed_spread(runs: &[Vec<ScanRow>], i: usize) -> ((f64, f64), (f64, f64)) {
    let stats = |f: &dyn Fn(&ScanRow) -> f64| {
        let values: Vec<f64> = runs.iter().map(|rows| f(&rows[i])).collect();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        (min, values.iter().sum::<f64>() / values.len() as f64)
    };
    (stats(&|r| r.score.precision()), stats(&|r| r.score.recall()))
}

fn spoofing(seed: u64, as_json: bool, more_seeds: u64) -> anyhow::Result<()> {
    let rows = spoofing_scan(seed);
    let runs: Vec<Vec<ScanRow>> =
        std::iter::once(rows.clone()).chain((1..=more_seeds).map(|k| spoofing_scan(seed.wrapping_add(k)))).collect();
    if as_json {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "detector": r.detector,
                    "intensity": r.intensity.name(),
                    "episode_style": mix_name(r.mix),
                    "episodes": r.score.episodes,
                    "detected": r.score.detected,
                    "hard_negatives": r.score.hard_negatives,
                    "hard_negatives_alarmed": r.score.hard_negatives_alarmed,
                    "alarms": r.score.alarms,
                    "true_alarms": r.score.true_alarms,
                    "precision": r.score.precision(),
                    "recall": r.score.recall(),
                    "events": r.score.events,
                    "book_errors": r.score.book_errors,
                })
            })
            .collect();
        let mut value = json!({ "seed": seed, "duration_s": SCAN_DURATION_NS / 1_000_000_000, "rows": rows });
        if more_seeds > 0 {
            let spread: Vec<_> = runs[0]
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let ((p_min, p_mean), (r_min, r_mean)) = seed_spread(&runs, i);
                    json!({
                        "detector": r.detector,
                        "intensity": r.intensity.name(),
                        "episode_style": mix_name(r.mix),
                        "precision_min": p_min,
                        "precision_mean": p_mean,
                        "recall_min": r_min,
                        "recall_mean": r_mean,
                    })
                })
                .collect();
            value["seeds"] = json!(runs.len());
            value["spread"] = json!(spread);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "spoofing detector on the labelled simulator (seed {seed}, {} s of flow per cell; targets: precision >= 0.90, recall >= 0.80)",
        SCAN_DURATION_NS / 1_000_000_000
    );
    println!(
        "{:<18} {:<8} {:<13} {:>8} {:>8} {:>9} {:>8} {:>7} {:>9} {:>7} {:>8}",
        "detector",
        "flow",
        "episodes",
        "spoofs",
        "detected",
        "negatives",
        "neg-hit",
        "alarms",
        "precision",
        "recall",
        "events"
    );
    for r in &rows {
        let s = &r.score;
        println!(
            "{:<18} {:<8} {:<13} {:>8} {:>8} {:>9} {:>8} {:>7} {:>9.3} {:>7.3} {:>8}",
            r.detector,
            r.intensity.name(),
            mix_name(r.mix),
            s.episodes,
            s.detected,
            s.hard_negatives,
            s.hard_negatives_alarmed,
            s.alarms,
            s.precision(),
            s.recall(),
            s.events
        );
    }
    if more_seeds > 0 {
        println!("\nover seeds {seed}..={}: precision min / mean, recall min / mean", seed.wrapping_add(more_seeds));
        for (i, r) in runs[0].iter().enumerate() {
            let ((p_min, p_mean), (r_min, r_mean)) = seed_spread(&runs, i);
            println!(
                "{:<18} {:<8} {:<13} {p_min:>6.3} / {p_mean:.3}   {r_min:>6.3} / {r_mean:.3}",
                r.detector,
                r.intensity.name(),
                mix_name(r.mix)
            );
        }
    }
    Ok(())
}

fn darkpool(message: &PathBuf, orderbook: &PathBuf, as_json: bool) -> anyhow::Result<()> {
    let messages = std::fs::read_to_string(message).with_context(|| format!("reading {}", message.display()))?;
    let books = std::fs::read_to_string(orderbook).with_context(|| format!("reading {}", orderbook.display()))?;
    let score = score_lobster(&messages, &books, &DarkPoolConfig::default())?;
    if as_json {
        let value = json!({
            "message": message.display().to_string(),
            "type5_prints": score.hidden_prints,
            "type5_flagged_hidden": score.hidden_flagged,
            "type4_prints": score.visible_prints,
            "type4_flagged_hidden": score.visible_flagged,
            "recall": score.recall(),
            "precision": score.precision(),
            "blocks": score.blocks,
            "skipped": score.skipped,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "DarkPoolScan on {} (hidden flag from print + book before it; the type is only the label)",
        message.display()
    );
    println!("  type 5 (hidden) prints:  {:>5}, flagged hidden {:>5}", score.hidden_prints, score.hidden_flagged);
    println!("  type 4 (visible) prints: {:>5}, flagged hidden {:>5}", score.visible_prints, score.visible_flagged);
    println!(
        "  recall {:.3}  precision {:.3}  blocks {}  skipped {}",
        score.recall(),
        score.precision(),
        score.blocks,
        score.skipped
    );
    Ok(())
}
