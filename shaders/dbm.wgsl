// Block Gibbs sampling of three-layer deep Boltzmann machines and of the models the
// exact recursion produces (physics.md §1-2). All arithmetic in f32; the CPU twins in
// src/dbm/sampler/cpu.rs repeat it operation for operation.
//
// Layout: unit-major, x[unit * chains + chain]. An invocation handles a group of four
// units of one chain, and neighbouring invocations handle neighbouring chains, so all
// lanes walk the same matrix row (uniform control flow, broadcast loads) and read and
// write consecutive addresses. The visible-only sweep updates one colour class of J_v's
// greedy colouring per dispatch (dbm_visible_colour).
//
// Matrices are stored sparse (CSR): `index` holds row pointers and column indices, `coef`
// the values, so lattice-structured models cost what their bonds cost. Every vector and
// matrix is located by slots of `dbm.slots` (see `Slot` in src/dbm/sampler/mod.rs).
//
// Randomness: Philox4x32-10 at counter (c0, sweep, chain, purpose), key = seed. Unit
// u = 4g + o of a group: a Bernoulli unit uses word o of counter c0 = g and takes 1 iff
// (word >> 8) * 2^-24 < p; a Gaussian unit uses counter c0 = 2g + o/2, whose words 0 and 1
// give (r, θ) by Box-Muller, and takes r cos θ (o even) or r sin θ (o odd).

// f32 constants shared with dbm::sampler (TWO_POW_MINUS_24, TWO_PI): 2^-24 and 2π
// rounded to f32.
const TWO_POW_MINUS_24: f32 = 5.9604645e-8;
const TWO_PI: f32 = 6.2831855;
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
// colour classes of J (in index): class pointers, then the units in class order
const SLOT_COLOUR_PTR: u32 = 29u;
const SLOT_COLOUR_UNITS: u32 = 30u;

struct DbmParams {
    // n_visible, n_hidden, n_deep, chains
    sizes: vec4<u32>,
    // visible spin (0/1), hidden gaussian (0/1), deep gaussian (0/1), visible layer present (0/1)
    flags: vec4<u32>,
    // seed low, seed high, 0, 0
    key: vec4<u32>,
    // where each layer starts in `units`: visible, hidden, deep, noise
    bases: vec4<u32>,
    slots: array<vec4<u32>, 8>,
}

