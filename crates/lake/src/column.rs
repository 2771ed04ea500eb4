//! How one Rust field type maps to one Arrow column: the builder that accumulates it, its Arrow
//! type, and how it is read back. Every table is made of these, so a type's encoding is defined
//! once and the same everywhere.

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Date32Builder, Float64Builder, StringBuilder,
    TimestampMicrosecondBuilder, UInt32Builder,
};
use arrow_array::types::Date32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, StringArray,
    TimestampMicrosecondArray, UInt32Array,
};
use arrow_schema::{DataType, TimeUnit};
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use tsunagu_model::{Icd10Code, ProviderId, Sex};

use crate::values::{
    CheckupProgram, EncounterClass, MedicationKind, ObservationCategory, PersonId, Postal3,
    YearMonth,
};

/// Why a stored column does not decode: the row at fault (none when the whole column is wrong)
/// and the reason. Never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undecodable {
    /// The row within the batch.
    pub row: Option<usize>,
    /// Why.
    pub why: &'static str,
}

fn at(row: usize) -> impl Fn(&'static str) -> Undecodable {
    move |why| Undecodable {
        row: Some(row),
        why,
    }
}

/// A non-null value type with an Arrow encoding.
pub trait Scalar: Sized {
    /// The Arrow builder the value is appended to.
    type Builder: ArrayBuilder;
    /// A builder with room for `capacity` values.
    fn builder(capacity: usize) -> Self::Builder;
    /// The Arrow type of the column.
    fn data_type() -> DataType;
    /// Append one value.
    fn append(&self, b: &mut Self::Builder);
    /// Append a null.
    fn append_null(b: &mut Self::Builder);
    /// Decode a whole column. The error names what is wrong, never the value.
    fn decode(array: &ArrayRef) -> Result<Vec<Option<Self>>, Undecodable>;
}

/// A field of a row struct: a [`Scalar`] (required) or an `Option` of one (nullable).
pub trait Column: Sized {
    /// The value type underneath.
    type S: Scalar;
    /// Whether the column may hold nulls.
    const NULLABLE: bool;
    /// Append this field.
    fn append_to(&self, b: &mut <Self::S as Scalar>::Builder);
    /// Turn a decoded value back into the field; a null in a required column is an error.
    fn from_decoded(v: Option<Self::S>) -> Result<Self, &'static str>;
}

macro_rules! column_pair {
    ($($t:ty),* $(,)?) => {$(
        impl Column for $t {
            type S = $t;
            const NULLABLE: bool = false;
            fn append_to(&self, b: &mut <$t as Scalar>::Builder) {
                Scalar::append(self, b)
            }
            fn from_decoded(v: Option<$t>) -> Result<Self, &'static str> {
                v.ok_or("null in a required column")
            }
        }
        impl Column for Option<$t> {
            type S = $t;
            const NULLABLE: bool = true;
            fn append_to(&self, b: &mut <$t as Scalar>::Builder) {
                match self {
                    Some(v) => Scalar::append(v, b),
                    None => <$t as Scalar>::append_null(b),
                }
            }
            fn from_decoded(v: Option<$t>) -> Result<Self, &'static str> {
                Ok(v)
            }
        }
    )*};
}

column_pair!(
    String,
    bool,
    f64,
    u32,
    NaiveDate,
    NaiveDateTime,
    PersonId,
    ProviderId,
    Sex,
    Icd10Code,
    YearMonth,
    Postal3,
    EncounterClass,
    MedicationKind,
    ObservationCategory,
    CheckupProgram,
);

fn downcast<A: 'static>(array: &ArrayRef) -> Result<&A, Undecodable> {
    array.as_any().downcast_ref::<A>().ok_or(Undecodable {
        row: None,
        why: "column has the wrong Arrow type",
    })
}

/// A value stored as its text form in a Utf8 column and parsed back on read.
trait AsText: Sized {
    fn text(&self) -> &str;
    fn from_text(s: &str) -> Result<Self, &'static str>;
}

