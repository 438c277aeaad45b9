//! Native Rust execution: a validated [`Graph`] compiled into a flat plan of
//! steps over one preallocated activation arena.
//!
//! `infer` allocates nothing: every buffer (activations, panel results, the
//! scratch for the quantized activation) is sized at load time. Kernels are
//! plain safe loops over fixed-size arrays (`as_chunks`) with independent
//! accumulators, a shape LLVM turns into SIMD (SSE2 on baseline x86-64)
//! without `unsafe` or intrinsics.

use std::path::Path;

use crate::ModelBackend;
use crate::error::ModelError;
use crate::graph::{Dense, Elementwise, Graph, Operation, ValueId};
use crate::model_file::read_model_file;
use crate::onnx_proto::ModelProto;

/// Arithmetic used by the native backend's dense (Gemm/MatMul) layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativePrecision {
    /// f32 weights and activations.
    F32,
    /// int8 weights (symmetric, per output channel, quantized at load) times
    /// int8 activations (symmetric, per tensor, dynamically quantized on every
    /// call), accumulated in i32. Everything else stays f32. Weights already
    /// stored as int8 + `DequantizeLinear` are dequantized, then requantized
    /// (lossless for symmetric per-output-channel int8 weights whose largest
    /// magnitude per channel is 127, as [`crate::OnnxMlpBuilder`] writes them).
    Int8,
}

/// Largest dense depth (K) the int8 kernel accepts: K * 127 * 127 must fit in i32.
pub const MAX_INT8_DEPTH: usize = (i32::MAX as usize) / (127 * 127);

/// Output channels per f32 weight panel: two SSE registers (one AVX register).
const PANEL: usize = 8;
/// Panels computed together: 4 x 8 accumulators fill eight of the 16 SSE
/// registers, enough independent add chains to hide add latency, no spills.
const PANEL_GROUP: usize = 4;

/// A slice of the activation arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    start: usize,
    len: usize,
}

impl Region {
    fn end(self) -> usize {
        self.start + self.len
    }
}

/// f32 dense layer with weights packed in panels: `panels[p * depth + k][j]`
/// is the weight of input `k` for output channel `p * PANEL + j`. The kernel
/// broadcasts one input and multiply-adds a whole panel row, so each output
/// channel sums in input order (no reassociation needed to vectorize), and
/// LLVM maps each panel row onto full SIMD registers.
#[derive(Debug)]
struct DenseF32 {
    input: Region,
    output: Region,
    depth: usize,
    width: usize,
    panels: Vec<[f32; PANEL]>,
    /// Panel results for one row, `PANEL * panel count` long (the last panel
    /// may be padding).
    padded_row: Vec<f32>,
    bias: Vec<f32>,
    alpha: f32,
}

#[derive(Debug)]
struct DenseInt8 {
    input: Region,
    output: Region,
    depth: usize,
    width: usize,
    /// `width` rows of `depth` int8-valued weights, stored widened to i16
    /// (see [`dot_int8`]).
    weights: Vec<i16>,
    /// Per output channel: `alpha * weight_scale`.
    channel_scales: Vec<f32>,
    bias: Vec<f32>,
    /// Scratch for one quantized input row, sized at load.
    quantized_row: Vec<i16>,
}

#[derive(Debug)]
enum Step {
    DenseF32(DenseF32),
    DenseInt8(DenseInt8),
    AddConstant { input: Region, output: Region, addend: Vec<f32> },
    AddValues { lhs: Region, rhs: Region, output: Region },
    Elementwise { function: Elementwise, input: Region, output: Region },
    Softmax { input: Region, output: Region, row_len: usize },
}

/// A model compiled for native execution ([`NativePrecision::F32`] or
/// [`NativePrecision::Int8`]).
#[derive(Debug)]
pub struct NativeBackend {
    precision: NativePrecision,
    arena: Vec<f32>,
    steps: Vec<Step>,
    input: Region,
    output: Region,
}

impl NativeBackend {
    /// Reads, validates and compiles the ONNX model at `path`.
    pub fn load(path: &Path, precision: NativePrecision) -> Result<Self, ModelError> {
        let bytes = read_model_file(path)?;
        Self::from_bytes(&bytes, path, precision)
    }

