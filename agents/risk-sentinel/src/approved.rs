//! `RiskApproved<T>`: proof, in the type, that RiskSentinel approved a value. Its field is
//! private and this crate makes one only in [`crate::RiskSentinel::check`], so code outside
//! the crate can receive, inspect and forward an approved order but never mint one.
//!
//! The execution side takes orders through [`ApprovedOrderSink::send`], whose argument is a
//! `RiskApproved<OrderIntent>`: a bare [`OrderIntent`] does not compile there (tests in
//! `tests/compile_fail/`). [`approved_order_ring`] is the typed in-process hand-off: an SPSC
//! ring of approved orders, not of bytes.
use qp_wire::OrderIntent;

/// A value RiskSentinel approved. Not `Clone` (one approval is one order), not `Default`,
/// no `From`/`Into`, not deserialisable and not `FromBytes`: the only constructor is private
/// to this crate.
#[derive(Debug, PartialEq, Eq)]
pub struct RiskApproved<T>(T);

/// Only RiskSentinel approves (a free function, so that rustc's hints for code outside the
/// crate name no constructor).
pub(crate) fn grant<T>(value: T) -> RiskApproved<T> {
    RiskApproved(value)
}

impl<T> RiskApproved<T> {
    /// The approved value, read-only.
    pub fn get(&self) -> &T {
        &self.0
    }

    /// Give up the approval and keep the value (it cannot be approved again outside this
    /// crate).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> AsRef<T> for RiskApproved<T> {
    fn as_ref(&self) -> &T {
        &self.0
    }
}

/// Where approved orders go: the execution agents implement it. The argument type is the
/// guarantee; an implementation cannot be handed an unapproved [`OrderIntent`].
pub trait ApprovedOrderSink {
    /// Take one approved order, or hand it back when there is no room (the caller then
    /// withdraws it from RiskSentinel's reservations, see [`crate::RiskSentinel::withdraw`]).
    fn send(&mut self, order: RiskApproved<OrderIntent>) -> Result<(), RiskApproved<OrderIntent>>;
}

/// The producing end of the approved-order ring: RiskSentinel's agent holds it.
#[derive(Debug)]
pub struct ApprovedOrderProducer {
    ring: rtrb::Producer<RiskApproved<OrderIntent>>,
}

/// The consuming end of the approved-order ring: the execution side holds it.
#[derive(Debug)]
pub struct ApprovedOrderConsumer {
    ring: rtrb::Consumer<RiskApproved<OrderIntent>>,
}

/// A single-producer single-consumer ring of approved orders with room for `capacity`.
/// Allocates once, here.
pub fn approved_order_ring(capacity: usize) -> (ApprovedOrderProducer, ApprovedOrderConsumer) {
    let (producer, consumer) = rtrb::RingBuffer::new(capacity);
    (ApprovedOrderProducer { ring: producer }, ApprovedOrderConsumer { ring: consumer })
}

impl ApprovedOrderSink for ApprovedOrderProducer {
    fn send(&mut self, order: RiskApproved<OrderIntent>) -> Result<(), RiskApproved<OrderIntent>> {
        self.ring.push(order).map_err(|rtrb::PushError::Full(order)| order)
    }
}

impl ApprovedOrderProducer {
    /// Free slots.
    pub fn slots(&self) -> usize {
        self.ring.slots()
    }
}

impl ApprovedOrderConsumer {
    /// The oldest approved order, if any.
    pub fn pop(&mut self) -> Option<RiskApproved<OrderIntent>> {
        self.ring.pop().ok()
    }

    /// Orders waiting.
    pub fn len(&self) -> usize {
        self.ring.slots()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}
