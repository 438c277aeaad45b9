//! The endorsement key (EK), the attestation key (AK) under it, quotes, certification of the node
//! identity key, and credential activation (the verifier's proof that the AK lives in the same TPM
//! as the EK its manufacturer certified).
//!
//! Encodings, as the verifier decodes them: a "public area" is the marshalled TPMT_PUBLIC (no
//! TPM2B size prefix); a Name is `0x000B ‖ SHA-256(public area)`; an attestation is the marshalled
//! TPMS_ATTEST and its signature the marshalled TPMT_SIGNATURE (what `tpm2_quote -m/-s` write); a
//! credential blob and an encrypted secret are the contents of TPM2B_ID_OBJECT and
//! TPM2B_ENCRYPTED_SECRET without their size prefix.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tss_esapi::Context;
use tss_esapi::abstraction::AsymmetricAlgorithmSelection;
use tss_esapi::abstraction::ek;
use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::constants::SessionType;
use tss_esapi::handles::{KeyHandle, ObjectHandle, SessionHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Data, Digest, EccPoint, EccScheme, EncryptedSecret, HashScheme, IdObject, Name, PcrSelectionList,
    PcrSelectionListBuilder, PcrSlot, Private, Public, PublicBuilder, PublicEccParametersBuilder, SignatureScheme,
    SymmetricDefinition, SymmetricDefinitionObject,
};
use tss_esapi::traits::{Marshall, UnMarshall};
use tss_esapi::utils::TpmsContext;

use crate::error::TpmError;
use crate::signer::TpmSigner;
use crate::signer::{flush, left_pad, read_key_blob, refuse_existing, write_blob};
use crate::tpm::Tpm;

/// The most a nonce (TPM2B_DATA qualifying data) may hold.
pub const MAX_NONCE: usize = 64;
/// DER of SubjectPublicKeyInfo for an uncompressed P-256 point, up to the point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A signed TPM statement: `attest` is the marshalled TPMS_ATTEST, `signature` the marshalled
/// TPMT_SIGNATURE over SHA-256(`attest`) by the AK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    pub attest: Vec<u8>,
    pub signature: Vec<u8>,
}

use qp_attest_core::tpm_struct::name_of;

impl Tpm {
    /// The RSA-2048 EK's certificate (DER) from NV index 0x01c00002, as the manufacturer (or
    /// `swtpm_setup --create-ek-cert`) stored it.
    pub fn ek_certificate(&self) -> Result<Vec<u8>, TpmError> {
        self.with_context(|ctx| {
            ek::retrieve_ek_pubcert(ctx, AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048))
                .map_err(|source| TpmError::EkCertificate { tcti: self.tcti().to_owned(), source })
        })
    }

    /// The EK's public area (TCG default RSA-2048 EK template, re-derived from the endorsement
    /// seed: the same at every call).
    pub fn ek_public_area(&self) -> Result<Vec<u8>, TpmError> {
        self.with_context(|ctx| {
            let ek = create_ek(self, ctx)?;
            let public = ctx.read_public(ek).map_err(self.fail("TPM2_ReadPublic"));
            flush(ctx, ek);
            public?.0.marshall().map_err(self.fail("marshalling the EK public area"))
        })
    }

    /// TPM2_MakeCredential with this TPM as a calculator (what a verifier does in software):
    /// wraps `secret` (≤ 64 bytes) for the TPM whose EK has `ek_public_area`, to be released only
    /// for the object named `name`. Returns (credential blob, encrypted secret), without size
    /// prefixes. The EK is loaded public-only in the NULL hierarchy and flushed.
    pub fn make_credential(
        &self,
        ek_public_area: &[u8],
        name: &[u8],
        secret: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), TpmError> {
        let public =
            Public::unmarshall(ek_public_area).map_err(|err| TpmError::Input(format!("EK public area: {err}")))?;
        let name = Name::try_from(name.to_vec()).map_err(|err| TpmError::Input(format!("name: {err}")))?;
        let secret = Digest::try_from(secret.to_vec()).map_err(|err| TpmError::Input(format!("secret: {err}")))?;
        self.with_context(|ctx| {
            let ek = ctx
                .execute_without_session(|ctx| ctx.load_external_public(public, Hierarchy::Null))
                .map_err(self.fail("TPM2_LoadExternal"))?;
            let made = ctx.execute_without_session(|ctx| ctx.make_credential(ek, secret, name));
            flush(ctx, ek);
            let (blob, secret) = made.map_err(self.fail("TPM2_MakeCredential"))?;
            Ok((blob.value().to_vec(), secret.value().to_vec()))
        })
    }
}

