// One colour of a checkerboard sweep in the row-packed layout (32 sites of a row per word):
// invocation t owns word w of one row of one chain and updates that word's sites of the
// colour, so no two invocations write the same word; it loads the (at most 11) words it
// reads once. Site (row, x) of chain c draws the same Philox word and threshold as in
// update.wgsl, so the trajectory is bit-identical to the per-site layout and to the CPU
// backend.

// Words at columns w - 1, w, w + 1 (mod W) of the row starting at word `start`: every
// neighbour of a site in column w along x lies in one of them.
fn row_columns(start: u32, w: u32) -> vec3<u32> {
    let n = params.words.x;
    return vec3<u32>(
        load_word(start + dec_wrap(w, n)),
        load_word(start + w),
        load_word(start + inc_wrap(w, n)),
    );
}

// Bit of site x from the columns around w of its row.
fn column_bit(v: vec3<u32>, w: u32, x: u32) -> u32 {
    let d = x >> 5u;
    var word = v.y;
    if (d != w) {
        word = select(v.x, v.z, d == inc_wrap(w, params.words.x));
    }
    return (word >> (x & 31u)) & 1u;
}

fn bit_of(word: u32, x: u32) -> u32 {
    return (word >> (x & 31u)) & 1u;
}

@compute @workgroup_size(UPDATE_WORKGROUP)
fn update_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let t = linear_index(wg, nwg, local, UPDATE_WORKGROUP);
    if (t >= step.total_threads) {
        return;
    }
    let l = params.dims.x;
    let colours = params.colouring.x;
    let task = row_task(t, params.words.x);
    let r = task.r;
    let w = task.index;
    let x0 = w * 32u;
    let first = colour_offset(step.colour, r);
    // every word the invocation reads, loaded once (Lattice::neighbours)
    let triangular = params.lattice.y == 1u;
    let here = row_columns(r.here, w);
    var y_plus = vec3<u32>(0u);
    var y_minus = vec3<u32>(0u);
    var z_plus = 0u;
    var z_minus = 0u;
    if (params.dims.y > 1u) {
        if (triangular) {
            y_plus = row_columns(r.y_plus, w);
            y_minus = row_columns(r.y_minus, w);
        } else {
            y_plus.y = load_word(r.y_plus + w);
            y_minus.y = load_word(r.y_minus + w);
        }
    }
    if (params.dims.z > 1u) {
        z_plus = load_word(r.z_plus + w);
        z_minus = load_word(r.z_minus + w);
    }
    let word = here.y;
    var mask = 0u;
    for (var x = x0 + (first + colours - x0 % colours) % colours; x < min(x0 + 32u, l); x = x + colours) {
        let b = bit_of(word, x);
        let xp = inc_wrap(x, l);
        let xm = dec_wrap(x, l);
        var k = column_bit(here, w, xp) + column_bit(here, w, xm);
        if (params.dims.y > 1u) {
            k = k + bit_of(y_plus.y, x) + bit_of(y_minus.y, x);
            if (triangular) {
                k = k + column_bit(y_minus, w, xp) + column_bit(y_plus, w, xm);
            }
        }
        if (params.dims.z > 1u) {
            k = k + bit_of(z_plus, x) + bit_of(z_minus, x);
        }
        if (flips(task.row * l + x, task.chain, b, k)) {
            mask = mask | (1u << (x & 31u));
        }
    }
    if (mask != 0u) {
        store_word(r.here + w, word ^ mask);
    }
}
