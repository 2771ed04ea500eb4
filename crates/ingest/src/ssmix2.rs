//! SS-MIX2 standardized storage (標準化ストレージ): walk the tree, check each file's name against
//! its folders, decode ISO-2022-JP, parse HL7 v2.5 and map the messages to records.
//!
//! Layout (標準化ストレージ仕様書 Ver.1.2): `root/<id[0..3]>/<id[3..6]>/<patient id>/<date|->/<data
//! kind>/<file>`, file name `<patient id>_<date|->_<data kind>_<order no.|->_<timestamp
//! yyyyMMddHHmmssfff>_<department|->_<condition flag>`. Condition flag `1` is current data, `0`
//! deleted or cancelled: such files are still read, and their records come out
//! [`RecordStatus::Cancelled`] so the pipeline can retract earlier copies.

use std::fs;

use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tsunagu_model::{LocalPatientId, PostalCode, Sex};

use crate::hl7::{self, Message, Segment, Value};
use crate::normalise::{self, FlagKind, Flags};
use crate::record::{
    Address, Allergy, Batch, Body, Clinical, ClinicalData, CodeSystem, Coded, Condition, Coverage,
    Decimal, Encounter, EncounterClass, EntryKind, Identity, InsuranceCard, Medication,
    MedicationKind, NameKind, Observation, ObservationStatus, ObservationValue, PersonName,
    Position, Quantity, Reason, Record, RecordStatus, Rejected, SourceFile, SubjectKey, When,
};

/// Limits for reading a storage.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Largest file read (bytes); larger files are rejected, not read.
    pub max_file_bytes: u64,
    /// Limits of the HL7 parser.
    pub hl7: hl7::Limits,
    /// Require the 0x1C byte that ends each stored message (followed only by CR/LF). Storage
    /// writers put it there (every file of the public sample has it); without it a file cut
    /// short cannot be told from a complete one, because HL7 v2 has no length or end segment.
    pub require_end_mark: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_file_bytes: 64 << 20,
            hl7: hl7::Limits::default(),
            require_end_mark: true,
        }
    }
}

/// The fields of an SS-MIX2 file name.
#[derive(Clone, PartialEq, Eq)]
pub struct FileName {
    /// 患者ID (personal: no `Display`, redacted `Debug`).
    pub patient_id: String,
    /// 診療日 (`None` for `-`: data without a date, such as ADT-00 or PPR-01).
    pub date: Option<chrono::NaiveDate>,
    /// データ種別 (`ADT-00`, `OMP-01`, `OMD`…).
    pub data_kind: String,
    /// オーダNo (`None` for `-`).
    pub order_number: Option<String>,
    /// 発生日時 (yyyyMMddHHmmssfff).
    pub timestamp: chrono::NaiveDateTime,
    /// 診療科コード (`None` for `-`).
    pub department: Option<String>,
    /// コンディションフラグ: `true` for current data (`1`), `false` for deleted or cancelled (`0`).
    pub current: bool,
}

impl std::fmt::Debug for FileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileName")
            .field("patient_id", &"[redacted]")
            .field("date", &self.date)
            .field("data_kind", &self.data_kind)
            .field("timestamp", &self.timestamp)
            .field("department", &self.department)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

fn dash(s: &str) -> Option<&str> {
    if s == "-" { None } else { Some(s) }
}

/// Whether a data kind is well formed: three capitals and an optional `-nn`.
fn valid_kind(k: &str) -> bool {
    let b = k.as_bytes();
    let head = b.len() >= 3 && b[..3].iter().all(u8::is_ascii_uppercase);
    head && (b.len() == 3
        || (b.len() == 6 && b[3] == b'-' && b[4..].iter().all(u8::is_ascii_digit)))
}

impl FileName {
    /// Parse a file name. Split from the right, so a patient id containing `_` still parses.
    pub fn parse(name: &str) -> Result<Self, Reason> {
        let mut parts = name.rsplitn(7, '_');
        let flag = parts.next().ok_or(Reason::BadFileName("too few fields"))?;
        let dept = parts.next().ok_or(Reason::BadFileName("too few fields"))?;
        let ts = parts.next().ok_or(Reason::BadFileName("too few fields"))?;
        let order = parts.next().ok_or(Reason::BadFileName("too few fields"))?;
        let kind = parts.next().ok_or(Reason::BadFileName("too few fields"))?;
        let date = parts.next().ok_or(Reason::BadFileName("too few fields"))?;
        let pid = parts.next().ok_or(Reason::BadFileName("too few fields"))?;
        let current = match flag {
            "1" => true,
            "0" => false,
            _ => return Err(Reason::BadFileName("condition flag must be 0 or 1")),
        };
        if !valid_kind(kind) {
            return Err(Reason::BadFileName(
                "data kind must look like ADT-00 or OMD",
            ));
        }
        let date = match dash(date) {
            None => None,
            Some(d) if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) => Some(
                chrono::NaiveDate::parse_from_str(d, "%Y%m%d")
                    .map_err(|_| Reason::BadFileName("date is not a calendar day"))?,
            ),
            Some(_) => return Err(Reason::BadFileName("date must be yyyyMMdd or -")),
        };
        if ts.len() != 17 || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Reason::BadFileName("timestamp must be 17 digits"));
        }
        let timestamp = chrono::NaiveDateTime::parse_from_str(&ts[..14], "%Y%m%d%H%M%S")
            .map_err(|_| Reason::BadFileName("timestamp is not a valid time"))?
            + chrono::Duration::milliseconds(ts[14..].parse::<i64>().unwrap_or(0));
        if order.is_empty() || dept.is_empty() || pid.is_empty() {
            return Err(Reason::BadFileName("empty field"));
        }
        Ok(FileName {
            patient_id: pid.to_owned(),
            date,
            data_kind: kind.to_owned(),
            order_number: dash(order).map(str::to_owned),
            timestamp,
            department: dash(dept).map(str::to_owned),
            current,
        })
    }
}

