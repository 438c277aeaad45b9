//! The operator's side: a TUF repository folder kept with `tough`'s editor.
//!
//! Layout: `REPO/metadata/` (`N.root.json`, `N.targets.json`, `N.snapshot.json`, `timestamp.json`:
//! consistent snapshots) and `REPO/targets/` (`SHA256.NAME`). A release only adds files; the one
//! file replaced, timestamp.json, is written last and by rename, so a node reading the folder
//! mid-publish sees either the old release or the new one, never a mix.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Write;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use tough::TargetName;
use tough::editor::RepositoryEditor;
use tough::editor::signed::{PathExists, SignedRole};
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::{Hashes, KeyHolder, Metafile, RoleKeys, Root, Signed, Snapshot, Target, Targets, Timestamp};

use crate::{IMAGE_VERSION_FIELD, KeyPolicy, METADATA_DIR, Role, SigningKeys, TARGETS_DIR, UpdateError};

const SPEC_VERSION: &str = "1.0.0";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How long each role's metadata stays valid after it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Root: signed rarely, with offline keys.
    pub root: Duration,
    /// Targets: a release must be re-published (or a newer one published) within this.
    pub targets: Duration,
    /// Snapshot: signed with each release, so as long as targets.
    pub snapshot: Duration,
    /// Timestamp: short, so a replayed or frozen repository is refused soon; refreshed by
    /// [`refresh_timestamp`].
    pub timestamp: Duration,
}

impl Default for Lifetimes {
    /// Root a year, targets and snapshot 90 days, timestamp one day (see DESIGN.md).
    fn default() -> Self {
        Self { root: 365 * DAY, targets: 90 * DAY, snapshot: 90 * DAY, timestamp: DAY }
    }
}

/// What a [`publish()`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedRelease {
    /// The image version recorded in each target's [`IMAGE_VERSION_FIELD`].
    pub image_version: u64,
    /// Version of the new targets.json.
    pub targets_version: u64,
    /// Version of the new snapshot.json.
    pub snapshot_version: u64,
    /// Version of the new timestamp.json.
    pub timestamp_version: u64,
}

/// Creates the repository folder and its signed `metadata/1.root.json`, which names the keys in
/// `keys` for their roles with `policy`'s thresholds (`policy.*.keys` is ignored here: every key
/// present is listed). Returns the root file's path: that file is what node images ship as their
/// trusted root. Refuses to replace an existing root.
pub fn init(
    repo_dir: &Path,
    keys: &SigningKeys,
    policy: &KeyPolicy,
    lifetimes: &Lifetimes,
    now: SystemTime,
) -> Result<PathBuf, UpdateError> {
    let metadata_dir = repo_dir.join(METADATA_DIR);
    let root_path = metadata_dir.join("1.root.json");
    if root_path.symlink_metadata().is_ok() {
        return Err(repo_file(&root_path, "already exists; refusing to replace a signed root"));
    }
    let root = build_root(keys, policy, NonZeroU64::MIN, expiry(now, lifetimes.root)?)?;
    let signed = sign_root(root, None, keys, policy)?;
    for dir in [&metadata_dir, &repo_dir.join(TARGETS_DIR)] {
        fs::create_dir_all(dir).map_err(|e| repo_file(dir, &e.to_string()))?;
    }
    write_atomically(&metadata_dir, "1.root.json", signed.buffer())?;
    tracing::info!(root = %root_path.display(), "initialised update repository");
    Ok(root_path)
}

