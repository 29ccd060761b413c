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
//! exact with a fixed number). Random words are
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

use super::lanes::{Simd, philox_lanes};
use super::{BackendInfo, ChainSpec, Sampler, check_sweep_budget, initial_configuration};
use crate::error::Result;
use crate::lattice::Lattice;
use crate::model::{Algorithm, ClusterSums, Counts, Model, Trig, accept, threshold};
use crate::rng::{Purpose, seed_key, site_word};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU8, AtomicU32};

/// Sites from which a single chain's Swendsen–Wang sweep is split over the threads (below,
/// the synchronisation costs more than it saves).
const PARALLEL_SITES: usize = 1 << 12;

/// Sites whose Swendsen–Wang bond words are drawn in one batch.
const LANES: usize = 8;

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

/// Root of `x`, halving the path on the way (every parent is at most its child).
#[inline(always)]
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    loop {
        let p = parent[x as usize];
        if p == x {
            return x;
        }
        let g = parent[p as usize];
        parent[x as usize] = g;
        x = g;
    }
}

/// Joins the sets of `a` and `b`, the larger root under the smaller.
#[inline(always)]
fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb) as usize] = ra.min(rb);
    }
}

/// How a cluster walk names sites and finds their neighbours ([`Lattice::neighbours`]
/// order).
trait Geometry {
    /// What the stack holds.
    type Node: Copy;
    fn node(&self, site: u32) -> Self::Node;
    fn site(&self, node: Self::Node) -> u32;
    fn neighbours(&self, node: Self::Node) -> ([Self::Node; 6], usize);
}

/// Any lattice: nodes carry coordinates, so neighbours need no division.
impl Geometry for Lattice {
    type Node = [u32; 3];
    #[inline(always)]
    fn node(&self, site: u32) -> [u32; 3] {
        self.coords(site)
    }
    #[inline(always)]
    fn site(&self, node: [u32; 3]) -> u32 {
        Lattice::site(self, node)
    }
    #[inline(always)]
    fn neighbours(&self, node: [u32; 3]) -> ([[u32; 3]; 6], usize) {
        self.neighbour_coords(node)
    }
}

/// Chain, square and cubic lattices with L a power of two: site indices with the
/// coordinates as bit fields, neighbours by masks.
#[derive(Clone, Copy)]
struct Pow2 {
    shift: u32,
    mask: u32,
    dimension: u32,
}

impl Pow2 {
    fn new(lat: &Lattice) -> Option<Pow2> {
        let l = lat.size();
        (l.is_power_of_two() && lat.kind() != crate::lattice::LatticeKind::Triangular).then(|| {
            Pow2 {
                shift: l.trailing_zeros(),
                mask: l - 1,
                dimension: lat.kind().dimension(),
            }
        })
    }
}

impl Geometry for Pow2 {
    type Node = u32;
    #[inline(always)]
    fn node(&self, site: u32) -> u32 {
        site
    }
    #[inline(always)]
    fn site(&self, node: u32) -> u32 {
        node
    }
    #[inline(always)]
    fn neighbours(&self, i: u32) -> ([u32; 6], usize) {
        let m = self.mask;
        let mut out = [i; 6];
        let step = |axis: u32, out: &mut [u32]| {
            let shift = axis * self.shift;
            let c = (i >> shift) & m;
            let rest = i & !(m << shift);
            out[0] = rest | ((c.wrapping_add(1) & m) << shift);
            out[1] = rest | ((c.wrapping_sub(1) & m) << shift);
        };
        step(0, &mut out[0..2]);
        if self.dimension > 1 {
            step(1, &mut out[2..4]);
        }
        if self.dimension > 2 {
            step(2, &mut out[4..6]);
        }
        (out, 2 * self.dimension as usize)
    }
}

/// The cluster sums of sizes indexed by root key (key 0, the ghost's, left out).
fn sums_of_sizes(sizes: &[u32]) -> ClusterSums {
    let mut sums = ClusterSums::default();
    for &s in &sizes[1..] {
        if s > 0 {
            sums.add(s as u64);
        }
    }
    sums
}

/// Root of `x` while other threads unite (no compression).
#[inline(always)]
fn find_atomic(parent: &[AtomicU32], mut x: u32) -> u32 {
    loop {
        let p = parent[x as usize].load(std::sync::atomic::Ordering::Relaxed);
        if p == x {
            return x;
        }
        x = p;
    }
}