macro_rules! text_scalar {
    ($($t:ty),* $(,)?) => {$(
        impl Scalar for $t {
            type Builder = StringBuilder;
            fn builder(capacity: usize) -> StringBuilder {
                StringBuilder::with_capacity(capacity, capacity * 8)
            }
            fn data_type() -> DataType {
                DataType::Utf8
            }
            fn append(&self, b: &mut StringBuilder) {
                b.append_value(AsText::text(self))
            }
            fn append_null(b: &mut StringBuilder) {
                b.append_null()
            }
            fn decode(array: &ArrayRef) -> Result<Vec<Option<Self>>, Undecodable> {
                downcast::<StringArray>(array)?
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v.map(<$t as AsText>::from_text).transpose().map_err(at(i)))
                    .collect()
            }
        }
    )*};
}

text_scalar!(
    String,
    PersonId,
    ProviderId,
    Sex,
    Icd10Code,
    Postal3,
    EncounterClass,
    MedicationKind,
    ObservationCategory,
    CheckupProgram,
);

impl AsText for String {
    fn text(&self) -> &str {
        self
    }
    fn from_text(s: &str) -> Result<Self, &'static str> {
        Ok(s.to_owned())
    }
}

impl AsText for ProviderId {
    fn text(&self) -> &str {
        self.as_str()
    }
    fn from_text(s: &str) -> Result<Self, &'static str> {
        ProviderId::parse(s).map_err(|e| e.why)
    }
}

impl AsText for Sex {
    fn text(&self) -> &str {
        self.as_str()
    }
    fn from_text(s: &str) -> Result<Self, &'static str> {
        // Only the lake's own spelling is accepted back: anything else means the file was not
        // written by this crate.
        match s {
            "male" => Ok(Sex::Male),
            "female" => Ok(Sex::Female),
            "other" => Ok(Sex::Other),
            "unknown" => Ok(Sex::Unknown),
            _ => Err("not a sex code of the lake"),
        }
    }
}

impl AsText for Icd10Code {
    fn text(&self) -> &str {
        self.as_str()
    }
    fn from_text(s: &str) -> Result<Self, &'static str> {
        Icd10Code::parse(s).map_err(|e| e.why)
    }
}

macro_rules! text_via_values {
    ($($t:ty),* $(,)?) => {$(
        impl AsText for $t {
            fn text(&self) -> &str {
                self.as_str()
            }
            fn from_text(s: &str) -> Result<Self, &'static str> {
                <$t>::parse(s)
            }
        }
    )*};
}

text_via_values!(
    PersonId,
    Postal3,
    EncounterClass,
    MedicationKind,
    ObservationCategory,
    CheckupProgram,
);

impl Scalar for bool {
    type Builder = BooleanBuilder;
    fn builder(capacity: usize) -> BooleanBuilder {
        BooleanBuilder::with_capacity(capacity)
    }
    fn data_type() -> DataType {
        DataType::Boolean
    }
    fn append(&self, b: &mut BooleanBuilder) {
        b.append_value(*self)
    }
    fn append_null(b: &mut BooleanBuilder) {
        b.append_null()
    }
    fn decode(array: &ArrayRef) -> Result<Vec<Option<Self>>, Undecodable> {
        Ok(downcast::<BooleanArray>(array)?.iter().collect())
    }
}

impl Scalar for f64 {
    type Builder = Float64Builder;
    fn builder(capacity: usize) -> Float64Builder {
        Float64Builder::with_capacity(capacity)
    }
    fn data_type() -> DataType {
        DataType::Float64
    }
    fn append(&self, b: &mut Float64Builder) {
        b.append_value(*self)
    }
    fn append_null(b: &mut Float64Builder) {
        b.append_null()
    }
    fn decode(array: &ArrayRef) -> Result<Vec<Option<Self>>, Undecodable> {
        Ok(downcast::<Float64Array>(array)?.iter().collect())
    }
}

