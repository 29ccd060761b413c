//! MCRG where the chains live: on a GPU sampler, `shaders/mcrg.wgsl` unpacks the state
//! (any [`Layout`]) into one bit per site, blocks it level by level and adds up every
//! level's operator sums and dense local-field histogram; only those integers come back
//! per measurement, never a configuration. The kernels are the twins of
//! [`super::blocking::Blocker`] and [`super::stencil::Stencil`] (instance lists on the small
//! tori where operators fold): the same random words and thresholds, the same integers, so
//! [`DeviceMcrg::analyze`] equals [`Mcrg::analyze`] of the read-back configurations bit for
//! bit (`tests/mcrg_gpu.rs`).
//!
//! Not on the device (the analysis then reads configurations back, as on the CPU): bases
//! whose histogram exceeds [`super::stencil::MAX_DENSE_BINS`] bins, the stochastic rule with blocks of more
//! than [`MAX_STOCHASTIC_SITES`] sites, and lattices whose sums could overflow 32 bits.

use super::stencil::{Factor, Stencil};
use super::{Contribution, LevelCallen, Mcrg, Sums};
use crate::backend::DeviceState;
use crate::backend::gpu::{Dispatch, GpuContext, KernelSet, Layout};
use crate::error::{Error, Result};
use crate::rg::rules::Rule;
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// `MCRG_WORKGROUP` of shaders/mcrg.wgsl.
const WORKGROUP: u64 = 64;
/// `TERM_WORDS` and `INSTANCE_WORDS` of shaders/mcrg.wgsl.
const TERM_WORDS: usize = 14;
const INSTANCE_WORDS: usize = 5;
/// `MAX_OPERATORS` of shaders/mcrg.wgsl.
const MAX_OPERATORS: usize = 8;
/// Largest block of the stochastic rule on the device (a threshold per block pattern).
pub const MAX_STOCHASTIC_SITES: usize = 16;

/// Uniform block `McrgParams` of shaders/mcrg.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuParams {
    state_layout: u32,
    row_words: u32,
    chain_words: u32,
    shift: u32,
    colour_words: u32,
    size: u32,
    ly: u32,
    lz: u32,
    key_low: u32,
    key_high: u32,
    block: u32,
    block_sites: u32,
}

/// Uniform block `McrgStep` of shaders/mcrg.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuStep {
    total: u32,
    per_chain: u32,
    sites: u32,
    size: u32,
    dimension: u32,
    level_words: u32,
    base: u32,
    fine_words: u32,
    fine_base: u32,
    fine_size: u32,
    table: u32,
    entries: u32,
    operators: u32,
    out_base: u32,
    out_stride: u32,
    rule: u32,
    level: u32,
    configuration: u32,
    _pad: [u32; 2],
}

/// Entry points, in kernel-index order.
const ENTRY_POINTS: [&str; 5] = [
    "mcrg_unpack",
    "mcrg_block",
    "mcrg_sums",
    "mcrg_sums_listed",
    "mcrg_histogram",
];
const UNPACK: usize = 0;
const BLOCK: usize = 1;
const SUMS: usize = 2;
const SUMS_LISTED: usize = 3;
const HISTOGRAM: usize = 4;

/// Where a level's histogram lies in the output (per chain).
#[derive(Clone, Copy, Debug)]
struct HistogramSlot {
    offset: usize,
    bins: usize,
}

/// The device half of an [`Mcrg`] on one GPU sampler.
pub struct DeviceMcrg {
    ctx: Arc<GpuContext>,
    kernels: KernelSet,
    out: wgpu::Buffer,
    /// Where `out` is copied to be read (one submission per measurement).
    staging: wgpu::Buffer,
    /// Dispatches of one measurement (the configuration number is set per call).
    steps: Vec<(usize, GpuStep, (u32, u32))>,
    chains: u32,
    /// Output words per chain: the sums of every level, then the histograms.
    stride: usize,
    per_level: usize,
    levels: usize,
    histograms: Vec<Option<HistogramSlot>>,
}

