//! The ledger's behaviour, run against both backends: every test below runs once on SQLite and
//! once on a real PostgreSQL server (a fresh database each time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use sqlx::{AnyConnection, Connection, Executor};
use tsunagu_ledger::*;
use tsunagu_model::{LocalPatientId, ProviderId, ProviderKind, StoreKey};

struct Db {
    ledger: Ledger,
    url: String,
    key: StoreKey,
    _tmp: tempfile::TempDir,
    _pg: Option<tsunagu_testkit::PgDatabase>,
}

async fn sqlite_db() -> Db {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        tmp.path().join("ledger.sqlite").display()
    );
    let key = StoreKey::from_bytes([42; 32]);
    let ledger = Ledger::connect(&url, &key).await.unwrap();
    Db {
        ledger,
        url,
        key,
        _tmp: tmp,
        _pg: None,
    }
}

async fn postgres_db() -> Db {
    let pg = tsunagu_testkit::postgres();
    let key = StoreKey::from_bytes([42; 32]);
    let ledger = Ledger::connect(&pg.url, &key).await.unwrap();
    Db {
        ledger,
        url: pg.url.clone(),
        key,
        _tmp: tempfile::tempdir().unwrap(),
        _pg: Some(pg),
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::sqlite_db().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::postgres_db().await).await
            }
        }
    )*};
}

both!(
    providers_are_registered_listed_and_updated,
    notices_are_recorded_once_and_hashed,
    notice_import_is_all_or_nothing,
    stop_requests_and_receipts,
    eligibility_follows_the_rule_on_recorded_histories,
    records_are_append_only_and_kept,
    audit_chain_catches_direct_edits,
    ledger_directory_import,
    settings_are_validated_and_audited,
    a_wrong_store_key_is_refused,
    extracts_releases_and_approvals,
);

fn actor() -> Actor {
    Actor::operator("test-operator")
}

fn hospital() -> NewProvider {
    NewProvider {
        kind: ProviderKind::Hospital,
        code: "1312345".into(),
        name: "つなぐ総合病院".into(),
        address: "東京都千代田区千代田1-1".into(),
        representative: "院長 山田太郎".into(),
        filing_date: Some("2025-01-10".into()),
        filing_ref: Some("厚労省届出-2025-0001".into()),
        contract_state: None,
    }
}

fn pid(s: &str) -> LocalPatientId {
    LocalPatientId::parse(s).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    parse_instant("t", s).unwrap()
}

async fn raw(db: &Db, sql: &str) {
    let mut c = AnyConnection::connect(&db.url).await.unwrap();
    c.execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap();
    c.close().await.unwrap();
}

