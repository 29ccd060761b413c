//! Interaction operators as data: S_α = Σ over every distinct instance on the periodic
//! lattice of a product of ±1 spins (physics.md §8).
//!
//! An [`Operator`] is a list of *shapes*, each a list of site offsets (dx, dy, dz); its
//! instances are every translate of every shape. On a small torus two translates can be the
//! same set of sites (then it is counted once) or a shape can wrap onto itself (a site
//! repeated: such an instance is dropped, it is not a product of distinct spins). The
//! lists, in their documented order (truncations take the first 1, 2, … of a sector):
//!
//! | lattice | even | odd |
//! |---|---|---|
//! | chain | `nn` (x, x+1), `nnn` (x, x+2), `3rd` (x, x+3), `four` (x … x+3) | `magnetization` (x), `line` (x, x+1, x+2), `three-spaced` (x, x+1, x+3) |
//! | square | `nn` (1,0) (0,1), `nnn` (1,±1), `3rd` (2,0) (0,2), `plaquette` (elementary square), `4th` (2,±1) (1,±2) | `magnetization`, `triangle` (three corners of a plaquette, 4 per plaquette), `line` (three in a row, both axes) |
//! | cubic | `nn` (3 axes), `nnn` (face diagonals, 6), `3rd` (body diagonals, 4), `plaquette` (3 orientations), `4th` (2,0,0) (3 axes) | `magnetization`, `triangle` (12 per cube face orientation set: 4 per plaquette), `line` (3 axes) |
//!
//! Pair shells are the first distance shells of the lattice (so `3rd` is distance 2 on the
//! chain and square, √3 on the cubic lattice), named as in `rg`'s basis. On an L×L torus
//! with L ≥ 5: nn, nnn and 3rd have 2N instances, plaquette N, 4th 4N, triangle 4N, line
//! 2N. The coupling name `field` is the magnetization operator ([`find`]).
//!
//! The same table gives the local fields of Callen's identity, g_α,i = ∂S_α/∂x_i: the
//! sum, over the instances of α that contain i, of the product of their other spins.

use crate::error::{Error, Result};
use crate::lattice::LatticeKind;

/// One site offset (dx, dy, dz).
pub type Offset = [i32; 3];

/// A periodic hypercubic torus L^d (d = 1, 2, 3) of any L ≥ 1: the fine lattice and every
/// coarse one. Sites are numbered as in [`crate::lattice`]: `(z L + y) L + x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Torus {
    /// Spatial dimension.
    pub dimension: u32,
    /// Linear size.
    pub size: u32,
}

impl Torus {
    /// The torus of a lattice family.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `lattice` for the triangular lattice (MCRG supports
    /// chain, square and cubic).
    pub fn new(kind: LatticeKind, size: u32) -> Result<Self> {
        if kind == LatticeKind::Triangular {
            return Err(Error::invalid(
                "lattice",
                "mcrg supports chain, square and cubic (got triangular)",
            ));
        }
        Ok(Torus {
            dimension: kind.dimension(),
            size,
        })
    }
    /// Number of sites L^d.
    pub fn sites(&self) -> usize {
        (self.size as usize).pow(self.dimension)
    }
    /// Coordinates of a site (absent axes 0).
    pub fn coords(&self, site: u32) -> [u32; 3] {
        let l = self.size;
        let mut c = [0; 3];
        let mut s = site;
        for c in c.iter_mut().take(self.dimension as usize) {
            *c = s % l;
            s /= l;
        }
        c
    }
    /// The site at coordinates (taken modulo L).
    pub fn site(&self, c: [i64; 3]) -> u32 {
        let l = self.size as i64;
        let mut s = 0i64;
        for a in (0..self.dimension as usize).rev() {
            s = s * l + c[a].rem_euclid(l);
        }
        s as u32
    }
    /// The site displaced from `site` by `offset` (offsets along absent axes are ignored).
    pub fn shift(&self, site: u32, offset: Offset) -> u32 {
        let c = self.coords(site);
        self.site([
            c[0] as i64 + offset[0] as i64,
            c[1] as i64 + offset[1] as i64,
            c[2] as i64 + offset[2] as i64,
        ])
    }
}

