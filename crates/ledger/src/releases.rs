//! Extracts, releases and their approval: who was in what, and who let it out.
//!
//! The Act asks a producer to answer, for any person, whether their data went out and when —
//! a complaint or an inspection needs it, and a stop request must visibly hold. So each extract
//! records its members (person-at-provider internal ids, with the linked person id), each
//! release the linked persons it includes, and the approval of a release (by someone other
//! than its builder) writes the provision record (提供記録) in the same transaction. Nothing of
//! this goes into a package; it is the producer's own record.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::audit::{Append, head, rows_digest};
use crate::records::{NewProvision, insert_provision, text};
use crate::time::{fmt_instant, read_instant};
use crate::{Actor, Error, Ledger, Result, new_id};

/// Rows per multi-row insert: 3 parameters a row stays far below every backend's limit.
const CHUNK: usize = 500;

/// An extract to record.
#[derive(Debug, Clone)]
pub struct NewExtract {
    /// Its id (chosen by the operator; a plain name).
    pub id: String,
    /// SHA-256 of the cohort file.
    pub cohort_sha256: String,
    /// The extract's reference date.
    pub as_of: NaiveDate,
    /// Counts: persons, rows per table, persons excluded by stop requests.
    pub counts: serde_json::Value,
    /// Members: (person-at-provider internal id, linked person id).
    pub members: Vec<(String, String)>,
}

/// A release to record, as built (not yet approved).
#[derive(Debug, Clone)]
pub struct NewRelease {
    /// Its id (from [`Ledger::new_release_id`]).
    pub id: String,
    /// The extract it was built from.
    pub extract_id: String,
    /// The policy's name.
    pub policy: String,
    /// Who will receive it.
    pub recipient: String,
    /// The researcher's request (and its review) it answers.
    pub request_ref: String,
    /// SHA-256 of the package's manifest.
    pub package_digest: String,
    /// Whether every one of the five measures passed.
    pub passed: bool,
    /// Verdicts and counts, as the report states them (no personal data).
    pub summary: serde_json::Value,
    /// The extract's linked persons the release includes.
    pub members: Vec<String>,
}

/// A recorded release.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseRow {
    /// Id.
    pub id: String,
    /// Extract.
    pub extract_id: String,
    /// Policy name.
    pub policy: String,
    /// Recipient.
    pub recipient: String,
    /// Request.
    pub request_ref: String,
    /// Package digest.
    pub package_digest: String,
    /// Whether the measures passed.
    pub passed: bool,
    /// Verdicts and counts.
    pub summary: serde_json::Value,
    /// Builder.
    pub built_by: String,
    /// When built.
    pub built_at: DateTime<Utc>,
    /// The approval, if any: (approver, when, provision record id).
    pub approval: Option<(String, DateTime<Utc>, String)>,
}

/// One extract or release that included a person, for `audit person`.
#[derive(Debug, Clone, Serialize)]
pub struct Inclusion {
    /// The extract.
    pub extract_id: String,
    /// When it was built.
    pub extract_at: DateTime<Utc>,
    /// Who built it.
    pub extract_by: String,
    /// A release of that extract that included the person, if any.
    pub release_id: Option<String>,
    /// When that release was built.
    pub release_at: Option<DateTime<Utc>>,
    /// When it was approved and provided (the provision record), if it was.
    pub provided_at: Option<DateTime<Utc>>,
    /// The provision record's id.
    pub provision_id: Option<String>,
}

