//! TPM 2.0 structures a verifier reads (TPM 2.0 Part 2, big-endian): TPMS_ATTEST (quotes and
//! certifications), TPMT_SIGNATURE (ECDSA-SHA256) and TPMT_PUBLIC (a "public area": the marshalled
//! TPMT_PUBLIC without the TPM2B size prefix, this project's convention), with encoders for tests
//! and round trips.
//!
//! The encodings are what tss-esapi's `Marshall` writes for `Attest`, `Signature` and `Public`,
//! and what `tpm2_quote -m/-s` writes. The decoders are strict and bounded: every length is
//! checked against the structure's maximum, unknown selectors are refused, trailing bytes are
//! refused, nothing panics, and errors never echo the input's bytes (only numbers: lengths and
//! algorithm identifiers). Decoding is canonical: what decodes re-encodes to the same bytes
//! (checked by property tests), except a signature's `r` and `s`, which are re-encoded at 32 bytes.

use std::fmt;

use crate::sha256;

/// TPM_GENERATED_VALUE: the magic that starts every TPMS_ATTEST the TPM makes.
pub const TPM_GENERATED_VALUE: u32 = 0xFF54_4347;
/// TPM_ST_ATTEST_QUOTE.
pub const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
/// TPM_ST_ATTEST_CERTIFY.
pub const TPM_ST_ATTEST_CERTIFY: u16 = 0x8017;

pub const TPM_ALG_RSA: u16 = 0x0001;
pub const TPM_ALG_AES: u16 = 0x0006;
pub const TPM_ALG_MGF1: u16 = 0x0007;
pub const TPM_ALG_SHA256: u16 = 0x000B;
pub const TPM_ALG_NULL: u16 = 0x0010;
pub const TPM_ALG_SM4: u16 = 0x0013;
pub const TPM_ALG_RSASSA: u16 = 0x0014;
pub const TPM_ALG_RSAES: u16 = 0x0015;
pub const TPM_ALG_RSAPSS: u16 = 0x0016;
pub const TPM_ALG_OAEP: u16 = 0x0017;
pub const TPM_ALG_ECDSA: u16 = 0x0018;
pub const TPM_ALG_ECDH: u16 = 0x0019;
pub const TPM_ALG_ECDAA: u16 = 0x001A;
pub const TPM_ALG_SM2: u16 = 0x001B;
pub const TPM_ALG_ECSCHNORR: u16 = 0x001C;
pub const TPM_ALG_ECMQV: u16 = 0x001D;
pub const TPM_ALG_KDF1_SP800_56A: u16 = 0x0020;
pub const TPM_ALG_KDF2: u16 = 0x0021;
pub const TPM_ALG_KDF1_SP800_108: u16 = 0x0022;
pub const TPM_ALG_ECC: u16 = 0x0023;
pub const TPM_ALG_CAMELLIA: u16 = 0x0026;
pub const TPM_ALG_CFB: u16 = 0x0043;
/// TPM_ECC_NIST_P256.
pub const TPM_ECC_NIST_P256: u16 = 0x0003;
/// TPM_ECC_NIST_P384.
pub const TPM_ECC_NIST_P384: u16 = 0x0004;
/// TPM_RH_ENDORSEMENT: the endorsement hierarchy (its handle is its qualified name).
pub const TPM_RH_ENDORSEMENT: u32 = 0x4000_000B;

/// TPM2B_NAME: a hash algorithm and a digest of up to 64 bytes (or a 4-byte handle).
pub const MAX_NAME: usize = 2 + 64;
/// TPM2B_DATA and TPM2B_DIGEST hold at most a SHA-512 digest.
pub const MAX_DATA: usize = 64;
/// TPM2B_DIGEST.
pub const MAX_DIGEST: usize = 64;
/// TPML_PCR_SELECTION's count.
pub const MAX_PCR_SELECTIONS: usize = 16;
/// TPMS_PCR_SELECTION's sizeofSelect.
pub const MAX_PCR_SELECT: usize = 4;
/// TPM2B_PUBLIC_KEY_RSA (RSA-4096).
pub const MAX_RSA_BYTES: usize = 512;
/// TPM2B_ECC_PARAMETER in a public area (P-521).
pub const MAX_ECC_BYTES: usize = 66;
/// A P-256 signature's r and s.
pub const P256_BYTES: usize = 32;

