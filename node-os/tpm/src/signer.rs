//! The node identity key: ECC P-256, sign-only, `fixedTPM | fixedParent` (it can never be
//! exported or duplicated), a child of a storage primary re-derived from a fixed template at each
//! start. Its blob on disk (TPM2B_PUBLIC ‖ TPM2B_PRIVATE) is encrypted and integrity-protected by
//! that primary, so it is useless on any other TPM.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use qp_node_key::{HASH_BYTES, NodeSigner, PublicKey, SIGNATURE_BYTES, SignError};
use tss_esapi::Context;
use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::constants::tss::{TPM2_RH_NULL, TPM2_ST_HASHCHECK};
use tss_esapi::handles::KeyHandle;
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{
    Digest, EccParameter, EccPoint, EccScheme, HashScheme, HashcheckTicket, Private, Public, PublicBuilder,
    PublicEccParametersBuilder, Signature, SignatureScheme, SymmetricDefinitionObject,
};
use tss_esapi::traits::{Marshall, UnMarshall};
use tss_esapi::tss2_esys::TPMT_TK_HASHCHECK;

use crate::error::TpmError;
use crate::tpm::Tpm;

/// The largest key file read (a P-256 blob is about 250 bytes).
const MAX_KEY_FILE: u64 = 4096;

/// The node identity key, loaded in a TPM. Signs with ECDSA-SHA256 inside the TPM, over the one
/// shared context (no session is started per signature: the empty-auth key is used through the
/// password session, which costs no TPM command).
pub struct TpmSigner {
    tpm: Arc<Tpm>,
    key: KeyHandle,
    public: PublicKey,
    public_area: Vec<u8>,
    key_file: PathBuf,
}

impl fmt::Debug for TpmSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TpmSigner")
            .field("tpm", &self.tpm)
            .field("key_file", &self.key_file)
            .field("public_key", &self.public)
            .finish_non_exhaustive()
    }
}

