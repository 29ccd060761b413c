//! `blockspin rg`: block-spin renormalization of the Ising model by block-wise conditional
//! sampling and cumulants (physics.md §4–5).

use crate::backend::BackendChoice;
use crate::error::{Error, Result};
use crate::io;
use crate::lattice::LatticeKind;
use crate::model::Algorithm;
use crate::rg::estimate::Configurations;
use crate::rg::flow::Truncation;
use crate::rg::mcrg_column::McrgColumnSettings;
use crate::rg::report::{self, Exact, Mode, RgReport, RgSettings};
use crate::rg::rules::Rule;
use crate::stats::Jackknife;
use std::path::PathBuf;

/// `--rule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RuleName {
    /// y = the first spin of the block.
    Decimation,
    /// Majority vote (ties broken at random for even blocks).
    Majority,
    /// Λ(y|x) = e^{yλ·x}/(2 cosh λ·x), weights from --lambda.
    Stochastic,
}

/// Arguments of `blockspin rg`. Here --coupling is the reduced K = βJ and --field the
/// reduced h = βh: K[x] = K Σ_<ij> x_i x_j + h Σ_i x_i with x = ±1.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct RgArgs {
    /// Fine lattice (periodic).
    #[arg(long, value_enum, default_value_t = LatticeKind::Chain)]
    pub lattice: LatticeKind,
    /// Fine linear size (default: chain 16, square 8, triangular 6). At most 2^16 blocks, and
    /// the planned memory must fit in 80 % of the available memory.
    #[arg(long, allow_negative_numbers = true)]
    pub size: Option<u32>,
    /// Reduced nearest-neighbour coupling K (required unless --fixed-point); finite,
    /// |K| <= 1000.
    #[arg(long, allow_negative_numbers = true)]
    pub coupling: Option<f64>,
    /// Reduced field h; finite, |h| <= 1000.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub field: f64,
    /// Coarse-graining rule.
    #[arg(long, value_enum, default_value_t = RuleName::Decimation)]
    pub rule: RuleName,
    /// Stochastic rule weights: one per block site, or one for all (e.g. 1,0.5); finite,
    /// |lambda| <= 1000.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub lambda: Vec<f64>,
    /// Block size: chain b sites, square b×b, triangular 3 (up-triangles). Default 2 (3).
    #[arg(long, allow_negative_numbers = true)]
    pub block: Option<u32>,
    /// Highest cumulant order of the series (1-4).
    #[arg(long, default_value_t = 4, allow_negative_numbers = true)]
    pub order: usize,
    /// Draws from p0(x|y) per coarse configuration.
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub samples: u32,
    /// `all` coarse configurations (Walsh projection) or N random ones plus the two uniform
    /// ones (least squares). Default: all when there are at most 2^12, else 256. A count
    /// reaching the 2^blocks distinct configurations uses all of them (with a note); the
    /// planned memory must fit in 80 % of the available memory.
    #[arg(long)]
    pub configurations: Option<String>,
    /// Iterate K → K′ this many times (projecting onto nn and field).
    #[arg(long, conflicts_with = "fixed_point", allow_negative_numbers = true)]
    pub steps: Option<usize>,
    /// Find the non-trivial fixed point of the nn recursion (h = 0) and its eigenvalue.
    #[arg(long)]
    pub fixed_point: bool,
    /// Flows and fixed points use the full log-mean-exp estimate instead of the order-n
    /// cumulant partial sum.
    #[arg(long)]
    pub use_full: bool,
    /// Seed (the same at every K: common random numbers).
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub seed: u64,
    /// auto: GPU if an adapter exists, else CPU; gpu; cpu.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Also compute the real-space mutual information I(H:E) in nats between the coarse
    /// variable of the block at the origin and its environment beyond a buffer of --buffer
    /// sites (physics.md §7): exact, by the ring's transfer matrix on the chain (any length)
    /// or by enumeration of lattices up to 24 sites, else sampled (see --method).
    #[arg(long, conflicts_with = "fixed_point")]
    pub mutual_information: bool,
    /// Buffer width w of --mutual-information and --optimize-lambda (chain: w sites each
    /// side; 2D: sites at Chebyshev distance 1..w from the block).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub buffer: u32,
    /// How --mutual-information is computed: auto (exact where feasible: chains, lattices
    /// up to 24 sites; else sampled), exact, or sampled (environments from the heat-bath
    /// sampler, p(H|boundary) enumerated, jackknife over 16 chains).
    #[arg(long, value_enum, default_value_t = crate::rg::information::Choice::Auto)]
    pub method: crate::rg::information::Choice,
    /// Environments the sampled mutual information averages over (16 heat-bath chains, 1000
    /// thermalization sweeps, 4 sweeps between environments).
    #[arg(long, default_value_t = 4000, allow_negative_numbers = true)]
    pub environments: u32,
    /// With the stochastic rule: find the λ (|λ_i| ≤ --lambda-max) that maximises the mutual
    /// information (with --buffer), report the couplings there, and compare information and
    /// couplings with decimation and majority. --lambda is not needed.
    #[arg(long, conflicts_with = "fixed_point")]
    pub optimize_lambda: bool,
    /// Half-width of the box searched by --optimize-lambda, in (0, 1000].
    #[arg(
        long,
        default_value_t = 4.0,
        allow_negative_numbers = true,
        requires = "optimize_lambda"
    )]
    pub lambda_max: f64,
    /// Add an MCRG column to the coupling table: sample the fine lattice at the same K and h
    /// on a torus of L sites a side (chain or square; L a multiple of --block, large enough
    /// for the basis on the L/b coarse torus), block every configuration once with the same
    /// block and rule, and estimate the level-1 couplings by Callen's identity (Monte Carlo
    /// RG, with jackknife errors; `constant` has none). Uses --seed and --backend.
    #[arg(long, allow_negative_numbers = true, value_name = "L")]
    pub mcrg_size: Option<u32>,
    /// Sweeps measured for the MCRG column, one configuration of each of its 16 chains per
    /// sweep.
    #[arg(
        long,
        default_value_t = crate::rg::mcrg_column::DEFAULT_SWEEPS,
        allow_negative_numbers = true,
        requires = "mcrg_size"
    )]
    pub mcrg_sweeps: u32,
    /// Thermalization sweeps of the MCRG column's sampler.
    #[arg(
        long,
        default_value_t = crate::rg::mcrg_column::DEFAULT_THERMALIZE,
        allow_negative_numbers = true,
        requires = "mcrg_size"
    )]
    pub mcrg_thermalize: u32,
    /// Update algorithm of the MCRG column's sampler (Swendsen–Wang stays fast near K_c).
    #[arg(
        long,
        value_enum,
        default_value = "swendsen-wang",
        requires = "mcrg_size"
    )]
    pub mcrg_algorithm: Algorithm,
    /// Write the results (JSON, schema blockspin/rg/1).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// No notices on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl RgArgs {
    /// The library settings of these flags.
    ///
    /// # Errors
    /// `lambda` without the stochastic rule; a malformed `configurations`.
    pub fn settings(&self) -> Result<RgSettings> {
        let rule = match self.rule {
            RuleName::Decimation => Rule::Decimation,
            RuleName::Majority => Rule::Majority,
            RuleName::Stochastic if self.optimize_lambda && self.lambda.is_empty() => {
                Rule::Stochastic(vec![0.0])
            }
            RuleName::Stochastic => Rule::Stochastic(self.lambda.clone()),
        };
        if !self.lambda.is_empty() && self.rule != RuleName::Stochastic {
            return Err(Error::invalid(
                "lambda",
                "only the stochastic rule takes weights",
            ));
        }
        if self.optimize_lambda && self.rule != RuleName::Stochastic {
            return Err(Error::invalid(
                "optimize-lambda",
                "optimises the stochastic rule's weights (add --rule stochastic)",
            ));
        }
        let configurations = match self.configurations.as_deref() {
            None => None,
            Some("all") => Some(Configurations::All),
            Some(n) => Some(Configurations::Random(n.parse().map_err(|_| {
                Error::invalid(
                    "configurations",
                    format!("must be `all` or a count (got {n:?})"),
                )
            })?)),
        };
        Ok(RgSettings {
            lattice: self.lattice,
            size: self.size,
            block: self.block,
            rule,
            coupling: self.coupling,
            field: self.field,
            order: self.order,
            samples: self.samples,
            configurations,
            use_full: self.use_full,
            mode: if self.fixed_point {
                Mode::FixedPoint
            } else {
                Mode::Couplings { steps: self.steps }
            },
            seed: self.seed,
            backend: self.backend,
            mutual_information_buffer: (self.mutual_information || self.optimize_lambda)
                .then_some(self.buffer),
            optimize_lambda: self.optimize_lambda.then_some(self.lambda_max),
            mutual_information_method: self.method,
            environments: self.environments,
            mcrg: self.mcrg_size.map(|size| McrgColumnSettings {
                size,
                sweeps: self.mcrg_sweeps,
                thermalize: self.mcrg_thermalize,
                algorithm: self.mcrg_algorithm,
            }),
        })
    }
}

