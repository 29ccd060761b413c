//! Binning, τ_int and jackknife on synthetic AR(1) series with known answers
//! (physics.md §6): x_t = ρ x_{t−1} + sqrt(1 − ρ²) ε_t, stationary with unit variance,
//! τ_int = (1 + ρ) / (2 (1 − ρ)).

use blockspin::rng::philox4x32_10;
use blockspin::stats::{Shape, binning, block_means, jackknife};

/// Standard normal variates from Philox (Box–Muller), deterministic and portable.
fn normals(stream: u32, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 4);
    let mut i = 0u32;
    while out.len() < n {
        let w = philox4x32_10([i, stream, 0, 0xA5], [2024, 11]);
        i += 1;
        for pair in [[w[0], w[1]], [w[2], w[3]]] {
            let u1 = (pair[0] as f64 + 0.5) / 4294967296.0;
            let u2 = pair[1] as f64 / 4294967296.0;
            let r = (-2.0 * u1.ln()).sqrt();
            let th = 2.0 * std::f64::consts::PI * u2;
            out.push(r * th.cos());
            out.push(r * th.sin());
        }
    }
    out.truncate(n);
    out
}

/// `chains` independent stationary AR(1) series of length `t`, measurement-major.
fn ar1(rho: f64, t: usize, chains: usize, stream: u32) -> Vec<f64> {
    let eps = normals(stream, t * chains);
    let s = (1.0 - rho * rho).sqrt();
    let mut x = vec![0.0; t * chains];
    for c in 0..chains {
        let mut v = eps[c]; // stationary start
        for k in 0..t {
            if k > 0 {
                v = rho * v + s * eps[k * chains + c];
            }
            x[k * chains + c] = v;
        }
    }
    x
}

/// Exact variance of the mean of T consecutive stationary AR(1) values (unit variance).
fn var_of_mean(rho: f64, t: f64) -> f64 {
    ((1.0 + rho) / (1.0 - rho) - 2.0 * rho * (1.0 - rho.powf(t)) / (t * (1.0 - rho).powi(2))) / t
}

#[test]
fn many_chains_error_and_tau_int() {
    let (rho, t, chains) = (0.9, 4096usize, 1024usize);
    let shape = Shape {
        n_time: t,
        n_chains: chains,
    };
    let x = ar1(rho, t, chains, 1);
    let b = binning(&x, shape);
    assert_eq!(b.block_length, t, "independent chains: whole-chain blocks");
    let se_exact = (var_of_mean(rho, t as f64) / chains as f64).sqrt();
    let tau_exact = 0.5 * t as f64 * var_of_mean(rho, t as f64); // tau_int(B = T)
    let rel = b.relative_error_of_error;
    println!(
        "SE {} (exact {se_exact}), tau {} (exact {tau_exact}), rel {rel}",
        b.error, b.tau_int
    );
    assert!((b.error / se_exact - 1.0).abs() < 4.0 * rel);
    assert!((b.tau_int / tau_exact - 1.0).abs() < 8.0 * rel); // variance: twice the relative error
    assert!(b.mean.abs() < 4.0 * se_exact);
    assert!(b.reliable);
}

#[test]
fn single_long_chain_plateau() {
    // physics.md §6: N = 2^20, exact SE 0.004257; binning plateaus for B >= 256.
    let n = 1 << 20;
    let shape = Shape {
        n_time: n,
        n_chains: 1,
    };
    let x = ar1(0.9, n, 1, 2);
    let b = binning(&x, shape);
    let se_exact = var_of_mean(0.9, n as f64).sqrt();
    assert!((se_exact - 0.004257).abs() < 1e-6);
    for &(len, se) in &b.levels {
        if (512..=4096).contains(&len) {
            let nb = (n / len) as f64;
            let rel = 1.0 / (2.0 * (nb - 1.0)).sqrt();
            println!("B = {len}: SE = {se:.6} (exact {se_exact:.6})");
            assert!(
                (se / se_exact - 1.0).abs() < 4.0 * rel + 0.03,
                "B = {len}: {se}"
            );
        }
        if len == 1 {
            // B = 1 ignores correlations: SE = sqrt(1/N), too small by sqrt(2 tau) = sqrt(19)
            assert!((se * (n as f64).sqrt() - 1.0).abs() < 0.05);
        }
    }
    assert!((b.error / se_exact - 1.0).abs() < 4.0 * b.relative_error_of_error);
    assert!((b.tau_int - 9.5).abs() < 8.0 * b.relative_error_of_error * 9.5);
    assert!(b.reliable);
}