/// Read a whole standardized storage. Files are visited in sorted path order, so the output and
/// the file ordinals are the same on every run. Only a root that cannot be listed is an error;
/// every problem below it becomes a [`Rejected`] entry.
pub fn read_storage(root: &Path, opts: &Options) -> Result<Batch, std::io::Error> {
    let mut files = Vec::new();
    collect(root, 0, &mut files)?;
    files.sort();
    // Files are independent: read and parse them in parallel; `collect` keeps the sorted order.
    let parts: Vec<Batch> = files
        .into_par_iter()
        .enumerate()
        .map(|(i, (path, depth))| {
            let ordinal = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let source = SourceFile::new(ordinal, rel.clone());
            let whole = |field: &str, reason: Reason| Batch {
                records: Vec::new(),
                rejected: vec![Rejected::new(Position::file(&source), field, reason)],
                read: 1,
            };
            if depth != 6 {
                return whole(
                    "path",
                    Reason::BadFileName("not at the depth of a standardized-storage file"),
                );
            }
            match read_capped(&path, opts.max_file_bytes) {
                Ok(bytes) => read_file(&source, &rel, &bytes, opts),
                Err(reason) => whole("file", reason),
            }
        })
        .collect();
    Ok(Batch::concat(parts))
}

fn collect(
    dir: &Path,
    depth: usize,
    out: &mut Vec<(PathBuf, usize)>,
) -> Result<(), std::io::Error> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        // Dot files (.DS_Store, editors' swap files) are not storage content.
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let ty = entry.file_type()?;
        let path = entry.path();
        // Symbolic links are not followed: a storage must not reach outside its root.
        if ty.is_dir() && depth < 6 {
            collect(&path, depth + 1, out)?;
        } else {
            out.push((path, depth + 1));
        }
    }
    Ok(())
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, Reason> {
    use std::io::Read;
    let meta = fs::symlink_metadata(path).map_err(|e| Reason::Io(e.kind().to_string()))?;
    if !meta.is_file() {
        return Err(Reason::Io("not a regular file".into()));
    }
    if meta.len() > max {
        return Err(Reason::TooLarge {
            limit: max,
            unit: "bytes",
        });
    }
    let f = fs::File::open(path).map_err(|e| Reason::Io(e.kind().to_string()))?;
    let mut buf = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Reason::Io(e.kind().to_string()))?;
    if buf.len() as u64 > max {
        return Err(Reason::TooLarge {
            limit: max,
            unit: "bytes",
        });
    }
    Ok(buf)
}

/// Read one file given its path relative to the storage root (`h1/h2/id/date/kind/name`).
pub fn read_file(source: &Arc<SourceFile>, rel: &Path, bytes: &[u8], opts: &Options) -> Batch {
    let pos = Position::file(source);
    let reject = |field: &str, reason: Reason| Batch {
        records: Vec::new(),
        rejected: vec![Rejected::new(pos.clone(), field, reason).with_raw(bytes)],
        read: 1,
    };
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let [h1, h2, pid_dir, date_dir, kind_dir, name] = parts.as_slice() else {
        return reject(
            "path",
            Reason::BadFileName("not at the depth of a standardized-storage file"),
        );
    };
    let fname = match FileName::parse(name) {
        Ok(f) => f,
        Err(r) => return reject("file name", r),
    };
    if &fname.patient_id != pid_dir {
        return reject("file name", Reason::PathMismatch("patient id"));
    }
    let date_str = fname
        .date
        .map_or_else(|| "-".to_owned(), |d| d.format("%Y%m%d").to_string());
    if &date_str != date_dir {
        return reject("file name", Reason::PathMismatch("date"));
    }
    if &fname.data_kind != kind_dir {
        return reject("file name", Reason::PathMismatch("data kind"));
    }
    let id = &fname.patient_id;
    if id.len() >= 6 && id.is_ascii() && (id[..3] != **h1 || id[3..6] != **h2) {
        return reject("path", Reason::PathMismatch("hash folders"));
    }
    let patient = match LocalPatientId::parse(id) {
        Ok(p) => p,
        Err(e) => return reject("file name", Reason::Invalid(e.why)),
    };
    let mut out = parse_message_bytes(source, bytes, Some(&patient), Some(&fname.data_kind), opts);
    if !fname.current {
        for r in &mut out.records {
            r.status = RecordStatus::Cancelled;
        }
    }
    out
}

/// Which message types a data kind folder may hold.
fn kind_allows(kind: &str, msg_type: &str) -> bool {
    match kind.get(..3) {
        Some("ADT") => msg_type == "ADT",
        Some("PPR") => msg_type == "PPR",
        Some("OMP") => matches!(msg_type, "RDE" | "RAS" | "OMP"),
        Some("OML") => matches!(msg_type, "OML" | "OUL" | "ORU"),
        Some("OMG") => matches!(msg_type, "OMG" | "OMI" | "ORU"),
        Some("OMD") => msg_type == "OMD",
        // Other kinds (extensions, newer spec versions): the message decides.
        _ => true,
    }
}

