//! Typed reports of `dbm analyze` (schema `blockspin/dbm-analyze/1`: the exact Gaussian
//! recursion and, for small models of every layer type, exact enumeration) and `dbm sample` (schema `blockspin/dbm-sample/1`: per-unit means with
//! jackknife errors and variances from block Gibbs sampling of one level).

use super::analytic::{self, Existence, Multibody, SeriesTruncation, rows};
use super::enumeration::{self, Exact};
use super::model::{Dbm, VisibleUnits};
use super::sampler::{Level, Snapshot};
use super::validate::{self, ValidateOptions};
use crate::backend::{BackendChoice, BackendInfo};
use crate::equilibration::Equilibration;
use crate::error::Result;
use crate::stats::GroupSums;
use serde::{Deserialize, Serialize};

/// Sizes of the three layers.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sizes {
    /// n_v.
    pub visible: usize,
    /// n_h.
    pub hidden: usize,
    /// n_s.
    pub deep: usize,
}

/// Unit types of the three layers (`spin`/`bernoulli` visible, `gaussian`/`bernoulli`
/// hidden and deep).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerUnits {
    /// Visible units.
    pub visible: String,
    /// Hidden units.
    pub hidden: String,
    /// Deep units.
    pub deep: String,
}

/// `dbm analyze`: the exact recursion (docs/dbm.md); a field is null where the model has no
/// closed form for it.
#[derive(Clone, Debug, Serialize)]
pub struct AnalyzeReport {
    /// "blockspin/dbm-analyze/1".
    pub schema: &'static str,
    /// Program version.
    pub version: &'static str,
    /// Layer sizes.
    pub sizes: Sizes,
    /// Layer unit types.
    pub units: LayerUnits,
    /// Normalizability of a Gaussian–Gaussian pair.
    pub existence: Option<Existence>,
    /// J_h = M Σ_s Mᵀ.
    pub hidden_coupling: Option<Vec<Vec<f64>>>,
    /// A = P_h − J_h.
    pub hidden_precision: Option<Vec<Vec<f64>>>,
    /// Field of h after integrating s out.
    pub hidden_field: Option<Vec<f64>>,
    /// ⟨h | v = 0⟩ under the Gaussian marginal.
    pub hidden_mean: Option<Vec<f64>>,
    /// A⁻¹.
    pub hidden_covariance: Option<Vec<Vec<f64>>>,
    /// Renormalized visible coupling.
    pub visible_coupling: Option<Vec<Vec<f64>>>,
    /// Renormalized visible field.
    pub visible_field: Option<Vec<f64>>,
    /// Constant of the visible Hamiltonian.
    pub constant: Option<f64>,
    /// ln Z by enumeration of v (small n_v).
    pub log_partition: Option<f64>,
    /// Cumulants κ_n of each deep unit (Bernoulli deep layer).
    pub cumulants: Option<Vec<Vec<f64>>>,
    /// Induced multi-body couplings of h.
    pub multibody_couplings: Option<Vec<Multibody>>,
    /// Truncation error of the cumulant series.
    pub truncation_error: Option<Vec<SeriesTruncation>>,
    /// Exact moments and visible multi-body couplings by enumeration after integrating
    /// the Gaussian layers (docs/dbm.md); null beyond the limit (see `exact_unavailable`).
    pub exact: Option<Exact>,
    /// Why `exact` is null.
    pub exact_unavailable: Option<String>,
    /// The keys holding a NaN or infinite value (written as null); empty when every
    /// result is finite. `dbm analyze` exits 1 when it is not empty.
    pub non_finite: Vec<String>,
}

/// The keys of `r` that hold a NaN or infinite value (JSON writes them as null).
pub fn non_finite(r: &AnalyzeReport) -> Vec<String> {
    fn bad(x: &[f64]) -> bool {
        x.iter().any(|v| !v.is_finite())
    }
    fn bad_rows(x: &Option<Vec<Vec<f64>>>) -> bool {
        x.as_ref().is_some_and(|m| m.iter().any(|row| bad(row)))
    }
    fn bad_vec(x: &Option<Vec<f64>>) -> bool {
        x.as_ref().is_some_and(|v| bad(v))
    }
    let mut keys = Vec::new();
    let mut flag = |key: &str, is_bad: bool| {
        if is_bad {
            keys.push(key.to_string());
        }
    };
    flag(
        "existence",
        r.existence
            .as_ref()
            .is_some_and(|e| !e.spectral_norm.is_finite()),
    );
    flag("hidden_coupling", bad_rows(&r.hidden_coupling));
    flag("hidden_precision", bad_rows(&r.hidden_precision));
    flag("hidden_field", bad_vec(&r.hidden_field));
    flag("hidden_mean", bad_vec(&r.hidden_mean));
    flag("hidden_covariance", bad_rows(&r.hidden_covariance));
    flag("visible_coupling", bad_rows(&r.visible_coupling));
    flag("visible_field", bad_vec(&r.visible_field));
    flag("constant", r.constant.is_some_and(|c| !c.is_finite()));
    flag(
        "log_partition",
        r.log_partition.is_some_and(|c| !c.is_finite()),
    );
    flag("cumulants", bad_rows(&r.cumulants));
    flag(
        "multibody_couplings",
        r.multibody_couplings.as_ref().is_some_and(|m| {
            m.iter()
                .any(|b| bad(&b.deep_cumulants) || bad_vec(&b.tensor))
        }),
    );
    flag(
        "truncation_error",
        r.truncation_error
            .as_ref()
            .is_some_and(|t| t.iter().any(|x| !(x.max.is_finite() && x.rms.is_finite()))),
    );
    if let Some(e) = &r.exact {
        flag("exact.log_partition", !e.log_partition.is_finite());
        flag("exact.visible_mean", bad(&e.visible_mean));
        flag(
            "exact.visible_second_moment",
            e.visible_second_moment.iter().any(|row| bad(row)),
        );
        flag("exact.hidden_mean", bad(&e.hidden_mean));
        flag("exact.deep_mean", bad(&e.deep_mean));
        flag(
            "exact.visible_couplings",
            e.visible_couplings
                .iter()
                .any(|o| !o.max_abs.is_finite() || o.terms.iter().any(|t| !t.value.is_finite())),
        );
    }
    keys
}

