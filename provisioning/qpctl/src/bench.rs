//! `qpctl bench …`: percentiles of the hot paths, as a table or one JSON object.
use std::hint::black_box;

use qp_fix::session::LastMessageStore;
use qp_loop::LoopConfig;
use qp_loop::bench::{HEADLINE_STAGES, bench_headline_loop, bench_loop};
use qp_runtime::clock::monotonic_ns;
use qp_runtime::ring_hop::{measure_cache_line_floor, measure_ring_hop, measure_same_thread_hop};
use qp_runtime::{LatencyHistogram, Percentiles};
use qp_wire::{AssetId, FrameBuf, SentimentSignal, decode};
use serde::Serialize;

use crate::cli::BenchCommand;

/// Decodes per timed batch in `bench decode`.
const DECODE_BATCH: u64 = 256;

#[derive(Serialize)]
struct RingReport<'a> {
    bench: &'a str,
    cross_core: Percentiles,
    same_thread: Percentiles,
    cross_core_floor: Percentiles,
    note: &'a str,
}

#[derive(Serialize)]
struct SingleReport<'a> {
    bench: &'a str,
    #[serde(flatten)]
    percentiles: Percentiles,
    note: &'a str,
}

fn print_row(name: &str, p: &Percentiles) {
    println!("{name:<24}{:>9}{:>9}{:>9}{:>9}{:>10}", p.p50_ns, p.p99_ns, p.p999_ns, p.max_ns, p.count);
}

fn print_header() {
    println!("{:<24}{:>9}{:>9}{:>9}{:>9}{:>10}", "(ns)", "p50", "p99", "p99.9", "max", "count");
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::FixEncode(args) => bench_fix_encode(args)?,
        BenchCommand::FixRoundtrip(args) => bench_fix_roundtrip(args)?,
        BenchCommand::Loop(args) => bench_loop_command(args)?,
        BenchCommand::Boot(args) => crate::bench_boot::run(args)?,
        BenchCommand::Update(args) => crate::bench_update::run(args)?,
        BenchCommand::Bridge { json, frames, latency_frames, rate, handshakes, transport } => {
            use qp_bridge_transport::TransportKind;
            let kinds = match transport.as_deref() {
                None => {
                    let mut kinds = Vec::new();
                    match qp_bridge_transport::io_uring_available() {
                        Ok(()) => kinds.push(TransportKind::IoUring),
                        Err(reason) => eprintln!("io_uring unavailable ({reason}): epoll only"),
                    }
                    kinds.push(TransportKind::Epoll);
                    kinds
                }
                Some("io_uring") => vec![TransportKind::IoUring],
                Some("epoll") => vec![TransportKind::Epoll],
                Some(other) => anyhow::bail!("--transport {other}: io_uring or epoll"),
            };
            let mut reports = Vec::new();
            for kind in kinds {
                reports.push(qp_bridge_transport::bench::bench_bridge(kind, frames, latency_frames, rate, handshakes)?);
            }
            if json {
                let object: serde_json::Map<String, serde_json::Value> = reports
                    .iter()
                    .map(|r| Ok((r.transport.to_owned(), serde_json::to_value(r)?)))
                    .collect::<anyhow::Result<_>>()?;
                println!("{}", serde_json::Value::Object(object));
            } else {
                for r in &reports {
                    println!(
                        "{:<9} {:>12.0} frames/s ({} B); one-way at {}/s p50 {} p99 {} p99.9 {} ns; handshake p50 {} p99 {} ns",
                        r.transport,
                        r.frames_per_s,
                        r.frame_bytes,
                        r.latency_rate_per_s,
                        r.one_way_p50_ns,
                        r.one_way_p99_ns,
                        r.one_way_p999_ns,
                        r.handshake_p50_ns,
                        r.handshake_p99_ns
                    );
                    let p = &r.protocol;
                    println!(
                        "{:<9} protocol: {:>12.0} frames/s ({} B signal frames, credit and acks); one-way p50 {} p99 {} p99.9 {} ns",
                        "", p.frames_per_s, p.frame_bytes, p.one_way_p50_ns, p.one_way_p99_ns, p.one_way_p999_ns
                    );
                }
            }
        }
        BenchCommand::Ring { json, iterations } => {
            let report = RingReport {
                bench: "ring_hop",
                cross_core: measure_ring_hop(iterations / 10, iterations),
                same_thread: measure_same_thread_hop(1_000, iterations / 256),
                cross_core_floor: measure_cache_line_floor(iterations / 10, iterations),
                note: "cross_core: half of each timed round trip between two pinned threads; same_thread: \
                       push+pop, batches of 256; cross_core_floor: one atomic bounced between the same two cores",
            };
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("ring hop: {}", report.note);
                print_header();
                print_row("cross_core", &report.cross_core);
                print_row("same_thread", &report.same_thread);
                print_row("cross_core_floor", &report.cross_core_floor);
            }
        }
        BenchCommand::Sentiment { json, model, data, calls } => {
            let report = bench_sentiment(model.as_deref(), &data, calls)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("sentiment: {}", report.note);
                print_header();
                print_row("native", &report.native);
                if let Some(ort) = &report.onnxruntime {
                    print_row("onnxruntime", ort);
                }
            }
        }
        BenchCommand::Decode { json, batches } => {
            let frame = FrameBuf::encode(1, 1, &SentimentSignal::new(AssetId::from_wire(1), 5, 9_000, 1, 1));
            let bytes = frame.as_frame_bytes();
            let mut histogram = LatencyHistogram::new();
            for batch in 0..batches + batches / 10 {
                if batch == batches / 10 {
                    histogram.reset();
                }
                let start = monotonic_ns();
                for _ in 0..DECODE_BATCH {
                    let _ = black_box(decode(black_box(bytes)));
                }
                histogram.record((monotonic_ns() - start) / DECODE_BATCH);
            }
            emit(json, "decode", histogram.percentiles(), "per decode, mean of each batch of 256")?;
        }
    }
    Ok(())
}

