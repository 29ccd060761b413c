//! Philox4x32-10, the counter-based generator of Salmon et al. (Random123, SC'11).
//!
//! Every random word in blockspin is `philox4x32_10(counter, key)` of a counter built
//! from (site, sweep, chain, purpose) and a key built from the 64-bit seed, so no RNG
//! state is stored anywhere and any chain can be replayed. `shaders/philox.wgsl` is the
//! bit-identical WGSL twin (WGSL has no 64-bit integers, so it builds the 32×32→64
//! product from 16-bit halves); `tests/philox.rs` holds them equal.

/// Philox multiplier for lanes 0/1.
pub const PHILOX_M0: u32 = 0xD251_1F53;
/// Philox multiplier for lanes 2/3.
pub const PHILOX_M1: u32 = 0xCD9E_8D57;
/// Weyl key increment, word 0 (golden ratio).
pub const PHILOX_W0: u32 = 0x9E37_79B9;
/// Weyl key increment, word 1 (sqrt(3) - 1).
pub const PHILOX_W1: u32 = 0xBB67_AE85;

/// What a random word is used for: the last counter word (the packed kernels add their
/// plane group as `g << 8`), so streams never overlap. The one list of purpose codes; the
/// WGSL constants `PURPOSE_*` of `shaders/` are checked against it (`tests/shaders.rs`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Acceptance / heat-bath decision of one site update.
    Update = 0,
    /// Hot-start initial configuration.
    Init = 1,
    /// DBM visible-unit update.
    DbmVisible = 2,
    /// DBM hidden-unit update.
    DbmHidden = 3,
    /// DBM deep-unit update.
    DbmDeep = 4,
    /// DBM initial state.
    DbmInit = 5,
    /// DBM Metropolis acceptance of a hidden-layer proposal (Bernoulli deep layer).
    DbmAccept = 6,
    /// Block-spin RG: block configurations drawn given the coarse spins.
    Rg = 7,
    /// Block-spin RG estimates: random coarse configurations (`--configurations N`).
    RgEstimate = 8,
    /// Chains-packed kernel plane groups (`| g << 8`).
    Packed = 0x10,
    /// Sites-packed kernel plane groups (`| g << 8`).
    Sites = 0x20,
    /// Swendsen–Wang bond activation: words 0.. of the forward bonds, word 3 the ghost bond.
    SwendsenWangBonds = 0x30,
    /// Swendsen–Wang cluster flip, counter word 0 the cluster's smallest site.
    SwendsenWangFlip = 0x31,
    /// Wolff seed sites and bond activations, counter word 0 the draw number in the sweep.
    Wolff = 0x32,
    /// The Wolff pilot run that sets the clusters per sweep (chain 0).
    WolffPilot = 0x33,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 15] = [
        Purpose::Update,
        Purpose::Init,
        Purpose::DbmVisible,
        Purpose::DbmHidden,
        Purpose::DbmDeep,
        Purpose::DbmInit,
        Purpose::DbmAccept,
        Purpose::Rg,
        Purpose::RgEstimate,
        Purpose::Packed,
        Purpose::Sites,
        Purpose::SwendsenWangBonds,
        Purpose::SwendsenWangFlip,
        Purpose::Wolff,
        Purpose::WolffPilot,
    ];

    /// The name of its WGSL constant (the purposes only the CPU draws have one too).
    pub fn wgsl_name(self) -> &'static str {
        match self {
            Purpose::Update => "PURPOSE_UPDATE",
            Purpose::Init => "PURPOSE_INIT",
            Purpose::DbmVisible => "PURPOSE_DBM_VISIBLE",
            Purpose::DbmHidden => "PURPOSE_DBM_HIDDEN",
            Purpose::DbmDeep => "PURPOSE_DBM_DEEP",
            Purpose::DbmInit => "PURPOSE_DBM_INIT",
            Purpose::DbmAccept => "PURPOSE_DBM_ACCEPT",
            Purpose::Rg => "PURPOSE_RG",
            Purpose::RgEstimate => "PURPOSE_RG_ESTIMATE",
            Purpose::Packed => "PURPOSE_PACKED",
            Purpose::Sites => "PURPOSE_SITES",
            Purpose::SwendsenWangBonds => "PURPOSE_SW_BONDS",
            Purpose::SwendsenWangFlip => "PURPOSE_SW_FLIP",
            Purpose::Wolff => "PURPOSE_WOLFF",
            Purpose::WolffPilot => "PURPOSE_WOLFF_PILOT",
        }
    }
}

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = (a as u64) * (b as u64);
    ((p >> 32) as u32, p as u32)
}

#[inline(always)]
fn round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let (hi0, lo0) = mulhilo(PHILOX_M0, c[0]);
    let (hi1, lo1) = mulhilo(PHILOX_M1, c[2]);
    [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
}

/// Philox4x32 with 10 rounds: four pseudo-random 32-bit words from a 128-bit counter
/// and a 64-bit key.
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        }
        c = round(c, k);
    }
    c
}

/// The Philox key of a 64-bit seed: (low word, high word).
#[inline]
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The one random word used by a site update or initialisation:
/// word 0 of Philox4x32-10 at counter (site, sweep, chain, purpose), key = seed.
#[inline]
pub fn site_word(key: [u32; 2], site: u32, sweep: u32, chain: u32, purpose: Purpose) -> u32 {
    philox4x32_10([site, sweep, chain, purpose as u32], key)[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123 `kat_vectors`, the three philox4x32 10 lines.
    #[test]
    fn known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }
}
