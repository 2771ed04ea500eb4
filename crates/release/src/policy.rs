//! Release policies in TOML: what happens to every column of the extract, and which privacy
//! models the output must satisfy.
//!
//! Two presets are embedded: [`ANONYMIZED_JP`] (匿名加工) and [`PSEUDONYMIZED_JP`] (仮名加工, for
//! certified users only). A user policy may say `extends = "anonymized-jp"` and override any key:
//! tables are merged key by key, a column's action is replaced as a whole, and a privacy model
//! set to `false` is switched off.
//!
//! A policy is parsed into typed structs ([`Policy`]); every key that is not understood is an
//! error naming its path (`tables.conditions.icd10.levle`), so a typo can never silently weaken a
//! release. A column the policy does not mention is dropped (the safe default), and the resolved
//! policy written into the package ([`Policy::to_toml`]) says so explicitly.

use std::collections::BTreeMap;
use std::fmt;

use toml::{Table as TomlTable, Value};

use crate::error::ReleaseError;

/// The `anonymized-jp` preset (匿名加工).
pub const ANONYMIZED_JP: &str = include_str!("../presets/anonymized-jp.toml");
/// The `pseudonymized-jp` preset (仮名加工).
pub const PSEUDONYMIZED_JP: &str = include_str!("../presets/pseudonymized-jp.toml");

/// Names of the embedded presets.
pub const PRESETS: [&str; 2] = ["anonymized-jp", "pseudonymized-jp"];

/// Which standard of the Act the release follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 匿名加工: anyone may receive it.
    Anonymized,
    /// 仮名加工: only certified users may receive it.
    Pseudonymized,
}

impl Mode {
    /// `anonymized` / `pseudonymized`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Anonymized => "anonymized",
            Mode::Pseudonymized => "pseudonymized",
        }
    }
}

/// What a column holds, which decides the actions it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// The linked person id (always replaced or dropped).
    PersonId,
    /// The provider id (an internal code that links back to the provider).
    ProviderId,
    /// An internal event id; the pseudonym prefix (`e-`, `r-`, `c-`).
    EventId(&'static str),
    /// Administrative sex.
    Sex,
    /// Age in years at the release's reference date (derived from the birth month).
    Age,
    /// Prefecture + municipality (derived from postal3 and the municipality).
    Area,
    /// A month (`YYYY-MM`), e.g. the birth month or a claim's service month.
    Month,
    /// The year of death (derived).
    Year,
    /// A date.
    Date,
    /// A date and time.
    DateTime,
    /// ICD-10 code.
    Icd10,
    /// A drug code (YJ codes generalize along 薬効分類).
    DrugCode,
    /// Any other code (lab item, procedure, receipt, department).
    Code,
    /// A closed vocabulary or short attribute (class, unit, flag letter).
    Category,
    /// Free text as written by a person (names of things, usage, status, ranges).
    FreeText,
    /// A measured value (top/bottom-codable).
    Measure,
    /// Another number.
    Number,
    /// A flag.
    Bool,
    /// The three-digit postal area.
    Postal3,
    /// 医療機関コード of a facility.
    FacilityCode,
}

/// One column of the release catalog.
#[derive(Debug, Clone, Copy)]
pub struct CatalogColumn {
    /// Column name.
    pub name: &'static str,
    /// What it holds.
    pub kind: ColumnKind,
    /// Japanese description (data dictionary).
    pub ja: &'static str,
    /// English description (data dictionary).
    pub en: &'static str,
}

const fn col(
    name: &'static str,
    kind: ColumnKind,
    ja: &'static str,
    en: &'static str,
) -> CatalogColumn {
    CatalogColumn { name, kind, ja, en }
}

use ColumnKind as K;

const PERSONS: &[CatalogColumn] = &[
    col(
        "person_id",
        K::PersonId,
        "個人の仮ID（この提供限り）",
        "Person pseudonym (this release only)",
    ),
    col(
        "provider_id",
        K::ProviderId,
        "提供元事業者",
        "Provider of the record",
    ),
    col("sex", K::Sex, "性別", "Sex"),
    col(
        "age",
        K::Age,
        "年齢（基準日時点）",
        "Age at the reference date",
    ),
    col("area", K::Area, "居住地域", "Area of residence"),
    col("birth_month", K::Month, "生年月", "Month of birth"),
    col(
        "postal3",
        K::Postal3,
        "郵便番号上3桁",
        "First 3 digits of the postal code",
    ),
    col("deceased_year", K::Year, "死亡年", "Year of death"),
];

const ENCOUNTERS: &[CatalogColumn] = &[
    col("person_id", K::PersonId, "個人の仮ID", "Person pseudonym"),
    col("provider_id", K::ProviderId, "提供元事業者", "Provider"),
    col(
        "encounter_id",
        K::EventId("e-"),
        "受診の仮ID",
        "Encounter pseudonym",
    ),
    col("class", K::Category, "受診区分", "Encounter class"),
    col("start", K::DateTime, "開始日", "Start"),
    col("end", K::DateTime, "終了日", "End"),
    col(
        "department_code",
        K::Code,
        "診療科コード",
        "Department code",
    ),
    col("department", K::FreeText, "診療科名", "Department name"),
];

const CONDITIONS: &[CatalogColumn] = &[
    col("person_id", K::PersonId, "個人の仮ID", "Person pseudonym"),
    col("provider_id", K::ProviderId, "提供元事業者", "Provider"),
    col(
        "record_id",
        K::EventId("r-"),
        "記録の仮ID",
        "Record pseudonym",
    ),
    col(
        "encounter_id",
        K::EventId("e-"),
        "受診の仮ID",
        "Encounter pseudonym",
    ),
    col("icd10", K::Icd10, "ICD-10コード", "ICD-10 code"),
    col(
        "code_system",
        K::Category,
        "病名コード体系",
        "Code system of code",
    ),
    col("code", K::Code, "病名コード", "Source disease code"),
    col("name", K::FreeText, "病名", "Disease name as given"),
    col("suspected", K::Bool, "疑い病名", "Suspected diagnosis"),
    col("primary", K::Bool, "主病名", "Primary diagnosis"),
    col("onset", K::Date, "発症日", "Onset"),
    col("recorded", K::Date, "記録日", "Recorded"),
    col("abated", K::Date, "転帰日", "Abated"),
    col("status", K::FreeText, "転帰・状態", "Status as given"),
];

