//! `qp-attestd`, the node's TPM service: the one process that holds the TPM's keys.
//!
//! - For the operator's verifier (`qpctl enroll`, `qpctl attest`), on a TCP port: the node's
//!   endorsement certificate and keys, credential activation, quotes of the product PCR with the
//!   boot's event log and a certification of the node's bridge key, and the installation of the
//!   short-lived bridge certificate issued after a passing attestation (checked first: it must be
//!   the fleet CA's, valid, and for this TPM's key). The wire format is `qp_attest_core::attest_proto`.
//! - For the node's own static binaries, on a Unix socket: signatures with the TPM-held bridge key
//!   (`qp_node_key::serve_signer`).
//! - On a local (vault) node: vault secrets an operator sealed for this TPM (`qpctl vault seal`,
//!   imported under the EK), the release key's approvals of the image's PCR values (`qpctl vault
//!   approve`), and, on a second Unix socket, the secrets unsealed for the node's binaries
//!   (`qp_attest_core::vault_socket`) while the booted image is approved.
//!
//! The TPM is behind [`NodeTpm`], so the protocol handling is tested without one; the real one
//! ([`TpmBackend`]) is `qp-tpm` over `/dev/tpmrm0` (or swtpm in tests). Design: `DESIGN.md`.
#![forbid(unsafe_code)]

mod backend;
mod service;

pub use backend::{AK_FILE, IDENTITY_KEY_FILE, TpmBackend};
pub use service::{AttestdError, Service, ServiceConfig, VaultConfig, image_id_from_boot, serve_tcp, serve_vault};

/// What the service needs of a TPM.
pub trait NodeTpm: Send + Sync {
    /// The endorsement key's certificate (DER) and public area.
    fn endorsement(&self) -> Result<(Vec<u8>, Vec<u8>), AttestdError>;
    /// The attestation key's public area.
    fn ak_public(&self) -> Vec<u8>;
    /// The node identity (bridge) key's public area.
    fn identity_public(&self) -> Vec<u8>;
    /// TPM2_ActivateCredential with the attestation key and the endorsement key.
    fn activate_credential(&self, credential_blob: &[u8], encrypted_secret: &[u8]) -> Result<Vec<u8>, AttestdError>;
    /// A quote of the product PCR over `nonce`: (TPMS_ATTEST, TPMT_SIGNATURE).
    fn quote(&self, nonce: &[u8]) -> Result<(Vec<u8>, Vec<u8>), AttestdError>;
    /// The identity key certified by the attestation key over `nonce`.
    fn certify_identity(&self, nonce: &[u8]) -> Result<(Vec<u8>, Vec<u8>), AttestdError>;
    /// The identity key as a signer (for the bridge, through the signer socket).
    fn signer(&self) -> std::sync::Arc<dyn qp_node_key::NodeSigner>;
    /// TPM2_Import of a sealed secret wrapped to the EK, written to `out` (new, mode 0600).
    fn import_sealed_secret(
        &self,
        public_area: &[u8],
        duplicate: &[u8],
        encrypted_seed: &[u8],
        out: &std::path::Path,
    ) -> Result<(), AttestdError>;
    /// The secret sealed in `file`, unsealed with `approval` (the TPM checks PCR 15 and the
    /// release key's signature).
    fn unseal(
        &self,
        file: &std::path::Path,
        approval: &qp_attest_core::policy::PolicyApproval,
    ) -> Result<Vec<u8>, AttestdError>;
}
