//! The vault's behaviour, run against both backends: every test below runs once on SQLite and
//! once on a real PostgreSQL server (a fresh database each time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::{AnyConnection, Column, Connection, Row};
use tsunagu_model::{LocalPatientId, ProviderId, Sex, StoreKey};
use tsunagu_vault::*;

#[derive(Clone, Copy)]
enum Kind {
    Sqlite,
    Postgres,
}

/// An empty database of one kind; the guards drop it at the end of the test.
struct Empty {
    url: String,
    tmp: tempfile::TempDir,
    _pg: Option<tsunagu_testkit::PgDatabase>,
}

fn empty(kind: Kind) -> Empty {
    let tmp = tempfile::tempdir().unwrap();
    match kind {
        Kind::Sqlite => Empty {
            url: format!(
                "sqlite://{}?mode=rwc",
                tmp.path().join("store.sqlite").display()
            ),
            tmp,
            _pg: None,
        },
        Kind::Postgres => {
            let pg = tsunagu_testkit::postgres();
            Empty {
                url: pg.url.clone(),
                tmp,
                _pg: Some(pg),
            }
        }
    }
}

struct Db {
    vault: Vault,
    url: String,
    key: StoreKey,
    kind: Kind,
    store: Empty,
}

async fn open(kind: Kind) -> Db {
    let store = empty(kind);
    let key = StoreKey::from_bytes([42; 32]);
    let vault = Vault::connect(&store.url, &key).await.unwrap();
    Db {
        vault,
        url: store.url.clone(),
        key,
        kind,
        store,
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::open(super::Kind::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::open(super::Kind::Postgres).await).await
            }
        }
    )*};
}

both!(
    identities_round_trip_and_ids_are_deterministic,
    the_same_content_again_changes_nothing,
    changed_content_appends_a_version,
    concurrent_first_puts_store_one_version,
    batches_are_one_transaction_with_per_subject_refusals,
    shredding_makes_identity_and_sealed_data_unrecoverable,
    a_wrong_store_key_fails_cleanly,
    tampered_or_moved_ciphertext_fails_cleanly,
    no_identifier_is_stored_in_plain_text,
    blobs_are_bound_to_their_purpose_and_key,
    the_ledger_and_the_vault_share_one_database,
    subjects_are_listed_for_linkage,
);

// Planted identifiers: distinctive enough that finding one anywhere means it leaked.
const FAMILY: &str = "轟木";
const GIVEN: &str = "澄香";
const FAMILY_KANA: &str = "トドロキ";
const GIVEN_KANA: &str = "スミカ";
const PHONE: &str = "090-4817-2265";
const INSURANCE_NO: &str = "73915528";
const LOCAL_ID: &str = "K-55120347";
const ADDRESS: &str = "東京都千代田区千代田1-1-1 つなぐハイツ101";
const MY_NUMBER: &str = "428817509126";
const BIRTH: &str = "1957-03-14";

fn provider() -> ProviderId {
    ProviderId::parse("prv-0123456789").unwrap()
}

fn other_provider() -> ProviderId {
    ProviderId::parse("prv-ABCDEFGHJK").unwrap()
}

/// A well-formed patient hash (the ledger's form); tests that need the ledger's own hashing use
/// `Ledger::patient_hash`.
fn hash(n: u64) -> PatientHash {
    PatientHash::parse(&format!("{n:064x}")).unwrap()
}

