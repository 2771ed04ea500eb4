//! The privacy models, run with the engine of `tsunagu-anon`:
//!
//! * k-anonymity (with optional l-diversity / t-closeness) on the persons' quasi-identifiers:
//!   a [`Dataset`] with the built-in hierarchies of sex, age and area restricted to the levels
//!   the policy allows, an optimal search with the loss metric within the suppression limit, and
//!   [`tsunagu_anon::apply`] for the records to suppress (every QI `*`, as ARX does);
//! * k^m-anonymity on each person's set of ICD-10 codes: an [`ItemTree`] of the codes present and
//!   their ancestors in the WHO tree, [`km_anonymize`], and the resulting cut as a code → label
//!   map (suppressed codes remove their rows);
//! * risk figures (prosecutor, marketer) of the output's classes with [`tsunagu_anon::risk`].
//!
//! The search's results are never trusted by the gate: `measures` re-checks the output.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rayon::prelude::*;
use tsunagu_anon::setvalued::{ItemTree, KmOutcome, KmParams, km_anonymize};
use tsunagu_anon::{
    AnonError, Dataset, Hierarchy, Metric, PrivacyModels, SearchConfig, TCloseness, TDistance,
};

use crate::dataset::{Released, Values};
use crate::error::ReleaseError;
use crate::policy::{Action, KmPolicy, Level, Policy};
use crate::report::{KAnonymity, Risk};
use crate::transform::{Decisions, IcdCut, PersonInfo, fixed_level, icd10_label, qi_label};

/// The level range a quasi-identifier may take under the policy.
fn level_range(policy: &Policy, column: &str) -> (usize, usize) {
    let rule = policy.rule("persons", column);
    match rule.action {
        Action::Generalize(Level::Search { max }) => (0, usize::from(max)),
        _ => {
            let l = fixed_level(&rule);
            (l, l)
        }
    }
}

/// What the k-anonymity search decided, with its figures for the report.
#[derive(Debug, Clone, Default)]
pub struct KOutcome {
    /// Level per quasi-identifier.
    pub levels: BTreeMap<String, usize>,
    /// Per person: suppressed.
    pub suppressed: Vec<bool>,
    /// Whether the search proved the transformation optimal.
    pub optimal: bool,
    /// Whether the suppression limit had to be exceeded (no transformation satisfies the models
    /// within it): the release then fails measure 5.
    pub over_limit: bool,
}

