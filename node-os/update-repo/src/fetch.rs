//! The node's side: verify the repository with `tough` from the root shipped in the image, refuse
//! an image that is not newer than the installed one, and stream each target with its hash and
//! length checked.
//!
//! `tough` reports failures in its own words (a bad signature and a missing one are the same
//! "threshold not met"; a hash mismatch arrives as a transport error); `classify_load_error`
//! and `classify_target_error` turn them into [`UpdateError`]'s variants, naming the role, the
//! metadata file or the target.

use std::collections::BTreeSet;
use std::error::Error as _;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use tough::{RepositoryLoader, TargetName};
use url::Url;

use crate::transport::{HttpError, RepositoryTransport};
use crate::{IMAGE_VERSION_FIELD, METADATA_DIR, Role, TARGETS_DIR, UpdateError};

/// The largest trusted root file read from the image.
const MAX_TRUSTED_ROOT_BYTES: u64 = 1024 * 1024;

/// Where the node finds the repository and what it trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// The root.json shipped in the node's image (`metadata/1.root.json` from [`crate::init`]).
    pub trusted_root: PathBuf,
    /// `tough`'s datastore: the last metadata this node trusted (its memory against metadata
    /// rollback and for root rotation). Persistent, on the data partition; created if missing.
    pub datastore: PathBuf,
    /// The repository: `file:///DIR` or `http://IP:PORT/PATH` (its `metadata/` and
    /// `targets/` sub-folders are read).
    pub repository: String,
    /// The running image's version; only a greater one is accepted.
    pub installed_version: u64,
}

/// One target of a verified release, as targets.json signs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedTarget {
    /// Its name, a plain file name.
    pub name: String,
    /// Its signed SHA-256.
    pub sha256: [u8; 32],
    /// Its signed length in bytes.
    pub length: u64,
}

/// One target written and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTarget {
    /// Its name, a plain file name.
    pub name: String,
    /// Where it was written (the destination folder joined with its name).
    pub path: PathBuf,
    /// Its SHA-256, checked against targets.json.
    pub sha256: [u8; 32],
    /// Its length in bytes, checked against targets.json.
    pub length: u64,
}

/// A release downloaded and verified in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUpdate {
    /// The image version every target carries.
    pub version: u64,
    /// Its targets, sorted by name.
    pub targets: Vec<VerifiedTarget>,
}

/// A verified repository whose release is newer than the installed image: its metadata is
/// trusted, its targets not yet downloaded.
#[derive(Debug)]
pub struct UpdateOffer {
    runtime: tokio::runtime::Runtime,
    repository: tough::Repository,
    version: u64,
    targets: Vec<OfferedTarget>,
}

/// Loads and verifies the repository's metadata (root, timestamp, snapshot, targets: signatures,
/// thresholds, expiry, versions against the datastore) and checks the release's image version
/// against `config.installed_version`.
pub fn check_for_update(config: &FetchConfig) -> Result<UpdateOffer, UpdateError> {
    let base = repository_base(&config.repository)?;
    let join = |dir: &str| {
        base.join(&format!("{dir}/"))
            .map_err(|e| UpdateError::RepositoryUrl { url: config.repository.clone(), reason: e.to_string() })
    };
    let (metadata_base, targets_base) = (join(METADATA_DIR)?, join(TARGETS_DIR)?);
    let trusted_root = read_trusted_root(&config.trusted_root)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.datastore)
        .map_err(|e| UpdateError::Datastore { path: config.datastore.clone(), reason: e.to_string() })?;

    let transport = RepositoryTransport::new(&metadata_base);
    let runtime = crate::runtime()?;
    let remembered_root = RememberedRoot::read(&config.datastore);
    let loaded = runtime.block_on(
        RepositoryLoader::new(&trusted_root, metadata_base, targets_base)
            .transport(transport.clone())
            .datastore(&config.datastore)
            .load(),
    );
    remembered_root.keep_if_newer(&config.datastore)?;
    let repository = loaded.map_err(|error| {
        let error =
            classify_load_error(error, &LoadContext { config, trusted_root: &trusted_root, transport: &transport });
        tracing::warn!(%error, repository = %config.repository, "update metadata refused");
        error
    })?;

    let (version, targets) = release_of(&repository)?;
    if version <= config.installed_version {
        let error = UpdateError::Rollback { installed: config.installed_version, offered: version };
        // The same release as the running one is the common "nothing new"; only an older one
        // is worth a warning.
        if version < config.installed_version {
            tracing::warn!(%error, "update refused");
        } else {
            tracing::debug!(version, "no release newer than the installed one");
        }
        return Err(error);
    }
    tracing::info!(version, targets = targets.len(), repository = %config.repository, "update offered");
    Ok(UpdateOffer { runtime, repository, version, targets })
}

