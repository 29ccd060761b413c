//! Multi-spin coding: 32 independent chains per u32 word ("multi-lattice" coding).
//!
//! Bit `l` of word `(g, site)` is the site's bit in chain `32 g + l`. Neighbours of a site are
//! the same words as in the reference layout, so every lattice, unit type and algorithm works
//! unchanged; one word operation updates 32 chains.
//!
//! **Decisions.** The reference flips a site iff `accept(r, T)` (r < T, or T certain) with r one
//! uniform 32-bit word and T the flip threshold of the site's class q = b (z + 1) + k. Here r is
//! drawn lazily, most significant bit first, one *bit plane* (one bit for each of the 32 lanes)
//! at a time: at plane p a lane with r's bit 0 and T's bit 1 is decided "flip", one with 1 and 0
//! is decided "keep", equal bits stay undecided. This is exactly the comparison r < T, so the
//! stationary distribution is the reference one (each probability within 2⁻³²); a lane needs
//! two planes on average and a word about seven (the maximum over 32 lanes), instead of 32
//! full words. Certain classes are decided before any plane is drawn.
//!
//! **Random planes.** Plane p of site i, sweep s, word group g is word p mod 4 of
//! `philox4x32_10([i, s, g, 0x10 | (p / 4) << 8], seed)` (the decision itself is
//! [`crate::backend::planes::lazy_flips`]). The GPU kernel
//! (`shaders/update_packed.wgsl`) draws the same planes, so packed GPU and packed CPU runs are
//! bit-identical; they are a different random stream from the reference kernels, so packed
//! and reference runs agree statistically, not bit for bit.

use super::planes::{ByteCounts, PlaneTables, Simd, WIDE_WORDS, WordVec, decide};
use super::{BackendInfo, ChainSpec, Sampler, check_sweep_budget, initial_configuration};
use crate::error::Result;
use crate::lattice::Lattice;
use crate::model::{Counts, Trig, add_signed};
use crate::rng::seed_key;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// Chains per word.
pub const CHAINS_PER_WORD: u32 = 32;
/// Counter purpose of the random planes (plane group in bits 8…).
pub const PURPOSE_PACKED: u32 = crate::rng::Purpose::Packed as u32;

/// Packs chain-major bits (chains × N) into groups of 32 chains (groups × N words).
pub fn pack(bits: &[u8], chains: usize, n: usize) -> Vec<u32> {
    let groups = chains.div_ceil(CHAINS_PER_WORD as usize);
    let mut words = vec![0u32; groups * n];
    for c in 0..chains {
        let (g, lane) = (c / CHAINS_PER_WORD as usize, c % CHAINS_PER_WORD as usize);
        for s in 0..n {
            words[g * n + s] |= (bits[c * n + s] as u32) << lane;
        }
    }
    words
}

/// Unpacks words into chain-major bits.
pub fn unpack(words: &[u32], chains: usize, n: usize) -> Vec<u8> {
    (0..chains * n)
        .map(|i| {
            let (c, s) = (i / n, i % n);
            (words[(c / CHAINS_PER_WORD as usize) * n + s] >> (c % CHAINS_PER_WORD as usize) & 1)
                as u8
        })
        .collect()
}

