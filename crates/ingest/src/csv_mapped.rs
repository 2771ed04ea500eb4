//! CSV read through a mapping file: which column is which field, the date format, the encoding
//! (UTF-8, Shift_JIS / CP932, EUC-JP, ISO-2022-JP via encoding_rs) and the kind of record each
//! row is.
//!
//! A mapping is TOML:
//!
//! ```toml
//! record = "identity"        # identity | condition | observation | medication | encounter |
//!                            # procedure | checkup | claim
//! encoding = "cp932"         # utf-8 (default) | shift_jis | cp932 | euc-jp | iso-2022-jp
//! delimiter = ","            # one ASCII character (default ",")
//! header = true              # the first line names the columns (default true)
//! date_format = "%Y/%m/%d"   # chrono format; omitted: ISO, yyyyMMdd, yyyy/M/d, 年月日, era dates
//!
//! [columns]                  # field = header name, or 1-based column number
//! local_patient_id = "患者ID"
//! family_name = "姓"
//! birth_date = 5
//!
//! [constants]                # field = a value every row has (optional)
//! code_system = "jlac10"
//! ```
//!
//! Every record kind also has an optional `provider_code` field: when the pipeline knows which
//! provider is sending (it always does), a row naming another provider is refused, so that a
//! multi-provider extract cannot slip one provider's patients in under another's notice.
//!
//! [`Mapping::builtin_for_header`] recognises the files of the flat layout `tsunagu synth` writes
//! (`identities.csv`, `encounters.csv`, `diagnoses.csv`, `prescriptions.csv`, `dispensings.csv`,
//! `labs.csv`, `vitals.csv`, `checkups.csv`, `care.csv`, `claims.csv`) by their header line.
//!
//! [`Mapping::jp_identity`] is the built-in mapping of the Japanese identity layout
//! (`id,family_name,given_name,family_name_kana,given_name_kana,birth_date,sex,postal_code,
//! address,phone,insurer_number,insured_symbol,insured_number,insured_branch`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use tsunagu_model::{Icd10Code, LocalPatientId, PostalCode, Sex};

use crate::normalise::{self, FlagKind, Flags};
use crate::record::{
    Address, Batch, Body, ClaimLine, Clinical, ClinicalData, CodeSystem, Coded, Condition, Decimal,
    Encounter, EncounterClass, EntryKind, Identity, InsuranceCard, Medication, MedicationKind,
    NameKind, Observation, ObservationStatus, ObservationValue, PersonName, Position, Procedure,
    Quantity, Reason, Record, RecordStatus, Rejected, SourceFile, SubjectKey, When,
};

/// A mapping file that cannot be used. Says what is wrong with the mapping (which is not
/// personal data), never quotes input rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// Not valid TOML, or keys of the wrong type.
    #[error("mapping is not valid: {0}")]
    Toml(String),
    /// An unknown record kind.
    #[error(
        "unknown record kind {0:?} (identity, condition, observation, medication, encounter, procedure, checkup, claim)"
    )]
    Record(String),
    /// An unknown encoding.
    #[error("unknown encoding {0:?} (utf-8, shift_jis, cp932, euc-jp, iso-2022-jp)")]
    Encoding(String),
    /// A column mapped to a field the record kind does not have.
    #[error("field {field:?} does not exist for {record} records")]
    UnknownField {
        /// The field.
        field: String,
        /// The record kind.
        record: &'static str,
    },
    /// A required field is not mapped.
    #[error("field {0:?} must be mapped")]
    Required(&'static str),
    /// A column given as a number must be 1 or more; numbers need `header = false` or work with it.
    #[error("column numbers start at 1 (field {0:?})")]
    ColumnNumber(String),
    /// The delimiter must be one ASCII character.
    #[error("the delimiter must be one ASCII character")]
    Delimiter,
    /// The header line lacks a mapped column.
    #[error("the header has no column {0:?}")]
    MissingColumn(String),
}

/// The kind of record each row becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// An identity (vault).
    Identity,
    /// A diagnosis.
    Condition,
    /// A lab result or measurement.
    Observation,
    /// A prescription.
    Medication,
    /// A visit.
    Encounter,
    /// A procedure.
    Procedure,
    /// An item of a check-up (特定健診, infant or school check-up).
    Checkup,
    /// A line of an insurance or care claim.
    Claim,
}

impl RecordKind {
    fn parse(s: &str) -> Result<Self, MappingError> {
        Ok(match s {
            "identity" => RecordKind::Identity,
            "condition" => RecordKind::Condition,
            "observation" => RecordKind::Observation,
            "medication" => RecordKind::Medication,
            "encounter" => RecordKind::Encounter,
            "procedure" => RecordKind::Procedure,
            "checkup" => RecordKind::Checkup,
            "claim" => RecordKind::Claim,
            other => return Err(MappingError::Record(other.to_owned())),
        })
    }

    fn name(self) -> &'static str {
        match self {
            RecordKind::Identity => "identity",
            RecordKind::Condition => "condition",
            RecordKind::Observation => "observation",
            RecordKind::Medication => "medication",
            RecordKind::Encounter => "encounter",
            RecordKind::Procedure => "procedure",
            RecordKind::Checkup => "checkup",
            RecordKind::Claim => "claim",
        }
    }

    /// The fields a record kind has. `local_patient_id` is required for all.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            RecordKind::Identity => &[
                "local_patient_id",
                "provider_code",
                "family_name",
                "given_name",
                "family_name_kana",
                "given_name_kana",
                "full_name",
                "full_name_kana",
                "birth_date",
                "sex",
                "postal_code",
                "address",
                "phone",
                "insurer_number",
                "insured_symbol",
                "insured_number",
                "insured_branch",
            ],
            RecordKind::Condition => &[
                "local_patient_id",
                "provider_code",
                "source_id",
                "encounter_id",
                "code",
                "code_system",
                "display",
                "icd10",
                "onset",
                "recorded",
                "abated",
                "status",
                "primary",
                "suspected",
            ],
            RecordKind::Observation => &[
                "local_patient_id",
                "provider_code",
                "source_id",
                "encounter_id",
                "category",
                "code",
                "code_system",
                "display",
                "value",
                "unit",
                "reference_range",
                "reference_low",
                "reference_high",
                "interpretation",
                "effective",
                "status",
            ],
            RecordKind::Medication => &[
                "local_patient_id",
                "provider_code",
                "source_id",
                "encounter_id",
                "code",
                "code_system",
                "display",
                "dose",
                "dose_unit",
                "total",
                "total_unit",
                "route",
                "start",
                "end",
                "days",
                "kind",
            ],
            RecordKind::Encounter => &[
                "local_patient_id",
                "provider_code",
                "source_id",
                "class",
                "start",
                "end",
                "department",
            ],
            RecordKind::Procedure => &[
                "local_patient_id",
                "provider_code",
                "source_id",
                "encounter_id",
                "code",
                "code_system",
                "display",
                "performed",
                "status",
            ],
            RecordKind::Checkup => &[
                "local_patient_id",
                "provider_code",
                "source_id",
                "program",
                "date",
                "code",
                "code_system",
                "display",
                "value",
                "unit",
            ],
            RecordKind::Claim => &[
                "local_patient_id",
                "provider_code",
                "source_id",
                "claim_id",
                "month",
                "facility_code",
                "line",
                "kind",
                "code",
                "code_system",
                "display",
                "quantity",
                "points",
                "care_level",
            ],
        }
    }
}

