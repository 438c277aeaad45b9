//! `qpctl audit …`: the node's audit trail — make a signing key, verify a trail, show it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use qp_audit::{EntryKind, FileKeySigner, PublicKey, read_entries, to_hex, verify};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Make a P-256 signing key for a node's audit trail (private key mode 0600, never
    /// overwritten) and its public half, which verifiers pin.
    Keygen {
        /// The private key file to create.
        #[arg(long)]
        out: PathBuf,
        /// The public key file (default: OUT with `.pub` appended).
        #[arg(long)]
        public_out: Option<PathBuf>,
    },
    /// Check a trail's hash chain and seal signatures; name the first broken entry.
    Verify {
        file: PathBuf,
        /// The node's public key (PEM). Without it the trail's own key is trusted, which proves
        /// integrity but not who wrote it.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Accept entries after the last seal (a node that stopped without sealing).
        #[arg(long)]
        allow_unsealed: bool,
        #[arg(long)]
        json: bool,
    },
    /// Verify, then print every entry.
    Show {
        file: PathBuf,
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

pub fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Keygen { out, public_out } => {
            let public = public_out.unwrap_or_else(|| {
                let mut name = out.clone().into_os_string();
                name.push(".pub");
                PathBuf::from(name)
            });
            let signer = FileKeySigner::generate(&out, &public)?;
            let key = qp_audit::NodeSigner::public_key(&signer);
            println!("private key: {} (mode 0600)", out.display());
            println!("public key:  {}", public.display());
            println!("key id:      {}", to_hex(&key.key_id()));
            Ok(())
        }
        AuditCommand::Verify { file, key, allow_unsealed, json } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let pinned = key.as_deref().map(PublicKey::load_pem).transpose()?;
            let report =
                verify(&bytes, pinned.as_ref()).map_err(|broken| anyhow::anyhow!("{}: {broken}", file.display()))?;
            if json {
                let value = serde_json::json!({
                    "file": file.display().to_string(),
                    "ok": true,
                    "node_id": report.node_id,
                    "key_id": to_hex(&report.public_key.key_id()),
                    "key_pinned": pinned.is_some(),
                    "entries": report.entries,
                    "models": report.models,
                    "frames": report.frames,
                    "seals": report.seals,
                    "unsealed_entries": report.unsealed_entries,
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!(
                    "{}: chain intact, {} entries ({} models, {} frames, {} seals), node {}, key {}{}",
                    file.display(),
                    report.entries,
                    report.models,
                    report.frames,
                    report.seals,
                    report.node_id,
                    &to_hex(&report.public_key.key_id())[..16],
                    if pinned.is_some() { " (pinned)" } else { " (not pinned: integrity only)" }
                );
            }
            if report.unsealed_entries > 0 && !allow_unsealed {
                anyhow::bail!(
                    "{}: the last {} entries are chained but not covered by a seal (pass --allow-unsealed to accept)",
                    file.display(),
                    report.unsealed_entries
                );
            }
            Ok(())
        }
        AuditCommand::Show { file, key } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let pinned = key.as_deref().map(PublicKey::load_pem).transpose()?;
            let (_, entries) = read_entries(&bytes, pinned.as_ref())
                .map_err(|broken| anyhow::anyhow!("{}: {broken}", file.display()))?;
            for entry in entries {
                let detail = match entry.kind {
                    EntryKind::Model => entry
                        .model()
                        .map(|(digest, name)| format!("{name} sha256={}", to_hex(&digest)))
                        .unwrap_or_default(),
                    EntryKind::Frame => entry
                        .frame()
                        .and_then(|(model, frame)| {
                            let frame = qp_wire::decode(frame).ok()?;
                            let header = frame.header();
                            let model = model.map_or("-".to_owned(), |m| m.to_string());
                            Some(format!(
                                "{:?} origin={} seq={} model={model}",
                                frame.frame_type(),
                                header.origin_node.get(),
                                header.sequence.get()
                            ))
                        })
                        .unwrap_or_default(),
                    EntryKind::Seal => "signed chain head".to_owned(),
                };
                println!("{:>8} {:>20} {:<5} {detail}", entry.seq, entry.time_ns, entry.kind.name());
            }
            Ok(())
        }
    }
}
