//! Cluster algorithms: Swendsen–Wang (CPU twin of `shaders/cluster.wgsl`) and Wolff (CPU).
//!
//! **Ising language.** Both work on `βE = −K Σ s_i s_j − H Σ s_i` with `s = 2b − 1`
//! ([`crate::model::Model::spin_couplings`]; bernoulli units map to K = βJ/4,
//! H = β(Jz/4 + h/2)). A bond is *satisfied* when `K s_i s_j > 0` (equal bits for K > 0,
//! unequal for K < 0) and becomes a Fortuin–Kasteleyn bond with probability
//! `p = 1 − e^{−2|K|}`. The field is a bond to a ghost spin fixed at `sign(H)`: a site whose
//! spin points along H is bonded to the ghost with `p_g = 1 − e^{−2|H|}`, and the cluster
//! holding the ghost is never flipped. This is exact: conditioned on the bonds, every
//! cluster not holding the ghost takes either orientation with equal probability.
//! Probabilities are u32 thresholds ([`crate::model::threshold`]) compared with raw Philox
//! words, as in the single-site kernels.
//!
//! **Swendsen–Wang sweep `s`, chain `c`.** Site `i` draws
//! `w = philox4x32_10([i, s, c, 0x30], seed)`: word `a` decides its `a`-th forward bond
//! (order of [`crate::lattice::Lattice::forward_neighbours`]: +x, +y, +z, then (+1, −1) on
//! the triangular lattice), word 3 its ghost bond. Nodes are keyed 0 (ghost) and `i + 1`
//! (site i); union–find links the larger root under the smaller, so each cluster's root is
//! its smallest key: the ghost, or its smallest site plus one. That canonical label does not
//! depend on the order of the unions, so the GPU's concurrent labelling ends in the same
//! partition and the same labels. A cluster whose smallest site is `r` flips iff the top bit
//! of `philox4x32_10([r, s, c, 0x31], seed)[0]` is set.
//!
//! **Wolff sweep `s`, chain `c`.** A fixed number of clusters per sweep, chosen before the
//! run so that a sweep flips about N sites ([`wolff_clusters_per_sweep`]); the results
//! report clusters per sweep and the mean cluster size. A sweep is *not* "clusters until
//! their sizes add up to N": measuring at such a size-dependent stopping time weights each
//! state by the size of the clusters grown from it, which favours ordered states (measured:
//! the energy per site at K_c on a 16 × 16 torus came out 12 standard errors too low, and
//! exact with a fixed number). *Thermalization* sweeps (marked by
//! [`Sampler::set_thermalizing`]) are exactly that size-dependent rule, harmless while
//! nothing is measured: from a hot start the clusters are a few sites each, so a fixed
//! count sized for equilibrium (3 clusters at L = 128, K_c) would flip a few thousand of
//! 16,384 sites per sweep and 200 thermalization sweeps would leave the chains far from
//! equilibrium; a thermalization sweep instead flips at least N sites. Random words are
//! drawn in order from `philox4x32_10([d / 4, s, c, 0x32], seed)[d % 4]`, d = 0, 1, …: one
//! for each seed site (`⌊w N / 2³²⌋`), then, depth-first from the seed, for each site taken
//! into the cluster one for its ghost bond (only where H ≠ 0) and one for each of its z
//! neighbours in [`crate::lattice::Lattice::neighbours`] order, used where the bond is
//! satisfied and the neighbour not yet in the cluster (drawn for every neighbour so that the
//! ferromagnetic path is branch-free). A cluster that reaches the ghost is not flipped. Each
//! cluster move satisfies detailed balance; the state and the sweep counter are the whole
//! state, so a checkpoint at a sweep boundary resumes bit-identically.
//!
//! **Cluster sums.** After a measured sweep, [`ClusterSums`] holds the number of clusters,
//! Σ|C|, Σ|C|² and Σ|C|⁴ (Swendsen–Wang: all clusters but the ghost's; Wolff: the clusters
//! of the sweep), from which [`crate::observables`] builds the improved estimators.

use super::planes::{Simd, philox_batch};
use super::{BackendInfo, ChainSpec, Sampler, check_sweep_budget, initial_configuration};
use crate::error::Result;
use crate::lattice::Lattice;
use crate::model::{Algorithm, ClusterSums, Counts, Model, Trig, accept, threshold};
use crate::rng::{Purpose, seed_key, site_word};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU8, AtomicU32};

