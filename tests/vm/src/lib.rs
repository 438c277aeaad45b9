//! The image tests live in `tests/vm.rs` (one test binary); this library is empty.