/// An interaction operator: a name and its shapes (offset lists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operator {
    /// Name in results.
    pub name: &'static str,
    /// The shapes; every translate of every shape is an instance.
    pub shapes: &'static [&'static [Offset]],
}

impl Operator {
    /// Number of spins in one instance.
    pub fn arity(&self) -> usize {
        self.shapes[0].len()
    }
    /// Whether the operator is even under x → −x.
    pub fn is_even(&self) -> bool {
        self.arity().is_multiple_of(2)
    }
    /// Every distinct instance on `torus` (sorted site lists, sorted), repeated-site
    /// instances dropped.
    pub fn instances(&self, torus: &Torus) -> Instances {
        use rayon::slice::ParallelSliceMut;
        const MAX_ARITY: usize = 4;
        let arity = self.arity();
        assert!(
            arity <= MAX_ARITY,
            "operator {} has more than {MAX_ARITY} spins",
            self.name
        );
        // fixed-size site lists (no allocation per instance; 18 N instances at L = 1024²)
        let mut all: Vec<[u32; MAX_ARITY]> = Vec::with_capacity(torus.sites() * self.shapes.len());
        for s in 0..torus.sites() as u32 {
            for shape in self.shapes {
                let mut v = [u32::MAX; MAX_ARITY];
                for (k, &o) in shape.iter().enumerate() {
                    v[k] = torus.shift(s, o);
                }
                v[..arity].sort_unstable();
                if v[..arity].windows(2).all(|w| w[0] != w[1]) {
                    all.push(v);
                }
            }
        }
        all.par_sort_unstable();
        all.dedup();
        Instances {
            arity,
            sites: all
                .iter()
                .flat_map(|v| v[..arity].iter().copied())
                .collect(),
        }
    }
}

/// The instances of one operator on one torus, flattened (`arity` sites each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instances {
    /// Sites per instance.
    pub arity: usize,
    /// Sites of every instance, instance-major.
    pub sites: Vec<u32>,
}

impl Instances {
    /// Number of instances.
    pub fn len(&self) -> usize {
        self.sites.len() / self.arity
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }
    /// S = Σ over instances of the product of their spins (x = ±1).
    pub fn sum(&self, x: &[i8]) -> i64 {
        self.sites
            .chunks_exact(self.arity)
            .map(|inst| inst.iter().map(|&s| x[s as usize] as i64).product::<i64>())
            .sum()
    }
    /// Adds g_i = ∂S/∂x_i to `g[i * stride + column]` for every site i.
    pub fn add_local_fields(&self, x: &[i8], g: &mut [i32], stride: usize, column: usize) {
        for inst in self.sites.chunks_exact(self.arity) {
            let p: i32 = inst.iter().map(|&s| x[s as usize] as i32).product();
            for &s in inst {
                // product of the others = p · x_s since x_s² = 1
                g[s as usize * stride + column] += p * x[s as usize] as i32;
            }
        }
    }
    /// The most instances that contain one site.
    pub fn max_per_site(&self, sites: usize) -> usize {
        let mut c = vec![0usize; sites];
        for &s in &self.sites {
            c[s as usize] += 1;
        }
        c.into_iter().max().unwrap_or(0)
    }
}

macro_rules! op {
    ($name:expr, [$($shape:expr),+ $(,)?]) => {
        Operator { name: $name, shapes: &[$(&$shape),+] }
    };
}

const O: Offset = [0, 0, 0];

