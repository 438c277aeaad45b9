//! Secrets sealed to the TPM under an authorized policy: only a TPM whose product PCR holds a value
//! the release key approved can unseal them, and a signed update (new PCR values, a new approval)
//! does not need a reseal.
//!
//! The sealed object is a KeyedHash data object under the storage primary, `fixedTPM |
//! fixedParent | adminWithPolicy | noDA`, no `userWithAuth` (so only a policy session opens it),
//! with `authPolicy = PolicyAuthorize(authority Name, policyRef)`. Unsealing runs, in one policy
//! session: TPM2_PolicyPCR (the TPM folds in the PCRs' current values), a check that the session's
//! digest is the approved one, TPM2_LoadExternal of the authority key (owner hierarchy: a
//! NULL-hierarchy key yields a NULL ticket, which TPM2_PolicyAuthorize refuses),
//! TPM2_VerifySignature of the approval (a ticket), TPM2_PolicyAuthorize, TPM2_Unseal.
//!
//! The pure functions ([`policy_pcr_digest`], [`authority_name`], [`policy_authorize_digest`],
//! [`approval_digest`]) are what the release process computes without a TPM: it signs
//! [`approval_digest`]`(policy_pcr_digest(pcrs, golden values), policy_ref)` with the release key
//! (ECDSA P-256 over that SHA-256 digest, as a prehash).

use std::path::Path;

use tss_esapi::Context;
use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
use tss_esapi::constants::SessionType;
use tss_esapi::handles::{KeyHandle, ObjectHandle, SessionHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Digest, EccParameter, EccSignature, EncryptedSecret, KeyedHashScheme, Nonce, Private, Public, PublicBuilder,
    PublicKeyedHashParameters, SensitiveData, Signature, SymmetricDefinition, SymmetricDefinitionObject,
};
use tss_esapi::traits::UnMarshall;

use qp_attest_core::policy::{
    MAX_POLICY_REF, MAX_SEALED_SECRET, PolicyApproval, approval_digest, authority_name, authority_public_area,
    policy_authorize_digest,
};

use crate::attest::{pcr_selection, with_ek, with_policy_session};
use crate::error::{TpmError, UnsealStep};
use crate::signer::{create_primary, decode_blob, flush, read_bounded, refuse_existing, write_blob};
use crate::tpm::Tpm;

impl Tpm {
    /// The TPM's own TPM2_PolicyPCR digest of `pcrs` (SHA-256 bank) as they are now, from a fresh
    /// policy session (flushed): what [`policy_pcr_digest`] of their current values must equal.
    pub fn pcr_policy_digest(&self, pcrs: &[u8]) -> Result<[u8; 32], TpmError> {
        let selection = pcr_selection(pcrs)?;
        self.with_context(|ctx| {
            with_policy_session(self, ctx, |ctx, session| {
                let policy = PolicySession::try_from(session).map_err(self.fail("TPM2_StartAuthSession"))?;
                ctx.execute_without_session(|ctx| ctx.policy_pcr(policy, Digest::default(), selection))
                    .map_err(self.fail("TPM2_PolicyPCR"))?;
                let digest = ctx
                    .execute_without_session(|ctx| ctx.policy_get_digest(policy))
                    .map_err(self.fail("TPM2_PolicyGetDigest"))?;
                <[u8; 32]>::try_from(digest.value())
                    .map_err(|_| self.unexpected("TPM2_PolicyGetDigest", "a digest that is not 32 bytes"))
            })
        })
    }
}

/// A secret sealed to the TPM under an authorized policy (see the module documentation). The
/// sealed file is `TPM2B_PUBLIC ‖ TPM2B_PRIVATE`, like a key file (mode 0600, never overwritten);
/// its private part is protected by the storage primary, so it loads on no other TPM.
#[derive(Debug)]
pub struct SealedSecret {
    _private: (),
}

