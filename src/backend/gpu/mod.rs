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

use super::{BackendInfo, ChainSpec, Sampler, check_sweep_budget, initial_configuration};
use crate::backend::packed::LANES;
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

/// How the chains' bits are stored on the device (`layout` in shaders/lattice.wgsl).
/// Every layout draws the same random words, so all are bit-identical to each other and
/// to the CPU backend ([`Layout::ChainPacked`] to the multi-spin coded CPU backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One u32 word per site and chain (the reference kernels).
    PerSite,
    /// One word per site and group of 32 chains (multi-spin coding).
    ChainPacked,
    /// 32 same-colour sites of one chain per word ([`crate::backend::sites`]), one storage
    /// binding; bit-identical to [`crate::backend::sites::SitesCpuSampler`].
    SitePacked,
    /// 32 consecutive sites of a row per word, split over up to [`MAX_PARTS`] storage
    /// bindings of at most `part_bytes` each (`None`: the adapter's binding limit). For
    /// lattices whose per-site state exceeds one binding.
    RowPacked {
        /// Largest part in bytes (rounded down to a power of two words).
        part_bytes: Option<u64>,
    },
}

/// Most storage bindings the row-packed state is split over.
pub const MAX_PARTS: u64 = 4;

/// Where the state words live: `parts` buffers of `2^shift` words (the last may be
/// shorter); word i is word `i mod 2^shift` of part `i >> shift`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatePlan {
    /// Words per row (L, or ceil(L / 32) row-packed).
    pub row_words: u32,
    /// Chains, or groups of 32 chains in the chain-packed layout.
    pub groups: u64,
    /// Words per chain or group of 32 chains.
    pub chain_words: u64,
    /// All words.
    pub words: u64,
    /// log2 of the words per part.
    pub shift: u32,
    /// Words in each part.
    pub parts: Vec<u64>,
}

/// Bytes in words, with MiB or GiB where that is shorter.
fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{b} bytes = {:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{b} bytes = {:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{b} bytes"),
    }
}

