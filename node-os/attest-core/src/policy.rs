//! Sealing policy arithmetic, no TPM needed: what the release process computes to approve an
//! image's PCR values, what a sealed object's authPolicy is, and the release key's approval as a
//! file (`approval.json`).
//!
//! A vault secret is sealed to `PolicyAuthorize(release key, policy_ref)`. The release key approves
//! an image by signing (ECDSA P-256 over a SHA-256 prehash) [`approval_digest`]`(policy_pcr_digest(
//! [15], [the image's golden PCR 15]), policy_ref)`. A node holding the approval of the image it
//! booted unseals; an update brings a new approval, so nothing is resealed.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::tpm_struct::name_of;
use crate::{Digest32, hex};

/// TPM_CC_PolicyPCR.
const TPM_CC_POLICY_PCR: u32 = 0x0000_017F;
/// TPM_CC_PolicyAuthorize.
const TPM_CC_POLICY_AUTHORIZE: u32 = 0x0000_016A;
/// TPMA_OBJECT of the authority key as a TPM loads it: `sign` (bit 18) only.
const AUTHORITY_ATTRIBUTES: u32 = 0x0004_0000;
/// What [`policy_pcr_digest`] returns for a PCR list no TPM takes: all ones, which a policy session
/// would reach only by a SHA-256 preimage.
pub const UNREACHABLE_POLICY: Digest32 = [0xFF; 32];
/// The most a policy reference may hold (a SHA-256 digest's size, which every TPM takes).
pub const MAX_POLICY_REF: usize = 32;
/// The most a sealed secret may hold (the TPM's MAX_SYM_DATA).
pub const MAX_SEALED_SECRET: usize = 128;
/// The largest `approval.json` read.
pub const MAX_APPROVAL_JSON: usize = 4096;

/// Whether `pcrs` is a PCR list a TPM takes: not empty, each below 24, none twice.
pub fn pcr_list_ok(pcrs: &[u8]) -> bool {
    let mut seen = 0u32;
    !pcrs.is_empty()
        && pcrs.iter().all(|&pcr| {
            let fresh = pcr < 24 && seen & (1 << pcr) == 0;
            if pcr < 24 {
                seen |= 1 << pcr;
            }
            fresh
        })
}

/// The policy digest TPM2_PolicyPCR gives from a fresh session when `pcrs` (SHA-256 bank) hold
/// `values` (`values[i]` is PCR `pcrs[i]`'s value; any order, the TPM's is ascending):
/// `SHA-256(0³² ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION ‖ SHA-256(values in ascending PCR order))`.
///
/// For a list no TPM takes, or not one value per PCR, the result is [`UNREACHABLE_POLICY`], a
/// digest no policy session reaches (approving it opens nothing).
pub fn policy_pcr_digest(pcrs: &[u8], values: &[Digest32]) -> Digest32 {
    if !pcr_list_ok(pcrs) || pcrs.len() != values.len() {
        return UNREACHABLE_POLICY;
    }
    let mut pairs: Vec<(u8, &Digest32)> = pcrs.iter().copied().zip(values).collect();
    pairs.sort_unstable_by_key(|(pcr, _)| *pcr);
    let mut bitmap = [0u8; 3];
    let mut values_hash = Sha256::new();
    for (pcr, value) in pairs {
        bitmap[usize::from(pcr / 8)] |= 1 << (pcr % 8);
        values_hash.update(value);
    }
    let mut hash = Sha256::new();
    hash.update([0u8; 32]);
    hash.update(TPM_CC_POLICY_PCR.to_be_bytes());
    // TPML_PCR_SELECTION: count 1, TPMS_PCR_SELECTION { hash SHA-256, sizeofSelect 3, bitmap }.
    hash.update(1u32.to_be_bytes());
    hash.update(0x000Bu16.to_be_bytes());
    hash.update([3u8]);
    hash.update(bitmap);
    hash.update(values_hash.finalize());
    hash.finalize().into()
}

