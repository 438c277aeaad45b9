//! Backend parity, corrupt-model handling and `infer` argument checks.
//!
//! Tests that use ONNX Runtime need `ORT_DYLIB_PATH`; they fail (not skip)
//! without it, since the project's test wrapper (`cargo xtask test`) always
//! sets it.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "shared test helpers outside #[test] fns: a failure must abort the test with its message"
)]

use std::path::{Path, PathBuf};

use qp_models::onnx_proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetId, TensorProto, ValueInfoProto,
    attribute_type, data_type,
};
use qp_models::{
    Activation, BackendKind, DenseLayer, ModelBackend, ModelError, NativeBackend, NativePrecision, OnnxMlpBuilder,
    WeightStorage, load_model,
};

/// Max |ORT - native f32| on any output.
const F32_PARITY: f32 = 1e-5;
/// Max |native int8 - native f32| on softmax outputs.
const INT8_TOLERANCE: f32 = 2e-2;
/// Minimum share of examples where int8 and f32 pick the same class.
const INT8_ARGMAX_AGREEMENT: f64 = 0.99;
const EXAMPLES: usize = 1000;

/// Fails with instructions when ONNX Runtime is not configured.
fn require_onnxruntime() {
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(path) if !path.is_empty() => {}
        _ => panic!(
            "ORT_DYLIB_PATH is not set. These tests need ONNX Runtime 1.31: run them with \
             `cargo xtask test` (which installs it and sets ORT_DYLIB_PATH), or export \
             ORT_DYLIB_PATH=/path/to/libonnxruntime.so.1.31.x"
        ),
    }
}

use qp_models::SplitMix64 as Rng;

/// Vectors of test inputs.
trait RandomVec {
    fn vec(&mut self, len: usize, scale: f32) -> Vec<f32>;
}

impl RandomVec for Rng {
    fn vec(&mut self, len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|_| self.uniform_symmetric_f32(scale)).collect()
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn classifier(storage: WeightStorage) -> OnnxMlpBuilder {
    OnnxMlpBuilder::seeded(&[32, 64, 16, 3], Activation::Relu, Activation::Softmax, 7).unwrap().weight_storage(storage)
}

fn run_all(backend: &mut dyn ModelBackend, inputs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    inputs
        .iter()
        .map(|input| {
            let mut output = vec![0.0; backend.output_len()];
            backend.infer(input, &mut output).unwrap();
            output
        })
        .collect()
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs())).fold(0.0, f32::max)
}

fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

fn argmax_agreement(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let same = a.iter().zip(b).filter(|(x, y)| argmax(x) == argmax(y)).count();
    same as f64 / a.len() as f64
}

fn random_inputs(len: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    (0..EXAMPLES).map(|_| rng.vec(len, 2.0)).collect()
}

/// Runs the same inputs through every backend kind.
fn outputs_by_kind(path: &Path, input_len: usize) -> [Vec<Vec<f32>>; 3] {
    let inputs = random_inputs(input_len, 42);
    BackendKind::ALL.map(|kind| {
        let mut backend = load_model(path, kind).unwrap();
        assert_eq!(backend.backend_name(), kind.backend_name());
        assert_eq!(backend.input_len(), input_len);
        run_all(backend.as_mut(), &inputs)
    })
}

// ---------------------------------------------------------------------------
// Parity
// ---------------------------------------------------------------------------

#[test]
fn f32_mlp_native_matches_onnxruntime() {
    require_onnxruntime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.onnx");
    classifier(WeightStorage::F32).write(&path).unwrap();
    let [ort, f32_out, int8_out] = outputs_by_kind(&path, 32);

    assert_eq!(ort[0].len(), 3);
    let diff = max_abs_diff(&ort, &f32_out);
    assert!(diff <= F32_PARITY, "ORT vs native-f32: max abs diff {diff}");
    eprintln!("classifier: ORT vs native-f32 max abs diff {diff:e}");

    let diff = max_abs_diff(&f32_out, &int8_out);
    let agreement = argmax_agreement(&f32_out, &int8_out);
    eprintln!("classifier: native-int8 vs f32 max abs diff {diff:e}, argmax agreement {agreement}");
    assert!(diff <= INT8_TOLERANCE, "native-int8 vs f32: max abs diff {diff}");
    assert!(agreement >= INT8_ARGMAX_AGREEMENT, "native-int8 vs f32: argmax agreement {agreement}");
}