impl SealedSecret {
    /// Seals `secret` (at most [`MAX_SEALED_SECRET`] bytes) in `tpm` to `PolicyAuthorize(authority,
    /// policy_ref)` and writes the sealed object to `out_file` (created new, mode 0600).
    ///
    /// `authority` is the release authority's public key (ECC P-256, uncompressed SEC1 `0x04 ‖ X ‖
    /// Y`). It is checked first by loading it (TPM2_LoadExternal: the point must be on the curve,
    /// else [`TpmError::Input`]) and comparing the TPM's Name for it with [`authority_name`]. The secret travels to
    /// the TPM encrypted (an AES-128-CFB session salted with the storage primary).
    pub fn seal(
        tpm: &Tpm,
        authority: &[u8; 65],
        policy_ref: &[u8],
        secret: &[u8],
        out_file: &Path,
    ) -> Result<(), TpmError> {
        if secret.is_empty() || secret.len() > MAX_SEALED_SECRET {
            return Err(TpmError::Input(format!("a {}-byte secret (1 to {MAX_SEALED_SECRET} bytes)", secret.len())));
        }
        check_policy_ref(policy_ref)?;
        refuse_existing(out_file, "sealed file")?;
        if authority[0] != 0x04 {
            return Err(TpmError::Input("an authority key that is not an uncompressed SEC1 point".to_owned()));
        }
        let authority_name = authority_name(authority);
        let auth_policy = policy_authorize_digest(&authority_name, policy_ref);
        let template = sealed_template(&auth_policy).map_err(tpm.fail("building the sealed object's template"))?;
        let data = SensitiveData::try_from(secret.to_vec()).map_err(|err| TpmError::Input(format!("secret: {err}")))?;
        let (public, private) = tpm.with_context(|ctx| {
            let key = load_authority(ctx, authority).map_err(|source| {
                TpmError::Input(format!("the authority key is not a P-256 public key (TPM2_LoadExternal: {source})"))
            })?;
            let name = ctx.tr_get_name(key.into()).map_err(tpm.fail("TPM2_ReadPublic (authority key)"));
            flush(ctx, key);
            if name?.value() != authority_name.as_slice() {
                return Err(tpm.unexpected("TPM2_LoadExternal", "an authority key Name other than authority_name()"));
            }
            let primary = create_primary(tpm, ctx)?;
            let created = with_salted_session(tpm, ctx, primary, SessionType::Hmac, |ctx, session| {
                ctx.execute_with_session(Some(session), |ctx| {
                    ctx.create(primary, template, None, Some(data), None, None)
                })
                .map_err(tpm.fail("TPM2_Create (sealed object)"))
            });
            flush(ctx, primary);
            let created = created?;
            Ok((created.out_public, created.out_private))
        })?;
        write_blob(out_file, &public, &private)?;
        tracing::info!(file = %out_file.display(), tcti = tpm.tcti(), "secret sealed to the TPM");
        Ok(())
    }

    /// Imports a secret an operator sealed for this TPM without it (`qp_attest_verify::seal_for_import`:
    /// a sealed data object wrapped to the endorsement key, as TPM2_Duplicate would, with no inner
    /// wrapper) and writes it to `out_file` (created new, mode 0600) like [`SealedSecret::seal`].
    ///
    /// `public_area` is the object's marshalled TPMT_PUBLIC, which must be an imported sealed
    /// object (adminWithPolicy | noDA, policy-only; see [`qp_attest_core::policy`]); `duplicate`
    /// and `encrypted_seed` are the contents of TPM2B_PRIVATE and TPM2B_ENCRYPTED_SECRET. The EK
    /// opens the seed only if it was encrypted to this TPM's EK, and the outer HMAC binds the blob
    /// to the object's Name: a blob for another TPM, or a changed public area, fails at
    /// `TPM2_Import`. The object is loaded under the EK when unsealed.
    pub fn import(
        tpm: &Tpm,
        public_area: &[u8],
        duplicate: &[u8],
        encrypted_seed: &[u8],
        out_file: &Path,
    ) -> Result<(), TpmError> {
        refuse_existing(out_file, "sealed file")?;
        let public = Public::unmarshall(public_area)
            .map_err(|err| TpmError::Input(format!("the sealed object's public area: {err}")))?;
        match check_sealed_public(&public) {
            Ok((_, SealedParent::Endorsement)) => {}
            Ok((_, SealedParent::StoragePrimary)) => {
                return Err(TpmError::Input("a fixedTPM sealed object cannot be imported".to_owned()));
            }
            Err(reason) => return Err(TpmError::Input(format!("the sealed object's public area: {reason}"))),
        }
        let duplicate =
            Private::try_from(duplicate.to_vec()).map_err(|err| TpmError::Input(format!("duplicate: {err}")))?;
        let seed = EncryptedSecret::try_from(encrypted_seed.to_vec())
            .map_err(|err| TpmError::Input(format!("encrypted seed: {err}")))?;
        let private = tpm.with_context(|ctx| {
            with_ek(tpm, ctx, |ctx, ek, session| {
                ctx.execute_with_session(Some(session), |ctx| {
                    ctx.import(ek.into(), None, public.clone(), duplicate, seed, SymmetricDefinitionObject::Null)
                })
                .map_err(tpm.fail("TPM2_Import"))
            })
        })?;
        write_blob(out_file, &public, &private)?;
        tracing::info!(file = %out_file.display(), tcti = tpm.tcti(), "sealed secret imported under the EK");
        Ok(())
    }

