use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// QuantPype Node workstation tool.
#[derive(Debug, Parser)]
#[command(name = "qpctl", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure the node's hot paths; prints p50/p99/p99.9.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Decode and print recorded data.
    #[command(subcommand)]
    Inspect(InspectCommand),
    /// Work with model files.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Make models: teacher → transfer set → distilled, quantized student.
    #[command(subcommand)]
    Forge(ForgeCommand),
    /// Rebuild order books from recorded feeds and check them against the feed's own views.
    #[command(subcommand)]
    Book(crate::book::BookCommand),
    /// Score the sensing agents' detectors (spoofing, hidden liquidity) on labelled data.
    #[command(subcommand)]
    Scan(crate::scan::ScanCommand),
    /// Portfolio risk: Guardian's risk-parity weights, VaR and its backtests.
    #[command(subcommand)]
    Risk(crate::risk::RiskCommand),
    /// The FIX engine: conformance scripts, a scripted order session against a venue.
    #[command(subcommand)]
    Fix(crate::fix::FixCommand),
    /// Execution agents (NeuralArb, LiquidityFlow) replayed against recorded books.
    #[command(subcommand)]
    Exec(crate::exec::ExecCommand),
    /// The audit trail: signing keys, verification, listing.
    #[command(subcommand)]
    Audit(crate::audit::AuditCommand),
    /// The demo's replay (all agents, fills simulated) over a window of the recording; with
    /// --json the summary as one object.
    Backtest(crate::backtest::BacktestArgs),
    /// The fleet's certificate authority: init, issue node certificates, show one.
    #[command(subcommand)]
    Ca(crate::ca::CaCommand),
    /// The sealed node image: build a local or cloud variant.
    #[command(subcommand)]
    Image(crate::image::ImageCommand),
    /// A node's services, restarts, versions, recent logs and metrics, over its management API.
    Status(crate::status::StatusArgs),
    /// Record a node's TPM: its endorsement certificate checked against the manufacturer's CA,
    /// its attestation key proved to be in that TPM (credential activation).
    Enroll(crate::attest::EnrollArgs),
    /// Check that an enrolled node runs exactly an image (quote, event log, golden values) and,
    /// on a pass, install a short-lived bridge certificate on it.
    Attest(crate::attest::AttestArgs),
    /// The release key: make it, approve an image's measurements for the vault's sealed secrets.
    #[command(subcommand)]
    Release(crate::vault::ReleaseCommand),
    /// A local node's vault: seal a secret onto it (for its TPM only), install an approval.
    #[command(subcommand)]
    Vault(crate::vault::VaultCommand),
    /// Signed updates (The Update Framework): keys, the repository's root, publishing an image
    /// build, the timestamp, and checking a repository as a node would.
    #[command(subcommand)]
    Update(crate::update::UpdateCommand),
    /// Write a disk image onto a server's disk (or a file): says what it will overwrite and asks
    /// (`--yes` skips the question), refuses a mounted or too-small target, reads it back and
    /// checks its hash.
    Flash(qp_flash::FlashArgs),
}

