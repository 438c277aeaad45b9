//! The one error type of the crate, for both sides. Each refusal the node must explain has its own
//! variant naming the role, file or target, so a caller (and the node's report of a failed
//! version) can tell them apart without parsing `tough`'s messages.

use std::path::PathBuf;

use crate::Role;

/// Why publishing or fetching an update failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    // ---- Verification on the node: the refusals issue 11 names. ----
    /// A signature from a key the role trusts does not verify over the metadata's signed body
    /// (the body was altered, or the signature forged), so fewer than the threshold verify.
    #[error("bad signature on {role} metadata {file}: {valid} of the {threshold} required signatures verify")]
    BadSignature { role: Role, file: String, valid: u64, threshold: u64 },

    /// Every signature present verifies, but fewer keys of the role signed than its threshold.
    #[error("too few signatures on {role} metadata {file}: {valid} valid, threshold {threshold}")]
    ThresholdNotMet { role: Role, file: String, valid: u64, threshold: u64 },

    /// The role's metadata expired (a freeze or replay of an old repository, or a timestamp the
    /// operator did not refresh).
    #[error("{role} metadata has expired")]
    Expired { role: Role },

    /// A metadata file is not the one the snapshot (or, for the snapshot, the timestamp) names:
    /// another version, hash or length. The repository mixes releases.
    #[error("{role} metadata {file} does not match what the snapshot/timestamp lists: {reason}")]
    SnapshotMismatch { role: Role, file: String, reason: String },

    /// TUF's own rollback protection: the repository offers older metadata than the node's
    /// datastore already trusts.
    #[error("{role} metadata rollback: the node trusts version {trusted}, the repository offers {offered}")]
    MetadataRollback { role: Role, trusted: u64, offered: u64 },

    /// The image's anti-rollback: the offered image version is not newer than the installed one.
    #[error("image version {offered} refused: not newer than the installed version {installed}")]
    Rollback { installed: u64, offered: u64 },

    /// A downloaded target's SHA-256 differs from targets.json, or it is longer than signed.
    #[error("target {target} does not match its signed hash or length: {reason}")]
    TargetHashOrLength { target: String, reason: String },

    /// A target's download ended before its signed length.
    #[error("target {target} truncated: {received} of {expected} bytes")]
    Truncated { target: String, expected: u64, received: u64 },

    /// The repository could not be reached or a file could not be read from it.
    #[error("fetching {url}: {reason}")]
    Transport { url: String, reason: String },

    // ---- Other refusals on the node. ----
    /// The trusted root.json given to the node (shipped in its image) does not parse or verify.
    #[error("trusted root metadata {path}: {reason}")]
    TrustedRoot { path: PathBuf, reason: String },

    /// Signed metadata that does not parse, or breaks TUF's structure rules.
    #[error("malformed {role} metadata: {reason}")]
    MalformedMetadata { role: Role, reason: String },

    /// The release's image version is absent, not an integer, or differs between its targets.
    #[error("target {target}: image version field {field:?}: {reason}")]
    ImageVersion { target: String, field: &'static str, reason: String },

    /// A target is missing from targets.json, or its name is not a plain file name.
    #[error("target {target}: {reason}")]
    TargetName { target: String, reason: String },

    /// The node's datastore (last trusted metadata, TUF's rollback memory) could not be used.
    #[error("datastore {path}: {reason}")]
    Datastore { path: PathBuf, reason: String },

    /// The repository URL is not `file://` or `http://` to an IP address.
    #[error("repository URL {url:?}: {reason}")]
    RepositoryUrl { url: String, reason: String },

    /// Writing a target into its destination (a file or the caller's writer) failed.
    #[error("writing {what}: {source}")]
    Destination { what: String, source: std::io::Error },

    // ---- The operator's side. ----
    /// Key generation never overwrites a key file.
    #[error("key file {path} already exists; refusing to overwrite it")]
    KeyExists { path: PathBuf },

    /// A key file could not be read, written or parsed.
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },

    /// The keys or thresholds asked for cannot sign a role (too few keys, zero threshold, ...).
    #[error("{role} role: {reason}")]
    KeyPolicy { role: Role, reason: String },

    /// Publishing a version that is not newer than the repository's current one.
    #[error("image version {offered} is not newer than the repository's current version {published}")]
    ImageVersionNotNewer { published: u64, offered: u64 },

    /// Reading or writing the repository folder failed.
    #[error("repository file {path}: {reason}")]
    RepositoryFile { path: PathBuf, reason: String },

    /// `tough` refused to build or sign metadata (the message names the role or file).
    #[error("signing {what}: {reason}")]
    Signing { what: String, reason: String },

    /// The async runtime `tough` needs could not start.
    #[error("starting the async runtime: {source}")]
    Runtime { source: std::io::Error },

    /// Any other error from `tough`, with its message (which names the file or role).
    #[error("TUF: {reason}")]
    Tuf { reason: String },
}
