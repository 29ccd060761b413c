//! Outputs go where the user points, inputs cannot lie or flood, runs stop on a signal
//! (issue 24), for `sample`, `merge` and `plot`: devices, FIFOs, links, read-only places,
//! duplicate outputs, outputs naming inputs, standard output, non-UTF-8 paths, stale and
//! planted temporary files, /dev/zero as every input, forged checkpoints, SIGKILL at
//! arbitrary moments, Ctrl-C, parameters out of range and estimates that are not numbers.

mod common;

use blockspin::job::checkpoint::Checkpoint;
use common::{blockspin, read_json, refused, s, temp_dir};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const RUN: [&str; 8] = [
    "sample", "--size", "8", "--beta", "0.4", "--sweeps", "200", "--quiet",
];

fn run_to(out: &Path) -> std::process::Output {
    let mut args = RUN.to_vec();
    args.extend(["--output", s(out)]);
    blockspin(&args)
}

/// Names in `d` other than `keep`.
fn others(d: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

fn is_char_device(p: &Path) -> bool {
    std::os::unix::fs::FileTypeExt::is_char_device(
        &std::fs::symlink_metadata(p).unwrap().file_type(),
    )
}

#[test]
fn devices_fifos_links_and_unwritable_places() {
    let d = temp_dir("devices");
    // private null (1, 3) and full (1, 7) devices: mknod needs root
    let node = |name: &str, minor: &str| {
        let p = d.join(name);
        Command::new("mknod")
            .args([s(&p), "c", "1", minor])
            .status()
            .is_ok_and(|st| st.success())
            .then_some(p)
    };
    match (node("null", "3"), node("full", "7")) {
        (Some(null), Some(full)) => {
            let out = run_to(&null);
            assert!(out.status.success(), "{out:?}");
            assert!(is_char_device(&null), "the null device was replaced");
            let out = run_to(&full);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(
                err.contains("full") && err.contains("No space left"),
                "{err}"
            );
            assert!(is_char_device(&full), "the full device was replaced");
        }
        _ => eprintln!("skipping the device part: mknod needs root"),
    }
    // a FIFO with a reader gets the whole results file and stays a FIFO
    let fifo = d.join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let out = run_to(&fifo);
    assert!(out.status.success(), "{out:?}");
    let text = reader.join().unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], "blockspin/sample/1");
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &std::fs::symlink_metadata(&fifo).unwrap().file_type()
    ));
    // a link is followed: its target replaced, the link kept
    std::fs::write(d.join("target.json"), "old").unwrap();
    std::os::unix::fs::symlink("target.json", d.join("link.json")).unwrap();
    assert!(run_to(&d.join("link.json")).status.success());
    assert!(
        std::fs::symlink_metadata(d.join("link.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        read_json(&d.join("target.json"))["schema"],
        "blockspin/sample/1"
    );
    // a place that cannot be written (/proc takes no new files, even for root): exit 1
    // naming the file, after the run
    let out = run_to(Path::new("/proc/blockspin-test.json"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/proc/blockspin-test.json"), "{err}");
    assert!(!Path::new("/proc/blockspin-test.json").exists());
    let mut keep = vec!["pipe", "target.json", "link.json"];
    if d.join("null").exists() {
        keep.extend(["null", "full"]);
    }
    assert_eq!(
        others(&d, &keep),
        Vec::<String>::new(),
        "a temporary file was left"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn outputs_naming_each_other_or_an_input_are_refused_before_the_run() {
    let d = temp_dir("names");
    let (r, ck, job) = (d.join("r.json"), d.join("ck.bin"), d.join("job.toml"));
    std::fs::write(&job, "size = 8\ntemperature = [2.0, 2.5]\nsweeps = 100\n").unwrap();
    let mut args = RUN.to_vec();
    args.extend(["--output", s(&r), "--series", s(&r)]);
    refused(&args, &d, "--series");
    let job_args = |extra: &[&str]| {
        let mut a = vec!["sample", "--job", s(&job), "--quiet"];
        a.extend_from_slice(extra);
        a.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let refuse = |extra: &[&str], flag: &str| {
        let a = job_args(extra);
        refused(&a.iter().map(String::as_str).collect::<Vec<_>>(), &d, flag)
    };
    refuse(&["--output", s(&job)], "--output");
    refuse(
        &["--output", s(&r), "--checkpoint", s(&job)],
        "--checkpoint",
    );
    refuse(&["--output", s(&ck), "--checkpoint", s(&ck)], "--output");
    refuse(&["--output", s(&r), "--checkpoint", "-"], "--checkpoint");
    refuse(
        &["--output", s(&r), "--save-state", "s.npy"],
        "--save-state",
    );
    assert_eq!(std::fs::read_to_string(&job).unwrap().lines().count(), 3);
    // plot and merge never overwrite what they read
    assert!(run_to(&r).status.success());
    let before = std::fs::read(&r).unwrap();
    refused(&["plot", s(&r), "-o", s(&r)], &d, "--output");
    std::fs::write(d.join("s0.json"), &before).unwrap();
    refused(
        &["merge", s(&d.join("s0.json")), s(&r), "--output", s(&r)],
        &d,
        "--output",
    );
    refused(
        &[
            "merge",
            s(&r),
            "--output",
            s(&d.join("m.json")),
            "--summary",
            s(&d.join("m.json")),
        ],
        &d,
        "--summary",
    );
    assert_eq!(std::fs::read(&r).unwrap(), before);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn dash_is_standard_output_and_the_report_moves_to_stderr() {
    let d = temp_dir("stdout");
    let mut args = RUN.to_vec();
    args.extend(["--output", "-", "--seed", "3"]);
    let out = blockspin(&args);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "blockspin/sample/1");
    assert!(String::from_utf8_lossy(&out.stderr).contains("energy_per_site"));
    // the same numbers as a file
    let f = d.join("r.json");
    let mut args = RUN.to_vec();
    args.extend(["--output", s(&f), "--seed", "3"]);
    assert!(blockspin(&args).status.success());
    let strip = |mut v: serde_json::Value| {
        let o = v.as_object_mut().unwrap();
        o.remove("provenance");
        o.remove("timing");
        v
    };
    assert_eq!(strip(v), strip(read_json(&f)));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn dev_stdout_is_standard_output_and_a_replaced_file_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let d = temp_dir("devstdout");
    let mut args = RUN.to_vec();
    args.extend(["--output", "/dev/stdout"]);
    let out = blockspin(&args);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "blockspin/sample/1");
    // a private results file stays private when it is replaced
    let r = d.join("r.json");
    std::fs::write(&r, "old").unwrap();
    std::fs::set_permissions(&r, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(run_to(&r).status.success());
    let mode = std::fs::metadata(&r).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn non_utf8_paths_work() {
    use std::os::unix::ffi::OsStrExt;
    let d = temp_dir("utf8");
    let name = std::ffi::OsStr::from_bytes(b"\xff\xfe.json");
    let out = Command::new(env!("CARGO_BIN_EXE_blockspin"))
        .args(RUN)
        .arg("--output")
        .arg(name)
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join(name)).unwrap()).unwrap();
    assert_eq!(v["schema"], "blockspin/sample/1");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn stale_temporary_files_are_removed_and_planted_links_never_followed() {
    let d = temp_dir("stale");
    let r = d.join("r.json");
    // a killed writer's temporary file (its lock released), two hours old
    let stale = d.join(".r.json.tmp-0123456789abcdef");
    std::fs::write(&stale, "half").unwrap();
    // a fresh one may belong to a writer still running: kept
    let fresh = d.join(".r.json.tmp-fedcba9876543210");
    std::fs::write(&fresh, "half").unwrap();
    // a link planted under a temporary file's name pointing at a victim: never followed,
    // never removed through
    let victim = d.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let planted = d.join(".r.json.tmp-00000000deadbeef");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    for p in [&stale, &planted] {
        assert!(
            Command::new("touch")
                .args(["-h", "-d", "2 hours ago", s(p)])
                .status()
                .unwrap()
                .success()
        );
    }
    assert!(run_to(&r).status.success());
    assert!(!stale.exists(), "the stale temporary file was left");
    assert!(fresh.exists(), "a fresh temporary file was removed");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(
        std::fs::symlink_metadata(&planted)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(read_json(&r)["schema"], "blockspin/sample/1");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn dev_zero_as_any_input_is_refused_within_seconds() {
    let d = temp_dir("zero");
    refused(&["sample", "--resume", "/dev/zero"], &d, "--resume");
    refused(&["sample", "--job", "/dev/zero"], &d, "--job");
    refused(&["merge", "/dev/zero", "--output", "m.json"], &d, "inputs");
    refused(&["plot", "/dev/zero", "-o", "p.png"], &d, "results");
    refused(&["crossings", "/dev/zero"], &d, "results");
    assert_eq!(others(&d, &[]), Vec::<String>::new());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn parameters_out_of_range_name_themselves() {
    let d = temp_dir("range");
    let base = ["sample", "--size", "8", "--sweeps", "10"];
    for (extra, flag) in [
        (&["--beta", "0.4", "--coupling", "1e308"][..], "--coupling"),
        (&["--beta", "0.4", "--field", "-1e7"][..], "--field"),
        (&["--beta", "1e-308"][..], "--beta"),
        (&["--beta", "NaN"][..], "--beta"),
        (&["--temperature", "1e300"][..], "--temperature"),
    ] {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        let line = refused(&a, &d, flag);
        assert!(line.contains("1e6"), "{line}");
    }
    // a grid whose axes are each allowed but whose product is not
    std::fs::write(
        d.join("big.toml"),
        "size = [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]\ntemperature = { start = 1.0, stop = 4.0, count = 100000 }\n",
    )
    .unwrap();
    let line = refused(
        &["sample", "--job", "big.toml", "--output", "x.json"],
        &d,
        "--job",
    );
    assert!(line.contains("1000000 points"), "{line}");
    assert!(!d.join("x.json").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn estimates_that_are_not_numbers_are_flagged_with_exit_1() {
    let d = temp_dir("nan");
    let r = d.join("r.json");
    let out = blockspin(&[
        "sample",
        "--size",
        "8",
        "--beta",
        "0.4",
        "--sweeps",
        "1",
        "--thermalize",
        "0",
        "--chains",
        "1",
        "--quiet",
        "--output",
        s(&r),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not numbers") && err.contains("energy_per_site"),
        "{err}"
    );
    let v = read_json(&r);
    let flagged = v["analysis"]["non_finite"].as_array().unwrap();
    assert!(flagged.iter().any(|n| n == "energy_per_site"), "{v}");
    assert!(v["observables"]["energy_per_site"]["error"].is_null());
    // a run with error bars has none
    assert!(run_to(&r).status.success());
    assert!(read_json(&r)["analysis"].get("non_finite").is_none());
    std::fs::remove_dir_all(&d).unwrap();
}

/// A checkpoint of a run stopped mid-point (SIGTERM after its first checkpoint).
fn midway_checkpoint(d: &Path) -> std::path::PathBuf {
    let ck = d.join("ck.bin");
    let status = common::interrupt_after_checkpoint(
        &[
            "sample",
            "--size",
            "32",
            "--beta",
            "0.44",
            "--sweeps",
            "100000000",
            "--chains",
            "4",
            "--thermalize",
            "100",
            "--measure-every",
            "100",
            "--checkpoint",
            s(&ck),
            "--checkpoint-every",
            "0.05",
            "--output",
            s(&d.join("never.json")),
            "--quiet",
        ],
        &ck,
        Duration::from_millis(300),
        "TERM",
    );
    assert_eq!(status.code(), Some(143));
    ck
}

#[test]
fn forged_checkpoints_are_refused() {
    let d = temp_dir("forged");
    let ck = midway_checkpoint(&d);
    let good = Checkpoint::read(&ck).unwrap();
    let current = good.header.current.clone().unwrap();
    assert!(current.sweeps_done > 100, "{}", current.sweeps_done);
    assert!(!good.counts.is_empty() && current.kernel.is_some());
    type Forge = Box<dyn Fn(&mut Checkpoint)>;
    let forgeries: Vec<(&str, Forge)> = vec![
        (
            "counts too short",
            Box::new(|c| {
                c.counts.pop();
            }),
        ),
        (
            "counts too long",
            Box::new(|c| {
                let x = c.counts[0];
                c.counts.push(x)
            }),
        ),
        ("counts empty", Box::new(|c| c.counts.clear())),
        (
            "sweeps done 0",
            Box::new(|c| c.header.current.as_mut().unwrap().sweeps_done = 0),
        ),
        (
            "sweeps done 1e15",
            Box::new(|c| c.header.current.as_mut().unwrap().sweeps_done = 1_000_000_000_000_000),
        ),
        (
            "another kernel",
            Box::new(|c| c.header.current.as_mut().unwrap().kernel = Some("reference".into())),
        ),
        (
            "another point",
            Box::new(|c| c.header.current.as_mut().unwrap().index = 3),
        ),
        (
            "state too short",
            Box::new(|c| {
                c.bits.pop();
            }),
        ),
    ];
    for (what, forge) in forgeries {
        let mut c = good.clone();
        forge(&mut c);
        let path = d.join("forged.bin");
        c.write(&path).unwrap();
        let line = refused(&["sample", "--resume", s(&path), "--quiet"], &d, "--resume");
        println!("{what}: {line}");
    }
    // outputs may not name the checkpoint resumed from, even with another --checkpoint
    refused(
        &[
            "sample",
            "--resume",
            s(&ck),
            "--checkpoint",
            s(&d.join("ck2.bin")),
            "--output",
            s(&ck),
        ],
        &d,
        "--output",
    );
    // fewer sweeps than the point has done: named as --sweeps, not as a forgery
    let line = refused(
        &["sample", "--resume", s(&ck), "--sweeps", "10"],
        &d,
        "--sweeps",
    );
    assert!(line.contains("at least"), "{line}");
    // the untouched checkpoint resumes (here only to the next checkpoint: a full resume
    // would take the 10^8 sweeps)
    let stopped = common::interrupted(
        &["sample", "--resume", s(&ck), "--quiet"],
        &d,
        Duration::from_millis(500),
        "TERM",
    );
    assert_eq!(stopped.code, Some(143), "{}", stopped.stderr);
    let later = Checkpoint::read(&ck).unwrap().header.current.unwrap();
    assert!(later.sweeps_done > current.sweeps_done);
    assert!(!d.join("never.json").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn sigkill_at_any_moment_then_resume_gives_the_uninterrupted_results() {
    let d = temp_dir("kill");
    let (ck, out, reference) = (d.join("ck.bin"), d.join("r.json"), d.join("ref.json"));
    let run: Vec<&str> = vec![
        "sample",
        "--size",
        "64",
        "--beta",
        "0.44",
        "--sweeps",
        "30000",
        "--chains",
        "4",
        "--thermalize",
        "100",
        "--measure-every",
        "10",
        "--seed",
        "9",
        "--quiet",
    ];
    let mut plain = run.clone();
    plain.extend(["--output", s(&reference)]);
    assert!(blockspin(&plain).status.success());
    let mut args = run.clone();
    args.extend([
        "--checkpoint",
        s(&ck),
        "--checkpoint-every",
        "0.02",
        "--resume-if-exists",
        "--output",
        s(&out),
    ]);
    let mut kills = 0;
    for ms in [150u64, 230, 90, 310, 170, 60, 400, 120] {
        if out.exists() {
            break;
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_blockspin"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    let last = blockspin(&args);
    assert!(last.status.success(), "{last:?}");
    println!("killed {kills} times");
    assert!(kills >= 1);
    assert_eq!(
        without_timing_sample(&read_json(&out)),
        without_timing_sample(&read_json(&reference))
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// A single run's results without timing, provenance and the output paths.
fn without_timing_sample(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    for k in ["provenance", "timing"] {
        o.remove(k);
    }
    v
}

#[test]
fn ctrl_c_stops_a_run_within_a_second_and_writes_nothing() {
    let d = temp_dir("ctrlc");
    for signal in ["INT", "TERM"] {
        let stopped = common::interrupted(
            &[
                "sample",
                "--size",
                "64",
                "--beta",
                "0.44",
                "--sweeps",
                "100000000",
                "--measure-every",
                "1000",
                "--output",
                "r.json",
                "--summary",
                "r.csv",
            ],
            &d,
            Duration::from_millis(700),
            signal,
        );
        let want = if signal == "INT" { 130 } else { 143 };
        assert_eq!(stopped.code, Some(want), "{}", stopped.stderr);
        assert!(stopped.took < Duration::from_secs(1), "{:?}", stopped.took);
        assert!(stopped.stderr.contains("interrupted"), "{}", stopped.stderr);
        assert_eq!(others(&d, &[]), Vec::<String>::new());
    }
    std::fs::remove_dir_all(&d).unwrap();
}
