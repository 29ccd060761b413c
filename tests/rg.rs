//! Block-spin RG against exact results (physics.md §4–5).

mod common;

use blockspin::backend::BackendChoice;
use blockspin::lattice::{Lattice, LatticeKind};
use blockspin::rg::blocks::Blocking;
use blockspin::rg::estimate::{Configurations, Renormalized};
use blockspin::rg::exact;
use blockspin::rg::flow::{self, Problem, Truncation};
use blockspin::rg::rules::{BlockTable, Rule};
use blockspin::rg::sampler::{BlockSampler, GpuBlockSampler, draw_blocks};
use blockspin::stats::Jackknife;

fn problem(
    kind: LatticeKind,
    size: u32,
    block: u32,
    rule: Rule,
    order: usize,
    samples: u32,
    backend: BackendChoice,
    seed: u64,
) -> Problem {
    let blocking = Blocking::new(Lattice::new(kind, size).unwrap(), block).unwrap();
    let rule = rule.for_block(blocking.block_sites()).unwrap();
    Problem {
        blocking,
        rule,
        order,
        samples,
        configurations: Configurations::All,
        seed,
        backend,
        truncation: Truncation::Order(order),
    }
}

fn get(r: &Renormalized, values: &[Jackknife], name: &str) -> Jackknife {
    values[r.names.iter().position(|n| *n == name).unwrap()]
}

fn check(what: &str, e: Jackknife, exact: f64) {
    let z = (e.mean - exact) / e.error;
    println!(
        "{what}: {:.6} ± {:.6} vs {exact:.6} (z = {z:.2})",
        e.mean, e.error
    );
    assert!(e.error > 0.0 && e.error < 0.01, "{what}: error {}", e.error);
    assert!(z.abs() < 4.0, "{what}: z = {z}");
}

fn backend() -> BackendChoice {
    if common::gpu().is_some() {
        BackendChoice::Gpu
    } else {
        BackendChoice::Cpu
    }
}

#[test]
fn chain_decimation_matches_the_closed_form() {
    for (k, h, seed) in [
        (0.3, 0.0, 3u64),
        (0.5, 0.0, 4),
        (1.0, 0.0, 5),
        (0.5, 0.3, 6),
    ] {
        let p = problem(
            LatticeKind::Chain,
            16,
            2,
            Rule::Decimation,
            4,
            2000,
            backend(),
            seed,
        );
        let r = p.renormalize(k, h, &mut |_| {}).unwrap();
        let full = r.full.as_ref().unwrap().jackknife();
        let (kp, hp, g) = exact::chain_decimation(k, h, 2).unwrap();
        check(&format!("K' at K={k}, h={h}"), get(&r, &full, "nn"), kp);
        check(
            &format!("constant at K={k}, h={h}"),
            get(&r, &full, "constant"),
            g.unwrap(),
        );
        if h != 0.0 {
            check(&format!("h' at K={k}, h={h}"), get(&r, &full, "field"), hp);
        }
        if k == 0.5 && h == 0.0 {
            // order-n partial sums against the odd-order series (orders 2, 3, 4 sampled)
            let series = exact::decimation_series(k, 4);
            for o in 2..=4 {
                check(
                    &format!("order {o} partial sum"),
                    get(&r, &r.orders[o - 1].jackknife(), "nn"),
                    series[o - 1],
                );
            }
            // order 1 is exact (block averages by enumeration)
            let first = get(&r, &r.orders[0].jackknife(), "nn");
            assert!(
                (first.mean - series[0]).abs() < 1e-10 && first.error < 1e-12,
                "{first:?}"
            );
        }
    }
}

