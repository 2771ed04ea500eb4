//! The audit log: a SHA-256 hash chain of events, sealed at its head with an HMAC under a key
//! kept outside the database, and tied to the rows each event wrote.
//!
//! What `verify` catches, each naming the first bad event:
//! * an event edited (its hash no longer matches its content),
//! * an event deleted, inserted or reordered (sequence gap, or `prev_hash` broken),
//! * the chain truncated or rewritten wholesale (the head seal no longer verifies),
//! * a ledger row edited, inserted or deleted behind tsunagu's back (each event records a digest
//!   of the rows it wrote, and `verify` recomputes it).
//!
//! Events hold actor, role, action, our own object ids and counts, never personal data.

use serde::Serialize;
use sqlx::AssertSqlSafe;
use sqlx::{Any, Row, Transaction};

use crate::time::fmt_instant;
use crate::{Actor, Error, Ledger, Result, keyed_hex, sha256_hex};

/// The hash before the first event.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event of the chain, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When (UTC).
    pub at: String,
    /// Who.
    pub actor: String,
    /// In which role.
    pub role: String,
    /// What, e.g. `provider.add`.
    pub action: String,
    /// The kind of object.
    pub object_type: String,
    /// Our id of the object.
    pub object_id: String,
    /// JSON details: ids, counts, row digests.
    pub details: serde_json::Value,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// The outcome of [`Ledger::verify_audit`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Whether the chain and the rows verify.
    pub ok: bool,
    /// Number of events checked.
    pub events: i64,
    /// The head hash.
    pub head: String,
    /// The first problem found, naming the event.
    pub first_error: Option<String>,
    /// The sequence number of the first bad event, where one can be named.
    pub first_bad_seq: Option<i64>,
}

/// The head of the chain, read under the write lock.
pub(crate) struct Head {
    pub seq: i64,
    pub hash: String,
}

impl Head {
    /// The sequence number the next event gets.
    pub fn next(&self) -> i64 {
        self.seq + 1
    }
}

pub(crate) async fn head(tx: &mut Transaction<'static, Any>) -> Result<Head> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut **tx)
        .await
        .map_err(Error::backend)?;
    Ok(Head {
        seq: row.try_get("seq").map_err(Error::backend)?,
        hash: row.try_get("hash").map_err(Error::backend)?,
    })
}

/// The hash of an event: its predecessor's hash, its sequence number and its fields (at, actor,
/// role, action, object type, object id, details), each length-prefixed.
fn event_hash(prev: &str, seq: i64, fields: [&str; 7]) -> String {
    let seq = seq.to_string();
    let mut parts: Vec<&[u8]> = vec![prev.as_bytes(), seq.as_bytes()];
    parts.extend(fields.iter().map(|f| f.as_bytes()));
    sha256_hex(&parts)
}

fn seal(key: &[u8; 32], seq: i64, hash: &str) -> String {
    keyed_hex(key, &[seq.to_string().as_bytes(), hash.as_bytes()])
}

/// What one event appends.
pub(crate) struct Append<'a> {
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub details: serde_json::Value,
}

impl Ledger {
    /// Append an event at `head.next()` and move the sealed head. Call inside the transaction
    /// that made the change, after its rows are written.
    pub(crate) async fn append(
        &self,
        tx: &mut Transaction<'static, Any>,
        head: &Head,
        actor: &Actor,
        ev: Append<'_>,
    ) -> Result<i64> {
        let seq = head.next();
        let at = fmt_instant(chrono::Utc::now());
        let details = ev.details.to_string();
        let hash = event_hash(
            &head.hash,
            seq,
            [
                &at,
                &actor.name,
                &actor.role,
                ev.action,
                ev.object_type,
                ev.object_id,
                &details,
            ],
        );
        sqlx::query(
            "INSERT INTO audit_events (seq, at, actor, role, action, object_type, object_id, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(seq)
        .bind(&at)
        .bind(&actor.name)
        .bind(&actor.role)
        .bind(ev.action)
        .bind(ev.object_type)
        .bind(ev.object_id)
        .bind(&details)
        .bind(&head.hash)
        .bind(&hash)
        .execute(&mut **tx)
        .await
        .map_err(Error::backend)?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2, seal = $3 WHERE id = 1")
            .bind(seq)
            .bind(&hash)
            .bind(seal(&self.audit_key, seq, &hash))
            .execute(&mut **tx)
            .await
            .map_err(Error::backend)?;
        Ok(seq)
    }

    /// Append an event in a transaction of its own (for reads of personal data that must be
    /// audited, and for events with no rows).
    pub(crate) async fn append_alone(&self, actor: &Actor, ev: Append<'_>) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let head = head(&mut tx).await?;
        let seq = self.append(&mut tx, &head, actor, ev).await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(seq)
    }

    /// Record an event for work done outside the ledger (ingest, extract, release…) that must
    /// be in the chain. `details` must hold ids and counts only, never personal data.
    pub async fn record_event(
        &self,
        actor: &Actor,
        action: &str,
        object_type: &str,
        object_id: &str,
        details: serde_json::Value,
    ) -> Result<i64> {
        self.append_alone(
            actor,
            Append {
                action,
                object_type,
                object_id,
                details,
            },
        )
        .await
    }

    /// The events, in order, optionally from a sequence number on.
    pub async fn audit_events(&self, from_seq: i64, limit: i64) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, role, action, object_type, object_id, details, prev_hash, hash \
             FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(from_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::backend)?;
        rows.iter().map(event_from_row).collect()
    }

