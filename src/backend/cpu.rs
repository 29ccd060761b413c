//! CPU backend.
//!
//! [`Mode::Reference`] is the plain twin of `shaders/update.wgsl` and
//! `shaders/measure.wgsl`: one thread, one site at a time, the same thread-index → site map
//! and the same arithmetic, easy to read side by side with the shaders.
//!
//! [`Mode::Threaded`] is the fast path: it walks whole rows (no per-site divisions) and runs
//! on rayon's pool. With at least as many chains as threads, each task advances one chain
//! through all requested sweeps (no synchronisation between colours); otherwise each
//! colour of each sweep is split into blocks of rows. Sites of one colour never neighbour
//! each other, so a colour update reads only sites no other task writes: the split cannot
//! change the result, and both modes agree bit for bit with each other and with the GPU
//! (`tests/bit_exact.rs`).

use super::{BackendInfo, ChainSpec, Sampler, check_sweep_budget, initial_configuration};
use crate::error::Result;
use crate::lattice::{Lattice, LatticeKind};
use crate::model::{Counts, Trig, accept, add_signed};
use crate::rng::{Purpose, seed_key, site_word};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// How the CPU backend runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One thread, the shader's per-site structure.
    Reference,
    /// Row-wise loops on rayon's thread pool: chain-parallel when there are at least as many
    /// chains as threads, row-parallel otherwise.
    Threaded,
    /// Row-wise loops, always split into blocks of rows (what `Threaded` does for few
    /// chains); exposed so tests and benches can exercise it on any machine.
    ThreadedRows,
}

/// What a site update needs besides the lattice state.
#[derive(Clone, Copy)]
struct Rule<'a> {
    lat: Lattice,
    flip: &'a [u32; 16],
    key: [u32; 2],
    sweep: u32,
}

impl Rule<'_> {
    /// The new bit of `site` with `k` set neighbours (the decision of the `update` kernel).
    #[inline(always)]
    fn decide(&self, chain_index: u32, site: u32, bit: u8, k: u32) -> u8 {
        let r = site_word(self.key, site, self.sweep, chain_index, Purpose::Update);
        let t = self.flip[(bit as u32 * (self.lat.coordination() + 1) + k) as usize];
        bit ^ accept(r, t) as u8
    }
}

#[inline(always)]
fn ld(chain: &[AtomicU8], i: u32) -> u32 {
    chain[i as usize].load(Relaxed) as u32
}

/// Twin of the `update` kernel: invocation `t` (within one chain) of colour `colour`.
fn update_thread(rule: &Rule, chain_index: u32, chain: &[AtomicU8], colour: u32, t: u32) {
    let lat = &rule.lat;
    let per_row = super::update_threads_per_row(lat);
    let row = lat.row(t / per_row);
    let first = lat.colour_offset(colour, row.y, row.z);
    for j in (t % per_row..lat.lanes()).step_by(per_row as usize) {
        let site = row.base + j * lat.colours() + first;
        let (nb, z) = lat.neighbours(site);
        let k = nb[..z].iter().map(|&i| ld(chain, i)).sum();
        let b = chain[site as usize].load(Relaxed);
        chain[site as usize].store(rule.decide(chain_index, site, b, k), Relaxed);
    }
}

/// Twin of the `measure` kernel for one chain.
fn counts_reference(lat: &Lattice, trig: &Trig, chain: &[AtomicU8]) -> Counts {
    let mut c = Counts::default();
    let two_d = lat.kind().dimension() > 1;
    for s in lat.site_iter() {
        let b = ld(chain, s) as u64;
        let (f, k) = lat.forward_neighbours(s);
        c.ones += b;
        c.ones_bonds += b * f[..k].iter().map(|&t| ld(chain, t) as u64).sum::<u64>();
        if b == 1 {
            let [x, y, _] = lat.coords(s);
            c.add_fourier(trig, x, y, two_d);
        }
    }
    c
}

