//! Validation of a parsed [`Message`] against the [`Dictionary`]: a separate step, so the
//! session decides what to reject. Every error maps to a [`SessionRejectReason`] (tag 373).

use crate::dictionary::{Dictionary, FieldDef, FieldType, GroupDef, Member, MemberList};
use crate::fixed::{parse_int, parse_uint};
use crate::message::{Field, INVALID_TAG, Message};
use crate::timestamp::parse_utc_timestamp_ns;

/// SessionRejectReason (373) values of FIX 4.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionRejectReason {
    InvalidTagNumber,
    RequiredTagMissing,
    TagNotDefinedForThisMessageType,
    UndefinedTag,
    TagSpecifiedWithoutAValue,
    ValueIsIncorrect,
    IncorrectDataFormatForValue,
    DecryptionProblem,
    SignatureProblem,
    CompIdProblem,
    SendingTimeAccuracyProblem,
    InvalidMsgType,
    XmlValidationError,
    TagAppearsMoreThanOnce,
    TagSpecifiedOutOfRequiredOrder,
    RepeatingGroupFieldsOutOfOrder,
    IncorrectNumInGroupCountForRepeatingGroup,
    NonDataValueIncludesFieldDelimiter,
    Other,
}

impl SessionRejectReason {
    /// The value of tag 373.
    pub fn code(self) -> u32 {
        match self {
            Self::InvalidTagNumber => 0,
            Self::RequiredTagMissing => 1,
            Self::TagNotDefinedForThisMessageType => 2,
            Self::UndefinedTag => 3,
            Self::TagSpecifiedWithoutAValue => 4,
            Self::ValueIsIncorrect => 5,
            Self::IncorrectDataFormatForValue => 6,
            Self::DecryptionProblem => 7,
            Self::SignatureProblem => 8,
            Self::CompIdProblem => 9,
            Self::SendingTimeAccuracyProblem => 10,
            Self::InvalidMsgType => 11,
            Self::XmlValidationError => 12,
            Self::TagAppearsMoreThanOnce => 13,
            Self::TagSpecifiedOutOfRequiredOrder => 14,
            Self::RepeatingGroupFieldsOutOfOrder => 15,
            Self::IncorrectNumInGroupCountForRepeatingGroup => 16,
            Self::NonDataValueIncludesFieldDelimiter => 17,
            Self::Other => 99,
        }
    }

    /// The text QuickFIX puts in Text (58) for this reason.
    pub fn text(self) -> &'static str {
        match self {
            Self::InvalidTagNumber => "Invalid tag number",
            Self::RequiredTagMissing => "Required tag missing",
            Self::TagNotDefinedForThisMessageType => "Tag not defined for this message type",
            Self::UndefinedTag => "Undefined Tag",
            Self::TagSpecifiedWithoutAValue => "Tag specified without a value",
            Self::ValueIsIncorrect => "Value is incorrect (out of range) for this tag",
            Self::IncorrectDataFormatForValue => "Incorrect data format for value",
            Self::DecryptionProblem => "Decryption problem",
            Self::SignatureProblem => "Signature problem",
            Self::CompIdProblem => "CompID problem",
            Self::SendingTimeAccuracyProblem => "SendingTime accuracy problem",
            Self::InvalidMsgType => "Invalid MsgType",
            Self::XmlValidationError => "XML Validation error",
            Self::TagAppearsMoreThanOnce => "Tag appears more than once",
            Self::TagSpecifiedOutOfRequiredOrder => "Tag specified out of required order",
            Self::RepeatingGroupFieldsOutOfOrder => "Repeating group fields out of order",
            Self::IncorrectNumInGroupCountForRepeatingGroup => "Incorrect NumInGroup count for repeating group",
            Self::NonDataValueIncludesFieldDelimiter => "Non Data value includes field delimiter",
            Self::Other => "Other",
        }
    }
}

/// What validation found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationErrorKind {
    /// The tag is not a number, or not in the dictionary.
    InvalidTagNumber,
    RequiredTagMissing,
    /// A defined tag this message type (or group) does not have.
    TagNotDefinedForMessageType,
    TagSpecifiedWithoutValue,
    /// Not one of the field's enumerated values.
    ValueIncorrect,
    /// Not in the field's data format.
    IncorrectDataFormat,
    TagAppearsMoreThanOnce,
    /// A header field after the body, or a body field after the trailer.
    TagOutOfRequiredOrder,
    /// A group member before the delimiter or out of the group's order.
    RepeatingGroupFieldsOutOfOrder,
    /// The NumInGroup value differs from the instances present.
    IncorrectNumInGroupCount,
    /// MsgType (35) is not in the dictionary.
    InvalidMsgType,
}

