//! `blockspin rg` end to end.

mod common;

use common::blockspin;

#[test]
fn rg_writes_results_with_exact_values() {
    let dir = std::env::temp_dir().join(format!("blockspin-rg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("rg.json");
    let o = blockspin(&[
        "rg",
        "--lattice",
        "chain",
        "--coupling",
        "0.5",
        "--rule",
        "decimation",
        "--samples",
        "1000",
        "--steps",
        "2",
        "--backend",
        "cpu",
        "--quiet",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("nn") && table.contains("exact"), "{table}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["schema"], "blockspin/rg/1");
    assert_eq!(v["parameters"]["rule"], "decimation");
    for name in ["constant", "field", "nn", "nnn"] {
        assert!(
            v["couplings"][name]["mean"].is_f64() && v["couplings"][name]["error"].is_f64(),
            "{name}"
        );
    }
    assert_eq!(v["by_order"].as_array().unwrap().len(), 4);
    assert_eq!(v["by_order"][0]["order"], 1);
    let exact = v["exact"]["couplings"]["nn"].as_f64().unwrap();
    assert!((exact - 0.5 * 1f64.cosh().ln()).abs() < 1e-12);
    let t = v["trajectory"].as_array().unwrap();
    assert_eq!(t.len(), 3);
    assert!(
        t[2]["nn"].as_f64().unwrap() < t[1]["nn"].as_f64().unwrap(),
        "the chain flows to K = 0"
    );
    assert!((v["rescale_factor"].as_f64().unwrap() - 2.0).abs() < 1e-12);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fixed_point_on_the_triangular_lattice_and_none_on_the_chain() {
    let o = blockspin(&[
        "rg",
        "--lattice",
        "triangular",
        "--rule",
        "majority",
        "--order",
        "1",
        "--fixed-point",
        "--samples",
        "128",
        "--configurations",
        "16",
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("K* = 0.3356"));
    let o = blockspin(&[
        "rg",
        "--lattice",
        "chain",
        "--order",
        "1",
        "--fixed-point",
        "--samples",
        "128",
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no non-trivial fixed point"));
}

#[test]
fn bad_rg_input_exits_2() {
    for (args, needle) in [
        (vec!["--lattice", "cubic", "--coupling", "0.5"], "--lattice"),
        (
            vec!["--lattice", "square", "--block", "3", "--coupling", "0.5"],
            "--size",
        ),
        (
            vec![
                "--lattice",
                "triangular",
                "--block",
                "2",
                "--coupling",
                "0.5",
            ],
            "--block",
        ),
        (
            vec![
                "--rule",
                "stochastic",
                "--lambda",
                "1,2,3",
                "--coupling",
                "0.5",
            ],
            "--lambda",
        ),
        (
            vec!["--rule", "stochastic", "--coupling", "0.5"],
            "--lambda",
        ),
        (vec!["--order", "5", "--coupling", "0.5"], "--order"),
        (
            vec!["--configurations", "many", "--coupling", "0.5"],
            "--configurations",
        ),
        (vec!["--samples", "10", "--coupling", "0.5"], "--samples"),
        (vec!["--coupling", "nan"], "--coupling"),
        (vec![], "--coupling"),
        (
            vec![
                "--lattice",
                "square",
                "--size",
                "16",
                "--configurations",
                "all",
                "--coupling",
                "0.5",
            ],
            "--configurations",
        ),
    ] {
        let mut a = vec!["rg", "--backend", "cpu", "--quiet"];
        a.extend(args.iter());
        let o = blockspin(&a);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
    }
}

#[test]
fn mutual_information_of_a_rule_on_the_ring() {
    let dir = std::env::temp_dir().join(format!("blockspin-rg-mi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("mi.json");
    let o = blockspin(&[
        "rg",
        "--lattice",
        "chain",
        "--size",
        "12",
        "--coupling",
        "0.5",
        "--rule",
        "decimation",
        "--order",
        "1",
        "--mutual-information",
        "--buffer",
        "1",
        "--quiet",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("mutual information I(H:E)"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let m = &v["mutual_information"];
    // physics.md §7: N = 12, K = 0.5, b = 2, w = 1, decimation
    assert!(
        (m["mean"].as_f64().unwrap() - 0.027725508119).abs() < 1e-11,
        "{m}"
    );
    assert_eq!(m["error"], 0.0);
    assert_eq!(m["method"], "exact");
    assert_eq!(v["samples_drawn"], 0);
    // too large to enumerate, and a buffer that leaves no environment: exit 2, one line
    for args in [
        &["--lattice", "square", "--size", "8", "--method", "exact"][..],
        &["--lattice", "chain", "--size", "12", "--buffer", "6"][..],
    ] {
        let mut all = vec![
            "rg",
            "--coupling",
            "0.4",
            "--order",
            "1",
            "--mutual-information",
        ];
        all.extend_from_slice(args);
        let o = blockspin(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("--mutual-information") || err.contains("--buffer"),
            "{err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn optimize_lambda_reports_the_rule_and_compares_couplings() {
    let dir = std::env::temp_dir().join(format!("blockspin-rg-opt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("opt.json");
    let o = blockspin(&[
        "rg",
        "--lattice",
        "chain",
        "--size",
        "14",
        "--coupling",
        "0.8",
        "--rule",
        "stochastic",
        "--optimize-lambda",
        "--buffer",
        "2",
        "--order",
        "1",
        "--quiet",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let opt = &v["optimal_lambda"];
    assert_eq!(opt["on_edge"], true, "{opt}");
    assert_eq!(opt["lambda"].as_array().unwrap().len(), 2);
    let rules = v["rules"].as_array().unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(names, ["stochastic", "decimation", "majority"]);
    for r in rules {
        assert!(r["mutual_information"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["couplings"]["nn"]["mean"].is_f64(), "{r}");
    }
    // the report's own rule and information are those at λ*
    assert_eq!(v["parameters"]["lambda"], opt["lambda"]);
    assert_eq!(v["mutual_information"]["mean"], opt["mutual_information"]);
    let o = blockspin(&["rg", "--coupling", "0.5", "--optimize-lambda"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--optimize-lambda"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--mcrg-size`: the MCRG column (level-1 Callen couplings of the same K, h, block and rule
/// on a larger ring) agrees with the exact decimation of the chain (physics.md §5a: K′ and
/// h′ at K = 0.5, h = 0.3), and couplings outside the renormalized Hamiltonian vanish.
#[test]
fn mcrg_column_matches_exact_chain_decimation() {
    let dir = common::temp_dir("mcrg-column");
    let out = dir.join("rg.json");
    let o = blockspin(&[
        "rg",
        "--lattice",
        "chain",
        "--coupling",
        "0.5",
        "--field",
        "0.3",
        "--rule",
        "decimation",
        "--order",
        "1",
        "--mcrg-size",
        "128",
        "--mcrg-sweeps",
        "500",
        "--mcrg-thermalize",
        "100",
        "--backend",
        "cpu",
        "--quiet",
        "--output",
        common::s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("MCRG L=128") && table.contains("Callen couplings"),
        "{table}"
    );
    let v = common::read_json(&out);
    let m = &v["mcrg"];
    assert_eq!(m["size"], 128);
    assert_eq!(m["level"], 1);
    assert_eq!(m["coarse_size"], 64);
    assert_eq!(m["algorithm"], "swendsen-wang");
    assert_eq!(m["chains"], 16);
    assert_eq!(m["thermalize"], 100);
    assert_eq!(m["sweeps"], 500);
    assert_eq!(m["configurations"], 16 * 500);
    assert_eq!(m["seed"], v["parameters"]["seed"]);
    assert!(m["jackknife_blocks"].as_u64().unwrap() >= 2);
    assert_eq!(m["backend"]["kind"], "cpu");
    let basis: Vec<&str> = m["basis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert_eq!(basis, ["field", "nn", "nnn", "3rd", "four"]);
    // every reported coupling but the constant, exact reference beside it
    let exact = &v["exact"]["couplings"];
    let (k, h) = (0.5f64, 0.3f64);
    let nn = 0.25 * ((2.0 * k + h).cosh() * (2.0 * k - h).cosh() / h.cosh().powi(2)).ln();
    let field = h + 0.5 * ((2.0 * k + h).cosh() / (2.0 * k - h).cosh()).ln();
    assert!(
        (exact["nn"].as_f64().unwrap() - nn).abs() < 1e-12,
        "{exact}"
    );
    assert!((exact["field"].as_f64().unwrap() - field).abs() < 1e-12);
    for name in basis {
        let want = exact[name].as_f64().unwrap();
        let (mean, error) = (
            m["couplings"][name]["mean"].as_f64().unwrap(),
            m["couplings"][name]["error"].as_f64().unwrap(),
        );
        assert!(error > 0.0 && error < 0.01, "{name}: {mean} ± {error}");
        let z = (mean - want) / error;
        assert!(
            z.abs() < 5.0,
            "{name}: {mean} ± {error} vs exact {want} (z = {z})"
        );
    }
    assert!(m["couplings"].get("constant").is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A bad `--mcrg-size` (or companion) exits 2 with one line naming it, before anything runs
/// and without an output file.
#[test]
fn bad_mcrg_size_exits_2_naming_it() {
    let dir = common::temp_dir("mcrg-bad");
    let out = dir.join("rg.json");
    for (args, needle) in [
        (vec!["--mcrg-size", "255"], "--mcrg-size"),
        (vec!["--mcrg-size", "0"], "--mcrg-size"),
        (vec!["--mcrg-size", "-4"], "--mcrg-size"),
        (vec!["--mcrg-size", "12"], "--mcrg-size"),
        (
            vec!["--lattice", "square", "--mcrg-size", "8"],
            "--mcrg-size",
        ),
        (
            vec!["--lattice", "triangular", "--mcrg-size", "24"],
            "--mcrg-size",
        ),
        (
            vec!["--lattice", "square", "--mcrg-size", "4000000"],
            "--mcrg-size",
        ),
        (
            vec!["--mcrg-size", "64", "--mcrg-sweeps", "0"],
            "--mcrg-sweeps",
        ),
        (vec!["--mcrg-sweeps", "10"], "--mcrg-size"),
        (vec!["--fixed-point", "--mcrg-size", "64"], "--mcrg-size"),
    ] {
        let mut a = vec![
            "rg",
            "--coupling",
            "0.3",
            "--order",
            "1",
            "--backend",
            "cpu",
            "--quiet",
            "--output",
            common::s(&out),
        ];
        if args.contains(&"--fixed-point") {
            a.drain(1..3);
        }
        a.extend(args.iter());
        let o = blockspin(&a);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
        assert!(!out.exists(), "{args:?} left an output file");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
