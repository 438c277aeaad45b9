//! Plays a [`Script`] against a [`ScriptTarget`] and reports the first failure.

use std::collections::BTreeSet;
use std::time::Duration;

use qp_fix::{FrameError, Framing, frame};

use crate::compare::compare;
use crate::script::{Action, ConnId, Script, show};

/// The engine under test as the runner sees it: connections it can open, write to, read
/// messages from and close, and the time the engine reads (for `<TIME>`).
///
/// The in-process target ([`crate::InProcessTarget`]) drives a `qp_fix` session with a
/// virtual clock; a TCP target connects to an acceptor on a socket and uses real time. A
/// target must hand the runner whole messages in the order the engine wrote them, and report
/// the engine closing a connection only after every message written before the close.
pub trait ScriptTarget {
    /// Unix time in nanoseconds as the engine under test reads it.
    fn now_ns(&mut self) -> u64;
    /// Opens connection `conn` to the engine.
    fn connect(&mut self, conn: ConnId) -> Result<(), TargetError>;
    /// Writes bytes on connection `conn`. Writing to a connection the engine has already
    /// closed is not an error (as with TCP, the bytes are lost): the script's next
    /// expectation says whether the close was right.
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> Result<(), TargetError>;
    /// The next message the engine wrote on `conn`, waiting up to `wait` (of the target's
    /// time: real, or virtual for an in-process target, whose timers run meanwhile).
    fn receive(&mut self, conn: ConnId, wait: Duration) -> Result<Received, TargetError>;
    /// Closes our side of `conn` (`iDISCONNECT`, and at the end of a script).
    fn disconnect(&mut self, conn: ConnId);
}

/// What [`ScriptTarget::receive`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// One whole message (BodyLength and CheckSum verified by the target's splitter).
    Message(Vec<u8>),
    /// The engine sent bytes that do not frame as a FIX message.
    Garbled(Vec<u8>),
    /// The engine closed the connection (after everything it wrote before).
    Disconnected,
    /// Nothing within the wait.
    Nothing,
}

/// A target that could not do what was asked (socket error, refused connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target: {message}")]
pub struct TargetError {
    pub message: String,
}

impl TargetError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// How long the runner waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// For an `E` line. QuickFIX's runner blocks until data or a close; this is the bound.
    pub expect_wait: Duration,
    /// For an `eDISCONNECT` line (QuickFIX: ten seconds).
    pub disconnect_wait: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { expect_wait: Duration::from_secs(60), disconnect_wait: Duration::from_secs(10) }
    }
}

/// The first failure of a script.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub script: String,
    /// 1-based line of the step that failed.
    pub line: usize,
    /// What the line expected (SOH as `|`), filled in.
    pub expected: String,
    /// What came instead (SOH as `|`), or `<disconnected>`, `<nothing within N s>`, `<garbled: …>`.
    pub got: String,
    /// Why it does not match (QuickFIX's wording where it has one).
    pub reason: String,
}

/// One script's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptResult {
    pub script: String,
    /// Steps run (all of them when passed).
    pub steps_run: usize,
    pub failure: Option<Failure>,
}

impl ScriptResult {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Several scripts' results, in the shape `qpctl fix conformance --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub target: String,
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub failures: Vec<Failure>,
}

impl Summary {
    pub fn new(target: &str, results: &[ScriptResult]) -> Self {
        let failures: Vec<Failure> = results.iter().filter_map(|r| r.failure.clone()).collect();
        Self {
            target: target.to_owned(),
            total: results.len(),
            passed: results.len() - failures.len(),
            failed: failures.len(),
            failures,
        }
    }
}

