//! `qp-node update`: the node's A/B update service, one of the image's supervised services.
//!
//! Every second it asks `qp_update_core::UpdateState::after_boot` what this boot means and does
//! the file work the answer names: commit the new slot's boot entry once it is healthy (services
//! up, bridge peer connected, attestation passed: marker files in `/run/qp/health/`), delete a bad
//! entry after a rollback and remember the failed release, or drop an update whose write was cut.
//! When nothing is pending it checks the repository (`[update]` in the node's configuration)
//! every `poll_s`, writes a newer verified release into the inactive slot (`qp_updater`) and asks
//! PID 1 for a clean reboot (a request file PID 1 watches). A new slot that does not prove
//! healthy within `health_timeout_s` is rebooted, so systemd-boot spends one of its tries; after
//! the last, the old slot boots and the release is never taken again automatically.
//!
//! The service runs beside the node's agents and never blocks them: it is its own process, and
//! PID 1 does not wait on it. Each outcome is one line on stdout (the console), prefixed
//! `update:`, which the QEMU tests read.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use qp_update_core::{AfterBoot, BootEntry, Health, Installed, OfferDecision, Slot, UpdateState};
use qp_update_repo::{FetchConfig, UpdateError};

use crate::node_config::{NodeConfig, UpdateSection};

/// Where the service finds and keeps things (`qp-node update`'s options). The defaults are the
/// sealed image's paths.
#[derive(Debug, Clone, clap::Args)]
pub struct UpdatePaths {
    /// The node's configuration (its `[update]` section).
    #[arg(long)]
    pub config: PathBuf,
    /// The update repository's root metadata the image ships.
    #[arg(long, default_value = "/etc/qp/update-root.json")]
    pub trusted_root: PathBuf,
    /// The running image's build record (its release number, variant and version).
    #[arg(long, default_value = "/etc/qp/build-info.json")]
    pub build_info: PathBuf,
    /// The kernel command line (the booted slot and its root hash).
    #[arg(long, default_value = "/proc/cmdline")]
    pub cmdline: PathBuf,
    /// `state.json` and TUF's datastore (`tuf/`), on the data partition.
    #[arg(long, default_value = "/data/update")]
    pub state_dir: PathBuf,
    /// Where PID 1 mounted the EFI system partition (boot entries under `EFI/Linux/`).
    #[arg(long, default_value = "/run/esp")]
    pub esp: PathBuf,
    /// The health marker files of this boot.
    #[arg(long, default_value = "/run/qp/health")]
    pub health_dir: PathBuf,
    /// The file whose creation asks PID 1 for a clean reboot.
    #[arg(long, default_value = "/run/qp/reboot-request")]
    pub reboot_request: PathBuf,
    /// Partitions as files named by their GPT label in DIR (tests); default: found by label
    /// under `/sys/class/block`.
    #[arg(long, value_name = "DIR")]
    pub partitions: Option<PathBuf>,
}

/// The image that runs now: what the state starts from on a node's first boot, and what an
/// unexplained boot is adopted as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningImage {
    pub slot: Slot,
    pub release: u64,
    pub image_id: String,
}

impl RunningImage {
    /// From the build record (`release`, `variant`, `image_version`) and the command line
    /// (`qp.slot`, `qp.verity.root`): the image id is the golden values' own rule.
    pub fn read(build_info: &Path, cmdline: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(build_info).with_context(|| build_info.display().to_string())?;
        let info: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", build_info.display()))?;
        let field = |key: &str| {
            info.get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("{}: no {key}", build_info.display()))
        };
        let release = info.get("release").and_then(serde_json::Value::as_u64).with_context(|| {
            format!("{}: no release number (built before releases were numbered)", build_info.display())
        })?;
        let line = std::fs::read_to_string(cmdline).with_context(|| cmdline.display().to_string())?;
        let slot = Slot::from_cmdline(&line).with_context(|| format!("{}: no qp.slot=a|b", cmdline.display()))?;
        let params = qp_init::BootParams::parse(&line).with_context(|| cmdline.display().to_string())?;
        let image_id =
            qp_attest_core::golden::image_id(&field("variant")?, &field("image_version")?, &params.verity.root_hash);
        Ok(Self { slot, release, image_id })
    }

    fn installed(&self) -> Installed {
        Installed { version: self.release, image_id: self.image_id.clone(), slot: self.slot }
    }
}