/// A structure was refused. Never echoes the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StructError {
    #[error("{structure}: truncated in {field}")]
    Truncated { structure: &'static str, field: &'static str },
    #[error("{structure}: {count} bytes after the end of the structure")]
    TrailingBytes { structure: &'static str, count: usize },
    #[error("{structure}: {field} is {len} bytes, over the {max}-byte limit")]
    TooLong { structure: &'static str, field: &'static str, len: usize, max: usize },
    #[error("TPMS_ATTEST: the magic is not TPM_GENERATED_VALUE (the TPM did not make it)")]
    BadMagic,
    #[error("TPMS_ATTEST: type {0:#06x} is neither TPM_ST_ATTEST_QUOTE nor TPM_ST_ATTEST_CERTIFY")]
    UnsupportedAttestType(u16),
    #[error("{structure}: {field} {value} is not a TPMI_YES_NO (0 or 1)")]
    BadBool { structure: &'static str, field: &'static str, value: u8 },
    #[error("TPMT_SIGNATURE: signature algorithm {0:#06x} is not TPM_ALG_ECDSA (0x0018)")]
    UnsupportedSignatureAlgorithm(u16),
    #[error("{structure}: hash algorithm {alg:#06x} in {field} is not TPM_ALG_SHA256 (0x000b)")]
    UnsupportedHash { structure: &'static str, field: &'static str, alg: u16 },
    #[error("{structure}: algorithm {alg:#06x} is not supported in {field}")]
    UnsupportedAlgorithm { structure: &'static str, field: &'static str, alg: u16 },
}

/// A bounded big-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    structure: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], structure: &'static str) -> Self {
        Self { bytes, structure }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], StructError> {
        if n > self.bytes.len() {
            return Err(StructError::Truncated { structure: self.structure, field });
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], StructError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, StructError> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, StructError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, StructError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, StructError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A TPM2B: u16 size, then that many bytes (at most `max`).
    fn tpm2b(&mut self, field: &'static str, max: usize) -> Result<Vec<u8>, StructError> {
        let len = usize::from(self.u16(field)?);
        if len > max {
            return Err(StructError::TooLong { structure: self.structure, field, len, max });
        }
        Ok(self.take(len, field)?.to_vec())
    }

    fn hash_sha256(&mut self, field: &'static str) -> Result<u16, StructError> {
        let alg = self.u16(field)?;
        if alg != TPM_ALG_SHA256 {
            return Err(StructError::UnsupportedHash { structure: self.structure, field, alg });
        }
        Ok(alg)
    }

    fn finish(self) -> Result<(), StructError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(StructError::TrailingBytes { structure: self.structure, count: self.bytes.len() })
        }
    }
}

fn put_tpm2b(out: &mut Vec<u8>, bytes: &[u8]) {
    // Encoders write what they are given; a value over a TPM2B's limit will not decode.
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// TPMS_CLOCK_INFO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockInfo {
    pub clock: u64,
    pub reset_count: u32,
    pub restart_count: u32,
    pub safe: bool,
}

/// TPMS_PCR_SELECTION: a hash bank and a PCR bitmap (bit `n % 8` of byte `n / 8` is PCR `n`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrSelection {
    pub hash: u16,
    pub bitmap: Vec<u8>,
}

impl PcrSelection {
    /// A SHA-256 selection of `pcrs` (each 0..=23; others are ignored) with a 3-byte bitmap.
    pub fn sha256(pcrs: &[u8]) -> Self {
        let mut bitmap = vec![0u8; 3];
        for &pcr in pcrs {
            if let Some(byte) = bitmap.get_mut(usize::from(pcr / 8)) {
                *byte |= 1 << (pcr % 8);
            }
        }
        Self { hash: TPM_ALG_SHA256, bitmap }
    }

