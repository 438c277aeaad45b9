//! The Decide model's training: a one-hidden-layer ReLU MLP with a softmax over
//! (down, flat, up), cross-entropy, Adam on minibatches of a seeded shuffle, early stopping on
//! the validation loss. Plain Rust: the model has a few hundred weights.
//!
//! Determinism: one thread, a fixed order of every sum and [`SplitMix64`] for initialization
//! and shuffling, so the same rows and seed give the same weights on the same platform.
use qp_alpha::{FEATURE_COUNT, FeatureVector, OUTPUT_COUNT};
use qp_models::{Activation, DenseLayer, ModelError, OnnxMlpBuilder, SplitMix64};

/// What shapes a training run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub hidden: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f32,
    /// L2 penalty on the weights (not the biases), added to the gradient.
    pub weight_decay: f32,
    /// Epochs without a lower validation loss before stopping.
    pub patience: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { hidden: 8, epochs: 120, batch_size: 64, learning_rate: 3e-3, weight_decay: 1e-3, patience: 15, seed: 7 }
    }
}

/// Per-feature mean and standard deviation of the training rows; folded into the first layer
/// when the model is written, so the model file takes the features as `AlphaFeatures` gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub mean: FeatureVector,
    pub std: FeatureVector,
    /// Features that never varied in the training rows: the network could learn nothing about
    /// them, so the written model ignores them (their first-layer weights are set to 0) rather
    /// than answer with whatever its initialization left there.
    pub constant: [bool; FEATURE_COUNT],
}

impl Standardizer {
    pub fn fit(rows: &[FeatureVector]) -> Self {
        let n = rows.len().max(1) as f64;
        let mut mean = [0.0f32; FEATURE_COUNT];
        let mut std = [1.0f32; FEATURE_COUNT];
        let mut constant = [false; FEATURE_COUNT];
        for j in 0..FEATURE_COUNT {
            let m = rows.iter().map(|r| f64::from(r[j])).sum::<f64>() / n;
            let v = rows.iter().map(|r| (f64::from(r[j]) - m).powi(2)).sum::<f64>() / n;
            mean[j] = m as f32;
            // A constant feature (no sentiment on the asset, say) stays as it is.
            std[j] = if v > 1e-12 { v.sqrt() as f32 } else { 1.0 };
            constant[j] = v <= 1e-12;
        }
        Self { mean, std, constant }
    }

    pub fn apply(&self, row: &FeatureVector) -> FeatureVector {
        let mut out = *row;
        for (j, value) in out.iter_mut().enumerate() {
            *value = (*value - self.mean[j]) / self.std[j];
        }
        out
    }
}

/// The network's parameters (on standardized inputs).
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub hidden: usize,
    /// `hidden` rows of [`FEATURE_COUNT`].
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    /// [`OUTPUT_COUNT`] rows of `hidden`.
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
}

impl Mlp {
    fn seeded(hidden: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let l1 = (6.0 / (FEATURE_COUNT + hidden) as f32).sqrt();
        let l2 = (6.0 / (hidden + OUTPUT_COUNT) as f32).sqrt();
        Self {
            hidden,
            w1: (0..hidden * FEATURE_COUNT).map(|_| rng.uniform_symmetric_f32(l1)).collect(),
            b1: vec![0.0; hidden],
            w2: (0..OUTPUT_COUNT * hidden).map(|_| rng.uniform_symmetric_f32(l2)).collect(),
            b2: vec![0.0; OUTPUT_COUNT],
        }
    }

    fn hidden_of(&self, x: &FeatureVector, h: &mut [f32]) {
        for (k, out) in h.iter_mut().enumerate() {
            let row = &self.w1[k * FEATURE_COUNT..(k + 1) * FEATURE_COUNT];
            let z: f32 = row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>() + self.b1[k];
            *out = z.max(0.0);
        }
    }

    /// Class probabilities for a standardized row.
    pub fn probabilities(&self, x: &FeatureVector) -> [f32; OUTPUT_COUNT] {
        let mut h = vec![0.0; self.hidden];
        self.hidden_of(x, &mut h);
        self.output_of(&h)
    }

