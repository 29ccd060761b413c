//! The critical-point race of [`super::run`] (`blockspin bench`): each algorithm at each size, on what
//! `sample` runs by default (`--backend auto --kernel auto`), for a fixed wall-time budget;
//! reported as the error of the energy per site, its τ_int in sweeps, the cost
//! error² × seconds (lower is better; seconds of the measured phase, thermalization
//! excluded) and the time a target error would take at that cost. The dynamic exponent z
//! is the least-squares slope of ln τ_int against ln L for each algorithm, for the energy
//! and for |m| (the slow mode of local updates), from the runs whose binning converged.

use crate::backend::{self, ChainSpec, Kernel, LatticeBackend, Start};
use crate::error::Result;
use crate::lattice::{Lattice, LatticeKind};
use crate::model::{Algorithm, Model, Units};
use crate::observables::Series;
use crate::stats;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One algorithm at one size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RaceRun {
    /// Update algorithm.
    pub algorithm: String,
    /// L.
    pub size: u32,
    /// What ran: device, kernel and API.
    pub ran: String,
    /// Chains.
    pub chains: u32,
    /// Thermalization sweeps.
    pub thermalize: u32,
    /// Measured sweeps per chain (one measurement per sweep).
    pub sweeps: u32,
    /// Wall time of the measured sweeps (s).
    pub seconds: f64,
    /// Energy per site.
    pub energy_per_site: f64,
    /// Its binning error.
    pub error: f64,
    /// τ_int of the energy in sweeps.
    pub tau_int: f64,
    /// Whether the binning reached a plateau with enough blocks.
    pub reliable: bool,
    /// τ_int of |m| in sweeps (the slow mode of local updates).
    pub tau_int_abs_magnetization: f64,
    /// Whether its binning is reliable.
    pub reliable_abs_magnetization: bool,
    /// error² × seconds.
    pub cost: f64,
    /// cost / target², the seconds the target error would take.
    pub seconds_to_target: f64,
}

/// The fitted dynamic exponent of one algorithm and observable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DynamicExponent {
    /// Update algorithm.
    pub algorithm: String,
    /// Whose τ_int: `energy_per_site` or `abs_magnetization`.
    pub observable: String,
    /// Slope of ln τ_int against ln L.
    pub z: f64,
    /// Its standard error from the fit residuals (NaN with two sizes).
    #[serde(deserialize_with = "crate::io::f64_or_nan")]
    pub error: f64,
    /// Sizes used (reliable runs only).
    pub sizes: Vec<u32>,
}

/// Runs `algorithm` at size `size` for about `budget` seconds (a fifth thermalizing).
///
/// # Errors
/// Those of the samplers.
pub fn run_one(
    lattice: LatticeKind,
    beta: f64,
    algorithm: Algorithm,
    size: u32,
    chains: u32,
    budget: f64,
    target: f64,
) -> Result<RaceRun> {
    let model = Model::new(Lattice::new(lattice, size)?, Units::Spin, beta, 1.0, 0.0)?;
    let spec = ChainSpec::new(model, algorithm, chains, 1, Start::Hot)?;
    let mut s = backend::open(LatticeBackend::Auto, Kernel::Auto, spec, &mut |_| {})?;
    let info = s.info();
    let sweep_in = |seconds: f64, every: u32, s: &mut dyn backend::Sampler| {
        let (mut done, mut chunk, mut counts) = (0u32, 1u32, Vec::new());
        let t = Instant::now();
        // pieces of at most about 0.1 s between stop checks; a run stops early once it
        // holds MAX_MEASUREMENTS measurements
        while t.elapsed().as_secs_f64() < seconds && counts.len() < super::MAX_MEASUREMENTS {
            counts.extend(s.advance(chunk, every)?);
            crate::interrupt::check()?;
            done = done.saturating_add(chunk);
            let per = t.elapsed().as_secs_f64() / done as f64;
            let left = (seconds - t.elapsed().as_secs_f64()).clamp(0.0, 0.1);
            chunk = chunk
                .saturating_mul(2)
                .min((left / per.max(1e-12)).ceil().clamp(1.0, u32::MAX as f64) as u32);
        }
        Ok::<_, crate::Error>((done, counts, t.elapsed().as_secs_f64()))
    };
    s.set_thermalizing(true);
    let (thermalize, _, _) = sweep_in(0.2 * budget, 0, s.as_mut())?;
    s.set_thermalizing(false);
    let (sweeps, counts, seconds) = sweep_in(0.8 * budget, 1, s.as_mut())?;
    let series = Series::from_counts(&model, &counts, chains as usize);
    let b = stats::binning(&series.energy, series.shape);
    let abs_m: Vec<f64> = series.spin_magnetization.iter().map(|m| m.abs()).collect();
    let bm = stats::binning(&abs_m, series.shape);
    let cost = b.error * b.error * seconds;
    Ok(RaceRun {
        algorithm: algorithm.name().to_string(),
        size,
        ran: format!("{} {} ({})", info.kind, info.kernel, info.api),
        chains,
        thermalize,
        sweeps,
        seconds,
        energy_per_site: b.mean,
        error: b.error,
        tau_int: b.tau_int,
        reliable: b.reliable,
        tau_int_abs_magnetization: bm.tau_int,
        reliable_abs_magnetization: bm.reliable,
        cost,
        seconds_to_target: cost / (target * target),
    })
}

