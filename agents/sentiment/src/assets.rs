//! Which assets a text is about: cashtags (`$AAPL`), bare tickers (`AAPL`) and
//! the alias table (`Deutsche Bank` → `DB`, `European banks` → `EU_BANKS`).
//! The table is data (`data/aliases.toml`), not code. A text naming no known
//! asset is about the whole market ([`MARKET_SYMBOL`]).
use std::collections::HashMap;

use qp_wire::{AssetId, AssetRegistry, RegistryError};
use serde::Deserialize;

/// The asset of market-wide signals.
pub const MARKET_SYMBOL: &str = "MARKET";
/// Most assets reported for one text; further mentions are ignored.
pub const MAX_ASSETS_PER_TEXT: usize = 8;
/// Most words of one text looked at for asset names.
pub const MAX_WORDS: usize = 160;
/// The alias table that ships with SentimentX.
pub const EMBEDDED_ALIASES: &str = include_str!("../data/aliases.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasFile {
    #[serde(default)]
    asset: Vec<AliasEntry>,
    #[serde(default)]
    group: Vec<AliasEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasEntry {
    symbol: String,
    aliases: Vec<String>,
}

/// Why an alias table was refused.
#[derive(Debug, thiserror::Error)]
pub enum AliasError {
    #[error("alias table {source_name}: {message}")]
    Parse { source_name: String, message: String },
    #[error("alias table {source_name}: {0}", .source)]
    Registry { source_name: String, source: RegistryError },
    #[error("alias table {source_name}: alias {alias:?} names both {first} and {second}")]
    Ambiguous { source_name: String, alias: String, first: String, second: String },
    #[error("alias table {source_name}: {symbol}: alias {alias:?} has no words")]
    EmptyAlias { source_name: String, symbol: String, alias: String },
}

/// Words of `text` as ASCII-lowercase-comparable slices: runs of alphanumerics,
/// a leading `$` kept (cashtags). Non-ASCII characters separate words.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '$' || c == '&' || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty() && *w != "$")
}

/// FNV-1a of the ASCII-lowercased bytes: a map key computed without allocating.
fn lowercase_hash(word: &str) -> u64 {
    word.bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x100_0000_01b3))
}

#[derive(Debug)]
struct Phrase {
    /// Lower-case words; the first is the map key.
    words: Vec<String>,
    asset: AssetId,
}

/// The compiled alias table.
#[derive(Debug)]
pub struct AliasTable {
    /// First word's hash → phrases starting with it, longest first.
    phrases: HashMap<u64, Vec<Phrase>>,
    /// Symbol (upper case) hash → asset, for `$sym` and bare upper-case `SYM`.
    symbols: HashMap<u64, (String, AssetId)>,
    market: AssetId,
}

impl AliasTable {
    /// The shipped table, registering its symbols in `registry`.
    pub fn embedded(registry: &mut AssetRegistry) -> Result<Self, AliasError> {
        Self::from_toml(EMBEDDED_ALIASES, "embedded", registry)
    }

