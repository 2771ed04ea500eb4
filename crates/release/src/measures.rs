//! The Act's five measures (匿名加工の基準), checked on the released tables themselves: every
//! value is read as it will be written, nothing is trusted from the transformation or the
//! policy's search. Findings name tables, columns, rules and counts, never a value.
//!
//! In 仮名加工 (pseudonymized) mode measures 4 and 5 are not required by the standard: they are
//! still computed and their findings reported, but their verdict is a pass.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use rayon::prelude::*;
use tsunagu_anon::setvalued::{KmCheck, KmParams, km_check};
use tsunagu_model::postal;

use crate::dataset::{ColumnRole, OutTable, Released, Values};
use crate::report::{Finding, KAnonymity, MeasureVerdict, Verdict};
use crate::scan::{self, HitKind};

/// Which standard the release follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 匿名加工 (anonymized-jp): all five measures apply.
    Anonymized,
    /// 仮名加工 (pseudonymized-jp): measures 1–3 apply; 4 and 5 are reported, not required.
    Pseudonymized,
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnRef {
    /// Table name.
    pub table: String,
    /// Column name.
    pub column: String,
}

impl ColumnRef {
    /// A column reference.
    pub fn new(table: &str, column: &str) -> Self {
        ColumnRef {
            table: table.to_owned(),
            column: column.to_owned(),
        }
    }
}

/// The finest area level a release may show (levels as in the spec: 0 municipality, 1
/// prefecture, 2 region, 3 `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AreaLevel {
    /// `<prefecture><municipality>`.
    Municipality = 0,
    /// Prefecture.
    Prefecture = 1,
    /// Region (地方).
    Region = 2,
    /// Nothing (`*`).
    Suppressed = 3,
}

/// k-anonymity on the persons table's quasi-identifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct KSpec {
    /// k.
    pub k: usize,
    /// Quasi-identifier columns of the persons table.
    pub quasi_identifiers: Vec<String>,
    /// Largest share of persons that may be suppressed (all QIs `*`), in [0, 1].
    pub max_suppressed_share: f64,
}

/// k^m-anonymity on each person's set of codes of one column.
#[derive(Debug, Clone, PartialEq)]
pub struct KmSpec {
    /// k.
    pub k: usize,
    /// m.
    pub m: usize,
    /// The table holding the codes (`conditions`); it has a `person_id` column.
    pub table: String,
    /// The code column (`icd10`).
    pub column: String,
    /// Check inside each equivalence class of the persons' quasi-identifiers (an attacker who
    /// knows a person's sex, age and area and m of their codes), not only over the whole table.
    pub within_classes: bool,
}

/// Bounds of a lab (or check-up) item's values: a released value outside them is an outlier
/// (特異な記述) that should have been top/bottom-coded.
#[derive(Debug, Clone, PartialEq)]
pub struct LabBound {
    /// Table (`observations`, `checkups`).
    pub table: String,
    /// The item code, as in the table's `code` column.
    pub code: String,
    /// Lowest value allowed (the bottom code), if any.
    pub low: Option<f64>,
    /// Highest value allowed (the top code), if any.
    pub high: Option<f64>,
}

/// A release pseudonym rule: the values of `column` are `prefix` followed by 16 lowercase hex.
#[derive(Debug, Clone, PartialEq)]
pub struct PseudonymRule {
    /// The column.
    pub column: ColumnRef,
    /// The prefix (`p-`, `e-`, `r-`, `c-`).
    pub prefix: String,
}

/// Everything the measures need besides the released tables.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// 匿名加工 or 仮名加工.
    pub mode: Mode,
    /// The persons table (`persons`); its `person_id` column keys every table.
    pub persons_table: String,
    /// The age column of the persons table (`age`).
    pub age_column: String,
    /// Ages at or above this must be top-coded (default 90).
    pub age_top_code: u32,
    /// Codes held by fewer persons than this are 特異な記述 (0 disables the check).
    pub rare_code_persons: usize,
    /// Columns whose codes are checked for rarity; `None` = every column of role `Code` in a
    /// table with a `person_id` column.
    pub rare_code_columns: Option<Vec<ColumnRef>>,
    /// Area columns (`persons.area`).
    pub area_columns: Vec<ColumnRef>,
    /// The finest area level allowed.
    pub area_finest: AreaLevel,
    /// An area value shown for fewer persons than this is a tiny place (0 disables).
    pub min_area_persons: usize,
    /// k-anonymity, when the policy has it.
    pub k: Option<KSpec>,
    /// k^m-anonymity, when the policy has it.
    pub km: Option<KmSpec>,
    /// Lab outlier bounds per (table, code).
    pub lab_bounds: Vec<LabBound>,
    /// Every id value of the extract (person, provider, record, encounter, claim ids and any
    /// local patient-like id): none may appear anywhere in the release.
    pub extract_ids: HashSet<String>,
    /// The pseudonym format expected per id column.
    pub pseudonyms: Vec<PseudonymRule>,
}