/// Fast path: updates the sites of `colour` in rows `rows` of one chain.
fn update_rows(
    rule: &Rule,
    chain_index: u32,
    chain: &[AtomicU8],
    colour: u32,
    rows: std::ops::Range<u32>,
) {
    let lat = &rule.lat;
    let l = lat.size();
    let step = lat.colours() as usize;
    let triangular = lat.kind() == LatticeKind::Triangular;
    for r in rows {
        let row = lat.row(r);
        let first = lat.colour_offset(colour, row.y, row.z);
        for x in (first..l).step_by(step) {
            let xp = if x + 1 == l { 0 } else { x + 1 };
            let xm = if x == 0 { l - 1 } else { x - 1 };
            let mut k = ld(chain, row.base + xp) + ld(chain, row.base + xm);
            if let (Some(p), Some(m)) = (row.y_plus, row.y_minus) {
                k += ld(chain, p + x) + ld(chain, m + x);
                if triangular {
                    k += ld(chain, m + xp) + ld(chain, p + xm);
                }
            }
            if let (Some(p), Some(m)) = (row.z_plus, row.z_minus) {
                k += ld(chain, p + x) + ld(chain, m + x);
            }
            let site = row.base + x;
            let b = chain[site as usize].load(Relaxed);
            chain[site as usize].store(rule.decide(chain_index, site, b, k), Relaxed);
        }
    }
}

/// One site's bit, stored as a byte or an atomic byte.
pub(crate) trait Bit {
    fn bit(&self) -> u32;
}

impl Bit for u8 {
    #[inline(always)]
    fn bit(&self) -> u32 {
        *self as u32
    }
}

impl Bit for AtomicU8 {
    #[inline(always)]
    fn bit(&self) -> u32 {
        self.load(Relaxed) as u32
    }
}

/// Fast path: counts of rows `rows` of one chain (also the cluster samplers' measurement).
pub(crate) fn count_rows<B: Bit>(
    lat: &Lattice,
    trig: &Trig,
    chain: &[B],
    rows: std::ops::Range<u32>,
) -> Counts {
    let ld = |chain: &[B], i: u32| chain[i as usize].bit();
    let l = lat.size();
    let two_d = lat.kind().dimension() > 1;
    let triangular = lat.kind() == LatticeKind::Triangular;
    let mut c = Counts::default();
    // branch-free in the data: every site adds b times its terms (the sign split of the
    // Fourier tables depends on x only), the y terms once per row
    for r in rows {
        let row = lat.row(r);
        let (mut ones, mut bonds) = (0u64, 0u64);
        for x in 0..l {
            let b = ld(chain, row.base + x);
            let xp = if x + 1 == l { 0 } else { x + 1 };
            let mut k = ld(chain, row.base + xp);
            if let (Some(p), Some(m)) = (row.y_plus, row.y_minus) {
                k += ld(chain, p + x);
                if triangular {
                    k += ld(chain, m + xp);
                }
            }
            if let Some(p) = row.z_plus {
                k += ld(chain, p + x);
            }
            ones += b as u64;
            bonds += (b * k) as u64;
            add_signed(&mut c.fourier[0..2], trig.cos[x as usize], b as u64);
            add_signed(&mut c.fourier[2..4], trig.sin[x as usize], b as u64);
        }
        c.ones += ones;
        c.ones_bonds += bonds;
        if two_d {
            add_signed(&mut c.fourier[4..6], trig.cos[row.y as usize], ones);
            add_signed(&mut c.fourier[6..8], trig.sin[row.y as usize], ones);
        }
    }
    c
}

fn add(a: Counts, b: Counts) -> Counts {
    a.merge(b)
}

/// The CPU sampler. Bits live in `AtomicU8`s accessed with relaxed ordering (plain loads and
/// stores on common hardware) so that threads can share a chain without `unsafe`.
pub struct CpuSampler {
    spec: ChainSpec,
    mode: Mode,
    key: [u32; 2],
    flip: [u32; 16],
    bits: Vec<AtomicU8>,
    trig: Trig,
    sweep: u32,
}

impl CpuSampler {
    /// Initialises the chains (see [`super::initial_configuration`]).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a cluster algorithm ([`super::cluster`]).
    pub fn new(spec: ChainSpec, mode: Mode) -> Result<Self> {
        super::check_single_site(&spec)?;
        let bits = initial_configuration(&spec)
            .into_iter()
            .map(AtomicU8::new)
            .collect();
        Ok(CpuSampler {
            key: seed_key(spec.seed),
            flip: spec.model.flip_thresholds(spec.algorithm),
            trig: Trig::new(spec.model.lattice.size()),
            spec,
            mode,
            bits,
            sweep: 0,
        })
    }

