//! The verifier-facing service: one request, one response, over TCP.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use qp_attest_core::attest_proto::{FrameDecoder, Request, Response};

use crate::NodeTpm;

/// At most this many verifier connections at once (an operator's tool, not a crowd).
const MAX_CONNECTIONS: usize = 4;
/// A connection that sends nothing for this long is dropped.
const IDLE: Duration = Duration::from_secs(10);

/// Why the service could not do something. Sent to the verifier as its `Error` message.
#[derive(Debug, thiserror::Error)]
pub enum AttestdError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("TPM: {what}: {reason}")]
    Tpm { what: &'static str, reason: String },
    #[error("certificate refused: {0}")]
    Certificate(String),
    #[error("the boot's image id: {0}")]
    ImageId(String),
    #[error("vault: {0}")]
    Vault(String),
}

impl AttestdError {
    fn code(&self) -> u16 {
        match self {
            AttestdError::Io { .. } => 1,
            AttestdError::Tpm { .. } => 2,
            AttestdError::Certificate(_) => 3,
            AttestdError::ImageId(_) => 4,
            AttestdError::Vault(_) => 5,
        }
    }
}

/// Where the service finds and puts things.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The image the node runs (`<variant>-<version>-<root hash prefix>`).
    pub image_id: String,
    /// PID 1's event log.
    pub log: PathBuf,
    /// The fleet CA; an installed certificate must be its.
    pub ca: PathBuf,
    /// Where an accepted bridge certificate is written (PEM).
    pub install_cert: PathBuf,
    /// Written when an installed certificate attests this very image (the verifier passed this
    /// boot's quote against its golden values): the update service's attestation health check.
    pub attested_marker: Option<PathBuf>,
    /// The vault's folders, on a local node only (none: vault requests are refused).
    pub vault: Option<VaultConfig>,
}

/// Where a local node keeps its sealed secrets and the release key's approvals (data partition).
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// `<name>.sealed` files (TPM blobs: useless off this TPM).
    pub sealed_dir: PathBuf,
    /// `<image id>.json` approvals; the one of the booted image is used.
    pub approvals_dir: PathBuf,
    /// The fleet's release key (PEM public key): approvals by any other key are refused at
    /// installation, so nobody who reaches the port can replace the node's approval with their
    /// own (the TPM would refuse theirs at unsealing, but the node's would be gone).
    pub release_key: PathBuf,
}

/// The service: the TPM and the configuration.
pub struct Service {
    tpm: Arc<dyn NodeTpm>,
    config: ServiceConfig,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The image id of the running boot: the variant and version from the root's build record and
/// the dm-verity root hash from the kernel command line (the values PID 1 measured).
pub fn image_id_from_boot(cmdline: &str, build_info_json: &str) -> Result<String, AttestdError> {
    let root = cmdline
        .split_whitespace()
        .find_map(|word| word.strip_prefix("qp.verity.root="))
        .and_then(qp_attest_core::golden::parse_digest)
        .ok_or_else(|| AttestdError::ImageId("no qp.verity.root= on the kernel command line".to_owned()))?;
    let info: serde_json::Value =
        serde_json::from_str(build_info_json).map_err(|err| AttestdError::ImageId(format!("build-info: {err}")))?;
    let field = |name: &str| {
        info.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| AttestdError::ImageId(format!("build-info has no {name}")))
    };
    Ok(qp_attest_core::golden::image_id(&field("variant")?, &field("image_version")?, &root))
}

impl Service {
    pub fn new(tpm: Arc<dyn NodeTpm>, config: ServiceConfig) -> Self {
        Self { tpm, config }
    }

    /// The answer to one request.
    pub fn handle(&self, request: &Request) -> Response {
        let answer = match request {
            Request::GetEnrollment => {
                self.tpm.endorsement().map(|(ek_certificate_der, ek_public)| Response::Enrollment {
                    ek_certificate_der,
                    ek_public,
                    ak_public: self.tpm.ak_public(),
                    identity_public: self.tpm.identity_public(),
                })
            }
            Request::ActivateCredential { credential_blob, encrypted_secret } => self
                .tpm
                .activate_credential(credential_blob, encrypted_secret)
                .map(|secret| Response::Activated { secret }),
            Request::Quote { nonce } => self.evidence(nonce),
            Request::InstallCertificate { cert_der } => self.install(cert_der).map(|()| Response::Installed),
            Request::InstallSealedSecret { name, public_area, duplicate, encrypted_seed } => {
                self.install_sealed_secret(name, public_area, duplicate, encrypted_seed).map(|()| Response::Installed)
            }
            Request::InstallApproval { approval_json } => {
                self.install_approval(approval_json).map(|()| Response::Installed)
            }
        };
        answer.unwrap_or_else(|err| Response::Error { code: err.code(), message: truncate(&err.to_string(), 500) })
    }

