//! How the node reads the repository: `file://` through `tough`'s own transport, and `http://`
//! to an IP address (no name resolution: a sealed node has no resolver) through a minimal
//! HTTP/1.1 GET client of this crate (bounded headers,
//! Content-Length required to be honoured, connect and idle timeouts). `tough`'s `http` feature
//! is not used: it brings reqwest with the platform's certificate store, while the fleet's
//! repository will sit behind its own CA (a later transport behind the same `Transport` trait).
//!
//! The transport also keeps a copy of each metadata file it served, so a signature failure can
//! be explained afterwards (`tough` reports a bad signature and a missing one alike).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tough::{Bytes, Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

use crate::Role;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait for the next bytes of a response.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_HEADER_BYTES: usize = 16 * 1024;
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// A `file://` read.
const FILE_CHUNK_BYTES: usize = 1 << 20;
/// Metadata kept per file for diagnosis; `tough`'s own limits are lower (1 to 10 MiB).
const MAX_RECORDED_BYTES: usize = 16 * 1024 * 1024;

/// Why an HTTP fetch failed; kept as the cause inside `tough`'s `TransportError`, so the
/// fetch side can tell a cut-off body from other failures.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("only http:// to an IP address is supported (no name resolution), not {0:?}")]
    NotIpAddress(String),
    #[error("connecting: {0}")]
    Connect(std::io::Error),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("{0}")]
    Io(std::io::Error),
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("connection closed after {received} of the {expected} bytes announced")]
    Truncated { received: u64, expected: u64 },
}

/// Metadata files served, in order: (URL, bytes).
type ServedFiles = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// The node's transport: `file://` or `http://` to an IP address, recording metadata files served.
#[derive(Debug, Clone)]
pub(crate) struct RepositoryTransport {
    metadata_base: String,
    recorded: ServedFiles,
}

impl RepositoryTransport {
    pub(crate) fn new(metadata_base: &Url) -> Self {
        Self { metadata_base: metadata_base.as_str().to_owned(), recorded: Arc::default() }
    }

    /// The last metadata file of `role` served, with its URL.
    pub(crate) fn last_served(&self, role: Role) -> Option<(String, Vec<u8>)> {
        let recorded = self.recorded.lock().ok()?;
        recorded.iter().rev().find(|(url, _)| Role::from_metadata_file(url) == Some(role)).cloned()
    }

    fn record(&self, url: &Url, stream: TransportStream) -> TransportStream {
        if !url.as_str().starts_with(&self.metadata_base) {
            return stream;
        }
        let recorded = Arc::clone(&self.recorded);
        let Ok(index) = recorded.lock().map(|mut r| {
            r.push((url.as_str().to_owned(), Vec::new()));
            r.len() - 1
        }) else {
            return stream;
        };
        Box::pin(stream.map(move |item| {
            if let (Ok(bytes), Ok(mut recorded)) = (&item, recorded.lock())
                && let Some((_, copy)) = recorded.get_mut(index)
                && copy.len() + bytes.len() <= MAX_RECORDED_BYTES
            {
                copy.extend_from_slice(bytes);
            }
            item
        }))
    }
}

#[async_trait::async_trait]
impl Transport for RepositoryTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let stream = match url.scheme() {
            "file" => file_stream(&url)?,
            "http" => http_get(&url).await.map_err(|error| {
                let kind = match error {
                    HttpError::Status(404) => TransportErrorKind::FileNotFound,
                    _ => TransportErrorKind::Other,
                };
                TransportError::new_with_cause(kind, url.as_str(), error)
            })?,
            _ => return Err(TransportError::new(TransportErrorKind::UnsupportedUrlScheme, url.as_str())),
        };
        Ok(self.record(&url, stream))
    }
}

/// A `file://` URL read in 1 MiB chunks. `tough`'s `FilesystemTransport` reads through tokio's
/// file API in small chunks, each a blocking-pool round trip: 64 MiB took ≈ 300 ms that way, a
/// third of the disk's speed. The runtime here is a current-thread one that does nothing else,
/// so plain blocking reads cost nothing.
fn file_stream(url: &Url) -> Result<TransportStream, TransportError> {
    let path = url.to_file_path().map_err(|()| TransportError::new(TransportErrorKind::Other, url.as_str()))?;
    let file = std::fs::File::open(&path).map_err(|error| {
        let kind = if error.kind() == std::io::ErrorKind::NotFound {
            TransportErrorKind::FileNotFound
        } else {
            TransportErrorKind::Other
        };
        TransportError::new_with_cause(kind, url.as_str(), error)
    })?;
    let url = url.as_str().to_owned();
    let chunks = futures::stream::unfold(Some(file), move |file| {
        let url = url.clone();
        async move {
            use std::io::Read as _;
            let mut file = file?;
            let mut buf = vec![0u8; FILE_CHUNK_BYTES];
            match file.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), Some(file)))
                }
                Err(error) => {
                    Some((Err(TransportError::new_with_cause(TransportErrorKind::Other, url.as_str(), error)), None))
                }
            }
        }
    });
    Ok(Box::pin(chunks))
}

/// The socket address of an `http://` URL naming an IP address, or why it is refused. Plain HTTP
/// adds no trust and takes none away: every metadata file is signed and every target's hash and
/// length are in signed metadata, so a server or network in the middle can only withhold (which
/// the timestamp's expiry bounds).
pub(crate) fn http_address(url: &Url) -> Result<SocketAddr, HttpError> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Err(HttpError::NotIpAddress(url.host_str().unwrap_or_default().to_owned())),
    };
    if url.scheme() != "http" || ip.is_unspecified() || ip.is_multicast() {
        return Err(HttpError::NotIpAddress(url.as_str().to_owned()));
    }
    Ok(SocketAddr::new(ip, url.port_or_known_default().unwrap_or(80)))
}

