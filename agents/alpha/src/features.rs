//! [`AlphaFeatures`]: per-asset state kept from the frames the Decide stage sees, and the
//! fixed feature vector the model reads.
//!
//! The same code runs online (inside [`crate::DecideAgent`]) and offline (`qpctl forge
//! alpha` builds its training rows by handing the replayed frames to an `AlphaFeatures`), so
//! what the model was trained on and what it is served cannot drift apart.
//!
//! # Time
//!
//! Every feature runs on **feed time**, the time the frames carry (`Quote::feed_ts_ns`,
//! `BookSignal::observed_ts_ns`, `BlockPrint::print_ts_ns`, `SentimentSignal::source_ts_ns`,
//! the later of a `Confirmed`'s two times), never on the loop's clock: the features of a
//! replay are the same however fast it runs. Each asset keeps its own clock, the latest feed
//! time any of its frames carried; features are read at that clock. A frame older than the
//! clock (prints carry the exchange's time, a little behind the receive time) counts as
//! arriving at the clock.
//!
//! # Features
//!
//! | # | name | what | scaling |
//! |---|---|---|---|
//! | 0 | `sentiment` | Σ (score/10)·(confidence/10⁴) of the asset's sentiment signals, decayed with a 60 s half-life | clipped to ±4 |
//! | 1 | `sentiment_confidence` | Σ confidence/10⁴ of the same signals, same decay: how much recent news there is | clipped to 4 |
//! | 2 | `confirmed` | Σ (score/10)·(confidence/10⁴) of `Confirmed` frames (sentiment the book agreed with in time), 10 s half-life | clipped to ±4 |
//! | 3 | `ofi` | Σ order-flow imbalance `magnitude_bp`/10⁴ (AlphaScanner's `Imbalance` signals), 1 s half-life | clipped to ±4 |
//! | 4 | `liquidity` | Σ signed liquidity-drop `magnitude_bp`/10⁴ (negative: bid depth vanished), 1 s half-life | clipped to ±4 |
//! | 5 | `blocks` | Σ ±1 per DarkPoolScan print (+ buyer-initiated, − seller-initiated), 2 s half-life, /4 | clipped to ±4 |
//! | 6 | `ret_500ms` | mid return over the last 0.5 s, bp, /2 | clipped to ±8 |
//! | 7 | `ret_2s` | mid return over 2 s, bp, /4 | clipped to ±8 |
//! | 8 | `ret_5s` | mid return over 5 s, bp, /6 | clipped to ±8 |
//! | 9 | `vol_5s` | √Σ of squared 100 ms mid returns over 5 s, bp, /4 | clipped to 8 |
//! | 10 | `spread` | (ask − bid)/mid, bp, /2 | clipped to 8 |
//! | 11 | `queue_imbalance` | (bid size − ask size)/(bid size + ask size) at the top of book | −1 ..= 1 |
//!
//! The scales put every feature within a few units of zero, which the native int8 kernel
//! needs (it quantizes the input vector with one scale); the forge folds the training set's
//! remaining mean and spread into the first layer. Mid returns come from `Quote` frames: the
//! last mid in each 100 ms bucket of feed time, carried forward over buckets without a quote,
//! 64 buckets (6.4 s) kept. Re-published quotes with an unchanged top change nothing. Before
//! a window's worth of history exists, that window's return is 0; an asset without a quote
//! has 0 for features 6–11.
use qp_wire::{AssetId, BookSignalKind, FrameRef, Side};

/// Length of the feature vector.
pub const FEATURE_COUNT: usize = 12;

/// The features' names, in vector order (for reports and the model card).
pub const FEATURE_NAMES: [&str; FEATURE_COUNT] = [
    "sentiment",
    "sentiment_confidence",
    "confirmed",
    "ofi",
    "liquidity",
    "blocks",
    "ret_500ms",
    "ret_2s",
    "ret_5s",
    "vol_5s",
    "spread",
    "queue_imbalance",
];

/// One feature vector.
pub type FeatureVector = [f32; FEATURE_COUNT];

/// Width of a mid-price bucket.
pub const BUCKET_NS: u64 = 100_000_000;
/// Buckets of mid history kept per asset (6.4 s).
const BUCKETS: usize = 64;

