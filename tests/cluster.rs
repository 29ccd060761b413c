//! Cluster algorithms (Swendsen–Wang, Wolff): the Boltzmann distribution on tiny lattices
//! by enumeration, with a negative control; Kaufman's exact energy and specific heat at
//! K_c; the GPU Swendsen–Wang bit for bit equal to the CPU twin; resume bit-identical.

mod common;

use blockspin::backend::cluster::ClusterCpuSampler;
use blockspin::backend::{Sampler, Start};
use blockspin::lattice::LatticeKind;
use blockspin::model::{Algorithm, Model, Units};

const CLUSTER: [Algorithm; 2] = [Algorithm::SwendsenWang, Algorithm::Wolff];

fn cluster_cpu(model: Model, algorithm: Algorithm, chains: u32, seed: u64) -> Box<dyn Sampler> {
    let spec = common::spec(model, algorithm, chains, seed, Start::Hot);
    Box::new(ClusterCpuSampler::new(spec).unwrap())
}

/// Tiny lattices where enumeration is exact: a field, an antiferromagnet in a field,
/// bernoulli units, rings.
fn balance_models() -> Vec<(&'static str, Model)> {
    vec![
        (
            "square 4x4 spin, field",
            common::model(LatticeKind::Square, 4, Units::Spin, 0.4, 1.0, 0.15),
        ),
        (
            "square 4x4 antiferromagnet, field",
            common::model(LatticeKind::Square, 4, Units::Spin, 0.5, -1.0, 0.4),
        ),
        (
            "square 4x4 bernoulli",
            common::model(LatticeKind::Square, 4, Units::Bernoulli, 1.0, 1.2, -1.0),
        ),
        (
            "ring 16 bernoulli antiferromagnet, field",
            common::model(LatticeKind::Chain, 16, Units::Bernoulli, 0.8, -1.5, 0.5),
        ),
    ]
}

#[test]
fn cluster_algorithms_sample_boltzmann_cpu() {
    for (i, (name, model)) in balance_models().into_iter().enumerate() {
        for algorithm in CLUSTER {
            let mut s = cluster_cpu(model, algorithm, 512, 40 + i as u64);
            common::assert_samples_boltzmann(
                &format!("{name} {}", algorithm.name()),
                s.as_mut(),
                &model,
                20,
                200,
                5,
            );
        }
    }
}

/// Energy and magnetisation per site of `s` on `model`.
fn estimates(s: &mut dyn Sampler, model: &Model, chains: u32, sweeps: u32) -> [(f64, f64); 2] {
    use blockspin::observables::{self, Series};
    use blockspin::run::{self, RunPlan};
    let plan = RunPlan::new(200, sweeps, 2).unwrap();
    let out = run::run(s, &plan, model, chains, &mut |_, _| {}).unwrap();
    let (o, _) = observables::estimate(
        model,
        &Series::from_counts(model, &out.counts, chains as usize),
    );
    [o.energy_per_site, o.magnetization_per_site].map(|e| (e.mean, e.error))
}

/// Lattices too large to enumerate (the triangular torus needs L ≥ 6, the cubic L ≥ 4):
/// (on the frustrated antiferromagnet at low temperature satisfied bonds percolate, so
/// cluster moves are nearly global flips and mix slowly; β = 0.35 keeps them useful)
/// the cluster algorithms against the validated heat-bath sampler, |z| < 4.5, and the
/// heat-bath sampler at a 10 % larger β is rejected (z > 5): the negative control.
#[test]
fn cluster_algorithms_agree_with_heat_bath_on_triangular_and_cubic_tori() {
    let models = [
        (
            "triangular 6x6 antiferromagnet, field",
            common::model(LatticeKind::Triangular, 6, Units::Spin, 0.35, -1.0, 0.3),
        ),
        (
            "triangular 6x6 ferromagnet",
            common::model(LatticeKind::Triangular, 6, Units::Spin, 0.25, 1.0, -0.05),
        ),
        (
            "cubic 4^3 bernoulli",
            common::model(LatticeKind::Cubic, 4, Units::Bernoulli, 0.8, 1.0, -1.6),
        ),
    ];
    for (i, (name, model)) in models.into_iter().enumerate() {
        let chains = 64;
        let hb = common::spec(
            model,
            Algorithm::HeatBath,
            chains,
            90 + i as u64,
            Start::Hot,
        );
        let reference = estimates(common::cpu(hb).as_mut(), &model, chains, 4000);
        let wrong = Model {
            beta: model.beta * 1.1,
            ..model
        };
        let hb_wrong = common::spec(wrong, Algorithm::HeatBath, chains, 7, Start::Hot);
        let control = estimates(common::cpu(hb_wrong).as_mut(), &wrong, chains, 4000);
        for algorithm in CLUSTER {
            let mut s = cluster_cpu(model, algorithm, chains, 60 + i as u64);
            let got = estimates(s.as_mut(), &model, chains, 2000);
            let z = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0) / a.1.hypot(b.1);
            let (ze, zm) = (z(got[0], reference[0]), z(got[1], reference[1]));
            let zw = z(got[0], control[0]).abs().max(z(got[1], control[1]).abs());
            println!(
                "{name} {}: energy {:.5} ± {:.5} vs {:.5} ± {:.5} (z = {ze:.2}), magnetization z = {zm:.2}, wrong beta z = {zw:.1}",
                algorithm.name(),
                got[0].0,
                got[0].1,
                reference[0].0,
                reference[0].1
            );
            assert!(
                ze.abs() < 4.5 && zm.abs() < 4.5,
                "{name} {}",
                algorithm.name()
            );
            assert!(
                zw > 5.0,
                "{name} {}: a wrong beta is not detected",
                algorithm.name()
            );
            assert!(got[0].1 > 0.0 && got[0].1 < 0.01);
        }
    }
}

