//! The spread model: a rolling window of both legs' mids, the hedge ratio and the z-score of the
//! spread `y − β·x`, all from running sums over preallocated ring buffers (no allocation after
//! construction).
//!
//! Prices enter as `f64` quote-currency units here: the model is a statistical estimate, like
//! VaR, and the only place floats are used; orders leave in integer ticks and lots.

/// How the hedge ratio β (lots of the near leg per lot-equivalent of the far leg) is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HedgeRatio {
    /// A fixed ratio: `Fixed(1.0)` trades the basis `y − x` (spot against futures of one asset).
    Fixed(f64),
    /// Ordinary least squares of `y` on `x` over the window.
    RollingOls,
}

/// The window's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpreadStats {
    pub beta: f64,
    /// Mean of the spread over the window (in the centred units, see [`SpreadModel::spread`]).
    pub mean: f64,
    /// Standard deviation of the spread over the window (quote-currency units).
    pub std: f64,
}

/// Rolling window of (x, y) samples with running sums, centred on the first x to keep the sums
/// well conditioned; re-summed exactly once per window length to stop drift.
#[derive(Debug, Clone)]
pub struct SpreadModel {
    xs: Vec<f64>,
    ys: Vec<f64>,
    head: usize,
    len: usize,
    pushes_since_resum: usize,
    centre: Option<f64>,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

impl SpreadModel {
    /// A window of `window` samples (at least 2).
    pub fn new(window: usize) -> Self {
        let window = window.max(2);
        Self {
            xs: vec![0.0; window],
            ys: vec![0.0; window],
            head: 0,
            len: 0,
            pushes_since_resum: 0,
            centre: None,
            sx: 0.0,
            sy: 0.0,
            sxx: 0.0,
            syy: 0.0,
            sxy: 0.0,
        }
    }

    pub fn window(&self) -> usize {
        self.xs.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the window is full (the model trades only then).
    pub fn is_ready(&self) -> bool {
        self.len == self.xs.len()
    }

    /// Add one sample of the two mids (quote-currency units); the oldest leaves a full window.
    pub fn push(&mut self, x: f64, y: f64) {
        let c = *self.centre.get_or_insert(x);
        let (x, y) = (x - c, y - c);
        let window = self.xs.len();
        if self.len == window {
            let (ox, oy) = (self.xs[self.head], self.ys[self.head]);
            self.sx -= ox;
            self.sy -= oy;
            self.sxx -= ox * ox;
            self.syy -= oy * oy;
            self.sxy -= ox * oy;
        } else {
            self.len += 1;
        }
        self.xs[self.head] = x;
        self.ys[self.head] = y;
        self.head = (self.head + 1) % window;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.syy += y * y;
        self.sxy += x * y;
        self.pushes_since_resum += 1;
        if self.pushes_since_resum >= window {
            self.resum();
        }
    }

    fn resum(&mut self) {
        let n = self.len;
        let (xs, ys) = (&self.xs[..n.min(self.xs.len())], &self.ys[..n.min(self.ys.len())]);
        // With a full window every slot is live; before that, the first `len` are.
        self.sx = xs.iter().sum();
        self.sy = ys.iter().sum();
        self.sxx = xs.iter().map(|v| v * v).sum();
        self.syy = ys.iter().map(|v| v * v).sum();
        self.sxy = xs.iter().zip(ys).map(|(a, b)| a * b).sum();
        self.pushes_since_resum = 0;
    }

    /// The spread of a pair of mids in the model's centred units: `(y − c) − β (x − c)`.
    pub fn spread(&self, beta: f64, x: f64, y: f64) -> f64 {
        let c = self.centre.unwrap_or(x);
        (y - c) - beta * (x - c)
    }

    /// β, mean and standard deviation of the spread over the window; `None` until it has two
    /// samples.
    pub fn stats(&self, hedge: HedgeRatio) -> Option<SpreadStats> {
        if self.len < 2 {
            return None;
        }
        let n = self.len as f64;
        let (mx, my) = (self.sx / n, self.sy / n);
        let var_x = (self.sxx / n - mx * mx).max(0.0);
        let var_y = (self.syy / n - my * my).max(0.0);
        let cov = self.sxy / n - mx * my;
        let beta = match hedge {
            HedgeRatio::Fixed(beta) => beta,
            HedgeRatio::RollingOls if var_x > 1e-12 => cov / var_x,
            HedgeRatio::RollingOls => 1.0,
        };
        let var_s = (var_y - 2.0 * beta * cov + beta * beta * var_x).max(0.0);
        Some(SpreadStats { beta, mean: my - beta * mx, std: var_s.sqrt() })
    }
}
