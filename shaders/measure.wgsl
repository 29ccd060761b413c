// Per-chain integer observables n1 = sum_i b_i, n11 = sum over bonds of b_i b_j, and the
// Fourier sums of the set sites at k = 2π/L along x and y (model::Counts::fourier, split by
// sign so that every sum is unsigned and exact).
// Each invocation walks a segment of one row (row geometry computed once: no division per
// site, which software adapters scalarise); in the row-packed layout the segment is one
// word, counted with popcounts of shifted neighbour words.
// Workgroups never span chains: each sums with workgroup atomics (zero-initialised by WGSL)
// and adds its totals as 64-bit (lo, hi) pairs into series[(slot * chains + chain) * MEASURE_WORDS + ..]:
// n1, n11, then the eight Fourier sums (the cluster sums follow, written by cluster.wgsl).
// Bounds: a segment has at most 32 sites and a table entry at most 2^15, so an invocation's
// sums stay below 2^20 and a workgroup's (256 invocations) below 2^28.
// CPU twin: backend::cpu::counts_reference.

const MEASURE_WORKGROUP: u32 = 256u;
// Counts::WORDS u64 per chain: n1, n11, eight Fourier sums, five cluster sums.
const MEASURE_WORDS: u32 = 30u;

var<workgroup> group_ones: atomic<u32>;
var<workgroup> group_bonds: atomic<u32>;
var<workgroup> group_fourier: array<atomic<u32>, 8>;

fn add64(i: u32, v: u32) {
    let old = atomicAdd(&series[i], v);
    if (old + v < old) {
        atomicAdd(&series[i + 1u], 1u);
    }
}

// |v| * n added to the (positive, negative) pair chosen by the sign of v.
fn signed_pair(v: i32, n: u32) -> vec2<u32> {
    let m = u32(abs(v)) * n;
    return select(vec2<u32>(0u, m), vec2<u32>(m, 0u), v >= 0);
}

// Row-packed layout: word w of the row starting at `start`, shifted so that bit j holds
// the site to the right (+x, periodic) of the site in bit j of word w.
fn right_neighbours(start: u32, w: u32) -> u32 {
    let l = params.dims.x;
    let words = params.words.x;
    let bits = min(32u, l - 32u * w);
    let next = select(start + w + 1u, start, w + 1u == words);
    return (load_word(start + w) >> 1u) | ((load_word(next) & 1u) << (bits - 1u));
}

// Row-packed layout: forward bonds (Lattice::forward_neighbours) with both ends set, for
// the sites of word w of a row.
fn forward_bonds_of_word(r: Row, w: u32, word: u32) -> u32 {
    var n = countOneBits(word & right_neighbours(r.here, w));
    if (params.dims.y > 1u) {
        n = n + countOneBits(word & load_word(r.y_plus + w));
        if (params.lattice.y == 1u) {
            n = n + countOneBits(word & right_neighbours(r.y_minus, w));
        }
    }
    if (params.dims.z > 1u) {
        n = n + countOneBits(word & load_word(r.z_plus + w));
    }
    return n;
}

@compute @workgroup_size(MEASURE_WORKGROUP)
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
    let l = params.dims.x;
    let rows = params.dims.w;
    var counts = vec2<u32>(0u, 0u);
    var re_x = vec2<u32>(0u, 0u);
    var im_x = vec2<u32>(0u, 0u);
    var re_y = vec2<u32>(0u, 0u);
    var im_y = vec2<u32>(0u, 0u);
    if (group < params.measure.z) {
        let chain = group / groups_per_chain;
        let t = (group % groups_per_chain) * MEASURE_WORKGROUP + local;
        if (t < rows * segments) {
            let row = t / segments;
            let x0 = (t % segments) * segment;
            let per_word = params.packing.x;
            let r = row_geometry((chain / per_word) * params.words.y, row, chain % per_word);
            if (params.words.w == 1u) {
                // row-packed: the segment is word w of the row; count with word operations
                // and visit only the set sites for the Fourier sums
                let w = t % segments;
                let word = load_word(r.here + w);
                counts = vec2<u32>(countOneBits(word), forward_bonds_of_word(r, w, word));
                var rest = word;
                while (rest != 0u) {
                    let x = x0 + firstTrailingBit(rest);
                    rest = rest & (rest - 1u);
                    re_x = re_x + signed_pair(trig[x], 1u);
                    im_x = im_x + signed_pair(trig[l + x], 1u);
                }
            } else {
                for (var x = x0; x < min(x0 + segment, l); x = x + 1u) {
                    let b = row_bit(r.here, x, r.lane);
                    counts = counts + vec2<u32>(b, b * set_forward_neighbours(r, x));
                    re_x = re_x + signed_pair(trig[x], b);
                    im_x = im_x + signed_pair(trig[l + x], b);
                }
            }
            if (params.dims.y > 1u) {
                re_y = signed_pair(trig[r.y], counts.x);
                im_y = signed_pair(trig[l + r.y], counts.x);
            }
        }
    }
    reduce_counts(
        group < params.measure.z,
        group / groups_per_chain,
        local,
        counts.x,
        counts.y,
        vec4<u32>(re_x, im_x),
        vec4<u32>(re_y, im_y),
    );
}

// Adds one invocation's sums to its workgroup's, then (invocation 0 of a workgroup in
// range) the workgroup's into the chain's series entry. Fourier sums: (Re+, Re-, Im+,
// Im-) along x and along y. Call from uniform control flow (it holds a barrier).
fn reduce_counts(
    in_range: bool,
    chain: u32,
    local: u32,
    ones: u32,
    bonds: u32,
    fx: vec4<u32>,
    fy: vec4<u32>,
) {
    if (ones > 0u) {
        atomicAdd(&group_ones, ones);
        atomicAdd(&group_bonds, bonds);
        let f = array<u32, 8>(fx.x, fx.y, fx.z, fx.w, fy.x, fy.y, fy.z, fy.w);
        for (var i = 0u; i < 8u; i = i + 1u) {
            if (f[i] > 0u) {
                atomicAdd(&group_fourier[i], f[i]);
            }
        }
    }
    workgroupBarrier();
    if (local == 0u && in_range) {
        let out = (step.slot * params.colouring.w + chain) * MEASURE_WORDS;
        add64(out, atomicLoad(&group_ones));
        add64(out + 2u, atomicLoad(&group_bonds));
        for (var i = 0u; i < 8u; i = i + 1u) {
            add64(out + 4u + 2u * i, atomicLoad(&group_fourier[i]));
        }
    }
}
