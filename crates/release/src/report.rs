//! The risk report (`risk-report.json`, and `risk-report.html` for people): what was done to the
//! data, the privacy models as verified on the output, the attack test, utility, and a verdict
//! per measure of the Act. It holds counts, parameters and labels of generalized groups, never a
//! value of a single person.

use std::collections::BTreeMap;

use serde::Serialize;

/// Pass or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The measure holds.
    Pass,
    /// The measure does not hold; the release cannot be approved.
    Fail,
}

/// One thing a check found (a failure, or a note on a pass). Never carries a person's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Table.
    pub table: String,
    /// Column, when the finding is about one.
    pub column: Option<String>,
    /// The rule (`my_number`, `age_top_code`, `rare_code`, `local_id`, …).
    pub rule: String,
    /// How many values or rows.
    pub count: u64,
    /// What it means, in English (the HTML adds the Japanese).
    pub detail: String,
}

/// The verdict on one of the five measures (匿名加工の基準, 規則 §… as design.md §3 numbers them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasureVerdict {
    /// 1 to 5.
    pub measure: u8,
    /// Japanese title.
    pub title_ja: String,
    /// English title.
    pub title_en: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found.
    pub findings: Vec<Finding>,
}

/// What the policy did to one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransformNote {
    /// Table.
    pub table: String,
    /// Column.
    pub column: String,
    /// The action (`drop`, `keep`, `pseudonym`, `generalize`, `date`, `top_bottom_code`, `suppress_rare`).
    pub action: String,
    /// Parameters and level as text (`level 2 (municipality → prefecture)`, `month`, `≥ 90`).
    pub detail: String,
    /// Values changed (generalized, coded, suppressed).
    pub changed: u64,
}

/// k-anonymity on the person-level quasi-identifiers, as verified on the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KAnonymity {
    /// k.
    pub k: usize,
    /// The quasi-identifier columns of `persons`.
    pub quasi_identifiers: Vec<String>,
    /// Level chosen per quasi-identifier.
    pub transformation: BTreeMap<String, usize>,
    /// Persons whose quasi-identifiers were all suppressed (`*`).
    pub suppressed_records: u64,
    /// Equivalence classes in the output (suppressed records not counted).
    pub equivalence_classes: u64,
    /// Smallest class in the output.
    pub min_class_size: u64,
    /// Class size → number of classes.
    pub class_sizes: BTreeMap<u64, u64>,
    /// Whether it holds on the output.
    pub holds: bool,
}

/// k^m-anonymity of each person's set of diagnoses, as verified on the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KmAnonymity {
    /// k.
    pub k: usize,
    /// m.
    pub m: usize,
    /// Occurrences generalized up the ICD-10 tree.
    pub generalized: u64,
    /// Occurrences suppressed.
    pub suppressed: u64,
    /// Information loss in [0, 1].
    pub information_loss: f64,
    /// Itemsets of at most m codes found in fewer than k persons (0 when it holds).
    pub violations: u64,
    /// Whether it holds on the output.
    pub holds: bool,
}

/// Re-identification risk of the persons table from the engine (prosecutor, journalist, marketer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Risk {
    /// Highest prosecutor risk (1 / smallest class).
    pub prosecutor_highest: f64,
    /// Average prosecutor risk.
    pub prosecutor_average: f64,
    /// Records whose risk is above the policy's maximum.
    pub records_at_risk: u64,
    /// Share of records in classes of size one.
    pub sample_uniques: f64,
    /// Marketer risk (expected share re-identified by matching all records).
    pub marketer: f64,
    /// The policy's maximum risk.
    pub max_risk: f64,
}

/// The re-identification attack test (see `attack`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attack {
    /// Seed of the sample and of the attacker's choices.
    pub seed: u64,
    /// Persons in the attacker's table.
    pub sample: u64,
    /// Attributes the attacker knows.
    pub knowledge: Vec<String>,
    /// Attacker rows that matched exactly one released person.
    pub unique_matches: u64,
    /// … of which the person was the right one.
    pub correct_unique_matches: u64,
    /// `correct_unique_matches / sample`.
    pub reidentified_share: f64,
    /// The policy's limit on that share.
    pub limit: f64,
    /// Whether the share is below the limit.
    pub passed: bool,
}

/// One statistic computed on the extract and on the release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Utility {
    /// What (`persons by age band and sex`, `prevalence of E11`, `mean HbA1c`).
    pub statistic: String,
    /// The group (`F 40-49`), or empty.
    pub group: String,
    /// Value on the extract.
    pub extract: f64,
    /// Value on the release (None when the release cannot tell, e.g. a generalized-away group).
    pub release: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Release id.
    pub release_id: String,
    /// Extract id.
    pub extract_id: String,
    /// Policy name (preset or file stem) and its mode (`anonymized` / `pseudonymized`).
    pub policy: String,
    /// `anonymized` (匿名加工) or `pseudonymized` (仮名加工).
    pub mode: String,
    /// When the package was built (RFC 3339).
    pub created_at: String,
    /// Persons released.
    pub persons: u64,
    /// Rows per table.
    pub rows: BTreeMap<String, u64>,
    /// Persons of the extract left out because they asked to stop (or became ineligible) since.
    pub excluded_at_release: u64,
    /// What was done to each column.
    pub transformations: Vec<TransformNote>,
    /// k-anonymity (None when the policy has none).
    pub k_anonymity: Option<KAnonymity>,
    /// k^m-anonymity (None when the policy has none).
    pub km_anonymity: Option<KmAnonymity>,
    /// Engine risk estimates.
    pub risk: Option<Risk>,
    /// The attack test.
    pub attack: Option<Attack>,
    /// Utility comparisons.
    pub utility: Vec<Utility>,
    /// A verdict per measure, 1 to 5.
    pub measures: Vec<MeasureVerdict>,
    /// All measures pass and the attack passed.
    pub passed: bool,
}
