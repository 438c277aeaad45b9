//! The Confirm step: a sentiment signal becomes actionable only when an order-book
//! signal on the same asset agrees in time. Every input passes on unchanged as well: the
//! signals (sentiment, book signals, DarkPoolScan's prints) to the Decide agent, whose
//! features read them (`qp-alpha`), and `Quote` and `ExecReport` frames to the Decide agent and
//! the risk stage. A signal passes on *before* the `Confirmed` it completes, so the Decide
//! agent's features have counted it in when the `Confirmed` arrives.
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::{BookSignal, Confirmed, FrameHeader, FrameRef, SentimentSignal};

use super::PerAsset;

#[derive(Debug, Clone, Copy, Default)]
struct Latest {
    sentiment: Option<(SentimentSignal, FrameHeader)>,
    book: Option<(BookSignal, FrameHeader)>,
}

/// Joins sentiment and book signals per asset within a window of event time.
///
/// Each asset keeps its latest book signal and its latest unconfirmed sentiment.
/// A sentiment is confirmed at most once (by the first book signal within the
/// window, before or after it); a book signal may confirm many sentiments. The
/// emitted frame derives from the *later* of the two, so the loop's latency is
/// measured from the signal that completed the pair.
#[derive(Debug)]
pub struct SignalJoiner {
    window_ns: u64,
    latest: PerAsset<Latest>,
}

impl SignalJoiner {
    pub fn new(assets: usize, window_ns: u64) -> Self {
        Self { window_ns, latest: PerAsset::new(assets, Latest::default()) }
    }
}

/// Whether two event times are at most `window_ns` apart, in either order.
fn within(window_ns: u64, a: u64, b: u64) -> bool {
    a.abs_diff(b) <= window_ns
}

impl Agent for SignalJoiner {
    fn name(&self) -> &'static str {
        "signal-joiner"
    }

    fn on_frame(&mut self, _ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        let window_ns = self.window_ns;
        match frame {
            FrameRef::Sentiment(f) => {
                let asset = f.payload.asset();
                let latest = self
                    .latest
                    .get_mut(asset)
                    .ok_or(AgentError::UnknownAsset { agent: "signal-joiner", asset: asset.get() })?;
                out.derive(f.header, f.payload)?;
                match latest.book {
                    Some((book, _)) if within(window_ns, book.observed_ts_ns.get(), f.payload.source_ts_ns.get()) => {
                        latest.sentiment = None;
                        out.derive(f.header, &Confirmed::new(f.payload, &book))
                    }
                    _ => {
                        latest.sentiment = Some((*f.payload, *f.header));
                        Ok(())
                    }
                }
            }
            FrameRef::Book(f) => {
                let asset = f.payload.asset();
                let check = self.latest.get(asset).and_then(|l| l.sentiment).map(|(s, _)| s.source_ts_ns.get());
                let confirms = check.is_some_and(|ts| within(window_ns, ts, f.payload.observed_ts_ns.get()));
                let latest = self
                    .latest
                    .get_mut(asset)
                    .ok_or(AgentError::UnknownAsset { agent: "signal-joiner", asset: asset.get() })?;
                latest.book = Some((*f.payload, *f.header));
                out.derive(f.header, f.payload)?;
                match latest.sentiment.take() {
                    Some((sentiment, _)) if confirms => out.derive(f.header, &Confirmed::new(&sentiment, f.payload)),
                    pending => {
                        latest.sentiment = pending;
                        Ok(())
                    }
                }
            }
            // DarkPoolScan's prints inform the Decide agent's features; they confirm nothing
            // by themselves.
            FrameRef::BlockPrint(f) => {
                let asset = f.payload.asset();
                self.latest
                    .get(asset)
                    .ok_or(AgentError::UnknownAsset { agent: "signal-joiner", asset: asset.get() })?;
                out.derive(f.header, f.payload)
            }
            // Reference prices and execution reports are for the risk stage: passed on as
            // they are (same payload, lineage and stamps).
            FrameRef::Quote(f) => out.derive(f.header, f.payload),
            FrameRef::ExecReport(f) => out.derive(f.header, f.payload),
            // The feeder-side agents' decisions (NeuralArb, LiquidityFlow), on their way to risk.
            FrameRef::Decision(f) => out.derive(f.header, f.payload),
            other => Err(AgentError::UnexpectedFrame { agent: "signal-joiner", frame_type: other.frame_type() }),
        }
    }
}
