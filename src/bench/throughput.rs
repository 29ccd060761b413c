//! Throughput of one column at one size, and the time one column needs to reach a target
//! error of the energy per site.

use super::{BenchSettings, Column};
use crate::backend::{self, ChainSpec, Start};
use crate::error::{Error, Result};
use crate::lattice::{Lattice, LatticeKind};
use crate::model::{Algorithm, Model, Units};
use crate::observables::Series;
use crate::stats;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Throughput of one column at one size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Column name.
    pub backend: String,
    /// What ran: device and kernel (e.g. "cpu sites").
    pub ran: String,
    /// L.
    pub size: u32,
    /// Chains advanced together.
    pub chains: u32,
    /// Sweeps per timed repeat.
    pub sweeps: u32,
    /// Spin updates per ns, median over repeats.
    #[serde(deserialize_with = "crate::io::f64_or_nan")]
    pub median: f64,
    /// Slowest repeat.
    #[serde(deserialize_with = "crate::io::f64_or_nan")]
    pub min: f64,
    /// Fastest repeat.
    #[serde(deserialize_with = "crate::io::f64_or_nan")]
    pub max: f64,
    /// Memory per spin (bytes).
    #[serde(deserialize_with = "crate::io::f64_or_nan")]
    pub bytes_per_spin: f64,
    /// Why the point was skipped (e.g. a device limit), if it was.
    pub skipped: Option<String>,
}

/// Time to a target error of the energy per site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EstimatorRun {
    /// Column name.
    pub backend: String,
    /// What ran: device and kernel.
    pub ran: String,
    /// Wall time including thermalization (s).
    pub seconds: f64,
    /// Sweeps after thermalization.
    pub sweeps: u32,
    /// Energy per site.
    pub energy_per_site: f64,
    /// Its binning error.
    pub error: f64,
    /// τ_int of the energy (sweeps).
    pub tau_int: f64,
    /// The target was reached.
    pub reached: bool,
}

/// Longest stretch of sampling between two stop checks, once the speed is known.
pub const PIECE_SECONDS: f64 = 0.05;

fn bytes_per_spin(kernel: &str, kind: &str) -> f64 {
    match (kernel, kind) {
        ("reference", "cpu") => 1.0,
        ("reference", _) => 4.0,
        _ => 1.0 / 8.0,
    }
}

fn spec(
    kind: LatticeKind,
    size: u32,
    beta: f64,
    algorithm: Algorithm,
    chains: u32,
) -> Result<ChainSpec> {
    let model = Model::new(Lattice::new(kind, size)?, Units::Spin, beta, 1.0, 0.0)?;
    ChainSpec::new(model, algorithm, chains, 1, Start::Hot)
}

/// Whether an error only means "this column cannot run this point here".
fn unavailable(e: &Error) -> bool {
    matches!(
        e,
        Error::DeviceLimit(_) | Error::NoAdapter(_) | Error::InvalidParameter { .. }
    )
}

