//! The scripted order session behind `qpctl fix trade` (and the `fix-trader` binary of the
//! crash tests): log on as the initiator with a [`FileStore`], send N orders as risk-approved
//! intents, print one line per event, log out. Restarted with the same store it resumes its
//! sequence numbers and never sends an order already in the store as a new message.
//!
//! The intents come from a real [`RiskSentinel`] with permissive limits
//! ([`permissive_sentinel`]): the only way to get a `RiskApproved<OrderIntent>`.

use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use qp_fix::messages::ExecType;
use qp_fix::session::{Event, MessageStore, Role, SessionConfig};
use qp_fix::{Dictionary, Scale};
use qp_fix_store::{FileStore, FsyncPolicy};
use qp_risk_model::ReturnMatrix;
use qp_risk_sentinel::{InstrumentSpec, RiskSentinel};
use qp_wire::{AssetId, Decision, ExecReport, Side, TimeInForce};

use crate::clock::unix_now_ns;
use crate::gateway::{GatewayConfig, GatewayEvent, OrderGateway, Submitted, VenueInstrument};
use crate::initiator::FixInitiator;
use crate::link::{LinkEvent, TransportError};
use crate::venue::VenueGateway;

/// The asset id of the one instrument a scripted session trades.
pub fn trade_asset() -> AssetId {
    AssetId::from_wire(1)
}

/// Limits that pass every order of a scripted session: a real RiskSentinel still checks
/// each one (fail-closed price, rate, open orders), it just never vetoes at these sizes.
pub const PERMISSIVE_LIMITS: &str = r#"
[fail_closed]
max_price_age_ms = 86400000
[kill_switch]
daily_loss_limit = 1000000000000
loss_trip_state = "halted"
[rate]
max_orders_per_sec = 1000000
max_messages_per_sec = 1000000
max_open_orders = 65536
[portfolio]
max_gross_notional = 1000000000000
max_net_notional = 1000000000000
[margin]
collateral = 1000000000000
[var]
max_var = 1000000000000
max_incremental_var = 1000000000000
[classes.crypto]
max_order_qty_lots = 1000000000
max_order_notional = 1000000000000
price_collar_bp = 5000
max_position_lots = 1000000000
max_position_notional = 1000000000000
initial_margin_bp = 0
"#;

