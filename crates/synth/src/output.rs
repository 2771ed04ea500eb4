//! Writing: the CSV layout, ledger files and truth files, and the driver that generates persons
//! in parallel chunks and writes them in person order.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tsunagu_model::ProviderKind;

use crate::clinical::{CARE_SERVICES, DRUGS, ITEMS, LABS};
use crate::config::{Config, Format};
use crate::reference::{Reference, reference};
use crate::sim::{self, PersonOut, RecKind};
use crate::world::World;
use crate::{Error, fhir, ssmix2};

/// What was generated.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    /// Persons.
    pub persons: u64,
    /// Providers.
    pub providers: u64,
    /// Patients-at-provider (local records).
    pub patient_records: u64,
    /// Clinical and administrative records (CSV rows other than identities).
    pub records: u64,
    /// Notices.
    pub notices: u64,
    /// Stop requests.
    pub stops: u64,
    /// Persons who died during the period.
    pub deaths: u64,
    /// FHIR bundles written.
    pub fhir_bundles: u64,
    /// SS-MIX2 files written.
    pub ssmix2_files: u64,
}

/// Every sequentially written file: path under the output directory, header line.
pub const FILES: [(&str, &str); 25] = [
    (
        "csv/identities.csv",
        "id,family_name,given_name,family_name_kana,given_name_kana,birth_date,sex,postal_code,address,phone,insurer_number,insured_symbol,insured_number,insured_branch,provider_code",
    ),
    (
        "csv/encounters.csv",
        "provider_code,patient_id,encounter_id,class,start,end,department",
    ),
    (
        "csv/diagnoses.csv",
        "provider_code,patient_id,encounter_id,date,icd10,name,suspected,main",
    ),
    (
        "csv/prescriptions.csv",
        "provider_code,patient_id,encounter_id,order_id,date,yj_code,drug_name,daily_dose,unit,usage,days",
    ),
    (
        "csv/dispensings.csv",
        "provider_code,patient_id,date,yj_code,drug_name,daily_dose,unit,days,prescriber_code",
    ),
    (
        "csv/labs.csv",
        "provider_code,patient_id,encounter_id,order_id,date,jlac10,loinc,name,value,unit,ref_low,ref_high,flag",
    ),
    (
        "csv/vitals.csv",
        "provider_code,patient_id,encounter_id,date,code,loinc,name,value,unit",
    ),
    (
        "csv/checkups.csv",
        "provider_code,patient_id,date,program,code,loinc,name,value,unit",
    ),
    (
        "csv/care.csv",
        "provider_code,patient_id,month,service_code,service_name,care_level,units",
    ),
    (
        "csv/claims.csv",
        "provider_code,patient_id,claim_id,month,facility_code,line,kind,code,name,quantity",
    ),
    ("ledger/notices.csv", "provider_code,patient,date,channel"),
    (
        "ledger/stops.csv",
        "provider_code,patient,requester,relationship,received_at",
    ),
    (
        "truth/persons.csv",
        "person_id,family_name,given_name,family_name_kana,given_name_kana,birth_date,sex,death_date,postal_code,address,phone,insurer_number,insured_symbol,insured_number,insured_branch",
    ),
    (
        "truth/identity_history.csv",
        "person_id,valid_from,family_name,family_name_kana,postal_code,address,phone,insurer_number,insured_symbol,insured_number,insured_branch",
    ),
    (
        "truth/records.csv",
        "provider_code,patient_id,person_id,first_date,last_date,records,outdated_address,outdated_family_name,variant_kanji,name_typo,missing_phone",
    ),
    ("truth/conditions.csv", "person_id,icd10,name,onset"),
    (
        "truth/stops.csv",
        "person_id,provider_code,patient_id,requester,relationship,received_at",
    ),
    ("truth/events.csv", "person_id,date,event"),
    ("fhir/Patient.ndjson", ""),
    ("fhir/Coverage.ndjson", ""),
    ("fhir/Encounter.ndjson", ""),
    ("fhir/Condition.ndjson", ""),
    ("fhir/MedicationRequest.ndjson", ""),
    ("fhir/Observation.ndjson", ""),
    ("fhir/MedicationDispense.ndjson", ""),
];

