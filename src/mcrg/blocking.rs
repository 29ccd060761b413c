//! Blocking of measured configurations: an L^d torus of ±1 spins becomes an (L/b)^d one,
//! one coarse spin per b^d block, with `rg`'s rules ([`crate::rg::rules::Rule`]).
//!
//! Block J at coarse coordinates (X, Y, Z) holds the fine sites (bX + dx, bY + dy, bZ + dz),
//! 0 ≤ d· < b, listed x fastest, then y, then z (`rg`'s bit order); its first site is the
//! corner (bX, bY, bZ).
//!
//! * decimation: y_J = the first site's spin;
//! * majority: y_J = sign Σx; at Σx = 0 (even blocks only) a fair coin, +1 when the top bit
//!   of the random word is 1 (Λ = ½ at Σx = 0, as in `rg`);
//! * stochastic: y_J = +1 with probability e^{λ·x}/(2 cosh λ·x) = 1/(1 + e^{−2λ·x}), decided
//!   by comparing the random word with [`crate::model::threshold`] of that probability.
//!
//! **Random words.** The word of block J when producing level `level` (≥ 1) from the
//! configuration numbered `configuration` is `philox4x32_10([J, configuration, level,
//! Purpose::RgEstimate], seed)[0]`. `rg`'s random coarse configurations use the same
//! purpose with counter word 2 = 0 (and another key), so the streams never overlap; the
//! configuration number of a sampled run is `measurement × chains + chain`.

use super::operators::Torus;
use crate::error::{Error, Result};
use crate::model::{accept, threshold};
use crate::rg::rules::Rule;
use crate::rng::{Purpose, philox4x32_10, seed_key};

/// Blocks configurations of one torus with one rule.
#[derive(Clone, Debug)]
pub struct Blocker {
    /// The fine torus.
    pub fine: Torus,
    /// Block side b.
    pub block: u32,
    rule: Rule,
    key: [u32; 2],
    /// Fine sites of every block, block-major, bit order.
    table: Vec<u32>,
}

impl Blocker {
    /// A blocker of `fine` with b = `block` sites per axis.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `block` (b < 2, or not dividing L) or `lambda`
    /// (stochastic weights: one, or one per block site, finite).
    pub fn new(fine: Torus, block: u32, rule: Rule, seed: u64) -> Result<Self> {
        if block < 2 {
            return Err(Error::invalid(
                "block",
                format!("must be at least 2 (got {block})"),
            ));
        }
        if !fine.size.is_multiple_of(block) {
            return Err(Error::invalid(
                "block",
                format!(
                    "must divide the size of the lattice being blocked ({}); got {block}",
                    fine.size
                ),
            ));
        }
        let sites = (block as usize).pow(fine.dimension);
        let rule = rule.for_block(sites)?;
        let mut blocker = Blocker {
            fine,
            block,
            rule,
            key: seed_key(seed),
            table: Vec::new(),
        };
        blocker.table = (0..blocker.coarse().sites() as u32)
            .flat_map(|j| blocker.block_sites(j))
            .collect();
        Ok(blocker)
    }

    /// The coarse torus.
    pub fn coarse(&self) -> Torus {
        Torus {
            dimension: self.fine.dimension,
            size: self.fine.size / self.block,
        }
    }

    /// The rule (stochastic weights expanded to one per block site).
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// The fine sites of coarse site `j`, in bit order.
    pub fn block_sites(&self, j: u32) -> Vec<u32> {
        let c = self.coarse().coords(j);
        let b = self.block as i64;
        let d = self.fine.dimension as usize;
        let n = (self.block as usize).pow(d as u32);
        (0..n)
            .map(|k| {
                let mut off = [0i64; 3];
                let mut r = k as i64;
                for o in off.iter_mut().take(d) {
                    *o = r % b;
                    r /= b;
                }
                self.fine.site([
                    c[0] as i64 * b + off[0],
                    c[1] as i64 * b + off[1],
                    c[2] as i64 * b + off[2],
                ])
            })
            .collect()
    }

    /// The Philox key of the random words.
    pub fn key(&self) -> [u32; 2] {
        self.key
    }

