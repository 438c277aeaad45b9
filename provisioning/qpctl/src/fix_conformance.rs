//! `qpctl fix conformance`: QuickFIX's FIX 4.4 session acceptance scripts against the project's
//! acceptor: in process on a virtual clock, or with `--tcp` over sockets on 127.0.0.1 (see
//! `agents/fix-conformance/DESIGN.md`).

use std::path::PathBuf;

use anyhow::Context;
use qp_fix::Dictionary;
use qp_fix_conformance::{InProcessConfig, InProcessTarget, RunOptions, ScriptResult, Summary, load_scripts, run_all};

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
    /// Run against the acceptor over TCP on 127.0.0.1 with the wall clock (the scripts run
    /// side by side; the slowest, 6_SendTestRequest, waits ~34 s of heartbeats) instead of
    /// in process on a virtual clock.
    #[arg(long)]
    pub tcp: bool,
}

pub fn run(args: ConformanceArgs) -> anyhow::Result<()> {
    let dictionary_path = args
        .dictionary
        .or_else(|| std::env::var_os("QP_FIX44_XML").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".cache/fix/FIX44.xml"));
    let dictionary = Dictionary::load(&dictionary_path)
        .with_context(|| format!("loading {} (run `cargo xtask setup`)", dictionary_path.display()))?;
    let scripts = load_scripts(&args.defs)?;
    let (results, target) = if args.tcp {
        (run_over_tcp(&scripts, dictionary)?, "tcp 127.0.0.1")
    } else {
        let config = InProcessConfig::default();
        (run_all(&scripts, || InProcessTarget::new(&dictionary, &config), &RunOptions::default()), "in-process")
    };
    let summary = Summary::new(target, &results);
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

/// Every script against its own acceptor on its own port, side by side.
fn run_over_tcp(scripts: &[qp_fix_conformance::Script], dictionary: Dictionary) -> anyhow::Result<Vec<ScriptResult>> {
    use std::sync::Arc;

    use qp_fix_venue::conformance::TcpTarget;

    let dictionary = Arc::new(dictionary);
    let options = RunOptions::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = scripts
            .chunks(1)
            .map(|chunk| {
                let dictionary = Arc::clone(&dictionary);
                scope.spawn(move || -> anyhow::Result<Vec<ScriptResult>> {
                    let mut results = Vec::new();
                    for script in chunk {
                        let mut target = TcpTarget::start(Arc::clone(&dictionary), "ISLD", "TW44")?;
                        results.push(qp_fix_conformance::run_script(script, &mut target, &options));
                    }
                    Ok(results)
                })
            })
            .collect();
        let mut all = Vec::with_capacity(scripts.len());
        for handle in handles {
            let results = handle.join().map_err(|_| anyhow::anyhow!("a conformance thread panicked"))??;
            all.extend(results);
        }
        Ok(all)
    })
}