/// Index of a file in [`FILES`].
pub mod file {
    #![allow(missing_docs)]
    pub const IDENTITIES: usize = 0;
    pub const ENCOUNTERS: usize = 1;
    pub const DIAGNOSES: usize = 2;
    pub const PRESCRIPTIONS: usize = 3;
    pub const DISPENSINGS: usize = 4;
    pub const LABS: usize = 5;
    pub const VITALS: usize = 6;
    pub const CHECKUPS: usize = 7;
    pub const CARE: usize = 8;
    pub const CLAIMS: usize = 9;
    pub const NOTICES: usize = 10;
    pub const STOPS: usize = 11;
    pub const T_PERSONS: usize = 12;
    pub const T_HISTORY: usize = 13;
    pub const T_RECORDS: usize = 14;
    pub const T_CONDITIONS: usize = 15;
    pub const T_STOPS: usize = 16;
    pub const T_EVENTS: usize = 17;
    pub const FHIR_PATIENT: usize = 18;
    pub const FHIR_COVERAGE: usize = 19;
    pub const FHIR_ENCOUNTER: usize = 20;
    pub const FHIR_CONDITION: usize = 21;
    pub const FHIR_MEDREQ: usize = 22;
    pub const FHIR_OBSERVATION: usize = 23;
    pub const FHIR_MEDDISP: usize = 24;
}

fn wanted(cfg: &Config, i: usize) -> bool {
    let path = FILES[i].0;
    if path.starts_with("csv/") {
        cfg.wants(Format::Csv)
    } else if path.starts_with("fhir/") {
        cfg.wants(Format::Fhir)
    } else {
        true
    }
}

/// Buffers of one chunk of persons, one per file in [`FILES`].
pub struct ChunkOut {
    /// Bytes per file.
    pub bufs: Vec<String>,
    /// Counts.
    pub summary: Summary,
}

/// Append one CSV field (quoted only when needed), preceded by a comma unless first.
pub fn field(buf: &mut String, first: bool, s: &str) {
    if !first {
        buf.push(',');
    }
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        buf.push('"');
        buf.push_str(&s.replace('"', "\"\""));
        buf.push('"');
    } else {
        buf.push_str(s);
    }
}

/// Append a CSV row of fields that cannot contain a delimiter, quote or line break (codes,
/// numbers, dates and names from the built-in catalogue; a unit test checks the catalogue).
pub fn row_plain(buf: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        buf.push_str(f);
    }
    buf.push('\n');
}

/// Append a CSV row.
pub fn row(buf: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        field(buf, i == 0, f);
    }
    buf.push('\n');
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Format a value with the item's precision.
pub fn fmt_value(v: f64, decimals: usize) -> String {
    // Integer rounding instead of the float formatter's exact (and slow) path; values here are
    // far below 2^53 after scaling.
    let scale = 10i64.pow(decimals as u32);
    let n = (v * scale as f64).round() as i64;
    let (sign, n) = if n < 0 { ("-", -n) } else { ("", n) };
    if decimals == 0 {
        format!("{sign}{n}")
    } else {
        format!("{sign}{}.{:0w$}", n / scale, n % scale, w = decimals)
    }
}

/// A date as YYYY-MM-DD without going through the general formatter.
pub fn ymd(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let (y, m, dd) = (d.year().clamp(0, 9999) as u32, d.month(), d.day());
    let digit = |v: u32| char::from(b'0' + (v % 10) as u8);
    let mut s = String::with_capacity(10);
    s.push(digit(y / 1000));
    s.push(digit(y / 100));
    s.push(digit(y / 10));
    s.push(digit(y));
    s.push('-');
    s.push(digit(m / 10));
    s.push(digit(m));
    s.push('-');
    s.push(digit(dd / 10));
    s.push(digit(dd));
    s
}

/// Decimals used for an item of [`ITEMS`].
pub fn item_decimals(i: usize) -> usize {
    match i {
        crate::clinical::item::SBP | crate::clinical::item::DBP | crate::clinical::item::PULSE => 0,
        _ => 1,
    }
}

