//! Renormalized couplings from block-wise conditional samples (physics.md §4).
//!
//! For each coarse configuration y: K₁ (the inter-block energy) is evaluated on `samples`
//! independent draws from p₀(·|y); ⟨K₁⟩ is computed exactly from the enumerated block
//! averages (p₀ factorizes over blocks and K₁ is a sum of two-block terms); the higher
//! cumulants κ₂…κ₄ are k-statistics; the full estimate is ln⟨e^{K₁}⟩ (log-mean-exp). With
//! Σ_j ln Z₀(y_j) added these give K′(y) at each truncation order and in full.
//!
//! **Projection.** K′(y) is fitted by least squares to the coupling basis
//! ([`super::blocks::coupling_basis`]) over the configuration set. With every coarse
//! configuration (`--configurations all`) the basis functions are orthogonal and the fit *is*
//! the Walsh projection K′_S = 2^{−N′} Σ_y K′[y] Π_{j∈S} y_j, exact on the finite torus. With N
//! uniformly random configurations (plus the two uniform ones) the fit converges to the same
//! projection; couplings outside the basis then act as noise instead of being separated.
//!
//! **Errors.** The samples of every configuration are split into [`GROUPS`] groups (sample s in
//! group s mod G, the same for all y); leave-one-group-out estimates of K′(y) are refitted,
//! and the jackknife gives the error and the bias-corrected estimate of every coupling.

use super::blocks::{Blocking, CouplingClass, coupling_basis};
use super::rules::BlockTable;
use super::sampler::BlockSampler;
use crate::backend::BackendInfo;
use crate::error::{Error, Result};
use crate::rng::{philox4x32_10, seed_key};
use crate::stats::{Jackknife, k_statistics};
use nalgebra::DMatrix;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Jackknife groups of samples.
pub const GROUPS: usize = 32;
/// Largest cumulant order (the k-statistics stop at 4).
pub const MAX_ORDER: usize = 4;
/// Effective sample size below which the full estimate is flagged.
pub const LOW_ESS: f64 = 100.0;

/// Which coarse configurations are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Configurations {
    /// Every y of the coarse torus (at most 2^16).
    All,
    /// N uniformly random y plus the two uniform ones.
    Random(usize),
}

/// One fitted truncation: the estimate and its jackknife replicates.
#[derive(Clone, Debug)]
pub struct Fitted {
    /// Couplings in basis order.
    pub estimate: Vec<f64>,
    /// Leave-one-group-out refits.
    pub replicates: Vec<Vec<f64>>,
}

impl Fitted {
    /// Bias-corrected jackknife estimate and error of every coupling.
    pub fn jackknife(&self) -> Vec<Jackknife> {
        let g = self.replicates.len() as f64;
        (0..self.estimate.len())
            .map(|c| {
                if self.replicates.is_empty() {
                    return Jackknife {
                        mean: self.estimate[c],
                        error: 0.0,
                    };
                }
                let bar = self.replicates.iter().map(|r| r[c]).sum::<f64>() / g;
                let var = self
                    .replicates
                    .iter()
                    .map(|r| (r[c] - bar).powi(2))
                    .sum::<f64>()
                    * (g - 1.0)
                    / g;
                Jackknife {
                    mean: g * self.estimate[c] - (g - 1.0) * bar,
                    error: var.sqrt(),
                }
            })
            .collect()
    }
}

/// Everything one renormalization step yields.
#[derive(Clone, Debug)]
pub struct Renormalized {
    /// Coupling names, in basis order.
    pub names: Vec<&'static str>,
    /// From the full estimate ln⟨e^{K₁}⟩ (None when nothing was sampled: first order alone).
    pub full: Option<Fitted>,
    /// Partial sums of the cumulant series, orders 1 … order.
    pub orders: Vec<Fitted>,
    /// Number of coarse configurations used.
    pub configurations: usize,
    /// Smallest effective sample size (Σw)²/Σw² of the log-mean-exp weights over y
    /// (infinite when nothing was sampled).
    pub min_ess: f64,
    /// Configurations whose effective sample size is below [`LOW_ESS`].
    pub low_ess_configurations: usize,
    /// The sampler's backend (none sampled: `exact`).
    pub backend: BackendInfo,
    /// Block configurations drawn from p₀(·|y) in all (0 for first order alone).
    pub samples_drawn: u64,
}

/// The coarse configurations (±1, configuration-major).
pub fn configurations(n_coarse: usize, which: Configurations, seed: u64) -> Result<Vec<i8>> {
    match which {
        Configurations::All => {
            if n_coarse > 16 {
                return Err(Error::invalid(
                    "configurations",
                    format!(
                        "`all` enumerates 2^{n_coarse} coarse configurations; use a number (at most 2^16 are enumerated)"
                    ),
                ));
            }
            Ok((0..1u32 << n_coarse)
                .flat_map(|c| (0..n_coarse).map(move |j| if c >> j & 1 == 1 { 1 } else { -1 }))
                .collect())
        }
        Configurations::Random(n) => {
            if n == 0 {
                return Err(Error::invalid(
                    "configurations",
                    "must be `all` or at least 1",
                ));
            }
            let key = seed_key(seed ^ 0x00C0_A55E);
            let mut y = vec![1i8; n_coarse];
            y.extend(vec![-1i8; n_coarse]);
            for c in 0..n {
                if c % 1024 == 0 {
                    crate::interrupt::check()?;
                }
                for j in 0..n_coarse {
                    let w = philox4x32_10(
                        [
                            j as u32,
                            c as u32,
                            0,
                            crate::rng::Purpose::RgEstimate as u32,
                        ],
                        key,
                    )[0];
                    y.push(if w >> 31 == 1 { 1 } else { -1 });
                }
            }
            Ok(y)
        }
    }
}

