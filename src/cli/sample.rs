//! `blockspin sample`: one sampling job from flags.

use crate::backend::{self, BackendInfo, ChainSpec, LatticeBackend, Start};
use crate::error::{Error, Result};
use crate::exact::reference::{self, Reference};
use crate::io;
use crate::lattice::{Lattice, LatticeKind};
use crate::model::{Algorithm, Model, Units};
use crate::observables::{self, Analysis, Observables, Series};
use crate::run::{self, RunOutput, RunPlan};
use clap::ArgGroup;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `blockspin sample`.
///
/// Energy E = −J Σ_<ij> x_i x_j − h Σ_i x_i with x = ±1 (spin) or 0/1 (bernoulli),
/// weight e^{−βE}.
#[derive(Debug, Clone, clap::Args)]
#[command(args_override_self = true)]
#[command(group(ArgGroup::new("temperature_or_beta").required(true).args(["beta", "temperature"])))]
pub struct SampleArgs {
    /// Lattice (periodic).
    #[arg(long, value_enum, default_value_t = LatticeKind::Square)]
    pub lattice: LatticeKind,
    /// Linear size L (≥ 4; even for chain/square/cubic, a multiple of 3 for triangular).
    #[arg(long, default_value_t = 16, allow_negative_numbers = true)]
    pub size: u32,
    /// Unit values: spin (±1) or bernoulli (0/1).
    #[arg(long, value_enum, default_value_t = Units::Spin)]
    pub units: Units,
    /// Inverse temperature β > 0 (give this or --temperature).
    #[arg(long, allow_negative_numbers = true)]
    pub beta: Option<f64>,
    /// Temperature T = 1/β > 0 (k_B = 1).
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f64>,
    /// Coupling J (negative: antiferromagnet).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub coupling: f64,
    /// Field h.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub field: f64,
    /// Update rule.
    #[arg(long, value_enum, default_value_t = Algorithm::HeatBath)]
    pub algorithm: Algorithm,
    /// Sweeps discarded before measuring.
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub thermalize: u32,
    /// Sweeps after thermalization.
    #[arg(long, default_value_t = 10000, allow_negative_numbers = true)]
    pub sweeps: u32,
    /// Measure every K sweeps.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub measure_every: u32,
    /// Independent chains (run in parallel).
    #[arg(long, default_value_t = 16, allow_negative_numbers = true)]
    pub chains: u32,
    /// Seed of the counter-based RNG (same seed, same result on every backend).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// Initial configuration: hot (random) or cold (all bits 1: spins up / sites occupied).
    #[arg(long, value_enum, default_value_t = Start::Hot)]
    pub start: Start,
    /// auto: GPU if an adapter exists, else CPU; gpu: GPU only; cpu: multi-threaded CPU
    /// (bit-identical to gpu); gpu-fast / cpu-fast: multi-spin coded, 32 chains per word
    /// (bit-identical to each other).
    #[arg(long, value_enum, default_value_t = LatticeBackend::Auto)]
    pub backend: LatticeBackend,
    /// Write results (JSON, schema blockspin/sample/1).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write the per-measurement, per-chain series (CSV).
    #[arg(long)]
    pub series: Option<PathBuf>,
    /// Write the final configurations (NPY int8, shape [chains, L(, L(, L))], unit values).
    #[arg(long)]
    pub save_state: Option<PathBuf>,
    /// No progress bar or notices on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Every resolved parameter of a run, as recorded in the results.
#[derive(Clone, Debug, Serialize)]
pub struct Parameters {
    /// Lattice.
    pub lattice: LatticeKind,
    /// L.
    pub size: u32,
    /// Sites per chain.
    pub sites: u32,
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
    /// Seed.
    pub seed: u64,
    /// Start.
    pub start: Start,
    /// Backend requested.
    pub backend: LatticeBackend,
}

/// The results file.
#[derive(Clone, Debug, Serialize)]
pub struct SampleResults {
    /// "blockspin/sample/1".
    pub schema: &'static str,
    /// Program version.
    pub version: &'static str,
    /// Resolved parameters.
    pub parameters: Parameters,
    /// Backend that ran the job.
    pub backend: BackendInfo,
    /// Estimates.
    pub observables: Observables,
    /// Blocking used for the errors.
    pub analysis: Analysis,
    /// Exact values for this model where known (null otherwise).
    pub exact: Option<Reference>,
    /// Timing.
    pub timing: Timing,
}

/// Timing of a run.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Timing {
    /// Wall time of all sweeps and measurements.
    pub wall_seconds: f64,
    /// Site updates per nanosecond.
    pub spin_updates_per_ns: f64,
}

/// A validated job.
pub struct Job {
    /// Chains.
    pub spec: ChainSpec,
    /// Sweeps.
    pub plan: RunPlan,
    /// Parameters for the record.
    pub parameters: Parameters,
}