/// Where a field is: a header name or a 1-based column number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Column {
    /// By header name.
    Name(String),
    /// By 1-based number.
    Number(i64),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    record: String,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    delimiter: Option<String>,
    #[serde(default)]
    header: Option<bool>,
    #[serde(default)]
    date_format: Option<String>,
    columns: BTreeMap<String, Column>,
    #[serde(default)]
    constants: BTreeMap<String, String>,
}

/// A checked mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Record kind.
    pub record: RecordKind,
    /// Text encoding of the file.
    pub encoding: &'static encoding_rs::Encoding,
    /// Field delimiter.
    pub delimiter: u8,
    /// Whether the first line is a header.
    pub header: bool,
    /// chrono date format, when fixed.
    pub date_format: Option<String>,
    /// field → column.
    pub columns: BTreeMap<&'static str, Column>,
    /// field → a value every row has, used where no column gives one.
    pub constants: BTreeMap<&'static str, String>,
    /// The code of the provider sending the file, when known: rows whose `provider_code` names
    /// another provider are refused. Set by the pipeline, not by mapping files.
    pub provider_code: Option<String>,
}

/// The identity fields of the Japanese layout, each under its own header name (shared by the
/// built-in identity mapping and the synth layout's, which adds `provider_code`).
macro_rules! jp_identity_columns {
    () => {
        r#"local_patient_id = "id"
family_name = "family_name"
given_name = "given_name"
family_name_kana = "family_name_kana"
given_name_kana = "given_name_kana"
birth_date = "birth_date"
sex = "sex"
postal_code = "postal_code"
address = "address"
phone = "phone"
insurer_number = "insurer_number"
insured_symbol = "insured_symbol"
insured_number = "insured_number"
insured_branch = "insured_branch"
"#
    };
}

/// The built-in Japanese identity layout, as a mapping file (the same as [`Mapping::jp_identity`]).
pub const JP_IDENTITY_TOML: &str = concat!(
    "record = \"identity\"\nencoding = \"utf-8\"\nheader = true\n\n[columns]\n",
    jp_identity_columns!()
);

fn encoding_by_name(name: &str) -> Result<&'static encoding_rs::Encoding, MappingError> {
    let n = name.trim().to_ascii_lowercase().replace('_', "-");
    Ok(match n.as_str() {
        "utf-8" | "utf8" => encoding_rs::UTF_8,
        // encoding_rs's Shift_JIS is the WHATWG one, i.e. Windows-31J / CP932 with NEC and IBM
        // extensions, which is what Japanese systems actually write.
        "shift-jis" | "sjis" | "cp932" | "windows-31j" | "ms932" => encoding_rs::SHIFT_JIS,
        "euc-jp" | "eucjp" => encoding_rs::EUC_JP,
        "iso-2022-jp" | "jis" => encoding_rs::ISO_2022_JP,
        _ => return Err(MappingError::Encoding(name.to_owned())),
    })
}

impl Mapping {
    /// Parse and check a mapping file.
    pub fn from_toml(text: &str) -> Result<Self, MappingError> {
        let f: MappingFile =
            toml::from_str(text).map_err(|e| MappingError::Toml(e.message().to_owned()))?;
        let record = RecordKind::parse(&f.record)?;
        let encoding = encoding_by_name(f.encoding.as_deref().unwrap_or("utf-8"))?;
        let delimiter = match f.delimiter.as_deref() {
            None => b',',
            Some("\\t") | Some("\t") => b'\t',
            Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            Some(_) => return Err(MappingError::Delimiter),
        };
        let known_field = |field: String| -> Result<&'static str, MappingError> {
            record
                .fields()
                .iter()
                .find(|k| **k == field)
                .copied()
                .ok_or(MappingError::UnknownField {
                    field,
                    record: record.name(),
                })
        };
        let mut constants = BTreeMap::new();
        for (field, value) in f.constants {
            if field == "local_patient_id" {
                return Err(MappingError::Required("local_patient_id"));
            }
            constants.insert(known_field(field)?, value);
        }
        let mut columns = BTreeMap::new();
        for (field, col) in f.columns {
            let known = known_field(field.clone())?;
            if let Column::Number(n) = col
                && n < 1
            {
                return Err(MappingError::ColumnNumber(field));
            }
            columns.insert(known, col);
        }
        if !columns.contains_key("local_patient_id") {
            return Err(MappingError::Required("local_patient_id"));
        }
        Ok(Mapping {
            record,
            encoding,
            delimiter,
            header: f.header.unwrap_or(true),
            date_format: f.date_format,
            columns,
            constants,
            provider_code: None,
        })
    }

    /// The same mapping, refusing rows that name a provider other than `code`.
    pub fn for_provider(mut self, code: &str) -> Self {
        self.provider_code = Some(code.to_owned()).filter(|c| !c.is_empty());
        self
    }

    /// The built-in mapping of a file of the `tsunagu synth` flat layout, recognised by its
    /// header line (UTF-8, an optional BOM and trailing CR allowed). `None` for any other file.
    pub fn builtin_for_header(first_line: &[u8]) -> Option<Self> {
        let line = first_line
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(first_line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let header = std::str::from_utf8(line).ok()?;
        SYNTH_LAYOUT
            .iter()
            .find(|(h, _)| *h == header)
            .and_then(|(_, toml)| Mapping::from_toml(toml).ok())
    }

    /// The built-in Japanese identity layout (UTF-8, header line, ISO dates).
    pub fn jp_identity() -> Self {
        // The constant is checked by a unit test; a failure here is a programming error caught
        // there, so fall back to an empty (unusable) mapping rather than panic.
        Mapping::from_toml(JP_IDENTITY_TOML).unwrap_or(Mapping {
            record: RecordKind::Identity,
            encoding: encoding_rs::UTF_8,
            delimiter: b',',
            header: true,
            date_format: None,
            columns: BTreeMap::new(),
            constants: BTreeMap::new(),
            provider_code: None,
        })
    }
}

