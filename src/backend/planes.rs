//! The multi-spin decision shared by both packed layouts (chains-packed
//! [`crate::backend::packed`] and sites-packed [`crate::backend::sites`]), written once for a
//! generic [`Word`] of lanes so that the scalar path (`u32`, the GPU's word) and the SIMD
//! path ([`WordVec`]: several 32-bit words processed together) are the same code.
//!
//! **Classes.** A lane's flip threshold depends on its bit `b` and its number `k` of set
//! neighbours. The neighbours are counted bit-sliced (`k = s0 + 2 s1 + 4 s2`, at most 7), and
//! a per-plane *truth table* with bit `8 b + k` says whether the threshold of class (b, k) has
//! that plane's bit set. [`table_select`] evaluates the table on whole words with a tree of
//! 15 multiplexers — bit operations only, no indexed array of class masks (the WGSL twin,
//! `table_select` in `shaders/planes.wgsl`, keeps everything in registers on real GPUs).
//!
//! **Decisions.** A lane flips iff `r < T` (or T is certain), r a uniform 32-bit number drawn
//! lazily, most significant bit first, one *bit plane* (one bit per lane of a 32-bit word) at
//! a time: where r's bit is 0 and T's is 1 the lane flips, where it is 1 and 0 it keeps, equal
//! bits stay undecided. Planes come in groups of four (one Philox call, words 0…3 = planes
//! 4g … 4g+3); a 32-lane word needs about seven planes on average instead of 32 words.
//! Certain classes are decided before any plane is drawn, padding lanes never flip.

use crate::rng::{PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1};
use std::ops::{BitAnd, BitOr, BitXor, Not};

/// Flip-threshold truth tables of one model: for plane p (bit 31 − p of a threshold) bit
/// `8 b + k` of `planes[p]` is that bit of the threshold of class (b, k); `certain` has bit
/// `8 b + k` set where the threshold is [`crate::model::CERTAIN`] (those lanes flip without a
/// draw; their plane bits are 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaneTables {
    /// Truth table of each plane.
    pub planes: [u32; 32],
    /// Truth table of the certain classes.
    pub certain: u32,
}

impl PlaneTables {
    /// From the flip thresholds (index `b (z + 1) + k`) of a lattice with coordination z ≤ 7.
    pub fn new(flip: &[u32; 16], z: u32) -> Self {
        let mut t = PlaneTables {
            planes: [0; 32],
            certain: 0,
        };
        for b in 0..2 {
            for k in 0..=z {
                let th = flip[(b * (z + 1) + k) as usize];
                let bit = 1 << (8 * b + k);
                if th == crate::model::CERTAIN {
                    t.certain |= bit;
                    continue;
                }
                for p in 0..32 {
                    if th >> (31 - p) & 1 == 1 {
                        t.planes[p] |= bit;
                    }
                }
            }
        }
        t
    }

    /// The 33 tables as the GPU uniform holds them (planes 0…31, then `certain`).
    pub fn uniform(&self) -> [[u32; 4]; 9] {
        let mut p = [0u32; 36];
        p[..32].copy_from_slice(&self.planes);
        p[32] = self.certain;
        bytemuck::cast(p)
    }
}

/// A word of lanes: bitwise operations, a broadcast, a test for any set lane, and Philox on
/// one counter per 32-bit word.
pub trait Word:
    Copy + BitAnd<Output = Self> + BitOr<Output = Self> + BitXor<Output = Self> + Not<Output = Self>
{
    /// The all-zero word.
    const ZERO: Self;
    /// Every 32-bit word equal to `v`.
    fn splat(v: u32) -> Self;
    /// True if any bit is set.
    fn any(self) -> bool;
}

impl Word for u32 {
    const ZERO: Self = 0;
    #[inline(always)]
    fn splat(v: u32) -> Self {
        v
    }
    #[inline(always)]
    fn any(self) -> bool {
        self != 0
    }
}

/// `N` 32-bit words processed together (the SIMD path: LLVM turns the lane loops into vector
/// instructions inside functions compiled for AVX2 / AVX-512).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(align(64))]
pub struct WordVec<const N: usize>(pub [u32; N]);

macro_rules! lane_op {
    ($tr:ident, $f:ident, $op:tt) => {
        impl<const N: usize> $tr for WordVec<N> {
            type Output = Self;
            #[allow(clippy::assign_op_pattern)]
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                let mut r = self.0;
                for i in 0..N {
                    r[i] = r[i] $op o.0[i];
                }
                WordVec(r)
            }
        }
    };
}
lane_op!(BitAnd, bitand, &);
lane_op!(BitOr, bitor, |);
lane_op!(BitXor, bitxor, ^);