/// z for each algorithm and observable (energy, |m|) from its reliable runs at two or more
/// sizes.
pub fn dynamic_exponents(runs: &[RaceRun]) -> Vec<DynamicExponent> {
    let energy = |r: &RaceRun| (r.reliable, r.tau_int);
    let abs_m = |r: &RaceRun| (r.reliable_abs_magnetization, r.tau_int_abs_magnetization);
    let mut out = fits(runs, "energy_per_site", &energy);
    out.extend(fits(runs, "abs_magnetization", &abs_m));
    out
}

fn fits(
    runs: &[RaceRun],
    observable: &'static str,
    tau: &dyn Fn(&RaceRun) -> (bool, f64),
) -> Vec<DynamicExponent> {
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        if !names.contains(&r.algorithm.as_str()) {
            names.push(&r.algorithm);
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let pts: Vec<(f64, f64, u32)> = runs
                .iter()
                .filter(|r| r.algorithm == name && tau(r).0 && tau(r).1 > 0.0)
                .map(|r| ((r.size as f64).ln(), tau(r).1.ln(), r.size))
                .collect();
            if pts.len() < 2 {
                return None;
            }
            let n = pts.len() as f64;
            let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
            let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
            let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
            let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
            let z = sxy / sxx;
            let rss: f64 = pts
                .iter()
                .map(|p| (p.1 - my - z * (p.0 - mx)).powi(2))
                .sum();
            let error = if pts.len() > 2 {
                (rss / (n - 2.0) / sxx).sqrt()
            } else {
                f64::NAN
            };
            Some(DynamicExponent {
                algorithm: name.to_string(),
                observable: observable.to_string(),
                z,
                error,
                sizes: pts.iter().map(|p| p.2).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(algorithm: &str, size: u32, tau: f64) -> RaceRun {
        RaceRun {
            algorithm: algorithm.to_string(),
            size,
            ran: String::new(),
            chains: 1,
            thermalize: 0,
            sweeps: 0,
            seconds: 1.0,
            energy_per_site: 0.0,
            error: 0.0,
            tau_int: tau,
            reliable: true,
            tau_int_abs_magnetization: tau,
            reliable_abs_magnetization: true,
            cost: 0.0,
            seconds_to_target: 0.0,
        }
    }

    #[test]
    fn fitted_exponent_recovers_a_power_law() {
        let runs: Vec<RaceRun> = [32u32, 64, 128, 256]
            .iter()
            .map(|&l| run("heat-bath", l, 0.05 * (l as f64).powf(2.17)))
            .chain([run("wolff", 32, 3.0)])
            .collect();
        let z = dynamic_exponents(&runs);
        assert_eq!(z.len(), 2);
        for e in &z {
            assert!((e.z - 2.17).abs() < 1e-9 && e.error < 1e-6, "{e:?}");
        }
    }
}
