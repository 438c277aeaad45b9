//! The real TPM behind [`crate::NodeTpm`]: `qp-tpm` with its keys' blobs in a state folder on the
//! data partition (made on first start, loaded after).
use std::path::Path;
use std::sync::Arc;

use qp_tpm::{AttestationKey, Tpm, TpmSigner};

use crate::{AttestdError, NodeTpm};

/// The identity key's blob in the state folder.
pub const IDENTITY_KEY_FILE: &str = "identity.tpmkey";
/// The attestation key's blob in the state folder.
pub const AK_FILE: &str = "ak.tpmkey";

/// `qp-tpm`'s TPM, its identity key and its attestation key.
pub struct TpmBackend {
    tpm: Arc<Tpm>,
    identity: Arc<TpmSigner>,
    ak: AttestationKey,
}

impl std::fmt::Debug for TpmBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpmBackend").finish_non_exhaustive()
    }
}

fn tpm_error(what: &'static str) -> impl Fn(qp_tpm::TpmError) -> AttestdError {
    move |err| AttestdError::Tpm { what, reason: err.to_string() }
}

impl TpmBackend {
    /// Opens the TPM at `tcti` and loads the keys from `state_dir`, making them on first start.
    pub fn open(tcti: &str, state_dir: &Path) -> Result<Self, AttestdError> {
        std::fs::create_dir_all(state_dir).map_err(|source| AttestdError::Io { path: state_dir.to_owned(), source })?;
        let tpm = Arc::new(Tpm::open(tcti).map_err(tpm_error("opening the TPM"))?);
        let identity_file = state_dir.join(IDENTITY_KEY_FILE);
        let identity = if identity_file.exists() {
            TpmSigner::load(tpm.clone(), &identity_file).map_err(tpm_error("loading the identity key"))?
        } else {
            tracing::info!(file = %identity_file.display(), "making the node identity key in the TPM");
            TpmSigner::create(tpm.clone(), &identity_file).map_err(tpm_error("making the identity key"))?
        };
        let ak_file = state_dir.join(AK_FILE);
        let ak = if ak_file.exists() {
            AttestationKey::load(tpm.clone(), &ak_file).map_err(tpm_error("loading the attestation key"))?
        } else {
            tracing::info!(file = %ak_file.display(), "making the attestation key in the TPM");
            AttestationKey::create(tpm.clone(), &ak_file).map_err(tpm_error("making the attestation key"))?
        };
        Ok(Self { tpm, identity: Arc::new(identity), ak })
    }
}

impl NodeTpm for TpmBackend {
    fn endorsement(&self) -> Result<(Vec<u8>, Vec<u8>), AttestdError> {
        let cert = self.tpm.ek_certificate().map_err(tpm_error("reading the EK certificate"))?;
        let public = self.tpm.ek_public_area().map_err(tpm_error("reading the EK"))?;
        Ok((cert, public))
    }

    fn ak_public(&self) -> Vec<u8> {
        self.ak.public_area()
    }

    fn identity_public(&self) -> Vec<u8> {
        self.identity.public_area()
    }

    fn activate_credential(&self, credential_blob: &[u8], encrypted_secret: &[u8]) -> Result<Vec<u8>, AttestdError> {
        self.ak.activate_credential(credential_blob, encrypted_secret).map_err(tpm_error("TPM2_ActivateCredential"))
    }

    fn quote(&self, nonce: &[u8]) -> Result<(Vec<u8>, Vec<u8>), AttestdError> {
        let quote = self.ak.quote(nonce, &[qp_tpm::PCR_PRODUCT]).map_err(tpm_error("TPM2_Quote"))?;
        Ok((quote.attest, quote.signature))
    }

    fn certify_identity(&self, nonce: &[u8]) -> Result<(Vec<u8>, Vec<u8>), AttestdError> {
        let certified = self.ak.certify(&self.identity, nonce).map_err(tpm_error("TPM2_Certify"))?;
        Ok((certified.attest, certified.signature))
    }

    fn signer(&self) -> Arc<dyn qp_node_key::NodeSigner> {
        self.identity.clone()
    }

    fn import_sealed_secret(
        &self,
        public_area: &[u8],
        duplicate: &[u8],
        encrypted_seed: &[u8],
        out: &Path,
    ) -> Result<(), AttestdError> {
        qp_tpm::SealedSecret::import(&self.tpm, public_area, duplicate, encrypted_seed, out)
            .map_err(tpm_error("importing the sealed secret"))
    }

    fn unseal(&self, file: &Path, approval: &qp_tpm::PolicyApproval) -> Result<Vec<u8>, AttestdError> {
        qp_tpm::SealedSecret::unseal(&self.tpm, file, approval).map_err(tpm_error("unsealing"))
    }
}
