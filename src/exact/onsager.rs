//! The infinite square-lattice Ising model at zero field (Onsager 1944, Yang 1952).
//! `K = βJ > 0`; per-site quantities in units of J.

use super::elliptic_ke_with_complement;
use std::f64::consts::PI;

/// K_c = ½ ln(1 + √2).
pub const CRITICAL_COUPLING: f64 = 0.440_686_793_509_771_5;

/// Modulus k = 2 sinh 2K / cosh² 2K and its complement k' = |1 − sinh² 2K| / cosh² 2K
/// (computed directly: 1 − k² cancels catastrophically near K_c).
fn modulus(k: f64) -> (f64, f64) {
    let c = (2.0 * k).cosh();
    let s = (2.0 * k).sinh();
    (2.0 * s / (c * c), (1.0 - s * s).abs() / (c * c))
}

/// Energy per site u = −coth 2K [1 + (2/π)(2 tanh² 2K − 1) K(k)].
pub fn energy_per_site(k: f64) -> f64 {
    let t = (2.0 * k).tanh();
    let (km, kp) = modulus(k);
    let w = 2.0 * t * t - 1.0;
    // at K_c, w ∝ k' → 0 while K(k) ~ ln(4/k') diverges: the product vanishes
    let term = if kp == 0.0 {
        0.0
    } else {
        (2.0 / PI) * w * elliptic_ke_with_complement(km, kp).0
    };
    -(1.0 / t) * (1.0 + term)
}

/// Specific heat per site c = (4/π)(K coth 2K)² {K(k) − E(k) − (1 − tanh² 2K)[π/2 + (2 tanh² 2K − 1) K(k)]}
/// (infinite at K_c).
pub fn specific_heat_per_site(k: f64) -> f64 {
    let t = (2.0 * k).tanh();
    let (km, kp) = modulus(k);
    if kp == 0.0 {
        return f64::INFINITY;
    }
    let (kk, ee) = elliptic_ke_with_complement(km, kp);
    let a = k / t;
    (4.0 / PI) * a * a * (kk - ee - (1.0 - t * t) * (PI / 2.0 + (2.0 * t * t - 1.0) * kk))
}

/// Spontaneous magnetisation per site (1 − sinh⁻⁴ 2K)^{1/8} for K > K_c, else 0.
pub fn spontaneous_magnetization(k: f64) -> f64 {
    if k <= CRITICAL_COUPLING {
        return 0.0;
    }
    let s = (2.0 * k).sinh();
    (1.0 - s.powi(-4)).powf(0.125)
}

/// ln Z per site (−βf) = ln(2 cosh 2K) + (1/2π) ∫₀^π ln[½(1 + √(1 − k² sin²θ))] dθ,
/// by Gauss–Legendre-free composite Simpson with 20,000 panels (error ≪ 1e-10 away from K_c).
pub fn ln_z_per_site(k: f64) -> f64 {
    let (km, _) = modulus(k);
    let f = |th: f64| {
        let s = th.sin();
        (0.5 * (1.0 + (1.0 - km * km * s * s).max(0.0).sqrt())).ln()
    };
    let n = 20_000;
    let h = PI / n as f64;
    let mut sum = f(0.0) + f(PI);
    for i in 1..n {
        sum += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    (2.0 * (2.0 * k).cosh()).ln() + sum * h / 3.0 / (2.0 * PI)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// physics.md §5b, L = ∞ row and the free-energy table.
    #[test]
    fn table_values() {
        let cases = [
            (0.3, -0.7044990708, 0.2862902029, 0.790559070951),
            (0.4, -1.1060792037, 0.8616983568, 0.879363820775),
            (0.5, -1.7455645753, 0.7248714486, 1.025792812695),
        ];
        for (k, u, c, f) in cases {
            assert!((energy_per_site(k) - u).abs() < 1e-9, "u({k})");
            assert!((specific_heat_per_site(k) - c).abs() < 1e-8, "c({k})");
            assert!((ln_z_per_site(k) - f).abs() < 1e-9, "f({k})");
        }
        // physics.md lists u = -1.4142138520, c = 8.1718103659 at K = 0.4406868; those were
        // computed with 1 - k² in double precision, which cancels there (1 - k² ~ 1e-16).
        // 40-digit mpmath of the same formulas gives the values below.
        assert!((energy_per_site(0.4406868) + 1.414213866708).abs() < 1e-10);
        assert!((specific_heat_per_site(0.4406868) - 8.611965995909).abs() < 1e-7);
        assert!((energy_per_site(CRITICAL_COUPLING) + std::f64::consts::SQRT_2).abs() < 1e-12);
        assert!((ln_z_per_site(CRITICAL_COUPLING) - 0.929695398342).abs() < 1e-8);
        assert!((spontaneous_magnetization(0.6) - 0.9737).abs() < 1e-3);
    }
}
