//! The lake on disk: round trips, atomic and deterministic parts, encryption.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use proptest::prelude::*;
use tsunagu_lake::*;
use tsunagu_model::StoreKey;

fn key() -> StoreKey {
    StoreKey::from_bytes([0x42; 32])
}

fn part(s: &str) -> PartName {
    PartName::parse(s).unwrap()
}

fn round_trip<R: TableRow + PartialEq + std::fmt::Debug>(lake: &Lake, rows: &[R]) {
    lake.write_rows(&part("src-1"), rows).unwrap();
    assert_eq!(lake.read_rows::<R>().unwrap(), rows, "table {}", R::TABLE);
    assert_eq!(lake.row_count(R::TABLE).unwrap(), rows.len() as u64);
}

#[test]
fn every_table_round_trips_through_encrypted_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path(), &key()).unwrap();
    round_trip(&lake, &persons());
    round_trip(&lake, &encounters());
    round_trip(&lake, &conditions());
    round_trip(&lake, &medications());
    round_trip(&lake, &observations());
    round_trip(&lake, &procedures());
    round_trip(&lake, &checkups());
    round_trip(&lake, &claims());

    let counts = lake.row_counts().unwrap();
    assert_eq!(counts.len(), 8);
    assert_eq!(counts[&Table::Observations], 2);
    assert_eq!(counts[&Table::Claims], 1);

    // A second lake object over the same directory and key (a later process) reads it all.
    let again = Lake::open(dir.path(), &key()).unwrap();
    assert_eq!(again.read_rows::<Condition>().unwrap(), conditions());
    assert_eq!(again.read_table(Table::Persons).unwrap()[0].num_rows(), 2);
}

#[test]
fn parts_accumulate_and_read_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path(), &key()).unwrap();
    let c = conditions();
    lake.write_rows(&part("b"), &c[1..]).unwrap();
    lake.write_rows(&part("a"), &c[..1]).unwrap();
    assert_eq!(
        lake.parts(Table::Conditions).unwrap(),
        vec![part("a"), part("b")]
    );
    assert_eq!(lake.read_rows::<Condition>().unwrap(), c);
    assert!(lake.parts(Table::Claims).unwrap().is_empty());
    assert_eq!(lake.row_count(Table::Claims).unwrap(), 0);

    assert!(lake.remove_part(Table::Conditions, &part("a")).unwrap());
    assert!(!lake.remove_part(Table::Conditions, &part("a")).unwrap());
    assert_eq!(lake.read_rows::<Condition>().unwrap(), &c[1..]);
}

#[test]
fn rewriting_a_part_replaces_it_instead_of_adding_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path(), &key()).unwrap();
    let name = part("ssmix2-3f2a9c");
    let obs = observations();
    lake.write_rows(&name, &obs).unwrap();
    // The interrupted ingest runs again over the same file: same part name, same rows.
    lake.write_rows(&name, &obs).unwrap();
    assert_eq!(lake.row_count(Table::Observations).unwrap(), 2);
    assert_eq!(lake.parts(Table::Observations).unwrap().len(), 1);
    // A corrected source replaces the old rows.
    lake.write_rows(&name, &obs[..1]).unwrap();
    assert_eq!(lake.read_rows::<Observation>().unwrap(), &obs[..1]);
}

#[test]
fn a_crashed_write_leaves_no_visible_part() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path(), &key()).unwrap();
    let name = part("fhir-0a1b");
    let meds = medications();
    lake.write_rows(&name, &meds).unwrap();

    // A writer killed mid-write leaves its temp file: half a Parquet file for an existing
    // part, and one for a part that never finished.
    let tdir = dir.path().join("medications");
    let good = fs::read(tdir.join("fhir-0a1b.parquet")).unwrap();
    fs::write(tdir.join(".fhir-0a1b.parquet.tmp"), &good[..good.len() / 2]).unwrap();
    fs::write(tdir.join(".csv-77.parquet.tmp"), &good[..100]).unwrap();

    assert_eq!(lake.parts(Table::Medications).unwrap(), vec![name.clone()]);
    assert_eq!(lake.read_rows::<Medication>().unwrap(), meds);
    assert_eq!(lake.row_count(Table::Medications).unwrap(), 1);

    // The retried write reuses the temp name and leaves no temp file behind.
    let mut changed = meds.clone();
    changed[0].days = Some(14);
    lake.write_rows(&name, &changed).unwrap();
    assert!(!tdir.join(".fhir-0a1b.parquet.tmp").exists());
    assert_eq!(lake.read_rows::<Medication>().unwrap(), changed);
}

