//! The FIX 4.4 data dictionary, read from QuickFIX's `FIX44.xml`: fields (number, name,
//! type, enumerated values), the header, the trailer and every message, with components
//! expanded in place and repeating groups kept as groups (count field, delimiter, members
//! in order). A small reader of the file's XML subset: elements and quoted attributes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why a dictionary could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DictionaryError {
    #[error("reading FIX dictionary {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("FIX dictionary XML at byte {offset}: {what}")]
    Xml { offset: usize, what: &'static str },
    #[error("FIX dictionary: <{element}> at byte {offset} lacks attribute '{attribute}'")]
    MissingAttribute { element: String, attribute: &'static str, offset: usize },
    #[error("FIX dictionary: field '{name}' (used in {context}) is not defined in <fields>")]
    UnknownField { name: String, context: String },
    #[error("FIX dictionary: component '{name}' (used in {context}) is not defined in <components>")]
    UnknownComponent { name: String, context: String },
    #[error("FIX dictionary: field number '{text}' of '{name}' is not a tag number below {max}")]
    BadFieldNumber { name: String, text: String, max: u32 },
    #[error("FIX dictionary: group '{name}' in {context} has no members")]
    EmptyGroup { name: String, context: String },
    #[error("FIX dictionary: components nest deeper than {depth} levels at '{name}' (a cycle?)")]
    ComponentsTooDeep { name: String, depth: usize },
    #[error("FIX dictionary: no <{section}> section")]
    MissingSection { section: &'static str },
}

/// Data types of FIX 4.4 fields (what validation checks a value's format against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Int,
    Length,
    NumInGroup,
    SeqNum,
    DayOfMonth,
    Float,
    Qty,
    Price,
    PriceOffset,
    Amt,
    Percentage,
    Char,
    Boolean,
    String,
    MultipleValueString,
    Currency,
    Exchange,
    Country,
    UtcTimestamp,
    UtcTimeOnly,
    UtcDateOnly,
    LocalMktDate,
    MonthYear,
    Data,
    /// A type name this reader does not know: any value is accepted.
    Other,
}

impl FieldType {
    fn from_name(name: &str) -> Self {
        match name {
            "INT" => Self::Int,
            "LENGTH" => Self::Length,
            "NUMINGROUP" => Self::NumInGroup,
            "SEQNUM" => Self::SeqNum,
            "DAYOFMONTH" => Self::DayOfMonth,
            "FLOAT" => Self::Float,
            "QTY" => Self::Qty,
            "PRICE" => Self::Price,
            "PRICEOFFSET" => Self::PriceOffset,
            "AMT" => Self::Amt,
            "PERCENTAGE" => Self::Percentage,
            "CHAR" => Self::Char,
            "BOOLEAN" => Self::Boolean,
            "STRING" => Self::String,
            "MULTIPLEVALUESTRING" => Self::MultipleValueString,
            "CURRENCY" => Self::Currency,
            "EXCHANGE" => Self::Exchange,
            "COUNTRY" => Self::Country,
            "UTCTIMESTAMP" => Self::UtcTimestamp,
            "UTCTIMEONLY" => Self::UtcTimeOnly,
            "UTCDATEONLY" | "UTCDATE" => Self::UtcDateOnly,
            "LOCALMKTDATE" => Self::LocalMktDate,
            "MONTHYEAR" => Self::MonthYear,
            "DATA" => Self::Data,
            _ => Self::Other,
        }
    }
}

/// One field of `<fields>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    pub number: u32,
    pub name: String,
    pub field_type: FieldType,
    /// The enumerated values (`<value enum=…>`); empty: any value of the type.
    pub values: Vec<Box<[u8]>>,
}

impl FieldDef {
    pub fn allows(&self, value: &[u8]) -> bool {
        self.values.is_empty() || self.values.iter().any(|v| **v == *value)
    }
}

/// A member of a message, header, trailer or group, components expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Field { tag: u32, required: bool },
    Group(GroupDef),
}

impl Member {
    /// The field that introduces it (a group's NumInGroup field).
    pub fn tag(&self) -> u32 {
        match self {
            Self::Field { tag, .. } => *tag,
            Self::Group(group) => group.count_tag,
        }
    }

    pub fn required(&self) -> bool {
        match self {
            Self::Field { required, .. } => *required,
            Self::Group(group) => group.required,
        }
    }
}

/// Members in order, with an index from tag to position.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberList {
    members: Vec<Member>,
    /// (tag, position in `members`), sorted by tag.
    index: Vec<(u32, u16)>,
}

impl MemberList {
    fn new(members: Vec<Member>) -> Self {
        let mut index: Vec<(u32, u16)> = members.iter().enumerate().map(|(i, m)| (m.tag(), i as u16)).collect();
        index.sort_unstable();
        Self { members, index }
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Position of the member introduced by `tag`.
    pub fn position(&self, tag: u32) -> Option<usize> {
        self.index.binary_search_by_key(&tag, |&(t, _)| t).ok().map(|i| usize::from(self.index[i].1))
    }

    pub fn get(&self, tag: u32) -> Option<&Member> {
        self.position(tag).map(|i| &self.members[i])
    }
}

/// A repeating group: its NumInGroup field, the delimiter (the first field of every
/// instance) and its members in the required order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDef {
    pub count_tag: u32,
    pub required: bool,
    pub delimiter: u32,
    pub members: MemberList,
}

