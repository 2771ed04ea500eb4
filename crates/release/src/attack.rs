//! The re-identification test (再識別テスト): an outsider who knows a few facts about a person
//! (sex, birth year, municipality, some diagnoses with their months) looks for them in the
//! release; the share found uniquely and correctly must be below the policy's limit.
//!
//! The attacker's table is drawn from the extract (the truth), the release is read as it is
//! written. A released person is *compatible* with what the attacker knows when every released
//! value is the known value or a generalization of it: an age band containing one of the two
//! ages the birth year allows at the as-of date, the municipality or its prefecture, region or
//! `*`, an ICD-10 code that is the known code or one of its ancestors, a month that is the known
//! month or a coarser or absent date. Unknown or unparseable released values never exclude
//! anyone (the attacker cannot use them). An attacker row that is compatible with exactly one
//! released person is a unique match; it is correct when that person is the right one.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use tsunagu_model::postal;

use crate::dataset::{OutColumn, Released, Values};
use crate::report::Attack;

/// A diagnosis an outsider knows: the ICD-10 code (dot form) and the month, if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDiagnosis {
    /// ICD-10 code, dot form (`E11.9`).
    pub code: String,
    /// (year, month) of the diagnosis.
    pub month: Option<(i32, u32)>,
}

/// What an outsider could know of one person of the extract, and who they really are in the
/// release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The person's release pseudonym (the truth the attack is scored against).
    pub pseudonym: String,
    /// Sex as the release labels it (`M`, `F`, `O`, `U`).
    pub sex: Option<String>,
    /// Birth year.
    pub birth_year: Option<i32>,
    /// Prefecture (`東京都`).
    pub prefecture: Option<String>,
    /// Municipality (`府中市`).
    pub municipality: Option<String>,
    /// Every diagnosis of the person in the extract (the attack picks some).
    pub diagnoses: Vec<KnownDiagnosis>,
}

/// The attack's input: the release and, for every released person, what could be known.
#[derive(Debug, Clone)]
pub struct AttackInput<'a> {
    /// The release.
    pub released: &'a Released,
    /// What an outsider could know, one per person of the extract who is in the release.
    pub population: Vec<Known>,
    /// The extract's as-of date (ages are computed at it).
    pub as_of: NaiveDate,
}

/// Parameters of the attack and the names of the release's columns it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackParams {
    /// Seed of the sample and of the choice of diagnoses.
    pub seed: u64,
    /// Persons sampled (all when the population is smaller).
    pub sample: usize,
    /// Diagnoses known per person (at most).
    pub diagnoses: usize,
    /// Limit on the share re-identified uniquely and correctly.
    pub limit: f64,
    /// Persons table.
    pub persons_table: String,
    /// Its pseudonym column (also the person column of the conditions table).
    pub person_id_column: String,
    /// Sex column.
    pub sex_column: String,
    /// Age column.
    pub age_column: String,
    /// Area column.
    pub area_column: String,
    /// Conditions table.
    pub conditions_table: String,
    /// Its code column.
    pub code_column: String,
    /// Its date column (`YYYY-MM`, `YYYY`, shifted `YYYY-MM-DD`, relative days, or absent).
    pub date_column: String,
    /// A shifted full date is compatible with a known month when within this many days of it.
    pub shift_days: i64,
}

impl Default for AttackParams {
    fn default() -> Self {
        AttackParams {
            seed: 0,
            sample: 1000,
            diagnoses: 2,
            limit: 0.05,
            persons_table: "persons".into(),
            person_id_column: "person_id".into(),
            sex_column: "sex".into(),
            age_column: "age".into(),
            area_column: "area".into(),
            conditions_table: "conditions".into(),
            code_column: "icd10".into(),
            date_column: "onset".into(),
            shift_days: 183,
        }
    }
}

