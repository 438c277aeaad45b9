//! The repository's signing keys: ECDSA P-256 (what `tough` signs natively, and what the fleet's
//! other keys and a TPM or hardware token use), one PKCS#8 PEM file per key, `ROLE-N.pem` in a
//! keys folder, mode 0600, never overwritten.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use tough::key_source::KeySource;
use tough::sign::Sign;

use crate::{Role, UpdateError};

const PEM_TAG: &str = "PRIVATE KEY";

/// How many keys a role has and how many of them must sign its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolePolicy {
    /// Keys generated for the role (and listed for it in root.json).
    pub keys: usize,
    /// Signatures required; at least 1 and at most `keys`.
    pub threshold: u64,
}

/// The key counts and thresholds of the four roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Offline keys that name all others; a root change needs `threshold` of them.
    pub root: RolePolicy,
    /// The keys that decide what nodes run: two people must sign a release.
    pub targets: RolePolicy,
    /// Online key, signs each release's snapshot.
    pub snapshot: RolePolicy,
    /// Online key, re-signs the timestamp often.
    pub timestamp: RolePolicy,
}

impl Default for KeyPolicy {
    /// The fleet's policy (see DESIGN.md): root 2 of 3, targets 2 of 2, snapshot and timestamp 1 of 1.
    fn default() -> Self {
        Self {
            root: RolePolicy { keys: 3, threshold: 2 },
            targets: RolePolicy { keys: 2, threshold: 2 },
            snapshot: RolePolicy { keys: 1, threshold: 1 },
            timestamp: RolePolicy { keys: 1, threshold: 1 },
        }
    }
}

impl KeyPolicy {
    /// The policy of one role.
    pub fn role(&self, role: Role) -> RolePolicy {
        match role {
            Role::Root => self.root,
            Role::Targets => self.targets,
            Role::Snapshot => self.snapshot,
            Role::Timestamp => self.timestamp,
        }
    }

    pub(crate) fn check(&self) -> Result<(), UpdateError> {
        for role in Role::ALL {
            let policy = self.role(role);
            if policy.threshold == 0 || policy.threshold > policy.keys as u64 {
                return Err(UpdateError::KeyPolicy {
                    role,
                    reason: format!("threshold {} must be between 1 and its {} keys", policy.threshold, policy.keys),
                });
            }
        }
        Ok(())
    }
}

/// The key files found in a keys folder, each with the role its name gives. Only the files'
/// paths are held; each signing operation reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeys {
    files: Vec<(Role, PathBuf)>,
}

impl SigningKeys {
    /// Every `ROLE-N.pem` in `keys_dir` (other files are ignored). A folder holding only some
    /// roles' keys is fine: an operator signs with the keys at hand, and `tough` refuses a role
    /// whose threshold they do not meet.
    pub fn load(keys_dir: &Path) -> Result<Self, UpdateError> {
        let key_file = |reason: String| UpdateError::KeyFile { path: keys_dir.to_owned(), reason };
        let mut files = Vec::new();
        for entry in fs::read_dir(keys_dir).map_err(|e| key_file(e.to_string()))? {
            let entry = entry.map_err(|e| key_file(e.to_string()))?;
            let name = entry.file_name();
            if let Some(role) = name.to_str().and_then(role_of_key_file) {
                files.push((role, entry.path()));
            }
        }
        files.sort();
        Ok(Self { files })
    }

    /// The key files with their roles, sorted.
    pub fn files(&self) -> &[(Role, PathBuf)] {
        &self.files
    }

    /// How many keys of `role` are present.
    pub fn count(&self, role: Role) -> usize {
        self.files.iter().filter(|(r, _)| *r == role).count()
    }

    /// The keys as `tough` key sources (it matches each to its role through root.json).
    pub(crate) fn key_sources(&self) -> Vec<Box<dyn KeySource>> {
        self.files.iter().map(|(_, path)| Box::new(PemKeySource { path: path.clone() }) as Box<dyn KeySource>).collect()
    }