#[derive(Debug, Subcommand)]
pub enum ForgeCommand {
    /// Step 1: embed the labelled texts with the teacher (all-MiniLM-L6-v2),
    /// train its classification head, optionally fine-tune it.
    Teacher {
        /// Labelled texts, CSV `text,label` (0 bearish, 1 bullish, 2 neutral).
        #[arg(long, default_value = "../shared/data/tfns/train.csv")]
        data: PathBuf,
        /// Work folder: caches, the teacher's head, the fine-tuned teacher.
        #[arg(long, default_value = ".cache/forge")]
        work: PathBuf,
        /// The teacher's model folder (default: the installed wheel's).
        #[arg(long)]
        teacher_dir: Option<PathBuf>,
        /// Fine-tune the transformer's top layers after training the head.
        #[arg(long)]
        fine_tune: bool,
        #[arg(long, default_value_t = 2)]
        fine_tune_epochs: usize,
        /// Use only the first N labelled texts (a quick run).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Step 2: the teacher labels the labelled texts plus a generated transfer
    /// set; the student is distilled, quantized (int8 shipped, int4 reported)
    /// and written as one ONNX file.
    Distill {
        #[arg(long, default_value = "../shared/data/tfns/train.csv")]
        data: PathBuf,
        #[arg(long, default_value = ".cache/forge")]
        work: PathBuf,
        /// The int8 model to write; the int4 variant goes beside it.
        #[arg(long, default_value = "agents/sentiment/models/sentimentx.onnx")]
        out: PathBuf,
        /// Generated texts in the transfer set.
        #[arg(long, default_value_t = 200_000)]
        transfer: usize,
        /// Seeds the transfer set and the student's training.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        epochs: Option<usize>,
        /// Weight of the distillation term where a text has both labels.
        #[arg(long)]
        alpha: Option<f32>,
        #[arg(long)]
        temperature: Option<f32>,
        /// Times each labelled text is repeated among the generated ones
        /// (20: measured best; at 1 the 200k generated texts swamp the 8k real ones).
        #[arg(long, default_value_t = 20)]
        labelled_repeats: usize,
        #[arg(long)]
        limit: Option<usize>,
        /// Also write the summary as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Score texts with SentimentX: the assets each names, the class
    /// probabilities and the −10..+10 score.
    Score {
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(required = true)]
        texts: Vec<String>,
    },
    /// Accuracy and macro-F1 of a model on a labelled CSV; one JSON object with --json.
    Eval {
        /// The model (default: the shipped SentimentX model).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The Decide agent's model: features from the replayed market data and news, labels from
    /// the later mid-price move, a small network trained on the earlier part and scored on the
    /// later part against a no-skill baseline.
    Alpha(crate::forge_alpha::AlphaArgs),
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Load a model on a backend and run one inference on zeros: proves the file
    /// is usable before it is deployed. ONNX Runtime needs `ORT_DYLIB_PATH`.
    Check {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Backend::NativeF32)]
        backend: Backend,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Backend {
    NativeF32,
    NativeInt8,
    Onnxruntime,
}

#[derive(Debug, Subcommand)]
pub enum InspectCommand {
    /// Decode a file of back-to-back wire frames (a capture, an audit segment)
    /// and print one line per frame. Stops at the first bad frame with its offset.
    Frames { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Risk-approved intent → FIX NewOrderSingle bytes in the session's outbound buffer.
    FixEncode(crate::bench::FixEncodeArgs),
    /// NewOrderSingle → ExecutionReport round trip against the QuickFIX exchange simulator.
    FixRoundtrip(crate::bench::FixRoundtripArgs),
    /// The whole in-process loop, per agent: news text in → FIX order bytes ready (default),
    /// or signal frames in → order intent out (`--from frames`).
    Loop(crate::bench::LoopArgs),
    /// The bridge: 64-byte frames through one mutual-TLS connection on 127.0.0.1 (throughput,
    /// one-way latency at a fixed rate, full handshakes), for each transport (io_uring, epoll).
    Bridge {
        #[arg(long)]
        json: bool,
        /// Frames for the throughput run.
        #[arg(long, default_value_t = 2_000_000)]
        frames: u64,
        /// Frames for the latency run, sent at --rate.
        #[arg(long, default_value_t = 50_000)]
        latency_frames: u64,
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        #[arg(long, default_value_t = 200)]
        handshakes: u64,
        /// Only this transport: io_uring or epoll (default: both, io_uring where available).
        #[arg(long)]
        transport: Option<String>,
    },
    /// Boot the sealed image under QEMU: time from QEMU's start to the supervisor's READY line.
    Boot(crate::bench_boot::BootArgs),
    /// A release written into the inactive slot (from a TUF repository, verified, synced, read
    /// back) against raw sequential writes of the same bytes: MiB/s and their ratio.
    Update(crate::bench_update::UpdateBenchArgs),
    /// One SPSC ring hop between two threads (half a timed round trip).
    Ring {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 1_000_000)]
        iterations: u64,
    },
    /// SentimentX: one call (tokenization, hashing, model) on one core, native
    /// int8 and through ONNX Runtime, over real headlines.
    Sentiment {
        #[arg(long)]
        json: bool,
        /// The model (default: the shipped SentimentX model).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Texts to score (CSV `text,label`).
        #[arg(long, default_value = "../shared/data/tfns/train.csv")]
        data: PathBuf,
        #[arg(long, default_value_t = 200_000)]
        calls: u64,
    },
    /// Frame decode, timed in batches (one decode is shorter than a clock read).
    Decode {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 100_000)]
        batches: u64,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Bench(bench) => crate::bench::run(bench),
        Command::Inspect(InspectCommand::Frames { file }) => crate::inspect::print_frames(&file),
        Command::Model(ModelCommand::Check { file, backend }) => crate::model::check(&file, backend),
        Command::Forge(forge) => crate::forge::run(forge),
        Command::Book(book) => crate::book::run(book),
        Command::Scan(scan) => crate::scan::run(scan),
        Command::Risk(risk) => crate::risk::run(risk),
        Command::Fix(fix) => crate::fix::run(fix),
        Command::Exec(exec) => crate::exec::run(exec),
        Command::Audit(audit) => crate::audit::run(audit),
        Command::Backtest(args) => crate::backtest::run(args),
        Command::Ca(ca) => crate::ca::run(ca),
        Command::Image(image) => crate::image::run(image),
        Command::Status(args) => crate::status::run(args),
        Command::Enroll(args) => crate::attest::enroll(args),
        Command::Attest(args) => crate::attest::attest(args),
        Command::Release(command) => crate::vault::release(command),
        Command::Vault(command) => crate::vault::vault(command),
        Command::Update(command) => crate::update::run(command),
        Command::Flash(args) => {
            qp_flash::run(args, &mut qp_flash::prompt_stdin)?;
            Ok(())
        }
    }
}