const CHAIN_EVEN: [Operator; 4] = [
    op!("nn", [[O, [1, 0, 0]]]),
    op!("nnn", [[O, [2, 0, 0]]]),
    op!("3rd", [[O, [3, 0, 0]]]),
    op!("four", [[O, [1, 0, 0], [2, 0, 0], [3, 0, 0]]]),
];
const CHAIN_ODD: [Operator; 3] = [
    op!("magnetization", [[O]]),
    op!("line", [[O, [1, 0, 0], [2, 0, 0]]]),
    op!("three-spaced", [[O, [1, 0, 0], [3, 0, 0]]]),
];
const SQUARE_EVEN: [Operator; 5] = [
    op!("nn", [[O, [1, 0, 0]], [O, [0, 1, 0]]]),
    op!("nnn", [[O, [1, 1, 0]], [O, [1, -1, 0]]]),
    op!("3rd", [[O, [2, 0, 0]], [O, [0, 2, 0]]]),
    op!("plaquette", [[O, [1, 0, 0], [0, 1, 0], [1, 1, 0]]]),
    op!(
        "4th",
        [
            [O, [2, 1, 0]],
            [O, [2, -1, 0]],
            [O, [1, 2, 0]],
            [O, [1, -2, 0]]
        ]
    ),
];
const SQUARE_ODD: [Operator; 3] = [
    op!("magnetization", [[O]]),
    op!(
        "triangle",
        [
            [[1, 0, 0], [0, 1, 0], [1, 1, 0]],
            [O, [0, 1, 0], [1, 1, 0]],
            [O, [1, 0, 0], [1, 1, 0]],
            [O, [1, 0, 0], [0, 1, 0]]
        ]
    ),
    op!(
        "line",
        [[O, [1, 0, 0], [2, 0, 0]], [O, [0, 1, 0], [0, 2, 0]]]
    ),
];
const CUBIC_EVEN: [Operator; 5] = [
    op!("nn", [[O, [1, 0, 0]], [O, [0, 1, 0]], [O, [0, 0, 1]]]),
    op!(
        "nnn",
        [
            [O, [1, 1, 0]],
            [O, [1, -1, 0]],
            [O, [1, 0, 1]],
            [O, [1, 0, -1]],
            [O, [0, 1, 1]],
            [O, [0, 1, -1]]
        ]
    ),
    op!(
        "3rd",
        [
            [O, [1, 1, 1]],
            [O, [1, 1, -1]],
            [O, [1, -1, 1]],
            [O, [1, -1, -1]]
        ]
    ),
    op!(
        "plaquette",
        [
            [O, [1, 0, 0], [0, 1, 0], [1, 1, 0]],
            [O, [1, 0, 0], [0, 0, 1], [1, 0, 1]],
            [O, [0, 1, 0], [0, 0, 1], [0, 1, 1]]
        ]
    ),
    op!("4th", [[O, [2, 0, 0]], [O, [0, 2, 0]], [O, [0, 0, 2]]]),
];
const CUBIC_ODD: [Operator; 3] = [
    op!("magnetization", [[O]]),
    op!(
        "triangle",
        [
            [[1, 0, 0], [0, 1, 0], [1, 1, 0]],
            [O, [0, 1, 0], [1, 1, 0]],
            [O, [1, 0, 0], [1, 1, 0]],
            [O, [1, 0, 0], [0, 1, 0]],
            [[1, 0, 0], [0, 0, 1], [1, 0, 1]],
            [O, [0, 0, 1], [1, 0, 1]],
            [O, [1, 0, 0], [1, 0, 1]],
            [O, [1, 0, 0], [0, 0, 1]],
            [[0, 1, 0], [0, 0, 1], [0, 1, 1]],
            [O, [0, 0, 1], [0, 1, 1]],
            [O, [0, 1, 0], [0, 1, 1]],
            [O, [0, 1, 0], [0, 0, 1]]
        ]
    ),
    op!(
        "line",
        [
            [O, [1, 0, 0], [2, 0, 0]],
            [O, [0, 1, 0], [0, 2, 0]],
            [O, [0, 0, 1], [0, 0, 2]]
        ]
    ),
];

fn supported(kind: LatticeKind) -> Result<()> {
    if kind == LatticeKind::Triangular {
        Err(Error::invalid(
            "lattice",
            "mcrg supports chain, square and cubic (got triangular)",
        ))
    } else {
        Ok(())
    }
}

