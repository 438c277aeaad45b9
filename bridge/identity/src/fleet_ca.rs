//! The fleet CA: `qpctl ca init` makes it, `qpctl ca issue` signs node certificates with it.
//!
//! The CA's key is the operator's (a file on the operator's machine, mode 0600, never on a
//! node). A node certificate binds a node's public key (its [`qp_node_key::NodeSigner`]'s) to its
//! [`NodeId`]: one URI SAN `spiffe://<fleet>/<role>/<name>`, usable for TLS server and client
//! authentication (an operator's for client authentication only), valid for a bounded time.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use qp_node_key::PublicKey;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SubjectPublicKeyInfo,
};

use crate::{IdentityError, NodeId};

/// The CA certificate's file in a CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA key's file in a CA directory (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";
/// The fleet's name, written beside the CA.
pub const CA_FLEET_FILE: &str = "fleet";

/// A certificate's validity window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// From a minute ago (clocks differ a little) for `lifetime`.
    pub fn starting_now(lifetime: Duration) -> Self {
        let now = SystemTime::now();
        let not_before = now.checked_sub(Duration::from_secs(60)).unwrap_or(now);
        Self { not_before, not_after: now + lifetime }
    }
}

fn to_offset(at: SystemTime) -> Result<time::OffsetDateTime, IdentityError> {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).map_err(|_| IdentityError::Validity("before 1970"))?.as_secs();
    time::OffsetDateTime::from_unix_timestamp(secs as i64).map_err(|_| IdentityError::Validity("out of range"))
}

/// A node certificate, issued.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub id: NodeId,
    pub der: Vec<u8>,
    pub pem: String,
}

/// The fleet's certificate authority.
pub struct FleetCa {
    fleet: String,
    cert_pem: String,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for FleetCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetCa").field("fleet", &self.fleet).finish_non_exhaustive()
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io { path: path.to_owned(), source }
}

/// Creates `path` (never overwriting) with `mode` and writes `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io_error(path))?;
    file.write_all(bytes).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

