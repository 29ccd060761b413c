// Philox4x32-10 (Salmon et al., Random123), bit-identical to src/rng.rs.
// WGSL has no 64-bit integers: the 32x32 -> 64 product is built from 16-bit halves.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// Counter purposes (last counter word), as rng::Purpose.
const PURPOSE_UPDATE: u32 = 0u;
const PURPOSE_INIT: u32 = 1u;

// Full 64-bit product of a and b as (hi, lo).
fn mulhilo32(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    // middle column: high half of ll plus low halves of the cross terms (fits in 18 bits)
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    let lo = (mid << 16u) | (ll & 0xFFFFu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, lo);
}

fn philox_round(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
    let p0 = mulhilo32(PHILOX_M0, c.x);
    let p1 = mulhilo32(PHILOX_M1, c.z);
    return vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    c = philox_round(c, k);
    for (var r = 1u; r < 10u; r = r + 1u) {
        k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
        c = philox_round(c, k);
    }
    return c;
}