/// The lock-free union of `shaders/cluster.wgsl` (`unite`): if `hi` stopped being a root
/// before the fetch_min, joining its old parent with `lo` keeps every connection.
#[inline(always)]
fn unite_atomic(parent: &[AtomicU32], a: u32, b: u32) {
    let (mut x, mut y) = (find_atomic(parent, a), find_atomic(parent, b));
    while x != y {
        let (lo, hi) = (x.min(y), x.max(y));
        let old = parent[hi as usize].fetch_min(lo, std::sync::atomic::Ordering::Relaxed);
        if old == hi {
            return;
        }
        x = find_atomic(parent, old);
        y = find_atomic(parent, lo);
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

impl SweepContext<'_> {
    /// One Swendsen–Wang sweep; the cluster sums if `measure`.
    /// The Swendsen–Wang bonds of the sites in `rows`: `unite(a, b)` for every activated
    /// bond between keys a and b (site i is key i + 1, the ghost key 0).
    #[inline(always)]
    fn bonds_of_rows(
        &self,
        bits: &[u8],
        rows: std::ops::Range<u32>,
        mut unite: impl FnMut(u32, u32),
    ) {
        let b = self.bonds;
        let lat = self.lat;
        let [l, ly, lz] = lat.dims();
        let triangular = lat.kind() == crate::lattice::LatticeKind::Triangular;
        let counter = |v: u32| [v; LANES];
        let mut words = [[0u32; LANES]; 4];
        let mut site = rows.start * l;
        let mut first_site = true;
        for row in rows {
            let (y, z) = (row % ly, row / ly);
            let yp = if y + 1 == ly { 0 } else { y + 1 };
            let ym = if y == 0 { ly - 1 } else { y - 1 };
            let zp = if z + 1 == lz { 0 } else { z + 1 };
            for x in 0..l {
                let lane = site as usize % LANES;
                if lane == 0 || first_site {
                    // the bond words of the batch of LANES sites holding this one
                    let start = site - lane as u32;
                    let first: [u32; LANES] = std::array::from_fn(|k| start.wrapping_add(k as u32));
                    words = philox_lanes::<LANES, 1>(
                        [[
                            first,
                            counter(self.sweep),
                            counter(self.chain),
                            counter(Purpose::SwendsenWangBonds as u32),
                        ]],
                        self.key,
                    )[0];
                    first_site = false;
                }
                let xp = if x + 1 == l { 0 } else { x + 1 };
                // forward neighbours in Lattice::forward_neighbours order
                let mut f = [0u32; 3];
                f[0] = lat.site([xp, y, z]);
                let mut d = 1;
                if ly > 1 {
                    f[d] = lat.site([x, yp, z]);
                    d += 1;
                }
                if lz > 1 {
                    f[d] = lat.site([x, y, zp]);
                    d += 1;
                }
                if triangular {
                    f[d] = lat.site([xp, ym, z]);
                    d += 1;
                }
                let bit = bits[site as usize];
                for (a, &j) in f[..d].iter().enumerate() {
                    if b.satisfied(bit, bits[j as usize]) && accept(words[a][lane], b.bond) {
                        unite(site + 1, j + 1);
                    }
                }
                if bit == b.ghost_bit && accept(words[3][lane], b.ghost) {
                    unite(site + 1, 0);
                }
                site += 1;
            }
        }
    }

    /// [`SweepContext::bonds_of_rows`] into a shared forest, compiled for AVX2 where the
    /// CPU has it (the batched Philox words vectorise).
    fn shared_bonds(
        &self,
        simd: Simd,
        bits: &[u8],
        rows: std::ops::Range<u32>,
        parent: &[AtomicU32],
    ) {
        match simd {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Simd::detect found AVX2 on this CPU.
            Simd::Wide => unsafe { self.shared_bonds_avx2(bits, rows, parent) },
            _ => self.bonds_of_rows(bits, rows, |a, b| unite_atomic(parent, a, b)),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn shared_bonds_avx2(&self, bits: &[u8], rows: std::ops::Range<u32>, parent: &[AtomicU32]) {
        self.bonds_of_rows(bits, rows, |a, b| unite_atomic(parent, a, b))
    }

    /// The flip bit of the cluster whose smallest site is `site`.
    #[inline(always)]
    fn cluster_flip(&self, site: u32) -> u8 {
        (site_word(
            self.key,
            site,
            self.sweep,
            self.chain,
            Purpose::SwendsenWangFlip,
        ) >> 31) as u8
    }

    /// One Swendsen–Wang sweep; the cluster sums if `measure`.
    #[inline(always)]
    fn swendsen_wang(&self, bits: &mut [u8], w: &mut Scratch, measure: bool) -> ClusterSums {
        let n = bits.len();
        w.parent.clear();
        w.parent.extend(0..=n as u32);
        w.flips.resize(n, 0);
        let parent = &mut w.parent;
        self.bonds_of_rows(bits, 0..self.lat.rows(), |a, b| union(parent, a, b));
        for i in 0..n {
            let r = find(&mut w.parent, i as u32 + 1);
            if r == i as u32 + 1 {
                w.flips[i] = self.cluster_flip(i as u32);
            }
            if r != 0 {
                bits[i] ^= w.flips[r as usize - 1];
            }
        }
        let mut sums = ClusterSums::default();
        if measure {
            w.sizes.clear();
            w.sizes.resize(n + 1, 0);
            for i in 0..n {
                let r = find(&mut w.parent, i as u32 + 1);
                w.sizes[r as usize] += 1;
            }
            sums = sums_of_sizes(&w.sizes);
        }
        sums
    }

    /// [`SweepContext::swendsen_wang`] for one chain on every thread: blocks of rows unite
    /// concurrently with the lock-free union of `shaders/cluster.wgsl` (the canonical labels
    /// make the result independent of the order), then every site finds and stores its root
    /// and the roots draw their flips, then the sites flip. Bit-identical to the sequential
    /// sweep.
    fn swendsen_wang_parallel(
        &self,
        simd: Simd,
        bits: &mut [u8],
        w: &mut SharedScratch,
        measure: bool,
    ) -> ClusterSums {
        use std::sync::atomic::Ordering::Relaxed;
        let n = bits.len();
        w.resize(n);
        let rows = self.lat.rows();
        let l = self.lat.size() as usize;
        let blocks = (8 * rayon::current_num_threads() as u32).min(rows);
        let per_block = rows.div_ceil(blocks);
        let (parent, flips) = (&w.parent, &w.flips);
        parent
            .par_iter()
            .enumerate()
            .for_each(|(k, p)| p.store(k as u32, Relaxed));
        (0..blocks).into_par_iter().for_each(|blk| {
            let r0 = (blk * per_block).min(rows);
            let r1 = ((blk + 1) * per_block).min(rows);
            self.shared_bonds(simd, bits, r0..r1, parent);
        });
        // every union is done: storing roots only shortens paths
        (0..n).into_par_iter().with_min_len(4096).for_each(|i| {
            let r = find_atomic(parent, i as u32 + 1);
            parent[i + 1].store(r, Relaxed);
            if r == i as u32 + 1 {
                flips[i].store(self.cluster_flip(i as u32), Relaxed);
            }
        });
        bits.par_chunks_mut(l).enumerate().for_each(|(row, chunk)| {
            for (x, b) in chunk.iter_mut().enumerate() {
                let r = parent[row * l + x + 1].load(Relaxed);
                if r != 0 {
                    *b ^= flips[r as usize - 1].load(Relaxed);
                }
            }
        });
        if !measure {
            return ClusterSums::default();
        }
        // every parent is a root now: one pass counts the sizes
        let sizes = &mut w.sizes;
        sizes.clear();
        sizes.resize(n + 1, 0);
        for p in &w.parent[1..] {
            sizes[p.load(Relaxed) as usize] += 1;
        }
        sums_of_sizes(sizes)
    }

    /// A ferromagnetic Wolff cluster without a field, flipped as it grows: a site joins
    /// when its bit still equals the seed's, so flipped sites need no marks and no list; the
    /// test is branch-free (every neighbour draws its word, as in the general path), so
    /// the CPU does not mispredict the coin flips. Same draws and result as the general
    /// path. Returns the cluster's size.
    #[inline(always)]
    fn grow_and_flip<G: Geometry>(
        &self,
        geometry: &G,
        seed: u32,
        bits: &mut [u8],
        stack: &mut Vec<G::Node>,
        draws: &mut Draws,
    ) -> u64 {
        let bond = self.bonds.bond;
        let certain = bond == crate::model::CERTAIN;
        let spin = bits[seed as usize];
        // each site is pushed at most once; one spare slot for the branch-free write
        let start = geometry.node(seed);
        stack.clear();
        stack.resize(bits.len() + 1, start);
        bits[seed as usize] ^= 1;
        let (mut top, mut size) = (1usize, 0u64);
        while top > 0 {
            top -= 1;
            let c = stack[top];
            size += 1;
            let (nb, z) = geometry.neighbours(c);
            for &cj in &nb[..z] {
                let j = geometry.site(cj) as usize;
                let r = draws.next();
                let join = (bits[j] == spin) & ((r < bond) | certain);
                stack[top] = cj;
                top += join as usize;
                bits[j] ^= join as u8;
            }
        }
        size
    }

    /// One Wolff sweep: `self.clusters` clusters.
    #[inline(always)]
    fn wolff(&self, bits: &mut [u8], w: &mut Scratch) -> ClusterSums {
        let b = self.bonds;
        self.wolff_with(bits, w, b.aligned && b.ghost == 0)
    }

    /// [`SweepContext::wolff`], through [`SweepContext::grow_and_flip`] where `fast`.
    #[inline(always)]
    fn wolff_with(&self, bits: &mut [u8], w: &mut Scratch, fast: bool) -> ClusterSums {
        let n = bits.len();
        let b = self.bonds;
        w.marked.resize(n, false);
        let mut draws = Draws {
            key: self.key,
            sweep: self.sweep,
            chain: self.chain,
            purpose: self.purpose,
            next: 0,
            block: [0; DRAW_BATCH],
        };
        let mut sums = ClusterSums::default();
        // clusters == 0: the pilot's rule, clusters until their sizes add up to N
        while if self.clusters == 0 {
            (sums.sites as usize) < n
        } else {
            sums.clusters < self.clusters as u64
        } {
            let seed = ((draws.next() as u64 * n as u64) >> 32) as u32;
            if fast {
                let size = match Pow2::new(self.lat) {
                    Some(g) => self.grow_and_flip(&g, seed, bits, &mut w.pow2_stack, &mut draws),
                    None => self.grow_and_flip(self.lat, seed, bits, &mut w.stack, &mut draws),
                };
                sums.add(size);
                continue;
            }
            w.cluster.clear();
            w.stack.clear();
            w.stack.push(self.lat.coords(seed));
            w.marked[seed as usize] = true;
            let mut ghost = false;
            // the stack carries coordinates, so neighbours need no division
            while let Some(c) = w.stack.pop() {
                let i = self.lat.site(c);
                w.cluster.push(i);
                let bit = bits[i as usize];
                if b.ghost != 0 && bit == b.ghost_bit && accept(draws.next(), b.ghost) {
                    ghost = true;
                }
                let (nb, z) = self.lat.neighbour_coords(c);
                for &cj in &nb[..z] {
                    let j = self.lat.site(cj) as usize;
                    let r = draws.next();
                    if !w.marked[j] && b.satisfied(bit, bits[j]) && accept(r, b.bond) {
                        w.marked[j] = true;
                        w.stack.push(cj);
                    }
                }
            }
            for &i in &w.cluster {
                w.marked[i as usize] = false;
                bits[i as usize] ^= !ghost as u8;
            }
            sums.add(w.cluster.len() as u64);
        }
        sums
    }
}

/// The Wolff stream of one sweep of one chain: words d = 0, 1, … in order.
struct Draws {
    key: [u32; 2],
    sweep: u32,
    chain: u32,
    purpose: u32,
    next: u32,
    block: [u32; DRAW_BATCH],
}

/// Wolff words drawn in one batch: the four words of [`LANES`] consecutive counters.
const DRAW_BATCH: usize = 4 * LANES;

impl Draws {
    #[inline(always)]
    fn next(&mut self) -> u32 {
        let d = self.next;
        let slot = d as usize % DRAW_BATCH;
        if slot == 0 {
            // counters d/4 … d/4 + LANES − 1 at once; word w of counter i is draw 4i + w
            let first = d >> 2;
            let words = philox_lanes::<LANES, 1>(
                [[
                    std::array::from_fn(|i| first.wrapping_add(i as u32)),
                    [self.sweep; LANES],
                    [self.chain; LANES],
                    [self.purpose; LANES],
                ]],
                self.key,
            )[0];
            for (i, chunk) in self.block.chunks_exact_mut(4).enumerate() {
                for (w, x) in chunk.iter_mut().enumerate() {
                    *x = words[w][i];
                }
            }
        }
        self.next = d.wrapping_add(1);
        self.block[slot]
    }
}

/// Sweeps of one chain through one `advance` call.
struct ChainRun<'a> {
    /// The context of the first sweep.
    ctx: SweepContext<'a>,
    trig: &'a Trig,
    wolff: bool,
    sweeps: u32,
    every: u32,
}

impl ChainRun<'_> {
    #[inline(always)]
    fn sweeps(&self, bits: &mut [u8]) -> Vec<Counts> {
        let mut scratch = Scratch::default();
        let mut series = Vec::new();
        let lat = self.ctx.lat;
        for i in 1..=self.sweeps {
            let measure = self.every > 0 && i % self.every == 0;
            let ctx = SweepContext {
                sweep: self.ctx.sweep + i - 1,
                ..self.ctx
            };
            let sums = if self.wolff {
                ctx.wolff(bits, &mut scratch)
            } else {
                ctx.swendsen_wang(bits, &mut scratch, measure)
            };
            if measure {
                let mut counts = super::cpu::count_rows(lat, self.trig, bits, 0..lat.rows());
                counts.cluster = sums;
                series.push(counts);
            }
        }
        series
    }

    fn dispatch(&self, simd: Simd, bits: &mut [u8]) -> Vec<Counts> {
        match simd {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Simd::detect found AVX2 on this CPU.
            Simd::Wide => unsafe { self.sweeps_avx2(bits) },
            _ => self.sweeps(bits),
        }
    }

    /// The same code compiled for AVX2, so the batched Philox words vectorise.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn sweeps_avx2(&self, bits: &mut [u8]) -> Vec<Counts> {
        self.sweeps(bits)
    }
}

