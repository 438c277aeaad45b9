//! Pure encoding and decoding of the device-mapper ioctl interface (`linux/dm-ioctl.h`, interface 4.x).
//!
//! A request is one buffer: `struct dm_ioctl` (312 bytes), then for a table load one `struct dm_target_spec`
//! (40 bytes) per target, each followed by its NUL-terminated parameter string padded to 8 bytes. The kernel
//! writes its answer back into the same buffer. Fields are in native byte order (the kernel's).

use thiserror::Error;

/// `sizeof(struct dm_ioctl)`.
pub const DM_IOCTL_SIZE: usize = 312;
/// `sizeof(struct dm_target_spec)`.
pub const DM_TARGET_SPEC_SIZE: usize = 40;
/// `DM_NAME_LEN`: the device name, NUL included.
pub const DM_NAME_LEN: usize = 128;
/// `DM_UUID_LEN`: the device uuid, NUL included.
pub const DM_UUID_LEN: usize = 129;
/// `DM_MAX_TYPE_NAME`: the target type, NUL included.
pub const DM_MAX_TYPE_NAME: usize = 16;
/// The interface version this encoder speaks (`DM_VERSION_MAJOR.0.0`: any 4.x kernel accepts it).
pub const DM_INTERFACE_VERSION: [u32; 3] = [4, 0, 0];

/// Byte offsets of `struct dm_ioctl`'s fields.
pub mod offset {
    /// `__u32 version[3]`
    pub const VERSION: usize = 0;
    /// `__u32 data_size`
    pub const DATA_SIZE: usize = 12;
    /// `__u32 data_start`
    pub const DATA_START: usize = 16;
    /// `__u32 target_count`
    pub const TARGET_COUNT: usize = 20;
    /// `__s32 open_count`
    pub const OPEN_COUNT: usize = 24;
    /// `__u32 flags`
    pub const FLAGS: usize = 28;
    /// `__u32 event_nr`
    pub const EVENT_NR: usize = 32;
    /// `__u32 padding`
    pub const PADDING: usize = 36;
    /// `__u64 dev`
    pub const DEV: usize = 40;
    /// `char name[DM_NAME_LEN]`
    pub const NAME: usize = 48;
    /// `char uuid[DM_UUID_LEN]`
    pub const UUID: usize = 176;
    /// `char data[7]`
    pub const DATA: usize = 305;
    /// `struct dm_target_spec`: `__u64 sector_start`
    pub const SPEC_SECTOR_START: usize = 0;
    /// `struct dm_target_spec`: `__u64 length`
    pub const SPEC_LENGTH: usize = 8;
    /// `struct dm_target_spec`: `__s32 status`
    pub const SPEC_STATUS: usize = 16;
    /// `struct dm_target_spec`: `__u32 next`
    pub const SPEC_NEXT: usize = 20;
    /// `struct dm_target_spec`: `char target_type[DM_MAX_TYPE_NAME]`
    pub const SPEC_TARGET_TYPE: usize = 24;
}

/// `struct dm_ioctl` flags.
pub mod flags {
    /// `DM_READONLY_FLAG`: the table (on load) or device is read-only.
    pub const READONLY: u32 = 1 << 0;
    /// `DM_SUSPEND_FLAG`: with `DM_DEV_SUSPEND`, suspend; without it, resume.
    pub const SUSPEND: u32 = 1 << 1;
    /// `DM_STATUS_TABLE_FLAG`: `DM_TABLE_STATUS` returns the table instead of the status.
    pub const STATUS_TABLE: u32 = 1 << 4;
    /// `DM_ACTIVE_PRESENT_FLAG` (out): the device has a live table.
    pub const ACTIVE_PRESENT: u32 = 1 << 5;
    /// `DM_INACTIVE_PRESENT_FLAG` (out): the device has a loaded, not yet live table.
    pub const INACTIVE_PRESENT: u32 = 1 << 6;
    /// `DM_BUFFER_FULL_FLAG` (out): the answer did not fit; retry with a larger buffer.
    pub const BUFFER_FULL: u32 = 1 << 8;
}

