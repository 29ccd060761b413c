//! `blockspin dbm`: generate, analyze, sample and validate deep Boltzmann machines.

use crate::backend::BackendChoice;
use crate::dbm::analytic;
use crate::dbm::limits;
use crate::dbm::model::{self, Dbm, GenerateSpec, LatticeSpec, VisibleUnits};
use crate::dbm::report;
use crate::dbm::sampler::Level;
use crate::dbm::validate::{self, Report, ValidateOptions};
use crate::error::{Error, Result};
use crate::io;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;

/// `blockspin dbm` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbmCommand {
    /// Write a lattice-structured (or dense random) three-layer model as TOML.
    Generate(GenerateArgs),
    /// Integrate out the deep and hidden layers exactly (physics.md §2-3).
    Analyze(AnalyzeArgs),
    /// Block Gibbs sampling of a model at one level of the recursion.
    Sample(SampleArgs),
    /// Check the analytic recursion against sampling at every level, and the visible
    /// Hamiltonian by pseudo-likelihood (exit 1 on failure).
    Validate(ValidateArgs),
}

/// Arguments of `dbm generate`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct GenerateArgs {
    /// Visible geometry: chain or square (periodic receptive fields).
    #[arg(long, default_value = "square", value_parser = ["chain", "square"])]
    pub lattice: String,
    /// Visible linear size L (a multiple of --stride; at most 4096 visible and 512 hidden
    /// units, what `dbm analyze` handles).
    #[arg(long, default_value_t = 16, allow_negative_numbers = true)]
    pub size: u32,
    /// Receptive field side b: each hidden unit sees b (chain) or b×b (square) visible sites.
    #[arg(long, default_value_t = 4, allow_negative_numbers = true)]
    pub block: u32,
    /// Hidden units every `stride` visible sites (stride < block overlaps the fields).
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub stride: u32,
    /// Each deep unit sees a disjoint b2 (or b2×b2) block of hidden units (at most 256 deep
    /// units).
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub deep_block: u32,
    /// Mean visible-hidden weight, in [-1e6, 1e6].
    #[arg(long, default_value_t = 0.3, allow_negative_numbers = true)]
    pub weight: f64,
    /// Mean hidden-deep weight, in [-1e6, 1e6].
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub deep_weight: f64,
    /// Standard deviation of the Gaussian jitter added to every weight, in [0, 1e6].
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub jitter: f64,
    /// Visible units.
    #[arg(long, value_enum, default_value_t = VisibleUnits::Bernoulli)]
    pub units: VisibleUnits,
    /// Visible bias (all units), in [-1e6, 1e6].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub visible_bias: f64,
    /// Hidden standard deviation σ (means 0), in [1e-6, 1e6].
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub hidden_std: f64,
    /// Deep standard deviation τ (means 0), in [1e-6, 1e6].
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub deep_std: f64,
    /// A dense random model instead (sizes from --visible, --hidden, --deep).
    #[arg(long)]
    pub dense: bool,
    /// Dense model: visible units (1 to 4096).
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    pub visible: usize,
    /// Dense model: hidden units (1 to 512).
    #[arg(long, default_value_t = 4, allow_negative_numbers = true)]
    pub hidden: usize,
    /// Dense model: deep units (1 to 256).
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub deep: usize,
    /// Seed of the jitter.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// Output model file (TOML).
    #[arg(long)]
    pub output: PathBuf,
}

/// Arguments of `dbm analyze`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct AnalyzeArgs {
    /// Model file (TOML).
    #[arg(long)]
    pub model: PathBuf,
    /// Cumulant order for a bernoulli deep layer, and the highest order of the exact
    /// visible multi-body couplings.
    #[arg(long, default_value_t = 4, allow_negative_numbers = true)]
    pub order: usize,
    /// Write the results as JSON.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Arguments shared by `dbm sample` and `dbm validate`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Model file (TOML).
    #[arg(long)]
    pub model: PathBuf,
    /// Independent chains (per level).
    #[arg(long, default_value_t = 2048, allow_negative_numbers = true)]
    pub chains: u32,
    /// Sweeps discarded first.
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub thermalize: u32,
    /// Sweeps measured.
    #[arg(long, default_value_t = 300, allow_negative_numbers = true)]
    pub sweeps: u32,
    /// Take a snapshot of every chain every K sweeps.
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub measure_every: u32,
    /// Seed.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// auto: GPU if an adapter exists, else CPU; gpu; cpu.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// No notices on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `dbm sample`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct SampleArgs {
    /// Common options.
    #[command(flatten)]
    pub run: RunArgs,
    /// Which model: full, visible-hidden (s integrated out), visible (pairwise J_v, f_v),
    /// hidden-prior ((h, s) without v).
    #[arg(long, value_enum, default_value_t = Level::Full)]
    pub level: Level,
    /// Write means with errors as JSON.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write every snapshot of the visible units as NPY int8 [snapshots, chains, n_visible].
    #[arg(long)]
    pub samples: Option<PathBuf>,
}

