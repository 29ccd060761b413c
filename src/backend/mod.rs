//! The samplers: three kernels ([`Kernel`]: `reference` in [`cpu`], `chains` in [`packed`],
//! `sites` in [`sites`]), each on the CPU and on the GPU ([`gpu`]), bit-identical between
//! the two devices for the same [`ChainSpec`]; [`open`] picks the device and [`auto_kernel`]
//! the kernel.
//!
//! **Random numbers.** Sweep `s` (counted from 0 after initialisation) updates, colour by
//! colour, every site of every chain once. In the reference kernel site `i` of chain `c`
//! uses the word `philox4x32_10([i, s, c, 0], seed)[0]`; the packed kernels draw random bit
//! planes per 32-lane word instead ([`planes`]). A hot start sets bit `b_i` to the top bit of
//! `philox4x32_10([i, 0, c, 1], seed)[0]` and a cold start sets every bit to 1 (all spins
//! up, every bernoulli unit occupied), for every kernel.

pub mod cluster;
pub mod cpu;
pub mod gpu;
pub mod packed;
pub mod planes;
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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
            return Err(Error::invalid("chains", "must be at least 1 (got 0)"));
        }
        let total = chains as u64 * model.lattice.sites();
        if total > MAX_TOTAL_SITES {
            return Err(Error::invalid(
                "chains",
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
    /// Graphics API (GPU) or "rayon"/"reference" (CPU), with the state layout.
    pub api: String,
    /// The lattice kernel (`reference`, `chains` or `sites`; empty for DBM and RG samplers).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernel: String,
}

/// A set of chains that can be advanced by sweeps and measured. `Send`, so a front end
/// (the Python package) may hold one and run it on another thread.
pub trait Sampler: Send {
    /// Backend description.
    fn info(&self) -> BackendInfo;
    /// Sweeps done since initialisation.
    fn sweeps_done(&self) -> u32;
    /// Runs `sweeps` sweeps. If `measure_every > 0`, measures all chains after every
    /// `measure_every`-th sweep of this call and returns the counts measurement-major
    /// (`measurements × chains`).
    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>>;
    /// Marks the sweeps that follow as thermalization sweeps (`true`) or measured sweeps
    /// (`false`, the initial state). Only Wolff distinguishes them: a thermalization sweep
    /// grows clusters until their sizes add up to at least N sites, whatever their size,
    /// while a measured sweep is the fixed number of clusters of the pilot (unbiased for
    /// measurements). The run loop sets it per phase, so it need not be checkpointed.
    fn set_thermalizing(&mut self, _thermalizing: bool) {}
    /// Current bits of all chains, chain-major.
    fn configurations(&mut self) -> Result<Vec<u8>>;
    /// Replaces every chain's bits (chain-major) and the sweep counter: continues a run from
    /// a checkpoint exactly where it stopped.
    fn restore(&mut self, bits: &[u8], sweeps_done: u32) -> Result<()>;
    /// The chains' state where it lives on a GPU, for analyses that run there without
    /// reading configurations back (MCRG); None on the CPU backends.
    fn device_state(&self) -> Option<DeviceState<'_>> {
        None
    }
}

/// A GPU sampler's state buffers and how bits are laid out in them ([`gpu::Layout`]).
pub struct DeviceState<'a> {
    /// The device.
    pub ctx: &'a std::sync::Arc<gpu::GpuContext>,
    /// The state words, split as `plan` says.
    pub parts: &'a [wgpu::Buffer],
    /// The layout.
    pub layout: gpu::Layout,
    /// The words' plan.
    pub plan: &'a gpu::StatePlan,
    /// The chains.
    pub spec: &'a ChainSpec,
}

/// `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// A hardware GPU if there is one, else the CPU (with a notice on stderr); software
    /// adapters only with `gpu`.
    Auto,
    /// GPU only; fails without an adapter.
    Gpu,
    /// Multi-threaded CPU backend.
    Cpu,
}

