//! End-to-end releases of a small extract: the package, its labels, k and k^m on the written
//! files (checked by our own count and by pycanon), determinism, stop requests, tampering.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use tsunagu_release::{Outcome, Policy, ReleaseError, ReleaseInput, build, verify_package};

const PYCANON: &str = "pycanon==1.3.6";
const N: usize = 400;

fn release(
    lake: &tsunagu_lake::Lake,
    out: &Path,
    policy: &Policy,
    release_id: &str,
    seed: Option<u64>,
    exclude: &BTreeSet<String>,
) -> Outcome {
    build(
        &ReleaseInput {
            extract: lake,
            extract_id: "ext-1".into(),
            release_id: release_id.into(),
            as_of: as_of(),
            exclude,
            seed,
            created_at: created_at(),
        },
        policy,
        out,
    )
    .unwrap()
}

fn anonymized(dir: &Path) -> (Outcome, std::path::PathBuf) {
    let lake = write_extract(&dir.join("extract"), N);
    let out = dir.join("release");
    let o = release(
        &lake,
        &out,
        &Policy::preset("anonymized-jp").unwrap(),
        "rel-1",
        Some(42),
        &BTreeSet::new(),
    );
    (o, out)
}

#[test]
fn anonymized_package_has_every_file_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = anonymized(dir.path());
    let names: BTreeSet<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for f in [
        "persons.parquet",
        "persons.csv",
        "conditions.parquet",
        "conditions.csv",
        "medications.csv",
        "observations.csv",
        "encounters.csv",
        "claims.csv",
        "dictionary.md",
        "dictionary.csv",
        "risk-report.json",
        "risk-report.html",
        "policy.toml",
        "manifest.json",
    ] {
        assert!(names.contains(f), "{f} missing: {names:?}");
    }
    // Tables the policy does not release have no file (procedures, checkups are empty but
    // released: they exist with a header only).
    assert_eq!(verify_package(&out).unwrap(), o.digest);
    assert_eq!(o.persons_included.len(), N);
    assert_eq!(o.rows["persons"], N as u64);
    // The effective policy parses back to the preset.
    let text = fs::read_to_string(out.join("policy.toml")).unwrap();
    let mut back = Policy::parse(&text).unwrap();
    back.extends = None;
    assert_eq!(back, Policy::preset("anonymized-jp").unwrap());
    // The gate: every measure passes on this extract (the planted cases are handled).
    for m in &o.report.measures {
        assert_eq!(
            m.verdict,
            tsunagu_release::Verdict::Pass,
            "measure {}: {:?}",
            m.measure,
            m.findings
        );
    }
    assert_eq!(o.report.measures.len(), 5);
    let attack = o.report.attack.as_ref().unwrap();
    assert!(attack.sample > 0);
    // With diagnosis dates to the year and k^m inside each class, the attacker who knows sex,
    // birth year, area and two diagnoses with their months stays below the limit.
    assert!(attack.passed, "{attack:?}");
    assert!(o.passed);
    // The report in the package is the outcome's.
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("risk-report.json")).unwrap()).unwrap();
    assert_eq!(json["release_id"], "rel-1");
    assert_eq!(json["passed"], o.passed);
    // No linked id, record id or provider id leaks into any file.
    for f in &names {
        let bytes = fs::read(out.join(f)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("per-0"), "{f} holds a linked id");
        assert!(!text.contains("cond-"), "{f} holds a record id");
        assert!(!text.contains("enc-"), "{f} holds an encounter id");
        assert!(!text.contains("prv-"), "{f} holds a provider id");
    }
}