const MEDICATIONS: &[CatalogColumn] = &[
    col("person_id", K::PersonId, "個人の仮ID", "Person pseudonym"),
    col("provider_id", K::ProviderId, "提供元事業者", "Provider"),
    col(
        "record_id",
        K::EventId("r-"),
        "記録の仮ID",
        "Record pseudonym",
    ),
    col(
        "encounter_id",
        K::EventId("e-"),
        "受診の仮ID",
        "Encounter pseudonym",
    ),
    col("kind", K::Category, "処方区分", "Kind of medication record"),
    col(
        "code_system",
        K::Category,
        "医薬品コード体系",
        "Code system of code",
    ),
    col("code", K::DrugCode, "医薬品コード", "Drug code"),
    col("name", K::FreeText, "医薬品名", "Drug name as given"),
    col("dose", K::Number, "用量", "Dose"),
    col("unit", K::Category, "単位", "Unit of dose"),
    col("usage", K::FreeText, "用法", "Usage as written"),
    col("days", K::Number, "日数", "Days supplied"),
    col("start", K::Date, "開始日", "Start"),
    col("end", K::Date, "終了日", "End"),
    col("status", K::FreeText, "状態", "Status as given"),
];

const OBSERVATIONS: &[CatalogColumn] = &[
    col("person_id", K::PersonId, "個人の仮ID", "Person pseudonym"),
    col("provider_id", K::ProviderId, "提供元事業者", "Provider"),
    col(
        "record_id",
        K::EventId("r-"),
        "記録の仮ID",
        "Record pseudonym",
    ),
    col(
        "encounter_id",
        K::EventId("e-"),
        "受診の仮ID",
        "Encounter pseudonym",
    ),
    col("category", K::Category, "検査区分", "Observation category"),
    col(
        "code_system",
        K::Category,
        "検査コード体系",
        "Code system of code",
    ),
    col("code", K::Code, "検査項目コード", "Item code (JLAC10…)"),
    col("name", K::FreeText, "検査項目名", "Item name as given"),
    col("value", K::Measure, "結果値", "Numeric result"),
    col(
        "value_text",
        K::FreeText,
        "結果（記載どおり）",
        "Result as written",
    ),
    col("unit", K::Category, "単位", "Unit"),
    col(
        "reference_range",
        K::FreeText,
        "基準範囲",
        "Reference range as written",
    ),
    col("interpretation", K::Category, "判定", "Abnormal flag"),
    col("effective", K::DateTime, "検査日", "Date observed"),
    col("status", K::FreeText, "状態", "Status as given"),
];

const PROCEDURES: &[CatalogColumn] = &[
    col("person_id", K::PersonId, "個人の仮ID", "Person pseudonym"),
    col("provider_id", K::ProviderId, "提供元事業者", "Provider"),
    col(
        "record_id",
        K::EventId("r-"),
        "記録の仮ID",
        "Record pseudonym",
    ),
    col(
        "encounter_id",
        K::EventId("e-"),
        "受診の仮ID",
        "Encounter pseudonym",
    ),
    col(
        "code_system",
        K::Category,
        "処置コード体系",
        "Code system of code",
    ),
    col("code", K::Code, "処置コード", "Procedure code"),
    col("name", K::FreeText, "処置名", "Procedure name as given"),
    col("performed", K::DateTime, "実施日", "Date performed"),
    col("status", K::FreeText, "状態", "Status as given"),
];

const CHECKUPS: &[CatalogColumn] = &[
    col("person_id", K::PersonId, "個人の仮ID", "Person pseudonym"),
    col("provider_id", K::ProviderId, "提供元事業者", "Provider"),
    col(
        "record_id",
        K::EventId("r-"),
        "記録の仮ID",
        "Record pseudonym",
    ),
    col("program", K::Category, "健診の種類", "Check-up programme"),
    col("date", K::Date, "健診日", "Date of the check-up"),
    col(
        "code_system",
        K::Category,
        "項目コード体系",
        "Code system of code",
    ),
    col("code", K::Code, "健診項目コード", "Item code"),
    col("name", K::FreeText, "健診項目名", "Item name as given"),
    col("value", K::Measure, "結果値", "Numeric result"),
    col(
        "value_text",
        K::FreeText,
        "結果（記載どおり）",
        "Result as written",
    ),
    col("unit", K::Category, "単位", "Unit"),
];

const CLAIMS: &[CatalogColumn] = &[
    col("person_id", K::PersonId, "個人の仮ID", "Person pseudonym"),
    col("provider_id", K::ProviderId, "提供元事業者", "Provider"),
    col(
        "record_id",
        K::EventId("r-"),
        "明細の仮ID",
        "Claim line pseudonym",
    ),
    col(
        "claim_id",
        K::EventId("c-"),
        "レセプトの仮ID",
        "Claim pseudonym",
    ),
    col("service_month", K::Month, "診療年月", "Month of service"),
    col(
        "facility_code",
        K::FacilityCode,
        "医療機関コード",
        "Facility code",
    ),
    col("line", K::Number, "行番号", "Line within the claim"),
    col(
        "kind",
        K::Category,
        "レコード識別",
        "Record kind of the line",
    ),
    col(
        "code_system",
        K::Category,
        "コード体系",
        "Code system of code",
    ),
    col("code", K::Code, "レセプト電算コード", "Receipt code"),
    col("name", K::FreeText, "名称", "Name as given"),
    col("quantity", K::Number, "数量", "Quantity"),
    col("points", K::Number, "点数・単位数", "Points or care units"),
    col("care_level", K::Category, "要介護状態区分", "Care level"),
];

/// The release catalog: every table of an extract and the columns a release may carry, in order.
pub const CATALOG: &[(&str, &[CatalogColumn])] = &[
    ("persons", PERSONS),
    ("encounters", ENCOUNTERS),
    ("conditions", CONDITIONS),
    ("medications", MEDICATIONS),
    ("observations", OBSERVATIONS),
    ("procedures", PROCEDURES),
    ("checkups", CHECKUPS),
    ("claims", CLAIMS),
];

/// The catalog columns of a table.
pub fn catalog(table: &str) -> Option<&'static [CatalogColumn]> {
    CATALOG.iter().find(|(t, _)| *t == table).map(|(_, c)| *c)
}

/// A generalization level: fixed, or chosen by the search (up to `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Always this level.
    Fixed(u8),
    /// The privacy search picks the lowest level that works, never above `max`.
    Search {
        /// Highest level the search may choose.
        max: u8,
    },
}

/// How a date column is coarsened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTo {
    /// `YYYY-MM-DD` as it is (the time of day is dropped).
    Day,
    /// `YYYY-MM`.
    Month,
    /// `YYYY`.
    Year,
    /// Integer days since the person's index date (their first event in the extract).
    Relative,
    /// A random per-person shift of at most ± `days`, seeded, as `YYYY-MM-DD`.
    Shift {
        /// Largest shift.
        days: u32,
    },
}

/// What happens to one column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Not released.
    Drop,
    /// Released as it is.
    Keep,
    /// Replaced with a release-scoped pseudonym.
    Pseudonym,
    /// Generalized along the column's hierarchy.
    Generalize(Level),
    /// A date coarsened, made relative or shifted.
    Date(DateTo),
    /// Values below / above the per-code quantiles replaced with the quantile.
    TopBottomCode {
        /// Lower quantile (e.g. 0.01).
        lower: f64,
        /// Upper quantile (e.g. 0.99).
        upper: f64,
    },
}

