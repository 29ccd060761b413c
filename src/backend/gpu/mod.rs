//! GPU backend: the sampler kernels of `shaders/` run through wgpu.
//!
//! The chains' bits live in one of three [`Layout`]s: one u32 word per site and chain (the
//! reference kernels), 32 chains per word (multi-spin coding), or 32 sites of a row per
//! word split over up to [`MAX_PARTS`] storage bindings (row-packed, chosen automatically
//! when the per-site state exceeds one binding: 128 MiB on software adapters). Kernels
//! index rows and words, never bits, so no index overflows u32; [`StatePlan`] sizes the
//! state against the adapter's limits before anything is allocated.
//!
//! A sweep is one dispatch per colour; after every `measure_every`-th sweep the `measure`
//! kernel adds each chain's integer counts into a small series buffer. Up to [`MAX_STEPS`]
//! dispatches are recorded into one submission, each selecting its (sweep, colour, slot)
//! entry of a step table through a dynamic uniform offset, so nothing is read back inside a
//! submission.

mod context;
mod kernels;

pub use context::{AdapterReport, GpuContext, LimitsReport, list_adapters};
pub use kernels::{Dispatch, KernelSet};

mod layout;
mod run;

pub use layout::{Layout, MAX_PARTS, StatePlan};
use layout::{decode, encode, human, site_layout};

use super::{BackendInfo, ChainSpec, Sampler, check_sweep_budget, initial_configuration};
use crate::backend::packed::CHAINS_PER_WORD;
use crate::error::{Error, Result};
use crate::model::{Counts, Trig};
use crate::rng::seed_key;
use rayon::prelude::*;
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// Dispatch entries (colours × sweeps + measurements) per submission.
pub const MAX_STEPS: u32 = 1024;
/// Measurements per submission (series buffer slots).
const MAX_SLOTS: u32 = 256;
/// `UPDATE_WORKGROUP` of shaders/lattice.wgsl (all three update kernels).
const UPDATE_WORKGROUP: u64 = 64;
const MEASURE_WORKGROUP: u64 = 256;
/// Sites of a row summed by one `measure` invocation.
const MEASURE_SEGMENT: u32 = 32;
/// Bytes of one chain's measurement in the series buffer: ten 64-bit sums (n1, n11 and
/// the eight Fourier sums of [`Counts::fourier`]); `MEASURE_WORDS` in measure.wgsl.
const MEASURE_BYTES: u64 = Counts::BYTES as u64;

/// Uniform block `Params` of `shaders/lattice.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuParams {
    dims: [u32; 4],
    colouring: [u32; 4],
    lattice: [u32; 4],
    measure: [u32; 4],
    flip: [[u32; 4]; 4],
    packing: [u32; 4],
    planes: [[u32; 4]; 9],
    words: [u32; 4],
    cluster: [u32; 4],
}

/// Uniform block `Step` of `shaders/lattice.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuStep {
    sweep: u32,
    colour: u32,
    slot: u32,
    total_threads: u32,
}

/// Chains on the GPU.
pub struct GpuSampler {
    ctx: Arc<GpuContext>,
    spec: ChainSpec,
    kernels: KernelSet,
    layout: Layout,
    plan: StatePlan,
    /// The state words, split as `plan` says.
    parts: Vec<wgpu::Buffer>,
    series: wgpu::Buffer,
    series_readback: wgpu::Buffer,
    slots: u32,
    update_grid: (u32, u32),
    update_threads: u32,
    measure_grid: (u32, u32),
    /// Swendsen–Wang: the union-find parents and cluster sizes (`shaders/cluster.wgsl`).
    cluster: Option<ClusterBuffers>,
    sweep: u32,
}

/// The buffers and grids of Swendsen–Wang on the GPU.
struct ClusterBuffers {
    labels: wgpu::Buffer,
    sizes: wgpu::Buffer,
    /// Invocations (chains × (N + 1) keys) and grid of `sw_init`.
    keys: (u32, (u32, u32)),
    /// Invocations (chains × N sites) and grid of the other cluster kernels.
    sites: (u32, (u32, u32)),
}