#[test]
fn labels_follow_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = anonymized(dir.path());
    let persons = read_csv(&out.join("persons.csv"));
    assert_eq!(persons.0, ["person_id", "sex", "age", "area"]);
    let ids = column(&persons, "person_id");
    assert!(ids.iter().all(|p| {
        p.len() == 18
            && p.starts_with("p-")
            && p[2..]
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    }));
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        N,
        "pseudonyms are unique"
    );
    for s in column(&persons, "sex") {
        assert!(["M", "F", "O", "U", "*"].contains(&s.as_str()), "sex {s}");
    }
    let age_ok = |a: &str| {
        a == "*"
            || a == "90+"
            || a.parse::<u32>().is_ok_and(|x| x < 90)
            || a.split_once('-').is_some_and(|(l, h)| {
                let (l, h): (u32, u32) = (l.parse().unwrap(), h.parse().unwrap());
                h < 90 && [4, 9, 19].contains(&(h - l)) && l % (h - l + 1) == 0
            })
    };
    for a in column(&persons, "age") {
        assert!(age_ok(&a), "age label {a}");
    }
    // The 103-year-old is never shown with an exact age.
    assert!(
        !column(&persons, "age")
            .iter()
            .any(|a| a == "103" || a == "100-104")
    );
    let areas: BTreeSet<String> = column(&persons, "area").into_iter().collect();
    let allowed: BTreeSet<&str> = [
        "東京都府中市",
        "東京都千代田区",
        "北海道札幌市中央区",
        "大阪府大阪市北区",
        "東京都",
        "北海道",
        "大阪府",
        "関東",
        "近畿",
        "*",
    ]
    .into();
    for a in &areas {
        assert!(allowed.contains(a.as_str()), "area {a}");
    }
    let cond = read_csv(&out.join("conditions.csv"));
    // Diagnosis dates go out as the year only (anonymized-jp), or not at all where k^m had to
    // drop the period of a (diagnosis, year) held by fewer than k persons of the class.
    let onsets = column(&cond, "onset");
    for d in &onsets {
        assert!(
            d.is_empty() || (d.len() == 4 && d.bytes().all(|b| b.is_ascii_digit())),
            "onset {d}"
        );
    }
    assert!(!cond.0.contains(&"name".to_owned()));
    assert!(!cond.0.contains(&"record_id".to_owned()));
    for e in column(&cond, "encounter_id") {
        assert!(e.starts_with("e-") && e.len() == 18, "{e}");
    }
    // Drugs are released at their 薬効分類 (4 digits); the drug held by one person is gone.
    let med = read_csv(&out.join("medications.csv"));
    let codes: BTreeSet<String> = column(&med, "code").into_iter().collect();
    assert_eq!(codes, BTreeSet::from(["3961".to_owned()]));
    // The lab outlier is top-coded to the 99th percentile.
    let obs = read_csv(&out.join("observations.csv"));
    let max = column(&obs, "value")
        .iter()
        .map(|v| v.parse::<f64>().unwrap())
        .fold(f64::MIN, f64::max);
    assert!(max < 18.0, "outlier released as is");
    assert!(!obs.0.contains(&"value_text".to_owned()));
}

/// Our own count of classes over the QIs (suppressed rows, every QI `*`, left out).
fn classes(
    persons: &(Vec<String>, Vec<Vec<String>>),
    qis: &[&str],
) -> (BTreeMap<Vec<String>, usize>, usize) {
    let cols: Vec<Vec<String>> = qis.iter().map(|q| column(persons, q)).collect();
    let mut m: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut suppressed = 0;
    for r in 0..persons.1.len() {
        let key: Vec<String> = cols.iter().map(|c| c[r].clone()).collect();
        if key.iter().all(|v| v == "*") {
            suppressed += 1;
        } else {
            *m.entry(key).or_insert(0) += 1;
        }
    }
    (m, suppressed)
}

#[test]
fn k_holds_on_the_written_file_by_our_count_and_by_pycanon() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = anonymized(dir.path());
    let persons = read_csv(&out.join("persons.csv"));
    let (m, suppressed) = classes(&persons, &["sex", "age", "area"]);
    assert!(m.values().all(|&c| c >= 5), "a class below k=5");
    assert!(
        suppressed as f64 <= 0.05 * N as f64,
        "suppression above the limit"
    );
    let k = o.report.k_anonymity.as_ref().unwrap();
    assert!(k.holds);
    assert_eq!(k.suppressed_records, suppressed as u64);
    assert_eq!(k.equivalence_classes, m.len() as u64);
    // Not trivially coarse: the search keeps some detail.
    assert!(m.len() > 4, "everything generalized away");

    let py = tsunagu_testkit::python(&[PYCANON]);
    let script = r#"
import json, sys
import pandas as pd
from pycanon import anonymity
df = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
qi = ["sex", "age", "area"]
suppressed = (df[qi] == '*').all(axis=1)
kept = df[~suppressed].reset_index(drop=True)
print(json.dumps({"k": int(anonymity.k_anonymity(kept, qi)), "rows": len(df)}))
"#;
    let r = Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(out.join("persons.csv"))
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "python: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["rows"], N);
    assert!(v["k"].as_u64().unwrap() >= 5, "pycanon k = {}", v["k"]);
    assert_eq!(v["k"].as_u64().unwrap(), k.min_class_size);
}

