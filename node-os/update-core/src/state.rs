//! The node's update state and the decisions made on it: which offered version to take, and what
//! a boot means for a pending update (commit it, wait for health, or record its failure).
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::Slot;
use crate::entry::{BootEntry, EntryState};

/// The most failed versions remembered (the oldest are forgotten first).
const MAX_FAILED: usize = 32;
/// The largest state file read.
const MAX_STATE_JSON: usize = 16 * 1024;

/// The release a slot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    pub version: u64,
    pub image_id: String,
    pub slot: Slot,
}

/// A release written (or being written) into the inactive slot, not yet committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub version: u64,
    pub image_id: String,
    pub slot: Slot,
}

/// What the node keeps on its data partition (`/data/update/state.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateState {
    pub installed: Installed,
    #[serde(default)]
    pub pending: Option<Pending>,
    /// Versions that booted and failed their health check (or never came up): never taken again
    /// automatically.
    #[serde(default)]
    pub failed: BTreeSet<u64>,
}

/// Why a state file or a step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("update state: {0} bytes, over the {MAX_STATE_JSON}-byte limit")]
    TooLarge(usize),
    #[error("update state: {0}")]
    Format(String),
    #[error("update state: {0}")]
    Invalid(&'static str),
    #[error("an update to version {pending} is already pending")]
    Busy { pending: u64 },
    #[error("version {offered} refused: {reason}")]
    Refused { offered: u64, reason: String },
}

/// Whether to take an offered release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferDecision {
    /// Write it into `slot` (the inactive one).
    Take { slot: Slot },
    /// Not above the installed version (anti-rollback).
    NotNewer { installed: u64 },
    /// It failed on this node before; an operator must clear it (`failed`) to retry.
    PreviouslyFailed,
    /// Another update is pending.
    Busy { pending: u64 },
}

/// The new slot's health, as the update service observed it after booting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    /// Every service of the manifest is running (none held).
    pub services_up: bool,
    /// The bridge has a peer connected (a local node: a cloud node; a cloud node: its local node).
    pub bridge_peer_connected: bool,
    /// The verifier's attestation passed against the new image's golden values.
    pub attestation_passed: bool,
}

/// The files (in `/run/qp/health/`, a tmpfs: each boot starts with none) whose presence says one
/// health check passed in this boot. Each is written by the part that knows: PID 1 (every service
/// running), the bridge service (a peer connected), the TPM service (a certificate attesting this
/// very image installed after this boot's quote).
pub const SERVICES_UP_MARKER: &str = "services-up";
pub const BRIDGE_PEER_MARKER: &str = "bridge-peer";
pub const ATTESTED_MARKER: &str = "attested";

impl Health {
    pub fn healthy(self) -> bool {
        self.services_up && self.bridge_peer_connected && self.attestation_passed
    }
}

/// What a boot means for the update state. The caller performs the named file operations, then
/// persists the state (which `after_boot` has already changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterBoot {
    /// No update pending; the installed slot runs.
    Steady,
    /// The pending slot runs; not every health check has passed yet (ask again later; if it never
    /// passes, the watchdog or an operator reboots and systemd-boot's counter runs out).
    AwaitHealth,
    /// The pending slot runs and is healthy: rename `from` to `to` on the ESP (commit). The state
    /// now names it installed.
    Commit { from: BootEntry, to: BootEntry },
    /// The old slot runs again after the new one used up its tries: the version is recorded as
    /// failed; `bad` (if found) may be deleted from the ESP.
    RolledBack { version: u64, bad: Option<BootEntry> },
    /// The old slot runs and the new slot's entry is not on the ESP: the write was cut before it
    /// finished. The pending update is dropped (not a failure: it may be fetched again).
    WriteInterrupted { version: u64 },
    /// The old slot runs while the new entry still has tries (booted by hand, or before the
    /// reboot into it): nothing changes.
    PendingNotBooted,
    /// A boot the state does not explain (the state file is older than the ESP): the caller
    /// adopts what runs, after checking it, and says so.
    Unexpected { reason: String },
}

impl UpdateState {
    /// A node's first state (as flashed: slot A, its image's version).
    pub fn new(installed: Installed) -> Self {
        Self { installed, pending: None, failed: BTreeSet::new() }
    }

    /// Whether to take release `version`.
    pub fn offer(&self, version: u64) -> OfferDecision {
        if let Some(pending) = &self.pending {
            return OfferDecision::Busy { pending: pending.version };
        }
        if version <= self.installed.version {
            return OfferDecision::NotNewer { installed: self.installed.version };
        }
        if self.failed.contains(&version) {
            return OfferDecision::PreviouslyFailed;
        }
        OfferDecision::Take { slot: self.installed.slot.other() }
    }

