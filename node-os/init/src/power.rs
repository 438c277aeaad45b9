//! Power: Ctrl-Alt-Del handling and the final power-off or reboot.

use std::io;

use rustix::system::RebootCommand;
use thiserror::Error;
use tracing::{info, warn};

/// A `reboot(2)` call failed.
#[derive(Debug, Error)]
#[error("reboot({command}) failed: {source}")]
pub struct PowerError {
    /// The command (`CAD_OFF`, `POWER_OFF`, `RESTART`).
    pub command: &'static str,
    /// Why (`EPERM` when not privileged).
    pub source: io::Error,
}

/// `reboot(LINUX_REBOOT_CMD_CAD_OFF)`: Ctrl-Alt-Del no longer reboots at once but sends `SIGINT` to PID 1,
/// which can then shut down in order.
pub fn disable_ctrl_alt_del() -> Result<(), PowerError> {
    rustix::system::reboot(RebootCommand::CadOff).map_err(|e| PowerError { command: "CAD_OFF", source: e.into() })
}

/// `sync`, then powers off. Returns only on failure.
#[must_use = "power_off returns only on failure"]
pub fn power_off() -> PowerError {
    final_call(RebootCommand::PowerOff, "POWER_OFF")
}

/// `sync`, then restarts. Returns only on failure.
#[must_use = "reboot returns only on failure"]
pub fn reboot() -> PowerError {
    final_call(RebootCommand::Restart, "RESTART")
}

fn final_call(cmd: RebootCommand, command: &'static str) -> PowerError {
    info!(command, "syncing and calling reboot(2)");
    rustix::fs::sync();
    let source = match rustix::system::reboot(cmd) {
        Err(e) => e.into(),
        Ok(()) => io::Error::other("reboot(2) returned without effect"),
    };
    let e = PowerError { command, source };
    warn!(error = %e, "power call failed");
    e
}
