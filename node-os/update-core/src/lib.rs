//! The A/B update's decisions, with no I/O (the update service does the writing, renaming and
//! rebooting; this crate says what to do, so tests and fuzzers drive every case directly).
//!
//! - [`Slot`]: A or B, from the kernel command line's `qp.slot=`.
//! - [`BootEntry`]: a unified kernel image's file name on the ESP with systemd-boot's boot counter
//!   (`NAME+LEFT[-DONE].efi`): systemd-boot renames it before each try (`+3` → `+2-1` → …), an
//!   entry with no tries left is "bad" and sorted last, and a committed entry has no counter.
//! - [`UpdateState`]: what the node keeps on its data partition: the installed release, a pending
//!   one, and the versions that failed (never retried automatically).
//! - [`UpdateState::offer`], [`UpdateState::after_boot`]: take an offered version or not; after a
//!   boot, commit the new slot (healthy), wait, or record a rollback.
//!
//! Design: `node-os/update-core/DESIGN.md`.
#![forbid(unsafe_code)]

mod entry;
mod state;

pub use entry::{BootEntry, EntryError, EntryState, TRIES};
pub use state::{
    ATTESTED_MARKER, AfterBoot, BRIDGE_PEER_MARKER, Health, Installed, OfferDecision, Pending, SERVICES_UP_MARKER,
    StateError, UpdateState,
};

/// One of the two system slots (root partition, its dm-verity tree, its unified kernel image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    A,
    B,
}

impl Slot {
    /// The slot an update writes while this one runs.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// `a` or `b`: the suffix of the slot's partition labels (`qp-root-a`) and of `qp.slot=`.
    pub fn letter(self) -> char {
        match self {
            Slot::A => 'a',
            Slot::B => 'b',
        }
    }

    /// The slot the kernel command line names (`qp.slot=a|b`), if exactly one.
    pub fn from_cmdline(cmdline: &str) -> Option<Slot> {
        let mut found = None;
        for word in cmdline.split_whitespace() {
            if let Some(value) = word.strip_prefix("qp.slot=") {
                let slot = match value {
                    "a" => Slot::A,
                    "b" => Slot::B,
                    _ => return None,
                };
                if found.replace(slot).is_some_and(|earlier| earlier != slot) {
                    return None;
                }
            }
        }
        found
    }
}