#[test]
fn a_failed_write_leaves_the_old_part_and_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path(), &key()).unwrap();
    let name = part("x");
    lake.write_rows(&name, &claims()).unwrap();
    // A batch of another table is refused before anything touches the disk.
    let wrong = Condition::to_batch(&conditions()).unwrap();
    let err = lake.write_part(Table::Claims, &name, &wrong).unwrap_err();
    assert!(
        matches!(
            err,
            LakeError::Schema {
                table: Table::Claims,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(lake.read_rows::<Claim>().unwrap(), claims());
    let names: Vec<_> = fs::read_dir(dir.path().join("claims"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["x.parquet".to_owned()]);
}

#[test]
fn every_single_bit_flip_is_refused_or_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path(), &key()).unwrap();
    lake.write_rows(&part("p"), &checkups()).unwrap();
    let path = dir.path().join("checkups/p.parquet");
    let good = fs::read(&path).unwrap();
    let mut accepted = 0;
    let mut tried = 0;
    // Every third byte hits every module of the file (each is far longer than three bytes)
    // and keeps the test to a few seconds in a debug build.
    for i in (0..good.len()).step_by(3) {
        tried += 1;
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        if let Ok(rows) = lake.read_rows::<Checkup>() {
            // Only the 4-byte length prefixes of encrypted modules are not covered by a GCM
            // tag; the reader takes lengths from the authenticated headers, so the data is
            // still exactly what was written.
            assert_eq!(rows, checkups(), "byte {i} changed the data");
            accepted += 1;
        }
    }
    assert!(
        accepted * 10 < tried,
        "{accepted} of {tried} flips went unnoticed"
    );
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for t in Table::ALL {
        for e in fs::read_dir(dir.join(t.name())).unwrap() {
            out.extend(fs::read(e.unwrap().path()).unwrap());
        }
    }
    out
}

#[test]
fn nothing_is_readable_in_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path(), &key()).unwrap();
    // Plant distinctive values in data, in dictionary-encoded repeats (so they would land in
    // dictionary pages and min/max statistics too), and in an id column.
    let planted_code = "ZQX-PLANTED-9731";
    let planted_name = "極秘テスト病名甲乙丙";
    let mut rows = Vec::new();
    for i in 0..50 {
        let mut c = conditions()[0].clone();
        c.code = Some(planted_code.into());
        c.name = Some(planted_name.into());
        c.person_id = PersonId::parse("psn-PLANTEDPERSON").unwrap();
        c.record_id = format!("rec-{i}");
        rows.push(c);
    }
    lake.write_rows(&part("p"), &rows).unwrap();
    lake.write_rows(&part("p"), &rows).unwrap();
    lake.write_rows(&part("q"), &persons()).unwrap();

    // Control: the same rows written without encryption, with the lake's compression, do show
    // the needles, so their absence below is the encryption's doing and not zstd's.
    let mut plain = Vec::new();
    {
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
            .build();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(&mut plain, Condition::schema(), Some(props))
                .unwrap();
        w.write(&Condition::to_batch(&rows).unwrap()).unwrap();
        w.close().unwrap();
    }
    for needle in [
        planted_code.as_bytes(),
        planted_name.as_bytes(),
        b"PLANTEDPERSON",
        b"icd10",
        b"ARROW:schema",
    ] {
        assert!(
            contains(&plain, needle),
            "control lacks {:?}",
            String::from_utf8_lossy(needle)
        );
    }

    let bytes = all_bytes(dir.path());
    for needle in [
        planted_code.as_bytes(),
        planted_name.as_bytes(),
        b"PLANTEDPERSON",
        "千代田区".as_bytes(),
        b"E11.9",
        // Column names and the Arrow schema sit in the footer: encrypted too.
        b"icd10",
        b"municipality",
        b"ARROW:schema",
    ] {
        assert!(
            !contains(&bytes, needle),
            "{:?} in plain text",
            String::from_utf8_lossy(needle)
        );
    }
    // The files are Parquet with an encrypted footer ("PARE" magic), not something else.
    assert!(bytes.starts_with(b"PARE"));
    assert_eq!(lake.read_rows::<Condition>().unwrap(), rows);
}

