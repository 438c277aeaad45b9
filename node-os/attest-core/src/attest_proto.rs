//! The attestation wire protocol between the operator's `qpctl` (client) and the node's TPM
//! service `qp-attestd` (server), over TCP. Sans-I/O: messages encode to bytes, and a decoder
//! takes bytes and gives a whole message and the bytes it used, "need more", or a typed error.
//!
//! A frame is a u32 big-endian payload length (at most [`MAX_PAYLOAD`], refused from the length
//! alone, before anything is buffered) and the payload: a u8 message type, then the message's
//! fields in order. A variable field is a u32 big-endian length and its bytes, each with its own
//! maximum; a fixed field (the nonce, an error code) is its bytes. Nothing may follow the last
//! field inside a frame. One request, one response; the client may send the next request on the
//! same connection.
//!
//! | type | message | fields |
//! |------|---------|--------|
//! | 0x01 | `GetEnrollment` | — |
//! | 0x02 | `ActivateCredential` | credential_blob (≤ 512), encrypted_secret (≤ 1024) |
//! | 0x03 | `Quote` | nonce (32 bytes, fixed) |
//! | 0x04 | `InstallCertificate` | cert_der (≤ 16 KiB) |
//! | 0x05 | `InstallSealedSecret` | name (1–64 of `[a-z0-9._-]`), public_area, duplicate, encrypted_seed (≤ 1 KiB each) |
//! | 0x06 | `InstallApproval` | approval_json (≤ 4 KiB) |
//! | 0x81 | `Enrollment` | ek_certificate_der (≤ 16 KiB), ek_public, ak_public, identity_public (≤ 1 KiB each) |
//! | 0x82 | `Activated` | secret (≤ 64) |
//! | 0x83 | `Evidence` | image_id (1–128 of `[A-Za-z0-9._-]`), quote_attest (≤ 1 KiB), quote_signature (≤ 1 KiB), log (≤ 1 MiB), certify_attest (≤ 1 KiB), certify_signature (≤ 1 KiB) |
//! | 0x84 | `Installed` | — |
//! | 0x85 | `Error` | code (u16, fixed), message (≤ 512 bytes of UTF-8, no control characters) |

use std::fmt;

/// The largest payload a frame may carry.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// The length prefix.
const HEADER: usize = 4;

/// A certificate (the EK's, or the bridge certificate to install).
pub const MAX_CERT: usize = 16 * 1024;
/// A marshalled TPMT_PUBLIC.
pub const MAX_PUBLIC: usize = 1024;
/// A marshalled TPMS_ATTEST or TPMT_SIGNATURE.
pub const MAX_ATTEST: usize = 1024;
/// TPM2B_ID_OBJECT's contents.
pub const MAX_CREDENTIAL_BLOB: usize = 512;
/// TPM2B_ENCRYPTED_SECRET's contents.
pub const MAX_ENCRYPTED_SECRET: usize = 1024;
/// An activated secret.
pub const MAX_SECRET: usize = 64;
/// The image id.
pub const MAX_IMAGE_ID: usize = 128;
/// The encoded measurement log.
pub const MAX_LOG: usize = crate::log::MAX_LOG_BYTES;
/// An error message.
pub const MAX_ERROR_MESSAGE: usize = 512;
/// A vault secret's name.
pub const MAX_SECRET_NAME: usize = 64;
/// An import blob's parts (TPMT_PUBLIC, TPM2B_PRIVATE and TPM2B_ENCRYPTED_SECRET contents).
pub const MAX_IMPORT_PART: usize = 1024;

const T_GET_ENROLLMENT: u8 = 0x01;
const T_ACTIVATE_CREDENTIAL: u8 = 0x02;
const T_QUOTE: u8 = 0x03;
const T_INSTALL_CERTIFICATE: u8 = 0x04;
const T_INSTALL_SEALED_SECRET: u8 = 0x05;
const T_INSTALL_APPROVAL: u8 = 0x06;
const T_ENROLLMENT: u8 = 0x81;
const T_ACTIVATED: u8 = 0x82;
const T_EVIDENCE: u8 = 0x83;
const T_INSTALLED: u8 = 0x84;
const T_ERROR: u8 = 0x85;

