//! Site-packed multi-spin coding: one bit per spin, 32 same-colour sites of *one* lattice per
//! word, for few chains of large bipartite lattices (chain, square, cubic).
//!
//! **Layout** (as NVIDIA's multi-spin checkerboard code). Each colour c ∈ {0, 1}
//! ((x + y + z) mod 2) has its own array of rows; row `r = z Ly + y` of colour c holds the
//! `n = L / 2` sites x = 2 j + o, o = (y + z + c) mod 2, in `W = ceil(n / 32)` words: lane j
//! is bit j mod 32 of word j / 32, the padding lanes of a row's last word stay 0. Word
//! `(c, chain, r, k)` is element `(c · chains + chain) · R W + r W + k` of one array
//! (R = rows per chain). A site's neighbours are then all of the other colour: the same lane
//! of the same word in the rows y ± 1 (and z ± 1), the same lane of the same word in its own
//! row (x ∓ 1), and lane j − 1 (o = 0) or j + 1 (o = 1) of its own row, reached by a shift of
//! the word with the carry bit from the previous or next word (periodic across the row).
//!
//! The triangular lattice is not bipartite (three colours at x + 2y mod 3): its same-colour
//! sites are every third x, so the lane of an x-neighbour changes with the row's offset in a
//! three-periodic pattern; it is left to the chains-packed and reference kernels (the
//! automatic choice never picks this layout for it).
//!
//! **Random planes.** The decision of every lane is the reference rule r < T, drawn lazily
//! by bit planes ([`crate::backend::planes`]). Plane p of word `(c, chain, r, k)` at sweep s
//! is word p mod 4 of `philox4x32_10([c R W + r W + k, s, chain, 0x20 | (p / 4) << 8], seed)`:
//! planes are defined per 32-site word, so the GPU (one invocation per word,
//! `shaders/update_sites.wgsl`), the scalar CPU path and the SIMD CPU path (8 or 16 words at
//! once) draw the same planes and end in bit-identical states. This is a different random
//! stream from the reference and chains-packed kernels: the three agree statistically, not
//! bit for bit.
//!
//! **Measurement** never unpacks: n1 is a popcount, n11 the popcounts of each colour-0 word
//! ANDed with its z neighbour words (every bond has exactly one colour-0 end), the y Fourier
//! sums weight each row's popcount, and the x Fourier sums come from bit-sliced per-column
//! counters accumulated over rows.

pub use super::planes::Simd;
use super::planes::{ByteCounts, PlaneTables, WIDE_WORDS, WordVec, decide};
use super::{BackendInfo, ChainSpec, Sampler, check_sweep_budget, initial_configuration};
use crate::error::{Error, Result};
use crate::lattice::{Lattice, LatticeKind};
use crate::model::{Counts, Trig, add_signed};
use crate::rng::seed_key;
use rayon::prelude::*;

/// Counter purpose of the site-packed random planes (plane group in bits 8…).
pub const PURPOSE_SITES: u32 = crate::rng::Purpose::Sites as u32;

/// The site-packed geometry of `chains` copies of a bipartite lattice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteLayout {
    /// The lattice.
    pub lattice: Lattice,
    /// Chains.
    pub chains: u32,
    /// Rows per chain R = Ly Lz.
    pub rows: u32,
    /// Sites of one colour in a row, n = L / 2.
    pub lanes: u32,
    /// Words per row W = ceil(n / 32).
    pub row_words: u32,
}

/// Buffer rows of the neighbours of a row along y and z: (y+1, y−1, z+1, z−1) where present.
#[derive(Clone, Copy, Debug)]
struct RowNeighbours {
    rows: [u32; 4],
    count: usize,
}

impl SiteLayout {
    /// Whether the layout exists for a lattice family (bipartite lattices only).
    pub fn supports(kind: LatticeKind) -> bool {
        kind != LatticeKind::Triangular
    }

    /// The layout of `chains` chains of `lattice`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `--kernel` for the triangular lattice.
    pub fn new(lattice: Lattice, chains: u32) -> Result<Self> {
        if !Self::supports(lattice.kind()) {
            return Err(Error::invalid(
                "kernel",
                "the sites kernel needs a bipartite lattice (chain, square or cubic); use kernel chains or reference for the triangular lattice",
            ));
        }
        let lanes = lattice.size() / 2;
        Ok(SiteLayout {
            lattice,
            chains,
            rows: lattice.rows(),
            lanes,
            row_words: lanes.div_ceil(32),
        })
    }

