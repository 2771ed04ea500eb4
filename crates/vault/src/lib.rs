//! The identity vault: the only place where raw identifiers of people live (names, kana, birth
//! date, address, phone, insurance numbers, the provider's patient id).
//!
//! # Envelope encryption
//!
//! Every subject (a person at a provider) has its own random 256-bit data key (DEK). Identity
//! versions, and any other bytes the pipeline must keep about that person
//! ([`Vault::seal_for`], e.g. records held until the notice period ends), are sealed with
//! AES-256-GCM under keys derived from the DEK, with a fresh random nonce and the subject's id
//! (and version) as associated data, so a ciphertext moved to another row does not open. The
//! DEK itself is stored only wrapped (AES-256-GCM) under a key-encryption key derived from the
//! store key, which is kept outside the database. A copy of the database alone therefore reveals
//! nobody.
//!
//! # Crypto-shredding
//!
//! [`Vault::shred`] deletes a subject's wrapped DEK. The ciphertexts stay where they are (and in
//! every backup), but nothing can open them any more — not even with the store key. The subject
//! row stays as a tombstone, so the person cannot be stored again by accident.
//!
//! # Ids
//!
//! A subject is filed under the ledger's keyed hash of its provider-local patient id
//! ([`PatientHash`]) and gets an [`InternalId`] that is a keyed hash of (provider, patient hash):
//! deterministic, so re-ingesting the same data gives the same id without a lookup, and
//! meaningless without the store key. Clinical data in the lake is keyed by that id only.
//!
//! # Storage
//!
//! The ledger's database (SQLite embedded, PostgreSQL for deployments) through sqlx's Any
//! driver, portable SQL only, migrations numbered from 1001 in the shared migrations table.
//! The vault does not write audit events itself (it sits beside the ledger, not above it): the
//! pipeline that calls it records them in the ledger.

mod crypto;
mod error;
mod id;
mod payload;

pub use crypto::Sealed;
pub use error::{Error, ErrorKind, Result};
pub use id::{InternalId, PatientHash};
pub use payload::{
    Address, IdentityPayload, InsuranceCard, NameKind, OtherIdentifier, PartialDate, PersonName,
};

use chrono::{DateTime, Utc};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Transaction};
use tsunagu_model::{ProviderId, StoreKey};

use crypto::{SealKey, context, mac, random_bytes};

/// Key derivation labels (HKDF info strings under the store key). Changing one orphans every
/// ciphertext made under it: bump the version instead.
const KEK_LABEL: &str = "tsunagu/vault/kek/v1";
const INTERNAL_ID_LABEL: &str = "tsunagu/vault/internal-id/v1";
const BLOB_LABEL: &str = "tsunagu/vault/blob/v1";
const KEY_CHECK_LABEL: &str = "tsunagu/vault/key-check/v1";

/// Associated-data labels: what a ciphertext is, so that one kind cannot stand in for another.
const CTX_DEK: &str = "tsunagu/vault/dek/v1";
const CTX_IDENTITY: &str = "tsunagu/vault/identity/v1";
const CTX_SUBJECT_DATA: &str = "tsunagu/vault/subject-data/v1";
const CTX_BLOB: &str = "tsunagu/vault/blob/v1";

/// Sub-keys derived from a subject's DEK.
const SUBJECT_ENC_LABEL: &[u8] = b"tsunagu/vault/subject/enc/v1";
const SUBJECT_DIGEST_LABEL: &[u8] = b"tsunagu/vault/subject/digest/v1";

const KEY_CHECK: &str = "store_key_check";

/// The database behind the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// For deployments.
    Postgres,
}

/// What [`Vault::put_identity`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The first identity version of this subject was stored.
    New,
    /// The same content is already stored (as the latest or an earlier version): nothing written.
    Unchanged,
    /// The content differs from every stored version: a new version was appended.
    Updated,
}

/// What [`Vault::shred`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShredOutcome {
    /// The subject's data key was destroyed now.
    Destroyed,
    /// It had been destroyed before.
    AlreadyShredded,
    /// The subject was not in the vault; a tombstone now keeps it from being stored later.
    Tombstoned,
}

/// One stored version of a subject's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityVersion {
    /// 1, 2, … in the order they were recorded.
    pub version: u32,
    /// When this version was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The identity (canonical form).
    pub payload: IdentityPayload,
}

