//! Throughput of one heat-bath sweep of the 2D Ising model, per kernel family:
//! CPU reference loop, CPU threaded path, CPU sites-packed kernel (one lattice; scalar and
//! SIMD paths), CPU chains-packed kernel (32 chains), GPU reference kernel (per-site and
//! row-packed layouts), GPU sites- and chains-packed kernels. Reported as spin updates
//! (elements) per second.
//! GPU timings wrap `advance`, which waits on `device.poll`.
//!
//! `cargo bench --bench sweeps` (add `-- --quick` for a short run).

use blockspin::backend::cpu::{CpuSampler, Mode};
use blockspin::backend::gpu::{GpuContext, GpuSampler, Layout};
use blockspin::backend::packed::PackedCpuSampler;
use blockspin::backend::sites::{Simd, SitesCpuSampler};
use blockspin::backend::{ChainSpec, Sampler, Start};
use blockspin::lattice::{Lattice, LatticeKind};
use blockspin::model::{Algorithm, Model, Units};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};

fn square_spec(size: u32, chains: u32) -> ChainSpec {
    let lattice = Lattice::new(LatticeKind::Square, size).unwrap();
    let model = Model::new(lattice, Units::Spin, 0.44, 1.0, 0.0).unwrap();
    ChainSpec::new(model, Algorithm::HeatBath, chains, 1, Start::Hot).unwrap()
}

fn timed(s: &mut dyn Sampler, iters: u64) -> Duration {
    let t = Instant::now();
    s.advance(iters as u32, 0).unwrap();
    t.elapsed()
}

fn sweeps(c: &mut Criterion) {
    let gpu = GpuContext::new().ok();
    let mut group = c.benchmark_group("square-heat-bath-sweep");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for size in [64u32, 256, 1024] {
        let spec = square_spec(size, 1);
        group.throughput(Throughput::Elements(spec.sites() as u64));
        for (name, mode) in [
            ("cpu-reference", Mode::Reference),
            ("cpu-threaded", Mode::ThreadedRows),
        ] {
            let mut s = CpuSampler::new(spec, mode).unwrap();
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter_custom(|n| timed(&mut s, n))
            });
        }
        // sites-packed: 32 sites of the one lattice per word
        for (name, simd) in [
            ("cpu-sites-scalar", Simd::Scalar),
            ("cpu-sites", Simd::Wide),
        ] {
            let mut s = SitesCpuSampler::with_simd(spec, simd).unwrap();
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter_custom(|n| timed(&mut s, n))
            });
        }
        if let Some(ctx) = &gpu {
            let mut s = GpuSampler::new_sites(ctx.clone(), spec).unwrap();
            group.bench_function(BenchmarkId::new("gpu-sites", size), |b| {
                b.iter_custom(|n| timed(&mut s, n))
            });
            let mut s = GpuSampler::new(ctx.clone(), spec).unwrap();
            group.bench_function(BenchmarkId::new("gpu", size), |b| {
                b.iter_custom(|n| timed(&mut s, n))
            });
            // the layout for lattices beyond one binding (32 sites of a row per word)
            let rows = Layout::RowPacked { part_bytes: None };
            let mut s = GpuSampler::with_layout(ctx.clone(), spec, rows).unwrap();
            group.bench_function(BenchmarkId::new("gpu-row-packed", size), |b| {
                b.iter_custom(|n| timed(&mut s, n))
            });
        }
        // multi-spin coded: 32 chains per word, so 32 × N spin updates per sweep
        let packed = square_spec(size, 32);
        group.throughput(Throughput::Elements(32 * packed.sites() as u64));
        let mut s = PackedCpuSampler::new(packed).unwrap();
        group.bench_function(BenchmarkId::new("cpu-fast", size), |b| {
            b.iter_custom(|n| timed(&mut s, n))
        });
        if let Some(ctx) = &gpu {
            let mut s = GpuSampler::new_packed(ctx.clone(), packed).unwrap();
            group.bench_function(BenchmarkId::new("gpu-fast", size), |b| {
                b.iter_custom(|n| timed(&mut s, n))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, sweeps);
criterion_main!(benches);
