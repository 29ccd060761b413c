//! From per-chain integer counts to physical estimates with errors.
//!
//! Conventions (all per site, N = number of sites):
//!
//! * `energy_per_site` = ⟨E⟩/N with E = −J Σ x x − h Σ x exactly as in [`crate::model`]
//!   (not divided by J);
//! * `magnetization_per_site` = ⟨Σx⟩/N in the chosen units (the density for bernoulli);
//! * `abs_magnetization_per_site` = ⟨|Σx|⟩/N (equal to the density for bernoulli);
//! * `specific_heat_per_site` c = β² Var(E)/N;
//! * `susceptibility_per_site` χ = βN(⟨m²⟩ − ⟨|m|⟩²);
//! * `binder_cumulant` U = 1 − ⟨m⁴⟩/(3⟨m²⟩²);
//! * `correlation_length` ξ₂ = √(S(0)/S(k_min) − 1) / (2 sin(π/L)), the second-moment
//!   correlation length in lattice spacings, from the structure factor
//!   S(k) = ⟨|Σ_r s_r e^{ik·r}|²⟩/N at k = 0 and at the smallest non-zero wavevector
//!   k_min = 2π/L along x (and y, averaged, on the square and cubic lattices); null on the
//!   triangular lattice (its axes are not orthogonal) and where S(0) ≤ S(k_min). S(0)
//!   includes ⟨M⟩², so ξ₂ is meant for zero Ising field;
//!
//! where, for χ and U, m is the spin magnetisation per site, computed on s = 2x − 1 for
//! bernoulli units. Linear observables get binning errors and τ_int; the nonlinear ones get
//! jackknife errors over the same blocks and their bias-corrected jackknife estimate.

use crate::equilibration::Equilibration;
use crate::lattice::LatticeKind;
use crate::model::{Counts, Model};
use crate::stats::{self, Shape};
use serde::Serialize;

/// One estimate.
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Estimate {
    /// Estimate.
    pub mean: f64,
    /// Standard error.
    pub error: f64,
    /// Integrated autocorrelation time in measurement intervals (linear observables only).
    pub tau_int: Option<f64>,
}

/// All observables of a run, with the blocking used.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Observables {
    /// ⟨E⟩/N.
    pub energy_per_site: Estimate,
    /// ⟨Σx⟩/N.
    pub magnetization_per_site: Estimate,
    /// ⟨|Σx|⟩/N.
    pub abs_magnetization_per_site: Estimate,
    /// β² Var(E)/N.
    pub specific_heat_per_site: Estimate,
    /// βN(⟨m²⟩ − ⟨|m|⟩²).
    pub susceptibility_per_site: Estimate,
    /// 1 − ⟨m⁴⟩/(3⟨m²⟩²).
    pub binder_cumulant: Estimate,
    /// Second-moment correlation length ξ₂ (lattice spacings); `None` (null) where it is
    /// not defined: triangular lattice, or S(0) ≤ S(k_min).
    #[serde(default)]
    pub correlation_length: Option<Estimate>,
}

impl Observables {
    /// Results-file names, in table order.
    pub fn names() -> [&'static str; 7] {
        [
            "energy_per_site",
            "magnetization_per_site",
            "abs_magnetization_per_site",
            "specific_heat_per_site",
            "susceptibility_per_site",
            "binder_cumulant",
            "correlation_length",
        ]
    }

    /// (results-file name, estimate) for every observable that is defined, in table order.
    pub fn named(&self) -> Vec<(&'static str, &Estimate)> {
        let mut v = vec![
            ("energy_per_site", &self.energy_per_site),
            ("magnetization_per_site", &self.magnetization_per_site),
            (
                "abs_magnetization_per_site",
                &self.abs_magnetization_per_site,
            ),
            ("specific_heat_per_site", &self.specific_heat_per_site),
            ("susceptibility_per_site", &self.susceptibility_per_site),
            ("binder_cumulant", &self.binder_cumulant),
        ];
        if let Some(x) = &self.correlation_length {
            v.push(("correlation_length", x));
        }
        v
    }

    /// The estimate of an observable by its results-file name, if defined.
    pub fn get(&self, name: &str) -> Option<&Estimate> {
        self.named()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| e)
    }
}