/// Signs the next root, `metadata/N+1.root.json`, naming the keys in `keys` with `policy`'s
/// thresholds, valid for `root_lifetime` from `now`, and cross-signed by `current_root_keys`
/// (a node accepts root N+1 only if a threshold of root N's root keys signed it as well as a
/// threshold of its own). Renewing the root before it expires is this with the same keys twice;
/// rotating keys is this with a new keys folder. Nodes walk the chain of roots up from the one
/// in their image. Returns the new root's path.
pub fn rotate_root(
    repo_dir: &Path,
    keys: &SigningKeys,
    policy: &KeyPolicy,
    current_root_keys: &SigningKeys,
    root_lifetime: Duration,
    now: SystemTime,
) -> Result<PathBuf, UpdateError> {
    let metadata_dir = repo_dir.join(METADATA_DIR);
    let current: Signed<Root> = read_json(&latest_root(&metadata_dir)?)?;
    let version = NonZeroU64::MIN.saturating_add(current.signed.version.get());
    let root = build_root(keys, policy, version, expiry(now, root_lifetime)?)?;
    let signed = sign_root(root, Some((&current.signed, current_root_keys)), keys, policy)?;
    let name = format!("{version}.root.json");
    write_atomically(&metadata_dir, &name, signed.buffer())?;
    tracing::info!(repo = %repo_dir.display(), version = version.get(), "signed a new update repository root");
    Ok(metadata_dir.join(name))
}

/// root.json's content: every key in `keys` listed for its role, with `policy`'s thresholds.
fn build_root(
    keys: &SigningKeys,
    policy: &KeyPolicy,
    version: NonZeroU64,
    expires: jiff::Timestamp,
) -> Result<Root, UpdateError> {
    for role in Role::ALL {
        let threshold = policy.role(role).threshold;
        let present = keys.count(role) as u64;
        if threshold == 0 || threshold > present {
            return Err(UpdateError::KeyPolicy {
                role,
                reason: format!("threshold {threshold} needs between 1 and the {present} keys present"),
            });
        }
    }
    let mut root = Root {
        spec_version: SPEC_VERSION.to_owned(),
        consistent_snapshot: true,
        version,
        expires,
        keys: HashMap::new(),
        roles: HashMap::new(),
        _extra: HashMap::new(),
    };
    for (role, key) in keys.public_keys()? {
        let key_id = key.key_id().map_err(|e| signing_reason("root.json key id", &e.to_string()))?;
        root.keys.insert(key_id.clone(), key);
        let threshold = NonZeroU64::new(policy.role(role).threshold).unwrap_or(NonZeroU64::MIN);
        root.roles
            .entry(role.to_tough())
            .or_insert_with(|| RoleKeys { keyids: Vec::new(), threshold, _extra: HashMap::new() })
            .keyids
            .push(key_id);
    }
    Ok(root)
}

/// Signs `root` with its own root keys and, for a rotation, with the previous root's root keys
/// too. tough leaves root thresholds to the caller (its SignedRole skips them for root), so both
/// are checked here.
fn sign_root(
    root: Root,
    previous: Option<(&Root, &SigningKeys)>,
    keys: &SigningKeys,
    policy: &KeyPolicy,
) -> Result<SignedRole<Root>, UpdateError> {
    let runtime = crate::runtime()?;
    let rng = SystemRandom::new();
    let sign_as = |holder: &Root, keys: &SigningKeys| {
        runtime
            .block_on(SignedRole::new(root.clone(), &KeyHolder::Root(holder.clone()), &keys.key_sources(), &rng))
            .map_err(|e| signing("root.json", e))
    };
    let signed = sign_as(&root, keys)?;
    check_root_threshold(&signed, policy.root.threshold, "the new root's")?;
    let Some((previous, previous_keys)) = previous else { return Ok(signed) };
    let by_previous = sign_as(previous, previous_keys)?;
    let previous_threshold = previous.roles.get(&Role::Root.to_tough()).map_or(1, |r| r.threshold.get());
    check_root_threshold(&by_previous, previous_threshold, "the current root's")?;
    signed.add_old_signatures(by_previous.signed().signatures.clone()).map_err(|e| signing("root.json", e))
}

fn check_root_threshold(signed: &SignedRole<Root>, threshold: u64, whose: &str) -> Result<(), UpdateError> {
    let signatures = signed.signed().signatures.len() as u64;
    if signatures < threshold {
        return Err(UpdateError::KeyPolicy {
            role: Role::Root,
            reason: format!("{signatures} signatures by {whose} root keys, threshold {threshold}"),
        });
    }
    Ok(())
}

