//! Hand-written protobuf wire-format decoder and encoder for the subset of the
//! ONNX schema (`onnx.proto3`) this crate reads and writes.
//!
//! Why hand-written: no `protoc`/`prost-build` in the build, and a decoder we
//! control can bound every length by the bytes that remain and cap every
//! repeated field, so hostile bytes yield a [`DecodeError`] with the byte
//! offset, never a panic or a runaway allocation.
//!
//! Fields outside the subset are skipped. Groups (wire types 3/4, deprecated)
//! and the invalid wire types 6/7 are errors. The decoder only descends into
//! the fixed message nesting of the subset (model → graph → node → attribute →
//! tensor, and value-info → type → shape → dimension); sub-graphs held by
//! attributes are skipped, so recursion depth is bounded whatever the input.

use std::cell::Cell;
use std::fmt;

/// Cap on the elements of one repeated numeric field (tensor data, ints,
/// floats): 32 Mi elements.
pub const MAX_REPEATED_ELEMENTS: usize = 1 << 25;
/// Cap on the memory of all decoded list elements of one file together
/// (256 MiB). A one-byte varint decodes to an 8-byte `i64` and a two-byte
/// empty string to a 24-byte `String`, so without a total budget a hostile
/// file could expand many times over; copied byte strings are not counted,
/// as they are bounded by the file itself.
pub const MAX_DECODED_BYTES: usize = 256 << 20;
/// Cap on the nodes of one graph.
pub const MAX_NODES: usize = 100_000;
/// Cap on the initializers of one graph.
pub const MAX_INITIALIZERS: usize = 100_000;
/// Cap on the inputs, outputs, opset imports, attributes of one message and
/// the names on one node.
pub const MAX_SMALL_LIST: usize = 4096;
/// Cap on the rank of a tensor or shape.
pub const MAX_RANK: usize = 32;

/// ONNX `TensorProto.DataType` values used by this crate.
pub mod data_type {
    /// `FLOAT` (f32).
    pub const FLOAT: i32 = 1;
    /// `UINT8`.
    pub const UINT8: i32 = 2;
    /// `INT8`.
    pub const INT8: i32 = 3;
    /// `INT32`.
    pub const INT32: i32 = 6;
    /// `INT64`.
    pub const INT64: i32 = 7;
}

/// ONNX `AttributeProto.AttributeType` values used by this crate.
pub mod attribute_type {
    /// `FLOAT`: value in `f`.
    pub const FLOAT: i32 = 1;
    /// `INT`: value in `i`.
    pub const INT: i32 = 2;
    /// `STRING`: value in `s`.
    pub const STRING: i32 = 3;
    /// `TENSOR`: value in `t`.
    pub const TENSOR: i32 = 4;
    /// `FLOATS`: values in `floats`.
    pub const FLOATS: i32 = 6;
    /// `INTS`: values in `ints`.
    pub const INTS: i32 = 7;
}

/// What is wrong with a protobuf byte stream, and at which byte offset of the
/// file (offsets count from the start of the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file holds no bytes at all.
    #[error("file is empty")]
    Empty,
    /// A varint runs past the end of its enclosing message.
    #[error("truncated varint at byte {at}")]
    TruncatedVarint {
        /// Offset of the varint's first byte.
        at: usize,
    },
    /// A varint is longer than 10 bytes or overflows 64 bits.
    #[error("varint overflows 64 bits at byte {at}")]
    VarintOverflow {
        /// Offset of the varint's first byte.
        at: usize,
    },
    /// A fixed-width value runs past the end of its enclosing message.
    #[error("truncated {width}-byte fixed value at byte {at}")]
    TruncatedFixed {
        /// Offset of the value.
        at: usize,
        /// 4 or 8.
        width: usize,
    },
    /// A length prefix points past the end of its enclosing message.
    #[error("length {len} at byte {at} exceeds the {remaining} bytes that remain")]
    LengthOutOfBounds {
        /// Offset of the length prefix.
        at: usize,
        /// The declared length.
        len: u64,
        /// Bytes left in the enclosing message after the prefix.
        remaining: usize,
    },
    /// A key declares field number 0 or one above 2^29-1.
    #[error("invalid field number {field} at byte {at}")]
    InvalidFieldNumber {
        /// Offset of the key.
        at: usize,
        /// The declared field number.
        field: u64,
    },
    /// A key declares a wire type this decoder does not accept (groups, 6, 7).
    #[error("unsupported wire type {wire_type} at byte {at}")]
    UnsupportedWireType {
        /// Offset of the key.
        at: usize,
        /// The declared wire type.
        wire_type: u8,
    },
    /// A known field arrives with the wrong wire type.
    #[error("{message}.{field} has wire type {wire_type} at byte {at}, expected {expected}")]
    WrongWireType {
        /// Offset of the key.
        at: usize,
        /// The message being decoded.
        message: &'static str,
        /// The field's name.
        field: &'static str,
        /// The wire type found.
        wire_type: u8,
        /// The wire type expected, in words.
        expected: &'static str,
    },
    /// A string field is not UTF-8.
    #[error("{message}.{field} is not valid UTF-8 at byte {at}")]
    InvalidUtf8 {
        /// Offset of the string's bytes.
        at: usize,
        /// The message being decoded.
        message: &'static str,
        /// The field's name.
        field: &'static str,
    },
    /// A packed fixed-width field's length is not a multiple of its width.
    #[error("packed {message}.{field} at byte {at} has length {len}, not a multiple of {width}")]
    PackedLength {
        /// Offset of the packed bytes.
        at: usize,
        /// The message being decoded.
        message: &'static str,
        /// The field's name.
        field: &'static str,
        /// The packed length in bytes.
        len: usize,
        /// The element width in bytes.
        width: usize,
    },
    /// The decoded lists of the file need more memory than [`MAX_DECODED_BYTES`].
    #[error("decoded model exceeds the {limit}-byte memory budget (at byte {at})")]
    MemoryBudget {
        /// Offset where the budget ran out.
        at: usize,
        /// The budget in bytes.
        limit: usize,
    },
    /// A repeated field holds more elements than this decoder accepts.
    #[error("{message}.{field} has more than {limit} elements (at byte {at})")]
    TooManyElements {
        /// Offset where the limit was crossed.
        at: usize,
        /// The message being decoded.
        message: &'static str,
        /// The field's name.
        field: &'static str,
        /// The cap.
        limit: usize,
    },
}

