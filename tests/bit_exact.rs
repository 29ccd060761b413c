//! GPU and CPU (reference loop and threaded path) produce bit-identical configurations and
//! measurement series for every lattice, unit type and algorithm.

mod common;

use blockspin::backend::Start;
use blockspin::lattice::LatticeKind;
use blockspin::model::{Algorithm, Units};

fn cases() -> Vec<(LatticeKind, u32)> {
    vec![
        (LatticeKind::Chain, 30),
        (LatticeKind::Square, 12),
        (LatticeKind::Triangular, 9),
        (LatticeKind::Cubic, 6),
    ]
}

#[test]
fn gpu_equals_cpu_for_every_combination() {
    let Some(ctx) = common::gpu() else { return };
    let mut checked = 0;
    for (kind, size) in cases() {
        for units in [Units::Spin, Units::Bernoulli] {
            for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
                // ferromagnet near criticality, antiferromagnet in a field
                for (seed, beta, j, h) in [
                    (1u64, 0.35, 1.0, 0.0),
                    (0xfeed_beef_0123_4567, 0.8, -1.0, 0.3),
                    (7, 0.2, 0.5, -0.7),
                ] {
                    let model = common::model(kind, size, units, beta, j, h);
                    let spec = common::spec(model, algorithm, 5, seed, Start::Hot);
                    let mut g = common::gpu_sampler(ctx.clone(), spec);
                    let mut c = common::cpu(spec);
                    let mut r = common::cpu_reference(spec);
                    let what = format!("{kind} L={size} {units:?} {algorithm:?} seed={seed}");
                    let initial = g.configurations().unwrap();
                    assert_eq!(
                        initial,
                        r.configurations().unwrap(),
                        "initial state, {what}"
                    );
                    let mg = g.advance(20, 4).unwrap();
                    let mc = c.advance(20, 4).unwrap();
                    let mr = r.advance(20, 4).unwrap();
                    assert_eq!(mg.len(), 5 * 5);
                    assert_eq!(mg, mr, "measurements GPU vs reference, {what}");
                    assert_eq!(mc, mr, "measurements threaded vs reference, {what}");
                    let final_state = r.configurations().unwrap();
                    assert_eq!(
                        g.configurations().unwrap(),
                        final_state,
                        "GPU vs reference, {what}"
                    );
                    assert_eq!(
                        c.configurations().unwrap(),
                        final_state,
                        "threaded vs reference, {what}"
                    );
                    assert_ne!(final_state, initial, "the chains moved, {what}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 4 * 2 * 2 * 3);
}

#[test]
fn row_parallel_cpu_equals_reference() {
    // Needs no GPU: the row-split threaded path against the reference loop, 1 and 3 chains.
    use blockspin::backend::Sampler;
    use blockspin::backend::cpu::{CpuSampler, Mode};
    for (kind, size) in cases() {
        for chains in [1, 3] {
            for algorithm in [Algorithm::HeatBath, Algorithm::Metropolis] {
                let model = common::model(kind, size, Units::Spin, 0.4, 1.0, 0.2);
                let spec = common::spec(model, algorithm, chains, 11, Start::Hot);
                let mut rows = CpuSampler::new(spec, Mode::ThreadedRows).unwrap();
                let mut r = common::cpu_reference(spec);
                assert_eq!(
                    rows.advance(15, 5).unwrap(),
                    r.advance(15, 5).unwrap(),
                    "{kind} {chains} chains"
                );
                assert_eq!(rows.configurations().unwrap(), r.configurations().unwrap());
            }
        }
    }
}

#[test]
fn cold_start_and_long_measurement_intervals_stay_identical() {
    let Some(ctx) = common::gpu() else { return };
    // measure_every large enough that one interval spans several GPU submissions
    let model = common::model(LatticeKind::Square, 8, Units::Spin, 0.6, 1.0, 0.0);
    let spec = common::spec(model, Algorithm::Metropolis, 3, 99, Start::Cold);
    let mut g = common::gpu_sampler(ctx, spec);
    let mut r = common::cpu_reference(spec);
    assert!(r.configurations().unwrap().iter().all(|&b| b == 1));
    let every = blockspin::backend::gpu::MAX_STEPS; // > MAX_STEPS / colours sweeps
    assert_eq!(
        g.advance(2 * every + 5, every).unwrap(),
        r.advance(2 * every + 5, every).unwrap()
    );
    assert_eq!(g.configurations().unwrap(), r.configurations().unwrap());
    assert_eq!(g.sweeps_done(), 2 * every + 5);
    // measuring every sweep: more measurements than one submission's series slots
    assert_eq!(g.advance(700, 1).unwrap(), r.advance(700, 1).unwrap());
    assert_eq!(g.configurations().unwrap(), r.configurations().unwrap());
}

#[test]
fn measurements_equal_counts_of_the_configurations() {
    // The integer observables reduced by the samplers equal a direct count of the state.
    let Some(ctx) = common::gpu() else { return };
    for (kind, size) in cases() {
        let model = common::model(kind, size, Units::Spin, 0.3, 1.0, 0.1);
        let spec = common::spec(model, Algorithm::HeatBath, 3, 5, Start::Hot);
        let mut g = common::gpu_sampler(ctx.clone(), spec);
        let m = g.advance(3, 3).unwrap();
        let bits = g.configurations().unwrap();
        let n = model.lattice.sites() as usize;
        for c in 0..3 {
            let direct = blockspin::model::counts(&model.lattice, &bits[c * n..(c + 1) * n]);
            assert_eq!(m[c], direct, "{kind} chain {c}");
        }
    }
}
