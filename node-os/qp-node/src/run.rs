//! `qp-node run --config FILE`: a node on the bridge.
//!
//! - **cloud**: scores the recorded headlines with SentimentX (the ingest agent) and sends each
//!   signal frame to every local node it dials, over mutual TLS; each local node has its own
//!   outbound stream, so a cut connection resumes where it stopped.
//! - **local**: accepts cloud nodes of its fleet, takes their signal frames (per-peer streams,
//!   credit back-pressure) and counts them per cloud node; `--frames-out FILE` appends them to a
//!   frames file (`qpctl inspect frames FILE`).
//!
//! Either prints a status line every `--status-every` seconds and a summary when stopped
//! (SIGTERM, SIGINT, or `--max-frames`).
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use qp_bridge_identity::{NodeCredentials, Role};
use qp_bridge_proto::{ConnectionConfig, ConnectionSettings, OutboundStream};
use qp_bridge_transport::protocol_session::{CloudSession, LocalStreams};
use qp_bridge_transport::{Backoff, Limits, TransportChoice, resolve_transport, spawn_client, spawn_server};
use qp_runtime::{AgentContext, IngestAgent, Outbox};
use qp_wire::FrameBuf;

use crate::node_config::NodeConfig;

/// How `qp-node run` runs, beyond its configuration file.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop after this many frames (cloud: sent and acknowledged; local: received).
    pub max_frames: Option<u64>,
    /// A local node appends the frames it receives here.
    pub frames_out: Option<PathBuf>,
    pub status_every: Duration,
}

fn settings(config: &NodeConfig) -> anyhow::Result<ConnectionSettings> {
    let ms = 1_000_000;
    Ok(ConnectionConfig {
        heartbeat_interval_ns: config.bridge.heartbeat_ms * ms,
        dead_after_ns: config.bridge.dead_after_ms * ms,
        stall_after_ns: 2 * config.bridge.dead_after_ms * ms,
        ..ConnectionConfig::default()
    }
    .validate()?)
}

/// A session epoch that differs on each start of the process (so a peer knows it restarted).
fn fresh_epoch() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    (now ^ u64::from(std::process::id()).rotate_left(32)).max(1)
}

/// Runs the node until it is stopped; answers the summary line.
pub fn run_node(config_path: &Path, options: &RunOptions) -> anyhow::Result<String> {
    let config = NodeConfig::load(config_path)?;
    let identity = &config.identity;
    let credentials = NodeCredentials::load(&identity.cert, &identity.key, &identity.ca)
        .with_context(|| format!("node identity ({})", identity.cert.display()))?;
    let role: Role = config.node.role.parse()?;
    if credentials.id.role() != role || credentials.id.name() != config.node.name {
        anyhow::bail!(
            "config {}: node {} ({}) but the certificate {} is {}",
            config_path.display(),
            config.node.name,
            config.node.role,
            identity.cert.display(),
            credentials.id
        );
    }
    let choice = match config.bridge.transport.as_str() {
        "io_uring" => TransportChoice::IoUring,
        "epoll" => TransportChoice::Epoll,
        _ => TransportChoice::Auto,
    };
    let kind = resolve_transport(choice)?;
    let signals = crate::demo::DemoSignals::register()?;
    tracing::info!(node = %credentials.id, transport = kind.name(), "starting");
    match role {
        Role::Local => run_local(&config, &credentials, kind, options, &signals),
        Role::Cloud => run_cloud(&config, &credentials, kind, options, &signals),
    }
}

