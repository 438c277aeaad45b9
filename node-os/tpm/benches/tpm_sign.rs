#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code
//! One `TpmSigner::sign_digest` against swtpm (criterion), and p50/p99 over 2,000 signatures
//! with plain `Instant` timing, printed first.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use qp_node_key::{NodeSigner, sha256};
use qp_tpm::swtpm::Swtpm;
use qp_tpm::{Tpm, TpmSigner};

const SAMPLES: usize = 2_000;

fn percentiles(signer: &TpmSigner) {
    let digest = sha256(b"percentiles");
    for _ in 0..50 {
        signer.sign_digest(&digest).unwrap();
    }
    let mut times: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            black_box(signer.sign_digest(black_box(&digest)).unwrap());
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    let at = |q: f64| times[((SAMPLES as f64 * q) as usize).min(SAMPLES - 1)];
    println!(
        "tpm_sign: {SAMPLES} ECDSA P-256 signatures on swtpm, one context: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        times[SAMPLES - 1].as_secs_f64() * 1e3,
    );
}

fn main() {
    let swtpm = Swtpm::start().unwrap_or_else(|err| panic!("{err}"));
    let dir = tempfile::tempdir().unwrap();
    let tpm = Tpm::open(&swtpm.tcti()).unwrap();
    let signer = TpmSigner::create(tpm, &dir.path().join("node.tpmkey")).unwrap();
    percentiles(&signer);

    let mut criterion = Criterion::default().configure_from_args();
    let digest = sha256(b"criterion");
    criterion.bench_function("tpm_sign_digest_swtpm", |b| b.iter(|| signer.sign_digest(black_box(&digest)).unwrap()));
    criterion.final_summary();
}
