//! A DHCPv4 client (RFC 2131), sans I/O: [`DhcpMessage`] encodes and decodes packets (the decoder is total on
//! hostile bytes), [`DhcpClient`] is the DISCOVER → OFFER → REQUEST → ACK state machine with bounded
//! retransmission back-off and NAK handling, and [`run`] drives it over any [`DhcpTransport`]; [`UdpTransport`]
//! is the real one (0.0.0.0:68, `SO_BROADCAST`, `SO_BINDTODEVICE`, to 255.255.255.255:67).
//!
//! The client asks for broadcast replies (the interface has no address yet) and takes the first usable offer.
//! It does not renew: the lease's duration is reported for the caller to act on.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{debug, info};

/// The server's UDP port.
pub const SERVER_PORT: u16 = 67;
/// The client's UDP port.
pub const CLIENT_PORT: u16 = 68;
/// The options' magic cookie (99.130.83.99).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Offset of the magic cookie (end of the fixed BOOTP header).
pub const COOKIE_OFFSET: usize = 236;
/// Offset of the options.
pub const OPTIONS_OFFSET: usize = 240;
/// Encoded packets are padded to this size (the BOOTP minimum some servers insist on).
pub const MIN_PACKET_LEN: usize = 300;
/// `flags`: reply by broadcast.
pub const FLAG_BROADCAST: u16 = 0x8000;
/// `op`: client to server.
pub const BOOTREQUEST: u8 = 1;
/// `op`: server to client.
pub const BOOTREPLY: u8 = 2;
/// `htype`: Ethernet.
pub const HTYPE_ETHERNET: u8 = 1;

const SNAME_OFFSET: usize = 44;
const FILE_OFFSET: usize = 108;

/// Option codes.
pub mod opt {
    /// Pad.
    pub const PAD: u8 = 0;
    /// Subnet mask.
    pub const SUBNET_MASK: u8 = 1;
    /// Routers.
    pub const ROUTER: u8 = 3;
    /// DNS servers.
    pub const DNS: u8 = 6;
    /// Requested IP address.
    pub const REQUESTED_IP: u8 = 50;
    /// Lease time.
    pub const LEASE_TIME: u8 = 51;
    /// Option overload (options continue in `file` and/or `sname`).
    pub const OVERLOAD: u8 = 52;
    /// DHCP message type.
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier.
    pub const SERVER_ID: u8 = 54;
    /// Parameter request list.
    pub const PARAMETER_REQUEST: u8 = 55;
    /// Message (text).
    pub const MESSAGE: u8 = 56;
    /// Maximum DHCP message size.
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Renewal (T1) time.
    pub const RENEWAL_TIME: u8 = 58;
    /// Rebinding (T2) time.
    pub const REBINDING_TIME: u8 = 59;
    /// Client identifier.
    pub const CLIENT_ID: u8 = 61;
    /// End.
    pub const END: u8 = 255;
}

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// DHCPDISCOVER
    Discover = 1,
    /// DHCPOFFER
    Offer = 2,
    /// DHCPREQUEST
    Request = 3,
    /// DHCPDECLINE
    Decline = 4,
    /// DHCPACK
    Ack = 5,
    /// DHCPNAK
    Nak = 6,
    /// DHCPRELEASE
    Release = 7,
    /// DHCPINFORM
    Inform = 8,
}

impl MessageType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            _ => return None,
        })
    }
}

/// The options this client reads or writes; others are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DhcpOptions {
    /// 1
    pub subnet_mask: Option<Ipv4Addr>,
    /// 3
    pub routers: Vec<Ipv4Addr>,
    /// 6
    pub dns_servers: Vec<Ipv4Addr>,
    /// 50
    pub requested_ip: Option<Ipv4Addr>,
    /// 51 (seconds)
    pub lease_secs: Option<u32>,
    /// 54
    pub server_id: Option<Ipv4Addr>,
    /// 55
    pub parameter_request: Vec<u8>,
    /// 56
    pub message: Option<String>,
    /// 57
    pub max_message_size: Option<u16>,
    /// 58 (seconds)
    pub renewal_secs: Option<u32>,
    /// 59 (seconds)
    pub rebinding_secs: Option<u32>,
    /// 61
    pub client_id: Option<Vec<u8>>,
}

/// A DHCP packet (the BOOTP `sname` and `file` fields are not kept; they are read for overloaded options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpMessage {
    /// [`BOOTREQUEST`] or [`BOOTREPLY`].
    pub op: u8,
    /// Hardware type.
    pub htype: u8,
    /// Hardware address length (at most 16).
    pub hlen: u8,
    /// Relay hops.
    pub hops: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// [`FLAG_BROADCAST`] and reserved bits.
    pub flags: u16,
    /// Client address (when it has one).
    pub ciaddr: Ipv4Addr,
    /// "Your" address: the one offered or assigned.
    pub yiaddr: Ipv4Addr,
    /// Next server.
    pub siaddr: Ipv4Addr,
    /// Relay agent.
    pub giaddr: Ipv4Addr,
    /// Client hardware address (first `hlen` bytes meaningful).
    pub chaddr: [u8; 16],
    /// Option 53.
    pub message_type: MessageType,
    /// The other options.
    pub options: DhcpOptions,
}

/// A packet refused: malformed, or not for this client in its state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DhcpError {
    /// Shorter than the BOOTP header and cookie (240 bytes).
    #[error("DHCP packet of {len} bytes is shorter than 240")]
    TooShort {
        /// Its length.
        len: usize,
    },
    /// `hlen` over 16.
    #[error("DHCP hardware address length {hlen} exceeds 16")]
    BadHardwareLength {
        /// The value.
        hlen: u8,
    },
    /// No magic cookie at byte 236.
    #[error("DHCP magic cookie missing (found {found:02x?})")]
    BadMagicCookie {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// An option's length runs past the end of its area.
    #[error("DHCP option {code} at byte {offset} runs past the end of its area")]
    OptionOverflow {
        /// The option code.
        code: u8,
        /// Its offset in the packet.
        offset: usize,
    },
    /// An option's length is wrong for its type.
    #[error("DHCP option {code} has invalid length {len}")]
    BadOptionLength {
        /// The option code.
        code: u8,
        /// Its (concatenated) length.
        len: usize,
    },
    /// Option 52 with a value other than 1, 2, 3.
    #[error("DHCP option overload value {value} is invalid")]
    BadOverload {
        /// The value.
        value: u8,
    },
    /// No option 53.
    #[error("DHCP packet has no message type (option 53)")]
    MissingMessageType,
    /// Option 53 out of range.
    #[error("DHCP message type {value} is unknown")]
    UnknownMessageType {
        /// The value.
        value: u8,
    },
    /// `op` is not BOOTREPLY.
    #[error("DHCP packet is not a reply (op {op})")]
    NotAReply {
        /// The value.
        op: u8,
    },
    /// A different transaction.
    #[error("DHCP reply for transaction {got:#010x}, expected {expected:#010x}")]
    WrongXid {
        /// Ours.
        expected: u32,
        /// Theirs.
        got: u32,
    },
    /// Addressed to another client.
    #[error("DHCP reply for hardware address {got}, not ours")]
    WrongChaddr {
        /// The address in the packet.
        got: String,
    },
    /// A message type this state does not expect.
    #[error("DHCP {message_type:?} unexpected while {state}")]
    Unexpected {
        /// Client state.
        state: &'static str,
        /// What came.
        message_type: MessageType,
    },
    /// A required option is absent.
    #[error("DHCP {message_type:?} lacks option {code} ({name})")]
    MissingOption {
        /// The message type.
        message_type: MessageType,
        /// The option code.
        code: u8,
        /// Its name.
        name: &'static str,
    },
    /// An address that cannot be a host's.
    #[error("DHCP {field} {address} is not a usable unicast address")]
    BadAddress {
        /// Which field.
        field: &'static str,
        /// The address.
        address: Ipv4Addr,
    },
    /// A subnet mask that is not a run of ones then zeros, or is 0.0.0.0.
    #[error("DHCP subnet mask {mask} is not a valid prefix")]
    BadSubnetMask {
        /// The mask.
        mask: Ipv4Addr,
    },
    /// An ACK or NAK from a server other than the one requested from.
    #[error("DHCP reply from server {got}, requested from {expected}")]
    WrongServer {
        /// The server chosen.
        expected: Ipv4Addr,
        /// The server that answered.
        got: Ipv4Addr,
    },
    /// An ACK for a different address than offered.
    #[error("DHCP ACK assigns {acked}, offer was {offered}")]
    AddressMismatch {
        /// Offered.
        offered: Ipv4Addr,
        /// Acknowledged.
        acked: Ipv4Addr,
    },
}