/// [`check_for_update`], then [`UpdateOffer::download`] into `dest_dir`.
pub fn fetch_update(config: &FetchConfig, dest_dir: &Path) -> Result<VerifiedUpdate, UpdateError> {
    check_for_update(config)?.download(dest_dir)
}

impl UpdateOffer {
    /// The offered image version (greater than the installed one).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The release's targets, sorted by name.
    pub fn targets(&self) -> &[OfferedTarget] {
        &self.targets
    }

    /// Streams one target into `out` as it downloads; `tough` checks its length while it streams
    /// and its hash at the end. On an error, what was written is unverified and must be
    /// discarded (the slot writer does not mark a slot bootable until this returns `Ok`).
    pub fn write_target(&self, name: &str, out: &mut dyn Write) -> Result<OfferedTarget, UpdateError> {
        let target_missing =
            || UpdateError::TargetName { target: name.to_owned(), reason: "not in the release's targets.json".into() };
        let offered = self.targets.iter().find(|t| t.name == name).ok_or_else(target_missing)?;
        let target_name = TargetName::new(name)
            .map_err(|e| UpdateError::TargetName { target: name.to_owned(), reason: e.to_string() })?;
        self.runtime.block_on(async {
            let stream = self
                .repository
                .read_target(&target_name)
                .await
                .map_err(|e| classify_target_error(e, offered, 0))?
                .ok_or_else(target_missing)?;
            let mut stream = Box::pin(stream);
            let mut received = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| classify_target_error(e, offered, received))?;
                received += chunk.len() as u64;
                out.write_all(&chunk)
                    .map_err(|source| UpdateError::Destination { what: format!("target {name}"), source })?;
            }
            // tough bounds the length from above only; a body that stops short with the right
            // hash cannot happen, but the signed length is the contract.
            if received != offered.length {
                return Err(UpdateError::TargetHashOrLength {
                    target: name.to_owned(),
                    reason: format!("{received} bytes, signed length {}", offered.length),
                });
            }
            Ok(offered.clone())
        })
    }

    /// Downloads every target into `dest_dir` (created if missing). Each is written to a hidden
    /// temporary file there; only when all are verified are they renamed to their names, so a
    /// failed or interrupted download leaves no file that looks complete, and files already in
    /// `dest_dir` are untouched unless the whole release verifies.
    pub fn download(&self, dest_dir: &Path) -> Result<VerifiedUpdate, UpdateError> {
        let destination =
            |source: std::io::Error| UpdateError::Destination { what: dest_dir.display().to_string(), source };
        fs::create_dir_all(dest_dir).map_err(destination)?;
        let mut staged = Vec::with_capacity(self.targets.len());
        for target in &self.targets {
            let file_error = |source| UpdateError::Destination { what: format!("target {}", target.name), source };
            let mut temp = tempfile::Builder::new()
                .prefix(&format!(".{}.", target.name))
                .tempfile_in(dest_dir)
                .map_err(destination)?;
            let mut writer = BufWriter::new(temp.as_file_mut());
            self.write_target(&target.name, &mut writer)?;
            writer.flush().map_err(file_error)?;
            drop(writer);
            temp.as_file().sync_all().map_err(file_error)?;
            staged.push((target, temp));
        }
        let mut targets = Vec::with_capacity(staged.len());
        for (target, temp) in staged {
            let path = dest_dir.join(&target.name);
            temp.persist(&path)
                .map_err(|e| UpdateError::Destination { what: path.display().to_string(), source: e.error })?;
            targets.push(VerifiedTarget {
                name: target.name.clone(),
                path,
                sha256: target.sha256,
                length: target.length,
            });
        }
        fs::File::open(dest_dir).and_then(|dir| dir.sync_all()).map_err(destination)?;
        tracing::info!(version = self.version, dest = %dest_dir.display(), "update downloaded and verified");
        Ok(VerifiedUpdate { version: self.version, targets })
    }
}

/// The root version the datastore held before a load. `tough` starts from the root it is given
/// (the image's, which dm-verity protects) and walks `N+1.root.json` upwards, then stores the
/// root it reached, even one older than the datastore's if a mirror withholds the newer roots.
/// This puts the newer one back and refuses the load, so the node's root never goes backwards.
struct RememberedRoot {
    bytes: Option<Vec<u8>>,
}

