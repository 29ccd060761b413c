// One colour of a multi-spin coded sweep: each word holds one site of 32 chains
// (backend::packed). An invocation updates up to four sites of the colour in one row of one
// word group; a site's 32 decisions take about seven random bit planes instead of 32 words
// (planes.wgsl). CPU twin: backend::packed::PackedCpuSampler.

@compute @workgroup_size(UPDATE_WORKGROUP)
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
        let s = neighbour_count(neighbour_words(r, x));
        state[r.here + x] = b ^ lazy_flips(b, s, 0xFFFFFFFFu, site, task.chain, PURPOSE_PACKED);
    }
}
