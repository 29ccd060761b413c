//! Running a sampler through thermalisation and measurement.

use crate::backend::Sampler;
use crate::equilibration::{self, AUTO_FIRST, AUTO_Z_LIMIT, Equilibration};
use crate::error::{Error, Result};
use crate::model::{Counts, Model};
use crate::observables::Series;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// How many sweeps to run and when to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunPlan {
    /// Sweeps discarded first (with [`RunPlan::auto`]: 0 until the run settles it).
    pub thermalize: u32,
    /// Sweeps after thermalisation.
    pub sweeps: u32,
    /// Measure after every K-th of those sweeps.
    pub measure_every: u32,
    /// `thermalize auto`: thermalize in doubling windows until the drift test passes, at
    /// most this many sweeps ([`crate::equilibration`]).
    pub auto: Option<u32>,
}

/// `thermalize auto` in a job's parameters: the cap, and after the run whether a window
/// passed the drift test and how many windows were tested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThermalizeAuto {
    /// Most sweeps auto thermalization may run.
    pub cap: u32,
    /// Whether a window passed the drift test (false: the cap was reached first); null
    /// before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    /// Windows tested (null before the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<u32>,
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
            auto: None,
        })
    }

    /// A plan that thermalizes automatically, at most `cap` sweeps.
    ///
    /// # Errors
    /// As [`RunPlan::new`]; [`Error::InvalidParameter`] (`thermalize-cap`) for a cap of 0
    /// or one that leaves no room for the sweeps below 2^32.
    pub fn auto(cap: u32, sweeps: u32, measure_every: u32) -> Result<Self> {
        if cap == 0 || cap.checked_add(sweeps).is_none() {
            return Err(Error::invalid(
                "thermalize-cap",
                format!("must be at least 1 and, plus sweeps = {sweeps}, below 2^32 (got {cap})"),
            ));
        }
        Ok(RunPlan {
            auto: Some(cap),
            ..RunPlan::new(0, sweeps, measure_every)?
        })
    }

    /// Number of measurements per chain.
    pub fn measurements(&self) -> u32 {
        self.sweeps / self.measure_every
    }

    /// Total sweeps (with auto thermalization: at most, the cap plus the sweeps).
    pub fn total_sweeps(&self) -> u64 {
        self.auto.unwrap_or(self.thermalize) as u64 + self.sweeps as u64
    }

    /// Checks that `p` (read from a checkpoint) is a state this plan's run passes through
    /// with `chains` chains: sweeps done within the plan, the thermalization within its
    /// rule, and exactly the counts the run loop has measured by then. `Err` says what is
    /// inconsistent.
    pub fn check_progress(&self, p: &Progress, chains: u32) -> std::result::Result<(), String> {
        let chains = chains as u64;
        let (from, every) = match (p.thermalized, self.auto) {
            (Some(t), None) if t.sweeps == self.thermalize => (t.sweeps as u64, self.measure_every),
            (Some(t), Some(cap)) if t.sweeps <= cap && t.sweeps >= cap.min(AUTO_FIRST) => {
                (t.sweeps as u64, self.measure_every)
            }
            (None, Some(cap)) => {
                if p.sweeps_done > cap as u64 {
                    return Err(format!(
                        "{} sweeps done while thermalizing, beyond the cap of {cap}",
                        p.sweeps_done
                    ));
                }
                match equilibration::auto_window(p.sweeps_done.saturating_sub(1)) {
                    Some(w) if p.sweeps_done > AUTO_FIRST as u64 => (w.start, w.every),
                    _ => (p.sweeps_done, 1),
                }
            }
            (None, None) => (self.thermalize as u64, self.measure_every),
            (Some(t), _) => {
                return Err(format!(
                    "a thermalization of {} sweeps that this plan does not take",
                    t.sweeps
                ));
            }
        };
        let end = match p.thermalized {
            Some(t) => t.sweeps as u64 + self.sweeps as u64,
            None => self.total_sweeps(),
        };
        if p.sweeps_done > end {
            return Err(format!(
                "{} sweeps done, beyond the plan's {end} (a resumed run cannot take fewer sweeps than it has done)",
                p.sweeps_done
            ));
        }
        let measurements = p.sweeps_done.saturating_sub(from) / every.max(1) as u64;
        let expected = measurements * chains;
        if p.counts.len() as u64 != expected {
            return Err(format!(
                "{} measurement records after {} sweeps, where the run has {expected} ({measurements} per chain, {chains} chains)",
                p.counts.len(),
                p.sweeps_done
            ));
        }
        Ok(())
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
    /// How the run thermalized (the sweeps; with auto, whether a window passed).
    pub thermalized: Thermalized,
}

impl RunOutput {
    /// Throughput in site updates per nanosecond.
    pub fn spin_updates_per_ns(&self) -> f64 {
        self.spin_updates as f64 / (self.wall_seconds * 1e9)
    }
}

