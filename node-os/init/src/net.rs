//! Network set-up by PID 1: `lo` up, then the configured interface up with a static address or a DHCP lease,
//! and a default route. Addresses and routes go through [`crate::netlink`]; interfaces are found in sysfs
//! (`/sys/class/net`), whose path is a parameter so the lookups run on a fake tree in tests.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use thiserror::Error;
use tracing::{info, warn};

use crate::dhcp::{self, DhcpRunError, Lease};
use crate::netlink::{self, RTPROT_DHCP, RTPROT_STATIC, RouteError, RouteSocket};

/// Where the kernel lists network interfaces.
pub const SYS_CLASS_NET: &str = "/sys/class/net";
/// How long to wait for the interface to appear (virtio_net probes asynchronously).
pub const INTERFACE_WAIT: Duration = Duration::from_secs(10);
/// How long to wait for a netlink acknowledgement.
const NETLINK_TIMEOUT: Duration = Duration::from_secs(2);

const fn default_dhcp_timeout_ms() -> u64 {
    30_000
}

/// The node's network configuration (the `[network]` table of its configuration file).
///
/// ```toml
/// mode = "static"            # or "dhcp", "off"
/// address = "10.0.2.15"
/// prefix = 24
/// gateway = "10.0.2.2"       # optional
/// interface = "eth0"         # optional: the first interface other than lo
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum NetworkConfig {
    /// A fixed address.
    Static {
        /// The address.
        address: Ipv4Addr,
        /// Its prefix length (0..=32).
        prefix: u8,
        /// Default gateway, if any; must be inside `address/prefix`.
        gateway: Option<Ipv4Addr>,
        /// The interface; default: the first other than `lo`.
        interface: Option<String>,
    },
    /// An address from DHCP.
    Dhcp {
        /// The interface; default: the first other than `lo`.
        interface: Option<String>,
        /// How long to try (default 30 000 ms).
        #[serde(default = "default_dhcp_timeout_ms")]
        timeout_ms: u64,
    },
    /// Only `lo`.
    Off,
}

/// What [`configure`] applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkState {
    /// Only `lo` is up.
    Off,
    /// A static address.
    Static {
        /// Interface.
        interface: String,
        /// Address.
        address: Ipv4Addr,
        /// Prefix length.
        prefix: u8,
        /// Default gateway installed.
        gateway: Option<Ipv4Addr>,
    },
    /// A DHCP lease.
    Dhcp {
        /// Interface.
        interface: String,
        /// The lease.
        lease: Lease,
        /// Whether the lease's router was installed as the default route.
        route_installed: bool,
        /// Time from DISCOVER to ACK.
        elapsed: Duration,
    },
}

impl fmt::Display for NetworkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("network: off (lo only)"),
            Self::Static { interface, address, prefix, gateway } => {
                write!(f, "network: {interface} {address}/{prefix}")?;
                if let Some(g) = gateway {
                    write!(f, " via {g}")?;
                }
                f.write_str(" (static)")
            }
            Self::Dhcp { interface, lease, route_installed, elapsed } => {
                write!(f, "network: {interface} {}/{}", lease.address, lease.prefix)?;
                match (lease.router, route_installed) {
                    (Some(r), true) => write!(f, " via {r}")?,
                    (Some(r), false) => write!(f, " (router {r} off-link, no default route)")?,
                    (None, _) => {}
                }
                write!(f, " (dhcp from {}, lease ", lease.server)?;
                if lease.lease_secs == u32::MAX {
                    f.write_str("infinite")?;
                } else {
                    write!(f, "{} s", lease.lease_secs)?;
                }
                write!(f, ", {} ms)", elapsed.as_millis())
            }
        }
    }
}

