//! `blockspin dbm` end to end: generate, analyze, sample, validate (and its failure mode).

mod common;

use common::{blockspin, read_json as json, s, temp_dir as dir};

use blockspin::dbm::model::EXAMPLE;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The example model with its hidden-deep weights scaled so that the existence norm is `norm`.
fn example_with_norm(norm: f64) -> String {
    let m = blockspin::dbm::Dbm::from_toml(EXAMPLE).unwrap();
    let now = blockspin::dbm::analytic::existence(&m)
        .unwrap()
        .spectral_norm;
    let mut m2 = m.clone();
    for row in m2.hidden_deep.iter_mut() {
        for x in row.iter_mut() {
            *x *= norm / now;
        }
    }
    m2.to_toml()
}

#[test]
fn existence_is_enforced_everywhere() {
    let d = dir("existence");
    let bad = d.join("bad.toml");
    let good = d.join("good.toml");
    std::fs::write(&bad, example_with_norm(1.05)).unwrap();
    std::fs::write(&good, example_with_norm(0.95)).unwrap();
    let out_json = d.join("out.json");
    for cmd in ["analyze", "validate", "sample"] {
        let mut args = vec!["dbm", cmd, "--model", s(&bad), "--output", s(&out_json)];
        if cmd != "analyze" {
            args.extend(["--backend", "cpu"]);
        }
        let o = blockspin(&args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {e}");
        assert!(
            e.contains("not normalizable") && e.contains("1.05"),
            "{cmd}: {e}"
        );
        assert_eq!(e.trim().lines().count(), 1, "{cmd}: {e}");
        assert!(!out_json.exists(), "{cmd} wrote a file");
    }
    let o = blockspin(&[
        "dbm",
        "analyze",
        "--model",
        s(&good),
        "--output",
        s(&out_json),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&out_json);
    assert_eq!(v["existence"]["ok"], true);
    assert!((v["existence"]["spectral_norm"].as_f64().unwrap() - 0.95).abs() < 1e-9);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn analyze_reports_every_key() {
    let d = dir("analyze");
    let model = d.join("m.toml");
    std::fs::write(&model, EXAMPLE).unwrap();
    let out = d.join("a.json");
    let o = blockspin(&["dbm", "analyze", "--model", s(&model), "--output", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&out);
    for key in [
        "existence",
        "hidden_coupling",
        "hidden_precision",
        "hidden_field",
        "visible_coupling",
        "visible_field",
        "constant",
        "log_partition",
    ] {
        assert!(!v[key].is_null(), "{key}");
    }
    assert_eq!(v["visible_coupling"].as_array().unwrap().len(), 4);
    assert_eq!(v["visible_coupling"][0].as_array().unwrap().len(), 4);
    assert!(v["cumulants"].is_null() && v["multibody_couplings"].is_null());

    // bernoulli deep layer: cumulants, multi-body couplings, truncation error; no J_v
    let bern = EXAMPLE.replace(
        "[deep]\nunits = \"gaussian\"\nmean = [0.2, -0.3]\nstd = [0.7, 1.1]",
        "[deep]\nunits = \"bernoulli\"\nbias = [0.3, -0.5]",
    );
    std::fs::write(&model, bern).unwrap();
    let o = blockspin(&[
        "dbm",
        "analyze",
        "--model",
        s(&model),
        "--order",
        "4",
        "--output",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&out);
    assert!(v["visible_coupling"].is_null() && v["existence"].is_null());
    assert!((v["cumulants"][0][1].as_f64().unwrap() - 0.244458311690746).abs() < 1e-12);
    assert_eq!(v["multibody_couplings"].as_array().unwrap().len(), 4);
    assert_eq!(
        v["multibody_couplings"][2]["tensor"]
            .as_array()
            .unwrap()
            .len(),
        27
    );
    let t = v["truncation_error"].as_array().unwrap();
    assert_eq!(t.len(), 4);
    assert!(t[3]["rms"].as_f64().unwrap() < t[0]["rms"].as_f64().unwrap());

    std::fs::remove_dir_all(&d).unwrap();
}

/// The example with a bernoulli hidden layer (biases 0, 0.1, −0.1).
fn bernoulli_hidden_example() -> String {
    let bh = EXAMPLE.replace(
        "[hidden]\nunits = \"gaussian\"\nmean = [0.0, 0.1, -0.1]\nstd = [1.0, 0.8, 1.2]",
        "[hidden]\nunits = \"bernoulli\"\nbias = [0.0, 0.1, -0.1]",
    );
    assert!(bh.contains("bias = [0.0, 0.1, -0.1]"));
    bh
}

#[test]
fn bernoulli_hidden_layer_is_analyzed_and_validated_exactly() {
    let d = dir("bernoulli-hidden");
    let model = d.join("m.toml");
    std::fs::write(&model, bernoulli_hidden_example()).unwrap();
    let out = d.join("a.json");
    let o = blockspin(&["dbm", "analyze", "--model", s(&model), "--output", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("visible couplings of order 3"));
    let v = json(&out);
    let e = &v["exact"];
    assert_eq!(e["visible_mean"].as_array().unwrap().len(), 4);
    assert_eq!(e["hidden_mean"].as_array().unwrap().len(), 3);
    assert_eq!(e["visible_couplings"].as_array().unwrap().len(), 4);
    assert_eq!(e["visible_couplings"][3]["nonzero"], 1, "one 4-body term");
    assert!(v["log_partition"].is_number() && v["hidden_coupling"].is_array());

    let report = d.join("r.json");
    let mut args = vec![
        "dbm",
        "validate",
        "--model",
        s(&model),
        "--output",
        s(&report),
        "--chains",
        "1024",
        "--sweeps",
        "300",
        "--thermalize",
        "50",
        "--backend",
        "cpu",
        "--quiet",
    ];
    let o = blockspin(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v = json(&report);
    let checks = v["checks"].as_array().unwrap();
    for name in [
        "visible_mean",
        "visible_pair",
        "hidden_mean",
        "hidden_cumulant_2",
        "hidden_cumulant_4",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"] == name && c["reference"] == "exact"),
            "{name} against exact values"
        );
    }
    // no analytic pairwise Hamiltonian: the pseudo-likelihood check says why it is skipped
    assert_eq!(v["visible_hamiltonian"]["status"], "skipped");
    assert!(
        v["visible_hamiltonian"]["note"]
            .as_str()
            .unwrap()
            .contains("gaussian hidden and deep layers")
    );
    assert!(
        !checks
            .iter()
            .any(|c| c["name"] == "visible_hamiltonian_control")
    );
    // the exact references are sharp enough to notice W scaled by 1.2
    args.extend_from_slice(&["--perturb-visible-coupling", "1.44"]);
    let o = blockspin(&args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // beyond the enumeration limit: refused, saying so
    let nv = 22;
    let row = format!("[{}]", ["0.1"; 3].join(", "));
    let big = format!(
        "[visible]\nunits = \"bernoulli\"\nbias = [{}]\n[hidden]\nunits = \"bernoulli\"\nbias = [0.0, 0.0, 0.0]\n[deep]\nunits = \"gaussian\"\nmean = [0.0]\nstd = [1.0]\n[weights]\nvisible_hidden = [{}]\nhidden_deep = [[0.2], [0.2], [0.2]]\n",
        vec!["0.0"; nv].join(", "),
        vec![row; nv].join(", ")
    );
    std::fs::write(&model, big).unwrap();
    let o = blockspin(&[
        "dbm",
        "validate",
        "--model",
        s(&model),
        "--backend",
        "cpu",
        "--output",
        s(&report),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("at most 24 units") && stderr(&o).contains("25 units"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).trim().lines().count(), 1);
    let o = blockspin(&["dbm", "analyze", "--model", s(&model)]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("exact: null"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn validate_passes_and_a_perturbed_recursion_fails() {
    let d = dir("validate");
    let model = d.join("m.toml");
    std::fs::write(&model, EXAMPLE).unwrap();
    let report = d.join("r.json");
    let common = [
        "--chains",
        "2048",
        "--sweeps",
        "200",
        "--thermalize",
        "50",
        "--measure-every",
        "2",
        "--backend",
        "cpu",
        "--quiet",
    ];
    let mut args = vec![
        "dbm",
        "validate",
        "--model",
        s(&model),
        "--output",
        s(&report),
    ];
    args.extend_from_slice(&common);
    let o = blockspin(&args);
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{table}{}", stderr(&o));
    let v = json(&report);
    assert_eq!(v["passed"], true);
    let checks = v["checks"].as_array().unwrap();
    for name in [
        "visible_mean",
        "visible_pair",
        "hidden_cumulant_1",
        "hidden_cumulant_2",
        "hidden_cumulant_3",
        "hidden_cumulant_4",
        "visible_coupling",
        "visible_field",
    ] {
        assert!(checks.iter().any(|c| c["name"] == name), "{name} missing");
    }
    for level in ["full", "visible_hidden", "visible"] {
        assert!(
            checks
                .iter()
                .any(|c| c["level"] == level && c["reference"] == "exact"),
            "{level}"
        );
    }
    let c = &checks[0];
    for key in [
        "name", "level", "index", "analytic", "estimate", "error", "z",
    ] {
        assert!(!c[key].is_null(), "{key}");
    }
    // error bars are sensible: every error is positive and finite, and the error of a
    // visible mean lies between the uncorrelated floor sqrt(p(1-p)/N) and a few times it
    assert!(checks.iter().all(|c| {
        c["error"]
            .as_f64()
            .is_some_and(|e| e > 0.0 && e.is_finite())
    }));
    let samples = 2048.0 * 100.0;
    for c in checks
        .iter()
        .filter(|c| c["name"] == "visible_mean" && c["level"] == "full")
    {
        let p = c["analytic"].as_f64().unwrap();
        let floor = (p * (1.0 - p) / samples).sqrt();
        let e = c["error"].as_f64().unwrap();
        assert!(
            e > 0.7 * floor && e < 4.0 * floor,
            "error {e} vs uncorrelated floor {floor}"
        );
    }

    // the visible Hamiltonian by pseudo-likelihood agrees with J_v and f_v, coupling by
    // coupling, next to the exact moments; its control (J_v x 1.5) is detected
    let h = &v["visible_hamiltonian"];
    assert_eq!(h["status"], "checked", "{h}");
    assert_eq!(h["parameters"], 10);
    assert_eq!(h["samples"], 2048 * 100);
    assert_eq!(h["control_detected"], true);
    let threshold = v["threshold_z"].as_f64().unwrap();
    assert!(h["max_abs_z"].as_f64().unwrap() < threshold);
    assert!(h["control_max_abs_z"].as_f64().unwrap() >= threshold);
    for name in [
        "visible_hamiltonian_field",
        "visible_hamiltonian_coupling",
        "visible_hamiltonian_control",
    ] {
        assert!(checks.iter().any(|c| c["name"] == name), "{name} missing");
    }
    assert!(
        table.contains("visible Hamiltonian by pseudo-likelihood"),
        "{table}"
    );

    args.extend_from_slice(&["--perturb-visible-coupling", "1.1"]);
    let o = blockspin(&args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a perturbed J_v must fail: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v = json(&report);
    assert_eq!(v["passed"], false);
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "visible_coupling" && c["passed"] == false)
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn validate_on_the_gpu() {
    let Some(_) = common::gpu() else { return };
    let d = dir("validate-gpu");
    let model = d.join("m.toml");
    std::fs::write(&model, EXAMPLE).unwrap();
    let report = d.join("r.json");
    let o = blockspin(&[
        "dbm",
        "validate",
        "--model",
        s(&model),
        "--output",
        s(&report),
        "--chains",
        "2048",
        "--sweeps",
        "200",
        "--thermalize",
        "50",
        "--measure-every",
        "2",
        "--backend",
        "gpu",
        "--quiet",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v = json(&report);
    assert_eq!(v["backends"]["full"]["kind"], "gpu");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bernoulli_deep_layer_validates_with_the_softplus_model() {
    let d = dir("bernoulli");
    let model = d.join("m.toml");
    let bern = EXAMPLE.replace(
        "[deep]\nunits = \"gaussian\"\nmean = [0.2, -0.3]\nstd = [0.7, 1.1]",
        "[deep]\nunits = \"bernoulli\"\nbias = [0.3, -0.5]",
    );
    std::fs::write(&model, bern).unwrap();
    let report = d.join("r.json");
    let o = blockspin(&[
        "dbm",
        "validate",
        "--model",
        s(&model),
        "--output",
        s(&report),
        "--chains",
        "1024",
        "--sweeps",
        "200",
        "--thermalize",
        "50",
        "--measure-every",
        "2",
        "--backend",
        "auto",
        "--quiet",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v = json(&report);
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["name"] == "deep_cumulant_4"));
    assert!(
        checks
            .iter()
            .any(|c| c["level"] == "visible_hidden" && c["name"] == "visible_pair")
    );
    assert_eq!(
        v["backends"]["visible_hidden"]["kind"], "cpu",
        "the softplus model runs on the CPU"
    );
    assert_eq!(v["truncation_error"].as_array().unwrap().len(), 4);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn generate_then_sample() {
    let d = dir("generate");
    let model = d.join("lattice.toml");
    let o = blockspin(&[
        "dbm",
        "generate",
        "--lattice",
        "chain",
        "--size",
        "12",
        "--block",
        "3",
        "--stride",
        "2",
        "--deep-block",
        "2",
        "--seed",
        "4",
        "--output",
        s(&model),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = blockspin::dbm::Dbm::load(&model).unwrap();
    assert_eq!(m.sizes(), (12, 6, 3));
    let (moments, samples) = (d.join("moments.json"), d.join("v.npy"));
    let o = blockspin(&[
        "dbm",
        "sample",
        "--model",
        s(&model),
        "--level",
        "full",
        "--chains",
        "64",
        "--sweeps",
        "20",
        "--thermalize",
        "5",
        "--measure-every",
        "5",
        "--backend",
        "cpu",
        "--output",
        s(&moments),
        "--samples",
        s(&samples),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&moments);
    assert_eq!(v["schema"], "blockspin/dbm-sample/1");
    assert_eq!(v["visible"].as_array().unwrap().len(), 12);
    assert_eq!(v["deep"].as_array().unwrap().len(), 3);
    // the drift test reads the mean activity of every sampled layer
    assert!(
        v["analysis"]["equilibrated"].is_boolean(),
        "{}",
        v["analysis"]
    );
    let tested: Vec<&str> = v["analysis"]["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["observable"].as_str().unwrap())
        .collect();
    assert_eq!(
        tested,
        ["visible_activity", "hidden_activity", "deep_activity"]
    );
    let bytes = std::fs::read(&samples).unwrap();
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert!(
        std::str::from_utf8(&bytes[10..10 + hlen])
            .unwrap()
            .contains("(4, 64, 12)")
    );
    assert!(bytes[10 + hlen..].iter().all(|&b| b <= 1));

    // bad geometry and unknown keys are refused with exit 2
    for (args, needle) in [
        (vec!["--size", "13"], "--size"),
        (vec!["--deep-block", "5"], "--deep-block"),
        (vec!["--hidden-std", "0"], "--hidden-std"),
        (vec!["--deep-weight", "3"], "not normalizable"),
    ] {
        let mut a = vec!["dbm", "generate", "--output", s(&model)];
        a.extend(args);
        let o = blockspin(&a);
        assert_eq!(o.status.code(), Some(2), "{needle}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
    }
    std::fs::write(&model, EXAMPLE.replace("[weights]", "[weights]\nextra = 1")).unwrap();
    let o = blockspin(&["dbm", "analyze", "--model", s(&model)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("extra"), "{}", stderr(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

/// A Gaussian DBM far beyond the enumeration limit (64 visible units in one connected
/// component of J_v): its visible Hamiltonian, estimated from the full level's samples by
/// pseudo-likelihood, matches the analytic J_v and f_v coupling by coupling; the built-in
/// control (J_v x 1.5) is detected; a perturbed recursion fails the check; a run too short
/// to detect the control fails; `--hamiltonian-samples 0` skips the check.
#[test]
fn visible_hamiltonian_is_checked_beyond_the_enumeration_limit() {
    let d = dir("hamiltonian");
    let model = d.join("m.toml");
    let o = blockspin(&[
        "dbm",
        "generate",
        "--lattice",
        "square",
        "--size",
        "8",
        "--block",
        "2",
        "--stride",
        "1",
        "--weight",
        "0.27",
        "--units",
        "spin",
        "--output",
        s(&model),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = d.join("r.json");
    let run = |chains: &str, extra: &[&str]| {
        let mut args = vec![
            "dbm",
            "validate",
            "--model",
            s(&model),
            "--output",
            s(&report),
            "--chains",
            chains,
            "--sweeps",
            "128",
            "--thermalize",
            "50",
            "--measure-every",
            "2",
            "--backend",
            "cpu",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let o = blockspin(&args);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            json(&report),
        )
    };

    let started = std::time::Instant::now();
    let (code, table, v) = run("512", &[]);
    println!(
        "64 visible units, 512 chains: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(code, Some(0), "{table}");
    let checks = v["checks"].as_array().unwrap();
    // beyond enumeration: no exact references at all
    assert!(!checks.iter().any(|c| c["reference"] == "exact"));
    let h = &v["visible_hamiltonian"];
    println!("{h}");
    assert_eq!(h["status"], "checked", "{h}");
    assert_eq!(h["units"], 64);
    assert_eq!(h["samples"], 512 * 64);
    assert_eq!(h["parameters"], 64 + 64 * 63 / 2);
    let threshold = v["threshold_z"].as_f64().unwrap();
    let max_z = h["max_abs_z"].as_f64().unwrap();
    assert!(max_z < 5.0 && max_z < threshold, "max |z| {max_z}");
    // calibrated errors: the z of 2080 parameters have about unit variance
    let rms = h["rms_z"].as_f64().unwrap();
    assert!(rms > 0.8 && rms < 1.25, "rms z {rms}");
    assert_eq!(h["control_detected"], true);
    assert_eq!(h["passed"], true);
    assert!(h["control_max_abs_z"].as_f64().unwrap() > 2.0 * threshold);
    let ham: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|c| {
            c["name"] == "visible_hamiltonian_coupling" || c["name"] == "visible_hamiltonian_field"
        })
        .collect();
    assert_eq!(ham.len(), 64 + 64 * 63 / 2);
    assert!(ham.iter().all(|c| {
        c["error"]
            .as_f64()
            .is_some_and(|e| e > 0.0 && e.is_finite())
            && c["level"] == "full"
            && c["reference"] == "analytic"
            && c["passed"] == true
    }));
    // the nearest neighbours are strongly coupled and resolved to a few per cent
    let strong = ham
        .iter()
        .filter(|c| c["analytic"].as_f64().unwrap().abs() > 0.1)
        .count();
    assert!(strong >= 64, "{strong} couplings above 0.1");
    let control = checks
        .iter()
        .find(|c| c["name"] == "visible_hamiltonian_control")
        .unwrap();
    assert_eq!(control["reference"], "perturbed");
    assert_eq!(control["passed"], true);

    // the analytic side perturbed (J_v x 1.5): the check fails coupling by coupling
    let (code, table, v) = run("256", &["--perturb-visible-coupling", "1.5"]);
    assert_eq!(code, Some(1), "{table}");
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| { c["name"] == "visible_hamiltonian_coupling" && c["passed"] == false })
    );

    // too few samples (fewer than 16 per parameter): the check could not be made, and
    // fails, saying so; --hamiltonian-samples 0 skips it
    let (code, table, v) = run("16", &["--sweeps", "8"]);
    assert_eq!(code, Some(1), "{table}");
    let h = &v["visible_hamiltonian"];
    assert_eq!(h["status"], "failed", "{table}");
    assert!(h["note"].as_str().unwrap().contains("too few"), "{h}");
    assert!(table.contains("could not be made"), "{table}");
    let (_, table, v) = run("16", &["--sweeps", "8", "--hamiltonian-samples", "0"]);
    assert_eq!(v["visible_hamiltonian"]["status"], "skipped", "{table}");
    assert!(table.contains("visible Hamiltonian: skipped"), "{table}");

    // enough samples to estimate, too few to tell J_v from 1.5 J_v (the 4-unit example,
    // couplings |J| <= 0.13, 640 samples): the check fails, saying so
    std::fs::write(&model, EXAMPLE).unwrap();
    let (code, table, v) = run("64", &["--sweeps", "30"]);
    assert_eq!(code, Some(1), "{table}");
    let h = &v["visible_hamiltonian"];
    assert_eq!(h["status"], "checked", "{table}");
    assert_eq!(h["control_detected"], false, "{table}");
    assert_eq!(h["passed"], false, "{table}");
    assert!(
        v["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("could not tell J_v from 1.5 J_v")),
        "{}",
        v["warnings"]
    );
    std::fs::remove_dir_all(&d).unwrap();
}
