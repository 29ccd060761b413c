//! blockspin: GPU-accelerated Monte Carlo lattice engine.
//!
//! Data flow: a validated [`model::Model`] and [`backend::ChainSpec`] become a
//! [`backend::Sampler`] (CPU or GPU); [`run::run`] advances it and collects per-chain
//! integer [`model::Counts`]; [`observables`] turns those into estimates with errors
//! ([`stats`]); [`io`] writes them. [`exact`] holds the references everything is tested
//! against. Conventions (signs, ±1 vs 0/1, per-site vs total) are in [`model`] and
//! `docs/conventions.md`.

#![warn(missing_docs)]

pub mod analysis;
pub mod backend;
#[cfg(feature = "cli")]
pub mod cli;
pub mod dbm;
pub mod error;
pub mod exact;
pub mod io;
pub mod job;
pub mod lattice;
pub mod model;
pub mod observables;
pub mod plot;
pub mod provenance;
pub mod rg;
pub mod rng;
pub mod run;
pub mod shaders;
pub mod stats;

pub use error::{Error, Result};
