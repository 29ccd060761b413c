//! Host memory planning: a job is refused before anything is allocated when its
//! configurations and measurement series would not fit in 80 % of the available memory.

use super::RunConfig;
use crate::error::{Error, Result};
use crate::model::Counts;

/// Host memory of a job, estimated before anything is allocated: the configurations (one
/// byte per site and chain for the initial state, the backend's copy and the final
/// read-back, plus up to four bytes per site and chain, at most one storage binding of
/// 4 GiB, while a per-site GPU state is uploaded) and the measurement series (the integer
/// counts and four derived values per chain and measurement); cluster algorithms add their
/// work arrays.
pub fn estimate(job: &RunConfig) -> (u64, u64) {
    let chains = job.spec.chains as u64;
    let bits = job.spec.sites() as u64 * chains;
    let mut state = 3 * bits + (4 * bits).min(1 << 32);
    if job.spec.algorithm.is_cluster() {
        // per running chain: union-find parents, sizes and flips, or Wolff's marks, cluster
        // list and stack (at most 17 bytes per site)
        let running = chains.min(rayon::current_num_threads() as u64);
        state += 17 * job.spec.sites() as u64 * running;
    }
    let series = job.plan.measurements() as u64 * chains * (Counts::BYTES as u64 + 32);
    (state, series)
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// The verdict on a job needing `state + series` bytes when `available` are free: at most
/// 80 % of them may be used.
pub fn verdict(state: u64, series: u64, available: Option<u64>) -> Result<()> {
    let need = state + series;
    match available {
        Some(avail) if need > avail / 5 * 4 => Err(Error::DeviceLimit(format!(
            "the job needs about {:.2} GiB of host memory ({:.2} GiB for the configurations, {:.2} GiB for the measurement series) but {:.2} GiB are available and at most 80 % of that is used; use fewer chains, a smaller size, or fewer measurements (sweeps / measure-every)",
            gib(need),
            gib(state),
            gib(series),
            gib(avail)
        ))),
        _ => Ok(()),
    }
}

/// `MemAvailable` of /proc/meminfo in bytes, where the system has it.
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Refuses jobs whose host-side state does not fit the available memory.
pub fn check(job: &RunConfig) -> Result<()> {
    let (state, series) = estimate(job);
    verdict(state, series, available())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Kernel, LatticeBackend, Start};
    use crate::job::Parameters;
    use crate::lattice::LatticeKind;
    use crate::model::{Algorithm, Units};

    #[test]
    fn memory_verdict_gives_the_numbers() {
        let gib = 1u64 << 30;
        assert!(verdict(gib, gib, Some(10 * gib)).is_ok());
        assert!(verdict(gib, gib, None).is_ok());
        let e = verdict(3 * gib, gib, Some(4 * gib)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        for part in [
            "4.00 GiB of host memory",
            "3.00 GiB for the configurations",
            "1.00 GiB for the measurement series",
            "4.00 GiB are available",
        ] {
            assert!(msg.contains(part), "{msg}");
        }
    }

    #[test]
    fn the_estimate_counts_configurations_and_series() {
        let p = Parameters {
            lattice: LatticeKind::Square,
            size: 64,
            sites: 64 * 64,
            units: Units::Spin,
            beta: 0.4,
            temperature: 2.5,
            coupling: 1.0,
            field: 0.0,
            algorithm: Algorithm::HeatBath,
            thermalize: 10,
            thermalize_auto: None,
            sweeps: 1000,
            measure_every: 1,
            chains: 10,
            seed: 1,
            start: Start::Hot,
            backend: LatticeBackend::Cpu,
            kernel: Kernel::Auto,
        };
        let job = RunConfig::new(&p).unwrap();
        let (state, series) = estimate(&job);
        assert_eq!(state, 7 * 64 * 64 * 10);
        assert_eq!(series, 1000 * 10 * (Counts::BYTES as u64 + 32));
    }
}
