//! The file layout, shared by the writer and the verifier (all integers little-endian).
//!
//! ```text
//! file   = header entry*
//! header = MAGIC[8] node_id:u32 public_key[65] reserved[3]                      (80 bytes)
//! entry  = body_len:u32 kind:u8 reserved[3] seq:u64 time_ns:u64 prev_hash[32] body[body_len] hash[32]
//! hash   = SHA-256(body_len ‥ body)          prev_hash of entry 0 = SHA-256(header)
//! ```

/// The file's first bytes (format version 1).
pub const MAGIC: &[u8; 8] = b"QPAUDIT1";
/// Header: magic, node id, the signer's public key (SEC1 uncompressed P-256), padding.
pub const FILE_HEADER_BYTES: usize = 8 + 4 + crate::PUBLIC_KEY_BYTES + 3;
/// SHA-256.
pub const HASH_BYTES: usize = 32;
/// ECDSA P-256 signature, `r ‖ s`.
pub const SIGNATURE_BYTES: usize = 64;
/// Everything in an entry except its body.
pub const ENTRY_FIXED_BYTES: usize = 4 + 1 + 3 + 8 + 8 + HASH_BYTES + HASH_BYTES;
/// Offset of the body inside an entry.
pub(crate) const BODY_OFFSET: usize = ENTRY_FIXED_BYTES - HASH_BYTES;
/// No body is longer: a larger length is corruption, not a reason to read megabytes.
pub(crate) const MAX_BODY_BYTES: usize = 4096;
/// The longest model name a Model entry holds.
pub(crate) const MAX_MODEL_NAME_BYTES: usize = 256;
/// A frame entry's `model_ref` when no model was involved (a risk verdict, an exec report).
pub const NO_MODEL: u64 = u64::MAX;
/// Domain separation for the seal's signed digest.
pub(crate) const SEAL_DOMAIN: &[u8] = b"qp-audit seal v1";

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryKind {
    /// A model file measured before use: body = SHA-256 of the file[32] ‖ name_len:u16 ‖ name.
    Model = 1,
    /// A wire frame the node produced or acted on: body = model_ref:u64 ‖ frame bytes. The
    /// frame's header carries the lineage (origin node, sequence) of the signal behind it.
    Frame = 2,
    /// The signer's signature over the chain head: body = key_id[32] ‖ signature[64].
    Seal = 3,
}

impl EntryKind {
    pub(crate) fn from_wire(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Model),
            2 => Some(Self::Frame),
            3 => Some(Self::Seal),
            _ => None,
        }
    }

    /// Lower-case name, as `qpctl audit show` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Frame => "frame",
            Self::Seal => "seal",
        }
    }
}

/// The digest a seal signs: SHA-256(domain ‖ seq ‖ chain head).
pub(crate) fn seal_digest(seq: u64, chain_head: &[u8; HASH_BYTES]) -> [u8; HASH_BYTES] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(SEAL_DOMAIN);
    hasher.update(seq.to_le_bytes());
    hasher.update(chain_head);
    hasher.finalize().into()
}

/// The file header's bytes.
pub(crate) fn encode_header(node_id: u32, public_key: &crate::PublicKey) -> [u8; FILE_HEADER_BYTES] {
    let mut header = [0u8; FILE_HEADER_BYTES];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&node_id.to_le_bytes());
    header[12..12 + crate::PUBLIC_KEY_BYTES].copy_from_slice(public_key.as_bytes());
    header
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; HASH_BYTES] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
