//! The CPU sampler of the cluster algorithms: chains as rayon tasks, or one chain split
//! over every thread.

use super::*;

/// Sweeps of one chain through one `advance` call.
pub(super) struct ChainRun<'a> {
    /// The context of the first sweep.
    ctx: SweepContext<'a>,
    trig: &'a Trig,
    wolff: bool,
    sweeps: u32,
    every: u32,
}

impl ChainRun<'_> {
    #[inline(always)]
    pub(super) fn sweeps(&self, bits: &mut [u8]) -> Vec<Counts> {
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
                let mut counts =
                    crate::backend::cpu::count_rows(lat, self.trig, bits, 0..lat.rows());
                counts.cluster = sums;
                series.push(counts);
            }
        }
        series
    }

    pub(super) fn dispatch(&self, simd: Simd, bits: &mut [u8]) -> Vec<Counts> {
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
    pub(super) fn sweeps_avx2(&self, bits: &mut [u8]) -> Vec<Counts> {
        self.sweeps(bits)
    }
}

/// Chains updated by a cluster algorithm on the CPU: one rayon task per chain, or, for
/// Swendsen–Wang with fewer chains than threads on lattices of at least 4096 sites, one
/// chain at a time split over every thread.
pub struct ClusterCpuSampler {
    spec: ChainSpec,
    key: [u32; 2],
    bonds: Bonds,
    /// Wolff clusters per measured sweep ([`wolff_clusters_per_sweep`]); 0 for Swendsen–Wang.
    clusters: u32,
    /// Thermalization sweeps: Wolff grows clusters until they cover N sites.
    thermalizing: bool,
    simd: Simd,
    bits: Vec<u8>,
    trig: Trig,
    sweep: u32,
}

impl ClusterCpuSampler {
    /// Initialises the chains (see [`crate::backend::initial_configuration`]).
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
            thermalizing: false,
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

    fn set_thermalizing(&mut self, thermalizing: bool) {
        self.thermalizing = thermalizing;
    }

    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>> {
        check_sweep_budget(self.sweep, sweeps)?;
        let n = self.spec.sites();
        let lat = self.spec.model.lattice;
        let (first, bonds, key, trig) = (self.sweep, self.bonds, self.key, &self.trig);
        // clusters 0: the rule "until the clusters cover N sites" (see SweepContext::wolff)
        let clusters = if self.thermalizing { 0 } else { self.clusters };
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
                                crate::backend::cpu::count_rows(&lat, trig, bits, r)
                            })
                            .reduce(Counts::default, Counts::merge);
                        counts.cluster = sums;
                        series.push(counts);
                    }
                }
                per_chain.push(series);
            }
            self.sweep += sweeps;
            return Ok(crate::backend::measurement_major(&per_chain));
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
        Ok(crate::backend::measurement_major(&per_chain))
    }

    fn configurations(&mut self) -> Result<Vec<u8>> {
        Ok(self.bits.clone())
    }

    fn restore(&mut self, bits: &[u8], sweeps_done: u32) -> Result<()> {
        crate::backend::check_restore(bits.len(), self.bits.len())?;
        for (a, &b) in self.bits.iter_mut().zip(bits) {
            *a = b & 1;
        }
        self.sweep = sweeps_done;
        Ok(())
    }
}
