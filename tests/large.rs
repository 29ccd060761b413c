//! Lattices larger than one storage binding: the row-packed GPU layout (32 sites of a row
//! per word, split over up to four bindings) is bit-identical to the CPU backend, splits
//! where the plan says, and a state that cannot fit is refused with the numbers before
//! anything is allocated.
//!
//! `large_lattice_matches_cpu_checksum` (L = 16384, 268 M spins) and
//! `largest_lattice_matches_cpu_checksum` (L = 65536, 2³² spins in four bindings on a
//! software adapter) are opt-in: `cargo test --release --test large -- --ignored`.

mod common;

use blockspin::backend::gpu::{GpuSampler, Layout, MAX_PARTS, StatePlan};
use blockspin::backend::{Sampler, Start};
use blockspin::lattice::LatticeKind;
use blockspin::model::{Algorithm, Units};

/// Runs the same chains row-packed (parts of `part_bytes`) on the GPU and on the CPU
/// reference loop and compares initial state, measurements and final state.
fn row_packed_equals_cpu(kind: LatticeKind, size: u32, chains: u32, part_bytes: u64) -> usize {
    let ctx = common::gpu().expect("checked by the caller");
    let mut parts_seen = 0;
    for (units, algorithm, seed, beta, j, h) in [
        (Units::Spin, Algorithm::HeatBath, 11u64, 0.4, 1.0, 0.0),
        (Units::Bernoulli, Algorithm::Metropolis, 12, 0.9, -1.0, 0.4),
    ] {
        let model = common::model(kind, size, units, beta, j, h);
        let spec = common::spec(model, algorithm, chains, seed, Start::Hot);
        let layout = Layout::RowPacked {
            part_bytes: Some(part_bytes),
        };
        let plan = StatePlan::new(&spec, layout, &ctx.limits).unwrap();
        parts_seen = plan.parts.len();
        let mut g = GpuSampler::with_layout(ctx.clone(), spec, layout).unwrap();
        let mut r = common::cpu_reference(spec);
        let what = format!("{kind} L={size} {units:?} {algorithm:?}, {parts_seen} parts");
        assert!(g.info().api.contains("row-packed"), "{what}");
        let initial = r.configurations().unwrap();
        assert_eq!(g.configurations().unwrap(), initial, "initial, {what}");
        assert_eq!(
            g.advance(12, 3).unwrap(),
            r.advance(12, 3).unwrap(),
            "measurements, {what}"
        );
        let final_state = r.configurations().unwrap();
        assert_ne!(final_state, initial, "the chains moved, {what}");
        assert_eq!(g.configurations().unwrap(), final_state, "final, {what}");
        // a restored state continues identically
        g.restore(&initial, 0).unwrap();
        r.restore(&initial, 0).unwrap();
        assert_eq!(g.advance(4, 2).unwrap(), r.advance(4, 2).unwrap(), "{what}");
        assert_eq!(
            g.configurations().unwrap(),
            r.configurations().unwrap(),
            "{what}"
        );
    }
    parts_seen
}

#[test]
fn row_packed_layout_is_bit_identical_across_split_bindings() {
    if common::gpu().is_none() {
        return;
    }
    // (lattice, size, chains, bytes per part): rows of whole words, padded rows (L = 30,
    // 100, 48 and 9 are not multiples of 32), three colours, 3D, and states split over
    // one to four bindings.
    let cases = [
        (LatticeKind::Square, 64, 2, 1 << 20, 1),
        (LatticeKind::Square, 64, 3, 1024, 2),
        (LatticeKind::Square, 48, 1, 256, 2),
        (LatticeKind::Chain, 100, 5, 64, 2),
        (LatticeKind::Chain, 100, 4, 16, 4),
        (LatticeKind::Chain, 30, 3, 8, 2),
        (LatticeKind::Triangular, 96, 1, 512, 3),
        (LatticeKind::Triangular, 9, 4, 256, 1),
        (LatticeKind::Cubic, 16, 2, 1024, 2),
    ];
    for (kind, size, chains, part_bytes, parts) in cases {
        assert_eq!(
            row_packed_equals_cpu(kind, size, chains, part_bytes),
            parts,
            "{kind} L={size}: parts"
        );
    }
}

