#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Host-side tests of qp-init's unprivileged parts on fake sysfs trees, and the DHCP client end to end against
//! a fake DHCP server on 127.0.0.1. Mounts, module loading, device-mapper and netlink writes need the QEMU
//! boot test.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use qp_init::block::{BlockError, find_partition_in};
use qp_init::cmdline::BootParams;
use qp_init::dhcp::{self, DhcpClient, DhcpMessage, DhcpRunError, DhcpTiming, MessageType, UdpTransport, fuzz};
use qp_init::dm_ioctl::{self, DM_IOCTL_SIZE, DM_TARGET_SPEC_SIZE, DmTarget};
use qp_init::net::{self, NetworkConfig};

// ---------- fake sysfs: block ----------

fn add_block(sys: &Path, dev: &Path, name: &str, minor: u32, label: Option<&str>) {
    let d = sys.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let mut text = format!("MAJOR=254\nMINOR={minor}\nDEVNAME={name}\nDEVTYPE=partition\n");
    if let Some(l) = label {
        text.push_str(&format!("PARTN={minor}\nPARTNAME={l}\n"));
    }
    std::fs::write(d.join("uevent"), text).unwrap();
    std::fs::write(dev.join(name), b"").unwrap();
}

fn block_tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys/class/block");
    let dev = dir.path().join("dev");
    std::fs::create_dir_all(&sys).unwrap();
    std::fs::create_dir_all(&dev).unwrap();
    add_block(&sys, &dev, "vda", 0, None);
    add_block(&sys, &dev, "vda1", 1, Some("qp-esp"));
    add_block(&sys, &dev, "vda2", 2, Some("qp-root-a"));
    add_block(&sys, &dev, "vda3", 3, Some("qp-verity-a"));
    add_block(&sys, &dev, "vda4", 4, Some("qp-data"));
    (dir, sys, dev)
}

#[test]
fn partitions_are_found_by_label() {
    let (_d, sys, dev) = block_tree();
    let root = find_partition_in(&sys, &dev, "qp-root-a", Duration::ZERO).unwrap();
    assert_eq!(root.dev_path, dev.join("vda2"));
    assert_eq!((root.name.as_str(), root.major, root.minor), ("vda2", 254, 2));
    let data = find_partition_in(&sys, &dev, "qp-data", Duration::ZERO).unwrap();
    assert_eq!(data.dev_t(), "254:4");
}

#[test]
fn a_missing_label_times_out_naming_what_was_seen() {
    let (_d, sys, dev) = block_tree();
    let start = Instant::now();
    let err = find_partition_in(&sys, &dev, "qp-root-b", Duration::from_millis(60)).unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(60));
    let BlockError::NotFound { ref seen, .. } = err else { panic!("{err}") };
    assert!(seen.contains(&"vda2=qp-root-a".to_owned()), "{seen:?}");
    let msg = err.to_string();
    assert!(msg.contains("qp-root-b") && msg.contains("sys/class/block"), "{msg}");
}

#[test]
fn a_partition_appearing_later_is_found() {
    let (_d, sys, dev) = block_tree();
    let (s2, d2) = (sys.clone(), dev.clone());
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(80));
        add_block(&s2, &d2, "vdb1", 17, Some("qp-root-b"));
    });
    let found = find_partition_in(&sys, &dev, "qp-root-b", Duration::from_secs(5)).unwrap();
    assert_eq!(found.name, "vdb1");
    t.join().unwrap();
}

#[test]
fn a_duplicated_label_is_refused() {
    let (_d, sys, dev) = block_tree();
    add_block(&sys, &dev, "vdb2", 18, Some("qp-root-a"));
    let err = find_partition_in(&sys, &dev, "qp-root-a", Duration::ZERO).unwrap_err();
    let BlockError::Ambiguous { devices, .. } = err else { panic!("{err}") };
    assert_eq!(devices.len(), 2);
}

