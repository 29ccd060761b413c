//! The WGSL Philox4x32-10 equals the Rust one word for word.

mod common;

use blockspin::rng::philox4x32_10;
use blockspin::shaders::PHILOX_WORDS;
use wgpu::util::DeviceExt;

fn gpu_words(
    ctx: &blockspin::backend::gpu::GpuContext,
    counters: &[[u32; 4]],
    key: [u32; 2],
) -> Vec<[u32; 4]> {
    let device = &ctx.device;
    let module = ctx.shader(&PHILOX_WORDS).unwrap();
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("philox_words"),
        layout: None,
        module: &module,
        entry_point: Some("philox_words"),
        compilation_options: Default::default(),
        cache: None,
    });
    let params: [u32; 4] = [key[0], key[1], counters.len() as u32, 0];
    let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(&params),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let input = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(counters),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let size = (counters.len() * 16) as u64;
    let output = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: input.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: output.as_entire_binding(),
            },
        ],
    });
    let mut enc = device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups((counters.len() as u32).div_ceil(64), 1, 1);
    }
    ctx.queue.submit([enc.finish()]);
    let bytes = ctx.read_buffer(&output, size).unwrap();
    bytes
        .chunks_exact(16)
        .map(|c| {
            let w =
                |i: usize| u32::from_le_bytes([c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]]);
            [w(0), w(1), w(2), w(3)]
        })
        .collect()
}

#[test]
fn wgsl_philox_matches_rust_on_many_counters() {
    let Some(ctx) = common::gpu() else { return };
    // Edge counters plus a pseudo-random spread (from Philox itself, with another key).
    let mut counters = vec![
        [0; 4],
        [u32::MAX; 4],
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [1, 0, 0, 0],
        [0, 0, 0, 1],
    ];
    for i in 0..40_000u32 {
        counters.push(philox4x32_10([i, 7, 0, 0], [0xdead_beef, 0x1234_5678]));
    }
    for i in 0..1000u32 {
        counters.push([i, i / 3, 5, 0]); // site-update-like counters
    }
    for key in [
        [0, 0],
        [u32::MAX, u32::MAX],
        [0xa4093822, 0x299f31d0],
        [42, 0],
    ] {
        let gpu = gpu_words(&ctx, &counters, key);
        for (c, g) in counters.iter().zip(&gpu) {
            assert_eq!(
                *g,
                philox4x32_10(*c, key),
                "counter {c:08x?} key {key:08x?}"
            );
        }
    }
    // the Random123 known answer through the GPU path
    let g = gpu_words(
        &ctx,
        &[[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344]],
        [0xa4093822, 0x299f31d0],
    );
    assert_eq!(g[0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
}
