//! Operator sums and local-field histograms as row-wise stencils, without instance lists.
//!
//! On a *regular* torus every translate of every shape of an operator is a distinct
//! instance (none wraps onto itself, no two coincide; [`regular_prefix`]), so
//! S_α = Σ_sites Σ_shapes Π_{o ∈ shape} x(site + o) and the local field
//! g_α,i = Σ_shapes Σ_{p ∈ shape} Π_{q ≠ p} x(i + o_q − o_p): both are sums of *terms*,
//! products of spins at fixed displacements. [`Stencil`] evaluates them a row (line along x)
//! at a time from padded copies of the rows they read, which the compiler vectorizes. It gives
//! exactly the integers of the instance lists ([`super::operators::OperatorTable`]), which
//! stay in use on the small coarse tori where operators fold.
//!
//! **Dense histogram index.** Site i has c_α = shapes × arity terms in g_α,i, so
//! g_α,i ∈ {−c_α, −c_α + 2, …, c_α} and its digit d_α = (g_α,i + c_α)/2 lies in [0, c_α].
//! The site's bin is 2 Σ_α d_α Π_{β<α} (c_β + 1) + [x_i = +1]; [`Stencil::bins`] of them in
//! all. The GPU kernels (`shaders/mcrg.wgsl`) use the same terms and the same index.

use super::couplings::{self, CallenHistogram};
use super::operators::{Offset, Operator, Torus};

/// Most bins of a dense local-field histogram; larger bases use a hash map (CPU only).
pub const MAX_DENSE_BINS: usize = 1 << 20;

/// One factor of a term: a spin at displacement `dx` along x in displaced row `row`
/// (an index into [`Stencil::rows`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Factor {
    /// Index of the row displacement.
    pub row: usize,
    /// Displacement along x.
    pub dx: i32,
}

/// The sum and local-field terms of a list of operators on one regular torus.
#[derive(Clone, Debug)]
pub struct Stencil {
    /// The torus.
    pub torus: Torus,
    /// Distinct row displacements (dy, dz) the terms read.
    pub rows: Vec<[i32; 2]>,
    /// The terms of every operator's sum: per operator, per shape, its factors.
    pub sum_terms: Vec<Vec<Vec<Factor>>>,
    /// The terms of every operator's local field: per operator, per (shape, position), the
    /// factors of the other sites (none for a one-site operator: the term is 1).
    pub field_terms: Vec<Vec<Vec<Factor>>>,
    halo: usize,
}

/// The displacements of an operator's terms, relative to the anchor site.
fn displaced(torus: &Torus, o: Offset) -> [i32; 3] {
    let mut d = o;
    for a in torus.dimension as usize..3 {
        d[a] = 0;
    }
    d
}

/// Whether an instance list (sorted sites) repeats a site.
fn proper(sites: &[u32]) -> bool {
    sites.windows(2).all(|w| w[0] != w[1])
}

/// How many leading operators are well defined on `torus` (the semantics of
/// [`super::operators::OperatorTable::distinct_prefix`]), decided locally: every distinct
/// pair of labelled instances that coincide, or an instance that repeats a site, shows up
/// among the instances containing site 0 (translate the coincidence to the origin), so
/// checking those (at most shapes × arity per operator) is exact, whatever the size.
pub fn regular_prefix(torus: &Torus, operators: &[Operator]) -> usize {
    let mut seen: Vec<Vec<u32>> = Vec::new();
    for (k, op) in operators.iter().enumerate() {
        for shape in op.shapes {
            for p in shape.iter() {
                let mut sites: Vec<u32> = shape
                    .iter()
                    .map(|q| torus.shift(0, [q[0] - p[0], q[1] - p[1], q[2] - p[2]]))
                    .collect();
                sites.sort_unstable();
                if !proper(&sites) || seen.contains(&sites) {
                    return k;
                }
                seen.push(sites);
            }
        }
    }
    operators.len()
}

/// Whether every operator of the list is regular on its own (shared instances between
/// operators allowed): then the stencil sums equal the instance-list sums.
pub fn all_regular(torus: &Torus, operators: &[Operator]) -> bool {
    operators
        .iter()
        .all(|o| regular_prefix(torus, std::slice::from_ref(o)) == 1)
}