/// How the errors were obtained.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Analysis {
    /// Measurements per chain.
    pub measurements_per_chain: usize,
    /// Chains.
    pub chains: usize,
    /// Block length (measurements) of binning and jackknife.
    pub block_length: usize,
    /// Number of blocks.
    pub blocks: usize,
    /// Human-readable warnings (e.g. block length below 10 τ_int, a drift).
    pub warnings: Vec<String>,
    /// Observables whose mean or error is not a finite number (NaN or ±∞, written as
    /// null): each also has a warning, and the command exits with status 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_finite: Vec<String>,
    /// The drift tests of the energy and |m| ([`crate::equilibration`]): `equilibrated`,
    /// `drift_z`, `mser_discard`, `drift`.
    #[serde(flatten)]
    pub equilibration: Equilibration,
}

/// Per-measurement values of one run (measurement-major, `n_time × n_chains`).
#[derive(Clone, Debug)]
pub struct Series {
    /// Shape.
    pub shape: Shape,
    /// E/N.
    pub energy: Vec<f64>,
    /// Σx/N in the model's units.
    pub magnetization: Vec<f64>,
    /// Spin magnetisation per site (s = 2x − 1 for bernoulli).
    pub spin_magnetization: Vec<f64>,
    /// |Σ_r s_r e^{ik_min·r}|²/N averaged over the lattice axes (empty on the triangular
    /// lattice).
    pub structure_factor: Vec<f64>,
    /// Linear size L.
    pub size: u32,
}

/// Number of lattice axes the structure factor at k_min is averaged over: x for the
/// chain, x and y for the square and cubic lattices, none for the triangular lattice.
pub fn fourier_axes(kind: LatticeKind) -> usize {
    match kind {
        LatticeKind::Chain => 1,
        LatticeKind::Square | LatticeKind::Cubic => 2,
        LatticeKind::Triangular => 0,
    }
}

/// ξ₂ = √(S(0)/S(k_min) − 1) / (2 sin(π/L)); `None` unless S(0) > S(k_min) > 0.
pub fn second_moment_length(s0: f64, sk: f64, size: u32) -> Option<f64> {
    let ratio = s0 / sk;
    (sk > 0.0 && ratio > 1.0)
        .then(|| (ratio - 1.0).sqrt() / (2.0 * (std::f64::consts::PI / size as f64).sin()))
}

impl Series {
    /// Converts counts (measurement-major) to per-site values.
    pub fn from_counts(model: &Model, counts: &[Counts], chains: usize) -> Series {
        let n = model.lattice.sites() as f64;
        Series {
            shape: Shape {
                n_time: counts.len() / chains,
                n_chains: chains,
            },
            energy: counts.iter().map(|&c| model.energy(c) / n).collect(),
            magnetization: counts.iter().map(|&c| model.unit_sum(c.ones) / n).collect(),
            spin_magnetization: counts
                .iter()
                .map(|&c| model.spin_magnetization_per_site(c))
                .collect(),
            structure_factor: match fourier_axes(model.lattice.kind()) {
                0 => Vec::new(),
                axes => counts
                    .iter()
                    .map(|c| (0..axes).map(|a| c.structure_factor(a, n)).sum::<f64>() / axes as f64)
                    .collect(),
            },
            size: model.lattice.size(),
        }
    }
}

/// A jackknife estimate of `f` of the block means (no τ_int: a nonlinear observable).
fn jk(blocks: &[Vec<f64>], f: &dyn Fn(&[f64]) -> f64) -> Estimate {
    let j = stats::jackknife(blocks, f);
    Estimate {
        mean: j.mean,
        error: j.error,
        tau_int: None,
    }
}

/// The binning estimate of a linear observable; the generic "error may be underestimated"
/// warning unless `drifts` (then the drift warning says more).
fn linear(
    values: &[f64],
    shape: Shape,
    name: &str,
    drifts: bool,
    warnings: &mut Vec<String>,
) -> Estimate {
    let b = stats::binning(values, shape);
    if !b.reliable && b.error != 0.0 && !drifts {
        warnings.push(format!(
            "{name}: {} blocks of {} measurements, tau_int = {:.1}: the error may be underestimated (want >= {} blocks, each >= 10 tau_int, and a binning plateau); measure longer",
            b.blocks,
            b.block_length,
            b.tau_int,
            stats::MIN_BLOCKS
        ));
    }
    Estimate {
        mean: b.mean,
        error: b.error,
        tau_int: Some(b.tau_int),
    }
}

