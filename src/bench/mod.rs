//! Benchmarks as a library call: [`BenchSettings`] (the library twin of the `blockspin bench`
//! flags) → [`run`] → a typed [`BenchReport`] (schema `blockspin/bench/1`).
//!
//! Three parts, each optional: the throughput table (spin updates per ns, median, min and
//! max over repeats, per column, size and number of chains, with ratios of medians measured
//! in the same run), the time each column needs to reach a target error of the energy per
//! site, and the critical-point race of the update algorithms on the default path
//! ([`race`]). Speed is measured here and in `benches/`, never in tests.

pub mod race;
pub mod throughput;

use crate::backend::gpu::GpuContext;
use crate::backend::{Kernel, LatticeBackend};
use crate::error::{Error, Result};
use crate::lattice::{Lattice, LatticeKind};
use crate::model::Algorithm;
use crate::plot::{Curve, log_log_png};
use race::{DynamicExponent, RaceRun};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use throughput::{EstimatorRun, Throughput};

/// Schema name of a bench report.
pub const BENCH_SCHEMA: &str = "blockspin/bench/1";

/// A column of the throughput table: a device and a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Column {
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

impl Column {
    /// Every column, in table order.
    pub const ALL: [Column; 7] = [
        Column::Cpu,
        Column::CpuFast,
        Column::CpuSites,
        Column::Gpu,
        Column::GpuFast,
        Column::GpuSites,
        Column::Auto,
    ];

    /// Column name.
    pub fn name(self) -> &'static str {
        match self {
            Column::Cpu => "cpu",
            Column::CpuFast => "cpu-fast",
            Column::CpuSites => "cpu-sites",
            Column::Gpu => "gpu",
            Column::GpuFast => "gpu-fast",
            Column::GpuSites => "gpu-sites",
            Column::Auto => "auto",
        }
    }

    /// The device it asks for.
    pub fn device(self) -> LatticeBackend {
        match self {
            Column::Cpu | Column::CpuFast | Column::CpuSites => LatticeBackend::Cpu,
            Column::Gpu | Column::GpuFast | Column::GpuSites => LatticeBackend::Gpu,
            Column::Auto => LatticeBackend::Auto,
        }
    }

    /// The kernel it asks for.
    pub fn kernel(self) -> Kernel {
        match self {
            Column::Cpu | Column::Gpu => Kernel::Reference,
            Column::CpuFast | Column::GpuFast => Kernel::Chains,
            Column::CpuSites | Column::GpuSites => Kernel::Sites,
            Column::Auto => Kernel::Auto,
        }
    }
}

/// Everything a benchmark run is defined by; the report's `parameters` (with `race_chains`
/// resolved and zero race sizes dropped). The CLI defaults are [`BenchSettings::default`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchSettings {
    /// Lattice.
    pub lattice: LatticeKind,
    /// Update rule of the throughput table and the estimator runs.
    pub algorithm: Algorithm,
    /// Reduced inverse temperature K (J = 1).
    pub beta: f64,
    /// Linear sizes of the throughput table.
    pub sizes: Vec<u32>,
    /// Columns.
    #[serde(rename = "backends")]
    pub columns: Vec<Column>,
    /// Numbers of chains timed at each size.
    pub chains: Vec<u32>,
    /// Measure every K-th sweep inside the timed sweeps (0: never).
    pub measure_every: u32,
    /// Timed repeats per point.
    pub repeats: u32,
    /// Each repeat runs at least this long (s).
    pub min_seconds: f64,
    /// Lattice size of the estimator comparison (0 skips it).
    pub estimator_size: u32,
    /// Target standard error of the energy per site.
    pub target_error: f64,
    /// Give up an estimator run after this many seconds.
    pub max_seconds: f64,
    /// Algorithms of the critical-point race.
    pub race_algorithms: Vec<Algorithm>,
    /// Linear sizes of the race (zeros are dropped; none skips it).
    pub race_sizes: Vec<u32>,
    /// Wall seconds of each race run.
    pub race_seconds: f64,
    /// Chains of each race run (0: one per CPU thread).
    pub race_chains: u32,
}

