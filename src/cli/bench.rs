//! `blockspin bench`: throughput of every lattice backend and the time each needs to reach a
//! target error bar. Speed is measured here and in `benches/`, never in tests.

use crate::backend::{self, ChainSpec, Kernel, LatticeBackend, Start};
use crate::error::{Error, Result};
use crate::io;
use crate::lattice::{Lattice, LatticeKind};
use crate::model::{Algorithm, Model, Units};
use crate::observables::Series;
use crate::plot::{Curve, log_log_png};
use crate::stats;
use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `blockspin bench`.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct BenchArgs {
    /// Lattice.
    #[arg(long, value_enum, default_value_t = LatticeKind::Square)]
    pub lattice: LatticeKind,
    /// Update rule.
    #[arg(long, value_enum, default_value_t = Algorithm::HeatBath)]
    pub algorithm: Algorithm,
    /// Linear sizes to time.
    #[arg(long, value_delimiter = ',', default_value = "256,1024,4096")]
    pub sizes: Vec<u32>,
    /// Backend columns: device and kernel (cpu = reference, -fast = chains, -sites = sites),
    /// and auto (what `sample` runs with no --backend/--kernel flag).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "cpu,cpu-fast,cpu-sites,gpu,gpu-fast,gpu-sites,auto"
    )]
    pub backends: Vec<BenchBackend>,
    /// Numbers of chains timed at each size (rows of the table).
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    pub chains: Vec<u32>,
    /// Measure every K-th sweep inside the timed sweeps, as `sample` does (0: never).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub measure_every: u32,
    /// Timed repeats per backend and size (median, min and max are reported).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub repeats: u32,
    /// Each repeat runs at least this long (sweeps are doubled until it does).
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub min_seconds: f64,
    /// Inverse temperature of the benchmark (reduced, J = 1).
    #[arg(long, default_value_t = 0.4406868, allow_negative_numbers = true)]
    pub beta: f64,
    /// Lattice size of the estimator comparison (0 skips it).
    #[arg(long, default_value_t = 64, allow_negative_numbers = true)]
    pub estimator_size: u32,
    /// Target standard error of the energy per site.
    #[arg(long, default_value_t = 2e-3, allow_negative_numbers = true)]
    pub target_error: f64,
    /// Give up an estimator run after this many seconds.
    #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
    pub max_seconds: f64,
    /// Algorithms of the critical-point race (time per error bar and τ_int against L on
    /// the default backend and kernel).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "heat-bath,swendsen-wang,wolff"
    )]
    pub race_algorithms: Vec<Algorithm>,
    /// Linear sizes of the race (0 skips it).
    #[arg(long, value_delimiter = ',', default_value = "32,64,128,256")]
    pub race_sizes: Vec<u32>,
    /// Wall seconds of each race run (a fifth thermalizes, the rest measures every sweep).
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub race_seconds: f64,
    /// Chains of each race run (0: one per CPU thread).
    #[arg(long, default_value_t = 0)]
    pub race_chains: u32,
    /// Draw τ_int of the energy against L for each race algorithm, with the fitted dynamic
    /// exponent z in the legend (PNG, log-log).
    #[arg(long)]
    pub race_plot: Option<PathBuf>,
    /// Write the results (JSON, schema blockspin/bench/1).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Draw throughput against L, one line per backend (PNG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// No notices on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// A column of `blockspin bench`: a device and a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchBackend {
    /// CPU, reference kernel.
    Cpu,
    /// CPU, chains-packed kernel.
    CpuFast,
    /// CPU, sites-packed kernel.
    CpuSites,
    /// GPU (any adapter), reference kernel.
    Gpu,
    /// GPU, chains-packed kernel.
    GpuFast,
    /// GPU, sites-packed kernel.
    GpuSites,
    /// `--backend auto --kernel auto`: what `sample` runs without flags.
    Auto,
}

