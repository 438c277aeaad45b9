//! Fuzz the bridge protocol's receiving side: bytes into a `CloudConnection` or a
//! `LocalConnection`, before or after a valid hello, with writes and timer ticks between
//! chunks. The body and its invariants are in `../harness/bridge_records.rs`, which the
//! crate's tests also run (on stable, over the seed corpus and mutations of it).
#![no_main]

#[path = "../harness/bridge_records.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run(data));