/// The Name a TPM gives the authority key `public` (uncompressed SEC1 P-256) when it loads it
/// public-only: `0x000B ‖ SHA-256(`[`authority_public_area`]`)`. The leading 0x04 is not checked here.
pub fn authority_name(public: &[u8; 65]) -> Vec<u8> {
    name_of(&authority_public_area(public))
}

/// The authority key's public area as the TPM loads it (marshalled TPMT_PUBLIC): ECC, nameAlg
/// SHA-256, attributes `sign` only, empty authPolicy, no symmetric algorithm, scheme ECDSA-SHA256,
/// curve NIST P-256, no KDF, unique = (X, Y).
pub fn authority_public_area(public: &[u8; 65]) -> Vec<u8> {
    let mut area = Vec::with_capacity(90);
    area.extend_from_slice(&0x0023u16.to_be_bytes()); // TPM_ALG_ECC
    area.extend_from_slice(&0x000Bu16.to_be_bytes()); // nameAlg SHA-256
    area.extend_from_slice(&AUTHORITY_ATTRIBUTES.to_be_bytes());
    area.extend_from_slice(&0u16.to_be_bytes()); // authPolicy: empty
    area.extend_from_slice(&0x0010u16.to_be_bytes()); // symmetric: TPM_ALG_NULL
    area.extend_from_slice(&0x0018u16.to_be_bytes()); // scheme: TPM_ALG_ECDSA
    area.extend_from_slice(&0x000Bu16.to_be_bytes()); //   with SHA-256
    area.extend_from_slice(&0x0003u16.to_be_bytes()); // curve: TPM_ECC_NIST_P256
    area.extend_from_slice(&0x0010u16.to_be_bytes()); // kdf: TPM_ALG_NULL
    for coordinate in [&public[1..33], &public[33..65]] {
        area.extend_from_slice(&32u16.to_be_bytes());
        area.extend_from_slice(coordinate);
    }
    area
}

/// The policy digest of `TPM2_PolicyAuthorize(authority_name, policy_ref)`, a sealed object's
/// authPolicy: `SHA-256(SHA-256(0³² ‖ TPM_CC_PolicyAuthorize ‖ authority_name) ‖ policy_ref)`.
pub fn policy_authorize_digest(authority_name: &[u8], policy_ref: &[u8]) -> Digest32 {
    let inner = Sha256::new()
        .chain_update([0u8; 32])
        .chain_update(TPM_CC_POLICY_AUTHORIZE.to_be_bytes())
        .chain_update(authority_name)
        .finalize();
    Sha256::new().chain_update(inner).chain_update(policy_ref).finalize().into()
}

/// What the release key signs (ECDSA P-256, as a prehash) to approve `approved_policy`:
/// `aHash = SHA-256(approved_policy ‖ policy_ref)`.
pub fn approval_digest(approved_policy: &Digest32, policy_ref: &[u8]) -> Digest32 {
    Sha256::new().chain_update(approved_policy).chain_update(policy_ref).finalize().into()
}

/// TPMA_OBJECT of a sealed data object made in the TPM: fixedTPM | fixedParent | adminWithPolicy |
/// noDA (no userWithAuth: only a policy session opens it).
pub const SEALED_ATTRIBUTES: u32 = 0x0000_0002 | 0x0000_0010 | 0x0000_0080 | 0x0000_0400;
/// TPMA_OBJECT of a sealed data object wrapped by an operator and imported (TPM2_Import refuses
/// fixedTPM and fixedParent): adminWithPolicy | noDA. Duplicating it again needs the DUP role
/// through its authPolicy, that is an approval by the release key of a policy that allows
/// TPM2_Duplicate, which the release process never signs.
pub const IMPORTED_SEALED_ATTRIBUTES: u32 = 0x0000_0080 | 0x0000_0400;