impl Action {
    /// The action's name as in the policy file.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Drop => "drop",
            Action::Keep => "keep",
            Action::Pseudonym => "pseudonym",
            Action::Generalize(_) => "generalize",
            Action::Date(_) => "date",
            Action::TopBottomCode { .. } => "top_bottom_code",
        }
    }
}

/// A column's rule: its action, and for codes an optional rare-code suppression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnRule {
    /// The action.
    pub action: Action,
    /// Rows whose (output) code is held by fewer than this many persons are removed.
    pub suppress_rare: Option<u32>,
}

impl ColumnRule {
    const DROP: ColumnRule = ColumnRule {
        action: Action::Drop,
        suppress_rare: None,
    };
}

/// k-anonymity on the persons table.
#[derive(Debug, Clone, PartialEq)]
pub struct KAnonymityPolicy {
    /// k.
    pub k: u32,
    /// Quasi-identifier columns of `persons` (`sex`, `age`, `area`).
    pub quasi_identifiers: Vec<String>,
    /// Largest share of persons whose quasi-identifiers may all be suppressed.
    pub suppression_limit: f64,
}

/// k^m-anonymity of each person's set of codes.
#[derive(Debug, Clone, PartialEq)]
pub struct KmPolicy {
    /// k.
    pub k: usize,
    /// m.
    pub m: usize,
    /// The table holding the codes (`conditions`).
    pub table: String,
    /// The column (`icd10`).
    pub column: String,
    /// Enforce k^m within each equivalence class of the persons' quasi-identifiers (an
    /// attacker who knows the QIs and m diagnoses still finds k persons), not only overall.
    pub within_classes: bool,
}

/// l-diversity of a declared sensitive column of `persons`.
#[derive(Debug, Clone, PartialEq)]
pub struct LDiversityPolicy {
    /// The sensitive column.
    pub column: String,
    /// The variant and its parameters.
    pub model: tsunagu_anon::LDiversity,
}

/// t-closeness of a declared sensitive column of `persons`.
#[derive(Debug, Clone, PartialEq)]
pub struct TClosenessPolicy {
    /// The sensitive column.
    pub column: String,
    /// t (equal ground distance).
    pub t: f64,
}

/// The re-identification attack test.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackPolicy {
    /// Persons sampled into the attacker's table.
    pub sample: u64,
    /// Largest share re-identified uniquely and correctly.
    pub limit: f64,
    /// Diagnoses (with months) the attacker knows per person.
    pub diagnoses_known: usize,
}

/// The privacy models and thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyPolicy {
    /// k-anonymity on persons.
    pub k_anonymity: Option<KAnonymityPolicy>,
    /// k^m-anonymity on diagnoses.
    pub km_anonymity: Option<KmPolicy>,
    /// l-diversity.
    pub l_diversity: Option<LDiversityPolicy>,
    /// t-closeness.
    pub t_closeness: Option<TClosenessPolicy>,
    /// Largest per-record re-identification risk allowed (prosecutor model).
    pub max_risk: f64,
    /// Ages at or above this are top-coded (`90+`); `None` keeps exact ages.
    pub age_top_code: Option<u32>,
    /// Codes held by fewer persons than this are 特異な記述 (used by the checks).
    pub rare_code_min_persons: u32,
    /// Finest area level allowed in the release (0 municipality, 1 prefecture, 2 region).
    pub area_finest_level: u8,
    /// The attack test.
    pub attack: Option<AttackPolicy>,
}

/// A parsed, fully resolved policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Name (preset name, or the user policy's `name`).
    pub name: String,
    /// The preset it extends, if any.
    pub extends: Option<String>,
    /// 匿名加工 or 仮名加工.
    pub mode: Mode,
    /// Rule per table and column, in catalog order; every catalog column has one.
    pub tables: BTreeMap<String, BTreeMap<String, ColumnRule>>,
    /// Privacy models.
    pub privacy: PrivacyPolicy,
}

/// Where a policy came from, for error messages.
#[derive(Debug, Clone)]
struct Src(String);

impl fmt::Display for Src {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(src: &Src, why: impl Into<String>) -> ReleaseError {
    ReleaseError::Policy {
        source_name: src.0.clone(),
        why: why.into(),
    }
}

impl Policy {
    /// A preset by name.
    pub fn preset(name: &str) -> Result<Policy, ReleaseError> {
        let text = preset_text(name).ok_or_else(|| ReleaseError::Policy {
            source_name: format!("preset:{name}"),
            why: format!("no such preset (known: {})", PRESETS.join(", ")),
        })?;
        Self::parse_named(&format!("preset:{name}"), text)
    }

    /// Parse a policy file's text; `source_name` names it in errors (a path or `preset:<name>`).
    pub fn parse_named(source_name: &str, text: &str) -> Result<Policy, ReleaseError> {
        let src = Src(source_name.to_owned());
        let table: TomlTable = toml::from_str(text).map_err(|e| err(&src, e.message()))?;
        let merged = match table.get("extends") {
            None => table,
            Some(Value::String(base)) => {
                let base_text = preset_text(base).ok_or_else(|| {
                    err(
                        &src,
                        format!("extends: no such preset (known: {})", PRESETS.join(", ")),
                    )
                })?;
                let base_src = Src(format!("preset:{base}"));
                let mut base_table: TomlTable =
                    toml::from_str(base_text).map_err(|e| err(&base_src, e.message()))?;
                if base_table.contains_key("extends") {
                    return Err(err(&base_src, "a preset cannot extend another policy"));
                }
                merge(&mut base_table, table, "");
                base_table
            }
            Some(_) => return Err(err(&src, "extends: must be a preset name")),
        };
        from_table(&src, &merged)
    }

    /// Parse a policy file's text (named `policy` in errors).
    pub fn parse(text: &str) -> Result<Policy, ReleaseError> {
        Self::parse_named("policy", text)
    }

    /// The rule of a column (`drop` when the table or column is unknown).
    pub fn rule(&self, table: &str, column: &str) -> ColumnRule {
        self.tables
            .get(table)
            .and_then(|t| t.get(column))
            .copied()
            .unwrap_or(ColumnRule::DROP)
    }

    /// Whether a table is released: some column other than `person_id` is not dropped.
    pub fn releases_table(&self, table: &str) -> bool {
        self.tables.get(table).is_some_and(|cols| {
            cols.iter()
                .any(|(c, r)| c != "person_id" && r.action != Action::Drop)
        })
    }

