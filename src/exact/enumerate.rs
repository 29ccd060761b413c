//! Brute-force enumeration of all 2^N configurations of a small lattice.
//!
//! Any model is a function of the integer counts (n1, n11) of a configuration (see
//! [`crate::model`]), so one pass records how many configurations have each (n1, n11);
//! exact thermal averages for any units, β, J and h follow from that table.

use crate::error::{Error, Result};
use crate::lattice::Lattice;
use crate::model::{Counts, Model};
use std::collections::BTreeMap;

/// The class of a configuration: its (n1, n11).
type Class = (u64, u64);

/// Largest number of sites enumerated (2^24 ≈ 1.7·10⁷ configurations).
pub const MAX_SITES: u64 = 24;

/// Number of configurations with each (n1, n11).
#[derive(Clone, Debug)]
pub struct DensityOfStates {
    lattice: Lattice,
    /// (n1, n11) → multiplicity.
    pub multiplicity: BTreeMap<(u64, u64), u64>,
}

/// Exact thermal averages.
#[derive(Clone, Copy, Debug)]
pub struct Thermal {
    /// ln Z.
    pub ln_z: f64,
    /// ⟨E⟩ / N.
    pub energy_per_site: f64,
    /// β² Var(E) / N.
    pub specific_heat_per_site: f64,
    /// ⟨Σx⟩ / N in the model's units.
    pub magnetization_per_site: f64,
    /// ⟨|m_s|⟩, m_s = Σ(2b − 1)/N.
    pub abs_spin_magnetization: f64,
    /// ⟨m_s²⟩.
    pub m2: f64,
    /// ⟨m_s⁴⟩.
    pub m4: f64,
}

/// Bit masks of the forward neighbours of each site.
fn forward_masks(lattice: &Lattice) -> Vec<u64> {
    lattice
        .site_iter()
        .map(|s| {
            let (f, k) = lattice.forward_neighbours(s);
            f[..k].iter().fold(0u64, |m, &t| m | 1 << t)
        })
        .collect()
}

/// Counts of the configuration whose bit i is site i's bit.
pub fn counts_of_state(masks: &[u64], state: u64) -> Counts {
    let mut n11 = 0;
    let mut rest = state;
    while rest != 0 {
        let i = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        n11 += (state & masks[i]).count_ones() as u64;
    }
    Counts {
        ones: state.count_ones() as u64,
        ones_bonds: n11,
        ..Default::default()
    }
}

fn check_size(lattice: &Lattice) -> Result<()> {
    if lattice.sites() > MAX_SITES {
        return Err(Error::invalid(
            "size",
            format!(
                "enumeration handles at most {MAX_SITES} sites (got {})",
                lattice.sites()
            ),
        ));
    }
    Ok(())
}

impl DensityOfStates {
    /// Enumerates every configuration.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for more than [`MAX_SITES`] sites.
    pub fn new(lattice: Lattice) -> Result<Self> {
        check_size(&lattice)?;
        let masks = forward_masks(&lattice);
        let mut multiplicity = BTreeMap::new();
        for state in 0..1u64 << lattice.sites() {
            let c = counts_of_state(&masks, state);
            *multiplicity.entry((c.ones, c.ones_bonds)).or_insert(0) += 1;
        }
        Ok(DensityOfStates {
            lattice,
            multiplicity,
        })
    }

    /// ln(multiplicity · e^{−βE}) of each (n1, n11), and ln Z.
    fn log_weights(&self, model: &Model) -> (Vec<(Class, f64)>, f64) {
        assert_eq!(model.lattice, self.lattice);
        let logw: Vec<(Class, f64)> = self
            .multiplicity
            .iter()
            .map(|(&(n1, n11), &g)| {
                let e = model.energy(Counts {
                    ones: n1,
                    ones_bonds: n11,
                    ..Default::default()
                });
                ((n1, n11), (g as f64).ln() - model.beta * e)
            })
            .collect();
        let max = logw.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logw.iter().map(|x| (x.1 - max).exp()).sum();
        (logw, max + z.ln())
    }

    /// Exact probabilities of each (n1, n11) under `model` (same lattice).
    pub fn distribution(&self, model: &Model) -> BTreeMap<(u64, u64), f64> {
        let (logw, ln_z) = self.log_weights(model);
        logw.into_iter()
            .map(|(k, l)| (k, (l - ln_z).exp()))
            .collect()
    }

