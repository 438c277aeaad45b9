//! `qp-node run --role local` (the `vault` feature): accepts the fleet's cloud nodes and takes
//! their signal frames.
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use qp_bridge_identity::{NodeCredentials, Role};
use qp_bridge_transport::protocol_session::LocalStreams;
use qp_bridge_transport::{Limits, spawn_server};

use crate::node_config::NodeConfig;
use crate::run::{RunOptions, fresh_epoch, settings};

pub(crate) fn run_local(
    config: &NodeConfig,
    credentials: &NodeCredentials,
    kind: qp_bridge_transport::TransportKind,
    options: &RunOptions,
    signals: &crate::signals::NodeSignals,
) -> anyhow::Result<String> {
    let listen = config.bridge.listen.context("bridge.listen")?;
    let listener = std::net::TcpListener::bind(listen).with_context(|| format!("listen on {listen}"))?;
    let window = config.bridge.window_frames;
    let (streams, inbox) = LocalStreams::new(settings(config)?, fresh_epoch(), window, window.max(1024));
    let counters = streams.counters();
    let server = spawn_server(
        kind,
        listener,
        Arc::new(credentials.server_config(Role::Cloud)?),
        Limits::default(),
        move || streams.session(),
    )?;
    println!("{} listening on {} ({})", credentials.id, server.addr, kind.name());
    let _ = std::io::stdout().flush();
    let mut out = match &options.frames_out {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| path.display().to_string())?,
        )),
        None => None,
    };
    let mut per_peer: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    let mut next_status = Instant::now() + options.status_every;
    let mut peer_marker = crate::run::PeerMarker::new(options.peer_marker.as_deref());
    while !signals.stop.load(Ordering::Relaxed) && options.max_frames.is_none_or(|max| total < max) {
        peer_marker.update(|| counters.open.load(Ordering::Relaxed) > 0);
        match inbox.recv_timeout(Duration::from_millis(50)) {
            Ok(delivered) => {
                total += 1;
                *per_peer.entry(delivered.peer.uri()).or_default() += 1;
                if let Some(out) = &mut out {
                    out.write_all(delivered.frame.as_frame_bytes())?;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_status {
            next_status += options.status_every;
            println!("{}: {total} frames from {} cloud node(s)", credentials.id, per_peer.len());
        }
    }
    if let Some(mut out) = out {
        out.flush()?;
    }
    // Done by count: the last acknowledgements still have to reach the cloud nodes, which hang
    // up once they have them (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(5);
    while options.max_frames.is_some()
        && counters.open.load(Ordering::Relaxed) > 0
        && Instant::now() < deadline
        && !signals.stop.load(Ordering::Relaxed)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.stop();
    peer_marker.clear();
    let peers: Vec<String> = per_peer.iter().map(|(peer, n)| format!("{peer} {n}")).collect();
    Ok(format!(
        "{}: received {total} frames over {} connection(s) ({})",
        credentials.id,
        counters.connections.load(Ordering::Relaxed),
        peers.join(", ")
    ))
}