    /// Unseals the secret in `file` with `approval` (see the module documentation for the steps).
    /// Every failure is [`TpmError::Unseal`] naming its [`UnsealStep`] (an unreadable file is
    /// [`TpmError::Io`], a malformed approval [`TpmError::Input`]): PCRs that do not hold the
    /// approved values fail at [`UnsealStep::PcrsNotApproved`], an approval not signed by its
    /// authority key at [`UnsealStep::VerifySignature`], an approval by another authority (or for
    /// another policy reference) than the one sealed to at [`UnsealStep::PolicyAuthorize`], a file
    /// from another TPM at [`UnsealStep::Load`].
    ///
    /// The policy session is salted with the storage primary and encrypts the TPM's answer
    /// (AES-128-CFB), so the secret does not cross the TPM's bus in clear. Every object and session
    /// is flushed on every path.
    pub fn unseal(tpm: &Tpm, file: &Path, approval: &PolicyApproval) -> Result<Vec<u8>, TpmError> {
        let at = |step: UnsealStep, detail: String| TpmError::Unseal { step, detail, source: None };
        let tpm_at =
            |step: UnsealStep| move |source| TpmError::Unseal { step, detail: String::new(), source: Some(source) };
        let selection = pcr_selection(&approval.pcrs)?;
        check_policy_ref(&approval.policy_ref)?;
        if approval.authority_public[0] != 0x04 {
            return Err(TpmError::Input("an authority key that is not an uncompressed SEC1 point".to_owned()));
        }
        let blob = read_bounded(file)?;
        let (public, private) =
            decode_blob(&blob).map_err(|reason| at(UnsealStep::SealedFile, format!("{}: {reason}", file.display())))?;
        let (auth_policy, parent) = check_sealed_public(&public)
            .map_err(|reason| at(UnsealStep::SealedFile, format!("{}: {reason}", file.display())))?;
        let authority = authority_name(&approval.authority_public);
        if auth_policy != policy_authorize_digest(&authority, &approval.policy_ref) {
            return Err(at(
                UnsealStep::PolicyAuthorize,
                "the approval's authority key or policy reference is not the one the secret was sealed to".to_owned(),
            ));
        }
        let approved = Digest::try_from(approval.approved_policy.to_vec()).map_err(tpm_at(UnsealStep::PolicyPcr))?;
        let policy_ref = Nonce::try_from(approval.policy_ref.clone()).map_err(tpm_at(UnsealStep::PolicyAuthorize))?;
        let signature = ecdsa_signature(&approval.signature).map_err(tpm_at(UnsealStep::VerifySignature))?;
        let a_hash = Digest::try_from(approval_digest(&approval.approved_policy, &approval.policy_ref).to_vec())
            .map_err(tpm_at(UnsealStep::VerifySignature))?;
        let authority_public = approval.authority_public;

        let secret = tpm.with_context(|ctx| {
            // The storage primary salts the session either way; it is the parent only of objects
            // sealed in this TPM (imported ones live under the EK, whose policy session opens it).
            // At most two of our objects are loaded at once (parent and object, salt key and object,
            // object and authority key): a TPM without a resource manager has three places, and
            // the identity key keeps one.
            let (primary, object) = match parent {
                SealedParent::StoragePrimary => {
                    let primary = create_primary(tpm, ctx)?;
                    let loaded = ctx
                        .execute_with_session(Some(AuthSession::Password), |ctx| ctx.load(primary, private, public))
                        .map_err(tpm_at(UnsealStep::Load));
                    match loaded {
                        Ok(object) => (primary, object),
                        Err(err) => {
                            flush(ctx, primary);
                            return Err(err);
                        }
                    }
                }
                SealedParent::Endorsement => {
                    let object = with_ek(tpm, ctx, |ctx, ek, session| {
                        ctx.execute_with_session(Some(session), |ctx| ctx.load(ek, private, public))
                            .map_err(tpm_at(UnsealStep::Load))
                    })?;
                    match create_primary(tpm, ctx) {
                        Ok(primary) => (primary, object),
                        Err(err) => {
                            flush(ctx, object);
                            return Err(err);
                        }
                    }
                }
            };
            let result = with_salted_session(tpm, ctx, primary, SessionType::Policy, |ctx, session| {
                // The primary only salts the session: flush it before the policy commands.
                flush(ctx, primary);
                let policy = PolicySession::try_from(session).map_err(tpm_at(UnsealStep::StartSession))?;
                ctx.execute_without_session(|ctx| ctx.policy_pcr(policy, Digest::default(), selection))
                    .map_err(tpm_at(UnsealStep::PolicyPcr))?;
                let digest = ctx
                    .execute_without_session(|ctx| ctx.policy_get_digest(policy))
                    .map_err(tpm_at(UnsealStep::PolicyPcr))?;
                if digest.value() != approval.approved_policy.as_slice() {
                    return Err(at(
                        UnsealStep::PcrsNotApproved,
                        format!(
                            "PCRs {:?} give policy {}, the approval is for {}",
                            approval.pcrs,
                            qp_node_key::hex(digest.value()),
                            qp_node_key::hex(&approval.approved_policy)
                        ),
                    ));
                }
                let key = load_authority(ctx, &authority_public).map_err(tpm_at(UnsealStep::LoadAuthority))?;
                let key_name = ctx.tr_get_name(key.into());
                let ticket = key_name.and_then(|name| {
                    ctx.execute_without_session(|ctx| ctx.verify_signature(key, a_hash, signature)).map(|t| (name, t))
                });
                flush(ctx, key);
                let (key_name, ticket) = ticket.map_err(tpm_at(UnsealStep::VerifySignature))?;
                if key_name.value() != authority.as_slice() {
                    return Err(at(
                        UnsealStep::LoadAuthority,
                        "the TPM names the authority key differently".to_owned(),
                    ));
                }
                ctx.execute_without_session(|ctx| {
                    ctx.policy_authorize(policy, approved, policy_ref, &key_name, ticket)
                })
                .map_err(tpm_at(UnsealStep::PolicyAuthorize))?;
                ctx.execute_with_session(Some(session), |ctx| ctx.unseal(object.into()))
                    .map_err(tpm_at(UnsealStep::Unseal))
            });
            // The session helper flushed the primary on its success path; on a failure to start the
            // session it is still loaded (a second flush of a flushed handle only logs).
            if result.as_ref().is_err_and(|err| matches!(err, TpmError::Unseal { step: UnsealStep::StartSession, .. }))
            {
                flush(ctx, primary);
            }
            flush(ctx, object);
            result
        })?;
        tracing::info!(file = %file.display(), "secret unsealed");
        Ok(secret.value().to_vec())
    }
}

