use std::collections::HashMap;

/// Longest symbol the registry accepts.
pub const MAX_SYMBOL_LEN: usize = 24;

/// An interned asset: a number on the wire, a symbol in the registry.
/// 0 is never a valid id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetId(u32);

impl AssetId {
    /// The id as it travels on the wire.
    pub fn get(self) -> u32 {
        self.0
    }

    /// An id read from a frame. It may name no registered asset: look it up.
    pub fn from_wire(value: u32) -> Self {
        Self(value)
    }
}

/// Why a symbol cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("asset symbol {symbol:?} is invalid: use 1..={MAX_SYMBOL_LEN} of A-Z, 0-9, '_', '.', '-'")]
    InvalidSymbol { symbol: String },
    #[error("asset registry is full ({0} assets)")]
    Full(usize),
}

/// Maps symbols (`BTCUSDT`, `EU_BANKS`, `DB`) to dense ids, starting at 1.
/// Ids are dense so agents can keep per-asset state in plain arrays.
#[derive(Debug, Clone, Default)]
pub struct AssetRegistry {
    by_symbol: HashMap<Box<str>, AssetId>,
    symbols: Vec<Box<str>>,
}

impl AssetRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `symbol`, registering it if new.
    pub fn intern(&mut self, symbol: &str) -> Result<AssetId, RegistryError> {
        if let Some(&id) = self.by_symbol.get(symbol) {
            return Ok(id);
        }
        let valid = !symbol.is_empty()
            && symbol.len() <= MAX_SYMBOL_LEN
            && symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"_.-".contains(&b));
        if !valid {
            return Err(RegistryError::InvalidSymbol { symbol: symbol.to_owned() });
        }
        let next = u32::try_from(self.symbols.len() + 1).map_err(|_| RegistryError::Full(self.symbols.len()))?;
        let id = AssetId(next);
        self.symbols.push(symbol.into());
        self.by_symbol.insert(symbol.into(), id);
        Ok(id)
    }

    /// The id of a registered symbol.
    pub fn lookup(&self, symbol: &str) -> Option<AssetId> {
        self.by_symbol.get(symbol).copied()
    }

    /// The symbol of a registered id.
    pub fn symbol(&self, id: AssetId) -> Option<&str> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.symbols.get(index).map(|s| &**s)
    }

    /// Number of registered assets; ids run from 1 to this.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Registered `(id, symbol)` pairs in id order.
    pub fn iter(&self) -> impl Iterator<Item = (AssetId, &str)> {
        self.symbols.iter().enumerate().map(|(i, s)| (AssetId(i as u32 + 1), &**s))
    }
}