/// The column that keys every table of a release by person.
pub const PERSON_ID: &str = "person_id";

/// Column names that are the vault's kinds of identifiers (or their usual spellings): such a
/// column never belongs in a release, whatever its values.
pub const IDENTIFYING_COLUMNS: [&str; 38] = [
    "full_name",
    "family_name",
    "given_name",
    "name_kana",
    "kana",
    "family_name_kana",
    "given_name_kana",
    "birth_date",
    "birthdate",
    "date_of_birth",
    "dob",
    "address",
    "address_line",
    "street",
    "town",
    "phone",
    "phone_number",
    "telephone",
    "tel",
    "mobile",
    "email",
    "e_mail",
    "mail",
    "insurer_number",
    "insured_symbol",
    "insured_number",
    "insured_branch",
    "insurance_card",
    "my_number",
    "individual_number",
    "passport",
    "passport_number",
    "driver_licence",
    "driver_license",
    "licence_number",
    "local_patient_id",
    "patient_id",
    "mrn",
];

/// Area columns finer than a prefecture (postal codes, municipality names).
const FINE_AREA_COLUMNS: [&str; 5] = ["postal_code", "postal3", "zip", "municipality", "city"];

/// Prefixes of tsunagu's internal ids (vault person, linked person, provider, record, encounter):
/// any token that starts with one is a linking code, whether or not it is in the extract.
const INTERNAL_ID_PREFIXES: [&str; 5] = ["psn-", "per-", "prv-", "rec-", "enc-"];

/// Extract ids shorter than this are not looked for: a short value (`5`, `M`) equal to some id
/// is no evidence of a leak, and every id tsunagu makes is longer.
const MIN_ID_LEN: usize = 6;

impl CheckContext {
    /// Defaults of `anonymized-jp` (k = 5 on sex/age/area with at most 5 % suppressed, k^m 5/2
    /// on conditions.icd10, top-code 90, rare codes below 5 persons, prefecture at the finest,
    /// person/encounter/record/claim pseudonyms), with no extract ids and no lab bounds.
    pub fn anonymized_defaults() -> Self {
        let rule = |t: &str, c: &str, p: &str| PseudonymRule {
            column: ColumnRef::new(t, c),
            prefix: p.to_owned(),
        };
        let mut pseudonyms = Vec::new();
        for t in [
            "persons",
            "encounters",
            "conditions",
            "medications",
            "observations",
            "procedures",
            "checkups",
            "claims",
        ] {
            pseudonyms.push(rule(t, PERSON_ID, "p-"));
            if t != "persons" {
                pseudonyms.push(rule(t, "encounter_id", "e-"));
                pseudonyms.push(rule(t, "record_id", "r-"));
                pseudonyms.push(rule(t, "claim_id", "c-"));
            }
        }
        CheckContext {
            mode: Mode::Anonymized,
            persons_table: "persons".into(),
            age_column: "age".into(),
            age_top_code: 90,
            rare_code_persons: 5,
            rare_code_columns: None,
            area_columns: vec![ColumnRef::new("persons", "area")],
            area_finest: AreaLevel::Prefecture,
            min_area_persons: 5,
            k: Some(KSpec {
                k: 5,
                quasi_identifiers: vec!["sex".into(), "age".into(), "area".into()],
                max_suppressed_share: 0.05,
            }),
            km: Some(KmSpec {
                k: 5,
                m: 2,
                table: "conditions".into(),
                column: "icd10".into(),
                // The preset turns the per-class check on; the bare defaults check the table.
                within_classes: false,
            }),
            lab_bounds: Vec::new(),
            extract_ids: HashSet::new(),
            pseudonyms,
        }
    }
}

/// The five verdicts (measures 1 to 5, in order) on `released`.
pub fn check(released: &Released, ctx: &CheckContext) -> Vec<MeasureVerdict> {
    let scanned = scan_values(released, ctx);
    vec![
        measure1(released, ctx, &scanned),
        measure2(&scanned),
        measure3(released, ctx, &scanned),
        measure4(released, ctx),
        measure5(released, ctx),
    ]
}

fn verdict(
    measure: u8,
    title_ja: &str,
    title_en: &str,
    findings: Vec<Finding>,
    required: bool,
) -> MeasureVerdict {
    let failed = findings
        .iter()
        .any(|f| f.count > 0 && !f.rule.starts_with("note:"));
    MeasureVerdict {
        measure,
        title_ja: title_ja.into(),
        title_en: title_en.into(),
        verdict: if failed && required {
            Verdict::Fail
        } else {
            Verdict::Pass
        },
        findings,
    }
}

fn finding(table: &str, column: Option<&str>, rule: &str, count: u64, detail: String) -> Finding {
    Finding {
        table: table.into(),
        column: column.map(str::to_owned),
        rule: rule.into(),
        count,
        detail,
    }
}

