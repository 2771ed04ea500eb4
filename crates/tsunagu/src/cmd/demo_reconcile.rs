//! Part of the demo: what intake stored, reconciled against what `tsunagu synth` wrote, person by
//! person and code by code. The generator's flat CSV layout holds every record once, whatever
//! format a provider was later read from; so for each person-at-provider the gate let through,
//! the lake must hold exactly the codes of that person's CSV rows, table by table — no record
//! missing, none doubled, none of a held or refused person, none attributed to the wrong person.
//!
//! Written by hand rather than with the query engine: the point is to check the pipeline with code
//! that shares nothing with it but the store's key derivation (internal id of a patient).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use tsunagu_model::ProviderId;

use crate::store::Store;

/// What one provider sent in the demo.
pub struct Sent {
    /// The provider.
    pub id: ProviderId,
    /// Its code (as in the generator's files).
    pub code: String,
    /// The generator's CSV files whose content the provider's inputs carry.
    pub carries: BTreeSet<&'static str>,
}

/// Which CSV files of the generator each input format carries, and which lake table each fills.
/// SS-MIX2 as the generator writes it holds admissions and discharges (ADT-22/52), diagnoses,
/// prescriptions and lab results; FHIR holds visits, diagnoses, prescriptions, dispensings, labs,
/// vitals and check-up items; claims and care services exist only in the CSV layout.
pub fn carried_by(format: &str) -> &'static [&'static str] {
    match format {
        "ssmix2" => &["encounters", "diagnoses", "prescriptions", "labs"],
        "fhir" => &[
            "encounters",
            "diagnoses",
            "prescriptions",
            "dispensings",
            "labs",
            "vitals",
            "checkups",
        ],
        "csv-claims" => &["claims"],
        "csv-care" => &["care"],
        _ => &[],
    }
}

/// file → (lake table, code column).
const FILES: [(&str, &str, &str); 10] = [
    ("encounters", "encounters", "class"),
    ("diagnoses", "conditions", "icd10"),
    ("prescriptions", "medications", "yj_code"),
    ("dispensings", "medications", "yj_code"),
    ("labs", "observations", "jlac10"),
    ("vitals", "observations", "code"),
    ("checkups", "checkups", "code"),
    ("claims", "claims", "code"),
    ("care", "claims", "service_code"),
    ("identities", "", ""),
];

/// Per table: rows expected from the generator's files, rows in the lake, and the differences.
#[derive(Debug, Default, serde::Serialize)]
pub struct TableCheck {
    /// Rows the CSV says the lake must hold.
    pub expected: u64,
    /// Rows the lake holds.
    pub stored: u64,
    /// Expected rows not found (by person and code).
    pub missing: u64,
    /// Stored rows no expected row accounts for.
    pub extra: u64,
}

type Key = (String, String); // (internal person id, code)

