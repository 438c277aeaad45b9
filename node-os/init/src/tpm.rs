//! PID 1's TPM channel: TPM2_PCR_Extend and TPM2_PCR_Read written as bytes
//! ([`qp_attest_core::pcr_command`]) to `/dev/tpmrm0`, or in tests to swtpm's data socket (the
//! same bytes). PID 1 is static and cannot link the TSS; these two commands need none of it.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use qp_attest_core::pcr_command::{self, PcrCommandError};

/// The kernel's TPM device with its resource manager.
pub const TPM_DEVICE: &str = "/dev/tpmrm0";

/// A TPM command could not be sent or was refused.
#[derive(Debug, thiserror::Error)]
pub enum TpmChannelError {
    #[error("{}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("TPM {command}: {source}")]
    Io { command: &'static str, source: std::io::Error },
    #[error("TPM {command}: {source}")]
    Command { command: &'static str, source: PcrCommandError },
}

/// A byte channel to a TPM: one command, then its whole response.
#[derive(Debug)]
pub struct TpmChannel<T> {
    io: T,
    buf: Vec<u8>,
}

impl TpmChannel<std::fs::File> {
    /// The TPM device at `path` (normally [`TPM_DEVICE`]).
    pub fn open_device(path: &Path) -> Result<Self, TpmChannelError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| TpmChannelError::Open { path: path.to_owned(), source })?;
        Ok(Self::new(file))
    }
}

impl<T: Read + Write> TpmChannel<T> {
    pub fn new(io: T) -> Self {
        Self { io, buf: vec![0; pcr_command::MAX_RESPONSE] }
    }

    /// Sends `command` and reads its response: a device answers in one read, a socket may take
    /// several; the header's size field says when it is whole.
    fn transact(&mut self, name: &'static str, command: &[u8]) -> Result<&[u8], TpmChannelError> {
        let io = |source| TpmChannelError::Io { command: name, source };
        self.io.write_all(command).map_err(io)?;
        self.io.flush().map_err(io)?;
        let mut have = 0;
        loop {
            let n = self.io.read(&mut self.buf[have..]).map_err(io)?;
            if n == 0 {
                return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            have += n;
            if have >= 6 {
                let size = u32::from_be_bytes([self.buf[2], self.buf[3], self.buf[4], self.buf[5]]) as usize;
                if size > self.buf.len() || size < 10 {
                    return Err(TpmChannelError::Command {
                        command: name,
                        source: PcrCommandError::Malformed("size field out of range"),
                    });
                }
                if have >= size {
                    return Ok(&self.buf[..size]);
                }
            }
        }
    }

    /// Extends `pcr`'s SHA-256 bank with `digest`.
    pub fn extend(&mut self, pcr: u8, digest: &[u8; 32]) -> Result<(), TpmChannelError> {
        const NAME: &str = "PCR_Extend";
        let command = pcr_command::extend_command(pcr, digest)
            .map_err(|source| TpmChannelError::Command { command: NAME, source })?;
        let response = self.transact(NAME, &command)?;
        pcr_command::parse_extend_response(response)
            .map_err(|source| TpmChannelError::Command { command: NAME, source })
    }

    /// `pcr`'s SHA-256 value.
    pub fn read(&mut self, pcr: u8) -> Result<[u8; 32], TpmChannelError> {
        const NAME: &str = "PCR_Read";
        let command =
            pcr_command::read_command(pcr).map_err(|source| TpmChannelError::Command { command: NAME, source })?;
        let response = self.transact(NAME, &command)?;
        pcr_command::parse_read_response(pcr, response)
            .map_err(|source| TpmChannelError::Command { command: NAME, source })
    }
}
