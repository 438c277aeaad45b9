//! Text → hashed feature ids, without allocating.
//!
//! Tokens are read straight off the UTF-8 bytes, lowercased on the fly:
//!
//! - a word is a run of ASCII letters and digits (`Fed`, `q3` → `fed`, `q3`);
//! - a cashtag keeps its `$` (`$AAPL` → `$aapl`);
//! - with [`FeatureConfig::numbers`], a number (`12`, `1,234.5`) becomes `<num>`,
//!   a percentage (`4.5%`) `<pct>`, a number with a unit keeps the unit
//!   (`10k` → `<num>k`) and money keeps its sign (`$5B` → `$<num>b`);
//! - a URL (`http://…`, `https://…`) becomes `<url>`;
//! - every other non-ASCII character (an emoji, a curly quote) is a token of its
//!   own; the remaining ASCII punctuation and white space separate tokens.
//!
//! Features: one constant `<s>` feature (every text has at least one feature, so
//! the mean over the bag is always defined and acts as a learned bias), word
//! unigrams, word bigrams (the first word pairs with `<s>`), optionally word
//! trigrams, word prefixes (a crude stemmer) and character n-grams of words.
//!
//! Hashing is our own: a token's lowercased bytes are packed eight to a
//! `u64` and folded with the MurmurHash3 `fmix64` avalanche, starting from a
//! basis derived from the seed; n-grams of at most 8 bytes are their packed
//! bytes. A feature's bucket is the top `log2(buckets)` bits of
//! `fmix64(hash ^ salt)`, with one salt per feature kind (and per extra hash
//! with [`FeatureConfig::hashes`]). Only integer arithmetic with explicit
//! wrapping: the ids are the same on every platform and every build, which
//! the model files depend on ([`FEATURIZER_VERSION`] names this scheme).

use std::fmt;

/// Version of the tokenization and hashing scheme. A model file records it;
/// a change to anything that alters feature ids must bump it.
pub const FEATURIZER_VERSION: u32 = 1;

/// Most feature ids one text yields; the rest of a longer text is dropped.
///
/// A 280-character text of one-letter words has 140 words: with unigrams,
/// bigrams and trigrams that is 1 + 3 × 140 = 421 features.
pub const FEATURE_CAPACITY: usize = 1024;

/// Fewest and most hash buckets a [`FeatureConfig`] may ask for.
pub const MIN_BUCKETS: u32 = 2;
/// See [`MIN_BUCKETS`].
pub const MAX_BUCKETS: u32 = 1 << 24;
/// Longest character n-gram and word prefix.
pub const MAX_NGRAM: u8 = 8;
/// Most buckets per feature.
pub const MAX_HASHES: u8 = 4;

// Salts that keep the feature kinds apart in the bucket space.
const SALT_UNIGRAM: u64 = 0x5155_4e49_4752_414d;
const SALT_BIGRAM: u64 = 0x4249_4752_414d_0002;
const SALT_TRIGRAM: u64 = 0x5452_4947_5241_4d03;
const SALT_PREFIX: u64 = 0x5052_4546_4958_0004;
const SALT_CHAR: u64 = 0x4348_4152_4e47_0005;
const SALT_BOS: u64 = 0x3c73_3e00_0000_0006;
const SALT_HASHES: u64 = 0x6861_7368_6573_0007;

/// How text becomes features: the hash space and which n-grams are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeatureConfig {
    /// Number of hash buckets (rows of the embedding table); a power of two in
    /// [`MIN_BUCKETS`]..=[`MAX_BUCKETS`].
    pub buckets: u32,
    /// Mixed into every hash: the same text hashes to other buckets under
    /// another seed.
    pub seed: u64,
    /// Word bigrams.
    pub bigrams: bool,
    /// Word trigrams.
    pub trigrams: bool,
    /// Character n-grams of each word (with `<` and `>` marking its ends) of
    /// this length; 0 turns them off. At most [`MAX_NGRAM`].
    pub char_ngram: u8,
    /// The first `prefix` bytes of each longer word as an extra feature (a
    /// crude stemmer: `surged`, `surges` → `surg`); 0 turns it off. At most
    /// [`MAX_NGRAM`].
    pub prefix: u8,
    /// Numbers become `<num>` / `<pct>` tokens.
    pub numbers: bool,
    /// Buckets per feature, 1..=[`MAX_HASHES`]: with 2, a feature's vector is
    /// the sum of two rows (hash embeddings), so two features collide fully
    /// only if both their buckets do.
    pub hashes: u8,
}

