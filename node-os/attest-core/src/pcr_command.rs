//! TPM2_PCR_Extend and TPM2_PCR_Read as bytes (TPM 2.0 Part 3, §22.2 and §22.4), for PID 1.
//!
//! PID 1 is a statically linked binary, and Debian ships libtss2 only as shared objects, so PID 1
//! cannot use the TSS to measure. These two commands need none of it: the password session with
//! an empty password (a PCR's authValue is empty) is a fixed 9 bytes, and nothing else is secret
//! or stateful. PID 1 writes the command to `/dev/tpmrm0` and reads one response; tests write the
//! same bytes to swtpm's data socket.
use crate::Digest32;

const TPM_ST_NO_SESSIONS: u16 = 0x8001;
const TPM_ST_SESSIONS: u16 = 0x8002;
const TPM_CC_PCR_EXTEND: u32 = 0x0000_0182;
const TPM_CC_PCR_READ: u32 = 0x0000_017E;
const TPM_RS_PW: u32 = 0x4000_0009;
const TPM_ALG_SHA256: u16 = 0x000B;
const PCR_SELECT_BYTES: u8 = 3;
/// The largest response either command gets.
pub const MAX_RESPONSE: usize = 4096;

/// Bytes of a TPM2_PCR_Extend command.
pub const EXTEND_COMMAND_BYTES: usize = 65;

/// A response was not what the command expects.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PcrCommandError {
    #[error("PCR {0} is not 0..=23")]
    BadPcr(u8),
    #[error("TPM response: {0}")]
    Malformed(&'static str),
    #[error("TPM response code {0:#x}")]
    ResponseCode(u32),
}

/// TPM2_PCR_Extend of `pcr`'s SHA-256 bank with `digest`, authorized by the empty password.
pub fn extend_command(pcr: u8, digest: &Digest32) -> Result<[u8; EXTEND_COMMAND_BYTES], PcrCommandError> {
    check_pcr(pcr)?;
    let mut out = [0u8; EXTEND_COMMAND_BYTES];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&TPM_ST_SESSIONS.to_be_bytes());
    put(&(EXTEND_COMMAND_BYTES as u32).to_be_bytes());
    put(&TPM_CC_PCR_EXTEND.to_be_bytes());
    put(&u32::from(pcr).to_be_bytes());
    // The authorization area: one password session, empty nonce, no attributes, empty password.
    put(&9u32.to_be_bytes());
    put(&TPM_RS_PW.to_be_bytes());
    put(&0u16.to_be_bytes());
    put(&[0]);
    put(&0u16.to_be_bytes());
    // TPML_DIGEST_VALUES with one SHA-256 digest.
    put(&1u32.to_be_bytes());
    put(&TPM_ALG_SHA256.to_be_bytes());
    put(digest);
    Ok(out)
}

/// Checks a TPM2_PCR_Extend response: success, and a well-formed header.
pub fn parse_extend_response(response: &[u8]) -> Result<(), PcrCommandError> {
    let (rc, _body) = header(response)?;
    if rc != 0 {
        return Err(PcrCommandError::ResponseCode(rc));
    }
    Ok(())
}

/// TPM2_PCR_Read of `pcr`'s SHA-256 bank.
pub fn read_command(pcr: u8) -> Result<[u8; 20], PcrCommandError> {
    check_pcr(pcr)?;
    let mut out = [0u8; 20];
    out[0..2].copy_from_slice(&TPM_ST_NO_SESSIONS.to_be_bytes());
    out[2..6].copy_from_slice(&20u32.to_be_bytes());
    out[6..10].copy_from_slice(&TPM_CC_PCR_READ.to_be_bytes());
    out[10..14].copy_from_slice(&1u32.to_be_bytes());
    out[14..16].copy_from_slice(&TPM_ALG_SHA256.to_be_bytes());
    out[16] = PCR_SELECT_BYTES;
    out[17 + usize::from(pcr / 8)] = 1 << (pcr % 8);
    Ok(out)
}

