//! RG flows and fixed points of the (nn, field) recursion.
//!
//! A step renormalizes K[x] = K Σ x x + h Σ x, keeps the chosen estimate of K′_nn and h′
//! (projecting back onto nearest-neighbour coupling and field), and repeats. The fixed point
//! of the nn recursion at h = 0 is found with common random numbers (the same seed at every
//! K, so K′(K) is smooth in K): a scan for a sign change of K′(K) − K, then bisection, then
//! λ_T = dK′/dK by a central difference. Jackknife errors come from the replicate curves
//! linearized at the root: K*_r = K* − f_r(K*)/(λ_r − 1).

use super::blocks::Blocking;
use super::estimate::{Configurations, Renormalized, renormalize};
use super::rules::{BlockTable, Rule};
use super::sampler::{BlockSampler, CpuBlockSampler, GpuBlockSampler};
use crate::backend::gpu::GpuContext;
use crate::backend::{BackendChoice, BackendInfo};
use crate::error::{Error, Result};
use crate::stats::Jackknife;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which estimate drives flows and fixed points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Truncation {
    /// The log-mean-exp estimate.
    Full,
    /// The cumulant partial sum of this order.
    Order(usize),
}

/// Everything that defines one renormalization, except the couplings.
#[derive(Clone, Debug)]
pub struct Problem {
    /// Lattice and blocks.
    pub blocking: Blocking,
    /// Coarse-graining rule (weights sized to the block).
    pub rule: Rule,
    /// Highest cumulant order.
    pub order: usize,
    /// Samples per coarse configuration.
    pub samples: u32,
    /// Coarse configurations.
    pub configurations: Configurations,
    /// Seed (the same at every K: common random numbers).
    pub seed: u64,
    /// Backend.
    pub backend: BackendChoice,
    /// Estimate used by flows.
    pub truncation: Truncation,
}

impl Problem {
    fn sampler(
        &self,
        table: Arc<BlockTable>,
        notice: &mut dyn FnMut(&str),
    ) -> Result<Box<dyn BlockSampler>> {
        let blocks = self.blocking.coarse_sites();
        let cpu = |t: Arc<BlockTable>| -> Box<dyn BlockSampler> {
            Box::new(CpuBlockSampler::new(t, self.seed, self.samples, blocks))
        };
        let gpu = |ctx: Arc<GpuContext>, t: &BlockTable| -> Result<Box<dyn BlockSampler>> {
            Ok(Box::new(GpuBlockSampler::new(
                ctx,
                t,
                self.seed,
                self.samples,
                blocks,
                4096,
            )?))
        };
        match self.backend.context(notice)? {
            Some(ctx) => gpu(ctx, &table),
            None => Ok(cpu(table)),
        }
    }

    /// Whether anything must be sampled: not for first order alone (its estimate is exact
    /// from the enumerated block averages), unless the full estimate drives the flow.
    pub fn needs_samples(&self) -> bool {
        self.order > 1 || self.truncation == Truncation::Full
    }

    /// Renormalizes at (K, h).
    ///
    /// # Errors
    /// As [`renormalize`].
    pub fn renormalize(
        &self,
        k: f64,
        h: f64,
        notice: &mut dyn FnMut(&str),
    ) -> Result<Renormalized> {
        let table = Arc::new(BlockTable::new(&self.blocking, &self.rule, k, h)?);
        let mut sampler = if self.needs_samples() {
            Some(self.sampler(table.clone(), notice)?)
        } else {
            None
        };
        renormalize(
            &self.blocking,
            &table,
            k,
            self.order,
            self.samples,
            self.configurations,
            self.seed,
            sampler.as_mut().map(|s| &mut **s as &mut dyn BlockSampler),
        )
    }

    fn index(r: &Renormalized, name: &str) -> usize {
        r.names.iter().position(|n| *n == name).unwrap_or(0)
    }

    /// (nn′, field′) of the chosen truncation: estimate and replicates.
    pub fn nn_field(&self, r: &Renormalized) -> ((f64, f64), Vec<(f64, f64)>) {
        let fitted = match self.truncation {
            // the full estimate exists whenever it drives the flow (needs_samples)
            Truncation::Full => r.full.as_ref().unwrap_or(&r.orders[0]),
            Truncation::Order(o) => &r.orders[o - 1],
        };
        let (nn, field) = (Self::index(r, "nn"), Self::index(r, "field"));
        (
            (fitted.estimate[nn], fitted.estimate[field]),
            fitted
                .replicates
                .iter()
                .map(|v| (v[nn], v[field]))
                .collect(),
        )
    }
}

/// One step of a flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowStep {
    /// Step number (0 = the initial couplings).
    pub step: usize,
    /// K (nn coupling) entering the step.
    pub nn: f64,
    /// h entering the step.
    pub field: f64,
}

/// Iterates (K, h) → (K′_nn, h′) `steps` times.
///
/// # Errors
/// As [`Problem::renormalize`].
pub fn flow(
    p: &Problem,
    k: f64,
    h: f64,
    steps: usize,
    notice: &mut dyn FnMut(&str),
) -> Result<Vec<FlowStep>> {
    let mut out = vec![FlowStep {
        step: 0,
        nn: k,
        field: h,
    }];
    let (mut k, mut h) = (k, h);
    let task = crate::interrupt::Task::new("flow steps", steps as u64);
    for step in 1..=steps {
        task.advance(0)?;
        if !(k.is_finite() && h.is_finite()) || k.abs() > 20.0 {
            notice(&format!(
                "note: the flow left the sampled range at step {step} (K = {k}); stopping"
            ));
            break;
        }
        let r = p.renormalize(k, h, notice)?;
        let ((kn, hn), _) = p.nn_field(&r);
        k = kn;
        h = hn;
        out.push(FlowStep {
            step,
            nn: k,
            field: h,
        });
        task.advance(1)?;
    }
    Ok(out)
}

