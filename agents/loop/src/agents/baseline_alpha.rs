//! Baseline alpha: trade when confirmed sentiment and book pressure agree and
//! are strong enough. The alpha agent (issue 7) replaces it. `Quote` and `ExecReport`
//! frames pass through unchanged to the risk stage.
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::{Decision, FrameRef, Side};

/// Reason code the baseline alpha writes into its decisions.
pub const REASON_SENTIMENT_AND_BOOK_AGREE: u16 = 1;

#[derive(Debug)]
pub struct BaselineAlpha {
    min_abs_score: i8,
    min_abs_magnitude_bp: i32,
    order_qty_lots: i64,
    limit_offset_ticks: i64,
    next_decision_id: u64,
}

impl BaselineAlpha {
    pub fn new(min_abs_score: i8, min_abs_magnitude_bp: i32, order_qty_lots: i64, limit_offset_ticks: i64) -> Self {
        Self { min_abs_score, min_abs_magnitude_bp, order_qty_lots, limit_offset_ticks, next_decision_id: 1 }
    }
}

impl Agent for BaselineAlpha {
    fn name(&self) -> &'static str {
        "baseline-alpha"
    }

    fn on_frame(&mut self, _ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        let f = match frame {
            FrameRef::Confirmed(f) => f,
            // For the risk stage: passed on unchanged.
            FrameRef::Quote(f) => return out.derive(f.header, f.payload),
            FrameRef::ExecReport(f) => return out.derive(f.header, f.payload),
            other => {
                return Err(AgentError::UnexpectedFrame { agent: "baseline-alpha", frame_type: other.frame_type() });
            }
        };
        let c = f.payload;
        let magnitude = c.magnitude_bp.get();
        let agree = (c.score > 0 && magnitude > 0) || (c.score < 0 && magnitude < 0);
        if !agree || c.score.abs() < self.min_abs_score || magnitude.abs() < self.min_abs_magnitude_bp {
            return Ok(());
        }
        let side = if c.score > 0 { Side::Buy } else { Side::Sell };
        // Cross the spread by the offset so the order is marketable, never beyond it.
        let limit = (c.ref_price.get() + side.sign() * self.limit_offset_ticks).max(1);
        let decision = Decision::new(
            self.next_decision_id,
            c.asset(),
            side,
            self.order_qty_lots,
            limit,
            REASON_SENTIMENT_AND_BOOK_AGREE,
        );
        self.next_decision_id += 1;
        out.derive(f.header, &decision)
    }
}
