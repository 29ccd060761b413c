// The multi-spin decision of both packed layouts (chains-packed update_packed.wgsl and
// sites-packed update_sites.wgsl). CPU twin: backend::planes.
// Each lane flips iff r < T (or T certain), r drawn lazily one bit plane at a time, most
// significant first; plane group g (planes 4g .. 4g+3) is one Philox call. The class of a
// lane is (b, k) with k = s0 + 2 s1 + 4 s2 its bit-sliced number of set neighbours; the
// threshold bits of a plane are a 16-bit truth table (bit 8b + k), evaluated on whole words
// by a tree of multiplexers: bit operations only, no indexed arrays.

const PURPOSE_PACKED: u32 = 0x10u;
const PURPOSE_SITES: u32 = 0x20u;

// Adds word w to the bit-sliced neighbour count (s0, s1, s2).
fn count_add(s: vec3<u32>, w: u32) -> vec3<u32> {
    let c0 = s.x & w;
    let c1 = s.y & c0;
    return vec3<u32>(s.x ^ w, s.y ^ c0, s.z | c1);
}

// Bit-sliced count of six neighbour words (unused ones are 0).
fn neighbour_count(nw: array<u32, 6>) -> vec3<u32> {
    var s = count_add(vec3<u32>(0u), nw[0]);
    s = count_add(s, nw[1]);
    s = count_add(s, nw[2]);
    s = count_add(s, nw[3]);
    s = count_add(s, nw[4]);
    return count_add(s, nw[5]);
}

// All ones where bit i of t is set.
fn table_bit(t: u32, i: u32) -> u32 {
    return 0u - ((t >> i) & 1u);
}

// a where s is 0, b where s is 1.
fn mux(a: u32, b: u32, s: u32) -> u32 {
    return a ^ ((a ^ b) & s);
}

// Truth table t (bit 8b + 4 s2 + 2 s1 + s0) on 32 lanes (backend::planes::table_select).
fn table_select(t: u32, b: u32, s: vec3<u32>) -> u32 {
    let a0 = mux(table_bit(t, 0u), table_bit(t, 1u), s.x);
    let a1 = mux(table_bit(t, 2u), table_bit(t, 3u), s.x);
    let a2 = mux(table_bit(t, 4u), table_bit(t, 5u), s.x);
    let a3 = mux(table_bit(t, 6u), table_bit(t, 7u), s.x);
    let a4 = mux(table_bit(t, 8u), table_bit(t, 9u), s.x);
    let a5 = mux(table_bit(t, 10u), table_bit(t, 11u), s.x);
    let a6 = mux(table_bit(t, 12u), table_bit(t, 13u), s.x);
    let a7 = mux(table_bit(t, 14u), table_bit(t, 15u), s.x);
    let b0 = mux(a0, a1, s.y);
    let b1 = mux(a2, a3, s.y);
    let b2 = mux(a4, a5, s.y);
    let b3 = mux(a6, a7, s.y);
    let c0 = mux(b0, b1, s.z);
    let c1 = mux(b2, b3, s.z);
    return mux(c0, c1, b);
}

// Truth table of plane p (p = 32: the certain classes), from params.planes.
fn plane_table(p: u32) -> u32 {
    return params.planes[p >> 2u][p & 3u];
}

// (flips, undecided) after one plane with random bits rb.
fn plane_step(d: vec2<u32>, rb: u32, p: u32, b: u32, s: vec3<u32>) -> vec2<u32> {
    let tb = table_select(plane_table(p), b, s);
    let less = d.y & ~rb & tb;
    let greater = d.y & rb & ~tb;
    return vec2<u32>(d.x | less, d.y & ~(less | greater));
}

// Flip mask of 32 lanes with bits b and neighbour counts s; padding lanes (not in `valid`)
// never flip. Plane group g is philox4x32_10((c0, sweep, c2, purpose | g << 8), seed).
fn lazy_flips(b: u32, s: vec3<u32>, valid: u32, c0: u32, c2: u32, purpose: u32) -> u32 {
    let certain = table_select(plane_table(32u), b, s) & valid;
    var d = vec2<u32>(certain, valid & ~certain);
    for (var g = 0u; g < 8u; g = g + 1u) {
        if (d.y == 0u) {
            break;
        }
        let r = philox4x32_10(vec4<u32>(c0, step.sweep, c2, purpose | (g << 8u)), params.lattice.zw);
        d = plane_step(d, r.x, 4u * g, b, s);
        d = plane_step(d, r.y, 4u * g + 1u, b, s);
        d = plane_step(d, r.z, 4u * g + 2u, b, s);
        d = plane_step(d, r.w, 4u * g + 3u, b, s);
    }
    return d.x;
}
