//! The kill switch: ACTIVE → REDUCING → HALTED, by command or tripped automatically.
//!
//! ```text
//!            Reduce / VaR breach / loss (loss_trip_state = reducing)
//!   ACTIVE ───────────────────────────────────────────────▶ REDUCING
//!     │  ▲                                                    │  ▲
//!     │  └──────── Activate (refused while a breach persists) ┘  │ Reduce
//!     │ Halt / loss (loss_trip_state = halted)                   │
//!     ▼                                                          │
//!   HALTED ◀──────────── Halt / loss (halted) ──────────────────┘
//! ```
//!
//! Trips only tighten (ACTIVE < REDUCING < HALTED); only a command loosens. `Activate` is
//! refused while the daily loss or the book's VaR is beyond its limit; `Reduce` is always
//! accepted (it is how an operator trades out of a breach).
use std::fmt;

/// The switch's state, ordered from most to least permissive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KillSwitchState {
    /// Every order that passes the limits passes.
    Active,
    /// Only risk-reducing orders pass (see [`crate::RiskSentinel::is_risk_reducing`]).
    Reducing,
    /// Nothing passes; open orders are cancelled.
    Halted,
}

impl KillSwitchState {
    pub fn name(self) -> &'static str {
        match self {
            KillSwitchState::Active => "ACTIVE",
            KillSwitchState::Reducing => "REDUCING",
            KillSwitchState::Halted => "HALTED",
        }
    }
}

/// An operator's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KillSwitchCommand {
    Activate,
    Reduce,
    Halt,
}

/// What put the switch in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TripCause {
    Command,
    /// Mark-to-market loss beyond `kill_switch.daily_loss_limit`.
    Loss,
    /// The book's VaR beyond `var.max_var`.
    ValueAtRisk,
}

impl fmt::Display for TripCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TripCause::Command => "command",
            TripCause::Loss => "daily loss",
            TripCause::ValueAtRisk => "VaR",
        })
    }
}

/// The switch and why it is where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KillSwitch {
    pub(crate) state: KillSwitchState,
    pub(crate) cause: TripCause,
}

impl KillSwitch {
    pub(crate) fn new(state: KillSwitchState) -> Self {
        Self { state, cause: TripCause::Command }
    }

    /// Move to `state` if it is stricter; answers whether it moved.
    pub(crate) fn tighten(&mut self, state: KillSwitchState, cause: TripCause) -> bool {
        if state > self.state {
            *self = Self { state, cause };
            true
        } else {
            false
        }
    }
}
