//! Site-packed kernels: GPU equals CPU (scalar and SIMD paths) bit for bit; both sample the
//! Boltzmann distribution (enumeration with a negative control, Kaufman); restore continues
//! a run bit for bit.

mod common;

use blockspin::backend::gpu::GpuSampler;
use blockspin::backend::sites::{Simd, SitesCpuSampler};
use blockspin::backend::{Sampler, Start};
use blockspin::lattice::LatticeKind;
use blockspin::model::{Algorithm, Units};

#[test]
fn sites_gpu_equals_sites_cpu() {
    let Some(ctx) = common::gpu() else { return };
    // sizes with rows that do not fill a word (n = L/2 < 32), padded last words and odd
    // word counts (n = 65: three words)
    for (kind, size) in [
        (LatticeKind::Chain, 70),
        (LatticeKind::Chain, 130),
        (LatticeKind::Square, 12),
        (LatticeKind::Square, 68),
        (LatticeKind::Square, 130),
        (LatticeKind::Cubic, 6),
        (LatticeKind::Cubic, 10),
    ] {
        for units in [Units::Spin, Units::Bernoulli] {
            for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
                for (seed, beta, j, h, chains) in [
                    (1u64, 0.35, 1.0, 0.0, 1u32),
                    (0xfeed_0123, 0.8, -1.0, 0.3, 3),
                    (77, 0.6, 0.7, -0.5, 2),
                ] {
                    let model = common::model(kind, size, units, beta, j, h);
                    let spec = common::spec(model, algorithm, chains, seed, Start::Hot);
                    let what = format!("{kind} L={size} {units:?} {algorithm:?} seed {seed}");
                    let mut g = GpuSampler::new_sites(ctx.clone(), spec).unwrap();
                    let gm = g.advance(12, 4).unwrap();
                    let gc = g.configurations().unwrap();
                    for simd in [Simd::Scalar, Simd::Wide] {
                        let mut c = SitesCpuSampler::with_simd(spec, simd).unwrap();
                        assert_eq!(
                            c.advance(12, 4).unwrap(),
                            gm,
                            "measurements, {what} {simd:?}"
                        );
                        assert_eq!(c.configurations().unwrap(), gc, "{what} {simd:?}");
                    }
                }
            }
        }
    }
}

fn samplers(spec: blockspin::backend::ChainSpec) -> Vec<(&'static str, Box<dyn Sampler>)> {
    let mut s: Vec<(&str, Box<dyn Sampler>)> =
        vec![("cpu sites", Box::new(SitesCpuSampler::new(spec).unwrap()))];
    if let Some(ctx) = common::gpu() {
        s.push((
            "gpu sites",
            Box::new(GpuSampler::new_sites(ctx, spec).unwrap()),
        ));
    }
    s
}

#[test]
fn sites_kernels_sample_the_boltzmann_distribution() {
    // (n1, n11) histogram of the 4x4 torus against enumeration: field, antiferromagnet,
    // bernoulli units, both algorithms, both devices
    for (units, j, h) in [(Units::Spin, 1.0, 0.2), (Units::Bernoulli, -1.2, 0.5)] {
        let model = common::model(LatticeKind::Square, 4, units, 0.45, j, h);
        for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
            let spec = common::spec(model, algorithm, 512, 17, Start::Hot);
            for (name, mut s) in samplers(spec) {
                let what = format!("{name} {units:?} J={j} {algorithm:?}");
                common::assert_samples_boltzmann(&what, s.as_mut(), &model, 100, 400, 10);
            }
        }
    }
}

#[test]
fn sites_energy_matches_kaufman() {
    let model = common::model(LatticeKind::Square, 16, Units::Spin, 0.4, 1.0, 0.0);
    let spec = common::spec(model, Algorithm::HeatBath, 32, 3, Start::Hot);
    for (name, mut s) in samplers(spec) {
        common::assert_matches_kaufman(name, s.as_mut(), &model, 32);
    }
}

#[test]
fn sites_restore_continues_bit_for_bit() {
    let model = common::model(LatticeKind::Square, 68, Units::Spin, 0.44, 1.0, 0.1);
    let spec = common::spec(model, Algorithm::HeatBath, 2, 9, Start::Hot);
    for (name, mut whole) in samplers(spec) {
        let all = whole.advance(20, 5).unwrap();
        let end = whole.configurations().unwrap();
        let (_, mut first) = samplers(spec)
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap();
        let head = first.advance(10, 5).unwrap();
        let state = first.configurations().unwrap();
        let (_, mut resumed) = samplers(spec)
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap();
        resumed.restore(&state, 10).unwrap();
        let tail = resumed.advance(10, 5).unwrap();
        assert_eq!([head, tail].concat(), all, "{name}");
        assert_eq!(resumed.configurations().unwrap(), end, "{name}");
    }
}

#[test]
fn sites_kernel_refuses_the_triangular_lattice() {
    let model = common::model(LatticeKind::Triangular, 9, Units::Spin, 0.3, 1.0, 0.0);
    let spec = common::spec(model, Algorithm::HeatBath, 2, 1, Start::Hot);
    let cpu = SitesCpuSampler::new(spec)
        .err()
        .expect("refused on the CPU");
    assert!(cpu.to_string().starts_with("kernel: "), "{cpu}");
    if let Some(ctx) = common::gpu() {
        let gpu = GpuSampler::new_sites(ctx, spec)
            .err()
            .expect("refused on the GPU");
        assert!(gpu.to_string().starts_with("kernel: "), "{gpu}");
    }
}