/// What each iteration of `qpctl bench loop` starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LoopSource {
    /// A headline's text (SentimentX scores it) and a Binance depth diff (AlphaScanner), to
    /// the FIX NewOrderSingle's bytes.
    #[default]
    Headlines,
    /// A book signal and a sentiment signal as frames, to the order intent.
    Frames,
}

/// `qpctl bench loop`.
#[derive(Debug, clap::Args)]
pub struct LoopArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = 200_000)]
    pub iterations: u64,
    #[arg(long, default_value_t = 20_000)]
    pub warmup: u64,
    /// A configuration replacing the embedded default.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// `headlines`: news text in → order bytes ready, per agent; `frames`: signal frames in →
    /// order intent out, per stage.
    #[arg(long, value_enum, default_value = "headlines")]
    pub from: LoopSource,
    /// The FIX session's message store (`--from headlines`): the last message in memory, or
    /// the file store (fsync never) in a temporary folder.
    #[arg(long, value_enum, default_value = "memory")]
    pub fix_store: LoopFixStore,
}

/// The store behind the headline bench's FIX session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LoopFixStore {
    /// The last message sent, in memory (`qp_fix::session::LastMessageStore`).
    #[default]
    Memory,
    /// `qp-fix-store`'s `FileStore`, fsync never: one append per order.
    File,
}

/// The whole in-process loop, per stage (`qpctl bench loop`).
pub fn bench_loop_command(args: LoopArgs) -> anyhow::Result<()> {
    let LoopArgs { json, iterations, warmup, config, from, fix_store } = args;
    let config = LoopConfig::load(config.as_deref())?;
    let (latency, workers, extra): (_, _, Vec<(String, Percentiles)>) = match from {
        LoopSource::Frames => {
            let report = bench_loop(&config, warmup, iterations)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
                return Ok(());
            }
            (report.latency, report.workers, Vec::new())
        }
        LoopSource::Headlines => {
            let report = match fix_store {
                LoopFixStore::Memory => bench_headline_loop(
                    &config,
                    warmup,
                    iterations,
                    LastMessageStore::new(),
                    "last message, in memory",
                )?,
                LoopFixStore::File => {
                    use qp_fix_store::{FileStore, FsyncPolicy};
                    let dir = std::env::temp_dir().join(format!("qpctl-bench-loop-{}", std::process::id()));
                    std::fs::create_dir_all(&dir)?;
                    let report =
                        FileStore::open_with(&dir, "bench", FsyncPolicy::Never).map_err(anyhow::Error::from).and_then(
                            |store| Ok(bench_headline_loop(&config, warmup, iterations, store, "file, fsync never")?),
                        );
                    let _ = std::fs::remove_dir_all(&dir);
                    report?
                }
            };
            if json {
                println!("{}", serde_json::to_string(&report)?);
                return Ok(());
            }
            println!("loop bench (news text in -> order bytes ready): {}", report.note);
            let extra = report.off_path.iter().map(|(name, p)| (format!("({name}, off path)"), *p)).collect();
            (report.latency, report.workers, extra)
        }
    };
    println!("loop bench: {iterations} iterations after {warmup} warm-up; threads: {}", workers.join(", "));
    print_header();
    match from {
        LoopSource::Frames => {
            for (name, p) in &latency.stages {
                print_row(name, p);
            }
            print_row("loop ingest->execute", &latency.whole_loop);
        }
        LoopSource::Headlines => {
            // In path order.
            for name in HEADLINE_STAGES {
                if let Some(p) = latency.stages.get(name) {
                    print_row(name, p);
                }
            }
            print_row("loop text->bytes", &latency.whole_loop);
        }
    }
    for (name, p) in &extra {
        print_row(name, p);
    }
    Ok(())
}

