//! The library's error type. `main.rs` maps [`Error::exit_code`] to the process status.

use std::path::PathBuf;

/// Everything that can go wrong in blockspin.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A user-supplied parameter is out of range. `param` is the parameter's name as in job
    /// files (e.g. `size`, `measure-every`); the command line shows it as its flag.
    #[error("{param}: {message}")]
    InvalidParameter {
        /// The parameter (kebab-case).
        param: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The job does not fit the device (a named limit is exceeded).
    #[error("{0}")]
    DeviceLimit(String),
    /// `--backend gpu` was requested but no adapter was found.
    #[error(
        "no GPU adapter found{0} (try backend cpu; on Debian, `apt-get install mesa-vulkan-drivers` gives a software Vulkan adapter)"
    )]
    NoAdapter(String),
    /// wgpu reported an error while running a kernel.
    #[error("GPU error: {0}")]
    Gpu(String),
    /// Something that cannot happen with valid code did (serialising our own structs, a run
    /// loop invariant): a bug to report, not bad input.
    #[error("internal error: {0} (please report this)")]
    Internal(String),
    /// A stop was requested by a signal (SIGINT, SIGTERM) before the work finished; nothing
    /// was written.
    #[error("interrupted by signal {signal} before the work finished; no output was written")]
    Interrupted {
        /// The signal's number.
        signal: i32,
    },
    /// A file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            param,
            message: message.into(),
        }
    }

    /// Process exit status: 2 for bad input (including a job too large for the device), 128
    /// + the signal for an interruption (130 for SIGINT, 143 for SIGTERM), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidParameter { .. } | Error::DeviceLimit(_) => 2,
            Error::Interrupted { signal } => 128 + signal,
            _ => 1,
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