    /// The PCRs selected, ascending (PCRs 0..=255: a bitmap's bytes past the 32nd are ignored).
    pub fn pcrs(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (index, byte) in (0u8..32).zip(&self.bitmap) {
            for bit in 0..8u8 {
                if byte & (1 << bit) != 0 {
                    out.push(index * 8 + bit);
                }
            }
        }
        out
    }
}

/// What a TPMS_ATTEST attests (the TPMU_ATTEST arms this project uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attested {
    /// TPMS_QUOTE_INFO: the PCRs selected and the digest of their values (in selection order).
    Quote { pcr_select: Vec<PcrSelection>, pcr_digest: Vec<u8> },
    /// TPMS_CERTIFY_INFO: the certified object's Name and qualified Name.
    Certify { name: Vec<u8>, qualified_name: Vec<u8> },
}

/// TPMS_ATTEST (its magic is implied: the encoder writes it, the decoder requires it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attest {
    /// The qualified Name of the key that signed it.
    pub qualified_signer: Vec<u8>,
    /// The caller's qualifying data (the verifier's nonce), at most 64 bytes.
    pub extra_data: Vec<u8>,
    pub clock_info: ClockInfo,
    pub firmware_version: u64,
    pub attested: Attested,
}

/// A decoded TPMS_ATTEST with the bytes it was decoded from: the signature is over those.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawAttest {
    attest: Attest,
    raw: Vec<u8>,
}

impl RawAttest {
    /// Decodes `bytes` (see [`Attest::decode`]) and keeps them.
    pub fn decode(bytes: &[u8]) -> Result<Self, StructError> {
        Ok(Self { attest: Attest::decode(bytes)?, raw: bytes.to_vec() })
    }

    pub fn attest(&self) -> &Attest {
        &self.attest
    }

    /// The marshalled TPMS_ATTEST, as received.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn into_parts(self) -> (Attest, Vec<u8>) {
        (self.attest, self.raw)
    }
}

impl Attest {
    /// The TPM_ST_ATTEST_* type of the attested arm.
    pub fn attest_type(&self) -> u16 {
        match self.attested {
            Attested::Quote { .. } => TPM_ST_ATTEST_QUOTE,
            Attested::Certify { .. } => TPM_ST_ATTEST_CERTIFY,
        }
    }

