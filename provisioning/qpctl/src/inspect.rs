//! `qpctl inspect frames FILE`.
use std::path::Path;

use anyhow::Context;
use qp_wire::{FrameRef, decode};

/// One line describing a decoded frame.
pub fn describe(frame: &FrameRef<'_>) -> String {
    let h = frame.header();
    let what = match frame {
        FrameRef::Sentiment(f) => format!(
            "asset={} score={} confidence_bp={}",
            f.payload.asset.get(),
            f.payload.score,
            f.payload.confidence_bp.get()
        ),
        FrameRef::Book(f) => format!(
            "asset={} kind={:?} magnitude_bp={}",
            f.payload.asset.get(),
            f.payload.kind(),
            f.payload.magnitude_bp.get()
        ),
        FrameRef::BlockPrint(f) => {
            format!("asset={} qty={} price={}", f.payload.asset.get(), f.payload.qty.get(), f.payload.price.get())
        }
        FrameRef::Confirmed(f) => format!(
            "asset={} score={} magnitude_bp={}",
            f.payload.asset.get(),
            f.payload.score,
            f.payload.magnitude_bp.get()
        ),
        FrameRef::Decision(f) => format!(
            "decision={} asset={} side={:?} qty={} limit={}",
            f.payload.decision_id.get(),
            f.payload.asset.get(),
            f.payload.side(),
            f.payload.qty.get(),
            f.payload.limit_price.get()
        ),
        FrameRef::RiskVerdict(f) => format!(
            "decision={} verdict={:?} reason={:?}",
            f.payload.decision_id.get(),
            f.payload.verdict(),
            f.payload.reason()
        ),
        FrameRef::OrderIntent(f) => format!(
            "intent={} asset={} side={:?} qty={} limit={}",
            f.payload.intent_id.get(),
            f.payload.asset.get(),
            f.payload.side(),
            f.payload.qty.get(),
            f.payload.limit_price.get()
        ),
        FrameRef::ExecReport(f) => format!(
            "intent={} status={} cum_qty={}",
            f.payload.intent_id.get(),
            f.payload.status,
            f.payload.cum_qty.get()
        ),
        FrameRef::Quote(f) => format!(
            "asset={} bid={}x{} ask={}x{}",
            f.payload.asset.get(),
            f.payload.bid_price.get(),
            f.payload.bid_qty.get(),
            f.payload.ask_price.get(),
            f.payload.ask_qty.get()
        ),
    };
    format!("{:?} origin={} seq={} {what}", frame.frame_type(), h.origin_node.get(), h.sequence.get())
}

pub fn print_frames(path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let mut offset = 0;
    let mut out = std::io::stdout().lock();
    while offset < bytes.len() {
        let frame = decode(&bytes[offset..]).with_context(|| format!("{}: frame at byte {offset}", path.display()))?;
        // A reader that went away (`| head`) ends the listing, not the process.
        if std::io::Write::write_fmt(&mut out, format_args!("{offset:>8} {}\n", describe(&frame))).is_err() {
            return Ok(());
        }
        offset += frame.len();
    }
    Ok(())
}
