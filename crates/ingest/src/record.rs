//! The output model shared by every parser.
//!
//! A parser turns one source (an SS-MIX2 tree, a FHIR Bundle or NDJSON set, a CSV file) into a
//! [`Batch`]: accepted [`Record`]s and [`Rejected`] inputs. Each record is either an [`Identity`]
//! (everything that says *who*: names, kana, birth date, address, phone, insurance numbers, the
//! provider's patient id) or a clinical record (what happened: encounter, condition, medication,
//! observation, procedure, allergy, coverage, organization). The pipeline sends identities to the
//! vault and clinical records to the lake; the two meet only through [`SubjectKey`], which the
//! pipeline swaps for an internal person id before anything reaches the lake.
//!
//! Personal values never reach `Display` or `Debug`: [`Identity`], [`SubjectKey`], [`RawInput`]
//! and [`SourceFile`] paths are redacted, and [`Rejected`] says where and why, never what.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use tsunagu_model::{Icd10Code, LocalPatientId, PostalCode, Sex};

use crate::normalise::Flag;

/// One input file. Its path may itself be personal (SS-MIX2 paths hold patient ids, Synthea file
/// names hold patient names), so the path is only reachable through [`SourceFile::expose_path`]
/// and positions print the file's ordinal instead.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceFile {
    ordinal: u32,
    path: PathBuf,
}

impl SourceFile {
    /// A file, numbered by the caller (the order files were read in).
    pub fn new(ordinal: u32, path: impl Into<PathBuf>) -> Arc<Self> {
        Arc::new(SourceFile {
            ordinal,
            path: path.into(),
        })
    }

    /// The number of the file within its ingest run.
    pub fn ordinal(&self) -> u32 {
        self.ordinal
    }

    /// The path, for the encrypted quarantine only. Never log it.
    pub fn expose_path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceFile(#{})", self.ordinal)
    }
}

/// What an entry index counts in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A line of a text file (CSV, NDJSON), 1-based; CSV headers are line 1.
    Line,
    /// An entry of a FHIR Bundle, 0-based as in FHIRPath `entry[n]`.
    BundleEntry,
    /// A message of an HL7 file, 1-based.
    Message,
}

/// A segment inside an HL7 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPos {
    /// Segment id such as `PID` (three ASCII letters or digits).
    pub id: [u8; 3],
    /// 1-based position of the segment in the message.
    pub index: u32,
}

impl SegmentPos {
    /// The id as text.
    pub fn id_str(&self) -> &str {
        std::str::from_utf8(&self.id).unwrap_or("???")
    }
}

/// Where a record or a rejection came from: file, entry (line / bundle entry / message) and, for
/// HL7, the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The file.
    pub file: Arc<SourceFile>,
    /// The entry inside the file, when the problem is not the whole file.
    pub entry: Option<(EntryKind, u64)>,
    /// The HL7 segment, when there is one.
    pub segment: Option<SegmentPos>,
}

impl Position {
    /// The whole file.
    pub fn file(file: &Arc<SourceFile>) -> Self {
        Position {
            file: Arc::clone(file),
            entry: None,
            segment: None,
        }
    }

    /// An entry of a file.
    pub fn entry(file: &Arc<SourceFile>, kind: EntryKind, index: u64) -> Self {
        Position {
            file: Arc::clone(file),
            entry: Some((kind, index)),
            segment: None,
        }
    }

    /// The same position narrowed to a segment.
    pub fn with_segment(&self, segment: SegmentPos) -> Self {
        Position {
            segment: Some(segment),
            ..self.clone()
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "file #{}", self.file.ordinal)?;
        match self.entry {
            Some((EntryKind::Line, n)) => write!(f, " line {n}")?,
            Some((EntryKind::BundleEntry, n)) => write!(f, " entry[{n}]")?,
            Some((EntryKind::Message, n)) => write!(f, " message {n}")?,
            None => {}
        }
        if let Some(s) = self.segment {
            write!(f, " segment {} (#{})", s.id_str(), s.index)?;
        }
        Ok(())
    }
}

