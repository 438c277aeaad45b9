//! TPM2_MakeCredential in software (TPM 2.0 Part 1 §24, "Credential Protection"; the algorithm of
//! go-tpm's `credactivation.Generate`), for an RSA EK with an AES-CFB storage symmetric (the TCG
//! default EK template: RSA-2048, AES-128-CFB, name algorithm SHA-256).
//!
//! - seed: 32 bytes (the SHA-256 digest size) from the caller;
//! - encrypted secret: RSA-OAEP(SHA-256, label "IDENTITY\0") of the seed to the EK;
//! - symKey = KDFa(SHA-256, seed, "STORAGE", Name(AK), ∅, key bits of the EK's symmetric);
//! - encIdentity = AES-CFB(symKey, IV = 0)(TPM2B_DIGEST(secret));
//! - hmacKey = KDFa(SHA-256, seed, "INTEGRITY", ∅, ∅, 256);
//! - outerHMAC = HMAC-SHA-256(hmacKey, encIdentity ‖ Name(AK));
//! - credential blob = TPM2B_DIGEST(outerHMAC) ‖ encIdentity (TPM2B_ID_OBJECT's contents).
//!
//! The TPM releases the secret (TPM2_ActivateCredential) only if its EK decrypts the seed and the
//! object it is asked to activate for has the Name the credential was made for.
use aes::cipher::{AsyncStreamCipher as _, KeyIvInit as _};
use hmac::Mac as _;
use qp_attest_core::tpm_struct::{KeyParameters, PublicArea, SymmetricDef, TPM_ALG_AES, TPM_ALG_CFB, TPM_ALG_SHA256};
use rand_core::CryptoRngCore;

use crate::VerifyError;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The most a credential's secret may hold (the EK name algorithm's digest size).
pub const MAX_CREDENTIAL_SECRET: usize = 32;
/// The OAEP label of a credential's seed ("IDENTITY" and its terminating zero).
const IDENTITY_LABEL: &str = "IDENTITY\0";

/// What the verifier sends the node to activate: the contents (no size prefix) of
/// TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET.
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    pub credential_blob: Vec<u8>,
    pub encrypted_secret: Vec<u8>,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge")
            .field("credential_blob", &self.credential_blob.len())
            .field("encrypted_secret", &self.encrypted_secret.len())
            .finish()
    }
}

/// KDFa (Part 1 §11.4.10.2) with HMAC-SHA-256: `bits` of
/// HMAC(key, i ‖ label ‖ 0x00 ‖ contextU ‖ contextV ‖ bits) for i = 1, 2, …
pub fn kdfa_sha256(key: &[u8], label: &str, context_u: &[u8], context_v: &[u8], bits: u32) -> Vec<u8> {
    let bytes = bits.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(bytes + 32);
    let mut counter: u32 = 0;
    while out.len() < bytes {
        counter = counter.wrapping_add(1);
        let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
            // HMAC takes a key of any length.
            return Vec::new();
        };
        mac.update(&counter.to_be_bytes());
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(context_u);
        mac.update(context_v);
        mac.update(&bits.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
    }
    out.truncate(bytes);
    out
}

/// TPM2_MakeCredential: wraps `secret` (1–32 bytes) for the TPM whose EK is `ek_public` (an RSA
/// restricted decryption key with an AES-CFB symmetric), releasable only for the object named
/// `ak_name`. `seed` is the 32 random bytes of the protocol; `rng` is the randomness RSA-OAEP needs.
pub fn make_credential(
    ek_public: &PublicArea,
    ak_name: &[u8],
    secret: &[u8],
    seed: &[u8; 32],
    rng: &mut impl CryptoRngCore,
) -> Result<Challenge, VerifyError> {
    if secret.is_empty() || secret.len() > MAX_CREDENTIAL_SECRET {
        return Err(VerifyError::Credential("the secret is not 1-32 bytes"));
    }
    if ak_name.len() != 34 || ak_name.get(..2) != Some(&TPM_ALG_SHA256.to_be_bytes()[..]) {
        return Err(VerifyError::Credential("the name is not a SHA-256 Name (0x000b and 32 bytes)"));
    }
    let ek = RsaEk::from_public(ek_public)?;
    let mut plaintext = Vec::with_capacity(2 + secret.len());
    plaintext.extend_from_slice(&(secret.len() as u16).to_be_bytes());
    plaintext.extend_from_slice(secret);
    let (credential_blob, encrypted_secret) = ek.wrap(IDENTITY_LABEL, ak_name, plaintext, seed, rng)?;
    Ok(Challenge { credential_blob, encrypted_secret })
}

