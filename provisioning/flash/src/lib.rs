//! `qpctl flash`: writes a sealed disk image (`disk.img` from `qpctl image build`) to a block
//! device or a file, after printing what it will overwrite and asking; shows progress; flushes to
//! stable storage; reads the target back and checks its SHA-256.
//!
//! Refused before anything is written, each with a typed [`FlashError`]: an image that is not a
//! GPT disk image, a target that is the image, a target smaller than the image, a mounted target
//! (or one whose partitions or stacked devices are mounted or in use), a partition instead of a
//! disk, a read-only or non-512-byte-sector device, and anything that is neither a block device
//! nor a regular file. Design: `provisioning/flash/DESIGN.md`.
#![forbid(unsafe_code)]

mod error;
mod gpt;
mod host;
mod plan;
mod write;

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use error::FlashError;
pub use gpt::{
    ExistingContents, GptPartition, GptProbe, IMAGE_SECTOR_BYTES, MAX_PARTITION_ENTRIES, has_protective_mbr,
    identify_contents, probe_gpt,
};
pub use host::{
    BlockDeviceInfo, DeviceNumber, Holder, Host, MountEntry, MountTable, Sysfs, SysfsDevice, check_block_device,
    check_target_size,
};
pub use plan::{FlashPlan, TargetIdentity, TargetKind};
pub use write::{BLOCK_BYTES, FlashReport, ReadBack, hex, measure_raw_write, verify};

/// `qpctl flash`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct FlashArgs {
    /// The sealed disk image (`disk.img` from `qpctl image build`).
    #[arg(long, value_name = "IMG")]
    pub image: PathBuf,
    /// The whole-disk block device or the file to write it to; what is on it is overwritten.
    #[arg(long, value_name = "DEVICE|FILE")]
    pub target: PathBuf,
    /// Do not ask before overwriting (for scripts); what will be overwritten is still printed.
    #[arg(long)]
    pub yes: bool,
}

/// Plans, describes, asks `confirm` (unless `--yes`), writes with a progress bar on stderr and
/// verifies; the description and the report go to stdout.
pub fn run(args: FlashArgs, confirm: &mut dyn FnMut(&str) -> bool) -> Result<FlashReport, FlashError> {
    run_with_output(args, confirm, &mut io::stdout())
}

/// [`run`], printing to `out` instead of stdout.
pub fn run_with_output(
    args: FlashArgs,
    confirm: &mut dyn FnMut(&str) -> bool,
    out: &mut dyn Write,
) -> Result<FlashReport, FlashError> {
    let plan = FlashPlan::inspect(&args.image, &args.target)?;
    // Printing is for the operator; a closed stdout in a script must not stop a `--yes` flash,
    // so a failed print is not an error (the confirmation question goes through `confirm`).
    let _ = writeln!(out, "{}", plan.describe());
    if !args.yes {
        let question = format!("Overwrite {} with {}?", args.target.display(), args.image.display());
        if !confirm(&question) {
            return Err(FlashError::NotConfirmed { target: args.target });
        }
    }
    // The answer may have come minutes later: look again, and write only to what was described.
    let fresh = FlashPlan::inspect(&args.image, &args.target)?;
    if fresh.target_identity() != plan.target_identity() {
        return Err(FlashError::TargetChanged {
            target: args.target,
            what: format!("it was {:?}, now it is {:?}", plan.target_identity(), fresh.target_identity()),
        });
    }

    let bar = progress_bar(fresh.image_bytes());
    let report = fresh.execute(&mut |written, total| {
        bar.set_position(written);
        if written == total {
            bar.set_message("written; reading back to verify");
        }
    });
    bar.finish_and_clear();
    let report = report?;
    let _ = writeln!(out, "{report}");
    Ok(report)
}

/// A byte progress bar on stderr, hidden when stderr is not a terminal (logs, CI).
fn progress_bar(total: u64) -> ProgressBar {
    let draw_target =
        if io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(total), draw_target);
    bar.set_style(
        ProgressStyle::with_template("flash [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ({eta}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Asks `question` on stderr and reads one line from stdin: only "y" or "yes" (any case) is yes.
/// End of input or a read error is no.
pub fn prompt_stdin(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    match io::stdin().lock().read_line(&mut answer) {
        Ok(_) => is_yes(&answer),
        Err(_) => false,
    }
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::is_yes;

    #[test]
    fn only_y_and_yes_are_yes() {
        assert!(is_yes("y\n"));
        assert!(is_yes(" YES \n"));
        assert!(!is_yes("\n"));
        assert!(!is_yes("yeah\n"));
        assert!(!is_yes("n\n"));
    }
}