const SECOND_NS: u64 = 1_000_000_000;
const SENTIMENT_HALF_LIFE_NS: u64 = 60 * SECOND_NS;
const CONFIRMED_HALF_LIFE_NS: u64 = 10 * SECOND_NS;
const BOOK_HALF_LIFE_NS: u64 = SECOND_NS;
const BLOCK_HALF_LIFE_NS: u64 = 2 * SECOND_NS;
/// Return windows, in buckets: 0.5 s, 2 s, 5 s.
const RETURN_BUCKETS: [usize; 3] = [5, 20, 50];
const RETURN_SCALES: [f32; 3] = [2.0, 4.0, 6.0];
/// Buckets the volatility feature sums over (5 s).
const VOL_BUCKETS: usize = 50;

/// A sum of events that halves every `half_life` of feed time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Decayed {
    value: f32,
    at_ns: u64,
}

impl Decayed {
    fn value_at(self, now_ns: u64, half_life_ns: u64) -> f32 {
        if self.value == 0.0 || now_ns <= self.at_ns {
            return self.value;
        }
        let half_lives = (now_ns - self.at_ns) as f64 / half_life_ns as f64;
        if half_lives > 60.0 {
            return 0.0;
        }
        self.value * (-half_lives as f32).exp2()
    }

    fn add(&mut self, amount: f32, at_ns: u64, half_life_ns: u64) {
        let at_ns = at_ns.max(self.at_ns);
        self.value = self.value_at(at_ns, half_life_ns) + amount;
        self.at_ns = at_ns;
    }
}

/// The last quote of an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopOfBook {
    pub bid_price: i64,
    pub bid_qty: i64,
    pub ask_price: i64,
    pub ask_qty: i64,
    pub feed_ts_ns: u64,
}

impl TopOfBook {
    /// The mid price in ticks (as a float: half ticks kept).
    pub fn mid(&self) -> f64 {
        (self.bid_price as f64 + self.ask_price as f64) / 2.0
    }
}

#[derive(Debug, Clone)]
struct AssetState {
    /// Latest feed time of any frame for this asset.
    clock_ns: u64,
    sentiment: Decayed,
    sentiment_confidence: Decayed,
    confirmed: Decayed,
    ofi: Decayed,
    liquidity: Decayed,
    blocks: Decayed,
    top: Option<TopOfBook>,
    /// ln(mid) per bucket, ring indexed by bucket number modulo [`BUCKETS`].
    log_mids: [f64; BUCKETS],
    last_bucket: u64,
    /// Buckets of the ring holding history (at most [`BUCKETS`]).
    filled: usize,
}

impl Default for AssetState {
    fn default() -> Self {
        Self {
            clock_ns: 0,
            sentiment: Decayed::default(),
            sentiment_confidence: Decayed::default(),
            confirmed: Decayed::default(),
            ofi: Decayed::default(),
            liquidity: Decayed::default(),
            blocks: Decayed::default(),
            top: None,
            log_mids: [0.0; BUCKETS],
            last_bucket: 0,
            filled: 0,
        }
    }
}

impl AssetState {
    fn tick(&mut self, ts_ns: u64) -> u64 {
        self.clock_ns = self.clock_ns.max(ts_ns);
        self.clock_ns
    }

    fn on_mid(&mut self, ts_ns: u64, mid: f64) {
        let log_mid = mid.ln();
        let bucket = ts_ns / BUCKET_NS;
        if self.filled == 0 {
            self.log_mids[slot(bucket)] = log_mid;
            self.last_bucket = bucket;
            self.filled = 1;
            return;
        }
        if bucket > self.last_bucket {
            let carried = self.log_mids[slot(self.last_bucket)];
            let gap = (bucket - self.last_bucket).min(BUCKETS as u64);
            for step in 1..gap {
                self.log_mids[slot(bucket - gap + step)] = carried;
            }
            self.filled = (self.filled + gap as usize).min(BUCKETS);
            self.last_bucket = bucket;
        }
        // Same bucket (or an out-of-order quote): the latest mid is the bucket's.
        self.log_mids[slot(self.last_bucket)] = log_mid;
    }

