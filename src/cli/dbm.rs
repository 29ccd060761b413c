//! `blockspin dbm`: generate, analyze, sample and validate deep Boltzmann machines.

use crate::backend::BackendChoice;
use crate::dbm::analytic;
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
    /// Check the analytic recursion against sampling at every level (exit 1 on failure).
    Validate(ValidateArgs),
}

/// Arguments of `dbm generate`.
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct GenerateArgs {
    /// Visible geometry: chain or square (periodic receptive fields).
    #[arg(long, default_value = "square", value_parser = ["chain", "square"])]
    pub lattice: String,
    /// Visible linear size L (a multiple of --stride).
    #[arg(long, default_value_t = 16, allow_negative_numbers = true)]
    pub size: u32,
    /// Receptive field side b: each hidden unit sees b (chain) or b×b (square) visible sites.
    #[arg(long, default_value_t = 4, allow_negative_numbers = true)]
    pub block: u32,
    /// Hidden units every `stride` visible sites (stride < block overlaps the fields).
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub stride: u32,
    /// Each deep unit sees a disjoint b2 (or b2×b2) block of hidden units.
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub deep_block: u32,
    /// Mean visible-hidden weight.
    #[arg(long, default_value_t = 0.3, allow_negative_numbers = true)]
    pub weight: f64,
    /// Mean hidden-deep weight.
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub deep_weight: f64,
    /// Standard deviation of the Gaussian jitter added to every weight.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub jitter: f64,
    /// Visible units.
    #[arg(long, value_enum, default_value_t = VisibleUnits::Bernoulli)]
    pub units: VisibleUnits,
    /// Visible bias (all units).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub visible_bias: f64,
    /// Hidden standard deviation σ (means 0).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub hidden_std: f64,
    /// Deep standard deviation τ (means 0).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub deep_std: f64,
    /// A dense random model instead (sizes from --visible, --hidden, --deep).
    #[arg(long)]
    pub dense: bool,
    /// Dense model: visible units.
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    pub visible: usize,
    /// Dense model: hidden units.
    #[arg(long, default_value_t = 4, allow_negative_numbers = true)]
    pub hidden: usize,
    /// Dense model: deep units.
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
        DbmCommand::Analyze(a) => analyze(a).map(|_| 0),
        DbmCommand::Sample(a) => sample(a).map(|_| 0),
        DbmCommand::Validate(a) => validate_cmd(a),
    }
}

fn write_json(path: &std::path::Path, v: &impl serde::Serialize) -> Result<()> {
    io::write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, v).map_err(std::io::Error::other)?;
        writeln!(w)
    })
}

fn generate(a: &GenerateArgs) -> Result<()> {
    io::check_output_path("output", &a.output)?;
    for (name, v) in [
        ("weight", a.weight),
        ("deep-weight", a.deep_weight),
        ("jitter", a.jitter),
        ("visible-bias", a.visible_bias),
    ] {
        if !v.is_finite() {
            return Err(Error::invalid(name, format!("must be finite (got {v})")));
        }
    }
    for (name, v) in [("hidden-std", a.hidden_std), ("deep-std", a.deep_std)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::invalid(
                name,
                format!("must be finite and > 0 (got {v})"),
            ));
        }
    }
    if a.jitter < 0.0 {
        return Err(Error::invalid(
            "jitter",
            format!("must be >= 0 (got {})", a.jitter),
        ));
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

fn analyze(a: &AnalyzeArgs) -> Result<()> {
    if a.order == 0 || a.order > 12 {
        return Err(Error::invalid(
            "order",
            format!("must be in 1..=12 (got {})", a.order),
        ));
    }
    if let Some(p) = &a.output {
        io::check_output_path("output", p)?;
    }
    let m = Dbm::load(&a.model)?;
    let report = report::analyze(&m, a.order)?;
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
    if let Some(e) = analytic::existence(&m) {
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
        say!("{key}: {}", short(&v[key]));
    }
    match &report.exact {
        Some(e) => {
            say!("exact ({}):", e.method);
            for key in ["visible_mean", "hidden_mean", "deep_mean"] {
                say!("  {key}: {}", short(&v["exact"][key]));
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
    Ok(())
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
    }
}

fn sample(a: &SampleArgs) -> Result<()> {
    let opts = run_options(&a.run);
    opts.check()?;
    for (flag, p) in [("output", &a.output), ("samples", &a.samples)] {
        if let Some(p) = p {
            io::check_output_path(flag, p)?;
        }
    }
    let m = Dbm::load(&a.run.model)?;
    let quiet = a.run.quiet;
    let mut notice = |s: &str| {
        if !quiet {
            eprintln!("{s}");
        }
    };
    let (result, samples) = report::sample(
        &m,
        &a.run.model.display().to_string(),
        a.level,
        &opts,
        a.samples.is_some(),
        &mut notice,
    )?;
    if let Some(p) = &a.output {
        write_json(p, &result)?;
    }
    let (nv, _, _) = m.sizes();
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
            .map(|u| format!("{:.4}±{:.4}", u.mean, u.error))
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
    Ok(())
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
        "{:<20} {:<15} {:<9} {:>7} {:>8} {:>7}",
        "check",
        "level",
        "against",
        "count",
        "max |z|",
        "failed"
    );
    for ((name, level, reference), (count, maxz, failed)) in &groups {
        say!("{name:<20} {level:<15} {reference:<9} {count:>7} {maxz:>8.2} {failed:>7}");
    }
    let mut worst: Vec<&validate::Check> = r.checks.iter().filter(|c| !c.passed).collect();
    worst.sort_by(|a, b| b.z.abs().total_cmp(&a.z.abs()));
    for c in worst.iter().take(10) {
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
        "\n{}: {} of {} checks failed ({:.1} s)",
        if r.passed { "PASSED" } else { "FAILED" },
        r.checks_failed,
        r.checks_total,
        r.wall_seconds
    );
}

fn validate_cmd(a: &ValidateArgs) -> Result<i32> {
    let mut opts = run_options(&a.run);
    opts.max_pairs = a.max_pairs;
    opts.family_wise_alpha = a.alpha;
    opts.perturb_visible_coupling = a.perturb_visible_coupling;
    opts.check()?;
    if let Some(p) = &a.output {
        io::check_output_path("output", p)?;
    }
    let m = Dbm::load(&a.run.model)?;
    let quiet = a.run.quiet;
    let report = validate::validate(&m, &opts, &mut |s| {
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
