//! Thermalization you can trust (docs/conventions.md, "Thermalization"): cluster algorithms
//! equilibrate from hot and cold starts in 200 sweeps at K_c on large tori, the drift test
//! flags a run measured before equilibrium and passes a long one, and `--thermalize auto`
//! reaches equilibrium, reruns bit for bit from the count it records, and resumes from a
//! checkpoint taken while it thermalizes.

mod common;

use blockspin::backend::{self, ChainSpec, Kernel, LatticeBackend, Start};
use blockspin::equilibration::DRIFT_Z_LIMIT;
use blockspin::job::checkpoint::Checkpoint;
use blockspin::job::runner::{self, CheckpointPolicy, Outcome, Quiet};
use blockspin::job::settings::Thermalize;
use blockspin::job::{self, JobFile, RunResults, Settings};
use blockspin::lattice::{Lattice, LatticeKind};
use blockspin::model::{Algorithm, Model, Units};
use blockspin::observables::{self, Series};
use common::{StopAfter, blockspin, s, temp_dir};

/// K_c = ½ ln(1 + √2).
const KC: f64 = 0.440_686_793_509_771_5;
const Z_MAX: f64 = 4.0;

fn settings(
    algorithm: Algorithm,
    size: u32,
    thermalize: Thermalize,
    sweeps: u32,
    chains: u32,
    start: Start,
) -> Settings {
    Settings {
        size: Some(size),
        beta: Some(KC),
        algorithm: Some(algorithm),
        thermalize: Some(thermalize),
        sweeps: Some(sweeps),
        chains: Some(chains),
        seed: Some(3),
        start: Some(start),
        backend: Some(LatticeBackend::Cpu),
        ..Settings::default()
    }
}

fn run(s: &Settings) -> RunResults {
    let spec = job::resolve(s, None).unwrap();
    match runner::run(&spec, None, None, &mut Quiet).unwrap() {
        Outcome::Finished(mut f) => f.points.remove(0),
        Outcome::Interrupted { .. } => panic!("nothing asked to stop"),
    }
}

/// z of the energy and the specific heat per site against Kaufman's torus.
fn kaufman_z(r: &RunResults) -> [f64; 2] {
    let exact = r.exact.as_ref().expect("Kaufman's torus");
    assert!(exact.source.contains("Kaufman"), "{}", exact.source);
    let (e, c) = (
        &r.observables.energy_per_site,
        &r.observables.specific_heat_per_site,
    );
    assert!(e.error > 0.0 && e.error < 0.005, "{e:?}");
    [
        (e.mean - exact.get("energy_per_site").unwrap()) / e.error,
        (c.mean - exact.get("specific_heat_per_site").unwrap()) / c.error,
    ]
}

#[test]
fn cluster_algorithms_reach_kaufman_after_200_sweeps_from_hot_and_cold_starts() {
    for (algorithm, size) in [(Algorithm::Wolff, 128), (Algorithm::SwendsenWang, 64)] {
        for start in [Start::Hot, Start::Cold] {
            let r = run(&settings(
                algorithm,
                size,
                Thermalize::Sweeps(200),
                1000,
                8,
                start,
            ));
            let z = kaufman_z(&r);
            let what = format!("{} L={size} {start:?}", algorithm.name());
            assert!(z.iter().all(|z| z.abs() < Z_MAX), "{what}: z {z:?}");
            assert_eq!(
                r.analysis.equilibration.equilibrated,
                Some(true),
                "{what}: {:?}",
                r.analysis.warnings
            );
        }
    }
}

/// A Wolff sampler of `chains` hot-started chains on the L × L torus at K_c.
fn wolff_at_kc(size: u32, chains: u32, seed: u64) -> (Model, Box<dyn backend::Sampler>) {
    let lattice = Lattice::new(LatticeKind::Square, size).unwrap();
    let model = Model::new(lattice, Units::Spin, KC, 1.0, 0.0).unwrap();
    let spec = ChainSpec::new(model, Algorithm::Wolff, chains, seed, Start::Hot).unwrap();
    let s = backend::open(LatticeBackend::Cpu, Kernel::Auto, spec, &mut |_| {}).unwrap();
    (model, s)
}