/// The non-trivial fixed point and its thermal eigenvalue.
#[derive(Clone, Debug, Serialize)]
pub struct FixedPoint {
    /// K*.
    pub nn: Jackknife,
    /// λ_T = dK′/dK at K*.
    pub eigenvalue: Jackknife,
    /// y_T = ln λ_T / ln b.
    pub y_t: Jackknife,
    /// ν = 1 / y_T.
    pub nu: Jackknife,
    /// b = |block|^{1/d}.
    pub rescale_factor: f64,
    /// The sampler's backend.
    pub backend: BackendInfo,
    /// Block configurations drawn over the whole search (0 at first order).
    pub samples_drawn: u64,
}

fn jackknife_of(full: f64, reps: &[f64]) -> Jackknife {
    let g = reps.len() as f64;
    if reps.is_empty() {
        return Jackknife {
            mean: full,
            error: 0.0,
        };
    }
    let bar = reps.iter().sum::<f64>() / g;
    let var = reps.iter().map(|r| (r - bar).powi(2)).sum::<f64>() * (g - 1.0) / g;
    Jackknife {
        mean: full,
        error: var.sqrt(),
    }
}

/// Finds the non-trivial fixed point of the nn recursion at h = 0 in (k_min, k_max).
///
/// # Errors
/// [`Error::InvalidParameter`] (`--fixed-point`, exit 2) when K′(K) − K does not change sign
/// in the range (no non-trivial fixed point, e.g. on the chain).
pub fn fixed_point(
    p: &Problem,
    k_min: f64,
    k_max: f64,
    notice: &mut dyn FnMut(&str),
) -> Result<FixedPoint> {
    let mut drawn = 0u64;
    // 11 grid points, at most 40 bisections, 3 points for the eigenvalue
    let task = crate::interrupt::Task::new("fixed-point evaluations", 54);
    let mut f = |k: f64| -> Result<f64> {
        task.advance(1)?;
        let r = p.renormalize(k, 0.0, notice)?;
        drawn += r.samples_drawn;
        Ok(p.nn_field(&r).0.0 - k)
    };
    let grid: Vec<f64> = (0..=10)
        .map(|i| k_min + (k_max - k_min) * i as f64 / 10.0)
        .collect();
    let mut values = Vec::new();
    let mut bracket = None;
    for &k in &grid {
        let v = f(k)?;
        if let Some(&(k0, v0)) = values.last()
            && bracket.is_none()
            && (v0 < 0.0) != (v < 0.0)
        {
            bracket = Some((k0, v0, k, v));
        }
        values.push((k, v));
    }
    let Some((mut a, mut fa, mut b, _)) = bracket else {
        return Err(Error::invalid(
            "fixed-point",
            format!(
                "no non-trivial fixed point: K'(K) - K keeps its sign for K in [{k_min}, {k_max}] (from {:.4} to {:.4})",
                values[0].1,
                values[values.len() - 1].1
            ),
        ));
    };
    for _ in 0..40 {
        let m = 0.5 * (a + b);
        let fm = f(m)?;
        if (fm < 0.0) == (fa < 0.0) {
            a = m;
            fa = fm;
        } else {
            b = m;
        }
        if b - a < 1e-7 {
            break;
        }
    }
    let ks = 0.5 * (a + b);
    let delta = 0.01 * ks.max(0.1);
    let mut at = |k: f64, notice: &mut dyn FnMut(&str)| -> Result<(f64, Vec<f64>, BackendInfo)> {
        task.advance(1)?;
        let r = p.renormalize(k, 0.0, notice)?;
        drawn += r.samples_drawn;
        let ((nn, _), reps) = p.nn_field(&r);
        Ok((nn, reps.iter().map(|x| x.0).collect(), r.backend))
    };
    let (c0, r0, backend) = at(ks, notice)?;
    let (cp, rp, _) = at(ks + delta, notice)?;
    let (cm, rm, _) = at(ks - delta, notice)?;
    let lambda = (cp - cm) / (2.0 * delta);
    let lambdas: Vec<f64> = rp
        .iter()
        .zip(&rm)
        .map(|(a, b)| (a - b) / (2.0 * delta))
        .collect();
    let roots: Vec<f64> = r0
        .iter()
        .zip(&lambdas)
        .map(|(&v, &l)| ks - (v - ks) / (l - 1.0))
        .collect();
    let root = ks - (c0 - ks) / (lambda - 1.0);
    let b = p.blocking.rescale_factor();
    let yt = |l: f64| l.ln() / b.ln();
    Ok(FixedPoint {
        nn: jackknife_of(root, &roots),
        eigenvalue: jackknife_of(lambda, &lambdas),
        y_t: jackknife_of(
            yt(lambda),
            &lambdas.iter().map(|&l| yt(l)).collect::<Vec<_>>(),
        ),
        nu: jackknife_of(
            1.0 / yt(lambda),
            &lambdas.iter().map(|&l| 1.0 / yt(l)).collect::<Vec<_>>(),
        ),
        rescale_factor: b,
        backend,
        samples_drawn: drawn,
    })
}
