//! The visible Hamiltonian estimated from visible samples by maximum pseudo-likelihood
//! (the identity of Callen, `crate::mcrg::couplings`, for a dense pairwise model).
//!
//! A pairwise model p(v) ∝ exp(fᵀv + ½vᵀJv) over two-valued units has, for each unit i,
//! the conditional
//!
//! P(v_i = on | v_rest) = ς(κ (b_i + Σ_{j≠i} J_ij v_j)),
//!
//! with the units' own values v_j (0/1 or ±1), ς the logistic function and
//!
//! * bernoulli units (0/1): κ = 1 and the effective field b_i = f_i + ½J_ii (v_i² = v_i);
//! * spin units (±1): κ = 2 and b_i = f_i (v_i² = 1: J_ii drops out), i.e. ⟨v_i | rest⟩ =
//!   tanh(f_i + Σ_j J_ij v_j), Callen's identity.
//!
//! Row i, θ_i = (b_i, J_i·), is the logistic regression of v_i on the other units: it
//! maximizes the conditional log-likelihood Σ_s [y_s η_s − ln(1 + e^{η_s})] (y_s = 1 when
//! v_i is on in sample s, η_s = κ(b_i + Σ_j J_ij v_sj)), a concave function of θ_i.
//! Every row is solved separately (n_v parameters each), so J_ij comes out twice, from row
//! i and from row j; the reported coupling is their mean (J_ij + J_ji)/2, and its error is
//! that of the mean (the jackknife sees the correlation of the two rows).
//!
//! This is Callen's identity as `crate::mcrg::couplings` solves it, but for a dense model:
//! there, a few (≤ 8) lattice operators and a histogram of local-field patterns; here, n_v
//! parameters per row and as many distinct patterns as samples, so the solver works on
//! the samples themselves with dense matrix products (and shares that module's
//! [`MAX_COUPLING`] and the jackknife's [`Jackknife`]).
//!
//! Solution, for all rows at once, by lazy Newton (the Hessian recomputed only when the
//! steps stop shrinking fast; each row's step halved while its pseudo-likelihood would
//! fall): first on a subsample (the first samples of every group, [`SUBSAMPLE`] in all and
//! at least [`MIN_SAMPLES_PER_PARAMETER`] per parameter) to a coarse tolerance, with a weak
//! ridge so that it has a finite maximum even where the subsample alone has none; then
//! with the Hessian of all samples at that point (recomputed at most once) and the
//! gradient of all samples to the maximum of the full, unpenalized pseudo-likelihood
//! (tolerance [`TOLERANCE`]). Hessians are accumulated in single precision (the gradient,
//! which fixes the maximum, in double).
//!
//! Errors: a jackknife over groups of independent chains, linearized (each leave-one-group
//! -out estimate is one Newton step from the full estimate, θ_(g) = θ̂ − N/(N − N_g)·H⁻¹g_g,
//! with g_g the gradient of group g's samples at θ̂ and H the last Hessian of all samples,
//! taken near θ̂), which is the standard one-step jackknife; its replicates average to θ̂,
//! so no bias correction.
//!
//! Cost: the Hessian of all rows is a tensor Σ_s w_si x_sj x_sk, about N n³/2 multiply-adds
//! for N samples of n units (dense matrix products); the gradient steps cost 2N n² each.
//! [`max_samples`] caps N so that one Hessian stays within [`WORK`].

use super::model::VisibleUnits;
use crate::error::Result;
use crate::stats::Jackknife;
use nalgebra::{Cholesky, DMatrix, DVector, Dyn};
use rayon::prelude::*;

/// Most visible units the check estimates (n_v rows of n_v parameters): at 200 units one
/// sample's Hessians cost 4×10⁶ multiply-adds, so [`WORK`] allows about 25 000 samples.
pub const MAX_UNITS: usize = 200;
/// Multiply-adds of one all-sample Hessian (N n³/2) the sample cap allows: about 15 s of
/// one core (single-precision blocked products, ~7×10⁹ multiply-adds per second); the
/// whole estimate costs about twice that (the subsample stage and the gradient steps).
pub const WORK: f64 = 1e11;

/// Host memory of the estimate for `n` units besides the samples (bytes): the Hessian
/// tensor and one chunk of pair products, per-group gradients and jackknife changes.
pub fn work_bytes(n: usize) -> u64 {
    let m = (n + 1) as u64;
    let pairs = m * (m + 1) / 2;
    let n = n as u64;
    8 * n * pairs + (32 << 20) + 64 * 8 * (3 * n * m + pairs)
}
/// Samples of the first (subsample) Newton stage: at least this many, and
/// [`MIN_SAMPLES_PER_PARAMETER`] per parameter.
pub const SUBSAMPLE: usize = 4096;
/// Fewest samples per parameter of a row: below, the estimate's O(n/N) overstatement of
/// the couplings (about n/N relative) is no longer small against their errors.
pub const MIN_SAMPLES_PER_PARAMETER: usize = 16;
/// Newton iterations of each stage before giving up.
pub const MAX_ITERATIONS: usize = 100;
/// Convergence: max |Δθ| of every row below this (times 1 + max |θ|).
pub const TOLERANCE: f64 = 1e-7;
/// A parameter larger than this means the pseudo-likelihood has no finite maximum.
pub use crate::mcrg::couplings::MAX_COUPLING;

