// One colour of a checkerboard sweep, all chains at once. Invocation u of a row updates
// that row's sites of the colour with lane index j = u, u + T, u + 2T, ... (T = update
// threads per row), so neighbouring invocations touch neighbouring sites.
// CPU twin: backend::cpu::update_thread.

@compute @workgroup_size(UPDATE_WORKGROUP)
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
    let per_row = params.colouring.z;
    let task = row_task(t, per_row);
    let r = task.r;
    let first = colour_offset(step.colour, r);
    for (var j = task.index; j < params.colouring.y; j = j + per_row) {
        let x = j * colours + first;
        let b = state[r.here + x];
        let flip = flips(task.row * params.dims.x + x, task.chain, b, set_neighbours(r, x));
        state[r.here + x] = b ^ select(0u, 1u, flip);
    }
}