/// Generate everything `cfg` asks for under `out`. `progress(done, total)` is called after each
/// window of chunks is written.
pub fn generate(
    cfg: &Config,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary, Error> {
    cfg.validate()?;
    let r = reference()?;
    let world = World::build(cfg, r)?;
    for dir in ["ledger", "truth"]
        .into_iter()
        .chain(cfg.wants(Format::Csv).then_some("csv"))
        .chain(cfg.wants(Format::Fhir).then_some("fhir"))
        .chain(cfg.wants(Format::Ssmix2).then_some("ssmix2"))
    {
        let p = out.join(dir);
        fs::create_dir_all(&p).map_err(io_err(&p))?;
    }
    let mut writers: Vec<Option<(PathBuf, BufWriter<File>)>> = Vec::with_capacity(FILES.len());
    for (i, (path, header)) in FILES.iter().enumerate() {
        if !wanted(cfg, i) {
            writers.push(None);
            continue;
        }
        let p = out.join(path);
        let f = File::create(&p).map_err(io_err(&p))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        if !header.is_empty() {
            writeln!(w, "{header}").map_err(io_err(&p))?;
        }
        writers.push(Some((p, w)));
    }
    write_providers(out, &world)?;
    if cfg.wants(Format::Fhir) {
        fhir::write_organizations(out, &world)?;
    }

    let providers = world.providers.len() as u64;
    // FHIR output is about ten times the CSV per person (each resource twice: in its Bundle
    // and in NDJSON), and up to three windows are in memory at once: smaller chunks keep that
    // near the CSV-only footprint (measured at 20,000 persons: 1.1 GB with 256 persons per
    // chunk). The output does not depend on the chunk size, only its grouping does.
    let chunk = if cfg.wants(Format::Fhir) {
        cfg.chunk.div_ceil(8)
    } else {
        cfg.chunk
    } as u64;
    let n_chunks = cfg.persons.div_ceil(chunk);
    // Windows of chunks are generated in parallel (rayon) while a writer thread appends the
    // previous window in person order: memory is bounded by about three windows, output order
    // by person index, and writing overlaps generation.
    let window = (rayon::current_num_threads() as u64 * 4).max(1);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<ChunkOut>>(1);
    let (generated, written) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<Summary, Error> {
            let mut total = Summary {
                providers,
                ..Default::default()
            };
            for outs in rx {
                for o in outs {
                    for (i, buf) in o.bufs.iter().enumerate() {
                        if let Some((p, w)) = writers[i].as_mut() {
                            w.write_all(buf.as_bytes()).map_err(io_err(p))?;
                        }
                    }
                    add(&mut total, &o.summary);
                }
            }
            for (p, w) in writers.iter_mut().flatten() {
                w.flush().map_err(io_err(p))?;
            }
            Ok(total)
        });
        let mut generated: Result<(), Error> = Ok(());
        let mut c0 = 0;
        while c0 < n_chunks {
            let c1 = (c0 + window).min(n_chunks);
            let outs: Result<Vec<ChunkOut>, Error> = (c0..c1)
                .into_par_iter()
                .map(|c| {
                    let lo = c * chunk;
                    let hi = ((c + 1) * chunk).min(cfg.persons);
                    chunk_out(cfg, r, &world, out, lo..hi)
                })
                .collect();
            match outs {
                // A closed channel means the writer failed; its error is reported below.
                Ok(v) => {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    generated = Err(e);
                    break;
                }
            }
            progress((c1 * chunk).min(cfg.persons), cfg.persons);
            c0 = c1;
        }
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (generated, written)
    });
    generated?;
    let total = written?;
    progress(cfg.persons, cfg.persons);
    Ok(total)
}

fn add(t: &mut Summary, s: &Summary) {
    t.persons += s.persons;
    t.patient_records += s.patient_records;
    t.records += s.records;
    t.notices += s.notices;
    t.stops += s.stops;
    t.deaths += s.deaths;
    t.fhir_bundles += s.fhir_bundles;
    t.ssmix2_files += s.ssmix2_files;
}