/// One GET on its own connection (`Connection: close`); the body streams as it arrives.
async fn http_get(url: &Url) -> Result<TransportStream, HttpError> {
    let address = http_address(url)?;
    let mut socket = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| HttpError::Timeout("connecting"))?
        .map_err(HttpError::Connect)?;
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nUser-Agent: qp-update\r\n\r\n");
    tokio::time::timeout(IDLE_TIMEOUT, socket.write_all(request.as_bytes()))
        .await
        .map_err(|_| HttpError::Timeout("sending the request"))?
        .map_err(HttpError::Io)?;

    let mut head = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    let header_end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if head.len() > MAX_HEADER_BYTES {
            return Err(HttpError::Malformed("headers longer than 16 KiB"));
        }
        let n = read_some(&mut socket, &mut buf).await?;
        if n == 0 {
            return Err(HttpError::Malformed("connection closed inside the headers"));
        }
        head.extend_from_slice(&buf[..n]);
    };
    let content_length = parse_head(&head[..header_end])?;
    let body = Body {
        socket,
        pending: Some(Bytes::copy_from_slice(&head[header_end + 4..])),
        remaining: content_length,
        received: 0,
        buf,
        url: url.clone(),
    };
    Ok(Box::pin(futures::stream::try_unfold(body, Body::next)))
}

async fn read_some(socket: &mut TcpStream, buf: &mut [u8]) -> Result<usize, HttpError> {
    tokio::time::timeout(IDLE_TIMEOUT, socket.read(buf))
        .await
        .map_err(|_| HttpError::Timeout("waiting for the response"))?
        .map_err(HttpError::Io)
}

/// The fuzz harness of `fuzz/fuzz_targets/http_head.rs` (the crate's tests run it over the seed
/// corpus): a repository server's response head, which a hostile server controls. Decoding must
/// not panic; a head that parses must not have had a conflicting length or a transfer encoding.
pub fn http_head_fuzz_harness(bytes: &[u8]) -> Result<(), String> {
    if parse_head(bytes).is_ok() {
        let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
        if text.contains("\r\ntransfer-encoding:") {
            return Err("a head with Transfer-Encoding was accepted".to_owned());
        }
    }
    Ok(())
}

/// The status must be 200; returns Content-Length if given. Chunked bodies are refused.
fn parse_head(head: &[u8]) -> Result<Option<u64>, HttpError> {
    let text = std::str::from_utf8(head).map_err(|_| HttpError::Malformed("headers are not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(HttpError::Malformed("not an HTTP/1.x status line"));
    }
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or(HttpError::Malformed("no status code"))?;
    if status != 200 {
        return Err(HttpError::Status(status));
    }
    let mut content_length = None;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HttpError::Malformed("header line without ':'"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length: u64 = value.parse().map_err(|_| HttpError::Malformed("bad Content-Length"))?;
            if content_length.is_some_and(|previous| previous != length) {
                return Err(HttpError::Malformed("conflicting Content-Length headers"));
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Malformed("Transfer-Encoding is not supported"));
        }
    }
    Ok(content_length)
}

/// The response body: Content-Length bytes exactly (or, without one, up to the close; `tough`
/// bounds every download by its signed or configured size either way).
struct Body {
    socket: TcpStream,
    pending: Option<Bytes>,
    remaining: Option<u64>,
    received: u64,
    buf: Vec<u8>,
    url: Url,
}

impl Body {
    async fn next(mut self) -> Result<Option<(Bytes, Self)>, TransportError> {
        loop {
            if self.remaining == Some(0) {
                return Ok(None);
            }
            let chunk = match self.pending.take() {
                Some(pending) => pending,
                None => {
                    let n = read_some(&mut self.socket, &mut self.buf).await.map_err(|e| self.error(e))?;
                    if n == 0 {
                        return match self.remaining {
                            Some(left) => Err(self.error(HttpError::Truncated {
                                received: self.received,
                                expected: self.received + left,
                            })),
                            None => Ok(None),
                        };
                    }
                    Bytes::copy_from_slice(&self.buf[..n])
                }
            };
            if chunk.is_empty() {
                continue;
            }
            // Bytes past Content-Length are not part of this response.
            let keep =
                self.remaining.map_or(chunk.len(), |left| chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX)));
            let chunk = chunk.slice(..keep);
            self.received += keep as u64;
            if let Some(left) = self.remaining.as_mut() {
                *left -= keep as u64;
            }
            return Ok(Some((chunk, self)));
        }
    }

    fn error(&self, error: HttpError) -> TransportError {
        TransportError::new_with_cause(TransportErrorKind::Other, self.url.as_str(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_to_an_ip_address_is_accepted() {
        let ok = |s: &str| http_address(&Url::parse(s).unwrap()).is_ok();
        assert!(ok("http://127.0.0.1:8080/repo/"));
        assert!(ok("http://[::1]:8080/repo/"));
        assert!(ok("http://10.0.2.2:8080/repo/"));
        assert!(!ok("http://0.0.0.0/repo/"));
        assert!(!ok("http://224.0.0.1/repo/"));
        assert!(!ok("http://localhost/repo/"));
        assert!(!ok("https://127.0.0.1/repo/"));
    }

    #[test]
    fn heads_are_parsed_strictly() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12").ok(), Some(Some(12)));
        assert_eq!(parse_head(b"HTTP/1.0 200 OK").ok(), Some(None));
        assert!(matches!(parse_head(b"HTTP/1.1 404 Not Found"), Err(HttpError::Status(404))));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2").is_err());
        assert!(parse_head(b"SSH-2.0 hello").is_err());
    }
}
