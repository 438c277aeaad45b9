//! RiskSentinel: sits between the decision and execution agents and approves or vetoes every
//! order, fail-closed.
//!
//! - [`RiskSentinel`] is the pure state machine (no I/O, no clock): instruments, limits,
//!   positions and open orders, the kill switch, rate windows and the VaR book.
//!   [`RiskSentinel::check`] answers a `Decision` with a [`RiskApproved<OrderIntent>`] or a
//!   [`Veto`] carrying its wire [`qp_wire::VetoReason`].
//! - [`RiskApproved`] can only be made here; execution takes orders through
//!   [`ApprovedOrderSink`] (for instance the [`approved_order_ring`]), so an unapproved
//!   intent does not compile there.
//! - [`RiskSentinelAgent`] runs it in the loop. The [`command`] ring
//!   ([`risk_command_ring`]) is how a running agent is reached from outside: limits reloads
//!   (validated and compiled by the sender) and kill-switch commands, with their outcomes.
//! - Limits come from a TOML file ([`RiskLimits`], `limits.example.toml`, compiled into
//!   [`CompiledLimits`]); reloading keeps the old limits when the new text is invalid.
//!
//! The check order, the fail-closed rules, the kill switch and what the type-level guarantee
//! does not cover are in `DESIGN.md` beside this crate.
//!
//! [`RiskApproved<OrderIntent>`]: RiskApproved
//! [`OrderIntent`]: qp_wire::OrderIntent
#![forbid(unsafe_code)]

pub mod agent;
pub mod approved;
pub mod command;
pub mod error;
pub mod instrument;
pub mod kill_switch;
pub mod limits;
pub mod rate;
pub mod sentinel;
pub mod var_book;

pub use agent::RiskSentinelAgent;
pub use approved::{
    ApprovedOrderConsumer, ApprovedOrderProducer, ApprovedOrderSink, RiskApproved, approved_order_ring,
};
pub use command::{RiskCommandError, RiskCommandOutcome, RiskCommandReceiver, RiskCommandSender, risk_command_ring};
pub use error::{CommandError, SentinelError};
pub use instrument::{InstrumentSpec, MICROS_PER_UNIT, value_micros};
pub use kill_switch::{KillSwitchCommand, KillSwitchState, TripCause};
pub use limits::{
    ClassLimits, CompiledLimits, FailClosedLimits, GroupLimits, InstrumentLimits, KillSwitchLimits, LimitsError,
    LimitsFileError, LossTripState, MarginLimits, PortfolioLimits, RateLimits, RiskLimits, VarLimits,
};
pub use sentinel::{AssetExposure, CancelRequest, ExposureSums, OpenOrder, RiskSentinel, SentinelStats, Veto};
pub use var_book::{VAR_CONFIDENCE, VarFigures};