impl<const N: usize> Not for WordVec<N> {
    type Output = Self;
    #[inline(always)]
    fn not(self) -> Self {
        let mut r = self.0;
        for x in r.iter_mut() {
            *x = !*x;
        }
        WordVec(r)
    }
}

impl<const N: usize> Word for WordVec<N> {
    const ZERO: Self = WordVec([0; N]);
    #[inline(always)]
    fn splat(v: u32) -> Self {
        WordVec([v; N])
    }
    #[inline(always)]
    fn any(self) -> bool {
        self.0.iter().fold(0, |a, &b| a | b) != 0
    }
}

/// Philox4x32-10 of `G × N` counters at once (`c[g][w][i]` is word w of counter i of
/// group g; independent groups interleave for instruction-level parallelism), equal to
/// [`crate::rng::philox4x32_10`] counter by counter.
#[inline(always)]
pub fn philox_batch<const N: usize, const G: usize>(
    mut c: [[[u32; N]; 4]; G],
    key: [u32; 2],
) -> [[[u32; N]; 4]; G] {
    let mut k = key;
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        }
        for c in c.iter_mut() {
            let mut out = [[0u32; N]; 4];
            for i in 0..N {
                let p0 = PHILOX_M0 as u64 * c[0][i] as u64;
                let p1 = PHILOX_M1 as u64 * c[2][i] as u64;
                out[0][i] = (p1 >> 32) as u32 ^ c[1][i] ^ k[0];
                out[1][i] = p1 as u32;
                out[2][i] = (p0 >> 32) as u32 ^ c[3][i] ^ k[1];
                out[3][i] = p0 as u32;
            }
            *c = out;
        }
    }
    c
}

/// Bit-sliced count of the set neighbours of each lane: `k = s0 + 2 s1 + 4 s2` (saturating
/// at 7; z ≤ 6 here). Unused neighbour slots are zero words.
#[inline(always)]
pub fn neighbour_count<W: Word>(neighbours: &[W]) -> [W; 3] {
    let (mut s0, mut s1, mut s2) = (W::ZERO, W::ZERO, W::ZERO);
    for &w in neighbours {
        let c0 = s0 & w;
        s0 = s0 ^ w;
        let c1 = s1 & c0;
        s1 = s1 ^ c0;
        s2 = s2 | c1;
    }
    [s0, s1, s2]
}

/// `a` where `s` is 0, `b` where it is 1.
#[inline(always)]
fn mux<W: Word>(a: W, b: W, s: W) -> W {
    a ^ ((a ^ b) & s)
}

/// Evaluates the truth table `t` (bit `8 b + 4 s2 + 2 s1 + s0`) on every lane: a tree of
/// multiplexers over s0, s1, s2 and then b (twin of `table_select` in planes.wgsl).
#[inline(always)]
pub fn table_select<W: Word>(t: u32, b: W, s: [W; 3]) -> W {
    let bit = |i: u32| W::splat(0u32.wrapping_sub(t >> i & 1));
    let level0: [W; 8] =
        std::array::from_fn(|i| mux(bit(2 * i as u32), bit(2 * i as u32 + 1), s[0]));
    let level1: [W; 4] = std::array::from_fn(|i| mux(level0[2 * i], level0[2 * i + 1], s[1]));
    let level2: [W; 2] = std::array::from_fn(|i| mux(level1[2 * i], level1[2 * i + 1], s[2]));
    mux(level2[0], level2[1], b)
}

/// The 16 class masks of a word: mask `8 b + k` has the lanes with bit b and k set
/// neighbours. Selecting a table with them costs one OR per class in the table (the CPU's
/// way; the GPU evaluates [`table_select`] to keep everything in registers — both are the
/// same boolean function of (b, s0, s1, s2)).
#[derive(Clone, Copy)]
pub struct ClassMasks<W> {
    masks: [W; 16],
}

impl<W: Word> ClassMasks<W> {
    /// The masks of a word with bits `b` and neighbour counts `s`.
    #[inline(always)]
    pub fn new(b: W, s: [W; 3]) -> Self {
        let mut masks = [W::ZERO; 16];
        for k in 0..8 {
            let e0 = if k & 1 == 1 { s[0] } else { !s[0] };
            let e1 = if k & 2 == 2 { s[1] } else { !s[1] };
            let e2 = if k & 4 == 4 { s[2] } else { !s[2] };
            let eq = e0 & e1 & e2;
            masks[k] = !b & eq;
            masks[8 + k] = b & eq;
        }
        ClassMasks { masks }
    }

