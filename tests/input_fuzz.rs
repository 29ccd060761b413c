//! Property test of the parsing and loading layer: random flag values, job files, model
//! files and checkpoints must give a result or an error, never a panic (results files:
//! tests/results_fuzz.rs). Deterministic: a fixed xorshift stream.

use blockspin::cli::{Cli, Command};
use blockspin::dbm::model::Dbm;
use blockspin::job::checkpoint::Checkpoint;
use blockspin::job::settings::Thermalize;
use blockspin::job::{self, JobFile, RunConfig, Settings, memory};
use clap::Parser;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "3",
    "4",
    "6",
    "7",
    "9",
    "16",
    "33",
    "1000",
    "65536",
    "4194304",
    "2147483648",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "1e308",
    "-1e308",
    "1e-320",
    "0.44",
    "2.269",
    "-0.0",
    "nan",
    "inf",
    "-inf",
    "x",
    "",
    "chain",
    "square",
    "triangular",
    "cubic",
    "spin",
    "bernoulli",
    "heat-bath",
    "metropolis",
    "wolff",
    "swendsen-wang",
    "hot",
    "cold",
    "auto",
    "cpu",
    "gpu",
    "cpu-fast",
    "gpu-fast",
    "reference",
    "chains",
    "sites",
];

const SAMPLE_FLAGS: &[&str] = &[
    "--lattice",
    "--size",
    "--units",
    "--beta",
    "--temperature",
    "--coupling",
    "--field",
    "--algorithm",
    "--thermalize",
    "--sweeps",
    "--measure-every",
    "--chains",
    "--seed",
    "--start",
    "--backend",
    "--kernel",
    "--checkpoint-every",
];

/// Validates every point of a resolved job the way the runner does before it runs.
fn check_points(spec: &job::JobSpec) {
    for p in &spec.points {
        if let Ok(c) = RunConfig::new(p) {
            let _ = memory::estimate(&c);
            let _ = c.sites_per_sweep();
        }
    }
}

#[test]
fn random_sample_flags_never_panic() {
    let mut rng = Rng(0x5EED_F1A6_0000_0001);
    let base = job::resolve(
        &Settings {
            beta: Some(0.4),
            ..Settings::default()
        },
        None,
    )
    .unwrap();
    let (mut parsed, mut resolved) = (0, 0);
    for _ in 0..20_000 {
        let mut args = vec!["blockspin".to_string(), "sample".to_string()];
        for _ in 0..1 + rng.next() % 4 {
            args.push(rng.pick(SAMPLE_FLAGS).to_string());
            args.push(rng.pick(VALUES).to_string());
        }
        let Ok(cli) = Cli::try_parse_from(&args) else {
            continue;
        };
        let Command::Sample(a) = cli.command else {
            panic!("not a sample command: {args:?}")
        };
        parsed += 1;
        let s = a.settings();
        if let Ok(spec) = job::resolve(&s, None) {
            resolved += 1;
            check_points(&spec);
        }
        // the same values as changes to a stored job
        if let Ok(spec) = job::resume(&base, &s) {
            check_points(&spec);
        }
        let _ = job::runner::interval(a.checkpoint_every);
    }
    // the stream reaches both outcomes
    assert!(
        parsed > 500 && resolved > 50,
        "{parsed} parsed, {resolved} resolved"
    );
}

/// `text` with a few random bytes replaced and, sometimes, truncated.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut t = text.as_bytes().to_vec();
    for _ in 0..rng.next() % 6 {
        let i = (rng.next() as usize) % t.len();
        t[i] = match rng.next() % 4 {
            0 => b'0' + (rng.next() % 10) as u8,
            1 => b"-.e[]{}=\"\n,"[(rng.next() % 11) as usize],
            _ => (rng.next() % 128) as u8,
        };
    }
    if rng.next().is_multiple_of(5) {
        t.truncate((rng.next() as usize) % t.len());
    }
    String::from_utf8_lossy(&t).into_owned()
}

#[test]
fn random_job_files_never_panic() {
    let mut rng = Rng(0x0B5E_55ED_0000_0002);
    let examples = [
        include_str!("../examples/binder-job.toml"),
        include_str!("../examples/binder-critical.toml"),
        "size = { start = 4, stop = 40, step = 4 }\nbeta = { start = 0.1, stop = 0.5, count = 3 }\nfield = [0.0, -0.1]\ncoupling = -1\nsweeps = 10\nlattice = \"cubic\"\n",
    ];
    let mut ok = 0;
    for i in 0..4000 {
        let text = mutate(&mut rng, examples[i % examples.len()]);
        let Ok(f) = JobFile::parse("fuzz.toml", &text) else {
            continue;
        };
        if let Ok(spec) = job::resolve(&Settings::default(), Some(&f)) {
            ok += 1;
            // keep the check fast: huge grids are valid but only their first points matter
            let mut spec = spec;
            spec.points.truncate(64);
            check_points(&spec);
        }
    }
    assert!(ok > 100, "{ok} of the mutated job files resolved");
}