/// Counts of the 32 chains of one word group without unpacking: per-lane 8-bit counters
/// ([`ByteCounts`]) of the set sites of each row (n1 and the y Fourier sums), of each column
/// (the x Fourier sums, flushed every 255 rows) and of the forward bonds with both ends set
/// (n11), so each site word costs a few table look-ups and adds, not 32 lane extractions.
fn group_counts(
    lat: &Lattice,
    trig: &Trig,
    words: &[AtomicU32],
) -> [Counts; CHAINS_PER_WORD as usize] {
    let mut out = [Counts::default(); CHAINS_PER_WORD as usize];
    let two_d = lat.kind().dimension() > 1;
    let l = lat.size() as usize;
    let mut columns = vec![ByteCounts::default(); l];
    let flush_columns = |columns: &mut [ByteCounts], out: &mut [Counts]| {
        for (x, col) in columns.iter_mut().enumerate() {
            col.drain(|lane, n| {
                add_signed(&mut out[lane].fourier[0..2], trig.cos[x], n);
                add_signed(&mut out[lane].fourier[2..4], trig.sin[x], n);
            });
        }
    };
    for r in 0..lat.rows() {
        if r > 0 && r % 255 == 0 {
            flush_columns(&mut columns, &mut out);
        }
        let y = lat.row(r).y as usize;
        let base = r as usize * l;
        let (mut ones, mut bonds) = (ByteCounts::default(), ByteCounts::default());
        let mut row_ones = [0u64; CHAINS_PER_WORD as usize];
        for (x, column) in columns.iter_mut().enumerate() {
            let s = (base + x) as u32;
            let w = words[s as usize].load(Relaxed);
            ones.add(w);
            column.add(w);
            let (f, k) = lat.forward_neighbours(s);
            for &t in &f[..k] {
                bonds.add(w & words[t as usize].load(Relaxed));
            }
            // at most 3 forward bonds per site: drain before a counter can pass 255
            if x % 64 == 63 || x + 1 == l {
                ones.drain(|lane, n| row_ones[lane] += n);
                bonds.drain(|lane, n| out[lane].ones_bonds += n);
            }
        }
        for (lane, &n) in row_ones.iter().enumerate() {
            out[lane].ones += n;
            if two_d && n > 0 {
                add_signed(&mut out[lane].fourier[4..6], trig.cos[y], n);
                add_signed(&mut out[lane].fourier[6..8], trig.sin[y], n);
            }
        }
    }
    flush_columns(&mut columns, &mut out);
    out
}

/// One colour update of rows of one word group (twin of `update_packed`).
#[derive(Clone, Copy)]
struct Update<'a> {
    lat: Lattice,
    tables: &'a PlaneTables,
    key: [u32; 2],
    sweep: u32,
    colour: u32,
    group: u32,
}

