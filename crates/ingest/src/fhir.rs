//! FHIR R4 (and JP Core) JSON: Bundles (transaction, collection, searchset, batch…) and Bulk
//! Data NDJSON.
//!
//! Why hand-written serde structs instead of a FHIR model crate (`fhir` 4.x with `r4`): the
//! full model costs 5–7 minutes of clean build on the 2-core machine and deserialises every
//! element of every resource. We read a dozen resource types and a few elements of each; these
//! structs ignore everything else (serde skips unknown fields), which is also faster.
//!
//! Each Bundle entry and NDJSON line is parsed on its own (`RawValue`), so one bad resource is
//! rejected with its position and the rest of the file still counts. References (`subject`,
//! `patient`, `beneficiary`, `encounter`) are resolved inside a Bundle through `fullUrl`
//! (`urn:uuid:…`, absolute URLs) and `Type/id`, and across the files of one NDJSON set through
//! `Type/id`. Resource types not mapped here come back as [`Reason::Unsupported`] with their raw
//! JSON, so the quarantine keeps them: counted, not lost.
//!
//! Hostile input: elements we do not read are skipped by serde_json without recursion, so deep
//! nesting there costs no stack; the elements we do read have fixed shapes, so nesting there is
//! a shape error; serde_json's recursion limit (128, reported as [`Reason::TooDeep`]) backs both
//! up. Files, NDJSON lines and every kept string are capped ([`Limits`]). Error messages are
//! built from serde_json's category, line and column only — its own messages can quote input
//! values.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;
use tsunagu_model::{LocalPatientId, PostalCode, Sex};

use crate::normalise::{self, FlagKind, Flags};
use crate::record::{
    Address, Allergy, Batch, Body, Clinical, ClinicalData, CodeSystem, Coded, Condition, Coverage,
    Decimal, Encounter, EncounterClass, EntryKind, Identity, InsuranceCard, Medication,
    MedicationKind, NameKind, Observation, ObservationStatus, ObservationValue, Organization,
    PersonName, Position, Procedure, Quantity, Reason, Record, RecordStatus, Rejected, SourceFile,
    SubjectKey, When,
};

/// Size limits for FHIR input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest Bundle file (bytes).
    pub max_bundle_bytes: usize,
    /// Longest NDJSON line (bytes).
    pub max_line_bytes: usize,
    /// Longest string kept from any element (characters).
    pub max_string_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bundle_bytes: 256 << 20,
            max_line_bytes: 16 << 20,
            max_string_chars: 16 << 10,
        }
    }
}

/// A reason for a serde_json error that never quotes the input.
fn json_reason(e: &serde_json::Error) -> Reason {
    let msg = e.to_string();
    if msg.starts_with("recursion limit exceeded") {
        return Reason::TooDeep;
    }
    let what = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Data => "JSON of the wrong shape",
        serde_json::error::Category::Eof => "JSON cut short",
    };
    Reason::Syntax(format!("{what} at line {} column {}", e.line(), e.column()))
}