struct DbmStep {
    sweep: u32,
    total_threads: u32,
    // the colour class of dbm_visible_colour
    colour: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dbm: DbmParams;
@group(0) @binding(1) var<uniform> dbm_step: DbmStep;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<storage, read> index: array<u32>;
// All unit values: visible, hidden, deep and the reduced model's noise, each unit-major.
@group(0) @binding(4) var<storage, read_write> units: array<f32>;

const DBM_WORKGROUP: u32 = 64u;

fn slot(i: u32) -> u32 {
    return dbm.slots[i >> 2u][i & 3u];
}

// Range of nonzeros of a CSR row: (first, end) as positions into the matrix's arrays.
fn row_range(mat: u32, row: u32) -> vec2<u32> {
    let ptr = slot(mat);
    return vec2<u32>(index[ptr + row], index[ptr + row + 1u]);
}

fn dbm_words(c0: u32, chain: u32, purpose: u32) -> vec4<u32> {
    return philox4x32_10(vec4<u32>(c0, dbm_step.sweep, chain, purpose), dbm.key.xy);
}

fn unit_uniform(w: u32) -> f32 {
    return f32(w >> 8u) * TWO_POW_MINUS_24;
}

fn bernoulli_draw(w: u32, p: f32) -> f32 {
    return select(0.0, 1.0, unit_uniform(w) < p);
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// Two standard normals (r cos θ, r sin θ) from words 0 and 1.
fn box_muller(w: vec4<u32>) -> vec2<f32> {
    let u1 = (f32(w.x >> 8u) + 0.5) * TWO_POW_MINUS_24;
    let u2 = f32(w.y >> 8u) * TWO_POW_MINUS_24;
    let r = sqrt(-2.0 * log(u1));
    let th = TWO_PI * u2;
    return vec2<f32>(r * cos(th), r * sin(th));
}

// The four normals of group g.
fn group_normals(g: u32, chain: u32, purpose: u32) -> vec4<f32> {
    let a = box_muller(dbm_words(2u * g, chain, purpose));
    let b = box_muller(dbm_words(2u * g + 1u, chain, purpose));
    return vec4<f32>(a.x, a.y, b.x, b.y);
}

// The random input of a group of four hidden or deep units: normals (gaussian) or words
// (bernoulli), as described at the top of this file.
struct GroupRandomness {
    normals: vec4<f32>,
    bits: vec4<u32>,
}

fn group_randomness(gaussian: bool, g: u32, chain: u32, purpose: u32) -> GroupRandomness {
    var r: GroupRandomness;
    if (gaussian) {
        r.normals = group_normals(g, chain, purpose);
    } else {
        r.bits = dbm_words(g, chain, purpose);
    }
    return r;
}

// A hidden or deep unit with input x: N(p1 + sd^2 x, sd^2) or Bernoulli(sigmoid(p1 + x)),
// where (p1, sd) are the layer's (mean, std) or (bias, unused) of unit `unit`.
fn layer_draw(gaussian: bool, p1_slot: u32, p2_slot: u32, unit: u32, x: f32, r: GroupRandomness, o: u32) -> f32 {
    let p1 = coef[slot(p1_slot) + unit];
    if (gaussian) {
        let sd = coef[slot(p2_slot) + unit];
        return p1 + sd * sd * x + sd * r.normals[o];
    }
    return bernoulli_draw(r.bits[o], sigmoid(p1 + x));
}

fn dbm_thread(wg: vec3<u32>, nwg: vec3<u32>, local: u32) -> u32 {
    return linear_index(wg, nwg, local, DBM_WORKGROUP);
}

// Σ over row `row` of a CSR matrix of value * units[base + col * chains + chain].
fn row_dot(mat: u32, row: u32, base: u32, chain: u32) -> f32 {
    let chains = dbm.sizes.w;
    let r = row_range(mat, row);
    let cols = slot(mat + 1u);
    let vals = slot(mat + 2u);
    var x = 0.0;
    for (var k = r.x; k < r.y; k = k + 1u) {
        x = x + coef[vals + k] * units[base + index[cols + k] * chains + chain];
    }
    return x;
}

// h | v, s (full model; with the visible layer absent, v does not enter).
@compute @workgroup_size(DBM_WORKGROUP)
fn dbm_hidden(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = dbm_thread(wg, nwg, local);
    if (t >= dbm_step.total_threads) {
        return;
    }
    let nh = dbm.sizes.y;
    let chains = dbm.sizes.w;
    let g = t / chains;
    let chain = t % chains;
    let gaussian = dbm.flags.y == 1u;
    let rnd = group_randomness(gaussian, g, chain, PURPOSE_DBM_HIDDEN);
    for (var o = 0u; o < 4u; o = o + 1u) {
        let j = 4u * g + o;
        if (j >= nh) {
            break;
        }
        var x = 0.0;
        if (dbm.flags.w == 1u) {
            x = row_dot(MAT_W_COLS, j, dbm.bases.x, chain);
        }
        x = x + row_dot(MAT_M_ROWS, j, dbm.bases.z, chain);
        units[dbm.bases.y + j * chains + chain] = layer_draw(gaussian, SLOT_HIDDEN_P1, SLOT_HIDDEN_P2, j, x, rnd, o);
    }
}

// v | h for groups g < ceil(n_v / 4) (if the visible layer is present), s | h for the rest.
@compute @workgroup_size(DBM_WORKGROUP)
fn dbm_outer(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = dbm_thread(wg, nwg, local);
    if (t >= dbm_step.total_threads) {
        return;
    }
    let nv = dbm.sizes.x;
    let ns = dbm.sizes.z;
    let chains = dbm.sizes.w;
    let visible_groups = (nv + 3u) / 4u;
    let g = t / chains;
    let chain = t % chains;
    if (g < visible_groups) {
        if (dbm.flags.w == 0u) {
            return;
        }
        let bits = dbm_words(g, chain, PURPOSE_DBM_VISIBLE);
        for (var o = 0u; o < 4u; o = o + 1u) {
            let i = 4u * g + o;
            if (i >= nv) {
                break;
            }
            let x = coef[slot(SLOT_A) + i] + row_dot(MAT_W_ROWS, i, dbm.bases.y, chain);
            if (dbm.flags.x == 1u) {
                units[dbm.bases.x + i * chains + chain] = 2.0 * bernoulli_draw(bits[o], sigmoid(2.0 * x)) - 1.0;
            } else {
                units[dbm.bases.x + i * chains + chain] = bernoulli_draw(bits[o], sigmoid(x));
            }
        }
        return;
    }
    let gd = g - visible_groups;
    let gaussian = dbm.flags.z == 1u;
    let rnd = group_randomness(gaussian, gd, chain, PURPOSE_DBM_DEEP);
    for (var o = 0u; o < 4u; o = o + 1u) {
        let k = 4u * gd + o;
        if (k >= ns) {
            break;
        }
        let x = row_dot(MAT_M_COLS, k, dbm.bases.y, chain);
        units[dbm.bases.z + k * chains + chain] = layer_draw(gaussian, SLOT_DEEP_P1, SLOT_DEEP_P2, k, x, rnd, o);
    }
}

// Standard normals for the correlated hidden draw of the reduced (v, h) model.
@compute @workgroup_size(DBM_WORKGROUP)
fn dbm_noise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = dbm_thread(wg, nwg, local);
    if (t >= dbm_step.total_threads) {
        return;
    }
    let nh = dbm.sizes.y;
    let chains = dbm.sizes.w;
    let g = t / chains;
    let chain = t % chains;
    let normals = group_normals(g, chain, PURPOSE_DBM_HIDDEN);
    for (var o = 0u; o < 4u; o = o + 1u) {
        let j = 4u * g + o;
        if (j < nh) {
            units[dbm.bases.w + j * chains + chain] = normals[o];
        }
    }
}

// h | v ~ N(A^-1 (b0 + W^T v), A^-1) = m0 + K v + L z (reduced model, s integrated out).
@compute @workgroup_size(DBM_WORKGROUP)
fn dbm_hidden_reduced(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = dbm_thread(wg, nwg, local);
    if (t >= dbm_step.total_threads) {
        return;
    }
    let nh = dbm.sizes.y;
    let chains = dbm.sizes.w;
    let g = t / chains;
    let chain = t % chains;
    for (var o = 0u; o < 4u; o = o + 1u) {
        let j = 4u * g + o;
        if (j >= nh) {
            break;
        }
        let x = coef[slot(SLOT_M0) + j] + row_dot(MAT_K, j, dbm.bases.x, chain);
        units[dbm.bases.y + j * chains + chain] = x + row_dot(MAT_L, j, dbm.bases.w, chain);
    }
}

// Visible-only pairwise model p(v) ∝ exp(f.v + ½ v^T J v), one unit and chain per
// invocation: v_i ~ p(v_i | v_rest) for the units of colour class `dbm_step.colour` of J's
// greedy colouring (units of one class do not interact, so they update at once);
// neighbouring invocations are neighbouring chains of one unit. J is stored without its
// diagonal.
fn visible_pairwise_unit(i: u32, chain: u32, bits: vec4<u32>) {
    let x = coef[slot(SLOT_F) + i] + row_dot(MAT_J, i, dbm.bases.x, chain);
    let chains = dbm.sizes.w;
    if (dbm.flags.x == 1u) {
        units[dbm.bases.x + i * chains + chain] = 2.0 * bernoulli_draw(bits[i & 3u], sigmoid(2.0 * x)) - 1.0;
    } else {
        // v_i^2 = v_i: half the diagonal coupling acts as a field
        units[dbm.bases.x + i * chains + chain] = bernoulli_draw(bits[i & 3u], sigmoid(x + 0.5 * coef[slot(SLOT_J_DIAG) + i]));
    }
}

@compute @workgroup_size(DBM_WORKGROUP)
fn dbm_visible_colour(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = dbm_thread(wg, nwg, local);
    if (t >= dbm_step.total_threads) {
        return;
    }
    let chains = dbm.sizes.w;
    let first = index[slot(SLOT_COLOUR_PTR) + dbm_step.colour];
    let i = index[slot(SLOT_COLOUR_UNITS) + first + t / chains];
    let chain = t % chains;
    visible_pairwise_unit(i, chain, dbm_words(i / 4u, chain, PURPOSE_DBM_VISIBLE));
}

// The same sweep with one invocation per chain walking all classes in order, for models
// whose classes are too many or too small to be worth a dispatch each.
@compute @workgroup_size(DBM_WORKGROUP)
fn dbm_visible_pairwise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let chain = dbm_thread(wg, nwg, local);
    if (chain >= dbm_step.total_threads) {
        return;
    }
    let nv = dbm.sizes.x;
    var group = 0xffffffffu;
    var bits = vec4<u32>(0u);
    for (var k = 0u; k < nv; k = k + 1u) {
        let i = index[slot(SLOT_COLOUR_UNITS) + k];
        if (i / 4u != group) {
            group = i / 4u;
            bits = dbm_words(group, chain, PURPOSE_DBM_VISIBLE);
        }
        visible_pairwise_unit(i, chain, bits);
    }
}