/// Why a scripted session failed.
#[derive(Debug, thiserror::Error)]
pub enum TradeError {
    #[error("message store: {0}")]
    Store(#[from] qp_fix_store::StoreError),
    #[error("gateway: {0}")]
    Gateway(#[from] crate::gateway::GatewayError),
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    #[error("dictionary: {0}")]
    Dictionary(#[from] qp_fix::DictionaryError),
    #[error("risk: {0}")]
    Risk(String),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("the connection closed: {0}")]
    Closed(String),
    #[error("writing the event log: {0}")]
    Output(#[from] std::io::Error),
    #[error("invalid argument: {0}")]
    Argument(String),
}

/// What a scripted session does.
#[derive(Debug, Clone)]
pub struct TradeConfig {
    pub peer: SocketAddr,
    /// The FileStore's folder (the session's log is `<store_dir>/<sender>-<target>.fixlog`).
    pub store_dir: PathBuf,
    pub sender: String,
    pub target: String,
    pub orders: u64,
    pub symbol: String,
    /// Order size in lots (`qty / 10^scale.qty_decimals` units).
    pub qty_lots: i64,
    /// Limit price in ticks (`price / 10^scale.price_decimals`).
    pub price_ticks: i64,
    pub scale: Scale,
    /// Pause between orders (reports are read meanwhile).
    pub interval_ms: u64,
    /// Cancel every K-th order right after sending it.
    pub cancel_every: Option<u64>,
    pub heart_bt_int_s: u64,
    /// The whole session's limit.
    pub timeout: Duration,
    pub fsync: FsyncPolicy,
    /// Validate received messages against this FIX44.xml.
    pub dictionary: Option<PathBuf>,
    pub cl_ord_id_prefix: String,
}

impl TradeConfig {
    /// Defaults: QPNODE → EXCH, BTCUSDT 10 @ 61000.50 (2 price decimals), 10 ms apart.
    pub fn new(peer: SocketAddr, store_dir: PathBuf, orders: u64) -> Self {
        Self {
            peer,
            store_dir,
            sender: "QPNODE".to_owned(),
            target: "EXCH".to_owned(),
            orders,
            symbol: "BTCUSDT".to_owned(),
            qty_lots: 10,
            price_ticks: 6_100_050,
            scale: Scale::new(2, 0),
            interval_ms: 10,
            cancel_every: None,
            heart_bt_int_s: 30,
            timeout: Duration::from_secs(60),
            fsync: FsyncPolicy::Never,
            dictionary: None,
            cl_ord_id_prefix: "QP".to_owned(),
        }
    }

    /// The store's session id: `<sender>-<target>`.
    pub fn session_id(&self) -> String {
        format!("{}-{}", self.sender, self.target)
    }
}

/// What a scripted session did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TradeSummary {
    pub sent: u64,
    /// Intents whose order was already in the store.
    pub skipped: u64,
    pub reports: u64,
    pub cancels: u64,
    pub cancel_rejects: u64,
}

/// The instrument of a scripted session as RiskSentinel knows it.
pub fn trade_instrument(symbol: &str, scale: Scale) -> InstrumentSpec {
    InstrumentSpec {
        asset: trade_asset(),
        symbol: symbol.to_owned(),
        class: "crypto".to_owned(),
        groups: Vec::new(),
        price_decimals: scale.price_decimals,
        qty_decimals: scale.qty_decimals,
        contract_multiplier: 1,
    }
}

/// A RiskSentinel over `instrument` with [`PERMISSIVE_LIMITS`], a flat synthetic history,
/// reconciled flat and priced at `price_ticks` at `now_ns`, making good-till-cancel intents
/// from id 1.
pub fn permissive_sentinel(
    instrument: InstrumentSpec,
    price_ticks: i64,
    now_ns: u64,
) -> Result<RiskSentinel, TradeError> {
    const DAYS: usize = 250;
    let returns: Vec<f64> = (0..DAYS).map(|k| ((k * 7_919 % 1_001) as f64 - 500.0) * 1e-6).collect();
    let history = ReturnMatrix::new(DAYS, 1, returns).map_err(|e| TradeError::Risk(e.to_string()))?;
    let asset = instrument.asset;
    let mut sentinel = RiskSentinel::new(vec![instrument], &history, PERMISSIVE_LIMITS)
        .map_err(|e| TradeError::Risk(e.to_string()))?
        .with_time_in_force(TimeInForce::GoodTillCancel);
    sentinel.update_price(asset, price_ticks, now_ns).map_err(|e| TradeError::Risk(e.to_string()))?;
    sentinel.reconciled(&[(asset, 0)]).map_err(|e| TradeError::Risk(e.to_string()))?;
    Ok(sentinel)
}

/// Runs a scripted session (see the module docs), printing one line per event to `out`:
/// `FRESH` or `RESUMED next_sender_seq=.. next_target_seq=.. stored_orders=..`, `LOGON`,
/// `SENT <ClOrdID> seq=<n>`, `SKIP <ClOrdID> already in the store`, `CANCEL <ClOrdID> seq=<n>`,
/// `EXEC <ClOrdID> <ExecType> <OrdStatus> cum=<lots> leaves=<lots> possdup=<Y|N>`,
/// `CANCEL_REJECT <ClOrdID> reason=<n>`, `RESEND_REQUESTED ..`, `RESEND_ANSWERED ..`,
/// `LOGOUT`, `DONE sent=.. skipped=..`.
pub fn run(config: &TradeConfig, out: &mut dyn Write) -> Result<TradeSummary, TradeError> {
    if config.orders == 0 || config.qty_lots <= 0 || config.price_ticks <= 0 {
        return Err(TradeError::Argument("orders, qty and price must be positive".into()));
    }
    let deadline = Instant::now() + config.timeout;
    let dictionary = config.dictionary.as_deref().map(Dictionary::load).transpose()?;
    std::fs::create_dir_all(&config.store_dir)
        .map_err(|source| TradeError::Store(qp_fix_store::StoreError::Io { path: config.store_dir.clone(), source }))?;
    let store = FileStore::open_with(&config.store_dir, &config.session_id(), config.fsync)?;
    let instrument = trade_instrument(&config.symbol, config.scale);
    let gateway_config = GatewayConfig {
        cl_ord_id_prefix: config.cl_ord_id_prefix.clone(),
        account: None,
        expected_orders: (config.orders as usize).min(1 << 20),
    };
    let gateway = OrderGateway::new(vec![VenueInstrument::from_spec(&instrument)], gateway_config)?;
    let (next_sender, next_target) = (store.next_sender_seq(), store.next_target_seq());
    let session = SessionConfig::new(Role::Initiator, &config.sender, &config.target, config.heart_bt_int_s);
    let link = FixInitiator::new(config.peer, session, store, dictionary.as_ref());
    let mut venue = VenueGateway::new(link, gateway);
    let recovered = venue.recover()?;
    if next_sender > 1 {
        line(
            out,
            format_args!(
                "RESUMED next_sender_seq={next_sender} next_target_seq={next_target} stored_orders={}",
                recovered.orders
            ),
        )?;
    } else {
        line(out, format_args!("FRESH"))?;
    }

    let mut run = Run {
        summary: TradeSummary::default(),
        open: HashSet::new(),
        cancels_open: 0,
        reports: Vec::new(),
        logged_on: false,
        closed: None,
    };
    venue.link_mut().connect(unix_now_ns())?;
    run.pump_until(&mut venue, out, deadline, "the Logon answer", |run| run.logged_on)?;

    let mut sentinel = permissive_sentinel(instrument, config.price_ticks, unix_now_ns())?;
    for i in 1..=config.orders {
        let now_ns = unix_now_ns();
        sentinel
            .update_price(trade_asset(), config.price_ticks, now_ns)
            .map_err(|e| TradeError::Risk(e.to_string()))?;
        let side = if !i.is_multiple_of(2) { Side::Buy } else { Side::Sell };
        let decision = Decision::new(i, trade_asset(), side, config.qty_lots, config.price_ticks, 0);
        let approved = sentinel.check(now_ns, &decision).map_err(|veto| TradeError::Risk(veto.to_string()))?;
        let intent_id = approved.get().intent_id.get();
        match venue.submit(now_ns, approved) {
            Ok(Submitted::Sent { cl_ord_id, seq }) => {
                line(out, format_args!("SENT {cl_ord_id} seq={seq}"))?;
                run.summary.sent += 1;
                run.open.insert(intent_id);
                if config.cancel_every.is_some_and(|k| k > 0 && i.is_multiple_of(k)) {
                    let (cancel_id, seq) = venue.cancel_order(unix_now_ns(), intent_id)?;
                    line(out, format_args!("CANCEL {cancel_id} seq={seq}"))?;
                    run.summary.cancels += 1;
                    run.cancels_open += 1;
                }
            }
            Ok(Submitted::AlreadySent { cl_ord_id, order }) => {
                line(out, format_args!("SKIP {cl_ord_id} already in the store"))?;
                run.summary.skipped += 1;
                sentinel.withdraw(order);
            }
            Err(refused) => {
                sentinel.withdraw(refused.order);
                return Err(refused.error.into());
            }
        }
        let until = Instant::now() + Duration::from_millis(config.interval_ms);
        run.pump_until(&mut venue, out, deadline.min(until).max(Instant::now()), "", |_| false)
            .or_else(|e| if matches!(e, TradeError::Timeout(_)) { Ok(()) } else { Err(e) })?;
        run.feed(&mut sentinel);
        if Instant::now() >= deadline {
            return Err(TradeError::Timeout("the orders to be sent"));
        }
    }
    // Every order and cancel sent in this run answered; then a moment for resends.
    run.pump_until(&mut venue, out, deadline, "the execution reports", |run| {
        run.open.is_empty() && run.cancels_open == 0
    })?;
    let quiet = Instant::now() + Duration::from_millis(200);
    let _ = run.pump_until(&mut venue, out, quiet, "", |_| false);
    venue.link_mut().logout(unix_now_ns(), None);
    let logout_deadline = Instant::now() + Duration::from_secs(3);
    let _ = run.pump_until(&mut venue, out, logout_deadline, "", |run| run.closed.is_some());
    let s = run.summary;
    line(
        out,
        format_args!(
            "DONE sent={} skipped={} reports={} cancels={} cancel_rejects={}",
            s.sent, s.skipped, s.reports, s.cancels, s.cancel_rejects
        ),
    )?;
    Ok(s)
}

fn line(out: &mut dyn Write, args: std::fmt::Arguments<'_>) -> Result<(), TradeError> {
    out.write_fmt(args)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

struct Run {
    summary: TradeSummary,
    /// Orders sent in this run without a report yet.
    open: HashSet<u64>,
    /// Cancels sent in this run without an answer yet (Canceled or OrderCancelReject).
    cancels_open: u64,
    /// Reports not yet given to RiskSentinel.
    reports: Vec<ExecReport>,
    logged_on: bool,
    closed: Option<String>,
}

impl Run {
    /// Execution reports to RiskSentinel (positions, open orders).
    fn feed(&mut self, sentinel: &mut RiskSentinel) {
        for report in self.reports.drain(..) {
            sentinel.on_exec_report(&report);
        }
    }

    /// Polls and prints events until `done` or `deadline` (a timeout names `what`; an empty
    /// `what` means the deadline is just the end of a pause).
    fn pump_until<S: MessageStore>(
        &mut self,
        venue: &mut VenueGateway<'_, S>,
        out: &mut dyn Write,
        deadline: Instant,
        what: &'static str,
        done: impl Fn(&Self) -> bool,
    ) -> Result<(), TradeError> {
        let mut idle = 0u32;
        loop {
            let read = venue.poll(unix_now_ns());
            self.drain(venue, out)?;
            if done(self) {
                return Ok(());
            }
            if let Some(reason) = &self.closed
                && !what.is_empty()
            {
                return Err(TradeError::Closed(reason.clone()));
            }
            if Instant::now() >= deadline {
                return if what.is_empty() { Ok(()) } else { Err(TradeError::Timeout(what)) };
            }
            if read == 0 {
                idle = idle.saturating_add(1);
                if idle > 100 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            } else {
                idle = 0;
            }
        }
    }

    fn drain<S: MessageStore>(
        &mut self,
        venue: &mut VenueGateway<'_, S>,
        out: &mut dyn Write,
    ) -> Result<(), TradeError> {
        while let Some(event) = venue.next_link_event() {
            match event {
                LinkEvent::Session(Event::LoggedOn) => {
                    self.logged_on = true;
                    line(out, format_args!("LOGON"))?;
                }
                LinkEvent::Session(Event::LoggedOut { text }) => {
                    line(out, format_args!("LOGOUT {}", text.unwrap_or_default()))?;
                }
                LinkEvent::Session(Event::ResendRequested { begin, end }) => {
                    line(out, format_args!("RESEND_REQUESTED begin={begin} end={end}"))?;
                }
                LinkEvent::Session(Event::ResendAnswered { begin, end }) => {
                    line(out, format_args!("RESEND_ANSWERED begin={begin} end={end}"))?;
                }
                LinkEvent::Session(Event::Disconnect { reason }) => {
                    line(out, format_args!("DISCONNECT {reason:?}"))?;
                }
                LinkEvent::Session(other) => line(out, format_args!("SESSION {other:?}"))?,
                LinkEvent::Closed(reason) => {
                    self.closed = Some(format!("{reason:?}"));
                }
            }
        }
        while let Some(event) = venue.next_event() {
            match event {
                GatewayEvent::Exec { report, cl_ord_id, exec_type, ord_status, poss_dup } => {
                    self.summary.reports += 1;
                    line(
                        out,
                        format_args!(
                            "EXEC {cl_ord_id} {exec_type:?} {ord_status:?} cum={} leaves={} possdup={}",
                            report.cum_qty.get(),
                            report.leaves_qty.get(),
                            if poss_dup { "Y" } else { "N" }
                        ),
                    )?;
                    // Answered: acknowledged or done (a resting order may stay open).
                    self.open.remove(&report.intent_id.get());
                    if exec_type == ExecType::Canceled {
                        self.cancels_open = self.cancels_open.saturating_sub(1);
                    }
                    self.reports.push(report);
                }
                GatewayEvent::CancelRejected { cl_ord_id, cxl_rej_reason, .. } => {
                    self.summary.cancel_rejects += 1;
                    self.cancels_open = self.cancels_open.saturating_sub(1);
                    line(out, format_args!("CANCEL_REJECT {cl_ord_id} reason={}", cxl_rej_reason.unwrap_or(0)))?;
                }
                GatewayEvent::Unmatched { msg_type, reason } => {
                    line(out, format_args!("UNMATCHED {} {reason}", char::from(msg_type)))?;
                }
            }
        }
        Ok(())
    }
}
