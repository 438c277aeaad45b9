//! The command ring: the one way to reach a running [`crate::RiskSentinelAgent`] from outside
//! its stage (an operator's command, a SIGHUP reload).
//!
//! ```text
//!   node / loop thread                               risk stage's worker thread
//!   RiskCommandSender ──── commands (bounded SPSC) ───▶ RiskCommandReceiver ─▶ RiskSentinel
//!     reload_limits: parse + validate + compile here        applied before the next frame
//!     kill_switch                                           (or at the next idle round)
//!                     ◀─── outcomes (bounded SPSC) ────
//!     try_outcome: applied / refused: why (old limits come back here to be freed)
//! ```
//!
//! - **Typed and bounded.** A command is a [`KillSwitchCommand`] or a boxed
//!   [`CompiledLimits`]; both rings have the capacity given to [`risk_command_ring`]. Nothing
//!   blocks: a full command ring is refused at the sender ([`RiskCommandError::Full`]).
//! - **Invalid limits never reach the agent.** [`RiskCommandSender::reload_limits`] parses,
//!   validates and compiles on the sender's thread, against a copy of the sentinel's own
//!   instrument table, and refuses an invalid text there with the file's name and where
//!   (TOML line and column, or the key). The old limits stay in force.
//! - **The agent side allocates nothing.** It swaps the new limits in and sends the old box
//!   back on the outcome ring, so the sender frees it. (A reload that raises a rate limit or
//!   `max_open_orders` above every earlier value grows the preallocated windows once.) The
//!   agent takes a command only while the outcome ring has room, so every command gets exactly
//!   one outcome; a sender that never reads outcomes stalls its own commands, never the agent.
//! - **Outcomes.** Each command gets a sequence number; its [`RiskCommandOutcome`] says applied
//!   or refused and why, e.g. `Activate` refused while a loss or VaR breach persists.
use std::fmt;

use rtrb::{Consumer, Producer, RingBuffer};

use crate::error::CommandError;
use crate::instrument::InstrumentTable;
use crate::kill_switch::{KillSwitchCommand, KillSwitchState};
use crate::limits::{CompiledLimits, LimitsFileError};
use crate::sentinel::RiskSentinel;

/// A command on its way to the agent.
#[derive(Debug)]
struct CommandMsg {
    seq: u64,
    body: CommandBody,
}

#[derive(Debug)]
enum CommandBody {
    Limits(Box<CompiledLimits>),
    KillSwitch(KillSwitchCommand),
}

/// An outcome on its way back; boxes of limits travel back to be freed by the sender.
#[derive(Debug)]
enum OutcomeMsg {
    LimitsApplied { seq: u64, _retired: Box<CompiledLimits> },
    LimitsRefused { seq: u64, reason: &'static str, _limits: Box<CompiledLimits> },
    KillSwitch { seq: u64, command: KillSwitchCommand, result: Result<KillSwitchState, CommandError> },
}

/// What the agent did with one command (`seq`: the number its send returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RiskCommandOutcome {
    /// The new limits are in force for every frame after.
    LimitsApplied { seq: u64 },
    /// The agent refused them (compiled against another instrument list); the old stay.
    LimitsRefused { seq: u64, reason: &'static str },
    /// The switch moved (or stayed) to `state`.
    KillSwitchApplied { seq: u64, command: KillSwitchCommand, state: KillSwitchState },
    /// The sentinel refused the command; its state is unchanged.
    KillSwitchRefused { seq: u64, command: KillSwitchCommand, error: CommandError },
}

impl RiskCommandOutcome {
    pub fn seq(&self) -> u64 {
        match self {
            Self::LimitsApplied { seq }
            | Self::LimitsRefused { seq, .. }
            | Self::KillSwitchApplied { seq, .. }
            | Self::KillSwitchRefused { seq, .. } => *seq,
        }
    }

    pub fn is_applied(&self) -> bool {
        matches!(self, Self::LimitsApplied { .. } | Self::KillSwitchApplied { .. })
    }
}

impl fmt::Display for RiskCommandOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LimitsApplied { seq } => write!(f, "risk command #{seq}: new limits applied"),
            Self::LimitsRefused { seq, reason } => write!(f, "risk command #{seq}: limits refused: {reason}"),
            Self::KillSwitchApplied { seq, command, state } => {
                write!(f, "risk command #{seq}: kill switch {command:?} applied, now {}", state.name())
            }
            Self::KillSwitchRefused { seq, command, error } => {
                write!(f, "risk command #{seq}: kill switch {command:?} refused: {error}")
            }
        }
    }
}

/// Why a command was not sent; nothing reached the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskCommandError {
    /// The limits text is invalid; the old limits stay in force.
    #[error(transparent)]
    Limits(#[from] LimitsFileError),
    /// The agent has not taken the commands already sent (or their outcomes were not read).
    #[error("risk command ring full: {0} commands not yet taken by the risk stage")]
    Full(usize),
}

/// The outside end: sends commands, reads outcomes. Keeps a copy of the sentinel's instrument
/// table to compile limits against.
#[derive(Debug)]
pub struct RiskCommandSender {
    commands: Producer<CommandMsg>,
    outcomes: Consumer<OutcomeMsg>,
    table: InstrumentTable,
    next_seq: u64,
}

