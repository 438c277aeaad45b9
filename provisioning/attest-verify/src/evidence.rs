//! A node's evidence checked against its enrollment, the verifier's nonce, and the golden values
//! of the image it must run.
use std::collections::BTreeMap;
use std::fmt;

use p256::ecdsa::signature::Verifier as _;
use qp_attest_core::golden::GoldenValues;
use qp_attest_core::log::MeasurementLog;
use qp_attest_core::tpm_struct::{
    Attested, PublicArea, RawAttest, Signature, TPM_ALG_SHA256, TPM_RH_ENDORSEMENT, qualified_name,
};
use qp_attest_core::{hex, sha256};

use crate::EnrolledNode;

/// What the node sent for one attestation (the fields of `attest_proto::Response::Evidence`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceParts {
    /// The image the node says it runs.
    pub image_id: String,
    /// TPMS_ATTEST of TPM2_Quote, and its TPMT_SIGNATURE by the AK.
    pub quote_attest: Vec<u8>,
    pub quote_signature: Vec<u8>,
    /// The encoded measurement log.
    pub log: Vec<u8>,
    /// TPMS_ATTEST of TPM2_Certify of the identity key by the AK, and its signature.
    pub certify_attest: Vec<u8>,
    pub certify_signature: Vec<u8>,
}

/// Which signed statement a reason is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statement {
    Quote,
    Certification,
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Statement::Quote => "quote",
            Statement::Certification => "certification of the identity key",
        })
    }
}

/// How the node's log differs from the golden log at an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogDifference {
    /// The same kind and name, another digest (the file's contents differ).
    Digest,
    /// Another PCR, kind or name.
    Event,
    /// The node's log has an event the golden log does not.
    Extra,
    /// The node's log ends where the golden log has this event.
    Missing,
}

impl fmt::Display for LogDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogDifference::Digest => "another digest",
            LogDifference::Event => "another event",
            LogDifference::Extra => "an event the golden log does not have",
            LogDifference::Missing => "missing from the node's log",
        })
    }
}

/// Why evidence failed. Serializes as `{"code": "<variant>", "message": "<Display>"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The enrollment record's AK or identity key is not usable (a corrupted record).
    EnrollmentInvalid { problem: String },
    /// A TPMS_ATTEST that does not decode.
    AttestMalformed { statement: Statement, problem: String },
    /// A TPMS_ATTEST of another type than the statement needs.
    WrongAttestType { statement: Statement },
    /// A TPMT_SIGNATURE that does not decode (or not ECDSA-SHA256).
    SignatureMalformed { statement: Statement, problem: String },
    /// The quote's signature does not verify with the enrolled AK.
    QuoteSignature,
    /// The certification's signature does not verify with the enrolled AK.
    CertifySignature,
    /// The statement's qualifiedSigner is not the enrolled AK (under the enrolled EK).
    AkNotEnrolled { statement: Statement },
    /// The statement's extraData is not the verifier's nonce.
    WrongNonce { statement: Statement },
    /// The quote selects other PCRs than the golden PCR of the SHA-256 bank.
    OtherPcrs { selected: String, expected: u8 },
    /// The event log does not decode.
    LogMalformed { problem: String },
    /// Replaying the log does not give the quoted PCR digest: the log is not the TPM's.
    LogDoesNotMatchQuote,
    /// The node claims another image than the golden values'.
    OtherImage { claimed: String, golden: String },
    /// The log differs from the golden log at event `index` (0-based).
    LogDiffersFromGolden { index: usize, kind: String, name: String, difference: LogDifference },
    /// The golden PCR's value is not the golden value.
    PcrNotGolden { pcr: u8, value: String, golden: String },
    /// The certification is not of the enrolled identity key.
    IdentityNotCertified,
}

