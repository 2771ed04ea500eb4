//! Row → RecordBatch → row round trips of every table, and the schemas the tables promise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arrow_schema::{DataType, TimeUnit};
use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use tsunagu_lake::*;

fn batch_round_trip<R: TableRow + PartialEq + std::fmt::Debug>(
    rows: &[R],
) -> Result<(), TestCaseError> {
    let batch = R::to_batch(rows).unwrap();
    prop_assert_eq!(batch.num_rows(), rows.len());
    prop_assert_eq!(batch.schema(), R::schema());
    prop_assert_eq!(R::from_batch(&batch).unwrap(), rows);
    // Builders are reusable: a second batch from the same builder holds only its own rows.
    let mut b = R::Builder::default();
    for r in rows {
        b.push(r);
    }
    prop_assert_eq!(b.len(), rows.len());
    let first = b.finish().unwrap();
    prop_assert!(b.is_empty());
    if let Some(r) = rows.first() {
        b.push(r);
    }
    let second = b.finish().unwrap();
    prop_assert_eq!(R::from_batch(&first).unwrap(), rows);
    prop_assert_eq!(second.num_rows(), rows.len().min(1));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn persons_round_trip(rows in vec(person(), 0..20)) { batch_round_trip(&rows)?; }
    #[test]
    fn encounters_round_trip(rows in vec(encounter(), 0..20)) { batch_round_trip(&rows)?; }
    #[test]
    fn conditions_round_trip(rows in vec(condition(), 0..20)) { batch_round_trip(&rows)?; }
    #[test]
    fn medications_round_trip(rows in vec(medication(), 0..20)) { batch_round_trip(&rows)?; }
    #[test]
    fn observations_round_trip(rows in vec(observation(), 0..20)) { batch_round_trip(&rows)?; }
    #[test]
    fn procedures_round_trip(rows in vec(procedure(), 0..20)) { batch_round_trip(&rows)?; }
    #[test]
    fn checkups_round_trip(rows in vec(checkup(), 0..20)) { batch_round_trip(&rows)?; }
    #[test]
    fn claims_round_trip(rows in vec(claim(), 0..20)) { batch_round_trip(&rows)?; }
}

#[test]
fn schemas_are_as_documented() {
    let s = Person::schema();
    let f = |n: &str| s.field_with_name(n).unwrap().clone();
    assert_eq!(f("person_id").data_type(), &DataType::Utf8);
    assert!(!f("person_id").is_nullable());
    assert_eq!(f("birth_month").data_type(), &DataType::Date32);
    assert!(f("birth_month").is_nullable());
    // The persons table has no column that could hold a direct identifier.
    let names: Vec<_> = s.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "person_id",
            "provider_id",
            "sex",
            "birth_month",
            "deceased_date",
            "postal3",
            "municipality"
        ]
    );
    let o = Observation::schema();
    assert_eq!(
        o.field_with_name("value").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(
        o.field_with_name("effective").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    assert_eq!(
        Claim::schema().field_with_name("line").unwrap().data_type(),
        &DataType::UInt32
    );
    for t in Table::ALL {
        let s = schema_of(t);
        assert_eq!(s.field(0).name(), "person_id", "{t}");
        assert_eq!(s.field(1).name(), "provider_id", "{t}");
    }
}

#[test]
fn foreign_batches_are_refused_by_name_not_value() {
    // A batch of another table does not decode as this one.
    let batch = Condition::to_batch(&conditions()).unwrap();
    let err = Claim::from_batch(&batch).unwrap_err();
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

    // A batch with the right shape but a value the column type rules out: the error names the
    // column and row, not the value.
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use std::sync::Arc;
    let good = Person::to_batch(&persons()).unwrap();
    let mut cols: Vec<ArrayRef> = good.columns().to_vec();
    cols[0] = Arc::new(StringArray::from(vec!["psn-1", "山田太郎"]));
    let bad = RecordBatch::try_new(Person::schema(), cols).unwrap();
    let err = Person::from_batch(&bad).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("person_id") && msg.contains("row 1"), "{msg}");
    assert!(!msg.contains("山田"), "{msg}");
}