impl StatePlan {
    /// Plans the state of `spec` in `layout` for an adapter with `limits`, before anything
    /// is allocated.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] with the bytes needed and the limit when the state does not
    /// fit.
    pub fn new(spec: &ChainSpec, layout: Layout, limits: &wgpu::Limits) -> Result<Self> {
        let lat = spec.model.lattice;
        let (rows, chains) = (lat.rows() as u64, spec.chains as u64);
        let (row_words, groups) = match layout {
            Layout::PerSite => (lat.size(), chains),
            Layout::ChainPacked => (lat.size(), chains.div_ceil(LANES as u64)),
            Layout::RowPacked { .. } => (lat.size().div_ceil(32), chains),
            Layout::SitePacked => ((lat.size() / 2).div_ceil(32), chains),
        };
        // the site-packed layout: words per colour and chain (two colours)
        let chain_words = rows * row_words as u64;
        let words = groups * chain_words * if layout == Layout::SitePacked { 2 } else { 1 };
        let (limit_name, binding) =
            if limits.max_storage_buffer_binding_size < limits.max_buffer_size {
                (
                    "max_storage_buffer_binding_size",
                    limits.max_storage_buffer_binding_size,
                )
            } else {
                ("max_buffer_size", limits.max_buffer_size)
            };
        let bytes = 4 * words;
        match layout {
            Layout::PerSite | Layout::ChainPacked | Layout::SitePacked => {
                if bytes > binding {
                    return Err(Error::DeviceLimit(format!(
                        "the lattice state needs {} ({}) but the adapter's {limit_name} is {}; use {}fewer chains, a smaller size, or backend cpu",
                        human(bytes),
                        match layout {
                            Layout::PerSite => "a 4-byte word per site and chain",
                            Layout::ChainPacked => "a 4-byte word per site and group of 32 chains",
                            _ => "one bit per site, rows of each colour padded to 32 sites",
                        },
                        human(binding),
                        if layout == Layout::SitePacked {
                            "kernel reference (row-packed over up to four bindings), "
                        } else {
                            ""
                        }
                    )));
                }
                Ok(StatePlan {
                    row_words,
                    groups,
                    chain_words,
                    words,
                    shift: 31,
                    parts: vec![words],
                })
            }
            Layout::RowPacked { part_bytes } => {
                let cap = part_bytes.unwrap_or(binding).min(binding) / 4;
                if cap == 0 {
                    return Err(Error::DeviceLimit(format!(
                        "a state part of {} bytes holds no word",
                        part_bytes.unwrap_or(binding)
                    )));
                }
                let shift = cap.ilog2().min(30);
                let per_part = 1u64 << shift;
                let count = words.div_ceil(per_part);
                if count > MAX_PARTS {
                    return Err(Error::DeviceLimit(format!(
                        "the lattice state needs {} (one bit per site, rows padded to 32 sites) but at most {MAX_PARTS} storage bindings of {} (the adapter's {limit_name}, rounded down to a power of two) are available, {} in all; use fewer chains, a smaller size, or backend cpu",
                        human(bytes),
                        human(4 * per_part),
                        human(4 * per_part * MAX_PARTS)
                    )));
                }
                let parts = (0..count)
                    .map(|k| per_part.min(words - k * per_part))
                    .collect();
                Ok(StatePlan {
                    row_words,
                    groups,
                    chain_words,
                    words,
                    shift,
                    parts,
                })
            }
        }
    }
}

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
            LANES
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
            planes: crate::backend::lanes::PlaneTables::new(&flip, lat.coordination()).uniform(),
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

    /// Records `steps` (at most [`MAX_STEPS`], at most `slots` measurements) into one
    /// submission, waits for it, and returns the measurements it took.
    fn submit(&mut self, steps: &[Step]) -> Result<Vec<Counts>> {
        let mut slots = 0;
        let entries: Vec<(usize, GpuStep, (u32, u32))> = steps
            .iter()
            .map(|step| -> Result<_> {
                Ok(match *step {
                    Step::Update { sweep, colour } => (
                        UPDATE,
                        GpuStep {
                            sweep,
                            colour,
                            slot: 0,
                            total_threads: self.update_threads,
                        },
                        self.update_grid,
                    ),
                    Step::Measure => {
                        slots += 1;
                        (
                            MEASURE,
                            GpuStep {
                                slot: slots - 1,
                                ..Default::default()
                            },
                            self.measure_grid,
                        )
                    }
                    Step::Cluster { kernel, sweep } => {
                        let c = self.cluster.as_ref().ok_or_else(|| {
                            Error::Internal("a cluster step without cluster buffers".into())
                        })?;
                        let (threads, grid) = if kernel == SW_INIT { c.keys } else { c.sites };
                        (
                            kernel,
                            GpuStep {
                                sweep,
                                colour: 0,
                                slot: slots.saturating_sub(1),
                                total_threads: threads,
                            },
                            grid,
                        )
                    }
                })
            })
            .collect::<Result<_>>()?;
        debug_assert!(slots <= self.slots);
        let dispatches: Vec<Dispatch> = entries
            .iter()
            .map(|(kernel, step, workgroups)| Dispatch {
                kernel: *kernel,
                step: bytemuck::bytes_of(step),
                workgroups: *workgroups,
            })
            .collect();
        let ctx = &self.ctx;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let series_bytes = MEASURE_BYTES * self.spec.chains as u64 * slots as u64;
        if slots > 0 {
            enc.clear_buffer(&self.series, 0, Some(series_bytes));
        }
        self.kernels.record(ctx, &mut enc, &dispatches);
        if slots == 0 {
            ctx.queue.submit([enc.finish()]);
            ctx.wait()?;
            return Ok(Vec::new());
        }
        enc.copy_buffer_to_buffer(&self.series, 0, &self.series_readback, 0, series_bytes);
        ctx.queue.submit([enc.finish()]);
        let bytes = ctx.map_read(&self.series_readback, series_bytes)?;
        let sum = |c: &[u8], i: usize| u64::from_le_bytes(c[8 * i..8 * i + 8].try_into().unwrap());
        let out = bytes
            .chunks_exact(MEASURE_BYTES as usize)
            .map(|c| Counts::from_words(std::array::from_fn(|i| sum(c, i))))
            .collect();
        Ok(out)
    }
}

/// One dispatch of a submission.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// One colour of one sweep.
    Update { sweep: u32, colour: u32 },
    /// Measure all chains into the next series slot.
    Measure,
    /// A Swendsen–Wang dispatch (the cluster sums go to the last measurement's slot).
    Cluster { kernel: usize, sweep: u32 },
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

impl Sampler for GpuSampler {
    fn info(&self) -> BackendInfo {
        let api = match self.layout {
            Layout::PerSite if self.cluster.is_some() => {
                format!("{}, Swendsen-Wang (atomic union-find)", self.ctx.api)
            }
            Layout::PerSite => self.ctx.api.clone(),
            Layout::ChainPacked => {
                format!("{}, multi-spin coded (32 chains per word)", self.ctx.api)
            }
            Layout::SitePacked => format!("{}, site-packed (32 sites per word)", self.ctx.api),
            Layout::RowPacked { .. } => format!(
                "{}, row-packed (32 sites per word, {} storage binding{})",
                self.ctx.api,
                self.parts.len(),
                if self.parts.len() == 1 { "" } else { "s" }
            ),
        };
        BackendInfo {
            kind: "gpu".into(),
            adapter: self.ctx.adapter_name.clone(),
            api,
            kernel: match self.layout {
                Layout::PerSite | Layout::RowPacked { .. } => "reference",
                Layout::ChainPacked => "chains",
                Layout::SitePacked => "sites",
            }
            .into(),
        }
    }

