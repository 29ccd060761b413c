//! Job resolution as pure functions: [`resolve`] merges defaults ← job file ← explicit
//! [`Settings`] into a validated [`JobSpec`]; [`resume`] applies the settings a resumed job
//! may change to the spec stored in its checkpoint.
//!
//! Parameters are named as in job files (kebab-case: `measure-every`); the command line
//! spells the same names as flags (`--measure-every`).

use super::file::{self, JobFile};
use super::{JobSpec, Parameters, RunConfig};
use crate::backend::{Kernel, LatticeBackend, Start};
use crate::error::{Error, Result};
use crate::lattice::LatticeKind;
use crate::model::{Algorithm, Units};
use crate::run::ThermalizeAuto;
use serde::de::DeserializeOwned;
use std::path::PathBuf;

/// Defaults of a run (what a user gets without giving the value).
pub mod defaults {
    use super::*;
    /// Lattice.
    pub const LATTICE: LatticeKind = LatticeKind::Square;
    /// L.
    pub const SIZE: u32 = 16;
    /// Units.
    pub const UNITS: Units = Units::Spin;
    /// J.
    pub const COUPLING: f64 = 1.0;
    /// h.
    pub const FIELD: f64 = 0.0;
    /// Update rule.
    pub const ALGORITHM: Algorithm = Algorithm::HeatBath;
    /// Sweeps discarded before measuring.
    pub const THERMALIZE: Thermalize = Thermalize::Sweeps(1000);
    /// Cap of `thermalize auto` (sweeps).
    pub const THERMALIZE_CAP: u32 = crate::equilibration::AUTO_CAP;
    /// Sweeps after thermalization.
    pub const SWEEPS: u32 = 10000;
    /// Measurement interval.
    pub const MEASURE_EVERY: u32 = 1;
    /// Chains.
    pub const CHAINS: u32 = 16;
    /// Seed.
    pub const SEED: u64 = 1;
    /// Initial configuration.
    pub const START: Start = Start::Hot;
    /// Device.
    pub const BACKEND: LatticeBackend = LatticeBackend::Auto;
    /// Kernel.
    pub const KERNEL: Kernel = Kernel::Auto;
}

/// The values a user chose; `None` takes the job file's value, then the default
/// ([`defaults`]). Energy E = −J Σ_<ij> x_i x_j − h Σ_i x_i, weight e^{−βE}.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// Lattice (periodic).
    pub lattice: Option<LatticeKind>,
    /// Linear size L.
    pub size: Option<u32>,
    /// Unit values: ±1 or 0/1.
    pub units: Option<Units>,
    /// Inverse temperature β > 0 (or `temperature`, not both).
    pub beta: Option<f64>,
    /// Temperature T = 1/β > 0.
    pub temperature: Option<f64>,
    /// Coupling J (negative: antiferromagnet).
    pub coupling: Option<f64>,
    /// Field h.
    pub field: Option<f64>,
    /// Update rule.
    pub algorithm: Option<Algorithm>,
    /// Sweeps discarded before measuring, or `auto` (until the drift test passes).
    pub thermalize: Option<Thermalize>,
    /// Most sweeps `thermalize auto` may run.
    pub thermalize_cap: Option<u32>,
    /// Sweeps after thermalization.
    pub sweeps: Option<u32>,
    /// Measure every K sweeps.
    pub measure_every: Option<u32>,
    /// Independent chains.
    pub chains: Option<u32>,
    /// Seed (of the run, or of the job from which each point's seed derives).
    pub seed: Option<u64>,
    /// Initial configuration.
    pub start: Option<Start>,
    /// Device.
    pub backend: Option<LatticeBackend>,
    /// State layout and update kernel.
    pub kernel: Option<Kernel>,
    /// Results JSON.
    pub output: Option<PathBuf>,
    /// CSV summary of a grid (default: `output` with `.csv`).
    pub summary: Option<PathBuf>,
    /// Series CSV (single runs).
    pub series: Option<PathBuf>,
    /// Final configurations NPY (single runs).
    pub save_state: Option<PathBuf>,
    /// Run only this shard of a grid's points.
    pub shard: Option<super::shard::Shard>,
}

