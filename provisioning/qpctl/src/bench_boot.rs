//! `qpctl bench boot --image DIR`: time from QEMU's start to the supervisor's READY line on the
//! serial console, over several boots of the built image (each boot a fresh copy of its disk),
//! under KVM where it works and software emulation otherwise (which one is in the output).
//! Also the READY line's own figure: the kernel's uptime when PID 1 was ready.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct BootArgs {
    /// The image folder `qpctl image build --out` wrote (its `disk.img`).
    #[arg(long)]
    pub image: PathBuf,
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// The guest kernel's folder (for the KVM probe's kernel; default: the xtask's cache).
    #[arg(long)]
    pub kernel_dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, serde::Serialize)]
struct Millis {
    p50: f64,
    p99: f64,
    p99_9: f64,
    max: f64,
}

fn millis(mut samples: Vec<f64>) -> Millis {
    samples.sort_by(f64::total_cmp);
    // Nearest rank; with a handful of boots p99 and p99.9 are the slowest.
    let rank = |q: f64| samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    Millis { p50: rank(0.5), p99: rank(0.99), p99_9: rank(0.999), max: samples[samples.len() - 1] }
}

#[derive(Debug, serde::Serialize)]
struct BootReport {
    bench: &'static str,
    accel: &'static str,
    runs: u32,
    qemu_start_to_ready_ms: Millis,
    kernel_uptime_at_ready_ms: Option<Millis>,
}

fn kernel_image(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match dir {
        Some(dir) => dir,
        None => std::fs::read_dir(".cache/kernel")
            .context(".cache/kernel (run `cargo xtask setup`, or give --kernel-dir)")?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.join("boot").is_dir())
            .context("no kernel under .cache/kernel")?,
    };
    std::fs::read_dir(dir.join("boot"))
        .with_context(|| dir.join("boot").display().to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .with_context(|| format!("no vmlinuz-* in {}", dir.join("boot").display()))
}

pub fn run(args: BootArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs > 0, "--runs must be positive");
    let disk = args.image.join("disk.img");
    anyhow::ensure!(disk.is_file(), "{}: no disk image (qpctl image build --out DIR)", disk.display());
    let scratch = std::env::temp_dir().join(format!("qpctl-bench-boot-{}", std::process::id()));
    let accel = qp_qemu::detect_accel(&kernel_image(args.kernel_dir)?, &scratch, Duration::from_secs(20));
    let (mut qemu, mut kernel) = (Vec::new(), Vec::new());
    for run in 0..args.runs {
        let work_dir = scratch.join(format!("boot-{run}"));
        let copy = qp_qemu::private_copy(&disk, &work_dir)?;
        let mut vm = qp_qemu::Vm::start(&qp_qemu::VmSpec {
            name: format!("bench-{run}"),
            disk: copy,
            work_dir: work_dir.clone(),
            memory_mib: 512,
            forwards: vec![],
            accel,
            tpm_socket: None,
        })?;
        let (elapsed, line) = vm.wait_for_line("READY", Duration::from_secs(180))?;
        vm.kill();
        qemu.push(elapsed.as_secs_f64() * 1e3);
        if let Some(ms) =
            line.split_whitespace().find_map(|w| w.strip_prefix("uptime_ms=")).and_then(|v| v.parse().ok())
        {
            kernel.push(ms);
        }
        if !args.json {
            eprintln!("boot {}: READY {:.0} ms after QEMU started: {line}", run + 1, elapsed.as_secs_f64() * 1e3);
        }
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let report = BootReport {
        bench: "boot",
        accel: accel.name(),
        runs: args.runs,
        qemu_start_to_ready_ms: millis(qemu),
        kernel_uptime_at_ready_ms: (kernel.len() == args.runs as usize).then(|| millis(kernel)),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let q = &report.qemu_start_to_ready_ms;
        println!(
            "boot ({}, {} runs): QEMU start → READY p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            report.accel, report.runs, q.p50, q.p99, q.max
        );
        if let Some(k) = &report.kernel_uptime_at_ready_ms {
            println!("  kernel uptime at READY p50 {:.0} ms, p99 {:.0} ms", k.p50, k.p99);
        }
    }
    Ok(())
}
