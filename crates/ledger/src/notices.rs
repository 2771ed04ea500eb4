//! Notices (通知): that a person's data will be provided to the certified producer, and how to
//! ask that it stop. One per person at a provider; the person is named only by the keyed hash
//! of the provider's local patient id.

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use tsunagu_model::{LocalPatientId, ProviderId};

use crate::audit::{Append, head, rows_digest};
use crate::time::{fmt_instant, parse_date};
use crate::{Actor, Error, Ledger, Result, new_id};

/// How the notice reached the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A letter (書面).
    Letter,
    /// Handed over and explained in person (対面).
    InPerson,
    /// A poster at the provider together with its web page (掲示・ホームページ).
    PosterPortal,
}

impl Channel {
    /// Parse the CLI/CSV name.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim() {
            "letter" => Channel::Letter,
            "in_person" => Channel::InPerson,
            "poster_portal" => Channel::PosterPortal,
            _ => {
                return Err(Error::input(
                    "channel",
                    "must be letter, in_person or poster_portal",
                ));
            }
        })
    }

    /// The CLI/CSV name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Letter => "letter",
            Channel::InPerson => "in_person",
            Channel::PosterPortal => "poster_portal",
        }
    }
}

/// Who received the notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    /// The person (本人).
    Person,
    /// A guardian (親権者・法定代理人), for a minor or a person without capacity.
    Guardian,
}

impl Recipient {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Recipient::Person => "person",
            Recipient::Guardian => "guardian",
        }
    }
}

/// A notice to record.
#[derive(Debug, Clone)]
pub struct NewNotice {
    /// The provider.
    pub provider: ProviderId,
    /// The provider's local patient id (hashed before it reaches the database).
    pub patient: LocalPatientId,
    /// Date of the notice.
    pub date: NaiveDate,
    /// Channel.
    pub channel: Channel,
    /// Who received it.
    pub recipient: Recipient,
}

/// A recorded notice (without the person: only our id).
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// Our id.
    pub id: String,
    /// The provider.
    pub provider_id: String,
    /// Date.
    pub date: NaiveDate,
    /// Channel.
    pub channel: Channel,
    /// Recipient.
    pub recipient: Recipient,
}

impl NewNotice {
    /// Build from CLI-style strings.
    pub fn parse(
        provider: ProviderId,
        patient: &str,
        date: &str,
        channel: &str,
        recipient: Recipient,
    ) -> Result<Self> {
        Ok(NewNotice {
            provider,
            patient: LocalPatientId::parse(patient).map_err(|e| Error::model("patient", e))?,
            date: parse_date("date", date)?,
            channel: Channel::parse(channel)?,
            recipient,
        })
    }
}

impl Ledger {
    /// Record one notice.
    pub async fn add_notice(&self, actor: &Actor, n: NewNotice) -> Result<String> {
        let mut tx = self.begin_write().await?;
        let head = head(&mut tx).await?;
        self.require_provider(&mut tx, &n.provider).await?;
        let id = self.insert_notice(&mut tx, head.next(), &n, None).await?;
        let rows = rows_digest(&mut tx, "notices", head.next()).await?;
        self.append(
            &mut tx,
            &head,
            actor,
            Append {
                action: "notice.add",
                object_type: "notice",
                object_id: &id,
                details: serde_json::json!({ "provider": n.provider.as_str(), "rows": [rows] }),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(id)
    }

    /// Insert a notice row; `row` names the CSV row for error messages.
    pub(crate) async fn insert_notice(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        seq: i64,
        n: &NewNotice,
        row: Option<&str>,
    ) -> Result<String> {
        let hash = self.patient_hash(&n.provider, &n.patient);
        let dup: Option<String> = sqlx::query_scalar(
            "SELECT id FROM notices WHERE provider_id = $1 AND patient_hash = $2",
        )
        .bind(n.provider.as_str())
        .bind(&hash)
        .fetch_optional(&mut **tx)
        .await
        .map_err(Error::backend)?;
        if let Some(existing) = dup {
            return Err(Error::conflict(format!(
                "{}a notice for this patient at provider {} is already recorded ({existing})",
                row.map(|r| format!("{r}: ")).unwrap_or_default(),
                n.provider
            )));
        }
        let id = new_id("ntc")?;
        sqlx::query(
            "INSERT INTO notices (id, provider_id, patient_hash, notice_date, channel, recipient, recorded_at, audit_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(n.provider.as_str())
        .bind(hash)
        .bind(n.date.to_string())
        .bind(n.channel.as_str())
        .bind(n.recipient.as_str())
        .bind(fmt_instant(Utc::now()))
        .bind(seq)
        .execute(&mut **tx)
        .await
        .map_err(Error::backend)?;
        Ok(id)
    }

    pub(crate) async fn require_provider(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: &ProviderId,
    ) -> Result<()> {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM providers WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(Error::backend)?;
        match found {
            Some(_) => Ok(()),
            None => Err(Error::NotFound {
                what: "provider",
                id: id.to_string(),
            }),
        }
    }
}
