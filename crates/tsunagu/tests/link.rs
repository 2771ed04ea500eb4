//! `tsunagu link` run as a real binary on CSV files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use tsunagu_link::simulate::{self, NamePools, SimRecord};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tsunagu"))
}

/// `tsunagu link --left A --right B`, to be completed.
fn link(a: &Path, b: &Path) -> Command {
    let mut c = bin();
    c.args(["link", "--left"]).arg(a).arg("--right").arg(b);
    c
}

fn pools() -> NamePools {
    NamePools::from_csv(
        include_str!("../../link/tests/data/family_names.csv"),
        include_str!("../../link/tests/data/given_names.csv"),
    )
}

fn read_pairs(path: &Path) -> Vec<(String, String, f64)> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.records()
        .map(|x| x.unwrap())
        .map(|x| (x[0].to_owned(), x[1].to_owned(), x[2].parse().unwrap()))
        .collect()
}

/// Two made-up Japanese files in `dir` (`a.csv`, `b.csv`): `n.0` records a side, `n.1` persons
/// in both; their paths and records.
fn japanese_files(
    dir: &Path,
    n: (usize, usize),
    noise: f64,
    seed: u64,
) -> (PathBuf, PathBuf, Vec<SimRecord>, Vec<SimRecord>) {
    let (left, right) = simulate::two_sources(&pools(), n.0, n.1, noise, seed);
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    simulate::to_csv(&left, std::fs::File::create(&a).unwrap()).unwrap();
    simulate::to_csv(&right, std::fs::File::create(&b).unwrap()).unwrap();
    (a, b, left, right)
}

#[test]
fn links_two_japanese_files() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, left, right) = japanese_files(dir.path(), (600, 400), 1.5, 21);
    let out = dir.path().join("pairs.csv");
    let o = bin()
        .args(["--json", "link", "--left"])
        .arg(&a)
        .arg("--right")
        .arg(&b)
        .arg("--out")
        .arg(&out)
        .arg("--one-to-one")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["mode"], "link");
    assert_eq!(summary["stats"]["left_records"], 600);
    // Output header and truth.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("left_id,right_id,match_probability\n"));
    let person_l: HashMap<&str, usize> = left.iter().map(|r| (r.id.as_str(), r.person)).collect();
    let person_r: HashMap<&str, usize> = right.iter().map(|r| (r.id.as_str(), r.person)).collect();
    let pairs = read_pairs(&out);
    assert!(pairs.iter().all(|p| p.2 >= 0.5 && p.2 <= 1.0));
    let correct = pairs
        .iter()
        .filter(|p| person_l[p.0.as_str()] == person_r[p.1.as_str()])
        .count();
    let precision = correct as f64 / pairs.len() as f64;
    let recall = correct as f64 / 400.0;
    assert!(
        precision > 0.97 && recall > 0.95,
        "precision {precision} recall {recall}"
    );
    // The summary carries counts only: no name from the files.
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    for r in left.iter().take(50) {
        let name = r.record.get(tsunagu_link::schema::Role::FamilyNameKana);
        assert!(!stdout.contains(name) && !stderr.contains(name));
    }

    // A higher threshold keeps a subset; --explain adds the per-field weights.
    let out2 = dir.path().join("pairs2.csv");
    let o = bin()
        .args(["link", "--threshold", "0.99", "--explain", "--left"])
        .arg(&a)
        .arg("--right")
        .arg(&b)
        .arg("--out")
        .arg(&out2)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = csv::Reader::from_path(&out2).unwrap();
    let head = r.headers().unwrap().clone();
    assert!(head.iter().any(|h| h == "family_name_weight"));
    assert!(head.iter().any(|h| h == "birth_date_level"));
    let w = head.iter().position(|h| h == "match_weight").unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert!(!rows.is_empty());
    // The match weight is the sum of the prior and the field weights: recompute it.
    for row in rows.iter().take(20) {
        let p: f64 = row[2].parse().unwrap();
        assert!(p >= 0.99);
        let total: f64 = row[w].parse().unwrap();
        let prob = total.exp2() / (1.0 + total.exp2());
        assert!((prob - p).abs() < 1e-3, "{prob} vs {p}");
    }
}