impl Reason {
    /// The reason's stable code (its variant's name).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::EnrollmentInvalid { .. } => "EnrollmentInvalid",
            Reason::AttestMalformed { .. } => "AttestMalformed",
            Reason::WrongAttestType { .. } => "WrongAttestType",
            Reason::SignatureMalformed { .. } => "SignatureMalformed",
            Reason::QuoteSignature => "QuoteSignature",
            Reason::CertifySignature => "CertifySignature",
            Reason::AkNotEnrolled { .. } => "AkNotEnrolled",
            Reason::WrongNonce { .. } => "WrongNonce",
            Reason::OtherPcrs { .. } => "OtherPcrs",
            Reason::LogMalformed { .. } => "LogMalformed",
            Reason::LogDoesNotMatchQuote => "LogDoesNotMatchQuote",
            Reason::OtherImage { .. } => "OtherImage",
            Reason::LogDiffersFromGolden { .. } => "LogDiffersFromGolden",
            Reason::PcrNotGolden { .. } => "PcrNotGolden",
            Reason::IdentityNotCertified => "IdentityNotCertified",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::EnrollmentInvalid { problem } => write!(f, "the enrollment record is not usable: {problem}"),
            Reason::AttestMalformed { statement, problem } => write!(f, "the {statement} does not decode: {problem}"),
            Reason::WrongAttestType { statement } => write!(f, "the {statement} is another kind of TPM statement"),
            Reason::SignatureMalformed { statement, problem } => {
                write!(f, "the {statement}'s signature does not decode: {problem}")
            }
            Reason::QuoteSignature => {
                f.write_str("the quote's signature does not verify with the enrolled attestation key")
            }
            Reason::CertifySignature => {
                f.write_str("the certification's signature does not verify with the enrolled attestation key")
            }
            Reason::AkNotEnrolled { statement } => {
                write!(f, "the {statement} was signed by an attestation key that is not the enrolled one")
            }
            Reason::WrongNonce { statement } => write!(f, "the {statement} is not over this verifier's nonce"),
            Reason::OtherPcrs { selected, expected } => {
                write!(f, "the quote selects {selected}, not exactly sha256:{{{expected}}}")
            }
            Reason::LogMalformed { problem } => write!(f, "the event log does not decode: {problem}"),
            Reason::LogDoesNotMatchQuote => f.write_str(
                "replaying the event log does not give the quoted PCR digest (the log is not the one the TPM measured)",
            ),
            Reason::OtherImage { claimed, golden } => {
                write!(f, "the node runs image {claimed}, not the golden values' {golden}")
            }
            Reason::LogDiffersFromGolden { index, kind, name, difference } => {
                write!(f, "the event log differs from the golden log at event {index} ({kind} {name}): {difference}")
            }
            Reason::PcrNotGolden { pcr, value, golden } => write!(f, "PCR {pcr} is {value}, not the golden {golden}"),
            Reason::IdentityNotCertified => {
                f.write_str("the attestation key did not certify the enrolled identity key")
            }
        }
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut s = serializer.serialize_struct("Reason", 2)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

/// The outcome: `pass` iff there is no reason against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub pass: bool,
    pub reasons: Vec<Reason>,
    /// The values the event log replays to, for the PCRs the quote selects (the golden PCR when
    /// the quote does not decode); empty when the log does not decode.
    pub pcrs: BTreeMap<u8, [u8; 32]>,
}

impl serde::Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let pcrs: BTreeMap<String, String> =
            self.pcrs.iter().map(|(pcr, value)| (pcr.to_string(), hex(value))).collect();
        let mut s = serializer.serialize_struct("Verdict", 3)?;
        s.serialize_field("pass", &self.pass)?;
        s.serialize_field("reasons", &self.reasons)?;
        s.serialize_field("pcrs", &pcrs)?;
        s.end()
    }
}

/// The enrolled keys a statement is checked with.
struct Keys {
    ak: p256::ecdsa::VerifyingKey,
    /// The AK's qualified Name: a child of the EK, a primary key of the endorsement hierarchy.
    ak_qualified_name: Vec<u8>,
    identity_name: Vec<u8>,
}

