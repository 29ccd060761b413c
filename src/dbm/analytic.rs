//! The exact renormalization recursion of a three-layer DBM (physics.md §2–3).
//!
//! With both hidden layers Gaussian, integrating out s then h gives exactly a pairwise
//! binary model for v:
//!
//! * `J_h = M Σ_s Mᵀ`, `A = P_h − J_h`, `b₀ = P_h μ + M ν`, `c₁ = ½ μᵀP_hμ − ½ ln det(2πΣ_s)`;
//! * `J_v = W A⁻¹ Wᵀ`, `f_v = a + W A⁻¹ b₀`,
//!   `C = c₁ − ½ b₀ᵀA⁻¹b₀ + ½ ln det A − (n_h/2) ln 2π`;
//! * `H(v) = −f_vᵀv − ½ vᵀJ_v v + C`, `ln p(v) = −H(v) − ln Z`.
//!
//! A ≻ 0 ⟺ ‖diag(σ) M diag(τ)‖₂ < 1 (the existence condition); otherwise Z = ∞.
//! A bernoulli deep layer has no closed-form visible couplings; its prior's cumulants
//! give the induced multi-body h couplings `J⁽ⁿ⁾ = Σ_k κ_n⁽ᵏ⁾ M_{·k}^{⊗n}` (§3).

use super::model::{Dbm, Layer};
use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector};
use serde::Serialize;

/// Row-major copy of a matrix as rows.
pub fn rows(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|i| m.row(i).iter().copied().collect())
        .collect()
}

/// W and M as nalgebra matrices.
pub fn weights(model: &Dbm) -> (DMatrix<f64>, DMatrix<f64>) {
    let (nv, nh, ns) = model.sizes();
    let w = DMatrix::from_fn(nv, nh, |i, j| model.visible_hidden[i][j]);
    let m = DMatrix::from_fn(nh, ns, |j, k| model.hidden_deep[j][k]);
    (w, m)
}

/// The existence check.
#[derive(Clone, Debug, Serialize)]
pub struct Existence {
    /// ‖diag(σ) M diag(τ)‖₂ < 1.
    pub ok: bool,
    /// ‖diag(σ) M diag(τ)‖₂.
    pub spectral_norm: f64,
    /// The hidden and deep units with the largest weight in the top singular vectors.
    pub dominant_hidden: usize,
    /// See `dominant_hidden`.
    pub dominant_deep: usize,
}

/// ‖diag(σ) M diag(τ)‖₂ for Gaussian hidden and deep layers, None otherwise.
pub fn existence(model: &Dbm) -> Option<Existence> {
    let (Layer::Gaussian { std: sigma, .. }, Layer::Gaussian { std: tau, .. }) =
        (&model.hidden, &model.deep)
    else {
        return None;
    };
    let (_, m) = weights(model);
    let b = DMatrix::from_fn(m.nrows(), m.ncols(), |j, k| sigma[j] * m[(j, k)] * tau[k]);
    let svd = b.clone().svd(true, true);
    let (top, &norm) = svd
        .singular_values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    let argmax = |v: Vec<f64>| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map_or(0, |x| x.0)
    };
    let u = svd
        .u
        .as_ref()
        .map(|u| u.column(top).iter().copied().collect())
        .unwrap_or_default();
    let vt = svd
        .v_t
        .as_ref()
        .map(|v| v.row(top).iter().copied().collect())
        .unwrap_or_default();
    Some(Existence {
        ok: norm < 1.0,
        spectral_norm: norm,
        dominant_hidden: argmax(u),
        dominant_deep: argmax(vt),
    })
}