/// The attestation key: ECC P-256, restricted signing (it signs only what the TPM itself made:
/// quotes, certifications), ECDSA-SHA256, `fixedTPM | fixedParent | sensitiveDataOrigin`, a child
/// of the EK. Loaded once and kept as a saved context (TPM2_ContextSave), loaded back for each use
/// (TPM2_ContextLoad, no key derivation): a TPM without a resource manager (swtpm over TCP) has
/// room for three transient objects, and the identity key holds one for good; unsealing needs two.
/// Quotes and certifications use the password session (empty auth).
pub struct AttestationKey {
    tpm: Arc<Tpm>,
    saved: TpmsContext,
    public_area: Vec<u8>,
    public: Public,
    key_file: PathBuf,
}

impl fmt::Debug for AttestationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttestationKey")
            .field("tpm", &self.tpm)
            .field("key_file", &self.key_file)
            .field("name", &qp_node_key::hex(&self.name()))
            .finish_non_exhaustive()
    }
}

impl AttestationKey {
    /// Creates an AK under the EK and writes its blob (TPM2B_PUBLIC ‖ TPM2B_PRIVATE) to
    /// `key_file` (created new, mode 0600, never overwriting), then loads it.
    pub fn create(tpm: impl Into<Arc<Tpm>>, key_file: &Path) -> Result<Self, TpmError> {
        let tpm = tpm.into();
        refuse_existing(key_file, "key file")?;
        let template = ak_template().map_err(tpm.fail("building the AK template"))?;
        let (public, private) = tpm.with_context(|ctx| {
            with_ek(&tpm, ctx, |ctx, ek, session| {
                ctx.execute_with_session(Some(session), |ctx| ctx.create(ek, template, None, None, None, None))
                    .map(|created| (created.out_public, created.out_private))
                    .map_err(tpm.fail("TPM2_Create (AK under the EK)"))
            })
        })?;
        write_blob(key_file, &public, &private)?;
        tracing::info!(key_file = %key_file.display(), tcti = tpm.tcti(), "TPM attestation key created");
        Self::load_parts(tpm, key_file, public, private)
    }

    /// Loads the AK that [`AttestationKey::create`] wrote to `key_file`, refusing a blob whose
    /// public area is not an AK (restricted ECDSA-SHA256 P-256 signing key, fixedTPM, fixedParent,
    /// sensitiveDataOrigin).
    pub fn load(tpm: impl Into<Arc<Tpm>>, key_file: &Path) -> Result<Self, TpmError> {
        let tpm = tpm.into();
        let (public, private) = read_key_blob(key_file)?;
        Self::load_parts(tpm, key_file, public, private)
    }

    fn load_parts(tpm: Arc<Tpm>, key_file: &Path, public: Public, private: Private) -> Result<Self, TpmError> {
        check_ak_public(&public).map_err(|reason| TpmError::KeyBlob { path: key_file.to_owned(), reason })?;
        let public_area = public
            .marshall()
            .map_err(|err| TpmError::KeyBlob { path: key_file.to_owned(), reason: format!("public area: {err}") })?;
        let saved = tpm.with_context(|ctx| {
            let loaded = with_ek(&tpm, ctx, |ctx, ek, session| {
                ctx.execute_with_session(Some(session), |ctx| ctx.load(ek, private, public.clone()))
                    .map_err(tpm.fail("TPM2_Load (AK under the EK)"))
            })?;
            // The TPM's Name must be ours (the verifier computes it from the public area).
            let name = ctx.read_public(loaded).map(|(_, name, _)| name);
            let saved = match name {
                Ok(name) if name.value() == name_of(&public_area).as_slice() => {
                    ctx.context_save(loaded.into()).map_err(tpm.fail("TPM2_ContextSave (AK)"))
                }
                Ok(_) => Err(tpm.unexpected("TPM2_ReadPublic", "an AK Name that is not 0x000B ‖ SHA-256(public area)")),
                Err(err) => Err(tpm.fail("TPM2_ReadPublic")(err)),
            };
            flush(ctx, loaded);
            saved
        })?;
        tracing::info!(key_file = %key_file.display(), tcti = tpm.tcti(), "TPM attestation key loaded");
        Ok(Self { tpm, saved, public_area, public, key_file: key_file.to_owned() })
    }