/// Compare the lake with the generator's files. `at` is when intake decided the gate.
pub async fn reconcile(
    store: &Store,
    vault: &tsunagu_vault::Vault,
    lake: &tsunagu_lake::Lake,
    synth: &Path,
    sent: &[Sent],
    at: DateTime<Utc>,
) -> anyhow::Result<serde_json::Value> {
    // Internal id of every person-at-provider the gate let through.
    let mut accepted: BTreeMap<(String, String), String> = BTreeMap::new();
    let (mut held, mut refused) = (0u64, 0u64);
    let by_code: BTreeMap<&str, &Sent> = sent.iter().map(|s| (s.code.as_str(), s)).collect();
    let mut rdr = csv::Reader::from_path(synth.join("truth/records.csv"))?;
    for rec in rdr.records() {
        let rec = rec?;
        let (Some(code), Some(patient)) = (rec.get(0), rec.get(1)) else {
            continue;
        };
        let Some(s) = by_code.get(code) else { continue };
        let local = super::demo::pid(patient)?;
        let d = store.ledger.eligibility(&s.id, &local, at).await?;
        if d.eligible {
            let hash =
                tsunagu_vault::PatientHash::parse(&store.ledger.patient_hash(&s.id, &local))?;
            accepted.insert(
                (code.to_owned(), patient.to_owned()),
                vault.internal_id(&s.id, &hash).as_str().to_owned(),
            );
        } else if matches!(d.reason, tsunagu_ledger::Reason::Stopped { .. }) {
            refused += 1;
        } else {
            held += 1;
        }
    }

    // Expected (person, code) multisets per table, from the generator's CSV.
    let mut expected: BTreeMap<&str, BTreeMap<Key, u64>> = BTreeMap::new();
    for (file, table, code_col) in FILES {
        if table.is_empty() {
            continue;
        }
        let path = synth.join("csv").join(format!("{file}.csv"));
        if !path.exists() {
            continue;
        }
        let mut rdr = csv::Reader::from_path(&path)?;
        let h = rdr.headers()?.clone();
        let col = |name: &str| h.iter().position(|x| x == name);
        let (Some(pc), Some(pt), Some(cc)) =
            (col("provider_code"), col("patient_id"), col(code_col))
        else {
            anyhow::bail!("{}: not the generator's layout", path.display());
        };
        let class = col("class");
        for rec in rdr.records() {
            let rec = rec?;
            let (code, patient) = (rec.get(pc).unwrap_or(""), rec.get(pt).unwrap_or(""));
            let Some(s) = by_code.get(code) else { continue };
            if !s.carries.contains(file) {
                continue;
            }
            // SS-MIX2 carries admissions (ADT-22/52), not outpatient visits.
            if file == "encounters"
                && !s.carries.contains("vitals")
                && class.and_then(|i| rec.get(i)) != Some("inpatient")
            {
                continue;
            }
            let Some(person) = accepted.get(&(code.to_owned(), patient.to_owned())) else {
                continue;
            };
            let value = rec.get(cc).unwrap_or("").to_owned();
            *expected
                .entry(table)
                .or_default()
                .entry((person.clone(), value))
                .or_default() += 1;
        }
    }

    // What the lake holds, the same way.
    let mut stored: BTreeMap<&str, BTreeMap<Key, u64>> = BTreeMap::new();
    fn add(m: &mut BTreeMap<Key, u64>, person: &str, code: Option<&str>) {
        *m.entry((person.to_owned(), code.unwrap_or("").to_owned()))
            .or_default() += 1;
    }
    let s = stored.entry("encounters").or_default();
    for r in lake.read_rows::<tsunagu_lake::Encounter>()? {
        add(s, r.person_id.as_str(), r.class.map(|c| c.as_str()));
    }
    let s = stored.entry("conditions").or_default();
    for r in lake.read_rows::<tsunagu_lake::Condition>()? {
        add(
            s,
            r.person_id.as_str(),
            r.icd10.as_ref().map(|c| c.as_str()),
        );
    }
    let s = stored.entry("medications").or_default();
    for r in lake.read_rows::<tsunagu_lake::Medication>()? {
        add(s, r.person_id.as_str(), r.code.as_deref());
    }
    let s = stored.entry("observations").or_default();
    for r in lake.read_rows::<tsunagu_lake::Observation>()? {
        add(s, r.person_id.as_str(), r.code.as_deref());
    }
    let s = stored.entry("checkups").or_default();
    for r in lake.read_rows::<tsunagu_lake::Checkup>()? {
        add(s, r.person_id.as_str(), r.code.as_deref());
    }
    let s = stored.entry("claims").or_default();
    for r in lake.read_rows::<tsunagu_lake::Claim>()? {
        add(s, r.person_id.as_str(), r.code.as_deref());
    }

    let mut tables: BTreeMap<&str, TableCheck> = BTreeMap::new();
    for (table, got) in &stored {
        let want = expected.get(table).cloned().unwrap_or_default();
        let t = tables.entry(table).or_default();
        t.expected = want.values().sum();
        t.stored = got.values().sum();
        for k in want.keys().chain(got.keys()).collect::<BTreeSet<_>>() {
            let (w, g) = (
                want.get(k).copied().unwrap_or(0),
                got.get(k).copied().unwrap_or(0),
            );
            t.missing += w.saturating_sub(g);
            t.extra += g.saturating_sub(w);
        }
    }
    // Persons: the lake's persons are exactly the accepted ones.
    let lake_persons: BTreeSet<String> = lake
        .read_rows::<tsunagu_lake::Person>()?
        .into_iter()
        .map(|p| p.person_id.as_str().to_owned())
        .collect();
    let want_persons: BTreeSet<String> = accepted.values().cloned().collect();
    Ok(serde_json::json!({
        "persons": {
            "accepted": want_persons.len(),
            "held": held,
            "refused": refused,
            "in_lake": lake_persons.len(),
            "missing": want_persons.difference(&lake_persons).count(),
            "extra": lake_persons.difference(&want_persons).count(),
        },
        "tables": tables,
    }))
}
