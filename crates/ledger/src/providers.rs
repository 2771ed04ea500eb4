//! Providers (医療情報取扱事業者) with their 届出 (filing with the minister) and contract.

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use sqlx::Row;
use tsunagu_model::{ProviderCode, ProviderId, ProviderKind};

use crate::audit::{Append, head, rows_digest};
use crate::time::{fmt_instant, parse_date, read_date};
use crate::{Actor, Error, Ledger, Result, random_bytes};

/// State of the contract between the producer and the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractState {
    /// Negotiated, not yet signed.
    Pending,
    /// In force.
    Active,
    /// Suspended (no new data accepted).
    Suspended,
    /// Ended.
    Terminated,
}

impl ContractState {
    /// Parse the stored/CLI name.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim() {
            "pending" => ContractState::Pending,
            "active" => ContractState::Active,
            "suspended" => ContractState::Suspended,
            "terminated" => ContractState::Terminated,
            _ => {
                return Err(Error::input(
                    "contract state",
                    "must be pending, active, suspended or terminated",
                ));
            }
        })
    }

    /// The stored/CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractState::Pending => "pending",
            ContractState::Active => "active",
            ContractState::Suspended => "suspended",
            ContractState::Terminated => "terminated",
        }
    }
}

/// A provider as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    /// Our id.
    pub id: ProviderId,
    /// Kind.
    pub kind: ProviderKind,
    /// Official code (医療機関コード, 保険者番号, …).
    pub code: ProviderCode,
    /// Name.
    pub name: String,
    /// Address (of the organisation, not personal data).
    pub address: String,
    /// Representative (代表者).
    pub representative: String,
    /// Date of the 届出, when filed.
    pub filing_date: Option<NaiveDate>,
    /// Reference of the 届出.
    pub filing_ref: Option<String>,
    /// Contract state.
    pub contract_state: ContractState,
    /// When registered (UTC).
    pub created_at: String,
    /// Last change (UTC).
    pub updated_at: String,
}

/// A provider to register.
#[derive(Debug, Clone)]
pub struct NewProvider {
    /// Kind.
    pub kind: ProviderKind,
    /// Official code as typed.
    pub code: String,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Representative.
    pub representative: String,
    /// 届出 date `YYYY-MM-DD`, if filed.
    pub filing_date: Option<String>,
    /// 届出 reference, if filed.
    pub filing_ref: Option<String>,
    /// Contract state (default active).
    pub contract_state: Option<ContractState>,
}

/// Changes to a provider; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProviderUpdate {
    /// New name.
    pub name: Option<String>,
    /// New address.
    pub address: Option<String>,
    /// New representative.
    pub representative: Option<String>,
    /// New 届出 date.
    pub filing_date: Option<String>,
    /// New 届出 reference.
    pub filing_ref: Option<String>,
    /// New contract state.
    pub contract_state: Option<ContractState>,
}

fn non_empty(what: &str, s: &str) -> Result<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Error::input(what, "must not be empty"));
    }
    if t.chars().count() > 200 {
        return Err(Error::input(what, "longer than 200 characters"));
    }
    if t.chars().any(char::is_control) {
        return Err(Error::input(what, "contains control characters"));
    }
    Ok(t.to_owned())
}

/// A 届出 is on record only with both its date and its reference.
fn check_filing(date: &Option<NaiveDate>, reference: &Option<String>) -> Result<()> {
    if date.is_some() != reference.is_some() {
        return Err(Error::input(
            "filing",
            "a 届出 needs both --filing-date and --filing-ref",
        ));
    }
    Ok(())
}

impl Ledger {
    /// Register a provider; returns its new id.
    pub async fn add_provider(&self, actor: &Actor, p: NewProvider) -> Result<ProviderId> {
        let mut tx = self.begin_write().await?;
        let id = self.insert_provider(&mut tx, &p).await?;
        let head = head(&mut tx).await?;
        self.finish_provider_write(&mut tx, &head, actor, "provider.add", &id)
            .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(id)
    }

    pub(crate) async fn insert_provider(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        p: &NewProvider,
    ) -> Result<ProviderId> {
        let code = ProviderCode::parse(p.kind, &p.code).map_err(|e| Error::model("code", e))?;
        let name = non_empty("name", &p.name)?;
        let address = non_empty("address", &p.address)?;
        let representative = non_empty("representative", &p.representative)?;
        let filing_date = p
            .filing_date
            .as_deref()
            .map(|d| parse_date("filing date", d))
            .transpose()?;
        let filing_ref = p
            .filing_ref
            .as_deref()
            .map(|r| non_empty("filing reference", r))
            .transpose()?;
        check_filing(&filing_date, &filing_ref)?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM providers WHERE kind = $1 AND code = $2")
                .bind(p.kind.as_str())
                .bind(code.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(Error::backend)?;
        if let Some(existing) = exists {
            return Err(Error::conflict(format!(
                "a {} with code {code} is already registered as {existing}",
                p.kind
            )));
        }
        let bits = u64::from_le_bytes(random_bytes::<8>()?);
        let id = ProviderId::from_random(bits);
        let seq = head(tx).await?.next();
        let now = fmt_instant(Utc::now());
        sqlx::query(
            "INSERT INTO providers (id, kind, code, name, address, representative, filing_date, filing_ref, contract_state, created_at, updated_at, audit_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id.as_str())
        .bind(p.kind.as_str())
        .bind(code.as_str())
        .bind(name)
        .bind(address)
        .bind(representative)
        .bind(filing_date.map(|d| d.to_string()))
        .bind(filing_ref)
        .bind(p.contract_state.unwrap_or(ContractState::Active).as_str())
        .bind(&now)
        .bind(&now)
        .bind(seq)
        .execute(&mut **tx)
        .await
        .map_err(Error::backend)?;
        Ok(id)
    }

    async fn finish_provider_write(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        head: &crate::audit::Head,
        actor: &Actor,
        action: &str,
        id: &ProviderId,
    ) -> Result<i64> {
        let rows = rows_digest(tx, "providers", head.next()).await?;
        self.append(
            tx,
            head,
            actor,
            Append {
                action,
                object_type: "provider",
                object_id: id.as_str(),
                details: serde_json::json!({ "rows": [rows] }),
            },
        )
        .await
    }

    /// Every provider, by kind and code.
    pub async fn list_providers(&self) -> Result<Vec<Provider>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLS} FROM providers ORDER BY kind, code"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(Error::backend)?;
        rows.iter().map(provider_from_row).collect()
    }