    /// Runs `f` with the AK loaded from its saved context; flushes it on every path.
    fn with_key<T>(
        &self,
        ctx: &mut Context,
        f: impl FnOnce(&mut Context, KeyHandle) -> Result<T, TpmError>,
    ) -> Result<T, TpmError> {
        let key =
            KeyHandle::from(ctx.context_load(self.saved.clone()).map_err(self.tpm.fail("TPM2_ContextLoad (AK)"))?);
        let result = f(ctx, key);
        flush(ctx, key);
        result
    }

    /// The AK's public area (marshalled TPMT_PUBLIC, no size prefix).
    pub fn public_area(&self) -> Vec<u8> {
        self.public_area.clone()
    }

    /// The AK's Name: `0x000B ‖ SHA-256(public area)` (what a credential is made for).
    pub fn name(&self) -> Vec<u8> {
        name_of(&self.public_area)
    }

    /// The AK's public key as a PEM SubjectPublicKeyInfo (for `tpm2_checkquote -u`).
    pub fn public_key_pem(&self) -> String {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.push(0x04);
        let mut point = [0u8; 64];
        if let Public::Ecc { unique, .. } = &self.public {
            let (x, y) = point.split_at_mut(32);
            // Checked at load: P-256 coordinates fit in 32 bytes.
            let _ = left_pad(x, unique.x().value()).and_then(|()| left_pad(y, unique.y().value()));
        }
        der.extend_from_slice(&point);
        crate::pem_text("PUBLIC KEY", der)
    }

    /// TPM2_ActivateCredential: the secret a verifier wrapped (TPM2_MakeCredential) for this AK's
    /// Name and this TPM's EK. The TPM releases it only if the EK's private key decrypts the seed
    /// and the credential names this AK. Starts (and flushes) one PolicySecret(endorsement)
    /// session for the EK.
    pub fn activate_credential(&self, credential_blob: &[u8], encrypted_secret: &[u8]) -> Result<Vec<u8>, TpmError> {
        let blob = IdObject::try_from(credential_blob.to_vec())
            .map_err(|err| TpmError::Input(format!("credential blob: {err}")))?;
        let secret = EncryptedSecret::try_from(encrypted_secret.to_vec())
            .map_err(|err| TpmError::Input(format!("encrypted secret: {err}")))?;
        let tpm = &self.tpm;
        tpm.with_context(|ctx| {
            with_ek(tpm, ctx, |ctx, ek, session| {
                self.with_key(ctx, |ctx, key| {
                    ctx.execute_with_sessions((Some(AuthSession::Password), Some(session), None), |ctx| {
                        ctx.activate_credential(key, ek, blob, secret)
                    })
                    .map(|digest| digest.value().to_vec())
                    .map_err(tpm.fail("TPM2_ActivateCredential"))
                })
            })
        })
    }

