//! The infinite triangular-lattice Ising model at zero field (Houtappel 1950, Wannier 1950):
//!
//! $$-\beta f = \ln 2 + \frac{1}{8\pi^2}\int_0^{2\pi}\!\!\int_0^{2\pi} \ln\big[\cosh^3 2K + \sinh^3 2K
//!   - \sinh 2K\,(\cos\omega_1 + \cos\omega_2 + \cos(\omega_1+\omega_2))\big]\, d\omega_1 d\omega_2.$$
//!
//! The argument vanishes at its minimum exactly at K_c = ¼ ln 3. The integrand is smooth and
//! periodic away from K_c, so the midpoint rule converges exponentially.

/// K_c = ¼ ln 3.
pub const CRITICAL_COUPLING: f64 = 0.274_653_072_167_027_1;

const GRID: usize = 512;

fn integrate(k: f64, with_derivative: bool) -> (f64, f64) {
    let s = (2.0 * k).sinh();
    let c = (2.0 * k).cosh();
    let a = c * c * c + s * s * s;
    let da = 6.0 * c * c * s + 6.0 * s * s * c;
    let ds = 2.0 * c;
    let h = 2.0 * std::f64::consts::PI / GRID as f64;
    let cosines: Vec<f64> = (0..GRID).map(|i| ((i as f64 + 0.5) * h).cos()).collect();
    let (mut f, mut df) = (0.0, 0.0);
    for i in 0..GRID {
        for j in 0..GRID {
            // cos(w1 + w2) with both at midpoints: index i + j + 1 of the midpoint grid offset by h/2
            let w = ((i + j + 1) as f64) * h;
            let g = cosines[i] + cosines[j] + w.cos();
            let arg = a - s * g;
            f += arg.ln();
            if with_derivative {
                df += (da - ds * g) / arg;
            }
        }
    }
    let norm = 1.0 / (GRID * GRID) as f64 / 2.0;
    (f * norm, df * norm)
}

/// ln Z per site, −βf.
pub fn ln_z_per_site(k: f64) -> f64 {
    std::f64::consts::LN_2 + integrate(k, false).0
}

/// Energy per site in units of J, u = −∂(−βf)/∂K.
pub fn energy_per_site(k: f64) -> f64 {
    -integrate(k, true).1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// High-temperature series: −βf = ln 2 + 3 ln cosh K + 2t³ + 3t⁴ + O(t⁵), t = tanh K
    /// (2N triangles and 3N rhombi per N sites).
    #[test]
    fn high_temperature_series() {
        for k in [0.01f64, 0.02, 0.04] {
            let t = k.tanh();
            let series =
                std::f64::consts::LN_2 + 3.0 * k.cosh().ln() + 2.0 * t.powi(3) + 3.0 * t.powi(4);
            assert!(
                (ln_z_per_site(k) - series).abs() < 30.0 * t.powi(5),
                "K={k}"
            );
        }
    }

    #[test]
    fn energy_matches_finite_difference_and_is_critical_at_kc() {
        let k = 0.5;
        let e = 1e-5;
        let d = (ln_z_per_site(k + e) - ln_z_per_site(k - e)) / (2.0 * e);
        assert!((energy_per_site(k) + d).abs() < 1e-7);
        // the logarithm's argument touches zero at K_c
        let s = (2.0 * CRITICAL_COUPLING).sinh();
        let c = (2.0 * CRITICAL_COUPLING).cosh();
        assert!((c.powi(3) + s.powi(3) - 3.0 * s).abs() < 1e-12);
    }
}
