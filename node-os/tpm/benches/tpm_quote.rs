#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code
//! Latency of the rare attestation operations against swtpm (plain `Instant` timing, p50/p99):
//! `AttestationKey::quote` over PCR 15, `certify`, `activate_credential` (EK + policy session each
//! time) and `SealedSecret::unseal` (primary, load, policy session, VerifySignature, …). Kept apart
//! from `tpm_sign` so the signer's figures stay comparable.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use p256::ecdsa::signature::hazmat::PrehashSigner;
use qp_node_key::sha256;
use qp_tpm::swtpm::{LocalCa, Swtpm};
use qp_tpm::{AttestationKey, PCR_PRODUCT, PolicyApproval, SealedSecret, Tpm, TpmSigner};

fn report(what: &str, samples: usize, mut run: impl FnMut()) {
    for _ in 0..samples.min(20) {
        run();
    }
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    let at = |q: f64| times[((samples as f64 * q) as usize).min(samples - 1)].as_secs_f64() * 1e3;
    println!(
        "{what}: {samples} calls on swtpm: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        at(0.50),
        at(0.99),
        times[samples - 1].as_secs_f64() * 1e3
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let ca = LocalCa::create(&dir.path().join("ca")).unwrap();
    let swtpm = Swtpm::start_with_ek(&ca).unwrap_or_else(|err| panic!("{err}"));
    let tpm = Arc::new(Tpm::open(&swtpm.tcti()).unwrap());
    tpm.pcr_extend(PCR_PRODUCT, sha256(b"bench")).unwrap();
    let ak = AttestationKey::create(Arc::clone(&tpm), &dir.path().join("ak.tpmkey")).unwrap();
    let signer = TpmSigner::create(Arc::clone(&tpm), &dir.path().join("node.tpmkey")).unwrap();
    let nonce = sha256(b"nonce");

    report("quote (PCR 15)", 500, || {
        black_box(ak.quote(black_box(&nonce), &[PCR_PRODUCT]).unwrap());
    });
    report("certify (identity key)", 500, || {
        black_box(ak.certify(&signer, black_box(&nonce)).unwrap());
    });
    let (blob, secret) = tpm.make_credential(&tpm.ek_public_area().unwrap(), &ak.name(), &nonce).unwrap();
    report("activate_credential", 50, || {
        black_box(ak.activate_credential(&blob, &secret).unwrap());
    });

    // swtpm has no resource manager and 3 object slots: sealing needs the primary and a slot for
    // the new object, so the AK and the identity key are unloaded first.
    drop((ak, signer));
    let key = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
    let authority: [u8; 65] = key.verifying_key().to_encoded_point(false).as_bytes().try_into().unwrap();
    let sealed = dir.path().join("vault.sealed");
    SealedSecret::seal(&tpm, &authority, b"bench", b"secret", &sealed).unwrap();
    let approved_policy = qp_tpm::policy_pcr_digest(&[PCR_PRODUCT], &[tpm.pcr_read(PCR_PRODUCT).unwrap()]);
    let signature: p256::ecdsa::Signature =
        key.sign_prehash(&qp_tpm::approval_digest(&approved_policy, b"bench")).unwrap();
    let approval = PolicyApproval {
        pcrs: vec![PCR_PRODUCT],
        approved_policy,
        signature: signature.to_bytes().into(),
        authority_public: authority,
        policy_ref: b"bench".to_vec(),
    };
    report("unseal (authorized PCR policy)", 50, || {
        black_box(SealedSecret::unseal(&tpm, &sealed, &approval).unwrap());
    });
}