/// A validation error: what, which tag (RefTagID, 371) and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("FIX validation: {kind:?} for tag {tag} (field {field_index:?}, byte {offset})")]
pub struct ValidationError {
    pub kind: ValidationErrorKind,
    /// The tag the Reject names in RefTagID (371); [`INVALID_TAG`] for a non-numeric tag,
    /// whose text is `message.tag_text(field_index)`.
    pub tag: u32,
    /// Index of the offending field (none for a missing one).
    pub field_index: Option<usize>,
    /// Byte of the offending value in the message (0 for a missing field).
    pub offset: usize,
}

impl ValidationError {
    /// The session-level Reject reason (373).
    pub fn reason(&self) -> SessionRejectReason {
        match self.kind {
            ValidationErrorKind::InvalidTagNumber => SessionRejectReason::InvalidTagNumber,
            ValidationErrorKind::RequiredTagMissing => SessionRejectReason::RequiredTagMissing,
            ValidationErrorKind::TagNotDefinedForMessageType => SessionRejectReason::TagNotDefinedForThisMessageType,
            ValidationErrorKind::TagSpecifiedWithoutValue => SessionRejectReason::TagSpecifiedWithoutAValue,
            ValidationErrorKind::ValueIncorrect => SessionRejectReason::ValueIsIncorrect,
            ValidationErrorKind::IncorrectDataFormat => SessionRejectReason::IncorrectDataFormatForValue,
            ValidationErrorKind::TagAppearsMoreThanOnce => SessionRejectReason::TagAppearsMoreThanOnce,
            ValidationErrorKind::TagOutOfRequiredOrder => SessionRejectReason::TagSpecifiedOutOfRequiredOrder,
            ValidationErrorKind::RepeatingGroupFieldsOutOfOrder => SessionRejectReason::RepeatingGroupFieldsOutOfOrder,
            ValidationErrorKind::IncorrectNumInGroupCount => {
                SessionRejectReason::IncorrectNumInGroupCountForRepeatingGroup
            }
            ValidationErrorKind::InvalidMsgType => SessionRejectReason::InvalidMsgType,
        }
    }
}

fn error_at(kind: ValidationErrorKind, field: &Field<'_>, index: usize) -> ValidationError {
    ValidationError { kind, tag: field.tag, field_index: Some(index), offset: field.offset }
}

fn missing(tag: u32) -> ValidationError {
    ValidationError { kind: ValidationErrorKind::RequiredTagMissing, tag, field_index: None, offset: 0 }
}

/// Tags below this are tracked in a bit set for duplicates; above, by a search.
const SEEN_BITS: usize = 8192;
/// Nesting depth of groups validation follows (FIX 4.4 nests three deep).
const MAX_GROUP_DEPTH: usize = 8;

struct Seen([u64; SEEN_BITS / 64]);

impl Seen {
    /// Marks `tag`; false when it was already marked (or, above the bit set, present
    /// earlier in `message` before `index`).
    fn insert(&mut self, tag: u32, message: &Message<'_>, index: usize) -> bool {
        let tag = tag as usize;
        if tag >= SEEN_BITS {
            return !message.fields().take(index).any(|f| f.tag as usize == tag);
        }
        let (word, bit) = (tag / 64, 1u64 << (tag % 64));
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }

    fn contains(&self, tag: u32, message: &Message<'_>) -> bool {
        let tag = tag as usize;
        if tag >= SEEN_BITS {
            return message.fields().any(|f| f.tag as usize == tag);
        }
        self.0[tag / 64] & (1u64 << (tag % 64)) != 0
    }
}

fn is_decimal(value: &[u8]) -> bool {
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    let mut points = 0;
    let mut any_digit = false;
    for &byte in digits {
        match byte {
            b'0'..=b'9' => any_digit = true,
            b'.' => points += 1,
            _ => return false,
        }
    }
    any_digit && points <= 1
}

