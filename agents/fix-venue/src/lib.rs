//! The venue connection: a FIX session over TCP and the order gateway.