fn ip(b: &[u8]) -> Ipv4Addr {
    match b {
        [a, b, c, d] => Ipv4Addr::new(*a, *b, *c, *d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

fn be16(buf: &[u8], at: usize) -> u16 {
    buf.get(at..at + 2).and_then(|b| b.try_into().ok()).map_or(0, u16::from_be_bytes)
}

fn be32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_be_bytes)
}

/// Options as found: code → concatenated values (RFC 3396: a repeated code continues the same option).
#[derive(Default)]
struct RawOptions(Vec<(u8, Vec<u8>)>);

impl RawOptions {
    fn get(&self, code: u8) -> Option<&[u8]> {
        self.0.iter().find(|(c, _)| *c == code).map(|(_, v)| v.as_slice())
    }

    /// Parses one options area (`base`: its offset in the packet, for error messages).
    fn parse_area(&mut self, area: &[u8], base: usize) -> Result<(), DhcpError> {
        let mut i = 0usize;
        while let Some(&code) = area.get(i) {
            match code {
                opt::PAD => i += 1,
                opt::END => break,
                _ => {
                    let overflow = DhcpError::OptionOverflow { code, offset: base + i };
                    let len = usize::from(*area.get(i + 1).ok_or(overflow.clone())?);
                    let value = area.get(i + 2..i + 2 + len).ok_or(overflow)?;
                    match self.0.iter_mut().find(|(c, _)| *c == code) {
                        Some((_, v)) => v.extend_from_slice(value),
                        None => self.0.push((code, value.to_vec())),
                    }
                    i += 2 + len;
                }
            }
        }
        Ok(())
    }

    fn fixed<const N: usize>(&self, code: u8) -> Result<Option<[u8; N]>, DhcpError> {
        match self.get(code) {
            None => Ok(None),
            Some(v) => v.try_into().map(Some).map_err(|_| DhcpError::BadOptionLength { code, len: v.len() }),
        }
    }

    fn addr(&self, code: u8) -> Result<Option<Ipv4Addr>, DhcpError> {
        Ok(self.fixed::<4>(code)?.map(Ipv4Addr::from))
    }

    fn secs(&self, code: u8) -> Result<Option<u32>, DhcpError> {
        Ok(self.fixed::<4>(code)?.map(u32::from_be_bytes))
    }

    fn addrs(&self, code: u8) -> Result<Vec<Ipv4Addr>, DhcpError> {
        match self.get(code) {
            None => Ok(Vec::new()),
            Some(v) if v.is_empty() || v.len() % 4 != 0 => Err(DhcpError::BadOptionLength { code, len: v.len() }),
            Some(v) => Ok(v.chunks_exact(4).map(ip).collect()),
        }
    }
}

impl DhcpMessage {
    /// Decodes a packet. Total: any bytes give a message or a [`DhcpError`], never a panic.
    pub fn decode(buf: &[u8]) -> Result<Self, DhcpError> {
        decode(buf)
    }

    /// Encodes the packet: header, cookie, option 53, the options present, END, zero padding to 300 bytes.
    /// Values longer than 255 bytes are split over repeated options (RFC 3396).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(MIN_PACKET_LEN);
        b.extend_from_slice(&[self.op, self.htype, self.hlen, self.hops]);
        b.extend_from_slice(&self.xid.to_be_bytes());
        b.extend_from_slice(&self.secs.to_be_bytes());
        b.extend_from_slice(&self.flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            b.extend_from_slice(&a.octets());
        }
        b.extend_from_slice(&self.chaddr);
        b.resize(COOKIE_OFFSET, 0); // sname (64) and file (128)
        b.extend_from_slice(&MAGIC_COOKIE);
        let put = |b: &mut Vec<u8>, code: u8, value: &[u8]| {
            if value.is_empty() {
                b.extend_from_slice(&[code, 0]);
            }
            for chunk in value.chunks(255) {
                b.extend_from_slice(&[code, chunk.len() as u8]);
                b.extend_from_slice(chunk);
            }
        };
        let o = &self.options;
        put(&mut b, opt::MESSAGE_TYPE, &[self.message_type as u8]);
        if let Some(v) = &o.client_id {
            put(&mut b, opt::CLIENT_ID, v);
        }
        for (code, a) in
            [(opt::REQUESTED_IP, o.requested_ip), (opt::SERVER_ID, o.server_id), (opt::SUBNET_MASK, o.subnet_mask)]
        {
            if let Some(a) = a {
                put(&mut b, code, &a.octets());
            }
        }
        for (code, list) in [(opt::ROUTER, &o.routers), (opt::DNS, &o.dns_servers)] {
            if !list.is_empty() {
                put(&mut b, code, &list.iter().flat_map(|a| a.octets()).collect::<Vec<u8>>());
            }
        }
        for (code, s) in [
            (opt::LEASE_TIME, o.lease_secs),
            (opt::RENEWAL_TIME, o.renewal_secs),
            (opt::REBINDING_TIME, o.rebinding_secs),
        ] {
            if let Some(s) = s {
                put(&mut b, code, &s.to_be_bytes());
            }
        }
        if !o.parameter_request.is_empty() {
            put(&mut b, opt::PARAMETER_REQUEST, &o.parameter_request);
        }
        if let Some(m) = o.max_message_size {
            put(&mut b, opt::MAX_MESSAGE_SIZE, &m.to_be_bytes());
        }
        if let Some(m) = &o.message {
            put(&mut b, opt::MESSAGE, m.as_bytes());
        }
        b.push(opt::END);
        if b.len() < MIN_PACKET_LEN {
            b.resize(MIN_PACKET_LEN, 0);
        }
        b
    }

    /// The first six bytes of `chaddr` (an Ethernet address).
    #[must_use]
    pub fn mac(&self) -> [u8; 6] {
        let c = &self.chaddr;
        [c[0], c[1], c[2], c[3], c[4], c[5]]
    }
}

