//! The bridge protocol core (issue 8): no I/O.
#![forbid(unsafe_code)]
