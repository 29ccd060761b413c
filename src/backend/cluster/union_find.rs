//! Union–find: the sequential one with path halving, and the lock-free one of
//! `shaders/cluster.wgsl` for the parallel single-chain sweep.

use super::*;

/// Root of `x`, halving the path on the way (every parent is at most its child).
#[inline(always)]
pub(super) fn find(parent: &mut [u32], mut x: u32) -> u32 {
    loop {
        let p = parent[x as usize];
        if p == x {
            return x;
        }
        let g = parent[p as usize];
        parent[x as usize] = g;
        x = g;
    }
}

/// Joins the sets of `a` and `b`, the larger root under the smaller.
#[inline(always)]
pub(super) fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb) as usize] = ra.min(rb);
    }
}

/// The cluster sums of sizes indexed by root key (key 0, the ghost's, left out).
pub(super) fn sums_of_sizes(sizes: &[u32]) -> ClusterSums {
    let mut sums = ClusterSums::default();
    for &s in &sizes[1..] {
        if s > 0 {
            sums.add(s as u64);
        }
    }
    sums
}

/// Root of `x` while other threads unite (no compression).
#[inline(always)]
pub(super) fn find_atomic(parent: &[AtomicU32], mut x: u32) -> u32 {
    loop {
        let p = parent[x as usize].load(std::sync::atomic::Ordering::Relaxed);
        if p == x {
            return x;
        }
        x = p;
    }
}

/// The lock-free union of `shaders/cluster.wgsl` (`unite`): if `hi` stopped being a root
/// before the fetch_min, joining its old parent with `lo` keeps every connection.
#[inline(always)]
pub(super) fn unite_atomic(parent: &[AtomicU32], a: u32, b: u32) {
    let (mut x, mut y) = (find_atomic(parent, a), find_atomic(parent, b));
    while x != y {
        let (lo, hi) = (x.min(y), x.max(y));
        let old = parent[hi as usize].fetch_min(lo, std::sync::atomic::Ordering::Relaxed);
        if old == hi {
            return;
        }
        x = find_atomic(parent, old);
        y = find_atomic(parent, lo);
    }
}