/// Decodes a DHCP packet; see [`DhcpMessage::decode`].
pub fn decode(buf: &[u8]) -> Result<DhcpMessage, DhcpError> {
    if buf.len() < OPTIONS_OFFSET {
        return Err(DhcpError::TooShort { len: buf.len() });
    }
    let byte = |i: usize| buf.get(i).copied().unwrap_or(0);
    let hlen = byte(2);
    if usize::from(hlen) > 16 {
        return Err(DhcpError::BadHardwareLength { hlen });
    }
    let cookie = [byte(236), byte(237), byte(238), byte(239)];
    if cookie != MAGIC_COOKIE {
        return Err(DhcpError::BadMagicCookie { found: cookie });
    }
    let mut raw = RawOptions::default();
    raw.parse_area(buf.get(OPTIONS_OFFSET..).unwrap_or_default(), OPTIONS_OFFSET)?;
    if let Some(v) = raw.get(opt::OVERLOAD).map(<[u8]>::to_vec) {
        let value = match v.as_slice() {
            [x] => *x,
            _ => return Err(DhcpError::BadOptionLength { code: opt::OVERLOAD, len: v.len() }),
        };
        if !(1..=3).contains(&value) {
            return Err(DhcpError::BadOverload { value });
        }
        // RFC 3396 order: options, then file, then sname.
        if value & 1 != 0 {
            raw.parse_area(buf.get(FILE_OFFSET..COOKIE_OFFSET).unwrap_or_default(), FILE_OFFSET)?;
        }
        if value & 2 != 0 {
            raw.parse_area(buf.get(SNAME_OFFSET..FILE_OFFSET).unwrap_or_default(), SNAME_OFFSET)?;
        }
    }
    let message_type = match raw.get(opt::MESSAGE_TYPE) {
        None => return Err(DhcpError::MissingMessageType),
        Some([v]) => MessageType::from_u8(*v).ok_or(DhcpError::UnknownMessageType { value: *v })?,
        Some(v) => return Err(DhcpError::BadOptionLength { code: opt::MESSAGE_TYPE, len: v.len() }),
    };
    let options = DhcpOptions {
        subnet_mask: raw.addr(opt::SUBNET_MASK)?,
        routers: raw.addrs(opt::ROUTER)?,
        dns_servers: raw.addrs(opt::DNS)?,
        requested_ip: raw.addr(opt::REQUESTED_IP)?,
        lease_secs: raw.secs(opt::LEASE_TIME)?,
        server_id: raw.addr(opt::SERVER_ID)?,
        parameter_request: raw.get(opt::PARAMETER_REQUEST).map(<[u8]>::to_vec).unwrap_or_default(),
        message: raw.get(opt::MESSAGE).map(|m| String::from_utf8_lossy(m).into_owned()),
        max_message_size: raw.fixed::<2>(opt::MAX_MESSAGE_SIZE)?.map(u16::from_be_bytes),
        renewal_secs: raw.secs(opt::RENEWAL_TIME)?,
        rebinding_secs: raw.secs(opt::REBINDING_TIME)?,
        client_id: raw.get(opt::CLIENT_ID).map(<[u8]>::to_vec),
    };
    let mut chaddr = [0u8; 16];
    if let Some(src) = buf.get(28..44) {
        chaddr.copy_from_slice(src);
    }
    Ok(DhcpMessage {
        op: byte(0),
        htype: byte(1),
        hlen,
        hops: byte(3),
        xid: be32(buf, 4),
        secs: be16(buf, 8),
        flags: be16(buf, 10),
        ciaddr: ip(buf.get(12..16).unwrap_or_default()),
        yiaddr: ip(buf.get(16..20).unwrap_or_default()),
        siaddr: ip(buf.get(20..24).unwrap_or_default()),
        giaddr: ip(buf.get(24..28).unwrap_or_default()),
        chaddr,
        message_type,
        options,
    })
}

/// The prefix length of a subnet mask: ones then zeros, and not 0.0.0.0.
pub fn mask_to_prefix(mask: Ipv4Addr) -> Result<u8, DhcpError> {
    let m = u32::from(mask);
    if m == 0 || m.leading_ones() + m.trailing_zeros() != 32 {
        return Err(DhcpError::BadSubnetMask { mask });
    }
    Ok(m.leading_ones() as u8)
}

/// The classful prefix (8, 16, 24) for an address, used when a server sends no subnet mask.
#[must_use]
pub fn classful_prefix(address: Ipv4Addr) -> u8 {
    match address.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

pub(crate) fn usable(field: &'static str, address: Ipv4Addr) -> Result<Ipv4Addr, DhcpError> {
    if address.is_unspecified()
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_loopback()
        || address.octets()[0] == 0
        || address.octets()[0] >= 240
    {
        return Err(DhcpError::BadAddress { field, address });
    }
    Ok(address)
}

/// What a DHCP exchange obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address assigned.
    pub address: Ipv4Addr,
    /// Its prefix length (from the subnet mask; classful when none was sent).
    pub prefix: u8,
    /// The first router, if any.
    pub router: Option<Ipv4Addr>,
    /// The server that granted it.
    pub server: Ipv4Addr,
    /// Lease duration in seconds (`u32::MAX`: infinite, or none sent).
    pub lease_secs: u32,
    /// DNS servers offered.
    pub dns: Vec<Ipv4Addr>,
}

impl fmt::Display for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)?;
        if let Some(r) = self.router {
            write!(f, " via {r}")?;
        }
        write!(f, " from {}, lease ", self.server)?;
        if self.lease_secs == u32::MAX { f.write_str("infinite") } else { write!(f, "{} s", self.lease_secs) }
    }
}

impl Lease {
    /// Builds the lease from an ACK (falling back to the offer for options the ACK leaves out).
    pub fn from_ack(ack: &DhcpMessage, offer: Option<&DhcpMessage>) -> Result<Self, DhcpError> {
        let address = usable("assigned address", ack.yiaddr)?;
        let pick =
            |f: fn(&DhcpOptions) -> Option<Ipv4Addr>| f(&ack.options).or_else(|| offer.and_then(|o| f(&o.options)));
        let prefix = match pick(|o| o.subnet_mask) {
            Some(mask) => mask_to_prefix(mask)?,
            None => classful_prefix(address),
        };
        let server = pick(|o| o.server_id).ok_or(DhcpError::MissingOption {
            message_type: MessageType::Ack,
            code: opt::SERVER_ID,
            name: "server identifier",
        })?;
        let router = pick(|o| o.routers.first().copied());
        let lease_secs =
            ack.options.lease_secs.or_else(|| offer.and_then(|o| o.options.lease_secs)).unwrap_or(u32::MAX);
        let dns = if ack.options.dns_servers.is_empty() {
            offer.map(|o| o.options.dns_servers.clone()).unwrap_or_default()
        } else {
            ack.options.dns_servers.clone()
        };
        Ok(Self { address, prefix, router, server, lease_secs, dns })
    }
}

