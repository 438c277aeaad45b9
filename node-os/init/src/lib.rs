//! PID 1's duties in the sealed image: pseudo file systems, kernel modules, dm-verity, networking, power.
//!
//! A library: `qp-node`'s boot sequence calls it in the order `DESIGN.md` gives. Every step returns a typed
//! error that names what failed and where (device path, module file, command-line word); no step panics.
//! The pure parts (command line, uevent files, device-mapper and netlink encoding, DHCP) are separate from the
//! system calls so they are tested on any host; the privileged parts are exercised by the QEMU boot test.
//!
//! `unsafe` lives only in [`sys`]: the device-mapper ioctl and `SO_BINDTODEVICE`, which `rustix` does not wrap.

pub mod block;
pub mod cmdline;
pub mod console;
pub mod dhcp;
pub mod dm_ioctl;
pub mod modules;
pub mod mounts;
pub mod net;
pub mod netlink;
pub mod power;
mod sys;
pub mod tpm;
pub mod verity;

pub use block::{BlockDevice, BlockError, find_partition, find_partition_in};
pub use cmdline::{BootParams, CmdlineError, VerityParams};
pub use console::{ConsoleError, attach_console};
pub use dhcp::{DhcpClient, DhcpError, DhcpRunError, Lease};
pub use modules::{ModuleReport, load_modules};
pub use mounts::{
    MountError, UnmountReport, mount_data, mount_esp, mount_pseudo_filesystems, mount_readonly, switch_root,
    unmount_all_for_shutdown,
};
pub use net::{NetError, NetworkConfig, NetworkState, configure};
pub use power::{PowerError, disable_ctrl_alt_del, power_off, reboot};
pub use verity::{VerityError, create_verity};

/// Whether this process is PID 1 (the kernel's init), i.e. whether the PID 1 duties are ours to do.
#[must_use]
pub fn is_pid1() -> bool {
    rustix::process::getpid().is_init()
}