    /// Verify the whole chain and the rows it vouches for. A broken chain is a report with
    /// `ok = false`, not an error; errors are reserved for a database that cannot be read.
    pub async fn verify_audit(&self) -> Result<VerifyReport> {
        let head_row = sqlx::query("SELECT seq, hash, seal FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::backend)?;
        let Some(head_row) = head_row else {
            return Ok(fail_report(
                0,
                GENESIS,
                None,
                "the chain head row is missing",
            ));
        };
        let head_seq: i64 = head_row.try_get("seq").map_err(Error::backend)?;
        let head_hash: String = head_row.try_get("hash").map_err(Error::backend)?;
        let head_seal: String = head_row.try_get("seal").map_err(Error::backend)?;

        let rows = sqlx::query(
            "SELECT seq, at, actor, role, action, object_type, object_id, details, prev_hash, hash \
             FROM audit_events ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(Error::backend)?;
        let mut prev = GENESIS.to_owned();
        let mut expected = 1i64;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get("seq").map_err(Error::backend)?;
            let get =
                |c: &str| -> Result<String> { row.try_get::<String, _>(c).map_err(Error::backend) };
            let (at, actor, role, action, ot, oid, details, prev_hash, hash) = (
                get("at")?,
                get("actor")?,
                get("role")?,
                get("action")?,
                get("object_type")?,
                get("object_id")?,
                get("details")?,
                get("prev_hash")?,
                get("hash")?,
            );
            if seq != expected {
                let msg = if seq > expected {
                    format!(
                        "event {expected} is missing: deleted (the chain jumps from {} to {seq})",
                        expected - 1
                    )
                } else {
                    format!(
                        "event {seq} appears out of order after event {}",
                        expected - 1
                    )
                };
                return Ok(fail_report(expected - 1, &prev, Some(expected), &msg));
            }
            if prev_hash != prev {
                return Ok(fail_report(
                    seq - 1,
                    &prev,
                    Some(seq),
                    &format!(
                        "event {seq} does not follow event {}: an event was inserted, deleted or reordered before it",
                        seq - 1
                    ),
                ));
            }
            let h = event_hash(
                &prev,
                seq,
                [&at, &actor, &role, &action, &ot, &oid, &details],
            );
            if h != hash {
                return Ok(fail_report(
                    seq - 1,
                    &prev,
                    Some(seq),
                    &format!("event {seq} was altered: its content no longer matches its hash"),
                ));
            }
            events.push((seq, action, ot, oid, details));
            prev = hash;
            expected += 1;
        }
        let last = expected - 1;
        if last != head_seq || prev != head_hash {
            let msg = if last < head_seq {
                format!(
                    "events {} to {head_seq} were deleted from the end of the chain",
                    last + 1
                )
            } else {
                format!(
                    "event {} was added outside tsunagu (the sealed head is event {head_seq})",
                    head_seq + 1
                )
            };
            return Ok(fail_report(last, &prev, Some(last.min(head_seq) + 1), &msg));
        }
        if head_seal != seal(&self.audit_key, head_seq, &head_hash) {
            return Ok(fail_report(
                last,
                &prev,
                Some(head_seq),
                "the chain's seal does not verify: the chain was rewritten or its head was edited",
            ));
        }
        if let Some((seq, msg)) = self.verify_rows(&events).await? {
            return Ok(fail_report(last, &prev, Some(seq), &msg));
        }
        Ok(VerifyReport {
            ok: true,
            events: last,
            head: prev,
            first_error: None,
            first_bad_seq: None,
        })
    }
}

fn fail_report(events: i64, head: &str, seq: Option<i64>, msg: &str) -> VerifyReport {
    VerifyReport {
        ok: false,
        events,
        head: head.to_owned(),
        first_error: Some(msg.to_owned()),
        first_bad_seq: seq,
    }
}

fn event_from_row(row: &sqlx::any::AnyRow) -> Result<AuditEvent> {
    let get = |c: &str| -> Result<String> { row.try_get::<String, _>(c).map_err(Error::backend) };
    let details: String = get("details")?;
    Ok(AuditEvent {
        seq: row.try_get("seq").map_err(Error::backend)?,
        at: get("at")?,
        actor: get("actor")?,
        role: get("role")?,
        action: get("action")?,
        object_type: get("object_type")?,
        object_id: get("object_id")?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        prev_hash: get("prev_hash")?,
        hash: get("hash")?,
    })
}

/// The ledger tables whose rows the chain vouches for, with every column but `audit_seq`, and
/// whether a row may be rewritten by a later event (providers are updated; the rest are
/// append-only).
pub(crate) const AUDITED: &[(&str, &str, bool)] = &[
    ("settings", "id, value", true),
    (
        "providers",
        "id, kind, code, name, address, representative, filing_date, filing_ref, contract_state, created_at, updated_at",
        true,
    ),
    (
        "notices",
        "id, provider_id, patient_hash, notice_date, channel, recipient, recorded_at",
        false,
    ),
    (
        "stop_requests",
        "id, provider_id, patient_hash, requester, relationship, received_at, received_via, receipt_hash, recorded_at",
        false,
    ),
    (
        "reception_records",
        "id, provider_id, provider_name, provider_address, representative, filing_ref, acquisition, received_on, data_items, record_counts, recorded_at",
        false,
    ),
    (
        "provision_records",
        "id, recipient, provided_on, request_ref, approval_ref, data_items, record_counts, policy, package_digest, recorded_at",
        false,
    ),
    (
        "extracts",
        "id, cohort_sha256, as_of, counts, created_by, created_at",
        false,
    ),
    (
        "extract_members",
        "extract_id, subject_id, person_id",
        false,
    ),
    (
        "releases",
        "id, extract_id, policy, recipient, request_ref, package_digest, passed, summary, built_by, built_at",
        false,
    ),
    ("release_members", "release_id, person_id", false),
    (
        "release_approvals",
        "release_id, approved_by, approved_at, provision_id",
        false,
    ),
];

fn row_digest(row: &sqlx::any::AnyRow, ncols: usize) -> Result<(String, String)> {
    let mut parts: Vec<Option<String>> = Vec::with_capacity(ncols);
    for i in 0..ncols {
        parts.push(
            row.try_get::<Option<String>, _>(i)
                .map_err(Error::backend)?,
        );
    }
    let id = parts.first().cloned().flatten().unwrap_or_default();
    let bytes: Vec<Vec<u8>> = parts
        .iter()
        .map(|p| match p {
            // NULL and the empty string must differ.
            None => vec![0xff],
            Some(s) => {
                let mut v = vec![0x00];
                v.extend_from_slice(s.as_bytes());
                v
            }
        })
        .collect();
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    Ok((id, sha256_hex(&refs)))
}

fn combine(mut rows: Vec<(String, String)>) -> String {
    rows.sort();
    let flat: Vec<&[u8]> = rows
        .iter()
        .flat_map(|(id, d)| [id.as_bytes(), d.as_bytes()])
        .collect();
    sha256_hex(&flat)
}

/// Digest of the rows of `table` that event `seq` wrote (read back inside the writing
/// transaction, so that it is computed exactly as `verify` will recompute it).
pub(crate) async fn rows_digest(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    seq: i64,
) -> Result<serde_json::Value> {
    let Some((_, cols, _)) = AUDITED.iter().find(|(t, _, _)| *t == table) else {
        return Err(Error::conflict("internal: table is not audited"));
    };
    let ncols = cols.split(',').count();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {cols} FROM {table} WHERE audit_seq = $1"
    )))
    .bind(seq)
    .fetch_all(&mut **tx)
    .await
    .map_err(Error::backend)?;
    let digests = rows
        .iter()
        .map(|r| row_digest(r, ncols))
        .collect::<Result<Vec<_>>>()?;
    let count = digests.len();
    Ok(serde_json::json!({ "table": table, "count": count, "digest": combine(digests) }))
}

