#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! `qpctl` as an operator runs it: `qpctl ca` makes the fleet CA, a node's certificate and an
//! operator's; `qpctl status` reads the node's management API, served here in the test.
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use qp_bridge_identity::NodeCredentials;
use qp_management::{LogRing, ManagementServer, ServiceRunState, ServiceStatus, StatusBoard, StatusReport, Versions};

fn qpctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qpctl")).current_dir(dir).args(args).output().unwrap()
}

fn ok(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "qpctl failed: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// A failure's message: one line, `qpctl: error: ...`.
fn error_line(output: Output) -> String {
    assert!(!output.status.success(), "should fail: {}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("qpctl: error: "), "{stderr}");
    stderr
}

#[test]
fn qpctl_status_reads_a_node_as_an_operator_and_refuses_a_node_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(qpctl(d, &["ca", "init", "--dir", "ca", "--fleet", "acme"]));
    let issued = ok(qpctl(d, &["ca", "issue", "--node", "alice", "--role", "operator", "--ca", "ca", "--out", "ops"]));
    assert!(issued.starts_with("spiffe://acme/operator/alice: "), "{issued}");
    ok(qpctl(d, &["ca", "issue", "--node", "vault-1", "--role", "local", "--ca", "ca", "--out", "nodes"]));
    let bad_role = qpctl(d, &["ca", "issue", "--node", "x", "--role", "admin", "--ca", "ca"]);
    let bad_role = String::from_utf8_lossy(&bad_role.stderr);
    assert!(bad_role.contains("must be cloud, local or operator"), "{bad_role}");

    // The node's management API.
    let node = NodeCredentials::load(&d.join("nodes/vault-1.pem"), &d.join("nodes/vault-1.key"), &d.join("ca/ca.pem"))
        .unwrap();
    let report = StatusReport {
        node_id: node.id.uri(),
        variant: "local".to_owned(),
        versions: Versions { qp_node: "0.1.0".to_owned(), image_build: "b42".to_owned(), kernel: "6.1.0".to_owned() },
        boot_ms: Some(1_840),
        uptime_s: 3_725,
        services: vec![
            ServiceStatus {
                name: "agents".to_owned(),
                state: ServiceRunState::Running,
                pid: Some(214),
                restarts: 1,
                rss_kib: Some(48_000),
                ..ServiceStatus::default()
            },
            ServiceStatus {
                name: "bridge".to_owned(),
                state: ServiceRunState::Held,
                restarts: 5,
                last_exit: Some("exit 1 after 0.3 s".to_owned()),
                ..ServiceStatus::default()
            },
        ],
        ..StatusReport::default()
    };
    let board = Arc::new(StatusBoard::new(report.clone()));
    let ring = Arc::new(LogRing::new(64, 256));
    for i in 0..15 {
        ring.push(&format!("17000000000{i:02} INFO qp_supervisor: round {i}"));
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = Arc::new(node.management_server_config().unwrap());
    let server = ManagementServer::spawn(listener, config, board, ring.clone()).unwrap();
    let addr = server.local_addr().to_string();
    let operator = ["--node", &addr, "--ca", "ca/ca.pem", "--cert", "ops/alice.pem", "--key", "ops/alice.key"];

    let table = ok(qpctl(d, &[&["status"][..], &operator].concat()));
    for expected in [
        "node      spiffe://acme/local/vault-1 (local)",
        "qp-node 0.1.0, image b42, kernel 6.1.0",
        "1h 02m 05s, boot 1.84 s to READY",
        "agents   running  214",
        "bridge   held     -    5         exit 1 after 0.3 s",
        "46.9 MiB",
        "recent logs (last 10 of 15):",
        "  1700000000014 INFO qp_supervisor: round 14",
    ] {
        assert!(table.contains(expected), "{expected:?} in\n{table}");
    }
    assert!(!table.contains("round 4\n"), "only the last 10 lines:\n{table}");

    let json = ok(qpctl(d, &[&["status", "--json"][..], &operator].concat()));
    let read: StatusReport = serde_json::from_str(&json).unwrap();
    assert_eq!(read, StatusReport { recent_logs: ring.last(50), ..report });

    // A node's certificate is not an operator's: refused before dialling, in one line.
    let as_node = error_line(qpctl(
        d,
        &["status", "--node", &addr, "--ca", "ca/ca.pem", "--cert", "nodes/vault-1.pem", "--key", "nodes/vault-1.key"],
    ));
    assert!(as_node.contains("local certificates are not for the management API's client"), "{as_node}");
    // Nothing listening: one line naming the address.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let refused = error_line(qpctl(
        d,
        &["status", "--node", &closed, "--ca", "ca/ca.pem", "--cert", "ops/alice.pem", "--key", "ops/alice.key"],
    ));
    assert!(refused.contains(&format!("{closed}: cannot connect")), "{refused}");
    server.stop();
}