/// Why an input was not accepted. Carries categories and limits, never input values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The bytes are not valid in the declared or expected encoding.
    #[error("not valid {0}")]
    Encoding(&'static str),
    /// The input breaks the format's syntax.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// A required value is absent.
    #[error("missing")]
    Missing,
    /// A value does not parse.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// The input exceeds a size limit.
    #[error("larger than the limit of {limit} {unit}")]
    TooLarge {
        /// The limit.
        limit: u64,
        /// What is counted.
        unit: &'static str,
    },
    /// The input nests deeper than the parser allows.
    #[error("nested too deeply")]
    TooDeep,
    /// The patient id inside the file disagrees with the SS-MIX2 storage path.
    #[error("patient id in the message disagrees with the storage path")]
    PatientIdMismatch,
    /// The file's name disagrees with the folders it sits in.
    #[error("file name disagrees with its folder ({0})")]
    PathMismatch(&'static str),
    /// The file name does not follow the SS-MIX2 naming rule.
    #[error("file name does not follow the SS-MIX2 rule: {0}")]
    BadFileName(&'static str),
    /// A kind of message or resource this reader does not map; kept for quarantine, not lost.
    #[error("unsupported {kind} {name}")]
    Unsupported {
        /// "message type" or "resource type".
        kind: &'static str,
        /// The type name (sanitised to ASCII letters, digits, `^` and `_`, at most 40 chars).
        name: String,
    },
    /// A reference points at nothing the reader has seen.
    #[error("reference cannot be resolved")]
    UnresolvedReference,
    /// A reference points at something of the wrong kind.
    #[error("reference points at a {0}, not a Patient")]
    WrongReferenceTarget(String),
    /// The file could not be read.
    #[error("cannot be read: {0}")]
    Io(String),
    /// The code is not valid in its code system.
    #[error("not a valid {0} code")]
    BadCode(&'static str),
}

impl Reason {
    /// A type name from input, made safe to print: type names are not personal, but the input
    /// is hostile, so keep only a short run of harmless characters.
    pub fn type_name(s: &str) -> String {
        let mut out: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '^' | '_' | '-'))
            .take(40)
            .collect();
        if out.is_empty() {
            out.push('?');
        }
        out
    }
}

/// Bytes of a rejected input, kept so the encrypted quarantine can store and re-try them.
/// Holds personal data: `Debug` shows only the length and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct RawInput(pub Vec<u8>);

impl fmt::Debug for RawInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawInput({} bytes)", self.0.len())
    }
}

/// An input that was not accepted: where, which field, why, and (for quarantine) the raw input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Where.
    pub position: Position,
    /// Which field (`PID-3`, `Patient.birthDate`, `birth_date`, or `file` / `entry` for the whole).
    pub field: String,
    /// Why.
    pub reason: Reason,
    /// The input as received (whole file, Bundle entry, NDJSON or CSV line), when available.
    pub raw: Option<RawInput>,
}

impl Rejected {
    /// A rejection without raw input attached.
    pub fn new(position: Position, field: impl Into<String>, reason: Reason) -> Self {
        Rejected {
            position,
            field: field.into(),
            reason,
            raw: None,
        }
    }

    /// Attach the raw input.
    pub fn with_raw(mut self, raw: &[u8]) -> Self {
        self.raw = Some(RawInput(raw.to_vec()));
        self
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, field {}: {}",
            self.position, self.field, self.reason
        )
    }
}

impl std::error::Error for Rejected {}

/// The key that ties clinical records to the identity they belong to, within one batch: the
/// provider's patient id (SS-MIX2, CSV) or the Patient resource (FHIR). Personal: redacted in
/// `Debug`, no `Display`. The pipeline replaces it with the internal person id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectKey(String);

impl SubjectKey {
    /// A key from a provider's patient id.
    pub fn local(id: &LocalPatientId) -> Self {
        SubjectKey(format!("local:{}", id.expose()))
    }

    /// A key from a resolved FHIR Patient reference (`Patient/<id>` or the Bundle's fullUrl).
    pub fn fhir(resolved: &str) -> Self {
        SubjectKey(format!("fhir:{resolved}"))
    }

    /// The key, for joining inside the pipeline only. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectKey([redacted])")
    }
}

