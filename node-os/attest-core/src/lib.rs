//! Attestation's protocol core, with no I/O and no `unsafe`: what the node's PID 1 (a static
//! binary), its TPM service and the operator's verifier share.
//!
//! - [`log`]: the measurement event log (what was extended into which PCR), strict and bounded,
//!   because a verifier replays logs a peer sends.
//! - [`golden`]: an image's golden values (the log and PCR value its PID 1 will produce).
//! - [`pcr_command`]: TPM2_PCR_Extend and TPM2_PCR_Read as bytes, for PID 1, which is a static
//!   binary and cannot link the TSS: it writes them to `/dev/tpmrm0` itself.
//! - [`policy`]: sealing policy arithmetic (PolicyPCR, PolicyAuthorize, the release key's
//!   approval and its file), so the release process and the verifier need no TPM.
//! - [`tpm_struct`]: TPM 2.0 structures a verifier reads (TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC),
//!   strict bounded decoders and encoders.
//! - [`attest_proto`]: the wire protocol between the verifier (`qpctl`) and the node's TPM service
//!   (`qp-attestd`), sans I/O.
//! - [`vault_socket`]: the node's binaries asking the TPM service to unseal a vault secret.
//!
//! Design: `DESIGN.md`.
#![forbid(unsafe_code)]

pub mod attest_proto;
pub mod golden;
pub mod log;
pub mod pcr_command;
pub mod policy;
pub mod tpm_struct;
pub mod vault_socket;

/// A SHA-256 digest.
pub type Digest32 = [u8; 32];

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest32 {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// A PCR's value after extending it with `digest`: SHA-256(`old` ‖ `digest`).
pub fn pcr_extend_value(old: &Digest32, digest: &Digest32) -> Digest32 {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(old);
    hasher.update(digest);
    hasher.finalize().into()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

/// The fuzz harness of `fuzz/fuzz_targets/log_decode.rs` (the crate's tests run it too): `bytes` as
/// an encoded measurement log and as golden values. What decodes must re-encode to what decodes to
/// the same value. `Err` names a broken invariant.
pub fn log_fuzz_harness(bytes: &[u8]) -> Result<(), String> {
    if let Ok(log) = log::MeasurementLog::decode(bytes) {
        if log.encode().as_bytes() != bytes {
            return Err("measurement log: decoding is not canonical".to_owned());
        }
        let _ = log.replay(15, [0; 32]);
    }
    if let Ok(golden) = golden::GoldenValues::from_json(bytes) {
        let again = golden::GoldenValues::from_json(golden.to_json().as_bytes())
            .map_err(|err| format!("golden values do not re-decode: {err}"))?;
        if again != golden {
            return Err("golden values: the round trip changed the value".to_owned());
        }
    }
    Ok(())
}
