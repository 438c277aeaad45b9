//! The bridge protocol core (issue 8): how cloud nodes send `qp-wire` signal frames to the
//! local ("sovereign") node over one byte stream (mutual TLS, in `qp-bridge-transport`).
//!
//! No I/O, no clock reads (time comes in as `now_ns`), no threads: bytes in
//! ([`feed`](CloudConnection::feed)), events out ([`poll_event`](CloudConnection::poll_event),
//! queued frames), bytes to send written into the caller's buffer
//! ([`write_into`](CloudConnection::write_into)). Tests and fuzzers drive it directly.
//!
//! - **Records**: a 4-byte header (body length, kind, flags) and a bounded body; see
//!   [`RecordKind`], [`encode_record`], [`RecordReader`].
//! - **Hello** first each way: versions, capabilities, role, session epoch, resume point.
//! - **Credit**: the receiver grants sequence numbers; the sender never sends past them.
//! - **Acknowledgements and resume**: per-peer streams ([`OutboundStream`],
//!   [`InboundStream`]) outlive connections; a new connection resends exactly what the
//!   receiver lacks, so a cut at any byte loses and duplicates nothing.
//! - **Timers**: heartbeats, dead peers, stalled peers ([`DisconnectReason`]).
//! - **Direction**: a local node sends control records only. [`LocalConnection`] has no
//!   way to send a frame, [`encode_record`] refuses data for [`Role::Local`], and a cloud
//!   node refuses any other kind from a local peer.
//!
//! Design, layouts and figures: `bridge/protocol/DESIGN.md`.
//!
//! ```
//! use qp_bridge_proto::{CloudConnection, ConnectionConfig, InboundStream, LocalConnection, OutboundStream, MAX_RECORD_LEN};
//! use qp_wire::{AssetId, FrameBuf, SentimentSignal};
//!
//! let settings = ConnectionConfig::default().validate()?;
//! let mut cloud = CloudConnection::new(&settings, OutboundStream::new(11, 1024)?, 0);
//! let mut local = LocalConnection::new(&settings, InboundStream::new(22, 256)?, 0);
//! let signal = SentimentSignal::new(AssetId::from_wire(1), 7, 9_000, 0, 1);
//! cloud.send_frame(&FrameBuf::encode(1, 0, &signal))?;
//!
//! let mut wire = [0u8; 4 * MAX_RECORD_LEN];
//! for _ in 0..3 {
//!     let n = cloud.write_into(0, &mut wire);
//!     local.feed(0, &wire[..n])?;
//!     let n = local.write_into(0, &mut wire);
//!     cloud.feed(0, &wire[..n])?;
//! }
//! assert_eq!(local.pop_frame().map(|frame| frame.header().sequence.get()), Some(0));
//! assert_eq!(cloud.stream().first_unacked(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A local node cannot send a frame; the method does not exist on its type:
//!
//! ```compile_fail,E0599
//! use qp_bridge_proto::{ConnectionConfig, InboundStream, LocalConnection};
//! let settings = ConnectionConfig::default().validate().unwrap();
//! let mut local = LocalConnection::new(&settings, InboundStream::new(22, 16).unwrap(), 0);
//! local.send_frame(&qp_wire::FrameBuf::default());
//! ```
#![forbid(unsafe_code)]

mod cloud;
mod config;
mod error;
mod link;
mod local;
mod reader;
mod record;
mod stream;
mod subscription;

pub use cloud::CloudConnection;
pub use config::{ConnectionConfig, ConnectionSettings};
pub use error::{
    ConfigError, DisconnectReason, EncodeError, ProtocolError, PushError, StreamError, SubscriptionError, Violation,
};
pub use link::{Event, Negotiated, TimerStatus};
pub use local::LocalConnection;
pub use reader::RecordReader;
pub use record::{
    DATA_MAX_LEN, DATA_MIN_LEN, GOODBYE_LEN, GoodbyeReason, HELLO_LEN, HELLO_MAGIC, HELLO_MAX_LEN, Hello,
    MAX_PROTOCOL_VERSION, MAX_RECORD_LEN, MAX_SEQUENCE, MIN_PROTOCOL_VERSION, RECORD_HEADER_LEN, Record, RecordKind,
    Role, SEQUENCE_LEN, SUBSCRIPTION_MAX_LEN, encode_record, negotiate_version,
};
pub use stream::{InboundStream, MAX_STREAM_FRAMES, OutboundStream};
pub use subscription::{AssetList, MAX_SUBSCRIPTION_ASSETS, Subscription};