/// The pairs file replaces what was at its path only once it is whole (nothing else is left
/// beside it), and a path that is not a regular file — standard output — is written as it is.
#[test]
fn pairs_replace_the_target_whole_or_go_to_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _, _) = japanese_files(dir.path(), (200, 100), 1.0, 5);
    let key = dir.path().join("key.hex");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let run = |out: &Path| {
        let o = link(&a, &b)
            .arg("--key-file")
            .arg(&key)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o
    };
    let out = dir.path().join("pairs.csv");
    std::fs::write(
        &out,
        "an older file, longer than the pairs\n".repeat(10_000),
    )
    .unwrap();
    run(&out);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("left_id,right_id,match_probability\n"));
    assert!(!text.contains("older"));
    assert!(read_pairs(&out).len() > 50);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.csv", "b.csv", "key.hex", "pairs.csv"]);
    #[cfg(unix)]
    {
        let o = run(Path::new("/dev/stdout"));
        assert!(String::from_utf8_lossy(&o.stdout).starts_with(&text));
    }
}

/// FEBRL-style records (the layout of FEBRL4): Latin names with typos.
fn febrl_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, usize) {
    const GIVEN: [&str; 30] = [
        "james",
        "mary",
        "john",
        "patricia",
        "robert",
        "jennifer",
        "michael",
        "linda",
        "william",
        "elizabeth",
        "david",
        "barbara",
        "richard",
        "susan",
        "joseph",
        "jessica",
        "thomas",
        "sarah",
        "charles",
        "karen",
        "chloe",
        "lachlan",
        "isabella",
        "jackson",
        "olivia",
        "ethan",
        "amelia",
        "noah",
        "mia",
        "liam",
    ];
    const SUR: [&str; 30] = [
        "smith", "jones", "williams", "brown", "wilson", "taylor", "johnson", "white", "martin",
        "anderson", "thompson", "nguyen", "thomas", "walker", "harris", "lee", "ryan", "robinson",
        "kelly", "king", "campbell", "clarke", "mitchell", "young", "cooper", "ward", "hughes",
        "morris", "turner", "baker",
    ];
    const SUBURB: [&str; 10] = [
        "richmond",
        "carlton",
        "fitzroy",
        "brunswick",
        "kew",
        "hawthorn",
        "toorak",
        "preston",
        "coburg",
        "northcote",
    ];
    let mut state = 12345u64;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let n = 400;
    let header = "rec_id,given_name,surname,street_number,address_1,address_2,suburb,postcode,state,date_of_birth,soc_sec_id\n";
    let mut a = String::from(header);
    let mut b = String::from(header);
    for i in 0..n {
        let g = GIVEN[next(30) as usize];
        let s = SUR[next(30) as usize];
        let num = next(200) + 1;
        let street = format!("{} street", SUR[next(30) as usize]);
        let sub = SUBURB[next(10) as usize];
        let pc = 3000 + next(200);
        let dob = format!(
            "19{:02}{:02}{:02}",
            20 + next(80),
            1 + next(12),
            1 + next(28)
        );
        let ssn = 1_000_000 + next(8_999_999);
        a.push_str(&format!(
            "rec-{i}-org,{g},{s},{num},{street},,{sub},{pc},vic,{dob},{ssn}\n"
        ));
        // The duplicate: one or two corruptions.
        let mut fields = [
            g.to_owned(),
            s.to_owned(),
            street.clone(),
            dob.clone(),
            ssn.to_string(),
        ];
        for _ in 0..1 + next(2) {
            let f = next(5) as usize;
            let v = &mut fields[f];
            let mut c: Vec<char> = v.chars().collect();
            let k = next(c.len() as u64 - 1) as usize;
            if f >= 3 {
                c[k] = char::from(b'0' + next(10) as u8);
            } else {
                c.swap(k, k + 1);
            }
            *v = c.into_iter().collect();
        }
        b.push_str(&format!(
            "rec-{i}-dup-0,{},{},{num},{},,{sub},{pc},vic,{},{}\n",
            fields[0], fields[1], fields[2], fields[3], fields[4]
        ));
    }
    let (pa, pb) = (dir.join("febrl_a.csv"), dir.join("febrl_b.csv"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    (pa, pb, n)
}

#[test]
fn links_febrl_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, n) = febrl_files(dir.path());
    let out = dir.path().join("pairs.csv");
    let o = link(&a, &b).arg("--out").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pairs = read_pairs(&out);
    let key = |s: &str| s.split('-').nth(1).unwrap().to_owned();
    let correct = pairs.iter().filter(|p| key(&p.0) == key(&p.1)).count();
    let (precision, recall) = (
        correct as f64 / pairs.len() as f64,
        correct as f64 / n as f64,
    );
    assert!(
        precision > 0.98 && recall > 0.97,
        "precision {precision} recall {recall}"
    );
}

