//! Validation of a decoded ONNX graph into a flat list of operations with
//! resolved shapes and constant weights.
//!
//! Everything that can be decided from the file is decided here, at load time:
//! unsupported ops, shape mismatches, weight layouts, broadcasting of constants.
//! The native plan built from a [`Graph`] therefore cannot fail on a well-sized
//! input. Constants (initializers, `Constant` nodes, `DequantizeLinear` of
//! constants, reshapes of constants) are folded here and never reach the plan.
//!
//! Batch is fixed to 1: a symbolic or unknown leading input dimension is read
//! as 1.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use crate::error::ModelError;
use crate::onnx_proto::{
    AttributeProto, Dimension, MAX_RANK, ModelProto, NodeProto, TensorProto, ValueInfoProto, attribute_type, data_type,
};

/// Cap on the elements of one activation tensor (16 MiB of f32).
pub(crate) const MAX_ACTIVATION_ELEMENTS: usize = 1 << 22;
/// Cap on the elements of all activation tensors together (64 MiB of f32).
pub(crate) const MAX_TOTAL_ACTIVATION_ELEMENTS: usize = 1 << 24;
/// Cap on the elements of one constant tensor (128 MiB of f32).
const MAX_CONSTANT_ELEMENTS: usize = 1 << 25;

/// Index of an activation buffer.
pub(crate) type ValueId = usize;

/// Elementwise activation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elementwise {
    Relu,
    Sigmoid,
    Tanh,
}

/// `output[r][j] = alpha * dot(input[r], weights[j]) + bias[r][j]`.
#[derive(Debug)]
pub(crate) struct Dense {
    pub(crate) input: ValueId,
    pub(crate) output: ValueId,
    /// Rows of the input (1 for a batch-1 `[1, K]` input).
    pub(crate) rows: usize,
    /// Input features per row (K).
    pub(crate) depth: usize,
    /// Output features per row (N).
    pub(crate) width: usize,
    /// `width` rows of `depth` weights: one row per output channel, so the
    /// kernel is a dot product over contiguous memory.
    pub(crate) weights: Vec<f32>,
    /// `rows * width` values (already multiplied by Gemm's beta), or empty.
    pub(crate) bias: Vec<f32>,
    pub(crate) alpha: f32,
}

/// One executable operation on activation buffers.
#[derive(Debug)]
pub(crate) enum Operation {
    Dense(Dense),
    /// `output = input + addend`, the constant already broadcast to the input's shape.
    AddConstant {
        input: ValueId,
        output: ValueId,
        addend: Vec<f32>,
    },
    /// `output = lhs + rhs`, same shapes.
    AddValues {
        lhs: ValueId,
        rhs: ValueId,
        output: ValueId,
    },
    Elementwise {
        function: Elementwise,
        input: ValueId,
        output: ValueId,
    },
    /// Softmax over contiguous rows of `row_len` values.
    Softmax {
        input: ValueId,
        output: ValueId,
        row_len: usize,
    },
}

/// A validated graph: activation buffer sizes and the operations, in order.
#[derive(Debug)]
pub(crate) struct Graph {
    /// Element count of each activation buffer, indexed by [`ValueId`].
    pub(crate) value_lens: Vec<usize>,
    pub(crate) input: ValueId,
    pub(crate) output: ValueId,
    pub(crate) operations: Vec<Operation>,
}

impl Graph {
    /// Validates `model` (decoded from `path`, which errors name).
    pub(crate) fn from_model(model: &ModelProto, path: &Path) -> Result<Self, ModelError> {
        GraphBuilder::new(path, model)?.build()
    }
}

