//! Real-space mutual information I_Λ(H:E) of a coarse-graining rule (physics.md §7,
//! Lenggenhager et al.): how much the coarse variable H of one block V keeps about the
//! block's environment E beyond a buffer B of width w, in nats, for p(x) ∝ e^{K[x]} with
//! K[x] = K Σ_<ij> x_i x_j + h Σ_i x_i, x = ±1.
//!
//! For a nearest-neighbour model V ∪ B depends on E only through the environment sites next
//! to B (∂E), so I(H:E) = I(H:∂E) exactly. Two exact methods:
//!
//! * **ring** (chain, any length): V = sites 0…b−1, w buffer sites each side, ∂E = {e_L, e_R};
//!   the rest of the ring is the transfer-matrix factor (T^m)_{e_R e_L}, T_{st} =
//!   e^{Kst + h(s+t)/2}, m = N − b − 2w − 1 bonds, so the cost is 2^{b+2w+2}, not 2^N;
//! * **enumeration** (any lattice of at most [`MAX_ENUMERATED_SITES`] sites): every state,
//!   accumulating p(H, ∂E).
//!
//! Sampled ([`sampled`], §7): environments from the lattice sampler (heat bath, CPU or
//! GPU), p(H|∂E) by enumerating V ∪ B given the sampled boundary, jackknife over chains.

use super::rules::Rule;
use crate::error::{Error, Result};
use crate::lattice::{Lattice, LatticeKind};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Largest lattice [`enumerated`] accepts.
pub const MAX_ENUMERATED_SITES: u64 = 24;
/// Largest block + buffer of the ring method.
pub const MAX_RING_REGION: usize = 22;

/// How I was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Exactly (ring transfer matrix or enumeration).
    Exact,
    /// From sampled environments (not built yet).
    Sampled,
}

/// I(H:E) with its error (0 for exact values).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MutualInformation {
    /// I in nats.
    pub mean: f64,
    /// Standard error (0 when exact).
    pub error: f64,
    /// `exact` or `sampled`.
    pub method: Method,
    /// Which exact method: `ring transfer matrix` or `enumeration`.
    pub how: String,
    /// Buffer width w.
    pub buffer: u32,
    /// Sites of V, of B and of ∂E.
    pub block_sites: usize,
    /// Sites of the buffer.
    pub buffer_sites: usize,
    /// Environment sites next to the buffer.
    pub boundary_sites: usize,
    /// Sampled estimate only: the drift test of the environment chains on the per-sample
    /// Σ_H p(H|E) ln p(H|E) (`conditional_entropy`) and |m| ([`crate::equilibration`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equilibration: Option<crate::equilibration::Equilibration>,
}

/// I = Σ p(H,e) ln[p(H,e) / (p(H) p(e))] of an unnormalized table `joint[H][e]`.
/// NaN when the table holds no finite positive weight (every weight underflowed), so that
/// the report flags it instead of printing 0.
fn information(joint: &[Vec<f64>; 2]) -> f64 {
    let total: f64 = joint.iter().flatten().sum();
    if !(total.is_finite() && total > 0.0) {
        return f64::NAN;
    }
    let ph = [
        joint[0].iter().sum::<f64>() / total,
        joint[1].iter().sum::<f64>() / total,
    ];
    let mut i = 0.0;
    for e in 0..joint[0].len() {
        let pe = (joint[0][e] + joint[1][e]) / total;
        for h in 0..2 {
            let p = joint[h][e] / total;
            if p > 0.0 {
                i += p * (p / (ph[h] * pe)).ln();
            }
        }
    }
    i.max(0.0)
}

fn spin(bits: u64, k: usize) -> f64 {
    if bits >> k & 1 == 1 { 1.0 } else { -1.0 }
}

/// The periodic Chebyshev distance between two sites in lattice coordinates.
fn chebyshev(lat: &Lattice, a: u32, b: u32) -> u32 {
    let (ca, cb, dims) = (lat.coords(a), lat.coords(b), lat.dims());
    (0..3)
        .map(|d| {
            let diff = ca[d].abs_diff(cb[d]);
            diff.min(dims[d] - diff)
        })
        .max()
        .unwrap_or(0)
}