/// What the verifier asks.
#[derive(Clone, PartialEq, Eq)]
pub enum Request {
    /// The EK certificate and the public areas of the EK, the AK and the identity key.
    GetEnrollment,
    /// TPM2_ActivateCredential: the contents of TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET.
    ActivateCredential { credential_blob: Vec<u8>, encrypted_secret: Vec<u8> },
    /// A quote and a certification of the identity key over `nonce`, with the event log.
    Quote { nonce: [u8; 32] },
    /// A bridge certificate (DER) for the identity key.
    InstallCertificate { cert_der: Vec<u8> },
    /// A vault secret sealed for this node's TPM (wrapped to its EK), to import under `name`.
    InstallSealedSecret { name: String, public_area: Vec<u8>, duplicate: Vec<u8>, encrypted_seed: Vec<u8> },
    /// The release key's approval of an image's PCR values (`approval.json`).
    InstallApproval { approval_json: Vec<u8> },
}

/// What the node answers.
#[derive(Clone, PartialEq, Eq)]
pub enum Response {
    Enrollment {
        ek_certificate_der: Vec<u8>,
        ek_public: Vec<u8>,
        ak_public: Vec<u8>,
        identity_public: Vec<u8>,
    },
    Activated {
        secret: Vec<u8>,
    },
    Evidence {
        image_id: String,
        quote_attest: Vec<u8>,
        quote_signature: Vec<u8>,
        /// The encoded [`crate::log::MeasurementLog`].
        log: Vec<u8>,
        certify_attest: Vec<u8>,
        certify_signature: Vec<u8>,
    },
    Installed,
    Error {
        code: u16,
        message: String,
    },
}

/// Bytes are summarized in `Debug` (a secret or a log is not printed).
fn bytes_summary(bytes: &[u8]) -> String {
    format!("<{} bytes>", bytes.len())
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::GetEnrollment => f.write_str("GetEnrollment"),
            Request::ActivateCredential { credential_blob, encrypted_secret } => f
                .debug_struct("ActivateCredential")
                .field("credential_blob", &bytes_summary(credential_blob))
                .field("encrypted_secret", &bytes_summary(encrypted_secret))
                .finish(),
            Request::Quote { nonce } => f.debug_struct("Quote").field("nonce", &crate::hex(nonce)).finish(),
            Request::InstallCertificate { cert_der } => {
                f.debug_struct("InstallCertificate").field("cert_der", &bytes_summary(cert_der)).finish()
            }
            Request::InstallSealedSecret { name, public_area, duplicate, encrypted_seed } => f
                .debug_struct("InstallSealedSecret")
                .field("name", name)
                .field("public_area", &bytes_summary(public_area))
                .field("duplicate", &bytes_summary(duplicate))
                .field("encrypted_seed", &bytes_summary(encrypted_seed))
                .finish(),
            Request::InstallApproval { approval_json } => {
                f.debug_struct("InstallApproval").field("approval_json", &bytes_summary(approval_json)).finish()
            }
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Response::Enrollment { ek_certificate_der, ek_public, ak_public, identity_public } => f
                .debug_struct("Enrollment")
                .field("ek_certificate_der", &bytes_summary(ek_certificate_der))
                .field("ek_public", &bytes_summary(ek_public))
                .field("ak_public", &bytes_summary(ak_public))
                .field("identity_public", &bytes_summary(identity_public))
                .finish(),
            Response::Activated { secret } => {
                f.debug_struct("Activated").field("secret", &bytes_summary(secret)).finish()
            }
            Response::Evidence { image_id, quote_attest, quote_signature, log, certify_attest, certify_signature } => f
                .debug_struct("Evidence")
                .field("image_id", image_id)
                .field("quote_attest", &bytes_summary(quote_attest))
                .field("quote_signature", &bytes_summary(quote_signature))
                .field("log", &bytes_summary(log))
                .field("certify_attest", &bytes_summary(certify_attest))
                .field("certify_signature", &bytes_summary(certify_signature))
                .finish(),
            Response::Installed => f.write_str("Installed"),
            Response::Error { code, message } => {
                f.debug_struct("Error").field("code", code).field("message", message).finish()
            }
        }
    }
}

