//! Fine lattices, their blocks, and the coarse lattice with its coupling basis.
//!
//! Fine sites carry ±1 spins; the reduced Hamiltonian is K[x] = K Σ_<ij> x_i x_j + h Σ_i x_i
//! on the periodic `chain`, `square` or `triangular` lattice of [`crate::lattice`].
//! Blocks:
//!
//! * chain: b consecutive sites `[b j, b j + b)`;
//! * square: b×b squares;
//! * triangular (`--block 3`): up-triangles {(x,y), (x+1,y), (x,y+1)} anchored at the sites
//!   with (x + 2y) mod 3 = 0 — a √3×√3 tiling whose anchors form a triangular lattice of
//!   spacing √3.
//!
//! A block's sites are listed in a fixed order (its "bit" order): the chain and square
//! blocks row by row from the anchor, the triangle as anchor, +x, +y. Bit k of a block state
//! is site k's spin (1 = +1). The coarse lattice has one site per block; couplings are
//! classified by the real-space distance between block centres (minimum image on the torus).

use crate::error::{Error, Result};
use crate::lattice::{Lattice, LatticeKind};

/// Largest block enumerated exactly (2^16 states).
pub const MAX_BLOCK_SITES: usize = 16;

/// A fine lattice cut into identical blocks.
#[derive(Clone, Debug)]
pub struct Blocking {
    /// The fine lattice.
    pub lattice: Lattice,
    /// Block side b (triangular: 3 = the number of sites).
    pub block: u32,
    /// Fine sites of each block, in bit order.
    pub blocks: Vec<Vec<u32>>,
    /// (block, bit) of every fine site.
    pub site_block: Vec<(u32, u32)>,
    /// Bonds inside a block, as bit pairs (the same for every block).
    pub intra_bonds: Vec<(u32, u32)>,
    /// Bonds between blocks: ((block a, bit a), (block b, bit b)).
    pub inter_bonds: Vec<((u32, u32), (u32, u32))>,
    /// Real-space centre of each block.
    pub centres: Vec<[f64; 2]>,
    /// Spatial dimension.
    pub dimension: u32,
}

/// Real-space position of a fine site.
fn position(lat: &Lattice, site: u32) -> [f64; 2] {
    let [x, y, _] = lat.coords(site);
    match lat.kind() {
        LatticeKind::Triangular => [x as f64 + 0.5 * y as f64, y as f64 * 3f64.sqrt() / 2.0],
        _ => [x as f64, y as f64],
    }
}

/// The torus periods in real space.
fn periods(lat: &Lattice) -> Vec<[f64; 2]> {
    let l = lat.size() as f64;
    match lat.kind() {
        LatticeKind::Chain => vec![[l, 0.0]],
        LatticeKind::Square => vec![[l, 0.0], [0.0, l]],
        _ => vec![[l, 0.0], [0.5 * l, l * 3f64.sqrt() / 2.0]],
    }
}

