//! Stop requests (提供停止の求め) by the person, a bereaved family member (遺族) or a guardian.
//! A request takes effect on receipt. The requester gets a receipt number; asking about a
//! receipt answers that request's state only, in the same shape and time for an unknown or
//! mistyped number, so that nobody learns whether the producer holds data about anyone.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use tsunagu_model::{LocalPatientId, ProviderId};

use crate::audit::{Append, head, rows_digest};
use crate::receipt::Receipt;
use crate::time::{fmt_instant, read_instant};
use crate::{Actor, Error, Ledger, Result, keyed_hex, new_id};

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requester {
    /// 本人.
    Person,
    /// 遺族, for a deceased person.
    Bereaved,
    /// A guardian of a minor under 16 or of a person without capacity.
    Guardian,
}

impl Requester {
    /// Parse the CLI/CSV name.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim() {
            "person" => Requester::Person,
            "bereaved" => Requester::Bereaved,
            "guardian" => Requester::Guardian,
            _ => {
                return Err(Error::input(
                    "requester",
                    "must be person, bereaved or guardian",
                ));
            }
        })
    }

    /// The CLI/CSV name.
    pub fn as_str(self) -> &'static str {
        match self {
            Requester::Person => "person",
            Requester::Bereaved => "bereaved",
            Requester::Guardian => "guardian",
        }
    }
}

/// A bereaved requester's relationship to the deceased, as the Act's guideline lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    /// 配偶者 (de facto included).
    Spouse,
    /// 子.
    Child,
    /// 父母.
    Parent,
    /// 孫.
    Grandchild,
    /// 祖父母.
    Grandparent,
    /// 兄弟姉妹.
    Sibling,
}

impl Relationship {
    /// Parse the CLI/CSV name.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim() {
            "spouse" => Relationship::Spouse,
            "child" => Relationship::Child,
            "parent" => Relationship::Parent,
            "grandchild" => Relationship::Grandchild,
            "grandparent" => Relationship::Grandparent,
            "sibling" => Relationship::Sibling,
            _ => {
                return Err(Error::input(
                    "relationship",
                    "must be spouse, child, parent, grandchild, grandparent or sibling",
                ));
            }
        })
    }

    /// The CLI/CSV name.
    pub fn as_str(self) -> &'static str {
        match self {
            Relationship::Spouse => "spouse",
            Relationship::Child => "child",
            Relationship::Parent => "parent",
            Relationship::Grandchild => "grandchild",
            Relationship::Grandparent => "grandparent",
            Relationship::Sibling => "sibling",
        }
    }
}

/// Where the request was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// At the provider's desk, forwarded to the producer.
    Provider,
    /// At the producer (portal, post, telephone).
    Producer,
}

impl Via {
    /// Parse the CLI name.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "provider" => Ok(Via::Provider),
            "producer" => Ok(Via::Producer),
            _ => Err(Error::input("received via", "must be provider or producer")),
        }
    }

    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Provider => "provider",
            Via::Producer => "producer",
        }
    }
}

/// A stop request to record.
#[derive(Debug, Clone)]
pub struct NewStop {
    /// The provider holding the person's data.
    pub provider: ProviderId,
    /// The provider's local patient id.
    pub patient: LocalPatientId,
    /// Who asks.
    pub requester: Requester,
    /// For a bereaved requester, the relationship (required then, refused otherwise).
    pub relationship: Option<Relationship>,
    /// When it was received (effective from then).
    pub received_at: DateTime<Utc>,
    /// Where it was received.
    pub via: Via,
}

/// The state a receipt answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopState {
    /// In effect since it was received.
    InEffect,
    /// No request has this number (or it was mistyped).
    Unknown,
}

/// The answer to a status query: same fields whatever the receipt.
#[derive(Debug, Clone, Serialize)]
pub struct StopStatus {
    /// The receipt as asked (canonical form when well-formed).
    pub receipt: String,
    /// State.
    pub state: StopState,
    /// When it took effect (empty when unknown).
    pub effective_since: String,
    /// What a person reads, Japanese first.
    pub message: String,
}

/// Status answers take at least this long, known or not, so timing tells nothing.
const STATUS_FLOOR: Duration = Duration::from_millis(300);

/// Received-at times this far in the future are accepted as clock skew; later ones refused.
const SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

impl Ledger {
    fn receipt_hash(&self, r: &Receipt) -> String {
        keyed_hex(&self.receipt_key, &[r.as_str().as_bytes()])
    }

