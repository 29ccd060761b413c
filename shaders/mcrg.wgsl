// MCRG on the device (src/mcrg/gpu.rs): a lattice sampler's state is unpacked into one bit
// per site, blocked level by level, and every level's operator sums and local-field
// histogram are added up, so only those integers are read back. Twin of
// src/mcrg/{blocking,stencil}.rs: the same random words, the same integers.
//
// Spins: level l of chain c is `level_words` words from `spins[base + c * level_words]`;
// site s is bit (s & 31) of word (s >> 5), 1 for x = +1. Sites are (z L + y) L + x.
// Output: `out` holds i32 operator sums (two's complement, added as u32) and u32 histogram
// bins, at `out_base + chain * out_stride + index`.
// Tables (`tables`, u32): a term is TERM_WORDS words: operator, factors, then (dx, dy, dz) as
// i32 for up to four factors; a histogram table starts with (c, stride) per operator; an
// instance is INSTANCE_WORDS words: operator, then up to four sites (NO_SITE when absent);
// the stochastic rule's thresholds are one word per block pattern.

const PURPOSE_RG_ESTIMATE: u32 = 8u;
const MCRG_WORKGROUP: u32 = 64u;
const TERM_WORDS: u32 = 14u;
const INSTANCE_WORDS: u32 = 5u;
const NO_SITE: u32 = 0xFFFFFFFFu;
const MAX_OPERATORS: u32 = 8u;
const CERTAIN: u32 = 0xFFFFFFFFu;

// The sampler's state (constant over the run).
struct McrgParams {
    // 0 per site, 1 chain-packed, 2 site-packed, 3 row-packed (backend::gpu::Layout)
    state_layout: u32,
    // words per row, per chain (or group of 32 chains), log2 words per part
    row_words: u32,
    chain_words: u32,
    shift: u32,
    // site-packed: words of one colour (all chains)
    colour_words: u32,
    // fine lattice: L, Ly, Lz
    size: u32,
    ly: u32,
    lz: u32,
    // Philox key of the blocking's random words
    key_low: u32,
    key_high: u32,
    // block side b and sites per block b^d
    block: u32,
    block_sites: u32,
}

