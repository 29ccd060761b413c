//! Is a measured series in equilibrium? A drift test for an initial transient, a MSER
//! truncation point, and the schedule of `--thermalize auto` (docs/conventions.md,
//! "Thermalization").
//!
//! **Drift test.** The series of one observable is `n_time` measurements × `n_chains`
//! chains (measurement-major, as in [`crate::stats`]). The *head* is the first tenth of
//! every chain's measurements (at least one), the *tail* the rest. A transient left by too
//! short a thermalization is common to all chains (they start alike and relax alike), while
//! equilibrium fluctuations are independent between chains, so with at least
//! [`MIN_T_CHAINS`] chains the test is a one-sample t test on the per-chain differences
//! `d_c = head_c − tail_c`:
//!
//! ```text
//! t = d̄ / (s_d / √C),  C − 1 degrees of freedom,
//! ```
//!
//! valid whatever the autocorrelation time (the d_c are independent and identically
//! distributed in equilibrium), reported as the normal z of the same two-sided tail
//! probability. A slow drift inflates a variance estimated along the chains but not s_d,
//! which is why this, and not a binning error, is the default: at L = 128, K_c, heat-bath
//! after 200 sweeps, the binning version gave z = 2.4 on an energy 12 errors from exact;
//! the t test gives z > 4.
//!
//! With fewer chains, `z = (h̄ − t̄) / (SE_t · √(1 + n_t / n_h))`, where `SE_t` is the
//! standard error of the tail mean from binning: the largest SE(B) over the block lengths
//! B = 1, 2, 4, … that leave at least [`MIN_DRIFT_BLOCKS`] blocks, and `SE_t √(n_t/n_h)`
//! the error of the head mean if it follows the tail's statistics. This version is weaker
//! against drifts slower than the run (they inflate SE_t): run several chains.
//!
//! `|z| >` [`DRIFT_Z_LIMIT`] on any tested observable marks the run as not equilibrated.
//!
//! **MSER-5.** On the chain-averaged series in batches of 5 measurements Y_j (k batches),
//! the truncation d* ≤ k/2 minimising Σ_{j≥d}(Y_j − Ȳ_d)²/(k − d)² (White 1997); reported as
//! `5 d*` leading measurements a cut would discard.
//!
//! **`--thermalize auto`.** Thermalize [`AUTO_FIRST`] sweeps, then windows of doubling
//! length: window r runs W = 32·2^r more sweeps (the total doubles to 2W), measuring every
//! max(1, W/[`AUTO_WINDOW_MEASUREMENTS`]) sweeps, and passes when, for both the energy and
//! |m|,
//!
//! * the drift test of the window has |z| ≤ [`AUTO_Z_LIMIT`] (stricter than the report's
//!   limit: a false pass costs bias, a false fail only one more window), and
//! * the sweeps run so far are at least [`AUTO_TAU_FACTOR`] integrated autocorrelation
//!   times, τ_int read in the window by binning (the largest over block lengths leaving at
//!   least [`AUTO_TAU_BLOCKS`] blocks). While the chains still relax (coarsening after a hot
//!   start) the observable moves on the scale of the window and τ_int reads as a fair
//!   fraction of W, so this fails; it passes once τ_int has settled at its equilibrium value
//!   and the run is long against it. The drift test alone cannot tell: a 32-sweep window of
//!   heat-bath at K_c, L = 64, drifts too slowly for its noise and passed.
//!
//! Thermalization is then everything run so far, 64·2^r sweeps, or the cap.

use crate::stats::{self, Shape};
use serde::{Deserialize, Serialize};