// ---- the elements we read ------------------------------------------------------------------

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct Coding {
    system: Option<String>,
    code: Option<String>,
    display: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct CodeableConcept {
    coding: Vec<Coding>,
    text: Option<String>,
}

/// Only `reference`: `display` often holds the patient's name and is never read.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Reference {
    reference: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Identifier {
    system: Option<String>,
    value: Option<String>,
    #[serde(rename = "type")]
    kind: Option<CodeableConcept>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Extension {
    url: String,
    value_code: Option<String>,
    value_string: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HumanName {
    extension: Vec<Extension>,
    text: Option<String>,
    family: Option<String>,
    given: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FhirAddress {
    text: Option<String>,
    line: Vec<String>,
    city: Option<String>,
    district: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContactPoint {
    system: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Period {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FhirQuantity {
    value: Option<Box<RawValue>>,
    unit: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct DoseAndRate {
    dose_quantity: Option<FhirQuantity>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Dosage {
    route: Option<CodeableConcept>,
    dose_and_rate: Vec<DoseAndRate>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Patient {
    identifier: Vec<Identifier>,
    name: Vec<HumanName>,
    telecom: Vec<ContactPoint>,
    gender: Option<String>,
    birth_date: Option<String>,
    address: Vec<FhirAddress>,
    deceased_date_time: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FhirEncounter {
    status: Option<String>,
    class: Option<Coding>,
    period: Option<Period>,
    subject: Option<Reference>,
    service_type: Option<CodeableConcept>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FhirCondition {
    clinical_status: Option<CodeableConcept>,
    verification_status: Option<CodeableConcept>,
    code: Option<CodeableConcept>,
    subject: Option<Reference>,
    encounter: Option<Reference>,
    onset_date_time: Option<String>,
    onset_period: Option<Period>,
    abatement_date_time: Option<String>,
    recorded_date: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct DispenseRequest {
    quantity: Option<FhirQuantity>,
    expected_supply_duration: Option<FhirQuantity>,
    validity_period: Option<Period>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FhirMedicationRequest {
    status: Option<String>,
    category: Vec<CodeableConcept>,
    medication_codeable_concept: Option<CodeableConcept>,
    medication_reference: Option<Reference>,
    subject: Option<Reference>,
    encounter: Option<Reference>,
    authored_on: Option<String>,
    dosage_instruction: Vec<Dosage>,
    dispense_request: Option<DispenseRequest>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FhirMedicationStatement {
    status: Option<String>,
    medication_codeable_concept: Option<CodeableConcept>,
    medication_reference: Option<Reference>,
    subject: Option<Reference>,
    context: Option<Reference>,
    effective_date_time: Option<String>,
    effective_period: Option<Period>,
    dosage: Vec<Dosage>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FhirMedicationDispense {
    status: Option<String>,
    medication_codeable_concept: Option<CodeableConcept>,
    medication_reference: Option<Reference>,
    subject: Option<Reference>,
    context: Option<Reference>,
    quantity: Option<FhirQuantity>,
    days_supply: Option<FhirQuantity>,
    when_prepared: Option<String>,
    when_handed_over: Option<String>,
    dosage_instruction: Vec<Dosage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReferenceRange {
    low: Option<FhirQuantity>,
    high: Option<FhirQuantity>,
    text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ObservationComponent {
    code: Option<CodeableConcept>,
    value_quantity: Option<FhirQuantity>,
    value_codeable_concept: Option<CodeableConcept>,
    value_string: Option<String>,
    interpretation: Vec<CodeableConcept>,
    reference_range: Vec<ReferenceRange>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FhirObservation {
    status: Option<String>,
    category: Vec<CodeableConcept>,
    code: Option<CodeableConcept>,
    subject: Option<Reference>,
    encounter: Option<Reference>,
    effective_date_time: Option<String>,
    effective_period: Option<Period>,
    issued: Option<String>,
    value_quantity: Option<FhirQuantity>,
    value_codeable_concept: Option<CodeableConcept>,
    value_string: Option<String>,
    value_boolean: Option<bool>,
    value_integer: Option<Box<RawValue>>,
    interpretation: Vec<CodeableConcept>,
    reference_range: Vec<ReferenceRange>,
    component: Vec<ObservationComponent>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FhirProcedure {
    status: Option<String>,
    code: Option<CodeableConcept>,
    subject: Option<Reference>,
    encounter: Option<Reference>,
    performed_date_time: Option<String>,
    performed_period: Option<Period>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Reaction {
    manifestation: Vec<CodeableConcept>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FhirAllergy {
    category: Vec<String>,
    criticality: Option<String>,
    code: Option<CodeableConcept>,
    patient: Option<Reference>,
    encounter: Option<Reference>,
    onset_date_time: Option<String>,
    recorded_date: Option<String>,
    reaction: Vec<Reaction>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FhirCoverage {
    extension: Vec<Extension>,
    #[serde(rename = "type")]
    kind: Option<CodeableConcept>,
    subscriber_id: Option<String>,
    beneficiary: Option<Reference>,
    dependent: Option<String>,
    relationship: Option<CodeableConcept>,
    period: Option<Period>,
    payor: Vec<Reference>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FhirOrganization {
    identifier: Vec<Identifier>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Vec<CodeableConcept>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FhirMedication {
    code: Option<CodeableConcept>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    id: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
struct BundleIn {
    #[serde(default)]
    entry: Vec<EntryIn>,
}

#[derive(Deserialize)]
struct EntryIn {
    #[serde(rename = "fullUrl")]
    full_url: Option<String>,
    resource: Option<Box<RawValue>>,
}

// ---- resolution ------------------------------------------------------------------------------

/// One resource waiting to be mapped.
struct Item<'a> {
    position: Position,
    full_url: Option<String>,
    raw: &'a str,
    head: Head,
}

/// What references can point at: canonical key (`Type/id` or the fullUrl) and type.
///
/// Keys and types are shared `Arc<str>`: an export indexes every resource it holds, and one
/// allocation per resource instead of three showed in the first pass's time and its drop.
#[derive(Default)]
struct Index {
    by_ref: HashMap<Arc<str>, (Arc<str>, Arc<str>)>,
    /// Resource type names, interned.
    types: HashMap<String, Arc<str>>,
    /// Codes of Medication resources, for `medicationReference`.
    medications: HashMap<String, CodeableConcept>,
    /// Insurer numbers of Organization resources, for `Coverage.payor`.
    insurers: HashMap<String, String>,
}

impl Index {
    fn key<'i>(item: &'i Item<'_>) -> Option<(String, &'i str)> {
        let ty = item.head.resource_type.as_deref()?;
        let key = match &item.head.id {
            Some(id) => format!("{ty}/{id}"),
            None => item.full_url.clone()?,
        };
        Some((key, ty))
    }

    fn add(&mut self, item: &Item<'_>) {
        let Some((key, ty_name)) = Self::key(item) else {
            return;
        };
        let ty = match self.types.get(ty_name) {
            Some(t) => Arc::clone(t),
            None => {
                let t: Arc<str> = Arc::from(ty_name);
                self.types.insert(ty_name.to_owned(), Arc::clone(&t));
                t
            }
        };
        let key: Arc<str> = Arc::from(key);
        if let Some(url) = &item.full_url {
            self.by_ref
                .insert(Arc::from(url.as_str()), (Arc::clone(&key), Arc::clone(&ty)));
            // An absolute fullUrl ("http://server/fhir/Patient/1") also answers "Patient/1".
            if let (Some(id), false) = (&item.head.id, url.starts_with("urn:")) {
                let tail = format!("{ty}/{id}");
                if url.ends_with(&format!("/{tail}")) {
                    self.by_ref
                        .insert(Arc::from(tail), (Arc::clone(&key), Arc::clone(&ty)));
                }
            }
        }
        if item.head.id.is_some() {
            self.by_ref
                .insert(Arc::clone(&key), (Arc::clone(&key), Arc::clone(&ty)));
        }
        match ty_name {
            "Medication" => {
                if let Ok(m) = serde_json::from_str::<FhirMedication>(item.raw)
                    && let Some(c) = m.code
                {
                    self.medications.insert(key.to_string(), c);
                }
            }
            "Organization" => {
                if let Ok(o) = serde_json::from_str::<FhirOrganization>(item.raw)
                    && let Some(n) = o.identifier.iter().find_map(|i| {
                        let sys = i.system.as_deref().unwrap_or("");
                        (sys == JP_INSURER_OID).then(|| i.value.clone()).flatten()
                    })
                {
                    self.insurers.insert(key.to_string(), n);
                }
            }
            _ => {}
        }
    }

    fn resolve(&self, r: &str) -> Option<(&str, &str)> {
        self.by_ref
            .get(r)
            .or_else(|| {
                // "Patient/1/_history/2" → "Patient/1".
                let mut it = r.split('/');
                let (t, id) = (it.next()?, it.next()?);
                self.by_ref.get(format!("{t}/{id}").as_str())
            })
            .map(|(k, t)| (&**k, &**t))
    }
}

// ---- entry points ----------------------------------------------------------------------------

/// Read one JSON file: a Bundle, or a single resource.
pub fn read_json(file: &Arc<SourceFile>, bytes: &[u8], limits: &Limits) -> Batch {
    let pos = Position::file(file);
    let mut batch = Batch::default();
    if bytes.len() > limits.max_bundle_bytes {
        batch.read = 1;
        batch.rejected.push(
            Rejected::new(
                pos,
                "file",
                Reason::TooLarge {
                    limit: limits.max_bundle_bytes as u64,
                    unit: "bytes",
                },
            )
            .with_raw(bytes),
        );
        return batch;
    }
    let text = match std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)) {
        Ok(t) => t,
        Err(_) => {
            batch.read = 1;
            batch
                .rejected
                .push(Rejected::new(pos, "file", Reason::Encoding("UTF-8")).with_raw(bytes));
            return batch;
        }
    };
    let head: Head = match serde_json::from_str(text) {
        Ok(h) => h,
        Err(e) => {
            batch.read = 1;
            batch
                .rejected
                .push(Rejected::new(pos, "file", json_reason(&e)).with_raw(bytes));
            return batch;
        }
    };
    if head.resource_type.as_deref() == Some("Bundle") {
        let bundle: BundleIn = match serde_json::from_str(text) {
            Ok(b) => b,
            Err(e) => {
                batch.read = 1;
                batch
                    .rejected
                    .push(Rejected::new(pos, "file", json_reason(&e)).with_raw(bytes));
                return batch;
            }
        };
        let mut items = Vec::with_capacity(bundle.entry.len());
        for (i, e) in bundle.entry.iter().enumerate() {
            batch.read += 1;
            let p = Position::entry(file, EntryKind::BundleEntry, i as u64);
            let Some(raw) = &e.resource else {
                batch
                    .rejected
                    .push(Rejected::new(p, "entry.resource", Reason::Missing));
                continue;
            };
            match serde_json::from_str::<Head>(raw.get()) {
                Ok(head) => items.push(Item {
                    position: p,
                    full_url: e.full_url.clone(),
                    raw: raw.get(),
                    head,
                }),
                Err(err) => batch.rejected.push(
                    Rejected::new(p, "entry.resource", json_reason(&err))
                        .with_raw(raw.get().as_bytes()),
                ),
            }
        }
        resolve_and_map(&items, limits, &mut batch);
    } else {
        batch.read = 1;
        let item = Item {
            position: Position::entry(file, EntryKind::BundleEntry, 0),
            full_url: None,
            raw: text,
            head,
        };
        resolve_and_map(std::slice::from_ref(&item), limits, &mut batch);
    }
    batch
}

fn resolve_and_map(items: &[Item<'_>], limits: &Limits, batch: &mut Batch) {
    let mut index = Index::default();
    for it in items {
        index.add(it);
    }
    map_items(items, &index, limits, batch);
}

/// Map items with references resolved through `index`, appending to `batch` in input order.
fn map_items(items: &[Item<'_>], index: &Index, limits: &Limits, batch: &mut Batch) {
    // Mapping is independent per resource once the index exists; `collect` keeps input order,
    // so the output is the same on every run.
    // One batch per run of items rather than per item: a vector per resource cost an allocation
    // and its growth for every line. `fold` keeps the items' order inside each run and `collect`
    // the runs' order.
    let mut parts: Vec<Batch> = items
        .par_iter()
        .with_min_len(256)
        .fold(Batch::default, |mut part, it| {
            map_item(it, index, limits, &mut part);
            part
        })
        .collect();
    parts.insert(0, std::mem::take(batch));
    *batch = Batch::concat(parts);
}

/// Read a set of Bulk Data NDJSON files (one resource per line), resolving references across
/// all of them.
pub fn read_ndjson(files: &[(Arc<SourceFile>, &[u8])], limits: &Limits) -> Batch {
    let pieces: Vec<NdjsonPiece<'_>> = files
        .iter()
        .map(|(file, bytes)| NdjsonPiece {
            file: Arc::clone(file),
            bytes,
            first_line: 1,
        })
        .collect();
    let mut batch = Batch::default();
    let items = ndjson_items(&pieces, limits, &mut batch);
    resolve_and_map(&items, limits, &mut batch);
    batch
}

/// A run of whole lines of one NDJSON file: the file's lines from `first_line` (1-based) on.
/// Large exports are read a piece at a time, so that neither the input nor its records need be
/// in memory at once.
#[derive(Debug, Clone)]
pub struct NdjsonPiece<'a> {
    /// The file the lines come from.
    pub file: Arc<SourceFile>,
    /// Whole lines (a final line may lack its newline).
    pub bytes: &'a [u8],
    /// The number of the piece's first line in its file.
    pub first_line: u64,
}

/// What references in a set of NDJSON files can resolve to, gathered in a first pass over all
/// of them (piece by piece), so that the second pass can map any piece on its own with exactly
/// the references a one-pass read resolves.
/// It also keeps each Patient's identifiers, so that a piece whose records name a patient whose
/// Patient resource lies in another piece can still be tied to the provider's patient id.
///
/// The resources that describe who a patient is (Patient, and Coverage with its insurance card)
/// are kept whole: a person's identity is assembled from all of them at once by
/// [`NdjsonIndex::identities`], and [`NdjsonIndex::read`] leaves them out.
#[derive(Default)]
pub struct NdjsonIndex {
    index: Index,
    patients: HashMap<SubjectKey, PatientIds>,
    identity_lines: Vec<(Position, String)>,
}

/// Resource types whose records include a piece of a person's identity.
const IDENTITY_TYPES: [&str; 2] = ["Patient", "Coverage"];

fn is_identity_type(it: &Item<'_>) -> bool {
    it.head
        .resource_type
        .as_deref()
        .is_some_and(|t| IDENTITY_TYPES.contains(&t))
}

/// The identifiers of one Patient resource (no other part of the identity).
#[derive(Debug, Clone, Default)]
pub struct PatientIds {
    /// The JP Core patient id, when the resource has one.
    pub local_patient_id: Option<LocalPatientId>,
    /// Every other identifier, as (system, value).
    pub other_identifiers: Vec<(String, String)>,
}

impl NdjsonIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the resources of one piece. Lines that cannot be read are left to the mapping pass,
    /// which rejects them (once).
    pub fn add(&mut self, piece: &NdjsonPiece<'_>, limits: &Limits) {
        let mut ignored = Batch::default();
        let items = ndjson_items(std::slice::from_ref(piece), limits, &mut ignored);
        for it in &items {
            self.index.add(it);
            if is_identity_type(it) {
                self.identity_lines
                    .push((it.position.clone(), it.raw.to_owned()));
            }
        }
        // A Patient is mapped on its own (it refers to nothing the index must hold).
        let mut patients = Batch::default();
        for it in items
            .iter()
            .filter(|it| it.head.resource_type.as_deref() == Some("Patient"))
        {
            map_item(it, &self.index, limits, &mut patients);
        }
        for r in patients.records {
            if let Body::Identity(id) = r.body {
                self.patients.insert(
                    id.subject,
                    PatientIds {
                        local_patient_id: id.local_patient_id,
                        other_identifiers: id.other_identifiers,
                    },
                );
            }
        }
    }

    /// The identifiers of the Patient resource a subject key names.
    pub fn patient(&self, subject: &SubjectKey) -> Option<&PatientIds> {
        self.patients.get(subject)
    }

    /// Map the resources of `pieces` (of files whose resources were all added), references
    /// resolved through the index; Patient and Coverage resources are left to
    /// [`NdjsonIndex::identities`].
    pub fn read(&self, pieces: &[NdjsonPiece<'_>], limits: &Limits) -> Batch {
        let mut batch = Batch::default();
        let mut items = ndjson_items(pieces, limits, &mut batch);
        items.retain(|it| !is_identity_type(it));
        map_items(&items, &self.index, limits, &mut batch);
        batch
    }

    /// Map every Patient and Coverage resource added, in the order they were added: the records
    /// that make up identities, taken in together so that each person's identity is whole.
    pub fn identities(&self, limits: &Limits) -> Batch {
        let mut batch = Batch::default();
        let items: Vec<Item<'_>> = self
            .identity_lines
            .iter()
            .filter_map(|(position, raw)| {
                Some(Item {
                    position: position.clone(),
                    full_url: None,
                    raw,
                    head: serde_json::from_str::<Head>(raw).ok()?,
                })
            })
            .collect();
        map_items(&items, &self.index, limits, &mut batch);
        batch
    }
}

/// Split pieces into lines and read each line's head; lines that cannot be read go to `batch`
/// as rejections, and every line counts as read.
fn ndjson_items<'a>(
    pieces: &[NdjsonPiece<'a>],
    limits: &Limits,
    batch: &mut Batch,
) -> Vec<Item<'a>> {
    let mut lines: Vec<(Position, &'a [u8])> = Vec::new();
    for piece in pieces {
        let bytes = if piece.first_line <= 1 {
            piece
                .bytes
                .strip_prefix(b"\xEF\xBB\xBF")
                .unwrap_or(piece.bytes)
        } else {
            piece.bytes
        };
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let number = piece.first_line.max(1) + n as u64;
            lines.push((Position::entry(&piece.file, EntryKind::Line, number), line));
        }
    }
    batch.read += lines.len() as u64;
    let parsed: Vec<Result<Item<'a>, Box<Rejected>>> = lines
        .into_par_iter()
        .map(|(p, line)| {
            if line.len() > limits.max_line_bytes {
                let reason = Reason::TooLarge {
                    limit: limits.max_line_bytes as u64,
                    unit: "bytes",
                };
                return Err(Box::new(Rejected::new(p, "line", reason).with_raw(line)));
            }
            let Ok(text) = std::str::from_utf8(line) else {
                return Err(Box::new(
                    Rejected::new(p, "line", Reason::Encoding("UTF-8")).with_raw(line),
                ));
            };
            match serde_json::from_str::<Head>(text) {
                Ok(head) => Ok(Item {
                    position: p,
                    full_url: None,
                    raw: text,
                    head,
                }),
                Err(e) => Err(Box::new(
                    Rejected::new(p, "line", json_reason(&e)).with_raw(line),
                )),
            }
        })
        .collect();
    let mut items: Vec<Item<'a>> = Vec::with_capacity(parsed.len());
    for p in parsed {
        match p {
            Ok(it) => items.push(it),
            Err(r) => batch.rejected.push(*r),
        }
    }
    items
}

// ---- mapping ---------------------------------------------------------------------------------

type Built<T> = Result<T, (&'static str, Reason)>;

/// Builds one record: flags, the string cap, reference resolution.
struct Ctx<'i> {
    index: &'i Index,
    limits: &'i Limits,
    flags: Flags,
}

impl Ctx<'_> {
    fn text(&mut self, field: &'static str, s: Option<&str>) -> Built<Option<String>> {
        let Some(s) = s else { return Ok(None) };
        // A char is at least one byte: count characters only when the bytes could exceed the cap.
        if s.len() > self.limits.max_string_chars
            && s.chars().count() > self.limits.max_string_chars
        {
            return Err((
                field,
                Reason::TooLarge {
                    limit: self.limits.max_string_chars as u64,
                    unit: "characters",
                },
            ));
        }
        Ok(self.flags.text(field, s))
    }

    fn when(&self, field: &'static str, s: Option<&str>) -> Built<Option<When>> {
        match s {
            None => Ok(None),
            Some(s) => normalise::parse_fhir_datetime(s)
                .map(Some)
                .map_err(|_| (field, Reason::Invalid("not a FHIR date or dateTime"))),
        }
    }

    fn coding(&mut self, field: &'static str, c: &Coding) -> Built<Option<Coded>> {
        let code = self.text(field, c.code.as_deref())?;
        let display = self.text(field, c.display.as_deref())?;
        if code.is_none() && display.is_none() {
            return Ok(None);
        }
        let system = CodeSystem::from_name(c.system.as_deref().unwrap_or(""));
        Ok(Some(Coded {
            system,
            code: code.unwrap_or_default(),
            display,
        }))
    }

    /// The coding from the most preferred system, else the first; the concept's text stands in
    /// for a missing display.
    fn concept(
        &mut self,
        field: &'static str,
        cc: Option<&CodeableConcept>,
        prefer: &[CodeSystem],
    ) -> Built<Option<Coded>> {
        let Some(cc) = cc else { return Ok(None) };
        let pick = prefer
            .iter()
            .find_map(|p| {
                cc.coding
                    .iter()
                    .find(|c| &CodeSystem::from_name(c.system.as_deref().unwrap_or("")) == p)
            })
            .or_else(|| cc.coding.first());
        let mut coded = match pick {
            Some(c) => self.coding(field, c)?,
            None => None,
        };
        let text = self.text(field, cc.text.as_deref())?;
        match &mut coded {
            Some(c) if c.display.is_none() => c.display = text,
            Some(_) => {}
            None => {
                coded = text.map(|t| Coded {
                    system: CodeSystem::Other("text".into()),
                    code: String::new(),
                    display: Some(t),
                })
            }
        }
        Ok(coded)
    }

    fn quantity(
        &mut self,
        field: &'static str,
        q: Option<&FhirQuantity>,
    ) -> Built<Option<Quantity>> {
        let Some(q) = q else { return Ok(None) };
        let Some(v) = &q.value else { return Ok(None) };
        let value = Decimal::parse(v.get())
            .ok_or((field, Reason::Invalid("quantity value is not a number")))?;
        let unit = match self.text(field, q.unit.as_deref())? {
            Some(u) => Some(u),
            None => self.text(field, q.code.as_deref())?,
        };
        Ok(Some(Quantity { value, unit }))
    }

    /// Resolve a reference that must point at a Patient.
    fn subject(&self, field: &'static str, r: Option<&Reference>) -> Built<SubjectKey> {
        let s = r
            .and_then(|r| r.reference.as_deref())
            .ok_or((field, Reason::Missing))?;
        let (key, ty) = self
            .index
            .resolve(s)
            .ok_or((field, Reason::UnresolvedReference))?;
        if ty != "Patient" {
            return Err((field, Reason::WrongReferenceTarget(Reason::type_name(ty))));
        }
        Ok(SubjectKey::fhir(key))
    }

    /// Resolve an encounter reference; an unresolvable one is dropped (and flagged), since the
    /// record stands without it.
    fn encounter(&mut self, field: &'static str, r: Option<&Reference>) -> Option<String> {
        let s = r?.reference.as_deref()?;
        match self.index.resolve(s) {
            Some((key, "Encounter")) => Some(key.to_owned()),
            _ => {
                self.flags.push(field, FlagKind::InvalidValueDropped);
                None
            }
        }
    }
}

fn status_of(head: &Head) -> RecordStatus {
    if head.status.as_deref() == Some("entered-in-error") {
        RecordStatus::Cancelled
    } else {
        RecordStatus::Active
    }
}

fn map_item(it: &Item<'_>, index: &Index, limits: &Limits, batch: &mut Batch) {
    let Some(ty) = it.head.resource_type.as_deref() else {
        batch.rejected.push(
            Rejected::new(it.position.clone(), "resourceType", Reason::Missing)
                .with_raw(it.raw.as_bytes()),
        );
        return;
    };
    let mut ctx = Ctx {
        index,
        limits,
        flags: Flags::default(),
    };
    let key = Index::key(it).map(|(k, _)| k);
    let built: Result<Vec<Body>, (&'static str, Reason)> = match ty {
        "Patient" => parse::<Patient>(it).and_then(|r| patient(&mut ctx, key, r)),
        "Encounter" => parse::<FhirEncounter>(it).and_then(|r| encounter(&mut ctx, key, r)),
        "Condition" => parse::<FhirCondition>(it).and_then(|r| condition(&mut ctx, key, r)),
        "MedicationRequest" => {
            parse::<FhirMedicationRequest>(it).and_then(|r| medication_request(&mut ctx, key, r))
        }
        "MedicationStatement" => parse::<FhirMedicationStatement>(it)
            .and_then(|r| medication_statement(&mut ctx, key, r)),
        "MedicationDispense" => {
            parse::<FhirMedicationDispense>(it).and_then(|r| medication_dispense(&mut ctx, key, r))
        }
        "Observation" => parse::<FhirObservation>(it).and_then(|r| observation(&mut ctx, key, r)),
        "Procedure" => parse::<FhirProcedure>(it).and_then(|r| procedure(&mut ctx, key, r)),
        "AllergyIntolerance" => parse::<FhirAllergy>(it).and_then(|r| allergy(&mut ctx, key, r)),
        "Coverage" => parse::<FhirCoverage>(it).and_then(|r| coverage(&mut ctx, key, r)),
        "Organization" => {
            parse::<FhirOrganization>(it).and_then(|r| organization(&mut ctx, key, r))
        }
        // Medication resources are read through the references that use them (Index).
        "Medication" => Ok(Vec::new()),
        other => Err((
            "resourceType",
            Reason::Unsupported {
                kind: "resource type",
                name: Reason::type_name(other),
            },
        )),
    };
    match built {
        Ok(bodies) => {
            let status = status_of(&it.head);
            for body in bodies {
                batch.records.push(Record {
                    position: it.position.clone(),
                    status,
                    flags: ctx.flags.0.clone(),
                    body,
                });
            }
        }
        Err((field, reason)) => batch
            .rejected
            .push(Rejected::new(it.position.clone(), field, reason).with_raw(it.raw.as_bytes())),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(it: &Item<'_>) -> Built<T> {
    serde_json::from_str(it.raw).map_err(|e| ("resource", json_reason(&e)))
}

fn clinical(
    subject: Option<SubjectKey>,
    key: Option<String>,
    encounter: Option<String>,
    data: ClinicalData,
) -> Body {
    Body::Clinical(Clinical {
        subject,
        source_id: key,
        encounter,
        data,
    })
}

/// The 保険者番号 identifier system of JP Core Organization.
const JP_INSURER_OID: &str = "urn:oid:1.2.392.100495.20.3.61";

/// JP Core's patient id identifier: `urn:oid:1.2.392.100495.20.3.51.1<医療機関コード>`.
const JP_PATIENT_ID_OID: &str = "urn:oid:1.2.392.100495.20.3.51.";

fn patient(ctx: &mut Ctx<'_>, key: Option<String>, p: Patient) -> Built<Vec<Body>> {
    let key = key.ok_or(("id", Reason::Missing))?;
    let mut id = Identity::new(SubjectKey::fhir(&key));
    for ident in &p.identifier {
        let Some(value) = ctx.text("Patient.identifier", ident.value.as_deref())? else {
            continue;
        };
        let system = ident.system.clone().unwrap_or_default();
        let is_mr = ident
            .kind
            .as_ref()
            .is_some_and(|k| k.coding.iter().any(|c| c.code.as_deref() == Some("MR")));
        if id.local_patient_id.is_none() && (system.starts_with(JP_PATIENT_ID_OID) || is_mr) {
            id.local_patient_id = Some(
                LocalPatientId::parse(&value)
                    .map_err(|e| ("Patient.identifier", Reason::Invalid(e.why)))?,
            );
        } else {
            let label = match ident
                .kind
                .as_ref()
                .and_then(|k| k.coding.first())
                .and_then(|c| c.code.clone())
            {
                Some(code) if system.is_empty() => code,
                _ => system,
            };
            // The system URI (or the identifier type code) says what the value is; it is not
            // personal, but it is input, so it goes through the same cap.
            let label = ctx
                .text("Patient.identifier.system", Some(&label))?
                .unwrap_or_default();
            id.other_identifiers.push((label, value));
        }
    }
    for n in &p.name {
        let kind = match n
            .extension
            .iter()
            .find(|e| e.url == "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation")
            .and_then(|e| e.value_code.as_deref())
        {
            Some("IDE") => NameKind::Kanji,
            Some("SYL") => NameKind::Kana,
            Some("ABC") => NameKind::Alphabetic,
            _ => NameKind::Unspecified,
        };
        let given = if n.given.is_empty() {
            None
        } else {
            ctx.text("Patient.name", Some(&n.given.join(" ")))?
        };
        let family = ctx.text("Patient.name", n.family.as_deref())?;
        let full = ctx.text("Patient.name", n.text.as_deref())?;
        if family.is_some() || given.is_some() || full.is_some() {
            id.names.push(PersonName {
                kind,
                family,
                given,
                full,
            });
        }
    }
    for t in &p.telecom {
        let Some(v) = ctx.text("Patient.telecom", t.value.as_deref())? else {
            continue;
        };
        match t.system.as_deref() {
            Some("phone") | Some("sms") | Some("fax") | None => id.phones.push(v),
            Some(other) => id.other_identifiers.push((Reason::type_name(other), v)),
        }
    }
    if let Some(g) = &p.gender {
        id.sex = Some(Sex::parse(g).map_err(|e| ("Patient.gender", Reason::Invalid(e.why)))?);
    }
    id.birth_date = ctx.when("Patient.birthDate", p.birth_date.as_deref())?;
    id.deceased = ctx.when("Patient.deceasedDateTime", p.deceased_date_time.as_deref())?;
    for a in &p.address {
        let postal_code = match a.postal_code.as_deref() {
            None => None,
            Some(pc) => match PostalCode::parse(pc) {
                Ok(pc) => Some(pc),
                Err(_) => {
                    ctx.flags
                        .push("Patient.address.postalCode", FlagKind::InvalidValueDropped);
                    None
                }
            },
        };
        let text = match a.text.as_deref() {
            Some(t) => ctx.text("Patient.address", Some(t))?,
            None => {
                let mut parts: Vec<&str> = Vec::new();
                parts.extend(a.state.as_deref());
                parts.extend(a.city.as_deref());
                parts.extend(a.district.as_deref());
                parts.extend(a.line.iter().map(String::as_str));
                ctx.text("Patient.address", Some(&parts.join(" ")))?
            }
        };
        if postal_code.is_some() || text.is_some() {
            id.addresses.push(Address { postal_code, text });
        }
    }
    Ok(vec![Body::Identity(Box::new(id))])
}

fn encounter(ctx: &mut Ctx<'_>, key: Option<String>, e: FhirEncounter) -> Built<Vec<Body>> {
    let subject = ctx.subject("Encounter.subject", e.subject.as_ref())?;
    let class = match e.class.as_ref().and_then(|c| c.code.as_deref()) {
        None => None,
        Some("IMP" | "ACUTE" | "NONAC") => Some(EncounterClass::Inpatient),
        Some("AMB" | "OBSENC" | "VR") => Some(EncounterClass::Outpatient),
        Some("EMER") => Some(EncounterClass::Emergency),
        Some("HH") => Some(EncounterClass::Home),
        Some(other) => Some(EncounterClass::Other(Reason::type_name(other))),
    };
    let period = e.period.unwrap_or_default();
    let data = Encounter {
        class,
        start: ctx.when("Encounter.period.start", period.start.as_deref())?,
        end: ctx.when("Encounter.period.end", period.end.as_deref())?,
        department: ctx.concept("Encounter.serviceType", e.service_type.as_ref(), &[])?,
        event: ctx.text("Encounter.status", e.status.as_deref())?,
    };
    Ok(vec![clinical(
        Some(subject),
        key,
        None,
        ClinicalData::Encounter(data),
    )])
}

fn condition(ctx: &mut Ctx<'_>, key: Option<String>, c: FhirCondition) -> Built<Vec<Body>> {
    let subject = ctx.subject("Condition.subject", c.subject.as_ref())?;
    let encounter = ctx.encounter("Condition.encounter", c.encounter.as_ref());
    let codings = c
        .code
        .as_ref()
        .map(|cc| cc.coding.as_slice())
        .unwrap_or(&[]);
    let icd10 = match codings
        .iter()
        .find(|k| CodeSystem::from_name(k.system.as_deref().unwrap_or("")) == CodeSystem::Icd10)
        .and_then(|k| k.code.as_deref())
    {
        Some(code) => Some(
            normalise::check_icd10(code, "Condition.code", &mut ctx.flags)
                .map_err(|_| ("Condition.code", Reason::BadCode("ICD-10")))?,
        ),
        None => None,
    };
    let code = ctx.concept(
        "Condition.code",
        c.code.as_ref(),
        &[
            CodeSystem::MedisDisease,
            CodeSystem::Snomed,
            CodeSystem::Icd10,
        ],
    )?;
    if code.is_none() && icd10.is_none() {
        return Err(("Condition.code", Reason::Missing));
    }
    let first_code = |cc: Option<&CodeableConcept>| {
        cc.and_then(|cc| cc.coding.first())
            .and_then(|c| c.code.clone())
    };
    let verification = first_code(c.verification_status.as_ref());
    let onset = match ctx.when("Condition.onsetDateTime", c.onset_date_time.as_deref())? {
        Some(w) => Some(w),
        None => ctx.when(
            "Condition.onsetPeriod.start",
            c.onset_period.as_ref().and_then(|p| p.start.as_deref()),
        )?,
    };
    let data = Condition {
        code,
        icd10,
        onset,
        recorded: ctx.when("Condition.recordedDate", c.recorded_date.as_deref())?,
        abated: ctx.when(
            "Condition.abatementDateTime",
            c.abatement_date_time.as_deref(),
        )?,
        status: ctx.text(
            "Condition.clinicalStatus",
            first_code(c.clinical_status.as_ref()).as_deref(),
        )?,
        primary: false,
        suspected: matches!(
            verification.as_deref(),
            Some("provisional" | "differential" | "unconfirmed")
        ),
    };
    Ok(vec![clinical(
        Some(subject),
        key,
        encounter,
        ClinicalData::Condition(data),
    )])
}

const MEDICINE_SYSTEMS: &[CodeSystem] = &[CodeSystem::Hot, CodeSystem::Yj, CodeSystem::RxNorm];

fn medicine(
    ctx: &mut Ctx<'_>,
    field: &'static str,
    cc: Option<&CodeableConcept>,
    r: Option<&Reference>,
) -> Built<Coded> {
    let resolved = r
        .and_then(|r| r.reference.as_deref())
        .and_then(|s| ctx.index.resolve(s))
        .and_then(|(k, _)| ctx.index.medications.get(k))
        .cloned();
    let cc = cc.cloned().or(resolved);
    ctx.concept(field, cc.as_ref(), MEDICINE_SYSTEMS)?
        .ok_or((field, Reason::Missing))
}

fn dose(
    ctx: &mut Ctx<'_>,
    field: &'static str,
    d: Option<&Dosage>,
) -> Built<(Option<Quantity>, Option<Coded>)> {
    let Some(d) = d else { return Ok((None, None)) };
    let q = ctx.quantity(
        field,
        d.dose_and_rate
            .first()
            .and_then(|x| x.dose_quantity.as_ref()),
    )?;
    let route = ctx.concept(field, d.route.as_ref(), &[])?;
    Ok((q, route))
}

fn medication_request(
    ctx: &mut Ctx<'_>,
    key: Option<String>,
    m: FhirMedicationRequest,
) -> Built<Vec<Body>> {
    let subject = ctx.subject("MedicationRequest.subject", m.subject.as_ref())?;
    let encounter = ctx.encounter("MedicationRequest.encounter", m.encounter.as_ref());
    let code = medicine(
        ctx,
        "MedicationRequest.medication",
        m.medication_codeable_concept.as_ref(),
        m.medication_reference.as_ref(),
    )?;
    let (dose, route) = dose(
        ctx,
        "MedicationRequest.dosageInstruction",
        m.dosage_instruction.first(),
    )?;
    let disp = m.dispense_request.unwrap_or_default();
    let total = ctx.quantity(
        "MedicationRequest.dispenseRequest.quantity",
        disp.quantity.as_ref(),
    )?;
    let days = days_supplied(disp.expected_supply_duration.as_ref());
    let start = match ctx.when(
        "MedicationRequest.dispenseRequest.validityPeriod",
        disp.validity_period
            .as_ref()
            .and_then(|p| p.start.as_deref()),
    )? {
        Some(w) => Some(w),
        None => ctx.when("MedicationRequest.authoredOn", m.authored_on.as_deref())?,
    };
    let injection = m
        .category
        .iter()
        .flat_map(|c| c.coding.iter())
        .any(|c| matches!(c.code.as_deref(), Some("injection" | "INJ")));
    let data = Medication {
        kind: if injection {
            MedicationKind::Injection
        } else {
            MedicationKind::Prescription
        },
        code: Some(code),
        dose,
        total,
        route,
        start,
        end: None,
        days,
        status: ctx.text("MedicationRequest.status", m.status.as_deref())?,
    };
    Ok(vec![clinical(
        Some(subject),
        key,
        encounter,
        ClinicalData::Medication(data),
    )])
}

fn medication_statement(
    ctx: &mut Ctx<'_>,
    key: Option<String>,
    m: FhirMedicationStatement,
) -> Built<Vec<Body>> {
    let subject = ctx.subject("MedicationStatement.subject", m.subject.as_ref())?;
    let encounter = ctx.encounter("MedicationStatement.context", m.context.as_ref());
    let code = medicine(
        ctx,
        "MedicationStatement.medication",
        m.medication_codeable_concept.as_ref(),
        m.medication_reference.as_ref(),
    )?;
    let (dose, route) = dose(ctx, "MedicationStatement.dosage", m.dosage.first())?;
    let period = m.effective_period.unwrap_or_default();
    let start = match ctx.when(
        "MedicationStatement.effectiveDateTime",
        m.effective_date_time.as_deref(),
    )? {
        Some(w) => Some(w),
        None => ctx.when(
            "MedicationStatement.effectivePeriod.start",
            period.start.as_deref(),
        )?,
    };
    let data = Medication {
        kind: MedicationKind::Statement,
        code: Some(code),
        dose,
        total: None,
        route,
        start,
        end: ctx.when(
            "MedicationStatement.effectivePeriod.end",
            period.end.as_deref(),
        )?,
        days: None,
        status: ctx.text("MedicationStatement.status", m.status.as_deref())?,
    };
    Ok(vec![clinical(
        Some(subject),
        key,
        encounter,
        ClinicalData::Medication(data),
    )])
}

/// Days supplied (日数), when the quantity is in days; anything else is not a number of days.
fn days_supplied(q: Option<&FhirQuantity>) -> Option<u32> {
    let q = q?;
    if !matches!(
        q.code.as_deref().or(q.unit.as_deref()),
        Some("d" | "day" | "days" | "日")
    ) {
        return None;
    }
    q.value.as_ref().and_then(|v| v.get().parse::<u32>().ok())
}

/// JP Core MedicationDispense: what a pharmacy handed over (調剤), with days supplied.
fn medication_dispense(
    ctx: &mut Ctx<'_>,
    key: Option<String>,
    m: FhirMedicationDispense,
) -> Built<Vec<Body>> {
    let subject = ctx.subject("MedicationDispense.subject", m.subject.as_ref())?;
    let encounter = ctx.encounter("MedicationDispense.context", m.context.as_ref());
    let code = medicine(
        ctx,
        "MedicationDispense.medication",
        m.medication_codeable_concept.as_ref(),
        m.medication_reference.as_ref(),
    )?;
    let (dose, route) = dose(
        ctx,
        "MedicationDispense.dosageInstruction",
        m.dosage_instruction.first(),
    )?;
    let total = ctx.quantity("MedicationDispense.quantity", m.quantity.as_ref())?;
    let days = days_supplied(m.days_supply.as_ref());
    let start = match ctx.when(
        "MedicationDispense.whenHandedOver",
        m.when_handed_over.as_deref(),
    )? {
        Some(w) => Some(w),
        None => ctx.when(
            "MedicationDispense.whenPrepared",
            m.when_prepared.as_deref(),
        )?,
    };
    let data = Medication {
        kind: MedicationKind::Dispensing,
        code: Some(code),
        dose,
        total,
        route,
        start,
        end: None,
        days,
        status: ctx.text("MedicationDispense.status", m.status.as_deref())?,
    };
    Ok(vec![clinical(
        Some(subject),
        key,
        encounter,
        ClinicalData::Medication(data),
    )])
}

const LAB_SYSTEMS: &[CodeSystem] = &[CodeSystem::Jlac10, CodeSystem::Loinc];

fn range_text(ctx: &mut Ctx<'_>, r: &[ReferenceRange]) -> Built<Option<String>> {
    let Some(r) = r.first() else { return Ok(None) };
    if let Some(t) = ctx.text("Observation.referenceRange", r.text.as_deref())? {
        return Ok(Some(t));
    }
    let lo = ctx.quantity("Observation.referenceRange.low", r.low.as_ref())?;
    let hi = ctx.quantity("Observation.referenceRange.high", r.high.as_ref())?;
    Ok(match (lo, hi) {
        (None, None) => None,
        (lo, hi) => Some(format!(
            "{}-{}",
            lo.map(|q| q.value.as_str().to_owned()).unwrap_or_default(),
            hi.map(|q| q.value.as_str().to_owned()).unwrap_or_default()
        )),
    })
}

fn observation(ctx: &mut Ctx<'_>, key: Option<String>, o: FhirObservation) -> Built<Vec<Body>> {
    let subject = ctx.subject("Observation.subject", o.subject.as_ref())?;
    let encounter = ctx.encounter("Observation.encounter", o.encounter.as_ref());
    let status = match o.status.as_deref() {
        Some("registered") => ObservationStatus::Ordered,
        Some("preliminary") => ObservationStatus::Preliminary,
        Some("final") => ObservationStatus::Final,
        Some("amended" | "corrected") => ObservationStatus::Corrected,
        Some("cancelled" | "entered-in-error") => ObservationStatus::Cancelled,
        _ => ObservationStatus::Unknown,
    };
    let effective = match ctx.when(
        "Observation.effectiveDateTime",
        o.effective_date_time.as_deref(),
    )? {
        Some(w) => Some(w),
        None => match ctx.when(
            "Observation.effectivePeriod.start",
            o.effective_period.as_ref().and_then(|p| p.start.as_deref()),
        )? {
            Some(w) => Some(w),
            None => ctx.when("Observation.issued", o.issued.as_deref())?,
        },
    };
    let category = o
        .category
        .first()
        .and_then(|c| c.coding.first())
        .and_then(|c| c.code.as_deref())
        .map(Reason::type_name);
    // An examination that names a check-up programme (特定健診, 乳幼児健診, 学校健診) in its
    // category is an item of that check-up; it goes to the `checkups` table.
    let program = if category.as_deref() == Some("exam") {
        o.category
            .iter()
            .filter_map(|c| c.text.as_deref())
            .find_map(crate::normalise::checkup_program)
            .map(str::to_owned)
    } else {
        None
    };
    let value =
        if let Some(q) = ctx.quantity("Observation.valueQuantity", o.value_quantity.as_ref())? {
            Some(ObservationValue::Quantity(q))
        } else if let Some(c) = ctx.concept(
            "Observation.valueCodeableConcept",
            o.value_codeable_concept.as_ref(),
            &[],
        )? {
            Some(ObservationValue::Coded(c))
        } else if let Some(s) = ctx.text("Observation.valueString", o.value_string.as_deref())? {
            Some(ObservationValue::Text(s))
        } else if let Some(b) = o.value_boolean {
            Some(ObservationValue::Text(b.to_string()))
        } else if let Some(i) = &o.value_integer {
            Some(ObservationValue::Quantity(Quantity {
                value: Decimal::parse(i.get()).ok_or((
                    "Observation.valueInteger",
                    Reason::Invalid("not an integer"),
                ))?,
                unit: None,
            }))
        } else {
            None
        };
    let interp = |ctx: &mut Ctx<'_>, cs: &[CodeableConcept]| -> Built<Option<String>> {
        ctx.text(
            "Observation.interpretation",
            cs.first()
                .and_then(|c| c.coding.first())
                .and_then(|c| c.code.as_deref()),
        )
    };
    let mut out = Vec::new();
    let code = ctx.concept("Observation.code", o.code.as_ref(), LAB_SYSTEMS)?;
    if code.is_none() {
        return Err(("Observation.code", Reason::Missing));
    }
    // A panel (blood pressure) carries its values in components; each becomes an observation.
    if value.is_some() || o.component.is_empty() {
        out.push(Observation {
            code,
            value,
            reference_range: range_text(ctx, &o.reference_range)?,
            interpretation: interp(ctx, &o.interpretation)?,
            effective,
            status,
            category: category.clone(),
            specimen: None,
            program: program.clone(),
        });
    }
    for c in &o.component {
        let code = ctx.concept("Observation.component.code", c.code.as_ref(), LAB_SYSTEMS)?;
        if code.is_none() {
            return Err(("Observation.component.code", Reason::Missing));
        }
        let value = if let Some(q) = ctx.quantity(
            "Observation.component.valueQuantity",
            c.value_quantity.as_ref(),
        )? {
            Some(ObservationValue::Quantity(q))
        } else if let Some(cc) = ctx.concept(
            "Observation.component.valueCodeableConcept",
            c.value_codeable_concept.as_ref(),
            &[],
        )? {
            Some(ObservationValue::Coded(cc))
        } else {
            ctx.text(
                "Observation.component.valueString",
                c.value_string.as_deref(),
            )?
            .map(ObservationValue::Text)
        };
        out.push(Observation {
            code,
            value,
            reference_range: range_text(ctx, &c.reference_range)?,
            interpretation: interp(ctx, &c.interpretation)?,
            effective,
            status,
            category: category.clone(),
            specimen: None,
            program: program.clone(),
        });
    }
    Ok(out
        .into_iter()
        .map(|ob| {
            clinical(
                Some(subject.clone()),
                key.clone(),
                encounter.clone(),
                ClinicalData::Observation(ob),
            )
        })
        .collect())
}

fn procedure(ctx: &mut Ctx<'_>, key: Option<String>, p: FhirProcedure) -> Built<Vec<Body>> {
    let subject = ctx.subject("Procedure.subject", p.subject.as_ref())?;
    let encounter = ctx.encounter("Procedure.encounter", p.encounter.as_ref());
    let code = ctx.concept(
        "Procedure.code",
        p.code.as_ref(),
        &[CodeSystem::Jj1017, CodeSystem::Snomed],
    )?;
    if code.is_none() {
        return Err(("Procedure.code", Reason::Missing));
    }
    let performed = match ctx.when(
        "Procedure.performedDateTime",
        p.performed_date_time.as_deref(),
    )? {
        Some(w) => Some(w),
        None => ctx.when(
            "Procedure.performedPeriod.start",
            p.performed_period.as_ref().and_then(|x| x.start.as_deref()),
        )?,
    };
    let data = Procedure {
        code,
        performed,
        status: ctx.text("Procedure.status", p.status.as_deref())?,
    };
    Ok(vec![clinical(
        Some(subject),
        key,
        encounter,
        ClinicalData::Procedure(data),
    )])
}

fn allergy(ctx: &mut Ctx<'_>, key: Option<String>, a: FhirAllergy) -> Built<Vec<Body>> {
    let subject = ctx.subject("AllergyIntolerance.patient", a.patient.as_ref())?;
    let encounter = ctx.encounter("AllergyIntolerance.encounter", a.encounter.as_ref());
    let code = ctx.concept("AllergyIntolerance.code", a.code.as_ref(), &[])?;
    if code.is_none() {
        return Err(("AllergyIntolerance.code", Reason::Missing));
    }
    let fhir_code =
        |ctx: &mut Ctx<'_>, field: &'static str, s: Option<&str>| -> Built<Option<Coded>> {
            Ok(ctx.text(field, s)?.map(|c| Coded {
                system: CodeSystem::Other("fhir".into()),
                code: c,
                display: None,
            }))
        };
    let identified = match ctx.when(
        "AllergyIntolerance.onsetDateTime",
        a.onset_date_time.as_deref(),
    )? {
        Some(w) => Some(w),
        None => ctx.when(
            "AllergyIntolerance.recordedDate",
            a.recorded_date.as_deref(),
        )?,
    };
    let reaction = a
        .reaction
        .first()
        .and_then(|r| r.manifestation.first())
        .and_then(|m| {
            m.text
                .clone()
                .or_else(|| m.coding.first().and_then(|c| c.display.clone()))
        });
    let data = Allergy {
        category: fhir_code(
            ctx,
            "AllergyIntolerance.category",
            a.category.first().map(String::as_str),
        )?,
        code,
        severity: fhir_code(
            ctx,
            "AllergyIntolerance.criticality",
            a.criticality.as_deref(),
        )?,
        reaction: ctx.text("AllergyIntolerance.reaction", reaction.as_deref())?,
        identified,
    };
    Ok(vec![clinical(
        Some(subject),
        key,
        encounter,
        ClinicalData::Allergy(data),
    )])
}

const JP_SYMBOL: &str =
    "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonSymbol";
const JP_NUMBER: &str =
    "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonNumber";
const JP_SUBNUMBER: &str =
    "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonSubNumber";

fn coverage(ctx: &mut Ctx<'_>, key: Option<String>, c: FhirCoverage) -> Built<Vec<Body>> {
    let subject = ctx.subject("Coverage.beneficiary", c.beneficiary.as_ref())?;
    let ext = |url: &str| {
        c.extension
            .iter()
            .find(|e| e.url == url)
            .and_then(|e| e.value_string.clone())
    };
    let insurer = c
        .payor
        .iter()
        .filter_map(|p| p.reference.as_deref())
        .filter_map(|r| ctx.index.resolve(r))
        .find_map(|(k, _)| ctx.index.insurers.get(k).cloned());
    let insurer = ctx.text("Coverage.payor", insurer.as_deref())?;
    let period = c.period.unwrap_or_default();
    let data = Coverage {
        insurer_number: insurer.clone(),
        kind: ctx.concept("Coverage.type", c.kind.as_ref(), &[])?,
        start: ctx.when("Coverage.period.start", period.start.as_deref())?,
        end: ctx.when("Coverage.period.end", period.end.as_deref())?,
        relationship: ctx.text(
            "Coverage.relationship",
            c.relationship
                .as_ref()
                .and_then(|r| r.coding.first())
                .and_then(|k| k.code.as_deref()),
        )?,
    };
    let symbol = ctx.text("Coverage.extension", ext(JP_SYMBOL).as_deref())?;
    let number = match ctx.text("Coverage.extension", ext(JP_NUMBER).as_deref())? {
        Some(n) => Some(n),
        None => ctx.text("Coverage.subscriberId", c.subscriber_id.as_deref())?,
    };
    let branch = match ctx.text("Coverage.extension", ext(JP_SUBNUMBER).as_deref())? {
        Some(b) => Some(b),
        None => ctx.text("Coverage.dependent", c.dependent.as_deref())?,
    };
    let mut out = vec![clinical(
        Some(subject.clone()),
        key,
        None,
        ClinicalData::Coverage(data),
    )];
    if symbol.is_some() || number.is_some() || branch.is_some() {
        let mut id = Identity::new(subject);
        id.insurance.push(InsuranceCard {
            insurer_number: insurer,
            symbol,
            number,
            branch,
        });
        out.push(Body::Identity(Box::new(id)));
    }
    Ok(out)
}

fn organization(ctx: &mut Ctx<'_>, key: Option<String>, o: FhirOrganization) -> Built<Vec<Body>> {
    let mut identifiers = Vec::new();
    for i in &o.identifier {
        if let Some(v) = ctx.text("Organization.identifier", i.value.as_deref())? {
            let sys = ctx
                .text("Organization.identifier", i.system.as_deref())?
                .unwrap_or_default();
            identifiers.push((sys, v));
        }
    }
    let data = Organization {
        name: ctx.text("Organization.name", o.name.as_deref())?,
        identifiers,
        kind: ctx.concept("Organization.type", o.kind.first(), &[])?,
    };
    Ok(vec![clinical(
        None,
        key,
        None,
        ClinicalData::Organization(data),
    )])
}

/// Counts of rejected inputs by unsupported resource or message type.
pub fn unsupported_counts(batch: &Batch) -> std::collections::BTreeMap<String, u64> {
    let mut m = std::collections::BTreeMap::new();
    for r in &batch.rejected {
        if let Reason::Unsupported { name, .. } = &r.reason {
            *m.entry(name.clone()).or_insert(0) += 1;
        }
    }
    m
}
