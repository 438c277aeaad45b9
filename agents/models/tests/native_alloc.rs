//! `NativeBackend::infer` must not allocate.
//!
//! A `#[global_allocator]` counts every allocation of every thread in the
//! process, so this check lives in its own test binary (its own process) with
//! a single test: in the shared test binary, tests running in parallel would
//! allocate and be counted.
#![allow(unsafe_code)] // GlobalAlloc is an unsafe trait; scoped to this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use qp_models::{Activation, ModelBackend, NativeBackend, NativePrecision, OnnxMlpBuilder, WeightStorage};

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
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    drop(std::hint::black_box(vec![0u8; 16]));
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > before, "counting allocator is not installed");

    let mut input = vec![0.0f32; 16];
    let mut output = vec![0.0f32; 4];

    for backend in &mut backends {
        // Warm-up, outside the counted window.
        backend.infer(&input, &mut output).unwrap();

        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for i in 0..INFERS {
            // Vary the input so no step is skipped by a constant pattern.
            input[i % 16] = (i % 97) as f32 * 0.01 - 0.5;
            backend.infer(&input, &mut output).unwrap();
        }
        let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
        assert_eq!(allocations, 0, "{} allocated {allocations} times in {INFERS} infers", backend.backend_name());
        assert!(output.iter().all(|v| v.is_finite()));
    }
}
