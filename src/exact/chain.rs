//! The 1D Ising ring of N sites, `E = −J Σ s_i s_{i+1}`, `K = βJ` (either sign).

/// Energy per site in units of J at zero field: u = −(t + t^{N−1}) / (1 + t^N), t = tanh K.
pub fn energy_per_site(k: f64, n: u32) -> f64 {
    let t = k.tanh();
    let n = n as i32;
    -(t + t.powi(n - 1)) / (1.0 + t.powi(n))
}

/// Specific heat per site at zero field: c = −K² du/dK with u from [`energy_per_site`].
pub fn specific_heat_per_site(k: f64, n: u32) -> f64 {
    let t = k.tanh();
    let ni = n as i32;
    let nf = n as f64;
    let num = t + t.powi(ni - 1);
    let den = 1.0 + t.powi(ni);
    let dnum = 1.0 + (nf - 1.0) * t.powi(ni - 2);
    let dden = nf * t.powi(ni - 1);
    let du_dt = -(dnum * den - num * dden) / (den * den);
    -k * k * du_dt * (1.0 - t * t)
}

/// ln Z of the ring with reduced coupling K and reduced field h = βh:
/// Z = λ₊^N + λ₋^N, λ± = e^K cosh h ± sqrt(e^{2K} sinh² h + e^{−2K}).
pub fn ln_z(k: f64, h: f64, n: u32) -> f64 {
    let a = k.exp() * h.cosh();
    let d = ((2.0 * k).exp() * h.sinh().powi(2) + (-2.0 * k).exp()).sqrt();
    let (lp, lm) = (a + d, a - d);
    let n = n as i32;
    n as f64 * lp.ln() + (1.0 + (lm / lp).powi(n)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_is_minus_derivative_of_ln_z() {
        for (k, n) in [(0.5, 6u32), (-0.8, 8), (1.2, 10)] {
            let e = 1e-5;
            let d = (ln_z(k + e, 0.0, n) - ln_z(k - e, 0.0, n)) / (2.0 * e);
            assert!((-d / n as f64 - energy_per_site(k, n)).abs() < 1e-8);
            let d2 = (ln_z(k + e, 0.0, n) - 2.0 * ln_z(k, 0.0, n) + ln_z(k - e, 0.0, n)) / (e * e);
            assert!((k * k * d2 / n as f64 - specific_heat_per_site(k, n)).abs() < 1e-4);
        }
    }
}
