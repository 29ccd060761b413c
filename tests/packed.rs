//! Multi-spin coded kernels: GPU equals CPU bit for bit; both sample the Boltzmann
//! distribution (enumeration and Kaufman).

mod common;

use blockspin::backend::gpu::GpuSampler;
use blockspin::backend::packed::PackedCpuSampler;
use blockspin::backend::{Sampler, Start};
use blockspin::lattice::LatticeKind;
use blockspin::model::{Algorithm, Units};

#[test]
fn packed_gpu_equals_packed_cpu() {
    let Some(ctx) = common::gpu() else { return };
    for (kind, size) in [
        (LatticeKind::Chain, 30),
        (LatticeKind::Square, 12),
        (LatticeKind::Triangular, 9),
        (LatticeKind::Cubic, 6),
    ] {
        for units in [Units::Spin, Units::Bernoulli] {
            for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
                for (seed, beta, j, h, chains) in [
                    (1u64, 0.35, 1.0, 0.0, 32u32),
                    (0xfeed_0123, 0.8, -1.0, 0.3, 70),
                ] {
                    let model = common::model(kind, size, units, beta, j, h);
                    let spec = common::spec(model, algorithm, chains, seed, Start::Hot);
                    let mut c = PackedCpuSampler::new(spec).unwrap();
                    let mut g = GpuSampler::new_packed(ctx.clone(), spec).unwrap();
                    let what = format!("{kind} {units:?} {algorithm:?} seed {seed}");
                    assert_eq!(
                        c.advance(20, 5).unwrap(),
                        g.advance(20, 5).unwrap(),
                        "measurements, {what}"
                    );
                    assert_eq!(
                        c.configurations().unwrap(),
                        g.configurations().unwrap(),
                        "{what}"
                    );
                }
            }
        }
    }
}

#[test]
fn packed_kernels_sample_the_boltzmann_distribution() {
    // (n1, n11) histogram of the 4x4 torus against enumeration, both devices
    let model = common::model(LatticeKind::Square, 4, Units::Spin, 0.45, 1.0, 0.2);
    for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
        let spec = common::spec(model, algorithm, 2048, 17, Start::Hot);
        let mut samplers: Vec<(&str, Box<dyn Sampler>)> =
            vec![("cpu-fast", Box::new(PackedCpuSampler::new(spec).unwrap()))];
        if let Some(ctx) = common::gpu() {
            samplers.push((
                "gpu-fast",
                Box::new(GpuSampler::new_packed(ctx, spec).unwrap()),
            ));
        }
        for (name, mut s) in samplers {
            common::assert_samples_boltzmann(name, s.as_mut(), &model, 100, 100, 10);
        }
    }
}

#[test]
fn packed_energy_matches_kaufman() {
    let model = common::model(LatticeKind::Square, 16, Units::Spin, 0.4, 1.0, 0.0);
    let spec = common::spec(model, Algorithm::HeatBath, 64, 3, Start::Hot);
    let mut samplers: Vec<(&str, Box<dyn Sampler>)> =
        vec![("cpu-fast", Box::new(PackedCpuSampler::new(spec).unwrap()))];
    if let Some(ctx) = common::gpu() {
        samplers.push((
            "gpu-fast",
            Box::new(GpuSampler::new_packed(ctx, spec).unwrap()),
        ));
    }
    for (name, mut s) in samplers {
        common::assert_matches_kaufman(name, s.as_mut(), &model, 64);
    }
}