    /// Exact thermal averages under `model`.
    pub fn thermal(&self, model: &Model) -> Thermal {
        let n = self.lattice.sites() as f64;
        let (mut e1, mut e2, mut m1, mut am, mut m2, mut m4) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for ((n1, n11), p) in self.distribution(model) {
            let c = Counts {
                ones: n1,
                ones_bonds: n11,
                ..Default::default()
            };
            let e = model.energy(c);
            let ms = model.spin_magnetization_per_site(c);
            e1 += p * e;
            e2 += p * e * e;
            m1 += p * model.unit_sum(n1) / n;
            am += p * ms.abs();
            m2 += p * ms * ms;
            m4 += p * ms.powi(4);
        }
        Thermal {
            ln_z: self.log_weights(model).1,
            energy_per_site: e1 / n,
            specific_heat_per_site: model.beta * model.beta * (e2 - e1 * e1) / n,
            magnetization_per_site: m1,
            abs_spin_magnetization: am,
            m2,
            m4,
        }
    }
}

/// Exact probability of every configuration (index = bits, site i at bit i).
///
/// # Errors
/// [`Error::InvalidParameter`] for more than [`MAX_SITES`] sites.
pub fn state_probabilities(model: &Model) -> Result<Vec<f64>> {
    check_size(&model.lattice)?;
    let masks = forward_masks(&model.lattice);
    let logw: Vec<f64> = (0..1u64 << model.lattice.sites())
        .map(|s| -model.beta * model.energy(counts_of_state(&masks, s)))
        .collect();
    let max = logw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logw.iter().map(|l| (l - max).exp()).collect();
    let z: f64 = w.iter().sum();
    Ok(w.into_iter().map(|x| x / z).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::LatticeKind;
    use crate::model::Units;

    #[test]
    fn square_4x4_matches_kaufman() {
        let lat = Lattice::new(LatticeKind::Square, 4).unwrap();
        let dos = DensityOfStates::new(lat).unwrap();
        assert_eq!(dos.multiplicity.values().sum::<u64>(), 1 << 16);
        for k in [0.3, 0.4406868, 0.5] {
            let m = Model::new(lat, Units::Spin, k, 1.0, 0.0).unwrap();
            let t = dos.thermal(&m);
            let kf = crate::exact::kaufman::torus(k, 4, 4);
            assert!((t.energy_per_site - kf.energy_per_site()).abs() < 1e-12);
            assert!((t.specific_heat_per_site - kf.specific_heat_per_site(k)).abs() < 1e-11);
            assert!((t.ln_z - kf.ln_z).abs() < 1e-11);
        }
    }

    #[test]
    fn chain_matches_transfer_matrix_with_field() {
        let lat = Lattice::new(LatticeKind::Chain, 10).unwrap();
        let dos = DensityOfStates::new(lat).unwrap();
        let (beta, j, h) = (0.7, -0.9, 0.4);
        let m = Model::new(lat, Units::Spin, beta, j, h).unwrap();
        let lz = crate::exact::chain::ln_z(beta * j, beta * h, 10);
        assert!((dos.thermal(&m).ln_z - lz).abs() < 1e-12);
        let m0 = Model::new(lat, Units::Spin, beta, j, 0.0).unwrap();
        let u = crate::exact::chain::energy_per_site(beta * j, 10) * j;
        assert!((dos.thermal(&m0).energy_per_site - u).abs() < 1e-12);
    }

    #[test]
    fn lattice_gas_maps_to_ising() {
        // bernoulli J, h = -zJ/2  <=>  Ising with K = beta J / 4 and no field (physics.md §5d)
        let lat = Lattice::new(LatticeKind::Square, 4).unwrap();
        let dos = DensityOfStates::new(lat).unwrap();
        let (beta, j) = (0.9, 2.0);
        let gas = Model::new(lat, Units::Bernoulli, beta, j, -2.0 * j).unwrap();
        let ising = Model::new(lat, Units::Spin, beta * j / 4.0, 1.0, 0.0).unwrap();
        let (g, i) = (dos.thermal(&gas), dos.thermal(&ising));
        assert!((g.energy_per_site - (j / 4.0 * i.energy_per_site + 4.0 * j / 8.0)).abs() < 1e-12);
        assert!((g.specific_heat_per_site - i.specific_heat_per_site).abs() < 1e-12);
        assert!((g.m2 - i.m2).abs() < 1e-12);
    }
}