/// A frame or a message was refused. Never echoes the input's bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("frame of {len} bytes, over the {max}-byte limit")]
    FrameTooLarge { len: usize, max: usize },
    #[error("empty frame (no message type)")]
    EmptyFrame,
    #[error("unknown {expected} message type {ty:#04x}")]
    UnknownType { ty: u8, expected: &'static str },
    #[error("{message}: truncated in {field}")]
    Truncated { message: &'static str, field: &'static str },
    #[error("{message}: {field} is {len} bytes, over the {max}-byte limit")]
    FieldTooLong { message: &'static str, field: &'static str, len: usize, max: usize },
    #[error("{message}: {count} bytes after the last field")]
    TrailingBytes { message: &'static str, count: usize },
    #[error("{message}: {field} is not valid: {problem}")]
    BadField { message: &'static str, field: &'static str, problem: &'static str },
    #[error("the connection ended inside a frame ({buffered} bytes of it received)")]
    TruncatedFrame { buffered: usize },
}

/// The outcome of decoding from the start of a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole message, and how many bytes of the buffer its frame took.
    Complete { message: T, consumed: usize },
    /// The buffer holds only part of a frame (its length is within the limit).
    NeedMore,
}

impl Request {
    /// The frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(self.message_type());
        match self {
            Request::GetEnrollment => {}
            Request::ActivateCredential { credential_blob, encrypted_secret } => {
                w.field(credential_blob);
                w.field(encrypted_secret);
            }
            Request::Quote { nonce } => w.fixed(nonce),
            Request::InstallCertificate { cert_der } => w.field(cert_der),
            Request::InstallSealedSecret { name, public_area, duplicate, encrypted_seed } => {
                w.field(name.as_bytes());
                w.field(public_area);
                w.field(duplicate);
                w.field(encrypted_seed);
            }
            Request::InstallApproval { approval_json } => w.field(approval_json),
        }
        w.finish()
    }

    fn message_type(&self) -> u8 {
        match self {
            Request::GetEnrollment => T_GET_ENROLLMENT,
            Request::ActivateCredential { .. } => T_ACTIVATE_CREDENTIAL,
            Request::Quote { .. } => T_QUOTE,
            Request::InstallCertificate { .. } => T_INSTALL_CERTIFICATE,
            Request::InstallSealedSecret { .. } => T_INSTALL_SEALED_SECRET,
            Request::InstallApproval { .. } => T_INSTALL_APPROVAL,
        }
    }

    /// Decodes one request frame from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Decoded<Self>, ProtoError> {
        decode_frame(buf, Self::decode_payload)
    }

    /// Decodes a payload (the frame without its length).
    pub fn decode_payload(payload: &[u8]) -> Result<Self, ProtoError> {
        let (&ty, body) = payload.split_first().ok_or(ProtoError::EmptyFrame)?;
        let request = match ty {
            T_GET_ENROLLMENT => {
                Fields::new(body, "GetEnrollment").finish()?;
                Request::GetEnrollment
            }
            T_ACTIVATE_CREDENTIAL => {
                let mut r = Fields::new(body, "ActivateCredential");
                let credential_blob = r.field("credential_blob", MAX_CREDENTIAL_BLOB)?;
                let encrypted_secret = r.field("encrypted_secret", MAX_ENCRYPTED_SECRET)?;
                r.finish()?;
                Request::ActivateCredential { credential_blob, encrypted_secret }
            }
            T_QUOTE => {
                let mut r = Fields::new(body, "Quote");
                let nonce = r.fixed::<32>("nonce")?;
                r.finish()?;
                Request::Quote { nonce }
            }
            T_INSTALL_CERTIFICATE => {
                let mut r = Fields::new(body, "InstallCertificate");
                let cert_der = r.field("cert_der", MAX_CERT)?;
                r.finish()?;
                Request::InstallCertificate { cert_der }
            }
            T_INSTALL_SEALED_SECRET => {
                const M: &str = "InstallSealedSecret";
                let mut r = Fields::new(body, M);
                let name = r.field("name", MAX_SECRET_NAME)?;
                if !secret_name_ok(&name) {
                    return Err(ProtoError::BadField { message: M, field: "name", problem: "not 1-64 of [a-z0-9._-]" });
                }
                // Checked ASCII above.
                let name = String::from_utf8(name).map_err(|_| ProtoError::BadField {
                    message: M,
                    field: "name",
                    problem: "not UTF-8",
                })?;
                let public_area = r.field("public_area", MAX_IMPORT_PART)?;
                let duplicate = r.field("duplicate", MAX_IMPORT_PART)?;
                let encrypted_seed = r.field("encrypted_seed", MAX_IMPORT_PART)?;
                r.finish()?;
                Request::InstallSealedSecret { name, public_area, duplicate, encrypted_seed }
            }
            T_INSTALL_APPROVAL => {
                let mut r = Fields::new(body, "InstallApproval");
                let approval_json = r.field("approval_json", crate::policy::MAX_APPROVAL_JSON)?;
                r.finish()?;
                Request::InstallApproval { approval_json }
            }
            ty => return Err(ProtoError::UnknownType { ty, expected: "request" }),
        };
        Ok(request)
    }
}

