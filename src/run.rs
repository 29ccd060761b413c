//! Running a sampler through thermalisation and measurement.

use crate::backend::Sampler;
use crate::error::{Error, Result};
use crate::model::Counts;
use std::time::{Duration, Instant};

/// How many sweeps to run and when to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunPlan {
    /// Sweeps discarded first.
    pub thermalize: u32,
    /// Sweeps after thermalisation.
    pub sweeps: u32,
    /// Measure after every K-th of those sweeps.
    pub measure_every: u32,
}

impl RunPlan {
    /// Validates the plan.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `measure_every` is 0, there are fewer sweeps than
    /// one measurement interval, or the total does not fit the 32-bit sweep counter.
    pub fn new(thermalize: u32, sweeps: u32, measure_every: u32) -> Result<Self> {
        if measure_every == 0 {
            return Err(Error::invalid(
                "--measure-every",
                "must be at least 1 (got 0)",
            ));
        }
        if sweeps < measure_every {
            return Err(Error::invalid(
                "--sweeps",
                format!(
                    "must be at least --measure-every = {measure_every} so that one measurement is taken (got {sweeps})"
                ),
            ));
        }
        if thermalize.checked_add(sweeps).is_none() {
            return Err(Error::invalid(
                "--sweeps",
                "--thermalize plus --sweeps must be below 2^32",
            ));
        }
        Ok(RunPlan {
            thermalize,
            sweeps,
            measure_every,
        })
    }

    /// Number of measurements per chain.
    pub fn measurements(&self) -> u32 {
        self.sweeps / self.measure_every
    }

    /// Total sweeps.
    pub fn total_sweeps(&self) -> u64 {
        self.thermalize as u64 + self.sweeps as u64
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// Counts, measurement-major (`measurements × chains`).
    pub counts: Vec<Counts>,
    /// Wall time of thermalisation plus measurement.
    pub wall_seconds: f64,
    /// Site updates performed (chains × N × sweeps).
    pub spin_updates: u64,
}

impl RunOutput {
    /// Throughput in site updates per nanosecond.
    pub fn spin_updates_per_ns(&self) -> f64 {
        self.spin_updates as f64 / (self.wall_seconds * 1e9)
    }
}

/// Target wall time of one `advance` call (keeps the progress bar lively).
const CHUNK_TARGET: Duration = Duration::from_millis(250);

/// Runs the plan. `progress(done, total)` is called with sweeps done after every chunk.
///
/// # Errors
/// Those of [`Sampler::advance`].
pub fn run(
    sampler: &mut dyn Sampler,
    plan: &RunPlan,
    sites_per_sweep: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RunOutput> {
    let total = plan.total_sweeps();
    let start = Instant::now();
    let mut done = 0u64;
    let mut counts = Vec::new();
    for (phase_sweeps, every) in [(plan.thermalize, 0), (plan.sweeps, plan.measure_every)] {
        // chunk: a whole number of measurement intervals, grown while calls are fast
        let unit = every.max(1);
        let mut chunk_units = 1u32;
        let mut left = phase_sweeps;
        while left > 0 {
            let n = (chunk_units.saturating_mul(unit)).min(left);
            let t0 = Instant::now();
            counts.extend(sampler.advance(n, every)?);
            left -= n;
            done += n as u64;
            progress(done, total);
            if t0.elapsed() < CHUNK_TARGET / 2 && chunk_units < (1 << 20) {
                chunk_units *= 2;
            }
        }
    }
    Ok(RunOutput {
        counts,
        wall_seconds: start.elapsed().as_secs_f64(),
        spin_updates: total * sites_per_sweep,
    })
}