#[test]
fn km_holds_on_the_written_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = anonymized(dir.path());
    let cond = read_csv(&out.join("conditions.csv"));
    let mut sets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (p, c) in column(&cond, "person_id")
        .into_iter()
        .zip(column(&cond, "icd10"))
    {
        sets.entry(p).or_default().insert(c);
    }
    // Every itemset of size 1 and 2 that occurs is held by at least 5 persons.
    let mut support: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for s in sets.values() {
        let v: Vec<&String> = s.iter().collect();
        for i in 0..v.len() {
            *support.entry(vec![v[i].clone()]).or_insert(0) += 1;
            for j in i + 1..v.len() {
                *support.entry(vec![v[i].clone(), v[j].clone()]).or_insert(0) += 1;
            }
        }
    }
    assert!(!support.is_empty());
    for (set, n) in &support {
        assert!(*n >= 5, "itemset of {} codes held by {n}", set.len());
    }
    // The diagnosis held by one person is not released as such.
    assert!(!column(&cond, "icd10").iter().any(|c| c == RARE_DX));
    let km = o.report.km_anonymity.as_ref().unwrap();
    assert!(km.holds);
    assert_eq!(km.violations, 0);
    // Common codes stay exact.
    assert!(column(&cond, "icd10").iter().any(|c| c == "I10"));
}

#[test]
fn same_seed_same_bytes_other_release_other_pseudonyms() {
    let dir = tempfile::tempdir().unwrap();
    let lake = write_extract(&dir.path().join("extract"), 120);
    let p = Policy::preset("anonymized-jp").unwrap();
    let none = BTreeSet::new();
    let a = release(&lake, &dir.path().join("a"), &p, "rel-1", Some(7), &none);
    let b = release(&lake, &dir.path().join("b"), &p, "rel-1", Some(7), &none);
    assert_eq!(a.digest, b.digest);
    // The attack's figures are reproducible for a seed.
    assert!(a.report.attack.is_some());
    assert_eq!(a.report.attack, b.report.attack);
    let files: Vec<_> = fs::read_dir(dir.path().join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for f in &files {
        assert_eq!(
            fs::read(dir.path().join("a").join(f)).unwrap(),
            fs::read(dir.path().join("b").join(f)).unwrap(),
            "{f:?} differs"
        );
    }
    let c = release(&lake, &dir.path().join("c"), &p, "rel-2", Some(7), &none);
    assert_ne!(a.digest, c.digest);
    let ids = |d: &str| -> BTreeSet<String> {
        column(
            &read_csv(&dir.path().join(d).join("persons.csv")),
            "person_id",
        )
        .into_iter()
        .collect()
    };
    assert!(
        ids("a").is_disjoint(&ids("c")),
        "two releases share pseudonyms"
    );
}

#[test]
fn a_person_who_stopped_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let lake = write_extract(&dir.path().join("extract"), 120);
    let p = Policy::preset("anonymized-jp").unwrap();
    let stopped = pid(5);
    let full = release(
        &lake,
        &dir.path().join("full"),
        &p,
        "rel-1",
        Some(3),
        &BTreeSet::new(),
    );
    let exclude = BTreeSet::from([stopped.clone()]);
    let o = release(
        &lake,
        &dir.path().join("rel"),
        &p,
        "rel-1",
        Some(3),
        &exclude,
    );
    assert!(full.persons_included.contains(&stopped));
    assert!(!o.persons_included.contains(&stopped));
    assert_eq!(o.persons_included.len(), 119);
    assert_eq!(o.report.excluded_at_release, 1);
    // Same seed and release id: the stopped person's pseudonym would be the same, so look
    // for it in every file of the second package.
    let full_ids = column(&read_csv(&dir.path().join("full/persons.csv")), "person_id");
    let kept_ids: BTreeSet<String> =
        column(&read_csv(&dir.path().join("rel/persons.csv")), "person_id")
            .into_iter()
            .collect();
    let gone: Vec<&String> = full_ids.iter().filter(|p| !kept_ids.contains(*p)).collect();
    assert_eq!(gone.len(), 1);
    for e in fs::read_dir(dir.path().join("rel")).unwrap() {
        let text = String::from_utf8_lossy(&fs::read(e.unwrap().path()).unwrap()).into_owned();
        assert!(!text.contains(gone[0].as_str()));
    }
}