#[test]
fn int8_weight_model_native_matches_onnxruntime() {
    require_onnxruntime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp_int8_weights.onnx");
    classifier(WeightStorage::Int8).write(&path).unwrap();
    let [ort, f32_out, int8_out] = outputs_by_kind(&path, 32);

    let diff = max_abs_diff(&ort, &f32_out);
    assert!(diff <= F32_PARITY, "ORT vs native-f32 on DequantizeLinear model: {diff}");
    eprintln!("int8-weight classifier: ORT vs native-f32 max abs diff {diff:e}");
    let diff = max_abs_diff(&f32_out, &int8_out);
    eprintln!(
        "int8-weight classifier: native-int8 vs f32 max abs diff {diff:e}, argmax agreement {}",
        argmax_agreement(&f32_out, &int8_out)
    );
    assert!(diff <= INT8_TOLERANCE, "native-int8 vs f32: {diff}");
    assert!(argmax_agreement(&f32_out, &int8_out) >= INT8_ARGMAX_AGREEMENT);
}

#[test]
fn sigmoid_and_tanh_mlp_native_matches_onnxruntime() {
    require_onnxruntime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp_tanh.onnx");
    OnnxMlpBuilder::seeded(&[24, 40, 8], Activation::Tanh, Activation::Sigmoid, 99).unwrap().write(&path).unwrap();
    let [ort, f32_out, _] = outputs_by_kind(&path, 24);
    let diff = max_abs_diff(&ort, &f32_out);
    assert!(diff <= F32_PARITY, "ORT vs native-f32: {diff}");
    eprintln!("tanh/sigmoid MLP: ORT vs native-f32 max abs diff {diff:e}");
}

fn float_initializer(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        // float_data (not raw_data) to cover the other encoding.
        float_data: values.to_vec(),
        name: name.into(),
        ..TensorProto::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        outputs: vec![output.into()],
        name: format!("{op}_{output}"),
        op_type: op.into(),
        attributes,
        ..NodeProto::default()
    }
}

fn int_attr(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i: value, attr_type: attribute_type::INT, ..AttributeProto::default() }
}

fn float_attr(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.into(), f: value, attr_type: attribute_type::FLOAT, ..AttributeProto::default() }
}

fn tensor_info(name: &str, dims: Vec<Dimension>) -> ValueInfoProto {
    ValueInfoProto { name: name.into(), elem_type: Some(data_type::FLOAT), shape: Some(dims) }
}

fn model(graph: GraphProto) -> ModelProto {
    ModelProto {
        ir_version: 8,
        producer_name: "qp-models tests".into(),
        graph: Some(graph),
        opset_import: vec![OperatorSetId { domain: String::new(), version: 13 }],
    }
}

/// Input `[N, 2, 6]` → Flatten → MatMul → Add(bias) → Reshape → Identity →
/// Tanh → Reshape(Constant shape) → Gemm(alpha, beta, transB=0, C [1, 5]) → Add(skip)
/// → Softmax. Covers every natively supported op besides DequantizeLinear.
fn mixed_ops_model() -> ModelProto {
    let mut rng = Rng::new(5);
    let shape_constant =
        TensorProto { dims: vec![2], data_type: data_type::INT64, int64_data: vec![1, -1], ..TensorProto::default() };
    let graph = GraphProto {
        name: "mixed".into(),
        nodes: vec![
            node("Flatten", &["x"], "flat", vec![int_attr("axis", 1)]),
            node("MatMul", &["flat", "w1"], "mm", vec![]),
            node("Add", &["b1", "mm"], "biased", vec![]),
            node("Reshape", &["biased", "shape_2x4"], "grid", vec![]),
            node("Identity", &["grid"], "grid2", vec![]),
            node("Tanh", &["grid2"], "act", vec![]),
            NodeProto {
                attributes: vec![AttributeProto {
                    name: "value".into(),
                    t: Some(shape_constant),
                    attr_type: attribute_type::TENSOR,
                    ..AttributeProto::default()
                }],
                ..node("Constant", &[], "shape_1xm1", vec![])
            },
            node("Reshape", &["act", "shape_1xm1"], "row", vec![]),
            node("Gemm", &["row", "w2", "c2"], "logits", vec![float_attr("alpha", 0.75), float_attr("beta", 1.5)]),
            node("Add", &["logits", "logits"], "doubled", vec![]),
            node("Softmax", &["doubled"], "y", vec![]),
        ],
        initializers: vec![
            float_initializer("w1", &[12, 8], &rng.vec(96, 0.5)),
            float_initializer("b1", &[8], &rng.vec(8, 0.1)),
            TensorProto {
                dims: vec![2],
                data_type: data_type::INT64,
                int64_data: vec![2, 4],
                name: "shape_2x4".into(),
                ..TensorProto::default()
            },
            float_initializer("w2", &[8, 5], &rng.vec(40, 0.5)),
            float_initializer("c2", &[1, 5], &rng.vec(5, 0.1)),
        ],
        inputs: vec![tensor_info("x", vec![Dimension::Param("N".into()), Dimension::Value(2), Dimension::Value(6)])],
        outputs: vec![tensor_info("y", vec![Dimension::Value(1), Dimension::Value(5)])],
    };
    model(graph)
}