#[test]
fn ring_of_12_stochastic_rule_matches_physics_md() {
    // physics.md §4: nn 0.196255, nnn 0.003840 (ring N=12, blocks of 2, K=0.5, λ=(1, 0.5))
    let p = problem(
        LatticeKind::Chain,
        12,
        2,
        Rule::Stochastic(vec![1.0, 0.5]),
        4,
        4000,
        backend(),
        7,
    );
    let r = p.renormalize(0.5, 0.0, &mut |_| {}).unwrap();
    let full = r.full.as_ref().unwrap().jackknife();
    check("nn", get(&r, &full, "nn"), 0.196255);
    check("nnn", get(&r, &full, "nnn"), 0.003840);
    // and every order against the enumerated cumulant series
    let e = exact::enumerate(&p.blocking, &p.rule, 0.5, 0.0).unwrap();
    let nn = r.names.iter().position(|n| *n == "nn").unwrap();
    for o in 2..=4 {
        check(
            &format!("order {o}"),
            r.orders[o - 1].jackknife()[nn],
            e.orders[o - 1][nn],
        );
    }
}

#[test]
fn triangular_majority_first_order_is_niemeijer_van_leeuwen() {
    // K' = 2K x^2 at h = 0. With the field in K0 (the convention here), the first-order
    // field is h' = (3x + 12 K x c) h to linear order: 3x h from ln Z0 and 12 K x c h from
    // <K1>, where c = d<s_i>_+/dh = 4 e^{2K} / (e^{3K} + 3 e^{-K})^2 and 12 = inter-block bond
    // ends per triangle. (NvL's h' = 3x h puts the field in K1.) Checked at h = 1e-4.
    for k in [0.2, 0.3356, 0.45] {
        let mut p = problem(
            LatticeKind::Triangular,
            6,
            3,
            Rule::Majority,
            1,
            128,
            backend(),
            1,
        );
        p.configurations = Configurations::Random(32);
        let (kp, _) = exact::nvl_first_order(k, 0.0);
        let r = p.renormalize(k, 0.0, &mut |_| {}).unwrap();
        let first = r.orders[0].jackknife();
        assert!((get(&r, &first, "nn").mean - kp).abs() < 1e-10, "K' at {k}");
        assert!(
            get(&r, &first, "nnn").mean.abs() < 1e-10
                && get(&r, &first, "field").mean.abs() < 1e-10
        );
        let h = 1e-4;
        let r = p.renormalize(k, h, &mut |_| {}).unwrap();
        let hp = get(&r, &r.orders[0].jackknife(), "field").mean;
        let x = exact::nvl_first_order(k, h).1 / (3.0 * h);
        let c = 4.0 * (2.0 * k).exp() / ((3.0 * k).exp() + 3.0 * (-k).exp()).powi(2);
        let want = (3.0 * x + 12.0 * k * x * c) * h;
        assert!((hp / want - 1.0).abs() < 1e-4, "h' at {k}: {hp} vs {want}");
    }
    let mut p = problem(
        LatticeKind::Triangular,
        6,
        3,
        Rule::Majority,
        1,
        128,
        backend(),
        1,
    );
    p.configurations = Configurations::Random(16);
    let fp = flow::fixed_point(&p, 0.05, 1.5, &mut |_| {}).unwrap();
    let tolerance = (3.0 * fp.nn.error).max(2e-3);
    assert!(
        (fp.nn.mean - exact::nvl_fixed_point()).abs() < tolerance,
        "K* = {:?}",
        fp.nn
    );
    assert!((fp.y_t.mean - 0.882203).abs() < 1e-3, "y_T = {:?}", fp.y_t);
    assert!((fp.rescale_factor - 3f64.sqrt()).abs() < 1e-12);
}

#[test]
fn chain_has_no_non_trivial_fixed_point() {
    let p = problem(
        LatticeKind::Chain,
        16,
        2,
        Rule::Decimation,
        1,
        128,
        BackendChoice::Cpu,
        1,
    );
    let e = flow::fixed_point(&p, 0.05, 1.5, &mut |_| {}).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("no non-trivial fixed point"));
}

