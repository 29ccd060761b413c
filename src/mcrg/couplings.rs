//! Renormalized couplings from Callen's identity (Swendsen 1984; physics.md §8).
//!
//! For −βH = Σ_α K_α S_α of ±1 spins, every site i obeys ⟨x_i g_α,i⟩ = ⟨tanh(h_i) g_α,i⟩
//! with g_α,i = ∂S_α/∂x_i and h_i = Σ_β K_β g_β,i. The estimate solves these equations
//! (averaged over sites and configurations) for the basis' K by Newton's method from K = 0:
//! residual r_α = ⟨x g_α⟩ − ⟨tanh(h) g_α⟩, Jacobian J_αβ = ⟨(1 − tanh² h) g_α g_β⟩, step
//! K ← K + J⁻¹r, halved while the log pseudo-likelihood ⟨x h − ln 2cosh h⟩ (whose gradient is
//! r) would decrease. It is the maximum-pseudo-likelihood estimate.
//!
//! The data are a histogram: the local-field vector g_i of a site takes few values, so each
//! group of configurations keeps, per distinct g, the number of sites and Σ x_i
//! ([`CallenHistogram`]). Errors are the jackknife over the groups.

use crate::error::{Error, Result};
use crate::stats::Jackknife;
use nalgebra::{DMatrix, DVector};
use std::collections::HashMap;

/// Most basis operators (the histogram key packs 8 bits per operator).
pub const MAX_BASIS: usize = 8;
/// Largest |g_α,i| the key can hold.
pub const MAX_LOCAL_FIELD: i32 = 127;
/// Newton iterations before giving up.
pub const MAX_ITERATIONS: usize = 200;
/// Convergence: max |ΔK| below this.
pub const TOLERANCE: f64 = 1e-11;
/// A coupling larger than this means the pseudo-likelihood has no finite maximum.
pub const MAX_COUPLING: f64 = 50.0;

/// The key of a local-field vector: 8 bits per operator, offset by 128.
#[inline]
pub fn pack(g: &[i32]) -> u64 {
    g.iter()
        .enumerate()
        .fold(0u64, |k, (a, &v)| k | (((v + 128) as u64) << (8 * a)))
}

/// The local-field vector of a key.
pub fn unpack(key: u64, m: usize) -> Vec<f64> {
    (0..m)
        .map(|a| ((key >> (8 * a)) & 0xFF) as f64 - 128.0)
        .collect()
}

/// A multiply-shift hasher for the packed local-field keys: one site per insertion makes
/// the default SipHash the histogram's main cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, k: u64) {
        self.0 = (k ^ (k >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u128(&mut self, k: u128) {
        self.write_u64(k as u64 ^ ((k >> 64) as u64).wrapping_mul(0xff51_afd7_ed55_8ccd));
    }
}

/// Per distinct local-field vector: (sites, Σ x).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallenHistogram {
    /// key → (count, Σ x).
    pub entries: HashMap<u64, (f64, f64), std::hash::BuildHasherDefault<KeyHasher>>,
}

impl CallenHistogram {
    /// Adds one site.
    #[inline]
    pub fn add(&mut self, key: u64, x: i8) {
        let e = self.entries.entry(key).or_insert((0.0, 0.0));
        e.0 += 1.0;
        e.1 += x as f64;
    }
    /// Adds another histogram.
    pub fn merge(&mut self, o: &CallenHistogram) {
        for (k, v) in &o.entries {
            let e = self.entries.entry(*k).or_insert((0.0, 0.0));
            e.0 += v.0;
            e.1 += v.1;
        }
    }
}

/// Data of the Newton solve: local fields (pattern-major, `m` each), counts and Σ x.
#[derive(Clone, Debug)]
pub struct Patterns {
    /// Basis size.
    pub m: usize,
    /// g of every pattern.
    pub g: Vec<f64>,
    /// Sites with this pattern.
    pub n: Vec<f64>,
    /// Σ x over those sites.
    pub sx: Vec<f64>,
}

/// ln 2cosh h = |h| + ln(1 + e^{−2|h|}).
fn ln_2cosh(h: f64) -> f64 {
    let a = h.abs();
    a + (-2.0 * a).exp().ln_1p()
}