/// Loads the authority key public-only in the owner hierarchy (so TPM2_VerifySignature gives a
/// real ticket: a NULL-hierarchy key gives a NULL ticket, which TPM2_PolicyAuthorize refuses).
fn load_authority(ctx: &mut Context, public: &[u8; 65]) -> tss_esapi::Result<KeyHandle> {
    let public = Public::unmarshall(&authority_public_area(public))?;
    ctx.execute_without_session(|ctx| ctx.load_external_public(public, Hierarchy::Owner))
}

fn check_policy_ref(policy_ref: &[u8]) -> Result<(), TpmError> {
    if policy_ref.len() > MAX_POLICY_REF {
        return Err(TpmError::Input(format!(
            "a {}-byte policy reference (at most {MAX_POLICY_REF})",
            policy_ref.len()
        )));
    }
    Ok(())
}

/// The sealed object's template: a KeyedHash data object (no scheme), SHA-256 names, bound to this
/// TPM and its parent, opened only by a policy session satisfying `auth_policy`.
fn sealed_template(auth_policy: &[u8; 32]) -> tss_esapi::Result<Public> {
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::KeyedHash)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(
            ObjectAttributesBuilder::new()
                .with_fixed_tpm(true)
                .with_fixed_parent(true)
                .with_admin_with_policy(true)
                .with_no_da(true)
                .build()?,
        )
        .with_auth_policy(Digest::try_from(auth_policy.to_vec())?)
        .with_keyed_hash_parameters(PublicKeyedHashParameters::new(KeyedHashScheme::Null))
        .with_keyed_hash_unique_identifier(Digest::default())
        .build()
}

/// Which key a sealed object lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SealedParent {
    /// Sealed in this TPM ([`SealedSecret::seal`]): fixedTPM | fixedParent, under the storage primary.
    StoragePrimary,
    /// Imported ([`SealedSecret::import`]): neither fixed flag, under the endorsement key.
    Endorsement,
}

