//! Linearized RG exponents (Swendsen 1979; physics.md §8).
//!
//! Per configuration the operator sums of every level form one vector v; [`Moments`] keeps
//! Σv and Σvvᵀ of a group of configurations (a jackknife block). At level n ≥ 1, for the
//! first N operators of a sector,
//!
//! A_γβ = ⟨S_γ⁽ⁿ⁾ S_β⁽ⁿ⁻¹⁾⟩ − ⟨S_γ⁽ⁿ⁾⟩⟨S_β⁽ⁿ⁻¹⁾⟩,  B_γα = ⟨S_γ⁽ⁿ⁾ S_α⁽ⁿ⁾⟩ − ⟨S_γ⁽ⁿ⁾⟩⟨S_α⁽ⁿ⁾⟩,
//!
//! T = B⁻¹A (T_αβ = ∂K_α⁽ⁿ⁾/∂K_β⁽ⁿ⁻¹⁾), and y = ln λ / ln b of the leading real eigenvalue
//! λ of T. y comes from all configurations; its error is the jackknife over the groups.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// Σv, Σvvᵀ and the count of a group of configurations.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    /// Configurations.
    pub n: f64,
    /// Σ v.
    pub sum: Vec<f64>,
    /// Σ v vᵀ, row-major d × d.
    pub outer: Vec<f64>,
}

impl Moments {
    /// Empty moments of dimension `d`.
    pub fn new(d: usize) -> Self {
        Moments {
            n: 0.0,
            sum: vec![0.0; d],
            outer: vec![0.0; d * d],
        }
    }
    /// Dimension.
    pub fn dim(&self) -> usize {
        self.sum.len()
    }
    /// Adds one configuration's vector.
    pub fn add(&mut self, v: &[f64]) {
        let d = self.dim();
        self.n += 1.0;
        for i in 0..d {
            self.sum[i] += v[i];
            let row = &mut self.outer[i * d..(i + 1) * d];
            for (o, vj) in row.iter_mut().zip(v) {
                *o += v[i] * vj;
            }
        }
    }
    /// Adds another group.
    pub fn merge(&mut self, o: &Moments) {
        self.n += o.n;
        for (a, b) in self.sum.iter_mut().zip(&o.sum) {
            *a += b;
        }
        for (a, b) in self.outer.iter_mut().zip(&o.outer) {
            *a += b;
        }
    }
    /// These moments without the group `o` (leave-one-out).
    pub fn without(&self, o: &Moments) -> Moments {
        Moments {
            n: self.n - o.n,
            sum: self.sum.iter().zip(&o.sum).map(|(a, b)| a - b).collect(),
            outer: self
                .outer
                .iter()
                .zip(&o.outer)
                .map(|(a, b)| a - b)
                .collect(),
        }
    }
    /// Connected correlation ⟨v_i v_j⟩ − ⟨v_i⟩⟨v_j⟩.
    pub fn covariance(&self, i: usize, j: usize) -> f64 {
        let d = self.dim();
        self.outer[i * d + j] / self.n - self.sum[i] * self.sum[j] / (self.n * self.n)
    }

    /// T = B⁻¹A with rows/columns `coarse` (the S⁽ⁿ⁾ indices in v) and `fine` (the
    /// S⁽ⁿ⁻¹⁾ indices); None when B is singular.
    pub fn linearized(&self, coarse: &[usize], fine: &[usize]) -> Option<DMatrix<f64>> {
        let k = coarse.len();
        let a = DMatrix::from_fn(k, k, |g, b| self.covariance(coarse[g], fine[b]));
        let b = DMatrix::from_fn(k, k, |g, a| self.covariance(coarse[g], coarse[a]));
        // scale-free singularity test: B's diagonal sets the scale
        if (0..k).any(|i| b[(i, i)].partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)) {
            return None;
        }
        let t = b.lu().solve(&a)?;
        t.iter().all(|x| x.is_finite()).then_some(t)
    }
}

/// Eigenvalues of T sorted by decreasing real part: (real parts, imaginary parts).
pub fn eigenvalues(t: &DMatrix<f64>) -> (Vec<f64>, Vec<f64>) {
    let ev = t.clone().complex_eigenvalues();
    let mut v: Vec<(f64, f64)> = ev.iter().map(|c| (c.re, c.im)).collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    (
        v.iter().map(|x| x.0).collect(),
        v.iter().map(|x| x.1).collect(),
    )
}

/// The largest real eigenvalue (|Im λ| ≤ 1e-9 max(1, |Re λ|)).
pub fn leading_real(re: &[f64], im: &[f64]) -> Option<f64> {
    re.iter()
        .zip(im)
        .filter(|(r, i)| i.abs() <= 1e-9 * r.abs().max(1.0))
        .map(|(r, _)| *r)
        .max_by(|a, b| a.total_cmp(b))
}

