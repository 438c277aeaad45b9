//! Fuzz the FIX 4.4 framing, parser, typed readers and dictionary validation of `qp-fix`.
//!
//! The input is a receive buffer: messages are framed and parsed off its head one at a
//! time, as a session would. Framing must answer a message, "need more", or a typed error
//! whose `discard_bytes` makes progress; parsing and validation answer or fail with typed
//! errors, never panic. With `QP_FIX44_XML` set, messages are validated against the real
//! dictionary; without it, against a small built-in one.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use qp_fix::messages::{ExecutionReport, NewOrderSingle};
use qp_fix::{Decoded, Dictionary, Header, ParseError, Scale, decode, decode_as};

const SMALL_DICTIONARY: &str = "<fix><header><field name='BeginString' required='Y'/><field name='BodyLength' \
    required='Y'/><field name='MsgType' required='Y'/><field name='MsgSeqNum' required='Y'/></header>\
    <messages><message name='NewOrderSingle' msgtype='D'><field name='ClOrdID' required='Y'/>\
    <group name='NoPartyIDs' required='N'><field name='PartyID' required='N'/><field name='PartyRole' \
    required='N'/></group></message></messages><trailer><field name='CheckSum' required='Y'/></trailer>\
    <fields><field number='8' name='BeginString' type='STRING'/><field number='9' name='BodyLength' \
    type='LENGTH'/><field number='35' name='MsgType' type='STRING'/><field number='34' name='MsgSeqNum' \
    type='SEQNUM'/><field number='11' name='ClOrdID' type='STRING'/><field number='453' name='NoPartyIDs' \
    type='NUMINGROUP'/><field number='448' name='PartyID' type='STRING'/><field number='452' \
    name='PartyRole' type='INT'><value enum='1' description='X'/></field><field number='10' \
    name='CheckSum' type='STRING'/></fields></fix>";

fn dictionary() -> &'static Dictionary {
    static DICTIONARY: OnceLock<Dictionary> = OnceLock::new();
    DICTIONARY.get_or_init(|| match std::env::var_os("QP_FIX44_XML") {
        Some(path) => Dictionary::load(std::path::Path::new(&path)).expect("QP_FIX44_XML loads"),
        None => Dictionary::from_xml(SMALL_DICTIONARY).expect("built-in dictionary loads"),
    })
}

fuzz_target!(|data: &[u8]| {
    let dictionary = dictionary();
    let scale = Scale::new(2, 3);
    let mut rest = data;
    while !rest.is_empty() {
        match decode(rest) {
            Ok(Decoded::Message { message, len_bytes }) => {
                assert!(len_bytes > 0 && len_bytes <= rest.len());
                assert_eq!(message.as_bytes(), &rest[..len_bytes]);
                assert_eq!(message.msg_type(), message.get(35).unwrap_or_default());
                assert!(message.body_start() <= message.trailer_start() && message.trailer_start() <= message.len());
                for field in message.fields() {
                    assert!(field.offset + field.value.len() <= len_bytes);
                }
                if let Err(error) = dictionary.validate(&message) {
                    assert!(!error.to_string().is_empty());
                    let _ = error.reason().code();
                }
                let _ = Header::decode(&message);
                let _ = decode_as::<NewOrderSingle<'_>>(&message, scale);
                let _ = decode_as::<ExecutionReport<'_>>(&message, scale);
                rest = &rest[len_bytes..];
            }
            Ok(Decoded::NeedMore) => break,
            Err(ParseError::Frame(error)) => {
                assert!(error.discard_bytes >= 1 && error.offset <= rest.len());
                rest = &rest[error.discard_bytes.min(rest.len())..];
            }
            Err(error) => {
                assert!(!error.to_string().is_empty());
                break;
            }
        }
    }
});