fn units(m: &Dbm) -> LayerUnits {
    LayerUnits {
        visible: match m.visible_units {
            VisibleUnits::Spin => "spin",
            VisibleUnits::Bernoulli => "bernoulli",
        }
        .into(),
        hidden: m.hidden.units().into(),
        deep: m.deep.units().into(),
    }
}

fn sizes(m: &Dbm) -> Sizes {
    let (visible, hidden, deep) = m.sizes();
    Sizes {
        visible,
        hidden,
        deep,
    }
}

/// The exact analysis of `m` with cumulants up to `order`.
///
/// # Errors
/// A model that is not normalizable ([`analytic::recursion`]).
pub fn analyze(m: &Dbm, order: usize) -> Result<AnalyzeReport> {
    let r = analytic::recursion(m)?;
    crate::interrupt::check()?;
    let (exact, exact_unavailable) = match enumeration::exact(m, &r, order) {
        Ok(e) => (e, None),
        Err(e) => (None, Some(e.describe())),
    };
    // an enumeration stopped by a stop request returns early: discard it
    crate::interrupt::check()?;
    let existence = analytic::existence(m);
    let cumulants = analytic::deep_cumulants(m, order);
    let multibody_couplings = analytic::multibody_couplings(m, order);
    crate::interrupt::check()?;
    let truncation_error = analytic::truncation_error(m, order, 1000, 1);
    crate::interrupt::check()?;
    let mat = |x: &Option<nalgebra::DMatrix<f64>>| x.as_ref().map(rows);
    let vec = |x: &Option<nalgebra::DVector<f64>>| x.as_ref().map(|v| v.iter().copied().collect());
    Ok(AnalyzeReport {
        schema: "blockspin/dbm-analyze/1",
        version: env!("CARGO_PKG_VERSION"),
        sizes: sizes(m),
        units: units(m),
        existence,
        hidden_coupling: mat(&r.hidden_coupling),
        hidden_precision: mat(&r.hidden_precision),
        hidden_field: vec(&r.hidden_field),
        hidden_mean: vec(&r.hidden_mean),
        hidden_covariance: mat(&r.hidden_covariance),
        visible_coupling: mat(&r.visible_coupling),
        visible_field: vec(&r.visible_field),
        constant: r.constant,
        log_partition: exact
            .as_ref()
            .map(|e| e.log_partition)
            .or_else(|| analytic::log_partition(m, &r)),
        cumulants,
        multibody_couplings,
        truncation_error,
        exact,
        exact_unavailable,
        non_finite: Vec::new(),
    })
    .map(|mut report| {
        report.non_finite = non_finite(&report);
        report
    })
}

/// One unit's sampled moments.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct UnitMoments {
    /// ⟨x⟩.
    pub mean: f64,
    /// Its jackknife error over groups of chains.
    pub error: f64,
    /// Var x (unbiased within each group's pooled sums).
    pub variance: f64,
}

/// The run parameters of a `dbm sample` report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SampleParameters {
    /// Chains.
    pub chains: u32,
    /// Thermalization sweeps.
    pub thermalize: u32,
    /// Measured sweeps.
    pub sweeps: u32,
    /// Snapshot interval.
    pub measure_every: u32,
    /// Seed.
    pub seed: u64,
    /// Device requested.
    pub backend: BackendChoice,
}

/// Wall time of a `dbm sample` run.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct SampleTiming {
    /// Seconds.
    pub wall_seconds: f64,
    /// chains × (thermalize + sweeps) per second.
    pub chain_sweeps_per_second: f64,
}

