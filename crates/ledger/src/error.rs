//! Typed errors. Messages name ids of our own, files, rows and fields, never personal data.

/// Result with the ledger's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, broadly: it decides the CLI's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: a value, a row, a file.
    Input,
    /// Something named does not exist.
    NotFound,
    /// Conflicts with what is recorded.
    Conflict,
    /// A verification failed.
    Verify,
    /// The database failed.
    Backend,
}

/// A ledger error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value could not be accepted.
    #[error("{what}: {why}")]
    Input {
        /// Where: the field, or `file, row N, field F`.
        what: String,
        /// Why.
        why: String,
    },
    /// Something named does not exist.
    #[error("{what} {id} does not exist")]
    NotFound {
        /// The kind of thing.
        what: &'static str,
        /// Our id of it (never a patient's).
        id: String,
    },
    /// Conflicts with what is recorded.
    #[error("{0}")]
    Conflict(String),
    /// A verification failed.
    #[error("{0}")]
    Verify(String),
    /// The database failed. sqlx's messages hold SQL and database text, never bound values.
    #[error("database: {0}")]
    Backend(#[source] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl Error {
    /// The broad kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Input { .. } => ErrorKind::Input,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Verify(_) => ErrorKind::Verify,
            Error::Backend(_) | Error::Migrate(_) => ErrorKind::Backend,
        }
    }

    pub(crate) fn input(what: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Input {
            what: what.into(),
            why: why.into(),
        }
    }

    pub(crate) fn conflict(msg: impl Into<String>) -> Self {
        Error::Conflict(msg.into())
    }

    pub(crate) fn backend(e: sqlx::Error) -> Self {
        Error::Backend(e)
    }

    pub(crate) fn migrate(e: sqlx::migrate::MigrateError) -> Self {
        Error::Migrate(e)
    }

    pub(crate) fn model(what: impl Into<String>, e: tsunagu_model::ParseError) -> Self {
        Error::Input {
            what: what.into(),
            why: e.to_string(),
        }
    }
}