    /// The effective policy as TOML, every column explicit; parsing it gives back `self`.
    pub fn to_toml(&self) -> String {
        let mut root = TomlTable::new();
        root.insert("name".into(), Value::String(self.name.clone()));
        root.insert("mode".into(), Value::String(self.mode.as_str().into()));
        let mut privacy = TomlTable::new();
        let p = &self.privacy;
        privacy.insert("max_risk".into(), Value::Float(p.max_risk));
        privacy.insert(
            "age_top_code".into(),
            match p.age_top_code {
                Some(a) => Value::Integer(i64::from(a)),
                None => Value::Boolean(false),
            },
        );
        privacy.insert(
            "rare_code_min_persons".into(),
            Value::Integer(i64::from(p.rare_code_min_persons)),
        );
        privacy.insert(
            "area_finest_level".into(),
            Value::Integer(i64::from(p.area_finest_level)),
        );
        let mut put = |key: &str, v: Option<TomlTable>| {
            privacy.insert(key.into(), v.map_or(Value::Boolean(false), Value::Table));
        };
        put(
            "k_anonymity",
            p.k_anonymity.as_ref().map(|k| {
                let mut t = TomlTable::new();
                t.insert("k".into(), Value::Integer(i64::from(k.k)));
                t.insert(
                    "quasi_identifiers".into(),
                    Value::Array(
                        k.quasi_identifiers
                            .iter()
                            .map(|q| Value::String(q.clone()))
                            .collect(),
                    ),
                );
                t.insert(
                    "suppression_limit".into(),
                    Value::Float(k.suppression_limit),
                );
                t
            }),
        );
        put(
            "km_anonymity",
            p.km_anonymity.as_ref().map(|k| {
                let mut t = TomlTable::new();
                t.insert("k".into(), Value::Integer(k.k as i64));
                t.insert("m".into(), Value::Integer(k.m as i64));
                t.insert("table".into(), Value::String(k.table.clone()));
                t.insert("column".into(), Value::String(k.column.clone()));
                t.insert("within_classes".into(), Value::Boolean(k.within_classes));
                t
            }),
        );
        put(
            "l_diversity",
            p.l_diversity.as_ref().map(|l| {
                let mut t = TomlTable::new();
                t.insert("column".into(), Value::String(l.column.clone()));
                match l.model {
                    tsunagu_anon::LDiversity::Distinct { l } => {
                        t.insert("variant".into(), Value::String("distinct".into()));
                        t.insert("l".into(), Value::Float(f64::from(l)));
                    }
                    tsunagu_anon::LDiversity::Entropy { l } => {
                        t.insert("variant".into(), Value::String("entropy".into()));
                        t.insert("l".into(), Value::Float(l));
                    }
                    tsunagu_anon::LDiversity::Recursive { c, l } => {
                        t.insert("variant".into(), Value::String("recursive".into()));
                        t.insert("l".into(), Value::Float(f64::from(l)));
                        t.insert("c".into(), Value::Float(c));
                    }
                }
                t
            }),
        );
        put(
            "t_closeness",
            p.t_closeness.as_ref().map(|tc| {
                let mut t = TomlTable::new();
                t.insert("column".into(), Value::String(tc.column.clone()));
                t.insert("t".into(), Value::Float(tc.t));
                t
            }),
        );
        put(
            "attack",
            p.attack.as_ref().map(|a| {
                let mut t = TomlTable::new();
                t.insert("sample".into(), Value::Integer(a.sample as i64));
                t.insert("limit".into(), Value::Float(a.limit));
                t.insert(
                    "diagnoses_known".into(),
                    Value::Integer(a.diagnoses_known as i64),
                );
                t
            }),
        );
        root.insert("privacy".into(), Value::Table(privacy));
        let mut tables = TomlTable::new();
        for (tname, cols) in CATALOG {
            let mut t = TomlTable::new();
            for c in *cols {
                t.insert(c.name.into(), rule_to_value(&self.rule(tname, c.name)));
            }
            tables.insert((*tname).into(), Value::Table(t));
        }
        root.insert("tables".into(), Value::Table(tables));
        let body = toml::to_string(&root).unwrap_or_default();
        let mut out = format!(
            "# Effective policy of this release (presets and overrides resolved; every column explicit).\n# extends: {}\n",
            self.extends.as_deref().unwrap_or("(none)")
        );
        out.push_str(&body);
        out
    }
}

fn rule_to_value(r: &ColumnRule) -> Value {
    let mut t = TomlTable::new();
    t.insert("action".into(), Value::String(r.action.name().into()));
    match r.action {
        Action::Generalize(Level::Fixed(l)) => {
            t.insert("level".into(), Value::Integer(i64::from(l)));
        }
        Action::Generalize(Level::Search { max }) => {
            t.insert("level".into(), Value::String("search".into()));
            t.insert("max_level".into(), Value::Integer(i64::from(max)));
        }
        Action::Date(to) => {
            let s = match to {
                DateTo::Day => "day",
                DateTo::Month => "month",
                DateTo::Year => "year",
                DateTo::Relative => "relative",
                DateTo::Shift { days } => {
                    t.insert("days".into(), Value::Integer(i64::from(days)));
                    "shift"
                }
            };
            t.insert("to".into(), Value::String(s.into()));
        }
        Action::TopBottomCode { lower, upper } => {
            t.insert("lower".into(), Value::Float(lower));
            t.insert("upper".into(), Value::Float(upper));
        }
        Action::Drop | Action::Keep | Action::Pseudonym => {}
    }
    if let Some(n) = r.suppress_rare {
        t.insert("suppress_rare".into(), Value::Integer(i64::from(n)));
    }
    if t.len() == 1 {
        return Value::String(r.action.name().into());
    }
    Value::Table(t)
}

/// The text of an embedded preset.
pub fn preset_text(name: &str) -> Option<&'static str> {
    match name {
        "anonymized-jp" => Some(ANONYMIZED_JP),
        "pseudonymized-jp" => Some(PSEUDONYMIZED_JP),
        _ => None,
    }
}

/// Merge `over` into `base`: tables merge recursively, except a column's rule
/// (`tables.<t>.<c>`), which is replaced whole so that an override never inherits stray keys
/// of the base's action.
fn merge(base: &mut TomlTable, over: TomlTable, path: &str) {
    for (k, v) in over {
        let here = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let is_column_rule = here.starts_with("tables.") && here.matches('.').count() == 2;
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) if !is_column_rule => merge(b, o, &here),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Reads keys of one TOML table, remembering which were used so the rest are errors.
struct Keys<'a> {
    src: &'a Src,
    path: String,
    table: &'a TomlTable,
    used: Vec<&'a str>,
}

impl<'a> Keys<'a> {
    fn new(src: &'a Src, path: &str, table: &'a TomlTable) -> Self {
        Keys {
            src,
            path: path.to_owned(),
            table,
            used: Vec::new(),
        }
    }

    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&mut self, key: &'a str) -> Option<&'a Value> {
        self.used.push(key);
        self.table.get(key)
    }