/// Publishes one image release: `targets` (target name, file) become the repository's whole
/// target set, each with `image_version` in its [`IMAGE_VERSION_FIELD`], and new targets,
/// snapshot and timestamp metadata are signed with `keys` (`tough` refuses a role whose
/// threshold they do not meet). The files are copied into `targets/` under their hash.
/// `image_version` must be greater than the repository's current one.
pub fn publish(
    repo_dir: &Path,
    keys: &SigningKeys,
    targets: &[(&str, &Path)],
    image_version: u64,
    lifetimes: &Lifetimes,
    now: SystemTime,
) -> Result<PublishedRelease, UpdateError> {
    let metadata_dir = repo_dir.join(METADATA_DIR);
    let targets_dir = repo_dir.join(TARGETS_DIR);
    if targets.is_empty() {
        return Err(UpdateError::TargetName {
            target: String::new(),
            reason: "a release needs at least one target".into(),
        });
    }
    let mut names = BTreeSet::new();
    for (name, _) in targets {
        crate::check_target_name(name)
            .map_err(|reason| UpdateError::TargetName { target: (*name).to_owned(), reason: reason.into() })?;
        if !names.insert(*name) {
            return Err(UpdateError::TargetName { target: (*name).to_owned(), reason: "named twice".into() });
        }
    }
    let root_path = latest_root(&metadata_dir)?;
    let current = read_current_release(&metadata_dir)?;
    if let Some(published) = current.as_ref().and_then(|c| c.image_version)
        && image_version <= published
    {
        return Err(UpdateError::ImageVersionNotNewer { published, offered: image_version });
    }
    let next = |version: Option<u64>| NonZeroU64::MIN.saturating_add(version.unwrap_or(0));
    let targets_version = next(current.as_ref().map(|c| c.targets_version));
    let snapshot_version = next(current.as_ref().map(|c| c.snapshot_version));
    let timestamp_version = next(current.as_ref().map(|c| c.timestamp_version));

    let (targets_expires, snapshot_expires, timestamp_expires) =
        (expiry(now, lifetimes.targets)?, expiry(now, lifetimes.snapshot)?, expiry(now, lifetimes.timestamp)?);

    let runtime = crate::runtime()?;
    let key_sources = keys.key_sources();
    // The files this release puts in targets/ (consistent snapshots: SHA256.NAME).
    let mut target_files = Vec::with_capacity(targets.len());
    let signed = runtime.block_on(async {
        let mut editor = RepositoryEditor::new(&root_path).await.map_err(|e| signing("root.json", e))?;
        for (name, path) in targets {
            let mut target = Target::from_path(path).await.map_err(|e| repo_file(path, &e.to_string()))?;
            target.custom.insert(IMAGE_VERSION_FIELD.to_owned(), serde_json::Value::from(image_version));
            let sha256: String = target.hashes.sha256.iter().map(|b| format!("{b:02x}")).collect();
            target_files.push(targets_dir.join(format!("{sha256}.{name}")));
            editor.add_target(*name, target).map_err(|e| signing(&format!("target {name}"), e))?;
        }
        editor
            .targets_version(targets_version)
            .and_then(|e| e.targets_expires(targets_expires))
            .map_err(|e| signing("targets.json", e))?;
        editor
            .snapshot_version(snapshot_version)
            .snapshot_expires(snapshot_expires)
            .timestamp_version(timestamp_version)
            .timestamp_expires(timestamp_expires);
        editor.sign(&key_sources).await.map_err(|e| signing("the release", e))
    })?;

    fs::create_dir_all(&targets_dir).map_err(|e| repo_file(&targets_dir, &e.to_string()))?;
    runtime.block_on(async {
        for (name, path) in targets {
            let target_name = TargetName::new(*name).map_err(|e| signing(&format!("target {name}"), e))?;
            signed
                .copy_target(path, &targets_dir, PathExists::Skip, Some(&target_name))
                .await
                .map_err(|e| repo_file(path, &e.to_string()))?;
        }
        Ok::<(), UpdateError>(())
    })?;
    for file in &target_files {
        sync_file(file)?;
    }
    sync_file(&targets_dir)?;
    // Metadata is written into a staging folder, then renamed in: new versioned files first and
    // timestamp.json last, the one rename that switches nodes to the release.
    let staging = tempfile::Builder::new()
        .prefix(".staging")
        .tempdir_in(&metadata_dir)
        .map_err(|e| repo_file(&metadata_dir, &e.to_string()))?;
    runtime.block_on(signed.write(staging.path())).map_err(|e| repo_file(staging.path(), &e.to_string()))?;
    let mut staged: Vec<String> = fs::read_dir(staging.path())
        .and_then(|entries| entries.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect())
        .map_err(|e| repo_file(staging.path(), &e.to_string()))?;
    staged.sort_by_key(|name| name == "timestamp.json");
    for name in &staged {
        let (from, to) = (staging.path().join(name), metadata_dir.join(name));
        sync_file(&from)?;
        fs::rename(&from, &to).map_err(|e| repo_file(&to, &e.to_string()))?;
    }
    sync_file(&metadata_dir)?;
    let release = PublishedRelease {
        image_version,
        targets_version: targets_version.get(),
        snapshot_version: snapshot_version.get(),
        timestamp_version: timestamp_version.get(),
    };
    tracing::info!(repo = %repo_dir.display(), ?release, "published update release");
    Ok(release)
}

