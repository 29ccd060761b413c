//! `blockspin sample`: flags → [`Settings`], then the library's job runner
//! ([`crate::job::runner`]) with a progress bar, signal handling and printing.

use crate::analysis::Crossing;
use crate::backend::{Kernel, LatticeBackend, Start};
use crate::equilibration::{DRIFT_Z_LIMIT, Equilibration};
use crate::error::{Error, Result};
use crate::job::checkpoint::Checkpoint;
use crate::job::file::JobFile;
use crate::job::runner::{self, CheckpointPolicy, Hooks, Outcome};
use crate::job::settings::Thermalize;
use crate::job::shard::Shard;
use crate::job::{self, RunResults, Settings};
use crate::lattice::LatticeKind;
use crate::model::{Algorithm, Units};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

use std::time::{Duration, Instant};

/// The flags that say what to sample and how: shared by `sample` and `mcrg`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SamplingArgs {
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
    /// Sweeps discarded before measuring, or auto: thermalize in doubling windows
    /// (32 sweeps, then 32, 64, 128, … more) until the drift test passes on the energy and
    /// |m| in the last window, at most --thermalize-cap sweeps; the sweeps it took are
    /// recorded as parameters.thermalize. A Wolff thermalization sweep grows clusters until
    /// they cover N sites [default: 1000].
    #[arg(long, allow_negative_numbers = true, value_name = "SWEEPS|auto")]
    pub thermalize: Option<Thermalize>,
    /// Most sweeps --thermalize auto may run [default: 1048576].
    #[arg(long, allow_negative_numbers = true)]
    pub thermalize_cap: Option<u32>,
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
}

/// Arguments of `blockspin sample`.
///
/// Energy E = −J Σ_<ij> x_i x_j − h Σ_i x_i with x = ±1 (spin) or 0/1 (bernoulli),
/// weight e^{−βE}. Flags override the values of a `--job` file.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(args_override_self = true)]
pub struct SampleArgs {
    /// What to sample and how.
    #[command(flatten)]
    pub sampling: SamplingArgs,
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
    /// Write a checkpoint here every --checkpoint-every seconds, after every grid point, and
    /// on SIGINT, SIGTERM or SIGUSR1 (then exit with 128 + the signal: 130, 143, 138).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Seconds between checkpoints.
    #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
    pub checkpoint_every: f64,
    /// Continue the job of this checkpoint (flags may change --sweeps and outputs, not physics).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// With --checkpoint: continue from it if the file exists (it must hold this very job),
    /// else start; so rerunning the same command, e.g. a requeued array task, continues.
    #[arg(long, requires = "checkpoint", conflicts_with = "resume")]
    pub resume_if_exists: bool,
    /// Run only shard I of N of the job's grid points (points i with i mod N = I; each keeps
    /// its seed from the whole job), or `slurm`: I = SLURM_ARRAY_TASK_ID −
    /// SLURM_ARRAY_TASK_MIN, N = SLURM_ARRAY_TASK_COUNT. Combine the shards' outputs with
    /// `blockspin merge`.
    #[arg(long, value_name = "I/N|slurm")]
    pub shard: Option<String>,
    /// No progress bar or notices on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl SamplingArgs {
    /// The library's settings of these flags (no outputs).
    pub fn settings(&self) -> Settings {
        Settings {
            lattice: self.lattice,
            size: self.size,
            units: self.units,
            beta: self.beta,
            temperature: self.temperature,
            coupling: self.coupling,
            field: self.field,
            algorithm: self.algorithm,
            thermalize: self.thermalize,
            thermalize_cap: self.thermalize_cap,
            sweeps: self.sweeps,
            measure_every: self.measure_every,
            chains: self.chains,
            seed: self.seed,
            start: self.start,
            backend: self.backend,
            kernel: self.kernel,
            ..Settings::default()
        }
    }
}

impl SampleArgs {
    /// The library's settings of these flags (paths and run options only; `--job`,
    /// `--checkpoint` and `--resume` are the CLI's).
    pub fn settings(&self) -> Settings {
        Settings {
            output: self.output.clone(),
            summary: self.summary.clone(),
            series: self.series.clone(),
            save_state: self.save_state.clone(),
            shard: None,
            ..self.sampling.settings()
        }
    }
}

fn shard_name(s: Option<Shard>) -> String {
    s.map_or_else(|| "none".into(), |s| s.to_string())
}

/// The job file of `--job`, read and parsed.
fn read_job_file(path: &std::path::Path) -> Result<JobFile> {
    let text = crate::io::read_text_capped("job", path, crate::io::caps::JOB)?;
    JobFile::parse(&path.display().to_string(), &text)
}