/// Retransmission timing: the wait doubles from `initial` up to `max` (bounded back-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpTiming {
    /// Wait after the first transmission.
    pub initial: Duration,
    /// Longest wait between transmissions.
    pub max: Duration,
    /// REQUEST transmissions before falling back to DISCOVER.
    pub request_attempts: u32,
}

impl Default for DhcpTiming {
    fn default() -> Self {
        Self { initial: Duration::from_secs(1), max: Duration::from_secs(8), request_attempts: 4 }
    }
}

impl DhcpTiming {
    /// The wait after transmission number `attempt` (0-based).
    #[must_use]
    pub fn interval(&self, attempt: u32) -> Duration {
        self.initial.saturating_mul(1u32 << attempt.min(20)).min(self.max)
    }
}

/// What the caller does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `packet`; call [`DhcpClient::on_timeout`] at `retransmit_at` if nothing useful arrives.
    Send {
        /// The packet.
        packet: Vec<u8>,
        /// When to time out.
        retransmit_at: Instant,
    },
    /// The packet was not for us or not acceptable; keep waiting until [`DhcpClient::next_timeout`].
    Ignored(DhcpError),
    /// Nothing to do until then (`None`: bound, nothing pending).
    Wait {
        /// The deadline.
        until: Option<Instant>,
    },
    /// A lease was acknowledged.
    Bound(Lease),
}

#[derive(Debug, Clone)]
enum State {
    Init,
    Selecting,
    Requesting { offer: Box<DhcpMessage>, server: Ipv4Addr, address: Ipv4Addr },
    Bound(Lease),
}

impl State {
    const fn name(&self) -> &'static str {
        match self {
            Self::Init => "init",
            Self::Selecting => "selecting",
            Self::Requesting { .. } => "requesting",
            Self::Bound(_) => "bound",
        }
    }
}

/// The client state machine, sans I/O: it makes packets and consumes packets and timeouts.
#[derive(Debug, Clone)]
pub struct DhcpClient {
    mac: [u8; 6],
    xid: u32,
    timing: DhcpTiming,
    state: State,
    started: Option<Instant>,
    attempt: u32,
    deadline: Option<Instant>,
}

/// The options asked for: subnet mask, router, DNS, lease time, server id, T1, T2.
const PARAMETERS: [u8; 7] =
    [opt::SUBNET_MASK, opt::ROUTER, opt::DNS, opt::LEASE_TIME, opt::SERVER_ID, opt::RENEWAL_TIME, opt::REBINDING_TIME];

impl DhcpClient {
    /// A client for hardware address `mac`, first transaction id `xid`.
    #[must_use]
    pub fn new(mac: [u8; 6], xid: u32, timing: DhcpTiming) -> Self {
        Self { mac, xid, timing, state: State::Init, started: None, attempt: 0, deadline: None }
    }

    /// The current transaction id.
    #[must_use]
    pub const fn xid(&self) -> u32 {
        self.xid
    }

    /// `init`, `selecting`, `requesting` or `bound`.
    #[must_use]
    pub const fn state_name(&self) -> &'static str {
        self.state.name()
    }

    /// When [`Self::on_timeout`] is due (`None` before start and once bound).
    #[must_use]
    pub const fn next_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The lease, once bound.
    #[must_use]
    pub const fn lease(&self) -> Option<&Lease> {
        match &self.state {
            State::Bound(l) => Some(l),
            _ => None,
        }
    }

    /// Begins (or restarts) with a DISCOVER, returned for sending.
    pub fn start(&mut self, now: Instant) -> Vec<u8> {
        self.started.get_or_insert(now);
        self.discover(now)
    }

    fn discover(&mut self, now: Instant) -> Vec<u8> {
        self.state = State::Selecting;
        self.attempt = 0;
        self.deadline = Some(now + self.timing.interval(0));
        self.packet(MessageType::Discover, now)
    }

    fn packet(&self, message_type: MessageType, now: Instant) -> Vec<u8> {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&self.mac);
        let secs =
            self.started.map_or(0, |s| now.saturating_duration_since(s).as_secs().min(u64::from(u16::MAX)) as u16);
        let (requested_ip, server_id) = match &self.state {
            State::Requesting { server, address, .. } => (Some(*address), Some(*server)),
            _ => (None, None),
        };
        let mut client_id = vec![HTYPE_ETHERNET];
        client_id.extend_from_slice(&self.mac);
        DhcpMessage {
            op: BOOTREQUEST,
            htype: HTYPE_ETHERNET,
            hlen: 6,
            hops: 0,
            xid: self.xid,
            secs,
            flags: FLAG_BROADCAST,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            message_type,
            options: DhcpOptions {
                requested_ip,
                server_id,
                parameter_request: PARAMETERS.to_vec(),
                max_message_size: Some(1500),
                client_id: Some(client_id),
                ..DhcpOptions::default()
            },
        }
        .encode()
    }

    /// Decodes `bytes` and checks it is a reply to this client's transaction.
    pub fn accept(&self, bytes: &[u8]) -> Result<DhcpMessage, DhcpError> {
        let m = decode(bytes)?;
        if m.op != BOOTREPLY {
            return Err(DhcpError::NotAReply { op: m.op });
        }
        if m.xid != self.xid {
            return Err(DhcpError::WrongXid { expected: self.xid, got: m.xid });
        }
        if m.mac() != self.mac {
            let got = m.mac().iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
            return Err(DhcpError::WrongChaddr { got });
        }
        Ok(m)
    }

    /// Consumes a received datagram.
    pub fn on_packet(&mut self, bytes: &[u8], now: Instant) -> Action {
        let m = match self.accept(bytes) {
            Ok(m) => m,
            Err(e) => return Action::Ignored(e),
        };
        let unexpected = |state: &State| {
            Action::Ignored(DhcpError::Unexpected { state: state.name(), message_type: m.message_type })
        };
        match (&self.state, m.message_type) {
            (State::Selecting, MessageType::Offer) => {
                let address = match usable("offered address", m.yiaddr) {
                    Ok(a) => a,
                    Err(e) => return Action::Ignored(e),
                };
                let Some(server) = m.options.server_id else {
                    return Action::Ignored(DhcpError::MissingOption {
                        message_type: MessageType::Offer,
                        code: opt::SERVER_ID,
                        name: "server identifier",
                    });
                };
                if let Some(mask) = m.options.subnet_mask
                    && let Err(e) = mask_to_prefix(mask)
                {
                    return Action::Ignored(e);
                }
                debug!(%address, %server, "DHCP offer");
                self.state = State::Requesting { offer: Box::new(m), server, address };
                self.attempt = 0;
                let retransmit_at = now + self.timing.interval(0);
                self.deadline = Some(retransmit_at);
                Action::Send { packet: self.packet(MessageType::Request, now), retransmit_at }
            }
            (State::Requesting { offer, server, address }, MessageType::Ack) => {
                let got = m.options.server_id.unwrap_or(*server);
                if got != *server {
                    return Action::Ignored(DhcpError::WrongServer { expected: *server, got });
                }
                if m.yiaddr != *address {
                    return Action::Ignored(DhcpError::AddressMismatch { offered: *address, acked: m.yiaddr });
                }
                match Lease::from_ack(&m, Some(offer)) {
                    Ok(lease) => {
                        self.state = State::Bound(lease.clone());
                        self.deadline = None;
                        Action::Bound(lease)
                    }
                    Err(e) => Action::Ignored(e),
                }
            }
            (State::Requesting { server, .. }, MessageType::Nak) => {
                let got = m.options.server_id.unwrap_or(*server);
                if got != *server {
                    return Action::Ignored(DhcpError::WrongServer { expected: *server, got });
                }
                info!(server = %server, message = m.options.message.as_deref().unwrap_or(""), "DHCP NAK; discovering again");
                self.xid = next_xid(self.xid);
                let packet = self.discover(now);
                Action::Send { packet, retransmit_at: self.deadline.unwrap_or(now) }
            }
            (state, _) => unexpected(state),
        }
    }

    /// Handles the passing of [`Self::next_timeout`]: retransmits with a doubled wait (bounded), and after
    /// [`DhcpTiming::request_attempts`] unanswered REQUESTs goes back to DISCOVER.
    pub fn on_timeout(&mut self, now: Instant) -> Action {
        match (&self.state, self.deadline) {
            (State::Init, _) => {
                let packet = self.start(now);
                Action::Send { packet, retransmit_at: self.deadline.unwrap_or(now) }
            }
            (State::Bound(_), _) | (_, None) => Action::Wait { until: None },
            (_, Some(d)) if now < d => Action::Wait { until: Some(d) },
            (State::Requesting { .. }, _) if self.attempt + 1 >= self.timing.request_attempts => {
                debug!(attempts = self.attempt + 1, "DHCP REQUEST unanswered; discovering again");
                self.xid = next_xid(self.xid);
                let packet = self.discover(now);
                Action::Send { packet, retransmit_at: self.deadline.unwrap_or(now) }
            }
            (state, _) => {
                let kind = if matches!(state, State::Selecting) { MessageType::Discover } else { MessageType::Request };
                self.attempt = self.attempt.saturating_add(1);
                let retransmit_at = now + self.timing.interval(self.attempt);
                self.deadline = Some(retransmit_at);
                Action::Send { packet: self.packet(kind, now), retransmit_at }
            }
        }
    }
}

