//! Exact references (physics.md §5): what every sampler is checked against.
//!
//! * [`enumerate`]: brute-force sums over all 2^N configurations of any small lattice,
//!   any units, coupling and field;
//! * [`kaufman`]: the finite m×n square torus at h = 0 (Kaufman 1949), ln Z and its first
//!   two K-derivatives, hence u and c for any L at any K;
//! * [`onsager`]: the infinite square lattice (u, c, −βf, Yang's M, K_c);
//! * [`chain`]: the 1D ring;
//! * [`triangular`]: the infinite triangular lattice (Houtappel/Wannier free energy);
//! * [`reference`]: picks whichever of these applies to a given model.
//!
//! Per-site conventions for the Ising model `E = −J Σ s s` with `K = βJ`:
//! `u = ⟨E⟩/(N J)` and `c = C/N = K² ∂²ln Z/∂K² / N`.

pub mod chain;
pub mod enumerate;
pub mod kaufman;
pub mod onsager;
pub mod reference;
pub mod triangular;

/// Values at `x` of p₀ = `start`, p_{k+1} = p_k′ · q (polynomials, coefficients low to
/// high), for k = 0 … n − 1. With q = x − x² and p₀ = x this gives the Bernoulli cumulants
/// κ_n(p); with q = 1 − t² and p₀ = t the derivatives of tanh as polynomials in t = tanh K.
pub fn derivative_chain(start: &[f64], q: &[f64], x: f64, n: usize) -> Vec<f64> {
    let eval = |p: &[f64]| p.iter().rev().fold(0.0, |acc, c| acc * x + c);
    let mut poly = start.to_vec();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(eval(&poly));
        let d: Vec<f64> = poly
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, c)| i as f64 * c)
            .collect();
        let mut next = vec![0.0; d.len() + q.len()];
        for (i, c) in d.iter().enumerate() {
            for (j, qj) in q.iter().enumerate() {
                next[i + j] += c * qj;
            }
        }
        poly = next;
    }
    out
}

/// Complete elliptic integrals K(k) and E(k) of modulus `k` (0 ≤ k < 1) by the
/// arithmetic-geometric mean.
pub fn elliptic_ke(k: f64) -> (f64, f64) {
    elliptic_ke_with_complement(k, (1.0 - k * k).sqrt())
}

/// K(k) and E(k) given both the modulus and its complement k' = sqrt(1 − k²), which
/// callers near k = 1 can compute without cancellation.
pub fn elliptic_ke_with_complement(k: f64, k_complement: f64) -> (f64, f64) {
    let mut a = 1.0f64;
    let mut b = k_complement;
    let mut c = k;
    let mut sum = 0.5 * c * c; // 2^{n-1} c_n^2 at n = 0
    let mut pow = 1.0;
    for _ in 0..64 {
        if (a - b).abs() <= 4.0 * f64::EPSILON * a {
            break;
        }
        let an = 0.5 * (a + b);
        let bn = (a * b).sqrt();
        c = 0.5 * (a - b);
        a = an;
        b = bn;
        sum += pow * c * c;
        pow *= 2.0;
    }
    let kk = std::f64::consts::PI / (2.0 * a);
    (kk, kk * (1.0 - sum))
}

#[cfg(test)]
mod tests {
    #[test]
    fn elliptic_known_values() {
        // K(0) = E(0) = pi/2; K(1/sqrt2) = 1.854074677301372, E(1/sqrt2) = 1.350643881047675
        let (k0, e0) = super::elliptic_ke(0.0);
        assert!((k0 - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
        assert!((e0 - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
        let (k, e) = super::elliptic_ke(std::f64::consts::FRAC_1_SQRT_2);
        assert!((k - 1.854074677301372).abs() < 1e-13);
        assert!((e - 1.350643881047675).abs() < 1e-13);
    }
}
