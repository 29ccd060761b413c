//! Estimators for correlated Monte Carlo series: binning, integrated autocorrelation
//! time and jackknife (physics.md §6).
//!
//! Data are a matrix of `n_time` measurements × `n_chains` independent chains, stored
//! measurement-major (`values[t * n_chains + c]`). A *block* is `B` consecutive
//! measurements of one chain, so blocks are independent across chains by construction and
//! nearly independent along a chain once `B ≫ τ_int`. The block length is the largest
//! power of two (or the whole series) that leaves at least [`MIN_BLOCKS`] blocks.
//!
//! * standard error: `SE(B) = sqrt(Var_unbiased(block means) / N_B)`;
//! * `τ_int(B) = ½ B Var(block means) / Var(x)`, which tends to τ_int as B grows
//!   (τ_int = ½ for uncorrelated data);
//! * jackknife: leave-one-block-out estimates `θ_(b)`, `SE = sqrt((N_B − 1)/N_B Σ (θ_(b) − θ̄)²)`,
//!   bias-corrected estimate `N_B θ̂ − (N_B − 1) θ̄`.

use serde::{Deserialize, Serialize};

/// Fewest blocks an error estimate is based on (relative precision of the error about
/// `1/sqrt(2 (N_B − 1))`, 13 % at 32 blocks).
pub const MIN_BLOCKS: usize = 32;

/// A shape for measurement-major data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Measurements per chain.
    pub n_time: usize,
    /// Independent chains.
    pub n_chains: usize,
}

impl Shape {
    /// Total samples.
    pub fn len(&self) -> usize {
        self.n_time * self.n_chains
    }
    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of blocks of length `b`.
    pub fn blocks(&self, b: usize) -> usize {
        self.n_chains * (self.n_time / b)
    }
    /// The block length used for errors: the largest power of two ≤ `n_time` (or `n_time`
    /// itself) leaving at least [`MIN_BLOCKS`] blocks; 1 if none does.
    pub fn block_length(&self) -> usize {
        let mut best = 1;
        let mut b = 1;
        while b <= self.n_time {
            if self.blocks(b) >= MIN_BLOCKS {
                best = b;
            }
            b *= 2;
        }
        if self.n_time > 0 && self.blocks(self.n_time) >= MIN_BLOCKS {
            best = self.n_time;
        }
        best
    }
}

/// Means of blocks of length `b` (chain-major: all blocks of chain 0, then chain 1, ...).
/// Trailing measurements that do not fill a block are left out.
pub fn block_means(values: &[f64], shape: Shape, b: usize) -> Vec<f64> {
    let per_chain = shape.n_time / b;
    let mut out = Vec::with_capacity(shape.n_chains * per_chain);
    for c in 0..shape.n_chains {
        for j in 0..per_chain {
            let s: f64 = (j * b..(j + 1) * b)
                .map(|t| values[t * shape.n_chains + c])
                .sum();
            out.push(s / b as f64);
        }
    }
    out
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Unbiased variance (n − 1 in the denominator).
pub fn variance(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64
}

/// Binning analysis of one observable.
#[derive(Clone, Debug, Serialize)]
pub struct Binning {
    /// Mean over all samples.
    pub mean: f64,
    /// Standard error at the chosen block length.
    pub error: f64,
    /// τ_int estimated at the chosen block length (in units of the measurement interval).
    pub tau_int: f64,
    /// Chosen block length.
    pub block_length: usize,
    /// Number of blocks.
    pub blocks: usize,
    /// Relative standard deviation of `error`, ≈ 1/sqrt(2 (N_B − 1)).
    pub relative_error_of_error: f64,
    /// `(B, SE(B))` for B = 1, 2, 4, … (the plateau plot).
    pub levels: Vec<(usize, f64)>,
    /// False when the block length is shorter than 10 τ_int, the standard error is still
    /// growing with the block length (no plateau), or there are fewer than [`MIN_BLOCKS`]
    /// blocks: the error is then likely underestimated.
    pub reliable: bool,
}

/// Standard error at block length `b`.
fn standard_error(values: &[f64], shape: Shape, b: usize) -> f64 {
    let m = block_means(values, shape, b);
    (variance(&m) / m.len() as f64).sqrt()
}

/// Binning analysis (see the module docs).
pub fn binning(values: &[f64], shape: Shape) -> Binning {
    assert_eq!(values.len(), shape.len());
    let b = shape.block_length();
    let var_x = variance(values);
    let means = block_means(values, shape, b);
    let nb = means.len();
    let var_b = variance(&means);
    let error = (var_b / nb as f64).sqrt();
    // a constant series has no error; fewer than two samples or blocks have an undefined one
    let constant = var_x == 0.0;
    let tau_int = if constant {
        0.5
    } else {
        0.5 * b as f64 * var_b / var_x
    };
    let mut levels = Vec::new();
    let mut l = 1;
    while shape.blocks(l) >= 2 {
        levels.push((l, standard_error(values, shape, l)));
        l *= 2;
    }
    // Plateau: SE at the chosen B must not exceed SE at the next shorter level by more than
    // twice its own statistical uncertainty (it still grows while B is not ≫ τ_int).
    let rel = 1.0 / (2.0 * (nb as f64 - 1.0)).sqrt();
    let plateau = match levels.iter().rev().find(|(l, _)| *l < b) {
        Some(&(_, se_prev)) if se_prev > 0.0 => error / se_prev - 1.0 <= 2.0 * rel,
        _ => true,
    };
    let reliable = nb >= MIN_BLOCKS && b as f64 >= 10.0 * tau_int && plateau;
    Binning {
        mean: mean(values),
        error: if constant { 0.0 } else { error },
        tau_int,
        block_length: b,
        blocks: nb,
        relative_error_of_error: rel,
        levels,
        reliable,
    }
}

/// Jackknife result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Jackknife {
    /// Bias-corrected estimate.
    pub mean: f64,
    /// Jackknife standard error.
    pub error: f64,
}