// ---------------------------------------------------------------------------
// Message types (owned; the same structs are decoded and encoded)
// ---------------------------------------------------------------------------

/// `ModelProto`: the subset this crate reads and writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelProto {
    /// `ir_version` (field 1).
    pub ir_version: i64,
    /// `producer_name` (field 2).
    pub producer_name: String,
    /// `graph` (field 7).
    pub graph: Option<GraphProto>,
    /// `opset_import` (field 8).
    pub opset_import: Vec<OperatorSetId>,
}

/// `OperatorSetIdProto`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorSetId {
    /// `domain` (field 1); empty means the default `ai.onnx` domain.
    pub domain: String,
    /// `version` (field 2).
    pub version: i64,
}

/// `GraphProto`: the subset this crate reads and writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphProto {
    /// `node` (field 1), in topological order.
    pub nodes: Vec<NodeProto>,
    /// `name` (field 2).
    pub name: String,
    /// `initializer` (field 5).
    pub initializers: Vec<TensorProto>,
    /// `input` (field 11).
    pub inputs: Vec<ValueInfoProto>,
    /// `output` (field 12).
    pub outputs: Vec<ValueInfoProto>,
}

/// `NodeProto`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeProto {
    /// `input` (field 1); an empty name is an absent optional input.
    pub inputs: Vec<String>,
    /// `output` (field 2).
    pub outputs: Vec<String>,
    /// `name` (field 3).
    pub name: String,
    /// `op_type` (field 4).
    pub op_type: String,
    /// `attribute` (field 5).
    pub attributes: Vec<AttributeProto>,
    /// `domain` (field 7); empty means the default `ai.onnx` domain.
    pub domain: String,
}

/// `AttributeProto`: the scalar, list and tensor forms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttributeProto {
    /// `name` (field 1).
    pub name: String,
    /// `f` (field 2).
    pub f: f32,
    /// `i` (field 3).
    pub i: i64,
    /// `s` (field 4).
    pub s: Vec<u8>,
    /// `t` (field 5).
    pub t: Option<TensorProto>,
    /// `floats` (field 7).
    pub floats: Vec<f32>,
    /// `ints` (field 8).
    pub ints: Vec<i64>,
    /// `type` (field 20), see [`attribute_type`].
    pub attr_type: i32,
}

/// `TensorProto`: dims, type, name and the data fields this crate reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorProto {
    /// `dims` (field 1).
    pub dims: Vec<i64>,
    /// `data_type` (field 2), see [`data_type`].
    pub data_type: i32,
    /// `float_data` (field 4).
    pub float_data: Vec<f32>,
    /// `int32_data` (field 5); also holds int8/uint8 values when `raw_data` is empty.
    pub int32_data: Vec<i32>,
    /// `int64_data` (field 7).
    pub int64_data: Vec<i64>,
    /// `name` (field 8).
    pub name: String,
    /// `raw_data` (field 9): little-endian packed values.
    pub raw_data: Vec<u8>,
    /// Set when `external_data` (field 13) is present; not supported by the
    /// native backends, noted so they can say so.
    pub has_external_data: bool,
    /// `data_location` (field 14): 1 means external.
    pub data_location: i32,
}

/// `ValueInfoProto` flattened: name plus the tensor type, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueInfoProto {
    /// `name` (field 1).
    pub name: String,
    /// `type.tensor_type.elem_type`, or `None` when the type is absent or not a tensor.
    pub elem_type: Option<i32>,
    /// `type.tensor_type.shape`, or `None` when the shape is absent.
    pub shape: Option<Vec<Dimension>>,
}

/// `TensorShapeProto.Dimension`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    /// `dim_value` (field 1).
    Value(i64),
    /// `dim_param` (field 2): a symbolic (dynamic) dimension.
    Param(String),
    /// Neither set: unknown.
    Unknown,
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireType {
    Varint,
    Fixed64,
    LengthDelimited,
    Fixed32,
}

impl WireType {
    fn code(self) -> u8 {
        match self {
            Self::Varint => 0,
            Self::Fixed64 => 1,
            Self::LengthDelimited => 2,
            Self::Fixed32 => 5,
        }
    }
}

/// One field key: field number, wire type and the key's offset.
#[derive(Debug, Clone, Copy)]
struct Key {
    field: u32,
    wire_type: WireType,
    at: usize,
}