/// One line on stdout: what the tests and the operator read on the console.
fn say(line: &str) {
    use std::io::Write;
    println!("update: {line}");
    let _ = std::io::stdout().flush();
}

/// Runs until `stop` is set.
pub fn run(paths: &UpdatePaths, stop: &AtomicBool) -> anyhow::Result<()> {
    let config = NodeConfig::load(&paths.config)?;
    let running = RunningImage::read(&paths.build_info, &paths.cmdline)?;
    let mut service = UpdateService::open(paths, config.update, running)?;
    while !stop.load(Ordering::Relaxed) {
        service.round()?;
        sleep_unless_stopped(Duration::from_secs(1), stop);
    }
    Ok(())
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The service's memory between rounds.
#[derive(Debug)]
pub struct UpdateService<'a> {
    paths: &'a UpdatePaths,
    update: Option<UpdateSection>,
    running: RunningImage,
    state: UpdateState,
    started: Instant,
    next_poll: Instant,
    /// The last line said about waiting or a refused release (each said once, not each round).
    last_note: String,
    reboot_requested: bool,
}

impl<'a> UpdateService<'a> {
    /// Loads the state (or starts it from the running image on a node's first boot).
    pub fn open(paths: &'a UpdatePaths, update: Option<UpdateSection>, running: RunningImage) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&paths.state_dir).with_context(|| paths.state_dir.display().to_string())?;
        let state_path = paths.state_dir.join("state.json");
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => UpdateState::from_json(&bytes).with_context(|| state_path.display().to_string())?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                say(&format!(
                    "first boot: release {} ({}) in slot {}",
                    running.release,
                    running.image_id,
                    running.slot.letter()
                ));
                let state = UpdateState::new(running.installed());
                save_state(&state_path, &state)?;
                state
            }
            Err(err) => return Err(err).with_context(|| state_path.display().to_string()),
        };
        let now = Instant::now();
        Ok(Self {
            paths,
            update,
            running,
            state,
            started: now,
            next_poll: now,
            last_note: String::new(),
            reboot_requested: false,
        })
    }

    pub fn state(&self) -> &UpdateState {
        &self.state
    }

    fn state_path(&self) -> PathBuf {
        self.paths.state_dir.join("state.json")
    }

    fn esp_linux(&self) -> PathBuf {
        self.paths.esp.join("EFI/Linux")
    }

    fn note_once(&mut self, line: String) {
        if line != self.last_note {
            say(&line);
            self.last_note = line;
        }
    }

    /// One round: what this boot means, then (when nothing is pending) the repository.
    pub fn round(&mut self) -> anyhow::Result<()> {
        let entries = list_entries(&self.esp_linux())?;
        let health = read_health(&self.paths.health_dir);
        let outcome = self.state.after_boot(self.running.slot, &entries, health);
        match outcome {
            AfterBoot::Steady => self.poll_repository()?,
            AfterBoot::AwaitHealth => {
                let waited = self.started.elapsed();
                let timeout = Duration::from_secs(self.update.as_ref().map_or(600, |u| u.health_timeout_s));
                if waited >= timeout {
                    say(&format!(
                        "slot {} not healthy after {} s (services up {}, bridge peer {}, attested {}): rebooting to spend a boot try",
                        self.running.slot.letter(),
                        waited.as_secs(),
                        health.services_up,
                        health.bridge_peer_connected,
                        health.attestation_passed
                    ));
                    self.request_reboot("the new slot did not prove healthy")?;
                } else {
                    self.note_once(format!(
                        "slot {} waits for health: services up {}, bridge peer {}, attested {}",
                        self.running.slot.letter(),
                        health.services_up,
                        health.bridge_peer_connected,
                        health.attestation_passed
                    ));
                }
            }
            AfterBoot::Commit { from, to } => {
                let dir = self.esp_linux();
                if from != to {
                    rename_synced(&dir, &from.file_name(), &to.file_name())?;
                }
                save_state(&self.state_path(), &self.state)?;
                say(&format!(
                    "committed release {} ({}) in slot {}: {}",
                    self.state.installed.version,
                    self.state.installed.image_id,
                    self.state.installed.slot.letter(),
                    to.file_name()
                ));
            }
            AfterBoot::RolledBack { version, bad } => {
                if let Some(bad) = bad {
                    let path = self.esp_linux().join(bad.file_name());
                    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
                    sync_dir(&self.esp_linux())?;
                }
                save_state(&self.state_path(), &self.state)?;
                say(&format!(
                    "release {version} failed its boot tries; slot {} runs release {} again; {version} is not retried",
                    self.running.slot.letter(),
                    self.state.installed.version
                ));
            }
            AfterBoot::WriteInterrupted { version } => {
                save_state(&self.state_path(), &self.state)?;
                say(&format!("the write of release {version} was cut before its boot entry; it will be fetched again"));
            }
            AfterBoot::PendingNotBooted => {
                // Written, and the reboot into it has not happened (this service restarted in
                // between): ask again.
                if !self.reboot_requested {
                    self.request_reboot("a written release waits for its first boot")?;
                }
            }
            AfterBoot::Unexpected { reason } => {
                let failed = std::mem::take(&mut self.state.failed);
                self.state = UpdateState::new(self.running.installed());
                self.state.failed = failed;
                save_state(&self.state_path(), &self.state)?;
                say(&format!(
                    "{reason}: adopting the running image (release {}, slot {}, verified by dm-verity at boot)",
                    self.running.release,
                    self.running.slot.letter()
                ));
            }
        }
        Ok(())
    }

    fn poll_repository(&mut self) -> anyhow::Result<()> {
        let Some(update) = self.update.clone() else { return Ok(()) };
        if self.reboot_requested || Instant::now() < self.next_poll {
            return Ok(());
        }
        self.next_poll = Instant::now() + Duration::from_secs(update.poll_s);
        let fetch = FetchConfig {
            trusted_root: self.paths.trusted_root.clone(),
            datastore: self.paths.state_dir.join("tuf"),
            repository: update.repository.clone(),
            installed_version: self.state.installed.version,
        };
        let offer = match qp_update_repo::check_for_update(&fetch) {
            Ok(offer) => offer,
            Err(UpdateError::Rollback { offered, installed }) if offered == installed => return Ok(()),
            Err(err) => {
                self.note_once(format!("repository {}: {err}", update.repository));
                return Ok(());
            }
        };
        let version = offer.version();
        let slot = match self.state.offer(version) {
            OfferDecision::Take { slot } => slot,
            OfferDecision::PreviouslyFailed => {
                self.note_once(format!("release {version} failed on this node before: not taken again"));
                return Ok(());
            }
            OfferDecision::NotNewer { .. } | OfferDecision::Busy { .. } => return Ok(()),
        };
        let layout = self.slot_layout(slot)?;
        say(&format!("writing release {version} into slot {}", slot.letter()));
        let state_path = self.state_path();
        let mut persist = |state: &UpdateState| save_state(&state_path, state).map_err(std::io::Error::other);
        let options = qp_updater::ApplyOptions { read_back: update.read_back };
        match qp_updater::apply_with(&offer, &mut self.state, &layout, options, &mut persist) {
            Ok(report) => {
                say(&format!(
                    "release {version} written into slot {} ({:.1} MiB in {:.2} s, {:.0} MiB/s): {}; rebooting into it",
                    slot.letter(),
                    report.bytes as f64 / (1u64 << 20) as f64,
                    report.seconds,
                    report.mib_per_s,
                    report.entry
                ));
                self.request_reboot("a new release is written")?;
            }
            Err(err) => {
                // The running slot is untouched; a pending state left behind is dropped next
                // round (its entry was never written).
                say(&format!("release {version} not written: {err}"));
            }
        }
        Ok(())
    }

    /// The inactive slot's partitions and the ESP's entry folder.
    fn slot_layout(&self, slot: Slot) -> anyhow::Result<qp_updater::SlotLayout> {
        let find = |label: String| -> anyhow::Result<PathBuf> {
            match &self.paths.partitions {
                Some(dir) => Ok(dir.join(label)),
                None => Ok(qp_init::find_partition(&label, Duration::from_secs(5))
                    .with_context(|| format!("partition {label}"))?
                    .dev_path),
            }
        };
        Ok(qp_updater::SlotLayout {
            root: find(format!("qp-root-{}", slot.letter()))?,
            verity: find(format!("qp-verity-{}", slot.letter()))?,
            esp_linux: self.esp_linux(),
        })
    }

    fn request_reboot(&mut self, why: &str) -> anyhow::Result<()> {
        let path = &self.paths.reboot_request;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
        }
        std::fs::write(path, format!("{why}\n"))
            .with_context(|| format!("asking for a reboot ({})", path.display()))?;
        self.reboot_requested = true;
        Ok(())
    }
}