fn person() -> IdentityPayload {
    IdentityPayload {
        local_patient_id: Some(LOCAL_ID.into()),
        names: vec![
            PersonName {
                kind: NameKind::Kanji,
                family: Some(FAMILY.into()),
                given: Some(GIVEN.into()),
                full: None,
            },
            PersonName {
                kind: NameKind::Kana,
                family: Some(FAMILY_KANA.into()),
                given: Some(GIVEN_KANA.into()),
                full: None,
            },
        ],
        birth_date: Some(PartialDate::parse(BIRTH).unwrap()),
        sex: Some(Sex::Female),
        addresses: vec![Address {
            postal_code: Some("1000001".into()),
            text: Some(ADDRESS.into()),
        }],
        phones: vec![PHONE.into()],
        insurance: vec![InsuranceCard {
            insurer_number: Some("06132013".into()),
            symbol: Some("つなぐ".into()),
            number: Some(INSURANCE_NO.into()),
            branch: Some("01".into()),
        }],
        other_identifiers: vec![OtherIdentifier {
            system: "urn:oid:1.2.392.200119.6.1000".into(),
            value: MY_NUMBER.into(),
        }],
        deceased: None,
    }
}

fn moved(mut p: IdentityPayload) -> IdentityPayload {
    p.addresses = vec![Address {
        postal_code: Some("5300001".into()),
        text: Some("大阪府大阪市北区梅田1-1".into()),
    }];
    p
}

async fn raw(db: &Db) -> AnyConnection {
    AnyConnection::connect(&db.url).await.unwrap()
}

async fn exec(db: &Db, sql: &str, binds: &[&str]) {
    let mut c = raw(db).await;
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = q.bind(b.to_string());
    }
    q.execute(&mut c).await.unwrap();
    c.close().await.unwrap();
}

async fn scalar(db: &Db, sql: &str, binds: &[&str]) -> Option<String> {
    let mut c = raw(db).await;
    let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = q.bind(b.to_string());
    }
    let v: Option<Option<String>> = q.fetch_optional(&mut c).await.unwrap();
    c.close().await.unwrap();
    v.flatten()
}

async fn count(db: &Db, sql: &str) -> i64 {
    let mut c = raw(db).await;
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    n
}

async fn identities_round_trip_and_ids_are_deterministic(db: Db) {
    let v = &db.vault;
    let id = v.internal_id(&provider(), &hash(1));
    assert!(id.as_str().starts_with("psn-") && id.as_str().len() == 30);
    let (got, outcome) = v
        .put_identity(&provider(), &hash(1), &person())
        .await
        .unwrap();
    assert_eq!((got.clone(), outcome), (id.clone(), PutOutcome::New));
    let versions = v.identity(&id).await.unwrap().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].version, 1);
    assert_eq!(versions[0].payload, person().canonical());
    assert_eq!(
        versions[0].payload.names[0].family.as_deref(),
        Some(FAMILY),
        "kanji sorts before kana"
    );

    // The id depends on both the provider and the patient hash, and nothing else.
    assert_ne!(v.internal_id(&other_provider(), &hash(1)), id);
    assert_ne!(v.internal_id(&provider(), &hash(2)), id);
    let again = Vault::connect(&db.url, &db.key).await.unwrap();
    assert_eq!(again.internal_id(&provider(), &hash(1)), id);
    assert_eq!(
        again.identity(&id).await.unwrap().unwrap()[0].payload,
        person().canonical()
    );
    // Another store key (another installation) gives unrelated ids for the same person.
    let elsewhere = empty(db.kind);
    let other = Vault::connect(&elsewhere.url, &StoreKey::from_bytes([7; 32]))
        .await
        .unwrap();
    assert_ne!(other.internal_id(&provider(), &hash(1)), id);

    // Unknown subjects are absent; a subject without identity has an empty history.
    assert_eq!(
        v.identity(&v.internal_id(&provider(), &hash(9)))
            .await
            .unwrap(),
        None
    );
    let bare = v.ensure_subject(&provider(), &hash(3)).await.unwrap();
    assert_eq!(bare, v.internal_id(&provider(), &hash(3)));
    assert_eq!(v.identity(&bare).await.unwrap(), Some(vec![]));
    assert_eq!(v.ensure_subject(&provider(), &hash(3)).await.unwrap(), bare);
    // A subject created bare keeps its key: its first identity is New and opens.
    let (_, o) = v
        .put_identity(&provider(), &hash(3), &person())
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::New);
    assert_eq!(v.identity(&bare).await.unwrap().unwrap().len(), 1);
}

