// Site-packed layout (backend::sites): one bit per spin, 32 same-colour sites of one chain
// per word. Colour c's row r of chain ch is words (c * chains + ch) * R W + r W + k,
// k < W = ceil(L / 64); lane j of word k is the site x = 2 (32 k + j) + o of the row, with
// o = (y + z + c) mod 2; padding lanes stay 0. Every neighbour of a site has the other
// colour: the same lane in the rows y +- 1, z +- 1 and in its own row, and lane j -+ 1 of
// its own row (a shift with the carry from the neighbouring word).
// params.colouring = (2, n = L / 2 sites per colour-row, W, chains);
// params.words = (W, R W words per colour and chain, -, 0).
// CPU twin: backend::sites::{SiteLayout::gather, Update, count_rows}.

struct SiteWord {
    chain: u32,
    row: u32,
    k: u32,
    // index of the word, and of the first word of the chain's other colour
    here: u32,
    other: u32,
    // offset o of the word's sites (x = 2 j + o)
    o: u32,
}

// Word t (0 <= t < chains R W) of colour `colour`.
fn site_word(t: u32, colour: u32) -> SiteWord {
    let cw = params.words.y;
    let w = params.words.x;
    let chains = params.colouring.w;
    var s: SiteWord;
    s.chain = t / cw;
    let i = t % cw;
    s.row = i / w;
    s.k = i % w;
    s.here = (colour * chains + s.chain) * cw + i;
    s.other = ((1u - colour) * chains + s.chain) * cw;
    let y = s.row % params.dims.y;
    let z = s.row / params.dims.y;
    s.o = (y + z + colour) & 1u;
    return s;
}

// Lanes of word k of a row that hold sites.
fn valid_lanes(k: u32) -> u32 {
    let rest = params.colouring.y - 32u * k;
    if (rest >= 32u) {
        return 0xFFFFFFFFu;
    }
    return (1u << rest) - 1u;
}

// The neighbour words of word s (SiteLayout::gather): same lane in its own row of the other
// colour, the shifted lane, then y + 1, y - 1, z + 1, z - 1 (0 where absent).
fn site_neighbours(s: SiteWord) -> array<u32, 6> {
    let w = params.words.x;
    let base = s.other + s.row * w;
    let a = state[base + s.k];
    let last = (params.colouring.y - 1u) & 31u;
    var shifted: u32;
    if (s.o == 0u) {
        // lane j - 1: carry from the previous word (periodic)
        var carry = (state[base + w - 1u] >> last) & 1u;
        if (s.k > 0u) {
            carry = state[base + s.k - 1u] >> 31u;
        }
        shifted = (a << 1u) | carry;
    } else {
        // lane j + 1: carry from the next word (periodic)
        var carry = (state[base] & 1u) << last;
        if (s.k + 1u < w) {
            carry = state[base + s.k + 1u] << 31u;
        }
        shifted = (a >> 1u) | carry;
    }
    var nw = array<u32, 6>(a, shifted, 0u, 0u, 0u, 0u);
    let ly = params.dims.y;
    let lz = params.dims.z;
    let y = s.row % ly;
    let z = s.row / ly;
    if (ly > 1u) {
        nw[2] = state[s.other + (z * ly + inc_wrap(y, ly)) * w + s.k];
        nw[3] = state[s.other + (z * ly + dec_wrap(y, ly)) * w + s.k];
    }
    if (lz > 1u) {
        nw[4] = state[s.other + (inc_wrap(z, lz) * ly + y) * w + s.k];
        nw[5] = state[s.other + (dec_wrap(z, lz) * ly + y) * w + s.k];
    }
    return nw;
}

@compute @workgroup_size(UPDATE_WORKGROUP)
fn update_sites(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let t = linear_index(wg, nwg, local, UPDATE_WORKGROUP);
    if (t >= step.total_threads) {
        return;
    }
    let s = site_word(t, step.colour);
    let b = state[s.here];
    let count = neighbour_count(site_neighbours(s));
    let cw = params.words.y;
    let counter = step.colour * cw + t % cw;
    state[s.here] = b ^ lazy_flips(b, count, valid_lanes(s.k), counter, s.chain, PURPOSE_SITES);
}

// Fourier sums along x of the set lanes of a word whose lane j is the site 2 (32 k + j) + o.
fn word_fourier(word: u32, k: u32, o: u32, f: ptr<function, vec4<u32>>) {
    let l = params.dims.x;
    var rest = word;
    while (rest != 0u) {
        let x = 2u * (32u * k + firstTrailingBit(rest)) + o;
        rest = rest & (rest - 1u);
        let re = signed_pair(trig[x], 1u);
        let im = signed_pair(trig[l + x], 1u);
        *f = *f + vec4<u32>(re, im);
    }
}

// Per-chain counts in the site-packed layout: invocation i of a chain takes the word pair
// (row, k) of both colours: popcounts for n1, the colour-0 word ANDed with its neighbour
// words for n11 (every bond has one colour-0 end), the set lanes for the Fourier sums.
// Workgroups never span chains. Bounds: 64 sites per invocation, so a workgroup's sums stay
// below 2^29.
@compute @workgroup_size(MEASURE_WORKGROUP)
fn measure_sites(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let group = wg.y * nwg.x + wg.x;
    let groups_per_chain = params.measure.x;
    let cw = params.words.y;
    let in_range = group < params.measure.z;
    let chain = group / groups_per_chain;
    var ones = 0u;
    var bonds = 0u;
    var fx = vec4<u32>(0u);
    var fy = vec4<u32>(0u);
    let i = (group % groups_per_chain) * MEASURE_WORKGROUP + local;
    if (in_range && i < cw) {
        let s = site_word(chain * cw + i, 0u);
        let w0 = state[s.here];
        let w1 = state[s.other + i];
        let nw = site_neighbours(s);
        ones = countOneBits(w0) + countOneBits(w1);
        bonds = countOneBits(w0 & nw[0]) + countOneBits(w0 & nw[1]) + countOneBits(w0 & nw[2])
            + countOneBits(w0 & nw[3]) + countOneBits(w0 & nw[4]) + countOneBits(w0 & nw[5]);
        word_fourier(w0, s.k, s.o, &fx);
        word_fourier(w1, s.k, 1u - s.o, &fx);
        if (params.dims.y > 1u) {
            let y = s.row % params.dims.y;
            let l = params.dims.x;
            fy = vec4<u32>(signed_pair(trig[y], ones), signed_pair(trig[l + y], ones));
        }
    }
    reduce_counts(in_range, chain, local, ones, bonds, fx, fy);
}