/// The regions of block `block` with buffer `w`: (V, B, ∂E), each in site order.
///
/// # Errors
/// [`Error::InvalidParameter`] (`buffer`) when the buffer leaves no environment.
pub fn regions(lat: &Lattice, block: &[u32], w: u32) -> Result<(Vec<u32>, Vec<u32>, Vec<u32>)> {
    let n = lat.sites() as u32;
    let dist = |s: u32| {
        block
            .iter()
            .map(|&v| chebyshev(lat, s, v))
            .min()
            .unwrap_or(0)
    };
    let buffer: Vec<u32> = (0..n)
        .filter(|&s| !block.contains(&s) && dist(s) <= w)
        .collect();
    let inner = |s: u32| block.contains(&s) || buffer.contains(&s);
    let boundary: Vec<u32> = (0..n)
        .filter(|&s| !inner(s))
        .filter(|&s| {
            let (nb, z) = lat.neighbours(s);
            nb[..z].iter().any(|&t| inner(t))
        })
        .collect();
    if boundary.is_empty() {
        return Err(Error::invalid(
            "buffer",
            format!(
                "a buffer of {w} around the block leaves no environment on this {} of {n} sites",
                lat.kind()
            ),
        ));
    }
    Ok((block.to_vec(), buffer, boundary))
}

/// I(H:E) by enumerating every state of `lat` (at most [`MAX_ENUMERATED_SITES`] sites).
///
/// # Errors
/// [`Error::InvalidParameter`] for a lattice too large or a buffer too wide.
pub fn enumerated(
    lat: &Lattice,
    block: &[u32],
    rule: &Rule,
    k: f64,
    h: f64,
    w: u32,
) -> Result<MutualInformation> {
    let n = lat.sites();
    if n > MAX_ENUMERATED_SITES {
        return Err(Error::invalid(
            "mutual-information",
            format!(
                "is exact on chains of any length and by enumeration up to {MAX_ENUMERATED_SITES} sites (this lattice has {n}); use the sampled method"
            ),
        ));
    }
    let (v, b, e) = regions(lat, block, w)?;
    let bonds: Vec<(usize, usize)> = (0..n as u32)
        .flat_map(|s| {
            let (f, z) = lat.forward_neighbours(s);
            f[..z]
                .iter()
                .map(move |&t| (s as usize, t as usize))
                .collect::<Vec<_>>()
        })
        .collect();
    let states = 1u64 << n;
    let chunks = 1u64 << n.saturating_sub(10);
    let per = states / chunks;
    let energy_of = |x: u64| -> f64 {
        let mut energy = 0.0;
        for &(i, j) in &bonds {
            energy += k * spin(x, i) * spin(x, j);
        }
        for i in 0..n as usize {
            energy += h * spin(x, i);
        }
        energy
    };
    // shift energies by their maximum (a first pass) so that no weight overflows and the
    // largest is 1, even where frustration keeps the maximum far below |K|·bonds + |h|·n
    let shift = (0..chunks)
        .into_par_iter()
        .map(|c| {
            if crate::interrupt::requested().is_some() {
                return f64::NEG_INFINITY;
            }
            (c * per..(c + 1) * per)
                .map(energy_of)
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .reduce(|| f64::NEG_INFINITY, f64::max);
    crate::interrupt::check()?;
    let e_count = 1usize << e.len();
    let joint = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut acc = [vec![0.0; e_count], vec![0.0; e_count]];
            if crate::interrupt::requested().is_some() {
                return acc;
            }
            for x in c * per..(c + 1) * per {
                let weight = (energy_of(x) - shift).exp();
                let vb = v
                    .iter()
                    .enumerate()
                    .fold(0u32, |a, (q, &s)| a | (((x >> s) & 1) as u32) << q);
                let eb = e
                    .iter()
                    .enumerate()
                    .fold(0usize, |a, (q, &s)| a | (((x >> s) & 1) as usize) << q);
                for (hi, y) in [-1i8, 1].into_iter().enumerate() {
                    acc[hi][eb] += weight * rule.weight(y, vb, v.len());
                }
            }
            acc
        })
        .reduce(
            || [vec![0.0; e_count], vec![0.0; e_count]],
            |mut a, b| {
                for h in 0..2 {
                    for (x, y) in a[h].iter_mut().zip(&b[h]) {
                        *x += y;
                    }
                }
                a
            },
        );
    crate::interrupt::check()?;
    Ok(MutualInformation {
        mean: information(&joint),
        error: 0.0,
        method: Method::Exact,
        how: "enumeration".into(),
        buffer: w,
        block_sites: v.len(),
        buffer_sites: b.len(),
        boundary_sites: e.len(),
        equilibration: None,
    })
}

