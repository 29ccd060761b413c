//! `--kernel` end to end: the automatic choice is recorded and reproduces the run, the
//! device never changes a result, aliases agree, and impossible combinations are refused
//! (exit 2, one line, nothing written).

mod common;

use common::{blockspin, read_json, s, temp_dir};
use serde_json::Value;

const RUN: &[&str] = &[
    "sample",
    "--lattice",
    "square",
    "--size",
    "34",
    "--temperature",
    "2.4",
    "--thermalize",
    "20",
    "--sweeps",
    "200",
    "--chains",
    "3",
    "--seed",
    "5",
    "--quiet",
];

fn run(extra: &[&str], out: &std::path::Path) -> Value {
    let mut args = RUN.to_vec();
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--output", s(out)]);
    let o = blockspin(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    read_json(out)
}

fn physics(v: &Value) -> (Value, Value) {
    (v["observables"].clone(), v["mean_series"].clone())
}

#[test]
fn auto_kernel_is_recorded_and_reproduces_the_run() {
    let d = temp_dir("auto");
    let auto = run(&[], &d.join("auto.json"));
    let kernel = auto["parameters"]["kernel"].as_str().unwrap().to_string();
    assert_eq!(auto["backend"]["kernel"], kernel.as_str());
    assert_eq!(auto["parameters"]["backend"], "auto");
    // the results file alone reruns it: same seed and kernel, on either device
    let seed = auto["parameters"]["seed"].to_string();
    for device in ["cpu", "gpu"] {
        if device == "gpu" && common::gpu().is_none() {
            continue;
        }
        let again = run(
            &["--kernel", &kernel, "--backend", device, "--seed", &seed],
            &d.join(format!("{device}.json")),
        );
        assert_eq!(physics(&again), physics(&auto), "{device}");
    }
    // another kernel: the same distribution, another random stream
    let other = run(&["--kernel", "reference"], &d.join("reference.json"));
    assert_ne!(physics(&other), physics(&auto));
    let (a, b) = (
        &auto["observables"]["energy_per_site"],
        &other["observables"]["energy_per_site"],
    );
    let diff = a["mean"].as_f64().unwrap() - b["mean"].as_f64().unwrap();
    let err = a["error"]
        .as_f64()
        .unwrap()
        .hypot(b["error"].as_f64().unwrap());
    assert!(err > 0.0 && (diff / err).abs() < 5.0, "{diff} ± {err}");
}

#[test]
fn fast_alias_is_the_chains_kernel() {
    let d = temp_dir("alias");
    let alias = run(&["--backend", "cpu-fast"], &d.join("alias.json"));
    let chains = run(
        &["--backend", "cpu", "--kernel", "chains"],
        &d.join("chains.json"),
    );
    assert_eq!(alias["parameters"]["kernel"], "chains");
    assert_eq!(physics(&alias), physics(&chains));
}

#[test]
fn impossible_kernels_are_refused() {
    let d = temp_dir("refused");
    let out = d.join("never.json");
    for extra in [
        &[
            "--lattice",
            "triangular",
            "--size",
            "9",
            "--kernel",
            "sites",
        ][..],
        &["--backend", "cpu-fast", "--kernel", "sites"][..],
        &["--kernel", "fastest"][..],
    ] {
        let mut args = RUN.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--output", s(&out)]);
        let o = blockspin(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("--kernel"), "{err}");
        assert!(!out.exists());
    }
}

#[test]
fn a_resume_keeps_its_kernel() {
    let d = temp_dir("resume");
    let ck = d.join("run.ckpt");
    let first = run(&["--checkpoint", s(&ck)], &d.join("first.json"));
    let kernel = first["parameters"]["kernel"].as_str().unwrap();
    let other = if kernel == "reference" {
        "sites"
    } else {
        "reference"
    };
    let o = blockspin(&["sample", "--resume", s(&ck), "--kernel", other, "--quiet"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--kernel") && err.contains(kernel), "{err}");
    // the device may change: every kernel is bit-identical on CPU and GPU
    let o = blockspin(&["sample", "--resume", s(&ck), "--backend", "cpu", "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
