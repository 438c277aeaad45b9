//! Writes multi-layer perceptrons as ONNX files (IR 8, default-domain opset 13)
//! that ONNX Runtime and the native backends both load.
//!
//! Each layer is `Gemm(x, W, b, transB=1)` with `W` stored `[out, in]` (the
//! PyTorch `Linear` layout), followed by an activation node. With
//! [`WeightStorage::Int8`], `W` is stored as int8 with a per-output-channel f32
//! scale and an int8 zero point, and a `DequantizeLinear` node restores it.

use std::path::Path;

use crate::SplitMix64;
use crate::error::ModelError;
use crate::onnx_proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetId, TensorProto, ValueInfoProto,
    attribute_type, data_type,
};

/// ONNX IR version written.
pub const WRITTEN_IR_VERSION: i64 = 8;
/// Default-domain opset written (per-axis `DequantizeLinear` needs 13).
pub const WRITTEN_OPSET: i64 = 13;
/// Name of the written model's input.
pub const MLP_INPUT_NAME: &str = "input";
/// Name of the written model's output.
pub const MLP_OUTPUT_NAME: &str = "output";

/// Activation applied after a layer's affine transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// None: the layer is purely affine.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// Softmax over the layer's outputs.
    Softmax,
}

impl Activation {
    fn op_type(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Relu => Some("Relu"),
            Self::Sigmoid => Some("Sigmoid"),
            Self::Tanh => Some("Tanh"),
            Self::Softmax => Some("Softmax"),
        }
    }
}

/// How dense weights are stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightStorage {
    /// f32 initializers.
    #[default]
    F32,
    /// int8 initializers (symmetric, per output channel) + `DequantizeLinear`.
    Int8,
}

/// One fully connected layer: `y = activation(W x + b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    inputs: usize,
    outputs: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
    activation: Activation,
}

impl DenseLayer {
    /// A layer from explicit parameters; `weights` is `outputs` rows of
    /// `inputs` values, `bias` has `outputs` values.
    pub fn new(
        inputs: usize,
        outputs: usize,
        weights: Vec<f32>,
        bias: Vec<f32>,
        activation: Activation,
    ) -> Result<Self, ModelError> {
        if inputs == 0 || outputs == 0 {
            return Err(ModelError::Build { reason: format!("layer {inputs}→{outputs} is empty") });
        }
        if Some(weights.len()) != inputs.checked_mul(outputs) || bias.len() != outputs {
            return Err(ModelError::Build {
                reason: format!(
                    "layer {inputs}→{outputs} needs {} weights and {outputs} biases, got {} and {}",
                    inputs.saturating_mul(outputs),
                    weights.len(),
                    bias.len()
                ),
            });
        }
        Ok(Self { inputs, outputs, weights, bias, activation })
    }

    /// A layer with deterministic pseudo-random parameters: Xavier-uniform
    /// weights and biases uniform in ±0.1, from `seed`.
    pub fn seeded(inputs: usize, outputs: usize, activation: Activation, seed: u64) -> Result<Self, ModelError> {
        let mut rng = SplitMix64::new(seed);
        let limit = (6.0 / (inputs + outputs).max(1) as f32).sqrt();
        let count = inputs.saturating_mul(outputs);
        let weights = (0..count).map(|_| rng.uniform_symmetric_f32(limit)).collect();
        let bias = (0..outputs).map(|_| rng.uniform_symmetric_f32(0.1)).collect();
        Self::new(inputs, outputs, weights, bias, activation)
    }

    /// Input features.
    #[must_use]
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Output features.
    #[must_use]
    pub fn outputs(&self) -> usize {
        self.outputs
    }
}

/// Builds an MLP and writes it as an ONNX model.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxMlpBuilder {
    input_len: usize,
    layers: Vec<DenseLayer>,
    weight_storage: WeightStorage,
}

impl OnnxMlpBuilder {
    /// An MLP taking `input_len` features, with no layers yet.
    #[must_use]
    pub fn new(input_len: usize) -> Self {
        Self { input_len, layers: Vec::new(), weight_storage: WeightStorage::F32 }
    }

    /// An MLP with seeded layers of the given widths (`widths[0]` is the input
    /// length): `hidden` after every layer but the last, `output` after the last.
    pub fn seeded(widths: &[usize], hidden: Activation, output: Activation, seed: u64) -> Result<Self, ModelError> {
        let Some(&input_len) = widths.first() else {
            return Err(ModelError::Build { reason: "no widths".into() });
        };
        let mut builder = Self::new(input_len);
        let layer_count = widths.len().saturating_sub(1);
        for (index, pair) in widths.windows(2).enumerate() {
            let activation = if index + 1 == layer_count { output } else { hidden };
            let layer_seed = seed.wrapping_add((index as u64).wrapping_mul(0x1000_0001));
            builder = builder.layer(DenseLayer::seeded(pair[0], pair[1], activation, layer_seed)?)?;
        }
        Ok(builder)
    }

    /// Appends a layer; its input count must match the previous layer's outputs.
    pub fn layer(mut self, layer: DenseLayer) -> Result<Self, ModelError> {
        let expected = self.output_len();
        if layer.inputs != expected {
            return Err(ModelError::Build {
                reason: format!(
                    "layer {} takes {} inputs, the previous stage produces {expected}",
                    self.layers.len(),
                    layer.inputs
                ),
            });
        }
        self.layers.push(layer);
        Ok(self)
    }

    /// Chooses how weights are stored.
    #[must_use]
    pub fn weight_storage(mut self, storage: WeightStorage) -> Self {
        self.weight_storage = storage;
        self
    }