impl TpmSigner {
    /// Creates a new identity key in `tpm` and writes its blob to `key_file` (created new, mode
    /// 0600, never overwriting), then loads it.
    pub fn create(tpm: impl Into<Arc<Tpm>>, key_file: &Path) -> Result<Self, TpmError> {
        let tpm = tpm.into();
        refuse_existing(key_file, "key file")?;
        let create_fail = tpm.fail("TPM2_Create");
        let (public, private) = tpm.with_context(|ctx| {
            let primary = create_primary(&tpm, ctx)?;
            let created = signing_key_template().and_then(|template| {
                ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                    ctx.create(primary, template, None, None, None, None)
                })
            });
            flush(ctx, primary);
            let created = created.map_err(&create_fail)?;
            Ok((created.out_public, created.out_private))
        })?;
        write_blob(key_file, &public, &private)?;
        tracing::info!(key_file = %key_file.display(), tcti = tpm.tcti(), "TPM identity key created");
        Self::load_parts(tpm, key_file, public, private)
    }

    /// Loads the key whose blob [`TpmSigner::create`] wrote to `key_file`. Fails with
    /// [`TpmError::Command`] (`TPM2_Load`, an integrity error) on any TPM but the one that made it.
    pub fn load(tpm: impl Into<Arc<Tpm>>, key_file: &Path) -> Result<Self, TpmError> {
        let tpm = tpm.into();
        let (public, private) = read_key_blob(key_file)?;
        Self::load_parts(tpm, key_file, public, private)
    }

    fn load_parts(tpm: Arc<Tpm>, key_file: &Path, public: Public, private: Private) -> Result<Self, TpmError> {
        check_public(&public).map_err(|reason| TpmError::KeyBlob { path: key_file.to_owned(), reason })?;
        let public_key = sec1_public_key(&public)
            .map_err(|reason| TpmError::KeyBlob { path: key_file.to_owned(), reason: reason.to_owned() })?;
        let public_area = public
            .marshall()
            .map_err(|err| TpmError::KeyBlob { path: key_file.to_owned(), reason: format!("public area: {err}") })?;
        let load_fail = tpm.fail("TPM2_Load");
        let key = tpm.with_context(|ctx| {
            let primary = create_primary(&tpm, ctx)?;
            let loaded =
                ctx.execute_with_session(Some(AuthSession::Password), |ctx| ctx.load(primary, private, public));
            // The loaded child stays usable without its parent.
            flush(ctx, primary);
            loaded.map_err(&load_fail)
        })?;
        tracing::info!(key_file = %key_file.display(), tcti = tpm.tcti(), key_id = %qp_node_key::hex(&public_key.key_id()[..8]), "TPM identity key loaded");
        Ok(Self { tpm, key, public: public_key, public_area, key_file: key_file.to_owned() })
    }

    /// The key's public area: the marshalled TPMT_PUBLIC (no size prefix).
    pub fn public_area(&self) -> Vec<u8> {
        self.public_area.clone()
    }

    pub(crate) fn key_handle(&self) -> KeyHandle {
        self.key
    }

    /// The TPM the key lives in (for PCR work over the same context).
    pub fn tpm(&self) -> &Arc<Tpm> {
        &self.tpm
    }

    /// Signs `digest` in the TPM: ECDSA-SHA256, `r ‖ s`.
    pub fn sign(&self, digest: &[u8; HASH_BYTES]) -> Result<[u8; SIGNATURE_BYTES], TpmError> {
        const COMMAND: &str = "TPM2_Sign";
        let fail = self.tpm.fail(COMMAND);
        let signature = self.tpm.with_context(|ctx| {
            let digest = Digest::try_from(digest.to_vec()).map_err(&fail)?;
            let ticket = null_ticket().map_err(&fail)?;
            let scheme = SignatureScheme::EcDsa { hash_scheme: HashScheme::new(HashingAlgorithm::Sha256) };
            ctx.execute_with_session(Some(AuthSession::Password), |ctx| ctx.sign(self.key, digest, scheme, ticket))
                .map_err(&fail)
        })?;
        let Signature::EcDsa(signature) = signature else {
            return Err(self.tpm.unexpected(COMMAND, "a signature that is not ECDSA"));
        };
        let mut out = [0u8; SIGNATURE_BYTES];
        let (r, s) = out.split_at_mut(32);
        left_pad(r, signature.signature_r().value())
            .and_then(|()| left_pad(s, signature.signature_s().value()))
            .map_err(|what| self.tpm.unexpected(COMMAND, what))?;
        Ok(out)
    }
}

impl NodeSigner for TpmSigner {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn sign_digest(&self, digest: &[u8; HASH_BYTES]) -> Result<[u8; SIGNATURE_BYTES], SignError> {
        self.sign(digest).map_err(|err| SignError(err.to_string()))
    }
}

impl Drop for TpmSigner {
    fn drop(&mut self) {
        // Transient objects outlive the connection on a TPM without a resource manager (swtpm).
        let key = self.key;
        let _ = self.tpm.with_context(|ctx| {
            flush(ctx, key);
            Ok(())
        });
    }
}

/// What both keys are: made inside this TPM and bound to it and to their parent (never exported or
/// duplicated), used with the owner's password session, not subject to dictionary-attack lockout.
pub(crate) fn bound_key_attributes() -> ObjectAttributesBuilder {
    ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
}

/// An ECC P-256 key's public template.
pub(crate) fn ecc_p256_template(
    attributes: tss_esapi::attributes::ObjectAttributes,
    parameters: tss_esapi::structures::PublicEccParameters,
    unique: EccPoint,
) -> tss_esapi::Result<Public> {
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_ecc_parameters(parameters)
        .with_ecc_unique_identifier(unique)
        .build()
}

