//! The `.def` script grammar (QuickFIX's acceptance-test scripts) and the filling-in of the
//! messages a script sends (`<TIME>`, BodyLength, CheckSum), as QuickFIX's `Reflector.rb` does.

use qp_fix::{SOH, checksum, format_utc_timestamp_ms};

/// A connection of the script: `1` unless the line names one (`I2,8=FIX.4.4…`).
pub type ConnId = u8;

/// One parsed script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The file name (e.g. `2b_MsgSeqNumTooHigh.def`), used in reports.
    pub name: String,
    pub steps: Vec<Step>,
}

/// One action line of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line number in the file.
    pub line: usize,
    pub conn: ConnId,
    pub action: Action,
}

/// What a line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `iCONNECT`: open a connection to the engine under test.
    Connect,
    /// `iDISCONNECT`: close our side of the connection.
    Disconnect,
    /// `I<msg>`: send a message (filled in first).
    Send(Template),
    /// `E<msg>`: expect the engine's next message on this connection to match.
    Expect(Template),
    /// `eCONNECT`: wait for the engine to connect to us (engine as initiator; QuickFIX's
    /// server-side scripts). Parsed, but the runner reports it unsupported.
    ExpectConnect,
    /// `eDISCONNECT`: expect the engine to close the connection, sending nothing first.
    ExpectDisconnect,
}

/// A message line as written, fields separated by SOH, placeholders not yet filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: Vec<u8>,
}

/// Why a script could not be read; names the file and the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("{file}:{line}: syntax error: {text:?}")]
    Syntax { file: String, line: usize, text: String },
    #[error("{file}:{line}: bad placeholder {placeholder:?} (expected <TIME>, <TIME+n> or <TIME-n>)")]
    BadPlaceholder { file: String, line: usize, placeholder: String },
    #[error("{file}:{line}: empty message")]
    EmptyMessage { file: String, line: usize },
    #[error("{file}: no iCONNECT or eCONNECT line")]
    NoConnect { file: String },
}

impl Script {
    /// Parses a script's text. `name` is used in errors and reports.
    pub fn parse(name: &str, text: &[u8]) -> Result<Self, ScriptError> {
        let mut steps = Vec::new();
        for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.is_empty() || raw[0] == b'#' {
                continue;
            }
            let syntax = || ScriptError::Syntax {
                file: name.to_owned(),
                line,
                text: String::from_utf8_lossy(raw).replace(SOH as char, "|"),
            };
            let kind = raw[0];
            if !matches!(kind, b'I' | b'E' | b'i' | b'e') {
                return Err(syntax());
            }
            // `X<digit>,…` names the connection (QuickFIX: `/^[IEie]\d{1},/`).
            let (conn, body) = match raw {
                [_, digit @ b'0'..=b'9', b',', rest @ ..] => (digit - b'0', rest),
                [_, rest @ ..] => (1, rest),
                [] => return Err(syntax()),
            };
            let action = match kind {
                b'i' => match body {
                    b"CONNECT" => Action::Connect,
                    b"DISCONNECT" => Action::Disconnect,
                    _ => return Err(syntax()),
                },
                b'e' => match body {
                    b"CONNECT" => Action::ExpectConnect,
                    b"DISCONNECT" => Action::ExpectDisconnect,
                    _ => return Err(syntax()),
                },
                _ => {
                    if body.is_empty() {
                        return Err(ScriptError::EmptyMessage { file: name.to_owned(), line });
                    }
                    check_placeholders(body).map_err(|placeholder| ScriptError::BadPlaceholder {
                        file: name.to_owned(),
                        line,
                        placeholder,
                    })?;
                    let template = Template { text: body.to_vec() };
                    if kind == b'I' { Action::Send(template) } else { Action::Expect(template) }
                }
            };
            steps.push(Step { line, conn, action });
        }
        if !steps.iter().any(|s| matches!(s.action, Action::Connect | Action::ExpectConnect)) {
            return Err(ScriptError::NoConnect { file: name.to_owned() });
        }
        Ok(Self { name: name.to_owned(), steps })
    }
}

