//! `blockspin bench`: flags → [`BenchSettings`], [`bench::run`], the table and the plots.
//! Speed is measured there and in `benches/`, never in tests.

use crate::bench::{self, BenchReport, BenchSettings, Column};
use crate::error::Result;
use crate::io;
use crate::lattice::LatticeKind;
use crate::model::Algorithm;
use std::path::PathBuf;

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
    pub backends: Vec<Column>,
    /// Numbers of chains timed at each size (rows of the table); all must fit in 80 % of
    /// the available memory.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    pub chains: Vec<u32>,
    /// Measure every K-th sweep inside the timed sweeps, as `sample` does (0: never; at
    /// most 2^20).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub measure_every: u32,
    /// Timed repeats per backend and size (median, min and max are reported), 1 to 100.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub repeats: u32,
    /// Each repeat runs at least this long (sweeps are doubled until it does, at most 2^20),
    /// in [0, 60] seconds.
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub min_seconds: f64,
    /// Inverse temperature of the benchmark (reduced, J = 1).
    #[arg(long, default_value_t = 0.4406868, allow_negative_numbers = true)]
    pub beta: f64,
    /// Lattice size of the estimator comparison (0 skips it).
    #[arg(long, default_value_t = 64, allow_negative_numbers = true)]
    pub estimator_size: u32,
    /// Target standard error of the energy per site, in (0, 1].
    #[arg(long, default_value_t = 2e-3, allow_negative_numbers = true)]
    pub target_error: f64,
    /// Give up an estimator run after this many seconds, in [0, 600] (or after 2^22
    /// measurements).
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
    /// Wall seconds of each race run (a fifth thermalizes, the rest measures every sweep),
    /// in (0, 600]; a run stops early after 2^22 measurements.
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

impl BenchArgs {
    /// The library settings of these flags.
    pub fn settings(&self) -> BenchSettings {
        BenchSettings {
            lattice: self.lattice,
            algorithm: self.algorithm,
            beta: self.beta,
            sizes: self.sizes.clone(),
            columns: self.backends.clone(),
            chains: self.chains.clone(),
            measure_every: self.measure_every,
            repeats: self.repeats,
            min_seconds: self.min_seconds,
            estimator_size: self.estimator_size,
            target_error: self.target_error,
            max_seconds: self.max_seconds,
            race_algorithms: self.race_algorithms.clone(),
            race_sizes: self.race_sizes.clone(),
            race_seconds: self.race_seconds,
            race_chains: self.race_chains,
        }
    }
}

/// `blockspin bench`.
///
/// # Errors
/// Bad input (exit 2) and backend errors.
pub fn run(a: &BenchArgs) -> Result<()> {
    let settings = a.settings();
    settings.resolved()?;
    for (flag, p) in [
        ("output", &a.output),
        ("plot", &a.plot),
        ("race-plot", &a.race_plot),
    ] {
        if let Some(p) = p {
            io::check_output_path(flag, p)?;
        }
    }
    let quiet = a.quiet;
    let r = bench::run(&settings, &mut |s| {
        if !quiet {
            eprintln!("{s}");
        }
    })?;
    print(&r);
    if let Some(p) = &a.race_plot {
        bench::race_png(&r, p)?;
    }
    if let Some(p) = &a.output {
        io::write_atomic(p, |w| {
            serde_json::to_writer_pretty(&mut *w, &r).map_err(std::io::Error::other)?;
            writeln!(w)
        })?;
    }
    if let Some(p) = &a.plot {
        bench::throughput_png(&r, p)?;
    }
    Ok(())
}

fn print(r: &BenchReport) {
    let s = &r.parameters;
    say!(
        "blockspin bench: {} {}, K = {}; CPU {} threads; GPU {}",
        s.lattice,
        s.algorithm.name(),
        s.beta,
        r.machine.cpu_threads,
        r.machine
            .gpu
            .as_ref()
            .map(|g| format!("{} ({}, {})", g.adapter, g.api, g.device_type))
            .unwrap_or_else(|| "none".into())
    );
    say!(
        "\n{:<10} {:<14} {:>7} {:>7} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "backend",
        "ran",
        "L",
        "chains",
        "sweeps",
        "median",
        "min",
        "max",
        "bytes/spin"
    );
    for t in &r.throughput {
        match &t.skipped {
            Some(why) => say!(
                "{:<10} {:<14} {:>7} {:>7} skipped: {why}",
                t.backend,
                "-",
                t.size,
                t.chains
            ),
            None => say!(
                "{:<10} {:<14} {:>7} {:>7} {:>8} {:>10.4} {:>10.4} {:>10.4} {:>10.3}",
                t.backend,
                t.ran,
                t.size,
                t.chains,
                t.sweeps,
                t.median,
                t.min,
                t.max,
                t.bytes_per_spin
            ),
        }
    }
    say!("(spin updates per ns)");
    for row in &r.ratios {
        let shown: Vec<String> = row
            .ratios
            .iter()
            .map(|(k, x)| format!("{k} {x:.2}"))
            .collect();
        if !shown.is_empty() {
            say!(
                "L = {}, {} chains: {}",
                row.size,
                row.chains,
                shown.join(", ")
            );
        }
    }
    if !r.estimators.is_empty() {
        say!(
            "\ntime to a standard error of {} in the energy per site (L = {}, 32 chains):",
            s.target_error,
            s.estimator_size
        );
        for e in &r.estimators {
            say!(
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
    if !r.race.is_empty() {
        print_race(r);
    }
}

fn print_race(r: &BenchReport) {
    let s = &r.parameters;
    say!(
        "\ncritical race: energy per site on the default backend, {} chains, {} s per run; cost = error^2 x measured seconds (lower is better)",
        s.race_chains,
        s.race_seconds
    );
    say!(
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
    for x in &r.race {
        say!(
            "{:<14} {:>5} {:>9} {:>12.6} {:>11.3e} {:>9.2} {:>9.2} {:>11.3e} {:>9.1}s  {}{}",
            x.algorithm,
            x.size,
            x.sweeps,
            x.energy_per_site,
            x.error,
            x.tau_int,
            x.tau_int_abs_magnetization,
            x.cost,
            x.seconds_to_target,
            x.ran,
            if x.reliable {
                ""
            } else {
                "  [binning not converged]"
            }
        );
    }
    for &size in &s.race_sizes {
        let at: Vec<&bench::race::RaceRun> = r.race.iter().filter(|x| x.size == size).collect();
        if let (Some(best), Some(first)) = (
            at.iter().min_by(|x, y| x.cost.total_cmp(&y.cost)),
            at.first(),
        ) {
            say!(
                "L = {size}: cheapest {} ({:.3e}); {} / cheapest = {:.1}",
                best.algorithm,
                best.cost,
                first.algorithm,
                first.cost / best.cost
            );
        }
    }
    for e in &r.dynamic_exponents {
        say!(
            "dynamic exponent {}: z = {:.2} ± {:.2} (tau_int of {}, L = {:?})",
            e.algorithm,
            e.z,
            e.error,
            e.observable,
            e.sizes
        );
    }
}
