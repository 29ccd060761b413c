//! Deep Boltzmann machines: model files, the exact Gaussian renormalization recursion,
//! block Gibbs samplers at every level, cumulant estimators and the validator.
//! Physics: `../shared/docs/physics.md` §1–3, §6.

pub mod analytic;
pub mod enumeration;
pub mod limits;
pub mod model;
pub mod pseudo_likelihood;
pub mod report;
pub mod sampler;
pub mod validate;

pub use model::{Dbm, Layer, VisibleUnits};
