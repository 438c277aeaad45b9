//! Stable, dependency-free hashes (the std hasher is not stable across Rust releases).

const FNV64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV64_PRIME: u64 = 0x0000_0100_0000_01b3;
const FNV128_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV128_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = FNV64_OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV64_PRIME);
    }
    h
}

/// Incremental 64-bit FNV-1a.
#[derive(Debug, Clone)]
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    pub(crate) fn new() -> Self {
        Self(FNV64_OFFSET)
    }
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV64_PRIME);
        }
    }
    /// Fast bulk variant for large files: FNV-style over little-endian 64-bit words (rotated so that
    /// every bit reaches every other), then the remaining bytes. Not FNV-1a; stable.
    pub(crate) fn update_words(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.0 = (self.0 ^ u64::from_le_bytes(w)).wrapping_mul(FNV64_PRIME).rotate_left(29);
        }
        self.update(words.remainder());
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// 128-bit FNV-1a of the text's UTF-8 bytes: the key of a text in the [`crate::EmbeddingCache`].
pub fn text_hash128(text: &str) -> u128 {
    let mut h = FNV128_OFFSET;
    for &b in text.as_bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(FNV128_PRIME);
    }
    h
}

/// SplitMix64 finalizer: spreads FNV's weak low bits.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The stable train/validation split: `true` for the ~15% of texts held out for validation.
///
/// Rule (reproducible anywhere): `splitmix64_finalize(fnv1a64(text.as_bytes())) % 100 < 15`, on the text
/// exactly as read from the CSV (no trimming or case folding), where `splitmix64_finalize(z)` is
/// `z = (z ^ z>>30) * 0xbf58476d1ce4e5b9; z = (z ^ z>>27) * 0x94d049bb133111eb; z ^ z>>31` (wrapping u64).
/// Duplicate texts always land on the same side.
pub fn is_validation(text: &str) -> bool {
    mix64(fnv1a64(text.as_bytes())) % 100 < 15
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(text_hash128(""), FNV128_OFFSET);
        let mut inc = Fnv64::new();
        inc.update(b"fo");
        inc.update(b"obar");
        assert_eq!(inc.finish(), fnv1a64(b"foobar"));
    }
}
