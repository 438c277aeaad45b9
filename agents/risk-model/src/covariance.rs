//! Sample covariance (divide by `N − 1`, pandas' `.cov()`) and the positive-definiteness
//! check the risk-parity solver needs.
use crate::error::RiskModelError;
use crate::returns::ReturnMatrix;

/// A pivot below this fraction of its diagonal entry makes the matrix singular: about
/// 1e4 ulps, far above rounding noise and far below any real asset's idiosyncratic variance.
const SINGULAR_PIVOT_RATIO: f64 = 1e-12;

/// A symmetric `n × n` covariance matrix, stored in full, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Covariance {
    n: usize,
    values: Vec<f64>,
}

impl Covariance {
    /// A zero matrix, to be filled by [`Covariance::fill_sample`] without allocating.
    pub fn zeros(n: usize) -> Self {
        Self { n, values: vec![0.0; n * n] }
    }

    /// A matrix from row-major values: square, finite and symmetric (to 1e-12 relative).
    pub fn from_row_major(n: usize, values: Vec<f64>) -> Result<Self, RiskModelError> {
        if values.len() != n * n {
            return Err(RiskModelError::DimensionMismatch { what: "covariance", expected: n * n, found: values.len() });
        }
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(RiskModelError::NonFinite { what: "covariance", index });
        }
        for row in 0..n {
            for col in row + 1..n {
                let (a, b) = (values[row * n + col], values[col * n + row]);
                if (a - b).abs() > 1e-12 * a.abs().max(b.abs()).max(f64::MIN_POSITIVE) {
                    return Err(RiskModelError::CovarianceNotSymmetric { row, col });
                }
            }
        }
        Ok(Self { n, values })
    }

    /// The sample covariance of the columns of `returns`.
    pub fn sample(returns: &ReturnMatrix) -> Result<Self, RiskModelError> {
        let mut cov = Self::zeros(returns.assets());
        cov.fill_sample(returns)?;
        Ok(cov)
    }

    /// Overwrite with the sample covariance of `returns` (two passes: means, then centred
    /// products; divides by `rows − 1`). Allocates nothing.
    pub fn fill_sample(&mut self, returns: &ReturnMatrix) -> Result<(), RiskModelError> {
        let n = returns.assets();
        if n != self.n {
            return Err(RiskModelError::DimensionMismatch { what: "covariance assets", expected: self.n, found: n });
        }
        let rows = returns.rows();
        if rows < 2 {
            return Err(RiskModelError::WindowTooShort { what: "sample covariance", needed: 2, available: rows });
        }
        // The diagonal holds each column's mean until the cross products are summed.
        self.values.fill(0.0);
        let values = returns.values();
        let inv_rows = 1.0 / rows as f64;
        for i in 0..n {
            let sum: f64 = (0..rows).map(|t| values[t * n + i]).sum();
            self.values[i * n + i] = sum * inv_rows;
        }
        let scale = 1.0 / (rows - 1) as f64;
        // The upper triangle (i < j) accumulates centred cross products.
        for t in 0..rows {
            let row = &values[t * n..(t + 1) * n];
            for i in 0..n {
                let di = row[i] - self.values[i * n + i];
                let base = i * n;
                for (j, rj) in row.iter().enumerate().skip(i + 1) {
                    self.values[base + j] += di * (rj - self.values[j * n + j]);
                }
            }
        }
        for i in 0..n {
            let mean = self.values[i * n + i];
            let mut sum = 0.0;
            for t in 0..rows {
                let d = values[t * n + i] - mean;
                sum += d * d;
            }
            self.values[i * n + i] = sum * scale;
        }
        for i in 0..n {
            for j in i + 1..n {
                let v = self.values[i * n + j] * scale;
                self.values[i * n + j] = v;
                self.values[j * n + i] = v;
            }
        }
        Ok(())
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Row-major values.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    pub fn get(&self, row: usize, col: usize) -> f64 {
        self.values[row * self.n + col]
    }

    /// `Σ x` into `out`.
    pub fn mul_vec(&self, x: &[f64], out: &mut [f64]) {
        for (row, o) in self.values.chunks_exact(self.n).zip(out.iter_mut()) {
            *o = row.iter().zip(x).map(|(a, b)| a * b).sum();
        }
    }

    /// `xᵀ Σ x`.
    pub fn quadratic_form(&self, x: &[f64]) -> f64 {
        self.values
            .chunks_exact(self.n)
            .zip(x)
            .map(|(row, xi)| xi * row.iter().zip(x).map(|(a, b)| a * b).sum::<f64>())
            .sum()
    }

    /// Check that the matrix is symmetric positive definite, by Cholesky factorisation into
    /// `scratch` (`n × n`). A negative pivot means not positive semi-definite; a pivot below
    /// 1e-12 of its diagonal entry means singular (an asset replicated by the others).
    pub fn check_positive_definite(&self, scratch: &mut [f64]) -> Result<(), RiskModelError> {
        scratch.copy_from_slice(&self.values);
        match cholesky_in_place(scratch, self.n) {
            Ok(()) => Ok(()),
            Err((pivot_index, pivot)) => {
                let diagonal = self.get(pivot_index, pivot_index).abs();
                if pivot < -SINGULAR_PIVOT_RATIO * diagonal {
                    Err(RiskModelError::CovarianceNotPositiveDefinite { pivot_index, pivot })
                } else {
                    Err(RiskModelError::CovarianceSingular { pivot_index, pivot })
                }
            }
        }
    }
}

/// Factor the row-major SPD matrix `a` (`n × n`) in place into its lower Cholesky factor `L`
/// (`A = L Lᵀ`, read from the lower triangle; the upper triangle is left as it was). Fails
/// with the first pivot that is not above [`SINGULAR_PIVOT_RATIO`] of its diagonal entry.
pub(crate) fn cholesky_in_place(a: &mut [f64], n: usize) -> Result<(), (usize, f64)> {
    for i in 0..n {
        let (before, rest) = a.split_at_mut(i * n);
        let row_i = &mut rest[..n];
        for j in 0..i {
            let row_j = &before[j * n..j * n + n];
            let s = row_i[j] - dot_prefix(row_i, row_j, j);
            row_i[j] = s / row_j[j];
        }
        let original = row_i[i];
        let pivot = original - dot_prefix(row_i, row_i, i);
        if pivot.is_nan() || pivot <= SINGULAR_PIVOT_RATIO * original.abs() {
            return Err((i, pivot));
        }
        row_i[i] = pivot.sqrt();
    }
    Ok(())
}

/// Solve `L Lᵀ x = b` in place (`b` becomes `x`) with the factor from [`cholesky_in_place`].
pub(crate) fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let row = &l[i * n..i * n + n];
        b[i] = (b[i] - dot_prefix(row, b, i)) / row[i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// `Σ_{k<len} a_k b_k` in four independent lanes (the compiler vectorises them).
fn dot_prefix(a: &[f64], b: &[f64], len: usize) -> f64 {
    let (a, b) = (&a[..len], &b[..len]);
    let mut lanes = [0.0f64; 4];
    let mut chunks_a = a.chunks_exact(4);
    let mut chunks_b = b.chunks_exact(4);
    for (ca, cb) in (&mut chunks_a).zip(&mut chunks_b) {
        for k in 0..4 {
            lanes[k] += ca[k] * cb[k];
        }
    }
    let tail: f64 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| x * y).sum();
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}