/// The storage primary: ECC P-256, restricted decryption, AES-128-CFB, from a fixed template with
/// a fixed (zero) unique field, so the owner seed re-derives the same key at every start.
fn primary_template() -> tss_esapi::Result<Public> {
    ecc_p256_template(
        bound_key_attributes().with_restricted(true).with_decrypt(true).build()?,
        PublicEccParametersBuilder::new_restricted_decryption_key(
            SymmetricDefinitionObject::AES_128_CFB,
            EccCurve::NistP256,
        )
        .build()?,
        EccPoint::new(EccParameter::try_from(vec![0u8; 32])?, EccParameter::try_from(vec![0u8; 32])?),
    )
}

/// The identity key: ECC P-256, unrestricted signing with ECDSA-SHA256 only, never duplicable.
fn signing_key_template() -> tss_esapi::Result<Public> {
    ecc_p256_template(
        bound_key_attributes().with_sign_encrypt(true).build()?,
        PublicEccParametersBuilder::new_unrestricted_signing_key(
            EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)),
            EccCurve::NistP256,
        )
        .build()?,
        EccPoint::default(),
    )
}

pub(crate) fn create_primary(tpm: &Tpm, ctx: &mut Context) -> Result<KeyHandle, TpmError> {
    let fail = tpm.fail("TPM2_CreatePrimary");
    let template = primary_template().map_err(&fail)?;
    ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
        ctx.create_primary(Hierarchy::Owner, template, None, None, None, None)
    })
    .map(|primary| primary.key_handle)
    .map_err(&fail)
}

pub(crate) fn flush(ctx: &mut Context, handle: KeyHandle) {
    if let Err(err) = ctx.flush_context(handle.into()) {
        tracing::warn!(error = %err, "TPM2_FlushContext failed");
    }
}

/// A NULL hash-check ticket: the digest was not made by the TPM (fine for an unrestricted key).
pub(crate) fn null_ticket() -> tss_esapi::Result<HashcheckTicket> {
    HashcheckTicket::try_from(TPMT_TK_HASHCHECK {
        tag: TPM2_ST_HASHCHECK,
        hierarchy: TPM2_RH_NULL,
        digest: Default::default(),
    })
}

/// Refuses a blob whose public area is not the identity key's kind (an exportable key, another
/// curve or scheme), whatever the TPM would accept.
fn check_public(public: &Public) -> Result<(), String> {
    let Public::Ecc { object_attributes, parameters, .. } = public else {
        return Err("not an ECC key".to_owned());
    };
    let attributes_ok = object_attributes.fixed_tpm()
        && object_attributes.fixed_parent()
        && object_attributes.sign_encrypt()
        && !object_attributes.decrypt()
        && !object_attributes.restricted();
    if !attributes_ok {
        return Err("not a fixedTPM, fixedParent, sign-only key".to_owned());
    }
    if parameters.ecc_curve() != EccCurve::NistP256 {
        return Err("not a P-256 key".to_owned());
    }
    if parameters.ecc_scheme() != EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)) {
        return Err("not an ECDSA-SHA256 key".to_owned());
    }
    Ok(())
}

fn sec1_public_key(public: &Public) -> Result<PublicKey, &'static str> {
    let Public::Ecc { unique, .. } = public else {
        return Err("not an ECC key");
    };
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04;
    let (x, y) = sec1[1..].split_at_mut(32);
    left_pad(x, unique.x().value())?;
    left_pad(y, unique.y().value())?;
    PublicKey::from_sec1(&sec1).map_err(|_| "the public point is not on P-256")
}

/// Copies a big-endian integer into `out`, right-aligned.
pub(crate) fn left_pad(out: &mut [u8], value: &[u8]) -> Result<(), &'static str> {
    let start = out.len().checked_sub(value.len()).ok_or("an integer longer than 32 bytes")?;
    out[start..].copy_from_slice(value);
    Ok(())
}

