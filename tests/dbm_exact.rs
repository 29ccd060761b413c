//! Exact moments of DBMs with bernoulli hidden or deep layers (src/dbm/enumeration.rs)
//! against brute force written here: every discrete configuration summed, every Gaussian
//! layer integrated by the trapezoid rule on a wide grid.

use blockspin::dbm::analytic::recursion;
use blockspin::dbm::enumeration::{exact, hidden_prior};
use blockspin::dbm::{Dbm, Layer, VisibleUnits};

fn model(visible: &str, hidden: &str, deep: &str) -> Dbm {
    let layer = |units: &str, mean: &str, std: &str, bias: &str| match units {
        "gaussian" => format!("units = \"gaussian\"\nmean = {mean}\nstd = {std}"),
        _ => format!("units = \"bernoulli\"\nbias = {bias}"),
    };
    let text = format!(
        "[visible]\nunits = \"{visible}\"\nbias = [0.2, -0.1, 0.3]\n[hidden]\n{}\n[deep]\n{}\n[weights]\nvisible_hidden = [[0.4, -0.3], [0.2, 0.5], [-0.6, 0.1]]\nhidden_deep = [[0.6, 0.2], [-0.4, 0.5]]\n",
        layer(hidden, "[0.1, -0.2]", "[0.9, 1.1]", "[0.3, -0.4]"),
        layer(deep, "[0.3, -0.1]", "[0.8, 0.7]", "[-0.2, 0.5]"),
    );
    Dbm::from_toml(&text).unwrap()
}

/// One layer's points and quadrature weights: {0, 1} with weight 1, or a trapezoid grid.
fn points(layer: &Layer, unit: usize) -> Vec<(f64, f64)> {
    match layer {
        Layer::Bernoulli { .. } => vec![(0.0, 1.0), (1.0, 1.0)],
        Layer::Gaussian { mean, std } => {
            // ±11 std around the mean: the conditional means move by less than 2 std
            let (n, half) = (161, 11.0 * std[unit]);
            let step = 2.0 * half / (n - 1) as f64;
            (0..n)
                .map(|i| (mean[unit] - half + step * i as f64, step))
                .collect()
        }
    }
}

/// −E(v, h, s) of physics.md §1 (bernoulli layers: +dᵀx instead of the quadratic term).
fn minus_energy(m: &Dbm, v: &[f64], h: &[f64], s: &[f64]) -> f64 {
    let prior = |layer: &Layer, x: &[f64]| -> f64 {
        match layer {
            Layer::Gaussian { mean, std } => (0..x.len())
                .map(|j| -0.5 * ((x[j] - mean[j]) / std[j]).powi(2))
                .sum(),
            Layer::Bernoulli { bias } => bias.iter().zip(x).map(|(d, x)| d * x).sum(),
        }
    };
    let mut e = prior(&m.hidden, h) + prior(&m.deep, s);
    for i in 0..v.len() {
        e += m.visible_bias[i] * v[i];
        for j in 0..h.len() {
            e += v[i] * m.visible_hidden[i][j] * h[j];
        }
    }
    for j in 0..h.len() {
        for k in 0..s.len() {
            e += h[j] * m.hidden_deep[j][k] * s[k];
        }
    }
    e
}

struct Brute {
    log_z: f64,
    visible_mean: Vec<f64>,
    visible_second: Vec<Vec<f64>>,
    hidden_mean: Vec<f64>,
    deep_mean: Vec<f64>,
    /// ln ∫dh ds e^{−E(v,h,s)} for v with bit i ⟺ v_i on.
    log_weight: Vec<f64>,
    hidden_covariance: Vec<Vec<f64>>,
}

/// Brute force over (v, h, s); `with_visible = false` drops the visible layer (q_h).
fn brute(m: &Dbm, with_visible: bool) -> Brute {
    let (nv, nh, ns) = m.sizes();
    let nv = if with_visible { nv } else { 0 };
    let vals = match m.visible_units {
        VisibleUnits::Bernoulli => [0.0, 1.0],
        VisibleUnits::Spin => [-1.0, 1.0],
    };
    let h_pts: Vec<Vec<(f64, f64)>> = (0..nh).map(|j| points(&m.hidden, j)).collect();
    let s_pts: Vec<Vec<(f64, f64)>> = (0..ns).map(|k| points(&m.deep, k)).collect();
    let (mut z, mut vm, mut hm, mut sm) = (0.0, vec![0.0; nv], vec![0.0; nh], vec![0.0; ns]);
    let mut v2 = vec![vec![0.0; nv]; nv];
    let mut h2 = vec![vec![0.0; nh]; nh];
    let mut log_weight = Vec::new();
    for b in 0..1usize << nv {
        let v: Vec<f64> = (0..nv).map(|i| vals[(b >> i) & 1]).collect();
        let mut wv = 0.0;
        for h0 in &h_pts[0] {
            for h1 in &h_pts[1] {
                for s0 in &s_pts[0] {
                    for s1 in &s_pts[1] {
                        let (h, s) = ([h0.0, h1.0], [s0.0, s1.0]);
                        let w = minus_energy(m, &v, &h, &s).exp() * h0.1 * h1.1 * s0.1 * s1.1;
                        wv += w;
                        for j in 0..2 {
                            hm[j] += w * h[j];
                            sm[j] += w * s[j];
                            for l in 0..2 {
                                h2[j][l] += w * h[j] * h[l];
                            }
                        }
                    }
                }
            }
        }
        z += wv;
        for i in 0..nv {
            vm[i] += wv * v[i];
            for j in 0..nv {
                v2[i][j] += wv * v[i] * v[j];
            }
        }
        log_weight.push(wv.ln());
    }
    let norm = |x: &mut Vec<f64>| x.iter_mut().for_each(|y| *y /= z);
    norm(&mut vm);
    norm(&mut hm);
    norm(&mut sm);
    v2.iter_mut().for_each(norm);
    let hidden_covariance = (0..nh)
        .map(|j| (0..nh).map(|l| h2[j][l] / z - hm[j] * hm[l]).collect())
        .collect();
    Brute {
        log_z: z.ln(),
        visible_mean: vm,
        visible_second: v2,
        hidden_mean: hm,
        deep_mean: sm,
        log_weight,
        hidden_covariance,
    }
}

