//! Bytes into the DHCP decoder, a client waiting for an OFFER and one waiting for an ACK
//! (`qp_init::dhcp::fuzz_harness`, which the crate's corpus test also runs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = qp_init::dhcp::fuzz_harness(data) {
        panic!("{broken}");
    }
});