impl Response {
    /// The frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(self.message_type());
        match self {
            Response::Enrollment { ek_certificate_der, ek_public, ak_public, identity_public } => {
                w.field(ek_certificate_der);
                w.field(ek_public);
                w.field(ak_public);
                w.field(identity_public);
            }
            Response::Activated { secret } => w.field(secret),
            Response::Evidence { image_id, quote_attest, quote_signature, log, certify_attest, certify_signature } => {
                w.field(image_id.as_bytes());
                w.field(quote_attest);
                w.field(quote_signature);
                w.field(log);
                w.field(certify_attest);
                w.field(certify_signature);
            }
            Response::Installed => {}
            Response::Error { code, message } => {
                w.fixed(&code.to_be_bytes());
                w.field(message.as_bytes());
            }
        }
        w.finish()
    }

    fn message_type(&self) -> u8 {
        match self {
            Response::Enrollment { .. } => T_ENROLLMENT,
            Response::Activated { .. } => T_ACTIVATED,
            Response::Evidence { .. } => T_EVIDENCE,
            Response::Installed => T_INSTALLED,
            Response::Error { .. } => T_ERROR,
        }
    }

    /// Decodes one response frame from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Decoded<Self>, ProtoError> {
        decode_frame(buf, Self::decode_payload)
    }

    /// Decodes a payload (the frame without its length).
    pub fn decode_payload(payload: &[u8]) -> Result<Self, ProtoError> {
        let (&ty, body) = payload.split_first().ok_or(ProtoError::EmptyFrame)?;
        let response = match ty {
            T_ENROLLMENT => {
                let mut r = Fields::new(body, "Enrollment");
                let ek_certificate_der = r.field("ek_certificate_der", MAX_CERT)?;
                let ek_public = r.field("ek_public", MAX_PUBLIC)?;
                let ak_public = r.field("ak_public", MAX_PUBLIC)?;
                let identity_public = r.field("identity_public", MAX_PUBLIC)?;
                r.finish()?;
                Response::Enrollment { ek_certificate_der, ek_public, ak_public, identity_public }
            }
            T_ACTIVATED => {
                let mut r = Fields::new(body, "Activated");
                let secret = r.field("secret", MAX_SECRET)?;
                r.finish()?;
                Response::Activated { secret }
            }
            T_EVIDENCE => {
                const M: &str = "Evidence";
                let mut r = Fields::new(body, M);
                let image_id = r.field("image_id", MAX_IMAGE_ID)?;
                if !image_id_ok(&image_id) {
                    return Err(ProtoError::BadField {
                        message: M,
                        field: "image_id",
                        problem: "not 1-128 bytes of [A-Za-z0-9._-]",
                    });
                }
                // Checked ASCII above.
                let image_id = String::from_utf8(image_id).map_err(|_| ProtoError::BadField {
                    message: M,
                    field: "image_id",
                    problem: "not UTF-8",
                })?;
                let quote_attest = r.field("quote_attest", MAX_ATTEST)?;
                let quote_signature = r.field("quote_signature", MAX_ATTEST)?;
                let log = r.field("log", MAX_LOG)?;
                let certify_attest = r.field("certify_attest", MAX_ATTEST)?;
                let certify_signature = r.field("certify_signature", MAX_ATTEST)?;
                r.finish()?;
                Response::Evidence { image_id, quote_attest, quote_signature, log, certify_attest, certify_signature }
            }
            T_INSTALLED => {
                Fields::new(body, "Installed").finish()?;
                Response::Installed
            }
            T_ERROR => {
                const M: &str = "Error";
                let mut r = Fields::new(body, M);
                let code = u16::from_be_bytes(r.fixed::<2>("code")?);
                let message = r.field("message", MAX_ERROR_MESSAGE)?;
                r.finish()?;
                let message = String::from_utf8(message).map_err(|_| ProtoError::BadField {
                    message: M,
                    field: "message",
                    problem: "not UTF-8",
                })?;
                if message.chars().any(char::is_control) {
                    return Err(ProtoError::BadField { message: M, field: "message", problem: "a control character" });
                }
                Response::Error { code, message }
            }
            ty => return Err(ProtoError::UnknownType { ty, expected: "response" }),
        };
        Ok(response)
    }
}

