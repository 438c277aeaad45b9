//! A GUID partition table (UEFI 2.10, section 5.3), written and read back in Rust: protective MBR,
//! primary header and entries at the start, backup entries and header at the end, CRC32s.
//! 512-byte sectors, 128 entries of 128 bytes.

use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};

/// Bytes per logical block.
pub const SECTOR: u64 = 512;
/// Entries in the partition array.
pub const ENTRY_COUNT: u32 = 128;
/// Bytes per entry.
pub const ENTRY_SIZE: u32 = 128;
/// Sectors the entry array takes (16 KiB).
pub const ENTRY_SECTORS: u64 = (ENTRY_COUNT as u64 * ENTRY_SIZE as u64) / SECTOR;
/// The first LBA a partition may use: MBR, header, entries.
pub const FIRST_USABLE_LBA: u64 = 2 + ENTRY_SECTORS;
const SIGNATURE: &[u8; 8] = b"EFI PART";
const REVISION: u32 = 0x0001_0000;
const HEADER_SIZE: u32 = 92;
/// The longest partition name (UTF-16 code units).
pub const NAME_UNITS: usize = 36;

/// A GUID in its on-disk byte order (the first three fields little-endian).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// From the textual fields `d1-d2-d3-d4[0..2]-d4[2..8]`.
    #[must_use]
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Guid([a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5], d4[6], d4[7]])
    }

    /// A random-looking (version 4, RFC 4122 variant) GUID made from the first 16 bytes of `seed`
    /// (a SHA-256 digest): the same seed gives the same GUID.
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let d1 = u32::from_be_bytes([seed[0], seed[1], seed[2], seed[3]]);
        let d2 = u16::from_be_bytes([seed[4], seed[5]]);
        let d3 = (u16::from_be_bytes([seed[6], seed[7]]) & 0x0fff) | 0x4000;
        let mut d4 = [0u8; 8];
        d4.copy_from_slice(&seed[8..16]);
        d4[0] = (d4[0] & 0x3f) | 0x80;
        Self::from_fields(d1, d2, d3, d4)
    }

    /// Parse `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let hex: String = text.chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 || text.len() != 36 {
            return None;
        }
        let mut b = [0u8; 16];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        let d1 = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let d2 = u16::from_be_bytes([b[4], b[5]]);
        let d3 = u16::from_be_bytes([b[6], b[7]]);
        let mut d4 = [0u8; 8];
        d4.copy_from_slice(&b[8..]);
        Some(Self::from_fields(d1, d2, d3, d4))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]]),
            b[8],
            b[9],
            b[10],
            b[11],
            b[12],
            b[13],
            b[14],
            b[15]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

/// Partition type GUIDs.
pub mod types {
    use super::Guid;
    /// EFI System Partition, C12A7328-F81F-11D2-BA4B-00A0C93EC93B.
    pub const EFI_SYSTEM: Guid =
        Guid::from_fields(0xC12A_7328, 0xF81F, 0x11D2, [0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B]);
    /// Linux filesystem data, 0FC63DAF-8483-4772-8E79-3D69D8477DE4.
    pub const LINUX_FILESYSTEM: Guid =
        Guid::from_fields(0x0FC6_3DAF, 0x8483, 0x4772, [0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4]);
    /// Root verity partition for x86-64 (Discoverable Partitions Specification),
    /// 2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5.
    pub const ROOT_VERITY_X86_64: Guid =
        Guid::from_fields(0x2C73_57ED, 0xEBD2, 0x46D9, [0xAE, 0xC1, 0x23, 0xD4, 0x37, 0xEC, 0x2B, 0xF5]);
}

/// One partition: LBAs inclusive, as GPT stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The label (`PARTNAME=` in the guest's uevent), at most 36 UTF-16 units.
    pub name: String,
    pub type_guid: Guid,
    pub unique_guid: Guid,
    pub first_lba: u64,
    pub last_lba: u64,
    pub attributes: u64,
}

impl Partition {
    /// Byte offset of the partition in the disk.
    #[must_use]
    pub fn offset_bytes(&self) -> u64 {
        self.first_lba * SECTOR
    }

    /// Size in bytes.
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        (self.last_lba + 1 - self.first_lba) * SECTOR
    }
}

/// A whole table: the disk's size (in sectors), its GUID and its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    pub disk_guid: Guid,
    pub disk_sectors: u64,
    pub partitions: Vec<Partition>,
}

/// Why a table could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum GptError {
    #[error("GPT: {0}")]
    Invalid(String),
    #[error("GPT: {0}")]
    Io(#[from] std::io::Error),
}

