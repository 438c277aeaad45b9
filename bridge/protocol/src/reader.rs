//! The record reader: bytes in, checked records out, whatever the byte boundaries.
//!
//! Whole records are read in place from the caller's bytes (no copy); only a record split
//! across calls is gathered in a fixed buffer of [`MAX_RECORD_LEN`] bytes. A header is
//! checked as soon as its four bytes are in, so a length beyond the kind's maximum is refused
//! before any of its body is awaited.

use crate::error::{ProtocolError, Violation};
use crate::record::{
    GOODBYE_LEN, GoodbyeReason, HELLO_LEN, HELLO_MAGIC, Hello, MAX_RECORD_LEN, MAX_SEQUENCE, RECORD_HEADER_LEN, Record,
    RecordKind, Role, SEQUENCE_LEN,
};
use crate::subscription::AssetList;

/// Reads the records a peer of a given role sends. Bounded: it never holds more than one
/// partial record ([`buffered_len`](Self::buffered_len) `< MAX_RECORD_LEN`).
#[derive(Clone)]
pub struct RecordReader {
    peer: Role,
    partial: [u8; MAX_RECORD_LEN],
    partial_len: usize,
    /// Stream offset of the next record's first byte.
    offset: u64,
}

impl RecordReader {
    /// A reader for what a `peer` node sends: kinds that role may not send are refused at
    /// their header (the receiving side of the direction allow-list).
    pub fn new(peer: Role) -> Self {
        Self { peer, partial: [0; MAX_RECORD_LEN], partial_len: 0, offset: 0 }
    }

    /// The role whose records this reader accepts.
    pub fn peer(&self) -> Role {
        self.peer
    }

    /// Bytes of a partial record held until the rest arrives.
    pub fn buffered_len(&self) -> usize {
        self.partial_len
    }

    /// Bytes of the stream read as whole records.
    pub fn stream_offset(&self) -> u64 {
        self.offset
    }

    /// Read `bytes`, the next part of the stream, calling `on_record` with each complete
    /// record and its stream offset, in order. Stops at the first error (the reader is then
    /// spent: a connection closes on it).
    pub fn read<E, F>(&mut self, mut bytes: &[u8], mut on_record: F) -> Result<(), E>
    where
        E: From<ProtocolError>,
        F: FnMut(u64, Record<'_>) -> Result<(), E>,
    {
        if self.partial_len > 0 {
            let used = self.gather(bytes)?;
            bytes = &bytes[used..];
            let Some(total) = self.complete_len()? else {
                return Ok(());
            };
            let record = decode(self.offset, self.peer, &self.partial[..total])?;
            on_record(self.offset, record)?;
            self.offset += total as u64;
            self.partial_len = 0;
        }
        while let Some(header) = bytes.first_chunk::<RECORD_HEADER_LEN>() {
            let (_, body_len) = check_header(self.offset, self.peer, header)?;
            let Some(whole) = bytes.get(..RECORD_HEADER_LEN + body_len) else {
                break;
            };
            let record = decode(self.offset, self.peer, whole)?;
            on_record(self.offset, record)?;
            self.offset += whole.len() as u64;
            bytes = &bytes[whole.len()..];
        }
        // What is left is shorter than one record (a header, if complete, was checked above).
        self.partial[..bytes.len()].copy_from_slice(bytes);
        self.partial_len = bytes.len();
        Ok(())
    }

    /// The stream ended: an error if it ended inside a record.
    pub fn finish(&self) -> Result<(), ProtocolError> {
        if self.partial_len == 0 {
            return Ok(());
        }
        let need = match self.partial.first_chunk::<RECORD_HEADER_LEN>() {
            Some(header) if self.partial_len >= RECORD_HEADER_LEN => {
                RECORD_HEADER_LEN + usize::from(u16::from_le_bytes([header[0], header[1]]))
            }
            _ => RECORD_HEADER_LEN,
        };
        let kind = if self.partial_len > 2 { self.partial[2] } else { 0 };
        Err(ProtocolError {
            offset: self.offset,
            kind,
            violation: Violation::TruncatedAtClose { have: self.partial_len, need },
        })
    }

    /// Copy from `bytes` into the partial record: up to its header, then up to its end.
    /// Answers the bytes used.
    fn gather(&mut self, bytes: &[u8]) -> Result<usize, ProtocolError> {
        let mut used = 0;
        if self.partial_len < RECORD_HEADER_LEN {
            used = (RECORD_HEADER_LEN - self.partial_len).min(bytes.len());
            self.partial[self.partial_len..self.partial_len + used].copy_from_slice(&bytes[..used]);
            self.partial_len += used;
        }
        if let Some(total) = self.declared_len()? {
            let take = (total - self.partial_len).min(bytes.len() - used);
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(&bytes[used..used + take]);
            self.partial_len += take;
            used += take;
        }
        Ok(used)
    }

    /// The whole length of the partial record, once its header is in and checked.
    fn declared_len(&self) -> Result<Option<usize>, ProtocolError> {
        match self.partial.first_chunk::<RECORD_HEADER_LEN>() {
            Some(header) if self.partial_len >= RECORD_HEADER_LEN => {
                let (_, body_len) = check_header(self.offset, self.peer, header)?;
                Ok(Some(RECORD_HEADER_LEN + body_len))
            }
            _ => Ok(None),
        }
    }

    /// The partial record's length, if it is complete.
    fn complete_len(&self) -> Result<Option<usize>, ProtocolError> {
        Ok(self.declared_len()?.filter(|&total| total == self.partial_len))
    }
}

impl std::fmt::Debug for RecordReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReader")
            .field("peer", &self.peer)
            .field("buffered", &self.partial_len)
            .field("offset", &self.offset)
            .finish()
    }
}

