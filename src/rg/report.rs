//! One `blockspin rg` computation as a library call: [`RgSettings`] (the library twin of the
//! `rg` flags) → [`run`] → a typed [`RgReport`] (schema `blockspin/rg/1`).
//!
//! Two modes: the renormalized couplings at one (K, h), with the exact reference where one is
//! known and optionally a flow of `steps` (K, h) → (K′_nn, h′); or the non-trivial fixed point
//! of the nn recursion at h = 0 with its thermal eigenvalue (physics.md §4–5). K and h are
//! reduced (K = βJ, h = βh) and x = ±1.

use super::blocks::Blocking;
use super::estimate::{Configurations, Renormalized};
use super::exact::{self, ExactReference};
use super::flow::{self, FlowStep, Problem, Truncation};
use super::information::{self, LambdaOptimum, MutualInformation};
use super::mcrg_column::{self, McrgColumn, McrgColumnSettings};
use super::rules::Rule;
use crate::backend::{BackendChoice, BackendInfo};
use crate::error::{Error, Result};
use crate::lattice::{Lattice, LatticeKind};
use crate::stats::Jackknife;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema name of an RG report.
pub const RG_SCHEMA: &str = "blockspin/rg/1";

/// What to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The couplings at (K, h), then `steps` flow steps if given.
    Couplings {
        /// Flow steps after the first renormalization.
        steps: Option<usize>,
    },
    /// The non-trivial fixed point of the nn recursion at h = 0.
    FixedPoint,
}

/// Everything that defines an RG computation. Missing size, block and configurations take the
/// lattice's defaults (chain 16, square 8, triangular 6; block 2, triangular 3; all coarse
/// configurations up to 2^12, else 256 random ones).
#[derive(Clone, Debug, PartialEq)]
pub struct RgSettings {
    /// Fine lattice (periodic).
    pub lattice: LatticeKind,
    /// Fine linear size.
    pub size: Option<u32>,
    /// Block size.
    pub block: Option<u32>,
    /// Coarse-graining rule; stochastic weights may be one for all block sites.
    pub rule: Rule,
    /// Reduced nearest-neighbour coupling K (unused for [`Mode::FixedPoint`]).
    pub coupling: Option<f64>,
    /// Reduced field h.
    pub field: f64,
    /// Highest cumulant order (1–4).
    pub order: usize,
    /// Draws from p₀(x|y) per coarse configuration.
    pub samples: u32,
    /// Coarse configurations.
    pub configurations: Option<Configurations>,
    /// Flows and fixed points use the full log-mean-exp estimate, not the order-n partial sum.
    pub use_full: bool,
    /// What to compute.
    pub mode: Mode,
    /// Seed (the same at every K: common random numbers).
    pub seed: u64,
    /// Backend.
    pub backend: BackendChoice,
    /// Also compute the real-space mutual information I(H:E) of the rule for block 0 with
    /// this buffer width ([`super::information`]; couplings mode only).
    pub mutual_information_buffer: Option<u32>,
    /// Find the stochastic rule with the most information: maximise I(H:E) over λ in the
    /// box |λ_i| ≤ this value ([`super::information::optimize_lambda`]), then report the
    /// couplings at λ* next to decimation's and majority's (couplings mode, stochastic rule).
    pub optimize_lambda: Option<f64>,
    /// Exact or sampled information ([`information::Choice`]).
    pub mutual_information_method: information::Choice,
    /// Environments the sampled information averages over (all chains together).
    pub environments: u32,
    /// Also measure the couplings by MCRG (level 1 on a larger torus, [`super::mcrg_column`]):
    /// the table's MCRG column (couplings mode only).
    pub mcrg: Option<McrgColumnSettings>,
}

impl Default for RgSettings {
    fn default() -> Self {
        RgSettings {
            lattice: LatticeKind::Chain,
            size: None,
            block: None,
            rule: Rule::Decimation,
            coupling: None,
            field: 0.0,
            order: 4,
            samples: 1000,
            configurations: None,
            use_full: false,
            mode: Mode::Couplings { steps: None },
            seed: 2,
            backend: BackendChoice::Auto,
            mutual_information_buffer: None,
            optimize_lambda: None,
            mutual_information_method: information::Choice::Auto,
            environments: 4000,
            mcrg: None,
        }
    }
}

