//! How a cluster walk names sites and finds their neighbours.

use super::*;

/// How a cluster walk names sites and finds their neighbours ([`Lattice::neighbours`]
/// order).
pub(super) trait Geometry {
    /// What the stack holds.
    type Node: Copy;
    fn node(&self, site: u32) -> Self::Node;
    fn site(&self, node: Self::Node) -> u32;
    fn neighbours(&self, node: Self::Node) -> ([Self::Node; 6], usize);
}

/// Any lattice: nodes carry coordinates, so neighbours need no division.
impl Geometry for Lattice {
    type Node = [u32; 3];
    #[inline(always)]
    fn node(&self, site: u32) -> [u32; 3] {
        self.coords(site)
    }
    #[inline(always)]
    fn site(&self, node: [u32; 3]) -> u32 {
        Lattice::site(self, node)
    }
    #[inline(always)]
    fn neighbours(&self, node: [u32; 3]) -> ([[u32; 3]; 6], usize) {
        self.neighbour_coords(node)
    }
}

/// Chain, square and cubic lattices with L a power of two: site indices with the
/// coordinates as bit fields, neighbours by masks.
#[derive(Clone, Copy)]
pub(super) struct Pow2 {
    shift: u32,
    mask: u32,
    dimension: u32,
}

impl Pow2 {
    pub(super) fn new(lat: &Lattice) -> Option<Pow2> {
        let l = lat.size();
        (l.is_power_of_two() && lat.kind() != crate::lattice::LatticeKind::Triangular).then(|| {
            Pow2 {
                shift: l.trailing_zeros(),
                mask: l - 1,
                dimension: lat.kind().dimension(),
            }
        })
    }
}

impl Geometry for Pow2 {
    type Node = u32;
    #[inline(always)]
    fn node(&self, site: u32) -> u32 {
        site
    }
    #[inline(always)]
    fn site(&self, node: u32) -> u32 {
        node
    }
    #[inline(always)]
    fn neighbours(&self, i: u32) -> ([u32; 6], usize) {
        let m = self.mask;
        let mut out = [i; 6];
        let step = |axis: u32, out: &mut [u32]| {
            let shift = axis * self.shift;
            let c = (i >> shift) & m;
            let rest = i & !(m << shift);
            out[0] = rest | ((c.wrapping_add(1) & m) << shift);
            out[1] = rest | ((c.wrapping_sub(1) & m) << shift);
        };
        step(0, &mut out[0..2]);
        if self.dimension > 1 {
            step(1, &mut out[2..4]);
        }
        if self.dimension > 2 {
            step(2, &mut out[4..6]);
        }
        (out, 2 * self.dimension as usize)
    }
}