impl Gpt {
    /// The last LBA a partition may use (before the backup entries).
    #[must_use]
    pub fn last_usable_lba(&self) -> u64 {
        self.disk_sectors - 2 - ENTRY_SECTORS
    }

    fn validate(&self) -> Result<(), GptError> {
        let invalid = |m: String| Err(GptError::Invalid(m));
        if self.disk_sectors < 2 * FIRST_USABLE_LBA + 1 {
            return invalid(format!("disk of {} sectors is too small", self.disk_sectors));
        }
        if self.partitions.len() > ENTRY_COUNT as usize {
            return invalid(format!("{} partitions, at most {ENTRY_COUNT}", self.partitions.len()));
        }
        let mut ranges: Vec<(u64, u64, &str)> = Vec::new();
        for p in &self.partitions {
            if p.name.encode_utf16().count() > NAME_UNITS {
                return invalid(format!("name {:?} is longer than {NAME_UNITS} UTF-16 units", p.name));
            }
            if p.first_lba < FIRST_USABLE_LBA || p.last_lba > self.last_usable_lba() || p.first_lba > p.last_lba {
                return invalid(format!(
                    "partition {:?} (LBA {}..={}) is outside the usable area",
                    p.name, p.first_lba, p.last_lba
                ));
            }
            if let Some((_, _, other)) = ranges.iter().find(|(a, b, _)| p.first_lba <= *b && *a <= p.last_lba) {
                return invalid(format!("partitions {other:?} and {:?} overlap", p.name));
            }
            ranges.push((p.first_lba, p.last_lba, &p.name));
        }
        Ok(())
    }

    /// The entry array (128 × 128 bytes).
    fn entries(&self) -> Vec<u8> {
        let mut out = vec![0u8; (ENTRY_COUNT * ENTRY_SIZE) as usize];
        for (i, p) in self.partitions.iter().enumerate() {
            let e = &mut out[i * ENTRY_SIZE as usize..(i + 1) * ENTRY_SIZE as usize];
            e[0..16].copy_from_slice(&p.type_guid.0);
            e[16..32].copy_from_slice(&p.unique_guid.0);
            e[32..40].copy_from_slice(&p.first_lba.to_le_bytes());
            e[40..48].copy_from_slice(&p.last_lba.to_le_bytes());
            e[48..56].copy_from_slice(&p.attributes.to_le_bytes());
            for (j, unit) in p.name.encode_utf16().enumerate() {
                e[56 + 2 * j..58 + 2 * j].copy_from_slice(&unit.to_le_bytes());
            }
        }
        out
    }

