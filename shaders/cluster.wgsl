// Swendsen–Wang on the per-site layout (one u32 word per site and chain), all chains at once.
// CPU twin: backend::cluster (ClusterCpuSampler, SweepContext::swendsen_wang), whose module
// docs give the random counters and the rule. A sweep is three dispatches:
//   sw_init   labels[k] = k for the keys k = 0 (ghost) and i + 1 (site i); sizes zeroed;
//   sw_union  each site draws its bond words and unites itself with the forward neighbours
//             (and the ghost) it is bonded to: lock-free union-find, linking the larger
//             root under the smaller with atomicMin (Playne & Hawick 2018; Komura 2015), so
//             a cluster's root is its smallest key whatever the order of the unions;
//   sw_flip   each site finds its root, stores it (path compression), and flips iff its
//             cluster is not the ghost's and the top bit of the root's Philox word is set.
// A measured sweep adds, after `measure`:
//   sw_sizes  sizes[root] += 1 for every site;
//   sw_sums   every non-ghost root adds 1, |C|, |C|^2 and |C|^4 to the chain's cluster sums
//             in the series slot (words 20..29: model::ClusterSums as u64 / u128 limbs).
// Nothing is read back between dispatches: the union pass finishes in one dispatch.

const PURPOSE_SW_BONDS: u32 = 0x30u;
const PURPOSE_SW_FLIP: u32 = 0x31u;
// First u32 word of the cluster sums in a chain's series entry (Counts::words index 10).
const CLUSTER_WORD: u32 = 20u;

// Union-find parents, chains × (N + 1) keys.
@group(0) @binding(8) var<storage, read_write> labels: array<atomic<u32>>;
// Cluster sizes by root key, chains × (N + 1).
@group(0) @binding(9) var<storage, read_write> sizes: array<atomic<u32>>;

fn sites_per_chain() -> u32 {
    return params.dims.x * params.dims.w;
}

fn find(base: u32, start: u32) -> u32 {
    var x = start;
    loop {
        let p = atomicLoad(&labels[base + x]);
        if (p == x) {
            return x;
        }
        x = p;
    }
    return x;
}

// Joins the clusters of keys a and b. If `hi` stopped being a root before the atomicMin,
// its parent `old` may have been replaced by `lo`; either way joining `old` with `lo` keeps
// every connection, so the loop continues from their roots.
fn unite(base: u32, a: u32, b: u32) {
    var x = find(base, a);
    var y = find(base, b);
    loop {
        if (x == y) {
            return;
        }
        let lo = min(x, y);
        let hi = max(x, y);
        let old = atomicMin(&labels[base + hi], lo);
        if (old == hi) {
            return;
        }
        x = find(base, old);
        y = find(base, lo);
    }
}

fn cluster_invocation(wg: vec3<u32>, nwg: vec3<u32>, local: u32) -> u32 {
    return linear_index(wg, nwg, local, UPDATE_WORKGROUP);
}

@compute @workgroup_size(UPDATE_WORKGROUP)
fn sw_init(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let t = cluster_invocation(wg, nwg, local);
    if (t >= step.total_threads) {
        return;
    }
    atomicStore(&labels[t], t % (sites_per_chain() + 1u));
    atomicStore(&sizes[t], 0u);
}

@compute @workgroup_size(UPDATE_WORKGROUP)
fn sw_union(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let t = cluster_invocation(wg, nwg, local);
    if (t >= step.total_threads) {
        return;
    }
    let n = sites_per_chain();
    let chain = t / n;
    let i = t % n;
    let l = params.dims.x;
    let x = i % l;
    let r = row_geometry(chain * params.words.y, i / l, 0u);
    let here = r.here + x;
    let b = state[here];
    let words = philox4x32_10(vec4<u32>(i, step.sweep, chain, PURPOSE_SW_BONDS), params.lattice.zw);
    let base = chain * (n + 1u);
    let bond = params.cluster.x;
    let aligned = params.cluster.y == 1u;
    let xp = inc_wrap(x, l);
    // forward neighbours in Lattice::forward_neighbours order: +x, +y, +z, triangular (+1, -1)
    var nb = array<u32, 3>(r.here + xp, 0u, 0u);
    var d = 1u;
    if (params.dims.y > 1u) {
        nb[d] = r.y_plus + x;
        d = d + 1u;
    }
    if (params.dims.z > 1u) {
        nb[d] = r.z_plus + x;
        d = d + 1u;
    }
    if (params.lattice.y == 1u) {
        nb[d] = r.y_minus + xp;
        d = d + 1u;
    }
    for (var a = 0u; a < d; a = a + 1u) {
        let j = nb[a];
        let satisfied = (state[j] == b) == aligned;
        let w = words[a];
        if (satisfied && ((w < bond) || (bond == CERTAIN))) {
            unite(base, i + 1u, j - chain * params.words.y + 1u);
        }
    }
    let ghost = params.cluster.z;
    if (b == params.cluster.w && ((words.w < ghost) || (ghost == CERTAIN))) {
        unite(base, i + 1u, 0u);
    }
}