    /// The marshalled TPMS_ATTEST.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&TPM_GENERATED_VALUE.to_be_bytes());
        out.extend_from_slice(&self.attest_type().to_be_bytes());
        put_tpm2b(&mut out, &self.qualified_signer);
        put_tpm2b(&mut out, &self.extra_data);
        out.extend_from_slice(&self.clock_info.clock.to_be_bytes());
        out.extend_from_slice(&self.clock_info.reset_count.to_be_bytes());
        out.extend_from_slice(&self.clock_info.restart_count.to_be_bytes());
        out.push(u8::from(self.clock_info.safe));
        out.extend_from_slice(&self.firmware_version.to_be_bytes());
        match &self.attested {
            Attested::Quote { pcr_select, pcr_digest } => {
                out.extend_from_slice(&(pcr_select.len() as u32).to_be_bytes());
                for selection in pcr_select {
                    out.extend_from_slice(&selection.hash.to_be_bytes());
                    out.push(selection.bitmap.len() as u8);
                    out.extend_from_slice(&selection.bitmap);
                }
                put_tpm2b(&mut out, pcr_digest);
            }
            Attested::Certify { name, qualified_name } => {
                put_tpm2b(&mut out, name);
                put_tpm2b(&mut out, qualified_name);
            }
        }
        out
    }

    /// Decodes a marshalled TPMS_ATTEST of type QUOTE or CERTIFY, refusing anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, StructError> {
        const S: &str = "TPMS_ATTEST";
        let mut r = Reader::new(bytes, S);
        if r.u32("magic")? != TPM_GENERATED_VALUE {
            return Err(StructError::BadMagic);
        }
        let attest_type = r.u16("type")?;
        if attest_type != TPM_ST_ATTEST_QUOTE && attest_type != TPM_ST_ATTEST_CERTIFY {
            return Err(StructError::UnsupportedAttestType(attest_type));
        }
        let qualified_signer = r.tpm2b("qualifiedSigner", MAX_NAME)?;
        let extra_data = r.tpm2b("extraData", MAX_DATA)?;
        let clock = r.u64("clockInfo.clock")?;
        let reset_count = r.u32("clockInfo.resetCount")?;
        let restart_count = r.u32("clockInfo.restartCount")?;
        let safe = match r.u8("clockInfo.safe")? {
            0 => false,
            1 => true,
            value => return Err(StructError::BadBool { structure: S, field: "clockInfo.safe", value }),
        };
        let firmware_version = r.u64("firmwareVersion")?;
        let attested = if attest_type == TPM_ST_ATTEST_QUOTE {
            let count = r.u32("pcrSelect.count")? as usize;
            if count > MAX_PCR_SELECTIONS {
                return Err(StructError::TooLong {
                    structure: S,
                    field: "pcrSelect.count",
                    len: count,
                    max: MAX_PCR_SELECTIONS,
                });
            }
            let mut pcr_select = Vec::with_capacity(count);
            for _ in 0..count {
                let hash = r.u16("pcrSelect.hash")?;
                let size = usize::from(r.u8("pcrSelect.sizeofSelect")?);
                if size > MAX_PCR_SELECT {
                    return Err(StructError::TooLong {
                        structure: S,
                        field: "pcrSelect.sizeofSelect",
                        len: size,
                        max: MAX_PCR_SELECT,
                    });
                }
                let bitmap = r.take(size, "pcrSelect.pcrSelect")?.to_vec();
                pcr_select.push(PcrSelection { hash, bitmap });
            }
            let pcr_digest = r.tpm2b("pcrDigest", MAX_DIGEST)?;
            Attested::Quote { pcr_select, pcr_digest }
        } else {
            let name = r.tpm2b("certify.name", MAX_NAME)?;
            let qualified_name = r.tpm2b("certify.qualifiedName", MAX_NAME)?;
            Attested::Certify { name, qualified_name }
        };
        r.finish()?;
        Ok(Self {
            qualified_signer,
            extra_data,
            clock_info: ClockInfo { clock, reset_count, restart_count, safe },
            firmware_version,
            attested,
        })
    }
}

/// TPMT_SIGNATURE with ECDSA over SHA-256 (the only signature this project's AK makes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// r, left-padded to 32 bytes.
    pub r: [u8; P256_BYTES],
    /// s, left-padded to 32 bytes.
    pub s: [u8; P256_BYTES],
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature").field("r", &crate::hex(&self.r)).field("s", &crate::hex(&self.s)).finish()
    }
}

impl Signature {
    /// The marshalled TPMT_SIGNATURE (r and s at 32 bytes, as the TPM writes them).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(72);
        out.extend_from_slice(&TPM_ALG_ECDSA.to_be_bytes());
        out.extend_from_slice(&TPM_ALG_SHA256.to_be_bytes());
        put_tpm2b(&mut out, &self.r);
        put_tpm2b(&mut out, &self.s);
        out
    }

    /// Decodes a marshalled TPMT_SIGNATURE, refusing any algorithm but ECDSA with SHA-256.
    pub fn decode(bytes: &[u8]) -> Result<Self, StructError> {
        let mut r = Reader::new(bytes, "TPMT_SIGNATURE");
        let sig_alg = r.u16("sigAlg")?;
        if sig_alg != TPM_ALG_ECDSA {
            return Err(StructError::UnsupportedSignatureAlgorithm(sig_alg));
        }
        r.hash_sha256("hash")?;
        let sig_r = left_pad::<P256_BYTES>(&r.tpm2b("signatureR", P256_BYTES)?);
        let sig_s = left_pad::<P256_BYTES>(&r.tpm2b("signatureS", P256_BYTES)?);
        r.finish()?;
        Ok(Self { r: sig_r, s: sig_s })
    }

    /// r ‖ s (the fixed-size form ECDSA libraries take).
    pub fn to_bytes(&self) -> [u8; 2 * P256_BYTES] {
        let mut out = [0u8; 2 * P256_BYTES];
        let (r, s) = out.split_at_mut(P256_BYTES);
        r.copy_from_slice(&self.r);
        s.copy_from_slice(&self.s);
        out
    }
}

