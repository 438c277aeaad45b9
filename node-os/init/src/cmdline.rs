//! The kernel command line contract between the image builder (which writes it into the UKI, so it is measured
//! with the kernel) and PID 1:
//!
//! `qp.slot=a qp.verity.root=<64 hex> qp.verity.salt=<hex, even length, or "-" for none> qp.verity.data_blocks=<n>`
//!
//! Other words are the kernel's or someone else's and are ignored. A missing, repeated or malformed `qp.*` word
//! is an error naming the word: PID 1 never guesses a root hash.

use std::fmt;

use thiserror::Error;

/// `qp.slot`
pub const WORD_SLOT: &str = "qp.slot";
/// `qp.verity.root`
pub const WORD_ROOT_HASH: &str = "qp.verity.root";
/// `qp.verity.salt`
pub const WORD_SALT: &str = "qp.verity.salt";
/// `qp.verity.data_blocks`
pub const WORD_DATA_BLOCKS: &str = "qp.verity.data_blocks";

/// The longest salt accepted (bytes); `veritysetup` allows 256.
pub const MAX_SALT_LEN: usize = 256;
/// Longest value echoed back in an error message.
const MAX_ECHO: usize = 80;

/// What PID 1 takes from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootParams {
    /// The A/B slot: one letter `a`..=`z`; partitions are `qp-root-<slot>` and `qp-verity-<slot>`.
    pub slot: String,
    /// The root file system's dm-verity parameters.
    pub verity: VerityParams,
}

/// dm-verity parameters of the root (sha256, 4096-byte blocks, hash tree at block 0 of the hash partition).
#[derive(Clone, PartialEq, Eq)]
pub struct VerityParams {
    /// The hash tree's root hash.
    pub root_hash: [u8; 32],
    /// The salt (may be empty).
    pub salt: Vec<u8>,
    /// Data blocks (4096 bytes) covered.
    pub data_blocks: u64,
}

impl VerityParams {
    /// The root hash in lower-case hex.
    #[must_use]
    pub fn root_hash_hex(&self) -> String {
        to_hex(&self.root_hash)
    }

    /// The salt as the verity table wants it: lower-case hex, or `-` when empty.
    #[must_use]
    pub fn salt_hex(&self) -> String {
        if self.salt.is_empty() { "-".to_owned() } else { to_hex(&self.salt) }
    }
}

impl fmt::Debug for VerityParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerityParams")
            .field("root_hash", &self.root_hash_hex())
            .field("salt", &self.salt_hex())
            .field("data_blocks", &self.data_blocks)
            .finish()
    }
}

/// The command line does not carry what PID 1 needs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CmdlineError {
    /// A required word is absent.
    #[error("kernel command line: `{word}=` is missing")]
    Missing {
        /// The word.
        word: &'static str,
    },
    /// A required word appears more than once (ambiguous: refused rather than picking one).
    #[error("kernel command line: `{word}=` is given more than once")]
    Repeated {
        /// The word.
        word: &'static str,
    },
    /// A word's value is not what the contract says.
    #[error("kernel command line: `{word}={value}` is malformed: {reason}")]
    Malformed {
        /// The word.
        word: &'static str,
        /// The value (cut to 80 characters).
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl BootParams {
    /// Parses a command line (the contents of `/proc/cmdline`). Pure; total on any input.
    pub fn parse(cmdline: &str) -> Result<Self, CmdlineError> {
        let mut slot = None;
        let mut root = None;
        let mut salt = None;
        let mut blocks = None;
        for token in cmdline.split_ascii_whitespace() {
            if token == "--" {
                // What follows is init's argv, not kernel parameters.
                break;
            }
            let (key, value) = match token.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (token, None),
            };
            let (word, slot_ref) = match key {
                WORD_SLOT => (WORD_SLOT, &mut slot),
                WORD_ROOT_HASH => (WORD_ROOT_HASH, &mut root),
                WORD_SALT => (WORD_SALT, &mut salt),
                WORD_DATA_BLOCKS => (WORD_DATA_BLOCKS, &mut blocks),
                _ => continue,
            };
            let Some(value) = value else {
                return Err(malformed(word, token, "expected `word=value`"));
            };
            if slot_ref.replace(value).is_some() {
                return Err(CmdlineError::Repeated { word });
            }
        }
        let slot = parse_slot(slot.ok_or(CmdlineError::Missing { word: WORD_SLOT })?)?;
        let root_hash = parse_root_hash(root.ok_or(CmdlineError::Missing { word: WORD_ROOT_HASH })?)?;
        let salt = parse_salt(salt.ok_or(CmdlineError::Missing { word: WORD_SALT })?)?;
        let data_blocks = parse_blocks(blocks.ok_or(CmdlineError::Missing { word: WORD_DATA_BLOCKS })?)?;
        Ok(Self { slot, verity: VerityParams { root_hash, salt, data_blocks } })
    }

    /// The GPT label of this slot's root partition: `qp-root-<slot>`.
    #[must_use]
    pub fn root_label(&self) -> String {
        format!("qp-root-{}", self.slot)
    }

    /// The GPT label of this slot's hash partition: `qp-verity-<slot>`.
    #[must_use]
    pub fn verity_label(&self) -> String {
        format!("qp-verity-{}", self.slot)
    }
}