/// The table printed after a single run.
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
        "backend: {} ({}, {}), kernel {}; {} chains x {} measurements (every {} sweeps) after {} thermalization sweeps{}; blocks of {} ({} blocks)\n\n",
        b.kind,
        b.adapter,
        b.api,
        b.kernel,
        p.chains,
        a.measurements_per_chain,
        p.measure_every,
        p.thermalize,
        match p.thermalize_auto {
            Some(t) => format!(
                " (auto, cap {}: {})",
                t.cap,
                match (t.passed, t.windows) {
                    (Some(true), Some(w)) => format!("window {w} passed the drift test"),
                    (_, Some(w)) => format!("{w} windows, none passed"),
                    _ => "not run".into(),
                }
            ),
            None => String::new(),
        },
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
    s += &equilibration_line(&a.equilibration);
    for w in &a.warnings {
        s += &format!("warning: {w}\n");
    }
    s += &format!(
        "\nwall time {:.3} s, {:.4} spin updates/ns\n",
        r.timing.wall_seconds, r.timing.spin_updates_per_ns
    );
    s
}

/// The drift tests in one line: each observable's z, the verdict and the MSER cut.
pub fn equilibration_line(e: &Equilibration) -> String {
    let Some(ok) = e.equilibrated else {
        return "\nequilibration: too few measurements to test for drift\n".into();
    };
    let zs: Vec<String> = e
        .drift
        .iter()
        .map(|d| {
            let head = if d.head_fraction > 0.25 {
                "half"
            } else {
                "tenth"
            };
            format!("{} {:.2} (first {head})", d.observable, d.z)
        })
        .collect();
    format!(
        "\nequilibration: drift z of the head against the rest {}; {}; a MSER cut would discard {} of {} measurements\n",
        zs.join(", "),
        if ok {
            format!("equilibrated (|z| <= {DRIFT_Z_LIMIT})")
        } else {
            format!("NOT EQUILIBRATED (|z| > {DRIFT_Z_LIMIT})")
        },
        e.mser_discard,
        e.measurements
    )
}

/// Prints crossings.
pub fn print_crossings(c: &[Crossing]) {
    for (name, title) in [
        ("binder_cumulant", "Binder-cumulant"),
        ("correlation_length_over_size", "ξ₂/L"),
    ] {
        let of: Vec<&Crossing> = c.iter().filter(|x| x.observable == name).collect();
        if of.is_empty() {
            say!("no {title} crossings between consecutive sizes in the temperature range");
            continue;
        }
        say!("{title} crossings (linear interpolation between grid temperatures):");
        print_crossing_lines(&of);
    }
}

