//! Files in and out: results JSON, per-measurement CSV series, NPY configurations,
//! checkpoints, reports, plots.
//!
//! Every file goes through [`write_atomic`]: a regular file is written to an exclusively
//! created, unpredictably named temporary file beside it, flushed to disk and renamed into
//! place, so a failed or interrupted run never leaves a half-written file; a symbolic link
//! is followed (its target replaced, the link kept); a device, FIFO or socket is written
//! through, never replaced; `-` is standard output. A temporary file left by a killed run
//! (its writer's lock released) is removed by the next write beside it.
//!
//! Every input goes through [`read_capped`], with a size cap suited to its kind, so a
//! device or FIFO that never ends (`/dev/zero`) is refused within seconds.

use crate::error::{Error, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks before a run that `path` can be created later: its directory exists and it is
/// not a directory itself. `param` names the flag in the error.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `param`.
pub fn check_output_path(param: &'static str, path: &Path) -> Result<()> {
    if is_stdout(path) || path == Path::new("/dev/stdout") {
        claim_stdout();
        return Ok(());
    }
    if path.as_os_str().is_empty() {
        return Err(Error::invalid(
            param,
            "must be a file path (got an empty string)",
        ));
    }
    if path.is_dir() {
        return Err(Error::invalid(
            param,
            format!("{} is a directory; give a file path", path.display()),
        ));
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(Error::invalid(
            param,
            format!("directory {} does not exist", dir.display()),
        ));
    }
    Ok(())
}

/// `-`: standard output as an output path.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

static STDOUT_CLAIMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks standard output as taken by an output file (`-`): the human-readable report then
/// goes to standard error ([`report`]).
pub fn claim_stdout() {
    STDOUT_CLAIMED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Where the human-readable report goes: standard output, or standard error once an output
/// file is written to standard output.
pub fn report() -> Box<dyn Write> {
    if STDOUT_CLAIMED.load(std::sync::atomic::Ordering::SeqCst) {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    }
}

/// Refuses `-` (standard output) for a file that cannot be a stream (a checkpoint).
///
/// # Errors
/// [`Error::InvalidParameter`] naming `param`.
pub fn not_stdout(param: &'static str, path: &Path) -> Result<()> {
    if is_stdout(path) {
        return Err(Error::invalid(
            param,
            "must be a file (standard output, -, cannot be read back)",
        ));
    }
    Ok(())
}

/// Caps on input sizes by kind of file: far above any real file of the kind, far below
/// what would exhaust memory or take more than seconds to read.
pub mod caps {
    /// A job description (TOML).
    pub const JOB: u64 = 1 << 20;
    /// A results file (JSON, without series).
    pub const RESULTS: u64 = 1 << 30;
    // A DBM model file: `crate::dbm::limits::MAX_MODEL_BYTES`, beside the model limits.
}

/// Reads a whole input file of at most `cap` bytes. A longer file (or a device or FIFO
/// that never ends, such as /dev/zero) is refused after `cap + 1` bytes; a directory is
/// refused. `param` names the flag in the error.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `param` for a file that cannot be read, a directory
/// or a file over the cap.
pub fn read_capped(param: &'static str, path: &Path, cap: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let unreadable =
        |e: std::io::Error| Error::invalid(param, format!("cannot read {}: {e}", path.display()));
    if path.is_dir() {
        return Err(Error::invalid(
            param,
            format!("{} is a directory; give a file", path.display()),
        ));
    }
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut data = Vec::new();
    if let Ok(m) = file.metadata()
        && m.is_file()
        && m.len() > cap
    {
        return Err(too_long(param, path, cap));
    }
    file.take(cap + 1)
        .read_to_end(&mut data)
        .map_err(unreadable)?;
    if data.len() as u64 > cap {
        return Err(too_long(param, path, cap));
    }
    Ok(data)
}

fn too_long(param: &'static str, path: &Path, cap: u64) -> Error {
    Error::invalid(
        param,
        format!(
            "{} is longer than {} bytes, the most a file of this kind may hold (a device such as /dev/zero is not a file)",
            path.display(),
            cap
        ),
    )
}

/// [`read_capped`] for a text file (UTF-8).
///
/// # Errors
/// As [`read_capped`], and [`Error::InvalidParameter`] when the file is not UTF-8.
pub fn read_text_capped(param: &'static str, path: &Path, cap: u64) -> Result<String> {
    String::from_utf8(read_capped(param, path, cap)?).map_err(|_| {
        Error::invalid(
            param,
            format!("{} is not a text (UTF-8) file", path.display()),
        )
    })
}

/// Refuses an output `path` (flag `param`) that names one of the run's `inputs` (what
/// each is, and its path) or another output: two paths naming one file, also through links.
/// Devices, FIFOs and standard output may be named more than once.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `param` and the input it would overwrite.
pub fn check_distinct(param: &'static str, path: &Path, others: &[(&str, &Path)]) -> Result<()> {
    if is_stdout(path) || std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Ok(());
    }
    let key = same_file_key(path);
    match others
        .iter()
        .find(|(_, other)| !is_stdout(other) && same_file_key(other) == key)
    {
        Some((what, other)) => Err(Error::invalid(
            param,
            format!(
                "{} is {what} {}; give another path",
                path.display(),
                other.display()
            ),
        )),
        None => Ok(()),
    }
}

/// The file `path` names, for comparing two paths: links followed, the directory
/// canonicalized (the file itself need not exist).
pub fn same_file_key(path: &Path) -> PathBuf {
    let target = write_target(path);
    let dir = std::fs::canonicalize(parent_dir(&target)).unwrap_or_else(|_| parent_dir(&target));
    match target.file_name() {
        Some(name) => dir.join(name),
        None => target,
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The file a write to `path` lands in: `path` itself, or the final target of a chain of
/// symbolic links (a dangling link's target included), so a link is never replaced.
fn write_target(path: &Path) -> PathBuf {
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(&at) {
                Ok(to) => at = parent_dir(&at).join(to),
                Err(_) => break,
            },
            _ => break,
        }
    }
    at
}

/// A temporary name beside `target` that no other process can guess: a prefix of the file
/// name (so names near the 255-byte limit still fit) and 64 bits from the clock, the
/// process and a counter.
fn temporary_name(target: &Path, attempt: u32) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u32(attempt);
    let name = target
        .file_name()
        .map(|n| {
            // at most 64 bytes, cut at a character boundary
            let n = n.to_string_lossy();
            let mut end = n.len().min(64);
            while !n.is_char_boundary(end) {
                end -= 1;
            }
            n[..end].to_string()
        })
        .unwrap_or_default();
    parent_dir(target).join(format!(".{name}.tmp-{:016x}", h.finish()))
}

