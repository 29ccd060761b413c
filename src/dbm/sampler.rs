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

use super::analytic::{Recursion, recursion, softplus};
use super::model::{Dbm, Layer, VisibleUnits};
use crate::backend::gpu::GpuContext;
use crate::backend::BackendInfo;
use crate::error::{Error, Result};
use crate::rng::{philox4x32_10, seed_key};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// Which model is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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

const PURPOSE_VISIBLE: u32 = 2;
const PURPOSE_HIDDEN: u32 = 3;
const PURPOSE_DEEP: u32 = 4;
const PURPOSE_INIT: u32 = 5;
const PURPOSE_ACCEPT: u32 = 6;

/// Offsets into the f32 coefficient array (same order as `DbmParams` in dbm.wgsl).
#[derive(Clone, Copy, Debug, Default)]
struct Offsets {
    a: usize,
    w: usize,
    m: usize,
    hidden_p1: usize,
    hidden_p2: usize,
    deep_p1: usize,
    deep_p2: usize,
    k: usize,
    m0: usize,
    l: usize,
    j: usize,
    f: usize,
}

/// Everything a sampler needs, flattened to f32.
#[derive(Clone, Debug)]
pub struct Coefficients {
    nv: usize,
    nh: usize,
    ns: usize,
    spin: bool,
    hidden_gaussian: bool,
    deep_gaussian: bool,
    off: Offsets,
    data: Vec<f32>,
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
    /// Flattens the model and (where it exists) its recursion.
    pub fn new(model: &Dbm, r: &Recursion) -> Self {
        let (nv, nh, ns) = model.sizes();
        let mut data: Vec<f32> = Vec::new();
        let push = |v: &mut Vec<f32>, xs: &mut dyn Iterator<Item = f64>| {
            let at = v.len();
            v.extend(xs.map(|x| x as f32));
            at
        };
        let (hp1, hp2) = layer_params(&model.hidden);
        let (dp1, dp2) = layer_params(&model.deep);
        let mut off = Offsets {
            a: push(&mut data, &mut model.visible_bias.iter().copied()),
            w: push(&mut data, &mut model.visible_hidden.iter().flatten().copied()),
            m: push(&mut data, &mut model.hidden_deep.iter().flatten().copied()),
            hidden_p1: push(&mut data, &mut hp1.into_iter()),
            hidden_p2: push(&mut data, &mut hp2.into_iter()),
            deep_p1: push(&mut data, &mut dp1.iter().copied()),
            deep_p2: push(&mut data, &mut dp2.into_iter()),
            ..Default::default()
        };
        if let (Some(cov), Some(mean)) = (&r.hidden_covariance, &r.hidden_mean) {
            let w = super::analytic::weights(model).0;
            let k = cov * w.transpose();
            let l = cov.clone().cholesky().map(|c| c.l()).unwrap_or_else(|| cov.clone() * 0.0);
            off.k = push(&mut data, &mut (0..nh).flat_map(|j| (0..nv).map(move |i| (j, i))).map(|(j, i)| k[(j, i)]));
            off.m0 = push(&mut data, &mut mean.iter().copied());
            off.l = push(&mut data, &mut (0..nh).flat_map(|j| (0..nh).map(move |c| (j, c))).map(|(j, c)| l[(j, c)]));
        }
        if let (Some(j), Some(f)) = (&r.visible_coupling, &r.visible_field) {
            off.j = push(&mut data, &mut (0..nv).flat_map(|a| (0..nv).map(move |b| (a, b))).map(|(a, b)| j[(a, b)]));
            off.f = push(&mut data, &mut f.iter().copied());
        }
        if data.is_empty() {
            data.push(0.0);
        }
        Coefficients {
            nv,
            nh,
            ns,
            spin: model.visible_units == VisibleUnits::Spin,
            hidden_gaussian: model.hidden.is_gaussian(),
            deep_gaussian: model.deep.is_gaussian(),
            off,
            data,
            deep_bias: dp1,
        }
    }
}