/// Estimates every observable of a run.
pub fn estimate(model: &Model, series: &Series) -> (Observables, Analysis) {
    let shape = series.shape;
    let n = model.lattice.sites() as f64;
    let beta = model.beta;
    let abs_m: Vec<f64> = series.magnetization.iter().map(|m| m.abs()).collect();
    let equilibration = Equilibration::test(
        &[
            ("energy_per_site", &series.energy),
            ("abs_magnetization_per_site", &abs_m),
        ],
        shape,
    );
    let mut warnings = equilibration.warnings(crate::equilibration::SAMPLE_FIX);
    let drifts = |name: &str| {
        equilibration
            .of(name)
            .is_some_and(|d| d.z.abs() > crate::equilibration::DRIFT_Z_LIMIT)
    };
    let energy = linear(
        &series.energy,
        shape,
        "energy_per_site",
        drifts("energy_per_site"),
        &mut warnings,
    );
    let magnetization = linear(
        &series.magnetization,
        shape,
        "magnetization_per_site",
        false,
        &mut warnings,
    );
    let abs_magnetization = linear(
        &abs_m,
        shape,
        "abs_magnetization_per_site",
        drifts("abs_magnetization_per_site"),
        &mut warnings,
    );

    let b = shape.block_length();
    let blocks = |f: &dyn Fn(f64) -> f64, v: &[f64]| {
        let mapped: Vec<f64> = v.iter().map(|&x| f(x)).collect();
        stats::block_means(&mapped, shape, b)
    };
    let e1 = blocks(&|x| x, &series.energy);
    let e2 = blocks(&|x| x * x, &series.energy);
    let ms = &series.spin_magnetization;
    let am = blocks(&|x| x.abs(), ms);
    let m2 = blocks(&|x| x * x, ms);
    let m4 = blocks(&|x| x.powi(4), ms);
    let specific_heat = jk(&[e1.clone(), e2], &|m| {
        beta * beta * n * (m[1] - m[0] * m[0])
    });
    let susceptibility = jk(&[m2.clone(), am], &|m| beta * n * (m[0] - m[1] * m[1]));
    let binder = jk(&[m2.clone(), m4], &|m| 1.0 - m[1] / (3.0 * m[0] * m[0]));
    let correlation_length = if series.structure_factor.is_empty() {
        None
    } else {
        let sk = stats::block_means(&series.structure_factor, shape, b);
        let l = series.size;
        // S(0) = N m² with m the spin magnetisation per site
        let xi = |m: &[f64]| second_moment_length(n * m[0], m[1], l).unwrap_or(f64::NAN);
        let e = jk(&[m2.clone(), sk], &xi);
        if e.mean.is_finite() && e.error.is_finite() {
            Some(e)
        } else {
            warnings.push(
                "correlation_length: S(0) <= S(k_min) in the sample or a jackknife subsample (disordered or antiferromagnetic); reported as null".into(),
            );
            None
        }
    };
    let observables = Observables {
        energy_per_site: energy,
        magnetization_per_site: magnetization,
        abs_magnetization_per_site: abs_magnetization,
        specific_heat_per_site: specific_heat,
        susceptibility_per_site: susceptibility,
        binder_cumulant: binder,
        correlation_length,
    };
    let mut non_finite = Vec::new();
    for (name, e) in observables.named() {
        if !(e.mean.is_finite() && e.error.is_finite()) {
            non_finite.push(name.to_string());
            warnings.push(if e.mean.is_finite() {
                format!(
                    "{name}: no error bar (error {}) from {} blocks of {} measurements: measure more (sweeps / measure-every) or run more chains",
                    e.error,
                    e1.len(),
                    b
                )
            } else {
                format!(
                    "{name}: the mean is {}, not a number: the model's numbers overflow the arithmetic",
                    e.mean
                )
            });
        }
    }
    let analysis = Analysis {
        non_finite,
        measurements_per_chain: shape.n_time,
        chains: shape.n_chains,
        block_length: b,
        blocks: e1.len(),
        warnings,
        equilibration,
    };
    (observables, analysis)
}

