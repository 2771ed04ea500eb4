//! `tsunagu extract`, `release`, `release approve` and `audit person` as an operator runs them on
//! what `tsunagu synth` makes: the gate at extraction and at release time, the five measures
//! through the real binary, four-eyes approval, tamper detection, and accountability per person.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tsunagu"));
    c.env_remove("TSUNAGU_STORE_KEY")
        .env_remove("TSUNAGU_DATA")
        .env_remove("TSUNAGU_ACTOR");
    c
}

fn run_as(store: &Path, actor: &str, args: &[&str]) -> Output {
    bin()
        .arg("--data")
        .arg(store)
        .arg("--actor")
        .arg(actor)
        .arg("--json")
        .args(args)
        .output()
        .unwrap()
}

fn ok(store: &Path, actor: &str, args: &[&str]) -> serde_json::Value {
    let o = run_as(store, actor, args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

struct World {
    tmp: tempfile::TempDir,
    synth: PathBuf,
    store: PathBuf,
    ids: BTreeMap<String, String>,
}

/// A store with a synthetic population taken in (FHIR from every provider) and linked.
fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let synth = tmp.path().join("synth");
    let store = tmp.path().join("store");
    let o = bin()
        .args([
            "synth",
            "--persons",
            "300",
            "--seed",
            "11",
            "--formats",
            "fhir",
            "--out",
        ])
        .arg(&synth)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ok(&store, "op", &["init"]);
    ok(
        &store,
        "op",
        &["ledger", "import", synth.join("ledger").to_str().unwrap()],
    );
    let ids: BTreeMap<String, String> = ok(&store, "op", &["provider", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_owned(),
                p["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for entry in std::fs::read_dir(synth.join("fhir/bundles")).unwrap() {
        let dir = entry.unwrap().path();
        let code = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(id) = ids.get(&code) else { continue };
        ok(
            &store,
            "op",
            &["ingest", "--provider", id, dir.to_str().unwrap()],
        );
    }
    ok(&store, "op", &["link"]);
    World {
        tmp,
        synth,
        store,
        ids,
    }
}

/// (provider code, local patient id) of the truth's records.
fn truth_records(w: &World) -> Vec<(String, String)> {
    let mut rdr = csv::Reader::from_path(w.synth.join("truth/records.csv")).unwrap();
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect()
}

fn audit_person(w: &World, provider_code: &str, patient: &str) -> serde_json::Value {
    ok(
        &w.store,
        "auditor",
        &[
            "audit",
            "person",
            "--provider",
            &w.ids[provider_code],
            "--patient",
            patient,
        ],
    )
}

#[test]
fn extract_release_approve_and_account_for_every_person() {
    let w = world();
    let cohort = w.tmp.path().join("all.sql");
    std::fs::write(&cohort, "SELECT person_id FROM persons;\n").unwrap();
    let records: Vec<(String, String)> = truth_records(&w)
        .into_iter()
        .filter(|(c, _)| w.ids.contains_key(c))
        .collect();
    let stop = |code: &str, patient: &str| {
        ok(
            &w.store,
            "op",
            &[
                "stop",
                "add",
                "--provider",
                &w.ids[code],
                "--patient",
                patient,
                "--requester",
                "person",
            ],
        )
    };
    // Someone whose records the store holds asks to stop before the extract.
    let (early_code, early_patient) = records
        .iter()
        .find(|(c, p)| {
            audit_person(&w, c, p)["records"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .cloned()
        .unwrap();
    stop(&early_code, &early_patient);

    // A statement that writes is refused as bad input, and leaves no extract behind.
    let bad = w.tmp.path().join("bad.sql");
    std::fs::write(&bad, "DROP TABLE persons;\n").unwrap();
    let o = run_as(
        &w.store,
        "builder",
        &["extract", "--cohort", bad.to_str().unwrap(), "--out", "bad"],
    );
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!w.store.join("extracts/bad").exists());

    let ex = ok(
        &w.store,
        "builder",
        &[
            "extract",
            "--cohort",
            cohort.to_str().unwrap(),
            "--out",
            "all",
        ],
    );
    let extract_persons = ex["manifest"]["persons"].as_u64().unwrap();
    assert!(extract_persons > 100, "{ex}");
    // The same id twice is a conflict.
    let o = run_as(
        &w.store,
        "builder",
        &[
            "extract",
            "--cohort",
            cohort.to_str().unwrap(),
            "--out",
            "all",
        ],
    );
    assert_eq!(code(&o), 5);

    // Whoever asked to stop before the extract is in no extract.
    let a = audit_person(&w, &early_code, &early_patient);
    assert_eq!(a["inclusions"], serde_json::json!([]), "{a}");
    assert!(ex["gate"]["stopped_persons"].as_u64().unwrap() >= 1, "{ex}");

    // A person of the extract asks to stop now: the release must leave them out.
    let (late_code, late_patient) = records
        .iter()
        .find(|(c, p)| {
            audit_person(&w, c, p)["inclusions"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .cloned()
        .unwrap();
    stop(&late_code, &late_patient);

    let out = w.tmp.path().join("release");
    let rel = ok(
        &w.store,
        "builder",
        &[
            "release",
            "--extract",
            "all",
            "--policy",
            "anonymized-jp",
            "--out",
            out.to_str().unwrap(),
            "--recipient",
            "研究者",
            "--request",
            "REQ-1",
            "--seed",
            "5",
        ],
    );
    assert_eq!(rel["passed"], true, "{rel}");
    assert!(rel["excluded_now"].as_u64().unwrap() >= 1, "{rel}");
    assert_eq!(
        rel["persons"].as_u64().unwrap(),
        extract_persons - rel["excluded_now"].as_u64().unwrap(),
        "{rel}"
    );
    let id = rel["id"].as_str().unwrap().to_owned();
    for f in [
        "persons.parquet",
        "persons.csv",
        "conditions.csv",
        "manifest.json",
        "risk-report.json",
        "risk-report.html",
        "policy.toml",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let persons_csv = std::fs::read_to_string(out.join("persons.csv")).unwrap();
    assert_eq!(
        persons_csv.lines().count() as u64 - 1,
        rel["persons"].as_u64().unwrap()
    );
    // Nothing of the extract's ids survives in the package.
    let all_text: String = ["persons.csv", "conditions.csv", "encounters.csv"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(out.join(f)).ok())
        .collect();
    assert!(!all_text.contains("per-"));
    assert!(!all_text.contains("psn-"));
    assert!(!all_text.contains("prv-"));

    // Four eyes: the builder cannot approve.
    let o = run_as(&w.store, "builder", &["release", "approve", &id]);
    assert_eq!(code(&o), 5, "{}", String::from_utf8_lossy(&o.stderr));
    // A changed file is caught before approval.
    let csv_path = out.join("persons.csv");
    let original = std::fs::read(&csv_path).unwrap();
    let mut changed = original.clone();
    changed.extend_from_slice(b"p-0000000000000000,F,40-44,*\n");
    std::fs::write(&csv_path, &changed).unwrap();
    let o = run_as(&w.store, "reviewer", &["release", "approve", &id]);
    assert_eq!(code(&o), 6, "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(&csv_path, &original).unwrap();
    let ap = ok(&w.store, "reviewer", &["release", "approve", &id]);
    assert!(ap["provision_record"].as_str().is_some(), "{ap}");
    let o = run_as(&w.store, "reviewer", &["release", "approve", &id]);
    assert_eq!(code(&o), 5);

    // The late stopper: in the extract, in no release, nothing provided after the stop.
    let a = audit_person(&w, &late_code, &late_patient);
    let inc = a["inclusions"].as_array().unwrap();
    assert!(!inc.is_empty(), "{a}");
    assert!(inc.iter().all(|i| i["release_id"].is_null()), "{a}");
    assert_eq!(a["provided_after_stop"], serde_json::json!([]), "{a}");
    // Someone else of the release: included and provided.
    let (c, p) = records
        .iter()
        .find(|(c, p)| {
            (c, p) != (&late_code, &late_patient)
                && audit_person(&w, c, p)["inclusions"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|i| !i["provision_id"].is_null()))
        })
        .cloned()
        .unwrap();
    assert_ne!((c, p), (late_code, late_patient));

    // The chain vouches for all of it.
    let v = ok(&w.store, "auditor", &["audit", "verify"]);
    assert_eq!(v["ok"], true);
}

#[test]
fn policies_that_leak_ids_or_tiny_areas_are_refused_or_fail_the_gate() {
    let w = world();
    let cohort = w.tmp.path().join("all.sql");
    std::fs::write(&cohort, "SELECT person_id FROM persons;\n").unwrap();
    ok(
        &w.store,
        "builder",
        &[
            "extract",
            "--cohort",
            cohort.to_str().unwrap(),
            "--out",
            "all",
        ],
    );
    // A policy may not keep the extract's ids at all (linking codes, measure 3): refused as
    // bad input before anything is built.
    let leaky = w.tmp.path().join("leaky.toml");
    std::fs::write(
        &leaky,
        "name = \"leaky\"\nextends = \"anonymized-jp\"\n\n[tables.conditions]\nrecord_id = \"keep\"\n",
    )
    .unwrap();
    let o = run_as(
        &w.store,
        "builder",
        &[
            "release",
            "--extract",
            "all",
            "--policy",
            leaky.to_str().unwrap(),
            "--out",
            w.tmp.path().join("leaky").to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!w.tmp.path().join("leaky").exists());

    // A policy that parses but releases municipalities and five-year ages without k-anonymity:
    // tiny areas are 特異な記述 (measure 4) found on the output; the package is still written
    // for the reviewer, the command exits 6, and it cannot be approved.
    let fine = w.tmp.path().join("fine.toml");
    std::fs::write(
        &fine,
        "name = \"fine\"\nextends = \"anonymized-jp\"\n\n[privacy]\nk_anonymity = false\n\n\
         [tables.persons]\nage = { action = \"generalize\", level = 1 }\n\
         area = { action = \"generalize\", level = 0 }\n",
    )
    .unwrap();
    let out = w.tmp.path().join("fine");
    let o = run_as(
        &w.store,
        "builder",
        &[
            "release",
            "--extract",
            "all",
            "--policy",
            fine.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 6, "{}", String::from_utf8_lossy(&o.stderr));
    let rel: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rel["passed"], false);
    let m4 = rel["measures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["measure"] == 4)
        .unwrap();
    assert_eq!(m4["verdict"], "fail", "{m4}");
    assert!(out.join("risk-report.html").exists());
    // A failed release cannot be approved.
    let o = run_as(
        &w.store,
        "reviewer",
        &["release", "approve", rel["id"].as_str().unwrap()],
    );
    assert_eq!(code(&o), 5, "{}", String::from_utf8_lossy(&o.stderr));
}
