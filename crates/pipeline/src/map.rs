//! From parsed records to what is stored: the identity (for the vault) and the clinical rows
//! (for the lake), per person at the provider. This is the split of design §2: nothing that
//! identifies a person crosses into a lake row; the lake keys everything by the vault's internal
//! id.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use hmac::{KeyInit, Mac};
use tsunagu_ingest::record::{
    Body, ClinicalData, Coded, EncounterClass, MedicationKind, NameKind, ObservationValue,
    RecordStatus, SubjectKey, When,
};
use tsunagu_ingest::{Batch, Position, Reason, Rejected};
use tsunagu_lake as lake;
use tsunagu_model::{LocalPatientId, ProviderId};
use tsunagu_vault as vp;

/// All rows of the lake tables for some persons.
#[derive(Debug, Default, Clone)]
pub struct Rows {
    /// `persons`.
    pub persons: Vec<lake::Person>,
    /// `encounters`.
    pub encounters: Vec<lake::Encounter>,
    /// `conditions`.
    pub conditions: Vec<lake::Condition>,
    /// `medications`.
    pub medications: Vec<lake::Medication>,
    /// `observations`.
    pub observations: Vec<lake::Observation>,
    /// `procedures`.
    pub procedures: Vec<lake::Procedure>,
    /// `checkups`.
    pub checkups: Vec<lake::Checkup>,
    /// `claims`.
    pub claims: Vec<lake::Claim>,
}

impl Rows {
    /// Move every row of `other` in.
    pub fn append(&mut self, other: &mut Rows) {
        self.persons.append(&mut other.persons);
        self.encounters.append(&mut other.encounters);
        self.conditions.append(&mut other.conditions);
        self.medications.append(&mut other.medications);
        self.observations.append(&mut other.observations);
        self.procedures.append(&mut other.procedures);
        self.checkups.append(&mut other.checkups);
        self.claims.append(&mut other.claims);
    }

    /// Rows per table name.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for (k, n) in [
            ("persons", self.persons.len()),
            ("encounters", self.encounters.len()),
            ("conditions", self.conditions.len()),
            ("medications", self.medications.len()),
            ("observations", self.observations.len()),
            ("procedures", self.procedures.len()),
            ("checkups", self.checkups.len()),
            ("claims", self.claims.len()),
        ] {
            if n > 0 {
                m.insert(k.to_owned(), n as u64);
            }
        }
        m
    }

    /// Every person id that has a row.
    pub fn person_ids(&self) -> std::collections::BTreeSet<String> {
        let mut ids = std::collections::BTreeSet::new();
        ids.extend(self.persons.iter().map(|r| r.person_id.as_str().to_owned()));
        ids.extend(
            self.encounters
                .iter()
                .map(|r| r.person_id.as_str().to_owned()),
        );
        ids.extend(
            self.conditions
                .iter()
                .map(|r| r.person_id.as_str().to_owned()),
        );
        ids.extend(
            self.medications
                .iter()
                .map(|r| r.person_id.as_str().to_owned()),
        );
        ids.extend(
            self.observations
                .iter()
                .map(|r| r.person_id.as_str().to_owned()),
        );
        ids.extend(
            self.procedures
                .iter()
                .map(|r| r.person_id.as_str().to_owned()),
        );
        ids.extend(
            self.checkups
                .iter()
                .map(|r| r.person_id.as_str().to_owned()),
        );
        ids.extend(self.claims.iter().map(|r| r.person_id.as_str().to_owned()));
        ids
    }

    /// Whether there is no row at all.
    pub fn is_empty(&self) -> bool {
        self.counts().is_empty()
    }

    /// Keep only the rows of the given persons; return the others.
    pub fn split_off(&mut self, keep: &dyn Fn(&str) -> bool) -> Rows {
        fn part<T>(v: &mut Vec<T>, keep: &dyn Fn(&str) -> bool, id: fn(&T) -> &str) -> Vec<T> {
            let (k, o): (Vec<T>, Vec<T>) = std::mem::take(v).into_iter().partition(|r| keep(id(r)));
            *v = k;
            o
        }
        Rows {
            persons: part(&mut self.persons, keep, |r| r.person_id.as_str()),
            encounters: part(&mut self.encounters, keep, |r| r.person_id.as_str()),
            conditions: part(&mut self.conditions, keep, |r| r.person_id.as_str()),
            medications: part(&mut self.medications, keep, |r| r.person_id.as_str()),
            observations: part(&mut self.observations, keep, |r| r.person_id.as_str()),
            procedures: part(&mut self.procedures, keep, |r| r.person_id.as_str()),
            checkups: part(&mut self.checkups, keep, |r| r.person_id.as_str()),
            claims: part(&mut self.claims, keep, |r| r.person_id.as_str()),
        }
    }
}