impl Patterns {
    /// Log pseudo-likelihood per site, Σ (sx h − n ln 2cosh h) / Σ n.
    pub fn log_pseudo_likelihood(&self, k: &[f64]) -> f64 {
        let total: f64 = self.n.iter().sum();
        let mut l = 0.0;
        for p in 0..self.n.len() {
            let g = &self.g[p * self.m..(p + 1) * self.m];
            let h: f64 = g.iter().zip(k).map(|(a, b)| a * b).sum();
            l += self.sx[p] * h - self.n[p] * ln_2cosh(h);
        }
        l / total
    }

    /// Residual r and Jacobian J at K (per site).
    pub fn residual(&self, k: &[f64]) -> (DVector<f64>, DMatrix<f64>) {
        let m = self.m;
        let total: f64 = self.n.iter().sum();
        let mut r = DVector::zeros(m);
        let mut j = DMatrix::zeros(m, m);
        for p in 0..self.n.len() {
            let g = &self.g[p * m..(p + 1) * m];
            let h: f64 = g.iter().zip(k).map(|(a, b)| a * b).sum();
            let t = h.tanh();
            let w = self.n[p] * (1.0 - t * t);
            let c = self.sx[p] - self.n[p] * t;
            for a in 0..m {
                r[a] += c * g[a];
                for b in 0..m {
                    j[(a, b)] += w * g[a] * g[b];
                }
            }
        }
        (r / total, j / total)
    }

    /// Solves Callen's equations by damped Newton from K = 0.
    ///
    /// # Errors
    /// A message when the Jacobian is singular (basis operators linearly dependent on this
    /// lattice), a coupling runs past [`MAX_COUPLING`] (no finite solution, e.g. a frozen
    /// configuration) or [`MAX_ITERATIONS`] pass without convergence.
    pub fn solve(&self) -> std::result::Result<Vec<f64>, String> {
        let m = self.m;
        let mut k = vec![0.0; m];
        let mut l = self.log_pseudo_likelihood(&k);
        for it in 0..MAX_ITERATIONS {
            let (r, j) = self.residual(&k);
            let step = match j.clone().cholesky() {
                Some(c) => c.solve(&r),
                None => {
                    return Err(format!(
                        "the Jacobian ⟨(1 − tanh² h) g gᵀ⟩ is singular after {it} iterations (the basis operators are linearly dependent on this lattice, or the data are frozen)"
                    ));
                }
            };
            let mut t = 1.0;
            let mut next: Vec<f64>;
            loop {
                next = k.iter().zip(step.iter()).map(|(a, d)| a + t * d).collect();
                let ln = self.log_pseudo_likelihood(&next);
                if ln >= l - 1e-15 * l.abs().max(1.0) || t < 1e-6 {
                    l = ln;
                    break;
                }
                t *= 0.5;
            }
            let change = step.iter().map(|d| (t * d).abs()).fold(0.0, f64::max);
            k = next;
            if k.iter().any(|x| !x.is_finite() || x.abs() > MAX_COUPLING) {
                return Err(format!(
                    "a coupling passed {MAX_COUPLING} after {it} iterations (no finite solution: are the configurations frozen?)"
                ));
            }
            if change < TOLERANCE * (1.0 + k.iter().map(|x| x.abs()).fold(0.0, f64::max)) {
                return Ok(k);
            }
        }
        let (r, _) = self.residual(&k);
        Err(format!(
            "no convergence in {MAX_ITERATIONS} Newton iterations (largest residual {:.3e})",
            r.amax()
        ))
    }
}