    fn string(&mut self, key: &'a str) -> Result<Option<&'a str>, ReleaseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(err(self.src, format!("{}: must be a string", self.at(key)))),
        }
    }

    fn uint(&mut self, key: &'a str, max: u64) -> Result<Option<u64>, ReleaseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) if *i >= 0 && (*i as u64) <= max => Ok(Some(*i as u64)),
            Some(_) => Err(err(
                self.src,
                format!("{}: must be an integer from 0 to {max}", self.at(key)),
            )),
        }
    }

    fn float(&mut self, key: &'a str, lo: f64, hi: f64) -> Result<Option<f64>, ReleaseError> {
        let v = match self.get(key) {
            None => return Ok(None),
            Some(Value::Float(f)) => *f,
            Some(Value::Integer(i)) => *i as f64,
            Some(_) => {
                return Err(err(self.src, format!("{}: must be a number", self.at(key))));
            }
        };
        if !(lo..=hi).contains(&v) {
            return Err(err(
                self.src,
                format!("{}: must be between {lo} and {hi}", self.at(key)),
            ));
        }
        Ok(Some(v))
    }

    fn required<T>(&self, key: &str, v: Option<T>) -> Result<T, ReleaseError> {
        v.ok_or_else(|| err(self.src, format!("{}: missing", self.at(key))))
    }

    /// A sub-table, or `false` (switched off).
    fn model(&mut self, key: &'a str) -> Result<Option<&'a TomlTable>, ReleaseError> {
        match self.get(key) {
            None | Some(Value::Boolean(false)) => Ok(None),
            Some(Value::Table(t)) => Ok(Some(t)),
            Some(_) => Err(err(
                self.src,
                format!("{}: must be a table or false", self.at(key)),
            )),
        }
    }

    fn finish(self) -> Result<(), ReleaseError> {
        for k in self.table.keys() {
            if !self.used.contains(&k.as_str()) {
                return Err(err(self.src, format!("{}: unknown key", self.at(k))));
            }
        }
        Ok(())
    }
}

fn from_table(src: &Src, root: &TomlTable) -> Result<Policy, ReleaseError> {
    let mut keys = Keys::new(src, "", root);
    let name = keys
        .string("name")?
        .map(str::to_owned)
        .ok_or_else(|| err(src, "name: missing"))?;
    let extends = keys.string("extends")?.map(str::to_owned);
    let mode = match keys.string("mode")? {
        Some("anonymized") => Mode::Anonymized,
        Some("pseudonymized") => Mode::Pseudonymized,
        Some(_) => return Err(err(src, "mode: must be anonymized or pseudonymized")),
        None => return Err(err(src, "mode: missing")),
    };
    keys.string("description")?;
    let privacy = match keys.get("privacy") {
        Some(Value::Table(t)) => parse_privacy(src, t)?,
        Some(_) => return Err(err(src, "privacy: must be a table")),
        None => return Err(err(src, "privacy: missing")),
    };
    let tables_v = match keys.get("tables") {
        Some(Value::Table(t)) => t,
        Some(_) => return Err(err(src, "tables: must be a table")),
        None => return Err(err(src, "tables: missing")),
    };
    keys.finish()?;
    let mut tables = BTreeMap::new();
    for (tname, tv) in tables_v {
        let Some(cat) = catalog(tname) else {
            return Err(err(
                src,
                format!(
                    "tables.{tname}: unknown table (known: persons, encounters, conditions, medications, observations, procedures, checkups, claims)"
                ),
            ));
        };
        let Value::Table(cols) = tv else {
            return Err(err(src, format!("tables.{tname}: must be a table")));
        };
        let mut rules = BTreeMap::new();
        for (cname, cv) in cols {
            let path = format!("tables.{tname}.{cname}");
            let Some(c) = cat.iter().find(|c| c.name == cname) else {
                return Err(err(src, format!("{path}: unknown column")));
            };
            rules.insert(cname.clone(), parse_rule(src, &path, c.kind, mode, cv)?);
        }
        tables.insert(tname.clone(), rules);
    }
    // Every catalog column gets an explicit rule; unmentioned ones are dropped.
    for (tname, cols) in CATALOG {
        let rules = tables.entry((*tname).to_owned()).or_default();
        for c in *cols {
            rules.entry(c.name.to_owned()).or_insert(ColumnRule::DROP);
        }
    }
    let policy = Policy {
        name,
        extends,
        mode,
        tables,
        privacy,
    };
    cross_check(src, &policy)?;
    Ok(policy)
}