/// `bytes` (at most N) right-aligned in N bytes.
fn left_pad<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let start = N.saturating_sub(bytes.len());
    if let (Some(dst), Some(src)) = (out.get_mut(start..), bytes.get(bytes.len().saturating_sub(N)..)) {
        dst.copy_from_slice(src);
    }
    out
}

/// TPMA_OBJECT.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ObjectAttributes(pub u32);

impl ObjectAttributes {
    pub const FIXED_TPM: u32 = 1 << 1;
    pub const FIXED_PARENT: u32 = 1 << 4;
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    pub const NO_DA: u32 = 1 << 10;
    pub const RESTRICTED: u32 = 1 << 16;
    pub const DECRYPT: u32 = 1 << 17;
    pub const SIGN: u32 = 1 << 18;

    /// Whether every bit of `mask` is set.
    pub fn has(self, mask: u32) -> bool {
        self.0 & mask == mask
    }
    pub fn fixed_tpm(self) -> bool {
        self.has(Self::FIXED_TPM)
    }
    pub fn fixed_parent(self) -> bool {
        self.has(Self::FIXED_PARENT)
    }
    pub fn sensitive_data_origin(self) -> bool {
        self.has(Self::SENSITIVE_DATA_ORIGIN)
    }
    pub fn user_with_auth(self) -> bool {
        self.has(Self::USER_WITH_AUTH)
    }
    pub fn admin_with_policy(self) -> bool {
        self.has(Self::ADMIN_WITH_POLICY)
    }
    pub fn no_da(self) -> bool {
        self.has(Self::NO_DA)
    }
    pub fn restricted(self) -> bool {
        self.has(Self::RESTRICTED)
    }
    pub fn decrypt(self) -> bool {
        self.has(Self::DECRYPT)
    }
    pub fn sign(self) -> bool {
        self.has(Self::SIGN)
    }
}

impl fmt::Debug for ObjectAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectAttributes({:#010x})", self.0)
    }
}

/// TPMT_SYM_DEF_OBJECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymmetricDef {
    /// TPM_ALG_NULL (a signing key).
    Null,
    /// A block cipher (AES, SM4 or Camellia), its key size and mode (CFB for a storage key).
    Block { algorithm: u16, key_bits: u16, mode: u16 },
}

/// TPMT_RSA_SCHEME, TPMT_ECC_SCHEME and TPMT_KDF_SCHEME.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// TPM_ALG_NULL.
    Null,
    /// A scheme whose details are a hash algorithm (RSASSA, RSAPSS, OAEP, ECDSA, ECDH, SM2,
    /// ECSCHNORR, ECMQV, and the KDFs).
    Hash { scheme: u16, hash_alg: u16 },
    /// TPM_ALG_RSAES (no details).
    Rsaes,
    /// TPM_ALG_ECDAA (a hash algorithm and a count).
    Ecdaa { hash_alg: u16, count: u16 },
}

/// TPMU_PUBLIC_PARMS and TPMU_PUBLIC_ID of an RSA or ECC key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyParameters {
    Rsa { symmetric: SymmetricDef, scheme: Scheme, key_bits: u16, exponent: u32, modulus: Vec<u8> },
    Ecc { symmetric: SymmetricDef, scheme: Scheme, curve_id: u16, kdf: Scheme, x: Vec<u8>, y: Vec<u8> },
}

/// TPMT_PUBLIC of an RSA or ECC key whose name algorithm is SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicArea {
    pub object_attributes: ObjectAttributes,
    pub auth_policy: Vec<u8>,
    pub parameters: KeyParameters,
}

const PUBLIC: &str = "TPMT_PUBLIC";