/// Run the attack. Deterministic for `params.seed`: the sample and each sampled person's
/// diagnoses are drawn sequentially from a ChaCha8 stream; the matching is parallel and pure.
pub fn run(input: &AttackInput<'_>, params: &AttackParams) -> Attack {
    let released = Release::read(input.released, params);
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let pop = &input.population;
    let n = params.sample.min(pop.len());
    // Partial Fisher–Yates: the first n of a uniform permutation.
    let mut order: Vec<usize> = (0..pop.len()).collect();
    for i in 0..n {
        let j = rng.random_range(i..order.len());
        order.swap(i, j);
    }
    let attackers: Vec<Attacker<'_>> = order[..n]
        .iter()
        .map(|&i| Attacker::draw(&pop[i], params.diagnoses, &mut rng))
        .collect();
    let results: Vec<(bool, bool)> = attackers
        .par_iter()
        .map(|a| {
            let (count, first) = released.compatible(a, input.as_of, params.shift_days);
            let unique = count == 1;
            (unique, unique && first == Some(a.truth))
        })
        .collect();
    let unique = results.iter().filter(|r| r.0).count() as u64;
    let correct = results.iter().filter(|r| r.1).count() as u64;
    let share = if n == 0 {
        0.0
    } else {
        correct as f64 / n as f64
    };
    Attack {
        seed: params.seed,
        sample: n as u64,
        knowledge: vec![
            "sex".into(),
            "birth_year".into(),
            "area (prefecture + municipality)".into(),
            format!("up to {} diagnoses (ICD-10) with month", params.diagnoses),
        ],
        unique_matches: unique,
        correct_unique_matches: correct,
        reidentified_share: share,
        limit: params.limit,
        passed: share < params.limit,
    }
}

/// A known diagnosis: the known code with its ancestors (any of which the release may show), and
/// the month.
type KnownFact = (HashSet<String>, Option<(i32, u32)>);

/// One attacker row: what is known, with each diagnosis's ICD-10 lineage precomputed.
struct Attacker<'a> {
    truth: &'a str,
    sex: Option<&'a str>,
    birth_year: Option<i32>,
    prefecture: Option<&'a str>,
    region: Option<&'static str>,
    municipality: Option<&'a str>,
    diagnoses: Vec<KnownFact>,
}

impl<'a> Attacker<'a> {
    fn draw(k: &'a Known, n: usize, rng: &mut ChaCha8Rng) -> Self {
        // Distinct (code, month) facts, in a fixed order before drawing.
        let mut facts: Vec<&KnownDiagnosis> = Vec::new();
        let mut seen = HashSet::new();
        for d in &k.diagnoses {
            if seen.insert((d.code.as_str(), d.month)) {
                facts.push(d);
            }
        }
        let take = n.min(facts.len());
        for i in 0..take {
            let j = rng.random_range(i..facts.len());
            facts.swap(i, j);
        }
        let tree = tsunagu_model::icd10::tree();
        let diagnoses = facts[..take]
            .iter()
            .map(|d| {
                let mut codes: HashSet<String> =
                    tree.lineage(&d.code).map(|n| n.code.clone()).collect();
                codes.insert(d.code.clone());
                (codes, d.month)
            })
            .collect();
        let prefecture = k.prefecture.as_deref();
        Attacker {
            truth: &k.pseudonym,
            sex: k.sex.as_deref(),
            birth_year: k.birth_year,
            prefecture,
            region: prefecture.and_then(postal::prefecture).map(|p| p.region),
            municipality: k.municipality.as_deref(),
            diagnoses,
        }
    }
}

/// A released diagnosis row: (code, date), as written.
type Row = (Option<String>, Option<String>);

/// The release's persons and their diagnoses, read once.
struct Release {
    persons: Vec<Candidate>,
    diagnoses: HashMap<String, Vec<Row>>,
}

struct Candidate {
    id: String,
    sex: Option<String>,
    age: Option<String>,
    area: Option<String>,
}

fn cell(col: Option<&OutColumn>, i: usize) -> Option<String> {
    col.and_then(|c| c.values.text(i))
}

