//! The node's management API over mutual TLS (qpctl status), structured logs to the console and a ring buffer
