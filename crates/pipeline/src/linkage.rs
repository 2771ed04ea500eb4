//! Linkage over the vault (名寄せ): every person-at-provider in the vault is linked into persons.
//!
//! The vault side opens each identity, normalises it and turns it into keyed tokens under a
//! linkage key derived from the store key; from there on the linker sees tokens only
//! ([`tsunagu_link`]). The result maps each internal id to a person (cluster) id that is the
//! smallest internal id of its cluster — stable as long as the cluster keeps that member.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tsunagu_link::cluster::{ClusterEvent, Forbidden, IncrementalClusters};
use tsunagu_link::engine::{self, LinkOptions};
use tsunagu_link::record::{Encoder, RawRecord, TokenTable};
use tsunagu_link::schema::{Role, Schema};
use tsunagu_link::token::LinkageKey;
use tsunagu_model::StoreKey;
use tsunagu_vault::{IdentityPayload, InternalId, NameKind, Vault};

use crate::{Error, Result};

/// What persists between linkage runs, so that person ids stay stable: each internal id's handle
/// and the incremental clusters. Holds our ids only, nothing identifying.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LinkState {
    handles: BTreeMap<String, u64>,
    clusters: IncrementalClusters,
    /// An operator's decisions on uncertain pairs, by pair key (`psn-A|psn-B`, sorted): kept and
    /// reused by every later run.
    #[serde(default)]
    decisions: BTreeMap<String, bool>,
    /// The uncertain pairs of the last run that nobody has decided yet.
    #[serde(default)]
    review: Vec<ReviewItem>,
}

/// An uncertain pair waiting for an operator: ids, probability and what each field contributed
/// (no identifying values; `link review show` opens the identities, audited).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReviewItem {
    /// One internal id.
    pub a: String,
    /// The other.
    pub b: String,
    /// Match probability.
    pub probability: f64,
    /// Per field: (field, comparison level, log2 Bayes factor).
    pub fields: Vec<(String, String, f64)>,
}

fn pair_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}|{b}")
    } else {
        format!("{b}|{a}")
    }
}

impl LinkState {
    /// The review queue.
    pub fn review(&self) -> &[ReviewItem] {
        &self.review
    }

    /// Record an operator's decision on the queue's item `index` (0-based); it applies from the
    /// next run on, and to every run after. A no-match also applies at once: if the two are one
    /// person already (joined through other records), that person is split — the pair's link
    /// dropped and the components recomputed from the remaining links, the part holding the
    /// record that gave the person id keeping it, the other part a new id.
    pub fn decide(&mut self, index: usize, is_match: bool) -> Result<Decided> {
        if index >= self.review.len() {
            return Err(Error::input(
                "review item",
                "no item with that number in the queue",
            ));
        }
        let item = self.review[index].clone();
        let mut decided = Decided {
            item,
            split: None,
            still_joined: false,
        };
        if !is_match
            && let (Some(&ha), Some(&hb)) = (
                self.handles.get(&decided.item.a),
                self.handles.get(&decided.item.b),
            )
        {
            match self
                .clusters
                .forbid(ha, hb)
                .map_err(|e| Error::input("link/state.json", e.to_string()))?
            {
                Forbidden::Apart => {}
                Forbidden::StillJoined { .. } => decided.still_joined = true,
                Forbidden::Split(ClusterEvent::Split { kept, new }) => {
                    decided.split = Some((person_id(kept), person_id(new)));
                }
                Forbidden::Split(_) => {}
            }
        }
        self.review.remove(index);
        self.decisions
            .insert(pair_key(&decided.item.a, &decided.item.b), is_match);
        Ok(decided)
    }

    /// Apply every no-match decision as a constraint on the clusters (idempotent); returns the
    /// splits it made as (kept, new) person ids.
    fn apply_no_matches(&mut self) -> Vec<(String, String)> {
        let pairs: Vec<(u64, u64)> = self
            .decisions
            .iter()
            .filter(|(_, m)| !**m)
            .filter_map(|(key, _)| {
                let (a, b) = key.split_once('|')?;
                Some((*self.handles.get(a)?, *self.handles.get(b)?))
            })
            .collect();
        let mut splits = Vec::new();
        for (a, b) in pairs {
            // A pair whose records are not clustered yet, or a person whose links an older
            // version did not record, is left as it is: the constraint still holds for merges.
            if let Ok(Forbidden::Split(ClusterEvent::Split { kept, new })) =
                self.clusters.forbid(a, b)
            {
                splits.push((person_id(kept), person_id(new)));
            }
        }
        splits
    }
}

impl LinkState {
    /// Each linked internal id's person id, as the clusters stand (for extraction, which shows
    /// every person-at-provider under the person it belongs to).
    pub fn persons(&mut self) -> BTreeMap<String, String> {
        let by_handle = self.clusters.assignments();
        self.handles
            .iter()
            .filter_map(|(id, h)| Some((id.clone(), person_id(*by_handle.get(h)?))))
            .collect()
    }
}