    fn output_of(&self, h: &[f32]) -> [f32; OUTPUT_COUNT] {
        let mut z = [0.0f32; OUTPUT_COUNT];
        for (c, zc) in z.iter_mut().enumerate() {
            let row = &self.w2[c * self.hidden..(c + 1) * self.hidden];
            *zc = row.iter().zip(h).map(|(w, v)| w * v).sum::<f32>() + self.b2[c];
        }
        softmax(z)
    }

    /// Set the first-layer weights of the features constant in training to 0 (see
    /// [`Standardizer::constant`]); on the training rows this changes no output.
    pub fn ignore_constant_features(&mut self, standardizer: &Standardizer) {
        for k in 0..self.hidden {
            for (j, constant) in standardizer.constant.iter().enumerate() {
                if *constant {
                    self.w1[k * FEATURE_COUNT + j] = 0.0;
                }
            }
        }
    }

    /// Mean cross-entropy over standardized rows.
    pub fn loss(&self, rows: &[(FeatureVector, u8)]) -> f64 {
        let sum: f64 =
            rows.iter().map(|(x, y)| -f64::from(self.probabilities(x)[usize::from(*y)].max(1e-7)).ln()).sum();
        sum / rows.len().max(1) as f64
    }

    /// The model as an ONNX builder whose first layer takes raw features: the standardization
    /// `(x − mean)/std` is folded into its weights and biases, and features constant in training
    /// get weight 0 (on the training rows this changes nothing: they were 0 after standardizing).
    pub fn to_builder(&self, standardizer: &Standardizer) -> Result<OnnxMlpBuilder, ModelError> {
        let mut w1 = self.w1.clone();
        let mut b1 = self.b1.clone();
        for k in 0..self.hidden {
            for j in 0..FEATURE_COUNT {
                let w =
                    if standardizer.constant[j] { 0.0 } else { self.w1[k * FEATURE_COUNT + j] / standardizer.std[j] };
                w1[k * FEATURE_COUNT + j] = w;
                b1[k] -= w * standardizer.mean[j];
            }
        }
        OnnxMlpBuilder::new(FEATURE_COUNT)
            .layer(DenseLayer::new(FEATURE_COUNT, self.hidden, w1, b1, Activation::Relu)?)?
            .layer(DenseLayer::new(self.hidden, OUTPUT_COUNT, self.w2.clone(), self.b2.clone(), Activation::Softmax)?)
    }
}

fn softmax(z: [f32; OUTPUT_COUNT]) -> [f32; OUTPUT_COUNT] {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e = z.map(|v| (v - max).exp());
    let sum: f32 = e.iter().sum();
    e.map(|v| v / sum)
}

