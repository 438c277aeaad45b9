//! The Decide agent's model: dataset from replayed market data, training, evaluation.
