//! Exact moments of every small three-layer DBM by enumeration (physics.md §2–3).
//!
//! Gaussian layers are integrated out analytically; what is left is always a *pairwise*
//! model over two-valued units, weight exp(fᵀx + ½xᵀJx) (diagonal included), which is
//! enumerated per connected component of J:
//!
//! | hidden h | deep s | integrated | enumerated units x | f | J |
//! |---|---|---|---|---|---|
//! | gaussian | gaussian | s, then h | v | f_v | J_v (the recursion) |
//! | bernoulli | gaussian | s | (v, h) | (a, d + Mν) | [[0, W], [Wᵀ, MΣ_sMᵀ]] |
//! | gaussian | bernoulli | h | (v, s) | (a + Wμ, e + Mᵀμ) | [[WΣ_hWᵀ, WΣ_hM], [MᵀΣ_hWᵀ, MᵀΣ_hM]] |
//! | bernoulli | bernoulli | nothing | (v, h, s) | (a, d, e) | [[0, W, 0], [Wᵀ, 0, M], [0, Mᵀ, 0]] |
//!
//! (d, e: biases of a bernoulli hidden or deep layer.) Integrating a Gaussian layer adds
//! ½ ln det(2πΣ) to ln Z. The *outer* units (the visible ones, or h for the hidden prior)
//! are walked in Gray-code order, and for each outer configuration the inner units are
//! summed out in a nested Gray-code walk, which gives the exact log-marginal of the outer
//! units, ln Σ_inner e^{−E}. Its Möbius (0/1 units) or Walsh (±1 units) transform gives
//! every multi-body coupling K_S of the outer units, −H(v) = Σ_S K_S Π_{i∈S} v_i + const.
//!
//! Limits: a component has at most [`MAX_COMPONENT`] units and, where pair moments are
//! wanted, at most [`MAX_OUTER_FOR_PAIRS`] outer units.

use super::analytic::{self, Recursion, bernoulli_cumulants};
use super::model::{Dbm, Layer, VisibleUnits};
use crate::error::Error;
use nalgebra::{DMatrix, DVector};
use serde::Serialize;

/// Largest connected component enumerated (units of all enumerated layers together).
pub const MAX_COMPONENT: usize = 24;
/// Most outer units of a component when pair moments of the outer units are computed.
pub const MAX_OUTER_FOR_PAIRS: usize = 20;

/// The values a visible unit takes.
pub fn unit_values(units: VisibleUnits) -> [f64; 2] {
    match units {
        VisibleUnits::Bernoulli => [0.0, 1.0],
        VisibleUnits::Spin => [-1.0, 1.0],
    }
}

/// A pairwise model over two-valued units: weight e^{constant} · exp(fᵀx + ½xᵀJx).
#[derive(Clone, Debug)]
pub struct Pairwise {
    /// The two values of each unit (the second is the "on" value of the transforms).
    pub values: Vec<[f64; 2]>,
    /// f.
    pub field: DVector<f64>,
    /// J (symmetric; the diagonal contributes ½J_ii x_i²).
    pub coupling: DMatrix<f64>,
    /// Added to ln Z (the Gaussian layers integrated out, or −C of the recursion).
    pub constant: f64,
    /// Units 0..outer are the outer units.
    pub outer: usize,
}

/// Connected components of the graph with an edge where `J[i][j] != 0` (i ≠ j).
pub fn components(j: &DMatrix<f64>) -> Vec<Vec<usize>> {
    let n = j.nrows();
    let mut seen = vec![false; n];
    let mut out = Vec::new();
    for start in 0..n {
        if seen[start] {
            continue;
        }
        let mut comp = vec![start];
        seen[start] = true;
        let mut k = 0;
        while k < comp.len() {
            let i = comp[k];
            for t in 0..n {
                if !seen[t] && t != i && j[(i, t)] != 0.0 {
                    seen[t] = true;
                    comp.push(t);
                }
            }
            k += 1;
        }
        comp.sort();
        out.push(comp);
    }
    out
}

