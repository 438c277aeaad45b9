//! One TPM context, shared: a [`Tpm`] is `Send + Sync` and serializes its commands on a mutex (the
//! TSS context is `Send` but not `Sync`, and a TPM runs one command at a time anyway).

use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use tss_esapi::Context;
use tss_esapi::handles::PcrHandle;
use tss_esapi::interface_types::algorithm::HashingAlgorithm;
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{Digest, DigestValues, PcrSelectionListBuilder, PcrSlot};
use tss_esapi::tcti_ldr::TctiNameConf;

use crate::error::TpmError;
use qp_attest_core::log::{Measurement, MeasurementLog};

/// The PCR the supervisor measures the product into (service binaries, models, configuration, the
/// dm-verity root hash).
///
/// PCR 15, not the application/debug PCRs 16 and 23: those are resettable from locality 0, which
/// is what every process with `/dev/tpmrm0` gets, so a root compromise could reset PCR 23 and
/// re-extend the golden sequence, and the quote would pass. PCRs 8–15 are reset only by a TPM
/// reset (a reboot), so a bad measurement stays in the PCR until the node reboots. Of those, 8 and
/// 14 are the boot loader's (GRUB, shim), 9 the kernel's initrd, 10 IMA, 11–13 systemd-stub's
/// (the UKI, its command line, system extensions); 15 is systemd's "system identity" PCR, which
/// this image does not use (its init is `qp-init`, no systemd userspace). See `DESIGN.md`.
pub const PCR_PRODUCT: u8 = 15;

/// The TCTI of the node's TPM: the kernel's resource manager.
pub const TCTI_NODE: &str = "device:/dev/tpmrm0";

/// The number of PCRs of a PC-client TPM 2.0.
const PCR_COUNT: u8 = 24;

pub use qp_attest_core::pcr_extend_value;

/// An open TPM context (one ESYS context over one TCTI connection).
pub struct Tpm {
    tcti: String,
    context: Mutex<Context>,
}

impl fmt::Debug for Tpm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tpm").field("tcti", &self.tcti).finish_non_exhaustive()
    }
}

impl Tpm {
    /// Opens the TPM behind `tcti`: `device:/dev/tpmrm0` ([`TCTI_NODE`]) on a node,
    /// `swtpm:host=127.0.0.1,port=P` against swtpm.
    pub fn open(tcti: &str) -> Result<Self, TpmError> {
        let open_error = |source| TpmError::Open { tcti: tcti.to_owned(), source };
        let conf = TctiNameConf::from_str(tcti).map_err(open_error)?;
        let context = Context::new(conf).map_err(open_error)?;
        tracing::debug!(tcti, "TPM context opened");
        Ok(Self { tcti: tcti.to_owned(), context: Mutex::new(context) })
    }

    /// The TCTI string this context was opened with.
    pub fn tcti(&self) -> &str {
        &self.tcti
    }

    /// Extends `pcr`'s SHA-256 bank with `digest` (TPM2_PCR_Extend, empty PCR auth).
    pub fn pcr_extend(&self, pcr: u8, digest: [u8; 32]) -> Result<(), TpmError> {
        let handle = pcr_handle(pcr)?;
        let fail = self.fail("TPM2_PCR_Extend");
        self.with_context(|ctx| {
            let digest = Digest::try_from(digest.to_vec()).map_err(&fail)?;
            let mut values = DigestValues::new();
            values.set(HashingAlgorithm::Sha256, digest);
            ctx.execute_with_session(Some(AuthSession::Password), |ctx| ctx.pcr_extend(handle, values)).map_err(&fail)
        })?;
        tracing::debug!(pcr, digest = %qp_node_key::hex(&digest), "PCR extended");
        Ok(())
    }

    /// `pcr`'s value in the SHA-256 bank (TPM2_PCR_Read).
    pub fn pcr_read(&self, pcr: u8) -> Result<[u8; 32], TpmError> {
        const COMMAND: &str = "TPM2_PCR_Read";
        let slot = pcr_slot(pcr)?;
        let fail = self.fail(COMMAND);
        let digests = self.with_context(|ctx| {
            let selection = PcrSelectionListBuilder::new()
                .with_selection(HashingAlgorithm::Sha256, &[slot])
                .build()
                .map_err(&fail)?;
            ctx.execute_without_session(|ctx| ctx.pcr_read(selection)).map_err(&fail)
        })?;
        let (_, selected, digests) = digests;
        if selected.is_empty() {
            return Err(self.unexpected(COMMAND, "no SHA-256 bank for the PCR (is the SHA-256 bank allocated?)"));
        }
        let value = digests.value().first().ok_or_else(|| self.unexpected(COMMAND, "no PCR value"))?;
        <[u8; 32]>::try_from(value.value())
            .map_err(|_| self.unexpected(COMMAND, &format!("a {}-byte SHA-256 PCR value", value.value().len())))
    }

    /// Measures one event: checks it, extends its PCR with its digest, and appends it to `log`
    /// (only once the TPM took it, so the log and the PCR never disagree because of this call).
    pub fn measure(&self, log: &mut MeasurementLog, event: Measurement) -> Result<(), TpmError> {
        event.check()?;
        self.pcr_extend(event.pcr, event.digest)?;
        tracing::info!(pcr = event.pcr, kind = %event.kind, name = %event.name, "measured");
        log.append(event)?;
        Ok(())
    }

    /// Runs `f` with the context locked.
    pub(crate) fn with_context<T>(&self, f: impl FnOnce(&mut Context) -> Result<T, TpmError>) -> Result<T, TpmError> {
        let mut guard: MutexGuard<'_, Context> =
            self.context.lock().map_err(|_| TpmError::Poisoned(self.tcti.clone()))?;
        f(&mut guard)
    }

    /// A mapper from a TSS error to [`TpmError::Command`] for `command`.
    pub(crate) fn fail(&self, command: &'static str) -> impl Fn(tss_esapi::Error) -> TpmError + use<> {
        let tcti = self.tcti.clone();
        move |source| TpmError::Command { command, tcti: tcti.clone(), source }
    }

    pub(crate) fn unexpected(&self, command: &'static str, what: &str) -> TpmError {
        TpmError::Unexpected { command, tcti: self.tcti.clone(), what: what.to_owned() }
    }
}

fn check_pcr(pcr: u8) -> Result<u32, TpmError> {
    if pcr < PCR_COUNT { Ok(u32::from(pcr)) } else { Err(TpmError::NoSuchPcr(pcr)) }
}

fn pcr_handle(pcr: u8) -> Result<PcrHandle, TpmError> {
    // ESYS_TR_PCR0..=ESYS_TR_PCR31 are 0..=31.
    PcrHandle::try_from(check_pcr(pcr)?).map_err(|_| TpmError::NoSuchPcr(pcr))
}

fn pcr_slot(pcr: u8) -> Result<PcrSlot, TpmError> {
    PcrSlot::try_from(1u32 << check_pcr(pcr)?).map_err(|_| TpmError::NoSuchPcr(pcr))
}
