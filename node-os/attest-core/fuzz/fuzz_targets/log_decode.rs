//! Bytes into `MeasurementLog::decode` and `GoldenValues::from_json`
//! (`qp_attest_core::log_fuzz_harness`, which the crate's corpus test also runs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = qp_attest_core::log_fuzz_harness(data) {
        panic!("{broken}");
    }
});