#[test]
fn gpu_block_draws_equal_cpu_and_follow_p0() {
    let Some(ctx) = common::gpu() else { return };
    for (kind, size, block, rule) in [
        (
            LatticeKind::Chain,
            16,
            4,
            Rule::Stochastic(vec![1.0, 0.5, 0.25, 0.1]),
        ),
        (LatticeKind::Square, 8, 2, Rule::Majority),
        (LatticeKind::Triangular, 6, 3, Rule::Majority),
    ] {
        let b = Blocking::new(Lattice::new(kind, size).unwrap(), block).unwrap();
        let t = BlockTable::new(&b, &rule, 0.4, 0.2).unwrap();
        let n = b.coarse_sites();
        let coarse: Vec<i8> = (0..5 * n)
            .map(|i| if (i * 7 + i / 3) % 3 == 0 { 1 } else { -1 })
            .collect();
        let samples = 4000u32;
        let mut g = GpuBlockSampler::new(ctx.clone(), &t, 99, samples, n, 2).unwrap();
        let gpu = g.draw(10, &coarse).unwrap();
        let cpu = draw_blocks(&t, blockspin::rng::seed_key(99), samples, n, 10, &coarse);
        assert_eq!(gpu, cpu, "{kind}");
        // chi-squared of the block states against p0(x_B | y) for each block spin
        let states = 1usize << b.block_sites();
        for yi in 0..2 {
            let mut observed = vec![0u64; states];
            for (t_idx, &s) in cpu.iter().enumerate() {
                let (m, j) = (t_idx / (samples as usize * n), t_idx % n);
                if (coarse[m * n + j] > 0) as usize == yi {
                    observed[s as usize] += 1;
                }
            }
            let (_, _, z) = common::chi2_test(&observed, &t.probability[yi]);
            assert!(z < 5.0, "{kind} y={yi}: z = {z}");
            // and a wrong measure (K = 0.5) is rejected
            let wrong = BlockTable::new(&b, &rule, 0.6, 0.2).unwrap();
            let (_, _, zw) = common::chi2_test(&observed, &wrong.probability[yi]);
            assert!(
                zw > 5.0,
                "{kind} y={yi}: wrong measure not rejected (z = {zw})"
            );
        }
    }
}

/// First order needs only the enumerated block averages: nothing is drawn, the couplings
/// do not depend on --samples, and they equal the exact first-order reference (NvL's
/// K′ = 2K x(K)² on the triangular lattice with the majority rule, and its fixed point).
#[test]
fn first_order_draws_nothing_and_is_exact() {
    let at = |samples: u32| {
        let p = problem(
            LatticeKind::Triangular,
            6,
            3,
            Rule::Majority,
            1,
            samples,
            BackendChoice::Auto,
            1,
        );
        let r = p.renormalize(0.3, 0.0, &mut |_| {}).unwrap();
        (p, r)
    };
    let (p, small) = at(128);
    let (_, large) = at(1_000_000);
    assert_eq!(small.samples_drawn, 0);
    assert_eq!(large.samples_drawn, 0);
    assert!(small.full.is_none());
    assert_eq!(small.orders.len(), 1);
    assert_eq!(small.orders[0].estimate, large.orders[0].estimate);
    let e = exact::reference(&p.blocking, &p.rule, 1, &small.names, 0.3, 0.0).unwrap();
    let first = &e.by_order[0].couplings;
    assert!(first.contains_key("nn"), "{first:?}");
    for (i, name) in small.names.iter().enumerate() {
        let Some(&want) = first.get(*name) else {
            continue;
        };
        assert!(
            (small.orders[0].estimate[i] - want).abs() < 1e-10,
            "{name}: {} vs {want} ({})",
            small.orders[0].estimate[i],
            e.source
        );
    }
    // a sampled order-2 run does draw
    let p2 = problem(
        LatticeKind::Triangular,
        6,
        3,
        Rule::Majority,
        2,
        128,
        BackendChoice::Cpu,
        1,
    );
    let r2 = p2.renormalize(0.3, 0.05, &mut |_| {}).unwrap();
    assert_eq!(r2.samples_drawn, 128 * r2.configurations as u64);
    // the first-order fixed point draws nothing either
    let fp = flow::fixed_point(&p, 0.05, 1.5, &mut |_| {}).unwrap();
    assert_eq!(fp.samples_drawn, 0);
    assert!(
        (fp.nn.mean - exact::nvl_fixed_point()).abs() < 1e-3,
        "{:?}",
        fp.nn
    );
}