impl Stencil {
    /// The stencil of `operators` on `torus` (meaningful where they are regular).
    pub fn new(torus: Torus, operators: &[Operator]) -> Self {
        let mut rows: Vec<[i32; 2]> = Vec::new();
        let mut halo = 0usize;
        let mut factor = |d: [i32; 3]| {
            let key = [d[1], d[2]];
            let row = rows.iter().position(|r| *r == key).unwrap_or_else(|| {
                rows.push(key);
                rows.len() - 1
            });
            halo = halo.max(d[0].unsigned_abs() as usize);
            Factor { row, dx: d[0] }
        };
        let mut sum_terms = Vec::new();
        let mut field_terms = Vec::new();
        for op in operators {
            let mut sums = Vec::new();
            let mut fields = Vec::new();
            for shape in op.shapes {
                sums.push(
                    shape
                        .iter()
                        .map(|&o| factor(displaced(&torus, o)))
                        .collect(),
                );
                for (p, o_p) in shape.iter().enumerate() {
                    fields.push(
                        shape
                            .iter()
                            .enumerate()
                            .filter(|&(q, _)| q != p)
                            .map(|(_, o_q)| {
                                factor(displaced(
                                    &torus,
                                    [o_q[0] - o_p[0], o_q[1] - o_p[1], o_q[2] - o_p[2]],
                                ))
                            })
                            .collect(),
                    );
                }
            }
            sum_terms.push(sums);
            field_terms.push(fields);
        }
        Stencil {
            torus,
            rows,
            sum_terms,
            field_terms,
            halo,
        }
    }

    /// c_α: the terms of each operator's local field (shapes × arity).
    pub fn counts(&self) -> Vec<u32> {
        self.field_terms.iter().map(|t| t.len() as u32).collect()
    }

    /// Bins of the dense histogram (module docs), or None above [`MAX_DENSE_BINS`].
    pub fn bins(&self) -> Option<usize> {
        self.counts()
            .iter()
            .try_fold(2usize, |b, &c| b.checked_mul(c as usize + 1))
            .filter(|&b| b <= MAX_DENSE_BINS)
    }

    /// The local-field vector g (into `g`, one entry per operator) and the spin of dense
    /// bin `bin`, for this stencil's [`Stencil::counts`] `counts`.
    pub fn decode(counts: &[u32], bin: usize, g: &mut [i32]) -> i8 {
        let mut rest = bin >> 1;
        for (g, &c) in g.iter_mut().zip(counts) {
            let d = rest % (c as usize + 1);
            rest /= c as usize + 1;
            *g = 2 * d as i32 - c as i32;
        }
        if bin & 1 == 1 { 1 } else { -1 }
    }

    /// Calls `f(row, padded)` for every row of `x`, with `padded[k][halo + x']` the spin at
    /// (x', y + dy_k, z + dz_k) for x' in [−halo, L + halo).
    fn rows_of(&self, x: &[i8], mut f: impl FnMut(usize, &[Vec<i8>])) {
        debug_assert_eq!(x.len(), self.torus.sites());
        let l = self.torus.size as i64;
        let lu = l as usize;
        let h = self.halo;
        let rows_total = x.len() / lu;
        let mut padded = vec![vec![0i8; lu + 2 * h]; self.rows.len()];
        for r in 0..rows_total {
            let (y, z) = ((r % lu) as i64, (r / lu) as i64);
            for (p, d) in padded.iter_mut().zip(&self.rows) {
                let (yy, zz) = match self.torus.dimension {
                    1 => (0, 0),
                    2 => ((y + d[0] as i64).rem_euclid(l), 0),
                    _ => (
                        (y + d[0] as i64).rem_euclid(l),
                        (z + d[1] as i64).rem_euclid(l),
                    ),
                };
                let start = ((zz * l + yy) * l) as usize;
                let src = &x[start..start + lu];
                p[h..h + lu].copy_from_slice(src);
                for k in 0..h {
                    // left halo: x' = −h + k; right halo: x' = L + k
                    p[k] = src[((k as i64 - h as i64).rem_euclid(l)) as usize];
                    p[h + lu + k] = src[k % lu];
                }
            }
            f(r, &padded);
        }
    }