impl RgSettings {
    /// The validated problem.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `size`, `block`, `lambda` or `order`.
    pub fn problem(&self) -> Result<Problem> {
        let size = self.size.unwrap_or(match self.lattice {
            LatticeKind::Chain => 16,
            LatticeKind::Square => 8,
            _ => 6,
        });
        let lattice = Lattice::new(self.lattice, size)?;
        let block = self.block.unwrap_or(match self.lattice {
            LatticeKind::Triangular => 3,
            _ => 2,
        });
        let (sites, block_sites) = match self.lattice {
            LatticeKind::Chain => (size as u64, block as u64),
            LatticeKind::Square => (size as u64 * size as u64, block as u64 * block as u64),
            _ => (size as u64 * size as u64, 3),
        };
        let coarse = sites / block_sites.max(1);
        if coarse > MAX_COARSE_SITES {
            return Err(Error::invalid(
                "size",
                format!(
                    "{sites} sites in blocks of {block_sites} make {coarse} coarse sites; at most {MAX_COARSE_SITES} are supported (classifying the coarse couplings takes N'^2 steps)"
                ),
            ));
        }
        let blocking = Blocking::new(lattice, block)?;
        if matches!(&self.rule, Rule::Stochastic(l) if l.is_empty()) {
            return Err(Error::invalid(
                "lambda",
                "the stochastic rule needs weights, e.g. 1,0.5",
            ));
        }
        let rule = self.rule.clone().for_block(blocking.block_sites())?;
        if let Some(column) = &self.mcrg {
            if self.mode == Mode::FixedPoint {
                return Err(Error::invalid(
                    "mcrg-size",
                    "adds an MCRG column to the coupling table at a given K, not to the fixed-point search",
                ));
            }
            column.check(&blocking, &rule, self.seed)?;
        }
        if !(1..=4).contains(&self.order) {
            return Err(Error::invalid(
                "order",
                format!("must be in 1..=4 (got {})", self.order),
            ));
        }
        let configurations = distinct(
            blocking.coarse_sites(),
            self.configurations
                .unwrap_or(if blocking.coarse_sites() <= 12 {
                    Configurations::All
                } else {
                    Configurations::Random(256)
                }),
        );
        let needs_samples = self.order > 1 || self.use_full;
        check_memory(
            sites,
            blocking.coarse_sites() as u64,
            configurations,
            needs_samples.then_some(self.samples),
            crate::job::memory::available(),
        )?;
        Ok(Problem {
            blocking,
            rule,
            order: self.order,
            samples: self.samples,
            configurations,
            seed: self.seed,
            backend: self.backend,
            truncation: if self.use_full {
                Truncation::Full
            } else {
                Truncation::Order(self.order)
            },
        })
    }

    /// K and h, checked for the mode: finite, |K| ≤ [`MAX_COUPLING`], |h| ≤ [`MAX_FIELD`].
    fn couplings(&self) -> Result<(f64, f64)> {
        if !self.field.is_finite() || self.field.abs() > MAX_FIELD {
            return Err(Error::invalid(
                "field",
                format!(
                    "must be finite with |h| <= {MAX_FIELD} (got {})",
                    shown(self.field)
                ),
            ));
        }
        match (self.mode, self.coupling) {
            (Mode::FixedPoint, _) if self.field != 0.0 => Err(Error::invalid(
                "field",
                "the fixed-point search runs at h = 0",
            )),
            (Mode::FixedPoint, _) => Ok((0.0, 0.0)),
            (_, Some(k)) if k.abs() <= MAX_COUPLING => Ok((k, self.field)),
            (_, Some(k)) => Err(Error::invalid(
                "coupling",
                format!(
                    "must be finite with |K| <= {MAX_COUPLING} (got {})",
                    shown(k)
                ),
            )),
            (_, None) => Err(Error::invalid(
                "coupling",
                "give the reduced coupling K (or search the fixed point)",
            )),
        }
    }

    /// Checks every number of the settings that does not need the lattice: K, h, λ and
    /// λ_max ranges, so that a bad value is named before anything is allocated.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `coupling`, `field`, `lambda` or `lambda-max`.
    pub fn check_ranges(&self) -> Result<()> {
        self.couplings()?;
        if let Rule::Stochastic(l) = &self.rule
            && !l.is_empty()
        {
            Rule::Stochastic(l.clone()).for_block(l.len().max(1))?;
        }
        if let Some(m) = self.optimize_lambda
            && !(m > 0.0 && m <= MAX_LAMBDA)
        {
            return Err(Error::invalid(
                "lambda-max",
                format!("must be a number in (0, {MAX_LAMBDA}] (got {})", shown(m)),
            ));
        }
        Ok(())
    }
}

