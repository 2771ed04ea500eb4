//! From the extract's rows to the released tables, as the policy says: pseudonyms, generalized
//! labels, coarsened dates, top/bottom-coded values, rare codes suppressed.
//!
//! The work is columnar: every table is first turned into typed source columns (one vector per
//! column, rows of persons who are not released already gone), then each column is transformed
//! on its own (in parallel with rayon), and rows removed by suppression are dropped from every
//! column at the end. The privacy decisions (levels of the persons' quasi-identifiers, persons
//! suppressed, the ICD-10 cut of k^m) come from [`crate::privacy`]; this module only applies them.
//!
//! Label formats are those of the release spec (crates/release README): `p-`/`e-`/`r-`/`c-` +
//! 16 hex pseudonyms, sex `M`/`F`/`O`/`U`, age `37` / `35-39` / `30-39` / `20-39` / `*` with a
//! top band `90+`, area `東京都府中市` / `東京都` / `関東` / `*`, dates `YYYY-MM`, `YYYY`, days
//! relative to the person's index date, or shifted `YYYY-MM-DD`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use hmac::{Hmac, KeyInit, Mac};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tsunagu_lake::{
    Checkup, Claim, Condition, Encounter, Lake, Medication, Observation, Person, Procedure,
    YearMonth,
};
use tsunagu_model::Sex;

use crate::dataset::{ColumnRole, OutColumn, OutTable, Released, Values};
use crate::error::ReleaseError;
use crate::policy::{
    Action, CATALOG, CatalogColumn, ColumnKind, ColumnRule, DateTo, Level, Policy, catalog,
};
use crate::report::TransformNote;

type HmacSha256 = Hmac<Sha256>;

/// The rows of an extract, persons who are not released already removed.
#[derive(Debug, Clone, Default)]
pub struct Extract {
    /// One row per person.
    pub persons: Vec<Person>,
    /// Encounters.
    pub encounters: Vec<Encounter>,
    /// Diagnoses.
    pub conditions: Vec<Condition>,
    /// Medications.
    pub medications: Vec<Medication>,
    /// Observations.
    pub observations: Vec<Observation>,
    /// Procedures.
    pub procedures: Vec<Procedure>,
    /// Check-ups.
    pub checkups: Vec<Checkup>,
    /// Claim lines.
    pub claims: Vec<Claim>,
}

impl Extract {
    /// Read every table of an extract, leaving out the persons in `exclude` (linked ids of those
    /// who asked to stop since the extract was built). Returns the extract and how many persons
    /// were left out.
    pub fn read(lake: &Lake, exclude: &BTreeSet<String>) -> Result<(Extract, u64), ReleaseError> {
        let mut persons: Vec<Person> = lake.read_rows()?;
        let before = persons.len();
        persons.retain(|p| !exclude.contains(p.person_id.as_str()));
        let excluded = (before - persons.len()) as u64;
        // The extract has one row per person; should a second one slip in, the first wins so
        // that a person is never released twice.
        let mut seen = HashSet::new();
        persons.retain(|p| seen.insert(p.person_id.as_str().to_owned()));
        let keep = |id: &str| !exclude.contains(id);
        let mut e = Extract {
            persons,
            encounters: lake.read_rows()?,
            conditions: lake.read_rows()?,
            medications: lake.read_rows()?,
            observations: lake.read_rows()?,
            procedures: lake.read_rows()?,
            checkups: lake.read_rows()?,
            claims: lake.read_rows()?,
        };
        e.encounters.retain(|r| keep(r.person_id.as_str()));
        e.conditions.retain(|r| keep(r.person_id.as_str()));
        e.medications.retain(|r| keep(r.person_id.as_str()));
        e.observations.retain(|r| keep(r.person_id.as_str()));
        e.procedures.retain(|r| keep(r.person_id.as_str()));
        e.checkups.retain(|r| keep(r.person_id.as_str()));
        e.claims.retain(|r| keep(r.person_id.as_str()));
        Ok((e, excluded))
    }

    /// Rows per table (persons first).
    pub fn rows(&self) -> BTreeMap<String, u64> {
        BTreeMap::from([
            ("persons".to_owned(), self.persons.len() as u64),
            ("encounters".to_owned(), self.encounters.len() as u64),
            ("conditions".to_owned(), self.conditions.len() as u64),
            ("medications".to_owned(), self.medications.len() as u64),
            ("observations".to_owned(), self.observations.len() as u64),
            ("procedures".to_owned(), self.procedures.len() as u64),
            ("checkups".to_owned(), self.checkups.len() as u64),
            ("claims".to_owned(), self.claims.len() as u64),
        ])
    }
}

/// The release's secret keys: pseudonyms and date shifts. Never written anywhere.
#[derive(Clone)]
pub struct ReleaseKeys {
    pseudonym: [u8; 32],
    shift: [u8; 32],
}

impl std::fmt::Debug for ReleaseKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReleaseKeys([redacted])")
    }
}

impl ReleaseKeys {
    /// Keys of a release: random, or with a seed SHA-256("tsunagu release pseudonym" ‖ seed ‖
    /// release id), so that two releases never share pseudonyms even with the same seed.
    pub fn new(seed: Option<u64>, release_id: &str) -> Result<ReleaseKeys, ReleaseError> {
        let master: [u8; 32] = match seed {
            Some(s) => {
                let mut h = Sha256::new();
                h.update(b"tsunagu release pseudonym");
                h.update(s.to_be_bytes());
                h.update(release_id.as_bytes());
                h.finalize().into()
            }
            None => {
                let mut b = [0u8; 32];
                getrandom::fill(&mut b)
                    .map_err(|_| ReleaseError::Internal("no system randomness".into()))?;
                b
            }
        };
        let mut h = Sha256::new();
        h.update(b"tsunagu release date shift");
        h.update(master);
        Ok(ReleaseKeys {
            pseudonym: master,
            shift: h.finalize().into(),
        })
    }

    fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut m) = <HmacSha256 as KeyInit>::new_from_slice(key) else {
            unreachable!("HMAC takes any key length")
        };
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// The pseudonym of `value` with `prefix` (`p-`, `e-`, `r-`, `c-`, `h-`): prefix + 16 hex.
    pub fn pseudonym(&self, prefix: &str, value: &str) -> String {
        let d = Self::mac(&self.pseudonym, &[prefix.as_bytes(), value.as_bytes()]);
        format!("{prefix}{}", hex::encode(&d[..8]))
    }

    /// The date shift of a person, uniform in `-days..=days`.
    pub fn shift_days(&self, person: &str, days: u32) -> i64 {
        let d = Self::mac(&self.shift, &[person.as_bytes()]);
        let x = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
        let span = 2 * u64::from(days) + 1;
        (x % span) as i64 - i64::from(days)
    }

    /// A seed for the attack test derived from the key (used when the release has no seed).
    pub fn derived_seed(&self) -> u64 {
        let d = Self::mac(&self.shift, &[b"attack"]);
        u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }
}

