//! What the verifier requires of the node's keys, from their public areas (which the TPM vouches
//! for: the AK by credential activation, the identity key by the AK's certification).
use qp_attest_core::tpm_struct::{
    KeyParameters, ObjectAttributes, PublicArea, Scheme, TPM_ALG_ECDSA, TPM_ALG_SHA256, TPM_ECC_NIST_P256,
};

use crate::VerifyError;

/// Made in this TPM and never to leave it.
const BOUND: u32 =
    ObjectAttributes::FIXED_TPM | ObjectAttributes::FIXED_PARENT | ObjectAttributes::SENSITIVE_DATA_ORIGIN;

/// The attestation key: ECC P-256, scheme ECDSA-SHA256, a restricted signing key (it signs only
/// what the TPM made: quotes and certifications), not a decryption key, `fixedTPM | fixedParent |
/// sensitiveDataOrigin`.
pub fn check_attestation_key(ak_public: &[u8]) -> Result<PublicArea, VerifyError> {
    let ak = PublicArea::decode(ak_public).map_err(|source| VerifyError::PublicArea { which: "the AK", source })?;
    let policy = VerifyError::AkPolicy;
    let KeyParameters::Ecc { curve_id, scheme, .. } = &ak.parameters else {
        return Err(policy("not an ECC key"));
    };
    if *curve_id != TPM_ECC_NIST_P256 || ak.ecc_p256_point().is_none() {
        return Err(policy("not a P-256 key"));
    }
    if *scheme != (Scheme::Hash { scheme: TPM_ALG_ECDSA, hash_alg: TPM_ALG_SHA256 }) {
        return Err(policy("its scheme is not ECDSA-SHA256"));
    }
    let attributes = ak.object_attributes;
    if !(attributes.restricted() && attributes.sign()) {
        return Err(policy("not a restricted signing key"));
    }
    if attributes.decrypt() {
        return Err(policy("a decryption key"));
    }
    if !attributes.has(BOUND) {
        return Err(policy("not fixedTPM, fixedParent and sensitiveDataOrigin"));
    }
    Ok(ak)
}

/// The node's identity (bridge) key: ECC P-256, a signing key that is not restricted (it signs the
/// bridge's handshakes), not a decryption key, `fixedTPM | fixedParent | sensitiveDataOrigin`.
pub fn check_identity_key(identity_public: &[u8]) -> Result<PublicArea, VerifyError> {
    let key = PublicArea::decode(identity_public)
        .map_err(|source| VerifyError::PublicArea { which: "the identity key", source })?;
    let policy = VerifyError::IdentityPolicy;
    let KeyParameters::Ecc { curve_id, .. } = &key.parameters else {
        return Err(policy("not an ECC key"));
    };
    if *curve_id != TPM_ECC_NIST_P256 || key.ecc_p256_point().is_none() {
        return Err(policy("not a P-256 key"));
    }
    let attributes = key.object_attributes;
    if !attributes.sign() {
        return Err(policy("not a signing key"));
    }
    if attributes.restricted() {
        return Err(policy("a restricted key"));
    }
    if attributes.decrypt() {
        return Err(policy("a decryption key"));
    }
    if !attributes.has(BOUND) {
        return Err(policy("not fixedTPM, fixedParent and sensitiveDataOrigin"));
    }
    Ok(key)
}
