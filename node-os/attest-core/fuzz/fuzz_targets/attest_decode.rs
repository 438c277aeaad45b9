//! Bytes into the TPM structure decoders: TPMS_ATTEST, TPMT_SIGNATURE and TPMT_PUBLIC
//! (`qp_attest_core::tpm_struct::fuzz_harness`, which the crate's corpus test also runs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = qp_attest_core::tpm_struct::fuzz_harness(data) {
        panic!("{broken}");
    }
});