async fn the_same_content_again_changes_nothing(db: Db) {
    let v = &db.vault;
    v.put_identity(&provider(), &hash(1), &person())
        .await
        .unwrap();
    let (_, o) = v
        .put_identity(&provider(), &hash(1), &person())
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::Unchanged);
    // The same facts in another order, with a duplicate, are the same content.
    let mut shuffled = person();
    shuffled.names.reverse();
    shuffled.phones.push(PHONE.into());
    let (_, o) = v
        .put_identity(&provider(), &hash(1), &shuffled)
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::Unchanged);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM vault_identities").await, 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM vault_subjects").await, 1);
    // The same content for another person is that person's own first version.
    let (_, o) = v
        .put_identity(&provider(), &hash(2), &person())
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::New);
    // Digests are keyed per subject: equal content gives unrelated digests.
    let digests = count(
        &db,
        "SELECT COUNT(DISTINCT content_digest) FROM vault_identities",
    )
    .await;
    assert_eq!(digests, 2);
}

async fn changed_content_appends_a_version(db: Db) {
    let v = &db.vault;
    let (id, _) = v
        .put_identity(&provider(), &hash(1), &person())
        .await
        .unwrap();
    let (_, o) = v
        .put_identity(&provider(), &hash(1), &moved(person()))
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::Updated);
    // Re-ingesting the older file is not a change: that content is already held.
    let (_, o) = v
        .put_identity(&provider(), &hash(1), &person())
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::Unchanged);
    let mut married = moved(person());
    married.names[0].family = Some("佐久間".into());
    let (_, o) = v
        .put_identity(&provider(), &hash(1), &married)
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::Updated);
    let versions = v.identity(&id).await.unwrap().unwrap();
    let numbers: Vec<u32> = versions.iter().map(|x| x.version).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(versions[0].payload, person().canonical());
    assert_eq!(versions[1].payload, moved(person()).canonical());
    assert_eq!(versions[2].payload, married.canonical());
    assert!(
        versions
            .windows(2)
            .all(|w| w[0].recorded_at <= w[1].recorded_at)
    );
}

async fn concurrent_first_puts_store_one_version(db: Db) {
    let v = std::sync::Arc::new(db.vault);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let v = v.clone();
        tasks.push(tokio::spawn(async move {
            // Half write one content, half another: at most two versions, numbered 1 and 2.
            let p = if i % 2 == 0 {
                person()
            } else {
                moved(person())
            };
            v.put_identity(&provider(), &hash(1), &p).await.unwrap().1
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == PutOutcome::New).count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == PutOutcome::Updated)
            .count(),
        1
    );
    let id = v.internal_id(&provider(), &hash(1));
    let versions = v.identity(&id).await.unwrap().unwrap();
    assert_eq!(
        versions.iter().map(|x| x.version).collect::<Vec<_>>(),
        [1, 2]
    );
}

