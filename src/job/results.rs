//! The results schemas as typed structs: `blockspin/sample/1` (one run, [`SampleResults`])
//! and `blockspin/job/1` (a grid, [`JobResults`]), both built from [`RunResults`].
//! Every observable is per site; see `docs/conventions.md`.

use super::RunConfig;
use crate::analysis::Crossing;
use crate::backend::{BackendInfo, Kernel, LatticeBackend, Start};
use crate::error::{Error, Result};
use crate::exact::reference::{self, Reference};
use crate::lattice::LatticeKind;
use crate::model::{Algorithm, Units};
use crate::observables::{self, Analysis, Observables, Series};
use crate::provenance::Provenance;
use crate::run::{RunOutput, ThermalizeAuto};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Schema name of a single run's results.
pub const SAMPLE_SCHEMA: &str = "blockspin/sample/1";
/// Schema name of a job's results.
pub const JOB_SCHEMA: &str = "blockspin/job/1";

/// Every resolved parameter of a run, as recorded in the results.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Parameters {
    /// Lattice.
    pub lattice: LatticeKind,
    /// L.
    pub size: u32,
    /// Sites per chain.
    pub sites: u64,
    /// Units.
    pub units: Units,
    /// β.
    pub beta: f64,
    /// T = 1/β.
    pub temperature: f64,
    /// J.
    pub coupling: f64,
    /// h.
    pub field: f64,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Thermalization sweeps (with `thermalize auto`: 0 before the run, then the sweeps it
    /// took, so the same parameters with this number rerun the same stream).
    pub thermalize: u32,
    /// `thermalize auto`: the cap, and after the run whether a window passed the drift test
    /// and how many were tested; absent for a fixed thermalization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thermalize_auto: Option<ThermalizeAuto>,
    /// Measured sweeps.
    pub sweeps: u32,
    /// Measurement interval.
    pub measure_every: u32,
    /// Chains.
    pub chains: u32,
    /// Seed of this run.
    pub seed: u64,
    /// Start.
    pub start: Start,
    /// Backend requested.
    pub backend: LatticeBackend,
    /// Kernel that runs (`auto` resolved when the job is planned, so a resumed or rerun
    /// job draws the same random stream).
    #[serde(default)]
    pub kernel: Kernel,
}

/// One run's results (a whole `sample` file, or one point of a job).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResults {
    /// Resolved parameters.
    pub parameters: Parameters,
    /// Backend that ran it.
    pub backend: BackendInfo,
    /// Estimates.
    pub observables: Observables,
    /// Blocking used for the errors.
    pub analysis: Analysis,
    /// Exact values for this model where known (null otherwise).
    pub exact: Option<Reference>,
    /// Cluster algorithms: clusters per sweep, mean cluster size and the improved
    /// estimators next to the direct ones ([`observables::ClusterObservables`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<observables::ClusterObservables>,
    /// Chain-averaged series (energy and magnetization per site per measurement).
    pub mean_series: MeanSeries,
    /// Timing.
    pub timing: Timing,
}

/// Chain averages of the per-measurement values.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MeanSeries {
    /// Sweep of the first measurement.
    pub first_sweep: u64,
    /// Sweeps between measurements.
    pub every: u32,
    /// ⟨E⟩/N over chains.
    pub energy_per_site: Vec<f64>,
    /// ⟨Σx⟩/N over chains.
    pub magnetization_per_site: Vec<f64>,
}

/// Timing of a run.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Timing {
    /// Wall time of all sweeps and measurements.
    pub wall_seconds: f64,
    /// Site updates per nanosecond.
    pub spin_updates_per_ns: f64,
}

