//! The audit trail: every decision, risk verdict, order intent and execution report the node
//! produces is appended to a hash-chained log, with the lineage of the signal behind it and the
//! model that made it; the chain head is signed by the node's signer at every seal. Anyone
//! holding the node's public key can check the file with [`verify`] (`qpctl audit verify`),
//! which names the first entry that does not hold.
//!
//! Format, the seal cadence and why the chain is sealed rather than every entry signed:
//! `DESIGN.md`.
#![forbid(unsafe_code)]

mod format;
mod verify;
mod writer;

pub use format::{ENTRY_FIXED_BYTES, EntryKind, FILE_HEADER_BYTES, HASH_BYTES, MAGIC, NO_MODEL, SIGNATURE_BYTES};
/// The node's signer (`qp-node-key`): what seals the chain.
pub use qp_node_key::{FileKeySigner, KeyError, NodeSigner, PUBLIC_KEY_BYTES, PublicKey, SignError, key_id};
pub use verify::{AuditEntry, BrokenEntry, BrokenReason, VerifyReport, read_entries, verify};

/// Lower-case hex, as reports print digests and key ids.
pub fn to_hex(bytes: &[u8]) -> String {
    qp_node_key::hex(bytes)
}
pub use writer::{AuditError, AuditWriter, ModelRef, SealPolicy};
