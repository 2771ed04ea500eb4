//! `tsunagu synth` through the real binary: output tree, JSON summary, determinism, exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Command;

fn synth(out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tsunagu"))
        .args(["--json", "synth", "--persons", "60", "--seed", "9", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn synth_writes_every_format_deterministically() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let out = synth(a.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["summary"]["persons"], 60);
    assert!(json["summary"]["records"].as_u64().unwrap() > 100);
    for f in [
        "ledger/providers.csv",
        "ledger/notices.csv",
        "ledger/stops.csv",
        "truth/records.csv",
        "csv/identities.csv",
        "fhir/Patient.ndjson",
    ] {
        assert!(a.path().join(f).is_file(), "{f}");
    }
    assert!(a.path().join("ssmix2").read_dir().unwrap().next().is_some());
    assert!(synth(b.path(), &[]).status.success());
    for f in [
        "csv/identities.csv",
        "csv/labs.csv",
        "ledger/notices.csv",
        "fhir/Observation.ndjson",
        "truth/conditions.csv",
    ] {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn synth_formats_and_bad_arguments() {
    let d = tempfile::tempdir().unwrap();
    let out = synth(d.path(), &["--formats", "csv", "--no-noise"]);
    assert!(out.status.success());
    assert!(d.path().join("csv/identities.csv").is_file());
    assert!(!d.path().join("fhir").exists());
    assert!(!d.path().join("ssmix2").exists());
    let bad = synth(d.path(), &["--formats", "xml"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = synth(d.path(), &["--start", "2020-01-01", "--end", "2019-01-01"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = synth(d.path(), &["--start", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
}
