//! FHIR R4 reading on real samples (Synthea, JP Core) and on hostile input.

// Test helpers outside #[test] functions unwrap too: a failure there is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tsunagu_ingest::fhir::{
    Limits, NdjsonIndex, NdjsonPiece, read_json, read_ndjson, unsupported_counts,
};
use tsunagu_ingest::normalise::FlagKind;
use tsunagu_ingest::record::{
    Body, ClinicalData, CodeSystem, EntryKind, MedicationKind, NameKind, ObservationValue,
    SourceFile, When,
};
use tsunagu_ingest::{Batch, Reason};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn kinds(b: &Batch) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for r in &b.records {
        *m.entry(r.body.kind()).or_insert(0) += 1;
    }
    m
}

fn synthea() -> Vec<u8> {
    fs::read(data(
        "synthea/Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json",
    ))
    .unwrap()
}

#[test]
fn synthea_transaction_bundle() {
    let file = SourceFile::new(1, "synthea.json");
    let b = read_json(&file, &synthea(), &Limits::default());
    assert_eq!(b.read, 70);
    // Every entry is either a record source or a quarantined unsupported type.
    let k = kinds(&b);
    assert_eq!(k.get("identity"), Some(&1));
    // Counted independently from the file: 3 Encounter, 1 Condition, 1 Procedure,
    // 1 Organization, 48 Observation of which blood-pressure panels carry 2 components each.
    assert_eq!(k.get("encounter"), Some(&3));
    assert_eq!(k.get("condition"), Some(&1));
    assert_eq!(k.get("procedure"), Some(&1));
    assert_eq!(k.get("organization"), Some(&1));
    assert_eq!(k.get("observation"), Some(&51));
    assert_eq!(k.get("medication"), None);
    let unsupported = unsupported_counts(&b);
    assert_eq!(
        unsupported,
        BTreeMap::from([
            ("Claim".to_owned(), 3),
            ("DiagnosticReport".to_owned(), 4),
            ("ExplanationOfBenefit".to_owned(), 3),
            ("Immunization".to_owned(), 4),
            ("Practitioner".to_owned(), 1),
        ])
    );
    assert_eq!(
        b.rejected.len(),
        15,
        "{:?}",
        b.rejected.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    );
    assert!(b.rejected.iter().all(|r| r.raw.is_some()));

    let Body::Identity(id) = &b
        .records
        .iter()
        .find(|r| r.body.kind() == "identity")
        .unwrap()
        .body
    else {
        panic!()
    };
    assert_eq!(
        id.subject.expose(),
        "fhir:Patient/d78af07c-9cb9-4f31-9b11-c45a28f2eec8"
    );
    assert_eq!(id.names[0].kind, NameKind::Unspecified);
    assert!(id.local_patient_id.is_some(), "the MR identifier");
    // SSN, driver's licence, passport: kept in the identity as other identifiers.
    assert!(id.other_identifiers.len() >= 2);
    assert!(id.birth_date.is_some() && id.sex.is_some());
    // A US ZIP code is not a Japanese postal code: dropped from the field, flagged.
    let pr = b
        .records
        .iter()
        .find(|r| r.body.kind() == "identity")
        .unwrap();
    assert!(
        pr.flags
            .iter()
            .any(|f| f.kind == FlagKind::InvalidValueDropped)
    );
    // Every clinical record points at that patient, and urn:uuid encounter refs resolve.
    for r in &b.records {
        if let Body::Clinical(c) = &r.body
            && !matches!(c.data, ClinicalData::Organization(_))
        {
            assert_eq!(c.subject.as_ref(), Some(&id.subject));
        }
    }
    let with_enc = b
        .records
        .iter()
        .filter(|r| matches!(&r.body, Body::Clinical(c) if c.encounter.as_deref().is_some_and(|e| e.starts_with("Encounter/"))))
        .count();
    assert!(with_enc > 10);
    // Numbers kept as written.
    let height = b.records.iter().find_map(|r| match &r.body {
        Body::Clinical(c) => match &c.data {
            ClinicalData::Observation(o) if o.code.as_ref().is_some_and(|c| c.code == "8302-2") => {
                o.value.clone()
            }
            _ => None,
        },
        _ => None,
    });
    let Some(ObservationValue::Quantity(q)) = height else {
        panic!()
    };
    assert_eq!(
        (q.value.as_str(), q.unit.as_deref()),
        ("168.80253764416227", Some("cm"))
    );
}