/// One person at the provider, as the input describes them.
pub struct Subject {
    /// The provider's local patient id.
    pub local: LocalPatientId,
    /// What identifies them (for the vault), when the input had an identity record.
    pub identity: Option<vp::IdentityPayload>,
    /// Records that were cancelled or deleted at the source (SS-MIX2 condition flag).
    pub cancelled: u64,
    /// The input's records of them, not yet mapped (mapping needs the internal id).
    pub(crate) records: Vec<tsunagu_ingest::Record>,
}

/// The input grouped by person, plus what could not be attributed to anyone.
pub struct Grouped {
    /// Persons by local patient id (exposed form; this map never leaves the pipeline).
    pub subjects: BTreeMap<String, Subject>,
    /// Rejections: the parser's, and records that name no known person.
    pub rejected: Vec<Rejected>,
    /// Records of kinds the lake has no table for (allergy, coverage, organization), by kind.
    pub unstored: BTreeMap<&'static str, u64>,
}

fn local_of(key: &SubjectKey) -> Option<LocalPatientId> {
    key.expose()
        .strip_prefix("local:")
        .and_then(|s| LocalPatientId::parse(s).ok())
}

/// Group a parsed batch by person. A FHIR subject is tied to the provider's local patient id by
/// its Patient resource: the JP Core patient-id identifier, or else an identifier whose system
/// names the provider's own code (how providers without a JP Core OID, such as care facilities,
/// label their ids). Records whose subject has no local id go to quarantine.
pub fn group(batch: Batch, provider_code: &str) -> Grouped {
    group_with(batch, provider_code, None)
}

/// The local patient id a Patient's identifiers give (see [`group`]).
fn local_from(
    subject: &SubjectKey,
    local_patient_id: Option<&LocalPatientId>,
    other_identifiers: &[(String, String)],
    provider_code: &str,
) -> Option<LocalPatientId> {
    let own = || {
        other_identifiers
            .iter()
            .filter(|(system, _)| !provider_code.is_empty() && system.contains(provider_code))
            .find_map(|(_, v)| LocalPatientId::parse(v).ok())
    };
    local_patient_id
        .cloned()
        .or_else(|| local_of(subject))
        .or_else(own)
}