#[test]
fn a_state_beyond_the_bindings_is_refused_with_numbers() {
    let Some(ctx) = common::gpu() else { return };
    let model = common::model(LatticeKind::Square, 64, Units::Spin, 0.4, 1.0, 0.0);
    let spec = common::spec(model, Algorithm::HeatBath, 4, 1, Start::Hot);
    // 4 chains × 64 rows × 2 words × 4 bytes = 2048 bytes; parts of 256 bytes need 8
    let layout = Layout::RowPacked {
        part_bytes: Some(256),
    };
    let err = StatePlan::new(&spec, layout, &ctx.limits)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2048 bytes"), "{err}");
    assert!(
        err.contains(&format!(
            "at most {MAX_PARTS} storage bindings of 256 bytes"
        )),
        "{err}"
    );
    let Err(e) = GpuSampler::with_layout(ctx.clone(), spec, layout) else {
        panic!("accepted a state of 8 parts");
    };
    assert_eq!(e.exit_code(), 2, "{e}");
    // the per-site layout of the same job fits and plans one part
    let plan = StatePlan::new(&spec, Layout::PerSite, &ctx.limits).unwrap();
    assert_eq!((plan.words, plan.parts.len()), (4 * 64 * 64, 1));
}

#[test]
fn a_per_site_state_beyond_one_binding_switches_to_row_packed() {
    let Some(ctx) = common::gpu() else { return };
    // the smallest even L whose per-site state (4 bytes per site) exceeds one binding:
    // L = 5794 (33.6 M spins) on the software adapters' 128 MiB
    let binding = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    let size = (((binding / 4 + 1) as f64).sqrt().ceil() as u32).next_multiple_of(2);
    if size > 16384 {
        eprintln!("skipping: bindings of {binding} bytes need L = {size} to overflow");
        return;
    }
    let model = common::model(LatticeKind::Square, size, Units::Spin, 0.44, 1.0, 0.0);
    let spec = common::spec(model, Algorithm::HeatBath, 1, 3, Start::Hot);
    assert!(StatePlan::new(&spec, Layout::PerSite, &ctx.limits).is_err());
    let mut g = common::gpu_sampler(ctx.clone(), spec);
    assert!(g.info().api.contains("row-packed"), "{}", g.info().api);
    let mut c = common::cpu(spec);
    assert_eq!(
        g.advance(1, 1).unwrap(),
        c.advance(1, 1).unwrap(),
        "L={size}"
    );
    assert_eq!(g.configurations().unwrap(), c.configurations().unwrap());
}

/// FNV-1a over a configuration.
fn checksum(bits: &[u8]) -> u64 {
    bits.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
#[ignore = "L = 16384 (268 M spins): about 35 s on a software adapter; run with --ignored"]
fn large_lattice_matches_cpu_checksum() {
    gpu_equals_cpu_on_one_lattice(16384, 3);
}

#[test]
#[ignore = "L = 65536 (2^32 spins, 8.5 GB of RAM): about 4.5 minutes on 2 cores; run with --ignored"]
fn largest_lattice_matches_cpu_checksum() {
    gpu_equals_cpu_on_one_lattice(65536, 1);
}

/// One square lattice of size L, `sweeps` heat-bath sweeps measured after each on the GPU
/// (whatever layout fits) and the CPU: equal measurements and final-state checksums.
fn gpu_equals_cpu_on_one_lattice(size: u32, sweeps: u32) {
    let Some(ctx) = common::gpu() else { return };
    let model = common::model(LatticeKind::Square, size, Units::Spin, 0.44, 1.0, 0.0);
    let spec = common::spec(model, Algorithm::HeatBath, 1, 2026, Start::Hot);
    let per_site = StatePlan::new(&spec, Layout::PerSite, &ctx.limits);
    let mut g = common::gpu_sampler(ctx.clone(), spec);
    eprintln!(
        "GPU layout: {} (per-site state: {})",
        g.info().api,
        match &per_site {
            Ok(_) => "fits one binding".to_string(),
            Err(e) => e.to_string(),
        }
    );
    let mg = g.advance(sweeps, 1).unwrap();
    let sg = checksum(&g.configurations().unwrap());
    drop(g);
    let mut c = common::cpu(spec);
    let mc = c.advance(sweeps, 1).unwrap();
    let sc = checksum(&c.configurations().unwrap());
    eprintln!(
        "L = {size}: checksum GPU {sg:016x} CPU {sc:016x}, n1 = {} of {}",
        mg[mg.len() - 1].ones,
        spec.sites()
    );
    assert_eq!(mg, mc, "measurements");
    assert_eq!(sg, sc, "final-state checksums");
}