/// What an operator's decision did.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    /// The pair decided.
    pub item: ReviewItem,
    /// For a no-match on two records of one person: the split, as (kept, new) person ids.
    pub split: Option<(String, String)>,
    /// For a no-match: other links still join the two records into one person, so nothing was
    /// split (those links can be decided in turn).
    pub still_joined: bool,
}

/// Decide item `index` (0-based) of a store's review queue and keep the result: the state,
/// and `DIR/link/persons.csv` relabelled when a no-match split a person (persons.csv first, the
/// state last, both atomically).
pub fn decide_in_store(
    store_dir: &std::path::Path,
    index: usize,
    is_match: bool,
) -> Result<Decided> {
    let mut state = load_state(store_dir)?;
    let decided = state.decide(index, is_match)?;
    if decided.split.is_some() {
        relabel_persons(store_dir, &mut state)?;
    }
    save_state(store_dir, &state)?;
    Ok(decided)
}

/// Rewrite `DIR/link/persons.csv` with each listed internal id's current person id.
fn relabel_persons(store_dir: &std::path::Path, state: &mut LinkState) -> Result<()> {
    let path = store_dir.join("link").join("persons.csv");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("link/persons.csv")(e)),
    };
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.lines().enumerate() {
        if n == 0 {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let Some((id, old)) = line.split_once(',') else {
            return Err(Error::input(
                "link/persons.csv",
                format!("row {n} is damaged"),
            ));
        };
        let per = match state.handles.get(id).copied() {
            Some(h) => state.clusters.cluster_of(h).map(person_id),
            None => None,
        };
        out.push_str(id);
        out.push(',');
        out.push_str(per.as_deref().unwrap_or(old));
        out.push('\n');
    }
    crate::quarantine::write_atomic(&path, out.as_bytes()).map_err(Error::io("link/persons.csv"))
}

/// Pairs at or above `accept` are linked; pairs from the options' threshold up to `accept` go to
/// the review queue (and are linked only once an operator says so).
pub const DEFAULT_ACCEPT: f64 = 0.95;

/// The outcome of linking the vault.
#[derive(Debug, Clone, Serialize)]
pub struct VaultLinkage {
    /// Persons that appeared in this run.
    pub created: usize,
    /// Merges of two earlier persons into one (the older id survives), as (into, from).
    pub merged: Vec<(String, String)>,
    /// Persons split by an operator's no-match decision, as (kept, new).
    pub split: Vec<(String, String)>,
    /// Persons-at-provider linked (shredded subjects and subjects without identity are left out).
    pub subjects: usize,
    /// Persons found.
    pub persons: usize,
    /// Candidate pairs compared.
    pub candidates: usize,
    /// Pairs linked.
    pub links: usize,
    /// Uncertain pairs waiting for review.
    pub to_review: usize,
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

fn person_id(c: tsunagu_link::cluster::ClusterId) -> String {
    format!("per-{:010}", c.0)
}

/// Link every identity in the vault into persons, incrementally: persons found before keep their
/// ids, new identities join existing persons or start new ones, and two persons that turn out to
/// be one are merged under the older id (reported, for the audit log). Links are only added,
/// never withdrawn, except by an operator's no-match decision, which splits a person and keeps
/// any later link from joining the two records' persons again.
pub async fn link_vault(
    vault: &Vault,
    key: &StoreKey,
    opts: &LinkOptions,
    accept: f64,
    state: &mut LinkState,
) -> Result<VaultLinkage> {
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
    let mut next = state.handles.values().max().map_or(0, |m| m + 1);
    let handles: Vec<u64> = ids
        .iter()
        .map(|id| {
            *state
                .handles
                .entry(id.as_str().to_owned())
                .or_insert_with(|| {
                    next += 1;
                    next - 1
                })
        })
        .collect();
    let mut linked_pairs = Vec::new();
    let mut review = Vec::new();
    for p in &out.links {
        let (a, b) = (&ids[p.left as usize], &ids[p.right as usize]);
        match state.decisions.get(&pair_key(a.as_str(), b.as_str())) {
            Some(true) => linked_pairs.push(p),
            Some(false) => {}
            None if p.probability >= accept => linked_pairs.push(p),
            None => {
                let fields = out
                    .explain(&table, &table, p)
                    .map(|f| {
                        f.into_iter()
                            .map(|w| (w.field.to_owned(), w.level.to_owned(), w.weight))
                            .collect()
                    })
                    .unwrap_or_default();
                review.push(ReviewItem {
                    a: a.as_str().to_owned(),
                    b: b.as_str().to_owned(),
                    probability: p.probability,
                    fields,
                });
            }
        }
    }
    review.sort_by(|x, y| y.probability.total_cmp(&x.probability));
    state.review = review;
    let mut events = state.clusters.add_records(handles.iter().copied());
    // No-match decisions first, so that no link of this run joins what an operator kept apart;
    // then again after the links, for persons whose links an older state had not recorded.
    let mut split = state.apply_no_matches();
    events.extend(
        state.clusters.add_links(
            linked_pairs
                .iter()
                .map(|p| (handles[p.left as usize], handles[p.right as usize])),
        ),
    );
    // Decided matches the model no longer proposes stand too.
    let decided: Vec<(u64, u64)> = state
        .decisions
        .iter()
        .filter(|(_, m)| **m)
        .filter_map(|(key, _)| {
            let (a, b) = key.split_once('|')?;
            Some((*state.handles.get(a)?, *state.handles.get(b)?))
        })
        .collect();
    events.extend(state.clusters.add_links(decided));
    split.extend(state.apply_no_matches());
    let _ = labels;
    let created = events
        .iter()
        .filter(|e| matches!(e, ClusterEvent::Created { .. }))
        .count();
    let merged: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match e {
            ClusterEvent::Merged { into, from } => Some((person_id(*into), person_id(*from))),
            ClusterEvent::Created { .. } | ClusterEvent::Split { .. } => None,
        })
        .collect();
    let mut person_of = BTreeMap::new();
    let mut persons = std::collections::BTreeSet::new();
    for (id, h) in ids.iter().zip(&handles) {
        if let Some(c) = state.clusters.cluster_of(*h) {
            persons.insert(c);
            person_of.insert(id.clone(), person_id(c));
        }
    }
    Ok(VaultLinkage {
        created,
        merged,
        split,
        subjects: ids.len(),
        persons: persons.len(),
        candidates: out.stats.candidates,
        links: linked_pairs.len(),
        to_review: state.review.len(),
        person_of,
    })
}

