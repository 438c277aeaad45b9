//! Boot-counted unified kernel image names, as systemd-boot reads and renames them
//! (<https://systemd.io/AUTOMATIC_BOOT_ASSESSMENT/>): `NAME+LEFT.efi` or `NAME+LEFT-DONE.efi`.
//! Before booting an entry with a counter, systemd-boot decrements LEFT and increments DONE (a
//! rename on the ESP); an entry with LEFT = 0 is bad and sorted after every good one, so the
//! previous slot boots next. Userspace commits an entry by renaming it to `NAME.efi`.

use crate::Slot;

/// How many tries a new slot gets before systemd-boot gives up on it.
pub const TRIES: u8 = 3;
/// The longest entry file name accepted (FAT long names allow 255 UTF-16 units).
const MAX_NAME: usize = 200;

/// An entry file name was not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("boot entry {0:?}: not a .efi file name")]
    NotEfi(String),
    #[error("boot entry {0:?}: not qp-<slot>-<image id>[+LEFT[-DONE]].efi")]
    NotOurs(String),
    #[error("boot entry {0:?}: a malformed boot counter")]
    BadCounter(String),
}

/// Where an entry stands in boot assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// No counter: a committed slot.
    Committed,
    /// Tries remain (`left` > 0), `done` used so far.
    Trying { left: u8, done: u8 },
    /// No tries left: systemd-boot boots another entry.
    Bad { done: u8 },
}

/// A unified kernel image on the ESP: `qp-<slot>-<image id>` plus its counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    pub slot: Slot,
    pub image_id: String,
    pub state: EntryState,
}

/// An image id: 1–128 of `[A-Za-z0-9._-]`, the rule the attestation protocol and the golden
/// values use.
pub(crate) fn image_id_ok(id: &str) -> bool {
    qp_attest_core::attest_proto::image_id_ok(id.as_bytes())
}

impl BootEntry {
    /// A new slot's entry: [`TRIES`] tries, none used.
    pub fn new_trying(slot: Slot, image_id: &str) -> Self {
        BootEntry { slot, image_id: image_id.to_owned(), state: EntryState::Trying { left: TRIES, done: 0 } }
    }

    /// The committed form of this entry (its counter dropped).
    pub fn committed(&self) -> Self {
        BootEntry { state: EntryState::Committed, ..self.clone() }
    }

    /// The file name under `EFI/Linux/`.
    pub fn file_name(&self) -> String {
        let stem = format!("qp-{}-{}", self.slot.letter(), self.image_id);
        match self.state {
            EntryState::Committed => format!("{stem}.efi"),
            EntryState::Trying { left, done: 0 } => format!("{stem}+{left}.efi"),
            EntryState::Trying { left, done } => format!("{stem}+{left}-{done}.efi"),
            EntryState::Bad { done } => format!("{stem}+0-{done}.efi"),
        }
    }

    /// Reads a file name written by [`BootEntry::file_name`] (and renamed by systemd-boot).
    pub fn parse(name: &str) -> Result<Self, EntryError> {
        if name.len() > MAX_NAME {
            return Err(EntryError::NotOurs(name.chars().take(40).collect()));
        }
        let stem = name
            .strip_suffix(".efi")
            .or_else(|| name.strip_suffix(".EFI"))
            .ok_or_else(|| EntryError::NotEfi(name.to_owned()))?;
        let (base, state) = match stem.rsplit_once('+') {
            None => (stem, EntryState::Committed),
            Some((base, counter)) => {
                (base, parse_counter(counter).ok_or_else(|| EntryError::BadCounter(name.to_owned()))?)
            }
        };
        let not_ours = || EntryError::NotOurs(name.to_owned());
        let rest = base.strip_prefix("qp-").ok_or_else(not_ours)?;
        let (slot, image_id) = match rest.split_once('-') {
            Some(("a", id)) => (Slot::A, id),
            Some(("b", id)) => (Slot::B, id),
            _ => return Err(not_ours()),
        };
        if !image_id_ok(image_id) {
            return Err(not_ours());
        }
        Ok(BootEntry { slot, image_id: image_id.to_owned(), state })
    }
}

/// `LEFT` or `LEFT-DONE`, decimal, each at most 2 digits (systemd-boot takes any u64; ours stay
/// small, and a huge counter is refused rather than trusted).
fn parse_counter(counter: &str) -> Option<EntryState> {
    let number = |text: &str| -> Option<u8> {
        if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    let (left, done) = match counter.split_once('-') {
        Some((left, done)) => (number(left)?, number(done)?),
        None => (number(counter)?, 0),
    };
    Some(if left == 0 { EntryState::Bad { done } } else { EntryState::Trying { left, done } })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn names_round_trip_through_systemd_boots_renames() {
        let id = "local-0.1.0-0123456789abcdef";
        let mut entry = BootEntry::new_trying(Slot::B, id);
        assert_eq!(entry.file_name(), "qp-b-local-0.1.0-0123456789abcdef+3.efi");
        // What systemd-boot does before each try.
        for (left, done, name) in [(2, 1, "+2-1"), (1, 2, "+1-2"), (0, 3, "+0-3")] {
            entry.state = if left == 0 { EntryState::Bad { done } } else { EntryState::Trying { left, done } };
            assert!(entry.file_name().ends_with(&format!("{name}.efi")));
            assert_eq!(BootEntry::parse(&entry.file_name()).unwrap(), entry);
        }
        assert_eq!(entry.committed().file_name(), "qp-b-local-0.1.0-0123456789abcdef.efi");
        assert_eq!(BootEntry::parse("qp-a-x+3.efi").unwrap().state, EntryState::Trying { left: 3, done: 0 });
    }

    #[test]
    fn foreign_and_malformed_names_are_refused() {
        for name in [
            "systemd-bootx64.efi",
            "qp-c-x.efi",
            "qp-a-.efi",
            "qp-a-x+.efi",
            "qp-a-x+3-.efi",
            "qp-a-x+999.efi",
            "qp-a-x+-1.efi",
            "qp-a-x",
            "qp-a-x/y.efi",
        ] {
            assert!(BootEntry::parse(name).is_err(), "{name}");
        }
    }
}
