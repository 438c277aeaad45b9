//! `qpctl book lobster|binance`: rebuild books from recorded feeds and check them.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use qp_book::binance::{BinanceReplay, BinanceReplayReport, PrintReconcilerStats, split_feed_line};
use qp_book::lobster::{LobsterCheckReport, LobsterMismatchKind, check_lobster, parse_book_rows, parse_messages};
use qp_book::{BookSide, Grid, Level};
use qp_loop::MarketFeed;

#[derive(Debug, Subcommand)]
pub enum BookCommand {
    /// Check a LOBSTER sample: row k−1 plus message k against row k, one step at a
    /// time on the levels they determine, plus a continuous replay for information.
    Lobster {
        /// The `_message_N.csv` file.
        #[arg(long)]
        message: PathBuf,
        /// The `_orderbook_N.csv` file.
        #[arg(long)]
        orderbook: PathBuf,
        /// Price tick in LOBSTER's units (USD × 10,000); 100 is one cent.
        #[arg(long, default_value_t = 100)]
        tick: i64,
        /// Size lot in shares.
        #[arg(long, default_value_t = 1)]
        lot: i64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay a gzipped Binance recording (`<local ns> <json>` lines) into a
    /// synchronised L2 book; check book tickers against it; measure throughput.
    Binance {
        /// The recording (`*.gz`).
        file: PathBuf,
        /// Decimals of prices (default from the file name: usdm-btcusdt 1, spot-btcusdt 2, spot-ethusdt 2).
        #[arg(long)]
        price_decimals: Option<u32>,
        /// Decimals of sizes (default from the file name: usdm-btcusdt 3, spot-btcusdt 6, spot-ethusdt 5).
        #[arg(long)]
        qty_decimals: Option<u32>,
        /// Timed passes over the decompressed file; the fastest gives `events_per_s`.
        #[arg(long, default_value_t = 5)]
        passes: u32,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: BookCommand) -> anyhow::Result<()> {
    match command {
        BookCommand::Lobster { message, orderbook, tick, lot, json } => {
            let report = lobster(&message, &orderbook, tick, lot)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&lobster_json(&report))?);
            } else {
                print_lobster(&report);
            }
            Ok(())
        }
        BookCommand::Binance { file, price_decimals, qty_decimals, passes, json } => {
            let (default_price, default_qty) = binance_decimals(&file).unzip();
            let price_decimals = price_decimals.or(default_price).with_context(|| {
                format!("{}: no default precision for this file name; pass --price-decimals", file.display())
            })?;
            let qty_decimals = qty_decimals.or(default_qty).with_context(|| {
                format!("{}: no default precision for this file name; pass --qty-decimals", file.display())
            })?;
            let run = binance(&file, price_decimals, qty_decimals, passes.max(1))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&binance_json(&run))?);
            } else {
                print_binance(&file, &run);
            }
            Ok(())
        }
    }
}

fn lobster(message: &Path, orderbook: &Path, tick: i64, lot: i64) -> anyhow::Result<LobsterCheckReport> {
    let read = |path: &Path| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
    let messages = parse_messages(&read(message)?).with_context(|| format!("{}", message.display()))?;
    let rows = parse_book_rows(&read(orderbook)?).with_context(|| format!("{}", orderbook.display()))?;
    let grid = Grid::new(tick, lot)?;
    Ok(check_lobster(&messages, &rows, grid)?)
}

fn level_json(level: Option<Level>) -> serde_json::Value {
    level.map_or(serde_json::Value::Null, |l| serde_json::json!({ "price": l.price, "qty": l.qty }))
}

fn side_name(side: BookSide) -> &'static str {
    match side {
        BookSide::Bid => "bid",
        BookSide::Ask => "ask",
    }
}