/// Run the k-anonymity search on the persons' quasi-identifiers.
pub fn k_anonymize(persons: &[PersonInfo], policy: &Policy) -> Result<KOutcome, ReleaseError> {
    let Some(kp) = &policy.privacy.k_anonymity else {
        return Ok(KOutcome {
            suppressed: vec![false; persons.len()],
            ..KOutcome::default()
        });
    };
    let top = policy.privacy.age_top_code;
    // Quasi-identifiers the policy drops are not in the output, so they are not part of a class.
    let qis: Vec<&str> = kp
        .quasi_identifiers
        .iter()
        .map(String::as_str)
        .filter(|q| policy.rule("persons", q).action != Action::Drop)
        .collect();
    if persons.is_empty() || qis.is_empty() {
        return Ok(KOutcome {
            levels: qis
                .iter()
                .map(|q| ((*q).to_owned(), level_range(policy, q).0))
                .collect(),
            suppressed: vec![false; persons.len()],
            optimal: true,
            over_limit: false,
        });
    }
    // The engine's hierarchies need a single root, and its search covers every level up to it.
    // The policy may cap a column below its natural top (area at most prefecture): such a
    // hierarchy gets a `*` root that the restricted search below never chooses.
    let natural_top = |q: &str| match q {
        "sex" => 1,
        "age" => 4,
        _ => 3,
    };
    let mut data = Dataset::new(persons.len());
    let mut offsets = Vec::new();
    let mut allowed: Vec<u8> = Vec::new();
    let mut restricted = false;
    for q in &qis {
        let (lo, hi) = level_range(policy, q);
        offsets.push(lo);
        allowed.push((hi - lo) as u8);
        let capped = hi < natural_top(q);
        restricted |= capped;
        // One hierarchy row per distinct leaf (the label at the lowest allowed level).
        let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut leaves = Vec::with_capacity(persons.len());
        for p in persons {
            let mut labels: Vec<String> = (lo..=hi).map(|l| qi_label(p, q, l, top)).collect();
            if capped {
                labels.push("*".to_owned());
            }
            leaves.push(labels[0].clone());
            rows.entry(labels[0].clone()).or_insert(labels);
        }
        let hier_rows: Vec<(usize, Vec<&str>)> = rows
            .values()
            .enumerate()
            .map(|(i, r)| (i + 1, r.iter().map(String::as_str).collect()))
            .collect();
        let h = Hierarchy::from_rows(q, hier_rows)?;
        data.add_quasi_identifier(q, h, leaves)?;
    }
    let sensitive = policy
        .privacy
        .l_diversity
        .as_ref()
        .map(|l| l.column.clone())
        .or_else(|| {
            policy
                .privacy
                .t_closeness
                .as_ref()
                .map(|t| t.column.clone())
        });
    if let Some(col) = &sensitive {
        let values: Vec<String> = persons.iter().map(|p| sensitive_value(p, col)).collect();
        data.set_sensitive(col, values, None)?;
    }
    let models = PrivacyModels {
        k: kp.k,
        l_diversity: policy.privacy.l_diversity.as_ref().map(|l| l.model),
        t_closeness: policy.privacy.t_closeness.as_ref().map(|t| TCloseness {
            t: t.t,
            distance: TDistance::Equal,
        }),
        suppression_limit: kp.suppression_limit,
    };
    let best = if restricted {
        restricted_search(&data, &models, &allowed)?
    } else {
        match tsunagu_anon::search(&data, &models, &SearchConfig::optimal(Metric::Loss)) {
            Ok(out) if out.best.solution => {
                let (_, supp) =
                    tsunagu_anon::apply(&data, &models, Metric::Loss, &out.best.levels)?;
                Some((out.best.levels, supp, out.optimal))
            }
            Ok(_) | Err(AnonError::NoSolution) => None,
            Err(e) => return Err(e.into()),
        }
    };
    let (levels, suppressed, optimal, over_limit) = match best {
        Some((l, s, o)) => (l, s, o, false),
        None => {
            // Nothing satisfies the models within the limit: take the coarsest allowed
            // transformation and suppress every class that breaks them anyway. The package is
            // still written so a reviewer can see why the gate fails.
            let unlimited = PrivacyModels {
                suppression_limit: 1.0,
                ..models.clone()
            };
            let (_, supp) = tsunagu_anon::apply(&data, &unlimited, Metric::Loss, &allowed)?;
            (allowed.clone(), supp, false, true)
        }
    };
    Ok(KOutcome {
        levels: qis
            .iter()
            .zip(levels.iter().zip(&offsets))
            .map(|(q, (l, o))| ((*q).to_owned(), usize::from(*l) + o))
            .collect(),
        suppressed,
        optimal,
        over_limit,
    })
}

/// A chosen transformation: levels, suppressed records, proven optimal.
type Chosen = (Vec<u8>, Vec<bool>, bool);