    /// Validates and compiles a serialized ONNX model; `path` only names the
    /// model in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path, precision: NativePrecision) -> Result<Self, ModelError> {
        let model =
            ModelProto::decode(bytes).map_err(|source| ModelError::Malformed { path: path.to_path_buf(), source })?;
        let graph = Graph::from_model(&model, path)?;
        let backend = Self::compile(graph, path, precision)?;
        tracing::debug!(
            path = %path.display(),
            backend = backend.backend_name(),
            input_len = backend.input.len,
            output_len = backend.output.len,
            steps = backend.steps.len(),
            arena = backend.arena.len(),
            "native model compiled"
        );
        Ok(backend)
    }

    fn compile(graph: Graph, path: &Path, precision: NativePrecision) -> Result<Self, ModelError> {
        // Each value gets its own region: models are small, and no reuse means
        // no aliasing between a step's inputs and its output.
        let mut regions = Vec::with_capacity(graph.value_lens.len());
        let mut next = 0usize;
        for &len in &graph.value_lens {
            regions.push(Region { start: next, len });
            next = next.checked_add(len).ok_or(ModelError::Internal { what: "arena size overflows" })?;
        }
        let region =
            |id: ValueId| regions.get(id).copied().ok_or(ModelError::Internal { what: "value without a region" });
        let mut steps = Vec::with_capacity(graph.operations.len());
        for operation in graph.operations {
            steps.push(match operation {
                Operation::Dense(dense) => {
                    let input = region(dense.input)?;
                    let output = region(dense.output)?;
                    compile_dense(dense, input, output, path, precision)?
                }
                Operation::AddConstant { input, output, addend } => {
                    Step::AddConstant { input: region(input)?, output: region(output)?, addend }
                }
                Operation::AddValues { lhs, rhs, output } => {
                    Step::AddValues { lhs: region(lhs)?, rhs: region(rhs)?, output: region(output)? }
                }
                Operation::Elementwise { function, input, output } => {
                    Step::Elementwise { function, input: region(input)?, output: region(output)? }
                }
                Operation::Softmax { input, output, row_len } => {
                    if row_len == 0 {
                        return Err(ModelError::Internal { what: "softmax over empty rows" });
                    }
                    Step::Softmax { input: region(input)?, output: region(output)?, row_len }
                }
            });
        }
        let input = region(graph.input)?;
        let output = region(graph.output)?;
        Ok(Self { precision, arena: vec![0.0; next], steps, input, output })
    }

    /// The arithmetic this backend was compiled for.
    #[must_use]
    pub fn precision(&self) -> NativePrecision {
        self.precision
    }
}

fn compile_dense(
    dense: Dense,
    input: Region,
    output: Region,
    path: &Path,
    precision: NativePrecision,
) -> Result<Step, ModelError> {
    let Dense { rows, depth, width, weights, bias, alpha, .. } = dense;
    // The graph guarantees these; checked again so the kernels' chunking
    // (which needs non-zero sizes) can never be handed a bad plan.
    let consistent = depth > 0
        && width > 0
        && weights.len() == depth * width
        && input.len == rows * depth
        && output.len == rows * width
        && (bias.is_empty() || bias.len() == rows * width);
    if !consistent {
        return Err(ModelError::Internal { what: "dense layer sizes disagree" });
    }
    match precision {
        NativePrecision::F32 => {
            let panel_count = width.div_ceil(PANEL);
            let mut panels = vec![[0.0f32; PANEL]; panel_count * depth];
            for (channel, row) in weights.chunks_exact(depth).enumerate() {
                let (panel, lane) = (channel / PANEL, channel % PANEL);
                let Some(block) = panels.get_mut(panel * depth..(panel + 1) * depth) else {
                    return Err(ModelError::Internal { what: "panel packing out of range" });
                };
                for (packed, &w) in block.iter_mut().zip(row) {
                    packed[lane] = w;
                }
            }
            Ok(Step::DenseF32(DenseF32 {
                input,
                output,
                depth,
                width,
                panels,
                padded_row: vec![0.0; panel_count * PANEL],
                bias,
                alpha,
            }))
        }
        NativePrecision::Int8 => {
            if depth > MAX_INT8_DEPTH {
                return Err(ModelError::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "int8 dense layer of depth {depth}; at most {MAX_INT8_DEPTH} fits an i32 accumulator"
                    ),
                });
            }
            if weights.iter().any(|w| !w.is_finite()) {
                return Err(ModelError::Unsupported {
                    path: path.to_path_buf(),
                    what: "int8 quantization of non-finite weights".into(),
                });
            }
            let mut quantized = vec![0i16; weights.len()];
            let mut channel_scales = Vec::with_capacity(width);
            for (row, q_row) in weights.chunks_exact(depth).zip(quantized.chunks_exact_mut(depth)) {
                let max_abs = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
                let scale = max_abs / 127.0;
                if scale > 0.0 {
                    for (q, w) in q_row.iter_mut().zip(row) {
                        *q = (w / scale).round().clamp(-127.0, 127.0) as i16;
                    }
                }
                channel_scales.push(alpha * scale);
            }
            Ok(Step::DenseInt8(DenseInt8 {
                input,
                output,
                depth,
                width,
                weights: quantized,
                channel_scales,
                bias,
                quantized_row: vec![0; depth],
            }))
        }
    }
}

