//! Checkpoint files: everything needed to continue a sampling job exactly.
//!
//! Layout (little endian):
//!
//! ```text
//! "BSCKPT03"                      8-byte magic and format version
//! u64 n, n bytes                  header (JSON): job, completed points, current point
//! u64 n, n bytes                  bits of every chain of the current point (chain-major)
//! u64 n, 120 n bytes              measured counts so far (Counts::words: fifteen u64 each)
//! u32                             CRC-32 of everything above
//! ```
//!
//! Version 02 files (ten u64 per count, before the cluster sums existed) are read with
//! zero cluster sums.
//!
//! Files are written to a temporary file, synced and renamed, so a crash during a write
//! leaves the previous checkpoint intact; a truncated, corrupted or foreign file fails the
//! magic, length or CRC check and is refused.

use super::{JobSpec, RunResults};
use crate::error::{Error, Result};
use crate::model::Counts;
use serde::{Deserialize, Serialize};
use std::path::Path;

const MAGIC: &[u8; 8] = b"BSCKPT03";
/// Version 02: counts without the cluster sums (ten words).
const MAGIC_02: &[u8; 8] = b"BSCKPT02";

/// Progress of the point being sampled.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Current {
    /// Index of the point in the job.
    pub index: usize,
    /// Sweeps done (thermalization included).
    pub sweeps_done: u64,
    /// Wall time spent on the point so far.
    pub wall_seconds: f64,
    /// The thermalization once settled (`thermalize auto`: null while it runs, when the
    /// counts are the current window's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thermalized: Option<crate::run::Thermalized>,
    /// The kernel whose state layout and random stream the configurations continue
    /// (`reference`, `chains`, `sites`; absent in files of earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

/// The JSON header.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// Program version that wrote the file.
    pub version: String,
    /// The resolved job (physical and run parameters of every point, outputs).
    pub job: JobSpec,
    /// Results of the finished points.
    pub completed: Vec<RunResults>,
    /// The point in progress, if any.
    pub current: Option<Current>,
}

/// A checkpoint in memory.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Header.
    pub header: Header,
    /// Bits of the current point's chains.
    pub bits: Vec<u8>,
    /// Counts measured so far for the current point.
    pub counts: Vec<Counts>,
}

