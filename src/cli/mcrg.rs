//! `blockspin mcrg`: Monte Carlo renormalization group ([`crate::mcrg`]) of configurations
//! sampled here (with `sample`'s sampling flags) or read from an NPY file (`--input`).

use super::rg::RuleName;
use super::sample::SamplingArgs;
use crate::backend;
use crate::error::{Error, Result};
use crate::io;
use crate::job::{self, RunConfig, memory};
use crate::lattice::LatticeKind;
use crate::mcrg::{self, McrgReport, McrgSettings, SamplingPlan};
use crate::rg::rules::Rule;
use std::path::PathBuf;

/// Arguments of `blockspin mcrg`.
#[derive(Debug, Clone, clap::Args)]
#[command(args_override_self = true)]
pub struct McrgArgs {
    /// What to sample and how (as for `sample`; not with --input).
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Blocking levels n ≥ 1; every coarse lattice keeps at least 2 sites a side.
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub levels: u32,
    /// Block side b: b sites (chain), b×b (square), b×b×b (cubic); L must be a multiple of
    /// b^levels.
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub block: u32,
    /// Block-spin rule: majority (ties, in even blocks, broken by a fair Philox coin drawn
    /// per block, configuration and level), decimation (the block's first site), or
    /// stochastic (weights from --lambda).
    #[arg(long, value_enum, default_value = "majority")]
    pub rule: RuleName,
    /// Stochastic rule weights: one per block site, or one for all.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub lambda: Vec<f64>,
    /// Operators whose couplings are estimated at every level by Callen's identity
    /// (`field` is the magnetization) [default: nn,nnn,3rd,plaquette,field; the chain
    /// without plaquette].
    #[arg(long, value_delimiter = ',')]
    pub basis: Vec<String>,
    /// Exponents of the even sector for truncations to its first 1 … N operators [default:
    /// the whole even list].
    #[arg(long, allow_negative_numbers = true)]
    pub even_operators: Option<usize>,
    /// Exponents of the odd sector for truncations to its first 1 … N operators [default:
    /// the whole odd list].
    #[arg(long, allow_negative_numbers = true)]
    pub odd_operators: Option<usize>,
    /// Jackknife groups of consecutive configurations (≥ 2).
    #[arg(long, default_value_t = mcrg::DEFAULT_GROUPS, allow_negative_numbers = true)]
    pub jackknife_blocks: usize,
    /// Analyse these configurations instead of sampling: NPY int8 or uint8, values ±1 or
    /// 0/1 (read as x = 2v − 1), shape [n, L] (chain), [n, L, L] (square) or [n, L, L, L]
    /// (cubic); --lattice, when given, must agree with the shape.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Write the results (JSON, schema blockspin/mcrg/1; `-` for standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write a checkpoint here every --checkpoint-every seconds and when stopped (SIGINT,
    /// SIGTERM, SIGUSR1): sampler state, measurements done and the accumulated sums.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Seconds between checkpoints.
    #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
    pub checkpoint_every: f64,
    /// Continue the run of this checkpoint (the same flags; --sweeps may grow); further
    /// checkpoints go to --checkpoint, or else to this file.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Draw the couplings and the exponents of both sectors against the level (PNG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// No progress bar or notices on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl McrgArgs {
    fn rule(&self) -> Result<Rule> {
        if !self.lambda.is_empty() && self.rule != RuleName::Stochastic {
            return Err(Error::invalid(
                "lambda",
                "only the stochastic rule takes weights",
            ));
        }
        Ok(match self.rule {
            RuleName::Decimation => Rule::Decimation,
            RuleName::Majority => Rule::Majority,
            RuleName::Stochastic if self.lambda.is_empty() => {
                return Err(Error::invalid(
                    "lambda",
                    "the stochastic rule needs weights (e.g. --lambda 1)",
                ));
            }
            RuleName::Stochastic => Rule::Stochastic(self.lambda.clone()),
        })
    }

    fn settings(&self, lattice: LatticeKind, size: u32, seed: u64) -> Result<McrgSettings> {
        let mut s = McrgSettings::new(lattice, size, self.block, self.levels, self.rule()?, seed)?;
        if !self.basis.is_empty() {
            s.basis = self.basis.iter().map(|b| b.trim().to_string()).collect();
        }
        s.groups = self.jackknife_blocks;
        s.even_operators = self.even_operators;
        s.odd_operators = self.odd_operators;
        s.validate()?;
        Ok(s)
    }
}

/// Most bytes of an `--input` file: 80 % of the available memory (the configurations are
/// held once as read and once as spins), at most 64 GiB.
fn input_cap() -> u64 {
    memory::available()
        .map_or(1 << 36, |a| a / 5 * 2)
        .min(1 << 36)
}

