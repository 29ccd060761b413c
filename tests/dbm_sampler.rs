//! DBM samplers: GPU against the CPU twins, and against exact p(v).

mod common;

use blockspin::dbm::analytic::{log_partition, minus_visible_energy, recursion};
use blockspin::dbm::model::{Dbm, EXAMPLE};
use blockspin::dbm::sampler::{CpuDbmSampler, DbmSampler, DbmSpec, GpuDbmSampler, Level};

fn example() -> Dbm {
    Dbm::from_toml(EXAMPLE).unwrap()
}

#[test]
fn gpu_twins_agree_decision_for_decision_almost_always() {
    let Some(ctx) = common::gpu() else { return };
    let m = example();
    for level in [
        Level::Full,
        Level::VisibleHidden,
        Level::Visible,
        Level::HiddenPrior,
    ] {
        let spec = DbmSpec {
            level,
            chains: 512,
            seed: 3,
        };
        let mut g =
            GpuDbmSampler::new(ctx.clone(), &m, &recursion(&m).unwrap(), spec.clone()).unwrap();
        let mut c = CpuDbmSampler::new(&m, &recursion(&m).unwrap(), spec).unwrap();
        let (a, b) = (g.snapshot().unwrap(), c.snapshot().unwrap());
        assert_eq!(a.visible, b.visible, "{level:?} initial state");
        g.advance(1).unwrap();
        c.advance(1).unwrap();
        let (a, b) = (g.snapshot().unwrap(), c.snapshot().unwrap());
        let same = a
            .visible
            .iter()
            .zip(&b.visible)
            .filter(|(x, y)| x == y)
            .count();
        println!(
            "{level:?}: {same}/{} visible decisions identical",
            a.visible.len()
        );
        assert!(same as f64 >= 0.995 * a.visible.len() as f64, "{level:?}");
        for (x, y) in a.hidden.iter().zip(&b.hidden) {
            assert!(
                (x - y).abs() < 1e-4 * (1.0 + x.abs()),
                "{level:?} hidden {x} vs {y}"
            );
        }
        assert_eq!(a.deep.len(), b.deep.len());
    }
}

/// Empirical p(v) over all 16 states from independent chains against exact p(v).
fn chi2_of_level(sampler: &mut dyn DbmSampler, m: &Dbm) -> (f64, f64) {
    let r = recursion(m).unwrap();
    let lz = log_partition(m, &r).unwrap();
    let exact: Vec<f64> = (0..16u32)
        .map(|s| {
            let v: Vec<f64> = (0..4).map(|i| ((s >> i) & 1) as f64).collect();
            (minus_visible_energy(&r, &v).unwrap() - lz).exp()
        })
        .collect();
    sampler.advance(100).unwrap();
    let mut observed = vec![0u64; 16];
    for _ in 0..10 {
        sampler.advance(10).unwrap();
        for v in sampler.snapshot().unwrap().visible.chunks(4) {
            observed[v
                .iter()
                .enumerate()
                .map(|(i, &x)| (x as usize) << i)
                .sum::<usize>()] += 1;
        }
    }
    // negative control: visible-hidden weights 1.5x larger (J_v 2.25x; J_v is small here)
    let mut wrong = m.clone();
    wrong
        .visible_hidden
        .iter_mut()
        .flatten()
        .for_each(|w| *w *= 1.5);
    let rw = recursion(&wrong).unwrap();
    let lzw = log_partition(&wrong, &rw).unwrap();
    let exact_wrong: Vec<f64> = (0..16u32)
        .map(|s| {
            let v: Vec<f64> = (0..4).map(|i| ((s >> i) & 1) as f64).collect();
            (minus_visible_energy(&rw, &v).unwrap() - lzw).exp()
        })
        .collect();
    (
        common::chi2_test(&observed, &exact).2,
        common::chi2_test(&observed, &exact_wrong).2,
    )
}

#[test]
fn gpu_full_dbm_reproduces_exact_p_of_v() {
    let Some(ctx) = common::gpu() else { return };
    let m = example();
    for level in [Level::Full, Level::VisibleHidden, Level::Visible] {
        let mut g = GpuDbmSampler::new(
            ctx.clone(),
            &m,
            &recursion(&m).unwrap(),
            DbmSpec {
                level,
                chains: 4096,
                seed: 11,
            },
        )
        .unwrap();
        let (z, z_wrong) = chi2_of_level(&mut g, &m);
        println!("GPU {level:?}: z = {z:.2}, z(wrong W) = {z_wrong:.1}");
        assert!(z < 5.0, "{level:?}: z = {z}");
        assert!(
            z_wrong > 5.0,
            "{level:?}: a 1.5x wrong W is not detected (z = {z_wrong})"
        );
    }
}

#[test]
fn cpu_levels_reproduce_exact_p_of_v() {
    let m = example();
    for level in [Level::Full, Level::VisibleHidden, Level::Visible] {
        let mut c = CpuDbmSampler::new(
            &m,
            &recursion(&m).unwrap(),
            DbmSpec {
                level,
                chains: 4096,
                seed: 12,
            },
        )
        .unwrap();
        let (z, z_wrong) = chi2_of_level(&mut c, &m);
        println!("CPU {level:?}: z = {z:.2}, z(wrong W) = {z_wrong:.1}");
        assert!(
            z < 5.0 && z_wrong > 5.0,
            "{level:?}: z = {z}, z(wrong) = {z_wrong}"
        );
    }
}