#[test]
fn verify_detects_a_flipped_byte_a_missing_and_an_extra_file() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = anonymized(dir.path());
    assert_eq!(verify_package(&out).unwrap(), o.digest);
    let f = out.join("persons.csv");
    let orig = fs::read(&f).unwrap();
    let mut bad = orig.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    fs::write(&f, &bad).unwrap();
    assert!(matches!(
        verify_package(&out),
        Err(ReleaseError::Tampered { .. })
    ));
    fs::write(&f, &orig).unwrap();
    assert_eq!(verify_package(&out).unwrap(), o.digest);
    fs::write(out.join("notes.txt"), "x").unwrap();
    assert!(matches!(
        verify_package(&out),
        Err(ReleaseError::Tampered { .. })
    ));
    fs::remove_file(out.join("notes.txt")).unwrap();
    fs::remove_file(out.join("dictionary.md")).unwrap();
    assert!(matches!(
        verify_package(&out),
        Err(ReleaseError::Tampered { .. })
    ));
}

#[test]
fn an_existing_package_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = anonymized(dir.path());
    let lake = tsunagu_lake::Lake::open(dir.path().join("extract"), &key()).unwrap();
    let r = build(
        &ReleaseInput {
            extract: &lake,
            extract_id: "ext-1".into(),
            release_id: "rel-9".into(),
            as_of: as_of(),
            exclude: &BTreeSet::new(),
            seed: Some(1),
            created_at: created_at(),
        },
        &Policy::preset("anonymized-jp").unwrap(),
        &out,
    );
    assert!(matches!(r, Err(ReleaseError::Io { .. })));
    assert!(verify_package(&out).is_ok());
}

#[test]
fn pseudonymized_keeps_dates_and_detail_but_not_ids() {
    let dir = tempfile::tempdir().unwrap();
    let lake = write_extract(&dir.path().join("extract"), 60);
    let out = dir.path().join("rel");
    let o = release(
        &lake,
        &out,
        &Policy::preset("pseudonymized-jp").unwrap(),
        "rel-p",
        Some(5),
        &BTreeSet::new(),
    );
    assert!(o.report.k_anonymity.is_none());
    assert!(o.report.attack.is_none());
    for m in &o.report.measures {
        assert_eq!(
            m.verdict,
            tsunagu_release::Verdict::Pass,
            "measure {}: {:?}",
            m.measure,
            m.findings
        );
    }
    assert!(o.passed);
    let persons = read_csv(&out.join("persons.csv"));
    assert!(
        column(&persons, "age")
            .iter()
            .any(|a| a == "104" || a == "103")
    );
    let cond = read_csv(&out.join("conditions.csv"));
    assert!(column(&cond, "icd10").iter().any(|c| c == RARE_DX));
    for d in column(&cond, "onset") {
        assert_eq!(d.len(), 10, "{d}");
    }
    for r in column(&cond, "record_id") {
        assert!(r.starts_with("r-") && r.len() == 18);
    }
    let obs = read_csv(&out.join("observations.csv"));
    assert!(column(&obs, "value").iter().any(|v| v == "18"));
    let text = fs::read_to_string(out.join("conditions.csv")).unwrap();
    assert!(!text.contains("cond-") && !text.contains("per-0"));
}

#[test]
fn relative_and_shifted_dates() {
    let dir = tempfile::tempdir().unwrap();
    let lake = write_extract(&dir.path().join("extract"), 60);
    let p = Policy::parse(
        r#"
name = "dates"
extends = "pseudonymized-jp"
[tables.conditions]
onset = { action = "date", to = "relative" }
recorded = { action = "date", to = "shift", days = 30 }
"#,
    )
    .unwrap();
    let out = dir.path().join("rel");
    release(&lake, &out, &p, "rel-d", Some(5), &BTreeSet::new());
    // The same release id and seed under the preset gives the same pseudonyms and exact dates.
    let exact_dir = dir.path().join("exact");
    release(
        &lake,
        &exact_dir,
        &Policy::preset("pseudonymized-jp").unwrap(),
        "rel-d",
        Some(5),
        &BTreeSet::new(),
    );
    let cond = read_csv(&out.join("conditions.csv"));
    let exact = read_csv(&exact_dir.join("conditions.csv"));
    assert_eq!(column(&cond, "record_id"), column(&exact, "record_id"));
    let persons = column(&cond, "person_id");
    let rel = column(&cond, "onset");
    let shifted = column(&cond, "recorded");
    let truth = column(&exact, "recorded");
    let mut shift_of: HashMap<String, i64> = HashMap::new();
    for i in 0..persons.len() {
        // The fixture's first event is the claim's service month (the 1st of the month of the
        // visit), so the onset is the day of the month minus one days after the index date.
        let t = chrono::NaiveDate::parse_from_str(&truth[i], "%Y-%m-%d").unwrap();
        let r: i64 = rel[i].parse().unwrap();
        assert_eq!(r, i64::from(chrono::Datelike::day(&t)) - 1);
        let s = chrono::NaiveDate::parse_from_str(&shifted[i], "%Y-%m-%d").unwrap();
        let d = (s - t).num_days();
        assert!(d.abs() <= 30, "shift {d}");
        // One shift per person.
        assert_eq!(*shift_of.entry(persons[i].clone()).or_insert(d), d);
    }
    assert!(shift_of.values().any(|d| *d != 0));
}