/// Sweeps of the Wolff pilot run, and how many of its last ones are averaged.
const PILOT_SWEEPS: u32 = 64;
const PILOT_AVERAGED: u32 = 32;

/// Clusters per Wolff sweep: `max(1, round(N / s̄))` with s̄ the mean cluster size over the
/// last 32 of 64 pilot sweeps, each growing clusters until
/// their sizes add up to N, on a copy of chain 0's initial configuration with the pilot
/// stream (purpose 0x33). A deterministic function of the job, so a resumed run uses the
/// same number; it costs about 64 sweeps of one chain.
pub fn wolff_clusters_per_sweep(spec: &ChainSpec, chain0: &[u8]) -> u32 {
    let lat = spec.model.lattice;
    let mut bits = chain0.to_vec();
    let mut scratch = Scratch::default();
    let (mut sites, mut clusters) = (0u64, 0u64);
    let pilot = SweepContext {
        lat: &lat,
        bonds: Bonds::new(&spec.model),
        key: seed_key(spec.seed),
        sweep: 0,
        chain: 0,
        clusters: 0,
        purpose: Purpose::WolffPilot as u32,
    };
    for sweep in 0..PILOT_SWEEPS {
        let s = SweepContext { sweep, ..pilot }.wolff(&mut bits, &mut scratch);
        if sweep >= PILOT_SWEEPS - PILOT_AVERAGED {
            sites += s.sites;
            clusters += s.clusters;
        }
    }
    let mean = sites as f64 / clusters as f64;
    (bits.len() as f64 / mean)
        .round()
        .clamp(1.0, u32::MAX as f64) as u32
}