    /// One provider.
    pub async fn provider(&self, id: &ProviderId) -> Result<Provider> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLS} FROM providers WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::backend)?;
        match row {
            Some(r) => provider_from_row(&r),
            None => Err(Error::NotFound {
                what: "provider",
                id: id.to_string(),
            }),
        }
    }

    /// The provider with an official code (for imports that name providers by code).
    pub async fn provider_by_code(&self, code: &str) -> Result<Option<Provider>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLS} FROM providers WHERE code = $1"
        )))
        .bind(code.trim())
        .fetch_all(&self.pool)
        .await
        .map_err(Error::backend)?;
        match rows.len() {
            0 => Ok(None),
            1 => provider_from_row(&rows[0]).map(Some),
            _ => Err(Error::conflict(format!(
                "code {} is shared by providers of different kinds; name the provider by id",
                code.trim()
            ))),
        }
    }

    /// Change a provider's details.
    pub async fn update_provider(
        &self,
        actor: &Actor,
        id: &ProviderId,
        u: ProviderUpdate,
    ) -> Result<Provider> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLS} FROM providers WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::backend)?;
        let Some(row) = row else {
            return Err(Error::NotFound {
                what: "provider",
                id: id.to_string(),
            });
        };
        let cur = provider_from_row(&row)?;
        let name = u
            .name
            .as_deref()
            .map(|s| non_empty("name", s))
            .transpose()?
            .unwrap_or(cur.name);
        let address = u
            .address
            .as_deref()
            .map(|s| non_empty("address", s))
            .transpose()?
            .unwrap_or(cur.address);
        let representative = u
            .representative
            .as_deref()
            .map(|s| non_empty("representative", s))
            .transpose()?
            .unwrap_or(cur.representative);
        let filing_date = match u.filing_date.as_deref() {
            Some(d) => Some(parse_date("filing date", d)?),
            None => cur.filing_date,
        };
        let filing_ref = match u.filing_ref.as_deref() {
            Some(r) => Some(non_empty("filing reference", r)?),
            None => cur.filing_ref,
        };
        check_filing(&filing_date, &filing_ref)?;
        let state = u.contract_state.unwrap_or(cur.contract_state);
        let head = head(&mut tx).await?;
        sqlx::query(
            "UPDATE providers SET name = $1, address = $2, representative = $3, filing_date = $4, filing_ref = $5, \
             contract_state = $6, updated_at = $7, audit_seq = $8 WHERE id = $9",
        )
        .bind(name)
        .bind(address)
        .bind(representative)
        .bind(filing_date.map(|d| d.to_string()))
        .bind(filing_ref)
        .bind(state.as_str())
        .bind(fmt_instant(Utc::now()))
        .bind(head.next())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(Error::backend)?;
        self.finish_provider_write(&mut tx, &head, actor, "provider.update", id)
            .await?;
        tx.commit().await.map_err(Error::backend)?;
        self.provider(id).await
    }
}

const COLS: &str = "id, kind, code, name, address, representative, filing_date, filing_ref, contract_state, created_at, updated_at";

fn provider_from_row(r: &sqlx::any::AnyRow) -> Result<Provider> {
    let s = |c: &str| -> Result<String> { r.try_get::<String, _>(c).map_err(Error::backend) };
    let o = |c: &str| -> Result<Option<String>> {
        r.try_get::<Option<String>, _>(c).map_err(Error::backend)
    };
    let kind = ProviderKind::parse(&s("kind")?)
        .map_err(|e| Error::Verify(format!("stored provider kind: {e}")))?;
    Ok(Provider {
        id: ProviderId::parse(&s("id")?)
            .map_err(|e| Error::Verify(format!("stored provider id: {e}")))?,
        kind,
        code: ProviderCode::parse(kind, &s("code")?)
            .map_err(|e| Error::Verify(format!("stored provider code: {e}")))?,
        name: s("name")?,
        address: s("address")?,
        representative: s("representative")?,
        filing_date: o("filing_date")?
            .map(|d| read_date("filing date", &d))
            .transpose()?,
        filing_ref: o("filing_ref")?,
        contract_state: ContractState::parse(&s("contract_state")?)?,
        created_at: s("created_at")?,
        updated_at: s("updated_at")?,
    })
}