fn lobster_json(report: &LobsterCheckReport) -> serde_json::Value {
    let first_mismatch = report.first_mismatch.as_ref().map(|m| match &m.kind {
        LobsterMismatchKind::Level { side, level, expected, got } => serde_json::json!({
            "row": m.row,
            "side": side_name(*side),
            "level": level,
            "expected": level_json(*expected),
            "got": level_json(*got),
        }),
        LobsterMismatchKind::Refused(error) => serde_json::json!({ "row": m.row, "refused": error.to_string() }),
    });
    serde_json::json!({
        "messages": report.messages,
        "rows_compared": report.rows_compared,
        "rows_matched": report.rows_matched,
        "rows_matched_all_levels": report.rows_matched_all_levels,
        "rows_unknowable_level": report.rows_unknowable_level,
        "first_mismatch": first_mismatch,
        "continuous_rows_matched": report.continuous_rows_matched,
        "continuous_refused": report.continuous_refused,
    })
}

fn print_lobster(report: &LobsterCheckReport) {
    println!("messages                 {}", report.messages);
    println!(
        "one step at a time       {} of {} rows right on the determined levels ({} on all levels; {} with a level \
         surfacing from beyond the last, unknowable)",
        report.rows_matched, report.rows_compared, report.rows_matched_all_levels, report.rows_unknowable_level
    );
    match &report.first_mismatch {
        None => println!("first mismatch           none"),
        Some(m) => match &m.kind {
            LobsterMismatchKind::Level { side, level, expected, got } => {
                println!(
                    "first mismatch           row {}, {} level {level}: expected {expected:?}, got {got:?}",
                    m.row,
                    side_name(*side)
                );
            }
            LobsterMismatchKind::Refused(error) => println!("first mismatch           row {}: {error}", m.row),
        },
    }
    println!(
        "continuous replay        {} of {} rows right on all levels ({} messages refused: size the book never saw)",
        report.continuous_rows_matched, report.rows_compared, report.continuous_refused
    );
}

/// Default (price, qty) decimals for the shared recordings, from the file name. Spot
/// sizes carry one more decimal than the current lot in a few far-from-touch levels
/// (legacy orders), so spot BTCUSDT needs 6 and ETHUSDT 5.
fn binance_decimals(file: &Path) -> Option<(u32, u32)> {
    let name = file.file_name()?.to_str()?.to_ascii_lowercase();
    if name.contains("usdm-btcusdt") {
        Some((1, 3))
    } else if name.contains("spot-btcusdt") {
        Some((2, 6))
    } else if name.contains("spot-ethusdt") {
        Some((2, 5))
    } else {
        None
    }
}

#[derive(Debug)]
struct BinanceRun {
    report: BinanceReplayReport,
    price_decimals: u32,
    qty_decimals: u32,
    bytes: usize,
    gunzip: Duration,
    best_pass: Duration,
    passes: u32,
    /// Trade prints judged against the book around their exchange time (one more pass, through the node's feed).
    prints: PrintReconcilerStats,
    reconciling_pass: Duration,
}

/// One pass through the node's own feed path (`qp_loop::MarketFeed`): decode, apply,
/// and judge every trade print against the book around its exchange time.
fn reconcile_prints(
    file: &Path,
    bytes: &[u8],
    price_decimals: u32,
    qty_decimals: u32,
) -> anyhow::Result<(PrintReconcilerStats, Duration)> {
    let started = Instant::now();
    let mut feed = MarketFeed::new(price_decimals, qty_decimals)?;
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let (_, json) = split_feed_line(line).with_context(|| format!("{}:{}", file.display(), index + 1))?;
        feed.on_message(json, |_, _| {}).with_context(|| format!("{}:{}", file.display(), index + 1))?;
    }
    feed.flush(|_, _| {});
    Ok((feed.print_stats(), started.elapsed()))
}

fn binance(file: &Path, price_decimals: u32, qty_decimals: u32, passes: u32) -> anyhow::Result<BinanceRun> {
    let started = Instant::now();
    let compressed = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .read_to_end(&mut bytes)
        .with_context(|| format!("decompressing {}", file.display()))?;
    let gunzip = started.elapsed();
    let grid = Grid::new(1, 1)?;
    let mut report = None;
    let mut best_pass = Duration::MAX;
    for _ in 0..passes {
        let started = Instant::now();
        let mut replay = BinanceReplay::new(grid, price_decimals, qty_decimals);
        for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let (_, json) = split_feed_line(line).with_context(|| format!("{}:{}", file.display(), index + 1))?;
            replay.apply_json(json).with_context(|| format!("{}:{}", file.display(), index + 1))?;
        }
        best_pass = best_pass.min(started.elapsed());
        report = Some(replay.report());
    }
    let Some(report) = report else { bail!("no pass ran") };
    let (prints, reconciling_pass) = reconcile_prints(file, &bytes, price_decimals, qty_decimals)?;
    Ok(BinanceRun {
        report,
        price_decimals,
        qty_decimals,
        bytes: bytes.len(),
        gunzip,
        best_pass,
        passes,
        prints,
        reconciling_pass,
    })
}