/// Pseudonymizes with a collision check: two different values with the same pseudonym would
/// merge two people or events, so that is an internal error (never expected: 64 bits).
struct Pseudonymizer<'k> {
    keys: &'k ReleaseKeys,
    seen: HashMap<String, String>,
}

impl<'k> Pseudonymizer<'k> {
    fn new(keys: &'k ReleaseKeys) -> Self {
        Pseudonymizer {
            keys,
            seen: HashMap::new(),
        }
    }

    fn get(&mut self, prefix: &str, value: &str) -> Result<String, ReleaseError> {
        let p = self.keys.pseudonym(prefix, value);
        match self.seen.get(&p) {
            Some(v) if v != value => Err(ReleaseError::Internal(format!(
                "pseudonym collision in prefix {prefix}"
            ))),
            Some(_) => Ok(p),
            None => {
                self.seen.insert(p.clone(), value.to_owned());
                Ok(p)
            }
        }
    }
}

/// The release label of a sex.
pub fn sex_label(s: Sex) -> &'static str {
    match s {
        Sex::Male => "M",
        Sex::Female => "F",
        Sex::Other => "O",
        Sex::Unknown => "U",
    }
}

/// Age in whole years on `as_of` of someone born in `birth` (taking the 1st of the month).
pub fn age_at(birth: YearMonth, as_of: NaiveDate) -> Option<u32> {
    let b = birth.first_day();
    let mut years = as_of.year() - b.year();
    if (as_of.month(), as_of.day()) < (b.month(), b.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

/// Width of the band at an age level (levels 1–3).
fn band_width(level: usize) -> u32 {
    match level {
        1 => 5,
        2 => 10,
        _ => 20,
    }
}

/// The age label at `level` (0 exact, 1 five-year, 2 ten-year, 3 twenty-year, 4 `*`), with ages
/// at or above `top` shown as `<top>+` at every level below 4 and bands capped below `top`.
pub fn age_label(age: Option<u32>, level: usize, top: Option<u32>) -> String {
    let Some(a) = age else {
        return "*".into();
    };
    if level >= 4 {
        return "*".into();
    }
    if let Some(t) = top
        && a >= t
    {
        return format!("{t}+");
    }
    if level == 0 {
        return a.to_string();
    }
    let w = band_width(level);
    let lo = a / w * w;
    let mut hi = lo + w - 1;
    if let Some(t) = top {
        hi = hi.min(t.saturating_sub(1));
    }
    format!("{lo}-{hi}")
}

/// The 10-year band of an age (`30-39`, or `<top>+`), as used by the utility statistics.
pub fn age_band10(age: u32, top: Option<u32>) -> String {
    age_label(Some(age), 2, top)
}

/// The prefecture of a 3-digit postal prefix.
pub fn prefecture_of_postal3(p3: &str) -> Option<&'static str> {
    tsunagu_model::postal::prefecture_of_area(p3, None)
}

/// The area label at `level` (0 `<prefecture><municipality>`, 1 prefecture, 2 region, 3 `*`).
/// Without a municipality, level 0 is the prefecture; without a prefecture, `*`.
pub fn area_label(prefecture: Option<&str>, municipality: Option<&str>, level: usize) -> String {
    let Some(p) = prefecture else {
        return "*".into();
    };
    match level {
        0 => match municipality {
            Some(m) if !m.is_empty() => format!("{p}{m}"),
            _ => p.to_owned(),
        },
        1 => p.to_owned(),
        2 => tsunagu_model::postal::prefecture(p)
            .map_or_else(|| "*".to_owned(), |x| x.region.to_owned()),
        _ => "*".into(),
    }
}

/// An ICD-10 code at a level: 0 as it is, 1 category (`E11`), 2 outermost block (`E10-E14`),
/// 3 chapter (as the WHO tree labels it). `None` when the tree does not know the code well
/// enough to generalize it (the row is then suppressed).
pub fn icd10_label(code: &str, level: u8) -> Option<String> {
    let tree = tsunagu_model::icd10::tree();
    if level == 0 {
        return Some(code.to_owned());
    }
    // Codes missing from the WHO tree (Japanese extensions) generalize through their category.
    let anchor = if tree.get(code).is_some() {
        code.to_owned()
    } else {
        code.get(..3).filter(|c| tree.get(c).is_some())?.to_owned()
    };
    match level {
        1 => tree
            .lineage(&anchor)
            .find(|n| n.level == tsunagu_model::icd10::Level::Category)
            .map(|n| n.code.clone()),
        2 => tree.block_of(&anchor).map(|n| n.code.clone()),
        _ => tree.chapter_of(&anchor).map(|n| n.code.clone()),
    }
}

/// A drug code at a level: 0 as it is; for YJ codes (12 characters) 1 = the first 4 digits
/// (薬効分類), 2 = first 3, 3 = first 2, 4 = first digit. `None` for a non-YJ code above level 0
/// (it cannot be generalized, so the row's code is removed).
pub fn drug_label(system: Option<&str>, code: &str, level: u8) -> Option<String> {
    if level == 0 {
        return Some(code.to_owned());
    }
    let yj = system.is_none_or(|s| s.eq_ignore_ascii_case("yj"))
        && code.len() == 12
        && code
            .get(..4)
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !yj {
        return None;
    }
    let n = 5usize.saturating_sub(usize::from(level)).max(1);
    code.get(..n).map(str::to_owned)
}

/// What the release needs to know about one person.
#[derive(Debug, Clone)]
pub struct PersonInfo {
    /// Linked person id (never released).
    pub linked: String,
    /// Release pseudonym.
    pub pseudonym: String,
    /// Provider id of the persons row (never released as is).
    pub provider: String,
    /// Sex.
    pub sex: Sex,
    /// Birth month.
    pub birth_month: Option<YearMonth>,
    /// Age at the reference date.
    pub age: Option<u32>,
    /// Prefecture (from postal3).
    pub prefecture: Option<&'static str>,
    /// Municipality.
    pub municipality: Option<String>,
    /// Postal3.
    pub postal3: Option<String>,
    /// Year of death.
    pub deceased_year: Option<i32>,
    /// First event date in the extract.
    pub index_date: Option<NaiveDate>,
}

/// Typed source column values.
#[derive(Debug, Clone)]
enum Src {
    Text(Vec<Option<String>>),
    Date(Vec<Option<NaiveDate>>),
    DateTime(Vec<Option<NaiveDateTime>>),
    Month(Vec<Option<YearMonth>>),
    Float(Vec<Option<f64>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
}

impl Src {
    fn date(&self, i: usize) -> Option<NaiveDate> {
        match self {
            Src::Date(v) => v[i],
            Src::DateTime(v) => v[i].map(|d| d.date()),
            Src::Month(v) => v[i].map(YearMonth::first_day),
            _ => None,
        }
    }
    fn text(&self, i: usize) -> Option<&str> {
        match self {
            Src::Text(v) => v[i].as_deref(),
            _ => None,
        }
    }
}

/// One table as source columns, rows ordered by person (release order) then lake order.
struct SrcTable {
    name: &'static str,
    /// Index into the persons list, per row.
    person: Vec<usize>,
    cols: Vec<(&'static str, Src)>,
}

impl SrcTable {
    fn col(&self, name: &str) -> Option<&Src> {
        self.cols.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }
}

fn t(s: &Option<String>) -> Option<String> {
    s.clone()
}

macro_rules! src_table {
    ($name:literal, $rows:expr, $index:expr; $($col:literal => $kind:ident |$r:ident| $e:expr),+ $(,)?) => {{
        let mut sel: Vec<(usize, usize)> = $rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| $index.get(r.person_id.as_str()).map(|&p| (p, i)))
            .collect();
        sel.sort_by_key(|&(p, i)| (p, i));
        let rows = &$rows;
        SrcTable {
            name: $name,
            person: sel.iter().map(|&(p, _)| p).collect(),
            cols: vec![$(
                ($col, Src::$kind(sel.iter().map(|&(_, i)| { let $r = &rows[i]; $e }).collect())),
            )+],
        }
    }};
}

fn source_tables(e: &Extract, index: &HashMap<&str, usize>) -> Vec<SrcTable> {
    vec![
        src_table!("encounters", e.encounters, index;
            "person_id" => Text |r| Some(r.person_id.as_str().to_owned()),
            "provider_id" => Text |r| Some(r.provider_id.as_str().to_owned()),
            "encounter_id" => Text |r| Some(r.encounter_id.clone()),
            "class" => Text |r| r.class.map(|c| c.as_str().to_owned()),
            "start" => DateTime |r| r.start,
            "end" => DateTime |r| r.end,
            "department_code" => Text |r| t(&r.department_code),
            "department" => Text |r| t(&r.department),
        ),
        src_table!("conditions", e.conditions, index;
            "person_id" => Text |r| Some(r.person_id.as_str().to_owned()),
            "provider_id" => Text |r| Some(r.provider_id.as_str().to_owned()),
            "record_id" => Text |r| Some(r.record_id.clone()),
            "encounter_id" => Text |r| t(&r.encounter_id),
            "icd10" => Text |r| r.icd10.as_ref().map(|c| c.as_str().to_owned()),
            "code_system" => Text |r| t(&r.code_system),
            "code" => Text |r| t(&r.code),
            "name" => Text |r| t(&r.name),
            "suspected" => Bool |r| Some(r.suspected),
            "primary" => Bool |r| Some(r.primary),
            "onset" => Date |r| r.onset,
            "recorded" => Date |r| r.recorded,
            "abated" => Date |r| r.abated,
            "status" => Text |r| t(&r.status),
        ),
        src_table!("medications", e.medications, index;
            "person_id" => Text |r| Some(r.person_id.as_str().to_owned()),
            "provider_id" => Text |r| Some(r.provider_id.as_str().to_owned()),
            "record_id" => Text |r| Some(r.record_id.clone()),
            "encounter_id" => Text |r| t(&r.encounter_id),
            "kind" => Text |r| Some(r.kind.as_str().to_owned()),
            "code_system" => Text |r| t(&r.code_system),
            "code" => Text |r| t(&r.code),
            "name" => Text |r| t(&r.name),
            "dose" => Float |r| r.dose,
            "unit" => Text |r| t(&r.unit),
            "usage" => Text |r| t(&r.usage),
            "days" => Int |r| r.days.map(i64::from),
            "start" => Date |r| r.start,
            "end" => Date |r| r.end,
            "status" => Text |r| t(&r.status),
        ),
        src_table!("observations", e.observations, index;
            "person_id" => Text |r| Some(r.person_id.as_str().to_owned()),
            "provider_id" => Text |r| Some(r.provider_id.as_str().to_owned()),
            "record_id" => Text |r| Some(r.record_id.clone()),
            "encounter_id" => Text |r| t(&r.encounter_id),
            "category" => Text |r| Some(r.category.as_str().to_owned()),
            "code_system" => Text |r| t(&r.code_system),
            "code" => Text |r| t(&r.code),
            "name" => Text |r| t(&r.name),
            "value" => Float |r| r.value,
            "value_text" => Text |r| t(&r.value_text),
            "unit" => Text |r| t(&r.unit),
            "reference_range" => Text |r| t(&r.reference_range),
            "interpretation" => Text |r| t(&r.interpretation),
            "effective" => DateTime |r| r.effective,
            "status" => Text |r| t(&r.status),
        ),
        src_table!("procedures", e.procedures, index;
            "person_id" => Text |r| Some(r.person_id.as_str().to_owned()),
            "provider_id" => Text |r| Some(r.provider_id.as_str().to_owned()),
            "record_id" => Text |r| Some(r.record_id.clone()),
            "encounter_id" => Text |r| t(&r.encounter_id),
            "code_system" => Text |r| t(&r.code_system),
            "code" => Text |r| t(&r.code),
            "name" => Text |r| t(&r.name),
            "performed" => DateTime |r| r.performed,
            "status" => Text |r| t(&r.status),
        ),
        src_table!("checkups", e.checkups, index;
            "person_id" => Text |r| Some(r.person_id.as_str().to_owned()),
            "provider_id" => Text |r| Some(r.provider_id.as_str().to_owned()),
            "record_id" => Text |r| Some(r.record_id.clone()),
            "program" => Text |r| Some(r.program.as_str().to_owned()),
            "date" => Date |r| r.date,
            "code_system" => Text |r| t(&r.code_system),
            "code" => Text |r| t(&r.code),
            "name" => Text |r| t(&r.name),
            "value" => Float |r| r.value,
            "value_text" => Text |r| t(&r.value_text),
            "unit" => Text |r| t(&r.unit),
        ),
        src_table!("claims", e.claims, index;
            "person_id" => Text |r| Some(r.person_id.as_str().to_owned()),
            "provider_id" => Text |r| Some(r.provider_id.as_str().to_owned()),
            "record_id" => Text |r| Some(r.record_id.clone()),
            "claim_id" => Text |r| Some(r.claim_id.clone()),
            "service_month" => Month |r| Some(r.service_month),
            "facility_code" => Text |r| t(&r.facility_code),
            "line" => Int |r| Some(i64::from(r.line)),
            "kind" => Text |r| Some(r.kind.clone()),
            "code_system" => Text |r| t(&r.code_system),
            "code" => Text |r| t(&r.code),
            "name" => Text |r| t(&r.name),
            "quantity" => Float |r| r.quantity,
            "points" => Float |r| r.points,
            "care_level" => Text |r| t(&r.care_level),
        ),
    ]
}

/// The persons of the extract, in release order (sorted by pseudonym, so row order says
/// nothing about the extract), with their derived facts.
pub fn persons_info(
    e: &Extract,
    keys: &ReleaseKeys,
    as_of: NaiveDate,
) -> Result<Vec<PersonInfo>, ReleaseError> {
    let mut pz = Pseudonymizer::new(keys);
    let mut out = Vec::with_capacity(e.persons.len());
    for p in &e.persons {
        let postal3 = p.postal3.as_ref().map(|x| x.as_str().to_owned());
        out.push(PersonInfo {
            linked: p.person_id.as_str().to_owned(),
            pseudonym: pz.get("p-", p.person_id.as_str())?,
            provider: p.provider_id.as_str().to_owned(),
            sex: p.sex,
            birth_month: p.birth_month,
            age: p.birth_month.and_then(|b| age_at(b, as_of)),
            prefecture: postal3.as_deref().and_then(prefecture_of_postal3),
            municipality: p.municipality.clone(),
            postal3,
            deceased_year: p.deceased_date.map(|d| d.year()),
            index_date: None,
        });
    }
    out.sort_by(|a, b| a.pseudonym.cmp(&b.pseudonym));
    // Index date: the first event of the person in any table of the extract.
    let index: HashMap<&str, usize> = out
        .iter()
        .enumerate()
        .map(|(i, p)| (p.linked.as_str(), i))
        .collect();
    let mut first: Vec<Option<NaiveDate>> = vec![None; out.len()];
    for st in source_tables(e, &index) {
        for (_, src) in &st.cols {
            if !matches!(src, Src::Date(_) | Src::DateTime(_) | Src::Month(_)) {
                continue;
            }
            for (row, &p) in st.person.iter().enumerate() {
                if let Some(d) = src.date(row) {
                    first[p] = Some(first[p].map_or(d, |f| f.min(d)));
                }
            }
        }
    }
    for (p, f) in out.iter_mut().zip(first) {
        p.index_date = f;
    }
    Ok(out)
}

/// Decisions of the privacy models, applied by [`apply`].
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// Level of each persons quasi-identifier column (`sex`, `age`, `area`) chosen or fixed.
    pub levels: BTreeMap<String, usize>,
    /// Per person (release order): all quasi-identifiers suppressed (`*`).
    pub suppressed: Vec<bool>,
    /// The ICD-10 cut chosen by k^m. When absent the rule's fixed level applies.
    pub icd10: Option<IcdCut>,
}

/// The ICD-10 cut of k^m: one code → label map per group of persons (one group for the whole
/// release, or one per equivalence class of the quasi-identifiers when k^m is enforced within
/// classes). A label `None` means suppressed (the row is removed).
#[derive(Debug, Clone, Default)]
pub struct IcdCut {
    /// Per person (release order): the index of their group's map.
    pub group_of: Vec<usize>,
    /// Per group: source code → released label.
    pub maps: Vec<HashMap<String, Option<String>>>,
}

/// The level a persons quasi-identifier column takes without a search.
pub fn fixed_level(rule: &ColumnRule) -> usize {
    match rule.action {
        Action::Generalize(Level::Fixed(l)) => usize::from(l),
        // A searched level without a model to drive it is refused by the policy parser.
        _ => 0,
    }
}

/// The label of a persons quasi-identifier at a level.
pub fn qi_label(p: &PersonInfo, column: &str, level: usize, top: Option<u32>) -> String {
    match column {
        "sex" => {
            if level == 0 {
                sex_label(p.sex).to_owned()
            } else {
                "*".to_owned()
            }
        }
        "age" => age_label(p.age, level, top),
        "area" => area_label(p.prefecture, p.municipality.as_deref(), level),
        _ => "*".to_owned(),
    }
}

/// A lab (or check-up) item's bounds applied by top/bottom-coding.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedBound {
    /// Table.
    pub table: String,
    /// Item code as released.
    pub code: String,
    /// Bottom code.
    pub low: f64,
    /// Top code.
    pub high: f64,
}

