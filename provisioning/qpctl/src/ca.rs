//! `qpctl ca …`: the fleet's certificate authority. `init` makes it (once, on the operator's
//! machine), `issue` gives a node its bridge certificate, `show` prints a certificate's identity
//! and validity.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use qp_bridge_identity::{FleetCa, Role, Validity};

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Make the fleet CA in DIR: ca.pem (every node trusts it), ca.key (mode 0600; keep it off
    /// the nodes) and the fleet's name. Never overwrites.
    Init {
        #[arg(long, default_value = "fleet-ca")]
        dir: PathBuf,
        /// The fleet's name, in every node's SPIFFE ID (`spiffe://FLEET/ROLE/NAME`).
        #[arg(long)]
        fleet: String,
        #[arg(long, default_value_t = 3650)]
        days: u64,
    },
    /// Issue a node its bridge certificate: OUT/NAME.pem, and with no --public-key a new node key
    /// OUT/NAME.key (mode 0600) and OUT/NAME.key.pub.
    Issue {
        #[arg(long)]
        node: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "fleet-ca")]
        ca: PathBuf,
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// The node's own public key (PEM), when its key is made on the node (the TPM's).
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Lifetime in hours (bridge certificates are short-lived; renew before expiry).
        #[arg(long, default_value_t = 24 * 30)]
        hours: u64,
    },
    /// Print a certificate's SPIFFE ID, issuer and validity.
    Show { cert: PathBuf },
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse().map_err(|err: qp_bridge_identity::IdentityError| err.to_string())
}

pub fn run(command: CaCommand) -> anyhow::Result<()> {
    match command {
        CaCommand::Init { dir, fleet, days } => {
            let ca = FleetCa::init(&dir, &fleet, Duration::from_secs(days * 86_400))?;
            println!("fleet CA for {} in {}", ca.fleet(), dir.display());
            println!("  certificate {} (give it to every node)", dir.join(qp_bridge_identity::CA_CERT_FILE).display());
            println!(
                "  key         {} (mode 0600; keep it off the nodes)",
                dir.join(qp_bridge_identity::CA_KEY_FILE).display()
            );
        }
        CaCommand::Issue { node, role, ca, out, public_key, hours } => {
            let ca = FleetCa::load(&ca).with_context(|| format!("fleet CA in {}", ca.display()))?;
            let validity = Validity::starting_now(Duration::from_secs(hours * 3_600));
            match public_key {
                Some(path) => {
                    let key = qp_node_key::PublicKey::load_pem(&path)?;
                    let cert = ca.issue(role, &node, &key, validity)?;
                    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
                    let cert_path = out.join(format!("{node}.pem"));
                    write_new(&cert_path, cert.pem.as_bytes())?;
                    println!("{}: {} (for the key in {})", cert.id, cert_path.display(), path.display());
                }
                None => {
                    let (cert, key) = ca.issue_with_new_key(role, &node, validity, &out)?;
                    println!(
                        "{}: {} with a new key {} (mode 0600)",
                        cert.id,
                        out.join(format!("{node}.pem")).display(),
                        key.display()
                    );
                }
            }
            println!("  valid {hours} h; the node also needs the fleet CA's ca.pem");
        }
        CaCommand::Show { cert } => {
            let text = std::fs::read_to_string(&cert).with_context(|| cert.display().to_string())?;
            for der in qp_bridge_identity::pem_certificates(&text, &cert)? {
                let (_, parsed) = x509_parser::parse_x509_certificate(&der)
                    .map_err(|err| anyhow::anyhow!("{}: not a certificate: {err}", cert.display()))?;
                let id = qp_bridge_identity::certificate_node_id(&der)
                    .map_or_else(|err| format!("(no node identity: {err})"), |id| id.uri());
                println!("{id}");
                println!("  subject   {}", parsed.subject());
                println!("  issuer    {}", parsed.issuer());
                println!("  not before {}", parsed.validity().not_before);
                println!("  not after  {}", parsed.validity().not_after);
            }
        }
    }
    Ok(())
}

fn write_new(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("{} (never overwritten)", path.display()))?;
    file.write_all(bytes).with_context(|| path.display().to_string())?;
    Ok(())
}