impl ModelBackend for NativeBackend {
    fn backend_name(&self) -> &'static str {
        match self.precision {
            NativePrecision::F32 => "native-f32",
            NativePrecision::Int8 => "native-int8",
        }
    }

    fn input_len(&self) -> usize {
        self.input.len
    }

    fn output_len(&self) -> usize {
        self.output.len
    }

    fn infer(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), ModelError> {
        if input.len() != self.input.len {
            return Err(ModelError::InputLength { expected: self.input.len, actual: input.len() });
        }
        if output.len() != self.output.len {
            return Err(ModelError::OutputLength { expected: self.output.len, actual: output.len() });
        }
        self.arena.get_mut(self.input.start..self.input.end()).ok_or(OUT_OF_ARENA)?.copy_from_slice(input);
        for step in &mut self.steps {
            step.run(&mut self.arena)?;
        }
        output.copy_from_slice(self.arena.get(self.output.start..self.output.end()).ok_or(OUT_OF_ARENA)?);
        Ok(())
    }
}

const OUT_OF_ARENA: ModelError = ModelError::Internal { what: "region outside the arena" };

/// The arena split around one step's output region: the output mutably, the
/// rest readable.
struct SplitArena<'a> {
    before: &'a [f32],
    after: &'a [f32],
    after_start: usize,
}

impl<'a> SplitArena<'a> {
    fn new(arena: &'a mut [f32], output: Region) -> Result<(Self, &'a mut [f32]), ModelError> {
        let (before, rest) = arena.split_at_mut_checked(output.start).ok_or(OUT_OF_ARENA)?;
        let (out, after) = rest.split_at_mut_checked(output.len).ok_or(OUT_OF_ARENA)?;
        let split = Self { before, after, after_start: output.end() };
        Ok((split, out))
    }

    fn get(&self, region: Region) -> Result<&'a [f32], ModelError> {
        let found = if region.end() <= self.before.len() {
            self.before.get(region.start..region.end())
        } else if region.start >= self.after_start {
            self.after.get(region.start - self.after_start..region.end() - self.after_start)
        } else {
            None
        };
        found.ok_or(ModelError::Internal { what: "step input overlaps its output" })
    }
}

impl Step {
    fn output(&self) -> Region {
        match self {
            Self::DenseF32(d) => d.output,
            Self::DenseInt8(d) => d.output,
            Self::AddConstant { output, .. }
            | Self::AddValues { output, .. }
            | Self::Elementwise { output, .. }
            | Self::Softmax { output, .. } => *output,
        }
    }