impl Default for FeatureConfig {
    /// The configuration the shipped student uses: 2^15 buckets, unigrams,
    /// bigrams and character 4-grams, two buckets per feature (TFNS gold-only
    /// validation accuracy 0.823 vs 0.810 for unigrams + bigrams alone).
    fn default() -> Self {
        Self {
            buckets: 1 << 15,
            seed: 0,
            bigrams: true,
            trigrams: false,
            char_ngram: 4,
            prefix: 0,
            numbers: true,
            hashes: 2,
        }
    }
}

/// A [`FeatureConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// `buckets` is not a power of two in range.
    #[error("feature buckets {buckets} is not a power of two in {MIN_BUCKETS}..={MAX_BUCKETS}")]
    Buckets {
        /// The value asked for.
        buckets: u32,
    },
    /// `hashes` is out of range.
    #[error("feature hashes {hashes} is not in 1..={MAX_HASHES}")]
    Hashes {
        /// The value asked for.
        hashes: u8,
    },
    /// An n-gram length is out of range.
    #[error("feature {what} length {len} exceeds {MAX_NGRAM}")]
    NgramLength {
        /// `char_ngram` or `prefix`.
        what: &'static str,
        /// The value asked for.
        len: u8,
    },
}

/// Feature ids of one text, in a fixed-capacity buffer (no heap).
#[derive(Clone)]
pub struct FeatureBuf {
    ids: [u32; FEATURE_CAPACITY],
    len: usize,
    truncated: bool,
}

impl FeatureBuf {
    /// An empty buffer.
    #[must_use]
    pub const fn new() -> Self {
        Self { ids: [0; FEATURE_CAPACITY], len: 0, truncated: false }
    }

    /// The ids extracted, each below the configuration's `buckets`.
    #[must_use]
    pub fn as_slice(&self) -> &[u32] {
        &self.ids[..self.len]
    }

    /// Number of ids.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is held (never the case after [`Featurizer::extract`]).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the last text had more features than [`FEATURE_CAPACITY`].
    #[must_use]
    pub const fn truncated(&self) -> bool {
        self.truncated
    }

    fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// Appends one id; `false` once the buffer is full.
    #[inline]
    fn push(&mut self, id: u32) -> bool {
        match self.ids.get_mut(self.len) {
            Some(slot) => {
                *slot = id;
                self.len += 1;
                true
            }
            None => {
                self.truncated = true;
                false
            }
        }
    }
}

impl Default for FeatureBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FeatureBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureBuf").field("ids", &self.as_slice()).field("truncated", &self.truncated).finish()
    }
}

/// Turns texts into feature ids under one [`FeatureConfig`].
#[derive(Debug, Clone)]
pub struct Featurizer {
    config: FeatureConfig,
    /// `64 - log2(buckets)`: the bucket is the top bits of the mixed hash.
    shift: u32,
    /// Token hashes start here (from the seed).
    basis: u64,
    /// Packed prefixes and character n-grams are XORed with this (from the seed).
    piece_basis: u64,
    /// Token hash standing for the start of the text (`<s>`).
    start: u64,
}

