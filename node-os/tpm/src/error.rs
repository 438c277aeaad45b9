//! What can fail talking to the TPM, naming what failed.

use std::path::PathBuf;

use tss_esapi::constants::response_code::{Tss2ResponseCode, Tss2ResponseCodeKind};

/// A TPM operation failed. The TSS error's `Display` spells the TPM response code in words
/// ("integrity check failed", "a handle is not valid", …).
#[derive(Debug, thiserror::Error)]
pub enum TpmError {
    /// The TCTI string could not be parsed or the TPM behind it could not be opened.
    #[error("cannot open the TPM at TCTI {tcti:?}: {source}")]
    Open {
        tcti: String,
        #[source]
        source: tss_esapi::Error,
    },
    /// A TPM command (named as in the TPM 2.0 spec, e.g. `TPM2_Load`) failed.
    #[error("{command} failed on the TPM at {tcti:?}: {source}")]
    Command {
        command: &'static str,
        tcti: String,
        #[source]
        source: tss_esapi::Error,
    },
    /// The TPM answered, but with something this crate does not accept.
    #[error("{command} on the TPM at {tcti:?} returned {what}")]
    Unexpected { command: &'static str, tcti: String, what: String },
    /// A key file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key file is not a key blob this crate wrote.
    #[error("{}: not a qp-tpm key blob: {reason}", path.display())]
    KeyBlob { path: PathBuf, reason: String },
    /// A PCR index outside the TPM's 24 PCRs.
    #[error("PCR {0} does not exist (a TPM 2.0 PC client has PCRs 0..=23)")]
    NoSuchPcr(u8),
    /// A measurement event is not one the log can carry.
    #[error(transparent)]
    Measurement(#[from] qp_attest_core::log::LogError),
    /// The EK certificate could not be read from its NV index (0x01c00002 for the RSA-2048 EK): a
    /// TPM without one (swtpm not prepared by `swtpm_setup --create-ek-cert`) fails here.
    #[error("cannot read the EK certificate (NV 0x01c00002) from the TPM at {tcti:?}: {source}")]
    EkCertificate {
        tcti: String,
        #[source]
        source: tss_esapi::Error,
    },
    /// An argument this crate refuses before asking the TPM (a nonce over 64 bytes, a secret over
    /// 128 bytes, a PCR list that is empty or repeats a PCR, a key on another TPM context, …).
    #[error("refused: {0}")]
    Input(String),
    /// Unsealing failed at `step` (see [`UnsealStep`]); `source` is the TPM's error when the TPM
    /// refused.
    #[error("unsealing failed at {step}: {detail}")]
    Unseal {
        step: UnsealStep,
        detail: String,
        #[source]
        source: Option<tss_esapi::Error>,
    },
    /// A thread panicked while holding the TPM context lock.
    #[error("the TPM context lock at {0:?} is poisoned (a thread panicked while using the TPM)")]
    Poisoned(String),
}

impl TpmError {
    /// The TPM's (or the TSS's) response code when a command failed with one, e.g.
    /// [`Tss2ResponseCodeKind::Integrity`] when a key blob is loaded under the wrong parent.
    pub fn response_code(&self) -> Option<Tss2ResponseCodeKind> {
        match self {
            TpmError::Open { source: tss_esapi::Error::Tss2Error(code), .. }
            | TpmError::Command { source: tss_esapi::Error::Tss2Error(code), .. }
            | TpmError::EkCertificate { source: tss_esapi::Error::Tss2Error(code), .. }
            | TpmError::Unseal { source: Some(tss_esapi::Error::Tss2Error(code)), .. } => kind(*code),
            _ => None,
        }
    }
}

fn kind(code: Tss2ResponseCode) -> Option<Tss2ResponseCodeKind> {
    code.kind()
}

/// The step of [`crate::SealedSecret::unseal`] that failed, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsealStep {
    /// Reading or decoding the sealed file.
    SealedFile,
    /// TPM2_Load of the sealed object under the storage primary.
    Load,
    /// TPM2_StartAuthSession of the policy session.
    StartSession,
    /// TPM2_PolicyPCR over the approval's PCRs.
    PolicyPcr,
    /// The session's digest after TPM2_PolicyPCR is not the approved policy: the PCRs do not hold
    /// the values the release key approved (tampered or not-yet-approved measurements).
    PcrsNotApproved,
    /// TPM2_LoadExternal of the authority's public key.
    LoadAuthority,
    /// TPM2_VerifySignature: the approval is not signed by the authority key.
    VerifySignature,
    /// TPM2_PolicyAuthorize: the authority or policy reference is not the one the object was
    /// sealed to.
    PolicyAuthorize,
    /// TPM2_Unseal.
    Unseal,
}

impl std::fmt::Display for UnsealStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnsealStep::SealedFile => "reading the sealed file",
            UnsealStep::Load => "TPM2_Load of the sealed object",
            UnsealStep::StartSession => "TPM2_StartAuthSession",
            UnsealStep::PolicyPcr => "TPM2_PolicyPCR",
            UnsealStep::PcrsNotApproved => "checking the PCR policy against the approved policy",
            UnsealStep::LoadAuthority => "TPM2_LoadExternal of the authority key",
            UnsealStep::VerifySignature => "TPM2_VerifySignature of the approval",
            UnsealStep::PolicyAuthorize => "TPM2_PolicyAuthorize",
            UnsealStep::Unseal => "TPM2_Unseal",
        })
    }
}
