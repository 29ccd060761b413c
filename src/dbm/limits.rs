//! What `blockspin dbm` accepts: layer sizes, value ranges and memory, checked before any
//! work starts so that no flag or file leads to an allocation failure, a dense
//! factorization that cannot be interrupted for seconds, or an overflow to infinity.
//!
//! Sizes were measured on a 2-core machine (release build, nalgebra without BLAS) so that
//! no single dense factorization, which cannot be interrupted, takes more than a fraction
//! of a second: the existence check (an SVD of the n_h × n_s matrix diag(σ) M diag(τ))
//! takes 0.07 s at 1024 × 256 but 2 s at 512 × 512 and 40 s at 1024 × 1024; the inverse of
//! the n_h × n_h precision takes 0.54 s at n_h = 1024 and so about 0.07 s at 512. The
//! visible coupling J_v = W A⁻¹ Wᵀ (n_v × n_v) is computed in blocks of rows between stop
//! checks, so n_v is bounded by memory and output size (at 4096 × 512 × 256 `dbm analyze`
//! needs about 1.1 GB and writes a 300 MB report) rather than by one uninterruptible call.
//! Parsing a model file (about 7 MB/s) runs beside a stop check (`Dbm::load`).

use super::model::Dbm;
use crate::error::{Error, Result};

/// Most visible units `dbm analyze`, `sample` and `validate` accept (and `generate` writes).
pub const MAX_VISIBLE: usize = 4096;
/// Most hidden units.
pub const MAX_HIDDEN: usize = 512;
/// Most deep units.
pub const MAX_DEEP: usize = 256;
/// Largest |weight|, |bias| or |mean| in a model file; with σ, τ within
/// [`STD_RANGE`] every coupling of the recursion stays far from f64 overflow.
pub const MAX_ABS_VALUE: f64 = 1e8;
/// Range of every standard deviation in a model file.
pub const STD_RANGE: (f64, f64) = (1e-6, 1e6);
/// Largest |--weight|, |--deep-weight|, |--visible-bias| and --jitter of `dbm generate`
/// (jittered weights then stay below [`MAX_ABS_VALUE`]).
pub const MAX_GENERATE_VALUE: f64 = 1e6;
/// Largest model file read (bytes): the largest model accepted, written with full
/// precision, is about 110 MB.
pub const MAX_MODEL_BYTES: u64 = 256 << 20;

/// Refuses layer sizes above [`MAX_VISIBLE`], [`MAX_HIDDEN`], [`MAX_DEEP`]; `param` names
/// the flag in the error (`model` for a file, `visible`/`size` for `generate`).
///
/// # Errors
/// [`Error::InvalidParameter`] naming `param`, the sizes and the limits.
pub fn check_sizes(param: &'static str, nv: usize, nh: usize, ns: usize) -> Result<()> {
    if nv > MAX_VISIBLE || nh > MAX_HIDDEN || ns > MAX_DEEP {
        return Err(Error::invalid(
            param,
            format!(
                "{nv} visible, {nh} hidden and {ns} deep units are more than the dense recursion handles (at most {MAX_VISIBLE} visible, {MAX_HIDDEN} hidden and {MAX_DEEP} deep units: its n_v x n_v couplings and the existence check's SVD of the {MAX_HIDDEN} x {MAX_DEEP} weights bound memory and the time of one uninterruptible factorization)"
            ),
        ));
    }
    Ok(())
}

/// Bytes of `a * b * c` (saturating).
fn product(xs: &[usize]) -> u64 {
    xs.iter().fold(1u64, |acc, &x| acc.saturating_mul(x as u64))
}

/// Host memory of `dbm analyze` (bytes): the recursion's dense matrices, their row copies in
/// the report and its JSON form (about ten n_v × n_v and n_h × n_h copies of 8 bytes).
pub fn analyze_bytes(m: &Dbm) -> u64 {
    let (nv, nh, ns) = m.sizes();
    80u64
        .saturating_mul(product(&[nv, nv]).saturating_add(product(&[nh, nh])))
        .saturating_add(32u64.saturating_mul(product(&[nv, nh]).saturating_add(product(&[nh, ns]))))
}

/// Host memory of sampling `chains` chains of `m` (bytes): the model and recursion
/// ([`analyze_bytes`] without the report), per chain the unit values (4 bytes, visible,
/// hidden twice, deep) in four copies (state, snapshot, transposes), and `kept` bytes per
/// chain of stored samples.
pub fn sample_bytes(m: &Dbm, chains: u32, kept_per_chain: u64) -> (u64, u64) {
    let (nv, nh, ns) = m.sizes();
    let model = 48u64
        .saturating_mul(product(&[nv, nv]).saturating_add(product(&[nh, nh])))
        .saturating_add(
            24u64.saturating_mul(product(&[nv, nh]).saturating_add(product(&[nh, ns]))),
        );
    let per_chain = 16u64
        .saturating_mul((nv as u64) + 2 * (nh as u64) + ns as u64)
        .saturating_add(kept_per_chain);
    (model, per_chain.saturating_mul(chains as u64))
}

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

/// Refuses `need` bytes above 80 % of the available memory (`available` from
/// [`crate::job::memory::available`]; no refusal when unknown). `what` says what needs it.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `param`, the estimate and the limit.
pub fn check_memory(
    param: &'static str,
    what: &str,
    need: u64,
    available: Option<u64>,
) -> Result<()> {
    match available {
        Some(avail) if need > avail / 5 * 4 => Err(Error::invalid(
            param,
            format!(
                "{what} needs about {:.2} GiB of memory but {:.2} GiB are available and at most 80 % of that is used",
                gib(need),
                gib(avail)
            ),
        )),
        _ => Ok(()),
    }
}

/// Refuses a value outside `[-max, max]` (or non-finite), naming `param` and the range.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `param`.
pub fn check_range(param: &'static str, v: f64, lo: f64, hi: f64) -> Result<()> {
    if !(v.is_finite() && v >= lo && v <= hi) {
        return Err(Error::invalid(
            param,
            format!(
                "must be a finite number in [{}, {}] (got {})",
                short(lo),
                short(hi),
                short(v)
            ),
        ));
    }
    Ok(())
}

/// A number as written in ranges: 1e6, 0.5, -1e-6.
pub fn short(x: f64) -> String {
    if x != 0.0 && x.is_finite() && (x.abs() >= 1e4 || x.abs() < 1e-3) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}
