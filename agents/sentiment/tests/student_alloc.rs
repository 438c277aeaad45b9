//! `NativeStudent::predict` (tokenization and hashing included) must not allocate.
//!
//! A `#[global_allocator]` counts every allocation of every thread in the
//! process, so this check lives in its own test binary (its own process) with
//! a single test: in a shared test binary, tests running in parallel would
//! allocate and be counted.

use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};

use qp_sentiment::features::{FeatureConfig, Featurizer};
use qp_sentiment::student::{EmbeddingScales, NativeStudent, QuantBits, StudentScratch, StudentWeights, quantize_with};

/// The system allocator, counting allocations and reallocations.
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
    let before = allocations_on_this_thread();
    drop(std::hint::black_box(vec![0u8; 16]));
    assert!(allocations_on_this_thread() > before, "counting allocator is not installed");

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
        let before = allocations_on_this_thread();
        for i in 0..calls {
            let text = if i % 97 == 0 { long_text.as_str() } else { TEXTS[i % TEXTS.len()] };
            checksum += student.predict(text, &mut scratch)[i % 3];
        }
        let allocations = allocations_on_this_thread() - before;
        assert_eq!(allocations, 0, "{student:?} allocated {allocations} times");
    }
    // The featurizer alone, all 100,000 calls.
    let mut buf = qp_sentiment::features::FeatureBuf::new();
    let before = allocations_on_this_thread();
    for i in 0..PREDICTS {
        featurizer.extract(TEXTS[i % TEXTS.len()], &mut buf);
        checksum += buf.len() as f32;
    }
    assert_eq!(allocations_on_this_thread() - before, 0, "the featurizer allocated");
    assert!(checksum.is_finite());
}