fn term_words(terms: &[(usize, &[Factor])], rows: &[[i32; 2]]) -> Vec<u32> {
    let mut t = Vec::with_capacity(terms.len() * TERM_WORDS);
    for &(op, factors) in terms {
        let mut w = [0u32; TERM_WORDS];
        w[0] = op as u32;
        w[1] = factors.len() as u32;
        for (k, f) in factors.iter().enumerate() {
            let [dy, dz] = rows[f.row];
            w[2 + 3 * k] = f.dx as u32;
            w[3 + 3 * k] = dy as u32;
            w[4 + 3 * k] = dz as u32;
        }
        t.extend(w);
    }
    t
}

fn sum_terms(st: &Stencil) -> Vec<u32> {
    let terms: Vec<(usize, &[Factor])> = st
        .sum_terms
        .iter()
        .enumerate()
        .flat_map(|(op, shapes)| shapes.iter().map(move |f| (op, f.as_slice())))
        .collect();
    term_words(&terms, &st.rows)
}

fn histogram_table(st: &Stencil) -> Vec<u32> {
    let mut t = Vec::new();
    let mut stride = 2u32;
    for c in st.counts() {
        t.extend([c, stride]);
        stride *= c + 1;
    }
    let terms: Vec<(usize, &[Factor])> = st
        .field_terms
        .iter()
        .enumerate()
        .flat_map(|(op, terms)| terms.iter().map(move |f| (op, f.as_slice())))
        .collect();
    t.extend(term_words(&terms, &st.rows));
    t
}