/// The transformed release and what was done.
#[derive(Debug, Clone)]
pub struct Transformed {
    /// The tables.
    pub released: Released,
    /// One note per catalog column.
    pub notes: Vec<TransformNote>,
    /// Bounds applied by top/bottom-coding.
    pub bounds: Vec<AppliedBound>,
}

fn role(kind: ColumnKind, qi: bool) -> ColumnRole {
    match kind {
        ColumnKind::PersonId | ColumnKind::ProviderId | ColumnKind::EventId(_) => {
            ColumnRole::Pseudonym
        }
        ColumnKind::Sex | ColumnKind::Age | ColumnKind::Area if qi => ColumnRole::QuasiIdentifier,
        ColumnKind::Month | ColumnKind::Year | ColumnKind::Date | ColumnKind::DateTime => {
            ColumnRole::Date
        }
        ColumnKind::Icd10 | ColumnKind::DrugCode | ColumnKind::Code => ColumnRole::Code,
        ColumnKind::Measure | ColumnKind::Number => ColumnRole::Measure,
        _ => ColumnRole::Attribute,
    }
}

fn prefix_of(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::PersonId => "p-",
        ColumnKind::ProviderId => "h-",
        ColumnKind::EventId(p) => p,
        _ => "x-",
    }
}

/// A short description of a rule for notes and the data dictionary.
pub fn rule_detail(rule: &ColumnRule, kind: ColumnKind, level: Option<usize>) -> String {
    let mut s = match rule.action {
        Action::Drop => "not released".to_owned(),
        Action::Keep => "as in the extract".to_owned(),
        Action::Pseudonym => format!("release-scoped pseudonym {}<16 hex>", prefix_of(kind)),
        Action::Generalize(Level::Fixed(l)) => format!("level {l} of {}", hierarchy_name(kind)),
        Action::Generalize(Level::Search { max }) => match level {
            Some(l) => format!(
                "level {l} of {} (searched, at most {max})",
                hierarchy_name(kind)
            ),
            None => format!("{} cut chosen by k^m-anonymity", hierarchy_name(kind)),
        },
        Action::Date(DateTo::Day) => "date (YYYY-MM-DD)".to_owned(),
        Action::Date(DateTo::Month) => "month (YYYY-MM)".to_owned(),
        Action::Date(DateTo::Year) => "year (YYYY)".to_owned(),
        Action::Date(DateTo::Relative) => {
            "days since the person's first event in the extract".to_owned()
        }
        Action::Date(DateTo::Shift { days }) => {
            format!("shifted by a random per-person offset within ±{days} days (YYYY-MM-DD)")
        }
        Action::TopBottomCode { lower, upper } => format!(
            "top/bottom-coded per item at the {:.0}th / {:.0}th percentiles",
            lower * 100.0,
            upper * 100.0
        ),
    };
    if let Some(n) = rule.suppress_rare {
        s.push_str(&format!(
            "; rows with codes held by fewer than {n} persons removed"
        ));
    }
    s
}

