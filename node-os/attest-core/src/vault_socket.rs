//! The vault socket between the node's TPM service (`qp-attestd`, which holds the TPM) and the
//! node's static binaries, which ask it to unseal their secrets by name. Sans-I/O: each message is
//! encoded to bytes and read from a byte slice that holds it whole (the caller reads the fixed
//! header first, then the length it names).
//!
//! - request: `U` ‖ u8 name length ‖ name (1–64 of `[a-z0-9._-]`);
//! - response: `V` ‖ u16 BE length ‖ secret (1–128 bytes), or `E` ‖ u16 BE length ‖ UTF-8 reason
//!   (at most 512 bytes).
//!
//! The socket is in `/run/qp` (root only). One request, one response; the connection may carry more.

use crate::attest_proto::secret_name_ok;
use crate::policy::MAX_SEALED_SECRET;

/// The longest refusal reason sent.
pub const MAX_REASON: usize = 512;

/// Why a vault socket message was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VaultSocketError {
    #[error("vault socket: unknown message kind {0:#04x}")]
    UnknownKind(u8),
    #[error("vault socket: a secret name that is not 1-64 of [a-z0-9._-]")]
    BadName,
    #[error("vault socket: a {what} of {len} bytes (at most {max})")]
    TooLong { what: &'static str, len: usize, max: usize },
    #[error("vault socket: {0} bytes after the message")]
    Trailing(usize),
    #[error("vault socket: the message is cut short")]
    Truncated,
    #[error("vault socket: the reason is not UTF-8")]
    NotUtf8,
}

/// The request for the secret `name`, or `None` if `name` is not a secret's name.
pub fn encode_request(name: &str) -> Option<Vec<u8>> {
    if !secret_name_ok(name.as_bytes()) {
        return None;
    }
    let mut out = Vec::with_capacity(2 + name.len());
    out.push(b'U');
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    Some(out)
}

/// The request's header length (kind and name length): read this much, then [`request_body_len`].
pub const REQUEST_HEADER: usize = 2;

/// How many name bytes follow a request header.
pub fn request_body_len(header: [u8; REQUEST_HEADER]) -> Result<usize, VaultSocketError> {
    match header {
        [b'U', len @ 1..=64] => Ok(usize::from(len)),
        [b'U', _] => Err(VaultSocketError::BadName),
        [kind, _] => Err(VaultSocketError::UnknownKind(kind)),
    }
}

/// The secret's name from a request's name bytes.
pub fn decode_request_name(body: &[u8]) -> Result<String, VaultSocketError> {
    if !secret_name_ok(body) {
        return Err(VaultSocketError::BadName);
    }
    String::from_utf8(body.to_vec()).map_err(|_| VaultSocketError::BadName)
}

/// The service's answer.
#[derive(Clone, PartialEq, Eq)]
pub enum VaultResponse {
    Secret(Vec<u8>),
    Refused(String),
}

impl std::fmt::Debug for VaultResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VaultResponse::Secret(secret) => write!(f, "Secret(<{} bytes>)", secret.len()),
            VaultResponse::Refused(reason) => f.debug_tuple("Refused").field(reason).finish(),
        }
    }
}

/// The response's header length (kind and u16 length).
pub const RESPONSE_HEADER: usize = 3;

impl VaultResponse {
    /// The bytes; a reason is cut to [`MAX_REASON`] bytes at a character boundary, a secret over
    /// [`MAX_SEALED_SECRET`] becomes a refusal.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, body): (u8, &[u8]) = match self {
            VaultResponse::Secret(secret) if !secret.is_empty() && secret.len() <= MAX_SEALED_SECRET => (b'V', secret),
            VaultResponse::Secret(_) => (b'E', b"the unsealed secret is not 1-128 bytes"),
            VaultResponse::Refused(reason) => {
                let mut end = reason.len().min(MAX_REASON);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                (b'E', &reason.as_bytes()[..end])
            }
        };
        let mut out = Vec::with_capacity(RESPONSE_HEADER + body.len());
        out.push(kind);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// How many bytes follow a response header.
    pub fn body_len(header: [u8; RESPONSE_HEADER]) -> Result<usize, VaultSocketError> {
        let len = usize::from(u16::from_be_bytes([header[1], header[2]]));
        let max = match header[0] {
            b'V' => MAX_SEALED_SECRET,
            b'E' => MAX_REASON,
            kind => return Err(VaultSocketError::UnknownKind(kind)),
        };
        if len > max || (header[0] == b'V' && len == 0) {
            return Err(VaultSocketError::TooLong { what: "response", len, max });
        }
        Ok(len)
    }

    /// A whole response (header and body).
    pub fn decode(bytes: &[u8]) -> Result<Self, VaultSocketError> {
        let header = bytes.first_chunk::<RESPONSE_HEADER>().ok_or(VaultSocketError::Truncated)?;
        let len = Self::body_len(*header)?;
        let body = &bytes[RESPONSE_HEADER..];
        if body.len() < len {
            return Err(VaultSocketError::Truncated);
        }
        if body.len() > len {
            return Err(VaultSocketError::Trailing(body.len() - len));
        }
        match header[0] {
            b'V' => Ok(VaultResponse::Secret(body.to_vec())),
            _ => {
                let reason = std::str::from_utf8(body).map_err(|_| VaultSocketError::NotUtf8)?;
                Ok(VaultResponse::Refused(reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_names_are_refused() {
        let request = encode_request("strategy-key").unwrap();
        let len = request_body_len([request[0], request[1]]).unwrap();
        assert_eq!(decode_request_name(&request[2..2 + len]).unwrap(), "strategy-key");
        assert_eq!(encode_request("../x"), None);
        assert_eq!(request_body_len([b'U', 0]), Err(VaultSocketError::BadName));
        assert_eq!(request_body_len([b'U', 65]), Err(VaultSocketError::BadName));
        assert_eq!(request_body_len([b'S', 4]), Err(VaultSocketError::UnknownKind(b'S')));
        assert_eq!(decode_request_name(b"a/b"), Err(VaultSocketError::BadName));
    }

    #[test]
    fn responses_round_trip_bounded() {
        for response in [VaultResponse::Secret(vec![7; 128]), VaultResponse::Refused("no approval".to_owned())] {
            assert_eq!(VaultResponse::decode(&response.encode()).unwrap(), response);
        }
        let long = VaultResponse::Refused("é".repeat(400)).encode();
        assert!(long.len() <= RESPONSE_HEADER + MAX_REASON);
        assert!(VaultResponse::decode(&long).is_ok());
        assert!(matches!(
            VaultResponse::decode(&VaultResponse::Secret(vec![1; 129]).encode()).unwrap(),
            VaultResponse::Refused(_)
        ));
        assert_eq!(VaultResponse::decode(b"V\x00"), Err(VaultSocketError::Truncated));
        assert_eq!(VaultResponse::decode(b"V\x00\x02a"), Err(VaultSocketError::Truncated));
        assert_eq!(VaultResponse::decode(b"V\x00\x01ab"), Err(VaultSocketError::Trailing(1)));
        assert!(matches!(VaultResponse::decode(b"V\x01\x00"), Err(VaultSocketError::TooLong { .. })));
        assert!(matches!(VaultResponse::decode(b"V\x00\x00"), Err(VaultSocketError::TooLong { .. })));
        assert_eq!(VaultResponse::decode(b"X\x00\x00"), Err(VaultSocketError::UnknownKind(b'X')));
        assert_eq!(format!("{:?}", VaultResponse::Secret(vec![0xAB; 3])), "Secret(<3 bytes>)");
    }
}
