//! A [`NodeSigner`] in another process, reached over a Unix socket.
//!
//! The sealed image's binaries are static, and the TPM's TSS exists only as shared libraries, so
//! the TPM key is held by one dynamically linked service (`qp-attestd`), and the bridge signs
//! through it: [`SocketSigner`] on the bridge's side, [`serve_signer`] on the service's. The
//! socket is in `/run/qp` (root only); the service signs any digest it is sent, exactly what
//! the TPM key would do for a process that can open `/dev/tpmrm0`.
//!
//! Protocol, one request then one response at a time on a connection:
//! - `P` → `K` ‖ the 65-byte SEC1 public key;
//! - `S` ‖ 32-byte digest → `G` ‖ 64-byte `r ‖ s`, or `E` ‖ u16 BE length ‖ UTF-8 reason.
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{HASH_BYTES, NodeSigner, PUBLIC_KEY_BYTES, PublicKey, SIGNATURE_BYTES, SignError};

const MAX_REASON: usize = 512;
/// A signer that takes longer than this is treated as gone (a TPM signature is ≈ 0.3 ms).
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Signs through the signer service at a socket path.
#[derive(Debug)]
pub struct SocketSigner {
    path: PathBuf,
    public_key: PublicKey,
    /// One connection, reused; reopened once if it broke.
    stream: Mutex<Option<UnixStream>>,
}

/// The signer service could not be reached or answered nonsense.
#[derive(Debug, thiserror::Error)]
pub enum SocketSignerError {
    #[error("signer socket {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("signer socket {}: {reason}", path.display())]
    Protocol { path: PathBuf, reason: &'static str },
}

fn connect(path: &Path) -> std::io::Result<UnixStream> {
    let stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

impl SocketSigner {
    /// Connects to the service at `path` and asks for its public key.
    pub fn connect(path: &Path) -> Result<Self, SocketSignerError> {
        let io = |source| SocketSignerError::Io { path: path.to_owned(), source };
        let mut stream = connect(path).map_err(io)?;
        stream.write_all(b"P").map_err(io)?;
        let mut reply = [0u8; 1 + PUBLIC_KEY_BYTES];
        stream.read_exact(&mut reply).map_err(io)?;
        let protocol = |reason| SocketSignerError::Protocol { path: path.to_owned(), reason };
        if reply[0] != b'K' {
            return Err(protocol("no public key in the reply"));
        }
        let public_key = PublicKey::from_sec1(&reply[1..]).map_err(|_| protocol("not a P-256 public key"))?;
        Ok(Self { path: path.to_owned(), public_key, stream: Mutex::new(Some(stream)) })
    }

    fn exchange(stream: &mut UnixStream, digest: &[u8; HASH_BYTES]) -> Result<[u8; SIGNATURE_BYTES], SignError> {
        let mut request = [0u8; 1 + HASH_BYTES];
        request[0] = b'S';
        request[1..].copy_from_slice(digest);
        let io = |err: std::io::Error| SignError(format!("signer socket: {err}"));
        stream.write_all(&request).map_err(io)?;
        let mut kind = [0u8; 1];
        stream.read_exact(&mut kind).map_err(io)?;
        match kind[0] {
            b'G' => {
                let mut signature = [0u8; SIGNATURE_BYTES];
                stream.read_exact(&mut signature).map_err(io)?;
                Ok(signature)
            }
            b'E' => {
                let mut len = [0u8; 2];
                stream.read_exact(&mut len).map_err(io)?;
                let len = usize::from(u16::from_be_bytes(len)).min(MAX_REASON);
                let mut reason = vec![0u8; len];
                stream.read_exact(&mut reason).map_err(io)?;
                Err(SignError(format!("signer service: {}", String::from_utf8_lossy(&reason))))
            }
            _ => Err(SignError("signer socket: not a signature reply".to_owned())),
        }
    }
}

impl NodeSigner for SocketSigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn sign_digest(&self, digest: &[u8; HASH_BYTES]) -> Result<[u8; SIGNATURE_BYTES], SignError> {
        let mut slot = self.stream.lock().map_err(|_| SignError("signer socket lock poisoned".to_owned()))?;
        // The connection may have broken since (the service restarted): one fresh try.
        for attempt in 0..2 {
            if slot.is_none() {
                *slot = Some(
                    connect(&self.path)
                        .map_err(|err| SignError(format!("signer socket {}: {err}", self.path.display())))?,
                );
            }
            let Some(stream) = slot.as_mut() else { continue };
            match Self::exchange(stream, digest) {
                Ok(signature) => return Ok(signature),
                Err(err) if attempt == 0 && !err.0.starts_with("signer service:") => *slot = None,
                Err(err) => {
                    *slot = None;
                    return Err(err);
                }
            }
        }
        Err(SignError("signer socket: no answer".to_owned()))
    }
}

/// Serves `signer` on `listener` until the listener fails; one thread per connection (the
/// clients are this node's own few processes). Returns the accept error.
pub fn serve_signer(listener: UnixListener, signer: Arc<dyn NodeSigner>) -> std::io::Error {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let signer = signer.clone();
                let spawned = std::thread::Builder::new()
                    .name("qp-signer-conn".to_owned())
                    .spawn(move || serve_connection(stream, signer.as_ref()));
                if let Err(err) = spawned {
                    return err;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return err,
        }
    }
}

/// Answers requests on one connection until it closes or sends something unknown.
pub fn serve_connection(mut stream: UnixStream, signer: &dyn NodeSigner) {
    let mut kind = [0u8; 1];
    while stream.read_exact(&mut kind).is_ok() {
        let reply = match kind[0] {
            b'P' => {
                let mut reply = vec![b'K'];
                reply.extend_from_slice(signer.public_key().as_bytes());
                reply
            }
            b'S' => {
                let mut digest = [0u8; HASH_BYTES];
                if stream.read_exact(&mut digest).is_err() {
                    return;
                }
                match signer.sign_digest(&digest) {
                    Ok(signature) => {
                        let mut reply = vec![b'G'];
                        reply.extend_from_slice(&signature);
                        reply
                    }
                    Err(err) => {
                        let reason = err.to_string();
                        let reason = &reason.as_bytes()[..reason.len().min(MAX_REASON)];
                        let mut reply = vec![b'E'];
                        reply.extend_from_slice(&(reason.len() as u16).to_be_bytes());
                        reply.extend_from_slice(reason);
                        reply
                    }
                }
            }
            // Anything else: not one of ours; hang up.
            _ => return,
        };
        if stream.write_all(&reply).is_err() {
            return;
        }
    }
}