/// Arguments of `dbm validate`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct ValidateArgs {
    /// Common options.
    #[command(flatten)]
    pub run: RunArgs,
    /// Most visible pairs checked (all when n_visible ≤ 24).
    #[arg(long, default_value_t = 256, allow_negative_numbers = true)]
    pub max_pairs: usize,
    /// Family-wise error rate of the verdict (Bonferroni over all checks).
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Most samples (chains x kept snapshots of the full level) the visible-Hamiltonian
    /// check uses: every visible field and coupling estimated by pseudo-likelihood against
    /// the analytic J_v, f_v, with a J_v x 1.5 negative control (gaussian hidden and deep
    /// layers, at most 200 visible units). Default: as many as keep its cost to about 1e11
    /// multiply-adds (n_v^3/2 per sample; every sample up to about 100 units at the
    /// default run length); 0 skips the check.
    #[arg(long)]
    pub hamiltonian_samples: Option<usize>,
    /// Write the report (JSON, schema blockspin/dbm-validate/1).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Test hook: multiply the analytic J_v by this factor (the validator must then fail).
    #[arg(
        long,
        default_value_t = 1.0,
        hide = true,
        allow_negative_numbers = true
    )]
    pub perturb_visible_coupling: f64,
}

/// Runs a `dbm` subcommand. Returns the process status (validate: 1 when a check fails).
///
/// # Errors
/// Bad input ([`Error::InvalidParameter`], exit 2) and backend errors.
pub fn run(cmd: &DbmCommand) -> Result<i32> {
    match cmd {
        DbmCommand::Generate(a) => generate(a).map(|_| 0),
        DbmCommand::Analyze(a) => analyze(a),
        DbmCommand::Sample(a) => sample(a),
        DbmCommand::Validate(a) => validate_cmd(a),
    }
}

/// Refuses an output (`param`) that names the model file `model` (regular files only: a
/// device such as /dev/null may be both).
fn not_the_model(
    param: &'static str,
    output: &std::path::Path,
    model: &std::path::Path,
) -> Result<()> {
    if io::is_stdout(output) || !model.is_file() {
        return Ok(());
    }
    if io::same_file_key(output) == io::same_file_key(model) {
        return Err(Error::invalid(
            param,
            format!(
                "{} is the --model file; writing it would destroy the input",
                output.display()
            ),
        ));
    }
    Ok(())
}

/// Prints a warning per key with a NaN or infinite value; true when there was one.
fn warn_non_finite(keys: &[String]) -> bool {
    for k in keys {
        say!(
            "warning: {k} holds NaN or infinite values (written as null in JSON); the model's couplings overflow the arithmetic"
        );
    }
    !keys.is_empty()
}

fn write_json(path: &std::path::Path, v: &impl serde::Serialize) -> Result<()> {
    io::write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, v).map_err(std::io::Error::other)?;
        writeln!(w)
    })
}