fn pm(e: &Jackknife) -> String {
    if e.error > 0.0 {
        format!("{:.6}±{:.6}", e.mean, e.error)
    } else {
        format!("{:.6}", e.mean)
    }
}

fn estimate_name(t: Truncation) -> String {
    match t {
        Truncation::Full => "full estimate".to_string(),
        Truncation::Order(o) => format!("cumulant order {o}"),
    }
}

fn print_couplings(r: &RgReport) {
    let p = &r.parameters;
    let ess = r.effective_sample_size.as_ref();
    if r.samples_drawn == 0 {
        say!(
            "first order alone: exact from the enumerated block averages, nothing sampled (--samples has no effect)"
        );
    }
    say!(
        "blockspin rg: {} L={} ({} blocks of {} sites), {} rule, K={}, h={}; {} x {} coarse configurations ({}) on {}",
        p.lattice,
        p.size,
        p.coarse_sites,
        p.block_sites,
        p.rule,
        p.coupling.unwrap_or(f64::NAN),
        p.field,
        if r.samples_drawn == 0 {
            "no samples".to_string()
        } else {
            format!("{} samples", p.samples)
        },
        r.configurations_used,
        match p.configurations {
            Configurations::All => "all: Walsh projection",
            Configurations::Random(_) => "random + uniform: least squares",
        },
        r.backend.kind
    );
    let Some(orders) = &r.by_order else {
        return;
    };
    let exact = match &r.exact {
        Some(Exact::Couplings(e)) => Some(e),
        _ => None,
    };
    say_raw!("\n{:<10} {:>22}", "coupling", "full (log-mean-exp)");
    for o in orders {
        say_raw!(" {:>22}", format!("cumulant order <= {}", o.order));
    }
    let mcrg = r.mcrg.as_ref();
    say_raw!(" {:>12}", "exact");
    match mcrg {
        Some(m) => say!(" {:>22}", format!("MCRG L={}", m.size)),
        None => say!(),
    }
    for name in &r.basis {
        let full = r.couplings.as_ref().and_then(|c| c.get(name));
        say_raw!(
            "{name:<10} {:>22}",
            full.map(pm).unwrap_or_else(|| "-".into())
        );
        for o in orders {
            say_raw!(" {:>22}", o.couplings.get(name).map(pm).unwrap_or_default());
        }
        let ex = exact
            .and_then(|e| e.couplings.as_ref())
            .and_then(|c| c.get(name));
        say_raw!(
            " {:>12}",
            ex.map(|x| format!("{x:.6}")).unwrap_or_else(|| "-".into())
        );
        match mcrg {
            Some(m) => say!(
                " {:>22}",
                m.couplings
                    .get(name.as_str())
                    .map(pm)
                    .unwrap_or_else(|| "-".into())
            ),
            None => say!(),
        }
    }
    if let Some(e) = exact {
        say!("exact: {}", e.source);
        for entry in &e.by_order {
            let shown: Vec<String> = entry
                .couplings
                .iter()
                .filter(|(_, v)| v.abs() > 1e-12)
                .map(|(k, v)| format!("{k} = {v:.6}"))
                .collect();
            say!(
                "  exact cumulant order <= {}: {}",
                entry.order,
                shown.join(", ")
            );
        }
    }
    if let Some(m) = mcrg {
        say!(
            "MCRG: {} L={} sampled at K={}, h={} ({}, {} chains, {} thermalization + {} measured sweeps: {} configurations on {}), blocked once ({} rule, b={}) to L={}; Callen couplings of the basis {}, jackknife over {} blocks",
            p.lattice,
            m.size,
            p.coupling.unwrap_or(f64::NAN),
            p.field,
            m.algorithm.name(),
            m.chains,
            m.thermalize,
            m.sweeps,
            m.configurations,
            m.backend.kind,
            p.rule,
            p.block,
            m.coarse_size,
            m.basis.join(","),
            m.jackknife_blocks
        );
    }
    if let Some(e) = ess.filter(|e| e.below_100 > 0) {
        say!(
            "warning: the full estimate's effective sample size is below 100 for {} of {} configurations (min {:.1}); trust the cumulant partial sums",
            e.below_100,
            e.configurations,
            e.min
        );
    }
    if let Some(m) = &r.mutual_information {
        say!(
            "\nmutual information I(H:E) = {} nats ({}, {}; block {} sites, buffer {} (w = {}), {} boundary sites)",
            if m.error > 0.0 {
                format!("{:.6} ± {:.6}", m.mean, m.error)
            } else {
                format!("{:.9}", m.mean)
            },
            match m.method {
                crate::rg::information::Method::Exact => "exact",
                crate::rg::information::Method::Sampled => "sampled",
            },
            m.how,
            m.block_sites,
            m.buffer_sites,
            m.buffer,
            m.boundary_sites
        );
        if let Some(e) = &m.equilibration {
            say_raw!(
                "environments: {}",
                crate::cli::sample::equilibration_line(e).trim_start()
            );
            for w in e.warnings(crate::rg::information::ENVIRONMENT_FIX) {
                say!("warning: {w}");
            }
        }
    }
    if let (Some(o), Some(rules)) = (&r.optimal_lambda, &r.rules) {
        say!(
            "\nMI-optimal stochastic rule in |lambda_i| <= {}: lambda* = {:?}, I = {:.9} nats{} ({} evaluations)",
            o.lambda_max,
            o.lambda
                .iter()
                .map(|x| (x * 1e6).round() / 1e6)
                .collect::<Vec<_>>(),
            o.mutual_information,
            if o.on_edge {
                " — on the box's edge: the supremum may lie beyond it"
            } else {
                ""
            },
            o.evaluations
        );
        say_raw!("{:<12} {:>14}", "rule", "I(H:E)");
        for name in &r.basis {
            say_raw!(" {name:>12}");
        }
        say!();
        for s in rules {
            say_raw!("{:<12} {:>14.9}", s.rule, s.mutual_information);
            for name in &r.basis {
                let v = s.couplings.get(name).map(|e| format!("{:.6}", e.mean));
                say_raw!(" {:>12}", v.unwrap_or_else(|| "-".into()));
            }
            say!();
        }
    }
    if let Some(traj) = &r.trajectory {
        say!("\nflow ({}):", estimate_name(p.flow_estimate));
        for s in traj {
            say!("  step {:>3}: K = {:.6}, h = {:.6}", s.step, s.nn, s.field);
        }
    }
}

