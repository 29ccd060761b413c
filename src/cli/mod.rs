//! Command-line interface: one module per subcommand. `main.rs` only parses and maps
//! errors to exit codes (2 for bad input, 1 otherwise).

pub mod info;
pub mod sample;

use crate::error::Result;
use clap::{Parser, Subcommand};

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
    Sample(Box<sample::SampleArgs>),
}

/// Runs a parsed command line.
///
/// # Errors
/// Any [`crate::Error`]; bad input is [`crate::Error::InvalidParameter`] or
/// [`crate::Error::DeviceLimit`] (exit status 2).
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info(a) => info::run(&a),
        Command::Sample(a) => sample::run(&a),
    }
}
