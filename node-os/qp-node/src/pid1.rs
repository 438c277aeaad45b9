//! `qp-node` as PID 1 of the sealed image (the kernel runs it as `/init` from the initramfs of
//! the unified kernel image). In order (`node-os/init/DESIGN.md`):
//!
//! 1. the console and the pseudo file systems; logs to the serial console and a ring buffer;
//! 2. the kernel modules the image lists (`/etc/qp/initrd.toml`, dependencies first);
//! 3. the root: the command line's slot and dm-verity parameters, the slot's partitions, the
//!    dm-verity device set up with device-mapper ioctls, the erofs root mounted read-only over
//!    it and switched to; then the data partition on `/data`;
//! 4. the image manifest from the verified root: networking, the management API, the services;
//! 5. the supervisor's loop (every child reaped, orphans included; the watchdog petted; each
//!    program measured through dm-verity before its first start, so a program that fails
//!    verification is refused, never run), with `READY` on the console once every service has
//!    been started or refused;
//! 6. on ctrl-alt-del (SIGINT) a clean reboot, on SIGTERM or SIGPWR a clean power-off: the
//!    services stopped, the data partition unmounted, the file systems synced.
//!
//! A step before the root is verified that fails stops the boot: nothing from an unverified
//! root runs. PID 1 then reports and reboots, so a boot counter can fall back to the other slot.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use qp_management::{LogRing, StatusBoard, StatusReport};

/// The initramfs's boot configuration (written by `qpctl image build`).
const INITRD_CONFIG: &str = "/etc/qp/initrd.toml";
const SYSROOT: &str = "/sysroot";
/// On the verified root.
const MANIFEST: &str = "/etc/qp/manifest.toml";
const BUILD_INFO: &str = "/etc/qp/build-info.json";
const DATA: &str = "/data";
/// The EFI system partition, read-write for the update service's boot entries (on /run: the
/// verified root has no mount point for it, and /run is per boot).
const ESP: &str = "/run/esp";
/// The update service's health markers (a tmpfs folder: each boot starts with none).
const HEALTH_DIR: &str = "/run/qp/health";
/// The update service asks for a clean reboot by creating this file.
const REBOOT_REQUEST: &str = "/run/qp/reboot-request";
const VERITY_NAME: &str = "qp-root";
const PARTITION_TIMEOUT: Duration = Duration::from_secs(20);
const TICK: Duration = Duration::from_millis(50);
const PUBLISH_EVERY: Duration = Duration::from_millis(500);
/// A failed boot waits this long (its message readable on the console) before rebooting.
const FAILED_BOOT_PAUSE: Duration = Duration::from_secs(5);

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InitrdConfig {
    kernel_release: String,
    modules: Vec<PathBuf>,
}

/// What ends PID 1's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PowerAction {
    Reboot,
    PowerOff,
}

/// The machine's signals: SIGINT (ctrl-alt-del) asks for a reboot, SIGTERM and SIGPWR for a
/// power-off; either stops the loop.
struct MachineSignals {
    stop: Arc<AtomicBool>,
    reboot: Arc<AtomicBool>,
}

impl MachineSignals {
    fn register() -> std::io::Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        // Not in signal-hook's portable list; Linux's number.
        const SIGPWR: i32 = 30;
        let signals = Self { stop: Arc::default(), reboot: Arc::default() };
        for signal in [SIGINT, SIGTERM, SIGPWR] {
            signal_hook::flag::register(signal, Arc::clone(&signals.stop))?;
        }
        signal_hook::flag::register(SIGINT, Arc::clone(&signals.reboot))?;
        Ok(signals)
    }

    fn action(&self) -> PowerAction {
        if self.reboot.load(Ordering::Relaxed) { PowerAction::Reboot } else { PowerAction::PowerOff }
    }
}

/// Counts pets for the status report.
struct CountingWatchdog {
    device: qp_supervisor::DeviceWatchdog,
    pets: Arc<AtomicU64>,
}

