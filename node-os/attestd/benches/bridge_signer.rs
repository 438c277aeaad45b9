//! One TPM signature as the bridge makes it: `qp-node`'s `SocketSigner` → the signer socket →
//! `qp-attestd` → the TPM (swtpm here), against the same signature made in-process.
//! `cargo bench -p qp-attestd --bench bridge_signer` prints one JSON line per path.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code
use std::sync::Arc;
use std::time::Instant;

use qp_attestd::NodeTpm;
use qp_node_key::NodeSigner;

fn percentiles(name: &str, signer: &dyn NodeSigner, runs: usize) {
    let digest = qp_node_key::sha256(b"a TLS 1.3 transcript");
    for _ in 0..100 {
        signer.sign_digest(&digest).unwrap();
    }
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            signer.sign_digest(&digest).unwrap();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{{\"bench\": \"{name}\", \"runs\": {runs}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"p99_9_ms\": {:.3}}}",
        at(0.5),
        at(0.99),
        at(0.999)
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let swtpm = qp_tpm::swtpm::Swtpm::start().unwrap();
    let backend = Arc::new(qp_attestd::TpmBackend::open(&swtpm.tcti(), &dir.path().join("state")).unwrap());
    let socket = dir.path().join("signer.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let signer = backend.signer();
    std::thread::spawn(move || qp_node_key::serve_signer(listener, signer));
    let remote = qp_node_key::SocketSigner::connect(&socket).unwrap();
    let runs = std::env::var("QP_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    percentiles("tpm_sign_in_process", backend.signer().as_ref(), runs);
    percentiles("tpm_sign_through_signer_socket", &remote, runs);
}