fn random_serial() -> Result<SerialNumber, IdentityError> {
    let mut bytes = [0u8; 16];
    getrandom(&mut bytes)?;
    // Positive: the top bit clear.
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

fn getrandom(bytes: &mut [u8]) -> Result<(), IdentityError> {
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(bytes)
        .map_err(|_| IdentityError::Crypto("the system random source failed".to_owned()))
}

impl FleetCa {
    /// A new CA for `fleet` in `dir` (created if missing): `ca.pem`, `ca.key` (0600) and
    /// `fleet`. Refuses a directory that already holds a CA.
    pub fn init(dir: &Path, fleet: &str, lifetime: Duration) -> Result<Self, IdentityError> {
        // The fleet name obeys the node-name rule (it is in every SPIFFE ID).
        NodeId::new(fleet, crate::Role::Cloud, "ca")?;
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(crypto)?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, format!("QuantPype fleet {fleet} CA"));
        name.push(DnType::OrganizationName, "QuantPype Node");
        params.distinguished_name = name;
        // Signs node certificates only, never another CA.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let validity = Validity::starting_now(lifetime);
        params.not_before = to_offset(validity.not_before)?;
        params.not_after = to_offset(validity.not_after)?;
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key).map_err(crypto)?;
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        // The key first: a directory with a key and no certificate is recognisably broken,
        // never a certificate whose key is lost.
        write_new(&dir.join(CA_KEY_FILE), key_pem.as_bytes(), 0o600)?;
        write_new(&dir.join(CA_CERT_FILE), cert_pem.as_bytes(), 0o644)?;
        write_new(&dir.join(CA_FLEET_FILE), format!("{fleet}\n").as_bytes(), 0o644)?;
        Self::load(dir)
    }

    /// The CA in `dir`, as [`FleetCa::init`] wrote it.
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path).map_err(|source| IdentityError::Io { path, source })
        };
        let fleet = read(CA_FLEET_FILE)?.trim().to_owned();
        NodeId::new(&fleet, crate::Role::Cloud, "ca")?;
        let cert_pem = read(CA_CERT_FILE)?;
        let key = KeyPair::from_pem(&read(CA_KEY_FILE)?).map_err(|err| IdentityError::File {
            path: dir.join(CA_KEY_FILE),
            reason: format!("not a PEM private key: {err}"),
        })?;
        let cert_der = crate::pem_certificates(&cert_pem, &dir.join(CA_CERT_FILE))?
            .into_iter()
            .next()
            .ok_or_else(|| IdentityError::File { path: dir.join(CA_CERT_FILE), reason: "no certificate".to_owned() })?;
        let issuer = Issuer::from_ca_cert_der(&cert_der.clone().into(), key).map_err(|err| IdentityError::File {
            path: dir.join(CA_CERT_FILE),
            reason: format!("not a CA certificate: {err}"),
        })?;
        if issuer.key().subject_public_key_info() != crate::certificate_spki(&cert_der)? {
            return Err(IdentityError::File {
                path: dir.join(CA_KEY_FILE),
                reason: "the key is not the certificate's".to_owned(),
            });
        }
        Ok(Self { fleet, cert_pem, cert_der, issuer })
    }

    pub fn fleet(&self) -> &str {
        &self.fleet
    }

    /// The CA certificate, PEM: what every node of the fleet trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A certificate for the node `role`/`name` of this fleet, binding `public_key`.
    pub fn issue(
        &self,
        role: crate::Role,
        name: &str,
        public_key: &PublicKey,
        validity: Validity,
    ) -> Result<IssuedCert, IdentityError> {
        self.issue_inner(role, name, public_key, validity, None)
    }

    /// A short-lived bridge certificate for a node that has just passed attestation (`qpctl
    /// attest`): as [`FleetCa::issue`], marked with the attested extension naming `image_id`, the
    /// image the node proved it runs. Peers that require attestation accept only such
    /// certificates, and only for as long as they are valid.
    pub fn issue_attested(
        &self,
        role: crate::Role,
        name: &str,
        public_key: &PublicKey,
        validity: Validity,
        image_id: &str,
    ) -> Result<IssuedCert, IdentityError> {
        if !role.is_node() {
            return Err(IdentityError::RoleNotAllowed { role, purpose: "attested bridge certificates" });
        }
        self.issue_inner(role, name, public_key, validity, Some(crate::attested::extension(image_id)?))
    }

    fn issue_inner(
        &self,
        role: crate::Role,
        name: &str,
        public_key: &PublicKey,
        validity: Validity,
        attested: Option<CustomExtension>,
    ) -> Result<IssuedCert, IdentityError> {
        let id = NodeId::new(&self.fleet, role, name)?;
        if validity.not_after <= validity.not_before {
            return Err(IdentityError::Validity("not_after must be after not_before"));
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationalUnitName, role.as_str());
        dn.push(DnType::OrganizationName, format!("QuantPype fleet {}", self.fleet));
        params.distinguished_name = dn;
        let uri = rcgen::string::Ia5String::try_from(id.uri()).map_err(crypto)?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = if role.is_node() {
            // Either end of a bridge connection may be the dialer, and a node serves its
            // management API.
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
        } else {
            // An operator only ever dials: its certificate cannot serve anything.
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        params.not_before = to_offset(validity.not_before)?;
        params.not_after = to_offset(validity.not_after)?;
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions.extend(attested);
        let spki = SubjectPublicKeyInfo::from_der(&public_key.to_spki_der().map_err(|e| crypto(e.to_string()))?)
            .map_err(crypto)?;
        let cert = params.signed_by(&spki, &self.issuer).map_err(crypto)?;
        Ok(IssuedCert { id, der: cert.der().to_vec(), pem: cert.pem() })
    }

    /// [`FleetCa::issue`] for a new node key made here: writes `<name>.key` (0600, the
    /// node's [`qp_node_key::FileKeySigner`] key), `<name>.key.pub` and `<name>.pem` into
    /// `out_dir`. Answers the certificate and the key's path.
    pub fn issue_with_new_key(
        &self,
        role: crate::Role,
        name: &str,
        validity: Validity,
        out_dir: &Path,
    ) -> Result<(IssuedCert, PathBuf), IdentityError> {
        NodeId::new(&self.fleet, role, name)?;
        std::fs::create_dir_all(out_dir).map_err(io_error(out_dir))?;
        let key_path = out_dir.join(format!("{name}.key"));
        let signer = qp_node_key::FileKeySigner::generate(&key_path, &out_dir.join(format!("{name}.key.pub")))
            .map_err(|err| IdentityError::Crypto(err.to_string()))?;
        let cert = self.issue(role, name, &qp_node_key::NodeSigner::public_key(&signer), validity)?;
        write_new(&out_dir.join(format!("{name}.pem")), cert.pem.as_bytes(), 0o644)?;
        Ok((cert, key_path))
    }
}

fn crypto(err: impl std::fmt::Display) -> IdentityError {
    IdentityError::Crypto(err.to_string())
}