/// The ordered even operators of a lattice.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `lattice` for the triangular lattice.
pub fn even(kind: LatticeKind) -> Result<Vec<Operator>> {
    supported(kind)?;
    Ok(match kind {
        LatticeKind::Chain => CHAIN_EVEN.to_vec(),
        LatticeKind::Square => SQUARE_EVEN.to_vec(),
        _ => CUBIC_EVEN.to_vec(),
    })
}

/// The ordered odd operators of a lattice.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `lattice` for the triangular lattice.
pub fn odd(kind: LatticeKind) -> Result<Vec<Operator>> {
    supported(kind)?;
    Ok(match kind {
        LatticeKind::Chain => CHAIN_ODD.to_vec(),
        LatticeKind::Square => SQUARE_ODD.to_vec(),
        _ => CUBIC_ODD.to_vec(),
    })
}

/// The operator called `name` on a lattice; `field` is an alias of `magnetization`.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `basis` with the known names when there is none.
pub fn find(kind: LatticeKind, name: &str) -> Result<Operator> {
    let name = if name == "field" {
        "magnetization"
    } else {
        name
    };
    let all: Vec<Operator> = even(kind)?.into_iter().chain(odd(kind)?).collect();
    all.iter().find(|o| o.name == name).copied().ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|o| o.name).collect();
        Error::invalid(
            "basis",
            format!(
                "no operator `{name}` on the {kind} lattice; known: field, {}",
                names.join(", ")
            ),
        )
    })
}

/// The default coupling basis (Swendsen 1984): `nn, nnn, 3rd, plaquette, field`, without
/// the plaquette on the chain.
pub fn default_basis(kind: LatticeKind) -> Vec<&'static str> {
    if kind == LatticeKind::Chain {
        vec!["nn", "nnn", "3rd", "field"]
    } else {
        vec!["nn", "nnn", "3rd", "plaquette", "field"]
    }
}

/// A list of operators with their instances on one torus.
#[derive(Clone, Debug)]
pub struct OperatorTable {
    /// The torus.
    pub torus: Torus,
    /// The operators, in order.
    pub operators: Vec<Operator>,
    /// Their instances.
    pub instances: Vec<Instances>,
    /// [`OperatorTable::distinct_prefix`], computed once.
    prefix: std::sync::OnceLock<usize>,
}

impl OperatorTable {
    /// Enumerates the instances of `operators` on `torus`.
    pub fn new(torus: Torus, operators: &[Operator]) -> Self {
        OperatorTable {
            torus,
            operators: operators.to_vec(),
            instances: operators.iter().map(|o| o.instances(&torus)).collect(),
            prefix: std::sync::OnceLock::new(),
        }
    }
    /// How many leading operators are well defined on this torus: each has all its
    /// instances (shapes × sites: none coincides with another or wraps onto itself) and
    /// shares none with an earlier operator. On a small torus a shape can fold onto another
    /// (the chain's `3rd` pairs are its `nn` pairs on a 4-ring); operators from there on
    /// are linearly dependent or mean something else.
    pub fn distinct_prefix(&self) -> usize {
        *self.prefix.get_or_init(|| {
            let sites = self.torus.sites();
            // instances as 128-bit keys: the arity (≤ 4) in the top bits, then up to four
            // sites of 31 bits (more sites than 2^31 take the slice itself)
            if sites >= 1 << 31 {
                return self.distinct_prefix_slow();
            }
            let key = |i: &[u32]| {
                let sites = i.iter().fold(0u128, |k, &s| (k << 31) | s as u128);
                ((i.len() as u128) << 124) | sites
            };
            let total: usize = self.instances.iter().map(|i| i.len()).sum();
            let mut seen: std::collections::HashSet<
                u128,
                std::hash::BuildHasherDefault<crate::mcrg::couplings::KeyHasher>,
            > = std::collections::HashSet::with_capacity_and_hasher(total, Default::default());
            for (k, (o, inst)) in self.operators.iter().zip(&self.instances).enumerate() {
                if inst.len() != o.shapes.len() * sites {
                    return k;
                }
                for i in inst.sites.chunks_exact(inst.arity) {
                    if !seen.insert(key(i)) {
                        return k;
                    }
                }
            }
            self.operators.len()
        })
    }

