//! `blockspin rg`: block-spin renormalization of the Ising model by block-wise conditional
//! sampling and cumulants (physics.md §4–5).

use crate::backend::BackendChoice;
use crate::error::{Error, Result};
use crate::io;
use crate::lattice::{Lattice, LatticeKind};
use crate::rg::blocks::Blocking;
use crate::rg::estimate::{Configurations, Renormalized};
use crate::rg::exact;
use crate::rg::flow::{self, Problem, Truncation};
use crate::rg::rules::Rule;
use crate::stats::Jackknife;
use serde_json::{Map, Value, json};
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
    /// Fine linear size (default: chain 16, square 8, triangular 6).
    #[arg(long, allow_negative_numbers = true)]
    pub size: Option<u32>,
    /// Reduced nearest-neighbour coupling K (required unless --fixed-point).
    #[arg(long, allow_negative_numbers = true)]
    pub coupling: Option<f64>,
    /// Reduced field h.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub field: f64,
    /// Coarse-graining rule.
    #[arg(long, value_enum, default_value_t = RuleName::Decimation)]
    pub rule: RuleName,
    /// Stochastic rule weights: one per block site, or one for all (e.g. 1,0.5).
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
    /// ones (least squares). Default: all when there are at most 2^12, else 256.
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
    /// Write the results (JSON, schema blockspin/rg/1).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// No notices on stderr.
    #[arg(long)]
    pub quiet: bool,
}

fn problem(a: &RgArgs) -> Result<Problem> {
    let size = a.size.unwrap_or(match a.lattice {
        LatticeKind::Chain => 16,
        LatticeKind::Square => 8,
        _ => 6,
    });
    let lattice = Lattice::new(a.lattice, size)?;
    let block = a.block.unwrap_or(if a.lattice == LatticeKind::Triangular {
        3
    } else {
        2
    });
    let blocking = Blocking::new(lattice, block)?;
    let rule = match a.rule {
        RuleName::Decimation => Rule::Decimation,
        RuleName::Majority => Rule::Majority,
        RuleName::Stochastic => {
            if a.lambda.is_empty() {
                return Err(Error::invalid(
                    "--lambda",
                    "the stochastic rule needs weights, e.g. --lambda 1,0.5",
                ));
            }
            Rule::Stochastic(a.lambda.clone())
        }
    }
    .for_block(blocking.block_sites())?;
    if !a.lambda.is_empty() && a.rule != RuleName::Stochastic {
        return Err(Error::invalid(
            "--lambda",
            "only the stochastic rule takes weights",
        ));
    }
    let configurations = match a.configurations.as_deref() {
        Some("all") => Configurations::All,
        Some(n) => Configurations::Random(n.parse().map_err(|_| {
            Error::invalid(
                "--configurations",
                format!("must be `all` or a count (got {n:?})"),
            )
        })?),
        None if blocking.coarse_sites() <= 12 => Configurations::All,
        None => Configurations::Random(256),
    };
    if !(1..=4).contains(&a.order) {
        return Err(Error::invalid(
            "--order",
            format!("must be in 1..=4 (got {})", a.order),
        ));
    }
    Ok(Problem {
        blocking,
        rule,
        order: a.order,
        samples: a.samples,
        configurations,
        seed: a.seed,
        backend: a.backend,
        truncation: if a.use_full {
            Truncation::Full
        } else {
            Truncation::Order(a.order)
        },
    })
}

fn estimates(names: &[&str], values: &[Jackknife]) -> Value {
    let mut m = Map::new();
    for (n, v) in names.iter().zip(values) {
        m.insert(n.to_string(), json!({ "mean": v.mean, "error": v.error }));
    }
    Value::Object(m)
}

fn pm(e: &Jackknife) -> String {
    if e.error > 0.0 {
        format!("{:.6}±{:.6}", e.mean, e.error)
    } else {
        format!("{:.6}", e.mean)
    }
}

fn print_table(p: &Problem, r: &Renormalized, exact: &Value, k: f64, h: f64) {
    let b = &p.blocking;
    println!(
        "blockspin rg: {} L={} ({} blocks of {} sites), {} rule, K={k}, h={h}; {} samples x {} coarse configurations ({}) on {}",
        b.lattice.kind(),
        b.lattice.size(),
        b.coarse_sites(),
        b.block_sites(),
        p.rule.name(),
        p.samples,
        r.configurations,
        match p.configurations {
            Configurations::All => "all: Walsh projection",
            Configurations::Random(_) => "random + uniform: least squares",
        },
        r.backend.kind
    );
    let full = r.full.jackknife();
    let orders: Vec<Vec<Jackknife>> = r.orders.iter().map(|f| f.jackknife()).collect();
    print!("\n{:<10} {:>22}", "coupling", "full (log-mean-exp)");
    for o in 1..=orders.len() {
        print!(" {:>22}", format!("cumulant order <= {o}"));
    }
    println!(" {:>12}", "exact");
    for (i, name) in r.names.iter().enumerate() {
        print!("{name:<10} {:>22}", pm(&full[i]));
        for o in &orders {
            print!(" {:>22}", pm(&o[i]));
        }
        let ex = exact["couplings"][name].as_f64();
        println!(
            " {:>12}",
            ex.map(|x| format!("{x:.6}")).unwrap_or_else(|| "-".into())
        );
    }
    if let Some(src) = exact["source"].as_str() {
        println!("exact: {src}");
        for entry in exact["by_order"].as_array().into_iter().flatten() {
            let shown: Vec<String> = entry["couplings"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, v)| v.as_f64().is_some_and(|x| x.abs() > 1e-12))
                .map(|(k, v)| format!("{k} = {:.6}", v.as_f64().unwrap_or(f64::NAN)))
                .collect();
            println!(
                "  exact cumulant order <= {}: {}",
                entry["order"],
                shown.join(", ")
            );
        }
    }
    if r.low_ess_configurations > 0 {
        println!(
            "warning: the full estimate's effective sample size is below 100 for {} of {} configurations (min {:.1}); trust the cumulant partial sums",
            r.low_ess_configurations, r.configurations, r.min_ess
        );
    }
}