@compute @workgroup_size(UPDATE_WORKGROUP)
fn sw_flip(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let t = cluster_invocation(wg, nwg, local);
    if (t >= step.total_threads) {
        return;
    }
    let n = sites_per_chain();
    let chain = t / n;
    let i = t % n;
    let base = chain * (n + 1u);
    let root = find(base, i + 1u);
    atomicStore(&labels[base + i + 1u], root);
    if (root != 0u) {
        let w = philox4x32_10(vec4<u32>(root - 1u, step.sweep, chain, PURPOSE_SW_FLIP), params.lattice.zw).x;
        let s = chain * params.words.y + i;
        state[s] = state[s] ^ (w >> 31u);
    }
}

@compute @workgroup_size(UPDATE_WORKGROUP)
fn sw_sizes(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let t = cluster_invocation(wg, nwg, local);
    if (t >= step.total_threads) {
        return;
    }
    let n = sites_per_chain();
    let base = (t / n) * (n + 1u);
    let root = atomicLoad(&labels[base + t % n + 1u]);
    atomicAdd(&sizes[base + root], 1u);
}

// Adds v · 2^(32 k) to the little-endian integer of `limbs` u32 words at series[i], carrying
// with further atomic adds (addition commutes, so concurrent carries give the exact sum).
fn add_wide(i: u32, k0: u32, v: u32, limbs: u32) {
    var k = k0;
    var x = v;
    loop {
        if (x == 0u || k >= limbs) {
            break;
        }
        let old = atomicAdd(&series[i + k], x);
        if (old + x >= old) {
            break;
        }
        x = 1u;
        k = k + 1u;
    }
}

// 32 × 32 → 64 bits, (low, high).
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
    let p = mulhilo32(a, b);
    return vec2<u32>(p.y, p.x);
}

@compute @workgroup_size(UPDATE_WORKGROUP)
fn sw_sums(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let t = cluster_invocation(wg, nwg, local);
    if (t >= step.total_threads) {
        return;
    }
    let n = sites_per_chain();
    let chain = t / n;
    let s = atomicLoad(&sizes[chain * (n + 1u) + t % n + 1u]);
    if (s == 0u) {
        return;
    }
    let out = (step.slot * params.colouring.w + chain) * MEASURE_WORDS + CLUSTER_WORD;
    add_wide(out, 0u, 1u, 2u);
    add_wide(out + 2u, 0u, s, 2u);
    let sq = mul_wide(s, s);
    add_wide(out + 4u, 0u, sq.x, 2u);
    add_wide(out + 4u, 1u, sq.y, 2u);
    // |C|^4 = (h 2^32 + l)^2 = l^2 + 2 h l 2^32 + h^2 2^64
    let ll = mul_wide(sq.x, sq.x);
    let hl = mul_wide(sq.y, sq.x);
    let hh = mul_wide(sq.y, sq.y);
    let q = out + 6u;
    add_wide(q, 0u, ll.x, 4u);
    add_wide(q, 1u, ll.y, 4u);
    add_wide(q, 1u, hl.x, 4u);
    add_wide(q, 1u, hl.x, 4u);
    add_wide(q, 2u, hl.y, 4u);
    add_wide(q, 2u, hl.y, 4u);
    add_wide(q, 2u, hh.x, 4u);
    add_wide(q, 3u, hh.y, 4u);
}