fn write_providers(out: &Path, w: &World) -> Result<(), Error> {
    let mut buf = String::from("code,kind,name,address,representative,filing_date,filing_ref\n");
    for p in &w.providers {
        row(
            &mut buf,
            &[
                &p.code,
                p.kind.as_str(),
                &p.name,
                &p.address,
                &p.representative,
                &p.filing_date.to_string(),
                &p.filing_ref,
            ],
        );
    }
    let path = out.join("ledger/providers.csv");
    fs::write(&path, buf).map_err(io_err(&path))
}

fn chunk_out(
    cfg: &Config,
    r: &Reference,
    w: &World,
    out: &Path,
    range: std::ops::Range<u64>,
) -> Result<ChunkOut, Error> {
    let mut co = ChunkOut {
        bufs: vec![String::new(); FILES.len()],
        summary: Summary::default(),
    };
    for i in range {
        let p = sim::person(cfg, r, w, i);
        write_person(cfg, r, w, &p, &mut co);
        if cfg.wants(Format::Fhir) {
            co.summary.fhir_bundles += fhir::write_person(cfg, r, w, &p, out, &mut co.bufs)?;
        }
        if cfg.wants(Format::Ssmix2) {
            co.summary.ssmix2_files += ssmix2::write_person(w, &p, out)?;
        }
    }
    Ok(co)
}

