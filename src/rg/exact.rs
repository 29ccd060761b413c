//! Exact references for block-spin RG (physics.md §4, §5a, §5c).
//!
//! * [`enumerate`]: for a small fine lattice, K′(y) = ln Σ_x Λ(y|x) e^{K[x]} for every coarse
//!   y and the exact cumulants ⟨K₁ⁿ⟩_c under p₀(·|y) (n ≤ 4), Walsh-projected onto the same
//!   coupling basis: exact couplings in full and at every truncation order;
//! * [`chain_decimation`]: 1D decimation with blocks of 2 (K′, h′, constant g per coarse
//!   site) and, at h = 0, tanh K′ = tanhᵇ K for blocks of b;
//! * [`decimation_series`]: the odd-order partial sums of the cumulant series at h = 0;
//! * [`nvl_first_order`]: Niemeijer–van Leeuwen, triangular lattice, 3-spin majority blocks,
//!   first order: K′ = 2K x(K)², h′ = 3 x(K) h.

use super::blocks::{Blocking, coupling_basis};
use super::rules::{Rule, block_energy};
use crate::lattice::LatticeKind;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest fine lattice enumerated (with N + N′ ≤ 26).
pub const MAX_SITES: usize = 20;

/// Exact couplings in basis order.
#[derive(Clone, Debug)]
pub struct ExactCouplings {
    /// From the exact K′(y).
    pub full: Vec<f64>,
    /// From the exact partial sums of the cumulant series, orders 1 … 4.
    pub orders: Vec<Vec<f64>>,
}

/// Walsh projection over all coarse configurations.
fn project(b: &Blocking, values: &[f64]) -> Vec<f64> {
    let n = b.coarse_sites();
    let basis = coupling_basis(b);
    let m = 1usize << n;
    let f = DMatrix::from_fn(m, basis.len(), |c, k| {
        let y: Vec<i8> = (0..n)
            .map(|j| if c >> j & 1 == 1 { 1 } else { -1 })
            .collect();
        basis[k].feature(&y)
    });
    let ftf = f.transpose() * &f;
    let sol = ftf
        .try_inverse()
        .map(|inv| inv * f.transpose() * DVector::from_column_slice(values));
    sol.map(|v| v.iter().copied().collect()).unwrap_or_default()
}

