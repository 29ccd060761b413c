//! `blockspin rg` against hostile input (issue 24): values out of range are refused with
//! exit 2 naming the flag at fault, long work stops within a second of a signal with no
//! output, and large couplings give finite exact references.

mod common;

use common::{interrupted, read_json, refused, s, temp_dir, within};
use std::time::Duration;

/// `rg` with the CPU backend and no notices, plus `extra`.
fn rg<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["rg", "--backend", "cpu", "--quiet"];
    a.extend_from_slice(extra);
    a
}

#[test]
fn out_of_range_values_are_refused_naming_the_flag() {
    let dir = temp_dir("refused");
    let cases: &[(&[&str], &str)] = &[
        (&["--coupling", "1e308"], "--coupling"),
        (&["--coupling", "NaN"], "--coupling"),
        (&["--coupling", "-1000.5"], "--coupling"),
        (&["--coupling", "0.4", "--field", "1e308"], "--field"),
        (&["--coupling", "0.4", "--field", "NaN"], "--field"),
        (&["--coupling", "0.4", "--field=-inf"], "--field"),
        (
            &[
                "--coupling",
                "0.4",
                "--rule",
                "stochastic",
                "--lambda",
                "NaN",
            ],
            "--lambda",
        ),
        (
            &[
                "--coupling",
                "0.4",
                "--rule",
                "stochastic",
                "--lambda",
                "1,1e308",
            ],
            "--lambda",
        ),
        (
            &[
                "--coupling",
                "0.4",
                "--rule",
                "stochastic",
                "--lambda",
                "1e4",
            ],
            "--lambda",
        ),
        (
            &[
                "--coupling",
                "0.4",
                "--rule",
                "stochastic",
                "--optimize-lambda",
                "--lambda-max",
                "1e308",
            ],
            "--lambda-max",
        ),
        (
            &[
                "--coupling",
                "0.4",
                "--rule",
                "stochastic",
                "--optimize-lambda",
                "--lambda-max",
                "1e4",
            ],
            "--lambda-max",
        ),
        (
            &[
                "--coupling",
                "0.4",
                "--rule",
                "stochastic",
                "--optimize-lambda",
                "--lambda-max",
                "NaN",
            ],
            "--lambda-max",
        ),
        // memory: 10^12 configurations of 32 blocks, 4·10^9 samples per configuration
        (
            &[
                "--coupling",
                "0.4",
                "--size",
                "64",
                "--configurations",
                "999999999999",
            ],
            "--configurations",
        ),
        (
            &[
                "--coupling",
                "0.4",
                "--size",
                "64",
                "--samples",
                "4000000000",
            ],
            "--samples",
        ),
        (&["--coupling", "0.4", "--block", "4000000000"], "--block"),
        // too many coarse sites to classify their couplings
        (&["--coupling", "0.4", "--size", "1000000"], "--size"),
    ];
    for (args, flag) in cases {
        let line = refused(&rg(args), &dir, flag);
        println!("{line}");
    }
    // the memory refusal states the estimate and the limit
    let line = refused(
        &rg(&[
            "--coupling",
            "0.4",
            "--size",
            "64",
            "--configurations",
            "999999999999",
        ]),
        &dir,
        "--configurations",
    );
    assert!(line.contains("GiB") && line.contains("available"), "{line}");
}

#[test]
fn a_count_beyond_the_distinct_configurations_uses_all_of_them() {
    let dir = temp_dir("clamped");
    let out = dir.join("rg.json");
    let (o, in_time) = within(
        &[
            "rg",
            "--backend",
            "cpu",
            "--coupling",
            "0.4",
            "--order",
            "1",
            "--configurations",
            "999999999999",
            "--output",
            s(&out),
        ],
        &dir,
        Duration::from_secs(20),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(in_time && o.status.success(), "{err}");
    assert!(err.contains("256 distinct coarse configurations"), "{err}");
    let v = read_json(&out);
    assert_eq!(v["configurations_used"], 256);
    assert_eq!(v["parameters"]["configurations"], "all");
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("distinct coarse configurations")),
        "{warnings:?}"
    );
    assert!(v.get("non_finite").is_none());
}

