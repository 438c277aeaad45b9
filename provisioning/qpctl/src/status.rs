//! `qpctl status --node ADDR`: a node's state over its management API (`qp-management`), as an
//! operator (a certificate of role `operator`, `qpctl ca issue --role operator`).
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use qp_management::StatusReport;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The node's management API, HOST:PORT.
    #[arg(long)]
    pub node: String,
    /// The fleet CA's certificate (PEM): the node must be one of its nodes.
    #[arg(long)]
    pub ca: PathBuf,
    /// The operator's certificate (PEM, role operator).
    #[arg(long)]
    pub cert: PathBuf,
    /// The operator's key (PKCS#8 PEM, as `qpctl ca issue` wrote it).
    #[arg(long)]
    pub key: PathBuf,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Log lines shown under the table.
    #[arg(long, default_value_t = 10)]
    pub logs: usize,
}

pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let credentials = qp_bridge_identity::NodeCredentials::load(&args.cert, &args.key, &args.ca)
        .with_context(|| format!("operator identity {}", args.cert.display()))?;
    let config = credentials.management_client_config()?;
    let report = qp_management::fetch_status(&args.node, Arc::new(config))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report, args.logs));
    }
    Ok(())
}

/// A node's text as shown: control characters escaped, so a node cannot drive the operator's
/// terminal.
fn clean(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}

fn kib(value: Option<u64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(k) if k < 1024 => format!("{k} KiB"),
        Some(k) if k < 1024 * 1024 => format!("{:.1} MiB", k as f64 / 1024.0),
        Some(k) => format!("{:.1} GiB", k as f64 / (1024.0 * 1024.0)),
    }
}

fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h) {
        (0, 0) => format!("{m}m {s:02}s"),
        (0, _) => format!("{h}h {m:02}m {s:02}s"),
        _ => format!("{d}d {h}h {m:02}m"),
    }
}

fn or_dash(value: Option<String>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| clean(&v))
}

/// The report as the table `qpctl status` prints, with the last `log_lines` log lines.
pub fn render(report: &StatusReport, log_lines: usize) -> String {
    let mut out = String::new();
    let v = &report.versions;
    let _ = writeln!(out, "node      {} ({})", clean(&report.node_id), clean(&report.variant));
    let _ = writeln!(
        out,
        "versions  qp-node {}, image {}, kernel {}",
        clean(&v.qp_node),
        clean(&v.image_build),
        clean(&v.kernel)
    );
    let boot =
        report.boot_ms.map_or_else(|| "not ready yet".to_owned(), |ms| format!("{:.2} s to READY", ms as f64 / 1000.0));
    let _ = writeln!(out, "uptime    {}, boot {boot}", duration(report.uptime_s));
    out.push('\n');
    let header = ["SERVICE", "STATE", "PID", "RESTARTS", "LAST EXIT", "RSS", "DETAIL"].map(str::to_owned);
    let rows: Vec<[String; 7]> = report
        .services
        .iter()
        .map(|s| {
            [
                clean(&s.name),
                s.state.to_string(),
                s.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                s.restarts.to_string(),
                or_dash(s.last_exit.clone()),
                kib(s.rss_kib),
                or_dash(s.detail.clone()),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    if rows.is_empty() {
        out.push_str("no services\n");
    } else {
        for row in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(widths) {
                let _ = write!(line, "{cell:<width$}  ");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out.push('\n');
    let m = &report.metrics;
    let memory = match (m.mem_available_kib, m.mem_total_kib) {
        (Some(_), Some(_)) => format!("{} available of {}", kib(m.mem_available_kib), kib(m.mem_total_kib)),
        _ => "-".to_owned(),
    };
    let load = m.load_1m.map_or_else(|| "-".to_owned(), |l| format!("{l:.2}"));
    let _ = writeln!(
        out,
        "supervisor  RSS {}, loop rounds {}, watchdog pets {}",
        kib(m.supervisor_rss_kib),
        m.loop_rounds,
        m.watchdog_pets
    );
    let _ = writeln!(out, "machine     memory {memory}, load {load}");
    let logs = &report.recent_logs;
    let shown = &logs[logs.len().saturating_sub(log_lines)..];
    if !shown.is_empty() {
        let _ = writeln!(out, "\nrecent logs (last {} of {}):", shown.len(), logs.len());
        for line in shown {
            let _ = writeln!(out, "  {}", clean(line));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use qp_management::{ServiceRunState, ServiceStatus};

    #[test]
    fn the_table_names_everything_and_escapes_what_a_node_sends() {
        let report = StatusReport {
            node_id: "spiffe://acme/local/vault-1".to_owned(),
            variant: "local".to_owned(),
            boot_ms: Some(1_840),
            uptime_s: 3_725,
            services: vec![ServiceStatus {
                name: "bridge\u{1b}[2J".to_owned(),
                state: ServiceRunState::BackingOff,
                restarts: 3,
                rss_kib: Some(48_000),
                ..ServiceStatus::default()
            }],
            recent_logs: (0..20).map(|i| format!("line {i}")).collect(),
            ..StatusReport::default()
        };
        let text = render(&report, 2);
        assert!(text.contains("node      spiffe://acme/local/vault-1 (local)"), "{text}");
        assert!(text.contains("uptime    1h 02m 05s, boot 1.84 s to READY"), "{text}");
        assert!(text.contains("bridge\\u{1b}[2J  backing-off"), "{text}");
        assert!(text.contains("46.9 MiB"), "{text}");
        assert!(text.contains("recent logs (last 2 of 20):\n  line 18\n  line 19\n"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }
}
