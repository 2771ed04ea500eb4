//! The ledger's schema migrations, embedded in the binary.
//!
//! `sqlx::migrate!` would embed them as well, but its macro crate compiles a second copy of
//! sqlx's database drivers — SQLite's C source included — for the compiler, minutes of every
//! clean build on two cores (design §8). The list is checked against the `migrations/`
//! directory by a test, with the checksums sqlx would compute from the files, so that stores
//! migrated by earlier builds stay valid.

use std::future::Future;
use std::pin::Pin;

use sqlx::SqlStr;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// (version, description as sqlx derives it from the file name, SQL).
const FILES: [(i64, &str, &str); 3] = [
    (1, "ledger", include_str!("../migrations/0001_ledger.sql")),
    (
        2,
        "ingest units",
        include_str!("../migrations/0002_ingest_units.sql"),
    ),
    (
        3,
        "extracts releases",
        include_str!("../migrations/0003_extracts_releases.sql"),
    ),
];

#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let migrations = FILES
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// The ledger's migrator. The vault's migrations (numbered from 1001) share
/// `_sqlx_migrations`, so versions it does not know are ignored.
pub(crate) async fn migrator() -> Result<Migrator, sqlx::migrate::MigrateError> {
    let mut m = Migrator::new(Embedded).await?;
    m.set_ignore_missing(true);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded migrations are the directory's, as sqlx resolves it: same versions,
    /// descriptions, kinds and checksums (a file added, renamed or edited without this list
    /// following fails here).
    #[tokio::test]
    async fn embedded_migrations_are_the_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let from_dir = Migrator::new(dir).await.unwrap();
        let embedded = migrator().await.unwrap();
        let key = |m: &Migration| {
            (
                m.version,
                m.description.to_string(),
                m.migration_type,
                m.checksum.to_vec(),
                m.no_tx,
            )
        };
        let a: Vec<_> = from_dir.iter().map(key).collect();
        let b: Vec<_> = embedded.iter().map(key).collect();
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }
}