/// I(H:E) on a ring of `n` sites, block 0…b−1, buffer `w` each side, exactly for any `n`
/// through the transfer matrix of the rest of the ring.
///
/// # Errors
/// [`Error::InvalidParameter`] when block + buffer leave no environment or exceed
/// [`MAX_RING_REGION`] sites.
pub fn ring(n: u64, b: usize, rule: &Rule, k: f64, h: f64, w: u32) -> Result<MutualInformation> {
    let r = b + 2 * w as usize;
    if r as u64 >= n {
        return Err(Error::invalid(
            "buffer",
            format!("block ({b}) and buffer (2 × {w}) leave no environment on a ring of {n} sites"),
        ));
    }
    if r > MAX_RING_REGION {
        return Err(Error::invalid(
            "buffer",
            format!("block + buffer must be at most {MAX_RING_REGION} sites (got {r})"),
        ));
    }
    // (T^m)_{st}, normalized per step to stay finite
    let m = n - r as u64 - 1;
    // T scaled by e^{−max exponent} (a constant factor the normalization removes anyway)
    let exponent = |s: f64, u: f64| k * s * u + 0.5 * h * (s + u);
    let top = [(-1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)]
        .iter()
        .map(|&(s, u)| exponent(s, u))
        .fold(f64::NEG_INFINITY, f64::max);
    let t = |s: f64, u: f64| (exponent(s, u) - top).exp();
    let base = [[t(-1.0, -1.0), t(-1.0, 1.0)], [t(1.0, -1.0), t(1.0, 1.0)]];
    let mul = |a: [[f64; 2]; 2], c: [[f64; 2]; 2]| {
        let mut o = [[0.0; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                o[i][j] = a[i][0] * c[0][j] + a[i][1] * c[1][j];
            }
        }
        let scale = o.iter().flatten().fold(0.0f64, |x, &y| x.max(y));
        o.map(|row| row.map(|x| x / scale))
    };
    let (mut power, mut acc, mut e) = (base, [[1.0, 0.0], [0.0, 1.0]], m);
    while e > 0 {
        if e & 1 == 1 {
            acc = mul(acc, power);
        }
        power = mul(power, power);
        e >>= 1;
    }
    // the path e_L, left buffer, V, right buffer, e_R: bits 0 … r + 1, V at w + 1 …; when
    // one environment site is left (m = 0), e_L and e_R are that site and T⁰ = 1 keeps
    // only equal values
    let mut joint = [vec![0.0; 4], vec![0.0; 4]];
    let sites = r + 2;
    // ln of each path's weight, shifted by the largest so that no weight overflows or all
    // underflow (frustrated K < 0 with a field keeps the maximum far below the bound)
    let log_weight: Vec<f64> = (0..1u64 << sites)
        .map(|x| {
            let (el, er) = (spin(x, 0), spin(x, sites - 1));
            let mut energy = 0.5 * h * (el + er);
            for i in 0..sites - 1 {
                energy += k * spin(x, i) * spin(x, i + 1);
            }
            for i in 1..sites - 1 {
                energy += h * spin(x, i);
            }
            let (il, ir) = ((x & 1) as usize, (x >> (sites - 1) & 1) as usize);
            energy + acc[ir][il].ln()
        })
        .collect();
    let shift = log_weight.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for x in 0..1u64 << sites {
        let (il, ir) = ((x & 1) as usize, (x >> (sites - 1) & 1) as usize);
        let weight = (log_weight[x as usize] - shift).exp();
        let vb = ((x >> (w as usize + 1)) & ((1u64 << b) - 1)) as u32;
        for (hi, y) in [-1i8, 1].into_iter().enumerate() {
            joint[hi][il | ir << 1] += weight * rule.weight(y, vb, b);
        }
    }
    Ok(MutualInformation {
        mean: information(&joint),
        error: 0.0,
        method: Method::Exact,
        how: "ring transfer matrix".into(),
        buffer: w,
        block_sites: b,
        buffer_sites: 2 * w as usize,
        boundary_sites: if n == r as u64 + 1 { 1 } else { 2 },
        equilibration: None,
    })
}