/// The marshalled TPMT_PUBLIC of a sealed data object: KEYEDHASH, nameAlg SHA-256, `attributes`,
/// authPolicy `auth_policy`, scheme NULL, unique `unique` (= SHA-256(seedValue ‖ secret)).
pub fn sealed_public_area(attributes: u32, auth_policy: &Digest32, unique: &Digest32) -> Vec<u8> {
    let mut area = Vec::with_capacity(80);
    area.extend_from_slice(&0x0008u16.to_be_bytes()); // TPM_ALG_KEYEDHASH
    area.extend_from_slice(&0x000Bu16.to_be_bytes()); // nameAlg SHA-256
    area.extend_from_slice(&attributes.to_be_bytes());
    area.extend_from_slice(&32u16.to_be_bytes());
    area.extend_from_slice(auth_policy);
    area.extend_from_slice(&0x0010u16.to_be_bytes()); // scheme: TPM_ALG_NULL
    area.extend_from_slice(&32u16.to_be_bytes());
    area.extend_from_slice(unique);
    area
}

/// The release authority's approval of a PCR policy, which a node presents to its TPM to unseal.
/// `signature` is the ECDSA P-256 signature (r ‖ s, big-endian, 32 bytes each) by
/// `authority_public` over [`approval_digest`]`(approved_policy, policy_ref)`, and
/// `approved_policy` is [`policy_pcr_digest`] of `pcrs` with the values approved for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyApproval {
    pub pcrs: Vec<u8>,
    pub approved_policy: Digest32,
    pub signature: [u8; 64],
    pub authority_public: [u8; 65],
    pub policy_ref: Vec<u8>,
}

/// An approval as a file: the image it approves and the approval, hex-encoded (`approval.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageApproval {
    /// The image whose golden PCR values are approved (`<variant>-<version>-<root hash prefix>`).
    pub image_id: String,
    pub approval: PolicyApproval,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalFile {
    image_id: String,
    pcrs: Vec<u8>,
    approved_policy: String,
    policy_ref: String,
    authority_public: String,
    signature: String,
}

/// Why an `approval.json` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("approval: {0} bytes, over the {MAX_APPROVAL_JSON}-byte limit")]
    TooLarge(usize),
    #[error("approval: not the approval format: {0}")]
    Format(String),
    #[error("approval: {field} is not {expected}")]
    Field { field: &'static str, expected: &'static str },
}

fn unhex<const N: usize>(text: &str, field: &'static str, expected: &'static str) -> Result<[u8; N], ApprovalError> {
    unhex_vec(text, N, field, expected)?.try_into().map_err(|_| ApprovalError::Field { field, expected })
}

fn unhex_vec(text: &str, max: usize, field: &'static str, expected: &'static str) -> Result<Vec<u8>, ApprovalError> {
    let bad = || ApprovalError::Field { field, expected };
    if !text.len().is_multiple_of(2) || text.len() > 2 * max {
        return Err(bad());
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)
}

impl ImageApproval {
    /// The JSON form (pretty, one trailing newline).
    pub fn to_json(&self) -> String {
        let file = ApprovalFile {
            image_id: self.image_id.clone(),
            pcrs: self.approval.pcrs.clone(),
            approved_policy: hex(&self.approval.approved_policy),
            policy_ref: hex(&self.approval.policy_ref),
            authority_public: hex(&self.approval.authority_public),
            signature: hex(&self.approval.signature),
        };
        // A struct of strings and small integers always serializes.
        serde_json::to_string_pretty(&file).map(|text| text + "\n").unwrap_or_default()
    }