    fn sweeps_done(&self) -> u32 {
        self.sweep
    }

    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>> {
        check_sweep_budget(self.sweep, sweeps)?;
        let colours = self.spec.model.lattice.colours();
        let first = self.sweep;
        let sw = self.cluster.is_some();
        // The whole schedule, generated lazily and cut into submissions that hold at most
        // MAX_STEPS dispatches and `slots` measurements. A Swendsen–Wang sweep is sw_init,
        // sw_union, sw_flip; its measurement adds sw_sizes and sw_sums.
        let mut schedule = (0..sweeps)
            .flat_map(move |i| {
                let sweep = first + i;
                let measure = measure_every > 0 && (i + 1) % measure_every == 0;
                let update: Vec<Step> = if sw {
                    [SW_INIT, UPDATE, SW_FLIP]
                        .map(|kernel| Step::Cluster { kernel, sweep })
                        .to_vec()
                } else {
                    (0..colours)
                        .map(|colour| Step::Update { sweep, colour })
                        .collect()
                };
                let mut measurement = Vec::new();
                if measure {
                    measurement.push(Step::Measure);
                    if sw {
                        measurement.extend(
                            [SW_SIZES, SW_SUMS].map(|kernel| Step::Cluster { kernel, sweep }),
                        );
                    }
                }
                update.into_iter().chain(measurement)
            })
            .peekable();
        let mut out = Vec::new();
        let mut batch = Vec::with_capacity(MAX_STEPS as usize);
        loop {
            batch.clear();
            let mut measurements = 0;
            // a measurement's cluster dispatches (at most two) stay in its submission
            loop {
                let sums_follow = matches!(
                    schedule.peek(),
                    Some(Step::Cluster {
                        kernel: SW_SIZES | SW_SUMS,
                        ..
                    })
                );
                if !sums_follow
                    && (batch.len() + 3 > MAX_STEPS as usize || measurements >= self.slots)
                {
                    break;
                }
                match schedule.next() {
                    Some(step) => {
                        measurements += matches!(step, Step::Measure) as u32;
                        batch.push(step);
                    }
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            out.extend(self.submit(&batch)?);
        }
        self.sweep += sweeps;
        Ok(out)
    }

    fn restore(&mut self, bits: &[u8], sweeps_done: u32) -> Result<()> {
        super::check_restore(bits.len(), self.spec.chains as usize * self.spec.sites())?;
        let words = encode(self.layout, &self.plan, &self.spec, bits)?;
        let mut offset = 0;
        for (part, &len) in self.parts.iter().zip(&self.plan.parts) {
            let chunk = &words[offset..offset + len as usize];
            self.ctx
                .queue
                .write_buffer(part, 0, bytemuck::cast_slice(chunk));
            offset += len as usize;
        }
        self.ctx.wait()?;
        self.sweep = sweeps_done;
        Ok(())
    }

    fn configurations(&mut self) -> Result<Vec<u8>> {
        let mut words = Vec::with_capacity(self.plan.words as usize);
        for part in &self.parts {
            let bytes = self.ctx.read_buffer(part, part.size())?;
            words.extend(
                bytes
                    .chunks_exact(4)
                    .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])),
            );
        }
        decode(self.layout, &self.plan, &self.spec, &words)
    }
}

fn site_layout(spec: &ChainSpec) -> Result<crate::backend::sites::SiteLayout> {
    crate::backend::sites::SiteLayout::new(spec.model.lattice, spec.chains)
}

/// The state words of chain-major bits (one byte per site) in `layout`.
/// # Errors
/// The site-packed layout of a triangular lattice.
fn encode(layout: Layout, plan: &StatePlan, spec: &ChainSpec, bits: &[u8]) -> Result<Vec<u32>> {
    let (chains, n) = (spec.chains as usize, spec.sites());
    Ok(match layout {
        Layout::PerSite => bits.par_iter().map(|&b| (b & 1) as u32).collect(),
        Layout::ChainPacked => crate::backend::packed::pack(bits, chains, n),
        Layout::SitePacked => site_layout(spec)?.pack(bits),
        Layout::RowPacked { .. } => {
            let (l, w) = (spec.model.lattice.size() as usize, plan.row_words as usize);
            let mut words = vec![0u32; plan.words as usize];
            words
                .par_chunks_mut(w)
                .zip(bits.par_chunks(l))
                .for_each(|(row_words, row)| {
                    for (x, &b) in row.iter().enumerate() {
                        row_words[x / 32] |= ((b & 1) as u32) << (x % 32);
                    }
                });
            words
        }
    })
}

/// Inverse of [`encode`].
/// # Errors
/// As [`encode`].
fn decode(layout: Layout, plan: &StatePlan, spec: &ChainSpec, words: &[u32]) -> Result<Vec<u8>> {
    let (chains, n) = (spec.chains as usize, spec.sites());
    Ok(match layout {
        Layout::PerSite => words.par_iter().map(|&w| w as u8).collect(),
        Layout::ChainPacked => crate::backend::packed::unpack(words, chains, n),
        Layout::SitePacked => site_layout(spec)?.unpack(words),
        Layout::RowPacked { .. } => {
            let (l, w) = (spec.model.lattice.size() as usize, plan.row_words as usize);
            let mut bits = vec![0u8; chains * n];
            bits.par_chunks_mut(l)
                .zip(words.par_chunks(w))
                .for_each(|(row, row_words)| {
                    for (x, b) in row.iter_mut().enumerate() {
                        *b = ((row_words[x / 32] >> (x % 32)) & 1) as u8;
                    }
                });
            bits
        }
    })
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