    fn distinct_prefix_slow(&self) -> usize {
        let sites = self.torus.sites();
        let mut seen: std::collections::HashSet<&[u32]> = std::collections::HashSet::new();
        for (k, (o, inst)) in self.operators.iter().zip(&self.instances).enumerate() {
            if inst.len() != o.shapes.len() * sites
                || !inst.sites.chunks_exact(inst.arity).all(|i| seen.insert(i))
            {
                return k;
            }
        }
        self.operators.len()
    }

    /// S_α for every operator of the table, for one configuration x (±1, one per site).
    pub fn sums(&self, x: &[i8]) -> Vec<f64> {
        debug_assert_eq!(x.len(), self.torus.sites());
        self.instances.iter().map(|i| i.sum(x) as f64).collect()
    }
    /// g_α,i = ∂S_α/∂x_i, site-major (`g[i * operators + α]`).
    pub fn local_fields(&self, x: &[i8]) -> Vec<i32> {
        let m = self.operators.len();
        let mut g = vec![0i32; x.len() * m];
        for (a, inst) in self.instances.iter().enumerate() {
            inst.add_local_fields(x, &mut g, m, a);
        }
        g
    }
}

/// S_α of `operators` for one configuration x (±1) on `torus` (enumerates the instances;
/// use an [`OperatorTable`] for many configurations).
pub fn sums(torus: &Torus, x: &[i8], operators: &[Operator]) -> Vec<f64> {
    OperatorTable::new(*torus, operators).sums(x)
}

