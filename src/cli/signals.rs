//! Ctrl-C and SIGTERM for every subcommand, and the progress bar of long library work.
//!
//! A signal becomes a stop request ([`crate::interrupt::request`]); the running work stops
//! at its next check (well within a second), writes nothing, and the program exits with
//! 128 + the signal (130 for SIGINT, 143 for SIGTERM). Should the work not stop within the
//! grace period (one second; longer while `sample` writes a checkpoint), or a second signal
//! arrive, the process exits at once with the same status: outputs are only ever renamed
//! into place whole, and a temporary file left by such an exit is removed by the next write
//! beside it.

use crate::error::{Error, Result};
use crate::interrupt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static GRACE_MS: AtomicU64 = AtomicU64::new(1000);
static HANDLE: OnceLock<signal_hook::iterator::Handle> = OnceLock::new();

/// Turns SIGINT and SIGTERM into stop requests for the rest of the process, with a watchdog
/// that exits once the grace period has passed, and installs the progress bar.
///
/// # Errors
/// [`Error::Io`] when the handlers cannot be registered.
pub fn install(quiet: bool) -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| Error::Io {
        path: PathBuf::from("signal handler"),
        source: e,
    })?;
    let _ = HANDLE.set(signals.handle());
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            interrupt::request(sig);
            let until = Instant::now() + Duration::from_millis(GRACE_MS.load(Ordering::SeqCst));
            while Instant::now() < until && signals.pending().next().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            // never panic here (a closed stderr): the exit must happen
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("stopped by signal {sig}\n").as_bytes(),
            );
            std::process::exit(128 + sig);
        }
    });
    interrupt::install(Box::new(Bar::new(quiet)));
    Ok(())
}

/// Also turns `signal` (SIGUSR1 for a checkpointed `sample`) into a stop request, and gives
/// the work `grace` to stop (time to write a checkpoint).
///
/// # Errors
/// [`Error::Io`] when the handler cannot be registered.
pub fn also(signal: i32, grace: Duration) -> Result<()> {
    GRACE_MS.store(grace.as_millis() as u64, Ordering::SeqCst);
    match HANDLE.get() {
        Some(h) => h.add_signal(signal).map_err(|e| Error::Io {
            path: PathBuf::from("signal handler"),
            source: e,
        }),
        None => Ok(()),
    }
}

/// A progress bar on standard error, drawn only on a terminal and only once a task has
/// run for a second. Tasks nest (a flow's steps, each step's configurations): the
/// innermost is drawn, and its parent again once it ends.
struct Bar {
    quiet: bool,
    stack: Mutex<Vec<(ProgressBar, Instant, bool)>>,
}

impl Bar {
    fn new(quiet: bool) -> Self {
        Bar {
            quiet,
            stack: Mutex::new(Vec::new()),
        }
    }
}

impl interrupt::Sink for Bar {
    fn start(&self, what: &str, total: u64) {
        let bar = ProgressBar::with_draw_target(
            (total > 0).then_some(total),
            ProgressDrawTarget::hidden(),
        );
        let template = if total > 0 {
            "{spinner} {prefix} {pos}/{len} [{bar:40}] {elapsed_precise} eta {eta}"
        } else {
            "{spinner} {prefix} {pos} {elapsed_precise}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        if let Ok(mut s) = self.stack.lock() {
            if let Some((parent, _, shown)) = s.last_mut() {
                parent.set_draw_target(ProgressDrawTarget::hidden());
                *shown = false;
            }
            s.push((bar, Instant::now(), false));
        }
    }

    fn position(&self, done: u64) {
        let Ok(mut s) = self.stack.lock() else {
            return;
        };
        if let Some((bar, started, shown)) = s.last_mut() {
            if !*shown
                && !self.quiet
                && started.elapsed() > Duration::from_secs(1)
                && std::io::stderr().is_terminal()
            {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                *shown = true;
            }
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Ok(mut s) = self.stack.lock()
            && let Some((bar, _, _)) = s.pop()
        {
            bar.finish_and_clear();
        }
    }
}