fn malformed(word: &'static str, value: &str, reason: &'static str) -> CmdlineError {
    let value = match value.char_indices().nth(MAX_ECHO) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    };
    CmdlineError::Malformed { word, value, reason }
}

fn parse_slot(v: &str) -> Result<String, CmdlineError> {
    match v.as_bytes() {
        [c] if c.is_ascii_lowercase() => Ok(v.to_owned()),
        _ => Err(malformed(WORD_SLOT, v, "expected one letter a-z")),
    }
}

fn parse_root_hash(v: &str) -> Result<[u8; 32], CmdlineError> {
    if v.len() != 64 {
        return Err(malformed(WORD_ROOT_HASH, v, "expected 64 hex digits (sha256)"));
    }
    let bytes = from_hex(v).ok_or_else(|| malformed(WORD_ROOT_HASH, v, "not hexadecimal"))?;
    bytes.try_into().map_err(|_| malformed(WORD_ROOT_HASH, v, "expected 64 hex digits (sha256)"))
}

fn parse_salt(v: &str) -> Result<Vec<u8>, CmdlineError> {
    if v == "-" {
        return Ok(Vec::new());
    }
    if v.is_empty() {
        return Err(malformed(WORD_SALT, v, "empty; write `-` for no salt"));
    }
    if !v.len().is_multiple_of(2) {
        return Err(malformed(WORD_SALT, v, "odd number of hex digits"));
    }
    if v.len() > 2 * MAX_SALT_LEN {
        return Err(malformed(WORD_SALT, v, "longer than 256 bytes"));
    }
    from_hex(v).ok_or_else(|| malformed(WORD_SALT, v, "not hexadecimal"))
}

fn parse_blocks(v: &str) -> Result<u64, CmdlineError> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(WORD_DATA_BLOCKS, v, "expected a decimal number"));
    }
    let n: u64 = v.parse().map_err(|_| malformed(WORD_DATA_BLOCKS, v, "out of range"))?;
    if n == 0 {
        return Err(malformed(WORD_DATA_BLOCKS, v, "must be at least 1"));
    }
    // The table's length is in 512-byte sectors: 8 per block, and must fit u64.
    if n.checked_mul(8).is_none() {
        return Err(malformed(WORD_DATA_BLOCKS, v, "out of range"));
    }
    Ok(n)
}

