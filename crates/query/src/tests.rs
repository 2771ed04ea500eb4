use super::*;
use chrono::NaiveDate;
use tsunagu_lake::{Condition, Observation, ObservationCategory, YearMonth};
use tsunagu_model::{Icd10Code, ProviderId, Sex, StoreKey};

fn key() -> StoreKey {
    StoreKey::from_bytes([7; 32])
}

fn pid(s: &str) -> tsunagu_lake::PersonId {
    tsunagu_lake::PersonId::parse(s).unwrap()
}

fn prv(n: u64) -> ProviderId {
    ProviderId::from_random(n)
}

fn person(id: &str, p: u64, sex: Sex, city: &str) -> Person {
    Person {
        person_id: pid(id),
        provider_id: prv(p),
        sex,
        birth_month: YearMonth::new(1950, 4),
        deceased_date: None,
        postal3: None,
        municipality: Some(city.to_owned()),
    }
}

fn condition(id: &str, p: u64, rec: &str, icd: &str, onset: (i32, u32, u32)) -> Condition {
    Condition {
        person_id: pid(id),
        provider_id: prv(p),
        record_id: rec.to_owned(),
        encounter_id: None,
        icd10: Some(Icd10Code::parse(icd).unwrap()),
        code_system: None,
        code: None,
        name: None,
        suspected: false,
        primary: true,
        onset: NaiveDate::from_ymd_opt(onset.0, onset.1, onset.2),
        recorded: None,
        abated: None,
        status: None,
    }
}

fn obs(id: &str, rec: &str, value: f64) -> Observation {
    Observation {
        person_id: pid(id),
        provider_id: prv(1),
        record_id: rec.to_owned(),
        encounter_id: None,
        category: ObservationCategory::Laboratory,
        code_system: None,
        code: Some("3D046".to_owned()),
        name: Some("HbA1c".to_owned()),
        value: Some(value),
        value_text: None,
        unit: None,
        reference_range: None,
        interpretation: None,
        effective: None,
        status: None,
    }
}

/// A lake with four persons-at-provider: A (provider 1) and B (provider 2) are one person with
/// diabetes; C has diabetes but is not admitted by the gate (a stop request); D has no diabetes.
fn lake(dir: &Path) -> Arc<Lake> {
    let lake = Lake::open(dir, &key()).unwrap();
    let part = PartName::parse("p1").unwrap();
    lake.write_rows(
        &part,
        &[
            person("psn-a", 1, Sex::Female, "千代田区"),
            person("psn-b", 2, Sex::Female, "港区"),
            person("psn-c", 1, Sex::Male, "港区"),
            person("psn-d", 1, Sex::Male, "港区"),
        ],
    )
    .unwrap();
    lake.write_rows(
        &part,
        &[
            condition("psn-a", 1, "r1", "E11.9", (2019, 1, 5)),
            condition("psn-b", 2, "r2", "I10", (2020, 2, 1)),
            condition("psn-c", 1, "r3", "E11.9", (2019, 3, 1)),
            condition("psn-d", 1, "r4", "J45", (2021, 1, 1)),
        ],
    )
    .unwrap();
    lake.write_rows(
        &part,
        &[
            obs("psn-a", "o1", 7.1),
            obs("psn-c", "o2", 8.0),
            obs("psn-d", "o3", 5.2),
        ],
    )
    .unwrap();
    Arc::new(lake)
}

fn admitted() -> Vec<Admitted> {
    ["a", "b", "d"]
        .iter()
        .map(|s| Admitted {
            subject: format!("psn-{s}"),
            person: if *s == "d" {
                "psn-d".into()
            } else {
                "psn-a".into()
            },
        })
        .collect()
}

