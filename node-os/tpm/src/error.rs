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
            | TpmError::Command { source: tss_esapi::Error::Tss2Error(code), .. } => kind(*code),
            _ => None,
        }
    }
}

fn kind(code: Tss2ResponseCode) -> Option<Tss2ResponseCodeKind> {
    code.kind()
}