#[test]
fn a_listed_partition_without_its_node_waits_then_fails() {
    let (_d, sys, dev) = block_tree();
    std::fs::remove_file(dev.join("vda3")).unwrap();
    let err = find_partition_in(&sys, &dev, "qp-verity-a", Duration::from_millis(30)).unwrap_err();
    assert!(matches!(err, BlockError::NoNode { .. }), "{err}");
    assert!(err.to_string().contains("vda3"));
}

#[test]
fn garbage_and_missing_sysfs_do_not_panic() {
    let (_d, sys, dev) = block_tree();
    std::fs::create_dir_all(sys.join("junk")).unwrap();
    std::fs::write(sys.join("junk/uevent"), b"\xff\xfe nonsense").unwrap();
    std::fs::create_dir_all(sys.join("nouevent")).unwrap();
    assert!(find_partition_in(&sys, &dev, "qp-esp", Duration::ZERO).is_ok());
    let err = find_partition_in(&sys.join("absent"), &dev, "qp-esp", Duration::ZERO).unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
}

// ---------- fake sysfs: net ----------

fn add_iface(sys: &Path, name: &str, index: u32, mac: &str, device: bool) {
    let d = sys.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("ifindex"), format!("{index}\n")).unwrap();
    std::fs::write(d.join("address"), format!("{mac}\n")).unwrap();
    if device {
        std::fs::create_dir_all(d.join("device")).unwrap();
    }
}

#[test]
fn interfaces_are_picked_from_sysfs() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path();
    add_iface(sys, "lo", 1, "00:00:00:00:00:00", false);
    assert_eq!(net::pick_interface(sys, None), None);
    add_iface(sys, "dummy0", 3, "aa:aa:aa:aa:aa:aa", false);
    assert_eq!(net::pick_interface(sys, None).as_deref(), Some("dummy0"));
    add_iface(sys, "eth0", 2, "52:54:00:12:34:56", true);
    assert_eq!(net::pick_interface(sys, None).as_deref(), Some("eth0"), "a device-backed one wins");
    assert_eq!(net::pick_interface(sys, Some("dummy0")).as_deref(), Some("dummy0"));
    assert_eq!(net::pick_interface(sys, Some("eth9")), None);
    assert_eq!(net::read_mac(sys, "eth0").unwrap(), [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    assert_eq!(net::read_ifindex(sys, "eth0").unwrap(), 2);
    let err = net::read_mac(sys, "eth9").unwrap_err().to_string();
    assert!(err.contains("eth9/address"), "{err}");
    std::fs::write(sys.join("eth0/ifindex"), "two").unwrap();
    let err = net::read_ifindex(sys, "eth0").unwrap_err().to_string();
    assert!(err.contains("eth0/ifindex") && err.contains("two"), "{err}");
}

#[test]
fn waiting_for_an_interface() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().to_owned();
    add_iface(&sys, "lo", 1, "00:00:00:00:00:00", false);
    let s2 = sys.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(60));
        add_iface(&s2, "eth0", 2, "52:54:00:12:34:56", true);
    });
    assert_eq!(net::wait_for_interface(&sys, None, Duration::from_secs(5)).unwrap(), "eth0");
    t.join().unwrap();
    let err = net::wait_for_interface(&sys, Some("eth1"), Duration::from_millis(30)).unwrap_err().to_string();
    assert!(err.contains("\"eth1\"") && err.contains("eth0"), "{err}");
}

