//! The process's signals as flags: handlers only raise them, the loops poll them.
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Flags the signal handlers raise and the node's loops poll.
#[derive(Debug, Clone, Default)]
pub struct NodeSignals {
    /// SIGHUP: re-read the risk limits file.
    pub reload: Arc<AtomicBool>,
    /// SIGTERM or SIGINT: stop (the demo still prints its report).
    pub stop: Arc<AtomicBool>,
}

impl NodeSignals {
    /// Flags raised by this process's SIGHUP, SIGTERM and SIGINT (signal-hook's handlers do
    /// nothing but set them).
    pub fn register() -> std::io::Result<Self> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let signals = Self::default();
        signal_hook::flag::register(SIGHUP, Arc::clone(&signals.reload))?;
        signal_hook::flag::register(SIGTERM, Arc::clone(&signals.stop))?;
        signal_hook::flag::register(SIGINT, Arc::clone(&signals.stop))?;
        Ok(signals)
    }

    #[cfg(feature = "demo")]
    pub(crate) fn take(flag: &AtomicBool) -> bool {
        use std::sync::atomic::Ordering;
        flag.load(Ordering::Relaxed) && flag.swap(false, Ordering::Relaxed)
    }
}