    fn header(&self, my_lba: u64, alternate_lba: u64, entries_lba: u64, entries_crc: u32) -> [u8; SECTOR as usize] {
        let mut h = [0u8; SECTOR as usize];
        h[0..8].copy_from_slice(SIGNATURE);
        h[8..12].copy_from_slice(&REVISION.to_le_bytes());
        h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        // 16..20: header CRC, 20..24 reserved.
        h[24..32].copy_from_slice(&my_lba.to_le_bytes());
        h[32..40].copy_from_slice(&alternate_lba.to_le_bytes());
        h[40..48].copy_from_slice(&FIRST_USABLE_LBA.to_le_bytes());
        h[48..56].copy_from_slice(&self.last_usable_lba().to_le_bytes());
        h[56..72].copy_from_slice(&self.disk_guid.0);
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&ENTRY_COUNT.to_le_bytes());
        h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..HEADER_SIZE as usize]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    }

    fn protective_mbr(&self) -> [u8; SECTOR as usize] {
        let mut mbr = [0u8; SECTOR as usize];
        let p = &mut mbr[446..462];
        p[0] = 0x00; // not bootable
        p[1..4].copy_from_slice(&[0x00, 0x02, 0x00]); // CHS of LBA 1
        p[4] = 0xEE; // GPT protective
        p[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
        p[8..12].copy_from_slice(&1u32.to_le_bytes());
        let size = u32::try_from(self.disk_sectors - 1).unwrap_or(u32::MAX);
        p[12..16].copy_from_slice(&size.to_le_bytes());
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        mbr
    }

    /// The first [`FIRST_USABLE_LBA`] sectors: protective MBR, primary header, entries.
    pub fn primary_bytes(&self) -> Result<Vec<u8>, GptError> {
        self.validate()?;
        let entries = self.entries();
        let crc = crc32fast::hash(&entries);
        let mut out = Vec::with_capacity((FIRST_USABLE_LBA * SECTOR) as usize);
        out.extend_from_slice(&self.protective_mbr());
        out.extend_from_slice(&self.header(1, self.disk_sectors - 1, 2, crc));
        out.extend_from_slice(&entries);
        Ok(out)
    }

    /// The last `ENTRY_SECTORS + 1` sectors: backup entries, then the backup header.
    pub fn backup_bytes(&self) -> Result<Vec<u8>, GptError> {
        self.validate()?;
        let entries = self.entries();
        let crc = crc32fast::hash(&entries);
        let last = self.disk_sectors - 1;
        let mut out = entries;
        out.extend_from_slice(&self.header(last, 1, last - ENTRY_SECTORS, crc));
        Ok(out)
    }

    /// Write both tables into `disk`, which must already be `disk_sectors` long.
    pub fn write_to<W: Write + Seek>(&self, disk: &mut W) -> Result<(), GptError> {
        let primary = self.primary_bytes()?;
        let backup = self.backup_bytes()?;
        disk.seek(SeekFrom::Start(0))?;
        disk.write_all(&primary)?;
        disk.seek(SeekFrom::Start((self.disk_sectors - 1 - ENTRY_SECTORS) * SECTOR))?;
        disk.write_all(&backup)?;
        Ok(())
    }

    /// Read and check a table: protective MBR, both headers' CRCs, both entry arrays' CRCs, and
    /// that the two copies agree.
    pub fn read_from<R: Read + Seek>(disk: &mut R) -> Result<Gpt, GptError> {
        let size = disk.seek(SeekFrom::End(0))?;
        if size % SECTOR != 0 || size < 2 * FIRST_USABLE_LBA * SECTOR {
            return Err(GptError::Invalid(format!(
                "disk of {size} bytes is not a whole number of sectors or too small"
            )));
        }
        let disk_sectors = size / SECTOR;
        let mut mbr = [0u8; SECTOR as usize];
        disk.seek(SeekFrom::Start(0))?;
        disk.read_exact(&mut mbr)?;
        if mbr[510..512] != [0x55, 0xAA] || mbr[446 + 4] != 0xEE {
            return Err(GptError::Invalid("no protective MBR".into()));
        }
        let primary = read_header(disk, 1)?;
        let backup = read_header(disk, disk_sectors - 1)?;
        if primary.alternate_lba != disk_sectors - 1 || backup.alternate_lba != 1 {
            return Err(GptError::Invalid("primary and backup headers do not point at each other".into()));
        }
        let entries = read_entries(disk, &primary)?;
        let backup_entries = read_entries(disk, &backup)?;
        if entries != backup_entries || primary.disk_guid != backup.disk_guid {
            return Err(GptError::Invalid("primary and backup tables differ".into()));
        }
        let mut partitions = Vec::new();
        for e in entries.chunks(ENTRY_SIZE as usize) {
            let type_guid = guid_at(e, 0);
            if type_guid == Guid::default() {
                continue;
            }
            let units: Vec<u16> =
                e[56..128].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|u| *u != 0).collect();
            partitions.push(Partition {
                name: String::from_utf16_lossy(&units),
                type_guid,
                unique_guid: guid_at(e, 16),
                first_lba: u64_at(e, 32),
                last_lba: u64_at(e, 40),
                attributes: u64_at(e, 48),
            });
        }
        let gpt = Gpt { disk_guid: primary.disk_guid, disk_sectors, partitions };
        gpt.validate()?;
        Ok(gpt)
    }

    /// The partition labelled `name`.
    #[must_use]
    pub fn partition(&self, name: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.name == name)
    }
}

