//! `blockspin bench` against hostile input (issue 24): every setting is checked before the
//! first timing (exit 2 naming the flag), and timing stops within a second of SIGINT with
//! exit 130 and no output file.

mod common;

use common::{interrupted, refused, temp_dir, within};
use std::time::Duration;

#[test]
fn out_of_range_settings_are_refused_before_timing() {
    let d = temp_dir("refused");
    for (flag, value) in [
        ("--chains", "100000000"),
        ("--min-seconds", "1e308"),
        ("--race-seconds", "1e308"),
        ("--max-seconds", "1e308"),
        ("--repeats", "4294967295"),
        ("--repeats", "0"),
        ("--sizes", "0"),
        ("--estimator-size", "3"),
        ("--race-sizes", "3"),
        ("--measure-every", "4294967295"),
        ("--target-error", "1e308"),
    ] {
        refused(&["bench", flag, value, "--output", "o.json"], &d, flag);
    }
    refused(
        &[
            "bench",
            "--race-chains",
            "100000000",
            "--race-sizes",
            "1024",
        ],
        &d,
        "--race-chains",
    );
    // nothing was timed: no notice of a timing on stderr
    let (out, _) = within(
        &["bench", "--chains", "100000000"],
        &d,
        Duration::from_secs(10),
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("timing"));
    assert!(!d.join("o.json").exists());
}

fn stops(args: &[&str], after: Duration) {
    let d = temp_dir("stop");
    let st = interrupted(args, &d, after, "INT");
    assert_eq!(st.code, Some(130), "{args:?}: {}", st.stderr);
    assert!(
        st.took < Duration::from_secs(1),
        "{args:?} took {:?}",
        st.took
    );
    assert!(!d.join("o.json").exists());
}

#[test]
fn timing_and_races_stop_within_a_second_of_sigint() {
    let quick = [
        "--backends",
        "cpu",
        "--chains",
        "1",
        "--estimator-size",
        "0",
    ];
    let mut timing = vec![
        "bench",
        "--sizes",
        "64",
        "--repeats",
        "100",
        "--min-seconds",
        "60",
    ];
    timing.extend_from_slice(&quick);
    timing.extend_from_slice(&["--race-sizes", "0", "--output", "o.json"]);
    stops(&timing, Duration::from_millis(1500));
    let mut race = vec![
        "bench",
        "--sizes",
        "16",
        "--repeats",
        "1",
        "--min-seconds",
        "0",
    ];
    race.extend_from_slice(&quick);
    race.extend_from_slice(&[
        "--race-sizes",
        "32",
        "--race-seconds",
        "600",
        "--race-algorithms",
        "heat-bath",
        "--output",
        "o.json",
    ]);
    stops(&race, Duration::from_millis(2000));
}
