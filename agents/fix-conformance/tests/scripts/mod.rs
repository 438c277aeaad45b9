//! All 59 of QuickFIX's FIX 4.4 session scripts pass against the in-process acceptor.

use super::*;

#[test]
fn all_quickfix_fix44_scripts_pass_in_process() {
    let scripts = load_scripts(&defs_dir()).unwrap();
    assert_eq!(scripts.len(), 59, "QuickFIX's fix44 suite has 59 scripts");
    let results = run_all(&scripts, in_process, &RunOptions::default());
    let summary = Summary::new("in-process", &results);
    let report: Vec<String> = summary
        .failures
        .iter()
        .map(|f| format!("{}:{}: {}\n  expected: {}\n  got:      {}", f.script, f.line, f.reason, f.expected, f.got))
        .collect();
    assert_eq!(summary.passed, 59, "{} failed:\n{}", summary.failed, report.join("\n"));
}