/// [`group`], with the Patients of an NDJSON export indexed beforehand: a piece of the export
/// whose records name a patient whose Patient resource lies in another piece.
pub fn group_with(
    batch: Batch,
    provider_code: &str,
    patients: Option<&tsunagu_ingest::fhir::NdjsonIndex>,
) -> Grouped {
    let mut subject_local: BTreeMap<SubjectKey, LocalPatientId> = BTreeMap::new();
    for r in &batch.records {
        if let Body::Identity(id) = &r.body {
            let local = local_from(
                &id.subject,
                id.local_patient_id.as_ref(),
                &id.other_identifiers,
                provider_code,
            );
            if let Some(l) = local {
                subject_local.insert(id.subject.clone(), l);
            }
        }
    }
    let indexed = |k: &SubjectKey| {
        let p = patients?.patient(k)?;
        local_from(
            k,
            p.local_patient_id.as_ref(),
            &p.other_identifiers,
            provider_code,
        )
    };
    let mut out = Grouped {
        subjects: BTreeMap::new(),
        rejected: batch.rejected,
        unstored: BTreeMap::new(),
    };
    for r in batch.records {
        let key = match &r.body {
            Body::Identity(id) => Some(id.subject.clone()),
            Body::Clinical(c) => {
                if matches!(
                    c.data,
                    ClinicalData::Allergy(_)
                        | ClinicalData::Coverage(_)
                        | ClinicalData::Organization(_)
                ) {
                    *out.unstored.entry(c.data.kind()).or_default() += 1;
                    continue;
                }
                c.subject.clone()
            }
        };
        let local = key.as_ref().and_then(|k| {
            subject_local
                .get(k)
                .cloned()
                .or_else(|| local_of(k))
                .or_else(|| indexed(k))
        });
        let Some(local) = local else {
            out.rejected.push(Rejected::new(
                r.position.clone(),
                "subject",
                if key.is_some() {
                    Reason::UnresolvedReference
                } else {
                    Reason::Missing
                },
            ));
            continue;
        };
        let s = out
            .subjects
            .entry(local.expose().to_owned())
            .or_insert_with(|| Subject {
                local: local.clone(),
                identity: None,
                cancelled: 0,
                records: Vec::new(),
            });
        if r.status == RecordStatus::Cancelled {
            s.cancelled += 1;
            continue;
        }
        if let Body::Identity(id) = &r.body {
            let mut p = identity_payload(id);
            if p.local_patient_id.is_none() {
                p.local_patient_id = Some(local.expose().to_owned());
            }
            // Several identity records of one person (an SS-MIX2 ADT per visit) merge into one
            // payload; the vault keeps versions when it changes between ingests.
            s.identity = Some(match s.identity.take() {
                None => p,
                Some(mut prev) => {
                    prev.names.extend(p.names);
                    prev.addresses.extend(p.addresses);
                    prev.phones.extend(p.phones);
                    prev.insurance.extend(p.insurance);
                    prev.other_identifiers.extend(p.other_identifiers);
                    prev.birth_date = prev.birth_date.or(p.birth_date);
                    prev.sex = prev.sex.or(p.sex);
                    prev.deceased = prev.deceased.or(p.deceased);
                    prev.canonical()
                }
            });
        }
        s.records.push(r);
    }
    out
}

fn partial(w: &When) -> Option<vp::PartialDate> {
    match w {
        When::Year(y) => Some(vp::PartialDate::Year(*y)),
        When::Month(y, m) => Some(vp::PartialDate::Month(*y, *m)),
        other => other.date().map(vp::PartialDate::Day),
    }
}

fn identity_payload(id: &tsunagu_ingest::Identity) -> vp::IdentityPayload {
    vp::IdentityPayload {
        local_patient_id: id.local_patient_id.as_ref().map(|l| l.expose().to_owned()),
        names: id
            .names
            .iter()
            .map(|n| vp::PersonName {
                kind: match n.kind {
                    NameKind::Kanji => vp::NameKind::Kanji,
                    NameKind::Kana => vp::NameKind::Kana,
                    NameKind::Alphabetic => vp::NameKind::Alphabetic,
                    NameKind::Unspecified => vp::NameKind::Unspecified,
                },
                family: n.family.clone(),
                given: n.given.clone(),
                full: n.full.clone(),
            })
            .collect(),
        birth_date: id.birth_date.as_ref().and_then(partial),
        sex: id.sex,
        addresses: id
            .addresses
            .iter()
            .map(|a| vp::Address {
                postal_code: a.postal_code.map(|p| p.as_str().to_owned()),
                text: a.text.clone(),
            })
            .collect(),
        phones: id.phones.clone(),
        insurance: id
            .insurance
            .iter()
            .map(|c| vp::InsuranceCard {
                insurer_number: c.insurer_number.clone(),
                symbol: c.symbol.clone(),
                number: c.number.clone(),
                branch: c.branch.clone(),
            })
            .collect(),
        other_identifiers: id
            .other_identifiers
            .iter()
            .map(|(system, value)| vp::OtherIdentifier {
                system: system.clone(),
                value: value.clone(),
            })
            .collect(),
        deceased: id.deceased.as_ref().and_then(partial),
    }
    .canonical()
}