/// `thermalize`: a number of sweeps, or `auto` (thermalize in doubling windows until the
/// drift test passes on the energy and |m|, see [`crate::equilibration`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Thermalize {
    /// This many sweeps.
    Sweeps(u32),
    /// Until the drift test passes (at most `thermalize-cap` sweeps).
    Auto,
}

impl std::str::FromStr for Thermalize {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "auto" {
            return Ok(Thermalize::Auto);
        }
        s.parse::<u32>().map(Thermalize::Sweeps).map_err(|_| {
            format!(
                "must be a number of sweeps from 0 to {} or auto (got {s:?})",
                u32::MAX
            )
        })
    }
}

impl std::fmt::Display for Thermalize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Thermalize::Sweeps(n) => write!(f, "{n}"),
            Thermalize::Auto => f.write_str("auto"),
        }
    }
}

/// The `thermalize` key of a job file: an integer or "auto".
fn thermalize_key(f: &JobFile) -> Result<Option<Thermalize>> {
    let Some(e) = f.entries.get("thermalize") else {
        return Ok(None);
    };
    let bad = || {
        Error::invalid(
            "job",
            format!(
                "{} line {}: `thermalize` must be a number of sweeps or \"auto\"",
                f.name, e.line
            ),
        )
    };
    match &e.value {
        toml::Value::String(s) if s == "auto" => Ok(Some(Thermalize::Auto)),
        toml::Value::Integer(_) => u32_key(f, "thermalize").map(|v| v.map(Thermalize::Sweeps)),
        _ => Err(bad()),
    }
}

/// An enum-valued job key, by its kebab-case name (serde's message lists the allowed ones).
fn choice<T: DeserializeOwned>(f: &JobFile, key: &str) -> Result<Option<T>> {
    let Some(s) = f.string(key)? else {
        return Ok(None);
    };
    let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(&s);
    T::deserialize(de).map(Some).map_err(|e| {
        let line = f.entries.get(key).map(|e| e.line).unwrap_or(0);
        let allowed = e.to_string();
        let allowed = allowed.split("expected ").nth(1).unwrap_or(&allowed);
        Error::invalid(
            "job",
            format!(
                "{} line {line}: `{key}` must be {} (got {s:?})",
                f.name,
                allowed.replace('`', "")
            ),
        )
    })
}

fn u32_key(f: &JobFile, key: &str) -> Result<Option<u32>> {
    match f.integer(key)? {
        Some(v) => u32::try_from(v)
            .map(Some)
            .map_err(|_| Error::invalid("job", format!("{}: `{key}` is too large", f.name))),
        None => Ok(None),
    }
}

fn temperature_to_beta(t: f64) -> Result<f64> {
    let r = crate::model::Model::RANGE;
    if !(t >= 1.0 / r && t <= r) {
        return Err(Error::invalid(
            "temperature",
            format!("must be from 1e-6 to 1e6 (got {})", crate::model::short(t)),
        ));
    }
    Ok(1.0 / t)
}

/// Most points one job's grid may have (the product of its axes).
pub const MAX_POINTS: u64 = 100_000;

