//! The store on disk: a directory holding a marker file, the store key (0600) and, by default,
//! the SQLite ledger. `tsunagu init` creates it; every other command opens it and refuses a
//! directory that is not a store.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tsunagu_ledger::{Actor, Ledger};
use tsunagu_model::StoreKey;

use crate::ctx::{Ctx, exit, fail};

/// Name of the marker file that makes a directory a tsunagu store.
pub const MARKER: &str = "tsunagu-store.toml";
const KEY_FILE: &str = "keys/store.key";
const FORMAT: u32 = 1;

/// An opened store.
pub struct Store {
    /// The store directory.
    pub dir: PathBuf,
    /// The ledger.
    pub ledger: Ledger,
    /// The store key (vault, lake and ledger keys derive from it).
    pub key: StoreKey,
    /// The database URL (ledger and vault share the database).
    pub url: String,
}

fn database_url(ctx: &Ctx, dir: &Path) -> String {
    match &ctx.global.database {
        Some(u) => u.clone(),
        None => format!("sqlite://{}?mode=rwc", dir.join("ledger.sqlite").display()),
    }
}

/// Write a file atomically (temporary file, sync, rename), optionally with Unix permissions.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> anyhow::Result<()> {
    tsunagu_pipeline::quarantine::write_atomic_mode(path, bytes, mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn load_key(dir: &Path) -> anyhow::Result<StoreKey> {
    if let Ok(hex) = std::env::var("TSUNAGU_STORE_KEY") {
        return StoreKey::from_hex(&hex)
            .map_err(|e| fail(exit::INPUT, format!("TSUNAGU_STORE_KEY: {e}")));
    }
    let path = dir.join(KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(&path)
            && meta.permissions().mode() & 0o077 != 0
        {
            return Err(fail(
                exit::CONFLICT,
                format!(
                    "{} is readable by other users: run chmod 600 on it (the store key protects every identity)",
                    path.display()
                ),
            ));
        }
    }
    let text = fs::read_to_string(&path).map_err(|_| {
        fail(
            exit::CONFLICT,
            format!(
                "the store key {} cannot be read (or set TSUNAGU_STORE_KEY)",
                path.display()
            ),
        )
    })?;
    StoreKey::from_hex(&text).map_err(|e| fail(exit::CONFLICT, format!("{}: {e}", path.display())))
}

impl Store {
    /// Create the store, or open it if it exists (idempotent). Refuses a non-empty directory
    /// that is not a store.
    pub async fn init(ctx: &Ctx) -> anyhow::Result<(Store, bool)> {
        let dir = ctx.data_dir().to_path_buf();
        let marker = dir.join(MARKER);
        let fresh = !marker.exists();
        if fresh {
            if dir.exists() {
                let non_empty = fs::read_dir(&dir)
                    .with_context(|| format!("cannot read {}", dir.display()))?
                    .next()
                    .is_some();
                if non_empty {
                    return Err(fail(
                        exit::CONFLICT,
                        format!(
                            "{} is not empty and is not a tsunagu store (no {MARKER}): refusing to touch it",
                            dir.display()
                        ),
                    ));
                }
            }
            fs::create_dir_all(dir.join("keys"))
                .with_context(|| format!("cannot create {}", dir.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(dir.join("keys"), fs::Permissions::from_mode(0o700))?;
            }
            if std::env::var("TSUNAGU_STORE_KEY").is_err() && !dir.join(KEY_FILE).exists() {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|_| {
                    anyhow::anyhow!("the operating system's random generator failed")
                })?;
                let key = StoreKey::from_bytes(bytes);
                write_atomic(
                    &dir.join(KEY_FILE),
                    format!("{}\n", key.to_hex()).as_bytes(),
                    Some(0o600),
                )?;
            }
        }
        let store = Self::connect(ctx, &dir).await?;
        let created = store
            .ledger
            .ensure_initialized(&ctx.actor_for("operator"))
            .await?;
        if fresh {
            // The marker is written last: a store whose init was interrupted has no marker and
            // is completed by running init again.
            let body = format!(
                "# A tsunagu store. Do not edit.\nformat = {FORMAT}\ndatabase = \"{}\"\n",
                if ctx.global.database.is_some() {
                    "external"
                } else {
                    "sqlite"
                }
            );
            write_atomic(&marker, body.as_bytes(), None)?;
        }
        Ok((store, created))
    }

    /// Open an existing store.
    pub async fn open(ctx: &Ctx) -> anyhow::Result<Store> {
        let dir = ctx.data_dir().to_path_buf();
        if !dir.join(MARKER).exists() {
            return Err(fail(
                exit::NOT_FOUND,
                format!(
                    "{} is not a tsunagu store: run `tsunagu init` first (or pass --data DIR)",
                    dir.display()
                ),
            ));
        }
        Self::connect(ctx, &dir).await
    }

    async fn connect(ctx: &Ctx, dir: &Path) -> anyhow::Result<Store> {
        let key = load_key(dir)?;
        let url = database_url(ctx, dir);
        let ledger = Ledger::connect(&url, &key).await?;
        Ok(Store {
            dir: dir.to_path_buf(),
            ledger,
            key,
            url,
        })
    }

    /// The identity vault (same database as the ledger).
    pub async fn vault(&self) -> anyhow::Result<tsunagu_vault::Vault> {
        Ok(tsunagu_vault::Vault::connect(&self.url, &self.key).await?)
    }

    /// The clinical lake (`DIR/lake`).
    pub fn lake(&self) -> anyhow::Result<tsunagu_lake::Lake> {
        Ok(tsunagu_lake::Lake::open(self.dir.join("lake"), &self.key)?)
    }

    /// The held area for data that arrived before its person became eligible (`DIR/held/lake`).
    pub fn held(&self) -> anyhow::Result<tsunagu_lake::Lake> {
        Ok(tsunagu_lake::Lake::open(
            self.dir.join("held").join("lake"),
            &self.key,
        )?)
    }

    /// Close the ledger cleanly.
    pub async fn close(self) {
        self.ledger.close().await;
    }
}

/// The stores behind the ledger that intake writes to.
pub struct DataStores {
    /// The identity vault.
    pub vault: tsunagu_vault::Vault,
    /// The clinical lake.
    pub lake: tsunagu_lake::Lake,
    /// The held area.
    pub held: tsunagu_lake::Lake,
}

impl Store {
    /// Open the vault, the lake and the held area.
    pub async fn data_stores(&self) -> anyhow::Result<DataStores> {
        Ok(DataStores {
            vault: self.vault().await?,
            lake: self.lake()?,
            held: self.held()?,
        })
    }

    /// The intake over this store, acting as `actor`.
    pub fn intake<'a>(&'a self, d: &'a DataStores, actor: Actor) -> tsunagu_pipeline::Intake<'a> {
        tsunagu_pipeline::Intake {
            ledger: &self.ledger,
            vault: &d.vault,
            lake: &d.lake,
            held: &d.held,
            store_dir: &self.dir,
            key: &self.key,
            actor,
        }
    }
}

impl Ctx {
    /// The acting person, in a role.
    pub fn actor_for(&self, role: &str) -> Actor {
        Actor {
            name: self.actor(),
            role: role.to_owned(),
        }
    }
}
