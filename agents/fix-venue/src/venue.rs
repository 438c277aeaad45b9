//! An initiator and an order gateway together: what the execution side holds.

use std::collections::VecDeque;

use qp_fix::session::MessageStore;
use qp_risk_sentinel::{ApprovedOrderSink, CancelRequest, RiskApproved};
use qp_wire::OrderIntent;

use crate::clock::unix_now_ns;
use crate::gateway::{ClOrdId, GatewayError, GatewayEvent, OrderGateway, Refused, Submitted};
use crate::initiator::FixInitiator;
use crate::link::LinkEvent;

/// The venue as the execution side sees it: approved orders in ([`ApprovedOrderSink`],
/// [`Self::submit`]), cancels, and [`GatewayEvent`]s out; the connection's own events from
/// [`Self::next_link_event`].
#[derive(Debug)]
pub struct VenueGateway<'d, S: MessageStore> {
    link: FixInitiator<'d, S>,
    gateway: OrderGateway,
    events: VecDeque<GatewayEvent>,
}

impl<'d, S: MessageStore> VenueGateway<'d, S> {
    /// `gateway` should have [`OrderGateway::recover`]ed from the store `link` uses
    /// (see [`Self::recover`]).
    pub fn new(link: FixInitiator<'d, S>, gateway: OrderGateway) -> Self {
        Self { link, gateway, events: VecDeque::with_capacity(1024) }
    }

    /// Builds the gateway's record of sent orders from the link's store.
    pub fn recover(&mut self) -> Result<crate::gateway::Recovered, GatewayError> {
        self.gateway.recover(self.link.store())
    }

    pub fn link(&self) -> &FixInitiator<'d, S> {
        &self.link
    }
    pub fn link_mut(&mut self) -> &mut FixInitiator<'d, S> {
        &mut self.link
    }
    pub fn gateway(&self) -> &OrderGateway {
        &self.gateway
    }

    /// One transport step ([`FixInitiator::poll`]); reports become [`Self::next_event`]s.
    pub fn poll(&mut self, now_ns: u64) -> usize {
        let (gateway, events) = (&mut self.gateway, &mut self.events);
        self.link.poll(now_ns, |message| {
            if let Some(event) = gateway.on_message(message) {
                events.push_back(event);
            }
        })
    }

    /// [`OrderGateway::submit`], then the bytes are written to the socket.
    pub fn submit(&mut self, now_ns: u64, order: RiskApproved<OrderIntent>) -> Result<Submitted, Refused> {
        let submitted = self.gateway.submit(self.link.session_mut(), now_ns, order)?;
        self.link.flush();
        Ok(submitted)
    }

    /// [`OrderGateway::cancel`], then written.
    pub fn cancel(&mut self, now_ns: u64, request: &CancelRequest) -> Result<(ClOrdId, u64), GatewayError> {
        let sent = self.gateway.cancel(self.link.session_mut(), now_ns, request)?;
        self.link.flush();
        Ok(sent)
    }

    /// [`OrderGateway::cancel_order`], then written.
    pub fn cancel_order(&mut self, now_ns: u64, intent_id: u64) -> Result<(ClOrdId, u64), GatewayError> {
        let sent = self.gateway.cancel_order(self.link.session_mut(), now_ns, intent_id)?;
        self.link.flush();
        Ok(sent)
    }

    /// The next report from the venue.
    pub fn next_event(&mut self) -> Option<GatewayEvent> {
        self.events.pop_front()
    }

    /// The next session or connection event.
    pub fn next_link_event(&mut self) -> Option<LinkEvent> {
        self.link.next_event()
    }
}

impl<S: MessageStore> ApprovedOrderSink for VenueGateway<'_, S> {
    /// Sends at the wall clock's now; an order the session could not send comes back.
    fn send(&mut self, order: RiskApproved<OrderIntent>) -> Result<(), RiskApproved<OrderIntent>> {
        match self.submit(unix_now_ns(), order) {
            Ok(_) => Ok(()),
            Err(refused) => {
                tracing::warn!(error = %refused.error, "approved order not sent");
                Err(refused.order)
            }
        }
    }
}