/// Resolves a job: defaults, then the job file (a grid over `size`, `coupling`, `field`
/// and `temperature`/`beta`), then `s`; validates every point, so nothing runs if any is
/// invalid. Without a file it is a single run with seed `seed`; with one, each point's
/// seed is [`file::point_seed`] of the job seed and its values.
///
/// # Errors
/// [`Error::InvalidParameter`] naming the parameter (or `job` with the key and line).
pub fn resolve(s: &Settings, file: Option<&JobFile>) -> Result<JobSpec> {
    let empty = JobFile::default();
    let f = file.unwrap_or(&empty);
    let lattice = s
        .lattice
        .or(choice(f, "lattice")?)
        .unwrap_or(defaults::LATTICE);
    let units = s.units.or(choice(f, "units")?).unwrap_or(defaults::UNITS);
    let algorithm = s
        .algorithm
        .or(choice(f, "algorithm")?)
        .unwrap_or(defaults::ALGORITHM);
    let start = s.start.or(choice(f, "start")?).unwrap_or(defaults::START);
    let backend = s
        .backend
        .or(choice(f, "backend")?)
        .unwrap_or(defaults::BACKEND);
    let kernel = s
        .kernel
        .or(choice(f, "kernel")?)
        .unwrap_or(defaults::KERNEL);
    let thermalize = s
        .thermalize
        .or(thermalize_key(f)?)
        .unwrap_or(defaults::THERMALIZE);
    let cap = s.thermalize_cap.or(u32_key(f, "thermalize-cap")?);
    if cap.is_some() && thermalize != Thermalize::Auto {
        return Err(Error::invalid(
            "thermalize-cap",
            "caps thermalize auto; give thermalize auto or leave the cap out",
        ));
    }
    let (thermalize, thermalize_auto) = match thermalize {
        Thermalize::Sweeps(n) => (n, None),
        Thermalize::Auto => (
            0,
            Some(ThermalizeAuto {
                cap: cap.unwrap_or(defaults::THERMALIZE_CAP),
                passed: None,
                windows: None,
            }),
        ),
    };
    let sweeps = s
        .sweeps
        .or(u32_key(f, "sweeps")?)
        .unwrap_or(defaults::SWEEPS);
    let measure_every = s
        .measure_every
        .or(u32_key(f, "measure-every")?)
        .unwrap_or(defaults::MEASURE_EVERY);
    let chains = s
        .chains
        .or(u32_key(f, "chains")?)
        .unwrap_or(defaults::CHAINS);
    let job_seed = s.seed.or(f.integer("seed")?).unwrap_or(defaults::SEED);
    let sizes = match s.size {
        Some(l) => vec![l],
        None => f.integer_axis("size")?.unwrap_or(vec![defaults::SIZE]),
    };
    let couplings = match s.coupling {
        Some(c) => vec![c],
        None => f
            .float_axis("coupling")?
            .unwrap_or(vec![defaults::COUPLING]),
    };
    let fields = match s.field {
        Some(h) => vec![h],
        None => f.float_axis("field")?.unwrap_or(vec![defaults::FIELD]),
    };
    let betas: Vec<f64> = match (s.beta, s.temperature) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid("beta", "give beta or temperature, not both"));
        }
        (Some(b), None) => vec![b],
        (None, Some(t)) => vec![temperature_to_beta(t)?],
        (None, None) => match (f.float_axis("beta")?, f.float_axis("temperature")?) {
            (Some(b), _) => b,
            (None, Some(ts)) => ts
                .into_iter()
                .map(temperature_to_beta)
                .collect::<Result<_>>()?,
            (None, None) => {
                return Err(Error::invalid(
                    "beta",
                    "give beta or temperature (or a job file with one of them)",
                ));
            }
        },
    };
    let grid = file.is_some();
    let output = s.output.clone().or(f.string("output")?.map(PathBuf::from));
    let summary = s
        .summary
        .clone()
        .or(f.string("summary")?.map(PathBuf::from))
        .or_else(|| {
            grid.then(|| {
                output
                    .as_ref()
                    .filter(|o| !crate::io::is_stdout(o))
                    .map(|o| o.with_extension("csv"))
            })
            .flatten()
        });
    for (param, given) in [("series", &s.series), ("save-state", &s.save_state)] {
        if grid && given.is_some() {
            return Err(Error::invalid(
                param,
                "series and save-state are for single runs, not jobs",
            ));
        }
    }
    let n_points = [sizes.len(), couplings.len(), fields.len(), betas.len()]
        .iter()
        .fold(1u64, |n, &k| n.saturating_mul(k as u64));
    if n_points > MAX_POINTS {
        return Err(Error::invalid(
            "job",
            format!(
                "the grid has {} sizes x {} couplings x {} fields x {} temperatures = {n_points} points; at most {MAX_POINTS} points per job (split it into several jobs or shards)",
                sizes.len(),
                couplings.len(),
                fields.len(),
                betas.len()
            ),
        ));
    }
    let mut points = Vec::new();
    for &size in &sizes {
        for &coupling in &couplings {
            for &field in &fields {
                for &beta in &betas {
                    let seed = if grid {
                        file::point_seed(job_seed, size, beta, coupling, field)
                    } else {
                        job_seed
                    };
                    let p = Parameters {
                        lattice,
                        size,
                        sites: 0,
                        units,
                        beta,
                        temperature: 1.0 / beta,
                        coupling,
                        field,
                        algorithm,
                        thermalize,
                        thermalize_auto,
                        sweeps,
                        measure_every,
                        chains,
                        seed,
                        start,
                        backend,
                        kernel,
                    };
                    points.push(RunConfig::new(&p)?.parameters);
                }
            }
        }
    }
    if s.shard.is_some() && !grid {
        return Err(Error::invalid(
            "shard",
            "shards split the grid of a job file (give a job file)",
        ));
    }
    Ok(JobSpec {
        points,
        grid,
        job_seed,
        output,
        summary,
        series: s.series.clone(),
        save_state: s.save_state.clone(),
        shard: s.shard,
    })
}

