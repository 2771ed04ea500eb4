//! `tsunagu demo` runs the whole mission end to end on the embedded defaults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn demo_runs_end_to_end_and_keeps_its_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_tsunagu"))
        .arg("--json")
        .arg("--data")
        .arg(&root)
        .args(["demo", "--persons", "400", "--seed", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ledger"]["audit"]["ok"], true);
    let reasons: Vec<&str> = v["ledger"]["eligibility"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"]["code"].as_str().unwrap())
        .collect();
    // Each rule of the Act shows up at work.
    for r in ["eligible", "waiting", "stopped", "no_notice", "no_filing"] {
        assert!(reasons.contains(&r), "{r} missing from {reasons:?}");
    }
    let gate = &v["population"]["gate"];
    assert_eq!(gate["stopped_but_eligible"], 0);
    assert!(gate["eligible"].as_u64().unwrap() > 0);
    assert_eq!(v["population"]["audit_ok"], true);
    // Intake in all three formats accounts for every patient record of the truth: each
    // person-at-provider is in the vault, nothing was quarantined.
    let intake = &v["population"]["intake"];
    assert_eq!(
        intake["vault_subjects"], v["population"]["synth"]["patient_records"],
        "{intake}"
    );
    assert_eq!(intake["totals"]["quarantined"], 0, "{intake}");
    for f in ["csv", "fhir", "ssmix2"] {
        assert!(
            intake["by_format"][f].as_u64().unwrap() > 0,
            "{f}: {intake}"
        );
    }
    assert!(intake["lake_rows"]["conditions"].as_u64().unwrap() > 0);
    // What the lake holds is exactly what the generator wrote for the persons the gate let
    // through: person by person and code by code, nothing missing, nothing extra.
    let rec = &intake["reconciliation"];
    assert_eq!(rec["persons"]["missing"], 0, "{rec}");
    assert_eq!(rec["persons"]["extra"], 0, "{rec}");
    assert!(rec["persons"]["accepted"].as_u64().unwrap() > 0, "{rec}");
    assert!(rec["persons"]["held"].as_u64().unwrap() > 0, "{rec}");
    for (table, t) in rec["tables"].as_object().unwrap() {
        assert_eq!(t["missing"], 0, "{table}: {t}");
        assert_eq!(t["extra"], 0, "{table}: {t}");
        assert_eq!(t["expected"], t["stored"], "{table}: {t}");
    }
    for table in [
        "encounters",
        "conditions",
        "medications",
        "observations",
        "claims",
    ] {
        assert!(
            rec["tables"][table]["stored"].as_u64().unwrap() > 0,
            "{table}: {rec}"
        );
    }
    // Linkage over the vault finds the truth's persons.
    let lk = &intake["linkage"];
    assert!(lk["precision"].as_f64().unwrap() > 0.99, "{lk}");
    assert!(lk["recall"].as_f64().unwrap() > 0.99, "{lk}");
    // The person-level table leaves the anonymization 5-anonymous: no class below 5.
    let an = &intake["anonymized"];
    assert!(
        an["risk_after"]["prosecutor"]["highest"].as_f64().unwrap() <= 0.2 + 1e-12,
        "{an}"
    );
    assert_eq!(an["risk_after"]["sample_uniques"], 0);
    assert!(
        an["risk_before"]["sample_uniques"].as_u64().unwrap() > 0,
        "{an}"
    );
    // The demo ends with a release under anonymized-jp that passes its own gate, leaves out the
    // person who asked to stop after the extract, and is approved by a second person.
    let rel = &v["population"]["release"];
    assert_eq!(rel["release"]["passed"], true, "{rel}");
    let verdicts: Vec<&str> = rel["release"]["measures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, vec!["pass"; 5], "{rel}");
    assert!(
        rel["release"]["excluded_now"].as_u64().unwrap() >= 1,
        "{rel}"
    );
    assert!(
        rel["release"]["persons"].as_u64().unwrap()
            < rel["extract"]["manifest"]["persons"].as_u64().unwrap(),
        "{rel}"
    );
    assert!(rel["provision_record"].as_str().is_some(), "{rel}");
    assert_eq!(rel["provided_after_stop"], serde_json::json!([]), "{rel}");
    for p in [
        "cohort.sql",
        "release/manifest.json",
        "release/persons.parquet",
        "release/persons.csv",
        "release/risk-report.json",
        "release/risk-report.html",
        "release/policy.toml",
        "store/extracts/demo-population/extract.json",
        "store/tsunagu-store.toml",
        "store/ledger.sqlite",
        "synth/truth/records.csv",
        "records/reception.json",
    ] {
        assert!(root.join(p).exists(), "{p}");
    }
    // A second run into the same directory is refused rather than mixing two demos.
    let again = Command::new(env!("CARGO_BIN_EXE_tsunagu"))
        .arg("--data")
        .arg(&root)
        .arg("demo")
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(5));
}