impl Blocking {
    /// Cuts `lattice` into blocks of side `block`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `--lattice`, `--block` or `--size` when the blocks
    /// do not tile the lattice, are larger than [`MAX_BLOCK_SITES`], or leave a coarse
    /// lattice smaller than 4 sites across.
    pub fn new(lattice: Lattice, block: u32) -> Result<Self> {
        let l = lattice.size();
        let kind = lattice.kind();
        let mut blocks: Vec<Vec<u32>> = Vec::new();
        match kind {
            LatticeKind::Chain | LatticeKind::Square => {
                if block < 2 {
                    return Err(Error::invalid(
                        "block",
                        format!("must be at least 2 (got {block})"),
                    ));
                }
                if block > l {
                    return Err(Error::invalid(
                        "block",
                        format!(
                            "is larger than the lattice (size {l}); the coarse lattice needs at least 4 blocks across (got {block})"
                        ),
                    ));
                }
                if !l.is_multiple_of(block) {
                    return Err(Error::invalid(
                        "size",
                        format!("must be a multiple of block {block} (got {l})"),
                    ));
                }
                if l / block < 4 {
                    return Err(Error::invalid(
                        "size",
                        format!(
                            "the coarse lattice must be at least 4 blocks across: size >= {} for block {block} (got {l})",
                            4 * block
                        ),
                    ));
                }
                let sites = if kind == LatticeKind::Chain {
                    block as usize
                } else {
                    (block * block) as usize
                };
                if sites > MAX_BLOCK_SITES {
                    return Err(Error::invalid(
                        "block",
                        format!(
                            "blocks of {sites} sites are too large to enumerate (at most {MAX_BLOCK_SITES})"
                        ),
                    ));
                }
                let nb = l / block;
                let rows = if kind == LatticeKind::Chain { 1 } else { nb };
                for by in 0..rows {
                    for bx in 0..nb {
                        let mut b = Vec::new();
                        for dy in 0..(if kind == LatticeKind::Chain { 1 } else { block }) {
                            for dx in 0..block {
                                b.push(lattice.site([bx * block + dx, by * block + dy, 0]));
                            }
                        }
                        blocks.push(b);
                    }
                }
            }
            LatticeKind::Triangular => {
                if block != 3 {
                    return Err(Error::invalid(
                        "block",
                        format!(
                            "the triangular lattice uses block 3, the up-triangles (got {block})"
                        ),
                    ));
                }
                for y in 0..l {
                    for x in 0..l {
                        if (x + 2 * y) % 3 == 0 {
                            let (xp, yp) = ((x + 1) % l, (y + 1) % l);
                            blocks.push(vec![
                                lattice.site([x, y, 0]),
                                lattice.site([xp, y, 0]),
                                lattice.site([x, yp, 0]),
                            ]);
                        }
                    }
                }
            }
            LatticeKind::Cubic => {
                return Err(Error::invalid(
                    "lattice",
                    "must be chain, square or triangular",
                ));
            }
        }
        let n = lattice.sites() as usize;
        let mut site_block = vec![(u32::MAX, 0); n];
        for (j, b) in blocks.iter().enumerate() {
            for (k, &s) in b.iter().enumerate() {
                site_block[s as usize] = (j as u32, k as u32);
            }
        }
        debug_assert!(site_block.iter().all(|s| s.0 != u32::MAX));
        let mut intra = Vec::new();
        let mut inter = Vec::new();
        for s in lattice.site_iter() {
            let (f, k) = lattice.forward_neighbours(s);
            for &t in &f[..k] {
                let (a, b) = (site_block[s as usize], site_block[t as usize]);
                if a.0 == b.0 {
                    if a.0 == 0 {
                        intra.push((a.1.min(b.1), a.1.max(b.1)));
                    }
                } else {
                    inter.push((a, b));
                }
            }
        }
        intra.sort();
        let centres = blocks
            .iter()
            .map(|b| {
                // centre of mass using minimum-image offsets from the first site
                let p0 = position(&lattice, b[0]);
                let per = periods(&lattice);
                let mut c = [0.0, 0.0];
                for &s in b {
                    let d = min_image(sub(position(&lattice, s), p0), &per);
                    c[0] += d[0];
                    c[1] += d[1];
                }
                [p0[0] + c[0] / b.len() as f64, p0[1] + c[1] / b.len() as f64]
            })
            .collect();
        Ok(Blocking {
            lattice,
            block,
            blocks,
            site_block,
            intra_bonds: intra,
            inter_bonds: inter,
            centres,
            dimension: kind.dimension(),
        })
    }

    /// Sites per block.
    pub fn block_sites(&self) -> usize {
        self.blocks[0].len()
    }
    /// Number of blocks (coarse sites) N′.
    pub fn coarse_sites(&self) -> usize {
        self.blocks.len()
    }
    /// Rescale factor b = |block|^{1/d} (√3 for triangular 3-spin blocks).
    pub fn rescale_factor(&self) -> f64 {
        (self.block_sites() as f64).powf(1.0 / self.dimension as f64)
    }
    /// Minimum-image distance between two coarse sites.
    pub fn coarse_distance(&self, a: usize, b: usize) -> f64 {
        let d = min_image(
            sub(self.centres[b], self.centres[a]),
            &periods(&self.lattice),
        );
        (d[0] * d[0] + d[1] * d[1]).sqrt()
    }
}

