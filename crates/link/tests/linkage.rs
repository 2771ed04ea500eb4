//! End-to-end linkage on simulated Japanese populations with known truth.

use std::collections::{HashMap, HashSet};

use tsunagu_link::engine::{self, LinkOptions};
use tsunagu_link::record::{Encoder, Identity, RawRecord, TokenTable};
use tsunagu_link::schema::{Role, Schema};
use tsunagu_link::simulate::{self, NamePools, SimRecord};
use tsunagu_link::source;
use tsunagu_link::token::LinkageKey;

fn pools() -> NamePools {
    NamePools::from_csv(
        include_str!("data/family_names.csv"),
        include_str!("data/given_names.csv"),
    )
}

/// The encoder of a run: tables to be compared are tokenised by one encoder (their q-grams are
/// numbered by it).
fn encoder(key: &LinkageKey) -> Encoder {
    let schema = Schema::from_roles(|r| simulate::HEADER.contains(&r) && r != Role::Id);
    Encoder::new(key, schema)
}

fn tokenise(enc: &Encoder, recs: &[SimRecord]) -> (TokenTable, Vec<Identity>) {
    let raws: Vec<RawRecord> = recs.iter().map(|r| r.record.clone()).collect();
    let (ids, invalid) = source::normalise_all(&raws);
    assert!(
        invalid.is_empty(),
        "simulated values must all parse: {invalid:?}"
    );
    (TokenTable::encode(enc, &ids), ids)
}

fn score(found: &HashSet<(usize, usize)>, truth: &HashSet<(usize, usize)>) -> (f64, f64, f64) {
    let tp = found.intersection(truth).count() as f64;
    let p = tp / found.len().max(1) as f64;
    let r = tp / truth.len().max(1) as f64;
    (p, r, 2.0 * p * r / (p + r).max(1e-12))
}

#[test]
fn links_messy_japanese_records() {
    let pools = pools();
    let (left, right) = simulate::two_sources(&pools, 3000, 2000, 1.0, 7);
    let enc = encoder(&LinkageKey::generate());
    let (lt, _) = tokenise(&enc, &left);
    let (rt, _) = tokenise(&enc, &right);
    let out = engine::link(
        &lt,
        &rt,
        &LinkOptions {
            one_to_one: true,
            ..LinkOptions::default()
        },
    )
    .unwrap();
    // The product form scoring uses is the logistic of the summed log weights.
    let cmp = tsunagu_link::compare::Comparator::new(&lt, &rt).unwrap();
    for p in &out.links {
        let w = out.model.match_weight(&cmp, p.left as usize, p.pattern);
        let direct = out
            .model
            .match_probability(&cmp, p.left as usize, p.pattern);
        assert!((direct - tsunagu_link::model::Model::probability(w)).abs() < 1e-9);
        assert!((direct - p.probability).abs() < 1e-12);
    }
    let truth: HashSet<(usize, usize)> = {
        let by_person: HashMap<usize, usize> = left
            .iter()
            .enumerate()
            .map(|(i, r)| (r.person, i))
            .collect();
        right
            .iter()
            .enumerate()
            .filter_map(|(j, r)| by_person.get(&r.person).map(|&i| (i, j)))
            .collect()
    };
    assert_eq!(truth.len(), 2000);
    let found: HashSet<(usize, usize)> = out
        .links
        .iter()
        .map(|p| (p.left as usize, p.right as usize))
        .collect();
    let (p, r, f1) = score(&found, &truth);
    eprintln!(
        "precision {p:.4} recall {r:.4} f1 {f1:.4} stats {:?}",
        out.stats
    );
    assert!(out.stats.em_converged);
    assert!(p > 0.98 && r > 0.97, "precision {p} recall {r}");
}

