//! LOBSTER replay checks on the shared sample.