async fn providers_are_registered_listed_and_updated(db: Db) {
    let l = &db.ledger;
    let id = l.add_provider(&actor(), hospital()).await.unwrap();
    let p = l.provider(&id).await.unwrap();
    assert_eq!(p.code.as_str(), "1312345");
    assert_eq!(p.contract_state, ContractState::Active);
    // The same kind and code twice is a conflict, and writes nothing.
    let err = l.add_provider(&actor(), hospital()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(l.list_providers().await.unwrap().len(), 1);
    // Bad input is refused with the field named.
    let mut bad = hospital();
    bad.code = "12".into();
    let err = l.add_provider(&actor(), bad).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Input);
    assert!(err.to_string().contains("code"), "{err}");
    let mut bad = hospital();
    bad.filing_date = Some("2025-02-30".into());
    assert_eq!(
        l.add_provider(&actor(), bad).await.unwrap_err().kind(),
        ErrorKind::Input
    );
    let mut half = hospital();
    half.code = "1312346".into();
    half.filing_ref = None;
    assert_eq!(
        l.add_provider(&actor(), half).await.unwrap_err().kind(),
        ErrorKind::Input
    );

    let u = l
        .update_provider(
            &actor(),
            &id,
            ProviderUpdate {
                representative: Some("院長 佐藤花子".into()),
                contract_state: Some(ContractState::Suspended),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(u.representative, "院長 佐藤花子");
    assert_eq!(u.contract_state, ContractState::Suspended);
    assert_eq!(u.name, p.name);
    let missing = ProviderId::from_random(1);
    assert_eq!(
        l.provider(&missing).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(l.verify_audit().await.unwrap().ok);
}

async fn notices_are_recorded_once_and_hashed(db: Db) {
    let l = &db.ledger;
    let id = l.add_provider(&actor(), hospital()).await.unwrap();
    let n = NewNotice::parse(
        id.clone(),
        "P-000123",
        "2025-03-01",
        "letter",
        Recipient::Person,
    )
    .unwrap();
    l.add_notice(&actor(), n.clone()).await.unwrap();
    let err = l.add_notice(&actor(), n).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        !err.to_string().contains("P-000123"),
        "errors never name the patient"
    );
    // Unknown provider.
    let other = ProviderId::from_random(7);
    let n = NewNotice::parse(other, "P-1", "2025-03-01", "letter", Recipient::Person).unwrap();
    assert_eq!(
        l.add_notice(&actor(), n).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Guardian notices for minors.
    let n = NewNotice::parse(
        id.clone(),
        "P-CHILD",
        "2025-03-02",
        "in_person",
        Recipient::Guardian,
    )
    .unwrap();
    l.add_notice(&actor(), n).await.unwrap();
    // The raw id is nowhere in the database: only its keyed hash.
    let mut c = AnyConnection::connect(&db.url).await.unwrap();
    let hashes: Vec<String> = sqlx::query_scalar("SELECT patient_hash FROM notices")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 2);
    assert!(
        hashes
            .iter()
            .all(|h| h.len() == 64 && !h.contains("000123"))
    );
    let dump: Vec<String> = sqlx::query_scalar("SELECT details FROM audit_events")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert!(
        dump.iter()
            .all(|d| !d.contains("P-000123") && !d.contains("P-CHILD"))
    );
    assert_eq!(
        hashes
            .iter()
            .filter(|h| **h == l.patient_hash(&id, &pid("P-000123")))
            .count(),
        1
    );
    c.close().await.unwrap();
}

async fn notice_import_is_all_or_nothing(db: Db) {
    let l = &db.ledger;
    let id = l.add_provider(&actor(), hospital()).await.unwrap();
    let good = "patient,date,channel\nA1,2025-03-01,letter\nA2,2025-03-02,in_person\n";
    assert_eq!(
        l.import_notices(&actor(), &id, "good.csv", good.as_bytes())
            .await
            .unwrap(),
        2
    );
    // A bad row anywhere: nothing from the file is written, and the error names file, line, field.
    let bad = "patient,date,channel\nB1,2025-03-01,letter\nB2,2025-02-30,letter\n";
    let err = l
        .import_notices(&actor(), &id, "bad.csv", bad.as_bytes())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bad.csv") && msg.contains("line 3") && msg.contains("date"),
        "{msg}"
    );
    // A duplicate of an existing notice also rolls the whole file back.
    let dup = "patient,date,channel\nC1,2025-03-01,letter\nA1,2025-03-05,letter\n";
    let err = l
        .import_notices(&actor(), &id, "dup.csv", dup.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("line 3"), "{err}");
    let ragged = "patient,date,channel\nD1,2025-03-01\n";
    let err = l
        .import_notices(&actor(), &id, "ragged.csv", ragged.as_bytes())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    let at = t("2026-01-01");
    for p in ["B1", "C1", "D1"] {
        assert_eq!(
            l.eligibility(&id, &pid(p), at).await.unwrap().reason,
            Reason::NoNotice
        );
    }
    assert!(l.eligibility(&id, &pid("A1"), at).await.unwrap().eligible);
    assert!(l.verify_audit().await.unwrap().ok);
}

async fn stop_requests_and_receipts(db: Db) {
    let l = &db.ledger;
    let id = l.add_provider(&actor(), hospital()).await.unwrap();
    let stop = |patient: &str, requester, relationship| NewStop {
        provider: id.clone(),
        patient: pid(patient),
        requester,
        relationship,
        received_at: t("2025-05-01T10:00:00+09:00"),
        via: Via::Producer,
    };
    let r = l
        .add_stop(&actor(), stop("S1", Requester::Person, None))
        .await
        .unwrap();
    assert!(Receipt::parse(r.as_str()).is_some());
    // Bereaved requesters must say how they are related; others must not.
    assert_eq!(
        l.add_stop(&actor(), stop("S2", Requester::Bereaved, None))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Input
    );
    l.add_stop(
        &actor(),
        stop("S2", Requester::Bereaved, Some(Relationship::Spouse)),
    )
    .await
    .unwrap();
    assert_eq!(
        l.add_stop(
            &actor(),
            stop("S3", Requester::Guardian, Some(Relationship::Child))
        )
        .await
        .unwrap_err()
        .kind(),
        ErrorKind::Input
    );
    // Future receipt times are refused; unknown providers too.
    let mut future = stop("S4", Requester::Person, None);
    future.received_at = Utc::now() + TimeDelta::days(2);
    assert_eq!(
        l.add_stop(&actor(), future).await.unwrap_err().kind(),
        ErrorKind::Input
    );
    let mut nowhere = stop("S5", Requester::Person, None);
    nowhere.provider = ProviderId::from_random(9);
    assert_eq!(
        l.add_stop(&actor(), nowhere).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let known = l
        .stop_status(&r.as_str().to_lowercase().replace('-', ""))
        .await
        .unwrap();
    assert_eq!(known.state, StopState::InEffect);
    assert_eq!(known.receipt, r.as_str());
    let unknown = l
        .stop_status(Receipt::generate().unwrap().as_str())
        .await
        .unwrap();
    assert_eq!(unknown.state, StopState::Unknown);
    let mut typo: Vec<char> = r.as_str().chars().collect();
    typo[0] = if typo[0] == 'A' { 'B' } else { 'A' };
    let mistyped = l
        .stop_status(&typo.iter().collect::<String>())
        .await
        .unwrap();
    assert_eq!(mistyped.state, StopState::Unknown);
    // Same shape for all three: the same JSON keys.
    let keys = |s: &StopStatus| {
        serde_json::to_value(s)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&known), keys(&unknown));
    assert_eq!(keys(&known), keys(&mistyped));
    assert_eq!(unknown.message, mistyped.message);
}

/// Random histories, recorded in a random order, decided by the database path exactly as by the
/// pure rule over the same facts.
async fn eligibility_follows_the_rule_on_recorded_histories(db: Db) {
    let l = &db.ledger;
    let id = l.add_provider(&actor(), hospital()).await.unwrap();
    let filing = Some(Filing {
        date: date("2025-01-10"),
    });
    // A small deterministic generator: the proptest runner does not drive async code, and the
    // pure rule itself is property-tested over thousands of cases in the crate.
    let mut state = 0x9E3779B97F4A7C15u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    for person in 0..24 {
        let patient = format!("H{person}");
        let has_notice = next(4) != 0;
        let notice = date("2025-01-01") + TimeDelta::days(next(200) as i64);
        let stops: Vec<DateTime<Utc>> = (0..next(3))
            .map(|_| t("2025-01-01T00:00:00+09:00") + TimeDelta::hours(next(24 * 300) as i64))
            .collect();
        // Record stops and the notice in a random order.
        let notice_first = next(2) == 0;
        if notice_first && has_notice {
            let n = NewNotice {
                provider: id.clone(),
                patient: pid(&patient),
                date: notice,
                channel: Channel::Letter,
                recipient: Recipient::Person,
            };
            l.add_notice(&actor(), n).await.unwrap();
        }
        for s in stops.iter().rev() {
            let ns = NewStop {
                provider: id.clone(),
                patient: pid(&patient),
                requester: Requester::Person,
                relationship: None,
                received_at: *s,
                via: Via::Provider,
            };
            l.add_stop(&actor(), ns).await.unwrap();
        }
        if !notice_first && has_notice {
            let n = NewNotice {
                provider: id.clone(),
                patient: pid(&patient),
                date: notice,
                channel: Channel::Letter,
                recipient: Recipient::Person,
            };
            l.add_notice(&actor(), n).await.unwrap();
        }
        let facts = Facts {
            filing: filing.clone(),
            notice: has_notice.then_some(notice),
            stops: stops.clone(),
        };
        assert_eq!(
            l.facts(&id, &pid(&patient)).await.unwrap().notice,
            facts.notice
        );
        for _ in 0..6 {
            let at = t("2025-01-01T00:00:00+09:00") + TimeDelta::hours(next(24 * 320) as i64);
            let via_db = l.eligibility(&id, &pid(&patient), at).await.unwrap();
            assert_eq!(via_db, decide(&facts, at, 30), "person {person}");
            let bulk = l.provider_facts(&id).await.unwrap();
            assert_eq!(
                bulk.decide(&l.patient_hash(&id, &pid(&patient)), at),
                via_db
            );
        }
    }
    // The same local id at another provider is another person.
    let mut clinic = hospital();
    clinic.kind = ProviderKind::Clinic;
    let other = l.add_provider(&actor(), clinic).await.unwrap();
    assert_eq!(
        l.eligibility(&other, &pid("H0"), t("2026-01-01"))
            .await
            .unwrap()
            .reason,
        Reason::NoNotice
    );
    assert!(l.verify_audit().await.unwrap().ok);
}

fn reception(provider: &ProviderId, on: &str) -> NewReception {
    NewReception {
        provider: provider.clone(),
        acquisition: "診療の過程で取得".into(),
        received_on: date(on),
        data_items: vec!["patients".into(), "conditions".into()],
        record_counts: BTreeMap::from([("patients".into(), 10), ("conditions".into(), 31)]),
    }
}

async fn records_are_append_only_and_kept(db: Db) {
    let l = &db.ledger;
    let id = l.add_provider(&actor(), hospital()).await.unwrap();
    l.add_reception(&actor(), reception(&id, "2025-04-01"))
        .await
        .unwrap();
    l.add_reception(&actor(), reception(&id, "2025-05-01"))
        .await
        .unwrap();
    let prov = NewProvision {
        recipient: "つなぐ大学 医学部".into(),
        provided_on: date("2025-06-01"),
        request_ref: "REQ-1".into(),
        approval_ref: "APR-1".into(),
        data_items: vec!["persons".into()],
        record_counts: BTreeMap::from([("persons".into(), 100)]),
        policy: "anonymized-jp".into(),
        package_digest: "ab".repeat(32),
    };
    l.add_provision(&actor(), prov.clone()).await.unwrap();
    let mut bad = prov;
    bad.package_digest = "xyz".into();
    assert_eq!(
        l.add_provision(&actor(), bad).await.unwrap_err().kind(),
        ErrorKind::Input
    );
    match l
        .export_records(RecordKind::Reception, Some(date("2025-04-15")), None)
        .await
        .unwrap()
    {
        RecordsExport::Reception(r) => {
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].received_on, date("2025-05-01"));
            assert_eq!(r[0].filing_ref, "厚労省届出-2025-0001");
            assert_eq!(r[0].record_counts["conditions"], 31);
        }
        RecordsExport::Provision(_) => panic!("wrong kind"),
    }
    match l
        .export_records(RecordKind::Provision, None, None)
        .await
        .unwrap()
    {
        RecordsExport::Provision(r) => assert_eq!(r[0].policy, "anonymized-jp"),
        RecordsExport::Reception(_) => panic!("wrong kind"),
    }
    // Deleting inside the retention period is refused, and deletes nothing.
    let err = l
        .purge_records(&actor(), RecordKind::Reception, Utc::now().date_naive())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // Outside it (records older than three years: there are none) it is allowed and audited.
    assert_eq!(
        l.purge_records(&actor(), RecordKind::Reception, date("2020-01-01"))
            .await
            .unwrap(),
        0
    );
    l.set_setting(&actor(), "record_retention_years", "forever")
        .await
        .unwrap();
    assert_eq!(
        l.purge_records(&actor(), RecordKind::Reception, date("2020-01-01"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    // A unit of intake is recorded with its reception record, once.
    let digest = "cd".repeat(32);
    assert!(!l.unit_done(&id, &digest).await.unwrap());
    let units = [digest.clone()];
    l.complete_units(
        &actor(),
        &units,
        reception(&id, "2025-07-01"),
        serde_json::json!({ "accepted": 3 }),
    )
    .await
    .unwrap();
    assert!(l.unit_done(&id, &digest).await.unwrap());
    let again = l
        .complete_units(
            &actor(),
            &units,
            reception(&id, "2025-07-01"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(again.unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(
        l.complete_units(
            &actor(),
            &["not-a-digest".to_owned()],
            reception(&id, "2025-07-01"),
            serde_json::json!({})
        )
        .await
        .unwrap_err()
        .kind(),
        ErrorKind::Input
    );
    // Receptions from a provider without a 届出 are refused.
    let mut nofiling = hospital();
    nofiling.code = "1399999".into();
    nofiling.filing_date = None;
    nofiling.filing_ref = None;
    let nf = l.add_provider(&actor(), nofiling).await.unwrap();
    assert_eq!(
        l.add_reception(&actor(), reception(&nf, "2025-04-01"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    assert!(l.verify_audit().await.unwrap().ok);
}

/// Build a small history, then tamper with the database directly, one way at a time, each on a
/// fresh copy of the history; `verify` must name the first bad event every time.
async fn audit_chain_catches_direct_edits(db: Db) {
    let l = &db.ledger;
    let id = l.add_provider(&actor(), hospital()).await.unwrap();
    for p in ["V1", "V2", "V3"] {
        let n = NewNotice::parse(id.clone(), p, "2025-03-01", "letter", Recipient::Person).unwrap();
        l.add_notice(&actor(), n).await.unwrap();
    }
    l.add_reception(&actor(), reception(&id, "2025-04-01"))
        .await
        .unwrap();
    let ok = l.verify_audit().await.unwrap();
    assert!(ok.ok, "{ok:?}");
    assert_eq!(ok.events, 5);

    // Each case: (SQL that tampers, the event verify must name, a word its message must hold),
    // undone afterwards by restoring a snapshot of the two chain tables and the rows.
    let cases: &[(&str, i64, &str)] = &[
        (
            "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3",
            3,
            "altered",
        ),
        ("DELETE FROM audit_events WHERE seq = 2", 2, "missing"),
        (
            "UPDATE audit_events SET seq = 9 WHERE seq = 5",
            5,
            "deleted",
        ),
        (
            "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)",
            5,
            "outside",
        ),
        // Truncation with the head moved back too: only the seal (keyed) can tell.
        (
            "DELETE FROM audit_events WHERE seq = 5; DELETE FROM reception_records; \
             UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)",
            4,
            "seal",
        ),
        (
            "UPDATE notices SET notice_date = '2020-01-01' WHERE audit_seq = 3",
            3,
            "altered",
        ),
        ("DELETE FROM notices WHERE audit_seq = 4", 4, "deleted"),
        (
            "UPDATE reception_records SET record_counts = '{\"patients\":1}'",
            5,
            "altered",
        ),
        ("UPDATE providers SET representative = 'x'", 1, "altered"),
        (
            "INSERT INTO providers (id, kind, code, name, address, representative, filing_date, filing_ref, contract_state, created_at, updated_at, audit_seq) \
             VALUES ('prv-0000000000', 'clinic', '1300000', 'x', 'x', 'x', NULL, NULL, 'active', 't', 't', 99)",
            99,
            "inserted",
        ),
    ];
    for (sql, seq, word) in cases {
        let snap = Snapshot::take(&db).await;
        raw(&db, sql).await;
        let r = l.verify_audit().await.unwrap();
        assert!(!r.ok, "not caught: {sql}");
        assert_eq!(r.first_bad_seq, Some(*seq), "{sql}: {r:?}");
        assert!(
            r.first_error.as_deref().unwrap_or("").contains(word),
            "{sql}: {r:?}"
        );
        snap.restore(&db).await;
        assert!(l.verify_audit().await.unwrap().ok, "restore after {sql}");
    }

    // Swap two events' order: caught at the first of them.
    let snap = Snapshot::take(&db).await;
    raw(&db, "UPDATE audit_events SET seq = 100 WHERE seq = 2").await;
    raw(&db, "UPDATE audit_events SET seq = 2 WHERE seq = 3").await;
    raw(&db, "UPDATE audit_events SET seq = 3 WHERE seq = 100").await;
    let r = l.verify_audit().await.unwrap();
    assert!(!r.ok);
    assert_eq!(r.first_bad_seq, Some(2), "{r:?}");
    snap.restore(&db).await;

    // Insert a forged event at the end, with a correct hash: the seal catches it.
    let last: (String,) = {
        let mut c = AnyConnection::connect(&db.url).await.unwrap();
        let h: String = sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = 5")
            .fetch_one(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        (h,)
    };
    raw(&db, &format!(
        "INSERT INTO audit_events (seq, at, actor, role, action, object_type, object_id, details, prev_hash, hash) \
         VALUES (6, '2025-01-01T00:00:00.000000Z', 'mallory', 'operator', 'notice.add', 'notice', 'x', '{{}}', '{}', 'ff')",
        last.0
    )).await;
    let r = l.verify_audit().await.unwrap();
    assert!(!r.ok);
    assert_eq!(r.first_bad_seq, Some(6), "{r:?}");
    snap.restore(&db).await;
    assert!(l.verify_audit().await.unwrap().ok);
    let _ = &db.key;
}

/// A copy of every table the tamper tests touch, to undo one tamper before the next.
/// Table name, rows (cells as text, integers marked), column names.
type TableCopy = (&'static str, Vec<Vec<Option<String>>>, Vec<String>);

struct Snapshot {
    tables: Vec<TableCopy>,
}

/// In an order that deletes referencing rows first; restored in the reverse order.
const SNAP_TABLES: [&str; 6] = [
    "audit_events",
    "audit_head",
    "notices",
    "reception_records",
    "settings",
    "providers",
];

impl Snapshot {
    async fn take(db: &Db) -> Snapshot {
        use sqlx::{Column, Row};
        let mut c = AnyConnection::connect(&db.url).await.unwrap();
        let mut tables = Vec::new();
        for t in SNAP_TABLES {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {t}")))
                .fetch_all(&mut c)
                .await
                .unwrap();
            let cols: Vec<String> = rows
                .first()
                .map(|r| r.columns().iter().map(|c| c.name().to_owned()).collect())
                .unwrap_or_default();
            let data = rows
                .iter()
                .map(|r| {
                    (0..cols.len())
                        .map(|i| {
                            r.try_get::<Option<String>, _>(i).unwrap_or_else(|_| {
                                r.try_get::<i64, _>(i).ok().map(|v| format!("#int#{v}"))
                            })
                        })
                        .collect()
                })
                .collect();
            tables.push((t, data, cols));
        }
        c.close().await.unwrap();
        Snapshot { tables }
    }

    async fn restore(&self, db: &Db) {
        let mut c = AnyConnection::connect(&db.url).await.unwrap();
        for (t, _, _) in &self.tables {
            c.execute(sqlx::AssertSqlSafe(format!("DELETE FROM {t}")))
                .await
                .unwrap();
        }
        for (t, rows, cols) in self.tables.iter().rev() {
            for row in rows {
                let vals: Vec<String> = row
                    .iter()
                    .map(|v| match v {
                        None => "NULL".to_owned(),
                        Some(s) if s.starts_with("#int#") => s[5..].to_owned(),
                        Some(s) => format!("'{}'", s.replace('\'', "''")),
                    })
                    .collect();
                c.execute(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {t} ({}) VALUES ({})",
                    cols.join(", "),
                    vals.join(", ")
                )))
                .await
                .unwrap();
            }
        }
        c.close().await.unwrap();
    }
}

async fn ledger_directory_import(db: Db) {
    let l = &db.ledger;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("providers.csv"),
        "code,kind,name,address,representative,filing_date,filing_ref\n\
         1312345,hospital,A病院,東京都千代田区1-1,院長 A,2025-01-10,REF-1\n\
         06131234,insurer,B健保,東京都港区2-2,理事長 B,2025-01-11,REF-2\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("notices.csv"),
        "provider_code,patient,date,channel\n1312345,X1,2025-02-01,letter\n06131234,X1,2025-02-01,poster_portal\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("stops.csv"),
        "provider_code,patient,requester,relationship,received_at\n1312345,X1,bereaved,child,2025-06-01T09:00:00+09:00\n",
    )
    .unwrap();
    let s = l.import_ledger_dir(&actor(), dir.path()).await.unwrap();
    assert_eq!(
        (s.providers, s.notices, s.stops, s.receipts.len()),
        (2, 2, 1, 1)
    );
    let hosp = l.provider_by_code("1312345").await.unwrap().unwrap();
    let ins = l.provider_by_code("06131234").await.unwrap().unwrap();
    let at = t("2025-07-01");
    assert!(matches!(
        l.eligibility(&hosp.id, &pid("X1"), at)
            .await
            .unwrap()
            .reason,
        Reason::Stopped { .. }
    ));
    assert!(
        l.eligibility(&ins.id, &pid("X1"), at)
            .await
            .unwrap()
            .eligible
    );
    assert!(l.verify_audit().await.unwrap().ok);

    // A second import with one bad stop row writes nothing at all.
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::write(
        dir2.path().join("providers.csv"),
        "code,kind,name,address,representative,filing_date,filing_ref\n1399991,clinic,C医院,大阪府大阪市北区3-3,院長 C,2025-01-12,REF-3\n",
    )
    .unwrap();
    std::fs::write(
        dir2.path().join("stops.csv"),
        "provider_code,patient,requester,relationship,received_at\n1399991,Y1,person,,not-a-time\n",
    )
    .unwrap();
    let err = l
        .import_ledger_dir(&actor(), dir2.path())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("stops.csv, line 2, field received_at"),
        "{err}"
    );
    assert!(l.provider_by_code("1399991").await.unwrap().is_none());
    assert!(l.verify_audit().await.unwrap().ok);
}

async fn settings_are_validated_and_audited(db: Db) {
    let l = &db.ledger;
    assert_eq!(l.settings().await.unwrap().notice_wait_days, 30);
    let s = l
        .set_setting(&actor(), "notice_wait_days", "45")
        .await
        .unwrap();
    assert_eq!(s.notice_wait_days, 45);
    assert_eq!(
        l.set_setting(&actor(), "notice_wait_days", "-1")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Input
    );
    assert_eq!(
        l.set_setting(&actor(), "record_retention_years", "2")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Input
    );
    assert_eq!(
        l.set_setting(&actor(), "nonsense", "1")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Input
    );
    // The waiting period drives the rule.
    let id = l.add_provider(&actor(), hospital()).await.unwrap();
    let n = NewNotice::parse(id.clone(), "W1", "2025-03-01", "letter", Recipient::Person).unwrap();
    l.add_notice(&actor(), n).await.unwrap();
    assert!(
        !l.eligibility(&id, &pid("W1"), t("2025-04-01"))
            .await
            .unwrap()
            .eligible
    );
    assert!(
        l.eligibility(&id, &pid("W1"), t("2025-04-15"))
            .await
            .unwrap()
            .eligible
    );
    // Editing the setting behind tsunagu's back is caught.
    assert!(l.verify_audit().await.unwrap().ok);
    raw(
        &db,
        "UPDATE settings SET value = '0' WHERE id = 'notice_wait_days'",
    )
    .await;
    assert!(!l.verify_audit().await.unwrap().ok);
}

async fn a_wrong_store_key_is_refused(db: Db) {
    let wrong = StoreKey::from_bytes([1; 32]);
    let err = match Ledger::connect(&db.url, &wrong).await {
        Ok(_) => panic!("a wrong key must be refused"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(Ledger::connect(&db.url, &db.key).await.is_ok());
}

async fn approve(l: &Ledger, who: &Actor, id: &str, digest: &str) -> Result<String> {
    l.approve_release(
        who,
        id,
        digest,
        date("2026-12-02"),
        BTreeMap::from([("persons".to_owned(), 2u64)]),
        vec!["persons.sex".into()],
    )
    .await
}

async fn extracts_releases_and_approvals(db: Db) {
    let l = &db.ledger;
    let builder = Actor::operator("builder-1");
    let reviewer = Actor::operator("reviewer-2");
    let digest = "ab".repeat(32);
    // 1,200 members: more than one multi-row insert.
    let members: Vec<(String, String)> = (0..1200)
        .map(|i| (format!("psn-{i:06}"), format!("per-{:010}", i / 2)))
        .collect();
    l.add_extract(
        &builder,
        NewExtract {
            id: "t2d-2024".into(),
            cohort_sha256: digest.clone(),
            as_of: date("2026-12-01"),
            counts: serde_json::json!({ "persons": 600 }),
            members: members.clone(),
        },
    )
    .await
    .unwrap();
    assert!(l.extract_exists("t2d-2024").await.unwrap());
    assert_eq!(l.extract_members("t2d-2024").await.unwrap().len(), 1200);
    // The same id twice is a conflict, not a second extract.
    let again = l
        .add_extract(
            &builder,
            NewExtract {
                id: "t2d-2024".into(),
                cohort_sha256: digest.clone(),
                as_of: date("2026-12-01"),
                counts: serde_json::json!({}),
                members: vec![],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict);

    let release = |id: &str, passed: bool, members: Vec<String>| NewRelease {
        id: id.into(),
        extract_id: "t2d-2024".into(),
        policy: "anonymized-jp".into(),
        recipient: "研究者A".into(),
        request_ref: "REQ-1".into(),
        package_digest: digest.clone(),
        passed,
        summary: serde_json::json!({ "rows": { "persons": 2 } }),
        members,
    };
    let ok = l.new_release_id().unwrap();
    let failed = l.new_release_id().unwrap();
    assert_ne!(ok, failed);
    l.add_release(&builder, release(&ok, true, vec!["per-0000000000".into()]))
        .await
        .unwrap();
    l.add_release(&builder, release(&failed, false, vec![]))
        .await
        .unwrap();
    // Four-eyes: the builder cannot approve; a failed gate cannot be approved; a changed
    // package cannot be approved.
    assert_eq!(
        approve(l, &builder, &ok, &digest).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        approve(l, &reviewer, &failed, &digest)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    assert!(approve(l, &reviewer, &ok, &"cd".repeat(32)).await.is_err());
    let provision = approve(l, &reviewer, &ok, &digest).await.unwrap();
    assert_eq!(
        approve(l, &reviewer, &ok, &digest)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    let row = l.release(&ok).await.unwrap();
    assert_eq!(
        row.approval.as_ref().map(|a| a.2.as_str()),
        Some(provision.as_str())
    );
    assert_eq!(row.built_by, "builder-1");

    // Who was in what: psn-000000 (per-0000000000) is in the extract and the approved release;
    // psn-000002 (per-0000000001) only in the extract.
    let inc = l.inclusions(&["psn-000000".to_owned()]).await.unwrap();
    assert_eq!(inc.len(), 1);
    assert_eq!(inc[0].release_id.as_deref(), Some(ok.as_str()));
    assert!(inc[0].provided_at.is_some());
    let inc = l.inclusions(&["psn-000002".to_owned()]).await.unwrap();
    assert_eq!(inc.len(), 1);
    assert_eq!(inc[0].release_id, None);
    assert!(
        l.inclusions(&["psn-999999".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );

    // All of it is vouched for by the chain: a membership edited behind tsunagu's back is caught.
    assert!(l.verify_audit().await.unwrap().ok);
    raw(
        &db,
        "DELETE FROM release_members WHERE person_id = 'per-0000000000'",
    )
    .await;
    assert!(!l.verify_audit().await.unwrap().ok);
}
