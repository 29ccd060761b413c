//! The MCRG column of `rg`'s coupling table: the same renormalized couplings, measured by
//! Monte Carlo renormalization group (physics.md §8) instead of the cumulant expansion.
//!
//! The fine lattice is sampled at `rg`'s reduced K and h (spins, β = 1, J = K, field h:
//! −βE = K Σ_⟨ij⟩ x_i x_j + h Σ_i x_i, the same K\[x\] as `rg`'s) on an L-site-per-axis
//! torus ([`McrgColumnSettings::size`]) with [`CHAINS`] chains, one configuration of every
//! chain per sweep after [`McrgColumnSettings::thermalize`] sweeps; every configuration is
//! blocked once (level 1) with `rg`'s block and rule ([`crate::mcrg::blocking`]: the same
//! bit order, decimation site and majority coins as `rg`), and Callen's identity gives the
//! level-1 couplings of a basis made of `rg`'s reported couplings that are MCRG operators
//! (every one but `constant`: `field`, `nn`, `nnn`, `3rd`, `plaquette` or `four`;
//! [`super::blocks::mcrg_names`]), with jackknife errors over groups of consecutive
//! configurations. The operators are the very sets of spins `rg`'s classes are made of
//! ([`super::blocks::operator_classes`]), so each MCRG coupling is the same coefficient
//! K′_S of Π_{j∈S} y_j as `rg`'s.
//!
//! The two estimates differ where they should: `rg`'s columns are the Walsh projection of
//! K′ on a small torus (the cumulant series truncated at order n, and the full estimate),
//! MCRG's the maximum-pseudo-likelihood couplings of a truncated basis on the L torus
//! (couplings outside the basis are absorbed by those in it). Where the series converges
//! and the basis holds the renormalized Hamiltonian (the chain with decimation: nn and
//! field only), the columns agree within errors.

use super::blocks::{Blocking, coupling_basis, mcrg_names};
use super::report::{Estimates, MEMORY_FRACTION};
use super::rules::Rule;
use crate::backend::{self, BackendChoice, BackendInfo, ChainSpec, Kernel, LatticeBackend, Start};
use crate::error::{Error, Result};
use crate::lattice::{Lattice, LatticeKind};
use crate::mcrg::operators::{self, OperatorTable, Torus};
use crate::mcrg::{self, McrgSettings, SamplingPlan};
use crate::model::{Algorithm, Model, Units};
use serde::{Deserialize, Serialize};

/// Chains sampled in parallel.
pub const CHAINS: u32 = 16;
/// Default sweeps measured (one configuration of every chain per sweep).
pub const DEFAULT_SWEEPS: u32 = 1000;
/// Default thermalization sweeps.
pub const DEFAULT_THERMALIZE: u32 = 200;
/// Default algorithm: Swendsen–Wang, whose autocorrelation stays short near K_c.
pub const DEFAULT_ALGORITHM: Algorithm = Algorithm::SwendsenWang;
/// The blocking level of the column.
pub const LEVEL: u32 = 1;
/// A coarse torus side from which no operator of `rg`'s basis folds.
const FOLD_FREE: u32 = 8;

/// How to measure the MCRG column (`rg --mcrg-size L` and its companions).
#[derive(Clone, Debug, PartialEq)]
pub struct McrgColumnSettings {
    /// Fine linear size L of the sampled torus: a multiple of the block, large enough for
    /// the basis on the L/b coarse torus.
    pub size: u32,
    /// Sweeps measured (≥ 1), one configuration of each of the [`CHAINS`] chains per sweep.
    pub sweeps: u32,
    /// Sweeps before the first measurement.
    pub thermalize: u32,
    /// Update algorithm of the sampler.
    pub algorithm: Algorithm,
}

impl McrgColumnSettings {
    /// `size` with the defaults ([`DEFAULT_SWEEPS`], [`DEFAULT_THERMALIZE`],
    /// [`DEFAULT_ALGORITHM`]).
    pub fn new(size: u32) -> Self {
        McrgColumnSettings {
            size,
            sweeps: DEFAULT_SWEEPS,
            thermalize: DEFAULT_THERMALIZE,
            algorithm: DEFAULT_ALGORITHM,
        }
    }