/// A date or date-time with the precision the source gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum When {
    /// Year only.
    Year(i32),
    /// Year and month.
    Month(i32, u32),
    /// A calendar date.
    Date(NaiveDate),
    /// Local date and time without an offset (HL7 TS without zone; Japan Standard Time in practice).
    Local(NaiveDateTime),
    /// Date and time with an offset (FHIR dateTime).
    Zoned(DateTime<FixedOffset>),
}

impl When {
    /// The calendar date, when the precision reaches a day.
    pub fn date(&self) -> Option<NaiveDate> {
        match self {
            When::Year(_) | When::Month(..) => None,
            When::Date(d) => Some(*d),
            When::Local(t) => Some(t.date()),
            When::Zoned(t) => Some(t.date_naive()),
        }
    }
}

/// A code in a code system.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Coded {
    /// The code system.
    pub system: CodeSystem,
    /// The code.
    pub code: String,
    /// The human-readable name the source gave (a code's name, not a person's).
    pub display: Option<String>,
}

/// Code systems we recognise; everything else is kept by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CodeSystem {
    /// ICD-10 (WHO / MHLW ICD-10 2013).
    Icd10,
    /// JLAC10 laboratory codes (17 characters).
    Jlac10,
    /// HOT medicine codes (HOT9 / HOT13).
    Hot,
    /// YJ medicine codes.
    Yj,
    /// MEDIS standard disease name master (病名交換用コード).
    MedisDisease,
    /// JJ1017 radiology codes.
    Jj1017,
    /// LOINC.
    Loinc,
    /// SNOMED CT.
    Snomed,
    /// RxNorm.
    RxNorm,
    /// Any other system, by its HL7 table name or FHIR URI.
    Other(String),
}

impl CodeSystem {
    /// Recognise an HL7 v2 coding-system name (CWE-3) or a FHIR system URI.
    pub fn from_name(name: &str) -> Self {
        match name {
            "I10"
            | "ICD10"
            | "http://hl7.org/fhir/sid/icd-10"
            | "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/ICD10-2013-full"
            | "urn:oid:1.2.392.200119.4.201.5" => CodeSystem::Icd10,
            "JC10" | "JC10-1" | "urn:oid:1.2.392.200119.4.504" => CodeSystem::Jlac10,
            "HOT"
            | "HOT7"
            | "HOT9"
            | "HOT13"
            | "urn:oid:1.2.392.200119.4.403.1"
            | "urn:oid:1.2.392.200119.4.402.1"
            | "urn:oid:1.2.392.100495.20.2.74" => CodeSystem::Hot,
            "YJ" | "urn:oid:1.2.392.100495.20.1.73" | "urn:oid:1.2.392.100495.20.2.73" => {
                CodeSystem::Yj
            }
            "MDCDX2" | "MDCDX" | "urn:oid:1.2.392.200119.4.101.6" => CodeSystem::MedisDisease,
            "JJ1017" | "JJ1017-32" | "JJ1017-16" => CodeSystem::Jj1017,
            "LN" | "http://loinc.org" => CodeSystem::Loinc,
            "SCT" | "http://snomed.info/sct" => CodeSystem::Snomed,
            "RXNORM" | "http://www.nlm.nih.gov/research/umls/rxnorm" => CodeSystem::RxNorm,
            // The short names of `as_str`, so that a name written to a file reads back as itself.
            "icd10" => CodeSystem::Icd10,
            "jlac10" => CodeSystem::Jlac10,
            "hot" => CodeSystem::Hot,
            "yj" => CodeSystem::Yj,
            "medis-disease" => CodeSystem::MedisDisease,
            "jj1017" => CodeSystem::Jj1017,
            "loinc" => CodeSystem::Loinc,
            "snomed" => CodeSystem::Snomed,
            "rxnorm" => CodeSystem::RxNorm,
            other => CodeSystem::Other(other.to_owned()),
        }
    }