/// Network set-up that failed.
#[derive(Debug, Error)]
pub enum NetError {
    /// The configuration is unusable.
    #[error("network configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// No (or not the named) interface appeared.
    #[error("no network interface {} under {} after {waited:?} (seen: {seen:?})", wanted.as_deref().map_or("other than lo".to_owned(), |w| format!("{w:?}")), root.display())]
    NoInterface {
        /// The interface asked for, if any.
        wanted: Option<String>,
        /// The sysfs directory.
        root: PathBuf,
        /// How long it waited.
        waited: Duration,
        /// The interfaces there were.
        seen: Vec<String>,
    },
    /// A sysfs attribute could not be read or parsed.
    #[error("cannot read {}: {reason}", path.display())]
    Sysfs {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A netlink request failed.
    #[error("{what}: {source}")]
    Netlink {
        /// The request, e.g. `RTM_NEWADDR 10.0.2.15/24 on eth0`.
        what: String,
        /// Why.
        source: RouteError,
    },
    /// DHCP failed.
    #[error(transparent)]
    Dhcp(#[from] DhcpRunError),
}

/// Checks a static configuration: a usable host address, a prefix of at most 32, and a gateway inside the
/// subnet that is not the address itself.
pub fn validate_static(address: Ipv4Addr, prefix: u8, gateway: Option<Ipv4Addr>) -> Result<(), NetError> {
    let invalid = |reason: String| Err(NetError::InvalidConfig { reason });
    if prefix > 32 {
        return invalid(format!("prefix {prefix} is over 32"));
    }
    if let Err(e) = dhcp::usable("address", address) {
        return invalid(e.to_string().replace("DHCP ", ""));
    }
    if let Some(g) = gateway {
        if g == address {
            return invalid(format!("gateway {g} is the address itself"));
        }
        if !in_subnet(g, address, prefix) {
            return invalid(format!("gateway {g} is outside {address}/{prefix}"));
        }
    }
    Ok(())
}

/// Whether `host` is inside `address/prefix`.
#[must_use]
pub fn in_subnet(host: Ipv4Addr, address: Ipv4Addr, prefix: u8) -> bool {
    let mask = netlink::prefix_mask(prefix);
    u32::from(host) & mask == u32::from(address) & mask
}

/// Parses `aa:bb:cc:dd:ee:ff` (sysfs `address`).
#[must_use]
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.trim().split(':');
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn read_attr(sys_class_net: &Path, iface: &str, attr: &str) -> Result<(PathBuf, String), NetError> {
    let path = sys_class_net.join(iface).join(attr);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok((path, s.trim().to_owned())),
        Err(e) => Err(NetError::Sysfs { path, reason: e.to_string() }),
    }
}

/// The hardware address of `iface` from `sys_class_net/IFACE/address`.
pub fn read_mac(sys_class_net: &Path, iface: &str) -> Result<[u8; 6], NetError> {
    let (path, text) = read_attr(sys_class_net, iface, "address")?;
    parse_mac(&text).ok_or_else(|| NetError::Sysfs { path, reason: format!("{text:?} is not a MAC address") })
}

/// The interface index of `iface` from `sys_class_net/IFACE/ifindex`.
pub fn read_ifindex(sys_class_net: &Path, iface: &str) -> Result<u32, NetError> {
    let (path, text) = read_attr(sys_class_net, iface, "ifindex")?;
    text.parse().map_err(|_| NetError::Sysfs { path, reason: format!("{text:?} is not an interface index") })
}

fn list_interfaces(sys_class_net: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sys_class_net)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// One look: `wanted` if it exists, else the first interface other than `lo` (by name), preferring one backed
/// by a device (`IFACE/device` exists) over virtual ones.
#[must_use]
pub fn pick_interface(sys_class_net: &Path, wanted: Option<&str>) -> Option<String> {
    let names = list_interfaces(sys_class_net);
    if let Some(w) = wanted {
        return names.into_iter().find(|n| n == w);
    }
    let candidates: Vec<String> = names.into_iter().filter(|n| n != "lo").collect();
    candidates.iter().find(|n| sys_class_net.join(n).join("device").exists()).or_else(|| candidates.first()).cloned()
}

/// [`pick_interface`], polling until `timeout`.
pub fn wait_for_interface(sys_class_net: &Path, wanted: Option<&str>, timeout: Duration) -> Result<String, NetError> {
    let start = Instant::now();
    loop {
        if let Some(n) = pick_interface(sys_class_net, wanted) {
            return Ok(n);
        }
        if start.elapsed() >= timeout {
            return Err(NetError::NoInterface {
                wanted: wanted.map(str::to_owned),
                root: sys_class_net.to_owned(),
                waited: start.elapsed(),
                seen: list_interfaces(sys_class_net),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Netlink {
    socket: RouteSocket,
}

impl Netlink {
    fn request(&mut self, what: impl FnOnce() -> String, encode: impl FnOnce(u32) -> Vec<u8>) -> Result<(), NetError> {
        let seq = self.socket.next_seq();
        self.socket.request(seq, &encode(seq)).map_err(|source| NetError::Netlink { what: what(), source })
    }

    fn link_up(&mut self, sys_class_net: &Path, iface: &str) -> Result<u32, NetError> {
        let index = read_ifindex(sys_class_net, iface)?;
        self.request(|| format!("RTM_NEWLINK {iface} (index {index}) up"), |seq| netlink::set_link_up(seq, index))?;
        Ok(index)
    }

    fn address(&mut self, iface: &str, index: u32, address: Ipv4Addr, prefix: u8) -> Result<(), NetError> {
        self.request(
            || format!("RTM_NEWADDR {address}/{prefix} on {iface}"),
            |seq| netlink::add_ipv4_address(seq, index, address, prefix),
        )
    }

    fn default_route(&mut self, iface: &str, index: u32, gateway: Ipv4Addr, protocol: u8) -> Result<(), NetError> {
        self.request(
            || format!("RTM_NEWROUTE default via {gateway} dev {iface}"),
            |seq| netlink::add_default_route(seq, index, gateway, protocol),
        )
    }
}

/// Brings up `lo`, then applies `config`: picks the interface (waiting for it), brings it up, and sets the
/// static address and gateway, or runs DHCP on it and applies the lease (address, prefix from the subnet mask,
/// default route via the router when it is on-link).
pub fn configure(config: &NetworkConfig, sys_class_net: &Path) -> Result<NetworkState, NetError> {
    if let NetworkConfig::Static { address, prefix, gateway, .. } = config {
        validate_static(*address, *prefix, *gateway)?;
    }
    let socket = RouteSocket::open(NETLINK_TIMEOUT)
        .map_err(|source| NetError::Netlink { what: "NETLINK_ROUTE socket".into(), source })?;
    let mut nl = Netlink { socket };
    nl.link_up(sys_class_net, "lo")?;
    let state = match config {
        NetworkConfig::Off => NetworkState::Off,
        NetworkConfig::Static { address, prefix, gateway, interface } => {
            let iface = wait_for_interface(sys_class_net, interface.as_deref(), INTERFACE_WAIT)?;
            let index = nl.link_up(sys_class_net, &iface)?;
            nl.address(&iface, index, *address, *prefix)?;
            if let Some(g) = gateway {
                nl.default_route(&iface, index, *g, RTPROT_STATIC)?;
            }
            NetworkState::Static { interface: iface, address: *address, prefix: *prefix, gateway: *gateway }
        }
        NetworkConfig::Dhcp { interface, timeout_ms } => {
            let iface = wait_for_interface(sys_class_net, interface.as_deref(), INTERFACE_WAIT)?;
            let mac = read_mac(sys_class_net, &iface)?;
            let index = nl.link_up(sys_class_net, &iface)?;
            let start = Instant::now();
            let lease = dhcp::acquire_lease(&iface, mac, Duration::from_millis(*timeout_ms))?;
            let elapsed = start.elapsed();
            nl.address(&iface, index, lease.address, lease.prefix)?;
            let route_installed = match lease.router {
                Some(r) if r != lease.address && in_subnet(r, lease.address, lease.prefix) => {
                    nl.default_route(&iface, index, r, RTPROT_DHCP)?;
                    true
                }
                Some(r) => {
                    warn!(iface, router = %r, "DHCP router is off-link; no default route");
                    false
                }
                None => false,
            };
            NetworkState::Dhcp { interface: iface, lease, route_installed, elapsed }
        }
    };
    info!("{state}");
    Ok(state)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod tests {
    use super::*;

    #[test]
    fn static_validation() {
        let a = Ipv4Addr::new(10, 0, 2, 15);
        assert!(validate_static(a, 24, Some(Ipv4Addr::new(10, 0, 2, 2))).is_ok());
        assert!(validate_static(a, 32, None).is_ok());
        let msg = |r: Result<(), NetError>| r.unwrap_err().to_string();
        assert!(msg(validate_static(a, 33, None)).contains("prefix 33"));
        assert!(msg(validate_static(a, 24, Some(Ipv4Addr::new(10, 0, 3, 2)))).contains("outside 10.0.2.15/24"));
        assert!(msg(validate_static(a, 24, Some(a))).contains("itself"));
        assert!(msg(validate_static(Ipv4Addr::UNSPECIFIED, 24, None)).contains("0.0.0.0"));
        assert!(msg(validate_static(Ipv4Addr::new(224, 0, 0, 1), 24, None)).contains("224.0.0.1"));
    }

    #[test]
    fn subnets() {
        let a = Ipv4Addr::new(192, 168, 1, 10);
        assert!(in_subnet(Ipv4Addr::new(192, 168, 1, 1), a, 24));
        assert!(!in_subnet(Ipv4Addr::new(192, 168, 2, 1), a, 24));
        assert!(in_subnet(Ipv4Addr::new(1, 2, 3, 4), a, 0));
        assert!(!in_subnet(Ipv4Addr::new(192, 168, 1, 11), a, 32));
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("52:54:00:12:34:56\n"), Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        assert_eq!(parse_mac("52:54:00:12:34"), None);
        assert_eq!(parse_mac("52:54:00:12:34:56:78"), None);
        assert_eq!(parse_mac("52:54:00:12:34:5g"), None);
        assert_eq!(parse_mac("5:54:00:12:34:56"), None);
        assert_eq!(parse_mac("+5:54:00:12:34:56"), None);
        assert_eq!(parse_mac(""), None);
    }

    #[test]
    fn state_lines() {
        let s = NetworkState::Static {
            interface: "eth0".into(),
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix: 24,
            gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
        };
        assert_eq!(s.to_string(), "network: eth0 10.0.2.15/24 via 10.0.2.2 (static)");
        let d = NetworkState::Dhcp {
            interface: "eth0".into(),
            lease: Lease {
                address: Ipv4Addr::new(10, 0, 2, 15),
                prefix: 24,
                router: Some(Ipv4Addr::new(10, 0, 2, 2)),
                server: Ipv4Addr::new(10, 0, 2, 2),
                lease_secs: 86400,
                dns: vec![],
            },
            route_installed: true,
            elapsed: Duration::from_millis(12),
        };
        assert_eq!(d.to_string(), "network: eth0 10.0.2.15/24 via 10.0.2.2 (dhcp from 10.0.2.2, lease 86400 s, 12 ms)");
        assert_eq!(NetworkState::Off.to_string(), "network: off (lo only)");
    }
}
