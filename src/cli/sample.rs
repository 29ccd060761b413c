//! `blockspin sample`: one sampling run from flags, or a grid of runs from a job file, with
//! checkpoints that a resumed run continues bit for bit.

use crate::backend::{self, BackendInfo, ChainSpec, Kernel, LatticeBackend, Sampler, Start};
use crate::checkpoint::{Checkpoint, Current, Header};
use crate::error::{Error, Result};
use crate::exact::reference::{self, Reference};
use crate::io;
use crate::job::{self, JobFile};
use crate::lattice::{Lattice, LatticeKind};
use crate::model::{Algorithm, Counts, Model, Units};
use crate::observables::{self, Analysis, Observables, Series};
use crate::provenance::Provenance;
use crate::run::{self, Control, Progress, RunOutput, RunPlan};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Arguments of `blockspin sample`.
///
/// Energy E = −J Σ_<ij> x_i x_j − h Σ_i x_i with x = ±1 (spin) or 0/1 (bernoulli),
/// weight e^{−βE}. Flags override the values of a `--job` file.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(args_override_self = true)]
pub struct SampleArgs {
    /// Lattice (periodic) [default: square].
    #[arg(long, value_enum)]
    pub lattice: Option<LatticeKind>,
    /// Linear size L (≥ 4; even for chain/square/cubic, a multiple of 3 for triangular) [default: 16].
    #[arg(long, allow_negative_numbers = true)]
    pub size: Option<u32>,
    /// Unit values: spin (±1) or bernoulli (0/1) [default: spin].
    #[arg(long, value_enum)]
    pub units: Option<Units>,
    /// Inverse temperature β > 0 (give this or --temperature).
    #[arg(long, allow_negative_numbers = true, conflicts_with = "temperature")]
    pub beta: Option<f64>,
    /// Temperature T = 1/β > 0 (k_B = 1).
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f64>,
    /// Coupling J (negative: antiferromagnet) [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub coupling: Option<f64>,
    /// Field h [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub field: Option<f64>,
    /// Update rule [default: heat-bath].
    #[arg(long, value_enum)]
    pub algorithm: Option<Algorithm>,
    /// Sweeps discarded before measuring [default: 1000].
    #[arg(long, allow_negative_numbers = true)]
    pub thermalize: Option<u32>,
    /// Sweeps after thermalization [default: 10000].
    #[arg(long, allow_negative_numbers = true)]
    pub sweeps: Option<u32>,
    /// Measure every K sweeps [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub measure_every: Option<u32>,
    /// Independent chains (run in parallel) [default: 16].
    #[arg(long, allow_negative_numbers = true)]
    pub chains: Option<u32>,
    /// Seed of the counter-based RNG (same seed, same result on every backend of a family);
    /// in a job, the seed from which every grid point's seed is derived [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Initial configuration: hot (random) or cold (all bits 1) [default: hot].
    #[arg(long, value_enum)]
    pub start: Option<Start>,
    /// Device. auto: a hardware GPU if there is one, else the CPU (software adapters such as
    /// lavapipe/llvmpipe only with gpu); cpu and gpu give bit-identical results for every
    /// kernel; cpu-fast / gpu-fast are aliases of cpu / gpu with --kernel chains [default: auto].
    #[arg(long, value_enum)]
    pub backend: Option<LatticeBackend>,
    /// State layout and update kernel. auto: the fastest for the lattice, the number of
    /// chains and the device (a cost model measured in BENCHMARKS.md); reference: one site
    /// at a time; chains: 32 chains per word; sites: 32 sites of one chain per word (chain,
    /// square, cubic). Kernels draw different random streams (same distribution, not the
    /// same numbers); the one that ran is recorded as parameters.kernel [default: auto].
    #[arg(long, value_enum)]
    pub kernel: Option<Kernel>,
    /// A job file (TOML): a grid over temperature/beta, size, field, coupling.
    #[arg(long)]
    pub job: Option<PathBuf>,
    /// Write results (JSON: blockspin/sample/1, or blockspin/job/1 for a job).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Job: write a CSV summary, one row per grid point [default: --output with .csv].
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Write the per-measurement, per-chain series (CSV; single runs).
    #[arg(long)]
    pub series: Option<PathBuf>,
    /// Write the final configurations (NPY int8, shape [chains, L(, L(, L))]; single runs).
    #[arg(long)]
    pub save_state: Option<PathBuf>,
    /// Write a checkpoint here every --checkpoint-every seconds and on SIGINT/SIGTERM.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Seconds between checkpoints.
    #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
    pub checkpoint_every: f64,
    /// Continue the job of this checkpoint (flags may change --sweeps and outputs, not physics).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// No progress bar or notices on stderr.
    #[arg(long)]
    pub quiet: bool,
}

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
    /// Thermalization sweeps.
    pub thermalize: u32,
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

/// A validated run.
#[derive(Clone, Debug)]
pub struct Job {
    /// Chains.
    pub spec: ChainSpec,
    /// Sweeps.
    pub plan: RunPlan,
    /// Parameters for the record.
    pub parameters: Parameters,
}

