//! The initramfs archive: SVR4 "newc" cpio (magic `070701`), the format the kernel unpacks.
//!
//! Written reproducibly: entries sorted by path (a parent sorts before its children), every missing
//! parent directory added (mode 0755), mtime 0, uid and gid 0, inode numbers 1, 2, … in that order,
//! no hard links. [`read`] parses an archive back (the image lister and the tests use it).

use std::collections::BTreeMap;

/// The newc magic.
const MAGIC: &[u8; 6] = b"070701";
/// Header length: the magic and 13 eight-digit hex fields.
const HEADER_LEN: usize = 110;
/// The last entry's name.
const TRAILER: &str = "TRAILER!!!";

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFLNK: u32 = 0o120_000;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// A directory.
    Dir,
    /// A character device node.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A symbolic link and its target.
    Symlink(String),
}

/// One archive member. `path` has no leading `/` (`dev/console`); `mode` holds the permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioEntry {
    /// Path inside the archive, without a leading `/`.
    pub path: String,
    /// Permission bits (`0o755`).
    pub mode: u32,
    /// What it is.
    pub kind: EntryKind,
}

/// Why an archive could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpioError {
    /// An empty path, one with `.`/`..`/empty components, or a NUL.
    #[error("cpio: bad path {0:?}")]
    BadPath(String),
    /// The same path added twice with different contents.
    #[error("cpio: {0} added twice")]
    Duplicate(String),
    /// A path needs a parent that is not a directory.
    #[error("cpio: {0}: parent is not a directory")]
    ParentNotDir(String),
    /// A file is larger than newc's 32-bit size field.
    #[error("cpio: {0} is larger than 4 GiB")]
    TooLarge(String),
    /// Parsing: the archive is malformed at this byte offset.
    #[error("cpio: malformed archive at byte {offset}: {problem}")]
    Malformed {
        /// Byte offset of the bad header.
        offset: usize,
        /// What is wrong.
        problem: &'static str,
    },
}

/// An archive being assembled; [`CpioArchive::to_bytes`] writes it.
#[derive(Debug, Clone, Default)]
pub struct CpioArchive {
    entries: BTreeMap<String, CpioEntry>,
}

impl CpioArchive {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A directory (`mode`: permission bits).
    pub fn add_dir(&mut self, path: &str, mode: u32) -> Result<(), CpioError> {
        self.insert(path, mode, EntryKind::Dir)
    }

    /// A regular file.
    pub fn add_file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> Result<(), CpioError> {
        if u32::try_from(data.len()).is_err() {
            return Err(CpioError::TooLarge(path.to_owned()));
        }
        self.insert(path, mode, EntryKind::File(data))
    }

