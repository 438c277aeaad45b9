//! QuotePublisher: the ingest side's reference prices. After each depth diff (or a rebuilt
//! book) it reads the asset's top of book and emits a [`Quote`] frame when the top changed,
//! so the risk stage has fresh reference prices on the loop's own clock (the frame's Ingest
//! stamp).
use qp_alpha_scanner::{MarketEvent, MarketUpdate};
use qp_book::BookRead;
use qp_runtime::{AgentContext, AgentError, IngestAgent, Outbox};
use qp_wire::Quote;

use super::PerAsset;

const AGENT: &str = "quote-publisher";

/// Best bid and ask, price and size each.
type Top = ((i64, i64), (i64, i64));

/// Emits one [`Quote`] per asset whenever its top of book (best bid or ask, price or size)
/// differs from the last one published, and, while the top stays the same, again once
/// `refresh_ns` of loop time has passed since the last one, so a quiet but live book does not
/// go stale at the risk stage. Only [`MarketEvent::Depth`] and [`MarketEvent::Resync`] are
/// read (trades do not move Binance's book). A book with an empty side, or locked or crossed,
/// publishes nothing: risk then sees the last quote age and, past its limit, vetoes.
#[derive(Debug)]
pub struct QuotePublisher {
    origin_node: u32,
    refresh_ns: u64,
    /// Last published top and when (loop time), per asset.
    last: PerAsset<Option<(Top, u64)>>,
    sequence: u64,
    published: u64,
}

impl QuotePublisher {
    pub fn new(origin_node: u32, assets: usize, refresh_ns: u64) -> Self {
        Self { origin_node, refresh_ns, last: PerAsset::new(assets, None), sequence: 0, published: 0 }
    }

    /// Quote frames emitted so far.
    pub fn published(&self) -> u64 {
        self.published
    }
}

impl<B: BookRead + ?Sized> IngestAgent<MarketUpdate<'_, B>> for QuotePublisher {
    fn name(&self) -> &'static str {
        AGENT
    }

    fn on_event(
        &mut self,
        ctx: AgentContext,
        update: &MarketUpdate<'_, B>,
        out: &mut Outbox,
    ) -> Result<(), AgentError> {
        if !matches!(update.event, MarketEvent::Depth | MarketEvent::Resync) {
            return Ok(());
        }
        let last = self
            .last
            .get_mut(update.asset)
            .ok_or(AgentError::UnknownAsset { agent: AGENT, asset: update.asset.get() })?;
        let (Some(bid), Some(ask)) = (update.book.best_bid(), update.book.best_ask()) else {
            return Ok(());
        };
        if bid.price <= 0 || bid.price >= ask.price || bid.qty <= 0 || ask.qty <= 0 {
            return Ok(());
        }
        let top = ((bid.price, bid.qty), (ask.price, ask.qty));
        if let Some((previous, at_ns)) = *last
            && previous == top
            && ctx.now_ns.saturating_sub(at_ns) < self.refresh_ns
        {
            return Ok(());
        }
        self.sequence += 1;
        out.emit(self.origin_node, self.sequence, &Quote::new(update.asset, top.0, top.1, update.ts_ns))?;
        *last = Some((top, ctx.now_ns));
        self.published += 1;
        Ok(())
    }
}
