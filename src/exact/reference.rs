//! The exact value of each observable of a [`Model`], where one is known, so that every
//! sampling run can be checked against it (`blockspin sample` prints them side by side).
//!
//! * any lattice with at most [`ENUMERATION_SITES`] sites: enumeration, every observable;
//! * square torus at zero Ising field: Kaufman, energy and specific heat;
//! * ring at zero Ising field: transfer matrix, energy and specific heat;
//! * ring at zero Ising field: transfer matrix, also ξ₂ from ⟨s₀s_r⟩ = (t^r + t^{L−r})/(1 + t^L);
//! * any lattice at zero Ising field: magnetisation 0 (spin) or density ½ (bernoulli).
//!
//! "Zero Ising field" means h = 0 for spins and h = −zJ/2 for bernoulli units (the
//! lattice-gas mapping, physics.md §5d: Ising coupling J/4, energy shifted by zJ/8 per
//! site). Antiferromagnets (J < 0) on these bipartite lattices map to ferromagnets by
//! flipping one sublattice, which leaves energy and specific heat unchanged.

use super::{
    chain,
    enumerate::{DensityOfStates, state_probabilities},
    kaufman,
};
use crate::lattice::LatticeKind;
use crate::model::{Model, Units};
use crate::observables::{fourier_axes, second_moment_length};
use serde::Serialize;

/// Largest lattice handled by enumeration here (2^20 configurations).
pub const ENUMERATION_SITES: u64 = 20;

/// Exact values of the observables reported by `blockspin sample` (same conventions).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Reference {
    /// Where the values come from.
    pub source: String,
    /// ⟨E⟩/N.
    pub energy_per_site: Option<f64>,
    /// ⟨Σx⟩/N.
    pub magnetization_per_site: Option<f64>,
    /// ⟨|Σx|⟩/N.
    pub abs_magnetization_per_site: Option<f64>,
    /// β² Var(E)/N.
    pub specific_heat_per_site: Option<f64>,
    /// βN(⟨m²⟩ − ⟨|m|⟩²).
    pub susceptibility_per_site: Option<f64>,
    /// 1 − ⟨m⁴⟩/(3⟨m²⟩²).
    pub binder_cumulant: Option<f64>,
    /// Second-moment correlation length ξ₂ (exact cosines, not the integer tables).
    #[serde(default)]
    pub correlation_length: Option<f64>,
}

impl Reference {
    /// The exact value of an observable by its results-file name.
    pub fn get(&self, observable: &str) -> Option<f64> {
        match observable {
            "energy_per_site" => self.energy_per_site,
            "magnetization_per_site" => self.magnetization_per_site,
            "abs_magnetization_per_site" => self.abs_magnetization_per_site,
            "specific_heat_per_site" => self.specific_heat_per_site,
            "susceptibility_per_site" => self.susceptibility_per_site,
            "binder_cumulant" => self.binder_cumulant,
            "correlation_length" => self.correlation_length,
            _ => None,
        }
    }
}

/// Exact reference values for `model`, if any are known: enumeration for small lattices,
/// else the closed forms.
pub fn reference(model: &Model) -> Option<Reference> {
    if model.lattice.sites() <= ENUMERATION_SITES {
        enumerated(model)
    } else {
        closed_form(model)
    }
}

/// Every observable by enumeration (lattices of at most [`ENUMERATION_SITES`] sites).
pub fn enumerated(model: &Model) -> Option<Reference> {
    let lat = model.lattice;
    if lat.sites() > ENUMERATION_SITES {
        return None;
    }
    let t = DensityOfStates::new(lat).ok()?.thermal(model);
    let n = lat.sites() as f64;
    let abs = match model.units {
        Units::Spin => t.abs_spin_magnetization,
        Units::Bernoulli => t.magnetization_per_site,
    };
    Some(Reference {
        source: format!("enumeration of all 2^{} configurations", lat.sites()),
        energy_per_site: Some(t.energy_per_site),
        magnetization_per_site: Some(t.magnetization_per_site),
        abs_magnetization_per_site: Some(abs),
        specific_heat_per_site: Some(t.specific_heat_per_site),
        susceptibility_per_site: Some(model.beta * n * (t.m2 - t.abs_spin_magnetization.powi(2))),
        binder_cumulant: Some(1.0 - t.m4 / (3.0 * t.m2 * t.m2)),
        correlation_length: enumerated_correlation_length(model),
    })
}