/// Optimal search over the lattice restricted to `allowed` levels per attribute: every node is
/// evaluated by the engine ([`tsunagu_anon::apply`]: same models, suppression and loss metric as
/// its own search), and the best solution is chosen with the engine's order (score, then the
/// lower node, then lattice order). The restricted lattices of persons' QIs are tiny (at most
/// 2 × 5 × 4 nodes), so exhaustive evaluation is cheap and exactly optimal.
fn restricted_search(
    data: &Dataset,
    models: &PrivacyModels,
    allowed: &[u8],
) -> Result<Option<Chosen>, ReleaseError> {
    let mut best: Option<(f64, u32, Vec<u8>, Vec<bool>)> = None;
    let mut node = vec![0u8; allowed.len()];
    loop {
        match tsunagu_anon::apply(data, models, Metric::Loss, &node) {
            Ok((ev, supp)) => {
                let height: u32 = node.iter().map(|&l| u32::from(l)).sum();
                let better = best
                    .as_ref()
                    .is_none_or(|(s, h, _, _)| (ev.score, height) < (*s, *h));
                if better {
                    best = Some((ev.score, height, node.clone(), supp));
                }
            }
            Err(AnonError::NoSolution) => {}
            Err(e) => return Err(e.into()),
        }
        // Next node in lattice order (last attribute fastest).
        let mut i = allowed.len();
        loop {
            if i == 0 {
                return Ok(best.map(|(_, _, l, s)| (l, s, true)));
            }
            i -= 1;
            if node[i] < allowed[i] {
                node[i] += 1;
                break;
            }
            node[i] = 0;
        }
    }
}

