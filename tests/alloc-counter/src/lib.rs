//! A global allocator that counts, for the tests proving that hot paths
//! allocate nothing after warm-up. The project's one `unsafe impl GlobalAlloc`.
//!
//! A test binary installs it with
//! `#[global_allocator] static GLOBAL: CountingAllocator = CountingAllocator;`
//! and compares [`allocations_on_this_thread`] (work done on the test's own thread) or
//! [`allocations`] (work spread over threads) before and after the measured work. The
//! process-wide count includes the test harness's own threads, which may allocate now and
//! then under load; so a single-threaded path is measured on its thread, and a test that needs
//! the process-wide count has a binary of its own (tests of one binary run in parallel and
//! would count each other).
#![allow(unsafe_code)] // implementing GlobalAlloc is unsafe by definition

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const-initialized and without a destructor: touching it never allocates, so the allocator
    // may use it.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    // `try_with`: during a thread's teardown the slot may be gone; that allocation is not ours.
    let _ = THREAD_ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

/// The system allocator, counting allocations and reallocations.
#[derive(Debug)]
pub struct CountingAllocator;

// SAFETY: every method forwards to the system allocator with the caller's own
// arguments, so System's guarantees hold unchanged; counting touches only an atomic and a
// const-initialized thread-local cell, neither of which allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's: `layout` has non-zero size.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from System with this `layout` (we allocate only through System).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` came from System with `layout`; `new_size` is the caller's, non-zero.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (and reallocations) so far, by every thread of the process.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// Allocations (and reallocations) so far by the calling thread.
pub fn allocations_on_this_thread() -> u64 {
    THREAD_ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}