// One dispatch.
struct McrgStep {
    // invocations, and per chain
    total: u32,
    per_chain: u32,
    // the level's sites, linear size and dimension
    sites: u32,
    size: u32,
    dimension: u32,
    // spins: this level's words per chain and base; the finer level's (blocking)
    level_words: u32,
    base: u32,
    fine_words: u32,
    fine_base: u32,
    fine_size: u32,
    // tables: offset and entries (terms, instances)
    table: u32,
    entries: u32,
    // operators (sums, histogram)
    operators: u32,
    out_base: u32,
    out_stride: u32,
    // blocking: rule (0 decimation, 1 majority, 2 stochastic), level produced, first
    // configuration number (measurement x chains)
    rule: u32,
    level: u32,
    configuration: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: McrgParams;
@group(0) @binding(1) var<uniform> step: McrgStep;
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read> part1: array<u32>;
@group(0) @binding(4) var<storage, read> part2: array<u32>;
@group(0) @binding(5) var<storage, read> part3: array<u32>;
@group(0) @binding(6) var<storage, read_write> spins: array<u32>;
@group(0) @binding(7) var<storage, read_write> out: array<atomic<u32>>;
@group(0) @binding(8) var<storage, read> tables: array<u32>;

// Word i of the sampler's state (parts of 2^shift words).
fn state_word(i: u32) -> u32 {
    let j = i & ((1u << params.shift) - 1u);
    let p = i >> params.shift;
    if (p == 0u) {
        return state[j];
    }
    if (p == 1u) {
        return part1[j];
    }
    if (p == 2u) {
        return part2[j];
    }
    return part3[j];
}

// The bit of `site` of `chain` in the sampler's layout (backend::gpu::layout::decode).
fn state_bit(chain: u32, site: u32) -> u32 {
    let l = params.size;
    switch params.state_layout {
        case 0u: {
            return state_word(chain * params.chain_words + site) & 1u;
        }
        case 1u: {
            return (state_word((chain >> 5u) * params.chain_words + site) >> (chain & 31u)) & 1u;
        }
        case 2u: {
            let row = site / l;
            let x = site % l;
            let colour = (x + row % params.ly + row / params.ly) & 1u;
            let j = x >> 1u;
            let w = colour * params.colour_words + chain * params.chain_words
                + row * params.row_words + (j >> 5u);
            return (state_word(w) >> (j & 31u)) & 1u;
        }
        default: {
            let row = site / l;
            let x = site % l;
            let w = chain * params.chain_words + row * params.row_words + (x >> 5u);
            return (state_word(w) >> (x & 31u)) & 1u;
        }
    }
}

fn spin_bit(base: u32, site: u32) -> u32 {
    return (spins[base + (site >> 5u)] >> (site & 31u)) & 1u;
}

fn spin(base: u32, site: u32) -> i32 {
    return 2 * i32(spin_bit(base, site)) - 1;
}

fn wrap(a: u32, d: i32, l: u32) -> u32 {
    let n = i32(l);
    return u32(((i32(a) + d) % n + n) % n);
}

// The site displaced from (x, y, z) by table words (dx, dy, dz) at `at`.
fn displaced(x: u32, y: u32, z: u32, at: u32) -> u32 {
    let l = step.size;
    let xx = wrap(x, bitcast<i32>(tables[at]), l);
    let yy = wrap(y, bitcast<i32>(tables[at + 1u]), l);
    let zz = wrap(z, bitcast<i32>(tables[at + 2u]), l);
    return (zz * l + yy) * l + xx;
}

// Π of a term's factors around (x, y, z) in the spins at `base`.
fn term(base: u32, x: u32, y: u32, z: u32, at: u32) -> i32 {
    var p = 1;
    let factors = tables[at + 1u];
    for (var f = 0u; f < factors; f = f + 1u) {
        p = p * spin(base, displaced(x, y, z, at + 2u + 3u * f));
    }
    return p;
}

// Chain and word (or instance) of invocation t.
fn task(t: u32) -> vec2<u32> {
    return vec2<u32>(t / step.per_chain, t % step.per_chain);
}

// (x, y, z) of a site of the level's torus (absent axes 0).
fn coords(site: u32) -> vec3<u32> {
    let l = step.size;
    return vec3<u32>(site % l, (site / l) % l, site / (l * l));
}

// One word of level-0 spins per invocation.
@compute @workgroup_size(MCRG_WORKGROUP)
fn mcrg_unpack(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = linear_index(wg, nwg, local, MCRG_WORKGROUP);
    if (t >= step.total) {
        return;
    }
    let cw = task(t);
    var word = 0u;
    for (var k = 0u; k < 32u; k = k + 1u) {
        let site = cw.y * 32u + k;
        if (site < step.sites) {
            word = word | (state_bit(cw.x, site) << k);
        }
    }
    spins[step.base + cw.x * step.level_words + cw.y] = word;
}

// One word of coarse spins per invocation (mcrg::blocking::Blocker::block).
@compute @workgroup_size(MCRG_WORKGROUP)
fn mcrg_block(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = linear_index(wg, nwg, local, MCRG_WORKGROUP);
    if (t >= step.total) {
        return;
    }
    let cw = task(t);
    let chain = cw.x;
    let fine = step.fine_base + chain * step.fine_words;
    let lc = step.size;
    let lf = step.fine_size;
    let b = params.block;
    let key = vec2<u32>(params.key_low, params.key_high);
    let configuration = step.configuration + chain;
    var word = 0u;
    for (var k = 0u; k < 32u; k = k + 1u) {
        let j = cw.y * 32u + k;
        if (j >= step.sites) {
            break;
        }
        let cx = j % lc;
        let cy = (j / lc) % lc;
        let cz = j / (lc * lc);
        var m = 0;
        var pattern = 0u;
        for (var s = 0u; s < params.block_sites; s = s + 1u) {
            let dx = s % b;
            let dy = (s / b) % b;
            let dz = s / (b * b);
            let site = ((cz * b + dz) * lf + cy * b + dy) * lf + cx * b + dx;
            let bit = spin_bit(fine, site);
            m = m + 2 * i32(bit) - 1;
            if (s < 32u) {
                pattern = pattern | (bit << s);
            }
        }
        var up = 0u;
        if (step.rule == 0u) {
            up = pattern & 1u;
        } else if (step.rule == 1u) {
            if (m == 0) {
                up = philox4x32_10(vec4<u32>(j, configuration, step.level, PURPOSE_RG_ESTIMATE), key).x >> 31u;
            } else {
                up = select(0u, 1u, m > 0);
            }
        } else {
            let r = philox4x32_10(vec4<u32>(j, configuration, step.level, PURPOSE_RG_ESTIMATE), key).x;
            let threshold = tables[step.table + pattern];
            up = select(0u, 1u, r < threshold || threshold == CERTAIN);
        }
        word = word | (up << k);
    }
    spins[step.base + chain * step.level_words + cw.y] = word;
}

// Operator sums of one word of sites per invocation, from the stencil's sum terms.
@compute @workgroup_size(MCRG_WORKGROUP)
fn mcrg_sums(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = linear_index(wg, nwg, local, MCRG_WORKGROUP);
    if (t >= step.total) {
        return;
    }
    let cw = task(t);
    let base = step.base + cw.x * step.level_words;
    var acc: array<i32, MAX_OPERATORS>;
    for (var k = 0u; k < 32u; k = k + 1u) {
        let site = cw.y * 32u + k;
        if (site >= step.sites) {
            break;
        }
        let c = coords(site);
        for (var e = 0u; e < step.entries; e = e + 1u) {
            let at = step.table + e * TERM_WORDS;
            let op = tables[at];
            acc[op] = acc[op] + term(base, c.x, c.y, c.z, at);
        }
    }
    for (var a = 0u; a < step.operators; a = a + 1u) {
        if (acc[a] != 0) {
            atomicAdd(&out[step.out_base + cw.x * step.out_stride + a], bitcast<u32>(acc[a]));
        }
    }
}

// Operator sums from instance lists (small tori where operators fold): one instance per
// invocation.
@compute @workgroup_size(MCRG_WORKGROUP)
fn mcrg_sums_listed(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = linear_index(wg, nwg, local, MCRG_WORKGROUP);
    if (t >= step.total) {
        return;
    }
    let ci = task(t);
    let base = step.base + ci.x * step.level_words;
    let at = step.table + ci.y * INSTANCE_WORDS;
    var p = 1;
    for (var f = 1u; f < INSTANCE_WORDS; f = f + 1u) {
        let s = tables[at + f];
        if (s != NO_SITE) {
            p = p * spin(base, s);
        }
    }
    atomicAdd(&out[step.out_base + ci.x * step.out_stride + tables[at]], bitcast<u32>(p));
}

// The dense local-field histogram (mcrg::stencil): one word of sites per invocation.
@compute @workgroup_size(MCRG_WORKGROUP)
fn mcrg_histogram(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = linear_index(wg, nwg, local, MCRG_WORKGROUP);
    if (t >= step.total) {
        return;
    }
    let cw = task(t);
    let base = step.base + cw.x * step.level_words;
    let terms = step.table + 2u * step.operators;
    for (var k = 0u; k < 32u; k = k + 1u) {
        let site = cw.y * 32u + k;
        if (site >= step.sites) {
            break;
        }
        let c = coords(site);
        var g: array<i32, MAX_OPERATORS>;
        for (var e = 0u; e < step.entries; e = e + 1u) {
            let at = terms + e * TERM_WORDS;
            let op = tables[at];
            g[op] = g[op] + term(base, c.x, c.y, c.z, at);
        }
        var bin = spin_bit(base, site);
        for (var a = 0u; a < step.operators; a = a + 1u) {
            let c = tables[step.table + 2u * a];
            let stride = tables[step.table + 2u * a + 1u];
            bin = bin + (u32(g[a] + i32(c)) / 2u) * stride;
        }
        atomicAdd(&out[step.out_base + cw.x * step.out_stride + bin], 1u);
    }
}
