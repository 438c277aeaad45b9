//! LOBSTER message and order-book rows, and the one-step checker.