/// How to compute I: `auto` is exact wherever that is feasible (the chain's ring method,
/// enumeration up to [`MAX_ENUMERATED_SITES`] sites) and sampled otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Choice {
    /// Exact where feasible, else sampled.
    #[default]
    Auto,
    /// Exact or an error.
    Exact,
    /// Sampled environments.
    Sampled,
}

/// Whether the ring method applies: a chain with the block at sites 0…b−1.
fn ring_applies(lat: &Lattice, block: &[u32]) -> bool {
    lat.kind() == LatticeKind::Chain && block.iter().enumerate().all(|(i, &s)| s == i as u32)
}

/// Whether [`exact`] can compute I for this block.
pub fn exact_feasible(lat: &Lattice, block: &[u32], w: u32) -> bool {
    (ring_applies(lat, block) && block.len() + 2 * w as usize <= MAX_RING_REGION)
        || lat.sites() <= MAX_ENUMERATED_SITES
}

/// I(H:E) for block 0 of `lat` (its sites `block`), exactly: the ring method on the chain,
/// enumeration elsewhere.
///
/// # Errors
/// As [`ring`] and [`enumerated`].
pub fn exact(
    lat: &Lattice,
    block: &[u32],
    rule: &Rule,
    k: f64,
    h: f64,
    w: u32,
) -> Result<MutualInformation> {
    if ring_applies(lat, block) {
        ring(lat.sites(), block.len(), rule, k, h, w)
    } else {
        enumerated(lat, block, rule, k, h, w)
    }
}

/// The fix a drift warning of the sampled estimator's environment chains names.
pub const ENVIRONMENT_FIX: &str = "the environment chains thermalize 1000 heat-bath sweeps, too few for this lattice and coupling; use a smaller --size or more --environments";

/// Largest block + buffer of the sampled estimator (its p(H|∂E) enumerates them).
pub const MAX_SAMPLED_REGION: usize = 20;

/// How the sampled estimator runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// Independent chains (the jackknife's blocks).
    pub chains: u32,
    /// Environments measured per chain.
    pub measurements: u32,
    /// Sweeps between measurements.
    pub every: u32,
    /// Sweeps before the first one.
    pub thermalize: u32,
    /// Seed.
    pub seed: u64,
    /// Device.
    pub backend: crate::backend::LatticeBackend,
}

