//! Multi-spin coded kernels: GPU equals CPU bit for bit; both sample the Boltzmann
//! distribution (enumeration and Kaufman).

mod common;

use blockspin::backend::gpu::GpuSampler;
use blockspin::backend::packed::PackedCpuSampler;
use blockspin::backend::{Sampler, Start};
use blockspin::exact::enumerate::DensityOfStates;
use blockspin::exact::kaufman;
use blockspin::lattice::LatticeKind;
use blockspin::model::{Algorithm, Model, Units};
use blockspin::observables::{self, Series};
use blockspin::run::{self, RunPlan};

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
    // (E, M) histogram of the 4x4 torus against enumeration, both packed backends
    let model = common::model(LatticeKind::Square, 4, Units::Spin, 0.45, 1.0, 0.2);
    let dos = DensityOfStates::new(model.lattice).unwrap();
    let exact = dos.distribution(&model);
    let wrong = dos.distribution(&Model {
        beta: 0.45 * 1.1,
        ..model
    });
    let keys: Vec<(u64, u64)> = exact.keys().copied().collect();
    let mut samplers: Vec<(&str, Box<dyn Sampler>)> = Vec::new();
    for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
        let spec = common::spec(model, algorithm, 2048, 17, Start::Hot);
        samplers.push(("cpu-fast", Box::new(PackedCpuSampler::new(spec).unwrap())));
        if let Some(ctx) = common::gpu() {
            samplers.push((
                "gpu-fast",
                Box::new(GpuSampler::new_packed(ctx, spec).unwrap()),
            ));
        }
    }
    for (name, mut s) in samplers {
        s.advance(100, 0).unwrap();
        let counts = s.advance(100, 10).unwrap();
        let mut observed = vec![0u64; keys.len()];
        for c in &counts {
            observed[keys.binary_search(&(c.ones, c.ones_bonds)).unwrap()] += 1;
        }
        let z = common::chi2_test(&observed, &exact.values().copied().collect::<Vec<_>>()).2;
        let zw = common::chi2_test(&observed, &wrong.values().copied().collect::<Vec<_>>()).2;
        println!("{name}: z = {z:.2}, wrong beta z = {zw:.1}");
        assert!(z < 5.0 && zw > 5.0, "{name}: z = {z}, z(wrong) = {zw}");
    }
}

#[test]
fn packed_energy_matches_kaufman() {
    let k = 0.4;
    let model = common::model(LatticeKind::Square, 16, Units::Spin, k, 1.0, 0.0);
    let spec = common::spec(model, Algorithm::HeatBath, 64, 3, Start::Hot);
    let mut samplers: Vec<(&str, Box<dyn Sampler>)> =
        vec![("cpu-fast", Box::new(PackedCpuSampler::new(spec).unwrap()))];
    if let Some(ctx) = common::gpu() {
        samplers.push((
            "gpu-fast",
            Box::new(GpuSampler::new_packed(ctx, spec).unwrap()),
        ));
    }
    let exact = kaufman::torus(k, 16, 16);
    for (name, mut s) in samplers {
        let plan = RunPlan::new(500, 2000, 2).unwrap();
        let out = run::run(s.as_mut(), &plan, 64 * 256, &mut |_, _| {}).unwrap();
        let (o, _) = observables::estimate(&model, &Series::from_counts(&model, &out.counts, 64));
        for (what, e, x) in [
            ("energy", o.energy_per_site, exact.energy_per_site()),
            (
                "specific heat",
                o.specific_heat_per_site,
                exact.specific_heat_per_site(k),
            ),
        ] {
            let z = (e.mean - x) / e.error;
            println!(
                "{name} {what}: {:.5} ± {:.5} vs {x:.5} (z = {z:.2})",
                e.mean, e.error
            );
            assert!(
                z.abs() < 4.0 && e.error > 0.0 && e.error < 0.05,
                "{name} {what}"
            );
        }
    }
}
