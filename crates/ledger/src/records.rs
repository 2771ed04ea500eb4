//! Reception records (受領記録) and provision records (提供記録): append-only, never editable,
//! kept at least the store's retention period, exportable for inspection.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Utc};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use sqlx::Row;
use tsunagu_model::ProviderId;

use crate::audit::{Append, head, rows_digest};
use crate::time::{fmt_instant, read_date};
use crate::{Actor, Error, Ledger, Result, new_id};

/// Which records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// 受領記録.
    Reception,
    /// 提供記録.
    Provision,
}

impl RecordKind {
    /// Parse the CLI name.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "reception" => Ok(RecordKind::Reception),
            "provision" => Ok(RecordKind::Provision),
            _ => Err(Error::input("kind", "must be reception or provision")),
        }
    }

    fn table(self) -> &'static str {
        match self {
            RecordKind::Reception => "reception_records",
            RecordKind::Provision => "provision_records",
        }
    }

    fn date_column(self) -> &'static str {
        match self {
            RecordKind::Reception => "received_on",
            RecordKind::Provision => "provided_on",
        }
    }
}

/// A reception to record: what arrived from a provider.
#[derive(Debug, Clone)]
pub struct NewReception {
    /// From whom.
    pub provider: ProviderId,
    /// How the provider acquired the data (e.g. "診療の過程で取得").
    pub acquisition: String,
    /// Date received.
    pub received_on: NaiveDate,
    /// Data items (e.g. "patients", "conditions", "observations").
    pub data_items: Vec<String>,
    /// Record counts per item.
    pub record_counts: BTreeMap<String, u64>,
}

/// A provision to record: what was provided to whom.
#[derive(Debug, Clone)]
pub struct NewProvision {
    /// Recipient (利活用者).
    pub recipient: String,
    /// Date provided.
    pub provided_on: NaiveDate,
    /// The request it answers.
    pub request_ref: String,
    /// The approval (review committee decision) behind it.
    pub approval_ref: String,
    /// Data items.
    pub data_items: Vec<String>,
    /// Record counts per item.
    pub record_counts: BTreeMap<String, u64>,
    /// Processing policy (e.g. `anonymized-jp`).
    pub policy: String,
    /// SHA-256 of the package.
    pub package_digest: String,
}

/// A stored reception record.
#[derive(Debug, Clone, Serialize)]
pub struct ReceptionRecord {
    /// Our id.
    pub id: String,
    /// Provider id.
    pub provider_id: String,
    /// Provider name at the time.
    pub provider_name: String,
    /// Provider address at the time.
    pub provider_address: String,
    /// Representative at the time.
    pub representative: String,
    /// 届出 reference at the time.
    pub filing_ref: String,
    /// How the provider acquired the data.
    pub acquisition: String,
    /// Date received.
    pub received_on: NaiveDate,
    /// Data items.
    pub data_items: Vec<String>,
    /// Record counts.
    pub record_counts: BTreeMap<String, u64>,
    /// When recorded (UTC).
    pub recorded_at: String,
}

/// A stored provision record.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisionRecord {
    /// Our id.
    pub id: String,
    /// Recipient.
    pub recipient: String,
    /// Date provided.
    pub provided_on: NaiveDate,
    /// Request.
    pub request_ref: String,
    /// Approval.
    pub approval_ref: String,
    /// Data items.
    pub data_items: Vec<String>,
    /// Record counts.
    pub record_counts: BTreeMap<String, u64>,
    /// Policy.
    pub policy: String,
    /// Package digest.
    pub package_digest: String,
    /// When recorded (UTC).
    pub recorded_at: String,
}

/// Records of one kind.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RecordsExport {
    /// Reception records.
    Reception(Vec<ReceptionRecord>),
    /// Provision records.
    Provision(Vec<ProvisionRecord>),
}

pub(crate) fn text(what: &str, s: &str) -> Result<String> {
    let t = s.trim();
    if t.is_empty() || t.chars().any(char::is_control) {
        return Err(Error::input(what, "must be non-empty printable text"));
    }
    Ok(t.to_owned())
}

