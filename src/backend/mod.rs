//! The samplers: a CPU backend (reference loop and multi-threaded path) and a GPU backend
//! (wgpu compute), bit-identical for the same [`ChainSpec`].
//!
//! **Random numbers.** Sweep `s` (counted from 0 after initialisation) updates, colour by
//! colour, every site of every chain once; site `i` of chain `c` uses the word
//! `philox4x32_10([i, s, c, 0], seed)[0]`. A hot start sets bit `b_i` to the top bit of
//! `philox4x32_10([i, 0, c, 1], seed)[0]`; a cold start sets every bit to 1 (all spins up,
//! every bernoulli unit occupied).

pub mod cpu;
pub mod gpu;
pub mod lanes;
pub mod packed;
pub mod sites;

use crate::error::{Error, Result};
use crate::model::{Algorithm, Counts, Model};
use crate::rng::{Purpose, seed_key, site_word};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Sites of one colour of a row updated by one `update` invocation (at most).
pub const UPDATE_SITES_PER_THREAD: u32 = 4;

/// `update` invocations per row: each handles lanes j = u, u + T, … of its row (T = this).
pub fn update_threads_per_row(lattice: &crate::lattice::Lattice) -> u32 {
    lattice.lanes().div_ceil(UPDATE_SITES_PER_THREAD)
}

/// Most sites over all chains (64 GiB of configurations at one byte per site).
pub const MAX_TOTAL_SITES: u64 = 1 << 36;

/// Initial configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// Independent random bits (infinite temperature).
    Hot,
    /// Every bit 1.
    Cold,
}

impl fmt::Display for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Start::Hot => "hot",
            Start::Cold => "cold",
        })
    }
}

/// Everything that determines the chains' trajectories.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainSpec {
    /// The model.
    pub model: Model,
    /// Update rule.
    pub algorithm: Algorithm,
    /// Number of independent chains.
    pub chains: u32,
    /// Seed (the Philox key).
    pub seed: u64,
    /// Initial configuration.
    pub start: Start,
}

impl ChainSpec {
    /// Validates the number of chains.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `--chains` if it is 0 or there are more than
    /// [`MAX_TOTAL_SITES`] sites in all (whether a job fits the memory is checked when it
    /// is planned).
    pub fn new(
        model: Model,
        algorithm: Algorithm,
        chains: u32,
        seed: u64,
        start: Start,
    ) -> Result<Self> {
        if chains == 0 {
            return Err(Error::invalid("--chains", "must be at least 1 (got 0)"));
        }
        let total = chains as u64 * model.lattice.sites();
        if total > MAX_TOTAL_SITES {
            return Err(Error::invalid(
                "--chains",
                format!(
                    "{chains} chains of {} sites are {total} sites; at most 2^36 = {MAX_TOTAL_SITES} sites in all are supported",
                    model.lattice.sites(),
                ),
            ));
        }
        Ok(ChainSpec {
            model,
            algorithm,
            chains,
            seed,
            start,
        })
    }

    /// Sites per chain.
    pub fn sites(&self) -> usize {
        self.model.lattice.sites() as usize
    }
}

/// The initial bits of every chain, chain-major (`chains × N`).
pub fn initial_configuration(spec: &ChainSpec) -> Vec<u8> {
    let n = spec.sites();
    let mut bits = vec![1u8; n * spec.chains as usize];
    if spec.start == Start::Hot {
        let key = seed_key(spec.seed);
        bits.par_chunks_mut(n).enumerate().for_each(|(c, chain)| {
            for (i, b) in chain.iter_mut().enumerate() {
                *b = (site_word(key, i as u32, 0, c as u32, Purpose::Init) >> 31) as u8;
            }
        });
    }
    bits
}

/// Which backend ran a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// "gpu" or "cpu".
    pub kind: String,
    /// Adapter name (GPU) or CPU description.
    pub adapter: String,
    /// Graphics API (GPU) or "rayon"/"reference" (CPU).
    pub api: String,
}