/// A cursor over one message's bytes; `base` is the message's offset in the
/// file so every error reports a file offset.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    /// Bytes of list memory still allowed, shared by all readers of one file.
    budget: &'a Cell<usize>,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize, budget: &'a Cell<usize>) -> Self {
        Self { buf, pos: 0, base, budget }
    }

    /// Takes `bytes` from the file's memory budget.
    fn charge(&self, bytes: usize, at: usize) -> Result<(), DecodeError> {
        let left =
            self.budget.get().checked_sub(bytes).ok_or(DecodeError::MemoryBudget { at, limit: MAX_DECODED_BYTES })?;
        self.budget.set(left);
        Ok(())
    }

    fn at(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.at();
        let mut value = 0u64;
        for index in 0..10u32 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(DecodeError::TruncatedVarint { at: start });
            };
            self.pos += 1;
            // The 10th byte may only carry the top bit of a 64-bit value.
            if index == 9 && byte > 1 {
                return Err(DecodeError::VarintOverflow { at: start });
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow { at: start })
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let at = self.at();
        let bytes = self
            .buf
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<N>())
            .ok_or(DecodeError::TruncatedFixed { at, width: N })?;
        self.pos += N;
        Ok(*bytes)
    }

    /// Reads a length prefix and returns the bytes it covers with their file offset.
    fn length_delimited(&mut self) -> Result<(&'a [u8], usize), DecodeError> {
        let at = self.at();
        let len = self.varint()?;
        let remaining = self.remaining();
        let len_usize = usize::try_from(len)
            .ok()
            .filter(|&len| len <= remaining)
            .ok_or(DecodeError::LengthOutOfBounds { at, len, remaining })?;
        let start = self.pos;
        let offset = self.at();
        let bytes =
            self.buf.get(start..start + len_usize).ok_or(DecodeError::LengthOutOfBounds { at, len, remaining })?;
        self.pos += len_usize;
        Ok((bytes, offset))
    }

    fn sub_reader(&mut self) -> Result<Reader<'a>, DecodeError> {
        let (bytes, offset) = self.length_delimited()?;
        Ok(Reader::new(bytes, offset, self.budget))
    }

    /// The next key, or `None` at the end of the message.
    fn key(&mut self) -> Result<Option<Key>, DecodeError> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        let at = self.at();
        let raw = self.varint()?;
        let field = raw >> 3;
        if field == 0 || field > (1 << 29) - 1 {
            return Err(DecodeError::InvalidFieldNumber { at, field });
        }
        let wire_type = match raw & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::LengthDelimited,
            5 => WireType::Fixed32,
            other => {
                return Err(DecodeError::UnsupportedWireType { at, wire_type: other as u8 });
            }
        };
        Ok(Some(Key { field: field as u32, wire_type, at }))
    }

    fn skip(&mut self, key: Key) -> Result<(), DecodeError> {
        match key.wire_type {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed::<8>().map(drop),
            WireType::Fixed32 => self.fixed::<4>().map(drop),
            WireType::LengthDelimited => self.length_delimited().map(drop),
        }
    }
}

/// Identifies the field being decoded, for error messages.
#[derive(Clone, Copy)]
struct FieldRef {
    message: &'static str,
    field: &'static str,
}

impl FieldRef {
    const fn new(message: &'static str, field: &'static str) -> Self {
        Self { message, field }
    }

    fn expect(self, key: Key, wire_type: WireType) -> Result<(), DecodeError> {
        if key.wire_type == wire_type {
            return Ok(());
        }
        Err(DecodeError::WrongWireType {
            at: key.at,
            message: self.message,
            field: self.field,
            wire_type: key.wire_type.code(),
            expected: match wire_type {
                WireType::Varint => "varint",
                WireType::Fixed64 => "fixed64",
                WireType::LengthDelimited => "length-delimited",
                WireType::Fixed32 => "fixed32",
            },
        })
    }

    fn too_many(self, at: usize, limit: usize) -> DecodeError {
        DecodeError::TooManyElements { at, message: self.message, field: self.field, limit }
    }

    fn push<T>(self, r: &Reader<'_>, list: &mut Vec<T>, value: T, at: usize, limit: usize) -> Result<(), DecodeError> {
        if list.len() >= limit {
            return Err(self.too_many(at, limit));
        }
        r.charge(std::mem::size_of::<T>(), at)?;
        list.push(value);
        Ok(())
    }

    fn varint(self, r: &mut Reader<'_>, key: Key) -> Result<u64, DecodeError> {
        self.expect(key, WireType::Varint)?;
        r.varint()
    }

    fn int64(self, r: &mut Reader<'_>, key: Key) -> Result<i64, DecodeError> {
        // Two's complement, as protobuf encodes negative int64.
        self.varint(r, key).map(|v| v as i64)
    }

    fn int32(self, r: &mut Reader<'_>, key: Key) -> Result<i32, DecodeError> {
        // Protobuf truncates int32 varints to their low 32 bits.
        self.varint(r, key).map(|v| v as i32)
    }

    fn float(self, r: &mut Reader<'_>, key: Key) -> Result<f32, DecodeError> {
        self.expect(key, WireType::Fixed32)?;
        r.fixed::<4>().map(f32::from_le_bytes)
    }