/// Checks a sealed file's public area is a sealed object as [`sealed_template`] makes them or as
/// an operator wraps them for import; its authPolicy and its parent.
fn check_sealed_public(public: &Public) -> Result<([u8; 32], SealedParent), String> {
    let Public::KeyedHash { object_attributes, name_hashing_algorithm, auth_policy, parameters, .. } = public else {
        return Err("not a sealed data object".to_owned());
    };
    let policy_only = object_attributes.admin_with_policy()
        && !object_attributes.user_with_auth()
        && !object_attributes.sign_encrypt()
        && !object_attributes.decrypt()
        && !object_attributes.sensitive_data_origin()
        && !object_attributes.restricted();
    let parent = match (object_attributes.fixed_tpm(), object_attributes.fixed_parent()) {
        (true, true) => SealedParent::StoragePrimary,
        (false, false) => SealedParent::Endorsement,
        _ => return Err("a sealed data object with only one of fixedTPM and fixedParent".to_owned()),
    };
    if !policy_only || *parameters != PublicKeyedHashParameters::new(KeyedHashScheme::Null) {
        return Err("not a policy-only sealed data object".to_owned());
    }
    if *name_hashing_algorithm != HashingAlgorithm::Sha256 {
        return Err("not a SHA-256-named object".to_owned());
    }
    let policy = <[u8; 32]>::try_from(auth_policy.value())
        .map_err(|_| "an authPolicy that is not a SHA-256 digest".to_owned())?;
    Ok((policy, parent))
}

fn ecdsa_signature(r_s: &[u8; 64]) -> tss_esapi::Result<Signature> {
    let (r, s) = r_s.split_at(32);
    Ok(Signature::EcDsa(EccSignature::create(
        HashingAlgorithm::Sha256,
        EccParameter::try_from(r.to_vec())?,
        EccParameter::try_from(s.to_vec())?,
    )?))
}

/// Runs `f` with a fresh SHA-256 session of `kind` (HMAC or policy), salted with `salt_key` (the
/// storage primary) and encrypting the first command and response parameters with AES-128-CFB;
/// flushes the session on every path (the caller keeps `salt_key`).
fn with_salted_session<T>(
    tpm: &Tpm,
    ctx: &mut Context,
    salt_key: KeyHandle,
    kind: SessionType,
    f: impl FnOnce(&mut Context, AuthSession) -> Result<T, TpmError>,
) -> Result<T, TpmError> {
    let start_error =
        |source| TpmError::Unseal { step: UnsealStep::StartSession, detail: String::new(), source: Some(source) };
    let session = ctx
        .execute_without_session(|ctx| {
            ctx.start_auth_session(
                Some(salt_key),
                None,
                None,
                kind,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
        })
        .map_err(start_error)?
        .ok_or_else(|| tpm.unexpected("TPM2_StartAuthSession", "no session"))?;
    let (attributes, mask) =
        SessionAttributesBuilder::new().with_continue_session(true).with_decrypt(true).with_encrypt(true).build();
    let result = match ctx.tr_sess_set_attributes(session, attributes, mask) {
        Ok(()) => f(ctx, session),
        Err(source) => Err(start_error(source)),
    };
    if let Err(err) = ctx.flush_context(ObjectHandle::from(SessionHandle::from(session))) {
        tracing::debug!(error = %err, "flushing the salted session");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sealed_template_passes_its_own_check() {
        let policy = [7u8; 32];
        assert_eq!(
            sealed_template(&policy).map_err(|err| err.to_string()).and_then(|p| check_sealed_public(&p)),
            Ok((policy, SealedParent::StoragePrimary))
        );
        let imported = qp_attest_core::policy::sealed_public_area(
            qp_attest_core::policy::IMPORTED_SEALED_ATTRIBUTES,
            &policy,
            &[9; 32],
        );
        assert_eq!(
            Public::unmarshall(&imported).map_err(|err| err.to_string()).and_then(|p| check_sealed_public(&p)),
            Ok((policy, SealedParent::Endorsement))
        );
    }

    use tss_esapi::traits::Marshall;

    #[test]
    fn the_authority_public_area_unmarshals_as_an_ecdsa_p256_key() {
        let mut point = [0x11u8; 65];
        point[0] = 0x04;
        let area = authority_public_area(&point);
        let public = Public::unmarshall(&area).map_err(|err| err.to_string());
        assert!(matches!(public, Ok(Public::Ecc { .. })));
        assert_eq!(public.and_then(|p| p.marshall().map_err(|err| err.to_string())), Ok(area));
    }
}