#[test]
fn mixed_ops_model_native_matches_onnxruntime() {
    require_onnxruntime();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "mixed.onnx", &mixed_ops_model().encode());
    let [ort, f32_out, int8_out] = outputs_by_kind(&path, 12);
    assert_eq!(f32_out[0].len(), 5);
    let diff = max_abs_diff(&ort, &f32_out);
    assert!(diff <= F32_PARITY, "ORT vs native-f32: {diff}");
    eprintln!("mixed ops: ORT vs native-f32 max abs diff {diff:e}");
    let diff = max_abs_diff(&f32_out, &int8_out);
    assert!(diff <= INT8_TOLERANCE, "native-int8 vs f32: {diff}");
    eprintln!("mixed ops: native-int8 vs f32 max abs diff {diff:e}");
}

// ---------------------------------------------------------------------------
// Corrupt and unsupported models
// ---------------------------------------------------------------------------

/// Loads `path` with `kind`, expects an error whose message names the file.
fn expect_load_error(path: &Path, kind: BackendKind) -> ModelError {
    let error = match load_model(path, kind) {
        Ok(backend) => panic!("{kind:?} loaded {} as {}", path.display(), backend.backend_name()),
        Err(error) => error,
    };
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "{kind:?}: error does not name {}: {message}",
        path.display()
    );
    error
}

fn corrupt_files(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let valid = classifier(WeightStorage::F32).to_bytes().unwrap();
    let mut rng = Rng::new(1234);
    let random: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    vec![
        ("truncated", write(dir, "truncated.onnx", &valid[..valid.len() / 2])),
        ("random", write(dir, "random.onnx", &random)),
        ("empty", write(dir, "empty.onnx", &[])),
        ("missing", dir.join("does_not_exist.onnx")),
    ]
}

#[test]
fn corrupt_models_are_typed_errors_naming_the_file_native() {
    let dir = tempfile::tempdir().unwrap();
    for (what, path) in corrupt_files(dir.path()) {
        for kind in [BackendKind::NativeF32, BackendKind::NativeInt8] {
            let error = expect_load_error(&path, kind);
            match what {
                "missing" => assert!(matches!(error, ModelError::Io { .. }), "{error}"),
                "empty" => assert!(matches!(error, ModelError::Malformed { .. }), "{error}"),
                "truncated" => assert!(matches!(error, ModelError::Malformed { .. }), "{error}"),
                _ => {}
            }
        }
    }
}

#[test]
fn corrupt_models_are_typed_errors_naming_the_file_onnxruntime() {
    require_onnxruntime();
    let dir = tempfile::tempdir().unwrap();
    for (what, path) in corrupt_files(dir.path()) {
        let error = expect_load_error(&path, BackendKind::OnnxRuntime);
        if what == "missing" {
            assert!(matches!(error, ModelError::Io { .. }), "{error}");
        } else {
            assert!(matches!(error, ModelError::RuntimeLoad { .. }), "{error}");
        }
    }
}

/// The classifier with its first activation replaced by `op_type`.
fn model_with_op(op_type: &str) -> Vec<u8> {
    let mut model = classifier(WeightStorage::F32).to_model_proto().unwrap();
    let graph = model.graph.as_mut().unwrap();
    let relu = graph.nodes.iter_mut().find(|n| n.op_type == "Relu").unwrap();
    relu.op_type = op_type.into();
    model.encode()
}

#[test]
fn unsupported_op_is_rejected_at_load_native() {
    let dir = tempfile::tempdir().unwrap();
    for op in ["Conv", "LeakyRelu", "QpNoSuchOp"] {
        let path = write(dir.path(), &format!("{op}.onnx"), &model_with_op(op));
        for kind in [BackendKind::NativeF32, BackendKind::NativeInt8] {
            match expect_load_error(&path, kind) {
                ModelError::UnsupportedOp { op: found, .. } => assert_eq!(found, op),
                other => panic!("expected UnsupportedOp, got {other}"),
            }
        }
    }
}