/// An RSA EK as a wrapping key (a restricted decryption key with an AES-CFB symmetric).
pub(crate) struct RsaEk {
    key: rsa::RsaPublicKey,
    key_bits: u16,
}

impl RsaEk {
    pub(crate) fn from_public(ek_public: &PublicArea) -> Result<Self, VerifyError> {
        let KeyParameters::Rsa { symmetric, modulus, .. } = &ek_public.parameters else {
            return Err(VerifyError::Credential("the EK is not an RSA key (ECC EKs are not supported)"));
        };
        if !(ek_public.object_attributes.restricted() && ek_public.object_attributes.decrypt()) {
            return Err(VerifyError::Credential("the EK is not a restricted decryption key"));
        }
        let key_bits = match *symmetric {
            SymmetricDef::Block { algorithm: TPM_ALG_AES, key_bits: bits @ (128 | 256), mode: TPM_ALG_CFB } => bits,
            _ => return Err(VerifyError::Credential("the EK's symmetric is not AES-128-CFB or AES-256-CFB")),
        };
        let exponent = ek_public.rsa_exponent().unwrap_or(65537).to_be_bytes();
        let key = crate::ek::rsa_key(modulus, &exponent)
            .ok_or(VerifyError::Credential("the EK's modulus is not a usable RSA key"))?;
        Ok(Self { key, key_bits })
    }

    /// The outer wrapper TPM 2.0 shares between credentials and duplication (Part 1 §24 and
    /// §23.3.2.3): the seed RSA-OAEP-encrypted under `label`; `plaintext` (a size-prefixed
    /// structure) AES-CFB-encrypted with KDFa(seed, "STORAGE", `name`), then HMAC'd with
    /// KDFa(seed, "INTEGRITY") over (ciphertext ‖ `name`). Returns (TPM2B_DIGEST(HMAC) ‖
    /// ciphertext, encrypted seed).
    pub(crate) fn wrap(
        &self,
        label: &str,
        name: &[u8],
        mut plaintext: Vec<u8>,
        seed: &[u8; 32],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Vec<u8>, Vec<u8>), VerifyError> {
        let padding = rsa::Oaep::new_with_label::<sha2::Sha256, _>(label);
        let encrypted_seed = self
            .key
            .encrypt(rng, padding, seed)
            .map_err(|_| VerifyError::Credential("RSA-OAEP encryption of the seed failed"))?;

        let sym_key = kdfa_sha256(seed, "STORAGE", name, &[], u32::from(self.key_bits));
        let iv = [0u8; 16];
        match self.key_bits {
            128 => cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(&sym_key, &iv)
                .map_err(|_| VerifyError::Credential("AES-128 key"))?
                .encrypt(&mut plaintext),
            _ => cfb_mode::Encryptor::<aes::Aes256>::new_from_slices(&sym_key, &iv)
                .map_err(|_| VerifyError::Credential("AES-256 key"))?
                .encrypt(&mut plaintext),
        }
        let ciphertext = plaintext;

        let hmac_key = kdfa_sha256(seed, "INTEGRITY", &[], &[], 256);
        let mut mac = HmacSha256::new_from_slice(&hmac_key).map_err(|_| VerifyError::Credential("HMAC key"))?;
        mac.update(&ciphertext);
        mac.update(name);
        let outer_hmac = mac.finalize().into_bytes();

        let mut blob = Vec::with_capacity(2 + outer_hmac.len() + ciphertext.len());
        blob.extend_from_slice(&(outer_hmac.len() as u16).to_be_bytes());
        blob.extend_from_slice(&outer_hmac);
        blob.extend_from_slice(&ciphertext);
        Ok((blob, encrypted_seed))
    }
}