/// The device-mapper commands this crate issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmCommand {
    /// `DM_VERSION`: the kernel's interface version.
    Version,
    /// `DM_DEV_CREATE`: a new, empty mapped device.
    DevCreate,
    /// `DM_DEV_REMOVE`: remove a mapped device.
    DevRemove,
    /// `DM_DEV_SUSPEND`: suspend (with [`flags::SUSPEND`]) or resume (making a loaded table live).
    DevSuspend,
    /// `DM_TABLE_LOAD`: load a table into the inactive slot.
    TableLoad,
    /// `DM_TABLE_STATUS`: each target's status line.
    TableStatus,
}

impl DmCommand {
    /// The command number (`DM_*_CMD` in `dm-ioctl.h`).
    #[must_use]
    pub const fn number(self) -> u8 {
        match self {
            Self::Version => 0,
            Self::DevCreate => 3,
            Self::DevRemove => 4,
            Self::DevSuspend => 6,
            Self::TableLoad => 9,
            Self::TableStatus => 12,
        }
    }

    /// The ioctl request: `_IOWR(DM_IOCTL = 0xfd, nr, struct dm_ioctl)`.
    #[must_use]
    pub const fn request(self) -> u32 {
        const IOC_READ_WRITE: u32 = 3;
        (IOC_READ_WRITE << 30) | ((DM_IOCTL_SIZE as u32) << 16) | (0xfd << 8) | self.number() as u32
    }

    /// The C name, for error messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Version => "DM_VERSION",
            Self::DevCreate => "DM_DEV_CREATE",
            Self::DevRemove => "DM_DEV_REMOVE",
            Self::DevSuspend => "DM_DEV_SUSPEND",
            Self::TableLoad => "DM_TABLE_LOAD",
            Self::TableStatus => "DM_TABLE_STATUS",
        }
    }
}

/// One line of a table: `sector_start length target_type params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmTarget<'a> {
    /// First sector (512 bytes) of the mapped device this target covers.
    pub sector_start: u64,
    /// Number of sectors.
    pub length: u64,
    /// Target type, e.g. `verity`.
    pub target_type: &'a str,
    /// The target's parameter string.
    pub params: &'a str,
}

/// A request that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DmEncodeError {
    /// The device name does not fit `name[128]` with its NUL, or contains `/` or NUL (the kernel refuses both).
    #[error("device-mapper name {name:?} is invalid: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A target type does not fit `target_type[16]` with its NUL, or contains NUL.
    #[error("device-mapper target type {target_type:?} is invalid (at most 15 bytes, no NUL)")]
    InvalidTargetType {
        /// The type given.
        target_type: String,
    },
    /// A parameter string contains NUL (the kernel reads it as a C string).
    #[error("device-mapper parameters for target {index} contain a NUL byte")]
    ParamsContainNul {
        /// The target's index in the table.
        index: usize,
    },
    /// The request would exceed the `u32` sizes of the interface.
    #[error("device-mapper request of {size} bytes is too large")]
    TooLarge {
        /// The size it would have.
        size: usize,
    },
}

/// A kernel answer that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DmDecodeError {
    /// Shorter than the header, or a field points outside the buffer.
    #[error("device-mapper answer is truncated: {what} needs {needed} bytes, buffer has {len}")]
    Truncated {
        /// The field or structure.
        what: &'static str,
        /// The bytes it needs.
        needed: usize,
        /// The bytes there are.
        len: usize,
    },
    /// A string has no terminating NUL within the buffer.
    #[error("device-mapper answer: {what} is not NUL-terminated")]
    Unterminated {
        /// The field.
        what: &'static str,
    },
    /// The kernel set [`flags::BUFFER_FULL`].
    #[error("device-mapper answer did not fit the buffer")]
    BufferFull,
}