/// Removes temporary files beside `target` (of [`temporary_name`]'s form for its name)
/// that a killed writer left: regular files, not links, at least a minute old, whose lock
/// can be taken (a live writer holds it).
fn remove_stale_temporaries(target: &Path) {
    let dir = parent_dir(target);
    let Some(prefix) = temporary_name(target, 0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .and_then(|n| n.get(..n.len() - 16).map(str::to_string))
    else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(tail) = name.strip_prefix(&prefix) else {
            continue;
        };
        if tail.len() != 16 || !tail.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let path = entry.path();
        let old = std::fs::symlink_metadata(&path).is_ok_and(|m| {
            m.is_file()
                && m.modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= std::time::Duration::from_secs(60))
        });
        if !old {
            continue;
        }
        if let Ok(f) = std::fs::File::open(&path)
            && f.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Writes a file so that no reader ever sees it half-written. A regular file (or a new
/// name) is written to a temporary file beside it, created exclusively under an
/// unpredictable name (never through a link), synced and renamed over it only if `fill`
/// and every write succeed. A symbolic link is followed: its final target is replaced and
/// the link kept. A path that exists and is not a regular file (a character device such as
/// /dev/null, a FIFO, a socket) is written through directly, never replaced. `-` is
/// standard output. Once a stop was requested ([`crate::interrupt`]) nothing is put in
/// place: an interrupted command leaves no output.
///
/// # Errors
/// [`Error::Io`] naming `path` on any failure (a full disk, a broken pipe, a failed
/// close); the temporary file is removed. [`Error::Interrupted`] after a stop request.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    crate::interrupt::check()?;
    write_file(path, fill, true)
}

/// [`write_atomic`] for the one file written because a stop was requested: the checkpoint
/// of an interrupted run.
///
/// # Errors
/// As [`write_atomic`].
pub fn write_atomic_on_stop(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    write_file(path, fill, false)
}

/// A writer that fails once a stop was requested, so that writing a large file ends
/// within moments of Ctrl-C.
struct StopWriter<'a>(&'a mut dyn Write);

