//! MCRG analysis against the sampling it follows, square 1024² at K_c: one Swendsen–Wang
//! sweep of 2 chains (CPU) against the analysis of those 2 configurations (6 levels of
//! majority b = 2 blocking, every level's even and odd operator sums and the local-field
//! histogram of the default basis), measured in one run. With a GPU adapter, the same on
//! the device (the analysis then never reads a configuration back). The target is
//! analysis ≤ one sweep. Reported per chain-configuration (elements = chains).
//!
//! `cargo bench --bench mcrg` (add `-- --quick` for a short run).

use blockspin::backend::gpu::{GpuContext, GpuSampler};
use blockspin::backend::{self, ChainSpec, Kernel, LatticeBackend, Sampler, Start};
use blockspin::lattice::{Lattice, LatticeKind};
use blockspin::mcrg::gpu::DeviceMcrg;
use blockspin::mcrg::{Mcrg, McrgSettings};
use blockspin::model::{Algorithm, Model, Units};
use blockspin::rg::rules::Rule;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;

const L: u32 = 1024;
const CHAINS: u32 = 2;

fn mcrg(c: &mut Criterion) {
    let k_c = 0.5 * (1.0 + 2f64.sqrt()).ln();
    let model = Model::new(
        Lattice::new(LatticeKind::Square, L).unwrap(),
        Units::Spin,
        k_c,
        1.0,
        0.0,
    )
    .unwrap();
    let spec = ChainSpec::new(model, Algorithm::SwendsenWang, CHAINS, 1, Start::Hot).unwrap();
    let settings = McrgSettings::new(LatticeKind::Square, L, 2, 6, Rule::Majority, 1).unwrap();
    let mut group = c.benchmark_group("mcrg-square-1024-kc");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(CHAINS as u64));

    let mut cpu = backend::open(LatticeBackend::Cpu, Kernel::Auto, spec, &mut |_| {}).unwrap();
    cpu.advance(20, 0).unwrap();
    group.bench_function("cpu/swendsen-wang-sweep", |b| {
        b.iter(|| cpu.advance(1, 0).unwrap())
    });
    let spins: Vec<i8> = cpu
        .configurations()
        .unwrap()
        .iter()
        .map(|&b| 2 * b as i8 - 1)
        .collect();
    let configs: Vec<&[i8]> = spins.chunks_exact((L * L) as usize).collect();
    let mut m = Mcrg::new(&settings).unwrap();
    group.bench_function("cpu/analysis", |b| {
        b.iter(|| m.add_batch(0, &configs).unwrap())
    });

    if let Some(ctx) = GpuContext::hardware_verdict()
        .ok()
        .and_then(|_| GpuContext::shared().ok())
    {
        let mut g: Box<dyn Sampler> = Box::new(GpuSampler::new(ctx, spec).unwrap());
        g.advance(20, 0).unwrap();
        group.bench_function("gpu/swendsen-wang-sweep", |b| {
            b.iter(|| g.advance(1, 0).unwrap())
        });
        let m = Mcrg::new(&settings).unwrap();
        let mut d = DeviceMcrg::new(g.device_state().unwrap(), &m)
            .unwrap()
            .unwrap();
        group.bench_function("gpu/analysis", |b| b.iter(|| d.analyze(0).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, mcrg);
criterion_main!(benches);