    /// Parse a table; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str, registry: &mut AssetRegistry) -> Result<Self, AliasError> {
        let name = || source_name.to_owned();
        let file: AliasFile = toml::from_str(text)
            .map_err(|e| AliasError::Parse { source_name: name(), message: e.to_string().trim().replace('\n', " ") })?;
        let market =
            registry.intern(MARKET_SYMBOL).map_err(|source| AliasError::Registry { source_name: name(), source })?;
        let mut phrases: HashMap<u64, Vec<Phrase>> = HashMap::new();
        let mut symbols = HashMap::new();
        let mut owner: HashMap<String, String> = HashMap::new();
        for entry in file.asset.iter().chain(&file.group) {
            let asset = registry
                .intern(&entry.symbol)
                .map_err(|source| AliasError::Registry { source_name: name(), source })?;
            symbols.insert(lowercase_hash(&entry.symbol), (entry.symbol.clone(), asset));
            for alias in &entry.aliases {
                let words: Vec<String> = words(alias).map(str::to_ascii_lowercase).collect();
                let Some(first) = words.first() else {
                    return Err(AliasError::EmptyAlias {
                        source_name: name(),
                        symbol: entry.symbol.clone(),
                        alias: alias.clone(),
                    });
                };
                let key = words.join(" ");
                if let Some(previous) = owner.insert(key.clone(), entry.symbol.clone())
                    && previous != entry.symbol
                {
                    return Err(AliasError::Ambiguous {
                        source_name: name(),
                        alias: key,
                        first: previous,
                        second: entry.symbol.clone(),
                    });
                }
                phrases.entry(lowercase_hash(first)).or_default().push(Phrase { words, asset });
            }
        }
        for candidates in phrases.values_mut() {
            candidates.sort_by_key(|p| std::cmp::Reverse(p.words.len()));
        }
        Ok(Self { phrases, symbols, market })
    }

    /// The asset market-wide signals are attributed to.
    pub fn market(&self) -> AssetId {
        self.market
    }

    /// The assets `text` names, in order of first mention, without duplicates,
    /// into `out`; answers how many. A text naming none yields the market.
    /// Allocates nothing. Only the first [`MAX_WORDS`] words are looked at
    /// (a 280-character text has at most 140).
    pub fn assets_in(&self, text: &str, out: &mut [AssetId; MAX_ASSETS_PER_TEXT]) -> usize {
        let mut all: [&str; MAX_WORDS] = [""; MAX_WORDS];
        let mut count = 0;
        for (slot, word) in all.iter_mut().zip(words(text)) {
            *slot = word;
            count += 1;
        }
        let words = &all[..count];
        let mut found = 0;
        let mut at = 0;
        while at < words.len() {
            let word = words[at];
            let (asset, consumed) = if let Some(cashtag) = word.strip_prefix('$') {
                (self.symbol(cashtag).filter(|(s, _)| s.eq_ignore_ascii_case(cashtag)).map(|(_, a)| a), 1)
            } else if let Some((_, asset)) = self.symbol(word).filter(|(s, _)| s.len() >= 2 && *s == word) {
                (Some(asset), 1)
            } else {
                let ahead = &words[at..];
                let phrase = self.phrases.get(&lowercase_hash(word)).and_then(|candidates| {
                    candidates.iter().find(|p| {
                        p.words.len() <= ahead.len()
                            && p.words.iter().zip(ahead).all(|(a, b)| a.eq_ignore_ascii_case(b))
                    })
                });
                phrase.map_or((None, 1), |p| (Some(p.asset), p.words.len()))
            };
            if let Some(asset) = asset
                && found < MAX_ASSETS_PER_TEXT
                && !out[..found].contains(&asset)
            {
                out[found] = asset;
                found += 1;
            }
            at += consumed;
        }
        if found == 0 {
            out[0] = self.market;
            found = 1;
        }
        found
    }

    fn symbol(&self, word: &str) -> Option<(&str, AssetId)> {
        self.symbols.get(&lowercase_hash(word)).map(|(s, a)| (s.as_str(), *a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = r#"
[[asset]]
symbol = "DB"
aliases = ["Deutsche Bank"]
[[asset]]
symbol = "AAPL"
aliases = ["Apple"]
[[asset]]
symbol = "BTCUSDT"
aliases = ["Bitcoin", "BTC"]
[[group]]
symbol = "EU_BANKS"
aliases = ["European banks", "euro zone banks"]
"#;

    fn table() -> (AliasTable, AssetRegistry) {
        let mut registry = AssetRegistry::new();
        let table = AliasTable::from_toml(TABLE, "test", &mut registry).unwrap();
        (table, registry)
    }

    fn symbols(text: &str) -> Vec<String> {
        let (table, registry) = table();
        let mut out = [AssetId::from_wire(0); MAX_ASSETS_PER_TEXT];
        let n = table.assets_in(text, &mut out);
        out[..n].iter().map(|id| registry.symbol(*id).unwrap().to_owned()).collect()
    }

    #[test]
    fn finds_cashtags_tickers_aliases_and_groups() {
        assert_eq!(symbols("$AAPL - Deutsche Bank cuts target"), ["AAPL", "DB"]);
        assert_eq!(symbols("deutsche bank and European Banks rally; $aapl flat"), ["DB", "EU_BANKS", "AAPL"]);
        assert_eq!(symbols("AAPL beats, Apple shares up"), ["AAPL"]);
        assert_eq!(symbols("bitcoin slides as BTC miners sell"), ["BTCUSDT"]);
        assert_eq!(symbols("Stocks rally as Fed holds rates"), ["MARKET"]);
        // A lower-case common word equal to a ticker is not the ticker.
        assert_eq!(symbols("db migration finished"), ["MARKET"]);
        assert_eq!(symbols("Deutsche Börse is not Deutsche Bank"), ["DB"]);
    }

    #[test]
    fn bad_tables_are_refused_with_their_name() {
        let mut registry = AssetRegistry::new();
        let err =
            AliasTable::from_toml("[[asset]]\nsymbol = \"x y\"\naliases = []\n", "a.toml", &mut registry).unwrap_err();
        assert!(err.to_string().starts_with("alias table a.toml: asset symbol \"x y\" is invalid"), "{err}");
        let twice =
            "[[asset]]\nsymbol = \"A1\"\naliases = [\"Acme\"]\n[[asset]]\nsymbol = \"B1\"\naliases = [\"acme\"]\n";
        let err = AliasTable::from_toml(twice, "a.toml", &mut registry).unwrap_err();
        assert_eq!(err.to_string(), "alias table a.toml: alias \"acme\" names both A1 and B1");
        let err = AliasTable::from_toml("[[asset]]\nsymbol = 3\n", "a.toml", &mut registry).unwrap_err();
        assert!(err.to_string().starts_with("alias table a.toml: "), "{err}");
    }
}

#[cfg(test)]
mod embedded_table_tests {
    use super::*;

    #[test]
    fn the_shipped_table_loads_and_resolves_names_groups_and_crypto() {
        let mut registry = AssetRegistry::new();
        let table = AliasTable::embedded(&mut registry).unwrap();
        assert!(registry.len() > 200, "{} assets", registry.len());
        let mut out = [AssetId::from_wire(0); MAX_ASSETS_PER_TEXT];
        let mut symbols = |text: &str| {
            let n = table.assets_in(text, &mut out);
            out[..n].iter().map(|id| registry.symbol(*id).unwrap_or("?").to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(symbols("Deutsche Bank shares slide as European banks sell off"), ["DB", "EU_BANKS"]);
        assert_eq!(symbols("$TSLA: Goldman Sachs sees more downside for Tesla")[0], "TSLA");
        assert_eq!(symbols("Bitcoin fails to break $109K resistance"), ["BTCUSDT"]);
        assert_eq!(symbols("Fed's Barkin says rate cuts could come soon"), ["MARKET"]);
    }
}