/// The flat CSV layout `tsunagu synth` writes (see the synth crate's README): header line and
/// the mapping that reads it. Each file's `provider_code` column is checked against the sender.
pub const SYNTH_LAYOUT: [(&str, &str); 10] = [
    (
        "id,family_name,given_name,family_name_kana,given_name_kana,birth_date,sex,postal_code,address,phone,insurer_number,insured_symbol,insured_number,insured_branch,provider_code",
        concat!(
            "record = \"identity\"\n[columns]\nprovider_code = \"provider_code\"\n",
            jp_identity_columns!()
        ),
    ),
    (
        "provider_code,patient_id,encounter_id,class,start,end,department",
        r#"record = "encounter"
[columns]
local_patient_id = "patient_id"
provider_code = "provider_code"
source_id = "encounter_id"
class = "class"
start = "start"
end = "end"
department = "department"
"#,
    ),
    (
        "provider_code,patient_id,encounter_id,date,icd10,name,suspected,main",
        r#"record = "condition"
[columns]
local_patient_id = "patient_id"
provider_code = "provider_code"
encounter_id = "encounter_id"
recorded = "date"
icd10 = "icd10"
code = "icd10"
display = "name"
suspected = "suspected"
primary = "main"
[constants]
code_system = "icd10"
"#,
    ),
    (
        "provider_code,patient_id,encounter_id,order_id,date,yj_code,drug_name,daily_dose,unit,usage,days",
        r#"record = "medication"
[columns]
local_patient_id = "patient_id"
provider_code = "provider_code"
encounter_id = "encounter_id"
start = "date"
code = "yj_code"
display = "drug_name"
dose = "daily_dose"
dose_unit = "unit"
route = "usage"
days = "days"
[constants]
code_system = "yj"
kind = "prescription"
"#,
    ),
    (
        "provider_code,patient_id,date,yj_code,drug_name,daily_dose,unit,days,prescriber_code",
        r#"record = "medication"
[columns]
local_patient_id = "patient_id"
provider_code = "provider_code"
start = "date"
code = "yj_code"
display = "drug_name"
dose = "daily_dose"
dose_unit = "unit"
days = "days"
[constants]
code_system = "yj"
kind = "dispensing"
"#,
    ),
    (
        "provider_code,patient_id,encounter_id,order_id,date,jlac10,loinc,name,value,unit,ref_low,ref_high,flag",
        r#"record = "observation"
[columns]
local_patient_id = "patient_id"
provider_code = "provider_code"
encounter_id = "encounter_id"
effective = "date"
code = "jlac10"
display = "name"
value = "value"
unit = "unit"
reference_low = "ref_low"
reference_high = "ref_high"
interpretation = "flag"
[constants]
code_system = "jlac10"
category = "laboratory"
"#,
    ),
    (
        "provider_code,patient_id,encounter_id,date,code,loinc,name,value,unit",
        r#"record = "observation"
[columns]
local_patient_id = "patient_id"
provider_code = "provider_code"
encounter_id = "encounter_id"
effective = "date"
code = "code"
display = "name"
value = "value"
unit = "unit"
[constants]
code_system = "jlac10"
category = "vital-signs"
"#,
    ),
    (
        "provider_code,patient_id,date,program,code,loinc,name,value,unit",
        r#"record = "checkup"
[columns]
local_patient_id = "patient_id"
provider_code = "provider_code"
date = "date"
program = "program"
code = "code"
display = "name"
value = "value"
unit = "unit"
[constants]
code_system = "jlac10"
"#,
    ),
    (
        "provider_code,patient_id,month,service_code,service_name,care_level,units",
        r#"record = "claim"
[columns]
local_patient_id = "patient_id"
provider_code = "provider_code"
month = "month"
code = "service_code"
display = "service_name"
care_level = "care_level"
points = "units"
[constants]
kind = "care"
code_system = "kaigo-service"
quantity = "1"
"#,
    ),
    (
        "provider_code,patient_id,claim_id,month,facility_code,line,kind,code,name,quantity",
        r#"record = "claim"
[columns]
local_patient_id = "patient_id"
provider_code = "provider_code"
claim_id = "claim_id"
month = "month"
facility_code = "facility_code"
line = "line"
kind = "kind"
code = "code"
display = "name"
quantity = "quantity"
"#,
    ),
];

/// Limits for CSV input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file (bytes).
    pub max_file_bytes: usize,
    /// Longest field (characters).
    pub max_field_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 1 << 30,
            max_field_chars: 4096,
        }
    }
}

