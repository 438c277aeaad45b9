//! The image manifest's services: what the supervisor runs, from a TOML file the image carries
//! (`/etc/qp/manifest.toml`). Every key is required but where a default is said; unknown keys
//! are errors; every error names the file and the line or the service.
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::{RestartPolicy, ServiceSpec};

/// The manifest: the image variant and its services.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// "local" or "cloud".
    pub variant: String,
    #[serde(default)]
    pub services: Vec<ServiceEntry>,
    /// PID 1's networking (`[network]`, `mode = "static" | "dhcp" | "off"`); none when absent.
    #[serde(default)]
    pub network: Option<qp_init::NetworkConfig>,
    /// The management API (`qpctl status`); not served when absent.
    #[serde(default)]
    pub management: Option<ManagementSection>,
}

/// Where PID 1 serves the management API, and the node identity it serves it with (on the data
/// partition: the image itself holds no key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementSection {
    pub listen: std::net::SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    pub name: String,
    pub program: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    /// Default 10,000.
    #[serde(default = "default_min_uptime_ms")]
    pub min_uptime_ms: u64,
    /// Default 100.
    #[serde(default = "default_backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// Default 30,000.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Default 5.
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
}

fn default_min_uptime_ms() -> u64 {
    10_000
}
fn default_backoff_initial_ms() -> u64 {
    100
}
fn default_backoff_max_ms() -> u64 {
    30_000
}
fn default_max_restarts() -> u32 {
    5
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("manifest {path}: {location}{message}")]
    Parse { path: String, location: String, message: String },
    #[error("manifest {path}: {what}: {problem}")]
    Invalid { path: String, what: String, problem: &'static str },
}

impl Manifest {
    pub fn load(path: &std::path::Path) -> Result<Self, ManifestError> {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: name.clone(), source })?;
        Self::from_toml(&text, &name)
    }

    pub fn from_toml(text: &str, path: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = qp_config_text::parse_toml(text).map_err(|err| ManifestError::Parse {
            path: path.to_owned(),
            location: err.line_prefix(),
            message: err.message,
        })?;
        let invalid = |what: String, problem| Err(ManifestError::Invalid { path: path.to_owned(), what, problem });
        if !matches!(manifest.variant.as_str(), "local" | "cloud") {
            return invalid("variant".to_owned(), "must be \"local\" or \"cloud\"");
        }
        for (i, service) in manifest.services.iter().enumerate() {
            let what = format!("services.{}", service.name);
            if service.name.is_empty() || manifest.services[..i].iter().any(|s| s.name == service.name) {
                return invalid(what, "names must be present and unique");
            }
            if !service.program.is_absolute() {
                return invalid(what, "program must be an absolute path (the image has no PATH)");
            }
            if service.backoff_initial_ms == 0 || service.backoff_max_ms < service.backoff_initial_ms {
                return invalid(what, "needs 0 < backoff_initial_ms <= backoff_max_ms");
            }
        }
        Ok(manifest)
    }

    /// The services as the supervisor takes them, in manifest order.
    pub fn services(&self) -> Vec<ServiceSpec> {
        self.services
            .iter()
            .map(|s| ServiceSpec {
                name: s.name.clone(),
                program: s.program.clone(),
                args: s.args.clone(),
                policy: RestartPolicy {
                    min_uptime: Duration::from_millis(s.min_uptime_ms),
                    backoff_initial: Duration::from_millis(s.backoff_initial_ms),
                    backoff_max: Duration::from_millis(s.backoff_max_ms),
                    max_restarts: s.max_restarts,
                },
            })
            .collect()
    }
}
