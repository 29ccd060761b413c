//! The CPU twin of `shaders/dbm.wgsl`: the same Philox words, the same f32 arithmetic,
//! one rayon task per chain.

use super::*;

pub(super) fn words(
    key: [u32; 2],
    unit: usize,
    sweep: u32,
    chain: usize,
    purpose: u32,
) -> [u32; 4] {
    philox4x32_10([unit as u32, sweep, chain as u32, purpose], key)
}

pub(super) fn unit_uniform(w: u32) -> f32 {
    (w >> 8) as f32 * TWO_POW_MINUS_24
}

pub(super) fn bernoulli_draw(w: u32, p: f32) -> f32 {
    if unit_uniform(w) < p { 1.0 } else { 0.0 }
}

pub(super) fn sigmoid32(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Initial values: visible bits from Philox, hidden and deep at their means (0 for bernoulli).
pub(super) fn initial(
    c: &Coefficients,
    chains: usize,
    key: [u32; 2],
    visible_present: bool,
) -> Snapshot {
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
pub(super) fn unit_word(key: [u32; 2], u: usize, sweep: u32, chain: usize, purpose: u32) -> u32 {
    words(key, u / 4, sweep, chain, purpose)[u % 4]
}

/// Standard normal of unit u: Box–Muller of counter 2(u/4) + (u%4)/2, cos for even u, sin
/// for odd (as `group_normals` in dbm.wgsl).
pub(super) fn unit_normal(key: [u32; 2], u: usize, sweep: u32, chain: usize, purpose: u32) -> f32 {
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
pub(super) fn layer_draw(
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
pub(super) fn hidden_unit(
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
pub(super) fn visible_unit(
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
pub(super) fn deep_unit(
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
pub(super) fn hidden_reduced(
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

/// Twin of `dbm_visible_colour` (one dispatch per colour class) and of
/// `dbm_visible_pairwise` for one chain: the units in colour order. Units of one class do
/// not interact, so the order within a class does not matter.
pub(super) fn visible_pairwise(
    c: &Coefficients,
    key: [u32; 2],
    sweep: u32,
    chain: usize,
    v: &mut [f32],
) {
    for &i in &c.visible_order {
        let i = i as usize;
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
pub(super) fn hidden_softplus(
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
            .try_for_each(|(chain, ((v, h), s))| {
                for i in 0..sweeps {
                    crate::interrupt::check()?;
                    self.sweep_chain(chain, v, h, s, first + i);
                }
                Ok::<_, crate::error::Error>(())
            })?;
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