    fn evidence(&self, nonce: &[u8; 32]) -> Result<Response, AttestdError> {
        let log = std::fs::read(&self.config.log)
            .map_err(|source| AttestdError::Io { path: self.config.log.clone(), source })?;
        let (quote_attest, quote_signature) = self.tpm.quote(nonce)?;
        let (certify_attest, certify_signature) = self.tpm.certify_identity(nonce)?;
        Ok(Response::Evidence {
            image_id: self.config.image_id.clone(),
            quote_attest,
            quote_signature,
            log,
            certify_attest,
            certify_signature,
        })
    }

    /// Installs a bridge certificate: the fleet CA's, valid now, for this TPM's identity key.
    fn install(&self, cert_der: &[u8]) -> Result<(), AttestdError> {
        let ca_path = &self.config.ca;
        let ca_text =
            std::fs::read_to_string(ca_path).map_err(|source| AttestdError::Io { path: ca_path.clone(), source })?;
        let ca = qp_bridge_identity::pem_certificates(&ca_text, ca_path)
            .map_err(|err| AttestdError::Certificate(err.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| AttestdError::Certificate(format!("{}: no CA certificate", ca_path.display())))?;
        let id = qp_bridge_identity::verify_node_certificate(cert_der, &ca)
            .map_err(|err| AttestdError::Certificate(err.to_string()))?;
        // Binds the certificate to this TPM's key (refused otherwise).
        qp_bridge_identity::NodeCredentials::new(cert_der.to_vec(), self.tpm.signer(), ca)
            .map_err(|err| AttestdError::Certificate(err.to_string()))?;
        let pem = pem::encode_config(
            &pem::Pem::new("CERTIFICATE", cert_der),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        write_atomically(&self.config.install_cert, pem.as_bytes())?;
        tracing::info!(node = %id, path = %self.config.install_cert.display(), "bridge certificate installed");
        let attests_this_image = qp_bridge_identity::certificate_attested(cert_der)
            .ok()
            .flatten()
            .is_some_and(|attested| attested.image_id == self.config.image_id);
        if let (Some(marker), true) = (&self.config.attested_marker, attests_this_image) {
            let written =
                marker.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(marker, b"1\n"));
            if let Err(source) = written {
                return Err(AttestdError::Io { path: marker.clone(), source });
            }
            tracing::info!(image = %self.config.image_id, "attestation passed for the running image");
        }
        Ok(())
    }
}

impl Service {
    fn vault(&self) -> Result<&VaultConfig, AttestdError> {
        self.config.vault.as_ref().ok_or_else(|| AttestdError::Vault("this node keeps no vault".to_owned()))
    }

    /// Imports a secret sealed for this TPM as `<name>.sealed`, replacing an older one only once
    /// the new one is imported (a rotation never leaves the node without the secret).
    fn install_sealed_secret(
        &self,
        name: &str,
        public_area: &[u8],
        duplicate: &[u8],
        encrypted_seed: &[u8],
    ) -> Result<(), AttestdError> {
        let vault = self.vault()?;
        if !qp_attest_core::attest_proto::secret_name_ok(name.as_bytes()) {
            return Err(AttestdError::Vault("a secret name that is not 1-64 of [a-z0-9._-]".to_owned()));
        }
        let dir = &vault.sealed_dir;
        std::fs::create_dir_all(dir).map_err(|source| AttestdError::Io { path: dir.clone(), source })?;
        let target = dir.join(format!("{name}.sealed"));
        let incoming = dir.join(format!("{name}.sealed.new"));
        match std::fs::remove_file(&incoming) {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                return Err(AttestdError::Io { path: incoming, source });
            }
            _ => {}
        }
        self.tpm.import_sealed_secret(public_area, duplicate, encrypted_seed, &incoming)?;
        std::fs::rename(&incoming, &target).map_err(|source| AttestdError::Io { path: target.clone(), source })?;
        tracing::info!(secret = name, file = %target.display(), "sealed secret imported");
        Ok(())
    }

    /// Keeps the release key's approval of this node's image. Refused: another image's, one whose
    /// signature does not verify (the TPM would refuse it at unsealing; this says so at once).
    fn install_approval(&self, json: &[u8]) -> Result<(), AttestdError> {
        let vault = self.vault()?;
        let approval = qp_attest_core::policy::ImageApproval::from_json(json)
            .map_err(|err| AttestdError::Vault(err.to_string()))?;
        if approval.image_id != self.config.image_id {
            return Err(AttestdError::Vault(format!(
                "the approval is for image {}; this node runs {}",
                approval.image_id, self.config.image_id
            )));
        }
        let a = &approval.approval;
        let key = qp_node_key::PublicKey::load_pem(&vault.release_key)
            .map_err(|err| AttestdError::Vault(format!("this node's release key: {err}")))?;
        if key.as_bytes() != &a.authority_public {
            return Err(AttestdError::Vault(format!(
                "the approval is not by this node's release key ({})",
                vault.release_key.display()
            )));
        }
        let digest = qp_attest_core::policy::approval_digest(&a.approved_policy, &a.policy_ref);
        if !key.verify_digest(&digest, &a.signature) {
            return Err(AttestdError::Vault("approval: the signature does not verify with the release key".to_owned()));
        }
        let path = vault.approvals_dir.join(format!("{}.json", approval.image_id));
        write_atomically(&path, approval.to_json().as_bytes())?;
        tracing::info!(image = %approval.image_id, path = %path.display(), "release approval installed");
        Ok(())
    }

