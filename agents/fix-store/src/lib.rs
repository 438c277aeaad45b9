//! The FIX session's persistent message store: one append-only log file per session, from
//! which a restarted engine resumes its sequence numbers and answers ResendRequests with the
//! messages it sent, byte for byte. Format, recovery and the fsync trade-off: `DESIGN.md`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use qp_fix::session::MessageStore;

/// The file starts with these bytes (format version 1).
pub const MAGIC: &[u8; 8] = b"QPFIXST1";
/// Record header: kind (1 byte) and payload length (u32, little-endian).
pub const RECORD_HEADER_BYTES: usize = 5;
/// Record trailer: CRC32 (IEEE) of kind, length and payload, little-endian.
pub const RECORD_TRAILER_BYTES: usize = 4;
/// A payload longer than this is not a record (a corrupt length): recovery stops there.
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;

/// What a record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    /// Payload: MsgSeqNum (u64 LE), then the whole frame as sent. Also moves the next sender
    /// MsgSeqNum past it.
    Message = 1,
    /// Payload: the next sender MsgSeqNum (u64 LE).
    SenderSeq = 2,
    /// Payload: the next expected target MsgSeqNum (u64 LE).
    TargetSeq = 3,
    /// No payload: both numbers back to 1, messages dropped.
    Reset = 4,
}

impl RecordKind {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Message),
            2 => Some(Self::SenderSeq),
            3 => Some(Self::TargetSeq),
            4 => Some(Self::Reset),
            _ => None,
        }
    }
}

/// When the log is fsynced (`File::sync_data`).
///
/// - `EveryWrite`: every record is on disk before the call returns, so a message is durable
///   before the session hands its bytes to the socket. This is what makes "no order is sent
///   twice" (and "never under a new MsgSeqNum") hold after a power loss or kernel crash:
///   whatever the peer may have received is in the log.
/// - `EveryN(n)`: fsync after every `n` records; a power loss may lose up to the last `n - 1`
///   records, i.e. reuse their MsgSeqNums for other messages after the restart.
/// - `Never`: the OS writes back when it likes. A process crash (`kill -9`, panic, OOM) loses
///   nothing, since the write reached the page cache; only a machine crash can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    EveryWrite,
    EveryN(u32),
    Never,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid session id {0:?} (letters, digits, '-', '_', '.' only; not empty)")]
    InvalidSessionId(String),
    #[error("{path} is not a message store (bad magic)")]
    BadMagic { path: PathBuf },
    #[error("message too large for the store: {0} bytes")]
    TooLarge(usize),
    #[error("the index points past the log at offset {offset} (the file changed under the store)")]
    IndexOutOfRange { offset: u64 },
}

/// Why recovery stopped before the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The record runs past the end of the file (a write cut short: the usual crash case).
    Torn,
    /// The record is complete but its CRC32 does not match.
    BadChecksum,
    /// Unknown kind, impossible length, or a payload that does not fit its kind.
    BadRecord,
}

/// What [`FileStore::open`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Good records replayed.
    pub records: u64,
    /// Where recovery stopped, when it stopped before the end: the offset of the first bad
    /// record (where the file was truncated) and why.
    pub stopped: Option<(u64, StopReason)>,
    /// Bytes cut off the end of the file (0 when the log was clean).
    pub truncated_bytes: u64,
}

impl Recovery {
    /// `true` when the whole file was good.
    pub fn is_clean(&self) -> bool {
        self.stopped.is_none()
    }
}

/// A [`MessageStore`] in an append-only file `<dir>/<session_id>.fixlog`.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    file: File,
    policy: FsyncPolicy,
    next_sender: u64,
    next_target: u64,
    /// MsgSeqNum → (offset of the frame in the file, its length).
    index: BTreeMap<u64, (u64, u32)>,
    /// Where the next record goes (the file's length).
    end: u64,
    unsynced: u32,
    recovery: Recovery,
    scratch: Vec<u8>,
}

impl FileStore {
    /// Opens (or creates) the store with [`FsyncPolicy::EveryWrite`].
    pub fn open(dir: impl AsRef<Path>, session_id: &str) -> Result<Self, StoreError> {
        Self::open_with(dir, session_id, FsyncPolicy::EveryWrite)
    }