/// `blockspin rg`.
///
/// # Errors
/// Bad input (exit 2), including "no non-trivial fixed point"; backend errors.
pub fn run(a: &RgArgs) -> Result<()> {
    let p = problem(a)?;
    if let Some(path) = &a.output {
        io::check_output_path("--output", path)?;
    }
    for (flag, v) in [("--field", a.field)] {
        if !v.is_finite() {
            return Err(Error::invalid(flag, format!("must be finite (got {v})")));
        }
    }
    let k = match (a.coupling, a.fixed_point) {
        (Some(k), _) if k.is_finite() => k,
        (Some(k), _) => {
            return Err(Error::invalid(
                "--coupling",
                format!("must be finite (got {k})"),
            ));
        }
        (None, true) => 0.0,
        (None, false) => {
            return Err(Error::invalid(
                "--coupling",
                "give the reduced coupling K (or use --fixed-point)",
            ));
        }
    };
    let quiet = a.quiet;
    let mut notice = |s: &str| {
        if !quiet {
            eprintln!("{s}");
        }
    };
    let mut out = json!({
        "schema": "blockspin/rg/1",
        "version": env!("CARGO_PKG_VERSION"),
        "parameters": {
            "lattice": p.blocking.lattice.kind(), "size": p.blocking.lattice.size(), "block": p.blocking.block,
            "block_sites": p.blocking.block_sites(), "coarse_sites": p.blocking.coarse_sites(),
            "coupling": a.coupling, "field": a.field, "rule": p.rule.name(),
            "lambda": match &p.rule { Rule::Stochastic(l) => json!(l), _ => Value::Null },
            "order": p.order, "samples": p.samples, "configurations": p.configurations,
            "seed": p.seed, "backend": p.backend, "flow_estimate": p.truncation,
        },
        "rescale_factor": p.blocking.rescale_factor(),
    });
    if a.fixed_point {
        if a.field != 0.0 {
            return Err(Error::invalid(
                "--field",
                "the fixed-point search runs at h = 0",
            ));
        }
        let fp = flow::fixed_point(&p, 0.05, 1.5, &mut notice)?;
        let r = p.renormalize(fp.nn.mean, 0.0, &mut notice)?;
        out["backend"] = json!(r.backend);
        out["fixed_point"] = json!({ "nn": { "mean": fp.nn.mean, "error": fp.nn.error } });
        out["eigenvalue"] = json!({ "mean": fp.eigenvalue.mean, "error": fp.eigenvalue.error });
        out["y_t"] = json!({ "mean": fp.y_t.mean, "error": fp.y_t.error });
        out["nu"] = json!({ "mean": fp.nu.mean, "error": fp.nu.error });
        if exact::is_triangular_majority(&p.blocking, &p.rule) {
            out["exact"] = json!({ "source": "first-order Niemeijer-van Leeuwen (physics.md §5c)", "fixed_point": exact::nvl_fixed_point(), "y_t": 0.882203 });
        }
        println!(
            "fixed point of the nn recursion ({}): K* = {}, lambda_T = {}, y_T = {}, nu = {} (b = {:.6})",
            match p.truncation {
                Truncation::Full => "full estimate".to_string(),
                Truncation::Order(o) => format!("cumulant order {o}"),
            },
            pm(&fp.nn),
            pm(&fp.eigenvalue),
            pm(&fp.y_t),
            pm(&fp.nu),
            fp.rescale_factor
        );
        if exact::is_triangular_majority(&p.blocking, &p.rule) {
            println!(
                "first-order NvL: K* = {:.7}, y_T = 0.882203",
                exact::nvl_fixed_point()
            );
        }
    } else {
        let r = p.renormalize(k, a.field, &mut notice)?;
        let exact = serde_json::to_value(exact::reference(
            &p.blocking,
            &p.rule,
            p.order,
            &r.names,
            k,
            a.field,
        ))
        .map_err(|e| Error::Internal(e.to_string()))?;
        out["backend"] = json!(r.backend);
        out["couplings"] = estimates(&r.names, &r.full.jackknife());
        out["by_order"] = Value::Array(r.orders.iter().enumerate().map(|(o, f)| json!({ "order": o + 1, "couplings": estimates(&r.names, &f.jackknife()) })).collect());
        out["effective_sample_size"] =
            json!({ "min": r.min_ess, "below_100": r.low_ess_configurations });
        out["exact"] = exact.clone();
        print_table(&p, &r, &exact, k, a.field);
        if let Some(steps) = a.steps {
            let traj = flow::flow(&p, k, a.field, steps, &mut notice)?;
            println!(
                "\nflow ({}):",
                match p.truncation {
                    Truncation::Full => "full estimate".to_string(),
                    Truncation::Order(o) => format!("cumulant order {o}"),
                }
            );
            for s in &traj {
                println!("  step {:>3}: K = {:.6}, h = {:.6}", s.step, s.nn, s.field);
            }
            out["trajectory"] = json!(traj);
        }
    }
    if let Some(path) = &a.output {
        io::write_atomic(path, |w| {
            serde_json::to_writer_pretty(&mut *w, &out).map_err(std::io::Error::other)?;
            writeln!(w)
        })?;
    }
    Ok(())
}
