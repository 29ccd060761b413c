//! The Swendsen–Wang sweep (CPU twin of `shaders/cluster.wgsl`): bonds, labels, flips.

use super::*;

impl SweepContext<'_> {
    /// One Swendsen–Wang sweep; the cluster sums if `measure`.
    /// The Swendsen–Wang bonds of the sites in `rows`: `unite(a, b)` for every activated
    /// bond between keys a and b (site i is key i + 1, the ghost key 0).
    #[inline(always)]
    pub(super) fn bonds_of_rows(
        &self,
        bits: &[u8],
        rows: std::ops::Range<u32>,
        mut unite: impl FnMut(u32, u32),
    ) {
        let b = self.bonds;
        let lat = self.lat;
        let [l, ly, lz] = lat.dims();
        let triangular = lat.kind() == crate::lattice::LatticeKind::Triangular;
        let counter = |v: u32| [v; BATCH];
        let mut words = [[0u32; BATCH]; 4];
        let mut site = rows.start * l;
        let mut first_site = true;
        for row in rows {
            let (y, z) = (row % ly, row / ly);
            let yp = if y + 1 == ly { 0 } else { y + 1 };
            let ym = if y == 0 { ly - 1 } else { y - 1 };
            let zp = if z + 1 == lz { 0 } else { z + 1 };
            for x in 0..l {
                let lane = site as usize % BATCH;
                if lane == 0 || first_site {
                    // the bond words of the batch of BATCH sites holding this one
                    let start = site - lane as u32;
                    let first: [u32; BATCH] = std::array::from_fn(|k| start.wrapping_add(k as u32));
                    words = philox_batch::<BATCH, 1>(
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
    pub(super) fn shared_bonds(
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
    pub(super) fn shared_bonds_avx2(
        &self,
        bits: &[u8],
        rows: std::ops::Range<u32>,
        parent: &[AtomicU32],
    ) {
        self.bonds_of_rows(bits, rows, |a, b| unite_atomic(parent, a, b))
    }

    /// The flip bit of the cluster whose smallest site is `site`.
    #[inline(always)]
    pub(super) fn cluster_flip(&self, site: u32) -> u8 {
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
    pub(super) fn swendsen_wang(
        &self,
        bits: &mut [u8],
        w: &mut Scratch,
        measure: bool,
    ) -> ClusterSums {
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
    pub(super) fn swendsen_wang_parallel(
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
}