    /// Each key's public half, for root.json.
    pub(crate) fn public_keys(&self) -> Result<Vec<(Role, tough::schema::key::Key)>, UpdateError> {
        self.files.iter().map(|(role, path)| Ok((*role, read_signing_key(path)?.tuf_key()))).collect()
    }
}

/// `targets-2.pem` → targets.
fn role_of_key_file(name: &str) -> Option<Role> {
    let stem = name.strip_suffix(".pem")?;
    let (role, number) = stem.rsplit_once('-')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Role::ALL.into_iter().find(|r| r.name() == role)
}

/// Generates the keys `policy` asks for into `keys_dir` (created with mode 0700 if missing) as
/// `ROLE-N.pem`, mode 0600. Refuses before writing anything if any of those files exists: a key is
/// never overwritten, since root.json may already name it.
pub fn generate_keys(keys_dir: &Path, policy: &KeyPolicy) -> Result<SigningKeys, UpdateError> {
    policy.check()?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(keys_dir)
        .map_err(|e| UpdateError::KeyFile { path: keys_dir.to_owned(), reason: e.to_string() })?;
    let planned: Vec<(Role, PathBuf)> = Role::ALL
        .into_iter()
        .flat_map(|role| (1..=policy.role(role).keys).map(move |n| (role, keys_dir.join(format!("{role}-{n}.pem")))))
        .collect();
    if let Some((_, path)) = planned.iter().find(|(_, path)| path.symlink_metadata().is_ok()) {
        return Err(UpdateError::KeyExists { path: path.clone() });
    }
    let rng = SystemRandom::new();
    for (_, path) in &planned {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| UpdateError::KeyFile { path: path.clone(), reason: "P-256 key generation failed".into() })?;
        let text = pem::encode(&pem::Pem::new(PEM_TAG, pkcs8.as_ref().to_vec()));
        write_new_private_file(path, text.as_bytes())?;
    }
    tracing::info!(dir = %keys_dir.display(), keys = planned.len(), "generated update repository keys");
    let mut files = planned;
    files.sort();
    Ok(SigningKeys { files })
}

fn write_new_private_file(path: &Path, bytes: &[u8]) -> Result<(), UpdateError> {
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            UpdateError::KeyExists { path: path.to_owned() }
        } else {
            UpdateError::KeyFile { path: path.to_owned(), reason: e.to_string() }
        }
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| UpdateError::KeyFile { path: path.to_owned(), reason: e.to_string() })
}

/// Reads a PKCS#8 PEM key. `tough`'s own `LocalKeySource` takes Ed25519 and ECDSA keys only as
/// raw DER (PEM only for RSA), hence this reader.
fn read_signing_key(path: &Path) -> Result<impl Sign + use<>, UpdateError> {
    let key_file = |reason: String| UpdateError::KeyFile { path: path.to_owned(), reason };
    let text = fs::read(path).map_err(|e| key_file(e.to_string()))?;
    let parsed = pem::parse(&text).map_err(|e| key_file(format!("not PEM: {e}")))?;
    if parsed.tag() != PEM_TAG {
        return Err(key_file(format!("PEM label {:?}, expected {PEM_TAG:?}", parsed.tag())));
    }
    tough::sign::parse_keypair(parsed.contents()).map_err(|e| key_file(format!("not a PKCS#8 P-256 key: {e}")))
}

/// A PEM key file as `tough` signs with it.
#[derive(Debug)]
struct PemKeySource {
    path: PathBuf,
}

#[async_trait]
impl KeySource for PemKeySource {
    async fn as_sign(&self) -> Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        Ok(Box::new(read_signing_key(&self.path)?))
    }

    async fn write(&self, _value: &str, _key_id_hex: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("refusing to write key file {}", self.path.display()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_names_give_roles() {
        assert_eq!(role_of_key_file("targets-2.pem"), Some(Role::Targets));
        assert_eq!(role_of_key_file("root-10.pem"), Some(Role::Root));
        assert_eq!(role_of_key_file("root-.pem"), None);
        assert_eq!(role_of_key_file("mirror-1.pem"), None);
        assert_eq!(role_of_key_file("root-1.pem.bak"), None);
    }
}