impl PublicArea {
    /// TPM_ALG_RSA or TPM_ALG_ECC.
    pub fn object_type(&self) -> u16 {
        match self.parameters {
            KeyParameters::Rsa { .. } => TPM_ALG_RSA,
            KeyParameters::Ecc { .. } => TPM_ALG_ECC,
        }
    }

    /// The marshalled TPMT_PUBLIC (no TPM2B size prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(360);
        out.extend_from_slice(&self.object_type().to_be_bytes());
        out.extend_from_slice(&TPM_ALG_SHA256.to_be_bytes());
        out.extend_from_slice(&self.object_attributes.0.to_be_bytes());
        put_tpm2b(&mut out, &self.auth_policy);
        match &self.parameters {
            KeyParameters::Rsa { symmetric, scheme, key_bits, exponent, modulus } => {
                put_symmetric(&mut out, *symmetric);
                put_scheme(&mut out, *scheme);
                out.extend_from_slice(&key_bits.to_be_bytes());
                out.extend_from_slice(&exponent.to_be_bytes());
                put_tpm2b(&mut out, modulus);
            }
            KeyParameters::Ecc { symmetric, scheme, curve_id, kdf, x, y } => {
                put_symmetric(&mut out, *symmetric);
                put_scheme(&mut out, *scheme);
                out.extend_from_slice(&curve_id.to_be_bytes());
                put_scheme(&mut out, *kdf);
                put_tpm2b(&mut out, x);
                put_tpm2b(&mut out, y);
            }
        }
        out
    }

    /// Decodes a marshalled TPMT_PUBLIC (no size prefix) of an RSA or ECC key with name algorithm
    /// SHA-256.
    pub fn decode(bytes: &[u8]) -> Result<Self, StructError> {
        let mut r = Reader::new(bytes, PUBLIC);
        let object_type = r.u16("type")?;
        if object_type != TPM_ALG_RSA && object_type != TPM_ALG_ECC {
            return Err(StructError::UnsupportedAlgorithm { structure: PUBLIC, field: "type", alg: object_type });
        }
        r.hash_sha256("nameAlg")?;
        let object_attributes = ObjectAttributes(r.u32("objectAttributes")?);
        let auth_policy = r.tpm2b("authPolicy", MAX_DIGEST)?;
        let parameters = if object_type == TPM_ALG_RSA {
            let symmetric = read_symmetric(&mut r)?;
            let scheme = read_scheme(&mut r, "parameters.scheme", RSA_SCHEMES)?;
            let key_bits = r.u16("parameters.keyBits")?;
            let exponent = r.u32("parameters.exponent")?;
            let modulus = r.tpm2b("unique.rsa", MAX_RSA_BYTES)?;
            KeyParameters::Rsa { symmetric, scheme, key_bits, exponent, modulus }
        } else {
            let symmetric = read_symmetric(&mut r)?;
            let scheme = read_scheme(&mut r, "parameters.scheme", ECC_SCHEMES)?;
            let curve_id = r.u16("parameters.curveID")?;
            let kdf = read_scheme(&mut r, "parameters.kdf", KDF_SCHEMES)?;
            let x = r.tpm2b("unique.ecc.x", MAX_ECC_BYTES)?;
            let y = r.tpm2b("unique.ecc.y", MAX_ECC_BYTES)?;
            KeyParameters::Ecc { symmetric, scheme, curve_id, kdf, x, y }
        };
        r.finish()?;
        Ok(Self { object_attributes, auth_policy, parameters })
    }

    /// The TPM Name: `0x000B ‖ SHA-256(public area)`.
    pub fn name(&self) -> Vec<u8> {
        name_of(&self.encode())
    }

    /// The qualified Name of this object as a primary key of `hierarchy` (a TPM_RH_* handle).
    pub fn primary_qualified_name(&self, hierarchy: u32) -> Vec<u8> {
        qualified_name(&hierarchy.to_be_bytes(), &self.name())
    }

    /// The SEC1 uncompressed point (0x04 ‖ x ‖ y) of a P-256 key; `None` for another key.
    pub fn ecc_p256_point(&self) -> Option<[u8; 65]> {
        match &self.parameters {
            KeyParameters::Ecc { curve_id: TPM_ECC_NIST_P256, x, y, .. }
                if x.len() <= P256_BYTES && y.len() <= P256_BYTES =>
            {
                let mut out = [0u8; 65];
                out[0] = 0x04;
                out[1..33].copy_from_slice(&left_pad::<P256_BYTES>(x));
                out[33..].copy_from_slice(&left_pad::<P256_BYTES>(y));
                Some(out)
            }
            _ => None,
        }
    }

    /// The SEC1 uncompressed point of an ECC key, its coordinates left-padded to the curve's size
    /// (P-256 and P-384); `None` for another key.
    pub fn ecc_point(&self) -> Option<Vec<u8>> {
        let KeyParameters::Ecc { curve_id, x, y, .. } = &self.parameters else {
            return None;
        };
        let size = match *curve_id {
            TPM_ECC_NIST_P256 => 32,
            TPM_ECC_NIST_P384 => 48,
            _ => return None,
        };
        if x.len() > size || y.len() > size {
            return None;
        }
        let mut out = vec![0u8; 1 + 2 * size];
        out[0] = 0x04;
        out[1 + size - x.len()..1 + size].copy_from_slice(x);
        out[1 + 2 * size - y.len()..].copy_from_slice(y);
        Some(out)
    }

    /// An RSA key's modulus (big-endian, as the TPM holds it).
    pub fn rsa_modulus(&self) -> Option<&[u8]> {
        match &self.parameters {
            KeyParameters::Rsa { modulus, .. } => Some(modulus),
            KeyParameters::Ecc { .. } => None,
        }
    }

    /// An RSA key's public exponent (the field's 0 means the default, 65537).
    pub fn rsa_exponent(&self) -> Option<u32> {
        match &self.parameters {
            KeyParameters::Rsa { exponent: 0, .. } => Some(65537),
            KeyParameters::Rsa { exponent, .. } => Some(*exponent),
            KeyParameters::Ecc { .. } => None,
        }
    }
}