/// The thermalization a run did: the sweeps, and with auto thermalization the windows tested
/// and whether the last one passed the drift test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thermalized {
    /// Thermalization sweeps.
    pub sweeps: u32,
    /// Auto thermalization only: whether a window passed (false: the cap was reached).
    #[serde(default)]
    pub passed: Option<bool>,
    /// Auto thermalization only: windows tested.
    #[serde(default)]
    pub windows: Option<u32>,
}

/// Target wall time of one `advance` call (keeps the progress bar and checkpoints lively).
const CHUNK_TARGET: Duration = Duration::from_millis(250);

/// Where a run stands: sweeps done (thermalization included), counts measured so far, and
/// the wall time already spent (before a resume).
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Sweeps done since initialisation.
    pub sweeps_done: u64,
    /// Counts measured so far (measurement-major): of the measured sweeps once the run has
    /// thermalized; during auto thermalization, of the current window.
    pub counts: Vec<Counts>,
    /// Wall time spent so far.
    pub wall_seconds: f64,
    /// The thermalization, once done (auto thermalization: None until a window passes or
    /// the cap is reached; a fixed plan's is known from the start).
    pub thermalized: Option<Thermalized>,
}

/// What the hook asks for after a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep going.
    Continue,
    /// Stop now (the run is returned unfinished).
    Stop,
}

