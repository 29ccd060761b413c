// Shared lattice indexing and bindings of the sampler kernels (update.wgsl,
// update_packed.wgsl, update_rows.wgsl, measure.wgsl). Twin of src/lattice.rs:
// site = (z * Ly + y) * L + x. Three state layouts (backend::gpu::Layout):
// - per site: one u32 word per site and chain (the word is the bit b);
// - chain-packed: one word per site and group of 32 chains (bit l = chain 32 g + l);
// - row-packed: 32 consecutive sites of a row per word (bit x % 32 of word x / 32; a row
//   has W = ceil(L / 32) words, the padding bits stay 0), split over up to four bindings
//   of 2^shift words each, so that a lattice larger than one storage binding fits and no
//   index exceeds u32 (rows and words are indexed, never bits).
// The unit value is 2b-1 for spins, b for bernoulli. Kernels work on rows (lines along x):
// row = z * Ly + y; the row geometry is computed once per invocation, so no integer
// division happens per site.

struct Params {
    // L, Ly, Lz, rows per chain (Ly Lz)
    dims: vec4<u32>,
    // colours, lanes per row (L / colours), update threads per row, chains
    colouring: vec4<u32>,
    // coordination z, triangular (0/1), seed low word, seed high word
    lattice: vec4<u32>,
    // measure kernel: workgroups per chain, sites per segment, total workgroups, segments per row
    measure: vec4<u32>,
    // flip thresholds, index b * (z + 1) + k, four per vec4
    flip: array<vec4<u32>, 4>,
    // chains per word (1 or 32), word groups, 0, 0
    packing: vec4<u32>,
    // packed kernel: for plane p < 32 the classes whose threshold has bit 31 - p set;
    // entry 32: the classes whose threshold is certain
    planes: array<vec4<u32>, 9>,
    // words per row, words per chain (or word group), part shift, row-packed (0/1)
    words: vec4<u32>,
    // Swendsen-Wang (cluster.wgsl, backend::cluster::Bonds): bond threshold, satisfied
    // bonds join equal bits (1) or unequal ones (0), ghost-bond threshold, the bit along the
    // field; zero for the single-site kernels
    cluster: vec4<u32>,
}