/// Every `<TIME…>` must be `<TIME>`, `<TIME+n>` or `<TIME-n>`; returns the bad one.
fn check_placeholders(body: &[u8]) -> Result<(), String> {
    let mut at = 0;
    while let Some(found) = find(&body[at..], b"<TIME") {
        let start = at + found;
        match parse_placeholder(&body[start..]) {
            Some((_, len)) => at = start + len,
            None => {
                let end =
                    body[start..].iter().position(|&b| b == b'>' || b == SOH).map_or(body.len(), |e| start + e + 1);
                return Err(String::from_utf8_lossy(&body[start..end.min(body.len())]).into_owned());
            }
        }
    }
    Ok(())
}

/// At the head of `text`: `<TIME>` → (0, 6), `<TIME+n>` → (n, len), `<TIME-n>` → (-n, len).
fn parse_placeholder(text: &[u8]) -> Option<(i64, usize)> {
    let rest = text.strip_prefix(b"<TIME")?;
    if rest.first() == Some(&b'>') {
        return Some((0, 6));
    }
    let sign = match rest.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 9 || rest.get(1 + digits) != Some(&b'>') {
        return None;
    }
    let n: i64 = std::str::from_utf8(&rest[1..1 + digits]).ok()?.parse().ok()?;
    Some((sign * n, 5 + 1 + digits + 1))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Template {
    /// A template from text with `|` standing for SOH (tests, hand-written scripts).
    pub fn from_pipes(text: &str) -> Self {
        Self { text: text.replace('|', "\u{1}").into_bytes() }
    }

    /// The text as written (SOH as `|`).
    pub fn display(&self) -> String {
        show(&self.text)
    }

    /// The bytes to send (or compare with): `<TIME>` and `<TIME±n>` replaced by the UTC time
    /// `now_ns` (± n seconds) as `YYYYMMDD-HH:MM:SS`; then, when the line starts with `8=`,
    /// BodyLength inserted after BeginString unless a `9=` field is present, and CheckSum
    /// appended unless a `10=` field ends the line (QuickFIX's `fixify!`). A line not
    /// starting with `8=` is sent as written (`2t_FirstThreeFieldsOutOfOrder`).
    pub fn fill(&self, now_ns: u64) -> Vec<u8> {
        let timed = fill_times(&self.text, now_ns);
        fixify(timed)
    }
}

fn fill_times(text: &[u8], now_ns: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 32);
    let mut at = 0;
    while at < text.len() {
        if text[at] == b'<'
            && let Some((offset_s, len)) = parse_placeholder(&text[at..])
        {
            let ns = now_ns.saturating_add_signed(offset_s.saturating_mul(1_000_000_000));
            let mut stamp = Vec::with_capacity(21);
            format_utc_timestamp_ms(&mut stamp, ns);
            // QuickFIX's runner writes whole seconds (`%Y%m%d-%H:%M:%S`).
            out.extend_from_slice(&stamp[..17.min(stamp.len())]);
            at += len;
        } else {
            out.push(text[at]);
            at += 1;
        }
    }
    out
}

/// BodyLength and CheckSum, as QuickFIX's `fixify!`.
fn fixify(mut message: Vec<u8>) -> Vec<u8> {
    if !message.starts_with(b"8=") {
        return message;
    }
    let Some(head_end) = message.iter().position(|&b| b == SOH).map(|p| p + 1) else { return message };
    let has_length = find(&message, b"\x019=").is_some_and(|p| message[p + 3..].contains(&SOH));
    // A CheckSum field ends the line: `␁10=…␁` at the end.
    let checksum_at = find(&message, b"\x0110=").filter(|_| message.last() == Some(&SOH));
    let tail = match checksum_at {
        Some(p) => message.split_off(p + 1),
        None => Vec::new(),
    };
    let body = message.split_off(head_end);
    let mut out = message;
    if !has_length {
        out.extend_from_slice(format!("9={}\u{1}", body.len()).as_bytes());
    }
    out.extend_from_slice(&body);
    if tail.is_empty() {
        let sum = checksum(&out);
        out.extend_from_slice(format!("10={sum:03}\u{1}").as_bytes());
    } else {
        out.extend_from_slice(&tail);
    }
    out
}

/// Bytes for a report: SOH shown as `|`, other bytes lossily as UTF-8.
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace(SOH as char, "|")
}
