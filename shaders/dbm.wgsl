// Block Gibbs sampling of three-layer deep Boltzmann machines and of the models the
// exact recursion produces (physics.md §1-2). One invocation per (chain, unit), or per
// chain for the sequential visible-only sweep. All arithmetic in f32; the CPU twins in
// src/dbm/sampler.rs repeat it operation for operation.
//
// Matrices are stored sparse (CSR): `index` holds row pointers and column indices, `coef`
// the values, so lattice-structured models cost what their bonds cost. Every vector and
// matrix is located by slots of `dbm.slots` (see `Slot` in sampler.rs).
//
// Randomness: Philox4x32-10 at counter (unit, sweep, chain, purpose), key = seed.
// A Bernoulli unit takes 1 iff (word0 >> 8) * 2^-24 < p; a Gaussian draw is Box-Muller of
// words 0 and 1.

const PURPOSE_DBM_VISIBLE: u32 = 2u;
const PURPOSE_DBM_HIDDEN: u32 = 3u;
const PURPOSE_DBM_DEEP: u32 = 4u;

// vector slots: offsets into coef
const SLOT_A: u32 = 0u;
const SLOT_HIDDEN_P1: u32 = 1u;
const SLOT_HIDDEN_P2: u32 = 2u;
const SLOT_DEEP_P1: u32 = 3u;
const SLOT_DEEP_P2: u32 = 4u;
const SLOT_M0: u32 = 5u;
const SLOT_F: u32 = 6u;
const SLOT_J_DIAG: u32 = 7u;
// matrix slots: three consecutive slots (row pointers and columns in index, values in coef)
const MAT_W_ROWS: u32 = 8u;
const MAT_W_COLS: u32 = 11u;
const MAT_M_ROWS: u32 = 14u;
const MAT_M_COLS: u32 = 17u;
const MAT_K: u32 = 20u;
const MAT_L: u32 = 23u;
const MAT_J: u32 = 26u;

struct DbmParams {
    // n_visible, n_hidden, n_deep, chains
    sizes: vec4<u32>,
    // visible spin (0/1), hidden gaussian (0/1), deep gaussian (0/1), visible layer present (0/1)
    flags: vec4<u32>,
    // seed low, seed high, 0, 0
    key: vec4<u32>,
    slots: array<vec4<u32>, 8>,
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
@group(0) @binding(3) var<storage, read> index: array<u32>;
@group(0) @binding(4) var<storage, read_write> visible: array<f32>;
@group(0) @binding(5) var<storage, read_write> hidden: array<f32>;
@group(0) @binding(6) var<storage, read_write> deep: array<f32>;
@group(0) @binding(7) var<storage, read_write> noise: array<f32>;

const DBM_WORKGROUP: u32 = 64u;

fn slot(i: u32) -> u32 {
    return dbm.slots[i >> 2u][i & 3u];
}

// Range of nonzeros of a CSR row: (first, end) as positions into the matrix's arrays.
fn row_range(mat: u32, row: u32) -> vec2<u32> {
    let ptr = slot(mat);
    return vec2<u32>(index[ptr + row], index[ptr + row + 1u]);
}

fn col_at(mat: u32, k: u32) -> u32 {
    return index[slot(mat + 1u) + k];
}

fn val_at(mat: u32, k: u32) -> f32 {
    return coef[slot(mat + 2u) + k];
}

fn dbm_words(unit: u32, chain: u32, purpose: u32) -> vec4<u32> {
    return philox4x32_10(vec4<u32>(unit, dbm_step.sweep, chain, purpose), dbm.key.xy);
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

// h | v, s (full model; with the visible layer absent, v does not enter).
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
        let r = row_range(MAT_W_COLS, j);
        for (var k = r.x; k < r.y; k = k + 1u) {
            x = x + val_at(MAT_W_COLS, k) * visible[chain * nv + col_at(MAT_W_COLS, k)];
        }
    }
    let r = row_range(MAT_M_ROWS, j);
    for (var k = r.x; k < r.y; k = k + 1u) {
        x = x + val_at(MAT_M_ROWS, k) * deep[chain * ns + col_at(MAT_M_ROWS, k)];
    }
    let w = dbm_words(j, chain, PURPOSE_DBM_HIDDEN);
    let p1 = coef[slot(SLOT_HIDDEN_P1) + j];
    if (dbm.flags.y == 1u) {
        let sd = coef[slot(SLOT_HIDDEN_P2) + j];
        hidden[t] = p1 + sd * sd * x + sd * normal_draw(w);
    } else {
        hidden[t] = bernoulli_draw(w.x, sigmoid(p1 + x));
    }
}