/// The couplings of a basis from jackknife groups of histograms: the estimate from all
/// groups and the jackknife error over them, in basis order.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `basis` when Newton's method fails on all the data
/// or on a jackknife sample; `what` (e.g. "level 2") says where.
pub fn estimate(groups: &[CallenHistogram], m: usize, what: &str) -> Result<Vec<Jackknife>> {
    let mut keys: Vec<u64> = groups
        .iter()
        .flat_map(|g| g.entries.keys().copied())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let index: HashMap<u64, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let g: Vec<f64> = keys.iter().flat_map(|&k| unpack(k, m)).collect();
    let per_group: Vec<(Vec<f64>, Vec<f64>)> = groups
        .iter()
        .map(|h| {
            let mut n = vec![0.0; keys.len()];
            let mut sx = vec![0.0; keys.len()];
            for (k, v) in &h.entries {
                n[index[k]] = v.0;
                sx[index[k]] = v.1;
            }
            (n, sx)
        })
        .collect();
    let mut total_n = vec![0.0; keys.len()];
    let mut total_sx = vec![0.0; keys.len()];
    for (n, sx) in &per_group {
        for i in 0..keys.len() {
            total_n[i] += n[i];
            total_sx[i] += sx[i];
        }
    }
    let fail = |e: String| Error::invalid("basis", format!("{what}: Callen's identity: {e}"));
    let full = Patterns {
        m,
        g: g.clone(),
        n: total_n.clone(),
        sx: total_sx.clone(),
    }
    .solve()
    .map_err(fail)?;
    let mut reps = Vec::new();
    if groups.len() >= 2 {
        for (n, sx) in &per_group {
            let p = Patterns {
                m,
                g: g.clone(),
                n: total_n.iter().zip(n).map(|(a, b)| a - b).collect(),
                sx: total_sx.iter().zip(sx).map(|(a, b)| a - b).collect(),
            };
            reps.push(
                p.solve()
                    .map_err(|e| fail(format!("{e} (in a jackknife sample)")))?,
            );
        }
    }
    let gf = reps.len() as f64;
    Ok((0..m)
        .map(|a| {
            let error = if reps.len() >= 2 {
                let bar = reps.iter().map(|r| r[a]).sum::<f64>() / gf;
                (reps.iter().map(|r| (r[a] - bar).powi(2)).sum::<f64>() * (gf - 1.0) / gf).sqrt()
            } else {
                f64::NAN
            };
            Jackknife {
                mean: full[a],
                error,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let g = [-4, 0, 3, 127, -127, 1];
        assert_eq!(
            unpack(pack(&g), 6),
            g.iter().map(|&x| x as f64).collect::<Vec<_>>()
        );
    }

    /// Independent spins in a field h: ⟨x⟩ = tanh h, so the estimate is atanh of the mean.
    #[test]
    fn field_only_is_atanh_of_the_mean() {
        let mut h = CallenHistogram::default();
        for i in 0..1000 {
            h.add(pack(&[1]), if i % 4 == 0 { -1 } else { 1 });
        }
        let k = estimate(&[h.clone(), h], 1, "test").unwrap();
        assert!((k[0].mean - 0.5f64.atanh()).abs() < 1e-10);
    }

    /// Exact expectations of a two-spin system x1 x2 with coupling K and field H: the
    /// pattern weights are the exact probabilities, so the solve recovers (K, H).
    #[test]
    fn recovers_exact_two_spin_couplings() {
        let (kk, hh) = (0.7, -0.3);
        let mut p = Patterns {
            m: 2,
            g: Vec::new(),
            n: Vec::new(),
            sx: Vec::new(),
        };
        let z: f64 = [(1, 1), (1, -1), (-1, 1), (-1, -1)]
            .iter()
            .map(|&(a, b): &(i32, i32)| (kk * (a * b) as f64 + hh * (a + b) as f64).exp())
            .sum();
        for &(a, b) in &[(1i32, 1i32), (1, -1), (-1, 1), (-1, -1)] {
            let w = (kk * (a * b) as f64 + hh * (a + b) as f64).exp() / z;
            // site 1 (spin a, neighbour b) and site 2 (spin b, neighbour a)
            for (x, other) in [(a, b), (b, a)] {
                p.g.extend([other as f64, 1.0]);
                p.n.push(w);
                p.sx.push(w * x as f64);
            }
        }
        let k = p.solve().unwrap();
        assert!(
            (k[0] - kk).abs() < 1e-9 && (k[1] - hh).abs() < 1e-9,
            "{k:?}"
        );
    }

    #[test]
    fn frozen_data_fail_clearly() {
        let mut h = CallenHistogram::default();
        for _ in 0..100 {
            h.add(pack(&[4]), 1);
        }
        let e = estimate(&[h.clone(), h], 1, "level 3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("level 3") && e.contains("Callen"), "{e}");
    }
}