impl Update<'_> {
    /// The sites of the colour in `rows`, `N` site words decided at a time (batches run
    /// across rows, so small lattices fill them too).
    #[inline(always)]
    fn rows<const N: usize>(&self, words: &[AtomicU32], rows: std::ops::Range<u32>) {
        let lat = self.lat;
        let l = lat.size();
        let triangular = lat.kind() == crate::lattice::LatticeKind::Triangular;
        let ld = |i: u32| words[i as usize].load(Relaxed);
        let mut sites = [0u32; N];
        let mut b = [0u32; N];
        let mut nb = [WordVec([0u32; N]); 6];
        let mut filled = 0;
        for r in rows {
            let row = lat.row(r);
            let first = lat.colour_offset(self.colour, row.y, row.z);
            for x in (first..l).step_by(lat.colours() as usize) {
                // neighbour words from the row geometry (as update_packed.wgsl)
                let xp = if x + 1 == l { 0 } else { x + 1 };
                let xm = if x == 0 { l - 1 } else { x - 1 };
                let mut nw = [ld(row.base + xp), ld(row.base + xm), 0, 0, 0, 0];
                if let (Some(p), Some(m)) = (row.y_plus, row.y_minus) {
                    nw[2] = ld(p + x);
                    nw[3] = ld(m + x);
                    if triangular {
                        nw[4] = ld(m + xp);
                        nw[5] = ld(p + xm);
                    }
                }
                if let (Some(p), Some(m)) = (row.z_plus, row.z_minus) {
                    nw[4] = ld(p + x);
                    nw[5] = ld(m + x);
                }
                for (slot, &w) in nb.iter_mut().zip(&nw) {
                    slot.0[filled] = w;
                }
                sites[filled] = row.base + x;
                b[filled] = ld(row.base + x);
                filled += 1;
                if filled == N {
                    self.flush(words, &sites, b, &nb, N);
                    filled = 0;
                }
            }
        }
        if filled > 0 {
            self.flush(words, &sites, b, &nb, filled);
        }
    }

    /// Decides the first `filled` words of a batch and stores them.
    #[inline(always)]
    fn flush<const N: usize>(
        &self,
        words: &[AtomicU32],
        sites: &[u32; N],
        b: [u32; N],
        nb: &[WordVec<N>; 6],
        filled: usize,
    ) {
        let z = self.lat.coordination() as usize;
        let valid = std::array::from_fn(|i| if i < filled { !0 } else { 0 });
        let flips = decide(
            self.tables,
            self.key,
            self.sweep,
            PURPOSE_PACKED,
            b,
            &nb[..z],
            valid,
            *sites,
            [self.group; N],
        );
        for i in 0..filled {
            words[sites[i] as usize].store(b[i] ^ flips[i], Relaxed);
        }
    }

    fn run(&self, simd: Simd, words: &[AtomicU32], rows: std::ops::Range<u32>) {
        match simd {
            Simd::Scalar => self.rows::<1>(words, rows),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Simd::available yields Wide only where AVX2 was detected.
            Simd::Wide => unsafe { self.rows_avx2(words, rows) },
            #[cfg(not(target_arch = "x86_64"))]
            Simd::Wide => self.rows::<WIDE_WORDS>(words, rows),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn rows_avx2(&self, words: &[AtomicU32], rows: std::ops::Range<u32>) {
        self.rows::<WIDE_WORDS>(words, rows)
    }
}

/// The packed CPU sampler: rayon over word groups (each through all sweeps) or over blocks
/// of rows, SIMD over site words where the CPU has it.
pub struct PackedCpuSampler {
    spec: ChainSpec,
    key: [u32; 2],
    table: PlaneTables,
    words: Vec<AtomicU32>,
    trig: Trig,
    sweep: u32,
    simd: Simd,
}

impl PackedCpuSampler {
    /// Packs the initial configuration (the same as every other backend's).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a cluster algorithm ([`super::cluster`]).
    pub fn new(spec: ChainSpec) -> Result<Self> {
        super::check_single_site(&spec)?;
        Self::with_simd(spec, Simd::detect())
    }

    /// As [`PackedCpuSampler::new`] with a given instruction set (a set this CPU lacks falls
    /// back to the scalar path).
    ///
    /// # Errors
    /// As [`PackedCpuSampler::new`].
    pub fn with_simd(spec: ChainSpec, simd: Simd) -> Result<Self> {
        let n = spec.sites();
        let words = pack(&initial_configuration(&spec), spec.chains as usize, n)
            .into_iter()
            .map(AtomicU32::new)
            .collect();
        Ok(PackedCpuSampler {
            key: seed_key(spec.seed),
            table: PlaneTables::new(
                &spec.model.flip_thresholds(spec.algorithm),
                spec.model.lattice.coordination(),
            ),
            trig: Trig::new(spec.model.lattice.size()),
            spec,
            words,
            sweep: 0,
            simd: Simd::available(simd),
        })
    }

    fn groups(&self) -> u32 {
        self.spec.chains.div_ceil(CHAINS_PER_WORD)
    }

    fn update(&self, sweep: u32, colour: u32, group: u32) -> Update<'_> {
        Update {
            lat: self.spec.model.lattice,
            tables: &self.table,
            key: self.key,
            sweep,
            colour,
            group,
        }
    }

    /// One sweep of every group, each colour split into blocks of rows.
    fn sweep_blocks(&self, sweep: u32) {
        let lat = self.spec.model.lattice;
        let n = lat.sites() as usize;
        let groups = self.groups();
        let rows = lat.rows();
        let blocks = (8 * rayon::current_num_threads() as u32)
            .div_ceil(groups)
            .clamp(1, rows);
        let per_block = rows.div_ceil(blocks);
        for colour in 0..lat.colours() {
            (0..groups * blocks).into_par_iter().for_each(|task| {
                let g = task / blocks;
                let words = &self.words[g as usize * n..(g as usize + 1) * n];
                let r0 = (task % blocks) * per_block;
                self.update(sweep, colour, g)
                    .run(self.simd, words, r0..(r0 + per_block).min(rows));
            });
        }
    }

    /// Every group through `sweeps` sweeps on its own task (no synchronisation between
    /// colours), measuring every `every`-th; measurement-major like [`Sampler::advance`].
    fn advance_group_parallel(&self, sweeps: u32, every: u32) -> Vec<Counts> {
        let lat = self.spec.model.lattice;
        let n = lat.sites() as usize;
        let first = self.sweep;
        let per_group: Vec<Vec<[Counts; CHAINS_PER_WORD as usize]>> = (0..self.groups())
            .into_par_iter()
            .map(|g| {
                let words = &self.words[g as usize * n..(g as usize + 1) * n];
                let mut out = Vec::new();
                for i in 0..sweeps {
                    for colour in 0..lat.colours() {
                        self.update(first + i, colour, g)
                            .run(self.simd, words, 0..lat.rows());
                    }
                    if every > 0 && (i + 1) % every == 0 {
                        out.push(group_counts(&lat, &self.trig, words));
                    }
                }
                out
            })
            .collect();
        let m = per_group.first().map_or(0, Vec::len);
        (0..m)
            .flat_map(|k| {
                per_group
                    .iter()
                    .flat_map(move |g| g[k])
                    .take(self.spec.chains as usize)
            })
            .collect()
    }

    fn measure(&self) -> Vec<Counts> {
        let lat = self.spec.model.lattice;
        let n = lat.sites() as usize;
        let chains = self.spec.chains as usize;
        let per_group: Vec<Vec<Counts>> = (0..self.groups() as usize)
            .into_par_iter()
            .map(|g| group_counts(&lat, &self.trig, &self.words[g * n..(g + 1) * n]).to_vec())
            .collect();
        per_group.into_iter().flatten().take(chains).collect()
    }
}