/// A message type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDef {
    pub msg_type: Box<[u8]>,
    pub name: String,
    pub admin: bool,
    pub members: MemberList,
}

/// The FIX 4.4 data dictionary.
#[derive(Debug, Clone)]
pub struct Dictionary {
    /// Indexed by tag number.
    fields: Vec<Option<FieldDef>>,
    header: MemberList,
    trailer: MemberList,
    /// Sorted by MsgType.
    messages: Vec<MessageDef>,
}

/// Tags above this are refused when reading a dictionary (FIX 4.4's highest is 956).
const MAX_DICTIONARY_TAG: u32 = 65_535;
/// Component nesting depth at which expansion stops (a cycle).
const MAX_COMPONENT_DEPTH: usize = 32;

#[derive(Debug)]
struct Element<'x> {
    name: &'x str,
    attributes: Vec<(&'x str, &'x str)>,
    children: Vec<Element<'x>>,
    offset: usize,
}

impl<'x> Element<'x> {
    fn attribute(&self, name: &str) -> Option<&'x str> {
        self.attributes.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    fn require(&self, name: &'static str) -> Result<&'x str, DictionaryError> {
        self.attribute(name).ok_or_else(|| DictionaryError::MissingAttribute {
            element: self.name.to_owned(),
            attribute: name,
            offset: self.offset,
        })
    }

    fn child(&self, name: &str) -> Option<&Element<'x>> {
        self.children.iter().find(|c| c.name == name)
    }
}

fn xml_error(offset: usize, what: &'static str) -> DictionaryError {
    DictionaryError::Xml { offset, what }
}

/// Reads the XML subset of QuickFIX dictionaries into a tree: elements with quoted
/// attributes; the declaration, comments and text between elements are skipped.
fn read_tree(text: &str) -> Result<Element<'_>, DictionaryError> {
    let bytes = text.as_bytes();
    let mut stack: Vec<Element<'_>> =
        vec![Element { name: "", attributes: Vec::new(), children: Vec::new(), offset: 0 }];
    let mut pos = 0;
    while let Some(open) = bytes[pos..].iter().position(|&b| b == b'<') {
        let start = pos + open;
        if text[start..].starts_with("<!--") {
            let end = text[start..].find("-->").ok_or_else(|| xml_error(start, "unterminated comment"))?;
            pos = start + end + 3;
            continue;
        }
        let end = start + bytes[start..].iter().position(|&b| b == b'>').ok_or_else(|| xml_error(start, "no '>'"))?;
        pos = end + 1;
        let inner = &text[start + 1..end];
        if inner.starts_with('?') || inner.starts_with('!') {
            continue;
        }
        if let Some(name) = inner.strip_prefix('/') {
            let element = stack.pop().ok_or_else(|| xml_error(start, "closing tag without opening"))?;
            if element.name != name.trim() {
                return Err(xml_error(start, "closing tag does not match"));
            }
            stack.last_mut().ok_or_else(|| xml_error(start, "closing tag without opening"))?.children.push(element);
            continue;
        }
        let (inner, self_closing) = match inner.strip_suffix('/') {
            Some(rest) => (rest, true),
            None => (inner, false),
        };
        let inner = inner.trim();
        let name_end = inner.find(|c: char| c.is_ascii_whitespace()).unwrap_or(inner.len());
        let mut element =
            Element { name: &inner[..name_end], attributes: Vec::new(), children: Vec::new(), offset: start };
        let mut rest = inner[name_end..].trim_start();
        while !rest.is_empty() {
            let eq = rest.find('=').ok_or_else(|| xml_error(start, "attribute without '='"))?;
            let key = rest[..eq].trim();
            let after = rest[eq + 1..].trim_start();
            let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"');
            let quote = quote.ok_or_else(|| xml_error(start, "attribute value not quoted"))?;
            let close = after[1..].find(quote).ok_or_else(|| xml_error(start, "unterminated attribute value"))?;
            element.attributes.push((key, &after[1..1 + close]));
            rest = after[close + 2..].trim_start();
        }
        if self_closing {
            stack.last_mut().ok_or_else(|| xml_error(start, "element outside the document"))?.children.push(element);
        } else {
            stack.push(element);
        }
    }
    if stack.len() != 1 {
        return Err(xml_error(text.len(), "unclosed element at end of file"));
    }
    let mut document = stack.pop().ok_or_else(|| xml_error(0, "empty document"))?;
    document.children.pop().ok_or_else(|| xml_error(0, "no root element"))
}

struct Builder<'x, 'e> {
    numbers: HashMap<&'x str, u32>,
    components: HashMap<&'x str, &'e Element<'x>>,
}