    /// The secret `name`, unsealed with the booted image's approval.
    pub fn unseal_secret(&self, name: &str) -> Result<Vec<u8>, AttestdError> {
        let vault = self.vault()?;
        if !qp_attest_core::attest_proto::secret_name_ok(name.as_bytes()) {
            return Err(AttestdError::Vault("a secret name that is not 1-64 of [a-z0-9._-]".to_owned()));
        }
        let sealed = vault.sealed_dir.join(format!("{name}.sealed"));
        if !sealed.exists() {
            return Err(AttestdError::Vault(format!("no sealed secret {name} ({})", sealed.display())));
        }
        let path = vault.approvals_dir.join(format!("{}.json", self.config.image_id));
        let json = match std::fs::read(&path) {
            Ok(json) => json,
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(AttestdError::Vault(format!(
                    "no release approval for image {} ({})",
                    self.config.image_id,
                    path.display()
                )));
            }
            Err(source) => return Err(AttestdError::Io { path, source }),
        };
        let approval = qp_attest_core::policy::ImageApproval::from_json(&json)
            .map_err(|err| AttestdError::Vault(format!("{}: {err}", path.display())))?;
        self.tpm.unseal(&sealed, &approval.approval)
    }
}

/// Serves the vault socket: each request names a secret, each answer is the secret or why not.
/// One thread per connection (the node's own few processes); returns the accept error.
pub fn serve_vault(listener: std::os::unix::net::UnixListener, service: Arc<Service>) -> std::io::Error {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let service = service.clone();
                let spawned = std::thread::Builder::new()
                    .name("qp-vault-conn".to_owned())
                    .spawn(move || serve_vault_connection(stream, &service));
                if let Err(err) = spawned {
                    return err;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return err,
        }
    }
}

fn serve_vault_connection(mut stream: std::os::unix::net::UnixStream, service: &Service) {
    use qp_attest_core::vault_socket::{REQUEST_HEADER, VaultResponse, decode_request_name, request_body_len};
    let _ = stream.set_read_timeout(Some(IDLE));
    let mut header = [0u8; REQUEST_HEADER];
    while stream.read_exact(&mut header).is_ok() {
        let Ok(len) = request_body_len(header) else { return };
        let mut name = [0u8; 64];
        if stream.read_exact(&mut name[..len]).is_err() {
            return;
        }
        let Ok(name) = decode_request_name(&name[..len]) else { return };
        let response = match service.unseal_secret(&name) {
            Ok(secret) => {
                tracing::info!(secret = %name, "vault secret unsealed for a node process");
                VaultResponse::Secret(secret)
            }
            Err(err) => VaultResponse::Refused(err.to_string()),
        };
        if stream.write_all(&response.encode()).is_err() {
            return;
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Writes `path` through a temporary file and a rename: a reader sees the old or the new.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AttestdError> {
    let io = |source| AttestdError::Io { path: path.to_owned(), source };
    let tmp = path.with_extension("tmp");
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Serves verifiers on `listener` until `stop` (checked between accepts).
pub fn serve_tcp(listener: TcpListener, service: Arc<Service>, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let open = Arc::new(AtomicUsize::new(0));
    let mut refused = qp_runtime::RateLimiter::new(1_000_000_000);
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                    if let Some(suppressed) = refused.check(qp_runtime::clock::monotonic_ns()) {
                        tracing::warn!(%peer, suppressed, "attestation connection refused: {MAX_CONNECTIONS} already open");
                    }
                    continue;
                }
                open.fetch_add(1, Ordering::Relaxed);
                let (service, open) = (service.clone(), open.clone());
                let spawned = std::thread::Builder::new().name("qp-attestd-conn".to_owned()).spawn(move || {
                    if let Err(err) = serve_connection(stream, &service) {
                        tracing::debug!(%peer, error = %err, "attestation connection ended");
                    }
                    open.fetch_sub(1, Ordering::Relaxed);
                });
                if spawned.is_err() {
                    tracing::warn!("no thread for an attestation connection");
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(50)),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

fn serve_connection(mut stream: TcpStream, service: &Service) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let mut decoder = FrameDecoder::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        loop {
            match decoder.next_request() {
                Ok(Some(request)) => stream.write_all(&service.handle(&request).encode())?,
                Ok(None) => break,
                Err(err) => {
                    // Hostile or broken bytes: say why once and hang up.
                    let message = truncate(&err.to_string(), 500);
                    stream.write_all(&Response::Error { code: 100, message }.encode())?;
                    return Ok(());
                }
            }
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        decoder.push(&buf[..n]);
    }
}
