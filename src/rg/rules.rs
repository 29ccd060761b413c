//! Coarse-graining rules Λ(y|x) and the exact single-block measure p₀(x_B|y).
//!
//! For a block with spins x_B (bits of a block state) and block spin y = ±1:
//!
//! * `decimation`: Λ = δ(y, x_first);
//! * `majority`: Λ = θ(y Σx) + ½ δ_{Σx,0} (odd blocks vote; even blocks break ties at random);
//! * `stochastic`: Λ = e^{y λ·x} / (2 cosh λ·x), one weight λ_k per block site.
//!
//! K₀ of a block = K Σ_{intra-block bonds} x x + h Σ x (every single-site field is in K₀).
//! [`BlockTable`] enumerates the 2^|B| states once and holds, for y = −1 and +1, ln Z₀(y),
//! the exact single-site averages ⟨x_k⟩₀, and the integer CDF used to sample a state from one
//! 32-bit random word (bit-identical on GPU and CPU).

use super::blocks::Blocking;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The coarse-graining rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "rule", content = "lambda")]
pub enum Rule {
    /// y = the first spin of the block.
    Decimation,
    /// Majority vote (random tie-break).
    Majority,
    /// Λ(y|x) = e^{y λ·x} / (2 cosh λ·x).
    Stochastic(Vec<f64>),
}