/// The configurations of `--input` as ±1 spins, with the lattice and size their shape gives.
fn read_input(
    path: &std::path::Path,
    lattice: Option<LatticeKind>,
) -> Result<(LatticeKind, u32, usize, Vec<i8>)> {
    let a = io::read_npy_bytes("input", path, input_cap())?;
    input_spins(&path.display().to_string(), &a, lattice)
}

/// Configurations given as an NPY array (`--input`, or an array from the Python package;
/// `name` names it in messages) as ±1 spins, with the lattice and size their shape gives.
///
/// # Errors
/// [`Error::InvalidParameter`] (`input`) for a bad shape or value, (`lattice`) when
/// `lattice` does not fit the shape.
pub fn input_spins(
    name: &str,
    a: &io::NpyBytes,
    lattice: Option<LatticeKind>,
) -> Result<(LatticeKind, u32, usize, Vec<i8>)> {
    let bad = |why: String| Error::invalid("input", format!("{name}: {why}"));
    let kind = match a.shape.len() {
        2 => LatticeKind::Chain,
        3 => LatticeKind::Square,
        4 => LatticeKind::Cubic,
        d => {
            return Err(bad(format!(
                "shape {:?} has {d} axes; give [n, L] (chain), [n, L, L] (square) or [n, L, L, L] (cubic)",
                a.shape
            )));
        }
    };
    if let Some(l) = lattice.filter(|&l| l != kind) {
        return Err(Error::invalid(
            "lattice",
            format!(
                "{l} does not fit the input's shape {:?} (a {kind} lattice)",
                a.shape
            ),
        ));
    }
    let size = a.shape[1];
    if a.shape[1..].iter().any(|&d| d != size) || size == 0 {
        return Err(bad(format!(
            "shape {:?}: the lattice axes must be equal and non-zero (a torus of L sites a side)",
            a.shape
        )));
    }
    let size = u32::try_from(size).map_err(|_| bad(format!("size {size} is too large")))?;
    let n = a.shape[0];
    if n == 0 {
        return Err(bad("holds no configurations".into()));
    }
    let value = |b: u8| if a.signed { b as i8 as i32 } else { b as i32 };
    let (mut minus, mut zero) = (false, false);
    for (i, &b) in a.data.iter().enumerate() {
        match value(b) {
            -1 => minus = true,
            0 => zero = true,
            1 => {}
            v => {
                return Err(bad(format!(
                    "value {v} at flat index {i}; the values must be ±1 or 0/1"
                )));
            }
        }
    }
    if minus && zero {
        return Err(bad(
            "holds -1, 0 and 1; the values must be ±1 throughout or 0/1 throughout".into(),
        ));
    }
    let spins = a
        .data
        .iter()
        .map(|&b| if value(b) == 1 { 1i8 } else { -1 })
        .collect();
    Ok((kind, size, n, spins))
}

/// The sampling flags given on the command line (refused with --input).
fn sampling_flags(s: &SamplingArgs) -> Vec<&'static str> {
    let given = [
        ("size", s.size.is_some()),
        ("units", s.units.is_some()),
        ("beta", s.beta.is_some()),
        ("temperature", s.temperature.is_some()),
        ("coupling", s.coupling.is_some()),
        ("field", s.field.is_some()),
        ("algorithm", s.algorithm.is_some()),
        ("thermalize", s.thermalize.is_some()),
        ("thermalize-cap", s.thermalize_cap.is_some()),
        ("sweeps", s.sweeps.is_some()),
        ("measure-every", s.measure_every.is_some()),
        ("chains", s.chains.is_some()),
        ("start", s.start.is_some()),
        ("backend", s.backend.is_some()),
        ("kernel", s.kernel.is_some()),
    ];
    given.iter().filter(|(_, g)| *g).map(|(n, _)| *n).collect()
}

