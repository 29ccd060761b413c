//! MCRG on the device equals MCRG on the host bit for bit: for every state layout of the GPU
//! sampler (per site, chain-packed, site-packed, row-packed over several bindings), every
//! supported lattice and every rule, the device's blocking, operator sums and local-field
//! histograms of the chains' current configurations equal [`Mcrg::analyze`] of the same
//! configurations read back. A full `mcrg::sample` run on the device reproduces the host
//! run's report.

mod common;

use blockspin::backend::gpu::{GpuSampler, Layout};
use blockspin::backend::{ChainSpec, Sampler, Start};
use blockspin::lattice::LatticeKind;
use blockspin::mcrg::gpu::DeviceMcrg;
use blockspin::mcrg::{self, Mcrg, McrgSettings, SamplingPlan};
use blockspin::model::{Algorithm, Units};
use blockspin::rg::rules::Rule;

fn spins(bits: &[u8]) -> Vec<i8> {
    bits.iter().map(|&b| 2 * b as i8 - 1).collect()
}

fn check(
    sampler: &mut dyn Sampler,
    settings: &McrgSettings,
    what: &str,
    measurements: u32,
) -> usize {
    let m = Mcrg::new(settings).unwrap();
    let mut device = DeviceMcrg::new(sampler.device_state().unwrap(), &m)
        .unwrap()
        .unwrap_or_else(|| panic!("{what}: not on the device"));
    let mut compared = 0;
    for meas in 0..measurements {
        sampler.advance(3, 0).unwrap();
        let n = settings.size.pow(settings.lattice.dimension()) as usize;
        let x = spins(&sampler.configurations().unwrap());
        let chains = (x.len() / n) as u32;
        let first = meas * chains + 1000;
        let got = device.analyze(first).unwrap();
        assert_eq!(got.len(), chains as usize, "{what}");
        for (c, (g, config)) in got.iter().zip(x.chunks_exact(n)).enumerate() {
            let want = m.analyze(config, first + c as u32);
            assert_eq!(*g, want, "{what}: measurement {meas}, chain {c}");
            compared += 1;
        }
    }
    compared
}

fn sampler(
    ctx: std::sync::Arc<blockspin::backend::gpu::GpuContext>,
    spec: ChainSpec,
    layout: Layout,
) -> Box<dyn Sampler> {
    Box::new(GpuSampler::with_layout(ctx, spec, layout).unwrap())
}

/// Bytes per part that split the row-packed state of `chains` chains into 2 or 3 parts.
fn row_packed_part(kind: LatticeKind, size: u32, chains: u64) -> u64 {
    let rows = (size as u64).pow(kind.dimension() - 1);
    let words = chains * rows * (size as u64).div_ceil(32);
    4 * words.div_ceil(3).next_power_of_two()
}

#[test]
fn device_analysis_equals_the_host_for_every_layout_lattice_and_rule() {
    let Some(ctx) = common::gpu() else { return };
    let mut compared = 0;
    for (kind, size, block, levels, beta) in [
        (LatticeKind::Chain, 48, 2, 3, 0.6),
        (LatticeKind::Chain, 54, 3, 2, 0.6),
        (LatticeKind::Square, 24, 2, 3, 0.44),
        (LatticeKind::Square, 18, 3, 2, 0.44),
        (LatticeKind::Cubic, 12, 2, 2, 0.22),
    ] {
        let model = common::model(kind, size, Units::Spin, beta, 1.0, 0.05);
        for (layout, chains) in [
            (Layout::PerSite, 3),
            (Layout::ChainPacked, 33),
            (Layout::SitePacked, 2),
            // parts of a third of the state: it spans three bindings
            (
                Layout::RowPacked {
                    part_bytes: Some(row_packed_part(kind, size, 2)),
                },
                2,
            ),
        ] {
            for rule in [
                Rule::Majority,
                Rule::Decimation,
                Rule::Stochastic(vec![0.7]),
            ] {
                let spec = common::spec(model, Algorithm::HeatBath, chains, 11, Start::Hot);
                let mut s = sampler(ctx.clone(), spec, layout);
                let settings =
                    McrgSettings::new(kind, size, block, levels, rule.clone(), 5).unwrap();
                let what = format!("{kind} L = {size} b = {block} {layout:?} {}", rule.name());
                compared += check(s.as_mut(), &settings, &what, 2);
            }
        }
    }
    assert!(compared > 100, "{compared}");
}

#[test]
fn device_run_reproduces_the_host_report() {
    let Some(ctx) = common::gpu() else { return };
    let model = common::model(LatticeKind::Square, 32, Units::Spin, 0.4406868, 1.0, 0.0);
    let settings = McrgSettings::new(LatticeKind::Square, 32, 2, 3, Rule::Majority, 9).unwrap();
    let plan = SamplingPlan {
        thermalize: 20,
        measurements: 40,
        measure_every: 2,
    };
    let spec = common::spec(model, Algorithm::HeatBath, 4, 3, Start::Hot);
    let mut g = common::gpu_sampler(ctx, spec);
    let mut c = common::cpu(spec);
    let on_device = mcrg::sample(g.as_mut(), &model, plan, &settings).unwrap();
    let on_host = mcrg::sample(c.as_mut(), &model, plan, &settings).unwrap();
    assert_eq!(
        on_device.parameters.sampling.as_ref().unwrap().analysis,
        "device"
    );
    assert_eq!(
        on_host.parameters.sampling.as_ref().unwrap().analysis,
        "host"
    );
    let json = |r: &mcrg::McrgReport| {
        let mut v = serde_json::to_value(r).unwrap();
        v["parameters"]["sampling"]["analysis"] = serde_json::Value::Null;
        v["backend"] = serde_json::Value::Null;
        v
    };
    assert_eq!(json(&on_device), json(&on_host));
}