#[test]
fn synthea_bundle_with_prescriptions() {
    let bytes = fs::read(data(
        "synthea/Willy_Koepp_ebbb96ce-c538-4ac4-ad6a-7c709ef6639c.json",
    ))
    .unwrap();
    let b = read_json(&SourceFile::new(1, "w.json"), &bytes, &Limits::default());
    assert_eq!(b.read, 121);
    // Counted independently from the file (see the README of the sample).
    let k = kinds(&b);
    assert_eq!(
        k,
        BTreeMap::from([
            ("condition", 6),
            ("encounter", 10),
            ("identity", 1),
            ("medication", 5),
            ("observation", 59),
            ("organization", 1),
            ("procedure", 3),
        ])
    );
    assert_eq!(
        unsupported_counts(&b),
        BTreeMap::from([
            ("CarePlan".to_owned(), 3),
            ("Claim".to_owned(), 15),
            ("DiagnosticReport".to_owned(), 4),
            ("ExplanationOfBenefit".to_owned(), 10),
            ("Immunization".to_owned(), 7),
            ("Practitioner".to_owned(), 1),
        ])
    );
    assert_eq!(b.rejected.len(), 40);
    let meds: Vec<_> = b
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Clinical(c) => match &c.data {
                ClinicalData::Medication(m) => Some((c.encounter.clone(), m.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let (enc, first) = &meds[0];
    assert!(enc.as_deref().is_some_and(|e| e.starts_with("Encounter/")));
    assert_eq!(first.kind, MedicationKind::Prescription);
    let code = first.code.as_ref().unwrap();
    assert_eq!(
        (&code.system, code.code.as_str()),
        (&CodeSystem::RxNorm, "198014")
    );
    assert_eq!(first.status.as_deref(), Some("stopped"));
    assert!(matches!(first.start, Some(When::Zoned(_))));
}

/// Every JP Core example, as (file name, bytes).
fn jpcore_files() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(data("jpcore"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn check_jpcore(b: &Batch) {
    let k = kinds(b);
    let expected = BTreeMap::from([
        ("allergy", 1),
        ("condition", 2),
        ("coverage", 1),
        ("encounter", 1),
        // The Patient, and the Coverage's card numbers.
        ("identity", 2),
        ("medication", 2),
        ("observation", 3),
        ("organization", 2),
        ("procedure", 1),
    ]);
    assert_eq!(
        k,
        expected,
        "{:?}",
        b.rejected.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    );
    // Practitioner is not mapped: quarantined, not lost.
    assert_eq!(
        unsupported_counts(b),
        BTreeMap::from([("Practitioner".to_owned(), 1)])
    );
    // The vital-signs example is a blood-pressure panel without components in this build, or
    // another shape we reject with a reason; every rejection names a field and a reason.
    for r in &b.rejected {
        assert!(!r.field.is_empty());
    }

    let ids: Vec<_> = b
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Identity(i) => Some(i),
            _ => None,
        })
        .collect();
    let person = ids.iter().find(|i| !i.names.is_empty()).unwrap();
    assert_eq!(person.subject.expose(), "fhir:Patient/jp-patient-example-1");
    assert_eq!(
        person.local_patient_id.as_ref().unwrap().expose(),
        "00000010"
    );
    let kanji = person
        .names
        .iter()
        .find(|n| n.kind == NameKind::Kanji)
        .unwrap();
    let kana = person
        .names
        .iter()
        .find(|n| n.kind == NameKind::Kana)
        .unwrap();
    assert_eq!(
        (kanji.family.as_deref(), kanji.given.as_deref()),
        (Some("山田"), Some("太郎"))
    );
    assert_eq!(
        (kana.family.as_deref(), kana.given.as_deref()),
        (Some("ヤマダ"), Some("タロウ"))
    );
    assert_eq!(
        person.birth_date,
        Some(When::Date(
            chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
        ))
    );
    assert_eq!(person.addresses[0].postal_code.unwrap().as_str(), "1600023");
    assert_eq!(person.phones, ["0312345678"]);
    let card = ids.iter().find_map(|i| i.insurance.first()).unwrap();
    assert_eq!(card.insurer_number.as_deref(), Some("7654321"));
    assert_eq!(
        (
            card.symbol.as_deref(),
            card.number.as_deref(),
            card.branch.as_deref()
        ),
        (Some("１２－３４"), Some("５６７８"), Some("００"))
    );
    assert_eq!(card.symbol.as_deref(), Some("１２－３４"));

    for r in &b.records {
        if let Body::Clinical(c) = &r.body
            && !matches!(c.data, ClinicalData::Organization(_))
        {
            assert_eq!(c.subject.as_ref(), Some(&person.subject));
        }
    }
    let lab = b
        .records
        .iter()
        .find_map(|r| match &r.body {
            Body::Clinical(c) => match &c.data {
                ClinicalData::Observation(o) if o.category.as_deref() == Some("laboratory") => {
                    Some(o.clone())
                }
                _ => None,
            },
            _ => None,
        })
        .unwrap();
    let code = lab.code.unwrap();
    assert_eq!(
        (code.system, code.code.as_str()),
        (CodeSystem::Jlac10, "3C020000002327101")
    );
    let Some(ObservationValue::Quantity(q)) = lab.value else {
        panic!()
    };
    assert_eq!(
        (q.value.as_str(), q.unit.as_deref()),
        ("3.5", Some("mg/dL"))
    );
    assert_eq!(lab.reference_range.as_deref(), Some("3.7-7.8"));
    assert_eq!(lab.interpretation.as_deref(), Some("L"));

    let meds: Vec<_> = b
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Clinical(c) => match &c.data {
                ClinicalData::Medication(m) => Some(m.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(meds.iter().any(|m| m.kind == MedicationKind::Prescription
        && m.code.as_ref().unwrap().system == CodeSystem::Hot));
    assert!(meds.iter().any(|m| m.kind == MedicationKind::Statement));
}

#[test]
fn jpcore_examples_in_a_collection_bundle() {
    let entries: Vec<String> = jpcore_files()
        .iter()
        .map(|(_, bytes)| {
            let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            let url = format!(
                "http://jpfhir.jp/fhir/core/{}/{}",
                v["resourceType"].as_str().unwrap(),
                v["id"].as_str().unwrap()
            );
            format!(
                "{{\"fullUrl\":\"{url}\",\"resource\":{}}}",
                String::from_utf8_lossy(bytes)
            )
        })
        .collect();
    let bundle = format!(
        "{{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{}]}}",
        entries.join(",")
    );
    let b = read_json(
        &SourceFile::new(1, "jp.json"),
        bundle.as_bytes(),
        &Limits::default(),
    );
    assert_eq!(b.read, 15);
    check_jpcore(&b);
}

#[test]
fn jpcore_examples_as_ndjson_across_files() {
    // One NDJSON file per resource type, as a Bulk Data export writes them.
    let mut per_type: BTreeMap<String, String> = BTreeMap::new();
    for (_, bytes) in jpcore_files() {
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let line = serde_json::to_string(&v).unwrap();
        let e = per_type
            .entry(v["resourceType"].as_str().unwrap().to_owned())
            .or_default();
        e.push_str(&line);
        e.push('\n');
    }
    let files: Vec<(Arc<SourceFile>, Vec<u8>)> = per_type
        .iter()
        .enumerate()
        .map(|(i, (t, s))| {
            (
                SourceFile::new(i as u32 + 1, format!("{t}.ndjson")),
                s.clone().into_bytes(),
            )
        })
        .collect();
    let refs: Vec<(Arc<SourceFile>, &[u8])> = files
        .iter()
        .map(|(f, b)| (f.clone(), b.as_slice()))
        .collect();
    let b = read_ndjson(&refs, &Limits::default());
    assert_eq!(b.read, 15);
    check_jpcore(&b);
    assert!(
        b.records
            .iter()
            .all(|r| matches!(r.position.entry, Some((EntryKind::Line, _))))
    );
}

/// Synthea's sample Bundle as Bulk Data NDJSON: one file per resource type, `Type/id` references.
fn synthea_ndjson() -> Vec<(Arc<SourceFile>, Vec<u8>)> {
    // Bulk Data files use Type/id references; rewrite Synthea's urn:uuid ones to that form.
    let v: serde_json::Value = serde_json::from_slice(&synthea()).unwrap();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for e in v["entry"].as_array().unwrap() {
        let r = &e["resource"];
        ids.insert(
            e["fullUrl"].as_str().unwrap().to_owned(),
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            ),
        );
    }
    let mut per_type: BTreeMap<String, String> = BTreeMap::new();
    for e in v["entry"].as_array().unwrap() {
        let mut line = serde_json::to_string(&e["resource"]).unwrap();
        for (urn, rel) in &ids {
            line = line.replace(&format!("\"{urn}\""), &format!("\"{rel}\""));
        }
        let t = e["resource"]["resourceType"].as_str().unwrap().to_owned();
        let f = per_type.entry(t).or_default();
        f.push_str(&line);
        f.push('\n');
    }
    per_type
        .iter()
        .enumerate()
        .map(|(i, (t, s))| {
            (
                SourceFile::new(i as u32 + 1, format!("{t}.ndjson")),
                s.clone().into_bytes(),
            )
        })
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// However the files are cut into pieces, pieces read against the first-pass index give the
    /// one-pass result, a broken line included.
    #[test]
    fn ndjson_in_any_pieces_is_the_one_pass_result(lines in 1usize..40, broken in 0usize..8) {
        let mut files = synthea_ndjson();
        let k = broken % files.len();
        files[k].1.extend_from_slice(b"{\"resourceType\": \"Condition\", broken\n");
        let refs: Vec<(Arc<SourceFile>, &[u8])> =
            files.iter().map(|(f, b)| (f.clone(), b.as_slice())).collect();
        let whole = read_ndjson(&refs, &Limits::default());
        let pieced = read_in_pieces(&refs, lines);
        proptest::prop_assert_eq!(pieced.records.len(), whole.records.len());
        proptest::prop_assert_eq!(pieced.rejected.len(), whole.rejected.len());
        for r in &pieced.records {
            let n = |b: &Batch| b.records.iter().filter(|x| *x == r).count();
            proptest::prop_assert_eq!(n(&pieced), n(&whole));
        }
        for r in &pieced.rejected {
            let n = |b: &Batch| b.rejected.iter().filter(|x| *x == r).count();
            proptest::prop_assert_eq!(n(&pieced), n(&whole));
        }
    }
}

#[test]
fn synthea_split_into_ndjson_resolves_urn_references_only_inside_a_bundle() {
    let files = synthea_ndjson();
    let refs: Vec<(Arc<SourceFile>, &[u8])> = files
        .iter()
        .map(|(f, b)| (f.clone(), b.as_slice()))
        .collect();
    let nd = read_ndjson(&refs, &Limits::default());
    let bundle = read_json(
        &SourceFile::new(1, "s.json"),
        &synthea(),
        &Limits::default(),
    );
    assert_eq!(kinds(&nd), kinds(&bundle));
    assert_eq!(nd.rejected.len(), bundle.rejected.len());

    // Without the Patient file, every clinical line is rejected: unresolved subject.
    let without: Vec<(Arc<SourceFile>, &[u8])> = refs
        .iter()
        .filter(|(f, _)| f.expose_path().to_string_lossy() != "Patient.ndjson")
        .cloned()
        .collect();
    let nd = read_ndjson(&without, &Limits::default());
    assert_eq!(kinds(&nd).get("encounter"), None);
    assert!(
        nd.rejected
            .iter()
            .any(|r| r.reason == Reason::UnresolvedReference && r.field == "Encounter.subject")
    );
}

/// Read NDJSON files as large exports are read: an index over every piece first, then each
/// piece of `lines` lines mapped on its own; the pieces' batches concatenated in order.
fn read_in_pieces(files: &[(Arc<SourceFile>, &[u8])], lines: usize) -> Batch {
    let mut pieces = Vec::new();
    for (f, bytes) in files {
        let mut first_line = 1u64;
        let all: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        for group in all.chunks(lines) {
            let len: usize = group.iter().map(|l| l.len()).sum();
            let start = group[0].as_ptr() as usize - bytes.as_ptr() as usize;
            pieces.push(NdjsonPiece {
                file: f.clone(),
                bytes: &bytes[start..start + len],
                first_line,
            });
            first_line += group.len() as u64;
        }
    }
    let limits = Limits::default();
    let mut index = NdjsonIndex::new();
    for p in &pieces {
        index.add(p, &limits);
    }
    let mut batches = vec![index.identities(&limits)];
    batches.extend(
        pieces
            .iter()
            .map(|p| index.read(std::slice::from_ref(p), &limits)),
    );
    Batch::concat(batches)
}

fn one(json: &str) -> Batch {
    read_json(
        &SourceFile::new(7, "x.json"),
        json.as_bytes(),
        &Limits::default(),
    )
}

const PATIENT: &str = r#"{"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","id":"p1","name":[{"family":"山田","given":["太郎"]}],"telecom":[{"system":"phone","value":"090-1234-5678"}],"birthDate":"1970-01-01"}}"#;

fn bundle_with(entries: &[&str]) -> String {
    format!(
        r#"{{"resourceType":"Bundle","type":"transaction","entry":[{}]}}"#,
        entries.join(",")
    )
}

#[test]
fn hostile_and_broken_input_is_rejected_with_reasons_and_no_values() {
    // Deep nesting in an element we do not read: skipped without recursion, no crash.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let b = one(&format!(
        r#"{{"resourceType":"Patient","id":"x","extension":{deep}}}"#
    ));
    assert!(b.rejected.is_empty());
    assert_eq!(b.count_kind("identity"), 1);
    // ... in an element we read: a shape error, never a stack overflow.
    let b = one(&format!(
        r#"{{"resourceType":"Patient","id":"x","name":{deep}}}"#
    ));
    assert!(
        matches!(&b.rejected[0].reason, Reason::Syntax(s) if s.starts_with("JSON of the wrong shape"))
    );
    // ... in an unsupported resource: kept for quarantine with its raw JSON.
    let b = one(&bundle_with(&[
        PATIENT,
        &format!(r#"{{"resource":{{"resourceType":"Basic","x":{deep}}}}}"#),
    ]));
    assert_eq!(b.rejected.len(), 1);
    assert!(matches!(b.rejected[0].reason, Reason::Unsupported { .. }));
    assert!(b.rejected[0].raw.as_ref().unwrap().0.len() > 200_000);
    // ... unbalanced: malformed, at a position.
    let b = one(&format!(
        r#"{{"resourceType":"Patient","id":"x","extension":{}}}"#,
        "[".repeat(100_000)
    ));
    assert!(matches!(&b.rejected[0].reason, Reason::Syntax(_)));
    // A huge string in a kept field.
    let huge = "あ".repeat(100_000);
    let b = one(&bundle_with(&[&PATIENT.replace("山田", &huge)]));
    assert!(matches!(
        b.rejected[0].reason,
        Reason::TooLarge {
            unit: "characters",
            ..
        }
    ));
    assert_eq!(b.rejected[0].field, "Patient.name");
    // A huge file.
    let small = Limits {
        max_bundle_bytes: 100,
        ..Limits::default()
    };
    let b = read_json(
        &SourceFile::new(1, "x"),
        bundle_with(&[PATIENT]).as_bytes(),
        &small,
    );
    assert!(matches!(
        b.rejected[0].reason,
        Reason::TooLarge { limit: 100, .. }
    ));
    // Not UTF-8 (Shift_JIS bytes).
    let b = read_json(
        &SourceFile::new(1, "x"),
        b"{\"resourceType\":\"Patient\",\"name\":\"\x8e\x52\x93\x63\"}",
        &Limits::default(),
    );
    assert_eq!(b.rejected[0].reason, Reason::Encoding("UTF-8"));
    // Truncated.
    let full = bundle_with(&[PATIENT]);
    let b = one(&full[..full.len() - 10]);
    assert!(matches!(&b.rejected[0].reason, Reason::Syntax(s) if s.starts_with("JSON cut short")));
    // Wrong shapes: the serde message would quote the value; ours does not.
    let b = one(&bundle_with(&[&PATIENT.replace(
        r#""birthDate":"1970-01-01""#,
        r#""birthDate":{"secret":"山田太郎"}"#,
    )]));
    assert!(
        matches!(&b.rejected[0].reason, Reason::Syntax(s) if s.starts_with("JSON of the wrong shape"))
    );
    let b = one(&bundle_with(
        &[&PATIENT.replace("1970-01-01", "1970-13-45")],
    ));
    assert_eq!(b.rejected[0].field, "Patient.birthDate");
    for r in &b.rejected {
        let s = format!("{r} {r:?}");
        assert!(
            !s.contains("山田") && !s.contains("1970-13-45") && !s.contains("090-1234"),
            "{s}"
        );
    }
    // References: unresolved, wrong target type, conditional.
    let enc = |r: &str| {
        format!(
            r#"{{"resource":{{"resourceType":"Encounter","id":"e","subject":{{"reference":"{r}"}}}}}}"#
        )
    };
    let b = one(&bundle_with(&[PATIENT, &enc("urn:uuid:nobody")]));
    assert_eq!(b.rejected[0].reason, Reason::UnresolvedReference);
    let b = one(&bundle_with(&[PATIENT, &enc("Encounter/e")]));
    assert_eq!(
        b.rejected[0].reason,
        Reason::WrongReferenceTarget("Encounter".into())
    );
    let b = one(&bundle_with(&[PATIENT, &enc("Patient?identifier=123")]));
    assert_eq!(b.rejected[0].reason, Reason::UnresolvedReference);
    let b = one(&bundle_with(&[PATIENT, &enc("Patient/p1")]));
    assert!(b.rejected.is_empty());
    assert_eq!(b.count_kind("encounter"), 1);
    // No resource, no resourceType, unknown type with a hostile name.
    let b = one(&bundle_with(&[
        r#"{"fullUrl":"urn:uuid:x"}"#,
        r#"{"resource":{"id":"1"}}"#,
        r#"{"resource":{"resourceType":"山田\n<script>"}}"#,
    ]));
    let reasons: Vec<String> = b.rejected.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        reasons,
        [
            "file #7 entry[0], field entry.resource: missing",
            "file #7 entry[1], field resourceType: missing",
            "file #7 entry[2], field resourceType: unsupported resource type script",
        ]
    );
    // ICD-10: malformed refused, unknown flagged.
    let cond = |code: &str| {
        format!(
            r#"{{"resource":{{"resourceType":"Condition","subject":{{"reference":"urn:uuid:p1"}},"code":{{"coding":[{{"system":"http://hl7.org/fhir/sid/icd-10","code":"{code}"}}]}}}}}}"#
        )
    };
    let b = one(&bundle_with(&[
        PATIENT,
        &cond("E11.9"),
        &cond("E1"),
        &cond("U99.9"),
    ]));
    assert_eq!(b.count_kind("condition"), 2);
    assert_eq!(b.rejected.len(), 1);
    assert_eq!(b.rejected[0].reason, Reason::BadCode("ICD-10"));
    assert!(
        b.records
            .iter()
            .any(|r| r.flags.iter().any(|f| f.kind == FlagKind::Icd10NotInList))
    );
    // entered-in-error becomes Cancelled.
    let b = one(&bundle_with(&[
        PATIENT,
        &cond("E11.9").replace(
            r#""resourceType":"Condition","#,
            r#""resourceType":"Condition","status":"entered-in-error","#,
        ),
    ]));
    assert!(
        b.records
            .iter()
            .any(|r| r.status == tsunagu_ingest::record::RecordStatus::Cancelled)
    );
}

#[test]
fn ndjson_lines_are_independent() {
    let p = r#"{"resourceType":"Patient","id":"p1","gender":"female"}"#;
    let o = r#"{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8302-2"}]},"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":1.50,"unit":"m"}}"#;
    let text = format!("{p}\r\n\n{{broken\n{o}\n\u{FFFF}\n{}\n", "x".repeat(300));
    let f = SourceFile::new(1, "a.ndjson");
    let lim = Limits {
        max_line_bytes: 250,
        ..Limits::default()
    };
    let b = read_ndjson(&[(f, text.as_bytes())], &lim);
    assert_eq!(
        b.read,
        5,
        "{:?}",
        b.rejected.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(
        b.count_kind("identity"),
        1,
        "{:?}",
        b.rejected.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(b.count_kind("observation"), 1);
    let lines: Vec<u64> = b
        .rejected
        .iter()
        .map(|r| r.position.entry.unwrap().1)
        .collect();
    assert_eq!(lines, [3, 5, 6]);
    assert!(matches!(
        b.rejected[2].reason,
        Reason::TooLarge { limit: 250, .. }
    ));
    let Body::Clinical(c) = &b.records[1].body else {
        panic!()
    };
    let ClinicalData::Observation(ob) = &c.data else {
        panic!()
    };
    let Some(ObservationValue::Quantity(q)) = &ob.value else {
        panic!()
    };
    assert_eq!(q.value.as_str(), "1.50");
}
