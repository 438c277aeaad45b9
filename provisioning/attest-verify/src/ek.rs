//! The endorsement key's certificate: issued by the TPM manufacturer's CA, valid, and for the EK
//! whose public area the node sent.
//!
//! EK certificates carry critical extensions that generic TLS path validators refuse (a subject
//! alternative name that is a directoryName of TPM manufacturer attributes, an empty subject), so
//! the signature and key checks are done here directly: parse with `x509-parser`, verify the
//! signature over the TBS bytes with the RustCrypto primitives.
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use qp_attest_core::tpm_struct::{KeyParameters, PublicArea};
use rsa::traits::PublicKeyParts as _;
use sha2::Digest as _;
use x509_parser::certificate::X509Certificate;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::VerifyError;

const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
const SHA384_WITH_RSA: &str = "1.2.840.113549.1.1.12";
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";
const CURVE_P256: &str = "1.2.840.10045.3.1.7";
const CURVE_P384: &str = "1.3.132.0.34";

/// The certificate `ek_cert_der` is signed by one of `manufacturer_cas` (DER; the one whose subject
/// is its issuer), is valid at `now_unix`, and certifies the key of `ek_public` (a marshalled
/// TPMT_PUBLIC: an RSA modulus and exponent, or an ECC point).
///
/// Signatures: RSA PKCS#1 v1.5 with SHA-256 or SHA-384 (what `swtpm_localca` and most TPM vendors
/// use), ECDSA P-256 or P-384 with SHA-256 or SHA-384. The CA certificates themselves are trusted as
/// given (they are the operator's configuration), including their validity.
pub fn verify_ek_certificate(
    ek_cert_der: &[u8],
    manufacturer_ca_der_list: &[Vec<u8>],
    ek_public: &[u8],
    now_unix: u64,
) -> Result<(), VerifyError> {
    let ek_public =
        PublicArea::decode(ek_public).map_err(|source| VerifyError::PublicArea { which: "the EK", source })?;
    let cert = parse(ek_cert_der).ok_or(VerifyError::EkCertificate("not a DER X.509 certificate"))?;
    let digest = signed_digest(&cert)?;
    let issuer = cert.issuer().as_raw();
    let mut signed = false;
    for ca_der in manufacturer_ca_der_list {
        let Some(ca) = parse(ca_der) else {
            continue;
        };
        if ca.subject().as_raw() != issuer {
            continue;
        }
        if verify_signature(ca.public_key(), &digest, &cert.signature_value.data) {
            signed = true;
            break;
        }
    }
    if !signed {
        return Err(VerifyError::EkCertificateNotTrusted { cas: manufacturer_ca_der_list.len() });
    }
    let validity = cert.validity();
    let (not_before, not_after) = (validity.not_before.timestamp(), validity.not_after.timestamp());
    let now = i64::try_from(now_unix).unwrap_or(i64::MAX);
    if now < not_before || now > not_after {
        return Err(VerifyError::EkCertificateNotValidNow { not_before, not_after, now });
    }
    if !certifies(cert.public_key(), &ek_public) {
        return Err(VerifyError::EkKeyMismatch);
    }
    Ok(())
}

fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Some(cert),
        _ => None,
    }
}

/// What the signature is over: the hash of the TBS bytes, by the signature algorithm.
enum SignedDigest {
    RsaSha256([u8; 32]),
    RsaSha384([u8; 48]),
    EcdsaSha256([u8; 32]),
    EcdsaSha384([u8; 48]),
}

fn signed_digest(cert: &X509Certificate<'_>) -> Result<SignedDigest, VerifyError> {
    let outer = &cert.signature_algorithm.algorithm;
    if outer != &cert.tbs_certificate.signature.algorithm {
        return Err(VerifyError::EkCertificate("the signature algorithm differs inside and outside the TBS"));
    }
    let tbs: &[u8] = cert.tbs_certificate.as_ref();
    let sha256 = || -> [u8; 32] { sha2::Sha256::digest(tbs).into() };
    let sha384 = || -> [u8; 48] { sha2::Sha384::digest(tbs).into() };
    match outer.to_id_string().as_str() {
        SHA256_WITH_RSA => Ok(SignedDigest::RsaSha256(sha256())),
        SHA384_WITH_RSA => Ok(SignedDigest::RsaSha384(sha384())),
        ECDSA_WITH_SHA256 => Ok(SignedDigest::EcdsaSha256(sha256())),
        ECDSA_WITH_SHA384 => Ok(SignedDigest::EcdsaSha384(sha384())),
        _ => Err(VerifyError::EkCertificate(
            "signed with an algorithm other than RSA PKCS#1 v1.5 or ECDSA with SHA-256 or SHA-384",
        )),
    }
}