/// Counts of what the value scan found, per (table, column, rule).
type Scanned = BTreeMap<(String, String, &'static str), u64>;

const RULE_EXTRACT_ID: &str = "extract_id";
const RULE_INTERNAL_ID: &str = "internal_id";

/// Scan every value of every table once: 個人識別符号 and identifying descriptions (by
/// [`scan::scan`]), values equal to or containing an id of the extract, and tokens shaped like
/// tsunagu's internal ids. Columns in parallel, rows in parallel within a column.
fn scan_values(released: &Released, ctx: &CheckContext) -> Scanned {
    let jobs: Vec<(&OutTable, usize)> = released
        .tables
        .iter()
        .flat_map(|t| (0..t.columns.len()).map(move |c| (t, c)))
        .collect();
    let per_column: Vec<Scanned> = jobs
        .par_iter()
        .map(|&(t, c)| {
            let col = &t.columns[c];
            let counts = match &col.values {
                Values::Text(v) => v
                    .par_iter()
                    .map(|x| {
                        x.as_deref()
                            .map_or([0; 9], |s| inspect(s, &ctx.extract_ids))
                    })
                    .reduce(|| [0; 9], add),
                Values::Int(v) => v
                    .par_iter()
                    .map(|x| x.map_or([0; 9], |n| inspect(&n.to_string(), &ctx.extract_ids)))
                    .reduce(|| [0; 9], add),
                Values::Float(v) => v
                    .par_iter()
                    .map(|x| x.map_or([0; 9], |n| inspect(&n.to_string(), &ctx.extract_ids)))
                    .reduce(|| [0; 9], add),
                // true/false carry nothing.
                Values::Bool(_) => [0; 9],
            };
            let mut out = Scanned::new();
            let rules = HitKind::ALL
                .iter()
                .map(|k| k.as_str())
                .chain([RULE_EXTRACT_ID, RULE_INTERNAL_ID]);
            for (rule, n) in rules.zip(counts) {
                if n > 0 {
                    out.insert((t.name.clone(), col.name.clone(), rule), n);
                }
            }
            out
        })
        .collect();
    per_column.into_iter().flatten().collect()
}

fn add(mut a: [u64; 9], b: [u64; 9]) -> [u64; 9] {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}

/// One value: hits per kind (in [`HitKind::ALL`] order), then extract id, then internal id.
fn inspect(value: &str, ids: &HashSet<String>) -> [u64; 9] {
    let mut out = [0u64; 9];
    for h in scan::scan(value) {
        if let Some(i) = HitKind::ALL.iter().position(|k| *k == h.kind) {
            out[i] += 1;
        }
    }
    let leaked = |s: &str| s.len() >= MIN_ID_LEN && ids.contains(s);
    let mut extract = leaked(value);
    let mut internal = false;
    // Ids embedded in text: tokens of letters, digits, `-` and `_`.
    for tok in value.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
        if tok.len() < MIN_ID_LEN {
            continue;
        }
        if !extract && tok.len() != value.len() && leaked(tok) {
            extract = true;
        }
        // Tokens are ASCII and at least MIN_ID_LEN long, so byte 4 is a char boundary.
        let shaped = INTERNAL_ID_PREFIXES
            .iter()
            .any(|p| tok.as_bytes()[..4].eq_ignore_ascii_case(p.as_bytes()))
            && tok[4..].bytes().all(|b| b.is_ascii_alphanumeric())
            // Every id tsunagu makes has a digit or is long (ULID-like); English such as
            // `per-protocol` has neither.
            && (tok[4..].bytes().any(|b| b.is_ascii_digit()) || tok.len() >= 20);
        if shaped {
            internal = true;
        }
    }
    out[7] = u64::from(extract);
    out[8] = u64::from(internal);
    out
}

// ---------------------------------------------------------------------------------------------
// Measure 1: identifying descriptions.

const M1_JA: &str = "特定の個人を識別することができる記述等の削除";
const M1_EN: &str = "Descriptions that identify a person are deleted";

