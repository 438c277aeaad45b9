//! `qp-node run --config FILE`: a node on the bridge.
//!
//! - **cloud**: scores the recorded headlines with SentimentX (the ingest agent) and sends each
//!   signal frame to every local node it dials, over mutual TLS; each local node has its own
//!   outbound stream, so a cut connection resumes where it stopped.
//! - **local**: accepts cloud nodes of its fleet, takes their signal frames (per-peer streams,
//!   credit back-pressure) and counts them per cloud node; `--frames-out FILE` appends them to a
//!   frames file (`qpctl inspect frames FILE`).
//!
//! Either prints a status line every `--status-every` seconds and a summary when stopped
//! (SIGTERM, SIGINT, or `--max-frames`).
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use qp_bridge_identity::{NodeCredentials, Role};
use qp_bridge_proto::{ConnectionConfig, ConnectionSettings};
use qp_bridge_transport::{TransportChoice, resolve_transport};

use crate::node_config::NodeConfig;

/// How `qp-node run` runs, beyond its configuration file.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop after this many frames (cloud: sent and acknowledged; local: received).
    pub max_frames: Option<u64>,
    /// A local node appends the frames it receives here.
    pub frames_out: Option<PathBuf>,
    pub status_every: Duration,
}

pub(crate) fn settings(config: &NodeConfig) -> anyhow::Result<ConnectionSettings> {
    let ms = 1_000_000;
    Ok(ConnectionConfig {
        heartbeat_interval_ns: config.bridge.heartbeat_ms * ms,
        dead_after_ns: config.bridge.dead_after_ms * ms,
        stall_after_ns: 2 * config.bridge.dead_after_ms * ms,
        ..ConnectionConfig::default()
    }
    .validate()?)
}

/// A session epoch that differs on each start of the process (so a peer knows it restarted).
pub(crate) fn fresh_epoch() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    (now ^ u64::from(std::process::id()).rotate_left(32)).max(1)
}

/// Runs the node until it is stopped; answers the summary line.
pub fn run_node(config_path: &Path, options: &RunOptions) -> anyhow::Result<String> {
    let config = NodeConfig::load(config_path)?;
    let identity = &config.identity;
    let credentials = NodeCredentials::load(&identity.cert, &identity.key, &identity.ca)
        .with_context(|| format!("node identity ({})", identity.cert.display()))?;
    let role: Role = config.node.role.parse()?;
    if credentials.id.role() != role || credentials.id.name() != config.node.name {
        anyhow::bail!(
            "config {}: node {} ({}) but the certificate {} is {}",
            config_path.display(),
            config.node.name,
            config.node.role,
            identity.cert.display(),
            credentials.id
        );
    }
    let choice = match config.bridge.transport.as_str() {
        "io_uring" => TransportChoice::IoUring,
        "epoll" => TransportChoice::Epoll,
        _ => TransportChoice::Auto,
    };
    let kind = resolve_transport(choice)?;
    let signals = crate::signals::NodeSignals::register()?;
    tracing::info!(node = %credentials.id, transport = kind.name(), "starting");
    match role {
        #[cfg(feature = "vault")]
        Role::Local => crate::run_local::run_local(&config, &credentials, kind, options, &signals),
        #[cfg(feature = "ingest")]
        Role::Cloud => crate::run_cloud::run_cloud(&config, &credentials, kind, options, &signals),
        #[allow(unreachable_patterns)] // every role is reachable in the default build
        other => anyhow::bail!("this build of qp-node does not carry the {} role", other.as_str()),
    }
}