/// The Name of an object whose name algorithm is SHA-256: `0x000B ‖ SHA-256(public area)`.
pub fn name_of(public_area: &[u8]) -> Vec<u8> {
    let mut name = TPM_ALG_SHA256.to_be_bytes().to_vec();
    name.extend_from_slice(&sha256(public_area));
    name
}

/// A qualified Name (Part 1 §16): `0x000B ‖ SHA-256(parent's qualified name ‖ name)`. A primary
/// key's parent qualified name is its hierarchy's handle.
pub fn qualified_name(parent_qualified_name: &[u8], name: &[u8]) -> Vec<u8> {
    let mut both = Vec::with_capacity(parent_qualified_name.len() + name.len());
    both.extend_from_slice(parent_qualified_name);
    both.extend_from_slice(name);
    name_of(&both)
}

const RSA_SCHEMES: &[u16] = &[TPM_ALG_RSASSA, TPM_ALG_RSAES, TPM_ALG_RSAPSS, TPM_ALG_OAEP];
const ECC_SCHEMES: &[u16] =
    &[TPM_ALG_ECDSA, TPM_ALG_ECDH, TPM_ALG_ECDAA, TPM_ALG_SM2, TPM_ALG_ECSCHNORR, TPM_ALG_ECMQV];
const KDF_SCHEMES: &[u16] = &[TPM_ALG_MGF1, TPM_ALG_KDF1_SP800_56A, TPM_ALG_KDF2, TPM_ALG_KDF1_SP800_108];

fn read_symmetric(r: &mut Reader<'_>) -> Result<SymmetricDef, StructError> {
    let algorithm = r.u16("parameters.symmetric.algorithm")?;
    match algorithm {
        TPM_ALG_NULL => Ok(SymmetricDef::Null),
        TPM_ALG_AES | TPM_ALG_SM4 | TPM_ALG_CAMELLIA => {
            let key_bits = r.u16("parameters.symmetric.keyBits")?;
            let mode = r.u16("parameters.symmetric.mode")?;
            Ok(SymmetricDef::Block { algorithm, key_bits, mode })
        }
        alg => Err(StructError::UnsupportedAlgorithm { structure: PUBLIC, field: "parameters.symmetric", alg }),
    }
}