/// `--kernel`: the state layout and update kernel of lattice sampling. Every kernel samples
/// the same distribution; each draws its own random stream, bit-identical between the CPU
/// and the GPU backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Kernel {
    /// The fastest kernel for the lattice and the number of chains ([`auto_kernel`]).
    #[default]
    Auto,
    /// One site at a time (a byte or word per site): every lattice.
    Reference,
    /// Multi-spin coded across chains: one site of 32 chains per word.
    Chains,
    /// Multi-spin coded across sites: 32 same-colour sites of one chain per word
    /// (chain, square and cubic lattices).
    Sites,
}

impl Kernel {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Auto => "auto",
            Kernel::Reference => "reference",
            Kernel::Chains => "chains",
            Kernel::Sites => "sites",
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a run's kernel will execute, for the automatic choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The CPU backend with this many threads.
    Cpu {
        /// rayon threads.
        threads: u32,
    },
    /// A GPU (hardware or software).
    Gpu,
}

impl Device {
    /// The device `backend` runs on: `auto` is a GPU only when a hardware adapter exists
    /// ([`gpu::GpuContext::hardware_verdict`]).
    pub fn of(backend: LatticeBackend) -> Device {
        let cpu = Device::Cpu {
            threads: rayon::current_num_threads() as u32,
        };
        match backend.device() {
            BackendChoice::Cpu => cpu,
            BackendChoice::Gpu => Device::Gpu,
            BackendChoice::Auto => match gpu::GpuContext::hardware_verdict() {
                Ok(()) => Device::Gpu,
                Err(_) => cpu,
            },
        }
    }
}

/// Measured speed of one CPU thread on full 32-lane words (BENCHMARKS.md, "Choosing the
/// kernel"): site words of the sites kernel, site words of the chains kernel, and the
/// reference kernel, in spin updates per ns.
pub const CPU_SITES_WORD_RATE: f64 = 1.0;
/// See [`CPU_SITES_WORD_RATE`].
pub const CPU_CHAINS_WORD_RATE: f64 = 0.8;
/// See [`CPU_SITES_WORD_RATE`].
pub const CPU_REFERENCE_RATE: f64 = 0.075;
/// Fixed cost of a chains-kernel sweep and measurement in site-update equivalents: the
/// kernel runs at `N / (N + this)` of its per-word rate on lattices of N sites (measured:
/// 0.38 at N = 64, 0.68 at N = 256, 0.98 at N = 1024).
pub const CPU_CHAINS_OVERHEAD_SITES: f64 = 100.0;

/// What `--kernel auto` runs: the kernel with the highest predicted throughput on `device`
/// for this lattice and number of chains. A packed kernel's throughput is its measured
/// per-word rate × the fraction of its 32 lanes that hold spins (sites: L/2 sites of a
/// colour-row in ⌈L/64⌉ words; chains: the chains in ⌈chains/32⌉ words) × the threads it
/// keeps busy (sites: a chain per task when chains are small, else every thread; chains:
/// one per word group, whose measurement is serial) × (chains kernel) N / (N + 100) for
/// its fixed per-sweep cost on a lattice of N sites. All measured with a measurement per
/// sweep, as `sample` runs.
/// The sites kernel needs a bipartite lattice. On a GPU (not measured on hardware: no
/// device was available) the kernel with the larger lane fraction wins, and on the
/// triangular lattice the chains kernel from 8 chains. Where a kernel does not apply or is
/// slower in every measured case (the reference kernel on bipartite lattices) it is not
/// considered.
pub fn auto_kernel(spec: &ChainSpec, device: Device) -> Kernel {
    let lat = spec.model.lattice;
    let chains = spec.chains as f64;
    let n = lat.size() as f64 / 2.0;
    let site_lanes = n / (32.0 * (n / 32.0).ceil());
    let groups = (chains / 32.0).ceil();
    let chain_lanes = chains / (32.0 * groups);
    let sites_ok = sites::SiteLayout::supports(lat.kind());
    let (sites, packed, reference) = match device {
        Device::Gpu => (site_lanes, chain_lanes, 0.25),
        Device::Cpu { threads } => {
            let t = threads.max(1) as f64;
            let colour_words = lat.rows() as f64 * (n / 32.0).ceil();
            let sites_tasks = if colour_words <= 1024.0 {
                chains.min(t)
            } else {
                t
            };
            // a word group's measurement runs on one thread, so groups bound the speed-up
            let chains_tasks = groups.min(t);
            let sites_per_chain = lat.sites() as f64;
            let chains_fill = sites_per_chain / (sites_per_chain + CPU_CHAINS_OVERHEAD_SITES);
            (
                CPU_SITES_WORD_RATE * site_lanes * sites_tasks,
                CPU_CHAINS_WORD_RATE * chain_lanes * chains_tasks * chains_fill,
                CPU_REFERENCE_RATE * t,
            )
        }
    };
    // bipartite lattices: the better packed kernel (the sites kernel beat the reference
    // one in every case measured); triangular: chains against reference
    match (sites_ok, sites >= packed, packed >= reference) {
        (true, true, _) => Kernel::Sites,
        (true, false, _) | (false, _, true) => Kernel::Chains,
        (false, _, false) => Kernel::Reference,
    }
}