    /// Opens (or creates) the store: replays the log up to the first torn or corrupt record,
    /// truncates the file there (see [`Self::recovery`]), and appends from then on.
    pub fn open_with(dir: impl AsRef<Path>, session_id: &str, policy: FsyncPolicy) -> Result<Self, StoreError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if session_id.is_empty() || session_id.starts_with('.') || !session_id.chars().all(valid) {
            return Err(StoreError::InvalidSessionId(session_id.to_owned()));
        }
        let path = Self::path_for(dir.as_ref(), session_id);
        let io = |source| StoreError::Io { path: path.clone(), source };
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(io)?;
        let mut store = Self {
            path: path.clone(),
            file,
            policy,
            next_sender: 1,
            next_target: 1,
            index: BTreeMap::new(),
            end: 0,
            unsynced: 0,
            recovery: Recovery::default(),
            scratch: Vec::new(),
        };
        if data.len() < MAGIC.len() {
            if !MAGIC.starts_with(&data) {
                return Err(StoreError::BadMagic { path });
            }
            // New, or a crash while writing the magic: start the file again.
            store.file.set_len(0).map_err(io)?;
            store.file.write_all(MAGIC).map_err(io)?;
            store.file.sync_all().map_err(io)?;
            store.recovery.truncated_bytes = data.len() as u64;
            store.end = MAGIC.len() as u64;
            return Ok(store);
        }
        if &data[..MAGIC.len()] != MAGIC {
            return Err(StoreError::BadMagic { path });
        }
        let good_end = store.replay(&data);
        if good_end < data.len() {
            store.recovery.truncated_bytes = (data.len() - good_end) as u64;
            store.file.set_len(good_end as u64).map_err(io)?;
            store.file.sync_all().map_err(io)?;
        }
        store.end = good_end as u64;
        Ok(store)
    }

    /// The log file of `session_id` under `dir`.
    pub fn path_for(dir: &Path, session_id: &str) -> PathBuf {
        dir.join(format!("{session_id}.fixlog"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What recovery found when the store was opened.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// Number of stored messages.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Forces everything written so far to disk (whatever the policy).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.unsynced = 0;
        self.file.sync_data().map_err(|source| StoreError::Io { path: self.path.clone(), source })
    }

    /// Replays the records after the magic; returns the end of the last good one.
    fn replay(&mut self, data: &[u8]) -> usize {
        let mut at = MAGIC.len();
        while at < data.len() {
            match parse_record(&data[at..]) {
                Ok((kind, payload, len)) => {
                    self.apply(kind, payload, (at + RECORD_HEADER_BYTES) as u64);
                    self.recovery.records += 1;
                    at += len;
                }
                Err(reason) => {
                    self.recovery.stopped = Some((at as u64, reason));
                    break;
                }
            }
        }
        at
    }

    /// The effect of a record on the state; `payload_at` is its payload's offset in the file.
    fn apply(&mut self, kind: RecordKind, payload: &[u8], payload_at: u64) {
        match kind {
            RecordKind::Message => {
                let seq = read_u64(payload);
                self.index.insert(seq, (payload_at + 8, (payload.len() - 8) as u32));
                self.next_sender = self.next_sender.max(seq.saturating_add(1));
            }
            RecordKind::SenderSeq => self.next_sender = read_u64(payload),
            RecordKind::TargetSeq => self.next_target = read_u64(payload),
            RecordKind::Reset => {
                self.next_sender = 1;
                self.next_target = 1;
                self.index.clear();
            }
        }
    }

    /// Appends one record (a single write), fsyncs per the policy, then applies it.
    fn append(&mut self, kind: RecordKind, seq: Option<u64>, body: &[u8]) -> Result<(), StoreError> {
        let payload_len = seq.map_or(0, |_| 8) + body.len();
        if payload_len > MAX_PAYLOAD_BYTES {
            return Err(StoreError::TooLarge(body.len()));
        }
        let mut record = std::mem::take(&mut self.scratch);
        record.clear();
        record.push(kind as u8);
        record.extend_from_slice(&(payload_len as u32).to_le_bytes());
        if let Some(seq) = seq {
            record.extend_from_slice(&seq.to_le_bytes());
        }
        record.extend_from_slice(body);
        let crc = crc32(&record);
        record.extend_from_slice(&crc.to_le_bytes());
        let written = self.write_record(&record);
        if written.is_ok() {
            let payload_at = self.end + RECORD_HEADER_BYTES as u64;
            self.end += record.len() as u64;
            self.apply(kind, &record[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + payload_len], payload_at);
        }
        self.scratch = record;
        written
    }

    fn write_record(&mut self, record: &[u8]) -> Result<(), StoreError> {
        let io = |source| StoreError::Io { path: self.path.clone(), source };
        if let Err(error) = self.file.write_all(record) {
            // A partial write would leave a torn record in the middle of the log: cut it off
            // (best effort; recovery would stop there otherwise).
            let _ = self.file.set_len(self.end);
            return Err(io(error));
        }
        let sync = match self.policy {
            FsyncPolicy::EveryWrite => true,
            FsyncPolicy::EveryN(n) => {
                self.unsynced += 1;
                self.unsynced >= n.max(1)
            }
            FsyncPolicy::Never => false,
        };
        if sync {
            self.unsynced = 0;
            self.file.sync_data().map_err(io)?;
        }
        Ok(())
    }
}

impl MessageStore for FileStore {
    type Error = StoreError;

    fn next_sender_seq(&self) -> u64 {
        self.next_sender
    }
    fn next_target_seq(&self) -> u64 {
        self.next_target
    }
    fn set_next_sender_seq(&mut self, seq: u64) -> Result<(), StoreError> {
        if seq == self.next_sender {
            // The usual case: `save` already moved it past the message.
            return Ok(());
        }
        self.append(RecordKind::SenderSeq, None, &seq.to_le_bytes())
    }
    fn set_next_target_seq(&mut self, seq: u64) -> Result<(), StoreError> {
        if seq == self.next_target {
            return Ok(());
        }
        self.append(RecordKind::TargetSeq, None, &seq.to_le_bytes())
    }
    fn save(&mut self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.append(RecordKind::Message, Some(seq), bytes)
    }
    fn get_range(&self, begin: u64, end: u64, each: &mut dyn FnMut(u64, &[u8])) -> Result<(), StoreError> {
        if begin > end {
            return Ok(());
        }
        let io = |source| StoreError::Io { path: self.path.clone(), source };
        let mut buf = Vec::new();
        let mut file = &self.file;
        for (&seq, &(offset, len)) in self.index.range(begin..=end) {
            if offset + u64::from(len) > self.end {
                return Err(StoreError::IndexOutOfRange { offset });
            }
            buf.resize(len as usize, 0);
            file.seek(SeekFrom::Start(offset)).map_err(io)?;
            file.read_exact(&mut buf).map_err(io)?;
            each(seq, &buf);
        }
        Ok(())
    }
    fn reset(&mut self) -> Result<(), StoreError> {
        self.append(RecordKind::Reset, None, &[])
    }
}

/// One record at the head of `data`: its kind, payload and total length, or why not.
fn parse_record(data: &[u8]) -> Result<(RecordKind, &[u8], usize), StopReason> {
    if data.len() < RECORD_HEADER_BYTES {
        return Err(StopReason::Torn);
    }
    let len = u32::from_le_bytes([data[1], data[2], data[3], data[4]]) as usize;
    if len > MAX_PAYLOAD_BYTES {
        return Err(StopReason::BadRecord);
    }
    let total = RECORD_HEADER_BYTES + len + RECORD_TRAILER_BYTES;
    if data.len() < total {
        return Err(StopReason::Torn);
    }
    let body_end = RECORD_HEADER_BYTES + len;
    let stored = u32::from_le_bytes([data[body_end], data[body_end + 1], data[body_end + 2], data[body_end + 3]]);
    if crc32(&data[..body_end]) != stored {
        return Err(StopReason::BadChecksum);
    }
    let kind = RecordKind::from_byte(data[0]).ok_or(StopReason::BadRecord)?;
    let payload = &data[RECORD_HEADER_BYTES..body_end];
    let fits = match kind {
        RecordKind::Message => payload.len() >= 8,
        RecordKind::SenderSeq | RecordKind::TargetSeq => payload.len() == 8,
        RecordKind::Reset => payload.is_empty(),
    };
    if !fits {
        return Err(StopReason::BadRecord);
    }
    Ok((kind, payload, total))
}

/// The first 8 bytes as a little-endian u64 (the caller checked the length).
fn read_u64(bytes: &[u8]) -> u64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(le)
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), table-driven.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