#[test]
fn a_failed_gate_still_writes_the_package_with_passed_false() {
    let dir = tempfile::tempdir().unwrap();
    let lake = write_extract(&dir.path().join("extract"), 120);
    // A clerk typed a My Number (valid check digit) into the name of a claim line.
    let rows: Vec<tsunagu_lake::Claim> = lake.read_rows().unwrap();
    let mut planted = rows[0].clone();
    planted.record_id = "cl-planted".into();
    planted.name = Some("保険証確認 123456789018".into());
    lake.write_rows(
        &tsunagu_lake::PartName::parse("planted").unwrap(),
        &[planted],
    )
    .unwrap();
    let p = Policy::parse(
        "name = 'keeps-names'\nextends = 'anonymized-jp'\n[tables.claims]\nname = 'keep'\n",
    )
    .unwrap();
    let out = dir.path().join("rel");
    let o = release(&lake, &out, &p, "rel-f", Some(1), &BTreeSet::new());
    assert!(!o.passed);
    let m2 = o.report.measures.iter().find(|m| m.measure == 2).unwrap();
    assert_eq!(m2.verdict, tsunagu_release::Verdict::Fail);
    // The findings name the rule and the column, never the value.
    let json = fs::read_to_string(out.join("risk-report.json")).unwrap();
    assert!(!json.contains("123456789018"));
    assert_eq!(verify_package(&out).unwrap(), o.digest);
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["passed"], false);
}

#[test]
fn km_within_classes_lowers_the_attack_share_and_holds_per_class() {
    let dir = tempfile::tempdir().unwrap();
    let lake = write_extract(&dir.path().join("extract"), N);
    let global = Policy::parse(
        "name='g'\nextends='anonymized-jp'\n[privacy.km_anonymity]\nwithin_classes=false\n",
    )
    .unwrap();
    let within = Policy::preset("anonymized-jp").unwrap();
    let none = BTreeSet::new();
    let g = release(
        &lake,
        &dir.path().join("g"),
        &global,
        "rel-1",
        Some(9),
        &none,
    );
    let w = release(
        &lake,
        &dir.path().join("w"),
        &within,
        "rel-1",
        Some(9),
        &none,
    );
    let share = |o: &Outcome| o.report.attack.as_ref().unwrap().reidentified_share;
    assert!(share(&w) < share(&g), "{} vs {}", share(&w), share(&g));
    // Per class of (sex, age, area): every set of up to 2 released codes held by anyone in the
    // class is held by at least 5 persons of the class — by our own count on the files.
    let persons = read_csv(&dir.path().join("w/persons.csv"));
    let class_of: HashMap<String, Vec<String>> = column(&persons, "person_id")
        .into_iter()
        .zip(
            column(&persons, "sex")
                .into_iter()
                .zip(column(&persons, "age"))
                .zip(column(&persons, "area"))
                .map(|((s, a), r)| vec![s, a, r]),
        )
        .collect();
    let cond = read_csv(&dir.path().join("w/conditions.csv"));
    let mut sets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (p, c) in column(&cond, "person_id")
        .into_iter()
        .zip(column(&cond, "icd10"))
    {
        sets.entry(p).or_default().insert(c);
    }
    let mut support: BTreeMap<(Vec<String>, Vec<String>), usize> = BTreeMap::new();
    for (p, s) in &sets {
        let class = class_of[p].clone();
        let v: Vec<&String> = s.iter().collect();
        for i in 0..v.len() {
            *support
                .entry((class.clone(), vec![v[i].clone()]))
                .or_insert(0) += 1;
            for j in i + 1..v.len() {
                *support
                    .entry((class.clone(), vec![v[i].clone(), v[j].clone()]))
                    .or_insert(0) += 1;
            }
        }
    }
    assert!(!support.is_empty());
    assert!(support.values().all(|n| *n >= 5));
}
