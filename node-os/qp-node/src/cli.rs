use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// QuantPype Node daemon.
#[derive(Debug, Parser)]
#[command(name = "qp-node", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay recorded headlines and market data through the five-step loop and
    /// print what happened and a per-stage latency table.
    #[cfg(feature = "demo")]
    Demo {
        /// The recorded data (the project's shared data folder).
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        /// A full configuration file replacing the embedded default.
        #[arg(long)]
        config: Option<PathBuf>,
        /// RiskSentinel's limits file (default: the configuration's `[risk] limits`). SIGHUP
        /// re-reads it: a valid file is applied before the risk stage's next frame, an invalid
        /// one is refused with the reason and the old limits stay.
        #[arg(long, value_name = "FILE")]
        risk_limits: Option<PathBuf>,
        /// Replay pace relative to recorded time (`10`: ten times as fast as recorded).
        /// Default: as fast as the loop takes it.
        #[arg(long, value_name = "X", value_parser = parse_speed)]
        speed: Option<f64>,
        /// Append every order intent, veto and execution report (and the models behind them)
        /// to a hash-chained, signed audit trail at FILE (a new file; `qpctl audit verify FILE`).
        #[arg(long, value_name = "FILE")]
        audit: Option<PathBuf>,
        /// The node's signing key for the audit trail (PKCS#8 PEM, `qpctl audit keygen`).
        /// Default: a fresh key made beside the trail, FILE.key and FILE.key.pub.
        #[arg(long, value_name = "KEYFILE", requires = "audit")]
        audit_key: Option<PathBuf>,
        /// Also write the output stream's SHA-256 (hex, one line) to FILE.
        #[arg(long, value_name = "FILE")]
        output_hash: Option<PathBuf>,
        /// Where the latency histogram and the P&L curve (SVG) go. Default: qp-node-demo in
        /// the system's temp folder.
        #[arg(long, value_name = "DIR")]
        charts: Option<PathBuf>,
    },
    /// Supervise the services of an image manifest (as an ordinary process: PID 1's own duties
    /// are the sealed image's). SIGTERM or SIGINT stops the services and exits.
    Supervise {
        #[arg(long)]
        manifest: PathBuf,
        /// Milliseconds between rounds of the loop.
        #[arg(long, default_value_t = 50)]
        tick_ms: u64,
        /// A watchdog device to pet each round (`/dev/watchdog`).
        #[arg(long)]
        watchdog: Option<PathBuf>,
    },
    /// Run as a node on the bridge: a cloud node sends SentimentX's signals to the local nodes
    /// it dials; a local node accepts its fleet's cloud nodes and takes their signals.
    Run {
        /// The node's role; must match the configuration and the certificate.
        #[arg(long, value_parser = ["cloud", "local"])]
        role: String,
        #[arg(long)]
        config: PathBuf,
        /// Stop after this many frames (cloud: sent and acknowledged; local: received).
        #[arg(long)]
        max_frames: Option<u64>,
        /// A local node appends every frame it receives to FILE (`qpctl inspect frames FILE`).
        #[arg(long, value_name = "FILE")]
        frames_out: Option<PathBuf>,
        /// Seconds between status lines.
        #[arg(long, default_value_t = 5)]
        status_every: u64,
        /// A file that exists while a bridge peer is connected (the update service's health
        /// check: `/run/qp/health/bridge-peer` on a node).
        #[arg(long, value_name = "FILE")]
        peer_marker: Option<PathBuf>,
    },
    /// The A/B update service: commits or rolls back a pending update after each boot, and
    /// writes newer signed releases from the configuration's `[update]` repository into the
    /// inactive slot, then asks PID 1 to reboot. The defaults are the sealed image's paths.
    Update(crate::update_service::UpdatePaths),
}

#[cfg(feature = "demo")]
fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed.is_finite() && speed > 0.0 => Ok(speed),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

/// Logs go to stderr; `RUST_LOG` filters them (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Supervise { manifest, tick_ms, watchdog } => {
            let manifest = qp_supervisor::Manifest::load(&manifest)?;
            let signals = crate::signals::NodeSignals::register()?;
            let mut device = match watchdog {
                Some(path) => Some(
                    qp_supervisor::DeviceWatchdog::open(&path)
                        .map_err(|err| anyhow::anyhow!("watchdog {}: {err}", path.display()))?,
                ),
                None => None,
            };
            let mut supervisor = qp_supervisor::Supervisor::new(manifest.services());
            println!("supervising {} service(s) of the {} image", manifest.services.len(), manifest.variant);
            let events = supervisor.run(
                &signals.stop,
                std::time::Duration::from_millis(tick_ms.max(1)),
                device.as_mut().map(|d| d as &mut dyn qp_supervisor::Watchdog),
                |_| {},
            );
            // As they stood when the stop came, then stopped.
            for (name, state) in supervisor.states() {
                let restarts = supervisor.restarts(name).unwrap_or(0);
                let state = match state {
                    qp_supervisor::ServiceState::Running { pid, .. } => format!("running (pid {pid})"),
                    qp_supervisor::ServiceState::Held { last_exit, .. } => {
                        format!("held (last exit code {:?}, signal {:?})", last_exit.code, last_exit.signal)
                    }
                    other => format!("{other:?}"),
                };
                println!("  {name}: {state}, {restarts} restart(s)");
            }
            supervisor.shutdown(std::time::Duration::from_secs(5));
            let held = events.iter().filter(|e| matches!(e, qp_supervisor::ServiceEvent::Held { .. })).count();
            println!("stopped: {} event(s), {held} service(s) held", events.len());
            Ok(())
        }
        Command::Update(paths) => {
            let signals = crate::signals::NodeSignals::register()?;
            crate::update_service::run(&paths, &signals.stop)
        }
        Command::Run { role, config, max_frames, frames_out, status_every, peer_marker } => {
            let file = crate::node_config::NodeConfig::load(&config)?;
            anyhow::ensure!(
                file.node.role == role,
                "--role {role}, but {} says role = {:?}",
                config.display(),
                file.node.role
            );
            let options = crate::run::RunOptions {
                max_frames,
                frames_out,
                status_every: std::time::Duration::from_secs(status_every.max(1)),
                peer_marker,
            };
            println!("{}", crate::run::run_node(&config, &options)?);
            Ok(())
        }
        #[cfg(feature = "demo")]
        Command::Demo { data, config, risk_limits, speed, audit, audit_key, output_hash, charts } => {
            let mut config = qp_loop::LoopConfig::load(config.as_deref())?;
            if let Some(path) = risk_limits {
                config.risk.limits = path.display().to_string();
            }
            let options = crate::demo::DemoOptions {
                speed,
                signals: crate::signals::NodeSignals::register()?,
                window: None,
                audit: audit.map(|path| crate::demo::AuditOptions { path, key: audit_key }),
            };
            let report = crate::demo::run_demo(&config, &data, &options)?;
            if let Some(path) = output_hash {
                std::fs::write(&path, format!("{}\n", report.output_hash))
                    .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
            }
            print!("{report}");
            let dir = charts.unwrap_or_else(|| std::env::temp_dir().join("qp-node-demo"));
            let [latency, pnl] =
                report.write_charts(&dir).map_err(|err| anyhow::anyhow!("charts in {}: {err}", dir.display()))?;
            println!("  charts     {} (latency histogram), {} (P&L curve)", latency.display(), pnl.display());
            Ok(())
        }
    }
}
