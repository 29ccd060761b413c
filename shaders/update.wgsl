// One colour of a checkerboard sweep, all chains at once: each invocation updates one
// site. CPU twin: backend::cpu::update_site.

const UPDATE_WORKGROUP: u32 = 64u;

fn flip_threshold(i: u32) -> u32 {
    return params.flip[i >> 2u][i & 3u];
}

@compute @workgroup_size(64)
fn update(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let t = linear_index(wg, nwg, local, UPDATE_WORKGROUP);
    if (t >= step.total_threads) {
        return;
    }
    let per_chain = params.colouring.z;
    let chain = t / per_chain;
    let site = site_of_colour(step.colour, t % per_chain);
    let base = chain * params.dims.w;
    let b = state[base + site];
    let k = set_neighbours(base, site);
    let r = philox4x32_10(
        vec4<u32>(site, step.sweep, chain, PURPOSE_UPDATE),
        params.lattice.zw,
    ).x;
    let th = flip_threshold(b * (params.lattice.x + 1u) + k);
    let flip = (r < th) || (th == CERTAIN);
    state[base + site] = b ^ select(0u, 1u, flip);
}
