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
                "measure-every",
                "must be at least 1 (got 0)",
            ));
        }
        if sweeps < measure_every {
            return Err(Error::invalid(
                "sweeps",
                format!(
                    "must be at least measure-every = {measure_every} so that one measurement is taken (got {sweeps})"
                ),
            ));
        }
        if thermalize.checked_add(sweeps).is_none() {
            return Err(Error::invalid(
                "sweeps",
                "thermalize plus sweeps must be below 2^32",
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

/// Target wall time of one `advance` call (keeps the progress bar and checkpoints lively).
const CHUNK_TARGET: Duration = Duration::from_millis(250);

/// Where a run stands: sweeps done (thermalization included), counts measured so far, and
/// the wall time already spent (before a resume).
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Sweeps done since initialisation.
    pub sweeps_done: u64,
    /// Counts measured so far (measurement-major).
    pub counts: Vec<Counts>,
    /// Wall time spent so far.
    pub wall_seconds: f64,
}

/// What the hook asks for after a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep going.
    Continue,
    /// Stop now (the run is returned unfinished).
    Stop,
}

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
    let out = run_resumable(
        sampler,
        plan,
        sites_per_sweep,
        Progress::default(),
        &mut |_, p| {
            progress(p.sweeps_done, total);
            Ok(Control::Continue)
        },
    )?;
    out.ok_or_else(|| Error::Internal("run stopped without a request".into()))
}

/// Runs the plan from `start` (a sampler already restored to `start.sweeps_done`), calling
/// `hook` after every chunk; chunks are whole measurement intervals, so a run stopped after
/// any chunk and resumed measures at exactly the same sweeps. Returns None if the hook
/// stopped the run.
///
/// # Errors
/// Those of [`Sampler::advance`] and of the hook.
pub fn run_resumable(
    sampler: &mut dyn Sampler,
    plan: &RunPlan,
    sites_per_sweep: u64,
    start: Progress,
    hook: &mut dyn FnMut(&mut dyn Sampler, &Progress) -> Result<Control>,
) -> Result<Option<RunOutput>> {
    let total = plan.total_sweeps();
    let started = Instant::now();
    let before = start.wall_seconds;
    let mut p = start;
    let therm = plan.thermalize as u64;
    for (phase_start, phase_sweeps, every) in [
        (0u64, plan.thermalize, 0u32),
        (therm, plan.sweeps, plan.measure_every),
    ] {
        let unit = every.max(1) as u64;
        let mut chunk_units = 1u64;
        loop {
            let phase_done = p
                .sweeps_done
                .saturating_sub(phase_start)
                .min(phase_sweeps as u64);
            let left = phase_sweeps as u64 - phase_done;
            if left == 0 {
                break;
            }
            let n = (chunk_units * unit).min(left) as u32;
            let t0 = Instant::now();
            p.counts.extend(sampler.advance(n, every)?);
            p.sweeps_done += n as u64;
            p.wall_seconds = before + started.elapsed().as_secs_f64();
            if hook(sampler, &p)? == Control::Stop && p.sweeps_done < total {
                return Ok(None);
            }
            if t0.elapsed() < CHUNK_TARGET / 2 && chunk_units < (1 << 20) {
                chunk_units *= 2;
            }
        }
    }
    Ok(Some(RunOutput {
        counts: p.counts,
        wall_seconds: before + started.elapsed().as_secs_f64(),
        spin_updates: total * sites_per_sweep,
    }))
}