impl Scalar for u32 {
    type Builder = UInt32Builder;
    fn builder(capacity: usize) -> UInt32Builder {
        UInt32Builder::with_capacity(capacity)
    }
    fn data_type() -> DataType {
        DataType::UInt32
    }
    fn append(&self, b: &mut UInt32Builder) {
        b.append_value(*self)
    }
    fn append_null(b: &mut UInt32Builder) {
        b.append_null()
    }
    fn decode(array: &ArrayRef) -> Result<Vec<Option<Self>>, Undecodable> {
        Ok(downcast::<UInt32Array>(array)?.iter().collect())
    }
}

fn date_to_days(d: NaiveDate) -> i32 {
    Date32Type::from_naive_date(d)
}

fn days_to_date(days: i32) -> Result<NaiveDate, &'static str> {
    // Date32 counts days from 1970-01-01; chrono's range is narrower than i32 days.
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(719_163).ok_or("date out of range")?)
        .ok_or("date out of range")
}

impl Scalar for NaiveDate {
    type Builder = Date32Builder;
    fn builder(capacity: usize) -> Date32Builder {
        Date32Builder::with_capacity(capacity)
    }
    fn data_type() -> DataType {
        DataType::Date32
    }
    fn append(&self, b: &mut Date32Builder) {
        b.append_value(date_to_days(*self))
    }
    fn append_null(b: &mut Date32Builder) {
        b.append_null()
    }
    fn decode(array: &ArrayRef) -> Result<Vec<Option<Self>>, Undecodable> {
        downcast::<Date32Array>(array)?
            .iter()
            .enumerate()
            .map(|(i, v)| v.map(days_to_date).transpose().map_err(at(i)))
            .collect()
    }
}

impl Scalar for YearMonth {
    type Builder = Date32Builder;
    fn builder(capacity: usize) -> Date32Builder {
        Date32Builder::with_capacity(capacity)
    }
    fn data_type() -> DataType {
        DataType::Date32
    }
    fn append(&self, b: &mut Date32Builder) {
        b.append_value(date_to_days(self.first_day()))
    }
    fn append_null(b: &mut Date32Builder) {
        b.append_null()
    }
    fn decode(array: &ArrayRef) -> Result<Vec<Option<Self>>, Undecodable> {
        downcast::<Date32Array>(array)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.map(|days| {
                    let d = days_to_date(days)?;
                    if d.day() != 1 {
                        return Err("a year-month column holds a day other than the 1st");
                    }
                    YearMonth::new(d.year(), d.month()).ok_or("year-month out of range")
                })
                .transpose()
                .map_err(at(i))
            })
            .collect()
    }
}

/// Local wall-clock time in Japan (JST, no offset stored), microseconds. Sources give local
/// times without a zone (HL7 TS) far more often than zoned ones; the pipeline converts zoned
/// times to JST before they reach the lake, so one column never mixes conventions.
impl Scalar for NaiveDateTime {
    type Builder = TimestampMicrosecondBuilder;
    fn builder(capacity: usize) -> TimestampMicrosecondBuilder {
        TimestampMicrosecondBuilder::with_capacity(capacity)
    }
    fn data_type() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, None)
    }
    fn append(&self, b: &mut TimestampMicrosecondBuilder) {
        b.append_value(self.and_utc().timestamp_micros())
    }
    fn append_null(b: &mut TimestampMicrosecondBuilder) {
        b.append_null()
    }
    fn decode(array: &ArrayRef) -> Result<Vec<Option<Self>>, Undecodable> {
        let a = downcast::<TimestampMicrosecondArray>(array)?;
        if a.data_type() != &Self::data_type() {
            return Err(Undecodable {
                row: None,
                why: "timestamp column carries a time zone",
            });
        }
        a.iter()
            .enumerate()
            .map(|(i, v)| {
                v.map(|us| {
                    chrono::DateTime::from_timestamp_micros(us)
                        .map(|t| t.naive_utc())
                        .ok_or("timestamp out of range")
                })
                .transpose()
                .map_err(at(i))
            })
            .collect()
    }
}

/// Finish a builder into an array.
pub(crate) fn finish<B: ArrayBuilder>(b: &mut B) -> ArrayRef {
    ArrayBuilder::finish(b)
}
