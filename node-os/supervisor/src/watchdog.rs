//! The hardware watchdog: the supervisor pets it only while its own loop is healthy, so a hung
//! supervisor gets the machine reset (QEMU's `i6300esb` in tests, `/dev/watchdog` on a server).
use std::io::Write;

/// Something to pet.
pub trait Watchdog {
    fn pet(&mut self) -> std::io::Result<()>;
}

/// A watchdog device file: each write pets it. (Closing it without the magic 'V' leaves the
/// timer running, which is what a supervisor that died should do.)
#[derive(Debug)]
pub struct DeviceWatchdog {
    file: std::fs::File,
}

impl DeviceWatchdog {
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self { file: std::fs::OpenOptions::new().write(true).open(path)? })
    }
}

impl Watchdog for DeviceWatchdog {
    fn pet(&mut self) -> std::io::Result<()> {
        self.file.write_all(b"\0")?;
        self.file.flush()
    }
}