fn events_per_s(run: &BinanceRun) -> f64 {
    run.report.events as f64 / run.best_pass.as_secs_f64().max(1e-9)
}

fn binance_json(run: &BinanceRun) -> serde_json::Value {
    let r = &run.report;
    serde_json::json!({
        "events": r.events,
        "depth_updates": r.depth_updates,
        "snapshots": r.snapshots,
        "trades": r.trades,
        "gaps": r.gaps,
        "stale_dropped": r.stale_dropped,
        "ticker_compared": r.ticker_compared,
        "ticker_matched": r.ticker_matched,
        "ticker_not_comparable": r.ticker_not_comparable,
        "crossed": r.crossed,
        "refused_levels": r.refused_levels,
        "synchronised": r.synchronised,
        "first_ticker_mismatch_update_id": r.first_ticker_mismatch_update_id,
        "price_decimals": run.price_decimals,
        "qty_decimals": run.qty_decimals,
        "decompressed_bytes": run.bytes,
        "gunzip_s": run.gunzip.as_secs_f64(),
        "replay_s": run.best_pass.as_secs_f64(),
        "passes": run.passes,
        "events_per_s": events_per_s(run).round(),
        "prints": {
            "received": run.prints.received,
            "delivered": run.prints.delivered,
            "dropped_unsynchronised": run.prints.dropped_unsynchronised,
            "explained_at_print": run.prints.explained_at_print,
            "explained_before_same_ms": run.prints.explained_before_same_ms,
            "explained_within_aggregate": run.prints.explained_within_aggregate,
            "unexplained": run.prints.unexplained,
            "judged_late": run.prints.judged_late,
            "judged_flushed": run.prints.judged_flushed,
        },
        "events_per_s_with_prints": (run.report.events as f64 / run.reconciling_pass.as_secs_f64().max(1e-9)).round(),
    })
}

fn print_binance(file: &Path, run: &BinanceRun) {
    let r = &run.report;
    println!("{} (prices {} decimals, sizes {})", file.display(), run.price_decimals, run.qty_decimals);
    println!(
        "events {}: {} depth updates ({} stale before the snapshot), {} snapshot(s), {} trades",
        r.events, r.depth_updates, r.stale_dropped, r.snapshots, r.trades
    );
    println!(
        "book: {} gaps, {} diffs that would have crossed, {} levels refused, {}",
        r.gaps,
        r.crossed,
        r.refused_levels,
        if r.synchronised { "synchronised at the end" } else { "NOT synchronised at the end" }
    );
    println!(
        "book tickers: {} of {} comparable ones match the book ({} not comparable: the book is not known at their update id)",
        r.ticker_matched, r.ticker_compared, r.ticker_not_comparable
    );
    println!(
        "throughput: {:.2} M events/s parse+apply on one core (best of {} passes, {:.1} ms); gunzip {:.1} ms for {:.1} MB",
        events_per_s(run) / 1e6,
        run.passes,
        run.best_pass.as_secs_f64() * 1e3,
        run.gunzip.as_secs_f64() * 1e3,
        run.bytes as f64 / 1e6
    );
    let p = &run.prints;
    println!(
        "trade prints judged around their exchange time: {} of {} unexplained by the visible book \
         ({} explained at the print, {} only before its own ms, {} only within the diff's aggregate; \
         {} judged late, {} at a resync or the end, {} dropped before the book was synchronised); \
         {:.2} M events/s with reconciliation",
        p.unexplained,
        p.delivered,
        p.explained_at_print,
        p.explained_before_same_ms,
        p.explained_within_aggregate,
        p.judged_late,
        p.judged_flushed,
        p.dropped_unsynchronised,
        run.report.events as f64 / run.reconciling_pass.as_secs_f64().max(1e-9) / 1e6
    );
}
