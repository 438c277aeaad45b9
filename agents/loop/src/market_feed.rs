//! One asset's market-data feed on the ingest side: the Binance decoder, the
//! depth synchroniser that keeps the asset's L2 book, and the print reconciler
//! that judges each trade print against the book around its exchange time. The
//! sensing agents (AlphaScanner, DarkPoolScan) read the book it keeps; they
//! never see JSON.
//!
//! # Trade prints
//!
//! Binance sends trades and depth diffs on separate streams, so the book at a
//! print's arrival can already show its fill or not yet show the liquidity it
//! took. A print is therefore not handed over when it arrives: it waits in a
//! [`PrintReconciler`] until the depth stream has passed its time (a diff stamped
//! later was applied) or a bound is hit (4,096 waiting prints, or the feed's
//! exchange clock 1 s past it), and comes out of a later [`MarketFeed::on_message`]
//! call, with the book at its time that explains it by DarkPoolScan's rule
//! ([`hidden_reason`]) if there is one (see [`PrintReconciler`]). Several prints
//! may come out of one call, in arrival order, before the diff's own
//! [`MarketEvent::Depth`].
//!
//! Before a snapshot replaces the book, and when a gap loses it, the waiting
//! prints are judged with the diffs known so far (the book still holds them),
//! then [`MarketEvent::Resync`] follows. Prints that arrive while the book is not
//! synchronised have no book to be judged by: they are dropped and counted
//! ([`PrintReconcilerStats::dropped_unsynchronised`]). [`MarketFeed::flush`]
//! hands over what still waits at the end of a replay.
use qp_alpha_scanner::MarketEvent;
use qp_book::binance::{
    BinanceDecoder, BinanceError, BinanceMessage, DepthSync, DepthSyncStats, PrintReconciler, PrintReconcilerStats,
    ReconciledPrint,
};
use qp_book::{BookError, Grid, L2Book, TradePrint};
use qp_darkpool_scan::hidden_reason;

/// Whether the visible book explains a print: DarkPoolScan's rule.
fn explains(book: &L2Book, print: &TradePrint) -> bool {
    hidden_reason(book, print).is_none()
}

/// A reconciled print, as the agents hear it: a trade, with the book around its time.
fn as_trade(on_change: &mut impl FnMut(MarketEvent, &L2Book)) -> impl FnMut(ReconciledPrint, &L2Book) + '_ {
    |p: ReconciledPrint, book: &L2Book| on_change(MarketEvent::Trade(p.print), book)
}

/// The decoder, synchroniser and print reconciler of one asset.
#[derive(Debug)]
pub struct MarketFeed {
    decoder: BinanceDecoder,
    sync: DepthSync,
    prints: PrintReconciler,
}

impl MarketFeed {
    /// A feed whose prices have `price_decimals` and sizes `qty_decimals`
    /// decimals; the book's tick and lot are one unit of each.
    pub fn new(price_decimals: u32, qty_decimals: u32) -> Result<Self, BookError> {
        Self::with_reconciler(price_decimals, qty_decimals, PrintReconciler::default())
    }

    /// As [`new`](Self::new), with the print reconciler's bounds chosen.
    pub fn with_reconciler(price_decimals: u32, qty_decimals: u32, prints: PrintReconciler) -> Result<Self, BookError> {
        Ok(Self {
            decoder: BinanceDecoder::new(price_decimals, qty_decimals),
            sync: DepthSync::new(Grid::new(1, 1)?),
            prints,
        })
    }

    pub fn book(&self) -> &L2Book {
        self.sync.book()
    }

    pub fn is_synchronised(&self) -> bool {
        self.sync.is_synchronised()
    }

    pub fn stats(&self) -> DepthSyncStats {
        self.sync.stats()
    }

    /// What became of the trade prints so far (delivered, late, dropped, explained).
    pub fn print_stats(&self) -> PrintReconcilerStats {
        self.prints.stats()
    }

    /// Prints waiting for the depth stream to pass their time.
    pub fn pending_prints(&self) -> usize {
        self.prints.pending()
    }

    /// Decode one message (the JSON of a feed line), apply it, and tell `on_change`
    /// what the sensing agents need to hear, each change with the book to read:
    /// waiting prints the message released first (in arrival order), then the
    /// message's own change.
    pub fn on_message(
        &mut self,
        json: &[u8],
        mut on_change: impl FnMut(MarketEvent, &L2Book),
    ) -> Result<(), BinanceError> {
        let was_synchronised = self.sync.is_synchronised();
        let applied_before = self.sync.last_applied_update_id();
        let message = self.decoder.decode(json)?;
        let (sync, prints) = (&mut self.sync, &mut self.prints);
        match &message {
            BinanceMessage::Depth(diff) => {
                if let Some(ts) = diff.exchange_ts_ns {
                    // Most prints this diff passes are judged before it is applied: no undoing.
                    prints.before_depth(sync, ts, explains, as_trade(&mut on_change));
                }
                sync.apply_depth(diff);
                if was_synchronised && !sync.is_synchronised() {
                    // A gap lost the book; it still holds every diff up to the gap.
                    prints.flush(sync, explains, as_trade(&mut on_change));
                    on_change(MarketEvent::Resync, sync.book());
                } else if sync.is_synchronised() && sync.last_applied_update_id() != applied_before {
                    prints.on_depth(sync, explains, as_trade(&mut on_change));
                    on_change(MarketEvent::Depth, sync.book());
                }
            }
            BinanceMessage::Snapshot(snapshot) => {
                prints.flush(sync, explains, as_trade(&mut on_change));
                sync.load_snapshot(snapshot);
                on_change(MarketEvent::Resync, sync.book());
            }
            BinanceMessage::Trade(print) => {
                sync.record_trade(*print);
                prints.on_trade(sync, *print, explains, as_trade(&mut on_change));
            }
            BinanceMessage::BookTicker(ticker) => {
                let _ = sync.check_ticker(ticker);
            }
        }
        Ok(())
    }

    /// Hand over every print still waiting (end of a replay), judged with the diffs known now.
    pub fn flush(&mut self, mut on_change: impl FnMut(MarketEvent, &L2Book)) {
        self.prints.flush(&mut self.sync, explains, as_trade(&mut on_change));
    }
}
