//! A minimal NETLINK_ROUTE client: pure encoders for the three requests PID 1 makes (link up, IPv4 address,
//! default route) and a pure decoder of the kernel's `NLMSG_ERROR` acknowledgements, plus the socket.
//!
//! Netlink headers and integers are in host byte order; addresses in network order.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use thiserror::Error;

/// `sizeof(struct nlmsghdr)`.
pub const NLMSG_HDR_LEN: usize = 16;
/// `NLMSG_ERROR`: an error or (error 0) an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
pub const NLMSG_DONE: u16 = 3;
/// `RTM_NEWLINK`.
pub const RTM_NEWLINK: u16 = 16;
/// `RTM_NEWADDR`.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_NEWROUTE`.
pub const RTM_NEWROUTE: u16 = 24;
/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_ACK`.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_REPLACE`.
pub const NLM_F_REPLACE: u16 = 0x100;
/// `NLM_F_CREATE`.
pub const NLM_F_CREATE: u16 = 0x400;
/// `IFF_UP`.
pub const IFF_UP: u32 = 0x1;
/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `IFA_ADDRESS`.
pub const IFA_ADDRESS: u16 = 1;
/// `IFA_LOCAL`.
pub const IFA_LOCAL: u16 = 2;
/// `IFA_BROADCAST`.
pub const IFA_BROADCAST: u16 = 4;
/// `RTA_OIF`.
pub const RTA_OIF: u16 = 4;
/// `RTA_GATEWAY`.
pub const RTA_GATEWAY: u16 = 5;
/// `RT_TABLE_MAIN`.
pub const RT_TABLE_MAIN: u8 = 254;
/// `RTPROT_STATIC`: a route from the configuration.
pub const RTPROT_STATIC: u8 = 4;
/// `RTPROT_DHCP`: a route from a DHCP lease.
pub const RTPROT_DHCP: u8 = 16;
/// `RT_SCOPE_UNIVERSE`.
pub const RT_SCOPE_UNIVERSE: u8 = 0;
/// `RTN_UNICAST`.
pub const RTN_UNICAST: u8 = 1;

/// A netlink answer that is not a success.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NetlinkError {
    /// The kernel refused the request.
    #[error("kernel refused the request: {}", io::Error::from_raw_os_error(*errno))]
    Rejected {
        /// The positive errno.
        errno: i32,
    },
    /// A message's length runs past the datagram, or an error message is too short.
    #[error("netlink message truncated at byte {at} of {len}")]
    Truncated {
        /// Offset of the bad message.
        at: usize,
        /// Datagram length.
        len: usize,
    },
    /// The datagram holds no acknowledgement for the request's sequence number.
    #[error("no acknowledgement for sequence {seq}")]
    NoAck {
        /// The sequence number looked for.
        seq: u32,
    },
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(kind: u16, flags: u16, seq: u32) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, fixed in finish()
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        Self { buf }
    }

    fn put(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    fn attr(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        let len = (4 + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        std::mem::take(&mut self.buf)
    }
}

/// `RTM_NEWLINK` setting `IFF_UP` on `ifindex` (`ifinfomsg { AF_UNSPEC, type 0, index, flags, change }`).
#[must_use]
pub fn set_link_up(seq: u32, ifindex: u32) -> Vec<u8> {
    Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq)
        .put(&[0, 0]) // ifi_family, pad
        .put(&0u16.to_ne_bytes()) // ifi_type
        .put(&ifindex.to_ne_bytes()) // ifi_index
        .put(&IFF_UP.to_ne_bytes()) // ifi_flags
        .put(&IFF_UP.to_ne_bytes()) // ifi_change
        .finish()
}

/// The broadcast address of `address/prefix` (none for /31 and /32).
#[must_use]
pub fn broadcast(address: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    (prefix < 31).then(|| Ipv4Addr::from(u32::from(address) | !prefix_mask(prefix)))
}

/// The netmask of `prefix` as a `u32` (prefixes over 32 count as 32).
#[must_use]
pub fn prefix_mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

/// `RTM_NEWADDR` (create or replace) of `address/prefix` on `ifindex`, with `IFA_LOCAL`, `IFA_ADDRESS` and, for
/// prefixes under 31, `IFA_BROADCAST`.
#[must_use]
pub fn add_ipv4_address(seq: u32, ifindex: u32, address: Ipv4Addr, prefix: u8) -> Vec<u8> {
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq);
    m.put(&[AF_INET, prefix, 0, RT_SCOPE_UNIVERSE]).put(&ifindex.to_ne_bytes());
    m.attr(IFA_LOCAL, &address.octets()).attr(IFA_ADDRESS, &address.octets());
    if let Some(b) = broadcast(address, prefix) {
        m.attr(IFA_BROADCAST, &b.octets());
    }
    m.finish()
}