    /// Record a stop request; returns the receipt number to hand to the requester. Accepted
    /// whether or not the person is known, so that recording reveals nothing.
    pub async fn add_stop(&self, actor: &Actor, s: NewStop) -> Result<Receipt> {
        let mut tx = self.begin_write().await?;
        let head = head(&mut tx).await?;
        self.require_provider(&mut tx, &s.provider).await?;
        let receipt = self.insert_stop(&mut tx, head.next(), &s, None).await?;
        let rows = rows_digest(&mut tx, "stop_requests", head.next()).await?;
        self.append(
            &mut tx,
            &head,
            actor,
            Append {
                action: "stop.add",
                object_type: "stop_request",
                object_id: s.provider.as_str(),
                details: serde_json::json!({
                    "provider": s.provider.as_str(),
                    "requester": s.requester.as_str(),
                    "via": s.via.as_str(),
                    "rows": [rows],
                }),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(receipt)
    }

    pub(crate) async fn insert_stop(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        seq: i64,
        s: &NewStop,
        row: Option<&str>,
    ) -> Result<Receipt> {
        let at = |f: &str| {
            row.map(|r| format!("{r}, field {f}"))
                .unwrap_or_else(|| f.to_owned())
        };
        match (s.requester, s.relationship) {
            (Requester::Bereaved, None) => {
                return Err(Error::input(
                    at("relationship"),
                    "a bereaved requester needs a relationship (spouse, child, parent, grandchild, grandparent, sibling)",
                ));
            }
            (Requester::Person | Requester::Guardian, Some(_)) => {
                return Err(Error::input(
                    at("relationship"),
                    "only a bereaved requester has a relationship",
                ));
            }
            _ => {}
        }
        if s.received_at > Utc::now() + SKEW {
            return Err(Error::input(at("received_at"), "lies in the future"));
        }
        let receipt = Receipt::generate()?;
        sqlx::query(
            "INSERT INTO stop_requests (id, provider_id, patient_hash, requester, relationship, received_at, received_via, receipt_hash, recorded_at, audit_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(new_id("stp")?)
        .bind(s.provider.as_str())
        .bind(self.patient_hash(&s.provider, &s.patient))
        .bind(s.requester.as_str())
        .bind(s.relationship.map(|r| r.as_str().to_owned()))
        .bind(fmt_instant(s.received_at))
        .bind(s.via.as_str())
        .bind(self.receipt_hash(&receipt))
        .bind(fmt_instant(Utc::now()))
        .bind(seq)
        .execute(&mut **tx)
        .await
        .map_err(Error::backend)?;
        Ok(receipt)
    }

    /// The state of the request with this receipt. Same shape and (at least) the same time for
    /// a known, an unknown and a mistyped receipt: the same query runs in every case.
    pub async fn stop_status(&self, receipt: &str) -> Result<StopStatus> {
        let started = Instant::now();
        let parsed = Receipt::parse(receipt);
        // A mistyped receipt is looked up too (under a hash that matches nothing), so the
        // database does the same work either way.
        let hash = match &parsed {
            Some(r) => self.receipt_hash(r),
            None => keyed_hex(&self.receipt_key, &[b"\x00malformed"]),
        };
        let row = sqlx::query("SELECT received_at FROM stop_requests WHERE receipt_hash = $1")
            .bind(&hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::backend)?;
        let shown = parsed
            .as_ref()
            .map(|r| r.as_str().to_owned())
            .unwrap_or_else(|| receipt.trim().chars().take(24).collect());
        let status = match row {
            Some(r) => {
                let at: String = r.try_get("received_at").map_err(Error::backend)?;
                let at = read_instant("received_at", &at)?;
                let jst = at.with_timezone(&crate::JST).format("%Y-%m-%d %H:%M");
                StopStatus {
                    receipt: shown,
                    state: StopState::InEffect,
                    effective_since: fmt_instant(at),
                    message: format!(
                        "提供停止の求めは {jst}（日本時間）から有効です。以後、提供は行われません。 / \
                         The stop request is in effect since {jst} JST; nothing is provided from then on."
                    ),
                }
            }
            None => StopStatus {
                receipt: shown,
                state: StopState::Unknown,
                effective_since: String::new(),
                message: "この受付番号の求めは見つかりません。番号をお確かめください。 / \
                          No request has this receipt number; please check the number."
                    .to_owned(),
            },
        };
        let elapsed = started.elapsed();
        if elapsed < STATUS_FLOOR {
            tokio::time::sleep(STATUS_FLOOR - elapsed).await;
        }
        Ok(status)
    }
}