// One entry per dispatch, selected by a dynamic offset.
struct Step {
    sweep: u32,
    colour: u32,
    slot: u32,
    total_threads: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> series: array<atomic<u32>>;
// Integer Fourier tables of k = 2π/L (model::Trig): cos at [0, L), sin at [L, 2L).
@group(0) @binding(4) var<storage, read> trig: array<i32>;
// Row-packed layout: words [k 2^shift, (k + 1) 2^shift) live in part k (part 0 is `state`).
// The other layouts bind a dummy word here.
@group(0) @binding(5) var<storage, read_write> part1: array<u32>;
@group(0) @binding(6) var<storage, read_write> part2: array<u32>;
@group(0) @binding(7) var<storage, read_write> part3: array<u32>;

const CERTAIN: u32 = 0xFFFFFFFFu;

// Flip threshold of class b * (z + 1) + k.
fn flip_threshold(i: u32) -> u32 {
    return params.flip[i >> 2u][i & 3u];
}

// Workgroup size of the update kernels (UPDATE_WORKGROUP in backend::gpu).
const UPDATE_WORKGROUP: u32 = 64u;

// The single-site decision of the reference kernels (update, update_rows): site `site`
// (row * L + x) of `chain`, holding bit b with k set neighbours, flips iff its Philox word
// is below the class threshold. CPU twin: backend::cpu::Rule::decide.
fn flips(site: u32, chain: u32, b: u32, k: u32) -> bool {
    let word = philox4x32_10(
        vec4<u32>(site, step.sweep, chain, PURPOSE_UPDATE),
        params.lattice.zw,
    ).x;
    let th = flip_threshold(b * (params.lattice.x + 1u) + k);
    return (word < th) || (th == CERTAIN);
}

fn inc_wrap(a: u32, n: u32) -> u32 {
    return select(a + 1u, 0u, a + 1u == n);
}

fn dec_wrap(a: u32, n: u32) -> u32 {
    return select(a - 1u, n - 1u, a == 0u);
}

// Buffer indices of (0, y, z) for a row and its neighbouring rows (Lattice::row),
// offset by the chain's base. Absent axes point at the row itself and are never read.
struct Row {
    y: u32,
    z: u32,
    lane: u32,
    here: u32,
    y_plus: u32,
    y_minus: u32,
    z_plus: u32,
    z_minus: u32,
}

fn row_geometry(base: u32, row: u32, lane: u32) -> Row {
    let l = params.dims.x;
    let ly = params.dims.y;
    let lz = params.dims.z;
    let y = row % ly;
    let z = row / ly;
    var r: Row;
    r.y = y;
    r.z = z;
    r.lane = lane;
    let w = params.words.x;
    r.here = base + row * w;
    r.y_plus = base + (z * ly + inc_wrap(y, ly)) * w;
    r.y_minus = base + (z * ly + dec_wrap(y, ly)) * w;
    r.z_plus = base + (inc_wrap(z, lz) * ly + y) * w;
    r.z_minus = base + (dec_wrap(z, lz) * ly + y) * w;
    return r;
}

// Word i of the row-packed state.
fn load_word(i: u32) -> u32 {
    let j = i & ((1u << params.words.z) - 1u);
    let p = i >> params.words.z;
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

fn store_word(i: u32, v: u32) {
    let j = i & ((1u << params.words.z) - 1u);
    let p = i >> params.words.z;
    if (p == 0u) {
        state[j] = v;
    } else if (p == 1u) {
        part1[j] = v;
    } else if (p == 2u) {
        part2[j] = v;
    } else {
        part3[j] = v;
    }
}

// The neighbour words of site x of a row (Lattice::neighbours); unused entries are 0.
// Branch-free: absent axes point at the row itself (row_geometry), so every load is in
// bounds and `select` keeps only the lattice's own neighbours.
fn neighbour_words(r: Row, x: u32) -> array<u32, 6> {
    let l = params.dims.x;
    let xp = inc_wrap(x, l);
    let xm = dec_wrap(x, l);
    let has_y = params.dims.y > 1u;
    let has_z = params.dims.z > 1u;
    let triangular = params.lattice.y == 1u;
    let yp = select(0u, state[r.y_plus + x], has_y);
    let ym = select(0u, state[r.y_minus + x], has_y);
    let d4 = select(select(0u, state[r.y_minus + xp], triangular), state[r.z_plus + x], has_z);
    let d5 = select(select(0u, state[r.y_plus + xm], triangular), state[r.z_minus + x], has_z);
    return array<u32, 6>(state[r.here + xp], state[r.here + xm], yp, ym, d4, d5);
}

// Number of set neighbours of site x of a row in the reference layout (one chain per word).
fn set_neighbours(r: Row, x: u32) -> u32 {
    let w = neighbour_words(r, x);
    return w[0] + w[1] + w[2] + w[3] + w[4] + w[5];
}

// What update invocation t works on when each row of each chain (or word group) has
// `per_row` invocations: the chain, the row, the invocation's index within the row, and the
// row's geometry.
struct RowTask {
    chain: u32,
    row: u32,
    index: u32,
    r: Row,
}

fn row_task(t: u32, per_row: u32) -> RowTask {
    let per_chain = params.dims.w * per_row;
    var task: RowTask;
    task.chain = t / per_chain;
    task.row = (t % per_chain) / per_row;
    task.index = t % per_row;
    task.r = row_geometry(task.chain * params.words.y, task.row, 0u);
    return task;
}

// Bit of site x of the row starting at word `start`, in any layout.
fn row_bit(start: u32, x: u32, lane: u32) -> u32 {
    if (params.words.w == 1u) {
        return (load_word(start + (x >> 5u)) >> (x & 31u)) & 1u;
    }
    return (state[start + x] >> lane) & 1u;
}

// Number of set forward neighbours of site x of a row (Lattice::forward_neighbours):
// +x, +y, +z and, triangular, (+1, -1).
fn set_forward_neighbours(r: Row, x: u32) -> u32 {
    let xp = inc_wrap(x, params.dims.x);
    var k = row_bit(r.here, xp, r.lane);
    if (params.dims.y > 1u) {
        k = k + row_bit(r.y_plus, x, r.lane);
        if (params.lattice.y == 1u) {
            k = k + row_bit(r.y_minus, xp, r.lane);
        }
    }
    if (params.dims.z > 1u) {
        k = k + row_bit(r.z_plus, x, r.lane);
    }
    return k;
}

// First x of a colour in a row (Lattice::colour_offset).
fn colour_offset(colour: u32, r: Row) -> u32 {
    if (params.colouring.x == 3u) {
        return (colour + r.y) % 3u;
    }
    return (colour + r.y + r.z) & 1u;
}