async fn batches_are_one_transaction_with_per_subject_refusals(db: Db) {
    let v = &db.vault;
    v.shred(&provider(), &hash(2)).await.unwrap();
    let items = vec![
        (provider(), hash(1), person()),
        (provider(), hash(2), person()),
        (provider(), hash(1), person()),
        (other_provider(), hash(1), moved(person())),
    ];
    let kinds = |rs: Vec<Result<(InternalId, PutOutcome)>>| -> Vec<Result<PutOutcome, ErrorKind>> {
        rs.into_iter()
            .map(|r| r.map(|(_, o)| o).map_err(|e| e.kind()))
            .collect()
    };
    let first = v.put_identities(&items).await.unwrap();
    // Results are in input order and carry the same ids as single puts would.
    assert_eq!(
        first[3].as_ref().unwrap().0,
        v.internal_id(&other_provider(), &hash(1))
    );
    assert_eq!(
        kinds(first),
        [
            Ok(PutOutcome::New),
            Err(ErrorKind::Shredded),
            Ok(PutOutcome::Unchanged),
            Ok(PutOutcome::New),
        ]
    );
    assert_eq!(
        kinds(v.put_identities(&items).await.unwrap()),
        [
            Ok(PutOutcome::Unchanged),
            Err(ErrorKind::Shredded),
            Ok(PutOutcome::Unchanged),
            Ok(PutOutcome::Unchanged),
        ]
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM vault_identities").await, 2);
    let id = v.internal_id(&other_provider(), &hash(1));
    assert_eq!(
        v.identity(&id).await.unwrap().unwrap()[0].payload,
        moved(person()).canonical()
    );
    assert!(v.put_identities(&[]).await.unwrap().is_empty());
}

async fn shredding_makes_identity_and_sealed_data_unrecoverable(db: Db) {
    let v = &db.vault;
    let (a, _) = v
        .put_identity(&provider(), &hash(1), &person())
        .await
        .unwrap();
    v.put_identity(&provider(), &hash(1), &moved(person()))
        .await
        .unwrap();
    let (b, _) = v
        .put_identity(&provider(), &hash(2), &person())
        .await
        .unwrap();
    let held_a = v.seal_for(&a, b"held record of A").await.unwrap();
    let held_b = v.seal_for(&b, b"held record of B").await.unwrap();
    assert_eq!(v.open_for(&a, &held_a).await.unwrap(), b"held record of A");
    // Sealed data belongs to its subject only.
    assert_eq!(
        v.open_for(&b, &held_a).await.unwrap_err().kind(),
        ErrorKind::Crypto
    );

    let (id, o) = v.shred(&provider(), &hash(1)).await.unwrap();
    assert_eq!((id, o), (a.clone(), ShredOutcome::Destroyed));
    assert_eq!(
        v.shred(&provider(), &hash(1)).await.unwrap().1,
        ShredOutcome::AlreadyShredded
    );
    assert!(v.is_shredded(&provider(), &hash(1)).await.unwrap());
    assert!(!v.is_shredded(&provider(), &hash(2)).await.unwrap());

    // The ciphertexts stay; the wrapped key is gone.
    let a_rows = format!(
        "SELECT COUNT(*) FROM vault_identities WHERE internal_id = '{}'",
        a.as_str()
    );
    assert_eq!(count(&db, &a_rows).await, 2);
    assert_eq!(
        scalar(
            &db,
            "SELECT wrapped_dek FROM vault_subjects WHERE internal_id = $1",
            &[a.as_str()]
        )
        .await,
        None
    );
    // Every way in fails cleanly, naming the subject and nothing else.
    let err = v.identity(&a).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shredded);
    assert!(err.to_string().contains(a.as_str()), "{err}");
    assert_eq!(
        v.open_for(&a, &held_a).await.unwrap_err().kind(),
        ErrorKind::Shredded
    );
    assert_eq!(
        v.seal_for(&a, b"x").await.unwrap_err().kind(),
        ErrorKind::Shredded
    );
    assert_eq!(
        v.put_identity(&provider(), &hash(1), &person())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Shredded
    );
    assert_eq!(
        v.ensure_subject(&provider(), &hash(1))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Shredded
    );
    // No other key in the store opens A's data: planting B's wrapped key in A's row fails too.
    let b_wrapped = scalar(
        &db,
        "SELECT wrapped_dek FROM vault_subjects WHERE internal_id = $1",
        &[b.as_str()],
    )
    .await
    .unwrap();
    exec(
        &db,
        "UPDATE vault_subjects SET wrapped_dek = $1 WHERE internal_id = $2",
        &[&b_wrapped, a.as_str()],
    )
    .await;
    assert_eq!(v.identity(&a).await.unwrap_err().kind(), ErrorKind::Crypto);
    assert_eq!(
        v.open_for(&a, &held_a).await.unwrap_err().kind(),
        ErrorKind::Crypto
    );

    // The other subject is untouched.
    assert_eq!(v.identity(&b).await.unwrap().unwrap().len(), 1);
    assert_eq!(v.open_for(&b, &held_b).await.unwrap(), b"held record of B");

    // A stop before any data leaves a tombstone that keeps the person out.
    let (c, o) = v.shred(&provider(), &hash(3)).await.unwrap();
    assert_eq!(o, ShredOutcome::Tombstoned);
    assert!(v.is_shredded(&provider(), &hash(3)).await.unwrap());
    assert_eq!(
        v.put_identity(&provider(), &hash(3), &person())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Shredded
    );
    assert_eq!(
        v.identity(&c).await.unwrap_err().kind(),
        ErrorKind::Shredded
    );
}