/// |z| above which a series is reported as drifting (not equilibrated).
pub const DRIFT_Z_LIMIT: f64 = 4.0;
/// |z| at or below which an auto-thermalization window passes.
pub const AUTO_Z_LIMIT: f64 = 2.5;
/// The head is the first 1/HEAD_DIVISOR of each chain's measurements.
pub const HEAD_DIVISOR: usize = 10;
/// Fewest chains for the between-chain t test (fewer: the binning version).
pub const MIN_T_CHAINS: usize = 8;
/// Fewest blocks a tail standard error is read from.
pub const MIN_DRIFT_BLOCKS: usize = 8;
/// Batch size of MSER.
pub const MSER_BATCH: usize = 5;
/// Sweeps before the first auto-thermalization window.
pub const AUTO_FIRST: u32 = 32;
/// Measurements per chain in an auto-thermalization window (at most).
pub const AUTO_WINDOW_MEASUREMENTS: u32 = 256;
/// Auto thermalization runs at least this many τ_int (of the energy and |m|, in sweeps).
pub const AUTO_TAU_FACTOR: f64 = 20.0;
/// Fewest blocks a window's τ_int is read from.
pub const AUTO_TAU_BLOCKS: usize = 4;
/// Default cap of `--thermalize auto` (sweeps).
pub const AUTO_CAP: u32 = 1 << 20;

/// The drift test of one observable.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Drift {
    /// Results-file name of the observable.
    pub observable: String,
    /// (head mean − tail mean) / error.
    pub z: f64,
    /// Mean of the head: the first `head_fraction` of the measurements (all chains).
    pub head_mean: f64,
    /// Mean of the rest.
    pub tail_mean: f64,
    /// Standard error of head − tail.
    pub error: f64,
    /// The head's share of the measurements: a tenth or a half, whichever split gives the
    /// larger |z|.
    #[serde(default)]
    pub head_fraction: f64,
    /// Leading measurements (per chain) a MSER-5 cut would discard.
    pub mser_discard: usize,
}

/// The fix a drift warning of `sample` names.
pub const SAMPLE_FIX: &str =
    "raise --thermalize or use --thermalize auto, or measure for much longer than tau_int";

/// The drift tests of a run, as reported under `analysis`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Equilibration {
    /// False when any tested observable drifts (|z| > [`DRIFT_Z_LIMIT`]); null when the
    /// series is too short to test (fewer than 2 measurements per chain or 8 tail blocks).
    pub equilibrated: Option<bool>,
    /// The z of the observable with the largest |z| (null when untested).
    pub drift_z: Option<f64>,
    /// The largest MSER-5 cut among the tested observables (measurements per chain).
    pub mser_discard: usize,
    /// Each tested observable.
    pub drift: Vec<Drift>,
    /// Measurements per chain the test read (for messages; not stored in files, where the
    /// run's own count sits beside it).
    #[serde(skip)]
    pub measurements: usize,
}

/// Standard error of the mean of `values` by binning, read conservatively: the largest
/// SE(B) over the block lengths leaving at least [`MIN_DRIFT_BLOCKS`] blocks.
fn plateau_error(values: &[f64], shape: Shape) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut b = 1;
    while b <= shape.n_time && shape.blocks(b) >= MIN_DRIFT_BLOCKS {
        let m = stats::block_means(values, shape, b);
        let se = (stats::variance(&m) / m.len() as f64).sqrt();
        if se.is_finite() {
            best = Some(best.map_or(se, |x: f64| x.max(se)));
        }
        b *= 2;
    }
    best
}

/// τ_int (in measurement intervals) read conservatively: the largest ½ B Var(block means) /
/// Var(x) over block lengths B leaving at least [`AUTO_TAU_BLOCKS`] blocks; 0.5 for a
/// constant series.
pub fn window_tau(values: &[f64], shape: Shape) -> f64 {
    let var_x = stats::variance(values);
    if var_x.is_nan() || var_x <= 0.0 {
        return 0.5;
    }
    let mut tau = 0.5f64;
    let mut b = 1;
    while b <= shape.n_time && shape.blocks(b) >= AUTO_TAU_BLOCKS {
        let m = stats::block_means(values, shape, b);
        let t = 0.5 * b as f64 * stats::variance(&m) / var_x;
        if t.is_finite() {
            tau = tau.max(t);
        }
        b *= 2;
    }
    tau
}

