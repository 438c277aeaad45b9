//! Just enough GPT reading to say what a disk holds: the protective MBR, the primary header at
//! LBA 1 and the names in its partition entries.
//!
//! Everything here reads bytes that may be hostile or garbage (an old disk, a half-written one),
//! so every size and offset taken from the disk is bounded before it is used: at most
//! [`MAX_PARTITION_ENTRIES`] entries of 128..=4096 bytes, offsets checked against the disk's
//! length, and arithmetic that cannot overflow. Names are shown on a terminal, so control
//! characters in them are replaced.

use std::io::{self, Read, Seek, SeekFrom};

/// The sector size of the images `qpctl image build` writes (its GPT writer uses 512 bytes).
pub const IMAGE_SECTOR_BYTES: u64 = 512;

/// Partition entries read at most: the spec's usual array, and a bound on what a hostile header
/// can make us read (128 × 4096 bytes = 512 KiB).
pub const MAX_PARTITION_ENTRIES: u32 = 128;

const SIGNATURE: &[u8; 8] = b"EFI PART";
const MBR_BYTES: usize = 512;
/// Bytes of LBA 1 read for the header; the header itself is 92 bytes in every revision so far.
const HEADER_READ_BYTES: usize = 512;
const HEADER_MIN_BYTES: u32 = 92;
const ENTRY_MIN_BYTES: u32 = 128;
const ENTRY_MAX_BYTES: u32 = 4096;
/// UTF-16LE partition name: 36 code units at offset 56 of every entry.
const NAME_OFFSET: usize = 56;
const NAME_BYTES: usize = 72;
const GPT_PROTECTIVE_TYPE: u8 = 0xEE;
/// How much of a disk without a GPT is checked for being all zeros.
const ZERO_CHECK_BYTES: u64 = 1 << 20;

/// One used partition entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptPartition {
    /// The entry's name, control characters replaced by `?`.
    pub name: String,
    /// `(last LBA - first LBA + 1) × sector size`, when the entry's LBAs make sense.
    pub size_bytes: Option<u64>,
}

/// What the first sectors of a disk say about a GPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GptProbe {
    /// No `EFI PART` signature at LBA 1 (or the disk is shorter than two sectors).
    Absent,
    /// A header whose checksum holds, and its used entries (at most [`MAX_PARTITION_ENTRIES`]).
    Valid(Vec<GptPartition>),
    /// The signature is there but the header or its entries cannot be trusted; says why.
    Damaged(&'static str),
}

/// Reads the primary GPT of a disk of `disk_bytes` bytes with `sector_bytes`-byte sectors.
///
/// Never panics and never reads more than [`MAX_PARTITION_ENTRIES`] × 4096 bytes of entries,
/// whatever the bytes say. An I/O error is returned as such; a malformed table is
/// [`GptProbe::Damaged`].
pub fn probe_gpt<R: Read + Seek>(disk: &mut R, disk_bytes: u64, sector_bytes: u64) -> io::Result<GptProbe> {
    if !(512..=65536).contains(&sector_bytes) {
        return Ok(GptProbe::Damaged("unusual sector size"));
    }
    let header_end = sector_bytes.saturating_add(HEADER_READ_BYTES as u64);
    if disk_bytes < header_end {
        return Ok(GptProbe::Absent);
    }
    let mut header = [0u8; HEADER_READ_BYTES];
    disk.seek(SeekFrom::Start(sector_bytes))?;
    disk.read_exact(&mut header)?;
    if header.get(..8) != Some(SIGNATURE.as_slice()) {
        return Ok(GptProbe::Absent);
    }

    let header_size = le_u32(&header, 12);
    if !(HEADER_MIN_BYTES..=HEADER_READ_BYTES as u32).contains(&header_size) {
        return Ok(GptProbe::Damaged("header size out of range"));
    }
    let stored_header_crc = le_u32(&header, 16);
    let mut header_for_crc = header;
    header_for_crc[16..20].fill(0);
    // In range by the check above (92..=512).
    let header_crc = crc32fast::hash(header_for_crc.get(..header_size as usize).unwrap_or(&[]));
    if header_crc != stored_header_crc {
        return Ok(GptProbe::Damaged("header checksum does not match"));
    }

    let entries_lba = le_u64(&header, 72);
    let entry_count = le_u32(&header, 80);
    let entry_bytes = le_u32(&header, 84);
    let stored_entries_crc = le_u32(&header, 88);
    if !(ENTRY_MIN_BYTES..=ENTRY_MAX_BYTES).contains(&entry_bytes) || !entry_bytes.is_multiple_of(8) {
        return Ok(GptProbe::Damaged("partition entry size out of range"));
    }
    if entries_lba < 2 {
        return Ok(GptProbe::Damaged("partition entries overlap the header"));
    }
    let listed_count = entry_count.min(MAX_PARTITION_ENTRIES);
    // Both factors are bounded (≤ 128 and ≤ 4096), so this cannot overflow.
    let array_bytes = u64::from(listed_count) * u64::from(entry_bytes);
    let Some(array_start) = entries_lba.checked_mul(sector_bytes) else {
        return Ok(GptProbe::Damaged("partition entries lie beyond the end of the disk"));
    };
    if array_start.checked_add(array_bytes).is_none_or(|end| end > disk_bytes) {
        return Ok(GptProbe::Damaged("partition entries lie beyond the end of the disk"));
    }

    let mut entries = vec![0u8; array_bytes as usize];
    disk.seek(SeekFrom::Start(array_start))?;
    disk.read_exact(&mut entries)?;
    // The checksum covers the whole array; when the header lists more entries than are read,
    // it cannot be checked without reading them all, so it is checked only when all were read.
    if listed_count == entry_count && crc32fast::hash(&entries) != stored_entries_crc {
        return Ok(GptProbe::Damaged("partition entries checksum does not match"));
    }

    let partitions = entries
        .chunks_exact(entry_bytes as usize)
        .filter(|entry| entry.get(..16).is_some_and(|type_guid| type_guid.iter().any(|&b| b != 0)))
        .map(|entry| {
            let first_lba = le_u64(entry, 32);
            let last_lba = le_u64(entry, 40);
            let size_bytes = last_lba
                .checked_sub(first_lba)
                .and_then(|span| span.checked_add(1))
                .and_then(|sectors| sectors.checked_mul(sector_bytes));
            GptPartition {
                name: decode_name(entry.get(NAME_OFFSET..NAME_OFFSET + NAME_BYTES).unwrap_or(&[])),
                size_bytes,
            }
        })
        .collect();
    Ok(GptProbe::Valid(partitions))
}

