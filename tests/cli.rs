//! `blockspin` end to end: results files and bad input.

mod common;

use common::{blockspin, read_json, s, temp_dir};

use std::process::Output;

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sample_writes_results_series_and_state() {
    let dir = temp_dir("files");
    let (json, csv, npy) = (dir.join("r.json"), dir.join("s.csv"), dir.join("f.npy"));
    let out = blockspin(&[
        "sample",
        "--lattice",
        "square",
        "--size",
        "8",
        "--temperature",
        "2.5",
        "--units",
        "bernoulli",
        "--coupling",
        "-1",
        "--field",
        "0.5",
        "--thermalize",
        "50",
        "--sweeps",
        "200",
        "--measure-every",
        "2",
        "--chains",
        "3",
        "--seed",
        "42",
        "--backend",
        "cpu",
        "--quiet",
        "--output",
        s(&json),
        "--series",
        s(&csv),
        "--save-state",
        s(&npy),
    ]);
    assert_success(&out);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("energy_per_site") && table.contains("binder_cumulant"),
        "{table}"
    );

    let v = read_json(&json);
    assert_eq!(v["schema"], "blockspin/sample/1");
    let p = &v["parameters"];
    assert_eq!(p["lattice"], "square");
    assert_eq!(p["size"], 8);
    assert_eq!(p["units"], "bernoulli");
    assert_eq!(p["beta"], 0.4);
    assert_eq!(p["coupling"], -1.0);
    assert_eq!(p["seed"], 42);
    assert_eq!(p["algorithm"], "heat-bath");
    assert_eq!(p["start"], "hot");
    assert_eq!(v["backend"]["kind"], "cpu");
    for key in [
        "energy_per_site",
        "magnetization_per_site",
        "abs_magnetization_per_site",
        "specific_heat_per_site",
        "susceptibility_per_site",
        "binder_cumulant",
    ] {
        let o = &v["observables"][key];
        assert!(o["mean"].is_f64() && o["error"].is_f64(), "{key}: {o}");
        assert!(o.get("tau_int").is_some(), "{key}");
    }
    assert!(v["observables"]["energy_per_site"]["tau_int"].is_f64());
    assert!(v["observables"]["binder_cumulant"]["tau_int"].is_null());
    let density = v["observables"]["magnetization_per_site"]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        (0.0..=1.0).contains(&density),
        "bernoulli magnetization is a density"
    );
    assert!(
        v["exact"].is_null(),
        "no exact reference in a field off the symmetric point"
    );
    assert!(v["timing"]["wall_seconds"].as_f64().unwrap() > 0.0);
    assert!(v["timing"]["spin_updates_per_ns"].as_f64().unwrap() > 0.0);

    // series: header plus 100 measurements x 3 chains; its mean is the reported energy
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "measurement,sweep,chain,energy_per_site,magnetization_per_site"
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 300);
    assert_eq!(rows[0][1], 52.0);
    let mean_e: f64 = rows.iter().map(|r| r[3]).sum::<f64>() / 300.0;
    assert!(
        (mean_e
            - v["observables"]["energy_per_site"]["mean"]
                .as_f64()
                .unwrap())
        .abs()
            < 1e-12
    );

    // state: NPY int8 [3, 8, 8] holding 0/1
    let bytes = std::fs::read(&npy).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'descr': '|i1'") && header.contains("'shape': (3, 8, 8)"),
        "{header}"
    );
    let data = &bytes[10 + hlen..];
    assert_eq!(data.len(), 3 * 64);
    assert!(data.iter().all(|&b| b == 0 || b == 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn small_lattice_results_match_enumeration() {
    // 4x4 torus in a field: every observable has an exact value by enumeration in the file.
    let dir = temp_dir("exact");
    let json = dir.join("r.json");
    let out = blockspin(&[
        "sample",
        "--size",
        "4",
        "--beta",
        "0.35",
        "--field",
        "0.05",
        "--sweeps",
        "5000",
        "--thermalize",
        "200",
        "--chains",
        "32",
        "--seed",
        "9",
        "--backend",
        "cpu",
        "--quiet",
        "--output",
        s(&json),
    ]);
    assert_success(&out);
    let v = read_json(&json);
    assert!(
        v["exact"]["source"]
            .as_str()
            .unwrap()
            .contains("enumeration")
    );
    for (key, o) in v["observables"].as_object().unwrap() {
        let exact = v["exact"][key].as_f64().unwrap();
        let (mean, error) = (o["mean"].as_f64().unwrap(), o["error"].as_f64().unwrap());
        let z = (mean - exact) / error;
        assert!(z.abs() < 4.0, "{key}: {mean} ± {error} vs {exact}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spin_state_holds_plus_minus_one_and_gpu_matches_cpu() {
    let Some(_) = common::gpu() else { return };
    let dir = temp_dir("gpu");
    let run = |backend: &str| {
        let npy = dir.join(format!("{backend}.npy"));
        let json = dir.join(format!("{backend}.json"));
        let out = blockspin(&[
            "sample",
            "--lattice",
            "triangular",
            "--size",
            "6",
            "--beta",
            "0.3",
            "--algorithm",
            "metropolis",
            "--thermalize",
            "10",
            "--sweeps",
            "40",
            "--chains",
            "2",
            "--backend",
            backend,
            "--quiet",
            "--save-state",
            s(&npy),
            "--output",
            s(&json),
        ]);
        assert_success(&out);
        (std::fs::read(&npy).unwrap(), read_json(&json))
    };
    let (gpu_state, gpu_json) = run("gpu");
    let (cpu_state, cpu_json) = run("cpu");
    assert_eq!(gpu_state, cpu_state);
    assert_eq!(gpu_json["observables"], cpu_json["observables"]);
    assert_eq!(gpu_json["backend"]["kind"], "gpu");
    let hlen = u16::from_le_bytes([gpu_state[8], gpu_state[9]]) as usize;
    assert!(
        gpu_state[10 + hlen..]
            .iter()
            .all(|&b| b as i8 == 1 || b as i8 == -1)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// β|J| so small that it underflows to 0: no exact reference is evaluated (Kaufman needs
/// K > 0), and the run succeeds instead of panicking.
#[test]
fn underflowing_coupling_runs() {
    let dir = temp_dir("underflow");
    let json = dir.join("r.json");
    let o = blockspin(&[
        "sample",
        "--size",
        "8",
        "--beta",
        "1e-6",
        "--coupling",
        "1e-300",
        "--sweeps",
        "10",
        "--thermalize",
        "0",
        "--backend",
        "cpu",
        "--quiet",
        "--output",
        s(&json),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_exits_2_with_one_line_and_no_file() {
    let dir = temp_dir("bad");
    let json = dir.join("r.json");
    let base = [
        "sample",
        "--size",
        "8",
        "--sweeps",
        "10",
        "--thermalize",
        "0",
        "--backend",
        "cpu",
        "--quiet",
    ];
    let cases: &[(&[&str], &str)] = &[
        (&["--beta", "0.4", "--size", "5"], "--size"),
        (&["--beta", "0.4", "--size", "2"], "--size"),
        (
            &["--beta", "0.4", "--lattice", "triangular", "--size", "8"],
            "multiple of 3",
        ),
        (&["--temperature", "0"], "--temperature"),
        (&["--temperature", "-1"], "--temperature"),
        (&["--beta", "NaN"], "--beta"),
        (&["--beta", "inf"], "--beta"),
        (&["--beta", "0.4", "--coupling", "nan"], "--coupling"),
        (&["--beta", "0.4", "--chains", "0"], "--chains"),
        (
            &["--beta", "0.4", "--measure-every", "0"],
            "--measure-every",
        ),
        (&["--beta", "0.4", "--measure-every", "20"], "--sweeps"),
        (&["--beta", "0.4", "--temperature", "2"], "--beta"),
        (&["--beta", "0.4", "--lattice", "hexagonal"], "--lattice"),
        (&["--beta", "0.4", "--size", "-4"], "--size"),
        // L³ overflows 64 bits: refused, not wrapped to 0 sites
        (
            &["--beta", "0.4", "--lattice", "cubic", "--size", "4194304"],
            "--size",
        ),
        (
            &["--beta", "0.4", "--series", "/nonexistent-dir/x.csv"],
            "--series",
        ),
        (&[], "--beta"),
    ];
    for (extra, needle) in cases {
        let mut args: Vec<&str> = base.to_vec();
        // later flags override the base ones
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--output", s(&json)]);
        let out = blockspin(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!json.exists(), "{extra:?} left an output file");
        assert!(out.stdout.is_empty(), "{extra:?} printed results");
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{extra:?}: not one line: {err}"
        );
    }
    // the job file is no checkpoint or output, the checkpoint no output
    let job = dir.join("job.toml");
    std::fs::write(&job, "beta = 0.4\nsweeps = 10\nbackend = \"cpu\"\n").unwrap();
    let ck = dir.join("ck");
    for (extra, needle) in [
        (["--checkpoint", s(&job)], "--checkpoint"),
        (["--summary", s(&job)], "--summary"),
    ] {
        let mut args = vec!["sample", "--quiet", "--job", s(&job), "--output", s(&json)];
        args.extend_from_slice(&extra);
        let out = blockspin(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(needle) && err.contains("is the job file"),
            "{err}"
        );
    }
    let mut args: Vec<&str> = base.to_vec();
    args.extend_from_slice(&["--beta", "0.4", "--checkpoint", s(&ck), "--output", s(&ck)]);
    let out = blockspin(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--output") && err.contains("is the checkpoint file"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&job).unwrap(),
        "beta = 0.4\nsweeps = 10\nbackend = \"cpu\"\n"
    );
    // two outputs naming one file (also through a link) are refused before anything runs
    let link = dir.join("link.json");
    std::os::unix::fs::symlink("r.json", &link).unwrap();
    for series in [&json, &link] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(&["--beta", "0.4", "--output", s(&json), "--series", s(series)]);
        let out = blockspin(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("--series") && err.contains("also the output file"),
            "{err}"
        );
        assert!(!json.exists());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lattice_larger_than_the_device_names_the_limit() {
    let Some(ctx) = common::gpu() else { return };
    // the multi-spin coded layout keeps one binding (4 bytes per site and group of 32
    // chains): one group more than it holds (the reference kernels would switch to the
    // row-packed layout instead, see tests/large.rs)
    let max = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    let sites_per_chain = 64u64 * 64;
    let chains = 32 * (max / 4 / sites_per_chain + 1);
    if chains * sites_per_chain > blockspin::backend::MAX_TOTAL_SITES {
        eprintln!("skipping: bindings of {max} bytes hold more than 2^36 sites");
        return;
    }
    let chains = chains.to_string();
    let out = blockspin(&[
        "sample",
        "--size",
        "64",
        "--beta",
        "0.4",
        "--chains",
        &chains,
        "--sweeps",
        "10",
        "--backend",
        "gpu-fast",
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bytes"), "{err}");
    assert!(
        err.contains("max_storage_buffer_binding_size") || err.contains("max_buffer_size"),
        "{err}"
    );
}

#[test]
fn info_lists_adapters_as_json() {
    let out = blockspin(&["info", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["adapters"].is_array());
    assert!(v["cpu"]["threads"].as_u64().unwrap() >= 1);
    // auto never runs on a software adapter
    let software_only = v["adapters"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["device_type"] == "cpu");
    if software_only {
        assert_eq!(v["auto"]["device"], "cpu", "{v}");
    }
    assert!(v["auto"]["reason"].is_string());
    if common::gpu().is_some() {
        let a = &v["adapters"][0];
        assert!(a["name"].is_string() && a["api"].is_string() && a["device_type"].is_string());
        assert!(
            a["limits"]["max_storage_buffer_binding_size"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
}
