//! Binance decoding and depth synchronisation on the shared recordings.
