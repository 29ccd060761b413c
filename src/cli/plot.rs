//! `blockspin plot` and `blockspin crossings`: figures and Binder / ξ₂/L crossings from results files.

use crate::analysis::{autocorrelation, crossings};
use crate::cli::sample::print_crossings;
use crate::error::{Error, Result};
use crate::io;
use crate::job::ResultsFile;
use crate::plot::{ErrorCurve, Panel, panels_png};
use std::path::PathBuf;

/// Arguments of `blockspin plot`.
#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    /// A results file of `blockspin sample` (single run or job).
    pub results: PathBuf,
    /// Output PNG.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1500, allow_negative_numbers = true)]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 950, allow_negative_numbers = true)]
    pub height: u32,
}

/// Arguments of `blockspin crossings`.
#[derive(Debug, clap::Args)]
pub struct CrossingsArgs {
    /// A job results file (blockspin/job/1).
    pub results: PathBuf,
}

/// (observable, panel title, y label) of the job panels; `correlation_length` is drawn as
/// ξ₂/L, which, like U, is scale invariant at T_c.
const LABELS: [(&str, &str, &str); 7] = [
    ("energy_per_site", "energy per site", "⟨E⟩/N"),
    (
        "abs_magnetization_per_site",
        "|magnetization| per site",
        "⟨|Σx|⟩/N",
    ),
    (
        "specific_heat_per_site",
        "specific heat per site",
        "c = β² Var(E)/N",
    ),
    (
        "susceptibility_per_site",
        "susceptibility per site",
        "χ = βN(⟨m²⟩ − ⟨|m|⟩²)",
    ),
    (
        "binder_cumulant",
        "Binder cumulant (crossings mark T_c)",
        "U = 1 − ⟨m⁴⟩/(3⟨m²⟩²)",
    ),
    ("magnetization_per_site", "magnetization per site", "⟨Σx⟩/N"),
    (
        "correlation_length",
        "second-moment correlation length over L (crossings mark T_c)",
        "ξ₂/L",
    ),
];

/// `blockspin plot`.
///
/// # Errors
/// Unreadable results (exit 2) or drawing errors.
pub fn plot(a: &PlotArgs) -> Result<()> {
    io::check_output_path("output", &a.output)?;
    io::check_distinct("output", &a.output, &[("the results file", &a.results)])?;
    if !(200..=8000).contains(&a.width) || !(200..=8000).contains(&a.height) {
        return Err(Error::invalid(
            "width",
            "width and height must be 200..=8000 pixels",
        ));
    }
    match ResultsFile::read(&a.results)? {
        ResultsFile::Job(job) => {
            let mut keys: Vec<(u32, f64, f64)> = job
                .points
                .iter()
                .map(|p| (p.parameters.size, p.parameters.coupling, p.parameters.field))
                .collect();
            keys.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
            keys.dedup();
            let several = keys
                .iter()
                .map(|k| (k.1.to_bits(), k.2.to_bits()))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                > 1;
            let Some(first) = job.points.first().map(|p| &p.parameters) else {
                return Err(Error::invalid(
                    "results",
                    format!(
                        "{}: the job file has no points to plot",
                        a.results.display()
                    ),
                ));
            };
            let panels: Vec<Panel> = LABELS
                .iter()
                .map(|(name, title, ylabel)| Panel {
                    title: title.to_string(),
                    x_label: "temperature T (k_B = 1)".into(),
                    y_label: ylabel.to_string(),
                    curves: keys
                        .iter()
                        .map(|&(l, j, h)| {
                            let mut pts: Vec<(f64, f64, f64)> = job
                                .points
                                .iter()
                                .filter(|p| {
                                    (p.parameters.size, p.parameters.coupling, p.parameters.field)
                                        == (l, j, h)
                                })
                                .filter_map(|p| {
                                    let scale = if *name == "correlation_length" {
                                        p.parameters.size as f64
                                    } else {
                                        1.0
                                    };
                                    p.observables.get(name).map(|e| {
                                        (p.parameters.temperature, e.mean / scale, e.error / scale)
                                    })
                                })
                                .collect();
                            pts.sort_by(|x, y| x.0.total_cmp(&y.0));
                            ErrorCurve {
                                label: if several {
                                    format!("L = {l}, J = {j}, h = {h}")
                                } else {
                                    format!("L = {l}")
                                },
                                points: pts,
                            }
                        })
                        .collect(),
                })
                .collect();
            let title = format!(
                "{} lattice, {} units, {}: E = −J Σ x_i x_j − h Σ x_i, per site; error bars = 1σ",
                first.lattice,
                first.units.name(),
                first.algorithm.name()
            );
            panels_png(&a.output, (a.width, a.height), &title, 3, &panels)
        }
        ResultsFile::Sample(file) => {
            let r = &file.run;
            let s = &r.mean_series;
            let series: Vec<(f64, f64, f64)> = s
                .energy_per_site
                .iter()
                .enumerate()
                .map(|(i, &e)| ((s.first_sweep + i as u64 * s.every as u64) as f64, e, 0.0))
                .collect();
            let acf = autocorrelation(&s.energy_per_site, 200);
            let tau = r.observables.energy_per_site.tau_int.unwrap_or(f64::NAN);
            let panels = vec![
                Panel {
                    title: format!("energy per site, mean over {} chains", r.parameters.chains),
                    x_label: "sweep".into(),
                    y_label: "E/N".into(),
                    curves: vec![ErrorCurve {
                        label: String::new(),
                        points: series,
                    }],
                },
                Panel {
                    title: format!(
                        "autocorrelation of E/N (tau_int = {tau:.2} measurements of {} sweeps)",
                        s.every
                    ),
                    x_label: "lag (measurements)".into(),
                    y_label: "normalized autocorrelation".into(),
                    curves: vec![ErrorCurve {
                        label: String::new(),
                        points: acf
                            .iter()
                            .enumerate()
                            .map(|(i, &c)| (i as f64, c, 0.0))
                            .collect(),
                    }],
                },
            ];
            let p = &r.parameters;
            let title = format!(
                "{} L = {}, {} units, {}, T = {}, J = {}, h = {}",
                p.lattice,
                p.size,
                p.units.name(),
                p.algorithm.name(),
                p.temperature,
                p.coupling,
                p.field
            );
            panels_png(
                &a.output,
                (a.width, a.height.min(a.width / 2).max(300)),
                &title,
                2,
                &panels,
            )
        }
    }
}

/// `blockspin crossings`.
///
/// # Errors
/// Unreadable results (exit 2).
pub fn crossings_cmd(a: &CrossingsArgs) -> Result<()> {
    match ResultsFile::read(&a.results)? {
        ResultsFile::Job(job) => {
            print_crossings(&crossings(&job.points));
            Ok(())
        }
        ResultsFile::Sample(_) => Err(Error::invalid(
            "results",
            "crossings need a job results file (several sizes and temperatures)",
        )),
    }
}