/// `struct dm_ioctl` as the kernel left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmHeader {
    /// The kernel's interface version.
    pub version: [u32; 3],
    /// Bytes used (or, with [`flags::BUFFER_FULL`], needed).
    pub data_size: u32,
    /// Offset of the payload.
    pub data_start: u32,
    /// Targets in the payload.
    pub target_count: u32,
    /// Openers of the device.
    pub open_count: i32,
    /// `DM_*_FLAG` bits.
    pub flags: u32,
    /// Event counter.
    pub event_nr: u32,
    /// The device number, `huge_encode_dev` encoded.
    pub dev: u64,
    /// The device name.
    pub name: String,
}

impl DmHeader {
    /// Major number of [`Self::dev`].
    #[must_use]
    pub const fn dev_major(&self) -> u32 {
        ((self.dev & 0xf_ff00) >> 8) as u32
    }

    /// Minor number of [`Self::dev`]: for a mapped device, the `N` of `/dev/dm-N`.
    #[must_use]
    pub const fn dev_minor(&self) -> u32 {
        ((self.dev & 0xff) | ((self.dev >> 12) & 0xfff_ff00)) as u32
    }
}

/// One target's line in a `DM_TABLE_STATUS` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmTargetStatus {
    /// First sector.
    pub sector_start: u64,
    /// Sectors.
    pub length: u64,
    /// Target type.
    pub target_type: String,
    /// Status (or, with [`flags::STATUS_TABLE`], table) line.
    pub status: String,
}

const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    if let Some(dst) = buf.get_mut(at..at + 4) {
        dst.copy_from_slice(&v.to_ne_bytes());
    }
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    if let Some(dst) = buf.get_mut(at..at + 8) {
        dst.copy_from_slice(&v.to_ne_bytes());
    }
}

fn get_u32(buf: &[u8], at: usize) -> Option<u32> {
    buf.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_ne_bytes)
}

fn get_u64(buf: &[u8], at: usize) -> Option<u64> {
    buf.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_ne_bytes)
}

/// The C string at the start of `bytes` (up to its NUL), lossily as UTF-8.
fn c_str(bytes: &[u8], what: &'static str) -> Result<String, DmDecodeError> {
    let end = bytes.iter().position(|&b| b == 0).ok_or(DmDecodeError::Unterminated { what })?;
    Ok(String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned())
}

/// Checks a device name the way the kernel will (`check_name`): under 128 bytes, no `/`, no NUL.
pub fn validate_name(name: &str) -> Result<(), DmEncodeError> {
    let invalid = |reason| Err(DmEncodeError::InvalidName { name: name.to_owned(), reason });
    if name.len() >= DM_NAME_LEN {
        return invalid("longer than 127 bytes");
    }
    if name.contains('/') {
        return invalid("contains '/'");
    }
    if name.contains('\0') {
        return invalid("contains NUL");
    }
    Ok(())
}

