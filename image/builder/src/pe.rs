//! Just enough of the PE/COFF format for a unified kernel image: the section table (where to put
//! the sections `objcopy` adds, and to read them back), and the header's time stamp and checksum
//! (`objcopy` writes the current time there; the image wants a fixed one).

/// Why a file is not a PE32+ image we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PE image: {0}")]
pub struct PeError(pub String);

/// One section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub virtual_size: u32,
    pub virtual_address: u32,
    pub raw_size: u32,
    pub raw_offset: u32,
}

/// What the builder needs from the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeImage {
    /// Offset of the COFF file header (after `PE\0\0`).
    coff_offset: usize,
    /// Offset of the optional header.
    optional_offset: usize,
    pub image_base: u64,
    pub section_alignment: u32,
    pub time_date_stamp: u32,
    pub checksum: u32,
    pub sections: Vec<Section>,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, PeError> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]])).ok_or_else(|| PeError("truncated".into()))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, PeError> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok_or_else(|| PeError("truncated".into()))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, PeError> {
    Ok(u64::from(u32_at(b, at)?) | (u64::from(u32_at(b, at + 4)?) << 32))
}

impl PeImage {
    /// Parse the headers of a PE32+ image.
    pub fn parse(bytes: &[u8]) -> Result<Self, PeError> {
        if bytes.get(0..2) != Some(b"MZ") {
            return Err(PeError("no MZ signature".into()));
        }
        let pe_offset = u32_at(bytes, 0x3c)? as usize;
        if bytes.get(pe_offset..pe_offset + 4) != Some(b"PE\0\0") {
            return Err(PeError("no PE signature".into()));
        }
        let coff_offset = pe_offset + 4;
        let section_count = u16_at(bytes, coff_offset + 2)? as usize;
        let time_date_stamp = u32_at(bytes, coff_offset + 4)?;
        let optional_size = u16_at(bytes, coff_offset + 16)? as usize;
        let optional_offset = coff_offset + 20;
        if u16_at(bytes, optional_offset)? != 0x20b {
            return Err(PeError("not PE32+ (optional header magic 0x20b)".into()));
        }
        let image_base = u64_at(bytes, optional_offset + 24)?;
        let section_alignment = u32_at(bytes, optional_offset + 32)?;
        let checksum = u32_at(bytes, optional_offset + 64)?;
        if !section_alignment.is_power_of_two() {
            return Err(PeError(format!("section alignment {section_alignment:#x} is not a power of two")));
        }
        let table = optional_offset + optional_size;
        let mut sections = Vec::with_capacity(section_count);
        for i in 0..section_count {
            let at = table + i * 40;
            let raw_name = bytes.get(at..at + 8).ok_or_else(|| PeError("truncated section table".into()))?;
            let name = String::from_utf8_lossy(raw_name).trim_end_matches('\0').to_owned();
            sections.push(Section {
                name,
                virtual_size: u32_at(bytes, at + 8)?,
                virtual_address: u32_at(bytes, at + 12)?,
                raw_size: u32_at(bytes, at + 16)?,
                raw_offset: u32_at(bytes, at + 20)?,
            });
        }
        Ok(Self { coff_offset, optional_offset, image_base, section_alignment, time_date_stamp, checksum, sections })
    }

    /// The first relative virtual address after every section, aligned to `SectionAlignment`.
    #[must_use]
    pub fn next_free_rva(&self) -> u64 {
        let end = self.sections.iter().map(|s| u64::from(s.virtual_address) + u64::from(s.virtual_size)).max();
        end.unwrap_or(0).next_multiple_of(u64::from(self.section_alignment))
    }

    /// The section called `name`.
    #[must_use]
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// A section's contents (its virtual size, which is what `objcopy --add-section` put there).
    #[must_use]
    pub fn section_data<'a>(&self, bytes: &'a [u8], name: &str) -> Option<&'a [u8]> {
        let s = self.section(name)?;
        let len = s.virtual_size.min(s.raw_size) as usize;
        bytes.get(s.raw_offset as usize..s.raw_offset as usize + len)
    }
}