    /// Reads an approval strictly: bounded, no unknown fields, lower-case hex of the exact sizes,
    /// a PCR list a TPM takes, an image id of `[A-Za-z0-9._-]`. The signature is not checked here
    /// (the TPM checks it at unsealing; a node may check it first in software).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ApprovalError> {
        if bytes.len() > MAX_APPROVAL_JSON {
            return Err(ApprovalError::TooLarge(bytes.len()));
        }
        let file: ApprovalFile = serde_json::from_slice(bytes).map_err(|err| ApprovalError::Format(err.to_string()))?;
        if !crate::attest_proto::image_id_ok(file.image_id.as_bytes()) {
            return Err(ApprovalError::Field { field: "image_id", expected: "1-128 bytes of [A-Za-z0-9._-]" });
        }
        if !pcr_list_ok(&file.pcrs) {
            return Err(ApprovalError::Field { field: "pcrs", expected: "a list of distinct PCRs below 24" });
        }
        let authority_public: [u8; 65] =
            unhex(&file.authority_public, "authority_public", "65 bytes of hex (an uncompressed P-256 point)")?;
        if authority_public[0] != 0x04 {
            return Err(ApprovalError::Field {
                field: "authority_public",
                expected: "an uncompressed P-256 point (0x04 ...)",
            });
        }
        Ok(Self {
            image_id: file.image_id,
            approval: PolicyApproval {
                pcrs: file.pcrs,
                approved_policy: unhex(&file.approved_policy, "approved_policy", "32 bytes of hex")?,
                signature: unhex(&file.signature, "signature", "64 bytes of hex (r ‖ s)")?,
                authority_public,
                policy_ref: unhex_vec(&file.policy_ref, MAX_POLICY_REF, "policy_ref", "at most 32 bytes of hex")?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn pcr_policy_digests_are_order_independent_and_checked() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(policy_pcr_digest(&[15, 7], &[a, b]), policy_pcr_digest(&[7, 15], &[b, a]));
        assert_ne!(policy_pcr_digest(&[15, 7], &[a, b]), policy_pcr_digest(&[7, 15], &[a, b]));
        for (pcrs, values) in [(&[15u8][..], &[][..]), (&[15, 15], &[a, a]), (&[24], &[a]), (&[], &[])] {
            assert_eq!(policy_pcr_digest(pcrs, values), UNREACHABLE_POLICY);
        }
    }

    fn sample() -> ImageApproval {
        let mut authority_public = [7u8; 65];
        authority_public[0] = 0x04;
        ImageApproval {
            image_id: "local-0.1.0-0123456789abcdef".to_owned(),
            approval: PolicyApproval {
                pcrs: vec![15],
                approved_policy: [1; 32],
                signature: [2; 64],
                authority_public,
                policy_ref: b"vault".to_vec(),
            },
        }
    }

    #[test]
    fn approvals_round_trip_and_bad_fields_are_named() {
        let approval = sample();
        assert_eq!(ImageApproval::from_json(approval.to_json().as_bytes()).unwrap(), approval);
        let text = approval.to_json();
        for (from, to, field) in [
            ("\"pcrs\": [\n    15\n  ]", "\"pcrs\": [15, 15]", "pcrs"),
            (&hex(&[2u8; 64])[..], &hex(&[2u8; 63])[..], "signature"),
            (&hex(&[1u8; 32])[..], "XY", "approved_policy"),
            ("local-0.1.0", "local 0.1.0", "image_id"),
        ] {
            let bad = text.replacen(from, to, 1);
            assert_ne!(bad, text, "{field}");
            let err = ImageApproval::from_json(bad.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
        let extra = text.replacen('{', "{\"extra\": 1,", 1);
        assert!(matches!(ImageApproval::from_json(extra.as_bytes()), Err(ApprovalError::Format(_))));
        assert!(matches!(ImageApproval::from_json(&[b' '; 5000]), Err(ApprovalError::TooLarge(5000))));
    }

    #[test]
    fn sealed_public_areas_have_the_keyedhash_layout() {
        let area = sealed_public_area(IMPORTED_SEALED_ATTRIBUTES, &[3; 32], &[4; 32]);
        assert_eq!(area.len(), 2 + 2 + 4 + 34 + 2 + 34);
        assert_eq!(&area[..2], &[0, 8]);
    }
}
