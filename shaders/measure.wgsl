// Per-chain integer observables n1 = sum_i b_i and n11 = sum over bonds of b_i b_j.
// Each invocation walks a segment of one row (row geometry computed once: no division per
// site, which software adapters scalarise).
// Workgroups never span chains: each sums with workgroup atomics (zero-initialised by WGSL)
// and adds its totals as 64-bit (lo, hi) pairs into series[(slot * chains + chain) * 4 + ..].
// CPU twin: backend::cpu::counts_reference.

const MEASURE_WORKGROUP: u32 = 256u;

var<workgroup> group_ones: atomic<u32>;
var<workgroup> group_bonds: atomic<u32>;

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
    // measure: workgroups per chain, sites per segment, total workgroups, segments per row
    let groups_per_chain = params.measure.x;
    let segment = params.measure.y;
    let segments = params.measure.w;
    let rows = params.dims.w / params.dims.x;
    var counts = vec2<u32>(0u, 0u);
    if (group < params.measure.z) {
        let chain = group / groups_per_chain;
        let t = (group % groups_per_chain) * MEASURE_WORKGROUP + local;
        if (t < rows * segments) {
            let row = t / segments;
            let x0 = (t % segments) * segment;
            let per_word = params.packing.x;
            let r = row_geometry((chain / per_word) * params.dims.w, row, chain % per_word);
            for (var x = x0; x < min(x0 + segment, params.dims.x); x = x + 1u) {
                let b = bit_at(r.here + x, r.lane);
                counts = counts + vec2<u32>(b, b * set_forward_neighbours(r, x));
            }
        }
    }
    if (counts.x > 0u) {
        atomicAdd(&group_ones, counts.x);
        atomicAdd(&group_bonds, counts.y);
    }
    workgroupBarrier();
    if (local == 0u && group < params.measure.z) {
        let chain = group / groups_per_chain;
        let out = (step.slot * params.colouring.w + chain) * 4u;
        add64(out, atomicLoad(&group_ones));
        add64(out + 2u, atomicLoad(&group_bonds));
    }
}