/// Runs the plan on `chains` chains of `model`. `progress(done, total)` is called with
/// sweeps done after every chunk.
///
/// # Errors
/// Those of [`Sampler::advance`].
pub fn run(
    sampler: &mut dyn Sampler,
    plan: &RunPlan,
    model: &Model,
    chains: u32,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RunOutput> {
    let total = plan.total_sweeps();
    let out = run_resumable(
        sampler,
        plan,
        model,
        chains,
        Progress::default(),
        &mut |_, p| {
            progress(p.sweeps_done, total);
            Ok(Control::Continue)
        },
    )?;
    out.ok_or_else(|| Error::Internal("run stopped without a request".into()))
}

/// Whether an auto-thermalization window (measured every `every` sweeps, ending after
/// `done` sweeps) passes: the drift test on the energy and |m| at [`AUTO_Z_LIMIT`], and
/// `done` ≥ [`equilibration::AUTO_TAU_FACTOR`] τ_int of both ([`crate::equilibration`]).
pub fn window_passes(model: &Model, counts: &[Counts], chains: u32, every: u32, done: u64) -> bool {
    let series = Series::from_counts(model, counts, chains as usize);
    let abs_m: Vec<f64> = series.magnetization.iter().map(|m| m.abs()).collect();
    let observables = [
        ("energy_per_site", &series.energy[..]),
        ("abs_magnetization_per_site", &abs_m[..]),
    ];
    let test = Equilibration::test_with(&observables, series.shape, AUTO_Z_LIMIT);
    let long_enough = observables.iter().all(|(_, v)| {
        equilibration::window_tau(v, series.shape) * every as f64 * equilibration::AUTO_TAU_FACTOR
            <= done as f64
    });
    test.equilibrated == Some(true) && long_enough
}

/// Windows auto thermalization has tested when it stops after `sweeps` sweeps.
fn windows_tested(sweeps: u64) -> u32 {
    let mut n = 0;
    while equilibration::auto_window(sweeps - 1)
        .is_some_and(|w| w.start >= (AUTO_FIRST as u64) << n)
    {
        n += 1;
    }
    n
}

/// Advances `p` to `target` sweeps in chunks of whole measurement intervals (`every`; 0:
/// no measurements) measured at `origin + k·every`, calling `hook` after each chunk.
/// Returns false if the hook stopped the run before `target`. A run resumed off that grid
/// (its last chunk was cut short by an earlier, smaller target) first steps back onto it,
/// so it measures what an uninterrupted run measures.
fn advance_to(
    sampler: &mut dyn Sampler,
    p: &mut Progress,
    target: u64,
    every: u32,
    origin: u64,
    clock: (Instant, f64),
    hook: &mut dyn FnMut(&mut dyn Sampler, &Progress) -> Result<Control>,
) -> Result<bool> {
    let unit = every.max(1) as u64;
    let mut chunk_units = 1u64;
    while p.sweeps_done < target {
        let left = target - p.sweeps_done;
        let off = match every {
            0 => 0,
            _ => p.sweeps_done.saturating_sub(origin) % unit,
        };
        let (n, measure) = if off == 0 {
            ((chunk_units * unit).min(left), every)
        } else {
            let n = (unit - off).min(left);
            (n, if n == unit - off { n as u32 } else { 0 })
        };
        let t0 = Instant::now();
        p.counts.extend(sampler.advance(n as u32, measure)?);
        p.sweeps_done += n;
        p.wall_seconds = clock.1 + clock.0.elapsed().as_secs_f64();
        if hook(sampler, p)? == Control::Stop && p.sweeps_done < target {
            return Ok(false);
        }
        if t0.elapsed() < CHUNK_TARGET / 2 && chunk_units < (1 << 20) {
            chunk_units *= 2;
        }
    }
    Ok(true)
}

/// Auto thermalization (see [`crate::equilibration`]): from `p` (at any sweep of it, the
/// current window's counts in `p.counts`) until a window passes or the cap; sets
/// `p.thermalized`. Returns false if the hook stopped the run.
fn thermalize_auto(
    sampler: &mut dyn Sampler,
    p: &mut Progress,
    cap: u32,
    model: &Model,
    chains: u32,
    clock: (Instant, f64),
    hook: &mut dyn FnMut(&mut dyn Sampler, &Progress) -> Result<Control>,
) -> Result<bool> {
    let cap = cap as u64;
    if !advance_to(sampler, p, cap.min(AUTO_FIRST as u64), 0, 0, clock, hook)? {
        return Ok(false);
    }
    let mut passed = false;
    loop {
        // counts pending: a window stopped (and checkpointed) before or at its end
        let pending = !p.counts.is_empty();
        if p.sweeps_done >= cap && !pending {
            break;
        }
        let at = if pending {
            p.sweeps_done - 1
        } else {
            p.sweeps_done
        };
        let Some(w) = equilibration::auto_window(at) else {
            return Err(Error::Internal(
                "auto thermalization before its first window".into(),
            ));
        };
        let end = (w.start + w.sweeps as u64).min(cap);
        if !advance_to(sampler, p, end, w.every, w.start, clock, hook)? {
            return Ok(false);
        }
        passed = window_passes(model, &p.counts, chains, w.every, p.sweeps_done);
        p.counts.clear();
        if passed {
            break;
        }
    }
    let sweeps = p.sweeps_done;
    p.thermalized = Some(Thermalized {
        sweeps: u32::try_from(sweeps)
            .map_err(|_| Error::Internal("auto thermalization past 2^32".into()))?,
        passed: Some(passed),
        windows: Some(windows_tested(sweeps.max(1))),
    });
    Ok(true)
}

/// Runs the plan from `start` (a sampler already restored to `start.sweeps_done`), calling
/// `hook` after every chunk; chunks are whole measurement intervals, so a run stopped after
/// any chunk and resumed measures at exactly the same sweeps. The sampler is told which
/// sweeps thermalize ([`Sampler::set_thermalizing`]). With auto thermalization the
/// windows measure every sweep interval of [`equilibration::auto_window`] without changing
/// the random stream, so the thermalization found, given as a fixed number, reruns the same
/// numbers. Returns None if the hook stopped the run.
///
/// # Errors
/// Those of [`Sampler::advance`] and of the hook.
pub fn run_resumable(
    sampler: &mut dyn Sampler,
    plan: &RunPlan,
    model: &Model,
    chains: u32,
    start: Progress,
    hook: &mut dyn FnMut(&mut dyn Sampler, &Progress) -> Result<Control>,
) -> Result<Option<RunOutput>> {
    let clock = (Instant::now(), start.wall_seconds);
    let mut p = start;
    if plan.auto.is_none() {
        p.thermalized = Some(Thermalized {
            sweeps: plan.thermalize,
            passed: None,
            windows: None,
        });
    }
    let thermalized = match (p.thermalized, plan.auto) {
        (Some(t), _) => {
            sampler.set_thermalizing(true);
            if !advance_to(sampler, &mut p, t.sweeps as u64, 0, 0, clock, hook)? {
                return Ok(None);
            }
            t
        }
        (None, Some(cap)) => {
            sampler.set_thermalizing(true);
            if !thermalize_auto(sampler, &mut p, cap, model, chains, clock, hook)? {
                return Ok(None);
            }
            p.thermalized
                .ok_or_else(|| Error::Internal("auto thermalization unsettled".into()))?
        }
        (None, None) => unreachable!("a fixed plan's thermalization is set above"),
    };
    sampler.set_thermalizing(false);
    let total = thermalized.sweeps as u64 + plan.sweeps as u64;
    if !advance_to(
        sampler,
        &mut p,
        total,
        plan.measure_every,
        thermalized.sweeps as u64,
        clock,
        hook,
    )? {
        return Ok(None);
    }
    Ok(Some(RunOutput {
        counts: p.counts,
        wall_seconds: clock.1 + clock.0.elapsed().as_secs_f64(),
        spin_updates: total * model.lattice.sites() * chains as u64,
        thermalized,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_tested_counts_the_doubling_windows() {
        assert_eq!(windows_tested(32), 0);
        assert_eq!(windows_tested(64), 1);
        assert_eq!(windows_tested(128), 2);
        assert_eq!(windows_tested(100), 2);
        assert_eq!(windows_tested(1 << 20), 15);
    }
}