#[test]
fn network_config_deserializes_strictly() {
    let s: NetworkConfig =
        toml::from_str("mode = \"static\"\naddress = \"10.0.2.15\"\nprefix = 24\ngateway = \"10.0.2.2\"\n").unwrap();
    assert_eq!(
        s,
        NetworkConfig::Static {
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix: 24,
            gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
            interface: None
        }
    );
    let d: NetworkConfig = toml::from_str("mode = \"dhcp\"\ninterface = \"eth0\"").unwrap();
    assert_eq!(d, NetworkConfig::Dhcp { interface: Some("eth0".into()), timeout_ms: 30_000 });
    let d: NetworkConfig = toml::from_str("mode = \"dhcp\"\ntimeout_ms = 500").unwrap();
    assert_eq!(d, NetworkConfig::Dhcp { interface: None, timeout_ms: 500 });
    let o: NetworkConfig = toml::from_str("mode = \"off\"").unwrap();
    assert_eq!(o, NetworkConfig::Off);
    assert!(toml::from_str::<NetworkConfig>("mode = \"dhcp\"\nadress = \"x\"").is_err(), "unknown field");
    assert!(toml::from_str::<NetworkConfig>("mode = \"Static\"").is_err(), "lower-case modes only");
    assert!(toml::from_str::<NetworkConfig>("mode = \"static\"\naddress = \"10.0.2.15\"").is_err(), "prefix required");
    assert!(toml::from_str::<NetworkConfig>("mode = \"static\"\naddress = \"10.0.2\"\nprefix = 24").is_err());
    assert!(toml::from_str::<NetworkConfig>("address = \"10.0.2.15\"").is_err(), "mode required");
}

// ---------- command line to device-mapper request ----------

#[test]
fn command_line_to_verity_table_load_request() {
    let root = "4d2a0b5c9e1f3a7b8c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b";
    let line = format!(
        "BOOT_IMAGE=x console=ttyS0,115200 qp.slot=a qp.verity.root={root} qp.verity.salt=aabb qp.verity.data_blocks=2560"
    );
    let p = BootParams::parse(&line).unwrap();
    let (sectors, table) = qp_init::verity::verity_table(
        &qp_init::BlockDevice { dev_path: "/dev/vda2".into(), name: "vda2".into(), major: 254, minor: 2 },
        &qp_init::BlockDevice { dev_path: "/dev/vda3".into(), name: "vda3".into(), major: 254, minor: 3 },
        &p.verity,
    );
    assert_eq!(sectors, 20480);
    assert_eq!(table, format!("1 254:2 254:3 4096 4096 2560 0 sha256 {root} aabb"));
    let target = DmTarget { sector_start: 0, length: sectors, target_type: "verity", params: &table };
    let buf = dm_ioctl::encode("qp-root", dm_ioctl::flags::READONLY, &[target], 0).unwrap();
    assert_eq!(buf.len() % 8, 0);
    assert!(buf.len() > DM_IOCTL_SIZE + DM_TARGET_SPEC_SIZE + table.len());
    let h = dm_ioctl::decode_header(&buf).unwrap();
    assert_eq!((h.name.as_str(), h.target_count, h.data_start, h.data_size as usize), ("qp-root", 1, 312, buf.len()));
}

// ---------- DHCP end to end against a fake server on 127.0.0.1 ----------

/// What the fake server does with the n-th request it receives (0-based).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Behaviour {
    /// Answer as a server should.
    Normal,
    /// Drop the first DISCOVER.
    DropFirst,
    /// NAK the first REQUEST.
    NakFirst,
    /// Send junk, a reply for another transaction and another client before each real answer.
    Noisy,
}

struct FakeServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<Vec<MessageType>>>,
}

impl FakeServer {
    fn start(behaviour: Behaviour) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = thread::spawn(move || {
            let mut seen = vec![];
            let mut buf = [0u8; 2048];
            let mut naked = false;
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
                let Ok(req) = dhcp::decode(&buf[..n]) else { continue };
                assert_eq!(req.flags, dhcp::FLAG_BROADCAST, "client asks for broadcast replies");
                seen.push(req.message_type);
                let answer = |t: MessageType| {
                    let mut m = fuzz::reply(t);
                    m.xid = req.xid;
                    m.chaddr = req.chaddr;
                    m
                };
                let reply = match req.message_type {
                    MessageType::Discover => {
                        if behaviour == Behaviour::DropFirst && seen.len() == 1 {
                            continue;
                        }
                        answer(MessageType::Offer)
                    }
                    MessageType::Request => {
                        assert_eq!(req.options.requested_ip, Some(fuzz::OFFERED));
                        assert_eq!(req.options.server_id, Some(fuzz::SERVER));
                        if behaviour == Behaviour::NakFirst && !naked {
                            naked = true;
                            answer(MessageType::Nak)
                        } else {
                            answer(MessageType::Ack)
                        }
                    }
                    _ => continue,
                };
                if behaviour == Behaviour::Noisy {
                    sock.send_to(b"\x02\x01\x06junk", from).unwrap();
                    let mut other: DhcpMessage = reply.clone();
                    other.xid ^= 1;
                    sock.send_to(&other.encode(), from).unwrap();
                    let mut other = reply.clone();
                    other.chaddr[0] ^= 0xff;
                    sock.send_to(&other.encode(), from).unwrap();
                }
                sock.send_to(&reply.encode(), from).unwrap();
            }
            seen
        });
        Self { addr, stop, handle: Some(handle) }
    }

    fn finish(mut self) -> Vec<MessageType> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

