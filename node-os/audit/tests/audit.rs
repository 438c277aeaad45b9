#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The audit trail: written, verified, and every kind of tampering caught and named.

use std::path::{Path, PathBuf};

use qp_audit::{
    AuditWriter, BrokenReason, EntryKind, FileKeySigner, NodeSigner, PublicKey, SealPolicy, read_entries, verify,
};
use qp_wire::{AssetId, Decision, ExecReport, ExecStatus, FrameBuf, OrderIntent, Side, TimeInForce};

fn keys(dir: &Path) -> (FileKeySigner, PathBuf) {
    let private = dir.join("audit.key");
    let public = dir.join("audit.pub");
    (FileKeySigner::generate(&private, &public).unwrap(), public)
}

fn decision(id: u64) -> FrameBuf {
    let decision = Decision::new(id, AssetId::from_wire(1), Side::Buy, 10 + id as i64, 6_100_000, 7);
    FrameBuf::encode(3, id, &decision)
}

/// A trail of one model, `frames` decisions and their intents and reports, sealed every `every`.
fn write_trail(dir: &Path, frames: u64, every: u32) -> (PathBuf, PublicKey) {
    let (signer, _) = keys(dir);
    let key = signer.public_key();
    let path = dir.join("trail.qpa");
    let model_file = dir.join("alpha.onnx");
    std::fs::write(&model_file, b"not really onnx, but bytes to measure").unwrap();
    let mut writer = AuditWriter::create(&path, 3, signer, SealPolicy { every_entries: every }).unwrap();
    let model = writer.measure_model_file(1, "alpha", &model_file).unwrap();
    for id in 0..frames {
        let decision = decision(id);
        writer.record_frame(10 + id, decision.as_frame_bytes(), Some(model)).unwrap();
        let decoded = qp_wire::decode_as::<Decision>(decision.as_frame_bytes()).unwrap();
        let intent = OrderIntent::new(id, decoded.payload, TimeInForce::ImmediateOrCancel);
        writer.record_frame(10 + id, FrameBuf::encode(3, id, &intent).as_frame_bytes(), None).unwrap();
        let report = ExecReport {
            intent_id: id.into(),
            asset: 1u32.into(),
            side: Side::Buy as u8,
            status: ExecStatus::Filled as u8,
            _pad: 0u16.into(),
            last_qty: 5i64.into(),
            last_price: 6_100_000i64.into(),
            cum_qty: 5i64.into(),
            leaves_qty: 0i64.into(),
        };
        writer.record_frame(10 + id, FrameBuf::encode(3, id, &report).as_frame_bytes(), None).unwrap();
    }
    writer.finish(999).unwrap();
    (path, key)
}

#[test]
fn a_written_trail_verifies_against_its_pinned_key() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key) = write_trail(dir.path(), 20, 16);
    let bytes = std::fs::read(&path).unwrap();
    let report = verify(&bytes, Some(&key)).unwrap();
    assert_eq!(report.node_id, 3);
    assert_eq!(report.models, 1);
    assert_eq!(report.frames, 60);
    assert_eq!(report.seals, 61 / 16 + 1, "every 16 unsealed entries, then one at finish");
    assert_eq!(report.unsealed_entries, 0);
    assert_eq!(report.entries, report.models + report.frames + report.seals);
    let pinned = PublicKey::load_pem(&dir.path().join("audit.pub")).unwrap();
    assert_eq!(pinned, key);

    let (_, entries) = read_entries(&bytes, None).unwrap();
    let (model_digest, name) = entries[0].model().unwrap();
    assert_eq!(name, "alpha");
    assert_eq!(model_digest, qp_audit_sha(&std::fs::read(dir.path().join("alpha.onnx")).unwrap()));
    let (model, frame) = entries[1].frame().unwrap();
    assert_eq!(model, Some(0), "the decision names the model entry that made it");
    assert_eq!(qp_wire::decode_as::<Decision>(frame).unwrap().payload.decision_id.get(), 0);
}

fn qp_audit_sha(bytes: &[u8]) -> [u8; 32] {
    // The test recomputes with an independent tool: sha256sum.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m");
    std::fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new("sha256sum").arg(&file).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.split_whitespace().next().unwrap();
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    digest
}