fn measure1(released: &Released, ctx: &CheckContext, scanned: &Scanned) -> MeasureVerdict {
    let mut f = Vec::new();
    for t in &released.tables {
        for c in &t.columns {
            let name = c.name.to_ascii_lowercase();
            let identifying = IDENTIFYING_COLUMNS.contains(&name.as_str())
                || (t.name == ctx.persons_table && name == "name");
            if identifying {
                f.push(finding(
                    &t.name,
                    Some(&c.name),
                    "identifying_column",
                    c.values.len() as u64,
                    "a column of a kind that identifies a person (the vault's kinds) is released"
                        .into(),
                ));
            }
            if ctx.area_finest > AreaLevel::Municipality
                && FINE_AREA_COLUMNS.contains(&name.as_str())
            {
                f.push(finding(
                    &t.name,
                    Some(&c.name),
                    "area_too_fine",
                    c.values.len() as u64,
                    "a column of postal codes or municipalities is released where the policy allows no finer than a prefecture".into(),
                ));
            }
        }
    }
    for ((table, column, rule), n) in scanned {
        if *rule == HitKind::Phone.as_str() || *rule == HitKind::Email.as_str() {
            f.push(finding(
                table,
                Some(column),
                rule,
                *n,
                format!(
                    "values containing a {} (identifying description)",
                    rule.replace('_', " ")
                ),
            ));
        }
    }
    for a in &ctx.area_columns {
        let Some(col) = released.table(&a.table).and_then(|t| t.column(&a.column)) else {
            continue;
        };
        let (mut too_fine, mut unknown) = (0u64, 0u64);
        for i in 0..col.values.len() {
            let Some(v) = col.values.text(i) else {
                continue;
            };
            match area_level(&v) {
                Some(level) if level < ctx.area_finest => too_fine += 1,
                Some(_) => {}
                None => unknown += 1,
            }
        }
        if too_fine > 0 {
            f.push(finding(
                &a.table,
                Some(&a.column),
                "area_too_fine",
                too_fine,
                format!(
                    "area values finer than the policy allows ({:?})",
                    ctx.area_finest
                ),
            ));
        }
        if unknown > 0 {
            f.push(finding(
                &a.table,
                Some(&a.column),
                "area_unrecognized",
                unknown,
                "area values that are not a municipality, prefecture, region or `*` (possibly finer than a municipality)".into(),
            ));
        }
    }
    verdict(1, M1_JA, M1_EN, f, true)
}

/// `<prefecture><municipality>` of every municipality in the postal table.
static MUNICIPALITIES: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let t = postal::table();
    t.codes()
        .iter()
        .flat_map(|c| t.places(c))
        .map(|p| format!("{}{}", p.prefecture, p.municipality))
        .collect()
});