/// y = ln λ / ln b of the leading real eigenvalue of T (None when B is singular or λ ≤ 0).
pub fn exponent_y(m: &Moments, coarse: &[usize], fine: &[usize], b: f64) -> Option<f64> {
    let t = m.linearized(coarse, fine)?;
    let (re, im) = eigenvalues(&t);
    let l = leading_real(&re, &im)?;
    (l > 0.0).then(|| l.ln() / b.ln())
}

/// One truncation of one sector at one level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exponent {
    /// The first `operators` operators of the sector.
    pub operators: usize,
    /// Eigenvalues of T, largest real part first (real parts; empty when B is singular).
    pub eigenvalues: Vec<f64>,
    /// Their imaginary parts, when any is non-zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imaginary: Option<Vec<f64>>,
    /// y = ln λ / ln b of the leading real eigenvalue, from all configurations.
    pub y: Option<f64>,
    /// Jackknife error of y over the groups.
    pub error: Option<f64>,
}

/// Exponents of truncations 1 … `coarse.len()` of one sector: `coarse[k]` and `fine[k]`
/// index operator k of the sector at levels n and n − 1 in v; `groups` are the jackknife
/// groups.
pub fn sector_exponents(
    groups: &[Moments],
    coarse: &[usize],
    fine: &[usize],
    b: f64,
) -> Vec<Exponent> {
    if coarse.is_empty() {
        return Vec::new();
    }
    let mut total = Moments::new(groups[0].dim());
    for g in groups {
        total.merge(g);
    }
    let leave: Vec<Moments> = groups.iter().map(|g| total.without(g)).collect();
    (1..=coarse.len())
        .map(|k| {
            let (c, f) = (&coarse[..k], &fine[..k]);
            let Some(t) = total.linearized(c, f) else {
                return Exponent {
                    operators: k,
                    eigenvalues: Vec::new(),
                    imaginary: None,
                    y: None,
                    error: None,
                };
            };
            let (re, im) = eigenvalues(&t);
            let y = leading_real(&re, &im)
                .filter(|l| *l > 0.0)
                .map(|l| l.ln() / b.ln());
            let reps: Option<Vec<f64>> = leave.iter().map(|m| exponent_y(m, c, f, b)).collect();
            let error = reps.filter(|r| r.len() >= 2).map(|r| {
                let g = r.len() as f64;
                let bar = r.iter().sum::<f64>() / g;
                (r.iter().map(|x| (x - bar).powi(2)).sum::<f64>() * (g - 1.0) / g).sqrt()
            });
            Exponent {
                operators: k,
                imaginary: im.iter().any(|x| *x != 0.0).then(|| im.clone()),
                eigenvalues: re,
                y,
                error: y.and(error),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S⁽¹⁾ = 2 S⁽⁰⁾ gives T = Cov(S1, S0) / Var(S1) = 1/2, y = −1 at b = 2.
    #[test]
    fn one_operator_ratio() {
        let mut m = Moments::new(2);
        for i in 0..100 {
            let s0 = ((i * 37) % 17) as f64;
            m.add(&[s0, 2.0 * s0]);
        }
        let t = m.linearized(&[1], &[0]).unwrap();
        assert!((t[(0, 0)] - 0.5).abs() < 1e-12);
        let y = exponent_y(&m, &[1], &[0], 2.0).unwrap();
        assert!((y + 1.0).abs() < 1e-12);
    }

    #[test]
    fn moments_leave_one_out() {
        let mut a = Moments::new(2);
        let mut b = Moments::new(2);
        a.add(&[1.0, 2.0]);
        b.add(&[3.0, -1.0]);
        let mut t = a.clone();
        t.merge(&b);
        assert_eq!(t.without(&b), a);
        // cov(x, y) with x = (1, 3), y = (2, −1): mean xy = (2 − 3)/2 = −0.5, means 2, 0.5
        assert!((t.covariance(0, 1) - (-0.5 - 1.0)).abs() < 1e-12);
    }

    #[test]
    fn eigenvalues_sorted_and_real() {
        let t = DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.0, 3.0]);
        let (re, im) = eigenvalues(&t);
        assert_eq!(re, vec![3.0, 2.0]);
        assert_eq!(leading_real(&re, &im), Some(3.0));
        let r = DMatrix::from_row_slice(2, 2, &[0.0, -1.0, 1.0, 0.0]);
        let (re, im) = eigenvalues(&r);
        assert_eq!(leading_real(&re, &im), None);
    }
}