mod geometry;
mod sampler;
mod swendsen_wang;
mod union_find;
mod wolff;

use geometry::*;
use union_find::*;

pub use sampler::ClusterCpuSampler;
pub use wolff::wolff_clusters_per_sweep;

/// Sites from which a single chain's Swendsen–Wang sweep is split over the threads (below,
/// the synchronisation costs more than it saves).
const PARALLEL_SITES: usize = 1 << 12;

/// Sites whose Swendsen–Wang bond words are drawn in one batch.
const BATCH: usize = 8;

/// The bond rule of a model in Ising language (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bonds {
    /// Threshold of p = 1 − e^{−2|K|}.
    pub bond: u32,
    /// Whether a satisfied bond joins equal bits (K ≥ 0) or unequal ones (K < 0).
    pub aligned: bool,
    /// Threshold of p_g = 1 − e^{−2|H|}.
    pub ghost: u32,
    /// The bit that points along the field (1 for H > 0).
    pub ghost_bit: u8,
}

impl Bonds {
    /// The bond rule of `model`.
    pub fn new(model: &Model) -> Bonds {
        let (k, h) = model.spin_couplings();
        Bonds {
            bond: threshold(-(-2.0 * k.abs()).exp_m1()),
            aligned: k >= 0.0,
            ghost: threshold(-(-2.0 * h.abs()).exp_m1()),
            ghost_bit: (h > 0.0) as u8,
        }
    }

    /// Whether the bond between bits `a` and `b` is satisfied.
    #[inline(always)]
    pub fn satisfied(&self, a: u8, b: u8) -> bool {
        (a == b) == self.aligned
    }
}

/// Work arrays of the parallel single-chain Swendsen–Wang sweep.
#[derive(Default)]
struct SharedScratch {
    parent: Vec<AtomicU32>,
    flips: Vec<AtomicU8>,
    sizes: Vec<u32>,
}

impl SharedScratch {
    fn resize(&mut self, n: usize) {
        if self.parent.len() != n + 1 {
            self.parent = (0..=n).map(|_| AtomicU32::new(0)).collect();
            self.flips = (0..n).map(|_| AtomicU8::new(0)).collect();
        }
    }
}

/// Work arrays of one chain.
#[derive(Default)]
struct Scratch {
    parent: Vec<u32>,
    flips: Vec<u8>,
    sizes: Vec<u32>,
    stack: Vec<[u32; 3]>,
    pow2_stack: Vec<u32>,
    cluster: Vec<u32>,
    marked: Vec<bool>,
}

/// One sweep of one chain, with what identifies its random words.
#[derive(Clone, Copy)]
struct SweepContext<'a> {
    lat: &'a Lattice,
    bonds: Bonds,
    key: [u32; 2],
    sweep: u32,
    chain: u32,
    /// Wolff: clusters per sweep (0: until their sizes add up to N, the pilot's rule), and
    /// the purpose word of the stream (pilot or run).
    clusters: u32,
    purpose: u32,
}

#[cfg(test)]
mod tests {
    use super::wolff::{DRAW_BATCH, Draws};
    use super::*;
    use crate::backend::Start;
    use crate::lattice::LatticeKind;
    use crate::model::Units;

    #[test]
    fn power_of_two_neighbours_are_the_lattice_ones() {
        for (kind, l) in [
            (LatticeKind::Chain, 16),
            (LatticeKind::Square, 8),
            (LatticeKind::Cubic, 4),
        ] {
            let lat = Lattice::new(kind, l).unwrap();
            let g = Pow2::new(&lat).unwrap();
            for site in lat.site_iter() {
                assert_eq!(g.neighbours(site), lat.neighbours(site), "{kind:?} {site}");
            }
        }
        assert!(Pow2::new(&Lattice::new(LatticeKind::Square, 12).unwrap()).is_none());
    }

    #[test]
    fn fast_wolff_path_equals_the_general_one() {
        for (kind, l) in [(LatticeKind::Triangular, 6), (LatticeKind::Square, 8)] {
            let lat = Lattice::new(kind, l).unwrap();
            let model = Model::new(lat, Units::Spin, 0.3, 1.0, 0.0).unwrap();
            let spec = ChainSpec::new(model, Algorithm::Wolff, 1, 4, Start::Hot).unwrap();
            let bits = initial_configuration(&spec);
            let run = |fast: bool| {
                let mut b = bits.clone();
                let mut w = Scratch::default();
                let sums: Vec<ClusterSums> = (0..20)
                    .map(|sweep| {
                        let ctx = SweepContext {
                            lat: &lat,
                            bonds: Bonds::new(&model),
                            key: [1, 2],
                            sweep,
                            chain: 0,
                            clusters: 3,
                            purpose: Purpose::Wolff as u32,
                        };
                        ctx.wolff_with(&mut b, &mut w, fast)
                    })
                    .collect();
                (b, sums)
            };
            assert_eq!(run(true), run(false));
        }
    }