/// Makes internal record and encounter ids: keyed hashes of the provider, the person's internal
/// id and the source's own id (or, lacking one, the record's position), so they are stable
/// across re-ingests yet reveal nothing of the source's numbering.
pub struct IdMaker {
    key: [u8; 32],
}

impl IdMaker {
    /// From the store key.
    pub fn new(key: &tsunagu_model::StoreKey) -> Self {
        IdMaker {
            key: key.derive("tsunagu/pipeline/record-id/v1"),
        }
    }

    fn make(&self, prefix: &str, parts: &[&str]) -> String {
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p.as_bytes());
        }
        let d = mac.finalize().into_bytes();
        format!("{prefix}-{}", hex::encode(&d[..12]))
    }
}

fn datetime(w: &When) -> Option<NaiveDateTime> {
    match w {
        When::Local(t) => Some(*t),
        // Stored as Japan local wall time.
        When::Zoned(t) => Some(t.with_timezone(&tsunagu_ledger::JST).naive_local()),
        other => other.date().map(|d| d.and_time(NaiveTime::MIN)),
    }
}

fn date(w: &When) -> Option<NaiveDate> {
    w.date()
}

fn coded(c: &Option<Coded>) -> (Option<String>, Option<String>, Option<String>) {
    match c {
        Some(c) => (
            Some(c.system.as_str().to_owned()),
            Some(c.code.clone()).filter(|s| !s.is_empty()),
            c.display.clone(),
        ),
        None => (None, None, None),
    }
}

/// Value, value as written and unit of a result.
fn observation_value(
    v: &Option<ObservationValue>,
) -> (Option<f64>, Option<String>, Option<String>) {
    match v {
        Some(ObservationValue::Quantity(q)) => (
            q.value.as_str().parse().ok(),
            Some(q.value.as_str().to_owned()),
            q.unit.clone(),
        ),
        Some(ObservationValue::Coded(c)) => (
            None,
            Some(c.display.clone().unwrap_or_else(|| c.code.clone())),
            None,
        ),
        // Free text can name people; it stays out of the lake until the de-identification of
        // free text (scrub) exists.
        Some(ObservationValue::Text(_)) | None => (None, None, None),
    }
}