/// The checkpointed spec with what a resume may change: `sweeps`, the device (every kernel
/// is bit-identical on the CPU and the GPU) and outputs. A physical value that differs from
/// the stored one, or another kernel, is refused (values equal to the stored ones are
/// accepted).
///
/// # Errors
/// [`Error::InvalidParameter`] naming the parameter.
pub fn resume(stored: &JobSpec, s: &Settings) -> Result<JobSpec> {
    let mut spec = stored.clone();
    let beta = s.temperature.map(|t| 1.0 / t).or(s.beta);
    // (name, given, equal to the stored value at every point)
    let all = |same: &dyn Fn(&Parameters) -> bool| spec.points.iter().all(same);
    let physical: [(&str, bool, bool); 14] = [
        (
            "lattice",
            s.lattice.is_some(),
            all(&|p| s.lattice.is_none_or(|v| v == p.lattice)),
        ),
        (
            "size",
            s.size.is_some(),
            all(&|p| s.size.is_none_or(|v| v == p.size)),
        ),
        (
            "units",
            s.units.is_some(),
            all(&|p| s.units.is_none_or(|v| v == p.units)),
        ),
        (
            "beta",
            s.beta.is_some(),
            all(&|p| beta.is_none_or(|v| v == p.beta)),
        ),
        (
            "temperature",
            s.temperature.is_some(),
            all(&|p| beta.is_none_or(|v| v == p.beta)),
        ),
        (
            "coupling",
            s.coupling.is_some(),
            all(&|p| s.coupling.is_none_or(|v| v == p.coupling)),
        ),
        (
            "field",
            s.field.is_some(),
            all(&|p| s.field.is_none_or(|v| v == p.field)),
        ),
        (
            "algorithm",
            s.algorithm.is_some(),
            all(&|p| s.algorithm.is_none_or(|v| v == p.algorithm)),
        ),
        (
            "thermalize",
            s.thermalize.is_some(),
            all(&|p| {
                s.thermalize.is_none_or(|v| match v {
                    Thermalize::Sweeps(n) => p.thermalize_auto.is_none() && n == p.thermalize,
                    Thermalize::Auto => p.thermalize_auto.is_some(),
                })
            }),
        ),
        (
            "thermalize-cap",
            s.thermalize_cap.is_some(),
            all(&|p| {
                s.thermalize_cap
                    .is_none_or(|v| p.thermalize_auto.is_some_and(|a| a.cap == v))
            }),
        ),
        (
            "measure-every",
            s.measure_every.is_some(),
            all(&|p| s.measure_every.is_none_or(|v| v == p.measure_every)),
        ),
        (
            "chains",
            s.chains.is_some(),
            all(&|p| s.chains.is_none_or(|v| v == p.chains)),
        ),
        (
            "seed",
            s.seed.is_some(),
            s.seed.is_none_or(|v| v == stored.job_seed),
        ),
        (
            "start",
            s.start.is_some(),
            all(&|p| s.start.is_none_or(|v| v == p.start)),
        ),
    ];
    if s.shard.is_some() && s.shard != stored.shard {
        return Err(Error::invalid(
            "resume",
            "shard changes which points the checkpointed job runs; give the checkpoint's own shard or none",
        ));
    }
    if let Some((name, _, _)) = physical.iter().find(|(_, given, same)| *given && !same) {
        return Err(Error::invalid(
            "resume",
            format!(
                "{name} changes the physics of the checkpointed job; only sweeps, backend, outputs and checkpoint settings may change"
            ),
        ));
    }
    for p in &mut spec.points {
        if let Some(n) = s.sweeps {
            p.sweeps = n;
        }
        // checkpoints written before kernels were recorded ran the family of their backend
        if p.kernel == Kernel::Auto {
            p.kernel = match p.backend {
                LatticeBackend::CpuFast | LatticeBackend::GpuFast => Kernel::Chains,
                _ => Kernel::Reference,
            };
        }
        if let Some(b) = s.backend {
            if matches!(b, LatticeBackend::CpuFast | LatticeBackend::GpuFast)
                && p.kernel != Kernel::Chains
            {
                return Err(Error::invalid(
                    "backend",
                    format!(
                        "{} means kernel chains but the checkpointed job runs the {} kernel; kernels draw different random streams, so a resumed job keeps its kernel (use backend {})",
                        b.name(),
                        p.kernel,
                        b.device().name()
                    ),
                ));
            }
            p.backend = b;
        }
        if let Some(k) = s.kernel
            && k != Kernel::Auto
            && k != p.kernel
        {
            return Err(Error::invalid(
                "kernel",
                format!(
                    "the checkpointed job runs the {} kernel; kernels draw different random streams, so a resumed job keeps its kernel",
                    p.kernel
                ),
            ));
        }
        RunConfig::new(p)?;
    }
    for (dst, src) in [
        (&mut spec.output, &s.output),
        (&mut spec.summary, &s.summary),
        (&mut spec.series, &s.series),
        (&mut spec.save_state, &s.save_state),
    ] {
        if src.is_some() {
            *dst = src.clone();
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> JobFile {
        JobFile::parse("t.toml", text).unwrap()
    }

    #[test]
    fn settings_override_the_file_and_the_file_the_defaults() {
        let f = file(
            "size = [8, 12]\ntemperature = [2.0, 2.5]\nchains = 4\nalgorithm = \"metropolis\"\n",
        );
        let spec = resolve(&Settings::default(), Some(&f)).unwrap();
        assert_eq!(spec.points.len(), 4);
        assert!(spec.grid);
        assert!(
            spec.points
                .iter()
                .all(|p| p.chains == 4 && p.algorithm == Algorithm::Metropolis)
        );
        assert_eq!(spec.points[0].sweeps, defaults::SWEEPS);
        // the seeds are the point seeds of the default job seed
        let p = &spec.points[3];
        assert_eq!(
            p.seed,
            file::point_seed(defaults::SEED, 12, p.beta, 1.0, 0.0)
        );
        let s = Settings {
            size: Some(10),
            chains: Some(2),
            ..Settings::default()
        };
        let spec = resolve(&s, Some(&f)).unwrap();
        assert_eq!(spec.points.len(), 2);
        assert!(spec.points.iter().all(|p| p.size == 10 && p.chains == 2));
    }

    #[test]
    fn a_single_run_needs_a_temperature_and_keeps_its_seed() {
        let e = resolve(&Settings::default(), None).unwrap_err();
        assert!(
            matches!(e, Error::InvalidParameter { param: "beta", .. }),
            "{e}"
        );
        let s = Settings {
            temperature: Some(2.0),
            seed: Some(9),
            ..Settings::default()
        };
        let spec = resolve(&s, None).unwrap();
        assert!(!spec.grid);
        assert_eq!((spec.points[0].seed, spec.points[0].beta), (9, 0.5));
        let both = Settings {
            beta: Some(0.5),
            ..s
        };
        assert!(resolve(&both, None).is_err());
    }

    #[test]
    fn a_bad_enum_in_a_file_lists_the_allowed_names() {
        let f = file("lattice = \"hexagonal\"\nbeta = 0.4\n");
        let msg = resolve(&Settings::default(), Some(&f))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("line 1: `lattice` must be one of chain, square, triangular, cubic"),
            "{msg}"
        );
    }

    #[test]
    fn resume_refuses_physics_and_accepts_sweeps_and_equal_values() {
        let f = file("size = [8, 12]\nbeta = 0.4\nchains = 4\n");
        let stored = resolve(&Settings::default(), Some(&f)).unwrap();
        let more = Settings {
            sweeps: Some(5),
            chains: Some(4),
            ..Settings::default()
        };
        let spec = resume(&stored, &more).unwrap();
        assert!(spec.points.iter().all(|p| p.sweeps == 5));
        let other = Settings {
            chains: Some(8),
            ..Settings::default()
        };
        let msg = resume(&stored, &other).unwrap_err().to_string();
        assert!(msg.contains("chains changes the physics"), "{msg}");
    }
}