fn run_local(
    config: &NodeConfig,
    credentials: &NodeCredentials,
    kind: qp_bridge_transport::TransportKind,
    options: &RunOptions,
    signals: &crate::demo::DemoSignals,
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
    while !signals.stop.load(Ordering::Relaxed) && options.max_frames.is_none_or(|max| total < max) {
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
    let peers: Vec<String> = per_peer.iter().map(|(peer, n)| format!("{peer} {n}")).collect();
    Ok(format!(
        "{}: received {total} frames over {} connection(s) ({})",
        credentials.id,
        counters.connections.load(Ordering::Relaxed),
        peers.join(", ")
    ))
}

fn run_cloud(
    config: &NodeConfig,
    credentials: &NodeCredentials,
    kind: qp_bridge_transport::TransportKind,
    options: &RunOptions,
    signals: &crate::demo::DemoSignals,
) -> anyhow::Result<String> {
    let cloud = config.cloud.as_ref().context("[cloud]")?;
    let headlines_path = cloud.data.join("tfns/train.csv");
    let headlines: Vec<String> =
        qp_replay::read_headlines(&headlines_path)?.into_iter().map(|headline| headline.text).collect();
    anyhow::ensure!(!headlines.is_empty(), "{}: no headlines", headlines_path.display());
    // SentimentX, the cloud variant's ingest agent.
    let mut registry = qp_wire::AssetRegistry::new();
    let aliases = qp_sentiment::assets::AliasTable::embedded(&mut registry)?;
    let model = qp_sentiment::agent::NativeModel::new(qp_sentiment::shipped::student()?, 1);
    let mut sentiment = qp_sentiment::agent::SentimentX::new(model, aliases, config.node.origin_node);
    let client_config = Arc::new(credentials.client_config(Role::Local)?);
    let settings = settings(config)?;
    let epoch = fresh_epoch();
    let mut links = Vec::new();
    for (i, addr) in config.bridge.dial.iter().enumerate() {
        let stream = OutboundStream::new(epoch, config.bridge.window_frames)?;
        let (session, mut feed) = CloudSession::new(settings, stream, config.bridge.window_frames);
        let counters = session.counters();
        let backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5), epoch.wrapping_add(i as u64));
        let client = spawn_client(kind, *addr, client_config.clone(), Limits::default(), backoff, session)?;
        feed.set_wake(client.waker());
        println!("{} dialling {addr} ({})", credentials.id, kind.name());
        links.push((client, feed, counters));
    }
    let _ = std::io::stdout().flush();
    let mut outbox = Outbox::new("sentimentx");
    let (mut sent, mut scored, mut pending) = (0u64, 0u64, std::collections::VecDeque::<FrameBuf>::new());
    let start = Instant::now();
    let mut next_status = start + options.status_every;
    let interval = (cloud.headlines_per_s > 0).then(|| Duration::from_secs_f64(1.0 / cloud.headlines_per_s as f64));
    while !signals.stop.load(Ordering::Relaxed) && options.max_frames.is_none_or(|max| sent < max) {
        if pending.is_empty() {
            if let Some(interval) = interval
                && start + interval.mul_f64(scored as f64) > Instant::now()
            {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let text = &headlines[(scored % headlines.len() as u64) as usize];
            let now_ns = qp_runtime::clock::monotonic_ns();
            let event = qp_sentiment::agent::TextEvent { ts_ns: now_ns, bytes: text.as_bytes() };
            let _ = sentiment.on_event(AgentContext { now_ns }, &event, &mut outbox);
            scored += 1;
            outbox.drain_into(|frame| {
                pending.push_back(frame);
                Ok(())
            });
        }
        // Every local node gets every frame; a full queue holds the loop back (nothing dropped).
        while let Some(&frame) = pending.front() {
            if links.iter().any(|(_, feed, _)| feed.room() == 0) {
                std::thread::sleep(Duration::from_micros(200));
                break;
            }
            for (_, feed, _) in &mut links {
                let _ = feed.push(frame);
            }
            pending.pop_front();
            sent += 1;
            if options.max_frames.is_some_and(|max| sent >= max) {
                break;
            }
        }
        if Instant::now() >= next_status {
            next_status += options.status_every;
            println!("{}: {sent} frames from {scored} headlines", credentials.id);
        }
    }
    // Let what was sent be acknowledged (a bounded wait), then stop.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut summaries = Vec::new();
    for (client, _, counters) in links {
        while counters.acknowledged.load(Ordering::Relaxed) < sent && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let acked = client.stop().and_then(|session| session.stream().map(OutboundStream::first_unacked));
        summaries.push(format!(
            "{} connection(s), {} acknowledged",
            counters.connections.load(Ordering::Relaxed),
            acked.unwrap_or(0)
        ));
    }
    Ok(format!("{}: sent {sent} frames from {scored} headlines; {}", credentials.id, summaries.join("; ")))
}