/// `blockspin mcrg`. Returns the exit status: 0, or 1 when an estimate is not a number.
///
/// # Errors
/// Bad flags or input (exit 2), the sampler's and the estimators' errors.
pub fn run(a: &McrgArgs) -> Result<i32> {
    let mut inputs: Vec<(&str, &std::path::Path)> = Vec::new();
    if let Some(input) = &a.input {
        inputs.push(("the input", input));
    }
    for (param, path) in [("checkpoint", &a.checkpoint), ("resume", &a.resume)] {
        if let Some(p) = path {
            if a.input.is_some() {
                return Err(Error::invalid(
                    param,
                    "checkpoints are for sampled runs, not --input",
                ));
            }
            io::not_stdout(param, p)?;
            if param == "checkpoint" {
                io::check_distinct(param, p, &inputs)?;
            }
            inputs.push(("the checkpoint", p));
        }
    }
    for (param, path) in [("output", &a.output), ("plot", &a.plot)] {
        if let Some(p) = path {
            io::check_output_path(param, p)?;
            io::check_distinct(param, p, &inputs)?;
            inputs.push(("also the output", p));
        }
    }
    let quiet = a.quiet;
    let report = report(a, None, &mut |m| {
        if !quiet {
            eprintln!("{m}");
        }
    });
    let report = match report {
        Err(Error::Interrupted { signal }) if a.checkpoint.is_some() || a.resume.is_some() => {
            let path = a
                .checkpoint
                .as_ref()
                .or(a.resume.as_ref())
                .expect("a checkpoint");
            eprintln!(
                "interrupted: checkpoint written to {}; continue with the same flags and --resume {0}",
                path.display()
            );
            return Ok(128 + signal);
        }
        r => r?,
    };
    print_table(&report);
    if let Some(p) = &a.output {
        io::write_atomic(p, |w| {
            serde_json::to_writer_pretty(&mut *w, &report).map_err(std::io::Error::other)?;
            writeln!(w)
        })?;
    }
    if let Some(p) = &a.plot {
        mcrg::plot::png(&report, p, (1500, 500))?;
    }
    let bad = non_finite(&report);
    if !bad.is_empty() {
        eprintln!(
            "error: estimates that are not numbers (null in the results): {}",
            bad.join(", ")
        );
        return Ok(1);
    }
    Ok(0)
}

/// The report of `blockspin mcrg` with these flags (nothing printed or written): of the
/// configurations `input` (a name for messages and the array) when given, else of
/// `--input`, else sampled with the sampling flags; `notice` receives the backend's notices.
///
/// # Errors
/// As [`run`].
pub fn report(
    a: &McrgArgs,
    input: Option<(&str, &io::NpyBytes)>,
    notice: &mut dyn FnMut(&str),
) -> Result<McrgReport> {
    if input.is_none() && a.input.is_none() {
        return sample(a, notice);
    }
    if let Some(flag) = sampling_flags(&a.sampling).first() {
        return Err(Error::invalid(
            flag,
            "samples here; --input brings its own configurations (give one or the other)",
        ));
    }
    let (kind, size, n, spins) = match (input, &a.input) {
        (Some((name, array)), _) => input_spins(name, array, a.sampling.lattice)?,
        (None, Some(path)) => read_input(path, a.sampling.lattice)?,
        (None, None) => unreachable!("sampled above"),
    };
    let settings = a.settings(kind, size, a.sampling.seed.unwrap_or(1))?;
    let sites = spins.len() / n;
    mcrg::run(&settings, spins.chunks_exact(sites), None)
}

fn sample(a: &McrgArgs, notice: &mut dyn FnMut(&str)) -> Result<McrgReport> {
    let spec = job::resolve(&a.sampling.settings(), None)?;
    let Some(point) = spec.points.first() else {
        return Err(Error::Internal("a single run without a point".into()));
    };
    let run = RunConfig::new(point)?;
    if run.plan.auto.is_some() {
        return Err(Error::invalid(
            "thermalize",
            "mcrg takes a number of sweeps (auto is for sample: run it there and give mcrg its parameters.thermalize)",
        ));
    }
    let every = run.plan.measure_every.max(1);
    let measurements = run.plan.sweeps / every;
    if measurements == 0 {
        return Err(Error::invalid(
            "sweeps",
            format!(
                "{} sweeps measured every {every} give no configuration",
                run.plan.sweeps
            ),
        ));
    }
    let model = run.spec.model;
    let settings = a.settings(
        model.lattice.kind(),
        model.lattice.size(),
        run.parameters.seed,
    )?;
    // the configurations only: mcrg keeps no measurement series
    let (state, _) = memory::estimate(&run);
    memory::verdict(state, 0, memory::available())?;
    let mut sampler = backend::open(
        run.parameters.backend,
        run.parameters.kernel,
        run.spec,
        notice,
    )?;
    let plan = SamplingPlan {
        thermalize: run.plan.thermalize,
        measurements,
        measure_every: every,
    };
    let checkpoint = match a.checkpoint.clone().or_else(|| a.resume.clone()) {
        None => None,
        Some(path) => {
            crate::job::runner::interval(a.checkpoint_every)?;
            // SIGUSR1 (Slurm's warning before the time limit) also checkpoints and stops,
            // and a stop may take the time a checkpoint needs to be written
            super::signals::also(
                signal_hook::consts::SIGUSR1,
                std::time::Duration::from_secs(60),
            )?;
            let mut parameters = serde_json::to_value(&run.parameters)
                .map_err(|e| Error::Internal(e.to_string()))?;
            // the run may grow (--sweeps) and move between backends (same random stream)
            for k in ["sweeps", "backend"] {
                parameters[k] = serde_json::Value::Null;
            }
            let identity = serde_json::json!({
                "parameters": parameters,
                "mcrg": {
                    "levels": settings.levels,
                    "block": settings.block,
                    "rule": format!("{:?}", settings.rule),
                    "basis": settings.basis,
                    "jackknife_blocks": settings.groups,
                    "even_operators": settings.even_operators,
                    "odd_operators": settings.odd_operators,
                },
            });
            let bits = run.spec.chains as u64 * model.lattice.sites();
            let resume = a
                .resume
                .as_deref()
                .map(|p| mcrg::checkpoint::McrgCheckpoint::read(p, bits))
                .transpose()?;
            Some(mcrg::checkpoint::CheckpointPlan {
                path,
                every_seconds: a.checkpoint_every,
                identity,
                resume,
            })
        }
    };
    mcrg::sample_with(sampler.as_mut(), &model, plan, &settings, checkpoint)
}