/// Jackknife over blocks for `f` of the means of several observables.
///
/// `blocks[k]` are the block means of observable `k` (all with the same blocks and equal
/// weights); `f` receives the vector of means and returns the estimate.
pub fn jackknife(blocks: &[Vec<f64>], f: impl Fn(&[f64]) -> f64) -> Jackknife {
    let k = blocks.len();
    let nb = blocks[0].len();
    let sums: Vec<f64> = blocks.iter().map(|b| b.iter().sum()).collect();
    let full: Vec<f64> = sums.iter().map(|s| s / nb as f64).collect();
    let theta_hat = f(&full);
    if nb < 2 {
        return Jackknife {
            mean: theta_hat,
            error: f64::NAN,
        };
    }
    let mut leave = vec![0.0; k];
    let thetas: Vec<f64> = (0..nb)
        .map(|b| {
            for i in 0..k {
                leave[i] = (sums[i] - blocks[i][b]) / (nb - 1) as f64;
            }
            f(&leave)
        })
        .collect();
    let bar = mean(&thetas);
    let var =
        thetas.iter().map(|t| (t - bar) * (t - bar)).sum::<f64>() * (nb - 1) as f64 / nb as f64;
    Jackknife {
        mean: nb as f64 * theta_hat - (nb - 1) as f64 * bar,
        error: var.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_length_rules() {
        assert_eq!(
            Shape {
                n_time: 1,
                n_chains: 100
            }
            .block_length(),
            1
        );
        assert_eq!(
            Shape {
                n_time: 1000,
                n_chains: 64
            }
            .block_length(),
            1000
        );
        assert_eq!(
            Shape {
                n_time: 1 << 20,
                n_chains: 1
            }
            .block_length(),
            1 << 15
        );
        assert_eq!(
            Shape {
                n_time: 10,
                n_chains: 1
            }
            .block_length(),
            1
        );
    }

    #[test]
    fn jackknife_of_mean_is_standard_error() {
        let x: Vec<f64> = (0..50).map(|i| ((i * 37) % 11) as f64).collect();
        let j = jackknife(std::slice::from_ref(&x), |m| m[0]);
        let se = (variance(&x) / 50.0).sqrt();
        assert!((j.error - se).abs() < 1e-12);
        assert!((j.mean - mean(&x)).abs() < 1e-12);
    }

    #[test]
    fn jackknife_removes_variance_bias() {
        // Var with 1/n normalisation is biased by (n-1)/n; the jackknife corrects it exactly.
        let x: Vec<f64> = (0..40).map(|i| ((i * 13) % 7) as f64).collect();
        let x2: Vec<f64> = x.iter().map(|v| v * v).collect();
        let j = jackknife(&[x.clone(), x2], |m| m[1] - m[0] * m[0]);
        assert!((j.mean - variance(&x)).abs() < 1e-10);
    }
}

/// Unbiased k-statistics k₁ … k₄ from the sample size and the power sums
/// S_r = Σ xʳ (physics.md §6). Apply to data shifted near their mean to avoid cancellation
/// (k₂ … k₄ are shift invariant, k₁ shifts).
pub fn k_statistics(n: f64, s: [f64; 4]) -> [f64; 4] {
    let [s1, s2, s3, s4] = s;
    [
        s1 / n,
        (n * s2 - s1 * s1) / (n * (n - 1.0)),
        (2.0 * s1.powi(3) - 3.0 * n * s1 * s2 + n * n * s3) / (n * (n - 1.0) * (n - 2.0)),
        (-6.0 * s1.powi(4) + 12.0 * n * s1 * s1 * s2
            - 3.0 * n * (n - 1.0) * s2 * s2
            - 4.0 * n * (n + 1.0) * s1 * s3
            + n * n * (n + 1.0) * s4)
            / (n * (n - 1.0) * (n - 2.0) * (n - 3.0)),
    ]
}

/// Unbiased covariance k₁₁ = (n Σxy − Σx Σy) / (n (n − 1)).
pub fn covariance_k_statistic(n: f64, sx: f64, sy: f64, sxy: f64) -> f64 {
    (n * sxy - sx * sy) / (n * (n - 1.0))
}

/// erfc(x), relative error below 1.2e-7 (Numerical Recipes' Chebyshev fit).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The z with two-sided tail probability `p`: P(|Z| > z) = p, by bisection on erfc.
pub fn two_sided_z(p: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if erfc(mid / std::f64::consts::SQRT_2) > p {
            lo = mid
        } else {
            hi = mid
        }
    }
    0.5 * (lo + hi)
}

