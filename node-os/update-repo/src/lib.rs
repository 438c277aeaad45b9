//! Signed updates in The Update Framework's format, with the `tough` crate.
//!
//! The operator's side ([`mod@publish`]) keeps a TUF repository of the sealed image's artefacts (the
//! unified kernel image, the root file system, its dm-verity hash tree or root hash, golden.json):
//! role keys ([`generate_keys`]), the signed root ([`init`], renewed or rotated by
//! [`rotate_root`]), each release ([`publish()`]) and the frequent re-signing of the timestamp
//! ([`refresh_timestamp`]). The node's side ([`fetch`])
//! verifies the repository from the root shipped in its image, refuses an image version that is not
//! newer than the installed one, and streams each target with its hash and length checked
//! ([`check_for_update`], [`UpdateOffer`], [`fetch_update`]). Every refusal is an [`UpdateError`]
//! naming the role, file or target. Design: `DESIGN.md`.
#![forbid(unsafe_code)]

mod error;
pub mod fetch;
mod keys;
pub mod publish;
mod transport;

pub use error::UpdateError;
pub use fetch::{
    FetchConfig, OfferedTarget, UpdateOffer, VerifiedTarget, VerifiedUpdate, check_for_update, fetch_update,
};
pub use keys::{KeyPolicy, RolePolicy, SigningKeys, generate_keys};
pub use publish::{Lifetimes, PublishedRelease, init, publish, refresh_timestamp, rotate_root};
pub use transport::http_head_fuzz_harness;

use std::fmt;

/// The custom field, in each target's `custom` object of targets.json, that carries the image
/// version (a JSON unsigned integer). Every target of a release carries the same value; the node
/// refuses a release whose version is not greater than the installed one.
pub const IMAGE_VERSION_FIELD: &str = "qp_image_version";

/// The repository's sub-folders (TUF's usual split: metadata and targets have separate base URLs).
pub const METADATA_DIR: &str = "metadata";
/// See [`METADATA_DIR`].
pub const TARGETS_DIR: &str = "targets";

/// One of TUF's four top-level roles. Delegated targets roles are not used by this repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Names the keys of every role, thresholds included; kept offline.
    Root,
    /// Signs the list of target files, their hashes, lengths and the image version.
    Targets,
    /// Signs the versions and hashes of the targets metadata, so a client never mixes releases.
    Snapshot,
    /// Signs the current snapshot's hash with a short expiry, so a replayed repository goes stale.
    Timestamp,
}

impl Role {
    /// All four, in the order their metadata is verified after the root.
    pub const ALL: [Role; 4] = [Role::Root, Role::Targets, Role::Snapshot, Role::Timestamp];

    /// The role's name in TUF metadata and in key file names (`root`, `targets`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Targets => "targets",
            Role::Snapshot => "snapshot",
            Role::Timestamp => "timestamp",
        }
    }

    fn to_tough(self) -> tough::schema::RoleType {
        use tough::schema::RoleType;
        match self {
            Role::Root => RoleType::Root,
            Role::Targets => RoleType::Targets,
            Role::Snapshot => RoleType::Snapshot,
            Role::Timestamp => RoleType::Timestamp,
        }
    }

    fn from_tough(role: tough::schema::RoleType) -> Self {
        use tough::schema::RoleType;
        match role {
            RoleType::Root => Role::Root,
            RoleType::Snapshot => Role::Snapshot,
            RoleType::Timestamp => Role::Timestamp,
            // Delegations are not used; a delegated targets role is still targets metadata.
            RoleType::Targets | RoleType::DelegatedTargets => Role::Targets,
        }
    }

    /// The role whose metadata a file name such as `3.targets.json` or `timestamp.json` holds.
    fn from_metadata_file(file: &str) -> Option<Self> {
        let base = file.rsplit('/').next().unwrap_or(file);
        let unversioned = match base.split_once('.') {
            Some((prefix, rest)) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) => rest,
            _ => base,
        };
        Role::ALL.into_iter().find(|role| unversioned.strip_suffix(".json") == Some(role.name()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A target name both sides accept: one plain file name (letters, digits, `.`, `_`, `-`; not
/// starting with `.`), so the node can write it into its destination folder without any path
/// resolution, whatever a hostile targets.json says.
fn check_target_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 128 {
        return Err("must be 1 to 128 bytes");
    }
    if name.starts_with('.') {
        return Err("must not start with '.'");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err("only letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Runs `tough`'s async API from the blocking callers of this crate on a small current-thread
/// runtime (tough's file I/O uses tokio's blocking pool, which a current-thread runtime has).
fn runtime() -> Result<tokio::runtime::Runtime, UpdateError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|source| UpdateError::Runtime { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_file_names_map_to_roles() {
        assert_eq!(Role::from_metadata_file("timestamp.json"), Some(Role::Timestamp));
        assert_eq!(Role::from_metadata_file("12.snapshot.json"), Some(Role::Snapshot));
        assert_eq!(Role::from_metadata_file("/repo/metadata/3.targets.json"), Some(Role::Targets));
        assert_eq!(Role::from_metadata_file("2.root.json"), Some(Role::Root));
        assert_eq!(Role::from_metadata_file("x.targets.json"), None);
        assert_eq!(Role::from_metadata_file("uki.efi"), None);
    }

    #[test]
    fn target_names_are_plain_file_names() {
        assert!(check_target_name("root.erofs").is_ok());
        assert!(check_target_name("golden.json").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b", "..", "ä"] {
            assert!(check_target_name(bad).is_err(), "{bad:?}");
        }
    }
}