impl BenchBackend {
    /// Column name.
    pub fn name(self) -> &'static str {
        match self {
            BenchBackend::Cpu => "cpu",
            BenchBackend::CpuFast => "cpu-fast",
            BenchBackend::CpuSites => "cpu-sites",
            BenchBackend::Gpu => "gpu",
            BenchBackend::GpuFast => "gpu-fast",
            BenchBackend::GpuSites => "gpu-sites",
            BenchBackend::Auto => "auto",
        }
    }
    fn device(self) -> LatticeBackend {
        match self {
            BenchBackend::Cpu | BenchBackend::CpuFast | BenchBackend::CpuSites => {
                LatticeBackend::Cpu
            }
            BenchBackend::Gpu | BenchBackend::GpuFast | BenchBackend::GpuSites => {
                LatticeBackend::Gpu
            }
            BenchBackend::Auto => LatticeBackend::Auto,
        }
    }
    fn kernel(self) -> Kernel {
        match self {
            BenchBackend::Cpu | BenchBackend::Gpu => Kernel::Reference,
            BenchBackend::CpuFast | BenchBackend::GpuFast => Kernel::Chains,
            BenchBackend::CpuSites | BenchBackend::GpuSites => Kernel::Sites,
            BenchBackend::Auto => Kernel::Auto,
        }
    }
}

/// Throughput of one backend at one size.
#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    /// Backend column.
    pub backend: &'static str,
    /// What ran: device and kernel (e.g. "cpu sites").
    pub ran: String,
    /// L.
    pub size: u32,
    /// Chains advanced together.
    pub chains: u32,
    /// Sweeps per timed repeat.
    pub sweeps: u32,
    /// Spin updates per ns: median, min, max over repeats.
    pub median: f64,
    /// Slowest repeat.
    pub min: f64,
    /// Fastest repeat.
    pub max: f64,
    /// Memory per spin (bytes).
    pub bytes_per_spin: f64,
    /// Why the point was skipped (e.g. a device limit), if it was.
    pub skipped: Option<String>,
}

/// Time to a target error of the energy per site.
#[derive(Clone, Debug, Serialize)]
pub struct EstimatorRun {
    /// Backend column.
    pub backend: &'static str,
    /// What ran: device and kernel.
    pub ran: String,
    /// Wall time including thermalization (s).
    pub seconds: f64,
    /// Sweeps after thermalization.
    pub sweeps: u32,
    /// Energy per site.
    pub energy_per_site: f64,
    /// Its binning error.
    pub error: f64,
    /// τ_int of the energy (sweeps).
    pub tau_int: f64,
    /// The target was reached.
    pub reached: bool,
}

fn bytes_per_spin(kernel: &str, kind: &str) -> f64 {
    match (kernel, kind) {
        ("reference", "cpu") => 1.0,
        ("reference", _) => 4.0,
        _ => 1.0 / 8.0,
    }
}

fn spec(
    kind: LatticeKind,
    size: u32,
    beta: f64,
    algorithm: Algorithm,
    chains: u32,
) -> Result<ChainSpec> {
    let model = Model::new(Lattice::new(kind, size)?, Units::Spin, beta, 1.0, 0.0)?;
    ChainSpec::new(model, algorithm, chains, 1, Start::Hot)
}

fn throughput(a: &BenchArgs, backend: BenchBackend, size: u32, chains: u32) -> Result<Throughput> {
    let spec = spec(a.lattice, size, a.beta, a.algorithm, chains)?;
    let skip = |why: String| Throughput {
        backend: backend.name(),
        ran: String::new(),
        size,
        chains,
        sweeps: 0,
        median: f64::NAN,
        min: f64::NAN,
        max: f64::NAN,
        bytes_per_spin: f64::NAN,
        skipped: Some(why),
    };
    let mut s = match backend::open(backend.device(), backend.kernel(), spec, &mut |_| {}) {
        Ok(s) => s,
        Err(e @ (Error::DeviceLimit(_) | Error::NoAdapter(_) | Error::InvalidParameter { .. })) => {
            return Ok(skip(e.to_string()));
        }
        Err(e) => return Err(e),
    };
    let info = s.info();
    let updates = |n: u32| chains as f64 * spec.sites() as f64 * n as f64;
    let every = a.measure_every;
    s.advance(1, 0)?; // warm-up
    let mut n = every.max(1);
    loop {
        let t = Instant::now();
        s.advance(n, every)?;
        if t.elapsed().as_secs_f64() >= a.min_seconds || n >= 1 << 20 {
            break;
        }
        n *= 2;
    }
    let mut rates: Vec<f64> = (0..a.repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            s.advance(n, every)
                .map(|_| updates(n) / (t.elapsed().as_secs_f64() * 1e9))
        })
        .collect::<Result<_>>()?;
    rates.sort_by(|x, y| x.total_cmp(y));
    Ok(Throughput {
        backend: backend.name(),
        ran: format!("{} {}", info.kind, info.kernel),
        size,
        chains,
        sweeps: n,
        median: rates[rates.len() / 2],
        min: rates[0],
        max: rates[rates.len() - 1],
        bytes_per_spin: bytes_per_spin(&info.kernel, &info.kind),
        skipped: None,
    })
}