fn verify_signature(ca_key: &SubjectPublicKeyInfo<'_>, digest: &SignedDigest, signature: &[u8]) -> bool {
    let Ok(parsed) = ca_key.parsed() else {
        return false;
    };
    match (parsed, digest) {
        (PublicKey::RSA(key), SignedDigest::RsaSha256(hash)) => rsa_key(key.modulus, key.exponent)
            .is_some_and(|key| key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), hash, signature).is_ok()),
        (PublicKey::RSA(key), SignedDigest::RsaSha384(hash)) => rsa_key(key.modulus, key.exponent)
            .is_some_and(|key| key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha384>(), hash, signature).is_ok()),
        (PublicKey::EC(point), SignedDigest::EcdsaSha256(hash)) => ecdsa_verify(ca_key, point.data(), hash, signature),
        (PublicKey::EC(point), SignedDigest::EcdsaSha384(hash)) => ecdsa_verify(ca_key, point.data(), hash, signature),
        _ => false,
    }
}

fn curve_of(key: &SubjectPublicKeyInfo<'_>) -> Option<String> {
    key.algorithm.parameters.as_ref().and_then(|any| any.as_oid().ok()).map(|oid| oid.to_id_string())
}

fn ecdsa_verify(key: &SubjectPublicKeyInfo<'_>, point: &[u8], hash: &[u8], signature: &[u8]) -> bool {
    match curve_of(key).as_deref() {
        Some(CURVE_P256) => {
            let (Ok(key), Ok(sig)) =
                (p256::ecdsa::VerifyingKey::from_sec1_bytes(point), p256::ecdsa::Signature::from_der(signature))
            else {
                return false;
            };
            key.verify_prehash(hash, &sig).is_ok()
        }
        Some(CURVE_P384) => {
            let (Ok(key), Ok(sig)) =
                (p384::ecdsa::VerifyingKey::from_sec1_bytes(point), p384::ecdsa::Signature::from_der(signature))
            else {
                return false;
            };
            key.verify_prehash(hash, &sig).is_ok()
        }
        _ => false,
    }
}

pub(crate) fn rsa_key(modulus: &[u8], exponent: &[u8]) -> Option<rsa::RsaPublicKey> {
    rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(modulus), rsa::BigUint::from_bytes_be(exponent)).ok()
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Whether the certificate's subject key is the EK's.
fn certifies(spki: &SubjectPublicKeyInfo<'_>, ek: &PublicArea) -> bool {
    let Ok(parsed) = spki.parsed() else {
        return false;
    };
    match (parsed, &ek.parameters) {
        (PublicKey::RSA(key), KeyParameters::Rsa { modulus, .. }) => {
            let exponent = ek.rsa_exponent().unwrap_or(0);
            let Some(cert_key) = rsa_key(key.modulus, key.exponent) else {
                return false;
            };
            strip_zeros(key.modulus) == strip_zeros(modulus)
                && !modulus.is_empty()
                && cert_key.e() == &rsa::BigUint::from(exponent)
        }
        (PublicKey::EC(point), KeyParameters::Ecc { .. }) => {
            let curve_matches = matches!(
                (curve_of(spki).as_deref(), ek.parameters.clone()),
                (Some(CURVE_P256), KeyParameters::Ecc { curve_id: qp_attest_core::tpm_struct::TPM_ECC_NIST_P256, .. })
                    | (
                        Some(CURVE_P384),
                        KeyParameters::Ecc { curve_id: qp_attest_core::tpm_struct::TPM_ECC_NIST_P384, .. }
                    )
            );
            curve_matches && ek.ecc_point().is_some_and(|ek_point| ek_point.as_slice() == point.data())
        }
        _ => false,
    }
}