/// I(H:E) estimated from environments drawn by the lattice sampler (heat bath, any
/// backend): p(H|∂E) = Σ_{V,B} Λ(H|V) p(V,B|∂E) exactly by enumerating block and buffer given
/// the sampled boundary, then I = E_E[Σ_H p(H|E) ln p(H|E)] − Σ_H p(H) ln p(H) with
/// p(H) = E_E[p(H|E)]; the error is the jackknife over chains.
///
/// # Errors
/// [`Error::InvalidParameter`] for a buffer leaving no environment, a block + buffer over
/// [`MAX_SAMPLED_REGION`] sites, fewer than 2 chains or no measurements; backend errors.
#[allow(clippy::too_many_arguments)]
pub fn sampled(
    lat: &Lattice,
    block: &[u32],
    rule: &Rule,
    k: f64,
    h: f64,
    w: u32,
    how: &Sampling,
    notice: &mut dyn FnMut(&str),
) -> Result<MutualInformation> {
    use crate::backend::{self, ChainSpec, Kernel, Start};
    use crate::model::{Algorithm, Model, Units};
    let (v, b, e) = regions(lat, block, w)?;
    let inner: Vec<u32> = v.iter().chain(&b).copied().collect();
    if inner.len() > MAX_SAMPLED_REGION {
        return Err(Error::invalid(
            "buffer",
            format!(
                "block + buffer must be at most {MAX_SAMPLED_REGION} sites for the sampled estimate (got {})",
                inner.len()
            ),
        ));
    }
    if how.chains < 2 || how.measurements == 0 || how.every == 0 {
        return Err(Error::invalid(
            "mutual-information",
            "the sampled estimate needs at least 2 chains, 1 measurement and 1 sweep between them",
        ));
    }
    let pos = |s: u32| inner.iter().position(|&t| t == s);
    let epos = |s: u32| e.iter().position(|&t| t == s);
    // bonds inside V ∪ B, and from V ∪ B to ∂E
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for (i, &s) in inner.iter().enumerate() {
        let (nb, z) = lat.neighbours(s);
        for &t in &nb[..z] {
            match (pos(t), epos(t)) {
                (Some(j), _) if j > i => inside.push((i, j)),
                (None, Some(j)) => outside.push((i, j)),
                _ => {}
            }
        }
    }
    let n_inner = inner.len();
    let base: Vec<f64> = (0..1u64 << n_inner)
        .into_par_iter()
        .map(|x| {
            inside
                .iter()
                .map(|&(i, j)| k * spin(x, i) * spin(x, j))
                .sum::<f64>()
                + (0..n_inner).map(|i| h * spin(x, i)).sum::<f64>()
        })
        .collect();
    let nv = v.len();
    let lambda: Vec<[f64; 2]> = (0..1u32 << nv)
        .map(|vb| [rule.weight(-1, vb, nv), rule.weight(1, vb, nv)])
        .collect();
    // one pass per boundary, no buffer: weights are shifted by an upper bound of the
    // exponent (the largest inner energy plus every boundary bond satisfied), at most
    // 2|K|·(boundary bonds) above the true maximum, so nothing overflows
    let top =
        base.iter().copied().fold(f64::NEG_INFINITY, f64::max) + k.abs() * outside.len() as f64;
    let conditional = |eb: &[f64]| -> [f64; 2] {
        let (mut p, mut z) = ([0.0; 2], 0.0);
        for (x, &b0) in base.iter().enumerate() {
            let lw = b0
                + outside
                    .iter()
                    .map(|&(i, j)| k * spin(x as u64, i) * eb[j])
                    .sum::<f64>();
            let wgt = (lw - top).exp();
            let l = lambda[x & ((1 << nv) - 1)];
            p[0] += wgt * l[0];
            p[1] += wgt * l[1];
            z += wgt;
        }
        [p[0] / z, p[1] / z]
    };
    let model = Model::new(*lat, Units::Spin, 1.0, k, h)?;
    let spec = ChainSpec::new(model, Algorithm::HeatBath, how.chains, how.seed, Start::Hot)?;
    let mut sampler = backend::open(how.backend, Kernel::Reference, spec, notice)?;
    sampler.set_thermalizing(true);
    // thermalize in pieces of about 10^7 site updates, checking for a stop between them
    let piece = (10_000_000 / (lat.sites() * how.chains as u64).max(1)).clamp(1, 1000) as u32;
    let mut left = how.thermalize;
    while left > 0 {
        crate::interrupt::check()?;
        let now = left.min(piece);
        sampler.advance(now, 0)?;
        left -= now;
    }
    sampler.set_thermalizing(false);
    let n = lat.sites() as usize;
    // the drift test's series, measurement-major
    let (mut entropy_series, mut abs_m) = (Vec::new(), Vec::new());
    let chains = how.chains as usize;
    // per chain: Σ_E Σ_H p ln p and Σ_E p(H|E)
    let mut entropy = vec![0.0; chains];
    let mut mean = vec![[0.0; 2]; chains];
    let mut cache: std::collections::HashMap<u64, [f64; 2]> = std::collections::HashMap::new();
    let task = crate::interrupt::Task::new("environments", how.measurements as u64);
    for _ in 0..how.measurements {
        task.advance(1)?;
        sampler.advance(how.every, 0)?;
        let bits = sampler.configurations()?;
        for c in 0..chains {
            let state = &bits[c * n..(c + 1) * n];
            let key = e
                .iter()
                .enumerate()
                .fold(0u64, |a, (q, &s)| a | ((state[s as usize] & 1) as u64) << q);
            let p = *cache.entry(key).or_insert_with(|| {
                let eb: Vec<f64> = e
                    .iter()
                    .map(|&s| {
                        if state[s as usize] & 1 == 1 {
                            1.0
                        } else {
                            -1.0
                        }
                    })
                    .collect();
                conditional(&eb)
            });
            let plnp = p
                .iter()
                .filter(|&&x| x > 0.0)
                .map(|&x| x * x.ln())
                .sum::<f64>();
            entropy[c] += plnp;
            entropy_series.push(plnp);
            let ones = state.iter().filter(|&&b| b & 1 == 1).count() as f64;
            abs_m.push(((2.0 * ones - n as f64) / n as f64).abs());
            mean[c][0] += p[0];
            mean[c][1] += p[1];
        }
    }
    let m = how.measurements as f64;
    let estimate = |skip: Option<usize>| -> f64 {
        let used: Vec<usize> = (0..chains).filter(|&c| Some(c) != skip).collect();
        let total = used.len() as f64 * m;
        let a: f64 = used.iter().map(|&c| entropy[c]).sum::<f64>() / total;
        let ph = [
            used.iter().map(|&c| mean[c][0]).sum::<f64>() / total,
            used.iter().map(|&c| mean[c][1]).sum::<f64>() / total,
        ];
        a - ph
            .iter()
            .filter(|&&x| x > 0.0)
            .map(|&x| x * x.ln())
            .sum::<f64>()
    };
    let full = estimate(None);
    let reps: Vec<f64> = (0..chains).map(|c| estimate(Some(c))).collect();
    let g = chains as f64;
    let bar = reps.iter().sum::<f64>() / g;
    let var = reps.iter().map(|r| (r - bar).powi(2)).sum::<f64>() * (g - 1.0) / g;
    let shape = crate::stats::Shape {
        n_time: how.measurements as usize,
        n_chains: chains,
    };
    let equilibration = crate::equilibration::Equilibration::test(
        &[
            ("conditional_entropy", &entropy_series),
            ("abs_magnetization_per_site", &abs_m),
        ],
        shape,
    );
    Ok(MutualInformation {
        equilibration: Some(equilibration),
        mean: g * full - (g - 1.0) * bar,
        error: var.sqrt(),
        method: Method::Sampled,
        how: format!(
            "{} chains x {} environments of the heat-bath sampler, p(H|boundary) enumerated",
            how.chains, how.measurements
        ),
        buffer: w,
        block_sites: v.len(),
        buffer_sites: b.len(),
        boundary_sites: e.len(),
    })
}

