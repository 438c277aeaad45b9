//! The node's management API (issue 9): `qpctl status --node ADDR` over mutual TLS, and the
//! node's structured logs, on the serial console and in a ring buffer the API serves.
//!
//! - [`LogRing`] keeps the last lines (bounded in count and in line length); [`install`] makes
//!   the global `tracing` subscriber write each event as one line
//!   (`TS_MS LEVEL target: message key=value ...`) to the console and into the ring.
//! - [`StatusReport`] is what `qpctl status` shows: versions, boot time, uptime, each service's
//!   state, pid, restarts, last exit and memory, the machine's metrics and the recent logs. The
//!   supervisor publishes a fresh one into a [`StatusBoard`] after each round (a pointer swap);
//!   the server hands out a copy.
//! - [`ManagementServer`] serves `GET /status` (JSON) and `GET /logs?n=K` (text) over HTTP/1.1
//!   in TLS 1.3 to operators only (`NodeCredentials::management_server_config`), on its own
//!   threads, bounded in connections, time and request size. Read-only.
//! - [`fetch_status`] and [`fetch_logs`] are the operator's side
//!   (`NodeCredentials::management_client_config`).
//!
//! Design: `node-os/management/DESIGN.md`.
#![forbid(unsafe_code)]

mod client;
mod http;
pub mod logs;
pub mod proc_stats;
pub mod report;
mod server;

pub use client::{CONNECT_TIMEOUT, IO_TIMEOUT, fetch_logs, fetch_status};
pub use logs::{DEFAULT_LINE_BYTES, DEFAULT_LOG_LINES, LogRing, StructuredLayer, install};
pub use report::{
    Metrics, REPORT_FORMAT, ServiceRunState, ServiceStatus, StatusBoard, StatusReport, Versions, describe_exit,
};
pub use server::{ManagementServer, ServerCounts, ServerLimits};

/// What went wrong, naming the address (client side) or the step (server side, logging).
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    #[error("{addr}: cannot resolve: {source}")]
    Resolve { addr: String, source: std::io::Error },
    #[error("{addr}: cannot connect: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("{addr}: TLS: {source}")]
    Tls { addr: String, source: rustls::Error },
    #[error("{addr}: timed out during the {stage}")]
    Timeout { addr: String, stage: &'static str },
    #[error("{addr}: {stage}: {source}")]
    Io { addr: String, stage: &'static str, source: std::io::Error },
    #[error("{addr}: not a management API (the server did not agree to ALPN qp-mgmt/1)")]
    NotManagement { addr: String },
    #[error("{addr}: HTTP {status}: {message}")]
    Http { addr: String, status: u16, message: String },
    #[error("{addr}: bad response: {reason}")]
    Response { addr: String, reason: String },
    #[error("{addr}: bad status report: {source}")]
    Json { addr: String, source: serde_json::Error },
    #[error("management server: {what}: {source}")]
    Server { what: &'static str, source: std::io::Error },
    #[error("log filter {filter:?}: {reason}")]
    LogFilter { filter: String, reason: String },
    #[error("logging: {0}")]
    LogInstall(String),
}
