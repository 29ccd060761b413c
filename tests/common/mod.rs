//! Shared test helpers.
#![allow(dead_code)]

use blockspin::backend::cpu::{CpuSampler, Mode};
use blockspin::backend::gpu::{GpuContext, GpuSampler};
use blockspin::backend::{ChainSpec, Sampler, Start};
use blockspin::lattice::{Lattice, LatticeKind};
use blockspin::model::{Algorithm, Model, Units};
use std::sync::{Arc, OnceLock};

/// The shared GPU context, or None (with a printed reason) when no adapter exists.
/// With `BLOCKSPIN_REQUIRE_GPU=1` (set by `.ci/run`) a missing adapter fails the test.
pub fn gpu() -> Option<Arc<GpuContext>> {
    static CTX: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| GpuContext::new().map_err(|e| e.to_string()));
    match ctx {
        Ok(c) => Some(c.clone()),
        Err(e) => {
            if std::env::var("BLOCKSPIN_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("BLOCKSPIN_REQUIRE_GPU=1 but no GPU adapter is usable: {e}");
            }
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

pub fn model(kind: LatticeKind, size: u32, units: Units, beta: f64, j: f64, h: f64) -> Model {
    Model::new(Lattice::new(kind, size).unwrap(), units, beta, j, h).unwrap()
}

pub fn spec(model: Model, algorithm: Algorithm, chains: u32, seed: u64, start: Start) -> ChainSpec {
    ChainSpec::new(model, algorithm, chains, seed, start).unwrap()
}

pub fn cpu(spec: ChainSpec) -> Box<dyn Sampler> {
    Box::new(CpuSampler::new(spec, Mode::Threaded).unwrap())
}

pub fn cpu_reference(spec: ChainSpec) -> Box<dyn Sampler> {
    Box::new(CpuSampler::new(spec, Mode::Reference).unwrap())
}

pub fn gpu_sampler(ctx: Arc<GpuContext>, spec: ChainSpec) -> Box<dyn Sampler> {
    Box::new(GpuSampler::new(ctx, spec).unwrap())
}

/// Upper tail of the chi-squared distribution as a standard-normal z (Wilson–Hilferty).
pub fn chi2_z(chi2: f64, dof: f64) -> f64 {
    let a = 2.0 / (9.0 * dof);
    ((chi2 / dof).powf(1.0 / 3.0) - (1.0 - a)) / a.sqrt()
}

/// Pearson chi-squared of observed counts against expected probabilities, pooling cells
/// with expected count below 5 into one. Returns (chi2, degrees of freedom, z).
pub fn chi2_test(observed: &[u64], probabilities: &[f64]) -> (f64, f64, f64) {
    let n: u64 = observed.iter().sum();
    let n = n as f64;
    let (mut chi2, mut cells) = (0.0, 0usize);
    let (mut pooled_o, mut pooled_e) = (0.0, 0.0);
    for (&o, &p) in observed.iter().zip(probabilities) {
        let e = n * p;
        if e < 5.0 {
            pooled_o += o as f64;
            pooled_e += e;
        } else {
            chi2 += (o as f64 - e).powi(2) / e;
            cells += 1;
        }
    }
    if pooled_e > 0.0 {
        if pooled_e >= 1.0 {
            chi2 += (pooled_o - pooled_e).powi(2) / pooled_e;
            cells += 1;
        } else {
            assert!(
                pooled_o <= 3.0,
                "{pooled_o} samples in cells of total expectation {pooled_e}"
            );
        }
    }
    let dof = (cells - 1) as f64;
    (chi2, dof, chi2_z(chi2, dof))
}

/// Runs the `blockspin` binary with `args`.
pub fn blockspin(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_blockspin"))
        .args(args)
        .output()
        .expect("run blockspin")
}

/// A fresh, empty temporary directory named after the test binary, `name` and the process.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "blockspin-{}-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A path as a command-line argument.
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// A JSON file.
pub fn read_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}
