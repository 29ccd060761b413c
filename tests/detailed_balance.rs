//! The samplers' stationary distribution is the Boltzmann distribution: empirical
//! histograms on tiny lattices against exact enumeration (Pearson chi-squared at a fixed
//! seed, |z| < 5). Samples come from many independent chains, each measured a few times
//! 10 sweeps apart (≫ τ_int on these lattices). A negative control checks that the same
//! samples reject a 10 % wrong β, so the test can fail.

mod common;

use blockspin::backend::{Sampler, Start};
use blockspin::exact::enumerate::{DensityOfStates, state_probabilities};
use blockspin::lattice::LatticeKind;
use blockspin::model::{Algorithm, Model, Units};

const CHAINS: u32 = 2048;
const ROUNDS: u32 = 10;
const GAP: u32 = 10;
/// Rings are cheap: more rounds give the negative control its power.
const CHAIN_ROUNDS: u32 = 30;

/// Histogram of (n1, n11) over every chain and round, against the exact distribution.
fn energy_magnetization_z(
    sampler: &mut dyn Sampler,
    model: &Model,
    dos: &DensityOfStates,
) -> (f64, f64) {
    sampler.advance(100, 0).unwrap();
    let counts = sampler.advance(ROUNDS * GAP, GAP).unwrap();
    assert_eq!(counts.len() as u32, ROUNDS * CHAINS);
    let z_at = |m: &Model| {
        let exact = dos.distribution(m);
        let keys: Vec<(u64, u64)> = exact.keys().copied().collect();
        let mut observed = vec![0u64; keys.len()];
        for c in &counts {
            let i = keys
                .binary_search(&(c.ones, c.ones_bonds))
                .expect("a reachable (n1, n11)");
            observed[i] += 1;
        }
        let p: Vec<f64> = exact.values().copied().collect();
        common::chi2_test(&observed, &p).2
    };
    let wrong = Model {
        beta: model.beta * 1.1,
        ..*model
    };
    (z_at(model), z_at(&wrong))
}

/// The fit is good (z < 5) and the negative control is rejected (z > 5).
fn assert_balanced(what: &str, z: f64, z_wrong: f64) {
    println!("{what}: z = {z:.2}, z(wrong beta) = {z_wrong:.1}");
    assert!(z < 5.0, "{what}: chi-squared z = {z}");
    assert!(
        z_wrong > 5.0,
        "{what}: a wrong beta is not detected (z = {z_wrong})"
    );
}

fn square_models() -> Vec<Model> {
    vec![
        common::model(LatticeKind::Square, 4, Units::Spin, 0.35, 1.0, 0.0),
        common::model(LatticeKind::Square, 4, Units::Spin, 0.5, -1.0, 0.4),
        common::model(LatticeKind::Square, 4, Units::Bernoulli, 1.0, 1.2, -1.0),
    ]
}

#[test]
fn square_4x4_energy_magnetization_histogram_cpu() {
    let dos = DensityOfStates::new(square_models()[0].lattice).unwrap();
    for (i, model) in square_models().into_iter().enumerate() {
        for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
            let spec = common::spec(model, algorithm, CHAINS, 1000 + i as u64, Start::Hot);
            let (z, z_wrong) = energy_magnetization_z(common::cpu(spec).as_mut(), &model, &dos);
            assert_balanced(&format!("{model:?} {algorithm:?}"), z, z_wrong);
        }
    }
}

#[test]
fn square_4x4_energy_magnetization_histogram_gpu() {
    let Some(ctx) = common::gpu() else { return };
    let model = square_models()[1];
    let dos = DensityOfStates::new(model.lattice).unwrap();
    for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
        let spec = common::spec(model, algorithm, CHAINS, 31, Start::Cold);
        let (z, z_wrong) = energy_magnetization_z(
            common::gpu_sampler(ctx.clone(), spec).as_mut(),
            &model,
            &dos,
        );
        assert_balanced(&format!("GPU {algorithm:?}"), z, z_wrong);
    }
}

/// Every configuration of a ring of `size` sites, against exact state probabilities.
fn chain_states_z(
    make: &dyn Fn(blockspin::backend::ChainSpec) -> Box<dyn Sampler>,
    model: Model,
    algorithm: Algorithm,
    seed: u64,
) -> (f64, f64) {
    let n = model.lattice.sites() as usize;
    let spec = common::spec(model, algorithm, CHAINS, seed, Start::Hot);
    let mut s = make(spec);
    s.advance(50, 0).unwrap();
    let mut observed = vec![0u64; 1 << n];
    for _ in 0..CHAIN_ROUNDS {
        s.advance(GAP, 0).unwrap();
        for chain in s.configurations().unwrap().chunks(n) {
            let index = chain
                .iter()
                .enumerate()
                .fold(0usize, |acc, (i, &b)| acc | (b as usize) << i);
            observed[index] += 1;
        }
    }
    let z = common::chi2_test(&observed, &state_probabilities(&model).unwrap()).2;
    let wrong = Model {
        beta: model.beta * 1.1,
        ..model
    };
    let z_wrong = common::chi2_test(&observed, &state_probabilities(&wrong).unwrap()).2;
    (z, z_wrong)
}

fn chain_models() -> Vec<Model> {
    let mut v = Vec::new();
    for size in [4, 6] {
        v.push(common::model(
            LatticeKind::Chain,
            size,
            Units::Spin,
            0.6,
            1.0,
            0.3,
        ));
        v.push(common::model(
            LatticeKind::Chain,
            size,
            Units::Bernoulli,
            0.8,
            -1.5,
            0.5,
        ));
    }
    v
}

#[test]
fn chain_all_states_cpu() {
    for (i, model) in chain_models().into_iter().enumerate() {
        for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
            let (z, z_wrong) = chain_states_z(&common::cpu, model, algorithm, 77 + i as u64);
            assert_balanced(&format!("{model:?} {algorithm:?}"), z, z_wrong);
        }
    }
}

#[test]
fn chain_all_states_gpu() {
    let Some(ctx) = common::gpu() else { return };
    let model = chain_models()[3]; // 6-site bernoulli antiferromagnet in a field
    for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
        let make = |spec| common::gpu_sampler(ctx.clone(), spec);
        let (z, z_wrong) = chain_states_z(&make, model, algorithm, 5);
        assert_balanced(&format!("GPU {algorithm:?}"), z, z_wrong);
    }
}
