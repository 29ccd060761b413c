//! Kaufman's exact partition function of the m×n square torus at zero field, with its
//! first two derivatives in K (physics.md §5b).
//!
//! $$Z = \tfrac12 (2\sinh 2K)^{mn/2} (Z_1 + Z_2 + Z_3 + Z_4),$$
//! `Z₁ = Π_r 2cosh(m γ_{2r+1}/2)`, `Z₂ = Π_r 2sinh(m γ_{2r+1}/2)`, `Z₃ = Π_r 2cosh(m γ_{2r}/2)`,
//! `Z₄ = Π_r 2sinh(m γ_{2r}/2)`, `r = 0..n−1`, with `cosh γ_l = cosh2K coth2K − cos(πl/n)` for
//! `l ≥ 1` and `γ₀ = 2K + ln tanh K` (sign kept: Z₄ < 0 above T_c). Each term is carried
//! as a log-magnitude with its derivatives, and Z₄ = 2 sinh(x₀) · P is differentiated as a
//! product so nothing blows up at K_c.

/// ln Z and its K-derivatives.
#[derive(Clone, Copy, Debug)]
pub struct TorusThermo {
    /// ln Z.
    pub ln_z: f64,
    /// ∂ ln Z / ∂K.
    pub d_ln_z: f64,
    /// ∂² ln Z / ∂K².
    pub d2_ln_z: f64,
    /// Sites m n.
    pub sites: f64,
}

impl TorusThermo {
    /// Energy per site in units of J: u = −(1/N) ∂ ln Z/∂K.
    pub fn energy_per_site(&self) -> f64 {
        -self.d_ln_z / self.sites
    }
    /// Specific heat per site c = K²/N ∂² ln Z/∂K² (needs K).
    pub fn specific_heat_per_site(&self, k: f64) -> f64 {
        k * k * self.d2_ln_z / self.sites
    }
    /// ln Z per site.
    pub fn ln_z_per_site(&self) -> f64 {
        self.ln_z / self.sites
    }
}

/// ln(2 cosh x) for any x.
fn ln2cosh(x: f64) -> f64 {
    let a = x.abs();
    a + (-2.0 * a).exp().ln_1p()
}

/// ln(2 sinh x) for x > 0.
fn ln2sinh(x: f64) -> f64 {
    x + (-(-2.0 * x).exp()).ln_1p()
}

/// Sum of log-factors with derivatives: (Σ ln f, Σ (ln f)', Σ (ln f)'').
#[derive(Clone, Copy, Default)]
struct LogProduct {
    l: f64,
    d: f64,
    d2: f64,
}

impl LogProduct {
    fn add_cosh(&mut self, x: f64, dx: f64, d2x: f64) {
        let t = x.tanh();
        let sech2 = 1.0 - t * t;
        self.l += ln2cosh(x);
        self.d += dx * t;
        self.d2 += dx * dx * sech2 + d2x * t;
    }
    fn add_sinh(&mut self, x: f64, dx: f64, d2x: f64) {
        let coth = 1.0 / x.tanh();
        let csch2 = coth * coth - 1.0;
        self.l += ln2sinh(x);
        self.d += dx * coth;
        self.d2 += -dx * dx * csch2 + d2x * coth;
    }
    /// (value, first, second derivative) scaled by e^{-s}.
    fn scaled(&self, s: f64) -> (f64, f64, f64) {
        let v = (self.l - s).exp();
        (v, v * self.d, v * (self.d * self.d + self.d2))
    }
}

