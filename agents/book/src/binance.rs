//! Binance depth/trade/bookTicker decoding and depth synchronisation.