    /// Mid return over `buckets` buckets, in bp; 0 without that much history.
    fn return_bp(&self, buckets: usize) -> f64 {
        if self.filled <= buckets {
            return 0.0;
        }
        let now = self.log_mids[slot(self.last_bucket)];
        let then = self.log_mids[slot(self.last_bucket - buckets as u64)];
        (now - then) * 1e4
    }

    fn volatility_bp(&self) -> f64 {
        let steps = VOL_BUCKETS.min(self.filled.saturating_sub(1));
        let mut sum = 0.0;
        for back in 0..steps as u64 {
            let later = self.log_mids[slot(self.last_bucket - back)];
            let earlier = self.log_mids[slot(self.last_bucket - back - 1)];
            let r = (later - earlier) * 1e4;
            sum += r * r;
        }
        sum.sqrt()
    }
}

fn slot(bucket: u64) -> usize {
    (bucket % BUCKETS as u64) as usize
}

fn clip(value: f32, limit: f32) -> f32 {
    if value.is_nan() { 0.0 } else { value.clamp(-limit, limit) }
}

/// What a frame was to the features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A frame the features do not read (an execution report).
    Ignored,
    /// A quote for `asset` at feed time `feed_ts_ns`.
    Quote { asset: AssetId, feed_ts_ns: u64 },
    /// A `Confirmed` for `asset`: the joined signal; `ref_price` is its book signal's reference price.
    Confirmed { asset: AssetId, ref_price: i64 },
    /// A sentiment, book signal or print for `asset`.
    Signal { asset: AssetId },
}

impl Observed {
    /// The asset the frame was about, if any.
    pub fn asset(self) -> Option<AssetId> {
        match self {
            Observed::Ignored => None,
            Observed::Quote { asset, .. } | Observed::Confirmed { asset, .. } | Observed::Signal { asset } => {
                Some(asset)
            }
        }
    }
}

/// A frame the features cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    #[error("asset {0} is beyond the {1} assets the features were sized for")]
    UnknownAsset(u32, usize),
    #[error("frame type {0:?} is not an input of the Decide stage")]
    UnexpectedFrame(qp_wire::FrameType),
}

/// Per-asset feature state, sized once (asset ids `1..=max_assets`); nothing allocates after
/// [`AlphaFeatures::new`].
#[derive(Debug, Clone)]
pub struct AlphaFeatures {
    assets: Vec<AssetState>,
}

impl AlphaFeatures {
    /// State for asset ids `1..=max_assets`.
    pub fn new(max_assets: usize) -> Self {
        Self { assets: vec![AssetState::default(); max_assets + 1] }
    }

    fn state_mut(&mut self, asset: AssetId) -> Result<&mut AssetState, FeatureError> {
        let len = self.assets.len();
        self.assets
            .get_mut(asset.get() as usize)
            .filter(|_| asset.get() != 0)
            .ok_or(FeatureError::UnknownAsset(asset.get(), len.saturating_sub(1)))
    }

    fn state(&self, asset: AssetId) -> Option<&AssetState> {
        self.assets.get(asset.get() as usize).filter(|_| asset.get() != 0)
    }