/// Whether `name` is a vault secret's name: 1–64 bytes of `[a-z0-9._-]`, not starting with a dot
/// (it names a file).
pub fn secret_name_ok(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SECRET_NAME
        && name[0] != b'.'
        && name.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'_')
}

/// Whether `id` is an image id: 1–128 bytes of `[A-Za-z0-9._-]`.
pub fn image_id_ok(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_IMAGE_ID
        && id.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

fn decode_frame<T>(buf: &[u8], payload: impl FnOnce(&[u8]) -> Result<T, ProtoError>) -> Result<Decoded<T>, ProtoError> {
    let Some(len) = frame_len(buf)? else {
        return Ok(Decoded::NeedMore);
    };
    let Some(body) = buf.get(HEADER..HEADER + len) else {
        return Ok(Decoded::NeedMore);
    };
    Ok(Decoded::Complete { message: payload(body)?, consumed: HEADER + len })
}

/// The payload length a buffer's frame header declares (`None` before the whole header).
fn frame_len(buf: &[u8]) -> Result<Option<usize>, ProtoError> {
    let Some(header) = buf.first_chunk::<HEADER>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*header) as usize;
    if len > MAX_PAYLOAD {
        return Err(ProtoError::FrameTooLarge { len, max: MAX_PAYLOAD });
    }
    Ok(Some(len))
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn new(ty: u8) -> Self {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[0; HEADER]);
        out.push(ty);
        Self { out }
    }

    fn field(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        self.out.extend_from_slice(bytes);
    }

    fn fixed(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn finish(mut self) -> Vec<u8> {
        let len = (self.out.len() - HEADER) as u32;
        if let Some(header) = self.out.first_chunk_mut::<HEADER>() {
            *header = len.to_be_bytes();
        }
        self.out
    }
}

struct Fields<'a> {
    bytes: &'a [u8],
    message: &'static str,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8], message: &'static str) -> Self {
        Self { bytes, message }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ProtoError> {
        if n > self.bytes.len() {
            return Err(ProtoError::Truncated { message: self.message, field });
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ProtoError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn field(&mut self, field: &'static str, max: usize) -> Result<Vec<u8>, ProtoError> {
        let len = u32::from_be_bytes(self.fixed::<4>(field)?) as usize;
        if len > max {
            return Err(ProtoError::FieldTooLong { message: self.message, field, len, max });
        }
        Ok(self.take(len, field)?.to_vec())
    }

    fn finish(self) -> Result<(), ProtoError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(ProtoError::TrailingBytes { message: self.message, count: self.bytes.len() })
        }
    }
}