#[test]
fn unknown_op_is_rejected_at_load_onnxruntime() {
    require_onnxruntime();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "unknown_op.onnx", &model_with_op("QpNoSuchOp"));
    let error = expect_load_error(&path, BackendKind::OnnxRuntime);
    assert!(matches!(error, ModelError::RuntimeLoad { .. }), "{error}");
}

#[test]
fn custom_domain_op_is_unsupported_native() {
    let mut model = classifier(WeightStorage::F32).to_model_proto().unwrap();
    let graph = model.graph.as_mut().unwrap();
    graph.nodes[1].domain = "com.microsoft".into();
    let bytes = model.encode();
    let error = NativeBackend::from_bytes(&bytes, Path::new("/x/custom.onnx"), NativePrecision::F32).unwrap_err();
    assert!(matches!(&error, ModelError::UnsupportedOp { op, .. } if op == "com.microsoft.Relu"), "{error}");
    assert!(error.to_string().contains("/x/custom.onnx"));
}

#[test]
fn invalid_graphs_are_typed_errors_native() {
    let base = classifier(WeightStorage::F32).to_model_proto().unwrap();
    type Mutation = Box<dyn Fn(&mut ModelProto)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("no graph", Box::new(|m| m.graph = None)),
        ("no opset", Box::new(|m| m.opset_import.clear())),
        ("undefined input", Box::new(|m| m.graph.as_mut().unwrap().nodes[1].inputs[0] = "nowhere".into())),
        ("weight shape mismatch", Box::new(|m| m.graph.as_mut().unwrap().initializers[0].dims = vec![32, 64])),
        (
            "weight data length mismatch",
            Box::new(|m| {
                m.graph.as_mut().unwrap().initializers[0].raw_data.truncate(10);
            }),
        ),
        (
            "batch of 2",
            Box::new(|m| {
                m.graph.as_mut().unwrap().inputs[0].shape = Some(vec![Dimension::Value(2), Dimension::Value(32)])
            }),
        ),
        (
            "dynamic feature dimension",
            Box::new(|m| {
                m.graph.as_mut().unwrap().inputs[0].shape =
                    Some(vec![Dimension::Value(1), Dimension::Param("F".into())])
            }),
        ),
        ("external data", Box::new(|m| m.graph.as_mut().unwrap().initializers[0].data_location = 1)),
        (
            "duplicate output name",
            Box::new(|m| {
                let graph = m.graph.as_mut().unwrap();
                graph.nodes[1].outputs[0] = "layer0.linear".into();
            }),
        ),
        (
            "huge declared dims",
            Box::new(|m| {
                m.graph.as_mut().unwrap().initializers[0].dims = vec![1 << 40, 1 << 40];
            }),
        ),
        (
            "softmax over axis 0",
            Box::new(|m| {
                let graph = m.graph.as_mut().unwrap();
                let softmax = graph.nodes.iter_mut().find(|n| n.op_type == "Softmax").unwrap();
                softmax.attributes[0].i = 0;
            }),
        ),
        ("no outputs", Box::new(|m| m.graph.as_mut().unwrap().outputs.clear())),
        (
            "output declared with wrong size",
            Box::new(|m| {
                m.graph.as_mut().unwrap().outputs[0].shape = Some(vec![Dimension::Value(1), Dimension::Value(4)])
            }),
        ),
    ];
    let path = Path::new("/models/agent.onnx");
    for (what, mutate) in cases {
        let mut model = base.clone();
        mutate(&mut model);
        let bytes = model.encode();
        for precision in [NativePrecision::F32, NativePrecision::Int8] {
            let error =
                NativeBackend::from_bytes(&bytes, path, precision).err().unwrap_or_else(|| panic!("{what}: loaded"));
            let message = error.to_string();
            assert!(message.contains("/models/agent.onnx"), "{what}: {message}");
            assert!(
                matches!(error, ModelError::InvalidGraph { .. } | ModelError::Unsupported { .. }),
                "{what}: {message}"
            );
        }
    }
}

#[test]
fn malformed_error_names_file_and_offset() {
    let path = Path::new("/x/y.onnx");
    // ir_version key followed by an unterminated varint.
    let error = NativeBackend::from_bytes(&[0x08, 0xff, 0xff], path, NativePrecision::F32).unwrap_err();
    assert_eq!(error.to_string(), "model /x/y.onnx: truncated varint at byte 1");
}

// ---------------------------------------------------------------------------
// infer arguments
// ---------------------------------------------------------------------------