/// A number for a message: plain, or in exponent form when huge.
fn shown(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Largest |K| accepted. Every energy of an accepted lattice (at most 2^32 sites, ≤ 3 bonds
/// per site) stays below 10^13 in magnitude, far inside double range, and all exact
/// references are evaluated in log form (ln cosh x = |x| − ln 2 + ln(1 + e^{−2|x|})), so
/// results stay finite; at |K| ≥ 20 the couplings are K-dominated to double precision
/// anyway (e^{−2|K|} < 10^{−17}).
pub const MAX_COUPLING: f64 = 1000.0;
/// Largest |h| accepted (the same reasoning as [`MAX_COUPLING`]).
pub const MAX_FIELD: f64 = 1000.0;
pub use super::rules::MAX_LAMBDA;

/// Most coarse sites: the coupling classes compare every pair of blocks.
pub const MAX_COARSE_SITES: u64 = 1 << 16;
/// Fraction of the available memory a run may plan to use.
pub const MEMORY_FRACTION: f64 = 0.8;

/// `which` clamped to the distinct coarse configurations: N random ones plus the two
/// uniform ones cannot exceed 2^N′, and when they would, every configuration is used (the
/// Walsh projection, exact on the torus) — see [`clamped`].
pub fn distinct(n_coarse: usize, which: Configurations) -> Configurations {
    match which {
        Configurations::Random(n)
            if n_coarse <= 16 && (n as u128).saturating_add(2) >= 1u128 << n_coarse =>
        {
            Configurations::All
        }
        other => other,
    }
}

/// The note for a `--configurations` count clamped by [`distinct`], if it was.
pub fn clamped(n_coarse: usize, asked: Option<Configurations>) -> Option<String> {
    match asked {
        Some(Configurations::Random(n))
            if distinct(n_coarse, Configurations::Random(n)) == Configurations::All =>
        {
            Some(format!(
                "note: --configurations {n} (plus the 2 uniform ones) is at least the {} distinct coarse configurations of {n_coarse} blocks; using all of them (Walsh projection)",
                1u64 << n_coarse
            ))
        }
        _ => None,
    }
}

/// Bytes one run plans to hold: (blocking and coupling classes, configurations and their
/// fits, samples of one batch). Estimates, on the generous side.
pub fn memory_estimate(
    sites: u64,
    n_coarse: u64,
    configurations: Configurations,
    samples: Option<u32>,
) -> (f64, f64, f64) {
    let threads = rayon::current_num_threads() as f64;
    let lattice = sites as f64 * 64.0 + n_coarse as f64 * 512.0;
    let m = match configurations {
        Configurations::All => 2f64.powi(n_coarse.min(1023) as i32),
        Configurations::Random(n) => n as f64 + 2.0,
    };
    // coarse spins, features and projector, exact means, group sums, replicate K′(y)
    let per_configuration = n_coarse as f64
        + 2.0 * 8.0 * 8.0
        + 16.0
        + (super::estimate::GROUPS * 56 + 32) as f64
        + 8.0 * 5.0 * (super::estimate::GROUPS + 1) as f64;
    let configurations = m * per_configuration;
    let sampling = samples.map_or(0.0, |s| {
        let per_config = s as f64 * n_coarse as f64;
        // the batch's states, drawn and kept, plus every thread's K₁ values
        2.0 * 4.0 * per_config.max(4.0e6) + threads * 8.0 * s as f64
    });
    (lattice, configurations, sampling)
}

/// Refuses a run whose [`memory_estimate`] exceeds [`MEMORY_FRACTION`] of `available`
/// bytes (no check when unknown), naming the parameter that dominates.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `size`, `configurations` or `samples`.
pub fn check_memory(
    sites: u64,
    n_coarse: u64,
    configurations: Configurations,
    samples: Option<u32>,
    available: Option<u64>,
) -> Result<()> {
    let Some(available) = available else {
        return Ok(());
    };
    let (lattice, configs, sampling) = memory_estimate(sites, n_coarse, configurations, samples);
    let total = lattice + configs + sampling;
    let limit = MEMORY_FRACTION * available as f64;
    if total <= limit {
        return Ok(());
    }
    let gib = |b: f64| b / (1u64 << 30) as f64;
    let param = if configs >= lattice && configs >= sampling {
        "configurations"
    } else if sampling >= lattice {
        "samples"
    } else {
        "size"
    };
    Err(Error::invalid(
        param,
        format!(
            "the run needs about {:.2} GiB of memory ({:.2} GiB for the lattice and coupling classes, {:.2} GiB for the coarse configurations, {:.2} GiB for the samples of one batch) but {:.2} GiB are available and at most {:.0} % of that is used; use fewer --configurations or --samples, or a smaller --size",
            gib(total),
            gib(lattice),
            gib(configs),
            gib(sampling),
            gib(available as f64),
            MEMORY_FRACTION * 100.0
        ),
    ))
}

/// Couplings by name (`constant`, `field`, `nn`, ...) with jackknife errors.
pub type Estimates = BTreeMap<String, Jackknife>;

/// The parameters an RG report was computed with (resolved: defaults filled in).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RgParameters {
    /// Fine lattice.
    pub lattice: LatticeKind,
    /// Fine linear size.
    pub size: u32,
    /// Block size.
    pub block: u32,
    /// Sites per block.
    pub block_sites: usize,
    /// Coarse sites (blocks).
    pub coarse_sites: usize,
    /// K (null for a fixed-point search).
    pub coupling: Option<f64>,
    /// h.
    pub field: f64,
    /// Rule name.
    pub rule: String,
    /// Stochastic weights per block site (null for the other rules).
    pub lambda: Option<Vec<f64>>,
    /// Highest cumulant order.
    pub order: usize,
    /// Samples per coarse configuration.
    pub samples: u32,
    /// Coarse configurations.
    pub configurations: Configurations,
    /// Seed.
    pub seed: u64,
    /// Requested backend.
    pub backend: BackendChoice,
    /// Estimate used by flows and fixed points.
    pub flow_estimate: Truncation,
}

/// The couplings of one truncation order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderEstimates {
    /// Cumulant order n (terms up to n kept).
    pub order: usize,
    /// The couplings.
    pub couplings: Estimates,
}

