//! Checking a trail: every entry's hash, every link, every seal's signature, every frame's
//! decoding. The first entry that does not hold is named, with its byte offset and why.

use std::fmt;

use crate::format::{
    BODY_OFFSET, ENTRY_FIXED_BYTES, EntryKind, FILE_HEADER_BYTES, HASH_BYTES, MAGIC, MAX_BODY_BYTES, NO_MODEL,
    SIGNATURE_BYTES, seal_digest, sha256,
};
use qp_node_key::{PUBLIC_KEY_BYTES, PublicKey};

/// One entry, borrowed from the file's bytes.
#[derive(Debug, Clone, Copy)]
pub struct AuditEntry<'a> {
    pub seq: u64,
    pub kind: EntryKind,
    pub time_ns: u64,
    /// Byte offset of the entry in the file.
    pub offset: usize,
    pub body: &'a [u8],
    pub hash: [u8; HASH_BYTES],
}

impl<'a> AuditEntry<'a> {
    /// A Model entry's file digest and name.
    pub fn model(&self) -> Option<([u8; HASH_BYTES], &'a str)> {
        if self.kind != EntryKind::Model {
            return None;
        }
        let digest: [u8; HASH_BYTES] = self.body.get(..HASH_BYTES)?.try_into().ok()?;
        let len = u16::from_le_bytes(self.body.get(HASH_BYTES..HASH_BYTES + 2)?.try_into().ok()?) as usize;
        let name = self.body.get(HASH_BYTES + 2..)?;
        if name.len() != len {
            return None;
        }
        Some((digest, std::str::from_utf8(name).ok()?))
    }

    /// A Frame entry's model reference (`None` = no model) and frame bytes.
    pub fn frame(&self) -> Option<(Option<u64>, &'a [u8])> {
        if self.kind != EntryKind::Frame {
            return None;
        }
        let model = u64::from_le_bytes(self.body.get(..8)?.try_into().ok()?);
        Some(((model != NO_MODEL).then_some(model), self.body.get(8..)?))
    }
}

/// What a verified trail holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub node_id: u32,
    pub public_key: PublicKey,
    pub entries: u64,
    pub models: u64,
    pub frames: u64,
    pub seals: u64,
    /// Entries after the last seal: chained, but no signature covers them yet (a node that
    /// stopped without sealing, or a trail still being written).
    pub unsealed_entries: u64,
}

/// Why an entry does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokenReason {
    NotAnAuditTrail,
    BadPublicKey,
    /// The file's key is not the key the verifier was told to expect.
    UnexpectedKey,
    Truncated {
        needed: usize,
        available: usize,
    },
    BodyTooLong {
        len: usize,
    },
    UnknownKind {
        kind: u8,
    },
    SequenceGap {
        expected: u64,
    },
    /// `prev_hash` is not the previous entry's hash (or the header's, for entry 0).
    LinkBroken,
    /// The entry's bytes do not hash to the hash it carries.
    HashMismatch,
    BadModelEntry,
    BadFrame {
        reason: String,
    },
    /// A frame names a model entry that does not precede it.
    UnknownModel {
        model: u64,
    },
    /// A seal's key id is not the file's key.
    ForeignSealKey,
    BadSignature,
}

impl fmt::Display for BrokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnAuditTrail => write!(f, "not an audit trail (magic is not {:?})", "QPAUDIT1"),
            Self::BadPublicKey => write!(f, "the header's public key is not a P-256 point"),
            Self::UnexpectedKey => write!(f, "signed by another key than the one expected"),
            Self::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} left")
            }
            Self::BodyTooLong { len } => write!(f, "body length {len} above {MAX_BODY_BYTES}"),
            Self::UnknownKind { kind } => write!(f, "unknown entry kind {kind}"),
            Self::SequenceGap { expected } => write!(f, "sequence number is not {expected}"),
            Self::LinkBroken => write!(f, "does not link to the entry before it (prev_hash differs)"),
            Self::HashMismatch => write!(f, "contents do not match the entry's hash (modified)"),
            Self::BadModelEntry => write!(f, "malformed model entry"),
            Self::BadFrame { reason } => write!(f, "frame does not decode: {reason}"),
            Self::UnknownModel { model } => write!(f, "names model entry {model}, which is not an earlier model"),
            Self::ForeignSealKey => write!(f, "seal by a key other than the trail's"),
            Self::BadSignature => write!(f, "seal signature does not verify"),
        }
    }
}

/// The first entry that does not hold. `entry` is `None` for the file header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BrokenEntry {
    pub entry: Option<u64>,
    pub offset: usize,
    pub reason: BrokenReason,
}

impl fmt::Display for BrokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            Some(entry) => write!(f, "entry {entry} (byte {}): {}", self.offset, self.reason),
            None => write!(f, "file header (byte {}): {}", self.offset, self.reason),
        }
    }
}

/// Checks a whole trail; `expected_key` pins the signer (without it the file's own key is
/// trusted, which proves integrity but not origin).
pub fn verify(bytes: &[u8], expected_key: Option<&PublicKey>) -> Result<VerifyReport, BrokenEntry> {
    walk(bytes, expected_key, |_| {})
}