/// Read one CSV file with a mapping. A file that cannot be decoded, or whose header lacks a
/// mapped column, is rejected whole; otherwise each row is accepted or rejected on its own.
pub fn read(file: &Arc<SourceFile>, bytes: &[u8], mapping: &Mapping, limits: &Limits) -> Batch {
    let mut batch = Batch::default();
    let whole = |reason: Reason, entry: Option<u64>| {
        let pos = match entry {
            Some(n) => Position::entry(file, EntryKind::Line, n),
            None => Position::file(file),
        };
        Rejected::new(pos, "file", reason).with_raw(bytes)
    };
    if bytes.len() > limits.max_file_bytes {
        batch.read = 1;
        batch.rejected.push(whole(
            Reason::TooLarge {
                limit: limits.max_file_bytes as u64,
                unit: "bytes",
            },
            None,
        ));
        return batch;
    }
    let body = if mapping.encoding == encoding_rs::UTF_8 {
        bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
    } else {
        bytes
    };
    let Some(text) = mapping
        .encoding
        .decode_without_bom_handling_and_without_replacement(body)
    else {
        // Find the first line that does not decode, to point the provider at it.
        let line = body
            .split(|b| *b == b'\n')
            .position(|l| {
                mapping
                    .encoding
                    .decode_without_bom_handling_and_without_replacement(l)
                    .is_none()
            })
            .map(|i| i as u64 + 1);
        batch.read = 1;
        batch
            .rejected
            .push(whole(Reason::Encoding(mapping.encoding.name()), line));
        return batch;
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = rdr.records();
    // Resolve columns to 0-based indices.
    let mut index: Vec<(&'static str, usize)> = Vec::new();
    let mut header_len = None;
    if mapping.header {
        let header = match records.next() {
            Some(Ok(h)) => h,
            Some(Err(e)) => {
                batch.read = 1;
                batch
                    .rejected
                    .push(whole(Reason::Syntax(csv_error(&e)), Some(1)));
                return batch;
            }
            None => return batch,
        };
        header_len = Some(header.len());
        for (field, col) in &mapping.columns {
            let i = match col {
                Column::Name(name) => header
                    .iter()
                    .position(|h| h.trim().trim_start_matches('\u{FEFF}') == name),
                Column::Number(n) => usize::try_from(*n - 1).ok().filter(|i| *i < header.len()),
            };
            match i {
                Some(i) => index.push((field, i)),
                None => {
                    batch.read = 1;
                    batch.rejected.push(whole(
                        Reason::Invalid("the header lacks a column the mapping names"),
                        Some(1),
                    ));
                    return batch;
                }
            }
        }
    } else {
        for (field, col) in &mapping.columns {
            match col {
                Column::Number(n) => {
                    index.push((field, usize::try_from(*n - 1).unwrap_or(usize::MAX)))
                }
                Column::Name(_) => {
                    batch.read = 1;
                    batch.rejected.push(whole(
                        Reason::Invalid("columns must be numbers when header = false"),
                        None,
                    ));
                    return batch;
                }
            }
        }
    }
    let mut start = rdr_position(&records);
    // Line numbers counted here: the csv crate's own count drifts over blank lines.
    let (mut counted_to, mut line_at) = (0usize, 1u64);
    while let Some(row) = records.next() {
        let end = rdr_position(&records);
        // Blank lines before the record belong to no row.
        let row_start = text.get(start..end).map_or(start, |t| {
            start + (t.len() - t.trim_start_matches(['\r', '\n']).len())
        });
        let raw = text.get(row_start..end).unwrap_or("").as_bytes();
        if let Some(t) = text.get(counted_to..row_start) {
            line_at += t.bytes().filter(|b| *b == b'\n').count() as u64;
            counted_to = row_start;
        }
        let line = line_at;
        start = end;
        batch.read += 1;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                batch.rejected.push(
                    Rejected::new(
                        Position::entry(file, EntryKind::Line, line),
                        "row",
                        Reason::Syntax(csv_error(&e)),
                    )
                    .with_raw(raw),
                );
                continue;
            }
        };
        let pos = Position::entry(file, EntryKind::Line, line);
        if row.iter().all(|f| f.trim().is_empty()) {
            batch.read -= 1;
            continue;
        }
        if header_len.is_some_and(|n| n != row.len()) {
            batch.rejected.push(
                Rejected::new(pos, "row", Reason::Invalid("wrong number of columns")).with_raw(raw),
            );
            continue;
        }
        let get = Row {
            row: &row,
            index: &index,
            constants: &mapping.constants,
        };
        if let Some((field, _)) = index.iter().find(|(_, i)| {
            row.get(*i)
                .is_some_and(|v| v.chars().count() > limits.max_field_chars)
        }) {
            batch.rejected.push(
                Rejected::new(
                    pos,
                    *field,
                    Reason::TooLarge {
                        limit: limits.max_field_chars as u64,
                        unit: "characters",
                    },
                )
                .with_raw(raw),
            );
            continue;
        }
        let mut flags = Flags::default();
        match build(mapping, &get, &mut flags) {
            Ok(body) => batch.records.push(Record {
                position: pos,
                status: RecordStatus::Active,
                flags: flags.0,
                body,
            }),
            Err((field, reason)) => batch
                .rejected
                .push(Rejected::new(pos, field, reason).with_raw(raw)),
        }
    }
    batch
}

fn rdr_position(records: &csv::StringRecordsIter<'_, &[u8]>) -> usize {
    usize::try_from(records.reader().position().byte()).unwrap_or(usize::MAX)
}

/// A csv error described without its data.
fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid text".into(),
        csv::ErrorKind::UnequalLengths { .. } => "wrong number of columns".into(),
        _ => "malformed CSV".into(),
    }
}

type Built<T> = Result<T, (&'static str, Reason)>;

/// One CSV row seen through the mapping.
struct Row<'r> {
    row: &'r csv::StringRecord,
    index: &'r [(&'static str, usize)],
    constants: &'r BTreeMap<&'static str, String>,
}

impl<'r> Row<'r> {
    /// The trimmed, non-empty value of a mapped field: its column's, or else the constant's.
    fn get(&self, field: &str) -> Option<&'r str> {
        self.index
            .iter()
            .find(|(f, _)| *f == field)
            .and_then(|(_, i)| self.row.get(*i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                self.constants
                    .get(field)
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
            })
    }
}

fn date(
    mapping: &Mapping,
    field: &'static str,
    s: Option<&str>,
    flags: &mut Flags,
) -> Built<Option<When>> {
    let Some(s) = s else { return Ok(None) };
    let d = match &mapping.date_format {
        Some(fmt) => {
            let t = normalise::narrow_digits(s);
            chrono::NaiveDate::parse_from_str(&t, fmt)
                .map(When::Date)
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(&t, fmt).map(When::Local))
                .map_err(|_| {
                    (
                        field,
                        Reason::Invalid("date does not match the mapping's date_format"),
                    )
                })?
        }
        None => {
            match normalise::parse_date(s) {
                Ok(d) => {
                    if normalise::is_era_form(s) {
                        flags.push(field, FlagKind::EraDateConverted);
                    }
                    When::Date(d)
                }
                Err(e) => {
                    // Date-times in ISO form are accepted where a time makes sense.
                    match normalise::parse_fhir_datetime(s) {
                        Ok(w) if !matches!(w, When::Year(_) | When::Month(..)) => w,
                        _ => return Err((field, Reason::Invalid(date_reason(e)))),
                    }
                }
            }
        }
    };
    Ok(Some(d))
}

fn date_reason(e: normalise::DateError) -> &'static str {
    match e {
        normalise::DateError::Syntax => "not a date",
        normalise::DateError::NoSuchDay => "no such calendar day",
        normalise::DateError::OutsideEra => "the date lies outside its Japanese era",
    }
}

fn code(row: &Row<'_>, flags: &mut Flags) -> Option<Coded> {
    let code = row.get("code").map(str::to_owned);
    let display = row.get("display").and_then(|d| flags.text("display", d));
    if code.is_none() && display.is_none() {
        return None;
    }
    Some(Coded {
        system: CodeSystem::from_name(row.get("code_system").unwrap_or("")),
        code: code.unwrap_or_default(),
        display,
    })
}

fn quantity(
    value: Option<&str>,
    unit: Option<&str>,
    field: &'static str,
    flags: &mut Flags,
) -> Built<Option<Quantity>> {
    let Some(v) = value else { return Ok(None) };
    let value = Decimal::parse(v).ok_or((field, Reason::Invalid("not a number")))?;
    Ok(Some(Quantity {
        value,
        unit: unit.and_then(|u| flags.text(field, u)),
    }))
}

fn flag_bool(s: Option<&str>) -> bool {
    matches!(
        s.map(str::to_ascii_lowercase).as_deref(),
        Some("1" | "true" | "yes" | "y" | "○" | "〇")
    )
}