impl RememberedRoot {
    const FILE: &str = "root.json";

    fn read(datastore: &Path) -> Self {
        Self { bytes: fs::read(datastore.join(Self::FILE)).ok() }
    }

    fn version(bytes: &[u8]) -> Option<u64> {
        serde_json::from_slice::<serde_json::Value>(bytes).ok()?["signed"]["version"].as_u64()
    }

    fn keep_if_newer(self, datastore: &Path) -> Result<(), UpdateError> {
        let Some(remembered) = self.bytes else { return Ok(()) };
        let Some(trusted) = Self::version(&remembered) else { return Ok(()) };
        let path = datastore.join(Self::FILE);
        let now = fs::read(&path).ok().as_deref().and_then(Self::version);
        if now.is_some_and(|v| v >= trusted) {
            return Ok(());
        }
        let datastore_error = |e: std::io::Error| UpdateError::Datastore { path: path.clone(), reason: e.to_string() };
        let mut file = tempfile::NamedTempFile::new_in(datastore).map_err(datastore_error)?;
        file.write_all(&remembered).and_then(|()| file.as_file().sync_all()).map_err(datastore_error)?;
        file.persist(&path).map_err(|e| datastore_error(e.error))?;
        match now {
            Some(offered) => Err(UpdateError::MetadataRollback { role: Role::Root, trusted, offered }),
            None => Ok(()),
        }
    }
}

/// The repository URL with a trailing slash, if its scheme is one the node reads.
fn repository_base(repository: &str) -> Result<Url, UpdateError> {
    let refuse = |reason: String| UpdateError::RepositoryUrl { url: repository.to_owned(), reason };
    let with_slash = if repository.ends_with('/') { repository.to_owned() } else { format!("{repository}/") };
    let url = Url::parse(&with_slash).map_err(|e| refuse(e.to_string()))?;
    match url.scheme() {
        "file" => Ok(url),
        "http" => crate::transport::http_address(&url).map(|_| url).map_err(|e| refuse(e.to_string())),
        other => Err(refuse(format!("scheme {other:?}: only file:// and http:// to an IP address"))),
    }
}

fn read_trusted_root(path: &Path) -> Result<Vec<u8>, UpdateError> {
    let refuse = |reason: String| UpdateError::TrustedRoot { path: path.to_owned(), reason };
    let length = fs::metadata(path).map_err(|e| refuse(e.to_string()))?.len();
    if length > MAX_TRUSTED_ROOT_BYTES {
        return Err(refuse(format!("{length} bytes, more than {MAX_TRUSTED_ROOT_BYTES}")));
    }
    fs::read(path).map_err(|e| refuse(e.to_string()))
}

/// The release's image version and targets, from the verified targets.json.
fn release_of(repository: &tough::Repository) -> Result<(u64, Vec<OfferedTarget>), UpdateError> {
    let mut version = None;
    let mut targets = Vec::new();
    for (name, target) in &repository.targets().signed.targets {
        let name = name.raw().to_owned();
        crate::check_target_name(&name)
            .map_err(|reason| UpdateError::TargetName { target: name.clone(), reason: reason.into() })?;
        let image_version =
            |reason: String| UpdateError::ImageVersion { target: name.clone(), field: IMAGE_VERSION_FIELD, reason };
        let this = match target.custom.get(IMAGE_VERSION_FIELD) {
            None => return Err(image_version("missing".into())),
            Some(value) => {
                value.as_u64().ok_or_else(|| image_version(format!("{value} is not an unsigned integer")))?
            }
        };
        if let Some(first) = version
            && first != this
        {
            return Err(image_version(format!("{this}, while another target of the release says {first}")));
        }
        version = Some(this);
        let sha256 =
            <[u8; 32]>::try_from(target.hashes.sha256.as_ref()).map_err(|_| UpdateError::MalformedMetadata {
                role: Role::Targets,
                reason: format!("target {name}: sha256 is not 32 bytes"),
            })?;
        targets.push(OfferedTarget { name, sha256, length: target.length });
    }
    let version = version.ok_or_else(|| UpdateError::MalformedMetadata {
        role: Role::Targets,
        reason: "the release lists no targets".into(),
    })?;
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((version, targets))
}

struct LoadContext<'a> {
    config: &'a FetchConfig,
    trusted_root: &'a [u8],
    transport: &'a RepositoryTransport,
}

