//! Block Gibbs samplers of a DBM at every level of the recursion, on the GPU
//! (`shaders/dbm.wgsl`) and on the CPU (the twins below, in the same f32 arithmetic).
//!
//! | level | variables | one sweep |
//! |---|---|---|
//! | `full` | v, h, s | h ~ p(h\|v,s); then v ~ p(v\|h) and s ~ p(s\|h) |
//! | `visible-hidden` | v, h | h ~ N(A⁻¹(b₀ + Wᵀv), A⁻¹) = m₀ + K v + L z; then v ~ p(v\|h) |
//! | `visible` | v | v_i ~ p(v_i\|v_rest) of p(v) ∝ exp(f_v·v + ½vᵀJ_v v), one colour class of J_v's greedy colouring at a time |
//! | `hidden-prior` | h, s | the full sweep with the visible layer removed (samples q_h) |
//!
//! With a bernoulli deep layer, `visible-hidden` is the reduced model with the exact
//! softplus energy H(v,h) = E₀(v,h) − Σ_k softplus(d_k + (Mᵀh)_k); its h | v step is an
//! independence Metropolis–Hastings step proposing from the Gaussian part (exact, CPU only).
//!
//! Continuous draws (and Bernoulli draws whose probability depends on continuous
//! variables) are computed in f32 on both backends; they agree statistically, and nearly
//! always decision for decision, but not bit for bit (GPU `exp`, `log`, `cos` and fused
//! multiply-adds differ in the last bits).

use super::analytic::{Recursion, softplus};
use super::model::{Dbm, Layer, VisibleUnits};
use crate::backend::BackendInfo;
use crate::backend::gpu::{Dispatch, GpuContext, KernelSet};
use crate::error::{Error, Result};
use crate::rng::{philox4x32_10, seed_key};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use wgpu::util::DeviceExt;

mod cpu;
mod gpu;

pub use cpu::CpuDbmSampler;
pub use gpu::GpuDbmSampler;

/// Which model is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// The three-layer DBM.
    Full,
    /// (v, h) with s integrated out.
    VisibleHidden,
    /// v alone: the pairwise model (J_v, f_v).
    Visible,
    /// (h, s) without the visible layer: the prior q_h of h.
    HiddenPrior,
}

impl Level {
    /// Name as in reports.
    pub fn name(self) -> &'static str {
        match self {
            Level::Full => "full",
            Level::VisibleHidden => "visible_hidden",
            Level::Visible => "visible",
            Level::HiddenPrior => "hidden_prior",
        }
    }
}

/// 2⁻²⁴ (uniforms from the top 24 bits of a word); `TWO_POW_MINUS_24` of dbm.wgsl.
const TWO_POW_MINUS_24: f32 = 1.0 / 16_777_216.0;
/// 2π in f32; `TWO_PI` of dbm.wgsl.
const TWO_PI: f32 = std::f32::consts::TAU;
const PURPOSE_VISIBLE: u32 = crate::rng::Purpose::DbmVisible as u32;
const PURPOSE_HIDDEN: u32 = crate::rng::Purpose::DbmHidden as u32;
const PURPOSE_DEEP: u32 = crate::rng::Purpose::DbmDeep as u32;
const PURPOSE_INIT: u32 = crate::rng::Purpose::DbmInit as u32;
const PURPOSE_ACCEPT: u32 = crate::rng::Purpose::DbmAccept as u32;

/// Slots of vectors in the coefficient array and of CSR matrices (three slots each: row
/// pointers and columns in the index array, values in the coefficient array); the same
/// numbers as the `SLOT_*`/`MAT_*` constants of dbm.wgsl.
#[derive(Clone, Copy)]
enum Slot {
    A = 0,
    HiddenP1 = 1,
    HiddenP2 = 2,
    DeepP1 = 3,
    DeepP2 = 4,
    M0 = 5,
    F = 6,
    JDiag = 7,
    WRows = 8,
    WCols = 11,
    MRows = 14,
    MCols = 17,
    K = 20,
    L = 23,
    J = 26,
    /// Colour classes of J_v (in the index array): class pointers, then the units.
    ColourPtr = 29,
    ColourUnits = 30,
}