/// Times `column` at size `size` with `chains` chains: sweeps double until one repeat takes
/// `min_seconds`, then `repeats` repeats give median, min and max.
///
/// # Errors
/// Backend errors other than an unavailable column (which gives a skipped row).
pub fn throughput(s: &BenchSettings, column: Column, size: u32, chains: u32) -> Result<Throughput> {
    let spec = spec(s.lattice, size, s.beta, s.algorithm, chains)?;
    let skip = |why: String| Throughput {
        backend: column.name().to_string(),
        ran: String::new(),
        size,
        chains,
        sweeps: 0,
        median: f64::NAN,
        min: f64::NAN,
        max: f64::NAN,
        bytes_per_spin: f64::NAN,
        skipped: Some(why),
    };
    let mut sampler = match backend::open(column.device(), column.kernel(), spec, &mut |_| {}) {
        Ok(x) => x,
        Err(e) if unavailable(&e) => return Ok(skip(e.to_string())),
        Err(e) => return Err(e),
    };
    let info = sampler.info();
    let updates = |n: u32| chains as f64 * spec.sites() as f64 * n as f64;
    let every = s.measure_every;
    sampler.advance(1, 0)?; // warm-up
    crate::interrupt::check()?;
    // n sweeps timed in pieces of `chunk` (one piece under PIECE_SECONDS once measured), with
    // a stop check after each piece
    let mut timed = |n: u32, chunk: u32| -> Result<f64> {
        let t = Instant::now();
        let mut left = n;
        while left > 0 {
            let k = left.min(chunk);
            sampler.advance(k, every)?;
            crate::interrupt::check()?;
            left -= k;
        }
        Ok(t.elapsed().as_secs_f64())
    };
    let mut n = every.max(1);
    let mut chunk = n;
    loop {
        let seconds = timed(n, chunk)?;
        if seconds < PIECE_SECONDS {
            chunk = n;
        }
        if seconds >= s.min_seconds || n >= 1 << 20 {
            break;
        }
        n *= 2;
    }
    let mut rates: Vec<f64> = (0..s.repeats.max(1))
        .map(|_| timed(n, chunk).map(|seconds| updates(n) / (seconds * 1e9)))
        .collect::<Result<_>>()?;
    rates.sort_by(|x, y| x.total_cmp(y));
    Ok(Throughput {
        backend: column.name().to_string(),
        ran: format!("{} {}", info.kind, info.kernel),
        size,
        chains,
        sweeps: n,
        median: rates[rates.len() / 2],
        min: rates[0],
        max: rates[rates.len() - 1],
        bytes_per_spin: bytes_per_spin(&info.kernel, &info.kind),
        skipped: None,
    })
}

/// Runs `column` with 32 chains at `estimator_size` until the binning error of the energy per
/// site reaches `target_error` (or `max_seconds` pass); None when the column cannot run.
///
/// # Errors
/// Backend errors other than an unavailable column.
pub fn estimator(s: &BenchSettings, column: Column) -> Result<Option<EstimatorRun>> {
    let spec = spec(s.lattice, s.estimator_size, s.beta, s.algorithm, 32)?;
    let model = spec.model;
    let started = Instant::now();
    let mut sampler = match backend::open(column.device(), column.kernel(), spec, &mut |_| {}) {
        Ok(x) => x,
        Err(e) if unavailable(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let info = sampler.info();
    sampler.set_thermalizing(true);
    for _ in 0..50 {
        sampler.advance(10, 0)?;
        crate::interrupt::check()?;
    }
    sampler.set_thermalizing(false);
    let mut counts = Vec::new();
    let mut chunk = 64u32;
    loop {
        let t = Instant::now();
        counts.extend(sampler.advance(chunk, 1)?);
        let per_sweep = t.elapsed().as_secs_f64() / chunk as f64;
        let series = Series::from_counts(&model, &counts, 32);
        let b = stats::binning(&series.energy, series.shape);
        let elapsed = started.elapsed().as_secs_f64();
        crate::interrupt::check()?;
        if (b.error <= s.target_error && b.reliable)
            || elapsed > s.max_seconds
            || counts.len() >= super::MAX_MEASUREMENTS
        {
            return Ok(Some(EstimatorRun {
                backend: column.name().to_string(),
                ran: format!("{} {}", info.kind, info.kernel),
                seconds: elapsed,
                sweeps: series.shape.n_time as u32,
                energy_per_site: b.mean,
                error: b.error,
                tau_int: b.tau_int,
                reached: b.error <= s.target_error,
            }));
        }
        // doubling chunks, but none that would run past max_seconds
        let left = (s.max_seconds - elapsed).max(0.0);
        chunk = chunk.saturating_mul(2).min(
            (left.min(PIECE_SECONDS * 2.0) / per_sweep.max(1e-12))
                .ceil()
                .max(1.0)
                .min(u32::MAX as f64) as u32,
        );
    }
}
