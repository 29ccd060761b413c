//! Block-wise conditional sampling: GPU kernel (`shaders/rg.wgsl`) and its CPU twin.

use super::rules::BlockTable;
use crate::backend::BackendInfo;
use crate::backend::gpu::{Dispatch, GpuContext, KernelSet};
use crate::error::{Error, Result};
use crate::rng::{philox4x32_10, seed_key};
use rayon::prelude::*;
use std::sync::Arc;
use wgpu::util::DeviceExt;

const PURPOSE_RG: u32 = crate::rng::Purpose::Rg as u32;
/// `RG_WORKGROUP` of shaders/rg.wgsl.
const RG_WORKGROUP: u64 = 64;

/// Draws block states for batches of coarse configurations.
pub trait BlockSampler {
    /// Backend description.
    fn info(&self) -> BackendInfo;
    /// For configurations `first_config ..` with coarse spins `coarse` (configuration-major,
    /// ±1), draws `samples` states of every block: configuration-major, then sample, then
    /// block.
    fn draw(&mut self, first_config: u32, coarse: &[i8]) -> Result<Vec<u32>>;
}

/// The CPU twin of `rg_draw`.
pub fn draw_blocks(
    table: &BlockTable,
    key: [u32; 2],
    samples: u32,
    blocks: usize,
    first_config: u32,
    coarse: &[i8],
) -> Vec<u32> {
    let per_config = samples as usize * blocks;
    let configs = coarse.len() / blocks;
    let mut out = vec![0u32; configs * per_config];
    // a stop request leaves the rest undrawn (the caller checks it and discards `out`)
    out.par_chunks_mut(per_config)
        .enumerate()
        .for_each(|(m, chunk)| {
            for (t, state) in chunk.iter_mut().enumerate() {
                if t % 65536 == 0 && crate::interrupt::requested().is_some() {
                    return;
                }
                let (s, j) = (t / blocks, t % blocks);
                let r = philox4x32_10(
                    [j as u32, s as u32, first_config + m as u32, PURPOSE_RG],
                    key,
                )[0];
                let yi = (coarse[m * blocks + j] > 0) as usize;
                *state = table.draw(yi, r);
            }
        });
    out
}

/// CPU block sampler.
pub struct CpuBlockSampler {
    table: Arc<BlockTable>,
    key: [u32; 2],
    samples: u32,
    blocks: usize,
}

impl CpuBlockSampler {
    /// A sampler for blocks described by `table`.
    pub fn new(table: Arc<BlockTable>, seed: u64, samples: u32, blocks: usize) -> Self {
        CpuBlockSampler {
            table,
            key: seed_key(seed),
            samples,
            blocks,
        }
    }
}