const SLOTS: usize = 32;

/// Everything a sampler needs: f32 values and u32 CSR structure, located by slots.
#[derive(Clone, Debug)]
pub struct Coefficients {
    nv: usize,
    nh: usize,
    ns: usize,
    spin: bool,
    hidden_gaussian: bool,
    deep_gaussian: bool,
    slots: [u32; SLOTS],
    values: Vec<f32>,
    index: Vec<u32>,
    /// Bernoulli deep biases in f64 (softplus-reduced model).
    deep_bias: Vec<f64>,
    /// The visible-only sweep's update order: the units of colour class 0, then class 1, …
    /// (ascending within a class); classes[c]..classes[c + 1] indexes it.
    visible_order: Vec<u32>,
    /// Offsets of the colour classes in `visible_order`.
    colour_classes: Vec<u32>,
}

/// Greedy colouring of the graph with an edge where `coupled(a, b)` (a ≠ b): units in
/// order of decreasing degree (ties by index) take the smallest colour none of their
/// neighbours has. Returns the classes, each ascending, in colour order.
pub fn greedy_colouring(n: usize, coupled: impl Fn(usize, usize) -> bool) -> Vec<Vec<u32>> {
    let neighbours: Vec<Vec<usize>> = (0..n)
        .map(|a| {
            (0..n)
                .filter(|&b| b != a && (coupled(a, b) || coupled(b, a)))
                .collect()
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&a| (std::cmp::Reverse(neighbours[a].len()), a));
    let mut colour = vec![usize::MAX; n];
    let mut classes: Vec<Vec<u32>> = Vec::new();
    for a in order {
        let mut taken = vec![false; neighbours[a].len() + 1];
        for &b in &neighbours[a] {
            if colour[b] < taken.len() {
                taken[colour[b]] = true;
            }
        }
        let c = taken.iter().position(|&t| !t).unwrap_or(taken.len());
        colour[a] = c;
        if c == classes.len() {
            classes.push(Vec::new());
        }
        classes[c].push(a as u32);
    }
    for class in &mut classes {
        class.sort();
    }
    classes
}

fn layer_params(layer: &Layer) -> (Vec<f64>, Vec<f64>) {
    match layer {
        Layer::Gaussian { mean, std } => (mean.clone(), std.clone()),
        Layer::Bernoulli { bias } => (bias.clone(), vec![0.0; bias.len()]),
    }
}

impl Coefficients {
    fn vector(&mut self, slot: Slot, xs: impl Iterator<Item = f64>) {
        self.slots[slot as usize] = self.values.len() as u32;
        self.values.extend(xs.map(|x| x as f32));
    }

    /// Stores `rows × cols` entries `entry(r, c)` as CSR, keeping nonzeros (and skipping the
    /// diagonal if asked).
    fn matrix(
        &mut self,
        slot: Slot,
        rows: usize,
        cols: usize,
        skip_diagonal: bool,
        entry: impl Fn(usize, usize) -> f64,
    ) {
        let s = slot as usize;
        self.slots[s] = self.index.len() as u32;
        let mut cols_list = Vec::new();
        let mut vals = Vec::new();
        let mut ptr = vec![0u32];
        for r in 0..rows {
            for c in 0..cols {
                let x = entry(r, c);
                if x != 0.0 && !(skip_diagonal && r == c) {
                    cols_list.push(c as u32);
                    vals.push(x as f32);
                }
            }
            ptr.push(cols_list.len() as u32);
        }
        self.index.extend(ptr);
        self.slots[s + 1] = self.index.len() as u32;
        self.index.extend(cols_list);
        self.slots[s + 2] = self.values.len() as u32;
        self.values.extend(vals);
    }

    /// Flattens the model and (where it exists) its recursion.
    pub fn new(model: &Dbm, r: &Recursion) -> Self {
        let (nv, nh, ns) = model.sizes();
        let (hp1, hp2) = layer_params(&model.hidden);
        let (dp1, dp2) = layer_params(&model.deep);
        let mut c = Coefficients {
            nv,
            nh,
            ns,
            spin: model.visible_units == VisibleUnits::Spin,
            hidden_gaussian: model.hidden.is_gaussian(),
            deep_gaussian: model.deep.is_gaussian(),
            slots: [0; SLOTS],
            values: Vec::new(),
            index: Vec::new(),
            deep_bias: dp1.clone(),
            visible_order: (0..nv as u32).collect(),
            colour_classes: vec![0, nv as u32],
        };
        let (w, m) = (&model.visible_hidden, &model.hidden_deep);
        c.vector(Slot::A, model.visible_bias.iter().copied());
        c.vector(Slot::HiddenP1, hp1.into_iter());
        c.vector(Slot::HiddenP2, hp2.into_iter());
        c.vector(Slot::DeepP1, dp1.into_iter());
        c.vector(Slot::DeepP2, dp2.into_iter());
        c.matrix(Slot::WRows, nv, nh, false, |i, j| w[i][j]);
        c.matrix(Slot::WCols, nh, nv, false, |j, i| w[i][j]);
        c.matrix(Slot::MRows, nh, ns, false, |j, k| m[j][k]);
        c.matrix(Slot::MCols, ns, nh, false, |k, j| m[j][k]);
        if let (Some(cov), Some(mean)) = (&r.hidden_covariance, &r.hidden_mean) {
            let k = cov * super::analytic::weights(model).0.transpose();
            let l = cov
                .clone()
                .cholesky()
                .map(|ch| ch.l())
                .unwrap_or_else(|| cov * 0.0);
            c.vector(Slot::M0, mean.iter().copied());
            c.matrix(Slot::K, nh, nv, false, |j, i| k[(j, i)]);
            c.matrix(Slot::L, nh, nh, false, |j, l2| {
                if l2 <= j { l[(j, l2)] } else { 0.0 }
            });
        }
        if let (Some(j), Some(f)) = (&r.visible_coupling, &r.visible_field) {
            c.vector(Slot::F, f.iter().copied());
            c.vector(Slot::JDiag, (0..nv).map(|i| j[(i, i)]));
            c.matrix(Slot::J, nv, nv, true, |a, b| j[(a, b)]);
            let classes = greedy_colouring(nv, |a, b| j[(a, b)] != 0.0);
            c.colour_classes = std::iter::once(0)
                .chain(classes.iter().scan(0, |end, class| {
                    *end += class.len() as u32;
                    Some(*end)
                }))
                .collect();
            c.visible_order = classes.concat();
        }
        c.slots[Slot::ColourPtr as usize] = c.index.len() as u32;
        c.index.extend_from_slice(&c.colour_classes);
        c.slots[Slot::ColourUnits as usize] = c.index.len() as u32;
        c.index.extend_from_slice(&c.visible_order);
        for v in [&mut c.values] {
            if v.is_empty() {
                v.push(0.0);
            }
        }
        if c.index.is_empty() {
            c.index.push(0);
        }
        c
    }

    fn at(&self, slot: Slot, i: usize) -> f32 {
        self.values[self.slots[slot as usize] as usize + i]
    }

    /// Σ_k value · x[col] over row `row` of a CSR matrix, in storage order (as the kernels).
    fn row_dot(&self, mat: Slot, row: usize, x: &[f32]) -> f32 {
        let s = mat as usize;
        let ptr = self.slots[s] as usize;
        let (cols, vals) = (self.slots[s + 1] as usize, self.slots[s + 2] as usize);
        let mut acc = 0.0f32;
        for k in self.index[ptr + row] as usize..self.index[ptr + row + 1] as usize {
            acc += self.values[vals + k] * x[self.index[cols + k] as usize];
        }
        acc
    }

    /// Number of colour classes of the visible-only sweep.
    pub fn colours(&self) -> usize {
        self.colour_classes.len() - 1
    }

    /// Total stored nonzeros (a cost measure).
    pub fn nonzeros(&self) -> usize {
        self.values.len()
    }
}

/// What a level needs; an error names what is missing.
fn check_level(level: Level, model: &Dbm, r: &Recursion) -> Result<()> {
    let missing = |what: &str| {
        Err(Error::invalid(
            "level",
            format!("{} needs {what}", level.name()),
        ))
    };
    match level {
        Level::Full => Ok(()),
        Level::VisibleHidden if r.hidden_covariance.is_some() => Ok(()),
        Level::VisibleHidden if model.hidden.is_gaussian() => Ok(()), // bernoulli deep: softplus model
        Level::VisibleHidden => missing("a gaussian hidden layer"),
        Level::Visible if r.visible_coupling.is_some() => Ok(()),
        Level::Visible => missing("gaussian hidden and deep layers (closed-form J_v, f_v)"),
        Level::HiddenPrior => Ok(()),
    }
}

/// All chains' current values (chain-major; visible values are 0/1 or ±1).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// chains × n_v.
    pub visible: Vec<f32>,
    /// chains × n_h.
    pub hidden: Vec<f32>,
    /// chains × n_s.
    pub deep: Vec<f32>,
}

