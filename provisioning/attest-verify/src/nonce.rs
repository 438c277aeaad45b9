//! Fresh nonces: each quote is over a nonce the verifier issued, redeemed once, soon.
use std::collections::{HashMap, VecDeque};

/// How long an issued nonce stays redeemable by default.
pub const DEFAULT_LIFETIME_MS: u64 = 60_000;
/// How many nonces are remembered by default (the oldest is forgotten first).
pub const DEFAULT_CAPACITY: usize = 4096;

/// A nonce was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    #[error("the nonce was not issued here (or was forgotten to bound memory)")]
    Unknown,
    #[error("the nonce was already redeemed (a replayed quote)")]
    Replayed,
    #[error("the nonce is {age_ms} ms old, over its {lifetime_ms} ms lifetime")]
    Expired { age_ms: u64, lifetime_ms: u64 },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    issued_ms: u64,
    sequence: u64,
    redeemed: bool,
}

/// The nonces a verifier issued and their redemptions. Bounded: at most `capacity` are
/// remembered, the oldest forgotten first (a forgotten nonce is [`NonceError::Unknown`]).
#[derive(Debug)]
pub struct NonceBook {
    entries: HashMap<[u8; 32], Entry>,
    order: VecDeque<([u8; 32], u64)>,
    next_sequence: u64,
    lifetime_ms: u64,
    capacity: usize,
}

impl Default for NonceBook {
    fn default() -> Self {
        Self::new(DEFAULT_LIFETIME_MS, DEFAULT_CAPACITY)
    }
}

impl NonceBook {
    /// A book whose nonces live `lifetime_ms` and that remembers at most `capacity` (at least 1).
    pub fn new(lifetime_ms: u64, capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_sequence: 0,
            lifetime_ms,
            capacity: capacity.max(1),
        }
    }

    /// Issues `random` (32 bytes from the caller's CSPRNG) as a nonce at `now_unix_ms`.
    pub fn issue(&mut self, random: [u8; 32], now_unix_ms: u64) -> [u8; 32] {
        while self.order.len() >= self.capacity {
            self.forget_oldest();
        }
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.entries.insert(random, Entry { issued_ms: now_unix_ms, sequence, redeemed: false });
        self.order.push_back((random, sequence));
        random
    }

    /// Redeems `nonce` at `now_unix_ms`: once, within its lifetime.
    pub fn redeem(&mut self, nonce: &[u8; 32], now_unix_ms: u64) -> Result<(), NonceError> {
        let lifetime_ms = self.lifetime_ms;
        let entry = self.entries.get_mut(nonce).ok_or(NonceError::Unknown)?;
        if entry.redeemed {
            return Err(NonceError::Replayed);
        }
        entry.redeemed = true;
        let age_ms = now_unix_ms.saturating_sub(entry.issued_ms);
        if age_ms > lifetime_ms {
            return Err(NonceError::Expired { age_ms, lifetime_ms });
        }
        Ok(())
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn forget_oldest(&mut self) {
        if let Some((nonce, sequence)) = self.order.pop_front()
            && self.entries.get(&nonce).is_some_and(|entry| entry.sequence == sequence)
        {
            self.entries.remove(&nonce);
        }
    }
}