    /// A character device node.
    pub fn add_char_device(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> Result<(), CpioError> {
        self.insert(path, mode, EntryKind::CharDevice { major, minor })
    }

    /// A symbolic link.
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<(), CpioError> {
        self.insert(path, 0o777, EntryKind::Symlink(target.to_owned()))
    }

    /// The entries as they will be written (sorted, parents included).
    #[must_use]
    pub fn entries(&self) -> Vec<&CpioEntry> {
        self.entries.values().collect()
    }

    fn insert(&mut self, path: &str, mode: u32, kind: EntryKind) -> Result<(), CpioError> {
        let path = normalize(path)?;
        // Parents first: each must be (or become) a directory.
        let mut parent = String::new();
        let components: Vec<&str> = path.split('/').collect();
        for component in &components[..components.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(component);
            match self.entries.get(&parent) {
                Some(CpioEntry { kind: EntryKind::Dir, .. }) => {}
                Some(_) => return Err(CpioError::ParentNotDir(path)),
                None => {
                    self.entries
                        .insert(parent.clone(), CpioEntry { path: parent.clone(), mode: 0o755, kind: EntryKind::Dir });
                }
            }
        }
        let entry = CpioEntry { path: path.clone(), mode: mode & 0o7777, kind };
        match self.entries.get(&path) {
            // An implicit parent made explicit (perhaps with another mode): the explicit one wins.
            Some(existing) if existing.kind == EntryKind::Dir && entry.kind == EntryKind::Dir => {
                self.entries.insert(path, entry);
                Ok(())
            }
            Some(existing) if *existing == entry => Ok(()),
            Some(_) => Err(CpioError::Duplicate(path)),
            None => {
                self.entries.insert(path, entry);
                Ok(())
            }
        }
    }

    /// The archive's bytes, trailer included.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (index, entry) in self.entries.values().enumerate() {
            let ino = index as u32 + 1;
            let (type_bits, data, nlink, rdev): (u32, &[u8], u32, (u32, u32)) = match &entry.kind {
                EntryKind::File(data) => (S_IFREG, data, 1, (0, 0)),
                EntryKind::Dir => (S_IFDIR, &[], 2, (0, 0)),
                EntryKind::CharDevice { major, minor } => (S_IFCHR, &[], 1, (*major, *minor)),
                EntryKind::Symlink(target) => (S_IFLNK, target.as_bytes(), 1, (0, 0)),
            };
            write_entry(&mut out, ino, type_bits | entry.mode, nlink, rdev, &entry.path, data);
        }
        write_entry(&mut out, 0, 0, 1, (0, 0), TRAILER, &[]);
        out
    }
}