fn print_fixed_point(r: &RgReport) {
    let (Some(fp), Some(l), Some(y), Some(nu)) = (&r.fixed_point, &r.eigenvalue, &r.y_t, &r.nu)
    else {
        return;
    };
    say!(
        "fixed point of the nn recursion ({}): K* = {}, lambda_T = {}, y_T = {}, nu = {} (b = {:.6})",
        estimate_name(r.parameters.flow_estimate),
        pm(&fp.nn),
        pm(l),
        pm(y),
        pm(nu),
        r.rescale_factor
    );
    if let Some(Exact::FixedPoint(e)) = &r.exact {
        say!(
            "first-order NvL: K* = {:.7}, y_T = {:.6}",
            e.fixed_point,
            e.y_t
        );
    }
}

/// `blockspin rg`: the exit status, 1 when an estimate came out NaN or infinite (listed
/// on stderr and under `non_finite` in the report), else 0.
///
/// # Errors
/// Bad input (exit 2), including "no non-trivial fixed point"; backend errors; a stop
/// request (SIGINT/SIGTERM).
pub fn run(a: &RgArgs) -> Result<i32> {
    let settings = a.settings()?;
    settings.check_ranges()?;
    settings.problem()?;
    if let Some(path) = &a.output {
        io::check_output_path("output", path)?;
    }
    let quiet = a.quiet;
    let mut notice = |s: &str| {
        if !quiet {
            eprintln!("{s}");
        }
    };
    let r = report::run(&settings, &mut notice)?;
    match settings.mode {
        Mode::FixedPoint => print_fixed_point(&r),
        Mode::Couplings { .. } => print_couplings(&r),
    }
    if !r.non_finite.is_empty() {
        say!(
            "warning: NaN or infinite estimates (null in the JSON report, listed under non_finite): {}",
            r.non_finite.join(", ")
        );
    }
    if let Some(path) = &a.output {
        io::write_atomic(path, |w| {
            serde_json::to_writer_pretty(&mut *w, &r).map_err(std::io::Error::other)?;
            writeln!(w)
        })?;
    }
    if r.non_finite.is_empty() {
        Ok(0)
    } else {
        eprintln!(
            "error: {} estimate(s) are NaN or infinite: {}",
            r.non_finite.len(),
            r.non_finite.join(", ")
        );
        Ok(1)
    }
}