/// Refuses an unnormalizable model with a message naming the norm and the layers.
///
/// # Errors
/// [`Error::InvalidParameter`] (`--model`) when ‖diag(σ) M diag(τ)‖₂ ≥ 1.
pub fn require_normalizable(model: &Dbm) -> Result<()> {
    match existence(model) {
        Some(e) if !e.ok => Err(Error::invalid(
            "model",
            format!(
                "the model is not normalizable: ||diag(hidden std) * hidden_deep * diag(deep std)||_2 = {:.6} >= 1, so the Gaussian integral over (h, s) diverges (Z = infinity); make the hidden_deep weights or the hidden/deep std smaller (largest contribution: hidden unit {}, deep unit {})",
                e.spectral_norm, e.dominant_hidden, e.dominant_deep
            ),
        )),
        _ => Ok(()),
    }
}

/// Everything the recursion yields (None where the model has no closed form).
#[derive(Clone, Debug)]
pub struct Recursion {
    /// J_h = M Σ_s Mᵀ (Gaussian deep layer).
    pub hidden_coupling: Option<DMatrix<f64>>,
    /// A = P_h − J_h (both Gaussian).
    pub hidden_precision: Option<DMatrix<f64>>,
    /// b₀ = P_h μ + M ν (bernoulli h: d + M ν), the field of h once s is integrated out.
    pub hidden_field: Option<DVector<f64>>,
    /// A⁻¹ = Cov of h under its prior q_h (κ₂).
    pub hidden_covariance: Option<DMatrix<f64>>,
    /// A⁻¹ b₀ = mean of h under q_h (κ₁).
    pub hidden_mean: Option<DVector<f64>>,
    /// J_v = W A⁻¹ Wᵀ (diagonal included).
    pub visible_coupling: Option<DMatrix<f64>>,
    /// f_v = a + W A⁻¹ b₀ (before the binary reduction of the diagonal).
    pub visible_field: Option<DVector<f64>>,
    /// C.
    pub constant: Option<f64>,
}

fn gaussian(layer: &Layer) -> Option<(&[f64], &[f64])> {
    match layer {
        Layer::Gaussian { mean, std } => Some((mean, std)),
        Layer::Bernoulli { .. } => None,
    }
}

/// Integrates out s, then h (physics.md §2).
///
/// # Errors
/// [`Error::InvalidParameter`] for an unnormalizable model.
pub fn recursion(model: &Dbm) -> Result<Recursion> {
    require_normalizable(model)?;
    let (w, m) = weights(model);
    let mut r = Recursion {
        hidden_coupling: None,
        hidden_precision: None,
        hidden_field: None,
        hidden_covariance: None,
        hidden_mean: None,
        visible_coupling: None,
        visible_field: None,
        constant: None,
    };
    let Some((nu, tau)) = gaussian(&model.deep) else {
        return Ok(r);
    };
    let sigma_s = DMatrix::from_diagonal(&DVector::from_iterator(
        tau.len(),
        tau.iter().map(|t| t * t),
    ));
    let jh = &m * &sigma_s * m.transpose();
    r.hidden_coupling = Some(jh.clone());
    let Some((mu, sigma)) = gaussian(&model.hidden) else {
        // bernoulli h: energy −(d + Mν)ᵀh − ½hᵀJ_h h after integrating s
        if let Layer::Bernoulli { bias } = &model.hidden {
            r.hidden_field =
                Some(DVector::from_column_slice(bias) + &m * DVector::from_column_slice(nu));
        }
        return Ok(r);
    };
    let nh = mu.len();
    let p_h = DVector::from_iterator(nh, sigma.iter().map(|s| 1.0 / (s * s)));
    let a = DMatrix::from_diagonal(&p_h) - &jh;
    let mu_v = DVector::from_column_slice(mu);
    let nu_v = DVector::from_column_slice(nu);
    let b0 = p_h.component_mul(&mu_v) + &m * &nu_v;
    let chol = a.clone().cholesky().ok_or_else(|| {
        Error::invalid(
            "model",
            "the hidden precision A = P_h - M Sigma_s M^T is not positive definite",
        )
    })?;
    let a_inv = chol.inverse();
    let ln_det_a = 2.0 * chol.l().diagonal().iter().map(|x| x.ln()).sum::<f64>();
    let two_pi = 2.0 * std::f64::consts::PI;
    let c1 = 0.5 * mu_v.dot(&p_h.component_mul(&mu_v))
        - 0.5 * tau.iter().map(|t| (two_pi * t * t).ln()).sum::<f64>();
    let mean_h = &a_inv * &b0;
    let a_vis = DVector::from_column_slice(&model.visible_bias);
    r.visible_coupling = Some(sandwich(&w, &a_inv)?);
    r.visible_field = Some(a_vis + &w * &mean_h);
    r.constant = Some(c1 - 0.5 * b0.dot(&mean_h) + 0.5 * ln_det_a - 0.5 * nh as f64 * two_pi.ln());
    r.hidden_precision = Some(a);
    r.hidden_field = Some(b0);
    r.hidden_mean = Some(mean_h);
    r.hidden_covariance = Some(a_inv);
    Ok(r)
}