/// ξ₂ by enumeration: S(0) and S(k_min) as exact averages over all configurations.
fn enumerated_correlation_length(model: &Model) -> Option<f64> {
    let lat = model.lattice;
    let axes = fourier_axes(lat.kind());
    if axes == 0 {
        return None;
    }
    let p = state_probabilities(model).ok()?;
    let k = 2.0 * std::f64::consts::PI / lat.size() as f64;
    let phase: Vec<[(f64, f64); 2]> = lat
        .site_iter()
        .map(|s| {
            let [x, y, _] = lat.coords(s);
            let (x, y) = (k * x as f64, k * y as f64);
            [(x.cos(), x.sin()), (y.cos(), y.sin())]
        })
        .collect();
    let (mut s0, mut sk) = (0.0, 0.0);
    for (state, &w) in p.iter().enumerate() {
        let mut m = 0.0;
        let mut f = [(0.0, 0.0); 2];
        for (i, ph) in phase.iter().enumerate() {
            let spin = if state >> i & 1 == 1 { 1.0 } else { -1.0 };
            m += spin;
            for a in 0..axes {
                f[a].0 += spin * ph[a].0;
                f[a].1 += spin * ph[a].1;
            }
        }
        s0 += w * m * m;
        sk += w * f[..axes]
            .iter()
            .map(|(re, im)| re * re + im * im)
            .sum::<f64>()
            / axes as f64;
    }
    let n = lat.sites() as f64;
    second_moment_length(s0 / n, sk / n, lat.size())
}

/// ξ₂ of the L-site ring with Ising coupling K (either sign) at zero field:
/// ⟨s₀s_r⟩ = (t^r + t^{L−r})/(1 + t^L), t = tanh K.
pub fn ring_correlation_length(k: f64, l: u32) -> Option<f64> {
    let t = k.tanh();
    let q = 2.0 * std::f64::consts::PI / l as f64;
    let (mut s0, mut sk) = (0.0, 0.0);
    for r in 0..l {
        let g = (t.powi(r as i32) + t.powi((l - r) as i32)) / (1.0 + t.powi(l as i32));
        s0 += g;
        sk += g * (q * r as f64).cos();
    }
    second_moment_length(s0, sk, l)
}