fn hierarchy_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Age => "age (exact, 5-, 10-, 20-year bands, *)",
        ColumnKind::Area => "area (municipality, prefecture, region, *)",
        ColumnKind::Icd10 => "ICD-10 (code, category, block, chapter)",
        ColumnKind::DrugCode => "drug code (code, YJ 4, 3, 2, 1 digits)",
        ColumnKind::Sex => "sex (value, *)",
        _ => "hierarchy",
    }
}

/// Quantile of sorted values (linear interpolation between order statistics, R type 7).
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    let (a, b) = (sorted[lo], sorted[hi.min(sorted.len() - 1)]);
    Some(a + (b - a) * (h - lo as f64))
}

fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Apply the policy and the privacy decisions to the extract.
pub fn apply(
    e: &Extract,
    persons: &[PersonInfo],
    policy: &Policy,
    decisions: &Decisions,
    keys: &ReleaseKeys,
) -> Result<Transformed, ReleaseError> {
    let top = policy.privacy.age_top_code;
    let qis: Vec<String> = policy
        .privacy
        .k_anonymity
        .as_ref()
        .map(|k| k.quasi_identifiers.clone())
        .unwrap_or_default();
    let mut notes = Vec::new();
    let mut tables = Vec::new();

    // persons
    let pcat = catalog("persons").unwrap_or(&[]);
    let mut pcols = Vec::new();
    let mut pz = Pseudonymizer::new(keys);
    for c in pcat {
        let rule = policy.rule("persons", c.name);
        if rule.action == Action::Drop {
            notes.push(note("persons", c, &rule, None, 0));
            continue;
        }
        let is_qi = qis.iter().any(|q| q == c.name);
        let mut changed = 0u64;
        let mut level = None;
        let values = match c.kind {
            ColumnKind::PersonId => {
                Values::Text(persons.iter().map(|p| Some(p.pseudonym.clone())).collect())
            }
            ColumnKind::ProviderId => Values::Text(
                persons
                    .iter()
                    .map(|p| pz.get("h-", &p.provider).map(Some))
                    .collect::<Result<_, _>>()?,
            ),
            ColumnKind::Sex | ColumnKind::Age | ColumnKind::Area => {
                let l = decisions
                    .levels
                    .get(c.name)
                    .copied()
                    .unwrap_or_else(|| fixed_level(&rule));
                level = Some(l);
                Values::Text(
                    persons
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            let exact = qi_label(p, c.name, 0, None);
                            let v =
                                if is_qi && decisions.suppressed.get(i).copied().unwrap_or(false) {
                                    "*".to_owned()
                                } else {
                                    qi_label(p, c.name, l, top)
                                };
                            if v != exact {
                                changed += 1;
                            }
                            Some(v)
                        })
                        .collect(),
                )
            }
            ColumnKind::Month => Values::Text(
                persons
                    .iter()
                    .map(|p| {
                        p.birth_month.map(|b| match rule.action {
                            Action::Date(DateTo::Year) => {
                                changed += 1;
                                b.first_day().format("%Y").to_string()
                            }
                            _ => b.first_day().format("%Y-%m").to_string(),
                        })
                    })
                    .collect(),
            ),
            ColumnKind::Postal3 => {
                Values::Text(persons.iter().map(|p| p.postal3.clone()).collect())
            }
            ColumnKind::Year => Values::Int(
                persons
                    .iter()
                    .map(|p| p.deceased_year.map(i64::from))
                    .collect(),
            ),
            _ => continue,
        };
        notes.push(note("persons", c, &rule, level, changed));
        pcols.push(OutColumn {
            name: c.name.to_owned(),
            role: role(c.kind, is_qi),
            description_ja: c.ja.to_owned(),
            description_en: c.en.to_owned(),
            values,
        });
    }
    tables.push(OutTable {
        name: "persons".into(),
        columns: pcols,
    });

    let index: HashMap<&str, usize> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| (p.linked.as_str(), i))
        .collect();
    let sources = source_tables(e, &index);
    let results: Vec<Result<TableResult, ReleaseError>> = sources
        .par_iter()
        .map(|st| event_table(st, persons, policy, decisions, keys))
        .collect();
    let mut bounds = Vec::new();
    for r in results {
        let (table, n, b) = r?;
        notes.extend(n);
        bounds.extend(b);
        if let Some(t) = table {
            tables.push(t);
        }
    }
    Ok(Transformed {
        released: Released { tables },
        notes,
        bounds,
    })
}