/// Most samples used with `n` units: all of one Hessian within [`WORK`], at least
/// [`SUBSAMPLE`].
pub fn max_samples(n: usize) -> usize {
    let per_sample = 0.5 * (n as f64 + 1.0).powi(2) * n as f64;
    ((WORK / per_sample.max(1.0)) as usize).max(SUBSAMPLE)
}

/// Visible samples in groups of independent chains: per group, samples of `n` bytes
/// (1 = on, 0 = off).
#[derive(Clone, Debug)]
pub struct VisibleSamples {
    n: usize,
    units: VisibleUnits,
    groups: Vec<Vec<u8>>,
}

impl VisibleSamples {
    /// No samples yet, of `n` units in `groups` groups.
    pub fn new(n: usize, units: VisibleUnits, groups: usize) -> Self {
        VisibleSamples {
            n,
            units,
            groups: vec![Vec::new(); groups.max(1)],
        }
    }
    /// Units per sample.
    pub fn units(&self) -> usize {
        self.n
    }
    /// Adds one sample (the units' own values; a value above the midpoint is "on") to
    /// `group`.
    pub fn add(&mut self, group: usize, v: &[f32]) {
        debug_assert_eq!(v.len(), self.n);
        let mid = match self.units {
            VisibleUnits::Bernoulli => 0.5,
            VisibleUnits::Spin => 0.0,
        };
        let g = group % self.groups.len();
        self.groups[g].extend(v.iter().map(|&x| u8::from(x > mid)));
    }
    /// Adds every chain of a snapshot (`chains` samples of `n` values), chain c to group
    /// c mod groups.
    pub fn add_snapshot(&mut self, visible: &[f32], chains: usize) {
        if self.n == 0 || visible.len() != chains * self.n {
            return;
        }
        for (c, v) in visible.chunks(self.n).enumerate() {
            self.add(c, v);
        }
    }
    /// Samples held.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.len()).sum::<usize>() / self.n.max(1)
    }
    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn group_len(&self, g: usize) -> usize {
        self.groups[g].len() / self.n.max(1)
    }
    fn kappa(&self) -> f64 {
        match self.units {
            VisibleUnits::Bernoulli => 1.0,
            VisibleUnits::Spin => 2.0,
        }
    }
    fn values(&self) -> [f64; 2] {
        super::enumeration::unit_values(self.units)
    }
}

/// The estimated visible Hamiltonian.
#[derive(Clone, Debug)]
pub struct Estimate {
    /// Effective field b_i (module docs).
    pub field: Vec<f64>,
    /// (J_ij + J_ji)/2 for i < j (row-major upper triangle: [`pair_index`]).
    pub coupling: Vec<f64>,
    /// Per jackknife group, the change of every field when the group is left out.
    pub field_replicates: Vec<Vec<f64>>,
    /// Per jackknife group, the change of every coupling when the group is left out.
    pub coupling_replicates: Vec<Vec<f64>>,
    /// Samples used.
    pub samples: usize,
    /// Newton iterations (subsample stage, all-sample stage).
    pub iterations: [usize; 2],
    /// Hessians computed (subsample stage, all-sample stage).
    pub hessians: [usize; 2],
}