/// The boot entries of ours on the ESP (other files ignored).
fn list_entries(dir: &Path) -> anyhow::Result<Vec<BootEntry>> {
    let mut entries = Vec::new();
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    for dirent in listing {
        let dirent = dirent.with_context(|| format!("listing {}", dir.display()))?;
        if let Ok(entry) = BootEntry::parse(&dirent.file_name().to_string_lossy()) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// This boot's health, from the marker files.
fn read_health(dir: &Path) -> Health {
    let has = |name: &str| dir.join(name).exists();
    Health {
        services_up: has(qp_update_core::SERVICES_UP_MARKER),
        bridge_peer_connected: has(qp_update_core::BRIDGE_PEER_MARKER),
        attestation_passed: has(qp_update_core::ATTESTED_MARKER),
    }
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}

fn rename_synced(dir: &Path, from: &str, to: &str) -> anyhow::Result<()> {
    std::fs::rename(dir.join(from), dir.join(to))
        .with_context(|| format!("renaming {from} to {to} in {}", dir.display()))?;
    sync_dir(dir)
}

/// Writes the state through a synced temporary file renamed over the old one.
fn save_state(path: &Path, state: &UpdateState) -> anyhow::Result<()> {
    let temp = path.with_extension("json.new");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(state.to_json().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        path.parent().map_or(Ok(()), |dir| std::fs::File::open(dir).and_then(|d| d.sync_all()))
    };
    write().with_context(|| format!("saving the update state {}", path.display()))
}

/// A marker file that exists exactly while a condition holds (written by the part that knows).
#[derive(Debug)]
pub struct HealthMarker {
    path: PathBuf,
    set: Option<bool>,
}

impl HealthMarker {
    pub fn new(path: PathBuf) -> Self {
        Self { path, set: None }
    }

    /// Creates or removes the file when `holds` changes (one file operation per change).
    pub fn set(&mut self, holds: bool) {
        if self.set == Some(holds) {
            return;
        }
        let done = if holds {
            self.path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&self.path, b"1\n"))
        } else {
            match std::fs::remove_file(&self.path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
                _ => Ok(()),
            }
        };
        match done {
            Ok(()) => self.set = Some(holds),
            Err(err) => tracing::warn!(path = %self.path.display(), error = %err, "health marker"),
        }
    }
}
