//! The runner fails when the engine does not do what the script says: a script that expects
//! something wrong fails, at the right line, with what was expected and what came.

use super::*;

const LOGON: &str = "iCONNECT\nI8=FIX.4.4|35=A|34=1|49=TW44|52=<TIME>|56=ISLD|98=0|108=30|\n";
const LOGON_ANSWER: &str = "E8=FIX.4.4|9=63|35=A|34=1|49=ISLD|52=00000000-00:00:00.000|56=TW44|98=0|108=30|10=0|\n";

#[test]
fn a_correct_script_passes() {
    let result = run_text(&format!(
        "{LOGON}{LOGON_ANSWER}I8=FIX.4.4|35=5|34=2|49=TW44|52=<TIME>|56=ISLD|\n\
         E8=FIX.4.4|9=51|35=5|34=2|49=ISLD|52=00000000-00:00:00.000|56=TW44|10=0|\neDISCONNECT\n"
    ));
    assert!(result.passed(), "{:?}", result.failure);
    assert_eq!(result.steps_run, 6);
}

#[test]
fn scripts_expecting_something_wrong_fail_at_their_line() {
    let logout = "I8=FIX.4.4|35=5|34=2|49=TW44|52=<TIME>|56=ISLD|\n";
    let cases: Vec<(String, usize, &str, &str)> = vec![
        // The wrong MsgSeqNum in the answer.
        (
            format!("{LOGON}{}", LOGON_ANSWER.replace("34=1", "34=2")),
            3,
            "Value in field (34) should be (2) but was (1)",
            "8=FIX.4.4|9=63|35=A|34=1|49=ISLD|",
        ),
        // The wrong HeartBtInt.
        (format!("{LOGON}{}", LOGON_ANSWER.replace("108=30", "108=31")), 3, "Value in field (108)", "|108=30|"),
        // A message the engine never sends: the Logout is answered, then the engine closes.
        (
            format!(
                "{LOGON}{LOGON_ANSWER}{logout}E8=FIX.4.4|35=5|34=2|49=ISLD|52=<TIME>|56=TW44|\n\
                 E8=FIX.4.4|35=0|34=3|49=ISLD|52=<TIME>|56=TW44|\n"
            ),
            6,
            "Was disconnected, expected data",
            "<disconnected>",
        ),
        // Expecting a disconnect where the engine answers.
        (format!("{LOGON}eDISCONNECT\n"), 3, "Expected disconnection, got data", "35=A"),
        // Expecting a disconnect where the engine stays connected and quiet (HeartBtInt 30 s:
        // nothing within the 10 s wait).
        (format!("{LOGON}{LOGON_ANSWER}eDISCONNECT\n"), 4, "Connection hangs", "<still connected"),
        // Expecting data where none comes: a Logout with no answer expected from a bad CompID.
        (
            "iCONNECT\nI8=FIX.4.4|35=A|34=1|49=WT|52=<TIME>|56=ISLD|98=0|108=30|\n".to_owned() + LOGON_ANSWER,
            3,
            "Was disconnected",
            "<disconnected>",
        ),
        // Sending on a connection the script never opened.
        (format!("{LOGON}I2,8=FIX.4.4|35=0|\n"), 3, "Unable to send message", ""),
    ];
    for (text, line, reason, got) in cases {
        let result = run_text(&text);
        let failure = result.failure.unwrap_or_else(|| panic!("passed but must fail:\n{text}"));
        assert_eq!(failure.line, line, "{failure:?}");
        assert!(failure.reason.starts_with(reason), "{failure:?}");
        assert!(failure.got.contains(got), "{failure:?}");
        assert_eq!(failure.script, "inline.def");
    }
}

#[test]
fn every_quickfix_script_with_one_expectation_changed_fails() {
    // Mutate each script's first E line that carries MsgSeqNum: 34=N → 34=N+100. A runner
    // that compared nothing would pass them all.
    let scripts = load_scripts(&defs_dir()).unwrap();
    let mut mutated = 0;
    for script in &scripts {
        let mut bad = script.clone();
        let Some(step) = bad.steps.iter_mut().find(|s| matches!(s.action, Action::Expect(_))) else { continue };
        let Action::Expect(template) = &step.action else { unreachable!() };
        let text = template.display();
        let Some(at) = text.find("|34=") else { continue };
        let end = text[at + 4..].find('|').unwrap() + at + 4;
        let seq: u64 = text[at + 4..end].parse().unwrap();
        let line = step.line;
        step.action =
            Action::Expect(Template::from_pipes(&format!("{}{}{}", &text[..at + 4], seq + 100, &text[end..])));
        let result = run_script(&bad, &mut in_process(), &RunOptions::default());
        let failure = result.failure.unwrap_or_else(|| panic!("{}: mutated script passed", script.name));
        assert_eq!(failure.line, line, "{failure:?}");
        mutated += 1;
    }
    assert!(mutated >= 50, "only {mutated} scripts mutated");
}

#[test]
fn summary_json_has_the_documented_shape() {
    let results = [
        run_text(&format!("{LOGON}{LOGON_ANSWER}")),
        run_text(&format!("{LOGON}{}", LOGON_ANSWER.replace("34=1", "34=9"))),
    ];
    let json = serde_json::to_value(Summary::new("in-process", &results)).unwrap();
    assert_eq!(json["passed"], 1);
    assert_eq!(json["failed"], 1);
    assert_eq!(json["total"], 2);
    let failure = &json["failures"][0];
    assert_eq!(failure["script"], "inline.def");
    assert_eq!(failure["line"], 3);
    assert!(failure["expected"].as_str().unwrap().contains("|34=9|"));
    assert!(failure["got"].as_str().unwrap().contains("|34=1|"));
}

#[test]
fn frame_splitter_reports_garbage_and_splits_a_stream() {
    let one = Template::from_pipes("8=FIX.4.4|35=0|34=1|").fill(VIRTUAL_EPOCH_NS);
    let mut splitter = FrameSplitter::new();
    let mut stream = one.clone();
    stream.extend_from_slice(b"garbage");
    stream.extend_from_slice(&one);
    for chunk in stream.chunks(5) {
        splitter.push(chunk);
    }
    let mut got = Vec::new();
    while let Some(received) = splitter.next_message() {
        got.push(received);
    }
    assert_eq!(got, [Received::Message(one.clone()), Received::Garbled(b"garbage".to_vec()), Received::Message(one)]);
    assert_eq!(splitter.pending(), 0);
}
