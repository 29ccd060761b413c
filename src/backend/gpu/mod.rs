//! GPU backend: the sampler kernels of `shaders/` run through wgpu.
//!
//! One buffer holds every chain's bits (one u32 per site, chain-major). A sweep is one
//! dispatch per colour; after every `measure_every`-th sweep the `measure` kernel adds each
//! chain's integer counts into a small series buffer. Up to [`MAX_STEPS`] dispatches are
//! recorded into one submission, each selecting its (sweep, colour, slot) entry of a step
//! table through a dynamic uniform offset, so nothing is read back inside a submission.

mod context;
mod kernels;

pub use context::{AdapterReport, GpuContext, LimitsReport, list_adapters};
pub use kernels::{Dispatch, KernelSet};

use super::{BackendInfo, ChainSpec, Sampler, check_sweep_budget, initial_configuration};
use crate::error::{Error, Result};
use crate::model::{Counts, Trig};
use crate::rng::seed_key;
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// Dispatch entries (colours × sweeps + measurements) per submission.
pub const MAX_STEPS: u32 = 1024;
/// Measurements per submission (series buffer slots).
const MAX_SLOTS: u32 = 256;
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
    state: wgpu::Buffer,
    series: wgpu::Buffer,
    series_readback: wgpu::Buffer,
    slots: u32,
    update_grid: (u32, u32),
    update_threads: u32,
    measure_grid: (u32, u32),
    /// Chains per state word: 1 (reference) or 32 (multi-spin coded).
    per_word: u32,
    sweep: u32,
}

/// Entry points of the sampler module, in [`Dispatch::kernel`] order.
const UPDATE: usize = 0;
const MEASURE: usize = 1;

fn buffer_limit(ctx: &GpuContext, what: &str, bytes: u64) -> Result<()> {
    let l = &ctx.limits;
    let (name, max) = if l.max_storage_buffer_binding_size < l.max_buffer_size {
        (
            "max_storage_buffer_binding_size",
            l.max_storage_buffer_binding_size,
        )
    } else {
        ("max_buffer_size", l.max_buffer_size)
    };
    if bytes > max {
        return Err(Error::DeviceLimit(format!(
            "{what} needs {bytes} bytes ({:.1} MiB) but the adapter's {name} is {max} bytes ({:.1} MiB); use fewer --chains, a smaller --size, or --backend cpu",
            bytes as f64 / 1048576.0,
            max as f64 / 1048576.0
        )));
    }
    Ok(())
}

impl GpuSampler {
    /// The reference kernels: one word per site and chain.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] when the lattice does not fit the device's limits (named in
    /// the message); [`Error::Gpu`] on any wgpu failure.
    pub fn new(ctx: Arc<GpuContext>, spec: ChainSpec) -> Result<Self> {
        Self::build(ctx, spec, 1)
    }

    /// The multi-spin coded kernels ([`crate::backend::packed`]): one word per site and
    /// group of 32 chains; bit-identical to [`crate::backend::packed::PackedCpuSampler`].
    ///
    /// # Errors
    /// As [`GpuSampler::new`].
    pub fn new_packed(ctx: Arc<GpuContext>, spec: ChainSpec) -> Result<Self> {
        Self::build(ctx, spec, crate::backend::packed::LANES)
    }

    fn build(ctx: Arc<GpuContext>, spec: ChainSpec, per_word: u32) -> Result<Self> {
        let lat = spec.model.lattice;
        let n = lat.sites() as u64;
        let chains = spec.chains as u64;
        let words = chains.div_ceil(per_word as u64);
        let state_bytes = 4 * n * words;
        buffer_limit(
            &ctx,
            "the lattice state (a 4-byte word per site and word group)",
            state_bytes,
        )?;
        let slot_bytes = MEASURE_BYTES * chains;
        let slots =
            (ctx.limits.max_storage_buffer_binding_size / slot_bytes).min(MAX_SLOTS as u64) as u32;
        if slots == 0 {
            buffer_limit(&ctx, "one measurement of all chains", slot_bytes)?;
        }
        let per_row = super::update_threads_per_row(&lat);
        let update_threads = words as u32 * lat.rows() * per_row;
        let update_grid = ctx.grid((update_threads as u64).div_ceil(UPDATE_WORKGROUP))?;
        let segment = MEASURE_SEGMENT.min(lat.size());
        let segments = lat.size().div_ceil(segment);
        let groups_per_chain = (lat.rows() as u64 * segments as u64).div_ceil(MEASURE_WORKGROUP);
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
            dims: [l, ly, lz, lat.sites()],
            colouring: [lat.colours(), l / lat.colours(), per_row, spec.chains],
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
            packing: [per_word, words as u32, 0, 0],
            planes: {
                let t = crate::backend::packed::PlaneTable::new(&flip, lat.coordination());
                let mut p = [0u32; 36];
                p[..32].copy_from_slice(&t.planes);
                p[32] = t.certain;
                bytemuck::cast(p)
            },
        };