/// K_S of ln-weight = Σ_S K_S Π_{i∈S} v_i by the defining sums.
fn coupling(log_weight: &[f64], units: VisibleUnits, s: usize) -> f64 {
    let n = log_weight.len();
    match units {
        VisibleUnits::Bernoulli => (0..n)
            .filter(|t| t & !s == 0)
            .map(|t| {
                let sign = if (s ^ t).count_ones().is_multiple_of(2) {
                    1.0
                } else {
                    -1.0
                };
                sign * log_weight[t]
            })
            .sum(),
        VisibleUnits::Spin => {
            (0..n)
                .map(|b| {
                    let sign = if (s & !b).count_ones().is_multiple_of(2) {
                        1.0
                    } else {
                        -1.0
                    };
                    sign * log_weight[b]
                })
                .sum::<f64>()
                / n as f64
        }
    }
}

fn close(what: &str, a: f64, b: f64) {
    assert!(
        (a - b).abs() < 1e-8 * (1.0 + b.abs()),
        "{what}: {a} vs brute force {b}"
    );
}

fn compare(m: &Dbm) {
    let r = recursion(m).unwrap();
    let e = exact(m, &r, 3).unwrap().unwrap();
    let b = brute(m, true);
    let (nv, nh, ns) = m.sizes();
    close("ln Z", e.log_partition, b.log_z);
    for i in 0..nv {
        close("visible mean", e.visible_mean[i], b.visible_mean[i]);
        for j in 0..nv {
            close(
                "visible pair",
                e.visible_second_moment[i][j],
                b.visible_second[i][j],
            );
        }
    }
    for j in 0..nh {
        close("hidden mean", e.hidden_mean[j], b.hidden_mean[j]);
    }
    for k in 0..ns {
        close("deep mean", e.deep_mean[k], b.deep_mean[k]);
    }
    // every coupling of orders 1..=3 (the 3 visible units form one component)
    for o in &e.visible_couplings {
        assert_eq!(o.nonzero, o.terms.len());
        let mut listed = 0;
        for s in 1..8usize {
            if s.count_ones() as usize != o.order {
                continue;
            }
            let want = coupling(&b.log_weight, m.visible_units, s);
            let units: Vec<usize> = (0..3).filter(|i| s >> i & 1 == 1).collect();
            let got = o
                .terms
                .iter()
                .find(|t| t.units == units)
                .map_or(0.0, |t| t.value);
            close(&format!("K{units:?}"), got, want);
            listed += (want.abs() > 1e-6) as usize;
        }
        assert!(o.terms.len() >= listed);
    }
    let third = &e.visible_couplings[2];
    if m.hidden.is_gaussian() && m.deep.is_gaussian() {
        assert_eq!(third.nonzero, 0, "two Gaussian layers give a pairwise p(v)");
    } else {
        assert!(
            third.max_abs > 1e-4,
            "a bernoulli layer induces a 3-body coupling"
        );
    }
}

#[test]
fn bernoulli_hidden_gaussian_deep_matches_brute_force() {
    compare(&model("bernoulli", "bernoulli", "gaussian"));
    compare(&model("spin", "bernoulli", "gaussian"));
}

#[test]
fn bernoulli_hidden_bernoulli_deep_matches_brute_force() {
    compare(&model("spin", "bernoulli", "bernoulli"));
}

#[test]
fn gaussian_hidden_bernoulli_deep_matches_brute_force() {
    compare(&model("bernoulli", "gaussian", "bernoulli"));
}

#[test]
fn gaussian_layers_give_the_recursion_couplings() {
    let m = model("bernoulli", "gaussian", "gaussian");
    let r = recursion(&m).unwrap();
    let e = exact(&m, &r, 3).unwrap().unwrap();
    let jv = r.visible_coupling.unwrap();
    let fv = r.visible_field.unwrap();
    for t in &e.visible_couplings[1].terms {
        close("K_ij = J_v", t.value, jv[(t.units[0], t.units[1])]);
    }
    for t in &e.visible_couplings[0].terms {
        let i = t.units[0];
        close("K_i = f_i + J_ii/2", t.value, fv[i] + 0.5 * jv[(i, i)]);
    }
    assert_eq!(e.visible_couplings[2].nonzero, 0);
}

#[test]
fn hidden_prior_cumulants_match_brute_force() {
    for deep in ["gaussian", "bernoulli"] {
        let m = model("bernoulli", "bernoulli", deep);
        let r = recursion(&m).unwrap();
        let q = hidden_prior(&m, &r).unwrap().unwrap();
        let b = brute(&m, false);
        for j in 0..2 {
            close("q_h mean", q.mean[j], b.hidden_mean[j]);
            for l in 0..2 {
                close(
                    "q_h covariance",
                    q.covariance[(j, l)],
                    b.hidden_covariance[j][l],
                );
            }
            let p = b.hidden_mean[j];
            close("κ₃", q.third[j], p * (1.0 - p) * (1.0 - 2.0 * p));
            close(
                "κ₄",
                q.fourth[j],
                p * (1.0 - p) * (1.0 - 6.0 * p + 6.0 * p * p),
            );
        }
        assert!(
            q.covariance[(0, 1)].abs() > 1e-4,
            "the deep layer correlates h"
        );
    }
}