    /// Records that release `version` (`image_id`) is being written into the inactive slot; the
    /// caller persists the state *before* writing anything.
    pub fn begin(&mut self, version: u64, image_id: &str) -> Result<Pending, StateError> {
        let slot = match self.offer(version) {
            OfferDecision::Take { slot } => slot,
            OfferDecision::Busy { pending } => return Err(StateError::Busy { pending }),
            OfferDecision::NotNewer { installed } => {
                return Err(StateError::Refused {
                    offered: version,
                    reason: format!("not above the installed version {installed}"),
                });
            }
            OfferDecision::PreviouslyFailed => {
                return Err(StateError::Refused { offered: version, reason: "it failed on this node before".into() });
            }
        };
        let pending = Pending { version, image_id: image_id.to_owned(), slot };
        self.pending = Some(pending.clone());
        Ok(pending)
    }

    /// What the boot into `booted` (from `qp.slot=`) means, given the entries now on the ESP and,
    /// when the pending slot runs, its health. Updates the state accordingly.
    pub fn after_boot(&mut self, booted: Slot, entries: &[BootEntry], health: Health) -> AfterBoot {
        let Some(pending) = self.pending.clone() else {
            if booted == self.installed.slot {
                return AfterBoot::Steady;
            }
            return AfterBoot::Unexpected {
                reason: format!("slot {} runs but slot {} is installed", booted.letter(), self.installed.slot.letter()),
            };
        };
        let entry = entries.iter().find(|e| e.slot == pending.slot && e.image_id == pending.image_id).cloned();
        if booted == pending.slot {
            let Some(entry) = entry else {
                return AfterBoot::Unexpected {
                    reason: format!(
                        "slot {} runs but its entry for {} is not on the ESP",
                        booted.letter(),
                        pending.image_id
                    ),
                };
            };
            if !health.healthy() {
                return AfterBoot::AwaitHealth;
            }
            let to = entry.committed();
            self.installed = Installed { version: pending.version, image_id: pending.image_id, slot: pending.slot };
            self.pending = None;
            return AfterBoot::Commit { from: entry, to };
        }
        match entry.map(|e| (e.state, e)) {
            None => {
                self.pending = None;
                AfterBoot::WriteInterrupted { version: pending.version }
            }
            Some((EntryState::Bad { .. }, bad)) => {
                self.record_failed(pending.version);
                self.pending = None;
                AfterBoot::RolledBack { version: pending.version, bad: Some(bad) }
            }
            Some((EntryState::Trying { .. }, _)) => AfterBoot::PendingNotBooted,
            // Committed but the state says pending: the commit's rename happened, its state write
            // did not; the old slot was then chosen by hand. Nothing to undo.
            Some((EntryState::Committed, _)) => AfterBoot::PendingNotBooted,
        }
    }

    fn record_failed(&mut self, version: u64) {
        self.failed.insert(version);
        while self.failed.len() > MAX_FAILED {
            self.failed.pop_first();
        }
    }

    /// The state as JSON (pretty, one trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).map(|text| text + "\n").unwrap_or_default()
    }

    /// Reads a state file strictly: bounded, no unknown fields, the pending slot the inactive one,
    /// image ids of `[A-Za-z0-9._-]`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, StateError> {
        if bytes.len() > MAX_STATE_JSON {
            return Err(StateError::TooLarge(bytes.len()));
        }
        let state: UpdateState = serde_json::from_slice(bytes).map_err(|err| StateError::Format(err.to_string()))?;
        let id_ok = crate::entry::image_id_ok;
        if !id_ok(&state.installed.image_id) {
            return Err(StateError::Invalid("installed.image_id is not 1-128 of [A-Za-z0-9._-]"));
        }
        if let Some(pending) = &state.pending {
            if !id_ok(&pending.image_id) {
                return Err(StateError::Invalid("pending.image_id is not 1-128 of [A-Za-z0-9._-]"));
            }
            if pending.slot == state.installed.slot {
                return Err(StateError::Invalid("the pending slot is the installed one"));
            }
            if pending.version <= state.installed.version {
                return Err(StateError::Invalid("the pending version is not above the installed one"));
            }
        }
        if state.failed.len() > MAX_FAILED {
            return Err(StateError::Invalid("more failed versions than are kept"));
        }
        Ok(state)
    }
}
