// One colour of a checkerboard sweep, all chains at once. Invocation u of a row updates
// that row's sites of the colour with lane index j = u, u + T, u + 2T, ... (T = update
// threads per row), so neighbouring invocations touch neighbouring sites.
// CPU twin: backend::cpu::update_thread.

const UPDATE_WORKGROUP: u32 = 64u;


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
    let colours = params.colouring.x;
    let lanes = params.colouring.y;
    let per_row = params.colouring.z;
    let rows = params.dims.w;
    let per_chain = rows * per_row;
    let chain = t / per_chain;
    let row = (t % per_chain) / per_row;
    let base = chain * params.words.y;
    let r = row_geometry(base, row, 0u);
    let first = colour_offset(step.colour, r);
    let z1 = params.lattice.x + 1u;
    for (var j = t % per_row; j < lanes; j = j + per_row) {
        let x = j * colours + first;
        let site = row * params.dims.x + x;
        let b = state[r.here + x];
        let k = set_neighbours(r, x);
        let word = philox4x32_10(
            vec4<u32>(site, step.sweep, chain, PURPOSE_UPDATE),
            params.lattice.zw,
        ).x;
        let th = flip_threshold(b * z1 + k);
        let flip = (word < th) || (th == CERTAIN);
        state[r.here + x] = b ^ select(0u, 1u, flip);
    }
}