/// Decode and map the bytes of one HL7 file. `expected` is the patient id from the storage path
/// (a PID-3 that disagrees rejects the whole file); `data_kind` the folder's data kind.
pub fn parse_message_bytes(
    source: &Arc<SourceFile>,
    bytes: &[u8],
    expected: Option<&LocalPatientId>,
    data_kind: Option<&str>,
    opts: &Options,
) -> Batch {
    let file_pos = Position::file(source);
    let mut batch = Batch {
        read: 1,
        ..Batch::default()
    };
    let mut file_flags = Flags::default();
    let text = match hl7::decode(bytes, &mut file_flags) {
        Ok(t) => t,
        Err(_) => {
            batch.rejected.push(
                Rejected::new(file_pos, "file", Reason::Encoding("ISO-2022-JP")).with_raw(bytes),
            );
            return batch;
        }
    };
    if opts.require_end_mark {
        let end = bytes.iter().rposition(|b| !matches!(b, b'\r' | b'\n'));
        if end.is_none_or(|i| bytes[i] != 0x1C) {
            batch.rejected.push(
                Rejected::new(
                    file_pos,
                    "file",
                    Reason::Syntax(
                        "no end-of-message mark (0x1C): the file may be truncated".into(),
                    ),
                )
                .with_raw(bytes),
            );
            return batch;
        }
    }
    // A storage file holds one message. Parse the first on its own, so that a file with junk
    // after its message still reports whose data it carries (PID-3) before its syntax.
    let first_end = text
        .match_indices("MSH")
        .map(|(i, _)| i)
        .find(|&i| i > 0 && matches!(text.as_bytes()[i - 1], b'\r' | b'\n'))
        .unwrap_or(text.len());
    let messages = match hl7::parse(&text[..first_end], &opts.hl7) {
        Ok(m) => m,
        Err(e) => {
            batch.rejected.push(
                Rejected::new(file_pos, "file", Reason::Syntax(e.to_string())).with_raw(bytes),
            );
            return batch;
        }
    };
    let msg = &messages[0];
    let msg_pos = Position::entry(source, EntryKind::Message, 1);
    let Some(pid) = msg.first("PID") else {
        batch
            .rejected
            .push(Rejected::new(msg_pos, "PID", Reason::Missing).with_raw(bytes));
        return batch;
    };
    let pid_pos = msg_pos.with_segment(pid.pos());
    let in_file = match patient_id_of(pid) {
        Some(p) => p,
        None => {
            batch
                .rejected
                .push(Rejected::new(pid_pos, "PID-3", Reason::Missing).with_raw(bytes));
            return batch;
        }
    };
    let patient = match LocalPatientId::parse(&in_file) {
        Ok(p) => p,
        Err(e) => {
            batch
                .rejected
                .push(Rejected::new(pid_pos, "PID-3", Reason::Invalid(e.why)).with_raw(bytes));
            return batch;
        }
    };
    if let Some(exp) = expected
        && exp != &patient
    {
        batch
            .rejected
            .push(Rejected::new(pid_pos, "PID-3", Reason::PatientIdMismatch).with_raw(bytes));
        return batch;
    }
    if first_end < text.len() || messages.len() > 1 {
        batch.rejected.push(
            Rejected::new(
                file_pos,
                "file",
                Reason::Syntax("more than one message (MSH) in one storage file".into()),
            )
            .with_raw(bytes),
        );
        return batch;
    }
    let (mtype, trigger) = msg.message_type();
    if let Some(kind) = data_kind
        && !kind_allows(kind, &mtype)
    {
        batch.rejected.push(
            Rejected::new(msg_pos, "MSH-9", Reason::PathMismatch("message type")).with_raw(bytes),
        );
        return batch;
    }
    let subject = SubjectKey::local(&patient);
    let mut m = Mapper {
        msg,
        msg_pos: &msg_pos,
        subject: &subject,
        file_flags: &file_flags,
        data_kind,
        out: &mut batch,
        bytes,
    };
    m.identity(pid, patient.clone());
    match (mtype.as_ref(), trigger.as_ref()) {
        ("ADT", "A60") => m.allergies("IAM"),
        ("ADT", _) => {
            m.encounter(&trigger);
            m.observations(ObservationStatus::Final);
            m.allergies("AL1");
            m.insurance("IN1");
        }
        ("PPR", "ZD1") => {
            m.conditions();
            m.insurance("ZI1");
        }
        ("RDE", "O11") => m.prescriptions(),
        ("RAS", "O17") => m.administrations(),
        ("OML", "O33") => m.observations(ObservationStatus::Ordered),
        ("OUL", "R22") | ("ORU", "R01") => m.observations(ObservationStatus::Final),
        _ => {
            let name = Reason::type_name(&format!("{mtype}^{trigger}"));
            m.out.rejected.push(
                Rejected::new(
                    msg_pos.clone(),
                    "MSH-9",
                    Reason::Unsupported {
                        kind: "message type",
                        name,
                    },
                )
                .with_raw(bytes),
            );
        }
    }
    batch
}

/// PID-3: the repetition typed `PI` (patient internal id), else the first.
fn patient_id_of(pid: &Segment<'_>) -> Option<String> {
    let f = pid.field(3);
    let chosen = f
        .repetitions()
        .find(|r| r.comp(5).text() == "PI")
        .unwrap_or_else(|| f.rep(0));
    let id = chosen.comp(1).text();
    let id = id.trim();
    if id.is_empty() {
        None
    } else {
        Some(id.to_owned())
    }
}

/// A CWE/CE value: code, text, coding system (and the alternate triple when the first is empty).
fn coded(v: Value<'_>, field: &'static str, flags: &mut Flags) -> Option<Coded> {
    let (mut c, mut d, mut s) = (v.comp(1), v.comp(2), v.comp(3));
    if c.is_empty() && !v.comp(4).is_empty() {
        (c, d, s) = (v.comp(4), v.comp(5), v.comp(6));
    }
    let code = c.text().trim().to_owned();
    let display = d.norm(field, flags);
    if code.is_empty() && display.is_none() {
        return None;
    }
    let system = CodeSystem::from_name(s.text().trim());
    Some(Coded {
        system,
        code,
        display,
    })
}