/// A new transaction id after a restart (xorshift32; never 0).
fn next_xid(x: u32) -> u32 {
    let mut x = if x == 0 { 0x9e37_79b9 } else { x };
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    x
}

/// Moves datagrams for [`run`].
pub trait DhcpTransport {
    /// Sends one packet to the server(s).
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;
    /// Waits up to `timeout` (at least 1 ms) for one datagram into `buf`; `Ok(None)` if none came.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>>;
}

/// A DHCP exchange that did not produce a lease.
#[derive(Debug, Error)]
pub enum DhcpRunError {
    /// A socket call failed.
    #[error("DHCP on {iface}: {call} failed: {source}")]
    Io {
        /// The interface.
        iface: String,
        /// The call.
        call: &'static str,
        /// Why.
        source: io::Error,
    },
    /// No lease before the deadline.
    #[error(
        "DHCP on {iface}: no lease after {waited:?} ({sent} packets sent, still {state}){}",
        last_ignored.as_ref().map(|e| format!("; last packet ignored: {e}")).unwrap_or_default()
    )]
    Timeout {
        /// The interface.
        iface: String,
        /// How long it tried.
        waited: Duration,
        /// Packets sent.
        sent: u32,
        /// The client's state at the end.
        state: &'static str,
        /// The last reply refused, if any.
        last_ignored: Option<DhcpError>,
    },
}

/// Runs `client` over `transport` until it is bound or `timeout` passes. `iface` names the interface in errors.
pub fn run<T: DhcpTransport + ?Sized>(
    client: &mut DhcpClient,
    transport: &mut T,
    iface: &str,
    timeout: Duration,
) -> Result<Lease, DhcpRunError> {
    let start = Instant::now();
    let end = start + timeout;
    let io_err = |call| move |source| DhcpRunError::Io { iface: iface.to_owned(), call, source };
    let mut sent = 0u32;
    let mut last_ignored = None;
    let first = client.start(start);
    transport.send(&first).map_err(io_err("send"))?;
    sent += 1;
    let mut buf = vec![0u8; 4096];
    loop {
        let now = Instant::now();
        if now >= end {
            return Err(DhcpRunError::Timeout {
                iface: iface.to_owned(),
                waited: start.elapsed(),
                sent,
                state: client.state_name(),
                last_ignored,
            });
        }
        // A due retransmission goes first, so a stream of unwanted packets cannot starve it.
        let action = if client.next_timeout().is_some_and(|t| now >= t) {
            client.on_timeout(now)
        } else {
            let wake = client.next_timeout().map_or(end, |t| t.min(end));
            let wait = wake.saturating_duration_since(now).max(Duration::from_millis(1));
            match transport.recv(&mut buf, wait) {
                Ok(Some(n)) => client.on_packet(buf.get(..n).unwrap_or_default(), Instant::now()),
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("recv")(e)),
            }
        };
        match action {
            Action::Send { packet, .. } => {
                transport.send(&packet).map_err(io_err("send"))?;
                sent += 1;
            }
            Action::Bound(lease) => {
                info!(iface, %lease, elapsed = ?start.elapsed(), sent, "DHCP lease");
                return Ok(lease);
            }
            Action::Ignored(e) => {
                debug!(iface, error = %e, "DHCP packet ignored");
                last_ignored = Some(e);
            }
            Action::Wait { .. } => {}
        }
    }
}

/// A UDP socket and the address packets go to.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
    server: SocketAddr,
}

impl UdpTransport {
    /// The boot transport: bound to 0.0.0.0:68 on `iface` (`SO_BINDTODEVICE`), `SO_BROADCAST`,
    /// `SO_REUSEADDR`, sending to 255.255.255.255:67. The interface must be up; it needs no address.
    pub fn open(iface: &str) -> Result<Self, DhcpRunError> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, ipproto, sockopt};
        let io_err =
            |call| move |e: rustix::io::Errno| DhcpRunError::Io { iface: iface.to_owned(), call, source: e.into() };
        let fd =
            rustix::net::socket_with(AddressFamily::INET, SocketType::DGRAM, SocketFlags::CLOEXEC, Some(ipproto::UDP))
                .map_err(io_err("socket"))?;
        sockopt::set_socket_reuseaddr(&fd, true).map_err(io_err("setsockopt(SO_REUSEADDR)"))?;
        sockopt::set_socket_broadcast(&fd, true).map_err(io_err("setsockopt(SO_BROADCAST)"))?;
        crate::sys::bind_to_device(fd.as_fd(), iface).map_err(|source| DhcpRunError::Io {
            iface: iface.to_owned(),
            call: "setsockopt(SO_BINDTODEVICE)",
            source,
        })?;
        rustix::net::bind(&fd, &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT))
            .map_err(io_err("bind(0.0.0.0:68)"))?;
        Ok(Self::with_socket(UdpSocket::from(fd), SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT).into()))
    }

    /// Any bound socket and server address (tests run the client against a server on 127.0.0.1).
    #[must_use]
    pub const fn with_socket(socket: UdpSocket, server: SocketAddr) -> Self {
        Self { socket, server }
    }
}

