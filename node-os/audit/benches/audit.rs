#![allow(clippy::expect_used)] // bench code: a bench that cannot set up should stop loudly
//! What the audit trail costs: one frame appended (hash, link, buffered write) and one seal
//! (ECDSA P-256 with the file key, flush).

use criterion::{Criterion, criterion_group, criterion_main};
use qp_audit::{AuditWriter, FileKeySigner, SealPolicy};
use qp_wire::{AssetId, Decision, FrameBuf, Side};

fn audit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let signer = FileKeySigner::generate(&dir.path().join("k"), &dir.path().join("k.pub")).expect("key");
    let mut writer =
        AuditWriter::create(&dir.path().join("trail"), 1, signer, SealPolicy { every_entries: 0 }).expect("trail");
    let frame = FrameBuf::encode(1, 7, &Decision::new(7, AssetId::from_wire(1), Side::Buy, 10, 6_100_000, 1));
    let mut time = 0u64;
    c.bench_function("audit_record_frame", |b| {
        b.iter(|| {
            time += 1;
            writer.record_frame(time, frame.as_frame_bytes(), None).expect("append")
        })
    });
    c.bench_function("audit_seal", |b| {
        b.iter(|| {
            time += 1;
            writer.seal(time).expect("seal")
        })
    });
}

criterion_group!(benches, audit);
criterion_main!(benches);