#[test]
fn swendsen_wang_samples_boltzmann_gpu() {
    let Some(ctx) = common::gpu() else { return };
    for (name, model) in &balance_models()[1..] {
        let spec = common::spec(*model, Algorithm::SwendsenWang, 512, 8, Start::Cold);
        let mut s = common::gpu_sampler(ctx.clone(), spec);
        common::assert_samples_boltzmann(&format!("GPU {name}"), s.as_mut(), model, 20, 200, 5);
    }
}

#[test]
fn cluster_algorithms_match_kaufman_at_the_critical_point() {
    let model = common::model(
        LatticeKind::Square,
        16,
        Units::Spin,
        blockspin::exact::onsager::CRITICAL_COUPLING,
        1.0,
        0.0,
    );
    for algorithm in CLUSTER {
        let mut s = cluster_cpu(model, algorithm, 4, 17);
        common::assert_matches_kaufman(algorithm.name(), s.as_mut(), &model, 4);
    }
    if let Some(ctx) = common::gpu() {
        let spec = common::spec(model, Algorithm::SwendsenWang, 4, 18, Start::Hot);
        let mut s = common::gpu_sampler(ctx, spec);
        common::assert_matches_kaufman("GPU swendsen-wang", s.as_mut(), &model, 4);
    }
}

/// Every lattice, units, coupling sign and field; several seeds; the cluster sums included.
#[test]
fn swendsen_wang_gpu_matches_cpu_bit_for_bit() {
    let Some(ctx) = common::gpu() else { return };
    let models = [
        common::model(LatticeKind::Chain, 18, Units::Spin, 0.7, 1.0, 0.2),
        common::model(LatticeKind::Square, 12, Units::Spin, 0.44, 1.0, 0.0),
        common::model(LatticeKind::Square, 10, Units::Spin, 0.6, -1.0, -0.3),
        common::model(LatticeKind::Square, 4, Units::Spin, 0.5, 1.0, 0.1),
        common::model(LatticeKind::Triangular, 6, Units::Bernoulli, 1.1, -2.0, 1.0),
        common::model(LatticeKind::Cubic, 6, Units::Spin, 0.22, 1.0, 0.05),
    ];
    for model in models {
        for seed in [1u64, 0xdead_beef_0042, u64::MAX] {
            let spec = common::spec(model, Algorithm::SwendsenWang, 3, seed, Start::Hot);
            let mut cpu = ClusterCpuSampler::new(spec).unwrap();
            let mut gpu = common::gpu_sampler(ctx.clone(), spec);
            for (sweeps, every) in [(5, 2), (7, 1)] {
                let a = cpu.advance(sweeps, every).unwrap();
                let b = gpu.advance(sweeps, every).unwrap();
                assert_eq!(a, b, "{model:?} seed {seed}: counts");
                assert!(a.iter().any(|c| c.cluster.clusters > 0));
            }
            assert_eq!(
                cpu.configurations().unwrap(),
                gpu.configurations().unwrap(),
                "{model:?} seed {seed}: state"
            );
        }
    }
    // one chain of 4096+ sites: the CPU splits the sweep over its threads
    let model = common::model(LatticeKind::Square, 66, Units::Spin, 0.44, 1.0, 0.01);
    let spec = common::spec(model, Algorithm::SwendsenWang, 1, 12, Start::Hot);
    let mut cpu = ClusterCpuSampler::new(spec).unwrap();
    let mut gpu = common::gpu_sampler(ctx.clone(), spec);
    assert_eq!(cpu.advance(6, 2).unwrap(), gpu.advance(6, 2).unwrap());
    assert_eq!(cpu.configurations().unwrap(), gpu.configurations().unwrap());
}