impl DhcpTransport for UdpTransport {
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.socket.send_to(packet, self.server).map(|_| ())
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        self.socket.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        match self.socket.recv_from(buf) {
            Ok((n, _)) => Ok(Some(n)),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Obtains a lease on `iface` (hardware address `mac`) within `timeout`, over [`UdpTransport`].
pub fn acquire_lease(iface: &str, mac: [u8; 6], timeout: Duration) -> Result<Lease, DhcpRunError> {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
    let xid = next_xid(seed ^ u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]));
    let mut client = DhcpClient::new(mac, xid, DhcpTiming::default());
    let mut transport = UdpTransport::open(iface)?;
    run(&mut client, &mut transport, iface, timeout)
}

/// The fuzz harness (shared by `fuzz/fuzz_targets/dhcp_decode.rs` and the corpus test): decodes `bytes`,
/// checks that a decoded message re-encodes to itself, and feeds `bytes` to a client waiting for an OFFER and
/// to one waiting for an ACK. `Err` describes a broken invariant (the fuzz target panics on it).
pub fn fuzz_harness(bytes: &[u8]) -> Result<(), String> {
    if let Ok(m) = decode(bytes) {
        let again = decode(&m.encode()).map_err(|e| format!("re-encoded message does not decode: {e}"))?;
        if again != m {
            return Err(format!("round trip changed the message: {m:?} -> {again:?}"));
        }
    }
    let now = Instant::now();
    let mut selecting = DhcpClient::new(fuzz::MAC, fuzz::XID, DhcpTiming::default());
    let _ = selecting.start(now);
    let _ = selecting.on_packet(bytes, now);
    let mut requesting = DhcpClient::new(fuzz::MAC, fuzz::XID, DhcpTiming::default());
    let _ = requesting.start(now);
    let Action::Send { .. } = requesting.on_packet(&fuzz::offer().encode(), now) else {
        return Err("the canonical offer was not accepted".into());
    };
    if let Action::Bound(lease) = requesting.on_packet(bytes, now)
        && lease.address != fuzz::OFFERED
    {
        return Err(format!("bound to {} which was not offered", lease.address));
    }
    let _ = requesting.on_timeout(now + Duration::from_secs(3600));
    Ok(())
}

/// The constants the fuzz harness and its seed corpus share.
pub mod fuzz {
    use std::net::Ipv4Addr;

    use super::{BOOTREPLY, DhcpMessage, DhcpOptions, FLAG_BROADCAST, HTYPE_ETHERNET, MessageType};

    /// QEMU's default MAC.
    pub const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    /// The harness clients' transaction id.
    pub const XID: u32 = 0x3903_f326;
    /// The address the canonical offer makes (slirp's first).
    pub const OFFERED: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
    /// The server (slirp's).
    pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

    /// A server reply of `message_type` to the harness client, as slirp would send it.
    #[must_use]
    pub fn reply(message_type: MessageType) -> DhcpMessage {
        let mut chaddr = [0u8; 16];
        chaddr[..6].copy_from_slice(&MAC);
        let nak = message_type == MessageType::Nak;
        DhcpMessage {
            op: BOOTREPLY,
            htype: HTYPE_ETHERNET,
            hlen: 6,
            hops: 0,
            xid: XID,
            secs: 0,
            flags: FLAG_BROADCAST,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: if nak { Ipv4Addr::UNSPECIFIED } else { OFFERED },
            siaddr: if nak { Ipv4Addr::UNSPECIFIED } else { SERVER },
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            message_type,
            options: if nak {
                DhcpOptions {
                    server_id: Some(SERVER),
                    message: Some("address not available".into()),
                    ..Default::default()
                }
            } else {
                DhcpOptions {
                    subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
                    routers: vec![SERVER],
                    dns_servers: vec![Ipv4Addr::new(10, 0, 2, 3)],
                    lease_secs: Some(86400),
                    server_id: Some(SERVER),
                    ..Default::default()
                }
            },
        }
    }