impl Release {
    fn read(r: &Released, p: &AttackParams) -> Self {
        let mut persons = Vec::new();
        if let Some(t) = r.table(&p.persons_table) {
            let id = t.column(&p.person_id_column);
            let (sex, age, area) = (
                t.column(&p.sex_column),
                t.column(&p.age_column),
                t.column(&p.area_column),
            );
            for i in 0..t.rows() {
                let Some(pid) = cell(id, i) else {
                    continue;
                };
                persons.push(Candidate {
                    id: pid,
                    sex: cell(sex, i),
                    age: cell(age, i),
                    area: cell(area, i),
                });
            }
        }
        let mut diagnoses: HashMap<String, Vec<Row>> = HashMap::new();
        if let Some(t) = r.table(&p.conditions_table) {
            let id = t.column(&p.person_id_column);
            let code = t.column(&p.code_column);
            let date = t.column(&p.date_column);
            // A relative-days column says nothing about the calendar month.
            let date = date.filter(|c| !matches!(c.values, Values::Int(_)));
            for i in 0..t.rows() {
                if let Some(pid) = cell(id, i) {
                    diagnoses
                        .entry(pid)
                        .or_default()
                        .push((cell(code, i), cell(date, i)));
                }
            }
        }
        Release { persons, diagnoses }
    }

    /// How many released persons are compatible with `a` (counting stops at 2) and the first.
    fn compatible(
        &self,
        a: &Attacker<'_>,
        as_of: NaiveDate,
        shift_days: i64,
    ) -> (usize, Option<&str>) {
        let mut count = 0;
        let mut first = None;
        for c in &self.persons {
            if !sex_ok(c.sex.as_deref(), a.sex)
                || !age_ok(c.age.as_deref(), a.birth_year, as_of)
                || !area_ok(c.area.as_deref(), a)
            {
                continue;
            }
            let rows = self.diagnoses.get(&c.id).map_or(&[][..], Vec::as_slice);
            let all = a.diagnoses.iter().all(|(codes, month)| {
                rows.iter().any(|(code, date)| {
                    code_ok(code.as_deref(), codes) && date_ok(date.as_deref(), *month, shift_days)
                })
            });
            if !all {
                continue;
            }
            count += 1;
            if first.is_none() {
                first = Some(c.id.as_str());
            }
            if count >= 2 {
                break;
            }
        }
        (count, first)
    }
}

fn suppressed(v: Option<&str>) -> bool {
    v.is_none_or(|s| s.trim() == "*" || s.trim().is_empty())
}

fn sex_ok(released: Option<&str>, known: Option<&str>) -> bool {
    suppressed(released) || known.is_none() || released == known
}

/// Whether an age label admits an age in `lo..=hi`. Unknown labels admit everything.
pub fn age_label_admits(label: &str, lo: i64, hi: i64) -> bool {
    let l = label.trim();
    if l == "*" || l.is_empty() {
        return true;
    }
    let overlap = |a: i64, b: i64| a <= hi && lo <= b;
    if let Some(n) = l.strip_suffix('+') {
        return n.parse::<i64>().map_or(true, |n| overlap(n, i64::MAX));
    }
    if let Some((a, b)) = l.split_once('-')
        && let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>())
    {
        return overlap(a, b);
    }
    l.parse::<i64>().map_or(true, |n| overlap(n, n))
}

fn age_ok(released: Option<&str>, birth_year: Option<i32>, as_of: NaiveDate) -> bool {
    let (Some(label), Some(y)) = (released, birth_year) else {
        return true;
    };
    // Born in year y: at as_of the person is as_of.year − y − 1 (birthday not yet) or
    // as_of.year − y (birthday passed); the attacker does not know which.
    let hi = i64::from(as_of.year()) - i64::from(y);
    age_label_admits(label, hi - 1, hi)
}

fn area_ok(released: Option<&str>, a: &Attacker<'_>) -> bool {
    if suppressed(released) {
        return true;
    }
    let Some(v) = released.map(str::trim) else {
        return true;
    };
    let Some(pref) = a.prefecture else {
        // Only a municipality name (ambiguous across prefectures): compatible if it ends so.
        return a.municipality.is_none_or(|m| v.ends_with(m));
    };
    if v == pref || Some(v) == a.region {
        return true;
    }
    match a.municipality {
        Some(m) => v.strip_prefix(pref) == Some(m),
        None => v.starts_with(pref),
    }
}