impl Write for StopWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(signal) = crate::interrupt::requested() {
            return Err(std::io::Error::other(format!(
                "interrupted by signal {signal}"
            )));
        }
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn write_file(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    honour_stop: bool,
) -> Result<()> {
    let fill = |w: &mut dyn Write| {
        if honour_stop {
            fill(&mut StopWriter(w))
        } else {
            fill(w)
        }
    };
    write_unchecked(path, fill, honour_stop).map_err(|e| {
        match crate::interrupt::requested().filter(|_| honour_stop) {
            Some(signal) => Error::Interrupted { signal },
            None => e,
        }
    })
}

fn write_unchecked(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    honour_stop: bool,
) -> Result<()> {
    if is_stdout(path) || path == Path::new("/dev/stdout") {
        let mut out = std::io::stdout().lock();
        return fill(&mut out)
            .and_then(|()| out.flush())
            .map_err(io_err(Path::new("standard output")));
    }
    // what the kernel opens (magic links such as /dev/fd/N included): a pipe, device,
    // FIFO or socket is written through the path as given
    if let Ok(m) = std::fs::metadata(path)
        && !m.is_file()
        && !m.is_dir()
    {
        let result = (|| {
            let file = std::fs::OpenOptions::new().write(true).open(path)?;
            let mut w = BufWriter::new(file);
            fill(&mut w)?;
            w.flush()
        })();
        return result.map_err(io_err(path));
    }
    let target = write_target(path);
    let keep_mode = std::fs::metadata(&target).ok().map(|m| m.permissions());
    remove_stale_temporaries(&target);
    let mut created = None;
    let mut last = None;
    for attempt in 0..16 {
        let tmp = temporary_name(&target, attempt);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => {
                // held until the file is renamed or removed: a lock that can be taken
                // marks a temporary file whose writer is gone
                let _ = f.lock();
                // the replaced file keeps its permissions
                if let Some(mode) = &keep_mode {
                    let _ = f.set_permissions(mode.clone());
                }
                created = Some((tmp, f));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_err(path)(e)),
        }
    }
    let Some((tmp, file)) = created else {
        return Err(io_err(path)(last.unwrap_or_else(|| {
            std::io::Error::other("no free temporary name")
        })));
    };
    let result = (|| {
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        if let Some(signal) = crate::interrupt::requested().filter(|_| honour_stop) {
            return Err(std::io::Error::other(format!(
                "interrupted by signal {signal}; not written"
            )));
        }
        std::fs::rename(&tmp, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

/// Writes an NPY (version 1.0) array of `int8` in C order.
pub fn write_npy_i8(w: &mut dyn Write, shape: &[usize], data: &[i8]) -> std::io::Result<()> {
    debug_assert_eq!(shape.iter().product::<usize>(), data.len());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_str = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '|i1', 'fortran_order': False, 'shape': {shape_str}, }}");
    // magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    w.write_all(bytemuck::cast_slice(data))
}

/// An NPY array of bytes ([`read_npy_bytes`]): its shape and its values in C order, and
/// whether the file's type was signed (`int8`) or unsigned (`uint8`).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyBytes {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, C order.
    pub data: Vec<u8>,
    /// `|i1` (true) or `|u1`.
    pub signed: bool,
}

