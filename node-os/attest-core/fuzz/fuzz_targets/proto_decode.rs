//! Bytes into the attestation wire protocol's decoders, as requests and as responses, whole and
//! split (`qp_attest_core::attest_proto::fuzz_harness`, which the crate's corpus test also runs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = qp_attest_core::attest_proto::fuzz_harness(data) {
        panic!("{broken}");
    }
});
