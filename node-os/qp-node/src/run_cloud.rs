//! `qp-node run --role cloud` (the `ingest` feature): SentimentX scores headlines and the
//! signal frames go to every local node the node dials.
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use qp_bridge_identity::{NodeCredentials, Role};
use qp_bridge_proto::OutboundStream;
use qp_bridge_transport::protocol_session::CloudSession;
use qp_bridge_transport::{Backoff, Limits, spawn_client};
use qp_runtime::{AgentContext, IngestAgent, Outbox};
use qp_wire::FrameBuf;

use crate::node_config::NodeConfig;
use crate::run::{RunOptions, fresh_epoch, settings};

pub(crate) fn run_cloud(
    config: &NodeConfig,
    credentials: &NodeCredentials,
    kind: qp_bridge_transport::TransportKind,
    options: &RunOptions,
    signals: &crate::signals::NodeSignals,
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
    let mut peer_marker = crate::run::PeerMarker::new(options.peer_marker.as_deref());
    while !signals.stop.load(Ordering::Relaxed) && options.max_frames.is_none_or(|max| sent < max) {
        peer_marker.update(|| links.iter().any(|(_, _, counters)| counters.open.load(Ordering::Relaxed) > 0));
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
    peer_marker.clear();
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
