//! QuickFIX's comparison rule, on hostile input.

use super::*;

fn cmp(expected: &str, got: &str) -> Result<(), Mismatch> {
    compare(expected.replace('|', "\u{1}").as_bytes(), got.replace('|', "\u{1}").as_bytes())
}

#[test]
fn patterns_for_moment_dependent_fields_exact_for_the_rest() {
    let expected = "8=FIX.4.4|9=51|35=0|34=2|49=ISLD|52=00000000-00:00:00.000|56=TW44|10=0|";
    let got = "8=FIX.4.4|9=57|35=0|34=2|49=ISLD|52=20240102-03:04:05.678|56=TW44|10=123|";
    cmp(expected, got).unwrap();
    // 60, 122 are timestamps too; 17/37 any value.
    cmp("60=x|122=y|17=a|37=b|", "60=20240102-03:04:05|122=20240102-03:04:05.000|17=E1|37=O9|").unwrap();
}

#[test]
fn wrong_values_tags_order_counts_and_formats_fail() {
    let base = "8=FIX.4.4|9=51|35=0|34=2|49=ISLD|52=x|56=TW44|10=0|";
    let good = "8=FIX.4.4|9=51|35=0|34=2|49=ISLD|52=20240102-03:04:05.678|56=TW44|10=123|";
    cmp(base, good).unwrap();
    let cases = [
        // wrong value
        (good.replace("34=2", "34=3"), "Value in field (34)"),
        // wrong message type
        (good.replace("35=0", "35=1"), "Value in field (35)"),
        // fields swapped
        (good.replace("49=ISLD|52=20240102-03:04:05.678", "52=20240102-03:04:05.678|49=ISLD"), "Expected field (49)"),
        // one field more, one less
        (good.replace("56=TW44|", "56=TW44|58=x|"), "Number of fields"),
        (good.replace("56=TW44|", ""), "Number of fields"),
        // SendingTime not a timestamp, CheckSum not three digits, BodyLength empty
        (good.replace("52=20240102-03:04:05.678", "52=yesterday"), "Field (52) does not match pattern"),
        (good.replace("10=123", "10=12"), "Field (10) does not match pattern"),
        (good.replace("9=51", "9="), "Field (9) does not match pattern"),
        // a field without '=' and an empty message
        (good.replace("56=TW44", "56TW44"), "Expected field (56)"),
        (String::new(), "Number of fields"),
    ];
    for (got, reason) in cases {
        let error = cmp(base, &got).unwrap_err();
        assert!(error.to_string().starts_with(reason), "{got}: {error}");
    }
    // Binary garbage never panics.
    let garbage: Vec<u8> = (0..=255u8).cycle().take(2048).collect();
    assert!(compare(base.as_bytes(), &garbage).is_err());
}
