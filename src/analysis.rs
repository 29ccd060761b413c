//! Analysis of finished runs: where the curves of a scale-invariant observable (Binder
//! cumulant U, ξ₂/L) of consecutive sizes cross, and the normalized autocorrelation of a
//! series.

use crate::job::RunResults;
use serde::{Deserialize, Serialize};

/// Crossing of a scale-invariant observable (Binder cumulant U or ξ₂/L) of two sizes
/// between two temperatures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Crossing {
    /// `binder_cumulant` or `correlation_length_over_size`.
    #[serde(default = "binder_name")]
    pub observable: String,
    /// The smaller size.
    pub size_small: u32,
    /// The larger size.
    pub size_large: u32,
    /// Coupling of the curves.
    pub coupling: f64,
    /// Field of the curves.
    pub field: f64,
    /// Crossing temperature (linear interpolation of the difference large − small).
    pub temperature: f64,
    /// Its error, propagated from the jackknife errors of the four values involved.
    pub error: f64,
}

fn binder_name() -> String {
    "binder_cumulant".into()
}

/// The observables whose curves for different sizes cross at T_c: (name, value and
/// error of a point).
type Crossable = (&'static str, fn(&RunResults) -> Option<(f64, f64)>);

const CROSSABLE: [Crossable; 2] = [
    ("binder_cumulant", |p| {
        Some((
            p.observables.binder_cumulant.mean,
            p.observables.binder_cumulant.error,
        ))
    }),
    ("correlation_length_over_size", |p| {
        let l = p.parameters.size as f64;
        p.observables
            .correlation_length
            .as_ref()
            .map(|x| (x.mean / l, x.error / l))
    }),
];

/// Crossings of U(T) and of ξ₂/L between consecutive sizes for every (coupling, field).
pub fn crossings(points: &[RunResults]) -> Vec<Crossing> {
    CROSSABLE
        .iter()
        .flat_map(|&(name, value)| {
            let curves: Vec<CurvePoint> = points
                .iter()
                .filter_map(|p| {
                    value(p).map(|(v, e)| CurvePoint {
                        coupling: p.parameters.coupling,
                        field: p.parameters.field,
                        size: p.parameters.size,
                        temperature: p.parameters.temperature,
                        value: v,
                        error: e,
                    })
                })
                .collect();
            crossings_of(&curves, name)
        })
        .collect()
}

/// One point of a curve: an observable's value ± error at (J, h, L, T).
#[derive(Clone, Copy, Debug)]
struct CurvePoint {
    coupling: f64,
    field: f64,
    size: u32,
    temperature: f64,
    value: f64,
    error: f64,
}

/// Where the curves of consecutive sizes (same J and h) cross: linear interpolation of their
/// difference between neighbouring grid temperatures, error propagated from the four
/// values' errors.
fn crossings_of(points: &[CurvePoint], observable: &str) -> Vec<Crossing> {
    let mut out = Vec::new();
    let mut keys: Vec<(f64, f64)> = points.iter().map(|p| (p.coupling, p.field)).collect();
    keys.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    keys.dedup();
    for (j, h) in keys {
        let family: Vec<&CurvePoint> = points
            .iter()
            .filter(|p| p.coupling == j && p.field == h)
            .collect();
        let mut sizes: Vec<u32> = family.iter().map(|p| p.size).collect();
        sizes.sort();
        sizes.dedup();
        let curve = |l: u32| -> Vec<(f64, f64, f64)> {
            let mut c: Vec<(f64, f64, f64)> = family
                .iter()
                .filter(|p| p.size == l)
                .map(|p| (p.temperature, p.value, p.error))
                .collect();
            c.sort_by(|a, b| a.0.total_cmp(&b.0));
            c
        };
        for w in sizes.windows(2) {
            let (a, b) = (curve(w[0]), curve(w[1]));
            for i in 0..a.len().saturating_sub(1) {
                let (Some(b0), Some(b1)) = (
                    b.iter().find(|x| x.0 == a[i].0),
                    b.iter().find(|x| x.0 == a[i + 1].0),
                ) else {
                    continue;
                };
                let d0 = b0.1 - a[i].1;
                let d1 = b1.1 - a[i + 1].1;
                if !(d0.is_finite() && d1.is_finite()) || (d0 > 0.0) == (d1 > 0.0) || d0 == d1 {
                    continue;
                }
                let (t0, t1) = (a[i].0, a[i + 1].0);
                let t = t0 + (t1 - t0) * d0 / (d0 - d1);
                // dT/dd0 = (t1 - t0) * (-d1) / (d0 - d1)^2, dT/dd1 = (t1 - t0) * d0 / (d0 - d1)^2
                let g0 = (t1 - t0) * -d1 / (d0 - d1).powi(2);
                let g1 = (t1 - t0) * d0 / (d0 - d1).powi(2);
                let v0 = a[i].2.powi(2) + b0.2.powi(2);
                let v1 = a[i + 1].2.powi(2) + b1.2.powi(2);
                out.push(Crossing {
                    observable: observable.to_string(),
                    size_small: w[0],
                    size_large: w[1],
                    coupling: j,
                    field: h,
                    temperature: t,
                    error: (g0 * g0 * v0 + g1 * g1 * v1).sqrt(),
                });
            }
        }
    }
    out
}

/// Normalized autocorrelation of a series for lags 0 … max_lag.
pub fn autocorrelation(x: &[f64], max_lag: usize) -> Vec<f64> {
    let n = x.len();
    if n < 2 {
        return vec![1.0];
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    (0..=max_lag.min(n - 1))
        .map(|k| {
            if var == 0.0 {
                return if k == 0 { 1.0 } else { 0.0 };
            }
            (0..n - k)
                .map(|i| (x[i] - mean) * (x[i + k] - mean))
                .sum::<f64>()
                / ((n - k) as f64 * var)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossings_interpolate_and_propagate_errors() {
        // U_8 = 0.6 - 0.1 (T - 2), U_16 = 0.62 - 0.3 (T - 2): cross at T = 2.1
        let point = |size, temperature: f64, value, error| CurvePoint {
            coupling: 1.0,
            field: 0.0,
            size,
            temperature,
            value,
            error,
        };
        let line = |size, a: f64, b: f64| {
            [2.0, 2.2, 2.4].map(|t| point(size, t, a - b * (t - 2.0), 0.001))
        };
        let mut pts: Vec<CurvePoint> = line(8, 0.6, 0.1).to_vec();
        pts.extend(line(16, 0.62, 0.3));
        let c = crossings_of(&pts, "binder_cumulant");
        assert_eq!(c.len(), 1);
        assert!((c[0].temperature - 2.1).abs() < 1e-12, "{c:?}");
        assert_eq!((c[0].size_small, c[0].size_large), (8, 16));
        // d0 = 0.02, d1 = -0.02 over ΔT = 0.2: dT/dd = ΔT/(2·0.04) = 2.5 each, four errors
        // of 0.001: σ_T = 2.5 · 0.001 · 2 = 0.005
        assert!((c[0].error - 0.005).abs() < 1e-12, "{c:?}");
        // parallel curves do not cross; another field is another family
        let mut far = line(32, 0.9, 0.3).to_vec();
        far.iter_mut().for_each(|p| p.field = 0.5);
        pts.extend(far);
        assert_eq!(crossings_of(&pts, "x").len(), 1);
    }
}
