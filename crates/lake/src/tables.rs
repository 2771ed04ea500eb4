//! The tables: one row struct each, its Arrow schema, and a builder that accumulates rows column
//! by column into a [`RecordBatch`].
//!
//! Column names are the field names; Arrow types follow from the field types (see
//! [`crate::column`]): text → Utf8, `bool` → Boolean, `f64` → Float64, `u32` → UInt32,
//! [`NaiveDate`] → Date32, [`NaiveDateTime`] → Timestamp(µs) holding Japan local wall time,
//! [`YearMonth`] → Date32 of the month's first day. `Option` fields are nullable, the rest are
//! not.
//!
//! What no table may hold: names, kana, addresses below the 3-digit postal area, phone numbers,
//! e-mail, insurance card numbers, My Number, the provider's patient id, or any other direct
//! identifier. Those are the vault's. Every id column here (`person_id`, `encounter_id`,
//! `record_id`, `claim_id`) is internal: made by tsunagu, never copied from a source.

use std::sync::{Arc, LazyLock};

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema, SchemaRef};
use chrono::{NaiveDate, NaiveDateTime};
use tsunagu_model::{Icd10Code, ProviderId, Sex};

use crate::LakeError;
use crate::column::{Column, Scalar, finish};
use crate::values::{
    CheckupProgram, EncounterClass, MedicationKind, ObservationCategory, PersonId, Postal3, Table,
    YearMonth,
};

/// A row type of one table.
pub trait TableRow: Sized {
    /// The table.
    const TABLE: Table;
    /// Its builder.
    type Builder: RowBuilder<Row = Self> + Default;
    /// The table's Arrow schema.
    fn schema() -> SchemaRef;
    /// Decode the rows of a batch with the table's schema.
    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>, LakeError>;
    /// Encode rows as one batch.
    fn to_batch(rows: &[Self]) -> Result<RecordBatch, LakeError> {
        let mut b = Self::Builder::default();
        b.reserve(rows.len());
        for r in rows {
            b.push(r);
        }
        b.finish()
    }
}

/// Accumulates rows of one table, column by column.
pub trait RowBuilder {
    /// The row type.
    type Row;
    /// Make room for `additional` more rows.
    fn reserve(&mut self, additional: usize);
    /// Append a row.
    fn push(&mut self, row: &Self::Row);
    /// Rows appended since the last [`RowBuilder::finish`].
    fn len(&self) -> usize;
    /// Whether no row was appended since the last finish.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The batch of the rows appended so far; the builder is empty afterwards.
    fn finish(&mut self) -> Result<RecordBatch, LakeError>;
}

/// Check that a batch has exactly the table's columns, types and nullability, in order.
pub(crate) fn check_schema(table: Table, want: &Schema, got: &Schema) -> Result<(), LakeError> {
    if want.fields().len() != got.fields().len() {
        return Err(LakeError::Schema {
            table,
            column: String::new(),
            why: "wrong number of columns",
        });
    }
    for (w, g) in want.fields().iter().zip(got.fields().iter()) {
        let why = if w.name() != g.name() {
            "column name or order differs"
        } else if w.data_type() != g.data_type() {
            "Arrow type differs"
        } else if w.is_nullable() != g.is_nullable() {
            "nullability differs"
        } else {
            continue;
        };
        return Err(LakeError::Schema {
            table,
            column: w.name().clone(),
            why,
        });
    }
    Ok(())
}

fn decode_column<T: Column>(
    table: Table,
    column: &'static str,
    batch: &RecordBatch,
) -> Result<Vec<T>, LakeError> {
    let array: &ArrayRef = batch.column_by_name(column).ok_or(LakeError::Schema {
        table,
        column: column.to_owned(),
        why: "column missing",
    })?;
    let decoded = <T::S as Scalar>::decode(array).map_err(|e| LakeError::Decode {
        table,
        column,
        row: e.row,
        why: e.why,
    })?;
    decoded
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            T::from_decoded(v).map_err(|why| LakeError::Decode {
                table,
                column,
                row: Some(i),
                why,
            })
        })
        .collect()
}