/// W A⁻¹ Wᵀ, computed in blocks of rows of W with a stop check after each block (one
/// block of 64 rows takes well under 0.1 s at the largest accepted sizes).
///
/// # Errors
/// [`Error::Interrupted`] once a stop was requested.
fn sandwich(w: &DMatrix<f64>, a_inv: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    const BLOCK: usize = 64;
    let nv = w.nrows();
    let wt = w.transpose();
    let mut j = DMatrix::zeros(nv, nv);
    let task = crate::interrupt::Task::new("rows of the visible coupling", nv as u64);
    for start in (0..nv).step_by(BLOCK) {
        let rows = BLOCK.min(nv - start);
        let block = w.rows(start, rows) * a_inv * &wt;
        j.rows_mut(start, rows).copy_from(&block);
        task.advance(rows as u64)?;
    }
    Ok(j)
}

/// ln Z of the DBM by enumeration after integrating the Gaussian layers
/// ([`super::enumeration`]; None if a component is too large).
pub fn log_partition(model: &Dbm, r: &Recursion) -> Option<f64> {
    super::enumeration::log_partition(model, r)
}

/// −H(v) = f_v·v + ½ vᵀJ_v v − C, the log of ∫dh ds e^{−E(v,h,s)} by the recursion.
pub fn minus_visible_energy(r: &Recursion, v: &[f64]) -> Option<f64> {
    let (j, f, c) = (
        r.visible_coupling.as_ref()?,
        r.visible_field.as_ref()?,
        r.constant?,
    );
    let v = DVector::from_column_slice(v);
    Some(f.dot(&v) + 0.5 * v.dot(&(j * &v)) - c)
}

/// The independent one-shot form (physics.md §2):
/// ln∫dh ds e^{−E} = aᵀv − ½μᵀP_hμ − ½νᵀP_sν + ½rᵀQ⁻¹r + ½(n_h+n_s) ln 2π − ½ ln det Q.
pub fn minus_visible_energy_joint(model: &Dbm, v: &[f64]) -> Option<f64> {
    let (mu, sigma) = gaussian(&model.hidden)?;
    let (nu, tau) = gaussian(&model.deep)?;
    let (w, m) = weights(model);
    let (nh, ns) = (mu.len(), nu.len());
    let n = nh + ns;
    let mut q = DMatrix::zeros(n, n);
    for j in 0..nh {
        q[(j, j)] = 1.0 / (sigma[j] * sigma[j]);
    }
    for k in 0..ns {
        q[(nh + k, nh + k)] = 1.0 / (tau[k] * tau[k]);
    }
    for j in 0..nh {
        for k in 0..ns {
            q[(j, nh + k)] = -m[(j, k)];
            q[(nh + k, j)] = -m[(j, k)];
        }
    }
    let chol = q.cholesky()?;
    let wtv = w.transpose() * DVector::from_column_slice(v);
    let rvec = DVector::from_fn(n, |i, _| {
        if i < nh {
            mu[i] / (sigma[i] * sigma[i]) + wtv[i]
        } else {
            nu[i - nh] / (tau[i - nh] * tau[i - nh])
        }
    });
    let qinv_r = chol.solve(&rvec);
    let ln_det_q = 2.0 * chol.l().diagonal().iter().map(|x| x.ln()).sum::<f64>();
    let a_dot_v: f64 = model.visible_bias.iter().zip(v).map(|(a, x)| a * x).sum();
    let quad_mu: f64 = mu.iter().zip(sigma).map(|(m, s)| m * m / (s * s)).sum();
    let quad_nu: f64 = nu.iter().zip(tau).map(|(m, s)| m * m / (s * s)).sum();
    Some(
        a_dot_v - 0.5 * quad_mu - 0.5 * quad_nu
            + 0.5 * rvec.dot(&qinv_r)
            + 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln()
            - 0.5 * ln_det_q,
    )
}