/// A set of DBM chains.
pub trait DbmSampler: Send {
    /// Backend description.
    fn info(&self) -> BackendInfo;
    /// Runs `sweeps` block Gibbs sweeps.
    fn advance(&mut self, sweeps: u32) -> Result<()>;
    /// Current values of every chain.
    fn snapshot(&mut self) -> Result<Snapshot>;
}

/// Chains of one level of one model.
#[derive(Clone, Debug)]
pub struct DbmSpec {
    /// Which model.
    pub level: Level,
    /// Independent chains.
    pub chains: u32,
    /// Philox key.
    pub seed: u64,
}

/// Opens a DBM sampler on the chosen backend (`auto` falls back to the CPU with a notice,
/// and always for the CPU-only softplus model).
///
/// # Errors
/// As the samplers' constructors.
pub fn open(
    backend: crate::backend::BackendChoice,
    model: &Dbm,
    r: &Recursion,
    spec: DbmSpec,
    notice: &mut dyn FnMut(&str),
) -> Result<Box<dyn DbmSampler>> {
    let cpu_only = spec.level == Level::VisibleHidden && !model.deep.is_gaussian();
    if cpu_only {
        return Ok(Box::new(CpuDbmSampler::new(model, r, spec)?));
    }
    match backend.context(notice)? {
        Some(ctx) => Ok(Box::new(GpuDbmSampler::new(ctx, model, r, spec)?)),
        None => Ok(Box::new(CpuDbmSampler::new(model, r, spec)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::gpu::{DBM_WORKGROUP, GpuDbmParams, GpuDbmStep};
    use super::*;
    use crate::shaders::reflect::{constant, rust_layout, uniform};

    /// The f32 constants of the Box–Muller and uniform draws are the same bits on both
    /// sides.
    #[test]
    fn float_constants_match() {
        let m = naga::front::wgsl::parse_str(&crate::shaders::DBM_SAMPLER.source()).unwrap();
        for (name, rust) in [("TWO_POW_MINUS_24", TWO_POW_MINUS_24), ("TWO_PI", TWO_PI)] {
            let (_, c) = m
                .constants
                .iter()
                .find(|(_, c)| c.name.as_deref() == Some(name))
                .unwrap();
            match m.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::F32(v)) => {
                    assert_eq!(v.to_bits(), rust.to_bits(), "{name}")
                }
                ref e => panic!("{name}: {e:?}"),
            }
        }
    }

    #[test]
    fn workgroup_size_matches() {
        assert_eq!(
            constant(&crate::shaders::DBM_SAMPLER, "DBM_WORKGROUP") as u64,
            DBM_WORKGROUP
        );
    }

    /// `DbmParams` and `DbmStep` of shaders/dbm.wgsl have the size and member offsets of
    /// their Rust twins.
    #[test]
    fn uniform_blocks_match_their_rust_twins() {
        let m = &crate::shaders::DBM_SAMPLER;
        assert_eq!(
            uniform(m, 0),
            rust_layout!(GpuDbmParams; sizes, flags, key, bases, slots)
        );
        assert_eq!(
            uniform(m, 1),
            rust_layout!(GpuDbmStep; sweep, total_threads, colour)
        );
    }
}