/// A buffering decoder for a byte stream: [`FrameDecoder::push`] what arrives, then take whole
/// messages with [`FrameDecoder::next_request`] (a server) or [`FrameDecoder::next_response`] (a
/// client) until they give `Ok(None)`.
///
/// Memory is bounded: a frame header over the limit fails the decoder at once (what follows is
/// dropped, never buffered), so the buffer holds at most one frame plus what the caller pushed
/// since its last `next_*` call. After an error the decoder stays failed.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    failed: Option<ProtoError>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        self.buf.extend_from_slice(bytes);
        // Refuse an oversize frame from its header, before its payload is buffered.
        if let Err(err) = frame_len(&self.buf) {
            self.fail(err);
        }
    }

    /// The next whole request, if one has arrived.
    pub fn next_request(&mut self) -> Result<Option<Request>, ProtoError> {
        self.next(Request::decode)
    }

    /// The next whole response, if one has arrived.
    pub fn next_response(&mut self) -> Result<Option<Response>, ProtoError> {
        self.next(Response::decode)
    }

    /// Bytes received that are not yet a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// At the end of the stream: an error if it ended inside a frame.
    pub fn finish(&self) -> Result<(), ProtoError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.buf.is_empty() { Ok(()) } else { Err(ProtoError::TruncatedFrame { buffered: self.buf.len() }) }
    }

    fn next<T>(&mut self, decode: fn(&[u8]) -> Result<Decoded<T>, ProtoError>) -> Result<Option<T>, ProtoError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match decode(&self.buf) {
            Ok(Decoded::Complete { message, consumed }) => {
                self.buf.drain(..consumed.min(self.buf.len()));
                // The next frame's header may already be here: check it now.
                if let Err(err) = frame_len(&self.buf) {
                    self.fail(err);
                }
                Ok(Some(message))
            }
            Ok(Decoded::NeedMore) => Ok(None),
            Err(err) => {
                self.fail(err.clone());
                Err(err)
            }
        }
    }

    fn fail(&mut self, err: ProtoError) {
        self.buf = Vec::new();
        self.failed = Some(err);
    }
}

/// The fuzz harness (`fuzz/fuzz_targets/proto_decode.rs`; the crate's tests run it too): `bytes`
/// as a request stream and as a response stream, whole and split in two; whatever decodes must
/// re-encode to the frame it came from. `Err` names a broken invariant.
pub fn fuzz_harness(bytes: &[u8]) -> Result<(), String> {
    if let Ok(Decoded::Complete { message, consumed }) = Request::decode(bytes)
        && bytes.get(..consumed) != Some(message.encode().as_slice())
    {
        return Err(format!("request {message:?} does not re-encode to its frame"));
    }
    if let Ok(Decoded::Complete { message, consumed }) = Response::decode(bytes)
        && bytes.get(..consumed) != Some(message.encode().as_slice())
    {
        return Err(format!("response {message:?} does not re-encode to its frame"));
    }
    let split = bytes.len() / 2;
    let (first, second) = bytes.split_at(split);
    let whole = drain(bytes, FrameDecoder::next_request);
    let halves = drain_split(first, second, FrameDecoder::next_request);
    if whole != halves {
        return Err("the request stream decodes differently when split".to_owned());
    }
    let whole = drain(bytes, FrameDecoder::next_response);
    let halves = drain_split(first, second, FrameDecoder::next_response);
    if whole != halves {
        return Err("the response stream decodes differently when split".to_owned());
    }
    Ok(())
}

type Next<T> = fn(&mut FrameDecoder) -> Result<Option<T>, ProtoError>;

fn drain<T>(bytes: &[u8], next: Next<T>) -> (Vec<T>, Option<ProtoError>) {
    let mut decoder = FrameDecoder::new();
    decoder.push(bytes);
    collect(&mut decoder, next)
}

fn drain_split<T>(first: &[u8], second: &[u8], next: Next<T>) -> (Vec<T>, Option<ProtoError>) {
    let mut decoder = FrameDecoder::new();
    decoder.push(first);
    let (mut out, err) = collect(&mut decoder, next);
    if err.is_some() {
        return (out, err);
    }
    decoder.push(second);
    let (more, err) = collect(&mut decoder, next);
    out.extend(more);
    (out, err)
}

fn collect<T>(decoder: &mut FrameDecoder, next: Next<T>) -> (Vec<T>, Option<ProtoError>) {
    let mut out = Vec::new();
    loop {
        match next(decoder) {
            Ok(Some(message)) => out.push(message),
            Ok(None) => return (out, None),
            Err(err) => return (out, Some(err)),
        }
    }
}

#[cfg(test)]
mod tests;