/// A constant tensor's values.
#[derive(Debug)]
enum ConstantData {
    F32(Vec<f32>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

impl ConstantData {
    fn type_name(&self) -> &'static str {
        match self {
            Self::F32(_) => "float",
            Self::I8(_) => "int8",
            Self::U8(_) => "uint8",
            Self::I32(_) => "int32",
            Self::I64(_) => "int64",
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U8(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::I64(v) => v.len(),
        }
    }

    /// Integer values widened to i64 (for quantized data and zero points).
    fn integer(&self, index: usize) -> Option<i64> {
        match self {
            Self::I8(v) => v.get(index).map(|&x| i64::from(x)),
            Self::U8(v) => v.get(index).map(|&x| i64::from(x)),
            Self::I32(v) => v.get(index).map(|&x| i64::from(x)),
            Self::I64(v) => v.get(index).copied(),
            Self::F32(_) => None,
        }
    }
}

#[derive(Debug)]
struct Constant {
    dims: Vec<usize>,
    data: ConstantData,
}

/// What a value name refers to while the graph is walked.
#[derive(Debug, Clone)]
enum Binding {
    Activation { id: ValueId, shape: Vec<usize> },
    Constant(Rc<Constant>),
}

struct GraphBuilder<'m> {
    path: &'m Path,
    model: &'m ModelProto,
    opset: i64,
    bindings: HashMap<String, Binding>,
    value_lens: Vec<usize>,
    total_elements: usize,
    operations: Vec<Operation>,
}

fn element_count(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

fn node_label(node: &NodeProto, index: usize) -> String {
    if node.name.is_empty() {
        format!("{} node #{index}", node.op_type)
    } else {
        format!("{} node `{}`", node.op_type, node.name)
    }
}

fn attribute<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attributes.iter().find(|a| a.name == name)
}

impl<'m> GraphBuilder<'m> {
    fn new(path: &'m Path, model: &'m ModelProto) -> Result<Self, ModelError> {
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .ok_or_else(|| ModelError::InvalidGraph {
                path: path.to_path_buf(),
                reason: "no opset import for the default ONNX domain".into(),
            })?;
        Ok(Self {
            path,
            model,
            opset,
            bindings: HashMap::new(),
            value_lens: Vec::new(),
            total_elements: 0,
            operations: Vec::new(),
        })
    }

    fn invalid(&self, reason: impl Into<String>) -> ModelError {
        ModelError::InvalidGraph { path: self.path.to_path_buf(), reason: reason.into() }
    }

    fn unsupported(&self, what: impl Into<String>) -> ModelError {
        ModelError::Unsupported { path: self.path.to_path_buf(), what: what.into() }
    }

    fn build(mut self) -> Result<Graph, ModelError> {
        let model = self.model;
        let graph = model.graph.as_ref().ok_or_else(|| self.invalid("the model has no graph (ModelProto field 7)"))?;

        for tensor in &graph.initializers {
            if tensor.name.is_empty() {
                return Err(self.invalid("an initializer has no name"));
            }
            let constant = self.constant_from_tensor(tensor)?;
            self.bind(&tensor.name, Binding::Constant(Rc::new(constant)))?;
        }

        // IR < 4 lists initializers among the inputs; those are not runtime inputs.
        let runtime_inputs: Vec<&ValueInfoProto> =
            graph.inputs.iter().filter(|i| !self.bindings.contains_key(&i.name)).collect();
        let [input_info] = runtime_inputs.as_slice() else {
            return Err(self.unsupported(format!(
                "the graph has {} runtime inputs, exactly 1 is supported",
                runtime_inputs.len()
            )));
        };
        if input_info.name.is_empty() {
            return Err(self.invalid("the graph input has no name"));
        }
        let input_shape = self.input_shape(input_info)?;
        let input = self.new_activation(&input_info.name, input_shape)?;

        for (index, node) in graph.nodes.iter().enumerate() {
            self.add_node(node, index)?;
        }

        let [output_info] = graph.outputs.as_slice() else {
            return Err(
                self.unsupported(format!("the graph has {} outputs, exactly 1 is supported", graph.outputs.len()))
            );
        };
        let output = self.check_output(output_info)?;
        Ok(Graph { value_lens: self.value_lens, input, output, operations: self.operations })
    }

    fn bind(&mut self, name: &str, binding: Binding) -> Result<(), ModelError> {
        if self.bindings.contains_key(name) {
            return Err(self.invalid(format!("value `{name}` is defined more than once")));
        }
        self.bindings.insert(name.to_owned(), binding);
        Ok(())
    }

    /// Allocates an activation buffer of `shape` and binds it to `name`.
    fn new_activation(&mut self, name: &str, shape: Vec<usize>) -> Result<ValueId, ModelError> {
        let len = element_count(&shape).filter(|&n| n <= MAX_ACTIVATION_ELEMENTS).ok_or_else(|| {
            self.invalid(format!("value `{name}` of shape {shape:?} exceeds {MAX_ACTIVATION_ELEMENTS} elements"))
        })?;
        if len == 0 {
            return Err(self.invalid(format!("value `{name}` of shape {shape:?} is empty")));
        }
        self.total_elements =
            self.total_elements.checked_add(len).filter(|&n| n <= MAX_TOTAL_ACTIVATION_ELEMENTS).ok_or_else(|| {
                self.invalid(format!("activations exceed {MAX_TOTAL_ACTIVATION_ELEMENTS} elements in total"))
            })?;
        let id = self.value_lens.len();
        self.value_lens.push(len);
        self.bind(name, Binding::Activation { id, shape })?;
        Ok(id)
    }

