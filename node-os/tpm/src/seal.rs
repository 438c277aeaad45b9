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

use sha2::{Digest as _, Sha256};
use tss_esapi::Context;
use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
use tss_esapi::constants::SessionType;
use tss_esapi::handles::{KeyHandle, ObjectHandle, SessionHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Digest, EccParameter, EccSignature, KeyedHashScheme, Nonce, Public, PublicBuilder, PublicKeyedHashParameters,
    SensitiveData, Signature, SymmetricDefinition,
};
use tss_esapi::traits::UnMarshall;

use crate::attest::{name_of, pcr_selection, pcr_slots, with_policy_session};
use crate::error::{TpmError, UnsealStep};
use crate::signer::{create_primary, decode_blob, flush, read_bounded, refuse_existing, write_blob};
use crate::tpm::Tpm;

/// The most a sealed secret may hold (the TPM's MAX_SYM_DATA).
pub const MAX_SEALED_SECRET: usize = 128;
/// The most a policy reference may hold (a SHA-256 digest's size, which every TPM takes).
pub(crate) const MAX_POLICY_REF: usize = 32;
/// TPM_CC_PolicyPCR.
const TPM_CC_POLICY_PCR: u32 = 0x0000_017F;
/// TPM_CC_PolicyAuthorize.
const TPM_CC_POLICY_AUTHORIZE: u32 = 0x0000_016A;
/// What [`policy_pcr_digest`] returns for a PCR list no TPM takes: all ones, which a policy
/// session would reach only by a SHA-256 preimage.
pub const UNREACHABLE_POLICY: [u8; 32] = [0xFF; 32];
/// TPMA_OBJECT of the authority key as loaded: `sign` (bit 18) only.
const AUTHORITY_ATTRIBUTES: u32 = 0x0004_0000;