fn count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test]
async fn views_hide_what_the_gate_does_not_admit_and_show_linked_ids() {
    let dir = tempfile::tempdir().unwrap();
    let q = LakeQuery::new(lake(dir.path()), &admitted()).await.unwrap();
    let b = q
        .query("SELECT person_id FROM conditions ORDER BY record_id")
        .await
        .unwrap();
    let ids: Vec<String> = b
        .iter()
        .flat_map(|b| {
            string_column(b, "person_id")
                .unwrap()
                .iter()
                .flatten()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    // r3 belongs to C, whom the gate leaves out; A's and B's rows share A's linked id.
    assert_eq!(ids, ["psn-a", "psn-a", "psn-d"]);
}

#[tokio::test]
async fn extract_selects_people_and_all_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let q = LakeQuery::new(lake(&dir.path().join("lake")), &admitted())
        .await
        .unwrap();
    let out = Lake::open(dir.path().join("x"), &key()).unwrap();
    let s = q
        .extract(
            "SELECT DISTINCT person_id FROM conditions WHERE icd10 LIKE 'E11%'",
            &out,
        )
        .await
        .unwrap();
    assert_eq!(s.persons, 1);
    assert_eq!(s.rows["conditions"], 2, "A's diabetes and B's hypertension");
    assert_eq!(s.rows["observations"], 1);
    let persons = out.read_rows::<Person>().unwrap();
    assert_eq!(persons.len(), 1);
    assert_eq!(persons[0].person_id.as_str(), "psn-a");
    let conds = out.read_rows::<Condition>().unwrap();
    assert!(conds.iter().all(|c| c.person_id.as_str() == "psn-a"));
}

#[tokio::test]
async fn event_statements_restrict_one_table() {
    let dir = tempfile::tempdir().unwrap();
    let q = LakeQuery::new(lake(&dir.path().join("lake")), &admitted())
        .await
        .unwrap();
    let out = Lake::open(dir.path().join("x"), &key()).unwrap();
    let s = q
        .extract(
            "SELECT person_id FROM persons; \
             SELECT * FROM conditions WHERE person_id IN (SELECT person_id FROM cohort) AND onset >= DATE '2020-01-01'",
            &out,
        )
        .await
        .unwrap();
    assert_eq!(s.persons, 2);
    assert_eq!(
        s.rows["conditions"], 2,
        "r2 (2020) and r4 (2021), not r1 (2019)"
    );
    assert_eq!(
        s.rows["observations"], 2,
        "tables without a statement: every row"
    );
}

#[tokio::test]
async fn cohort_files_that_are_not_queries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let q = LakeQuery::new(lake(&dir.path().join("lake")), &admitted())
        .await
        .unwrap();
    let out = Lake::open(dir.path().join("x"), &key()).unwrap();
    for (sql, statement) in [
        ("CREATE TABLE t AS SELECT * FROM persons", 1),
        ("SELECT sex FROM persons", 1),
        (
            "SELECT person_id FROM persons; SELECT person_id FROM conditions",
            2,
        ),
        ("COPY persons TO '/tmp/x.csv'", 1),
        ("", 1),
    ] {
        match q.extract(sql, &out).await {
            Err(QueryError::Cohort { statement: s, .. }) => assert_eq!(s, statement, "{sql}"),
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert_eq!(count(&out.read_table(Table::Persons).unwrap()), 0);
}

#[tokio::test]
async fn a_wrong_key_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path());
    let other = Arc::new(Lake::open(dir.path(), &StoreKey::from_bytes([8; 32])).unwrap());
    let q = LakeQuery::new(other, &admitted()).await.unwrap();
    assert!(q.query("SELECT count(*) FROM conditions").await.is_err());
}

#[test]
fn persons_collapse_to_the_most_frequent_value() {
    assert_eq!(mode([Some(2), Some(1), Some(2), None].into_iter()), Some(2));
    assert_eq!(
        mode([Some(2), Some(1)].into_iter()),
        Some(1),
        "ties: smallest"
    );
    assert_eq!(mode::<u8>([None, None].into_iter()), None);
}

#[test]
fn extract_ids() {
    assert!(valid_extract_id("t2dm-2024"));
    for bad in ["", "-x", "A", "a/b", "..", &"x".repeat(65)] {
        assert!(!valid_extract_id(bad), "{bad}");
    }
}