/// Reads an NPY file (versions 1–3) of `int8` or `uint8` in C order, at most `cap` bytes.
/// `param` names the flag in errors.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `param`: unreadable, over the cap, not NPY, another
/// type or Fortran order, a shape that does not match the data.
pub fn read_npy_bytes(param: &'static str, path: &Path, cap: u64) -> Result<NpyBytes> {
    use std::io::Read;
    let bad = |why: &str| Error::invalid(param, format!("{}: {why}", path.display()));
    let unreadable =
        |e: std::io::Error| Error::invalid(param, format!("cannot read {}: {e}", path.display()));
    if path.is_dir() {
        return Err(bad("a directory, not an NPY file"));
    }
    let mut r = std::io::BufReader::new(std::fs::File::open(path).map_err(unreadable)?);
    let mut exact = |n: usize| -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        (&mut r)
            .take(n as u64)
            .read_to_end(&mut buf)
            .map_err(unreadable)?;
        if buf.len() != n {
            return Err(bad("truncated"));
        }
        Ok(buf)
    };
    let magic = exact(8)?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(bad("not an NPY file (bad magic)"));
    }
    let len = match magic[6] {
        1 => {
            let l = exact(2)?;
            u16::from_le_bytes([l[0], l[1]]) as usize
        }
        2 | 3 => {
            let l = exact(4)?;
            u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize
        }
        _ => return Err(bad("an NPY version this reader does not know")),
    };
    if len > 1 << 16 {
        return Err(bad("an NPY header longer than 64 KiB"));
    }
    let header = String::from_utf8(exact(len)?).map_err(|_| bad("NPY header is not text"))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr").ok_or_else(|| bad("NPY header without 'descr'"))?;
    let signed = if descr.starts_with("'|i1'") || descr.starts_with("'<i1'") {
        true
    } else if ["'|u1'", "'<u1'", "'|b1'"]
        .iter()
        .any(|d| descr.starts_with(d))
    {
        false
    } else {
        return Err(bad(&format!(
            "the array's type is {}; int8 or uint8 is needed (numpy: a.astype(np.int8))",
            descr.split(',').next().unwrap_or(descr)
        )));
    };
    if field("fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(bad("a Fortran-order array; save it in C order"));
    }
    let shape_text = field("shape").ok_or_else(|| bad("NPY header without 'shape'"))?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|t| t.split(')').next())
        .ok_or_else(|| bad("NPY shape is not a tuple"))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<usize>()
                .map_err(|_| bad("NPY shape is not a tuple of integers"))
        })
        .collect::<Result<_>>()?;
    let want = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n as u64 <= cap)
        .ok_or_else(|| {
            bad(&format!(
                "the shape {shape:?} holds more than {cap} values, the most that fit in memory here"
            ))
        })?;
    let data = exact(want).map_err(|_| {
        bad(&format!(
            "the shape {shape:?} needs {want} values but the file holds fewer"
        ))
    })?;
    let mut probe = [0u8; 1];
    if r.read(&mut probe).map_err(unreadable)? != 0 {
        return Err(bad(&format!(
            "the file holds more than the {want} values of the shape {shape:?}"
        )));
    }
    Ok(NpyBytes {
        shape,
        data,
        signed,
    })
}

