//! `blockspin dbm validate`: the analytic recursion checked against sampling at every level.
//!
//! Checks (each `{name, level, index, analytic, estimate, error, z}`):
//!
//! * `visible_mean` [i], `visible_pair` [i, j] (⟨v_i⟩, ⟨v_i v_j⟩ in the visible units'
//!   own values) at levels `full`, `visible_hidden`, `visible`, against the exact moments of
//!   the analytic p(v) (enumeration per connected component of J_v) or, when that is too
//!   large, against the `full` estimate (z = (a − b)/√(e_a² + e_b²));
//! * `hidden_mean` [j]: ⟨h_j⟩ of `visible_hidden` against `full` (same (v, h) marginal);
//! * `hidden_cumulant_1` [j], `hidden_cumulant_2` [j, k], `hidden_cumulant_3` [j],
//!   `hidden_cumulant_4` [j]: k-statistics of h under its prior q_h (level `hidden_prior`,
//!   the (h, s) sub-model without v) against κ₁ = A⁻¹b₀, κ₂ = A⁻¹, κ₃ = κ₄ = 0;
//! * `visible_coupling` [i, i'], `visible_field` [i]: W κ̂₂ Wᵀ and a + W κ̂₁ rebuilt from
//!   the sampled cumulants against the analytic J_v and f_v;
//! * `deep_cumulant_n` [k] (bernoulli deep layer): k-statistics of draws from the deep
//!   prior against the closed forms κ_n(p);
//! * `visible_hamiltonian_field` [i], `visible_hamiltonian_coupling` [i, j] (level `full`,
//!   Gaussian hidden and deep layers, n_v ≤ [`pseudo_likelihood::MAX_UNITS`]): the visible
//!   Hamiltonian itself, the effective fields b_i and pair couplings J_ij estimated from the
//!   `full` level's visible samples by maximum pseudo-likelihood per unit
//!   ([`pseudo_likelihood`]), against the analytic J_v and f_v (b_i = f_i + ½(J_v)_ii for
//!   bernoulli units, f_i for spins). No enumeration is involved, so this checks models far
//!   beyond the enumeration limit. Its negative control, `visible_hamiltonian_control`
//!   (reference `perturbed`), compares the same estimates with the analytic Hamiltonian
//!   with J_v × [`CONTROL_SCALE`] and reports the largest |z|; it passes only when that
//!   exceeds the threshold, i.e. when the samples resolve a change of the couplings of
//!   that size (otherwise the check could not have failed, and raising --chains or
//!   --sweeps is the fix). Where the check applies but no estimate can be made (fewer
//!   than 16 samples per parameter, or a unit frozen in the samples) the validation fails
//!   too (`visible_hamiltonian.status` "failed"); `--hamiltonian-samples 0` skips it.
//!
//! Errors are jackknife errors over groups of independent chains. A check passes when
//! |z| is below the Bonferroni threshold for the family-wise error rate (default 1e-3)
//! over all checks (the control: when |z| is at least that threshold).

use super::analytic::{self, Recursion, SeriesTruncation, bernoulli_cumulants, sigmoid};
use super::enumeration;
use super::model::{Dbm, Layer};
use super::pseudo_likelihood::{self, VisibleSamples};
use super::sampler::{self, DbmSampler, DbmSpec, Level, Snapshot};
use crate::backend::{BackendChoice, BackendInfo};
use crate::equilibration::Equilibration;
use crate::error::{Error, Result};
use crate::rng::philox4x32_10;
use crate::stats::{GroupSums, Jackknife, k_statistics, two_sided_z};
use nalgebra::{DMatrix, DVector};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// How to validate.
#[derive(Clone, Debug, Serialize)]
pub struct ValidateOptions {
    /// Chains per level.
    pub chains: u32,
    /// Sweeps discarded first.
    pub thermalize: u32,
    /// Sweeps measured.
    pub sweeps: u32,
    /// Snapshot every K sweeps.
    pub measure_every: u32,
    /// Seed (each level adds its own offset).
    pub seed: u64,
    /// Backend.
    pub backend: BackendChoice,
    /// Most visible pairs checked (all pairs when n_visible ≤ 24).
    pub max_pairs: usize,
    /// Family-wise error rate of the verdict.
    pub family_wise_alpha: f64,
    /// Test hook: the analytic J_v is multiplied by this (1 = no change); without a closed
    /// form, the W of the exact references is multiplied by its square root.
    pub perturb_visible_coupling: f64,
    /// Most visible samples the visible-Hamiltonian check uses (None: as many as keep its
    /// cost within [`pseudo_likelihood::WORK`]; 0 skips the check).
    pub hamiltonian_samples: Option<usize>,
}

impl ValidateOptions {
    /// Checks the options.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the flag.
    pub fn check(&self) -> Result<()> {
        if self.chains < 2 {
            return Err(Error::invalid(
                "chains",
                format!("must be at least 2 (got {})", self.chains),
            ));
        }
        if self.measure_every == 0 {
            return Err(Error::invalid(
                "measure-every",
                "must be at least 1 (got 0)",
            ));
        }
        if self.sweeps < self.measure_every {
            return Err(Error::invalid(
                "sweeps",
                format!("must be at least measure-every = {}", self.measure_every),
            ));
        }
        if !(self.family_wise_alpha > 0.0 && self.family_wise_alpha < 1.0) {
            return Err(Error::invalid(
                "alpha",
                format!("must be in (0, 1) (got {})", self.family_wise_alpha),
            ));
        }
        if !self.perturb_visible_coupling.is_finite() {
            return Err(Error::invalid("perturb-visible-coupling", "must be finite"));
        }
        Ok(())
    }
}