struct Header {
    alternate_lba: u64,
    disk_guid: Guid,
    entries_lba: u64,
    entry_count: u32,
    entry_size: u32,
    entries_crc: u32,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn guid_at(b: &[u8], at: usize) -> Guid {
    let mut g = [0u8; 16];
    g.copy_from_slice(&b[at..at + 16]);
    Guid(g)
}

fn read_header<R: Read + Seek>(disk: &mut R, lba: u64) -> Result<Header, GptError> {
    let mut h = [0u8; SECTOR as usize];
    disk.seek(SeekFrom::Start(lba * SECTOR))?;
    disk.read_exact(&mut h)?;
    let bad = |m: &str| GptError::Invalid(format!("header at LBA {lba}: {m}"));
    if &h[0..8] != SIGNATURE {
        return Err(bad("no \"EFI PART\" signature"));
    }
    let size = u32_at(&h, 12) as usize;
    if !(HEADER_SIZE as usize..=SECTOR as usize).contains(&size) {
        return Err(bad("bad header size"));
    }
    let stated = u32_at(&h, 16);
    let mut copy = h;
    copy[16..20].fill(0);
    if crc32fast::hash(&copy[..size]) != stated {
        return Err(bad("header CRC32 mismatch"));
    }
    if u64_at(&h, 24) != lba {
        return Err(bad("MyLBA is not where it was found"));
    }
    let header = Header {
        alternate_lba: u64_at(&h, 32),
        disk_guid: guid_at(&h, 56),
        entries_lba: u64_at(&h, 72),
        entry_count: u32_at(&h, 80),
        entry_size: u32_at(&h, 84),
        entries_crc: u32_at(&h, 88),
    };
    if header.entry_count != ENTRY_COUNT || header.entry_size != ENTRY_SIZE {
        return Err(bad("only 128 entries of 128 bytes are supported"));
    }
    Ok(header)
}

fn read_entries<R: Read + Seek>(disk: &mut R, header: &Header) -> Result<Vec<u8>, GptError> {
    let mut entries = vec![0u8; (header.entry_count * header.entry_size) as usize];
    disk.seek(SeekFrom::Start(header.entries_lba * SECTOR))?;
    disk.read_exact(&mut entries)?;
    if crc32fast::hash(&entries) != header.entries_crc {
        return Err(GptError::Invalid(format!("entries at LBA {}: CRC32 mismatch", header.entries_lba)));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use std::io::Cursor;

    use super::*;

    fn sample() -> Gpt {
        let seed = |b: u8| Guid::from_seed(&[b; 32]);
        Gpt {
            disk_guid: seed(1),
            disk_sectors: 8 * 2048,
            partitions: vec![
                Partition {
                    name: "qp-esp".into(),
                    type_guid: types::EFI_SYSTEM,
                    unique_guid: seed(2),
                    first_lba: 2048,
                    last_lba: 4095,
                    attributes: 0,
                },
                Partition {
                    name: "qp-root-a".into(),
                    type_guid: types::LINUX_FILESYSTEM,
                    unique_guid: seed(3),
                    first_lba: 4096,
                    last_lba: 6143,
                    attributes: 0,
                },
            ],
        }
    }

    #[test]
    fn guid_text_round_trips() {
        assert_eq!(types::EFI_SYSTEM.to_string(), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        // On disk the first three fields are little-endian.
        assert_eq!(&types::EFI_SYSTEM.0[..4], &[0x28, 0x73, 0x2A, 0xC1]);
        let g = Guid::parse("0fc63daf-8483-4772-8e79-3d69d8477de4").unwrap();
        assert_eq!(g, types::LINUX_FILESYSTEM);
        let derived = Guid::from_seed(&[0xAB; 32]).to_string();
        assert_eq!(&derived[14..15], "4");
        assert!(matches!(&derived[19..20], "8" | "9" | "a" | "b"));
        assert!(Guid::parse("nope").is_none());
    }

    #[test]
    fn writes_and_reads_back_with_correct_crcs() {
        let gpt = sample();
        let mut disk = Cursor::new(vec![0u8; (gpt.disk_sectors * SECTOR) as usize]);
        gpt.write_to(&mut disk).unwrap();
        let back = Gpt::read_from(&mut disk).unwrap();
        assert_eq!(back, gpt);
        let bytes = disk.into_inner();
        // Header CRC over 92 bytes with the CRC field zeroed.
        let mut header = bytes[512..512 + 92].to_vec();
        let stated = u32::from_le_bytes(header[16..20].try_into().unwrap());
        header[16..20].fill(0);
        assert_eq!(crc32fast::hash(&header), stated);
        assert_eq!(&bytes[510..512], &[0x55, 0xAA]);
        // The backup header sits in the last sector.
        assert_eq!(&bytes[bytes.len() - 512..bytes.len() - 504], SIGNATURE);
    }

    #[test]
    fn a_flipped_byte_is_caught() {
        let gpt = sample();
        let mut disk = Cursor::new(vec![0u8; (gpt.disk_sectors * SECTOR) as usize]);
        gpt.write_to(&mut disk).unwrap();
        let mut bytes = disk.into_inner();
        bytes[1024 + 60] ^= 1; // inside the first entry's name
        assert!(Gpt::read_from(&mut Cursor::new(bytes)).is_err());
    }

    #[test]
    fn refuses_overlaps_and_long_names() {
        let mut gpt = sample();
        gpt.partitions[1].first_lba = 4000;
        assert!(gpt.primary_bytes().is_err());
        let mut gpt = sample();
        gpt.partitions[0].name = "x".repeat(37);
        assert!(gpt.primary_bytes().is_err());
        let mut gpt = sample();
        gpt.partitions[1].last_lba = gpt.disk_sectors - 1;
        assert!(gpt.primary_bytes().is_err());
    }
}
