//! The operator's attestation verifier: pure (no I/O; randomness comes from the caller).
//!
//! - [`verify_ek_certificate`]: the EK certificate is the TPM manufacturer's, valid, for this EK.
//! - [`make_credential`]: TPM2_MakeCredential in software, for credential activation.
//! - [`check_attestation_key`], [`check_identity_key`]: what the node's keys must be.
//! - [`Enrollment`]: the enrollment flow, ending in an [`EnrolledNode`] record (JSON).
//! - [`seal_for_import`]: a vault secret sealed for a node's TPM (wrapped to its enrolled EK)
//!   under the release key's authorized policy, without that TPM.
//! - [`NonceBook`]: fresh, single-use nonces.
//! - [`verify_evidence`]: a quote, its event log and a certification of the identity key checked
//!   against the enrollment, the nonce and an image's golden values, as a [`Verdict`] that lists
//!   every [`Reason`] against.
//!
//! Design: `DESIGN.md`.
#![forbid(unsafe_code)]

mod credential;
mod ek;
mod enroll;
mod evidence;
mod nonce;
mod policy;
mod sealing;

pub use credential::{Challenge, MAX_CREDENTIAL_SECRET, kdfa_sha256, make_credential};
pub use ek::verify_ek_certificate;
pub use enroll::{EnrolledNode, Enrollment, PendingEnrollment};
pub use evidence::{EvidenceParts, LogDifference, Reason, Statement, Verdict, verify_evidence};
pub use nonce::{DEFAULT_CAPACITY, DEFAULT_LIFETIME_MS, NonceBook, NonceError};
pub use policy::{check_attestation_key, check_identity_key};
pub use qp_attest_core::tpm_struct::StructError;
pub use sealing::{ImportBlob, seal_for_import};

/// Enrollment or a key check was refused. Never echoes the peer's bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{which}'s public area: {source}")]
    PublicArea { which: &'static str, source: StructError },
    #[error("the EK certificate: {0}")]
    EkCertificate(&'static str),
    #[error("the EK certificate is signed by none of the {cas} manufacturer CA certificates given")]
    EkCertificateNotTrusted { cas: usize },
    #[error("the EK certificate is not valid now ({now}; valid from {not_before} to {not_after}, Unix seconds)")]
    EkCertificateNotValidNow { not_before: i64, not_after: i64, now: i64 },
    #[error("the EK certificate certifies another key than the EK's public area")]
    EkKeyMismatch,
    #[error("the attestation key is refused: {0}")]
    AkPolicy(&'static str),
    #[error("the identity key is refused: {0}")]
    IdentityPolicy(&'static str),
    #[error("credential: {0}")]
    Credential(&'static str),
    #[error("the node's answer to the credential challenge is not the secret (its AK is not in the TPM of that EK)")]
    ActivationMismatch,
    #[error("the node name is not 1-128 bytes of [A-Za-z0-9._-]")]
    NodeName,
    #[error("sealing for import: {0}")]
    Seal(&'static str),
    #[error("enrollment record: {0}")]
    Record(&'static str),
}