/// The value of `pcr` from a TPM2_PCR_Read response to [`read_command`]`(pcr)`; refuses a
/// response that selects anything else.
pub fn parse_read_response(pcr: u8, response: &[u8]) -> Result<Digest32, PcrCommandError> {
    check_pcr(pcr)?;
    let (rc, body) = header(response)?;
    if rc != 0 {
        return Err(PcrCommandError::ResponseCode(rc));
    }
    let mut reader = Reader(body);
    let _update_counter = reader.u32()?;
    if reader.u32()? != 1 || reader.u16()? != TPM_ALG_SHA256 {
        return Err(PcrCommandError::Malformed("not the one SHA-256 selection asked for"));
    }
    let select_bytes = usize::from(reader.u8()?);
    let select = reader.take(select_bytes)?;
    let mut expected = [0u8; PCR_SELECT_BYTES as usize];
    expected[usize::from(pcr / 8)] = 1 << (pcr % 8);
    if select != expected {
        return Err(PcrCommandError::Malformed("the selection is not the PCR asked for"));
    }
    if reader.u32()? != 1 || reader.u16()? != 32 {
        return Err(PcrCommandError::Malformed("not one 32-byte digest"));
    }
    let digest = reader.take(32)?;
    if !reader.0.is_empty() {
        return Err(PcrCommandError::Malformed("trailing bytes"));
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(digest);
    Ok(out)
}

fn check_pcr(pcr: u8) -> Result<(), PcrCommandError> {
    if pcr > 23 { Err(PcrCommandError::BadPcr(pcr)) } else { Ok(()) }
}

/// The response code and the rest, after checking the tag and the size field.
fn header(response: &[u8]) -> Result<(u32, &[u8]), PcrCommandError> {
    let mut reader = Reader(response);
    let tag = reader.u16()?;
    if tag != TPM_ST_NO_SESSIONS && tag != TPM_ST_SESSIONS {
        return Err(PcrCommandError::Malformed("unknown tag"));
    }
    let size = reader.u32()? as usize;
    if size != response.len() || size > MAX_RESPONSE {
        return Err(PcrCommandError::Malformed("size field does not match the response"));
    }
    let rc = reader.u32()?;
    Ok((rc, reader.0))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PcrCommandError> {
        if self.0.len() < n {
            return Err(PcrCommandError::Malformed("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, PcrCommandError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PcrCommandError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PcrCommandError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn commands_have_their_sizes_and_refuse_bad_pcrs() {
        let extend = extend_command(15, &[0xab; 32]).unwrap();
        assert_eq!(&extend[2..6], &65u32.to_be_bytes());
        assert_eq!(&extend[33..], &[0xab; 32]);
        assert_eq!(read_command(15).unwrap()[18], 0x80);
        assert_eq!(extend_command(24, &[0; 32]), Err(PcrCommandError::BadPcr(24)));
    }

    #[test]
    fn read_response_round_trip_and_hostile_bytes() {
        let mut response = vec![0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
        response.extend_from_slice(&7u32.to_be_bytes());
        response.extend_from_slice(&[0, 0, 0, 1, 0, 0x0b, 3, 0, 0x80, 0]);
        response.extend_from_slice(&[0, 0, 0, 1, 0, 32]);
        response.extend_from_slice(&[9; 32]);
        let size = response.len() as u32;
        response[2..6].copy_from_slice(&size.to_be_bytes());
        assert_eq!(parse_read_response(15, &response).unwrap(), [9; 32]);
        assert!(matches!(parse_read_response(14, &response), Err(PcrCommandError::Malformed(_))));
        for cut in 0..response.len() {
            assert!(parse_read_response(15, &response[..cut]).is_err());
        }
        let error = [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x84];
        assert_eq!(parse_extend_response(&error), Err(PcrCommandError::ResponseCode(0x184)));
    }
}
