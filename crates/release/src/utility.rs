//! Utility: a few standard statistics computed on the extract and on the release, so a
//! reviewer sees what the anonymization cost. The release figure is `None` when the release
//! cannot tell (a group generalized away, a code column not released).
//!
//! * persons by 10-year age band and sex;
//! * prevalence (share of persons) of the ten most frequent ICD-10 categories of the extract;
//! * mean HbA1c (NGSP, JLAC10 `3D046000001906202`, as the synthetic data and most Japanese labs
//!   code it) by sex, over observations and check-ups.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::dataset::{OutTable, Released, Values};
use crate::report::Utility;
use crate::transform::{Extract, PersonInfo, age_band10, sex_label};

/// JLAC10 code of HbA1c (NGSP).
pub const HBA1C_JLAC10: &str = "3D046000001906202";

/// Whether an item is HbA1c: its JLAC10 code, or (for sources that send only a name) its name.
pub fn is_hba1c(code: Option<&str>, name: Option<&str>) -> bool {
    code.is_some_and(|c| c == HBA1C_JLAC10 || c.starts_with("3D046"))
        || name.is_some_and(|n| n.to_ascii_lowercase().contains("hba1c"))
}

/// An age label of the release as an inclusive range (`*` is everything).
pub fn age_range(label: &str) -> Option<(u32, u32)> {
    if label == "*" {
        return Some((0, u32::MAX));
    }
    if let Some(t) = label.strip_suffix('+') {
        return t.parse().ok().map(|t| (t, u32::MAX));
    }
    if let Some((a, b)) = label.split_once('-') {
        return Some((a.parse().ok()?, b.parse().ok()?));
    }
    label.parse().ok().map(|a| (a, a))
}

fn text_col<'a>(t: &'a OutTable, name: &str) -> Option<&'a [Option<String>]> {
    match t.column(name).map(|c| &c.values) {
        Some(Values::Text(v)) => Some(v.as_slice()),
        _ => None,
    }
}

fn float_col<'a>(t: &'a OutTable, name: &str) -> Option<&'a [Option<f64>]> {
    match t.column(name).map(|c| &c.values) {
        Some(Values::Float(v)) => Some(v.as_slice()),
        _ => None,
    }
}

/// Compute the statistics.
pub fn compare(
    extract: &Extract,
    persons: &[PersonInfo],
    released: &Released,
    top: Option<u32>,
) -> Vec<Utility> {
    let mut out = Vec::new();
    out.extend(age_sex(persons, released, top));
    out.extend(prevalence(extract, persons, released));
    out.extend(hba1c(extract, persons, released));
    out
}

fn age_sex(persons: &[PersonInfo], released: &Released, top: Option<u32>) -> Vec<Utility> {
    let mut groups: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    for p in persons {
        let band = p
            .age
            .map_or_else(|| "unknown".to_owned(), |a| age_band10(a, top));
        *groups.entry((band, sex_label(p.sex))).or_insert(0) += 1;
    }
    let rel = released.table("persons");
    let ages = rel.and_then(|t| text_col(t, "age"));
    let sexes = rel.and_then(|t| text_col(t, "sex"));
    groups
        .into_iter()
        .map(|((band, sex), n)| {
            let release = match (ages, sexes, age_range(&band)) {
                (Some(ages), Some(sexes), Some((lo, hi))) => {
                    let mut count = 0u64;
                    let mut ambiguous = false;
                    for (a, s) in ages.iter().zip(sexes) {
                        let (a, s) = (a.as_deref().unwrap_or("*"), s.as_deref().unwrap_or("*"));
                        if a == "*" && s == "*" {
                            // Suppressed record: reported separately, not a group member.
                            continue;
                        }
                        let Some((alo, ahi)) = age_range(a) else {
                            ambiguous = true;
                            continue;
                        };
                        let overlaps = alo <= hi && lo <= ahi;
                        let inside = lo <= alo && ahi <= hi;
                        if s == sex && inside {
                            count += 1;
                        } else if (s == sex || s == "*") && overlaps {
                            ambiguous = true;
                        }
                    }
                    (!ambiguous).then_some(count as f64)
                }
                _ => None,
            };
            Utility {
                statistic: "persons by age band and sex".into(),
                group: format!("{sex} {band}"),
                extract: n as f64,
                release,
            }
        })
        .collect()
}

