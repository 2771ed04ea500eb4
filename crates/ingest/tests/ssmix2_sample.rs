//! The public SS-MIX2 sample tree (tests/data/ssmix2, Apache-2.0), broken files included: every
//! file is accounted for, and the broken ones yield the reasons their README describes.

// Test helpers outside #[test] functions unwrap too: a failure there is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use tsunagu_ingest::normalise::FlagKind;
use tsunagu_ingest::record::{
    Body, ClinicalData, CodeSystem, MedicationKind, NameKind, ObservationStatus, ObservationValue,
    RecordStatus, SourceFile, When,
};
use tsunagu_ingest::ssmix2::{Options, parse_message_bytes, read_storage};
use tsunagu_ingest::{Batch, Reason};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ssmix2/ssmix2-standardized-storage")
}

fn storage() -> Batch {
    read_storage(&root(), &Options::default()).unwrap()
}

/// Outcome per file, keyed by the file's path relative to the root.
fn outcomes(b: &Batch) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &b.records {
        let p = r.position.file.expose_path().to_string_lossy().into_owned();
        let status = if r.status == RecordStatus::Cancelled {
            " (cancelled)"
        } else {
            ""
        };
        m.entry(p)
            .or_default()
            .push(format!("{}{status}", r.body.kind()));
    }
    for r in &b.rejected {
        let p = r.position.file.expose_path().to_string_lossy().into_owned();
        m.entry(p)
            .or_default()
            .push(format!("REJECT {}: {:?}", r.field, r.reason));
    }
    m
}

fn short(p: &str) -> String {
    // "999/901/9999013/20110701/OMP-01/<name>" -> "9999013/20110701/OMP-01"
    let parts: Vec<&str> = p.split('/').collect();
    parts[2..5].join("/")
}

