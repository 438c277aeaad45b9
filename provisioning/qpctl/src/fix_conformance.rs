//! `qpctl fix conformance`: QuickFIX's FIX 4.4 session acceptance scripts against the project's
//! acceptor (in process, on a virtual clock; see `agents/fix-conformance/DESIGN.md`).

use std::path::PathBuf;

use anyhow::Context;
use qp_fix::Dictionary;
use qp_fix_conformance::{InProcessConfig, InProcessTarget, RunOptions, Summary, load_scripts, run_all};

#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {
    /// Folder of `.def` scripts (QuickFIX's `test/definitions/server/fix44`, e.g.
    /// `../shared/data/quickfix/fix44`).
    #[arg(long)]
    pub defs: PathBuf,
    /// QuickFIX's FIX44.xml (default: $QP_FIX44_XML, else `.cache/fix/FIX44.xml`).
    #[arg(long)]
    pub dictionary: Option<PathBuf>,
    /// Print `{"passed", "failed", "total", "target", "failures": [{"script", "line",
    /// "expected", "got", "reason"}]}` instead of one line per script.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ConformanceArgs) -> anyhow::Result<()> {
    let dictionary_path = args
        .dictionary
        .or_else(|| std::env::var_os("QP_FIX44_XML").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".cache/fix/FIX44.xml"));
    let dictionary = Dictionary::load(&dictionary_path)
        .with_context(|| format!("loading {} (run `cargo xtask setup`)", dictionary_path.display()))?;
    let scripts = load_scripts(&args.defs)?;
    let config = InProcessConfig::default();
    let results = run_all(&scripts, || InProcessTarget::new(&dictionary, &config), &RunOptions::default());
    let summary = Summary::new("in-process", &results);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for result in &results {
            match &result.failure {
                None => println!("pass  {}", result.script),
                Some(f) => {
                    println!("FAIL  {}:{}: {}", f.script, f.line, f.reason);
                    println!("        expected: {}", f.expected);
                    println!("        got:      {}", f.got);
                }
            }
        }
        println!("{} of {} scripts passed ({})", summary.passed, summary.total, summary.target);
    }
    if summary.failed > 0 {
        anyhow::bail!("{} of {} conformance scripts failed", summary.failed, summary.total);
    }
    Ok(())
}