    /// A short name for files and the lake.
    pub fn as_str(&self) -> &str {
        match self {
            CodeSystem::Icd10 => "icd10",
            CodeSystem::Jlac10 => "jlac10",
            CodeSystem::Hot => "hot",
            CodeSystem::Yj => "yj",
            CodeSystem::MedisDisease => "medis-disease",
            CodeSystem::Jj1017 => "jj1017",
            CodeSystem::Loinc => "loinc",
            CodeSystem::Snomed => "snomed",
            CodeSystem::RxNorm => "rxnorm",
            CodeSystem::Other(s) => s,
        }
    }
}

/// A decimal number kept exactly as the source wrote it (no float rounding): digits with an
/// optional sign, point and exponent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

impl Decimal {
    /// Parse a decimal; full-width digits are accepted and narrowed.
    pub fn parse(s: &str) -> Option<Self> {
        let t: String = s
            .trim()
            .chars()
            .map(|c| match c {
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
                '．' => '.',
                '－' | '−' => '-',
                '＋' => '+',
                c => c,
            })
            .collect();
        if t.is_empty() || t.len() > 64 || t.parse::<f64>().map(f64::is_finite) != Ok(true) {
            return None;
        }
        // f64 parsing also accepts "inf", "nan" and "infinity": finite check excludes them, and
        // only these characters may remain.
        if !t
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        {
            return None;
        }
        Some(Decimal(t))
    }

    /// The number as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A measured amount and its unit as the source wrote it (units are kept, not converted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    /// The number.
    pub value: Decimal,
    /// The unit (UCUM or local), when given.
    pub unit: Option<String>,
}

/// Whether the source still stands behind a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    /// Current data.
    Active,
    /// The source marked it deleted or cancelled (SS-MIX2 condition flag 0, FHIR
    /// `entered-in-error`): the pipeline retracts earlier copies and does not load it as fact.
    Cancelled,
}

/// An accepted record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Where it came from.
    pub position: Position,
    /// Active or cancelled.
    pub status: RecordStatus,
    /// Normalisation notes (外字 replaced, code not in the list…), by field.
    pub flags: Vec<Flag>,
    /// The content.
    pub body: Body,
}

/// What a record holds: identity or clinical.
// Clinical records are the many; boxing them would cost an allocation each. Identities are few
// per person and are boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Who the person is: goes to the vault only.
    Identity(Box<Identity>),
    /// What happened: goes to the lake under an internal person id.
    Clinical(Clinical),
}

impl Body {
    /// A short name of the record kind, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Identity(_) => "identity",
            Body::Clinical(c) => c.data.kind(),
        }
    }
}

/// Which kind of name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// 漢字 (HL7 `I`, FHIR `IDE`).
    Kanji,
    /// カナ reading (HL7 `P`, FHIR `SYL`).
    Kana,
    /// Latin letters (HL7 `A`, FHIR `ABC`).
    Alphabetic,
    /// Not stated.
    Unspecified,
}

/// A person's name.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName {
    /// Kanji, kana…
    pub kind: NameKind,
    /// 姓.
    pub family: Option<String>,
    /// 名 (several given names joined by a space).
    pub given: Option<String>,
    /// The whole name as written, when the source gives one (FHIR `HumanName.text`).
    pub full: Option<String>,
}

/// A postal address.
#[derive(Clone, PartialEq, Eq)]
pub struct Address {
    /// 郵便番号, when given and valid.
    pub postal_code: Option<PostalCode>,
    /// The address as one line (prefecture, municipality, town, block).
    pub text: Option<String>,
}

/// The numbers on a health insurance card: 保険者番号, 記号, 番号, 枝番.
#[derive(Clone, PartialEq, Eq)]
pub struct InsuranceCard {
    /// 保険者番号 (identifies the insurer, not the person; also kept on [`Coverage`]).
    pub insurer_number: Option<String>,
    /// 被保険者証記号.
    pub symbol: Option<String>,
    /// 被保険者証番号.
    pub number: Option<String>,
    /// 枝番.
    pub branch: Option<String>,
}