/// JLAC10: 17 characters (analyte 5, identification 4, material 3, method 3, result 2), ASCII
/// letters and digits.
pub fn valid_jlac10(code: &str) -> bool {
    code.len() == 17 && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn when(v: Value<'_>) -> Result<Option<When>, normalise::DateError> {
    if v.is_empty() {
        return Ok(None);
    }
    normalise::parse_hl7_ts(&v.text()).map(Some)
}

fn quantity(
    amount: Value<'_>,
    unit: Value<'_>,
    field: &'static str,
    flags: &mut Flags,
) -> Result<Option<Quantity>, ()> {
    if amount.is_empty() {
        return Ok(None);
    }
    let value = Decimal::parse(&amount.text()).ok_or(())?;
    let unit = if unit.comp(1).is_empty() {
        unit.comp(2).norm(field, flags)
    } else {
        unit.comp(1).norm(field, flags)
    };
    Ok(Some(Quantity { value, unit }))
}

struct Mapper<'m, 'a> {
    msg: &'m Message<'a>,
    msg_pos: &'m Position,
    subject: &'m SubjectKey,
    file_flags: &'m Flags,
    data_kind: Option<&'m str>,
    out: &'m mut Batch,
    bytes: &'m [u8],
}

/// Builds one record; field errors reject the record, not the file.
type Built<T> = Result<T, (&'static str, Reason)>;

impl<'m, 'a> Mapper<'m, 'a> {
    fn push(&mut self, seg: &Segment<'_>, flags: Flags, built: Built<Body>) {
        let pos = self.msg_pos.with_segment(seg.pos());
        match built {
            Ok(body) => {
                let mut all = self.file_flags.clone();
                for f in flags.0 {
                    all.push(f.field, f.kind);
                }
                self.out.records.push(Record {
                    position: pos,
                    status: RecordStatus::Active,
                    flags: all.0,
                    body,
                });
            }
            Err((field, reason)) => self
                .out
                .rejected
                .push(Rejected::new(pos, field, reason).with_raw(self.bytes)),
        }
    }

    fn clinical(&self, source_id: Option<String>, data: ClinicalData) -> Body {
        Body::Clinical(Clinical {
            subject: Some(self.subject.clone()),
            source_id,
            encounter: None,
            data,
        })
    }

    fn identity(&mut self, pid: &Segment<'_>, patient: LocalPatientId) {
        let mut flags = Flags::default();
        let built = (|| -> Built<Body> {
            let mut id = Identity::new(self.subject.clone());
            id.local_patient_id = Some(patient);
            for rep in pid.field(5).repetitions() {
                let kind = match rep.comp(8).text().as_ref() {
                    "I" => NameKind::Kanji,
                    "P" => NameKind::Kana,
                    "A" => NameKind::Alphabetic,
                    _ => NameKind::Unspecified,
                };
                let family = rep.comp(1).norm("PID-5", &mut flags);
                let given = rep.comp(2).norm("PID-5", &mut flags);
                if family.is_some() || given.is_some() {
                    id.names.push(PersonName {
                        kind,
                        family,
                        given,
                        full: None,
                    });
                }
            }
            let dob = pid.field(7);
            if !dob.is_empty() {
                let d = normalise::parse_hl7_ts(&dob.comp(1).text())
                    .map_err(|_| ("PID-7", Reason::Invalid("birth date is not yyyyMMdd")))?;
                id.birth_date = Some(d);
            }
            let sex = pid.field(8);
            if !sex.is_empty() {
                id.sex = Some(
                    Sex::parse(&sex.comp(1).text())
                        .map_err(|e| ("PID-8", Reason::Invalid(e.why)))?,
                );
            }
            for rep in pid.field(11).repetitions() {
                let postal = rep.comp(5);
                let postal_code = if postal.is_empty() {
                    None
                } else {
                    match PostalCode::parse(&postal.text()) {
                        Ok(p) => Some(p),
                        Err(_) => {
                            flags.push("PID-11", FlagKind::InvalidValueDropped);
                            None
                        }
                    }
                };
                // JAHIS puts the whole address in XAD-8 (other geographic designation); some
                // senders split it into state / city / street.
                let text = rep.comp(8).norm("PID-11", &mut flags).or_else(|| {
                    let joined: String = [4, 3, 1, 2]
                        .iter()
                        .map(|&n| rep.comp(n).text().into_owned())
                        .collect();
                    flags.text("PID-11", &joined)
                });
                if postal_code.is_some() || text.is_some() {
                    id.addresses.push(Address { postal_code, text });
                }
            }
            for f in [13, 14] {
                for rep in pid.field(f).repetitions() {
                    // XTN-12 unformatted number, else XTN-1 (the older free-form place).
                    let n = if rep.comp(12).is_empty() {
                        rep.comp(1)
                    } else {
                        rep.comp(12)
                    };
                    if let Some(p) = n.norm("PID-13", &mut flags) {
                        id.phones.push(p);
                    }
                }
            }
            let death = pid.field(29);
            if !death.is_empty() {
                id.deceased =
                    Some(normalise::parse_hl7_ts(&death.comp(1).text()).map_err(|_| {
                        (
                            "PID-29",
                            Reason::Invalid("date of death is not a timestamp"),
                        )
                    })?);
            }
            Ok(Body::Identity(Box::new(id)))
        })();
        self.push(pid, flags, built);
    }

    fn encounter(&mut self, trigger: &str) {
        let msg: &'m Message<'a> = self.msg;
        let segs = msg.segments_named("PV1");
        for pv1 in segs {
            // PV1-2 `N` (not applicable): the message is about the patient, not a visit (the
            // ADT-00 patient record carries such a PV1).
            if pv1.field(2).comp(1).text().as_ref() == "N" {
                continue;
            }
            let mut flags = Flags::default();
            let built = (|| -> Built<Body> {
                let class = match pv1.field(2).comp(1).text().as_ref() {
                    "" => None,
                    "I" => Some(EncounterClass::Inpatient),
                    "O" => Some(EncounterClass::Outpatient),
                    "E" => Some(EncounterClass::Emergency),
                    other => Some(EncounterClass::Other(Reason::type_name(other))),
                };
                let start = when(pv1.field(44).comp(1)).map_err(|_| {
                    (
                        "PV1-44",
                        Reason::Invalid("admission time is not a timestamp"),
                    )
                })?;
                let end = when(pv1.field(45).comp(1)).map_err(|_| {
                    (
                        "PV1-45",
                        Reason::Invalid("discharge time is not a timestamp"),
                    )
                })?;
                let dept = pv1.field(10);
                let department = if dept.comp(1).is_empty() {
                    None
                } else {
                    Some(Coded {
                        system: CodeSystem::Other("HL70069".into()),
                        code: dept.comp(1).text().trim().to_owned(),
                        display: dept.comp(2).norm("PV1-10", &mut flags),
                    })
                };
                // The visit number (PV1-19) names the stay; lacking it, an inpatient stay is named
                // by its admission time, so its admission (A01) and discharge (A03) messages
                // describe one encounter.
                let visit = pv1.field(19).comp(1);
                let admitted = pv1.field(44).comp(1);
                let source = if !visit.is_empty() {
                    Some(visit.text().into_owned())
                } else if class == Some(EncounterClass::Inpatient) && !admitted.is_empty() {
                    Some(format!("admission:{}", admitted.text().trim()))
                } else {
                    None
                };
                Ok(self.clinical(
                    source,
                    ClinicalData::Encounter(Encounter {
                        class,
                        start,
                        end,
                        department,
                        event: Some(Reason::type_name(trigger)),
                    }),
                ))
            })();
            self.push(pv1, flags, built);
        }
    }

    fn allergies(&mut self, seg_id: &'static str) {
        let msg: &'m Message<'a> = self.msg;
        let segs = msg.segments_named(seg_id);
        // AL1 and IAM agree on fields 2–5; the identification / onset date differs.
        let date_field = if seg_id == "IAM" { 11 } else { 6 };
        for s in segs {
            let mut flags = Flags::default();
            let built = (|| -> Built<Body> {
                let code = coded(s.field(3), seg_id, &mut flags);
                if code.is_none() {
                    return Err((
                        if seg_id == "IAM" { "IAM-3" } else { "AL1-3" },
                        Reason::Missing,
                    ));
                }
                let identified = when(s.field(date_field).comp(1)).map_err(|_| {
                    (
                        if seg_id == "IAM" { "IAM-11" } else { "AL1-6" },
                        Reason::Invalid("not a date"),
                    )
                })?;
                Ok(self.clinical(
                    None,
                    ClinicalData::Allergy(Allergy {
                        category: coded(s.field(2), seg_id, &mut flags),
                        code,
                        severity: coded(s.field(4), seg_id, &mut flags),
                        reaction: s.field(5).norm(seg_id, &mut flags),
                        identified,
                    }),
                ))
            })();
            self.push(s, flags, built);
        }
    }

    /// IN1 (ADT) and JAHIS ZI1 (PPR) share the layout used here: 2 plan type (JHSD0001), 3
    /// insurer number, 10 記号, 11 番号, 12/13 validity, 17 relationship.
    fn insurance(&mut self, seg_id: &'static str) {
        let msg: &'m Message<'a> = self.msg;
        let segs = msg.segments_named(seg_id);
        for s in segs {
            let mut flags = Flags::default();
            let built = (|| -> Built<(Body, Body)> {
                let insurer = s.field(3).comp(1).norm(seg_id, &mut flags);
                let start = when(s.field(12).comp(1))
                    .map_err(|_| (seg_id, Reason::Invalid("validity start is not a date")))?;
                let end = when(s.field(13).comp(1))
                    .map_err(|_| (seg_id, Reason::Invalid("validity end is not a date")))?;
                let coverage = self.clinical(
                    None,
                    ClinicalData::Coverage(Coverage {
                        insurer_number: insurer.clone(),
                        kind: coded(s.field(2), seg_id, &mut flags),
                        start,
                        end,
                        relationship: s.field(17).comp(1).norm(seg_id, &mut flags),
                    }),
                );
                let mut id = Identity::new(self.subject.clone());
                let card = InsuranceCard {
                    insurer_number: insurer,
                    symbol: s.field(10).rep(0).comp(1).norm(seg_id, &mut flags),
                    number: s.field(11).comp(1).norm(seg_id, &mut flags),
                    branch: None,
                };
                if card.symbol.is_some() || card.number.is_some() {
                    id.insurance.push(card);
                }
                Ok((coverage, Body::Identity(Box::new(id))))
            })();
            match built {
                Ok((coverage, identity)) => {
                    let has_card =
                        matches!(&identity, Body::Identity(i) if !i.insurance.is_empty());
                    self.push(s, flags.clone(), Ok(coverage));
                    if has_card {
                        self.push(s, flags, Ok(identity));
                    }
                }
                Err(e) => self.push(s, flags, Err(e)),
            }
        }
    }

    fn conditions(&mut self) {
        let msg: &'m Message<'a> = self.msg;
        let segs = msg.segments_named("PRB");
        for prb in segs {
            let mut flags = Flags::default();
            let built = (|| -> Built<Body> {
                let code = coded(prb.field(3), "PRB-3", &mut flags);
                let class = prb.field(10);
                let icd10 = if !class.comp(1).is_empty()
                    && CodeSystem::from_name(class.comp(3).text().trim()) == CodeSystem::Icd10
                {
                    Some(
                        normalise::check_icd10(&class.comp(1).text(), "PRB-10", &mut flags)
                            .map_err(|_| ("PRB-10", Reason::BadCode("ICD-10")))?,
                    )
                } else {
                    None
                };
                if code.is_none() && icd10.is_none() {
                    return Err(("PRB-3", Reason::Missing));
                }
                let date = |n: usize, field: &'static str| {
                    when(prb.field(n).comp(1))
                        .map_err(|_| (field, Reason::Invalid("not a timestamp")))
                };
                let onset = match date(16, "PRB-16")? {
                    Some(w) => Some(w),
                    None => date(7, "PRB-7")?,
                };
                Ok(self.clinical(
                    (!prb.field(4).is_empty()).then(|| prb.field(4).comp(1).text().into_owned()),
                    ClinicalData::Condition(Condition {
                        code,
                        icd10,
                        onset,
                        recorded: date(2, "PRB-2")?,
                        abated: date(9, "PRB-9")?,
                        status: prb.field(14).comp(1).norm("PRB-14", &mut flags),
                        primary: prb.field(18).comp(1).text() == "1",
                        suspected: false,
                    }),
                ))
            })();
            self.push(prb, flags, built);
        }
    }

    /// The segments after `start` up to the next ORC (an order group).
    fn group_after(&self, start: usize) -> Vec<Segment<'a>> {
        self.msg.segments[start + 1..]
            .iter()
            .take_while(|s| s.id != "ORC" && s.id != "RXE" && s.id != "RXA")
            .cloned()
            .collect()
    }

    fn order_number(&self, at: usize) -> Option<String> {
        self.msg.segments[..at]
            .iter()
            .rev()
            .find(|s| s.id == "ORC")
            .map(|orc| orc.field(2).comp(1).text().into_owned())
            .filter(|s| !s.is_empty())
    }

    fn route(group: &[Segment<'_>], flags: &mut Flags) -> Option<Coded> {
        group
            .iter()
            .find(|s| s.id == "RXR")
            .and_then(|r| coded(r.field(1), "RXR-1", flags))
    }

    fn prescriptions(&mut self) {
        let injection = self.data_kind == Some("OMP-02");
        let starts: Vec<usize> = (0..self.msg.segments.len())
            .filter(|&i| self.msg.segments[i].id == "RXE")
            .collect();
        for i in starts {
            let msg: &'m Message<'a> = self.msg;
            let rxe = &msg.segments[i];
            let group = self.group_after(i);
            let order = self.order_number(i);
            let tq1 = group.iter().find(|s| s.id == "TQ1").cloned();
            let mut flags = Flags::default();
            let route = Self::route(&group, &mut flags);
            let timing = (|| -> Built<(Option<When>, Option<When>, Option<u32>)> {
                let Some(t) = &tq1 else {
                    return Ok((None, None, None));
                };
                let start = when(t.field(7).comp(1))
                    .map_err(|_| ("TQ1-7", Reason::Invalid("not a timestamp")))?;
                let end = when(t.field(8).comp(1))
                    .map_err(|_| ("TQ1-8", Reason::Invalid("not a timestamp")))?;
                let dur = t.field(6);
                let days = if dur.is_empty() {
                    None
                } else if dur.comp(2).text() == "d" {
                    Some(dur.comp(1).text().trim().parse::<u32>().map_err(|_| {
                        ("TQ1-6", Reason::Invalid("duration is not a whole number"))
                    })?)
                } else {
                    None
                };
                Ok((start, end, days))
            })();
            let rxcs: Vec<&Segment<'_>> = group.iter().filter(|s| s.id == "RXC").collect();
            if rxcs.is_empty() {
                let built = (|| -> Built<Body> {
                    let (start, end, days) = timing.clone()?;
                    let code = coded(rxe.field(2), "RXE-2", &mut flags);
                    if code.is_none() {
                        return Err(("RXE-2", Reason::Missing));
                    }
                    let dose = quantity(rxe.field(3), rxe.field(5), "RXE-5", &mut flags)
                        .map_err(|()| ("RXE-3", Reason::Invalid("amount is not a number")))?;
                    let total = quantity(rxe.field(10), rxe.field(11), "RXE-11", &mut flags)
                        .map_err(|()| ("RXE-10", Reason::Invalid("amount is not a number")))?;
                    Ok(self.clinical(
                        order.clone(),
                        ClinicalData::Medication(Medication {
                            kind: if injection {
                                MedicationKind::Injection
                            } else {
                                MedicationKind::Prescription
                            },
                            code,
                            dose,
                            total,
                            route: route.clone(),
                            start,
                            end,
                            days,
                            status: None,
                        }),
                    ))
                })();
                self.push(rxe, flags, built);
            } else {
                // An injection order: RXE-2 is a placeholder, the medicines are the RXC components.
                for rxc in rxcs {
                    let mut flags = flags.clone();
                    let built = (|| -> Built<Body> {
                        let (start, end, days) = timing.clone()?;
                        let code = coded(rxc.field(2), "RXC-2", &mut flags);
                        if code.is_none() {
                            return Err(("RXC-2", Reason::Missing));
                        }
                        let dose = quantity(rxc.field(3), rxc.field(4), "RXC-4", &mut flags)
                            .map_err(|()| ("RXC-3", Reason::Invalid("amount is not a number")))?;
                        Ok(self.clinical(
                            order.clone(),
                            ClinicalData::Medication(Medication {
                                kind: MedicationKind::Injection,
                                code,
                                dose,
                                total: None,
                                route: route.clone(),
                                start,
                                end,
                                days,
                                status: None,
                            }),
                        ))
                    })();
                    self.push(rxc, flags, built);
                }
            }
        }
    }

    fn administrations(&mut self) {
        let starts: Vec<usize> = (0..self.msg.segments.len())
            .filter(|&i| self.msg.segments[i].id == "RXA")
            .collect();
        for i in starts {
            let msg: &'m Message<'a> = self.msg;
            let rxa = &msg.segments[i];
            let group = self.group_after(i);
            let order = self.order_number(i);
            let mut flags = Flags::default();
            let built = (|| -> Built<Body> {
                let code = coded(rxa.field(5), "RXA-5", &mut flags);
                if code.is_none() {
                    return Err(("RXA-5", Reason::Missing));
                }
                let start = when(rxa.field(3).comp(1))
                    .map_err(|_| ("RXA-3", Reason::Invalid("not a timestamp")))?;
                let end = when(rxa.field(4).comp(1))
                    .map_err(|_| ("RXA-4", Reason::Invalid("not a timestamp")))?;
                let dose = quantity(rxa.field(6), rxa.field(7), "RXA-7", &mut flags)
                    .map_err(|()| ("RXA-6", Reason::Invalid("amount is not a number")))?;
                Ok(self.clinical(
                    order,
                    ClinicalData::Medication(Medication {
                        kind: MedicationKind::Administration,
                        code,
                        dose,
                        total: None,
                        route: Self::route(&group, &mut flags),
                        start,
                        end,
                        days: None,
                        status: rxa.field(20).comp(1).norm("RXA-20", &mut flags),
                    }),
                ))
            })();
            self.push(rxa, flags, built);
        }
    }

    /// OBX segments, with the context of the SPM and OBR before them.
    fn observations(&mut self, default_status: ObservationStatus) {
        let msg: &'m Message<'a> = self.msg;
        let segs = &msg.segments;
        let mut spm: Option<&Segment<'_>> = None;
        let mut obr: Option<&Segment<'_>> = None;
        for s in segs {
            match s.id {
                "SPM" => spm = Some(s),
                "OBR" => obr = Some(s),
                "OBX" => {
                    let mut flags = Flags::default();
                    let built = self.observation(s, spm, obr, default_status, &mut flags);
                    self.push(s, flags, built);
                }
                _ => {}
            }
        }
    }

    fn observation(
        &self,
        obx: &Segment<'_>,
        spm: Option<&Segment<'_>>,
        obr: Option<&Segment<'_>>,
        default_status: ObservationStatus,
        flags: &mut Flags,
    ) -> Built<Body> {
        let code = coded(obx.field(3), "OBX-3", flags);
        match &code {
            None => return Err(("OBX-3", Reason::Missing)),
            // A test code (not a specimen's 3-digit material code) must be the full 17.
            Some(c) if c.system == CodeSystem::Jlac10 && !valid_jlac10(&c.code) => {
                flags.push("OBX-3", FlagKind::CodeNotWellFormed);
            }
            Some(_) => {}
        }
        let vt = obx.field(2).comp(1).text();
        let v = obx.field(5);
        let value = if v.is_empty() {
            None
        } else {
            Some(match vt.as_ref() {
                "NM" => {
                    let q = quantity(v, obx.field(6), "OBX-6", flags).map_err(|()| {
                        ("OBX-5", Reason::Invalid("value of type NM is not a number"))
                    })?;
                    match q {
                        Some(q) => ObservationValue::Quantity(q),
                        None => return Err(("OBX-5", Reason::Missing)),
                    }
                }
                "CWE" | "CE" | "CNE" => match coded(v, "OBX-5", flags) {
                    Some(c) => ObservationValue::Coded(c),
                    None => return Err(("OBX-5", Reason::Missing)),
                },
                // A person's name (XCN, XPN) in a result: not clinical data for the lake.
                "XCN" | "XPN" | "XAD" | "XTN" => {
                    return Err((
                        "OBX-2",
                        Reason::Unsupported {
                            kind: "value type",
                            name: vt.into_owned(),
                        },
                    ));
                }
                _ => match v.norm("OBX-5", flags) {
                    Some(t) => ObservationValue::Text(t),
                    None => return Err(("OBX-5", Reason::Missing)),
                },
            })
        };
        let status = match obx.field(11).comp(1).text().as_ref() {
            "O" => ObservationStatus::Ordered,
            "P" => ObservationStatus::Preliminary,
            "F" => ObservationStatus::Final,
            "C" => ObservationStatus::Corrected,
            "X" | "D" | "W" => ObservationStatus::Cancelled,
            "" => default_status,
            _ => ObservationStatus::Unknown,
        };
        let ts =
            |seg: Option<&Segment<'_>>, n: usize, field: &'static str| -> Built<Option<When>> {
                match seg {
                    Some(s) => when(s.field(n).comp(1))
                        .map_err(|_| (field, Reason::Invalid("not a timestamp"))),
                    None => Ok(None),
                }
            };
        let effective = match ts(Some(obx), 14, "OBX-14")? {
            Some(w) => Some(w),
            None => match ts(obr, 7, "OBR-7")? {
                Some(w) => Some(w),
                None => ts(spm, 17, "SPM-17")?,
            },
        };
        let specimen = spm.and_then(|s| coded(s.field(4), "SPM-4", flags));
        let order = obr
            .map(|o| o.field(2).comp(1).text().into_owned())
            .filter(|s| !s.is_empty());
        Ok(self.clinical(
            order,
            ClinicalData::Observation(Observation {
                code,
                value,
                reference_range: obx.field(7).norm("OBX-7", flags),
                interpretation: obx.field(8).comp(1).norm("OBX-8", flags),
                effective,
                status,
                category: None,
                specimen,
                program: None,
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_parse() {
        let f = FileName::parse("9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1")
            .unwrap();
        assert_eq!(f.patient_id, "9999013");
        assert_eq!(f.date.unwrap().to_string(), "2011-07-01");
        assert_eq!(f.data_kind, "OMP-01");
        assert_eq!(f.order_number.as_deref(), Some("000000011000185"));
        assert_eq!(f.timestamp.to_string(), "2011-07-01 22:46:03.984");
        assert_eq!(f.department.as_deref(), Some("01"));
        assert!(f.current);
        assert!(!format!("{f:?}").contains("9999013"));
        let f = FileName::parse("A_B_-_ADT-00_-_20111220224447339_-_0").unwrap();
        assert_eq!(f.patient_id, "A_B");
        assert!(
            f.date.is_none() && f.order_number.is_none() && f.department.is_none() && !f.current
        );
        assert_eq!(
            FileName::parse("x_-_ADT-00_-_2011_-_1"),
            Err(Reason::BadFileName("timestamp must be 17 digits"))
        );
        assert_eq!(
            FileName::parse("x_-_ADT-00_-_20111220224447339_-_2"),
            Err(Reason::BadFileName("condition flag must be 0 or 1"))
        );
        assert_eq!(
            FileName::parse("x_20111301_ADT-00_-_20111220224447339_-_1"),
            Err(Reason::BadFileName("date is not a calendar day"))
        );
        assert_eq!(
            FileName::parse("x_-_adt_-_20111220224447339_-_1"),
            Err(Reason::BadFileName(
                "data kind must look like ADT-00 or OMD"
            ))
        );
        assert_eq!(
            FileName::parse("x_1"),
            Err(Reason::BadFileName("too few fields"))
        );
    }

    fn enc(s: &str) -> Vec<u8> {
        encoding_rs::ISO_2022_JP.encode(s).0.into_owned()
    }

    fn parse(text: &str, expected: Option<&str>) -> Batch {
        parse_bytes(&enc(text), expected)
    }

    fn parse_bytes(bytes: &[u8], expected: Option<&str>) -> Batch {
        let src = SourceFile::new(1, "t");
        let exp = expected.map(|e| LocalPatientId::parse(e).unwrap());
        let opts = Options {
            require_end_mark: false,
            ..Options::default()
        };
        parse_message_bytes(&src, bytes, exp.as_ref(), None, &opts)
    }

    #[test]
    fn end_mark_is_required_by_default() {
        let src = SourceFile::new(1, "t");
        let text = format!("{MSH}ADT^A08|1|P|2.5\rPID|1||1\r");
        let b = parse_message_bytes(&src, text.as_bytes(), None, None, &Options::default());
        assert!(matches!(&b.rejected[0].reason, Reason::Syntax(s) if s.contains("0x1C")));
        let with_mark = format!("{text}\u{1c}\r");
        let b = parse_message_bytes(&src, with_mark.as_bytes(), None, None, &Options::default());
        assert!(b.rejected.is_empty());
        assert_eq!(b.count_kind("identity"), 1);
    }

    const MSH: &str = "MSH|^~\\&|HIS|S|GW|R|20111220||";

    #[test]
    fn pid_mismatch_rejects_the_file() {
        let b = parse(
            &format!(
                "{MSH}ADT^A08^ADT_A01|1|P|2.5||||||~ISO IR87\rPID|1||12345678^^^^PI||患者^太郎"
            ),
            Some("9999013"),
        );
        assert!(b.records.is_empty());
        assert_eq!(b.rejected.len(), 1);
        assert_eq!(b.rejected[0].reason, Reason::PatientIdMismatch);
        assert_eq!(b.rejected[0].field, "PID-3");
        assert!(b.rejected[0].raw.is_some());
    }

    #[test]
    fn pid_picks_the_pi_repetition() {
        // ISO-2022-JP cannot carry half-width kana (the encoder widens them), so this message
        // declares UTF-8.
        let text = format!(
            "{MSH}ADT^A08|1|P|2.5||||||UNICODE UTF-8\rPID|1||X^^^^MR~9999013^^^^PI||ｶﾝｼﾞｬ^ﾀﾛｳ^^^^^L^P||19650415|F"
        );
        let b = parse_bytes(text.as_bytes(), Some("9999013"));
        assert!(b.rejected.is_empty(), "{:?}", b.rejected);
        let Body::Identity(id) = &b.records[0].body else {
            panic!()
        };
        assert_eq!(id.names[0].family.as_deref(), Some("カンジャ"));
        assert_eq!(id.names[0].kind, NameKind::Kana);
        assert_eq!(id.sex, Some(Sex::Female));
        assert!(
            b.records[0]
                .flags
                .iter()
                .any(|f| f.kind == FlagKind::HalfWidthKanaWidened)
        );
    }

    #[test]
    fn jis_x0201_kana_in_iso_2022_jp_is_widened() {
        // ESC ( I switches to JIS X 0201 katakana: 0x36 0x40 0x5B 0x33 = ｶﾀﾛｳ.
        let mut bytes = format!("{MSH}ADT^A08|1|P|2.5||||||~ISO IR87\rPID|1||1||X^").into_bytes();
        bytes.extend_from_slice(b"\x1b(I\x40\x5b\x33\x1b(B^^^^^L^P");
        let b = parse_bytes(&bytes, Some("1"));
        let Body::Identity(id) = &b.records[0].body else {
            panic!()
        };
        assert_eq!(id.names[0].given.as_deref(), Some("タロウ"));
        assert!(
            b.records[0]
                .flags
                .iter()
                .any(|f| f.kind == FlagKind::HalfWidthKanaWidened)
        );
    }

    #[test]
    fn bad_birth_date_rejects_identity_only() {
        let b = parse(
            &format!("{MSH}ADT^A01|1|P|2.5\rPID|1||1||A^B||M|19470515\rPV1|1|O"),
            Some("1"),
        );
        assert_eq!(b.rejected.len(), 1);
        // Shifted fields: PID-7 holds the sex.
        assert_eq!(b.rejected[0].field, "PID-7");
        assert_eq!(b.count_kind("identity"), 0);
        assert_eq!(b.count_kind("encounter"), 1);
    }

    #[test]
    fn prb_maps_icd10_and_rejects_bad_codes() {
        let b = parse(
            &format!(
                "{MSH}PPR^ZD1|1|P|2.5\rPID|1||1\rPRB|AD|20110915|20054174^胃炎^MDCDX2|123|||20110831||20110915|K297^^I10||||N^回復せず^HL70241|20110915|20110831|胃炎|1^主診断^JHSD0007\rPRB|AD|20110915|x^y^MDCDX2|124|||||| K2^^I10"
            ),
            None,
        );
        assert_eq!(b.count_kind("condition"), 1);
        let c = b
            .records
            .iter()
            .find_map(|r| match &r.body {
                Body::Clinical(Clinical {
                    data: ClinicalData::Condition(c),
                    ..
                }) => Some(c),
                _ => None,
            })
            .unwrap();
        assert_eq!(c.icd10.as_ref().unwrap().as_str(), "K29.7");
        assert!(c.primary);
        assert_eq!(
            c.onset,
            Some(When::Date(
                chrono::NaiveDate::from_ymd_opt(2011, 8, 31).unwrap()
            ))
        );
        assert_eq!(b.rejected.len(), 1);
        assert_eq!(b.rejected[0].field, "PRB-10");
        assert_eq!(b.rejected[0].position.segment.unwrap().index, 4);
    }

    #[test]
    fn unsupported_message_types_are_kept_for_quarantine() {
        let b = parse(&format!("{MSH}OMD^O03|1|P|2.5\rPID|1||1"), None);
        assert_eq!(b.count_kind("identity"), 1);
        assert_eq!(b.rejected.len(), 1);
        assert_eq!(
            b.rejected[0].reason,
            Reason::Unsupported {
                kind: "message type",
                name: "OMD^O03".into()
            }
        );
    }

    #[test]
    fn escaped_values_and_numbers() {
        let b = parse(
            &format!(
                "{MSH}ORU^R01|1|P|2.5\rPID|1||1\rOBR|1|55||X^Y^JC10|||20111220\rOBX|1|NM|3A010000002327101^総蛋白^JC10||7.20|g/dl^g/dl^99XYZ|6.7-8.3|H|||F\rOBX|2|NM|3A010000002327101^総蛋白^JC10||abc\rOBX|3|TX|9A100^所見^JC10||A\\F\\B\rOBX|4|XCN|DR^医師^JSHR||1^大江戸^信吉"
            ),
            None,
        );
        let obs: Vec<&Observation> = b
            .records
            .iter()
            .filter_map(|r| match &r.body {
                Body::Clinical(Clinical {
                    data: ClinicalData::Observation(o),
                    ..
                }) => Some(o),
                _ => None,
            })
            .collect();
        assert_eq!(obs.len(), 2);
        let ObservationValue::Quantity(q) = obs[0].value.as_ref().unwrap() else {
            panic!()
        };
        assert_eq!(
            (q.value.as_str(), q.unit.as_deref()),
            ("7.20", Some("g/dl"))
        );
        assert_eq!(obs[0].interpretation.as_deref(), Some("H"));
        assert!(matches!(obs[0].effective, Some(When::Date(_))));
        assert_eq!(obs[1].value, Some(ObservationValue::Text("A|B".into())));
        let fields: Vec<&str> = b.rejected.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["OBX-5", "OBX-2"]);
        assert!(!b.rejected.iter().any(|r| r.to_string().contains("大江戸")));
    }
}