/// A subject, as listed for linkage: no identity content, only keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Our id of the person-at-provider.
    pub internal_id: InternalId,
    /// The provider.
    pub provider: ProviderId,
    /// The ledger's keyed hash of the provider's patient id.
    pub patient_hash: PatientHash,
    /// Whether the subject was shredded (then nothing of it can be opened).
    pub shredded: bool,
}

/// A subject's keys, derived from its DEK.
struct SubjectKeys {
    enc: SealKey,
    digest: [u8; 32],
}

impl SubjectKeys {
    fn from_dek(dek: &[u8]) -> Self {
        SubjectKeys {
            enc: SealKey::new(&mac(dek, &[SUBJECT_ENC_LABEL])),
            digest: mac(dek, &[SUBJECT_DIGEST_LABEL]),
        }
    }
}

/// A connection to the identity vault.
pub struct Vault {
    pool: AnyPool,
    backend: Backend,
    kek: SealKey,
    internal_id_key: [u8; 32],
    blob_key: SealKey,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("backend", &self.backend)
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl Vault {
    /// Connect to `url` (`sqlite://…` or `postgres://…`, the ledger's database), apply pending
    /// vault migrations, and check that `key` is the store key this vault was created with.
    pub async fn connect(url: &str, key: &StoreKey) -> Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::Input {
                what: "database URL",
                why: "must start with sqlite: or postgres:",
            });
        };
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer at a time.
            .max_connections(if backend == Backend::Sqlite { 1 } else { 4 })
            .connect(url)
            .await
            .map_err(Error::backend)?;
        migrate(&pool).await?;
        let vault = Vault {
            pool,
            backend,
            kek: SealKey::new(&key.derive(KEK_LABEL)),
            internal_id_key: key.derive(INTERNAL_ID_LABEL),
            blob_key: SealKey::new(&key.derive(BLOB_LABEL)),
        };
        vault.check_key(key).await?;
        Ok(vault)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Close the pool (flushes SQLite).
    pub async fn close(self) {
        self.pool.close().await;
    }

    /// The internal id of a person-at-provider: HMAC-SHA256 under a key derived from the store
    /// key over (provider, patient hash), 130 bits of it in Crockford base 32. Pure: no lookup.
    pub fn internal_id(&self, provider: &ProviderId, patient: &PatientHash) -> InternalId {
        InternalId::from_digest(&mac(
            &self.internal_id_key,
            &[provider.as_str().as_bytes(), patient.as_str().as_bytes()],
        ))
    }

    /// Store a subject's identity. Idempotent: content equal to any stored version (compared by
    /// a keyed digest, lists as sets) writes nothing; other content is appended as a new
    /// version, so a move or a marriage keeps the earlier identity for linkage. Refused with
    /// [`Error::Shredded`] for a shredded subject.
    pub async fn put_identity(
        &self,
        provider: &ProviderId,
        patient: &PatientHash,
        payload: &IdentityPayload,
    ) -> Result<(InternalId, PutOutcome)> {
        let mut tx = self.pool.begin().await.map_err(Error::backend)?;
        let (id, outcome) = self.put_in(&mut tx, provider, patient, payload).await?;
        if outcome == PutOutcome::Unchanged {
            // Nothing to keep: a rollback releases the subject's lock without a disk write.
            tx.rollback().await.map_err(Error::backend)?;
        } else {
            tx.commit().await.map_err(Error::backend)?;
        }
        Ok((id, outcome))
    }

    /// [`Vault::put_identity`] for many subjects in one transaction (one disk sync for a whole
    /// ingest batch). Results come in the order of `items`. A shredded subject is refused on its
    /// own ([`Error::Shredded`] in its slot) while the others are stored; any other failure
    /// stores nothing and is returned as the outer error. Subjects are locked in internal-id
    /// order, so concurrent batches cannot deadlock.
    pub async fn put_identities(
        &self,
        items: &[(ProviderId, PatientHash, IdentityPayload)],
    ) -> Result<Vec<Result<(InternalId, PutOutcome)>>> {
        let mut order: Vec<(InternalId, usize)> = items
            .iter()
            .enumerate()
            .map(|(i, (provider, patient, _))| (self.internal_id(provider, patient), i))
            .collect();
        order.sort();
        let mut results: Vec<Option<Result<(InternalId, PutOutcome)>>> =
            items.iter().map(|_| None).collect();
        let mut tx = self.pool.begin().await.map_err(Error::backend)?;
        for (_, i) in order {
            let (provider, patient, payload) = &items[i];
            let r = match self.put_in(&mut tx, provider, patient, payload).await {
                Err(Error::Shredded(id)) => Err(Error::Shredded(id)),
                Err(other) => return Err(other),
                Ok(done) => Ok(done),
            };
            results[i] = Some(r);
        }
        tx.commit().await.map_err(Error::backend)?;
        // Every slot was filled by the loop over a permutation of the indices.
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Corrupt("batch result missing".into()))))
            .collect())
    }

    /// The body of a put, inside `tx`. A shredded subject fails before anything is written.
    async fn put_in(
        &self,
        tx: &mut Transaction<'static, sqlx::Any>,
        provider: &ProviderId,
        patient: &PatientHash,
        payload: &IdentityPayload,
    ) -> Result<(InternalId, PutOutcome)> {
        let id = self.internal_id(provider, patient);
        let json = payload.to_canonical_json()?;
        let keys = self.lock_or_create(tx, provider, patient, &id).await?;
        let digest = hex::encode(mac(&keys.digest, &[&json]));
        let stored: Vec<(i64, String)> = sqlx::query_as(
            "SELECT version, content_digest FROM vault_identities WHERE internal_id = $1",
        )
        .bind(id.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(Error::backend)?;
        if stored.iter().any(|(_, d)| *d == digest) {
            return Ok((id, PutOutcome::Unchanged));
        }
        let latest = stored.iter().map(|(v, _)| *v).max().unwrap_or(0);
        let version = latest + 1;
        let sealed = keys.enc.seal(&identity_context(&id, version), &json)?;
        sqlx::query(
            "INSERT INTO vault_identities (internal_id, version, sealed, content_digest, recorded_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.as_str())
        .bind(version)
        .bind(sealed.to_hex())
        .bind(digest)
        .bind(fmt_instant(Utc::now()))
        .execute(&mut **tx)
        .await
        .map_err(Error::backend)?;
        let outcome = if latest == 0 {
            PutOutcome::New
        } else {
            PutOutcome::Updated
        };
        Ok((id, outcome))
    }

    /// Make sure a subject (and its data key) exists, without an identity: for data that arrives
    /// before, or without, the person's identifying record. Idempotent.
    pub async fn ensure_subject(
        &self,
        provider: &ProviderId,
        patient: &PatientHash,
    ) -> Result<InternalId> {
        let id = self.internal_id(provider, patient);
        let mut tx = self.pool.begin().await.map_err(Error::backend)?;
        self.lock_or_create(&mut tx, provider, patient, &id).await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(id)
    }

    /// [`Vault::ensure_subject`] for many subjects in one transaction (one disk sync on SQLite
    /// instead of one per subject). Subjects are locked in internal-id order, as
    /// [`Vault::put_identities`] does, so concurrent batches cannot deadlock.
    pub async fn ensure_subjects(
        &self,
        items: &[(ProviderId, PatientHash)],
    ) -> Result<Vec<InternalId>> {
        let mut order: Vec<(InternalId, usize)> = items
            .iter()
            .enumerate()
            .map(|(i, (provider, patient))| (self.internal_id(provider, patient), i))
            .collect();
        order.sort();
        let mut tx = self.pool.begin().await.map_err(Error::backend)?;
        for (id, i) in &order {
            let (provider, patient) = &items[*i];
            self.lock_or_create(&mut tx, provider, patient, id).await?;
        }
        tx.commit().await.map_err(Error::backend)?;
        Ok(items
            .iter()
            .map(|(provider, patient)| self.internal_id(provider, patient))
            .collect())
    }

    /// Every stored identity version of a subject, oldest first. `None` when the subject is not
    /// in the vault; an empty list when it is but no identity was stored;
    /// [`Error::Shredded`] when it was shredded.
    pub async fn identity(&self, id: &InternalId) -> Result<Option<Vec<IdentityVersion>>> {
        let Some(keys) = self.subject_keys(id).await? else {
            return Ok(None);
        };
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT version, sealed, recorded_at FROM vault_identities \
             WHERE internal_id = $1 ORDER BY version",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(Error::backend)?;
        let mut out = Vec::with_capacity(rows.len());
        for (version, sealed, recorded_at) in rows {
            let sealed = Sealed::from_hex(&sealed)
                .map_err(|_| Error::Corrupt(format!("identity version {version} of {id}")))?;
            let json = keys.enc.open(
                &identity_context(id, version),
                &sealed,
                "identity version",
                Some(id),
            )?;
            let payload: IdentityPayload = serde_json::from_slice(&json).map_err(|_| {
                Error::Corrupt(format!(
                    "identity version {version} of {id} is not a payload"
                ))
            })?;
            out.push(IdentityVersion {
                version: u32::try_from(version)
                    .map_err(|_| Error::Corrupt(format!("identity version number of {id}")))?,
                recorded_at: read_instant(&recorded_at)
                    .ok_or_else(|| Error::Corrupt(format!("recorded_at of {id}")))?,
                payload,
            });
        }
        Ok(Some(out))
    }

    /// Seal arbitrary bytes under a subject's data key (e.g. records held until the person may
    /// be provided): shredding the subject makes them unrecoverable too. The subject must exist
    /// ([`Vault::ensure_subject`] or [`Vault::put_identity`]).
    pub async fn seal_for(&self, id: &InternalId, bytes: &[u8]) -> Result<Sealed> {
        let keys = self
            .subject_keys(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.clone()))?;
        keys.enc
            .seal(&context(CTX_SUBJECT_DATA, &[id.as_str().as_bytes()]), bytes)
    }

    /// Open bytes sealed by [`Vault::seal_for`] for the same subject.
    pub async fn open_for(&self, id: &InternalId, sealed: &Sealed) -> Result<Vec<u8>> {
        let keys = self
            .subject_keys(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.clone()))?;
        keys.enc.open(
            &context(CTX_SUBJECT_DATA, &[id.as_str().as_bytes()]),
            sealed,
            "subject data",
            Some(id),
        )
    }

    /// Seal bytes that belong to no single subject (e.g. quarantined input, which holds personal
    /// data) under a store-level key. `purpose` (1–64 characters of `a-z 0-9 / . _ -`) is bound
    /// to the seal: it opens only with the same purpose. No database access.
    pub fn seal_blob(&self, purpose: &str, bytes: &[u8]) -> Result<Sealed> {
        check_purpose(purpose)?;
        self.blob_key
            .seal(&context(CTX_BLOB, &[purpose.as_bytes()]), bytes)
    }

    /// Open bytes sealed by [`Vault::seal_blob`] with the same purpose.
    pub fn open_blob(&self, purpose: &str, sealed: &Sealed) -> Result<Vec<u8>> {
        check_purpose(purpose)?;
        self.blob_key.open(
            &context(CTX_BLOB, &[purpose.as_bytes()]),
            sealed,
            "blob",
            None,
        )
    }

    /// Crypto-shred a subject: destroy its wrapped data key, so that its identity and everything
    /// sealed for it can never be opened again. Idempotent. An unknown subject gets a tombstone,
    /// so data arriving later cannot store it.
    pub async fn shred(
        &self,
        provider: &ProviderId,
        patient: &PatientHash,
    ) -> Result<(InternalId, ShredOutcome)> {
        let id = self.internal_id(provider, patient);
        let now = fmt_instant(Utc::now());
        let mut tx = self.pool.begin().await.map_err(Error::backend)?;
        let inserted = sqlx::query(
            "INSERT INTO vault_subjects (internal_id, provider_id, patient_hash, wrapped_dek, created_at, shredded_at) \
             VALUES ($1, $2, $3, NULL, $4, $4) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(provider.as_str())
        .bind(patient.as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(Error::backend)?
        .rows_affected();
        let outcome = if inserted == 1 {
            ShredOutcome::Tombstoned
        } else {
            let destroyed = sqlx::query(
                "UPDATE vault_subjects SET wrapped_dek = NULL, shredded_at = $2 \
                 WHERE internal_id = $1 AND shredded_at IS NULL",
            )
            .bind(id.as_str())
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(Error::backend)?
            .rows_affected();
            if destroyed == 1 {
                ShredOutcome::Destroyed
            } else {
                ShredOutcome::AlreadyShredded
            }
        };
        tx.commit().await.map_err(Error::backend)?;
        Ok((id, outcome))
    }

    /// Whether a person-at-provider was shredded (false when unknown).
    pub async fn is_shredded(&self, provider: &ProviderId, patient: &PatientHash) -> Result<bool> {
        let id = self.internal_id(provider, patient);
        let found: Option<Option<String>> =
            sqlx::query_scalar("SELECT shredded_at FROM vault_subjects WHERE internal_id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(Error::backend)?;
        Ok(matches!(found, Some(Some(_))))
    }

    /// Every subject, shredded ones flagged, ordered by internal id.
    pub async fn subjects(&self) -> Result<Vec<Subject>> {
        let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT internal_id, provider_id, patient_hash, shredded_at FROM vault_subjects \
             ORDER BY internal_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(Error::backend)?;
        rows.into_iter()
            .map(|(id, provider, hash, shredded_at)| {
                let internal_id = InternalId::parse(&id)
                    .map_err(|_| Error::Corrupt("vault_subjects.internal_id".into()))?;
                Ok(Subject {
                    provider: ProviderId::parse(&provider).map_err(|_| {
                        Error::Corrupt(format!("vault_subjects.provider_id of {internal_id}"))
                    })?,
                    patient_hash: PatientHash::parse(&hash).map_err(|_| {
                        Error::Corrupt(format!("vault_subjects.patient_hash of {internal_id}"))
                    })?,
                    shredded: shredded_at.is_some(),
                    internal_id,
                })
            })
            .collect()
    }

    /// Take the subject's row lock (creating the subject with a fresh data key if it does not
    /// exist) and return its keys. Inside `tx`, so concurrent writers queue on the row.
    async fn lock_or_create(
        &self,
        tx: &mut Transaction<'static, sqlx::Any>,
        provider: &ProviderId,
        patient: &PatientHash,
        id: &InternalId,
    ) -> Result<SubjectKeys> {
        if lock_subject(tx, id).await? == 0 {
            let dek = random_bytes::<32>()?;
            let wrapped = self.kek.seal(&dek_context(id), &dek)?;
            // Another writer may create it first; then theirs is the one kept.
            sqlx::query(
                "INSERT INTO vault_subjects (internal_id, provider_id, patient_hash, wrapped_dek, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(provider.as_str())
            .bind(patient.as_str())
            .bind(wrapped.to_hex())
            .bind(fmt_instant(Utc::now()))
            .execute(&mut **tx)
            .await
            .map_err(Error::backend)?;
            // Ours or the other writer's row: lock it before reading its versions, so that two
            // writers never both append the same version number.
            lock_subject(tx, id).await?;
        }
        let row: Option<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT provider_id, patient_hash, wrapped_dek FROM vault_subjects WHERE internal_id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(Error::backend)?;
        let Some((stored_provider, stored_hash, wrapped)) = row else {
            // The insert was skipped by the (provider, patient hash) constraint: that pair is
            // filed under another internal id, which only a different store key produces.
            return Err(Error::Corrupt(format!(
                "provider {provider}: a patient hash is filed under another internal id than {id}"
            )));
        };
        if stored_provider != provider.as_str() || stored_hash != patient.as_str() {
            return Err(Error::Corrupt(format!(
                "internal id {id} is filed for another person-at-provider"
            )));
        }
        self.unwrap_dek(id, wrapped)
    }

    /// The keys of an existing subject; `None` when it is not in the vault.
    async fn subject_keys(&self, id: &InternalId) -> Result<Option<SubjectKeys>> {
        let found: Option<Option<String>> =
            sqlx::query_scalar("SELECT wrapped_dek FROM vault_subjects WHERE internal_id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(Error::backend)?;
        match found {
            None => Ok(None),
            Some(wrapped) => self.unwrap_dek(id, wrapped).map(Some),
        }
    }

    fn unwrap_dek(&self, id: &InternalId, wrapped: Option<String>) -> Result<SubjectKeys> {
        let wrapped = wrapped.ok_or_else(|| Error::Shredded(id.clone()))?;
        let sealed = Sealed::from_hex(&wrapped)
            .map_err(|_| Error::Corrupt(format!("wrapped data key of {id}")))?;
        let dek = self
            .kek
            .open(&dek_context(id), &sealed, "data key", Some(id))?;
        if dek.len() != 32 {
            return Err(Error::Corrupt(format!(
                "data key of {id} has the wrong length"
            )));
        }
        Ok(SubjectKeys::from_dek(&dek))
    }

    async fn check_key(&self, key: &StoreKey) -> Result<()> {
        let check = hex::encode(key.derive(KEY_CHECK_LABEL));
        // Insert-if-absent, then compare: two first connections racing agree on one value.
        sqlx::query("INSERT INTO vault_meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(KEY_CHECK)
            .bind(&check)
            .execute(&self.pool)
            .await
            .map_err(Error::backend)?;
        let found: String = sqlx::query_scalar("SELECT value FROM vault_meta WHERE key = $1")
            .bind(KEY_CHECK)
            .fetch_one(&self.pool)
            .await
            .map_err(Error::backend)?;
        if found == check {
            Ok(())
        } else {
            Err(Error::WrongStoreKey)
        }
    }
}

/// Lock a subject's row for the rest of `tx` (a no-op UPDATE: a row lock on PostgreSQL, the
/// write lock on SQLite). Returns the number of rows locked (0 when the subject does not exist).
async fn lock_subject(tx: &mut Transaction<'static, sqlx::Any>, id: &InternalId) -> Result<u64> {
    Ok(
        sqlx::query("UPDATE vault_subjects SET internal_id = internal_id WHERE internal_id = $1")
            .bind(id.as_str())
            .execute(&mut **tx)
            .await
            .map_err(Error::backend)?
            .rows_affected(),
    )
}

/// Run the vault's migrations. The ledger's migrator shares `_sqlx_migrations`, so each side
/// must ignore versions it does not know.
async fn migrate(pool: &AnyPool) -> Result<()> {
    let mut migrator = sqlx::migrate::Migrator::new(Migrations)
        .await
        .map_err(Error::Migrate)?;
    migrator.set_ignore_missing(true);
    migrator.run(pool).await.map_err(Error::Migrate)
}

/// The vault's migrations, embedded in the binary. `sqlx::migrate!` would embed them as well,
/// but its macro crate compiles a second copy of sqlx's drivers (SQLite's C source included)
/// for the compiler: minutes of every clean build (design §8). A test checks this against the
/// `migrations/` directory, checksums included, so stores made by earlier builds stay valid.
#[derive(Debug)]
struct Migrations;

impl sqlx::migrate::MigrationSource<'static> for Migrations {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = std::result::Result<
                        Vec<sqlx::migrate::Migration>,
                        sqlx::error::BoxDynError,
                    >,
                > + Send,
        >,
    > {
        const SQL: &str = include_str!("../migrations/1001_vault.sql");
        Box::pin(std::future::ready(Ok(vec![sqlx::migrate::Migration::new(
            1001,
            "vault".into(),
            sqlx::migrate::MigrationType::Simple,
            sqlx::SqlStr::from_static(SQL),
            false,
        )])))
    }
}

fn dek_context(id: &InternalId) -> Vec<u8> {
    context(CTX_DEK, &[id.as_str().as_bytes()])
}

fn identity_context(id: &InternalId, version: i64) -> Vec<u8> {
    context(
        CTX_IDENTITY,
        &[id.as_str().as_bytes(), &version.to_be_bytes()],
    )
}

fn check_purpose(purpose: &str) -> Result<()> {
    let ok = (1..=64).contains(&purpose.len())
        && purpose
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Input {
            what: "blob purpose",
            why: "must be 1-64 characters of a-z, 0-9, '/', '.', '_', '-'",
        })
    }
}

/// The storage form of an instant: fixed-width RFC 3339 UTC, the ledger's form.
fn fmt_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn read_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod migration_tests {
    use sqlx::migrate::{Migration, Migrator};

    /// The embedded migration is the directory's, as sqlx resolves it (version, description,
    /// kind, checksum): a file added, renamed or edited without the list following fails here.
    #[tokio::test]
    async fn embedded_migrations_are_the_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let key = |m: &Migration| {
            (
                m.version,
                m.description.to_string(),
                m.migration_type,
                m.checksum.to_vec(),
                m.no_tx,
            )
        };
        let from_dir: Vec<_> = Migrator::new(dir).await.unwrap().iter().map(key).collect();
        let embedded: Vec<_> = Migrator::new(super::Migrations)
            .await
            .unwrap()
            .iter()
            .map(key)
            .collect();
        assert!(!from_dir.is_empty());
        assert_eq!(from_dir, embedded);
    }
}
