//! `blockspin mcrg` from the command line: the in-run analysis equals the analysis of the
//! same configurations saved by `sample --save-state` and brought back with `--input`; the
//! report's keys; bad input files and flags exit 2 naming the problem; Ctrl-C stops it.

mod common;

use common::{blockspin, read_json, refused, s, temp_dir};
use std::time::Duration;

#[test]
fn input_of_saved_states_reproduces_the_in_run_analysis() {
    let d = temp_dir("input");
    let (state, inrun, fromfile) = (d.join("s.npy"), d.join("a.json"), d.join("b.json"));
    let png = d.join("m.png");
    // 128 chains, each measured once after 50 sweeps: the configurations sample saves
    let sampling = [
        "--lattice",
        "square",
        "--size",
        "16",
        "--beta",
        "0.3",
        "--field",
        "0.05",
        "--chains",
        "128",
        "--thermalize",
        "50",
        "--sweeps",
        "1",
        "--seed",
        "7",
        "--backend",
        "cpu",
        "--kernel",
        "reference",
        "--quiet",
    ];
    let mut a = vec!["sample"];
    a.extend(sampling);
    a.extend(["--save-state", s(&state)]);
    let o = blockspin(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut a = vec!["mcrg"];
    a.extend(sampling);
    a.extend(["--levels", "2", "--output", s(&inrun)]);
    let o = blockspin(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = blockspin(&[
        "mcrg",
        "--input",
        s(&state),
        "--levels",
        "2",
        "--seed",
        "7",
        "--quiet",
        "--output",
        s(&fromfile),
        "--plot",
        s(&png),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (x, y) = (read_json(&inrun), read_json(&fromfile));
    assert_eq!(x["schema"], "blockspin/mcrg/1");
    assert_eq!(x["parameters"]["configurations"], 128);
    assert_eq!(
        x["levels"], y["levels"],
        "the same configurations, other numbers"
    );
    assert_eq!(x["operators"], y["operators"]);
    assert!(
        x["parameters"]["sampling"]["K"].is_number() && y["parameters"].get("sampling").is_none()
    );
    // the report's shape: level 0 carries couplings only, later levels exponents per sector
    let levels = x["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 3);
    assert!(levels[0].get("exponents").is_none());
    let nn = &levels[0]["couplings"]["nn"];
    assert!(nn["mean"].is_number() && nn["error"].as_f64().unwrap() > 0.0);
    for sector in ["even", "odd"] {
        let e = &levels[1]["exponents"][sector][0];
        assert_eq!(e["operators"], 1);
        assert!(e["eigenvalues"].is_array() && e["y"].is_number(), "{e}");
    }
    assert_eq!(x["reference"]["y_H"], 1.875);
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::remove_dir_all(&d).unwrap();
}

/// An NPY file of int8 `values` with `shape`.
fn npy(path: &std::path::Path, shape: &[usize], values: &[i8]) {
    let mut buf = Vec::new();
    blockspin::io::write_npy_i8(&mut buf, shape, values).unwrap();
    std::fs::write(path, buf).unwrap();
}

#[test]
fn bad_inputs_and_flags_exit_2_naming_the_problem() {
    let d = temp_dir("bad");
    // independent fair coins (K = 0): a file Callen's identity can fit
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let good: Vec<i8> = (0..1024 * 16)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state >> 63 == 1 { 1 } else { -1 }
        })
        .collect();
    npy(&d.join("chain.npy"), &[1024, 16], &good);
    let mut two = good.clone();
    two[5] = 2;
    npy(&d.join("two.npy"), &[1024, 16], &two);
    let mut mixed = good.clone();
    mixed[6] = 0;
    npy(&d.join("mixed.npy"), &[1024, 16], &mixed);
    npy(&d.join("ragged.npy"), &[8, 8, 4], &good[..256]);
    npy(&d.join("flat.npy"), &[512], &good[..512]);
    std::fs::write(
        d.join("short.npy"),
        &std::fs::read(d.join("chain.npy")).unwrap()[..200],
    )
    .unwrap();
    for (file, says) in [
        ("two.npy", "value 2"),
        ("mixed.npy", "-1, 0 and 1"),
        ("ragged.npy", "must be equal"),
        ("flat.npy", "1 axes"),
        ("short.npy", "needs 16384 values"),
        ("/dev/zero", "bad magic"),
        ("missing.npy", "cannot read"),
    ] {
        let line = refused(&["mcrg", "--input", file], &d, "--input");
        assert!(line.contains(says), "{file}: {line}");
    }
    refused(
        &["mcrg", "--input", "chain.npy", "--lattice", "square"],
        &d,
        "--lattice",
    );
    refused(
        &["mcrg", "--input", "chain.npy", "--beta", "0.3"],
        &d,
        "--beta",
    );
    refused(
        &["mcrg", "--input", "chain.npy", "--output", "chain.npy"],
        &d,
        "--output",
    );
    refused(
        &["mcrg", "--input", "chain.npy", "--levels", "4"],
        &d,
        "--levels",
    );
    refused(
        &["mcrg", "--input", "chain.npy", "--block", "3"],
        &d,
        "--block",
    );
    refused(
        &["mcrg", "--input", "chain.npy", "--basis", "nn,plaquette"],
        &d,
        "--basis",
    );
    refused(
        &["mcrg", "--input", "chain.npy", "--odd-operators", "0"],
        &d,
        "--odd-operators",
    );
    refused(
        &["mcrg", "--input", "chain.npy", "--lambda", "1"],
        &d,
        "--lambda",
    );
    refused(
        &["mcrg", "--beta", "0.3", "--thermalize", "auto"],
        &d,
        "--thermalize",
    );
    refused(
        &[
            "mcrg",
            "--beta",
            "0.3",
            "--sweeps",
            "3",
            "--measure-every",
            "5",
        ],
        &d,
        "--sweeps",
    );
    // a good file runs
    let o = blockspin(&["mcrg", "--input", s(&d.join("chain.npy")), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn ctrl_c_stops_mcrg_within_a_second_with_no_output() {
    let d = temp_dir("ctrlc");
    let stopped = common::interrupted(
        &[
            "mcrg",
            "--size",
            "64",
            "--beta",
            "0.44",
            "--sweeps",
            "100000000",
            "--output",
            "m.json",
        ],
        &d,
        Duration::from_millis(800),
        "INT",
    );
    assert_eq!(stopped.code, Some(130), "{}", stopped.stderr);
    assert!(stopped.took < Duration::from_secs(1), "{:?}", stopped.took);
    assert!(stopped.stderr.contains("interrupted"), "{}", stopped.stderr);
    assert!(!d.join("m.json").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn an_interrupted_run_resumes_to_the_uninterrupted_report() {
    let d = temp_dir("resume");
    let (full, part, ck) = (d.join("full.json"), d.join("part.json"), d.join("run.ckpt"));
    let args = |beta: &str, out: &std::path::Path, extra: &[&str]| -> Vec<String> {
        [
            "mcrg",
            "--size",
            "64",
            "--beta",
            beta,
            "--chains",
            "2",
            "--thermalize",
            "100",
            "--sweeps",
            "40000",
            "--measure-every",
            "20",
            "--levels",
            "3",
            "--seed",
            "3",
            "--backend",
            "cpu",
            "--quiet",
            "--output",
            s(out),
        ]
        .iter()
        .chain(extra)
        .map(|a| a.to_string())
        .collect()
    };
    let call = |a: &[String]| blockspin(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let o = call(&args("0.44", &full, &[]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = args(
        "0.44",
        &part,
        &["--checkpoint", s(&ck), "--checkpoint-every", "0.2"],
    );
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let status = common::interrupt_after_checkpoint(&a, &ck, Duration::from_millis(100), "INT");
    assert_eq!(
        status.code(),
        Some(130),
        "the run finished before the signal"
    );
    assert!(ck.exists() && !part.exists());
    // a checkpoint of another run is refused
    let o = call(&args("0.45", &part, &["--resume", s(&ck)]));
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("resume"));
    // the same flags continue it to the uninterrupted report, byte for byte
    let o = call(&args("0.44", &part, &["--resume", s(&ck)]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&full).unwrap(), std::fs::read(&part).unwrap());
}