/// Re-signs only timestamp.json (a new version, the same snapshot, expiring `lifetime` after
/// `now`) with the timestamp key in `keys`. Operators run this often: the timestamp's short
/// lifetime is what limits how long a node can be shown a frozen repository. Returns the new
/// timestamp version.
pub fn refresh_timestamp(
    repo_dir: &Path,
    keys: &SigningKeys,
    lifetime: Duration,
    now: SystemTime,
) -> Result<u64, UpdateError> {
    let metadata_dir = repo_dir.join(METADATA_DIR);
    let root_path = latest_root(&metadata_dir)?;
    let root: Signed<Root> = read_json(&root_path)?;
    let current = read_current_release(&metadata_dir)?
        .ok_or_else(|| repo_file(&metadata_dir.join("timestamp.json"), "nothing published yet"))?;
    let snapshot_file = metadata_dir.join(format!("{}.snapshot.json", current.snapshot_version));
    let snapshot_bytes = fs::read(&snapshot_file).map_err(|e| repo_file(&snapshot_file, &e.to_string()))?;
    let version = NonZeroU64::MIN.saturating_add(current.timestamp_version);
    let mut timestamp = Timestamp::new(SPEC_VERSION.to_owned(), version, expiry(now, lifetime)?);
    timestamp.meta.insert(
        "snapshot.json".to_owned(),
        Metafile {
            length: Some(snapshot_bytes.len() as u64),
            hashes: Some(Hashes {
                sha256: Decoded::<Hex>::from(
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &snapshot_bytes).as_ref().to_vec(),
                ),
                _extra: HashMap::new(),
            }),
            version: NonZeroU64::new(current.snapshot_version).unwrap_or(NonZeroU64::MIN),
            _extra: HashMap::new(),
        },
    );
    let signed = crate::runtime()?
        .block_on(SignedRole::new(timestamp, &KeyHolder::Root(root.signed), &keys.key_sources(), &SystemRandom::new()))
        .map_err(|e| signing("timestamp.json", e))?;
    write_atomically(&metadata_dir, "timestamp.json", signed.buffer())?;
    tracing::info!(repo = %repo_dir.display(), version = version.get(), "refreshed update timestamp");
    Ok(version.get())
}

/// The versions of the repository's current metadata, read from its own files (the operator's
/// repository, not a hostile one: it is parsed, not verified).
struct CurrentRelease {
    timestamp_version: u64,
    snapshot_version: u64,
    targets_version: u64,
    image_version: Option<u64>,
}