/// TPM2B_PUBLIC ‖ TPM2B_PRIVATE (each a big-endian u16 size and that many bytes), as tpm2-tools
/// writes `key.pub` and `key.priv`.
pub(crate) fn encode_blob(public: &Public, private: &Private) -> Result<Vec<u8>, String> {
    let public = public.marshall().map_err(|err| format!("cannot marshal the public area: {err}"))?;
    let mut blob = Vec::with_capacity(4 + public.len() + private.len());
    for part in [public.as_slice(), private.value()] {
        let size = u16::try_from(part.len()).map_err(|_| "a part longer than 65535 bytes".to_owned())?;
        blob.extend_from_slice(&size.to_be_bytes());
        blob.extend_from_slice(part);
    }
    Ok(blob)
}

pub(crate) fn decode_blob(blob: &[u8]) -> Result<(Public, Private), String> {
    let (public_bytes, rest) = take_sized(blob, "TPM2B_PUBLIC")?;
    let (private_bytes, rest) = take_sized(rest, "TPM2B_PRIVATE")?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the TPM2B_PRIVATE", rest.len()));
    }
    let public = Public::unmarshall(public_bytes).map_err(|err| format!("bad TPM2B_PUBLIC: {err}"))?;
    // The unmarshaller may stop early: insist the area is exactly the canonical encoding.
    if public.marshall().ok().as_deref() != Some(public_bytes) {
        return Err("the TPM2B_PUBLIC is not canonical".to_owned());
    }
    let private = Private::try_from(private_bytes.to_vec()).map_err(|err| format!("bad TPM2B_PRIVATE: {err}"))?;
    Ok((public, private))
}

fn take_sized<'a>(bytes: &'a [u8], what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let [high, low, rest @ ..] = bytes else {
        return Err(format!("truncated before the {what} size"));
    };
    let size = usize::from(u16::from_be_bytes([*high, *low]));
    if size == 0 || size > rest.len() {
        return Err(format!("{what} of {size} bytes in {} remaining", rest.len()));
    }
    Ok(rest.split_at(size))
}

/// Refuses to go on when `path` exists: a blob file is written once, never overwritten (checked
/// before the TPM makes anything, so a refused call leaves no object behind).
pub(crate) fn refuse_existing(path: &Path, what: &str) -> Result<(), TpmError> {
    if path.exists() {
        return Err(TpmError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{what} exists; not overwriting it"),
            ),
        });
    }
    Ok(())
}

/// Writes TPM2B_PUBLIC ‖ TPM2B_PRIVATE to `path` (new, mode 0600).
pub(crate) fn write_blob(path: &Path, public: &Public, private: &Private) -> Result<(), TpmError> {
    let blob = encode_blob(public, private).map_err(|reason| TpmError::KeyBlob { path: path.to_owned(), reason })?;
    write_new(path, &blob)
}

/// Reads a key blob [`write_blob`] wrote.
pub(crate) fn read_key_blob(path: &Path) -> Result<(Public, Private), TpmError> {
    let blob = read_bounded(path)?;
    decode_blob(&blob).map_err(|reason| TpmError::KeyBlob { path: path.to_owned(), reason })
}

pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>, TpmError> {
    let io = |source| TpmError::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut blob = Vec::new();
    file.take(MAX_KEY_FILE + 1).read_to_end(&mut blob).map_err(io)?;
    if blob.len() as u64 > MAX_KEY_FILE {
        return Err(TpmError::KeyBlob { path: path.to_owned(), reason: format!("larger than {MAX_KEY_FILE} bytes") });
    }
    Ok(blob)
}

pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<(), TpmError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| TpmError::Io { path: path.to_owned(), source };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_decoder_refuses_garbage() {
        for blob in [&b""[..], b"\x00", b"\x00\x00", b"\x00\x05abc", b"\x00\x01a\x00\x01b", b"\x00\x01a\x00\x01bc"] {
            assert!(decode_blob(blob).is_err(), "{blob:?}");
        }
    }

    #[test]
    fn templates_build() {
        assert!(primary_template().is_ok());
        let key = signing_key_template();
        assert!(key.as_ref().is_ok_and(|public| check_public(public).is_ok()));
    }
}
