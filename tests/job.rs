//! Job files, per-point seeds, checkpoints and resume.

mod common;

use common::{StopAfter, blockspin, read_json as json, s, temp_dir as dir};

use blockspin::backend::LatticeBackend;
use blockspin::job::checkpoint::Checkpoint;
use blockspin::job::runner::{self, CheckpointPolicy, Finished, Outcome, Quiet};
use blockspin::job::settings::Thermalize;
use blockspin::job::{self, JobFile, JobSpec, ResultsFile, RunResults, Settings};
use serde_json::Value;
use std::path::PathBuf;

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

/// The job resolved by the library, as `blockspin sample --job` would (with outputs).
fn spec(text: &str, output: Option<PathBuf>) -> JobSpec {
    let file = JobFile::parse("job.toml", text).unwrap();
    let settings = Settings {
        output,
        ..Settings::default()
    };
    job::resolve(&settings, Some(&file)).unwrap()
}

fn finished(o: Outcome) -> Finished {
    match o {
        Outcome::Finished(f) => f,
        Outcome::Interrupted { .. } => panic!("the job was interrupted"),
    }
}

/// Every point's results without the timing, as JSON.
fn without_timing(points: &[RunResults]) -> Vec<Value> {
    points
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap();
            v.as_object_mut().unwrap().remove("timing");
            v
        })
        .collect()
}