fn enrolled_keys(enrolled: &EnrolledNode) -> Result<Keys, String> {
    let ek = PublicArea::decode(&enrolled.ek_public).map_err(|err| format!("the EK: {err}"))?;
    let ak = PublicArea::decode(&enrolled.ak_public).map_err(|err| format!("the AK: {err}"))?;
    let identity = PublicArea::decode(&enrolled.identity_public).map_err(|err| format!("the identity key: {err}"))?;
    let point = ak.ecc_p256_point().ok_or("the AK is not a P-256 key")?;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| "the AK's point is not on P-256")?;
    Ok(Keys {
        ak: key,
        ak_qualified_name: qualified_name(&ek.primary_qualified_name(TPM_RH_ENDORSEMENT), &ak.name()),
        identity_name: identity.name(),
    })
}

/// A signed statement, decoded and checked: its type, signature, signer and nonce. Returns the
/// decoded statement when it decodes and has the right type (even if a check failed, so that its
/// contents are still compared: every applicable reason is reported).
fn check_statement(
    statement: Statement,
    attest: &[u8],
    signature: &[u8],
    keys: Option<&Keys>,
    nonce: &[u8; 32],
    reasons: &mut Vec<Reason>,
) -> Option<Attested> {
    let raw = match RawAttest::decode(attest) {
        Ok(raw) => raw,
        Err(err) => {
            reasons.push(Reason::AttestMalformed { statement, problem: err.to_string() });
            return None;
        }
    };
    let type_ok = matches!(
        (statement, &raw.attest().attested),
        (Statement::Quote, Attested::Quote { .. }) | (Statement::Certification, Attested::Certify { .. })
    );
    if !type_ok {
        reasons.push(Reason::WrongAttestType { statement });
        return None;
    }
    match Signature::decode(signature) {
        Err(err) => reasons.push(Reason::SignatureMalformed { statement, problem: err.to_string() }),
        Ok(signature) => {
            if let Some(keys) = keys {
                let verified = p256::ecdsa::Signature::from_scalars(signature.r, signature.s)
                    .is_ok_and(|sig| keys.ak.verify(raw.raw(), &sig).is_ok());
                if !verified {
                    reasons.push(match statement {
                        Statement::Quote => Reason::QuoteSignature,
                        Statement::Certification => Reason::CertifySignature,
                    });
                }
            }
        }
    }
    let (attest, _) = raw.into_parts();
    if let Some(keys) = keys
        && attest.qualified_signer != keys.ak_qualified_name
    {
        reasons.push(Reason::AkNotEnrolled { statement });
    }
    if attest.extra_data != nonce {
        reasons.push(Reason::WrongNonce { statement });
    }
    Some(attest.attested)
}

/// Describes a PCR selection as `sha256:{15,16}` (banks by algorithm id when not SHA-256).
fn describe_selection(selections: &[qp_attest_core::tpm_struct::PcrSelection]) -> String {
    if selections.is_empty() {
        return "no PCRs".to_owned();
    }
    let parts: Vec<String> = selections
        .iter()
        .map(|selection| {
            let bank =
                if selection.hash == TPM_ALG_SHA256 { "sha256".to_owned() } else { format!("{:#06x}", selection.hash) };
            let pcrs: Vec<String> = selection.pcrs().iter().map(u8::to_string).collect();
            format!("{bank}:{{{}}}", pcrs.join(","))
        })
        .collect();
    parts.join(" ")
}