/// `RTM_NEWROUTE` (create or replace) of the IPv4 default route via `gateway` out of `ifindex` in the main
/// table, `protocol` saying where it came from ([`RTPROT_STATIC`], [`RTPROT_DHCP`]).
#[must_use]
pub fn add_default_route(seq: u32, ifindex: u32, gateway: Ipv4Addr, protocol: u8) -> Vec<u8> {
    Msg::new(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq)
        // rtm_family, dst_len, src_len, tos, table, protocol, scope, type
        .put(&[AF_INET, 0, 0, 0, RT_TABLE_MAIN, protocol, RT_SCOPE_UNIVERSE, RTN_UNICAST])
        .put(&0u32.to_ne_bytes()) // rtm_flags
        .attr(RTA_GATEWAY, &gateway.octets())
        .attr(RTA_OIF, &ifindex.to_ne_bytes())
        .finish()
}

/// Looks in one datagram for the acknowledgement of request `seq`: `Ok(())` for error 0, the errno otherwise.
/// Other messages are skipped. Total on any bytes.
pub fn decode_ack(buf: &[u8], seq: u32) -> Result<(), NetlinkError> {
    let mut at = 0usize;
    while buf.len().saturating_sub(at) >= NLMSG_HDR_LEN {
        let field = |off: usize, n: usize| buf.get(at + off..at + off + n).unwrap_or(&[0; 4][..n]);
        let u32_at = |off| u32::from_ne_bytes(field(off, 4).try_into().unwrap_or([0; 4]));
        let len = u32_at(0) as usize;
        let kind = u16::from_ne_bytes(field(4, 2).try_into().unwrap_or([0; 2]));
        let msg_seq = u32_at(8);
        if len < NLMSG_HDR_LEN || len > buf.len() - at {
            return Err(NetlinkError::Truncated { at, len: buf.len() });
        }
        if kind == NLMSG_ERROR && msg_seq == seq {
            if len < NLMSG_HDR_LEN + 4 {
                return Err(NetlinkError::Truncated { at, len: buf.len() });
            }
            let error = u32_at(NLMSG_HDR_LEN) as i32;
            return if error == 0 { Ok(()) } else { Err(NetlinkError::Rejected { errno: error.saturating_neg() }) };
        }
        at = at.saturating_add(align4(len));
    }
    Err(NetlinkError::NoAck { seq })
}

/// A bound `NETLINK_ROUTE` socket that sends requests and waits for their acknowledgements.
#[derive(Debug)]
pub struct RouteSocket {
    fd: OwnedFd,
    seq: u32,
}