fn sub(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

fn min_image(d: [f64; 2], periods: &[[f64; 2]]) -> [f64; 2] {
    let mut best = d;
    let mut best_len = f64::INFINITY;
    let range: &[i32] = &[-2, -1, 0, 1, 2];
    let (p0, p1) = (periods[0], periods.get(1).copied().unwrap_or([0.0, 0.0]));
    for &i in range {
        for &j in if periods.len() > 1 { range } else { &[0] } {
            let c = [
                d[0] + i as f64 * p0[0] + j as f64 * p1[0],
                d[1] + i as f64 * p0[1] + j as f64 * p1[1],
            ];
            let len = c[0] * c[0] + c[1] * c[1];
            if len < best_len - 1e-9 {
                best_len = len;
                best = c;
            }
        }
    }
    best
}

/// One translation class of coarse couplings: every distinct subset of coarse sites in it.
#[derive(Clone, Debug)]
pub struct CouplingClass {
    /// Name in results (`constant`, `field`, `nn`, `nnn`, `3rd`, `plaquette`, `four`).
    pub name: &'static str,
    /// The subsets (sorted coarse-site lists); the constant class has one empty subset per
    /// coarse site, so its coupling is per coarse site.
    pub subsets: Vec<Vec<usize>>,
}

impl CouplingClass {
    /// Σ over the class of Π_{j∈S} y_j (y = ±1).
    pub fn feature(&self, y: &[i8]) -> f64 {
        self.subsets
            .iter()
            .map(|s| s.iter().map(|&j| y[j] as f64).product::<f64>())
            .sum()
    }
}

/// The coupling basis of the coarse lattice: constant (per coarse site), field, pair
/// couplings of the first three distance shells (`nn`, `nnn`, `3rd`), and the shortest
/// multi-spin term (`four` for the chain: four adjacent spins; `plaquette` for the
/// square).
///
/// On the chain and the square lattice the classes other than `constant` and `field` are
/// the operators of [`crate::mcrg::operators`] (one definition for `rg`'s basis and MCRG's
/// operator sums and couplings), enumerated on the coarse torus ([`operator_classes`]); on
/// the triangular lattice, which MCRG does not block, the pair shells are found by distance
/// ([`distance_classes`]). On the chain and the square lattice the two constructions give
/// the same classes (a unit test holds them equal).
pub fn coupling_basis(b: &Blocking) -> Vec<CouplingClass> {
    let n = b.coarse_sites();
    let mut classes = vec![
        CouplingClass {
            name: "constant",
            subsets: vec![Vec::new(); n],
        },
        CouplingClass {
            name: "field",
            subsets: (0..n).map(|j| vec![j]).collect(),
        },
    ];
    match operator_classes(b) {
        Some(c) => classes.extend(c),
        None => classes.extend(distance_classes(b)),
    }
    classes
}

/// The names of [`coupling_basis`]'s classes that are MCRG operators on this lattice
/// (every class but `constant`; none on the triangular lattice), in basis order, with
/// `field` for the magnetization as in an MCRG basis.
pub fn mcrg_names(basis: &[CouplingClass], kind: LatticeKind) -> Vec<&'static str> {
    basis
        .iter()
        .map(|c| c.name)
        .filter(|&name| name != "constant" && crate::mcrg::operators::find(kind, name).is_ok())
        .collect()
}

/// The pair shells and the multi-spin class of a chain or square coarse lattice, from the
/// operators of [`crate::mcrg::operators`] on the coarse torus (None on the triangular
/// lattice). Coarse site j of [`Blocking`] is torus site j (row-major blocks), and an
/// operator's instances are its distinct spin subsets, sorted: a class's subsets.
///
/// Small tori, as distance shells see them: a pair shell that coincides with an earlier
/// one (the chain's (x, x+3) is (x, x−2) on a 5-ring and (x, x−1) on a 4-ring) is no new
/// shell and is left out; a shell that folds onto itself ((x, x+L/2)) keeps each pair
/// once. The multi-spin class (`four`, `plaquette`) is left out when its shape folds (four
/// adjacent spins on a 4-ring are the whole ring).
pub fn operator_classes(b: &Blocking) -> Option<Vec<CouplingClass>> {
    use crate::mcrg::operators::{self, Torus};
    let kind = b.lattice.kind();
    let multi = match kind {
        LatticeKind::Chain => "four",
        LatticeKind::Square => "plaquette",
        _ => return None,
    };
    let torus = Torus {
        dimension: kind.dimension(),
        size: b.lattice.size() / b.block,
    };
    debug_assert_eq!(torus.sites(), b.coarse_sites());
    let subsets = |name: &str| {
        let op = operators::find(kind, name).expect("rg's classes are MCRG operators");
        let inst = op.instances(&torus);
        let folded = inst.len() != op.shapes.len() * torus.sites();
        let sets: Vec<Vec<usize>> = inst
            .sites
            .chunks_exact(inst.arity)
            .map(|s| s.iter().map(|&j| j as usize).collect())
            .collect();
        (op.name, sets, folded)
    };
    let mut classes: Vec<CouplingClass> = Vec::new();
    let mut pairs = std::collections::HashSet::new();
    for shell in ["nn", "nnn", "3rd"] {
        let (name, sets, _) = subsets(shell);
        if sets.iter().any(|s| pairs.contains(s)) {
            break;
        }
        pairs.extend(sets.iter().cloned());
        classes.push(CouplingClass {
            name,
            subsets: sets,
        });
    }
    let (name, sets, folded) = subsets(multi);
    if !folded {
        classes.push(CouplingClass {
            name,
            subsets: sets,
        });
    }
    Some(classes)
}

