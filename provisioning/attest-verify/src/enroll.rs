//! Enrollment: the operator learns a node's keys and proves they live in one genuine TPM.
//!
//! 1. The node sends its EK certificate and the public areas of its EK, AK and identity key.
//! 2. [`Enrollment::begin`] checks the EK certificate against the manufacturer's CAs, the AK's and
//!    the identity key's policies, and makes a credential (TPM2_MakeCredential) holding a fresh
//!    secret, for the AK's Name, that only this EK can open.
//! 3. The node's TPM activates it (TPM2_ActivateCredential), which it does only if the EK's private
//!    key is in it and the AK with that Name is loaded in it, and returns the secret.
//! 4. [`PendingEnrollment::finish`] compares the secret (in constant time): the AK is the TPM's.
use std::fmt;

use qp_attest_core::tpm_struct::PublicArea;
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq as _;

use crate::VerifyError;
use crate::credential::{Challenge, make_credential};
use crate::policy::{check_attestation_key, check_identity_key};

const FORMAT: &str = "qp-enrolled v1";
const MAX_NODE_NAME: usize = 128;

/// The enrollment flow's entry point.
#[derive(Debug)]
pub struct Enrollment;

/// An enrollment waiting for the node's answer to its challenge. Holds the secret; its `Debug`
/// does not print it.
pub struct PendingEnrollment {
    node: EnrolledNode,
    secret: [u8; 32],
}

impl fmt::Debug for PendingEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingEnrollment").field("node", &self.node.node).finish_non_exhaustive()
    }
}

/// A node whose TPM keys the operator enrolled.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "EnrolledJson", into = "EnrolledJson")]
pub struct EnrolledNode {
    /// The node's name in the fleet.
    pub node: String,
    /// Public areas (marshalled TPMT_PUBLIC).
    pub ek_public: Vec<u8>,
    pub ak_public: Vec<u8>,
    pub identity_public: Vec<u8>,
    pub ek_certificate_der: Vec<u8>,
    pub enrolled_at_unix: u64,
}

impl Enrollment {
    /// Checks a node's enrollment answer and makes its credential challenge.
    ///
    /// `secret` (the credential's secret) and `seed` are 32 random bytes each from the caller's
    /// CSPRNG; `rng` supplies RSA-OAEP's randomness.
    #[allow(clippy::too_many_arguments)]
    pub fn begin(
        node_name: &str,
        ek_certificate_der: Vec<u8>,
        ek_public: Vec<u8>,
        ak_public: Vec<u8>,
        identity_public: Vec<u8>,
        manufacturer_cas: &[Vec<u8>],
        now_unix: u64,
        secret: [u8; 32],
        seed: [u8; 32],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Challenge, PendingEnrollment), VerifyError> {
        check_node_name(node_name)?;
        let ak = check_attestation_key(&ak_public)?;
        check_identity_key(&identity_public)?;
        crate::ek::verify_ek_certificate(&ek_certificate_der, manufacturer_cas, &ek_public, now_unix)?;
        let ek =
            PublicArea::decode(&ek_public).map_err(|source| VerifyError::PublicArea { which: "the EK", source })?;
        let challenge = make_credential(&ek, &ak.name(), &secret, &seed, rng)?;
        let node = EnrolledNode {
            node: node_name.to_owned(),
            ek_public,
            ak_public,
            identity_public,
            ek_certificate_der,
            enrolled_at_unix: now_unix,
        };
        Ok((challenge, PendingEnrollment { node, secret }))
    }
}

impl PendingEnrollment {
    /// The node's answer: the secret its TPM released. Compared in constant time.
    pub fn finish(self, activated_secret: &[u8]) -> Result<EnrolledNode, VerifyError> {
        let equal = activated_secret.len() == self.secret.len() && bool::from(activated_secret.ct_eq(&self.secret));
        if equal { Ok(self.node) } else { Err(VerifyError::ActivationMismatch) }
    }

    /// The node being enrolled.
    pub fn node(&self) -> &EnrolledNode {
        &self.node
    }
}

fn check_node_name(name: &str) -> Result<(), VerifyError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NODE_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if ok { Ok(()) } else { Err(VerifyError::NodeName) }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolledJson {
    format: String,
    node: String,
    ek_public: String,
    ak_public: String,
    identity_public: String,
    ek_certificate_der: String,
    enrolled_at_unix: u64,
}

impl From<EnrolledNode> for EnrolledJson {
    fn from(node: EnrolledNode) -> Self {
        use qp_attest_core::hex;
        Self {
            format: FORMAT.to_owned(),
            node: node.node,
            ek_public: hex(&node.ek_public),
            ak_public: hex(&node.ak_public),
            identity_public: hex(&node.identity_public),
            ek_certificate_der: hex(&node.ek_certificate_der),
            enrolled_at_unix: node.enrolled_at_unix,
        }
    }
}

impl TryFrom<EnrolledJson> for EnrolledNode {
    type Error = VerifyError;

    fn try_from(json: EnrolledJson) -> Result<Self, VerifyError> {
        let record = |problem| VerifyError::Record(problem);
        if json.format != FORMAT {
            return Err(record("format is not \"qp-enrolled v1\""));
        }
        check_node_name(&json.node)?;
        let node = EnrolledNode {
            node: json.node,
            ek_public: unhex(&json.ek_public).ok_or(record("ek_public is not lower-case hex"))?,
            ak_public: unhex(&json.ak_public).ok_or(record("ak_public is not lower-case hex"))?,
            identity_public: unhex(&json.identity_public).ok_or(record("identity_public is not lower-case hex"))?,
            ek_certificate_der: unhex(&json.ek_certificate_der)
                .ok_or(record("ek_certificate_der is not lower-case hex"))?,
            enrolled_at_unix: json.enrolled_at_unix,
        };
        PublicArea::decode(&node.ek_public).map_err(|source| VerifyError::PublicArea { which: "the EK", source })?;
        check_attestation_key(&node.ak_public)?;
        check_identity_key(&node.identity_public)?;
        if node.ek_certificate_der.is_empty() {
            return Err(record("ek_certificate_der is empty"));
        }
        Ok(node)
    }
}

/// Lower-case hex (even length) to bytes.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) || bytes.len() > 64 * 1024 {
        return None;
    }
    bytes.chunks_exact(2).map(|pair| Some((digit(*pair.first()?)? << 4) | digit(*pair.get(1)?)?)).collect()
}