    /// The MCRG settings for `rg`'s blocking, rule and seed, checked; returns them with the
    /// basis (rg's names).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `mcrg-size` (triangular lattice, L not a multiple
    /// of the block, a torus too small for the basis or too large for the sampler or the
    /// memory), `mcrg-sweeps` (0) or `lambda`.
    pub fn check(&self, blocking: &Blocking, rule: &Rule, seed: u64) -> Result<McrgSettings> {
        let kind = blocking.lattice.kind();
        let block = blocking.block;
        let l = self.size;
        let bad = |why: String| Error::invalid("mcrg-size", why);
        if kind == LatticeKind::Triangular {
            return Err(bad(
                "the MCRG column needs the chain or the square lattice (MCRG does not block the triangular lattice)".into(),
            ));
        }
        if self.sweeps == 0 {
            return Err(Error::invalid("mcrg-sweeps", "must be at least 1 (got 0)"));
        }
        if l == 0 || !l.is_multiple_of(block) {
            return Err(bad(format!(
                "must be a positive multiple of the block {block} (got {l})"
            )));
        }
        let lattice = Lattice::new(kind, l).map_err(|e| bad(format!("{l}: {}", message(&e))))?;
        let model = Model::new(lattice, Units::Spin, 1.0, 1.0, 0.0)?;
        ChainSpec::new(model, self.algorithm, CHAINS, seed, Start::Hot)
            .map_err(|e| bad(format!("{l}: {}", message(&e))))?;
        if let Some(available) = crate::job::memory::available() {
            let need = memory_estimate(lattice.sites(), kind.dimension(), self.algorithm);
            if need > MEMORY_FRACTION * available as f64 {
                let gib = |b: f64| b / (1u64 << 30) as f64;
                return Err(bad(format!(
                    "the MCRG column at L = {l} needs about {:.2} GiB of memory but {:.2} GiB are available and at most {:.0} % of that is used",
                    gib(need),
                    gib(available as f64),
                    MEMORY_FRACTION * 100.0
                )));
            }
        }
        let names = basis_names(blocking);
        let coarse = l / block;
        // the basis spans at most 4 sites per axis: from 8 sites on, nothing folds (and the
        // check stays small whatever L is)
        if !fits(kind, coarse.min(FOLD_FREE), &names) {
            let least = (2..=FOLD_FREE)
                .find(|&c| fits(kind, c, &names))
                .unwrap_or(FOLD_FREE);
            // the lattice also needs an even size
            let mut min = least * block;
            while Lattice::new(kind, min).is_err() {
                min += block;
            }
            return Err(bad(format!(
                "the coarse torus L/b = {coarse} is too small for the basis {} (operators fold onto each other); use at least {min}",
                names.join(",")
            )));
        }
        let mut s = McrgSettings::new(kind, l, block, LEVEL, rule.clone(), seed)
            .map_err(|e| rename(e, "mcrg-size"))?;
        s.basis = names.iter().map(|n| n.to_string()).collect();
        // the exponents are not reported: the smallest truncations keep their cost down
        s.even_operators = Some(1);
        s.odd_operators = Some(1);
        s.validate().map_err(|e| rename(e, "mcrg-size"))?;
        Ok(s)
    }
}

