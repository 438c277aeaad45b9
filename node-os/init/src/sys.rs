//! The crate's only `unsafe`: the two system calls `rustix` has no safe wrapper for. Each checks its inputs so
//! that the kernel never reads or writes past the buffer it is given.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::dm_ioctl::DM_IOCTL_SIZE;

/// `ioctl(fd, request, buf)` on `/dev/mapper/control`. The kernel reads the `struct dm_ioctl` header at the
/// start of `buf`, then copies in and writes back `data_size` bytes (header field at offset 12), so
/// `data_size` must not exceed `buf.len()`: checked here before the call.
pub(crate) fn dm_ioctl(fd: BorrowedFd<'_>, request: u32, buf: &mut [u8]) -> io::Result<()> {
    let data_size = match buf.get(12..16) {
        Some(&[a, b, c, d]) => u32::from_ne_bytes([a, b, c, d]) as usize,
        _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "dm ioctl buffer shorter than its header")),
    };
    if buf.len() < DM_IOCTL_SIZE || data_size < DM_IOCTL_SIZE || data_size > buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("dm ioctl data_size {data_size} does not fit the {} byte buffer", buf.len()),
        ));
    }
    // SAFETY: `buf` is a live, exclusively borrowed allocation of `buf.len()` bytes; the kernel accesses at most
    // `data_size <= buf.len()` bytes of it (checked above) and only for the duration of this call. `fd` is a
    // borrowed, open descriptor. The request numbers are the `_IOWR(0xfd, cmd, struct dm_ioctl)` values from
    // `dm_ioctl`, whose argument is a pointer to the header, which is what we pass.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, buf.as_mut_ptr()) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, iface)`: the socket sends and receives only on `iface`.
pub(crate) fn bind_to_device(fd: BorrowedFd<'_>, iface: &str) -> io::Result<()> {
    let name = iface.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid interface name {iface:?}")));
    }
    let len = name.len() as libc::socklen_t;
    // SAFETY: `name` is a live byte slice of `len` bytes for the duration of the call; the kernel copies at most
    // `len` bytes from it (it adds the terminating NUL itself). `fd` is a borrowed, open socket.
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_BINDTODEVICE, name.as_ptr().cast(), len) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}