    /// `out[x] (+)= Π factors` over the row (`add`: accumulate, else overwrite).
    #[inline]
    fn term(&self, padded: &[Vec<i8>], factors: &[Factor], out: &mut [i8], add: bool) {
        let l = out.len();
        let s = |f: &Factor| {
            let start = (self.halo as i64 + f.dx as i64) as usize;
            &padded[f.row][start..start + l]
        };
        macro_rules! apply {
            ($v:expr) => {
                if add {
                    for (o, v) in out.iter_mut().zip($v) {
                        *o += v;
                    }
                } else {
                    for (o, v) in out.iter_mut().zip($v) {
                        *o = v;
                    }
                }
            };
        }
        match factors {
            [] => apply!(std::iter::repeat_n(1i8, l)),
            [a] => apply!(s(a).iter().copied()),
            [a, b] => apply!(s(a).iter().zip(s(b)).map(|(a, b)| a * b)),
            [a, b, c] => apply!(s(a).iter().zip(s(b)).zip(s(c)).map(|((a, b), c)| a * b * c)),
            [a, b, c, d] => apply!(
                s(a).iter()
                    .zip(s(b))
                    .zip(s(c))
                    .zip(s(d))
                    .map(|(((a, b), c), d)| a * b * c * d)
            ),
            _ => unreachable!("operators have at most four spins"),
        }
    }

    /// S_α of every operator for one configuration x (±1).
    pub fn sums(&self, x: &[i8]) -> Vec<i64> {
        let l = self.torus.size as usize;
        let mut out = vec![0i64; self.sum_terms.len()];
        let mut t = vec![0i8; l];
        self.rows_of(x, |_, padded| {
            for (s, terms) in out.iter_mut().zip(&self.sum_terms) {
                for factors in terms {
                    self.term(padded, factors, &mut t, false);
                    *s += t.iter().map(|&v| v as i32).sum::<i32>() as i64;
                }
            }
        });
        out
    }

    /// Calls `f(row, g, spins)` with the local fields of every operator along each row
    /// (`g[α][x]`) and the row's spins.
    fn fields_of(&self, x: &[i8], mut f: impl FnMut(&[Vec<i8>], &[i8])) {
        let l = self.torus.size as usize;
        let mut g = vec![vec![0i8; l]; self.field_terms.len()];
        self.rows_of(x, |r, padded| {
            for (ga, terms) in g.iter_mut().zip(&self.field_terms) {
                ga.fill(0);
                for factors in terms {
                    self.term(padded, factors, ga, true);
                }
            }
            f(&g, &x[r * l..(r + 1) * l]);
        });
    }

    /// Adds every site of x to the dense histogram `hist` ([`Stencil::bins`] entries).
    pub fn histogram(&self, x: &[i8], hist: &mut [u32]) {
        let counts = self.counts();
        let mut strides = Vec::with_capacity(counts.len());
        let mut s = 2u32;
        for &c in &counts {
            strides.push(s);
            s *= c + 1;
        }
        debug_assert_eq!(s as usize, hist.len());
        let l = self.torus.size as usize;
        let mut idx = vec![0u32; l];
        self.fields_of(x, |g, spins| {
            for (i, &v) in idx.iter_mut().zip(spins) {
                *i = (v > 0) as u32;
            }
            for ((ga, &c), &st) in g.iter().zip(&counts).zip(&strides) {
                for (i, &v) in idx.iter_mut().zip(ga) {
                    *i += ((v as i32 + c as i32) as u32 / 2) * st;
                }
            }
            for &i in &idx {
                hist[i as usize] += 1;
            }
        });
    }

    /// Adds every site of x to a sparse histogram (bases too large for a dense one).
    pub fn histogram_sparse(&self, x: &[i8], hist: &mut CallenHistogram) {
        let m = self.field_terms.len();
        let mut key = vec![0i32; m];
        self.fields_of(x, |g, spins| {
            for (k, &xi) in spins.iter().enumerate() {
                for (a, ga) in g.iter().enumerate() {
                    key[a] = ga[k] as i32;
                }
                hist.add(couplings::pack(&key), xi);
            }
        });
    }