/// One comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What is compared.
    pub name: String,
    /// The model the estimate was sampled from.
    pub level: &'static str,
    /// Unit indices.
    pub index: Vec<usize>,
    /// The reference value (exact, analytic, or the `full` estimate).
    pub analytic: f64,
    /// The sampled estimate.
    pub estimate: f64,
    /// Standard error of the difference.
    pub error: f64,
    /// (estimate − analytic) / error.
    pub z: f64,
    /// "exact", "analytic", "full", or "perturbed" (the visible-Hamiltonian control).
    pub reference: &'static str,
    /// |z| below the threshold.
    pub passed: bool,
}

/// The validation report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// "blockspin/dbm-validate/1".
    pub schema: &'static str,
    /// Program version.
    pub version: &'static str,
    /// (n_visible, n_hidden, n_deep).
    pub sizes: [usize; 3],
    /// Options used.
    pub options: ValidateOptions,
    /// Backend of each sampled level.
    pub backends: BTreeMap<&'static str, BackendInfo>,
    /// The drift test of each sampled level (mean activity of each sampled layer).
    pub equilibration: BTreeMap<&'static str, Equilibration>,
    /// A warning per drifting layer of a level, naming the fix.
    pub warnings: Vec<String>,
    /// Family-wise error rate.
    pub family_wise_alpha: f64,
    /// Bonferroni threshold on |z|.
    pub threshold_z: f64,
    /// Number of checks.
    pub checks_total: usize,
    /// Number failed.
    pub checks_failed: usize,
    /// All checks passed (and the visible-Hamiltonian check, where it applies, could be
    /// made: `visible_hamiltonian.status` is not "failed").
    pub passed: bool,
    /// Every check.
    pub checks: Vec<Check>,
    /// Truncation error of the deep cumulant series (bernoulli deep layer).
    pub truncation_error: Option<Vec<SeriesTruncation>>,
    /// The visible-Hamiltonian check by pseudo-likelihood: what was compared, or why not.
    pub visible_hamiltonian: VisibleHamiltonian,
    /// Wall time.
    pub wall_seconds: f64,
}

/// Groups of chains for the jackknife.
const GROUPS: usize = 64;

/// The negative control of the visible-Hamiltonian check multiplies the analytic J_v by
/// this. A 50 % error of the couplings is the size of the mistakes the check is for (a
/// missing factor ½, a layer's variance left out); the default run resolves it for the
/// 4-unit example model (|J| ≤ 0.13, largest |z| 6.1 against the threshold 4.36), while
/// 1.2 would give only 3.4 there.
pub const CONTROL_SCALE: f64 = 1.5;

/// The visible-Hamiltonian check (module docs): a summary of its checks.
#[derive(Clone, Debug, Serialize)]
pub struct VisibleHamiltonian {
    /// "checked"; "skipped" where it does not apply (a bernoulli layer, more than
    /// [`pseudo_likelihood::MAX_UNITS`] visible units, `--hamiltonian-samples 0`);
    /// "failed" where it applies but the estimate could not be made (too few samples, or
    /// no finite maximum: a unit frozen or determined by the others). See `note`.
    pub status: &'static str,
    /// The check applied and passed: every field and coupling within the threshold and
    /// the control detected (None when skipped).
    pub passed: Option<bool>,
    /// How it was estimated, or why it was skipped.
    pub note: String,
    /// The level whose visible samples were used ("full").
    pub level: &'static str,
    /// Visible units.
    pub units: usize,
    /// Samples used (chains × kept snapshots).
    pub samples: usize,
    /// Every `snapshot_stride`-th snapshot was kept (bounding the cost).
    pub snapshot_stride: usize,
    /// Jackknife groups of chains.
    pub groups: usize,
    /// Fields and couplings compared.
    pub parameters: usize,
    /// Largest |z| of the comparison with the analytic Hamiltonian.
    pub max_abs_z: Option<f64>,
    /// Root mean square z of the fields and couplings (about 1 when the errors are right).
    pub rms_z: Option<f64>,
    /// The parameter with the largest |z|: [i] a field, [i, j] a coupling.
    pub worst: Option<Vec<usize>>,
    /// The coupling scale λ (estimated couplings ≈ λ J_v, weighted least squares) with
    /// its error, for information: 1 for the analytic Hamiltonian up to the O(n_v/N)
    /// overstatement of couplings by the pseudo-likelihood estimate, which this pooled
    /// number can resolve (so it is not a check).
    pub scale: Option<Jackknife>,
    /// The negative control: J_v multiplied by this.
    pub control_scale: f64,
    /// Largest |z| of a field or coupling against the perturbed Hamiltonian.
    pub control_max_abs_z: Option<f64>,
    /// The control's largest |z| reached the threshold: the perturbation was detected.
    pub control_detected: Option<bool>,
    /// Newton iterations: subsample stage, all-sample stage.
    pub newton_iterations: Option<[usize; 2]>,
    /// Hessians computed: subsample stage, all-sample stage.
    pub hessians: Option<[usize; 2]>,
    /// Seconds spent estimating.
    pub seconds: f64,
}