#[test]
fn fixed_count_wolff_thermalization_from_a_hot_start_is_caught() {
    // the negative control: thermalization sweeps of the measured kind (a fixed number of
    // clusters, sized for equilibrium) leave a 128² torus far from equilibrium, and the
    // drift test says so
    let (model, mut s) = wolff_at_kc(128, 8, 3);
    s.advance(200, 0).unwrap();
    let counts = s.advance(1000, 1).unwrap();
    let (_, a) = observables::estimate(&model, &Series::from_counts(&model, &counts, 8));
    assert_eq!(a.equilibration.equilibrated, Some(false), "{a:?}");
    assert!(
        a.warnings
            .iter()
            .any(|w| w.contains("drifts") && w.contains("--thermalize")),
        "{:?}",
        a.warnings
    );
}

#[test]
fn a_wolff_thermalization_sweep_covers_every_site() {
    let (_, mut s) = wolff_at_kc(64, 2, 5);
    let n = 64 * 64;
    // measured sweeps from the hot start: the pilot's few clusters, far fewer than N sites
    let measured = s.advance(1, 1).unwrap();
    assert!(
        measured.iter().all(|c| c.cluster.sites < n / 4),
        "{measured:?}"
    );
    s.set_thermalizing(true);
    let thermal = s.advance(1, 1).unwrap();
    assert!(
        thermal
            .iter()
            .all(|c| c.cluster.sites >= n && c.cluster.clusters > 10),
        "{thermal:?}"
    );
}

#[test]
fn heat_bath_drift_is_flagged_without_thermalization_and_not_after_a_long_one() {
    let short = run(&settings(
        Algorithm::HeatBath,
        64,
        Thermalize::Sweeps(0),
        2000,
        16,
        Start::Hot,
    ));
    let e = &short.analysis.equilibration;
    assert_eq!(e.equilibrated, Some(false), "{e:?}");
    assert!(e.drift_z.unwrap().abs() > DRIFT_Z_LIMIT);
    assert!(e.mser_discard > 0, "{e:?}");
    let drift = e.of("energy_per_site").unwrap();
    assert!(
        drift.head_mean > drift.tail_mean,
        "the hot start relaxes down: {drift:?}"
    );
    assert!(
        short
            .analysis
            .warnings
            .iter()
            .any(|w| w.starts_with("energy_per_site drifts") && w.contains("--thermalize auto")),
        "{:?}",
        short.analysis.warnings
    );
    let long = run(&settings(
        Algorithm::HeatBath,
        64,
        Thermalize::Sweeps(20_000),
        2000,
        16,
        Start::Hot,
    ));
    let e = &long.analysis.equilibration;
    assert_eq!(e.equilibrated, Some(true), "{e:?}");
    assert!(
        e.drift.iter().all(|d| d.error > 0.0 && d.error < 0.05),
        "{e:?}"
    );
    assert!(!long.analysis.warnings.iter().any(|w| w.contains("drifts")));
    assert!(kaufman_z(&long)[0].abs() < Z_MAX);
}

#[test]
fn auto_thermalization_reaches_equilibrium_and_its_count_reruns_the_same_numbers() {
    for (algorithm, minimum) in [(Algorithm::HeatBath, 1024), (Algorithm::Wolff, 64)] {
        let auto = run(&settings(
            algorithm,
            64,
            Thermalize::Auto,
            2000,
            16,
            Start::Hot,
        ));
        let p = &auto.parameters;
        let a = p.thermalize_auto.expect("auto is recorded");
        assert_eq!(a.passed, Some(true), "{a:?}");
        assert!(p.thermalize >= minimum && p.thermalize <= a.cap, "{p:?}");
        assert_eq!(
            auto.analysis.equilibration.equilibrated,
            Some(true),
            "{:?}",
            auto.analysis.warnings
        );
        assert!(kaufman_z(&auto)[0].abs() < Z_MAX);
        let fixed = run(&settings(
            algorithm,
            64,
            Thermalize::Sweeps(p.thermalize),
            2000,
            16,
            Start::Hot,
        ));
        let json = |r: &RunResults| {
            let mut v = serde_json::to_value(r).unwrap();
            v.as_object_mut().unwrap().remove("timing");
            v["parameters"]
                .as_object_mut()
                .unwrap()
                .remove("thermalize_auto");
            v
        };
        assert_eq!(json(&auto), json(&fixed), "{}", algorithm.name());
    }
}