async fn a_wrong_store_key_fails_cleanly(db: Db) {
    let v = &db.vault;
    let (id, _) = v
        .put_identity(&provider(), &hash(1), &person())
        .await
        .unwrap();
    let held = v.seal_for(&id, b"held").await.unwrap();
    let blob = v.seal_blob("quarantine", b"raw input").unwrap();
    let wrong = StoreKey::from_bytes([43; 32]);
    let err = Vault::connect(&db.url, &wrong).await.unwrap_err();
    assert!(matches!(err, Error::WrongStoreKey), "{err}");
    assert_eq!(err.kind(), ErrorKind::Crypto);

    // Even with the check value removed (a restored or hand-edited database), the wrong key
    // opens nothing: authenticated decryption fails, it never yields garbage.
    exec(&db, "DELETE FROM vault_meta", &[]).await;
    let w = Vault::connect(&db.url, &wrong).await.unwrap();
    let err = w.identity(&id).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decrypt {
                what: "data key",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        w.open_for(&id, &held).await.unwrap_err().kind(),
        ErrorKind::Crypto
    );
    assert_eq!(
        w.seal_for(&id, b"x").await.unwrap_err().kind(),
        ErrorKind::Crypto
    );
    assert_eq!(
        w.open_blob("quarantine", &blob).unwrap_err().kind(),
        ErrorKind::Crypto
    );
    // The right key still works.
    let right = Vault::connect(&db.url, &db.key).await;
    // The wrong key claimed the check value; the right one is now refused at connect...
    assert!(matches!(right, Err(Error::WrongStoreKey)));
    // ...but its data is intact and opens once the check value is reset.
    exec(&db, "DELETE FROM vault_meta", &[]).await;
    let right = Vault::connect(&db.url, &db.key).await.unwrap();
    assert_eq!(
        right.identity(&id).await.unwrap().unwrap()[0].payload,
        person().canonical()
    );
    assert_eq!(right.open_for(&id, &held).await.unwrap(), b"held");
}

async fn tampered_or_moved_ciphertext_fails_cleanly(db: Db) {
    let v = &db.vault;
    let (a, _) = v
        .put_identity(&provider(), &hash(1), &person())
        .await
        .unwrap();
    v.put_identity(&provider(), &hash(1), &moved(person()))
        .await
        .unwrap();
    let (b, _) = v
        .put_identity(&provider(), &hash(2), &person())
        .await
        .unwrap();
    let get = |version: &str| {
        format!(
            "SELECT sealed FROM vault_identities WHERE internal_id = '{}' AND version = {version}",
            a.as_str()
        )
    };
    let v1 = scalar(&db, &get("1"), &[]).await.unwrap();
    let v2 = scalar(&db, &get("2"), &[]).await.unwrap();
    let set_v1 = format!(
        "UPDATE vault_identities SET sealed = $1 WHERE internal_id = '{}' AND version = 1",
        a.as_str()
    );

    // One flipped hex digit in the ciphertext.
    let mut flipped: Vec<u8> = v1.clone().into_bytes();
    let i = flipped.len() / 2;
    flipped[i] = if flipped[i] == b'0' { b'1' } else { b'0' };
    exec(&db, &set_v1, &[std::str::from_utf8(&flipped).unwrap()]).await;
    let err = v.identity(&a).await.unwrap_err();
    assert!(
        matches!(&err, Error::Decrypt { what: "identity version", subject: Some(s) } if *s == a),
        "{err}"
    );

    // A valid ciphertext moved to another version, or to another subject, does not open.
    exec(&db, &set_v1, &[&v2]).await;
    assert_eq!(v.identity(&a).await.unwrap_err().kind(), ErrorKind::Crypto);
    exec(
        &db,
        "UPDATE vault_identities SET sealed = $1 WHERE internal_id = $2",
        &[&v1, b.as_str()],
    )
    .await;
    assert_eq!(v.identity(&b).await.unwrap_err().kind(), ErrorKind::Crypto);

    // Restored, it opens again: the failures above were the tampering, nothing else.
    exec(&db, &set_v1, &[&v1]).await;
    assert_eq!(v.identity(&a).await.unwrap().unwrap().len(), 2);

    // Stored data that is not even hex is reported as corrupt, not as a crash.
    exec(&db, &set_v1, &["not hex"]).await;
    assert_eq!(v.identity(&a).await.unwrap_err().kind(), ErrorKind::Corrupt);

    // A tampered held record fails the same way.
    let held = v.seal_for(&b, b"held").await.unwrap();
    let mut bytes = held.into_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    let tampered = Sealed::from_bytes(bytes).unwrap();
    assert_eq!(
        v.open_for(&b, &tampered).await.unwrap_err().kind(),
        ErrorKind::Crypto
    );
}