/// The kernel a run uses: `--backend cpu-fast`/`gpu-fast` mean `--kernel chains`, `auto`
/// becomes [`auto_kernel`], and the sites kernel needs a bipartite lattice.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `--kernel` for a combination that does not exist.
pub fn resolve_kernel(backend: LatticeBackend, kernel: Kernel, spec: &ChainSpec) -> Result<Kernel> {
    if spec.algorithm.is_cluster() {
        // the cluster algorithms keep one bit per site ([`cluster`], `shaders/cluster.wgsl`)
        return match (backend, kernel) {
            (
                LatticeBackend::Auto | LatticeBackend::Cpu | LatticeBackend::Gpu,
                Kernel::Auto | Kernel::Reference,
            ) => Ok(Kernel::Reference),
            (_, k) => Err(Error::invalid(
                if matches!(backend, LatticeBackend::CpuFast | LatticeBackend::GpuFast) {
                    "backend"
                } else {
                    "kernel"
                },
                format!(
                    "algorithm {} runs on the reference layout only (kernel auto or reference, backend auto, cpu or gpu); got backend {} kernel {k}",
                    spec.algorithm.name(),
                    backend.name()
                ),
            )),
        };
    }
    let kernel = match (backend, kernel) {
        (LatticeBackend::CpuFast | LatticeBackend::GpuFast, Kernel::Auto | Kernel::Chains) => {
            Kernel::Chains
        }
        (LatticeBackend::CpuFast | LatticeBackend::GpuFast, k) => {
            return Err(Error::invalid(
                "kernel",
                format!(
                    "backend {} means kernel chains and cannot run kernel {k}; use backend {} kernel {k}",
                    backend.name(),
                    backend.device().name()
                ),
            ));
        }
        (_, Kernel::Auto) => auto_kernel(spec, Device::of(backend)),
        (_, k) => k,
    };
    if kernel == Kernel::Sites {
        sites::SiteLayout::new(spec.model.lattice, spec.chains)?;
    }
    Ok(kernel)
}

/// `--backend` of lattice sampling: the device (`auto`, `cpu`, `gpu`), or the aliases
/// `cpu-fast`/`gpu-fast` for that device with `--kernel chains`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum LatticeBackend {
    /// A hardware GPU (discrete, integrated or virtual) if there is one, else the CPU;
    /// software adapters (lavapipe, llvmpipe) only with `gpu`.
    Auto,
    /// The GPU adapter wgpu selects, software adapters included.
    Gpu,
    /// Multi-threaded CPU, bit-identical to `gpu` for every kernel.
    Cpu,
    /// Alias of `--backend gpu --kernel chains`.
    GpuFast,
    /// Alias of `--backend cpu --kernel chains`.
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

    /// The device, without the kernel alias.
    pub fn device(self) -> BackendChoice {
        match self {
            LatticeBackend::Auto => BackendChoice::Auto,
            LatticeBackend::Gpu | LatticeBackend::GpuFast => BackendChoice::Gpu,
            LatticeBackend::Cpu | LatticeBackend::CpuFast => BackendChoice::Cpu,
        }
    }
}

