//! `verify_evidence` on realistic evidence: a 40-event log (decoded and replayed), a quote and a
//! certification, each signature verified (ECDSA P-256). Target: p99 ≤ 20 ms.
//!
//! Besides criterion's estimate, prints one JSON line with p50/p99/p99.9 over 10,000 timed calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group};
use qp_attest_core::golden::GoldenValues;
use qp_attest_verify::{EnrolledNode, EvidenceParts, verify_evidence};

#[path = "../tests/soft_evidence/mod.rs"]
mod soft_evidence;
use soft_evidence::{Make, NONCE, SoftNode, golden};

/// The tests' good evidence: a node in software, its 40-event image log, a quote and a
/// certification over [`NONCE`].
fn fixture() -> (EnrolledNode, EvidenceParts, GoldenValues) {
    let node = SoftNode::new();
    (node.enrolled(), Make::good(&node).evidence(), golden())
}

fn bench(c: &mut Criterion) {
    let (enrolled, evidence, golden) = fixture();
    assert!(verify_evidence(&enrolled, &NONCE, &evidence, &golden).pass);
    c.bench_function("verify_evidence_40_events", |b| {
        b.iter(|| verify_evidence(black_box(&enrolled), black_box(&NONCE), black_box(&evidence), black_box(&golden)))
    });
}

fn percentiles() {
    let (enrolled, evidence, golden) = fixture();
    const CALLS: usize = 10_000;
    let mut nanos = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        let verdict =
            verify_evidence(black_box(&enrolled), black_box(&NONCE), black_box(&evidence), black_box(&golden));
        nanos.push(start.elapsed().as_nanos() as u64);
        assert!(verdict.pass);
    }
    nanos.sort_unstable();
    let at = |q: f64| nanos[((CALLS as f64 * q) as usize).min(CALLS - 1)] as f64 / 1e6;
    println!(
        "{{\"bench\":\"verify_evidence_40_events\",\"calls\":{CALLS},\"p50_ms\":{:.4},\"p99_ms\":{:.4},\"p99_9_ms\":{:.4},\"max_ms\":{:.4},\"target_p99_ms\":20}}",
        at(0.50),
        at(0.99),
        at(0.999),
        nanos[CALLS - 1] as f64 / 1e6
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    percentiles();
    Criterion::default().configure_from_args().final_summary();
}