/// Every value of every column of the vault's tables, as text.
async fn dump(db: &Db) -> String {
    let mut c = raw(db).await;
    let mut out = String::new();
    for table in ["vault_meta", "vault_subjects", "vault_identities"] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(&mut c)
            .await
            .unwrap();
        for row in rows {
            for col in row.columns() {
                let i = col.ordinal();
                if let Ok(s) = row.try_get::<Option<String>, _>(i) {
                    out.push_str(&s.unwrap_or_default());
                } else if let Ok(n) = row.try_get::<Option<i64>, _>(i) {
                    out.push_str(&n.map(|n| n.to_string()).unwrap_or_default());
                } else {
                    panic!(
                        "{table}.{}: a column of a type the dump cannot read",
                        col.name()
                    );
                }
                out.push('\n');
            }
        }
    }
    c.close().await.unwrap();
    out
}

async fn no_identifier_is_stored_in_plain_text(db: Db) {
    let v = &db.vault;
    let (id, _) = v
        .put_identity(&provider(), &hash(1), &person())
        .await
        .unwrap();
    v.put_identity(&provider(), &hash(1), &moved(person()))
        .await
        .unwrap();
    v.seal_for(&id, PHONE.as_bytes()).await.unwrap();
    let text = dump(&db).await;
    // The dump holds what was written: the ids and hashes in the clear, all else sealed.
    assert!(text.contains(id.as_str()) && text.contains(hash(1).as_str()));
    let planted = [
        FAMILY,
        GIVEN,
        FAMILY_KANA,
        GIVEN_KANA,
        PHONE,
        INSURANCE_NO,
        LOCAL_ID,
        ADDRESS,
        MY_NUMBER,
        BIRTH,
        "梅田",
    ];
    for secret in planted {
        assert!(!text.contains(secret), "{secret} stored in plain text");
        assert!(
            !text.contains(&hex::encode(secret)),
            "{secret} stored as plain hex"
        );
    }
    // On SQLite, grep the database files themselves (pages, journal, free space).
    if let Kind::Sqlite = db.kind {
        db.vault.close().await;
        let mut bytes = Vec::new();
        for e in std::fs::read_dir(db.store.tmp.path()).unwrap() {
            bytes.extend(std::fs::read(e.unwrap().path()).unwrap());
        }
        assert!(bytes.len() > 4096, "the database files were read");
        let hay = String::from_utf8_lossy(&bytes);
        for secret in planted {
            assert!(!hay.contains(secret), "{secret} in the database file");
        }
    }
}

