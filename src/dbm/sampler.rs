//! Block Gibbs samplers of a DBM at every level of the recursion, on the GPU
//! (`shaders/dbm.wgsl`) and on the CPU (the twins below, in the same f32 arithmetic).
//!
//! | level | variables | one sweep |
//! |---|---|---|
//! | `full` | v, h, s | h ~ p(h\|v,s); then v ~ p(v\|h) and s ~ p(s\|h) |
//! | `visible-hidden` | v, h | h ~ N(A⁻¹(b₀ + Wᵀv), A⁻¹) = m₀ + K v + L z; then v ~ p(v\|h) |
//! | `visible` | v | sites in order, v_i ~ p(v_i\|v_rest) of p(v) ∝ exp(f_v·v + ½vᵀJ_v v) |
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
        }
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

fn words(key: [u32; 2], unit: usize, sweep: u32, chain: usize, purpose: u32) -> [u32; 4] {
    philox4x32_10([unit as u32, sweep, chain as u32, purpose], key)
}

fn unit_uniform(w: u32) -> f32 {
    (w >> 8) as f32 * TWO_POW_MINUS_24
}

fn bernoulli_draw(w: u32, p: f32) -> f32 {
    if unit_uniform(w) < p { 1.0 } else { 0.0 }
}

fn sigmoid32(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Initial values: visible bits from Philox, hidden and deep at their means (0 for bernoulli).
fn initial(c: &Coefficients, chains: usize, key: [u32; 2], visible_present: bool) -> Snapshot {
    let visible = (0..chains * c.nv)
        .map(|t| {
            if !visible_present {
                return 0.0;
            }
            let b = (words(key, t % c.nv, 0, t / c.nv, PURPOSE_INIT)[0] >> 31) as f32;
            if c.spin { 2.0 * b - 1.0 } else { b }
        })
        .collect();
    let start = |gaussian: bool, p1: Slot, n: usize| -> Vec<f32> {
        (0..chains * n)
            .map(|t| if gaussian { c.at(p1, t % n) } else { 0.0 })
            .collect()
    };
    Snapshot {
        visible,
        hidden: start(c.hidden_gaussian, Slot::HiddenP1, c.nh),
        deep: start(c.deep_gaussian, Slot::DeepP1, c.ns),
    }
}

// ---- CPU twins of the kernels (one chain's slices) ----

/// Bernoulli random word of unit u: word u % 4 of counter u / 4.
fn unit_word(key: [u32; 2], u: usize, sweep: u32, chain: usize, purpose: u32) -> u32 {
    words(key, u / 4, sweep, chain, purpose)[u % 4]
}

/// Standard normal of unit u: Box–Muller of counter 2(u/4) + (u%4)/2, cos for even u, sin
/// for odd (as `group_normals` in dbm.wgsl).
fn unit_normal(key: [u32; 2], u: usize, sweep: u32, chain: usize, purpose: u32) -> f32 {
    let w = words(key, 2 * (u / 4) + (u % 4) / 2, sweep, chain, purpose);
    let u1 = ((w[0] >> 8) as f32 + 0.5) * TWO_POW_MINUS_24;
    let u2 = (w[1] >> 8) as f32 * TWO_POW_MINUS_24;
    let r = (-2.0 * u1.ln()).sqrt();
    let th = TWO_PI * u2;
    if u.is_multiple_of(2) {
        r * th.cos()
    } else {
        r * th.sin()
    }
}

/// Twin of `layer_draw`: a hidden or deep unit with input x.
fn layer_draw(
    c: &Coefficients,
    gaussian: bool,
    (p1, p2): (Slot, Slot),
    key: [u32; 2],
    unit: usize,
    sweep: u32,
    chain: usize,
    purpose: u32,
    x: f32,
) -> f32 {
    let mean_or_bias = c.at(p1, unit);
    if gaussian {
        let sd = c.at(p2, unit);
        mean_or_bias + sd * sd * x + sd * unit_normal(key, unit, sweep, chain, purpose)
    } else {
        bernoulli_draw(
            unit_word(key, unit, sweep, chain, purpose),
            sigmoid32(mean_or_bias + x),
        )
    }
}

/// Twin of `dbm_hidden` for unit j of one chain.
fn hidden_unit(
    c: &Coefficients,
    key: [u32; 2],
    sweep: u32,
    chain: usize,
    j: usize,
    v: &[f32],
    s: &[f32],
    visible_present: bool,
) -> f32 {
    let mut x = 0.0f32;
    if visible_present {
        x = c.row_dot(Slot::WCols, j, v);
    }
    x += c.row_dot(Slot::MRows, j, s);
    layer_draw(
        c,
        c.hidden_gaussian,
        (Slot::HiddenP1, Slot::HiddenP2),
        key,
        j,
        sweep,
        chain,
        PURPOSE_HIDDEN,
        x,
    )
}

/// Twin of the visible half of `dbm_outer`.
fn visible_unit(
    c: &Coefficients,
    key: [u32; 2],
    sweep: u32,
    chain: usize,
    i: usize,
    h: &[f32],
) -> f32 {
    let x = c.at(Slot::A, i) + c.row_dot(Slot::WRows, i, h);
    let w = unit_word(key, i, sweep, chain, PURPOSE_VISIBLE);
    if c.spin {
        2.0 * bernoulli_draw(w, sigmoid32(2.0 * x)) - 1.0
    } else {
        bernoulli_draw(w, sigmoid32(x))
    }
}

/// Twin of the deep half of `dbm_outer`.
fn deep_unit(
    c: &Coefficients,
    key: [u32; 2],
    sweep: u32,
    chain: usize,
    k: usize,
    h: &[f32],
) -> f32 {
    let x = c.row_dot(Slot::MCols, k, h);
    layer_draw(
        c,
        c.deep_gaussian,
        (Slot::DeepP1, Slot::DeepP2),
        key,
        k,
        sweep,
        chain,
        PURPOSE_DEEP,
        x,
    )
}

/// Twin of `dbm_noise` followed by `dbm_hidden_reduced`, for all hidden units of a chain.
fn hidden_reduced(
    c: &Coefficients,
    key: [u32; 2],
    sweep: u32,
    chain: usize,
    v: &[f32],
    h: &mut [f32],
) {
    let z: Vec<f32> = (0..c.nh)
        .map(|j| unit_normal(key, j, sweep, chain, PURPOSE_HIDDEN))
        .collect();
    for (j, hj) in h.iter_mut().enumerate() {
        let x = c.at(Slot::M0, j) + c.row_dot(Slot::K, j, v);
        *hj = x + c.row_dot(Slot::L, j, &z);
    }
}

/// Twin of `dbm_visible_pairwise` for one chain.
fn visible_pairwise(c: &Coefficients, key: [u32; 2], sweep: u32, chain: usize, v: &mut [f32]) {
    for i in 0..c.nv {
        let x = c.at(Slot::F, i) + c.row_dot(Slot::J, i, v);
        let w = unit_word(key, i, sweep, chain, PURPOSE_VISIBLE);
        v[i] = if c.spin {
            2.0 * bernoulli_draw(w, sigmoid32(2.0 * x)) - 1.0
        } else {
            bernoulli_draw(w, sigmoid32(x + 0.5 * c.at(Slot::JDiag, i)))
        };
    }
}

/// h | v of the softplus-reduced model (bernoulli deep layer): independence MH proposing
/// h' ~ N(μ + σ²Wᵀv, σ²), accepted with min(1, exp(Σ_k softplus(d_k + (Mᵀh')_k) − (same at h))).
fn hidden_softplus(
    c: &Coefficients,
    key: [u32; 2],
    sweep: u32,
    chain: usize,
    v: &[f32],
    h: &mut [f32],
) {
    let log_w = |h: &[f32]| -> f64 {
        (0..c.ns)
            .map(|k| softplus(c.deep_bias[k] + c.row_dot(Slot::MCols, k, h) as f64))
            .sum()
    };
    let proposal: Vec<f32> = (0..c.nh)
        .map(|j| {
            let x = c.row_dot(Slot::WCols, j, v);
            let (mu, sd) = (c.at(Slot::HiddenP1, j), c.at(Slot::HiddenP2, j));
            mu + sd * sd * x + sd * unit_normal(key, j, sweep, chain, PURPOSE_HIDDEN)
        })
        .collect();
    let log_ratio = log_w(&proposal) - log_w(h);
    let u = words(key, 0, sweep, chain, PURPOSE_ACCEPT);
    let u = ((u[0] as u64) << 21 ^ (u[1] as u64 >> 11)) as f64 / (1u64 << 53) as f64;
    if log_ratio >= 0.0 || u < log_ratio.exp() {
        h.copy_from_slice(&proposal);
    }
}

/// The CPU sampler: chains in parallel (rayon), each running the kernels' twins in order.
pub struct CpuDbmSampler {
    c: Arc<Coefficients>,
    spec: DbmSpec,
    key: [u32; 2],
    state: Snapshot,
    sweep: u32,
}

impl CpuDbmSampler {
    /// Builds the chains of `model` (with its recursion `r`, which supplies the reduced
    /// models' parameters).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the level does not exist for this model.
    pub fn new(model: &Dbm, r: &Recursion, spec: DbmSpec) -> Result<Self> {
        check_level(spec.level, model, r)?;
        let c = Coefficients::new(model, r);
        let key = seed_key(spec.seed);
        let state = initial(
            &c,
            spec.chains as usize,
            key,
            spec.level != Level::HiddenPrior,
        );
        Ok(CpuDbmSampler {
            c: Arc::new(c),
            spec,
            key,
            state,
            sweep: 0,
        })
    }

    fn sweep_chain(&self, chain: usize, v: &mut [f32], h: &mut [f32], s: &mut [f32], sweep: u32) {
        let (c, key) = (&*self.c, self.key);
        match self.spec.level {
            Level::Full | Level::HiddenPrior => {
                let present = self.spec.level == Level::Full;
                for j in 0..c.nh {
                    h[j] = hidden_unit(c, key, sweep, chain, j, v, s, present);
                }
                if present {
                    for i in 0..c.nv {
                        v[i] = visible_unit(c, key, sweep, chain, i, h);
                    }
                }
                for k in 0..c.ns {
                    s[k] = deep_unit(c, key, sweep, chain, k, h);
                }
            }
            Level::VisibleHidden => {
                if c.deep_gaussian {
                    hidden_reduced(c, key, sweep, chain, v, h);
                } else {
                    hidden_softplus(c, key, sweep, chain, v, h);
                }
                for i in 0..c.nv {
                    v[i] = visible_unit(c, key, sweep, chain, i, h);
                }
            }
            Level::Visible => visible_pairwise(c, key, sweep, chain, v),
        }
    }
}

impl DbmSampler for CpuDbmSampler {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "cpu".into(),
            adapter: format!("{} threads", rayon::current_num_threads()),
            api: "rayon".into(),
            kernel: String::new(),
        }
    }

    fn advance(&mut self, sweeps: u32) -> Result<()> {
        let (nv, nh, ns) = (self.c.nv, self.c.nh, self.c.ns);
        let first = self.sweep;
        let mut state = std::mem::take(&mut self.state);
        state
            .visible
            .par_chunks_mut(nv.max(1))
            .zip(state.hidden.par_chunks_mut(nh.max(1)))
            .zip(state.deep.par_chunks_mut(ns.max(1)))
            .enumerate()
            .for_each(|(chain, ((v, h), s))| {
                for i in 0..sweeps {
                    self.sweep_chain(chain, v, h, s, first + i);
                }
            });
        self.state = state;
        self.sweep += sweeps;
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snap = self.state.clone();
        if self.spec.level == Level::VisibleHidden {
            snap.deep.clear(); // s is integrated out
        }
        Ok(snap)
    }
}