/// A persons column's value as the sensitive attribute (text; empty when null).
fn sensitive_value(p: &PersonInfo, column: &str) -> String {
    match column {
        "deceased_year" => p.deceased_year.map(|y| y.to_string()).unwrap_or_default(),
        "birth_month" => p
            .birth_month
            .map(|b| b.first_day().format("%Y-%m").to_string())
            .unwrap_or_default(),
        "postal3" => p.postal3.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// The separator between a code and the period of a dated item (`E11.9@2019`).
pub const PERIOD_SEP: char = '@';

/// The k^m item of a diagnosis: the code alone, or, when the policy releases the diagnosis's
/// onset as an absolute date (day, month or year), the code with that period (`E11.9@2019`).
/// An outsider who knows a diagnosis with its month matches it on the released period, so the
/// period is part of what must be held by k persons; generalizing a dated item first drops its
/// period (the row's dates are then withheld), then climbs the ICD-10 tree.
pub fn dated_item(code: &str, onset: Option<chrono::NaiveDate>, policy: &Policy) -> String {
    use crate::policy::DateTo;
    use chrono::Datelike;
    let period = match (policy.rule("conditions", "onset").action, onset) {
        (Action::Date(DateTo::Year), Some(d)) => Some(format!("{:04}", d.year())),
        (Action::Date(DateTo::Month | DateTo::Day) | Action::Keep, Some(d)) => {
            Some(format!("{:04}-{:02}", d.year(), d.month()))
        }
        _ => None,
    };
    match period {
        Some(p) => format!("{code}{PERIOD_SEP}{p}"),
        None => code.to_owned(),
    }
}

/// Split a k^m item into its code and period.
pub fn split_item(item: &str) -> (&str, Option<&str>) {
    match item.split_once(PERIOD_SEP) {
        Some((c, p)) => (c, Some(p)),
        None => (item, None),
    }
}

/// The ICD-10 item tree over the codes present and their ancestors, with a root `*`.
/// Returns the tree and the node id of each label.
pub fn icd10_item_tree(
    codes: &BTreeSet<String>,
) -> Result<(ItemTree, HashMap<String, usize>), ReleaseError> {
    let tree = tsunagu_model::icd10::tree();
    let mut nodes: Vec<(String, Option<usize>)> = vec![("*".to_owned(), None)];
    let mut id: HashMap<String, usize> = HashMap::new();
    id.insert("*".to_owned(), 0);
    // Resolve a label to its node, creating it and its ancestors first.
    fn ensure(
        label: &str,
        tree: &tsunagu_model::icd10::Tree,
        nodes: &mut Vec<(String, Option<usize>)>,
        id: &mut HashMap<String, usize>,
    ) -> usize {
        if let Some(&i) = id.get(label) {
            return i;
        }
        let parent_label: Option<String> = if let Some((code, _)) = label.split_once(PERIOD_SEP) {
            // A dated item sits under its code: its first generalization drops the period.
            Some(code.to_owned())
        } else if tree.get(label).is_some() {
            tree.get(label).and_then(|n| n.parent.clone())
        } else {
            // Not in the WHO tree: under its category when that is known.
            label
                .get(..3)
                .filter(|c| *c != label && tree.get(c).is_some())
                .map(str::to_owned)
        };
        let parent = match parent_label {
            Some(p) => ensure(&p, tree, nodes, id),
            None => 0,
        };
        nodes.push((label.to_owned(), Some(parent)));
        let i = nodes.len() - 1;
        id.insert(label.to_owned(), i);
        i
    }
    for c in codes {
        ensure(c, tree, &mut nodes, &mut id);
    }
    let t = ItemTree::new(nodes)?;
    Ok((t, id))
}

/// What k^m decided.
#[derive(Debug, Clone)]
pub struct KmDecision {
    /// Source code → released label (`None`: suppressed).
    pub map: HashMap<String, Option<String>>,
    /// The engine's outcome (counts and information loss).
    pub outcome: KmOutcome,
}

/// Run k^m-anonymity on the persons' sets of ICD-10 codes. `codes[i]` are the source codes of
/// person `i`; `fixed` is the rule's fixed level applied first (0 for a searched level).
pub fn km_decide(
    codes: &[Vec<String>],
    km: &KmPolicy,
    fixed: u8,
) -> Result<KmDecision, ReleaseError> {
    // Codes the tree cannot take to the fixed level are suppressed before the search.
    let mut pre: HashMap<String, Option<String>> = HashMap::new();
    for c in codes.iter().flatten() {
        pre.entry(c.clone()).or_insert_with(|| {
            let (code, period) = split_item(c);
            let label = icd10_label(code, fixed)?;
            Some(match period {
                Some(p) => format!("{label}{PERIOD_SEP}{p}"),
                None => label,
            })
        });
    }
    let present: BTreeSet<String> = pre.values().flatten().cloned().collect();
    let (tree, id) = icd10_item_tree(&present)?;
    let records: Vec<Vec<usize>> = codes
        .iter()
        .map(|cs| {
            let mut v: Vec<usize> = cs
                .iter()
                .filter_map(|c| pre.get(c).cloned().flatten())
                .filter_map(|l| id.get(&l).copied())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let outcome = km_anonymize(&records, &tree, KmParams { k: km.k, m: km.m })?;
    let map = pre
        .into_iter()
        .map(|(src, l)| {
            let out = l.and_then(|l| {
                let node = *id.get(&l)?;
                let g = outcome.mapping.get(node).copied().unwrap_or(Some(node))?;
                Some(tree.label(g).to_owned())
            });
            (src, out)
        })
        .collect();
    Ok(KmDecision { map, outcome })
}

/// The privacy decisions for a release.
#[derive(Debug, Clone)]
pub struct Plan {
    /// For the transformation.
    pub decisions: Decisions,
    /// k-anonymity search figures.
    pub k: KOutcome,
    /// k^m figures.
    pub km: Option<KmSummary>,
}

/// k^m figures summed over the groups it ran on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KmSummary {
    /// Occurrences generalized.
    pub generalized: u64,
    /// Occurrences suppressed.
    pub suppressed: u64,
    /// Information loss in [0, 1], weighted by occurrences.
    pub information_loss: f64,
    /// Groups k^m ran on (1, or the number of equivalence classes).
    pub groups: u64,
}

/// Decide everything the privacy models need, from the persons and their diagnoses.
pub fn plan(
    persons: &[PersonInfo],
    diagnoses: &[Vec<String>],
    policy: &Policy,
) -> Result<Plan, ReleaseError> {
    let k = k_anonymize(persons, policy)?;
    let mut cut = None;
    let mut km = None;
    if let (Some(kmp), Some(fixed)) = (&policy.privacy.km_anonymity, level_of(policy)) {
        // Groups: everyone, or the persons' equivalence classes on the released QIs, so that an
        // attacker who knows someone's QIs and m of their diagnoses still finds k persons.
        let mut groups: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
        for (i, p) in persons.iter().enumerate() {
            let key = if !kmp.within_classes {
                Vec::new()
            } else if k.suppressed.get(i).copied().unwrap_or(false) {
                vec!["*".to_owned()]
            } else {
                k.levels
                    .iter()
                    .map(|(q, l)| qi_label(p, q, *l, policy.privacy.age_top_code))
                    .collect()
            };
            groups.entry(key).or_default().push(i);
        }
        let mut group_of = vec![0usize; persons.len()];
        let mut maps = Vec::with_capacity(groups.len());
        let mut sum = KmSummary::default();
        let mut loss_weighted = 0.0;
        let mut occurrences = 0u64;
        // Groups are independent: run them in parallel (results come back in group order).
        let members: Vec<&Vec<usize>> = groups.values().collect();
        let runs: Vec<Result<(KmDecision, u64), ReleaseError>> = members
            .par_iter()
            .map(|m| {
                let dx: Vec<Vec<String>> = m.iter().map(|&i| diagnoses[i].clone()).collect();
                let occ: u64 = dx
                    .iter()
                    .map(|r| r.iter().collect::<BTreeSet<_>>().len() as u64)
                    .sum();
                Ok((km_decide(&dx, kmp, fixed)?, occ))
            })
            .collect();
        for (g, run) in runs.into_iter().enumerate() {
            let (d, occ) = run?;
            for &i in members[g] {
                group_of[i] = g;
            }
            sum.generalized += d.outcome.generalized;
            sum.suppressed += d.outcome.suppressed;
            loss_weighted += d.outcome.information_loss * occ as f64;
            occurrences += occ;
            maps.push(d.map);
        }
        sum.groups = maps.len() as u64;
        sum.information_loss = if occurrences == 0 {
            0.0
        } else {
            loss_weighted / occurrences as f64
        };
        cut = Some(IcdCut { group_of, maps });
        km = Some(sum);
    }
    let mut levels = k.levels.clone();
    for q in ["sex", "age", "area"] {
        levels
            .entry(q.to_owned())
            .or_insert_with(|| fixed_level(&policy.rule("persons", q)));
    }
    Ok(Plan {
        decisions: Decisions {
            levels,
            suppressed: k.suppressed.clone(),
            icd10: cut,
        },
        k,
        km,
    })
}

/// The fixed ICD-10 level of the policy (0 for keep or a searched level).
fn level_of(policy: &Policy) -> Option<u8> {
    match policy.rule("conditions", "icd10").action {
        Action::Generalize(Level::Fixed(l)) => Some(l),
        Action::Generalize(Level::Search { .. }) | Action::Keep => Some(0),
        _ => None,
    }
}

/// The quasi-identifier columns of the released persons table, as text columns.
fn qi_columns<'a>(released: &'a Released, qis: &[String]) -> Vec<&'a [Option<String>]> {
    let Some(p) = released.table("persons") else {
        return Vec::new();
    };
    qis.iter()
        .filter_map(|q| match p.column(q).map(|c| &c.values) {
            Some(Values::Text(v)) => Some(v.as_slice()),
            _ => None,
        })
        .collect()
}

/// Class sizes of the output persons table over `qis`, suppressed rows (every QI `*`) left out;
/// also returns how many rows were suppressed.
pub fn output_classes(released: &Released, qis: &[String]) -> (Vec<u32>, u64) {
    let cols = qi_columns(released, qis);
    let rows = released.table("persons").map_or(0, |t| t.rows());
    if cols.is_empty() {
        return (if rows > 0 { vec![rows as u32] } else { vec![] }, 0);
    }
    let mut counts: HashMap<Vec<&str>, u32> = HashMap::new();
    let mut suppressed = 0u64;
    for r in 0..rows {
        let key: Vec<&str> = cols
            .iter()
            .map(|c| c.get(r).and_then(|v| v.as_deref()).unwrap_or(""))
            .collect();
        if key.iter().all(|v| *v == "*") {
            suppressed += 1;
            continue;
        }
        *counts.entry(key).or_insert(0) += 1;
    }
    let mut sizes: Vec<u32> = counts.into_values().collect();
    sizes.sort_unstable();
    (sizes, suppressed)
}

/// k-anonymity as it holds on the output.
pub fn k_report(released: &Released, policy: &Policy, k: &KOutcome) -> Option<KAnonymity> {
    let kp = policy.privacy.k_anonymity.as_ref()?;
    let (sizes, suppressed) = output_classes(released, &kp.quasi_identifiers);
    let mut class_sizes: BTreeMap<u64, u64> = BTreeMap::new();
    for &s in &sizes {
        *class_sizes.entry(u64::from(s)).or_insert(0) += 1;
    }
    let min = sizes.first().copied().unwrap_or(0);
    Some(KAnonymity {
        k: kp.k as usize,
        quasi_identifiers: kp.quasi_identifiers.clone(),
        transformation: k.levels.clone(),
        suppressed_records: suppressed,
        equivalence_classes: sizes.len() as u64,
        min_class_size: u64::from(min),
        class_sizes,
        holds: sizes.iter().all(|&s| s >= kp.k) && !k.over_limit,
    })
}

/// Engine risk figures of the output persons table (suppressed rows left out).
pub fn risk_report(released: &Released, policy: &Policy) -> Option<Risk> {
    let qis: Vec<String> = match &policy.privacy.k_anonymity {
        Some(k) => k.quasi_identifiers.clone(),
        None => vec!["sex".into(), "age".into(), "area".into()],
    };
    let (sizes, _) = output_classes(released, &qis);
    if sizes.is_empty() {
        return None;
    }
    let n: f64 = sizes.iter().map(|&s| f64::from(s)).sum();
    let cols = qi_columns(released, &qis);
    let combinations: f64 = cols
        .iter()
        .map(|c| c.iter().collect::<BTreeSet<_>>().len().max(1) as f64)
        .product();
    let r = tsunagu_anon::risk::assess(&sizes, n, policy.privacy.max_risk, combinations);
    Some(Risk {
        prosecutor_highest: r.prosecutor.highest,
        prosecutor_average: r.prosecutor.average,
        records_at_risk: (r.prosecutor.records_at_risk * n).round() as u64,
        sample_uniques: r.sample_uniqueness,
        marketer: r.marketer,
        max_risk: policy.privacy.max_risk,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn person(i: usize, year: Option<i32>) -> PersonInfo {
        PersonInfo {
            linked: format!("per-{i:010}"),
            pseudonym: format!("p-{i:016x}"),
            provider: "prv-0000000000".into(),
            sex: tsunagu_model::Sex::Female,
            birth_month: tsunagu_lake::YearMonth::new(1980, 1 + (i % 12) as u32),
            age: Some(45),
            prefecture: Some("東京都"),
            municipality: Some("府中市".into()),
            postal3: Some("183".into()),
            deceased_year: year,
            index_date: None,
        }
    }

    #[test]
    fn l_diversity_on_a_declared_sensitive_column_is_enforced() {
        let base = "name='x'\nextends='anonymized-jp'\n[privacy.l_diversity]\ncolumn='deceased_year'\nl=2\n";
        let p = Policy::parse(base).unwrap();
        // Ten people alike on every QI, all with the same sensitive value: never 2-diverse.
        let same: Vec<PersonInfo> = (0..10).map(|i| person(i, Some(2020))).collect();
        let k = k_anonymize(&same, &p).unwrap();
        assert!(k.over_limit);
        assert!(k.suppressed.iter().all(|s| *s));
        // Two values: 2-diverse at the finest levels, nothing suppressed.
        let mixed: Vec<PersonInfo> = (0..10)
            .map(|i| person(i, Some(2020 + (i % 2) as i32)))
            .collect();
        let k = k_anonymize(&mixed, &p).unwrap();
        assert!(!k.over_limit);
        assert!(k.suppressed.iter().all(|s| !*s));
        assert_eq!(k.levels["age"], 0);
        assert_eq!(k.levels["area"], 0);
    }

    #[test]
    fn the_search_never_goes_above_the_policys_cap() {
        // Two areas of three persons each: k=5 needs prefecture (capped at 1) — fine; with
        // different prefectures it needs the region, which this policy's cap forbids: suppression.
        let p = Policy::parse(
            "name='cap'\nextends='anonymized-jp'\n[tables.persons]\narea = { action = 'generalize', level = 'search', max_level = 1 }\n",
        )
        .unwrap();
        let mut ps: Vec<PersonInfo> = (0..6).map(|i| person(i, None)).collect();
        for q in ps.iter_mut().skip(3) {
            q.municipality = Some("千代田区".into());
        }
        let k = k_anonymize(&ps, &p).unwrap();
        assert_eq!(k.levels["area"], 1);
        assert!(k.suppressed.iter().all(|s| !*s));
        for q in ps.iter_mut().skip(3) {
            q.prefecture = Some("神奈川県");
        }
        let k = k_anonymize(&ps, &p).unwrap();
        assert!(k.levels["area"] <= 1);
        assert!(
            k.over_limit,
            "six persons in two prefectures cannot be 5-anonymous at prefecture level"
        );
    }

    #[test]
    fn item_tree_has_codes_and_ancestors_under_one_root() {
        let codes: BTreeSet<String> = ["E11.9", "E11.6", "I10"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (t, id) = icd10_item_tree(&codes).unwrap();
        let e119 = id["E11.9"];
        let e11 = id["E11"];
        let block = id["E10-E14"];
        assert!(t.is_ancestor_or_self(e11, e119));
        assert!(t.is_ancestor_or_self(block, e119));
        assert!(t.is_ancestor_or_self(t.root(), id["I10"]));
        assert_eq!(t.label(t.root()), "*");
    }

    #[test]
    fn km_generalizes_only_as_far_as_needed() {
        // Six people with E11.9, two with E11.6: E11.6 alone breaks k=3, so both go to E11
        // (or further); I10 is held by five and stays.
        let mut codes: Vec<Vec<String>> = Vec::new();
        for i in 0..8 {
            let mut v = vec![if i < 6 { "E11.9" } else { "E11.6" }.to_string()];
            if i < 5 {
                v.push("I10".into());
            }
            codes.push(v);
        }
        let km = KmPolicy {
            within_classes: false,
            k: 3,
            m: 1,
            table: "conditions".into(),
            column: "icd10".into(),
        };
        let d = km_decide(&codes, &km, 0).unwrap();
        assert_eq!(d.map["I10"].as_deref(), Some("I10"));
        let e116 = d.map["E11.6"].clone().unwrap();
        assert_ne!(e116, "E11.6");
        let mut dict: HashMap<String, usize> = HashMap::new();
        let out: Vec<Vec<usize>> = codes
            .iter()
            .map(|cs| {
                let mut v: Vec<usize> = cs
                    .iter()
                    .filter_map(|c| d.map[c].clone())
                    .map(|l| {
                        let n = dict.len();
                        *dict.entry(l).or_insert(n)
                    })
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        assert!(tsunagu_anon::setvalued::km_check(&out, KmParams { k: 3, m: 1 }).holds);
    }
}