/// A resolved job: its runs and outputs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The runs (one for a plain `sample`).
    pub points: Vec<Parameters>,
    /// True for a job file (results schema blockspin/job/1).
    pub grid: bool,
    /// The job seed.
    pub job_seed: u64,
    /// Results JSON.
    pub output: Option<PathBuf>,
    /// CSV summary (jobs).
    pub summary: Option<PathBuf>,
    /// Series CSV (single runs).
    pub series: Option<PathBuf>,
    /// Final state NPY (single runs).
    pub save_state: Option<PathBuf>,
}

fn parse_enum<T: clap::ValueEnum>(f: &JobFile, key: &str) -> Result<Option<T>> {
    match f.string(key)? {
        None => Ok(None),
        Some(s) => T::from_str(&s, false).map(Some).map_err(|_| {
            let line = f.entries.get(key).map(|e| e.line).unwrap_or(0);
            let allowed: Vec<String> = T::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|p| p.get_name().to_string())
                .collect();
            Error::invalid(
                "--job",
                format!(
                    "{} line {line}: `{key}` must be one of {} (got {s:?})",
                    f.name,
                    allowed.join(", ")
                ),
            )
        }),
    }
}

fn u32_key(f: &JobFile, key: &str) -> Result<Option<u32>> {
    match f.integer(key)? {
        Some(v) if v > u32::MAX as u64 => Err(Error::invalid(
            "--job",
            format!("{}: `{key}` is too large", f.name),
        )),
        v => Ok(v.map(|v| v as u32)),
    }
}

impl SampleArgs {
    /// Resolves the runs: defaults, then the job file, then the flags; validates every point
    /// (nothing runs if any is invalid).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the flag or the job key and line.
    pub fn plan(&self) -> Result<Plan> {
        let file = match &self.job {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    Error::invalid("--job", format!("cannot read {}: {e}", p.display()))
                })?;
                Some(JobFile::parse(&p.display().to_string(), &text)?)
            }
            None => None,
        };
        let f = file.clone().unwrap_or_default();
        let lattice = self
            .lattice
            .or(parse_enum(&f, "lattice")?)
            .unwrap_or(LatticeKind::Square);
        let units = self
            .units
            .or(parse_enum(&f, "units")?)
            .unwrap_or(Units::Spin);
        let algorithm = self
            .algorithm
            .or(parse_enum(&f, "algorithm")?)
            .unwrap_or(Algorithm::HeatBath);
        let start = self
            .start
            .or(parse_enum(&f, "start")?)
            .unwrap_or(Start::Hot);
        let backend = self
            .backend
            .or(parse_enum(&f, "backend")?)
            .unwrap_or(LatticeBackend::Auto);
        let kernel = self
            .kernel
            .or(parse_enum(&f, "kernel")?)
            .unwrap_or(Kernel::Auto);
        let thermalize = self
            .thermalize
            .or(u32_key(&f, "thermalize")?)
            .unwrap_or(1000);
        let sweeps = self.sweeps.or(u32_key(&f, "sweeps")?).unwrap_or(10000);
        let measure_every = self
            .measure_every
            .or(u32_key(&f, "measure-every")?)
            .unwrap_or(1);
        let chains = self.chains.or(u32_key(&f, "chains")?).unwrap_or(16);
        let job_seed = self.seed.or(f.integer("seed")?).unwrap_or(1);
        let sizes = match self.size {
            Some(s) => vec![s],
            None => f.integer_axis("size")?.unwrap_or(vec![16]),
        };
        let couplings = match self.coupling {
            Some(c) => vec![c],
            None => f.float_axis("coupling")?.unwrap_or(vec![1.0]),
        };
        let fields = match self.field {
            Some(h) => vec![h],
            None => f.float_axis("field")?.unwrap_or(vec![0.0]),
        };
        // temperatures and betas: flags first, then the file
        let betas: Vec<f64> = match (self.beta, self.temperature) {
            (Some(b), _) => vec![b],
            (None, Some(t)) => vec![temperature_to_beta("--temperature", t)?],
            (None, None) => match (f.float_axis("beta")?, f.float_axis("temperature")?) {
                (Some(b), _) => b,
                (None, Some(ts)) => ts
                    .into_iter()
                    .map(|t| temperature_to_beta("--temperature", t))
                    .collect::<Result<_>>()?,
                (None, None) => {
                    return Err(Error::invalid(
                        "--beta",
                        "give --beta or --temperature (or a job file with one of them)",
                    ));
                }
            },
        };
        let output = self
            .output
            .clone()
            .or(f.string("output")?.map(PathBuf::from));
        let grid = file.is_some();
        let summary = self
            .summary
            .clone()
            .or(f.string("summary")?.map(PathBuf::from))
            .or_else(|| {
                if grid {
                    output.as_ref().map(|o| o.with_extension("csv"))
                } else {
                    None
                }
            });
        if grid && (self.series.is_some() || self.save_state.is_some()) {
            return Err(Error::invalid(
                "--series",
                "--series and --save-state are for single runs, not jobs",
            ));
        }
        let mut points = Vec::new();
        for &size in &sizes {
            for &coupling in &couplings {
                for &field in &fields {
                    for &beta in &betas {
                        let seed = if grid {
                            job::point_seed(job_seed, size, beta, coupling, field)
                        } else {
                            job_seed
                        };
                        let p = Parameters {
                            lattice,
                            size,
                            sites: 0,
                            units,
                            beta,
                            temperature: 1.0 / beta,
                            coupling,
                            field,
                            algorithm,
                            thermalize,
                            sweeps,
                            measure_every,
                            chains,
                            seed,
                            start,
                            backend,
                            kernel,
                        };
                        let job = Job::from_parameters(&p)?;
                        points.push(job.parameters);
                    }
                }
            }
        }
        for (param, path) in [
            ("--output", &output),
            ("--summary", &summary),
            ("--series", &self.series),
            ("--save-state", &self.save_state),
            ("--checkpoint", &self.checkpoint),
        ] {
            if let Some(p) = path {
                io::check_output_path(param, p)?;
            }
        }
        if !(self.checkpoint_every.is_finite() && self.checkpoint_every > 0.0) {
            return Err(Error::invalid(
                "--checkpoint-every",
                format!(
                    "must be a positive number of seconds (got {})",
                    self.checkpoint_every
                ),
            ));
        }
        Ok(Plan {
            points,
            grid,
            job_seed,
            output,
            summary,
            series: self.series.clone(),
            save_state: self.save_state.clone(),
        })
    }
}