/// Checks a trail and hands back its entries (for `qpctl audit show`).
pub fn read_entries<'a>(
    bytes: &'a [u8],
    expected_key: Option<&PublicKey>,
) -> Result<(VerifyReport, Vec<AuditEntry<'a>>), BrokenEntry> {
    let mut entries = Vec::new();
    let report = walk(bytes, expected_key, |entry| entries.push(*entry))?;
    Ok((report, entries))
}

fn walk<'a>(
    bytes: &'a [u8],
    expected_key: Option<&PublicKey>,
    mut visit: impl FnMut(&AuditEntry<'a>),
) -> Result<VerifyReport, BrokenEntry> {
    let header_broken = |reason| BrokenEntry { entry: None, offset: 0, reason };
    let Some(header) = bytes.get(..FILE_HEADER_BYTES) else {
        return Err(header_broken(BrokenReason::Truncated { needed: FILE_HEADER_BYTES, available: bytes.len() }));
    };
    if &header[..8] != MAGIC {
        return Err(header_broken(BrokenReason::NotAnAuditTrail));
    }
    let node_id = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let public_key = PublicKey::from_sec1(&header[12..12 + PUBLIC_KEY_BYTES])
        .map_err(|_| header_broken(BrokenReason::BadPublicKey))?;
    if expected_key.is_some_and(|expected| *expected != public_key) {
        return Err(header_broken(BrokenReason::UnexpectedKey));
    }
    let key_id = public_key.key_id();

    let mut report =
        VerifyReport { node_id, public_key, entries: 0, models: 0, frames: 0, seals: 0, unsealed_entries: 0 };
    let mut head = sha256(header);
    let mut offset = FILE_HEADER_BYTES;
    let mut model_entries: Vec<u64> = Vec::new();
    while offset < bytes.len() {
        let seq = report.entries;
        let broken = |reason| BrokenEntry { entry: Some(seq), offset, reason };
        let rest = &bytes[offset..];
        if rest.len() < ENTRY_FIXED_BYTES {
            return Err(broken(BrokenReason::Truncated { needed: ENTRY_FIXED_BYTES, available: rest.len() }));
        }
        let body_len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if body_len > MAX_BODY_BYTES {
            return Err(broken(BrokenReason::BodyTooLong { len: body_len }));
        }
        let entry_len = ENTRY_FIXED_BYTES + body_len;
        let Some(entry) = rest.get(..entry_len) else {
            return Err(broken(BrokenReason::Truncated { needed: entry_len, available: rest.len() }));
        };
        let hashed = &entry[..entry_len - HASH_BYTES];
        let mut hash = [0u8; HASH_BYTES];
        hash.copy_from_slice(&entry[entry_len - HASH_BYTES..]);
        if sha256(hashed) != hash {
            return Err(broken(BrokenReason::HashMismatch));
        }
        if entry[BODY_OFFSET - HASH_BYTES..BODY_OFFSET] != head {
            return Err(broken(BrokenReason::LinkBroken));
        }
        let kind = EntryKind::from_wire(entry[4]).ok_or(broken(BrokenReason::UnknownKind { kind: entry[4] }))?;
        let found_seq = u64::from_le_bytes(entry[8..16].try_into().unwrap_or_default());
        if found_seq != seq {
            return Err(broken(BrokenReason::SequenceGap { expected: seq }));
        }
        let time_ns = u64::from_le_bytes(entry[16..24].try_into().unwrap_or_default());
        let parsed = AuditEntry { seq, kind, time_ns, offset, body: &entry[BODY_OFFSET..entry_len - HASH_BYTES], hash };
        match kind {
            EntryKind::Model => {
                parsed.model().ok_or(broken(BrokenReason::BadModelEntry))?;
                model_entries.push(seq);
                report.models += 1;
                report.unsealed_entries += 1;
            }
            EntryKind::Frame => {
                let (model, frame) = parsed.frame().ok_or(broken(BrokenReason::BadFrame { reason: "short".into() }))?;
                qp_wire::decode(frame).map_err(|err| broken(BrokenReason::BadFrame { reason: err.to_string() }))?;
                if let Some(model) = model
                    && model_entries.binary_search(&model).is_err()
                {
                    return Err(broken(BrokenReason::UnknownModel { model }));
                }
                report.frames += 1;
                report.unsealed_entries += 1;
            }
            EntryKind::Seal => {
                if parsed.body.len() != HASH_BYTES + SIGNATURE_BYTES {
                    return Err(broken(BrokenReason::BadSignature));
                }
                if parsed.body[..HASH_BYTES] != key_id {
                    return Err(broken(BrokenReason::ForeignSealKey));
                }
                let mut signature = [0u8; SIGNATURE_BYTES];
                signature.copy_from_slice(&parsed.body[HASH_BYTES..]);
                if !public_key.verify_digest(&seal_digest(seq, &head), &signature) {
                    return Err(broken(BrokenReason::BadSignature));
                }
                report.seals += 1;
                report.unsealed_entries = 0;
            }
        }
        visit(&parsed);
        head = hash;
        report.entries += 1;
        offset += entry_len;
    }
    Ok(report)
}