fn estimator(a: &BenchArgs, backend: BenchBackend) -> Result<Option<EstimatorRun>> {
    let spec = spec(a.lattice, a.estimator_size, a.beta, a.algorithm, 32)?;
    let model = spec.model;
    let started = Instant::now();
    let mut s = match backend::open(backend.device(), backend.kernel(), spec, &mut |_| {}) {
        Ok(s) => s,
        Err(Error::DeviceLimit(_) | Error::NoAdapter(_) | Error::InvalidParameter { .. }) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let info = s.info();
    s.advance(500, 0)?;
    let mut counts = Vec::new();
    let mut chunk = 64u32;
    loop {
        let t = Instant::now();
        counts.extend(s.advance(chunk, 1)?);
        let per_sweep = t.elapsed().as_secs_f64() / chunk as f64;
        let series = Series::from_counts(&model, &counts, 32);
        let b = stats::binning(&series.energy, series.shape);
        let elapsed = started.elapsed().as_secs_f64();
        if (b.error <= a.target_error && b.reliable) || elapsed > a.max_seconds {
            return Ok(Some(EstimatorRun {
                backend: backend.name(),
                ran: format!("{} {}", info.kind, info.kernel),
                seconds: elapsed,
                sweeps: series.shape.n_time as u32,
                energy_per_site: b.mean,
                error: b.error,
                tau_int: b.tau_int,
                reached: b.error <= a.target_error,
            }));
        }
        // doubling chunks, but none that would run past --max-seconds
        let left = (a.max_seconds - elapsed).max(0.0);
        chunk = chunk.saturating_mul(2).min(
            (left / per_sweep.max(1e-12))
                .ceil()
                .max(1.0)
                .min(u32::MAX as f64) as u32,
        );
    }
}

/// Ratios of medians reported for each (size, chains): GPU over CPU per kernel, the packed
/// kernels over the reference one, and the default path over the best explicit column.
const RATIOS: [(&str, &str); 7] = [
    ("gpu", "cpu"),
    ("gpu-fast", "cpu-fast"),
    ("gpu-sites", "cpu-sites"),
    ("cpu-fast", "cpu"),
    ("cpu-sites", "cpu"),
    ("cpu-sites", "cpu-fast"),
    ("gpu-sites", "gpu"),
];

/// `blockspin bench`.
///
/// # Errors
/// Bad input (exit 2) and backend errors.
pub fn run(a: &BenchArgs) -> Result<()> {
    if a.sizes.is_empty() || a.backends.is_empty() {
        return Err(Error::invalid(
            "sizes",
            "give at least one size and one backend",
        ));
    }
    if a.chains.is_empty() || a.chains.contains(&0) {
        return Err(Error::invalid(
            "chains",
            "give one or more numbers of chains, each at least 1",
        ));
    }
    for &size in &a.sizes {
        Lattice::new(a.lattice, size)?;
    }
    if !(a.race_seconds.is_finite() && a.race_seconds > 0.0) {
        return Err(Error::invalid(
            "race-seconds",
            format!("must be a finite number > 0 (got {})", a.race_seconds),
        ));
    }
    let race_sizes: Vec<u32> = a.race_sizes.iter().copied().filter(|&l| l > 0).collect();
    for &size in &race_sizes {
        Lattice::new(a.lattice, size).map_err(|e| match e {
            Error::InvalidParameter { message, .. } => Error::invalid("race-sizes", message),
            e => e,
        })?;
    }
    for (flag, p) in [
        ("output", &a.output),
        ("plot", &a.plot),
        ("race-plot", &a.race_plot),
    ] {
        if let Some(p) = p {
            io::check_output_path(flag, p)?;
        }
    }
    let note = |s: &str| {
        if !a.quiet {
            eprintln!("{s}");
        }
    };
    let mut results = Vec::new();
    for &size in &a.sizes {
        for &chains in &a.chains {
            for &b in &a.backends {
                note(&format!(
                    "timing {} at L = {size}, {chains} chains ...",
                    b.name()
                ));
                results.push(throughput(a, b, size, chains)?);
            }
        }
    }
    let median = |size: u32, chains: u32, name: &str| {
        results
            .iter()
            .find(|r| r.size == size && r.chains == chains && r.backend == name)
            .filter(|r| r.skipped.is_none())
            .map(|r| r.median)
    };
    let mut ratios: Vec<serde_json::Value> = Vec::new();
    for &size in &a.sizes {
        for &chains in &a.chains {
            let mut row = json!({ "size": size, "chains": chains });
            for (num, den) in RATIOS {
                if let (Some(x), Some(y)) = (median(size, chains, num), median(size, chains, den)) {
                    row[format!("{num}/{den}")] = json!(x / y);
                }
            }
            // the default path against the fastest explicit column
            let best = results
                .iter()
                .filter(|r| r.size == size && r.chains == chains && r.backend != "auto")
                .filter(|r| r.skipped.is_none())
                .max_by(|x, y| x.median.total_cmp(&y.median));
            if let (Some(auto), Some(best)) = (median(size, chains, "auto"), best) {
                row["auto/best"] = json!(auto / best.median);
                row["best"] = json!(best.backend);
            }
            ratios.push(row);
        }
    }
    let mut estimators = Vec::new();
    if a.estimator_size > 0 {
        for &b in &a.backends {
            note(&format!(
                "estimator run on {} (L = {}, target error {}) ...",
                b.name(),
                a.estimator_size,
                a.target_error
            ));
            if let Some(e) = estimator(a, b)? {
                estimators.push(e);
            }
        }
    }

    let race_chains = if a.race_chains == 0 {
        rayon::current_num_threads() as u32
    } else {
        a.race_chains
    };
    let mut race = Vec::new();
    for &size in &race_sizes {
        for &algorithm in &a.race_algorithms {
            note(&format!(
                "race: {} at L = {size}, {race_chains} chains, {} s ...",
                algorithm.name(),
                a.race_seconds
            ));
            race.push(super::race::run_one(
                a.lattice,
                a.beta,
                algorithm,
                size,
                race_chains,
                a.race_seconds,
                a.target_error,
            )?);
        }
    }
    let exponents = super::race::dynamic_exponents(&race);

    let gpu = crate::backend::gpu::GpuContext::shared().ok();
    println!(
        "blockspin bench: {} {}, K = {}; CPU {} threads; GPU {}",
        a.lattice,
        a.algorithm.name(),
        a.beta,
        rayon::current_num_threads(),
        gpu.as_ref()
            .map(|g| format!("{} ({}, {})", g.adapter_name, g.api, g.device_type))
            .unwrap_or_else(|| "none".into())
    );
    println!(
        "\n{:<10} {:<14} {:>7} {:>7} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "backend", "ran", "L", "chains", "sweeps", "median", "min", "max", "bytes/spin"
    );
    for r in &results {
        match &r.skipped {
            Some(why) => println!(
                "{:<10} {:<14} {:>7} {:>7} skipped: {why}",
                r.backend, "-", r.size, r.chains
            ),
            None => println!(
                "{:<10} {:<14} {:>7} {:>7} {:>8} {:>10.4} {:>10.4} {:>10.4} {:>10.3}",
                r.backend,
                r.ran,
                r.size,
                r.chains,
                r.sweeps,
                r.median,
                r.min,
                r.max,
                r.bytes_per_spin
            ),
        }
    }
    println!("(spin updates per ns)");
    for r in &ratios {
        let shown: Vec<String> = r
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| {
                v.as_f64()
                    .filter(|_| k.contains('/'))
                    .map(|x| format!("{k} {x:.2}"))
            })
            .collect();
        if !shown.is_empty() {
            println!(
                "L = {}, {} chains: {}",
                r["size"],
                r["chains"],
                shown.join(", ")
            );
        }
    }
    if !estimators.is_empty() {
        println!(
            "\ntime to a standard error of {} in the energy per site (L = {}, 32 chains):",
            a.target_error, a.estimator_size
        );
        for e in &estimators {
            println!(
                "  {:<10} {:<14} {:>8.2} s  ({} sweeps, e = {:.5} ± {:.5}, tau_int = {:.1}){}",
                e.backend,
                e.ran,
                e.seconds,
                e.sweeps,
                e.energy_per_site,
                e.error,
                e.tau_int,
                if e.reached {
                    ""
                } else {
                    "  [target not reached]"
                }
            );
        }
    }
    if !race.is_empty() {
        println!(
            "\ncritical race: energy per site on the default backend, {race_chains} chains, {} s per run; cost = error^2 x measured seconds (lower is better)",
            a.race_seconds
        );
        println!(
            "{:<14} {:>5} {:>9} {:>12} {:>11} {:>9} {:>9} {:>11} {:>10}  ran",
            "algorithm",
            "L",
            "sweeps",
            "energy",
            "error",
            "tau_int",
            "tau(|m|)",
            "cost",
            "t(target)"
        );
        for r in &race {
            println!(
                "{:<14} {:>5} {:>9} {:>12.6} {:>11.3e} {:>9.2} {:>9.2} {:>11.3e} {:>9.1}s  {}{}",
                r.algorithm,
                r.size,
                r.sweeps,
                r.energy_per_site,
                r.error,
                r.tau_int,
                r.tau_int_abs_magnetization,
                r.cost,
                r.seconds_to_target,
                r.ran,
                if r.reliable {
                    ""
                } else {
                    "  [binning not converged]"
                }
            );
        }
        for &size in &race_sizes {
            let at: Vec<&super::race::RaceRun> = race.iter().filter(|r| r.size == size).collect();
            if let (Some(best), Some(first)) = (
                at.iter().min_by(|x, y| x.cost.total_cmp(&y.cost)),
                at.first(),
            ) {
                println!(
                    "L = {size}: cheapest {} ({:.3e}); {} / cheapest = {:.1}",
                    best.algorithm,
                    best.cost,
                    first.algorithm,
                    first.cost / best.cost
                );
            }
        }
        for e in &exponents {
            println!(
                "dynamic exponent {}: z = {:.2} ± {:.2} (tau_int of {}, L = {:?})",
                e.algorithm, e.z, e.error, e.observable, e.sizes
            );
        }
    }
    if let Some(p) = &a.race_plot {
        let curves: Vec<Curve> = a
            .race_algorithms
            .iter()
            .map(|alg| {
                let z = exponents
                    .iter()
                    .find(|e| e.algorithm == alg.name() && e.observable == "energy_per_site");
                Curve {
                    label: match z {
                        Some(e) => format!("{} (z = {:.2})", alg.name(), e.z),
                        None => alg.name().to_string(),
                    },
                    points: race
                        .iter()
                        .filter(|r| r.algorithm == alg.name() && r.tau_int > 0.0)
                        .map(|r| (r.size as f64, r.tau_int))
                        .collect(),
                }
            })
            .filter(|c| !c.points.is_empty())
            .collect();
        log_log_png(
            p,
            (900, 600),
            &format!(
                "{} at K = {}: autocorrelation of the energy",
                a.lattice, a.beta
            ),
            "linear size L",
            "tau_int (sweeps)",
            &curves,
        )?;
    }
    let out = json!({
        "schema": "blockspin/bench/1",
        "version": env!("CARGO_PKG_VERSION"),
        "parameters": { "lattice": a.lattice, "algorithm": a.algorithm, "beta": a.beta, "sizes": a.sizes, "chains": a.chains, "measure_every": a.measure_every, "repeats": a.repeats, "min_seconds": a.min_seconds,
                        "estimator_size": a.estimator_size, "target_error": a.target_error,
                        "race_algorithms": a.race_algorithms, "race_sizes": race_sizes, "race_seconds": a.race_seconds, "race_chains": race_chains },
        "machine": { "cpu_threads": rayon::current_num_threads(), "gpu": gpu.as_ref().map(|g| json!({ "adapter": g.adapter_name, "api": g.api, "device_type": g.device_type })) },
        "throughput": results,
        "ratios": ratios,
        "estimators": estimators,
        "race": race,
        "dynamic_exponents": exponents,
    });
    if let Some(p) = &a.output {
        io::write_atomic(p, |w| {
            serde_json::to_writer_pretty(&mut *w, &out).map_err(std::io::Error::other)?;
            writeln!(w)
        })?;
    }
    if let Some(p) = &a.plot {
        let mut curves = Vec::new();
        for &chains in &a.chains {
            for b in &a.backends {
                let points: Vec<(f64, f64)> = results
                    .iter()
                    .filter(|r| r.backend == b.name() && r.chains == chains)
                    .filter(|r| r.skipped.is_none())
                    .map(|r| (r.size as f64, r.median))
                    .collect();
                if !points.is_empty() {
                    curves.push(Curve {
                        label: format!(
                            "{} ({chains} chain{})",
                            b.name(),
                            if chains == 1 { "" } else { "s" }
                        ),
                        points,
                    });
                }
            }
        }
        log_log_png(
            p,
            (900, 600),
            &format!("{} {} throughput", a.lattice, a.algorithm.name()),
            "linear size L",
            "spin updates per ns (median)",
            &curves,
        )?;
    }
    Ok(())
}
