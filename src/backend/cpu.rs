//! CPU backend: the plain Rust twin of `shaders/update.wgsl` and `shaders/measure.wgsl`.
//!
//! [`Mode::Reference`] is a sequential loop, easy to read next to the shader;
//! [`Mode::Threaded`] runs the same per-site function on rayon's thread pool, split over
//! chains and rows. Sites of one colour never neighbour each other, so within a colour
//! every update reads only sites that no other thread writes: the split cannot change
//! the result, and both modes agree bit for bit with each other and with the GPU.

use super::{BackendInfo, ChainSpec, Sampler, check_sweep_budget, initial_configuration};
use crate::error::Result;
use crate::lattice::Lattice;
use crate::model::{Counts, accept};
use crate::rng::{Purpose, seed_key, site_word};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// How the CPU backend runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One thread, sites in order.
    Reference,
    /// rayon over chains and rows.
    Threaded,
}

/// The CPU sampler. Bits live in `AtomicU8`s accessed with relaxed ordering (plain loads and
/// stores on common hardware) so that threads can share a chain without `unsafe`.
pub struct CpuSampler {
    spec: ChainSpec,
    mode: Mode,
    key: [u32; 2],
    flip: [u32; 16],
    bits: Vec<AtomicU8>,
    sweep: u32,
}

/// Number of set neighbours of `site` (twin of `set_neighbours` in lattice.wgsl).
#[inline]
fn set_neighbours(lat: &Lattice, chain: &[AtomicU8], site: u32) -> u32 {
    let (nb, k) = lat.neighbours(site);
    nb[..k]
        .iter()
        .map(|&j| chain[j as usize].load(Relaxed) as u32)
        .sum()
}

/// One site update (twin of the `update` kernel): returns the new bit.
#[inline]
pub fn update_site(
    lat: &Lattice,
    flip: &[u32; 16],
    key: [u32; 2],
    chain_index: u32,
    sweep: u32,
    chain: &[AtomicU8],
    site: u32,
) -> u8 {
    let b = chain[site as usize].load(Relaxed);
    let k = set_neighbours(lat, chain, site);
    let r = site_word(key, site, sweep, chain_index, Purpose::Update);
    let t = flip[(b as u32 * (lat.coordination() + 1) + k) as usize];
    b ^ accept(r, t) as u8
}

/// Counts of one chain (twin of the `measure` kernel).
fn chain_counts(lat: &Lattice, chain: &[AtomicU8], parallel: bool) -> Counts {
    let site_counts = |s: u32| {
        let b = chain[s as usize].load(Relaxed) as u64;
        let (f, k) = lat.forward_neighbours(s);
        let bb: u64 = f[..k]
            .iter()
            .map(|&t| chain[t as usize].load(Relaxed) as u64)
            .sum();
        Counts {
            ones: b,
            ones_bonds: b * bb,
        }
    };
    let add = |a: Counts, b: Counts| Counts {
        ones: a.ones + b.ones,
        ones_bonds: a.ones_bonds + b.ones_bonds,
    };
    if parallel {
        (0..lat.sites())
            .into_par_iter()
            .with_min_len(4096)
            .map(site_counts)
            .reduce(Counts::default, add)
    } else {
        (0..lat.sites())
            .map(site_counts)
            .fold(Counts::default(), add)
    }
}

impl CpuSampler {
    /// Initialises the chains (see [`super::initial_configuration`]).
    ///
    /// # Errors
    /// None at present; the signature leaves room for memory checks.
    pub fn new(spec: ChainSpec, mode: Mode) -> Result<Self> {
        let bits = initial_configuration(&spec)
            .into_iter()
            .map(AtomicU8::new)
            .collect();
        Ok(CpuSampler {
            key: seed_key(spec.seed),
            flip: spec.model.flip_thresholds(spec.algorithm),
            spec,
            mode,
            bits,
            sweep: 0,
        })
    }

    fn sweep_once(&mut self) {
        let lat = self.spec.model.lattice;
        let n = lat.sites() as usize;
        let per_colour = lat.sites_per_colour();
        let (flip, key, sweep) = (&self.flip, self.key, self.sweep);
        for colour in 0..lat.colours() {
            match self.mode {
                Mode::Reference => {
                    for (c, chain) in self.bits.chunks(n).enumerate() {
                        for t in 0..per_colour {
                            let site = lat.site_of_colour(colour, t);
                            let b = update_site(&lat, flip, key, c as u32, sweep, chain, site);
                            chain[site as usize].store(b, Relaxed);
                        }
                    }
                }
                Mode::Threaded => {
                    // Tasks: (chain, block of rows); a row holds L / colours sites of a colour.
                    let lanes = lat.size() / lat.colours();
                    let rows = per_colour / lanes;
                    let chains = self.spec.chains;
                    let want = 4 * rayon::current_num_threads() as u32;
                    let blocks = want.div_ceil(chains).clamp(1, rows);
                    let rows_per_block = rows.div_ceil(blocks);
                    let bits = &self.bits;
                    (0..chains * blocks).into_par_iter().for_each(|task| {
                        let c = task / blocks;
                        let r0 = (task % blocks) * rows_per_block;
                        let r1 = (r0 + rows_per_block).min(rows);
                        let chain = &bits[c as usize * n..(c as usize + 1) * n];
                        for t in r0 * lanes..r1 * lanes {
                            let site = lat.site_of_colour(colour, t);
                            let b = update_site(&lat, flip, key, c, sweep, chain, site);
                            chain[site as usize].store(b, Relaxed);
                        }
                    });
                }
            }
        }
        self.sweep += 1;
    }

    fn measure(&self) -> Vec<Counts> {
        let lat = self.spec.model.lattice;
        let n = lat.sites() as usize;
        match self.mode {
            Mode::Reference => self
                .bits
                .chunks(n)
                .map(|ch| chain_counts(&lat, ch, false))
                .collect(),
            Mode::Threaded => {
                let parallel_inner = (self.spec.chains as usize) < rayon::current_num_threads();
                self.bits
                    .par_chunks(n)
                    .map(|ch| chain_counts(&lat, ch, parallel_inner))
                    .collect()
            }
        }
    }
}

impl Sampler for CpuSampler {
    fn info(&self) -> BackendInfo {
        let (api, adapter) = match self.mode {
            Mode::Reference => ("reference".to_string(), "1 thread".to_string()),
            Mode::Threaded => (
                "rayon".to_string(),
                format!("{} threads", rayon::current_num_threads()),
            ),
        };
        BackendInfo {
            kind: "cpu".into(),
            adapter,
            api,
        }
    }

    fn sweeps_done(&self) -> u32 {
        self.sweep
    }

    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>> {
        check_sweep_budget(self.sweep, sweeps)?;
        let mut out = Vec::new();
        for i in 1..=sweeps {
            self.sweep_once();
            if measure_every > 0 && i % measure_every == 0 {
                out.extend(self.measure());
            }
        }
        Ok(out)
    }

    fn configurations(&mut self) -> Result<Vec<u8>> {
        Ok(self.bits.iter().map(|b| b.load(Relaxed)).collect())
    }
}