/// Map one person's records to lake rows under their internal id.
pub fn rows_for(
    ids: &IdMaker,
    provider: &ProviderId,
    person: &lake::PersonId,
    subject: &Subject,
    unit_digest: &str,
) -> Rows {
    let mut rows = Rows::default();
    let mut claim_lines: BTreeMap<String, u32> = BTreeMap::new();
    // Encounter id → its row, so later messages about a stay find it without a scan.
    let mut encounter_at: std::collections::HashMap<String, usize> = Default::default();
    let pid = person.as_str();
    let rec_id = |pos: &Position, source: &Option<String>| -> String {
        match source {
            Some(s) => ids.make("rec", &[provider.as_str(), pid, s]),
            None => ids.make(
                "rec",
                &[provider.as_str(), pid, unit_digest, &pos.to_string()],
            ),
        }
    };
    let enc_id = |source: &Option<String>| -> Option<String> {
        source
            .as_ref()
            .map(|s| ids.make("enc", &[provider.as_str(), pid, s]))
    };
    if let Some(idn) = &subject.identity {
        let postal = idn.addresses.iter().find_map(|a| {
            a.postal_code
                .as_deref()
                .and_then(|p| tsunagu_model::PostalCode::parse(p).ok())
        });
        rows.persons.push(lake::Person {
            person_id: person.clone(),
            provider_id: provider.clone(),
            sex: idn.sex.unwrap_or(tsunagu_model::Sex::Unknown),
            birth_month: idn.birth_date.and_then(|d| match d {
                vp::PartialDate::Year(_) => None,
                vp::PartialDate::Month(y, m) => lake::YearMonth::new(y, m),
                vp::PartialDate::Day(d) => Some(lake::YearMonth::of(d)),
            }),
            deceased_date: idn.deceased.and_then(|d| match d {
                vp::PartialDate::Day(d) => Some(d),
                _ => None,
            }),
            postal3: postal.as_ref().map(lake::Postal3::of),
            municipality: postal
                .as_ref()
                .and_then(|p| p.places().first().map(|pl| pl.municipality.to_owned())),
        });
    }
    for r in &subject.records {
        let Body::Clinical(c) = &r.body else { continue };
        let record_id = rec_id(&r.position, &c.source_id);
        let encounter_id = enc_id(&c.encounter);
        match &c.data {
            ClinicalData::Encounter(e) => {
                let (_, dcode, dname) = coded(&e.department);
                let encounter_id = enc_id(&c.source_id).unwrap_or_else(|| record_id.clone());
                // Several messages about one stay (admission, transfer, discharge) make one row:
                // later messages fill in what earlier ones lacked.
                if let Some(prev) = encounter_at
                    .get(&encounter_id)
                    .and_then(|&i| rows.encounters.get_mut(i))
                {
                    prev.end = e.end.as_ref().and_then(datetime).or(prev.end);
                    prev.start = prev.start.or_else(|| e.start.as_ref().and_then(datetime));
                    prev.department_code = prev.department_code.take().or(dcode);
                    prev.department = prev.department.take().or(dname);
                    continue;
                }
                encounter_at.insert(encounter_id.clone(), rows.encounters.len());
                rows.encounters.push(lake::Encounter {
                    person_id: person.clone(),
                    provider_id: provider.clone(),
                    encounter_id,
                    class: e.class.as_ref().map(|k| match k {
                        EncounterClass::Inpatient => lake::EncounterClass::Inpatient,
                        EncounterClass::Outpatient => lake::EncounterClass::Outpatient,
                        EncounterClass::Emergency => lake::EncounterClass::Emergency,
                        EncounterClass::Home => lake::EncounterClass::Home,
                        EncounterClass::Other(_) => lake::EncounterClass::Other,
                    }),
                    start: e.start.as_ref().and_then(datetime),
                    end: e.end.as_ref().and_then(datetime),
                    department_code: dcode,
                    department: dname,
                });
            }
            ClinicalData::Condition(k) => {
                let (system, code, name) = coded(&k.code);
                rows.conditions.push(lake::Condition {
                    person_id: person.clone(),
                    provider_id: provider.clone(),
                    record_id,
                    encounter_id,
                    icd10: k.icd10.clone(),
                    code_system: system,
                    code,
                    name,
                    suspected: k.suspected,
                    primary: k.primary,
                    onset: k.onset.as_ref().and_then(date),
                    recorded: k.recorded.as_ref().and_then(date),
                    abated: k.abated.as_ref().and_then(date),
                    status: k.status.clone(),
                });
            }
            ClinicalData::Medication(m) => {
                let (system, code, name) = coded(&m.code);
                rows.medications.push(lake::Medication {
                    person_id: person.clone(),
                    provider_id: provider.clone(),
                    record_id,
                    encounter_id,
                    kind: match m.kind {
                        MedicationKind::Prescription => lake::MedicationKind::Prescription,
                        MedicationKind::Injection => lake::MedicationKind::Injection,
                        MedicationKind::Administration => lake::MedicationKind::Administration,
                        MedicationKind::Statement => lake::MedicationKind::Statement,
                        MedicationKind::Dispensing => lake::MedicationKind::Dispensing,
                    },
                    code_system: system,
                    code,
                    name,
                    dose: m.dose.as_ref().and_then(|q| q.value.as_str().parse().ok()),
                    unit: m.dose.as_ref().and_then(|q| q.unit.clone()),
                    usage: m
                        .route
                        .as_ref()
                        .and_then(|r| r.display.clone().or(Some(r.code.clone()))),
                    days: m.days,
                    start: m.start.as_ref().and_then(date),
                    end: m.end.as_ref().and_then(date),
                    status: m.status.clone(),
                });
            }
            ClinicalData::Observation(o) if o.program.is_some() => {
                let (system, code, name) = coded(&o.code);
                let (value, value_text, unit) = observation_value(&o.value);
                let program = o
                    .program
                    .as_deref()
                    .and_then(tsunagu_ingest::normalise::checkup_program)
                    .and_then(|p| lake::CheckupProgram::parse(p).ok())
                    .unwrap_or(lake::CheckupProgram::Other);
                rows.checkups.push(lake::Checkup {
                    person_id: person.clone(),
                    provider_id: provider.clone(),
                    record_id,
                    program,
                    date: o.effective.as_ref().and_then(date),
                    code_system: system,
                    code,
                    name,
                    value,
                    value_text,
                    unit,
                });
            }
            ClinicalData::Claim(l) => {
                let (system, code, name) = coded(&l.code);
                let Some(service_month) = lake::YearMonth::new(l.month.0, l.month.1) else {
                    continue;
                };
                // Lines without a claim number form one claim per person, month and facility,
                // as a care claim (one 介護給付費明細書 a month) does.
                let month = format!("{:04}-{:02}", l.month.0, l.month.1);
                let claim_key = match &l.claim {
                    Some(c) => format!("n:{c}"),
                    None => format!(
                        "m:{month}:{}",
                        l.facility_code.as_deref().unwrap_or_default()
                    ),
                };
                let claim_id = ids.make("clm", &[provider.as_str(), pid, &claim_key]);
                let line = match l.line {
                    Some(n) => n,
                    None => {
                        let n = claim_lines.entry(claim_id.clone()).or_insert(0);
                        *n += 1;
                        *n
                    }
                };
                rows.claims.push(lake::Claim {
                    person_id: person.clone(),
                    provider_id: provider.clone(),
                    record_id,
                    claim_id,
                    service_month,
                    facility_code: l.facility_code.clone(),
                    line,
                    kind: l.kind.clone(),
                    code_system: system,
                    code,
                    name,
                    quantity: l.quantity.as_ref().and_then(|q| q.as_str().parse().ok()),
                    points: l.points.as_ref().and_then(|q| q.as_str().parse().ok()),
                    care_level: l.care_level.clone(),
                });
            }
            ClinicalData::Observation(o) => {
                let (system, code, name) = coded(&o.code);
                let (value, value_text, unit) = observation_value(&o.value);
                let category = match o.category.as_deref() {
                    Some("laboratory") => lake::ObservationCategory::Laboratory,
                    Some("vital-signs") => lake::ObservationCategory::VitalSigns,
                    _ if o.code.as_ref().is_some_and(|c| {
                        matches!(c.system, tsunagu_ingest::record::CodeSystem::Jlac10)
                    }) =>
                    {
                        lake::ObservationCategory::Laboratory
                    }
                    _ => lake::ObservationCategory::Other,
                };
                rows.observations.push(lake::Observation {
                    person_id: person.clone(),
                    provider_id: provider.clone(),
                    record_id,
                    encounter_id,
                    category,
                    code_system: system,
                    code,
                    name,
                    value,
                    value_text,
                    unit,
                    reference_range: o.reference_range.clone(),
                    interpretation: o.interpretation.clone(),
                    effective: o.effective.as_ref().and_then(datetime),
                    status: Some(format!("{:?}", o.status).to_lowercase()),
                });
            }
            ClinicalData::Procedure(p) => {
                let (system, code, name) = coded(&p.code);
                rows.procedures.push(lake::Procedure {
                    person_id: person.clone(),
                    provider_id: provider.clone(),
                    record_id,
                    encounter_id,
                    code_system: system,
                    code,
                    name,
                    performed: p.performed.as_ref().and_then(datetime),
                    status: p.status.clone(),
                });
            }
            // Grouping keeps these out (no lake table); counted there.
            ClinicalData::Allergy(_)
            | ClinicalData::Coverage(_)
            | ClinicalData::Organization(_) => {}
        }
    }
    rows
}
