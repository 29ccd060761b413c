// One colour of a multi-spin coded sweep: each word holds one site of 32 chains
// (backend::packed). An invocation updates up to four sites of the colour in one row of one
// word group; a site's 32 decisions take about seven random bit planes instead of 32 words.
// CPU twin: backend::packed::{class_masks, packed_flips}.

const PURPOSE_PACKED: u32 = 0x10u;
const CLASSES: u32 = 14u;

// Bit-sliced count of set neighbours (s0, s1, s2), then one mask per class q = b (z+1) + k.
fn class_masks(b: u32, nw: array<u32, 6>) -> array<u32, 14> {
    var s0 = 0u;
    var s1 = 0u;
    var s2 = 0u;
    for (var i = 0u; i < 6u; i = i + 1u) {
        let w = nw[i];
        let c0 = s0 & w;
        s0 = s0 ^ w;
        let c1 = s1 & c0;
        s1 = s1 ^ c0;
        s2 = s2 | c1;
    }
    let z = params.lattice.x;
    var m = array<u32, 14>();
    for (var k = 0u; k <= z; k = k + 1u) {
        let e0 = select(~s0, s0, (k & 1u) == 1u);
        let e1 = select(~s1, s1, (k & 2u) == 2u);
        let e2 = select(~s2, s2, (k & 4u) == 4u);
        let eq = e0 & e1 & e2;
        m[k] = ~b & eq;
        m[z + 1u + k] = b & eq;
    }
    return m;
}

fn plane_set(p: u32) -> u32 {
    return params.planes[p >> 2u][p & 3u];
}

fn select_classes(m: array<u32, 14>, classes: u32) -> u32 {
    var acc = 0u;
    for (var q = 0u; q < CLASSES; q = q + 1u) {
        if (((classes >> q) & 1u) == 1u) {
            acc = acc | m[q];
        }
    }
    return acc;
}

// Flip mask of 32 lanes: r < T decided most significant bit first, one random plane at a time.
fn packed_flips(m: array<u32, 14>, site: u32, sweep: u32, group: u32) -> u32 {
    var result = select_classes(m, plane_set(32u));
    var undecided = ~result;
    var words = vec4<u32>(0u);
    for (var p = 0u; p < 32u; p = p + 1u) {
        if (undecided == 0u) {
            break;
        }
        if ((p & 3u) == 0u) {
            words = philox4x32_10(vec4<u32>(site, sweep, group, PURPOSE_PACKED | ((p >> 2u) << 8u)), params.lattice.zw);
        }
        let rb = words[p & 3u];
        let tb = select_classes(m, plane_set(p));
        let less = undecided & ~rb & tb;
        let greater = undecided & rb & ~tb;
        result = result | less;
        undecided = undecided & ~(less | greater);
    }
    return result;
}

@compute @workgroup_size(64)
fn update_packed(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let t = linear_index(wg, nwg, local, UPDATE_WORKGROUP);
    if (t >= step.total_threads) {
        return;
    }
    let colours = params.colouring.x;
    let per_row = params.colouring.z;
    let task = row_task(t, per_row);
    let r = task.r;
    let first = colour_offset(step.colour, r);
    for (var j = task.index; j < params.colouring.y; j = j + per_row) {
        let x = j * colours + first;
        let site = task.row * params.dims.x + x;
        let b = state[r.here + x];
        let m = class_masks(b, neighbour_words(r, x));
        state[r.here + x] = b ^ packed_flips(m, site, step.sweep, task.chain);
    }
}