/// The message of an error without its parameter prefix.
fn message(e: &Error) -> String {
    match e {
        Error::InvalidParameter { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// `e` naming `param` instead (`lambda` keeps its name: it is the same flag).
fn rename(e: Error, param: &'static str) -> Error {
    match e {
        Error::InvalidParameter { param: p, message } if p != "lambda" => {
            Error::invalid(param, format!("{p}: {message}"))
        }
        other => other,
    }
}

/// rg's coupling names that the column estimates, in basis order: every class of
/// [`super::blocks::coupling_basis`] but `constant`.
pub fn basis_names(blocking: &Blocking) -> Vec<&'static str> {
    mcrg_names(&coupling_basis(blocking), blocking.lattice.kind())
}

/// Whether `names` are well defined (distinct, unfolded) on the coarse torus of side `coarse`.
fn fits(kind: LatticeKind, coarse: u32, names: &[&str]) -> bool {
    let Ok(ops) = names
        .iter()
        .map(|n| operators::find(kind, n))
        .collect::<Result<Vec<_>>>()
    else {
        return false;
    };
    let torus = Torus {
        dimension: kind.dimension(),
        size: coarse,
    };
    OperatorTable::new(torus, &ops).distinct_prefix() == ops.len()
}

/// Bytes the column plans to hold for `sites` fine sites, on the generous side: the
/// sampler's chains (as [`crate::job::memory::estimate`]: 7 bytes per site and chain, 17
/// more per site and running chain for the cluster algorithms), one measurement's spins,
/// the fine operator tables (instances of up to five operators, 4-byte sites, and the
/// 16-byte keys of the one being enumerated) and every thread's local fields.
pub fn memory_estimate(sites: u64, dimension: u32, algorithm: Algorithm) -> f64 {
    let n = sites as f64;
    let threads = rayon::current_num_threads() as f64;
    let chains = CHAINS as f64;
    let cluster = if algorithm.is_cluster() {
        17.0 * threads.min(chains)
    } else {
        0.0
    };
    let tables = 64.0 * dimension as f64 + 48.0;
    n * (7.0 * chains + cluster + chains + tables + 32.0 * threads)
}

/// The MCRG column: what ran and the level-1 couplings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McrgColumn {
    /// Fine linear size L of the sampled torus.
    pub size: u32,
    /// The blocking level (1).
    pub level: u32,
    /// Coarse linear size L/b.
    pub coarse_size: u32,
    /// Sampler algorithm.
    pub algorithm: Algorithm,
    /// Chains.
    pub chains: u32,
    /// Thermalization sweeps.
    pub thermalize: u32,
    /// Measured sweeps (one configuration per chain and sweep).
    pub sweeps: u32,
    /// Configurations blocked and analysed (chains × sweeps).
    pub configurations: u64,
    /// Jackknife groups of consecutive configurations.
    pub jackknife_blocks: usize,
    /// Seed of the sampler and the blocking's coins (`rg`'s --seed).
    pub seed: u64,
    /// The Callen basis, rg's names.
    pub basis: Vec<String>,
    /// Level-1 couplings by name, with jackknife errors.
    pub couplings: Estimates,
    /// The sampler that ran.
    pub backend: BackendInfo,
}

/// Samples, blocks and estimates the column for `rg`'s blocking, rule (λ expanded or one
/// for all), K, h and seed.
///
/// # Errors
/// Those of [`McrgColumnSettings::check`]; the sampler's; a Callen iteration that does not
/// converge (naming `mcrg-size`); a stop request.
#[allow(clippy::too_many_arguments)]
pub fn run(
    column: &McrgColumnSettings,
    blocking: &Blocking,
    rule: &Rule,
    k: f64,
    h: f64,
    seed: u64,
    backend: BackendChoice,
    notice: &mut dyn FnMut(&str),
) -> Result<McrgColumn> {
    let settings = column.check(blocking, rule, seed)?;
    let lattice = Lattice::new(settings.lattice, settings.size)?;
    let model = Model::new(lattice, Units::Spin, 1.0, k, h)?;
    let spec = ChainSpec::new(model, column.algorithm, CHAINS, seed, Start::Hot)?;
    let device = match backend {
        BackendChoice::Auto => LatticeBackend::Auto,
        BackendChoice::Gpu => LatticeBackend::Gpu,
        BackendChoice::Cpu => LatticeBackend::Cpu,
    };
    let mut sampler = backend::open(device, Kernel::Auto, spec, notice)?;
    let plan = SamplingPlan {
        thermalize: column.thermalize,
        measurements: column.sweeps,
        measure_every: 1,
    };
    let report = mcrg::sample(sampler.as_mut(), &model, plan, &settings).map_err(|e| match e {
        Error::InvalidParameter {
            param: "basis",
            message,
        } => Error::invalid(
            "mcrg-size",
            format!("the MCRG column's couplings: {message}"),
        ),
        other => other,
    })?;
    let level = report
        .levels
        .get(LEVEL as usize)
        .ok_or_else(|| Error::Internal("the MCRG report has no level 1".into()))?;
    let couplings = level
        .couplings
        .as_ref()
        .ok_or_else(|| Error::Internal("the MCRG basis folds at level 1".into()))?;
    Ok(McrgColumn {
        size: settings.size,
        level: LEVEL,
        coarse_size: level.coarse_size,
        algorithm: column.algorithm,
        chains: report
            .parameters
            .sampling
            .as_ref()
            .map_or(CHAINS, |s| s.chains),
        thermalize: column.thermalize,
        sweeps: column.sweeps,
        configurations: report.parameters.configurations,
        jackknife_blocks: report.parameters.jackknife_blocks,
        seed,
        basis: settings.basis.clone(),
        couplings: couplings.0.iter().cloned().collect(),
        backend: report.backend.unwrap_or_else(|| sampler.info()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rg::report::{self, RgReport, RgSettings};

    fn blocking(kind: LatticeKind, size: u32, block: u32) -> Blocking {
        Blocking::new(Lattice::new(kind, size).unwrap(), block).unwrap()
    }

    #[test]
    fn the_basis_is_rgs_without_the_constant() {
        assert_eq!(
            basis_names(&blocking(LatticeKind::Chain, 16, 2)),
            ["field", "nn", "nnn", "3rd", "four"]
        );
        // a 4-block ring: one pair shell folds, four adjacent spins are the whole ring
        assert_eq!(
            basis_names(&blocking(LatticeKind::Chain, 8, 2)),
            ["field", "nn", "nnn"]
        );
        assert_eq!(
            basis_names(&blocking(LatticeKind::Square, 8, 2)),
            ["field", "nn", "nnn", "3rd", "plaquette"]
        );
    }

    #[test]
    fn settings_are_checked_by_name() {
        let name = |b: &Blocking, c: McrgColumnSettings| match c.check(b, &Rule::Majority, 1) {
            Err(Error::InvalidParameter { param, message }) => (param, message),
            other => panic!("{other:?}"),
        };
        let chain = blocking(LatticeKind::Chain, 16, 2);
        let square = blocking(LatticeKind::Square, 8, 2);
        let tri = blocking(LatticeKind::Triangular, 6, 3);
        assert_eq!(name(&chain, McrgColumnSettings::new(33)).0, "mcrg-size");
        let (p, m) = name(&chain, McrgColumnSettings::new(12));
        assert!(p == "mcrg-size" && m.contains("at least 14"), "{m}");
        let (p, m) = name(&square, McrgColumnSettings::new(8));
        assert!(p == "mcrg-size" && m.contains("at least 10"), "{m}");
        assert_eq!(name(&tri, McrgColumnSettings::new(24)).0, "mcrg-size");
        assert_eq!(
            name(&square, McrgColumnSettings::new(u32::MAX - 1)).0,
            "mcrg-size"
        );
        let none = McrgColumnSettings {
            sweeps: 0,
            ..McrgColumnSettings::new(64)
        };
        assert_eq!(name(&chain, none).0, "mcrg-sweeps");
        let s = McrgColumnSettings::new(14)
            .check(&chain, &Rule::Decimation, 5)
            .unwrap();
        assert_eq!((s.size, s.levels, s.block, s.seed), (14, 1, 2, 5));
        assert_eq!(s.basis, ["field", "nn", "nnn", "3rd", "four"]);
        // the stochastic rule's weights are rg's, one per block site
        let e = McrgColumnSettings::new(16)
            .check(&chain, &Rule::Stochastic(vec![1.0; 3]), 1)
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidParameter {
                    param: "lambda",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn the_column_is_in_the_report_and_round_trips() {
        let s = RgSettings {
            coupling: Some(0.4),
            order: 1,
            backend: BackendChoice::Cpu,
            rule: Rule::Majority,
            block: Some(3),
            size: Some(24),
            mcrg: Some(McrgColumnSettings {
                sweeps: 64,
                thermalize: 16,
                ..McrgColumnSettings::new(48)
            }),
            ..RgSettings::default()
        };
        let r = report::run(&s, &mut |_| {}).unwrap();
        let m = r.mcrg.as_ref().unwrap();
        assert_eq!((m.size, m.coarse_size, m.configurations), (48, 16, 64 * 16));
        assert_eq!(m.basis, ["field", "nn", "nnn", "3rd", "four"]);
        for name in &m.basis {
            let k = m.couplings[name];
            assert!(k.mean.is_finite() && k.error > 0.0, "{name}: {k:?}");
        }
        let back: RgReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        // the same seed gives the same column
        let again = report::run(&s, &mut |_| {}).unwrap();
        assert_eq!(again.mcrg, r.mcrg);
    }
}