    fn run(&mut self, arena: &mut [f32]) -> Result<(), ModelError> {
        let (arena, out) = SplitArena::new(arena, self.output())?;
        match self {
            Self::DenseF32(d) => dense_f32(arena.get(d.input)?, out, d),
            Self::DenseInt8(d) => dense_int8(arena.get(d.input)?, out, d),
            Self::AddConstant { input, addend, .. } => {
                for ((o, x), a) in out.iter_mut().zip(arena.get(*input)?).zip(addend.iter()) {
                    *o = x + a;
                }
            }
            Self::AddValues { lhs, rhs, .. } => {
                for ((o, x), y) in out.iter_mut().zip(arena.get(*lhs)?).zip(arena.get(*rhs)?) {
                    *o = x + y;
                }
            }
            Self::Elementwise { function, input, .. } => elementwise(*function, arena.get(*input)?, out),
            Self::Softmax { input, row_len, .. } => softmax(arena.get(*input)?, out, *row_len),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------

/// `acc += x * w` for one panel row: a fixed-size straight-line body that
/// LLVM turns into whole-register SIMD multiply-adds with `x` broadcast.
#[inline(always)]
fn mul_add_panel(acc: &mut [f32; PANEL], x: f32, w: &[f32; PANEL]) {
    for (s, w) in acc.iter_mut().zip(w) {
        *s += x * w;
    }
}

// The kernels below are `#[inline(never)]`: compiled on their own, their
// vectorization does not depend on what surrounds the call site, which made
// the inlined versions' speed vary by 3x from one build to the next.

/// `out[j] = sum_k x[k] * panels[k][j]` for `PANEL_GROUP` consecutive panels
/// (`panels` is `PANEL_GROUP * x.len()` rows long, `out` `PANEL_GROUP * PANEL`).
#[inline(never)]
fn panel_group_f32(x: &[f32], panels: &[[f32; PANEL]], out: &mut [f32]) {
    let mut rows = panels.chunks_exact(x.len());
    let (Some(p0), Some(p1), Some(p2), Some(p3)) = (rows.next(), rows.next(), rows.next(), rows.next()) else {
        return;
    };
    // Four separate accumulators (not an array of arrays) so they stay in registers.
    let mut a0 = [0.0f32; PANEL];
    let mut a1 = [0.0f32; PANEL];
    let mut a2 = [0.0f32; PANEL];
    let mut a3 = [0.0f32; PANEL];
    for ((((&xk, w0), w1), w2), w3) in x.iter().zip(p0).zip(p1).zip(p2).zip(p3) {
        mul_add_panel(&mut a0, xk, w0);
        mul_add_panel(&mut a1, xk, w1);
        mul_add_panel(&mut a2, xk, w2);
        mul_add_panel(&mut a3, xk, w3);
    }
    let (out_panels, _) = out.as_chunks_mut::<PANEL>();
    for (o, a) in out_panels.iter_mut().zip([a0, a1, a2, a3]) {
        *o = a;
    }
}

/// [`panel_group_f32`] for a single panel.
#[inline(never)]
fn panel_f32(x: &[f32], panel: &[[f32; PANEL]], out: &mut [f32]) {
    let mut acc = [0.0f32; PANEL];
    for (&xk, w) in x.iter().zip(panel) {
        mul_add_panel(&mut acc, xk, w);
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = a;
    }
}

fn dense_f32(input: &[f32], out: &mut [f32], d: &mut DenseF32) {
    let depth = d.depth;
    for (row, (x, y)) in input.chunks_exact(depth).zip(out.chunks_exact_mut(d.width)).enumerate() {
        let mut groups = d.panels.chunks_exact(depth * PANEL_GROUP);
        let mut group_outs = d.padded_row.chunks_exact_mut(PANEL * PANEL_GROUP);
        for (panels, padded) in (&mut groups).zip(&mut group_outs) {
            panel_group_f32(x, panels, padded);
        }
        let rest = groups.remainder().chunks_exact(depth);
        for (panel, padded) in rest.zip(group_outs.into_remainder().chunks_exact_mut(PANEL)) {
            panel_f32(x, panel, padded);
        }
        for (o, &sum) in y.iter_mut().zip(&d.padded_row) {
            *o = d.alpha * sum;
        }
        if let Some(b) = d.bias.get(row * d.width..(row + 1) * d.width) {
            for (o, b) in y.iter_mut().zip(b) {
                *o += b;
            }
        }
    }
}

/// Dot product of int8-valued operands accumulated in i32. Both sides are
/// held in i16 (weights widened at load, activations on quantization): an
/// i32 sum of i16 x i16 products is the shape LLVM lowers to `pmaddwd`, with
/// no per-call widening; measured faster than i8 storage on baseline x86-64.
/// Wrapping adds: the load-time depth cap rules out overflow, and they keep
/// debug builds from checking each add.
#[inline(never)]
fn dot_int8(a: &[i16], b: &[i16]) -> i32 {
    const INT8_LANES: usize = 32;
    let (a_blocks, a_tail) = a.as_chunks::<INT8_LANES>();
    let (b_blocks, b_tail) = b.as_chunks::<INT8_LANES>();
    let mut acc = [0i32; INT8_LANES];
    for (x, y) in a_blocks.iter().zip(b_blocks) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s = s.wrapping_add(i32::from(x) * i32::from(y));
        }
    }
    let mut total = acc.iter().fold(0i32, |t, &s| t.wrapping_add(s));
    for (&x, &y) in a_tail.iter().zip(b_tail) {
        total = total.wrapping_add(i32::from(x) * i32::from(y));
    }
    total
}

/// Adding 1.5 * 2^23 to an f32 of magnitude below 2^22 leaves round-to-nearest-even
/// of it in the low mantissa bits: rounding with plain float adds, which
/// vectorize, where `f32::round` and saturating `as` casts do not on baseline x86-64.
const ROUNDING_BIAS: f32 = 12_582_912.0;

/// Symmetric per-tensor quantization of `src` into `dst` (values in
/// -127..=127, rounded to nearest even); returns the scale. The scale is 0
/// when `src` is all zeros, so the product is exactly 0, and NaN when `src`
/// holds a NaN or infinity, so the output is NaN as on the f32 path.
#[inline(never)]
fn quantize_row(src: &[f32], dst: &mut [i16]) -> f32 {
    let (max_abs, finite) = max_abs_and_finite(src);
    if !finite {
        dst.fill(0);
        return f32::NAN;
    }
    if max_abs == 0.0 {
        dst.fill(0);
        return 0.0;
    }
    let inverse = 127.0 / max_abs;
    let bias_bits = ROUNDING_BIAS.to_bits() as i32;
    for (q, &x) in dst.iter_mut().zip(src) {
        // |x * inverse| <= 127, far inside the trick's 2^22 range.
        let biased = x * inverse + ROUNDING_BIAS;
        *q = (biased.to_bits() as i32).wrapping_sub(bias_bits) as i16;
    }
    max_abs / 127.0
}

/// The largest magnitude in `values`, and whether all are finite. Lane-wise
/// compare-selects (not `f32::max`, whose NaN rule blocks vectorization) and
/// a `x * 0` probe, which turns any NaN or infinity into a NaN sum.
fn max_abs_and_finite(values: &[f32]) -> (f32, bool) {
    let (blocks, tail) = values.as_chunks::<PANEL>();
    let mut max = [0.0f32; PANEL];
    let mut probe = [0.0f32; PANEL];
    for block in blocks {
        for ((m, p), &v) in max.iter_mut().zip(&mut probe).zip(block) {
            let magnitude = v.abs();
            *m = if magnitude > *m { magnitude } else { *m };
            *p += v * 0.0;
        }
    }
    let mut max_abs = max.iter().fold(0.0f32, |m, &v| if v > m { v } else { m });
    let mut probe_sum: f32 = probe.iter().sum();
    for &v in tail {
        max_abs = if v.abs() > max_abs { v.abs() } else { max_abs };
        probe_sum += v * 0.0;
    }
    (max_abs, probe_sum == 0.0)
}

fn dense_int8(input: &[f32], out: &mut [f32], d: &mut DenseInt8) {
    for (row, (x, y)) in input.chunks_exact(d.depth).zip(out.chunks_exact_mut(d.width)).enumerate() {
        let input_scale = quantize_row(x, &mut d.quantized_row);
        for ((o, w), &channel_scale) in y.iter_mut().zip(d.weights.chunks_exact(d.depth)).zip(&d.channel_scales) {
            *o = dot_int8(&d.quantized_row, w) as f32 * (input_scale * channel_scale);
        }
        if let Some(b) = d.bias.get(row * d.width..(row + 1) * d.width) {
            for (o, b) in y.iter_mut().zip(b) {
                *o += b;
            }
        }
    }
}

fn elementwise(function: Elementwise, input: &[f32], out: &mut [f32]) {
    let pairs = out.iter_mut().zip(input);
    match function {
        Elementwise::Relu => pairs.for_each(|(o, &x)| *o = x.max(0.0)),
        Elementwise::Sigmoid => pairs.for_each(|(o, &x)| *o = 1.0 / (1.0 + (-x).exp())),
        Elementwise::Tanh => pairs.for_each(|(o, &x)| *o = x.tanh()),
    }
}

fn softmax(input: &[f32], out: &mut [f32], row_len: usize) {
    for (x, y) in input.chunks_exact(row_len).zip(out.chunks_exact_mut(row_len)) {
        // Subtracting the max keeps exp() finite.
        let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0f32;
        for (o, &v) in y.iter_mut().zip(x) {
            *o = (v - max).exp();
            sum += *o;
        }
        for o in y.iter_mut() {
            *o /= sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_f32_matches_naive_for_every_panel_remainder() {
        let depth = 7;
        for width in [1usize, 3, 8, 9, 31, 32, 33, 45] {
            let weights: Vec<f32> = (0..width * depth).map(|i| (i as f32 * 0.37).sin()).collect();
            let bias: Vec<f32> = (0..width).map(|i| i as f32 * 0.1).collect();
            let x: Vec<f32> = (0..depth).map(|i| (i as f32 * 0.11).cos()).collect();
            let region = |start, len| Region { start, len };
            let Ok(Step::DenseF32(mut dense)) = compile_dense(
                Dense {
                    input: 0,
                    output: 1,
                    rows: 1,
                    depth,
                    width,
                    weights: weights.clone(),
                    bias: bias.clone(),
                    alpha: 0.5,
                },
                region(0, depth),
                region(depth, width),
                Path::new("test"),
                NativePrecision::F32,
            ) else {
                panic!("compile failed");
            };
            let mut out = vec![0.0; width];
            dense_f32(&x, &mut out, &mut dense);
            for (n, o) in out.iter().enumerate() {
                let dot: f32 = x.iter().zip(&weights[n * depth..]).map(|(a, b)| a * b).sum();
                let expected = 0.5 * dot + bias[n];
                assert!((o - expected).abs() < 1e-5, "width {width} channel {n}: {o} vs {expected}");
            }
        }
    }

    #[test]
    fn dot_int8_matches_naive_sum() {
        for len in [0usize, 1, 31, 32, 33, 100] {
            let a: Vec<i16> = (0..len).map(|i| (i as i32 * 37 % 255 - 127) as i16).collect();
            let b: Vec<i16> = (0..len).map(|i| (i as i32 * 91 % 255 - 127) as i16).collect();
            let naive: i32 = a.iter().zip(&b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
            assert_eq!(dot_int8(&a, &b), naive, "len {len}");
        }
    }

    #[test]
    fn quantize_row_is_symmetric_and_exact_at_extremes() {
        let mut q = [0i16; 4];
        let scale = quantize_row(&[-2.0, 1.0, 0.0, 2.0], &mut q);
        // 1.0 scales to 63.5: ties round to even.
        assert_eq!(q, [-127, 64, 0, 127]);
        quantize_row(&[-2.0, -1.0, 0.01, 2.0], &mut q);
        assert_eq!(q, [-127, -64, 1, 127]);
        assert!((scale - 2.0 / 127.0).abs() < 1e-9);
        assert_eq!(quantize_row(&[0.0; 4], &mut q), 0.0);
        assert_eq!(q, [0; 4]);
    }

    #[test]
    fn non_finite_inputs_quantize_to_nan_scale() {
        let mut q = [0i16; 20];
        let mut values = [0.5f32; 20];
        assert!((quantize_row(&values, &mut q) - 0.5 / 127.0).abs() < 1e-9);
        for index in [0, 7, 8, 19] {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                values[index] = bad;
                assert!(quantize_row(&values, &mut q).is_nan(), "{bad} at {index}");
                values[index] = -3.0;
                assert!((quantize_row(&values, &mut q) - 3.0 / 127.0).abs() < 1e-9);
                values[index] = 0.5;
            }
        }
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let input = [1.0, 2.0, 3.0, -1000.0, 0.0, 1000.0];
        let mut out = [0.0; 6];
        softmax(&input, &mut out, 3);
        assert!((out[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((out[3..].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(out[5], 1.0);
    }

    #[test]
    fn split_arena_rejects_overlap() {
        let mut arena = [0.0f32; 10];
        let (split, _) = SplitArena::new(&mut arena, Region { start: 3, len: 4 }).unwrap();
        assert!(split.get(Region { start: 0, len: 3 }).is_ok());
        assert!(split.get(Region { start: 7, len: 3 }).is_ok());
        assert!(split.get(Region { start: 2, len: 2 }).is_err());
        assert!(split.get(Region { start: 8, len: 3 }).is_err());
    }
}