impl Ledger {
    /// Recompute every audited table's row digests and compare them with the events.
    async fn verify_rows(
        &self,
        events: &[(i64, String, String, String, String)],
    ) -> Result<Option<(i64, String)>> {
        use std::collections::{BTreeMap, HashSet};
        // Which (table, seq) groups the events vouch for, and which records were purged.
        let mut vouched: BTreeMap<(String, i64), (usize, String, String)> = BTreeMap::new();
        let mut purged: HashSet<(String, i64)> = HashSet::new();
        for (seq, action, _, object_id, details) in events {
            let Ok(d) = serde_json::from_str::<serde_json::Value>(details) else {
                continue;
            };
            if let Some(rows) = d.get("rows").and_then(|r| r.as_array()) {
                for r in rows {
                    if let (Some(t), Some(c), Some(dg)) = (
                        r.get("table").and_then(|v| v.as_str()),
                        r.get("count").and_then(|v| v.as_u64()),
                        r.get("digest").and_then(|v| v.as_str()),
                    ) {
                        vouched.insert(
                            (t.to_owned(), *seq),
                            (c as usize, dg.to_owned(), object_id.clone()),
                        );
                    }
                }
            }
            if action == "records.purge"
                && let Some(list) = d.get("purged").and_then(|p| p.as_array())
            {
                {
                    for p in list {
                        if let (Some(t), Some(s)) = (
                            p.get("table").and_then(|v| v.as_str()),
                            p.get("seq").and_then(|v| v.as_i64()),
                        ) {
                            purged.insert((t.to_owned(), s));
                        }
                    }
                }
            }
        }
        for (table, cols, mutable) in AUDITED {
            let ncols = cols.split(',').count();
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {cols}, audit_seq FROM {table}"
            )))
            .fetch_all(&self.pool)
            .await
            .map_err(Error::backend)?;
            let mut groups: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
            for r in &rows {
                let seq: i64 = r.try_get(ncols).map_err(Error::backend)?;
                groups.entry(seq).or_default().push(row_digest(r, ncols)?);
            }
            let present_ids: HashSet<String> = if *mutable {
                groups
                    .values()
                    .flatten()
                    .map(|(id, _)| id.clone())
                    .collect()
            } else {
                HashSet::new()
            };
            for (seq, digests) in &groups {
                let Some((count, digest, _)) = vouched.get(&((*table).to_owned(), *seq)) else {
                    return Ok(Some((
                        *seq,
                        format!(
                            "table {table} has rows that no audit event wrote (they claim event {seq}): inserted outside tsunagu"
                        ),
                    )));
                };
                if digests.len() != *count {
                    return Ok(Some((
                        *seq,
                        format!(
                            "table {table}: event {seq} wrote {count} rows, {} remain: rows were deleted or inserted outside tsunagu",
                            digests.len()
                        ),
                    )));
                }
                if combine(digests.clone()) != *digest {
                    return Ok(Some((
                        *seq,
                        format!(
                            "table {table}: rows written by event {seq} were altered outside tsunagu"
                        ),
                    )));
                }
            }
            // Groups vouched for but gone: legitimate only for records purged after their
            // retention period, or for a provider row that a later event rewrote.
            for ((t, seq), (count, _, object_id)) in
                vouched.range(((*table).to_owned(), i64::MIN)..)
            {
                if t != table {
                    break;
                }
                if *count == 0 || groups.contains_key(seq) {
                    continue;
                }
                let superseded = *mutable && present_ids.contains(object_id);
                if !superseded && !purged.contains(&(t.clone(), *seq)) {
                    return Ok(Some((
                        *seq,
                        format!(
                            "table {table}: the {count} rows written by event {seq} were deleted outside tsunagu"
                        ),
                    )));
                }
            }
        }
        Ok(None)
    }
}

impl Ledger {
    /// Record the store's creation as the chain's first event, once. Returns whether it did.
    pub async fn ensure_initialized(&self, actor: &Actor) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let h = head(&mut tx).await?;
        if h.seq > 0 {
            return Ok(false);
        }
        self.append(
            &mut tx,
            &h,
            actor,
            Append {
                action: "store.init",
                object_type: "store",
                object_id: "store",
                details: serde_json::json!({ "backend": format!("{:?}", self.backend) }),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(true)
    }
}
