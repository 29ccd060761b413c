//! A set of compute kernels sharing one bind group: a uniform parameter block (binding 0),
//! a table of per-dispatch uniform "steps" selected by a dynamic offset (binding 1), and
//! storage buffers (bindings 2, 3, …). Both the lattice sampler and the DBM samplers are
//! built on it.

use super::GpuContext;
use crate::error::Result;
use crate::shaders::ShaderModuleSource;
use wgpu::util::DeviceExt;

/// One dispatch of a recorded pass.
#[derive(Clone, Copy, Debug)]
pub struct Dispatch<'a> {
    /// Index into the entry points given to [`KernelSet::new`].
    pub kernel: usize,
    /// The bytes of this dispatch's step entry (at most the step size).
    pub step: &'a [u8],
    /// Workgroups (x, y).
    pub workgroups: (u32, u32),
}

/// Pipelines, bind group and step table of one shader module.
pub struct KernelSet {
    pipelines: Vec<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    step_buffer: wgpu::Buffer,
    step_stride: u64,
    capacity: usize,
}

impl KernelSet {
    /// Compiles `entry_points` of `module`, uploads `params`, and binds `storage`
    /// (buffer, read-only) at bindings 2, 3, …. The step table holds `capacity` entries of
    /// `step_size` bytes.
    ///
    /// # Errors
    /// [`crate::Error::Gpu`] if compilation or resource creation fails.
    pub fn new(
        ctx: &GpuContext,
        module: &ShaderModuleSource,
        entry_points: &[&str],
        params: &[u8],
        step_size: u64,
        capacity: usize,
        storage: &[(&wgpu::Buffer, bool)],
    ) -> Result<Self> {
        let device = &ctx.device;
        let shader = ctx.shader(module)?;
        let uniform = |dynamic: bool, size: u64| wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: dynamic,
            min_binding_size: wgpu::BufferSize::new(size),
        };
        let entry = |binding: u32, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty,
            count: None,
        };
        let mut layout_entries = vec![
            entry(0, uniform(false, params.len() as u64)),
            entry(1, uniform(true, step_size)),
        ];
        for (i, (_, read_only)) in storage.iter().enumerate() {
            layout_entries.push(entry(
                2 + i as u32,
                wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: *read_only,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
            ));
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(module.name),
            entries: &layout_entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(module.name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipelines = entry_points
            .iter()
            .map(|name| {
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(name),
                    layout: Some(&pipeline_layout),
                    module: &shader,
                    entry_point: Some(name),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .collect();
        let params_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: params,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let step_stride =
            step_size.next_multiple_of(ctx.limits.min_uniform_buffer_offset_alignment as u64);
        let step_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("steps"),
            size: step_stride * capacity as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut entries = vec![
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params_buffer.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &step_buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(step_size),
                }),
            },
        ];
        for (i, (buffer, _)) in storage.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: 2 + i as u32,
                resource: buffer.as_entire_binding(),
            });
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(module.name),
            layout: &layout,
            entries: &entries,
        });
        ctx.take_error()?;
        Ok(KernelSet {
            pipelines,
            bind_group,
            step_buffer,
            step_stride,
            capacity,
        })
    }

    /// Most dispatches one [`KernelSet::record`] takes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Writes the step table and records one compute pass with `dispatches` (at most
    /// [`KernelSet::capacity`]). The step table is written through the queue, so the
    /// encoder must be submitted before the next call.
    pub fn record(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        dispatches: &[Dispatch],
    ) {
        debug_assert!(dispatches.len() <= self.capacity);
        let stride = self.step_stride as usize;
        let mut table = vec![0u8; stride * dispatches.len()];
        for (i, d) in dispatches.iter().enumerate() {
            table[i * stride..i * stride + d.step.len()].copy_from_slice(d.step);
        }
        ctx.queue.write_buffer(&self.step_buffer, 0, &table);
        let mut pass = enc.begin_compute_pass(&Default::default());
        for (i, d) in dispatches.iter().enumerate() {
            pass.set_pipeline(&self.pipelines[d.kernel]);
            pass.set_bind_group(0, &self.bind_group, &[(i * stride) as u32]);
            pass.dispatch_workgroups(d.workgroups.0, d.workgroups.1, 1);
        }
    }
}
