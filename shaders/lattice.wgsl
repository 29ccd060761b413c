// Shared lattice indexing and bindings of the sampler kernels (update.wgsl, measure.wgsl).
// Twin of src/lattice.rs: site = (z * Ly + y) * L + x; one u32 per site holding the bit b
// (unit value 2b-1 for spins, b for bernoulli).

struct Params {
    // L, Ly, Lz, sites per chain
    dims: vec4<u32>,
    // colours, lanes per row (L / colours), sites per colour, chains
    colouring: vec4<u32>,
    // coordination z, triangular (0/1), seed low word, seed high word
    lattice: vec4<u32>,
    // measure kernel: workgroups per chain, sites per thread, total workgroups, 0
    measure: vec4<u32>,
    // flip thresholds, index b * (z + 1) + k, four per vec4
    flip: array<vec4<u32>, 4>,
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

const CERTAIN: u32 = 0xFFFFFFFFu;

fn site_at(x: u32, y: u32, z: u32) -> u32 {
    return (z * params.dims.y + y) * params.dims.x + x;
}

fn inc_wrap(a: u32, n: u32) -> u32 {
    return select(a + 1u, 0u, a + 1u == n);
}

fn dec_wrap(a: u32, n: u32) -> u32 {
    return select(a - 1u, n - 1u, a == 0u);
}

// The t-th site of a colour (Lattice::site_of_colour).
fn site_of_colour(colour: u32, t: u32) -> u32 {
    let n = params.colouring.x;
    let lanes = params.colouring.y;
    let row = t / lanes;
    let j = t % lanes;
    let y = row % params.dims.y;
    let z = row / params.dims.y;
    var offset: u32;
    if (n == 3u) {
        offset = (colour + y) % 3u;
    } else {
        offset = (colour + y + z) & 1u;
    }
    return row * params.dims.x + j * n + offset;
}

// Number of set neighbours of `site` in the chain starting at `base` (Lattice::neighbours).
fn set_neighbours(base: u32, site: u32) -> u32 {
    let l = params.dims.x;
    let ly = params.dims.y;
    let lz = params.dims.z;
    let x = site % l;
    let row = site / l;
    let y = row % ly;
    let z = row / ly;
    let xp = inc_wrap(x, l);
    let xm = dec_wrap(x, l);
    var k = state[base + site_at(xp, y, z)] + state[base + site_at(xm, y, z)];
    if (ly > 1u) {
        let yp = inc_wrap(y, ly);
        let ym = dec_wrap(y, ly);
        k = k + state[base + site_at(x, yp, z)] + state[base + site_at(x, ym, z)];
        if (params.lattice.y == 1u) {
            k = k + state[base + site_at(xp, ym, z)] + state[base + site_at(xm, yp, z)];
        }
    }
    if (lz > 1u) {
        k = k + state[base + site_at(x, y, inc_wrap(z, lz))] + state[base + site_at(x, y, dec_wrap(z, lz))];
    }
    return k;
}

// Linear invocation index of a 2D dispatch of 1D workgroups of size `size`.
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, local: u32, size: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * size + local;
}