fn write_person(cfg: &Config, r: &Reference, w: &World, p: &PersonOut, co: &mut ChunkOut) {
    use file::{
        CARE, CHECKUPS, CLAIMS, DIAGNOSES, DISPENSINGS, ENCOUNTERS, IDENTITIES, NOTICES,
        PRESCRIPTIONS, STOPS, T_CONDITIONS, T_EVENTS, T_HISTORY, T_PERSONS, T_RECORDS, T_STOPS,
        VITALS,
    };
    let b = &mut co.bufs;
    let s = &mut co.summary;
    s.persons += 1;
    s.deaths += u64::from(p.death.is_some());
    let code = |prov: u32| w.providers[prov as usize].code.as_str();
    let local = |prov: u32| {
        p.links
            .get(&prov)
            .map(|l| l.identity.id.as_str())
            .unwrap_or("")
    };

    // Truth: identity at the end (or at death), its history, events, conditions.
    let Some(last) = p.spans.last() else { return };
    let (fam, giv, fk, gk) = sim::true_names(r, p, last);
    let (postal, address) = sim::true_address(r, last);
    let sex = if p.male { "male" } else { "female" };
    let death = p.death.map(|d| d.to_string()).unwrap_or_default();
    let ins = &last.ins;
    row(
        &mut b[T_PERSONS],
        &[
            &p.id,
            fam,
            giv,
            fk,
            gk,
            &p.birth.to_string(),
            sex,
            &death,
            &postal,
            &address,
            last.phone.as_deref().unwrap_or(""),
            &w.insurers[ins.insurer as usize].number,
            &ins.symbol,
            &ins.number,
            &ins.branch,
        ],
    );
    for span in &p.spans {
        let (fam, _, fk, _) = sim::true_names(r, p, span);
        let (postal, address) = sim::true_address(r, span);
        row(
            &mut b[T_HISTORY],
            &[
                &p.id,
                &span.from.to_string(),
                fam,
                fk,
                &postal,
                &address,
                span.phone.as_deref().unwrap_or(""),
                &w.insurers[span.ins.insurer as usize].number,
                &span.ins.symbol,
                &span.ins.number,
                &span.ins.branch,
            ],
        );
    }
    let mut events = p.events.clone();
    events.sort_by_key(|e| e.0);
    for (d, e) in events {
        row(&mut b[T_EVENTS], &[&p.id, &d.to_string(), e.as_str()]);
    }
    for c in &p.conditions {
        row(
            &mut b[T_CONDITIONS],
            &[&p.id, c.icd10, c.name, &c.onset.to_string()],
        );
    }

    // Links: identities as providers hold them, and which local record is whose.
    for (&prov, link) in &p.links {
        let h = &link.identity;
        s.patient_records += 1;
        let n = p.recs.iter().filter(|rec| rec.prov == prov).count();
        let flag = |x: bool| if x { "1" } else { "0" };
        row(
            &mut b[T_RECORDS],
            &[
                code(prov),
                &h.id,
                &p.id,
                &link.first.to_string(),
                &link.last.to_string(),
                &n.to_string(),
                flag(h.outdated_address),
                flag(h.outdated_family),
                flag(h.variant),
                flag(h.typo),
                flag(h.missing_phone),
            ],
        );
        if cfg.wants(Format::Csv) {
            row(
                &mut b[IDENTITIES],
                &[
                    &h.id,
                    &h.family,
                    &h.given,
                    &h.family_kana,
                    &h.given_kana,
                    &h.birth_text,
                    &h.sex_text,
                    &h.postal,
                    &h.address,
                    &h.phone,
                    &h.insurer_number,
                    &h.symbol,
                    &h.number,
                    &h.branch,
                    code(prov),
                ],
            );
        }
    }

    // Ledger.
    for n in &p.notices {
        s.notices += 1;
        row(
            &mut b[NOTICES],
            &[code(n.prov), local(n.prov), &n.date.to_string(), n.channel],
        );
    }
    if let Some(st) = &p.stop {
        s.stops += 1;
        let at = format!("{}+09:00", st.received_at.format("%Y-%m-%dT%H:%M:%S"));
        row(
            &mut b[STOPS],
            &[
                code(st.prov),
                local(st.prov),
                st.requester,
                st.relationship,
                &at,
            ],
        );
        row(
            &mut b[T_STOPS],
            &[
                &p.id,
                code(st.prov),
                local(st.prov),
                st.requester,
                st.relationship,
                &at,
            ],
        );
    }

    // Clinical CSV.
    s.records += p.recs.len() as u64;
    if !cfg.wants(Format::Csv) {
        return;
    }
    let mut line = String::new();
    for rec in &p.recs {
        let pc = code(rec.prov);
        let pid = local(rec.prov);
        let enc = if rec.enc == 0 {
            String::new()
        } else {
            format!("{pid}-{:04}", rec.enc)
        };
        let date = ymd(rec.date);
        line.clear();
        let target = match &rec.kind {
            RecKind::Encounter { class, end, dept } => {
                row_plain(
                    &mut line,
                    &[pc, pid, &enc, class.as_str(), &date, &ymd(*end), dept],
                );
                ENCOUNTERS
            }
            RecKind::Diagnosis {
                icd10,
                name,
                suspected,
                main,
            } => {
                let f = |x: bool| if x { "1" } else { "0" };
                row_plain(
                    &mut line,
                    &[pc, pid, &enc, &date, icd10, name, f(*suspected), f(*main)],
                );
                DIAGNOSES
            }
            RecKind::Prescription { drug, days, order } => {
                let d = &DRUGS[*drug];
                row_plain(
                    &mut line,
                    &[
                        pc,
                        pid,
                        &enc,
                        &format!("{pid}-R{order:05}"),
                        &date,
                        d.yj,
                        d.name,
                        &fmt_dose(d.per_day),
                        d.unit,
                        d.usage,
                        &days.to_string(),
                    ],
                );
                PRESCRIPTIONS
            }
            RecKind::Dispensing {
                drug,
                days,
                prescriber,
            } => {
                let d = &DRUGS[*drug];
                row_plain(
                    &mut line,
                    &[
                        pc,
                        pid,
                        &date,
                        d.yj,
                        d.name,
                        &fmt_dose(d.per_day),
                        d.unit,
                        &days.to_string(),
                        code(*prescriber),
                    ],
                );
                DISPENSINGS
            }
            RecKind::Lab { lab, value, order } => {
                let l = &LABS[*lab];
                let v = fmt_value(*value, l.decimals);
                let flag = if *value < l.low {
                    "L"
                } else if *value > l.high {
                    "H"
                } else {
                    ""
                };
                row_plain(
                    &mut line,
                    &[
                        pc,
                        pid,
                        &enc,
                        &format!("{pid}-L{order:05}"),
                        &date,
                        l.jlac10,
                        l.loinc,
                        l.name,
                        &v,
                        l.unit,
                        &fmt_value(l.low, l.decimals),
                        &fmt_value(l.high, l.decimals),
                        flag,
                    ],
                );
                LABS_FILE
            }
            RecKind::Vital { item, value } => {
                let it = &ITEMS[*item];
                row_plain(
                    &mut line,
                    &[
                        pc,
                        pid,
                        &enc,
                        &date,
                        it.code,
                        it.loinc,
                        it.name,
                        &fmt_value(*value, item_decimals(*item)),
                        it.unit,
                    ],
                );
                VITALS
            }
            RecKind::Checkup {
                program,
                lab,
                index,
                value,
            } => {
                let (c, loinc, name, unit, dec) = if *lab {
                    let l = &LABS[*index];
                    (l.jlac10, l.loinc, l.name, l.unit, l.decimals)
                } else {
                    let it = &ITEMS[*index];
                    (it.code, it.loinc, it.name, it.unit, item_decimals(*index))
                };
                row_plain(
                    &mut line,
                    &[
                        pc,
                        pid,
                        &date,
                        program.as_str(),
                        c,
                        loinc,
                        name,
                        &fmt_value(*value, dec),
                        unit,
                    ],
                );
                CHECKUPS
            }
            RecKind::Care {
                service,
                level,
                units,
            } => {
                let (sc, sn, _) = CARE_SERVICES[*service];
                let lv = if *level == 0 {
                    "要支援2".to_owned()
                } else {
                    format!("要介護{level}")
                };
                row_plain(
                    &mut line,
                    &[
                        pc,
                        pid,
                        &rec.date.format("%Y-%m").to_string(),
                        sc,
                        sn,
                        &lv,
                        &units.to_string(),
                    ],
                );
                CARE
            }
            RecKind::Claim {
                claim,
                facility,
                line: ln,
                kind,
                code: cc,
                name,
                qty,
            } => {
                let mut q = String::new();
                let _ = write!(q, "{qty}");
                row_plain(
                    &mut line,
                    &[
                        pc,
                        pid,
                        &format!("{pid}-C{claim:05}"),
                        &rec.date.format("%Y-%m").to_string(),
                        code(*facility),
                        &ln.to_string(),
                        kind,
                        cc,
                        name,
                        &q,
                    ],
                );
                CLAIMS
            }
        };
        b[target].push_str(&line);
    }
    let _ = ProviderKind::ALL;
}