#[test]
fn every_file_is_accounted_for() {
    let b = storage();
    assert_eq!(b.read, 22);
    let got: BTreeMap<String, String> = outcomes(&b)
        .into_iter()
        .map(|(k, v)| {
            (
                format!("{}{}", short(&k), if k.ends_with("_0") { "#0" } else { "" }),
                v.join(", "),
            )
        })
        .collect();
    let mismatch = "REJECT PID-3: PatientIdMismatch";
    let expected: BTreeMap<String, String> = [
        // The 2-byte file whose name names another patient and another folder.
        ("0000001/20000401/ADT-31", "REJECT file name: PathMismatch(\"patient id\")"),
        // PID-3 says 9999013 in patient 0000001's folder (both the current and the cancelled copy).
        ("0000001/20000401/OMP-11", mismatch),
        ("0000001/20000401/OMP-11#0", mismatch),
        ("9999013/-/ADT-00", "identity, encounter, observation, observation, observation, allergy, coverage"),
        // These sample messages carry other dummy patient ids in PID-3 (12345678, 1234567890…).
        ("9999013/-/ADT-61", mismatch),
        ("9999013/-/PPR-01", mismatch),
        ("9999013/20110630/OMP-11", "identity, medication, medication"),
        ("9999013/20110701/OMP-01", "identity, medication, medication, medication"),
        ("9999013/20110701/OMP-02", "identity, medication, medication, medication, medication, medication, medication"),
        ("9999013/20110701/OMP-12", "identity, medication, medication"),
        ("9999013/20111013/OMD", mismatch),
        ("9999013/20111120/ADT-22", "identity, encounter"),
        ("9999013/20111220/ADT-42", "identity, encounter"),
        ("9999013/20111220/ADT-52", "identity, encounter"),
        ("9999013/20111220/OMG-01", mismatch),
        ("9999013/20111220/OMG-02", mismatch),
        ("9999013/20111220/OMG-03", mismatch),
        ("9999013/20111220/OMG-11", mismatch),
        ("9999013/20111220/OMG-12", mismatch),
        ("9999013/20111220/OMG-13", mismatch),
        ("9999013/20111220/OML-01", "identity, observation, observation, observation, observation, observation, observation, observation"),
        ("9999013/20111220/OML-11", mismatch),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(got, expected);
    // Every rejected whole file keeps its bytes for the quarantine.
    assert!(
        b.rejected
            .iter()
            .all(|r| r.raw.as_ref().is_some_and(|raw| !raw.0.is_empty()))
    );
}

#[test]
fn rejections_never_show_personal_values() {
    let b = storage();
    for r in &b.rejected {
        let shown = format!("{r} {r:?}");
        for bad in [
            "9999013", "0000001", "患者", "太郎", "静岡", "19650415", "054-",
        ] {
            assert!(!shown.contains(bad), "{shown}");
        }
    }
    for r in &b.records {
        let shown = format!("{r:?}");
        for bad in [
            "9999013",
            "患者",
            "カンジャ",
            "登呂",
            "054-000-0000",
            "19480405",
            "1948-04-05",
        ] {
            assert!(!shown.contains(bad), "{bad} in {shown}");
        }
    }
}

#[test]
fn adt_identity_and_clinical_parts() {
    let b = storage();
    let from = |kind: &str| -> Vec<&tsunagu_ingest::Record> {
        b.records
            .iter()
            .filter(|r| {
                r.position
                    .file
                    .expose_path()
                    .to_string_lossy()
                    .contains(kind)
            })
            .collect()
    };
    let adt = from("ADT-00");
    let Body::Identity(id) = &adt[0].body else {
        panic!("identity first")
    };
    assert_eq!(id.local_patient_id.as_ref().unwrap().expose(), "9999013");
    assert_eq!(id.names.len(), 2);
    assert_eq!(
        (
            id.names[0].kind,
            id.names[0].family.as_deref(),
            id.names[0].given.as_deref()
        ),
        (NameKind::Kanji, Some("患者"), Some("太郎"))
    );
    assert_eq!(
        (id.names[1].kind, id.names[1].family.as_deref()),
        (NameKind::Kana, Some("カンジャ"))
    );
    assert_eq!(
        id.birth_date.unwrap().date().unwrap().to_string(),
        "1948-04-05"
    );
    assert_eq!(id.sex, Some(tsunagu_model::Sex::Male));
    assert_eq!(id.addresses[0].postal_code.unwrap().as_str(), "4228033");
    assert_eq!(
        id.addresses[0].text.as_deref(),
        Some("静岡県静岡市登呂１－３－５")
    );
    assert_eq!(id.phones, ["054-000-0000", "03-5999-9999", "03-3599-9993"]);
    let clinical: Vec<&ClinicalData> = adt
        .iter()
        .filter_map(|r| match &r.body {
            Body::Clinical(c) => {
                assert_eq!(c.subject.as_ref(), Some(&id.subject));
                Some(&c.data)
            }
            _ => None,
        })
        .collect();
    let ClinicalData::Observation(height) = clinical[1] else {
        panic!()
    };
    let code = height.code.as_ref().unwrap();
    assert_eq!(
        (&code.system, code.code.as_str()),
        (&CodeSystem::Jlac10, "9N001000000000001")
    );
    let Some(ObservationValue::Quantity(q)) = &height.value else {
        panic!()
    };
    assert_eq!((q.value.as_str(), q.unit.as_deref()), ("167.8", Some("cm")));
    let ClinicalData::Observation(abo) = clinical[3] else {
        panic!()
    };
    assert!(matches!(&abo.value, Some(ObservationValue::Coded(c)) if c.code == "A"));
    let ClinicalData::Allergy(al) = clinical[4] else {
        panic!()
    };
    assert_eq!(
        al.code.as_ref().unwrap().display.as_deref(),
        Some("ペニシリン")
    );
    let ClinicalData::Coverage(cov) = clinical[5] else {
        panic!()
    };
    assert_eq!(cov.insurer_number.as_deref(), Some("67999991"));
    assert_eq!(
        cov.start,
        Some(When::Date(
            chrono::NaiveDate::from_ymd_opt(2009, 12, 1).unwrap()
        ))
    );

    let ClinicalData::Encounter(e) = clinical[0] else {
        panic!()
    };
    assert_eq!(e.event.as_deref(), Some("A08"));
    let discharge = from("ADT-52");
    let Body::Clinical(c) = &discharge[1].body else {
        panic!()
    };
    let ClinicalData::Encounter(e) = &c.data else {
        panic!()
    };
    assert_eq!(
        e.end.and_then(|w| w.date()).unwrap().to_string(),
        "2011-12-20"
    );
    assert_eq!(e.department.as_ref().unwrap().code, "08");
}

#[test]
fn prescriptions_injections_and_administrations() {
    let b = storage();
    let meds = |kind: &str| -> Vec<tsunagu_ingest::record::Medication> {
        b.records
            .iter()
            .filter(|r| {
                r.position
                    .file
                    .expose_path()
                    .to_string_lossy()
                    .contains(kind)
            })
            .filter_map(|r| match &r.body {
                Body::Clinical(c) => match &c.data {
                    ClinicalData::Medication(m) => Some(m.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    };
    let rx = meds("OMP-01");
    assert_eq!(rx[0].kind, MedicationKind::Prescription);
    assert_eq!(rx[0].code.as_ref().unwrap().code, "108665201");
    assert_eq!(rx[0].code.as_ref().unwrap().system, CodeSystem::Hot);
    assert_eq!(rx[0].dose.as_ref().unwrap().value.as_str(), "1");
    assert_eq!(rx[0].total.as_ref().unwrap().value.as_str(), "15");
    assert_eq!(rx[0].days, Some(5));
    assert_eq!(rx[0].route.as_ref().unwrap().code, "PO");
    assert_eq!(rx[2].days, Some(14));
    assert_eq!(rx[2].dose.as_ref().unwrap().unit.as_deref(), Some("MG"));

    let inj = meds("OMP-02");
    assert!(inj.iter().all(|m| m.kind == MedicationKind::Injection));
    let codes: Vec<&str> = inj
        .iter()
        .map(|m| m.code.as_ref().unwrap().code.as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "620007329",
            "620002559",
            "620007329",
            "620002559",
            "620007329",
            "620002559"
        ]
    );
    assert_eq!(inj[0].route.as_ref().unwrap().code, "IV");

    let given = meds("OMP-12");
    assert!(
        given
            .iter()
            .all(|m| m.kind == MedicationKind::Administration)
    );
    assert_eq!(given[0].status.as_deref(), Some("CP"));
    assert!(matches!(given[0].end, Some(When::Local(_))));
}

#[test]
fn lab_orders_keep_jlac10_and_flag_malformed_codes() {
    let b = storage();
    let orders: Vec<_> = b
        .records
        .iter()
        .filter(|r| {
            r.position
                .file
                .expose_path()
                .to_string_lossy()
                .contains("OML-01")
        })
        .filter_map(|r| match &r.body {
            Body::Clinical(c) => match &c.data {
                ClinicalData::Observation(o) => Some((r, o)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(orders.len(), 7);
    assert!(
        orders
            .iter()
            .all(|(_, o)| o.status == ObservationStatus::Ordered && o.value.is_none())
    );
    assert_eq!(orders[0].1.specimen.as_ref().unwrap().code, "023");
    // 2B0300000022311 has 15 characters, not JLAC10's 17: kept, flagged.
    let (r, o) = &orders[4];
    assert_eq!(o.code.as_ref().unwrap().code, "2B0300000022311");
    assert!(
        r.flags
            .iter()
            .any(|f| f.kind == FlagKind::CodeNotWellFormed && f.field == "OBX-3")
    );
    assert!(
        !orders[0]
            .0
            .flags
            .iter()
            .any(|f| f.kind == FlagKind::CodeNotWellFormed)
    );
}

fn sample(rel: &str) -> Vec<u8> {
    fs::read(root().join(rel)).unwrap()
}

/// The messages whose PID-3 disagrees with their folder, read on their own (no path check), so
/// that the mappings of PPR, OUL, ORU and IAM are exercised on the real samples.
fn direct(rel: &str) -> Batch {
    let src = SourceFile::new(1, rel);
    parse_message_bytes(&src, &sample(rel), None, None, &Options::default())
}

#[test]
fn diagnoses_results_and_allergies_from_the_samples() {
    let ppr =
        direct("999/901/9999013/-/PPR-01/9999013_-_PPR-01_999999999999999_20111209163030000_01_1");
    assert!(ppr.rejected.is_empty(), "{:?}", ppr.rejected);
    let cond = ppr
        .records
        .iter()
        .find_map(|r| match &r.body {
            Body::Clinical(c) => match &c.data {
                ClinicalData::Condition(c) => Some(c.clone()),
                _ => None,
            },
            _ => None,
        })
        .unwrap();
    assert_eq!(cond.icd10.unwrap().as_str(), "K29.7");
    assert_eq!(cond.code.unwrap().system, CodeSystem::MedisDisease);
    assert!(cond.primary);
    // ZI1 gives a coverage and the card numbers (identity).
    assert_eq!(ppr.count_kind("coverage"), 1);
    let cards: Vec<_> = ppr
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Identity(i) if !i.insurance.is_empty() => Some(i.insurance[0].clone()),
            _ => None,
        })
        .collect();
    assert_eq!(cards.len(), 1);
    assert_eq!(
        (
            cards[0].insurer_number.as_deref(),
            cards[0].symbol.as_deref(),
            cards[0].number.as_deref()
        ),
        (Some("1130012"), Some("123456"), Some("11010203"))
    );

    let oul = direct(
        "999/901/9999013/20111220/OML-11/9999013_20111220_OML-11_000000011000354_20111220103059000_01_1",
    );
    assert!(oul.rejected.is_empty(), "{:?}", oul.rejected);
    let vals: Vec<(String, String, Option<String>)> = oul
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Clinical(c) => match &c.data {
                ClinicalData::Observation(o) => match &o.value {
                    Some(ObservationValue::Quantity(q)) => Some((
                        o.code.clone().unwrap().code,
                        q.value.as_str().to_owned(),
                        q.unit.clone(),
                    )),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        vals,
        [
            ("3A016000002327102".to_owned(), "1.7".to_owned(), None),
            (
                "3A010000002327101".to_owned(),
                "7.2".to_owned(),
                Some("g/dl".to_owned())
            ),
            (
                "3A015000002327101".to_owned(),
                "4.9".to_owned(),
                Some("g/dl".to_owned())
            ),
        ]
    );

    // ORU: the ECG file has its sex and birth date shifted by one field (PID-8 = M in PID-7's
    // place is fine, PID-9 holds the date): the identity stands, 12 results are read.
    let oru = direct(
        "999/901/9999013/20111220/OMG-13/9999013_20111220_OMG-13_999999999999999_20111220224447339_01_1",
    );
    assert!(oru.rejected.is_empty(), "{:?}", oru.rejected);
    assert_eq!(oru.count_kind("observation"), 12);

    let iam =
        direct("999/901/9999013/-/ADT-61/9999013_-_ADT-61_999999999999999_20111014232213000_-_1");
    assert_eq!(iam.count_kind("allergy"), 4);
    assert!(iam.rejected.is_empty());
}

/// Build a small storage in a temporary directory.
fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, bytes) in files {
        let p = dir.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    dir
}

#[test]
fn condition_flag_zero_marks_records_cancelled() {
    let bytes = sample(
        "999/901/9999013/20110630/OMP-11/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1",
    );
    let dir = tree(&[(
        "999/901/9999013/20110630/OMP-11/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_0",
        &bytes,
    )]);
    let b = read_storage(dir.path(), &Options::default()).unwrap();
    assert_eq!(b.records.len(), 3);
    assert!(
        b.records
            .iter()
            .all(|r| r.status == RecordStatus::Cancelled)
    );
}

#[test]
fn broken_files_in_a_fresh_tree() {
    let good = sample(
        "999/901/9999013/20110630/OMP-11/9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1",
    );
    let name = "9999013_20110630_OMP-11_123456789012345_20110701113813225_01_1";
    let truncated = &good[..good.len() / 3];
    let dir = tree(&[
        // Not JIS at all (the sample's 2-byte file, at a correct path).
        (
            &format!(
                "999/901/9999013/20110630/OMP-11/{}",
                name.replace("_01_1", "_02_1")
            ),
            &[0xFB, 0xFC],
        ),
        // Wrong hash folders.
        (&format!("999/999/9999013/20110630/OMP-11/{name}"), &good),
        // Wrong date folder.
        (&format!("999/901/9999013/20110701/OMP-11/{name}"), &good),
        // A RAS message in an ADT folder.
        (
            &format!(
                "999/901/9999013/20110630/ADT-00/{}",
                name.replace("OMP-11", "ADT-00")
            ),
            &good,
        ),
        // Cut in the middle of a JIS sequence or a segment.
        (
            &format!(
                "999/901/9999013/20110630/OMP-11/{}",
                name.replace("_01_1", "_03_1")
            ),
            truncated,
        ),
        // Not a storage file name.
        ("999/901/9999013/20110630/OMP-11/notes.txt", b"x"),
        // Too shallow.
        ("999/stray", b"x"),
    ]);
    let b = read_storage(dir.path(), &Options::default()).unwrap();
    assert_eq!(b.read, 7);
    let mut reasons: Vec<String> = b
        .rejected
        .iter()
        .map(|r| format!("{:?}", r.reason))
        .collect();
    reasons.sort();
    let mut expected = vec![
        "BadFileName(\"not at the depth of a standardized-storage file\")",
        "BadFileName(\"too few fields\")",
        "Encoding(\"ISO-2022-JP\")",
        "PathMismatch(\"date\")",
        "PathMismatch(\"hash folders\")",
        "PathMismatch(\"message type\")",
        "Syntax(\"no end-of-message mark (0x1C): the file may be truncated\")",
    ];
    expected.sort();
    assert!(b.records.is_empty());
    assert_eq!(reasons, expected);
    let small = Options {
        max_file_bytes: 10,
        ..Options::default()
    };
    let b = read_storage(dir.path(), &small).unwrap();
    assert!(
        b.rejected
            .iter()
            .any(|r| matches!(r.reason, Reason::TooLarge { limit: 10, .. }))
    );
}