/// Exact ln Z, ∂ln Z/∂K and ∂²ln Z/∂K² of the m×n torus at coupling K > 0, zero field.
///
/// # Panics
/// If `k <= 0` or `m`, `n` are zero (library callers validate first).
pub fn torus(k: f64, m: u32, n: u32) -> TorusThermo {
    assert!(k > 0.0 && m > 0 && n > 0);
    let mf = m as f64;
    let sh = (2.0 * k).sinh();
    let ch = (2.0 * k).cosh();
    let c0 = ch * ch / sh;
    let dc = 2.0 * ch * (sh * sh - 1.0) / (sh * sh);
    let d2c = 4.0 * sh - 4.0 / sh + 8.0 * ch * ch / (sh * sh * sh);
    // x_l = m gamma_l / 2 with derivatives
    let x_of = |l: u32| -> (f64, f64, f64) {
        if l == 0 {
            let g = 2.0 * k + k.tanh().ln();
            let dg = 2.0 + 2.0 / sh;
            let d2g = -4.0 * ch / (sh * sh);
            (0.5 * mf * g, 0.5 * mf * dg, 0.5 * mf * d2g)
        } else {
            let cl = c0 - (std::f64::consts::PI * l as f64 / n as f64).cos();
            let g = cl.acosh();
            let sg = g.sinh();
            let dg = dc / sg;
            let d2g = (d2c - cl * dg * dg) / sg;
            (0.5 * mf * g, 0.5 * mf * dg, 0.5 * mf * d2g)
        }
    };
    let mut p1 = LogProduct::default();
    let mut p2 = LogProduct::default();
    let mut p3 = LogProduct::default();
    let mut p4 = LogProduct::default(); // product over even l >= 2 of 2 sinh
    for r in 0..n {
        let (x, dx, d2x) = x_of(2 * r + 1);
        p1.add_cosh(x, dx, d2x);
        p2.add_sinh(x, dx, d2x);
        let (x, dx, d2x) = x_of(2 * r);
        p3.add_cosh(x, dx, d2x);
        if r > 0 {
            p4.add_sinh(x, dx, d2x);
        }
    }
    let (x0, dx0, d2x0) = x_of(0);
    // Z4 = g(x0) P, g = 2 sinh x0 (any sign)
    let lc0 = ln2cosh(x0);
    let s = p1.l.max(p2.l).max(p3.l).max(p4.l + lc0);
    let (z1, dz1, d2z1) = p1.scaled(s);
    let (z2, dz2, d2z2) = p2.scaled(s);
    let (z3, dz3, d2z3) = p3.scaled(s);
    let (pv, dp, d2p) = p4.scaled(s - lc0); // P e^{lc0 - s}
    let e = (-lc0).exp(); // 1 / (2 cosh x0)
    let g = 2.0 * x0.sinh() * e;
    let dg = 2.0 * x0.cosh() * dx0 * e;
    let d2g = (2.0 * x0.sinh() * dx0 * dx0 + 2.0 * x0.cosh() * d2x0) * e;
    let z4 = g * pv;
    let dz4 = dg * pv + g * dp;
    let d2z4 = d2g * pv + 2.0 * dg * dp + g * d2p;
    let zs = z1 + z2 + z3 + z4;
    let dzs = dz1 + dz2 + dz3 + dz4;
    let d2zs = d2z1 + d2z2 + d2z3 + d2z4;
    let sites = mf * n as f64;
    let ratio = dzs / zs;
    TorusThermo {
        ln_z: -std::f64::consts::LN_2 + 0.5 * sites * (2.0 * sh).ln() + s + zs.ln(),
        d_ln_z: sites * ch / sh + ratio,
        d2_ln_z: -2.0 * sites / (sh * sh) + d2zs / zs - ratio * ratio,
        sites,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// physics.md §5b table, L = 4.
    #[test]
    fn table_values_l4() {
        let cases = [
            (0.3, -0.8440540736, 0.4409926536),
            (0.4, -1.3791164823, 0.8125152294),
            (0.4406868, -1.5656238138, 0.7832668127),
            (0.5, -1.7553802888, 0.6055326572),
        ];
        for (k, u, c) in cases {
            let t = torus(k, 4, 4);
            assert!(
                (t.energy_per_site() - u).abs() < 1e-9,
                "u at K={k}: {}",
                t.energy_per_site()
            );
            assert!((t.specific_heat_per_site(k) - c).abs() < 1e-9, "c at K={k}");
        }
    }

    #[test]
    fn symmetric_in_m_n_and_exact_at_kc() {
        let kc = crate::exact::onsager::CRITICAL_COUPLING;
        for k in [0.2, kc, 0.7] {
            let a = torus(k, 3, 5);
            let b = torus(k, 5, 3);
            assert!((a.ln_z - b.ln_z).abs() < 1e-12);
            assert!((a.d_ln_z - b.d_ln_z).abs() < 1e-10);
            assert!((a.d2_ln_z - b.d2_ln_z).abs() < 1e-9);
        }
        // large L approaches the infinite lattice
        let t = torus(0.3, 256, 256);
        assert!((t.energy_per_site() - (-0.7044990708)).abs() < 1e-9);
        assert!((t.ln_z_per_site() - 0.790559070951).abs() < 1e-9);
    }
}