/// Transposes a `rows × cols` row-major array (chain-major ↔ unit-major).
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols * rows)
        .map(|t| x[(t % rows) * cols + t / rows])
        .collect()
}

/// Uniform block `DbmParams` of dbm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuDbmParams {
    sizes: [u32; 4],
    flags: [u32; 4],
    key: [u32; 4],
    bases: [u32; 4],
    slots: [u32; SLOTS],
}

/// Uniform block `DbmStep` of dbm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuDbmStep {
    sweep: u32,
    total_threads: u32,
    pad: [u32; 2],
}

const DBM_WORKGROUP: u64 = 64;
const MAX_DBM_STEPS: usize = 768;

/// The GPU sampler. All unit values live in one buffer, layer after layer
/// (visible, hidden, deep, noise), each unit-major.
pub struct GpuDbmSampler {
    ctx: Arc<GpuContext>,
    spec: DbmSpec,
    sizes: [usize; 3],
    kernels: KernelSet,
    /// (invocations, workgroups) of each kernel of a sweep, in order.
    sweep_kernels: Vec<(u32, (u32, u32))>,
    units: wgpu::Buffer,
    sweep: u32,
}

impl GpuDbmSampler {
    /// Uploads the model and the initial state and builds the kernels of the level.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the level does not exist for this model (or is the
    /// CPU-only softplus model); [`Error::DeviceLimit`] if it does not fit; [`Error::Gpu`].
    pub fn new(ctx: Arc<GpuContext>, model: &Dbm, r: &Recursion, spec: DbmSpec) -> Result<Self> {
        check_level(spec.level, model, r)?;
        if spec.level == Level::VisibleHidden && !model.deep.is_gaussian() {
            return Err(Error::invalid(
                "backend",
                "the softplus-reduced (v, h) model of a bernoulli deep layer runs on the CPU backend only",
            ));
        }
        let c = Coefficients::new(model, r);
        let chains = spec.chains as usize;
        let (nv, nh, ns) = (c.nv, c.nh, c.ns);
        let init = initial(
            &c,
            chains,
            seed_key(spec.seed),
            spec.level != Level::HiddenPrior,
        );
        // one buffer: visible | hidden | deep | noise, each unit-major
        let mut units: Vec<f32> = transpose(&init.visible, chains, nv);
        let bases = [0, chains * nv, chains * (nv + nh), chains * (nv + nh + ns)];
        units.extend(transpose(&init.hidden, chains, nh));
        units.extend(transpose(&init.deep, chains, ns));
        units.resize(bases[3] + chains * nh, 0.0);
        let limit = ctx
            .limits
            .max_storage_buffer_binding_size
            .min(ctx.limits.max_buffer_size);
        for (what, bytes) in [
            ("the model coefficients", 4 * c.values.len() as u64),
            ("the model's sparse structure", 4 * c.index.len() as u64),
            ("the unit values of all chains", 4 * units.len() as u64),
        ] {
            if bytes > limit || bytes > u32::MAX as u64 {
                return Err(Error::DeviceLimit(format!(
                    "{what} need {bytes} bytes but the adapter's max_storage_buffer_binding_size is {limit}; use fewer chains"
                )));
            }
        }
        // invocations: one per group of four units and chain (one per chain for the pairwise sweep)
        let groups = |n: usize| (n.div_ceil(4) * chains) as u32;
        let (entry_points, threads): (Vec<&str>, Vec<u32>) = match spec.level {
            Level::Full | Level::HiddenPrior => (
                vec!["dbm_hidden", "dbm_outer"],
                vec![groups(nh), groups(nv) + groups(ns)],
            ),
            Level::VisibleHidden => (
                vec!["dbm_noise", "dbm_hidden_reduced", "dbm_outer"],
                vec![groups(nh), groups(nh), groups(nv)],
            ),
            Level::Visible => (vec!["dbm_visible_pairwise"], vec![chains as u32]),
        };
        let params = GpuDbmParams {
            // in the reduced (v, h) model s is integrated out: dbm_outer covers v only
            sizes: [
                nv as u32,
                nh as u32,
                if spec.level == Level::VisibleHidden {
                    0
                } else {
                    ns as u32
                },
                spec.chains,
            ],
            flags: [
                c.spin as u32,
                c.hidden_gaussian as u32,
                c.deep_gaussian as u32,
                (spec.level != Level::HiddenPrior) as u32,
            ],
            key: {
                let k = seed_key(spec.seed);
                [k[0], k[1], 0, 0]
            },
            bases: bases.map(|b| b as u32),
            slots: c.slots,
        };
        let device = &ctx.device;
        let init_buffer = |label, contents: &[u8], usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
        };
        let coef = init_buffer(
            "dbm coefficients",
            bytemuck::cast_slice(&c.values),
            wgpu::BufferUsages::STORAGE,
        );
        let index = init_buffer(
            "dbm sparse structure",
            bytemuck::cast_slice(&c.index),
            wgpu::BufferUsages::STORAGE,
        );
        let units = init_buffer(
            "dbm units",
            bytemuck::cast_slice(&units),
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        );
        let kernels = KernelSet::new(
            &ctx,
            &crate::shaders::DBM_SAMPLER,
            &entry_points,
            bytemuck::bytes_of(&params),
            size_of::<GpuDbmStep>() as u64,
            MAX_DBM_STEPS,
            &[(&coef, true), (&index, true), (&units, false)],
        )?;
        let sweep_kernels = threads
            .iter()
            .map(|&t| Ok((t, ctx.grid((t as u64).div_ceil(DBM_WORKGROUP))?)))
            .collect::<Result<Vec<_>>>()?;
        ctx.wait()?;
        Ok(GpuDbmSampler {
            ctx,
            spec,
            sizes: [nv, nh, ns],
            kernels,
            sweep_kernels,
            units,
            sweep: 0,
        })
    }
}