impl<'x> Builder<'x, '_> {
    fn number(&self, name: &str, context: &str) -> Result<u32, DictionaryError> {
        self.numbers
            .get(name)
            .copied()
            .ok_or_else(|| DictionaryError::UnknownField { name: name.to_owned(), context: context.to_owned() })
    }

    /// Appends `parent`'s members, expanding components; `required` is false inside an
    /// optional component (its required fields are required only when it is present,
    /// which this validator does not track).
    fn members(
        &self,
        parent: &Element<'x>,
        context: &str,
        required: bool,
        depth: usize,
        out: &mut Vec<Member>,
    ) -> Result<(), DictionaryError> {
        for child in &parent.children {
            let name = child.require("name")?;
            let child_required = required && child.attribute("required") == Some("Y");
            match child.name {
                "field" => out.push(Member::Field { tag: self.number(name, context)?, required: child_required }),
                "group" => {
                    let mut members = Vec::new();
                    self.members(child, context, true, depth, &mut members)?;
                    let delimiter = members.first().map(Member::tag).ok_or_else(|| DictionaryError::EmptyGroup {
                        name: name.to_owned(),
                        context: context.to_owned(),
                    })?;
                    out.push(Member::Group(GroupDef {
                        count_tag: self.number(name, context)?,
                        required: child_required,
                        delimiter,
                        members: MemberList::new(members),
                    }));
                }
                "component" => {
                    if depth >= MAX_COMPONENT_DEPTH {
                        return Err(DictionaryError::ComponentsTooDeep {
                            name: name.to_owned(),
                            depth: MAX_COMPONENT_DEPTH,
                        });
                    }
                    let component = self.components.get(name).ok_or_else(|| DictionaryError::UnknownComponent {
                        name: name.to_owned(),
                        context: context.to_owned(),
                    })?;
                    self.members(component, context, child_required, depth + 1, out)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Dictionary {
    /// Reads `FIX44.xml` from `path`.
    pub fn load(path: &Path) -> Result<Self, DictionaryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DictionaryError::Io { path: path.to_owned(), message: e.to_string() })?;
        Self::from_xml(&text)
    }

    /// Reads a dictionary from its XML text.
    pub fn from_xml(text: &str) -> Result<Self, DictionaryError> {
        let root = read_tree(text)?;
        let section = |name: &'static str| root.child(name).ok_or(DictionaryError::MissingSection { section: name });
        let mut fields: Vec<Option<FieldDef>> = Vec::new();
        let mut numbers = HashMap::new();
        for field in section("fields")?.children.iter().filter(|c| c.name == "field") {
            let name = field.require("name")?;
            let number_text = field.require("number")?;
            let number = number_text.parse::<u32>().ok().filter(|n| *n <= MAX_DICTIONARY_TAG).ok_or_else(|| {
                DictionaryError::BadFieldNumber {
                    name: name.to_owned(),
                    text: number_text.to_owned(),
                    max: MAX_DICTIONARY_TAG,
                }
            })?;
            let values = field
                .children
                .iter()
                .filter(|c| c.name == "value")
                .map(|v| v.require("enum").map(|e| e.as_bytes().into()))
                .collect::<Result<Vec<_>, _>>()?;
            let index = number as usize;
            if fields.len() <= index {
                fields.resize(index + 1, None);
            }
            fields[index] = Some(FieldDef {
                number,
                name: name.to_owned(),
                field_type: FieldType::from_name(field.require("type")?),
                values,
            });
            numbers.insert(name, number);
        }
        let mut components = HashMap::new();
        if let Some(section) = root.child("components") {
            for component in section.children.iter().filter(|c| c.name == "component") {
                components.insert(component.require("name")?, component);
            }
        }
        let builder = Builder { numbers, components };
        let list = |element: &Element<'_>, context: &str| -> Result<MemberList, DictionaryError> {
            let mut members = Vec::new();
            builder.members(element, context, true, 0, &mut members)?;
            Ok(MemberList::new(members))
        };
        let header = list(section("header")?, "header")?;
        let trailer = list(section("trailer")?, "trailer")?;
        let mut messages = Vec::new();
        for message in section("messages")?.children.iter().filter(|c| c.name == "message") {
            let name = message.require("name")?;
            messages.push(MessageDef {
                msg_type: message.require("msgtype")?.as_bytes().into(),
                name: name.to_owned(),
                admin: message.attribute("msgcat") == Some("admin"),
                members: list(message, name)?,
            });
        }
        messages.sort_by(|a, b| a.msg_type.cmp(&b.msg_type));
        Ok(Self { fields, header, trailer, messages })
    }

    /// The field with tag number `tag`.
    pub fn field(&self, tag: u32) -> Option<&FieldDef> {
        self.fields.get(tag as usize).and_then(Option::as_ref)
    }

    /// The message type `msg_type` (the value of tag 35).
    pub fn message(&self, msg_type: &[u8]) -> Option<&MessageDef> {
        self.messages.binary_search_by(|m| (*m.msg_type).cmp(msg_type)).ok().map(|i| &self.messages[i])
    }

    pub fn messages(&self) -> &[MessageDef] {
        &self.messages
    }

    pub fn header(&self) -> &MemberList {
        &self.header
    }

    pub fn trailer(&self) -> &MemberList {
        &self.trailer
    }
}