/// The PE checksum (as `IMAGEHLP`'s `CheckSumMappedFile` computes it): 16-bit one's-complement
/// style sum of the file with the checksum field skipped, plus the file's length.
#[must_use]
pub fn checksum(bytes: &[u8], checksum_offset: usize) -> u32 {
    let mut sum: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        if i == checksum_offset {
            i += 4;
            continue;
        }
        let lo = u64::from(bytes[i]);
        let hi = bytes.get(i + 1).map_or(0, |b| u64::from(*b));
        sum += lo | (hi << 8);
        sum = (sum & 0xffff) + (sum >> 16);
        i += 2;
    }
    sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32).wrapping_add(bytes.len() as u32)
}

/// Set the COFF time stamp to `stamp` and recompute the checksum (both in place). `objcopy`
/// writes the wall clock into the time stamp of the PE images it writes.
pub fn set_time_stamp(bytes: &mut [u8], stamp: u32) -> Result<(), PeError> {
    let image = PeImage::parse(bytes)?;
    bytes[image.coff_offset + 4..image.coff_offset + 8].copy_from_slice(&stamp.to_le_bytes());
    let at = image.optional_offset + 64;
    let sum = checksum(bytes, at);
    bytes[at..at + 4].copy_from_slice(&sum.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    /// A minimal PE32+ image: DOS header, PE header, optional header, two sections.
    fn tiny() -> Vec<u8> {
        let mut b = vec![0u8; 0x400];
        b[0..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        b[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes());
        b[coff + 2..coff + 4].copy_from_slice(&2u16.to_le_bytes());
        b[coff + 4..coff + 8].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        b[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
        let opt = coff + 20;
        b[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        b[opt + 32..opt + 36].copy_from_slice(&0x200u32.to_le_bytes());
        let table = opt + 240;
        for (i, (name, va, vs)) in [(".text", 0x1000u32, 0x10u32), (".data", 0x2000, 0x123)].iter().enumerate() {
            let at = table + i * 40;
            b[at..at + name.len()].copy_from_slice(name.as_bytes());
            b[at + 8..at + 12].copy_from_slice(&vs.to_le_bytes());
            b[at + 12..at + 16].copy_from_slice(&va.to_le_bytes());
            b[at + 16..at + 20].copy_from_slice(&0x200u32.to_le_bytes());
            b[at + 20..at + 24].copy_from_slice(&(0x200u32 * (i as u32 + 1)).to_le_bytes());
        }
        b
    }

    #[test]
    fn reads_sections_and_places_the_next() {
        let image = PeImage::parse(&tiny()).unwrap();
        assert_eq!(image.section_alignment, 0x200);
        assert_eq!(image.sections.len(), 2);
        assert_eq!(image.section(".data").unwrap().virtual_address, 0x2000);
        // 0x2000 + 0x123, rounded up to 0x200.
        assert_eq!(image.next_free_rva(), 0x2200);
        assert_eq!(image.time_date_stamp, 0x1234_5678);
    }

    #[test]
    fn time_stamp_is_reset_and_checksum_recomputed() {
        let mut bytes = tiny();
        set_time_stamp(&mut bytes, 0).unwrap();
        let image = PeImage::parse(&bytes).unwrap();
        assert_eq!(image.time_date_stamp, 0);
        assert_eq!(image.checksum, checksum(&bytes, image.optional_offset + 64));
        assert_ne!(image.checksum, 0);
    }

    /// Debian's systemd-boot stub carries a checksum computed by its linker: ours must agree.
    #[test]
    fn checksum_matches_the_linker_on_the_systemd_stub() {
        let path = format!("{}/linuxx64.efi.stub", crate::DEFAULT_SYSTEMD_BOOT_DIR);
        let stub = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}: apt-get install systemd-boot-efi (cargo xtask setup does)"));
        let image = PeImage::parse(&stub).unwrap();
        assert_eq!(checksum(&stub, image.optional_offset + 64), image.checksum);
        assert!(image.section(".sdmagic").is_some());
    }

    #[test]
    fn refuses_what_is_not_pe() {
        assert!(PeImage::parse(b"ELF").is_err());
        let mut b = tiny();
        b[0x80] = b'X';
        assert!(PeImage::parse(&b).is_err());
    }
}