/// Checks `evidence` against the node's enrollment, the nonce the verifier issued for it (already
/// redeemed in the caller's [`crate::NonceBook`]) and the golden values of the image the node must
/// run. Every applicable reason is collected; the verdict passes iff there is none.
pub fn verify_evidence(
    enrolled: &EnrolledNode,
    nonce: &[u8; 32],
    evidence: &EvidenceParts,
    golden: &GoldenValues,
) -> Verdict {
    let mut reasons = Vec::new();
    let keys = match enrolled_keys(enrolled) {
        Ok(keys) => Some(keys),
        Err(problem) => {
            reasons.push(Reason::EnrollmentInvalid { problem });
            None
        }
    };

    // The quote.
    let quote = check_statement(
        Statement::Quote,
        &evidence.quote_attest,
        &evidence.quote_signature,
        keys.as_ref(),
        nonce,
        &mut reasons,
    );
    let mut quoted = None;
    if let Some(Attested::Quote { pcr_select, pcr_digest }) = &quote {
        let exact =
            matches!(pcr_select.as_slice(), [only] if only.hash == TPM_ALG_SHA256 && only.pcrs() == [golden.pcr]);
        if exact {
            quoted = Some(pcr_digest.clone());
        } else {
            reasons.push(Reason::OtherPcrs { selected: describe_selection(pcr_select), expected: golden.pcr });
        }
    }

    // The log, against the quote.
    let mut pcrs = BTreeMap::new();
    let log = match MeasurementLog::decode(&evidence.log) {
        Ok(log) => Some(log),
        Err(err) => {
            reasons.push(Reason::LogMalformed { problem: err.to_string() });
            None
        }
    };
    if let Some(log) = &log {
        let selected: Vec<u8> = match &quote {
            Some(Attested::Quote { pcr_select, .. }) => pcr_select
                .iter()
                .filter(|selection| selection.hash == TPM_ALG_SHA256)
                .flat_map(|selection| selection.pcrs())
                .filter(|pcr| *pcr < 24)
                .collect(),
            _ => vec![golden.pcr],
        };
        for pcr in selected {
            pcrs.insert(pcr, log.replay(pcr, [0; 32]));
        }
        if let Some(digest) = &quoted {
            let replayed = log.replay(golden.pcr, [0; 32]);
            if digest.as_slice() != sha256(&replayed) {
                reasons.push(Reason::LogDoesNotMatchQuote);
            }
        }
    }

    // The golden values.
    if evidence.image_id != golden.image_id {
        let claimed = if qp_attest_core::attest_proto::image_id_ok(evidence.image_id.as_bytes()) {
            evidence.image_id.clone()
        } else {
            "(an invalid image id)".to_owned()
        };
        reasons.push(Reason::OtherImage { claimed, golden: golden.image_id.clone() });
    }
    match &log {
        Some(log) => {
            if let Some(difference) = first_difference(log, &golden.log) {
                reasons.push(difference);
            }
            let value = log.replay(golden.pcr, [0; 32]);
            if value != golden.pcr_value {
                reasons.push(Reason::PcrNotGolden {
                    pcr: golden.pcr,
                    value: hex(&value),
                    golden: hex(&golden.pcr_value),
                });
            }
        }
        None => {
            // No log to replay: the quote alone still says whether the PCR is golden.
            if let Some(digest) = &quoted
                && digest.as_slice() != sha256(&golden.pcr_value)
            {
                reasons.push(Reason::PcrNotGolden {
                    pcr: golden.pcr,
                    value: "(unknown: quoted digest differs)".to_owned(),
                    golden: hex(&golden.pcr_value),
                });
            }
        }
    }

    // The certification of the identity key.
    let certify = check_statement(
        Statement::Certification,
        &evidence.certify_attest,
        &evidence.certify_signature,
        keys.as_ref(),
        nonce,
        &mut reasons,
    );
    if let (Some(Attested::Certify { name, .. }), Some(keys)) = (&certify, &keys)
        && *name != keys.identity_name
    {
        reasons.push(Reason::IdentityNotCertified);
    }

    Verdict { pass: reasons.is_empty(), reasons, pcrs }
}

/// The first event where `log` and `golden` differ.
fn first_difference(log: &MeasurementLog, golden: &MeasurementLog) -> Option<Reason> {
    let (ours, theirs) = (log.events(), golden.events());
    for index in 0..ours.len().max(theirs.len()) {
        let reason = match (ours.get(index), theirs.get(index)) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) => {
                let same_event = a.pcr == b.pcr && a.kind == b.kind && a.name == b.name;
                Reason::LogDiffersFromGolden {
                    index,
                    kind: a.kind.clone(),
                    name: a.name.clone(),
                    difference: if same_event { LogDifference::Digest } else { LogDifference::Event },
                }
            }
            (Some(a), None) => Reason::LogDiffersFromGolden {
                index,
                kind: a.kind.clone(),
                name: a.name.clone(),
                difference: LogDifference::Extra,
            },
            (None, Some(b)) => Reason::LogDiffersFromGolden {
                index,
                kind: b.kind.clone(),
                name: b.name.clone(),
                difference: LogDifference::Missing,
            },
            (None, None) => return None,
        };
        return Some(reason);
    }
    None
}