/// Position of the pair (i, j), i < j, of `n` units in [`Estimate::coupling`].
pub fn pair_index(n: usize, i: usize, j: usize) -> usize {
    debug_assert!(i < j && j < n);
    i * n - i * (i + 1) / 2 + (j - i - 1)
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Which samples a pass reads: all, or the first `per_group` of every group.
#[derive(Clone, Copy)]
enum Subset {
    All,
    First(usize),
}

impl Subset {
    fn take(self, available: usize) -> usize {
        match self {
            Subset::All => available,
            Subset::First(k) => k.min(available),
        }
    }
}

/// The design rows x' = (1, v_0, …, v_{n−1}) of the samples in `bytes` (k × (n + 1)).
fn design(bytes: &[u8], n: usize, values: [f64; 2]) -> DMatrix<f64> {
    let k = bytes.len() / n;
    let mut x = DMatrix::from_element(k, n + 1, 1.0);
    for (c, mut col) in x.column_iter_mut().enumerate().skip(1) {
        for (s, e) in col.iter_mut().enumerate() {
            *e = values[usize::from(bytes[s * n + c - 1])];
        }
    }
    x
}

/// Per group: the gradient of the log pseudo-likelihood of every row (n × (n + 1),
/// entry (i, i + 1) zero) and the summed log pseudo-likelihood of every row.
struct Gradients {
    per_group: Vec<DMatrix<f64>>,
    total: DMatrix<f64>,
    log_pl: Vec<f64>,
}

/// Samples per chunk of the gradient pass.
const GRADIENT_CHUNK: usize = 2048;

/// Gradient and log pseudo-likelihood of every row at Θ (n × (n + 1), Θ[i, i+1] = 0), per
/// group (groups in parallel, each summed in sample order: deterministic).
fn gradients(data: &VisibleSamples, theta: &DMatrix<f64>, subset: Subset) -> Gradients {
    let n = data.n;
    let kappa = data.kappa();
    let values = data.values();
    let theta_t = theta.transpose();
    let parts: Vec<(DMatrix<f64>, Vec<f64>)> = (0..data.groups.len())
        .into_par_iter()
        .map(|g| {
            let take = subset.take(data.group_len(g));
            let bytes = &data.groups[g][..take * n];
            let mut grad = DMatrix::zeros(n, n + 1);
            let mut log_pl = vec![0.0; n];
            for chunk in bytes.chunks(GRADIENT_CHUNK * n) {
                let x = design(chunk, n, values);
                let mut r = &x * &theta_t; // k × n linear predictors / κ
                for i in 0..n {
                    let mut l = 0.0;
                    for (s, e) in r.column_mut(i).iter_mut().enumerate() {
                        let eta = kappa * *e;
                        let y = f64::from(chunk[s * n + i]);
                        // one exponential: ς(η) and ln(1 + e^η) from e^{−|η|}
                        let q = (-eta.abs()).exp();
                        let p = if eta >= 0.0 {
                            1.0 / (1.0 + q)
                        } else {
                            q / (1.0 + q)
                        };
                        // ln(1 + q) rather than ln_1p: absolute precision is what the sum
                        // needs, and it is several times faster
                        l += y * eta - (eta.max(0.0) + (1.0 + q).ln());
                        *e = kappa * (y - p);
                    }
                    log_pl[i] += l;
                }
                // (gemm_tr would not use the blocked product)
                grad.gemm(1.0, &r.transpose(), &x, 1.0);
            }
            for i in 0..n {
                grad[(i, i + 1)] = 0.0;
            }
            (grad, log_pl)
        })
        .collect();
    let mut total = DMatrix::zeros(n, n + 1);
    let mut log_pl = vec![0.0; n];
    for (g, l) in &parts {
        total += g;
        for (a, b) in log_pl.iter_mut().zip(l) {
            *a += b;
        }
    }
    Gradients {
        per_group: parts.into_iter().map(|p| p.0).collect(),
        total,
        log_pl,
    }
}

/// Index of the pair (j, k), j ≤ k, of `m` columns in the packed upper triangle.
fn packed(m: usize, j: usize, k: usize) -> usize {
    j * m - j * (j + 1) / 2 + k
}

/// The Hessians (negated, positive semi-definite) of every row at Θ: row i of the result
/// holds Σ_s w_si x'_sj x'_sk for j ≤ k (packed), w = κ² ς(η)(1 − ς(η)).
fn hessians(
    data: &VisibleSamples,
    theta: &DMatrix<f64>,
    subset: Subset,
    task: &crate::interrupt::Task,
) -> Result<DMatrix<f64>> {
    let n = data.n;
    let m = n + 1;
    let pairs = m * (m + 1) / 2;
    let kappa = data.kappa();
    let values = data.values();
    let theta_t = theta.transpose();
    // chunks of at most 32 MB of pair products
    let chunk = ((32usize << 20) / (4 * pairs)).clamp(16, 4096);
    let threads = rayon::current_num_threads().max(1);
    let block = n.div_ceil(threads).max(1);
    let row_blocks: Vec<(usize, usize)> = (0..n)
        .step_by(block)
        .map(|start| (start, block.min(n - start)))
        .collect();
    let mut t = DMatrix::zeros(n, pairs);
    // the samples of every group (the total is all that counts here), in full chunks
    let mut pending: Vec<u8> = Vec::with_capacity(chunk * n);
    let mut slices = (0..data.groups.len())
        .flat_map(|g| {
            let take = subset.take(data.group_len(g));
            data.groups[g][..take * n].chunks(chunk * n)
        })
        .peekable();
    while slices.peek().is_some() || !pending.is_empty() {
        while pending.len() < chunk * n
            && let Some(b) = slices.next()
        {
            pending.extend_from_slice(b);
        }
        let at = pending.len().min(chunk * n);
        let rest = pending.split_off(at);
        let bytes = std::mem::replace(&mut pending, rest);
        let x = design(&bytes, n, values);
        let k = x.nrows();
        // weights (n × k) and pair products (k × pairs) in single precision: the
        // blocked product is twice as fast, and the Hessian only sets the step and the
        // errors (the gradient, which fixes the maximum, is double precision)
        let eta = (&x * &theta_t).transpose();
        let w = DMatrix::<f32>::from_fn(n, k, |i, s| {
            let p = sigmoid(kappa * eta[(i, s)]);
            (kappa * kappa * p * (1.0 - p)) as f32
        });
        let mut z = DMatrix::<f32>::zeros(k, pairs);
        z.column_iter_mut()
            .enumerate()
            .collect::<Vec<_>>()
            .into_par_iter()
            .with_min_len(64)
            .for_each(|(p, mut col)| {
                let (a, b) = unpack_pair(m, p);
                for ((e, xa), xb) in col
                    .iter_mut()
                    .zip(x.column(a).iter())
                    .zip(x.column(b).iter())
                {
                    *e = (xa * xb) as f32;
                }
            });
        // rows of T in blocks, one per thread: each entry sums the chunks in order
        let parts: Vec<DMatrix<f32>> = row_blocks
            .par_iter()
            .map(|&(start, rows)| w.rows(start, rows) * &z)
            .collect();
        for (&(start, rows), part) in row_blocks.iter().zip(parts) {
            let mut tb = t.rows_mut(start, rows);
            tb.iter_mut()
                .zip(part.iter())
                .for_each(|(a, &b)| *a += f64::from(b));
        }
        task.advance(k as u64)?;
    }
    Ok(t)
}

/// The pair (j, k), j ≤ k, at packed position `p` of `m` columns.
fn unpack_pair(m: usize, p: usize) -> (usize, usize) {
    let mut j = 0;
    let mut start = 0;
    while start + (m - j) <= p {
        start += m - j;
        j += 1;
    }
    (j, j + (p - start))
}

/// Row i's parameters: columns 0..=n of Θ without column i + 1.
fn kept(n: usize, i: usize) -> Vec<usize> {
    (0..=n).filter(|&c| c != i + 1).collect()
}

/// Row i's Hessian (n × n) from the packed tensor.
fn row_hessian(t: &DMatrix<f64>, n: usize, i: usize) -> DMatrix<f64> {
    let m = n + 1;
    let cols = kept(n, i);
    DMatrix::from_fn(n, n, |a, b| {
        let (j, k) = (cols[a].min(cols[b]), cols[a].max(cols[b]));
        t[(i, packed(m, j, k))]
    })
}

/// Cholesky factors of every row's Hessian plus `ridge` on the diagonal.
fn factors(
    t: &DMatrix<f64>,
    n: usize,
    ridge: f64,
) -> std::result::Result<Vec<Cholesky<f64, Dyn>>, String> {
    (0..n)
        .into_par_iter()
        .map(|i| {
            let mut h = row_hessian(t, n, i);
            for a in 0..n {
                h[(a, a)] += ridge;
            }
            h.cholesky().ok_or_else(|| {
                format!(
                    "the Hessian of unit {i}'s pseudo-likelihood is singular (a unit never changes, or two units always agree, in the samples)"
                )
            })
        })
        .collect()
}

/// One damped Newton step of every row from Θ, whose gradient is `grad`, with fixed
/// Hessian factors, for the log pseudo-likelihood minus ½·ridge·|θ_i|² per row: the step
/// is halved while that would decrease. Returns the gradient at the new Θ and the largest
/// change relative to 1 + max |θ| of its row, or the reason there is no finite maximum.
fn step(
    data: &VisibleSamples,
    theta: &mut DMatrix<f64>,
    grad: &Gradients,
    chol: &[Cholesky<f64, Dyn>],
    subset: Subset,
    ridge: f64,
) -> Result<std::result::Result<(Gradients, f64), String>> {
    crate::interrupt::check()?;
    let n = data.n;
    let penalty = |theta: &DMatrix<f64>, i: usize| 0.5 * ridge * theta.row(i).norm_squared();
    let steps: Vec<DVector<f64>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let r = DVector::from_iterator(
                n,
                kept(n, i)
                    .iter()
                    .map(|&c| grad.total[(i, c)] - ridge * theta[(i, c)]),
            );
            chol[i].solve(&r)
        })
        .collect();
    let mut t = vec![1.0f64; n];
    let mut accepted = vec![false; n];
    loop {
        let mut trial = theta.clone();
        for i in 0..n {
            for (a, &c) in kept(n, i).iter().enumerate() {
                trial[(i, c)] += t[i] * steps[i][a];
            }
        }
        let next = gradients(data, &trial, subset);
        let mut again = false;
        for i in 0..n {
            if accepted[i] {
                continue;
            }
            let old = grad.log_pl[i] - penalty(theta, i);
            let new = next.log_pl[i] - penalty(&trial, i);
            if new >= old - 1e-12 * old.abs().max(1.0) || t[i] < 1e-6 {
                accepted[i] = true;
            } else {
                t[i] *= 0.5;
                again = true;
            }
        }
        if !again {
            if let Some(bad) = trial
                .iter()
                .position(|x| !x.is_finite() || x.abs() > MAX_COUPLING)
            {
                let i = bad % n;
                return Ok(Err(format!(
                    "a parameter of unit {i} passed {MAX_COUPLING}: the pseudo-likelihood has no finite maximum (unit {i} is (almost) determined by the others in the samples)"
                )));
            }
            let change = (0..n)
                .map(|i| t[i] * steps[i].amax() / (1.0 + trial.row(i).amax()))
                .fold(0.0, f64::max);
            *theta = trial;
            return Ok(Ok((next, change)));
        }
    }
}