/// The stochastic rule that keeps the most information: the λ in the box |λ_i| ≤ λ_max
/// maximising I(H:E).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LambdaOptimum {
    /// λ*.
    pub lambda: Vec<f64>,
    /// I(H:E) at λ* (nats).
    pub mutual_information: f64,
    /// Whether λ* lies on the box's edge (some |λ_i| = λ_max): the supremum may then lie
    /// outside, typically as |λ| → ∞ towards a decimation-like rule (physics.md §7).
    pub on_edge: bool,
    /// The box half-width.
    pub lambda_max: f64,
    /// Evaluations of I.
    pub evaluations: usize,
}

/// Maximises `mi(λ)` over the box |λ_i| ≤ `lambda_max` for a block of `sites` sites, by a
/// documented robust search: a grid of G points per axis (G^sites ≤ 729, G ≥ 3, the box's
/// corners and centre included), then a compass (pattern) search from the best grid point:
/// try ± step along every axis, clamped to the box, move on improvement, halve the step
/// otherwise, until the step is below 10⁻⁷ λ_max. I is smooth in λ, so this finds the
/// maximum the grid brackets; the grid guards against the local maxima a pure local method
/// could stop at.
///
/// # Errors
/// [`Error::InvalidParameter`] (`lambda-max`) unless it is finite and positive; those of
/// `mi`.
pub fn optimize_lambda(
    sites: usize,
    lambda_max: f64,
    mi: &dyn Fn(&[f64]) -> Result<f64>,
) -> Result<LambdaOptimum> {
    if !(lambda_max.is_finite() && lambda_max > 0.0) {
        return Err(Error::invalid(
            "lambda-max",
            format!("must be a finite number > 0 (got {lambda_max})"),
        ));
    }
    if sites == 0 {
        return Err(Error::invalid("lambda", "the block has no sites"));
    }
    let mut g = 3usize;
    while (g + 1).checked_pow(sites as u32).is_some_and(|n| n <= 729) {
        g += 1;
    }
    let axis = |i: usize| -lambda_max + 2.0 * lambda_max * i as f64 / (g - 1) as f64;
    let mut evaluations = 0;
    let task = crate::interrupt::Task::new("mutual-information evaluations", 0);
    let mut eval = |l: &[f64]| -> Result<f64> {
        evaluations += 1;
        task.advance(1)?;
        mi(l)
    };
    let (mut best, mut best_i) = (vec![0.0; sites], f64::NEG_INFINITY);
    let total = g.pow(sites as u32);
    for idx in 0..total {
        let mut rest = idx;
        let l: Vec<f64> = (0..sites)
            .map(|_| {
                let v = axis(rest % g);
                rest /= g;
                v
            })
            .collect();
        let i = eval(&l)?;
        if i > best_i {
            best_i = i;
            best = l;
        }
    }
    let mut step = 2.0 * lambda_max / (g - 1) as f64;
    while step > 1e-7 * lambda_max {
        let mut moved = false;
        for d in 0..sites {
            for sign in [1.0, -1.0] {
                let mut l = best.clone();
                l[d] = (l[d] + sign * step).clamp(-lambda_max, lambda_max);
                if l[d] == best[d] {
                    continue;
                }
                let i = eval(&l)?;
                if i > best_i {
                    best_i = i;
                    best = l;
                    moved = true;
                }
            }
        }
        if !moved {
            step *= 0.5;
        }
    }
    Ok(LambdaOptimum {
        on_edge: best.iter().any(|x| x.abs() >= lambda_max * (1.0 - 1e-6)),
        lambda: best,
        mutual_information: best_i,
        lambda_max,
        evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u32) -> Lattice {
        Lattice::new(LatticeKind::Chain, n).unwrap()
    }

    /// physics.md §7's table (independent enumeration and transfer-matrix code).
    #[test]
    fn ring_values_of_physics_md() {
        let cases: [(u64, f64, f64, usize, u32, Rule, f64); 5] = [
            (
                12,
                0.6,
                0.0,
                2,
                1,
                Rule::Stochastic(vec![0.7, 1.1]),
                0.044574383637,
            ),
            (12, 0.5, 0.0, 2, 1, Rule::Decimation, 0.027725508119),
            (13, 0.4, 0.0, 3, 2, Rule::Majority, 0.000992975061),
            (
                14,
                0.8,
                0.0,
                2,
                2,
                Rule::Stochastic(vec![1.5, -0.4]),
                0.041027979302,
            ),
            (12, 0.6, 0.3, 2, 1, Rule::Majority, 0.013541713781),
        ];
        for (n, k, h, b, w, rule, want) in cases {
            let got = ring(n, b, &rule, k, h, w).unwrap().mean;
            assert!(
                (got - want).abs() < 1e-11,
                "N={n} {rule:?}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn ring_equals_enumeration() {
        for (n, b, w, k, h) in [
            (12u32, 2usize, 1u32, 0.6, 0.0),
            (10, 2, 2, 0.9, -0.2),
            (12, 3, 2, 0.4, 0.1),
        ] {
            for rule in [
                Rule::Decimation,
                Rule::Majority,
                Rule::Stochastic(vec![0.3; b]),
            ] {
                let block: Vec<u32> = (0..b as u32).collect();
                let a = ring(n as u64, b, &rule, k, h, w).unwrap().mean;
                let e = enumerated(&chain(n), &block, &rule, k, h, w).unwrap().mean;
                assert!(
                    (a - e).abs() < 1e-12,
                    "N={n} b={b} w={w} {rule:?}: {a} vs {e}"
                );
            }
        }
    }

    #[test]
    fn information_falls_with_the_buffer_and_vanishes_without_coupling() {
        let r = Rule::Decimation;
        let i: Vec<f64> = (0..4)
            .map(|w| ring(40, 2, &r, 0.7, 0.0, w).unwrap().mean)
            .collect();
        assert!(i.windows(2).all(|p| p[1] < p[0]), "{i:?}");
        assert!(ring(40, 2, &r, 0.0, 0.3, 1).unwrap().mean.abs() < 1e-15);
        // a long ring is fine: the transfer matrix, not 2^N
        assert!(ring(1 << 40, 2, &r, 0.7, 0.0, 1).unwrap().mean > 0.0);
        assert!(ring(6, 2, &r, 0.7, 0.0, 2).is_err());
    }

    #[test]
    fn square_enumeration_has_a_boundary_and_is_positive() {
        let lat = Lattice::new(LatticeKind::Square, 4).unwrap();
        // 4×4 torus, 2×2 block at the origin, buffer 0: ∂E are the block's outer neighbours
        let block = [0u32, 1, 4, 5];
        let m = enumerated(&lat, &block, &Rule::Majority, 0.4, 0.0, 0).unwrap();
        assert_eq!((m.buffer_sites, m.boundary_sites), (0, 8));
        assert!(m.mean > 0.0 && m.mean < 2f64.ln(), "{m:?}");
        // buffer 1 covers the whole 4×4 torus: refused by name
        assert!(matches!(
            enumerated(&lat, &block, &Rule::Majority, 0.4, 0.0, 1),
            Err(Error::InvalidParameter { param, .. }) if param == "buffer"
        ));
    }

    #[test]
    fn optimized_lambda_beats_a_fine_grid() {
        let mi =
            |l: &[f64]| ring(14, 2, &Rule::Stochastic(l.to_vec()), 0.8, 0.0, 2).map(|m| m.mean);
        let opt = optimize_lambda(2, 4.0, &mi).unwrap();
        // an independent 161 × 161 grid search of the same box
        let mut grid_best = f64::NEG_INFINITY;
        for i in 0..=160 {
            for j in 0..=160 {
                let l = [-4.0 + 0.05 * i as f64, -4.0 + 0.05 * j as f64];
                grid_best = grid_best.max(mi(&l).unwrap());
            }
        }
        assert!(
            opt.mutual_information >= grid_best - 1e-12,
            "{opt:?} vs {grid_best}"
        );
        // physics.md §7: on these rings the maximum is on the box's edge
        assert!(opt.on_edge, "{opt:?}");
        assert!(optimize_lambda(2, f64::NAN, &mi).is_err());
    }

    #[test]
    fn sampled_estimate_agrees_with_the_exact_value() {
        let how = Sampling {
            chains: 16,
            measurements: 400,
            every: 4,
            thermalize: 200,
            seed: 9,
            backend: crate::backend::LatticeBackend::Cpu,
        };
        // ring: physics.md §7, N = 12, K = 0.5, decimation, w = 1
        let lat = chain(12);
        let want = 0.027725508119;
        let m = sampled(
            &lat,
            &[0, 1],
            &Rule::Decimation,
            0.5,
            0.0,
            1,
            &how,
            &mut |_| {},
        )
        .unwrap();
        let z = (m.mean - want) / m.error;
        eprintln!("ring: {} ± {} vs {want} (z = {z:.2})", m.mean, m.error);
        assert!(m.error > 0.0 && m.error < 0.002, "{m:?}");
        assert!(z.abs() < 5.0, "{m:?}: z = {z}");
        // 4×4 square, majority, buffer 0: against enumeration
        let sq = Lattice::new(LatticeKind::Square, 4).unwrap();
        let block = [0u32, 1, 4, 5];
        let exact = enumerated(&sq, &block, &Rule::Majority, 0.3, 0.1, 0)
            .unwrap()
            .mean;
        let m = sampled(&sq, &block, &Rule::Majority, 0.3, 0.1, 0, &how, &mut |_| {}).unwrap();
        let z = (m.mean - exact) / m.error;
        assert!(m.error > 0.0 && m.error < 0.02, "{m:?}");
        assert!(z.abs() < 5.0, "{m:?} vs {exact}: z = {z}");
    }
}