// v | h for unit u < n_v (if the visible layer is present), s | h for the rest.
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
        var x = coef[slot(SLOT_A) + u];
        let r = row_range(MAT_W_ROWS, u);
        for (var k = r.x; k < r.y; k = k + 1u) {
            x = x + val_at(MAT_W_ROWS, k) * hidden[chain * nh + col_at(MAT_W_ROWS, k)];
        }
        let w = dbm_words(u, chain, PURPOSE_DBM_VISIBLE);
        if (dbm.flags.x == 1u) {
            visible[chain * nv + u] = 2.0 * bernoulli_draw(w.x, sigmoid(2.0 * x)) - 1.0;
        } else {
            visible[chain * nv + u] = bernoulli_draw(w.x, sigmoid(x));
        }
        return;
    }
    let d = u - nv;
    var x = 0.0;
    let r = row_range(MAT_M_COLS, d);
    for (var k = r.x; k < r.y; k = k + 1u) {
        x = x + val_at(MAT_M_COLS, k) * hidden[chain * nh + col_at(MAT_M_COLS, k)];
    }
    let w = dbm_words(d, chain, PURPOSE_DBM_DEEP);
    let p1 = coef[slot(SLOT_DEEP_P1) + d];
    if (dbm.flags.z == 1u) {
        let sd = coef[slot(SLOT_DEEP_P2) + d];
        deep[chain * ns + d] = p1 + sd * sd * x + sd * normal_draw(w);
    } else {
        deep[chain * ns + d] = bernoulli_draw(w.x, sigmoid(p1 + x));
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
    var x = coef[slot(SLOT_M0) + j];
    let rk = row_range(MAT_K, j);
    for (var k = rk.x; k < rk.y; k = k + 1u) {
        x = x + val_at(MAT_K, k) * visible[chain * nv + col_at(MAT_K, k)];
    }
    let rl = row_range(MAT_L, j);
    for (var k = rl.x; k < rl.y; k = k + 1u) {
        x = x + val_at(MAT_L, k) * noise[chain * nh + col_at(MAT_L, k)];
    }
    hidden[t] = x;
}

// Visible-only pairwise model p(v) ∝ exp(f.v + ½ v^T J v): one invocation per chain sweeps
// the sites in order (a dense model has no checkerboard). J is stored without its diagonal.
@compute @workgroup_size(64)
fn dbm_visible_pairwise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let chain = dbm_thread(wg, nwg, local);
    if (chain >= dbm_step.total_threads) {
        return;
    }
    let nv = dbm.sizes.x;
    let spin = dbm.flags.x == 1u;
    for (var i = 0u; i < nv; i = i + 1u) {
        var x = coef[slot(SLOT_F) + i];
        let r = row_range(MAT_J, i);
        for (var k = r.x; k < r.y; k = k + 1u) {
            x = x + val_at(MAT_J, k) * visible[chain * nv + col_at(MAT_J, k)];
        }
        let w = dbm_words(i, chain, PURPOSE_DBM_VISIBLE);
        if (spin) {
            visible[chain * nv + i] = 2.0 * bernoulli_draw(w.x, sigmoid(2.0 * x)) - 1.0;
        } else {
            // v_i^2 = v_i: half the diagonal coupling acts as a field
            visible[chain * nv + i] = bernoulli_draw(w.x, sigmoid(x + 0.5 * coef[slot(SLOT_J_DIAG) + i]));
        }
    }
}