fn build(mapping: &Mapping, row: &Row<'_>, flags: &mut Flags) -> Built<Body> {
    let id_text = row
        .get("local_patient_id")
        .ok_or(("local_patient_id", Reason::Missing))?;
    let patient =
        LocalPatientId::parse(id_text).map_err(|e| ("local_patient_id", Reason::Invalid(e.why)))?;
    if let (Some(expected), Some(named)) = (&mapping.provider_code, row.get("provider_code"))
        && normalise::narrow_digits(named) != *expected
    {
        return Err((
            "provider_code",
            Reason::Invalid("the row names another provider than the one sending the file"),
        ));
    }
    let subject = SubjectKey::local(&patient);
    let clinical = |data: ClinicalData, row: &Row<'_>| {
        Body::Clinical(Clinical {
            subject: Some(subject.clone()),
            source_id: row.get("source_id").map(str::to_owned),
            encounter: row.get("encounter_id").map(str::to_owned),
            data,
        })
    };
    Ok(match mapping.record {
        RecordKind::Identity => {
            let mut id = Identity::new(subject.clone());
            id.local_patient_id = Some(patient);
            let mut name = |kind, fam: &'static str, giv: &'static str, full: &'static str| {
                let family = row.get(fam).and_then(|s| flags.text(fam, s));
                let given = row.get(giv).and_then(|s| flags.text(giv, s));
                let full = row.get(full).and_then(|s| flags.text(full, s));
                (family.is_some() || given.is_some() || full.is_some()).then_some(PersonName {
                    kind,
                    family,
                    given,
                    full,
                })
            };
            id.names.extend(name(
                NameKind::Kanji,
                "family_name",
                "given_name",
                "full_name",
            ));
            id.names.extend(name(
                NameKind::Kana,
                "family_name_kana",
                "given_name_kana",
                "full_name_kana",
            ));
            id.birth_date = date(mapping, "birth_date", row.get("birth_date"), flags)?;
            if let Some(s) = row.get("sex") {
                id.sex = Some(Sex::parse(s).map_err(|e| ("sex", Reason::Invalid(e.why)))?);
            }
            let postal_code = match row.get("postal_code") {
                None => None,
                Some(p) => Some(
                    PostalCode::parse(p).map_err(|e| ("postal_code", Reason::Invalid(e.why)))?,
                ),
            };
            let text = row.get("address").and_then(|a| flags.text("address", a));
            if postal_code.is_some() || text.is_some() {
                id.addresses.push(Address { postal_code, text });
            }
            if let Some(p) = row.get("phone").and_then(|p| flags.text("phone", p)) {
                id.phones.push(p);
            }
            let card = InsuranceCard {
                insurer_number: row
                    .get("insurer_number")
                    .and_then(|s| flags.text("insurer_number", s)),
                symbol: row
                    .get("insured_symbol")
                    .and_then(|s| flags.text("insured_symbol", s)),
                number: row
                    .get("insured_number")
                    .and_then(|s| flags.text("insured_number", s)),
                branch: row
                    .get("insured_branch")
                    .and_then(|s| flags.text("insured_branch", s)),
            };
            if card.insurer_number.is_some()
                || card.symbol.is_some()
                || card.number.is_some()
                || card.branch.is_some()
            {
                id.insurance.push(card);
            }
            Body::Identity(Box::new(id))
        }
        RecordKind::Condition => {
            let icd10: Option<Icd10Code> = match row.get("icd10") {
                None => None,
                Some(c) => Some(
                    normalise::check_icd10(c, "icd10", flags)
                        .map_err(|_| ("icd10", Reason::BadCode("ICD-10")))?,
                ),
            };
            let code = code(row, flags);
            if code.is_none() && icd10.is_none() {
                return Err(("code", Reason::Missing));
            }
            clinical(
                ClinicalData::Condition(Condition {
                    code,
                    icd10,
                    onset: date(mapping, "onset", row.get("onset"), flags)?,
                    recorded: date(mapping, "recorded", row.get("recorded"), flags)?,
                    abated: date(mapping, "abated", row.get("abated"), flags)?,
                    status: row.get("status").and_then(|s| flags.text("status", s)),
                    primary: flag_bool(row.get("primary")),
                    suspected: flag_bool(row.get("suspected")),
                }),
                row,
            )
        }
        RecordKind::Observation => {
            let code = code(row, flags).ok_or(("code", Reason::Missing))?;
            let value = match row.get("value") {
                None => None,
                Some(v) => match Decimal::parse(v) {
                    Some(value) => Some(ObservationValue::Quantity(Quantity {
                        value,
                        unit: row.get("unit").and_then(|u| flags.text("unit", u)),
                    })),
                    None => flags.text("value", v).map(ObservationValue::Text),
                },
            };
            let status = match row.get("status") {
                None | Some("final" | "F") => ObservationStatus::Final,
                Some("preliminary" | "P") => ObservationStatus::Preliminary,
                Some("corrected" | "C") => ObservationStatus::Corrected,
                Some("cancelled" | "X") => ObservationStatus::Cancelled,
                Some("ordered" | "O") => ObservationStatus::Ordered,
                Some(_) => ObservationStatus::Unknown,
            };
            let reference_range = match (
                row.get("reference_range"),
                row.get("reference_low"),
                row.get("reference_high"),
            ) {
                (Some(r), _, _) => flags.text("reference_range", r),
                (None, None, None) => None,
                // Written the way HL7 OBX-7 writes a range, so both sources read alike.
                (None, low, high) => flags.text(
                    "reference_range",
                    &format!("{}-{}", low.unwrap_or(""), high.unwrap_or("")),
                ),
            };
            clinical(
                ClinicalData::Observation(Observation {
                    code: Some(code),
                    value,
                    reference_range,
                    interpretation: row
                        .get("interpretation")
                        .and_then(|s| flags.text("interpretation", s)),
                    effective: date(mapping, "effective", row.get("effective"), flags)?,
                    status,
                    category: row.get("category").map(Reason::type_name),
                    specimen: None,
                    program: None,
                }),
                row,
            )
        }
        RecordKind::Medication => {
            let code = code(row, flags).ok_or(("code", Reason::Missing))?;
            let kind = match row.get("kind") {
                None | Some("prescription") => MedicationKind::Prescription,
                Some("injection") => MedicationKind::Injection,
                Some("administration") => MedicationKind::Administration,
                Some("statement") => MedicationKind::Statement,
                Some("dispensing") => MedicationKind::Dispensing,
                Some(_) => {
                    return Err((
                        "kind",
                        Reason::Invalid(
                            "prescription, injection, administration, statement or dispensing",
                        ),
                    ));
                }
            };
            let days = match row.get("days") {
                None => None,
                Some(d) => Some(
                    normalise::narrow_digits(d)
                        .parse::<u32>()
                        .map_err(|_| ("days", Reason::Invalid("not a whole number")))?,
                ),
            };
            clinical(
                ClinicalData::Medication(Medication {
                    kind,
                    code: Some(code),
                    dose: quantity(row.get("dose"), row.get("dose_unit"), "dose", flags)?,
                    total: quantity(row.get("total"), row.get("total_unit"), "total", flags)?,
                    route: row.get("route").map(|r| Coded {
                        system: CodeSystem::Other("route".into()),
                        code: r.to_owned(),
                        display: None,
                    }),
                    start: date(mapping, "start", row.get("start"), flags)?,
                    end: date(mapping, "end", row.get("end"), flags)?,
                    days,
                    status: None,
                }),
                row,
            )
        }
        RecordKind::Encounter => {
            let class = row.get("class").map(|c| match c {
                "I" | "inpatient" | "入院" => EncounterClass::Inpatient,
                "O" | "outpatient" | "外来" => EncounterClass::Outpatient,
                "E" | "emergency" | "救急" => EncounterClass::Emergency,
                "H" | "home" | "在宅" => EncounterClass::Home,
                other => EncounterClass::Other(Reason::type_name(other)),
            });
            clinical(
                ClinicalData::Encounter(Encounter {
                    class,
                    start: date(mapping, "start", row.get("start"), flags)?,
                    end: date(mapping, "end", row.get("end"), flags)?,
                    department: row.get("department").map(|d| Coded {
                        system: CodeSystem::Other("department".into()),
                        code: d.to_owned(),
                        display: None,
                    }),
                    event: None,
                }),
                row,
            )
        }
        RecordKind::Procedure => {
            let code = code(row, flags).ok_or(("code", Reason::Missing))?;
            clinical(
                ClinicalData::Procedure(Procedure {
                    code: Some(code),
                    performed: date(mapping, "performed", row.get("performed"), flags)?,
                    status: row.get("status").and_then(|s| flags.text("status", s)),
                }),
                row,
            )
        }
        RecordKind::Checkup => {
            let program = row
                .get("program")
                .and_then(|p| flags.text("program", p))
                .ok_or(("program", Reason::Missing))?;
            let code = code(row, flags).ok_or(("code", Reason::Missing))?;
            let value = match row.get("value") {
                None => None,
                Some(v) => match Decimal::parse(v) {
                    Some(value) => Some(ObservationValue::Quantity(Quantity {
                        value,
                        unit: row.get("unit").and_then(|u| flags.text("unit", u)),
                    })),
                    None => flags.text("value", v).map(ObservationValue::Text),
                },
            };
            clinical(
                ClinicalData::Observation(Observation {
                    code: Some(code),
                    value,
                    reference_range: None,
                    interpretation: None,
                    effective: date(mapping, "date", row.get("date"), flags)?,
                    status: ObservationStatus::Final,
                    category: Some("exam".to_owned()),
                    specimen: None,
                    program: Some(program),
                }),
                row,
            )
        }
        RecordKind::Claim => {
            let month = row.get("month").ok_or(("month", Reason::Missing))?;
            let month = normalise::parse_year_month(month)
                .ok_or(("month", Reason::Invalid("not a year and month (YYYY-MM)")))?;
            let kind = row
                .get("kind")
                .and_then(|k| flags.text("kind", k))
                .ok_or(("kind", Reason::Missing))?;
            let mut code = code(row, flags);
            // Receipts code each record kind in its own master (SY 傷病名, IY 医薬品, SI 診療行為);
            // when the file does not say, the kind does.
            if let Some(c) = code.as_mut()
                && row.get("code_system").is_none()
            {
                c.system = match kind.as_str() {
                    "diagnosis" | "SY" => CodeSystem::Icd10,
                    "drug" | "IY" => CodeSystem::Yj,
                    _ => CodeSystem::Other("receipt".to_owned()),
                };
            }
            let number = |field: &'static str| -> Built<Option<Decimal>> {
                row.get(field)
                    .map(|v| Decimal::parse(v).ok_or((field, Reason::Invalid("not a number"))))
                    .transpose()
            };
            let line = match row.get("line") {
                None => None,
                Some(l) => Some(
                    normalise::narrow_digits(l)
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or(("line", Reason::Invalid("not a line number (1 or more)")))?,
                ),
            };
            clinical(
                ClinicalData::Claim(ClaimLine {
                    claim: row.get("claim_id").map(str::to_owned),
                    month,
                    facility_code: row
                        .get("facility_code")
                        .and_then(|f| flags.text("facility_code", f)),
                    line,
                    kind,
                    code,
                    quantity: number("quantity")?,
                    points: number("points")?,
                    care_level: row
                        .get("care_level")
                        .and_then(|c| flags.text("care_level", c)),
                }),
                row,
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "id,family_name,given_name,family_name_kana,given_name_kana,birth_date,sex,postal_code,address,phone,insurer_number,insured_symbol,insured_number,insured_branch\n";

    fn run(text: &[u8], m: &Mapping) -> Batch {
        read(&SourceFile::new(2, "x.csv"), text, m, &Limits::default())
    }

    #[test]
    fn builtin_mapping_reads_the_identity_layout() {
        let m = Mapping::jp_identity();
        assert_eq!(m.columns.len(), 14);
        let csv = format!(
            "{HEADER}P001,山田,太郎,ﾔﾏﾀﾞ,ﾀﾛｳ,1970-01-01,1,160-0023,東京都新宿区西新宿\u{E000}1-1,03-1234-5678,06130012,12-34,5678,00\n\nP002,佐藤,花子,サトウ,ハナコ,1980/2/30,2,,,,,,,\nP003,\"鈴木\",\"一,郎\",スズキ,イチロウ,19900101,M,9999,,,,,,\nP004,x\n"
        );
        let b = run(csv.as_bytes(), &m);
        assert_eq!(b.read, 4);
        assert_eq!(b.records.len(), 1);
        let Body::Identity(id) = &b.records[0].body else {
            panic!()
        };
        assert_eq!(id.local_patient_id.as_ref().unwrap().expose(), "P001");
        assert_eq!(id.names[1].family.as_deref(), Some("ヤマダ"));
        assert_eq!(id.names[1].kind, NameKind::Kana);
        assert_eq!(
            id.addresses[0].text.as_deref(),
            Some("東京都新宿区西新宿〓1-1")
        );
        assert_eq!(id.insurance[0].number.as_deref(), Some("5678"));
        assert_eq!(
            id.birth_date,
            Some(When::Date(
                chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
            ))
        );
        let kinds: Vec<FlagKind> = b.records[0].flags.iter().map(|f| f.kind).collect();
        assert!(
            kinds.contains(&FlagKind::HalfWidthKanaWidened) && kinds.contains(&FlagKind::Gaiji)
        );
        let got: Vec<String> = b.rejected.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            got,
            [
                "file #2 line 4, field birth_date: invalid: no such calendar day",
                "file #2 line 5, field postal_code: invalid: fewer than 7 digits",
                "file #2 line 6, field row: invalid: wrong number of columns",
            ]
        );
        // Raw rows are kept for quarantine, and exactly the row.
        assert_eq!(b.rejected[2].raw.as_ref().unwrap().0, b"P004,x\n");
        for r in &b.rejected {
            let s = format!("{r:?}");
            assert!(
                !s.contains("佐藤") && !s.contains("1980/2/30") && !s.contains("9999"),
                "{s}"
            );
        }
    }

    #[test]
    fn every_synth_layout_file_is_recognised_by_its_header() {
        for (header, _) in SYNTH_LAYOUT {
            let m = Mapping::builtin_for_header(header.as_bytes());
            assert!(m.is_some(), "{header}");
            let with_bom = format!("\u{FEFF}{header}\r");
            assert!(Mapping::builtin_for_header(with_bom.as_bytes()).is_some());
        }
        assert!(Mapping::builtin_for_header(b"id,family_name").is_none());
        assert!(Mapping::builtin_for_header(b"\xff\xfe").is_none());
    }

    fn synth_file(header: &str, rows: &str, provider: &str) -> Batch {
        let m = Mapping::builtin_for_header(header.as_bytes())
            .unwrap()
            .for_provider(provider);
        run(format!("{header}\n{rows}").as_bytes(), &m)
    }

    #[test]
    fn synth_claims_care_and_checkups_are_read() {
        let b = synth_file(
            "provider_code,patient_id,claim_id,month,facility_code,line,kind,code,name,quantity",
            "I001,P1,P1-C00001,2024-04,H001,1,diagnosis,E11,２型糖尿病,1\n\
             I001,P1,P1-C00001,2024-04,H001,2,drug,3961008F1,メトホルミン,28\n\
             I001,P1,P1-C00001,2024-04,H001,3,procedure,112007410,再診料,1\n\
             I001,P1,P1-C00002,2024-13,H001,1,procedure,112007410,再診料,1\n",
            "I001",
        );
        assert_eq!(b.records.len(), 3, "{:?}", b.rejected);
        assert_eq!(b.rejected.len(), 1);
        assert_eq!(b.rejected[0].field, "month");
        let lines: Vec<&ClaimLine> = b
            .records
            .iter()
            .filter_map(|r| match &r.body {
                Body::Clinical(Clinical {
                    data: ClinicalData::Claim(l),
                    ..
                }) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(lines[0].month, (2024, 4));
        assert_eq!(lines[0].claim.as_deref(), Some("P1-C00001"));
        assert_eq!(lines[0].code.as_ref().unwrap().system, CodeSystem::Icd10);
        assert_eq!(lines[1].code.as_ref().unwrap().system, CodeSystem::Yj);
        assert_eq!(
            lines[2].code.as_ref().unwrap().system,
            CodeSystem::Other("receipt".into())
        );
        assert_eq!(lines[1].quantity.as_ref().unwrap().as_str(), "28");
        assert_eq!(lines[2].line, Some(3));

        let care = synth_file(
            "provider_code,patient_id,month,service_code,service_name,care_level,units",
            "K001,C9,2023-11,151111,通所介護,要介護2,812\n",
            "K001",
        );
        let Body::Clinical(Clinical {
            data: ClinicalData::Claim(l),
            ..
        }) = &care.records[0].body
        else {
            panic!("{:?}", care.records)
        };
        assert_eq!(l.kind, "care");
        assert_eq!(l.claim, None);
        assert_eq!(l.care_level.as_deref(), Some("要介護2"));
        assert_eq!(l.points.as_ref().unwrap().as_str(), "812");

        let ck = synth_file(
            "provider_code,patient_id,date,program,code,loinc,name,value,unit",
            "M001,K1,2020-05-01,infant_18m,9N001000000000001,8302-2,身長,80.4,cm\n",
            "M001",
        );
        let Body::Clinical(Clinical {
            data: ClinicalData::Observation(o),
            ..
        }) = &ck.records[0].body
        else {
            panic!("{:?}", ck.records)
        };
        assert_eq!(o.program.as_deref(), Some("infant_18m"));
        assert_eq!(o.code.as_ref().unwrap().system, CodeSystem::Jlac10);
    }

    #[test]
    fn synth_labs_keep_range_encounter_and_category() {
        let b = synth_file(
            "provider_code,patient_id,encounter_id,order_id,date,jlac10,loinc,name,value,unit,ref_low,ref_high,flag",
            "H001,P1,P1-E00003,P1-L00001,2024-04-02,3D046000001920402,4548-4,HbA1c,7.4,%,4.6,6.2,H\n",
            "H001",
        );
        let Body::Clinical(c) = &b.records[0].body else {
            panic!()
        };
        assert_eq!(c.encounter.as_deref(), Some("P1-E00003"));
        let ClinicalData::Observation(o) = &c.data else {
            panic!()
        };
        assert_eq!(o.reference_range.as_deref(), Some("4.6-6.2"));
        assert_eq!(o.category.as_deref(), Some("laboratory"));
        assert_eq!(o.interpretation.as_deref(), Some("H"));
    }

    #[test]
    fn rows_of_another_provider_are_refused() {
        let b = synth_file(
            "provider_code,patient_id,encounter_id,date,icd10,name,suspected,main",
            "H001,P1,,2024-04-02,E11,２型糖尿病,0,1\nH002,P2,,2024-04-02,E11,２型糖尿病,0,1\n",
            "H001",
        );
        assert_eq!(b.records.len(), 1);
        assert_eq!(b.rejected.len(), 1);
        assert_eq!(b.rejected[0].field, "provider_code");
        assert_eq!(b.rejected[0].position.entry, Some((EntryKind::Line, 3)));
    }

    #[test]
    fn constants_fill_fields_and_cannot_name_the_patient() {
        let m = Mapping::from_toml(
            "record = \"medication\"\n[columns]\nlocal_patient_id = 1\ncode = 2\n[constants]\nkind = \"dispensing\"\ncode_system = \"yj\"\n",
        )
        .unwrap();
        let m = Mapping { header: false, ..m };
        let b = run(b"P1,3961008F1\n", &m);
        let Body::Clinical(Clinical {
            data: ClinicalData::Medication(md),
            ..
        }) = &b.records[0].body
        else {
            panic!("{:?}", b.rejected)
        };
        assert_eq!(md.kind, MedicationKind::Dispensing);
        assert_eq!(md.code.as_ref().unwrap().system, CodeSystem::Yj);
        assert_eq!(
            Mapping::from_toml(
                "record = \"condition\"\n[columns]\ncode = 1\n[constants]\nlocal_patient_id = \"x\"\n"
            )
            .unwrap_err(),
            MappingError::Required("local_patient_id")
        );
        assert!(matches!(
            Mapping::from_toml(
                "record = \"condition\"\n[columns]\nlocal_patient_id = 1\n[constants]\nnope = \"x\"\n"
            ),
            Err(MappingError::UnknownField { .. })
        ));
    }

    #[test]
    fn builtin_toml_is_a_valid_mapping() {
        let m = Mapping::from_toml(JP_IDENTITY_TOML).unwrap();
        assert_eq!(
            m.columns.get("local_patient_id"),
            Some(&Column::Name("id".into()))
        );
        assert_eq!(m.record, RecordKind::Identity);
    }

    #[test]
    fn cp932_with_numbers_and_a_date_format() {
        let toml = r#"
record = "observation"
encoding = "cp932"
header = false
date_format = "%Y/%m/%d"
[columns]
local_patient_id = 1
code = 2
code_system = 3
value = 4
unit = 5
effective = 6
"#;
        let m = Mapping::from_toml(toml).unwrap();
        let text = "0001,3A010000002327101,JC10,７．２,g/dL,2011/12/19\r\n0001,3A010000002327101,JC10,高値,,2011-12-19\r\n";
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        let b = run(&bytes, &m);
        assert_eq!(b.records.len(), 1);
        let Body::Clinical(c) = &b.records[0].body else {
            panic!()
        };
        let ClinicalData::Observation(o) = &c.data else {
            panic!()
        };
        assert_eq!(o.code.as_ref().unwrap().system, CodeSystem::Jlac10);
        let Some(ObservationValue::Quantity(q)) = &o.value else {
            panic!()
        };
        assert_eq!((q.value.as_str(), q.unit.as_deref()), ("7.2", Some("g/dL")));
        assert_eq!(b.rejected[0].field, "effective");
        assert_eq!(b.rejected[0].position.entry, Some((EntryKind::Line, 2)));
        // The same bytes read as UTF-8: refused whole, pointing at the first bad line.
        let m8 = Mapping {
            encoding: encoding_rs::UTF_8,
            ..m
        };
        let b = run(&bytes, &m8);
        assert_eq!(b.records.len(), 0);
        assert_eq!(b.rejected[0].reason, Reason::Encoding("UTF-8"));
        // First line is ASCII only up to "７": line 1.
        assert_eq!(b.rejected[0].position.entry, Some((EntryKind::Line, 1)));
    }

    #[test]
    fn conditions_check_icd10() {
        let toml = "record = \"condition\"\n[columns]\nlocal_patient_id = \"pid\"\nicd10 = \"icd\"\nonset = \"onset\"\nprimary = \"main\"\n";
        let m = Mapping::from_toml(toml).unwrap();
        let b = run(
            "pid,icd,onset,main\n1,E119,2020-01-01,1\n2,E1,2020-01-01,0\n3,U999,,\n".as_bytes(),
            &m,
        );
        assert_eq!(b.records.len(), 2);
        let Body::Clinical(c) = &b.records[0].body else {
            panic!()
        };
        let ClinicalData::Condition(cd) = &c.data else {
            panic!()
        };
        assert_eq!(cd.icd10.as_ref().unwrap().as_str(), "E11.9");
        assert!(cd.primary);
        assert_eq!(b.rejected[0].reason, Reason::BadCode("ICD-10"));
        assert!(
            b.records[1]
                .flags
                .iter()
                .any(|f| f.kind == FlagKind::Icd10NotInList)
        );
    }

    #[test]
    fn mapping_errors() {
        assert!(matches!(
            Mapping::from_toml("record = 1"),
            Err(MappingError::Toml(_))
        ));
        assert_eq!(
            Mapping::from_toml("record = \"x\"\n[columns]\n").unwrap_err(),
            MappingError::Record("x".into())
        );
        assert_eq!(
            Mapping::from_toml("record = \"identity\"\n[columns]\nfamly_name = \"a\"\n")
                .unwrap_err(),
            MappingError::UnknownField {
                field: "famly_name".into(),
                record: "identity"
            }
        );
        assert_eq!(
            Mapping::from_toml("record = \"identity\"\n[columns]\nfamily_name = \"a\"\n")
                .unwrap_err(),
            MappingError::Required("local_patient_id")
        );
        assert_eq!(
            Mapping::from_toml(
                "record = \"identity\"\nencoding = \"latin1\"\n[columns]\nlocal_patient_id = 1\n"
            )
            .unwrap_err(),
            MappingError::Encoding("latin1".into())
        );
        assert_eq!(
            Mapping::from_toml("record = \"identity\"\n[columns]\nlocal_patient_id = 0\n")
                .unwrap_err(),
            MappingError::ColumnNumber("local_patient_id".into())
        );
        // A header without a mapped column rejects the file.
        let b = run(b"a,b\n1,2\n", &Mapping::jp_identity());
        assert_eq!(b.rejected.len(), 1);
        assert!(b.records.is_empty());
    }

    #[test]
    fn era_dates_are_converted_and_flagged() {
        let b = run(
            format!("{HEADER}P1,a,b,,,昭和45年1月1日,1,,,,,,,\nP2,a,b,,,平成31年5月1日,1,,,,,,,\n")
                .as_bytes(),
            &Mapping::jp_identity(),
        );
        assert_eq!(b.records.len(), 1);
        let Body::Identity(id) = &b.records[0].body else {
            panic!()
        };
        assert_eq!(
            id.birth_date,
            Some(When::Date(
                chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
            ))
        );
        assert!(
            b.records[0]
                .flags
                .iter()
                .any(|f| f.kind == FlagKind::EraDateConverted && f.field == "birth_date")
        );
        assert_eq!(
            b.rejected[0].reason,
            Reason::Invalid("the date lies outside its Japanese era")
        );
    }

    proptest! {
        #[test]
        fn any_row_is_accepted_or_rejected(cells in proptest::collection::vec("\\PC{0,12}", 14)) {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(HEADER.trim().split(',')).unwrap();
            w.write_record(&cells).unwrap();
            let bytes = w.into_inner().unwrap();
            let b = run(&bytes, &Mapping::jp_identity());
            let blank = cells.iter().all(|c| c.trim().is_empty());
            prop_assert_eq!(b.records.len() + b.rejected.len(), usize::from(!blank));
            for r in &b.rejected {
                let shown = r.to_string();
                for c in cells.iter().filter(|c| c.trim().chars().count() > 3) {
                    prop_assert!(!shown.contains(c.trim()));
                }
            }
        }
    }
}