fn note(
    table: &str,
    c: &CatalogColumn,
    rule: &ColumnRule,
    level: Option<usize>,
    changed: u64,
) -> TransformNote {
    TransformNote {
        table: table.to_owned(),
        column: c.name.to_owned(),
        action: rule.action.name().to_owned(),
        detail: rule_detail(rule, c.kind, level),
        changed,
    }
}

type TableResult = (Option<OutTable>, Vec<TransformNote>, Vec<AppliedBound>);

fn event_table(
    st: &SrcTable,
    persons: &[PersonInfo],
    policy: &Policy,
    decisions: &Decisions,
    keys: &ReleaseKeys,
) -> Result<TableResult, ReleaseError> {
    let cat = catalog(st.name).unwrap_or(&[]);
    let n = st.person.len();
    let mut notes = Vec::new();
    let mut bounds = Vec::new();
    if !policy.releases_table(st.name) {
        for c in cat {
            notes.push(TransformNote {
                table: st.name.to_owned(),
                column: c.name.to_owned(),
                action: "drop".into(),
                detail: "table not released".into(),
                changed: 0,
            });
        }
        return Ok((None, notes, bounds));
    }
    let mut keep_row = vec![true; n];
    // Rows whose diagnosis k^m released without its period: their dates are withheld too.
    let mut undated = vec![false; n];
    let mut cols: Vec<OutColumn> = Vec::new();
    // Codes used for rare-code suppression, per column index into `cols`.
    let mut rare: Vec<(usize, u32)> = Vec::new();
    for c in cat {
        let rule = policy.rule(st.name, c.name);
        let Some(src) = st.col(c.name) else {
            continue;
        };
        if rule.action == Action::Drop {
            notes.push(note(st.name, c, &rule, None, 0));
            continue;
        }
        let mut changed = 0u64;
        let values = match (rule.action, src) {
            (Action::Pseudonym, Src::Text(v)) => {
                if c.kind == ColumnKind::PersonId {
                    Values::Text(
                        st.person
                            .iter()
                            .map(|&p| Some(persons[p].pseudonym.clone()))
                            .collect(),
                    )
                } else {
                    let mut pz = Pseudonymizer::new(keys);
                    let prefix = prefix_of(c.kind);
                    Values::Text(
                        v.iter()
                            .map(|x| x.as_deref().map(|s| pz.get(prefix, s)).transpose())
                            .collect::<Result<_, _>>()?,
                    )
                }
            }
            (Action::Keep, Src::Text(v)) => Values::Text(v.clone()),
            (Action::Keep, Src::Float(v)) => Values::Float(v.clone()),
            (Action::Keep, Src::Int(v)) => Values::Int(v.clone()),
            (Action::Keep, Src::Bool(v)) => Values::Bool(v.clone()),
            (Action::Keep, Src::Date(v)) => {
                Values::Text(v.iter().map(|d| d.map(fmt_date)).collect())
            }
            (Action::Keep, Src::DateTime(v)) => Values::Text(
                v.iter()
                    .map(|d| d.map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string()))
                    .collect(),
            ),
            (Action::Keep, Src::Month(v)) => Values::Text(
                v.iter()
                    .map(|d| d.map(|d| d.first_day().format("%Y-%m").to_string()))
                    .collect(),
            ),
            (Action::Date(to), src) => date_values(st, src, to, persons, keys, &mut changed),
            (Action::Generalize(level), Src::Text(v)) => match c.kind {
                ColumnKind::Icd10 => {
                    let fixed = match level {
                        Level::Fixed(l) => l,
                        Level::Search { .. } => 0,
                    };
                    let mut out = Vec::with_capacity(n);
                    let onset = st.col("onset");
                    for (i, x) in v.iter().enumerate() {
                        let label = match x {
                            None => None,
                            Some(code) => {
                                let l = match &decisions.icd10 {
                                    Some(cut) => {
                                        let day = match onset {
                                            Some(Src::Date(d)) => d.get(i).copied().flatten(),
                                            _ => None,
                                        };
                                        let item = crate::privacy::dated_item(code, day, policy);
                                        let released = cut
                                            .group_of
                                            .get(st.person[i])
                                            .and_then(|g| cut.maps.get(*g))
                                            .and_then(|m| m.get(&item).cloned())
                                            .flatten();
                                        released.map(|r| {
                                            let (label, period) = crate::privacy::split_item(&r);
                                            if period.is_none()
                                                && item.contains(crate::privacy::PERIOD_SEP)
                                            {
                                                undated[i] = true;
                                            }
                                            label.to_owned()
                                        })
                                    }
                                    None => icd10_label(code, fixed),
                                };
                                if l.is_none() {
                                    keep_row[i] = false;
                                }
                                if l.as_deref() != Some(code.as_str()) {
                                    changed += 1;
                                }
                                l
                            }
                        };
                        out.push(label);
                    }
                    Values::Text(out)
                }
                ColumnKind::DrugCode => {
                    let l = match level {
                        Level::Fixed(l) => l,
                        Level::Search { max } => max,
                    };
                    let sys = st.col("code_system");
                    Values::Text(
                        v.iter()
                            .enumerate()
                            .map(|(i, x)| {
                                let code = x.as_deref()?;
                                let out = drug_label(sys.and_then(|s| s.text(i)), code, l);
                                if out.as_deref() != Some(code) {
                                    changed += 1;
                                }
                                out
                            })
                            .collect(),
                    )
                }
                _ => {
                    return Err(ReleaseError::Internal(format!(
                        "{}.{}: no hierarchy",
                        st.name, c.name
                    )));
                }
            },
            (Action::TopBottomCode { lower, upper }, Src::Float(v)) => {
                let codes = st.col("code");
                let mut by_code: BTreeMap<String, Vec<f64>> = BTreeMap::new();
                for (i, x) in v.iter().enumerate() {
                    if let Some(x) = x.filter(|x| x.is_finite()) {
                        let code = codes.and_then(|c| c.text(i)).unwrap_or("").to_owned();
                        by_code.entry(code).or_default().push(x);
                    }
                }
                let mut b: HashMap<String, (f64, f64)> = HashMap::new();
                for (code, mut xs) in by_code {
                    xs.sort_by(f64::total_cmp);
                    if let (Some(lo), Some(hi)) = (quantile(&xs, lower), quantile(&xs, upper)) {
                        bounds.push(AppliedBound {
                            table: st.name.to_owned(),
                            code: code.clone(),
                            low: lo,
                            high: hi,
                        });
                        b.insert(code, (lo, hi));
                    }
                }
                Values::Float(
                    v.iter()
                        .enumerate()
                        .map(|(i, x)| {
                            let x = (*x)?;
                            let code = codes.and_then(|c| c.text(i)).unwrap_or("");
                            let Some(&(lo, hi)) = b.get(code) else {
                                return Some(x);
                            };
                            let y = x.clamp(lo, hi);
                            if y != x {
                                changed += 1;
                            }
                            Some(y)
                        })
                        .collect(),
                )
            }
            _ => {
                return Err(ReleaseError::Internal(format!(
                    "{}.{}: action {} has no implementation for this column type",
                    st.name,
                    c.name,
                    rule.action.name()
                )));
            }
        };
        if let Some(min) = rule.suppress_rare {
            rare.push((cols.len(), min));
        }
        let qi = false;
        notes.push(note(st.name, c, &rule, None, changed));
        cols.push(OutColumn {
            name: c.name.to_owned(),
            role: role(c.kind, qi),
            description_ja: c.ja.to_owned(),
            description_en: c.en.to_owned(),
            values,
        });
    }
    // Rare codes: rows whose released code is held by fewer than `min` persons are removed.
    // Removing rows for one column can make another's codes rarer, so repeat until stable.
    let mut removed_rare: BTreeMap<usize, u64> = BTreeMap::new();
    loop {
        let mut any = false;
        for &(ci, min) in &rare {
            let Values::Text(v) = &cols[ci].values else {
                continue;
            };
            let mut holders: HashMap<&str, HashSet<usize>> = HashMap::new();
            for (i, x) in v.iter().enumerate() {
                if let (true, Some(x)) = (keep_row[i], x) {
                    holders.entry(x.as_str()).or_default().insert(st.person[i]);
                }
            }
            for (i, x) in v.iter().enumerate() {
                if let (true, Some(x)) = (keep_row[i], x)
                    && holders.get(x.as_str()).map_or(0, HashSet::len) < min as usize
                {
                    keep_row[i] = false;
                    *removed_rare.entry(ci).or_insert(0) += 1;
                    any = true;
                }
            }
        }
        if !any {
            break;
        }
    }
    for (ci, count) in removed_rare {
        let name = cols[ci].name.clone();
        if let Some(n) = notes
            .iter_mut()
            .find(|n| n.table == st.name && n.column == name)
        {
            n.changed += count;
        }
    }
    if undated.iter().any(|u| *u) {
        let dates: Vec<&str> = cat
            .iter()
            .filter(|c| matches!(st.col(c.name), Some(Src::Date(_) | Src::DateTime(_))))
            .map(|c| c.name)
            .collect();
        for c in cols.iter_mut().filter(|c| dates.contains(&c.name.as_str())) {
            match &mut c.values {
                Values::Text(v) => blank(v, &undated),
                Values::Int(v) => blank(v, &undated),
                Values::Float(v) => blank(v, &undated),
                Values::Bool(v) => blank(v, &undated),
            }
        }
    }
    if keep_row.iter().any(|k| !k) {
        for c in &mut cols {
            c.values = filter(&c.values, &keep_row);
        }
    }
    Ok((
        Some(OutTable {
            name: st.name.to_owned(),
            columns: cols,
        }),
        notes,
        bounds,
    ))
}