/// Exact couplings by enumerating every fine configuration for every coarse one (None for
/// lattices that are too large).
pub fn enumerate(b: &Blocking, rule: &Rule, k: f64, h: f64) -> Option<ExactCouplings> {
    let n = b.lattice.sites() as usize;
    let nc = b.coarse_sites();
    if n > MAX_SITES || n + nc > 26 {
        return None;
    }
    let nb = b.block_sites();
    let block_states: Vec<Vec<u32>> = (0..1u32 << n)
        .map(|x| {
            b.blocks
                .iter()
                .map(|sites| {
                    sites
                        .iter()
                        .enumerate()
                        .fold(0u32, |acc, (bit, &s)| acc | ((x >> s) & 1) << bit)
                })
                .collect()
        })
        .collect();
    let k0: Vec<f64> = block_states
        .iter()
        .map(|st| st.iter().map(|&s| block_energy(b, k, h, s)).sum())
        .collect();
    let k1: Vec<f64> = block_states
        .iter()
        .map(|st| {
            k * b
                .inter_bonds
                .iter()
                .map(|&((ja, ka), (jb, kb))| {
                    if (st[ja as usize] >> ka ^ st[jb as usize] >> kb) & 1 == 0 {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .sum::<f64>()
        })
        .collect();
    let mut full = Vec::with_capacity(1 << nc);
    let mut orders: Vec<Vec<f64>> = (0..4).map(|_| Vec::with_capacity(1 << nc)).collect();
    for c in 0..1u32 << nc {
        if crate::interrupt::requested().is_some() {
            return None;
        }
        let y: Vec<i8> = (0..nc)
            .map(|j| if c >> j & 1 == 1 { 1 } else { -1 })
            .collect();
        // p0 weights w0 = Π Λ e^{K0}; K' = ln Σ w0 e^{K1}
        let mut logw = Vec::with_capacity(1 << n);
        for (x, st) in block_states.iter().enumerate() {
            let ln_lam: f64 = st
                .iter()
                .zip(&y)
                .map(|(&s, &yj)| rule.ln_weight(yj, s, nb))
                .sum();
            logw.push(if ln_lam > f64::NEG_INFINITY {
                ln_lam + k0[x]
            } else {
                f64::NEG_INFINITY
            });
        }
        let max0 = logw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z0: f64 = logw.iter().map(|l| (l - max0).exp()).sum();
        let ln_z0 = max0 + z0.ln();
        // cumulants from central moments, so that large |K| does not cancel
        // K′(y) = ln Σ_x e^{ln w₀(x) + K₁(x)}, summed directly (not through p₀, whose
        // small entries underflow at large |K|)
        let top = logw
            .iter()
            .zip(&k1)
            .map(|(l, k)| l + k)
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = logw.iter().zip(&k1).map(|(l, k)| (l + k - top).exp()).sum();
        full.push(top + sum.ln());
        let mut m1 = 0.0;
        let p: Vec<f64> = logw.iter().map(|l| (l - ln_z0).exp()).collect();
        for (x, &px) in p.iter().enumerate() {
            m1 += px * k1[x];
        }
        let mut mu = [0.0; 3];
        for (x, &px) in p.iter().enumerate() {
            if px == 0.0 {
                continue;
            }
            let d = k1[x] - m1;
            mu[0] += px * d * d;
            mu[1] += px * d * d * d;
            mu[2] += px * d * d * d * d;
        }
        let kappa = [m1, mu[0], mu[1], mu[2] - 3.0 * mu[0] * mu[0]];
        let mut partial = ln_z0;
        for (o, fact) in [1.0, 2.0, 6.0, 24.0].iter().enumerate() {
            partial += kappa[o] / fact;
            orders[o].push(partial);
        }
    }
    Some(ExactCouplings {
        full: project(b, &full),
        orders: orders.iter().map(|v| project(b, v)).collect(),
    })
}

/// Closed-form 1D decimation: (K′, h′, constant per coarse site) for blocks of 2 at any h;
/// for other block sizes only at h = 0: (atanh(tanhᵇ K), 0, None).
pub fn chain_decimation(k: f64, h: f64, b: u32) -> Option<(f64, f64, Option<f64>)> {
    if b == 2 {
        let (c1, c2, ch) = (ln_cosh(2.0 * k + h), ln_cosh(2.0 * k - h), ln_cosh(h));
        let kp = 0.25 * (c1 + c2 - 2.0 * ch);
        let hp = h + 0.5 * (c1 - c2);
        let g = std::f64::consts::LN_2 + 0.25 * (c1 + c2 + 2.0 * ch);
        Some((kp, hp, Some(g)))
    } else if h == 0.0 {
        Some((atanh_tanh_power(k, b), 0.0, None))
    } else {
        None
    }
}

/// ln cosh x = |x| − ln 2 + ln(1 + e^{−2|x|}), finite for every finite x.
pub fn ln_cosh(x: f64) -> f64 {
    let a = x.abs();
    a - std::f64::consts::LN_2 + (-2.0 * a).exp().ln_1p()
}

/// atanh(tanh^b K) without overflow: with s = −b ln tanh|K| (ln tanh|K| = ln(1 − q) −
/// ln(1 + q), q = e^{−2|K|}), atanh(e^{−s}) = ½ [ln(1 + e^{−s}) − ln(1 − e^{−s})]; once q is
/// below 10^{−17} this is |K| − ½ ln b to double precision. The sign is sign(K)^b.
pub fn atanh_tanh_power(k: f64, b: u32) -> f64 {
    let (a, q) = (k.abs(), (-2.0 * k.abs()).exp());
    let sign = if k < 0.0 && b % 2 == 1 { -1.0 } else { 1.0 };
    if k == 0.0 {
        return 0.0;
    }
    let magnitude = if q < 1e-17 {
        a - 0.5 * (b as f64).ln()
    } else {
        let s = b as f64 * (q.ln_1p() - (-q).ln_1p());
        0.5 * ((-s).exp().ln_1p() - (-(-s).exp_m1()).ln())
    };
    sign * magnitude
}

/// Partial sums K′_{≤n} = Σ_{odd m ≤ n} K^m tanh^{(m−1)}(K) / m! (h = 0, blocks of 2), for
/// n = 1 … `max_order`.
pub fn decimation_series(k: f64, max_order: usize) -> Vec<f64> {
    // tanh^{(j)} as a polynomial in t = tanh K: d/dK p(t) = p'(t) (1 − t²)
    let derivs =
        crate::exact::derivative_chain(&[0.0, 1.0], &[1.0, 0.0, -1.0], k.tanh(), max_order);
    let mut sum = 0.0;
    let mut fact = 1.0;
    (1..=max_order)
        .map(|m| {
            fact *= m as f64;
            if m % 2 == 1 {
                sum += k.powi(m as i32) * derivs[m - 1] / fact;
            }
            sum
        })
        .collect()
}

/// First-order Niemeijer–van Leeuwen for the triangular lattice with 3-spin majority blocks:
/// (K′, h′) = (2K x², 3x h), x = (e^{3K} + e^{−K}) / (e^{3K} + 3e^{−K}).
pub fn nvl_first_order(k: f64, h: f64) -> (f64, f64) {
    let x = nvl_x(k);
    (2.0 * k * x * x, 3.0 * x * h)
}

/// The first-order field with the field in K₀ (this crate's convention), to linear order in
/// h: h′ = (3x + 12 K x c) h with c = d⟨s_i⟩₊/dh = 4e^{2K}/(e^{3K} + 3e^{−K})²: 3x h from
/// ln Z₀ and 12 K x c h from ⟨K₁⟩ (12 inter-block bond ends per triangle). NvL's h′ = 3x h is
/// the same order with the field in K₁.
pub fn nvl_first_order_field_in_k0(k: f64, h: f64) -> f64 {
    let x = nvl_x(k);
    // c = 4e^{2K}/(e^{3K} + 3e^{−K})², divided through by e^{6K} (K ≥ 0) or e^{−2K} (K < 0)
    let c = if k >= 0.0 {
        let u = (-4.0 * k).exp();
        4.0 * u / (1.0 + 3.0 * u).powi(2)
    } else {
        let v = (4.0 * k).exp();
        4.0 * v / (v + 3.0).powi(2)
    };
    (3.0 * x + 12.0 * k * x * c) * h
}

/// x(K) = (e^{3K} + e^{−K}) / (e^{3K} + 3e^{−K}) of a majority triangle, in a form that does
/// not overflow: (1 + u)/(1 + 3u) with u = e^{−4K} for K ≥ 0, (v + 1)/(v + 3) with v = e^{4K}
/// for K < 0.
pub fn nvl_x(k: f64) -> f64 {
    if k >= 0.0 {
        let u = (-4.0 * k).exp();
        (1.0 + u) / (1.0 + 3.0 * u)
    } else {
        let v = (4.0 * k).exp();
        (v + 1.0) / (v + 3.0)
    }
}

/// K* = ¼ ln(1 + 2√2), the first-order NvL fixed point.
pub fn nvl_fixed_point() -> f64 {
    0.25 * (1.0 + 2.0 * 2f64.sqrt()).ln()
}

/// y_T = ln λ_T / ln √3 of the first-order NvL recursion, λ_T = dK′/dK at K* (central
/// difference of [`nvl_first_order`]; 0.882203).
pub fn nvl_y_t() -> f64 {
    let (ks, d) = (nvl_fixed_point(), 1e-5);
    let lambda = (nvl_first_order(ks + d, 0.0).0 - nvl_first_order(ks - d, 0.0).0) / (2.0 * d);
    lambda.ln() / 3f64.sqrt().ln()
}

/// True when the closed forms apply to this setup.
pub fn is_chain_decimation(b: &Blocking, rule: &Rule) -> bool {
    b.lattice.kind() == LatticeKind::Chain && *rule == Rule::Decimation
}

/// True for the NvL setup.
pub fn is_triangular_majority(b: &Blocking, rule: &Rule) -> bool {
    b.lattice.kind() == LatticeKind::Triangular && *rule == Rule::Majority
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::Lattice;

    fn chain(n: u32, b: u32) -> Blocking {
        Blocking::new(Lattice::new(LatticeKind::Chain, n).unwrap(), b).unwrap()
    }

    #[test]
    fn ring_of_12_stochastic_rule() {
        // physics.md §4: nn 0.196255, nnn 0.003840, 3rd 0.000158, four −0.000029, field 0
        let b = chain(12, 2);
        let e = enumerate(&b, &Rule::Stochastic(vec![1.0, 0.5]), 0.5, 0.0).unwrap();
        let names: Vec<_> = coupling_basis(&b).iter().map(|c| c.name).collect();
        let get = |name: &str| e.full[names.iter().position(|n| *n == name).unwrap()];
        assert!((get("nn") - 0.196255).abs() < 5e-7, "{}", get("nn"));
        assert!((get("nnn") - 0.003840).abs() < 5e-7);
        assert!((get("3rd") - 0.000158).abs() < 5e-7);
        assert!((get("four") + 0.000029).abs() < 5e-7);
        assert!(get("field").abs() < 1e-12);
    }

    #[test]
    fn log_forms_match_the_direct_formulas_and_stay_finite() {
        for k in [-3.0, -0.7, -0.1, 0.0, 0.2, 0.44, 1.5, 5.0] {
            assert!((ln_cosh(2.0 * k) - (2.0 * k).cosh().ln()).abs() < 1e-13);
            for b in [2u32, 3, 4] {
                let direct = k.tanh().powi(b as i32).atanh();
                assert!((atanh_tanh_power(k, b) - direct).abs() < 1e-10, "{k} {b}");
            }
            let x = ((3.0 * k).exp() + (-k).exp()) / ((3.0 * k).exp() + 3.0 * (-k).exp());
            assert!((nvl_x(k) - x).abs() < 1e-14);
        }
        // K = 400: K' = ½ ln cosh 2K = K − ½ ln 2 (the direct forms give inf / NaN)
        for b in [2, 3] {
            let (kp, hp, _) = chain_decimation(400.0, 0.0, b).unwrap();
            assert_eq!(hp, 0.0);
            assert!((kp - (400.0 - 0.5 * (b as f64).ln())).abs() < 1e-12, "{kp}");
        }
        let (kp, hp, g) = chain_decimation(-400.0, 3.0, 2).unwrap();
        assert!(kp.is_finite() && hp.is_finite() && g.unwrap().is_finite());
        assert!(nvl_first_order(400.0, 0.0).0.is_finite());
        assert!(nvl_first_order_field_in_k0(-400.0, 0.1).is_finite());
    }

    #[test]
    fn decimation_matches_closed_form_and_series() {
        for (k, h) in [(0.5, 0.0), (0.5, 0.3), (1.0, 0.0)] {
            let b = chain(16, 2);
            let e = enumerate(&b, &Rule::Decimation, k, h).unwrap();
            let names: Vec<_> = coupling_basis(&b).iter().map(|c| c.name).collect();
            let get = |v: &[f64], name: &str| v[names.iter().position(|n| *n == name).unwrap()];
            let (kp, hp, g) = chain_decimation(k, h, 2).unwrap();
            assert!(
                (get(&e.full, "nn") - kp).abs() < 1e-12,
                "K′ at K={k}, h={h}"
            );
            assert!((get(&e.full, "field") - hp).abs() < 1e-12);
            assert!((get(&e.full, "constant") - g.unwrap()).abs() < 1e-12);
            assert!(get(&e.full, "nnn").abs() < 1e-12);
            if h == 0.0 {
                // the exact order-n partial sums are the odd-order series (orders 1..4 -> 1, 1, 3, 3)
                let series = decimation_series(k, 4);
                for o in 0..4 {
                    assert!(
                        (get(&e.orders[o], "nn") - series[o]).abs() < 1e-12,
                        "order {}",
                        o + 1
                    );
                }
            }
        }
        // physics.md §5a partial sums at K = 0.5
        let s = decimation_series(0.5, 15);
        for (o, want) in [
            (1, 0.2310585786),
            (3, 0.2159156207),
            (5, 0.2169448445),
            (7, 0.2168886076),
            (15, 0.2168904154),
        ] {
            assert!((s[o - 1] - want).abs() < 1e-10, "order {o}");
        }
        let (kp, _, _) = chain_decimation(0.5, 0.0, 3).unwrap();
        let e3 = enumerate(&chain(12, 3), &Rule::Decimation, 0.5, 0.0).unwrap();
        assert!((e3.full[2] - kp).abs() < 1e-12);
    }

    #[test]
    fn nvl_fixed_point_value() {
        let ks = nvl_fixed_point();
        assert!((ks - 0.3356135116).abs() < 1e-9);
        assert!((nvl_first_order(ks, 0.0).0 - ks).abs() < 1e-12);
        assert!((nvl_y_t() - 0.882203).abs() < 1e-6, "{}", nvl_y_t());
    }
}

/// Couplings by name (`nn`, `field`, `constant`, ...).
pub type Named = BTreeMap<String, f64>;

/// The exact couplings at one truncation order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OrderCouplings {
    /// Cumulant order n (terms up to n kept).
    pub order: usize,
    /// The couplings at that order.
    pub couplings: Named,
}

/// The exact reference of an RG setup, as `blockspin rg` reports it (`exact`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExactReference {
    /// Where the values come from.
    pub source: String,
    /// The full (untruncated) couplings, where known.
    pub couplings: Option<Named>,
    /// Truncated couplings by order, where known.
    pub by_order: Vec<OrderCouplings>,
}

fn named(names: &[&str], values: &[f64]) -> Named {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| (n.to_string(), *v))
        .collect()
}