/// The state of a store's linkage (`DIR/link/state.json`), or an empty one.
pub fn load_state(store_dir: &std::path::Path) -> Result<LinkState> {
    match std::fs::read(store_dir.join("link").join("state.json")) {
        Ok(b) => {
            serde_json::from_slice(&b).map_err(|_| Error::input("link/state.json", "is damaged"))
        }
        Err(_) => Ok(LinkState::default()),
    }
}

/// Keep the state of a store's linkage (atomically).
pub fn save_state(store_dir: &std::path::Path, state: &LinkState) -> Result<()> {
    let dir = store_dir.join("link");
    std::fs::create_dir_all(&dir).map_err(Error::io("link directory"))?;
    let json = serde_json::to_vec(state).map_err(|e| Error::input("link state", e.to_string()))?;
    crate::quarantine::write_atomic(&dir.join("state.json"), &json)
        .map_err(Error::io("link/state.json"))
}

/// Link the vault of a store and keep the result in the store: `DIR/link/persons.csv`
/// (internal id → person id) and `DIR/link/state.json` (what keeps ids stable), both written
/// atomically, the state last; the run, with its merges, is an audit event.
pub async fn link_store(
    ledger: &tsunagu_ledger::Ledger,
    vault: &Vault,
    key: &StoreKey,
    opts: &LinkOptions,
    accept: f64,
    store_dir: &std::path::Path,
    actor: &tsunagu_ledger::Actor,
) -> Result<VaultLinkage> {
    use crate::quarantine::write_atomic;
    let dir = store_dir.join("link");
    std::fs::create_dir_all(&dir).map_err(Error::io("link directory"))?;
    let state_path = dir.join("state.json");
    let mut state: LinkState = match std::fs::read(&state_path) {
        Ok(b) => {
            serde_json::from_slice(&b).map_err(|_| Error::input("link/state.json", "is damaged"))?
        }
        Err(_) => LinkState::default(),
    };
    let linked = link_vault(vault, key, opts, accept, &mut state).await?;
    let mut csv = String::from("internal_id,person_id\n");
    for (id, per) in &linked.person_of {
        csv.push_str(id.as_str());
        csv.push(',');
        csv.push_str(per);
        csv.push('\n');
    }
    write_atomic(&dir.join("persons.csv"), csv.as_bytes())
        .map_err(Error::io("link/persons.csv"))?;
    let state_json =
        serde_json::to_vec(&state).map_err(|e| Error::input("link state", e.to_string()))?;
    write_atomic(&state_path, &state_json).map_err(Error::io("link/state.json"))?;
    ledger
        .record_event(
            actor,
            "link.vault",
            "link",
            "persons",
            serde_json::json!({
                "subjects": linked.subjects,
                "persons": linked.persons,
                "links": linked.links,
                "created": linked.created,
                "merged": linked.merged,
                "split": linked.split,
                "to_review": linked.to_review,
            }),
        )
        .await?;
    Ok(linked)
}