#[test]
fn dedupes_one_file_and_uses_a_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = simulate::two_sources(&pools(), 300, 200, 1.0, 5);
    let all: Vec<_> = left.iter().chain(right.iter()).cloned().collect();
    // Japanese headers that only a mapping file explains.
    let path = dir.path().join("all.csv");
    simulate::to_csv(&all, std::fs::File::create(&path).unwrap()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    lines.next();
    let renamed = format!(
        "カルテ番号,氏名（姓）,氏名（名）,カナ氏,カナ名,生年,性,〒,所在,TEL,保険者,記号,番号,枝\n{}\n",
        lines.collect::<Vec<_>>().join("\n")
    );
    std::fs::write(&path, renamed).unwrap();
    let map = dir.path().join("map.toml");
    std::fs::write(
        &map,
        "[columns]\nid = \"カルテ番号\"\nfamily_name = \"氏名（姓）\"\ngiven_name = \"氏名（名）\"\nfamily_name_kana = \"カナ氏\"\n\
         given_name_kana = \"カナ名\"\nbirth_date = \"生年\"\nsex = \"性\"\npostal_code = \"〒\"\naddress = \"所在\"\n",
    )
    .unwrap();
    let out = dir.path().join("clusters.csv");
    // Without the mapping, no id column.
    let o = bin()
        .args(["link", "--dedupe"])
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no id column"));
    let o = bin()
        .args(["link", "--dedupe"])
        .arg(&path)
        .arg("--columns")
        .arg(&map)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = csv::Reader::from_path(&out).unwrap();
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        vec!["id", "cluster_id"]
    );
    let cluster: HashMap<String, String> = r
        .records()
        .map(|x| x.unwrap())
        .map(|x| (x[0].to_owned(), x[1].to_owned()))
        .collect();
    assert_eq!(cluster.len(), 600);
    let (mut tp, mut fp, mut pairs) = (0, 0, 0);
    let ids: Vec<(&str, usize)> = all.iter().map(|r| (r.id.as_str(), r.person)).collect();
    for i in 0..ids.len() {
        for j in i + 1..ids.len() {
            let same = ids[i].1 == ids[j].1;
            pairs += usize::from(same);
            if cluster[ids[i].0] == cluster[ids[j].0] {
                if same { tp += 1 } else { fp += 1 }
            }
        }
    }
    assert_eq!(pairs, 200);
    assert!(tp >= 190 && fp <= 4, "tp {tp} fp {fp}");
    let distinct: HashSet<&String> = cluster.values().collect();
    assert!(
        distinct.len() >= 400 && distinct.len() <= 410,
        "{}",
        distinct.len()
    );
}

#[test]
fn errors_have_meaningful_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    // Neither mode links the store's vault: a directory that is not a store is "not found".
    let o = bin()
        .arg("--data")
        .arg(dir.path().join("no-store"))
        .args(["link"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a tsunagu store"));
    // Missing file.
    let o = bin()
        .args(["link", "--dedupe", "/nonexistent/x.csv", "--out"])
        .arg(dir.path().join("o.csv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    // A malformed row is reported by number, without its content.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "id,family_name,birth_date\n1,山田,1970-01-01\n2,佐藤,1970-01-02,extra\n",
    )
    .unwrap();
    let o = bin()
        .args(["link", "--dedupe"])
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("o.csv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("row 2") && !err.contains("佐藤"), "{err}");
    // --strict rejects unparseable values, naming the field only.
    let odd = dir.path().join("odd.csv");
    std::fs::write(
        &odd,
        "id,family_name,birth_date\n1,山田,昭和64年1月8日\n2,佐藤,1970-01-02\n",
    )
    .unwrap();
    let o = bin()
        .args(["link", "--strict", "--dedupe"])
        .arg(&odd)
        .arg("--out")
        .arg(dir.path().join("o.csv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("birth_date: 1") && !err.contains("昭和"),
        "{err}"
    );
    // Bad threshold.
    let o = bin()
        .args(["link", "--threshold", "1.5", "--dedupe"])
        .arg(&odd)
        .arg("--out")
        .arg(dir.path().join("o.csv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