fn read_current_release(metadata_dir: &Path) -> Result<Option<CurrentRelease>, UpdateError> {
    let timestamp_path = metadata_dir.join("timestamp.json");
    if !timestamp_path.exists() {
        return Ok(None);
    }
    let timestamp: Signed<Timestamp> = read_json(&timestamp_path)?;
    let snapshot_version = timestamp
        .signed
        .meta
        .get("snapshot.json")
        .ok_or_else(|| repo_file(&timestamp_path, "no snapshot.json entry"))?
        .version
        .get();
    let snapshot_path = metadata_dir.join(format!("{snapshot_version}.snapshot.json"));
    let snapshot: Signed<Snapshot> = read_json(&snapshot_path)?;
    let targets_version = snapshot
        .signed
        .meta
        .get("targets.json")
        .ok_or_else(|| repo_file(&snapshot_path, "no targets.json entry"))?
        .version
        .get();
    let targets: Signed<Targets> = read_json(&metadata_dir.join(format!("{targets_version}.targets.json")))?;
    let image_version = targets
        .signed
        .targets
        .values()
        .filter_map(|target| target.custom.get(IMAGE_VERSION_FIELD).and_then(serde_json::Value::as_u64))
        .max();
    Ok(Some(CurrentRelease {
        timestamp_version: timestamp.signed.version.get(),
        snapshot_version,
        targets_version,
        image_version,
    }))
}

/// The highest `N.root.json` in the metadata folder (the root in force).
fn latest_root(metadata_dir: &Path) -> Result<PathBuf, UpdateError> {
    let entries = fs::read_dir(metadata_dir).map_err(|e| repo_file(metadata_dir, &format!("{e} (run init first)")))?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let version: u64 = name.to_str()?.strip_suffix(".root.json")?.parse().ok()?;
            Some((version, entry.path()))
        })
        .max()
        .map(|(_, path)| path)
        .ok_or_else(|| repo_file(metadata_dir, "no N.root.json (run init first)"))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, UpdateError> {
    let bytes = fs::read(path).map_err(|e| repo_file(path, &e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| repo_file(path, &e.to_string()))
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), UpdateError> {
    let path = dir.join(name);
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| repo_file(&path, &e.to_string()))?;
    file.write_all(bytes).and_then(|()| file.as_file().sync_all()).map_err(|e| repo_file(&path, &e.to_string()))?;
    file.persist(&path).map_err(|e| repo_file(&path, &e.error.to_string()))?;
    sync_file(dir)
}

/// fsync of a file or folder (tough's writers flush but do not sync).
fn sync_file(path: &Path) -> Result<(), UpdateError> {
    fs::File::open(path).and_then(|f| f.sync_all()).map_err(|e| repo_file(path, &e.to_string()))
}

/// `now + lifetime` as TUF's expiry, in whole seconds.
fn expiry(now: SystemTime, lifetime: Duration) -> Result<jiff::Timestamp, UpdateError> {
    let since_epoch = now.duration_since(UNIX_EPOCH).map_err(|_| signing_reason("expiry", "clock before 1970"))?;
    let seconds = since_epoch.as_secs().checked_add(lifetime.as_secs()).and_then(|s| i64::try_from(s).ok());
    seconds
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .ok_or_else(|| signing_reason("expiry", "lifetime out of range"))
}

fn repo_file(path: &Path, reason: &str) -> UpdateError {
    UpdateError::RepositoryFile { path: path.to_owned(), reason: reason.to_owned() }
}

fn signing_reason(what: &str, reason: &str) -> UpdateError {
    UpdateError::Signing { what: what.to_owned(), reason: reason.to_owned() }
}

/// A `tough` editor error; its "no signing keys for a role" becomes [`UpdateError::KeyPolicy`]
/// (tough's targets editor names the top-level targets role "delegated-targets" there).
fn signing(what: &str, error: tough::error::Error) -> UpdateError {
    if let tough::error::Error::SigningKeysNotFound { role } = &error
        && let Some(role) = role.parse().ok().map(Role::from_tough)
    {
        return UpdateError::KeyPolicy {
            role,
            reason: format!("the keys given do not meet its threshold, signing {what}"),
        };
    }
    UpdateError::Signing { what: what.to_owned(), reason: error.to_string() }
}
