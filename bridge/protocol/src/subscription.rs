//! The public asset universe a local node subscribes to: a small, bounded, canonical list
//! (sorted, distinct, nonzero asset ids), so two equal subscriptions are equal bytes.

use qp_wire::AssetId;

use crate::error::SubscriptionError;

/// Most assets one subscription may name.
pub const MAX_SUBSCRIPTION_ASSETS: usize = 64;
const ID_LEN: usize = 4;

/// A checked list of asset ids in wire form (little-endian `u32`, strictly increasing, none
/// zero), borrowed from a received record or from a [`Subscription`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AssetList<'a> {
    wire: &'a [u8],
}

impl<'a> AssetList<'a> {
    /// Read a subscription record's body: count (`u16`), two reserved bytes, the ids.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, SubscriptionError> {
        let Some((head, ids)) = body.split_first_chunk::<4>() else {
            return Err(SubscriptionError::LengthMismatch { count: 0, body_len: body.len() });
        };
        let count = usize::from(u16::from_le_bytes([head[0], head[1]]));
        if count > MAX_SUBSCRIPTION_ASSETS {
            return Err(SubscriptionError::TooManyAssets { count, max: MAX_SUBSCRIPTION_ASSETS });
        }
        if ids.len() != count * ID_LEN {
            return Err(SubscriptionError::LengthMismatch { count, body_len: body.len() });
        }
        let list = AssetList { wire: ids };
        let mut previous = 0u32;
        for (index, id) in list.iter().enumerate() {
            if id.get() == 0 {
                return Err(SubscriptionError::ZeroAsset { index });
            }
            if id.get() <= previous {
                return Err(SubscriptionError::NotSorted { index });
            }
            previous = id.get();
        }
        Ok(list)
    }

    /// Number of assets.
    pub fn len(&self) -> usize {
        self.wire.len() / ID_LEN
    }

    /// No assets.
    pub fn is_empty(&self) -> bool {
        self.wire.is_empty()
    }

    /// The assets, in increasing id order.
    pub fn iter(&self) -> impl Iterator<Item = AssetId> + use<'a> {
        self.wire.chunks_exact(ID_LEN).map(|id| AssetId::from_wire(u32::from_le_bytes([id[0], id[1], id[2], id[3]])))
    }

    pub(crate) fn wire_bytes(&self) -> &'a [u8] {
        self.wire
    }
}

impl std::fmt::Debug for AssetList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(AssetId::get)).finish()
    }
}

/// An owned subscription, fixed size (no allocation): what a local node asks for, and what
/// a cloud node last heard from its peer. Empty means no assets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    wire: [u8; MAX_SUBSCRIPTION_ASSETS * ID_LEN],
    len: usize,
}

impl Subscription {
    /// No assets.
    pub const EMPTY: Subscription = Subscription { wire: [0; MAX_SUBSCRIPTION_ASSETS * ID_LEN], len: 0 };

    /// A subscription to `assets`, in any order, repeats merged. Zero ids and more than
    /// [`MAX_SUBSCRIPTION_ASSETS`] entries are refused.
    pub fn new(assets: &[AssetId]) -> Result<Self, SubscriptionError> {
        if assets.len() > MAX_SUBSCRIPTION_ASSETS {
            return Err(SubscriptionError::TooManyAssets { count: assets.len(), max: MAX_SUBSCRIPTION_ASSETS });
        }
        let mut ids = [0u32; MAX_SUBSCRIPTION_ASSETS];
        for (index, (slot, asset)) in ids.iter_mut().zip(assets).enumerate() {
            if asset.get() == 0 {
                return Err(SubscriptionError::ZeroAsset { index });
            }
            *slot = asset.get();
        }
        let ids = &mut ids[..assets.len()];
        ids.sort_unstable();
        let mut subscription = Subscription::EMPTY;
        for &id in ids.iter() {
            if subscription.last().is_some_and(|last| last == id) {
                continue;
            }
            let at = subscription.len * ID_LEN;
            subscription.wire[at..at + ID_LEN].copy_from_slice(&id.to_le_bytes());
            subscription.len += 1;
        }
        Ok(subscription)
    }

