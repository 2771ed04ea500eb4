//! The opt-out gate at extraction and release time (design §3: every extract passes the gate
//! when it is built, not only at intake).
//!
//! Who may go into an extract is decided per person-at-provider (vault subject) with the
//! ledger's rule at one moment, then widened to the linked person: a stop request received by
//! any provider for any of a person's records excludes the whole linked person, because the
//! request is the person's and the linkage says these records are theirs. Other reasons (the
//! waiting period after a notice, a provider without a 届出) exclude only that provider's
//! records, as the rule is about what each provider may provide. Shredded subjects are out too.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use tsunagu_ledger::{Ledger, ProviderFacts, Reason};
use tsunagu_model::ProviderId;
use tsunagu_vault::Vault;

use crate::Result;
use crate::linkage::load_state;

/// One person-at-provider admitted to an extract, with the linked person it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    /// The vault's internal id (`psn-…`), the key of the lake's rows.
    pub subject: String,
    /// The linked person id (`per-…`).
    pub person: String,
}

/// The gate's decision over the whole store at one moment.
#[derive(Debug, Clone, Default)]
pub struct GateDecision {
    /// Admitted subjects with their linked person, ordered by subject.
    pub admitted: Vec<Member>,
    /// Linked persons excluded because one of their records is covered by a stop request.
    pub stopped_persons: BTreeSet<String>,
    /// Subjects excluded because their person is stopped (their own record or a linked one).
    pub stopped_subjects: u64,
    /// Subjects excluded for another reason (waiting period, no notice, no 届出, shredded).
    pub ineligible_subjects: u64,
    /// Subjects the linkage has not seen yet (ingested after the last `tsunagu link`): each
    /// stands alone as its own person, under an id derived from its internal id.
    pub unlinked_subjects: u64,
}

impl GateDecision {
    /// Whether every admitted subject went through the linkage.
    pub fn linked(&self) -> bool {
        self.unlinked_subjects == 0
    }
}

/// The linked person id of a subject the linkage has not seen: `per-u` and the internal id's
/// random part, so it cannot collide with a cluster's `per-` + digits.
fn standalone_person(internal: &str) -> String {
    format!("per-u{}", internal.strip_prefix("psn-").unwrap_or(internal))
}

/// Decide the gate for every subject of the store at `at`.
pub async fn decide_all(
    ledger: &Ledger,
    vault: &Vault,
    store_dir: &std::path::Path,
    at: DateTime<Utc>,
) -> Result<GateDecision> {
    let subjects = vault.subjects().await?;
    let persons = load_state(store_dir)?.persons();
    let mut facts: HashMap<ProviderId, ProviderFacts> = HashMap::new();
    for s in &subjects {
        if !facts.contains_key(&s.provider) {
            let f = ledger.provider_facts(&s.provider).await?;
            facts.insert(s.provider.clone(), f);
        }
    }
    // First pass: each subject's own decision, and which persons a stop covers.
    let mut out = GateDecision::default();
    let mut candidates: Vec<Member> = Vec::new();
    let mut stopped_members: BTreeMap<String, u64> = BTreeMap::new();
    for s in &subjects {
        let internal = s.internal_id.as_str();
        let person = match persons.get(internal) {
            Some(p) => p.clone(),
            None => standalone_person(internal),
        };
        let decision = match facts.get(&s.provider) {
            Some(f) => f.decide(s.patient_hash.as_str(), at),
            None => continue,
        };
        if matches!(decision.reason, Reason::Stopped { .. }) {
            out.stopped_persons.insert(person.clone());
            *stopped_members.entry(person).or_default() += 1;
            continue;
        }
        if s.shredded || !decision.eligible {
            out.ineligible_subjects += 1;
            continue;
        }
        if !persons.contains_key(internal) {
            out.unlinked_subjects += 1;
        }
        candidates.push(Member {
            subject: internal.to_owned(),
            person,
        });
    }
    out.stopped_subjects = stopped_members.values().sum();
    for m in candidates {
        if out.stopped_persons.contains(&m.person) {
            // Only linked subjects get here: a standalone person is its one subject, and a
            // stopped subject never became a candidate.
            out.stopped_subjects += 1;
        } else {
            out.admitted.push(m);
        }
    }
    out.admitted.sort();
    Ok(out)
}

/// At release time: which of an extract's linked persons may no longer go out. `members` are
/// the extract's recorded (subject, person) pairs; a person is excluded when any of its
/// subjects is no longer admitted now (a stop request since the extract, a shredded identity),
/// or when the linked person a subject belongs to now is stopped (a later linkage may have
/// joined it to records whose person asked to stop).
pub fn excluded_now(members: &[(String, String)], now: &GateDecision) -> BTreeSet<String> {
    let admitted: HashMap<&str, &str> = now
        .admitted
        .iter()
        .map(|m| (m.subject.as_str(), m.person.as_str()))
        .collect();
    members
        .iter()
        .filter(|(subject, _)| !admitted.contains_key(subject.as_str()))
        .map(|(_, person)| person.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gd(admitted: &[(&str, &str)]) -> GateDecision {
        GateDecision {
            admitted: admitted
                .iter()
                .map(|(s, p)| Member {
                    subject: (*s).to_owned(),
                    person: (*p).to_owned(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_person_goes_out_only_when_every_recorded_subject_is_still_admitted() {
        let members = vec![
            ("psn-a".to_owned(), "per-1".to_owned()),
            ("psn-b".to_owned(), "per-1".to_owned()),
            ("psn-c".to_owned(), "per-2".to_owned()),
        ];
        let now = gd(&[("psn-a", "per-1"), ("psn-b", "per-1"), ("psn-c", "per-2")]);
        assert!(excluded_now(&members, &now).is_empty());
        // psn-b's person asked to stop since the extract: all of per-1 is out, per-2 stays.
        let now = gd(&[("psn-a", "per-1"), ("psn-c", "per-2")]);
        assert_eq!(
            excluded_now(&members, &now).into_iter().collect::<Vec<_>>(),
            vec!["per-1".to_owned()]
        );
    }

    #[test]
    fn standalone_ids_cannot_collide_with_cluster_ids() {
        let id = standalone_person("psn-0123ABC");
        assert_eq!(id, "per-u0123ABC");
        assert!(tsunagu_lake::PersonId::parse(&id).is_ok());
    }
}