    #[test]
    fn parallel_swendsen_wang_equals_the_sequential_sweep() {
        for (kind, l, j, h) in [
            (LatticeKind::Square, 64, 1.0, 0.0),
            (LatticeKind::Triangular, 66, -1.0, 0.2),
            (LatticeKind::Cubic, 18, 1.0, -0.05),
        ] {
            let lat = Lattice::new(kind, l).unwrap();
            let model = Model::new(lat, Units::Spin, 0.3, j, h).unwrap();
            let spec = ChainSpec::new(model, Algorithm::SwendsenWang, 1, 6, Start::Hot).unwrap();
            let (mut a, mut b) = (initial_configuration(&spec), initial_configuration(&spec));
            let (mut w, mut shared) = (Scratch::default(), SharedScratch::default());
            for sweep in 0..6 {
                let ctx = SweepContext {
                    lat: &lat,
                    bonds: Bonds::new(&model),
                    key: [3, 4],
                    sweep,
                    chain: 0,
                    clusters: 0,
                    purpose: 0,
                };
                let sa = ctx.swendsen_wang(&mut a, &mut w, true);
                let sb = ctx.swendsen_wang_parallel(Simd::detect(), &mut b, &mut shared, true);
                assert_eq!((&a, sa), (&b, sb), "{kind:?} sweep {sweep}");
            }
        }
    }

    #[test]
    fn batched_wolff_draws_are_the_documented_stream() {
        let mut d = Draws {
            key: [7, 9],
            sweep: 3,
            chain: 2,
            purpose: Purpose::Wolff as u32,
            next: 0,
            block: [0; DRAW_BATCH],
        };
        for i in 0..100u32 {
            let want = crate::rng::philox4x32_10([i / 4, 3, 2, Purpose::Wolff as u32], [7, 9]);
            assert_eq!(d.next(), want[(i % 4) as usize]);
        }
    }

    #[test]
    fn union_find_roots_are_smallest_keys() {
        let mut p: Vec<u32> = (0..10).collect();
        union(&mut p, 7, 3);
        union(&mut p, 9, 7);
        union(&mut p, 5, 8);
        union(&mut p, 8, 9);
        for x in [3, 5, 7, 8, 9] {
            assert_eq!(find(&mut p, x), 3);
        }
        assert_eq!(find(&mut p, 4), 4);
    }

    #[test]
    fn bernoulli_bonds_are_those_of_the_mapped_spin_model() {
        let lat = Lattice::new(LatticeKind::Square, 4).unwrap();
        let b = Model::new(lat, Units::Bernoulli, 0.5, 4.0, -4.0).unwrap();
        // K = 0.5, H = 0.5 (4 + (-2)) = 1
        let s = Model::new(lat, Units::Spin, 0.5, 1.0, 2.0).unwrap();
        assert_eq!(Bonds::new(&b), Bonds::new(&s));
        let af = Bonds::new(&Model::new(lat, Units::Spin, 1.0, -0.3, -0.2).unwrap());
        assert!(!af.aligned && af.ghost_bit == 0 && af.satisfied(0, 1));
    }

    #[test]
    fn infinite_coupling_clusters_span_and_cold_start_stays_ordered_without_flips() {
        // K large: every satisfied bond is taken, so a cold start is one cluster per sweep
        let lat = Lattice::new(LatticeKind::Square, 8).unwrap();
        let model = Model::new(lat, Units::Spin, 40.0, 1.0, 0.0).unwrap();
        for algorithm in [Algorithm::SwendsenWang, Algorithm::Wolff] {
            let spec = ChainSpec::new(model, algorithm, 3, 9, Start::Cold).unwrap();
            let mut s = ClusterCpuSampler::new(spec).unwrap();
            for c in s.advance(20, 1).unwrap() {
                assert_eq!(c.cluster.clusters, 1);
                assert_eq!(c.cluster.squares, 64 * 64);
                assert!(c.ones == 0 || c.ones == 64);
            }
        }
    }
}
