//! Stopping and showing long work: one mechanism for every subcommand.
//!
//! The program's signal handlers (installed by the command line, `cli::signals`) call
//! [`request`] with the signal's number; long library loops call [`check`] (or
//! [`Task::advance`], which also reports progress) at least every few hundred
//! milliseconds and return [`Error::Interrupted`] once a stop was requested. Outputs are
//! written only when work has finished, and [`crate::io::write_atomic`] refuses to put a
//! file in place once a stop was requested, so an interrupted command leaves no file.
//!
//! Progress goes to the [`Sink`] the program installed (a progress bar on a terminal);
//! without one (the library, tests) a [`Task`] only counts.

use crate::error::{Error, Result};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static SINK: OnceLock<Box<dyn Sink>> = OnceLock::new();

/// Asks every running loop to stop; `signal` is the signal's number (2 for SIGINT, 15 for
/// SIGTERM). Only stores to an atomic, so a signal handler may call it.
pub fn request(signal: i32) {
    SIGNAL.store(signal.max(1), Ordering::SeqCst);
}

/// The signal of a pending stop request, if any.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Withdraws a stop request once it has been handled, so later work runs again: for a
/// program that outlives an interrupted call (the Python package raises
/// `KeyboardInterrupt` and keeps the interpreter running). The command line never clears
/// it (it exits).
pub fn clear() {
    SIGNAL.store(0, Ordering::SeqCst);
}

/// `Err(Error::Interrupted)` once a stop was requested.
///
/// # Errors
/// [`Error::Interrupted`] with the signal's number.
pub fn check() -> Result<()> {
    match requested() {
        None => Ok(()),
        Some(signal) => Err(Error::Interrupted { signal }),
    }
}

/// Where progress goes: the command line installs a progress bar.
pub trait Sink: Send + Sync {
    /// A task of `total` steps (0: unknown) starts; `what` says what a step is.
    fn start(&self, what: &str, total: u64);
    /// `done` steps of the current task are finished.
    fn position(&self, done: u64);
    /// The current task ended.
    fn finish(&self);
}

/// Installs the progress sink (once per process; later calls are ignored).
pub fn install(sink: Box<dyn Sink>) {
    let _ = SINK.set(sink);
}

/// One long piece of work: counts finished steps (from any thread), reports them to the
/// installed [`Sink`] and checks for a stop request at every step.
pub struct Task {
    done: AtomicU64,
}

impl Task {
    /// Starts a task of `total` steps (0 when unknown); `what` names a step ("configurations").
    pub fn new(what: &str, total: u64) -> Self {
        if let Some(s) = SINK.get() {
            s.start(what, total);
        }
        Task {
            done: AtomicU64::new(0),
        }
    }

    /// Marks `steps` more steps finished.
    ///
    /// # Errors
    /// [`Error::Interrupted`] once a stop was requested.
    pub fn advance(&self, steps: u64) -> Result<()> {
        let done = self.done.fetch_add(steps, Ordering::Relaxed) + steps;
        if let Some(s) = SINK.get() {
            s.position(done);
        }
        check()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(s) = SINK.get() {
            s.finish();
        }
    }
}