impl LoadContext<'_> {
    /// The last served metadata file of `role`: its file name and bytes.
    fn served(&self, role: Role) -> (String, Option<Vec<u8>>) {
        match self.transport.last_served(role) {
            Some((url, bytes)) => (file_name(&url), Some(bytes)),
            None => (format!("{role}.json"), None),
        }
    }

    /// `tough` says only "threshold not met". If a key the role trusts did sign the served file
    /// but its signature is not among the valid ones, the signature is bad; otherwise too few
    /// keys signed.
    fn signature_failure(&self, role: Role, threshold: u64, valid: u64) -> UpdateError {
        let (file, served) = self.served(role);
        let signed_by_role_keys = served.and_then(|bytes| self.signatures_by_role_keys(role, &bytes));
        match signed_by_role_keys {
            Some(present) if present <= valid => UpdateError::ThresholdNotMet { role, file, valid, threshold },
            _ => UpdateError::BadSignature { role, file, valid, threshold },
        }
    }

    /// How many distinct keys of `role` (by the root in force: the datastore's, else the
    /// trusted one) have a signature in `served`.
    fn signatures_by_role_keys(&self, role: Role, served: &[u8]) -> Option<u64> {
        let datastore_root = fs::read(self.config.datastore.join("root.json")).ok();
        let root_bytes = match (role, datastore_root.as_deref()) {
            (Role::Root, _) | (_, None) => self.trusted_root,
            (_, Some(bytes)) => bytes,
        };
        let root: serde_json::Value = serde_json::from_slice(root_bytes).ok()?;
        let role_keys: BTreeSet<&str> =
            root["signed"]["roles"][role.name()]["keyids"].as_array()?.iter().filter_map(|k| k.as_str()).collect();
        let served: serde_json::Value = serde_json::from_slice(served).ok()?;
        let signers: BTreeSet<&str> = served["signatures"]
            .as_array()?
            .iter()
            .filter_map(|s| s["keyid"].as_str())
            .filter(|keyid| role_keys.contains(keyid))
            .collect();
        Some(signers.len() as u64)
    }
}

fn file_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_owned()
}

/// `tough`'s error while loading metadata, as one of [`UpdateError`]'s variants.
fn classify_load_error(error: tough::error::Error, context: &LoadContext<'_>) -> UpdateError {
    use tough::error::Error as Tough;
    match error {
        Tough::VerifyMetadata { role, source, .. } => match source {
            tough::schema::Error::SignatureThreshold { threshold, valid, .. } => {
                context.signature_failure(Role::from_tough(role), threshold, valid)
            }
            other => UpdateError::MalformedMetadata { role: Role::from_tough(role), reason: other.to_string() },
        },
        Tough::VerifyTrustedMetadata { source, .. } => {
            UpdateError::TrustedRoot { path: context.config.trusted_root.clone(), reason: source.to_string() }
        }
        Tough::ParseTrustedMetadata { source, .. } => {
            UpdateError::TrustedRoot { path: context.config.trusted_root.clone(), reason: source.to_string() }
        }
        Tough::ExpiredMetadata { role, .. } => UpdateError::Expired { role: Role::from_tough(role) },
        Tough::OlderMetadata { role, current_version, new_version, .. } => UpdateError::MetadataRollback {
            role: Role::from_tough(role),
            trusted: current_version,
            offered: new_version,
        },
        Tough::OlderSnapshotInTimestamp { snapshot_new, snapshot_old, .. } => {
            UpdateError::MetadataRollback { role: Role::Snapshot, trusted: snapshot_old, offered: snapshot_new }
        }
        Tough::SnapshotRoleRollback { old_role_version, new_role_version, .. } => {
            UpdateError::MetadataRollback { role: Role::Targets, trusted: old_role_version, offered: new_role_version }
        }
        Tough::VersionMismatch { role, fetched, expected, .. } => {
            let role = Role::from_tough(role);
            UpdateError::SnapshotMismatch {
                role,
                file: context.served(role).0,
                reason: format!("it is version {fetched}, version {expected} is listed"),
            }
        }
        Tough::SnapshotRoleMissing { role, old_version, new_version } => UpdateError::SnapshotMismatch {
            role: Role::Snapshot,
            file: context.served(Role::Snapshot).0,
            reason: format!("{role} is listed in snapshot {old_version} but not in {new_version}"),
        },
        Tough::Transport { url, source, .. } => classify_metadata_transport(url.as_str(), &source),
        Tough::ParseMetadata { role, source, .. } => {
            UpdateError::MalformedMetadata { role: Role::from_tough(role), reason: source.to_string() }
        }
        ref error @ Tough::MetaMissing { role, .. } => {
            UpdateError::MalformedMetadata { role: Role::from_tough(role), reason: error.to_string() }
        }
        error @ (Tough::TimestampMetaLength { .. } | Tough::MissingSnapshotMeta { .. }) => {
            UpdateError::MalformedMetadata { role: Role::Timestamp, reason: error.to_string() }
        }
        error @ Tough::SnapshotTargetsMetaMissing { .. } => {
            UpdateError::MalformedMetadata { role: Role::Snapshot, reason: error.to_string() }
        }
        error @ Tough::MaxUpdatesExceeded { .. } => {
            UpdateError::MalformedMetadata { role: Role::Root, reason: error.to_string() }
        }
        error @ (Tough::DatastoreInit { .. }
        | Tough::DatastoreCreate { .. }
        | Tough::DatastoreOpen { .. }
        | Tough::DatastoreRemove { .. }
        | Tough::DatastoreSerialize { .. }) => {
            UpdateError::Datastore { path: context.config.datastore.clone(), reason: error.to_string() }
        }
        other => UpdateError::Tuf { reason: other.to_string() },
    }
}