/// The MurmurHash3 64-bit finalizer.
#[inline]
const fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Combines two hashes, order-sensitive.
#[inline]
const fn combine(a: u64, b: u64) -> u64 {
    a.rotate_left(23) ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// What kind of byte starts a token.
#[inline]
const fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// One token's hash plus, for plain words, where its bytes are.
#[derive(Clone, Copy)]
struct Token {
    hash: u64,
    /// Byte range of a plain word in the text (for prefixes and character
    /// n-grams); `None` for normalized tokens and symbols.
    word: Option<(usize, usize)>,
}

impl Featurizer {
    /// Checks the configuration.
    pub fn new(config: FeatureConfig) -> Result<Self, FeatureError> {
        if !config.buckets.is_power_of_two() || !(MIN_BUCKETS..=MAX_BUCKETS).contains(&config.buckets) {
            return Err(FeatureError::Buckets { buckets: config.buckets });
        }
        if !(1..=MAX_HASHES).contains(&config.hashes) {
            return Err(FeatureError::Hashes { hashes: config.hashes });
        }
        for (what, len) in [("char_ngram", config.char_ngram), ("prefix", config.prefix)] {
            if len > MAX_NGRAM {
                return Err(FeatureError::NgramLength { what, len });
            }
        }
        let basis = fmix64(config.seed ^ 0x7170_2d73_656e_7469);
        let piece_basis = fmix64(config.seed ^ 0x7069_6563_6573_0000);
        let mut start = TokenHasher::new(basis);
        start.bytes(b"<s>");
        Ok(Self { config, shift: 64 - config.buckets.trailing_zeros(), basis, piece_basis, start: start.finish() })
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// Pushes the `hashes` bucket ids of one feature: successive
    /// `log2(buckets)`-bit fields of `x = fmix64(hash ^ salt)`, from the top;
    /// when `x` runs out of bits, `x = fmix64(x ^ SALT_HASHES)`.
    #[inline]
    fn emit(&self, out: &mut FeatureBuf, hash: u64, salt: u64) -> Option<()> {
        let bits = 64 - self.shift;
        let mut x = fmix64(hash ^ salt);
        let mut left = 64;
        for _ in 0..self.config.hashes {
            if left < bits {
                x = fmix64(x ^ SALT_HASHES);
                left = 64;
            }
            push(out, (x >> self.shift) as u32)?;
            x <<= bits;
            left -= bits;
        }
        Some(())
    }

    /// Writes the feature ids of `text` into `out` (clearing it first).
    /// Allocates nothing; stops at [`FEATURE_CAPACITY`] ids.
    pub fn extract(&self, text: &str, out: &mut FeatureBuf) {
        out.clear();
        let _ = self.extract_into(text.as_bytes(), out);
    }

    /// `None` once `out` is full.
    fn extract_into(&self, bytes: &[u8], out: &mut FeatureBuf) -> Option<()> {
        self.emit(out, self.start, SALT_BOS)?;
        let (mut prev2, mut prev) = (self.start, self.start);
        let mut first = true;
        let mut at = 0;
        while let Some(token) = self.next_token(bytes, &mut at) {
            self.emit(out, token.hash, SALT_UNIGRAM)?;
            if self.config.bigrams {
                self.emit(out, combine(prev, token.hash), SALT_BIGRAM)?;
            }
            if self.config.trigrams && !first {
                self.emit(out, combine(combine(prev2, prev), token.hash), SALT_TRIGRAM)?;
            }
            if let Some((start, end)) = token.word {
                let word = bytes.get(start..end).unwrap_or_default();
                self.word_pieces(word, out)?;
            }
            prev2 = prev;
            prev = token.hash;
            first = false;
        }
        Some(())
    }

    /// Prefix and character n-gram features of one plain word. Both are at
    /// most 8 bytes, so a piece is its bytes packed into a `u64` (no hashing
    /// until [`Self::emit`]).
    fn word_pieces(&self, word: &[u8], out: &mut FeatureBuf) -> Option<()> {
        let prefix = usize::from(self.config.prefix);
        if prefix > 0 && word.len() > prefix {
            let packed = word[..prefix].iter().fold(0u64, |w, b| (w << 8) | u64::from(b.to_ascii_lowercase()));
            self.emit(out, packed ^ self.piece_basis, SALT_PREFIX)?;
        }
        let n = usize::from(self.config.char_ngram);
        // A word shorter than n has no n-gram its unigram does not already say.
        if n > 0 && word.len() >= n {
            let mask = if n >= 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
            // Window over `<` word `>`, lowercased.
            let mut window = u64::from(b'<');
            for (filled, b) in word.iter().enumerate() {
                window = ((window << 8) | u64::from(b.to_ascii_lowercase())) & mask;
                if filled + 2 >= n {
                    self.emit(out, window ^ self.piece_basis, SALT_CHAR)?;
                }
            }
            window = ((window << 8) | u64::from(b'>')) & mask;
            self.emit(out, window ^ self.piece_basis, SALT_CHAR)?;
        }
        Some(())
    }

    /// The next token at or after `*at`, advancing `*at` past it.
    #[inline]
    fn next_token(&self, bytes: &[u8], at: &mut usize) -> Option<Token> {
        let len = bytes.len();
        let mut i = *at;
        loop {
            let &b = bytes.get(i)?;
            if is_word_byte(b) {
                break;
            }
            if b == b'$' {
                if let Some(&next) = bytes.get(i + 1) {
                    if next.is_ascii_alphabetic() {
                        // Cashtag: `$` plus the word.
                        let mut h = TokenHasher::new(self.basis);
                        h.byte(b'$');
                        let mut j = i + 1;
                        while let Some(&c) = bytes.get(j).filter(|c| is_word_byte(**c)) {
                            h.byte(c.to_ascii_lowercase());
                            j += 1;
                        }
                        *at = j;
                        return Some(Token { hash: h.finish(), word: None });
                    }
                    if next.is_ascii_digit() && self.config.numbers {
                        let mut h = TokenHasher::new(self.basis);
                        h.byte(b'$');
                        let (hash, end) = number(bytes, i + 1, h);
                        *at = end;
                        return Some(Token { hash, word: None });
                    }
                }
            } else if b >= 0xc0 {
                // A non-ASCII character: its lead byte and continuation bytes.
                let mut h = TokenHasher::new(self.basis);
                h.byte(b);
                let mut j = i + 1;
                while let Some(&c) = bytes.get(j).filter(|c| (0x80..0xc0).contains(*c)) {
                    h.byte(c);
                    j += 1;
                }
                *at = j;
                return Some(Token { hash: h.finish(), word: None });
            }
            // Separator (ASCII punctuation, white space, stray continuation bytes).
            i += 1;
        }
        if bytes[i].is_ascii_digit() && self.config.numbers {
            let (hash, end) = number(bytes, i, TokenHasher::new(self.basis));
            *at = end;
            return Some(Token { hash, word: None });
        }
        let start = i;
        let mut h = TokenHasher::new(self.basis);
        while i < len && is_word_byte(bytes[i]) {
            h.byte(bytes[i].to_ascii_lowercase());
            i += 1;
        }
        let word_len = i - start;
        if (word_len == 4 || word_len == 5) && bytes[i..].starts_with(b"://") {
            let scheme = &bytes[start..i];
            if scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https") {
                while i < len && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                *at = i;
                let mut h = TokenHasher::new(self.basis);
                h.bytes(b"<url>");
                return Some(Token { hash: h.finish(), word: None });
            }
        }
        *at = i;
        Some(Token { hash: h.finish(), word: Some((start, i)) })
    }
}

/// A number starting at `start` (a digit), hashed onto `h`: `<num>` or
/// `<pct>`, followed by a unit's letters (`10k` → `<num>k`).
fn number(bytes: &[u8], start: usize, mut h: TokenHasher) -> (u64, usize) {
    let len = bytes.len();
    let mut i = start;
    while i < len {
        let b = bytes[i];
        let separator_then_digit = (b == b'.' || b == b',') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if b.is_ascii_digit() || separator_then_digit {
            i += 1;
        } else {
            break;
        }
    }
    if bytes.get(i) == Some(&b'%') {
        h.bytes(b"<pct>");
        return (h.finish(), i + 1);
    }
    h.bytes(b"<num>");
    while i < len && is_word_byte(bytes[i]) {
        h.byte(bytes[i].to_ascii_lowercase());
        i += 1;
    }
    (h.finish(), i)
}

/// A token's hash, fed one byte at a time: bytes are packed eight to a
/// `u64`, each full word is folded in with [`fmix64`], and the length goes
/// into the last fold. No multiply per byte, so a word costs one or two
/// avalanches.
#[derive(Clone, Copy)]
struct TokenHasher {
    h: u64,
    chunk: u64,
    len: u64,
}

impl TokenHasher {
    const fn new(basis: u64) -> Self {
        Self { h: basis, chunk: 0, len: 0 }
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        self.chunk = (self.chunk << 8) | u64::from(b);
        self.len += 1;
        if self.len & 7 == 0 {
            self.h = fmix64(self.h ^ self.chunk);
            self.chunk = 0;
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.byte(b));
    }

    #[inline]
    fn finish(&self) -> u64 {
        fmix64(self.h ^ self.chunk ^ (self.len << 56))
    }
}

#[inline]
fn push(out: &mut FeatureBuf, id: u32) -> Option<()> {
    out.push(id).then_some(())
}

/// Metadata keys under which a model file records its featurizer.
pub mod metadata_keys {
    /// [`FEATURIZER_VERSION`](super::FEATURIZER_VERSION).
    pub const VERSION: &str = "qp.features.version";
    /// `buckets`.
    pub const BUCKETS: &str = "qp.features.buckets";
    /// `seed`.
    pub const SEED: &str = "qp.features.seed";
    /// `bigrams` (`true` / `false`).
    pub const BIGRAMS: &str = "qp.features.bigrams";
    /// `trigrams` (`true` / `false`).
    pub const TRIGRAMS: &str = "qp.features.trigrams";
    /// `char_ngram`.
    pub const CHAR_NGRAM: &str = "qp.features.char_ngram";
    /// `prefix`.
    pub const PREFIX: &str = "qp.features.prefix";
    /// `numbers` (`true` / `false`).
    pub const NUMBERS: &str = "qp.features.numbers";
    /// `hashes`.
    pub const HASHES: &str = "qp.features.hashes";
}

impl FeatureConfig {
    /// The configuration as `(key, value)` pairs for a model file's metadata,
    /// with [`FEATURIZER_VERSION`].
    #[must_use]
    pub fn to_metadata(&self) -> Vec<(&'static str, String)> {
        use metadata_keys as k;
        vec![
            (k::VERSION, FEATURIZER_VERSION.to_string()),
            (k::BUCKETS, self.buckets.to_string()),
            (k::SEED, self.seed.to_string()),
            (k::BIGRAMS, self.bigrams.to_string()),
            (k::TRIGRAMS, self.trigrams.to_string()),
            (k::CHAR_NGRAM, self.char_ngram.to_string()),
            (k::PREFIX, self.prefix.to_string()),
            (k::NUMBERS, self.numbers.to_string()),
            (k::HASHES, self.hashes.to_string()),
        ]
    }

    /// Reads a configuration back from metadata; `get` looks a key up. The
    /// error says which key is missing or malformed.
    pub fn from_metadata<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, String> {
        use metadata_keys as k;
        fn parse<T: std::str::FromStr>(key: &str, value: Option<&str>) -> Result<T, String> {
            let value = value.ok_or_else(|| format!("metadata `{key}` is missing"))?;
            value.parse().map_err(|_| format!("metadata `{key}` = {value:?} is malformed"))
        }
        let version: u32 = parse(k::VERSION, get(k::VERSION))?;
        if version != FEATURIZER_VERSION {
            return Err(format!(
                "featurizer version {version} is not supported (this build has version {FEATURIZER_VERSION})"
            ));
        }
        Ok(Self {
            buckets: parse(k::BUCKETS, get(k::BUCKETS))?,
            seed: parse(k::SEED, get(k::SEED))?,
            bigrams: parse(k::BIGRAMS, get(k::BIGRAMS))?,
            trigrams: parse(k::TRIGRAMS, get(k::TRIGRAMS))?,
            char_ngram: parse(k::CHAR_NGRAM, get(k::CHAR_NGRAM))?,
            prefix: parse(k::PREFIX, get(k::PREFIX))?,
            numbers: parse(k::NUMBERS, get(k::NUMBERS))?,
            hashes: parse(k::HASHES, get(k::HASHES))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unigrams and bigrams, one bucket per feature.
    fn plain() -> FeatureConfig {
        FeatureConfig { char_ngram: 0, hashes: 1, ..FeatureConfig::default() }
    }

    fn tokens(config: FeatureConfig, text: &str) -> Vec<u64> {
        let featurizer = Featurizer::new(config).unwrap();
        let mut at = 0;
        let mut out = Vec::new();
        while let Some(token) = featurizer.next_token(text.as_bytes(), &mut at) {
            out.push(token.hash);
        }
        out
    }

    fn hash_of(featurizer: &Featurizer, token: &str) -> u64 {
        let mut h = TokenHasher::new(featurizer.basis);
        h.bytes(token.as_bytes());
        h.finish()
    }

    #[test]
    fn tokenizes_words_cashtags_numbers_and_urls() {
        let config = plain();
        let f = Featurizer::new(config).unwrap();
        let got = tokens(config, "$AAPL up 4.5% to $1,234.50; 10k shares https://t.co/xY #Fed 🚀");
        let want: Vec<u64> = ["$aapl", "up", "<pct>", "to", "$<num>", "<num>k", "shares", "<url>", "fed", "🚀"]
            .iter()
            .map(|t| hash_of(&f, t))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn numbers_stay_words_when_normalization_is_off() {
        let config = FeatureConfig { numbers: false, ..plain() };
        let f = Featurizer::new(config).unwrap();
        let got = tokens(config, "Up 12%");
        assert_eq!(got, vec![hash_of(&f, "up"), hash_of(&f, "12")]);
    }

    #[test]
    fn hashes_are_pinned() {
        // Model files depend on these exact ids: a change here must bump FEATURIZER_VERSION.
        let config = FeatureConfig { buckets: 1 << 16, seed: 7, ..plain() };
        let f = Featurizer::new(config).unwrap();
        let mut out = FeatureBuf::new();
        f.extract("Stocks rally", &mut out);
        assert_eq!(out.as_slice(), &[51560, 41354, 51897, 10038, 54652]);
        let f = Featurizer::new(FeatureConfig::default()).unwrap();
        f.extract("Up 5%", &mut out);
        assert_eq!(out.as_slice(), &[12638, 21242, 32131, 9995, 23610, 27031, 86, 9887, 11419, 25011]);
    }

    #[test]
    fn counts_per_feature_kind() {
        let base = FeatureConfig { bigrams: false, ..plain() };
        let count = |config: FeatureConfig, text: &str| {
            let mut out = FeatureBuf::new();
            Featurizer::new(config).unwrap().extract(text, &mut out);
            out.len()
        };
        assert_eq!(count(base, ""), 1);
        assert_eq!(count(base, "a b c"), 4);
        assert_eq!(count(FeatureConfig { bigrams: true, ..base }, "a b c"), 7);
        assert_eq!(count(FeatureConfig { trigrams: true, ..base }, "a b c"), 6);
        // "<rally>" has 5 trigrams; "up" is too short for any beyond its unigram.
        assert_eq!(count(FeatureConfig { char_ngram: 3, ..base }, "rally up"), 1 + 2 + 5);
        assert_eq!(count(FeatureConfig { prefix: 4, ..base }, "rallies up"), 1 + 2 + 1);
        assert_eq!(count(FeatureConfig { hashes: 2, ..base }, "a b c"), 8);
    }

    #[test]
    fn long_texts_are_truncated_not_overflowed() {
        let config = FeatureConfig { trigrams: true, char_ngram: 3, hashes: 1, ..FeatureConfig::default() };
        let text = "ab ".repeat(400);
        let mut out = FeatureBuf::new();
        Featurizer::new(config).unwrap().extract(&text, &mut out);
        assert_eq!(out.len(), FEATURE_CAPACITY);
        assert!(out.truncated());
        Featurizer::new(config).unwrap().extract("short", &mut out);
        assert!(!out.truncated());
    }

    #[test]
    fn rejects_bad_configs() {
        for buckets in [0, 1, 3, 1000, 1 << 25] {
            let config = FeatureConfig { buckets, ..FeatureConfig::default() };
            assert_eq!(Featurizer::new(config).unwrap_err(), FeatureError::Buckets { buckets });
        }
        let config = FeatureConfig { char_ngram: 9, ..FeatureConfig::default() };
        assert!(matches!(Featurizer::new(config), Err(FeatureError::NgramLength { .. })));
        for hashes in [0, 5] {
            let config = FeatureConfig { hashes, ..FeatureConfig::default() };
            assert_eq!(Featurizer::new(config).unwrap_err(), FeatureError::Hashes { hashes });
        }
    }

    #[test]
    fn metadata_round_trips() {
        let config = FeatureConfig { seed: u64::MAX, char_ngram: 3, prefix: 5, hashes: 3, ..FeatureConfig::default() };
        let metadata = config.to_metadata();
        let get = |key: &str| metadata.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str());
        assert_eq!(FeatureConfig::from_metadata(get), Ok(config));
        let missing = |key: &str| if key == metadata_keys::SEED { None } else { get(key) };
        assert!(FeatureConfig::from_metadata(missing).unwrap_err().contains("qp.features.seed"));
    }
}
