//! `qpctl release` and `qpctl vault`: the release key that approves images for the vault's
//! sealed secrets, and the operator's side of sealing a secret onto a local node.
//!
//! - `release keygen` makes the release key (P-256, PKCS#8 PEM, mode 0600) and its public key.
//! - `release approve` signs an image's golden PCR 15 value (`golden.json`) as an approval file;
//!   a node that booted exactly that image unseals with it, so an update ships a new approval and
//!   nothing is resealed.
//! - `vault approve` installs an approval on a node (its TPM service checks image and signature).
//! - `vault seal` wraps a secret for the node's TPM (its enrolled endorsement key) under the
//!   release key's authorized policy, off the node, and sends the wrapped object; only that TPM
//!   can import it, and it unseals only under an approval.
use std::path::PathBuf;

use anyhow::{Context, bail};
use qp_attest_core::attest_proto::{Request, Response};
use qp_attest_core::policy::{ImageApproval, PolicyApproval, approval_digest, policy_pcr_digest};
use qp_node_key::{FileKeySigner, NodeSigner as _};

use crate::attest::{exchange, random32, read_enrolment};

/// The policy reference vault secrets are sealed with (an approval names it too).
pub const DEFAULT_POLICY_REF: &str = "qp-vault";

#[derive(Debug, clap::Subcommand)]
pub enum ReleaseCommand {
    /// Make the release key: KEY (PKCS#8 PEM, mode 0600, never overwritten) and KEY.pub.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Approve an image for the vault: sign its golden PCR 15 value into an approval file.
    Approve {
        /// The release key (`qpctl release keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The image's golden values (`golden.json` from `qpctl image build`).
        #[arg(long)]
        golden: PathBuf,
        /// The policy reference the vault's secrets were sealed with.
        #[arg(long, default_value = DEFAULT_POLICY_REF)]
        policy_ref: String,
        /// Where the approval is written (JSON).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum VaultCommand {
    /// Seal a secret onto a local node: wrapped here for its enrolled TPM, imported there.
    Seal {
        /// The node's TPM service, HOST:PORT (port 7200 on a node).
        #[arg(long)]
        node: String,
        /// The node's enrolment record (`qpctl enroll`): its endorsement key.
        #[arg(long)]
        enrolled: PathBuf,
        /// The release key's public key (KEY.pub from `qpctl release keygen`).
        #[arg(long)]
        release_pub: PathBuf,
        /// The secret's name on the node (1-64 of [a-z0-9._-]).
        #[arg(long)]
        name: String,
        /// The file holding the secret (1-128 bytes, used as is).
        #[arg(long)]
        secret_file: PathBuf,
        #[arg(long, default_value = DEFAULT_POLICY_REF)]
        policy_ref: String,
    },
    /// Install a release approval (`qpctl release approve`) on a node.
    Approve {
        #[arg(long)]
        node: String,
        #[arg(long)]
        approval: PathBuf,
    },
}

fn policy_ref_bytes(policy_ref: &str) -> anyhow::Result<Vec<u8>> {
    if policy_ref.len() > qp_attest_core::policy::MAX_POLICY_REF {
        bail!("--policy-ref is {} bytes (at most {})", policy_ref.len(), qp_attest_core::policy::MAX_POLICY_REF);
    }
    Ok(policy_ref.as_bytes().to_vec())
}

pub fn release(command: ReleaseCommand) -> anyhow::Result<()> {
    match command {
        ReleaseCommand::Keygen { out } => {
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
            }
            let mut public = out.clone().into_os_string();
            public.push(".pub");
            let public = PathBuf::from(public);
            let key = FileKeySigner::generate(&out, &public)?;
            println!("release key: {} (mode 0600; keep it offline)", out.display());
            println!("public key:  {}", public.display());
            println!("key id:      {}", qp_attest_core::hex(&key.public_key().key_id()));
            Ok(())
        }
        ReleaseCommand::Approve { key, golden, policy_ref, out } => {
            let signer = FileKeySigner::load(&key)?;
            let golden_values = qp_attest_core::golden::GoldenValues::from_json(
                &std::fs::read(&golden).with_context(|| golden.display().to_string())?,
            )
            .with_context(|| golden.display().to_string())?;
            let policy_ref = policy_ref_bytes(&policy_ref)?;
            let pcrs = vec![golden_values.pcr];
            let approved_policy = policy_pcr_digest(&pcrs, &[golden_values.pcr_value]);
            let signature = signer.sign_digest(&approval_digest(&approved_policy, &policy_ref))?;
            let approval = ImageApproval {
                image_id: golden_values.image_id.clone(),
                approval: PolicyApproval {
                    pcrs,
                    approved_policy,
                    signature,
                    authority_public: *signer.public_key().as_bytes(),
                    policy_ref,
                },
            };
            std::fs::write(&out, approval.to_json()).with_context(|| out.display().to_string())?;
            println!(
                "approved image {} (PCR {} = {}): {}",
                golden_values.image_id,
                golden_values.pcr,
                qp_attest_core::hex(&golden_values.pcr_value),
                out.display()
            );
            Ok(())
        }
    }
}

pub fn vault(command: VaultCommand) -> anyhow::Result<()> {
    match command {
        VaultCommand::Seal { node, enrolled, release_pub, name, secret_file, policy_ref } => {
            if !qp_attest_core::attest_proto::secret_name_ok(name.as_bytes()) {
                bail!("--name {name:?}: not 1-64 of [a-z0-9._-]");
            }
            let record = read_enrolment(&enrolled)?;
            let ek = qp_attest_core::tpm_struct::PublicArea::decode(&record.enrolled.ek_public)
                .with_context(|| format!("{}: the enrolled endorsement key", enrolled.display()))?;
            let authority = qp_node_key::PublicKey::load_pem(&release_pub)?;
            let secret = zeroize::Zeroizing::new(
                std::fs::read(&secret_file).with_context(|| secret_file.display().to_string())?,
            );
            let blob = qp_attest_verify::seal_for_import(
                &ek,
                authority.as_bytes(),
                &policy_ref_bytes(&policy_ref)?,
                &secret,
                &random32(),
                &random32(),
                &mut rand_core::OsRng,
            )
            .with_context(|| secret_file.display().to_string())?;
            let request = Request::InstallSealedSecret {
                name: name.clone(),
                public_area: blob.public_area,
                duplicate: blob.duplicate,
                encrypted_seed: blob.encrypted_seed,
            };
            let Response::Installed = exchange(&node, &request)? else {
                bail!("{node}: answered InstallSealedSecret with something else");
            };
            println!(
                "sealed {name} ({} bytes) onto {} ({node}): imported by its TPM, unsealed only under a release approval",
                secret.len(),
                record.enrolled.node
            );
            Ok(())
        }
        VaultCommand::Approve { node, approval } => {
            let json = std::fs::read(&approval).with_context(|| approval.display().to_string())?;
            let parsed = ImageApproval::from_json(&json).with_context(|| approval.display().to_string())?;
            let Response::Installed = exchange(&node, &Request::InstallApproval { approval_json: json })? else {
                bail!("{node}: answered InstallApproval with something else");
            };
            println!("approval of image {} installed on {node}", parsed.image_id);
            Ok(())
        }
    }
}