/// Visits every configuration of the units `comp` in Gray-code order, calling
/// `visit(x_comp, y)` with y = Σ f_a x_a + ½ Σ_{a,b} J_ab x_a x_b over the component.
fn gray_walk(
    j: &DMatrix<f64>,
    f: &DVector<f64>,
    values: &[[f64; 2]],
    comp: &[usize],
    mut visit: impl FnMut(&[f64], f64),
) {
    let n = comp.len();
    let mut x: Vec<f64> = comp.iter().map(|&u| values[u][0]).collect();
    // field[a] = Σ_{b ≠ a} J_ab x_b within the component
    let mut field: Vec<f64> = (0..n)
        .map(|a| {
            (0..n)
                .filter(|&b| b != a)
                .map(|b| j[(comp[a], comp[b])] * x[b])
                .sum()
        })
        .collect();
    let mut y: f64 = (0..n)
        .map(|a| {
            let u = comp[a];
            f[u] * x[a] + 0.5 * j[(u, u)] * x[a] * x[a] + 0.5 * field[a] * x[a]
        })
        .sum();
    visit(&x, y);
    for step in 1u64..(1u64 << n) {
        // a stop request ends the walk early; the caller checks and discards the result
        if step & 0xFFF == 0 && crate::interrupt::requested().is_some() {
            return;
        }
        let a = step.trailing_zeros() as usize;
        let u = comp[a];
        let old = x[a];
        let new = if old == values[u][0] {
            values[u][1]
        } else {
            values[u][0]
        };
        let d = new - old;
        y += f[u] * d + 0.5 * j[(u, u)] * (new * new - old * old) + d * field[a];
        x[a] = new;
        for b in 0..n {
            if b != a {
                field[b] += j[(comp[b], u)] * d;
            }
        }
        visit(&x, y);
    }
}

/// Running log-sum-exp.
#[derive(Clone, Copy)]
struct LogSum {
    max: f64,
    sum: f64,
}