/// What a level needs; an error names what is missing.
fn check_level(level: Level, model: &Dbm, r: &Recursion) -> Result<()> {
    let missing = |what: &str| {
        Err(Error::invalid("--level", format!("{} needs {what}", level.name())))
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
    (w >> 8) as f32 * 5.960_464_5e-8
}

fn bernoulli_draw(w: u32, p: f32) -> f32 {
    if unit_uniform(w) < p { 1.0 } else { 0.0 }
}

fn sigmoid32(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn normal_draw(w: [u32; 4]) -> f32 {
    let u1 = ((w[0] >> 8) as f32 + 0.5) * 5.960_464_5e-8;
    let u2 = (w[1] >> 8) as f32 * 5.960_464_5e-8;
    (-2.0 * u1.ln()).sqrt() * (6.283_185_5 * u2).cos()
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
    let start = |gaussian: bool, p1: usize, n: usize| -> Vec<f32> {
        (0..chains * n).map(|t| if gaussian { c.data[p1 + t % n] } else { 0.0 }).collect()
    };
    Snapshot {
        visible,
        hidden: start(c.hidden_gaussian, c.off.hidden_p1, c.nh),
        deep: start(c.deep_gaussian, c.off.deep_p1, c.ns),
    }
}

// ---- CPU twins of the kernels (one chain's slices) ----

/// Twin of `dbm_hidden`.
fn hidden_unit(c: &Coefficients, key: [u32; 2], sweep: u32, chain: usize, j: usize, v: &[f32], s: &[f32], visible_present: bool) -> f32 {
    let mut x = 0.0f32;
    if visible_present {
        for i in 0..c.nv {
            x += c.data[c.off.w + i * c.nh + j] * v[i];
        }
    }
    for k in 0..c.ns {
        x += c.data[c.off.m + j * c.ns + k] * s[k];
    }
    let w = words(key, j, sweep, chain, PURPOSE_HIDDEN);
    let p1 = c.data[c.off.hidden_p1 + j];
    if c.hidden_gaussian {
        let sd = c.data[c.off.hidden_p2 + j];
        p1 + sd * sd * x + sd * normal_draw(w)
    } else {
        bernoulli_draw(w[0], sigmoid32(p1 + x))
    }
}

/// Twin of the visible half of `dbm_outer`.
fn visible_unit(c: &Coefficients, key: [u32; 2], sweep: u32, chain: usize, i: usize, h: &[f32]) -> f32 {
    let mut x = c.data[c.off.a + i];
    for j in 0..c.nh {
        x += c.data[c.off.w + i * c.nh + j] * h[j];
    }
    let w = words(key, i, sweep, chain, PURPOSE_VISIBLE);
    if c.spin { 2.0 * bernoulli_draw(w[0], sigmoid32(2.0 * x)) - 1.0 } else { bernoulli_draw(w[0], sigmoid32(x)) }
}

/// Twin of the deep half of `dbm_outer`.
fn deep_unit(c: &Coefficients, key: [u32; 2], sweep: u32, chain: usize, k: usize, h: &[f32]) -> f32 {
    let mut x = 0.0f32;
    for j in 0..c.nh {
        x += c.data[c.off.m + j * c.ns + k] * h[j];
    }
    let w = words(key, k, sweep, chain, PURPOSE_DEEP);
    let p1 = c.data[c.off.deep_p1 + k];
    if c.deep_gaussian {
        let sd = c.data[c.off.deep_p2 + k];
        p1 + sd * sd * x + sd * normal_draw(w)
    } else {
        bernoulli_draw(w[0], sigmoid32(p1 + x))
    }
}

/// Twin of `dbm_noise` followed by `dbm_hidden_reduced`, for all hidden units of a chain.
fn hidden_reduced(c: &Coefficients, key: [u32; 2], sweep: u32, chain: usize, v: &[f32], h: &mut [f32]) {
    let z: Vec<f32> = (0..c.nh).map(|j| normal_draw(words(key, j, sweep, chain, PURPOSE_HIDDEN))).collect();
    for (j, hj) in h.iter_mut().enumerate() {
        let mut x = c.data[c.off.m0 + j];
        for i in 0..c.nv {
            x += c.data[c.off.k + j * c.nv + i] * v[i];
        }
        for (l, zl) in z.iter().enumerate().take(j + 1) {
            x += c.data[c.off.l + j * c.nh + l] * zl;
        }
        *hj = x;
    }
}

/// Twin of `dbm_visible_pairwise` for one chain.
fn visible_pairwise(c: &Coefficients, key: [u32; 2], sweep: u32, chain: usize, v: &mut [f32]) {
    let nv = c.nv;
    for i in 0..nv {
        let mut x = c.data[c.off.f + i];
        for j in 0..nv {
            if j != i {
                x += c.data[c.off.j + i * nv + j] * v[j];
            }
        }
        let w = words(key, i, sweep, chain, PURPOSE_VISIBLE);
        v[i] = if c.spin {
            2.0 * bernoulli_draw(w[0], sigmoid32(2.0 * x)) - 1.0
        } else {
            bernoulli_draw(w[0], sigmoid32(x + 0.5 * c.data[c.off.j + i * nv + i]))
        };
    }
}

/// h | v of the softplus-reduced model (bernoulli deep layer): independence MH proposing
/// h' ~ N(μ + σ²Wᵀv, σ²), accepted with min(1, exp(Σ_k softplus(d_k + (Mᵀh')_k) − (same at h))).
fn hidden_softplus(c: &Coefficients, key: [u32; 2], sweep: u32, chain: usize, v: &[f32], h: &mut [f32]) {
    let log_w = |h: &[f32]| -> f64 {
        (0..c.ns)
            .map(|k| {
                let t: f64 = (0..c.nh).map(|j| c.data[c.off.m + j * c.ns + k] as f64 * h[j] as f64).sum();
                softplus(c.deep_bias[k] + t)
            })
            .sum()
    };
    let proposal: Vec<f32> = (0..c.nh)
        .map(|j| {
            let mut x = 0.0f32;
            for i in 0..c.nv {
                x += c.data[c.off.w + i * c.nh + j] * v[i];
            }
            let (mu, sd) = (c.data[c.off.hidden_p1 + j], c.data[c.off.hidden_p2 + j]);
            mu + sd * sd * x + sd * normal_draw(words(key, j, sweep, chain, PURPOSE_HIDDEN))
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
    /// Builds the chains.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the level does not exist for this model.
    pub fn new(model: &Dbm, spec: DbmSpec) -> Result<Self> {
        let r = recursion(model)?;
        check_level(spec.level, model, &r)?;
        let c = Coefficients::new(model, &r);
        let key = seed_key(spec.seed);
        let state = initial(&c, spec.chains as usize, key, spec.level != Level::HiddenPrior);
        Ok(CpuDbmSampler { c: Arc::new(c), spec, key, state, sweep: 0 })
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

/// Uniform block `DbmParams` of dbm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuDbmParams {
    sizes: [u32; 4],
    flags: [u32; 4],
    key_a_w: [u32; 4],
    offsets1: [u32; 4],
    offsets2: [u32; 4],
    offsets3: [u32; 4],
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

/// The GPU sampler.
pub struct GpuDbmSampler {
    ctx: Arc<GpuContext>,
    spec: DbmSpec,
    nv: usize,
    nh: usize,
    ns: usize,
    pipelines: Vec<(wgpu::ComputePipeline, u32)>,
    bind_group: wgpu::BindGroup,
    step_buffer: wgpu::Buffer,
    step_stride: u64,
    buffers: [wgpu::Buffer; 3],
    sweep: u32,
}

impl GpuDbmSampler {
    /// Uploads the model and the initial state and builds the pipelines of the level.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the level does not exist for this model (or is the
    /// CPU-only softplus model); [`Error::DeviceLimit`] if it does not fit; [`Error::Gpu`].
    pub fn new(ctx: Arc<GpuContext>, model: &Dbm, spec: DbmSpec) -> Result<Self> {
        let r = recursion(model)?;
        check_level(spec.level, model, &r)?;
        if spec.level == Level::VisibleHidden && !model.deep.is_gaussian() {
            return Err(Error::invalid(
                "--backend",
                "the softplus-reduced (v, h) model of a bernoulli deep layer runs on the CPU backend only",
            ));
        }
        let c = Coefficients::new(model, &r);
        let chains = spec.chains as usize;
        let (nv, nh, ns) = (c.nv, c.nh, c.ns);
        let key = seed_key(spec.seed);
        let init = initial(&c, chains, key, spec.level != Level::HiddenPrior);
        let limit = ctx.limits.max_storage_buffer_binding_size.min(ctx.limits.max_buffer_size);
        for (what, bytes) in [
            ("the model coefficients", 4 * c.data.len() as u64),
            ("the visible states", 4 * (chains * nv) as u64),
            ("the hidden states", 4 * (chains * nh) as u64),
        ] {
            if bytes > limit {
                return Err(Error::DeviceLimit(format!(
                    "{what} need {bytes} bytes but the adapter's max_storage_buffer_binding_size is {limit}; use fewer --chains"
                )));
            }
        }
        let o = c.off;
        let params = GpuDbmParams {
            sizes: [nv as u32, nh as u32, ns as u32, spec.chains],
            flags: [
                c.spin as u32,
                c.hidden_gaussian as u32,
                c.deep_gaussian as u32,
                (spec.level != Level::HiddenPrior) as u32,
            ],
            key_a_w: [key[0], key[1], o.a as u32, o.w as u32],
            offsets1: [o.m as u32, o.hidden_p1 as u32, o.hidden_p2 as u32, o.deep_p1 as u32],
            offsets2: [o.deep_p2 as u32, o.k as u32, o.m0 as u32, o.l as u32],
            offsets3: [o.j as u32, o.f as u32, 0, 0],
        };
        let device = &ctx.device;
        let module = ctx.shader(&crate::shaders::DBM_SAMPLER)?;
        let storage = |read_only| wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        };
        let entry = |binding, ty| wgpu::BindGroupLayoutEntry { binding, visibility: wgpu::ShaderStages::COMPUTE, ty, count: None };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("dbm"),
            entries: &[
                entry(0, wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Uniform, has_dynamic_offset: false, min_binding_size: None }),
                entry(1, wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(size_of::<GpuDbmStep>() as u64),
                }),
                entry(2, storage(true)),
                entry(3, storage(false)),
                entry(4, storage(false)),
                entry(5, storage(false)),
                entry(6, storage(false)),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("dbm"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |name: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(name),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let (c32, h32, o32) = ((chains) as u32, (chains * nh) as u32, (chains * (nv + ns)) as u32);
        let kernels: Vec<(&str, u32)> = match spec.level {
            Level::Full | Level::HiddenPrior => vec![("dbm_hidden", h32), ("dbm_outer", o32)],
            Level::VisibleHidden => vec![("dbm_noise", h32), ("dbm_hidden_reduced", h32), ("dbm_outer", (chains * nv) as u32)],
            Level::Visible => vec![("dbm_visible_pairwise", c32)],
        };
        // dbm_outer threads cover v and s; in the reduced model only v (s is absent)
        let params = if spec.level == Level::VisibleHidden { GpuDbmParams { sizes: [nv as u32, nh as u32, 0, spec.chains], ..params } } else { params };
        let pipelines = kernels.iter().map(|(n, threads)| (pipeline(n), *threads)).collect();
        let buf = |label, contents: &[f32], usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents: bytemuck::cast_slice(contents), usage })
        };
        let rw = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let nonempty = |v: &[f32]| if v.is_empty() { vec![0.0] } else { v.to_vec() };
        let params_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("dbm params"),
            contents: bytemuck::bytes_of(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let coef = buf("dbm coefficients", &c.data, wgpu::BufferUsages::STORAGE);
        let buffers = [
            buf("visible", &nonempty(&init.visible), rw),
            buf("hidden", &nonempty(&init.hidden), rw),
            buf("deep", &nonempty(&init.deep), rw),
        ];
        let noise = buf("noise", &vec![0.0; (chains * nh).max(1)], wgpu::BufferUsages::STORAGE);
        let step_stride = (size_of::<GpuDbmStep>() as u64).next_multiple_of(ctx.limits.min_uniform_buffer_offset_alignment as u64);
        let step_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dbm steps"),
            size: step_stride * MAX_DBM_STEPS as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("dbm"),
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: params_buffer.as_entire_binding() },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &step_buffer,
                        offset: 0,
                        size: wgpu::BufferSize::new(size_of::<GpuDbmStep>() as u64),
                    }),
                },
                wgpu::BindGroupEntry { binding: 2, resource: coef.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: buffers[0].as_entire_binding() },
                wgpu::BindGroupEntry { binding: 4, resource: buffers[1].as_entire_binding() },
                wgpu::BindGroupEntry { binding: 5, resource: buffers[2].as_entire_binding() },
                wgpu::BindGroupEntry { binding: 6, resource: noise.as_entire_binding() },
            ],
        });
        for (_, threads) in &kernels {
            ctx.grid((*threads as u64).div_ceil(DBM_WORKGROUP))?;
        }
        ctx.wait()?;
        Ok(GpuDbmSampler { ctx, spec, nv, nh, ns, pipelines, bind_group, step_buffer, step_stride, buffers, sweep: 0 })
    }
}