impl qp_supervisor::Watchdog for CountingWatchdog {
    fn pet(&mut self) -> std::io::Result<()> {
        self.device.pet()?;
        self.pets.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// One service as `qpctl status` shows it.
fn service_status(view: qp_supervisor::ServiceView<'_>) -> qp_management::report::ServiceStatus {
    use qp_management::report::{ServiceRunState, ServiceStatus, describe_exit};
    use qp_supervisor::ServiceState;
    let exit = |e: &qp_supervisor::ExitSummary| describe_exit(e.code, e.signal, e.uptime_ns / 1_000_000);
    let (state, pid, last_exit, detail) = match view.state {
        ServiceState::Idle => (ServiceRunState::Idle, None, None, None),
        ServiceState::Running { pid, .. } => (ServiceRunState::Running, Some(*pid), None, None),
        ServiceState::BackingOff { last_exit, .. } => (ServiceRunState::BackingOff, None, Some(exit(last_exit)), None),
        ServiceState::Held { last_exit, restarts } => {
            (ServiceRunState::Held, None, Some(exit(last_exit)), Some(format!("held after {restarts} quick restarts")))
        }
        ServiceState::Stopped => (ServiceRunState::Stopped, None, None, None),
        ServiceState::Refused { reason } => (ServiceRunState::Refused, None, None, Some(reason.clone())),
    };
    let detail = detail.or_else(|| view.digest.map(|d| format!("sha256 {}", qp_init::cmdline::to_hex(&d))));
    ServiceStatus {
        name: view.name.to_owned(),
        state,
        pid,
        restarts: view.restarts,
        last_exit,
        rss_kib: pid.and_then(qp_management::proc_stats::process_rss_kib),
        detail,
    }
}

/// PID 1's whole life. Never returns: it ends in a reboot or a power-off.
pub fn main() -> ! {
    let _ = qp_init::attach_console();
    // Before logging: /dev and /proc are where the console and the log's clock come from.
    if let Err(err) = qp_init::mount_pseudo_filesystems() {
        println!("qp-node: BOOT FAILED: {err}");
    }
    let ring = Arc::new(LogRing::new(512, 512));
    if let Err(err) = qp_management::logs::install(Arc::clone(&ring), Box::new(std::io::stdout()), "info") {
        println!("qp-node: logs: {err}");
    }
    let action = match boot_and_supervise(&ring) {
        Ok(action) => action,
        Err(err) => {
            tracing::error!("boot failed: {err:#}");
            println!("qp-node: BOOT FAILED: {err:#}; rebooting in {} s", FAILED_BOOT_PAUSE.as_secs());
            std::thread::sleep(FAILED_BOOT_PAUSE);
            PowerAction::Reboot
        }
    };
    finish(action)
}

/// Syncs, unmounts and reboots or powers off. PID 1 must never exit (the kernel would panic),
/// so a failed reboot call is reported and retried.
fn finish(action: PowerAction) -> ! {
    let report = qp_init::unmount_all_for_shutdown(&[DATA, ESP]);
    tracing::info!(?report, "file systems released");
    loop {
        let err = match action {
            PowerAction::Reboot => {
                println!("qp-node: rebooting");
                qp_init::reboot()
            }
            PowerAction::PowerOff => {
                println!("qp-node: powering off");
                qp_init::power_off()
            }
        };
        println!("qp-node: {action:?} failed: {err}");
        std::thread::sleep(Duration::from_secs(5));
    }
}

fn kernel_uptime_ms() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    let seconds: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some((seconds * 1e3) as u64)
}

/// The verified root, mounted and switched to.
fn mount_verified_root() -> anyhow::Result<qp_init::BootParams> {
    let text = std::fs::read_to_string(INITRD_CONFIG).with_context(|| INITRD_CONFIG.to_owned())?;
    let initrd: InitrdConfig = qp_config_text::parse_toml(&text)
        .map_err(|err| anyhow::anyhow!("{INITRD_CONFIG}: {}{}", err.line_prefix(), err.message))?;
    let modules_dir = Path::new("/lib/modules").join(&initrd.kernel_release);
    let report = qp_init::load_modules(&modules_dir, &initrd.modules);
    tracing::info!(%report, "kernel modules");
    for failure in report.failures() {
        tracing::error!(%failure, "kernel module");
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").context("/proc/cmdline")?;
    let params = qp_init::BootParams::parse(&cmdline)?;
    let root = qp_init::find_partition(&params.root_label(), PARTITION_TIMEOUT)?;
    let hash = qp_init::find_partition(&params.verity_label(), PARTITION_TIMEOUT)?;
    let device = qp_init::create_verity(VERITY_NAME, &root, &hash, &params.verity)?;
    tracing::info!(
        slot = %params.slot,
        device = %device.display(),
        root_hash = %params.verity.root_hash_hex(),
        "root verified by dm-verity"
    );
    qp_init::mount_readonly(&device, Path::new(SYSROOT), "erofs")?;
    qp_init::switch_root(Path::new(SYSROOT))?;
    Ok(params)
}

fn boot_and_supervise(ring: &Arc<LogRing>) -> anyhow::Result<PowerAction> {
    if let Err(err) = qp_init::disable_ctrl_alt_del() {
        tracing::warn!("ctrl-alt-del stays a hard reset: {err}");
    }
    let signals = MachineSignals::register().context("signal handlers")?;
    let params = mount_verified_root()?;

    // The data partition: the node's configuration, identity and state. A node without one
    // still runs what needs none of it.
    match qp_init::find_partition("qp-data", PARTITION_TIMEOUT)
        .map_err(anyhow::Error::from)
        .and_then(|data| Ok(qp_init::mount_data(&data.dev_path, Path::new(DATA))?))
    {
        Ok(()) => tracing::info!("data partition on {DATA}"),
        Err(err) => tracing::error!("data partition: {err:#}"),
    }
    // The ESP, for the update service's boot entries. A node without one boots and runs; it
    // cannot take updates.
    match qp_init::find_partition("qp-esp", PARTITION_TIMEOUT)
        .map_err(anyhow::Error::from)
        .and_then(|esp| Ok(qp_init::mount_esp(&esp.dev_path, Path::new(ESP))?))
    {
        Ok(()) => tracing::info!("EFI system partition on {ESP}"),
        Err(err) => tracing::error!("EFI system partition: {err:#}"),
    }
    watch_reboot_request(&signals);

    let manifest = qp_supervisor::Manifest::load(Path::new(MANIFEST))?;
    let build = std::fs::read_to_string(BUILD_INFO).ok();
    let image_build = build
        .as_deref()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|info| info.get("image_version").and_then(|v| v.as_str()).map(str::to_owned))
        .unwrap_or_default();

    match &manifest.network {
        Some(network) => match qp_init::configure(network, Path::new("/sys/class/net")) {
            Ok(state) => tracing::info!(%state, "network"),
            Err(err) => tracing::error!("network: {err}"),
        },
        None => tracing::info!("network: none in the manifest"),
    }

    let board = Arc::new(StatusBoard::default());
    let _management = manifest.management.as_ref().and_then(|management| {
        match start_management(management, Arc::clone(&board), Arc::clone(ring)) {
            Ok(server) => Some(server),
            Err(err) => {
                tracing::error!("management API not started: {err:#}");
                None
            }
        }
    });
    let node_id = manifest
        .management
        .as_ref()
        .and_then(|m| qp_bridge_identity::NodeCredentials::load(&m.cert, &m.key, &m.ca).ok())
        .map(|c| c.id.to_string())
        .unwrap_or_default();

    let pets = Arc::new(AtomicU64::new(0));
    let mut watchdog = ["/dev/watchdog0", "/dev/watchdog"].iter().find_map(|path| {
        qp_supervisor::DeviceWatchdog::open(Path::new(path))
            .ok()
            .map(|device| CountingWatchdog { device, pets: Arc::clone(&pets) })
    });
    if watchdog.is_none() {
        tracing::warn!("no watchdog device");
    }

    let measured = measure_boot(&manifest, &params);
    let mut supervisor = qp_supervisor::Supervisor::new(manifest.services())
        .with_reaping(qp_supervisor::Reaping::AllChildren)
        .with_start_gate(Box::new(measured))
        .with_output_capture(true);
    // The first round starts (or refuses) every service: then the node is ready.
    for event in supervisor.poll() {
        tracing::info!(?event, "service");
    }
    let refused = supervisor.views().filter(|v| matches!(v.state, qp_supervisor::ServiceState::Refused { .. })).count();
    let boot_ms = kernel_uptime_ms();
    println!(
        "qp-node: READY variant={} slot={} services={} refused={refused} uptime_ms={}",
        manifest.variant,
        params.slot,
        manifest.services.len(),
        boot_ms.unwrap_or(0)
    );

    let started = Instant::now();
    let mut last_publish: Option<Instant> = None;
    let versions = qp_management::report::Versions {
        qp_node: env!("CARGO_PKG_VERSION").to_owned(),
        image_build,
        kernel: qp_management::proc_stats::kernel_release().unwrap_or_default(),
    };
    let mut services_up =
        crate::update_service::HealthMarker::new(Path::new(HEALTH_DIR).join(qp_update_core::SERVICES_UP_MARKER));
    let mut publish = |supervisor: &qp_supervisor::Supervisor| {
        if last_publish.is_some_and(|at| at.elapsed() < PUBLISH_EVERY) {
            return;
        }
        last_publish = Some(Instant::now());
        services_up
            .set(supervisor.views().all(|view| matches!(view.state, qp_supervisor::ServiceState::Running { .. })));
        board.publish(StatusReport {
            node_id: node_id.clone(),
            variant: manifest.variant.clone(),
            versions: versions.clone(),
            boot_ms,
            uptime_s: started.elapsed().as_secs(),
            services: supervisor.views().map(service_status).collect(),
            metrics: qp_management::report::Metrics::sample(supervisor.rounds(), pets.load(Ordering::Relaxed)),
            ..StatusReport::default()
        });
    };
    publish(&supervisor);
    let events = supervisor.run(
        &signals.stop,
        TICK,
        watchdog.as_mut().map(|w| w as &mut dyn qp_supervisor::Watchdog),
        &mut publish,
    );
    tracing::info!(events = events.len(), "stopping services");
    println!("qp-node: stopping services");
    supervisor.shutdown(Duration::from_secs(5));
    Ok(signals.action())
}

/// Watches for the update service's reboot request: a clean reboot, as ctrl-alt-del gives.
fn watch_reboot_request(signals: &MachineSignals) {
    let (stop, reboot) = (Arc::clone(&signals.stop), Arc::clone(&signals.reboot));
    let spawned = std::thread::Builder::new().name("qp-reboot-watch".to_owned()).spawn(move || {
        let path = Path::new(REBOOT_REQUEST);
        while !stop.load(Ordering::Relaxed) {
            if let Ok(why) = std::fs::read_to_string(path) {
                let _ = std::fs::remove_file(path);
                tracing::info!(reason = %why.trim(), "reboot requested by the update service");
                println!("qp-node: reboot requested: {}", why.trim());
                reboot.store(true, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    if let Err(err) = spawned {
        tracing::error!("no reboot-request watcher: {err}");
    }
}

/// Measures the boot into the TPM's product PCR (the verity root hash, the manifest, the model
/// files, the service programs: `qp_supervisor::measure`), writes the event log for the TPM
/// service, and answers the start gate that lets only the measured programs run. The root hash
/// goes first: it pins every byte that is read after it, the manifest included.
fn measure_boot(manifest: &qp_supervisor::Manifest, params: &qp_init::BootParams) -> qp_supervisor::MeasuredPrograms {
    use qp_attest_core::log::MeasurementLog;
    use qp_supervisor::measure::{LOG_PATH, PCR_PRODUCT};
    let boot = match qp_supervisor::boot_measurements(Path::new("/"), manifest, &params.verity.root_hash) {
        Ok(boot) => boot,
        Err(err) => {
            tracing::error!("boot measurement failed, nothing will run: {err}");
            return qp_supervisor::MeasuredPrograms::from_log(&MeasurementLog::new());
        }
    };
    for err in &boot.unreadable {
        tracing::error!("not measured: {err}");
    }
    // The log holds what the PCR holds: events up to the first that could not be extended.
    let mut extended = MeasurementLog::new();
    match qp_init::tpm::TpmChannel::open_device(Path::new(qp_init::tpm::TPM_DEVICE)) {
        Ok(mut tpm) => {
            for event in boot.log.events() {
                if let Err(err) = tpm.extend(event.pcr, &event.digest) {
                    tracing::error!("TPM: {err}: the rest of the boot is not measured");
                    break;
                }
                if extended.append(event.clone()).is_err() {
                    break;
                }
            }
            match tpm.read(PCR_PRODUCT) {
                Ok(value) => tracing::info!(
                    events = extended.len(),
                    pcr = PCR_PRODUCT,
                    value = %qp_attest_core::hex(&value),
                    "boot measured into the TPM"
                ),
                Err(err) => tracing::error!("TPM: {err}"),
            }
        }
        Err(err) => tracing::warn!("no TPM ({err}): the boot is not measured into a PCR, so it cannot be attested"),
    }
    let log_path = Path::new(LOG_PATH);
    let written = log_path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(log_path, extended.encode()));
    if let Err(err) = written {
        tracing::error!("{LOG_PATH}: {err}");
    }
    qp_supervisor::MeasuredPrograms::from_log(&boot.log)
}

fn start_management(
    section: &qp_supervisor::manifest::ManagementSection,
    board: Arc<StatusBoard>,
    ring: Arc<LogRing>,
) -> anyhow::Result<qp_management::ManagementServer> {
    let credentials = qp_bridge_identity::NodeCredentials::load(&section.cert, &section.key, &section.ca)
        .with_context(|| format!("node identity {}", section.cert.display()))?;
    let config = Arc::new(credentials.management_server_config()?);
    let listener =
        std::net::TcpListener::bind(section.listen).with_context(|| format!("listen on {}", section.listen))?;
    Ok(qp_management::ManagementServer::spawn(listener, config, board, ring)?)
}