#[test]
fn explanations_show_swaps_and_transposed_dates() {
    let mut a = RawRecord::default();
    a.set(Role::FamilyName, "髙橋");
    a.set(Role::GivenName, "恵子");
    a.set(Role::FamilyNameKana, "タカハシ");
    a.set(Role::GivenNameKana, "ケイコ");
    a.set(Role::BirthDate, "1970-03-12");
    let mut b = RawRecord::default();
    b.set(Role::FamilyName, "恵子");
    b.set(Role::GivenName, "高橋");
    b.set(Role::FamilyNameKana, "ｹｰｺ");
    b.set(Role::GivenNameKana, "たかはし");
    b.set(Role::BirthDate, "S45.12.3");
    let mut c = a.clone();
    c.set(Role::FamilyName, "高橋");
    c.set(Role::FamilyNameKana, "ﾀｶﾊｼ");
    c.set(Role::BirthDate, "昭和45年3月12日");
    let key = LinkageKey::generate();
    let schema = Schema::from_roles(|r| {
        matches!(
            r,
            Role::FamilyName
                | Role::GivenName
                | Role::FamilyNameKana
                | Role::GivenNameKana
                | Role::BirthDate
        )
    });
    let enc = Encoder::new(&key, schema);
    let ids: Vec<Identity> = [a, b, c].iter().map(|r| Identity::normalise(r).0).collect();
    let t = TokenTable::encode(&enc, &ids);
    let cmp = tsunagu_link::compare::Comparator::new(&t, &t).unwrap();
    let level =
        |f: usize, x: usize, y: usize| t.schema().fields[f].levels()[cmp.level(f, x, y) as usize];
    assert_eq!(level(0, 0, 1), "swapped");
    assert_eq!(level(1, 0, 1), "swapped");
    assert_eq!(level(2, 0, 1), "transposed_day_month");
    assert_eq!(level(0, 0, 2), "exact"); // 髙橋 = 高橋, ﾀｶﾊｼ = タカハシ
    assert_eq!(level(2, 0, 2), "exact"); // 1970-03-12 = 昭和45年3月12日
}

/// The linker never sees plaintext: the engine's entry points take token tables, token tables
/// are built only through a keyed encoder, and nothing of the plaintext survives in them.
#[test]
fn linker_sees_tokens_only() {
    let pools = pools();
    let (left, right) = simulate::two_sources(&pools, 300, 200, 1.0, 3);
    let enc = encoder(&LinkageKey::generate());
    let (lt, lids) = tokenise(&enc, &left);
    let (rt, _) = tokenise(&enc, &right);
    // Everything the engine holds, printed: no normalised name, kana, address or number of any
    // record appears in it.
    let dump = format!("{lt:?}{rt:?}");
    let out = engine::link(&lt, &rt, &LinkOptions::default()).unwrap();
    let dump = format!("{dump}{:?}{:?}", out.model, out.stats);
    for id in &lids {
        for s in [
            &id.family.written,
            &id.family.kana,
            &id.given.written,
            &id.given.kana,
        ] {
            assert!(!s.is_empty());
            assert!(
                !dump.contains(s.as_str()),
                "plaintext leaked into the linker's state"
            );
        }
        if let Some(d) = id.birth_date {
            assert!(!dump.contains(&d.format("%Y-%m-%d").to_string()));
        }
        // Phone numbers (10–11 digits) cannot occur by chance in the hexadecimal token dump.
        for (role, v) in &id.texts {
            if *role == Role::Phone {
                assert!(!dump.contains(v.as_str()));
            }
        }
    }
    // A table tokenised under another key (by another encoder) is refused, not compared.
    let (other, _) = tokenise(&encoder(&LinkageKey::generate()), &right);
    let refused = engine::link(&lt, &other, &LinkOptions::default());
    assert_eq!(
        refused.err(),
        Some(tsunagu_link::compare::CompareError::DifferentEncoders)
    );
    assert!(!out.links.is_empty());
}

#[test]
fn dedupe_clusters_a_merged_file() {
    let pools = pools();
    let (left, right) = simulate::two_sources(&pools, 800, 600, 1.0, 11);
    let all: Vec<SimRecord> = left.iter().chain(right.iter()).cloned().collect();
    let key = LinkageKey::generate();
    let (t, _) = tokenise(&encoder(&key), &all);
    let (out, labels) = engine::dedupe(&t, &LinkOptions::default()).unwrap();
    // Pairwise precision/recall of the clustering against the true persons.
    let mut truth = HashSet::new();
    let mut found = HashSet::new();
    for i in 0..all.len() {
        for j in i + 1..all.len() {
            if all[i].person == all[j].person {
                truth.insert((i, j));
            }
            if labels[i] == labels[j] {
                found.insert((i, j));
            }
        }
    }
    let (p, r, _) = score(&found, &truth);
    eprintln!(
        "dedupe precision {p:.4} recall {r:.4} stats {:?}",
        out.stats
    );
    assert!(p > 0.97 && r > 0.95, "precision {p} recall {r}");
}