/// The drift test of a `dbm sample` run ([`crate::equilibration`]) on the per-chain mean of
/// each sampled layer (`visible_activity`, `hidden_activity`, `deep_activity`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SampleAnalysis {
    /// `equilibrated`, `drift_z`, `mser_discard`, `drift`.
    #[serde(flatten)]
    pub equilibration: Equilibration,
    /// A warning per drifting layer, naming the fix.
    pub warnings: Vec<String>,
}

/// `dbm sample`: per-unit moments of the layers the level samples (null for the others).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SampleReport {
    /// "blockspin/dbm-sample/1".
    pub schema: String,
    /// Program version.
    pub version: String,
    /// The model file.
    pub model: String,
    /// The sampled level.
    pub level: Level,
    /// Run parameters.
    pub parameters: SampleParameters,
    /// The backend that ran it.
    pub backend: BackendInfo,
    /// Snapshots per chain.
    pub snapshots: usize,
    /// The drift test of the sampled layers' mean activity and its warnings.
    #[serde(default)]
    pub analysis: SampleAnalysis,
    /// Visible units (all levels but `hidden-prior`).
    pub visible: Option<Vec<UnitMoments>>,
    /// Hidden units (all levels but `visible`).
    pub hidden: Option<Vec<UnitMoments>>,
    /// Deep units (`full` and `hidden-prior`).
    pub deep: Option<Vec<UnitMoments>>,
    /// Timing.
    pub timing: SampleTiming,
    /// The layers with a NaN or infinite mean or error (written as null); `dbm sample`
    /// exits 1 when it is not empty.
    #[serde(default)]
    pub non_finite: Vec<String>,
}

/// Samples `level` of `m` and returns the report and, when `keep_visible`, the visible
/// snapshots (snapshot-major, then chain, then unit; as i8).
///
/// # Errors
/// Invalid options ([`ValidateOptions::check`]), a model that is not normalizable, backend
/// errors.
pub fn sample(
    m: &Dbm,
    model_name: &str,
    level: Level,
    opts: &ValidateOptions,
    keep_visible: bool,
    notice: &mut dyn FnMut(&str),
) -> Result<(SampleReport, Vec<i8>)> {
    opts.check()?;
    let r = analytic::recursion(m)?;
    let (nv, nh, ns) = m.sizes();
    let chains = opts.chains as usize;
    let groups = 64.min(chains);
    let mut sums = GroupSums::new(groups, 2 * (nv + nh + ns));
    let mut samples: Vec<i8> = Vec::new();
    let mut snapshots = 0usize;
    let started = std::time::Instant::now();
    let (info, equilibration) =
        validate::sample_level(m, &r, level, opts, notice, |snap: &Snapshot| {
            snapshots += 1;
            for c in 0..chains {
                let mut row = Vec::with_capacity(2 * (nv + nh + ns));
                for (vals, n) in [(&snap.visible, nv), (&snap.hidden, nh), (&snap.deep, ns)] {
                    for u in 0..n {
                        let x = vals.get(c * n + u).copied().unwrap_or(f32::NAN) as f64;
                        row.push(x);
                        row.push(x * x);
                    }
                }
                sums.add(c % groups, &row);
            }
            if keep_visible {
                samples.extend(snap.visible.iter().map(|&x| x as i8));
            }
        })?;
    // per unit: the mean and the variance (m2 − m1²) n/(n − 1) of the pooled sums
    let est = sums.jackknife(|n, t| {
        t.chunks(2)
            .flat_map(|pair| {
                let (m1, m2) = (pair[0] / n, pair[1] / n);
                [m1, (m2 - m1 * m1) * n / (n - 1.0)]
            })
            .collect()
    });
    let layer = |offset: usize, n: usize, sampled: bool| {
        sampled.then(|| {
            (0..n)
                .map(|u| UnitMoments {
                    mean: est[2 * (offset + u)].mean,
                    error: est[2 * (offset + u)].error,
                    variance: est[2 * (offset + u) + 1].mean,
                })
                .collect()
        })
    };
    let wall = started.elapsed().as_secs_f64();
    let report = SampleReport {
        schema: "blockspin/dbm-sample/1".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        model: model_name.into(),
        level,
        parameters: SampleParameters {
            chains: opts.chains,
            thermalize: opts.thermalize,
            sweeps: opts.sweeps,
            measure_every: opts.measure_every,
            seed: opts.seed,
            backend: opts.backend,
        },
        backend: info,
        analysis: SampleAnalysis {
            warnings: equilibration.warnings(validate::DBM_FIX),
            equilibration,
        },
        snapshots,
        visible: layer(0, nv, level != Level::HiddenPrior),
        hidden: layer(nv, nh, level != Level::Visible),
        deep: layer(
            nv + nh,
            ns,
            matches!(level, Level::Full | Level::HiddenPrior),
        ),
        timing: SampleTiming {
            wall_seconds: wall,
            chain_sweeps_per_second: opts.chains as f64
                * (f64::from(opts.thermalize) + f64::from(opts.sweeps))
                / wall,
        },
        non_finite: Vec::new(),
    };
    Ok((report, samples))
}