impl SampleArgs {
    /// Validates every parameter (before anything runs or is written).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first offending flag.
    pub fn job(&self) -> Result<Job> {
        let beta = match (self.beta, self.temperature) {
            (Some(b), None) => b,
            (None, Some(t)) => {
                if !(t.is_finite() && t > 0.0) {
                    return Err(Error::invalid(
                        "--temperature",
                        format!("must be a finite number > 0 (got {t})"),
                    ));
                }
                1.0 / t
            }
            _ => {
                return Err(Error::invalid(
                    "--beta",
                    "give exactly one of --beta and --temperature",
                ));
            }
        };
        let lattice = Lattice::new(self.lattice, self.size)?;
        let model = Model::new(lattice, self.units, beta, self.coupling, self.field)?;
        let spec = ChainSpec::new(model, self.algorithm, self.chains, self.seed, self.start)?;
        let plan = RunPlan::new(self.thermalize, self.sweeps, self.measure_every)?;
        for (param, path) in [
            ("--output", &self.output),
            ("--series", &self.series),
            ("--save-state", &self.save_state),
        ] {
            if let Some(p) = path {
                io::check_output_path(param, p)?;
            }
        }
        let parameters = Parameters {
            lattice: self.lattice,
            size: self.size,
            sites: lattice.sites(),
            units: self.units,
            beta,
            temperature: 1.0 / beta,
            coupling: self.coupling,
            field: self.field,
            algorithm: self.algorithm,
            thermalize: self.thermalize,
            sweeps: self.sweeps,
            measure_every: self.measure_every,
            chains: self.chains,
            seed: self.seed,
            start: self.start,
            backend: self.backend,
        };
        Ok(Job {
            spec,
            plan,
            parameters,
        })
    }
}

/// Refuses jobs whose host-side state does not fit the available memory.
fn check_host_memory(spec: &ChainSpec) -> Result<()> {
    // initial bits (1 byte/site) plus the backend's copy (up to 4 bytes/site)
    let need = 5 * spec.sites() as u64 * spec.chains as u64;
    let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") else {
        return Ok(());
    };
    let available = meminfo
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024);
    match available {
        Some(avail) if need > avail / 5 * 4 => Err(Error::DeviceLimit(format!(
            "the job needs about {:.2} GiB of host memory; {:.2} GiB are available and at most 80 % of that is used; use fewer --chains or a smaller --size",
            need as f64 / (1u64 << 30) as f64,
            avail as f64 / (1u64 << 30) as f64
        ))),
        _ => Ok(()),
    }
}

fn progress_bar(total: u64, quiet: bool) -> (ProgressBar, bool) {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} sweeps {pos}/{len} [{bar:40}] {elapsed_precise} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let can_show = !quiet && std::io::stderr().is_terminal();
    (bar, can_show)
}

/// Runs a validated job on the chosen backend.
///
/// # Errors
/// Backend and I/O errors.
pub fn execute(
    job: &Job,
    backend: LatticeBackend,
    quiet: bool,
) -> Result<(BackendInfo, RunOutput, Vec<u8>)> {
    check_host_memory(&job.spec)?;
    let mut notice = |msg: &str| {
        if !quiet {
            eprintln!("{msg}");
        }
    };
    let mut sampler = backend::open(backend, job.spec, &mut notice)?;
    let (bar, can_show) = progress_bar(job.plan.total_sweeps(), quiet);
    let started = Instant::now();
    let mut shown = false;
    let sites = job.spec.sites() as u64 * job.spec.chains as u64;
    let out = run::run(sampler.as_mut(), &job.plan, sites, &mut |done, _| {
        if can_show && !shown && started.elapsed() > Duration::from_secs(1) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            shown = true;
        }
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    let state = sampler.configurations()?;
    Ok((sampler.info(), out, state))
}

fn format_table(results: &SampleResults) -> String {
    let p = &results.parameters;
    let b = &results.backend;
    let a = &results.analysis;
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
        "backend: {} ({}, {}); {} chains x {} measurements (every {} sweeps) after {} thermalization sweeps; blocks of {} ({} blocks)\n\n",
        b.kind,
        b.adapter,
        b.api,
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
    for (name, e) in results.observables.named() {
        let tau = e
            .tau_int
            .map(|t| format!("{t:.2}"))
            .unwrap_or_else(|| "-".into());
        let exact = results.exact.as_ref().and_then(|r| r.get(name));
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
    if let Some(r) = &results.exact {
        s += &format!("exact: {}; z = (mean - exact) / error\n", r.source);
    }
    for w in &a.warnings {
        s += &format!("warning: {w}\n");
    }
    s += &format!(
        "\nwall time {:.3} s, {:.4} spin updates/ns\n",
        results.timing.wall_seconds, results.timing.spin_updates_per_ns
    );
    s
}

/// Writes the per-measurement series as CSV.
fn write_series(path: &std::path::Path, job: &Job, series: &Series) -> Result<()> {
    let chains = series.shape.n_chains;
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

/// `blockspin sample`.
///
/// # Errors
/// See [`SampleArgs::job`] and [`execute`].
pub fn run(args: &SampleArgs) -> Result<()> {
    let job = args.job()?;
    let (info, out, state) = execute(&job, args.backend, args.quiet)?;
    let model = job.spec.model;
    let series = Series::from_counts(&model, &out.counts, job.spec.chains as usize);
    let (obs, analysis) = observables::estimate(&model, &series);
    let results = SampleResults {
        schema: "blockspin/sample/1",
        version: env!("CARGO_PKG_VERSION"),
        parameters: job.parameters.clone(),
        backend: info,
        observables: obs,
        analysis,
        exact: reference::reference(&model),
        timing: Timing {
            wall_seconds: out.wall_seconds,
            spin_updates_per_ns: out.spin_updates_per_ns(),
        },
    };
    if let Some(path) = &args.output {
        io::write_atomic(path, |w| {
            serde_json::to_writer_pretty(&mut *w, &results).map_err(std::io::Error::other)?;
            writeln!(w)
        })?;
    }
    if let Some(path) = &args.series {
        write_series(path, &job, &series)?;
    }
    if let Some(path) = &args.save_state {
        let values: Vec<i8> = state.iter().map(|&b| model.units.value(b)).collect();
        let mut shape = vec![job.spec.chains as usize];
        shape.extend(model.lattice.shape());
        io::write_atomic(path, |w| io::write_npy_i8(w, &shape, &values))?;
    }
    print!("{}", format_table(&results));
    Ok(())
}