impl LogSum {
    fn new() -> Self {
        LogSum {
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }
    /// Adds e^x; returns the factor by which earlier terms were rescaled.
    fn add(&mut self, x: f64) -> f64 {
        if x > self.max {
            let rescale = (self.max - x).exp();
            self.sum = self.sum * rescale + 1.0;
            self.max = x;
            rescale
        } else {
            self.sum += (x - self.max).exp();
            1.0
        }
    }
    fn value(self) -> f64 {
        self.max + self.sum.ln()
    }
}

/// The exact log-marginal of one component's outer units.
#[derive(Clone, Debug)]
pub struct OuterMarginal {
    /// The component's outer units (global indices, ascending).
    pub units: Vec<usize>,
    /// ln Σ_inner weight, indexed by the bit pattern b (bit a set ⟺ unit `units[a]` takes
    /// its second value).
    pub log_weight: Vec<f64>,
}

/// Everything enumeration gives.
#[derive(Clone, Debug)]
pub struct Enumeration {
    /// ln Z (including the constant).
    pub log_partition: f64,
    /// ⟨x_u⟩ of every unit.
    pub mean: DVector<f64>,
    /// ⟨x_a x_b⟩ of the outer units (products of means across components), if asked.
    pub outer_second: Option<DMatrix<f64>>,
    /// Per component with outer units.
    pub marginals: Vec<OuterMarginal>,
}

/// Why a model cannot be enumerated.
#[derive(Clone, Debug)]
pub struct TooLarge {
    /// Units of the largest component.
    pub units: usize,
    /// Most outer units in one component.
    pub outer: usize,
}

impl TooLarge {
    /// One line for error messages.
    pub fn describe(&self) -> String {
        format!(
            "exact enumeration needs every connected component to have at most {MAX_COMPONENT} units and, for pair moments, at most {MAX_OUTER_FOR_PAIRS} visible units; the largest has {} units, the most visible in one is {}",
            self.units, self.outer
        )
    }
}

/// Enumerates `p` per connected component: ln Z, every mean, the outer pair moments (if
/// `pairs`) and the outer log-marginals.
///
/// # Errors
/// [`TooLarge`] beyond the limits.
pub fn enumerate(p: &Pairwise, pairs: bool) -> std::result::Result<Enumeration, TooLarge> {
    let n = p.values.len();
    let comps = components(&p.coupling);
    let largest = comps.iter().map(Vec::len).max().unwrap_or(0);
    let most_outer = comps
        .iter()
        .map(|c| c.iter().filter(|&&u| u < p.outer).count())
        .max()
        .unwrap_or(0);
    if largest > MAX_COMPONENT || (pairs && most_outer > MAX_OUTER_FOR_PAIRS) {
        return Err(TooLarge {
            units: largest,
            outer: most_outer,
        });
    }
    let mut log_partition = p.constant;
    let mut mean = DVector::zeros(n);
    let mut second = pairs.then(|| DMatrix::zeros(p.outer, p.outer));
    let mut marginals = Vec::new();
    let configurations: u64 = comps
        .iter()
        .map(|c| 1u64 << c.iter().filter(|&&u| u < p.outer).count())
        .sum();
    let task = crate::interrupt::Task::new("configurations", configurations);
    for comp in &comps {
        if crate::interrupt::requested().is_some() {
            break; // the caller checks and discards the result
        }
        let outer: Vec<usize> = comp.iter().copied().filter(|&u| u < p.outer).collect();
        let inner: Vec<usize> = comp.iter().copied().filter(|&u| u >= p.outer).collect();
        let mut log_weight = vec![0.0; 1 << outer.len()];
        // inner means conditional on each outer configuration b, at b·ni + a
        let ni = inner.len();
        let mut inner_mean = vec![0.0; ni << outer.len()];
        let mut g = p.field.clone();
        gray_walk(&p.coupling, &p.field, &p.values, &outer, |xo, y| {
            let b: usize = outer
                .iter()
                .enumerate()
                .filter(|&(a, &u)| xo[a] == p.values[u][1])
                .map(|(a, _)| 1 << a)
                .sum();
            for &i in &inner {
                g[i] = p.field[i]
                    + outer
                        .iter()
                        .zip(xo)
                        .map(|(&o, &x)| p.coupling[(i, o)] * x)
                        .sum::<f64>();
            }
            let mut sum = LogSum::new();
            let mut m = vec![0.0; inner.len()];
            gray_walk(&p.coupling, &g, &p.values, &inner, |xi, z| {
                let r = sum.add(z);
                let w = (z - sum.max).exp();
                for (a, &x) in xi.iter().enumerate() {
                    m[a] = m[a] * r + w * x;
                }
            });
            for (a, x) in m.iter().enumerate() {
                inner_mean[b * ni + a] = x / sum.sum;
            }
            log_weight[b] = y + sum.value();
        });
        let mut lz = LogSum::new();
        for &x in &log_weight {
            lz.add(x);
        }
        let lz = lz.value();
        log_partition += lz;
        for (b, &x) in log_weight.iter().enumerate() {
            // progress, and an early end on a stop request (the caller checks and discards
            // the result)
            if b & 0xFFF == 0xFFF && task.advance(0x1000).is_err() {
                break;
            }
            let prob = (x - lz).exp();
            let xo: Vec<f64> = outer
                .iter()
                .enumerate()
                .map(|(a, &u)| p.values[u][(b >> a) & 1])
                .collect();
            for (a, &u) in outer.iter().enumerate() {
                mean[u] += prob * xo[a];
                if let Some(s) = second.as_mut() {
                    for (c, &t) in outer.iter().enumerate() {
                        s[(u, t)] += prob * xo[a] * xo[c];
                    }
                }
            }
            for (a, &u) in inner.iter().enumerate() {
                mean[u] += prob * inner_mean[b * ni + a];
            }
        }
        let _ = task.advance(log_weight.len() as u64 & 0xFFF);
        if !outer.is_empty() {
            marginals.push(OuterMarginal {
                units: outer,
                log_weight,
            });
        }
    }
    if let Some(s) = second.as_mut() {
        let mut component_of = vec![0usize; n];
        for (i, c) in comps.iter().enumerate() {
            for &u in c {
                component_of[u] = i;
            }
        }
        for a in 0..p.outer {
            if crate::interrupt::requested().is_some() {
                break; // the caller checks and discards the result
            }
            for b in 0..p.outer {
                let together = component_of[a] == component_of[b];
                if !together {
                    s[(a, b)] = mean[a] * mean[b];
                }
            }
        }
    }
    Ok(Enumeration {
        log_partition,
        mean,
        outer_second: second,
        marginals,
    })
}

/// The coefficients K_S of ln-weight(x) = Σ_S K_S Π_{a∈S} x_a over one component's outer
/// units, indexed by the bit pattern of S: the Möbius transform for 0/1 units, the Walsh
/// transform for ±1 units (K_∅ is the constant term).
pub fn interaction_coefficients(log_weight: &[f64], units: VisibleUnits) -> Vec<f64> {
    let mut c = log_weight.to_vec();
    let n = c.len().trailing_zeros() as usize;
    for a in 0..n {
        let bit = 1 << a;
        for b in 0..c.len() {
            if b & bit != 0 {
                let lo = c[b ^ bit];
                match units {
                    // K(S) = Σ_{T⊆S} (−1)^{|S∖T|} L(T)
                    VisibleUnits::Bernoulli => c[b] -= lo,
                    // K(S) = 2⁻ⁿ Σ_b L(b) Π_{a∈S} x_a(b), x = 2 bit − 1
                    VisibleUnits::Spin => {
                        let hi = c[b];
                        c[b ^ bit] = 0.5 * (lo + hi);
                        c[b] = 0.5 * (hi - lo);
                    }
                }
            }
        }
    }
    c
}

/// One multi-body coupling of the visible units.
#[derive(Clone, Debug, Serialize)]
pub struct CouplingTerm {
    /// The visible units (ascending).
    pub units: Vec<usize>,
    /// K_S in −H(v) = Σ_S K_S Π_{i∈S} v_i + const.
    pub value: f64,
}

/// The visible couplings of one order.
#[derive(Clone, Debug, Serialize)]
pub struct CouplingOrder {
    /// |S|.
    pub order: usize,
    /// Largest |K_S| of this order.
    pub max_abs: f64,
    /// Number of terms with |K_S| > [`COUPLING_ZERO`].
    pub nonzero: usize,
    /// Those terms (the [`MAX_TERMS`] largest if there are more), sorted by units.
    pub terms: Vec<CouplingTerm>,
    /// True when `terms` was cut to [`MAX_TERMS`].
    pub truncated: bool,
}

/// |K_S| at or below this is reported as zero (rounding of the transforms).
pub const COUPLING_ZERO: f64 = 1e-10;
/// Most terms listed per order.
pub const MAX_TERMS: usize = 4096;

/// The visible multi-body couplings of orders 1..=`max_order` from the outer log-marginals.
pub fn visible_couplings(
    marginals: &[OuterMarginal],
    units: VisibleUnits,
    max_order: usize,
) -> Vec<CouplingOrder> {
    let mut by_order: Vec<Vec<CouplingTerm>> = vec![Vec::new(); max_order];
    let mut max_abs = vec![0.0f64; max_order];
    for m in marginals {
        let k = interaction_coefficients(&m.log_weight, units);
        for (s, &value) in k.iter().enumerate().skip(1) {
            let order = s.count_ones() as usize;
            if order > max_order {
                continue;
            }
            max_abs[order - 1] = max_abs[order - 1].max(value.abs());
            if value.abs() > COUPLING_ZERO {
                let members = (0..m.units.len())
                    .filter(|a| s >> a & 1 == 1)
                    .map(|a| m.units[a])
                    .collect();
                by_order[order - 1].push(CouplingTerm {
                    units: members,
                    value,
                });
            }
        }
    }
    by_order
        .into_iter()
        .enumerate()
        .map(|(i, mut terms)| {
            let nonzero = terms.len();
            let truncated = nonzero > MAX_TERMS;
            if truncated {
                terms.sort_by(|a, b| b.value.abs().total_cmp(&a.value.abs()));
                terms.truncate(MAX_TERMS);
            }
            terms.sort_by(|a, b| a.units.cmp(&b.units));
            CouplingOrder {
                order: i + 1,
                max_abs: max_abs[i],
                nonzero,
                terms,
                truncated,
            }
        })
        .collect()
}

/// diag(x²).
fn diag_squares(x: &[f64]) -> DMatrix<f64> {
    DMatrix::from_diagonal(&DVector::from_iterator(x.len(), x.iter().map(|s| s * s)))
}

fn half_ln_det_2pi_var(std: &[f64]) -> f64 {
    0.5 * std
        .iter()
        .map(|s| (2.0 * std::f64::consts::PI * s * s).ln())
        .sum::<f64>()
}

/// Puts blocks into one symmetric matrix: `blocks[(r, c)]` at rows of layer r, columns of c.
fn assemble(sizes: &[usize], blocks: &[(usize, usize, DMatrix<f64>)]) -> DMatrix<f64> {
    let offsets: Vec<usize> = sizes
        .iter()
        .scan(0, |acc, &n| {
            let o = *acc;
            *acc += n;
            Some(o)
        })
        .collect();
    let n = sizes.iter().sum();
    let mut j = DMatrix::zeros(n, n);
    for (r, c, b) in blocks {
        j.view_mut((offsets[*r], offsets[*c]), b.shape())
            .copy_from(b);
        if r != c {
            j.view_mut((offsets[*c], offsets[*r]), (b.ncols(), b.nrows()))
                .copy_from(&b.transpose());
        }
    }
    j
}

/// The enumerated form of the model (module docs): with the visible layer as outer units,
/// or, with `with_visible = false`, the prior of h ((h, s) without v; h outer). None when
/// nothing is left to enumerate (Gaussian h without v) or the recursion has no J_v.
///
/// Units are ordered v, then h (if bernoulli), then s (if bernoulli).
pub fn pairwise(model: &Dbm, r: &Recursion, with_visible: bool) -> Option<Pairwise> {
    let (w, m) = analytic::weights(model);
    let (nv, nh, ns) = model.sizes();
    let nv = if with_visible { nv } else { 0 };
    let w = w.rows(0, nv).into_owned();
    let a = DVector::from_column_slice(&model.visible_bias[..nv]);
    let vis_values = vec![unit_values(model.visible_units); nv];
    let bits = |n: usize| vec![[0.0, 1.0]; n];
    let join = |parts: Vec<DVector<f64>>| {
        let all: Vec<f64> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        DVector::from_vec(all)
    };
    match (&model.hidden, &model.deep) {
        (Layer::Gaussian { .. }, Layer::Gaussian { .. }) => {
            if !with_visible {
                return None;
            }
            Some(Pairwise {
                values: vis_values,
                field: r.visible_field.clone()?,
                coupling: r.visible_coupling.clone()?,
                constant: -r.constant?,
                outer: nv,
            })
        }
        (Layer::Bernoulli { bias: d }, Layer::Gaussian { mean: nu, std: tau }) => {
            let jh = r.hidden_coupling.clone()?;
            let f_h = DVector::from_column_slice(d) + &m * DVector::from_column_slice(nu);
            let outer = if with_visible { nv } else { nh };
            Some(Pairwise {
                values: [vis_values, bits(nh)].concat(),
                field: join(vec![a, f_h]),
                coupling: assemble(&[nv, nh], &[(0, 1, w), (1, 1, jh)]),
                constant: half_ln_det_2pi_var(tau),
                outer,
            })
        }
        (
            Layer::Gaussian {
                mean: mu,
                std: sigma,
            },
            Layer::Bernoulli { bias: e },
        ) => {
            if !with_visible {
                return None;
            }
            let sh = diag_squares(sigma);
            let mu = DVector::from_column_slice(mu);
            Some(Pairwise {
                values: [vis_values, bits(ns)].concat(),
                field: join(vec![
                    a + &w * &mu,
                    DVector::from_column_slice(e) + m.transpose() * &mu,
                ]),
                coupling: assemble(
                    &[nv, ns],
                    &[
                        (0, 0, &w * &sh * w.transpose()),
                        (0, 1, &w * &sh * &m),
                        (1, 1, m.transpose() * &sh * &m),
                    ],
                ),
                constant: half_ln_det_2pi_var(sigma),
                outer: nv,
            })
        }
        (Layer::Bernoulli { bias: d }, Layer::Bernoulli { bias: e }) => {
            let outer = if with_visible { nv } else { nh };
            Some(Pairwise {
                values: [vis_values, bits(nh), bits(ns)].concat(),
                field: join(vec![
                    a,
                    DVector::from_column_slice(d),
                    DVector::from_column_slice(e),
                ]),
                coupling: assemble(&[nv, nh, ns], &[(0, 1, w), (1, 2, m)]),
                constant: 0.0,
                outer,
            })
        }
    }
}

/// The exact moments of a DBM small enough to enumerate.
#[derive(Clone, Debug, Serialize)]
pub struct Exact {
    /// How they were computed and the limit.
    pub method: String,
    /// ln Z of the three-layer model.
    pub log_partition: f64,
    /// ⟨v_i⟩ (in the visible units' own values).
    pub visible_mean: Vec<f64>,
    /// ⟨v_i v_j⟩ (diagonal: ⟨v_i²⟩).
    pub visible_second_moment: Vec<Vec<f64>>,
    /// ⟨h_j⟩.
    pub hidden_mean: Vec<f64>,
    /// ⟨s_k⟩.
    pub deep_mean: Vec<f64>,
    /// The visible multi-body couplings K_S, orders 1..=order.
    pub visible_couplings: Vec<CouplingOrder>,
}

/// Exact moments (module docs), or [`TooLarge`] beyond the enumeration limit. The pair
/// moments and couplings are those of the model's own visible layer.
///
/// # Errors
/// [`TooLarge`]; a model without a closed form for the recursion gives `Ok(None)`.
pub fn exact(
    model: &Dbm,
    r: &Recursion,
    max_order: usize,
) -> std::result::Result<Option<Exact>, TooLarge> {
    let Some(p) = pairwise(model, r, true) else {
        return Ok(None);
    };
    let e = enumerate(&p, true)?;
    if crate::interrupt::requested().is_some() {
        return Ok(None); // stopped early; the caller checks and discards the result
    }
    let (nv, nh, ns) = model.sizes();
    let (w, m) = analytic::weights(model);
    let v_mean = e.mean.rows(0, nv).into_owned();
    let wt_v = w.transpose() * &v_mean;
    let (h_mean, s_mean): (DVector<f64>, DVector<f64>) = match (&model.hidden, &model.deep) {
        (Layer::Gaussian { .. }, Layer::Gaussian { mean: nu, std: tau }) => {
            // h | v ~ N(A⁻¹(b₀ + Wᵀv), A⁻¹), s | h ~ N(ν + Σ_s Mᵀh, Σ_s)
            let (Some(cov), Some(b0)) = (&r.hidden_covariance, &r.hidden_field) else {
                return Ok(None);
            };
            let h = cov * (b0 + wt_v);
            let s = DVector::from_column_slice(nu) + diag_squares(tau) * m.transpose() * &h;
            (h, s)
        }
        (Layer::Bernoulli { .. }, Layer::Gaussian { mean: nu, std: tau }) => {
            let h = e.mean.rows(nv, nh).into_owned();
            let s = DVector::from_column_slice(nu) + diag_squares(tau) * m.transpose() * &h;
            (h, s)
        }
        (
            Layer::Gaussian {
                mean: mu,
                std: sigma,
            },
            Layer::Bernoulli { .. },
        ) => {
            // h | v, s ~ N(μ + Σ_h(Wᵀv + Ms), Σ_h)
            let s = e.mean.rows(nv, ns).into_owned();
            let h = DVector::from_column_slice(mu) + diag_squares(sigma) * (wt_v + &m * &s);
            (h, s)
        }
        (Layer::Bernoulli { .. }, Layer::Bernoulli { .. }) => (
            e.mean.rows(nv, nh).into_owned(),
            e.mean.rows(nv + nh, ns).into_owned(),
        ),
    };
    let second = e.outer_second.unwrap_or_else(|| DMatrix::zeros(nv, nv));
    let integrated = match (model.hidden.is_gaussian(), model.deep.is_gaussian()) {
        (true, true) => "s and h integrated; v enumerated",
        (false, true) => "s integrated; (v, h) enumerated",
        (true, false) => "h integrated; (v, s) enumerated",
        (false, false) => "(v, h, s) enumerated",
    };
    Ok(Some(Exact {
        method: format!(
            "{integrated} per connected component (at most {MAX_COMPONENT} units, {MAX_OUTER_FOR_PAIRS} visible)"
        ),
        log_partition: e.log_partition,
        visible_mean: v_mean.iter().copied().collect(),
        visible_second_moment: analytic::rows(&second),
        hidden_mean: h_mean.iter().copied().collect(),
        deep_mean: s_mean.iter().copied().collect(),
        visible_couplings: visible_couplings(&e.marginals, model.visible_units, max_order),
    }))
}

/// Exact cumulants of h under its prior q_h ((h, s) without v) for a bernoulli hidden
/// layer: κ₁ = ⟨h_j⟩, κ₂ = Cov(h_j, h_l), and κ₃, κ₄ of each unit's Bernoulli marginal.
#[derive(Clone, Debug)]
pub struct HiddenPrior {
    /// κ₁.
    pub mean: DVector<f64>,
    /// κ₂.
    pub covariance: DMatrix<f64>,
    /// κ₃ of each unit.
    pub third: Vec<f64>,
    /// κ₄ of each unit.
    pub fourth: Vec<f64>,
}

/// [`HiddenPrior`] by enumeration (None for a Gaussian hidden layer).
///
/// # Errors
/// [`TooLarge`].
pub fn hidden_prior(
    model: &Dbm,
    r: &Recursion,
) -> std::result::Result<Option<HiddenPrior>, TooLarge> {
    if model.hidden.is_gaussian() {
        return Ok(None);
    }
    let Some(p) = pairwise(model, r, false) else {
        return Ok(None);
    };
    let e = enumerate(&p, true)?;
    let nh = p.outer;
    let mean = e.mean.rows(0, nh).into_owned();
    let second = e.outer_second.unwrap_or_else(|| DMatrix::zeros(nh, nh));
    let covariance = DMatrix::from_fn(nh, nh, |j, l| second[(j, l)] - mean[j] * mean[l]);
    let k: Vec<Vec<f64>> = mean.iter().map(|&q| bernoulli_cumulants(q, 4)).collect();
    Ok(Some(HiddenPrior {
        third: k.iter().map(|c| c[2]).collect(),
        fourth: k.iter().map(|c| c[3]).collect(),
        mean,
        covariance,
    }))
}

/// [`TooLarge`] as a `--model` error.
pub fn too_large(e: &TooLarge) -> Error {
    Error::invalid("model", e.describe())
}

/// ln Z by enumeration (None beyond the limit or without a closed form).
pub fn log_partition(model: &Dbm, r: &Recursion) -> Option<f64> {
    let p = pairwise(model, r, true)?;
    enumerate(&p, false).ok().map(|e| e.log_partition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enumeration_with_components_matches_direct_sum() {
        // block-diagonal J: two components
        let j = DMatrix::from_row_slice(
            4,
            4,
            &[
                0.5, 0.3, 0.0, 0.0, 0.3, -0.2, 0.0, 0.0, 0.0, 0.0, 0.1, -0.7, 0.0, 0.0, -0.7, 0.4,
            ],
        );
        let f = DVector::from_row_slice(&[0.1, -0.3, 0.2, 0.05]);
        for units in [VisibleUnits::Bernoulli, VisibleUnits::Spin] {
            let vals = unit_values(units);
            for outer in [4, 1, 0] {
                let p = Pairwise {
                    values: vec![vals; 4],
                    field: f.clone(),
                    coupling: j.clone(),
                    constant: 0.25,
                    outer,
                };
                let (mut direct, mut mean, mut pair02) = (0.0, [0.0; 4], 0.0);
                for s in 0..16u32 {
                    let v = DVector::from_fn(4, |i, _| vals[((s >> i) & 1) as usize]);
                    let w = (f.dot(&v) + 0.5 * v.dot(&(&j * &v))).exp();
                    direct += w;
                    for i in 0..4 {
                        mean[i] += w * v[i];
                    }
                    pair02 += w * v[0] * v[2];
                }
                let e = enumerate(&p, true).unwrap();
                assert!((e.log_partition - 0.25 - direct.ln()).abs() < 1e-12);
                for i in 0..4 {
                    assert!((e.mean[i] - mean[i] / direct).abs() < 1e-12, "{outer} {i}");
                }
                if outer == 4 {
                    let s = e.outer_second.unwrap();
                    assert!((s[(0, 2)] - pair02 / direct).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn transforms_recover_the_couplings_of_a_pairwise_model() {
        // −H = Σ f v + ½ vᵀJv: K_i = f_i + ½J_ii (0/1), K_ij = J_ij, nothing of order 3
        let j = DMatrix::from_row_slice(3, 3, &[0.4, 0.3, -0.2, 0.3, -0.1, 0.5, -0.2, 0.5, 0.2]);
        let f = DVector::from_row_slice(&[0.1, -0.3, 0.2]);
        for units in [VisibleUnits::Bernoulli, VisibleUnits::Spin] {
            let vals = unit_values(units);
            let lw: Vec<f64> = (0..8usize)
                .map(|b| {
                    let v = DVector::from_fn(3, |i, _| vals[(b >> i) & 1]);
                    f.dot(&v) + 0.5 * v.dot(&(&j * &v))
                })
                .collect();
            let k = interaction_coefficients(&lw, units);
            let diag_part = if units == VisibleUnits::Bernoulli {
                0.5
            } else {
                0.0
            };
            for i in 0..3 {
                assert!((k[1 << i] - f[i] - diag_part * j[(i, i)]).abs() < 1e-12);
            }
            assert!((k[0b011] - j[(0, 1)]).abs() < 1e-12);
            assert!((k[0b110] - j[(1, 2)]).abs() < 1e-12);
            assert!(k[0b111].abs() < 1e-12);
        }
    }
}