/// Entry points of the sampler module, in [`Dispatch::kernel`] order (the Swendsen–Wang
/// module has `sw_union` as its update kernel and the further cluster kernels).
const UPDATE: usize = 0;
const MEASURE: usize = 1;
const SW_INIT: usize = 2;
const SW_FLIP: usize = 3;
const SW_SIZES: usize = 4;
const SW_SUMS: usize = 5;

impl GpuSampler {
    /// The reference kernels: one word per site and chain, or, when that state exceeds one
    /// storage binding, the row-packed layout (bit-identical either way).
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] when the lattice does not fit the device's limits (named in
    /// the message with the bytes needed); [`Error::Gpu`] on any wgpu failure.
    pub fn new(ctx: Arc<GpuContext>, spec: ChainSpec) -> Result<Self> {
        let layout = if StatePlan::new(&spec, Layout::PerSite, &ctx.limits).is_ok() {
            Layout::PerSite
        } else {
            Layout::RowPacked { part_bytes: None }
        };
        Self::with_layout(ctx, spec, layout)
    }

    /// The multi-spin coded kernels ([`crate::backend::packed`]): one word per site and
    /// group of 32 chains; bit-identical to [`crate::backend::packed::PackedCpuSampler`].
    ///
    /// # Errors
    /// As [`GpuSampler::new`].
    pub fn new_packed(ctx: Arc<GpuContext>, spec: ChainSpec) -> Result<Self> {
        Self::with_layout(ctx, spec, Layout::ChainPacked)
    }

    /// The site-packed kernels ([`crate::backend::sites`]): 32 same-colour sites of one
    /// chain per word; bit-identical to [`crate::backend::sites::SitesCpuSampler`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for the triangular lattice; otherwise as
    /// [`GpuSampler::new`].
    pub fn new_sites(ctx: Arc<GpuContext>, spec: ChainSpec) -> Result<Self> {
        Self::with_layout(ctx, spec, Layout::SitePacked)
    }

    /// The kernels of a given state layout.
    ///
    /// # Errors
    /// As [`GpuSampler::new`].
    pub fn with_layout(ctx: Arc<GpuContext>, spec: ChainSpec, layout: Layout) -> Result<Self> {
        if layout == Layout::SitePacked {
            site_layout(&spec)?;
        }
        let swendsen_wang = spec.algorithm == crate::model::Algorithm::SwendsenWang;
        if spec.algorithm.is_cluster() && !(swendsen_wang && layout == Layout::PerSite) {
            return Err(Error::invalid(
                "algorithm",
                format!(
                    "{} runs on the GPU as swendsen-wang on the per-site layout only",
                    spec.algorithm.name()
                ),
            ));
        }
        let plan = StatePlan::new(&spec, layout, &ctx.limits)?;
        let per_word = if layout == Layout::ChainPacked {
            CHAINS_PER_WORD
        } else {
            1
        };
        let lat = spec.model.lattice;
        let chains = spec.chains as u64;
        let groups = plan.groups;
        let slot_bytes = MEASURE_BYTES * chains;
        let slots =
            (ctx.limits.max_storage_buffer_binding_size / slot_bytes).min(MAX_SLOTS as u64) as u32;
        if slots == 0 {
            return Err(Error::DeviceLimit(format!(
                "one measurement of all chains needs {slot_bytes} bytes but the adapter's max_storage_buffer_binding_size is {} bytes; use fewer chains",
                ctx.limits.max_storage_buffer_binding_size
            )));
        }
        let update_threads = match layout {
            Layout::RowPacked { .. } | Layout::SitePacked => {
                groups * lat.rows() as u64 * plan.row_words as u64
            }
            _ => groups * lat.rows() as u64 * super::update_threads_per_row(&lat) as u64,
        };
        if update_threads > u32::MAX as u64 {
            return Err(Error::DeviceLimit(format!(
                "{update_threads} update invocations exceed 2^32"
            )));
        }
        let update_threads = update_threads as u32;
        let update_grid = ctx.grid((update_threads as u64).div_ceil(UPDATE_WORKGROUP))?;
        let segment = MEASURE_SEGMENT.min(lat.size());
        let segments = lat.size().div_ceil(segment);
        // invocations per chain: one per segment of a row, or per word pair (site-packed)
        let measure_threads = if layout == Layout::SitePacked {
            plan.chain_words
        } else {
            lat.rows() as u64 * segments as u64
        };
        let groups_per_chain = measure_threads.div_ceil(MEASURE_WORKGROUP);
        let measure_groups = groups_per_chain * chains;
        if measure_groups > u32::MAX as u64 {
            return Err(Error::DeviceLimit(format!(
                "{measure_groups} measurement workgroups exceed 2^32"
            )));
        }
        let measure_grid = ctx.grid(measure_groups)?;

        let [l, ly, lz] = lat.dims();
        let flip = spec.model.flip_thresholds(spec.algorithm);
        let key = seed_key(spec.seed);
        let params = GpuParams {
            dims: [l, ly, lz, lat.rows()],
            colouring: [
                lat.colours(),
                l / lat.colours(),
                if layout == Layout::SitePacked {
                    plan.row_words
                } else {
                    super::update_threads_per_row(&lat)
                },
                spec.chains,
            ],
            lattice: [
                lat.coordination(),
                (lat.kind() == crate::lattice::LatticeKind::Triangular) as u32,
                key[0],
                key[1],
            ],
            measure: [
                groups_per_chain as u32,
                segment,
                measure_groups as u32,
                segments,
            ],
            flip: bytemuck::cast(flip),
            packing: [per_word, groups as u32, 0, 0],
            planes: crate::backend::planes::PlaneTables::new(&flip, lat.coordination()).uniform(),
            words: [
                plan.row_words,
                plan.chain_words as u32,
                plan.shift,
                matches!(layout, Layout::RowPacked { .. }) as u32,
            ],
            cluster: if swendsen_wang {
                let b = crate::backend::cluster::Bonds::new(&spec.model);
                [b.bond, b.aligned as u32, b.ghost, b.ghost_bit as u32]
            } else {
                [0; 4]
            },
        };

        let device = &ctx.device;
        let initial = encode(layout, &plan, &spec, &initial_configuration(&spec))?;
        let mut offset = 0usize;
        let parts: Vec<wgpu::Buffer> = plan
            .parts
            .iter()
            .map(|&len| {
                let words = &initial[offset..offset + len as usize];
                offset += len as usize;
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("state"),
                    contents: bytemuck::cast_slice(words),
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                })
            })
            .collect();
        drop(initial);
        // bindings 5-7: the further parts, or a dummy word
        let dummies: Vec<wgpu::Buffer> = (parts.len()..MAX_PARTS as usize)
            .map(|_| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("unused state part"),
                    size: 4,
                    usage: wgpu::BufferUsages::STORAGE,
                    mapped_at_creation: false,
                })
            })
            .collect();
        let trig = Trig::new(l);
        let trig_words: Vec<i32> = trig.cos.iter().chain(&trig.sin).copied().collect();
        let trig = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("fourier tables"),
            contents: bytemuck::cast_slice(&trig_words),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let series_bytes = slot_bytes * slots as u64;
        let series = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("series"),
            size: series_bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let series_readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("series readback"),
            size: series_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let cluster = if swendsen_wang {
            Some(ClusterBuffers::new(&ctx, &spec)?)
        } else {
            None
        };
        let (module, update, measure) = match layout {
            Layout::PerSite if swendsen_wang => {
                (&crate::shaders::CLUSTER_SAMPLER, "sw_union", "measure")
            }
            Layout::PerSite => (&crate::shaders::SAMPLER, "update", "measure"),
            Layout::ChainPacked => (&crate::shaders::PACKED_SAMPLER, "update_packed", "measure"),
            Layout::SitePacked => (
                &crate::shaders::SITE_SAMPLER,
                "update_sites",
                "measure_sites",
            ),
            Layout::RowPacked { .. } => (&crate::shaders::ROW_SAMPLER, "update_rows", "measure"),
        };
        let mut storage = vec![(&parts[0], false), (&series, false), (&trig, true)];
        storage.extend(parts[1..].iter().chain(&dummies).map(|b| (b, false)));
        let mut entry_points = vec![update, measure];
        if let Some(c) = &cluster {
            storage.extend([(&c.labels, false), (&c.sizes, false)]);
            entry_points.extend(["sw_init", "sw_flip", "sw_sizes", "sw_sums"]);
        }
        let kernels = KernelSet::new(
            &ctx,
            module,
            &entry_points,
            bytemuck::bytes_of(&params),
            size_of::<GpuStep>() as u64,
            MAX_STEPS as usize,
            &storage,
        )?;
        ctx.wait()?;
        Ok(GpuSampler {
            ctx,
            spec,
            kernels,
            layout,
            plan,
            parts,
            series,
            series_readback,
            slots,
            update_grid,
            update_threads,
            measure_grid,
            cluster,
            sweep: 0,
        })
    }

    /// The device context.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }
}