impl RunResults {
    /// The results of a finished run.
    pub fn new(job: &RunConfig, info: BackendInfo, out: &RunOutput) -> RunResults {
        let model = job.spec.model;
        let chains = job.spec.chains as usize;
        let series = Series::from_counts(&model, &out.counts, chains);
        let (obs, mut analysis) = observables::estimate(&model, &series);
        let mean = |v: &[f64]| -> Vec<f64> {
            v.chunks(chains)
                .map(|c| c.iter().sum::<f64>() / chains as f64)
                .collect()
        };
        let t = out.thermalized;
        if let (Some(a), Some(false)) = (job.parameters.thermalize_auto, t.passed) {
            analysis.warnings.insert(
                0,
                format!(
                    "thermalize auto stopped at its cap of {} sweeps without a window passing the drift test: the chains may not be in equilibrium; raise --thermalize-cap",
                    a.cap
                ),
            );
        }
        let parameters = Parameters {
            thermalize: t.sweeps,
            thermalize_auto: job.parameters.thermalize_auto.map(|a| ThermalizeAuto {
                passed: t.passed,
                windows: t.windows,
                ..a
            }),
            ..job.parameters.clone()
        };
        RunResults {
            parameters,
            backend: info,
            observables: obs,
            analysis,
            exact: reference::reference(&model),
            cluster: observables::cluster_estimates(
                &model,
                job.spec.algorithm,
                &out.counts,
                chains,
            ),
            mean_series: MeanSeries {
                first_sweep: t.sweeps as u64 + job.plan.measure_every as u64,
                every: job.plan.measure_every,
                energy_per_site: mean(&series.energy),
                magnetization_per_site: mean(&series.magnetization),
            },
            timing: Timing {
                wall_seconds: out.wall_seconds,
                spin_updates_per_ns: out.spin_updates_per_ns(),
            },
        }
    }
}

/// The whole-job results file (blockspin/job/1).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobResults {
    /// "blockspin/job/1".
    pub schema: String,
    /// How the file was made.
    pub provenance: Provenance,
    /// The job seed.
    pub job_seed: u64,
    /// Every point.
    pub points: Vec<RunResults>,
    /// Binder-cumulant crossings (empty in a shard's file: [`super::shard::merge`] computes
    /// them for the whole job).
    pub crossings: Vec<Crossing>,
    /// Which shard of which job this file holds (files written with a shard only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::shard::ShardInfo>,
}

/// A single run's results file (`blockspin/sample/1`): the run's results with the schema,
/// the program version and the provenance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SampleResults {
    /// "blockspin/sample/1".
    pub schema: String,
    /// Program version that wrote it.
    #[serde(default)]
    pub version: String,
    /// How the file was made.
    pub provenance: Provenance,
    /// The run.
    #[serde(flatten)]
    pub run: RunResults,
}

/// A results file of either schema.
#[derive(Clone, Debug)]
pub enum ResultsFile {
    /// `blockspin/job/1`.
    Job(Box<JobResults>),
    /// `blockspin/sample/1`.
    Sample(Box<SampleResults>),
}

impl ResultsFile {
    /// Reads a results file of either schema.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`results`) for an unreadable file, JSON that is not a
    /// blockspin results file, or an unknown schema.
    pub fn read(path: &Path) -> Result<ResultsFile> {
        let text = crate::io::read_text_capped("results", path, crate::io::caps::RESULTS)?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses the text of a results file; `name` is used in messages.
    ///
    /// # Errors
    /// As [`ResultsFile::read`].
    pub fn parse(name: &str, text: &str) -> Result<ResultsFile> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::invalid("results", format!("{name}: not JSON ({e})")))?;
        let bad = |e: serde_json::Error| {
            Error::invalid(
                "results",
                format!("{name}: not a blockspin results file ({e})"),
            )
        };
        match v["schema"].as_str() {
            Some(JOB_SCHEMA) => Ok(ResultsFile::Job(Box::new(
                serde_json::from_value(v).map_err(bad)?,
            ))),
            Some(SAMPLE_SCHEMA) => Ok(ResultsFile::Sample(Box::new(
                serde_json::from_value(v).map_err(bad)?,
            ))),
            other => Err(Error::invalid(
                "results",
                format!("{name}: unknown schema {other:?} (want {SAMPLE_SCHEMA} or {JOB_SCHEMA})"),
            )),
        }
    }
}
