//! Order-flow imbalance (Cont, Kukanov & Stoikov 2014), in integers.
use qp_book::BookRead;

/// Best bid and ask with their sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopOfBook {
    pub bid_price: i64,
    pub bid_qty: i64,
    pub ask_price: i64,
    pub ask_qty: i64,
}

impl TopOfBook {
    /// The book's top; `None` unless both sides have a level.
    pub fn of<B: BookRead + ?Sized>(book: &B) -> Option<Self> {
        let bid = book.best_bid()?;
        let ask = book.best_ask()?;
        Some(Self { bid_price: bid.price, bid_qty: bid.qty, ask_price: ask.price, ask_qty: ask.qty })
    }
}

/// The order-flow contribution of one best-quote change from `prev` to `cur`:
///
/// e = 1{Pb ≥ Pb'}·qb − 1{Pb ≤ Pb'}·qb' − 1{Pa ≤ Pa'}·qa + 1{Pa ≥ Pa'}·qa'
///
/// (primed = previous). Positive = buying pressure: bid size added or the bid
/// improving, ask size taken or the ask retreating.
pub fn ofi_increment(prev: &TopOfBook, cur: &TopOfBook) -> i64 {
    let mut e = 0i64;
    if cur.bid_price >= prev.bid_price {
        e = e.saturating_add(cur.bid_qty);
    }
    if cur.bid_price <= prev.bid_price {
        e = e.saturating_sub(prev.bid_qty);
    }
    if cur.ask_price <= prev.ask_price {
        e = e.saturating_sub(cur.ask_qty);
    }
    if cur.ask_price >= prev.ask_price {
        e = e.saturating_add(prev.ask_qty);
    }
    e
}

/// OFI over a sliding window of feed time: the sum of the increments of the
/// best-quote changes with `ts_ns > now_ns − window_ns`. The window holds at
/// most `capacity` increments (allocated once); past that the oldest leave
/// early and are counted in [`OrderFlowImbalance::evicted_early`].
#[derive(Debug, Clone)]
pub struct OrderFlowImbalance {
    window_ns: u64,
    prev: Option<TopOfBook>,
    entries: Box<[(u64, i64)]>,
    head: usize,
    len: usize,
    sum: i64,
    evicted_early: u64,
}

impl OrderFlowImbalance {
    /// `capacity` must be at least 1.
    pub fn new(window_ns: u64, capacity: usize) -> Self {
        Self {
            window_ns,
            prev: None,
            entries: vec![(0, 0); capacity.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
            sum: 0,
            evicted_early: 0,
        }
    }

    /// Observe the top of book after an update at `now_ns`. Returns the
    /// increment when the best quotes changed (`None` when they did not, or on
    /// the first observation). `None` for `top` (a side empty) forgets the
    /// previous top: the next change starts afresh.
    pub fn observe(&mut self, now_ns: u64, top: Option<TopOfBook>) -> Option<i64> {
        self.expire(now_ns);
        let Some(cur) = top else {
            self.prev = None;
            return None;
        };
        let prev = self.prev.replace(cur)?;
        if prev == cur {
            return None;
        }
        let e = ofi_increment(&prev, &cur);
        self.push(now_ns, e);
        Some(e)
    }

    /// OFI over the window as of the last observation.
    pub fn ofi(&self) -> i64 {
        self.sum
    }

    /// OFI over the window at `now_ns` (drops what has aged out first).
    pub fn ofi_at(&mut self, now_ns: u64) -> i64 {
        self.expire(now_ns);
        self.sum
    }

    /// Increments that left the window early because it was full.
    pub fn evicted_early(&self) -> u64 {
        self.evicted_early
    }

    /// Forget everything (book resync).
    pub fn reset(&mut self) {
        self.prev = None;
        self.head = 0;
        self.len = 0;
        self.sum = 0;
    }

    fn push(&mut self, ts_ns: u64, e: i64) {
        if self.len == self.entries.len() {
            self.pop_front();
            self.evicted_early += 1;
        }
        let slot = (self.head + self.len) % self.entries.len();
        self.entries[slot] = (ts_ns, e);
        self.len += 1;
        self.sum = self.sum.saturating_add(e);
    }

    fn pop_front(&mut self) {
        let (_, e) = self.entries[self.head];
        self.sum = self.sum.saturating_sub(e);
        self.head = (self.head + 1) % self.entries.len();
        self.len -= 1;
    }

    fn expire(&mut self, now_ns: u64) {
        while self.len > 0 {
            let (ts_ns, _) = self.entries[self.head];
            if ts_ns.saturating_add(self.window_ns) > now_ns {
                break;
            }
            self.pop_front();
        }
    }
}
