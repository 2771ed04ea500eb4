//! End-to-end checks of `tsunagu_synth::generate`: determinism, ground-truth coverage, the
//! SS-MIX2 layout and encoding, FHIR R4 validity (by an independent library), and that
//! prevalence, population structure and identity-noise rates match the configuration.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::NaiveDate;
use tempfile::TempDir;
use tsunagu_synth::{Config, Format, NoiseConfig, generate};

fn run(cfg: &Config) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    generate(cfg, dir.path(), &mut |_, _| {}).unwrap();
    dir
}

fn all_formats_cfg() -> Config {
    let mut c = Config::new(250, 7);
    c.providers = Some(20);
    c
}

/// A small run with every format, shared by several tests.
fn all_formats() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| run(&all_formats_cfg())).path()
}

/// A larger CSV-only run for rates and prevalence.
fn stats() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut c = Config::new(4000, 11);
        c.providers = Some(300);
        c.formats = vec![Format::Csv];
        run(&c)
    })
    .path()
}

type Rows = Vec<HashMap<String, String>>;

fn read_csv(path: &Path) -> Rows {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn header(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_gives_byte_identical_output_and_another_seed_does_not() {
    let a = all_formats();
    // Another grouping of persons into parallel work units must not change a byte.
    let mut regrouped = all_formats_cfg();
    regrouped.chunk = 5;
    let b = run(&regrouped);
    let fa = files(a);
    let fb = files(b.path());
    assert!(fa.len() > 100, "only {} files", fa.len());
    let rel = |root: &Path, v: &[PathBuf]| {
        v.iter()
            .map(|p| p.strip_prefix(root).unwrap().to_path_buf())
            .collect::<Vec<_>>()
    };
    assert_eq!(rel(a, &fa), rel(b.path(), &fb));
    for (x, y) in fa.iter().zip(&fb) {
        assert!(
            std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
            "{} differs",
            x.display()
        );
    }
    let mut other = all_formats_cfg();
    other.seed = 8;
    other.formats = vec![Format::Csv];
    let c = run(&other);
    assert_ne!(
        std::fs::read(a.join("truth/persons.csv")).unwrap(),
        std::fs::read(c.path().join("truth/persons.csv")).unwrap()
    );
}

#[test]
fn truth_covers_every_record() {
    let d = all_formats();
    let truth = read_csv(&d.join("truth/records.csv"));
    let mut expected: HashMap<(String, String), usize> = HashMap::new();
    for t in &truth {
        let key = (t["provider_code"].clone(), t["patient_id"].clone());
        assert!(
            expected
                .insert(key, t["records"].parse().unwrap())
                .is_none(),
            "duplicate truth row"
        );
    }
    let persons: HashSet<String> = read_csv(&d.join("truth/persons.csv"))
        .into_iter()
        .map(|r| r["person_id"].clone())
        .collect();
    assert!(truth.iter().all(|t| persons.contains(&t["person_id"])));
    // Every clinical row belongs to a known patient-at-provider, and the counts add up.
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for f in [
        "encounters",
        "diagnoses",
        "prescriptions",
        "dispensings",
        "labs",
        "vitals",
        "checkups",
        "care",
        "claims",
    ] {
        let rows = read_csv(&d.join(format!("csv/{f}.csv")));
        assert!(!rows.is_empty(), "{f} is empty");
        for r in rows {
            let key = (r["provider_code"].clone(), r["patient_id"].clone());
            assert!(
                expected.contains_key(&key),
                "{f}: row of an unknown patient"
            );
            *seen.entry(key).or_default() += 1;
        }
    }
    assert_eq!(seen, expected);
    // Identities: exactly one per patient-at-provider.
    let ids = read_csv(&d.join("csv/identities.csv"));
    assert_eq!(ids.len(), expected.len());
    for r in &ids {
        assert!(expected.contains_key(&(r["provider_code"].clone(), r["id"].clone())));
    }
    // Ledger rows name known patients.
    for f in ["ledger/notices.csv", "ledger/stops.csv"] {
        for r in read_csv(&d.join(f)) {
            assert!(
                expected.contains_key(&(r["provider_code"].clone(), r["patient"].clone())),
                "{f}"
            );
        }
    }
    // One FHIR bundle per patient-at-provider; an SS-MIX2 tree for each hospital/clinic patient.
    let bundles: HashSet<(String, String)> = files(&d.join("fhir/bundles"))
        .iter()
        .map(|p| {
            let prov = p
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (prov, p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    assert_eq!(bundles, expected.keys().cloned().collect::<HashSet<_>>());
    let kinds: HashMap<String, String> = read_csv(&d.join("ledger/providers.csv"))
        .into_iter()
        .map(|r| (r["code"].clone(), r["kind"].clone()))
        .collect();
    let mut ss_patients = HashSet::new();
    for p in files(&d.join("ssmix2")) {
        let parts: Vec<String> = p
            .strip_prefix(d.join("ssmix2"))
            .unwrap()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        ss_patients.insert((parts[0].clone(), parts[3].clone()));
    }
    let clinical: HashSet<(String, String)> = expected
        .keys()
        .filter(|(prov, _)| matches!(kinds[prov].as_str(), "hospital" | "clinic"))
        .cloned()
        .collect();
    assert_eq!(ss_patients, clinical);
}

#[test]
fn ssmix2_files_decode_as_iso_2022_jp_and_sit_where_the_layout_says() {
    let root = all_formats().join("ssmix2");
    let all = files(&root);
    assert!(all.len() > 200);
    let mut kinds = HashSet::new();
    for p in &all {
        let parts: Vec<String> = p
            .strip_prefix(&root)
            .unwrap()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        assert_eq!(parts.len(), 7, "{}", p.display());
        let (id, date, kind) = (&parts[3], &parts[4], &parts[5]);
        assert_eq!(parts[1], id[..3]);
        assert_eq!(parts[2], id[3..6]);
        let name: Vec<&str> = parts[6].split('_').collect();
        assert_eq!(name.len(), 7, "{}", parts[6]);
        assert_eq!(name[0], id);
        assert_eq!(name[1], date);
        assert_eq!(name[2], kind);
        assert_eq!(name[3].len(), 15);
        assert!(name[4].len() == 17 && name[4].bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(name[6], "1");
        assert!(date == "-" || NaiveDate::parse_from_str(date, "%Y%m%d").is_ok());
        let bytes = std::fs::read(p).unwrap();
        assert!(bytes.iter().all(|&b| b < 0x80), "ISO-2022-JP is 7-bit");
        let (text, _, bad) = encoding_rs::ISO_2022_JP.decode(&bytes);
        assert!(!bad, "{} does not decode", p.display());
        let segs: Vec<&str> = text.split('\r').filter(|s| !s.is_empty()).collect();
        let msh: Vec<&str> = segs[0].split('|').collect();
        assert_eq!(msh[0], "MSH");
        assert_eq!(msh[11], "2.5");
        assert_eq!(msh[17], "~ISO IR87");
        let expected_type = match kind.as_str() {
            "ADT-00" => "ADT^A08",
            "ADT-22" => "ADT^A01",
            "ADT-52" => "ADT^A03",
            "PPR-01" => "PPR^ZD1",
            "OMP-01" => "RDE^O11",
            "OML-11" => "OUL^R22",
            other => panic!("unexpected data type {other}"),
        };
        assert!(msh[8].starts_with(expected_type), "{kind}: {}", msh[8]);
        let pid = segs.iter().find(|s| s.starts_with("PID|")).expect("PID");
        let pid3 = pid.split('|').nth(3).unwrap();
        assert_eq!(pid3.split('^').next().unwrap(), id);
        if date == "-" {
            assert!(matches!(kind.as_str(), "ADT-00" | "PPR-01"));
        }
        kinds.insert(kind.clone());
    }
    for k in ["ADT-00", "PPR-01", "OMP-01", "OML-11", "ADT-22", "ADT-52"] {
        assert!(kinds.contains(k), "no {k} file");
    }
}

#[test]
fn fhir_output_validates_as_r4_with_fhir_resources() {
    let mut c = Config::new(40, 3);
    c.providers = Some(14);
    c.formats = vec![Format::Fhir];
    let d = run(&c);
    // fhir.resources 6.4.0 is the last release whose default model is FHIR R4 (4.0.1); later
    // releases default to R4B/R5. It needs pydantic 1.
    let py = tsunagu_testkit::python(&["fhir.resources==6.4.0", "pydantic==1.10.19"]);
    let script = r#"
import glob, json, sys
import fhir.resources
from fhir.resources import construct_fhir_element
from fhir.resources.bundle import Bundle
assert fhir.resources.__fhir_version__ == "4.0.1", fhir.resources.__fhir_version__
root = sys.argv[1]
n = bad = 0
for f in sorted(glob.glob(root + "/fhir/bundles/*/*.json")):
    b = Bundle.parse_file(f)
    assert b.type == "transaction"
    n += 1
for f in sorted(glob.glob(root + "/fhir/*.ndjson")):
    t = f.rsplit("/", 1)[1].split(".")[0]
    for line in open(f, encoding="utf-8"):
        r = construct_fhir_element(t, json.loads(line))
        if t == "Patient":
            reps = [e.valueCode for nm in r.name for e in nm.extension]
            assert reps == ["IDE", "SYL"], reps
        n += 1
print(n)
"#;
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(d.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(n > 500, "validated only {n}");
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn age(birth: NaiveDate, at: NaiveDate) -> f64 {
    (at - birth).num_days() as f64 / 365.25
}

#[test]
fn population_follows_the_2020_pyramid() {
    let persons = read_csv(&stats().join("truth/persons.csv"));
    let end = date("2025-12-31");
    let n = persons.len() as f64;
    let old = persons
        .iter()
        .filter(|p| age(date(&p["birth_date"]), end) >= 65.0)
        .count() as f64
        / n;
    let young = persons
        .iter()
        .filter(|p| age(date(&p["birth_date"]), end) < 15.0)
        .count() as f64
        / n;
    let male = persons.iter().filter(|p| p["sex"] == "male").count() as f64 / n;
    // 2020 census: 28.6 % aged 65+, 11.9 % under 15, 48.6 % men.
    assert!((old - 0.286).abs() < 0.025, "65+: {old}");
    assert!((young - 0.119).abs() < 0.02, "<15: {young}");
    assert!((male - 0.486).abs() < 0.025, "men: {male}");
    let deaths = persons
        .iter()
        .filter(|p| !p["death_date"].is_empty())
        .count() as f64
        / n;
    // About 1.1 % of Japan's population dies each year.
    assert!(
        (0.05..0.15).contains(&deaths),
        "deaths over ten years: {deaths}"
    );
}

#[test]
fn prevalence_is_close_to_the_configured_curves() {
    let d = stats();
    let persons = read_csv(&d.join("truth/persons.csv"));
    let conds = read_csv(&d.join("truth/conditions.csv"));
    let end = date("2025-12-31");
    let mut has: HashMap<&str, HashSet<&str>> = HashMap::new();
    for c in &conds {
        if date(&c["onset"]) <= end {
            has.entry(c["icd10"].as_str())
                .or_default()
                .insert(c["person_id"].as_str());
        }
    }
    for (icd, sex, lo, hi, expected) in [
        // (code, sex, ages, target prevalence from the configured curve's band average)
        ("I10", "male", 60.0, 70.0, 0.45),
        ("I10", "female", 70.0, 80.0, 0.515),
        ("E11.9", "male", 60.0, 70.0, 0.19),
        ("E78.5", "female", 60.0, 70.0, 0.325),
    ] {
        let group: Vec<&HashMap<String, String>> = persons
            .iter()
            .filter(|p| p["sex"] == sex && p["death_date"].is_empty())
            .filter(|p| (lo..hi).contains(&age(date(&p["birth_date"]), end)))
            .collect();
        let k = group
            .iter()
            .filter(|p| {
                has.get(icd)
                    .is_some_and(|s| s.contains(p["person_id"].as_str()))
            })
            .count();
        let rate = k as f64 / group.len() as f64;
        let se = (expected * (1.0 - expected) / group.len() as f64).sqrt();
        assert!(
            (rate - expected).abs() < 4.0 * se + 0.02,
            "{icd} {sex} {lo}-{hi}: {rate} (n={}) vs {expected}",
            group.len()
        );
    }
    // Rare diseases stay rare; no men with breast or women with prostate cancer here.
    let rare = ["G12.2", "M32.9", "E75.2", "I67.5"]
        .iter()
        .map(|c| has.get(c).map_or(0, HashSet::len))
        .sum::<usize>();
    assert!(rare <= 12, "rare diseases: {rare}");
    let sex: HashMap<&str, &str> = persons
        .iter()
        .map(|p| (p["person_id"].as_str(), p["sex"].as_str()))
        .collect();
    assert!(
        has.get("C61")
            .is_none_or(|s| s.iter().all(|p| sex[p] == "male"))
    );
    assert!(
        has.get("C50.9")
            .is_none_or(|s| s.iter().all(|p| sex[p] == "female"))
    );

    // Diagnosed: almost every living person with hypertension since before 2025 has an I10
    // diagnosis at some provider; about 10 % of first chronic diagnoses are suspected (疑い).
    let records = read_csv(&d.join("truth/records.csv"));
    let owner: HashMap<(&str, &str), &str> = records
        .iter()
        .map(|r| {
            (
                (r["provider_code"].as_str(), r["patient_id"].as_str()),
                r["person_id"].as_str(),
            )
        })
        .collect();
    let diags = read_csv(&d.join("csv/diagnoses.csv"));
    let diagnosed: HashSet<&str> = diags
        .iter()
        .filter(|r| r["icd10"] == "I10")
        .map(|r| owner[&(r["provider_code"].as_str(), r["patient_id"].as_str())])
        .collect();
    let alive: HashSet<&str> = persons
        .iter()
        .filter(|q| q["death_date"].is_empty())
        .map(|q| q["person_id"].as_str())
        .collect();
    let onset_before: Vec<&str> = conds
        .iter()
        .filter(|c| c["icd10"] == "I10" && date(&c["onset"]) < date("2025-01-01"))
        .map(|c| c["person_id"].as_str())
        .filter(|p| alive.contains(p))
        .collect();
    let share = onset_before
        .iter()
        .filter(|p| diagnosed.contains(*p))
        .count() as f64
        / onset_before.len() as f64;
    assert!(share > 0.9, "diagnosed share {share}");
    let chronic: Vec<&HashMap<String, String>> = diags
        .iter()
        .filter(|r| matches!(r["icd10"].as_str(), "I10" | "E11.9" | "E78.5"))
        .collect();
    let suspected =
        chronic.iter().filter(|r| r["suspected"] == "1").count() as f64 / chronic.len() as f64;
    assert!(
        (0.05..0.15).contains(&suspected),
        "suspected share {suspected}"
    );
    // Labs: HbA1c of diabetics is higher than of others, with outliers present overall.
    let labs = read_csv(&d.join("csv/labs.csv"));
    let flagged = labs.iter().filter(|r| !r["flag"].is_empty()).count() as f64 / labs.len() as f64;
    assert!((0.05..0.6).contains(&flagged), "flagged labs {flagged}");
}

#[test]
fn identity_noise_rates_are_close_to_the_configuration() {
    let d = stats();
    let cfg = NoiseConfig::default();
    let records = read_csv(&d.join("truth/records.csv"));
    let ids = read_csv(&d.join("csv/identities.csv"));
    let persons: HashMap<String, HashMap<String, String>> = read_csv(&d.join("truth/persons.csv"))
        .into_iter()
        .map(|p| (p["person_id"].clone(), p))
        .collect();
    let history = read_csv(&d.join("truth/identity_history.csv"));
    let mut phones: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut families: HashMap<&str, Vec<&str>> = HashMap::new();
    for h in &history {
        phones
            .entry(h["person_id"].as_str())
            .or_default()
            .push(h["phone"].as_str());
        families
            .entry(h["person_id"].as_str())
            .or_default()
            .push(h["family_name"].as_str());
    }
    let owner: HashMap<(&str, &str), &str> = records
        .iter()
        .map(|r| {
            (
                (r["provider_code"].as_str(), r["patient_id"].as_str()),
                r["person_id"].as_str(),
            )
        })
        .collect();
    let n = ids.len() as f64;
    assert!(n > 5000.0);

    // Missing phones, measured from the files: empty phone although every phone the person
    // ever had is non-empty.
    let mut with_phone = 0.0;
    let mut missing = 0.0;
    for r in &ids {
        let p = owner[&(r["provider_code"].as_str(), r["id"].as_str())];
        if phones[p].iter().all(|ph| !ph.is_empty()) {
            with_phone += 1.0;
            if r["phone"].is_empty() {
                missing += 1.0;
            }
        }
    }
    let rate = missing / with_phone;
    assert!(
        (rate - cfg.missing_phone).abs() < 0.03,
        "missing phone {rate}"
    );

    // Variant kanji: among records whose true name has a character with a variant form.
    let has_variant = |s: &str| {
        s.chars().any(|c| {
            "高髙崎﨑辺邊沢澤斎齋浜濵島嶋広廣桜櫻徳德国國竜龍寿壽恵惠真眞関關瀬瀨条條富冨吉𠮷"
                .contains(c)
        })
    };
    let (mut eligible, mut swapped) = (0.0, 0.0);
    for r in &ids {
        let p = &persons[owner[&(r["provider_code"].as_str(), r["id"].as_str())]];
        let truth_given = &p["given_name"];
        let family_now = r["family_name"].replace(['　', ' '], "");
        let fam_hist = &families[p["person_id"].as_str()];
        if has_variant(&r["given_name"])
            || has_variant(&family_now)
            || fam_hist.iter().any(|f| has_variant(f))
            || has_variant(truth_given)
        {
            eligible += 1.0;
            let family_true = fam_hist.contains(&family_now.as_str());
            if !family_true || (r["given_name"] != *truth_given && has_variant(truth_given)) {
                swapped += 1.0;
            }
        }
    }
    let rate = swapped / eligible;
    assert!(
        eligible > 300.0 && (rate - cfg.variant_kanji).abs() < 0.06,
        "variant kanji {rate} of {eligible}"
    );

    // Provider habits: era birth dates and half-width kana, as shares of providers with data.
    let mut by_provider: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
    for r in &ids {
        let e = by_provider.entry(r["provider_code"].as_str()).or_default();
        e.0 |= r["birth_date"].contains('年')
            || r["birth_date"].starts_with(['M', 'T', 'S', 'H', 'R']);
        e.1 |= r["family_name_kana"]
            .chars()
            .any(|c| ('\u{ff61}'..='\u{ff9f}').contains(&c));
    }
    let np = by_provider.len() as f64;
    let era = by_provider.values().filter(|v| v.0).count() as f64 / np;
    let half = by_provider.values().filter(|v| v.1).count() as f64 / np;
    assert!(
        (era - cfg.era_birth_date_providers).abs() < 0.07,
        "era providers {era} of {np}"
    );
    assert!(
        (half - cfg.half_width_kana_providers).abs() < 0.08,
        "half-width providers {half} of {np}"
    );

    // Era dates parse back to the true birth date (unless a birth-date typo was applied).
    let mut era_ok = 0;
    let mut era_all = 0;
    for r in ids.iter().filter(|r| r["birth_date"].contains('年')) {
        era_all += 1;
        let p = &persons[owner[&(r["provider_code"].as_str(), r["id"].as_str())]];
        if tsunagu_model::era::parse_date(&r["birth_date"]).ok() == Some(date(&p["birth_date"])) {
            era_ok += 1;
        }
    }
    assert!(era_all > 0 && era_ok as f64 >= era_all as f64 * 0.98);

    // The truth's own flags agree with the configuration too.
    let flag = |name: &str| {
        records.iter().filter(|r| r[name] == "1").count() as f64 / records.len() as f64
    };
    assert!(
        (flag("name_typo") - cfg.name_typo).abs() < 0.01,
        "typo {}",
        flag("name_typo")
    );
}

#[test]
fn without_noise_providers_hold_true_identities() {
    let mut c = Config::new(150, 5);
    c.formats = vec![Format::Csv];
    c.noise = NoiseConfig::none();
    let d = run(&c);
    let persons: HashMap<String, HashMap<String, String>> =
        read_csv(&d.path().join("truth/persons.csv"))
            .into_iter()
            .map(|p| (p["person_id"].clone(), p))
            .collect();
    let history = read_csv(&d.path().join("truth/identity_history.csv"));
    let records = read_csv(&d.path().join("truth/records.csv"));
    let owner: HashMap<(String, String), String> = records
        .iter()
        .map(|r| {
            (
                (r["provider_code"].clone(), r["patient_id"].clone()),
                r["person_id"].clone(),
            )
        })
        .collect();
    let mut by_person: HashMap<&str, Vec<&HashMap<String, String>>> = HashMap::new();
    for h in &history {
        by_person
            .entry(h["person_id"].as_str())
            .or_default()
            .push(h);
    }
    for r in read_csv(&d.path().join("csv/identities.csv")) {
        let pid = &owner[&(r["provider_code"].clone(), r["id"].clone())];
        let p = &persons[pid];
        assert_eq!(r["given_name"], p["given_name"]);
        assert_eq!(r["given_name_kana"], p["given_name_kana"]);
        let spans = &by_person[pid.as_str()];
        assert!(spans.iter().any(|h| h["family_name"] == r["family_name"]
            && h["family_name_kana"] == r["family_name_kana"]));
        assert!(spans.iter().any(|h| h["address"] == r["address"]));
        let b = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(&r["birth_date"], f).ok());
        assert_eq!(b, Some(date(&p["birth_date"])));
        tsunagu_model::Sex::parse(&r["sex"]).unwrap();
    }
}

#[test]
fn ledger_files_have_the_import_layout() {
    let d = all_formats();
    assert_eq!(
        header(&d.join("ledger/providers.csv")),
        "code,kind,name,address,representative,filing_date,filing_ref"
    );
    assert_eq!(
        header(&d.join("ledger/notices.csv")),
        "provider_code,patient,date,channel"
    );
    assert_eq!(
        header(&d.join("ledger/stops.csv")),
        "provider_code,patient,requester,relationship,received_at"
    );
    let providers = read_csv(&d.join("ledger/providers.csv"));
    let mut kinds = HashSet::new();
    for p in &providers {
        let kind = tsunagu_model::ProviderKind::parse(&p["kind"]).unwrap();
        tsunagu_model::ProviderCode::parse(kind, &p["code"]).unwrap();
        date(&p["filing_date"]);
        kinds.insert(kind);
    }
    assert_eq!(kinds.len(), 7, "every kind of provider");
    let notices = read_csv(&d.join("ledger/notices.csv"));
    let links = read_csv(&d.join("truth/records.csv")).len() as f64;
    let share = notices.len() as f64 / links;
    assert!((0.88..=1.0).contains(&share), "notified share {share}");
    assert!(notices.iter().all(|n| matches!(
        n["channel"].as_str(),
        "letter" | "in_person" | "poster_portal"
    )));
    assert!(
        notices
            .iter()
            .any(|n| date(&n["date"]) > date("2025-12-01")),
        "some notices too recent to be eligible"
    );

    // Stop requests, from a run large enough to have them (about 0.1 % of persons).
    let mut c = Config::new(3000, 21);
    c.formats = vec![];
    c.stop_rate = 0.02;
    let s = run(&c);
    let stops = read_csv(&s.path().join("ledger/stops.csv"));
    let truth_stops = read_csv(&s.path().join("truth/stops.csv"));
    assert_eq!(stops.len(), truth_stops.len());
    assert!((30..=90).contains(&stops.len()), "{} stops", stops.len());
    let persons: HashMap<String, HashMap<String, String>> =
        read_csv(&s.path().join("truth/persons.csv"))
            .into_iter()
            .map(|p| (p["person_id"].clone(), p))
            .collect();
    for t in &truth_stops {
        let at = chrono::DateTime::parse_from_rfc3339(&t["received_at"]).unwrap();
        let p = &persons[&t["person_id"]];
        match t["requester"].as_str() {
            "bereaved" => {
                assert!(matches!(
                    t["relationship"].as_str(),
                    "spouse" | "child" | "parent" | "grandchild" | "grandparent" | "sibling"
                ));
                assert!(at.date_naive() > date(&p["death_date"]));
            }
            "guardian" => assert!(age(date(&p["birth_date"]), at.date_naive()) < 16.0),
            "person" => {
                assert!(t["relationship"].is_empty());
                assert!(p["death_date"].is_empty() || at.date_naive() <= date(&p["death_date"]));
            }
            other => panic!("requester {other}"),
        }
    }
    assert!(truth_stops.iter().any(|t| t["requester"] == "bereaved"));
}
