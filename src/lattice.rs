//! Periodic lattice geometry: sizes, site indexing, neighbours and graph colourings.
//!
//! Sites are numbered `site = (z * Ly + y) * L + x` with `0 <= x, y, z < L`
//! (`Ly = Lz = 1` for the chain, `Lz = 1` for square and triangular). Neighbours, all
//! periodic:
//!
//! | lattice | z | neighbours of (x, y, z) | colours |
//! |---|---|---|---|
//! | chain | 2 | x±1 | 2: x mod 2 |
//! | square | 4 | (x±1, y), (x, y±1) | 2: (x+y) mod 2 |
//! | triangular | 6 | square ones plus (x+1, y−1), (x−1, y+1) | 3: (x+2y) mod 3 |
//! | cubic | 6 | ±1 along each axis | 2: (x+y+z) mod 2 |
//!
//! Sites of one colour share no bond, so they are conditionally independent and are
//! updated together. Bipartite lattices need even `L`, the triangular one a multiple of 3;
//! `L >= 4` everywhere (at `L = 2` the two neighbours along an axis coincide and each bond
//! would be counted twice).
//!
//! `shaders/lattice.wgsl` carries the same indexing; `backend::cpu` uses this module.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The lattice family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum LatticeKind {
    /// 1D ring.
    Chain,
    /// 2D square torus.
    Square,
    /// 2D triangular torus (square grid plus one diagonal).
    Triangular,
    /// 3D simple-cubic torus.
    Cubic,
}

