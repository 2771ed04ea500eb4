//! Errors of the pipeline. They name the operator's own input paths, counts and our ids, never
//! a value from inside the input.

/// Result with the pipeline's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A pipeline error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger failed or refused.
    #[error(transparent)]
    Ledger(#[from] tsunagu_ledger::Error),
    /// The vault failed or refused.
    #[error(transparent)]
    Vault(#[from] tsunagu_vault::Error),
    /// The lake failed.
    #[error(transparent)]
    Lake(#[from] tsunagu_lake::LakeError),
    /// An input given on the command line cannot be used.
    #[error("{what}: {why}")]
    Input {
        /// Which input (a path the operator gave, or an option).
        what: String,
        /// Why.
        why: String,
    },
    /// A file of the store could not be written or read.
    #[error("{what}: {source}")]
    Io {
        /// Which file (inside the store).
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn input(what: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Input {
            what: what.into(),
            why: why.into(),
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