impl BackendChoice {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Gpu => "gpu",
            BackendChoice::Cpu => "cpu",
        }
    }

    /// The GPU context of this choice, or `None` for the CPU: `gpu` opens the adapter wgpu
    /// selects (failing without one), `auto` only a hardware GPU
    /// ([`gpu::GpuContext::hardware_verdict`])
    /// and otherwise tells `notice` why it runs on the CPU.
    ///
    /// # Errors
    /// [`Error::NoAdapter`] for `gpu` without an adapter; [`Error::Gpu`] if opening fails.
    pub fn context(
        self,
        notice: &mut dyn FnMut(&str),
    ) -> Result<Option<std::sync::Arc<gpu::GpuContext>>> {
        match self {
            BackendChoice::Cpu => Ok(None),
            BackendChoice::Gpu => gpu::GpuContext::shared().map(Some),
            BackendChoice::Auto => match gpu::GpuContext::hardware_verdict() {
                Ok(()) => gpu::GpuContext::shared().map(Some),
                Err(why) => {
                    notice(&format!("note: {why}; using the CPU backend"));
                    Ok(None)
                }
            },
        }
    }
}

/// Opens a sampler on the chosen device with `kernel` (resolved by [`resolve_kernel`]).
/// `notice` receives a one-line message when `auto` runs on the CPU.
///
/// # Errors
/// Those of [`resolve_kernel`] and of the samplers' constructors.
pub fn open(
    backend: LatticeBackend,
    kernel: Kernel,
    spec: ChainSpec,
    notice: &mut dyn FnMut(&str),
) -> Result<Box<dyn Sampler>> {
    let kernel = resolve_kernel(backend, kernel, &spec)?;
    if spec.algorithm == Algorithm::Wolff {
        // a single growing cluster is serial work: the CPU backend only
        if backend.device() == BackendChoice::Gpu {
            return Err(Error::invalid(
                "backend",
                "algorithm wolff runs on the CPU only (use backend cpu or auto, or algorithm swendsen-wang on the GPU)",
            ));
        }
        return Ok(Box::new(cluster::ClusterCpuSampler::new(spec)?));
    }
    let context = backend.device().context(notice)?;
    if spec.algorithm == Algorithm::SwendsenWang {
        return Ok(match context {
            None => Box::new(cluster::ClusterCpuSampler::new(spec)?),
            Some(ctx) => Box::new(gpu::GpuSampler::new(ctx, spec)?),
        });
    }
    Ok(match (context, kernel) {
        (None, Kernel::Sites) => Box::new(sites::SitesCpuSampler::new(spec)?),
        (None, Kernel::Chains) => Box::new(packed::PackedCpuSampler::new(spec)?),
        (None, _) => Box::new(cpu::CpuSampler::new(spec, cpu::Mode::Threaded)?),
        (Some(ctx), Kernel::Sites) => Box::new(gpu::GpuSampler::new_sites(ctx, spec)?),
        (Some(ctx), Kernel::Chains) => Box::new(gpu::GpuSampler::new_packed(ctx, spec)?),
        (Some(ctx), _) => Box::new(gpu::GpuSampler::new(ctx, spec)?),
    })
}

/// Per-chain series (`chains × measurements`) to the measurement-major order of
/// [`Sampler::advance`].
pub(crate) fn measurement_major(per_chain: &[Vec<Counts>]) -> Vec<Counts> {
    let m = per_chain.first().map_or(0, Vec::len);
    (0..m)
        .flat_map(|t| per_chain.iter().map(move |s| s[t]))
        .collect()
}

/// Refuses a cluster algorithm in a single-site sampler (they would never flip a site).
pub(crate) fn check_single_site(spec: &ChainSpec) -> Result<()> {
    if spec.algorithm.is_cluster() {
        return Err(Error::invalid(
            "algorithm",
            format!(
                "{} is a cluster algorithm: open it with backend::open or cluster::ClusterCpuSampler",
                spec.algorithm.name()
            ),
        ));
    }
    Ok(())
}

/// Checks that a restored state has one bit per site and chain.
pub(crate) fn check_restore(got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::invalid(
            "resume",
            format!("the checkpoint holds {got} sites but the job has {want}"),
        ));
    }
    Ok(())
}

