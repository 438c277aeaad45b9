//! A minimal exchange on the project's own [`FixAcceptor`]: every NewOrderSingle is
//! acknowledged (ExecutionReport New) and filled in full at its limit price (ExecutionReport
//! Filled). It exists to measure our engine on both ends of a loopback round trip, without
//! the Python peer's ~250 µs in the way; the behaviour tests use the real QuickFIX peer.

use std::net::SocketAddr;

use qp_fix::session::{Role, SessionConfig};
use qp_fix::{Message, tag};

use crate::acceptor::{AcceptorApp, AcceptorThread, ConnectionId, Replies};
use crate::link::TransportError;

#[derive(Debug, Default)]
struct FillEverything {
    next_id: u64,
    ids: String,
}

impl AcceptorApp for FillEverything {
    fn on_message(&mut self, _connection: ConnectionId, message: &Message<'_>, replies: &mut Replies) {
        if message.msg_type() != b"D" {
            return;
        }
        let field = |t| message.get(t).unwrap_or_default();
        let (cl_ord_id, symbol, side, qty, price) =
            (field(tag::CL_ORD_ID), field(tag::SYMBOL), field(tag::SIDE), field(tag::ORDER_QTY), field(tag::PRICE));
        self.next_id += 1;
        // One scratch string for both ids: "O<n>" and "E<n>".
        self.ids.clear();
        use std::fmt::Write as _;
        let _ = write!(self.ids, "O{0}E{0}", self.next_id);
        let (order_id, exec_id) = self.ids.split_at(self.ids.find('E').unwrap_or(0));
        replies.send(
            b"8",
            &[
                (tag::ORDER_ID, order_id.as_bytes()),
                (tag::CL_ORD_ID, cl_ord_id),
                (tag::EXEC_ID, exec_id.as_bytes()),
                (tag::EXEC_TYPE, b"0"),
                (tag::ORD_STATUS, b"0"),
                (tag::SYMBOL, symbol),
                (tag::SIDE, side),
                (tag::LEAVES_QTY, qty),
                (tag::CUM_QTY, b"0"),
                (tag::AVG_PX, b"0"),
            ],
        );
        replies.send(
            b"8",
            &[
                (tag::ORDER_ID, order_id.as_bytes()),
                (tag::CL_ORD_ID, cl_ord_id),
                (tag::EXEC_ID, exec_id.as_bytes()),
                (tag::EXEC_TYPE, b"F"),
                (tag::ORD_STATUS, b"2"),
                (tag::SYMBOL, symbol),
                (tag::SIDE, side),
                (tag::LEAVES_QTY, b"0"),
                (tag::CUM_QTY, qty),
                (tag::AVG_PX, price),
                (tag::LAST_QTY, qty),
                (tag::LAST_PX, price),
            ],
        );
    }
}

/// The loopback exchange, running on a thread of its own until dropped.
#[derive(Debug)]
pub struct LoopbackExchange {
    acceptor: AcceptorThread,
}

impl LoopbackExchange {
    /// Listens on a free port of 127.0.0.1 as `sender` for the initiator `target`.
    pub fn start(sender: &str, target: &str) -> Result<Self, TransportError> {
        let config = SessionConfig::new(Role::Acceptor, sender, target, 0);
        let acceptor = AcceptorThread::spawn("loopback-exchange", config, None, FillEverything::default())?;
        Ok(Self { acceptor })
    }

    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }
}