/// A solved stage: iterations, Hessians computed, the last Hessian's factors and the
/// gradient at the solution.
struct Solved {
    iterations: usize,
    hessians: usize,
    factors: Vec<Cholesky<f64, Dyn>>,
    gradients: Gradients,
}

/// How a stage solves.
#[derive(Clone, Copy)]
struct Stage {
    subset: Subset,
    /// Stop when the change is below this.
    tolerance: f64,
    /// Recompute the Hessian when a step shrinks by less than this factor on the one
    /// before (a Hessian costs about n/4 gradient passes)…
    refresh_above: f64,
    /// …at most this many times.
    max_refreshes: usize,
    /// Ridge penalty ½·ridge·|θ_i|² per row (0: the pseudo-likelihood itself).
    ridge: f64,
}

/// Lazy Newton from Θ (module docs): the Hessian computed at the start and again only
/// when the steps stall.
fn solve(
    data: &VisibleSamples,
    theta: &mut DMatrix<f64>,
    stage: Stage,
    task: &crate::interrupt::Task,
) -> Result<std::result::Result<Solved, String>> {
    let n = data.n;
    let factor_at = |theta: &DMatrix<f64>| -> Result<std::result::Result<_, String>> {
        Ok(factors(
            &hessians(data, theta, stage.subset, task)?,
            n,
            stage.ridge,
        ))
    };
    let mut grad = gradients(data, theta, stage.subset);
    let mut chol = match factor_at(theta)? {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let mut hessian_count = 1;
    let mut previous = f64::INFINITY;
    for it in 1..=MAX_ITERATIONS {
        let change;
        (grad, change) = match step(data, theta, &grad, &chol, stage.subset, stage.ridge)? {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        if change < stage.tolerance {
            return Ok(Ok(Solved {
                iterations: it,
                hessians: hessian_count,
                factors: chol,
                gradients: grad,
            }));
        }
        if change > stage.refresh_above * previous && hessian_count <= stage.max_refreshes {
            chol = match factor_at(theta)? {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            hessian_count += 1;
            previous = f64::INFINITY;
        } else {
            previous = change;
        }
    }
    Ok(Err(format!(
        "no convergence in {MAX_ITERATIONS} iterations (largest gradient {:.3e}): the pseudo-likelihood may have no finite maximum",
        grad.total.amax()
    )))
}

/// Estimates the visible Hamiltonian from `data` (module docs). `Ok(Err(reason))` when
/// the pseudo-likelihood has no finite maximum (a unit frozen or determined by others)
/// or there are too few samples (fewer than [`MIN_SAMPLES_PER_PARAMETER`] per parameter).
///
/// # Errors
/// [`crate::error::Error::Interrupted`] once a stop was requested.
pub fn estimate(data: &VisibleSamples) -> Result<std::result::Result<Estimate, String>> {
    let n = data.n;
    let samples = data.len();
    let groups: Vec<usize> = (0..data.groups.len())
        .filter(|&g| data.group_len(g) > 0)
        .collect();
    if n < 2 {
        return Ok(Err("fewer than 2 visible units".into()));
    }
    if groups.len() < 2 || samples < MIN_SAMPLES_PER_PARAMETER * (n + 1) {
        return Ok(Err(format!(
            "{samples} samples in {} groups are too few: at least {MIN_SAMPLES_PER_PARAMETER} per parameter ({} for {n} units) and 2 groups are needed",
            groups.len(),
            MIN_SAMPLES_PER_PARAMETER * (n + 1)
        )));
    }
    // a unit that never changes has no finite field
    for i in 0..n {
        let on: usize = data
            .groups
            .iter()
            .map(|g| {
                g.iter()
                    .skip(i)
                    .step_by(n)
                    .map(|&b| b as usize)
                    .sum::<usize>()
            })
            .sum();
        if on == 0 || on == samples {
            return Ok(Err(format!(
                "unit {i} is {} in all {samples} samples: its pseudo-likelihood has no finite maximum",
                if on == 0 { "off" } else { "on" }
            )));
        }
    }
    let task = crate::interrupt::Task::new("samples of the pseudo-likelihood Hessian", 0);
    let mut theta = DMatrix::zeros(n, n + 1);
    // stage 1: lazy Newton on a subsample, to a coarse tolerance, with a weak ridge (a
    // thousandth of the data's curvature at zero) so that it converges even where the
    // subsample alone has no finite maximum (a rare unit frozen in it); it only gives the
    // starting point
    let per_group = SUBSAMPLE
        .max(MIN_SAMPLES_PER_PARAMETER * (n + 1))
        .div_ceil(groups.len());
    let (sub, sub_samples) = if per_group * groups.len() >= samples {
        (Subset::All, samples)
    } else {
        let taken = (0..data.groups.len())
            .map(|g| per_group.min(data.group_len(g)))
            .sum();
        (Subset::First(per_group), taken)
    };
    let stage1 = Stage {
        subset: sub,
        tolerance: 1e-3,
        refresh_above: 0.3,
        max_refreshes: MAX_ITERATIONS,
        ridge: 1e-3 * 0.25 * data.kappa().powi(2) * sub_samples as f64,
    };
    let first = match solve(data, &mut theta, stage1, &task)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    // stage 2: the Hessian of all samples at that point, refreshed at most once (if the
    // steps stall), with all-sample gradients, to the final tolerance
    let stage2 = Stage {
        subset: Subset::All,
        tolerance: TOLERANCE,
        refresh_above: 0.9,
        max_refreshes: 1,
        ridge: 0.0,
    };
    let second = match solve(data, &mut theta, stage2, &task)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let chol = &second.factors;
    let grad = &second.gradients;
    // linearized jackknife: δ_g = −N/(N − N_g) H⁻¹ g_g per row
    let nf = samples as f64;
    let gcount = groups.len();
    let deltas: Vec<Vec<Vec<f64>>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let cols = kept(n, i);
            let mut rhs = DMatrix::zeros(n, gcount);
            for (col, &g) in groups.iter().enumerate() {
                let scale = -nf / (nf - data.group_len(g) as f64);
                for (a, &c) in cols.iter().enumerate() {
                    rhs[(a, col)] = scale * grad.per_group[g][(i, c)];
                }
            }
            let d = chol[i].solve(&rhs);
            (0..gcount)
                .map(|col| d.column(col).iter().copied().collect())
                .collect()
        })
        .collect();
    // deltas[i][g][a]: a = 0 the field, a ≥ 1 the coupling to unit kept(n, i)[a] − 1
    let position = |i: usize, j: usize| if j < i { j + 1 } else { j };
    let field: Vec<f64> = (0..n).map(|i| theta[(i, 0)]).collect();
    let field_replicates = (0..gcount)
        .map(|g| (0..n).map(|i| deltas[i][g][0]).collect())
        .collect();
    let mut coupling = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            coupling.push(0.5 * (theta[(i, j + 1)] + theta[(j, i + 1)]));
        }
    }
    let coupling_replicates = (0..gcount)
        .map(|g| {
            let mut r = Vec::with_capacity(coupling.len());
            for i in 0..n {
                for j in i + 1..n {
                    r.push(0.5 * (deltas[i][g][position(i, j)] + deltas[j][g][position(j, i)]));
                }
            }
            r
        })
        .collect();
    Ok(Ok(Estimate {
        field,
        coupling,
        field_replicates,
        coupling_replicates,
        samples,
        iterations: [first.iterations, second.iterations],
        hessians: [first.hessians, second.hessians],
    }))
}