    fn bytes<'a>(self, r: &mut Reader<'a>, key: Key) -> Result<(&'a [u8], usize), DecodeError> {
        self.expect(key, WireType::LengthDelimited)?;
        r.length_delimited()
    }

    fn string(self, r: &mut Reader<'_>, key: Key) -> Result<String, DecodeError> {
        let (bytes, at) = self.bytes(r, key)?;
        std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| DecodeError::InvalidUtf8 {
            at,
            message: self.message,
            field: self.field,
        })
    }

    fn message<'a>(self, r: &mut Reader<'a>, key: Key) -> Result<Reader<'a>, DecodeError> {
        self.expect(key, WireType::LengthDelimited)?;
        r.sub_reader()
    }

    /// A repeated varint field, packed or not; `convert` maps the raw varint.
    fn repeated_varint<T>(
        self,
        r: &mut Reader<'_>,
        key: Key,
        list: &mut Vec<T>,
        limit: usize,
        convert: fn(u64) -> T,
    ) -> Result<(), DecodeError> {
        match key.wire_type {
            WireType::Varint => {
                let value = r.varint()?;
                self.push(r, list, convert(value), key.at, limit)
            }
            WireType::LengthDelimited => {
                let mut packed = r.sub_reader()?;
                while packed.remaining() > 0 {
                    let at = packed.at();
                    let value = packed.varint()?;
                    self.push(&packed, list, convert(value), at, limit)?;
                }
                Ok(())
            }
            _ => self.expect(key, WireType::Varint),
        }
    }

    /// A repeated float field, packed or not.
    fn repeated_float(
        self,
        r: &mut Reader<'_>,
        key: Key,
        list: &mut Vec<f32>,
        limit: usize,
    ) -> Result<(), DecodeError> {
        match key.wire_type {
            WireType::Fixed32 => {
                let value = r.fixed::<4>().map(f32::from_le_bytes)?;
                self.push(r, list, value, key.at, limit)
            }
            WireType::LengthDelimited => {
                let (bytes, at) = r.length_delimited()?;
                if bytes.len() % 4 != 0 {
                    return Err(DecodeError::PackedLength {
                        at,
                        message: self.message,
                        field: self.field,
                        len: bytes.len(),
                        width: 4,
                    });
                }
                let count = bytes.len() / 4;
                if list.len().saturating_add(count) > limit {
                    return Err(self.too_many(at, limit));
                }
                r.charge(count * 4, at)?;
                list.reserve(count);
                let (words, _) = bytes.as_chunks::<4>();
                list.extend(words.iter().map(|word| f32::from_le_bytes(*word)));
                Ok(())
            }
            _ => self.expect(key, WireType::Fixed32),
        }
    }
}

impl ModelProto {
    /// Decodes a serialized `ModelProto`. Never panics; every malformed input
    /// is a [`DecodeError`] naming the byte offset.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_with_budget(bytes, MAX_DECODED_BYTES)
    }

    fn decode_with_budget(bytes: &[u8], budget: usize) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty);
        }
        let budget = Cell::new(budget);
        let mut r = Reader::new(bytes, 0, &budget);
        let mut model = Self::default();
        while let Some(key) = r.key()? {
            const M: &str = "ModelProto";
            match key.field {
                1 => model.ir_version = FieldRef::new(M, "ir_version").int64(&mut r, key)?,
                2 => model.producer_name = FieldRef::new(M, "producer_name").string(&mut r, key)?,
                7 => {
                    let mut sub = FieldRef::new(M, "graph").message(&mut r, key)?;
                    model.graph = Some(GraphProto::decode_from(&mut sub)?);
                }
                8 => {
                    let field = FieldRef::new(M, "opset_import");
                    let mut sub = field.message(&mut r, key)?;
                    let opset = OperatorSetId::decode_from(&mut sub)?;
                    field.push(&r, &mut model.opset_import, opset, key.at, MAX_SMALL_LIST)?;
                }
                _ => r.skip(key)?,
            }
        }
        Ok(model)
    }

    /// Encodes this model as protobuf bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.int64(1, self.ir_version);
        w.string(2, &self.producer_name);
        if let Some(graph) = &self.graph {
            w.message(7, |w| graph.encode_into(w));
        }
        for opset in &self.opset_import {
            w.message(8, |w| {
                w.string(1, &opset.domain);
                w.int64(2, opset.version);
            });
        }
        w.buf
    }
}

/// One entry of `ModelProto.metadata_props` (field 14, a
/// `StringStringEntryProto`): free-form key/value strings that ONNX Runtime
/// and other tools carry along without interpreting them.
///
/// Kept out of [`ModelProto`] itself so that struct literals of it stay
/// valid; write them with [`ModelProto::encode_with_metadata`] and read them
/// with [`ModelProto::decode_metadata`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataEntry {
    /// `key` (field 1).
    pub key: String,
    /// `value` (field 2).
    pub value: String,
}

impl ModelProto {
    /// Encodes this model like [`Self::encode`], followed by `metadata`
    /// as `metadata_props` (field 14), in the order given.
    #[must_use]
    pub fn encode_with_metadata(&self, metadata: &[MetadataEntry]) -> Vec<u8> {
        let mut w = Writer { buf: self.encode() };
        for entry in metadata {
            w.message(14, |w| {
                w.string(1, &entry.key);
                w.string(2, &entry.value);
            });
        }
        w.buf
    }