fn emit(json: bool, bench: &str, percentiles: Percentiles, note: &str) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(&SingleReport { bench, percentiles, note })?);
    } else {
        println!("{bench}: {note}");
        print_header();
        print_row(bench, &percentiles);
    }
    Ok(())
}

#[derive(Serialize)]
struct SentimentReport {
    bench: &'static str,
    model: String,
    native: Percentiles,
    /// Absent when ONNX Runtime cannot be loaded (`ORT_DYLIB_PATH` unset).
    onnxruntime: Option<Percentiles>,
    note: &'static str,
}

fn bench_sentiment(
    model: Option<&std::path::Path>,
    data: &std::path::Path,
    calls: u64,
) -> anyhow::Result<SentimentReport> {
    use qp_sentiment::student::{NativeStudent, OrtStudent, StudentScratch};
    let texts: Vec<String> = qp_replay::read_headlines(data)?.into_iter().map(|h| h.text).collect();
    anyhow::ensure!(!texts.is_empty(), "{}: no texts", data.display());
    let native = match model {
        Some(path) => NativeStudent::load(path)?,
        None => qp_sentiment::shipped::student()?,
    };
    let warmup = (calls / 10).max(1);
    let mut scratch = StudentScratch::new();
    let mut histogram = LatencyHistogram::new();
    for i in 0..warmup + calls {
        if i == warmup {
            histogram.reset();
        }
        let text = &texts[(i as usize) % texts.len()];
        let start = monotonic_ns();
        black_box(native.predict(black_box(text), &mut scratch));
        histogram.record(monotonic_ns() - start);
    }
    let native_percentiles = histogram.percentiles();
    let ort_path = model.map(std::path::Path::to_path_buf).or_else(|| {
        let path = std::env::temp_dir().join(format!("qp-sentimentx-{}.onnx", std::process::id()));
        std::fs::write(&path, qp_sentiment::shipped::MODEL_BYTES).ok().map(|_| path)
    });
    let onnxruntime = match ort_path.map(|p| OrtStudent::load(&p)) {
        Some(Ok(mut ort)) => {
            histogram.reset();
            for i in 0..warmup + calls {
                if i == warmup {
                    histogram.reset();
                }
                let text = &texts[(i as usize) % texts.len()];
                let start = monotonic_ns();
                black_box(ort.predict(black_box(text))?);
                histogram.record(monotonic_ns() - start);
            }
            Some(histogram.percentiles())
        }
        Some(Err(err)) => {
            eprintln!("qpctl: onnxruntime skipped: {err}");
            None
        }
        None => None,
    };
    Ok(SentimentReport {
        bench: "sentiment",
        model: native.path().display().to_string(),
        native: native_percentiles,
        onnxruntime,
        note: "one call on one core: tokenization, hashing and the model, over real TFNS texts in turn",
    })
}

// ---------------------------------------------------------------------------------------------
// The venue connection (qp-fix-venue).

/// `qpctl bench fix-encode`.
#[derive(Debug, clap::Args)]
pub struct FixEncodeArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = 200_000)]
    pub iterations: u64,
    #[arg(long, default_value_t = 20_000)]
    pub warmup: u64,
}

/// Who answers the orders of `qpctl bench fix-roundtrip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoundtripPeer {
    Quickfix,
    Rust,
}