/// Chains updated by a cluster algorithm on the CPU: one rayon task per chain, or, for
/// Swendsen–Wang with fewer chains than threads on lattices of at least 4096 sites, one
/// chain at a time split over every thread.
pub struct ClusterCpuSampler {
    spec: ChainSpec,
    key: [u32; 2],
    bonds: Bonds,
    /// Wolff clusters per sweep ([`wolff_clusters_per_sweep`]); 0 for Swendsen–Wang.
    clusters: u32,
    simd: Simd,
    bits: Vec<u8>,
    trig: Trig,
    sweep: u32,
}

impl ClusterCpuSampler {
    /// Initialises the chains (see [`super::initial_configuration`]).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] naming `--algorithm` for a single-site algorithm.
    pub fn new(spec: ChainSpec) -> Result<Self> {
        if !spec.algorithm.is_cluster() {
            return Err(crate::Error::invalid(
                "algorithm",
                format!(
                    "the cluster sampler runs swendsen-wang or wolff, not {}",
                    spec.algorithm.name()
                ),
            ));
        }
        if spec.model.lattice.sites() >= 1 << 31 {
            return Err(crate::Error::invalid(
                "size",
                format!(
                    "the cluster algorithms label at most 2^31 sites (got {})",
                    spec.model.lattice.sites()
                ),
            ));
        }
        let bits = initial_configuration(&spec);
        let clusters = if spec.algorithm == Algorithm::Wolff {
            wolff_clusters_per_sweep(&spec, &bits[..spec.sites()])
        } else {
            0
        };
        Ok(ClusterCpuSampler {
            key: seed_key(spec.seed),
            bonds: Bonds::new(&spec.model),
            clusters,
            simd: Simd::detect(),
            bits,
            trig: Trig::new(spec.model.lattice.size()),
            spec,
            sweep: 0,
        })
    }
}

