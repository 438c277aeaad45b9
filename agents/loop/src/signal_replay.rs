//! [`SignalReplay`]: the frames the Decide stage sees, made from recorded data without the
//! stages' threads, deterministically. `qpctl forge alpha` builds the Decide model's training
//! rows and backtest from it, so the model learns from exactly what the loop hands it.
//!
//! The same agents as [`crate::FiveStepLoop`]'s ingest side and Confirm step, configured from
//! the same [`LoopConfig`]: each asset's [`MarketFeed`], QuotePublisher, AlphaScanner and
//! DarkPoolScan, SentimentX (the shipped model), then the [`SignalJoiner`]. The one difference
//! is the clock: agents are handed the event's **feed time** as `now_ns` where the loop hands
//! them its monotonic clock, so a quote re-published after `quote_refresh_ms` of loop time in
//! the loop is re-published after that much feed time here (a re-published quote repeats an
//! unchanged top of book, which the Decide agent's features do not notice).
use qp_alpha_scanner::{AlphaScanner, MarketEvent, MarketUpdate};
use qp_darkpool_scan::DarkPoolScan;
use qp_replay::ReplayEvent;
use qp_runtime::{Agent, AgentContext, IngestAgent, Outbox};
use qp_sentiment::agent::{NativeModel, SentimentX, TextEvent};
use qp_sentiment::assets::AliasTable;
use qp_wire::{AssetId, AssetRegistry, FrameBuf, decode};

use crate::agents::confirm::SignalJoiner;
use crate::agents::quote_publisher::QuotePublisher;
use crate::config::LoopConfig;
use crate::five_step::{IngestAgents, LoopError};
use crate::market_feed::MarketFeed;

/// The ingest agents and the Confirm step of a loop, run in the caller's thread on feed time.
#[derive(Debug)]
pub struct SignalReplay {
    registry: AssetRegistry,
    sentiment: SentimentX<NativeModel>,
    feeds: Vec<(AssetId, MarketFeed)>,
    scanner: AlphaScanner,
    darkpool: DarkPoolScan,
    quotes: QuotePublisher,
    joiner: SignalJoiner,
    ingest: Outbox,
    joined: Outbox,
    refused: u64,
}

impl SignalReplay {
    /// The agents `config` describes (its `[[assets]]` in order are the replay's instruments).
    pub fn new(config: &LoopConfig) -> Result<Self, LoopError> {
        let mut registry = AssetRegistry::new();
        let aliases = AliasTable::embedded(&mut registry)?;
        let mut feeds = Vec::new();
        for asset in &config.assets {
            let id = registry.intern(&asset.symbol)?;
            let feed = MarketFeed::new(asset.price_decimals, asset.qty_decimals)
                .map_err(|source| LoopError::AssetGrid { symbol: asset.symbol.clone(), source })?;
            feeds.push((id, feed));
        }
        let assets = registry.len();
        let IngestAgents { sentiment, scanner, darkpool, quotes } = IngestAgents::new(config, assets, aliases)?;
        Ok(Self {
            sentiment,
            feeds,
            scanner,
            darkpool,
            quotes,
            joiner: SignalJoiner::new(assets, config.confirm.window_ms * 1_000_000),
            registry,
            ingest: Outbox::new("ingest"),
            joined: Outbox::new("signal-joiner"),
            refused: 0,
        })
    }

    pub fn registry(&self) -> &AssetRegistry {
        &self.registry
    }

    /// Events an agent refused so far (bad data; the loop counts these too).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Replay `events` in order, handing each frame the Decide stage would see to `on_frame`
    /// with the feed time of the event that made it.
    pub fn replay(&mut self, events: &[ReplayEvent<'_>], mut on_frame: impl FnMut(u64, &FrameBuf)) {
        for event in events {
            match *event {
                ReplayEvent::Headline { ts_ns, text } => self.headline(ts_ns, text, |f| on_frame(ts_ns, f)),
                ReplayEvent::Market { instrument, ts_ns, json } => {
                    self.market(instrument, ts_ns, json, |f| on_frame(ts_ns, f));
                }
            }
        }
        let end = events.last().map_or(0, ReplayEvent::ts_ns);
        self.finish(|f| on_frame(end, f));
    }

    /// One headline published at `ts_ns`.
    pub fn headline(&mut self, ts_ns: u64, text: &str, on_frame: impl FnMut(&FrameBuf)) {
        let ctx = AgentContext { now_ns: ts_ns };
        let event = TextEvent { ts_ns, bytes: text.as_bytes() };
        let result = self.sentiment.on_event(ctx, &event, &mut self.ingest);
        self.refused += u64::from(result.is_err());
        self.confirm(ts_ns, on_frame);
    }

    /// One market-data message of the asset configured at `instrument`, received at `ts_ns`.
    pub fn market(&mut self, instrument: usize, ts_ns: u64, json: &[u8], on_frame: impl FnMut(&FrameBuf)) {
        let Some((asset, feed)) = self.feeds.get_mut(instrument) else {
            self.refused += 1;
            return;
        };
        let asset = *asset;
        let ctx = AgentContext { now_ns: ts_ns };
        let (scanner, darkpool, quotes, outbox, refused) =
            (&mut self.scanner, &mut self.darkpool, &mut self.quotes, &mut self.ingest, &mut self.refused);
        let fed = feed.on_message(json, |event, book| {
            let update = MarketUpdate::new(asset, ts_ns, book, event);
            let quoted = quotes.on_event(ctx, &update, outbox);
            let scanned = scanner.on_event(ctx, &update, outbox);
            let judged = darkpool.on_event(ctx, &update, outbox);
            *refused += u64::from(quoted.is_err()) + u64::from(scanned.is_err()) + u64::from(judged.is_err());
        });
        self.refused += u64::from(fed.is_err());
        self.confirm(ts_ns, on_frame);
    }

    /// The prints the feeds still hold back, at the end of a replay at `ts_ns`.
    pub fn finish(&mut self, on_frame: impl FnMut(&FrameBuf)) {
        let mut end = 0;
        let (scanner, darkpool, outbox, refused) =
            (&mut self.scanner, &mut self.darkpool, &mut self.ingest, &mut self.refused);
        for (asset, feed) in &mut self.feeds {
            let asset = *asset;
            feed.flush(|event, book| {
                let MarketEvent::Trade(print) = event else { return };
                end = end.max(print.ts_ns);
                let ctx = AgentContext { now_ns: print.ts_ns };
                let update = MarketUpdate::new(asset, print.ts_ns, book, event);
                let scanned = scanner.on_event(ctx, &update, outbox);
                let judged = darkpool.on_event(ctx, &update, outbox);
                *refused += u64::from(scanned.is_err()) + u64::from(judged.is_err());
            });
        }
        self.confirm(end, on_frame);
    }

    /// Hand what the ingest agents emitted to the Confirm step, and what it emits to `on_frame`.
    fn confirm(&mut self, ts_ns: u64, mut on_frame: impl FnMut(&FrameBuf)) {
        let ctx = AgentContext { now_ns: ts_ns };
        let (joiner, joined, refused) = (&mut self.joiner, &mut self.joined, &mut self.refused);
        self.ingest.drain_into(|frame| {
            let accepted = match decode(frame.as_frame_bytes()) {
                Ok(frame) => joiner.on_frame(ctx, frame, joined).is_ok(),
                Err(_) => false,
            };
            *refused += u64::from(!accepted);
            joined.drain_into(|frame| {
                on_frame(&frame);
                Ok(())
            });
            Ok(())
        });
    }
}