impl DbmSampler for GpuDbmSampler {
    fn info(&self) -> BackendInfo {
        BackendInfo { kind: "gpu".into(), adapter: self.ctx.adapter_name.clone(), api: self.ctx.api.clone() }
    }

    fn advance(&mut self, sweeps: u32) -> Result<()> {
        let per_sweep = self.pipelines.len();
        let sweeps_per_submit = (MAX_DBM_STEPS / per_sweep) as u32;
        let mut done = 0;
        while done < sweeps {
            let n = (sweeps - done).min(sweeps_per_submit);
            let stride = self.step_stride as usize;
            let mut table = vec![0u8; stride * n as usize * per_sweep];
            for i in 0..n as usize {
                for (p, (_, threads)) in self.pipelines.iter().enumerate() {
                    let step = GpuDbmStep { sweep: self.sweep + done + i as u32, total_threads: *threads, pad: [0; 2] };
                    let at = (i * per_sweep + p) * stride;
                    table[at..at + size_of::<GpuDbmStep>()].copy_from_slice(bytemuck::bytes_of(&step));
                }
            }
            self.ctx.queue.write_buffer(&self.step_buffer, 0, &table);
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                for i in 0..n as usize * per_sweep {
                    let (pipeline, threads) = &self.pipelines[i % per_sweep];
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, &self.bind_group, &[(i * stride) as u32]);
                    let (x, y) = self.ctx.grid((*threads as u64).div_ceil(DBM_WORKGROUP))?;
                    pass.dispatch_workgroups(x, y, 1);
                }
            }
            self.ctx.queue.submit([enc.finish()]);
            self.ctx.wait()?;
            done += n;
        }
        self.sweep += sweeps;
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let chains = self.spec.chains as usize;
        let read = |b: &wgpu::Buffer, n: usize| -> Result<Vec<f32>> {
            if n == 0 {
                return Ok(Vec::new());
            }
            let bytes = self.ctx.read_buffer(b, 4 * n as u64)?;
            Ok(bytes.chunks_exact(4).map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect())
        };
        let deep = if self.spec.level == Level::VisibleHidden { Vec::new() } else { read(&self.buffers[2], chains * self.ns)? };
        Ok(Snapshot { visible: read(&self.buffers[0], chains * self.nv)?, hidden: read(&self.buffers[1], chains * self.nh)?, deep })
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
    spec: DbmSpec,
    notice: &mut dyn FnMut(&str),
) -> Result<Box<dyn DbmSampler>> {
    use crate::backend::BackendChoice;
    let cpu_only = spec.level == Level::VisibleHidden && !model.deep.is_gaussian();
    match backend {
        BackendChoice::Cpu => Ok(Box::new(CpuDbmSampler::new(model, spec)?)),
        BackendChoice::Auto if cpu_only => Ok(Box::new(CpuDbmSampler::new(model, spec)?)),
        BackendChoice::Gpu => Ok(Box::new(GpuDbmSampler::new(GpuContext::new()?, model, spec)?)),
        BackendChoice::Auto => match GpuContext::new() {
            Ok(ctx) => Ok(Box::new(GpuDbmSampler::new(ctx, model, spec)?)),
            Err(Error::NoAdapter(why)) => {
                notice(&format!("note: no GPU adapter found{why}; using the CPU backend"));
                Ok(Box::new(CpuDbmSampler::new(model, spec)?))
            }
            Err(e) => Err(e),
        },
    }
}