    /// Update the state from one frame the Decide stage sees.
    pub fn observe(&mut self, frame: &FrameRef<'_>) -> Result<Observed, FeatureError> {
        match frame {
            FrameRef::Quote(f) => {
                let q = f.payload;
                let (asset, ts) = (q.asset(), q.feed_ts_ns.get());
                let state = self.state_mut(asset)?;
                let now = state.tick(ts);
                let top = TopOfBook {
                    bid_price: q.bid_price.get(),
                    bid_qty: q.bid_qty.get(),
                    ask_price: q.ask_price.get(),
                    ask_qty: q.ask_qty.get(),
                    feed_ts_ns: ts,
                };
                state.top = Some(top);
                state.on_mid(now, top.mid());
                Ok(Observed::Quote { asset, feed_ts_ns: ts })
            }
            FrameRef::Sentiment(f) => {
                let s = f.payload;
                let asset = s.asset();
                let state = self.state_mut(asset)?;
                let now = state.tick(s.source_ts_ns.get());
                let confidence = f32::from(s.confidence_bp.get()) / 1e4;
                state.sentiment.add(f32::from(s.score) / 10.0 * confidence, now, SENTIMENT_HALF_LIFE_NS);
                state.sentiment_confidence.add(confidence, now, SENTIMENT_HALF_LIFE_NS);
                Ok(Observed::Signal { asset })
            }
            FrameRef::Book(f) => {
                let b = f.payload;
                let asset = b.asset();
                let state = self.state_mut(asset)?;
                let now = state.tick(b.observed_ts_ns.get());
                let magnitude = b.magnitude_bp.get() as f32 / 1e4;
                match b.kind() {
                    Some(BookSignalKind::Imbalance) => state.ofi.add(magnitude, now, BOOK_HALF_LIFE_NS),
                    Some(BookSignalKind::LiquidityDrop) => state.liquidity.add(magnitude, now, BOOK_HALF_LIFE_NS),
                    // Spoofing (L3 feeds only) and hidden liquidity move no feature yet.
                    _ => {}
                }
                Ok(Observed::Signal { asset })
            }
            FrameRef::BlockPrint(f) => {
                let p = f.payload;
                let asset = p.asset();
                let state = self.state_mut(asset)?;
                let now = state.tick(p.print_ts_ns.get());
                let sign = match p.side() {
                    Some(Side::Buy) => 1.0,
                    _ => -1.0,
                };
                state.blocks.add(sign, now, BLOCK_HALF_LIFE_NS);
                Ok(Observed::Signal { asset })
            }
            FrameRef::Confirmed(f) => {
                let c = f.payload;
                let asset = c.asset();
                let state = self.state_mut(asset)?;
                let now = state.tick(c.sentiment_ts_ns.get().max(c.book_ts_ns.get()));
                let confidence = f32::from(c.confidence_bp.get()) / 1e4;
                state.confirmed.add(f32::from(c.score) / 10.0 * confidence, now, CONFIRMED_HALF_LIFE_NS);
                Ok(Observed::Confirmed { asset, ref_price: c.ref_price.get() })
            }
            FrameRef::ExecReport(_) => Ok(Observed::Ignored),
            other => Err(FeatureError::UnexpectedFrame(other.frame_type())),
        }
    }

    /// The asset's feature vector at its clock. An asset never seen gives zeros.
    pub fn features(&self, asset: AssetId, out: &mut FeatureVector) {
        *out = [0.0; FEATURE_COUNT];
        let Some(s) = self.state(asset) else { return };
        let now = s.clock_ns;
        out[0] = clip(s.sentiment.value_at(now, SENTIMENT_HALF_LIFE_NS), 4.0);
        out[1] = clip(s.sentiment_confidence.value_at(now, SENTIMENT_HALF_LIFE_NS), 4.0);
        out[2] = clip(s.confirmed.value_at(now, CONFIRMED_HALF_LIFE_NS), 4.0);
        out[3] = clip(s.ofi.value_at(now, BOOK_HALF_LIFE_NS), 4.0);
        out[4] = clip(s.liquidity.value_at(now, BOOK_HALF_LIFE_NS), 4.0);
        out[5] = clip(s.blocks.value_at(now, BLOCK_HALF_LIFE_NS) / 4.0, 4.0);
        let Some(top) = s.top else { return };
        for (i, (&buckets, &scale)) in RETURN_BUCKETS.iter().zip(&RETURN_SCALES).enumerate() {
            out[6 + i] = clip(s.return_bp(buckets) as f32 / scale, 8.0);
        }
        out[9] = clip(s.volatility_bp() as f32 / 4.0, 8.0);
        let mid = top.mid();
        if mid > 0.0 {
            out[10] = clip(((top.ask_price - top.bid_price) as f64 / mid * 1e4) as f32 / 2.0, 8.0);
        }
        let depth = top.bid_qty.saturating_add(top.ask_qty);
        if depth > 0 {
            out[11] = clip(((top.bid_qty - top.ask_qty) as f64 / depth as f64) as f32, 1.0);
        }
    }

    /// The asset's last quote.
    pub fn top(&self, asset: AssetId) -> Option<TopOfBook> {
        self.state(asset).and_then(|s| s.top)
    }

    /// The asset's clock: the latest feed time its frames carried (0 before any).
    pub fn clock_ns(&self, asset: AssetId) -> u64 {
        self.state(asset).map_or(0, |s| s.clock_ns)
    }
}
