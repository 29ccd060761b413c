//! Checkpoints of a sampled MCRG run ([`super::sample_with`]): everything needed to continue
//! it exactly: the chains' bits and sweep count, the measurements done, and the
//! accumulator (every jackknife group's moments and local-field histograms, exact in
//! JSON). A resumed run gives the report of the uninterrupted one.
//!
//! Layout (little endian), written atomically like every output:
//!
//! ```text
//! "BSMCRG01"            8-byte magic and format version
//! u64 n, n bytes        header (JSON): identity, progress, accumulator
//! u64 n, n bytes        bits of every chain (chain-major, one byte per site)
//! u32                   CRC-32 of everything above
//! ```

use super::couplings::CallenHistogram;
use super::exponents::Moments;
use super::{Group, Mcrg};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"BSMCRG01";
/// Most bytes of a checkpoint's JSON header.
const HEADER_CAP: u64 = 1 << 30;

/// One jackknife group, serialized.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct GroupState {
    n: f64,
    sum: Vec<f64>,
    outer: Vec<f64>,
    /// Per level: (key, sites, Σ x), sorted by key.
    callen: Vec<Vec<(u64, f64, f64)>>,
}

/// The accumulator of an [`Mcrg`], serialized.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccumulatorState {
    shift: Option<Vec<f64>>,
    groups: Vec<GroupState>,
    group_length: u64,
    configurations: u64,
}

/// The JSON header.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// Program version that wrote the file.
    pub version: String,
    /// What the run is (settings, model, sampling): a resumed run must be the same.
    pub identity: serde_json::Value,
    /// Sweeps done by the sampler (thermalization included).
    pub sweeps_done: u32,
    /// Measurements analysed.
    pub measurements_done: u32,
    /// The accumulator.
    pub accumulator: AccumulatorState,
}

/// A checkpoint in memory.
#[derive(Clone, Debug)]
pub struct McrgCheckpoint {
    /// The header.
    pub header: Header,
    /// The chains' bits.
    pub bits: Vec<u8>,
}

/// Where and how often [`super::sample_with`] writes checkpoints, and the one it resumes.
#[derive(Clone, Debug)]
pub struct CheckpointPlan {
    /// The file (rewritten atomically).
    pub path: PathBuf,
    /// Seconds between checkpoints (one is also written when a stop is requested).
    pub every_seconds: f64,
    /// What the run is: settings, model and sampling as the caller resolved them; a
    /// checkpoint is only resumed by a run with the same identity.
    pub identity: serde_json::Value,
    /// The checkpoint to continue from.
    pub resume: Option<McrgCheckpoint>,
}

impl Mcrg {
    pub(super) fn state(&self) -> AccumulatorState {
        AccumulatorState {
            shift: self.shift.clone(),
            groups: self
                .groups
                .iter()
                .map(|g| GroupState {
                    n: g.moments.n,
                    sum: g.moments.sum.clone(),
                    outer: g.moments.outer.clone(),
                    callen: g
                        .callen
                        .iter()
                        .map(|h| {
                            let mut v: Vec<(u64, f64, f64)> =
                                h.entries.iter().map(|(k, e)| (*k, e.0, e.1)).collect();
                            v.sort_unstable_by_key(|e| e.0);
                            v
                        })
                        .collect(),
                })
                .collect(),
            group_length: self.group_length,
            configurations: self.configurations,
        }
    }

    pub(super) fn restore(&mut self, s: AccumulatorState, what: &str) -> Result<()> {
        let bad = |why: &str| Error::invalid("resume", format!("{what}: {why}"));
        let d = self.per_level * self.levels.len();
        let mut groups = Vec::with_capacity(s.groups.len());
        for g in s.groups {
            if g.sum.len() != d || g.outer.len() != d * d || g.callen.len() != self.levels.len() {
                return Err(bad("its accumulator does not fit these settings"));
            }
            groups.push(Group {
                moments: Moments {
                    n: g.n,
                    sum: g.sum,
                    outer: g.outer,
                },
                callen: g
                    .callen
                    .into_iter()
                    .map(|entries| CallenHistogram {
                        entries: entries.into_iter().map(|(k, n, x)| (k, (n, x))).collect(),
                    })
                    .collect(),
            });
        }
        if s.shift.as_ref().is_some_and(|v| v.len() != d) || s.group_length == 0 {
            return Err(bad("its accumulator does not fit these settings"));
        }
        self.shift = s.shift;
        self.groups = groups;
        self.group_length = s.group_length;
        self.configurations = s.configurations;
        Ok(())
    }
}

impl McrgCheckpoint {
    /// Serializes to bytes.
    ///
    /// # Errors
    /// [`Error::Internal`] if the header does not serialize.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let header =
            serde_json::to_vec(&self.header).map_err(|e| Error::Internal(e.to_string()))?;
        let mut out = Vec::with_capacity(28 + header.len() + self.bits.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(self.bits.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.bits);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Parses bytes, checking magic, lengths and CRC.
    ///
    /// # Errors
    /// A one-line description of what is wrong.
    pub fn from_bytes(data: &[u8]) -> std::result::Result<Self, String> {
        if data.len() < 8 + 8 + 8 + 4 || &data[..8] != MAGIC {
            return Err("not a blockspin mcrg checkpoint".into());
        }
        let (body, crc) = data.split_at(data.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err("checksum mismatch: the file is truncated or corrupted".into());
        }
        let mut at = 8usize;
        let mut take = |n: u64, what: &str| -> std::result::Result<&[u8], String> {
            let end = usize::try_from(n)
                .ok()
                .and_then(|n| at.checked_add(n))
                .filter(|&e| e <= body.len())
                .ok_or_else(|| format!("{what} runs past the end"))?;
            let s = &body[at..end];
            at = end;
            Ok(s)
        };
        let len = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        let n = len(take(8, "header length")?);
        let header: Header =
            serde_json::from_slice(take(n, "header")?).map_err(|e| format!("bad header: {e}"))?;
        let n = len(take(8, "state length")?);
        let bits = take(n, "state")?.to_vec();
        if at != body.len() {
            return Err("trailing bytes after the state".into());
        }
        Ok(McrgCheckpoint { header, bits })
    }

    /// Reads and checks a checkpoint of a run with `bits` bytes of state (the file may
    /// hold at most that plus [`HEADER_CAP`] bytes).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `resume`.
    pub fn read(path: &Path, bits: u64) -> Result<Self> {
        let data = crate::io::read_capped("resume", path, HEADER_CAP + bits + 64)?;
        Self::from_bytes(&data).map_err(|why| {
            Error::invalid(
                "resume",
                format!("{}: {why}; refusing to resume from it", path.display()),
            )
        })
    }

    /// Writes atomically, also once a stop was requested.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        crate::io::write_atomic_on_stop(path, |w| w.write_all(&bytes))
    }
}