fn code_ok(released: Option<&str>, lineage: &HashSet<String>) -> bool {
    match released {
        None => true,
        Some(c) => {
            let c = c.trim();
            c == "*" || lineage.contains(c)
        }
    }
}

fn date_ok(released: Option<&str>, known: Option<(i32, u32)>, shift_days: i64) -> bool {
    let (Some(d), Some((y, m))) = (released.map(str::trim), known) else {
        return true;
    };
    let parts: Vec<&str> = d.split('-').collect();
    let num = |s: &str| s.parse::<i64>().ok();
    match parts.as_slice() {
        [yy] if yy.len() == 4 => num(yy).is_none_or(|yy| yy == i64::from(y)),
        [yy, mm] if yy.len() == 4 => match (num(yy), num(mm)) {
            (Some(yy), Some(mm)) => yy == i64::from(y) && mm == i64::from(m),
            _ => true,
        },
        [_, _, _] => {
            let Ok(date) = NaiveDate::parse_from_str(d, "%Y-%m-%d") else {
                return true;
            };
            if shift_days == 0 {
                return date.year() == y && date.month() == m;
            }
            // Shifted by at most shift_days either way: compatible when the known month, widened
            // by the shift, contains the date.
            let Some(first) = NaiveDate::from_ymd_opt(y, m, 1) else {
                return true;
            };
            let last = first
                .checked_add_months(chrono::Months::new(1))
                .and_then(|d| d.pred_opt())
                .unwrap_or(first);
            let from = first - chrono::Duration::days(shift_days);
            let to = last + chrono::Duration::days(shift_days);
            from <= date && date <= to
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_labels_and_the_two_year_window() {
        let as_of = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap_or_default();
        // Born 1988: 36 or 37 at the as-of date.
        assert!(age_ok(Some("37"), Some(1988), as_of));
        assert!(age_ok(Some("36"), Some(1988), as_of));
        assert!(!age_ok(Some("38"), Some(1988), as_of));
        assert!(age_ok(Some("35-39"), Some(1988), as_of));
        assert!(!age_ok(Some("40-44"), Some(1988), as_of));
        // 37 is at the edge of 30-36 only through the birthday-not-passed age.
        assert!(age_ok(Some("30-36"), Some(1988), as_of));
        assert!(age_ok(Some("90+"), Some(1930), as_of));
        assert!(!age_ok(Some("90+"), Some(1988), as_of));
        assert!(age_ok(Some("*"), Some(1988), as_of));
    }

    #[test]
    fn dates() {
        assert!(date_ok(Some("2021-03"), Some((2021, 3)), 0));
        assert!(!date_ok(Some("2021-04"), Some((2021, 3)), 0));
        assert!(date_ok(Some("2021"), Some((2021, 3)), 0));
        assert!(!date_ok(Some("2020"), Some((2021, 3)), 0));
        assert!(date_ok(Some("2021-05-10"), Some((2021, 3)), 60));
        assert!(!date_ok(Some("2021-09-10"), Some((2021, 3)), 60));
        assert!(date_ok(None, Some((2021, 3)), 0));
    }

    #[test]
    fn codes_follow_the_tree() {
        let k = Known {
            pseudonym: "p-0".into(),
            sex: None,
            birth_year: None,
            prefecture: Some("東京都".into()),
            municipality: Some("府中市".into()),
            diagnoses: vec![KnownDiagnosis {
                code: "E11.9".into(),
                month: None,
            }],
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = Attacker::draw(&k, 1, &mut rng);
        let (lineage, _) = &a.diagnoses[0];
        assert!(code_ok(Some("E11.9"), lineage));
        assert!(code_ok(Some("E11"), lineage));
        assert!(code_ok(Some("E10-E14"), lineage));
        assert!(!code_ok(Some("E10"), lineage));
        assert!(!code_ok(Some("I10"), lineage));
        assert!(area_ok(Some("東京都府中市"), &a));
        assert!(area_ok(Some("東京都"), &a));
        assert!(area_ok(Some("関東"), &a));
        assert!(!area_ok(Some("広島県府中市"), &a));
        assert!(!area_ok(Some("大阪府"), &a));
    }
}