fn filter(v: &Values, keep: &[bool]) -> Values {
    fn f<T: Clone>(v: &[T], keep: &[bool]) -> Vec<T> {
        v.iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(x, _)| x.clone())
            .collect()
    }
    match v {
        Values::Text(x) => Values::Text(f(x, keep)),
        Values::Float(x) => Values::Float(f(x, keep)),
        Values::Int(x) => Values::Int(f(x, keep)),
        Values::Bool(x) => Values::Bool(f(x, keep)),
    }
}

fn date_values(
    st: &SrcTable,
    src: &Src,
    to: DateTo,
    persons: &[PersonInfo],
    keys: &ReleaseKeys,
    changed: &mut u64,
) -> Values {
    let n = st.person.len();
    match to {
        DateTo::Relative => Values::Int(
            (0..n)
                .map(|i| {
                    let d = src.date(i)?;
                    let idx = persons[st.person[i]].index_date?;
                    *changed += 1;
                    Some((d - idx).num_days())
                })
                .collect(),
        ),
        _ => {
            // Shifts are per person: compute each person's once.
            let mut shifts: HashMap<usize, i64> = HashMap::new();
            Values::Text(
                (0..n)
                    .map(|i| {
                        let d = src.date(i)?;
                        let s = match to {
                            DateTo::Day => fmt_date(d),
                            DateTo::Month => d.format("%Y-%m").to_string(),
                            DateTo::Year => d.format("%Y").to_string(),
                            DateTo::Shift { days } => {
                                let p = st.person[i];
                                let sh = *shifts
                                    .entry(p)
                                    .or_insert_with(|| keys.shift_days(&persons[p].linked, days));
                                fmt_date(d + chrono::Duration::days(sh))
                            }
                            DateTo::Relative => String::new(),
                        };
                        if !matches!(to, DateTo::Day) || matches!(src, Src::DateTime(_)) {
                            *changed += 1;
                        }
                        Some(s)
                    })
                    .collect(),
            )
        }
    }
}

