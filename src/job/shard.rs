//! Shards of a job grid and their merge: the scale-out of a grid over a scheduler's array
//! tasks (docs/scale.md).
//!
//! Shard I of N holds the points i of the resolved grid with i mod N = I (round robin, so
//! sizes and temperatures spread evenly). A point keeps the seed it has in the whole job
//! ([`super::file::point_seed`] depends on the job seed and the point's values only), so its
//! numbers do not depend on N. A shard's results file is a `blockspin/job/1` file with a
//! `shard` object ([`ShardInfo`]) naming the shard, the point indices it holds and the
//! [`job_hash`] of the resolved job; [`merge`] checks that a set of shard files is exactly
//! one whole job and rebuilds the file the unsharded job writes (the same points in the same
//! order and the crossings; only timing and provenance differ).

use super::results::{JOB_SCHEMA, JobResults};
use super::{JobSpec, Parameters};
use crate::analysis;
use crate::backend::LatticeBackend;
use crate::error::{Error, Result};
use crate::provenance::Provenance;
use serde::{Deserialize, Serialize};

/// Which shard of how many (0 ≤ index < count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// I.
    pub index: u32,
    /// N.
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// A shard; index < count, count ≥ 1.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`shard`).
    pub fn new(index: u32, count: u32) -> Result<Shard> {
        if count == 0 || index >= count {
            return Err(Error::invalid(
                "shard",
                format!("must be I/N with 0 <= I < N (got {index}/{count})"),
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N`, or `slurm`: I = `SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN`,
    /// N = `SLURM_ARRAY_TASK_COUNT`, read through `env` (e.g. `|k| std::env::var(k).ok()`).
    /// Arrays with a step (`--array=0-9:2`) are not contiguous and are refused through the
    /// I < N check when their ids run past the count.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`shard`) for a malformed value or missing variables.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Shard> {
        if text == "slurm" {
            let var = |name: &str| -> Result<u32> {
                let v = env(name).ok_or_else(|| {
                    Error::invalid(
                        "shard",
                        format!(
                            "slurm: {name} is not set (run inside a Slurm job array, e.g. sbatch --array=0-3, or give I/N)"
                        ),
                    )
                })?;
                v.trim().parse().map_err(|_| {
                    Error::invalid("shard", format!("slurm: {name}={v:?} is not a number"))
                })
            };
            let (id, min, count) = (
                var("SLURM_ARRAY_TASK_ID")?,
                var("SLURM_ARRAY_TASK_MIN")?,
                var("SLURM_ARRAY_TASK_COUNT")?,
            );
            let index = id.checked_sub(min).ok_or_else(|| {
                Error::invalid(
                    "shard",
                    format!("slurm: SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"),
                )
            })?;
            return Shard::new(index, count);
        }
        let bad = || {
            Error::invalid(
                "shard",
                format!("must be I/N (e.g. 0/4) or slurm (got {text:?})"),
            )
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index = i.trim().parse().map_err(|_| bad())?;
        let count = n.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count)
    }

    /// Whether point `i` of the whole job belongs to this shard.
    pub fn holds(&self, i: usize) -> bool {
        i % self.count as usize == self.index as usize
    }
}

/// The `shard` object of a shard's results file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// I.
    pub index: u32,
    /// N.
    pub count: u32,
    /// [`job_hash`] of the resolved job.
    pub job_hash: String,
    /// Points of the whole job.
    pub total_points: usize,
    /// Indices (in the whole job) of the points in this file, in file order.
    pub points: Vec<usize>,
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What identifies a job's numbers: every point's resolved parameters (seed and kernel
/// included, the device left out: CPU and GPU are bit-identical for every kernel) and the
/// job seed. Outputs, checkpoints and the sharding are not part of it.
#[derive(Serialize)]
struct Identity<'a> {
    points: Vec<Parameters>,
    grid: bool,
    job_seed: u64,
    schema: &'a str,
}

/// A hash of the resolved job (`fnv1a64:` and 16 hex digits of its identity as JSON): equal
/// for every shard of one job, different when any point's parameters differ.
pub fn job_hash(spec: &JobSpec) -> String {
    let id = Identity {
        points: spec
            .points
            .iter()
            .map(|p| Parameters {
                backend: LatticeBackend::Auto,
                ..p.clone()
            })
            .collect(),
        grid: spec.grid,
        job_seed: spec.job_seed,
        schema: JOB_SCHEMA,
    };
    let bytes = serde_json::to_vec(&id).unwrap_or_default();
    format!("fnv1a64:{:016x}", fnv1a(&bytes))
}

/// Merges the results files of every shard of one job (`inputs`: a name for messages and
/// the parsed file) into the whole job's results: points in the order of the unsharded job,
/// crossings recomputed, no `shard` object.
///
/// # Errors
/// [`Error::InvalidParameter`] (`inputs`) naming the file for a file without a shard object,
/// a shard of another job (hash, count or size differs), a shard given twice, a missing
/// shard, or a point missing, duplicated or out of range.
pub fn merge(inputs: &[(String, JobResults)]) -> Result<JobResults> {
    let bad = |m: String| Error::invalid("inputs", m);
    let Some((first_name, first)) = inputs.first() else {
        return Err(bad("give the shard results files to merge".into()));
    };
    let info = |name: &str, r: &JobResults| -> Result<ShardInfo> {
        r.shard.clone().ok_or_else(|| {
            bad(format!(
                "{name} is not a shard (no `shard` object: written without --shard)"
            ))
        })
    };
    let reference = info(first_name, first)?;
    let missing_shard = |m: u32| {
        bad(format!(
            "shard {m}/{} is missing (got {} of {} shard files)",
            reference.count,
            inputs.len(),
            reference.count
        ))
    };
    // counts come from files: check them against what was given before allocating by them
    if reference.count as usize > inputs.len() {
        let given: Vec<u32> = inputs
            .iter()
            .filter_map(|(_, r)| r.shard.as_ref().map(|s| s.index))
            .collect();
        let missing = (0..reference.count)
            .find(|i| !given.contains(i))
            .unwrap_or(0);
        return Err(missing_shard(missing));
    }
    let held: usize = inputs.iter().map(|(_, r)| r.points.len()).sum();
    if reference.total_points > held {
        return Err(bad(format!(
            "the files hold {held} points of the job's {} (an unfinished shard?)",
            reference.total_points
        )));
    }
    let mut seen_shards = vec![None::<&str>; reference.count as usize];
    let mut slots: Vec<Option<(&str, &super::RunResults)>> = vec![None; reference.total_points];
    for (name, r) in inputs {
        let s = info(name, r)?;
        if s.job_hash != reference.job_hash
            || s.count != reference.count
            || s.total_points != reference.total_points
            || r.job_seed != first.job_seed
        {
            return Err(bad(format!(
                "{name} is a shard of another job (job {} with {} shards of {} points; {first_name} has job {} with {} shards of {} points)",
                s.job_hash,
                s.count,
                s.total_points,
                reference.job_hash,
                reference.count,
                reference.total_points
            )));
        }
        let slot = seen_shards.get_mut(s.index as usize).ok_or_else(|| {
            bad(format!(
                "{name}: shard {} of {} is out of range",
                s.index, s.count
            ))
        })?;
        if let Some(other) = slot {
            return Err(bad(format!(
                "shard {}/{} is given twice: {other} and {name}",
                s.index, s.count
            )));
        }
        *slot = Some(name);
        if s.points.len() != r.points.len() {
            return Err(bad(format!(
                "{name}: the shard lists {} points but holds {}",
                s.points.len(),
                r.points.len()
            )));
        }
        let shard = Shard::new(s.index, s.count)?;
        for (&i, point) in s.points.iter().zip(&r.points) {
            let slot = slots.get_mut(i).filter(|_| shard.holds(i)).ok_or_else(|| {
                bad(format!(
                    "{name}: point {i} does not belong to shard {}/{} of {} points",
                    s.index, s.count, s.total_points
                ))
            })?;
            if let Some((other, _)) = slot {
                return Err(bad(format!("point {i} is in both {other} and {name}")));
            }
            *slot = Some((name, point));
        }
    }
    if let Some(missing) = seen_shards.iter().position(|s| s.is_none()) {
        return Err(missing_shard(missing as u32));
    }
    if let Some(i) = slots.iter().position(|s| s.is_none()) {
        return Err(bad(format!(
            "point {i} of {} is in no shard file (an unfinished shard?)",
            reference.total_points
        )));
    }
    let points: Vec<super::RunResults> = slots
        .into_iter()
        .flatten()
        .map(|(_, p)| p.clone())
        .collect();
    Ok(JobResults {
        schema: JOB_SCHEMA.into(),
        provenance: Provenance::current(),
        job_seed: first.job_seed,
        crossings: analysis::crossings(&points),
        points,
        shard: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn parses_fractions_and_slurm() {
        let none = env(&[]);
        assert_eq!(
            Shard::parse("1/4", &none).unwrap(),
            Shard { index: 1, count: 4 }
        );
        for bad in ["4/4", "0/0", "1", "a/b", "-1/3", "1/4/5", ""] {
            assert!(Shard::parse(bad, &none).is_err(), "{bad}");
        }
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "12"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            Shard::parse("slurm", &slurm).unwrap(),
            Shard { index: 2, count: 4 }
        );
        let e = Shard::parse("slurm", &none).unwrap_err().to_string();
        assert!(e.contains("SLURM_ARRAY_TASK_ID"), "{e}");
        let past = env(&[
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "5"),
        ]);
        assert!(Shard::parse("slurm", &past).is_err());
    }

    #[test]
    fn shards_partition_the_points() {
        for count in 1..6u32 {
            for i in 0..17usize {
                let holders = (0..count)
                    .filter(|&k| Shard::new(k, count).unwrap().holds(i))
                    .count();
                assert_eq!(holders, 1);
            }
        }
    }
}