macro_rules! table {
    (
        $(#[$m:meta])*
        $row:ident, $builder:ident, $table:expr;
        $( $(#[$fm:meta])* $field:ident : $ty:ty ),+ $(,)?
    ) => {
        $(#[$m])*
        ///
        /// Holds clinical data about a person: never log or print its values.
        #[derive(Debug, Clone, PartialEq)]
        pub struct $row {
            $( $(#[$fm])* pub $field: $ty, )+
        }

        #[doc = concat!("Accumulates [`", stringify!($row), "`] rows column by column.")]
        pub struct $builder {
            len: usize,
            $( $field: <<$ty as Column>::S as Scalar>::Builder, )+
        }

        impl $builder {
            /// A builder with room for `capacity` rows.
            pub fn with_capacity(capacity: usize) -> Self {
                $builder {
                    len: 0,
                    $( $field: <<$ty as Column>::S as Scalar>::builder(capacity), )+
                }
            }
        }

        impl Default for $builder {
            fn default() -> Self {
                Self::with_capacity(0)
            }
        }

        impl RowBuilder for $builder {
            type Row = $row;
            fn reserve(&mut self, additional: usize) {
                // Arrow builders grow geometrically; replacing an empty builder with a sized
                // one avoids the repeated copies for the common "whole batch at once" case.
                if self.len == 0 {
                    *self = Self::with_capacity(additional);
                }
            }
            fn push(&mut self, row: &$row) {
                $( Column::append_to(&row.$field, &mut self.$field); )+
                self.len += 1;
            }
            fn len(&self) -> usize {
                self.len
            }
            fn finish(&mut self) -> Result<RecordBatch, LakeError> {
                self.len = 0;
                let columns: Vec<ArrayRef> = vec![ $( finish(&mut self.$field), )+ ];
                RecordBatch::try_new(<$row as TableRow>::schema(), columns)
                    .map_err(|e| LakeError::Internal(e.to_string()))
            }
        }

        impl TableRow for $row {
            const TABLE: Table = $table;
            type Builder = $builder;
            fn schema() -> SchemaRef {
                static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
                    Arc::new(Schema::new(vec![ $(
                        Field::new(
                            stringify!($field),
                            <<$ty as Column>::S as Scalar>::data_type(),
                            <$ty as Column>::NULLABLE,
                        ),
                    )+ ]))
                });
                Arc::clone(&SCHEMA)
            }
            fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>, LakeError> {
                check_schema(Self::TABLE, &Self::schema(), batch.schema_ref())?;
                let n = batch.num_rows();
                $(
                    let mut $field =
                        decode_column::<$ty>(Self::TABLE, stringify!($field), batch)?.into_iter();
                )+
                let mut rows = Vec::with_capacity(n);
                for row in 0..n {
                    rows.push($row {
                        $( $field: $field.next().ok_or(LakeError::Decode {
                            table: Self::TABLE,
                            column: stringify!($field),
                            row: Some(row),
                            why: "column shorter than the batch",
                        })?, )+
                    });
                }
                Ok(rows)
            }
        }
    };
}

table! {
    /// `persons`: one row per person per provider, the non-identifying facts about them.
    /// The birth date is coarsened to its month here (the full date is in the vault), and the
    /// residence to the 3-digit postal area and the municipality.
    Person, PersonsBuilder, Table::Persons;
    /// Internal person id.
    person_id: PersonId,
    /// The provider that sent the record.
    provider_id: ProviderId,
    /// Administrative sex.
    sex: Sex,
    /// Month of birth (Date32 of the 1st).
    birth_month: Option<YearMonth>,
    /// Date of death, when recorded.
    deceased_date: Option<NaiveDate>,
    /// First three digits of the postal code of residence.
    postal3: Option<Postal3>,
    /// Municipality of residence by name (市区町村, e.g. `千代田区`), never anything finer.
    municipality: Option<String>,
}

table! {
    /// `encounters`: visits and admissions.
    Encounter, EncountersBuilder, Table::Encounters;
    /// Internal person id.
    person_id: PersonId,
    /// The provider.
    provider_id: ProviderId,
    /// Internal encounter id, made by tsunagu (never the source's visit number).
    encounter_id: String,
    /// Outpatient, inpatient, emergency…
    class: Option<EncounterClass>,
    /// Start (admission), Japan local time.
    start: Option<NaiveDateTime>,
    /// End (discharge), Japan local time.
    end: Option<NaiveDateTime>,
    /// 診療科 code as the source gave it (e.g. JHSD table or local code).
    department_code: Option<String>,
    /// 診療科 name (内科, 小児科…).
    department: Option<String>,
}

table! {
    /// `conditions`: diagnoses (病名).
    Condition, ConditionsBuilder, Table::Conditions;
    /// Internal person id.
    person_id: PersonId,
    /// The provider.
    provider_id: ProviderId,
    /// Internal record id (stable across re-ingests of the same source record).
    record_id: String,
    /// Internal encounter id, when the diagnosis belongs to one.
    encounter_id: Option<String>,
    /// ICD-10 code, dot form (`E11.9`).
    icd10: Option<Icd10Code>,
    /// The source's code system for `code` (`medis-disease`, `snomed`…).
    code_system: Option<String>,
    /// The source's own code (e.g. MEDIS 病名交換用コード).
    code: Option<String>,
    /// The disease name as given (a name of a disease, not of a person).
    name: Option<String>,
    /// 疑い病名.
    suspected: bool,
    /// 主病名.
    primary: bool,
    /// Onset date.
    onset: Option<NaiveDate>,
    /// Date recorded.
    recorded: Option<NaiveDate>,
    /// Date resolved (転帰日).
    abated: Option<NaiveDate>,
    /// Clinical status or outcome as given (active, resolved, 治癒, 死亡…).
    status: Option<String>,
}

table! {
    /// `medications`: prescriptions, injections, administrations, dispensings.
    Medication, MedicationsBuilder, Table::Medications;
    /// Internal person id.
    person_id: PersonId,
    /// The provider.
    provider_id: ProviderId,
    /// Internal record id.
    record_id: String,
    /// Internal encounter id, when known.
    encounter_id: Option<String>,
    /// Prescription, injection…
    kind: MedicationKind,
    /// Code system of `code` (`yj`, `hot`, `rxnorm`…).
    code_system: Option<String>,
    /// The medicine's code.
    code: Option<String>,
    /// The medicine's name as given.
    name: Option<String>,
    /// Dose (per day for Japanese prescriptions, per administration otherwise, as the source
    /// states it).
    dose: Option<f64>,
    /// Unit of `dose` as written (錠, mg, mL…).
    unit: Option<String>,
    /// 用法 or route as written.
    usage: Option<String>,
    /// Days supplied (日数).
    days: Option<u32>,
    /// Start (prescribed or given) date.
    start: Option<NaiveDate>,
    /// End date.
    end: Option<NaiveDate>,
    /// Status as given.
    status: Option<String>,
}

table! {
    /// `observations`: lab results, vital signs, body measurements.
    Observation, ObservationsBuilder, Table::Observations;
    /// Internal person id.
    person_id: PersonId,
    /// The provider.
    provider_id: ProviderId,
    /// Internal record id.
    record_id: String,
    /// Internal encounter id, when known.
    encounter_id: Option<String>,
    /// Laboratory, vital signs…
    category: ObservationCategory,
    /// Code system of `code` (`jlac10`, `loinc`…).
    code_system: Option<String>,
    /// What was measured.
    code: Option<String>,
    /// Its name as given.
    name: Option<String>,
    /// Numeric value.
    value: Option<f64>,
    /// The value as written: the exact decimal of a numeric result (`4.90`, so no float
    /// rounding is lost), or the text / coded answer of a non-numeric one.
    value_text: Option<String>,
    /// Unit as written.
    unit: Option<String>,
    /// Reference range as written.
    reference_range: Option<String>,
    /// Abnormal flag (H, L, N…).
    interpretation: Option<String>,
    /// When observed or sampled, Japan local time.
    effective: Option<NaiveDateTime>,
    /// Status as given (final, preliminary…).
    status: Option<String>,
}

table! {
    /// `procedures`: procedures performed.
    Procedure, ProceduresBuilder, Table::Procedures;
    /// Internal person id.
    person_id: PersonId,
    /// The provider.
    provider_id: ProviderId,
    /// Internal record id.
    record_id: String,
    /// Internal encounter id, when known.
    encounter_id: Option<String>,
    /// Code system of `code` (`jj1017`, `receipt`, `snomed`…).
    code_system: Option<String>,
    /// What was done.
    code: Option<String>,
    /// Its name as given.
    name: Option<String>,
    /// When, Japan local time.
    performed: Option<NaiveDateTime>,
    /// Status as given.
    status: Option<String>,
}

table! {
    /// `checkups`: items of 特定健診, school and infant check-ups.
    Checkup, CheckupsBuilder, Table::Checkups;
    /// Internal person id.
    person_id: PersonId,
    /// The provider (insurer, municipality or school operator).
    provider_id: ProviderId,
    /// Internal record id.
    record_id: String,
    /// The programme.
    program: CheckupProgram,
    /// Date of the check-up.
    date: Option<NaiveDate>,
    /// Code system of `code` (`jlac10`, `tokutei-item`, `loinc`…).
    code_system: Option<String>,
    /// The item (height, HbA1c…).
    code: Option<String>,
    /// Its name as given.
    name: Option<String>,
    /// Numeric value.
    value: Option<f64>,
    /// The value as written (exact decimal) or a non-numeric result.
    value_text: Option<String>,
    /// Unit as written.
    unit: Option<String>,
}

table! {
    /// `claims`: lines of insurance claims (レセプト).
    Claim, ClaimsBuilder, Table::Claims;
    /// Internal person id.
    person_id: PersonId,
    /// The provider (the insurer or the claiming facility).
    provider_id: ProviderId,
    /// Internal record id of the line.
    record_id: String,
    /// Internal claim id (one per レセプト), made by tsunagu.
    claim_id: String,
    /// 診療年月: the month the claim covers.
    service_month: YearMonth,
    /// 医療機関コード of the claiming facility (identifies a facility, not a person).
    facility_code: Option<String>,
    /// 1-based line within the claim.
    line: u32,
    /// Record kind of the line (SI 診療行為, IY 医薬品, TO 特定器材, SY 傷病名…).
    kind: String,
    /// Code system of `code` (`receipt`, `yj`, `icd10`…).
    code_system: Option<String>,
    /// The receipt code.
    code: Option<String>,
    /// Its name as given.
    name: Option<String>,
    /// Quantity.
    quantity: Option<f64>,
    /// Points (点数) of the line, or units (単位) of a care-service line, when given.
    points: Option<f64>,
    /// 要介護状態区分 (care level) on lines of long-term-care claims.
    care_level: Option<String>,
}