    /// TPM2_Quote of `pcrs` (SHA-256 bank) with qualifying data `nonce` (≤ 64 bytes).
    pub fn quote(&self, nonce: &[u8], pcrs: &[u8]) -> Result<Attestation, TpmError> {
        let nonce = nonce_data(nonce)?;
        let selection = pcr_selection(pcrs)?;
        let tpm = &self.tpm;
        let fail = tpm.fail("TPM2_Quote");
        let (attest, signature) = tpm.with_context(|ctx| {
            self.with_key(ctx, |ctx, key| {
                ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                    ctx.quote(key, nonce, SignatureScheme::Null, selection)
                })
                .map_err(&fail)
            })
        })?;
        Ok(Attestation { attest: attest.marshall().map_err(&fail)?, signature: signature.marshall().map_err(&fail)? })
    }

    /// TPM2_Certify of the node identity key by this AK, with qualifying data `nonce`: proves the
    /// key (by its Name, in the TPMS_ATTEST) is loaded in the same TPM as the AK.
    pub fn certify(&self, key: &TpmSigner, nonce: &[u8]) -> Result<Attestation, TpmError> {
        if !Arc::ptr_eq(key.tpm(), &self.tpm) {
            return Err(TpmError::Input("the key to certify is on another TPM context than the AK".to_owned()));
        }
        let nonce = nonce_data(nonce)?;
        let tpm = &self.tpm;
        let fail = tpm.fail("TPM2_Certify");
        let object = ObjectHandle::from(key.key_handle());
        let (attest, signature) = tpm.with_context(|ctx| {
            self.with_key(ctx, |ctx, ak| {
                ctx.execute_with_sessions((Some(AuthSession::Password), Some(AuthSession::Password), None), |ctx| {
                    ctx.certify(object, ak, nonce, SignatureScheme::Null)
                })
                .map_err(&fail)
            })
        })?;
        Ok(Attestation { attest: attest.marshall().map_err(&fail)?, signature: signature.marshall().map_err(&fail)? })
    }
}

/// The AK template: ECC P-256, restricted signing with ECDSA-SHA256, bound to this TPM and its
/// parent, key made inside the TPM, used with empty auth.
fn ak_template() -> tss_esapi::Result<Public> {
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(
            ObjectAttributesBuilder::new()
                .with_fixed_tpm(true)
                .with_fixed_parent(true)
                .with_sensitive_data_origin(true)
                .with_user_with_auth(true)
                .with_no_da(true)
                .with_restricted(true)
                .with_sign_encrypt(true)
                .build()?,
        )
        .with_ecc_parameters(
            PublicEccParametersBuilder::new()
                .with_symmetric(SymmetricDefinitionObject::Null)
                .with_ecc_scheme(EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)))
                .with_curve(EccCurve::NistP256)
                .with_key_derivation_function_scheme(tss_esapi::structures::KeyDerivationFunctionScheme::Null)
                .with_is_signing_key(true)
                .with_is_decryption_key(false)
                .with_restricted(true)
                .build()?,
        )
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
}

fn check_ak_public(public: &Public) -> Result<(), String> {
    let Public::Ecc { object_attributes, parameters, name_hashing_algorithm, unique, .. } = public else {
        return Err("not an ECC key".to_owned());
    };
    let attributes_ok = object_attributes.fixed_tpm()
        && object_attributes.fixed_parent()
        && object_attributes.sensitive_data_origin()
        && object_attributes.sign_encrypt()
        && object_attributes.restricted()
        && !object_attributes.decrypt();
    if !attributes_ok {
        return Err("not a fixedTPM, fixedParent, sensitiveDataOrigin, restricted signing key (an AK)".to_owned());
    }
    if *name_hashing_algorithm != HashingAlgorithm::Sha256 {
        return Err("not a SHA-256-named key".to_owned());
    }
    if parameters.ecc_curve() != EccCurve::NistP256 {
        return Err("not a P-256 key".to_owned());
    }
    if parameters.ecc_scheme() != EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)) {
        return Err("not an ECDSA-SHA256 key".to_owned());
    }
    if unique.x().value().len() > 32 || unique.y().value().len() > 32 {
        return Err("a public point longer than P-256's".to_owned());
    }
    Ok(())
}

/// Creates the TCG default RSA-2048 EK (a transient primary in the endorsement hierarchy).
pub(crate) fn create_ek(tpm: &Tpm, ctx: &mut Context) -> Result<KeyHandle, TpmError> {
    ek::create_ek_object_2(ctx, AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048), None)
        .map_err(tpm.fail("TPM2_CreatePrimary (EK)"))
}

