// Block Gibbs sampling of three-layer deep Boltzmann machines and of the models the
// exact recursion produces (physics.md §1-2). One invocation per (chain, unit), or per
// chain for the sequential visible-only sweep. All arithmetic in f32; CPU twins in
// src/dbm/sampler.rs (`*_unit` functions) repeat it operation for operation.
//
// Randomness: Philox4x32-10 at counter (unit, sweep, chain, purpose), key = seed.
// A Bernoulli unit takes 1 iff (word0 >> 8) * 2^-24 < p; a Gaussian draw is Box-Muller of
// words 0 and 1.

const PURPOSE_DBM_VISIBLE: u32 = 2u;
const PURPOSE_DBM_HIDDEN: u32 = 3u;
const PURPOSE_DBM_DEEP: u32 = 4u;

struct DbmParams {
    // n_visible, n_hidden, n_deep, chains
    sizes: vec4<u32>,
    // visible spin (0/1), hidden gaussian (0/1), deep gaussian (0/1), visible layer present (0/1)
    flags: vec4<u32>,
    // seed low, seed high, offset of a, offset of W
    key_a_w: vec4<u32>,
    // offsets: M, hidden p1 (mean or bias), hidden p2 (std), deep p1
    offsets1: vec4<u32>,
    // offsets: deep p2, K = A^-1 W^T (n_h x n_v), m0 = A^-1 b0, L = chol(A^-1)
    offsets2: vec4<u32>,
    // offsets: J_v (n_v x n_v), f_v, 0, 0
    offsets3: vec4<u32>,
}