impl ClusterBuffers {
    fn new(ctx: &GpuContext, spec: &ChainSpec) -> Result<Self> {
        let n = spec.sites() as u64;
        let chains = spec.chains as u64;
        let keys = chains * (n + 1);
        let bytes = 4 * keys;
        if keys > u32::MAX as u64 || bytes > ctx.limits.max_storage_buffer_binding_size {
            return Err(Error::DeviceLimit(format!(
                "swendsen-wang labels need {} (a 4-byte word per site and chain, twice) but the adapter's max_storage_buffer_binding_size is {}; use fewer chains, a smaller size, or backend cpu",
                human(bytes),
                human(ctx.limits.max_storage_buffer_binding_size)
            )));
        }
        let buffer = |label| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        };
        let grid = |t: u64| {
            ctx.grid(t.div_ceil(UPDATE_WORKGROUP))
                .map(|g| (t as u32, g))
        };
        Ok(ClusterBuffers {
            labels: buffer("union-find labels"),
            sizes: buffer("cluster sizes"),
            keys: grid(keys)?,
            sites: grid(chains * n)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaders::ShaderModuleSource;
    use crate::shaders::reflect::{constant, rust_layout, uniform};

    /// Every module built on shaders/lattice.wgsl.
    const LATTICE_MODULES: [&ShaderModuleSource; 5] = [
        &crate::shaders::SAMPLER,
        &crate::shaders::PACKED_SAMPLER,
        &crate::shaders::SITE_SAMPLER,
        &crate::shaders::ROW_SAMPLER,
        &crate::shaders::CLUSTER_SAMPLER,
    ];

    /// The constants the Rust side sizes dispatches and buffers with equal the WGSL ones.
    #[test]
    fn shared_constants_match() {
        for module in LATTICE_MODULES {
            let c = |name| constant(module, name) as u64;
            assert_eq!(c("UPDATE_WORKGROUP"), UPDATE_WORKGROUP, "{}", module.name);
            assert_eq!(c("MEASURE_WORKGROUP"), MEASURE_WORKGROUP, "{}", module.name);
            assert_eq!(c("MEASURE_WORDS"), MEASURE_BYTES / 4, "{}", module.name);
            assert_eq!(
                c("CERTAIN"),
                crate::model::CERTAIN as u64,
                "{}",
                module.name
            );
        }
        // the cluster sums start at Counts::words index 10 (u32 word 20)
        assert_eq!(
            constant(&crate::shaders::CLUSTER_SAMPLER, "CLUSTER_WORD"),
            20
        );
    }

    /// `Params` and `Step` of shaders/lattice.wgsl, in every lattice module, have the size
    /// and member offsets of their Rust twins.
    #[test]
    fn uniform_blocks_match_their_rust_twins() {
        let params = rust_layout!(GpuParams; dims, colouring, lattice, measure, flip, packing, planes, words, cluster);
        let step = rust_layout!(GpuStep; sweep, colour, slot, total_threads);
        for module in LATTICE_MODULES {
            assert_eq!(uniform(module, 0), params, "{} Params", module.name);
            assert_eq!(uniform(module, 1), step, "{} Step", module.name);
        }
    }
}