#[test]
fn grid_points_equal_single_runs_with_their_seeds() {
    let d = dir("grid");
    let out = d.join("r.json");
    let done =
        finished(runner::run(&spec(JOB, Some(out.clone())), None, None, &mut Quiet).unwrap());
    let v = json(&out);
    assert_eq!(v["schema"], "blockspin/job/1");
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    assert_eq!(done.points.len(), 6);
    assert!(v["provenance"]["version"].is_string() && v["provenance"]["git_revision"].is_string());
    // the file is the typed results
    let ResultsFile::Job(read) = ResultsFile::read(&out).unwrap() else {
        panic!("not a job file")
    };
    assert_eq!(without_timing(&read.points), without_timing(&done.points));
    assert_eq!(read.crossings.len(), done.crossings.len());
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
    let p = &done.points[4].parameters;
    let single = Settings {
        size: Some(p.size),
        beta: Some(p.beta),
        thermalize: Some(Thermalize::Sweeps(100)),
        sweeps: Some(3000),
        measure_every: Some(3),
        chains: Some(16),
        seed: Some(p.seed),
        backend: Some(LatticeBackend::Cpu),
        ..Settings::default()
    };
    let alone = finished(
        runner::run(
            &job::resolve(&single, None).unwrap(),
            None,
            None,
            &mut Quiet,
        )
        .unwrap(),
    );
    assert_eq!(
        serde_json::to_value(&alone.points[0].observables).unwrap(),
        points[4]["observables"]
    );
    assert_eq!(alone.points[0].parameters.seed, p.seed);
    // the CSV row holds the same numbers
    let row = csv.lines().nth(5).unwrap();
    let energy: f64 = row.split(',').nth(10).unwrap().parse().unwrap();
    assert_eq!(energy, done.points[4].observables.energy_per_site.mean);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn interrupt_and_resume_is_bit_identical() {
    let d = dir("resume");
    let (a, b, ck) = (d.join("a.json"), d.join("b.json"), d.join("job.ckpt"));
    let whole = finished(runner::run(&spec(JOB, Some(a.clone())), None, None, &mut Quiet).unwrap());

    // stop in the third point (two reports per point at least: the first chunks are one
    // and two measurement intervals), with a checkpoint at every report
    let job_b = spec(JOB, Some(b.clone()));
    let policy = CheckpointPolicy::new(ck.clone(), 1e-9).unwrap();
    let mut stop = StopAfter {
        after: 6,
        reports: 0,
    };
    let o = runner::run(&job_b, None, Some(&policy), &mut stop).unwrap();
    let Outcome::Interrupted { checkpoint } = o else {
        panic!("not interrupted")
    };
    assert_eq!(checkpoint.as_deref(), Some(ck.as_path()));
    assert!(!b.exists(), "no results before the job is complete");
    let stored = Checkpoint::read(&ck).unwrap();
    let current = stored
        .header
        .current
        .clone()
        .expect("stopped inside a point");
    assert!(
        current.sweeps_done > 0 && current.sweeps_done < 3100,
        "{current:?}"
    );
    assert_eq!(stored.header.completed.len(), current.index);
    assert_eq!(stored.header.job, job_b);

    // a truncated checkpoint is refused (exit 2) naming the problem
    let good = std::fs::read(&ck).unwrap();
    let bad = d.join("bad.ckpt");
    std::fs::write(&bad, &good[..good.len() / 2]).unwrap();
    let e = Checkpoint::read(&bad).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("truncated"), "{e}");
    // changing the physics on resume is refused; repeating a value is not
    let chains = |n| Settings {
        chains: Some(n),
        ..Settings::default()
    };
    let e = job::resume(&stored.header.job, &chains(8)).unwrap_err();
    assert!(e.to_string().contains("chains changes the physics"), "{e}");
    let resumed = job::resume(&stored.header.job, &chains(16)).unwrap();
    assert_eq!(resumed, job_b);

    let done = finished(runner::run(&resumed, Some(stored), Some(&policy), &mut Quiet).unwrap());
    assert_eq!(
        without_timing(&done.points),
        without_timing(&whole.points),
        "resumed results differ from the uninterrupted run"
    );
    assert_eq!(physics(json(&a)), physics(json(&b)));
    // the final checkpoint holds the finished job; resuming it again just writes the results
    let again = Checkpoint::read(&ck).unwrap();
    assert!(again.header.current.is_none() && again.header.completed.len() == 6);
    std::fs::remove_file(&b).unwrap();
    finished(runner::run(&resumed, Some(again), None, &mut Quiet).unwrap());
    assert_eq!(physics(json(&a)), physics(json(&b)));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_stop_without_a_checkpoint_writes_nothing() {
    let d = dir("stop");
    let out = d.join("r.json");
    let mut stop = StopAfter {
        after: 1,
        reports: 0,
    };
    let o = runner::run(&spec(JOB, Some(out.clone())), None, None, &mut stop).unwrap();
    assert!(matches!(o, Outcome::Interrupted { checkpoint: None }));
    assert!(!out.exists());
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

/// A run whose sweeps are not a multiple of measure-every ends off the measurement grid; a
/// resume of its final state with more sweeps steps back onto the grid and measures exactly
/// what an uninterrupted run of the larger plan measures (and its checkpoints stay valid).
#[test]
fn resume_after_an_off_grid_end_measures_on_the_grid() {
    use blockspin::backend::Start;
    use blockspin::lattice::LatticeKind;
    use blockspin::model::{Algorithm, Units};
    use blockspin::run::{self, Control, Progress, RunPlan};
    let model = common::model(LatticeKind::Square, 8, Units::Spin, 0.4, 1.0, 0.0);
    let spec = || common::spec(model, Algorithm::HeatBath, 4, 11, Start::Hot);
    let short = RunPlan::new(2, 10, 3).unwrap();
    let long = RunPlan::new(2, 21, 3).unwrap();
    // the short run to its end, keeping the last progress and state
    let mut s = common::cpu(spec());
    let mut last = None;
    run::run_resumable(
        s.as_mut(),
        &short,
        &model,
        4,
        Progress::default(),
        &mut |s, p| {
            last = Some((p.clone(), s.configurations()?));
            Ok(Control::Continue)
        },
    )
    .unwrap()
    .unwrap();
    let (p, bits) = last.unwrap();
    assert_eq!(p.sweeps_done, 12);
    assert!(long.check_progress(&p, 4).is_ok());
    // resumed with the long plan
    let mut r = common::cpu(spec());
    r.restore(&bits, 12).unwrap();
    let mut checked = 0;
    let resumed = run::run_resumable(r.as_mut(), &long, &model, 4, p, &mut |_, p| {
        long.check_progress(p, 4)
            .map_err(blockspin::Error::Internal)?;
        checked += 1;
        Ok(Control::Continue)
    })
    .unwrap()
    .unwrap();
    assert!(checked > 0);
    let mut f = common::cpu(spec());
    let fresh = run::run(f.as_mut(), &long, &model, 4, &mut |_, _| {}).unwrap();
    assert_eq!(resumed.counts.len(), 7 * 4);
    assert_eq!(resumed.counts, fresh.counts);
}