impl ClusterCpuSampler {
    /// Whether a Swendsen–Wang sweep splits one chain over every thread.
    fn split_chains(&self) -> bool {
        self.spec.algorithm == Algorithm::SwendsenWang
            && (self.spec.chains as usize) < rayon::current_num_threads()
            && self.spec.sites() >= PARALLEL_SITES
    }
}

impl Sampler for ClusterCpuSampler {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "cpu".into(),
            adapter: format!("{} threads", rayon::current_num_threads()),
            api: match self.spec.algorithm {
                Algorithm::Wolff => "rayon, Wolff clusters (a chain per task)",
                _ if self.split_chains() => "rayon, union-find (each chain over all threads)",
                _ => "rayon, union-find (a chain per task)",
            }
            .into(),
            kernel: "reference".into(),
        }
    }

    fn sweeps_done(&self) -> u32 {
        self.sweep
    }

    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>> {
        check_sweep_budget(self.sweep, sweeps)?;
        let n = self.spec.sites();
        let lat = self.spec.model.lattice;
        let (first, bonds, key, trig) = (self.sweep, self.bonds, self.key, &self.trig);
        let clusters = self.clusters;
        let wolff = self.spec.algorithm == Algorithm::Wolff;
        let simd = self.simd;
        if !wolff
            && (self.spec.chains as usize) < rayon::current_num_threads()
            && n >= PARALLEL_SITES
        {
            // fewer chains than threads: one chain at a time on every thread
            let mut shared = SharedScratch::default();
            let rows = lat.rows();
            let blocks = (4 * rayon::current_num_threads() as u32).min(rows);
            let per_block = rows.div_ceil(blocks);
            let mut per_chain = Vec::new();
            for (c, bits) in self.bits.chunks_mut(n).enumerate() {
                let mut series = Vec::new();
                for i in 1..=sweeps {
                    let measure = measure_every > 0 && i % measure_every == 0;
                    let ctx = SweepContext {
                        lat: &lat,
                        bonds,
                        key,
                        sweep: first + i - 1,
                        chain: c as u32,
                        clusters,
                        purpose: Purpose::Wolff as u32,
                    };
                    let sums = ctx.swendsen_wang_parallel(simd, bits, &mut shared, measure);
                    if measure {
                        let bits = &*bits;
                        let mut counts = (0..blocks)
                            .into_par_iter()
                            .map(|b| {
                                let r = (b * per_block).min(rows)..((b + 1) * per_block).min(rows);
                                super::cpu::count_rows(&lat, trig, bits, r)
                            })
                            .reduce(Counts::default, Counts::merge);
                        counts.cluster = sums;
                        series.push(counts);
                    }
                }
                per_chain.push(series);
            }
            self.sweep += sweeps;
            return Ok(super::measurement_major(&per_chain));
        }
        let per_chain: Vec<Vec<Counts>> = self
            .bits
            .par_chunks_mut(n)
            .enumerate()
            .map(|(c, bits)| {
                let ctx = SweepContext {
                    lat: &lat,
                    bonds,
                    key,
                    sweep: first,
                    chain: c as u32,
                    clusters,
                    purpose: Purpose::Wolff as u32,
                };
                let run = ChainRun {
                    ctx,
                    trig,
                    wolff,
                    sweeps,
                    every: measure_every,
                };
                run.dispatch(simd, bits)
            })
            .collect();
        self.sweep += sweeps;
        Ok(super::measurement_major(&per_chain))
    }

    fn configurations(&mut self) -> Result<Vec<u8>> {
        Ok(self.bits.clone())
    }

    fn restore(&mut self, bits: &[u8], sweeps_done: u32) -> Result<()> {
        super::check_restore(bits.len(), self.bits.len())?;
        for (a, &b) in self.bits.iter_mut().zip(bits) {
            *a = b & 1;
        }
        self.sweep = sweeps_done;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