/// `qpctl bench fix-roundtrip`.
#[derive(Debug, clap::Args)]
pub struct FixRoundtripArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The counterparty: QuickFIX's Python acceptor (`tests/fix-peer/exchange.py`), or the
    /// project's own acceptor filling every order (our engine at both ends).
    #[arg(long, value_enum, default_value = "quickfix")]
    pub peer: RoundtripPeer,
    /// The python with the quickfix-tls wheel (`cargo xtask setup` makes the venv).
    #[arg(long, default_value = ".cache/venv/bin/python")]
    pub peer_python: std::path::PathBuf,
    /// The exchange simulator.
    #[arg(long, default_value = "tests/fix-peer/exchange.py")]
    pub peer_script: std::path::PathBuf,
    /// FIX44.xml for the simulator (and, with --validate, for us).
    #[arg(long, default_value = ".cache/fix/FIX44.xml")]
    pub dictionary: std::path::PathBuf,
    /// Validate every received message against the dictionary (as a live session would).
    #[arg(long)]
    pub validate: bool,
    #[arg(long, default_value_t = 20_000)]
    pub orders: u64,
    #[arg(long, default_value_t = 2_000)]
    pub warmup: u64,
}

#[derive(Serialize)]
struct FixEncodeReport {
    bench: &'static str,
    memory_store: Percentiles,
    file_store_fsync_never: Percentiles,
    note: &'static str,
}

/// Risk-approved intent → NewOrderSingle bytes in the session's outbound buffer, per call,
/// with the in-memory store and with the file store (fsync never, in a temp folder).
pub fn bench_fix_encode(args: FixEncodeArgs) -> anyhow::Result<()> {
    use qp_fix::session::MemoryStore;
    use qp_fix_store::{FileStore, FsyncPolicy};
    use qp_fix_venue::roundtrip::measure_intent_to_bytes;

    let memory_store = measure_intent_to_bytes(MemoryStore::new(), args.warmup, args.iterations)?;
    let dir = std::env::temp_dir().join(format!("qpctl-fix-encode-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file_store = FileStore::open_with(&dir, "bench", FsyncPolicy::Never)
        .map_err(anyhow::Error::from)
        .and_then(|store| Ok(measure_intent_to_bytes(store, args.warmup, args.iterations)?));
    let _ = std::fs::remove_dir_all(&dir);
    let report = FixEncodeReport {
        bench: "fix_encode",
        memory_store,
        file_store_fsync_never: file_store?,
        note: "RiskApproved<OrderIntent> -> NewOrderSingle bytes in the session's outbound buffer \
               (ClOrdID, encode, store, queue), per call, clock overhead subtracted",
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("fix encode: {}", report.note);
        print_header();
        print_row("memory_store", &report.memory_store);
        print_row("file_store_fsync_never", &report.file_store_fsync_never);
    }
    Ok(())
}

/// NewOrderSingle handed to the socket → ExecutionReport (New) parsed, against the QuickFIX
/// exchange simulator, which this starts on 127.0.0.1 and stops.
pub fn bench_fix_roundtrip(args: FixRoundtripArgs) -> anyhow::Result<()> {
    use qp_fix_venue::peer::{ExchangePeer, PeerOptions};
    use qp_fix_venue::roundtrip::measure_round_trip;

    if args.peer == RoundtripPeer::Rust {
        let exchange = qp_fix_venue::loopback_exchange::LoopbackExchange::start("EXCH", "QPNODE")?;
        let dictionary = if args.validate { Some(qp_fix::Dictionary::load(&args.dictionary)?) } else { None };
        let timeout = std::time::Duration::from_secs(600);
        let measured = measure_round_trip(exchange.addr(), dictionary.as_ref(), args.warmup, args.orders, timeout);
        drop(exchange);
        return emit(
            args.json,
            "fix_roundtrip",
            measured?.round_trip,
            "NewOrderSingle handed to the socket -> ExecutionReport(New) read and parsed; the project's own \
             acceptor (qp-fix-venue loopback exchange) on 127.0.0.1, one order at a time",
        );
    }
    let store = std::env::temp_dir().join(format!("qpctl-fix-roundtrip-{}", std::process::id()));
    let options = PeerOptions {
        python: args.peer_python,
        script: args.peer_script,
        dictionary: args.dictionary.clone(),
        store: store.clone(),
        sender: "EXCH".to_owned(),
        target: "QPNODE".to_owned(),
        extra_args: Vec::new(),
    };
    let peer = ExchangePeer::start(&options)?;
    let dictionary = if args.validate { Some(qp_fix::Dictionary::load(&args.dictionary)?) } else { None };
    let timeout = std::time::Duration::from_secs(600);
    let measured = measure_round_trip(peer.addr(), dictionary.as_ref(), args.warmup, args.orders, timeout);
    drop(peer.stop());
    let _ = std::fs::remove_dir_all(&store);
    emit(
        args.json,
        "fix_roundtrip",
        measured?.round_trip,
        "NewOrderSingle handed to the socket -> ExecutionReport(New) read and parsed; QuickFIX exchange.py \
         on 127.0.0.1, one order at a time",
    )
}
