//! `NativeStudent::predict` (tokenization and hashing included) must not allocate.
//!
//! A `#[global_allocator]` counts every allocation of every thread in the
//! process, so this check lives in its own test binary (its own process) with
//! a single test: in a shared test binary, tests running in parallel would
//! allocate and be counted.
#![allow(unsafe_code)] // GlobalAlloc is an unsafe trait; scoped to this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use qp_sentiment::features::{FeatureConfig, Featurizer};
use qp_sentiment::student::{EmbeddingScales, NativeStudent, QuantBits, StudentScratch, StudentWeights, quantize_with};

/// The system allocator, counting allocations and reallocations.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counter is an atomic.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded from our caller, who upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded from our caller, who upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr`/`layout` come from this allocator (hence `System`); the
        // caller upholds `GlobalAlloc::realloc`'s contract for `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const PREDICTS: usize = 100_000;

const TEXTS: [&str; 8] = [
    "$AAPL beats estimates, shares up 4.5% after hours https://t.co/abc",
    "Oil slumps as OPEC+ output rises; Brent at $71.20",
    "",
    "🚀🚀 $TSLA to the moon",
    "Fed holds rates steady, signals two cuts in 2025",
    "Ford recalls 10k vehicles — stock slips",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7 8 9",
    "Nvidia's record quarter: revenue $30B, guidance raised",
];

#[test]
fn native_predict_allocates_nothing_after_warm_up() {
    let features = FeatureConfig { buckets: 1 << 12, ..FeatureConfig::default() };
    let mut students = Vec::new();
    for (dim, hidden) in [(2, 0), (16, 16), (6, 4)] {
        let weights = StudentWeights::seeded(features, dim, hidden, 3, 0.5).unwrap();
        for bits in [QuantBits::Int8, QuantBits::Int4] {
            for scales in [EmbeddingScales::PerRow, EmbeddingScales::PerColumn] {
                let model = quantize_with(&weights, bits, scales);
                let bytes = model.to_onnx_bytes();
                students.push(NativeStudent::from_bytes(&bytes, std::path::Path::new("alloc.onnx")).unwrap());
            }
        }
    }
    // A text longer than the feature buffer, to cover truncation.
    let long_text = "ab ".repeat(400);
    let featurizer = Featurizer::new(features).unwrap();

    // The counter must see allocations, or a zero below would prove nothing.
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    drop(std::hint::black_box(vec![0u8; 16]));
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > before, "counting allocator is not installed");

    let mut scratch = StudentScratch::new();
    let mut checksum = 0.0f32;
    for (index, student) in students.iter().enumerate() {
        // Warm-up, outside the counted window.
        for text in TEXTS {
            checksum += student.predict(text, &mut scratch)[0];
        }
        // The shipped layout (2 columns, int8, column scales) gets the full
        // count; the other layouts a share each, to keep debug runs quick.
        let shipped = student.bits() == QuantBits::Int8 && index == 1;
        let calls = if shipped { PREDICTS } else { PREDICTS / 20 };
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for i in 0..calls {
            let text = if i % 97 == 0 { long_text.as_str() } else { TEXTS[i % TEXTS.len()] };
            checksum += student.predict(text, &mut scratch)[i % 3];
        }
        let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
        assert_eq!(allocations, 0, "{student:?} allocated {allocations} times");
    }
    // The featurizer alone, all 100,000 calls.
    let mut buf = qp_sentiment::features::FeatureBuf::new();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for i in 0..PREDICTS {
        featurizer.extract(TEXTS[i % TEXTS.len()], &mut buf);
        checksum += buf.len() as f32;
    }
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst) - before, 0, "the featurizer allocated");
    assert!(checksum.is_finite());
}