    /// The canonical OFFER.
    #[must_use]
    pub fn offer() -> DhcpMessage {
        reply(MessageType::Offer)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod tests {
    use proptest::prelude::*;

    use super::fuzz::{MAC, OFFERED, SERVER, XID};
    use super::*;

    fn client() -> (DhcpClient, Instant, Vec<u8>) {
        let now = Instant::now();
        let mut c = DhcpClient::new(MAC, XID, DhcpTiming::default());
        let discover = c.start(now);
        (c, now, discover)
    }

    fn reply(t: MessageType) -> DhcpMessage {
        fuzz::reply(t)
    }

    #[test]
    fn discover_is_byte_exact_where_it_matters() {
        let (_, _, p) = client();
        assert_eq!(p.len(), MIN_PACKET_LEN);
        assert_eq!(&p[..4], &[1, 1, 6, 0]);
        assert_eq!(&p[4..8], &XID.to_be_bytes());
        assert_eq!(&p[8..10], &[0, 0], "secs");
        assert_eq!(&p[10..12], &[0x80, 0x00], "broadcast flag");
        assert!(p[12..28].iter().all(|&b| b == 0), "ciaddr..giaddr");
        assert_eq!(&p[28..34], &MAC);
        assert!(p[34..236].iter().all(|&b| b == 0), "chaddr padding, sname, file");
        assert_eq!(&p[236..240], &MAGIC_COOKIE);
        // 53=DISCOVER, 61=client id (1 + MAC), 55=parameters, 57=1500, END.
        let mut want = vec![53, 1, 1, 61, 7, 1];
        want.extend_from_slice(&MAC);
        want.extend_from_slice(&[55, 7, 1, 3, 6, 51, 54, 58, 59, 57, 2, 0x05, 0xdc, 255]);
        assert_eq!(&p[240..240 + want.len()], want.as_slice());
        assert!(p[240 + want.len()..].iter().all(|&b| b == 0));
    }

    #[test]
    fn request_carries_requested_ip_and_server_id() {
        let (mut c, now, _) = client();
        let Action::Send { packet, .. } = c.on_packet(&reply(MessageType::Offer).encode(), now) else { panic!() };
        let m = decode(&packet).unwrap();
        assert_eq!(m.message_type, MessageType::Request);
        assert_eq!(m.xid, XID, "same transaction as the DISCOVER");
        assert_eq!(m.flags, FLAG_BROADCAST);
        assert_eq!(m.options.requested_ip, Some(OFFERED));
        assert_eq!(m.options.server_id, Some(SERVER));
        assert_eq!(m.ciaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(m.mac(), MAC);
        // The option bytes themselves: 50 and 54 follow 53 and 61.
        let opts = &packet[240..];
        let at = 3 + 9;
        assert_eq!(&opts[at..at + 12], &[50, 4, 10, 0, 2, 15, 54, 4, 10, 0, 2, 2]);
    }

    #[test]
    fn encode_decode_round_trip() {
        for t in [MessageType::Offer, MessageType::Ack, MessageType::Nak] {
            let m = reply(t);
            assert_eq!(decode(&m.encode()).unwrap(), m);
        }
        let mut m = reply(MessageType::Ack);
        m.options.message = Some("x".repeat(600)); // split over three options (RFC 3396)
        m.options.dns_servers = (0..100).map(|i| Ipv4Addr::new(10, 0, 3, i)).collect();
        m.options.client_id = Some(vec![]);
        m.options.renewal_secs = Some(1);
        m.options.rebinding_secs = Some(2);
        m.options.max_message_size = Some(576);
        m.options.requested_ip = Some(OFFERED);
        assert_eq!(decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn hostile_packets_are_typed_errors() {
        let good = reply(MessageType::Offer).encode();
        assert_eq!(decode(&[]), Err(DhcpError::TooShort { len: 0 }));
        assert_eq!(decode(&good[..239]), Err(DhcpError::TooShort { len: 239 }));
        let mut p = good.clone();
        p[236] = 0;
        assert!(matches!(decode(&p), Err(DhcpError::BadMagicCookie { .. })));
        let mut p = good.clone();
        p[2] = 17;
        assert_eq!(decode(&p), Err(DhcpError::BadHardwareLength { hlen: 17 }));
        // Option length past the end.
        let mut p = good[..240].to_vec();
        p.extend_from_slice(&[53, 1, 2, 3, 9, 10, 0]);
        assert_eq!(decode(&p), Err(DhcpError::OptionOverflow { code: 3, offset: 243 }));
        // Code with no length byte.
        let mut p = good[..240].to_vec();
        p.extend_from_slice(&[53, 1, 2, 3]);
        assert_eq!(decode(&p), Err(DhcpError::OptionOverflow { code: 3, offset: 243 }));
        // No message type.
        let mut p = good[..240].to_vec();
        p.push(255);
        assert_eq!(decode(&p), Err(DhcpError::MissingMessageType));
        let mut p = good[..240].to_vec();
        p.extend_from_slice(&[53, 1, 9, 255]);
        assert_eq!(decode(&p), Err(DhcpError::UnknownMessageType { value: 9 }));
        let mut p = good[..240].to_vec();
        p.extend_from_slice(&[53, 2, 2, 2, 255]);
        assert_eq!(decode(&p), Err(DhcpError::BadOptionLength { code: 53, len: 2 }));
        let mut p = good[..240].to_vec();
        p.extend_from_slice(&[53, 1, 2, 1, 3, 10, 0, 2, 255]);
        assert_eq!(decode(&p), Err(DhcpError::BadOptionLength { code: 1, len: 3 }));
        let mut p = good[..240].to_vec();
        p.extend_from_slice(&[53, 1, 2, 3, 0, 255]);
        assert_eq!(decode(&p), Err(DhcpError::BadOptionLength { code: 3, len: 0 }));
        let mut p = good[..240].to_vec();
        p.extend_from_slice(&[53, 1, 2, 52, 1, 7, 255]);
        assert_eq!(decode(&p), Err(DhcpError::BadOverload { value: 7 }));
    }

    #[test]
    fn overloaded_options_are_read_from_file_and_sname() {
        let mut p = reply(MessageType::Offer).encode();
        p.truncate(240);
        p.extend_from_slice(&[53, 1, 2, 52, 1, 3, 255]);
        // file: server id; sname: lease time.
        p[FILE_OFFSET..FILE_OFFSET + 7].copy_from_slice(&[54, 4, 10, 0, 2, 2, 255]);
        p[SNAME_OFFSET..SNAME_OFFSET + 7].copy_from_slice(&[51, 4, 0, 0, 0, 60, 255]);
        let m = decode(&p).unwrap();
        assert_eq!(m.options.server_id, Some(SERVER));
        assert_eq!(m.options.lease_secs, Some(60));
        // Overflow inside `file` names its offset in the packet.
        p[FILE_OFFSET..FILE_OFFSET + 2].copy_from_slice(&[54, 200]);
        assert_eq!(decode(&p), Err(DhcpError::OptionOverflow { code: 54, offset: FILE_OFFSET }));
    }

    #[test]
    fn missing_end_option_is_tolerated_and_padding_skipped() {
        let mut p = reply(MessageType::Offer).encode()[..240].to_vec();
        p.extend_from_slice(&[0, 0, 53, 1, 2, 0, 54, 4, 10, 0, 2, 2]);
        let m = decode(&p).unwrap();
        assert_eq!((m.message_type, m.options.server_id), (MessageType::Offer, Some(SERVER)));
    }

    #[test]
    fn full_exchange_binds() {
        let (mut c, now, _) = client();
        assert_eq!(c.state_name(), "selecting");
        assert!(matches!(c.on_packet(&reply(MessageType::Offer).encode(), now), Action::Send { .. }));
        assert_eq!(c.state_name(), "requesting");
        let Action::Bound(lease) = c.on_packet(&reply(MessageType::Ack).encode(), now) else { panic!() };
        assert_eq!(
            lease,
            Lease {
                address: OFFERED,
                prefix: 24,
                router: Some(SERVER),
                server: SERVER,
                lease_secs: 86400,
                dns: vec![Ipv4Addr::new(10, 0, 2, 3)]
            }
        );
        assert_eq!(lease.to_string(), "10.0.2.15/24 via 10.0.2.2 from 10.0.2.2, lease 86400 s");
        assert_eq!(c.state_name(), "bound");
        assert_eq!(c.lease(), Some(&lease));
        assert_eq!(c.next_timeout(), None);
        assert_eq!(c.on_timeout(now + Duration::from_secs(100)), Action::Wait { until: None });
        assert!(matches!(
            c.on_packet(&reply(MessageType::Ack).encode(), now),
            Action::Ignored(DhcpError::Unexpected { .. })
        ));
    }

    #[test]
    fn ack_falls_back_to_offer_options() {
        let (mut c, now, _) = client();
        let _ = c.on_packet(&reply(MessageType::Offer).encode(), now);
        let mut ack = reply(MessageType::Ack);
        ack.options = DhcpOptions::default();
        let Action::Bound(lease) = c.on_packet(&ack.encode(), now) else { panic!() };
        assert_eq!((lease.prefix, lease.server, lease.lease_secs), (24, SERVER, 86400));
    }

    #[test]
    fn nak_restarts_with_a_new_transaction() {
        let (mut c, now, _) = client();
        let _ = c.on_packet(&reply(MessageType::Offer).encode(), now);
        let Action::Send { packet, .. } = c.on_packet(&reply(MessageType::Nak).encode(), now) else { panic!() };
        let m = decode(&packet).unwrap();
        assert_eq!(m.message_type, MessageType::Discover);
        assert_ne!(m.xid, XID);
        assert_eq!(c.xid(), m.xid);
        assert_eq!(c.state_name(), "selecting");
        // The old transaction's replies are now ignored.
        assert!(matches!(
            c.on_packet(&reply(MessageType::Offer).encode(), now),
            Action::Ignored(DhcpError::WrongXid { .. })
        ));
    }

    #[test]
    fn replies_not_for_us_are_ignored() {
        let (mut c, now, _) = client();
        let mut m = reply(MessageType::Offer);
        m.op = BOOTREQUEST;
        assert_eq!(c.on_packet(&m.encode(), now), Action::Ignored(DhcpError::NotAReply { op: 1 }));
        let mut m = reply(MessageType::Offer);
        m.chaddr[5] ^= 1;
        assert!(matches!(c.on_packet(&m.encode(), now), Action::Ignored(DhcpError::WrongChaddr { .. })));
        let mut m = reply(MessageType::Offer);
        m.yiaddr = Ipv4Addr::BROADCAST;
        assert!(matches!(c.on_packet(&m.encode(), now), Action::Ignored(DhcpError::BadAddress { .. })));
        let mut m = reply(MessageType::Offer);
        m.options.server_id = None;
        assert!(matches!(c.on_packet(&m.encode(), now), Action::Ignored(DhcpError::MissingOption { code: 54, .. })));
        let mut m = reply(MessageType::Offer);
        m.options.subnet_mask = Some(Ipv4Addr::new(255, 0, 255, 0));
        assert!(matches!(c.on_packet(&m.encode(), now), Action::Ignored(DhcpError::BadSubnetMask { .. })));
        assert!(matches!(
            c.on_packet(&reply(MessageType::Ack).encode(), now),
            Action::Ignored(DhcpError::Unexpected { state: "selecting", message_type: MessageType::Ack })
        ));
        assert_eq!(c.state_name(), "selecting");
        // In requesting: a NAK or ACK from another server, an ACK for another address.
        let _ = c.on_packet(&reply(MessageType::Offer).encode(), now);
        let mut m = reply(MessageType::Nak);
        m.options.server_id = Some(Ipv4Addr::new(10, 0, 2, 99));
        assert!(matches!(c.on_packet(&m.encode(), now), Action::Ignored(DhcpError::WrongServer { .. })));
        let mut m = reply(MessageType::Ack);
        m.yiaddr = Ipv4Addr::new(10, 0, 2, 16);
        assert!(matches!(c.on_packet(&m.encode(), now), Action::Ignored(DhcpError::AddressMismatch { .. })));
        assert_eq!(c.state_name(), "requesting");
    }

    #[test]
    fn retransmission_backs_off_to_a_bound() {
        let timing = DhcpTiming { initial: Duration::from_secs(1), max: Duration::from_secs(4), request_attempts: 3 };
        assert_eq!((0..6).map(|a| timing.interval(a).as_secs()).collect::<Vec<_>>(), vec![1, 2, 4, 4, 4, 4]);
        assert_eq!(timing.interval(u32::MAX), Duration::from_secs(4));
        let t0 = Instant::now();
        let mut c = DhcpClient::new(MAC, XID, timing);
        let _ = c.start(t0);
        assert_eq!(c.next_timeout(), Some(t0 + Duration::from_secs(1)));
        // Early: nothing.
        assert_eq!(c.on_timeout(t0), Action::Wait { until: Some(t0 + Duration::from_secs(1)) });
        let mut now = t0;
        let mut waits = vec![];
        for _ in 0..4 {
            now = c.next_timeout().unwrap();
            let Action::Send { packet, retransmit_at } = c.on_timeout(now) else { panic!() };
            let m = decode(&packet).unwrap();
            assert_eq!((m.message_type, m.xid), (MessageType::Discover, XID));
            waits.push((retransmit_at - now).as_secs());
        }
        assert_eq!(waits, vec![2, 4, 4, 4]);
        // secs counts from the start.
        let Action::Send { packet, .. } = c.on_timeout(c.next_timeout().unwrap()) else { panic!() };
        assert_eq!(decode(&packet).unwrap().secs, 15);
        let _ = now;
    }

    #[test]
    fn unanswered_requests_fall_back_to_discover() {
        let timing =
            DhcpTiming { initial: Duration::from_millis(10), max: Duration::from_millis(40), request_attempts: 3 };
        let t0 = Instant::now();
        let mut c = DhcpClient::new(MAC, XID, timing);
        let _ = c.start(t0);
        let _ = c.on_packet(&reply(MessageType::Offer).encode(), t0);
        let mut kinds = vec![];
        for _ in 0..3 {
            let Action::Send { packet, .. } = c.on_timeout(c.next_timeout().unwrap()) else { panic!() };
            kinds.push(decode(&packet).unwrap().message_type);
        }
        assert_eq!(kinds, vec![MessageType::Request, MessageType::Request, MessageType::Discover]);
        assert_eq!(c.state_name(), "selecting");
        assert_ne!(c.xid(), XID);
    }

    #[test]
    fn on_timeout_before_start_starts() {
        let t0 = Instant::now();
        let mut c = DhcpClient::new(MAC, XID, DhcpTiming::default());
        assert_eq!(c.state_name(), "init");
        assert!(matches!(c.on_timeout(t0), Action::Send { .. }));
        assert_eq!(c.state_name(), "selecting");
    }

    #[test]
    fn masks() {
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 255, 255, 0)), Ok(24));
        assert_eq!(mask_to_prefix(Ipv4Addr::new(255, 255, 255, 255)), Ok(32));
        assert_eq!(mask_to_prefix(Ipv4Addr::new(128, 0, 0, 0)), Ok(1));
        assert!(mask_to_prefix(Ipv4Addr::new(0, 0, 0, 0)).is_err());
        assert!(mask_to_prefix(Ipv4Addr::new(255, 0, 255, 0)).is_err());
        assert_eq!(classful_prefix(Ipv4Addr::new(10, 1, 2, 3)), 8);
        assert_eq!(classful_prefix(Ipv4Addr::new(172, 16, 0, 1)), 16);
        assert_eq!(classful_prefix(Ipv4Addr::new(192, 168, 0, 1)), 24);
    }

    #[test]
    fn xids_change_and_are_never_zero() {
        let mut x = 0;
        for _ in 0..1000 {
            let n = next_xid(x);
            assert_ne!(n, 0);
            assert_ne!(n, x);
            x = n;
        }
    }

    #[test]
    fn harness_accepts_the_canonical_replies() {
        for t in [MessageType::Offer, MessageType::Ack, MessageType::Nak] {
            fuzz_harness(&reply(t).encode()).unwrap();
        }
        fuzz_harness(&[]).unwrap();
    }

    proptest! {
        #[test]
        fn decoder_and_client_are_total(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
            prop_assert!(fuzz_harness(&bytes).is_ok());
        }

        #[test]
        fn mutated_replies_never_panic(idx in 0usize..300, val in any::<u8>(), cut in 0usize..320,
                                       t in prop_oneof![Just(MessageType::Offer), Just(MessageType::Ack), Just(MessageType::Nak)]) {
            let mut p = reply(t).encode();
            if let Some(b) = p.get_mut(idx) { *b = val; }
            p.truncate(cut.max(200));
            prop_assert!(fuzz_harness(&p).is_ok());
        }

        #[test]
        fn options_round_trip(mask in proptest::option::of(any::<u32>()), routers in proptest::collection::vec(any::<u32>(), 0..70),
                              lease in proptest::option::of(any::<u32>()), msg in proptest::option::of("[ -~]{0,300}"),
                              xid in any::<u32>(), secs in any::<u16>()) {
            let mut m = reply(MessageType::Ack);
            m.xid = xid;
            m.secs = secs;
            m.options.subnet_mask = mask.map(Ipv4Addr::from);
            m.options.routers = routers.into_iter().map(Ipv4Addr::from).collect();
            m.options.lease_secs = lease;
            m.options.message = msg;
            prop_assert_eq!(decode(&m.encode()).unwrap(), m);
        }
    }
}