fn normalize(path: &str) -> Result<String, CpioError> {
    let trimmed = path.trim_start_matches('/').trim_end_matches('/');
    let bad = trimmed.is_empty()
        || trimmed.contains('\0')
        || trimmed.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        || trimmed == TRAILER;
    if bad { Err(CpioError::BadPath(path.to_owned())) } else { Ok(trimmed.to_owned()) }
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn write_entry(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, rdev: (u32, u32), name: &str, data: &[u8]) {
    out.extend_from_slice(MAGIC);
    let name_size = name.len() as u32 + 1;
    // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name_size, 0];
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

/// Parse a newc archive (uncompressed) up to its trailer. Hard links are not joined: each entry
/// is returned as written.
pub fn read(bytes: &[u8]) -> Result<Vec<CpioEntry>, CpioError> {
    let mut entries = Vec::new();
    let mut offset = 0;
    loop {
        let malformed = |problem| CpioError::Malformed { offset, problem };
        let header = bytes.get(offset..offset + HEADER_LEN).ok_or(malformed("truncated header"))?;
        if &header[..6] != MAGIC {
            return Err(malformed("not a newc header (070701)"));
        }
        let mut fields = [0u32; 13];
        for (i, field) in fields.iter_mut().enumerate() {
            let text = std::str::from_utf8(&header[6 + i * 8..14 + i * 8]).map_err(|_| malformed("non-hex field"))?;
            *field = u32::from_str_radix(text, 16).map_err(|_| malformed("non-hex field"))?;
        }
        let [_ino, mode, _uid, _gid, _nlink, _mtime, file_size, _maj, _min, rdev_major, rdev_minor, name_size, _check] =
            fields;
        let name_start = offset + HEADER_LEN;
        let name_bytes = bytes.get(name_start..name_start + name_size as usize).ok_or(malformed("truncated name"))?;
        let name = name_bytes.strip_suffix(&[0]).ok_or(malformed("name not NUL-terminated"))?;
        let name = std::str::from_utf8(name).map_err(|_| malformed("name not UTF-8"))?.to_owned();
        let data_start = (name_start + name_size as usize).next_multiple_of(4);
        let data = bytes.get(data_start..data_start + file_size as usize).ok_or(malformed("truncated data"))?;
        offset = (data_start + file_size as usize).next_multiple_of(4);
        if name == TRAILER {
            return Ok(entries);
        }
        let kind = match mode & S_IFMT {
            S_IFREG => EntryKind::File(data.to_vec()),
            S_IFDIR => EntryKind::Dir,
            S_IFCHR => EntryKind::CharDevice { major: rdev_major, minor: rdev_minor },
            S_IFLNK => EntryKind::Symlink(String::from_utf8_lossy(data).into_owned()),
            _ => return Err(CpioError::Malformed { offset, problem: "unsupported file type" }),
        };
        entries.push(CpioEntry { path: name, mode: mode & 0o7777, kind });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    fn sample() -> CpioArchive {
        let mut archive = CpioArchive::new();
        archive.add_file("/init", 0o755, b"#!binary".to_vec()).unwrap();
        archive.add_char_device("/dev/console", 0o600, 5, 1).unwrap();
        archive.add_file("lib/modules/6.1/kernel/a.ko", 0o644, vec![1, 2, 3, 4, 5]).unwrap();
        archive.add_dir("/proc", 0o555).unwrap();
        archive.add_symlink("/bin", "usr/bin").unwrap();
        archive
    }

    #[test]
    fn round_trips_sorted_with_parents() {
        let bytes = sample().to_bytes();
        let entries = read(&bytes).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "bin",
                "dev",
                "dev/console",
                "init",
                "lib",
                "lib/modules",
                "lib/modules/6.1",
                "lib/modules/6.1/kernel",
                "lib/modules/6.1/kernel/a.ko",
                "proc"
            ]
        );
        assert_eq!(entries[2].kind, EntryKind::CharDevice { major: 5, minor: 1 });
        assert_eq!(entries[2].mode, 0o600);
        assert_eq!(entries[3].kind, EntryKind::File(b"#!binary".to_vec()));
        assert_eq!(entries[3].mode, 0o755);
        assert_eq!(entries[9].mode, 0o555);
        assert_eq!(entries[0].kind, EntryKind::Symlink("usr/bin".into()));
    }

    #[test]
    fn header_fields_are_fixed() {
        let bytes = sample().to_bytes();
        // The first entry ("bin"): ino 1, uid 0, gid 0, mtime 0.
        let header = std::str::from_utf8(&bytes[..HEADER_LEN]).unwrap();
        assert_eq!(&header[..6], "070701");
        assert_eq!(&header[6..14], "00000001");
        assert_eq!(&header[22..30], "00000000"); // uid
        assert_eq!(&header[30..38], "00000000"); // gid
        assert_eq!(&header[46..54], "00000000"); // mtime
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.windows(TRAILER.len()).any(|w| w == TRAILER.as_bytes()));
    }

    #[test]
    fn insertion_order_does_not_matter() {
        let mut other = CpioArchive::new();
        other.add_symlink("bin", "usr/bin").unwrap();
        other.add_dir("proc", 0o555).unwrap();
        other.add_file("lib/modules/6.1/kernel/a.ko", 0o644, vec![1, 2, 3, 4, 5]).unwrap();
        other.add_char_device("dev/console", 0o600, 5, 1).unwrap();
        other.add_file("init", 0o755, b"#!binary".to_vec()).unwrap();
        assert_eq!(other.to_bytes(), sample().to_bytes());
    }

    #[test]
    fn refuses_bad_paths_and_conflicts() {
        let mut archive = CpioArchive::new();
        assert!(matches!(archive.add_dir("", 0o755), Err(CpioError::BadPath(_))));
        assert!(matches!(archive.add_dir("a/../b", 0o755), Err(CpioError::BadPath(_))));
        archive.add_file("a", 0o644, vec![1]).unwrap();
        archive.add_file("a", 0o644, vec![1]).unwrap();
        assert_eq!(archive.add_file("a", 0o644, vec![2]), Err(CpioError::Duplicate("a".into())));
        assert_eq!(archive.add_file("a/b", 0o644, vec![2]), Err(CpioError::ParentNotDir("a/b".into())));
    }

    #[test]
    fn reader_rejects_garbage() {
        assert!(matches!(read(b"hello"), Err(CpioError::Malformed { offset: 0, .. })));
        let mut bytes = sample().to_bytes();
        bytes.truncate(bytes.len() - 20);
        assert!(read(&bytes).is_err());
    }
}