/// A set of chains that can be advanced by sweeps and measured.
pub trait Sampler {
    /// Backend description.
    fn info(&self) -> BackendInfo;
    /// Sweeps done since initialisation.
    fn sweeps_done(&self) -> u32;
    /// Runs `sweeps` sweeps. If `measure_every > 0`, measures all chains after every
    /// `measure_every`-th sweep of this call and returns the counts measurement-major
    /// (`measurements × chains`).
    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>>;
    /// Current bits of all chains, chain-major.
    fn configurations(&mut self) -> Result<Vec<u8>>;
    /// Replaces every chain's bits (chain-major) and the sweep counter: continues a run from
    /// a checkpoint exactly where it stopped.
    fn restore(&mut self, bits: &[u8], sweeps_done: u32) -> Result<()>;
}

/// `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// GPU if an adapter exists, else CPU (with a notice on stderr).
    Auto,
    /// GPU only; fails without an adapter.
    Gpu,
    /// Multi-threaded CPU backend.
    Cpu,
}

/// `--backend` of lattice sampling: the reference kernels, or the multi-spin coded ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LatticeBackend {
    /// GPU if an adapter exists, else CPU (with a notice on stderr).
    Auto,
    /// GPU reference kernel (a 32-bit word per site; 32 sites per word beyond one binding).
    Gpu,
    /// Multi-threaded CPU, bit-identical to `gpu`.
    Cpu,
    /// Multi-spin coded GPU kernel (32 chains per word; a different random stream).
    GpuFast,
    /// Multi-spin coded CPU, bit-identical to `gpu-fast`.
    CpuFast,
}

impl LatticeBackend {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LatticeBackend::Auto => "auto",
            LatticeBackend::Gpu => "gpu",
            LatticeBackend::Cpu => "cpu",
            LatticeBackend::GpuFast => "gpu-fast",
            LatticeBackend::CpuFast => "cpu-fast",
        }
    }
}

/// Opens a sampler on the chosen backend. `notice` receives a one-line message when
/// `auto` falls back to the CPU.
///
/// # Errors
/// Those of [`gpu::GpuSampler::new`] and [`cpu::CpuSampler::new`].
pub fn open(
    choice: LatticeBackend,
    spec: ChainSpec,
    notice: &mut dyn FnMut(&str),
) -> Result<Box<dyn Sampler>> {
    match choice {
        LatticeBackend::Cpu => Ok(Box::new(cpu::CpuSampler::new(spec, cpu::Mode::Threaded)?)),
        LatticeBackend::CpuFast => Ok(Box::new(packed::PackedCpuSampler::new(spec)?)),
        LatticeBackend::GpuFast => {
            let ctx = gpu::GpuContext::shared()?;
            Ok(Box::new(gpu::GpuSampler::new_packed(ctx, spec)?))
        }
        LatticeBackend::Gpu => {
            let ctx = gpu::GpuContext::shared()?;
            Ok(Box::new(gpu::GpuSampler::new(ctx, spec)?))
        }
        LatticeBackend::Auto => match gpu::GpuContext::shared() {
            Ok(ctx) => Ok(Box::new(gpu::GpuSampler::new(ctx, spec)?)),
            Err(Error::NoAdapter(why)) => {
                notice(&format!(
                    "note: no GPU adapter found{why}; using the CPU backend"
                ));
                Ok(Box::new(cpu::CpuSampler::new(spec, cpu::Mode::Threaded)?))
            }
            Err(e) => Err(e),
        },
    }
}

/// Checks that a restored state has one bit per site and chain.
pub(crate) fn check_restore(got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::invalid(
            "--resume",
            format!("the checkpoint holds {got} sites but the job has {want}"),
        ));
    }
    Ok(())
}

/// Checks that `sweeps` more sweeps keep the u32 sweep counter in range.
pub(crate) fn check_sweep_budget(done: u32, sweeps: u32) -> Result<()> {
    if done.checked_add(sweeps).is_none() {
        return Err(Error::invalid(
            "--sweeps",
            format!(
                "thermalization plus measured sweeps must be below 2^32 (the sweep counter is 32-bit); {done} + {sweeps} is too many"
            ),
        ));
    }
    Ok(())
}