#[test]
fn uncorrelated_data_have_tau_one_half() {
    let shape = Shape {
        n_time: 1 << 16,
        n_chains: 4,
    };
    let x = normals(3, shape.len());
    let b = binning(&x, shape);
    assert!((b.tau_int - 0.5).abs() < 4.0 * 2.0 * b.relative_error_of_error * 0.5);
    assert!(
        (b.error - (1.0 / shape.len() as f64).sqrt()).abs()
            < 4.0 * b.relative_error_of_error * b.error
    );
}

#[test]
fn too_short_runs_are_flagged() {
    // tau_int ~ 1000 but only 2000 measurements of one chain: the error is unreliable.
    let shape = Shape {
        n_time: 2000,
        n_chains: 1,
    };
    let x = ar1(0.999, 2000, 1, 4);
    assert!(!binning(&x, shape).reliable);
}

#[test]
fn jackknife_variance_of_ar1() {
    // physics.md §6: jackknife Var(x) = 0.99285 ± 0.00400 for one N = 2^20 draw (true value 1).
    let n = 1 << 20;
    let shape = Shape {
        n_time: n,
        n_chains: 1,
    };
    let x = ar1(0.9, n, 1, 5);
    let b = shape.block_length();
    let m1 = block_means(&x, shape, b);
    let x2: Vec<f64> = x.iter().map(|v| v * v).collect();
    let m2 = block_means(&x2, shape, b);
    let j = jackknife(&[m1, m2], |m| m[1] - m[0] * m[0]);
    println!("Var = {} ± {}", j.mean, j.error);
    assert!(j.error > 0.002 && j.error < 0.008, "error {}", j.error);
    assert!((j.mean - 1.0).abs() < 4.0 * j.error);
}

#[test]
fn k_statistics_of_known_distributions() {
    use blockspin::stats::k_statistics;
    // Exponential(1): cumulants kappa_n = (n-1)!  (1, 1, 2, 6), from Philox uniforms.
    let n = 400_000usize;
    let mut s = [0.0; 4];
    let mut i = 0u32;
    let mut count = 0;
    while count < n {
        let w = philox4x32_10([i, 9, 0, 0], [5, 6]);
        i += 1;
        for word in w {
            if count == n {
                break;
            }
            let x = -((word as f64 + 0.5) / 4294967296.0).ln() - 1.0; // shifted by the mean
            for (r, sr) in s.iter_mut().enumerate() {
                *sr += x.powi(r as i32 + 1);
            }
            count += 1;
        }
    }
    let k = k_statistics(n as f64, s);
    let want = [0.0, 1.0, 2.0, 6.0];
    // standard errors of k_r for Exp(1) at this n: ~ sqrt(var/n) with var 1, 8, 264, 34560-ish
    let tol = [0.01, 0.03, 0.2, 2.0];
    for r in 0..4 {
        assert!((k[r] - want[r]).abs() < tol[r], "k{} = {}", r + 1, k[r]);
    }
}

#[test]
fn two_sided_quantiles() {
    use blockspin::stats::two_sided_z;
    assert!((two_sided_z(0.05) - 1.959964).abs() < 1e-4);
    assert!((two_sided_z(1e-3) - 3.290527).abs() < 1e-4);
    assert!((two_sided_z(1e-6) - 4.891638).abs() < 1e-3);
}

#[test]
fn k_statistics_are_exactly_unbiased() {
    // physics.md §6: E[k_r] = kappa_r exactly, by summing over all n-tuples of a 3-point law.
    use blockspin::stats::k_statistics;
    let xs = [-1.0, 0.5, 2.0];
    let ps = [0.2, 0.5, 0.3];
    let mean: f64 = xs.iter().zip(&ps).map(|(x, p)| x * p).sum();
    let c = |r: i32| -> f64 {
        xs.iter()
            .zip(&ps)
            .map(|(x, p)| p * (x - mean).powi(r))
            .sum()
    };
    let kappa = [mean, c(2), c(3), c(4) - 3.0 * c(2) * c(2)];
    for n in [4usize, 5, 7] {
        let mut expect = [0.0; 4];
        for t in 0..3usize.pow(n as u32) {
            let (mut s, mut p, mut rest) = ([0.0; 4], 1.0, t);
            for _ in 0..n {
                let i = rest % 3;
                rest /= 3;
                p *= ps[i];
                for (r, sr) in s.iter_mut().enumerate() {
                    *sr += xs[i].powi(r as i32 + 1);
                }
            }
            let k = k_statistics(n as f64, s);
            for r in 0..4 {
                expect[r] += p * k[r];
            }
        }
        for r in 0..4 {
            assert!(
                (expect[r] - kappa[r]).abs() < 1e-12,
                "n = {n}, k{}: {} vs {}",
                r + 1,
                expect[r],
                kappa[r]
            );
        }
    }
}