/// Names of the estimates that are not finite numbers.
fn non_finite(r: &McrgReport) -> Vec<String> {
    let mut bad = Vec::new();
    for l in &r.levels {
        if let Some(c) = &l.couplings {
            for (name, j) in &c.0 {
                if !(j.mean.is_finite() && j.error.is_finite()) {
                    bad.push(format!("level {} coupling {name}", l.level));
                }
            }
        }
        if let Some(e) = &l.exponents {
            for (sector, list) in [("even", &e.even), ("odd", &e.odd)] {
                for x in list {
                    if x.y.is_some_and(|y| !y.is_finite())
                        || x.error.is_some_and(|e| !e.is_finite())
                    {
                        bad.push(format!(
                            "level {} {sector} y ({} operators)",
                            l.level, x.operators
                        ));
                    }
                }
            }
        }
    }
    bad
}

fn estimate(mean: f64, error: f64) -> String {
    format!("{mean:.5} ± {error:.5}")
}

fn print_table(r: &McrgReport) {
    let p = &r.parameters;
    let mut head = format!(
        "blockspin mcrg: {} L={}, {} rule, b={}, {} levels; {} configurations in {} jackknife blocks",
        p.lattice, p.size, p.rule, p.block, p.levels, p.configurations, p.jackknife_blocks
    );
    if let Some(s) = &p.sampling {
        head += &format!(
            "; sampled: K={} H={} ({} units, beta={}, J={}, h={}), {} chains x {} measurements every {} sweeps after {}",
            s.k,
            s.h,
            s.units,
            s.beta,
            s.coupling,
            s.field,
            s.chains,
            s.measurements,
            s.measure_every,
            s.thermalize
        );
    }
    if let Some(b) = &r.backend {
        head += &format!(" on {} ({}, kernel {})", b.kind, b.api, b.kernel);
    }
    say!("{head}");
    say!(
        "operators: even {}; odd {}",
        r.operators.even.join(", "),
        r.operators.odd.join(", ")
    );
    for l in &r.levels {
        say!("\nlevel {} (L = {})", l.level, l.coarse_size);
        match &l.couplings {
            Some(c) => {
                for (name, j) in &c.0 {
                    say!("  K_{name:<12} {}", estimate(j.mean, j.error));
                }
            }
            None => say!(
                "  couplings: none (the basis folds onto itself on a {}-site torus)",
                l.coarse_size
            ),
        }
        if let Some(e) = &l.exponents {
            for (sector, list) in [("even", &e.even), ("odd", &e.odd)] {
                let ys: Vec<String> = list
                    .iter()
                    .map(|x| match (x.y, x.error) {
                        (Some(y), Some(err)) => format!("{}: {}", x.operators, estimate(y, err)),
                        (Some(y), None) => format!("{}: {y:.5}", x.operators),
                        _ => format!("{}: -", x.operators),
                    })
                    .collect();
                say!("  y {sector:<4} by operators  {}", ys.join("   "));
            }
        }
    }
    let f = &r.reference;
    let mut refs = Vec::new();
    if let Some(y) = f.y_t {
        refs.push(format!("y_T = {y:.5}"));
    }
    if let Some(y) = f.y_h {
        refs.push(format!("y_H = {y:.5}"));
    }
    if let Some(nn) = &f.nn {
        let ks: Vec<String> = nn.iter().map(|k| format!("{k:.5}")).collect();
        refs.push(format!("exact K_nn by level {}", ks.join(", ")));
    }
    say!("\nreference: {} ({})", refs.join(", "), f.source);
}