/// Per configuration: the shift c = max K₁ of its samples and, per sample group,
/// [n, Σd, Σd², Σd³, Σd⁴, Σw, Σw²] with d = K₁ − ⟨K₁⟩₀ and w = e^{K₁ − c}.
struct ConfigSums {
    shift: f64,
    groups: Vec<[f64; 7]>,
}

fn config_sums(k1: &[f64], mean: f64) -> ConfigSums {
    let shift = k1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut groups = vec![[0.0; 7]; GROUPS];
    for (s, &x) in k1.iter().enumerate() {
        let d = x - mean;
        let w = (x - shift).exp();
        let g = &mut groups[s % GROUPS];
        g[0] += 1.0;
        g[1] += d;
        g[2] += d * d;
        g[3] += d * d * d;
        g[4] += d * d * d * d;
        g[5] += w;
        g[6] += w * w;
    }
    ConfigSums { shift, groups }
}

/// Least-squares projector P = (FᵀF)⁺Fᵀ of the feature matrix F (configurations × classes).
///
/// # Errors
/// [`Error::Interrupted`] once a stop was requested.
fn projector(basis: &[CouplingClass], coarse: &[i8], n_coarse: usize) -> Result<DMatrix<f64>> {
    let m = coarse.len() / n_coarse;
    let rows: Vec<Vec<f64>> = (0..m)
        .into_par_iter()
        .map(|c| {
            crate::interrupt::check()?;
            let y = &coarse[c * n_coarse..(c + 1) * n_coarse];
            Ok(basis.iter().map(|b| b.feature(y)).collect())
        })
        .collect::<Result<_>>()?;
    let f = DMatrix::from_fn(m, basis.len(), |c, k| rows[c][k]);
    let ftf = f.transpose() * &f;
    let inv = ftf.clone().try_inverse().unwrap_or_else(|| {
        ftf.pseudo_inverse(1e-10)
            .unwrap_or_else(|_| DMatrix::zeros(basis.len(), basis.len()))
    });
    Ok(inv * f.transpose())
}