/// The pair shells by real-space distance between block centres, and the multi-spin class,
/// on any lattice: the three smallest distinct pair distances, then their pairs (two passes
/// over the N′(N′−1)/2 pairs, shown as progress; a stop request ends them early and the
/// caller reports it through `interrupt::check`), then `four` (chain, at least 5 blocks) or
/// `plaquette` (square). [`coupling_basis`] uses it on the triangular lattice; on the chain
/// and the square lattice it is the reference [`operator_classes`] is tested against.
pub fn distance_classes(b: &Blocking) -> Vec<CouplingClass> {
    let n = b.coarse_sites();
    let mut classes = Vec::new();
    let task = crate::interrupt::Task::new("coarse pairs", n as u64 * 2);
    let mut dists: Vec<f64> = Vec::with_capacity(4);
    'rows: for a in 0..n {
        if task.advance(1).is_err() {
            break 'rows;
        }
        for c in a + 1..n {
            let d = b.coarse_distance(a, c);
            if dists.iter().any(|x| (x - d).abs() < 1e-6) {
                continue;
            }
            if dists.len() < 3 || d < dists[2] {
                dists.push(d);
                dists.sort_by(|a, c| a.total_cmp(c));
                dists.truncate(3);
            }
        }
    }
    let mut shells: Vec<Vec<Vec<usize>>> = vec![Vec::new(); dists.len()];
    'pairs: for a in 0..n {
        if task.advance(1).is_err() {
            break 'pairs;
        }
        for c in a + 1..n {
            let d = b.coarse_distance(a, c);
            if let Some(shell) = dists.iter().position(|x| (x - d).abs() < 1e-6) {
                shells[shell].push(vec![a, c]);
            }
        }
    }
    drop(task);
    for (subsets, name) in shells.into_iter().zip(["nn", "nnn", "3rd"]) {
        classes.push(CouplingClass { name, subsets });
    }
    let nb = (b.lattice.size() / b.block) as usize;
    match b.lattice.kind() {
        LatticeKind::Chain if nb >= 5 => {
            let mut subsets: Vec<Vec<usize>> = (0..nb)
                .map(|j| {
                    let mut s: Vec<usize> = (0..4).map(|k| (j + k) % nb).collect();
                    s.sort();
                    s
                })
                .collect();
            subsets.sort();
            subsets.dedup();
            classes.push(CouplingClass {
                name: "four",
                subsets,
            });
        }
        LatticeKind::Square => {
            let at = |x: usize, y: usize| (y % nb) * nb + (x % nb);
            let mut subsets: Vec<Vec<usize>> = (0..nb * nb)
                .map(|j| {
                    let (x, y) = (j % nb, j / nb);
                    let mut s = vec![at(x, y), at(x + 1, y), at(x, y + 1), at(x + 1, y + 1)];
                    s.sort();
                    s
                })
                .collect();
            subsets.sort();
            subsets.dedup();
            classes.push(CouplingClass {
                name: "plaquette",
                subsets,
            });
        }
        _ => {}
    }
    classes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triangles_tile_the_triangular_lattice() {
        let lat = Lattice::new(LatticeKind::Triangular, 6).unwrap();
        let b = Blocking::new(lat, 3).unwrap();
        assert_eq!(b.coarse_sites(), 12);
        // 3 intra bonds per triangle, 6 inter-block bonds per block (18·6/2 = 54 bonds total... 108 bonds)
        assert_eq!(b.intra_bonds.len(), 3);
        assert_eq!(b.inter_bonds.len() as u64 + 3 * 12, lat.bonds());
        // each block pair of nearest blocks is joined by 2 bonds (physics.md §5c)
        let basis = coupling_basis(&b);
        let nn = basis.iter().find(|c| c.name == "nn").unwrap();
        assert_eq!(nn.subsets.len(), 12 * 3);
        for s in &nn.subsets {
            let joined = b.inter_bonds.iter().filter(|((a, _), (c, _))| {
                let (a, c) = (*a as usize, *c as usize);
                (a.min(c), a.max(c)) == (s[0], s[1])
            });
            assert_eq!(joined.count(), 2);
        }
        assert!((b.coarse_distance(nn.subsets[0][0], nn.subsets[0][1]) - 3f64.sqrt()).abs() < 1e-9);
    }

    /// rg's classes on the chain and the square lattice are MCRG's operators (same name,
    /// same spin subsets on the coarse torus) and the distance shells they replaced, on
    /// every small torus where the two could differ.
    #[test]
    fn classes_are_mcrg_operators_and_distance_shells() {
        use crate::mcrg::operators::{self, Torus};
        let mut cases = Vec::new();
        for block in [2, 3, 4] {
            for nb in 4..=13 {
                cases.push((LatticeKind::Chain, block, nb));
            }
        }
        for block in [2, 3] {
            for nb in 4..=9 {
                cases.push((LatticeKind::Square, block, nb));
            }
        }
        for (kind, block, nb) in cases {
            // the lattice needs an even size (checkerboard updates)
            let Ok(lattice) = Lattice::new(kind, block * nb) else {
                continue;
            };
            let b = Blocking::new(lattice, block).unwrap();
            let ops = operator_classes(&b).unwrap();
            let shells = distance_classes(&b);
            let view = |c: &[CouplingClass]| {
                c.iter()
                    .map(|c| (c.name, c.subsets.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                view(&ops),
                view(&shells),
                "{kind} block {block}, {nb} blocks"
            );
            let torus = Torus::new(kind, nb).unwrap();
            for c in &ops {
                let inst = operators::find(kind, c.name).unwrap().instances(&torus);
                let sets: Vec<Vec<usize>> = inst
                    .sites
                    .chunks_exact(inst.arity)
                    .map(|s| s.iter().map(|&j| j as usize).collect())
                    .collect();
                assert_eq!(sets, c.subsets, "{kind} {nb} {}", c.name);
            }
            let basis = coupling_basis(&b);
            let names = mcrg_names(&basis, kind);
            assert_eq!(names.len() + 1, basis.len(), "{names:?}");
        }
        let tri = Blocking::new(Lattice::new(LatticeKind::Triangular, 6).unwrap(), 3).unwrap();
        assert!(operator_classes(&tri).is_none());
        assert!(mcrg_names(&coupling_basis(&tri), LatticeKind::Triangular).is_empty());
    }

    #[test]
    fn chain_and_square_blocks() {
        let b = Blocking::new(Lattice::new(LatticeKind::Chain, 12).unwrap(), 2).unwrap();
        assert_eq!(
            (b.coarse_sites(), b.intra_bonds.len(), b.inter_bonds.len()),
            (6, 1, 6)
        );
        let names: Vec<_> = coupling_basis(&b)
            .iter()
            .map(|c| (c.name, c.subsets.len()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("constant", 6),
                ("field", 6),
                ("nn", 6),
                ("nnn", 6),
                ("3rd", 3),
                ("four", 6)
            ]
        );
        let s = Blocking::new(Lattice::new(LatticeKind::Square, 8).unwrap(), 2).unwrap();
        assert_eq!((s.coarse_sites(), s.intra_bonds.len()), (16, 4));
        let names: Vec<_> = coupling_basis(&s)
            .iter()
            .map(|c| (c.name, c.subsets.len()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("constant", 16),
                ("field", 16),
                ("nn", 32),
                ("nnn", 32),
                ("3rd", 16),
                ("plaquette", 16)
            ]
        ); // (x, x+2) wraps onto itself on a 4-torus
        assert!(Blocking::new(Lattice::new(LatticeKind::Square, 6).unwrap(), 2).is_err());
    }
}