/// Reading a file in batches (tokens made as rows stream) gives exactly the tokens, ids and
/// invalid counts of reading it whole, normalising and encoding; and blocking records which
/// rules produced each candidate exactly as joining each rule alone would.
#[test]
fn streaming_tokenisation_and_rule_masks_match_the_whole_file_path() {
    let pools = pools();
    // More rows than one batch, so that batching and the size estimate are exercised.
    let (left, right) = simulate::two_sources(&pools, 2500, 1500, 1.0, 5);
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    simulate::to_csv(&left, std::fs::File::create(&pa).unwrap()).unwrap();
    let mut messy = right.clone();
    messy[3]
        .record
        .set(Role::BirthDate, "not a date".to_owned());
    simulate::to_csv(&messy, std::fs::File::create(&pb).unwrap()).unwrap();
    let key = LinkageKey::from_bytes([4; 32]);
    let roles = source::read_roles(&pa, None).unwrap();
    assert!(roles.contains(&Role::Id) && roles.contains(&Role::Address));
    let schema = Schema::from_roles(|r| roles.contains(&r) && r != Role::Id);
    let enc = Encoder::new(&key, schema);
    for (path, recs) in [(&pa, &left), (&pb, &messy)] {
        let streamed = source::tokenise_csv(path, None, &enc).unwrap();
        let whole = source::read_csv(path, None).unwrap();
        let (ids, invalid) = source::normalise_all(&whole.records);
        let table = TokenTable::encode(&enc, &ids);
        assert_eq!(streamed.invalid, invalid);
        assert_eq!(format!("{:?}", streamed.table), format!("{table:?}"));
        assert_eq!(streamed.ids.len(), recs.len());
        assert!(streamed.ids.iter().eq(recs.iter().map(|r| r.id.as_str())));
        assert_eq!(streamed.ids.get(recs.len()), "");
    }
    assert_eq!(
        source::tokenise_csv(&pb, None, &enc)
            .unwrap()
            .invalid
            .get("birth_date"),
        Some(&1)
    );

    let lt = source::tokenise_csv(&pa, None, &enc).unwrap().table;
    let rt = source::tokenise_csv(&pb, None, &enc).unwrap().table;
    let rules = tsunagu_link::block::default_rules(lt.schema());
    let all = tsunagu_link::block::candidates(&lt, &rt, false, &rules, 250_000);
    let pairs: Vec<(u32, u32)> = all.pairs().collect();
    assert_eq!(pairs.len(), all.len());
    assert_eq!(pairs.len(), all.rules.len());
    assert!(pairs.windows(2).all(|w| w[0] < w[1]));
    // Random access and the parallel walk give the same pairs.
    use rayon::prelude::*;
    assert!((0..pairs.len()).all(|k| all.pair(k) == pairs[k]));
    assert_eq!(all.par_pairs().collect::<Vec<_>>(), pairs);
    for (r, rule) in rules.iter().enumerate() {
        let alone =
            tsunagu_link::block::candidates(&lt, &rt, false, std::slice::from_ref(rule), 250_000);
        let marked: Vec<(u32, u32)> = pairs
            .iter()
            .zip(&all.rules)
            .filter(|(_, m)| u32::from(**m) & (1 << r) != 0)
            .map(|(p, _)| *p)
            .collect();
        assert_eq!(
            marked,
            alone.pairs().collect::<Vec<_>>(),
            "rule {}",
            rule.name
        );
        assert_eq!(all.per_rule[r], alone.len() as u64);
    }
    // Deduplication: every pair ordered, marked by at least one rule.
    let d = tsunagu_link::block::candidates(&lt, &lt, true, &rules, 250_000);
    assert!(d.pairs().all(|(a, b)| a < b));
    assert!(d.rules.iter().all(|&m| m != 0));
}