/// A run stopped after any sweep and restored into a fresh sampler continues exactly.
#[test]
fn cluster_algorithms_resume_bit_identically() {
    let model = common::model(LatticeKind::Square, 10, Units::Spin, 0.45, 1.0, 0.05);
    type Maker = Box<dyn Fn() -> Box<dyn Sampler>>;
    let mut makers: Vec<(String, Maker)> = CLUSTER
        .iter()
        .map(|&a| {
            let f: Box<dyn Fn() -> Box<dyn Sampler>> =
                Box::new(move || cluster_cpu(model, a, 2, 5));
            (a.name().to_string(), f)
        })
        .collect();
    if let Some(ctx) = common::gpu() {
        let spec = common::spec(model, Algorithm::SwendsenWang, 2, 5, Start::Hot);
        makers.push((
            "GPU swendsen-wang".into(),
            Box::new(move || common::gpu_sampler(ctx.clone(), spec)),
        ));
    }
    for (name, make) in &makers {
        let mut whole = make();
        let straight = whole.advance(12, 3).unwrap();
        let mut first = make();
        first.advance(6, 0).unwrap();
        let bits = first.configurations().unwrap();
        let mut second = make();
        second.restore(&bits, 6).unwrap();
        let resumed = second.advance(6, 3).unwrap();
        assert_eq!(resumed, straight[4..], "{name}: counts after the resume");
        assert_eq!(
            second.configurations().unwrap(),
            whole.configurations().unwrap(),
            "{name}: state"
        );
    }
}

/// The improved estimators (cluster sizes) against enumeration on the 4 × 4 torus: βN⟨m²⟩
/// for both algorithms and the Binder cumulant for Swendsen–Wang, |z| < 4.5; the exact
/// values at a 10 % larger β are rejected; the improved error is not larger than the
/// direct one (they estimate the same ⟨m²⟩, the improved one with less variance).
#[test]
fn improved_estimators_match_enumeration() {
    use blockspin::exact::enumerate::DensityOfStates;
    use blockspin::observables::cluster_estimates;
    use blockspin::run::{self, RunPlan};
    for units in [Units::Spin, Units::Bernoulli] {
        // bernoulli with h = −Jz/2 is the zero-field Ising model (K = βJ/4)
        let (j, h) = match units {
            Units::Spin => (1.0, 0.0),
            Units::Bernoulli => (4.0, -8.0),
        };
        let model = common::model(LatticeKind::Square, 4, units, 0.4, j, h);
        let dos = DensityOfStates::new(model.lattice).unwrap();
        let n = 16.0;
        let exact = dos.thermal(&model);
        let wrong = dos.thermal(&Model {
            beta: model.beta * 1.1,
            ..model
        });
        let chi = |t: &blockspin::exact::enumerate::Thermal| model.beta * n * t.m2;
        let binder = |t: &blockspin::exact::enumerate::Thermal| 1.0 - t.m4 / (3.0 * t.m2 * t.m2);
        for algorithm in CLUSTER {
            let chains = 8;
            let mut s = cluster_cpu(model, algorithm, chains, 3);
            let plan = RunPlan::new(100, 20_000, 1).unwrap();
            let out = run::run(s.as_mut(), &plan, &model, chains, &mut |_, _| {}).unwrap();
            let c = cluster_estimates(&model, algorithm, &out.counts, chains as usize).unwrap();
            let imp = c.improved_susceptibility_per_site.unwrap();
            let direct = c.susceptibility_m2_per_site;
            let z = (imp.mean - chi(&exact)) / imp.error;
            let zw = (imp.mean - chi(&wrong)) / imp.error;
            println!(
                "{units:?} {}: improved chi {:.4} ± {:.4}, direct {:.4} ± {:.4}, exact {:.4} (z = {z:.2}, wrong beta z = {zw:.1})",
                algorithm.name(),
                imp.mean,
                imp.error,
                direct.mean,
                direct.error,
                chi(&exact)
            );
            assert!(
                z.abs() < 4.5 && zw.abs() > 5.0,
                "{units:?} {algorithm:?} chi"
            );
            assert!(imp.error > 0.0 && imp.error <= 1.1 * direct.error);
            if let Some(u) = c.improved_binder_cumulant {
                let z = (u.mean - binder(&exact)) / u.error;
                let zw = (u.mean - binder(&wrong)) / u.error;
                println!(
                    "  improved binder {:.5} ± {:.5} vs {:.5} (z = {z:.2}, wrong beta z = {zw:.1})",
                    u.mean,
                    u.error,
                    binder(&exact)
                );
                assert!(z.abs() < 4.5 && zw.abs() > 5.0 && u.error > 0.0);
            } else {
                assert_eq!(algorithm, Algorithm::Wolff);
            }
        }
    }
    // a field makes them invalid: not reported
    let model = common::model(LatticeKind::Square, 4, Units::Spin, 0.4, 1.0, 0.1);
    let mut s = cluster_cpu(model, Algorithm::SwendsenWang, 2, 3);
    let counts = s.advance(20, 1).unwrap();
    let c = cluster_estimates(&model, Algorithm::SwendsenWang, &counts, 2).unwrap();
    assert!(c.improved_susceptibility_per_site.is_none() && c.improved_binder_cumulant.is_none());
}