/// How well the full (log-mean-exp) estimate is sampled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EffectiveSampleSize {
    /// Smallest (Σw)²/Σw² over coarse configurations.
    pub min: f64,
    /// Configurations below 100.
    pub below_100: usize,
    /// Coarse configurations used.
    #[serde(default)]
    pub configurations: usize,
}

/// The fixed point K*.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixedPointCoupling {
    /// K* of the nn recursion.
    pub nn: Jackknife,
}

/// An exact fixed point to compare with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactFixedPoint {
    /// Where the values come from.
    pub source: String,
    /// K*.
    pub fixed_point: f64,
    /// y_T.
    pub y_t: f64,
}

/// The exact reference of a report: couplings at (K, h), or a fixed point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Exact {
    /// Couplings (enumeration, 1D decimation, first-order NvL).
    Couplings(ExactReference),
    /// A fixed point (first-order NvL on the triangular lattice).
    FixedPoint(ExactFixedPoint),
}

/// Schema `blockspin/rg/1`: what `blockspin rg --output` writes. The couplings fields are
/// present in [`Mode::Couplings`], the fixed-point fields in [`Mode::FixedPoint`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RgReport {
    /// [`RG_SCHEMA`].
    pub schema: String,
    /// blockspin version.
    pub version: String,
    /// Resolved parameters.
    pub parameters: RgParameters,
    /// b = |block|^{1/d}.
    pub rescale_factor: f64,
    /// What ran.
    pub backend: BackendInfo,
    /// Block configurations drawn from p₀(·|y) in all (0: first order alone, exact).
    #[serde(default)]
    pub samples_drawn: u64,
    /// Coarse configurations used.
    #[serde(default)]
    pub configurations_used: usize,
    /// Coupling names in basis order (the maps below are sorted by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub basis: Vec<String>,
    /// Couplings of the full estimate (absent for first order alone: nothing is sampled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub couplings: Option<Estimates>,
    /// Couplings of the cumulant partial sums, orders 1 … order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_order: Option<Vec<OrderEstimates>>,
    /// Sampling quality of the full estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_sample_size: Option<EffectiveSampleSize>,
    /// The flow, from step 0 (the input couplings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<Vec<FlowStep>>,
    /// K*.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_point: Option<FixedPointCoupling>,
    /// λ_T = dK′/dK at K*.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eigenvalue: Option<Jackknife>,
    /// y_T = ln λ_T / ln b.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y_t: Option<Jackknife>,
    /// ν = 1 / y_T.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nu: Option<Jackknife>,
    /// The exact reference, where one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<Exact>,
    /// I(H:E) of the rule for block 0, in nats, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutual_information: Option<MutualInformation>,
    /// The MI-optimal stochastic rule (with `optimize_lambda`); the report's couplings are
    /// those at λ*.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimal_lambda: Option<LambdaOptimum>,
    /// λ*, decimation and majority side by side: information and couplings (the flow's
    /// truncation), to see whether the MI-optimal rule gives the shortest-range couplings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RuleSummary>>,
    /// The MCRG column (with `mcrg`): level-1 Callen couplings of the same K, h, block and
    /// rule on a torus of `mcrg.size` sites a side ([`McrgColumn`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcrg: Option<McrgColumn>,
    /// Notes on what was changed or is doubtful (a clamped `--configurations`, non-finite
    /// values), one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Every estimate that came out NaN or infinite (written as null in JSON), by its path in
    /// the report, e.g. `couplings.nn` or `exact.couplings.nn`; the command then exits 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_finite: Vec<String>,
}

