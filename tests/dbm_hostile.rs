//! `blockspin dbm` against hostile input (issue 24): every out-of-range flag or file is
//! refused with exit 2 within seconds naming the parameter at fault, and long valid work
//! stops within a second of SIGINT with exit 130 and no output file.

mod common;

use common::{interrupted, refused, s, temp_dir};
use std::path::{Path, PathBuf};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_blockspin");

fn generate(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["dbm", "generate", "--output", s(&path)];
    args.extend_from_slice(extra);
    let out = std::process::Command::new(BIN)
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// A model file with `nv` visible, one hidden and one deep unit, all weights `w`, and the
/// first visible bias `bias`.
fn model_file(dir: &Path, name: &str, nv: usize, w: &str, bias: &str) -> PathBuf {
    let mut biases = vec!["0.0".to_string(); nv];
    biases[0] = bias.to_string();
    let rows = vec![format!("[{w}]"); nv].join(", ");
    let text = format!(
        "[visible]\nunits = \"bernoulli\"\nbias = [{}]\n[hidden]\nunits = \"gaussian\"\nmean = [0.0]\nstd = [1.0]\n[deep]\nunits = \"gaussian\"\nmean = [0.0]\nstd = [1.0]\n[weights]\nvisible_hidden = [{rows}]\nhidden_deep = [[0.1]]\n",
        biases.join(", ")
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn generate_flags_out_of_range_are_refused_naming_the_flag() {
    let d = temp_dir("generate");
    let out = d.join("m.toml");
    let o = s(&out);
    for (flag, value) in [
        ("--weight", "1e308"),
        ("--deep-weight", "-1e7"),
        ("--jitter", "1e308"),
        ("--jitter", "-1"),
        ("--visible-bias", "1e300"),
        ("--hidden-std", "1e-300"),
        ("--deep-std", "1e300"),
    ] {
        refused(&["dbm", "generate", "--output", o, flag, value], &d, flag);
    }
    for (flag, value) in [
        ("--visible", "65536"),
        ("--hidden", "16384"),
        ("--deep", "16384"),
    ] {
        refused(
            &["dbm", "generate", "--dense", "--output", o, flag, value],
            &d,
            flag,
        );
    }
    // the largest lattice before: 65,536 visible units
    refused(
        &["dbm", "generate", "--output", o, "--size", "256"],
        &d,
        "--size",
    );
    refused(
        &[
            "dbm", "generate", "--output", o, "--size", "64", "--stride", "2",
        ],
        &d,
        "--size",
    );
    assert!(!out.exists());
}

#[test]
fn models_beyond_the_limits_are_refused() {
    let d = temp_dir("models");
    let big = model_file(&d, "big.toml", 5000, "0.1", "0.0");
    let inf = model_file(&d, "inf.toml", 4, "0.1", "inf");
    let nan = model_file(&d, "nan.toml", 4, "nan", "0.0");
    let huge = model_file(&d, "huge.toml", 4, "1e300", "0.0");
    for m in [&big, &inf, &nan, &huge] {
        let line = refused(&["dbm", "analyze", "--model", s(m)], &d, "--model");
        assert!(!line.contains("memory allocation"), "{line}");
        refused(
            &[
                "dbm",
                "sample",
                "--model",
                s(m),
                "--backend",
                "cpu",
                "--chains",
                "4",
            ],
            &d,
            "--model",
        );
    }
    let line = refused(&["dbm", "analyze", "--model", "/dev/zero"], &d, "--model");
    assert!(line.contains("/dev/zero"), "{line}");
    refused(&["dbm", "validate", "--model", "/dev/zero"], &d, "--model");
}

#[test]
fn chains_beyond_memory_are_refused() {
    let d = temp_dir("chains");
    let m = generate(&d, "m.toml", &["--size", "8"]);
    let line = refused(
        &["dbm", "sample", "--model", s(&m), "--chains", "4294967295"],
        &d,
        "--chains",
    );
    assert!(line.contains("GiB"), "{line}");
    refused(
        &[
            "dbm",
            "validate",
            "--model",
            s(&m),
            "--chains",
            "4294967295",
        ],
        &d,
        "--chains",
    );
}

#[test]
fn an_output_naming_the_model_is_refused() {
    let d = temp_dir("same");
    let m = generate(&d, "m.toml", &["--size", "8"]);
    let before = std::fs::read(&m).unwrap();
    refused(
        &["dbm", "analyze", "--model", s(&m), "--output", s(&m)],
        &d,
        "--output",
    );
    // through another spelling of the same file
    let other = format!("{}/./m.toml", s(&d));
    refused(
        &["dbm", "analyze", "--model", s(&m), "--output", &other],
        &d,
        "--output",
    );
    refused(
        &[
            "dbm",
            "sample",
            "--model",
            s(&m),
            "--samples",
            s(&m),
            "--backend",
            "cpu",
        ],
        &d,
        "--samples",
    );
    refused(
        &[
            "dbm",
            "validate",
            "--model",
            s(&m),
            "--output",
            s(&m),
            "--backend",
            "cpu",
        ],
        &d,
        "--output",
    );
    assert_eq!(std::fs::read(&m).unwrap(), before);
}

fn assert_stops(args: &[&str], dir: &Path, after: Duration) {
    let before = files(dir);
    let st = interrupted(args, dir, after, "INT");
    assert_eq!(st.code, Some(130), "{args:?}: {}", st.stderr);
    assert!(
        st.took < Duration::from_secs(1),
        "{args:?} took {:?}",
        st.took
    );
    assert_eq!(files(dir), before, "{args:?} left a file");
}

#[test]
fn long_sampling_stops_within_a_second_of_sigint() {
    let d = temp_dir("stop-sample");
    let m = generate(&d, "m.toml", &["--size", "16"]);
    let long = [
        "--backend",
        "cpu",
        "--chains",
        "64",
        "--sweeps",
        "100000000",
    ];
    let mut args = vec!["dbm", "sample", "--model", s(&m), "--output", "out.json"];
    args.extend_from_slice(&long);
    assert_stops(&args, &d, Duration::from_millis(1500));
    let mut args = vec!["dbm", "validate", "--model", s(&m), "--output", "out.json"];
    args.extend_from_slice(&long);
    assert_stops(&args, &d, Duration::from_millis(1500));
}

#[test]
fn long_analysis_stops_within_a_second_of_sigint() {
    let d = temp_dir("stop-analyze");
    // 4096 visible units in 256 components of 16 (enumerated: tens of seconds)
    let m = generate(
        &d,
        "m.toml",
        &[
            "--size",
            "64",
            "--stride",
            "4",
            "--block",
            "4",
            "--deep-block",
            "1",
        ],
    );
    for after in [500, 2500] {
        assert_stops(
            &["dbm", "analyze", "--model", s(&m), "--output", "out.json"],
            &d,
            Duration::from_millis(after),
        );
    }
}

#[test]
fn non_finite_results_are_listed() {
    use blockspin::dbm::model::{Dbm, EXAMPLE};
    use blockspin::dbm::report;
    let m = Dbm::from_toml(EXAMPLE).unwrap();
    let mut r = report::analyze(&m, 4).unwrap();
    assert!(r.non_finite.is_empty(), "{:?}", r.non_finite);
    r.constant = Some(f64::NAN);
    if let Some(j) = r.visible_coupling.as_mut() {
        j[0][1] = f64::INFINITY;
    }
    assert_eq!(
        report::non_finite(&r),
        vec!["visible_coupling".to_string(), "constant".to_string()]
    );
}