#[test]
fn coupling_400_on_the_chain_gives_a_finite_exact_k_prime() {
    let dir = temp_dir("k400");
    // 32 blocks: the closed form ½ ln cosh 2K; 8 blocks: enumeration (log-sum-exp)
    for size in ["64", "16"] {
        let out = dir.join(format!("rg{size}.json"));
        let (o, in_time) = within(
            &rg(&[
                "--coupling",
                "400",
                "--size",
                size,
                "--order",
                "1",
                "--output",
                s(&out),
            ]),
            &dir,
            Duration::from_secs(30),
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(in_time && o.status.success(), "size {size}: {err}");
        let v = read_json(&out);
        let nn = v["exact"]["couplings"]["nn"].as_f64().unwrap();
        // ½ ln cosh 800 = 400 − ½ ln 2 to double precision
        let want = 400.0 - 0.5 * std::f64::consts::LN_2;
        assert!((nn - want).abs() < 1e-9, "size {size}: K' = {nn}");
        assert!(v.get("non_finite").is_none(), "size {size}");
        let table = String::from_utf8_lossy(&o.stdout);
        assert!(
            !table.contains("NaN") && !table.contains("inf"),
            "size {size}: {table}"
        );
    }
}

#[test]
fn large_field_and_weights_inside_the_range_stay_finite() {
    let dir = temp_dir("finite");
    let out = dir.join("rg.json");
    let (o, in_time) = within(
        &rg(&[
            "--coupling",
            "-1000",
            "--field",
            "1000",
            "--rule",
            "stochastic",
            "--lambda",
            "1000,-1000",
            "--order",
            "1",
            "--mutual-information",
            "--output",
            s(&out),
        ]),
        &dir,
        Duration::from_secs(30),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(in_time && o.status.success(), "{err}");
    let v = read_json(&out);
    assert!(v.get("non_finite").is_none(), "{v}");
    assert!(v["mutual_information"]["mean"].is_f64());
}

#[test]
fn frustrated_mutual_information_does_not_underflow_to_zero() {
    // K = −1000, h = 1000 on the ring: the two Néel states win, the decimated spin fixes
    // the environment, I = ln 2 (the old upper-bound shift underflowed every weight and
    // printed 0)
    let dir = temp_dir("neel");
    let out = dir.join("rg.json");
    let (o, in_time) = within(
        &rg(&[
            "--coupling",
            "-1000",
            "--field",
            "1000",
            "--order",
            "1",
            "--mutual-information",
            "--output",
            s(&out),
        ]),
        &dir,
        Duration::from_secs(30),
    );
    assert!(
        in_time && o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let i = read_json(&out)["mutual_information"]["mean"]
        .as_f64()
        .unwrap();
    assert!((i - std::f64::consts::LN_2).abs() < 1e-9, "{i}");
}

/// Starts `args` (which write `--output` into a fresh directory), sends SIGINT after
/// `after` and asserts exit 130 within a second, by the work's own check (the error path,
/// not the watchdog), with no file left.
fn stops_on_sigint(name: &str, args: &[&str], after: Duration) {
    let dir = temp_dir(name);
    let mut a = rg(args);
    a.extend_from_slice(&["--output", "rg.json"]);
    let st = interrupted(&a, &dir, after, "INT");
    println!("{name}: exit {:?} after {:?}", st.code, st.took);
    assert_eq!(st.code, Some(130), "{name}: {}", st.stderr);
    assert!(
        st.took < Duration::from_millis(900),
        "{name}: {:?}",
        st.took
    );
    assert!(st.stderr.contains("interrupted"), "{name}: {}", st.stderr);
    assert!(
        !st.stderr.contains("stopped by signal"),
        "{name}: {}",
        st.stderr
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "{name}: {left:?}");
}

#[test]
fn long_work_stops_within_a_second_of_sigint() {
    let after = Duration::from_millis(1500);
    // many random configurations (sampling)
    stops_on_sigint(
        "configurations",
        &[
            "--coupling",
            "0.4",
            "--size",
            "64",
            "--configurations",
            "200000",
        ],
        after,
    );
    // a long flow
    stops_on_sigint(
        "flow",
        &[
            "--coupling",
            "0.4",
            "--samples",
            "128",
            "--steps",
            "1000000",
        ],
        after,
    );
    // the MI optimisation over a wide box
    stops_on_sigint(
        "optimize",
        &[
            "--coupling",
            "0.4",
            "--rule",
            "stochastic",
            "--optimize-lambda",
            "--lambda-max",
            "900",
            "--order",
            "1",
        ],
        after,
    );
    // classifying the couplings of 64,827 coarse sites by distance (the triangular lattice;
    // the chain's and the square lattice's classes are enumerated from the MCRG operators,
    // which takes a second at 2^16 blocks)
    stops_on_sigint(
        "coarse-pairs",
        &[
            "--lattice",
            "triangular",
            "--coupling",
            "0.2",
            "--size",
            "441",
            "--order",
            "1",
        ],
        after,
    );
    // the MCRG column's sampling
    stops_on_sigint(
        "mcrg-column",
        &[
            "--lattice",
            "square",
            "--coupling",
            "0.44",
            "--order",
            "1",
            "--mcrg-size",
            "256",
            "--mcrg-sweeps",
            "1000000",
        ],
        after,
    );
    // the fixed-point search
    stops_on_sigint(
        "fixed-point",
        &[
            "--lattice",
            "triangular",
            "--rule",
            "majority",
            "--fixed-point",
            "--size",
            "12",
        ],
        after,
    );
}

#[test]
fn sigterm_stops_with_143() {
    let dir = temp_dir("term");
    let st = interrupted(
        &rg(&[
            "--coupling",
            "0.4",
            "--size",
            "64",
            "--configurations",
            "200000",
            "--output",
            "rg.json",
        ]),
        &dir,
        Duration::from_millis(1500),
        "TERM",
    );
    assert_eq!(st.code, Some(143), "{}", st.stderr);
    assert!(st.took < Duration::from_millis(900), "{:?}", st.took);
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
}