/// The paths of the non-finite numbers of `r` (see [`RgReport::non_finite`]).
pub fn non_finite(r: &RgReport) -> Vec<String> {
    let mut out = Vec::new();
    let mut num = |path: String, x: f64| {
        if !x.is_finite() {
            out.push(path);
        }
    };
    let jk = |path: String, e: &Jackknife, num: &mut dyn FnMut(String, f64)| {
        num(path.clone(), e.mean);
        num(format!("{path}.error"), e.error);
    };
    if let Some(c) = &r.couplings {
        for (k, e) in c {
            jk(format!("couplings.{k}"), e, &mut num);
        }
    }
    for o in r.by_order.iter().flatten() {
        for (k, e) in &o.couplings {
            jk(format!("by_order[{}].{k}", o.order), e, &mut num);
        }
    }
    for t in r.trajectory.iter().flatten() {
        num(format!("trajectory[{}].nn", t.step), t.nn);
        num(format!("trajectory[{}].field", t.step), t.field);
    }
    if let Some(f) = &r.fixed_point {
        jk("fixed_point.nn".into(), &f.nn, &mut num);
    }
    for (name, e) in [
        ("eigenvalue", &r.eigenvalue),
        ("y_t", &r.y_t),
        ("nu", &r.nu),
    ] {
        if let Some(e) = e {
            jk(name.into(), e, &mut num);
        }
    }
    match &r.exact {
        Some(Exact::Couplings(e)) => {
            for (k, &v) in e.couplings.iter().flatten() {
                num(format!("exact.couplings.{k}"), v);
            }
            for o in &e.by_order {
                for (k, &v) in &o.couplings {
                    num(format!("exact.by_order[{}].{k}", o.order), v);
                }
            }
        }
        Some(Exact::FixedPoint(e)) => {
            num("exact.fixed_point".into(), e.fixed_point);
            num("exact.y_t".into(), e.y_t);
        }
        None => {}
    }
    if let Some(m) = &r.mutual_information {
        num("mutual_information.mean".into(), m.mean);
        num("mutual_information.error".into(), m.error);
    }
    if let Some(o) = &r.optimal_lambda {
        num(
            "optimal_lambda.mutual_information".into(),
            o.mutual_information,
        );
        for (i, &l) in o.lambda.iter().enumerate() {
            num(format!("optimal_lambda.lambda[{i}]"), l);
        }
    }
    if let Some(m) = &r.mcrg {
        for (k, e) in &m.couplings {
            jk(format!("mcrg.couplings.{k}"), e, &mut num);
        }
    }
    for s in r.rules.iter().flatten() {
        num(
            format!("rules.{}.mutual_information", s.rule),
            s.mutual_information,
        );
        for (k, e) in &s.couplings {
            num(format!("rules.{}.couplings.{k}", s.rule), e.mean);
        }
    }
    out
}

/// I(H:E) by the settings' method.
fn mutual_information(
    s: &RgSettings,
    p: &Problem,
    block: &[u32],
    k: f64,
    h: f64,
    w: u32,
    notice: &mut dyn FnMut(&str),
) -> Result<MutualInformation> {
    use information::Choice;
    let lat = &p.blocking.lattice;
    let exact = match s.mutual_information_method {
        Choice::Exact => true,
        Choice::Sampled => false,
        Choice::Auto => information::exact_feasible(lat, block, w),
    };
    if exact {
        return information::exact(lat, block, &p.rule, k, h, w);
    }
    const CHAINS: u32 = 16;
    // two series values per environment, kept for the drift test
    let series = 16.0 * s.environments as f64;
    if let Some(available) = crate::job::memory::available()
        && series > MEMORY_FRACTION * available as f64
    {
        return Err(Error::invalid(
            "environments",
            format!(
                "{} environments keep about {:.2} GiB of series but {:.2} GiB are available and at most {:.0} % of that is used",
                s.environments,
                series / (1u64 << 30) as f64,
                available as f64 / (1u64 << 30) as f64,
                MEMORY_FRACTION * 100.0
            ),
        ));
    }
    let how = information::Sampling {
        chains: CHAINS,
        measurements: s.environments.div_ceil(CHAINS).max(1),
        every: 4,
        thermalize: 1000,
        seed: s.seed,
        backend: match s.backend {
            BackendChoice::Auto => crate::backend::LatticeBackend::Auto,
            BackendChoice::Gpu => crate::backend::LatticeBackend::Gpu,
            BackendChoice::Cpu => crate::backend::LatticeBackend::Cpu,
        },
    };
    information::sampled(lat, block, &p.rule, k, h, w, &how, notice)
}

/// One rule's information and couplings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleSummary {
    /// Rule name.
    pub rule: String,
    /// Its weights (stochastic).
    pub lambda: Option<Vec<f64>>,
    /// I(H:E) in nats.
    pub mutual_information: f64,
    /// Couplings of the flow's truncation (`flow_estimate`).
    pub couplings: Estimates,
}