#[test]
fn auto_thermalization_resumes_from_a_checkpoint_taken_while_it_runs() {
    let d = temp_dir("auto-resume");
    let mut s = settings(
        Algorithm::HeatBath,
        32,
        Thermalize::Auto,
        400,
        8,
        Start::Hot,
    );
    let whole = run(&s);
    assert!(whole.parameters.thermalize >= 256, "{:?}", whole.parameters);
    s.output = Some(d.join("b.json"));
    let spec = job::resolve(&s, None).unwrap();
    let policy = CheckpointPolicy::new(d.join("ck"), 1e-9).unwrap();
    // 6 reports bring the run to sweep 32 (chunks 1, 2, 4, 8, 16, 1); later ones stop
    // inside a measured window, and the first ones before it
    for after in [3, 8, 9] {
        let mut stop = StopAfter { after, reports: 0 };
        let Outcome::Interrupted { .. } =
            runner::run(&spec, None, Some(&policy), &mut stop).unwrap()
        else {
            panic!("not interrupted");
        };
        let ck = Checkpoint::read(&d.join("ck")).unwrap();
        let current = ck.header.current.clone().unwrap();
        assert!(
            current.thermalized.is_none(),
            "stopped while thermalizing: {current:?}"
        );
        assert!(current.sweeps_done < whole.parameters.thermalize as u64);
        let Outcome::Finished(mut f) =
            runner::run(&spec, Some(ck), Some(&policy), &mut Quiet).unwrap()
        else {
            panic!("resumed run interrupted");
        };
        let resumed = f.points.remove(0);
        assert_eq!(
            resumed.parameters, whole.parameters,
            "after {after} reports"
        );
        assert_eq!(
            serde_json::to_value(&resumed.observables).unwrap(),
            serde_json::to_value(&whole.observables).unwrap()
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn job_files_take_thermalize_auto_and_the_summary_says_what_equilibrated() {
    let d = temp_dir("auto-job");
    let text = "lattice = \"square\"\nsize = [8, 16]\nbeta = 0.4\nthermalize = \"auto\"\nthermalize-cap = 4096\nsweeps = 500\nchains = 8\nbackend = \"cpu\"\n";
    let file = JobFile::parse("job.toml", text).unwrap();
    let spec = job::resolve(
        &Settings {
            output: Some(d.join("grid.json")),
            ..Settings::default()
        },
        Some(&file),
    )
    .unwrap();
    let Outcome::Finished(f) = runner::run(&spec, None, None, &mut Quiet).unwrap() else {
        panic!("interrupted");
    };
    for p in &f.points {
        let a = p.parameters.thermalize_auto.unwrap();
        assert_eq!((a.cap, a.passed), (4096, Some(true)));
        assert!(p.parameters.thermalize >= 64);
    }
    let csv = std::fs::read_to_string(d.join("grid.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (line, p) in lines.zip(&f.points) {
        let row: Vec<&str> = line.split(',').collect();
        assert_eq!(row[col("equilibrated")], "true", "{line}");
        assert_eq!(row[col("thermalize")], p.parameters.thermalize.to_string());
    }
    // a cap without auto, and a thermalize that is neither, are refused naming the key
    let e = job::resolve(
        &Settings::default(),
        Some(&JobFile::parse("j.toml", "beta = 0.4\nthermalize-cap = 10\n").unwrap()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("thermalize-cap"), "{e}");
    let e = job::resolve(
        &Settings::default(),
        Some(&JobFile::parse("j.toml", "beta = 0.4\nthermalize = \"soon\"\n").unwrap()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("`thermalize` must be"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_command_line_takes_auto_and_refuses_other_words() {
    let d = temp_dir("auto-cli");
    let out = d.join("r.json");
    let o = blockspin(&[
        "sample",
        "--size",
        "16",
        "--beta",
        "0.3",
        "--thermalize",
        "auto",
        "--sweeps",
        "400",
        "--chains",
        "8",
        "--backend",
        "cpu",
        "--quiet",
        "--output",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("(auto, cap 1048576: window"), "{table}");
    assert!(table.contains("equilibration: drift z"), "{table}");
    let v = common::read_json(&out);
    assert_eq!(v["analysis"]["equilibrated"], true);
    assert!(v["analysis"]["drift_z"].is_f64() && v["analysis"]["mser_discard"].is_u64());
    assert_eq!(v["parameters"]["thermalize_auto"]["passed"], true);
    let o = blockspin(&["sample", "--beta", "0.3", "--thermalize", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--thermalize") && err.contains("auto"),
        "{err}"
    );
    let o = blockspin(&["sample", "--beta", "0.3", "--thermalize-cap", "100"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--thermalize-cap"));
    std::fs::remove_dir_all(&d).unwrap();
}