fn prevalence(extract: &Extract, persons: &[PersonInfo], released: &Released) -> Vec<Utility> {
    let n = persons.len();
    if n == 0 {
        return Vec::new();
    }
    let ids: HashSet<&str> = persons.iter().map(|p| p.linked.as_str()).collect();
    let mut holders: BTreeMap<String, HashSet<&str>> = BTreeMap::new();
    for c in &extract.conditions {
        if let Some(code) = &c.icd10
            && ids.contains(c.person_id.as_str())
        {
            holders
                .entry(code.category().to_owned())
                .or_default()
                .insert(c.person_id.as_str());
        }
    }
    let mut ranked: Vec<(String, usize)> = holders.into_iter().map(|(c, s)| (c, s.len())).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(10);
    let rel = released.table("conditions");
    let codes = rel.and_then(|t| text_col(t, "icd10"));
    let pids = rel.and_then(|t| text_col(t, "person_id"));
    let released_persons = released.table("persons").map_or(0, OutTable::rows);
    let tree = tsunagu_model::icd10::tree();
    ranked
        .into_iter()
        .map(|(cat, count)| {
            let release = match (codes, pids) {
                (Some(codes), Some(pids)) if released_persons > 0 => {
                    let ancestors: BTreeSet<String> =
                        tree.lineage(&cat).skip(1).map(|n| n.code.clone()).collect();
                    let mut who: HashSet<&str> = HashSet::new();
                    let mut ambiguous = false;
                    for (c, p) in codes.iter().zip(pids) {
                        let (Some(c), Some(p)) = (c.as_deref(), p.as_deref()) else {
                            continue;
                        };
                        if c == cat
                            || (c.starts_with(cat.as_str()) && c.as_bytes().get(3) == Some(&b'.'))
                        {
                            who.insert(p);
                        } else if ancestors.contains(c) {
                            ambiguous = true;
                        }
                    }
                    (!ambiguous).then(|| who.len() as f64 / released_persons as f64)
                }
                _ => None,
            };
            Utility {
                statistic: "prevalence of ICD-10 category (share of persons)".into(),
                group: cat,
                extract: count as f64 / n as f64,
                release,
            }
        })
        .collect()
}

fn hba1c(extract: &Extract, persons: &[PersonInfo], released: &Released) -> Vec<Utility> {
    let sex_of: HashMap<&str, &'static str> = persons
        .iter()
        .map(|p| (p.linked.as_str(), sex_label(p.sex)))
        .collect();
    let mut ext: BTreeMap<&str, (f64, u64)> = BTreeMap::new();
    let add = |m: &mut BTreeMap<&str, (f64, u64)>, sex: &'static str, v: f64| {
        for g in [sex, "all"] {
            let e = m.entry(g).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
    };
    for o in &extract.observations {
        if let (Some(v), Some(s)) = (o.value, sex_of.get(o.person_id.as_str()))
            && is_hba1c(o.code.as_deref(), o.name.as_deref())
        {
            add(&mut ext, s, v);
        }
    }
    for o in &extract.checkups {
        if let (Some(v), Some(s)) = (o.value, sex_of.get(o.person_id.as_str()))
            && is_hba1c(o.code.as_deref(), o.name.as_deref())
        {
            add(&mut ext, s, v);
        }
    }
    // Release side: the persons' released sex by pseudonym, the items by released code.
    let mut rel_sex: HashMap<&str, &str> = HashMap::new();
    if let Some(p) = released.table("persons")
        && let (Some(ids), Some(sx)) = (text_col(p, "person_id"), text_col(p, "sex"))
    {
        for (i, s) in ids.iter().zip(sx) {
            if let (Some(i), Some(s)) = (i.as_deref(), s.as_deref()) {
                rel_sex.insert(i, s);
            }
        }
    }
    let mut rel: BTreeMap<&str, (f64, u64)> = BTreeMap::new();
    let mut readable = true;
    for table in ["observations", "checkups"] {
        let Some(t) = released.table(table) else {
            continue;
        };
        let (Some(codes), Some(vals), Some(ids)) = (
            text_col(t, "code"),
            float_col(t, "value"),
            text_col(t, "person_id"),
        ) else {
            readable = false;
            continue;
        };
        for ((c, v), i) in codes.iter().zip(vals).zip(ids) {
            if let (Some(v), Some(i)) = (v, i.as_deref())
                && is_hba1c(c.as_deref(), None)
            {
                let s = rel_sex.get(i).copied().unwrap_or("*");
                for g in [s, "all"] {
                    let e = rel.entry(g).or_insert((0.0, 0));
                    e.0 += v;
                    e.1 += 1;
                }
            }
        }
    }
    let sex_hidden = rel.contains_key("*");
    ext.into_iter()
        .map(|(g, (sum, n))| {
            let release = if !readable || (sex_hidden && g != "all") {
                None
            } else {
                rel.get(g).map(|(s, c)| s / *c as f64)
            };
            Utility {
                statistic: "mean HbA1c (NGSP %)".into(),
                group: g.to_owned(),
                extract: sum / n as f64,
                release,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_ranges_parse_release_labels() {
        assert_eq!(age_range("37"), Some((37, 37)));
        assert_eq!(age_range("30-39"), Some((30, 39)));
        assert_eq!(age_range("90+"), Some((90, u32::MAX)));
        assert_eq!(age_range("*"), Some((0, u32::MAX)));
        assert_eq!(age_range("x"), None);
    }

    #[test]
    fn hba1c_is_recognized_by_code_or_name() {
        assert!(is_hba1c(Some(HBA1C_JLAC10), None));
        assert!(is_hba1c(None, Some("HbA1c(NGSP)")));
        assert!(!is_hba1c(Some("3D010000002227101"), Some("空腹時血糖")));
    }
}
