//! `qp-attestd`: the node's TPM service (see the library's docs).
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Parser;

/// The node's TPM service: enrolment, quotes and certificate installation for the verifier on
/// `--listen`, signatures with the TPM-held bridge key on `--signer-socket`.
#[derive(Debug, Parser)]
#[command(name = "qp-attestd", version)]
struct Args {
    /// The TPM: `device:/dev/tpmrm0` on a node, `swtpm:host=127.0.0.1,port=P` in tests.
    #[arg(long, default_value = "device:/dev/tpmrm0")]
    tcti: String,
    /// Where the TPM keys' blobs are kept (made on first start).
    #[arg(long)]
    state: PathBuf,
    /// The verifier's port.
    #[arg(long)]
    listen: std::net::SocketAddr,
    /// The Unix socket the node's binaries sign through.
    #[arg(long)]
    signer_socket: PathBuf,
    /// PID 1's measurement log.
    #[arg(long, default_value = "/run/qp/measurements.log")]
    log: PathBuf,
    /// The fleet CA certificate (PEM).
    #[arg(long)]
    ca: PathBuf,
    /// Where an accepted bridge certificate is written (PEM).
    #[arg(long)]
    install_cert: PathBuf,
    /// Written when an installed certificate attests the running image (the update service's
    /// health check: `/run/qp/health/attested` on a node).
    #[arg(long)]
    attested_marker: Option<PathBuf>,
    /// The image id; default: from /proc/cmdline and /etc/qp/build-info.json.
    #[arg(long)]
    image_id: Option<String>,
    /// A local node's vault: sealed secrets in DIR/sealed, release approvals in DIR/approvals.
    #[arg(long, requires = "vault_socket")]
    vault_dir: Option<PathBuf>,
    /// The Unix socket the node's binaries ask for their unsealed secrets on.
    #[arg(long, requires = "vault_dir")]
    vault_socket: Option<PathBuf>,
    /// The fleet's release key (PEM public key); only its approvals are installed.
    #[arg(long, requires = "vault_dir")]
    release_key: Option<PathBuf>,
}

/// Binds a Unix socket at `path` (its folder made, a stale socket removed), root only.
fn bind_unix(path: &std::path::Path) -> anyhow::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
    }
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path).with_context(|| path.display().to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| path.display().to_string())?;
    Ok(listener)
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).init();
    let args = Args::parse();
    let image_id = match args.image_id {
        Some(id) => id,
        None => {
            let cmdline = std::fs::read_to_string("/proc/cmdline").context("/proc/cmdline")?;
            let info = std::fs::read_to_string("/etc/qp/build-info.json").context("/etc/qp/build-info.json")?;
            qp_attestd::image_id_from_boot(&cmdline, &info)?
        }
    };
    let backend = Arc::new(qp_attestd::TpmBackend::open(&args.tcti, &args.state)?);
    let signer = qp_attestd::NodeTpm::signer(backend.as_ref());
    let socket = bind_unix(&args.signer_socket)?;
    std::thread::Builder::new().name("qp-signer".to_owned()).spawn(move || {
        let err = qp_node_key::serve_signer(socket, signer);
        tracing::error!(error = %err, "signer socket failed");
    })?;
    let listener = std::net::TcpListener::bind(args.listen).with_context(|| format!("listen on {}", args.listen))?;
    println!(
        "qp-attestd: image {image_id}, attestation on {}, signer on {}",
        args.listen,
        args.signer_socket.display()
    );
    let vault = match (&args.vault_dir, &args.release_key) {
        (Some(dir), Some(release_key)) => Some(qp_attestd::VaultConfig {
            sealed_dir: dir.join("sealed"),
            approvals_dir: dir.join("approvals"),
            release_key: release_key.clone(),
        }),
        (Some(_), None) => anyhow::bail!("--vault-dir needs --release-key"),
        (None, _) => None,
    };
    let service = Arc::new(qp_attestd::Service::new(
        backend,
        qp_attestd::ServiceConfig {
            image_id,
            log: args.log,
            ca: args.ca,
            install_cert: args.install_cert,
            attested_marker: args.attested_marker,
            vault,
        },
    ));
    if let Some(path) = &args.vault_socket {
        let listener = bind_unix(path)?;
        let service = service.clone();
        std::thread::Builder::new().name("qp-vault".to_owned()).spawn(move || {
            let err = qp_attestd::serve_vault(listener, service);
            tracing::error!(error = %err, "vault socket failed");
        })?;
        println!("qp-attestd: vault secrets on {}", path.display());
    }
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    qp_attestd::serve_tcp(listener, service, stop)?;
    Ok(())
}