/// Whether the first sector is a protective MBR: the boot signature and a partition record of
/// type 0xEE (GPT protective), as every GPT disk, and `qpctl image build`'s images, carry.
pub fn has_protective_mbr<R: Read + Seek>(disk: &mut R, disk_bytes: u64) -> io::Result<bool> {
    if disk_bytes < MBR_BYTES as u64 {
        return Ok(false);
    }
    let mut mbr = [0u8; MBR_BYTES];
    disk.seek(SeekFrom::Start(0))?;
    disk.read_exact(&mut mbr)?;
    let signed = mbr[510] == 0x55 && mbr[511] == 0xAA;
    let protective = (0..4).any(|record| mbr[446 + 16 * record + 4] == GPT_PROTECTIVE_TYPE);
    Ok(signed && protective)
}

/// What is on a target now, as shown before it is overwritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExistingContents {
    /// The target does not exist yet; it will be created.
    NewFile,
    /// The target exists and is zero bytes long.
    Empty,
    /// A GPT with these used partitions.
    Gpt(Vec<GptPartition>),
    /// A GPT signature whose header or entries cannot be trusted.
    DamagedGpt(&'static str),
    /// No GPT, and the first `checked_bytes` bytes are all zeros.
    Zeros { checked_bytes: u64 },
    /// Something else: another partition table, a file system, any data.
    UnknownData,
}

impl std::fmt::Display for ExistingContents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NewFile => f.write_str("a new file"),
            Self::Empty => f.write_str("an empty file"),
            Self::Gpt(partitions) if partitions.is_empty() => f.write_str("a GPT with no partitions"),
            Self::Gpt(partitions) => {
                write!(f, "a GPT with {} partition(s): ", partitions.len())?;
                for (index, partition) in partitions.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    let name = if partition.name.is_empty() { "(unnamed)" } else { partition.name.as_str() };
                    match partition.size_bytes {
                        Some(bytes) => write!(f, "\"{name}\" ({})", human_bytes(bytes))?,
                        None => write!(f, "\"{name}\"")?,
                    }
                }
                Ok(())
            }
            Self::DamagedGpt(reason) => write!(f, "a damaged GPT ({reason})"),
            Self::Zeros { checked_bytes } => write!(f, "empty (zeros in the first {})", human_bytes(*checked_bytes)),
            Self::UnknownData => f.write_str("unknown data (no GPT)"),
        }
    }
}

/// Says what a disk of `disk_bytes` bytes holds: its GPT's partitions, zeros, or unknown data.
/// Reads at most the header, 512 KiB of entries and the first MiB.
pub fn identify_contents<R: Read + Seek>(
    disk: &mut R,
    disk_bytes: u64,
    sector_bytes: u64,
) -> io::Result<ExistingContents> {
    if disk_bytes == 0 {
        return Ok(ExistingContents::Empty);
    }
    match probe_gpt(disk, disk_bytes, sector_bytes)? {
        GptProbe::Valid(partitions) => return Ok(ExistingContents::Gpt(partitions)),
        GptProbe::Damaged(reason) => return Ok(ExistingContents::DamagedGpt(reason)),
        GptProbe::Absent => {}
    }
    let checked_bytes = disk_bytes.min(ZERO_CHECK_BYTES);
    let mut prefix = vec![0u8; checked_bytes as usize];
    disk.seek(SeekFrom::Start(0))?;
    disk.read_exact(&mut prefix)?;
    if prefix.iter().all(|&b| b == 0) {
        Ok(ExistingContents::Zeros { checked_bytes })
    } else {
        Ok(ExistingContents::UnknownData)
    }
}

/// Sizes for people: "64.0 MiB (67108864 bytes)" style, binary units.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}

fn decode_name(raw: &[u8]) -> String {
    let units = raw.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).take_while(|&unit| unit != 0);
    char::decode_utf16(units)
        .map(|decoded| decoded.unwrap_or(char::REPLACEMENT_CHARACTER))
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Little-endian field readers; a field outside `bytes` reads as 0 (callers bound their buffers
/// so that never happens, but a hostile length must not become a panic).
fn le_u32(bytes: &[u8], at: usize) -> u32 {
    bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_decoded_until_nul_and_control_characters_replaced() {
        let mut raw = [0u8; NAME_BYTES];
        for (i, unit) in "a\u{1b}[2Jé".encode_utf16().enumerate() {
            raw[2 * i..2 * i + 2].copy_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode_name(&raw), "a?[2Jé");
    }

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
    }
}
