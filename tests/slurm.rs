//! The Slurm example on a real single-node Slurm (scripts/slurm-local): the array of
//! examples/slurm/array.sbatch runs a grid one shard per task, one task is pre-empted with
//! SIGUSR1 (as `--signal=B:USR1@120` does), checkpoints, requeues itself and continues; the
//! merge job (afterok) writes the whole job's results, equal to the unsharded run in
//! everything but timing and provenance.
//!
//! Required when BLOCKSPIN_REQUIRE_SLURM=1 (set by .ci/run); otherwise skipped, with the
//! reason, where Slurm is not installed or the test does not run as root.

mod common;

use common::{blockspin, read_json as json, s, temp_dir as dir, without_timing as physics};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const JOB: &str = r#"
lattice = "square"
size = [16]
temperature = [2.2, 2.25, 2.3, 2.35]
thermalize = 100
sweeps = 300000
measure-every = 10
chains = 4
seed = 3
backend = "cpu"
kernel = "reference"
"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why Slurm cannot be tested here, if it cannot.
fn unavailable() -> Option<String> {
    let found = |b: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    for b in ["slurmctld", "slurmd", "sbatch", "munged"] {
        if !found(b) {
            return Some(format!(
                "{b} is not installed (apt-get install -y slurm-wlm munge)"
            ));
        }
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("slurmd and munged need root".into());
    }
    None
}

/// The daemons of scripts/slurm-local, stopped by their pids when dropped.
struct LocalSlurm {
    dir: PathBuf,
}

impl LocalSlurm {
    fn start(dir: &Path) -> LocalSlurm {
        let o = Command::new(root().join("scripts/slurm-local"))
            .args(["start", s(dir)])
            .output()
            .unwrap();
        let slurm = LocalSlurm {
            dir: dir.to_path_buf(),
        };
        assert!(
            o.status.success(),
            "slurm-local start: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        slurm
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }

    fn cmd(&self, program: &str, args: &[&str]) -> String {
        let o = Command::new(program)
            .args(args)
            .env("SLURM_CONF", self.conf())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `squeue` lines "id state reason" of the jobs still known.
    fn queue(&self) -> Vec<String> {
        self.cmd("squeue", &["-h", "-o", "%i %T %r"])
            .lines()
            .map(String::from)
            .collect()
    }
}

impl Drop for LocalSlurm {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/slurm-local"))
            .args(["stop", s(&self.dir)])
            .status();
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "slurm test: {what} after {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn slurm_array_with_preemption_merges_to_the_unsharded_job() {
    if let Some(why) = unavailable() {
        if std::env::var("BLOCKSPIN_REQUIRE_SLURM").as_deref() == Ok("1") {
            panic!("BLOCKSPIN_REQUIRE_SLURM=1 but {why}");
        }
        eprintln!("skipped: {why} (BLOCKSPIN_REQUIRE_SLURM=1 makes this a failure)");
        return;
    }
    // the example job file is a valid grid
    let o = blockspin(&[
        "sample",
        "--job",
        s(&root().join("examples/slurm/job.toml")),
        "--shard",
        "0/400",
        "--sweeps",
        "1",
        "--thermalize",
        "0",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let d = dir("slurm");
    let work = d.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("job.toml"), JOB).unwrap();
    let whole = d.join("whole.json");
    let o = blockspin(&[
        "sample",
        "--job",
        s(&work.join("job.toml")),
        "--output",
        s(&whole),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let slurm = LocalSlurm::start(&d.join("slurm"));
    let o = Command::new(root().join("examples/slurm/submit.sh"))
        .current_dir(&work)
        .env("SLURM_CONF", slurm.conf())
        .env("BLOCKSPIN", env!("CARGO_BIN_EXE_blockspin"))
        .env("BLOCKSPIN_CHECKPOINT_EVERY", "0.2")
        .output()
        .unwrap();
    let submitted = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{submitted}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // "array job 12, merge job 13"
    let array: String = submitted
        .split("array job ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_default()
        .to_string();
    assert!(!array.is_empty(), "{submitted}");
    let task = format!("{array}_1");

    // pre-empt task 1 once it has written a checkpoint, as --signal=B:USR1 would
    let ckpt = work.join("results/shard-1.ckpt");
    wait_for("task 1's checkpoint", Duration::from_secs(120), || {
        ckpt.exists()
    });
    std::thread::sleep(Duration::from_millis(300));
    // scancel delivers the signal at once, then keeps retrying (and finally fails) once the
    // requeued task is pending: it is not waited for
    let mut scancel = Command::new("scancel")
        .args(["--signal=USR1", "--batch", &task])
        .env("SLURM_CONF", slurm.conf())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // the task requeues itself; Slurm delays a requeued job (BeginTime, about two
    // minutes): start it now
    wait_for("task 1 to requeue", Duration::from_secs(60), || {
        slurm
            .queue()
            .iter()
            .any(|l| l.starts_with(&format!("{task} PENDING")))
    });
    let _ = scancel.kill();
    let _ = scancel.wait();
    slurm.cmd(
        "scontrol",
        &["update", &format!("JobId={task}"), "StartTime=now"],
    );
    wait_for("the array and the merge", Duration::from_secs(240), || {
        slurm.queue().is_empty()
    });

    let log = std::fs::read_to_string(work.join(format!("blockspin-grid-{task}.log"))).unwrap();
    assert!(log.contains("checkpointed (exit 138); requeueing"), "{log}");
    assert!(log.contains("shard 1/4: 1 of 4 points done"), "{log}");
    let merged = work.join("results/job.json");
    assert!(
        merged.exists(),
        "no merged results; queue empty but merge did not run"
    );
    assert_eq!(
        physics(&json(&whole)),
        physics(&json(&merged)),
        "the Slurm job differs from the unsharded one"
    );
    drop(slurm);
    std::fs::remove_dir_all(&d).unwrap();
}