impl DeviceMcrg {
    /// Sets up the kernels for `mcrg` on `state`, or None where the analysis cannot run on
    /// the device (module docs) and configurations are read back instead.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] when the buffers exceed the adapter's limits; [`Error::Gpu`].
    pub fn new(state: DeviceState<'_>, mcrg: &Mcrg) -> Result<Option<Self>> {
        let s = &mcrg.settings;
        let spec = state.spec;
        let lattice = spec.model.lattice;
        if lattice.size() != s.size || lattice.kind() != s.lattice {
            return Ok(None);
        }
        let chains = spec.chains as usize;
        // the largest operator sum: shapes × sites of level 0
        let shapes: usize = mcrg
            .levels
            .iter()
            .flat_map(|l| match &l.sums {
                Sums::Stencil(st) => st.sum_terms.iter().map(|t| t.len()).collect::<Vec<_>>(),
                Sums::Table(_) => Vec::new(),
            })
            .max()
            .unwrap_or(1);
        if shapes as u64 * mcrg.levels[0].torus.sites() as u64 >= 1 << 31
            || mcrg.per_level > MAX_OPERATORS
        {
            return Ok(None);
        }
        let mut thresholds = Vec::new();
        if let Rule::Stochastic(_) = mcrg.blockers[0].rule() {
            match mcrg.blockers[0].thresholds(MAX_STOCHASTIC_SITES) {
                Some(t) => thresholds = t,
                None => return Ok(None),
            }
        }
        let mut slots = Vec::new();
        let mut hist_words = 0usize;
        for l in &mcrg.levels {
            match &l.basis {
                None => slots.push(None),
                Some(b) => match b.bins() {
                    Some(bins) if b.field_terms.len() <= MAX_OPERATORS => {
                        slots.push(Some(HistogramSlot {
                            offset: mcrg.per_level * mcrg.levels.len() + hist_words,
                            bins,
                        }));
                        hist_words += bins;
                    }
                    _ => return Ok(None),
                },
            }
        }
        let stride = mcrg.per_level * mcrg.levels.len() + hist_words;

        // spins: every level of every chain, one bit per site
        let words: Vec<usize> = mcrg
            .levels
            .iter()
            .map(|l| l.torus.sites().div_ceil(32))
            .collect();
        let mut bases = Vec::new();
        let mut spin_words = 0usize;
        for &w in &words {
            bases.push(spin_words);
            spin_words += w * chains;
        }
        let limit = state
            .ctx
            .limits
            .max_storage_buffer_binding_size
            .min(state.ctx.limits.max_buffer_size);
        let out_bytes = 4 * (stride * chains) as u64;
        for (what, bytes) in [
            ("the blocked spins", 4 * spin_words as u64),
            ("the operator sums and histograms", out_bytes),
        ] {
            if bytes > limit || bytes >= 1 << 34 {
                return Err(Error::DeviceLimit(format!(
                    "mcrg on the device: {what} need {bytes} bytes but the adapter's storage binding limit is {limit}; use fewer chains or backend cpu"
                )));
            }
        }

        // tables and steps
        let mut tables: Vec<u32> = Vec::new();
        let mut steps = Vec::new();
        let grid = |ctx: &GpuContext, total: usize| -> Result<(u32, u32)> {
            ctx.grid((total as u64).div_ceil(WORKGROUP))
        };
        let rule = match mcrg.blockers[0].rule() {
            Rule::Decimation => 0,
            Rule::Majority => 1,
            Rule::Stochastic(_) => 2,
        };
        let threshold_table = tables.len();
        tables.extend(&thresholds);
        for (n, l) in mcrg.levels.iter().enumerate() {
            let sites = l.torus.sites();
            let mut step = GpuStep {
                total: (chains * words[n]) as u32,
                per_chain: words[n] as u32,
                sites: sites as u32,
                size: l.torus.size,
                dimension: l.torus.dimension,
                level_words: words[n] as u32,
                base: bases[n] as u32,
                rule,
                level: n as u32,
                ..Default::default()
            };
            let per_word = grid(state.ctx, chains * words[n])?;
            if n == 0 {
                steps.push((UNPACK, step, per_word));
            } else {
                let fine = &mcrg.levels[n - 1];
                let mut b = step;
                b.fine_words = words[n - 1] as u32;
                b.fine_base = bases[n - 1] as u32;
                b.fine_size = fine.torus.size;
                b.table = threshold_table as u32;
                steps.push((BLOCK, b, per_word));
            }
            step.out_base = (n * mcrg.per_level) as u32;
            step.out_stride = stride as u32;
            step.operators = mcrg.per_level as u32;
            match &l.sums {
                Sums::Stencil(st) => {
                    let t = sum_terms(st);
                    step.table = tables.len() as u32;
                    step.entries = (t.len() / TERM_WORDS) as u32;
                    tables.extend(t);
                    steps.push((SUMS, step, per_word));
                }
                Sums::Table(table) => {
                    let mut entries = 0usize;
                    step.table = tables.len() as u32;
                    for (op, inst) in table.instances.iter().enumerate() {
                        for i in inst.sites.chunks_exact(inst.arity) {
                            let mut w = [u32::MAX; INSTANCE_WORDS];
                            w[0] = op as u32;
                            w[1..1 + i.len()].copy_from_slice(i);
                            tables.extend(w);
                            entries += 1;
                        }
                    }
                    let mut listed = step;
                    listed.entries = entries as u32;
                    listed.total = (chains * entries) as u32;
                    listed.per_chain = entries as u32;
                    if entries > 0 {
                        steps.push((SUMS_LISTED, listed, grid(state.ctx, chains * entries)?));
                    }
                }
            }
            if let (Some(b), Some(slot)) = (&l.basis, slots[n]) {
                let mut h = step;
                let t = histogram_table(b);
                h.table = tables.len() as u32;
                h.operators = b.field_terms.len() as u32;
                h.entries = ((t.len() - 2 * b.field_terms.len()) / TERM_WORDS) as u32;
                h.out_base = slot.offset as u32;
                tables.extend(t);
                steps.push((HISTOGRAM, h, per_word));
            }
        }
        if tables.is_empty() {
            tables.push(0);
        }

        let ctx = state.ctx.clone();
        let device = &ctx.device;
        let plan = state.plan;
        let key = mcrg.blockers.first().map_or([0, 0], |b| b.key());
        let params = GpuParams {
            state_layout: match state.layout {
                Layout::PerSite => 0,
                Layout::ChainPacked => 1,
                Layout::SitePacked => 2,
                Layout::RowPacked { .. } => 3,
            },
            row_words: plan.row_words,
            chain_words: plan.chain_words as u32,
            shift: plan.shift,
            colour_words: (plan.groups * plan.chain_words) as u32,
            size: lattice.size(),
            ly: if s.lattice.dimension() >= 2 {
                lattice.size()
            } else {
                1
            },
            lz: if s.lattice.dimension() >= 3 {
                lattice.size()
            } else {
                1
            },
            key_low: key[0],
            key_high: key[1],
            block: s.block,
            block_sites: s.block.pow(s.lattice.dimension()),
        };
        let spins = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("mcrg spins"),
            size: 4 * spin_words.max(1) as u64,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let out = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("mcrg sums"),
            size: out_bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("mcrg readback"),
            size: out_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let table_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("mcrg tables"),
            contents: bytemuck::cast_slice(&tables),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let dummy = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("mcrg unused part"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let part = |k: usize| state.parts.get(k).unwrap_or(&dummy);
        let kernels = KernelSet::new(
            &ctx,
            &crate::shaders::MCRG,
            &ENTRY_POINTS,
            bytemuck::bytes_of(&params),
            size_of::<GpuStep>() as u64,
            steps.len(),
            &[
                (part(0), true),
                (part(1), true),
                (part(2), true),
                (part(3), true),
                (&spins, false),
                (&out, false),
                (&table_buffer, true),
            ],
        )?;
        Ok(Some(DeviceMcrg {
            ctx,
            kernels,
            out,
            staging,
            steps,
            chains: spec.chains,
            stride,
            per_level: mcrg.per_level,
            levels: mcrg.levels.len(),
            histograms: slots,
        }))
    }

    /// The contributions of the sampler's current configurations, numbered `first`,
    /// `first + 1`, … by chain (as [`Mcrg::analyze`] of the read-back configurations).
    ///
    /// # Errors
    /// [`Error::Gpu`].
    pub fn analyze(&mut self, first: u32) -> Result<Vec<Contribution>> {
        let steps: Vec<GpuStep> = self
            .steps
            .iter()
            .map(|(_, s, _)| GpuStep {
                configuration: first,
                ..*s
            })
            .collect();
        let dispatches: Vec<Dispatch> = self
            .steps
            .iter()
            .zip(&steps)
            .map(|((kernel, _, workgroups), s)| Dispatch {
                kernel: *kernel,
                step: bytemuck::bytes_of(s),
                workgroups: *workgroups,
            })
            .collect();
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        enc.clear_buffer(&self.out, 0, None);
        self.kernels.record(&self.ctx, &mut enc, &dispatches);
        let size = self.out.size();
        enc.copy_buffer_to_buffer(&self.out, 0, &self.staging, 0, size);
        self.ctx.queue.submit([enc.finish()]);
        let bytes = self.ctx.map_read(&self.staging, size)?;
        let words: &[u32] = bytemuck::cast_slice(&bytes);
        Ok(words
            .chunks_exact(self.stride)
            .take(self.chains as usize)
            .map(|w| Contribution {
                sums: w[..self.per_level * self.levels]
                    .iter()
                    .map(|&v| v as i32 as f64)
                    .collect(),
                callen: self
                    .histograms
                    .iter()
                    .map(|slot| match slot {
                        Some(h) => LevelCallen::Dense(w[h.offset..h.offset + h.bins].to_vec()),
                        None => LevelCallen::None,
                    })
                    .collect(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaders::reflect::{constant, rust_layout, uniform};

    #[test]
    fn constants_and_uniform_blocks_match() {
        let m = &crate::shaders::MCRG;
        assert_eq!(constant(m, "MCRG_WORKGROUP") as u64, WORKGROUP);
        assert_eq!(constant(m, "TERM_WORDS") as usize, TERM_WORDS);
        assert_eq!(constant(m, "INSTANCE_WORDS") as usize, INSTANCE_WORDS);
        assert_eq!(constant(m, "MAX_OPERATORS") as usize, MAX_OPERATORS);
        assert_eq!(constant(m, "CERTAIN"), crate::model::CERTAIN);
        assert_eq!(
            uniform(m, 0),
            rust_layout!(GpuParams; state_layout, row_words, chain_words, shift, colour_words, size, ly, lz, key_low, key_high, block, block_sites)
        );
        assert_eq!(
            uniform(m, 1),
            rust_layout!(GpuStep; total, per_chain, sites, size, dimension, level_words, base, fine_words, fine_base, fine_size, table, entries, operators, out_base, out_stride, rule, level, configuration)
        );
        // the histogram's largest bin index fits the u32 arithmetic of the kernel
        const { assert!(crate::mcrg::stencil::MAX_DENSE_BINS < u32::MAX as usize) };
    }
}
