//! LiquidityFlow: parent orders worked in child orders.
#![forbid(unsafe_code)]