/// Check a header: known kind, no reserved flag, allowed from `peer`, length within the
/// kind's bounds. Answers the kind and the body length.
fn check_header(
    offset: u64,
    peer: Role,
    header: &[u8; RECORD_HEADER_LEN],
) -> Result<(RecordKind, usize), ProtocolError> {
    let [len_lo, len_hi, kind_byte, flags] = *header;
    let error = |violation| ProtocolError { offset, kind: kind_byte, violation };
    let kind = RecordKind::from_wire(kind_byte).ok_or(error(Violation::UnknownKind))?;
    if flags != 0 {
        return Err(error(Violation::ReservedFlags { flags }));
    }
    if !peer.may_send(kind) {
        return Err(error(Violation::NotAllowedFromPeer { peer }));
    }
    let length = usize::from(u16::from_le_bytes([len_lo, len_hi]));
    let (min, max) = kind.body_len_range();
    if length > max {
        return Err(error(Violation::BodyTooLong { length, max }));
    }
    if length < min {
        return Err(error(Violation::BodyTooShort { length, min }));
    }
    Ok((kind, length))
}

/// Decode one whole record (header and body) whose header `check_header` accepts.
fn decode(offset: u64, peer: Role, whole: &[u8]) -> Result<Record<'_>, ProtocolError> {
    let Some((header, body)) = whole.split_first_chunk::<RECORD_HEADER_LEN>() else {
        return Err(ProtocolError { offset, kind: 0, violation: Violation::BodyTooShort { length: 0, min: 0 } });
    };
    let (kind, _) = check_header(offset, peer, header)?;
    decode_body(kind, body).map_err(|violation| ProtocolError { offset, kind: kind as u8, violation })
}

fn decode_body(kind: RecordKind, body: &[u8]) -> Result<Record<'_>, Violation> {
    // The header check bounded `body.len()` to the kind's range; `short` answers the
    // impossible case as an error, not a panic.
    let short = || Violation::BodyTooShort { length: body.len(), min: kind.body_len_range().0 };
    Ok(match kind {
        RecordKind::Hello => Record::Hello(decode_hello(body.first_chunk::<HELLO_LEN>().ok_or_else(short)?)?),
        RecordKind::Data => {
            let (sequence, frame) = body.split_first_chunk::<SEQUENCE_LEN>().ok_or_else(short)?;
            let decoded = qp_wire::decode(frame).map_err(Violation::BadFrame)?;
            if decoded.len() != frame.len() {
                return Err(Violation::FrameLengthMismatch { record: frame.len(), declared: decoded.len() });
            }
            Record::Data { sequence: u64::from_le_bytes(*sequence), frame }
        }
        RecordKind::Credit => Record::Credit { limit: u64::from_le_bytes(*body.first_chunk().ok_or_else(short)?) },
        RecordKind::Ack => Record::Ack { next_expected: u64::from_le_bytes(*body.first_chunk().ok_or_else(short)?) },
        RecordKind::Heartbeat => Record::Heartbeat,
        RecordKind::Subscription => Record::Subscription(AssetList::parse(body).map_err(Violation::BadSubscription)?),
        RecordKind::Goodbye => {
            let code: &[u8; GOODBYE_LEN] = body.first_chunk().ok_or_else(short)?;
            Record::Goodbye(GoodbyeReason::from_code(u16::from_le_bytes([code[0], code[1]])))
        }
    })
}

