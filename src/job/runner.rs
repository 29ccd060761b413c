//! The checkpointed job runner: runs a [`JobSpec`] point after point, reports through
//! [`Hooks`] (progress, notices, finished points), stops when the hooks ask (after writing
//! a checkpoint), and writes the job's output files when it is complete.
//!
//! A checkpoint holds the configurations and counts of the current point, the sweep counter
//! (the whole RNG state: counter-based Philox), the finished points and the resolved job;
//! it is written every [`CheckpointPolicy::every`], at each finished point and when the
//! hooks ask to stop. [`run`] with that checkpoint continues bit for bit.

use super::checkpoint::{Checkpoint, Current, Header};
use super::results::{JOB_SCHEMA, SAMPLE_SCHEMA};
use super::{JobResults, JobSpec, RunConfig, RunResults, SampleResults, memory, output};
use crate::analysis::{self, Crossing};
use crate::backend::{self, Sampler};
use crate::error::{Error, Result};
use crate::provenance::Provenance;
use crate::run::{self, Control, Progress};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What the runner tells its caller and asks it. Every method has a default that does
/// nothing ([`Quiet`] uses only those).
pub trait Hooks {
    /// A notice from the backend (e.g. why `auto` runs on the CPU).
    fn notice(&mut self, _message: &str) {}
    /// The `index`-th point this job runs (of `points`; a shard runs some of the grid's)
    /// starts; it runs `total_sweeps` sweeps.
    fn point_started(&mut self, _index: usize, _points: usize, _total_sweeps: u64) {}
    /// Sweeps done of the current point, about every 250 ms.
    fn progress(&mut self, _sweeps_done: u64) {}
    /// Asked after every progress report: true writes the checkpoint (when there is one)
    /// and returns [`Outcome::Interrupted`].
    fn stop_requested(&mut self) -> bool {
        false
    }
    /// The `index`-th point this job runs finished with these results.
    fn point_finished(&mut self, _index: usize, _points: usize, _results: &RunResults) {}
}

/// Hooks that report nothing and never stop.
pub struct Quiet;

impl Hooks for Quiet {}

/// Where and how often to checkpoint.
#[derive(Clone, Debug)]
pub struct CheckpointPolicy {
    /// The checkpoint file (replaced atomically).
    pub path: PathBuf,
    /// Time between checkpoints.
    pub every: Duration,
}

impl CheckpointPolicy {
    /// A checkpoint at `path` every `seconds` seconds.
    ///
    /// # Errors
    /// As [`interval`]; [`Error::InvalidParameter`] (`checkpoint`) when `path` cannot be
    /// written.
    pub fn new(path: PathBuf, seconds: f64) -> Result<CheckpointPolicy> {
        let every = interval(seconds)?;
        crate::io::check_output_path("checkpoint", &path)?;
        Ok(CheckpointPolicy { path, every })
    }
}

/// The checkpoint interval of `seconds`.
///
/// # Errors
/// [`Error::InvalidParameter`] (`checkpoint-every`) unless `seconds` is finite and positive.
pub fn interval(seconds: f64) -> Result<Duration> {
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(Error::invalid(
            "checkpoint-every",
            format!("must be a positive number of seconds (got {seconds})"),
        ));
    }
    // beyond Duration's range (about 5.8e11 years): never on a timer
    Ok(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
}

/// How a job ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every point ran; the output files are written.
    Finished(Finished),
    /// The hooks asked to stop; the checkpoint (if there is a policy) holds the job so far.
    Interrupted {
        /// The checkpoint written, if any.
        checkpoint: Option<PathBuf>,
    },
}

/// A finished job.
#[derive(Clone, Debug)]
pub struct Finished {
    /// Every point's results, in the order of [`JobSpec::points`] (a shard: its points).
    pub points: Vec<RunResults>,
    /// Binder and ξ₂/L crossings between consecutive sizes (grids; empty for one run and for
    /// a shard).
    pub crossings: Vec<Crossing>,
}

fn header(spec: &JobSpec, completed: &[RunResults], current: Option<Current>) -> Header {
    Header {
        version: env!("CARGO_PKG_VERSION").into(),
        job: spec.clone(),
        completed: completed.to_vec(),
        current,
    }
}