#[test]
fn another_key_or_no_key_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path(), &key()).unwrap();
    lake.write_rows(&part("p"), &observations()).unwrap();

    let other = Lake::open(dir.path(), &StoreKey::from_bytes([0x43; 32])).unwrap();
    let err = other.read_table(Table::Observations).unwrap_err();
    assert!(
        matches!(
            err,
            LakeError::Read {
                table: Table::Observations,
                ..
            }
        ),
        "{err}"
    );
    assert!(other.row_count(Table::Observations).is_err());
    assert!(other.read_rows::<Observation>().is_err());

    // A plain Parquet reader without keys gets an error, not data.
    let file = fs::File::open(dir.path().join("observations/p.parquet")).unwrap();
    assert!(parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).is_err());
}

#[test]
fn a_moved_or_tampered_part_fails_to_read() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path(), &key()).unwrap();
    lake.write_rows(&part("p"), &procedures()).unwrap();
    let tdir = dir.path().join("procedures");
    let good = fs::read(tdir.join("p.parquet")).unwrap();

    // Renamed: the file is bound to its name by the AAD.
    fs::write(tdir.join("q.parquet"), &good).unwrap();
    let err = lake.read_part(Table::Procedures, &part("q")).unwrap_err();
    assert!(matches!(err, LakeError::Read { .. }), "{err}");
    fs::remove_file(tdir.join("q.parquet")).unwrap();

    // Flip one byte in the data: GCM authentication catches it.
    let mut bad = good.clone();
    bad[good.len() / 3] ^= 0x01;
    fs::write(tdir.join("p.parquet"), &bad).unwrap();
    assert!(lake.read_rows::<Procedure>().is_err());

    // A garbage file under a part name is an error, not an empty table.
    fs::write(tdir.join("p.parquet"), b"not parquet").unwrap();
    assert!(lake.read_table(Table::Procedures).is_err());
}

#[test]
fn errors_never_carry_values() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path(), &key()).unwrap();
    lake.write_rows(&part("p"), &conditions()).unwrap();
    let other = Lake::open(dir.path(), &StoreKey::from_bytes([1; 32])).unwrap();
    let msg = other.read_table(Table::Conditions).unwrap_err().to_string();
    assert!(
        msg.contains("conditions") && msg.contains("part p"),
        "{msg}"
    );
    assert!(!msg.contains("糖尿病") && !msg.contains("psn-"), "{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Damaged files (bit flips anywhere, truncation) never yield wrong data and never panic.
    #[test]
    fn damaged_parts_fail_cleanly(flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..4),
                                  cut in proptest::option::of(any::<prop::sample::Index>())) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path(), &key()).unwrap();
        lake.write_rows(&part("p"), &checkups()).unwrap();
        let path = dir.path().join("checkups/p.parquet");
        let mut bytes = fs::read(&path).unwrap();
        for (at, mask) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len()));
        }
        fs::write(&path, &bytes).unwrap();
        // Either refused, or (when only a redundant module length prefix was hit) exactly the
        // rows that were written: never different data.
        if let Ok(rows) = lake.read_rows::<Checkup>() {
            prop_assert_eq!(rows, checkups());
            prop_assert!(cut.is_none());
        }
        prop_assert!(lake.row_count(Table::Checkups).is_err() || cut.is_none());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_rows_round_trip_on_disk(rows in proptest::collection::vec(observation(), 0..40)) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path(), &key()).unwrap();
        lake.write_rows(&part("p"), &rows).unwrap();
        prop_assert_eq!(lake.read_rows::<Observation>().unwrap(), rows);
    }
}