impl Sampler for PackedCpuSampler {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "cpu".into(),
            adapter: format!("{} threads", rayon::current_num_threads()),
            api: format!(
                "rayon, multi-spin coded (32 chains per word), {}",
                self.simd.name()
            ),
            kernel: "chains".into(),
        }
    }

    fn sweeps_done(&self) -> u32 {
        self.sweep
    }

    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>> {
        check_sweep_budget(self.sweep, sweeps)?;
        let threads = rayon::current_num_threads() as u32;
        let out = if self.groups() >= threads || self.spec.sites() <= 4096 {
            self.advance_group_parallel(sweeps, measure_every)
        } else {
            let mut out = Vec::new();
            for i in 1..=sweeps {
                self.sweep_blocks(self.sweep + i - 1);
                if measure_every > 0 && i % measure_every == 0 {
                    out.extend(self.measure());
                }
            }
            out
        };
        self.sweep += sweeps;
        Ok(out)
    }

    fn configurations(&mut self) -> Result<Vec<u8>> {
        let words: Vec<u32> = self.words.iter().map(|w| w.load(Relaxed)).collect();
        Ok(unpack(&words, self.spec.chains as usize, self.spec.sites()))
    }

    fn restore(&mut self, bits: &[u8], sweeps_done: u32) -> Result<()> {
        super::check_restore(bits.len(), self.spec.chains as usize * self.spec.sites())?;
        for (a, w) in
            self.words
                .iter()
                .zip(pack(bits, self.spec.chains as usize, self.spec.sites()))
        {
            a.store(w, Relaxed);
        }
        self.sweep = sweeps_done;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_and_simd_paths_agree() {
        use crate::backend::Start;
        use crate::lattice::LatticeKind;
        use crate::model::{Algorithm, Model, Units};
        for (kind, size, chains) in [
            (LatticeKind::Chain, 10, 40),
            (LatticeKind::Square, 6, 33),
            (LatticeKind::Triangular, 9, 64),
            (LatticeKind::Cubic, 4, 32),
        ] {
            let lat = Lattice::new(kind, size).unwrap();
            let model = Model::new(lat, Units::Spin, 0.5, 1.0, -0.2).unwrap();
            let spec = ChainSpec::new(model, Algorithm::HeatBath, chains, 8, Start::Hot).unwrap();
            let mut runs = [Simd::Scalar, Simd::Wide].map(|simd| {
                let mut s = PackedCpuSampler::with_simd(spec, simd).unwrap();
                (s.advance(6, 3).unwrap(), s.configurations().unwrap())
            });
            let wide = runs[1].clone();
            assert_eq!(std::mem::take(&mut runs[0]), wide, "{kind}");
        }
    }

    #[test]
    fn pack_round_trip() {
        let pk = pack(&[1, 0, 1, 1, 0, 0], 2, 3);
        assert_eq!(unpack(&pk, 2, 3), vec![1, 0, 1, 1, 0, 0]);
    }
}
