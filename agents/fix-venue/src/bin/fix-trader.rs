//! `fix-trader`: the scripted order session of `qpctl fix trade` as a small binary of its
//! own, so that this crate's crash tests can run it as a child process and kill it.
//!
//! `fix-trader --peer 127.0.0.1:PORT --store DIR --orders N [--sender QPNODE] [--target EXCH]
//! [--symbol BTCUSDT] [--qty 10] [--price 61000.50] [--price-decimals 2] [--qty-decimals 0]
//! [--interval-ms 10] [--cancel-every K] [--timeout-s 60] [--dictionary FIX44.xml]`
#![allow(clippy::print_stderr)] // a command-line tool reports its error on stderr

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use qp_fix::Scale;
use qp_fix_venue::trade::{self, TradeConfig, TradeError};

fn main() -> ExitCode {
    match parse(std::env::args().skip(1).collect()).and_then(|config| {
        let stdout = std::io::stdout();
        trade::run(&config, &mut stdout.lock())
    }) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fix-trader: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: Vec<String>) -> Result<TradeConfig, TradeError> {
    let bad = |what: &str| TradeError::Argument(what.to_owned());
    let mut values = std::collections::HashMap::new();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let name = flag.strip_prefix("--").ok_or_else(|| bad(&format!("unexpected {flag}")))?.to_owned();
        let value = it.next().ok_or_else(|| bad(&format!("--{name} needs a value")))?;
        values.insert(name, value);
    }
    let get = |name: &str| values.get(name).cloned();
    let peer = get("peer").ok_or_else(|| bad("--peer is required"))?.parse().map_err(|_| bad("--peer"))?;
    let store = PathBuf::from(get("store").ok_or_else(|| bad("--store is required"))?);
    let orders = get("orders").ok_or_else(|| bad("--orders is required"))?.parse().map_err(|_| bad("--orders"))?;
    let mut config = TradeConfig::new(peer, store, orders);
    let number = |name: &str, default: u64| -> Result<u64, TradeError> {
        get(name).map_or(Ok(default), |v| v.parse().map_err(|_| bad(&format!("--{name}"))))
    };
    let price_decimals = number("price-decimals", 2)? as u8;
    let qty_decimals = number("qty-decimals", 0)? as u8;
    config.scale = Scale::new(price_decimals, qty_decimals);
    let fixed = |name: &str, default: i64, decimals: u8| -> Result<i64, TradeError> {
        get(name)
            .map_or(Ok(default), |v| qp_fix::parse_fixed(v.as_bytes(), decimals).map_err(|_| bad(&format!("--{name}"))))
    };
    config.qty_lots = fixed("qty", 10 * 10i64.pow(u32::from(qty_decimals)), qty_decimals)?;
    config.price_ticks = fixed("price", 6_100_050 * 10i64.pow(u32::from(price_decimals)) / 100, price_decimals)?;
    config.interval_ms = number("interval-ms", config.interval_ms)?;
    config.cancel_every = get("cancel-every").map(|v| v.parse().map_err(|_| bad("--cancel-every"))).transpose()?;
    config.timeout = Duration::from_secs(number("timeout-s", 60)?);
    if let Some(v) = get("sender") {
        config.sender = v;
    }
    if let Some(v) = get("target") {
        config.target = v;
    }
    if let Some(v) = get("symbol") {
        config.symbol = v;
    }
    config.dictionary = get("dictionary").map(PathBuf::from);
    Ok(config)
}
