//! The store's rules: the waiting period after a notice, how long records are kept, and the
//! producer's contact points printed on notices. Every change is an audited event.

use serde::Serialize;
use sqlx::Row;

use crate::audit::{Append, head, rows_digest};
use crate::{Actor, Error, Ledger, Result};

/// The store's settings, with the Act's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Days after a notice before data may be provided (default 30).
    pub notice_wait_days: u32,
    /// Years records are kept before they may be deleted; `None` keeps them forever (default 3).
    pub record_retention_years: Option<u32>,
    /// The producer's name, printed on notices.
    pub producer_name: String,
    /// Where a person can make a stop request online.
    pub producer_portal: String,
    /// The producer's desk (postal address or telephone).
    pub producer_desk: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            notice_wait_days: 30,
            record_retention_years: Some(3),
            producer_name: "（認定作成事業者名を設定してください）".into(),
            producer_portal: "https://tsunagu.example.jp/stop".into(),
            producer_desk: "（窓口を設定してください）".into(),
        }
    }
}

/// The names accepted by [`Ledger::set_setting`].
pub const KEYS: [&str; 5] = [
    "notice_wait_days",
    "record_retention_years",
    "producer_name",
    "producer_portal",
    "producer_desk",
];

fn validate(key: &str, value: &str) -> Result<String> {
    let v = value.trim();
    match key {
        "notice_wait_days" => {
            let n: u32 = v
                .parse()
                .map_err(|_| Error::input(key, "must be a whole number of days"))?;
            if n > 3650 {
                return Err(Error::input(key, "must be at most 3650 days"));
            }
            Ok(n.to_string())
        }
        "record_retention_years" => {
            if v == "forever" {
                return Ok(v.to_owned());
            }
            let n: u32 = v
                .parse()
                .map_err(|_| Error::input(key, "must be a whole number of years or 'forever'"))?;
            if n < 3 {
                return Err(Error::input(
                    key,
                    "the Act's guideline asks for at least 3 years",
                ));
            }
            Ok(n.to_string())
        }
        "producer_name" | "producer_portal" | "producer_desk" => {
            if v.is_empty() || v.chars().count() > 300 || v.chars().any(char::is_control) {
                return Err(Error::input(key, "must be 1 to 300 printable characters"));
            }
            Ok(v.to_owned())
        }
        _ => Err(Error::input(
            "setting",
            format!("unknown; known settings are {}", KEYS.join(", ")),
        )),
    }
}

impl Ledger {
    /// The current settings (defaults for anything never set).
    pub async fn settings(&self) -> Result<Settings> {
        let rows = sqlx::query("SELECT id, value FROM settings")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::backend)?;
        let mut s = Settings::default();
        for r in rows {
            let k: String = r.try_get("id").map_err(Error::backend)?;
            let v: String = r.try_get("value").map_err(Error::backend)?;
            match k.as_str() {
                "notice_wait_days" => {
                    s.notice_wait_days = v.parse().map_err(|_| {
                        Error::Verify("stored notice_wait_days is not a number".into())
                    })?;
                }
                "record_retention_years" => {
                    s.record_retention_years = if v == "forever" {
                        None
                    } else {
                        Some(v.parse().map_err(|_| {
                            Error::Verify("stored record_retention_years is not a number".into())
                        })?)
                    };
                }
                "producer_name" => s.producer_name = v,
                "producer_portal" => s.producer_portal = v,
                "producer_desk" => s.producer_desk = v,
                _ => {}
            }
        }
        Ok(s)
    }

    /// Change one setting (audited).
    pub async fn set_setting(&self, actor: &Actor, key: &str, value: &str) -> Result<Settings> {
        let value = validate(key, value)?;
        let mut tx = self.begin_write().await?;
        let head = head(&mut tx).await?;
        sqlx::query("DELETE FROM settings WHERE id = $1")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(Error::backend)?;
        sqlx::query("INSERT INTO settings (id, value, audit_seq) VALUES ($1, $2, $3)")
            .bind(key)
            .bind(&value)
            .bind(head.next())
            .execute(&mut *tx)
            .await
            .map_err(Error::backend)?;
        let rows = rows_digest(&mut tx, "settings", head.next()).await?;
        self.append(
            &mut tx,
            &head,
            actor,
            Append {
                action: "settings.set",
                object_type: "setting",
                object_id: key,
                details: serde_json::json!({ "value": value, "rows": [rows] }),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        self.settings().await
    }
}
