//! The DBM recursion against brute-force numerical integration (physics.md §2).

use blockspin::dbm::analytic::{log_partition, minus_visible_energy, recursion};
use blockspin::dbm::model::Dbm;

const TINY: &str = r#"
[visible]
units = "bernoulli"
bias = [0.2, -0.1, 0.3]
[hidden]
units = "gaussian"
mean = [0.1, -0.2]
std = [0.9, 1.1]
[deep]
units = "gaussian"
mean = [0.3]
std = [0.8]
[weights]
visible_hidden = [[0.4, -0.3], [0.2, 0.5], [-0.6, 0.1]]
hidden_deep = [[0.6], [-0.4]]
"#;

/// E(v, h, s) of physics.md §1.
fn energy(m: &Dbm, v: &[f64], h: &[f64], s: &[f64]) -> f64 {
    let (
        blockspin::dbm::Layer::Gaussian { mean: mu, std: sg },
        blockspin::dbm::Layer::Gaussian { mean: nu, std: tau },
    ) = (&m.hidden, &m.deep)
    else {
        unreachable!()
    };
    let mut e = 0.0;
    for i in 0..v.len() {
        e -= m.visible_bias[i] * v[i];
        for j in 0..h.len() {
            e -= v[i] * m.visible_hidden[i][j] * h[j];
        }
    }
    for j in 0..h.len() {
        e += 0.5 * (h[j] - mu[j]).powi(2) / (sg[j] * sg[j]);
        for k in 0..s.len() {
            e -= h[j] * m.hidden_deep[j][k] * s[k];
        }
    }
    for k in 0..s.len() {
        e += 0.5 * (s[k] - nu[k]).powi(2) / (tau[k] * tau[k]);
    }
    e
}

#[test]
fn log_p_matches_trapezoid_integration() {
    let m = Dbm::from_toml(TINY).unwrap();
    let r = recursion(&m).unwrap();
    let ln_z = log_partition(&m, &r).unwrap();
    // trapezoid rule on [-9, 9]^3 with spacing 0.12: the integrand is smooth and decays
    // like a Gaussian, so the rule is accurate far beyond 1e-8
    let (lo, step, n) = (-9.0, 0.12, 151);
    let grid: Vec<f64> = (0..n).map(|i| lo + step * i as f64).collect();
    let mut brute = Vec::new();
    for state in 0..8u32 {
        let v: Vec<f64> = (0..3).map(|i| ((state >> i) & 1) as f64).collect();
        let mut sum = 0.0;
        for &h0 in &grid {
            for &h1 in &grid {
                for &s0 in &grid {
                    sum += (-energy(&m, &v, &[h0, h1], &[s0])).exp();
                }
            }
        }
        brute.push((sum * step.powi(3)).ln());
    }
    let brute_ln_z = brute.iter().map(|x| x.exp()).sum::<f64>().ln();
    for (state, b) in brute.iter().enumerate() {
        let v: Vec<f64> = (0..3).map(|i| ((state >> i) & 1) as f64).collect();
        let log_p = minus_visible_energy(&r, &v).unwrap() - ln_z;
        let log_p_brute = b - brute_ln_z;
        assert!(
            (log_p - log_p_brute).abs() < 1e-8,
            "v = {v:?}: {log_p} vs {log_p_brute}"
        );
        // unnormalised too: the recursion preserves the partition function
        assert!((minus_visible_energy(&r, &v).unwrap() - b).abs() < 1e-8);
    }
    assert!((ln_z - brute_ln_z).abs() < 1e-8);
}