impl RuleSummary {
    fn of(r: &RgReport) -> Option<RuleSummary> {
        let couplings = match r.parameters.flow_estimate {
            Truncation::Full => r.couplings.clone()?,
            Truncation::Order(o) => r.by_order.as_ref()?.get(o - 1)?.couplings.clone(),
        };
        Some(RuleSummary {
            rule: r.parameters.rule.clone(),
            lambda: r.parameters.lambda.clone(),
            mutual_information: r.mutual_information.as_ref()?.mean,
            couplings,
        })
    }
}

/// [`run`] with `optimize_lambda`: λ*, then the report at λ* with decimation and majority
/// beside it.
fn optimize(s: &RgSettings, lambda_max: f64, notice: &mut dyn FnMut(&str)) -> Result<RgReport> {
    if !matches!(s.rule, Rule::Stochastic(_)) || s.mode == Mode::FixedPoint {
        return Err(Error::invalid(
            "optimize-lambda",
            "optimises the weights of the stochastic rule at a given coupling (use the stochastic rule, not the fixed-point search)",
        ));
    }
    let w = s.mutual_information_buffer.unwrap_or(1);
    let base = RgSettings {
        rule: Rule::Stochastic(vec![0.0]),
        optimize_lambda: None,
        mutual_information_buffer: Some(w),
        ..s.clone()
    };
    let p = base.problem()?;
    let (k, h) = base.couplings()?;
    let block = p.blocking.blocks.first().cloned().unwrap_or_default();
    let lattice = p.blocking.lattice;
    let opt = information::optimize_lambda(block.len(), lambda_max, &|l: &[f64]| {
        information::exact(&lattice, &block, &Rule::Stochastic(l.to_vec()), k, h, w).map(|m| m.mean)
    })?;
    let mut report = compute(
        &RgSettings {
            rule: Rule::Stochastic(opt.lambda.clone()),
            ..base.clone()
        },
        notice,
    )?;
    let mut rules: Vec<RuleSummary> = RuleSummary::of(&report).into_iter().collect();
    for rule in [Rule::Decimation, Rule::Majority] {
        let r = compute(
            &RgSettings {
                rule,
                ..base.clone()
            },
            notice,
        )?;
        rules.extend(RuleSummary::of(&r));
    }
    report.optimal_lambda = Some(opt);
    report.rules = Some(rules);
    Ok(report)
}

fn estimates(names: &[&str], values: &[Jackknife]) -> Estimates {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| (n.to_string(), *v))
        .collect()
}

fn couplings_of(r: &Renormalized) -> (Option<Estimates>, Vec<OrderEstimates>) {
    (
        r.full.as_ref().map(|f| estimates(&r.names, &f.jackknife())),
        r.orders
            .iter()
            .enumerate()
            .map(|(o, f)| OrderEstimates {
                order: o + 1,
                couplings: estimates(&r.names, &f.jackknife()),
            })
            .collect(),
    )
}

/// Runs the computation `s` describes; `notice` receives one-line notes (backend choice, a
/// flow leaving the sampled range).
///
/// # Errors
/// [`Error::InvalidParameter`] for bad settings (named as in [`RgSettings`], kebab-case) and
/// when no fixed point exists in K ∈ [0.05, 1.5] (`fixed-point`); backend errors.
pub fn run(s: &RgSettings, notice: &mut dyn FnMut(&str)) -> Result<RgReport> {
    s.check_ranges()?;
    let mut report = match s.optimize_lambda {
        Some(lambda_max) => optimize(s, lambda_max, notice)?,
        None => compute(s, notice)?,
    };
    if let (Some(column), Mode::Couplings { .. }) = (&s.mcrg, s.mode) {
        // at λ* when the weights were optimised
        let rule = match &report.optimal_lambda {
            Some(o) => Rule::Stochastic(o.lambda.clone()),
            None => s.rule.clone(),
        };
        let p = RgSettings {
            rule: rule.clone(),
            ..s.clone()
        }
        .problem()?;
        let (k, h) = s.couplings()?;
        report.mcrg = Some(mcrg_column::run(
            column,
            &p.blocking,
            &p.rule,
            k,
            h,
            s.seed,
            s.backend,
            notice,
        )?);
    }
    if let Some(note) = clamped(report.parameters.coarse_sites, s.configurations) {
        notice(&note);
        report.warnings.push(note);
    }
    report.non_finite = non_finite(&report);
    if !report.non_finite.is_empty() {
        report.warnings.push(format!(
            "non-finite estimates (NaN or infinite; null in JSON): {}",
            report.non_finite.join(", ")
        ));
    }
    Ok(report)
}

