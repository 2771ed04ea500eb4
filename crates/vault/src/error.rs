//! Typed errors. Messages name our own ids (internal ids, provider ids), tables and fields, never
//! an identifier of a person or any decrypted content.

use crate::InternalId;

/// Result with the vault's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, broadly: it decides the CLI's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: a value handed to the vault.
    Input,
    /// The subject is not in the vault.
    NotFound,
    /// The subject's key was destroyed: its identity and sealed data are gone for good.
    Shredded,
    /// A key did not fit: the wrong store key, or stored data that was altered.
    Crypto,
    /// Stored data is not in the form the vault writes, or conflicts with what is recorded.
    Corrupt,
    /// The database or the operating system failed.
    Backend,
}

/// A vault error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value could not be accepted.
    #[error("{what}: {why}")]
    Input {
        /// Which value (e.g. "patient hash", "blob purpose").
        what: &'static str,
        /// Why.
        why: &'static str,
    },
    /// The subject is not in the vault.
    #[error("subject {0} is not in the vault")]
    NotFound(InternalId),
    /// The subject was shredded.
    #[error("subject {0} was shredded: its data key is destroyed and its data unrecoverable")]
    Shredded(InternalId),
    /// The store key is not the one this vault was created with.
    #[error("the store key does not match this vault (wrong key file or TSUNAGU_STORE_KEY)")]
    WrongStoreKey,
    /// Authenticated decryption failed: the wrong key, or ciphertext, nonce or context altered.
    #[error("cannot decrypt {what}{}: wrong key, or the stored data was altered", subject_suffix(.subject))]
    Decrypt {
        /// What was being opened (e.g. "identity version", "data key", "blob").
        what: &'static str,
        /// Whose, when it belongs to a subject.
        subject: Option<InternalId>,
    },
    /// Stored data is not in the form the vault writes.
    #[error("corrupt vault data: {0}")]
    Corrupt(String),
    /// The operating system's random generator failed.
    #[error("the operating system's random generator failed")]
    Random,
    /// The database failed. sqlx's messages hold SQL and database text, never bound values.
    #[error("database: {0}")]
    Backend(#[source] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

fn subject_suffix(subject: &Option<InternalId>) -> String {
    match subject {
        Some(id) => format!(" of subject {id}"),
        None => String::new(),
    }
}

impl Error {
    /// The broad kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Input { .. } => ErrorKind::Input,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Shredded(_) => ErrorKind::Shredded,
            Error::WrongStoreKey | Error::Decrypt { .. } => ErrorKind::Crypto,
            Error::Corrupt(_) => ErrorKind::Corrupt,
            Error::Random | Error::Backend(_) | Error::Migrate(_) => ErrorKind::Backend,
        }
    }

    pub(crate) fn backend(e: sqlx::Error) -> Self {
        Error::Backend(e)
    }
}
