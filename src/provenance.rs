//! What every results file records about how it was made.

use serde::Serialize;

/// Program, version, git revision and command line.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Provenance {
    /// "blockspin".
    pub program: String,
    /// Crate version.
    pub version: String,
    /// `git rev-parse --short=12 HEAD` at build time, or "unknown".
    pub git_revision: String,
    /// The command line.
    pub command: Vec<String>,
}

impl Provenance {
    /// This process.
    pub fn current() -> Self {
        Provenance {
            program: "blockspin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            git_revision: env!("BLOCKSPIN_GIT_REVISION").into(),
            command: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
        }
    }
}