/// Runs `script` against `target`, stopping at the first failure; closes every connection
/// the script opened at the end (QuickFIX's `stop`). Messages the engine sends after the
/// last line are not examined (as in QuickFIX).
pub fn run_script(script: &Script, target: &mut dyn ScriptTarget, options: &RunOptions) -> ScriptResult {
    let mut opened: BTreeSet<ConnId> = BTreeSet::new();
    let mut steps_run = 0;
    let mut failure = None;
    for step in &script.steps {
        steps_run += 1;
        let fail = |expected: String, got: String, reason: String| Failure {
            script: script.name.clone(),
            line: step.line,
            expected,
            got,
            reason,
        };
        let outcome: Result<(), Failure> = match &step.action {
            Action::Connect => {
                opened.insert(step.conn);
                target.connect(step.conn).map_err(|e| fail("CONNECT".into(), String::new(), e.to_string()))
            }
            Action::Disconnect => {
                opened.remove(&step.conn);
                target.disconnect(step.conn);
                Ok(())
            }
            Action::ExpectConnect => Err(fail(
                "CONNECT (from the engine)".into(),
                String::new(),
                "engine-as-initiator scripts (eCONNECT) are not supported".into(),
            )),
            Action::Send(template) => {
                if opened.contains(&step.conn) {
                    let now = target.now_ns();
                    let bytes = template.fill(now);
                    target.send(step.conn, &bytes).map_err(|e| fail(show(&bytes), String::new(), e.to_string()))
                } else {
                    Err(fail(
                        template.display(),
                        String::new(),
                        "Unable to send message because connection was dropped".into(),
                    ))
                }
            }
            Action::Expect(template) => {
                let now = target.now_ns();
                let expected = template.fill(now);
                match target.receive(step.conn, options.expect_wait) {
                    Ok(Received::Message(got)) => compare(&expected, &got)
                        .map_err(|mismatch| fail(show(&expected), show(&got), mismatch.to_string())),
                    Ok(Received::Garbled(got)) => Err(fail(
                        show(&expected),
                        format!("<garbled: {}>", show(&got)),
                        "the engine sent bytes that do not frame as FIX 4.4".into(),
                    )),
                    Ok(Received::Disconnected) => {
                        Err(fail(show(&expected), "<disconnected>".into(), "Was disconnected, expected data".into()))
                    }
                    Ok(Received::Nothing) => Err(fail(
                        show(&expected),
                        format!("<nothing within {} s>", options.expect_wait.as_secs()),
                        "no message arrived".into(),
                    )),
                    Err(e) => Err(fail(show(&expected), String::new(), e.to_string())),
                }
            }
            Action::ExpectDisconnect => match target.receive(step.conn, options.disconnect_wait) {
                Ok(Received::Disconnected) => Ok(()),
                Ok(Received::Message(got) | Received::Garbled(got)) => {
                    Err(fail("DISCONNECT".into(), show(&got), "Expected disconnection, got data".into()))
                }
                Ok(Received::Nothing) => Err(fail(
                    "DISCONNECT".into(),
                    format!("<still connected after {} s>", options.disconnect_wait.as_secs()),
                    "Connection hangs".into(),
                )),
                Err(e) => Err(fail("DISCONNECT".into(), String::new(), e.to_string())),
            },
        };
        if let Err(f) = outcome {
            failure = Some(f);
            break;
        }
    }
    for conn in opened {
        target.disconnect(conn);
    }
    ScriptResult { script: script.name.clone(), steps_run, failure }
}

/// Splits a byte stream from the engine into whole messages, each verified by
/// [`qp_fix::frame`] (BodyLength and CheckSum): stricter than QuickFIX's runner, which
/// trusts BodyLength and does not check the CheckSum.
#[derive(Debug, Default, Clone)]
pub struct FrameSplitter {
    buf: Vec<u8>,
}

impl FrameSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet a whole message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, or the garbled bytes a framing error makes us drop.
    pub fn next_message(&mut self) -> Option<Received> {
        if self.buf.is_empty() {
            return None;
        }
        match frame(&self.buf) {
            Ok(Framing::NeedMore) => None,
            Ok(Framing::Complete { len_bytes, .. }) => Some(Received::Message(self.buf.drain(..len_bytes).collect())),
            Err(FrameError { discard_bytes, .. }) => {
                let n = discard_bytes.clamp(1, self.buf.len());
                Some(Received::Garbled(self.buf.drain(..n).collect()))
            }
        }
    }
}