impl Rule {
    /// Name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Decimation => "decimation",
            Rule::Majority => "majority",
            Rule::Stochastic(_) => "stochastic",
        }
    }

    /// Λ(y | x_B) for a block of `n` sites in state `bits` (= e^{[`Rule::ln_weight`]}).
    pub fn weight(&self, y: i8, bits: u32, n: usize) -> f64 {
        self.ln_weight(y, bits, n).exp()
    }

    /// ln Λ(y | x_B) (−∞ where Λ = 0), in a form that stays finite for any finite weights:
    /// the stochastic rule's e^{yf}/(2 cosh f) = 1/(1 + e^{−2yf}) with f = λ·x gives
    /// ln Λ = −ln(1 + e^{−2yf}), evaluated as 2yf − ln(1 + e^{2yf}) when 2yf < 0.
    pub fn ln_weight(&self, y: i8, bits: u32, n: usize) -> f64 {
        let spin = |k: usize| if bits >> k & 1 == 1 { 1.0 } else { -1.0 };
        let indicator = |yes: bool| if yes { 0.0 } else { f64::NEG_INFINITY };
        match self {
            Rule::Decimation => indicator(spin(0) == y as f64),
            Rule::Majority => {
                let m: f64 = (0..n).map(spin).sum();
                if m == 0.0 {
                    -std::f64::consts::LN_2
                } else {
                    indicator(m * y as f64 > 0.0)
                }
            }
            Rule::Stochastic(lambda) => {
                let t: f64 = 2.0 * y as f64 * (0..n).map(|k| lambda[k] * spin(k)).sum::<f64>();
                if t >= 0.0 {
                    -(-t).exp().ln_1p()
                } else {
                    t - t.exp().ln_1p()
                }
            }
        }
    }

    /// Checks the weights against the block size (a single λ means uniform) and the range
    /// |λ_i| ≤ [`MAX_LAMBDA`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `--lambda`.
    pub fn for_block(self, n: usize) -> Result<Rule> {
        match self {
            Rule::Stochastic(l) if l.iter().any(|x| !x.is_finite() || x.abs() > MAX_LAMBDA) => {
                Err(Error::invalid(
                    "lambda",
                    format!(
                        "weights must be finite with |lambda| <= {MAX_LAMBDA} (got {}); beyond about 20 the rule is already the sign of lambda.x to double precision",
                        l.iter()
                            .map(|x| format!("{x:e}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                ))
            }
            Rule::Stochastic(l) if l.len() == 1 => Ok(Rule::Stochastic(vec![l[0]; n])),
            Rule::Stochastic(l) if l.len() != n => Err(Error::invalid(
                "lambda",
                format!(
                    "give one weight or one per block site ({n}); got {}",
                    l.len()
                ),
            )),
            other => Ok(other),
        }
    }
}

/// Largest |λ_i| of the stochastic rule (and `--lambda-max`): at |λ·x| ≥ 20 the rule's
/// weights 1/(1 + e^{∓2λ·x}) already equal 0 and 1 to double precision, so larger weights
/// change nothing; the bound keeps every weight finite.
pub const MAX_LAMBDA: f64 = 1000.0;

/// The exact single-block measure for y = −1 (index 0) and y = +1 (index 1).
#[derive(Clone, Debug)]
pub struct BlockTable {
    /// Sites per block.
    pub sites: usize,
    /// ln Z₀(y).
    pub ln_z0: [f64; 2],
    /// ⟨x_k⟩ under p₀(·|y), per block site k.
    pub mean: [Vec<f64>; 2],
    /// p₀(state | y) for every state.
    pub probability: [Vec<f64>; 2],
    /// Integer CDF, cdf[k] = threshold(P(state ≤ k)): a word r draws the first state k with
    /// `accept(r, cdf[k])` (r < cdf[k], or cdf[k] certain). States of zero probability are
    /// never drawn; every probability is represented to 2⁻³².
    pub cdf: [Vec<u32>; 2],
}

/// K₀ of one block state.
pub fn block_energy(b: &Blocking, k: f64, h: f64, bits: u32) -> f64 {
    let spin = |i: u32| if bits >> i & 1 == 1 { 1.0 } else { -1.0 };
    let bonds: f64 = b.intra_bonds.iter().map(|&(i, j)| spin(i) * spin(j)).sum();
    let field: f64 = (0..b.block_sites() as u32).map(spin).sum();
    k * bonds + h * field
}

impl BlockTable {
    /// Enumerates the block's states.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if some y has zero weight (Z₀(y) = 0).
    pub fn new(b: &Blocking, rule: &Rule, k: f64, h: f64) -> Result<Self> {
        let n = b.block_sites();
        let states = 1usize << n;
        let logw: Vec<f64> = (0..states as u32)
            .map(|s| block_energy(b, k, h, s))
            .collect();
        let mut table = BlockTable {
            sites: n,
            ln_z0: [0.0; 2],
            mean: [vec![0.0; n], vec![0.0; n]],
            probability: [Vec::new(), Vec::new()],
            cdf: [Vec::new(), Vec::new()],
        };
        for (yi, y) in [(0usize, -1i8), (1, 1)] {
            // ln(Λ e^{K0}) per state, shifted by its largest value: z ≥ 1 whenever some
            // state carries this y, however large K, h and λ are
            let lw: Vec<f64> = (0..states)
                .map(|s| rule.ln_weight(y, s as u32, n) + logw[s])
                .collect();
            let max = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = lw
                .iter()
                .map(|&l| {
                    if l == f64::NEG_INFINITY {
                        0.0
                    } else {
                        (l - max).exp()
                    }
                })
                .collect();
            let z: f64 = w.iter().sum();
            if z.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                return Err(Error::invalid(
                    "rule",
                    format!("the block spin y = {y} has zero weight"),
                ));
            }
            table.ln_z0[yi] = max + z.ln();
            if !table.ln_z0[yi].is_finite() {
                return Err(Error::invalid(
                    "coupling",
                    format!("ln Z0(y = {y}) = {} is not finite", table.ln_z0[yi]),
                ));
            }
            let p: Vec<f64> = w.iter().map(|x| x / z).collect();
            for (s, &ps) in p.iter().enumerate() {
                for kk in 0..n {
                    table.mean[yi][kk] += ps * if s >> kk & 1 == 1 { 1.0 } else { -1.0 };
                }
            }
            let mut cum = 0.0;
            table.cdf[yi] = p
                .iter()
                .map(|&ps| {
                    cum += ps;
                    crate::model::threshold(cum.min(1.0))
                })
                .collect();
            table.probability[yi] = p;
        }
        Ok(table)
    }

    /// The block state drawn with random word `r` for block spin index `yi` (0: −1, 1: +1)
    /// (twin of `draw_state` in rg.wgsl).
    #[inline]
    pub fn draw(&self, yi: usize, r: u32) -> u32 {
        let cdf = &self.cdf[yi];
        let (mut lo, mut hi) = (0usize, cdf.len() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if crate::model::accept(r, cdf[mid]) {
                hi = mid
            } else {
                lo = mid + 1
            }
        }
        lo as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::{Lattice, LatticeKind};

    #[test]
    fn triangle_majority_block_averages() {
        // physics.md §5c: ⟨s_i⟩₀ = x(K) y with x = (e^{3K} + e^{−K}) / (e^{3K} + 3e^{−K})
        let b = Blocking::new(Lattice::new(LatticeKind::Triangular, 6).unwrap(), 3).unwrap();
        for k in [0.2, 0.3356, 0.5] {
            let t = BlockTable::new(&b, &Rule::Majority, k, 0.0).unwrap();
            let x = ((3.0 * k).exp() + (-k).exp()) / ((3.0 * k).exp() + 3.0 * (-k).exp());
            for s in 0..3 {
                assert!((t.mean[1][s] - x).abs() < 1e-14);
                assert!((t.mean[0][s] + x).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn draws_follow_the_cdf() {
        let b = Blocking::new(Lattice::new(LatticeKind::Chain, 16).unwrap(), 4).unwrap();
        let t = BlockTable::new(&b, &Rule::Stochastic(vec![1.0, 0.5, 0.2, 0.1]), 0.7, 0.3).unwrap();
        // every word maps to a state; the fraction of the word range given to each state is its probability (to 2^-32)
        for yi in 0..2 {
            let mut prev = 0u64;
            for (s, &c) in t.cdf[yi].iter().enumerate().take(15) {
                let width = c as u64 - prev;
                assert!((width as f64 / 4294967296.0 - t.probability[yi][s]).abs() < 1e-9);
                prev = c as u64;
                if width > 0 {
                    assert_eq!(t.draw(yi, c - 1), s as u32);
                }
            }
            assert_eq!(t.draw(yi, u32::MAX), 15);
        }
        // decimation: states whose first spin disagrees with y are never drawn, even by r = 2^32 - 1
        let d = BlockTable::new(&b, &Rule::Decimation, 0.7, 0.3).unwrap();
        for r in [0, 1 << 31, u32::MAX] {
            assert_eq!(d.draw(0, r) & 1, 0);
            assert_eq!(d.draw(1, r) & 1, 1);
        }
    }
}