/// Adam moments for one parameter vector.
#[derive(Debug, Clone)]
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(len: usize) -> Self {
        Self { m: vec![0.0; len], v: vec![0.0; len] }
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32, t: i32, decay: f32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        let (c1, c2) = (1.0 - B1.powi(t), 1.0 - B2.powi(t));
        for i in 0..params.len() {
            let g = grads[i] + decay * params[i];
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * g;
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * g * g;
            params[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

/// How a training run went.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    pub model: Mlp,
    /// Epochs run (early stopping may end it before the configured count).
    pub epochs_run: usize,
    /// The epoch whose weights were kept (lowest validation loss), from 1.
    pub best_epoch: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
}

/// Train on standardized `train` rows, keeping the weights with the lowest loss on `validation`.
pub fn train(train: &[(FeatureVector, u8)], validation: &[(FeatureVector, u8)], config: &TrainConfig) -> TrainOutcome {
    let hidden = config.hidden.max(1);
    let mut model = Mlp::seeded(hidden, config.seed);
    let mut rng = SplitMix64::new(config.seed ^ 0x5eed_a1fa);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let (mut aw1, mut ab1, mut aw2, mut ab2) =
        (Adam::new(model.w1.len()), Adam::new(hidden), Adam::new(model.w2.len()), Adam::new(OUTPUT_COUNT));
    let mut best = (model.clone(), f64::INFINITY, 0usize);
    let mut h = vec![0.0f32; hidden];
    let mut dh = vec![0.0f32; hidden];
    let mut t = 0i32;
    let mut epochs_run = 0;
    for epoch in 1..=config.epochs {
        epochs_run = epoch;
        rng.shuffle(&mut order);
        for batch in order.chunks(config.batch_size.max(1)) {
            let (mut gw1, mut gb1, mut gw2, mut gb2) =
                (vec![0.0f32; model.w1.len()], vec![0.0f32; hidden], vec![0.0f32; model.w2.len()], [0.0f32; 3]);
            for &i in batch {
                let (x, y) = &train[i];
                model.hidden_of(x, &mut h);
                let p = model.output_of(&h);
                let mut dz = p;
                dz[usize::from(*y)] -= 1.0;
                dh.fill(0.0);
                for c in 0..OUTPUT_COUNT {
                    gb2[c] += dz[c];
                    for k in 0..hidden {
                        gw2[c * hidden + k] += dz[c] * h[k];
                        dh[k] += dz[c] * model.w2[c * hidden + k];
                    }
                }
                for k in 0..hidden {
                    if h[k] <= 0.0 {
                        continue;
                    }
                    gb1[k] += dh[k];
                    for j in 0..FEATURE_COUNT {
                        gw1[k * FEATURE_COUNT + j] += dh[k] * x[j];
                    }
                }
            }
            let scale = 1.0 / batch.len() as f32;
            for g in gw1.iter_mut().chain(gb1.iter_mut()).chain(gw2.iter_mut()).chain(gb2.iter_mut()) {
                *g *= scale;
            }
            t += 1;
            let (lr, decay) = (config.learning_rate, config.weight_decay);
            aw1.step(&mut model.w1, &gw1, lr, t, decay);
            ab1.step(&mut model.b1, &gb1, lr, t, 0.0);
            aw2.step(&mut model.w2, &gw2, lr, t, decay);
            ab2.step(&mut model.b2, &gb2, lr, t, 0.0);
        }
        let validation_loss = model.loss(validation);
        if validation_loss < best.1 {
            best = (model.clone(), validation_loss, epoch);
        } else if config.patience > 0 && epoch - best.2 >= config.patience {
            break;
        }
    }
    let (model, validation_loss, best_epoch) = best;
    TrainOutcome { train_loss: model.loss(train), model, epochs_run, best_epoch, validation_loss }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;
    use qp_models::{BackendKind, ModelBackend, NativeBackend, NativePrecision};

    /// Rows whose class is the sign of feature 11 (flat near 0), the rest noise.
    fn rows(n: usize, seed: u64) -> Vec<(FeatureVector, u8)> {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                let mut x: FeatureVector = std::array::from_fn(|_| rng.uniform_symmetric_f32(2.0) + 3.0);
                x[11] = rng.uniform_symmetric_f32(1.0);
                let y = if x[11] > 0.2 {
                    2
                } else if x[11] < -0.2 {
                    0
                } else {
                    1
                };
                (x, y)
            })
            .collect()
    }

    #[test]
    fn it_learns_a_separable_rule_and_the_written_file_gives_the_same_probabilities() {
        let (fit, validation) = (rows(2_000, 1), rows(400, 2));
        let standardizer = Standardizer::fit(&fit.iter().map(|(x, _)| *x).collect::<Vec<_>>());
        let standardize = |rows: &[(FeatureVector, u8)]| -> Vec<(FeatureVector, u8)> {
            rows.iter().map(|(x, y)| (standardizer.apply(x), *y)).collect()
        };
        let outcome = train(&standardize(&fit), &standardize(&validation), &TrainConfig::default());
        assert!(outcome.validation_loss < 0.5, "{}", outcome.validation_loss);
        let again = train(&standardize(&fit), &standardize(&validation), &TrainConfig::default());
        assert_eq!(again.model, outcome.model, "same rows and seed, same weights");
        let bytes = outcome.model.to_builder(&standardizer).unwrap().to_bytes().unwrap();
        let mut file = NativeBackend::from_bytes(&bytes, std::path::Path::new("t.onnx"), NativePrecision::F32).unwrap();
        assert_eq!(file.backend_name(), BackendKind::NativeF32.backend_name());
        for (x, _) in &validation {
            let mut out = [0.0f32; 3];
            file.infer(x, &mut out).unwrap();
            let want = outcome.model.probabilities(&standardizer.apply(x));
            for (a, b) in out.iter().zip(want) {
                assert!((a - b).abs() < 1e-4, "{out:?} vs {want:?}");
            }
        }
    }
}