fn put_symmetric(out: &mut Vec<u8>, symmetric: SymmetricDef) {
    match symmetric {
        SymmetricDef::Null => out.extend_from_slice(&TPM_ALG_NULL.to_be_bytes()),
        SymmetricDef::Block { algorithm, key_bits, mode } => {
            out.extend_from_slice(&algorithm.to_be_bytes());
            out.extend_from_slice(&key_bits.to_be_bytes());
            out.extend_from_slice(&mode.to_be_bytes());
        }
    }
}

fn read_scheme(r: &mut Reader<'_>, field: &'static str, allowed: &[u16]) -> Result<Scheme, StructError> {
    let scheme = r.u16(field)?;
    if scheme == TPM_ALG_NULL {
        return Ok(Scheme::Null);
    }
    if !allowed.contains(&scheme) {
        return Err(StructError::UnsupportedAlgorithm { structure: PUBLIC, field, alg: scheme });
    }
    match scheme {
        TPM_ALG_RSAES => Ok(Scheme::Rsaes),
        TPM_ALG_ECDAA => {
            let hash_alg = r.u16(field)?;
            let count = r.u16(field)?;
            Ok(Scheme::Ecdaa { hash_alg, count })
        }
        _ => Ok(Scheme::Hash { scheme, hash_alg: r.u16(field)? }),
    }
}

fn put_scheme(out: &mut Vec<u8>, scheme: Scheme) {
    match scheme {
        Scheme::Null => out.extend_from_slice(&TPM_ALG_NULL.to_be_bytes()),
        Scheme::Hash { scheme, hash_alg } => {
            out.extend_from_slice(&scheme.to_be_bytes());
            out.extend_from_slice(&hash_alg.to_be_bytes());
        }
        Scheme::Rsaes => out.extend_from_slice(&TPM_ALG_RSAES.to_be_bytes()),
        Scheme::Ecdaa { hash_alg, count } => {
            out.extend_from_slice(&TPM_ALG_ECDAA.to_be_bytes());
            out.extend_from_slice(&hash_alg.to_be_bytes());
            out.extend_from_slice(&count.to_be_bytes());
        }
    }
}

/// The fuzz harness (`fuzz/fuzz_targets/attest_decode.rs`; the crate's tests run it too): the
/// three decoders over `bytes`; whatever decodes must re-encode to bytes that decode to the same
/// value. `Err` names a broken invariant.
pub fn fuzz_harness(bytes: &[u8]) -> Result<(), String> {
    if let Ok(attest) = Attest::decode(bytes) {
        if attest.encode() != bytes {
            return Err("TPMS_ATTEST: decoding is not canonical".to_owned());
        }
        let raw = RawAttest::decode(bytes).map_err(|err| format!("RawAttest refused what Attest took: {err}"))?;
        if raw.attest() != &attest || raw.raw() != bytes {
            return Err("RawAttest differs from Attest".to_owned());
        }
    }
    if let Ok(signature) = Signature::decode(bytes) {
        let again = Signature::decode(&signature.encode()).map_err(|err| format!("TPMT_SIGNATURE: {err}"))?;
        if again != signature {
            return Err("TPMT_SIGNATURE: the round trip changed the value".to_owned());
        }
    }
    if let Ok(public) = PublicArea::decode(bytes) {
        if public.encode() != bytes {
            return Err("TPMT_PUBLIC: decoding is not canonical".to_owned());
        }
        if public.name() != name_of(bytes) {
            return Err("TPMT_PUBLIC: the Name is not of the bytes".to_owned());
        }
        let _ = (public.ecc_p256_point(), public.ecc_point(), public.rsa_modulus(), public.rsa_exponent());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