    /// The lanes whose class has its bit set in truth table `t` (equal to
    /// [`table_select`]`(t, b, s)`).
    #[inline(always)]
    pub fn select(&self, t: u32) -> W {
        let mut set = t;
        let mut acc = W::ZERO;
        while set != 0 {
            acc = acc | self.masks[set.trailing_zeros() as usize];
            set &= set - 1;
        }
        acc
    }
}

/// The flip mask: lane i flips iff its r < T (see the module docs). `select(table)` gives
/// the lanes whose class has its bit set in a truth table ([`table_select`] or
/// [`ClassMasks::select`]); `valid` masks padding lanes (they never flip); `draw(g)` returns
/// the Philox words of plane group g (planes 4g … 4g + 3).
#[inline(always)]
pub fn lazy_flips<W: Word>(
    t: &PlaneTables,
    select: impl Fn(u32) -> W,
    valid: W,
    mut draw: impl FnMut(u32) -> [W; 4],
) -> W {
    let mut result = select(t.certain) & valid;
    let mut undecided = valid & !result;
    for g in 0..8u32 {
        if !undecided.any() {
            break;
        }
        let r = draw(g);
        for (i, &rb) in r.iter().enumerate() {
            let tb = select(t.planes[(4 * g) as usize + i]);
            let less = undecided & !rb & tb;
            let greater = undecided & rb & !tb;
            result = result | less;
            undecided = undecided & !(less | greater);
        }
    }
    result
}

/// The flip masks of `N` words at once (the CPU's batch of [`lazy_flips`]): word i has bits
/// `b[i]`, neighbour words `neighbours[s].0[i]` (one slot per neighbour), lanes `valid[i]`,
/// and draws plane group g from `philox4x32_10([c0[i], sweep, c2[i], purpose | g << 8],
/// key)`. The first three plane groups are drawn together for instruction-level parallelism
/// (most batches of eight words need them all); that changes no decision.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn decide<const N: usize>(
    t: &PlaneTables,
    key: [u32; 2],
    sweep: u32,
    purpose: u32,
    b: [u32; N],
    neighbours: &[WordVec<N>],
    valid: [u32; N],
    c0: [u32; N],
    c2: [u32; N],
) -> [u32; N] {
    let classes = ClassMasks::new(WordVec(b), neighbour_count(neighbours));
    let counters = |g: u32| [c0, [sweep; N], c2, [purpose | g << 8; N]];
    let lanes = |r: [[u32; N]; 4]| [WordVec(r[0]), WordVec(r[1]), WordVec(r[2]), WordVec(r[3])];
    let first = philox_batch([counters(0), counters(1), counters(2)], key);
    lazy_flips(
        t,
        |x| classes.select(x),
        WordVec(valid),
        |g| {
            if g < 3 {
                lanes(first[g as usize])
            } else {
                lanes(philox_batch([counters(g)], key)[0])
            }
        },
    )
    .0
}

/// How the CPU runs the packed kernels: one 32-bit word at a time, or [`WIDE_WORDS`] at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// One 32-bit word at a time (the GPU's structure).
    Scalar,
    /// Eight words at once: AVX2 on x86-64 (detected at run time), NEON on aarch64.
    Wide,
}

/// Words the wide path decides together.
pub const WIDE_WORDS: usize = 8;

impl Simd {
    /// The widest path this CPU supports (runtime detection). AVX-512 is not used: on the
    /// development machine (Sapphire Rapids) the same code compiled for it ran 30 % slower
    /// than for AVX2.
    pub fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                return Simd::Wide;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            return Simd::Wide;
        }
        #[allow(unreachable_code)]
        Simd::Scalar
    }

    /// `wanted` where this CPU has it, else [`Simd::Scalar`].
    pub fn available(wanted: Simd) -> Simd {
        match (wanted, Simd::detect()) {
            (Simd::Wide, Simd::Wide) => Simd::Wide,
            _ => Simd::Scalar,
        }
    }

    /// Name for the backend description.
    pub fn name(self) -> &'static str {
        match self {
            Simd::Scalar => "scalar",
            Simd::Wide if cfg!(target_arch = "aarch64") => "NEON, 8 words at once",
            Simd::Wide => "AVX2, 8 words at once",
        }
    }
}

/// Byte i of `EXPAND[v]` is bit i of v.
const EXPAND: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut v = 0;
    while v < 256 {
        let mut i = 0;
        while i < 8 {
            t[v] |= ((v as u64 >> i) & 1) << (8 * i);
            i += 1;
        }
        v += 1;
    }
    t
};

/// Per-lane counters of a 32-lane word, 8 bits each (byte i of `0[q]` counts lane 8q + i):
/// adding a word costs four table look-ups and adds, with no per-lane work. At most 255
/// words may be added between two [`ByteCounts::drain`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteCounts(pub [u64; 4]);

