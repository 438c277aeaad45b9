//! Structured logs: one line per `tracing` event, to the serial console and into a bounded ring
//! the management API serves.
//!
//! The line: `TS_MS LEVEL target: message key=value key="a value" ...`
//! - `TS_MS`: milliseconds since the Unix epoch (the wall clock; a node without a set clock
//!   still orders its lines, and the ring keeps them in order).
//! - `LEVEL`: `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
//! - the event's fields in the order they were recorded. A value that is empty or holds a space,
//!   a quote, `=`, a backslash or a control character is written quoted with Rust's string
//!   escapes, so one event is always one line and `key=value` pairs split unambiguously. Control
//!   characters in the message are escaped the same way.
//! - A line longer than the ring's line limit is cut at a character boundary and ends in `...`
//!   (on the console too: a serial line at 115200 baud carries about 11 KiB/s).
//!
//! Spans are not written (the node's services log events; a span's fields belong in them).
use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::ManagementError;

/// The ring's default length in lines.
pub const DEFAULT_LOG_LINES: usize = 512;
/// The default limit of one line, in bytes.
pub const DEFAULT_LINE_BYTES: usize = 512;

/// What a cut line ends with.
const CUT_MARK: &str = "...";

/// The last lines logged: at most `capacity` of at most `max_line` bytes each, oldest first.
/// Memory is bounded by about `capacity * max_line`. Thread-safe; its lock is held only to push
/// one line or to copy lines out.
#[derive(Debug)]
pub struct LogRing {
    lines: Mutex<VecDeque<String>>,
    capacity: usize,
    max_line: usize,
    pushed: AtomicU64,
}

impl LogRing {
    /// A ring of `capacity` lines (at least 1) of at most `max_line` bytes (at least 16).
    pub fn new(capacity: usize, max_line: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            lines: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            max_line: max_line.max(16),
            pushed: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Lines pushed since the start, including those the ring has since dropped.
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `line` (cut to the line limit; a line break in it becomes a space), dropping the
    /// oldest line when full.
    pub fn push(&self, line: &str) {
        let line = cap_line(line, self.max_line);
        let line: Cow<'_, str> =
            if line.contains(['\n', '\r']) { Cow::Owned(line.replace(['\n', '\r'], " ")) } else { line };
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        // Full: reuse the oldest line's buffer (at most `max_line` long), no allocation.
        let mut slot = if lines.len() >= self.capacity { lines.pop_front().unwrap_or_default() } else { String::new() };
        slot.clear();
        slot.push_str(&line);
        lines.push_back(slot);
        drop(lines);
        self.pushed.fetch_add(1, Ordering::Relaxed);
    }

    /// The last `n` lines (fewer when the ring holds fewer), oldest first.
    pub fn last(&self, n: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let skip = lines.len().saturating_sub(n);
        lines.iter().skip(skip).cloned().collect()
    }
}

/// `line` cut to at most `max` bytes at a character boundary, ending in [`CUT_MARK`].
fn cap_line(line: &str, max: usize) -> Cow<'_, str> {
    if line.len() <= max {
        return Cow::Borrowed(line);
    }
    let mut end = max.saturating_sub(CUT_MARK.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{CUT_MARK}", &line[..end]))
}

/// The `tracing` layer: each event as one line to the console (when given) and into the ring.
/// A console that fails (a serial port gone) loses the line there; the ring still has it.
pub struct StructuredLayer {
    ring: Arc<LogRing>,
    console: Option<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for StructuredLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StructuredLayer").field("ring", &self.ring).field("console", &self.console.is_some()).finish()
    }
}

impl StructuredLayer {
    pub fn new(ring: Arc<LogRing>, console: Option<Box<dyn Write + Send>>) -> Self {
        Self { ring, console: console.map(Mutex::new) }
    }
}

impl<S: Subscriber> Layer<S> for StructuredLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let ts_ms = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let line = format_event(ts_ms, event);
        let line = cap_line(&line, self.ring.max_line());
        if let Some(console) = &self.console {
            let mut bytes = Vec::with_capacity(line.len() + 1);
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            let mut console = console.lock().unwrap_or_else(PoisonError::into_inner);
            // Nowhere to report a console that fails: the ring keeps the line.
            let _ = console.write_all(&bytes).and_then(|()| console.flush());
        }
        self.ring.push(&line);
    }
}

/// One event as one line (see the module's documentation).
pub(crate) fn format_event(ts_ms: u64, event: &Event<'_>) -> String {
    let meta = event.metadata();
    let mut visitor = LineVisitor::default();
    event.record(&mut visitor);
    // Events forwarded from the `log` crate carry their real target as a field.
    let target = visitor.log_target.as_deref().unwrap_or(meta.target());
    let mut line = format!("{ts_ms} {} {target}: ", meta.level());
    escape_into(&mut line, &visitor.message, false);
    line.push_str(&visitor.fields);
    line
}

#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
    log_target: Option<String>,
}

impl LineVisitor {
    fn record_text(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "log.target" => self.log_target = Some(value.to_owned()),
            name if name.starts_with("log.") => {}
            name => {
                let _ = write!(self.fields, " {name}=");
                escape_into(&mut self.fields, value, true);
            }
        }
    }
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_text(field, &format!("{value:?}"));
    }
}

/// Appends `text`; with `quote_if_needed`, quoted when it would not read back as one value.
/// Control characters are always escaped.
fn escape_into(out: &mut String, text: &str, quote_if_needed: bool) {
    let needs_quotes = quote_if_needed
        && (text.is_empty() || text.chars().any(|c| c == ' ' || c == '"' || c == '=' || c == '\\' || c.is_control()));
    if needs_quotes {
        let _ = write!(out, "{text:?}");
    } else if text.chars().any(char::is_control) {
        for c in text.chars() {
            if c.is_control() {
                out.extend(c.escape_debug());
            } else {
                out.push(c);
            }
        }
    } else {
        out.push_str(text);
    }
}

/// Installs the global `tracing` subscriber: events passing `filter` (an `EnvFilter`
/// directive such as `info` or `info,qp_management=debug`) as one line each to `console` (the
/// serial console; stdout in development) and into `ring`. Never panics: a bad filter or a
/// subscriber already installed is an error.
pub fn install(ring: Arc<LogRing>, console: Box<dyn Write + Send>, filter: &str) -> Result<(), ManagementError> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let env_filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|err| ManagementError::LogFilter { filter: filter.to_owned(), reason: err.to_string() })?;
    tracing_subscriber::registry()
        .with(StructuredLayer::new(ring, Some(console)).with_filter(env_filter))
        .try_init()
        .map_err(|err| ManagementError::LogInstall(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_a_character_boundary() {
        assert_eq!(cap_line("short", 16), "short");
        let long = "é".repeat(20);
        let cut = cap_line(&long, 16);
        assert!(cut.len() <= 16 && cut.ends_with(CUT_MARK), "{cut}");
        assert!(cut.starts_with("ééé"));
    }

    #[test]
    fn values_are_quoted_only_when_needed() {
        let mut out = String::new();
        escape_into(&mut out, "plain", true);
        out.push(' ');
        escape_into(&mut out, "two words", true);
        out.push(' ');
        escape_into(&mut out, "", true);
        out.push(' ');
        escape_into(&mut out, "a\nb", false);
        assert_eq!(out, r#"plain "two words" "" a\nb"#);
    }
}
