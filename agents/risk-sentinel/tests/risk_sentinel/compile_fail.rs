//! Only RiskSentinel makes a `RiskApproved<OrderIntent>`: code that tries anything else does
//! not compile (`tests/compile_fail/*.rs`, expected errors beside them; regenerate with
//! `TRYBUILD=overwrite` after a toolchain change).
#[test]
fn unapproved_intents_cannot_reach_execution() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail/*.rs");
}
