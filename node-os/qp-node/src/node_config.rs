//! `qp-node run --config FILE`: the node's role, identity and bridge. Every key is required but
//! where a default is documented; unknown keys are errors (typos), and every error names the file
//! and the line or key.
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub node: NodeSection,
    pub identity: IdentitySection,
    pub bridge: BridgeSection,
    /// A cloud node's signal source. Required for `role = "cloud"`.
    #[serde(default)]
    pub cloud: Option<CloudSection>,
    /// A local node's vault secrets, unsealed by the TPM service. Local nodes only.
    #[serde(default)]
    pub vault: Option<VaultSection>,
    /// Where the update service (`qp-node update`) looks for signed releases. Without it the
    /// service still commits or rolls back a pending update, and fetches nothing.
    #[serde(default)]
    pub update: Option<UpdateSection>,
}

/// The fleet's update repository (`qpctl update publish` keeps it) and how often to ask it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSection {
    /// `file:///DIR` or `http://IP:PORT/PATH` (no names: the node has no resolver).
    pub repository: String,
    /// Seconds between checks of the repository. Default 300.
    #[serde(default = "default_poll_s")]
    pub poll_s: u64,
    /// Seconds a new slot has to prove healthy (services up, bridge peer connected, attestation
    /// passed) before the service reboots to spend one of its boot tries. Default 600.
    #[serde(default = "default_health_timeout_s")]
    pub health_timeout_s: u64,
    /// Read each written partition back past the page cache before its boot entry is written.
    /// Default true.
    #[serde(default = "default_true")]
    pub read_back: bool,
}

fn default_poll_s() -> u64 {
    300
}

fn default_health_timeout_s() -> u64 {
    600
}

fn default_true() -> bool {
    true
}

/// The secrets a local node needs from its TPM service's vault (`qpctl vault seal` put them
/// there). Each is asked for until it is unsealed; the bridge does not wait for them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSection {
    /// The TPM service's vault socket (`/run/qp/vault.sock` on a node).
    pub socket: PathBuf,
    /// The secrets' names (1-64 of `[a-z0-9._-]` each).
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Must match the certificate's node name.
    pub name: String,
    /// "cloud" or "local"; must match the certificate's role.
    pub role: String,
    /// Frame origin id this node stamps.
    pub origin_node: u32,
}

/// The node's certificate, key and fleet CA (`qpctl ca issue`), paths relative to the working
/// directory. The key is either a key file (`key`) or the TPM's key through the TPM service's
/// socket (`signer = "socket:/run/qp/signer.sock"`), never both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySection {
    pub cert: PathBuf,
    #[serde(default)]
    pub key: Option<PathBuf>,
    #[serde(default)]
    pub signer: Option<String>,
    pub ca: PathBuf,
    /// Wait for `cert` to appear (an attested certificate that `qpctl attest` installs) instead
    /// of failing at once. Default false.
    #[serde(default)]
    pub wait_for_cert: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeSection {
    /// "auto" (io_uring where available, else epoll, logged), "io_uring" or "epoll".
    pub transport: String,
    /// A local node listens here.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// A cloud node dials these local nodes.
    #[serde(default)]
    pub dial: Vec<SocketAddr>,
    /// Frames a cloud node keeps for resume (unacknowledged), and a local node's credit window.
    pub window_frames: usize,
    pub heartbeat_ms: u64,
    /// Nothing heard for this long: the peer is dead.
    pub dead_after_ms: u64,
    /// Admit only peers whose certificate was issued after a passing attestation (`qpctl
    /// attest`), and no longer-lived than `max_peer_cert_lifetime_s`. Default false.
    #[serde(default)]
    pub require_attested_peers: bool,
    /// Default 86,400 (a day).
    #[serde(default = "default_max_peer_cert_lifetime_s")]
    pub max_peer_cert_lifetime_s: u64,
}

fn default_max_peer_cert_lifetime_s() -> u64 {
    86_400
}

/// What a cloud node sends: the recorded headlines scored by SentimentX, in a loop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudSection {
    /// The shared data folder (its `tfns/train.csv`).
    pub data: PathBuf,
    /// Headlines scored per second (0: as fast as the bridge takes them).
    pub headlines_per_s: u64,
}

/// Why a node configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum NodeConfigError {
    #[error("config {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config {path}: {location}{message}")]
    Parse { path: String, location: String, message: String },
    #[error("config {path}: {key}: {problem}")]
    Invalid { path: String, key: &'static str, problem: String },
}

impl NodeConfig {
    pub fn load(path: &std::path::Path) -> Result<Self, NodeConfigError> {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| NodeConfigError::Read { path: name.clone(), source })?;
        Self::from_toml(&text, &name)
    }

    pub fn from_toml(text: &str, path: &str) -> Result<Self, NodeConfigError> {
        let config: NodeConfig = qp_config_text::parse_toml(text).map_err(|err| NodeConfigError::Parse {
            path: path.to_owned(),
            location: err.line_prefix(),
            message: err.message,
        })?;
        let invalid = |key, problem: &str| {
            Err(NodeConfigError::Invalid { path: path.to_owned(), key, problem: problem.to_owned() })
        };
        match config.node.role.as_str() {
            "local" if config.bridge.listen.is_none() => return invalid("bridge.listen", "a local node listens"),
            "cloud" if config.bridge.dial.is_empty() => {
                return invalid("bridge.dial", "a cloud node dials at least one local node");
            }
            "cloud" if config.cloud.is_none() => return invalid("cloud", "a cloud node needs its [cloud] section"),
            "local" | "cloud" => {}
            _ => return invalid("node.role", "must be \"cloud\" or \"local\""),
        }
        match (&config.identity.key, &config.identity.signer) {
            (Some(_), None) => {}
            (None, Some(signer)) if signer.starts_with("socket:") && signer.len() > "socket:".len() => {}
            (None, Some(_)) => return invalid("identity.signer", "must be \"socket:<path>\""),
            _ => return invalid("identity", "exactly one of key and signer"),
        }
        if !matches!(config.bridge.transport.as_str(), "auto" | "io_uring" | "epoll") {
            return invalid("bridge.transport", "must be \"auto\", \"io_uring\" or \"epoll\"");
        }
        if config.bridge.window_frames == 0 || config.bridge.heartbeat_ms == 0 {
            return invalid("bridge", "window_frames and heartbeat_ms must be positive");
        }
        if let Some(vault) = &config.vault {
            if config.node.role != "local" {
                return invalid("vault", "only a local node keeps a vault");
            }
            if vault.secrets.is_empty() {
                return invalid("vault.secrets", "names no secret");
            }
            if let Some(bad) =
                vault.secrets.iter().find(|name| !qp_attest_core::attest_proto::secret_name_ok(name.as_bytes()))
            {
                return invalid("vault.secrets", &format!("{bad:?} is not 1-64 of [a-z0-9._-]"));
            }
        }
        if let Some(update) = &config.update {
            if !(update.repository.starts_with("file:///") || update.repository.starts_with("http://")) {
                return invalid("update.repository", "must be file:///DIR or http://IP:PORT/PATH");
            }
            if update.poll_s == 0 || update.health_timeout_s == 0 {
                return invalid("update", "poll_s and health_timeout_s must be positive");
            }
        }
        if config.bridge.dead_after_ms <= config.bridge.heartbeat_ms {
            return invalid("bridge.dead_after_ms", "must be longer than heartbeat_ms");
        }
        Ok(config)
    }
}