/// [`run`] without the final checks.
fn compute(s: &RgSettings, notice: &mut dyn FnMut(&str)) -> Result<RgReport> {
    let p = s.problem()?;
    let (k, h) = s.couplings()?;
    let b: &Blocking = &p.blocking;
    let parameters = RgParameters {
        lattice: b.lattice.kind(),
        size: b.lattice.size(),
        block: b.block,
        block_sites: b.block_sites(),
        coarse_sites: b.coarse_sites(),
        coupling: match s.mode {
            Mode::FixedPoint => s.coupling.filter(|k| k.is_finite()),
            Mode::Couplings { .. } => Some(k),
        },
        field: h,
        rule: p.rule.name().to_string(),
        lambda: match &p.rule {
            Rule::Stochastic(l) => Some(l.clone()),
            _ => None,
        },
        order: p.order,
        samples: p.samples,
        configurations: p.configurations,
        seed: p.seed,
        backend: p.backend,
        flow_estimate: p.truncation,
    };
    let mut report = RgReport {
        schema: RG_SCHEMA.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        parameters,
        rescale_factor: b.rescale_factor(),
        backend: BackendInfo {
            kind: String::new(),
            adapter: String::new(),
            api: String::new(),
            kernel: String::new(),
        },
        samples_drawn: 0,
        configurations_used: 0,
        basis: Vec::new(),
        couplings: None,
        by_order: None,
        effective_sample_size: None,
        trajectory: None,
        fixed_point: None,
        eigenvalue: None,
        y_t: None,
        nu: None,
        exact: None,
        mutual_information: None,
        optimal_lambda: None,
        rules: None,
        mcrg: None,
        warnings: Vec::new(),
        non_finite: Vec::new(),
    };
    if let Some(w) = s.mutual_information_buffer {
        if s.mode == Mode::FixedPoint {
            return Err(Error::invalid(
                "mutual-information",
                "is computed at a given coupling K, not with the fixed-point search",
            ));
        }
        let block = b.blocks.first().map(Vec::as_slice).unwrap_or(&[]);
        report.mutual_information = Some(mutual_information(s, &p, block, k, h, w, notice)?);
    }
    match s.mode {
        Mode::FixedPoint => {
            let fp = flow::fixed_point(&p, 0.05, 1.5, notice)?;
            report.backend = fp.backend;
            report.samples_drawn = fp.samples_drawn;
            report.fixed_point = Some(FixedPointCoupling { nn: fp.nn });
            report.eigenvalue = Some(fp.eigenvalue);
            report.y_t = Some(fp.y_t);
            report.nu = Some(fp.nu);
            if exact::is_triangular_majority(b, &p.rule) {
                report.exact = Some(Exact::FixedPoint(ExactFixedPoint {
                    source: "first-order Niemeijer-van Leeuwen (physics.md §5c)".into(),
                    fixed_point: exact::nvl_fixed_point(),
                    y_t: exact::nvl_y_t(),
                }));
            }
        }
        Mode::Couplings { steps } => {
            let r = p.renormalize(k, h, notice)?;
            let (full, by_order) = couplings_of(&r);
            report.basis = r.names.iter().map(|n| n.to_string()).collect();
            report.couplings = full;
            report.by_order = Some(by_order);
            report.samples_drawn = r.samples_drawn;
            report.effective_sample_size = (r.samples_drawn > 0).then_some(EffectiveSampleSize {
                min: r.min_ess,
                below_100: r.low_ess_configurations,
                configurations: r.configurations,
            });
            report.configurations_used = r.configurations;
            report.exact =
                exact::reference(b, &p.rule, p.order, &r.names, k, h).map(Exact::Couplings);
            // the enumeration gives up (None) on a stop request
            crate::interrupt::check()?;
            report.backend = r.backend;
            if let Some(steps) = steps {
                report.trajectory = Some(flow::flow(&p, k, h, steps, notice)?);
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_by_name() {
        let name = |s: RgSettings| match run(&s, &mut |_| {}) {
            Err(Error::InvalidParameter { param, .. }) => param,
            other => panic!("{other:?}"),
        };
        let base = RgSettings {
            coupling: Some(0.5),
            backend: BackendChoice::Cpu,
            samples: 128,
            ..RgSettings::default()
        };
        assert_eq!(
            name(RgSettings {
                coupling: None,
                ..base.clone()
            }),
            "coupling"
        );
        assert_eq!(
            name(RgSettings {
                coupling: Some(f64::NAN),
                ..base.clone()
            }),
            "coupling"
        );
        assert_eq!(
            name(RgSettings {
                field: f64::INFINITY,
                ..base.clone()
            }),
            "field"
        );
        assert_eq!(
            name(RgSettings {
                order: 5,
                ..base.clone()
            }),
            "order"
        );
        assert_eq!(
            name(RgSettings {
                rule: Rule::Stochastic(vec![]),
                ..base.clone()
            }),
            "lambda"
        );
        assert_eq!(
            name(RgSettings {
                mode: Mode::FixedPoint,
                field: 0.1,
                ..base.clone()
            }),
            "field"
        );
        assert_eq!(
            name(RgSettings {
                mode: Mode::FixedPoint,
                ..base
            }),
            "fixed-point"
        );
    }

    #[test]
    fn ranges_are_checked_by_name_before_anything_runs() {
        let name = |s: RgSettings| match s.check_ranges() {
            Err(Error::InvalidParameter { param, .. }) => param,
            other => panic!("{other:?}"),
        };
        let base = RgSettings {
            coupling: Some(0.5),
            ..RgSettings::default()
        };
        for k in [1e308, -1000.5, f64::NAN] {
            let s = RgSettings {
                coupling: Some(k),
                ..base.clone()
            };
            assert_eq!(name(s), "coupling");
        }
        for h in [1e308, f64::NEG_INFINITY, f64::NAN] {
            let s = RgSettings {
                field: h,
                ..base.clone()
            };
            assert_eq!(name(s), "field");
        }
        for l in [vec![f64::NAN], vec![1.0, 1e4]] {
            let s = RgSettings {
                rule: Rule::Stochastic(l),
                ..base.clone()
            };
            assert_eq!(name(s), "lambda");
        }
        for m in [1e308, 1e4, 0.0, f64::NAN] {
            let s = RgSettings {
                rule: Rule::Stochastic(vec![0.0]),
                optimize_lambda: Some(m),
                ..base.clone()
            };
            assert_eq!(name(s), "lambda-max");
        }
        assert!(
            RgSettings {
                coupling: Some(-1000.0),
                field: 1000.0,
                ..base
            }
            .check_ranges()
            .is_ok()
        );
    }

    #[test]
    fn configurations_are_clamped_and_memory_bounded() {
        assert_eq!(
            distinct(8, Configurations::Random(254)),
            Configurations::All
        );
        assert_eq!(
            distinct(8, Configurations::Random(253)),
            Configurations::Random(253)
        );
        assert_eq!(
            distinct(20, Configurations::Random(usize::MAX)),
            Configurations::Random(usize::MAX)
        );
        assert!(clamped(8, Some(Configurations::Random(1000))).is_some());
        assert!(clamped(8, Some(Configurations::Random(10))).is_none());
        let gib = 1u64 << 30;
        let param = |c, samples| match check_memory(64, 32, c, samples, Some(gib)) {
            Err(Error::InvalidParameter { param, .. }) => param,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            param(Configurations::Random(1 << 40), Some(1000)),
            "configurations"
        );
        assert_eq!(
            param(Configurations::Random(256), Some(u32::MAX)),
            "samples"
        );
        assert!(check_memory(64, 32, Configurations::Random(256), Some(1000), Some(gib)).is_ok());
        assert!(check_memory(64, 32, Configurations::Random(1 << 40), None, None).is_ok());
    }

    #[test]
    fn non_finite_estimates_are_listed() {
        let s = RgSettings {
            coupling: Some(0.5),
            order: 1,
            backend: BackendChoice::Cpu,
            ..RgSettings::default()
        };
        let mut r = run(&s, &mut |_| {}).unwrap();
        assert!(r.non_finite.is_empty() && r.warnings.is_empty());
        if let Some(o) = r.by_order.as_mut() {
            o[0].couplings.get_mut("nn").unwrap().mean = f64::NAN;
        }
        if let Some(Exact::Couplings(e)) = r.exact.as_mut() {
            e.couplings
                .as_mut()
                .unwrap()
                .insert("nn".into(), f64::INFINITY);
        }
        assert_eq!(non_finite(&r), ["by_order[1].nn", "exact.couplings.nn"]);
    }

    #[test]
    fn chain_decimation_report_round_trips_and_matches_exact() {
        let s = RgSettings {
            coupling: Some(0.5),
            samples: 128,
            backend: BackendChoice::Cpu,
            mode: Mode::Couplings { steps: Some(1) },
            ..RgSettings::default()
        };
        let r = run(&s, &mut |_| {}).unwrap();
        let Some(Exact::Couplings(e)) = &r.exact else {
            panic!("{:?}", r.exact)
        };
        let exact = e.couplings.as_ref().unwrap()["nn"];
        assert!((exact - 0.5 * 1f64.cosh().ln()).abs() < 1e-12);
        // decimation of the chain: the sampled nn coupling is exact up to its error bar
        let nn = r.couplings.as_ref().unwrap()["nn"];
        assert!(nn.error > 0.0 && nn.error < 0.05, "{nn:?}");
        assert!(
            ((nn.mean - exact) / nn.error).abs() < 5.0,
            "{nn:?} vs {exact}"
        );
        assert_eq!(r.trajectory.as_ref().unwrap().len(), 2);
        let text = serde_json::to_string(&r).unwrap();
        let back: RgReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }
}