/// Encodes a request: header with `name` and `flags`, then `targets` (for `DM_TABLE_LOAD`), then `out_room`
/// zero bytes the kernel may write its answer into (`data_size` covers them).
pub fn encode(name: &str, flags: u32, targets: &[DmTarget<'_>], out_room: usize) -> Result<Vec<u8>, DmEncodeError> {
    validate_name(name)?;
    let mut size = DM_IOCTL_SIZE;
    for (index, t) in targets.iter().enumerate() {
        if t.target_type.len() >= DM_MAX_TYPE_NAME || t.target_type.contains('\0') {
            return Err(DmEncodeError::InvalidTargetType { target_type: t.target_type.to_owned() });
        }
        if t.params.contains('\0') {
            return Err(DmEncodeError::ParamsContainNul { index });
        }
        size = size.saturating_add(align8(DM_TARGET_SPEC_SIZE.saturating_add(t.params.len()).saturating_add(1)));
    }
    let total = size.saturating_add(out_room);
    let (Ok(total32), Ok(count)) = (u32::try_from(total), u32::try_from(targets.len())) else {
        return Err(DmEncodeError::TooLarge { size: total });
    };
    if total == usize::MAX {
        return Err(DmEncodeError::TooLarge { size: total });
    }
    let mut buf = vec![0u8; total];
    for (i, v) in DM_INTERFACE_VERSION.iter().enumerate() {
        put_u32(&mut buf, offset::VERSION + 4 * i, *v);
    }
    put_u32(&mut buf, offset::DATA_SIZE, total32);
    put_u32(&mut buf, offset::DATA_START, DM_IOCTL_SIZE as u32);
    put_u32(&mut buf, offset::TARGET_COUNT, count);
    put_u32(&mut buf, offset::FLAGS, flags);
    if let Some(dst) = buf.get_mut(offset::NAME..offset::NAME + name.len()) {
        dst.copy_from_slice(name.as_bytes());
    }
    let mut at = DM_IOCTL_SIZE;
    for t in targets {
        let spec_len = align8(DM_TARGET_SPEC_SIZE + t.params.len() + 1);
        put_u64(&mut buf, at + offset::SPEC_SECTOR_START, t.sector_start);
        put_u64(&mut buf, at + offset::SPEC_LENGTH, t.length);
        // On input, `next` is the distance from this spec to the next one.
        put_u32(&mut buf, at + offset::SPEC_NEXT, spec_len as u32);
        let ty = at + offset::SPEC_TARGET_TYPE;
        if let Some(dst) = buf.get_mut(ty..ty + t.target_type.len()) {
            dst.copy_from_slice(t.target_type.as_bytes());
        }
        let p = at + DM_TARGET_SPEC_SIZE;
        if let Some(dst) = buf.get_mut(p..p + t.params.len()) {
            dst.copy_from_slice(t.params.as_bytes());
        }
        at += spec_len;
    }
    Ok(buf)
}

/// Decodes the header the kernel wrote back.
pub fn decode_header(buf: &[u8]) -> Result<DmHeader, DmDecodeError> {
    if buf.len() < DM_IOCTL_SIZE {
        return Err(DmDecodeError::Truncated { what: "struct dm_ioctl", needed: DM_IOCTL_SIZE, len: buf.len() });
    }
    let u32_at = |at| get_u32(buf, at).unwrap_or_default();
    Ok(DmHeader {
        version: [u32_at(offset::VERSION), u32_at(offset::VERSION + 4), u32_at(offset::VERSION + 8)],
        data_size: u32_at(offset::DATA_SIZE),
        data_start: u32_at(offset::DATA_START),
        target_count: u32_at(offset::TARGET_COUNT),
        open_count: u32_at(offset::OPEN_COUNT) as i32,
        flags: u32_at(offset::FLAGS),
        event_nr: u32_at(offset::EVENT_NR),
        dev: get_u64(buf, offset::DEV).unwrap_or_default(),
        name: c_str(buf.get(offset::NAME..offset::UUID).unwrap_or_default(), "name")?,
    })
}

/// Decodes a `DM_TABLE_STATUS` answer: `target_count` specs from `data_start`, where on output each spec's
/// `next` is the offset of the following spec from `data_start`. Total on any bytes.
pub fn decode_status(buf: &[u8]) -> Result<Vec<DmTargetStatus>, DmDecodeError> {
    let header = decode_header(buf)?;
    if header.flags & flags::BUFFER_FULL != 0 {
        return Err(DmDecodeError::BufferFull);
    }
    let end = (header.data_size as usize).min(buf.len());
    let start = header.data_start as usize;
    let area = buf.get(start..end).ok_or(DmDecodeError::Truncated { what: "payload", needed: start, len: end })?;
    let mut out = Vec::new();
    let mut at = 0usize;
    for _ in 0..header.target_count.min(1024) {
        let spec = area.get(at..at.saturating_add(DM_TARGET_SPEC_SIZE)).ok_or(DmDecodeError::Truncated {
            what: "struct dm_target_spec",
            needed: start.saturating_add(at).saturating_add(DM_TARGET_SPEC_SIZE),
            len: end,
        })?;
        let target_type = c_str(spec.get(offset::SPEC_TARGET_TYPE..).unwrap_or_default(), "target_type")?;
        let status = c_str(area.get(at + DM_TARGET_SPEC_SIZE..).unwrap_or_default(), "target status")?;
        out.push(DmTargetStatus {
            sector_start: get_u64(spec, offset::SPEC_SECTOR_START).unwrap_or_default(),
            length: get_u64(spec, offset::SPEC_LENGTH).unwrap_or_default(),
            target_type,
            status,
        });
        let next = get_u32(spec, offset::SPEC_NEXT).unwrap_or_default() as usize;
        if next <= at {
            break;
        }
        at = next;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod tests {
    use super::*;

    #[test]
    fn request_numbers_match_the_header() {
        // _IOWR(0xfd, nr, struct dm_ioctl): dir 3 << 30 | 312 << 16 | 0xfd << 8 | nr.
        assert_eq!(DmCommand::Version.request(), 0xc138_fd00);
        assert_eq!(DmCommand::DevCreate.request(), 0xc138_fd03);
        assert_eq!(DmCommand::DevRemove.request(), 0xc138_fd04);
        assert_eq!(DmCommand::DevSuspend.request(), 0xc138_fd06);
        assert_eq!(DmCommand::TableLoad.request(), 0xc138_fd09);
        assert_eq!(DmCommand::TableStatus.request(), 0xc138_fd0c);
    }

    #[test]
    fn struct_layout_matches_dm_ioctl_h() {
        assert_eq!(offset::NAME + DM_NAME_LEN, offset::UUID);
        assert_eq!(offset::UUID + DM_UUID_LEN, offset::DATA);
        assert_eq!(offset::DATA + 7, DM_IOCTL_SIZE);
        assert_eq!(offset::DEV % 8, 0);
        assert_eq!(offset::SPEC_TARGET_TYPE + DM_MAX_TYPE_NAME, DM_TARGET_SPEC_SIZE);
    }

    #[test]
    fn header_only_request() {
        let buf = encode("qp-root", flags::READONLY, &[], 0).unwrap();
        assert_eq!(buf.len(), DM_IOCTL_SIZE);
        assert_eq!(&buf[0..12], &[4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(get_u32(&buf, offset::DATA_SIZE), Some(312));
        assert_eq!(get_u32(&buf, offset::DATA_START), Some(312));
        assert_eq!(get_u32(&buf, offset::TARGET_COUNT), Some(0));
        assert_eq!(get_u32(&buf, offset::FLAGS), Some(1));
        assert_eq!(&buf[48..55], b"qp-root");
        assert!(buf[55..312].iter().all(|&b| b == 0));
    }

    #[test]
    fn table_load_request_places_spec_and_params() {
        let params = "1 254:2 254:3 4096 4096 10 0 sha256 ab -";
        let t = DmTarget { sector_start: 0, length: 80, target_type: "verity", params };
        let buf = encode("root", flags::READONLY, &[t], 0).unwrap();
        let spec_len = align8(40 + params.len() + 1);
        assert_eq!(buf.len(), 312 + spec_len);
        assert_eq!(get_u32(&buf, offset::DATA_SIZE), Some((312 + spec_len) as u32));
        assert_eq!(get_u32(&buf, offset::TARGET_COUNT), Some(1));
        assert_eq!(get_u64(&buf, 312), Some(0));
        assert_eq!(get_u64(&buf, 312 + 8), Some(80));
        assert_eq!(get_u32(&buf, 312 + 16), Some(0));
        assert_eq!(get_u32(&buf, 312 + 20), Some(spec_len as u32));
        assert_eq!(&buf[312 + 24..312 + 30], b"verity");
        assert!(buf[312 + 30..312 + 40].iter().all(|&b| b == 0));
        assert_eq!(&buf[352..352 + params.len()], params.as_bytes());
        assert_eq!(buf[352 + params.len()], 0, "NUL-terminated");
        assert_eq!(buf.len() % 8, 0);
    }

    #[test]
    fn out_room_is_counted_in_data_size() {
        let buf = encode("x", 0, &[], 4096).unwrap();
        assert_eq!(buf.len(), 312 + 4096);
        assert_eq!(get_u32(&buf, offset::DATA_SIZE), Some(312 + 4096));
    }

    #[test]
    fn names_the_kernel_refuses_are_refused() {
        assert!(encode(&"a".repeat(127), 0, &[], 0).is_ok());
        assert!(matches!(encode(&"a".repeat(128), 0, &[], 0), Err(DmEncodeError::InvalidName { .. })));
        assert!(matches!(encode("a/b", 0, &[], 0), Err(DmEncodeError::InvalidName { .. })));
        let t = DmTarget { sector_start: 0, length: 1, target_type: "a-very-long-type", params: "" };
        assert!(matches!(encode("a", 0, &[t], 0), Err(DmEncodeError::InvalidTargetType { .. })));
        let t = DmTarget { sector_start: 0, length: 1, target_type: "linear", params: "a\0b" };
        assert_eq!(encode("a", 0, &[t], 0), Err(DmEncodeError::ParamsContainNul { index: 0 }));
    }

    #[test]
    fn header_decodes_dev_number() {
        let mut buf = encode("root", 0, &[], 0).unwrap();
        // huge_encode_dev(MKDEV(254, 0x123)): minor low byte | major << 8 | (minor & ~0xff) << 12
        let dev: u64 = 0x23 | (254 << 8) | (0x100 << 12);
        put_u64(&mut buf, offset::DEV, dev);
        put_u32(&mut buf, offset::OPEN_COUNT, (-1i32) as u32);
        let h = decode_header(&buf).unwrap();
        assert_eq!((h.dev_major(), h.dev_minor()), (254, 0x123));
        assert_eq!(h.name, "root");
        assert_eq!(h.open_count, -1);
        assert!(matches!(decode_header(&buf[..311]), Err(DmDecodeError::Truncated { .. })));
    }

    #[test]
    fn status_answer_decodes() {
        let mut buf = encode("root", 0, &[], 256).unwrap();
        put_u32(&mut buf, offset::TARGET_COUNT, 1);
        put_u64(&mut buf, 312, 0);
        put_u64(&mut buf, 320, 80);
        buf[312 + 24..312 + 30].copy_from_slice(b"verity");
        buf[352] = b'V';
        put_u32(&mut buf, 312 + 20, 48);
        let s = decode_status(&buf).unwrap();
        assert_eq!(
            s,
            vec![DmTargetStatus { sector_start: 0, length: 80, target_type: "verity".into(), status: "V".into() }]
        );
        put_u32(&mut buf, offset::FLAGS, flags::BUFFER_FULL);
        assert_eq!(decode_status(&buf), Err(DmDecodeError::BufferFull));
    }

    #[test]
    fn status_decoder_is_total() {
        let mut buf = encode("root", 0, &[], 0).unwrap();
        put_u32(&mut buf, offset::TARGET_COUNT, 5);
        put_u32(&mut buf, offset::DATA_START, 10_000);
        assert!(decode_status(&buf).is_err());
        put_u32(&mut buf, offset::DATA_START, 312);
        put_u32(&mut buf, offset::DATA_SIZE, u32::MAX);
        assert!(decode_status(&buf).is_err());
        for len in 0..buf.len() {
            let _ = decode_status(&buf[..len]);
        }
    }
}
