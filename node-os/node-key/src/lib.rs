//! The node's signing key behind one trait, [`NodeSigner`]: today a P-256 key in a file
//! ([`FileKeySigner`]); the TPM issue puts the key in the TPM behind the same trait. P-256 ECDSA
//! over a prehashed SHA-256 digest is what a TPM 2.0 signs natively, so verifiers stay the same
//! when the key moves. The audit trail seals its chain with it; the bridge's TLS handshakes sign
//! with it.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};

use sha2::Digest;

mod socket_signer;
pub use socket_signer::{SocketSigner, SocketSignerError, serve_connection, serve_signer};

/// A SHA-256 digest.
pub const HASH_BYTES: usize = 32;
/// An ECDSA P-256 signature, `r ‖ s`.
pub const SIGNATURE_BYTES: usize = 64;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; HASH_BYTES] {
    sha2::Sha256::digest(bytes).into()
}

/// SEC1 uncompressed P-256 point: `04 ‖ x ‖ y`.
pub const PUBLIC_KEY_BYTES: usize = 65;

/// A signer's public key (SEC1 uncompressed P-256).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey([u8; PUBLIC_KEY_BYTES]);

impl PublicKey {
    /// A key from its SEC1 uncompressed bytes, checked to be a point on the curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_sec1_bytes(bytes)
            .map_err(|_| KeyError::Invalid { path: PathBuf::new(), reason: "not a P-256 public key (SEC1)" })?;
        Ok(Self::from_verifying_key(&key))
    }

    /// A public key from a PEM file (SubjectPublicKeyInfo), as `qpctl audit keygen` writes it.
    pub fn load_pem(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.to_owned(), source })?;
        let key = VerifyingKey::from_public_key_pem(&text)
            .map_err(|_| KeyError::Invalid { path: path.to_owned(), reason: "not a PEM P-256 public key" })?;
        Ok(Self::from_verifying_key(&key))
    }

    /// The key as DER SubjectPublicKeyInfo (what a certificate carries).
    pub fn to_spki_der(&self) -> Result<Vec<u8>, KeyError> {
        let key = VerifyingKey::from_sec1_bytes(&self.0)
            .map_err(|_| KeyError::Invalid { path: PathBuf::new(), reason: "not a P-256 public key (SEC1)" })?;
        key.to_public_key_der()
            .map(|der| der.as_bytes().to_vec())
            .map_err(|_| KeyError::Invalid { path: PathBuf::new(), reason: "could not encode the public key" })
    }

    /// A key from DER SubjectPublicKeyInfo (as a certificate carries it).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_public_key_der(der)
            .map_err(|_| KeyError::Invalid { path: PathBuf::new(), reason: "not a P-256 public key (SPKI)" })?;
        Ok(Self::from_verifying_key(&key))
    }

    /// Whether `signature` (DER, as TLS carries it) is this key's signature over SHA-256 of
    /// `message`.
    pub fn verify_message_der(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(key) = VerifyingKey::from_sec1_bytes(&self.0) else {
            return false;
        };
        let Ok(signature) = Signature::from_der(signature) else {
            return false;
        };
        key.verify_prehash(&sha256(message), &signature).is_ok()
    }

    fn from_verifying_key(key: &VerifyingKey) -> Self {
        let point = key.to_encoded_point(false);
        let mut bytes = [0u8; PUBLIC_KEY_BYTES];
        bytes.copy_from_slice(point.as_bytes());
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_BYTES] {
        &self.0
    }

    /// SHA-256 of the SEC1 bytes: the key's short name in seals and reports.
    pub fn key_id(&self) -> [u8; HASH_BYTES] {
        key_id(self)
    }

    /// Whether `signature` (r ‖ s) is this key's signature over `digest`.
    pub fn verify_digest(&self, digest: &[u8; HASH_BYTES], signature: &[u8; SIGNATURE_BYTES]) -> bool {
        let Ok(key) = VerifyingKey::from_sec1_bytes(&self.0) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(signature) else {
            return false;
        };
        key.verify_prehash(digest, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex(&self.key_id()[..8]))
    }
}

/// SHA-256 of a public key's SEC1 bytes.
pub fn key_id(key: &PublicKey) -> [u8; HASH_BYTES] {
    sha256(key.as_bytes())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The node's signing key: the audit trail's seals, the bridge's TLS handshakes. `&self`, and
/// `Send + Sync` for the TLS stack: a signer with a stateful device (the TPM) locks inside.
pub trait NodeSigner: Send + Sync {
    fn public_key(&self) -> PublicKey;
    /// ECDSA P-256 over a 32-byte digest, `r ‖ s`.
    fn sign_digest(&self, digest: &[u8; HASH_BYTES]) -> Result<[u8; SIGNATURE_BYTES], SignError>;

    /// ECDSA P-256 over SHA-256 of `message`, DER-encoded (as TLS 1.3 carries it).
    fn sign_message_der(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let raw = self.sign_digest(&sha256(message))?;
        let signature = Signature::from_slice(&raw).map_err(|err| SignError(err.to_string()))?;
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

/// The signer failed (a TPM busy or gone; never for the file key).
#[derive(Debug, thiserror::Error)]
#[error("node signer failed: {0}")]
pub struct SignError(pub String);

/// A key file could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: &'static str },
}

/// A P-256 signing key kept in a PKCS#8 PEM file (mode 0600).
pub struct FileKeySigner {
    key: SigningKey,
}

impl fmt::Debug for FileKeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKeySigner").field("public_key", &self.public_key()).finish_non_exhaustive()
    }
}

impl FileKeySigner {
    /// Makes a new key from the OS's random source and writes it to `private_path` (created new,
    /// mode 0600, never overwriting) and its public half to `public_path` (PEM SPKI).
    pub fn generate(private_path: &Path, public_path: &Path) -> Result<Self, KeyError> {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::Invalid { path: private_path.to_owned(), reason: "could not encode the key" })?;
        write_new(private_path, pem.as_bytes(), 0o600)?;
        let public_pem = key.verifying_key().to_public_key_pem(LineEnding::LF).map_err(|_| KeyError::Invalid {
            path: public_path.to_owned(),
            reason: "could not encode the public key",
        })?;
        write_new(public_path, public_pem.as_bytes(), 0o644)?;
        Ok(Self { key })
    }

    /// Reads a key written by [`FileKeySigner::generate`].
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.to_owned(), source })?;
        let key = SigningKey::from_pkcs8_pem(&text)
            .map_err(|_| KeyError::Invalid { path: path.to_owned(), reason: "not a PKCS#8 PEM P-256 private key" })?;
        Ok(Self { key })
    }
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| KeyError::Io { path: path.to_owned(), source };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

impl NodeSigner for FileKeySigner {
    fn public_key(&self) -> PublicKey {
        PublicKey::from_verifying_key(self.key.verifying_key())
    }

    fn sign_digest(&self, digest: &[u8; HASH_BYTES]) -> Result<[u8; SIGNATURE_BYTES], SignError> {
        let signature: Signature = self.key.sign_prehash(digest).map_err(|err| SignError(err.to_string()))?;
        let mut out = [0u8; SIGNATURE_BYTES];
        out.copy_from_slice(&signature.to_bytes());
        Ok(out)
    }
}