/// Every id value of the extract (person, provider, record, encounter, claim ids, facility
/// codes): none may appear in the release.
pub fn extract_ids(e: &Extract) -> HashSet<String> {
    let mut ids = HashSet::new();
    for p in &e.persons {
        ids.insert(p.person_id.as_str().to_owned());
        ids.insert(p.provider_id.as_str().to_owned());
    }
    macro_rules! ev {
        ($rows:expr, $($id:ident),*) => {
            for r in &$rows {
                ids.insert(r.person_id.as_str().to_owned());
                ids.insert(r.provider_id.as_str().to_owned());
                $( ev!(@one ids, r.$id); )*
            }
        };
        (@one $ids:ident, $v:expr) => { IdInsert::insert_into(&$v, &mut $ids); };
    }
    ev!(e.encounters, encounter_id);
    ev!(e.conditions, record_id, encounter_id);
    ev!(e.medications, record_id, encounter_id);
    ev!(e.observations, record_id, encounter_id);
    ev!(e.procedures, record_id, encounter_id);
    ev!(e.checkups, record_id);
    ev!(e.claims, record_id, claim_id, facility_code);
    ids
}

trait IdInsert {
    fn insert_into(&self, ids: &mut HashSet<String>);
}
impl IdInsert for String {
    fn insert_into(&self, ids: &mut HashSet<String>) {
        ids.insert(self.clone());
    }
}
impl IdInsert for Option<String> {
    fn insert_into(&self, ids: &mut HashSet<String>) {
        if let Some(s) = self {
            ids.insert(s.clone());
        }
    }
}

/// The catalog names of all tables, in release order.
pub fn table_names() -> impl Iterator<Item = &'static str> {
    CATALOG.iter().map(|(t, _)| *t)
}