/// The release authority's approval of a PCR policy, which [`SealedSecret::unseal`] presents to the
/// TPM. `signature` is the ECDSA P-256 signature (r ‖ s, big-endian, 32 bytes each) by
/// `authority_public` over [`approval_digest`]`(approved_policy, policy_ref)`, and
/// `approved_policy` is [`policy_pcr_digest`] of `pcrs` with the values approved for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyApproval {
    pub pcrs: Vec<u8>,
    pub approved_policy: [u8; 32],
    pub signature: [u8; 64],
    pub authority_public: [u8; 65],
    pub policy_ref: Vec<u8>,
}

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
        let auth_policy = check_sealed_public(&public)
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
            let primary = create_primary(tpm, ctx)?;
            let loaded = ctx
                .execute_with_session(Some(AuthSession::Password), |ctx| ctx.load(primary, private, public))
                .map_err(tpm_at(UnsealStep::Load));
            let object = match loaded {
                Ok(object) => object,
                Err(err) => {
                    flush(ctx, primary);
                    return Err(err);
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

/// The policy digest TPM2_PolicyPCR gives from a fresh session when `pcrs` (SHA-256 bank) hold
/// `values` (`values[i]` is PCR `pcrs[i]`'s value; any order, the TPM's is ascending):
/// `SHA-256(0³² ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION ‖ SHA-256(values in ascending PCR order))`.
///
/// For a list no TPM takes (empty, a PCR over 23, a PCR twice, not one value per PCR) the result
/// is [`UNREACHABLE_POLICY`], a digest no policy session reaches (approving it opens nothing).
pub fn policy_pcr_digest(pcrs: &[u8], values: &[[u8; 32]]) -> [u8; 32] {
    if pcr_slots(pcrs).is_err() || pcrs.len() != values.len() {
        return UNREACHABLE_POLICY;
    }
    let mut pairs: Vec<(u8, &[u8; 32])> = pcrs.iter().copied().zip(values).collect();
    pairs.sort_unstable_by_key(|(pcr, _)| *pcr);
    let mut bitmap = [0u8; 3];
    let mut values_hash = Sha256::new();
    for (pcr, value) in pairs {
        bitmap[usize::from(pcr / 8)] |= 1 << (pcr % 8);
        values_hash.update(value);
    }
    let mut hash = Sha256::new();
    hash.update([0u8; 32]);
    hash.update(TPM_CC_POLICY_PCR.to_be_bytes());
    // TPML_PCR_SELECTION: count 1, TPMS_PCR_SELECTION { hash SHA-256, sizeofSelect 3, bitmap }.
    hash.update(1u32.to_be_bytes());
    hash.update(0x000Bu16.to_be_bytes());
    hash.update([3u8]);
    hash.update(bitmap);
    hash.update(values_hash.finalize());
    hash.finalize().into()
}

/// The Name the TPM gives the authority key `public` (uncompressed SEC1 P-256) when
/// [`SealedSecret::unseal`] loads it: `0x000B ‖ SHA-256(TPMT_PUBLIC)`, where the TPMT_PUBLIC is ECC,
/// nameAlg SHA-256, attributes `sign` only, empty authPolicy, no symmetric algorithm, scheme
/// ECDSA-SHA256, curve NIST P-256, no KDF, unique = (X, Y). The leading 0x04 is not checked here.
pub fn authority_name(public: &[u8; 65]) -> Vec<u8> {
    name_of(&authority_public_area(public))
}

/// The policy digest of `TPM2_PolicyAuthorize(authority_name, policy_ref)`, what the sealed
/// object's authPolicy is: `SHA-256(SHA-256(0³² ‖ TPM_CC_PolicyAuthorize ‖ authority_name) ‖
/// policy_ref)`.
pub fn policy_authorize_digest(authority_name: &[u8], policy_ref: &[u8]) -> [u8; 32] {
    let inner = Sha256::new()
        .chain_update([0u8; 32])
        .chain_update(TPM_CC_POLICY_AUTHORIZE.to_be_bytes())
        .chain_update(authority_name)
        .finalize();
    Sha256::new().chain_update(inner).chain_update(policy_ref).finalize().into()
}

/// What the release key signs (ECDSA P-256, as a prehash) to approve `approved_policy`:
/// `aHash = SHA-256(approved_policy ‖ policy_ref)`.
pub fn approval_digest(approved_policy: &[u8; 32], policy_ref: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update(approved_policy).chain_update(policy_ref).finalize().into()
}

/// The authority key's public area as [`SealedSecret::unseal`] loads it (marshalled TPMT_PUBLIC;
/// see [`authority_name`]).
pub fn authority_public_area(public: &[u8; 65]) -> Vec<u8> {
    let mut area = Vec::with_capacity(90);
    area.extend_from_slice(&0x0023u16.to_be_bytes()); // TPM_ALG_ECC
    area.extend_from_slice(&0x000Bu16.to_be_bytes()); // nameAlg SHA-256
    area.extend_from_slice(&AUTHORITY_ATTRIBUTES.to_be_bytes());
    area.extend_from_slice(&0u16.to_be_bytes()); // authPolicy: empty
    area.extend_from_slice(&0x0010u16.to_be_bytes()); // symmetric: TPM_ALG_NULL
    area.extend_from_slice(&0x0018u16.to_be_bytes()); // scheme: TPM_ALG_ECDSA
    area.extend_from_slice(&0x000Bu16.to_be_bytes()); //   with SHA-256
    area.extend_from_slice(&0x0003u16.to_be_bytes()); // curve: TPM_ECC_NIST_P256
    area.extend_from_slice(&0x0010u16.to_be_bytes()); // kdf: TPM_ALG_NULL
    for coordinate in [&public[1..33], &public[33..65]] {
        area.extend_from_slice(&32u16.to_be_bytes());
        area.extend_from_slice(coordinate);
    }
    area
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

/// Checks a sealed file's public area is a sealed object as [`sealed_template`] makes them; its
/// authPolicy.
fn check_sealed_public(public: &Public) -> Result<[u8; 32], String> {
    let Public::KeyedHash { object_attributes, name_hashing_algorithm, auth_policy, parameters, .. } = public else {
        return Err("not a sealed data object".to_owned());
    };
    let attributes_ok = object_attributes.fixed_tpm()
        && object_attributes.fixed_parent()
        && object_attributes.admin_with_policy()
        && !object_attributes.user_with_auth()
        && !object_attributes.sign_encrypt()
        && !object_attributes.decrypt()
        && !object_attributes.sensitive_data_origin();
    if !attributes_ok || *parameters != PublicKeyedHashParameters::new(KeyedHashScheme::Null) {
        return Err("not a fixedTPM, fixedParent, policy-only sealed data object".to_owned());
    }
    if *name_hashing_algorithm != HashingAlgorithm::Sha256 {
        return Err("not a SHA-256-named object".to_owned());
    }
    <[u8; 32]>::try_from(auth_policy.value()).map_err(|_| "an authPolicy that is not a SHA-256 digest".to_owned())
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
            Ok(policy)
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

    #[test]
    fn pcr_policy_digests_are_order_independent_and_checked() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(policy_pcr_digest(&[15, 7], &[a, b]), policy_pcr_digest(&[7, 15], &[b, a]));
        assert_ne!(policy_pcr_digest(&[15, 7], &[a, b]), policy_pcr_digest(&[7, 15], &[a, b]));
        for (pcrs, values) in [(&[15u8][..], &[][..]), (&[15, 15], &[a, a]), (&[24], &[a]), (&[], &[])] {
            assert_eq!(policy_pcr_digest(pcrs, values), UNREACHABLE_POLICY);
        }
    }
}
