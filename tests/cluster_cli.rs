//! `sample --algorithm swendsen-wang|wolff` through the CLI: a Binder-crossing job that is
//! interrupted and resumed bit-identically, the GPU job equal to the CPU one, the cluster
//! block of the results, and bad combinations refused with exit 2 and no output.

mod common;

use common::{blockspin, read_json as json, s, temp_dir as dir};
use serde_json::Value;
use std::time::Duration;

const JOB: &str = r#"
lattice = "square"
size = [8, 16]
temperature = [2.2, 2.27, 2.35]
thermalize = 100
sweeps = 20000
measure-every = 1
chains = 4
seed = 5
backend = "cpu"
"#;

/// Observables, cluster estimates and crossings of every point (what must not depend on
/// the device or on interruptions).
fn physics(v: &Value) -> Value {
    let points: Vec<Value> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| serde_json::json!([p["parameters"], p["observables"], p["cluster"]]))
        .collect();
    serde_json::json!([points, v["crossings"]])
}

#[test]
fn cluster_jobs_resume_bit_identically_and_report_cluster_estimates() {
    for algorithm in ["swendsen-wang", "wolff"] {
        let d = dir(&format!("cluster-job-{algorithm}"));
        let job = d.join("job.toml");
        std::fs::write(&job, format!("{JOB}algorithm = \"{algorithm}\"\n")).unwrap();
        let (a, b, ck) = (d.join("a.json"), d.join("b.json"), d.join("job.ckpt"));
        let o = blockspin(&["sample", "--job", s(&job), "--output", s(&a), "--quiet"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v = json(&a);
        for p in v["points"].as_array().unwrap() {
            assert_eq!(p["parameters"]["algorithm"], algorithm);
            let c = &p["cluster"];
            // the same βN⟨m²⟩ two ways: within 5 combined errors (the two are positively
            // correlated, so this is conservative)
            let est = |name: &str| {
                let x = &c[name];
                (x["mean"].as_f64().unwrap(), x["error"].as_f64().unwrap())
            };
            let (direct, de) = est("susceptibility_m2_per_site");
            let (m, e) = est("improved_susceptibility_per_site");
            assert!(e > 0.0 && (m - direct).abs() < 5.0 * e.hypot(de), "{p}");
            assert!(c["clusters_per_sweep"]["mean"].as_f64().unwrap() >= 1.0);
        }
        assert!(
            !v["crossings"].as_array().unwrap().is_empty(),
            "{}",
            v["crossings"]
        );

        let status = common::interrupt_after_checkpoint(
            &[
                "sample",
                "--job",
                s(&job),
                "--output",
                s(&b),
                "--quiet",
                "--checkpoint",
                s(&ck),
                "--checkpoint-every",
                "0.05",
            ],
            &ck,
            Duration::from_millis(150),
            "TERM",
        );
        assert_eq!(
            status.code(),
            Some(128 + 15),
            "{algorithm}: interrupted by SIGTERM"
        );
        assert!(!b.exists());
        let o = blockspin(&["sample", "--resume", s(&ck), "--quiet"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            physics(&json(&a)),
            physics(&json(&b)),
            "{algorithm}: resumed run differs"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn swendsen_wang_job_is_the_same_on_the_gpu() {
    if common::gpu().is_none() {
        return;
    }
    let d = dir("cluster-gpu-job");
    let job = d.join("job.toml");
    let small = JOB
        .replace("sweeps = 20000", "sweeps = 300")
        .replace("size = [8, 16]", "size = [8, 12]");
    std::fs::write(&job, format!("{small}algorithm = \"swendsen-wang\"\n")).unwrap();
    let (a, b) = (d.join("cpu.json"), d.join("gpu.json"));
    let o = blockspin(&["sample", "--job", s(&job), "--output", s(&a), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = blockspin(&[
        "sample",
        "--job",
        s(&job),
        "--backend",
        "gpu",
        "--output",
        s(&b),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (va, vb) = (json(&a), json(&b));
    assert_eq!(vb["points"][0]["backend"]["kind"], "gpu");
    let strip = |v: &Value| {
        let mut p = physics(v);
        for point in p[0].as_array_mut().unwrap() {
            point[0].as_object_mut().unwrap().remove("backend");
        }
        p
    };
    assert_eq!(strip(&va), strip(&vb));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn cluster_algorithms_refuse_what_they_cannot_run() {
    let d = dir("cluster-refuse");
    let out = d.join("x.json");
    for args in [
        &["--algorithm", "wolff", "--backend", "gpu"][..],
        &["--algorithm", "wolff", "--backend", "gpu-fast"],
        &["--algorithm", "swendsen-wang", "--kernel", "sites"],
        &["--algorithm", "swendsen-wang", "--kernel", "chains"],
        &["--algorithm", "swendsen-wang", "--backend", "cpu-fast"],
    ] {
        let mut all = vec!["sample", "--size", "8", "--beta", "0.4", "--sweeps", "10"];
        all.extend_from_slice(args);
        all.extend(["--output", s(&out)]);
        let o = blockspin(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("algorithm"), "{args:?}: {err}");
        assert!(!out.exists());
    }
    std::fs::remove_dir_all(&d).unwrap();
}