fn generate(a: &GenerateArgs) -> Result<()> {
    io::check_output_path("output", &a.output)?;
    let max = limits::MAX_GENERATE_VALUE;
    for (name, v) in [
        ("weight", a.weight),
        ("deep-weight", a.deep_weight),
        ("visible-bias", a.visible_bias),
    ] {
        limits::check_range(name, v, -max, max)?;
    }
    limits::check_range("jitter", a.jitter, 0.0, max)?;
    let (lo, hi) = limits::STD_RANGE;
    for (name, v) in [("hidden-std", a.hidden_std), ("deep-std", a.deep_std)] {
        limits::check_range(name, v, lo, hi)?;
    }
    let spec = GenerateSpec {
        visible_units: a.units,
        weight: a.weight,
        deep_weight: a.deep_weight,
        jitter: a.jitter,
        visible_bias: a.visible_bias,
        hidden_std: a.hidden_std,
        deep_std: a.deep_std,
        seed: a.seed,
    };
    let m = if a.dense {
        model::generate_dense(a.visible, a.hidden, a.deep, &spec)?
    } else {
        let dimension = if a.lattice == "chain" { 1 } else { 2 };
        model::generate_lattice(
            &LatticeSpec {
                dimension,
                size: a.size,
                block: a.block,
                stride: a.stride,
                deep_block: a.deep_block,
            },
            &spec,
        )?
    };
    analytic::require_normalizable(&m).map_err(|e| match e {
        Error::InvalidParameter { message, .. } => Error::invalid("deep-weight", message),
        other => other,
    })?;
    let text = m.to_toml();
    io::write_atomic(&a.output, |w| w.write_all(text.as_bytes()))?;
    // within the size limits, but perhaps not within this machine's memory
    if let Err(Error::InvalidParameter { message, .. }) = limits::check_memory(
        "model",
        "dbm analyze of this model",
        limits::analyze_bytes(&m),
        crate::job::memory::available(),
    ) {
        say!("note: {message}; dbm analyze will refuse it on this machine");
    }
    let (nv, nh, ns) = m.sizes();
    let norm = analytic::existence(&m)
        .map(|e| e.spectral_norm)
        .unwrap_or(f64::NAN);
    say!(
        "wrote {}: {nv} visible ({}), {nh} hidden, {ns} deep units; ||diag(sigma) M diag(tau)||_2 = {norm:.6}",
        a.output.display(),
        if a.units == VisibleUnits::Spin {
            "spin"
        } else {
            "bernoulli"
        }
    );
    Ok(())
}

fn check_order(a: &AnalyzeArgs) -> Result<()> {
    if a.order == 0 || a.order > 12 {
        return Err(Error::invalid(
            "order",
            format!("must be in 1..=12 (got {})", a.order),
        ));
    }
    Ok(())
}

/// The report of `dbm analyze` with these flags for the model `m` (loaded from `--model`,
/// or built by the Python package): nothing printed or written.
///
/// # Errors
/// `--order` out of range, a model too large for this machine's memory, and those of
/// [`report::analyze`].
pub fn analyze_model(a: &AnalyzeArgs, m: &Dbm) -> Result<report::AnalyzeReport> {
    check_order(a)?;
    limits::check_memory(
        "model",
        "the dense recursion of this model",
        limits::analyze_bytes(m),
        crate::job::memory::available(),
    )?;
    report::analyze(m, a.order)
}