fn items(v: &[String]) -> Result<String> {
    if v.is_empty() {
        return Err(Error::input("data items", "name at least one"));
    }
    let cleaned = v
        .iter()
        .map(|i| text("data item", i))
        .collect::<Result<Vec<_>>>()?;
    serde_json::to_string(&cleaned).map_err(|_| Error::input("data items", "not representable"))
}

fn counts(c: &BTreeMap<String, u64>) -> Result<String> {
    serde_json::to_string(c).map_err(|_| Error::input("record counts", "not representable"))
}

impl Ledger {
    /// Append a reception record. The provider's name, address, representative and 届出
    /// reference are copied as they stand now, as the record must show them.
    pub async fn add_reception(&self, actor: &Actor, r: NewReception) -> Result<String> {
        self.add_reception_inner(actor, r, None).await
    }

    async fn add_reception_inner(
        &self,
        actor: &Actor,
        r: NewReception,
        units: Option<(&[String], serde_json::Value)>,
    ) -> Result<String> {
        let p = self.provider(&r.provider).await?;
        let Some(filing_ref) = p.filing_ref else {
            return Err(Error::conflict(format!(
                "provider {} has no 届出 on record: data from it cannot be received",
                p.id
            )));
        };
        let mut tx = self.begin_write().await?;
        let head = head(&mut tx).await?;
        let id = new_id("rcv")?;
        sqlx::query(
            "INSERT INTO reception_records (id, provider_id, provider_name, provider_address, representative, filing_ref, acquisition, received_on, data_items, record_counts, recorded_at, audit_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&id)
        .bind(p.id.as_str())
        .bind(&p.name)
        .bind(&p.address)
        .bind(&p.representative)
        .bind(filing_ref)
        .bind(text("acquisition", &r.acquisition)?)
        .bind(r.received_on.to_string())
        .bind(items(&r.data_items)?)
        .bind(counts(&r.record_counts)?)
        .bind(fmt_instant(Utc::now()))
        .bind(head.next())
        .execute(&mut *tx)
        .await
        .map_err(Error::backend)?;
        let rows = rows_digest(&mut tx, "reception_records", head.next()).await?;
        let mut details = serde_json::json!({ "provider": p.id.as_str(), "rows": [rows] });
        if let Some((digests, extra)) = units {
            let now = fmt_instant(Utc::now());
            // Already taken in? One query for all, then multi-row inserts: an intake run of an
            // SS-MIX2 tree has tens of thousands of files.
            let done = {
                let mut found = false;
                for chunk in digests.chunks(500) {
                    let marks: Vec<String> =
                        (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                    let sql = format!(
                        "SELECT COUNT(*) FROM ingest_units WHERE provider_id = $1 AND digest IN ({})",
                        marks.join(", ")
                    );
                    let mut q =
                        sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(p.id.as_str());
                    for d in chunk {
                        q = q.bind(d.as_str());
                    }
                    found |= q.fetch_one(&mut *tx).await.map_err(Error::backend)? > 0;
                }
                found
            };
            if done {
                return Err(Error::conflict(
                    "an input of this run was already taken in from this provider",
                ));
            }
            for chunk in digests.chunks(200) {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| format!("($1, ${}, $2, $3)", i + 4))
                    .collect();
                let sql = format!(
                    "INSERT INTO ingest_units (provider_id, digest, reception_id, done_at) VALUES {}",
                    rows.join(", ")
                );
                let mut q = sqlx::query(AssertSqlSafe(sql))
                    .bind(p.id.as_str())
                    .bind(&id)
                    .bind(&now);
                for d in chunk {
                    q = q.bind(d.as_str());
                }
                q.execute(&mut *tx).await.map_err(Error::backend)?;
            }
            details["units"] = serde_json::json!(digests.len());
            details["intake"] = extra;
        }
        self.append(
            &mut tx,
            &head,
            actor,
            Append {
                action: "records.reception.add",
                object_type: "reception_record",
                object_id: &id,
                details,
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(id)
    }

    /// Append a provision record.
    pub async fn add_provision(&self, actor: &Actor, r: NewProvision) -> Result<String> {
        let mut tx = self.begin_write().await?;
        let head = head(&mut tx).await?;
        let id = insert_provision(&mut tx, head.next(), &r).await?;
        let rows = rows_digest(&mut tx, "provision_records", head.next()).await?;
        self.append(
            &mut tx,
            &head,
            actor,
            Append {
                action: "records.provision.add",
                object_type: "provision_record",
                object_id: &id,
                details: serde_json::json!({ "rows": [rows] }),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(id)
    }

    /// Records of a kind whose reception/provision date lies in `[from, to]`.
    pub async fn export_records(
        &self,
        kind: RecordKind,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<RecordsExport> {
        let sql = format!(
            "SELECT * FROM {} WHERE {col} >= $1 AND {col} <= $2 ORDER BY {col}, recorded_at, id",
            kind.table(),
            col = kind.date_column()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(
                from.map(|d| d.to_string())
                    .unwrap_or_else(|| "0000-01-01".into()),
            )
            .bind(
                to.map(|d| d.to_string())
                    .unwrap_or_else(|| "9999-12-31".into()),
            )
            .fetch_all(&self.pool)
            .await
            .map_err(Error::backend)?;
        let s = |r: &sqlx::any::AnyRow, c: &str| -> Result<String> {
            r.try_get::<String, _>(c).map_err(Error::backend)
        };
        let json_items = |v: String| -> Result<Vec<String>> {
            serde_json::from_str(&v)
                .map_err(|_| Error::Verify("stored data items are not JSON".into()))
        };
        let json_counts = |v: String| -> Result<BTreeMap<String, u64>> {
            serde_json::from_str(&v)
                .map_err(|_| Error::Verify("stored record counts are not JSON".into()))
        };
        Ok(match kind {
            RecordKind::Reception => RecordsExport::Reception(
                rows.iter()
                    .map(|r| {
                        Ok(ReceptionRecord {
                            id: s(r, "id")?,
                            provider_id: s(r, "provider_id")?,
                            provider_name: s(r, "provider_name")?,
                            provider_address: s(r, "provider_address")?,
                            representative: s(r, "representative")?,
                            filing_ref: s(r, "filing_ref")?,
                            acquisition: s(r, "acquisition")?,
                            received_on: read_date("received_on", &s(r, "received_on")?)?,
                            data_items: json_items(s(r, "data_items")?)?,
                            record_counts: json_counts(s(r, "record_counts")?)?,
                            recorded_at: s(r, "recorded_at")?,
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
            RecordKind::Provision => RecordsExport::Provision(
                rows.iter()
                    .map(|r| {
                        Ok(ProvisionRecord {
                            id: s(r, "id")?,
                            recipient: s(r, "recipient")?,
                            provided_on: read_date("provided_on", &s(r, "provided_on")?)?,
                            request_ref: s(r, "request_ref")?,
                            approval_ref: s(r, "approval_ref")?,
                            data_items: json_items(s(r, "data_items")?)?,
                            record_counts: json_counts(s(r, "record_counts")?)?,
                            policy: s(r, "policy")?,
                            package_digest: s(r, "package_digest")?,
                            recorded_at: s(r, "recorded_at")?,
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
        })
    }

    /// Delete records recorded before `before`, which must lie at least the retention period
    /// in the past; otherwise nothing is deleted. Returns how many were deleted.
    pub async fn purge_records(
        &self,
        actor: &Actor,
        kind: RecordKind,
        before: NaiveDate,
    ) -> Result<u64> {
        let settings = self.settings().await?;
        let Some(years) = settings.record_retention_years else {
            return Err(Error::conflict(
                "records are kept forever in this store: deletion refused",
            ));
        };
        let today = Utc::now().with_timezone(&crate::JST).date_naive();
        let limit = today
            .with_year(today.year() - years as i32)
            .or_else(|| {
                today
                    .pred_opt()
                    .and_then(|d| d.with_year(d.year() - years as i32))
            })
            .ok_or_else(|| Error::conflict("retention limit out of range"))?;
        if before > limit {
            return Err(Error::conflict(format!(
                "records are kept {years} years: only records from before {limit} may be deleted"
            )));
        }
        let cutoff = crate::time::fmt_instant(crate::start_of_day_jst(before));
        let mut tx = self.begin_write().await?;
        let head = head(&mut tx).await?;
        let victims = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, audit_seq FROM {} WHERE recorded_at < $1",
            kind.table()
        )))
        .bind(&cutoff)
        .fetch_all(&mut *tx)
        .await
        .map_err(Error::backend)?;
        let mut purged = Vec::with_capacity(victims.len());
        for v in &victims {
            let id: String = v.try_get("id").map_err(Error::backend)?;
            let seq: i64 = v.try_get("audit_seq").map_err(Error::backend)?;
            purged.push(serde_json::json!({ "table": kind.table(), "id": id, "seq": seq }));
        }
        let n = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {} WHERE recorded_at < $1",
            kind.table()
        )))
        .bind(&cutoff)
        .execute(&mut *tx)
        .await
        .map_err(Error::backend)?
        .rows_affected();
        self.append(
            &mut tx,
            &head,
            actor,
            Append {
                action: "records.purge",
                object_type: kind.table(),
                object_id: &before.to_string(),
                details: serde_json::json!({ "before": before.to_string(), "purged": purged }),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(n)
    }
}

impl Ledger {
    /// Every unit of intake (SHA-256 of its content) already taken in from a provider: one query
    /// for a whole run instead of one per file.
    pub async fn units_done(
        &self,
        provider: &ProviderId,
    ) -> Result<std::collections::HashSet<String>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT digest FROM ingest_units WHERE provider_id = $1")
                .bind(provider.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(Error::backend)?;
        Ok(rows.into_iter().collect())
    }

    /// Whether a unit of intake (by SHA-256 of its content) was already taken in from a provider.
    pub async fn unit_done(&self, provider: &ProviderId, digest: &str) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT reception_id FROM ingest_units WHERE provider_id = $1 AND digest = $2",
        )
        .bind(provider.as_str())
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::backend)?;
        Ok(found.is_some())
    }

    /// Record units of intake as done, with their reception record, in one transaction: after a
    /// crash either both exist (re-ingesting skips the units) or neither (re-ingesting redoes
    /// them, and every write before this point is idempotent).
    pub async fn complete_units(
        &self,
        actor: &Actor,
        digests: &[String],
        r: NewReception,
        details: serde_json::Value,
    ) -> Result<String> {
        if digests.is_empty()
            || digests
                .iter()
                .any(|d| d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(Error::input(
                "unit digests",
                "must be SHA-256 digests in hex",
            ));
        }
        self.add_reception_inner(actor, r, Some((digests, details)))
            .await
    }
}

/// Insert a provision record inside the caller's transaction, stamped with the event `seq` that
/// will vouch for it.
pub(crate) async fn insert_provision(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    seq: i64,
    r: &NewProvision,
) -> Result<String> {
    let digest = r.package_digest.trim().to_ascii_lowercase();
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::input(
            "package digest",
            "must be a SHA-256 in hex (64 digits)",
        ));
    }
    let id = new_id("pvr")?;
    sqlx::query(
        "INSERT INTO provision_records (id, recipient, provided_on, request_ref, approval_ref, data_items, record_counts, policy, package_digest, recorded_at, audit_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(text("recipient", &r.recipient)?)
    .bind(r.provided_on.to_string())
    .bind(text("request", &r.request_ref)?)
    .bind(text("approval", &r.approval_ref)?)
    .bind(items(&r.data_items)?)
    .bind(counts(&r.record_counts)?)
    .bind(text("policy", &r.policy)?)
    .bind(digest)
    .bind(fmt_instant(Utc::now()))
    .bind(seq)
    .execute(&mut **tx)
    .await
    .map_err(Error::backend)?;
    Ok(id)
}