// ---- Bernoulli deep layer: cumulants and multi-body couplings (physics.md §3) ----

/// κ₁ … κ_order of a Bernoulli unit with P(s = 1) = p: κ_{n+1} = p(1−p) dκ_n/dp, κ₁ = p.
pub fn bernoulli_cumulants(p: f64, order: usize) -> Vec<f64> {
    crate::exact::derivative_chain(&[0.0, 1.0], &[0.0, 1.0, -1.0], p, order)
}

/// ln(1 + eˣ), stable.
pub fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// ς(x) = 1/(1 + e^{−x}).
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The deep-prior cumulants of every Bernoulli deep unit, κ₁ … κ_order (rows: deep units).
pub fn deep_cumulants(model: &Dbm, order: usize) -> Option<Vec<Vec<f64>>> {
    match &model.deep {
        Layer::Bernoulli { bias } => Some(
            bias.iter()
                .map(|&d| bernoulli_cumulants(sigmoid(d), order))
                .collect(),
        ),
        Layer::Gaussian { .. } => None,
    }
}

/// Induced n-body coupling of h: `J⁽ⁿ⁾ = Σ_k κ_n⁽ᵏ⁾ M_{·k}^{⊗n}`.
#[derive(Clone, Debug, Serialize)]
pub struct Multibody {
    /// n.
    pub order: usize,
    /// κ_n of each deep unit (the tensor is Σ_k kappa[k] · outer^n(M[:, k])).
    pub deep_cumulants: Vec<f64>,
    /// The full symmetric tensor, flattened row-major over (j₁, …, j_n), when it has at
    /// most [`MAX_TENSOR_ENTRIES`] entries; null otherwise.
    pub tensor: Option<Vec<f64>>,
}

/// Largest multi-body tensor written out in full.
pub const MAX_TENSOR_ENTRIES: usize = 4096;

/// The multi-body couplings up to `order` (Bernoulli deep layer).
pub fn multibody_couplings(model: &Dbm, order: usize) -> Option<Vec<Multibody>> {
    let kappas = deep_cumulants(model, order)?;
    let (_, m) = weights(model);
    let nh = m.nrows();
    Some(
        (1..=order)
            .map(|n| {
                let kn: Vec<f64> = kappas.iter().map(|k| k[n - 1]).collect();
                let entries = nh
                    .checked_pow(n as u32)
                    .filter(|&e| e <= MAX_TENSOR_ENTRIES);
                let tensor = entries.map(|e| {
                    (0..e)
                        .map(|flat| {
                            let idx: Vec<usize> = (0..n)
                                .map(|a| flat / nh.pow((n - 1 - a) as u32) % nh)
                                .collect();
                            (0..m.ncols())
                                .map(|k| kn[k] * idx.iter().map(|&j| m[(j, k)]).product::<f64>())
                                .sum()
                        })
                        .collect()
                });
                Multibody {
                    order: n,
                    deep_cumulants: kn,
                    tensor,
                }
            })
            .collect(),
    )
}

/// Error of the cumulant series of the s-integral truncated at each order.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesTruncation {
    /// Truncation order N (terms n ≤ N kept).
    pub order: usize,
    /// max over the h draws of |Σ_k softplus(d_k + t_k) − softplus(d_k) − Σ_{n≤N} κ_n t_kⁿ/n!|.
    pub max: f64,
    /// Root mean square of the same.
    pub rms: f64,
}