/// Null the values of the marked rows.
fn blank<T>(values: &mut [Option<T>], rows: &[bool]) {
    for (v, b) in values.iter_mut().zip(rows) {
        if *b {
            *v = None;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn age_labels_follow_the_spec() {
        let top = Some(90);
        assert_eq!(age_label(Some(37), 0, top), "37");
        assert_eq!(age_label(Some(37), 1, top), "35-39");
        assert_eq!(age_label(Some(37), 2, top), "30-39");
        assert_eq!(age_label(Some(37), 3, top), "20-39");
        assert_eq!(age_label(Some(37), 4, top), "*");
        for l in 0..4 {
            assert_eq!(age_label(Some(90), l, top), "90+");
            assert_eq!(age_label(Some(103), l, top), "90+");
        }
        assert_eq!(age_label(Some(103), 0, None), "103");
        assert_eq!(age_label(Some(89), 3, top), "80-89");
        assert_eq!(age_label(None, 0, top), "*");
        assert_eq!(age_label(Some(86), 1, Some(87)), "85-86");
    }

    #[test]
    fn ages_count_whole_years_from_the_first_of_the_month() {
        let b = YearMonth::new(1980, 6).unwrap();
        assert_eq!(
            age_at(b, NaiveDate::from_ymd_opt(2020, 5, 31).unwrap()),
            Some(39)
        );
        assert_eq!(
            age_at(b, NaiveDate::from_ymd_opt(2020, 6, 1).unwrap()),
            Some(40)
        );
    }

    #[test]
    fn area_labels_and_prefecture_from_postal3() {
        // 183 is 府中市 in 東京都 (a 府中市 also exists in 広島県).
        assert_eq!(prefecture_of_postal3("183"), Some("東京都"));
        assert_eq!(prefecture_of_postal3("726"), Some("広島県"));
        let p = Some("東京都");
        assert_eq!(area_label(p, Some("府中市"), 0), "東京都府中市");
        assert_eq!(area_label(p, Some("府中市"), 1), "東京都");
        assert_eq!(area_label(p, Some("府中市"), 2), "関東");
        assert_eq!(area_label(p, Some("府中市"), 3), "*");
        assert_eq!(area_label(p, None, 0), "東京都");
        assert_eq!(area_label(None, Some("府中市"), 0), "*");
    }

    #[test]
    fn icd10_and_drug_levels() {
        assert_eq!(icd10_label("E11.9", 0).as_deref(), Some("E11.9"));
        assert_eq!(icd10_label("E11.9", 1).as_deref(), Some("E11"));
        assert_eq!(icd10_label("E11.9", 2).as_deref(), Some("E10-E14"));
        let ch = icd10_label("E11.9", 3).unwrap();
        assert_eq!(
            tsunagu_model::icd10::tree().get(&ch).unwrap().level,
            tsunagu_model::icd10::Level::Chapter
        );
        assert_eq!(
            drug_label(Some("yj"), "3961007F1021", 1).as_deref(),
            Some("3961")
        );
        assert_eq!(
            drug_label(Some("yj"), "3961007F1021", 2).as_deref(),
            Some("396")
        );
        assert_eq!(
            drug_label(Some("yj"), "3961007F1021", 4).as_deref(),
            Some("3")
        );
        assert_eq!(drug_label(Some("hot"), "1234567890123", 1), None);
        assert_eq!(
            drug_label(Some("hot"), "1234567890123", 0).as_deref(),
            Some("1234567890123")
        );
    }

    #[test]
    fn pseudonyms_are_release_scoped_and_shaped() {
        let a = ReleaseKeys::new(Some(7), "rel-1").unwrap();
        let b = ReleaseKeys::new(Some(7), "rel-2").unwrap();
        let a2 = ReleaseKeys::new(Some(7), "rel-1").unwrap();
        let pa = a.pseudonym("p-", "per-0000000001");
        assert_eq!(pa, a2.pseudonym("p-", "per-0000000001"));
        assert_ne!(pa, b.pseudonym("p-", "per-0000000001"));
        assert_eq!(pa.len(), 18);
        assert!(
            pa[2..]
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        let r = ReleaseKeys::new(None, "rel-1").unwrap();
        assert_ne!(pa, r.pseudonym("p-", "per-0000000001"));
    }

    #[test]
    fn quantiles_interpolate() {
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&xs, 0.0), Some(1.0));
        assert_eq!(quantile(&xs, 1.0), Some(5.0));
        assert_eq!(quantile(&xs, 0.5), Some(3.0));
        assert_eq!(quantile(&xs, 0.25), Some(2.0));
        assert!((quantile(&xs, 0.01).unwrap() - 1.04).abs() < 1e-12);
        assert_eq!(quantile(&[], 0.5), None);
    }

    proptest! {
        #[test]
        fn age_bands_contain_the_age_and_nest(age in 0u32..130, top in prop::option::of(60u32..100)) {
            let mut prev: Option<(u32, u32)> = None;
            for level in 0..4usize {
                let l = age_label(Some(age), level, top);
                let range = if let Some(t) = l.strip_suffix('+') {
                    let t: u32 = t.parse().unwrap();
                    prop_assert!(top == Some(t) && age >= t);
                    (t, u32::MAX)
                } else if let Some((a, b)) = l.split_once('-') {
                    (a.parse().unwrap(), b.parse().unwrap())
                } else {
                    let a: u32 = l.parse().unwrap();
                    (a, a)
                };
                prop_assert!(range.0 <= age && age <= range.1, "{} at {}", l, level);
                if let Some(p) = prev {
                    prop_assert!(range.0 <= p.0 && p.1 <= range.1, "levels must nest");
                }
                prev = Some(range);
            }
            prop_assert_eq!(age_label(Some(age), 4, top), "*");
        }

        #[test]
        fn shifts_stay_within_bounds(days in 1u32..400, person in "[a-z0-9]{1,12}") {
            let k = ReleaseKeys::new(Some(1), "r").unwrap();
            let s = k.shift_days(&person, days);
            prop_assert!(s.abs() <= i64::from(days));
            prop_assert_eq!(s, k.shift_days(&person, days));
        }

        #[test]
        fn drug_levels_are_prefixes(code in "[0-9]{4}[0-9A-Z]{8}", level in 0u8..5) {
            let l = drug_label(Some("yj"), &code, level).unwrap();
            prop_assert!(code.starts_with(&l));
            if level > 0 { prop_assert_eq!(l.len(), 5 - level as usize); }
        }
    }
}