impl VisibleHamiltonian {
    fn skipped(units: usize, note: String) -> Self {
        VisibleHamiltonian {
            status: "skipped",
            passed: None,
            note,
            level: Level::Full.name(),
            units,
            samples: 0,
            snapshot_stride: 0,
            groups: 0,
            parameters: 0,
            max_abs_z: None,
            rms_z: None,
            worst: None,
            scale: None,
            control_scale: CONTROL_SCALE,
            control_max_abs_z: None,
            control_detected: None,
            newton_iterations: None,
            hessians: None,
            seconds: 0.0,
        }
    }
}

/// The fix a drift warning of a DBM run names.
pub const DBM_FIX: &str = "raise --thermalize (block Gibbs sweeps before the first snapshot)";

/// Runs a level and calls `visit` with every snapshot after thermalization.
///
/// # Errors
/// Sampler errors.
pub fn sample_level(
    model: &Dbm,
    r: &Recursion,
    level: Level,
    opts: &ValidateOptions,
    notice: &mut dyn FnMut(&str),
    mut visit: impl FnMut(&Snapshot),
) -> Result<(BackendInfo, Equilibration)> {
    let seed = opts.seed.wrapping_add(level as u64 * 0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let mut s: Box<dyn DbmSampler> = sampler::open(
        opts.backend,
        model,
        r,
        DbmSpec {
            level,
            chains: opts.chains,
            seed,
        },
        notice,
    )?;
    let task = crate::interrupt::Task::new(
        "sweeps",
        u64::from(opts.thermalize) + u64::from(opts.sweeps),
    );
    // thermalize in pieces, so that progress shows and a stop request is seen between them
    // (the samplers also check between sweeps)
    let mut left = opts.thermalize;
    while left > 0 {
        let n = left.min(64);
        s.advance(n)?;
        task.advance(u64::from(n))?;
        left -= n;
    }
    let chains = opts.chains as usize;
    let mut activity = LayerActivity::default();
    for _ in 0..opts.sweeps / opts.measure_every {
        s.advance(opts.measure_every)?;
        task.advance(u64::from(opts.measure_every))?;
        let snap = s.snapshot()?;
        activity.add(&snap, chains);
        visit(&snap);
    }
    let equilibration = activity.test(chains);
    let info = s.info();
    notice(&format!(
        "level {}: {} chains x {} sweeps on {} in {:.1} s",
        level.name(),
        opts.chains,
        u64::from(opts.thermalize) + u64::from(opts.sweeps),
        info.kind,
        started.elapsed().as_secs_f64()
    ));
    Ok((info, equilibration))
}

/// Per snapshot and chain, the mean of each sampled layer's units (`visible_activity`,
/// `hidden_activity`, `deep_activity`): the series the drift test of a DBM run reads
/// ([`crate::equilibration`]).
#[derive(Default)]
struct LayerActivity {
    series: [Vec<f64>; 3],
    snapshots: usize,
}

impl LayerActivity {
    const NAMES: [&'static str; 3] = ["visible_activity", "hidden_activity", "deep_activity"];

    fn add(&mut self, snap: &Snapshot, chains: usize) {
        self.snapshots += 1;
        for (series, layer) in self
            .series
            .iter_mut()
            .zip([&snap.visible, &snap.hidden, &snap.deep])
        {
            if chains == 0 || layer.is_empty() || layer.len() % chains != 0 {
                continue;
            }
            let n = layer.len() / chains;
            series.extend(
                layer
                    .chunks(n)
                    .map(|u| u.iter().map(|&x| x as f64).sum::<f64>() / n as f64),
            );
        }
    }

    fn test(&self, chains: usize) -> Equilibration {
        let shape = crate::stats::Shape {
            n_time: self.snapshots,
            n_chains: chains,
        };
        let tested: Vec<(&str, &[f64])> = Self::NAMES
            .iter()
            .zip(&self.series)
            .filter(|(_, v)| v.len() == shape.len() && !v.is_empty())
            .map(|(n, v)| (*n, &v[..]))
            .collect();
        Equilibration::test(&tested, shape)
    }
}

/// Visible pairs checked: all when n_v ≤ 24, else the `max` with the largest |J_v| (or
/// |W Wᵀ| without a closed form), deterministic.
fn choose_pairs(model: &Dbm, r: &Recursion, max: usize) -> Vec<(usize, usize)> {
    let (nv, _, _) = model.sizes();
    let mut pairs: Vec<(usize, usize)> = (0..nv)
        .flat_map(|i| (i + 1..nv).map(move |j| (i, j)))
        .collect();
    if nv <= 24 {
        return pairs;
    }
    let (w, _) = analytic::weights(model);
    let weight = |i: usize, j: usize| match &r.visible_coupling {
        Some(jv) => jv[(i, j)].abs(),
        None => w.row(i).dot(&w.row(j)).abs(),
    };
    pairs.sort_by(|a, b| weight(b.0, b.1).total_cmp(&weight(a.0, a.1)).then(a.cmp(b)));
    pairs.truncate(max);
    pairs.sort();
    pairs
}

/// Per-level sums of [v_i, v_i v_j (pairs), h_j].
struct LevelMoments {
    sums: GroupSums,
    nv: usize,
    nh: usize,
}

impl LevelMoments {
    fn new(nv: usize, nh: usize, pairs: usize) -> Self {
        LevelMoments {
            sums: GroupSums::new(GROUPS, nv + pairs + nh),
            nv,
            nh,
        }
    }
    fn add(&mut self, snap: &Snapshot, pairs: &[(usize, usize)]) {
        let chains = snap.visible.len() / self.nv.max(1);
        let mut row = vec![0.0; self.sums_dims(pairs.len())];
        for c in 0..chains {
            let v = &snap.visible[c * self.nv..(c + 1) * self.nv];
            for i in 0..self.nv {
                row[i] = v[i] as f64;
            }
            for (p, &(i, j)) in pairs.iter().enumerate() {
                row[self.nv + p] = v[i] as f64 * v[j] as f64;
            }
            let at = self.nv + pairs.len();
            if snap.hidden.len() == chains * self.nh {
                for j in 0..self.nh {
                    row[at + j] = snap.hidden[c * self.nh + j] as f64;
                }
            }
            self.sums.add(c % GROUPS, &row);
        }
    }
    fn sums_dims(&self, pairs: usize) -> usize {
        self.nv + pairs + self.nh
    }
    fn estimates(&self) -> Vec<Jackknife> {
        self.sums
            .jackknife(|n, t| t.iter().map(|x| x / n).collect())
    }
}

/// Sums of shifted powers and cross products of h (hidden-prior level).
struct HiddenCumulants {
    sums: GroupSums,
    nh: usize,
    shift: Option<Vec<f64>>,
}

impl HiddenCumulants {
    fn new(nh: usize) -> Self {
        HiddenCumulants {
            sums: GroupSums::new(GROUPS, 4 * nh + nh * (nh - 1) / 2),
            nh,
            shift: None,
        }
    }
    fn add(&mut self, snap: &Snapshot) {
        let nh = self.nh;
        let chains = snap.hidden.len() / nh;
        let shift = self
            .shift
            .get_or_insert_with(|| {
                (0..nh)
                    .map(|j| {
                        (0..chains)
                            .map(|c| snap.hidden[c * nh + j] as f64)
                            .sum::<f64>()
                            / chains as f64
                    })
                    .collect()
            })
            .clone();
        let mut row = vec![0.0; 4 * nh + nh * (nh - 1) / 2];
        for c in 0..chains {
            let x: Vec<f64> = (0..nh)
                .map(|j| snap.hidden[c * nh + j] as f64 - shift[j])
                .collect();
            let mut p = 4 * nh;
            for j in 0..nh {
                let mut power = 1.0;
                for r in 0..4 {
                    power *= x[j];
                    row[4 * j + r] = power;
                }
                for k in j + 1..nh {
                    row[p] = x[j] * x[k];
                    p += 1;
                }
            }
            self.sums.add(c % GROUPS, &row);
        }
    }
}

fn z_of(estimate: f64, reference: f64, error: f64) -> f64 {
    if error > 0.0 {
        (estimate - reference) / error
    } else if estimate == reference {
        0.0
    } else {
        f64::INFINITY
    }
}

/// Runs every applicable level and check.
///
/// # Errors
/// [`Error::InvalidParameter`] for bad options or an unnormalizable model; sampler errors.
pub fn validate(
    model: &Dbm,
    opts: &ValidateOptions,
    notice: &mut dyn FnMut(&str),
) -> Result<Report> {
    opts.check()?;
    let started = Instant::now();
    let mut r = analytic::recursion(model)?;
    if let Some(j) = r.visible_coupling.as_mut() {
        *j *= opts.perturb_visible_coupling;
    }
    let (nv, nh, ns) = model.sizes();
    let pairs = choose_pairs(model, &r, opts.max_pairs);
    // exact references by enumeration; a bernoulli hidden layer has no other. The test
    // hook perturbs J_v of the recursion, or else the W of the enumerated references by
    // its square root (the pair couplings then move by about the factor).
    let mut reference_model = model.clone();
    if r.visible_coupling.is_none() {
        let scale = opts.perturb_visible_coupling.abs().sqrt();
        for row in &mut reference_model.visible_hidden {
            row.iter_mut().for_each(|w| *w *= scale);
        }
    }
    let exact = match enumeration::exact(&reference_model, &r, 1) {
        Ok(e) => e,
        Err(e) if !model.hidden.is_gaussian() => {
            return Err(Error::invalid(
                "model",
                format!(
                    "a model with a bernoulli hidden layer is validated against exact enumeration, which is beyond its limit here: {}; use `dbm sample`",
                    e.describe()
                ),
            ));
        }
        Err(_) => None,
    };
    // an enumeration stopped by a stop request returns early: discard it
    crate::interrupt::check()?;
    let hidden_prior =
        enumeration::hidden_prior(model, &r).map_err(|e| enumeration::too_large(&e))?;
    crate::interrupt::check()?;
    let mut levels = vec![Level::Full];
    if model.hidden.is_gaussian() {
        levels.push(Level::VisibleHidden);
    }
    if r.visible_coupling.is_some() {
        levels.push(Level::Visible);
    }
    let mut backends = BTreeMap::new();
    let mut equilibration = BTreeMap::new();
    let mut moments: BTreeMap<&'static str, Vec<Jackknife>> = BTreeMap::new();
    // the visible samples of the full level for the visible-Hamiltonian check
    let mut hamiltonian = hamiltonian_plan(model, opts);
    for &level in &levels {
        let mut acc = LevelMoments::new(
            nv,
            if level == Level::Visible { 0 } else { nh },
            pairs.len(),
        );
        let mut snapshot = 0usize;
        // the visible level samples the analytic (J_v, f_v), perturbed or not
        let (info, eq) = sample_level(model, &r, level, opts, notice, |s| {
            acc.add(s, &pairs);
            if level == Level::Full
                && let Ok(plan) = &mut hamiltonian
            {
                if snapshot.is_multiple_of(plan.stride) {
                    let n = plan.samples.units();
                    let kept = &s.visible[..(plan.chains * n).min(s.visible.len())];
                    plan.samples.add_snapshot(kept, plan.chains);
                }
                snapshot += 1;
            }
        })?;
        backends.insert(level.name(), info);
        equilibration.insert(level.name(), eq);
        moments.insert(level.name(), acc.estimates());
    }

    let mut checks = Vec::new();
    let full = &moments["full"];
    for &level in &levels {
        let est = &moments[level.name()];
        let mut push = |name: &str, index: Vec<usize>, at: usize, exact_value: Option<f64>| {
            let e = est[at];
            let (reference, analytic_value, error) = match exact_value {
                Some(x) => ("exact", x, e.error),
                None if level != Level::Full => (
                    "full",
                    full[at].mean,
                    (e.error.powi(2) + full[at].error.powi(2)).sqrt(),
                ),
                None => return,
            };
            checks.push(Check {
                name: name.into(),
                level: level.name(),
                index,
                analytic: analytic_value,
                estimate: e.mean,
                error,
                z: z_of(e.mean, analytic_value, error),
                reference,
                passed: true,
            });
        };
        for i in 0..nv {
            push(
                "visible_mean",
                vec![i],
                i,
                exact.as_ref().map(|x| x.visible_mean[i]),
            );
        }
        for (p, &(i, j)) in pairs.iter().enumerate() {
            push(
                "visible_pair",
                vec![i, j],
                nv + p,
                exact.as_ref().map(|x| x.visible_second_moment[i][j]),
            );
        }
        if level != Level::Visible {
            for j in 0..nh {
                let exact_value = exact.as_ref().map(|x| x.hidden_mean[j]);
                push("hidden_mean", vec![j], nv + pairs.len() + j, exact_value);
            }
        }
    }

    let reference = match (&r.hidden_covariance, &r.hidden_mean, &hidden_prior) {
        (Some(cov), Some(mean), _) => Some(HiddenReference {
            reference: "analytic",
            mean: mean.clone(),
            covariance: cov.clone(),
            third: vec![0.0; nh],
            fourth: vec![0.0; nh],
            visible: r.visible_coupling.clone().zip(r.visible_field.clone()),
        }),
        (_, _, Some(q)) => Some(HiddenReference {
            reference: "exact",
            mean: q.mean.clone(),
            covariance: q.covariance.clone(),
            third: q.third.clone(),
            fourth: q.fourth.clone(),
            visible: None,
        }),
        _ => None,
    };
    if let Some(reference) = reference {
        let mut acc = HiddenCumulants::new(nh);
        let (info, eq) = sample_level(model, &r, Level::HiddenPrior, opts, notice, |s| acc.add(s))?;
        backends.insert(Level::HiddenPrior.name(), info);
        equilibration.insert(Level::HiddenPrior.name(), eq);
        checks.extend(cumulant_checks(model, &acc, &reference, &pairs));
    }

    let mut truncation = None;
    if let Layer::Bernoulli { bias } = &model.deep {
        let samples = (opts.chains as usize) * (opts.sweeps / opts.measure_every) as usize;
        checks.extend(deep_cumulant_checks(bias, samples.max(1000), opts.seed)?);
        truncation = analytic::truncation_error(model, 4, 1000, opts.seed);
    }

    let (visible_hamiltonian, control) = match hamiltonian {
        Ok(plan) => {
            let (summary, mut found) =
                hamiltonian_checks(&r, model, &plan.samples, plan.stride, notice)?;
            let control = found.pop();
            checks.extend(found);
            (summary, control)
        }
        Err(note) => (VisibleHamiltonian::skipped(nv, note), None),
    };

    // the control counts as a check (its own verdict below)
    let total = checks.len() + usize::from(control.is_some());
    let threshold_z = two_sided_z(opts.family_wise_alpha / total as f64);
    for c in &mut checks {
        c.passed = c.z.abs() < threshold_z;
    }
    let mut visible_hamiltonian = visible_hamiltonian;
    if let Some(mut c) = control {
        c.passed = c.z.abs() >= threshold_z;
        visible_hamiltonian.control_detected = Some(c.passed);
        checks.push(c);
    }
    if visible_hamiltonian.status == "checked" {
        visible_hamiltonian.passed = Some(
            checks
                .iter()
                .filter(|c| c.name.starts_with("visible_hamiltonian_"))
                .all(|c| c.passed),
        );
    }
    let failed = checks.iter().filter(|c| !c.passed).count();
    let mut warnings: Vec<String> = equilibration
        .iter()
        .flat_map(|(level, e)| {
            e.warnings(DBM_FIX)
                .into_iter()
                .map(move |w| format!("level {level}: {w}"))
        })
        .collect();
    if visible_hamiltonian.status == "failed" {
        warnings.push(format!(
            "the visible-Hamiltonian check failed: {} (raise --chains or --sweeps, or skip it with --hamiltonian-samples 0)",
            visible_hamiltonian.note
        ));
    }
    if visible_hamiltonian.control_detected == Some(false) {
        let z = visible_hamiltonian.control_max_abs_z.unwrap_or(f64::NAN);
        let available = (opts.sweeps / opts.measure_every) as usize * opts.chains as usize;
        let fix = if visible_hamiltonian.samples < available {
            format!(
                "raise --hamiltonian-samples (it used {} of the {available} samples: the default cap keeps its cost bounded)",
                visible_hamiltonian.samples
            )
        } else {
            "raise --chains or --sweeps".to_string()
        };
        warnings.push(format!(
            "the visible-Hamiltonian check could not tell J_v from {CONTROL_SCALE} J_v (control |z| {z:.2} < {threshold_z:.2}), so it could not have failed: {fix}"
        ));
    }
    Ok(Report {
        schema: "blockspin/dbm-validate/1",
        version: env!("CARGO_PKG_VERSION"),
        sizes: [nv, nh, ns],
        options: opts.clone(),
        backends,
        equilibration,
        warnings,
        family_wise_alpha: opts.family_wise_alpha,
        threshold_z,
        checks_total: checks.len(),
        checks_failed: failed,
        passed: failed == 0 && visible_hamiltonian.status != "failed",
        checks,
        truncation_error: truncation,
        visible_hamiltonian,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Exact cumulants of h under q_h and, with Gaussian hidden and deep layers, the visible
/// couplings and fields they determine.
struct HiddenReference {
    /// "analytic" (Gaussian closed form) or "exact" (enumeration).
    reference: &'static str,
    mean: DVector<f64>,
    covariance: DMatrix<f64>,
    third: Vec<f64>,
    fourth: Vec<f64>,
    /// (J_v, f_v).
    visible: Option<(DMatrix<f64>, DVector<f64>)>,
}

/// κ₁…κ₄ of h under q_h and the couplings rebuilt from them.
fn cumulant_checks(
    model: &Dbm,
    acc: &HiddenCumulants,
    reference: &HiddenReference,
    pairs: &[(usize, usize)],
) -> Vec<Check> {
    let nh = acc.nh;
    let nv = model.visible_bias.len();
    let shift = acc.shift.clone().unwrap_or_else(|| vec![0.0; nh]);
    let w = &model.visible_hidden;
    let w_rows: Vec<Vec<(usize, f64)>> = w
        .iter()
        .map(|r| {
            r.iter()
                .copied()
                .enumerate()
                .filter(|x| x.1 != 0.0)
                .collect()
        })
        .collect();
    let mut coupling_index: Vec<(usize, usize)> = (0..nv).map(|i| (i, i)).collect();
    coupling_index.extend_from_slice(pairs);
    let outputs = acc.sums.jackknife(|n, t| {
        let mut k = vec![[0.0; 4]; nh];
        for j in 0..nh {
            k[j] = k_statistics(n, [t[4 * j], t[4 * j + 1], t[4 * j + 2], t[4 * j + 3]]);
            k[j][0] += shift[j];
        }
        let mut c2 = DMatrix::zeros(nh, nh);
        let mut p = 4 * nh;
        for j in 0..nh {
            c2[(j, j)] = k[j][1];
            for l in j + 1..nh {
                let v = crate::stats::covariance_k_statistic(n, t[4 * j], t[4 * l], t[p]);
                c2[(j, l)] = v;
                c2[(l, j)] = v;
                p += 1;
            }
        }
        let mut out: Vec<f64> = k.iter().map(|x| x[0]).collect();
        for j in 0..nh {
            for l in j..nh {
                out.push(c2[(j, l)]);
            }
        }
        out.extend(k.iter().map(|x| x[2]));
        out.extend(k.iter().map(|x| x[3]));
        for &(a, b) in &coupling_index {
            let mut s = 0.0;
            for &(j, wa) in &w_rows[a] {
                for &(l, wb) in &w_rows[b] {
                    s += wa * c2[(j, l)] * wb;
                }
            }
            out.push(s);
        }
        for (a, row) in w_rows.iter().enumerate() {
            out.push(model.visible_bias[a] + row.iter().map(|&(j, wa)| wa * k[j][0]).sum::<f64>());
        }
        out
    });
    let mut checks = Vec::new();
    let mut at = 0;
    let mut push = |name: &str, index: Vec<usize>, analytic_value: f64, e: Jackknife| {
        checks.push(Check {
            name: name.into(),
            level: Level::HiddenPrior.name(),
            index,
            analytic: analytic_value,
            estimate: e.mean,
            error: e.error,
            z: z_of(e.mean, analytic_value, e.error),
            reference: reference.reference,
            passed: true,
        });
    };
    for j in 0..nh {
        push("hidden_cumulant_1", vec![j], reference.mean[j], outputs[at]);
        at += 1;
    }
    for j in 0..nh {
        for l in j..nh {
            let exact = reference.covariance[(j, l)];
            push("hidden_cumulant_2", vec![j, l], exact, outputs[at]);
            at += 1;
        }
    }
    for j in 0..nh {
        push(
            "hidden_cumulant_3",
            vec![j],
            reference.third[j],
            outputs[at],
        );
        at += 1;
    }
    for j in 0..nh {
        push(
            "hidden_cumulant_4",
            vec![j],
            reference.fourth[j],
            outputs[at],
        );
        at += 1;
    }
    if let Some((jv, fv)) = &reference.visible {
        for &(a, b) in &coupling_index {
            push("visible_coupling", vec![a, b], jv[(a, b)], outputs[at]);
            at += 1;
        }
        for a in 0..nv {
            push("visible_field", vec![a], fv[a], outputs[at]);
            at += 1;
        }
    }
    checks
}

/// k-statistics of `samples` draws from each Bernoulli deep unit's prior against κ_n(p).
fn deep_cumulant_checks(bias: &[f64], samples: usize, seed: u64) -> Result<Vec<Check>> {
    let key = crate::rng::seed_key(seed ^ 0xDEE9);
    let mut checks = Vec::new();
    let task = crate::interrupt::Task::new(
        "deep cumulant draws",
        bias.len().saturating_mul(samples) as u64,
    );
    for (k, &d) in bias.iter().enumerate() {
        let p = sigmoid(d);
        let exact = bernoulli_cumulants(p, 4);
        let mut sums = GroupSums::new(GROUPS, 4);
        for i in 0..samples {
            if i % (1 << 16) == 0 {
                task.advance(1 << 16)?;
            }
            let w = philox4x32_10([i as u32, k as u32, 0, 7], key);
            let u = ((w[0] as u64) << 21 ^ (w[1] as u64 >> 11)) as f64 / (1u64 << 53) as f64;
            let x = if u < p { 1.0 - p } else { -p }; // shifted by p
            sums.add(i % GROUPS, &[x, x * x, x * x * x, x * x * x * x]);
        }
        let est = sums.jackknife(|n, t| {
            let mut kk = k_statistics(n, [t[0], t[1], t[2], t[3]]).to_vec();
            kk[0] += p;
            kk
        });
        for n in 0..4 {
            checks.push(Check {
                name: format!("deep_cumulant_{}", n + 1),
                level: "deep_prior",
                index: vec![k],
                analytic: exact[n],
                estimate: est[n].mean,
                error: est[n].error,
                z: z_of(est[n].mean, exact[n], est[n].error),
                reference: "analytic",
                passed: true,
            });
        }
    }
    Ok(checks)
}

/// Whether the visible-Hamiltonian check runs: the sample store and the snapshot stride
/// that bounds its cost, or why not.
fn hamiltonian_plan(model: &Dbm, opts: &ValidateOptions) -> std::result::Result<Plan, String> {
    let (nv, _, _) = model.sizes();
    if !(model.hidden.is_gaussian() && model.deep.is_gaussian()) {
        return Err(format!(
            "the visible marginal has an analytic pairwise Hamiltonian only with gaussian hidden and deep layers (here {} and {})",
            model.hidden.units(),
            model.deep.units()
        ));
    }
    if nv > pseudo_likelihood::MAX_UNITS {
        return Err(format!(
            "{nv} visible units are more than the {} the pseudo-likelihood estimate handles (its Hessians cost n_v^3/2 multiply-adds per sample)",
            pseudo_likelihood::MAX_UNITS
        ));
    }
    if nv < 2 {
        return Err("a single visible unit has no couplings".into());
    }
    let cap = opts
        .hamiltonian_samples
        .unwrap_or_else(|| pseudo_likelihood::max_samples(nv));
    if cap == 0 {
        return Err("--hamiltonian-samples 0".into());
    }
    let snapshots = (opts.sweeps / opts.measure_every.max(1)) as usize;
    let total = snapshots.saturating_mul(opts.chains as usize);
    // every stride-th snapshot of the first `chains` chains: at most `cap` samples
    let chains = (opts.chains as usize).min(cap);
    let stride = total.div_ceil(cap).clamp(1, snapshots.max(1));
    Ok(Plan {
        samples: VisibleSamples::new(nv, model.visible_units, GROUPS),
        stride,
        chains,
    })
}

/// What the visible-Hamiltonian check keeps of the full level's snapshots.
struct Plan {
    samples: VisibleSamples,
    /// Every `stride`-th snapshot…
    stride: usize,
    /// …of the first `chains` chains.
    chains: usize,
}

/// Host memory of the visible-Hamiltonian check (bytes): per chain, what it stores (one
/// byte per unit of every kept snapshot), and besides ([`pseudo_likelihood::work_bytes`]);
/// (0, 0) when it does not run.
pub fn hamiltonian_bytes(model: &Dbm, opts: &ValidateOptions) -> (u64, u64) {
    match hamiltonian_plan(model, opts) {
        Ok(p) => {
            let kept = (opts.sweeps / opts.measure_every.max(1)) as usize;
            let n = p.samples.units();
            (
                (kept.div_ceil(p.stride) * n) as u64,
                pseudo_likelihood::work_bytes(n),
            )
        }
        Err(_) => (0, 0),
    }
}

/// The visible-Hamiltonian checks: per field and coupling against the analytic
/// Hamiltonian; then (last) the control against J_v × [`CONTROL_SCALE`]: the field or
/// coupling with the largest |z| there.
fn hamiltonian_checks(
    r: &Recursion,
    model: &Dbm,
    samples: &VisibleSamples,
    stride: usize,
    notice: &mut dyn FnMut(&str),
) -> Result<(VisibleHamiltonian, Vec<Check>)> {
    let started = Instant::now();
    let n = samples.units();
    let (Some(jv), Some(fv)) = (&r.visible_coupling, &r.visible_field) else {
        return Ok((
            VisibleHamiltonian::skipped(n, "no analytic Hamiltonian".into()),
            Vec::new(),
        ));
    };
    let est = match pseudo_likelihood::estimate(samples)? {
        Ok(e) => e,
        Err(reason) => {
            let mut s = VisibleHamiltonian::skipped(
                n,
                format!("the pseudo-likelihood estimate failed: {reason}"),
            );
            s.status = "failed";
            s.passed = Some(false);
            s.seconds = started.elapsed().as_secs_f64();
            s.samples = samples.len();
            s.snapshot_stride = stride;
            return Ok((s, Vec::new()));
        }
    };
    // the effective field of the conditional (pseudo_likelihood module docs)
    let diagonal = match model.visible_units {
        super::model::VisibleUnits::Bernoulli => 0.5,
        super::model::VisibleUnits::Spin => 0.0,
    };
    let field = |i: usize, scale: f64| fv[i] + diagonal * scale * jv[(i, i)];
    let check = |name: &str, index: Vec<usize>, reference: f64, e: Jackknife, against| Check {
        name: name.into(),
        level: Level::Full.name(),
        index,
        analytic: reference,
        estimate: e.mean,
        error: e.error,
        z: z_of(e.mean, reference, e.error),
        reference: against,
        passed: true,
    };
    let pairs = n * (n - 1) / 2;
    let mut checks = Vec::with_capacity(n + pairs + 2);
    let mut control: Option<Check> = None;
    let keep_worst = |control: &mut Option<Check>, c: Check| {
        if control
            .as_ref()
            .is_none_or(|w| c.z.abs() > w.z.abs() || w.z.is_nan())
        {
            *control = Some(c);
        }
    };
    for i in 0..n {
        let e = est.field(i);
        checks.push(check(
            "visible_hamiltonian_field",
            vec![i],
            field(i, 1.0),
            e,
            "analytic",
        ));
        keep_worst(
            &mut control,
            check(
                "visible_hamiltonian_control",
                vec![i],
                field(i, CONTROL_SCALE),
                e,
                "perturbed",
            ),
        );
    }
    let mut coupling_errors = Vec::with_capacity(pairs);
    for i in 0..n {
        for j in i + 1..n {
            let e = est.coupling(pseudo_likelihood::pair_index(n, i, j));
            coupling_errors.push(e.error);
            checks.push(check(
                "visible_hamiltonian_coupling",
                vec![i, j],
                jv[(i, j)],
                e,
                "analytic",
            ));
            keep_worst(
                &mut control,
                check(
                    "visible_hamiltonian_control",
                    vec![i, j],
                    CONTROL_SCALE * jv[(i, j)],
                    e,
                    "perturbed",
                ),
            );
        }
    }
    let per_parameter = checks.len();
    let worst = checks
        .iter()
        .max_by(|a, b| a.z.abs().total_cmp(&b.z.abs()))
        .map(|c| c.index.clone());
    let max_abs_z = checks.iter().map(|c| c.z.abs()).fold(0.0, f64::max);
    let rms_z = (checks.iter().map(|c| c.z * c.z).sum::<f64>() / per_parameter as f64).sqrt();
    // the coupling scale λ, reported, not checked: weighted least squares of the
    // estimated couplings on the analytic ones, est ≈ λ J (weights 1/error²), with the
    // jackknife error of that linear combination. The maximum pseudo-likelihood estimate
    // overstates couplings by O(n_v/N) (about 1 % at 196 units and 26 624 samples); pooled
    // over all couplings that bias can exceed λ's error, so λ is no test (the per-parameter
    // z, each moved by a fraction of its error, are)
    let exact: Vec<f64> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| jv[(i, j)])
        .collect();
    let weights: Vec<f64> = exact
        .iter()
        .zip(&coupling_errors)
        .map(|(j, e)| if *e > 0.0 { j / (e * e) } else { 0.0 })
        .collect();
    let norm: f64 = weights.iter().zip(&exact).map(|(w, j)| w * j).sum();
    let scale = (norm > 0.0 && norm.is_finite()).then(|| {
        let a: Vec<f64> = weights.iter().map(|w| w / norm).collect();
        est.linear(&vec![0.0; n], &a)
    });
    let control = control.expect("at least one field");
    let control_max_abs_z = control.z.abs();
    let seconds = started.elapsed().as_secs_f64();
    notice(&format!(
        "visible Hamiltonian: {} samples of {n} units, pseudo-likelihood in {seconds:.1} s",
        est.samples
    ));
    let summary = VisibleHamiltonian {
        status: "checked",
        passed: None, // set with the threshold
        note: format!(
            "effective fields and pair couplings of each visible unit's conditional, estimated by maximum pseudo-likelihood (logistic regression on the other units) from the full level's visible samples; couplings averaged over the two rows, (J_ij + J_ji)/2; errors by a linearized jackknife over {} groups of chains",
            est.groups()
        ),
        level: Level::Full.name(),
        units: n,
        samples: est.samples,
        snapshot_stride: stride,
        groups: est.groups(),
        parameters: per_parameter,
        max_abs_z: Some(max_abs_z),
        rms_z: Some(rms_z),
        worst,
        scale,
        control_scale: CONTROL_SCALE,
        control_max_abs_z: Some(control_max_abs_z),
        control_detected: None,
        newton_iterations: Some(est.iterations),
        hessians: Some(est.hessians),
        seconds,
    };
    checks.push(control);
    Ok((summary, checks))
}