impl BlockSampler for CpuBlockSampler {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "cpu".into(),
            adapter: format!("{} threads", rayon::current_num_threads()),
            api: "rayon".into(),
            kernel: String::new(),
        }
    }
    fn draw(&mut self, first_config: u32, coarse: &[i8]) -> Result<Vec<u32>> {
        let states = draw_blocks(
            &self.table,
            self.key,
            self.samples,
            self.blocks,
            first_config,
            coarse,
        );
        crate::interrupt::check()?;
        Ok(states)
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuRgParams {
    counts: [u32; 4],
    key: [u32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuRgStep {
    first_config: u32,
    total_threads: u32,
    pad: [u32; 2],
}

/// GPU block sampler; batches of at most `max_configs` configurations.
pub struct GpuBlockSampler {
    ctx: Arc<GpuContext>,
    kernels: KernelSet,
    coarse: wgpu::Buffer,
    states: wgpu::Buffer,
    samples: u32,
    blocks: usize,
    max_configs: usize,
}

impl GpuBlockSampler {
    /// Uploads the CDFs and sizes the buffers for batches of `max_configs` configurations.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] if one configuration's samples exceed a storage binding;
    /// [`Error::Gpu`].
    pub fn new(
        ctx: Arc<GpuContext>,
        table: &BlockTable,
        seed: u64,
        samples: u32,
        blocks: usize,
        max_configs: usize,
    ) -> Result<Self> {
        let limit = ctx
            .limits
            .max_storage_buffer_binding_size
            .min(ctx.limits.max_buffer_size);
        let per_config = 4 * samples as u64 * blocks as u64;
        if per_config > limit {
            return Err(Error::DeviceLimit(format!(
                "one configuration's {samples} samples need {per_config} bytes but max_storage_buffer_binding_size is {limit}; use fewer samples"
            )));
        }
        let max_configs = max_configs.min((limit / per_config) as usize).max(1);
        let key = seed_key(seed);
        let params = GpuRgParams {
            counts: [samples, blocks as u32, 1 << table.sites, 0],
            key: [key[0], key[1], 0, 0],
        };
        let device = &ctx.device;
        let cdf: Vec<u32> = table.cdf[0].iter().chain(&table.cdf[1]).copied().collect();
        let cdf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("rg cdf"),
            contents: bytemuck::cast_slice(&cdf),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let coarse = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("rg coarse"),
            size: 4 * (max_configs * blocks) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let states = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("rg block states"),
            size: per_config * max_configs as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let kernels = KernelSet::new(
            &ctx,
            &crate::shaders::RG_SAMPLER,
            &["rg_draw"],
            bytemuck::bytes_of(&params),
            size_of::<GpuRgStep>() as u64,
            1,
            &[(&coarse, true), (&cdf, true), (&states, false)],
        )?;
        Ok(GpuBlockSampler {
            ctx,
            kernels,
            coarse,
            states,
            samples,
            blocks,
            max_configs,
        })
    }
}

impl BlockSampler for GpuBlockSampler {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "gpu".into(),
            adapter: self.ctx.adapter_name.clone(),
            api: self.ctx.api.clone(),
            kernel: String::new(),
        }
    }

    fn draw(&mut self, first_config: u32, coarse: &[i8]) -> Result<Vec<u32>> {
        let configs = coarse.len() / self.blocks;
        let mut out = Vec::with_capacity(configs * self.samples as usize * self.blocks);
        for start in (0..configs).step_by(self.max_configs) {
            crate::interrupt::check()?;
            let n = (configs - start).min(self.max_configs);
            let spins: Vec<u32> = coarse[start * self.blocks..(start + n) * self.blocks]
                .iter()
                .map(|&y| (y > 0) as u32)
                .collect();
            self.ctx
                .queue
                .write_buffer(&self.coarse, 0, bytemuck::cast_slice(&spins));
            let threads = (n * self.samples as usize * self.blocks) as u64;
            if threads > u32::MAX as u64 {
                return Err(Error::DeviceLimit(
                    "too many block draws in one batch".into(),
                ));
            }
            let step = GpuRgStep {
                first_config: first_config + start as u32,
                total_threads: threads as u32,
                pad: [0; 2],
            };
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            let workgroups = self.ctx.grid(threads.div_ceil(RG_WORKGROUP))?;
            self.kernels.record(
                &self.ctx,
                &mut enc,
                &[Dispatch {
                    kernel: 0,
                    step: bytemuck::bytes_of(&step),
                    workgroups,
                }],
            );
            self.ctx.queue.submit([enc.finish()]);
            let bytes = self.ctx.read_buffer(&self.states, 4 * threads)?;
            out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaders::reflect::{constant, rust_layout, uniform};

    #[test]
    fn workgroup_size_matches() {
        assert_eq!(
            constant(&crate::shaders::RG_SAMPLER, "RG_WORKGROUP") as u64,
            RG_WORKGROUP
        );
    }

    /// `RgParams` and `RgStep` of shaders/rg.wgsl have the size and member offsets of their
    /// Rust twins.
    #[test]
    fn uniform_blocks_match_their_rust_twins() {
        let m = &crate::shaders::RG_SAMPLER;
        assert_eq!(uniform(m, 0), rust_layout!(GpuRgParams; counts, key));
        assert_eq!(
            uniform(m, 1),
            rust_layout!(GpuRgStep; first_config, total_threads)
        );
    }
}