/// Everything that says who a person is. Lives only in the vault. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The join key for this batch.
    pub subject: SubjectKey,
    /// The provider's patient id (カルテ番号 / 患者ID).
    pub local_patient_id: Option<LocalPatientId>,
    /// Names, kanji and kana.
    pub names: Vec<PersonName>,
    /// 生年月日, with the precision the source gave (normally a full date).
    pub birth_date: Option<When>,
    /// Administrative sex.
    pub sex: Option<Sex>,
    /// Addresses.
    pub addresses: Vec<Address>,
    /// Telephone numbers as written.
    pub phones: Vec<String>,
    /// Insurance cards.
    pub insurance: Vec<InsuranceCard>,
    /// Other identifiers (system, value): SSN, licence, passport… (個人識別符号 among them).
    pub other_identifiers: Vec<(String, String)>,
    /// Date of death, when recorded.
    pub deceased: Option<When>,
}

impl Identity {
    /// An empty identity for a subject.
    pub fn new(subject: SubjectKey) -> Self {
        Identity {
            subject,
            local_patient_id: None,
            names: Vec::new(),
            birth_date: None,
            sex: None,
            addresses: Vec::new(),
            phones: Vec::new(),
            insurance: Vec::new(),
            other_identifiers: Vec::new(),
            deceased: None,
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity([redacted])")
    }
}

/// A clinical record: subject key (absent for organizations), the source's own id of the record
/// (order number, resource id; a linking code the release path removes) and the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Clinical {
    /// Whose record.
    pub subject: Option<SubjectKey>,
    /// The source's id of this record, for de-duplication and references.
    pub source_id: Option<String>,
    /// The encounter it belongs to (resolved source id), when known.
    pub encounter: Option<String>,
    /// The data.
    pub data: ClinicalData,
}

/// The clinical content.
#[derive(Debug, Clone, PartialEq)]
pub enum ClinicalData {
    /// A visit or admission.
    Encounter(Encounter),
    /// A diagnosis.
    Condition(Condition),
    /// A prescription, injection, administration or statement.
    Medication(Medication),
    /// A lab result, vital sign, body measurement, or an ordered test.
    Observation(Observation),
    /// A procedure performed.
    Procedure(Procedure),
    /// An allergy or intolerance.
    Allergy(Allergy),
    /// Insurance coverage (the insurer and kind; the card numbers are in [`Identity`]).
    Coverage(Coverage),
    /// A provider organization or insurer.
    Organization(Organization),
    /// A line of an insurance claim (レセプト), medical or long-term care (介護給付費明細書).
    Claim(ClaimLine),
}

impl ClinicalData {
    /// A short name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ClinicalData::Encounter(_) => "encounter",
            ClinicalData::Condition(_) => "condition",
            ClinicalData::Medication(_) => "medication",
            ClinicalData::Observation(_) => "observation",
            ClinicalData::Procedure(_) => "procedure",
            ClinicalData::Allergy(_) => "allergy",
            ClinicalData::Coverage(_) => "coverage",
            ClinicalData::Organization(_) => "organization",
            ClinicalData::Claim(_) => "claim",
        }
    }
}

/// Encounter class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncounterClass {
    /// 入院.
    Inpatient,
    /// 外来.
    Outpatient,
    /// 救急.
    Emergency,
    /// 在宅 / 訪問.
    Home,
    /// Anything else, by code.
    Other(String),
}

/// A visit or admission.
#[derive(Debug, Clone, PartialEq)]
pub struct Encounter {
    /// Class.
    pub class: Option<EncounterClass>,
    /// Start (admission).
    pub start: Option<When>,
    /// End (discharge).
    pub end: Option<When>,
    /// 診療科.
    pub department: Option<Coded>,
    /// What kind of event (HL7 trigger such as `A01` admission, `A03` discharge; FHIR status).
    pub event: Option<String>,
}

/// A diagnosis.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The source's code (MEDIS, SNOMED, local).
    pub code: Option<Coded>,
    /// ICD-10, when given and syntactically valid.
    pub icd10: Option<Icd10Code>,
    /// Onset.
    pub onset: Option<When>,
    /// When it was recorded.
    pub recorded: Option<When>,
    /// When it ended.
    pub abated: Option<When>,
    /// Clinical status or outcome code as given.
    pub status: Option<String>,
    /// 主病名.
    pub primary: bool,
    /// 疑い病名 (suspected).
    pub suspected: bool,
}