    /// Input features.
    #[must_use]
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Output values (the input length when there are no layers).
    #[must_use]
    pub fn output_len(&self) -> usize {
        self.layers.last().map_or(self.input_len, |l| l.outputs)
    }

    /// The model as a `ModelProto`.
    pub fn to_model_proto(&self) -> Result<ModelProto, ModelError> {
        if self.layers.is_empty() {
            return Err(ModelError::Build { reason: "an MLP needs at least one layer".into() });
        }
        let mut graph = GraphProto {
            name: "qp_mlp".into(),
            inputs: vec![value_info(MLP_INPUT_NAME, self.input_len)],
            outputs: vec![value_info(MLP_OUTPUT_NAME, self.output_len())],
            ..GraphProto::default()
        };
        let mut current = MLP_INPUT_NAME.to_owned();
        let last = self.layers.len() - 1;
        for (index, layer) in self.layers.iter().enumerate() {
            let weight = format!("layer{index}.weight");
            let bias = format!("layer{index}.bias");
            let dims = vec![layer.outputs as i64, layer.inputs as i64];
            match self.weight_storage {
                WeightStorage::F32 => graph.initializers.push(float_tensor(&weight, dims, &layer.weights)),
                WeightStorage::Int8 => {
                    add_int8_weight(&mut graph, &weight, dims, layer, index);
                }
            }
            graph.initializers.push(float_tensor(&bias, vec![layer.outputs as i64], &layer.bias));

            let activation_op = layer.activation.op_type();
            let gemm_output = if index == last && activation_op.is_none() {
                MLP_OUTPUT_NAME.to_owned()
            } else {
                format!("layer{index}.linear")
            };
            graph.nodes.push(NodeProto {
                inputs: vec![current, weight, bias],
                outputs: vec![gemm_output.clone()],
                name: format!("layer{index}.gemm"),
                op_type: "Gemm".into(),
                attributes: vec![int_attribute("transB", 1)],
                ..NodeProto::default()
            });
            current = gemm_output;
            if let Some(op_type) = activation_op {
                let output =
                    if index == last { MLP_OUTPUT_NAME.to_owned() } else { format!("layer{index}.activation") };
                let attributes =
                    if layer.activation == Activation::Softmax { vec![int_attribute("axis", -1)] } else { Vec::new() };
                graph.nodes.push(NodeProto {
                    inputs: vec![current],
                    outputs: vec![output.clone()],
                    name: format!("layer{index}.{}", op_type.to_ascii_lowercase()),
                    op_type: op_type.into(),
                    attributes,
                    ..NodeProto::default()
                });
                current = output;
            }
        }
        Ok(ModelProto {
            ir_version: WRITTEN_IR_VERSION,
            producer_name: "qp-models".into(),
            graph: Some(graph),
            opset_import: vec![OperatorSetId { domain: String::new(), version: WRITTEN_OPSET }],
        })
    }

    /// The model as ONNX file bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        Ok(self.to_model_proto()?.encode())
    }

    /// Writes the model to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ModelError> {
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes).map_err(|source| ModelError::Io { path: path.to_path_buf(), source })
    }
}

/// `[batch, features]` float tensor with a symbolic batch.
fn value_info(name: &str, features: usize) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        elem_type: Some(data_type::FLOAT),
        shape: Some(vec![Dimension::Param("batch".into()), Dimension::Value(features as i64)]),
    }
}

fn float_tensor(name: &str, dims: Vec<i64>, values: &[f32]) -> TensorProto {
    TensorProto {
        dims,
        data_type: data_type::FLOAT,
        name: name.into(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i: value, attr_type: attribute_type::INT, ..AttributeProto::default() }
}

/// Stores `layer`'s weights as int8 (symmetric per output row) and adds the
/// `DequantizeLinear` node producing the float weight `weight`.
fn add_int8_weight(graph: &mut GraphProto, weight: &str, dims: Vec<i64>, layer: &DenseLayer, index: usize) {
    let mut quantized = Vec::with_capacity(layer.weights.len());
    let mut scales = Vec::with_capacity(layer.outputs);
    for row in layer.weights.chunks(layer.inputs.max(1)) {
        let max_abs = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        // A zero row still needs a valid (non-zero) scale.
        let scale = if max_abs > 0.0 { max_abs / 127.0 } else { 1.0 };
        quantized.extend(row.iter().map(|w| (w / scale).round().clamp(-127.0, 127.0) as i8 as u8));
        scales.push(scale);
    }
    let quantized_name = format!("{weight}.quantized");
    let scale_name = format!("{weight}.scale");
    let zero_point_name = format!("{weight}.zero_point");
    graph.initializers.push(TensorProto {
        dims,
        data_type: data_type::INT8,
        name: quantized_name.clone(),
        raw_data: quantized,
        ..TensorProto::default()
    });
    graph.initializers.push(float_tensor(&scale_name, vec![layer.outputs as i64], &scales));
    graph.initializers.push(TensorProto {
        dims: vec![layer.outputs as i64],
        data_type: data_type::INT8,
        name: zero_point_name.clone(),
        raw_data: vec![0; layer.outputs],
        ..TensorProto::default()
    });
    graph.nodes.push(NodeProto {
        inputs: vec![quantized_name, scale_name, zero_point_name],
        outputs: vec![weight.into()],
        name: format!("layer{index}.dequantize"),
        op_type: "DequantizeLinear".into(),
        attributes: vec![int_attribute("axis", 0)],
        ..NodeProto::default()
    });
}