    /// Adds a dense histogram to a sparse one.
    pub fn merge_dense(&self, dense: &[u32], into: &mut CallenHistogram) {
        let counts = self.counts();
        let mut g = vec![0i32; counts.len()];
        for (bin, &n) in dense.iter().enumerate() {
            if n > 0 {
                let x = Self::decode(&counts, bin, &mut g);
                let e = into
                    .entries
                    .entry(couplings::pack(&g))
                    .or_insert((0.0, 0.0));
                e.0 += n as f64;
                e.1 += n as f64 * x as f64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::operators::{self, OperatorTable};
    use super::*;
    use crate::lattice::LatticeKind;

    fn random(t: &Torus, seed: u32) -> Vec<i8> {
        let key = crate::rng::seed_key(17);
        (0..t.sites() as u32)
            .map(|i| {
                if crate::rng::philox4x32_10([i, seed, 0, 99], key)[0] >> 31 == 1 {
                    1
                } else {
                    -1
                }
            })
            .collect()
    }

    fn all_ops(kind: LatticeKind) -> Vec<Operator> {
        operators::even(kind)
            .unwrap()
            .into_iter()
            .chain(operators::odd(kind).unwrap())
            .collect()
    }

    #[test]
    fn local_prefix_is_the_enumerated_one() {
        for (kind, sizes) in [
            (LatticeKind::Chain, 1..=9),
            (LatticeKind::Square, 1..=7),
            (LatticeKind::Cubic, 1..=5),
        ] {
            for l in sizes {
                let t = Torus::new(kind, l).unwrap();
                for ops in [
                    operators::even(kind).unwrap(),
                    operators::odd(kind).unwrap(),
                    all_ops(kind),
                ] {
                    let table = OperatorTable::new(t, &ops);
                    assert_eq!(
                        regular_prefix(&t, &ops),
                        table.distinct_prefix(),
                        "{kind} L = {l}"
                    );
                    for (o, inst) in ops.iter().zip(&table.instances) {
                        assert_eq!(
                            all_regular(&t, std::slice::from_ref(o)),
                            inst.len() == o.shapes.len() * t.sites(),
                            "{kind} L = {l} {}",
                            o.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn stencils_give_the_instance_lists_integers() {
        for (kind, l) in [
            (LatticeKind::Chain, 9),
            (LatticeKind::Chain, 40),
            (LatticeKind::Square, 5),
            (LatticeKind::Square, 12),
            (LatticeKind::Cubic, 5),
            (LatticeKind::Cubic, 6),
        ] {
            let t = Torus::new(kind, l).unwrap();
            let ops = all_ops(kind);
            assert!(all_regular(&t, &ops));
            let table = OperatorTable::new(t, &ops);
            let st = Stencil::new(t, &ops);
            for seed in 0..3 {
                let x = random(&t, seed);
                let want: Vec<i64> = table.sums(&x).iter().map(|&s| s as i64).collect();
                assert_eq!(st.sums(&x), want, "{kind} L = {l}");
                // local fields: dense and sparse histograms against the table's
                let basis: Vec<Operator> = operators::default_basis(kind)
                    .into_iter()
                    .map(|n| operators::find(kind, n).unwrap())
                    .collect();
                let bt = OperatorTable::new(t, &basis);
                let bs = Stencil::new(t, &basis);
                let m = basis.len();
                let g = bt.local_fields(&x);
                let mut want = CallenHistogram::default();
                for (i, &xi) in x.iter().enumerate() {
                    want.add(couplings::pack(&g[i * m..(i + 1) * m]), xi);
                }
                let mut dense = vec![0u32; bs.bins().unwrap()];
                bs.histogram(&x, &mut dense);
                let mut got = CallenHistogram::default();
                bs.merge_dense(&dense, &mut got);
                assert_eq!(got, want, "{kind} L = {l}");
                let mut sparse = CallenHistogram::default();
                bs.histogram_sparse(&x, &mut sparse);
                assert_eq!(sparse, want, "{kind} L = {l}");
            }
        }
    }

    #[test]
    fn dense_bins_of_the_default_bases() {
        let bins = |kind| {
            let basis: Vec<Operator> = operators::default_basis(kind)
                .into_iter()
                .map(|n| operators::find(kind, n).unwrap())
                .collect();
            Stencil::new(Torus::new(kind, 8).unwrap(), &basis).bins()
        };
        // chain nn, nnn, 3rd (c = 2), field (c = 1); square c = 4 (four), 1; cubic 6, 12, 8, 12, 1
        assert_eq!(bins(LatticeKind::Chain), Some(2 * 27 * 2));
        assert_eq!(bins(LatticeKind::Square), Some(2 * 625 * 2));
        assert_eq!(bins(LatticeKind::Cubic), Some(2 * 7 * 13 * 9 * 13 * 2));
    }
}