    /// Decodes only the `metadata_props` (field 14) of a serialized
    /// `ModelProto`, in file order; every other field is skipped. Never
    /// panics; malformed input is a [`DecodeError`] naming the byte offset.
    pub fn decode_metadata(bytes: &[u8]) -> Result<Vec<MetadataEntry>, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty);
        }
        let budget = Cell::new(MAX_DECODED_BYTES);
        let mut r = Reader::new(bytes, 0, &budget);
        let mut entries = Vec::new();
        while let Some(key) = r.key()? {
            if key.field != 14 {
                r.skip(key)?;
                continue;
            }
            let field = FieldRef::new("ModelProto", "metadata_props");
            let mut sub = field.message(&mut r, key)?;
            let mut entry = MetadataEntry::default();
            while let Some(entry_key) = sub.key()? {
                const M: &str = "StringStringEntryProto";
                match entry_key.field {
                    1 => entry.key = FieldRef::new(M, "key").string(&mut sub, entry_key)?,
                    2 => entry.value = FieldRef::new(M, "value").string(&mut sub, entry_key)?,
                    _ => sub.skip(entry_key)?,
                }
            }
            field.push(&r, &mut entries, entry, key.at, MAX_SMALL_LIST)?;
        }
        Ok(entries)
    }
}

impl OperatorSetId {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const M: &str = "OperatorSetIdProto";
        let mut opset = Self::default();
        while let Some(key) = r.key()? {
            match key.field {
                1 => opset.domain = FieldRef::new(M, "domain").string(r, key)?,
                2 => opset.version = FieldRef::new(M, "version").int64(r, key)?,
                _ => r.skip(key)?,
            }
        }
        Ok(opset)
    }
}

impl GraphProto {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const M: &str = "GraphProto";
        let mut graph = Self::default();
        while let Some(key) = r.key()? {
            match key.field {
                1 => {
                    let field = FieldRef::new(M, "node");
                    let mut sub = field.message(r, key)?;
                    let node = NodeProto::decode_from(&mut sub)?;
                    field.push(r, &mut graph.nodes, node, key.at, MAX_NODES)?;
                }
                2 => graph.name = FieldRef::new(M, "name").string(r, key)?,
                5 => {
                    let field = FieldRef::new(M, "initializer");
                    let mut sub = field.message(r, key)?;
                    let tensor = TensorProto::decode_from(&mut sub)?;
                    field.push(r, &mut graph.initializers, tensor, key.at, MAX_INITIALIZERS)?;
                }
                11 => {
                    let field = FieldRef::new(M, "input");
                    let mut sub = field.message(r, key)?;
                    let info = ValueInfoProto::decode_from(&mut sub)?;
                    field.push(r, &mut graph.inputs, info, key.at, MAX_SMALL_LIST)?;
                }
                12 => {
                    let field = FieldRef::new(M, "output");
                    let mut sub = field.message(r, key)?;
                    let info = ValueInfoProto::decode_from(&mut sub)?;
                    field.push(r, &mut graph.outputs, info, key.at, MAX_SMALL_LIST)?;
                }
                _ => r.skip(key)?,
            }
        }
        Ok(graph)
    }

    fn encode_into(&self, w: &mut Writer) {
        for node in &self.nodes {
            w.message(1, |w| node.encode_into(w));
        }
        w.string(2, &self.name);
        for tensor in &self.initializers {
            w.message(5, |w| tensor.encode_into(w));
        }
        for info in &self.inputs {
            w.message(11, |w| info.encode_into(w));
        }
        for info in &self.outputs {
            w.message(12, |w| info.encode_into(w));
        }
    }
}

impl NodeProto {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const M: &str = "NodeProto";
        let mut node = Self::default();
        while let Some(key) = r.key()? {
            match key.field {
                1 => {
                    let field = FieldRef::new(M, "input");
                    let name = field.string(r, key)?;
                    field.push(r, &mut node.inputs, name, key.at, MAX_SMALL_LIST)?;
                }
                2 => {
                    let field = FieldRef::new(M, "output");
                    let name = field.string(r, key)?;
                    field.push(r, &mut node.outputs, name, key.at, MAX_SMALL_LIST)?;
                }
                3 => node.name = FieldRef::new(M, "name").string(r, key)?,
                4 => node.op_type = FieldRef::new(M, "op_type").string(r, key)?,
                5 => {
                    let field = FieldRef::new(M, "attribute");
                    let mut sub = field.message(r, key)?;
                    let attribute = AttributeProto::decode_from(&mut sub)?;
                    field.push(r, &mut node.attributes, attribute, key.at, MAX_SMALL_LIST)?;
                }
                7 => node.domain = FieldRef::new(M, "domain").string(r, key)?,
                _ => r.skip(key)?,
            }
        }
        Ok(node)
    }

    fn encode_into(&self, w: &mut Writer) {
        for name in &self.inputs {
            w.string_always(1, name);
        }
        for name in &self.outputs {
            w.string_always(2, name);
        }
        w.string(3, &self.name);
        w.string(4, &self.op_type);
        for attribute in &self.attributes {
            w.message(5, |w| attribute.encode_into(w));
        }
        w.string(7, &self.domain);
    }
}