fn run_client(server: SocketAddr, timeout: Duration) -> Result<dhcp::Lease, DhcpRunError> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut transport = UdpTransport::with_socket(sock, server);
    let timing =
        DhcpTiming { initial: Duration::from_millis(50), max: Duration::from_millis(200), request_attempts: 3 };
    let mut client = DhcpClient::new(fuzz::MAC, 0x1234_5678, timing);
    dhcp::run(&mut client, &mut transport, "lo-test", timeout)
}

fn expected_lease() -> dhcp::Lease {
    dhcp::Lease {
        address: fuzz::OFFERED,
        prefix: 24,
        router: Some(fuzz::SERVER),
        server: fuzz::SERVER,
        lease_secs: 86400,
        dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
    }
}

#[test]
fn dhcp_end_to_end() {
    let server = FakeServer::start(Behaviour::Normal);
    let lease = run_client(server.addr, Duration::from_secs(10)).unwrap();
    assert_eq!(lease, expected_lease());
    assert_eq!(server.finish(), vec![MessageType::Discover, MessageType::Request]);
}

#[test]
fn dhcp_retransmits_a_lost_discover() {
    let server = FakeServer::start(Behaviour::DropFirst);
    assert_eq!(run_client(server.addr, Duration::from_secs(10)).unwrap(), expected_lease());
    assert_eq!(server.finish(), vec![MessageType::Discover, MessageType::Discover, MessageType::Request]);
}

#[test]
fn dhcp_recovers_from_a_nak() {
    let server = FakeServer::start(Behaviour::NakFirst);
    assert_eq!(run_client(server.addr, Duration::from_secs(10)).unwrap(), expected_lease());
    assert_eq!(
        server.finish(),
        vec![MessageType::Discover, MessageType::Request, MessageType::Discover, MessageType::Request]
    );
}

#[test]
fn dhcp_ignores_noise() {
    let server = FakeServer::start(Behaviour::Noisy);
    assert_eq!(run_client(server.addr, Duration::from_secs(10)).unwrap(), expected_lease());
    assert_eq!(server.finish(), vec![MessageType::Discover, MessageType::Request]);
}

#[test]
fn dhcp_without_a_server_times_out_with_a_typed_error() {
    // A bound socket nobody reads: sends succeed, nothing answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    let err = run_client(silent.local_addr().unwrap(), Duration::from_millis(400)).unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(400));
    assert!(start.elapsed() < Duration::from_secs(3));
    let DhcpRunError::Timeout { sent, state, .. } = &err else { panic!("{err}") };
    assert_eq!(*state, "selecting");
    // 50 + 100 + 200 + 200 ms...: bounded back-off, a handful of packets.
    assert!((3..=6).contains(sent), "{sent}");
    assert!(err.to_string().contains("lo-test"), "{err}");
}

/// A transport that answers every wait with junk at once: retransmissions must still go out on time.
struct Flood {
    sent: u32,
}

impl dhcp::DhcpTransport for Flood {
    fn send(&mut self, _packet: &[u8]) -> std::io::Result<()> {
        self.sent += 1;
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], _timeout: Duration) -> std::io::Result<Option<usize>> {
        thread::sleep(Duration::from_millis(1));
        buf[..4].copy_from_slice(b"junk");
        Ok(Some(4))
    }
}

