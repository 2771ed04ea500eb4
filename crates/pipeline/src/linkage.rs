//! Linkage over the vault (名寄せ): every person-at-provider in the vault is linked into persons.
//!
//! The vault side opens each identity, normalises it and turns it into keyed tokens under a
//! linkage key derived from the store key; from there on the linker sees tokens only
//! ([`tsunagu_link`]). The result maps each internal id to a person (cluster) id that is the
//! smallest internal id of its cluster — stable as long as the cluster keeps that member.

use std::collections::BTreeMap;

use serde::Serialize;
use tsunagu_link::engine::{self, LinkOptions};
use tsunagu_link::record::{Encoder, RawRecord, TokenTable};
use tsunagu_link::schema::{Role, Schema};
use tsunagu_link::token::LinkageKey;
use tsunagu_model::StoreKey;
use tsunagu_vault::{IdentityPayload, InternalId, NameKind, Vault};

use crate::{Error, Result};

/// The outcome of linking the vault.
#[derive(Debug, Clone, Serialize)]
pub struct VaultLinkage {
    /// Persons-at-provider linked (shredded subjects and subjects without identity are left out).
    pub subjects: usize,
    /// Persons found.
    pub persons: usize,
    /// Candidate pairs compared.
    pub candidates: usize,
    /// Pairs linked.
    pub links: usize,
    /// Internal id → person id.
    #[serde(skip)]
    pub person_of: BTreeMap<InternalId, String>,
}

fn raw_record(p: &IdentityPayload) -> RawRecord {
    let mut r = RawRecord::default();
    let name = |k: NameKind| p.names.iter().find(|n| n.kind == k);
    if let Some(n) = name(NameKind::Kanji).or_else(|| name(NameKind::Unspecified)) {
        r.set(Role::FamilyName, n.family.clone().unwrap_or_default());
        r.set(Role::GivenName, n.given.clone().unwrap_or_default());
    }
    if let Some(n) = name(NameKind::Kana) {
        r.set(Role::FamilyNameKana, n.family.clone().unwrap_or_default());
        r.set(Role::GivenNameKana, n.given.clone().unwrap_or_default());
    }
    if let Some(d) = p.birth_date {
        r.set(Role::BirthDate, d.to_string());
    }
    if let Some(s) = p.sex {
        r.set(Role::Sex, s.as_str());
    }
    if let Some(a) = p.addresses.first() {
        r.set(Role::PostalCode, a.postal_code.clone().unwrap_or_default());
        r.set(Role::Address, a.text.clone().unwrap_or_default());
    }
    if let Some(ph) = p.phones.first() {
        r.set(Role::Phone, ph.clone());
    }
    if let Some(c) = p.insurance.first() {
        r.set(
            Role::InsurerNumber,
            c.insurer_number.clone().unwrap_or_default(),
        );
        r.set(Role::InsuredSymbol, c.symbol.clone().unwrap_or_default());
        r.set(Role::InsuredNumber, c.number.clone().unwrap_or_default());
        r.set(Role::InsuredBranch, c.branch.clone().unwrap_or_default());
    }
    r
}

/// Link every identity in the vault into persons.
pub async fn link_vault(vault: &Vault, key: &StoreKey, opts: &LinkOptions) -> Result<VaultLinkage> {
    let mut ids = Vec::new();
    let mut raws = Vec::new();
    for s in vault.subjects().await? {
        if s.shredded {
            continue;
        }
        // The latest version: who the person is now, as this provider holds them.
        if let Some(versions) = vault.identity(&s.internal_id).await?
            && let Some(v) = versions.last()
        {
            raws.push(raw_record(&v.payload));
            ids.push(s.internal_id);
        }
    }
    let (identities, _invalid) = tsunagu_link::source::normalise_all(&raws);
    drop(raws);
    let schema = Schema::from_roles(|r| {
        matches!(
            r,
            Role::FamilyName
                | Role::GivenName
                | Role::FamilyNameKana
                | Role::GivenNameKana
                | Role::BirthDate
                | Role::Sex
                | Role::PostalCode
                | Role::Address
                | Role::Phone
                | Role::InsurerNumber
                | Role::InsuredSymbol
                | Role::InsuredNumber
                | Role::InsuredBranch
        )
    });
    let enc = Encoder::new(
        &LinkageKey::from_bytes(key.derive("tsunagu/link/linkage-key/v1")),
        schema,
    );
    let table = TokenTable::encode(&enc, &identities);
    drop(identities);
    let (out, labels) =
        engine::dedupe(&table, opts).map_err(|e| Error::input("linkage", e.to_string()))?;
    let mut first: BTreeMap<u32, &InternalId> = BTreeMap::new();
    for (id, l) in ids.iter().zip(&labels) {
        let e = first.entry(*l).or_insert(id);
        if id < *e {
            *e = id;
        }
    }
    let person_of: BTreeMap<InternalId, String> = ids
        .iter()
        .zip(&labels)
        .map(|(id, l)| {
            let rep = first.get(l).map(|r| r.as_str()).unwrap_or(id.as_str());
            (
                id.clone(),
                format!("per-{}", rep.trim_start_matches("psn-")),
            )
        })
        .collect();
    Ok(VaultLinkage {
        subjects: ids.len(),
        persons: first.len(),
        candidates: out.stats.candidates,
        links: out.stats.links,
        person_of,
    })
}