/// Lower-case hex of `bytes`.
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Bytes of an even-length hex string (either case); `None` if it is not one.
#[must_use]
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2).map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?)).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ROOT: &str = "4d2a0b5c9e1f3a7b8c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b";

    fn line(extra: &str) -> String {
        format!(
            "console=ttyS0,115200 quiet qp.slot=a qp.verity.root={ROOT} qp.verity.salt=00ff qp.verity.data_blocks=1234 {extra}"
        )
    }

    #[test]
    fn parses_the_contract() {
        let p = BootParams::parse(&line("")).unwrap();
        assert_eq!(p.slot, "a");
        assert_eq!(p.verity.root_hash_hex(), ROOT);
        assert_eq!(p.verity.salt, vec![0x00, 0xff]);
        assert_eq!(p.verity.salt_hex(), "00ff");
        assert_eq!(p.verity.data_blocks, 1234);
        assert_eq!(p.root_label(), "qp-root-a");
        assert_eq!(p.verity_label(), "qp-verity-a");
    }

    #[test]
    fn upper_case_hash_and_empty_salt() {
        let l = format!("qp.slot=b qp.verity.root={} qp.verity.salt=- qp.verity.data_blocks=1", ROOT.to_uppercase());
        let p = BootParams::parse(&l).unwrap();
        assert_eq!(p.verity.root_hash_hex(), ROOT);
        assert!(p.verity.salt.is_empty());
        assert_eq!(p.verity.salt_hex(), "-");
    }

    #[test]
    fn unknown_words_and_init_args_are_ignored() {
        assert!(BootParams::parse(&line("qp.other=1 qp.slotx=zz foo=bar baz")).is_ok());
        // After `--` words are init's arguments: a repeat there is not a repeat.
        assert!(BootParams::parse(&line("-- qp.slot=b")).is_ok());
    }

    #[test]
    fn missing_words_are_named() {
        let l = format!("qp.verity.root={ROOT} qp.verity.salt=- qp.verity.data_blocks=1");
        assert_eq!(BootParams::parse(&l), Err(CmdlineError::Missing { word: WORD_SLOT }));
        assert_eq!(BootParams::parse(""), Err(CmdlineError::Missing { word: WORD_SLOT }));
        let l = "qp.slot=a qp.verity.salt=- qp.verity.data_blocks=1";
        assert_eq!(BootParams::parse(l), Err(CmdlineError::Missing { word: WORD_ROOT_HASH }));
        let l = format!("qp.slot=a qp.verity.root={ROOT} qp.verity.data_blocks=1");
        assert_eq!(BootParams::parse(&l), Err(CmdlineError::Missing { word: WORD_SALT }));
        let l = format!("qp.slot=a qp.verity.root={ROOT} qp.verity.salt=-");
        assert_eq!(BootParams::parse(&l), Err(CmdlineError::Missing { word: WORD_DATA_BLOCKS }));
    }

    #[test]
    fn repeats_are_refused() {
        assert_eq!(BootParams::parse(&line("qp.slot=b")), Err(CmdlineError::Repeated { word: WORD_SLOT }));
    }

    fn reason_for(extra_line: &str) -> (&'static str, String) {
        match BootParams::parse(extra_line) {
            Err(CmdlineError::Malformed { word, value, .. }) => (word, value),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn malformed_values_name_the_word() {
        let base = |slot: &str, root: &str, salt: &str, blocks: &str| {
            format!("qp.slot={slot} qp.verity.root={root} qp.verity.salt={salt} qp.verity.data_blocks={blocks}")
        };
        assert_eq!(reason_for(&base("A", ROOT, "-", "1")).0, WORD_SLOT);
        assert_eq!(reason_for(&base("ab", ROOT, "-", "1")).0, WORD_SLOT);
        assert_eq!(reason_for(&base("", ROOT, "-", "1")).0, WORD_SLOT);
        assert_eq!(reason_for(&base("é", ROOT, "-", "1")).0, WORD_SLOT);
        assert_eq!(reason_for(&base("a", &ROOT[1..], "-", "1")).0, WORD_ROOT_HASH);
        assert_eq!(reason_for(&base("a", &format!("{}g", &ROOT[1..]), "-", "1")).0, WORD_ROOT_HASH);
        assert_eq!(reason_for(&base("a", ROOT, "abc", "1")).0, WORD_SALT);
        assert_eq!(reason_for(&base("a", ROOT, "zz", "1")).0, WORD_SALT);
        assert_eq!(reason_for(&base("a", ROOT, "", "1")).0, WORD_SALT);
        assert_eq!(reason_for(&base("a", ROOT, &"00".repeat(257), "1")).0, WORD_SALT);
        assert_eq!(reason_for(&base("a", ROOT, "-", "0")).0, WORD_DATA_BLOCKS);
        assert_eq!(reason_for(&base("a", ROOT, "-", "+5")).0, WORD_DATA_BLOCKS);
        assert_eq!(reason_for(&base("a", ROOT, "-", "-5")).0, WORD_DATA_BLOCKS);
        assert_eq!(reason_for(&base("a", ROOT, "-", "0x10")).0, WORD_DATA_BLOCKS);
        assert_eq!(reason_for(&base("a", ROOT, "-", "18446744073709551615")).0, WORD_DATA_BLOCKS);
        assert_eq!(reason_for(&base("a", ROOT, "-", "99999999999999999999999")).0, WORD_DATA_BLOCKS);
        let (word, value) = reason_for(&line("").replace("qp.slot=a", "qp.slot"));
        assert_eq!((word, value.as_str()), (WORD_SLOT, "qp.slot"));
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let (_, value) = reason_for(
            &line("").replace("qp.verity.data_blocks=1234", &format!("qp.verity.data_blocks={}", "é".repeat(500))),
        );
        assert!(value.chars().count() <= MAX_ECHO + 1);
        let msg = BootParams::parse(&line("qp.slot=b")).unwrap_err().to_string();
        assert!(msg.contains("qp.slot"), "{msg}");
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(to_hex(&[0, 1, 0xab, 0xff]), "0001abff");
        assert_eq!(from_hex("0001ABff"), Some(vec![0, 1, 0xab, 0xff]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex(""), Some(vec![]));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(s in any::<String>()) {
            let _ = BootParams::parse(&s);
        }

        #[test]
        fn never_panics_on_qp_like_words(
            words in proptest::collection::vec(
                ("(qp\\.slot|qp\\.verity\\.root|qp\\.verity\\.salt|qp\\.verity\\.data_blocks|x)", "[=]?", "[0-9a-fA-Z\\-+é]{0,70}"),
                0..8,
            )
        ) {
            let s: Vec<String> = words.into_iter().map(|(a, b, c)| format!("{a}{b}{c}")).collect();
            let _ = BootParams::parse(&s.join(" "));
        }

        #[test]
        fn valid_lines_round_trip(slot in "[a-z]", root in proptest::array::uniform32(any::<u8>()),
                                  salt in proptest::collection::vec(any::<u8>(), 0..64), blocks in 1u64..(u64::MAX / 8)) {
            let salt_text = if salt.is_empty() { "-".to_owned() } else { to_hex(&salt) };
            let l = format!("qp.verity.data_blocks={blocks} a=b qp.verity.salt={salt_text} qp.slot={slot} qp.verity.root={}", to_hex(&root));
            let p = BootParams::parse(&l).unwrap();
            prop_assert_eq!(p, BootParams { slot, verity: VerityParams { root_hash: root, salt, data_blocks: blocks } });
        }
    }
}
