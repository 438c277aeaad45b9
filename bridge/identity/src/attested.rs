//! Attested admission: the mark a bridge certificate carries when the verifier issued it after a
//! passing TPM attestation, and the check a peer that requires it makes.
//!
//! The mark is a non-critical X.509 extension (webpki refuses unknown critical extensions, and
//! the check here is ours, not the TLS library's) under a private OID in the UUID arc 2.25, whose
//! value is the DER UTF8String of the image id the node proved it runs. A certificate without it
//! was issued by `qpctl ca issue` (for development and for the fleet's first nodes) and is
//! refused by a peer that requires attestation; so is a marked one whose lifetime exceeds the
//! peer's bound, since an attestation is only worth the minutes or hours it is meant to last.
use std::time::Duration;

use crate::IdentityError;

/// The attested extension's OID, 2.25.52089917447207123 (a random 56-bit arc under 2.25: small
/// enough that every parser reads it as a number).
pub const ATTESTED_EXTENSION_OID: &[u64] = &[2, 25, 52_089_917_447_207_123];
const ATTESTED_EXTENSION_OID_TEXT: &str = "2.25.52089917447207123";
const MAX_IMAGE_ID: usize = 128;

/// What an attested certificate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    /// The image the node proved it runs.
    pub image_id: String,
    /// notAfter − notBefore.
    pub lifetime: Duration,
}

/// What a peer that requires attestation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttestedPolicy {
    /// The longest certificate lifetime accepted (notAfter − notBefore).
    pub max_lifetime: Duration,
}

fn check_image_id(image_id: &str) -> Result<(), IdentityError> {
    let ok = !image_id.is_empty()
        && image_id.len() <= MAX_IMAGE_ID
        && image_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Name { what: "image id", value: image_id.to_owned(), rule: "1-128 bytes of [A-Za-z0-9._-]" })
    }
}

pub(crate) fn extension(image_id: &str) -> Result<rcgen::CustomExtension, IdentityError> {
    check_image_id(image_id)?;
    // DER UTF8String: tag 12, a definite length (one byte below 128, else 0x81 and one byte).
    let mut content = vec![0x0c];
    if image_id.len() < 0x80 {
        content.push(image_id.len() as u8);
    } else {
        content.extend_from_slice(&[0x81, image_id.len() as u8]);
    }
    content.extend_from_slice(image_id.as_bytes());
    Ok(rcgen::CustomExtension::from_oid_content(ATTESTED_EXTENSION_OID, content))
}

/// The attested mark of a certificate, if it has one (an error if it has a malformed one).
pub fn certificate_attested(der: &[u8]) -> Result<Option<Attested>, IdentityError> {
    let cert = crate::parse_certificate(der)?;
    let validity = cert.validity();
    let lifetime = (validity.not_after.timestamp() - validity.not_before.timestamp()).max(0) as u64;
    let mut found = None;
    for ext in cert.extensions() {
        if ext.oid.to_id_string() != ATTESTED_EXTENSION_OID_TEXT {
            continue;
        }
        if found.is_some() {
            return Err(IdentityError::Certificate("the attested extension appears twice".to_owned()));
        }
        let bad = || IdentityError::Certificate("the attested extension is not a UTF8String image id".to_owned());
        let value = ext.value;
        let (len, body) = match value {
            [0x0c, len, body @ ..] if *len < 0x80 => (usize::from(*len), body),
            [0x0c, 0x81, len, body @ ..] if *len >= 0x80 => (usize::from(*len), body),
            _ => return Err(bad()),
        };
        if body.len() != len {
            return Err(bad());
        }
        let image_id = std::str::from_utf8(body).map_err(|_| bad())?;
        check_image_id(image_id).map_err(|_| bad())?;
        found = Some(Attested { image_id: image_id.to_owned(), lifetime: Duration::from_secs(lifetime) });
    }
    Ok(found)
}

/// Whether `der` meets `policy`: marked attested, and no longer-lived than allowed.
pub(crate) fn check(der: &[u8], policy: &AttestedPolicy) -> Result<Attested, IdentityError> {
    let attested = certificate_attested(der)?.ok_or(IdentityError::NotAttested)?;
    if attested.lifetime > policy.max_lifetime {
        return Err(IdentityError::AttestedLifetime { lifetime: attested.lifetime, max: policy.max_lifetime });
    }
    Ok(attested)
}
