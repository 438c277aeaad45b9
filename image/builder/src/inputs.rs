//! The image's inputs, recorded and digested. Everything that would otherwise be random or
//! time-dependent (GUIDs, the file-system UUIDs, the FAT volume id, the dm-verity salt) is derived
//! from the digest, so the same inputs give the same bytes and different inputs different ids.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// Lower-case hex.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// SHA-256, hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of a file, hex, read in chunks (a disk with large slots is not held in memory).
pub fn sha256_file(path: &std::path::Path) -> Result<String, crate::ImageError> {
    let mut file = std::fs::File::open(path).map_err(crate::ImageError::io(path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(crate::ImageError::io(path))?;
    Ok(hex(&hasher.finalize()))
}

/// The named inputs of one build. Keys are fixed names, values text (hashes are hex).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct InputRecord(pub BTreeMap<String, String>);

impl InputRecord {
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_owned(), value.into());
    }

    /// SHA-256 over a versioned header and `key=value` lines in key order.
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"qp-image inputs v1\n");
        for (key, value) in &self.0 {
            hasher.update(key.as_bytes());
            hasher.update(b"=");
            hasher.update(value.as_bytes());
            hasher.update(b"\n");
        }
        hasher.finalize().into()
    }
}

/// A value derived from the inputs' digest for one purpose (`label`).
#[must_use]
pub fn derive(digest: &[u8; 32], label: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(digest);
    hasher.update(b"/");
    hasher.update(label.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn digest_depends_on_every_input_and_not_on_insertion_order() {
        let mut a = InputRecord::default();
        a.insert("variant", "local");
        a.insert("kernel", "k");
        let mut b = InputRecord::default();
        b.insert("kernel", "k");
        b.insert("variant", "local");
        assert_eq!(a.digest(), b.digest());
        b.insert("variant", "cloud");
        assert_ne!(a.digest(), b.digest());
        assert_ne!(derive(&a.digest(), "salt"), derive(&a.digest(), "uuid"));
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }

    #[test]
    fn file_digest_is_the_bytes_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(sha256_file(&path).unwrap(), sha256_hex(&bytes));
    }
}