impl Default for BenchSettings {
    fn default() -> Self {
        BenchSettings {
            lattice: LatticeKind::Square,
            algorithm: Algorithm::HeatBath,
            beta: 0.4406868,
            sizes: vec![256, 1024, 4096],
            columns: Column::ALL.to_vec(),
            chains: vec![1, 32],
            measure_every: 0,
            repeats: 5,
            min_seconds: 0.2,
            estimator_size: 64,
            target_error: 2e-3,
            max_seconds: 60.0,
            race_algorithms: vec![
                Algorithm::HeatBath,
                Algorithm::SwendsenWang,
                Algorithm::Wolff,
            ],
            race_sizes: vec![32, 64, 128, 256],
            race_seconds: 10.0,
            race_chains: 0,
        }
    }
}

impl BenchSettings {
    /// The settings with defaults resolved (race chains, race sizes), checked.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the setting (`sizes`, `chains`, `race-seconds`,
    /// `race-sizes`, ...).
    pub fn resolved(&self) -> Result<BenchSettings> {
        if self.sizes.is_empty() || self.columns.is_empty() {
            return Err(Error::invalid(
                "sizes",
                "give at least one size and one backend",
            ));
        }
        if self.chains.is_empty() || self.chains.contains(&0) {
            return Err(Error::invalid(
                "chains",
                "give one or more numbers of chains, each at least 1",
            ));
        }
        let named = |param: &'static str| {
            move |e: Error| match e {
                Error::InvalidParameter { message, .. } => Error::invalid(param, message),
                e => e,
            }
        };
        for &size in &self.sizes {
            Lattice::new(self.lattice, size).map_err(named("sizes"))?;
        }
        if self.estimator_size > 0 {
            Lattice::new(self.lattice, self.estimator_size).map_err(named("estimator-size"))?;
        }
        if self.measure_every > MAX_MEASURE_EVERY {
            return Err(Error::invalid(
                "measure-every",
                format!(
                    "must be at most {MAX_MEASURE_EVERY} (got {})",
                    self.measure_every
                ),
            ));
        }
        if !(1..=MAX_REPEATS).contains(&self.repeats) {
            return Err(Error::invalid(
                "repeats",
                format!("must be in 1..={MAX_REPEATS} (got {})", self.repeats),
            ));
        }
        if !self.beta.is_finite() {
            return Err(Error::invalid(
                "beta",
                format!("must be finite (got {})", self.beta),
            ));
        }
        for (name, v, positive, max) in [
            ("min-seconds", self.min_seconds, false, MAX_MIN_SECONDS),
            ("target-error", self.target_error, true, 1.0),
            ("max-seconds", self.max_seconds, false, MAX_RUN_SECONDS),
            ("race-seconds", self.race_seconds, true, MAX_RUN_SECONDS),
        ] {
            if !v.is_finite() || v < 0.0 || (positive && v == 0.0) || v > max {
                let bound = if positive { "(0, " } else { "[0, " };
                return Err(Error::invalid(
                    name,
                    format!("must be a finite number in {bound}{max}] (got {v:e})"),
                ));
            }
        }
        let race_sizes: Vec<u32> = self.race_sizes.iter().copied().filter(|&l| l > 0).collect();
        for &size in &race_sizes {
            Lattice::new(self.lattice, size).map_err(named("race-sizes"))?;
        }
        let resolved = BenchSettings {
            race_sizes,
            race_chains: match self.race_chains {
                0 => rayon::current_num_threads() as u32,
                n => n,
            },
            ..self.clone()
        };
        resolved.check_memory(crate::job::memory::available())?;
        Ok(resolved)
    }

    /// Refuses a point whose chains do not fit in 80 % of `available` memory (bytes), naming
    /// `--chains` (`--race-chains` for the race), before anything is timed.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] with the estimate and the limit.
    pub fn check_memory(&self, available: Option<u64>) -> Result<()> {
        let Some(avail) = available else {
            return Ok(());
        };
        let limit = avail / 5 * 4;
        // (flag, size, chains, keeps a measurement series)
        let mut points: Vec<(&'static str, u32, u32, bool)> = Vec::new();
        for &size in &self.sizes {
            for &chains in &self.chains {
                points.push(("chains", size, chains, false));
            }
        }
        if self.estimator_size > 0 {
            points.push(("estimator-size", self.estimator_size, 32, true));
        }
        for &size in &self.race_sizes {
            points.push(("race-chains", size, self.race_chains, true));
        }
        for (param, size, chains, series) in points {
            let need = state_bytes(self.lattice, size, chains, self.algorithm)
                .saturating_add(if series { MAX_SERIES_BYTES } else { 0 });
            if need > limit {
                return Err(Error::invalid(
                    param,
                    format!(
                        "{chains} chains at L = {size} need about {:.2} GiB of memory but {:.2} GiB are available and at most 80 % of that is used",
                        need as f64 / (1u64 << 30) as f64,
                        avail as f64 / (1u64 << 30) as f64
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Largest `--measure-every`.
pub const MAX_MEASURE_EVERY: u32 = 1 << 20;
/// Most timed repeats per point.
pub const MAX_REPEATS: u32 = 100;
/// Largest `--min-seconds` (one repeat).
pub const MAX_MIN_SECONDS: f64 = 60.0;
/// Largest `--max-seconds` and `--race-seconds` (one run).
pub const MAX_RUN_SECONDS: f64 = 600.0;
/// Most measurements (per chain and sweep) kept by one estimator or race run; a run
/// that reaches it stops early.
pub const MAX_MEASUREMENTS: usize = 1 << 22;
/// Memory of [`MAX_MEASUREMENTS`] measurements.
const MAX_SERIES_BYTES: u64 = MAX_MEASUREMENTS as u64 * (crate::model::Counts::BYTES as u64 + 32);

/// Host bytes of `chains` chains at size `size`: as `sample` estimates them (bits, packed
/// and unpacked copies, cluster scratch per thread).
fn state_bytes(kind: LatticeKind, size: u32, chains: u32, algorithm: Algorithm) -> u64 {
    let sites = Lattice::new(kind, size).map_or(u64::MAX, |l| l.sites());
    let bits = sites.saturating_mul(u64::from(chains));
    let mut state = bits
        .saturating_mul(3)
        .saturating_add(bits.saturating_mul(4).min(1 << 32));
    if algorithm.is_cluster() {
        let running = u64::from(chains).min(rayon::current_num_threads() as u64);
        state = state.saturating_add(sites.saturating_mul(17).saturating_mul(running));
    }
    state
}

/// Ratios of medians reported for each (size, chains): GPU over CPU per kernel, the packed
/// kernels over the reference one, and (as `auto/best`) the default path over the fastest
/// explicit column.
pub const RATIOS: [(&str, &str); 7] = [
    ("gpu", "cpu"),
    ("gpu-fast", "cpu-fast"),
    ("gpu-sites", "cpu-sites"),
    ("cpu-fast", "cpu"),
    ("cpu-sites", "cpu"),
    ("cpu-sites", "cpu-fast"),
    ("gpu-sites", "gpu"),
];

/// Ratios of medians at one (size, chains), all measured in the same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    /// L.
    pub size: u32,
    /// Chains.
    pub chains: u32,
    /// The fastest explicit column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best: Option<String>,
    /// `"numerator/denominator"` → ratio of medians (see [`RATIOS`], plus `auto/best`).
    #[serde(flatten)]
    pub ratios: BTreeMap<String, f64>,
}

/// The GPU adapter wgpu found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Adapter name.
    pub adapter: String,
    /// Graphics API.
    pub api: String,
    /// Device type (discrete, integrated, cpu, ...).
    pub device_type: String,
}

/// The machine a report was measured on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU threads of the rayon pool.
    pub cpu_threads: usize,
    /// The GPU adapter, if any.
    pub gpu: Option<GpuInfo>,
}

/// Schema `blockspin/bench/1`: what `blockspin bench --output` writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// [`BENCH_SCHEMA`].
    pub schema: String,
    /// blockspin version.
    pub version: String,
    /// Resolved settings.
    pub parameters: BenchSettings,
    /// The machine.
    pub machine: Machine,
    /// One row per (size, chains, column), in that nesting order.
    pub throughput: Vec<Throughput>,
    /// One row per (size, chains).
    pub ratios: Vec<Ratios>,
    /// One per column that could run.
    pub estimators: Vec<EstimatorRun>,
    /// One per (race size, algorithm).
    pub race: Vec<RaceRun>,
    /// z per race algorithm and observable.
    pub dynamic_exponents: Vec<DynamicExponent>,
}

fn ratios(s: &BenchSettings, results: &[Throughput]) -> Vec<Ratios> {
    let at = |size: u32, chains: u32| {
        results
            .iter()
            .filter(move |r| r.size == size && r.chains == chains && r.skipped.is_none())
    };
    let median = |size, chains, name: &str| {
        at(size, chains)
            .find(|r| r.backend == name)
            .map(|r| r.median)
    };
    let mut rows = Vec::new();
    for &size in &s.sizes {
        for &chains in &s.chains {
            let mut row = Ratios {
                size,
                chains,
                best: None,
                ratios: BTreeMap::new(),
            };
            for (num, den) in RATIOS {
                if let (Some(x), Some(y)) = (median(size, chains, num), median(size, chains, den)) {
                    row.ratios.insert(format!("{num}/{den}"), x / y);
                }
            }
            let best = at(size, chains)
                .filter(|r| r.backend != Column::Auto.name())
                .max_by(|x, y| x.median.total_cmp(&y.median));
            if let (Some(auto), Some(best)) = (median(size, chains, Column::Auto.name()), best) {
                row.ratios.insert("auto/best".into(), auto / best.median);
                row.best = Some(best.backend.clone());
            }
            rows.push(row);
        }
    }
    rows
}

/// Runs the benchmark `s` describes; `notice` receives one line before each measurement.
///
/// # Errors
/// [`Error::InvalidParameter`] from [`BenchSettings::resolved`]; backend errors (a column
/// that cannot run a point is a skipped row, not an error).
pub fn run(s: &BenchSettings, notice: &mut dyn FnMut(&str)) -> Result<BenchReport> {
    let s = s.resolved()?;
    let mut results = Vec::new();
    for &size in &s.sizes {
        for &chains in &s.chains {
            for &c in &s.columns {
                notice(&format!(
                    "timing {} at L = {size}, {chains} chains ...",
                    c.name()
                ));
                results.push(throughput::throughput(&s, c, size, chains)?);
            }
        }
    }
    let ratios = ratios(&s, &results);
    let mut estimators = Vec::new();
    if s.estimator_size > 0 {
        for &c in &s.columns {
            notice(&format!(
                "estimator run on {} (L = {}, target error {}) ...",
                c.name(),
                s.estimator_size,
                s.target_error
            ));
            estimators.extend(throughput::estimator(&s, c)?);
        }
    }
    let mut race = Vec::new();
    for &size in &s.race_sizes {
        for &algorithm in &s.race_algorithms {
            notice(&format!(
                "race: {} at L = {size}, {} chains, {} s ...",
                algorithm.name(),
                s.race_chains,
                s.race_seconds
            ));
            race.push(race::run_one(
                s.lattice,
                s.beta,
                algorithm,
                size,
                s.race_chains,
                s.race_seconds,
                s.target_error,
            )?);
        }
    }
    let dynamic_exponents = race::dynamic_exponents(&race);
    let gpu = GpuContext::shared().ok().map(|g| GpuInfo {
        adapter: g.adapter_name.clone(),
        api: g.api.clone(),
        device_type: g.device_type.clone(),
    });
    Ok(BenchReport {
        schema: BENCH_SCHEMA.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        machine: Machine {
            cpu_threads: rayon::current_num_threads(),
            gpu,
        },
        parameters: s,
        throughput: results,
        ratios,
        estimators,
        race,
        dynamic_exponents,
    })
}

/// Draws throughput against L, one line per column and number of chains (PNG, log-log).
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn throughput_png(r: &BenchReport, path: &Path) -> Result<()> {
    let s = &r.parameters;
    let mut curves = Vec::new();
    for &chains in &s.chains {
        for c in &s.columns {
            let points: Vec<(f64, f64)> = r
                .throughput
                .iter()
                .filter(|t| t.backend == c.name() && t.chains == chains && t.skipped.is_none())
                .map(|t| (t.size as f64, t.median))
                .collect();
            if !points.is_empty() {
                curves.push(Curve {
                    label: format!(
                        "{} ({chains} chain{})",
                        c.name(),
                        if chains == 1 { "" } else { "s" }
                    ),
                    points,
                });
            }
        }
    }
    log_log_png(
        path,
        (900, 600),
        &format!("{} {} throughput", s.lattice, s.algorithm.name()),
        "linear size L",
        "spin updates per ns (median)",
        &curves,
    )
}

/// Draws τ_int of the energy against L for each race algorithm, with the fitted dynamic
/// exponent z in the legend (PNG, log-log).
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn race_png(r: &BenchReport, path: &Path) -> Result<()> {
    let s = &r.parameters;
    let curves: Vec<Curve> = s
        .race_algorithms
        .iter()
        .map(|alg| {
            let z = r
                .dynamic_exponents
                .iter()
                .find(|e| e.algorithm == alg.name() && e.observable == "energy_per_site");
            Curve {
                label: match z {
                    Some(e) => format!("{} (z = {:.2})", alg.name(), e.z),
                    None => alg.name().to_string(),
                },
                points: r
                    .race
                    .iter()
                    .filter(|x| x.algorithm == alg.name() && x.tau_int > 0.0)
                    .map(|x| (x.size as f64, x.tau_int))
                    .collect(),
            }
        })
        .filter(|c| !c.points.is_empty())
        .collect();
    log_log_png(
        path,
        (900, 600),
        &format!(
            "{} at K = {}: autocorrelation of the energy",
            s.lattice, s.beta
        ),
        "linear size L",
        "tau_int (sweeps)",
        &curves,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_report_has_every_row_and_round_trips() {
        let s = BenchSettings {
            sizes: vec![8, 16],
            // gpu: a skipped row (NaN) where no adapter is found
            columns: vec![Column::Cpu, Column::CpuSites, Column::Auto, Column::Gpu],
            chains: vec![1],
            repeats: 3,
            min_seconds: 0.0,
            estimator_size: 0,
            race_sizes: vec![0],
            ..BenchSettings::default()
        };
        let r = run(&s, &mut |_| {}).unwrap();
        assert_eq!(r.throughput.len(), 2 * 4);
        for t in r.throughput.iter().filter(|t| t.skipped.is_none()) {
            assert!(
                t.min > 0.0 && t.min <= t.median && t.median <= t.max,
                "{t:?}"
            );
        }
        assert_eq!(r.ratios.len(), 2);
        assert!(
            r.ratios
                .iter()
                .all(|x| x.ratios.contains_key("cpu-sites/cpu")
                    && x.ratios.contains_key("auto/best")
                    && x.best.is_some())
        );
        assert!(r.race.is_empty() && r.parameters.race_sizes.is_empty());
        assert!(r.parameters.race_chains >= 1);
        let text = serde_json::to_string(&r).unwrap();
        let back: BenchReport = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }

    #[test]
    fn bad_settings_are_named() {
        let name = |s: BenchSettings| match s.resolved() {
            Err(Error::InvalidParameter { param, .. }) => param,
            other => panic!("{other:?}"),
        };
        let d = BenchSettings::default();
        assert_eq!(
            name(BenchSettings {
                sizes: vec![],
                ..d.clone()
            }),
            "sizes"
        );
        assert_eq!(
            name(BenchSettings {
                chains: vec![0],
                ..d.clone()
            }),
            "chains"
        );
        assert_eq!(
            name(BenchSettings {
                beta: f64::NAN,
                ..d.clone()
            }),
            "beta"
        );
        assert_eq!(
            name(BenchSettings {
                race_sizes: vec![1],
                ..d.clone()
            }),
            "race-sizes"
        );
        assert_eq!(
            name(BenchSettings {
                max_seconds: -1.0,
                ..d
            }),
            "max-seconds"
        );
    }
}
