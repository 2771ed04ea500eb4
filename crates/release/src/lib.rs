//! Releases: from an extract (a small lake of linked persons, see `tsunagu-query`) to an anonymized
//! (匿名加工) or pseudonymized (仮名加工) package that passes the Act's five measures, with its risk
//! report, data dictionary and manifest.
//!
//! The crate reads the extract and writes the package directory; it never sees the identity
//! vault, the ledger or the pipeline (the binary records the provision in the ledger from the
//! [`Outcome`]). Checks are made on the output itself, never trusted from the transformation.
//!
//! [`build`] runs: read the extract (leaving out persons who stopped since) → privacy decisions
//! ([`privacy`]: k-anonymity search on sex/age/area, k^m on diagnoses) → transformation
//! ([`transform`]) → the five measures on the output ([`measures`]) → the re-identification
//! attack ([`attack`]) → utility ([`utility`]) → report → package ([`package`]). A release that
//! fails its gate is still written (the reviewer reads why), with `passed = false`.

pub mod attack;
pub mod dataset;
pub mod error;
pub mod html;
pub mod measures;
pub mod package;
pub mod policy;
pub mod privacy;
pub mod report;
pub mod scan;
pub mod transform;
pub mod utility;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use tsunagu_lake::Lake;

pub use dataset::{OutColumn, OutTable, Released, Values};
pub use error::ReleaseError;
pub use package::verify_package;
pub use policy::{Mode, Policy};
pub use report::{MeasureVerdict, Report, Verdict};

use crate::policy::{Action, DateTo, catalog};
use crate::report::KmAnonymity;
use crate::transform::{Extract, PersonInfo, ReleaseKeys, sex_label};

/// What a release is built from.
#[derive(Debug, Clone)]
pub struct ReleaseInput<'a> {
    /// The extract (a lake of linked persons).
    pub extract: &'a Lake,
    /// The extract's id.
    pub extract_id: String,
    /// The release's id (also scopes the pseudonyms).
    pub release_id: String,
    /// Reference date: ages are computed at it.
    pub as_of: NaiveDate,
    /// Linked person ids to leave out: persons who asked to stop (or became ineligible) since
    /// the extract was built.
    pub exclude: &'a BTreeSet<String>,
    /// Seed of pseudonyms, date shifts and the attack; `None` = random (pseudonyms then cannot
    /// be reproduced by anyone).
    pub seed: Option<u64>,
    /// When the release is built (goes into the report and the manifest; an input so that a
    /// seeded build is byte-identical).
    pub created_at: DateTime<Utc>,
}

/// What [`build`] produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Release digest: SHA-256 of `manifest.json`, lowercase hex.
    pub digest: String,
    /// Whether every measure and the attack test passed.
    pub passed: bool,
    /// The report (also in the package).
    pub report: Report,
    /// Linked ids of the persons in the release (for the provider's accountability records;
    /// never written into the package).
    pub persons_included: Vec<String>,
    /// Rows per released table.
    pub rows: BTreeMap<String, u64>,
}