impl Checkpoint {
    /// Serializes to bytes.
    ///
    /// # Errors
    /// [`Error::Internal`] if the header does not serialize (non-finite numbers cannot
    /// occur in a validated job).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let header =
            serde_json::to_vec(&self.header).map_err(|e| Error::Internal(e.to_string()))?;
        let mut out = Vec::with_capacity(
            40 + header.len() + self.bits.len() + Counts::BYTES * self.counts.len(),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(self.bits.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.bits);
        out.extend_from_slice(&(self.counts.len() as u64).to_le_bytes());
        for c in &self.counts {
            for w in c.words() {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Parses bytes, checking magic, lengths and CRC.
    ///
    /// # Errors
    /// A one-line description of what is wrong (never a panic).
    pub fn from_bytes(data: &[u8]) -> std::result::Result<Self, String> {
        if data.len() < 8 + 8 + 8 + 8 + 4 {
            return Err("not a blockspin checkpoint (too short)".into());
        }
        let words = match &data[..8] {
            m if m == MAGIC => Counts::WORDS,
            m if m == MAGIC_02 => 10,
            _ => return Err("not a blockspin checkpoint (bad magic)".into()),
        };
        let (body, crc) = data.split_at(data.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err("checksum mismatch: the file is truncated or corrupted".into());
        }
        let mut at = 8usize;
        let mut take = |n: u64, what: &str| -> std::result::Result<&[u8], String> {
            let n = usize::try_from(n).map_err(|_| format!("{what} length overflows"))?;
            let end = at
                .checked_add(n)
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
        let n = len(take(8, "counts length")?);
        let raw = take(
            n.checked_mul(8 * words as u64)
                .ok_or("counts length overflows")?,
            "counts",
        )?;
        let counts = raw
            .chunks_exact(8 * words)
            .map(|c| {
                Counts::from_words(std::array::from_fn(|i| {
                    c.get(8 * i..8 * i + 8).map_or(0, len)
                }))
            })
            .collect();
        if at != body.len() {
            return Err("trailing bytes after the counts".into());
        }
        Ok(Checkpoint {
            header,
            bits,
            counts,
        })
    }

    /// Writes atomically (temporary file, sync, rename), also once a stop was requested:
    /// a checkpoint is what an interrupted run leaves.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        crate::io::write_atomic_on_stop(path, |w| w.write_all(&bytes))
    }

    /// Reads and checks a checkpoint. The file is read section by section, each declared
    /// length checked before it is read: the header against [`HEADER_CAP`], the state and
    /// counts against the memory available, so a device that never ends (/dev/zero) or a
    /// forged length is refused at once.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`resume`) naming the file and the problem.
    pub fn read(path: &Path) -> Result<Self> {
        let refuse = |why: String| {
            Error::invalid(
                "resume",
                format!("{}: {why}; refusing to resume from it", path.display()),
            )
        };
        if path.is_dir() {
            return Err(refuse("a directory, not a checkpoint".into()));
        }
        let file = std::fs::File::open(path).map_err(|e| {
            Error::invalid("resume", format!("cannot read {}: {e}", path.display()))
        })?;
        let data = read_sections(std::io::BufReader::new(file)).map_err(refuse)?;
        Checkpoint::from_bytes(&data).map_err(refuse)
    }
}

/// Most bytes a checkpoint's JSON header may hold (the finished points' results).
pub const HEADER_CAP: u64 = 1 << 30;

/// The bytes of a checkpoint, read section by section with each declared length checked
/// before it is read.
fn read_sections(mut r: impl std::io::Read) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    /// Appends exactly `n` bytes of `r` to `data`; returns the last (up to) eight as a
    /// little-endian number.
    fn exact(
        data: &mut Vec<u8>,
        r: &mut dyn Read,
        n: u64,
        what: &str,
    ) -> std::result::Result<u64, String> {
        let start = data.len();
        Read::take(&mut *r, n)
            .read_to_end(data)
            .map_err(|e| format!("cannot read the {what}: {e}"))?;
        if (data.len() - start) as u64 != n {
            return Err(format!("truncated in the {what}"));
        }
        let mut word = [0u8; 8];
        let tail = &data[data.len() - (n.min(8) as usize)..];
        word[..tail.len()].copy_from_slice(tail);
        Ok(u64::from_le_bytes(word))
    }
    let available = crate::job::memory::available().unwrap_or(u64::MAX / 2) / 5 * 4;
    let mut data = Vec::new();
    let d = &mut data;
    exact(d, &mut r, 8, "magic")?;
    let words = match &d[..8] {
        m if m == MAGIC => Counts::WORDS,
        m if m == MAGIC_02 => 10,
        _ => return Err("not a blockspin checkpoint (bad magic)".into()),
    };
    let n = exact(d, &mut r, 8, "header length")?;
    if n > HEADER_CAP {
        return Err(format!("a header of {n} bytes (at most {HEADER_CAP})"));
    }
    exact(d, &mut r, n, "header")?;
    let n = exact(d, &mut r, 8, "state length")?;
    if n > available {
        return Err(format!(
            "a state of {n} bytes, more than the memory available ({available})"
        ));
    }
    exact(d, &mut r, n, "state")?;
    let n = exact(d, &mut r, 8, "counts length")?;
    let Some(bytes) = n.checked_mul(8 * words as u64).filter(|&b| b <= available) else {
        return Err(format!(
            "{n} measurement records, more than the memory available holds"
        ));
    };
    exact(d, &mut r, bytes, "counts")?;
    exact(d, &mut r, 4, "checksum")?;
    let mut probe = [0u8; 1];
    if r.read(&mut probe).map_err(|e| e.to_string())? != 0 {
        return Err("trailing bytes after the checksum".into());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            header: Header {
                version: "0".into(),
                job: JobSpec {
                    shard: None,
                    points: vec![],
                    grid: false,
                    job_seed: 5,
                    output: Some("out.json".into()),
                    summary: None,
                    series: None,
                    save_state: None,
                },
                completed: vec![],
                current: Some(Current {
                    index: 2,
                    sweeps_done: 77,
                    wall_seconds: 1.5,
                    thermalized: None,
                    kernel: None,
                }),
            },
            bits: vec![1, 0, 1, 1],
            counts: vec![Counts::from_words([
                3,
                9,
                1,
                2,
                3,
                4,
                5,
                6,
                7,
                u64::MAX,
                11,
                12,
                13,
                14,
                u64::MAX,
            ])],
        }
    }

    #[test]
    fn reads_version_02_with_zero_cluster_sums() {
        let mut c = sample();
        c.counts[0].cluster = Default::default();
        let mut b = c.to_bytes().unwrap();
        b.truncate(b.len() - 4);
        b[..8].copy_from_slice(MAGIC_02);
        // drop the five cluster words of the one count record
        b.truncate(b.len() - 40);
        let crc = crc32fast::hash(&b).to_le_bytes();
        b.extend_from_slice(&crc);
        assert_eq!(
            Checkpoint::from_bytes(&b).unwrap().to_bytes().unwrap(),
            c.to_bytes().unwrap()
        );
    }

    #[test]
    fn round_trip_and_corruption() {
        let c = sample();
        let b = c.to_bytes().unwrap();
        assert_eq!(Checkpoint::from_bytes(&b).unwrap().to_bytes().unwrap(), b);
        for cut in [0, 7, 20, b.len() / 2, b.len() - 1] {
            assert!(
                Checkpoint::from_bytes(&b[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
        for i in (0..b.len()).step_by(7) {
            let mut bad = b.clone();
            bad[i] ^= 0x40;
            assert!(Checkpoint::from_bytes(&bad).is_err(), "flipped byte {i}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // a deterministic fuzz: random lengths and contents, and valid prefixes with garbage
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let valid = sample().to_bytes().unwrap();
        for _ in 0..20_000 {
            let len = (next() % 200) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if next() % 3 == 0 {
                let keep = (next() as usize) % valid.len();
                data = [&valid[..keep], &data[..]].concat();
                // fix the CRC so that the parser goes past the checksum
                if data.len() >= 4 {
                    let n = data.len() - 4;
                    let crc = crc32fast::hash(&data[..n]).to_le_bytes();
                    data[n..].copy_from_slice(&crc);
                }
            }
            let _ = Checkpoint::from_bytes(&data);
        }
    }
}
