//! The script grammar, on hostile input: typed errors naming file and line.

use super::*;

fn parse(text: &str) -> Result<Script, ScriptError> {
    Script::parse("t.def", text.replace('|', "\u{1}").as_bytes())
}

#[test]
fn grammar_connections_comments_and_line_numbers() {
    let script =
        parse("# comment\n\niCONNECT\nI8=FIX.4.4|35=0|\r\nE2,8=FIX.4.4|35=0|\ne2,DISCONNECT\ni1,DISCONNECT\neCONNECT")
            .unwrap();
    let summary: Vec<(usize, u8, &str)> = script
        .steps
        .iter()
        .map(|s| {
            let kind = match s.action {
                Action::Connect => "connect",
                Action::Disconnect => "disconnect",
                Action::Send(_) => "send",
                Action::Expect(_) => "expect",
                Action::ExpectConnect => "expect-connect",
                Action::ExpectDisconnect => "expect-disconnect",
            };
            (s.line, s.conn, kind)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (3, 1, "connect"),
            (4, 1, "send"),
            (5, 2, "expect"),
            (6, 2, "expect-disconnect"),
            (7, 1, "disconnect"),
            (8, 1, "expect-connect")
        ]
    );
}

#[test]
fn hostile_lines_are_typed_errors_with_file_and_line() {
    let cases = [
        ("iCONNECT\nX8=FIX.4.4|", 2, "syntax"),
        ("iCONNECT\niCONNEC", 2, "syntax"),
        ("iCONNECT\neDISCONNECTED", 2, "syntax"),
        ("iCONNECT\n  I8=FIX.4.4|", 2, "syntax"),
        ("iCONNECT\n\nI", 3, "empty"),
        ("iCONNECT\nI8=FIX.4.4|52=<TIME+x>|", 2, "placeholder"),
        ("iCONNECT\nI8=FIX.4.4|52=<TIME|", 2, "placeholder"),
        ("iCONNECT\nE8=FIX.4.4|52=<TIME-99999999999>|", 2, "placeholder"),
    ];
    for (text, line, kind) in cases {
        let error = parse(text).unwrap_err();
        let (got_line, got_kind) = match &error {
            ScriptError::Syntax { line, file, .. } => (*line, ("syntax", file)),
            ScriptError::EmptyMessage { line, file } => (*line, ("empty", file)),
            ScriptError::BadPlaceholder { line, file, .. } => (*line, ("placeholder", file)),
            ScriptError::NoConnect { .. } => panic!("{text:?}: {error}"),
        };
        assert_eq!((got_line, got_kind.0, got_kind.1.as_str()), (line, kind, "t.def"), "{text:?}: {error}");
        assert!(error.to_string().starts_with(&format!("t.def:{line}:")), "{error}");
    }
    assert!(matches!(parse("# nothing\nI8=FIX.4.4|"), Err(ScriptError::NoConnect { .. })));
    // Binary garbage never panics.
    let garbage: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let _ = Script::parse("g.def", &garbage);
}

#[test]
fn fill_in_time_body_length_and_checksum_like_quickfix() {
    const NOW: u64 = VIRTUAL_EPOCH_NS; // 2024-01-02T03:04:05.678Z
    let filled = |t: &str| show(&Template::from_pipes(t).fill(NOW));
    // BodyLength inserted, whole-second times, CheckSum computed.
    let got = filled("8=FIX.4.4|35=0|52=<TIME>|122=<TIME-121>|60=<TIME+10>|");
    let body = "35=0|52=20240102-03:04:05|122=20240102-03:02:04|60=20240102-03:04:15|";
    assert!(got.starts_with(&format!("8=FIX.4.4|9={}|{body}10=", body.len())), "{got}");
    let bytes = Template::from_pipes("8=FIX.4.4|35=0|").fill(NOW);
    assert!(matches!(qp_fix::frame(&bytes), Ok(qp_fix::Framing::Complete { .. })));
    // An explicit BodyLength or CheckSum is kept as written (garbled on purpose).
    assert_eq!(filled("8=FIX.4.4|9=5|35=0|10=256|"), "8=FIX.4.4|9=5|35=0|10=256|");
    // A line not starting with 8= is sent as written.
    assert_eq!(filled("35=0|8=FIX.4.4|9=29|"), "35=0|8=FIX.4.4|9=29|");
}