fn sha256_hex_ok(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Ledger {
    /// A fresh release id.
    pub fn new_release_id(&self) -> Result<String> {
        new_id("rel")
    }

    /// Record an extract and its members in one transaction.
    pub async fn add_extract(&self, actor: &Actor, e: NewExtract) -> Result<()> {
        let id = text("extract id", &e.id)?;
        if !sha256_hex_ok(&e.cohort_sha256) {
            return Err(Error::input("cohort digest", "must be a SHA-256 in hex"));
        }
        let mut tx = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM extracts WHERE id = $1")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::backend)?;
        if exists.is_some() {
            return Err(Error::conflict(format!("extract {id} already exists")));
        }
        let head = head(&mut tx).await?;
        let seq = head.next();
        sqlx::query(
            "INSERT INTO extracts (id, cohort_sha256, as_of, counts, created_by, created_at, audit_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&e.cohort_sha256)
        .bind(e.as_of.to_string())
        .bind(e.counts.to_string())
        .bind(&actor.name)
        .bind(fmt_instant(Utc::now()))
        .bind(seq)
        .execute(&mut *tx)
        .await
        .map_err(Error::backend)?;
        for chunk in e.members.chunks(CHUNK) {
            let mut sql = String::from(
                "INSERT INTO extract_members (extract_id, subject_id, person_id, audit_seq) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let b = i * 3;
                sql.push_str(&format!("($1, ${}, ${}, ${})", b + 2, b + 3, b + 4));
            }
            // Parameter numbers shift by the shared first one.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&id);
            for (subject, person) in chunk {
                q = q.bind(subject).bind(person).bind(seq);
            }
            q.execute(&mut *tx).await.map_err(Error::backend)?;
        }
        let rows_e = rows_digest(&mut tx, "extracts", seq).await?;
        let rows_m = rows_digest(&mut tx, "extract_members", seq).await?;
        self.append(
            &mut tx,
            &head,
            actor,
            Append {
                action: "extract.create",
                object_type: "extract",
                object_id: &id,
                details: serde_json::json!({ "rows": [rows_e, rows_m], "counts": e.counts }),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(())
    }

    /// Whether an extract is recorded.
    pub async fn extract_exists(&self, id: &str) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM extracts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::backend)?;
        Ok(found.is_some())
    }

    /// The members of an extract: (person-at-provider internal id, linked person id).
    pub async fn extract_members(&self, id: &str) -> Result<Vec<(String, String)>> {
        if !self.extract_exists(id).await? {
            return Err(Error::NotFound {
                what: "extract",
                id: id.to_owned(),
            });
        }
        let rows = sqlx::query(
            "SELECT subject_id, person_id FROM extract_members WHERE extract_id = $1 ORDER BY subject_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::backend)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0).map_err(Error::backend)?,
                    r.try_get::<String, _>(1).map_err(Error::backend)?,
                ))
            })
            .collect()
    }

    /// Record a built release and the persons it includes, in one transaction.
    pub async fn add_release(&self, actor: &Actor, r: NewRelease) -> Result<()> {
        if !sha256_hex_ok(&r.package_digest) {
            return Err(Error::input("package digest", "must be a SHA-256 in hex"));
        }
        let mut tx = self.begin_write().await?;
        let extract: Option<String> = sqlx::query_scalar("SELECT id FROM extracts WHERE id = $1")
            .bind(&r.extract_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::backend)?;
        if extract.is_none() {
            return Err(Error::NotFound {
                what: "extract",
                id: r.extract_id.clone(),
            });
        }
        let head = head(&mut tx).await?;
        let seq = head.next();
        sqlx::query(
            "INSERT INTO releases (id, extract_id, policy, recipient, request_ref, package_digest, passed, summary, built_by, built_at, audit_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&r.id)
        .bind(&r.extract_id)
        .bind(text("policy", &r.policy)?)
        .bind(text("recipient", &r.recipient)?)
        .bind(text("request", &r.request_ref)?)
        .bind(&r.package_digest)
        .bind(if r.passed { "yes" } else { "no" })
        .bind(r.summary.to_string())
        .bind(&actor.name)
        .bind(fmt_instant(Utc::now()))
        .bind(seq)
        .execute(&mut *tx)
        .await
        .map_err(Error::backend)?;
        for chunk in r.members.chunks(CHUNK) {
            let mut sql = String::from(
                "INSERT INTO release_members (release_id, person_id, audit_seq) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("($1, ${}, $2)", i + 3));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&r.id).bind(seq);
            for p in chunk {
                q = q.bind(p);
            }
            q.execute(&mut *tx).await.map_err(Error::backend)?;
        }
        let rows_r = rows_digest(&mut tx, "releases", seq).await?;
        let rows_m = rows_digest(&mut tx, "release_members", seq).await?;
        self.append(
            &mut tx,
            &head,
            actor,
            Append {
                action: "release.build",
                object_type: "release",
                object_id: &r.id,
                details: serde_json::json!({
                    "rows": [rows_r, rows_m],
                    "extract": r.extract_id,
                    "passed": r.passed,
                }),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(())
    }

    /// A recorded release.
    pub async fn release(&self, id: &str) -> Result<ReleaseRow> {
        let row = sqlx::query(
            "SELECT r.id, r.extract_id, r.policy, r.recipient, r.request_ref, r.package_digest, r.passed, r.summary, r.built_by, r.built_at, \
                    a.approved_by, a.approved_at, a.provision_id \
             FROM releases r LEFT JOIN release_approvals a ON a.release_id = r.id WHERE r.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::backend)?
        .ok_or_else(|| Error::NotFound {
            what: "release",
            id: id.to_owned(),
        })?;
        let get =
            |i: usize| -> Result<String> { row.try_get::<String, _>(i).map_err(Error::backend) };
        let opt = |i: usize| -> Result<Option<String>> {
            row.try_get::<Option<String>, _>(i).map_err(Error::backend)
        };
        let approval = match (opt(10)?, opt(11)?, opt(12)?) {
            (Some(by), Some(at), Some(pv)) => Some((by, read_instant("approved_at", &at)?, pv)),
            _ => None,
        };
        Ok(ReleaseRow {
            id: get(0)?,
            extract_id: get(1)?,
            policy: get(2)?,
            recipient: get(3)?,
            request_ref: get(4)?,
            package_digest: get(5)?,
            passed: get(6)? == "yes",
            summary: serde_json::from_str(&get(7)?)
                .map_err(|_| Error::conflict("internal: a release summary is not JSON"))?,
            built_by: get(8)?,
            built_at: read_instant("built_at", &get(9)?)?,
            approval,
        })
    }

    /// Approve a built release: refused to its builder, to a release whose measures did not
    /// all pass, to one whose package no longer matches (`package_digest` is the digest the
    /// caller just recomputed from the files) and to one already approved. Writes the
    /// approval and the provision record (提供記録) in one transaction; returns the record's id.
    pub async fn approve_release(
        &self,
        actor: &Actor,
        id: &str,
        package_digest: &str,
        provided_on: NaiveDate,
        record_counts: BTreeMap<String, u64>,
        data_items: Vec<String>,
    ) -> Result<String> {
        let r = self.release(id).await?;
        if r.built_by == actor.name {
            return Err(Error::conflict(format!(
                "release {id} was built by {}; another person must approve it",
                actor.name
            )));
        }
        if !r.passed {
            return Err(Error::conflict(format!(
                "release {id} failed at least one of the five measures; it cannot be approved"
            )));
        }
        if r.package_digest != package_digest {
            return Err(Error::Verify(format!(
                "release {id}: the package on disk no longer matches the digest recorded when it was built"
            )));
        }
        if r.approval.is_some() {
            return Err(Error::conflict(format!("release {id} is already approved")));
        }
        let mut tx = self.begin_write().await?;
        let head = head(&mut tx).await?;
        let seq = head.next();
        let provision = insert_provision(
            &mut tx,
            seq,
            &NewProvision {
                recipient: r.recipient.clone(),
                provided_on,
                request_ref: r.request_ref.clone(),
                approval_ref: format!("{id} approved by {}", actor.name),
                data_items,
                record_counts,
                policy: r.policy.clone(),
                package_digest: r.package_digest.clone(),
            },
        )
        .await?;
        sqlx::query(
            "INSERT INTO release_approvals (release_id, approved_by, approved_at, provision_id, audit_seq) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(&actor.name)
        .bind(fmt_instant(Utc::now()))
        .bind(&provision)
        .bind(seq)
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            // The primary key makes a concurrent second approval fail here.
            sqlx::Error::Database(_) => Error::conflict(format!("release {id} is already approved")),
            e => Error::backend(e),
        })?;
        let rows_p = rows_digest(&mut tx, "provision_records", seq).await?;
        let rows_a = rows_digest(&mut tx, "release_approvals", seq).await?;
        self.append(
            &mut tx,
            &head,
            actor,
            Append {
                action: "release.approve",
                object_type: "release",
                object_id: id,
                details: serde_json::json!({ "rows": [rows_p, rows_a], "provision": provision }),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(provision)
    }

    /// Every extract (and release of it) that included any of `subjects` (person-at-provider
    /// internal ids), oldest first. The lookup itself is audited by the caller.
    pub async fn inclusions(&self, subjects: &[String]) -> Result<Vec<Inclusion>> {
        let mut out = Vec::new();
        for s in subjects {
            let rows = sqlx::query(
                "SELECT e.id, e.created_at, e.created_by, r.id, r.built_at, a.approved_at, a.provision_id \
                 FROM extract_members m \
                 JOIN extracts e ON e.id = m.extract_id \
                 LEFT JOIN releases r ON r.extract_id = e.id \
                   AND EXISTS (SELECT 1 FROM release_members rm WHERE rm.release_id = r.id AND rm.person_id = m.person_id) \
                 LEFT JOIN release_approvals a ON a.release_id = r.id \
                 WHERE m.subject_id = $1",
            )
            .bind(s)
            .fetch_all(&self.pool)
            .await
            .map_err(Error::backend)?;
            for row in rows {
                let opt = |i: usize| -> Result<Option<String>> {
                    row.try_get::<Option<String>, _>(i).map_err(Error::backend)
                };
                let inst = |v: Option<String>| -> Result<Option<DateTime<Utc>>> {
                    v.map(|t| read_instant("time", &t)).transpose()
                };
                out.push(Inclusion {
                    extract_id: row.try_get(0).map_err(Error::backend)?,
                    extract_at: read_instant(
                        "created_at",
                        &row.try_get::<String, _>(1).map_err(Error::backend)?,
                    )?,
                    extract_by: row.try_get(2).map_err(Error::backend)?,
                    release_id: opt(3)?,
                    release_at: inst(opt(4)?)?,
                    provided_at: inst(opt(5)?)?,
                    provision_id: opt(6)?,
                });
            }
        }
        out.sort_by(|a, b| {
            (a.extract_at, &a.extract_id, a.release_at).cmp(&(
                b.extract_at,
                &b.extract_id,
                b.release_at,
            ))
        });
        out.dedup_by(|a, b| a.extract_id == b.extract_id && a.release_id == b.release_id);
        Ok(out)
    }
}
