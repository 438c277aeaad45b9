//! The operator's side: one request over one mutual-TLS connection, bounded in time and size.
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection};

use crate::{ManagementError, StatusReport, http};

/// Connecting to the node, per address it resolves to.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// From connected to the whole response read.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response read.
const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// `GET /status` from the node at `addr` (`host:port`). `config` is an operator's
/// `NodeCredentials::management_client_config`.
pub fn fetch_status(addr: &str, config: Arc<ClientConfig>) -> Result<StatusReport, ManagementError> {
    let body = get(addr, config, "/status")?;
    serde_json::from_slice(&body).map_err(|source| ManagementError::Json { addr: addr.to_owned(), source })
}

/// `GET /logs?n=LINES` from the node at `addr`: its last log lines, oldest first.
pub fn fetch_logs(addr: &str, config: Arc<ClientConfig>, lines: usize) -> Result<Vec<String>, ManagementError> {
    let body = get(addr, config, &format!("/logs?n={lines}"))?;
    let text = String::from_utf8_lossy(&body);
    Ok(text.lines().map(str::to_owned).collect())
}

fn get(addr: &str, config: Arc<ClientConfig>, path: &str) -> Result<Vec<u8>, ManagementError> {
    let owned = || addr.to_owned();
    let targets: Vec<_> =
        addr.to_socket_addrs().map_err(|source| ManagementError::Resolve { addr: owned(), source })?.collect();
    let mut last_err = std::io::Error::new(std::io::ErrorKind::NotFound, "the name resolves to no address");
    let mut connected = None;
    for target in &targets {
        match TcpStream::connect_timeout(target, CONNECT_TIMEOUT) {
            Ok(stream) => {
                connected = Some((stream, *target));
                break;
            }
            Err(err) => last_err = err,
        }
    }
    let (mut stream, target) = connected.ok_or_else(|| ManagementError::Connect { addr: owned(), source: last_err })?;
    let _ = stream.set_nodelay(true);
    // The server's identity is its certificate's SPIFFE ID, checked by the configuration's
    // verifier; the name here only fills the handshake (an IP address sends no SNI).
    let name = rustls::pki_types::ServerName::IpAddress(target.ip().into());
    let mut conn =
        ClientConnection::new(config, name).map_err(|source| ManagementError::Tls { addr: owned(), source })?;
    let deadline = Instant::now() + IO_TIMEOUT;
    let io_err = |stage: &'static str, err: std::io::Error| -> ManagementError {
        if err.kind() == std::io::ErrorKind::InvalidData
            && let Some(tls) = err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return ManagementError::Tls { addr: owned(), source: tls.clone() };
        }
        match err.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                ManagementError::Timeout { addr: owned(), stage }
            }
            _ => ManagementError::Io { addr: owned(), stage, source: err },
        }
    };
    let set_deadline = |stream: &TcpStream, stage: &'static str| -> Result<(), ManagementError> {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| ManagementError::Timeout { addr: owned(), stage })?;
        stream
            .set_read_timeout(Some(left))
            .and_then(|()| stream.set_write_timeout(Some(left)))
            .map_err(|e| io_err(stage, e))
    };
    while conn.is_handshaking() {
        set_deadline(&stream, "TLS handshake")?;
        conn.complete_io(&mut stream).map_err(|e| io_err("TLS handshake", e))?;
    }
    if conn.alpn_protocol() != Some(qp_bridge_identity::MANAGEMENT_ALPN) {
        return Err(ManagementError::NotManagement { addr: owned() });
    }
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: qpctl\r\nConnection: close\r\n\r\n");
    set_deadline(&stream, "request")?;
    let mut tls = rustls::Stream::new(&mut conn, &mut stream);
    tls.write_all(request.as_bytes()).and_then(|()| tls.flush()).map_err(|e| io_err("request", e))?;
    let mut response = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        set_deadline(&stream, "response")?;
        match rustls::Stream::new(&mut conn, &mut stream).read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&chunk[..n]);
                if response.len() > MAX_RESPONSE_BYTES {
                    return Err(ManagementError::Response { addr: owned(), reason: "larger than 8 MiB".to_owned() });
                }
            }
            // The server closed without close_notify: what came may still be whole (its
            // Content-Length says).
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => break,
            Err(err) => return Err(io_err("response", err)),
        }
    }
    let (status, body) = http::parse_response(&response)
        .map_err(|reason| ManagementError::Response { addr: owned(), reason: reason.to_owned() })?;
    if status != 200 {
        let message = String::from_utf8_lossy(body).lines().next().unwrap_or_default().to_owned();
        return Err(ManagementError::Http { addr: owned(), status, message });
    }
    Ok(body.to_vec())
}