/// What kind of medication record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MedicationKind {
    /// An order for oral or external medicine (処方).
    Prescription,
    /// An order for an injection (注射).
    Injection,
    /// Given to the patient (実施).
    Administration,
    /// Reported as taken (FHIR MedicationStatement).
    Statement,
    /// Handed over by a pharmacy (調剤, FHIR MedicationDispense).
    Dispensing,
}

/// A medication record.
#[derive(Debug, Clone, PartialEq)]
pub struct Medication {
    /// Kind.
    pub kind: MedicationKind,
    /// The medicine (HOT, YJ, RxNorm…).
    pub code: Option<Coded>,
    /// Dose per administration.
    pub dose: Option<Quantity>,
    /// Total dispensed.
    pub total: Option<Quantity>,
    /// Route (PO, IV…).
    pub route: Option<Coded>,
    /// Start.
    pub start: Option<When>,
    /// End.
    pub end: Option<When>,
    /// Duration in days, when given as such.
    pub days: Option<u32>,
    /// Status as given (FHIR status, HL7 completion status).
    pub status: Option<String>,
}

/// A result value.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationValue {
    /// A number with a unit.
    Quantity(Quantity),
    /// A coded answer.
    Coded(Coded),
    /// Free text. May contain names of people: the scrub step must see it before the lake.
    Text(String),
}

/// Observation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservationStatus {
    /// Ordered, no result yet (HL7 OBX-11 `O`, OML).
    Ordered,
    /// Preliminary.
    Preliminary,
    /// Final.
    Final,
    /// Corrected or amended.
    Corrected,
    /// Cancelled or entered in error.
    Cancelled,
    /// Not stated or another code.
    Unknown,
}

/// A lab result, vital sign or body measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// What was measured (JLAC10, LOINC, local).
    pub code: Option<Coded>,
    /// The value.
    pub value: Option<ObservationValue>,
    /// Reference range as written.
    pub reference_range: Option<String>,
    /// Abnormal flag / interpretation (H, L, N…).
    pub interpretation: Option<String>,
    /// When it was observed or the specimen taken.
    pub effective: Option<When>,
    /// Status.
    pub status: ObservationStatus,
    /// Category (laboratory, vital-signs…) when given.
    pub category: Option<String>,
    /// Specimen (JLAC10 material code), when given.
    pub specimen: Option<Coded>,
    /// The check-up programme (特定健診, infant or school check-up…) when the result is an item of
    /// one, as the source names it (`tokutei_kenshin`, `特定健診`…); such results go to the
    /// `checkups` table rather than `observations`.
    pub program: Option<String>,
}

/// One line of an insurance claim (レセプト) or of a long-term-care claim (介護給付費明細書).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimLine {
    /// The source's claim number; lines with the same number form one claim. When absent, the
    /// lines of one person and month form one claim (how care claims are made: one per month).
    pub claim: Option<String>,
    /// 診療年月 / サービス提供年月.
    pub month: (i32, u32),
    /// 医療機関コード or 介護事業所番号 of the claiming facility (names a facility, not a person).
    pub facility_code: Option<String>,
    /// 1-based line within the claim, when the source numbers lines.
    pub line: Option<u32>,
    /// Record kind of the line (SI, IY, TO, SY… for medical claims; `care` for care services).
    pub kind: String,
    /// What was claimed (receipt code, YJ code, ICD-10, care service code).
    pub code: Option<Coded>,
    /// Quantity (times, days, units).
    pub quantity: Option<Decimal>,
    /// Points (点数) or care units (単位) of the line, when given.
    pub points: Option<Decimal>,
    /// 要介護状態区分 (care level) on care claims.
    pub care_level: Option<String>,
}

/// A procedure performed.
#[derive(Debug, Clone, PartialEq)]
pub struct Procedure {
    /// What (JJ1017, SNOMED, local).
    pub code: Option<Coded>,
    /// When.
    pub performed: Option<When>,
    /// Status as given.
    pub status: Option<String>,
}