/// The exact reference for blocking `b` with `rule` at reduced coupling K = `k` and field
/// `h`, projected onto the coupling basis `names`, with orders up to `order`: enumeration
/// for small lattices, else 1D decimation (chain, decimation rule) or first-order
/// Niemeijer–van Leeuwen (triangular, majority); None otherwise.
pub fn reference(
    b: &Blocking,
    rule: &Rule,
    order: usize,
    names: &[&str],
    k: f64,
    h: f64,
) -> Option<ExactReference> {
    if let Some(e) = enumerate(b, rule, k, h) {
        return Some(ExactReference {
            source: format!(
                "enumeration of all {} fine and {} coarse configurations, Walsh projection",
                1u64 << b.lattice.sites(),
                1u64 << b.coarse_sites()
            ),
            couplings: Some(named(names, &e.full)),
            by_order: e
                .orders
                .iter()
                .take(order)
                .enumerate()
                .map(|(o, v)| OrderCouplings {
                    order: o + 1,
                    couplings: named(names, v),
                })
                .collect(),
        });
    }
    if is_chain_decimation(b, rule)
        && let Some((kp, hp, g)) = chain_decimation(k, h, b.block)
    {
        let mut c = Named::from([("nn".to_string(), kp), ("field".to_string(), hp)]);
        if let Some(g) = g {
            c.insert("constant".into(), g);
        }
        let by_order = if h == 0.0 && b.block == 2 {
            decimation_series(k, order)
                .iter()
                .enumerate()
                .map(|(o, &v)| OrderCouplings {
                    order: o + 1,
                    couplings: Named::from([("nn".to_string(), v)]),
                })
                .collect()
        } else {
            Vec::new()
        };
        return Some(ExactReference {
            source: "1D decimation, closed form (physics.md §5a)".into(),
            couplings: Some(c),
            by_order,
        });
    }
    if is_triangular_majority(b, rule) {
        let (kp, _) = nvl_first_order(k, h);
        let mut first = Named::from([("field".to_string(), nvl_first_order_field_in_k0(k, h))]);
        if h == 0.0 {
            first.insert("nn".into(), kp); // K' = 2K x^2 holds at h = 0
        }
        return Some(ExactReference {
            source: "first-order Niemeijer-van Leeuwen (physics.md §5c): K' = 2K x(K)^2 at h = 0; with the field in K0, h' = (3x + 12Kxc) h to linear order (NvL's 3x h puts it in K1)".into(),
            couplings: None,
            by_order: vec![OrderCouplings {
                order: 1,
                couplings: first,
            }],
        });
    }
    None
}