/// Checks that `sweeps` more sweeps keep the u32 sweep counter in range.
pub(crate) fn check_sweep_budget(done: u32, sweeps: u32) -> Result<()> {
    if done.checked_add(sweeps).is_none() {
        return Err(Error::invalid(
            "sweeps",
            format!(
                "thermalization plus measured sweeps must be below 2^32 (the sweep counter is 32-bit); {done} + {sweeps} is too many"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::{Lattice, LatticeKind};
    use crate::model::{Algorithm, Model, Units};

    fn spec(kind: LatticeKind, size: u32, chains: u32) -> ChainSpec {
        let model = Model::new(
            Lattice::new(kind, size).unwrap(),
            Units::Spin,
            0.4,
            1.0,
            0.0,
        )
        .unwrap();
        ChainSpec::new(model, Algorithm::HeatBath, chains, 1, Start::Hot).unwrap()
    }

    /// The automatic choice on a 2-thread CPU reproduces the winners measured in
    /// BENCHMARKS.md ("Choosing the kernel").
    #[test]
    fn auto_kernel_follows_the_measurements() {
        let cpu = Device::Cpu { threads: 2 };
        for (kind, size, chains, want) in [
            (LatticeKind::Square, 4096, 1, Kernel::Sites),
            (LatticeKind::Square, 1024, 2, Kernel::Sites),
            (LatticeKind::Square, 1024, 32, Kernel::Sites),
            (LatticeKind::Square, 32, 16, Kernel::Sites),
            (LatticeKind::Square, 32, 32, Kernel::Sites),
            (LatticeKind::Square, 32, 64, Kernel::Chains),
            (LatticeKind::Square, 16, 16, Kernel::Sites),
            (LatticeKind::Square, 8, 16, Kernel::Sites),
            (LatticeKind::Square, 64, 64, Kernel::Sites),
            (LatticeKind::Square, 16, 32, Kernel::Chains),
            (LatticeKind::Square, 8, 32, Kernel::Chains),
            (LatticeKind::Cubic, 16, 8, Kernel::Sites),
            (LatticeKind::Cubic, 16, 32, Kernel::Chains),
            (LatticeKind::Chain, 4096, 1, Kernel::Sites),
            (LatticeKind::Triangular, 33, 4, Kernel::Reference),
            (LatticeKind::Triangular, 33, 8, Kernel::Chains),
            (LatticeKind::Triangular, 9, 8, Kernel::Reference),
            (LatticeKind::Triangular, 99, 4, Kernel::Reference),
            (LatticeKind::Triangular, 99, 8, Kernel::Chains),
            (LatticeKind::Cubic, 4, 32, Kernel::Chains),
            (LatticeKind::Triangular, 99, 32, Kernel::Chains),
        ] {
            assert_eq!(
                auto_kernel(&spec(kind, size, chains), cpu),
                want,
                "{kind} L={size} {chains} chains"
            );
        }
        assert_eq!(
            auto_kernel(&spec(LatticeKind::Square, 16, 32), Device::Gpu),
            Kernel::Chains
        );
        assert_eq!(
            auto_kernel(&spec(LatticeKind::Square, 64, 32), Device::Gpu),
            Kernel::Sites
        );
        assert_eq!(
            auto_kernel(&spec(LatticeKind::Triangular, 9, 4), Device::Gpu),
            Kernel::Reference
        );
    }

    #[test]
    fn kernel_aliases_and_refusals() {
        let tri = spec(LatticeKind::Triangular, 9, 4);
        let sq = spec(LatticeKind::Square, 8, 4);
        assert_eq!(
            resolve_kernel(LatticeBackend::CpuFast, Kernel::Auto, &sq).unwrap(),
            Kernel::Chains
        );
        assert_eq!(
            resolve_kernel(LatticeBackend::Cpu, Kernel::Reference, &sq).unwrap(),
            Kernel::Reference
        );
        for (b, k, s) in [
            (LatticeBackend::Cpu, Kernel::Sites, &tri),
            (LatticeBackend::GpuFast, Kernel::Sites, &sq),
            (LatticeBackend::CpuFast, Kernel::Reference, &sq),
        ] {
            let e = resolve_kernel(b, k, s).unwrap_err();
            assert!(e.to_string().starts_with("kernel: "), "{e}");
        }
    }
}