/// Renormalizes K[x] = K Σ x x + h Σ x once: samples, cumulants, fits. Without a sampler
/// only first order is computed, exactly (K′⁽¹⁾(y) = Σ_j ln Z₀(y_j) + ⟨K₁⟩₀(y) from the
/// enumerated block averages): no draws, no full estimate, errors zero.
///
/// # Errors
/// Sampler errors; [`Error::InvalidParameter`] for a bad order or configuration count
/// (`order` above 1 without a sampler).
#[allow(clippy::too_many_arguments)]
pub fn renormalize(
    blocking: &Blocking,
    table: &BlockTable,
    k: f64,
    order: usize,
    samples: u32,
    which: Configurations,
    seed: u64,
    sampler: Option<&mut dyn BlockSampler>,
) -> Result<Renormalized> {
    if !(1..=MAX_ORDER).contains(&order) {
        return Err(Error::invalid(
            "order",
            format!("must be in 1..={MAX_ORDER} (got {order})"),
        ));
    }
    if sampler.is_none() && order > 1 {
        return Err(Error::invalid(
            "order",
            format!("orders above 1 need samples (got {order} without a sampler)"),
        ));
    }
    if sampler.is_some() && (samples as usize) < 4 * GROUPS {
        return Err(Error::invalid(
            "samples",
            format!("must be at least {} (got {samples})", 4 * GROUPS),
        ));
    }
    let n_coarse = blocking.coarse_sites();
    let coarse = configurations(n_coarse, which, seed)?;
    let m = coarse.len() / n_coarse;
    let bonds: Vec<(usize, u32, usize, u32)> = blocking
        .inter_bonds
        .iter()
        .map(|&((ja, ka), (jb, kb))| (ja as usize, ka, jb as usize, kb))
        .collect();
    let n_bonds = bonds.len() as f64;
    // exact ⟨K₁⟩₀(y) and Σ_j ln Z₀(y_j)
    let yi = |y: i8| (y > 0) as usize;
    let exact_mean: Vec<f64> = (0..m)
        .into_par_iter()
        .map(|c| {
            crate::interrupt::check()?;
            let y = &coarse[c * n_coarse..(c + 1) * n_coarse];
            Ok(k * bonds
                .iter()
                .map(|&(ja, ka, jb, kb)| {
                    table.mean[yi(y[ja])][ka as usize] * table.mean[yi(y[jb])][kb as usize]
                })
                .sum::<f64>())
        })
        .collect::<Result<_>>()?;
    let ln_z0: Vec<f64> = (0..m)
        .map(|c| {
            coarse[c * n_coarse..(c + 1) * n_coarse]
                .iter()
                .map(|&y| table.ln_z0[yi(y)])
                .sum()
        })
        .collect();

    let basis = coupling_basis(blocking);
    crate::interrupt::check()?;
    let p = projector(&basis, &coarse, n_coarse)?;
    let fit = |v: &[f64]| -> Vec<f64> {
        (&p * nalgebra::DVector::from_column_slice(v))
            .iter()
            .copied()
            .collect()
    };
    let Some(sampler) = sampler else {
        // first order alone: exact, nothing drawn
        let first: Vec<f64> = (0..m).map(|c| ln_z0[c] + exact_mean[c]).collect();
        return Ok(Renormalized {
            names: basis.iter().map(|c| c.name).collect(),
            full: None,
            orders: vec![Fitted {
                estimate: fit(&first),
                replicates: Vec::new(),
            }],
            configurations: m,
            min_ess: f64::INFINITY,
            low_ess_configurations: 0,
            backend: BackendInfo {
                kind: "exact".into(),
                adapter: "enumerated block averages".into(),
                api: "none (first order needs no samples)".into(),
                kernel: String::new(),
            },
            samples_drawn: 0,
        });
    };
    // sample in batches of configurations and reduce each to its group sums
    let per_config = samples as usize * n_coarse;
    let batch = (4_000_000 / per_config).clamp(1, m);
    let mut sums: Vec<ConfigSums> = Vec::with_capacity(m);
    let task = crate::interrupt::Task::new("configurations", m as u64);
    for start in (0..m).step_by(batch) {
        let n = batch.min(m - start);
        let states = sampler.draw(
            start as u32,
            &coarse[start * n_coarse..(start + n) * n_coarse],
        )?;
        crate::interrupt::check()?;
        let part: Vec<ConfigSums> = (0..n)
            .into_par_iter()
            .map(|c| {
                let k1: Vec<f64> = (0..samples as usize)
                    .map(|s| {
                        let st = &states[(c * samples as usize + s) * n_coarse..][..n_coarse];
                        let disagree: u32 = bonds
                            .iter()
                            .map(|&(ja, ka, jb, kb)| ((st[ja] >> ka) ^ (st[jb] >> kb)) & 1)
                            .sum();
                        k * (n_bonds - 2.0 * disagree as f64)
                    })
                    .collect();
                config_sums(&k1, exact_mean[start + c])
            })
            .collect();
        sums.extend(part);
        task.advance(n as u64)?;
    }
    drop(task);

    // K′(y) for the full estimate and each order, for the full data and each replicate
    let factorial = [1.0, 1.0, 2.0, 6.0, 24.0];
    // kprime[t][c]: t = 0 full, 1..=order partial sums
    let kprime = |leave: Option<usize>| -> Result<Vec<Vec<f64>>> {
        let mut out = vec![vec![0.0; m]; order + 1];
        for (c, cs) in sums.iter().enumerate() {
            if c % 4096 == 0 {
                crate::interrupt::check()?;
            }
            let mut tot = [0.0; 7];
            for (g, row) in cs.groups.iter().enumerate() {
                if Some(g) != leave {
                    for i in 0..7 {
                        tot[i] += row[i];
                    }
                }
            }
            let n = tot[0];
            let kappa = k_statistics(n, [tot[1], tot[2], tot[3], tot[4]]);
            out[0][c] = ln_z0[c] + cs.shift + (tot[5] / n).ln();
            let mut partial = ln_z0[c] + exact_mean[c];
            out[1][c] = partial;
            for o in 2..=order {
                partial += kappa[o - 1] / factorial[o];
                out[o][c] = partial;
            }
        }
        Ok(out)
    };
    let full_k = kprime(None)?;
    let reps: Vec<Vec<Vec<f64>>> = (0..GROUPS)
        .into_par_iter()
        .map(|g| kprime(Some(g)))
        .collect::<Result<_>>()?;
    crate::interrupt::check()?;
    let fitted = |t: usize| Fitted {
        estimate: fit(&full_k[t]),
        replicates: reps.iter().map(|r| fit(&r[t])).collect(),
    };
    let ess: Vec<f64> = sums
        .iter()
        .map(|cs| {
            let (w, w2) = cs
                .groups
                .iter()
                .fold((0.0, 0.0), |a, g| (a.0 + g[5], a.1 + g[6]));
            w * w / w2
        })
        .collect();
    Ok(Renormalized {
        names: basis.iter().map(|c| c.name).collect(),
        full: Some(fitted(0)),
        orders: (1..=order).map(fitted).collect(),
        configurations: m,
        min_ess: ess.iter().copied().fold(f64::INFINITY, f64::min),
        low_ess_configurations: ess.iter().filter(|&&e| e < LOW_ESS).count(),
        backend: sampler.info(),
        samples_drawn: m as u64 * samples as u64,
    })
}
