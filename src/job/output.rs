//! The files a job writes: results JSON, the CSV summary of a grid, a single run's
//! per-measurement series and its final configurations. Every write is atomic (a
//! temporary file renamed into place), so an interrupted job leaves no half-written file.

use super::{RunConfig, RunResults};
use crate::error::Result;
use crate::io;
use crate::observables::{self, Series};
use crate::provenance::Provenance;
use crate::run::RunOutput;
use serde::Serialize;
use std::path::Path;

/// The bytes of a results file: `v` as pretty JSON and a final newline (what
/// [`write_json`] writes; the Python package's `to_json()` returns the same).
///
/// # Errors
/// [`crate::Error::Internal`] if `v` cannot be serialized.
pub fn json_bytes(v: &impl Serialize) -> Result<Vec<u8>> {
    let mut bytes =
        serde_json::to_vec_pretty(v).map_err(|e| crate::Error::Internal(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes `v` as pretty JSON (atomically: a temporary file renamed into place).
pub fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let bytes = json_bytes(v)?;
    io::write_atomic(path, |w| w.write_all(&bytes))
}

/// Writes the per-measurement series as CSV.
pub fn write_series(path: &Path, job: &RunConfig, out: &RunOutput) -> Result<()> {
    let model = job.spec.model;
    let chains = job.spec.chains as usize;
    let series = Series::from_counts(&model, &out.counts, chains);
    let thermalize = out.thermalized.sweeps as u64;
    io::write_atomic(path, |w| {
        writeln!(
            w,
            "measurement,sweep,chain,energy_per_site,magnetization_per_site"
        )?;
        for t in 0..series.shape.n_time {
            let sweep = thermalize + (t as u64 + 1) * job.plan.measure_every as u64;
            for c in 0..chains {
                let i = t * chains + c;
                writeln!(
                    w,
                    "{t},{sweep},{c},{},{}",
                    series.energy[i], series.magnetization[i]
                )?;
            }
        }
        Ok(())
    })
}

/// Writes the final configurations as NPY int8 of shape [chains, L(, L(, L))], values ±1
/// (spin) or 0/1 (bernoulli); `bits` are chain-major, one byte per site.
pub fn write_state(path: &Path, job: &RunConfig, bits: &[u8]) -> Result<()> {
    let model = job.spec.model;
    let values: Vec<i8> = bits.iter().map(|&b| model.units.value(b)).collect();
    let mut shape = vec![job.spec.chains as usize];
    shape.extend(model.lattice.shape());
    io::write_atomic(path, |w| io::write_npy_i8(w, &shape, &values))
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The job's CSV summary: one row per point with its parameters, every observable's mean
/// and error, and (last columns) the backend that ran it and the program that wrote it.
pub fn write_summary(path: &Path, points: &[RunResults], provenance: &Provenance) -> Result<()> {
    io::write_atomic(path, |w| {
        write!(
            w,
            "lattice,size,units,algorithm,beta,temperature,coupling,field,seed,chains"
        )?;
        let names: Vec<&str> = observables::Observables::names().to_vec();
        for n in &names {
            write!(w, ",{n},{n}_error")?;
        }
        writeln!(
            w,
            ",equilibrated,drift_z,thermalize,backend,kernel,adapter,api,version,git_revision"
        )?;
        for p in points {
            let q = &p.parameters;
            write!(
                w,
                "{},{},{},{},{},{},{},{},{},{}",
                q.lattice,
                q.size,
                q.units.name(),
                q.algorithm.name(),
                q.beta,
                q.temperature,
                q.coupling,
                q.field,
                q.seed,
                q.chains
            )?;
            for n in &names {
                match p.observables.get(n) {
                    Some(e) => write!(w, ",{},{}", e.mean, e.error)?,
                    None => write!(w, ",,")?,
                }
            }
            let e = &p.analysis.equilibration;
            let opt = |x: Option<String>| x.unwrap_or_default();
            write!(
                w,
                ",{},{},{}",
                opt(e.equilibrated.map(|b| b.to_string())),
                opt(e.drift_z.map(|z| z.to_string())),
                q.thermalize
            )?;
            let b = &p.backend;
            writeln!(
                w,
                ",{},{},{},{},{},{}",
                csv_field(&b.kind),
                csv_field(&b.kernel),
                csv_field(&b.adapter),
                csv_field(&b.api),
                csv_field(&provenance.version),
                csv_field(&provenance.git_revision)
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("rayon"), "rayon");
        assert_eq!(csv_field("vulkan, row-packed"), "\"vulkan, row-packed\"");
        assert_eq!(csv_field("a \"b\""), "\"a \"\"b\"\"\"");
    }
}