    /// Words of one colour of one chain, R W.
    pub fn chain_words(&self) -> usize {
        self.rows as usize * self.row_words as usize
    }
    /// Words of one colour of all chains.
    pub fn colour_words(&self) -> usize {
        self.chains as usize * self.chain_words()
    }
    /// All words.
    pub fn words(&self) -> usize {
        2 * self.colour_words()
    }
    /// (y, z) of a row.
    #[inline(always)]
    fn yz(&self, row: u32) -> (u32, u32) {
        let ly = self.lattice.dims()[1];
        (row % ly, row / ly)
    }
    /// Offset o of the sites of `colour` in `row`: they sit at x = 2 j + o.
    #[inline(always)]
    pub fn offset(&self, colour: u32, row: u32) -> u32 {
        let (y, z) = self.yz(row);
        (y + z + colour) & 1
    }
    /// Lanes of word k of a row that hold sites (the rest is padding).
    #[inline(always)]
    pub fn valid(&self, k: u32) -> u32 {
        let rest = self.lanes - 32 * k;
        if rest >= 32 { !0 } else { (1 << rest) - 1 }
    }
    #[inline(always)]
    fn row_neighbours(&self, row: u32) -> RowNeighbours {
        let [_, ly, lz] = self.lattice.dims();
        let (y, z) = self.yz(row);
        let wrap = |a: u32, d: i32, n: u32| ((a as i64 + d as i64).rem_euclid(n as i64)) as u32;
        let mut out = RowNeighbours {
            rows: [0; 4],
            count: 0,
        };
        if ly > 1 {
            out.rows[0] = z * ly + wrap(y, 1, ly);
            out.rows[1] = z * ly + wrap(y, -1, ly);
            out.count = 2;
        }
        if lz > 1 {
            out.rows[2] = wrap(z, 1, lz) * ly + y;
            out.rows[3] = wrap(z, -1, lz) * ly + y;
            out.count = 4;
        }
        out
    }

    /// The z neighbour words (all of the other colour, array `other` of the same chain) of
    /// word k of `row`, whose sites sit at offset `o` (twin of `neighbour_words` in
    /// update_sites.wgsl). Slots past z are 0.
    #[inline(always)]
    fn gather(&self, other: &[u32], row: u32, nb: &RowNeighbours, k: u32, o: u32) -> [u32; 6] {
        let w = self.row_words as usize;
        let base = row as usize * w;
        let k = k as usize;
        let a = other[base + k];
        let last = (self.lanes - 1) % 32;
        let shifted = if o == 0 {
            // lane j − 1: the previous lane, from the previous word (periodic)
            let carry = if k > 0 {
                other[base + k - 1] >> 31
            } else {
                other[base + w - 1] >> last & 1
            };
            a << 1 | carry
        } else {
            // lane j + 1: the next lane, from the next word (periodic)
            let carry = if k + 1 < w {
                other[base + k + 1] << 31
            } else {
                (other[base] & 1) << last
            };
            a >> 1 | carry
        };
        let mut out = [a, shifted, 0, 0, 0, 0];
        for i in 0..nb.count {
            out[2 + i] = other[nb.rows[i] as usize * w + k];
        }
        out
    }

    /// Packs chain-major bits (chains × N) into the layout.
    pub fn pack(&self, bits: &[u8]) -> Vec<u32> {
        let l = self.lattice.size() as usize;
        let (cw, w) = (self.chain_words(), self.row_words as usize);
        let n = self.lattice.sites() as usize;
        let mut words = vec![0u32; self.words()];
        let (c0, c1) = words.split_at_mut(self.colour_words());
        c0.par_chunks_mut(cw)
            .zip(c1.par_chunks_mut(cw))
            .zip(bits.par_chunks(n))
            .for_each(|((w0, w1), chain)| {
                for (row, line) in chain.chunks(l).enumerate() {
                    let (y, z) = self.yz(row as u32);
                    for (x, &b) in line.iter().enumerate() {
                        let colour = (x as u32 + y + z) & 1;
                        let j = x / 2;
                        let target = if colour == 0 { &mut *w0 } else { &mut *w1 };
                        target[row * w + j / 32] |= ((b & 1) as u32) << (j % 32);
                    }
                }
            });
        words
    }

