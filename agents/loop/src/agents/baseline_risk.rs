//! Baseline risk gate: order size, notional and position limits. RiskSentinel
//! (issue 5: collars, rates, exposure, margin, VaR, kill switch, fail-closed)
//! replaces it. Like RiskSentinel, it is the only agent that creates
//! [`OrderIntent`]s: everything else it sees becomes a veto.
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::{Decision, FrameRef, OrderIntent, RiskVerdict, TimeInForce, Verdict, VetoReason};

use super::PerAsset;

/// Per-asset scale: notional = price × qty / 10^(price decimals + qty decimals).
#[derive(Debug, Clone, Copy, Default)]
pub struct AssetScale {
    pub price_decimals: u32,
    pub qty_decimals: u32,
}

#[derive(Debug)]
pub struct BaselineRiskGate {
    max_order_qty_lots: i64,
    max_order_notional: i64,
    max_position_lots: i64,
    scale: PerAsset<Option<AssetScale>>,
    /// Positions if every approved order filled: conservative until fills arrive.
    position_lots: PerAsset<i64>,
    next_intent_id: u64,
}

impl BaselineRiskGate {
    /// `scales[i]` is the scale of asset id `i + 1`; an asset without one
    /// (no market data configured) is vetoed as of unknown position.
    pub fn new(
        scales: &[Option<AssetScale>],
        max_order_qty_lots: i64,
        max_order_notional: i64,
        max_position_lots: i64,
    ) -> Self {
        let mut scale = PerAsset::new(scales.len(), None);
        for (i, s) in scales.iter().enumerate() {
            if let Some(slot) = scale.get_mut(qp_wire::AssetId::from_wire(i as u32 + 1)) {
                *slot = *s;
            }
        }
        Self {
            max_order_qty_lots,
            max_order_notional,
            max_position_lots,
            scale,
            position_lots: PerAsset::new(scales.len(), 0),
            next_intent_id: 1,
        }
    }

    fn check(&self, d: &Decision) -> Result<(), VetoReason> {
        let asset = d.asset();
        let (Some(scale), Some(position), Some(side)) =
            (self.scale.get(asset).copied().flatten(), self.position_lots.get(asset), d.side())
        else {
            return Err(VetoReason::UnknownPosition);
        };
        let qty = d.qty.get();
        if qty > self.max_order_qty_lots {
            return Err(VetoReason::MaxQuantity);
        }
        let notional =
            i128::from(d.limit_price.get()) * i128::from(qty) / 10i128.pow(scale.price_decimals + scale.qty_decimals);
        if notional > i128::from(self.max_order_notional) {
            return Err(VetoReason::MaxNotional);
        }
        if (position + side.sign() * qty).abs() > self.max_position_lots {
            return Err(VetoReason::Exposure);
        }
        Ok(())
    }
}

impl Agent for BaselineRiskGate {
    fn name(&self) -> &'static str {
        "baseline-risk-gate"
    }

    fn on_frame(&mut self, _ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        let FrameRef::Decision(f) = frame else {
            return Err(AgentError::UnexpectedFrame { agent: "baseline-risk-gate", frame_type: frame.frame_type() });
        };
        let d = f.payload;
        match self.check(d) {
            Ok(()) => {
                if let (Some(position), Some(side)) = (self.position_lots.get_mut(d.asset()), d.side()) {
                    *position += side.sign() * d.qty.get();
                }
                let intent = OrderIntent::new(self.next_intent_id, d, TimeInForce::ImmediateOrCancel);
                self.next_intent_id += 1;
                out.derive(f.header, &intent)
            }
            Err(reason) => {
                out.derive(f.header, &RiskVerdict::new(d.decision_id.get(), d.asset(), Verdict::Veto, reason))
            }
        }
    }
}
