//! The cores this process may run on, read once.
use std::sync::OnceLock;

use core_affinity::CoreId;

/// The cores in the process's affinity set when first asked. Read once because
/// the OS answers for the *calling thread*: after a thread pins itself, it would
/// see only its own core.
pub fn process_cores() -> &'static [CoreId] {
    static CORES: OnceLock<Vec<CoreId>> = OnceLock::new();
    CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default())
}

/// Pin the calling thread to `core`; answers whether the OS agreed.
pub fn pin_current_thread(core: CoreId) -> bool {
    // Read the set before the first pin narrows what this thread would see.
    let _ = process_cores();
    core_affinity::set_for_current(core)
}
