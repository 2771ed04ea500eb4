//! CSV read through a mapping file: which column is which field, the date format, the encoding
//! (UTF-8, Shift_JIS / CP932, EUC-JP, ISO-2022-JP via encoding_rs) and the kind of record each
//! row is.
//!
//! A mapping is TOML:
//!
//! ```toml
//! record = "identity"        # identity | condition | observation | medication | encounter | procedure
//! encoding = "cp932"         # utf-8 (default) | shift_jis | cp932 | euc-jp | iso-2022-jp
//! delimiter = ","            # one ASCII character (default ",")
//! header = true              # the first line names the columns (default true)
//! date_format = "%Y/%m/%d"   # chrono format; omitted: ISO, yyyyMMdd, yyyy/M/d, 年月日, era dates
//!
//! [columns]                  # field = header name, or 1-based column number
//! local_patient_id = "患者ID"
//! family_name = "姓"
//! birth_date = 5
//! ```
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
    Address, Batch, Body, Clinical, ClinicalData, CodeSystem, Coded, Condition, Decimal, Encounter,
    EncounterClass, EntryKind, Identity, InsuranceCard, Medication, MedicationKind, NameKind,
    Observation, ObservationStatus, ObservationValue, PersonName, Position, Procedure, Quantity,
    Reason, Record, RecordStatus, Rejected, SourceFile, SubjectKey, When,
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
        "unknown record kind {0:?} (identity, condition, observation, medication, encounter, procedure)"
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
        }
    }

    /// The fields a record kind has. `local_patient_id` is required for all.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            RecordKind::Identity => &[
                "local_patient_id",
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
                "source_id",
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
                "source_id",
                "code",
                "code_system",
                "display",
                "value",
                "unit",
                "reference_range",
                "interpretation",
                "effective",
                "status",
            ],
            RecordKind::Medication => &[
                "local_patient_id",
                "source_id",
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
                "source_id",
                "class",
                "start",
                "end",
                "department",
            ],
            RecordKind::Procedure => &[
                "local_patient_id",
                "source_id",
                "code",
                "code_system",
                "display",
                "performed",
                "status",
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
}

/// The built-in Japanese identity layout, as a mapping file (the same as [`Mapping::jp_identity`]).
pub const JP_IDENTITY_TOML: &str = r#"record = "identity"
encoding = "utf-8"
header = true

[columns]
local_patient_id = "id"
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
"#;

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
        let mut columns = BTreeMap::new();
        for (field, col) in f.columns {
            let Some(known) = record.fields().iter().find(|k| **k == field) else {
                return Err(MappingError::UnknownField {
                    field,
                    record: record.name(),
                });
            };
            if let Column::Number(n) = col
                && n < 1
            {
                return Err(MappingError::ColumnNumber(field));
            }
            columns.insert(*known, col);
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
        })
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
        })
    }
}

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
}

impl<'r> Row<'r> {
    /// The trimmed, non-empty value of a mapped field.
    fn get(&self, field: &str) -> Option<&'r str> {
        self.index
            .iter()
            .find(|(f, _)| *f == field)
            .and_then(|(_, i)| self.row.get(*i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
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
    let subject = SubjectKey::local(&patient);
    let clinical = |data: ClinicalData, row: &Row<'_>| {
        Body::Clinical(Clinical {
            subject: Some(subject.clone()),
            source_id: row.get("source_id").map(str::to_owned),
            encounter: None,
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
            clinical(
                ClinicalData::Observation(Observation {
                    code: Some(code),
                    value,
                    reference_range: row
                        .get("reference_range")
                        .and_then(|s| flags.text("reference_range", s)),
                    interpretation: row
                        .get("interpretation")
                        .and_then(|s| flags.text("interpretation", s)),
                    effective: date(mapping, "effective", row.get("effective"), flags)?,
                    status,
                    category: None,
                    specimen: None,
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
                Some(_) => {
                    return Err((
                        "kind",
                        Reason::Invalid("prescription, injection, administration or statement"),
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