    fn input_shape(&self, info: &ValueInfoProto) -> Result<Vec<usize>, ModelError> {
        let name = &info.name;
        match info.elem_type {
            Some(data_type::FLOAT) => {}
            Some(other) => {
                return Err(
                    self.unsupported(format!("input `{name}` has element type {other}; only float (1) is supported"))
                );
            }
            None => return Err(self.invalid(format!("input `{name}` has no tensor type"))),
        }
        let dims = info.shape.as_ref().ok_or_else(|| self.invalid(format!("input `{name}` has no shape")))?;
        if dims.is_empty() {
            return Err(self.unsupported(format!("input `{name}` is a scalar")));
        }
        let mut shape = Vec::with_capacity(dims.len());
        for (axis, dim) in dims.iter().enumerate() {
            // A leading dimension of rank >= 2 inputs is the batch: dynamic means 1.
            let is_batch = axis == 0 && dims.len() >= 2;
            let size = match dim {
                Dimension::Value(v) if *v > 0 => *v as usize,
                Dimension::Param(_) | Dimension::Unknown if is_batch => 1,
                other => {
                    return Err(self.unsupported(format!(
                        "input `{name}` dimension {axis} is {other:?}; only a dynamic batch (axis 0) is supported"
                    )));
                }
            };
            if is_batch && size != 1 {
                return Err(
                    self.unsupported(format!("input `{name}` has batch size {size}; only batch 1 is supported"))
                );
            }
            shape.push(size);
        }
        Ok(shape)
    }

    fn check_output(&self, info: &ValueInfoProto) -> Result<ValueId, ModelError> {
        let name = &info.name;
        let (id, shape) = match self.bindings.get(name) {
            Some(Binding::Activation { id, shape }) => (*id, shape),
            Some(Binding::Constant(_)) => {
                return Err(self.unsupported(format!("graph output `{name}` is a constant")));
            }
            None => {
                return Err(self.invalid(format!("graph output `{name}` is never computed")));
            }
        };
        if let Some(elem_type) = info.elem_type
            && elem_type != data_type::FLOAT
        {
            return Err(
                self.unsupported(format!("output `{name}` has element type {elem_type}; only float (1) is supported"))
            );
        }
        // When the declared shape is fully known (batch aside), it must agree.
        if let Some(dims) = &info.shape {
            let declared: Option<Vec<usize>> = dims
                .iter()
                .enumerate()
                .map(|(axis, dim)| match dim {
                    Dimension::Value(v) => usize::try_from(*v).ok(),
                    _ if axis == 0 => Some(1),
                    _ => None,
                })
                .collect();
            if let Some(declared) = declared
                && element_count(&declared) != element_count(shape)
            {
                return Err(
                    self.invalid(format!("output `{name}` is declared with shape {declared:?} but computes {shape:?}"))
                );
            }
        }
        Ok(id)
    }

    fn constant_from_tensor(&self, tensor: &TensorProto) -> Result<Constant, ModelError> {
        let name = &tensor.name;
        if tensor.has_external_data || tensor.data_location == 1 {
            return Err(self.unsupported(format!("tensor `{name}` stores its data externally")));
        }
        let dims = tensor
            .dims
            .iter()
            .map(|&d| usize::try_from(d).ok())
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| self.invalid(format!("tensor `{name}` has a negative dimension")))?;
        let count = element_count(&dims).filter(|&n| n <= MAX_CONSTANT_ELEMENTS).ok_or_else(|| {
            self.invalid(format!("tensor `{name}` of shape {dims:?} exceeds {MAX_CONSTANT_ELEMENTS} elements"))
        })?;
        let raw = tensor.raw_data.as_slice();
        let length_error = |found: usize| {
            self.invalid(format!("tensor `{name}` of shape {dims:?} holds {found} values, expected {count}"))
        };
        let data = match tensor.data_type {
            data_type::FLOAT => ConstantData::F32(if raw.is_empty() {
                tensor.float_data.clone()
            } else {
                decode_raw::<4, f32>(raw, f32::from_le_bytes).ok_or_else(|| length_error(raw.len() / 4))?
            }),
            data_type::INT8 => ConstantData::I8(if raw.is_empty() {
                narrow_int32::<i8>(&tensor.int32_data)
                    .ok_or_else(|| self.invalid(format!("tensor `{name}` has int8 values out of range")))?
            } else {
                raw.iter().map(|&b| b as i8).collect()
            }),
            data_type::UINT8 => ConstantData::U8(if raw.is_empty() {
                narrow_int32::<u8>(&tensor.int32_data)
                    .ok_or_else(|| self.invalid(format!("tensor `{name}` has uint8 values out of range")))?
            } else {
                raw.to_vec()
            }),
            data_type::INT32 => ConstantData::I32(if raw.is_empty() {
                tensor.int32_data.clone()
            } else {
                decode_raw::<4, i32>(raw, i32::from_le_bytes).ok_or_else(|| length_error(raw.len() / 4))?
            }),
            data_type::INT64 => ConstantData::I64(if raw.is_empty() {
                tensor.int64_data.clone()
            } else {
                decode_raw::<8, i64>(raw, i64::from_le_bytes).ok_or_else(|| length_error(raw.len() / 8))?
            }),
            other => {
                return Err(self.unsupported(format!(
                    "tensor `{name}` has data type {other}; supported: float, int8, uint8, int32, int64"
                )));
            }
        };
        if data.len() != count {
            return Err(length_error(data.len()));
        }
        Ok(Constant { dims, data })
    }