impl ByteCounts {
    /// Adds 1 to the counter of every set lane of `w`.
    #[inline(always)]
    pub fn add(&mut self, w: u32) {
        for (q, c) in self.0.iter_mut().enumerate() {
            *c += EXPAND[(w >> (8 * q) & 0xFF) as usize];
        }
    }

    /// Calls `f(lane, count)` for every lane with a non-zero count, then clears.
    #[inline(always)]
    pub fn drain(&mut self, mut f: impl FnMut(usize, u64)) {
        for (q, c) in self.0.iter_mut().enumerate() {
            let mut rest = *c;
            while rest != 0 {
                let byte = rest.trailing_zeros() / 8;
                f(8 * q + byte as usize, rest >> (8 * byte) & 0xFF);
                rest &= !(0xFF << (8 * byte));
            }
            *c = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::accept;
    use crate::rng::philox4x32_10;

    #[test]
    fn byte_counts_count_lanes() {
        let mut c = ByteCounts::default();
        for w in [0x8000_0001u32, 0x8000_0000, 0xFFFF_FFFF] {
            c.add(w);
        }
        let mut got = [0u64; 32];
        c.drain(|lane, n| got[lane] += n);
        let mut want = [1u64; 32];
        want[0] = 2;
        want[31] = 3;
        assert_eq!(got, want);
        assert_eq!(c, ByteCounts::default());
    }

    #[test]
    fn philox_lanes_is_philox() {
        let key = [0xdead_beef, 0x1234_5678];
        let c: [[u32; 8]; 4] = std::array::from_fn(|w| {
            std::array::from_fn(|i| ((w as u32 + 1).wrapping_mul(0x9e37_79b9)) ^ i as u32)
        });
        let out = philox_batch([c, c], key);
        for i in 0..8 {
            let want = philox4x32_10([c[0][i], c[1][i], c[2][i], c[3][i]], key);
            for w in 0..4 {
                assert_eq!(out[0][w][i], want[w]);
                assert_eq!(out[1][w][i], want[w]);
            }
        }
    }

    #[test]
    fn table_select_reads_bit_8b_plus_k() {
        for t in [0u32, 0xFFFF, 0b1010_0110_0101_1001, 0x8001, 0x00FF] {
            for b in 0..2u32 {
                for k in 0..8u32 {
                    let s = [
                        0u32.wrapping_sub(k & 1),
                        0u32.wrapping_sub(k >> 1 & 1),
                        0u32.wrapping_sub(k >> 2 & 1),
                    ];
                    let want = 0u32.wrapping_sub(t >> (8 * b + k) & 1);
                    assert_eq!(
                        table_select(t, 0u32.wrapping_sub(b), s),
                        want,
                        "t={t:#x} b={b} k={k}"
                    );
                }
            }
        }
        // the class masks select the same lanes
        let (b, s) = (0xF0F0_3C3Cu32, [0x1234_5678u32, 0x0F0F_F0F0, 0x0000_FFFF]);
        let m = ClassMasks::new(b, s);
        for t in [0u32, 0xFFFF, 0xA659, 0x8001, 0x00FF, 0x1F3E] {
            assert_eq!(m.select(t), table_select(t, b, s));
        }
        let nb = [0b1011u32, 0b0110, 0b1100, 0b0001];
        let s = neighbour_count(&nb);
        // every one of the four lanes has two set neighbours
        assert_eq!((s[0] & 0xF, s[1] & 0xF, s[2] & 0xF), (0, 0xF, 0));
    }

    #[test]
    fn lazy_comparison_is_r_less_than_t_in_every_lane() {
        let key = [3, 4];
        for th in [0u32, 1, 0x8000_0000, 0xDEAD_BEEF, u32::MAX - 1, u32::MAX] {
            let mut flip = [0u32; 16];
            flip[0] = th;
            let t = PlaneTables::new(&flip, 2);
            for site in 0..100u32 {
                let draw = |g: u32| philox4x32_10([site, 9, 1, 0x10 | g << 8], key);
                let valid = 0x7FFF_FFFF;
                let got = lazy_flips(&t, |tab| table_select(tab, 0u32, [0; 3]), valid, draw);
                for lane in 0..32 {
                    let mut r = 0u32;
                    for p in 0..32u32 {
                        r |= (draw(p / 4)[(p % 4) as usize] >> lane & 1) << (31 - p);
                    }
                    let want = lane < 31 && accept(r, th);
                    assert_eq!(
                        got >> lane & 1 == 1,
                        want,
                        "T={th:#x} site {site} lane {lane}"
                    );
                }
            }
        }
    }
}