/// g_α,i of `operators` for one configuration (site-major, see
/// [`OperatorTable::local_fields`]).
pub fn local_fields(torus: &Torus, x: &[i8], operators: &[Operator]) -> Vec<i32> {
    OperatorTable::new(*torus, operators).local_fields(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(kind: LatticeKind, l: u32) -> Vec<(&'static str, usize)> {
        let t = Torus::new(kind, l).unwrap();
        even(kind)
            .unwrap()
            .into_iter()
            .chain(odd(kind).unwrap())
            .map(|o| (o.name, o.instances(&t).len()))
            .collect()
    }

    #[test]
    fn instance_counts() {
        let n = 64;
        assert_eq!(
            counts(LatticeKind::Square, 8),
            vec![
                ("nn", 2 * n),
                ("nnn", 2 * n),
                ("3rd", 2 * n),
                ("plaquette", n),
                ("4th", 4 * n),
                ("magnetization", n),
                ("triangle", 4 * n),
                ("line", 2 * n)
            ]
        );
        assert_eq!(
            counts(LatticeKind::Chain, 12),
            vec![
                ("nn", 12),
                ("nnn", 12),
                ("3rd", 12),
                ("four", 12),
                ("magnetization", 12),
                ("line", 12),
                ("three-spaced", 12)
            ]
        );
        let n = 216;
        assert_eq!(
            counts(LatticeKind::Cubic, 6),
            vec![
                ("nn", 3 * n),
                ("nnn", 6 * n),
                ("3rd", 4 * n),
                ("plaquette", 3 * n),
                ("4th", 3 * n),
                ("magnetization", n),
                ("triangle", 12 * n),
                ("line", 3 * n)
            ]
        );
        // small tori: (x, x+2) on a 4-ring is one pair per two sites; on a 2-ring it wraps
        // onto a single site and is dropped
        assert_eq!(counts(LatticeKind::Chain, 4)[1], ("nnn", 2));
        assert_eq!(counts(LatticeKind::Chain, 2)[1], ("nnn", 0));
        assert_eq!(counts(LatticeKind::Square, 2)[0], ("nn", 4));
        assert!(Torus::new(LatticeKind::Triangular, 6).is_err());
    }

    #[test]
    fn sums_on_the_all_up_configuration_count_instances() {
        for (kind, l) in [
            (LatticeKind::Chain, 10),
            (LatticeKind::Square, 6),
            (LatticeKind::Cubic, 4),
        ] {
            let t = Torus::new(kind, l).unwrap();
            let ops: Vec<Operator> = even(kind)
                .unwrap()
                .into_iter()
                .chain(odd(kind).unwrap())
                .collect();
            let up = vec![1i8; t.sites()];
            let down = vec![-1i8; t.sites()];
            let s_up = sums(&t, &up, &ops);
            let s_down = sums(&t, &down, &ops);
            for (k, o) in ops.iter().enumerate() {
                let n = o.instances(&t).len() as f64;
                assert_eq!(s_up[k], n, "{kind} {}", o.name);
                assert_eq!(s_down[k], if o.is_even() { n } else { -n });
            }
        }
    }

    /// g_α,i = (S_α(x) − S_α(x with x_i flipped)) / (2 x_i) on random configurations.
    #[test]
    fn local_fields_are_flip_differences() {
        for (kind, l) in [
            (LatticeKind::Chain, 8),
            (LatticeKind::Square, 5),
            (LatticeKind::Square, 2),
            (LatticeKind::Cubic, 4),
        ] {
            let t = Torus::new(kind, l).unwrap();
            let ops: Vec<Operator> = even(kind)
                .unwrap()
                .into_iter()
                .chain(odd(kind).unwrap())
                .collect();
            let table = OperatorTable::new(t, &ops);
            let key = crate::rng::seed_key(7);
            let mut x: Vec<i8> = (0..t.sites() as u32)
                .map(|i| {
                    if crate::rng::philox4x32_10([i, l, 0, 99], key)[0] >> 31 == 1 {
                        1
                    } else {
                        -1
                    }
                })
                .collect();
            let g = table.local_fields(&x);
            let s = table.sums(&x);
            for i in 0..t.sites() {
                let xi = x[i];
                x[i] = -xi;
                let f = table.sums(&x);
                x[i] = xi;
                for a in 0..ops.len() {
                    let want = (s[a] - f[a]) / (2.0 * xi as f64);
                    assert_eq!(
                        g[i * ops.len() + a] as f64,
                        want,
                        "{kind} {l} {} site {i}",
                        ops[a].name
                    );
                }
            }
        }
    }

    #[test]
    fn small_tori_fold_operators() {
        let table = |kind, l| {
            let t = Torus::new(kind, l).unwrap();
            let ops: Vec<Operator> = even(kind).unwrap();
            OperatorTable::new(t, &ops).distinct_prefix()
        };
        assert_eq!(table(LatticeKind::Chain, 8), 4);
        assert_eq!(table(LatticeKind::Chain, 7), 4);
        assert_eq!(table(LatticeKind::Chain, 6), 2); // (x, x+3) counted once per pair
        assert_eq!(table(LatticeKind::Chain, 5), 2); // (x, x+3) = (x, x−2) on a 5-ring
        assert_eq!(table(LatticeKind::Chain, 4), 1); // (x, x+2) counted once per pair
        assert_eq!(table(LatticeKind::Square, 5), 5);
        assert_eq!(table(LatticeKind::Square, 4), 2);
        assert_eq!(table(LatticeKind::Square, 2), 0);
        assert_eq!(table(LatticeKind::Cubic, 4), 4);
    }

    #[test]
    fn field_is_magnetization() {
        assert_eq!(
            find(LatticeKind::Square, "field").unwrap().name,
            "magnetization"
        );
        assert!(find(LatticeKind::Chain, "plaquette").is_err());
        for kind in [LatticeKind::Chain, LatticeKind::Square, LatticeKind::Cubic] {
            for n in default_basis(kind) {
                find(kind, n).unwrap();
            }
        }
    }
}
