//! Sampling jobs: one run or a grid of runs, from [`Settings`] (defaults ← job file ←
//! explicit values) to typed [`results`], with checkpoints a resumed job continues bit for
//! bit. This is everything `blockspin sample` does; the CLI only parses flags, draws the
//! progress bar, turns signals into a stop request and prints. A grid can be split into
//! [`shard`]s (`Settings::shard`), run anywhere, and merged back ([`shard::merge`]) into the
//! file the whole job writes.
//!
//! ```
//! use blockspin::job::{self, Settings, runner::{Outcome, Quiet}};
//!
//! // a 2 × 2 grid: two sizes, two temperatures, on the CPU
//! let file = job::file::JobFile::parse(
//!     "grid.toml",
//!     "size = [8, 12]\ntemperature = [2.0, 2.6]\nsweeps = 400\nthermalize = 100\nchains = 4\nbackend = \"cpu\"\n",
//! )?;
//! let spec = job::resolve(&Settings::default(), Some(&file))?;
//! assert_eq!(spec.points.len(), 4);
//! let Outcome::Finished(done) = job::runner::run(&spec, None, None, &mut Quiet)? else {
//!     unreachable!("nothing asked it to stop")
//! };
//! let hot = &done.points[1]; // L = 8, T = 2.6
//! assert_eq!(hot.parameters.size, 8);
//! let e = &hot.observables.energy_per_site;
//! assert!(e.mean < -0.5 && e.mean > -1.5 && e.error > 0.0 && e.error < 0.05);
//! # Ok::<(), blockspin::Error>(())
//! ```

pub mod checkpoint;
pub mod file;
pub mod memory;
pub mod output;
pub mod results;
pub mod runner;
pub mod settings;
pub mod shard;

pub use file::JobFile;
pub use results::{
    JobResults, MeanSeries, Parameters, ResultsFile, RunResults, SampleResults, Timing,
};
pub use settings::{Settings, resolve, resume};

use crate::backend::{self, ChainSpec};
use crate::error::Result;
use crate::lattice::Lattice;
use crate::model::Model;
use crate::run::RunPlan;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A resolved job: every run's parameters and the files it writes. Stored in checkpoints,
/// so a resumed job runs the same points and writes the same files.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JobSpec {
    /// The runs (one for a single run).
    pub points: Vec<Parameters>,
    /// True for a grid from a job file (results schema `blockspin/job/1`; a single run
    /// writes `blockspin/sample/1`).
    pub grid: bool,
    /// The job seed (a grid point's seed is [`file::point_seed`] of it).
    pub job_seed: u64,
    /// Results JSON.
    pub output: Option<PathBuf>,
    /// CSV summary, one row per point (grids).
    pub summary: Option<PathBuf>,
    /// Per-measurement, per-chain series CSV (single runs).
    pub series: Option<PathBuf>,
    /// Final configurations as NPY int8 (single runs).
    pub save_state: Option<PathBuf>,
    /// Run only this shard of the grid's points ([`shard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<shard::Shard>,
}

impl JobSpec {
    /// Indices of the points this job runs: all, or its shard's.
    pub fn selected(&self) -> Vec<usize> {
        (0..self.points.len())
            .filter(|&i| self.shard.is_none_or(|s| s.holds(i)))
            .collect()
    }

    /// [`shard::job_hash`] of this job.
    pub fn hash(&self) -> String {
        shard::job_hash(self)
    }

    /// The `shard` object of this job's results file (None unless sharded).
    pub fn shard_info(&self) -> Option<shard::ShardInfo> {
        self.shard.map(|s| shard::ShardInfo {
            index: s.index,
            count: s.count,
            job_hash: self.hash(),
            total_points: self.points.len(),
            points: self.selected(),
        })
    }

    /// Checks that every output file can be written (its directory exists, it is not a
    /// directory) and that no two outputs name the same file, before anything runs.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] naming the output.
    pub fn check_outputs(&self) -> Result<()> {
        let mut seen: Vec<(&str, PathBuf)> = Vec::new();
        for (param, path) in [
            ("output", &self.output),
            ("summary", &self.summary),
            ("series", &self.series),
            ("save-state", &self.save_state),
        ] {
            if let Some(p) = path {
                crate::io::check_output_path(param, p)?;
                // two outputs to one device (/dev/null twice) are fine: nothing is replaced
                if std::fs::metadata(p).is_ok_and(|m| !m.is_file()) {
                    continue;
                }
                let key = crate::io::same_file_key(p);
                if let Some((first, _)) = seen.iter().find(|(_, k)| *k == key) {
                    return Err(crate::Error::invalid(
                        param,
                        format!(
                            "{} is also the {first} file; give each output its own file",
                            p.display()
                        ),
                    ));
                }
                seen.push((param, key));
            }
        }
        Ok(())
    }
}

/// One validated run: the chains, the sweeps and the parameters it records.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Chains (model, algorithm, count, seed, start).
    pub spec: ChainSpec,
    /// Thermalization, measured sweeps, measurement interval.
    pub plan: RunPlan,
    /// The parameters as recorded in the results (`sites` filled in, `kernel` resolved).
    pub parameters: Parameters,
}

impl RunConfig {
    /// Validates one run's parameters and resolves its kernel.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] naming the first offending parameter.
    pub fn new(p: &Parameters) -> Result<RunConfig> {
        let lattice = Lattice::new(p.lattice, p.size)?;
        let model = Model::new(lattice, p.units, p.beta, p.coupling, p.field)?;
        let spec = ChainSpec::new(model, p.algorithm, p.chains, p.seed, p.start)?;
        let plan = match p.thermalize_auto {
            Some(a) => RunPlan::auto(a.cap, p.sweeps, p.measure_every)?,
            None => RunPlan::new(p.thermalize, p.sweeps, p.measure_every)?,
        };
        let kernel = backend::resolve_kernel(p.backend, p.kernel, &spec)?;
        Ok(RunConfig {
            spec,
            plan,
            parameters: Parameters {
                sites: lattice.sites(),
                kernel,
                ..p.clone()
            },
        })
    }

    /// Site updates per sweep over all chains.
    pub fn sites_per_sweep(&self) -> u64 {
        self.spec.sites() as u64 * self.spec.chains as u64
    }
}
