//! qp-book's integration tests: one binary, one module per area.
mod binance;
mod books;
mod lobster;