/// Reads a number that JSON may hold as `null` (serde_json writes NaN and ±∞ as `null`) back
/// as NaN, for `#[serde(deserialize_with = "crate::io::f64_or_nan")]` on report fields that
/// are NaN by design (a skipped benchmark row, a fit from two points).
///
/// # Errors
/// The deserializer's, for anything but a number or null.
pub fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("blockspin-io-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Entries of `d` other than `keep`: no temporary file may be left behind.
    fn leftovers(d: &Path, keep: &[&str]) -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !keep.contains(&n.as_str()))
            .collect()
    }

    #[test]
    fn links_are_followed_and_kept_and_failures_leave_nothing() {
        let d = scratch("links");
        let (target, link) = (d.join("target.json"), d.join("link.json"));
        std::fs::write(&target, "old").unwrap();
        std::os::unix::fs::symlink("target.json", &link).unwrap();
        write_atomic(&link, |w| w.write_all(b"new")).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        // a dangling link creates its target
        std::os::unix::fs::symlink("later.json", d.join("dangling.json")).unwrap();
        write_atomic(&d.join("dangling.json"), |w| w.write_all(b"x")).unwrap();
        assert_eq!(std::fs::read_to_string(d.join("later.json")).unwrap(), "x");
        // a failing fill leaves the old file and no temporary one
        let e = write_atomic(&target, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(e.is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let names = ["target.json", "link.json", "dangling.json", "later.json"];
        assert_eq!(leftovers(&d, &names), Vec::<String>::new());
        // a file name near the 255-byte limit still gets a temporary name that fits
        let long = d.join("x".repeat(250));
        write_atomic(&long, |w| w.write_all(b"ok")).unwrap();
        assert_eq!(std::fs::read_to_string(&long).unwrap(), "ok");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_fifo_is_written_through_not_replaced() {
        let d = scratch("fifo");
        let fifo = d.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipping: mkfifo is not available");
            return;
        }
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        write_atomic(&fifo, |w| w.write_all(b"through the pipe")).unwrap();
        assert_eq!(reader.join().unwrap(), "through the pipe");
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind));
        assert_eq!(leftovers(&d, &["pipe"]), Vec::<String>::new());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn devices_are_written_through_and_a_full_one_is_an_error() {
        let d = scratch("devices");
        let node = |name: &str, minor: &str| {
            let p = d.join(name);
            let ok = std::process::Command::new("mknod")
                .args([p.to_str().unwrap(), "c", "1", minor])
                .status()
                .is_ok_and(|s| s.success());
            ok.then_some(p)
        };
        // private null (1, 3) and full (1, 7) devices: needs root
        let (Some(null), Some(full)) = (node("null", "3"), node("full", "7")) else {
            eprintln!("skipping: mknod needs root");
            std::fs::remove_dir_all(&d).unwrap();
            return;
        };
        write_atomic(&null, |w| w.write_all(b"discarded")).unwrap();
        let e = write_atomic(&full, |w| w.write_all(&[0u8; 1 << 16])).unwrap_err();
        assert!(e.to_string().contains("No space left"), "{e}");
        for p in [&null, &full] {
            let kind = std::fs::symlink_metadata(p).unwrap().file_type();
            assert!(
                std::os::unix::fs::FileTypeExt::is_char_device(&kind),
                "{p:?} replaced"
            );
        }
        assert_eq!(leftovers(&d, &["null", "full"]), Vec::<String>::new());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn npy_round_trip_and_refusals() {
        let d = scratch("npy");
        let p = d.join("a.npy");
        write_atomic(&p, |w| write_npy_i8(w, &[2, 3], &[1, -1, 1, 1, -1, -1])).unwrap();
        let a = read_npy_bytes("input", &p, 1 << 20).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert!(a.signed);
        assert_eq!(a.data[1] as i8, -1);
        // a truncated file and another type are refused naming the flag
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        let e = read_npy_bytes("input", &p, 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("input:") && e.contains("needs 6 values"),
            "{e}"
        );
        let e = read_npy_bytes("input", Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("bad magic"), "{e}");
        let mut other = bytes.clone();
        let at = other.windows(3).position(|w| w == b"|i1").unwrap();
        other[at..at + 3].copy_from_slice(b"<f8");
        std::fs::write(&p, &other).unwrap();
        let e = read_npy_bytes("input", &p, 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(e.contains("int8 or uint8"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn npy_header_is_aligned_and_parsable() {
        let mut buf = Vec::new();
        write_npy_i8(&mut buf, &[2, 3], &[1, -1, 1, 1, -1, -1]).unwrap();
        assert_eq!(&buf[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([buf[8], buf[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&buf[10..10 + hlen]).unwrap();
        assert!(header.contains("'shape': (2, 3)"));
        assert_eq!(buf.len(), 10 + hlen + 6);
        assert_eq!(buf[10 + hlen + 1] as i8, -1);
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("blockspin-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.json");
        let r = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
