//! `blockspin merge`: the shard files of one job → the whole job's results, summary CSV and
//! crossings ([`crate::job::shard::merge`]).

use crate::error::{Error, Result};
use crate::io;
use crate::job::results::ResultsFile;
use crate::job::{output, shard};
use crate::provenance::Provenance;
use std::path::PathBuf;

/// Arguments of `blockspin merge`.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct MergeArgs {
    /// The shards' results files (written by `sample --job J --shard I/N --output ...`), in
    /// any order.
    #[arg(required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// The merged results (JSON, blockspin/job/1, as the unsharded job writes it).
    #[arg(long)]
    pub output: PathBuf,
    /// The CSV summary, one row per grid point [default: --output with .csv].
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Print nothing.
    #[arg(long)]
    pub quiet: bool,
}

/// `blockspin merge`. Nothing is written unless every check passes.
///
/// # Errors
/// [`Error::InvalidParameter`] naming the file: unreadable, not a shard, a shard of another
/// job, a shard given twice, a missing shard or point; I/O errors.
pub fn run(a: &MergeArgs) -> Result<()> {
    // the summary defaults to the output with .csv (none when the output is standard output)
    let summary = a
        .summary
        .clone()
        .or_else(|| (!io::is_stdout(&a.output)).then(|| a.output.with_extension("csv")));
    io::check_output_path("output", &a.output)?;
    let mut others: Vec<(&str, &std::path::Path)> = a
        .inputs
        .iter()
        .map(|p| ("the input shard", p.as_path()))
        .collect();
    io::check_distinct("output", &a.output, &others)?;
    others.push(("the output", a.output.as_path()));
    if let Some(summary) = &summary {
        io::check_output_path("summary", summary)?;
        io::check_distinct("summary", summary, &others)?;
    }
    let mut inputs = Vec::new();
    for path in &a.inputs {
        let name = path.display().to_string();
        match ResultsFile::read(path).map_err(|e| match e {
            Error::InvalidParameter { message, .. } => Error::invalid("inputs", message),
            e => e,
        })? {
            ResultsFile::Job(r) => inputs.push((name, *r)),
            ResultsFile::Sample(_) => {
                return Err(Error::invalid(
                    "inputs",
                    format!("{name} holds a single run (blockspin/sample/1), not a shard of a job"),
                ));
            }
        }
    }
    let merged = shard::merge(&inputs)?;
    output::write_json(&a.output, &merged)?;
    if let Some(summary) = &summary {
        output::write_summary(summary, &merged.points, &Provenance::current())?;
    }
    if !a.quiet {
        say!(
            "merged {} shard files: {} points -> {}{}",
            inputs.len(),
            merged.points.len(),
            a.output.display(),
            summary
                .as_ref()
                .map(|s| format!(" and {}", s.display()))
                .unwrap_or_default()
        );
        super::sample::print_crossings(&merged.crossings);
    }
    Ok(())
}