        let device = &ctx.device;
        let initial: Vec<u32> = if per_word == 1 {
            initial_configuration(&spec)
                .into_iter()
                .map(u32::from)
                .collect()
        } else {
            crate::backend::packed::pack(
                &initial_configuration(&spec),
                spec.chains as usize,
                n as usize,
            )
        };
        let state = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("state"),
            contents: bytemuck::cast_slice(&initial),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        });
        drop(initial);
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
        let kernels = KernelSet::new(
            &ctx,
            if per_word == 1 {
                &crate::shaders::SAMPLER
            } else {
                &crate::shaders::PACKED_SAMPLER
            },
            &[
                if per_word == 1 {
                    "update"
                } else {
                    "update_packed"
                },
                "measure",
            ],
            bytemuck::bytes_of(&params),
            size_of::<GpuStep>() as u64,
            MAX_STEPS as usize,
            &[(&state, false), (&series, false), (&trig, true)],
        )?;
        ctx.wait()?;
        Ok(GpuSampler {
            ctx,
            spec,
            kernels,
            state,
            series,
            series_readback,
            slots,
            update_grid,
            update_threads,
            measure_grid,
            per_word,
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
            .map(|step| match *step {
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
            })
            .collect();
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
}

impl Sampler for GpuSampler {
    fn info(&self) -> BackendInfo {
        let api = if self.per_word > 1 {
            format!("{}, multi-spin coded (32 chains per word)", self.ctx.api)
        } else {
            self.ctx.api.clone()
        };
        BackendInfo {
            kind: "gpu".into(),
            adapter: self.ctx.adapter_name.clone(),
            api,
        }
    }

    fn sweeps_done(&self) -> u32 {
        self.sweep
    }

    fn advance(&mut self, sweeps: u32, measure_every: u32) -> Result<Vec<Counts>> {
        check_sweep_budget(self.sweep, sweeps)?;
        let colours = self.spec.model.lattice.colours();
        let first = self.sweep;
        // The whole schedule, generated lazily and cut into submissions that hold at most
        // MAX_STEPS dispatches and `slots` measurements.
        let mut schedule = (0..sweeps).flat_map(move |i| {
            let measure = measure_every > 0 && (i + 1) % measure_every == 0;
            (0..colours)
                .map(move |colour| Step::Update {
                    sweep: first + i,
                    colour,
                })
                .chain(measure.then_some(Step::Measure))
        });
        let mut out = Vec::new();
        let mut batch = Vec::with_capacity(MAX_STEPS as usize);
        loop {
            batch.clear();
            let mut measurements = 0;
            while batch.len() < MAX_STEPS as usize && measurements < self.slots {
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
        let chains = self.spec.chains as usize;
        super::check_restore(bits.len(), chains * self.spec.sites())?;
        let words: Vec<u32> = if self.per_word == 1 {
            bits.iter().map(|&b| (b & 1) as u32).collect()
        } else {
            crate::backend::packed::pack(bits, chains, self.spec.sites())
        };
        self.ctx
            .queue
            .write_buffer(&self.state, 0, bytemuck::cast_slice(&words));
        self.ctx.wait()?;
        self.sweep = sweeps_done;
        Ok(())
    }

    fn configurations(&mut self) -> Result<Vec<u8>> {
        let bytes = self.ctx.read_buffer(&self.state, self.state.size())?;
        if self.per_word > 1 {
            let words: Vec<u32> = bytes
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            return Ok(crate::backend::packed::unpack(
                &words,
                self.spec.chains as usize,
                self.spec.sites(),
            ));
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as u8)
            .collect())
    }
}
