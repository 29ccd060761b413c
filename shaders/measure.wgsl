// Per-chain integer observables n1 = sum_i b_i and n11 = sum over bonds of b_i b_j,
// reduced in workgroup memory and added as 64-bit (lo, hi) pairs into
// series[(slot * chains + chain) * 4 + {0,1 | 2,3}]. CPU twin: model::counts.

const MEASURE_WORKGROUP: u32 = 256u;

var<workgroup> partial_ones: array<u32, 256>;
var<workgroup> partial_bonds: array<u32, 256>;

// Forward bonds of a site (Lattice::forward_neighbours): +x, +y, +z and, triangular, (+1, -1).
fn set_forward_bonds(base: u32, site: u32) -> u32 {
    let l = params.dims.x;
    let ly = params.dims.y;
    let lz = params.dims.z;
    let x = site % l;
    let row = site / l;
    let y = row % ly;
    let z = row / ly;
    let xp = inc_wrap(x, l);
    var k = state[base + site_at(xp, y, z)];
    if (ly > 1u) {
        k = k + state[base + site_at(x, inc_wrap(y, ly), z)];
        if (params.lattice.y == 1u) {
            k = k + state[base + site_at(xp, dec_wrap(y, ly), z)];
        }
    }
    if (lz > 1u) {
        k = k + state[base + site_at(x, y, inc_wrap(z, lz))];
    }
    return k;
}

fn add64(i: u32, v: u32) {
    let old = atomicAdd(&series[i], v);
    if (old + v < old) {
        atomicAdd(&series[i + 1u], 1u);
    }
}

@compute @workgroup_size(256)
fn measure(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let group = wg.y * nwg.x + wg.x;
    var ones = 0u;
    var bonds = 0u;
    let groups_per_chain = params.measure.x;
    let per_thread = params.measure.y;
    let n = params.dims.w;
    if (group < params.measure.z) {
        let chain = group / groups_per_chain;
        let base = chain * n;
        let start = (group % groups_per_chain) * MEASURE_WORKGROUP * per_thread + local;
        for (var i = 0u; i < per_thread; i = i + 1u) {
            let site = start + i * MEASURE_WORKGROUP;
            if (site < n) {
                let b = state[base + site];
                ones = ones + b;
                bonds = bonds + b * set_forward_bonds(base, site);
            }
        }
    }
    partial_ones[local] = ones;
    partial_bonds[local] = bonds;
    workgroupBarrier();
    for (var stride = MEASURE_WORKGROUP / 2u; stride > 0u; stride = stride >> 1u) {
        if (local < stride) {
            partial_ones[local] = partial_ones[local] + partial_ones[local + stride];
            partial_bonds[local] = partial_bonds[local] + partial_bonds[local + stride];
        }
        workgroupBarrier();
    }
    if (local == 0u && group < params.measure.z) {
        let chain = group / groups_per_chain;
        let out = (step.slot * params.colouring.w + chain) * 4u;
        add64(out, partial_ones[0]);
        add64(out + 2u, partial_bonds[0]);
    }
}