/// The level of an area label, `None` when it is none of the spec's labels.
pub fn area_level(v: &str) -> Option<AreaLevel> {
    let v = v.trim();
    if v == "*" {
        return Some(AreaLevel::Suppressed);
    }
    if postal::PREFECTURES.iter().any(|p| p.region == v) {
        return Some(AreaLevel::Region);
    }
    if postal::prefecture(v).is_some() {
        return Some(AreaLevel::Prefecture);
    }
    if MUNICIPALITIES.contains(v) {
        return Some(AreaLevel::Municipality);
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Measure 2: 個人識別符号.

const M2_JA: &str = "個人識別符号の全部の削除";
const M2_EN: &str = "Individual identification codes are deleted";

fn measure2(scanned: &Scanned) -> MeasureVerdict {
    let mut f = Vec::new();
    for ((table, column, rule), n) in scanned {
        if HitKind::ALL
            .iter()
            .any(|k| k.is_identification_code() && k.as_str() == *rule)
        {
            f.push(finding(
                table,
                Some(column),
                rule,
                *n,
                format!(
                    "values containing a {} (個人識別符号)",
                    rule.replace('_', " ")
                ),
            ));
        }
    }
    verdict(2, M2_JA, M2_EN, f, true)
}

// ---------------------------------------------------------------------------------------------
// Measure 3: linking codes.

const M3_JA: &str = "個人情報等と他の情報とを連結する符号の削除";
const M3_EN: &str = "Codes that link to other information are deleted";

fn is_id_column(role: ColumnRole, name: &str) -> bool {
    role == ColumnRole::Pseudonym || name == "id" || name.ends_with("_id")
}

/// Whether `v` is `prefix` followed by 16 lowercase hexadecimal digits.
pub fn is_pseudonym(v: &str, prefix: &str) -> bool {
    v.strip_prefix(prefix).is_some_and(|h| {
        h.len() == 16
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn measure3(released: &Released, ctx: &CheckContext, scanned: &Scanned) -> MeasureVerdict {
    let mut f = Vec::new();
    for t in &released.tables {
        for c in &t.columns {
            if !is_id_column(c.role, &c.name) {
                continue;
            }
            let rule = ctx
                .pseudonyms
                .iter()
                .find(|r| r.column.table == t.name && r.column.column == c.name);
            let Some(rule) = rule else {
                f.push(finding(
                    &t.name,
                    Some(&c.name),
                    "id_without_pseudonym",
                    c.values.len() as u64,
                    "an id column that is not a release pseudonym".into(),
                ));
                continue;
            };
            let bad = match &c.values {
                Values::Text(v) => v
                    .par_iter()
                    .filter(|x| x.as_deref().is_some_and(|s| !is_pseudonym(s, &rule.prefix)))
                    .count(),
                // Numbers are never release pseudonyms.
                other => (0..other.len())
                    .filter(|&i| other.text(i).is_some())
                    .count(),
            };
            if bad > 0 {
                f.push(finding(
                    &t.name,
                    Some(&c.name),
                    "pseudonym_format",
                    bad as u64,
                    format!(
                        "id values that are not release pseudonyms (`{}` + 16 hex)",
                        rule.prefix
                    ),
                ));
            }
            // The person key of the persons table must be unique, or it links rows to each other.
            if t.name == ctx.persons_table
                && c.name == PERSON_ID
                && let Values::Text(v) = &c.values
            {
                let distinct: HashSet<&str> = v.iter().flatten().map(String::as_str).collect();
                let dup = v.iter().flatten().count() - distinct.len();
                if dup > 0 {
                    f.push(finding(
                        &t.name,
                        Some(&c.name),
                        "duplicate_person",
                        dup as u64,
                        "person pseudonyms that appear on more than one persons row".into(),
                    ));
                }
            }
        }
    }
    for ((table, column, rule), n) in scanned {
        let detail = match *rule {
            RULE_EXTRACT_ID => {
                "values that are or contain an id of the extract (person, provider, record, encounter or claim id)"
            }
            RULE_INTERNAL_ID => {
                "values containing a token shaped like a tsunagu internal id (psn-, per-, prv-, rec-, enc-)"
            }
            _ => continue,
        };
        f.push(finding(table, Some(column), rule, *n, detail.into()));
    }
    verdict(3, M3_JA, M3_EN, f, true)
}

// ---------------------------------------------------------------------------------------------
// Measure 4: 特異な記述.

const M4_JA: &str = "特異な記述等の削除";
const M4_EN: &str = "Unusual descriptions are deleted";

/// Whether an age label reveals an age at or above `top` (anything but `*`, an age or band below
/// `top`, or the top band `top+` itself). `None` when the label is not an age label.
pub fn age_reveals_extreme(v: &str, top: u32) -> Option<bool> {
    let v = v.trim();
    if v == "*" {
        return Some(false);
    }
    if let Some(n) = v.strip_suffix('+') {
        // `90+` is the top band; `80+` is coarser still; `100+` singles out the very old.
        return n.parse::<u32>().ok().map(|n| n > top);
    }
    if let Some((a, b)) = v.split_once('-') {
        let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
        return (a <= b).then_some(b >= top);
    }
    v.parse::<u32>().ok().map(|n| n >= top)
}

/// (low, high) of an item.
type Bounds = (Option<f64>, Option<f64>);

fn measure4(released: &Released, ctx: &CheckContext) -> MeasureVerdict {
    let mut f = Vec::new();
    let persons = released.table(&ctx.persons_table);
    // Ages.
    if let Some(col) = persons.and_then(|t| t.column(&ctx.age_column)) {
        let (mut extreme, mut unknown) = (0u64, 0u64);
        for i in 0..col.values.len() {
            if let Some(v) = col.values.text(i) {
                match age_reveals_extreme(&v, ctx.age_top_code) {
                    Some(true) => extreme += 1,
                    Some(false) => {}
                    None => unknown += 1,
                }
            }
        }
        if extreme > 0 {
            f.push(finding(
                &ctx.persons_table,
                Some(&ctx.age_column),
                "age_top_code",
                extreme,
                format!(
                    "ages of {} or more that are not top-coded to `{}+`",
                    ctx.age_top_code, ctx.age_top_code
                ),
            ));
        }
        if unknown > 0 {
            f.push(finding(
                &ctx.persons_table,
                Some(&ctx.age_column),
                "age_unrecognized",
                unknown,
                "age values that are not an age, a band, a top band or `*`".into(),
            ));
        }
    }
    // Rare codes.
    if ctx.rare_code_persons > 0 {
        let columns: Vec<ColumnRef> = match &ctx.rare_code_columns {
            Some(c) => c.clone(),
            None => released
                .tables
                .iter()
                .filter(|t| t.column(PERSON_ID).is_some())
                .flat_map(|t| {
                    t.columns
                        .iter()
                        .filter(|c| c.role == ColumnRole::Code)
                        .map(|c| ColumnRef::new(&t.name, &c.name))
                })
                .collect(),
        };
        for cr in &columns {
            let Some(t) = released.table(&cr.table) else {
                continue;
            };
            let (Some(pid), Some(col)) = (t.column(PERSON_ID), t.column(&cr.column)) else {
                continue;
            };
            let mut holders: HashMap<String, HashSet<String>> = HashMap::new();
            for i in 0..t.rows() {
                if let (Some(p), Some(code)) = (pid.values.text(i), col.values.text(i))
                    && code != "*"
                {
                    holders.entry(code).or_default().insert(p);
                }
            }
            let rare = holders
                .values()
                .filter(|h| h.len() < ctx.rare_code_persons)
                .count();
            if rare > 0 {
                f.push(finding(
                    &cr.table,
                    Some(&cr.column),
                    "rare_code",
                    rare as u64,
                    format!("codes held by fewer than {} persons", ctx.rare_code_persons),
                ));
            }
        }
    }
    // Lab outliers.
    let mut by_table: BTreeMap<&str, HashMap<&str, Bounds>> = BTreeMap::new();
    for b in &ctx.lab_bounds {
        by_table
            .entry(&b.table)
            .or_default()
            .insert(&b.code, (b.low, b.high));
    }
    for (table, bounds) in by_table {
        let Some(t) = released.table(table) else {
            continue;
        };
        let Some(code) = t.column("code") else {
            continue;
        };
        for vc in ["value", "value_text"] {
            let Some(col) = t.column(vc) else {
                continue;
            };
            let mut out = 0u64;
            for i in 0..t.rows() {
                let Some(c) = code.values.text(i) else {
                    continue;
                };
                let Some(&(lo, hi)) = bounds.get(c.as_str()) else {
                    continue;
                };
                let x = match &col.values {
                    Values::Float(v) => v.get(i).copied().flatten(),
                    Values::Int(v) => v.get(i).copied().flatten().map(|n| n as f64),
                    Values::Text(v) => v
                        .get(i)
                        .and_then(|s| s.as_deref())
                        .and_then(|s| s.trim().parse::<f64>().ok()),
                    Values::Bool(_) => None,
                };
                if let Some(x) = x
                    && (lo.is_some_and(|l| x < l) || hi.is_some_and(|h| x > h))
                {
                    out += 1;
                }
            }
            if out > 0 {
                f.push(finding(
                    table,
                    Some(vc),
                    "lab_outlier",
                    out,
                    "values outside the policy's top/bottom-coding bounds for their item".into(),
                ));
            }
        }
    }
    // Tiny places.
    if ctx.min_area_persons > 0 {
        for a in &ctx.area_columns {
            let Some(col) = released.table(&a.table).and_then(|t| t.column(&a.column)) else {
                continue;
            };
            let mut counts: HashMap<String, usize> = HashMap::new();
            for i in 0..col.values.len() {
                if let Some(v) = col.values.text(i)
                    && v != "*"
                {
                    *counts.entry(v).or_default() += 1;
                }
            }
            let tiny = counts
                .values()
                .filter(|&&n| n < ctx.min_area_persons)
                .count();
            if tiny > 0 {
                f.push(finding(
                    &a.table,
                    Some(&a.column),
                    "tiny_area",
                    tiny as u64,
                    format!(
                        "areas shown for fewer than {} persons",
                        ctx.min_area_persons
                    ),
                ));
            }
        }
    }
    let required = ctx.mode == Mode::Anonymized;
    verdict(4, M4_JA, M4_EN, f, required)
}

// ---------------------------------------------------------------------------------------------
// Measure 5: privacy models on the output.

const M5_JA: &str = "データベースの性質に応じた適切な措置(k-匿名性・k^m-匿名性の出力上での検証)";
const M5_EN: &str = "Measures suited to the database (k- and k^m-anonymity verified on the output)";

/// k-anonymity recomputed on the output persons table: classes of identical quasi-identifier
/// tuples; rows whose quasi-identifiers are all `*` (or null) are suppressed and form no class.
/// `None` when the policy has no k or the persons table is missing. `transformation` is left
/// empty (the output does not say which level was chosen); `holds` also requires the suppressed
/// share to be within the limit and every quasi-identifier column to exist.
pub fn k_anonymity(released: &Released, ctx: &CheckContext) -> Option<KAnonymity> {
    let spec = ctx.k.as_ref()?;
    let t = released.table(&ctx.persons_table)?;
    let cols: Vec<_> = spec
        .quasi_identifiers
        .iter()
        .filter_map(|q| t.column(q))
        .collect();
    let all_present = cols.len() == spec.quasi_identifiers.len();
    let mut classes: HashMap<Vec<Option<String>>, u64> = HashMap::new();
    let mut suppressed = 0u64;
    for i in 0..t.rows() {
        let tuple: Vec<Option<String>> = cols.iter().map(|c| c.values.text(i)).collect();
        if !tuple.is_empty() && tuple.iter().all(|v| v.as_deref().is_none_or(|s| s == "*")) {
            suppressed += 1;
            continue;
        }
        *classes.entry(tuple).or_default() += 1;
    }
    let mut class_sizes: BTreeMap<u64, u64> = BTreeMap::new();
    for &n in classes.values() {
        *class_sizes.entry(n).or_default() += 1;
    }
    let min = class_sizes.keys().next().copied().unwrap_or(0);
    let rows = t.rows() as f64;
    let share = if rows > 0.0 {
        suppressed as f64 / rows
    } else {
        0.0
    };
    Some(KAnonymity {
        k: spec.k,
        quasi_identifiers: spec.quasi_identifiers.clone(),
        transformation: BTreeMap::new(),
        suppressed_records: suppressed,
        equivalence_classes: classes.len() as u64,
        min_class_size: min,
        class_sizes,
        holds: all_present
            && (classes.is_empty() || min >= spec.k as u64)
            && share <= spec.max_suppressed_share,
    })
}

/// Every released code of the k^m table as (person pseudonym, dense item id): the code with its
/// released period when it has one (see [`dated`]); `*` and null left out.
fn released_items(released: &Released, spec: &KmSpec) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut dict: HashMap<String, usize> = HashMap::new();
    if let Some(t) = released.table(&spec.table)
        && let (Some(pid), Some(code)) = (t.column(PERSON_ID), t.column(&spec.column))
    {
        let onset = t.column("onset");
        for i in 0..t.rows() {
            let (Some(p), Some(c)) = (pid.values.text(i), code.values.text(i)) else {
                continue;
            };
            if c == "*" {
                continue;
            }
            let n = dict.len();
            let id = *dict.entry(dated(c, onset, i)).or_insert(n);
            out.push((p, id));
        }
    }
    out
}

/// k^m-anonymity recomputed on the output: one record per released person (the persons table's
/// pseudonyms, plus any person found only in the code table), holding the set of that person's
/// codes (labels as released, `*` and null left out), checked with
/// [`tsunagu_anon::setvalued::km_check`]. `None` when the policy has no k^m.
pub fn km_anonymity(released: &Released, ctx: &CheckContext) -> Option<KmCheck> {
    let spec = ctx.km.as_ref()?;
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut records: Vec<Vec<usize>> = Vec::new();
    if let Some(pid) = released
        .table(&ctx.persons_table)
        .and_then(|t| t.column(PERSON_ID))
    {
        for i in 0..pid.values.len() {
            if let Some(p) = pid.values.text(i) {
                let n = index.len();
                if *index.entry(p).or_insert(n) == n {
                    records.push(Vec::new());
                }
            }
        }
    }
    for (p, id) in released_items(released, spec) {
        let n = index.len();
        let r = *index.entry(p).or_insert(n);
        if r == records.len() {
            records.push(Vec::new());
        }
        records[r].push(id);
    }
    Some(km_check(
        &records,
        KmParams {
            k: spec.k,
            m: spec.m,
        },
    ))
}

/// k^m-anonymity recomputed inside each equivalence class of the persons table's
/// quasi-identifiers (`ctx.k`; one class when there is none): an attacker who knows a person's
/// quasi-identifiers and m of their codes must still find k persons. Persons with every
/// quasi-identifier suppressed form one class of their own. Violations and the smallest support
/// are summed and minimized over classes. `None` when the policy has no k^m.
pub fn km_anonymity_within_classes(released: &Released, ctx: &CheckContext) -> Option<KmCheck> {
    let spec = ctx.km.as_ref()?;
    let persons = released.table(&ctx.persons_table);
    let qis: Vec<&crate::dataset::OutColumn> = match (&ctx.k, persons) {
        (Some(k), Some(t)) => k
            .quasi_identifiers
            .iter()
            .filter_map(|q| t.column(q))
            .collect(),
        _ => Vec::new(),
    };
    // Person → class index.
    let mut class_of: HashMap<String, usize> = HashMap::new();
    let mut classes: HashMap<Vec<Option<String>>, usize> = HashMap::new();
    if let Some(t) = persons
        && let Some(pid) = t.column(PERSON_ID)
    {
        for i in 0..t.rows() {
            let Some(p) = pid.values.text(i) else {
                continue;
            };
            let mut tuple: Vec<Option<String>> = qis.iter().map(|c| c.values.text(i)).collect();
            if tuple.iter().all(|v| v.as_deref().is_none_or(|s| s == "*")) {
                tuple = vec![Some("*".into()); tuple.len()];
            }
            let n = classes.len();
            let c = *classes.entry(tuple).or_insert(n);
            class_of.insert(p, c);
        }
    }
    let unknown_class = classes.len();
    let mut records: Vec<HashMap<String, Vec<usize>>> = vec![HashMap::new(); unknown_class + 1];
    for p in class_of.keys() {
        if let Some(&c) = class_of.get(p) {
            records[c].entry(p.clone()).or_default();
        }
    }
    for (p, id) in released_items(released, spec) {
        let class = class_of.get(&p).copied().unwrap_or(unknown_class);
        records[class].entry(p).or_default().push(id);
    }
    let params = KmParams {
        k: spec.k,
        m: spec.m,
    };
    let mut out = KmCheck {
        holds: true,
        violations: 0,
        smallest_support: None,
    };
    for class in records {
        if class.is_empty() {
            continue;
        }
        let recs: Vec<Vec<usize>> = class.into_values().collect();
        let r = km_check(&recs, params);
        out.holds &= r.holds;
        out.violations += r.violations;
        out.smallest_support = match (out.smallest_support, r.smallest_support) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Some(out)
}

fn measure5(released: &Released, ctx: &CheckContext) -> MeasureVerdict {
    let mut f = Vec::new();
    if let Some(spec) = &ctx.k {
        let t = &ctx.persons_table;
        match released.table(t) {
            None => f.push(finding(
                t,
                None,
                "persons_missing",
                1,
                "the persons table is missing, k-anonymity cannot be verified".into(),
            )),
            Some(pt) => {
                for q in &spec.quasi_identifiers {
                    if pt.column(q).is_none() {
                        f.push(finding(
                            t,
                            Some(q),
                            "note:qi_column_absent",
                            1,
                            "a quasi-identifier of the policy is not released (dropped), so it cannot be used to single anyone out".into(),
                        ));
                    }
                }
            }
        }
        if let Some(k) = k_anonymity(released, ctx) {
            let small: u64 = k
                .class_sizes
                .iter()
                .filter(|(size, _)| **size < spec.k as u64)
                .map(|(size, n)| size * n)
                .sum();
            if small > 0 {
                f.push(finding(
                    t,
                    None,
                    "k_anonymity",
                    small,
                    format!(
                        "persons in equivalence classes smaller than k = {} (smallest {})",
                        spec.k, k.min_class_size
                    ),
                ));
            }
            let rows = released.table(t).map_or(0, OutTable::rows) as f64;
            if rows > 0.0 && k.suppressed_records as f64 / rows > spec.max_suppressed_share {
                f.push(finding(
                    t,
                    None,
                    "suppression_limit",
                    k.suppressed_records,
                    format!(
                        "suppressed persons exceed the limit of {:.1} %",
                        spec.max_suppressed_share * 100.0
                    ),
                ));
            }
        }
    }
    let km_result = |spec: &KmSpec| {
        if spec.within_classes {
            km_anonymity_within_classes(released, ctx)
        } else {
            km_anonymity(released, ctx)
        }
    };
    if let Some(spec) = &ctx.km
        && let Some(km) = km_result(spec)
        && !km.holds
    {
        f.push(finding(
            &spec.table,
            Some(&spec.column),
            "km_anonymity",
            km.violations,
            format!(
                "sets of at most m = {} codes held by fewer than k = {} persons",
                spec.m, spec.k
            ),
        ));
    }
    let required = ctx.mode == Mode::Anonymized;
    verdict(5, M5_JA, M5_EN, f, required)
}

/// A released diagnosis as an outsider can use it: the code with its released onset period
/// (`E11.9@2019`) when the row has an absolute one, so k^m is verified on what is matchable.
/// Relative days and shifted full dates are not a period an outsider knows.
fn dated(code: String, onset: Option<&crate::dataset::OutColumn>, row: usize) -> String {
    match onset.and_then(|o| match &o.values {
        crate::dataset::Values::Text(_) => o.values.text(row),
        _ => None,
    }) {
        Some(p) if p.len() == 4 || p.len() == 7 => format!("{code}@{p}"),
        _ => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_labels() {
        for (v, x) in [
            ("37", Some(false)),
            ("89", Some(false)),
            ("90", Some(true)),
            ("103", Some(true)),
            ("90+", Some(false)),
            ("80+", Some(false)),
            ("100+", Some(true)),
            ("85-89", Some(false)),
            ("85-94", Some(true)),
            ("80-99", Some(true)),
            ("*", Some(false)),
            ("abc", None),
        ] {
            assert_eq!(age_reveals_extreme(v, 90), x, "{v}");
        }
    }

    #[test]
    fn area_labels() {
        assert_eq!(area_level("*"), Some(AreaLevel::Suppressed));
        assert_eq!(area_level("関東"), Some(AreaLevel::Region));
        assert_eq!(area_level("東京都"), Some(AreaLevel::Prefecture));
        assert_eq!(area_level("東京都府中市"), Some(AreaLevel::Municipality));
        assert_eq!(area_level("東京都府中市宮町一丁目"), None);
    }

    #[test]
    fn pseudonym_format() {
        assert!(is_pseudonym("p-0123456789abcdef", "p-"));
        assert!(!is_pseudonym("p-0123456789ABCDEF", "p-"));
        assert!(!is_pseudonym("p-0123456789abcde", "p-"));
        assert!(!is_pseudonym("e-0123456789abcdef", "p-"));
    }

    #[test]
    fn internal_ids_found_in_text() {
        let ids: HashSet<String> = ["per-0000000123".to_owned()].into();
        let r = inspect("see per-0000000123 here", &ids);
        assert_eq!((r[7], r[8]), (1, 1));
        let r = inspect("psn-abcdef12", &HashSet::new());
        assert_eq!((r[7], r[8]), (0, 1));
        let r = inspect("per-protocol analysis, rec-dose", &ids);
        assert_eq!((r[7], r[8]), (0, 0));
        let r = inspect("PRV-0000000001", &ids);
        assert_eq!((r[7], r[8]), (0, 1));
        let r = inspect("E11.9", &ids);
        assert_eq!((r[7], r[8]), (0, 0));
    }
}
