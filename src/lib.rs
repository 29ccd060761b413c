//! blockspin: GPU-accelerated Monte Carlo lattice engine.
//!
//! Data flow: a validated [`model::Model`] and [`backend::ChainSpec`] become a
//! [`backend::Sampler`] (CPU or GPU); [`run::run`] advances it and collects per-chain
//! integer [`model::Counts`]; [`observables`] turns those into estimates with errors
//! ([`stats`]); [`job`] runs whole jobs (grids, checkpoints, typed results files) and
//! [`analysis`] finds Binder crossings. [`exact`] holds the references everything is tested
//! against. Conventions (signs, ±1 vs 0/1, per-site vs total) are in [`model`] and
//! `docs/conventions.md`; the module map is `docs/architecture.md`.
//!
//! One run without the command line: the 2D Ising model on a 16×16 torus at K = βJ = 0.3,
//! checked against Kaufman's exact energy of the finite torus.
//!
//! ```
//! use blockspin::backend::{self, ChainSpec, Kernel, LatticeBackend, Start};
//! use blockspin::lattice::{Lattice, LatticeKind};
//! use blockspin::model::{Algorithm, Model, Units};
//! use blockspin::observables::{self, Series};
//! use blockspin::run::{self, RunPlan};
//!
//! let lattice = Lattice::new(LatticeKind::Square, 16)?;
//! let model = Model::new(lattice, Units::Spin, 0.3, 1.0, 0.0)?; // β, J, h
//! let spec = ChainSpec::new(model, Algorithm::HeatBath, 8, 42, Start::Hot)?; // chains, seed
//! let mut sampler = backend::open(LatticeBackend::Cpu, Kernel::Auto, spec, &mut |_| {})?;
//! let plan = RunPlan::new(200, 2000, 1)?; // thermalize, sweeps, measure every
//! let out = run::run(sampler.as_mut(), &plan, &model, 8, &mut |_, _| {})?;
//! let series = Series::from_counts(&model, &out.counts, 8);
//! let (obs, _analysis) = observables::estimate(&model, &series);
//! let e = obs.energy_per_site;
//! let exact = blockspin::exact::reference::reference(&model)
//!     .and_then(|r| r.get("energy_per_site"))
//!     .expect("Kaufman's torus result");
//! assert!(e.error > 0.0 && e.error < 0.01);
//! assert!(((e.mean - exact) / e.error).abs() < 5.0, "{} ± {} vs {exact}", e.mean, e.error);
//! # Ok::<(), blockspin::Error>(())
//! ```

#![warn(missing_docs)]

pub mod analysis;
pub mod backend;
pub mod bench;
#[cfg(feature = "cli")]
pub mod cli;
pub mod dbm;
pub mod equilibration;
pub mod error;
pub mod exact;
pub mod interrupt;
pub mod io;
pub mod job;
pub mod lattice;
pub mod mcrg;
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