/// Build a release of `input.extract` under `policy` into the directory `out_dir` (which must
/// not exist or be empty).
pub fn build(
    input: &ReleaseInput<'_>,
    policy: &Policy,
    out_dir: &Path,
) -> Result<Outcome, ReleaseError> {
    let (extract, excluded) = Extract::read(input.extract, input.exclude)?;
    let keys = ReleaseKeys::new(input.seed, &input.release_id)?;
    let persons = transform::persons_info(&extract, &keys, input.as_of)?;

    // Privacy decisions: persons' quasi-identifiers, then each person's diagnoses.
    let index: HashMap<&str, usize> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| (p.linked.as_str(), i))
        .collect();
    let mut diagnoses: Vec<Vec<String>> = vec![Vec::new(); persons.len()];
    for c in &extract.conditions {
        if let (Some(&i), Some(code)) = (index.get(c.person_id.as_str()), &c.icd10) {
            diagnoses[i].push(privacy::dated_item(code.as_str(), c.onset, policy));
        }
    }
    let plan = privacy::plan(&persons, &diagnoses, policy)?;
    let transformed = transform::apply(&extract, &persons, policy, &plan.decisions, &keys)?;
    let released = &transformed.released;

    let ctx = check_context(policy, &extract, &transformed);
    let measures = measures::check(released, &ctx);

    let attack = match &policy.privacy.attack {
        Some(a) => {
            let population = attack_population(&extract, &persons);
            let onset = policy.rule("conditions", "onset");
            let params = attack::AttackParams {
                seed: input.seed.unwrap_or_else(|| keys.derived_seed()),
                sample: usize::try_from(a.sample).unwrap_or(usize::MAX),
                diagnoses: a.diagnoses_known,
                limit: a.limit,
                shift_days: match onset.action {
                    Action::Date(DateTo::Shift { days }) => i64::from(days),
                    _ => 0,
                },
                ..attack::AttackParams::default()
            };
            Some(attack::run(
                &attack::AttackInput {
                    released,
                    population,
                    as_of: input.as_of,
                },
                &params,
            ))
        }
        None => None,
    };

    let utility = utility::compare(&extract, &persons, released, policy.privacy.age_top_code);
    let rows: BTreeMap<String, u64> = released
        .tables
        .iter()
        .map(|t| (t.name.clone(), t.rows() as u64))
        .collect();
    let mut notes = transformed.notes.clone();
    if plan.k.over_limit {
        notes.push(report::TransformNote {
            table: "persons".into(),
            column: "*".into(),
            action: "suppress".into(),
            detail: "no transformation satisfies the privacy models within the suppression limit; every breaking class was suppressed at the coarsest levels".into(),
            changed: plan.k.suppressed.iter().filter(|s| **s).count() as u64,
        });
    }
    let passed = measures.iter().all(|m| m.verdict == Verdict::Pass)
        && !measures.is_empty()
        && attack.as_ref().is_none_or(|a| a.passed);
    let report = Report {
        release_id: input.release_id.clone(),
        extract_id: input.extract_id.clone(),
        policy: policy.name.clone(),
        mode: policy.mode.as_str().to_owned(),
        created_at: input.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        persons: persons.len() as u64,
        rows: rows.clone(),
        excluded_at_release: excluded,
        transformations: notes,
        k_anonymity: privacy::k_report(released, policy, &plan.k),
        km_anonymity: km_report(released, policy, &plan),
        risk: privacy::risk_report(released, policy),
        attack,
        utility,
        measures,
        passed,
    };
    let html = html::render(&report);
    let policy_toml = policy.to_toml();
    let digest = package::write_package(
        out_dir,
        &package::PackageInput {
            released,
            report: &report,
            policy_toml: &policy_toml,
            report_html: &html,
        },
    )?;
    let mut persons_included: Vec<String> = persons.iter().map(|p| p.linked.clone()).collect();
    persons_included.sort();
    Ok(Outcome {
        digest,
        passed,
        report,
        persons_included,
        rows,
    })
}