/// An allergy or intolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Allergy {
    /// Category (drug, food, environment…) as coded.
    pub category: Option<Coded>,
    /// The allergen.
    pub code: Option<Coded>,
    /// Severity as coded.
    pub severity: Option<Coded>,
    /// Reaction as written (free text).
    pub reaction: Option<String>,
    /// When identified.
    pub identified: Option<When>,
}

/// Insurance coverage.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    /// 保険者番号.
    pub insurer_number: Option<String>,
    /// 保険種別 (JHSD0001, FHIR type).
    pub kind: Option<Coded>,
    /// Start of validity.
    pub start: Option<When>,
    /// End of validity.
    pub end: Option<When>,
    /// Relationship to the insured (本人 / 家族).
    pub relationship: Option<String>,
}

/// A provider organization or an insurer.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    /// Name.
    pub name: Option<String>,
    /// Identifiers (system, value): 医療機関コード, 保険者番号, NPI…
    pub identifiers: Vec<(String, String)>,
    /// Type as coded.
    pub kind: Option<Coded>,
}

/// What a parser produced from one source.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// Accepted records.
    pub records: Vec<Record>,
    /// Inputs not accepted; each goes to quarantine.
    pub rejected: Vec<Rejected>,
    /// Counts of input units read (files, messages, entries, lines).
    pub read: u64,
}

impl Batch {
    /// Append another batch.
    pub fn extend(&mut self, other: Batch) {
        self.records.extend(other.records);
        self.rejected.extend(other.rejected);
        self.read += other.read;
    }

    /// Concatenate batches in order into one, sized once: growing one vector part by part
    /// copies every record again at each doubling and touches fresh pages each time, which
    /// showed as a tenth of an NDJSON intake's time in page faults.
    pub fn concat(parts: Vec<Batch>) -> Batch {
        let (records, rejected) = parts.iter().fold((0, 0), |(r, j), p| {
            (r + p.records.len(), j + p.rejected.len())
        });
        let mut out = Batch {
            records: Vec::with_capacity(records),
            rejected: Vec::with_capacity(rejected),
            read: 0,
        };
        for p in parts {
            out.extend(p);
        }
        out
    }

    /// Records of one kind (see [`Body::kind`]).
    pub fn count_kind(&self, kind: &str) -> usize {
        self.records
            .iter()
            .filter(|r| r.body.kind() == kind)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_parts_are_redacted() {
        let id = LocalPatientId::parse("9999013").unwrap();
        let mut ident = Identity::new(SubjectKey::local(&id));
        ident.names.push(PersonName {
            kind: NameKind::Kanji,
            family: Some("患者".into()),
            given: Some("太郎".into()),
            full: None,
        });
        let text = format!("{ident:?} {:?}", ident.subject);
        assert!(
            !text.contains("9999013") && !text.contains("患者"),
            "{text}"
        );

        let file = SourceFile::new(3, "/s/999/901/9999013/-/ADT-00/9999013_x");
        let rej = Rejected::new(
            Position::entry(&file, EntryKind::Message, 1).with_segment(SegmentPos {
                id: *b"PID",
                index: 2,
            }),
            "PID-3",
            Reason::PatientIdMismatch,
        )
        .with_raw(b"PID|0001||9999013");
        let shown = format!("{rej} {rej:?}");
        assert!(!shown.contains("9999013"), "{shown}");
        assert_eq!(
            rej.to_string(),
            "file #3 message 1 segment PID (#2), field PID-3: patient id in the message disagrees with the storage path"
        );
    }

    #[test]
    fn decimals_are_kept_as_written() {
        assert_eq!(Decimal::parse("4.90").unwrap().as_str(), "4.90");
        assert_eq!(Decimal::parse("－１．５").unwrap().as_str(), "-1.5");
        assert!(Decimal::parse("NaN").is_none());
        assert!(Decimal::parse("inf").is_none());
        assert!(Decimal::parse("1,000").is_none());
        assert!(Decimal::parse("").is_none());
    }

    #[test]
    fn type_names_from_input_are_sanitised() {
        assert_eq!(Reason::type_name("Basic"), "Basic");
        assert_eq!(Reason::type_name("山田\n太郎"), "?");
        assert_eq!(Reason::type_name(&"A".repeat(100)).len(), 40);
    }
}
