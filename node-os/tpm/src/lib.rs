//! The node's TPM 2.0 (issue 10, first part): the node identity key that never leaves the TPM
//! ([`TpmSigner`], a [`qp_node_key::NodeSigner`]), PCR measurements ([`Tpm::pcr_extend`],
//! [`Tpm::pcr_read`]) with their event log ([`MeasurementLog`], pure and strict, because a verifier
//! replays logs sent by a peer), and a test harness that runs `swtpm` ([`swtpm::Swtpm`]).
//!
//! The TPM is reached through a TCTI string: `device:/dev/tpmrm0` on a node,
//! `swtpm:host=127.0.0.1,port=P` in tests. See `DESIGN.md` beside this crate.
#![forbid(unsafe_code)]

mod attest;
mod error;
mod seal;
mod signer;
pub mod swtpm;
mod tpm;

pub use attest::{Attestation, AttestationKey, MAX_NONCE};
pub use error::{TpmError, UnsealStep};
pub use qp_attest_core::log::{
    KIND_CONFIG, KIND_MODEL, KIND_SERVICE_BINARY, KIND_VERITY_ROOT_HASH, LogError, LogErrorKind, MAX_EVENTS, MAX_LINE,
    MAX_LOG_BYTES, Measurement, MeasurementLog,
};
pub use qp_attest_core::policy::{
    MAX_SEALED_SECRET, PolicyApproval, UNREACHABLE_POLICY, approval_digest, authority_name, authority_public_area,
    policy_authorize_digest, policy_pcr_digest,
};
pub use qp_attest_core::tpm_struct::name_of;
pub use seal::SealedSecret;
pub use signer::TpmSigner;
pub use tpm::{PCR_PRODUCT, TCTI_NODE, Tpm, pcr_extend_value};
/// The TPM's response codes, as [`TpmError::response_code`] names them.
pub use tss_esapi::constants::response_code::Tss2ResponseCodeKind;

/// A SHA-256 digest.
pub type Digest32 = [u8; 32];

/// `der` as a PEM block with `tag`, LF line endings (what tpm2-tools and openssl read).
pub(crate) fn pem_text(tag: &str, der: Vec<u8>) -> String {
    pem::encode_config(&pem::Pem::new(tag, der), pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}