fn decode_hello(body: &[u8; HELLO_LEN]) -> Result<Hello, Violation> {
    let u16_at = |at: usize| u16::from_le_bytes([body[at], body[at + 1]]);
    let u64_at = |at: usize| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&body[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let magic = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
    if magic != HELLO_MAGIC {
        return Err(Violation::BadHelloMagic { found: magic });
    }
    let (min_version, max_version) = (u16_at(4), u16_at(6));
    if min_version == 0 {
        return Err(Violation::InvalidHello { field: "min_version", value: 0 });
    }
    if max_version < min_version {
        return Err(Violation::InvalidHello { field: "max_version", value: u64::from(max_version) });
    }
    let role = Role::from_wire(body[8]).ok_or(Violation::InvalidHello { field: "role", value: u64::from(body[8]) })?;
    let epoch = u64_at(24);
    if epoch == 0 {
        return Err(Violation::InvalidHello { field: "epoch", value: 0 });
    }
    let (next_expected, resend_from) = (u64_at(40), u64_at(48));
    for (field, value) in [("next_expected", next_expected), ("resend_from", resend_from)] {
        if value > MAX_SEQUENCE {
            return Err(Violation::InvalidHello { field, value });
        }
    }
    Ok(Hello {
        min_version,
        max_version,
        role,
        capabilities: u64_at(16),
        epoch,
        resume_epoch: u64_at(32),
        next_expected,
        resend_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::encode_record;

    fn hello(role: Role) -> Hello {
        Hello {
            min_version: 1,
            max_version: 1,
            role,
            capabilities: 0,
            epoch: 5,
            resume_epoch: 0,
            next_expected: 0,
            resend_from: 0,
        }
    }

    #[test]
    fn records_split_at_every_byte_are_read_whole() {
        let mut stream = [0u8; 256];
        let mut len = encode_record(Role::Local, &Record::Hello(hello(Role::Local)), &mut stream).unwrap();
        len += encode_record(Role::Local, &Record::Credit { limit: 9 }, &mut stream[len..]).unwrap();
        len += encode_record(Role::Local, &Record::Heartbeat, &mut stream[len..]).unwrap();
        let stream = &stream[..len];
        for cut in 0..=len {
            for second_cut in cut..=len {
                let mut reader = RecordReader::new(Role::Local);
                let mut kinds = Vec::new();
                for part in [&stream[..cut], &stream[cut..second_cut], &stream[second_cut..]] {
                    reader
                        .read::<ProtocolError, _>(part, |_, record| {
                            kinds.push(record.kind());
                            Ok(())
                        })
                        .unwrap();
                }
                assert_eq!(kinds, [RecordKind::Hello, RecordKind::Credit, RecordKind::Heartbeat]);
                assert_eq!(reader.buffered_len(), 0);
                assert_eq!(reader.stream_offset(), len as u64);
            }
        }
    }

    #[test]
    fn a_long_length_is_refused_at_its_header() {
        let mut reader = RecordReader::new(Role::Cloud);
        let header = [0xff, 0xff, RecordKind::Data as u8, 0];
        let error = reader
            .read::<ProtocolError, _>(&header[..3], |_, _| Ok(()))
            .and_then(|()| reader.read::<ProtocolError, _>(&header[3..], |_, _| Ok(())));
        assert_eq!(
            error.unwrap_err().violation,
            Violation::BodyTooLong { length: 0xffff, max: crate::record::DATA_MAX_LEN }
        );
    }
}