impl AttributeProto {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const M: &str = "AttributeProto";
        let mut attribute = Self::default();
        while let Some(key) = r.key()? {
            match key.field {
                1 => attribute.name = FieldRef::new(M, "name").string(r, key)?,
                2 => attribute.f = FieldRef::new(M, "f").float(r, key)?,
                3 => attribute.i = FieldRef::new(M, "i").int64(r, key)?,
                4 => attribute.s = FieldRef::new(M, "s").bytes(r, key)?.0.to_vec(),
                5 => {
                    let mut sub = FieldRef::new(M, "t").message(r, key)?;
                    attribute.t = Some(TensorProto::decode_from(&mut sub)?);
                }
                7 => FieldRef::new(M, "floats").repeated_float(r, key, &mut attribute.floats, MAX_REPEATED_ELEMENTS)?,
                8 => FieldRef::new(M, "ints").repeated_varint(
                    r,
                    key,
                    &mut attribute.ints,
                    MAX_REPEATED_ELEMENTS,
                    |v| v as i64,
                )?,
                20 => attribute.attr_type = FieldRef::new(M, "type").int32(r, key)?,
                _ => r.skip(key)?,
            }
        }
        Ok(attribute)
    }

    fn encode_into(&self, w: &mut Writer) {
        w.string(1, &self.name);
        if self.attr_type == attribute_type::FLOAT {
            w.key(2, WireType::Fixed32);
            w.buf.extend_from_slice(&self.f.to_le_bytes());
        }
        if self.attr_type == attribute_type::INT {
            w.key(3, WireType::Varint);
            w.varint(self.i as u64);
        }
        if !self.s.is_empty() {
            w.bytes(4, &self.s);
        }
        if let Some(tensor) = &self.t {
            w.message(5, |w| tensor.encode_into(w));
        }
        w.packed_floats(7, &self.floats);
        w.packed_varints(8, self.ints.iter().map(|&v| v as u64));
        w.int64(20, i64::from(self.attr_type));
    }
}

impl TensorProto {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const M: &str = "TensorProto";
        let mut tensor = Self::default();
        while let Some(key) = r.key()? {
            match key.field {
                1 => FieldRef::new(M, "dims").repeated_varint(r, key, &mut tensor.dims, MAX_RANK, |v| v as i64)?,
                2 => tensor.data_type = FieldRef::new(M, "data_type").int32(r, key)?,
                4 => FieldRef::new(M, "float_data").repeated_float(
                    r,
                    key,
                    &mut tensor.float_data,
                    MAX_REPEATED_ELEMENTS,
                )?,
                5 => FieldRef::new(M, "int32_data").repeated_varint(
                    r,
                    key,
                    &mut tensor.int32_data,
                    MAX_REPEATED_ELEMENTS,
                    |v| v as i32,
                )?,
                7 => FieldRef::new(M, "int64_data").repeated_varint(
                    r,
                    key,
                    &mut tensor.int64_data,
                    MAX_REPEATED_ELEMENTS,
                    |v| v as i64,
                )?,
                8 => tensor.name = FieldRef::new(M, "name").string(r, key)?,
                9 => tensor.raw_data = FieldRef::new(M, "raw_data").bytes(r, key)?.0.to_vec(),
                13 => {
                    FieldRef::new(M, "external_data").bytes(r, key)?;
                    tensor.has_external_data = true;
                }
                14 => tensor.data_location = FieldRef::new(M, "data_location").int32(r, key)?,
                _ => r.skip(key)?,
            }
        }
        Ok(tensor)
    }

    fn encode_into(&self, w: &mut Writer) {
        w.packed_varints(1, self.dims.iter().map(|&v| v as u64));
        w.int64(2, i64::from(self.data_type));
        w.packed_floats(4, &self.float_data);
        w.packed_varints(5, self.int32_data.iter().map(|&v| i64::from(v) as u64));
        w.packed_varints(7, self.int64_data.iter().map(|&v| v as u64));
        w.string(8, &self.name);
        if !self.raw_data.is_empty() {
            w.bytes(9, &self.raw_data);
        }
        if self.has_external_data {
            // One empty StringStringEntryProto: enough to mark the data external.
            w.bytes(13, &[]);
        }
        w.int64(14, i64::from(self.data_location));
    }
}

impl ValueInfoProto {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const M: &str = "ValueInfoProto";
        let mut info = Self::default();
        while let Some(key) = r.key()? {
            match key.field {
                1 => info.name = FieldRef::new(M, "name").string(r, key)?,
                2 => {
                    let mut type_proto = FieldRef::new(M, "type").message(r, key)?;
                    decode_type_proto(&mut type_proto, &mut info)?;
                }
                _ => r.skip(key)?,
            }
        }
        Ok(info)
    }

    fn encode_into(&self, w: &mut Writer) {
        w.string(1, &self.name);
        let Some(elem_type) = self.elem_type else {
            return;
        };
        // type (2) → tensor_type (1) → { elem_type (1), shape (2) → dim (1)* }
        w.message(2, |w| {
            w.message(1, |w| {
                w.int64(1, i64::from(elem_type));
                if let Some(shape) = &self.shape {
                    w.message(2, |w| {
                        for dim in shape {
                            w.message(1, |w| match dim {
                                Dimension::Value(v) => {
                                    w.key(1, WireType::Varint);
                                    w.varint(*v as u64);
                                }
                                Dimension::Param(name) => w.string(2, name),
                                Dimension::Unknown => {}
                            });
                        }
                    });
                }
            });
        });
    }
}

/// `TypeProto`: only `tensor_type` (field 1) is read; other kinds leave
/// `elem_type` as `None`.
fn decode_type_proto(r: &mut Reader<'_>, info: &mut ValueInfoProto) -> Result<(), DecodeError> {
    const M: &str = "TypeProto";
    while let Some(key) = r.key()? {
        if key.field != 1 {
            r.skip(key)?;
            continue;
        }
        let mut tensor_type = FieldRef::new(M, "tensor_type").message(r, key)?;
        info.elem_type = Some(0);
        while let Some(key) = tensor_type.key()? {
            const T: &str = "TypeProto.Tensor";
            match key.field {
                1 => info.elem_type = Some(FieldRef::new(T, "elem_type").int32(&mut tensor_type, key)?),
                2 => {
                    let mut shape = FieldRef::new(T, "shape").message(&mut tensor_type, key)?;
                    info.shape = Some(decode_shape(&mut shape)?);
                }
                _ => tensor_type.skip(key)?,
            }
        }
    }
    Ok(())
}

