//! Block Gibbs throughput of a 64-16-4 lattice-structured DBM (8×8 visible, receptive
//! fields 4×4 every 2 sites, deep blocks 2×2) with 4096 chains, at every level of the
//! recursion, GPU against CPU. Reported as chain-sweeps per second (elements = chains).
//!
//! `cargo bench --bench dbm` (add `-- --quick` for a short run).

use blockspin::backend::gpu::GpuContext;
use blockspin::dbm::analytic::recursion;
use blockspin::dbm::model::{GenerateSpec, LatticeSpec, VisibleUnits, generate_lattice};
use blockspin::dbm::sampler::{CpuDbmSampler, DbmSampler, DbmSpec, GpuDbmSampler, Level};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};

const CHAINS: u32 = 4096;

fn dbm(c: &mut Criterion) {
    let model = generate_lattice(
        &LatticeSpec {
            dimension: 2,
            size: 8,
            block: 4,
            stride: 2,
            deep_block: 2,
        },
        &GenerateSpec {
            visible_units: VisibleUnits::Bernoulli,
            weight: 0.3,
            deep_weight: 0.2,
            jitter: 0.05,
            visible_bias: 0.0,
            hidden_std: 1.0,
            deep_std: 1.0,
            seed: 1,
        },
    )
    .unwrap();
    assert_eq!(model.sizes(), (64, 16, 4));
    let r = recursion(&model).unwrap();
    let gpu = GpuContext::shared().ok();
    let mut group = c.benchmark_group("dbm-64-16-4-4096-chains");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(CHAINS as u64));
    for level in [Level::Full, Level::VisibleHidden, Level::Visible] {
        let spec = DbmSpec {
            level,
            chains: CHAINS,
            seed: 1,
        };
        let mut samplers: Vec<(&str, Box<dyn DbmSampler>)> = vec![(
            "cpu",
            Box::new(CpuDbmSampler::new(&model, &r, spec.clone()).unwrap()),
        )];
        if let Some(ctx) = &gpu {
            samplers.push((
                "gpu",
                Box::new(GpuDbmSampler::new(ctx.clone(), &model, &r, spec).unwrap()),
            ));
        }
        for (name, mut s) in samplers {
            group.bench_function(BenchmarkId::new(name, level.name()), |b| {
                b.iter_custom(|n| {
                    let t = Instant::now();
                    s.advance(n as u32).unwrap();
                    t.elapsed()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, dbm);
criterion_main!(benches);
