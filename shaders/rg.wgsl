// Block-wise conditional sampling for block-spin RG (physics.md §4): every block of every
// sample of every coarse configuration is drawn from the exact single-block measure
// p0(x_B | y_j) by inverting an integer CDF with one Philox word, so the GPU and the CPU
// twin (rg::sampler::draw_blocks) produce identical block states.
//
// Thread t of a batch: configuration m = t / (samples * blocks), sample s, block j.
// Word: philox4x32_10((j, s, first_config + m, PURPOSE_RG), seed).x.

const PURPOSE_RG: u32 = 7u;
// Workgroup size of rg_draw (RG_WORKGROUP in rg::sampler).
const RG_WORKGROUP: u32 = 64u;

struct RgParams {
    // samples, blocks, states per block, 0
    counts: vec4<u32>,
    // seed low, seed high, 0, 0
    key: vec4<u32>,
}

struct RgStep {
    first_config: u32,
    total_threads: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> rg: RgParams;
@group(0) @binding(1) var<uniform> rg_step: RgStep;
// coarse spins of the batch, configuration-major, 1 for y = +1 and 0 for y = -1
@group(0) @binding(2) var<storage, read> coarse: array<u32>;
// integer CDFs: states entries for y = -1, then states entries for y = +1
@group(0) @binding(3) var<storage, read> cdf: array<u32>;
// drawn block states (bit k = spin of block site k), configuration-major
@group(0) @binding(4) var<storage, read_write> block_states: array<u32>;

// The first state k with (r < cdf[k] or cdf[k] certain) (BlockTable::draw).
fn draw_state(base: u32, states: u32, r: u32) -> u32 {
    var lo = 0u;
    var hi = states - 1u;
    while (lo < hi) {
        let mid = (lo + hi) / 2u;
        let t = cdf[base + mid];
        if (r < t || t == 0xFFFFFFFFu) {
            hi = mid;
        } else {
            lo = mid + 1u;
        }
    }
    return lo;
}

@compute @workgroup_size(RG_WORKGROUP)
fn rg_draw(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let t = linear_index(wg, nwg, local, RG_WORKGROUP);
    if (t >= rg_step.total_threads) {
        return;
    }
    let samples = rg.counts.x;
    let blocks = rg.counts.y;
    let states = rg.counts.z;
    let m = t / (samples * blocks);
    let s = (t / blocks) % samples;
    let j = t % blocks;
    let r = philox4x32_10(vec4<u32>(j, s, rg_step.first_config + m, PURPOSE_RG), rg.key.xy).x;
    block_states[t] = draw_state(coarse[m * blocks + j] * states, states, r);
}