/// Jackknife error from leave-one-group-out changes (their mean is ~0: no bias correction).
fn jackknife_error(deltas: impl Iterator<Item = f64>) -> f64 {
    let r: Vec<f64> = deltas.collect();
    let gf = r.len() as f64;
    let bar = r.iter().sum::<f64>() / gf;
    (r.iter().map(|x| (x - bar).powi(2)).sum::<f64>() * (gf - 1.0) / gf).sqrt()
}

impl Estimate {
    /// Jackknife groups.
    pub fn groups(&self) -> usize {
        self.field_replicates.len()
    }
    /// Field b_i with its error.
    pub fn field(&self, i: usize) -> Jackknife {
        Jackknife {
            mean: self.field[i],
            error: jackknife_error(self.field_replicates.iter().map(|r| r[i])),
        }
    }
    /// (J_ij + J_ji)/2 at [`pair_index`] `p` with its error.
    pub fn coupling(&self, p: usize) -> Jackknife {
        Jackknife {
            mean: self.coupling[p],
            error: jackknife_error(self.coupling_replicates.iter().map(|r| r[p])),
        }
    }
    /// A linear combination Σ a_i b_i + Σ c_p J_p of the estimates with its jackknife error
    /// (the correlations of the estimates included).
    pub fn linear(&self, field_weights: &[f64], coupling_weights: &[f64]) -> Jackknife {
        let dot = |w: &[f64], x: &[f64]| w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
        Jackknife {
            mean: dot(field_weights, &self.field) + dot(coupling_weights, &self.coupling),
            error: jackknife_error(
                self.field_replicates
                    .iter()
                    .zip(&self.coupling_replicates)
                    .map(|(f, c)| dot(field_weights, f) + dot(coupling_weights, c)),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbm::model::Normals;

    /// `count` exact draws from p(v) ∝ exp(fᵀv + ½vᵀJv) over `n` small units (by
    /// enumeration), chain c of the draws in group c mod `groups`.
    fn exact_draws(
        f: &[f64],
        j: &DMatrix<f64>,
        units: VisibleUnits,
        count: usize,
        groups: usize,
        seed: u64,
    ) -> VisibleSamples {
        let n = f.len();
        let values = crate::dbm::enumeration::unit_values(units);
        let states: Vec<Vec<f32>> = (0..1usize << n)
            .map(|s| (0..n).map(|i| values[(s >> i) & 1] as f32).collect())
            .collect();
        let weight: Vec<f64> = states
            .iter()
            .map(|v| {
                let v: Vec<f64> = v.iter().map(|&x| x as f64).collect();
                let mut e: f64 = f.iter().zip(&v).map(|(a, b)| a * b).sum();
                for a in 0..n {
                    for b in 0..n {
                        e += 0.5 * v[a] * j[(a, b)] * v[b];
                    }
                }
                e.exp()
            })
            .collect();
        let z: f64 = weight.iter().sum();
        let mut cdf = Vec::new();
        let mut acc = 0.0;
        for w in &weight {
            acc += w / z;
            cdf.push(acc);
        }
        let mut rng = Normals::new(seed, 9);
        let mut out = VisibleSamples::new(n, units, groups);
        for c in 0..count {
            let u = rng.uniform();
            let s = cdf.partition_point(|&p| p < u).min(cdf.len() - 1);
            out.add(c, &states[s]);
        }
        out
    }

    fn model(n: usize, seed: u64) -> (Vec<f64>, DMatrix<f64>) {
        let mut g = Normals::new(seed, 3);
        let f: Vec<f64> = (0..n).map(|_| 0.3 * g.next().unwrap()).collect();
        let mut j = DMatrix::zeros(n, n);
        for a in 0..n {
            for b in a..n {
                let x = 0.4 * g.next().unwrap();
                j[(a, b)] = x;
                j[(b, a)] = x;
            }
        }
        (f, j)
    }

    /// Exact draws of a small pairwise model give back its fields and couplings within
    /// the jackknife errors, for both unit conventions, and the errors are calibrated.
    #[test]
    fn recovers_a_pairwise_model_from_exact_draws() {
        let n = 6;
        for units in [VisibleUnits::Bernoulli, VisibleUnits::Spin] {
            let (f, j) = model(n, 5);
            let data = exact_draws(&f, &j, units, 40_000, 32, 11);
            let e = estimate(&data).unwrap().unwrap();
            let mut z2 = Vec::new();
            for i in 0..n {
                let b = match units {
                    VisibleUnits::Bernoulli => f[i] + 0.5 * j[(i, i)],
                    VisibleUnits::Spin => f[i],
                };
                z2.push(((e.field(i).mean - b) / e.field(i).error).powi(2));
                for k in i + 1..n {
                    let c = e.coupling(pair_index(n, i, k));
                    assert!(c.error > 0.0 && c.error < 0.05, "{units:?} {c:?}");
                    z2.push(((c.mean - j[(i, k)]) / c.error).powi(2));
                }
            }
            let max = z2.iter().cloned().fold(0.0, f64::max).sqrt();
            let rms = (z2.iter().sum::<f64>() / z2.len() as f64).sqrt();
            println!(
                "{units:?}: max |z| {max:.2}, rms z {rms:.2}, iterations {:?}",
                e.iterations
            );
            assert!(
                max < 4.0 && rms > 0.5 && rms < 1.6,
                "{units:?}: {max} {rms}"
            );
        }
    }

    /// For spins the estimate is Callen's identity: the same maximum as the histogram
    /// solver of the MCRG couplings, row by row.
    #[test]
    fn spin_rows_agree_with_the_callen_solver() {
        let n = 5;
        let (f, j) = model(n, 7);
        let data = exact_draws(&f, &j, VisibleUnits::Spin, 5000, 8, 3);
        let e = estimate(&data).unwrap().unwrap();
        // row 0 with the basis (v_1, …, v_4, 1): g = the other spins and the constant
        let mut h = crate::mcrg::couplings::CallenHistogram::default();
        for g in &data.groups {
            for s in g.chunks(n) {
                let spin = |b: u8| if b == 1 { 1 } else { -1 };
                let key: Vec<i32> = (1..n).map(|k| spin(s[k])).chain([1]).collect();
                h.add(crate::mcrg::couplings::pack(&key), spin(s[0]) as i8);
            }
        }
        let k = crate::mcrg::couplings::estimate(&[h.clone(), h], n, "test").unwrap();
        assert!((k[n - 1].mean - e.field[0]).abs() < 1e-8);
        // the symmetrized coupling is the mean of two rows; compare the row-0 half by
        // solving row 1 the same way
        let mut h1 = crate::mcrg::couplings::CallenHistogram::default();
        for g in &data.groups {
            for s in g.chunks(n) {
                let spin = |b: u8| if b == 1 { 1 } else { -1 };
                let key: Vec<i32> = (0..n)
                    .filter(|&k| k != 1)
                    .map(|k| spin(s[k]))
                    .chain([1])
                    .collect();
                h1.add(crate::mcrg::couplings::pack(&key), spin(s[1]) as i8);
            }
        }
        let k1 = crate::mcrg::couplings::estimate(&[h1.clone(), h1], n, "test").unwrap();
        let sym = 0.5 * (k[0].mean + k1[0].mean);
        assert!((sym - e.coupling[pair_index(n, 0, 1)]).abs() < 1e-8);
    }

    /// The linearized jackknife against the jackknife that solves every leave-one-group-out
    /// sample again.
    #[test]
    fn linearized_jackknife_matches_the_full_one() {
        let n = 4;
        let (f, j) = model(n, 2);
        let groups = 16;
        let data = exact_draws(&f, &j, VisibleUnits::Bernoulli, 16_000, groups, 4);
        let e = estimate(&data).unwrap().unwrap();
        let mut reps = Vec::new();
        for g in 0..groups {
            let mut d = data.clone();
            d.groups.remove(g);
            reps.push(estimate(&d).unwrap().unwrap());
        }
        let full = |x: &dyn Fn(&Estimate) -> f64| {
            let v: Vec<f64> = reps.iter().map(x).collect();
            let bar = v.iter().sum::<f64>() / groups as f64;
            (v.iter().map(|y| (y - bar).powi(2)).sum::<f64>() * (groups - 1) as f64 / groups as f64)
                .sqrt()
        };
        for i in 0..n {
            let (a, b) = (e.field(i).error, full(&|r: &Estimate| r.field[i]));
            assert!((a / b - 1.0).abs() < 0.05, "field {i}: {a} vs {b}");
        }
        for p in 0..n * (n - 1) / 2 {
            let (a, b) = (e.coupling(p).error, full(&|r: &Estimate| r.coupling[p]));
            assert!((a / b - 1.0).abs() < 0.05, "coupling {p}: {a} vs {b}");
        }
        // a linear combination: the sum of all couplings minus field 0
        let w = vec![1.0; n * (n - 1) / 2];
        let mut fw = vec![0.0; n];
        fw[0] = -1.0;
        let l = e.linear(&fw, &w);
        let expect = e.coupling.iter().sum::<f64>() - e.field[0];
        let b = full(&|r: &Estimate| r.coupling.iter().sum::<f64>() - r.field[0]);
        assert!((l.mean - expect).abs() < 1e-12 && (l.error / b - 1.0).abs() < 0.05);
    }

    #[test]
    fn frozen_units_are_reported() {
        let mut d = VisibleSamples::new(3, VisibleUnits::Bernoulli, 4);
        for c in 0..100 {
            d.add(c, &[1.0, (c % 2) as f32, ((c / 2) % 2) as f32]);
        }
        let e = estimate(&d).unwrap().unwrap_err();
        assert!(e.contains("unit 0 is on"), "{e}");
    }

    #[test]
    fn pairs_are_indexed_in_order() {
        let n = 7;
        let mut p = 0;
        for i in 0..n {
            for j in i + 1..n {
                assert_eq!(pair_index(n, i, j), p);
                p += 1;
            }
        }
        for m in [1, 2, 5, 9] {
            let mut p = 0;
            for j in 0..m {
                for k in j..m {
                    assert_eq!(packed(m, j, k), p);
                    assert_eq!(unpack_pair(m, p), (j, k));
                    p += 1;
                }
            }
        }
    }
}