fn print_crossing_lines(c: &[&Crossing]) {
    for x in c {
        say!(
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

/// The CLI's runner hooks: a progress bar on a terminal (after the first second), backend
/// notices on stderr, a line per finished grid point, and SIGINT/SIGTERM/SIGUSR1 as a stop
/// request.
struct CliHooks {
    quiet: bool,
    grid: bool,
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

impl Hooks for CliHooks {
    fn notice(&mut self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    fn point_started(&mut self, index: usize, points: usize, total_sweeps: u64) {
        self.bar = ProgressBar::with_draw_target(Some(total_sweeps), ProgressDrawTarget::hidden());
        self.bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix}sweeps {pos}/{len} [{bar:40}] {elapsed_precise} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        if self.grid {
            self.bar
                .set_prefix(format!("point {}/{points}: ", index + 1));
        }
        self.started = Instant::now();
        self.shown = false;
    }

    fn progress(&mut self, sweeps_done: u64) {
        if !self.quiet
            && !self.shown
            && self.started.elapsed() > Duration::from_secs(1)
            && std::io::stderr().is_terminal()
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(sweeps_done);
    }

    fn stop_requested(&mut self) -> bool {
        crate::interrupt::requested().is_some()
    }

    fn point_finished(&mut self, index: usize, points: usize, r: &RunResults) {
        self.bar.finish_and_clear();
        if !self.grid {
            return;
        }
        let o = &r.observables;
        say!(
            "point {}/{points}: L={} T={:.5} J={} h={}  e={:.6}±{:.6}  |m|={:.5}±{:.5}  c={:.4}±{:.4}  U={:.5}±{:.5}  [{} {}]",
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
}

/// `blockspin sample`. Returns the exit status (0, or 128 + signal after a checkpointed
/// interruption).
///
/// # Errors
/// See [`job::resolve`], [`job::resume`] and [`runner::run`].
pub fn run(args: &SampleArgs) -> Result<i32> {
    let mut settings = args.settings();
    settings.shard = args
        .shard
        .as_deref()
        .map(|s| Shard::parse(s, &|k| std::env::var(k).ok()))
        .transpose()?;
    let existing = args
        .checkpoint
        .as_ref()
        .filter(|p| args.resume_if_exists && p.exists());
    let (spec, resume) = match (&args.resume, existing) {
        (_, Some(path)) => {
            let file = args.job.as_deref().map(read_job_file).transpose()?;
            let spec = job::resolve(&settings, file.as_ref())?;
            let ck = Checkpoint::read(path)?;
            if ck.header.job.hash() != spec.hash() || ck.header.job.shard != spec.shard {
                return Err(Error::invalid(
                    "resume-if-exists",
                    format!(
                        "{} holds another job (job {}, shard {}; this command's is job {}, shard {}); remove it or give another --checkpoint",
                        path.display(),
                        ck.header.job.hash(),
                        shard_name(ck.header.job.shard),
                        spec.hash(),
                        shard_name(spec.shard)
                    ),
                ));
            }
            if !args.quiet {
                eprintln!(
                    "resuming from {} ({} of {} points done)",
                    path.display(),
                    ck.header.completed.len(),
                    spec.selected().len()
                );
            }
            (spec, Some(ck))
        }
        (Some(path), None) => {
            if args.job.is_some() {
                return Err(Error::invalid(
                    "job",
                    "a resumed job keeps its own job description; give --resume alone (with --sweeps or outputs)",
                ));
            }
            let ck = Checkpoint::read(path)?;
            (job::resume(&ck.header.job, &settings)?, Some(ck))
        }
        (None, None) => {
            let file = args.job.as_deref().map(read_job_file).transpose()?;
            (job::resolve(&settings, file.as_ref())?, None)
        }
    };
    // outputs are checked by the runner before anything runs (and against each other);
    // here, that none of them (nor the checkpoint) is the job file, and that the checkpoint
    // is none of the outputs
    let mut inputs: Vec<(&str, &std::path::Path)> = Vec::new();
    if let Some(job) = &args.job {
        inputs.push(("the job file", job));
    }
    if let Some(ck) = &args.checkpoint {
        crate::io::not_stdout("checkpoint", ck)?;
        crate::io::check_distinct("checkpoint", ck, &inputs)?;
    }
    for ck in [&args.checkpoint, &args.resume].into_iter().flatten() {
        inputs.push(("the checkpoint file", ck));
    }
    for (param, path) in [
        ("output", &spec.output),
        ("summary", &spec.summary),
        ("series", &spec.series),
        ("save-state", &spec.save_state),
    ] {
        if let Some(path) = path {
            crate::io::check_distinct(param, path, &inputs)?;
        }
    }
    runner::interval(args.checkpoint_every)?;
    let policy = args
        .checkpoint
        .clone()
        .or_else(|| args.resume.clone())
        .map(|p| CheckpointPolicy::new(p, args.checkpoint_every))
        .transpose()?;
    if policy.is_some() {
        // SIGUSR1 (Slurm's warning before the time limit) also checkpoints and stops, and
        // a stop may take the time a checkpoint needs to be written
        super::signals::also(signal_hook::consts::SIGUSR1, Duration::from_secs(60))?;
    }
    let mut hooks = CliHooks {
        quiet: args.quiet,
        grid: spec.grid,
        bar: ProgressBar::hidden(),
        started: Instant::now(),
        shown: false,
    };
    match runner::run(&spec, resume, policy.as_ref(), &mut hooks)? {
        Outcome::Finished(done) => {
            if let Some(s) = spec.shard {
                say!(
                    "\nshard {s}: {} of {} points done; combine the shards with `blockspin merge`",
                    done.points.len(),
                    spec.points.len()
                );
            } else if spec.grid {
                say!();
                print_crossings(&done.crossings);
            } else if let Some(r) = done.points.first() {
                say_raw!("{}", format_table(r));
            }
            let bad: Vec<String> = done
                .points
                .iter()
                .filter(|r| !r.analysis.non_finite.is_empty())
                .map(|r| {
                    format!(
                        "L={} T={}: {}",
                        r.parameters.size,
                        r.parameters.temperature,
                        r.analysis.non_finite.join(", ")
                    )
                })
                .collect();
            if !bad.is_empty() {
                eprintln!(
                    "error: estimates that are not numbers (null in the results; see the warnings): {}",
                    bad.join("; ")
                );
                return Ok(1);
            }
            Ok(0)
        }
        Outcome::Interrupted { checkpoint } => {
            hooks.bar.finish_and_clear();
            let signal = crate::interrupt::requested().unwrap_or(15);
            let Some(path) = checkpoint.map(|p| p.display().to_string()) else {
                return Err(Error::Interrupted { signal });
            };
            if args.resume_if_exists {
                eprintln!(
                    "interrupted: checkpoint written to {path}; rerun the same command to continue"
                );
            } else {
                eprintln!(
                    "interrupted: checkpoint written to {path}; continue with `blockspin sample --resume {path}`"
                );
            }
            Ok(128 + signal)
        }
    }
}