fn two_digits(value: &[u8], at: usize, max: u32, min: u32) -> bool {
    match value.get(at..at + 2) {
        Some([a @ b'0'..=b'9', b @ b'0'..=b'9']) => {
            let n = u32::from(a - b'0') * 10 + u32::from(b - b'0');
            (min..=max).contains(&n)
        }
        _ => false,
    }
}

fn is_date(value: &[u8]) -> bool {
    value.len() == 8
        && value[..4].iter().all(u8::is_ascii_digit)
        && two_digits(value, 4, 12, 1)
        && two_digits(value, 6, 31, 1)
}

fn is_time_only(value: &[u8]) -> bool {
    let base = value.len() >= 8
        && two_digits(value, 0, 23, 0)
        && value[2] == b':'
        && two_digits(value, 3, 59, 0)
        && value[5] == b':'
        && two_digits(value, 6, 60, 0);
    base && match value.len() {
        8 => true,
        12 | 15 | 18 => value[8] == b'.' && value[9..].iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

fn is_month_year(value: &[u8]) -> bool {
    let base = value.len() >= 6 && value[..4].iter().all(u8::is_ascii_digit) && two_digits(value, 4, 12, 1);
    base && match value.len() {
        6 => true,
        8 if value[6] == b'w' => matches!(value[7], b'1'..=b'5'),
        8 => two_digits(value, 6, 31, 1),
        _ => false,
    }
}

/// Whether `value` is in `field_type`'s data format.
fn format_ok(field_type: FieldType, value: &[u8]) -> bool {
    match field_type {
        FieldType::Int => parse_int(value).is_ok(),
        FieldType::Length | FieldType::NumInGroup | FieldType::SeqNum => parse_uint(value).is_ok(),
        FieldType::DayOfMonth => parse_uint(value).is_ok_and(|d| (1..=31).contains(&d)),
        FieldType::Float
        | FieldType::Qty
        | FieldType::Price
        | FieldType::PriceOffset
        | FieldType::Amt
        | FieldType::Percentage => is_decimal(value),
        FieldType::Char => value.len() == 1,
        FieldType::Boolean => value == b"Y" || value == b"N",
        FieldType::UtcTimestamp => parse_utc_timestamp_ns(value).is_ok(),
        FieldType::UtcTimeOnly => is_time_only(value),
        FieldType::UtcDateOnly | FieldType::LocalMktDate => is_date(value),
        FieldType::MonthYear => is_month_year(value),
        FieldType::String
        | FieldType::MultipleValueString
        | FieldType::Currency
        | FieldType::Exchange
        | FieldType::Country
        | FieldType::Data
        | FieldType::Other => true,
    }
}

impl Dictionary {
    /// Checks one field on its own: defined tag, a value, its data format, its enumeration.
    pub fn check_field(&self, field: &Field<'_>, index: usize) -> Result<&FieldDef, ValidationError> {
        let def = match field.tag {
            INVALID_TAG => None,
            tag => self.field(tag),
        };
        let Some(def) = def else { return Err(error_at(ValidationErrorKind::InvalidTagNumber, field, index)) };
        if field.value.is_empty() {
            return Err(error_at(ValidationErrorKind::TagSpecifiedWithoutValue, field, index));
        }
        if !format_ok(def.field_type, field.value) {
            return Err(error_at(ValidationErrorKind::IncorrectDataFormat, field, index));
        }
        let allowed = match def.field_type {
            FieldType::MultipleValueString if !def.values.is_empty() => {
                field.value.split(|&b| b == b' ').all(|token| def.allows(token))
            }
            _ => def.allows(field.value),
        };
        if !allowed {
            return Err(error_at(ValidationErrorKind::ValueIncorrect, field, index));
        }
        Ok(def)
    }

    /// Validates `message`: fields defined, with values in format and range; the header
    /// first, the trailer last; no tag twice; each message type's and group's fields and
    /// required fields; groups' delimiter, member order and NumInGroup. Stops at the first
    /// problem (wire order), then checks required fields. Allocates nothing.
    pub fn validate(&self, message: &Message<'_>) -> Result<(), ValidationError> {
        let msg_type_field = message.field(2).ok_or(missing(crate::tag::MSG_TYPE))?;
        let Some(def) = self.message(message.msg_type()) else {
            if msg_type_field.value.is_empty() {
                return Err(error_at(ValidationErrorKind::TagSpecifiedWithoutValue, &msg_type_field, 2));
            }
            return Err(error_at(ValidationErrorKind::InvalidMsgType, &msg_type_field, 2));
        };
        #[derive(PartialEq, PartialOrd)]
        enum Section {
            Header,
            Body,
            Trailer,
        }
        let mut section = Section::Header;
        let mut seen = Seen([0; SEEN_BITS / 64]);
        let mut index = 0;
        while let Some(field) = message.field(index) {
            self.check_field(&field, index)?;
            let (member, this_section) = if let Some(member) = self.header().get(field.tag) {
                (member, Section::Header)
            } else if let Some(member) = self.trailer().get(field.tag) {
                (member, Section::Trailer)
            } else if let Some(member) = def.members.get(field.tag) {
                (member, Section::Body)
            } else {
                return Err(error_at(ValidationErrorKind::TagNotDefinedForMessageType, &field, index));
            };
            if this_section < section {
                return Err(error_at(ValidationErrorKind::TagOutOfRequiredOrder, &field, index));
            }
            section = this_section;
            if !seen.insert(field.tag, message, index) {
                return Err(error_at(ValidationErrorKind::TagAppearsMoreThanOnce, &field, index));
            }
            index = match member {
                Member::Group(group) => self.validate_group(message, index, group, 0)?,
                Member::Field { .. } => index + 1,
            };
        }
        for list in [self.header(), &def.members, self.trailer()] {
            for member in list.members().iter().filter(|m| m.required()) {
                if !seen.contains(member.tag(), message) {
                    return Err(missing(member.tag()));
                }
            }
        }
        Ok(())
    }

    /// Validates the group whose NumInGroup field is at `count_index`; returns the index of
    /// the first field after it.
    fn validate_group(
        &self,
        message: &Message<'_>,
        count_index: usize,
        group: &GroupDef,
        depth: usize,
    ) -> Result<usize, ValidationError> {
        let count_field = message.field(count_index).ok_or(missing(group.count_tag))?;
        let count_error = || error_at(ValidationErrorKind::IncorrectNumInGroupCount, &count_field, count_index);
        if depth >= MAX_GROUP_DEPTH {
            return Err(count_error());
        }
        let declared = parse_uint(count_field.value).map_err(|_| count_error())?;
        let members = &group.members;
        let mut instances = 0u64;
        let mut index = count_index + 1;
        while let Some(field) = message.field(index) {
            if field.tag != group.delimiter {
                if instances == 0 && declared > 0 && members.position(field.tag).is_some() {
                    return Err(error_at(ValidationErrorKind::RepeatingGroupFieldsOutOfOrder, &field, index));
                }
                break;
            }
            instances += 1;
            if instances > declared {
                return Err(count_error());
            }
            index = self.validate_instance(message, index, members, group.delimiter, depth)?;
        }
        if instances != declared {
            return Err(count_error());
        }
        Ok(index)
    }

    /// One group instance, starting at its delimiter (`start`): members in order, each
    /// at most once, required ones present. Returns the index after the instance.
    fn validate_instance(
        &self,
        message: &Message<'_>,
        start: usize,
        members: &MemberList,
        delimiter: u32,
        depth: usize,
    ) -> Result<usize, ValidationError> {
        let list = members.members();
        let mut last: Option<usize> = None;
        let mut index = start;
        while let Some(field) = message.field(index) {
            if index != start && field.tag == delimiter {
                break;
            }
            let Some(position) = members.position(field.tag) else { break };
            if let Some(last) = last {
                if position == last {
                    return Err(error_at(ValidationErrorKind::TagAppearsMoreThanOnce, &field, index));
                }
                if position < last {
                    return Err(error_at(ValidationErrorKind::RepeatingGroupFieldsOutOfOrder, &field, index));
                }
            }
            let skipped_from = last.map_or(0, |l| l + 1);
            if let Some(member) = list[skipped_from..position].iter().find(|m| m.required()) {
                return Err(missing(member.tag()));
            }
            self.check_field(&field, index)?;
            index = match &list[position] {
                Member::Group(group) => self.validate_group(message, index, group, depth + 1)?,
                Member::Field { .. } => index + 1,
            };
            last = Some(position);
        }
        let skipped_from = last.map_or(0, |l| l + 1);
        if let Some(member) = list[skipped_from..].iter().find(|m| m.required()) {
            return Err(missing(member.tag()));
        }
        Ok(index)
    }
}