impl LatticeKind {
    /// Name as used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            LatticeKind::Chain => "chain",
            LatticeKind::Square => "square",
            LatticeKind::Triangular => "triangular",
            LatticeKind::Cubic => "cubic",
        }
    }
    /// Spatial dimension.
    pub fn dimension(self) -> u32 {
        match self {
            LatticeKind::Chain => 1,
            LatticeKind::Square | LatticeKind::Triangular => 2,
            LatticeKind::Cubic => 3,
        }
    }
    /// Coordination number z.
    pub fn coordination(self) -> u32 {
        match self {
            LatticeKind::Chain => 2,
            LatticeKind::Square => 4,
            LatticeKind::Triangular | LatticeKind::Cubic => 6,
        }
    }
    /// Number of colours of the update colouring.
    pub fn colours(self) -> u32 {
        match self {
            LatticeKind::Triangular => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for LatticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated periodic lattice of linear size `size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lattice {
    kind: LatticeKind,
    size: u32,
}

/// Largest number of sites per chain: site indices (the Philox counter word) are u32, so
/// L = 65,536 in 2D (2³² sites) is the largest square lattice.
pub const MAX_SITES: u64 = 1 << 32;

impl Lattice {
    /// Validates `size` for `kind` (see the module docs for the rules).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `--size` when the size is too small, has the wrong
    /// parity for the colouring, or the lattice has more than [`MAX_SITES`] sites.
    pub fn new(kind: LatticeKind, size: u32) -> Result<Self> {
        if size < 4 {
            return Err(Error::invalid(
                "size",
                format!(
                    "must be at least 4 (got {size}); at L = 2 each bond would be counted twice"
                ),
            ));
        }
        let colours = kind.colours();
        if !size.is_multiple_of(colours) {
            let rule = if colours == 3 {
                "a multiple of 3 for the three-colour update of the triangular lattice"
            } else {
                "even for the checkerboard update"
            };
            return Err(Error::invalid(
                "size",
                format!("must be {rule} (got {size} for the {kind} lattice)"),
            ));
        }
        // checked: L³ overflows u64 from L = 2^21 + 1 on the cubic lattice
        let sites = (size as u64)
            .checked_pow(kind.dimension())
            .unwrap_or(u64::MAX);
        if sites > MAX_SITES {
            return Err(Error::invalid(
                "size",
                format!(
                    "the {kind} lattice of size {size} has {} sites; at most {MAX_SITES} are supported",
                    if sites == u64::MAX {
                        format!("{size}^{}", kind.dimension())
                    } else {
                        sites.to_string()
                    }
                ),
            ));
        }
        Ok(Lattice { kind, size })
    }

    /// Lattice family.
    pub fn kind(&self) -> LatticeKind {
        self.kind
    }
    /// Linear size L.
    pub fn size(&self) -> u32 {
        self.size
    }
    /// Extents `[L, Ly, Lz]` (1 for absent axes).
    pub fn dims(&self) -> [u32; 3] {
        let l = self.size;
        match self.kind.dimension() {
            1 => [l, 1, 1],
            2 => [l, l, 1],
            _ => [l, l, l],
        }
    }
    /// Number of sites N (up to 2³², so u64; every site index is below 2³² and fits u32).
    pub fn sites(&self) -> u64 {
        let [a, b, c] = self.dims();
        a as u64 * b as u64 * c as u64
    }
    /// Every site index, 0 … N − 1.
    pub fn site_iter(&self) -> impl Iterator<Item = u32> + use<> {
        (0..self.sites()).map(|s| s as u32)
    }
    /// Number of bonds, z N / 2.
    pub fn bonds(&self) -> u64 {
        self.sites() * self.kind.coordination() as u64 / 2
    }
    /// Coordination number z.
    pub fn coordination(&self) -> u32 {
        self.kind.coordination()
    }
    /// Number of colours.
    pub fn colours(&self) -> u32 {
        self.kind.colours()
    }
    /// Sites of one colour in one row, L / colours ("lanes").
    pub fn lanes(&self) -> u32 {
        self.size / self.colours()
    }
    /// Shape of one configuration as an array, slowest axis first: `[L]`, `[L, L]` or `[L, L, L]`.
    pub fn shape(&self) -> Vec<usize> {
        vec![self.size as usize; self.kind.dimension() as usize]
    }

    /// Coordinates (x, y, z) of a site.
    #[inline]
    pub fn coords(&self, site: u32) -> [u32; 3] {
        let [l, ly, _] = self.dims();
        let x = site % l;
        let row = site / l;
        [x, row % ly, row / ly]
    }
    /// Site at coordinates (x, y, z).
    #[inline]
    pub fn site(&self, [x, y, z]: [u32; 3]) -> u32 {
        let [l, ly, _] = self.dims();
        (z * ly + y) * l + x
    }

    /// Colour of a site.
    pub fn colour(&self, site: u32) -> u32 {
        let [x, y, z] = self.coords(site);
        match self.kind {
            LatticeKind::Triangular => (x + 2 * y) % 3,
            _ => (x + y + z) % 2,
        }
    }

    /// Number of rows (lines of L sites along x): N / L.
    pub fn rows(&self) -> u32 {
        (self.sites() / self.size as u64) as u32
    }

    /// Row geometry for loops that walk a row instead of computing coordinates per site.
    #[inline]
    pub fn row(&self, row: u32) -> Row {
        let [l, ly, lz] = self.dims();
        let y = row % ly;
        let z = row / ly;
        let base = |y: u32, z: u32| (z * ly + y) * l;
        let (yp, ym) = (
            if y + 1 == ly { 0 } else { y + 1 },
            if y == 0 { ly - 1 } else { y - 1 },
        );
        let (zp, zm) = (
            if z + 1 == lz { 0 } else { z + 1 },
            if z == 0 { lz - 1 } else { z - 1 },
        );
        Row {
            y,
            z,
            base: base(y, z),
            y_plus: (ly > 1).then(|| base(yp, z)),
            y_minus: (ly > 1).then(|| base(ym, z)),
            z_plus: (lz > 1).then(|| base(y, zp)),
            z_minus: (lz > 1).then(|| base(y, zm)),
        }
    }

    /// First x of colour `colour` in the row at (y, z); the colour's sites in the row are
    /// x = offset + j · colours for lanes j = 0 … L/colours − 1.
    #[inline]
    pub fn colour_offset(&self, colour: u32, y: u32, z: u32) -> u32 {
        if self.colours() == 3 {
            (colour + y) % 3
        } else {
            (colour + y + z) % 2
        }
    }

    /// The neighbours of `site` reached by a positive step ("forward bonds": +x, +y, +z and,
    /// on the triangular lattice, (+1, −1)). Every bond appears exactly once as
    /// (site, forward neighbour). Returns the array and how many entries are valid.
    #[inline]
    pub fn forward_neighbours(&self, site: u32) -> ([u32; 3], usize) {
        let [l, ly, lz] = self.dims();
        let [x, y, z] = self.coords(site);
        let xp = if x + 1 == l { 0 } else { x + 1 };
        let mut out = [0u32; 3];
        out[0] = self.site([xp, y, z]);
        let mut n = 1;
        if ly > 1 {
            let yp = if y + 1 == ly { 0 } else { y + 1 };
            out[n] = self.site([x, yp, z]);
            n += 1;
        }
        if lz > 1 {
            let zp = if z + 1 == lz { 0 } else { z + 1 };
            out[n] = self.site([x, y, zp]);
            n += 1;
        }
        if self.kind == LatticeKind::Triangular {
            let ym = if y == 0 { ly - 1 } else { y - 1 };
            out[n] = self.site([xp, ym, z]);
            n += 1;
        }
        (out, n)
    }

    /// All z neighbours of `site`.
    #[inline]
    pub fn neighbours(&self, site: u32) -> ([u32; 6], usize) {
        let (c, n) = self.neighbour_coords(self.coords(site));
        (c.map(|c| self.site(c)), n)
    }

    /// Coordinates of the z neighbours of the site at `[x, y, z]`, in [`Lattice::neighbours`]
    /// order: ±x, ±y, the triangular diagonals (+1, −1) and (−1, +1), ±z (no division, for
    /// loops that carry coordinates).
    #[inline]
    pub fn neighbour_coords(&self, [x, y, z]: [u32; 3]) -> ([[u32; 3]; 6], usize) {
        let [l, ly, lz] = self.dims();
        let xp = if x + 1 == l { 0 } else { x + 1 };
        let xm = if x == 0 { l - 1 } else { x - 1 };
        let mut out = [[x, y, z]; 6];
        out[0] = [xp, y, z];
        out[1] = [xm, y, z];
        let mut n = 2;
        if ly > 1 {
            let yp = if y + 1 == ly { 0 } else { y + 1 };
            let ym = if y == 0 { ly - 1 } else { y - 1 };
            out[n] = [x, yp, z];
            out[n + 1] = [x, ym, z];
            n += 2;
            if self.kind == LatticeKind::Triangular {
                out[n] = [xp, ym, z];
                out[n + 1] = [xm, yp, z];
                n += 2;
            }
        }
        if lz > 1 {
            let zp = if z + 1 == lz { 0 } else { z + 1 };
            let zm = if z == 0 { lz - 1 } else { z - 1 };
            out[n] = [x, y, zp];
            out[n + 1] = [x, y, zm];
            n += 2;
        }
        (out, n)
    }
}

/// Base indices of one row and of its neighbouring rows (see [`Lattice::row`]).
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// y of the row.
    pub y: u32,
    /// z of the row.
    pub z: u32,
    /// Index of (0, y, z).
    pub base: u32,
    /// Index of (0, y+1, z), for 2D and 3D lattices.
    pub y_plus: Option<u32>,
    /// Index of (0, y−1, z).
    pub y_minus: Option<u32>,
    /// Index of (0, y, z+1), for 3D lattices.
    pub z_plus: Option<u32>,
    /// Index of (0, y, z−1).
    pub z_minus: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Lattice> {
        vec![
            Lattice::new(LatticeKind::Chain, 6).unwrap(),
            Lattice::new(LatticeKind::Square, 4).unwrap(),
            Lattice::new(LatticeKind::Square, 6).unwrap(),
            Lattice::new(LatticeKind::Triangular, 6).unwrap(),
            Lattice::new(LatticeKind::Cubic, 4).unwrap(),
        ]
    }

    #[test]
    fn colouring_is_proper_and_enumerated_exactly_once() {
        for lat in all() {
            let n = lat.sites();
            for s in lat.site_iter() {
                let (nb, k) = lat.neighbours(s);
                assert_eq!(k as u32, lat.coordination());
                for &t in &nb[..k] {
                    assert_ne!(lat.colour(s), lat.colour(t), "{lat:?} {s} {t}");
                    // symmetry of the neighbour relation
                    let (back, kb) = lat.neighbours(t);
                    assert!(back[..kb].contains(&s));
                }
                let mut sorted = nb[..k].to_vec();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), k, "distinct neighbours");
            }
            let mut seen = vec![0u32; n as usize];
            for c in 0..lat.colours() {
                for r in 0..lat.rows() {
                    let row = lat.row(r);
                    for j in 0..lat.lanes() {
                        let s = row.base + lat.colour_offset(c, row.y, row.z) + j * lat.colours();
                        assert_eq!(lat.colour(s), c);
                        seen[s as usize] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&v| v == 1));
        }
    }

    #[test]
    fn forward_bonds_cover_each_bond_once() {
        for lat in all() {
            let mut bonds = Vec::new();
            for s in lat.site_iter() {
                let (f, k) = lat.forward_neighbours(s);
                for &t in &f[..k] {
                    bonds.push((s.min(t), s.max(t)));
                }
            }
            let total = bonds.len();
            assert_eq!(total as u64, lat.bonds());
            bonds.sort();
            bonds.dedup();
            assert_eq!(bonds.len(), total);
        }
    }

    #[test]
    fn row_geometry_agrees_with_site_neighbours() {
        for lat in all() {
            for r in 0..lat.rows() {
                let row = lat.row(r);
                let l = lat.size();
                for x in 0..l {
                    let site = row.base + x;
                    let xp = (x + 1) % l;
                    let xm = (x + l - 1) % l;
                    let mut nb = vec![row.base + xp, row.base + xm];
                    if let (Some(p), Some(m)) = (row.y_plus, row.y_minus) {
                        nb.extend([p + x, m + x]);
                        if lat.kind() == LatticeKind::Triangular {
                            nb.extend([m + xp, p + xm]);
                        }
                    }
                    if let (Some(p), Some(m)) = (row.z_plus, row.z_minus) {
                        nb.extend([p + x, m + x]);
                    }
                    let (want, k) = lat.neighbours(site);
                    let (mut a, mut b) = (nb.clone(), want[..k].to_vec());
                    a.sort();
                    b.sort();
                    assert_eq!(a, b, "{lat:?} site {site}");
                    assert_eq!(
                        lat.colour(row.base + lat.colour_offset(lat.colour(site), row.y, row.z)),
                        lat.colour(site)
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(Lattice::new(LatticeKind::Square, 2).is_err());
        assert!(Lattice::new(LatticeKind::Square, 5).is_err());
        assert!(Lattice::new(LatticeKind::Triangular, 8).is_err());
        assert!(Lattice::new(LatticeKind::Chain, 3).is_err());
        assert!(Lattice::new(LatticeKind::Cubic, 2000).is_err());
    }
}