#[test]
fn flipping_any_single_byte_is_caught_and_the_broken_entry_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key) = write_trail(dir.path(), 6, 4);
    let bytes = std::fs::read(&path).unwrap();
    let (_, entries) = read_entries(&bytes, Some(&key)).unwrap();
    let entry_at = |offset: usize| entries.iter().rev().find(|entry| entry.offset <= offset).map(|entry| entry.seq);
    for offset in 0..bytes.len() {
        for mask in [0x01u8, 0x80] {
            let mut tampered = bytes.clone();
            tampered[offset] ^= mask;
            let err = verify(&tampered, Some(&key)).expect_err(&format!("flip at byte {offset} went unseen"));
            let expected = if offset < qp_audit::FILE_HEADER_BYTES { None } else { entry_at(offset) };
            // A flipped header breaks the header or entry 0's link; a flipped entry is named itself.
            match expected {
                None => assert!(err.entry.is_none() || err.entry == Some(0), "byte {offset}: {err}"),
                Some(seq) => assert_eq!(err.entry, Some(seq), "byte {offset}: {err}"),
            }
        }
    }
}

#[test]
fn truncation_reordering_and_splicing_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key) = write_trail(dir.path(), 6, 4);
    let bytes = std::fs::read(&path).unwrap();
    let (_, entries) = read_entries(&bytes, Some(&key)).unwrap();

    // A torn last entry (a crash mid-write) is named, not skipped.
    let torn = &bytes[..bytes.len() - 5];
    let err = verify(torn, Some(&key)).unwrap_err();
    assert!(matches!(err.reason, BrokenReason::Truncated { .. }), "{err}");
    assert_eq!(err.entry, Some(entries.last().unwrap().seq));

    // Cutting whole entries off the end leaves a valid chain with an unsealed tail, reported.
    let last_seal = entries.iter().rev().find(|entry| entry.kind == EntryKind::Seal).unwrap();
    let cut = entries.iter().find(|entry| entry.seq == last_seal.seq - 1).unwrap().offset;
    let report = verify(&bytes[..cut], Some(&key)).unwrap();
    assert!(report.unsealed_entries > 0, "entries after the previous seal are reported unsealed");

    // Dropping an entry from the middle breaks the next one's link.
    let (a, b) = (entries[2].offset, entries[3].offset);
    let spliced: Vec<u8> = bytes[..a].iter().chain(&bytes[b..]).copied().collect();
    let err = verify(&spliced, Some(&key)).unwrap_err();
    assert_eq!(err.entry, Some(2));
    assert_eq!(err.reason, BrokenReason::LinkBroken);
}

#[test]
fn a_trail_signed_by_another_key_is_refused_when_the_key_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_trail(dir.path(), 3, 0);
    let other = tempfile::tempdir().unwrap();
    let (other_signer, _) = keys(other.path());
    let bytes = std::fs::read(&path).unwrap();
    let err = verify(&bytes, Some(&other_signer.public_key())).unwrap_err();
    assert_eq!(err.reason, BrokenReason::UnexpectedKey);
    assert!(verify(&bytes, None).is_ok(), "unpinned, the file's own key vouches for integrity only");
}

#[test]
fn hostile_bytes_give_errors_never_panics() {
    assert_eq!(verify(b"", None).unwrap_err().reason, BrokenReason::Truncated { needed: 80, available: 0 });
    assert_eq!(verify(&[0u8; 200], None).unwrap_err().reason, BrokenReason::NotAnAuditTrail);
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_trail(dir.path(), 2, 0);
    let bytes = std::fs::read(&path).unwrap();
    let mut random = qp_seeded_random::SplitMix64::new(7);
    for _ in 0..2_000 {
        let mut garbled = bytes.clone();
        for _ in 0..1 + random.next_u64() % 8 {
            let at = (random.next_u64() as usize) % garbled.len();
            garbled[at] = random.next_u64() as u8;
        }
        let cut = (random.next_u64() as usize) % (garbled.len() + 1);
        let _ = verify(&garbled[..cut], None);
    }
}

#[test]
fn key_files_are_private_and_never_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = keys(dir.path());
    let mode = std::fs::metadata(dir.path().join("audit.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let err = FileKeySigner::generate(&dir.path().join("audit.key"), &dir.path().join("x.pub")).unwrap_err();
    assert!(err.to_string().contains("audit.key"), "{err}");
    let err = FileKeySigner::load(&dir.path().join("audit.pub")).unwrap_err();
    assert!(err.to_string().contains("audit.pub"), "{err}");
    assert!(
        AuditWriter::create(
            &dir.path().join("audit.key"),
            1,
            FileKeySigner::load(&dir.path().join("audit.key")).unwrap(),
            SealPolicy::default()
        )
        .is_err(),
        "never overwrites"
    );
}