/// Estimates of a cluster algorithm's run ([`cluster_estimates`]), next to the direct ones.
///
/// With zero Ising field H and a ferromagnetic Ising coupling K > 0 the cluster sizes give
/// improved estimators of the moments of M = Σ s (Fortuin–Kasteleyn): Swendsen–Wang
/// ⟨M²⟩ = ⟨Σ_C |C|²⟩ and ⟨M⁴⟩ = 3⟨(Σ_C |C|²)²⟩ − 2⟨Σ_C |C|⁴⟩; Wolff, whose clusters are
/// grown from uniformly chosen sites, ⟨M²⟩ = N⟨|C|⟩_Wolff. Elsewhere (a field, or an
/// antiferromagnet, whose clusters carry the staggered magnetisation) they are `None`.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct ClusterObservables {
    /// Clusters per sweep (Swendsen–Wang: all but the ghost's; Wolff: fixed for the run).
    pub clusters_per_sweep: Estimate,
    /// Mean size of those clusters (Σ|C| / clusters, a ratio of block means).
    pub mean_cluster_size: Estimate,
    /// βN⟨m²⟩ from the magnetisation directly (no ⟨|m|⟩² subtracted): what the improved
    /// estimator estimates.
    pub susceptibility_m2_per_site: Estimate,
    /// βN⟨m²⟩ from the cluster sizes.
    pub improved_susceptibility_per_site: Option<Estimate>,
    /// 1 − ⟨m⁴⟩/(3⟨m²⟩²) from the improved moments (Swendsen–Wang only).
    pub improved_binder_cumulant: Option<Estimate>,
}

impl ClusterObservables {
    /// (name, estimate) of every defined entry, in table order.
    pub fn named(&self) -> Vec<(&'static str, &Estimate)> {
        let mut v = vec![
            ("clusters_per_sweep", &self.clusters_per_sweep),
            ("mean_cluster_size", &self.mean_cluster_size),
            (
                "susceptibility_m2_per_site",
                &self.susceptibility_m2_per_site,
            ),
        ];
        if let Some(e) = &self.improved_susceptibility_per_site {
            v.push(("improved_susceptibility_per_site", e));
        }
        if let Some(e) = &self.improved_binder_cumulant {
            v.push(("improved_binder_cumulant", e));
        }
        v
    }
}

/// The cluster estimates of a run of `algorithm` (`None` for single-site algorithms), from
/// counts measurement-major over `chains`, with the blocks of [`estimate`].
pub fn cluster_estimates(
    model: &Model,
    algorithm: crate::model::Algorithm,
    counts: &[Counts],
    chains: usize,
) -> Option<ClusterObservables> {
    use crate::model::Algorithm;
    if !algorithm.is_cluster() || counts.is_empty() || chains == 0 {
        return None;
    }
    let shape = Shape {
        n_time: counts.len() / chains,
        n_chains: chains,
    };
    let n = model.lattice.sites() as f64;
    let beta = model.beta;
    let mut warnings = Vec::new();
    let series = |f: &dyn Fn(&Counts) -> f64| counts.iter().map(f).collect::<Vec<f64>>();
    let b = shape.block_length();
    let blocks = |f: &dyn Fn(&Counts) -> f64| stats::block_means(&series(f), shape, b);
    let clusters_per_sweep = linear(
        &series(&|c| c.cluster.clusters as f64),
        shape,
        "clusters_per_sweep",
        false,
        &mut warnings,
    );
    let count = blocks(&|c| c.cluster.clusters as f64);
    let sites = blocks(&|c| c.cluster.sites as f64);
    let mean_cluster_size = jk(&[sites.clone(), count.clone()], &|m| m[0] / m[1]);
    let m2 = blocks(&|c| model.spin_magnetization_per_site(*c).powi(2));
    let susceptibility_m2_per_site = jk(&[m2], &|m| beta * n * m[0]);
    let (k, h) = model.spin_couplings();
    let valid = h == 0.0 && k > 0.0;
    let (improved_susceptibility_per_site, improved_binder_cumulant) = match algorithm {
        Algorithm::SwendsenWang if valid => {
            let n2 = n * n;
            let q2 = blocks(&|c| c.cluster.squares as f64 / n2);
            let q4 = blocks(&|c| {
                let s2 = c.cluster.squares as f64 / n2;
                3.0 * s2 * s2 - 2.0 * c.cluster.quartic() as f64 / (n2 * n2)
            });
            (
                Some(jk(std::slice::from_ref(&q2), &|m| beta * n * m[0])),
                Some(jk(&[q2, q4], &|m| 1.0 - m[1] / (3.0 * m[0] * m[0]))),
            )
        }
        Algorithm::Wolff if valid => (Some(jk(&[sites, count], &|m| beta * m[0] / m[1])), None),
        _ => (None, None),
    };
    Some(ClusterObservables {
        clusters_per_sweep,
        mean_cluster_size,
        susceptibility_m2_per_site,
        improved_susceptibility_per_site,
        improved_binder_cumulant,
    })
}
