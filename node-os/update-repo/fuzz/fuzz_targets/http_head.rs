//! A repository server's HTTP response head into the node's loopback transport's parser
//! (`qp_update_repo::http_head_fuzz_harness`, which the crate's corpus test also runs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = qp_update_repo::http_head_fuzz_harness(data) {
        panic!("{broken}");
    }
});