/// What the measures need besides the output, from the policy and the extract.
fn check_context(
    policy: &Policy,
    extract: &Extract,
    transformed: &transform::Transformed,
) -> measures::CheckContext {
    let released = &transformed.released;
    let mut pseudonyms = Vec::new();
    for t in &released.tables {
        let Some(cat) = catalog(&t.name) else {
            continue;
        };
        for c in &t.columns {
            let prefix = match cat.iter().find(|x| x.name == c.name).map(|x| x.kind) {
                Some(policy::ColumnKind::PersonId) => "p-",
                Some(policy::ColumnKind::ProviderId) => "h-",
                Some(policy::ColumnKind::EventId(p)) => p,
                _ => continue,
            };
            pseudonyms.push(measures::PseudonymRule {
                column: measures::ColumnRef::new(&t.name, &c.name),
                prefix: prefix.to_owned(),
            });
        }
    }
    let p = &policy.privacy;
    let persons = released.table("persons");
    let k = p.k_anonymity.as_ref().map(|k| measures::KSpec {
        k: k.k as usize,
        quasi_identifiers: k
            .quasi_identifiers
            .iter()
            .filter(|q| persons.is_some_and(|t| t.column(q).is_some()))
            .cloned()
            .collect(),
        max_suppressed_share: k.suppression_limit,
    });
    measures::CheckContext {
        mode: match policy.mode {
            Mode::Anonymized => measures::Mode::Anonymized,
            Mode::Pseudonymized => measures::Mode::Pseudonymized,
        },
        persons_table: "persons".into(),
        age_column: "age".into(),
        age_top_code: p.age_top_code.unwrap_or(90),
        rare_code_persons: p.rare_code_min_persons as usize,
        rare_code_columns: None,
        area_columns: vec![measures::ColumnRef::new("persons", "area")],
        area_finest: match p.area_finest_level {
            0 => measures::AreaLevel::Municipality,
            1 => measures::AreaLevel::Prefecture,
            2 => measures::AreaLevel::Region,
            _ => measures::AreaLevel::Suppressed,
        },
        // A place with fewer persons than the rare-code threshold (or k, if larger) is a 特異な
        // 記述 whether or not k-anonymity is asked for.
        min_area_persons: p
            .k_anonymity
            .as_ref()
            .map_or(0, |k| k.k as usize)
            .max(p.rare_code_min_persons as usize),
        k,
        km: p.km_anonymity.as_ref().map(|km| measures::KmSpec {
            k: km.k,
            m: km.m,
            table: km.table.clone(),
            column: km.column.clone(),
            within_classes: km.within_classes,
        }),
        lab_bounds: transformed
            .bounds
            .iter()
            .map(|b| measures::LabBound {
                table: b.table.clone(),
                code: b.code.clone(),
                low: Some(b.low),
                high: Some(b.high),
            })
            .collect(),
        extract_ids: transform::extract_ids(extract),
        pseudonyms,
    }
}

/// What an outsider could know of each released person, from the extract.
fn attack_population(extract: &Extract, persons: &[PersonInfo]) -> Vec<attack::Known> {
    let mut dx: HashMap<&str, Vec<attack::KnownDiagnosis>> = HashMap::new();
    for c in &extract.conditions {
        if let Some(code) = &c.icd10 {
            let month = c.onset.or(c.recorded).map(|d| (d.year(), d.month()));
            dx.entry(c.person_id.as_str())
                .or_default()
                .push(attack::KnownDiagnosis {
                    code: code.as_str().to_owned(),
                    month,
                });
        }
    }
    persons
        .iter()
        .map(|p| attack::Known {
            pseudonym: p.pseudonym.clone(),
            sex: Some(sex_label(p.sex).to_owned()),
            birth_year: p.birth_month.map(|b| b.first_day().year()),
            prefecture: p.prefecture.map(str::to_owned),
            municipality: p.municipality.clone(),
            diagnoses: dx.remove(p.linked.as_str()).unwrap_or_default(),
        })
        .collect()
}

/// k^m as it holds on the output conditions table.
fn km_report(released: &Released, policy: &Policy, plan: &privacy::Plan) -> Option<KmAnonymity> {
    let kp = policy.privacy.km_anonymity.as_ref()?;
    let mut per_person: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut dict: HashMap<&str, usize> = HashMap::new();
    if let Some(t) = released.table(&kp.table)
        && let (Some(Values::Text(pid)), Some(Values::Text(codes))) = (
            t.column("person_id").map(|c| &c.values),
            t.column(&kp.column).map(|c| &c.values),
        )
    {
        for (p, c) in pid.iter().zip(codes) {
            if let (Some(p), Some(c)) = (p.as_deref(), c.as_deref()) {
                let n = dict.len();
                let id = *dict.entry(c).or_insert(n);
                per_person.entry(p).or_default().push(id);
            }
        }
    }
    let records: Vec<Vec<usize>> = per_person.into_values().collect();
    let check = tsunagu_anon::setvalued::km_check(
        &records,
        tsunagu_anon::setvalued::KmParams { k: kp.k, m: kp.m },
    );
    let (generalized, suppressed, loss) = plan.km.as_ref().map_or((0, 0, 0.0), |d| {
        (d.generalized, d.suppressed, d.information_loss)
    });
    Some(KmAnonymity {
        k: kp.k,
        m: kp.m,
        generalized,
        suppressed,
        information_loss: loss,
        violations: check.violations,
        holds: check.holds,
    })
}