#[test]
fn dhcp_retransmits_under_a_flood_of_junk() {
    let timing = DhcpTiming { initial: Duration::from_millis(20), max: Duration::from_millis(40), request_attempts: 3 };
    let mut client = DhcpClient::new(fuzz::MAC, 1, timing);
    let mut flood = Flood { sent: 0 };
    let err = dhcp::run(&mut client, &mut flood, "flood0", Duration::from_millis(300)).unwrap_err();
    let DhcpRunError::Timeout { sent, last_ignored, .. } = err else { panic!("{err}") };
    assert_eq!(sent, flood.sent);
    assert!(sent >= 5, "{sent}");
    assert_eq!(last_ignored, Some(dhcp::DhcpError::TooShort { len: 4 }));
}

// ---------- the fuzz corpus through the fuzz harness ----------

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/dhcp_decode")
}

/// The seeds: `offer` and `ack` are QEMU slirp's real replies captured on a boot of this crate's client (their
/// xid rewritten to the harness's), `nak` is `fuzz::reply(Nak)`, `truncated-offer` the offer cut inside an option.
#[test]
fn corpus_runs_through_the_fuzz_harness() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!((4..=5).contains(&files.len()), "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        dhcp::fuzz_harness(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    assert_eq!(read("nak"), fuzz::reply(MessageType::Nak).encode());
    assert_eq!(dhcp::decode(&read("nak")).unwrap().message_type, MessageType::Nak);
    assert_eq!(dhcp::decode(&read("truncated-offer")), Err(dhcp::DhcpError::OptionOverflow { code: 1, offset: 249 }));
}

#[test]
fn slirps_real_replies_bind_the_client() {
    let dir = corpus_dir();
    let offer = std::fs::read(dir.join("offer")).unwrap();
    let ack = std::fs::read(dir.join("ack")).unwrap();
    let m = dhcp::decode(&offer).unwrap();
    assert_eq!(
        (m.message_type, m.yiaddr, m.options.server_id),
        (MessageType::Offer, fuzz::OFFERED, Some(fuzz::SERVER))
    );
    let now = Instant::now();
    let mut c = DhcpClient::new(fuzz::MAC, fuzz::XID, DhcpTiming::default());
    let _ = c.start(now);
    let dhcp::Action::Send { packet, .. } = c.on_packet(&offer, now) else { panic!("offer not taken") };
    assert_eq!(dhcp::decode(&packet).unwrap().message_type, MessageType::Request);
    let dhcp::Action::Bound(lease) = c.on_packet(&ack, now) else { panic!("ack not taken") };
    assert_eq!(lease, expected_lease());
}

// ---------- the TPM channel, against swtpm ----------

#[test]
fn pid1s_raw_pcr_commands_extend_and_read_a_real_tpm_as_the_tss_sees_it() {
    use qp_init::tpm::{TpmChannel, TpmChannelError};
    let swtpm = qp_tpm::swtpm::Swtpm::start().unwrap();
    let (first, second) = ([0x11u8; 32], [0x22u8; 32]);
    {
        let socket = std::net::TcpStream::connect(("127.0.0.1", swtpm.port())).unwrap();
        let mut channel = TpmChannel::new(socket);
        assert_eq!(channel.read(15).unwrap(), [0; 32]);
        channel.extend(15, &first).unwrap();
        channel.extend(15, &second).unwrap();
        let expected = qp_attest_core::pcr_extend_value(&qp_attest_core::pcr_extend_value(&[0; 32], &first), &second);
        assert_eq!(channel.read(15).unwrap(), expected);
        // PCR 24 does not exist: refused before anything is sent.
        assert!(matches!(channel.extend(24, &first), Err(TpmChannelError::Command { .. })));
    }
    // The TSS reads the same value.
    let tpm = qp_tpm::Tpm::open(&swtpm.tcti()).unwrap();
    let expected = qp_attest_core::pcr_extend_value(&qp_attest_core::pcr_extend_value(&[0; 32], &first), &second);
    assert_eq!(tpm.pcr_read(15).unwrap(), expected);
}