/// Rules that relate several keys.
fn cross_check(src: &Src, p: &Policy) -> Result<(), ReleaseError> {
    if let Some(k) = &p.privacy.k_anonymity {
        for q in &k.quasi_identifiers {
            if !["sex", "age", "area"].contains(&q.as_str()) {
                return Err(err(
                    src,
                    "privacy.k_anonymity.quasi_identifiers: only sex, age and area are person-level quasi-identifiers",
                ));
            }
            if p.rule("persons", q).action == Action::Drop {
                continue;
            }
        }
        let mut seen = k.quasi_identifiers.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != k.quasi_identifiers.len() {
            return Err(err(
                src,
                "privacy.k_anonymity.quasi_identifiers: listed twice",
            ));
        }
    }
    if let Some(km) = &p.privacy.km_anonymity {
        if km.table != "conditions" || km.column != "icd10" {
            return Err(err(
                src,
                "privacy.km_anonymity: only conditions.icd10 is supported",
            ));
        }
        if !matches!(p.rule("conditions", "icd10").action, Action::Generalize(_)) {
            return Err(err(
                src,
                "tables.conditions.icd10: k^m-anonymity needs action generalize (it generalizes the codes)",
            ));
        }
    }
    for (key, column) in [
        (
            "privacy.l_diversity.column",
            p.privacy.l_diversity.as_ref().map(|l| &l.column),
        ),
        (
            "privacy.t_closeness.column",
            p.privacy.t_closeness.as_ref().map(|t| &t.column),
        ),
    ] {
        if let Some(c) = column {
            let qi = p
                .privacy
                .k_anonymity
                .as_ref()
                .is_some_and(|k| k.quasi_identifiers.contains(c));
            if qi || catalog("persons").is_none_or(|cat| !cat.iter().any(|x| x.name == c)) {
                return Err(err(
                    src,
                    format!("{key}: must be a persons column that is not a quasi-identifier"),
                ));
            }
            if p.privacy.k_anonymity.is_none() {
                return Err(err(src, format!("{key}: needs privacy.k_anonymity")));
            }
        }
    }
    // Searched levels are chosen by k-anonymity (persons) or k^m (icd10); anywhere else a
    // search has nothing to drive it.
    for (tname, cols) in &p.tables {
        for (cname, r) in cols {
            if let Action::Generalize(Level::Search { .. }) = r.action {
                let driven = match (tname.as_str(), cname.as_str()) {
                    ("persons", q) => p
                        .privacy
                        .k_anonymity
                        .as_ref()
                        .is_some_and(|k| k.quasi_identifiers.iter().any(|x| x == q)),
                    ("conditions", "icd10") => p.privacy.km_anonymity.is_some(),
                    _ => false,
                };
                if !driven {
                    return Err(err(
                        src,
                        format!(
                            "tables.{tname}.{cname}.level: \"search\" needs a privacy model over this column"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn parse_privacy(src: &Src, t: &TomlTable) -> Result<PrivacyPolicy, ReleaseError> {
    let mut keys = Keys::new(src, "privacy", t);
    let max_risk = keys.float("max_risk", 0.0, 1.0)?.unwrap_or(1.0);
    let age_top_code = match keys.get("age_top_code") {
        None => None,
        Some(Value::Boolean(false)) => None,
        Some(Value::Integer(i)) if (1..=150).contains(i) => Some(*i as u32),
        Some(_) => {
            return Err(err(
                src,
                "privacy.age_top_code: must be an age from 1 to 150, or false",
            ));
        }
    };
    let rare_code_min_persons = keys.uint("rare_code_min_persons", 1_000_000)?.unwrap_or(1) as u32;
    let area_finest_level = keys.uint("area_finest_level", 3)?.unwrap_or(0) as u8;
    let k_anonymity = match keys.model("k_anonymity")? {
        None => None,
        Some(kt) => {
            let mut k = Keys::new(src, "privacy.k_anonymity", kt);
            let kv = k.uint("k", u64::from(u32::MAX))?;
            let kv = k.required("k", kv)? as u32;
            if kv == 0 {
                return Err(err(src, "privacy.k_anonymity.k: must be at least 1"));
            }
            let qis = match k.get("quasi_identifiers") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_owned).ok_or_else(|| {
                            err(
                                src,
                                "privacy.k_anonymity.quasi_identifiers: must be strings",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                None => vec!["sex".into(), "age".into(), "area".into()],
                Some(_) => {
                    return Err(err(
                        src,
                        "privacy.k_anonymity.quasi_identifiers: must be an array",
                    ));
                }
            };
            let suppression_limit = k.float("suppression_limit", 0.0, 1.0)?.unwrap_or(0.0);
            k.finish()?;
            Some(KAnonymityPolicy {
                k: kv,
                quasi_identifiers: qis,
                suppression_limit,
            })
        }
    };
    let km_anonymity = match keys.model("km_anonymity")? {
        None => None,
        Some(kt) => {
            let mut k = Keys::new(src, "privacy.km_anonymity", kt);
            let kv = k.uint("k", 1_000_000)?;
            let kv = k.required("k", kv)? as usize;
            let m = k.uint("m", 8)?;
            let m = k.required("m", m)? as usize;
            if kv == 0 || m == 0 {
                return Err(err(src, "privacy.km_anonymity: k and m must be at least 1"));
            }
            let table = k.string("table")?.unwrap_or("conditions").to_owned();
            let column = k.string("column")?.unwrap_or("icd10").to_owned();
            let within_classes = match k.get("within_classes") {
                None => false,
                Some(Value::Boolean(b)) => *b,
                Some(_) => {
                    return Err(err(
                        src,
                        "privacy.km_anonymity.within_classes: must be true or false",
                    ));
                }
            };
            k.finish()?;
            Some(KmPolicy {
                k: kv,
                m,
                table,
                column,
                within_classes,
            })
        }
    };
    let l_diversity = match keys.model("l_diversity")? {
        None => None,
        Some(lt) => {
            let mut k = Keys::new(src, "privacy.l_diversity", lt);
            let column = k.string("column")?;
            let column = k.required("column", column)?.to_owned();
            let l = k.float("l", 1.0, 1e6)?;
            let l = k.required("l", l)?;
            let model = match k.string("variant")?.unwrap_or("distinct") {
                "distinct" => tsunagu_anon::LDiversity::Distinct { l: l as u32 },
                "entropy" => tsunagu_anon::LDiversity::Entropy { l },
                "recursive" => {
                    let c = k.float("c", 0.0, 1e6)?;
                    let c = k.required("c", c)?;
                    tsunagu_anon::LDiversity::Recursive { c, l: l as u32 }
                }
                _ => {
                    return Err(err(
                        src,
                        "privacy.l_diversity.variant: must be distinct, entropy or recursive",
                    ));
                }
            };
            k.finish()?;
            Some(LDiversityPolicy { column, model })
        }
    };
    let t_closeness = match keys.model("t_closeness")? {
        None => None,
        Some(tt) => {
            let mut k = Keys::new(src, "privacy.t_closeness", tt);
            let column = k.string("column")?;
            let column = k.required("column", column)?.to_owned();
            let t = k.float("t", 0.0, 1.0)?;
            let t = k.required("t", t)?;
            k.finish()?;
            Some(TClosenessPolicy { column, t })
        }
    };
    let attack = match keys.model("attack")? {
        None => None,
        Some(at) => {
            let mut k = Keys::new(src, "privacy.attack", at);
            let sample = k.uint("sample", 10_000_000)?.unwrap_or(500);
            let limit = k.float("limit", 0.0, 1.0)?.unwrap_or(0.05);
            let diagnoses_known = k.uint("diagnoses_known", 16)?.unwrap_or(2) as usize;
            k.finish()?;
            Some(AttackPolicy {
                sample,
                limit,
                diagnoses_known,
            })
        }
    };
    keys.finish()?;
    Ok(PrivacyPolicy {
        k_anonymity,
        km_anonymity,
        l_diversity,
        t_closeness,
        max_risk,
        age_top_code,
        rare_code_min_persons,
        area_finest_level,
        attack,
    })
}

/// Highest generalization level of a hierarchy kind.
pub fn max_level(kind: ColumnKind) -> Option<u8> {
    match kind {
        ColumnKind::Age => Some(4),
        ColumnKind::Area => Some(3),
        ColumnKind::Icd10 => Some(3),
        ColumnKind::DrugCode => Some(4),
        ColumnKind::Sex => Some(1),
        _ => None,
    }
}

fn parse_rule(
    src: &Src,
    path: &str,
    kind: ColumnKind,
    mode: Mode,
    v: &Value,
) -> Result<ColumnRule, ReleaseError> {
    let (action_name, table) = match v {
        Value::String(s) => (s.as_str(), None),
        Value::Table(t) => match t.get("action") {
            Some(Value::String(s)) => (s.as_str(), Some(t)),
            _ => return Err(err(src, format!("{path}.action: missing or not a string"))),
        },
        _ => {
            return Err(err(
                src,
                format!("{path}: must be an action name or a table with `action`"),
            ));
        }
    };
    let empty = TomlTable::new();
    let mut keys = Keys::new(src, path, table.unwrap_or(&empty));
    keys.used.push("action");
    let mut suppress_rare = keys.uint("suppress_rare", 1_000_000)?.map(|n| n as u32);
    let action = match action_name {
        "drop" => Action::Drop,
        "keep" => Action::Keep,
        "pseudonym" => Action::Pseudonym,
        "suppress_rare" => {
            let n = keys.uint("min_persons", 1_000_000)?;
            suppress_rare = Some(keys.required("min_persons", n)? as u32);
            Action::Keep
        }
        "generalize" => {
            let max = max_level(kind).ok_or_else(|| {
                err(
                    src,
                    format!("{path}: this column has no hierarchy to generalize along"),
                )
            })?;
            if let Some(h) = keys.string("hierarchy")? {
                let want = match kind {
                    ColumnKind::Age => "age",
                    ColumnKind::Area => "area",
                    ColumnKind::Icd10 => "icd10",
                    ColumnKind::DrugCode => "drug",
                    _ => "sex",
                };
                if h != want {
                    return Err(err(
                        src,
                        format!("{path}.hierarchy: this column generalizes along `{want}`"),
                    ));
                }
            }
            let level = match keys.get("level") {
                Some(Value::Integer(l)) if (0..=i64::from(max)).contains(l) => {
                    Level::Fixed(*l as u8)
                }
                Some(Value::String(s)) if s == "search" => {
                    let m = keys.uint("max_level", u64::from(max))?;
                    Level::Search {
                        max: m.map_or(max, |m| m as u8),
                    }
                }
                _ => {
                    return Err(err(
                        src,
                        format!("{path}.level: must be 0 to {max} or \"search\""),
                    ));
                }
            };
            Action::Generalize(level)
        }
        "date" => {
            let to = match keys.string("to")? {
                Some("day") => DateTo::Day,
                Some("month") => DateTo::Month,
                Some("year") => DateTo::Year,
                Some("relative") => DateTo::Relative,
                Some("shift") => {
                    let d = keys.uint("days", 3650)?;
                    let d = keys.required("days", d)?;
                    if d == 0 {
                        return Err(err(src, format!("{path}.days: must be at least 1")));
                    }
                    DateTo::Shift { days: d as u32 }
                }
                _ => {
                    return Err(err(
                        src,
                        format!("{path}.to: must be day, month, year, relative or shift"),
                    ));
                }
            };
            Action::Date(to)
        }
        "top_bottom_code" => {
            let lower = keys.float("lower", 0.0, 0.5)?.unwrap_or(0.01);
            let upper = keys.float("upper", 0.5, 1.0)?.unwrap_or(0.99);
            Action::TopBottomCode { lower, upper }
        }
        _ => {
            return Err(err(
                src,
                format!(
                    "{path}: unknown action (drop, keep, pseudonym, generalize, date, top_bottom_code, suppress_rare)"
                ),
            ));
        }
    };
    keys.finish()?;
    // Which actions fit which kinds of column. An identifier can never be kept as it is, in
    // either mode: both standards require linking codes to be replaced.
    let ok = match (kind, action) {
        (_, Action::Drop) => true,
        (K::PersonId | K::EventId(_) | K::ProviderId, a) => a == Action::Pseudonym,
        (_, Action::Pseudonym) => false,
        (K::Date | K::DateTime, Action::Date(_) | Action::Keep) => true,
        (K::Month, Action::Keep | Action::Date(DateTo::Month | DateTo::Year)) => true,
        (
            K::Age | K::Area | K::Icd10 | K::DrugCode | K::Sex,
            Action::Generalize(_) | Action::Keep,
        ) => true,
        (K::Measure, Action::TopBottomCode { .. } | Action::Keep) => true,
        (
            K::Code
            | K::Category
            | K::FreeText
            | K::Number
            | K::Bool
            | K::Year
            | K::Postal3
            | K::FacilityCode,
            Action::Keep,
        ) => true,
        _ => false,
    };
    if !ok {
        return Err(err(
            src,
            format!(
                "{path}: action {} does not apply to this column",
                action.name()
            ),
        ));
    }
    if suppress_rare.is_some() && !matches!(kind, K::Icd10 | K::DrugCode | K::Code) {
        return Err(err(
            src,
            format!("{path}.suppress_rare: only code columns can suppress rare codes"),
        ));
    }
    if mode == Mode::Anonymized && path == "tables.persons.birth_month" && action != Action::Drop {
        // The birth month (or year) beside the age band would undo the band the k-anonymity
        // search chose: in an anonymized release the age is the only birth-derived column.
        return Err(err(
            src,
            format!("{path}: an anonymized release cannot carry the birth month (use age)"),
        ));
    }
    if mode == Mode::Anonymized && kind == K::Postal3 && action == Action::Keep {
        // Three postal digits next to the area would let a reader narrow the area below the
        // level the k-anonymity search chose.
        return Err(err(
            src,
            format!("{path}: an anonymized release cannot keep postal3 (use area)"),
        ));
    }
    Ok(ColumnRule {
        action,
        suppress_rare,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn why(r: Result<Policy, ReleaseError>) -> String {
        match r {
            Err(ReleaseError::Policy { why, .. }) => why,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn presets_parse_with_issue_defaults() {
        let a = Policy::preset("anonymized-jp").unwrap();
        assert_eq!(a.mode, Mode::Anonymized);
        let k = a.privacy.k_anonymity.as_ref().unwrap();
        assert_eq!(k.k, 5);
        assert_eq!(k.quasi_identifiers, ["sex", "age", "area"]);
        let km = a.privacy.km_anonymity.as_ref().unwrap();
        assert_eq!((km.k, km.m), (5, 2));
        assert!(km.within_classes);
        assert_eq!(a.privacy.age_top_code, Some(90));
        assert_eq!(
            a.rule("conditions", "onset").action,
            Action::Date(DateTo::Year)
        );
        assert_eq!(
            a.rule("observations", "value").action,
            Action::TopBottomCode {
                lower: 0.01,
                upper: 0.99
            }
        );
        for (t, c) in [
            ("conditions", "name"),
            ("observations", "value_text"),
            ("medications", "usage"),
            ("observations", "reference_range"),
            ("conditions", "status"),
            ("encounters", "department"),
            ("persons", "provider_id"),
            ("claims", "facility_code"),
        ] {
            assert_eq!(a.rule(t, c).action, Action::Drop, "{t}.{c}");
        }
        assert_eq!(a.rule("persons", "person_id").action, Action::Pseudonym);
        assert_eq!(
            a.rule("persons", "area").action,
            Action::Generalize(Level::Search { max: 2 })
        );
        let p = Policy::preset("pseudonymized-jp").unwrap();
        assert_eq!(p.mode, Mode::Pseudonymized);
        assert!(p.privacy.k_anonymity.is_none());
        assert!(p.privacy.km_anonymity.is_none());
        assert_eq!(
            p.rule("conditions", "onset").action,
            Action::Date(DateTo::Day)
        );
        assert_eq!(p.rule("conditions", "icd10").action, Action::Keep);
        assert_eq!(p.rule("conditions", "record_id").action, Action::Pseudonym);
    }

    #[test]
    fn extends_overrides_and_switches_off() {
        let p = Policy::parse(
            r#"
name = "study-42"
extends = "anonymized-jp"
[privacy]
km_anonymity = false
[privacy.k_anonymity]
k = 10
[tables.conditions]
icd10 = { action = "generalize", level = 1, suppress_rare = 5 }
onset = { action = "date", to = "month" }
name = "keep"
"#,
        )
        .unwrap();
        assert_eq!(p.name, "study-42");
        assert_eq!(p.extends.as_deref(), Some("anonymized-jp"));
        assert_eq!(p.mode, Mode::Anonymized);
        let k = p.privacy.k_anonymity.as_ref().unwrap();
        assert_eq!(k.k, 10);
        // Inherited keys of the table stay.
        assert_eq!(k.quasi_identifiers, ["sex", "age", "area"]);
        assert!(p.privacy.km_anonymity.is_none());
        assert_eq!(
            p.rule("conditions", "icd10"),
            ColumnRule {
                action: Action::Generalize(Level::Fixed(1)),
                suppress_rare: Some(5)
            }
        );
        assert_eq!(p.rule("conditions", "name").action, Action::Keep);
        assert_eq!(
            p.rule("conditions", "onset").action,
            Action::Date(DateTo::Month)
        );
        // Untouched columns keep the preset's rule.
        assert_eq!(
            p.rule("conditions", "recorded").action,
            Action::Date(DateTo::Year)
        );
    }

    #[test]
    fn unknown_keys_name_their_path() {
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[tables.conditions]\nicd10 = { action = 'generalize', levle = 1 }\n",
        ));
        assert!(w.contains("tables.conditions.icd10"), "{w}");
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[tables.conditions]\nicd10 = { action = 'generalize', level = 1, levle = 2 }\n",
        ));
        assert!(
            w.contains("tables.conditions.icd10.levle: unknown key"),
            "{w}"
        );
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[privacy.k_anonymity]\nkk = 3\n",
        ));
        assert!(w.contains("privacy.k_anonymity.kk: unknown key"), "{w}");
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\nfoo = 1\n",
        ));
        assert!(w.contains("foo: unknown key"), "{w}");
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[tables.persons]\nshoe_size = 'keep'\n",
        ));
        assert!(
            w.contains("tables.persons.shoe_size: unknown column"),
            "{w}"
        );
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[tables.pets]\nx = 'keep'\n",
        ));
        assert!(w.contains("tables.pets: unknown table"), "{w}");
        let w = why(Policy::parse("name='x'\nextends='nope'\n"));
        assert!(w.contains("extends"), "{w}");
    }

    #[test]
    fn ids_can_never_be_kept_and_actions_must_fit() {
        for (t, c) in [
            ("persons", "person_id"),
            ("conditions", "record_id"),
            ("claims", "claim_id"),
            ("persons", "provider_id"),
        ] {
            let w = why(Policy::parse(&format!(
                "name='x'\nextends='pseudonymized-jp'\n[tables.{t}]\n{c} = 'keep'\n"
            )));
            assert!(w.contains("does not apply"), "{t}.{c}: {w}");
        }
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[tables.observations]\nvalue = { action = 'date', to = 'month' }\n",
        ));
        assert!(w.contains("tables.observations.value"), "{w}");
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[tables.medications]\ncode = { action = 'generalize', level = 9 }\n",
        ));
        assert!(w.contains("tables.medications.code.level"), "{w}");
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[tables.medications]\ncode = { action = 'generalize', level = 'search' }\n",
        ));
        assert!(w.contains("needs a privacy model"), "{w}");
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[tables.persons]\npostal3 = 'keep'\n",
        ));
        assert!(w.contains("postal3"), "{w}");
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[tables.persons]\nbirth_month = { action = 'date', to = 'year' }\n",
        ));
        assert!(w.contains("tables.persons.birth_month"), "{w}");
    }

    #[test]
    fn switching_a_model_off_leaves_its_searched_column_to_be_fixed() {
        // k^m off but icd10 still says "search": nothing would drive the search.
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[privacy]\nkm_anonymity = false\n",
        ));
        assert!(w.contains("tables.conditions.icd10.level"), "{w}");
        // k^m on a column that is kept as it is would silently generalize it.
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[tables.conditions]\nicd10 = 'keep'\n",
        ));
        assert!(w.contains("k^m-anonymity needs action generalize"), "{w}");
        let w = why(Policy::parse(
            "name='x'\nextends='anonymized-jp'\n[privacy.k_anonymity]\nquasi_identifiers = ['sex', 'shoe']\n",
        ));
        assert!(w.contains("quasi_identifiers"), "{w}");
    }

    #[test]
    fn unmentioned_columns_are_dropped_and_resolved_round_trips() {
        let p = Policy::parse(
            r#"
name = "minimal"
mode = "anonymized"
[privacy]
max_risk = 0.2
[tables.persons]
person_id = "pseudonym"
sex = "keep"
"#,
        )
        .unwrap();
        assert_eq!(p.rule("persons", "age").action, Action::Drop);
        assert!(!p.releases_table("conditions"));
        assert!(p.releases_table("persons"));
        for base in [
            p,
            Policy::preset("anonymized-jp").unwrap(),
            Policy::preset("pseudonymized-jp").unwrap(),
        ] {
            let text = base.to_toml();
            let mut again = Policy::parse(&text).unwrap();
            again.extends = base.extends.clone();
            assert_eq!(again, base);
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_fixed_level_in_range_parses_and_out_of_range_fails(level in 0i64..12) {
                let text = format!(
                    "name='x'\nextends='anonymized-jp'\n[tables.medications]\ncode = {{ action = 'generalize', level = {level} }}\n"
                );
                let r = Policy::parse(&text);
                if level <= 4 {
                    let p = r.unwrap();
                    prop_assert_eq!(
                        p.rule("medications", "code").action,
                        Action::Generalize(Level::Fixed(level as u8))
                    );
                } else {
                    prop_assert!(r.is_err());
                }
            }

            #[test]
            fn quantiles_outside_their_half_fail(lower in 0.0f64..1.0, upper in 0.0f64..1.0) {
                let text = format!(
                    "name='x'\nextends='anonymized-jp'\n[tables.observations]\nvalue = {{ action = 'top_bottom_code', lower = {lower:?}, upper = {upper:?} }}\n"
                );
                let ok = Policy::parse(&text).is_ok();
                prop_assert_eq!(ok, lower <= 0.5 && upper >= 0.5);
            }
        }
    }
}