/// A request over [`RouteSocket`] that failed.
#[derive(Debug, Error)]
pub enum RouteError {
    /// A socket call failed.
    #[error("netlink {call}: {source}")]
    Io {
        /// The call.
        call: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The kernel answered with an error, or garbage.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

impl RouteSocket {
    /// Opens and binds a `NETLINK_ROUTE` socket with a receive timeout.
    pub fn open(timeout: Duration) -> Result<Self, RouteError> {
        let io = |call| move |e: rustix::io::Errno| RouteError::Io { call, source: e.into() };
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None, // protocol 0 = NETLINK_ROUTE (rustix has no non-zero constant for it)
        )
        .map_err(io("socket"))?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, 0)).map_err(io("bind"))?;
        rustix::net::sockopt::set_socket_timeout(&fd, rustix::net::sockopt::Timeout::Recv, Some(timeout))
            .map_err(io("setsockopt(SO_RCVTIMEO)"))?;
        Ok(Self { fd, seq: 0 })
    }

    /// The next sequence number to use.
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends `request` (encoded with sequence `seq`) and waits for its acknowledgement.
    pub fn request(&mut self, seq: u32, request: &[u8]) -> Result<(), RouteError> {
        let io = |call| move |e: rustix::io::Errno| RouteError::Io { call, source: e.into() };
        rustix::net::sendto(&self.fd, request, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))
            .map_err(io("sendto"))?;
        let mut buf = [0u8; 8192];
        loop {
            let (n, _) = rustix::net::recv(&self.fd, &mut buf, RecvFlags::empty()).map_err(io("recv"))?;
            match decode_ack(buf.get(..n).unwrap_or_default(), seq) {
                Err(NetlinkError::NoAck { .. }) => continue,
                other => return Ok(other?),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ne16(v: u16) -> [u8; 2] {
        v.to_ne_bytes()
    }
    fn ne32(v: u32) -> [u8; 4] {
        v.to_ne_bytes()
    }

    fn header(len: u32, kind: u16, flags: u16, seq: u32) -> Vec<u8> {
        [&ne32(len)[..], &ne16(kind), &ne16(flags), &ne32(seq), &ne32(0)].concat()
    }

    #[test]
    fn link_up_is_byte_exact() {
        let got = set_link_up(7, 2);
        // nlmsghdr (16) + ifinfomsg (16) = 32; flags REQUEST|ACK = 5
        let want = [
            header(32, 16, 0x0005, 7),
            vec![0, 0],
            ne16(0).to_vec(),
            ne32(2).to_vec(),
            ne32(1).to_vec(),
            ne32(1).to_vec(),
        ]
        .concat();
        assert_eq!(got, want);
        assert_eq!(got.len(), 32);
    }

    #[test]
    fn address_is_byte_exact() {
        let got = add_ipv4_address(3, 2, Ipv4Addr::new(10, 0, 2, 15), 24);
        // 16 + ifaddrmsg 8 + 3 attrs of 8 = 48; flags REQUEST|ACK|REPLACE|CREATE = 0x505
        let want = [
            header(48, 20, 0x0505, 3),
            vec![2, 24, 0, 0],
            ne32(2).to_vec(),
            [&ne16(8)[..], &ne16(2), &[10, 0, 2, 15]].concat(),
            [&ne16(8)[..], &ne16(1), &[10, 0, 2, 15]].concat(),
            [&ne16(8)[..], &ne16(4), &[10, 0, 2, 255]].concat(),
        ]
        .concat();
        assert_eq!(got, want);
        // /32: no broadcast attribute
        assert_eq!(add_ipv4_address(3, 2, Ipv4Addr::new(10, 0, 2, 15), 32).len(), 40);
    }

    #[test]
    fn default_route_is_byte_exact() {
        let got = add_default_route(9, 2, Ipv4Addr::new(10, 0, 2, 2), RTPROT_DHCP);
        // 16 + rtmsg 12 + RTA_GATEWAY 8 + RTA_OIF 8 = 44
        let want = [
            header(44, 24, 0x0505, 9),
            vec![2, 0, 0, 0, 254, 16, 0, 1],
            ne32(0).to_vec(),
            [&ne16(8)[..], &ne16(5), &[10, 0, 2, 2]].concat(),
            [&ne16(8)[..], &ne16(4), &ne32(2)].concat(),
        ]
        .concat();
        assert_eq!(got, want);
    }

    #[test]
    fn masks_and_broadcasts() {
        assert_eq!(prefix_mask(0), 0);
        assert_eq!(prefix_mask(24), 0xffff_ff00);
        assert_eq!(prefix_mask(32), u32::MAX);
        assert_eq!(prefix_mask(40), u32::MAX);
        assert_eq!(broadcast(Ipv4Addr::new(192, 168, 1, 7), 16), Some(Ipv4Addr::new(192, 168, 255, 255)));
        assert_eq!(broadcast(Ipv4Addr::new(192, 168, 1, 7), 31), None);
    }

    fn error_msg(seq: u32, error: i32) -> Vec<u8> {
        // NLMSG_ERROR carrying the error and the original header (capped: no payload).
        [header(36, NLMSG_ERROR, 0x100, seq), error.to_ne_bytes().to_vec(), header(32, 16, 5, seq)].concat()
    }

    #[test]
    fn acks_decode() {
        assert_eq!(decode_ack(&error_msg(5, 0), 5), Ok(()));
        assert_eq!(decode_ack(&error_msg(5, -17), 5), Err(NetlinkError::Rejected { errno: 17 }));
        assert_eq!(decode_ack(&error_msg(4, 0), 5), Err(NetlinkError::NoAck { seq: 5 }));
        // Two messages in one datagram: the ack for 5 is the second.
        let both = [error_msg(4, -1), error_msg(5, -19)].concat();
        assert_eq!(decode_ack(&both, 5), Err(NetlinkError::Rejected { errno: 19 }));
        let msg = NetlinkError::Rejected { errno: 17 }.to_string();
        assert!(msg.contains("os error 17"), "{msg}");
    }

    #[test]
    fn hostile_acks_are_typed_errors() {
        assert_eq!(decode_ack(&[], 1), Err(NetlinkError::NoAck { seq: 1 }));
        let mut m = error_msg(1, 0);
        m[0] = 200; // length past the end
        assert!(matches!(decode_ack(&m, 1), Err(NetlinkError::Truncated { .. })));
        let short = header(16, NLMSG_ERROR, 0, 1);
        assert!(matches!(decode_ack(&short, 1), Err(NetlinkError::Truncated { .. })));
        let zero = header(0, NLMSG_ERROR, 0, 1);
        assert!(matches!(decode_ack(&zero, 1), Err(NetlinkError::Truncated { .. })));
        assert_eq!(decode_ack(&error_msg(1, i32::MIN), 1), Err(NetlinkError::Rejected { errno: i32::MAX }));
    }

    proptest! {
        #[test]
        fn ack_decoder_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..256), seq in any::<u32>()) {
            let _ = decode_ack(&bytes, seq);
        }
    }
}
