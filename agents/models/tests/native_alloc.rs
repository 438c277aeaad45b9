//! `NativeBackend::infer` must not allocate.
//!
//! A `#[global_allocator]` counts every allocation of every thread in the
//! process, so this check lives in its own test binary (its own process) with
//! a single test: in the shared test binary, tests running in parallel would
//! allocate and be counted.

use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};
use std::path::Path;

use qp_models::{Activation, ModelBackend, NativeBackend, NativePrecision, OnnxMlpBuilder, WeightStorage};

/// The system allocator, counting allocations and reallocations.
#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const INFERS: usize = 100_000;

#[test]
fn native_infer_allocates_nothing_after_warm_up() {
    // A small model keeps 4 x 100,000 infers quick in debug builds; the
    // property checked does not depend on size.
    let mut backends = Vec::new();
    for storage in [WeightStorage::F32, WeightStorage::Int8] {
        let bytes = OnnxMlpBuilder::seeded(&[16, 16, 4], Activation::Relu, Activation::Softmax, 11)
            .unwrap()
            .weight_storage(storage)
            .to_bytes()
            .unwrap();
        for precision in [NativePrecision::F32, NativePrecision::Int8] {
            backends.push(NativeBackend::from_bytes(&bytes, Path::new("alloc.onnx"), precision).unwrap());
        }
    }
    // The counter must see allocations, or a zero below would prove nothing.
    let before = allocations_on_this_thread();
    drop(std::hint::black_box(vec![0u8; 16]));
    assert!(allocations_on_this_thread() > before, "counting allocator is not installed");

    let mut input = vec![0.0f32; 16];
    let mut output = vec![0.0f32; 4];

    for backend in &mut backends {
        // Warm-up, outside the counted window.
        backend.infer(&input, &mut output).unwrap();

        let before = allocations_on_this_thread();
        for i in 0..INFERS {
            // Vary the input so no step is skipped by a constant pattern.
            input[i % 16] = (i % 97) as f32 * 0.01 - 0.5;
            backend.infer(&input, &mut output).unwrap();
        }
        let allocations = allocations_on_this_thread() - before;
        assert_eq!(allocations, 0, "{} allocated {allocations} times in {INFERS} infers", backend.backend_name());
        assert!(output.iter().all(|v| v.is_finite()));
    }
}
