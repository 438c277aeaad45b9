//! Sealing a vault secret for a node's TPM without that TPM: the operator wraps a sealed data
//! object to the node's enrolled endorsement key, as TPM2_Duplicate would with no inner wrapper
//! (TPM 2.0 Part 1 §23.3; the scheme of go-tpm-tools' `CreateImportBlob`), and the node's TPM
//! imports it (`qp_tpm::SealedSecret::import`). The secret crosses the network only inside the
//! wrapper, which only that TPM's EK opens.
//!
//! The object's authPolicy is `PolicyAuthorize(release key, policy_ref)`, so it unseals only where
//! PCR 15 holds values the release key approved (`qp_attest_core::policy`).
use rand_core::CryptoRngCore;
use sha2::Digest as _;

use qp_attest_core::policy::{
    IMPORTED_SEALED_ATTRIBUTES, MAX_POLICY_REF, MAX_SEALED_SECRET, authority_name, policy_authorize_digest,
    sealed_public_area,
};
use qp_attest_core::tpm_struct::{PublicArea, name_of};

use crate::VerifyError;
use crate::credential::RsaEk;

/// The OAEP label of a duplication seed ("DUPLICATE" and its terminating zero).
const DUPLICATE_LABEL: &str = "DUPLICATE\0";
/// TPM_ALG_KEYEDHASH, the sensitive area's type.
const TPM_ALG_KEYEDHASH: u16 = 0x0008;

/// What the node's TPM imports: the object's marshalled TPMT_PUBLIC and the contents (no size
/// prefix) of TPM2B_PRIVATE and TPM2B_ENCRYPTED_SECRET.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportBlob {
    pub public_area: Vec<u8>,
    pub duplicate: Vec<u8>,
    pub encrypted_seed: Vec<u8>,
}

impl std::fmt::Debug for ImportBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportBlob")
            .field("public_area", &self.public_area.len())
            .field("duplicate", &self.duplicate.len())
            .field("encrypted_seed", &self.encrypted_seed.len())
            .finish()
    }
}

/// Wraps `secret` (1–128 bytes) as a sealed data object for the TPM whose EK is `ek_public`,
/// openable only under `PolicyAuthorize(authority_public, policy_ref)`.
///
/// `obfuscation` (the sensitive area's seedValue, which hides the secret in the public unique
/// field) and `seed` (the wrapper's seed) must be fresh random bytes; `rng` is what RSA-OAEP needs.
pub fn seal_for_import(
    ek_public: &PublicArea,
    authority_public: &[u8; 65],
    policy_ref: &[u8],
    secret: &[u8],
    obfuscation: &[u8; 32],
    seed: &[u8; 32],
    rng: &mut impl CryptoRngCore,
) -> Result<ImportBlob, VerifyError> {
    if secret.is_empty() || secret.len() > MAX_SEALED_SECRET {
        return Err(VerifyError::Seal("the secret is not 1-128 bytes"));
    }
    if policy_ref.len() > MAX_POLICY_REF {
        return Err(VerifyError::Seal("the policy reference is over 32 bytes"));
    }
    if authority_public[0] != 0x04 {
        return Err(VerifyError::Seal("the authority key is not an uncompressed P-256 point"));
    }
    let ek = RsaEk::from_public(ek_public)?;
    let auth_policy = policy_authorize_digest(&authority_name(authority_public), policy_ref);
    let unique: [u8; 32] = sha2::Sha256::new().chain_update(obfuscation).chain_update(secret).finalize().into();
    let public_area = sealed_public_area(IMPORTED_SEALED_ATTRIBUTES, &auth_policy, &unique);
    let name = name_of(&public_area);

    // TPMT_SENSITIVE: type, authValue (empty), seedValue, sensitive; inside a TPM2B_SENSITIVE.
    let mut sensitive = Vec::with_capacity(2 + 2 + 34 + 2 + secret.len());
    sensitive.extend_from_slice(&TPM_ALG_KEYEDHASH.to_be_bytes());
    sensitive.extend_from_slice(&0u16.to_be_bytes());
    sensitive.extend_from_slice(&32u16.to_be_bytes());
    sensitive.extend_from_slice(obfuscation);
    sensitive.extend_from_slice(&(secret.len() as u16).to_be_bytes());
    sensitive.extend_from_slice(secret);
    let mut plaintext = Vec::with_capacity(2 + sensitive.len());
    plaintext.extend_from_slice(&(sensitive.len() as u16).to_be_bytes());
    plaintext.extend_from_slice(&sensitive);

    let (duplicate, encrypted_seed) = ek.wrap(DUPLICATE_LABEL, &name, plaintext, seed, rng)?;
    Ok(ImportBlob { public_area, duplicate, encrypted_seed })
}
