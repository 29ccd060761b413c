//! Job files, per-point seeds, checkpoints and resume.

mod common;

use common::{blockspin, read_json as json, s, temp_dir as dir};

use serde_json::Value;
use std::time::Duration;

/// The results without what may differ between runs (timing, command line).
fn physics(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("provenance");
    for p in v["points"].as_array_mut().into_iter().flatten() {
        p.as_object_mut().unwrap().remove("timing");
    }
    v
}

const JOB: &str = r#"
lattice = "square"
size = [8, 12]
temperature = [2.1, 2.3, 2.5]
thermalize = 100
sweeps = 3000
measure-every = 3
chains = 16
seed = 11
backend = "cpu"
"#;

#[test]
fn grid_points_equal_single_runs_with_their_seeds() {
    let d = dir("grid");
    let job = d.join("job.toml");
    std::fs::write(&job, JOB).unwrap();
    let out = d.join("r.json");
    let o = blockspin(&["sample", "--job", s(&job), "--output", s(&out), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&out);
    assert_eq!(v["schema"], "blockspin/job/1");
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    assert!(v["provenance"]["version"].is_string() && v["provenance"]["git_revision"].is_string());
    // CSV summary next to the JSON, one row per point
    let csv = std::fs::read_to_string(out.with_extension("csv")).unwrap();
    assert_eq!(csv.lines().count(), 7);
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",backend,kernel,adapter,api,version,git_revision")
    );
    // the kernel that ran (auto, resolved per point) is in the JSON and the CSV
    for (point, line) in points.iter().zip(csv.lines().skip(1)) {
        let kernel = point["backend"]["kernel"].as_str().unwrap();
        assert!(
            ["reference", "chains", "sites"].contains(&kernel),
            "{kernel}"
        );
        assert_eq!(point["parameters"]["kernel"], kernel);
        assert!(line.contains(&format!(",cpu,{kernel},")), "{line}");
    }
    let version = v["provenance"]["version"].as_str().unwrap();
    assert!(
        csv.lines().nth(1).unwrap().contains(&format!(
            ",{},",
            points[0]["backend"]["kind"].as_str().unwrap()
        )) && csv.lines().nth(1).unwrap().contains(version)
    );
    // point 4 alone, with its recorded seed
    let p = &points[4]["parameters"];
    let single = d.join("single.json");
    let o = blockspin(&[
        "sample",
        "--size",
        &p["size"].to_string(),
        "--beta",
        &p["beta"].to_string(),
        "--thermalize",
        "100",
        "--sweeps",
        "3000",
        "--measure-every",
        "3",
        "--chains",
        "16",
        "--seed",
        &p["seed"].to_string(),
        "--backend",
        "cpu",
        "--quiet",
        "--output",
        s(&single),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let alone = json(&single);
    assert_eq!(alone["observables"], points[4]["observables"]);
    assert_eq!(alone["parameters"]["seed"], p["seed"]);
    // the CSV row holds the same numbers
    let row = csv.lines().nth(5).unwrap();
    let energy: f64 = row.split(',').nth(10).unwrap().parse().unwrap();
    assert_eq!(
        energy,
        points[4]["observables"]["energy_per_site"]["mean"]
            .as_f64()
            .unwrap()
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn interrupt_and_resume_is_bit_identical() {
    let d = dir("resume");
    let job = d.join("job.toml");
    // long enough to be interrupted mid-job
    std::fs::write(&job, JOB.replace("sweeps = 3000", "sweeps = 60000")).unwrap();
    let (a, b, ck) = (d.join("a.json"), d.join("b.json"), d.join("job.ckpt"));
    let o = blockspin(&["sample", "--job", s(&job), "--output", s(&a), "--quiet"]);
    assert!(o.status.success());

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
        Duration::from_millis(300),
    );
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "interrupted by SIGTERM after writing a checkpoint"
    );
    assert!(!b.exists(), "no results before the job is complete");

    // a truncated checkpoint is refused; the good one still resumes
    let good = std::fs::read(&ck).unwrap();
    let bad = d.join("bad.ckpt");
    std::fs::write(&bad, &good[..good.len() / 2]).unwrap();
    let o = blockspin(&["sample", "--resume", s(&bad), "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("checksum"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // changing the physics on resume is refused
    let o = blockspin(&["sample", "--resume", s(&ck), "--chains", "8", "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("changes the physics"));

    let o = blockspin(&["sample", "--resume", s(&ck), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        physics(json(&a)),
        physics(json(&b)),
        "resumed results differ from the uninterrupted run"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_job_files_run_nothing() {
    let d = dir("bad");
    let job = d.join("job.toml");
    let out = d.join("r.json");
    for (text, needle) in [
        (format!("{JOB}\ncolour = 3"), "line 12: `colour`"),
        (
            JOB.replace(
                "temperature = [2.1, 2.3, 2.5]",
                "temperature = { start = 2.1, stop = 2.5, step = 0 }",
            ),
            "step must not be 0",
        ),
        (
            JOB.replace(
                "temperature = [2.1, 2.3, 2.5]",
                "temperature = { start = 2.5, stop = 2.1, step = 0.1 }",
            ),
            "goes away",
        ),
        (JOB.replace("size = [8, 12]", "size = []"), "empty"),
        (format!("{JOB}\nbeta = 0.4"), "`beta` and `temperature`"),
        (JOB.replace("size = [8, 12]", "size = [8, 13]"), "--size"),
        (
            JOB.replace("lattice = \"square\"", "lattice = \"hexagonal\""),
            "`lattice` must be one of",
        ),
        ("size = [".to_string(), "job.toml"),
    ] {
        std::fs::write(&job, &text).unwrap();
        let o = blockspin(&["sample", "--job", s(&job), "--output", s(&out), "--quiet"]);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{needle}: {e}");
        assert!(e.contains(needle), "{needle}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        assert!(
            !out.exists() && o.stdout.is_empty(),
            "{needle}: something ran"
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn job_parser_never_panics_on_garbage() {
    // deterministic fuzz of the job-file parser with mutated valid files and random bytes
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = JOB.as_bytes().to_vec();
    for _ in 0..5000 {
        let mut t = base.clone();
        for _ in 0..(next() % 8) {
            let i = (next() as usize) % t.len();
            t[i] = (next() % 128) as u8;
        }
        if next() % 4 == 0 {
            t.truncate((next() as usize) % t.len());
        }
        let text = String::from_utf8_lossy(&t);
        if let Ok(f) = blockspin::job::JobFile::parse("fuzz.toml", &text) {
            let _ = f.integer_axis("size");
            let _ = f.float_axis("temperature");
            let _ = f.string("lattice");
            let _ = f.integer("seed");
        }
    }
}

#[test]
fn plots_decode_with_the_expected_size() {
    let d = dir("plot");
    let job = d.join("job.toml");
    std::fs::write(&job, JOB.replace("sweeps = 3000", "sweeps = 600")).unwrap();
    let (out, png) = (d.join("r.json"), d.join("r.png"));
    assert!(
        blockspin(&["sample", "--job", s(&job), "--output", s(&out), "--quiet"])
            .status
            .success()
    );
    let o = blockspin(&[
        "plot",
        s(&out),
        "-o",
        s(&png),
        "--width",
        "1200",
        "--height",
        "800",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()))
        .read_info()
        .unwrap()
        .info()
        .clone();
    assert_eq!((info.width, info.height), (1200, 800));
    let o = blockspin(&["crossings", s(&out)]);
    assert!(o.status.success());
    // a hand-edited job file without points: exit 2 and one line, no panic, no image
    let mut v = json(&out);
    v["points"] = serde_json::json!([]);
    let (empty, empty_png) = (d.join("empty.json"), d.join("empty.png"));
    std::fs::write(&empty, v.to_string()).unwrap();
    let o = blockspin(&["plot", s(&empty), "-o", s(&empty_png)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no points") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(!empty_png.exists());
    // a single run: time series and autocorrelation
    let single = d.join("single.json");
    assert!(
        blockspin(&[
            "sample",
            "--size",
            "8",
            "--beta",
            "0.4",
            "--sweeps",
            "500",
            "--backend",
            "cpu",
            "--quiet",
            "--output",
            s(&single)
        ])
        .status
        .success()
    );
    let o = blockspin(&["plot", s(&single), "-o", s(&png)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()))
        .read_info()
        .unwrap()
        .info()
        .clone();
    assert_eq!((info.width, info.height), (1500, 750));
    // a file that is not a results file is refused
    let o = blockspin(&["plot", s(&job), "-o", s(&png)]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_dir_all(&d).unwrap();
}