/// A metadata download's failure. `tough` checks a file against the hash and length the
/// snapshot (or timestamp) lists inside the download stream, so those arrive as transport errors.
fn classify_metadata_transport(url: &str, source: &tough::TransportError) -> UpdateError {
    let role = Role::from_metadata_file(url);
    let file = file_name(url);
    match (role, tough_cause(source)) {
        (Some(role), Some(tough::error::Error::HashMismatch { calculated, expected, .. })) => {
            UpdateError::SnapshotMismatch {
                role,
                file,
                reason: format!("its sha256 is {calculated}, {expected} is listed"),
            }
        }
        (Some(role), Some(tough::error::Error::MaxSizeExceeded { max_size, specifier, .. })) => {
            if matches!(*specifier, "snapshot.json" | "timestamp.json") {
                UpdateError::SnapshotMismatch {
                    role,
                    file,
                    reason: format!("longer than the {max_size} bytes {specifier} lists"),
                }
            } else {
                UpdateError::MalformedMetadata {
                    role,
                    reason: format!("{file} is larger than the {max_size}-byte limit"),
                }
            }
        }
        _ => UpdateError::Transport { url: url.to_owned(), reason: source.to_string() },
    }
}

/// `tough`'s error while reading a target, after `received` bytes of it.
fn classify_target_error(error: tough::error::Error, target: &OfferedTarget, received: u64) -> UpdateError {
    use tough::error::Error as Tough;
    let name = target.name.clone();
    match error {
        Tough::Transport { url, source, .. } => {
            if let Some(HttpError::Truncated { .. }) = http_cause(&source) {
                return UpdateError::Truncated { target: name, expected: target.length, received };
            }
            match tough_cause(&source) {
                Some(Tough::HashMismatch { .. }) if received < target.length => {
                    UpdateError::Truncated { target: name, expected: target.length, received }
                }
                Some(Tough::HashMismatch { calculated, expected, .. }) => UpdateError::TargetHashOrLength {
                    target: name,
                    reason: format!("sha256 {calculated}, signed {expected}"),
                },
                Some(Tough::MaxSizeExceeded { max_size, .. }) => UpdateError::TargetHashOrLength {
                    target: name,
                    reason: format!("longer than its signed length of {max_size} bytes"),
                },
                _ => UpdateError::Transport { url: url.to_string(), reason: source.to_string() },
            }
        }
        Tough::ExpiredMetadata { role, .. } => UpdateError::Expired { role: Role::from_tough(role) },
        other => UpdateError::Tuf { reason: format!("target {name}: {other}") },
    }
}

/// The first `tough` error in a transport error's chain of causes.
fn tough_cause(error: &tough::TransportError) -> Option<&tough::error::Error> {
    std::iter::successors(error.source(), |e| (*e).source()).find_map(|e| e.downcast_ref::<tough::error::Error>())
}

/// The HTTP client's error in a transport error's chain of causes.
fn http_cause(error: &tough::TransportError) -> Option<&HttpError> {
    std::iter::successors(error.source(), |e| (*e).source()).find_map(|e| e.downcast_ref::<HttpError>())
}