    fn rule(&self, sweep: u32) -> Rule<'_> {
        Rule {
            lat: self.spec.model.lattice,
            flip: &self.flip,
            key: self.key,
            sweep,
        }
    }

    fn chain(&self, c: usize) -> &[AtomicU8] {
        let n = self.spec.sites();
        &self.bits[c * n..(c + 1) * n]
    }

    fn advance_reference(&self, sweeps: u32, every: u32) -> Vec<Counts> {
        let lat = self.spec.model.lattice;
        let mut out = Vec::new();
        for i in 1..=sweeps {
            let rule = self.rule(self.sweep + i - 1);
            for colour in 0..lat.colours() {
                for c in 0..self.spec.chains {
                    for t in 0..lat.rows() * super::update_threads_per_row(&lat) {
                        update_thread(&rule, c, self.chain(c as usize), colour, t);
                    }
                }
            }
            if every > 0 && i % every == 0 {
                out.extend(
                    (0..self.spec.chains as usize)
                        .map(|c| counts_reference(&lat, &self.trig, self.chain(c))),
                );
            }
        }
        out
    }

    /// Each task runs one chain through every sweep; results transposed to measurement-major.
    fn advance_chain_parallel(&self, sweeps: u32, every: u32) -> Vec<Counts> {
        let lat = self.spec.model.lattice;
        let per_chain: Vec<Vec<Counts>> = (0..self.spec.chains)
            .into_par_iter()
            .map(|c| {
                let chain = self.chain(c as usize);
                let mut series = Vec::new();
                for i in 1..=sweeps {
                    let rule = self.rule(self.sweep + i - 1);
                    for colour in 0..lat.colours() {
                        update_rows(&rule, c, chain, colour, 0..lat.rows());
                    }
                    if every > 0 && i % every == 0 {
                        series.push(count_rows(&lat, &self.trig, chain, 0..lat.rows()));
                    }
                }
                series
            })
            .collect();
        super::measurement_major(&per_chain)
    }

    /// Each colour of each sweep is split into blocks of rows of every chain.
    fn advance_row_parallel(&self, sweeps: u32, every: u32) -> Vec<Counts> {
        let lat = self.spec.model.lattice;
        let rows = lat.rows();
        let chains = self.spec.chains;
        let blocks = (8 * rayon::current_num_threads() as u32)
            .div_ceil(chains)
            .clamp(1, rows);
        let per_block = rows.div_ceil(blocks);
        let block_rows = move |b: u32| (b * per_block).min(rows)..((b + 1) * per_block).min(rows);
        let mut out = Vec::new();
        for i in 1..=sweeps {
            let rule = self.rule(self.sweep + i - 1);
            for colour in 0..lat.colours() {
                (0..chains * blocks).into_par_iter().for_each(|task| {
                    let c = task / blocks;
                    update_rows(
                        &rule,
                        c,
                        self.chain(c as usize),
                        colour,
                        block_rows(task % blocks),
                    );
                });
            }
            if every > 0 && i % every == 0 {
                out.extend((0..chains).map(|c| {
                    (0..blocks)
                        .into_par_iter()
                        .map(|b| {
                            count_rows(&lat, &self.trig, self.chain(c as usize), block_rows(b))
                        })
                        .reduce(Counts::default, add)
                }));
            }
        }
        out
    }
}

impl Sampler for CpuSampler {
    fn info(&self) -> BackendInfo {
        let (api, adapter) = match self.mode {
            Mode::Reference => ("reference".to_string(), "1 thread".to_string()),
            Mode::Threaded | Mode::ThreadedRows => (
                "rayon".to_string(),
                format!("{} threads", rayon::current_num_threads()),
            ),
        };
        BackendInfo {
            kind: "cpu".into(),
            adapter,
            api,
            kernel: "reference".into(),
        }
    }

    fn sweeps_done(&self) -> u32 {
        self.sweep
    }

    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>> {
        check_sweep_budget(self.sweep, sweeps)?;
        let out = match self.mode {
            Mode::Reference => self.advance_reference(sweeps, measure_every),
            Mode::Threaded if self.spec.chains as usize >= rayon::current_num_threads() => {
                self.advance_chain_parallel(sweeps, measure_every)
            }
            Mode::Threaded | Mode::ThreadedRows => self.advance_row_parallel(sweeps, measure_every),
        };
        self.sweep += sweeps;
        Ok(out)
    }

    fn configurations(&mut self) -> Result<Vec<u8>> {
        Ok(self.bits.iter().map(|b| b.load(Relaxed)).collect())
    }

    fn restore(&mut self, bits: &[u8], sweeps_done: u32) -> Result<()> {
        super::check_restore(bits.len(), self.bits.len())?;
        for (a, &b) in self.bits.iter().zip(bits) {
            a.store(b & 1, Relaxed);
        }
        self.sweep = sweeps_done;
        Ok(())
    }
}