    /// Inverse of [`SiteLayout::pack`].
    pub fn unpack(&self, words: &[u32]) -> Vec<u8> {
        let l = self.lattice.size() as usize;
        let (cw, w) = (self.chain_words(), self.row_words as usize);
        let n = self.lattice.sites() as usize;
        let (c0, c1) = words.split_at(self.colour_words());
        let mut bits = vec![0u8; self.chains as usize * n];
        bits.par_chunks_mut(n)
            .zip(c0.par_chunks(cw).zip(c1.par_chunks(cw)))
            .for_each(|(chain, (w0, w1))| {
                for (row, line) in chain.chunks_mut(l).enumerate() {
                    let (y, z) = self.yz(row as u32);
                    for (x, b) in line.iter_mut().enumerate() {
                        let colour = (x as u32 + y + z) & 1;
                        let j = x / 2;
                        let source = if colour == 0 { w0 } else { w1 };
                        *b = (source[row * w + j / 32] >> (j % 32) & 1) as u8;
                    }
                }
            });
        bits
    }
}

/// What a colour update of a range of words needs.
#[derive(Clone, Copy)]
struct Update<'a> {
    layout: &'a SiteLayout,
    tables: &'a PlaneTables,
    key: [u32; 2],
    sweep: u32,
    colour: u32,
}