/// Leading measurements a MSER-5 cut of the chain-averaged series would discard.
pub fn mser_discard(values: &[f64], shape: Shape) -> usize {
    let k = shape.n_time / MSER_BATCH;
    if k < 2 || shape.n_chains == 0 {
        return 0;
    }
    let per = (MSER_BATCH * shape.n_chains) as f64;
    let batches: Vec<f64> = (0..k)
        .map(|j| {
            values[j * MSER_BATCH * shape.n_chains..(j + 1) * MSER_BATCH * shape.n_chains]
                .iter()
                .sum::<f64>()
                / per
        })
        .collect();
    let mut best = (f64::INFINITY, 0usize);
    for d in 0..=k / 2 {
        let tail = &batches[d..];
        let n = tail.len() as f64;
        let m = tail.iter().sum::<f64>() / n;
        let ss: f64 = tail.iter().map(|y| (y - m) * (y - m)).sum();
        let score = ss / (n * n);
        if score < best.0 {
            best = (score, d);
        }
    }
    best.1 * MSER_BATCH
}

/// The z of a difference with no spread: 0, or a drift as large as can be told.
fn infinite_drift(d: f64) -> f64 {
    if d == 0.0 { 0.0 } else { 40f64.copysign(d) }
}

/// The drift test of one observable's series (see the module docs); None when the series
/// is too short to test.
pub fn drift(name: &str, values: &[f64], shape: Shape) -> Option<Drift> {
    let a = drift_split(name, values, shape, HEAD_DIVISOR);
    let b = drift_split(name, values, shape, 2);
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.z.abs() > a.z.abs() { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The drift test with the first 1/`divisor` of the measurements as the head.
fn drift_split(name: &str, values: &[f64], shape: Shape, divisor: usize) -> Option<Drift> {
    if shape.n_time < 2 || shape.n_chains == 0 || values.len() != shape.len() {
        return None;
    }
    let n_head = (shape.n_time / divisor).max(1);
    let c = shape.n_chains;
    let (head, tail) = values.split_at(n_head * c);
    let tail_shape = Shape {
        n_time: shape.n_time - n_head,
        n_chains: c,
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (h, t) = (mean(head), mean(tail));
    let (z, error) = if c >= MIN_T_CHAINS {
        let chain_mean =
            |v: &[f64], n: usize, k: usize| (0..n).map(|i| v[i * c + k]).sum::<f64>() / n as f64;
        let d: Vec<f64> = (0..c)
            .map(|k| chain_mean(head, n_head, k) - chain_mean(tail, tail_shape.n_time, k))
            .collect();
        let error = (stats::variance(&d) / c as f64).sqrt();
        let dbar = mean(&d);
        let z = if error > 0.0 {
            let p = stats::student_t_two_sided(dbar / error, (c - 1) as f64);
            stats::two_sided_z(p).copysign(dbar)
        } else {
            infinite_drift(dbar)
        };
        (z, error)
    } else {
        let se_tail = plateau_error(tail, tail_shape)?;
        let error = se_tail * (1.0 + tail_shape.n_time as f64 / n_head as f64).sqrt();
        let z = if error > 0.0 {
            (h - t) / error
        } else {
            infinite_drift(h - t)
        };
        (z, error)
    };
    Some(Drift {
        observable: name.into(),
        z,
        head_mean: h,
        tail_mean: t,
        error,
        head_fraction: n_head as f64 / shape.n_time as f64,
        mser_discard: mser_discard(values, shape),
    })
}

impl Equilibration {
    /// The drift tests of the named series (each `shape`), with the report's limit.
    pub fn test(series: &[(&str, &[f64])], shape: Shape) -> Equilibration {
        Self::test_with(series, shape, DRIFT_Z_LIMIT)
    }

    /// The drift tests with the limit `z_limit`.
    pub fn test_with(series: &[(&str, &[f64])], shape: Shape, z_limit: f64) -> Equilibration {
        let drift: Vec<Drift> = series
            .iter()
            .filter_map(|(name, v)| drift(name, v, shape))
            .collect();
        if drift.len() < series.len() || drift.is_empty() {
            return Equilibration {
                mser_discard: drift.iter().map(|d| d.mser_discard).max().unwrap_or(0),
                drift,
                measurements: shape.n_time,
                ..Equilibration::default()
            };
        }
        let worst = drift
            .iter()
            .map(|d| d.z)
            .max_by(|a, b| a.abs().total_cmp(&b.abs()));
        Equilibration {
            equilibrated: Some(drift.iter().all(|d| d.z.abs() <= z_limit)),
            drift_z: worst,
            mser_discard: drift.iter().map(|d| d.mser_discard).max().unwrap_or(0),
            drift,
            measurements: shape.n_time,
        }
    }

    /// The drift test of one observable, if it was tested.
    pub fn of(&self, name: &str) -> Option<&Drift> {
        self.drift.iter().find(|d| d.observable == name)
    }

    /// One warning per drifting observable, naming it and `fix` (what to change, e.g.
    /// [`SAMPLE_FIX`]).
    pub fn warnings(&self, fix: &str) -> Vec<String> {
        self.drift
            .iter()
            .filter(|d| d.z.abs() > DRIFT_Z_LIMIT)
            .map(|d| {
                format!(
                    "{} drifts: the first tenth of the measurements averages {:.6} against {:.6} for the rest (z = {:.1}, |z| > {DRIFT_Z_LIMIT}); the chains were not in equilibrium when measuring began (a MSER cut would discard the first {} of {} measurements per chain), so the estimates are biased: {fix}",
                    d.observable,
                    d.head_mean,
                    d.tail_mean,
                    d.z,
                    d.mser_discard,
                    self.measurements
                )
            })
            .collect()
    }
}

/// One window of `--thermalize auto`: the sweeps it runs and how often it measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoWindow {
    /// Sweeps done before the window.
    pub start: u64,
    /// Sweeps in the window.
    pub sweeps: u32,
    /// Measurement interval inside the window.
    pub every: u32,
}

/// The auto-thermalization window that contains sweep `done` (0-based sweeps done so far;
/// the window starting exactly at `done` when a window ends there), or None before the
/// first window ([`AUTO_FIRST`]).
pub fn auto_window(done: u64) -> Option<AutoWindow> {
    if done < AUTO_FIRST as u64 {
        return None;
    }
    // windows [W, 2W) with W = 32·2^r
    let mut w = AUTO_FIRST as u64;
    while 2 * w <= done {
        w *= 2;
    }
    let sweeps = u32::try_from(w).unwrap_or(u32::MAX);
    Some(AutoWindow {
        start: w,
        sweeps,
        every: (sweeps / AUTO_WINDOW_MEASUREMENTS).max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n_time: usize, n_chains: usize) -> Shape {
        Shape { n_time, n_chains }
    }

    /// A deterministic AR(1)-like series around `level` with an optional transient.
    fn series(n_time: usize, chains: usize, transient: f64, seed: u64) -> Vec<f64> {
        let mut v = vec![0.0; n_time * chains];
        for c in 0..chains {
            let mut x = 0.0f64;
            for t in 0..n_time {
                let w = crate::rng::philox4x32_10(
                    [t as u32, c as u32, seed as u32, 7],
                    [seed as u32, 1],
                );
                // sum of uniforms: approximately normal, mean 0, variance 1
                let g = w
                    .iter()
                    .map(|&u| u as f64 / 4294967296.0 - 0.5)
                    .sum::<f64>()
                    * 3f64.sqrt();
                x = 0.8 * x + 0.6 * g;
                v[t * chains + c] = x + transient * (-(t as f64) / 40.0).exp();
            }
        }
        v
    }

    #[test]
    fn a_stationary_series_passes_and_a_transient_is_flagged() {
        for seed in 0..20 {
            let s = series(2000, 4, 0.0, seed);
            let d = drift("x", &s, shape(2000, 4)).unwrap();
            assert!(d.z.abs() < DRIFT_Z_LIMIT, "seed {seed}: {d:?}");
            // AR(1), φ = 0.8: τ_int = 4.5, SE of the tail mean ≈ 0.035, times √2 or √10
            assert!(d.error > 0.04 && d.error < 0.3, "{d:?}");
        }
        // a transient 5 e^{−t/40} biases the whole-run mean by 0.1, three standard errors
        for chains in [4, 16] {
            let s = series(2000, chains, 5.0, 1);
            let d = drift("x", &s, shape(2000, chains)).unwrap();
            assert!(d.z > DRIFT_Z_LIMIT, "{chains} chains: {d:?}");
            assert!(d.mser_discard >= 40 && d.mser_discard <= 400, "{d:?}");
        }
    }

    /// Over many stationary series each split's z scatters like a standard normal; the
    /// reported z, the larger of two, a little wider.
    fn assert_unit_spread(chains: usize, seed0: u64) {
        let (n, runs) = (1000, 200);
        let (mut single, mut reported, mut beyond_3) = (0.0, 0.0, 0);
        for seed in 0..runs {
            let s = series(n, chains, 0.0, seed0 + seed);
            let tenth = drift_split("x", &s, shape(n, chains), HEAD_DIVISOR)
                .unwrap()
                .z;
            let z = drift("x", &s, shape(n, chains)).unwrap().z;
            single += tenth * tenth / runs as f64;
            reported += z * z / runs as f64;
            beyond_3 += (z.abs() > 3.0) as usize;
        }
        assert!(
            single > 0.6 && single < 1.5,
            "variance of z (tenth) {single}"
        );
        assert!(reported < 2.0, "variance of the reported z {reported}");
        assert!(beyond_3 <= 4, "{beyond_3} of {runs} beyond |z| = 3");
    }

    #[test]
    fn the_z_has_unit_spread_in_equilibrium() {
        assert_unit_spread(2, 100);
        assert_unit_spread(16, 700);
    }

    #[test]
    fn the_between_chain_test_sees_a_drift_slower_than_the_run() {
        // 16 chains relaxing together over the whole run plus independent noise: the
        // binning error absorbs the drift, the t test does not
        let (n, c) = (2000, 16);
        let mut s = series(n, c, 0.0, 3);
        for t in 0..n {
            for k in 0..c {
                s[t * c + k] += (-(t as f64) / 1500.0).exp();
            }
        }
        let d = drift("x", &s, shape(n, c)).unwrap();
        assert!(d.z > DRIFT_Z_LIMIT, "{d:?}");
        // with fewer chains than the t test needs, the same drift hides in the binning error
        let few = Shape {
            n_time: n,
            n_chains: 4,
        };
        let s4: Vec<f64> = (0..n).flat_map(|t| s[t * c..t * c + 4].to_vec()).collect();
        let d4 = drift("x", &s4, few).unwrap();
        assert!(d4.z.abs() < d.z.abs(), "{d4:?} vs {d:?}");
    }

    #[test]
    fn short_series_are_untested() {
        assert!(drift("x", &[1.0], shape(1, 1)).is_none());
        let e = Equilibration::test(&[("x", &[1.0, 2.0][..])], shape(2, 1));
        assert_eq!(e.equilibrated, None);
    }

    #[test]
    fn auto_windows_double() {
        assert_eq!(auto_window(0), None);
        assert_eq!(
            auto_window(32),
            Some(AutoWindow {
                start: 32,
                sweeps: 32,
                every: 1
            })
        );
        assert_eq!(auto_window(63).unwrap().start, 32);
        let w = auto_window(1 << 20).unwrap();
        assert_eq!((w.start, w.sweeps, w.every), (1 << 20, 1 << 20, 4096));
    }
}
