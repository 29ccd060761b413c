//! Sharded jobs through the CLI: `sample --job J --shard I/N` for every shard, `merge`, and
//! the merged file equal to the unsharded job's in everything but timing and provenance; a
//! missing, duplicated or foreign shard refused with exit 2 and no output; a shard
//! pre-empted by SIGUSR1 and continued by rerunning the same command with
//! `--resume-if-exists`, bit for bit.

mod common;

use common::{blockspin, read_json as json, s, temp_dir as dir, without_timing as physics};
use std::time::Duration;

const JOB: &str = r#"
lattice = "square"
size = [8, 12]
temperature = [2.2, 2.3, 2.4]
thermalize = 100
sweeps = 3000
chains = 4
seed = 11
backend = "cpu"
"#;

/// The CSV without its provenance comments and timing columns.
fn csv_physics(path: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let keep: Vec<usize> = (0..rows[0].len())
        .filter(|&i| !rows[0][i].contains("seconds") && !rows[0][i].contains("per_ns"))
        .collect();
    rows.iter()
        .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
        .collect()
}

fn fails_with(args: &[&str], needle: &str) {
    let o = blockspin(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn shards_merge_into_the_unsharded_job() {
    let d = dir("shards-merge");
    let job = d.join("job.toml");
    std::fs::write(&job, JOB).unwrap();
    let whole = d.join("whole.json");
    let o = blockspin(&["sample", "--job", s(&job), "--output", s(&whole), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // four shards of six points: two shards hold two points, two hold one
    let shard = |i: usize| d.join(format!("shard-{i}.json"));
    for i in 0..4 {
        let o = blockspin(&[
            "sample",
            "--job",
            s(&job),
            "--shard",
            &format!("{i}/4"),
            "--output",
            s(&shard(i)),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v = json(&shard(i));
        assert_eq!(v["shard"]["index"], i);
        assert_eq!(v["shard"]["count"], 4);
        assert_eq!(v["shard"]["total_points"], 6);
        let n = v["points"].as_array().unwrap().len();
        assert_eq!(n, if i < 2 { 2 } else { 1 });
        assert!(
            v["shard"]["job_hash"]
                .as_str()
                .unwrap()
                .starts_with("fnv1a64:")
        );
    }
    let merged = d.join("merged.json");
    // any order of inputs
    let o = blockspin(&[
        "merge",
        "--output",
        s(&merged),
        s(&shard(2)),
        s(&shard(0)),
        s(&shard(3)),
        s(&shard(1)),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("crossings"));
    let (a, b) = (json(&whole), json(&merged));
    assert!(b.get("shard").is_none());
    assert!(!a["crossings"].as_array().unwrap().is_empty());
    assert_eq!(
        physics(&a),
        physics(&b),
        "merged differs from the whole job"
    );
    assert_eq!(
        csv_physics(&d.join("whole.csv")),
        csv_physics(&d.join("merged.csv"))
    );

    // refused, with no output: a missing, a duplicated and a foreign shard, a non-shard
    let out = d.join("bad.json");
    let args = |inputs: &[&std::path::Path]| -> Vec<String> {
        let mut v = vec!["merge".to_string(), "--output".into(), s(&out).into()];
        v.extend(inputs.iter().map(|p| s(p).to_string()));
        v
    };
    let run = |inputs: &[&std::path::Path], needle: &str| {
        let a = args(inputs);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        fails_with(&a, needle);
        assert!(!out.exists() && !out.with_extension("csv").exists());
    };
    let (s0, s1, s2, s3) = (shard(0), shard(1), shard(2), shard(3));
    run(&[&s0, &s1, &s3], "shard 2/4 is missing");
    run(&[&s0, &s1, &s2, &s3, &s1], "given twice");
    let other = d.join("other.toml");
    std::fs::write(&other, JOB.replace("seed = 11", "seed = 12")).unwrap();
    let foreign = d.join("foreign.json");
    let o = blockspin(&[
        "sample",
        "--job",
        s(&other),
        "--shard",
        "2/4",
        "--output",
        s(&foreign),
        "--quiet",
    ]);
    assert!(o.status.success());
    run(
        &[&s0, &s1, &foreign, &s3],
        "foreign.json is a shard of another job",
    );
    run(&[&s0, &s1, &s2, &s3, &whole], "whole.json is not a shard");

    // bad shard values
    for (shard, needle) in [
        ("4/4", "--shard"),
        ("1", "--shard"),
        ("slurm", "SLURM_ARRAY_TASK_ID"),
    ] {
        fails_with(&["sample", "--job", s(&job), "--shard", shard], needle);
    }
    fails_with(&["sample", "--beta", "0.4", "--shard", "0/2"], "job file");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_preempted_shard_continues_when_its_command_is_rerun() {
    let d = dir("shards-preempt");
    let job = d.join("job.toml");
    std::fs::write(
        &job,
        // about 2 s on one point of the reference kernel: the signal comes after ~0.2 s
        format!(
            "{}kernel = \"reference\"\nmeasure-every = 10\n",
            JOB.replace("sweeps = 3000", "sweeps = 300000")
                .replace("size = [8, 12]", "size = [16]")
        ),
    )
    .unwrap();
    let (a, b, ck) = (d.join("a.json"), d.join("b.json"), d.join("shard.ckpt"));
    let o = blockspin(&[
        "sample",
        "--job",
        s(&job),
        "--shard",
        "1/2",
        "--output",
        s(&a),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cmd = [
        "sample",
        "--job",
        s(&job),
        "--shard",
        "1/2",
        "--output",
        s(&b),
        "--quiet",
        "--checkpoint",
        s(&ck),
        "--checkpoint-every",
        "0.05",
        "--resume-if-exists",
    ];
    let status = common::interrupt_after_checkpoint(&cmd, &ck, Duration::from_millis(100), "USR1");
    assert_eq!(status.code(), Some(128 + 10), "interrupted by SIGUSR1");
    assert!(!b.exists());
    // the same command again continues from the checkpoint
    let o = blockspin(&cmd);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        physics(&json(&a)),
        physics(&json(&b)),
        "resumed shard differs"
    );
    // a checkpoint of another shard is refused by name, and nothing is written
    let c = d.join("c.json");
    let mut other = cmd;
    other[4] = "0/2";
    other[6] = s(&c);
    fails_with(&other, "holds another job");
    assert!(!c.exists());
    std::fs::remove_dir_all(&d).unwrap();
}
