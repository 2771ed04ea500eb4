//! `tsunagu ingest` on what `tsunagu synth` makes, as an operator runs it: the opt-out gate,
//! the split into vault and lake, idempotence, kill-and-rerun, quarantine, held data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tsunagu"));
    c.env_remove("TSUNAGU_STORE_KEY").env_remove("TSUNAGU_DATA");
    c
}

fn run(store: &Path, args: &[&str]) -> Output {
    bin().arg("--data").arg(store).args(args).output().unwrap()
}

fn json(store: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = run(store, &a);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

struct World {
    _tmp: tempfile::TempDir,
    synth: PathBuf,
}

fn synth(persons: &str, seed: &str) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let synth = tmp.path().join("synth");
    let o = bin()
        .args([
            "synth",
            "--persons",
            persons,
            "--seed",
            seed,
            "--formats",
            "fhir,ssmix2,csv",
            "--out",
        ])
        .arg(&synth)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    World { _tmp: tmp, synth }
}

fn store_with_ledger(w: &World, dir: &Path) -> BTreeMap<String, String> {
    json(dir, &["init"]);
    json(
        dir,
        &["ledger", "import", w.synth.join("ledger").to_str().unwrap()],
    );
    json(dir, &["provider", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_owned(),
                p["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|x| {
            h.iter()
                .cloned()
                .zip(x.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// The provider with the most patients that has FHIR bundles.
fn busiest(w: &World) -> String {
    let mut n: BTreeMap<String, usize> = BTreeMap::new();
    for r in csv_rows(&w.synth.join("truth/records.csv")) {
        if w.synth
            .join("fhir/bundles")
            .join(&r["provider_code"])
            .is_dir()
        {
            *n.entry(r["provider_code"].clone()).or_default() += 1;
        }
    }
    n.into_iter().max_by_key(|(_, c)| *c).unwrap().0
}

/// Whether `needle` (digits) stands in `hay` as a value of its own (as it would in a CSV cell, a
/// JSON string or a database column): not inside a longer alphanumeric run, where hashes and
/// ciphertext in hex, base-32 ids and the microseconds of timestamps match short numbers by chance.
fn contains_number(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).enumerate().any(|(i, w)| {
        w == needle
            && (i == 0 || !hay[i - 1].is_ascii_alphanumeric())
            && hay
                .get(i + needle.len())
                .is_none_or(|b| !b.is_ascii_alphanumeric())
    })
}

fn all_bytes(dir: &Path, out: &mut Vec<u8>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_bytes(&p, out);
        } else {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
}

#[test]
fn fhir_intake_splits_gates_and_is_idempotent() {
    let w = synth("150", "11");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ids = store_with_ledger(&w, &store);
    let code = busiest(&w);
    let provider = &ids[&code];
    let bundles = w.synth.join("fhir/bundles").join(&code);

    let s = json(
        &store,
        &["ingest", "--provider", provider, bundles.to_str().unwrap()],
    );
    // Every patient of the provider in the truth is accounted for: accepted, held or refused.
    let truth: Vec<_> = csv_rows(&w.synth.join("truth/records.csv"))
        .into_iter()
        .filter(|r| r["provider_code"] == code)
        .collect();
    let persons = s["persons"].as_u64().unwrap() as usize;
    assert_eq!(persons, truth.len(), "{s}");
    let acc = s["accepted_persons"].as_u64().unwrap()
        + s["held_persons"].as_u64().unwrap()
        + s["refused_persons"].as_u64().unwrap();
    assert_eq!(acc as usize, persons);
    // Who is held: exactly those without a notice whose wait is over.
    let notified: BTreeSet<String> = csv_rows(&w.synth.join("ledger/notices.csv"))
        .into_iter()
        .filter(|r| r["provider_code"] == code)
        .map(|r| r["patient"].clone())
        .collect();
    let stopped: BTreeSet<String> = csv_rows(&w.synth.join("ledger/stops.csv"))
        .into_iter()
        .filter(|r| r["provider_code"] == code)
        .map(|r| r["patient"].clone())
        .collect();
    let not_notified = truth
        .iter()
        .filter(|r| !notified.contains(&r["patient_id"]) && !stopped.contains(&r["patient_id"]))
        .count();
    assert!(
        s["held_persons"].as_u64().unwrap() as usize >= not_notified,
        "{s}"
    );
    assert_eq!(
        s["refused_persons"].as_u64().unwrap() as usize,
        truth
            .iter()
            .filter(|r| stopped.contains(&r["patient_id"]))
            .count()
    );
    assert!(s["rows_stored"]["conditions"].as_u64().unwrap() > 0);
    assert!(s["reception"].as_str().unwrap().starts_with("rcv-"));

    // Re-ingesting the same files changes nothing.
    let again = json(
        &store,
        &["ingest", "--provider", provider, bundles.to_str().unwrap()],
    );
    assert_eq!(again["units_new"], 0);
    assert_eq!(again["reception"], serde_json::Value::Null);

    // No name, phone or insurance number of anyone reaches the store in plain text.
    let mut bytes = Vec::new();
    all_bytes(&store, &mut bytes);
    let hay = String::from_utf8_lossy(&bytes);
    let mine: BTreeSet<String> = truth.iter().map(|r| r["person_id"].clone()).collect();
    let mut checked = 0;
    for p in csv_rows(&w.synth.join("truth/persons.csv")) {
        if !mine.contains(&p["person_id"]) {
            continue;
        }
        for f in ["phone", "insured_number"] {
            let v = &p[f];
            if v.len() >= 6 {
                assert!(
                    !contains_number(&bytes, v.as_bytes()),
                    "{f} found in plain text in the store"
                );
                checked += 1;
            }
        }
        let full = format!("{}{}", p["family_name"], p["given_name"]);
        assert!(
            !hay.contains(&full),
            "a name found in plain text in the store"
        );
        let kana = format!("{}{}", p["family_name_kana"], p["given_name_kana"]);
        assert!(
            !hay.contains(&kana),
            "a kana name found in plain text in the store"
        );
    }
    assert!(checked > 10);
    let v = json(&store, &["audit", "verify"]);
    assert_eq!(v["ok"], true);

    // Held data is released once its persons are notified and the wait is over.
    if s["held_persons"].as_u64().unwrap() > 0 {
        let missing: Vec<String> = truth
            .iter()
            .filter(|r| !notified.contains(&r["patient_id"]) && !stopped.contains(&r["patient_id"]))
            .map(|r| format!("{},2020-01-01,letter", r["patient_id"]))
            .collect();
        if !missing.is_empty() {
            let f = tmp.path().join("late-notices.csv");
            std::fs::write(
                &f,
                format!("patient,date,channel\n{}\n", missing.join("\n")),
            )
            .unwrap();
            json(
                &store,
                &[
                    "notice",
                    "import",
                    "--provider",
                    provider,
                    f.to_str().unwrap(),
                ],
            );
            let r = json(&store, &["ingest", "--release-held"]);
            assert_eq!(
                r["released_persons"].as_u64().unwrap() as usize,
                missing.len(),
                "{r}"
            );
            let r2 = json(&store, &["ingest", "--release-held"]);
            assert_eq!(
                r2["released_persons"], 0,
                "a second release moves nothing: {r2}"
            );
        }
    }
}

#[test]
fn malformed_and_hostile_files_are_quarantined_not_fatal() {
    let w = synth("20", "4");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ids = store_with_ledger(&w, &store);
    let provider = ids.values().next().unwrap();
    let dir = tmp.path().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("truncated.json"), br#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","#).unwrap();
    std::fs::write(dir.join("deep.json"), "[".repeat(100_000)).unwrap();
    std::fs::write(
        dir.join("latin1.json"),
        b"{\"resourceType\":\"Patient\",\"name\":[{\"text\":\"\xe9\xe8\"}]}",
    )
    .unwrap();
    std::fs::write(dir.join("unknown.json"), br#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"ImagingStudy","id":"x"}}]}"#).unwrap();
    let s = json(
        &store,
        &["ingest", "--provider", provider, dir.to_str().unwrap()],
    );
    assert_eq!(s["units_new"], 4);
    assert!(s["quarantined"].as_u64().unwrap() >= 4, "{s}");
    let q = json(&store, &["quarantine", "list"]);
    let reasons: Vec<String> = q
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("unsupported")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("nested too deeply") || r.contains("syntax")),
        "{reasons:?}"
    );
    let id = q[0]["id"].as_str().unwrap();
    let shown = json(&store, &["quarantine", "show", id, "--reveal"]);
    assert!(shown["path"].as_str().unwrap().ends_with(".json"));
    // The metadata on disk holds no path (a path can hold a patient id); the sealed part does.
    let mut bytes = Vec::new();
    all_bytes(&store.join("quarantine"), &mut bytes);
    assert!(!String::from_utf8_lossy(&bytes).contains("truncated.json"));
}

/// Kill the intake at many points and run it again: the result equals one clean run.
#[test]
fn killed_intake_rerun_gives_the_clean_result() {
    let w = synth("120", "21");
    let code = busiest(&w);
    let bundles = w.synth.join("fhir/bundles").join(&code);
    let counts = |store: &Path| -> (serde_json::Value, BTreeMap<String, u64>) {
        let v = receptions(store);
        let mut total: BTreeMap<String, u64> = BTreeMap::new();
        for r in v.as_array().unwrap() {
            for (k, n) in r["record_counts"].as_object().unwrap() {
                *total.entry(k.clone()).or_default() += n.as_u64().unwrap();
            }
        }
        (v, total)
    };
    // The NDJSON export, in pieces, is killed and re-run too.
    let ndjson: Vec<String> = ndjson_files(&w)
        .iter()
        .map(|p| p.to_str().unwrap().to_owned())
        .collect();
    let inputs: [(Vec<String>, &[u64]); 2] = [
        (
            vec![bundles.to_str().unwrap().to_owned()],
            &[30, 120, 400, 900],
        ),
        (ndjson, &[300, 1200]),
    ];
    for (input, delays) in inputs {
        killed_and_rerun(&w, &code, &input, delays, &counts);
    }
}

type Counts<'a> = &'a dyn Fn(&Path) -> (serde_json::Value, BTreeMap<String, u64>);

fn killed_and_rerun(w: &World, code: &str, input: &[String], delays: &[u64], counts: Counts<'_>) {
    let clean = tempfile::tempdir().unwrap();
    let ids = store_with_ledger(w, clean.path());
    let mut args = vec!["ingest", "--provider", &ids[code]];
    args.extend(input.iter().map(String::as_str));
    json(clean.path(), &args);
    let (_, want) = counts(clean.path());

    for (k, &delay_ms) in delays.iter().enumerate() {
        let d = tempfile::tempdir().unwrap();
        let ids = store_with_ledger(w, d.path());
        // Killed in small chunks (many parts, several vault transactions) and re-run in the
        // same chunks or in one, it must still give what one clean run in one chunk gives.
        let rerun_chunk = if k % 2 == 1 { "256" } else { "0.05" };
        let mut child = bin()
            .arg("--data")
            .arg(d.path())
            .args(["ingest", "--chunk-mib", "0.05", "--provider", &ids[code]])
            .args(input)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let mut args = vec![
            "ingest",
            "--chunk-mib",
            rerun_chunk,
            "--provider",
            &ids[code],
        ];
        args.extend(input.iter().map(String::as_str));
        json(d.path(), &args);
        let (_, got) = counts(d.path());
        assert_eq!(got, want, "killed after {delay_ms} ms");
        // Nothing the killed run wrote is left beside the re-run's own parts: re-run in one
        // chunk, the store holds exactly the clean run's files.
        if rerun_chunk == "256" {
            assert_eq!(
                stored_files(d.path()),
                stored_files(clean.path()),
                "killed after {delay_ms} ms"
            );
        }
        assert_eq!(
            std::fs::read_dir(d.path().join("intake/pending")).map_or(0, |e| e.count()),
            0,
            "no run left unfinished"
        );
        let v = json(d.path(), &["audit", "verify"]);
        assert_eq!(v["ok"], true);
    }
}

/// The generator's Bulk Data NDJSON files, sorted.
fn ndjson_files(w: &World) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(w.synth.join("fhir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    files.sort();
    files
}

/// The store's reception records (受領記録), as JSON.
fn receptions(store: &Path) -> serde_json::Value {
    json(
        store,
        &[
            "records",
            "export",
            "--kind",
            "reception",
            "--format",
            "json",
        ],
    )
}

/// The parts of the lake and the held area, held identities and quarantine files of a store.
fn stored_files(store: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![
        store.join("lake"),
        store.join("held"),
        store.join("quarantine"),
    ];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(store)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out
}

/// A provider's own CSV layout is quarantined whole under the default mapping; re-trying with
/// the right mapping (Shift_JIS, Japanese headers) takes it in through the gate.
#[test]
fn quarantined_csv_is_retried_with_a_mapping() {
    let w = synth("30", "8");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ids = store_with_ledger(&w, &store);
    let notices = csv_rows(&w.synth.join("ledger/notices.csv"));
    let n = &notices[0];
    let provider = &ids[&n["provider_code"]];
    let text = format!(
        "患者番号,氏,名,生年月日,性別\n{},山田,花子,1980-04-01,2\n",
        n["patient"]
    );
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(&text);
    let f = tmp.path().join("own-layout.csv");
    std::fs::write(&f, &sjis).unwrap();
    let s = json(
        &store,
        &["ingest", "--provider", provider, f.to_str().unwrap()],
    );
    assert_eq!(s["quarantined"], 1, "{s}");
    let m = tmp.path().join("mapping.toml");
    std::fs::write(
        &m,
        "record = \"identity\"\nencoding = \"shift_jis\"\nheader = true\n\n[columns]\nlocal_patient_id = \"患者番号\"\nfamily_name = \"氏\"\ngiven_name = \"名\"\nbirth_date = \"生年月日\"\nsex = \"性別\"\n",
    )
    .unwrap();
    let r = json(
        &store,
        &[
            "quarantine",
            "retry",
            "--all",
            "--mapping",
            m.to_str().unwrap(),
        ],
    );
    assert_eq!(r["resolved"], 1, "{r}");
    assert_eq!(r["intake"]["accepted_persons"], 1, "{r}");
    assert_eq!(
        json(&store, &["quarantine", "list"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(json(&store, &["audit", "verify"])["ok"], true);
}

/// Ingest the FHIR Bundles of the given providers, each as from that provider.
fn ingest_bundles(w: &World, store: &Path, ids: &BTreeMap<String, String>, codes: &[String]) {
    for c in codes {
        let b = w.synth.join("fhir/bundles").join(c);
        json(
            store,
            &["ingest", "--provider", &ids[c], b.to_str().unwrap()],
        );
    }
}

fn persons_csv(store: &Path) -> BTreeMap<String, String> {
    csv_rows(&store.join("link/persons.csv"))
        .into_iter()
        .map(|r| (r["internal_id"].clone(), r["person_id"].clone()))
        .collect()
}

/// Linking the vault is incremental: after a second provider's data arrives, every person found
/// before keeps their id unless the run reports it merged into an older one.
#[test]
fn vault_linkage_is_incremental_with_stable_ids() {
    let w = synth("80", "13");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ids = store_with_ledger(&w, &store);
    let mut codes: Vec<String> = ids
        .keys()
        .filter(|c| w.synth.join("fhir/bundles").join(c).is_dir())
        .cloned()
        .collect();
    codes.sort();
    let (first, rest) = codes.split_at(codes.len() / 2);
    ingest_bundles(&w, &store, &ids, first);
    let r1 = json(&store, &["link"]);
    let p1 = persons_csv(&store);
    assert_eq!(p1.len() as u64, r1["subjects"].as_u64().unwrap());
    ingest_bundles(&w, &store, &ids, rest);
    let r2 = json(&store, &["link"]);
    let p2 = persons_csv(&store);
    assert!(p2.len() > p1.len(), "the second batch adds subjects");
    let events = json(&store, &["audit", "list", "--limit", "100000"]);
    let merged_from: BTreeSet<String> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "link.vault")
        .flat_map(|e| {
            e["details"]["merged"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m[1].as_str().unwrap().to_owned())
        })
        .collect();
    for (id, per) in &p1 {
        if p2[id] != *per {
            assert!(
                merged_from.contains(per),
                "person id of a subject changed without a recorded merge"
            );
        }
    }
    assert_eq!(
        r2["merged"].as_u64().unwrap() as usize,
        merged_from.len() - r1["merged"].as_u64().unwrap() as usize
    );
    // A third run with nothing new changes nothing.
    let r3 = json(&store, &["link"]);
    assert_eq!(r3["created"], 0);
    assert_eq!(r3["merged"], 0);
    assert_eq!(persons_csv(&store), p2);
    assert_eq!(json(&store, &["audit", "verify"])["ok"], true);
}

/// Uncertain pairs wait in a review queue; an operator's decision is kept and reused by every
/// later run, whatever the model says.
#[test]
fn vault_linkage_review_queue_keeps_decisions() {
    let w = synth("60", "17");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ids = store_with_ledger(&w, &store);
    let with_bundles: Vec<String> = ids
        .keys()
        .filter(|c| w.synth.join("fhir/bundles").join(c).is_dir())
        .cloned()
        .collect();
    ingest_bundles(&w, &store, &ids, &with_bundles);
    // Accept only certainty: everything else queues.
    let r = json(&store, &["link", "--accept", "1.0"]);
    let queue = json(&store, &["link", "review"]);
    let q = queue.as_array().unwrap();
    assert_eq!(q.len() as u64, r["to_review"].as_u64().unwrap());
    assert!(q.len() >= 2, "{r}");
    let shown = json(&store, &["link", "review", "--show", "1"]);
    assert!(
        shown["a"]["names"]
            .as_array()
            .is_some_and(|n| !n.is_empty()),
        "{shown}"
    );
    let (a1, b1) = (
        q[0]["a"].as_str().unwrap().to_owned(),
        q[0]["b"].as_str().unwrap().to_owned(),
    );
    // The no-match goes to a pair whose persons are neither of the match's: a no-match between
    // records already joined to a1 and b1 would rightly keep a1 and b1 apart, and which pairs
    // queue first depends on the store's random linkage key.
    let p0 = persons_csv(&store);
    let person = |id: &str| p0.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let first = [person(&a1), person(&b1)];
    let k = (1..q.len())
        .find(|&k| {
            ["a", "b"]
                .iter()
                .all(|f| !first.contains(&person(q[k][*f].as_str().unwrap())))
        })
        .expect("a queued pair apart from the first");
    let (a2, b2) = (
        q[k]["a"].as_str().unwrap().to_owned(),
        q[k]["b"].as_str().unwrap().to_owned(),
    );
    json(&store, &["link", "review", "--decide", "1", "match"]);
    // Deciding item 1 moved item k+1 up to k.
    json(
        &store,
        &["link", "review", "--decide", &k.to_string(), "no-match"],
    );
    json(&store, &["link", "--accept", "1.0"]);
    let p = persons_csv(&store);
    assert_eq!(p[&a1], p[&b1], "a decided match is linked");
    let left = json(&store, &["link", "review"]);
    let keys: BTreeSet<(String, String)> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["a"].as_str().unwrap().to_owned(),
                i["b"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        !keys.contains(&(a1.clone(), b1.clone())) && !keys.contains(&(a2.clone(), b2.clone())),
        "decided pairs leave the queue"
    );
    let events = json(&store, &["audit", "list", "--limit", "100000"]);
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"link.review.show") && actions.contains(&"link.review.decide"));
    assert_eq!(json(&store, &["audit", "verify"])["ok"], true);
}

/// Each provider sends its own rows of the generator's flat CSV layout — every record kind, the
/// files recognised by their headers — and every row is accounted for: stored or held for the
/// persons the gate lets through or keeps waiting, refused with the persons who asked to stop,
/// none quarantined. A row naming another provider is refused with that reason.
#[test]
fn csv_layout_of_every_kind_is_accounted_for_row_by_row() {
    let tmp = tempfile::tempdir().unwrap();
    let synth = tmp.path().join("synth");
    let o = bin()
        .args([
            "synth",
            "--persons",
            "2000",
            "--seed",
            "21",
            "--formats",
            "csv",
            "--out",
        ])
        .arg(&synth)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w = World {
        _tmp: tempfile::tempdir().unwrap(),
        synth: synth.clone(),
    };
    let store = tmp.path().join("store");
    let ids = store_with_ledger(&w, &store);
    let stopped: BTreeSet<(String, String)> = csv_rows(&synth.join("ledger/stops.csv"))
        .into_iter()
        .map(|r| (r["provider_code"].clone(), r["patient"].clone()))
        .collect();
    // (file, lake table) for the kinds this test follows.
    let files = [
        ("checkups", "checkups"),
        ("claims", "claims"),
        ("care", "claims"),
        ("diagnoses", "conditions"),
        ("labs", "observations"),
        ("vitals", "observations"),
        ("prescriptions", "medications"),
        ("dispensings", "medications"),
        ("encounters", "encounters"),
    ];
    // Split every file by provider, as each provider would send its own extract.
    let split = tmp.path().join("split");
    let mut expected: BTreeMap<String, BTreeMap<&str, u64>> = BTreeMap::new();
    for stem in files.iter().map(|(f, _)| *f).chain(["identities"]) {
        let text = std::fs::read_to_string(synth.join(format!("csv/{stem}.csv"))).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let code_col = header
            .split(',')
            .position(|h| h == "provider_code")
            .unwrap();
        let patient_col = header
            .split(',')
            .position(|h| h == "patient_id" || h == "id")
            .unwrap();
        let mut by: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for l in lines {
            let rec = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(l.as_bytes())
                .records()
                .next()
                .unwrap()
                .unwrap();
            let code = rec[code_col].to_owned();
            if let Some((_, table)) = files.iter().find(|(f, _)| *f == stem)
                && !stopped.contains(&(code.clone(), rec[patient_col].to_owned()))
            {
                *expected
                    .entry(code.clone())
                    .or_default()
                    .entry(table)
                    .or_default() += 1;
            }
            by.entry(code).or_default().push(l);
        }
        for (code, rows) in by {
            let dir = split.join(&code);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join(format!("{stem}.csv")),
                format!("{header}\n{}\n", rows.join("\n")),
            )
            .unwrap();
        }
    }
    let mut tables_seen = BTreeSet::new();
    for (code, want) in &expected {
        let s = json(
            &store,
            &[
                "ingest",
                "--provider",
                &ids[code],
                split.join(code).to_str().unwrap(),
            ],
        );
        assert_eq!(s["quarantined"], 0, "{code}: {s}");
        for (table, n) in want {
            let got = s["rows_stored"][*table].as_u64().unwrap_or(0)
                + s["rows_held"][*table].as_u64().unwrap_or(0);
            assert_eq!(got, *n, "{code} {table}: {s}");
            tables_seen.insert(*table);
        }
        // Nothing beyond what the files hold.
        for (table, n) in s["rows_stored"].as_object().unwrap() {
            if table != "persons" {
                assert!(
                    *n != 0 && want.contains_key(table.as_str()),
                    "{code} {table}: {s}"
                );
            }
        }
    }
    for t in [
        "checkups",
        "claims",
        "conditions",
        "observations",
        "medications",
        "encounters",
    ] {
        assert!(tables_seen.contains(t), "{t} never exercised");
    }

    // One provider's file carrying another's row: that row is refused, named by line and field.
    let (a, b) = {
        let mut k = expected.keys();
        (k.next().unwrap().clone(), k.next().unwrap().clone())
    };
    let f = tmp.path().join("mixed.csv");
    std::fs::write(
        &f,
        format!(
            "provider_code,patient_id,encounter_id,date,icd10,name,suspected,main\n{a},X1,,2024-04-02,E11,２型糖尿病,0,1\n{b},X2,,2024-04-02,E11,２型糖尿病,0,1\n"
        ),
    )
    .unwrap();
    let s = json(
        &store,
        &["ingest", "--provider", &ids[&a], f.to_str().unwrap()],
    );
    assert_eq!(s["quarantined"], 1, "{s}");
    let q = json(&store, &["quarantine", "list"]);
    let text = q.to_string();
    assert!(text.contains("provider_code"), "{text}");
    assert!(text.contains("another provider"), "{text}");
}

/// Input larger than the chunk budget is taken in chunk by chunk — an SS-MIX2 patient's folder
/// never cut, NDJSON cut between lines — with exactly the result of one run in one chunk.
#[test]
fn chunked_intake_gives_the_one_chunk_result() {
    let w = synth("150", "17");
    let mut by_size: Vec<(u64, String)> = std::fs::read_dir(w.synth.join("ssmix2"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let mut size = 0;
            let mut stack = vec![e.path()];
            while let Some(d) = stack.pop() {
                for f in std::fs::read_dir(&d).unwrap() {
                    let f = f.unwrap();
                    if f.file_type().unwrap().is_dir() {
                        stack.push(f.path());
                    } else {
                        size += f.metadata().unwrap().len();
                    }
                }
            }
            (size, e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    by_size.sort();
    let (size, code) = by_size.pop().unwrap();
    let tree = w.synth.join("ssmix2").join(&code);
    let run = |chunk: &str, code: &str, paths: &[PathBuf]| -> serde_json::Value {
        let d = tempfile::tempdir().unwrap();
        let ids = store_with_ledger(&w, d.path());
        let mut args = vec![
            "ingest".to_owned(),
            "--chunk-mib".to_owned(),
            chunk.to_owned(),
            "--provider".to_owned(),
            ids[code].clone(),
        ];
        args.extend(paths.iter().map(|p| p.to_str().unwrap().to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let s = json(d.path(), &args);
        assert_eq!(
            json(d.path(), &args)["units_new"],
            0,
            "a re-run takes in nothing"
        );
        let rec = receptions(d.path());
        assert_eq!(
            rec.as_array().unwrap().len(),
            1,
            "one reception record per run"
        );
        // Each chunk is a part of every table it filled (held rows in the held area).
        let mut parts = BTreeSet::new();
        for area in ["lake", "held"] {
            let Ok(tables) = std::fs::read_dir(d.path().join(area)) else {
                continue;
            };
            for t in tables {
                let t = t.unwrap().path();
                if !t.is_dir() {
                    continue;
                }
                for f in std::fs::read_dir(&t).unwrap() {
                    let f = f.unwrap().path();
                    if f.extension().is_some_and(|x| x == "parquet") {
                        let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
                        parts.insert(stem);
                    }
                }
            }
        }
        let parts = parts.len();
        // The vault holds the same identities: linking them finds the same persons.
        let linked = json(d.path(), &["link"]);
        let mut s = s;
        s["linked"] = serde_json::json!([linked["subjects"], linked["persons"], linked["links"]]);
        s["parts"] = parts.into();
        s["record_counts"] = rec[0]["record_counts"].clone();
        s
    };
    // SS-MIX2 in about ten chunks; the Bulk Data NDJSON export (its references crossing files)
    // in about ten pieces, after a first pass that indexes them all.
    let ndjson = ndjson_files(&w);
    let nd_size: u64 = ndjson.iter().map(|p| p.metadata().unwrap().len()).sum();
    for (code, paths, size) in [
        (code.as_str(), vec![tree.clone()], size),
        (code.as_str(), ndjson, nd_size),
    ] {
        let whole = run("256", code, &paths);
        let small = format!("{}", size as f64 / 10.0 / 1_048_576.0);
        let chunked = run(&small, code, &paths);
        compare(&whole, &chunked);
    }
}

fn compare(whole: &serde_json::Value, chunked: &serde_json::Value) {
    assert_eq!(whole["parts"], 1, "{whole}");
    assert!(chunked["parts"].as_u64().unwrap() >= 5, "{chunked}");
    for k in [
        "persons",
        "accepted_persons",
        "held_persons",
        "refused_persons",
        "records_read",
        "rows_stored",
        "rows_held",
        "quarantined",
        "cancelled",
        "record_counts",
        "linked",
    ] {
        assert_eq!(whole[k], chunked[k], "{k}: {whole} vs {chunked}");
    }
    assert!(whole["rows_stored"]["conditions"].as_u64().unwrap() > 0);
}