fn check_wrong_lengths(backend: &mut dyn ModelBackend) {
    let input_len = backend.input_len();
    let output_len = backend.output_len();
    let mut output = vec![0.0; output_len];
    let name = backend.backend_name();
    for wrong in [0, input_len - 1, input_len + 1] {
        let error = backend.infer(&vec![0.5; wrong], &mut output).unwrap_err();
        assert!(
            matches!(error, ModelError::InputLength { expected, actual } if expected == input_len && actual == wrong),
            "{name}: {error}"
        );
    }
    let error = backend.infer(&vec![0.5; input_len], &mut vec![0.0; output_len + 1]).unwrap_err();
    assert!(matches!(error, ModelError::OutputLength { .. }), "{name}: {error}");
    // Still usable after the errors.
    backend.infer(&vec![0.5; input_len], &mut output).unwrap();
    assert!(output.iter().all(|v| v.is_finite()));
}

#[test]
fn wrong_slice_lengths_are_typed_errors_native() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.onnx");
    classifier(WeightStorage::F32).write(&path).unwrap();
    for kind in [BackendKind::NativeF32, BackendKind::NativeInt8] {
        let mut backend = load_model(&path, kind).unwrap();
        check_wrong_lengths(backend.as_mut());
    }
}

#[test]
fn wrong_slice_lengths_are_typed_errors_onnxruntime() {
    require_onnxruntime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.onnx");
    classifier(WeightStorage::F32).write(&path).unwrap();
    let mut backend = load_model(&path, BackendKind::OnnxRuntime).unwrap();
    check_wrong_lengths(backend.as_mut());
}

// ---------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------

#[test]
fn builder_rejects_inconsistent_layers() {
    assert!(matches!(
        DenseLayer::new(3, 2, vec![0.0; 5], vec![0.0; 2], Activation::Relu),
        Err(ModelError::Build { .. })
    ));
    let layer = DenseLayer::seeded(4, 2, Activation::Relu, 1).unwrap();
    assert!(matches!(OnnxMlpBuilder::new(3).layer(layer), Err(ModelError::Build { .. })));
    assert!(matches!(OnnxMlpBuilder::new(3).to_bytes(), Err(ModelError::Build { .. })));
}

#[test]
fn explicit_weights_compute_the_expected_values() {
    // y = relu(W x + b) with W = [[1, 2], [-1, 0.5]], b = [0.5, -1]; then identity layer.
    let layer = DenseLayer::new(2, 2, vec![1.0, 2.0, -1.0, 0.5], vec![0.5, -1.0], Activation::Relu).unwrap();
    let bytes = OnnxMlpBuilder::new(2).layer(layer).unwrap().to_bytes().unwrap();
    let mut backend = NativeBackend::from_bytes(&bytes, Path::new("mem.onnx"), NativePrecision::F32).unwrap();
    let mut out = [0.0; 2];
    backend.infer(&[1.0, 3.0], &mut out).unwrap();
    assert_eq!(out, [7.5, 0.0]);
    backend.infer(&[-2.0, 2.0], &mut out).unwrap();
    assert_eq!(out, [2.5, 2.0]);
}

#[test]
fn backends_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Box<dyn ModelBackend>>();
    assert_send::<NativeBackend>();
    assert_send::<qp_models::OnnxRuntimeBackend>();
}

/// Without a usable library, ONNX Runtime loading is a typed error, not a
/// panic. The library is loaded once per process, so each case runs in a
/// child process (this test binary re-run with `--exact`).
#[test]
fn onnxruntime_without_library_is_a_typed_error() {
    const CHILD: &str = "QP_MODELS_ORT_CHILD";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.onnx");
    classifier(WeightStorage::F32).write(&path).unwrap();

    if std::env::var_os(CHILD).is_some() {
        let error = load_model(&path, BackendKind::OnnxRuntime).unwrap_err();
        assert!(matches!(error, ModelError::RuntimeUnavailable { .. }), "{error}");
        assert!(error.to_string().contains("ORT_DYLIB_PATH") || error.to_string().contains("cannot load"), "{error}");
        // Native backends are unaffected.
        load_model(&path, BackendKind::NativeF32).unwrap();
        return;
    }
    let not_a_library = write(dir.path(), "not_a_library.so", b"not an ELF file");
    let cases = [None, Some(dir.path().join("missing.so")), Some(not_a_library)];
    for library in cases {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args(["--exact", "onnxruntime_without_library_is_a_typed_error", "--test-threads=1"]).env(CHILD, "1");
        match &library {
            None => child.env_remove("ORT_DYLIB_PATH"),
            Some(path) => child.env("ORT_DYLIB_PATH", path),
        };
        let output = child.output().unwrap();
        assert!(
            output.status.success(),
            "ORT_DYLIB_PATH={library:?}: child failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
