//! Block-spin renormalization group: block-wise conditional sampling, block cumulants,
//! renormalized couplings and flows (physics.md §4–5).

pub mod blocks;
pub mod estimate;
pub mod exact;
pub mod flow;
pub mod information;
pub mod mcrg_column;
pub mod report;
pub mod rules;
pub mod sampler;