fn analyze(a: &AnalyzeArgs) -> Result<i32> {
    check_order(a)?;
    if let Some(p) = &a.output {
        io::check_output_path("output", p)?;
        not_the_model("output", p, &a.model)?;
    }
    let m = Dbm::load(&a.model)?;
    let report = analyze_model(a, &m)?;
    if let Some(p) = &a.output {
        write_json(p, &report)?;
    }
    let v = serde_json::to_value(&report).map_err(|e| Error::Internal(e.to_string()))?;
    let (nv, nh, ns) = m.sizes();
    say!(
        "model {}: {nv} visible, {nh} hidden ({}), {ns} deep ({})",
        a.model.display(),
        m.hidden.units(),
        m.deep.units()
    );
    if let Some(e) = &report.existence {
        say!(
            "existence: ||diag(sigma) M diag(tau)||_2 = {:.6} < 1 (normalizable)",
            e.spectral_norm
        );
    }
    fn show(x: &Value) -> String {
        match x {
            Value::Number(n) => n.as_f64().map_or(n.to_string(), |f| format!("{f:.6}")),
            Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
            Value::Object(o) => format!(
                "{{{}}}",
                o.iter()
                    .map(|(k, v)| format!("{k}: {}", show(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        }
    }
    let short = |x: &Value| -> String {
        match x {
            Value::Null => "null (no closed form for this model)".into(),
            Value::Array(a) if a.len() > 6 => format!("[{} entries; see --output]", a.len()),
            other => show(other),
        }
    };
    for key in [
        "constant",
        "log_partition",
        "visible_field",
        "visible_coupling",
        "hidden_field",
        "hidden_coupling",
        "hidden_precision",
        "cumulants",
        "truncation_error",
    ] {
        if report.non_finite.iter().any(|k| k == key) {
            say!("{key}: NON-FINITE (NaN or infinity; null in JSON)");
        } else {
            say!("{key}: {}", short(&v[key]));
        }
    }
    match &report.exact {
        Some(e) => {
            say!("exact ({}):", e.method);
            for key in ["visible_mean", "hidden_mean", "deep_mean"] {
                if report.non_finite.contains(&format!("exact.{key}")) {
                    say!("  {key}: NON-FINITE (NaN or infinity; null in JSON)");
                } else {
                    say!("  {key}: {}", short(&v["exact"][key]));
                }
            }
            for o in &e.visible_couplings {
                let largest = o
                    .terms
                    .iter()
                    .max_by(|a, b| a.value.abs().total_cmp(&b.value.abs()));
                say!(
                    "  visible couplings of order {}: {} nonzero, max |K| = {:.3e}{}",
                    o.order,
                    o.nonzero,
                    o.max_abs,
                    largest.map_or(String::new(), |t| format!(
                        " (K{:?} = {:.6})",
                        t.units, t.value
                    ))
                );
            }
        }
        None => say!(
            "exact: null ({})",
            report
                .exact_unavailable
                .as_deref()
                .unwrap_or("no closed form")
        ),
    }
    Ok(if warn_non_finite(&report.non_finite) {
        1
    } else {
        0
    })
}

fn run_options(r: &RunArgs) -> ValidateOptions {
    ValidateOptions {
        chains: r.chains,
        thermalize: r.thermalize,
        sweeps: r.sweeps,
        measure_every: r.measure_every,
        seed: r.seed,
        backend: r.backend,
        max_pairs: 256,
        family_wise_alpha: 1e-3,
        perturb_visible_coupling: 1.0,
        hamiltonian_samples: None,
    }
}

/// Refuses chains whose state (plus `kept_per_chain` stored bytes) does not fit in memory,
/// naming `--chains`, or `--model` when the model alone (plus `fixed` bytes) does not fit.
fn check_run_memory(m: &Dbm, chains: u32, kept_per_chain: u64, fixed: u64) -> Result<()> {
    let available = crate::job::memory::available();
    let (model, state) = limits::sample_bytes(m, chains, kept_per_chain);
    let model = model.saturating_add(fixed);
    limits::check_memory("model", "sampling this model", model, available)?;
    limits::check_memory(
        "chains",
        &format!("sampling {chains} chains of this model"),
        model.saturating_add(state),
        available,
    )
}

/// The report of `dbm sample` with these flags for the model `m` (named `model_name` in
/// the report), and when `keep_samples` the visible snapshots (snapshot-major, then chain,
/// then unit): nothing printed or written.
///
/// # Errors
/// Bad options, chains that do not fit in memory, and those of [`report::sample`].
pub fn sample_model(
    a: &SampleArgs,
    m: &Dbm,
    model_name: &str,
    keep_samples: bool,
    notice: &mut dyn FnMut(&str),
) -> Result<(report::SampleReport, Vec<i8>)> {
    let opts = run_options(&a.run);
    opts.check()?;
    let snapshots = u64::from(a.run.sweeps / a.run.measure_every.max(1));
    let (nv, _, _) = m.sizes();
    let kept = if keep_samples {
        snapshots.saturating_mul(nv as u64)
    } else {
        0
    };
    check_run_memory(m, a.run.chains, kept, 0)?;
    let (mut result, samples) =
        report::sample(m, model_name, a.level, &opts, keep_samples, notice)?;
    result.non_finite = sample_non_finite(&result);
    Ok((result, samples))
}

fn sample(a: &SampleArgs) -> Result<i32> {
    let opts = run_options(&a.run);
    opts.check()?;
    for (flag, p) in [("output", &a.output), ("samples", &a.samples)] {
        if let Some(p) = p {
            io::check_output_path(flag, p)?;
            not_the_model(flag, p, &a.run.model)?;
        }
    }
    if let (Some(o), Some(s)) = (&a.output, &a.samples)
        && !io::is_stdout(o)
        && std::fs::metadata(o).map_or(true, |m| m.is_file())
        && io::same_file_key(o) == io::same_file_key(s)
    {
        return Err(Error::invalid(
            "samples",
            format!("{} is also the --output file", s.display()),
        ));
    }
    let m = Dbm::load(&a.run.model)?;
    let (nv, _, _) = m.sizes();
    let quiet = a.run.quiet;
    let mut notice = |s: &str| {
        if !quiet {
            eprintln!("{s}");
        }
    };
    let (result, samples) = sample_model(
        a,
        &m,
        &a.run.model.display().to_string(),
        a.samples.is_some(),
        &mut notice,
    )?;
    if let Some(p) = &a.output {
        write_json(p, &result)?;
    }
    if let Some(p) = &a.samples {
        io::write_atomic(p, |w| {
            io::write_npy_i8(w, &[result.snapshots, a.run.chains as usize, nv], &samples)
        })?;
    }
    say!(
        "dbm sample: level {}, {} chains x {} snapshots on {} ({}); {:.0} chain-sweeps/s",
        a.level.name(),
        a.run.chains,
        result.snapshots,
        result.backend.kind,
        result.backend.adapter,
        result.timing.chain_sweeps_per_second
    );
    for (name, layer) in [
        ("visible", &result.visible),
        ("hidden", &result.hidden),
        ("deep", &result.deep),
    ] {
        let Some(units) = layer.as_ref().filter(|u| !u.is_empty()) else {
            continue;
        };
        let shown: Vec<String> = units
            .iter()
            .take(8)
            .map(|u| {
                if u.mean.is_finite() && u.error.is_finite() {
                    format!("{:.4}±{:.4}", u.mean, u.error)
                } else {
                    "NON-FINITE".to_string()
                }
            })
            .collect();
        say!(
            "{name} means: {}{}",
            shown.join(" "),
            if units.len() > 8 { " ..." } else { "" }
        );
    }
    say_raw!(
        "{}",
        crate::cli::sample::equilibration_line(&result.analysis.equilibration)
    );
    for w in &result.analysis.warnings {
        say!("warning: {w}");
    }
    Ok(if warn_non_finite(&result.non_finite) {
        1
    } else {
        0
    })
}

/// The layers of a sample report with a NaN or infinite mean or error.
fn sample_non_finite(r: &report::SampleReport) -> Vec<String> {
    [
        ("visible", &r.visible),
        ("hidden", &r.hidden),
        ("deep", &r.deep),
    ]
    .into_iter()
    .filter(|(_, layer)| {
        layer.as_ref().is_some_and(|units| {
            units
                .iter()
                .any(|u| !(u.mean.is_finite() && u.error.is_finite()))
        })
    })
    .map(|(name, _)| name.to_string())
    .collect()
}

fn print_report(r: &Report) {
    say!(
        "dbm validate: {} visible, {} hidden, {} deep units; {} chains x {} snapshots per level",
        r.sizes[0],
        r.sizes[1],
        r.sizes[2],
        r.options.chains,
        r.options.sweeps / r.options.measure_every
    );
    for (level, b) in &r.backends {
        say!(
            "  {level:<15} sampled on {} ({}, {})",
            b.kind,
            b.adapter,
            b.api
        );
    }
    say!(
        "{} checks; Bonferroni threshold |z| < {:.2} (family-wise alpha {})\n",
        r.checks_total,
        r.threshold_z,
        r.family_wise_alpha
    );
    let mut groups: std::collections::BTreeMap<(String, &str, &str), (usize, f64, usize)> =
        Default::default();
    for c in &r.checks {
        let e = groups
            .entry((c.name.clone(), c.level, c.reference))
            .or_insert((0, 0.0, 0));
        e.0 += 1;
        e.1 = f64::max(e.1, c.z.abs());
        e.2 += (!c.passed) as usize;
    }
    say!(
        "{:<28} {:<15} {:<9} {:>7} {:>8} {:>7}",
        "check",
        "level",
        "against",
        "count",
        "max |z|",
        "failed"
    );
    for ((name, level, reference), (count, maxz, failed)) in &groups {
        say!("{name:<28} {level:<15} {reference:<9} {count:>7} {maxz:>8.2} {failed:>7}");
    }
    say!(
        "\n{}",
        hamiltonian_line(&r.visible_hamiltonian, r.threshold_z)
    );
    let mut worst: Vec<&validate::Check> = r.checks.iter().filter(|c| !c.passed).collect();
    worst.sort_by(|a, b| b.z.abs().total_cmp(&a.z.abs()));
    for c in worst.iter().take(10) {
        if c.reference == "perturbed" {
            say!(
                "FAILED {} {} {:?}: J_v x {} not detected: estimate {:.6} ± {:.6} vs perturbed {:.6} (|z| = {:.2} below the threshold)",
                c.name,
                c.level,
                c.index,
                r.visible_hamiltonian.control_scale,
                c.estimate,
                c.error,
                c.analytic,
                c.z.abs()
            );
            continue;
        }
        say!(
            "FAILED {} {} {:?}: estimate {:.6} ± {:.6} vs {} {:.6} (z = {:.2})",
            c.name,
            c.level,
            c.index,
            c.estimate,
            c.error,
            c.reference,
            c.analytic,
            c.z
        );
    }
    for (level, e) in &r.equilibration {
        say_raw!(
            "{level}: {}",
            crate::cli::sample::equilibration_line(e).trim_start()
        );
    }
    for w in &r.warnings {
        say!("warning: {w}");
    }
    if let Some(t) = &r.truncation_error {
        say!("\ntruncation error of the deep cumulant series (h from its own prior):");
        for x in t {
            say!("  order {}: max {:.3e}, rms {:.3e}", x.order, x.max, x.rms);
        }
    }
    say!(
        "\n{}: {} of {} checks failed{} ({:.1} s)",
        if r.passed { "PASSED" } else { "FAILED" },
        r.checks_failed,
        r.checks_total,
        if r.visible_hamiltonian.status == "failed" {
            "; the visible-Hamiltonian check could not be made"
        } else {
            ""
        },
        r.wall_seconds
    );
}

/// One line on the visible-Hamiltonian check.
fn hamiltonian_line(h: &validate::VisibleHamiltonian, threshold: f64) -> String {
    if h.status != "checked" {
        return format!("visible Hamiltonian: {}: {}", h.status, h.note);
    }
    let num = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}"));
    let scale = h.scale.map_or("-".to_string(), |s| {
        format!("{:.4} ± {:.4}", s.mean, s.error)
    });
    format!(
        "visible Hamiltonian by pseudo-likelihood ({} samples of {} units, level {}): max |z| {} over {} fields and couplings (rms z {}); coupling scale {scale}\n  negative control, J_v x {}: max |z| {}, {} (threshold {threshold:.2})",
        h.samples,
        h.units,
        h.level,
        num(h.max_abs_z),
        h.parameters,
        num(h.rms_z),
        h.control_scale,
        num(h.control_max_abs_z),
        match h.control_detected {
            Some(true) => "detected",
            Some(false) => "NOT detected",
            None => "-",
        }
    )
}

fn validate_options(a: &ValidateArgs) -> Result<ValidateOptions> {
    let mut opts = run_options(&a.run);
    opts.max_pairs = a.max_pairs;
    opts.family_wise_alpha = a.alpha;
    opts.perturb_visible_coupling = a.perturb_visible_coupling;
    opts.hamiltonian_samples = a.hamiltonian_samples;
    opts.check()?;
    Ok(opts)
}

/// The report of `dbm validate` with these flags for the model `m`: nothing printed or
/// written.
///
/// # Errors
/// Bad options, chains that do not fit in memory, and those of [`validate::validate`].
pub fn validate_model(a: &ValidateArgs, m: &Dbm, notice: &mut dyn FnMut(&str)) -> Result<Report> {
    let opts = validate_options(a)?;
    let (per_chain, fixed) = validate::hamiltonian_bytes(m, &opts);
    check_run_memory(m, a.run.chains, per_chain, fixed)?;
    validate::validate(m, &opts, notice)
}

fn validate_cmd(a: &ValidateArgs) -> Result<i32> {
    validate_options(a)?;
    if let Some(p) = &a.output {
        io::check_output_path("output", p)?;
        not_the_model("output", p, &a.run.model)?;
    }
    let m = Dbm::load(&a.run.model)?;
    let quiet = a.run.quiet;
    let report = validate_model(a, &m, &mut |s| {
        if !quiet {
            eprintln!("{s}");
        }
    })?;
    if let Some(p) = &a.output {
        write_json(p, &report)?;
    }
    print_report(&report);
    Ok(if report.passed { 0 } else { 1 })
}