struct DbmStep {
    sweep: u32,
    total_threads: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dbm: DbmParams;
@group(0) @binding(1) var<uniform> dbm_step: DbmStep;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<storage, read_write> visible: array<f32>;
@group(0) @binding(4) var<storage, read_write> hidden: array<f32>;
@group(0) @binding(5) var<storage, read_write> deep: array<f32>;
@group(0) @binding(6) var<storage, read_write> noise: array<f32>;

const DBM_WORKGROUP: u32 = 64u;

fn dbm_words(unit: u32, chain: u32, purpose: u32) -> vec4<u32> {
    return philox4x32_10(vec4<u32>(unit, dbm_step.sweep, chain, purpose), dbm.key_a_w.xy);
}

fn unit_uniform(w: u32) -> f32 {
    return f32(w >> 8u) * 5.9604645e-8; // 2^-24
}

fn bernoulli_draw(w: u32, p: f32) -> f32 {
    return select(0.0, 1.0, unit_uniform(w) < p);
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

fn normal_draw(w: vec4<u32>) -> f32 {
    let u1 = (f32(w.x >> 8u) + 0.5) * 5.9604645e-8;
    let u2 = f32(w.y >> 8u) * 5.9604645e-8;
    return sqrt(-2.0 * log(u1)) * cos(6.2831855 * u2);
}

fn dbm_thread(wg: vec3<u32>, nwg: vec3<u32>, local: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * DBM_WORKGROUP + local;
}

// h | v, s (full model; with the visible layer absent, v = 0).
@compute @workgroup_size(64)
fn dbm_hidden(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = dbm_thread(wg, nwg, local);
    if (t >= dbm_step.total_threads) {
        return;
    }
    let nv = dbm.sizes.x;
    let nh = dbm.sizes.y;
    let ns = dbm.sizes.z;
    let chain = t / nh;
    let j = t % nh;
    var x = 0.0;
    if (dbm.flags.w == 1u) {
        let w0 = dbm.key_a_w.w;
        for (var i = 0u; i < nv; i = i + 1u) {
            x = x + coef[w0 + i * nh + j] * visible[chain * nv + i];
        }
    }
    let m0 = dbm.offsets1.x;
    for (var k = 0u; k < ns; k = k + 1u) {
        x = x + coef[m0 + j * ns + k] * deep[chain * ns + k];
    }
    let w = dbm_words(j, chain, PURPOSE_DBM_HIDDEN);
    let p1 = coef[dbm.offsets1.y + j];
    if (dbm.flags.y == 1u) {
        let sd = coef[dbm.offsets1.z + j];
        hidden[t] = p1 + sd * sd * x + sd * normal_draw(w);
    } else {
        hidden[t] = bernoulli_draw(w.x, sigmoid(p1 + x));
    }
}

// v | h for unit i < n_v (if the visible layer is present), s | h for the rest.
@compute @workgroup_size(64)
fn dbm_outer(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = dbm_thread(wg, nwg, local);
    if (t >= dbm_step.total_threads) {
        return;
    }
    let nv = dbm.sizes.x;
    let nh = dbm.sizes.y;
    let ns = dbm.sizes.z;
    let per_chain = nv + ns;
    let chain = t / per_chain;
    let u = t % per_chain;
    if (u < nv) {
        if (dbm.flags.w == 0u) {
            return;
        }
        let w0 = dbm.key_a_w.w;
        var x = coef[dbm.key_a_w.z + u];
        for (var j = 0u; j < nh; j = j + 1u) {
            x = x + coef[w0 + u * nh + j] * hidden[chain * nh + j];
        }
        let w = dbm_words(u, chain, PURPOSE_DBM_VISIBLE);
        if (dbm.flags.x == 1u) {
            visible[chain * nv + u] = 2.0 * bernoulli_draw(w.x, sigmoid(2.0 * x)) - 1.0;
        } else {
            visible[chain * nv + u] = bernoulli_draw(w.x, sigmoid(x));
        }
        return;
    }
    let k = u - nv;
    if (ns == 0u) {
        return;
    }
    let m0 = dbm.offsets1.x;
    var x = 0.0;
    for (var j = 0u; j < nh; j = j + 1u) {
        x = x + coef[m0 + j * ns + k] * hidden[chain * nh + j];
    }
    let w = dbm_words(k, chain, PURPOSE_DBM_DEEP);
    let p1 = coef[dbm.offsets1.w + k];
    if (dbm.flags.z == 1u) {
        let sd = coef[dbm.offsets2.x + k];
        deep[chain * ns + k] = p1 + sd * sd * x + sd * normal_draw(w);
    } else {
        deep[chain * ns + k] = bernoulli_draw(w.x, sigmoid(p1 + x));
    }
}

// Standard normals for the correlated hidden draw of the reduced (v, h) model.
@compute @workgroup_size(64)
fn dbm_noise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = dbm_thread(wg, nwg, local);
    if (t >= dbm_step.total_threads) {
        return;
    }
    let nh = dbm.sizes.y;
    noise[t] = normal_draw(dbm_words(t % nh, t / nh, PURPOSE_DBM_HIDDEN));
}

// h | v ~ N(A^-1 (b0 + W^T v), A^-1) = m0 + K v + L z (reduced model, s integrated out).
@compute @workgroup_size(64)
fn dbm_hidden_reduced(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = dbm_thread(wg, nwg, local);
    if (t >= dbm_step.total_threads) {
        return;
    }
    let nv = dbm.sizes.x;
    let nh = dbm.sizes.y;
    let chain = t / nh;
    let j = t % nh;
    var x = coef[dbm.offsets2.z + j];
    let k0 = dbm.offsets2.y;
    for (var i = 0u; i < nv; i = i + 1u) {
        x = x + coef[k0 + j * nv + i] * visible[chain * nv + i];
    }
    let l0 = dbm.offsets2.w;
    for (var l = 0u; l <= j; l = l + 1u) {
        x = x + coef[l0 + j * nh + l] * noise[chain * nh + l];
    }
    hidden[t] = x;
}

// Visible-only pairwise model p(v) ∝ exp(f.v + ½ v^T J v): one invocation per chain sweeps
// the sites in order (a dense model has no checkerboard).
@compute @workgroup_size(64)
fn dbm_visible_pairwise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let chain = dbm_thread(wg, nwg, local);
    if (chain >= dbm_step.total_threads) {
        return;
    }
    let nv = dbm.sizes.x;
    let j0 = dbm.offsets3.x;
    let f0 = dbm.offsets3.y;
    let spin = dbm.flags.x == 1u;
    for (var i = 0u; i < nv; i = i + 1u) {
        var x = coef[f0 + i];
        for (var j = 0u; j < nv; j = j + 1u) {
            if (j != i) {
                x = x + coef[j0 + i * nv + j] * visible[chain * nv + j];
            }
        }
        let w = dbm_words(i, chain, PURPOSE_DBM_VISIBLE);
        if (spin) {
            visible[chain * nv + i] = 2.0 * bernoulli_draw(w.x, sigmoid(2.0 * x)) - 1.0;
        } else {
            // v_i^2 = v_i: the diagonal coupling acts as a field
            visible[chain * nv + i] = bernoulli_draw(w.x, sigmoid(x + 0.5 * coef[j0 + i * nv + i]));
        }
    }
}