async fn blobs_are_bound_to_their_purpose_and_key(db: Db) {
    let v = &db.vault;
    let input = format!("{FAMILY} {GIVEN},{PHONE}").into_bytes();
    let sealed = v.seal_blob("quarantine/v1", &input).unwrap();
    assert!(
        !String::from_utf8_lossy(sealed.as_bytes()).contains(PHONE),
        "sealed bytes hold no plaintext"
    );
    assert_eq!(v.open_blob("quarantine/v1", &sealed).unwrap(), input);
    let back = Sealed::from_hex(&sealed.to_hex()).unwrap();
    assert_eq!(v.open_blob("quarantine/v1", &back).unwrap(), input);
    assert_eq!(
        v.open_blob("held/v1", &sealed).unwrap_err().kind(),
        ErrorKind::Crypto
    );
    for bad in ["", "Quarantine", "quarantine list", &"q".repeat(65)] {
        assert_eq!(
            v.seal_blob(bad, b"x").unwrap_err().kind(),
            ErrorKind::Input,
            "{bad:?}"
        );
    }
    // Another store's vault cannot open it.
    let elsewhere = empty(db.kind);
    let other = Vault::connect(&elsewhere.url, &StoreKey::from_bytes([9; 32]))
        .await
        .unwrap();
    assert_eq!(
        other
            .open_blob("quarantine/v1", &sealed)
            .unwrap_err()
            .kind(),
        ErrorKind::Crypto
    );
}

async fn the_ledger_and_the_vault_share_one_database(db: Db) {
    use tsunagu_ledger::Ledger;
    // The vault migrated first; the ledger must accept the vault's migration and vice versa.
    let ledger = Ledger::connect(&db.url, &db.key).await.unwrap();
    let vault = Vault::connect(&db.url, &db.key).await.unwrap();
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM _sqlx_migrations WHERE version IN (1, 1001)"
        )
        .await,
        2
    );
    // And in the other order, on a fresh database.
    let fresh = empty(db.kind);
    let l2 = Ledger::connect(&fresh.url, &db.key).await.unwrap();
    let v2 = Vault::connect(&fresh.url, &db.key).await.unwrap();
    let l3 = Ledger::connect(&fresh.url, &db.key).await.unwrap();
    l2.close().await;
    l3.close().await;
    v2.close().await;

    // The ledger's keyed hash is what the vault files people under; a raw id is refused.
    let local = LocalPatientId::parse(LOCAL_ID).unwrap();
    let h = PatientHash::parse(&ledger.patient_hash(&provider(), &local)).unwrap();
    let (id, o) = vault
        .put_identity(&provider(), &h, &person())
        .await
        .unwrap();
    assert_eq!(o, PutOutcome::New);
    assert_eq!(id, vault.internal_id(&provider(), &h));
    let err = PatientHash::parse(local.expose()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Input);
    assert!(!err.to_string().contains(LOCAL_ID), "{err}");
}

async fn subjects_are_listed_for_linkage(db: Db) {
    let v = &db.vault;
    v.put_identity(&provider(), &hash(1), &person())
        .await
        .unwrap();
    v.put_identity(&other_provider(), &hash(1), &person())
        .await
        .unwrap();
    v.ensure_subject(&provider(), &hash(2)).await.unwrap();
    v.shred(&provider(), &hash(2)).await.unwrap();
    let list = v.subjects().await.unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.windows(2).all(|w| w[0].internal_id < w[1].internal_id));
    for s in &list {
        assert_eq!(s.internal_id, v.internal_id(&s.provider, &s.patient_hash));
        assert_eq!(s.shredded, s.patient_hash == hash(2));
    }
    let providers: std::collections::BTreeSet<_> =
        list.iter().map(|s| s.provider.clone()).collect();
    assert_eq!(providers.len(), 2);
    // Debug output of what linkage handles carries no identity content.
    let shown = format!("{list:?} {:?}", v.identity(&list[0].internal_id).await);
    for secret in [FAMILY, PHONE, INSURANCE_NO, LOCAL_ID, BIRTH] {
        assert!(!shown.contains(secret), "{secret} in Debug output");
    }
}