    // -- node inputs and attributes ------------------------------------------

    fn input<'b>(&'b self, node: &NodeProto, label: &str, index: usize) -> Result<Option<&'b Binding>, ModelError> {
        let Some(name) = node.inputs.get(index).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        self.bindings.get(name).map(Some).ok_or_else(|| self.invalid(format!("{label} uses undefined value `{name}`")))
    }

    fn required_input<'b>(&'b self, node: &NodeProto, label: &str, index: usize) -> Result<&'b Binding, ModelError> {
        self.input(node, label, index)?.ok_or_else(|| self.invalid(format!("{label} lacks required input {index}")))
    }

    fn activation_input(
        &self,
        node: &NodeProto,
        label: &str,
        index: usize,
    ) -> Result<(ValueId, Vec<usize>), ModelError> {
        match self.required_input(node, label, index)? {
            Binding::Activation { id, shape } => Ok((*id, shape.clone())),
            Binding::Constant(_) => Err(self
                .unsupported(format!("{label}: input {index} is a constant; only runtime values are supported there"))),
        }
    }

    fn constant_input(&self, node: &NodeProto, label: &str, index: usize) -> Result<Option<Rc<Constant>>, ModelError> {
        match self.input(node, label, index)? {
            None => Ok(None),
            Some(Binding::Constant(c)) => Ok(Some(Rc::clone(c))),
            Some(Binding::Activation { .. }) => Err(self.unsupported(format!(
                "{label}: input {index} is computed at run time; only constants (initializers) are supported there"
            ))),
        }
    }

    fn float_constant_input(
        &self,
        node: &NodeProto,
        label: &str,
        index: usize,
    ) -> Result<Option<Rc<Constant>>, ModelError> {
        let Some(constant) = self.constant_input(node, label, index)? else {
            return Ok(None);
        };
        if !matches!(constant.data, ConstantData::F32(_)) {
            return Err(self.unsupported(format!(
                "{label}: input {index} is {}; float expected (int8 weights need DequantizeLinear)",
                constant.data.type_name()
            )));
        }
        Ok(Some(constant))
    }

    fn attr_int(&self, node: &NodeProto, label: &str, name: &str, default: i64) -> Result<i64, ModelError> {
        match attribute(node, name) {
            None => Ok(default),
            Some(a) if a.attr_type == attribute_type::INT || a.attr_type == 0 => Ok(a.i),
            Some(a) => Err(self.invalid(format!("{label}: attribute `{name}` has type {}, expected INT", a.attr_type))),
        }
    }

    fn attr_float(&self, node: &NodeProto, label: &str, name: &str, default: f32) -> Result<f32, ModelError> {
        match attribute(node, name) {
            None => Ok(default),
            Some(a) if a.attr_type == attribute_type::FLOAT || a.attr_type == 0 => Ok(a.f),
            Some(a) => {
                Err(self.invalid(format!("{label}: attribute `{name}` has type {}, expected FLOAT", a.attr_type)))
            }
        }
    }

    /// Resolves a possibly negative `axis` against `rank`; `inclusive_end`
    /// allows `axis == rank` (Flatten).
    fn normalize_axis(&self, label: &str, axis: i64, rank: usize, inclusive_end: bool) -> Result<usize, ModelError> {
        let rank_i = rank as i64;
        let upper = if inclusive_end { rank_i } else { rank_i - 1 };
        if axis < -rank_i || axis > upper {
            return Err(self.invalid(format!("{label}: axis {axis} is out of range for rank {rank}")));
        }
        Ok(if axis < 0 { (axis + rank_i) as usize } else { axis as usize })
    }

    // -- nodes ----------------------------------------------------------------

    fn add_node(&mut self, node: &NodeProto, index: usize) -> Result<(), ModelError> {
        let label = node_label(node, index);
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(ModelError::UnsupportedOp {
                path: self.path.to_path_buf(),
                op: format!("{}.{}", node.domain, node.op_type),
            });
        }
        let supported = matches!(
            node.op_type.as_str(),
            "Gemm"
                | "MatMul"
                | "Add"
                | "Relu"
                | "Sigmoid"
                | "Tanh"
                | "Softmax"
                | "Identity"
                | "Flatten"
                | "Reshape"
                | "Constant"
                | "DequantizeLinear"
        );
        if !supported {
            return Err(ModelError::UnsupportedOp { path: self.path.to_path_buf(), op: node.op_type.clone() });
        }
        let output = match node.outputs.as_slice() {
            [output] if !output.is_empty() => output.as_str(),
            _ => return Err(self.invalid(format!("{label} must have exactly one named output"))),
        };
        match node.op_type.as_str() {
            "Gemm" => self.add_gemm(node, &label, output),
            "MatMul" => self.add_matmul(node, &label, output),
            "Add" => self.add_add(node, &label, output),
            "Relu" => self.add_elementwise(node, &label, output, Elementwise::Relu),
            "Sigmoid" => self.add_elementwise(node, &label, output, Elementwise::Sigmoid),
            "Tanh" => self.add_elementwise(node, &label, output, Elementwise::Tanh),
            "Softmax" => self.add_softmax(node, &label, output),
            "Identity" => {
                let binding = self.required_input(node, &label, 0)?.clone();
                self.bind(output, binding)
            }
            "Flatten" => self.add_flatten(node, &label, output),
            "Reshape" => self.add_reshape(node, &label, output),
            "Constant" => self.add_constant(node, &label, output),
            _ => self.add_dequantize(node, &label, output),
        }
    }

    fn add_gemm(&mut self, node: &NodeProto, label: &str, output: &str) -> Result<(), ModelError> {
        let (input, a_shape) = self.activation_input(node, label, 0)?;
        let b =
            self.float_constant_input(node, label, 1)?.ok_or_else(|| self.invalid(format!("{label} lacks input B")))?;
        let b_dims = &b.dims;
        if self.attr_int(node, label, "transA", 0)? != 0 {
            return Err(self.unsupported(format!("{label}: transA=1")));
        }
        let trans_b = match self.attr_int(node, label, "transB", 0)? {
            0 => false,
            1 => true,
            other => return Err(self.invalid(format!("{label}: transB={other}"))),
        };
        let alpha = self.attr_float(node, label, "alpha", 1.0)?;
        let beta = self.attr_float(node, label, "beta", 1.0)?;
        let ([rows, depth], [b0, b1]) = (a_shape.as_slice(), b_dims.as_slice()) else {
            return Err(self.invalid(format!("{label}: A {a_shape:?} and B {b_dims:?} must both be rank 2")));
        };
        let (rows, depth) = (*rows, *depth);
        let (b_depth, width) = if trans_b { (*b1, *b0) } else { (*b0, *b1) };
        if b_depth != depth {
            return Err(self.invalid(format!(
                "{label}: A {a_shape:?} and B {b_dims:?} (transB={}) do not multiply",
                u8::from(trans_b)
            )));
        }
        let ConstantData::F32(b_values) = &b.data else {
            return Err(self.invalid(format!("{label}: B is not float")));
        };
        let weights = if trans_b { b_values.clone() } else { transpose(b_values, depth, width) };
        let bias = match self.float_constant_input(node, label, 2)? {
            None => Vec::new(),
            Some(c) => {
                let c_dims = &c.dims;
                let ConstantData::F32(c_values) = &c.data else {
                    return Err(self.invalid(format!("{label}: C is not float")));
                };
                let mut bias = broadcast_to(c_values, c_dims, &[rows, width]).ok_or_else(|| {
                    self.invalid(format!("{label}: C {c_dims:?} does not broadcast to [{rows}, {width}]"))
                })?;
                bias.iter_mut().for_each(|v| *v *= beta);
                bias
            }
        };
        let output = self.new_activation(output, vec![rows, width])?;
        self.operations.push(Operation::Dense(Dense { input, output, rows, depth, width, weights, bias, alpha }));
        Ok(())
    }

    fn add_matmul(&mut self, node: &NodeProto, label: &str, output: &str) -> Result<(), ModelError> {
        let (input, a_shape) = self.activation_input(node, label, 0)?;
        let b =
            self.float_constant_input(node, label, 1)?.ok_or_else(|| self.invalid(format!("{label} lacks input B")))?;
        let b_dims = &b.dims;
        let [b_depth, width] = b_dims.as_slice() else {
            return Err(
                self.unsupported(format!("{label}: B has shape {b_dims:?}; only a rank-2 constant B is supported"))
            );
        };
        let (b_depth, width) = (*b_depth, *width);
        let Some((&depth, leading)) = a_shape.split_last() else {
            return Err(self.invalid(format!("{label}: A is a scalar")));
        };
        if depth != b_depth {
            return Err(self.invalid(format!("{label}: A {a_shape:?} and B {b_dims:?} do not multiply")));
        }
        let rows = element_count(leading).unwrap_or(0);
        let ConstantData::F32(b_values) = &b.data else {
            return Err(self.invalid(format!("{label}: B is not float")));
        };
        let weights = transpose(b_values, depth, width);
        let mut out_shape = leading.to_vec();
        out_shape.push(width);
        let output = self.new_activation(output, out_shape)?;
        self.operations.push(Operation::Dense(Dense {
            input,
            output,
            rows,
            depth,
            width,
            weights,
            bias: Vec::new(),
            alpha: 1.0,
        }));
        Ok(())
    }

    fn add_add(&mut self, node: &NodeProto, label: &str, output: &str) -> Result<(), ModelError> {
        let lhs = self.required_input(node, label, 0)?.clone();
        let rhs = self.required_input(node, label, 1)?.clone();
        match (lhs, rhs) {
            (Binding::Activation { id: lhs, shape }, Binding::Activation { id: rhs, shape: rhs_shape }) => {
                if shape != rhs_shape {
                    return Err(self.unsupported(format!(
                        "{label}: broadcasting between two runtime values {shape:?} and {rhs_shape:?}"
                    )));
                }
                let output = self.new_activation(output, shape)?;
                self.operations.push(Operation::AddValues { lhs, rhs, output });
                Ok(())
            }
            (Binding::Activation { id, shape }, Binding::Constant(c))
            | (Binding::Constant(c), Binding::Activation { id, shape }) => {
                let ConstantData::F32(values) = &c.data else {
                    return Err(self.unsupported(format!("{label}: {} constant; float expected", c.data.type_name())));
                };
                let addend = broadcast_to(values, &c.dims, &shape).ok_or_else(|| {
                    self.unsupported(format!(
                        "{label}: constant {:?} does not broadcast to the runtime value {shape:?}",
                        c.dims
                    ))
                })?;
                let output = self.new_activation(output, shape)?;
                self.operations.push(Operation::AddConstant { input: id, output, addend });
                Ok(())
            }
            (Binding::Constant(_), Binding::Constant(_)) => {
                Err(self.unsupported(format!("{label}: adding two constants")))
            }
        }
    }

    fn add_elementwise(
        &mut self,
        node: &NodeProto,
        label: &str,
        output: &str,
        function: Elementwise,
    ) -> Result<(), ModelError> {
        let (input, shape) = self.activation_input(node, label, 0)?;
        let output = self.new_activation(output, shape)?;
        self.operations.push(Operation::Elementwise { function, input, output });
        Ok(())
    }

    fn add_softmax(&mut self, node: &NodeProto, label: &str, output: &str) -> Result<(), ModelError> {
        let (input, shape) = self.activation_input(node, label, 0)?;
        // Opset 13 changed the default axis from 1 to -1.
        let default_axis = if self.opset >= 13 { -1 } else { 1 };
        let axis = self.attr_int(node, label, "axis", default_axis)?;
        let Some(&row_len) = shape.last() else {
            return Err(self.invalid(format!("{label}: input is a scalar")));
        };
        // Before opset 13 softmax flattens at `axis`; at the last axis both
        // definitions agree, which is the only case supported.
        if self.normalize_axis(label, axis, shape.len(), false)? != shape.len() - 1 {
            return Err(self.unsupported(format!(
                "{label}: softmax over axis {axis} of {shape:?}; only the last axis is supported"
            )));
        }
        let output = self.new_activation(output, shape)?;
        self.operations.push(Operation::Softmax { input, output, row_len });
        Ok(())
    }

    /// Rebinds `output` to the same data as input 0 with a new shape.
    fn bind_reshaped(
        &mut self,
        node: &NodeProto,
        label: &str,
        output: &str,
        shape: Vec<usize>,
    ) -> Result<(), ModelError> {
        let binding = match self.required_input(node, label, 0)? {
            Binding::Activation { id, .. } => Binding::Activation { id: *id, shape },
            Binding::Constant(c) => {
                let data = match &c.data {
                    ConstantData::F32(v) => ConstantData::F32(v.clone()),
                    ConstantData::I8(v) => ConstantData::I8(v.clone()),
                    ConstantData::U8(v) => ConstantData::U8(v.clone()),
                    ConstantData::I32(v) => ConstantData::I32(v.clone()),
                    ConstantData::I64(v) => ConstantData::I64(v.clone()),
                };
                Binding::Constant(Rc::new(Constant { dims: shape, data }))
            }
        };
        self.bind(output, binding)
    }

    fn input_dims(&self, node: &NodeProto, label: &str) -> Result<Vec<usize>, ModelError> {
        Ok(match self.required_input(node, label, 0)? {
            Binding::Activation { shape, .. } => shape.clone(),
            Binding::Constant(c) => c.dims.clone(),
        })
    }

    fn add_flatten(&mut self, node: &NodeProto, label: &str, output: &str) -> Result<(), ModelError> {
        let dims = self.input_dims(node, label)?;
        let axis = self.attr_int(node, label, "axis", 1)?;
        let axis = self.normalize_axis(label, axis, dims.len(), true)?;
        let (outer, inner) = dims.split_at(axis);
        let shape = vec![element_count(outer).unwrap_or(0), element_count(inner).unwrap_or(0)];
        self.bind_reshaped(node, label, output, shape)
    }

    fn add_reshape(&mut self, node: &NodeProto, label: &str, output: &str) -> Result<(), ModelError> {
        let dims = self.input_dims(node, label)?;
        let count = element_count(&dims).unwrap_or(0);
        let target = self
            .constant_input(node, label, 1)?
            .ok_or_else(|| self.invalid(format!("{label} lacks its shape input")))?;
        let ConstantData::I64(requested) = &target.data else {
            return Err(self.invalid(format!("{label}: shape input is not int64")));
        };
        if target.dims.len() != 1 || requested.len() > MAX_RANK {
            return Err(self.invalid(format!("{label}: shape input must be rank 1 with at most {MAX_RANK} values")));
        }
        let allow_zero = self.attr_int(node, label, "allowzero", 0)? != 0;
        let mut shape = Vec::with_capacity(requested.len());
        let mut inferred_axis = None;
        for (axis, &size) in requested.iter().enumerate() {
            let resolved = match size {
                -1 if inferred_axis.is_none() => {
                    inferred_axis = Some(axis);
                    1
                }
                0 if !allow_zero => *dims.get(axis).ok_or_else(|| {
                    self.invalid(format!("{label}: 0 at axis {axis} copies a dimension the input lacks"))
                })?,
                size if size >= 0 => size as usize,
                _ => return Err(self.invalid(format!("{label}: invalid shape {requested:?}"))),
            };
            shape.push(resolved);
        }
        let known = element_count(&shape).unwrap_or(0);
        if let Some(axis) = inferred_axis {
            if known == 0 || !count.is_multiple_of(known) {
                return Err(self.invalid(format!("{label}: cannot reshape {dims:?} to {requested:?}")));
            }
            if let Some(slot) = shape.get_mut(axis) {
                *slot = count / known;
            }
        }
        if element_count(&shape) != Some(count) {
            return Err(self.invalid(format!("{label}: cannot reshape {dims:?} to {requested:?}")));
        }
        self.bind_reshaped(node, label, output, shape)
    }

    fn add_constant(&mut self, node: &NodeProto, label: &str, output: &str) -> Result<(), ModelError> {
        let [attribute] = node.attributes.as_slice() else {
            return Err(self.invalid(format!("{label} must have exactly one attribute")));
        };
        let tensor = match (attribute.name.as_str(), &attribute.t) {
            ("value", Some(tensor)) => tensor,
            (name, _) => {
                return Err(
                    self.unsupported(format!("{label}: attribute `{name}`; only a `value` tensor is supported"))
                );
            }
        };
        let constant = self.constant_from_tensor(tensor)?;
        self.bind(output, Binding::Constant(Rc::new(constant)))
    }

    /// Folds `DequantizeLinear` of constants into a float constant:
    /// `y = (x - zero_point) * scale`, per tensor or per `axis`.
    fn add_dequantize(&mut self, node: &NodeProto, label: &str, output: &str) -> Result<(), ModelError> {
        let x = self.constant_input(node, label, 0)?.ok_or_else(|| self.invalid(format!("{label} lacks input x")))?;
        let scale = self
            .float_constant_input(node, label, 1)?
            .ok_or_else(|| self.invalid(format!("{label} lacks input x_scale")))?;
        let scale_dims = &scale.dims;
        let zero_point = self.constant_input(node, label, 2)?;
        if self.attr_int(node, label, "block_size", 0)? != 0 {
            return Err(self.unsupported(format!("{label}: blocked quantization")));
        }
        if matches!(x.data, ConstantData::F32(_) | ConstantData::I64(_)) {
            return Err(
                self.unsupported(format!("{label}: x is {}; int8, uint8 or int32 expected", x.data.type_name()))
            );
        }
        let ConstantData::F32(scales) = &scale.data else {
            return Err(self.invalid(format!("{label}: x_scale is not float")));
        };
        if let Some(zp) = &zero_point {
            if std::mem::discriminant(&zp.data) != std::mem::discriminant(&x.data) {
                return Err(self.invalid(format!("{label}: x_zero_point type differs from x")));
            }
            if zp.data.len() != scales.len() {
                return Err(self.invalid(format!("{label}: x_zero_point and x_scale differ in size")));
            }
        }
        // ONNX Runtime treats a one-element 1-D scale as per-tensor, as here.
        let per_tensor = scales.len() == 1 && scale_dims.len() <= 1;
        let (channels, inner) = if per_tensor {
            (1, 1)
        } else {
            if scale_dims.len() != 1 {
                return Err(self.invalid(format!("{label}: x_scale of shape {scale_dims:?} is not rank 0 or 1")));
            }
            let axis = self.attr_int(node, label, "axis", 1)?;
            let axis = self.normalize_axis(label, axis, x.dims.len(), false)?;
            let channels = x.dims.get(axis).copied().unwrap_or(0);
            if channels != scales.len() {
                return Err(self.invalid(format!(
                    "{label}: x_scale has {} values but x {:?} has {channels} along axis {axis}",
                    scales.len(),
                    x.dims
                )));
            }
            let inner = element_count(x.dims.get(axis + 1..).unwrap_or(&[])).unwrap_or(0);
            (channels.max(1), inner.max(1))
        };
        let mut values = Vec::with_capacity(x.data.len());
        for index in 0..x.data.len() {
            let channel = if per_tensor { 0 } else { (index / inner) % channels };
            let q = x.data.integer(index).unwrap_or(0);
            let zp = zero_point.as_ref().and_then(|zp| zp.data.integer(channel)).unwrap_or(0);
            let s = scales.get(channel).copied().unwrap_or(0.0);
            // Same arithmetic as ONNX Runtime: integer subtraction, then one float multiply.
            values.push((q - zp) as f32 * s);
        }
        let constant = Constant { dims: x.dims.clone(), data: ConstantData::F32(values) };
        self.bind(output, Binding::Constant(Rc::new(constant)))
    }
}