/// Truncation error of the cumulant series of K_s(t), t = Mᵀh, for `draws` h from the
/// hidden layer's own prior (N(μ, σ²), or Bernoulli(ς(d)) for bernoulli units),
/// deterministic in `seed` (Bernoulli deep layer only).
pub fn truncation_error(
    model: &Dbm,
    order: usize,
    draws: usize,
    seed: u64,
) -> Option<Vec<SeriesTruncation>> {
    let Layer::Bernoulli { bias } = &model.deep else {
        return None;
    };
    let kappas = deep_cumulants(model, order)?;
    let (_, m) = weights(model);
    let nh = m.nrows();
    let mut normals = super::model::Normals::new(seed, 7);
    let mut errs = vec![Vec::with_capacity(draws); order];
    for _ in 0..draws {
        let h: Vec<f64> = match &model.hidden {
            Layer::Gaussian { mean, std } => (0..nh)
                .map(|j| mean[j] + std[j] * normals.next().unwrap_or(0.0))
                .collect(),
            Layer::Bernoulli { bias: dh } => (0..nh)
                .map(|j| (normals.uniform() < sigmoid(dh[j])) as u8 as f64)
                .collect(),
        };
        let t = m.transpose() * DVector::from_vec(h);
        let exact: f64 = bias
            .iter()
            .zip(t.iter())
            .map(|(&d, &tk)| softplus(d + tk) - softplus(d))
            .sum();
        let mut partial = 0.0;
        for (n, e) in errs.iter_mut().enumerate() {
            let mut fact = 1.0;
            for i in 1..=n + 1 {
                fact *= i as f64;
            }
            partial += kappas
                .iter()
                .zip(t.iter())
                .map(|(k, &tk)| k[n] * tk.powi(n as i32 + 1) / fact)
                .sum::<f64>();
            e.push((exact - partial).abs());
        }
    }
    Some(
        errs.into_iter()
            .enumerate()
            .map(|(n, e)| SeriesTruncation {
                order: n + 1,
                max: e.iter().copied().fold(0.0, f64::max),
                rms: (e.iter().map(|x| x * x).sum::<f64>() / e.len().max(1) as f64).sqrt(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbm::model::Dbm;

    fn example() -> Dbm {
        Dbm::from_toml(crate::dbm::model::EXAMPLE).unwrap()
    }

    #[test]
    fn recursion_matches_joint_gaussian_form() {
        let m = example();
        let r = recursion(&m).unwrap();
        for s in 0..16u32 {
            let v: Vec<f64> = (0..4).map(|i| ((s >> i) & 1) as f64).collect();
            let a = minus_visible_energy(&r, &v).unwrap();
            let b = minus_visible_energy_joint(&m, &v).unwrap();
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }
    }

    #[test]
    fn bernoulli_cumulants_at_d_03() {
        // physics.md §3
        let k = bernoulli_cumulants(sigmoid(0.3), 4);
        let want = [
            0.574442516811659,
            0.244458311690746,
            -0.036396183955576,
            -0.114100885237393,
        ];
        for (a, b) in k.iter().zip(want) {
            assert!((a - b).abs() < 1e-14, "{a} {b}");
        }
    }

    #[test]
    fn existence_threshold() {
        let mut m = example();
        let norm = existence(&m).unwrap().spectral_norm;
        for (target, ok) in [(1.05, false), (0.95, true)] {
            let scale = target / norm;
            m.hidden_deep = example()
                .hidden_deep
                .iter()
                .map(|r| r.iter().map(|x| x * scale).collect())
                .collect();
            let e = existence(&m).unwrap();
            assert!((e.spectral_norm - target).abs() < 1e-12);
            assert_eq!(e.ok, ok);
            assert_eq!(recursion(&m).is_ok(), ok);
        }
    }
}
