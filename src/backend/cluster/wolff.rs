//! The Wolff sweep: its random stream, cluster growth, and the pilot that fixes the
//! number of clusters per sweep.

use super::*;

impl SweepContext<'_> {
    /// A ferromagnetic Wolff cluster without a field, flipped as it grows: a site joins
    /// when its bit still equals the seed's, so flipped sites need no marks and no list; the
    /// test is branch-free (every neighbour draws its word, as in the general path), so
    /// the CPU does not mispredict the coin flips. Same draws and result as the general
    /// path. Returns the cluster's size.
    #[inline(always)]
    pub(super) fn grow_and_flip<G: Geometry>(
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
    pub(super) fn wolff(&self, bits: &mut [u8], w: &mut Scratch) -> ClusterSums {
        let b = self.bonds;
        self.wolff_with(bits, w, b.aligned && b.ghost == 0)
    }

    /// [`SweepContext::wolff`], through [`SweepContext::grow_and_flip`] where `fast`.
    #[inline(always)]
    pub(super) fn wolff_with(&self, bits: &mut [u8], w: &mut Scratch, fast: bool) -> ClusterSums {
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
pub(super) struct Draws {
    pub(super) key: [u32; 2],
    pub(super) sweep: u32,
    pub(super) chain: u32,
    pub(super) purpose: u32,
    pub(super) next: u32,
    pub(super) block: [u32; DRAW_BATCH],
}

/// Wolff words drawn in one batch: the four words of [`BATCH`] consecutive counters.
pub(super) const DRAW_BATCH: usize = 4 * BATCH;

impl Draws {
    #[inline(always)]
    pub(super) fn next(&mut self) -> u32 {
        let d = self.next;
        let slot = d as usize % DRAW_BATCH;
        if slot == 0 {
            // counters d/4 … d/4 + BATCH − 1 at once; word w of counter i is draw 4i + w
            let first = d >> 2;
            let words = philox_batch::<BATCH, 1>(
                [[
                    std::array::from_fn(|i| first.wrapping_add(i as u32)),
                    [self.sweep; BATCH],
                    [self.chain; BATCH],
                    [self.purpose; BATCH],
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