    /// A copy of a received list.
    pub fn from_list(list: AssetList<'_>) -> Self {
        let mut subscription = Subscription::EMPTY;
        let bytes = list.wire_bytes();
        // A parsed list holds at most MAX_SUBSCRIPTION_ASSETS ids; `min` keeps this total anyway.
        let n = bytes.len().min(subscription.wire.len());
        subscription.wire[..n].copy_from_slice(&bytes[..n]);
        subscription.len = n / ID_LEN;
        subscription
    }

    /// The list, for encoding or reading.
    pub fn as_list(&self) -> AssetList<'_> {
        AssetList { wire: &self.wire[..self.len * ID_LEN] }
    }

    /// Number of assets.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No assets.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `asset` is subscribed (binary search).
    pub fn contains(&self, asset: AssetId) -> bool {
        let (mut low, mut high) = (0, self.len);
        while low < high {
            let middle = (low + high) / 2;
            let id = self.id_at(middle);
            match id.cmp(&asset.get()) {
                std::cmp::Ordering::Equal => return true,
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
            }
        }
        false
    }

    /// The assets, in increasing id order.
    pub fn iter(&self) -> impl Iterator<Item = AssetId> + '_ {
        self.as_list().iter()
    }

    fn id_at(&self, index: usize) -> u32 {
        let at = index * ID_LEN;
        u32::from_le_bytes([self.wire[at], self.wire[at + 1], self.wire[at + 2], self.wire[at + 3]])
    }

    fn last(&self) -> Option<u32> {
        self.len.checked_sub(1).map(|index| self.id_at(index))
    }
}

impl Default for Subscription {
    fn default() -> Self {
        Subscription::EMPTY
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Subscription").field(&self.as_list()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(values: &[u32]) -> Vec<AssetId> {
        values.iter().map(|&v| AssetId::from_wire(v)).collect()
    }

    #[test]
    fn a_subscription_is_sorted_and_distinct() {
        let subscription = Subscription::new(&ids(&[9, 3, 7, 3, 1])).unwrap();
        assert_eq!(subscription.iter().map(AssetId::get).collect::<Vec<_>>(), [1, 3, 7, 9]);
        assert!(subscription.contains(AssetId::from_wire(7)));
        assert!(!subscription.contains(AssetId::from_wire(8)));
        assert!(!Subscription::EMPTY.contains(AssetId::from_wire(1)));
    }

    #[test]
    fn bad_subscriptions_are_refused() {
        assert_eq!(Subscription::new(&ids(&[1, 0])), Err(SubscriptionError::ZeroAsset { index: 1 }));
        let too_many: Vec<u32> = (1..=65).collect();
        assert_eq!(
            Subscription::new(&ids(&too_many)),
            Err(SubscriptionError::TooManyAssets { count: 65, max: MAX_SUBSCRIPTION_ASSETS })
        );
    }

    #[test]
    fn lists_parse_only_in_canonical_form() {
        let body = |count: u16, values: &[u32]| {
            let mut bytes = count.to_le_bytes().to_vec();
            bytes.extend([0, 0]);
            values.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
            bytes
        };
        assert_eq!(AssetList::parse(&body(2, &[1, 5])).unwrap().len(), 2);
        assert_eq!(AssetList::parse(&body(2, &[5, 1])), Err(SubscriptionError::NotSorted { index: 1 }));
        assert_eq!(AssetList::parse(&body(2, &[1, 1])), Err(SubscriptionError::NotSorted { index: 1 }));
        assert_eq!(AssetList::parse(&body(1, &[0])), Err(SubscriptionError::ZeroAsset { index: 0 }));
        assert_eq!(
            AssetList::parse(&body(3, &[1, 2])),
            Err(SubscriptionError::LengthMismatch { count: 3, body_len: 12 })
        );
    }
}
