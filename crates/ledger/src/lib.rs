//! The Act's ledger: providers and their 届出, notices (通知), stop requests (提供停止の求め),
//! reception records (受領記録), provision records (提供記録), and the hash-chained audit log.
//!
//! One schema, versioned migrations, the same behaviour on SQLite (the embedded default) and on
//! PostgreSQL, through sqlx's Any driver. Every public method that writes is one transaction that
//! also appends its audit event: either both land or neither does.
//!
//! The ledger never stores personal data: a provider's local patient id is kept only as a keyed
//! hash ([`Ledger::patient_hash`]); errors and audit events name ids of our own and counts only.

mod audit;
mod eligibility;
mod error;
mod import;
mod migrations;
mod notices;
mod providers;
mod receipt;
mod records;
mod releases;
mod settings;
mod stops;
mod template;
mod time;

pub use audit::{AuditEvent, VerifyReport};
pub use eligibility::{Decision, Facts, Filing, ProviderFacts, Reason, decide};
pub use error::{Error, ErrorKind, Result};
pub use import::{ImportSummary, NoticeRow};
pub use notices::{Channel, NewNotice, Notice, Recipient};
pub use providers::{ContractState, NewProvider, Provider, ProviderUpdate};
pub use receipt::Receipt;
pub use records::{
    NewProvision, NewReception, ProvisionRecord, ReceptionRecord, RecordKind, RecordsExport,
};
pub use releases::{Inclusion, NewExtract, NewRelease, ReleaseRow};
pub use settings::Settings;
pub use stops::{NewStop, Relationship, Requester, StopState, StopStatus, Via};
pub use template::{NoticeFormat, render_notice};
pub use time::{JST, parse_instant, start_of_day_jst};

use hmac::{KeyInit, Mac};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Transaction};
use tsunagu_model::{LocalPatientId, ProviderId, StoreKey};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The database behind the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// For deployments.
    Postgres,
}

/// Who acts: recorded in every audit event. A name and a role, never personal data of patients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Login or operator name.
    pub name: String,
    /// Role (operator, provider, reviewer, auditor, system …).
    pub role: String,
}

impl Actor {
    /// An operator acting through the CLI.
    pub fn operator(name: impl Into<String>) -> Self {
        Actor {
            name: name.into(),
            role: "operator".into(),
        }
    }
}

/// A connection to the ledger.
pub struct Ledger {
    pool: AnyPool,
    backend: Backend,
    patient_key: [u8; 32],
    audit_key: [u8; 32],
    receipt_key: [u8; 32],
}

const KEY_CHECK: &str = "store_key_check";

impl Ledger {
    /// Connect to `url` (`sqlite://…` or `postgres://…`), apply pending migrations, and check
    /// that `key` is the store key this ledger was created with.
    pub async fn connect(url: &str, key: &StoreKey) -> Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::input(
                "database URL",
                "must start with sqlite: or postgres:",
            ));
        };
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer; a single connection also keeps a CLI run's writes in order.
            .max_connections(if backend == Backend::Sqlite { 1 } else { 4 })
            .connect(url)
            .await
            .map_err(Error::backend)?;
        migrations::migrator()
            .await
            .map_err(Error::migrate)?
            .run(&pool)
            .await
            .map_err(Error::migrate)?;
        let ledger = Ledger {
            pool,
            backend,
            patient_key: key.derive("tsunagu/ledger/patient-id/v1"),
            audit_key: key.derive("tsunagu/ledger/audit-seal/v1"),
            receipt_key: key.derive("tsunagu/ledger/receipt/v1"),
        };
        ledger.check_key(key).await?;
        Ok(ledger)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Close the pool (flushes SQLite).
    pub async fn close(self) {
        self.pool.close().await;
    }

    /// The keyed hash under which a person-at-provider is stored. The provider id is part of the
    /// message so that the same local id at two providers gives unrelated hashes.
    pub fn patient_hash(&self, provider: &ProviderId, patient: &LocalPatientId) -> String {
        keyed_hex(
            &self.patient_key,
            &[provider.as_str().as_bytes(), patient.expose().as_bytes()],
        )
    }

    async fn check_key(&self, key: &StoreKey) -> Result<()> {
        let check = hex::encode(key.derive("tsunagu/ledger/key-check/v1"));
        let mut tx = self.begin_write().await?;
        let found: Option<String> =
            sqlx::query_scalar("SELECT value FROM store_settings WHERE key = $1")
                .bind(KEY_CHECK)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::backend)?;
        match found {
            Some(v) if v == check => Ok(()),
            Some(_) => Err(Error::conflict(
                "the store key does not match this ledger (wrong key file or TSUNAGU_STORE_KEY)",
            )),
            None => {
                sqlx::query("INSERT INTO store_settings (key, value) VALUES ($1, $2)")
                    .bind(KEY_CHECK)
                    .bind(check)
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::backend)?;
                tx.commit().await.map_err(Error::backend)
            }
        }
    }

    /// Begin a transaction that will write, taking the audit head's lock first so that
    /// concurrent writers append to the chain one after another (a row lock on PostgreSQL, the
    /// database write lock on SQLite).
    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Any>> {
        let mut tx = self.pool.begin().await.map_err(Error::backend)?;
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(Error::backend)?;
        Ok(tx)
    }
}

/// HMAC-SHA256 over length-prefixed parts, as lowercase hex.
fn keyed_hex(key: &[u8; 32], parts: &[&[u8]]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(&(p.len() as u64).to_be_bytes());
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// SHA-256 over length-prefixed parts, as lowercase hex.
fn sha256_hex(parts: &[&[u8]]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Random bytes from the operating system.
fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|_| Error::conflict("the operating system's random generator failed"))?;
    Ok(b)
}

/// A new random id with a prefix, e.g. `ntc-…`, 80 bits in Crockford base 32.
fn new_id(prefix: &str) -> Result<String> {
    let b = random_bytes::<10>()?;
    let mut s = String::with_capacity(prefix.len() + 17);
    s.push_str(prefix);
    s.push('-');
    let mut acc: u128 = 0;
    for x in b {
        acc = (acc << 8) | u128::from(x);
    }
    for i in (0..16).rev() {
        s.push(tsunagu_model::ids::CROCKFORD[((acc >> (i * 5)) & 0x1f) as usize] as char);
    }
    Ok(s)
}