fn decode_raw<const N: usize, T>(raw: &[u8], convert: fn([u8; N]) -> T) -> Option<Vec<T>> {
    let (words, rest) = raw.as_chunks::<N>();
    if !rest.is_empty() {
        return None;
    }
    Some(words.iter().map(|w| convert(*w)).collect())
}

fn narrow_int32<T: TryFrom<i32>>(values: &[i32]) -> Option<Vec<T>> {
    values.iter().map(|&v| T::try_from(v).ok()).collect()
}

/// `[rows][cols]` → `[cols][rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len());
    for c in 0..cols {
        for r in 0..rows {
            out.push(values.get(r * cols + c).copied().unwrap_or(0.0));
        }
    }
    out
}

/// Numpy-style unidirectional broadcast of `values` (shape `from`) to `to`;
/// `None` when the shapes are incompatible.
fn broadcast_to(values: &[f32], from: &[usize], to: &[usize]) -> Option<Vec<f32>> {
    let offset = to.len().checked_sub(from.len())?;
    if element_count(from)? != values.len() {
        return None;
    }
    let mut strides = vec![0usize; to.len()];
    let mut stride = 1usize;
    for (axis, &size) in from.iter().enumerate().rev() {
        let target = *to.get(offset + axis)?;
        if size == target {
            *strides.get_mut(offset + axis)? = stride;
        } else if size != 1 {
            return None;
        }
        stride = stride.checked_mul(size)?;
    }
    let count = element_count(to)?;
    let mut out = Vec::with_capacity(count);
    let mut index = vec![0usize; to.len()];
    for _ in 0..count {
        let source: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out.push(*values.get(source)?);
        // Odometer increment, last axis fastest.
        for (i, &size) in index.iter_mut().zip(to).rev() {
            *i += 1;
            if *i < size {
                break;
            }
            *i = 0;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_row_to_matrix() {
        let out = broadcast_to(&[1.0, 2.0, 3.0], &[3], &[2, 3]).unwrap();
        assert_eq!(out, vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let out = broadcast_to(&[1.0, 2.0], &[2, 1], &[2, 3]).unwrap();
        assert_eq!(out, vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        assert_eq!(broadcast_to(&[5.0], &[], &[1, 2]).unwrap(), vec![5.0, 5.0]);
        assert!(broadcast_to(&[1.0, 2.0], &[2], &[1, 3]).is_none());
        assert!(broadcast_to(&[1.0, 2.0], &[1, 1, 2], &[1, 2]).is_none());
    }

    #[test]
    fn transpose_swaps_axes() {
        assert_eq!(transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