    /// The stochastic rule's threshold of every block pattern (bit k set: the k-th block
    /// site, in bit order, is +1), for blocks of at most `max_sites` sites; None for the
    /// other rules or larger blocks. The GPU kernels look the threshold up here.
    pub fn thresholds(&self, max_sites: usize) -> Option<Vec<u32>> {
        let n = (self.block as usize).pow(self.fine.dimension);
        match &self.rule {
            Rule::Stochastic(lambda) if n <= max_sites => Some(
                (0..1u32 << n)
                    .map(|p| {
                        stochastic_threshold(
                            lambda,
                            (0..n).map(|k| if p >> k & 1 == 1 { 1 } else { -1 }),
                        )
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The random word of block `j` (module docs).
    #[inline]
    pub fn word(&self, j: u32, configuration: u32, level: u32) -> u32 {
        philox4x32_10(
            [j, configuration, level, Purpose::RgEstimate as u32],
            self.key,
        )[0]
    }

    /// The coarse configuration (level `level` ≥ 1) of the fine configuration `fine` (±1).
    pub fn block(&self, fine: &[i8], configuration: u32, level: u32) -> Vec<i8> {
        debug_assert_eq!(fine.len(), self.fine.sites());
        debug_assert!(level >= 1);
        let coarse = self.coarse();
        let n = (self.block as usize).pow(self.fine.dimension);
        (0..coarse.sites() as u32)
            .zip(self.table.chunks_exact(n))
            .map(|(j, sites)| match &self.rule {
                Rule::Decimation => fine[sites[0] as usize],
                Rule::Majority => {
                    let m: i32 = sites.iter().map(|&s| fine[s as usize] as i32).sum();
                    match m.signum() {
                        0 => {
                            if self.word(j, configuration, level) >> 31 == 1 {
                                1
                            } else {
                                -1
                            }
                        }
                        s => s as i8,
                    }
                }
                Rule::Stochastic(lambda) => {
                    let t = stochastic_threshold(lambda, sites.iter().map(|&s| fine[s as usize]));
                    if accept(self.word(j, configuration, level), t) {
                        1
                    } else {
                        -1
                    }
                }
            })
            .collect()
    }
}

/// The stochastic rule's threshold for a block's spins (in bit order): P(y = +1) =
/// 1/(1 + e^{−2λ·x}), through [`threshold`].
fn stochastic_threshold(lambda: &[f64], spins: impl Iterator<Item = i8>) -> u32 {
    let f: f64 = spins.zip(lambda).map(|(x, l)| l * x as f64).sum();
    threshold(1.0 / (1.0 + (-2.0 * f).exp()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::LatticeKind;

    fn random(t: &Torus, seed: u32) -> Vec<i8> {
        let key = seed_key(11);
        (0..t.sites() as u32)
            .map(|i| {
                if philox4x32_10([i, seed, 0, 98], key)[0] >> 31 == 1 {
                    1
                } else {
                    -1
                }
            })
            .collect()
    }

    #[test]
    fn decimation_keeps_the_corner() {
        for (kind, l, b) in [
            (LatticeKind::Chain, 12, 3),
            (LatticeKind::Square, 8, 2),
            (LatticeKind::Cubic, 6, 3),
        ] {
            let t = Torus::new(kind, l).unwrap();
            let x = random(&t, 1);
            let bl = Blocker::new(t, b, Rule::Decimation, 5).unwrap();
            let y = bl.block(&x, 0, 1);
            let c = bl.coarse();
            assert_eq!(y.len(), c.sites());
            for j in 0..c.sites() as u32 {
                let [cx, cy, cz] = c.coords(j);
                let corner = t.site([(cx * b) as i64, (cy * b) as i64, (cz * b) as i64]);
                assert_eq!(y[j as usize], x[corner as usize]);
                assert_eq!(bl.block_sites(j)[0], corner);
            }
        }
    }

    #[test]
    fn odd_majority_votes_without_a_coin() {
        let t = Torus::new(LatticeKind::Square, 9).unwrap();
        let bl = Blocker::new(t, 3, Rule::Majority, 5).unwrap();
        for s in 0..20 {
            let x = random(&t, s);
            // the coin changes with the configuration number and the level: none is used
            assert_eq!(bl.block(&x, 0, 1), bl.block(&x, 17, 3));
            let y = bl.block(&x, 0, 1);
            for j in 0..9 {
                let m: i32 = bl
                    .block_sites(j)
                    .iter()
                    .map(|&i| x[i as usize] as i32)
                    .sum();
                assert_eq!(y[j as usize] as i32, m.signum());
            }
        }
    }

    #[test]
    fn majority_ties_are_fair_and_reproducible() {
        // a chain of 2-blocks (+, −): every block is a tie
        let t = Torus::new(LatticeKind::Chain, 64).unwrap();
        let x: Vec<i8> = (0..64).map(|i| if i % 2 == 0 { 1 } else { -1 }).collect();
        let bl = Blocker::new(t, 2, Rule::Majority, 5).unwrap();
        let mut up = 0i64;
        let n = 2000;
        for c in 0..n {
            let y = bl.block(&x, c, 1);
            assert_eq!(y, bl.block(&x, c, 1));
            up += y.iter().filter(|&&v| v == 1).count() as i64;
        }
        let total = (n * 32) as f64;
        let z = (up as f64 - total / 2.0) / (total / 4.0).sqrt();
        assert!(z.abs() < 4.0, "{up} of {total}: z = {z}");
        // another level or seed draws other coins
        assert_ne!(bl.block(&x, 0, 1), bl.block(&x, 0, 2));
        let other = Blocker::new(t, 2, Rule::Majority, 6).unwrap();
        assert_ne!(bl.block(&x, 0, 1), other.block(&x, 0, 1));
    }

    #[test]
    fn stochastic_follows_its_probability() {
        let t = Torus::new(LatticeKind::Chain, 32).unwrap();
        let x = vec![1i8; 32];
        let bl = Blocker::new(t, 2, Rule::Stochastic(vec![0.4, 0.1]), 3).unwrap();
        let p = 1.0 / (1.0 + (-2.0f64 * 0.5).exp());
        let n = 2000;
        let up: usize = (0..n)
            .map(|c| bl.block(&x, c, 1).iter().filter(|&&v| v == 1).count())
            .sum();
        let total = (n * 16) as f64;
        let z = (up as f64 - total * p) / (total * p * (1.0 - p)).sqrt();
        assert!(z.abs() < 4.0, "z = {z}");
        assert!(Blocker::new(t, 2, Rule::Stochastic(vec![1.0, 2.0, 3.0]), 3).is_err());
        assert!(Blocker::new(t, 3, Rule::Majority, 3).is_err());
        assert!(Blocker::new(t, 1, Rule::Majority, 3).is_err());
    }
}