const LABS_FILE: usize = file::LABS;

fn fmt_dose(v: f64) -> String {
    let s = fmt_value(v, 3);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::{ACUTES, CONDITIONS};

    #[test]
    fn catalogue_text_needs_no_csv_quoting() {
        let plain = |s: &str| !s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
        for d in &DRUGS {
            assert!(plain(d.name) && plain(d.usage) && plain(d.unit) && plain(d.yj));
        }
        for l in &LABS {
            assert!(plain(l.name) && plain(l.unit));
        }
        for i in &ITEMS {
            assert!(plain(i.name) && plain(i.unit));
        }
        for c in &CONDITIONS {
            assert!(plain(c.name));
        }
        for a in &ACUTES {
            assert!(plain(a.name));
        }
        for (c, n, _) in CARE_SERVICES {
            assert!(plain(c) && plain(n));
        }
    }

    #[test]
    fn formatting() {
        let d = chrono::NaiveDate::from_ymd_opt(987, 3, 9).unwrap();
        assert_eq!(ymd(d), "0987-03-09");
        assert_eq!(fmt_value(5.25, 1), "5.3");
        assert_eq!(fmt_value(-0.04, 1), "0.0");
        assert_eq!(fmt_value(-1.26, 1), "-1.3");
        assert_eq!(fmt_value(0.046, 2), "0.05");
        assert_eq!(fmt_value(128.0, 0), "128");
        assert_eq!(fmt_dose(0.143), "0.143");
        assert_eq!(fmt_dose(6.0), "6");
        let mut b = String::new();
        row(&mut b, &["a,b", "c\"d", "e"]);
        assert_eq!(b, "\"a,b\",\"c\"\"d\",e\n");
    }
}