fn temperature_to_beta(param: &'static str, t: f64) -> Result<f64> {
    if !(t.is_finite() && t > 0.0) {
        return Err(Error::invalid(
            param,
            format!("must be a finite number > 0 (got {t})"),
        ));
    }
    Ok(1.0 / t)
}

impl Job {
    /// Validates one run.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first offending flag.
    pub fn from_parameters(p: &Parameters) -> Result<Job> {
        let lattice = Lattice::new(p.lattice, p.size)?;
        let model = Model::new(lattice, p.units, p.beta, p.coupling, p.field)?;
        let spec = ChainSpec::new(model, p.algorithm, p.chains, p.seed, p.start)?;
        let plan = RunPlan::new(p.thermalize, p.sweeps, p.measure_every)?;
        let kernel = backend::resolve_kernel(p.backend, p.kernel, &spec)?;
        Ok(Job {
            spec,
            plan,
            parameters: Parameters {
                sites: lattice.sites(),
                kernel,
                ..p.clone()
            },
        })
    }
}

/// Host memory of a job, estimated before anything is allocated: the configurations (one
/// byte per site and chain for the initial state, the backend's copy and the final
/// read-back, plus up to four bytes per site and chain, at most one storage binding of
/// 4 GiB, while a per-site GPU state is uploaded) and the measurement series (the integer
/// counts and four derived values per chain and measurement); cluster algorithms add their
/// work arrays.
fn host_memory_estimate(job: &Job) -> (u64, u64) {
    let chains = job.spec.chains as u64;
    let bits = job.spec.sites() as u64 * chains;
    let mut state = 3 * bits + (4 * bits).min(1 << 32);
    if job.spec.algorithm.is_cluster() {
        // per running chain: union-find parents, sizes and flips, or Wolff's marks, cluster
        // list and stack (at most 17 bytes per site)
        let running = chains.min(rayon::current_num_threads() as u64);
        state += 17 * job.spec.sites() as u64 * running;
    }
    let series = job.plan.measurements() as u64 * chains * (Counts::BYTES as u64 + 32);
    (state, series)
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// The verdict on a job needing `state + series` bytes when `available` are free: at most
/// 80 % of them may be used.
fn memory_verdict(state: u64, series: u64, available: Option<u64>) -> Result<()> {
    let need = state + series;
    match available {
        Some(avail) if need > avail / 5 * 4 => Err(Error::DeviceLimit(format!(
            "the job needs about {:.2} GiB of host memory ({:.2} GiB for the configurations, {:.2} GiB for the measurement series) but {:.2} GiB are available and at most 80 % of that is used; use fewer --chains, a smaller --size, or fewer measurements (--sweeps / --measure-every)",
            gib(need),
            gib(state),
            gib(series),
            gib(avail)
        ))),
        _ => Ok(()),
    }
}

/// `MemAvailable` of /proc/meminfo in bytes, where the system has it.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Refuses jobs whose host-side state does not fit the available memory.
fn check_host_memory(job: &Job) -> Result<()> {
    let (state, series) = host_memory_estimate(job);
    memory_verdict(state, series, available_memory())
}

fn open(job: &Job, backend: LatticeBackend, quiet: bool) -> Result<Box<dyn Sampler>> {
    let mut notice = |msg: &str| {
        if !quiet {
            eprintln!("{msg}");
        }
    };
    backend::open(backend, job.parameters.kernel, job.spec, &mut notice)
}

fn sites_per_sweep(job: &Job) -> u64 {
    job.spec.sites() as u64 * job.spec.chains as u64
}

/// Builds the results of a finished run.
pub fn results(job: &Job, info: BackendInfo, out: &RunOutput) -> RunResults {
    let model = job.spec.model;
    let chains = job.spec.chains as usize;
    let series = Series::from_counts(&model, &out.counts, chains);
    let (obs, analysis) = observables::estimate(&model, &series);
    let mean = |v: &[f64]| -> Vec<f64> {
        v.chunks(chains)
            .map(|c| c.iter().sum::<f64>() / chains as f64)
            .collect()
    };
    RunResults {
        parameters: job.parameters.clone(),
        backend: info,
        observables: obs,
        analysis,
        exact: reference::reference(&model),
        cluster: observables::cluster_estimates(&model, job.spec.algorithm, &out.counts, chains),
        mean_series: MeanSeries {
            first_sweep: job.plan.thermalize as u64 + job.plan.measure_every as u64,
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

fn format_table(r: &RunResults) -> String {
    let p = &r.parameters;
    let b = &r.backend;
    let a = &r.analysis;
    let mut s = String::new();
    s += &format!(
        "blockspin sample: {} L={} ({} sites), {} units, {}, beta={} (T={}), J={}, h={}\n",
        p.lattice,
        p.size,
        p.sites,
        p.units.name(),
        p.algorithm.name(),
        p.beta,
        p.temperature,
        p.coupling,
        p.field
    );
    s += &format!(
        "backend: {} ({}, {}), kernel {}; {} chains x {} measurements (every {} sweeps) after {} thermalization sweeps; blocks of {} ({} blocks)\n\n",
        b.kind,
        b.adapter,
        b.api,
        b.kernel,
        p.chains,
        a.measurements_per_chain,
        p.measure_every,
        p.thermalize,
        a.block_length,
        a.blocks
    );
    s += &format!(
        "{:<28} {:>14} {:>12} {:>9} {:>14} {:>7}\n",
        "observable", "mean", "error", "tau_int", "exact", "z"
    );
    for (name, e) in r.observables.named() {
        let tau = e
            .tau_int
            .map(|t| format!("{t:.2}"))
            .unwrap_or_else(|| "-".into());
        let exact = r.exact.as_ref().and_then(|x| x.get(name));
        let (ex, z) = match exact {
            Some(x) if e.error > 0.0 => {
                (format!("{x:.8}"), format!("{:.2}", (e.mean - x) / e.error))
            }
            Some(x) => (format!("{x:.8}"), "-".into()),
            None => ("-".into(), "-".into()),
        };
        s += &format!(
            "{name:<28} {:>14.8} {:>12.8} {tau:>9} {ex:>14} {z:>7}\n",
            e.mean, e.error
        );
    }
    if let Some(x) = &r.exact {
        s += &format!("exact: {}; z = (mean - exact) / error\n", x.source);
    }
    if let Some(c) = &r.cluster {
        s +=
            "\ncluster estimates (improved: from cluster sizes, zero Ising field and K > 0 only)\n";
        for (name, e) in c.named() {
            let tau = e
                .tau_int
                .map(|t| format!("{t:.2}"))
                .unwrap_or_else(|| "-".into());
            s += &format!("{name:<32} {:>10.6} {:>12.8} {tau:>9}\n", e.mean, e.error);
        }
    }
    for w in &a.warnings {
        s += &format!("warning: {w}\n");
    }
    s += &format!(
        "\nwall time {:.3} s, {:.4} spin updates/ns\n",
        r.timing.wall_seconds, r.timing.spin_updates_per_ns
    );
    s
}

/// Writes the per-measurement series as CSV.
fn write_series(path: &Path, job: &Job, counts: &[crate::model::Counts]) -> Result<()> {
    let model = job.spec.model;
    let chains = job.spec.chains as usize;
    let series = Series::from_counts(&model, counts, chains);
    io::write_atomic(path, |w| {
        writeln!(
            w,
            "measurement,sweep,chain,energy_per_site,magnetization_per_site"
        )?;
        for t in 0..series.shape.n_time {
            let sweep = job.plan.thermalize as u64 + (t as u64 + 1) * job.plan.measure_every as u64;
            for c in 0..chains {
                let i = t * chains + c;
                writeln!(
                    w,
                    "{t},{sweep},{c},{},{}",
                    series.energy[i], series.magnetization[i]
                )?;
            }
        }
        Ok(())
    })
}

/// Crossing of a scale-invariant observable (Binder cumulant U or ξ₂/L) of two sizes
/// between two temperatures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Crossing {
    /// `binder_cumulant` or `correlation_length_over_size`.
    #[serde(default = "binder_name")]
    pub observable: String,
    /// The smaller size.
    pub size_small: u32,
    /// The larger size.
    pub size_large: u32,
    /// Coupling of the curves.
    pub coupling: f64,
    /// Field of the curves.
    pub field: f64,
    /// Crossing temperature (linear interpolation of the difference large − small).
    pub temperature: f64,
    /// Its error, propagated from the jackknife errors of the four values involved.
    pub error: f64,
}

fn binder_name() -> String {
    "binder_cumulant".into()
}

/// The observables whose curves for different sizes cross at T_c: (name, value and
/// error of a point).
type Crossable = (&'static str, fn(&RunResults) -> Option<(f64, f64)>);

const CROSSABLE: [Crossable; 2] = [
    ("binder_cumulant", |p| {
        Some((
            p.observables.binder_cumulant.mean,
            p.observables.binder_cumulant.error,
        ))
    }),
    ("correlation_length_over_size", |p| {
        let l = p.parameters.size as f64;
        p.observables
            .correlation_length
            .as_ref()
            .map(|x| (x.mean / l, x.error / l))
    }),
];

/// Crossings of U(T) and of ξ₂/L between consecutive sizes for every (coupling, field).
pub fn crossings(points: &[RunResults]) -> Vec<Crossing> {
    CROSSABLE
        .iter()
        .flat_map(|&(name, value)| {
            let curves: Vec<CurvePoint> = points
                .iter()
                .filter_map(|p| {
                    value(p).map(|(v, e)| CurvePoint {
                        coupling: p.parameters.coupling,
                        field: p.parameters.field,
                        size: p.parameters.size,
                        temperature: p.parameters.temperature,
                        value: v,
                        error: e,
                    })
                })
                .collect();
            crossings_of(&curves, name)
        })
        .collect()
}

/// One point of a curve: an observable's value ± error at (J, h, L, T).
#[derive(Clone, Copy, Debug)]
struct CurvePoint {
    coupling: f64,
    field: f64,
    size: u32,
    temperature: f64,
    value: f64,
    error: f64,
}

/// Where the curves of consecutive sizes (same J and h) cross: linear interpolation of their
/// difference between neighbouring grid temperatures, error propagated from the four
/// values' errors.
fn crossings_of(points: &[CurvePoint], observable: &str) -> Vec<Crossing> {
    let mut out = Vec::new();
    let mut keys: Vec<(f64, f64)> = points.iter().map(|p| (p.coupling, p.field)).collect();
    keys.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    keys.dedup();
    for (j, h) in keys {
        let family: Vec<&CurvePoint> = points
            .iter()
            .filter(|p| p.coupling == j && p.field == h)
            .collect();
        let mut sizes: Vec<u32> = family.iter().map(|p| p.size).collect();
        sizes.sort();
        sizes.dedup();
        let curve = |l: u32| -> Vec<(f64, f64, f64)> {
            let mut c: Vec<(f64, f64, f64)> = family
                .iter()
                .filter(|p| p.size == l)
                .map(|p| (p.temperature, p.value, p.error))
                .collect();
            c.sort_by(|a, b| a.0.total_cmp(&b.0));
            c
        };
        for w in sizes.windows(2) {
            let (a, b) = (curve(w[0]), curve(w[1]));
            for i in 0..a.len().saturating_sub(1) {
                let (Some(b0), Some(b1)) = (
                    b.iter().find(|x| x.0 == a[i].0),
                    b.iter().find(|x| x.0 == a[i + 1].0),
                ) else {
                    continue;
                };
                let d0 = b0.1 - a[i].1;
                let d1 = b1.1 - a[i + 1].1;
                if !(d0.is_finite() && d1.is_finite()) || (d0 > 0.0) == (d1 > 0.0) || d0 == d1 {
                    continue;
                }
                let (t0, t1) = (a[i].0, a[i + 1].0);
                let t = t0 + (t1 - t0) * d0 / (d0 - d1);
                // dT/dd0 = (t1 - t0) * (-d1) / (d0 - d1)^2, dT/dd1 = (t1 - t0) * d0 / (d0 - d1)^2
                let g0 = (t1 - t0) * -d1 / (d0 - d1).powi(2);
                let g1 = (t1 - t0) * d0 / (d0 - d1).powi(2);
                let v0 = a[i].2.powi(2) + b0.2.powi(2);
                let v1 = a[i + 1].2.powi(2) + b1.2.powi(2);
                out.push(Crossing {
                    observable: observable.to_string(),
                    size_small: w[0],
                    size_large: w[1],
                    coupling: j,
                    field: h,
                    temperature: t,
                    error: (g0 * g0 * v0 + g1 * g1 * v1).sqrt(),
                });
            }
        }
    }
    out
}

/// Prints crossings.
pub fn print_crossings(c: &[Crossing]) {
    for (name, title) in [
        ("binder_cumulant", "Binder-cumulant"),
        ("correlation_length_over_size", "ξ₂/L"),
    ] {
        let of: Vec<&Crossing> = c.iter().filter(|x| x.observable == name).collect();
        if of.is_empty() {
            println!("no {title} crossings between consecutive sizes in the temperature range");
            continue;
        }
        println!("{title} crossings (linear interpolation between grid temperatures):");
        print_crossing_lines(&of);
    }
}

fn print_crossing_lines(c: &[&Crossing]) {
    for x in c {
        println!(
            "  L = {} and {} (J = {}, h = {}): T = {:.5} ± {:.5} (beta = {:.5})",
            x.size_small,
            x.size_large,
            x.coupling,
            x.field,
            x.temperature,
            x.error,
            1.0 / x.temperature
        );
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
    /// Binder-cumulant crossings.
    pub crossings: Vec<Crossing>,
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The job's CSV summary: one row per point with its parameters, every observable's mean
/// and error, and (last columns) the backend that ran it and the program that wrote it.
fn write_summary(path: &Path, points: &[RunResults], provenance: &Provenance) -> Result<()> {
    io::write_atomic(path, |w| {
        write!(
            w,
            "lattice,size,units,algorithm,beta,temperature,coupling,field,seed,chains"
        )?;
        let names: Vec<&str> = observables::Observables::names().to_vec();
        for n in &names {
            write!(w, ",{n},{n}_error")?;
        }
        writeln!(w, ",backend,kernel,adapter,api,version,git_revision")?;
        for p in points {
            let q = &p.parameters;
            write!(
                w,
                "{},{},{},{},{},{},{},{},{},{}",
                q.lattice,
                q.size,
                q.units.name(),
                q.algorithm.name(),
                q.beta,
                q.temperature,
                q.coupling,
                q.field,
                q.seed,
                q.chains
            )?;
            for n in &names {
                match p.observables.get(n) {
                    Some(e) => write!(w, ",{},{}", e.mean, e.error)?,
                    None => write!(w, ",,")?,
                }
            }
            let b = &p.backend;
            writeln!(
                w,
                ",{},{},{},{},{},{}",
                csv_field(&b.kind),
                csv_field(&b.kernel),
                csv_field(&b.adapter),
                csv_field(&b.api),
                csv_field(&provenance.version),
                csv_field(&provenance.git_revision)
            )?;
        }
        Ok(())
    })
}

/// Signal state: set by SIGINT/SIGTERM when checkpointing.
struct Signals {
    flag: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

fn register_signals() -> Result<Signals> {
    let flag = Arc::new(AtomicBool::new(false));
    let which = Arc::new(AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let (f, w) = (flag.clone(), which.clone());
        // SAFETY: the handler only stores to atomics, which is async-signal-safe.
        unsafe {
            signal_hook::low_level::register(sig, move || {
                w.store(sig as usize, Ordering::SeqCst);
                f.store(true, Ordering::SeqCst);
            })
        }
        .map_err(|e| Error::Io {
            path: PathBuf::from("signal handler"),
            source: e,
        })?;
    }
    Ok(Signals { flag, which })
}

/// `blockspin sample`. Returns the exit status (0, or 128 + signal after a checkpointed
/// interruption).
///
/// # Errors
/// See [`SampleArgs::plan`] and the backends.
pub fn run(args: &SampleArgs) -> Result<i32> {
    let (plan, resume) = match &args.resume {
        Some(path) => {
            let ck = Checkpoint::read(path)?;
            let stored: Plan = serde_json::from_value(ck.header.job.clone()).map_err(|e| {
                Error::invalid(
                    "--resume",
                    format!("{}: unreadable job description ({e})", path.display()),
                )
            })?;
            (merge_resume(&stored, args)?, Some(ck))
        }
        None => (args.plan()?, None),
    };
    let checkpoint_path = args.checkpoint.clone().or_else(|| args.resume.clone());
    let signals = match &checkpoint_path {
        Some(_) => Some(register_signals()?),
        None => None,
    };
    let mut completed: Vec<RunResults> = match &resume {
        Some(ck) => ck
            .header
            .completed
            .iter()
            .map(|v| serde_json::from_value(v.clone()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::invalid("--resume", format!("unreadable completed point ({e})")))?,
        None => Vec::new(),
    };
    let mut current = resume.as_ref().and_then(|ck| {
        ck.header
            .current
            .clone()
            .map(|c| (c, ck.bits.clone(), ck.counts.clone()))
    });
    let job_value = serde_json::to_value(&plan).map_err(|e| Error::Internal(e.to_string()))?;
    let n_points = plan.points.len();
    let mut last_checkpoint = Instant::now();
    while completed.len() < n_points {
        let index = completed.len();
        let job = Job::from_parameters(&plan.points[index])?;
        check_host_memory(&job)?;
        let mut sampler = open(&job, job.parameters.backend, args.quiet)?;
        let start = match current.take() {
            Some((c, bits, counts)) if c.index == index => {
                sampler.restore(&bits, c.sweeps_done as u32)?;
                Progress {
                    sweeps_done: c.sweeps_done,
                    counts,
                    wall_seconds: c.wall_seconds,
                }
            }
            _ => Progress::default(),
        };
        let total = job.plan.total_sweeps();
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix}sweeps {pos}/{len} [{bar:40}] {elapsed_precise} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        if plan.grid {
            bar.set_prefix(format!("point {}/{n_points}: ", index + 1));
        }
        let can_show = !args.quiet && std::io::stderr().is_terminal();
        let started = Instant::now();
        let mut shown = false;
        let mut interrupted = None;
        let out = run::run_resumable(
            sampler.as_mut(),
            &job.plan,
            sites_per_sweep(&job),
            start,
            &mut |s, p| {
                if can_show && !shown && started.elapsed() > Duration::from_secs(1) {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    shown = true;
                }
                bar.set_position(p.sweeps_done);
                let signalled = signals
                    .as_ref()
                    .is_some_and(|sg| sg.flag.load(Ordering::SeqCst));
                if let Some(path) = &checkpoint_path {
                    if signalled || last_checkpoint.elapsed().as_secs_f64() >= args.checkpoint_every
                    {
                        let ck = Checkpoint {
                            header: Header {
                                version: env!("CARGO_PKG_VERSION").into(),
                                job: job_value.clone(),
                                completed: completed
                                    .iter()
                                    .map(|r| serde_json::to_value(r).unwrap_or_default())
                                    .collect(),
                                current: Some(Current {
                                    index,
                                    sweeps_done: p.sweeps_done,
                                    wall_seconds: p.wall_seconds,
                                }),
                            },
                            bits: s.configurations()?,
                            counts: p.counts.clone(),
                        };
                        ck.write(path)?;
                        last_checkpoint = Instant::now();
                        if signalled {
                            interrupted =
                                signals.as_ref().map(|sg| sg.which.load(Ordering::SeqCst));
                            return Ok(Control::Stop);
                        }
                    }
                }
                Ok(Control::Continue)
            },
        )?;
        bar.finish_and_clear();
        let Some(out) = out else {
            let sig = interrupted.unwrap_or(15);
            eprintln!(
                "interrupted: checkpoint written to {}; continue with `blockspin sample --resume {}`",
                checkpoint_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                checkpoint_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            return Ok(128 + sig as i32);
        };
        let info = sampler.info();
        let r = results(&job, info, &out);
        if !plan.grid {
            if let Some(p) = &plan.series {
                write_series(p, &job, &out.counts)?;
            }
            if let Some(p) = &plan.save_state {
                let state = sampler.configurations()?;
                let model = job.spec.model;
                let values: Vec<i8> = state.iter().map(|&b| model.units.value(b)).collect();
                let mut shape = vec![job.spec.chains as usize];
                shape.extend(model.lattice.shape());
                io::write_atomic(p, |w| io::write_npy_i8(w, &shape, &values))?;
            }
        } else {
            let o = &r.observables;
            println!(
                "point {}/{n_points}: L={} T={:.5} J={} h={}  e={:.6}±{:.6}  |m|={:.5}±{:.5}  c={:.4}±{:.4}  U={:.5}±{:.5}  [{} {}]",
                index + 1,
                r.parameters.size,
                r.parameters.temperature,
                r.parameters.coupling,
                r.parameters.field,
                o.energy_per_site.mean,
                o.energy_per_site.error,
                o.abs_magnetization_per_site.mean,
                o.abs_magnetization_per_site.error,
                o.specific_heat_per_site.mean,
                o.specific_heat_per_site.error,
                o.binder_cumulant.mean,
                o.binder_cumulant.error,
                r.backend.kind,
                r.backend.kernel
            );
        }
        completed.push(r);
        // a checkpoint at each point boundary keeps finished points safe
        if let Some(path) = &checkpoint_path {
            let ck = Checkpoint {
                header: Header {
                    version: env!("CARGO_PKG_VERSION").into(),
                    job: job_value.clone(),
                    completed: completed
                        .iter()
                        .map(|r| serde_json::to_value(r).unwrap_or_default())
                        .collect(),
                    current: None,
                },
                bits: Vec::new(),
                counts: Vec::new(),
            };
            ck.write(path)?;
            last_checkpoint = Instant::now();
        }
    }
    let provenance = Provenance::current();
    if plan.grid {
        let cross = crossings(&completed);
        let results = JobResults {
            schema: "blockspin/job/1".into(),
            provenance,
            job_seed: plan.job_seed,
            points: completed.clone(),
            crossings: cross.clone(),
        };
        if let Some(p) = &plan.output {
            write_json(p, &results)?;
        }
        if let Some(p) = &plan.summary {
            write_summary(p, &completed, &results.provenance)?;
        }
        println!();
        print_crossings(&cross);
    } else {
        let r = &completed[0];
        if let Some(p) = &plan.output {
            let mut v = serde_json::to_value(r).map_err(|e| Error::Internal(e.to_string()))?;
            v["schema"] = "blockspin/sample/1".into();
            v["version"] = env!("CARGO_PKG_VERSION").into();
            v["provenance"] = serde_json::to_value(&provenance).unwrap_or_default();
            write_json(p, &v)?;
        }
        print!("{}", format_table(r));
    }
    Ok(0)
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    io::write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, v).map_err(std::io::Error::other)?;
        writeln!(w)
    })
}

/// The stored plan with the flags a resume may change: sweeps, the device (every kernel is
/// bit-identical on the CPU and the GPU), outputs. Physical changes and another kernel are
/// refused.
fn merge_resume(stored: &Plan, args: &SampleArgs) -> Result<Plan> {
    let mut plan = stored.clone();
    let physical = [
        ("--lattice", args.lattice.is_some()),
        ("--size", args.size.is_some()),
        ("--units", args.units.is_some()),
        ("--beta", args.beta.is_some()),
        ("--temperature", args.temperature.is_some()),
        ("--coupling", args.coupling.is_some()),
        ("--field", args.field.is_some()),
        ("--algorithm", args.algorithm.is_some()),
        ("--thermalize", args.thermalize.is_some()),
        ("--measure-every", args.measure_every.is_some()),
        ("--chains", args.chains.is_some()),
        ("--seed", args.seed.is_some()),
        ("--start", args.start.is_some()),
    ];
    if args.job.is_some() {
        return Err(Error::invalid(
            "--job",
            "a resumed job keeps its own job description; give --resume alone (with --sweeps or outputs)",
        ));
    }
    if let Some((flag, _)) = physical.iter().find(|x| x.1) {
        // every given flag must repeat the checkpointed value at every point
        let beta = args.temperature.map(|t| 1.0 / t).or(args.beta);
        let same = plan.points.iter().all(|p| {
            args.lattice.is_none_or(|v| v == p.lattice)
                && args.size.is_none_or(|v| v == p.size)
                && args.units.is_none_or(|v| v == p.units)
                && beta.is_none_or(|v| v == p.beta)
                && args.coupling.is_none_or(|v| v == p.coupling)
                && args.field.is_none_or(|v| v == p.field)
                && args.algorithm.is_none_or(|v| v == p.algorithm)
                && args.thermalize.is_none_or(|v| v == p.thermalize)
                && args.measure_every.is_none_or(|v| v == p.measure_every)
                && args.chains.is_none_or(|v| v == p.chains)
                && args.start.is_none_or(|v| v == p.start)
        }) && args.seed.is_none_or(|v| v == stored.job_seed);
        if !same {
            return Err(Error::invalid(
                "--resume",
                format!(
                    "{flag} changes the physics of the checkpointed job; only --sweeps, --backend, outputs and checkpoint flags may change"
                ),
            ));
        }
    }
    for p in &mut plan.points {
        if let Some(s) = args.sweeps {
            p.sweeps = s;
        }
        // checkpoints written before kernels were recorded ran the family of their backend
        if p.kernel == Kernel::Auto {
            p.kernel = match p.backend {
                LatticeBackend::CpuFast | LatticeBackend::GpuFast => Kernel::Chains,
                _ => Kernel::Reference,
            };
        }
        if let Some(b) = args.backend {
            if matches!(b, LatticeBackend::CpuFast | LatticeBackend::GpuFast)
                && p.kernel != Kernel::Chains
            {
                return Err(Error::invalid(
                    "--backend",
                    format!(
                        "{} means --kernel chains but the checkpointed job runs the {} kernel; kernels draw different random streams, so a resumed job keeps its kernel (give --backend {})",
                        b.name(),
                        p.kernel,
                        b.device().name()
                    ),
                ));
            }
            p.backend = b;
        }
        if let Some(k) = args.kernel
            && k != Kernel::Auto
            && k != p.kernel
        {
            return Err(Error::invalid(
                "--kernel",
                format!(
                    "the checkpointed job runs the {} kernel; kernels draw different random streams, so a resumed job keeps its kernel",
                    p.kernel
                ),
            ));
        }
        Job::from_parameters(p)?;
    }
    for (dst, src) in [
        (&mut plan.output, &args.output),
        (&mut plan.summary, &args.summary),
        (&mut plan.series, &args.series),
        (&mut plan.save_state, &args.save_state),
    ] {
        if src.is_some() {
            *dst = src.clone();
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossings_interpolate_and_propagate_errors() {
        // U_8 = 0.6 - 0.1 (T - 2), U_16 = 0.62 - 0.3 (T - 2): cross at T = 2.1
        let point = |size, temperature: f64, value, error| CurvePoint {
            coupling: 1.0,
            field: 0.0,
            size,
            temperature,
            value,
            error,
        };
        let line = |size, a: f64, b: f64| {
            [2.0, 2.2, 2.4].map(|t| point(size, t, a - b * (t - 2.0), 0.001))
        };
        let mut pts: Vec<CurvePoint> = line(8, 0.6, 0.1).to_vec();
        pts.extend(line(16, 0.62, 0.3));
        let c = crossings_of(&pts, "binder_cumulant");
        assert_eq!(c.len(), 1);
        assert!((c[0].temperature - 2.1).abs() < 1e-12, "{c:?}");
        assert_eq!((c[0].size_small, c[0].size_large), (8, 16));
        // d0 = 0.02, d1 = -0.02 over ΔT = 0.2: dT/dd = ΔT/(2·0.04) = 2.5 each, four errors
        // of 0.001: σ_T = 2.5 · 0.001 · 2 = 0.005
        assert!((c[0].error - 0.005).abs() < 1e-12, "{c:?}");
        // parallel curves do not cross; another field is another family
        let mut far = line(32, 0.9, 0.3).to_vec();
        far.iter_mut().for_each(|p| p.field = 0.5);
        pts.extend(far);
        assert_eq!(crossings_of(&pts, "x").len(), 1);
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("rayon"), "rayon");
        assert_eq!(csv_field("vulkan, row-packed"), "\"vulkan, row-packed\"");
        assert_eq!(csv_field("a \"b\""), "\"a \"\"b\"\"\"");
    }

    #[test]
    fn memory_verdict_gives_the_numbers() {
        let gib = 1u64 << 30;
        assert!(memory_verdict(gib, gib, Some(10 * gib)).is_ok());
        assert!(memory_verdict(gib, gib, None).is_ok());
        let e = memory_verdict(3 * gib, gib, Some(4 * gib)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        for part in [
            "4.00 GiB of host memory",
            "3.00 GiB for the configurations",
            "1.00 GiB for the measurement series",
            "4.00 GiB are available",
        ] {
            assert!(msg.contains(part), "{msg}");
        }
    }

    #[test]
    fn the_estimate_counts_configurations_and_series() {
        let p = Parameters {
            lattice: LatticeKind::Square,
            size: 64,
            sites: 64 * 64,
            units: Units::Spin,
            beta: 0.4,
            temperature: 2.5,
            coupling: 1.0,
            field: 0.0,
            algorithm: Algorithm::HeatBath,
            thermalize: 10,
            sweeps: 1000,
            measure_every: 1,
            chains: 10,
            seed: 1,
            start: Start::Hot,
            backend: LatticeBackend::Cpu,
            kernel: Kernel::Auto,
        };
        let job = Job::from_parameters(&p).unwrap();
        let (state, series) = host_memory_estimate(&job);
        assert_eq!(state, 7 * 64 * 64 * 10);
        assert_eq!(series, 1000 * 10 * (Counts::BYTES as u64 + 32));
    }
}