/// Per-group sums of a vector of statistics, for leave-one-group-out jackknife estimates
/// of any smooth function of their means. Groups are sets of independent chains.
#[derive(Clone, Debug)]
pub struct GroupSums {
    dims: usize,
    sums: Vec<f64>,
    counts: Vec<f64>,
}

impl GroupSums {
    /// `groups` groups of `dims` statistics.
    pub fn new(groups: usize, dims: usize) -> Self {
        GroupSums {
            dims,
            sums: vec![0.0; groups * dims],
            counts: vec![0.0; groups],
        }
    }
    /// Number of groups.
    pub fn groups(&self) -> usize {
        self.counts.len()
    }
    /// Adds one sample (its statistics) to a group.
    pub fn add(&mut self, group: usize, values: &[f64]) {
        debug_assert_eq!(values.len(), self.dims);
        let row = &mut self.sums[group * self.dims..(group + 1) * self.dims];
        for (s, v) in row.iter_mut().zip(values) {
            *s += v;
        }
        self.counts[group] += 1.0;
    }
    /// Adds a sample given as (index, value) pairs, the rest being zero.
    pub fn add_sparse(&mut self, group: usize, values: impl Iterator<Item = (usize, f64)>) {
        let row = &mut self.sums[group * self.dims..(group + 1) * self.dims];
        for (i, v) in values {
            row[i] += v;
        }
        self.counts[group] += 1.0;
    }
    /// Jackknife of `f(n, totals) -> outputs` over groups: (bias-corrected estimate, error)
    /// of every output. `totals` are the summed statistics over the included groups, `n`
    /// their sample count.
    pub fn jackknife(&self, f: impl Fn(f64, &[f64]) -> Vec<f64>) -> Vec<Jackknife> {
        let g = self.groups();
        let mut total = vec![0.0; self.dims];
        for r in 0..g {
            for (t, s) in total
                .iter_mut()
                .zip(&self.sums[r * self.dims..(r + 1) * self.dims])
            {
                *t += s;
            }
        }
        let n: f64 = self.counts.iter().sum();
        let full = f(n, &total);
        let mut leave = vec![0.0; self.dims];
        let reps: Vec<Vec<f64>> = (0..g)
            .map(|r| {
                for (i, l) in leave.iter_mut().enumerate() {
                    *l = total[i] - self.sums[r * self.dims + i];
                }
                f(n - self.counts[r], &leave)
            })
            .collect();
        let gf = g as f64;
        (0..full.len())
            .map(|o| {
                let bar = reps.iter().map(|r| r[o]).sum::<f64>() / gf;
                let var = reps.iter().map(|r| (r[o] - bar).powi(2)).sum::<f64>() * (gf - 1.0) / gf;
                Jackknife {
                    mean: gf * full[o] - (gf - 1.0) * bar,
                    error: var.sqrt(),
                }
            })
            .collect()
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms; relative error below 1e-13).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // reflection
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized incomplete beta function I_x(a, b) (continued fraction, modified Lentz).
pub fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // the continued fraction converges fast for x < (a + 1)/(a + b + 2)
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(1.0 - x, b, a);
    }
    let tiny = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut f = d;
    for m in 1..400 {
        let m = m as f64;
        for num in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + num * d;
            if d.abs() < tiny {
                d = tiny;
            }
            c = 1.0 + num / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            f *= c * d;
        }
        if (c * d - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f / a
}

/// P(|T| > |t|) for Student's t with `nu` degrees of freedom.
pub fn student_t_two_sided(t: f64, nu: f64) -> f64 {
    incomplete_beta(nu / (nu + t * t), 0.5 * nu, 0.5)
}

#[cfg(test)]
mod special_function_tests {
    use super::*;

    #[test]
    fn ln_gamma_and_student_t_match_tables() {
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        // two-sided t tables: t = 2.131 (15 dof) at p = 0.05, t = 4.073 (15 dof) at p = 0.001
        assert!((student_t_two_sided(2.131, 15.0) - 0.05).abs() < 2e-4);
        assert!((student_t_two_sided(4.073, 15.0) - 0.001).abs() < 2e-5);
        assert!((student_t_two_sided(0.0, 7.0) - 1.0).abs() < 1e-12);
        // many degrees of freedom: the normal's tail
        let p = student_t_two_sided(3.0, 1e6);
        assert!(
            (p - erfc(3.0 / std::f64::consts::SQRT_2)).abs() < 1e-5,
            "{p}"
        );
    }
}
