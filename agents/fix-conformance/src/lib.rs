//! Runs QuickFIX's FIX 4.4 session acceptance scripts (`.def`) against the project's acceptor.
#![forbid(unsafe_code)]