#[test]
fn random_model_files_never_panic() {
    let mut rng = Rng(0xD8B0_0000_0000_0003);
    let example = include_str!("../examples/dbm-example.toml");
    assert!(Dbm::from_toml(example).is_ok());
    let mut ok = 0;
    for _ in 0..4000 {
        if let Ok(d) = Dbm::from_toml(&mutate(&mut rng, example)) {
            ok += 1;
            let _ = d.sizes();
            let _ = d.to_toml();
        }
    }
    assert!(ok > 50, "{ok} of the mutated model files loaded");
}

#[test]
fn random_checkpoint_headers_never_panic() {
    // a real checkpoint of a small job, its JSON header mutated and the CRC fixed, so the
    // parser gets past the checksum and deserializes garbage into the typed header
    let spec = job::resolve(
        &Settings {
            size: Some(8),
            beta: Some(0.4),
            chains: Some(2),
            sweeps: Some(20),
            thermalize: Some(Thermalize::Sweeps(5)),
            ..Settings::default()
        },
        None,
    )
    .unwrap();
    let ck = Checkpoint {
        header: job::checkpoint::Header {
            version: "0".into(),
            job: spec.clone(),
            completed: vec![],
            current: Some(job::checkpoint::Current {
                kernel: None,
                index: 0,
                sweeps_done: 10,
                wall_seconds: 0.1,
                thermalized: None,
            }),
        },
        bits: vec![1; 128],
        counts: vec![],
    };
    let bytes = ck.to_bytes().unwrap();
    let header_len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[16..16 + header_len])
        .unwrap()
        .to_string();
    let rest = &bytes[16 + header_len..bytes.len() - 4];
    let mut rng = Rng(0xC4EC_0000_0000_0004);
    let mut ok = 0;
    for _ in 0..4000 {
        let h = mutate(&mut rng, &header);
        let mut data = bytes[..8].to_vec();
        data.extend_from_slice(&(h.len() as u64).to_le_bytes());
        data.extend_from_slice(h.as_bytes());
        data.extend_from_slice(rest);
        let crc = crc32fast::hash(&data).to_le_bytes();
        data.extend_from_slice(&crc);
        if let Ok(c) = Checkpoint::from_bytes(&data) {
            ok += 1;
            if let Ok(spec) = job::resume(&c.header.job, &Settings::default()) {
                check_points(&spec);
            }
        }
    }
    assert!(ok > 20, "{ok} of the mutated headers parsed");
}

#[test]
fn random_shards_and_shard_files_never_panic() {
    use blockspin::job::results::{JobResults, ResultsFile};
    use blockspin::job::runner::{self, Outcome, Quiet};
    use blockspin::job::shard::{self, Shard};
    let mut rng = Rng(0x5AAD_0000_0000_0005);
    let none = |_: &str| None;
    for _ in 0..4000 {
        let text = mutate(&mut rng, "12/345");
        if let Ok(s) = Shard::parse(&text, &none) {
            assert!(s.index < s.count);
        }
    }
    // the real shard files of a tiny grid, their text mutated, then merged
    let file = JobFile::parse(
        "t.toml",
        "size = [4, 8]\ntemperature = [2.0, 3.0]\nsweeps = 20\nthermalize = 0\nchains = 1\nbackend = \"cpu\"\n",
    )
    .unwrap();
    let texts: Vec<String> = (0..2)
        .map(|i| {
            let settings = Settings {
                shard: Some(Shard::new(i, 2).unwrap()),
                ..Settings::default()
            };
            let spec = job::resolve(&settings, Some(&file)).unwrap();
            let Outcome::Finished(done) = runner::run(&spec, None, None, &mut Quiet).unwrap()
            else {
                unreachable!()
            };
            let r = JobResults {
                schema: "blockspin/job/1".into(),
                provenance: blockspin::provenance::Provenance::current(),
                job_seed: spec.job_seed,
                points: done.points,
                crossings: vec![],
                shard: spec.shard_info(),
            };
            serde_json::to_string(&r).unwrap()
        })
        .collect();
    let parse = |t: &str| match ResultsFile::parse("shard.json", t) {
        Ok(ResultsFile::Job(r)) => Some(*r),
        _ => None,
    };
    let whole = [parse(&texts[0]).unwrap(), parse(&texts[1]).unwrap()];
    let named = |v: &[JobResults]| -> Vec<(String, JobResults)> {
        v.iter().map(|r| ("f".to_string(), r.clone())).collect()
    };
    assert_eq!(shard::merge(&named(&whole)).unwrap().points.len(), 4);
    let (mut parsed, mut merged) = (0, 0);
    for i in 0..600 {
        // mutate only the shard object's text, where the counts are
        let k = i % 2;
        let at = texts[k].find("\"shard\"").unwrap();
        let (head, tail) = texts[k].split_at(at);
        let text = format!("{head}{}", mutate(&mut rng, tail));
        let Some(r) = parse(&text) else { continue };
        parsed += 1;
        let mut set = whole.clone().to_vec();
        set[k] = r;
        if shard::merge(&named(&set)).is_ok() {
            merged += 1;
        }
    }
    assert!(parsed > 50, "{parsed} of the mutated shard files parsed");
    assert!(merged < parsed, "some mutations must be refused");
}
