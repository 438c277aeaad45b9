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
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use qp_bridge_identity::{NodeCredentials, Role};
use qp_bridge_proto::{ConnectionConfig, ConnectionSettings};
use qp_bridge_transport::{TransportChoice, resolve_transport};
use qp_node_key::NodeSigner;

use crate::node_config::NodeConfig;

/// How `qp-node run` runs, beyond its configuration file.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop after this many frames (cloud: sent and acknowledged; local: received).
    pub max_frames: Option<u64>,
    /// A local node appends the frames it receives here.
    pub frames_out: Option<PathBuf>,
    pub status_every: Duration,
    /// A file that exists while a bridge peer is connected (the update service's health check).
    pub peer_marker: Option<PathBuf>,
}

/// Keeps the peer marker file in step with the open connections (checked every 250 ms).
pub(crate) struct PeerMarker {
    marker: Option<crate::update_service::HealthMarker>,
    next: std::time::Instant,
}

impl PeerMarker {
    pub(crate) fn new(path: Option<&Path>) -> Self {
        Self {
            marker: path.map(|p| crate::update_service::HealthMarker::new(p.to_owned())),
            next: std::time::Instant::now(),
        }
    }

    pub(crate) fn update(&mut self, open: impl FnOnce() -> bool) {
        let Some(marker) = &mut self.marker else { return };
        let now = std::time::Instant::now();
        if now >= self.next {
            self.next = now + Duration::from_millis(250);
            marker.set(open());
        }
    }

    /// The node stops: no peer any more.
    pub(crate) fn clear(&mut self) {
        if let Some(marker) = &mut self.marker {
            marker.set(false);
        }
    }
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
    let signals = crate::signals::NodeSignals::register()?;
    // The vault's secrets are asked for from the start, beside the bridge (which may still wait
    // for its certificate); held until the node stops.
    #[cfg(feature = "vault")]
    let _vault = match &config.vault {
        Some(vault) => Some(crate::vault::spawn_unsealer(vault, signals.stop.clone())?),
        None => None,
    };
    if identity.wait_for_cert && !wait_for_file(&identity.cert, &signals) {
        return Ok("stopped before the certificate arrived".to_owned());
    }
    let signer: Arc<dyn NodeSigner> = match (&identity.key, &identity.signer) {
        (Some(key), _) => {
            Arc::new(qp_node_key::FileKeySigner::load(key).with_context(|| format!("node key ({})", key.display()))?)
        }
        (None, Some(signer)) => {
            let path = Path::new(signer.trim_start_matches("socket:"));
            Arc::new(connect_signer(path, &signals)?)
        }
        (None, None) => anyhow::bail!("config {}: identity has no key or signer", config_path.display()),
    };
    let mut credentials = NodeCredentials::with_signer(&identity.cert, signer, &identity.ca)
        .with_context(|| format!("node identity ({})", identity.cert.display()))?;
    if config.bridge.require_attested_peers {
        credentials = credentials.require_attested_peers(qp_bridge_identity::AttestedPolicy {
            max_lifetime: Duration::from_secs(config.bridge.max_peer_cert_lifetime_s),
        });
    }
    if let Some(attested) = qp_bridge_identity::certificate_attested(credentials.certificate_der())? {
        tracing::info!(image = %attested.image_id, lifetime_s = attested.lifetime.as_secs(), "attested certificate");
    }
    // A renewed certificate (the next attestation's) takes a restart: the supervisor restarts
    // this service when it exits.
    watch_certificate(&identity.cert, &signals);
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

/// Waits until `path` exists (logged once); false if the node was stopped first.
fn wait_for_file(path: &Path, signals: &crate::signals::NodeSignals) -> bool {
    if path.exists() {
        return true;
    }
    tracing::info!(cert = %path.display(), "waiting for the attested certificate (qpctl attest installs it)");
    while !signals.stop.load(Ordering::Relaxed) {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// The TPM service's signer; it may still be starting (both are services of one supervisor).
fn connect_signer(path: &Path, signals: &crate::signals::NodeSignals) -> anyhow::Result<qp_node_key::SocketSigner> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match qp_node_key::SocketSigner::connect(path) {
            Ok(signer) => return Ok(signer),
            Err(err) if std::time::Instant::now() >= deadline || signals.stop.load(Ordering::Relaxed) => {
                return Err(err).context("the TPM service's signer");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Stops the node when the certificate file changes (a renewal), so it restarts with it.
fn watch_certificate(path: &Path, signals: &crate::signals::NodeSignals) {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let (path, first, stop) = (path.to_owned(), modified(path), signals.stop.clone());
    let spawned = std::thread::Builder::new().name("qp-cert-watch".to_owned()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_secs(1));
            if modified(&path) != first {
                tracing::info!(cert = %path.display(), "certificate renewed: restarting to use it");
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot watch the certificate for renewal");
    }
}