/// Runs `spec`, continuing `resume` (a checkpoint of this job) when given, checkpointing
/// by `checkpoint`. The output files of `spec` are checked before anything runs and
/// written when the job is complete.
///
/// # Errors
/// Invalid points or outputs, a job too large for host memory or the device, backend and
/// I/O errors. An unfinished job is not an error: [`Outcome::Interrupted`].
pub fn run(
    spec: &JobSpec,
    resume: Option<Checkpoint>,
    checkpoint: Option<&CheckpointPolicy>,
    hooks: &mut dyn Hooks,
) -> Result<Outcome> {
    spec.check_outputs()?;
    let (mut completed, mut current) = match resume {
        Some(ck) => {
            let current = ck.header.current.map(|c| (c, ck.bits, ck.counts));
            (ck.header.completed, current)
        }
        None => (Vec::new(), None),
    };
    let selected = spec.selected();
    if completed.len() > selected.len() {
        return Err(Error::invalid(
            "resume",
            "the checkpoint holds more finished points than its job has",
        ));
    }
    let n_points = selected.len();
    let mut last_checkpoint = Instant::now();
    while completed.len() < n_points {
        let position = completed.len();
        let index = selected[position];
        let job = RunConfig::new(&spec.points[index])?;
        memory::check(&job)?;
        let mut sampler = backend::open(
            job.parameters.backend,
            job.parameters.kernel,
            job.spec,
            &mut |m| hooks.notice(m),
        )?;
        let start = match current.take() {
            Some((c, bits, counts)) => {
                let forged = |why: String| {
                    Error::invalid(
                        "resume",
                        format!(
                            "the checkpoint's point in progress does not belong to its job: {why}; refusing to resume from it"
                        ),
                    )
                };
                if c.index != index {
                    return Err(forged(format!(
                        "it is point {}, the next unfinished point is {index}",
                        c.index
                    )));
                }
                let kernel = sampler.info().kernel;
                if let Some(k) = c.kernel.as_ref().filter(|k| **k != kernel) {
                    return Err(forged(format!(
                        "its configurations are of the {k} kernel, this run's is {kernel}"
                    )));
                }
                let thermalization = match c.thermalized {
                    Some(t) => t.sweeps as u64,
                    None => job.plan.auto.unwrap_or(job.plan.thermalize) as u64,
                };
                if c.sweeps_done <= u32::MAX as u64
                    && c.sweeps_done > thermalization + job.plan.sweeps as u64
                {
                    return Err(Error::invalid(
                        "sweeps",
                        format!(
                            "the checkpoint's point has done {} sweeps ({thermalization} of them thermalization); a resumed run continues it, so give --sweeps of at least {}",
                            c.sweeps_done,
                            c.sweeps_done - thermalization
                        ),
                    ));
                }
                let progress = Progress {
                    sweeps_done: c.sweeps_done,
                    counts,
                    wall_seconds: c.wall_seconds,
                    thermalized: c.thermalized,
                };
                job.plan
                    .check_progress(&progress, job.spec.chains)
                    .map_err(forged)?;
                let sweeps = u32::try_from(c.sweeps_done)
                    .map_err(|_| forged(format!("{} sweeps done", c.sweeps_done)))?;
                sampler.restore(&bits, sweeps)?;
                progress
            }
            None => Progress::default(),
        };
        hooks.point_started(position, n_points, job.plan.total_sweeps());
        let out = run::run_resumable(
            sampler.as_mut(),
            &job.plan,
            &job.spec.model,
            job.spec.chains,
            start,
            &mut |s: &mut dyn Sampler, p| {
                hooks.progress(p.sweeps_done);
                let stop = hooks.stop_requested();
                if let Some(policy) = checkpoint
                    && (stop || last_checkpoint.elapsed() >= policy.every)
                {
                    let current = Current {
                        index,
                        sweeps_done: p.sweeps_done,
                        wall_seconds: p.wall_seconds,
                        thermalized: p.thermalized,
                        kernel: Some(s.info().kernel),
                    };
                    Checkpoint {
                        header: header(spec, &completed, Some(current)),
                        bits: s.configurations()?,
                        counts: p.counts.clone(),
                    }
                    .write(&policy.path)?;
                    last_checkpoint = Instant::now();
                }
                Ok(if stop {
                    Control::Stop
                } else {
                    Control::Continue
                })
            },
        )?;
        let Some(out) = out else {
            return Ok(Outcome::Interrupted {
                checkpoint: checkpoint.map(|c| c.path.clone()),
            });
        };
        let r = RunResults::new(&job, sampler.info(), &out);
        if !spec.grid {
            if let Some(p) = &spec.series {
                output::write_series(p, &job, &out)?;
            }
            if let Some(p) = &spec.save_state {
                output::write_state(p, &job, &sampler.configurations()?)?;
            }
        }
        hooks.point_finished(position, n_points, &r);
        completed.push(r);
        // a checkpoint at each point boundary keeps finished points safe
        if let Some(policy) = checkpoint {
            Checkpoint {
                header: header(spec, &completed, None),
                bits: Vec::new(),
                counts: Vec::new(),
            }
            .write(&policy.path)?;
            last_checkpoint = Instant::now();
        }
    }
    let finished = Finished {
        crossings: if spec.grid && spec.shard.is_none() {
            analysis::crossings(&completed)
        } else {
            Vec::new()
        },
        points: completed,
    };
    write_outputs(spec, &finished)?;
    Ok(Outcome::Finished(finished))
}

/// Writes the results JSON (and a grid's CSV summary) of a finished job.
fn write_outputs(spec: &JobSpec, f: &Finished) -> Result<()> {
    let provenance = Provenance::current();
    if spec.grid {
        if let Some(p) = &spec.output {
            let results = JobResults {
                schema: JOB_SCHEMA.into(),
                provenance: provenance.clone(),
                job_seed: spec.job_seed,
                points: f.points.clone(),
                crossings: f.crossings.clone(),
                shard: spec.shard_info(),
            };
            output::write_json(p, &results)?;
        }
        if let Some(p) = &spec.summary {
            output::write_summary(p, &f.points, &provenance)?;
        }
    } else if let Some(p) = &spec.output {
        let Some(run) = f.points.first() else {
            return Err(Error::Internal("a single run without results".into()));
        };
        let results = SampleResults {
            schema: SAMPLE_SCHEMA.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            provenance,
            run: run.clone(),
        };
        output::write_json(p, &results)?;
    }
    Ok(())
}
