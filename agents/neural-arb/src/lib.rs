//! NeuralArb: statistical arbitrage between two instruments.
#![forbid(unsafe_code)]