/// Energy and specific heat from Kaufman (square) or the transfer matrix (ring) at zero
/// Ising field, any lattice size.
pub fn closed_form(model: &Model) -> Option<Reference> {
    let lat = model.lattice;
    // Ising coupling and the per-site energy shift of the lattice-gas mapping
    let z = lat.coordination() as f64;
    let (j_ising, shift) = match model.units {
        Units::Spin if model.field == 0.0 => (model.coupling, 0.0),
        Units::Bernoulli if model.field == -z * model.coupling / 2.0 => {
            (model.coupling / 4.0, z * model.coupling / 8.0)
        }
        _ => return None,
    };
    // zero Ising field: spin-flip symmetry fixes the magnetisation on every lattice
    let symmetric = Reference {
        source: "spin-flip symmetry".into(),
        magnetization_per_site: Some(if model.units == Units::Spin { 0.0 } else { 0.5 }),
        ..Default::default()
    };
    let k = model.beta * j_ising.abs();
    let l = lat.size();
    let xi = match lat.kind() {
        LatticeKind::Chain => ring_correlation_length(model.beta * j_ising, l),
        _ => None,
    };
    let (u, c, source) = match lat.kind() {
        // K = 0 (or β|J| underflowing to 0, or overflowing): no closed form is evaluated
        _ if j_ising == 0.0 || !(k > 0.0 && k.is_finite()) => return Some(symmetric),
        LatticeKind::Square => {
            let t = kaufman::torus(k, l, l);
            (
                t.energy_per_site(),
                t.specific_heat_per_site(k),
                format!("Kaufman's {l}x{l} torus"),
            )
        }
        LatticeKind::Chain => (
            chain::energy_per_site(k, l),
            chain::specific_heat_per_site(k, l),
            format!("transfer matrix of the {l}-site ring"),
        ),
        _ => return Some(symmetric),
    };
    let gas = if model.units == Units::Bernoulli {
        " via the lattice-gas mapping"
    } else {
        ""
    };
    Some(Reference {
        source: format!("{source}{gas}; magnetization by spin-flip symmetry"),
        energy_per_site: Some(j_ising.abs() * u + shift),
        specific_heat_per_site: Some(c),
        correlation_length: xi,
        ..symmetric
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::Lattice;

    #[test]
    fn ring_correlation_length_tends_to_the_infinite_chain() {
        // S(k) = (1 − t²)/(1 − 2t cos k + t²) on the infinite chain, so ξ₂ = √t/(1 − t)
        // exactly, for every L, once t^L is negligible
        for k in [0.3, 1.0, 1.5] {
            let t: f64 = f64::tanh(k);
            let xi = ring_correlation_length(k, 2000).unwrap();
            assert!(
                (xi - t.sqrt() / (1.0 - t)).abs() < 1e-9 * xi,
                "K = {k}: {xi}"
            );
        }
        // antiferromagnet: S(0) < S(k_min), undefined
        assert_eq!(ring_correlation_length(-0.5, 32), None);
    }

    #[test]
    fn references_agree_with_enumeration_where_both_apply() {
        // 4x4 square and 10-site ring: compare the closed forms with enumeration
        for (kind, size) in [(LatticeKind::Square, 4u32), (LatticeKind::Chain, 10)] {
            let lat = Lattice::new(kind, size).unwrap();
            let dos = DensityOfStates::new(lat).unwrap();
            for (units, beta, j) in [
                (Units::Spin, 0.4, 1.0),
                (Units::Spin, 0.3, -1.5),
                (Units::Bernoulli, 0.9, 2.0),
                (Units::Bernoulli, 0.5, -3.0),
            ] {
                let h = if units == Units::Spin {
                    0.0
                } else {
                    -(lat.coordination() as f64) * j / 2.0
                };
                let m = Model::new(lat, units, beta, j, h).unwrap();
                let t = dos.thermal(&m);
                let closed = closed_form(&m).unwrap();
                let e = closed.energy_per_site.unwrap();
                let c = closed.specific_heat_per_site.unwrap();
                assert!(
                    (e - t.energy_per_site).abs() < 1e-11,
                    "{kind} {units:?} {j}"
                );
                assert!(
                    (c - t.specific_heat_per_site).abs() < 1e-10,
                    "{kind} {units:?} {j}"
                );
                let en = enumerated(&m).unwrap();
                assert_eq!(en.energy_per_site, Some(t.energy_per_site));
                if kind == LatticeKind::Chain {
                    let (a, b) = (closed.correlation_length, en.correlation_length);
                    assert_eq!(a.is_some(), b.is_some(), "{units:?} {j}");
                    if let (Some(a), Some(b)) = (a, b) {
                        assert!((a - b).abs() < 1e-10 * a, "ring xi {a} vs enumeration {b}");
                    }
                }
            }
        }
        // a field breaks the closed forms; the symmetric point keeps the magnetisation
        let lat = Lattice::new(LatticeKind::Square, 8).unwrap();
        assert!(reference(&Model::new(lat, Units::Spin, 0.4, 1.0, 0.1).unwrap()).is_none());
        let cubic = Lattice::new(LatticeKind::Cubic, 4).unwrap();
        let r = reference(&Model::new(cubic, Units::Bernoulli, 0.4, 1.0, -3.0).unwrap()).unwrap();
        assert_eq!(
            (r.magnetization_per_site, r.energy_per_site),
            (Some(0.5), None)
        );
    }
}
