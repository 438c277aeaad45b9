//! The venue connection: the FIX session (`qp_fix::session::Session`, no I/O) driven over
//! TCP on one side, and the order gateway that turns risk-approved intents into FIX on the
//! other. Design: `agents/fix-venue/DESIGN.md`.
//!
//! - [`FixInitiator`]: connects to a venue (127.0.0.1:port), TCP_NODELAY, a non-blocking
//!   socket; the caller drives it with [`FixInitiator::poll`], which never blocks.
//! - [`FixAcceptor`]: listens, one [`Session`](qp_fix::session::Session) per accepted
//!   connection, delivered messages to an [`AcceptorApp`].
//! - [`OrderGateway`]: `RiskApproved<OrderIntent>` → NewOrderSingle (ClOrdID from the intent
//!   id), cancels, ExecutionReport / OrderCancelReject → [`qp_wire::ExecReport`]; on start it
//!   reads the store so that no order already sent is ever sent again as a new message.
//! - [`VenueGateway`]: an initiator and a gateway together, the execution side's
//!   [`ApprovedOrderSink`](qp_risk_sentinel::ApprovedOrderSink).
//! - [`trade`]: the scripted order session behind `qpctl fix trade` (and the `fix-trader`
//!   binary of the crash tests); [`peer`]: the QuickFIX exchange simulator as a child process;
//!   [`roundtrip`]: the NewOrderSingle → ExecutionReport round-trip measurement;
//!   [`conformance`]: QuickFIX's acceptance scripts against the acceptor over TCP.

mod acceptor;
mod clock;
pub mod conformance;
mod gateway;
mod initiator;
mod link;
pub mod loopback_exchange;
pub mod peer;
pub mod roundtrip;
pub mod trade;
mod venue;

pub use acceptor::{AcceptorApp, AcceptorEvent, AcceptorThread, ConnectionId, FixAcceptor, Replies};
pub use clock::unix_now_ns;
pub use gateway::{
    ClOrdId, GatewayConfig, GatewayError, GatewayEvent, OrderGateway, Recovered, Refused, Submitted, VenueInstrument,
};
pub use initiator::FixInitiator;
pub use link::{CloseReason, LinkEvent, TransportError};
pub use venue::VenueGateway;
