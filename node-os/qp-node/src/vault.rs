//! A local node's vault secrets (`[vault]` in node.toml), asked of the TPM service's vault socket
//! (`qp_attest_core::vault_socket`). The TPM unseals them only while the booted image is one the
//! release key approved; until then the service says why, and the node asks again every second
//! (logging each new reason once), without holding up the bridge.
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qp_attest_core::vault_socket::{RESPONSE_HEADER, VaultResponse, encode_request};
use zeroize::Zeroizing;

use crate::node_config::VaultSection;

/// How long one request may take (an unseal is milliseconds; a busy TPM, more).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a secret that is not yet unsealed is asked for again.
const RETRY: Duration = Duration::from_secs(1);

/// Why a secret was not had.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("vault socket {path}: {source}")]
    Socket { path: PathBuf, source: std::io::Error },
    #[error("vault socket {path}: {source}")]
    Protocol { path: PathBuf, source: qp_attest_core::vault_socket::VaultSocketError },
    #[error("{0:?} is not a secret's name")]
    Name(String),
    #[error("the TPM service refused: {0}")]
    Refused(String),
}

/// Asks the TPM service at `socket` for the secret `name`.
pub fn unseal(socket: &Path, name: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let io = |source| VaultError::Socket { path: socket.to_owned(), source };
    let request = encode_request(name).ok_or_else(|| VaultError::Name(name.to_owned()))?;
    let mut stream = UnixStream::connect(socket).map_err(io)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT)).map_err(io)?;
    stream.write_all(&request).map_err(io)?;
    let mut header = [0u8; RESPONSE_HEADER];
    stream.read_exact(&mut header).map_err(io)?;
    let len =
        VaultResponse::body_len(header).map_err(|source| VaultError::Protocol { path: socket.to_owned(), source })?;
    let mut message = Zeroizing::new(Vec::with_capacity(RESPONSE_HEADER + len));
    message.extend_from_slice(&header);
    message.resize(RESPONSE_HEADER + len, 0);
    stream.read_exact(&mut message[RESPONSE_HEADER..]).map_err(io)?;
    match VaultResponse::decode(&message).map_err(|source| VaultError::Protocol { path: socket.to_owned(), source })? {
        VaultResponse::Secret(secret) => Ok(Zeroizing::new(secret)),
        VaultResponse::Refused(reason) => Err(VaultError::Refused(reason)),
    }
}

/// The secrets unsealed so far, by name (zeroed when dropped).
#[derive(Debug, Default)]
pub struct VaultSecrets {
    secrets: Mutex<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl VaultSecrets {
    /// Whether `name` has been unsealed.
    pub fn has(&self, name: &str) -> bool {
        self.secrets.lock().is_ok_and(|secrets| secrets.contains_key(name))
    }

    /// Runs `f` with the secret `name`, if it has been unsealed (the bytes stay here).
    pub fn with<T>(&self, name: &str, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        let secrets = self.secrets.lock().ok()?;
        secrets.get(name).map(|secret| f(secret))
    }
}

/// Starts asking for `vault`'s secrets on a thread until each is unsealed or `stop` is set.
pub fn spawn_unsealer(vault: &VaultSection, stop: Arc<AtomicBool>) -> std::io::Result<Arc<VaultSecrets>> {
    let held = Arc::new(VaultSecrets::default());
    let (socket, names, out) = (vault.socket.clone(), vault.secrets.clone(), held.clone());
    std::thread::Builder::new().name("qp-vault".to_owned()).spawn(move || {
        let mut last_reason: BTreeMap<String, String> = BTreeMap::new();
        while !stop.load(Ordering::Relaxed) {
            let mut missing = 0;
            for name in &names {
                if out.has(name) {
                    continue;
                }
                match unseal(&socket, name) {
                    Ok(secret) => {
                        // The node's status output (stdout, like its other status lines).
                        println!("vault secret {name} unsealed ({} bytes)", secret.len());
                        let _ = std::io::stdout().flush();
                        if let Ok(mut secrets) = out.secrets.lock() {
                            secrets.insert(name.clone(), secret);
                        }
                    }
                    Err(err) => {
                        missing += 1;
                        let reason = err.to_string();
                        if last_reason.get(name) != Some(&reason) {
                            tracing::warn!(secret = %name, "vault secret not unsealed yet: {reason}");
                            last_reason.insert(name.clone(), reason);
                        }
                    }
                }
            }
            if missing == 0 {
                return;
            }
            std::thread::sleep(RETRY);
        }
    })?;
    Ok(held)
}
