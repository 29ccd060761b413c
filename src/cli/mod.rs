//! Command-line interface: one module per subcommand. `main.rs` only parses and maps
//! errors to exit codes (2 for bad input, 1 otherwise).

/// `println!` to the report stream: standard output, or standard error once an output file
/// is `-` ([`crate::io::report`]). A closed pipe (`| head`) is not an error.
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!($crate::io::report());
    }};
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!($crate::io::report(), $($t)*);
    }};
}

/// `print!` to the report stream (see `say!`).
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!($crate::io::report(), $($t)*);
    }};
}

pub mod bench;
pub mod dbm;
pub mod info;
pub mod mcrg;
pub mod merge;
pub mod plot;
pub mod rg;
pub mod sample;
pub mod signals;

use crate::error::{Error, Result};
use clap::{CommandFactory, Parser, Subcommand};

/// GPU-accelerated Monte Carlo for Ising and Bernoulli lattices.
#[derive(Debug, Parser)]
#[command(name = "blockspin", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the GPU adapters wgpu finds and their limits.
    Info(info::InfoArgs),
    /// Sample an Ising (±1) or Bernoulli (0/1) lattice and estimate its observables.
    ///
    /// Energy E = −J Σ_<ij> x_i x_j − h Σ_i x_i over nearest-neighbour bonds (each once),
    /// x = ±1 (spin) or 0/1 (bernoulli), weight exp(−βE), k_B = 1. Every observable is
    /// per site; errors come from binning (τ_int) or jackknife over blocks of each chain's
    /// series. Where an exact value is known (enumeration for ≤ 20 sites, Kaufman's square
    /// torus, the ring, symmetry), it is printed next to the estimate with
    /// z = (mean − exact)/error. Same --seed, same result on every backend. See
    /// docs/conventions.md.
    Sample(Box<sample::SampleArgs>),
    /// Merge the results files of a sharded job (`sample --job J --shard I/N`) into the
    /// whole job's results, CSV summary and crossings, after checking that they are every
    /// shard of one job exactly once.
    Merge(merge::MergeArgs),
    /// Plot a results file: observables against temperature for a job (one curve per size),
    /// or the time series and autocorrelation of a single run.
    Plot(plot::PlotArgs),
    /// Binder-cumulant and ξ₂/L crossing temperatures of consecutive sizes in a job results file.
    Crossings(plot::CrossingsArgs),
    /// Throughput of every lattice backend and the time each needs to reach a target error.
    Bench(Box<bench::BenchArgs>),
    /// Block-spin RG: renormalized couplings by block-wise conditional sampling and cumulants.
    ///
    /// K[x] = K Σ_<ij> x_i x_j + h Σ_i x_i with x = ±1 (here --coupling and --field are the
    /// reduced K = βJ and h = βh). Blocks are sampled exactly from p0(x|y) on the GPU; the
    /// cumulants of the inter-block energy K1 give K'(y) = Σ_j ln Z0(y_j) + ln⟨e^{K1}⟩ and its
    /// cumulant partial sums, projected onto constant, field, nn, nnn, 3rd, plaquette/four.
    Rg(Box<rg::RgArgs>),
    /// Monte Carlo renormalization group: block sampled (or --input) configurations level by
    /// level; renormalized couplings by Callen's identity and exponents y = ln λ / ln b of
    /// the linearized RG (Swendsen), with jackknife errors.
    ///
    /// −βH = Σ_α K_α S_α with S_α the sum over every instance of operator α (nn, nnn, 3rd,
    /// plaquette, …; odd: magnetization, …) of the product of its spins x = ±1 (0/1 units
    /// are read as x = 2v − 1). Schema blockspin/mcrg/1.
    Mcrg(Box<mcrg::McrgArgs>),
    /// Deep Boltzmann machines: generate, analyze (exact recursion), sample, validate.
    #[command(subcommand)]
    Dbm(dbm::DbmCommand),
}

/// Runs a parsed command line.
///
/// # Errors
/// Any [`crate::Error`]; bad input is [`crate::Error::InvalidParameter`] or
/// [`crate::Error::DeviceLimit`] (exit status 2).
/// Returns the process exit status on success (0, or 1 when `dbm validate` finds a
/// failing check).
pub fn run(cli: Cli) -> Result<i32> {
    let quiet = match &cli.command {
        Command::Sample(a) => a.quiet,
        Command::Mcrg(a) => a.quiet,
        _ => false,
    };
    signals::install(quiet)?;
    match cli.command {
        Command::Info(a) => info::run(&a).map(|_| 0),
        Command::Sample(a) => sample::run(&a),
        Command::Dbm(c) => dbm::run(&c),
        Command::Mcrg(a) => mcrg::run(&a),
        Command::Rg(a) => rg::run(&a),
        Command::Bench(a) => bench::run(&a).map(|_| 0),
        Command::Merge(a) => merge::run(&a).map(|_| 0),
        Command::Plot(a) => plot::plot(&a).map(|_| 0),
        Command::Crossings(a) => plot::crossings_cmd(&a).map(|_| 0),
    }
}

/// The one-line message of an error as the command line shows it: a library parameter
/// (`measure-every`) is named by its flag (`--measure-every`) where the CLI has that flag.
pub fn describe(e: &Error) -> String {
    let text = match e {
        Error::InvalidParameter { param, message } if is_flag(param) => {
            format!("--{param}: {message}")
        }
        _ => e.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `name` is the long flag of some subcommand.
fn is_flag(name: &str) -> bool {
    fn any(c: &clap::Command, name: &str) -> bool {
        c.get_arguments().any(|a| a.get_long() == Some(name))
            || c.get_subcommands().any(|s| any(s, name))
    }
    any(&Cli::command(), name)
}