fn decode_shape(r: &mut Reader<'_>) -> Result<Vec<Dimension>, DecodeError> {
    const M: &str = "TensorShapeProto";
    let mut dims = Vec::new();
    while let Some(key) = r.key()? {
        if key.field != 1 {
            r.skip(key)?;
            continue;
        }
        let field = FieldRef::new(M, "dim");
        let mut sub = field.message(r, key)?;
        let mut dim = Dimension::Unknown;
        while let Some(key) = sub.key()? {
            const D: &str = "TensorShapeProto.Dimension";
            match key.field {
                1 => dim = Dimension::Value(FieldRef::new(D, "dim_value").int64(&mut sub, key)?),
                2 => dim = Dimension::Param(FieldRef::new(D, "dim_param").string(&mut sub, key)?),
                _ => sub.skip(key)?,
            }
        }
        field.push(r, &mut dims, dim, key.at, MAX_RANK)?;
    }
    Ok(dims)
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Appends protobuf fields to a byte buffer. Scalar fields equal to their
/// proto3 default are omitted, as protobuf itself does.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer").field("len", &self.buf.len()).finish()
    }
}

impl Writer {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: WireType) {
        self.varint((u64::from(field) << 3) | u64::from(wire_type.code()));
    }

    fn int64(&mut self, field: u32, value: i64) {
        if value != 0 {
            self.key(field, WireType::Varint);
            self.varint(value as u64);
        }
    }

    fn bytes(&mut self, field: u32, value: &[u8]) {
        self.key(field, WireType::LengthDelimited);
        self.varint(value.len() as u64);
        self.buf.extend_from_slice(value);
    }

    fn string(&mut self, field: u32, value: &str) {
        if !value.is_empty() {
            self.bytes(field, value.as_bytes());
        }
    }

    /// A string element of a repeated field: written even when empty, since
    /// an empty node input name is meaningful (absent optional input).
    fn string_always(&mut self, field: u32, value: &str) {
        self.bytes(field, value.as_bytes());
    }

    /// A nested message, written even when its body is empty (an empty shape
    /// means a scalar, an empty dimension means unknown).
    fn message(&mut self, field: u32, body: impl FnOnce(&mut Self)) {
        let mut inner = Self::default();
        body(&mut inner);
        self.bytes(field, &inner.buf);
    }

    fn packed_floats(&mut self, field: u32, values: &[f32]) {
        if values.is_empty() {
            return;
        }
        self.key(field, WireType::LengthDelimited);
        self.varint((values.len() * 4) as u64);
        for value in values {
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn packed_varints(&mut self, field: u32, values: impl Iterator<Item = u64>) {
        let mut inner = Self::default();
        for value in values {
            inner.varint(value);
        }
        if !inner.buf.is_empty() {
            self.bytes(field, &inner.buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_model() -> ModelProto {
        ModelProto {
            ir_version: 8,
            producer_name: "test".into(),
            opset_import: vec![OperatorSetId { domain: String::new(), version: 13 }],
            graph: Some(GraphProto {
                name: "g".into(),
                nodes: vec![NodeProto {
                    inputs: vec!["x".into(), String::new()],
                    outputs: vec!["y".into()],
                    name: "n".into(),
                    op_type: "Relu".into(),
                    attributes: vec![
                        AttributeProto {
                            name: "alpha".into(),
                            f: -0.5,
                            attr_type: attribute_type::FLOAT,
                            ..AttributeProto::default()
                        },
                        AttributeProto {
                            name: "axis".into(),
                            i: -1,
                            attr_type: attribute_type::INT,
                            ..AttributeProto::default()
                        },
                    ],
                    domain: String::new(),
                }],
                initializers: vec![TensorProto {
                    dims: vec![2, 3],
                    data_type: data_type::FLOAT,
                    float_data: vec![1.0, -2.0, 3.5, 0.0, 1e-9, -7.0],
                    name: "w".into(),
                    ..TensorProto::default()
                }],
                inputs: vec![ValueInfoProto {
                    name: "x".into(),
                    elem_type: Some(data_type::FLOAT),
                    shape: Some(vec![Dimension::Param("N".into()), Dimension::Value(3)]),
                }],
                outputs: vec![ValueInfoProto {
                    name: "y".into(),
                    elem_type: Some(data_type::FLOAT),
                    shape: Some(vec![Dimension::Unknown, Dimension::Value(3)]),
                }],
            }),
        }
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let model = sample_model();
        let bytes = model.encode();
        assert_eq!(ModelProto::decode(&bytes), Ok(model));
    }

    #[test]
    fn metadata_props_round_trip_and_leave_the_model_alone() {
        let model = sample_model();
        let metadata = vec![
            MetadataEntry { key: "classes".into(), value: "bearish,bullish,neutral".into() },
            MetadataEntry { key: "empty".into(), value: String::new() },
        ];
        let bytes = model.encode_with_metadata(&metadata);
        assert_eq!(ModelProto::decode(&bytes), Ok(model.clone()));
        assert_eq!(ModelProto::decode_metadata(&bytes), Ok(metadata));
        assert_eq!(ModelProto::decode_metadata(&model.encode()), Ok(Vec::new()));
        for len in 1..bytes.len() {
            // Ok or Err are both acceptable; the point is no panic.
            let _ = ModelProto::decode_metadata(&bytes[..len]);
        }
        // metadata_props (field 14) as a varint.
        let err = ModelProto::decode_metadata(&[0x70, 0x01]).unwrap_err();
        assert_eq!(err.to_string(), "ModelProto.metadata_props has wire type 0 at byte 0, expected length-delimited");
    }

    #[test]
    fn truncated_varint_reports_offset() {
        // Key for field 1 varint, then a varint with the continuation bit set and nothing after.
        let err = ModelProto::decode(&[0x08, 0x80]).unwrap_err();
        assert_eq!(err, DecodeError::TruncatedVarint { at: 1 });
        assert_eq!(err.to_string(), "truncated varint at byte 1");
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let mut bytes = vec![0x08];
        bytes.extend([0xff; 10]);
        bytes.push(0x01);
        assert_eq!(ModelProto::decode(&bytes), Err(DecodeError::VarintOverflow { at: 1 }));
    }

    #[test]
    fn length_past_end_is_rejected() {
        // graph (field 7), length 100, 2 bytes present.
        let err = ModelProto::decode(&[0x3a, 100, 0, 0]).unwrap_err();
        assert_eq!(err, DecodeError::LengthOutOfBounds { at: 1, len: 100, remaining: 2 });
    }

    #[test]
    fn huge_length_does_not_allocate_or_panic() {
        let mut bytes = vec![0x3a];
        bytes.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(ModelProto::decode(&bytes), Err(DecodeError::LengthOutOfBounds { at: 1, .. })));
    }

    #[test]
    fn wrong_wire_type_is_named() {
        // graph (field 7) as a varint.
        let err = ModelProto::decode(&[0x38, 0x01]).unwrap_err();
        assert_eq!(err.to_string(), "ModelProto.graph has wire type 0 at byte 0, expected length-delimited");
    }

    #[test]
    fn groups_and_invalid_wire_types_are_rejected() {
        assert!(matches!(ModelProto::decode(&[0x0b]), Err(DecodeError::UnsupportedWireType { wire_type: 3, .. })));
        assert!(matches!(ModelProto::decode(&[0x0e]), Err(DecodeError::UnsupportedWireType { wire_type: 6, .. })));
        assert!(matches!(ModelProto::decode(&[0x00]), Err(DecodeError::InvalidFieldNumber { field: 0, .. })));
    }

    #[test]
    fn packed_float_length_must_be_multiple_of_four() {
        // graph { initializer { float_data: 3 bytes } }
        let tensor = [0x22, 0x03, 0, 0, 0];
        let mut initializer = vec![0x2a, tensor.len() as u8];
        initializer.extend(tensor);
        let mut bytes = vec![0x3a, initializer.len() as u8];
        bytes.extend(initializer);
        assert!(matches!(ModelProto::decode(&bytes), Err(DecodeError::PackedLength { len: 3, width: 4, .. })));
    }

    #[test]
    fn unpacked_repeated_fields_decode() {
        // TensorProto with dims as two unpacked varints and two unpacked floats.
        let mut tensor = vec![0x08, 0x02, 0x08, 0x01];
        tensor.push(0x25);
        tensor.extend(1.5f32.to_le_bytes());
        tensor.push(0x25);
        tensor.extend((-2.0f32).to_le_bytes());
        let mut graph = vec![0x2a, tensor.len() as u8];
        graph.extend(tensor);
        let mut bytes = vec![0x3a, graph.len() as u8];
        bytes.extend(graph);
        let model = ModelProto::decode(&bytes).unwrap();
        let init = &model.graph.unwrap().initializers[0];
        assert_eq!(init.dims, vec![2, 1]);
        assert_eq!(init.float_data, vec![1.5, -2.0]);
    }

    #[test]
    fn too_many_dims_is_rejected() {
        let packed = vec![1u8; MAX_RANK + 1];
        let mut tensor = vec![0x0a, packed.len() as u8];
        tensor.extend(packed);
        let mut graph = vec![0x2a, tensor.len() as u8];
        graph.extend(tensor);
        let mut bytes = vec![0x3a, graph.len() as u8];
        bytes.extend(graph);
        assert!(matches!(ModelProto::decode(&bytes), Err(DecodeError::TooManyElements { field: "dims", .. })));
    }

    #[test]
    fn memory_budget_caps_decoded_lists() {
        // 1000 one-byte packed dims would decode to 8000 bytes of i64.
        let bytes = sample_model().encode();
        assert!(ModelProto::decode_with_budget(&bytes, 4096).is_ok());
        let mut tensor = vec![0x3a, 0xe8, 0x07];
        tensor.extend([1u8; 1000]);
        let mut graph = vec![0x2a];
        graph.extend(varint_bytes(tensor.len()));
        graph.extend(tensor);
        let mut model = vec![0x3a];
        model.extend(varint_bytes(graph.len()));
        model.extend(graph);
        // field 7 of TensorProto is int64_data.
        assert!(matches!(
            ModelProto::decode_with_budget(&model, 4096),
            Err(DecodeError::MemoryBudget { limit: MAX_DECODED_BYTES, .. })
        ));
        assert!(ModelProto::decode_with_budget(&model, 16384).is_ok());
    }

    fn varint_bytes(mut value: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
        out
    }

    #[test]
    fn every_truncation_of_a_valid_model_is_handled() {
        let bytes = sample_model().encode();
        for len in 0..bytes.len() {
            // Ok or Err are both acceptable; the point is no panic.
            let _ = ModelProto::decode(&bytes[..len]);
        }
    }
}
