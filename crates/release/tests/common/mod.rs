//! A small extract for the release tests: linked persons in four areas with common diagnoses,
//! HbA1c results, prescriptions and claims, plus the special cases the measures must catch
//! (a 103-year-old, a diagnosis held by one person, a lab outlier, a rare drug).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use tsunagu_lake::*;
use tsunagu_model::{Icd10Code, ProviderId, Sex, StoreKey};

/// The extract's store key.
pub fn key() -> StoreKey {
    StoreKey::from_bytes([0x5a; 32])
}

/// Deterministic pseudo-random numbers (SplitMix64), so the fixture is the same every run.
pub struct Rng(u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub const AREAS: [(&str, &str); 4] = [
    ("183", "府中市"),
    ("100", "千代田区"),
    ("060", "札幌市中央区"),
    ("530", "大阪市北区"),
];

pub const COMMON_DX: [&str; 7] = ["E11.9", "I10", "E78.5", "J45.9", "K21.9", "M54.5", "F32.9"];
pub const RARE_DX: &str = "C91.0";
pub const HBA1C: &str = "3D046000001906202";

pub fn pid(i: usize) -> String {
    format!("per-{:010}", i + 1)
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn as_of() -> NaiveDate {
    date(2025, 4, 1)
}

pub fn created_at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-03T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Write an extract of `n` persons into `dir`; person 0 is 103 years old, person 1 alone holds
/// the rare diagnosis and the lab outlier.
pub fn write_extract(dir: &Path, n: usize) -> Lake {
    let lake = Lake::open(dir, &key()).unwrap();
    let mut rng = Rng(20261203);
    let provider = ProviderId::from_random(0x1234_5678);
    let part = PartName::parse("extract").unwrap();
    let mut persons = Vec::new();
    let mut encounters = Vec::new();
    let mut conditions = Vec::new();
    let mut medications = Vec::new();
    let mut observations = Vec::new();
    let mut claims = Vec::new();
    for i in 0..n {
        let id = PersonId::parse(&pid(i)).unwrap();
        let (p3, muni) = AREAS[rng.below(4) as usize];
        let birth_year = if i == 0 {
            1921
        } else {
            1935 + rng.below(80) as i32
        };
        persons.push(Person {
            person_id: id.clone(),
            provider_id: provider.clone(),
            sex: if rng.below(2) == 0 {
                Sex::Male
            } else {
                Sex::Female
            },
            birth_month: YearMonth::new(birth_year, 1 + rng.below(12) as u32),
            deceased_date: None,
            postal3: Some(Postal3::parse(p3).unwrap()),
            municipality: Some(muni.to_owned()),
        });
        let enc = format!("enc-{i}");
        let day = date(
            2020 + rng.below(4) as i32,
            1 + rng.below(12) as u32,
            1 + rng.below(28) as u32,
        );
        encounters.push(Encounter {
            person_id: id.clone(),
            provider_id: provider.clone(),
            encounter_id: enc.clone(),
            class: Some(EncounterClass::Outpatient),
            start: day.and_hms_opt(9, 30, 0),
            end: None,
            department_code: Some("01".into()),
            department: Some("内科".into()),
        });
        let mut dx: BTreeSet<&str> = BTreeSet::new();
        for _ in 0..1 + rng.below(3) {
            dx.insert(COMMON_DX[rng.below(COMMON_DX.len() as u64) as usize]);
        }
        if i == 1 {
            dx.insert(RARE_DX);
        }
        for (j, code) in dx.iter().enumerate() {
            conditions.push(Condition {
                person_id: id.clone(),
                provider_id: provider.clone(),
                record_id: format!("cond-{i}-{j}"),
                encounter_id: Some(enc.clone()),
                icd10: Some(Icd10Code::parse(code).unwrap()),
                code_system: Some("medis-disease".into()),
                code: Some(format!("M{j}{i}")),
                name: Some("病名".into()),
                suspected: false,
                primary: j == 0,
                onset: Some(day),
                recorded: Some(day),
                abated: None,
                status: Some("active".into()),
            });
        }
        if dx.contains("E11.9") || i == 1 {
            let value = if i == 1 {
                18.0
            } else {
                5.5 + rng.below(40) as f64 / 10.0
            };
            observations.push(Observation {
                person_id: id.clone(),
                provider_id: provider.clone(),
                record_id: format!("obs-{i}"),
                encounter_id: Some(enc.clone()),
                category: ObservationCategory::Laboratory,
                code_system: Some("jlac10".into()),
                code: Some(HBA1C.into()),
                name: Some("HbA1c(NGSP)".into()),
                value: Some(value),
                value_text: Some(format!("{value:.1}")),
                unit: Some("%".into()),
                reference_range: Some("4.9-6.0".into()),
                interpretation: Some(if value > 6.0 { "H" } else { "N" }.into()),
                effective: day.and_hms_opt(10, 0, 0),
                status: Some("final".into()),
            });
            medications.push(Medication {
                person_id: id.clone(),
                provider_id: provider.clone(),
                record_id: format!("med-{i}"),
                encounter_id: Some(enc.clone()),
                kind: MedicationKind::Prescription,
                code_system: Some("yj".into()),
                code: Some(
                    if i == 1 {
                        "6250021F1020"
                    } else {
                        "3961007F1021"
                    }
                    .into(),
                ),
                name: Some("薬".into()),
                dose: Some(1.0),
                unit: Some("錠".into()),
                usage: Some("1日1回朝食後".into()),
                days: Some(30),
                start: Some(day),
                end: None,
                status: None,
            });
        }
        claims.push(Claim {
            person_id: id.clone(),
            provider_id: provider.clone(),
            record_id: format!("cl-{i}-1"),
            claim_id: format!("claim-{i}"),
            service_month: YearMonth::of(day),
            facility_code: Some("1312345678".into()),
            line: 1,
            kind: "SI".into(),
            code_system: Some("receipt".into()),
            code: Some("111000110".into()),
            name: Some("初診料".into()),
            quantity: Some(1.0),
            points: Some(291.0),
            care_level: None,
        });
    }
    lake.write_rows(&part, &persons).unwrap();
    lake.write_rows(&part, &encounters).unwrap();
    lake.write_rows(&part, &conditions).unwrap();
    lake.write_rows(&part, &medications).unwrap();
    lake.write_rows(&part, &observations).unwrap();
    lake.write_rows(&part, &claims).unwrap();
    lake
}

/// Read a package CSV as a header and rows.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// One column of a CSV by name.
pub fn column(csv: &(Vec<String>, Vec<Vec<String>>), name: &str) -> Vec<String> {
    let i = csv
        .0
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("column {name}"));
    csv.1.iter().map(|r| r[i].clone()).collect()
}
