//! Shared test helpers.
#![allow(dead_code)]

use blockspin::backend::cpu::{CpuSampler, Mode};
use blockspin::backend::gpu::{GpuContext, GpuSampler};
use blockspin::backend::{ChainSpec, Sampler, Start};
use blockspin::lattice::{Lattice, LatticeKind};
use blockspin::model::{Algorithm, Model, Units};
use std::sync::{Arc, OnceLock};

/// The shared GPU context, or None (with a printed reason) when no adapter exists.
/// With `BLOCKSPIN_REQUIRE_GPU=1` (set by `.ci/run`) a missing adapter fails the test.
pub fn gpu() -> Option<Arc<GpuContext>> {
    static CTX: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| GpuContext::new().map_err(|e| e.to_string()));
    match ctx {
        Ok(c) => Some(c.clone()),
        Err(e) => {
            if std::env::var("BLOCKSPIN_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("BLOCKSPIN_REQUIRE_GPU=1 but no GPU adapter is usable: {e}");
            }
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

pub fn model(kind: LatticeKind, size: u32, units: Units, beta: f64, j: f64, h: f64) -> Model {
    Model::new(Lattice::new(kind, size).unwrap(), units, beta, j, h).unwrap()
}

pub fn spec(model: Model, algorithm: Algorithm, chains: u32, seed: u64, start: Start) -> ChainSpec {
    ChainSpec::new(model, algorithm, chains, seed, start).unwrap()
}

pub fn cpu(spec: ChainSpec) -> Box<dyn Sampler> {
    Box::new(CpuSampler::new(spec, Mode::Threaded).unwrap())
}

pub fn cpu_reference(spec: ChainSpec) -> Box<dyn Sampler> {
    Box::new(CpuSampler::new(spec, Mode::Reference).unwrap())
}

pub fn gpu_sampler(ctx: Arc<GpuContext>, spec: ChainSpec) -> Box<dyn Sampler> {
    Box::new(GpuSampler::new(ctx, spec).unwrap())
}

/// Upper tail of the chi-squared distribution as a standard-normal z (Wilson–Hilferty).
pub fn chi2_z(chi2: f64, dof: f64) -> f64 {
    let a = 2.0 / (9.0 * dof);
    ((chi2 / dof).powf(1.0 / 3.0) - (1.0 - a)) / a.sqrt()
}

/// Pearson chi-squared of observed counts against expected probabilities, pooling cells
/// with expected count below 5 into one. Returns (chi2, degrees of freedom, z).
pub fn chi2_test(observed: &[u64], probabilities: &[f64]) -> (f64, f64, f64) {
    let n: u64 = observed.iter().sum();
    let n = n as f64;
    let (mut chi2, mut cells) = (0.0, 0usize);
    let (mut pooled_o, mut pooled_e) = (0.0, 0.0);
    for (&o, &p) in observed.iter().zip(probabilities) {
        let e = n * p;
        if e < 5.0 {
            pooled_o += o as f64;
            pooled_e += e;
        } else {
            chi2 += (o as f64 - e).powi(2) / e;
            cells += 1;
        }
    }
    if pooled_e > 0.0 {
        if pooled_e >= 1.0 {
            chi2 += (pooled_o - pooled_e).powi(2) / pooled_e;
            cells += 1;
        } else {
            assert!(
                pooled_o <= 3.0,
                "{pooled_o} samples in cells of total expectation {pooled_e}"
            );
        }
    }
    let dof = (cells - 1) as f64;
    (chi2, dof, chi2_z(chi2, dof))
}

/// Runs the `blockspin` binary with `args`.
pub fn blockspin(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_blockspin"))
        .args(args)
        .output()
        .expect("run blockspin")
}

/// A fresh, empty temporary directory named after the test binary, `name` and the process.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "blockspin-{}-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A path as a command-line argument.
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// A JSON file.
pub fn read_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Runs `s` (thermalize, then `sweeps` measured every `every`) and asserts that its (n1, n11)
/// histogram matches the enumerated Boltzmann distribution of `model` (|z| < 5) and rejects
/// the distribution at a 10 % larger β (z > 5), the negative control.
pub fn assert_samples_boltzmann(
    name: &str,
    s: &mut dyn Sampler,
    model: &Model,
    thermalize: u32,
    sweeps: u32,
    every: u32,
) {
    use blockspin::exact::enumerate::DensityOfStates;
    let dos = DensityOfStates::new(model.lattice).unwrap();
    let exact = dos.distribution(model);
    let wrong = dos.distribution(&Model {
        beta: model.beta * 1.1,
        ..*model
    });
    let keys: Vec<(u64, u64)> = exact.keys().copied().collect();
    s.advance(thermalize, 0).unwrap();
    let counts = s.advance(sweeps, every).unwrap();
    let mut observed = vec![0u64; keys.len()];
    for c in &counts {
        observed[keys.binary_search(&(c.ones, c.ones_bonds)).unwrap()] += 1;
    }
    let z = chi2_test(&observed, &exact.values().copied().collect::<Vec<_>>()).2;
    let zw = chi2_test(&observed, &wrong.values().copied().collect::<Vec<_>>()).2;
    println!("{name}: z = {z:.2}, wrong beta z = {zw:.1}");
    assert!(z < 5.0 && zw > 5.0, "{name}: z = {z}, z(wrong) = {zw}");
}

/// Runs `s` (`chains` chains of the zero-field square torus `model` at coupling K) and
/// asserts energy and specific heat per site within 4 errors of Kaufman's exact values,
/// with an error bar that is positive and below 0.05.
pub fn assert_matches_kaufman(name: &str, s: &mut dyn Sampler, model: &Model, chains: u32) {
    use blockspin::observables::{self, Series};
    use blockspin::run::{self, RunPlan};
    let (l, k) = (model.lattice.size(), model.beta * model.coupling);
    let exact = blockspin::exact::kaufman::torus(k, l, l);
    let plan = RunPlan::new(500, 2000, 2).unwrap();
    let out = run::run(s, &plan, model, chains, &mut |_, _| {}).unwrap();
    let (o, _) = observables::estimate(
        model,
        &Series::from_counts(model, &out.counts, chains as usize),
    );
    for (what, e, x) in [
        ("energy", o.energy_per_site, exact.energy_per_site()),
        (
            "specific heat",
            o.specific_heat_per_site,
            exact.specific_heat_per_site(k),
        ),
    ] {
        let z = (e.mean - x) / e.error;
        println!(
            "{name} {what}: {:.5} ± {:.5} vs {x:.5} (z = {z:.2})",
            e.mean, e.error
        );
        assert!(
            z.abs() < 4.0 && e.error > 0.0 && e.error < 0.05,
            "{name} {what}"
        );
    }
}

/// Starts `blockspin` with `args` (which write a checkpoint to `checkpoint`), waits until
/// the checkpoint exists plus `after`, sends `signal` (`TERM`, `USR1`, ...), and returns the
/// exit status (128 + the signal when it was interrupted, success when it finished first).
pub fn interrupt_after_checkpoint(
    args: &[&str],
    checkpoint: &std::path::Path,
    after: std::time::Duration,
    signal: &str,
) -> std::process::ExitStatus {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_blockspin"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !checkpoint.exists() && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(after);
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap()
}

/// A results file without what may differ between equal runs: timing and provenance.
pub fn without_timing(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    o.remove("provenance");
    for p in o["points"].as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("timing");
    }
    v
}

/// Runner hooks that ask to stop from the `after`-th progress report on.
pub struct StopAfter {
    pub after: usize,
    pub reports: usize,
}

impl blockspin::job::runner::Hooks for StopAfter {
    fn progress(&mut self, _: u64) {
        self.reports += 1;
    }
    fn stop_requested(&mut self) -> bool {
        self.reports >= self.after
    }
}

/// What [`interrupted`] saw: the exit status, how long the program took to exit after the
/// signal, and its standard error.
pub struct Stopped {
    pub code: Option<i32>,
    pub took: std::time::Duration,
    pub stderr: String,
}

/// Starts `blockspin` with `args` in `dir`, sends `signal` (`INT`, `TERM`) after `after`,
/// and waits at most 10 s for it to exit (killing it then). For "stops within a second
/// of Ctrl-C with exit 130 and no output": check `code`, `took` and that `dir` holds no
/// new file.
pub fn interrupted(
    args: &[&str],
    dir: &std::path::Path,
    after: std::time::Duration,
    signal: &str,
) -> Stopped {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_blockspin"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let sent = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if sent.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = sent.elapsed();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    Stopped {
        code: status.and_then(|s| s.code()),
        took,
        stderr,
    }
}

/// Runs `blockspin` with `args` in `dir`, killed after `limit`; returns the output and
/// whether it finished in time. For "refused with exit 2 within seconds".
pub fn within(
    args: &[&str],
    dir: &std::path::Path,
    limit: std::time::Duration,
) -> (std::process::Output, bool) {
    use std::process::{Command, Stdio};
    use std::time::Instant;
    let child = Command::new(env!("CARGO_BIN_EXE_blockspin"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let t = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            while t.elapsed() < limit {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return false;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            true
        })
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let killed = watchdog.join().unwrap();
    (out, !killed)
}

/// Asserts that `args` exit with status 2 within 10 s, with one line on standard error that
/// contains `names` (the parameter at fault), and returns that line.
pub fn refused(args: &[&str], dir: &std::path::Path, names: &str) -> String {
    let (out, in_time) = within(args, dir, std::time::Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(in_time, "{args:?} ran past 10 s: {err}");
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error"))
        .unwrap_or_default()
        .to_string();
    assert!(line.contains(names), "{args:?} should name {names}: {err}");
    line
}