impl Update<'_> {
    /// Updates `target` = words `start …` of colour `colour` of `chain` (`other`: that
    /// chain's words of the other colour), `N` words at a time.
    #[inline(always)]
    fn words<const N: usize>(&self, chain: u32, start: usize, target: &mut [u32], other: &[u32]) {
        let lay = self.layout;
        let w = lay.row_words as usize;
        let z = lay.lattice.coordination() as usize;
        let colour_base = self.colour as usize * lay.chain_words();
        let (mut row, mut k) = ((start / w) as u32, (start % w) as u32);
        let mut nb = lay.row_neighbours(row);
        let mut o = lay.offset(self.colour, row);
        for (batch_index, batch) in target.chunks_mut(N).enumerate() {
            let mut words = [WordVec([0u32; N]); 6];
            let mut b = [0u32; N];
            let mut valid = [0u32; N];
            let first = (colour_base + start + batch_index * N) as u32;
            let counter: [u32; N] = std::array::from_fn(|i| first + i as u32);
            let (ku, wu) = (k as usize, w);
            if batch.len() == N && ku >= 1 && ku + N < wu {
                // inside a row, away from its ends: contiguous loads, no wrap
                let base = row as usize * w + ku;
                let here = &other[base - 1..base + N + 1];
                for i in 0..N {
                    let a = here[i + 1];
                    words[0].0[i] = a;
                    words[1].0[i] = if o == 0 {
                        a << 1 | here[i] >> 31
                    } else {
                        a >> 1 | here[i + 2] << 31
                    };
                    b[i] = batch[i];
                    valid[i] = !0;
                }
                for r in 0..nb.count {
                    let line = &other[nb.rows[r] as usize * w + ku..][..N];
                    words[2 + r].0.copy_from_slice(line);
                }
                k += N as u32;
            } else {
                for (i, &word) in batch.iter().enumerate() {
                    let g = lay.gather(other, row, &nb, k, o);
                    for s in 0..6 {
                        words[s].0[i] = g[s];
                    }
                    b[i] = word;
                    valid[i] = lay.valid(k);
                    k += 1;
                    if k as usize == w {
                        k = 0;
                        row += 1;
                        if row < lay.rows {
                            nb = lay.row_neighbours(row);
                            o = lay.offset(self.colour, row);
                        }
                    }
                }
            }
            let flips = decide(
                self.tables,
                self.key,
                self.sweep,
                PURPOSE_SITES,
                b,
                &words[..z],
                valid,
                counter,
                [chain; N],
            );
            for (x, f) in batch.iter_mut().zip(flips) {
                *x ^= f;
            }
        }
    }

    fn run(&self, simd: Simd, chain: u32, start: usize, target: &mut [u32], other: &[u32]) {
        match simd {
            Simd::Scalar => self.words::<1>(chain, start, target, other),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Simd::detect found AVX2 on this CPU (with_simd never yields Wide without).
            Simd::Wide => unsafe { self.words_avx2(chain, start, target, other) },
            #[cfg(not(target_arch = "x86_64"))]
            Simd::Wide => self.words::<WIDE_WORDS>(chain, start, target, other),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn words_avx2(&self, chain: u32, start: usize, target: &mut [u32], other: &[u32]) {
        self.words::<WIDE_WORDS>(chain, start, target, other)
    }
}

thread_local! {
    /// Per-column counters of [`count_rows`], reused so that measuring allocates nothing.
    static COLUMNS: std::cell::RefCell<Vec<ByteCounts>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Adds the x Fourier sums of the column counters to `c` and clears them: slot `o W + k`
/// counts, lane by lane, the set sites of word k at offset o, lane j being the site
/// x = 2 (32 k + j) + o.
fn flush_columns(columns: &mut [ByteCounts], w: usize, trig: &Trig, c: &mut Counts) {
    for (slot, counts) in columns.iter_mut().enumerate() {
        let (o, k) = (slot / w, slot % w);
        counts.drain(|j, n| {
            let x = 2 * (32 * k + j) + o;
            add_signed(&mut c.fourier[0..2], trig.cos[x], n);
            add_signed(&mut c.fourier[2..4], trig.sin[x], n);
        });
    }
}

/// Counts of rows `rows` of one chain from its two colour arrays (twin of `measure_sites` in
/// update_sites.wgsl): popcounts for n1 and n11, each row's popcount for the y Fourier sums,
/// and per-column counters (words expanded to 8-bit lanes, flushed every 255 rows) for the
/// x Fourier sums.
fn count_rows(
    lay: &SiteLayout,
    trig: &Trig,
    c0: &[u32],
    c1: &[u32],
    rows: std::ops::Range<u32>,
) -> Counts {
    let w = lay.row_words as usize;
    let two_d = lay.lattice.kind().dimension() > 1;
    let z = lay.lattice.coordination() as usize;
    let mut c = Counts::default();
    COLUMNS.with_borrow_mut(|columns| {
        columns.clear();
        columns.resize(2 * w, ByteCounts::default());
        let mut pending = 0;
        for row in rows {
            let nb = lay.row_neighbours(row);
            let o = lay.offset(0, row) as usize;
            let mut row_ones = 0u64;
            for k in 0..w {
                let (w0, w1) = (c0[row as usize * w + k], c1[row as usize * w + k]);
                row_ones += (w0.count_ones() + w1.count_ones()) as u64;
                if w0 != 0 {
                    let g = lay.gather(c1, row, &nb, k as u32, o as u32);
                    c.ones_bonds += g[..z]
                        .iter()
                        .map(|&n| (w0 & n).count_ones() as u64)
                        .sum::<u64>();
                }
                columns[o * w + k].add(w0);
                columns[(1 - o) * w + k].add(w1);
            }
            c.ones += row_ones;
            if two_d {
                let (y, _) = lay.yz(row);
                add_signed(&mut c.fourier[4..6], trig.cos[y as usize], row_ones);
                add_signed(&mut c.fourier[6..8], trig.sin[y as usize], row_ones);
            }
            pending += 1;
            if pending == 255 {
                flush_columns(columns, w, trig, &mut c);
                pending = 0;
            }
        }
        flush_columns(columns, w, trig, &mut c);
    });
    c
}

/// The site-packed CPU sampler: rayon over chains (many chains) or over blocks of words of
/// each colour (few chains), SIMD over words where the CPU has it.
pub struct SitesCpuSampler {
    spec: ChainSpec,
    layout: SiteLayout,
    key: [u32; 2],
    tables: PlaneTables,
    words: Vec<u32>,
    trig: Trig,
    sweep: u32,
    simd: Simd,
}

impl SitesCpuSampler {
    /// Packs the initial configuration (the same as every other backend's); SIMD as
    /// detected.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for the triangular lattice or a cluster algorithm.
    pub fn new(spec: ChainSpec) -> Result<Self> {
        super::check_single_site(&spec)?;
        Self::with_simd(spec, Simd::detect())
    }

    /// As [`SitesCpuSampler::new`] with a given instruction set (tests compare them; a set
    /// this CPU lacks falls back to the scalar path).
    ///
    /// # Errors
    /// As [`SitesCpuSampler::new`].
    pub fn with_simd(spec: ChainSpec, simd: Simd) -> Result<Self> {
        let layout = SiteLayout::new(spec.model.lattice, spec.chains)?;
        let simd = Simd::available(simd);
        Ok(SitesCpuSampler {
            words: layout.pack(&initial_configuration(&spec)),
            key: seed_key(spec.seed),
            tables: PlaneTables::new(
                &spec.model.flip_thresholds(spec.algorithm),
                spec.model.lattice.coordination(),
            ),
            trig: Trig::new(spec.model.lattice.size()),
            layout,
            spec,
            sweep: 0,
            simd,
        })
    }

    /// The layout.
    pub fn layout(&self) -> &SiteLayout {
        &self.layout
    }

    fn update(&self, sweep: u32, colour: u32) -> Update<'_> {
        Update {
            layout: &self.layout,
            tables: &self.tables,
            key: self.key,
            sweep,
            colour,
        }
    }

    /// One chain through `sweeps` sweeps from `first`, measuring every `every`-th.
    fn advance_chain(
        &self,
        chain: u32,
        w0: &mut [u32],
        w1: &mut [u32],
        first: u32,
        sweeps: u32,
        every: u32,
    ) -> Vec<Counts> {
        let mut out = Vec::new();
        for i in 0..sweeps {
            self.update(first + i, 0).run(self.simd, chain, 0, w0, w1);
            self.update(first + i, 1).run(self.simd, chain, 0, w1, w0);
            if every > 0 && (i + 1) % every == 0 {
                out.push(count_rows(
                    &self.layout,
                    &self.trig,
                    w0,
                    w1,
                    0..self.layout.rows,
                ));
            }
        }
        out
    }

    /// Every chain through the sweeps, each chain on its own task (many small chains).
    fn advance_chain_parallel(&mut self, sweeps: u32, every: u32) -> Vec<Counts> {
        let cw = self.layout.chain_words();
        let mut words = std::mem::take(&mut self.words);
        let (c0, c1) = words.split_at_mut(self.layout.colour_words());
        let first = self.sweep;
        let per_chain: Vec<Vec<Counts>> = c0
            .par_chunks_mut(cw)
            .zip(c1.par_chunks_mut(cw))
            .enumerate()
            .map(|(chain, (w0, w1))| self.advance_chain(chain as u32, w0, w1, first, sweeps, every))
            .collect();
        self.words = words;
        super::measurement_major(&per_chain)
    }

    /// Words per task when one colour of a chain is split over threads.
    fn block_words(&self) -> usize {
        let cw = self.layout.chain_words();
        let tasks = 4 * rayon::current_num_threads();
        cw.div_ceil(tasks).next_multiple_of(64).max(256).min(cw)
    }

    /// One colour of one sweep of every chain, split into blocks of words.
    fn colour_blocks(&mut self, sweep: u32, colour: u32) {
        let cw = self.layout.chain_words();
        let block = self.block_words();
        let mut words = std::mem::take(&mut self.words);
        let (c0, c1) = words.split_at_mut(self.layout.colour_words());
        let (target, other) = if colour == 0 { (c0, &*c1) } else { (c1, &*c0) };
        let update = self.update(sweep, colour);
        let simd = self.simd;
        target
            .par_chunks_mut(cw)
            .zip(other.par_chunks(cw))
            .enumerate()
            .for_each(|(chain, (t, o))| {
                t.par_chunks_mut(block).enumerate().for_each(|(i, part)| {
                    update.run(simd, chain as u32, i * block, part, o);
                })
            });
        self.words = words;
    }

    /// Counts of every chain, rows split over threads.
    fn measure(&self) -> Vec<Counts> {
        let lay = &self.layout;
        let cw = lay.chain_words();
        let (c0, c1) = self.words.split_at(lay.colour_words());
        let rows_per_task = (lay.rows as usize)
            .div_ceil(4 * rayon::current_num_threads())
            .max(1) as u32;
        c0.par_chunks(cw)
            .zip(c1.par_chunks(cw))
            .map(|(w0, w1)| {
                (0..lay.rows.div_ceil(rows_per_task))
                    .into_par_iter()
                    .map(|t| {
                        let r0 = t * rows_per_task;
                        count_rows(
                            lay,
                            &self.trig,
                            w0,
                            w1,
                            r0..(r0 + rows_per_task).min(lay.rows),
                        )
                    })
                    .reduce(Counts::default, Counts::merge)
            })
            .collect()
    }
}

impl Sampler for SitesCpuSampler {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "cpu".into(),
            adapter: format!("{} threads", rayon::current_num_threads()),
            api: format!(
                "rayon, site-packed (32 sites per word), {}",
                self.simd.name()
            ),
            kernel: "sites".into(),
        }
    }

    fn sweeps_done(&self) -> u32 {
        self.sweep
    }

    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>> {
        check_sweep_budget(self.sweep, sweeps)?;
        let threads = rayon::current_num_threads() as u32;
        // one task per chain for the whole call: many chains of modest size, or chains so
        // small (≤ 1024 words per colour) that splitting a colour costs more than it saves
        let words = self.layout.chain_words();
        let out = if words <= 1 << 10 || (self.spec.chains >= threads && words <= 1 << 16) {
            self.advance_chain_parallel(sweeps, measure_every)
        } else {
            let mut out = Vec::new();
            for i in 0..sweeps {
                self.colour_blocks(self.sweep + i, 0);
                self.colour_blocks(self.sweep + i, 1);
                if measure_every > 0 && (i + 1) % measure_every == 0 {
                    out.extend(self.measure());
                }
            }
            out
        };
        self.sweep += sweeps;
        Ok(out)
    }

    fn configurations(&mut self) -> Result<Vec<u8>> {
        Ok(self.layout.unpack(&self.words))
    }

    fn restore(&mut self, bits: &[u8], sweeps_done: u32) -> Result<()> {
        super::check_restore(bits.len(), self.spec.chains as usize * self.spec.sites())?;
        self.words = self.layout.pack(bits);
        self.sweep = sweeps_done;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Start;
    use crate::lattice::LatticeKind;
    use crate::model::{Algorithm, Model, Units, counts};

    fn spec(kind: LatticeKind, size: u32, chains: u32, h: f64) -> ChainSpec {
        let lat = Lattice::new(kind, size).unwrap();
        let model = Model::new(lat, Units::Spin, 0.4, 1.0, h).unwrap();
        ChainSpec::new(model, Algorithm::HeatBath, chains, 5, Start::Hot).unwrap()
    }

    #[test]
    fn pack_unpack_and_neighbours() {
        for (kind, size) in [
            (LatticeKind::Chain, 70),
            (LatticeKind::Square, 6),
            (LatticeKind::Square, 68),
            (LatticeKind::Cubic, 6),
        ] {
            let s = spec(kind, size, 3, 0.0);
            let lay = SiteLayout::new(s.model.lattice, 3).unwrap();
            let bits = initial_configuration(&s);
            let words = lay.pack(&bits);
            assert_eq!(lay.unpack(&words), bits);
            // every neighbour word of every site holds its neighbours' bits
            let lat = s.model.lattice;
            let n = lat.sites() as usize;
            let cw = lay.chain_words();
            let w = lay.row_words as usize;
            for chain in 0..3usize {
                let chain_bits = &bits[chain * n..(chain + 1) * n];
                for colour in 0..2u32 {
                    let other = &words[((1 - colour as usize) * 3 + chain) * cw..][..cw];
                    for row in 0..lay.rows {
                        let nb = lay.row_neighbours(row);
                        let o = lay.offset(colour, row);
                        for k in 0..w as u32 {
                            let g = lay.gather(other, row, &nb, k, o);
                            for j in 0..32 {
                                if lay.valid(k) >> j & 1 == 0 {
                                    continue;
                                }
                                let x = 2 * (32 * k + j) + o;
                                let site = row * lat.size() + x;
                                let (nbs, z) = lat.neighbours(site);
                                let want: u32 = nbs[..z]
                                    .iter()
                                    .map(|&t| chain_bits[t as usize] as u32)
                                    .sum();
                                let got: u32 = g.iter().map(|w| w >> j & 1).sum();
                                assert_eq!(got, want, "{kind} L={size} site {site}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn measurement_equals_direct_count() {
        for (kind, size) in [
            (LatticeKind::Chain, 70),
            (LatticeKind::Square, 10),
            (LatticeKind::Square, 68),
            (LatticeKind::Cubic, 6),
        ] {
            let s = spec(kind, size, 2, 0.0);
            let mut sampler = SitesCpuSampler::new(s).unwrap();
            let got = sampler.advance(3, 1).unwrap();
            let bits = sampler.configurations().unwrap();
            let n = s.sites();
            for chain in 0..2 {
                assert_eq!(
                    got[4 + chain],
                    counts(&s.model.lattice, &bits[chain * n..(chain + 1) * n])
                );
            }
        }
    }

    #[test]
    fn scalar_and_simd_paths_agree() {
        for (kind, size, chains) in [
            (LatticeKind::Chain, 134, 1),
            (LatticeKind::Square, 68, 2),
            (LatticeKind::Square, 200, 1),
            (LatticeKind::Cubic, 10, 5),
        ] {
            let s = spec(kind, size, chains, 0.3);
            let mut runs = [Simd::Scalar, Simd::Wide].map(|simd| {
                let mut x = SitesCpuSampler::with_simd(s, simd).unwrap();
                let m = x.advance(7, 2).unwrap();
                (m, x.configurations().unwrap())
            });
            let first = runs[0].clone();
            for r in &mut runs[1..] {
                assert_eq!(*r, first, "{kind} L={size}");
            }
        }
    }
}
