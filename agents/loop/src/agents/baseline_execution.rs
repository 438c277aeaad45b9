//! Baseline execution: the loop's stand-in for the FIX executors (issue 6). It takes the
//! risk stage's approved orders, typed (`RiskApproved<OrderIntent>`), off the approved-order
//! ring. No venue is connected, so nothing can fill: each order (immediate-or-cancel, as
//! RiskSentinel issues them) expires, and its execution report says so — cancelled, nothing
//! filled — so that RiskSentinel releases what it reserved for the order. The FIX executors
//! replace this with the venue's own reports.
use qp_risk_sentinel::{ApprovedOrderConsumer, ApprovedOrderProducer, ApprovedOrderSink, RiskApproved};
use qp_wire::{ExecReport, ExecStatus, FrameBuf, OrderIntent};

/// The risk stage's [`ApprovedOrderSink`] in the loop: approved orders onto the
/// approved-order ring, whose other end the execution side drains ([`BaselineExecution`]
/// today). A full ring hands the order back, and RiskSentinel's agent withdraws it and vetoes
/// the decision `RateLimit`.
#[derive(Debug)]
pub struct LoopOrderSink {
    ring: ApprovedOrderProducer,
}

impl LoopOrderSink {
    pub fn new(ring: ApprovedOrderProducer) -> Self {
        Self { ring }
    }
}

impl ApprovedOrderSink for LoopOrderSink {
    fn send(&mut self, order: RiskApproved<OrderIntent>) -> Result<(), RiskApproved<OrderIntent>> {
        self.ring.send(order)
    }
}

/// Takes approved orders and reports them expired unfilled (see the module docs).
#[derive(Debug)]
pub struct BaselineExecution {
    ring: ApprovedOrderConsumer,
    origin_node: u32,
    sequence: u64,
    taken: u64,
}

impl BaselineExecution {
    pub fn new(ring: ApprovedOrderConsumer, origin_node: u32) -> Self {
        Self { ring, origin_node, sequence: 0, taken: 0 }
    }

    /// The next approved order's execution report (cancelled, nothing filled), as a frame
    /// for the risk stage, or `None` when no approved order is waiting.
    pub fn next_report(&mut self) -> Option<FrameBuf> {
        let report = self.next_exec_report()?;
        Some(FrameBuf::encode(self.origin_node, self.sequence, &report))
    }

    /// As [`BaselineExecution::next_report`], the report itself (its frame's sequence number is
    /// [`BaselineExecution::sequence`]).
    pub fn next_exec_report(&mut self) -> Option<ExecReport> {
        let approved = self.ring.pop()?;
        self.taken += 1;
        self.sequence += 1;
        let intent = approved.get();
        Some(ExecReport {
            intent_id: intent.intent_id,
            asset: intent.asset,
            side: intent.side,
            status: ExecStatus::Canceled as u8,
            _pad: 0.into(),
            last_qty: 0.into(),
            last_price: 0.into(),
            cum_qty: 0.into(),
            leaves_qty: 0.into(),
        })
    }

    /// The sequence number of the last report made.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Approved orders taken off the ring so far.
    pub fn taken(&self) -> u64 {
        self.taken
    }
}