/// The agent's end: give it to [`crate::RiskSentinelAgent::with_commands`].
#[derive(Debug)]
pub struct RiskCommandReceiver {
    commands: Consumer<CommandMsg>,
    outcomes: Producer<OutcomeMsg>,
}

/// A command ring for an agent built on `sentinel` (its limits compile against that
/// sentinel's instruments). Both directions hold `capacity` messages (at least 1).
pub fn risk_command_ring(capacity: usize, sentinel: &RiskSentinel) -> (RiskCommandSender, RiskCommandReceiver) {
    let capacity = capacity.max(1);
    let (commands, commands_rx) = RingBuffer::new(capacity);
    let (outcomes_tx, outcomes) = RingBuffer::new(capacity);
    (
        RiskCommandSender { commands, outcomes, table: sentinel.table().clone(), next_seq: 1 },
        RiskCommandReceiver { commands: commands_rx, outcomes: outcomes_tx },
    )
}

impl RiskCommandSender {
    /// Parse, validate and compile `text` (on this thread) against the sentinel's
    /// instruments; `source_name` names it in errors (the file's path).
    pub fn compile_limits(&self, text: &str, source_name: &str) -> Result<CompiledLimits, LimitsFileError> {
        CompiledLimits::from_text(text, &self.table)
            .map_err(|error| LimitsFileError { source_name: source_name.to_owned(), error })
    }

    /// Validate `text` here and, if valid, send it to the agent: it is in force before the
    /// next frame the agent handles. An invalid text is refused here with the reason; the
    /// agent keeps its limits. Answers the command's sequence number.
    pub fn reload_limits(&mut self, text: &str, source_name: &str) -> Result<u64, RiskCommandError> {
        let limits = self.compile_limits(text, source_name)?;
        self.send_limits(limits)
    }

    /// Send limits compiled elsewhere ([`CompiledLimits::from_toml`]). The agent refuses
    /// limits compiled against another instrument list.
    pub fn send_limits(&mut self, limits: CompiledLimits) -> Result<u64, RiskCommandError> {
        self.send(CommandBody::Limits(Box::new(limits)))
    }

    /// Operate the kill switch. Whether the sentinel accepted it comes back as an outcome.
    pub fn kill_switch(&mut self, command: KillSwitchCommand) -> Result<u64, RiskCommandError> {
        self.send(CommandBody::KillSwitch(command))
    }

    fn send(&mut self, body: CommandBody) -> Result<u64, RiskCommandError> {
        let seq = self.next_seq;
        match self.commands.push(CommandMsg { seq, body }) {
            Ok(()) => {
                self.next_seq += 1;
                Ok(seq)
            }
            Err(_) => Err(RiskCommandError::Full(self.commands.buffer().capacity())),
        }
    }

    /// The next outcome, oldest first, if the agent has answered one. Old limits sent back
    /// are freed here.
    pub fn try_outcome(&mut self) -> Option<RiskCommandOutcome> {
        let msg = self.outcomes.pop().ok()?;
        Some(match msg {
            OutcomeMsg::LimitsApplied { seq, .. } => RiskCommandOutcome::LimitsApplied { seq },
            OutcomeMsg::LimitsRefused { seq, reason, .. } => RiskCommandOutcome::LimitsRefused { seq, reason },
            OutcomeMsg::KillSwitch { seq, command, result: Ok(state) } => {
                RiskCommandOutcome::KillSwitchApplied { seq, command, state }
            }
            OutcomeMsg::KillSwitch { seq, command, result: Err(error) } => {
                RiskCommandOutcome::KillSwitchRefused { seq, command, error }
            }
        })
    }

    /// Commands sent that the agent has not taken yet.
    pub fn untaken(&self) -> usize {
        self.commands.buffer().capacity() - self.commands.slots()
    }

    /// Whether the agent's end is gone (its stage stopped).
    pub fn is_disconnected(&self) -> bool {
        self.commands.is_abandoned()
    }
}

impl RiskCommandReceiver {
    /// Apply every waiting command to `sentinel`, oldest first, while there is room for its
    /// outcome. Never blocks; allocates nothing (see the module docs). Answers how many.
    pub fn apply_pending(&mut self, sentinel: &mut RiskSentinel) -> usize {
        let mut applied = 0;
        while !self.outcomes.is_full() {
            let Ok(CommandMsg { seq, body }) = self.commands.pop() else { break };
            let outcome = match body {
                CommandBody::Limits(mut limits) => match sentinel.swap_limits_checked(&mut limits) {
                    Ok(()) => OutcomeMsg::LimitsApplied { seq, _retired: limits },
                    Err(reason) => OutcomeMsg::LimitsRefused { seq, reason, _limits: limits },
                },
                CommandBody::KillSwitch(command) => {
                    OutcomeMsg::KillSwitch { seq, command, result: sentinel.command(command) }
                }
            };
            // Cannot fail: room was checked above, and only this side pushes.
            let _ = self.outcomes.push(outcome);
            applied += 1;
        }
        applied
    }
}
