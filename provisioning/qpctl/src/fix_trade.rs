//! `qpctl fix trade`: log on to a venue as the initiator with a persistent store, send a
//! scripted list of risk-approved orders, print one line per event, log out. Restarted with the
//! same store after a crash it resumes its sequence numbers and never sends an order already in
//! the store as a new message (`qp_fix_venue::trade`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use qp_fix::Scale;
use qp_fix_store::FsyncPolicy;
use qp_fix_venue::trade::{self, TradeConfig};

/// Boxed: the options are large next to the other `fix` subcommands' arguments.
#[derive(Debug, clap::Args)]
pub struct TradeArgs {
    #[command(flatten)]
    pub options: Box<TradeOptions>,
}

#[derive(Debug, clap::Args)]
pub struct TradeOptions {
    /// The venue's FIX acceptor.
    #[arg(long)]
    pub peer: SocketAddr,
    /// The message store's folder (`<sender>-<target>.fixlog` in it).
    #[arg(long)]
    pub store: PathBuf,
    /// SenderCompID.
    #[arg(long, default_value = "QPNODE")]
    pub sender: String,
    /// TargetCompID.
    #[arg(long, default_value = "EXCH")]
    pub target: String,
    /// Orders to send (intents 1..=N; on a restart those already in the store are skipped).
    #[arg(long)]
    pub orders: u64,
    #[arg(long, default_value = "BTCUSDT")]
    pub symbol: String,
    /// Quantity (decimal text, at --qty-decimals).
    #[arg(long, default_value = "10")]
    pub qty: String,
    /// Limit price (decimal text, at --price-decimals).
    #[arg(long, default_value = "61000.50")]
    pub price: String,
    #[arg(long, default_value_t = 2)]
    pub price_decimals: u8,
    #[arg(long, default_value_t = 0)]
    pub qty_decimals: u8,
    /// Pause between orders (reports are read meanwhile).
    #[arg(long, default_value_t = 10)]
    pub interval_ms: u64,
    /// Cancel every K-th order right after sending it.
    #[arg(long)]
    pub cancel_every: Option<u64>,
    #[arg(long, default_value_t = 30)]
    pub heart_bt_int_s: u64,
    /// Give up after this long.
    #[arg(long, default_value_t = 120)]
    pub timeout_s: u64,
    /// fsync every store write (survives a power loss; default: the OS writes back, which
    /// survives kill -9).
    #[arg(long)]
    pub fsync: bool,
    /// Validate received messages against this FIX44.xml.
    #[arg(long)]
    pub dictionary: Option<PathBuf>,
    /// ClOrdID prefix (letters).
    #[arg(long, default_value = "QP")]
    pub cl_ord_id_prefix: String,
}

pub fn run(args: TradeArgs) -> anyhow::Result<()> {
    let args = *args.options;
    let scale = Scale::new(args.price_decimals, args.qty_decimals);
    let qty_lots = qp_fix::parse_fixed(args.qty.as_bytes(), scale.qty_decimals)
        .map_err(|e| anyhow::anyhow!("--qty {}: {e}", args.qty))?;
    let price_ticks = qp_fix::parse_fixed(args.price.as_bytes(), scale.price_decimals)
        .map_err(|e| anyhow::anyhow!("--price {}: {e}", args.price))?;
    let mut config = TradeConfig::new(args.peer, args.store, args.orders);
    config.sender = args.sender;
    config.target = args.target;
    config.symbol = args.symbol;
    config.qty_lots = qty_lots;
    config.price_ticks = price_ticks;
    config.scale = scale;
    config.interval_ms = args.interval_ms;
    config.cancel_every = args.cancel_every;
    config.heart_bt_int_s = args.heart_bt_int_s;
    config.timeout = Duration::from_secs(args.timeout_s);
    config.fsync = if args.fsync { FsyncPolicy::EveryWrite } else { FsyncPolicy::Never };
    config.dictionary = args.dictionary;
    config.cl_ord_id_prefix = args.cl_ord_id_prefix;
    let stdout = std::io::stdout();
    trade::run(&config, &mut stdout.lock()).context("fix trade")?;
    Ok(())
}