impl DbmSampler for GpuDbmSampler {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "gpu".into(),
            adapter: self.ctx.adapter_name.clone(),
            api: self.ctx.api.clone(),
            kernel: String::new(),
        }
    }

    fn advance(&mut self, sweeps: u32) -> Result<()> {
        let per_sweep = self.sweep_kernels.len();
        let per_submit = (self.kernels.capacity() / per_sweep) as u32;
        let mut done = 0;
        while done < sweeps {
            let n = (sweeps - done).min(per_submit);
            let first = self.sweep + done;
            let kernels = &self.sweep_kernels;
            let steps: Vec<GpuDbmStep> = (0..n)
                .flat_map(|i| {
                    kernels.iter().map(move |&(total_threads, _)| GpuDbmStep {
                        sweep: first + i,
                        total_threads,
                        pad: [0; 2],
                    })
                })
                .collect();
            let dispatches: Vec<Dispatch> = steps
                .iter()
                .enumerate()
                .map(|(i, step)| Dispatch {
                    kernel: i % per_sweep,
                    step: bytemuck::bytes_of(step),
                    workgroups: self.sweep_kernels[i % per_sweep].1,
                })
                .collect();
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            self.kernels.record(&self.ctx, &mut enc, &dispatches);
            self.ctx.queue.submit([enc.finish()]);
            self.ctx.wait()?;
            done += n;
        }
        self.sweep += sweeps;
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let chains = self.spec.chains as usize;
        let [nv, nh, ns] = self.sizes;
        let layers = chains * (nv + nh + ns);
        let bytes = self.ctx.read_buffer(&self.units, 4 * layers as u64)?;
        let all: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (v, rest) = all.split_at(chains * nv);
        let (h, s) = rest.split_at(chains * nh);
        let deep = if self.spec.level == Level::VisibleHidden {
            Vec::new()
        } else {
            transpose(s, ns, chains)
        };
        Ok(Snapshot {
            visible: transpose(v, nv, chains),
            hidden: transpose(h, nh, chains),
            deep,
        })
    }
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
            rust_layout!(GpuDbmStep; sweep, total_threads)
        );
    }
}