/// Runs `f` with the EK loaded and a policy session that satisfies the EK's policy
/// (PolicySecret(TPM_RH_ENDORSEMENT)); flushes both on every path.
pub(crate) fn with_ek<T>(
    tpm: &Tpm,
    ctx: &mut Context,
    f: impl FnOnce(&mut Context, KeyHandle, AuthSession) -> Result<T, TpmError>,
) -> Result<T, TpmError> {
    let ek = create_ek(tpm, ctx)?;
    let result = with_policy_session(tpm, ctx, |ctx, session| {
        let policy = PolicySession::try_from(session).map_err(tpm.fail("TPM2_StartAuthSession"))?;
        ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
            ctx.policy_secret(
                policy,
                tss_esapi::handles::AuthHandle::Endorsement,
                Default::default(),
                Default::default(),
                Default::default(),
                None,
            )
        })
        .map_err(tpm.fail("TPM2_PolicySecret (endorsement)"))?;
        f(ctx, ek, session)
    });
    flush(ctx, ek);
    result
}

/// Runs `f` with a fresh (unbound, unsalted) SHA-256 policy session; flushes it on every path.
pub(crate) fn with_policy_session<T>(
    tpm: &Tpm,
    ctx: &mut Context,
    f: impl FnOnce(&mut Context, AuthSession) -> Result<T, TpmError>,
) -> Result<T, TpmError> {
    let fail = tpm.fail("TPM2_StartAuthSession");
    let session = ctx
        .execute_without_session(|ctx| {
            ctx.start_auth_session(
                None,
                None,
                None,
                SessionType::Policy,
                SymmetricDefinition::Null,
                HashingAlgorithm::Sha256,
            )
        })
        .map_err(&fail)?
        .ok_or_else(|| tpm.unexpected("TPM2_StartAuthSession", "no session"))?;
    let result = f(ctx, session);
    // A session the TPM already closed (continueSession clear) fails to flush: nothing is left.
    if let Err(err) = ctx.flush_context(ObjectHandle::from(SessionHandle::from(session))) {
        tracing::debug!(error = %err, "flushing the policy session");
    }
    result
}

fn nonce_data(nonce: &[u8]) -> Result<Data, TpmError> {
    if nonce.len() > MAX_NONCE {
        return Err(TpmError::Input(format!("a {}-byte nonce (at most {MAX_NONCE})", nonce.len())));
    }
    Data::try_from(nonce.to_vec()).map_err(|err| TpmError::Input(format!("nonce: {err}")))
}

/// A SHA-256 selection of `pcrs` (each 0..=23, no repeats, not empty).
pub(crate) fn pcr_selection(pcrs: &[u8]) -> Result<PcrSelectionList, TpmError> {
    let slots = pcr_slots(pcrs)?;
    PcrSelectionListBuilder::new()
        .with_selection(HashingAlgorithm::Sha256, &slots)
        .build()
        .map_err(|err| TpmError::Input(format!("PCR selection: {err}")))
}

pub(crate) fn pcr_slots(pcrs: &[u8]) -> Result<Vec<PcrSlot>, TpmError> {
    if pcrs.is_empty() {
        return Err(TpmError::Input("an empty PCR list".to_owned()));
    }
    let mut seen = 0u32;
    pcrs.iter()
        .map(|&pcr| {
            if pcr >= 24 {
                return Err(TpmError::NoSuchPcr(pcr));
            }
            let bit = 1u32 << pcr;
            if seen & bit != 0 {
                return Err(TpmError::Input(format!("PCR {pcr} listed twice")));
            }
            seen |= bit;
            PcrSlot::try_from(bit).map_err(|_| TpmError::NoSuchPcr(pcr))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ak_template_is_an_ak() {
        assert!(ak_template().is_ok_and(|public| check_ak_public(&public).is_ok()));
    }

    #[test]
    fn pcr_lists_are_checked() {
        assert!(pcr_slots(&[15]).is_ok());
        assert!(pcr_slots(&[]).is_err());
        assert!(pcr_slots(&[15, 15]).is_err());
        assert!(matches!(pcr_slots(&[24]), Err(TpmError::NoSuchPcr(24))));
    }
}
