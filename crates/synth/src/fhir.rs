//! FHIR R4 output following JP Core: one transaction Bundle per patient-at-provider under
//! `fhir/bundles/<provider code>/<patient id>.json`, and the same resources as NDJSON per
//! resource type (`fhir/<Type>.ndjson`, the Bulk Data layout).
//!
//! Resources are built as JSON values rather than with a full FHIR model crate: we only write a
//! handful of resource types, and the full model crates cost minutes of build time. The test
//! suite validates the output with an independent R4 library (Python `fhir.resources`).
//!
//! Pharmacy dispensings become MedicationDispense; care-service months and claims lines are in
//! the CSV layout only.

use std::fs;
use std::path::Path;

use std::fmt::Write as _;

use serde_json::{Value, json};
use tsunagu_model::ProviderKind;

use crate::Error;
use crate::clinical::{DRUGS, ITEMS, LABS};
use crate::config::Config;
use crate::output::{file, item_decimals};
use crate::reference::Reference;
use crate::sim::{EncClass, PersonOut, RecKind};
use crate::world::{Provider, World};

const JP: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/";
const REPR: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
const JLAC10: &str = "urn:oid:1.2.392.200119.4.504";
const YJ: &str = "urn:oid:1.2.392.100495.20.1.73";
const INSURER_OID: &str = "urn:oid:1.2.392.100495.20.3.61";
const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
const LOINC: &str = "http://loinc.org";

/// The system of a provider's patient ids: JP Core's OID for medical institutions
/// (1.2.392.100495.20.3.51 + "1" + the 10-digit 医療機関コード), a URN of ours for other kinds.
pub fn patient_id_system(p: &Provider) -> String {
    match p.kind {
        ProviderKind::Hospital | ProviderKind::Clinic | ProviderKind::Pharmacy => {
            format!("urn:oid:1.2.392.100495.20.3.51.1{}", p.code)
        }
        _ => format!("urn:tsunagu:provider:{}:patient-id", p.code),
    }
}

/// A deterministic UUID (version 8, RFC 9562 custom) from a name: two FNV-1a passes.
pub fn uuid_for(name: &str) -> String {
    let fnv = |seed: u64| {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Final avalanche (splitmix64) so nearby names differ in every nibble.
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    };
    let (a, b) = (fnv(1), fnv(2));
    let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_8000;
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn round(v: f64, decimals: usize) -> f64 {
    let s = 10f64.powi(decimals as i32);
    (v * s).round() / s
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn organization(p: &Provider) -> Value {
    let id_system = match p.kind {
        ProviderKind::Hospital | ProviderKind::Clinic | ProviderKind::Pharmacy => {
            "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no"
        }
        ProviderKind::Insurer => INSURER_OID,
        _ => "urn:tsunagu:provider-code",
    };
    json!({
        "resourceType": "Organization",
        "id": p.code,
        "meta": {"profile": [format!("{JP}JP_Organization")]},
        "identifier": [{"system": id_system, "value": p.code}],
        "active": true,
        "type": [{"coding": [{"system": "urn:tsunagu:provider-kind", "code": p.kind.as_str(), "display": p.kind.japanese()}]}],
        "name": p.name,
        "telecom": [{"system": "phone", "value": p.phone, "use": "work"}],
        "address": [{"text": p.address, "country": "JP"}],
    })
}

/// Write `fhir/Organization.ndjson` (one per provider).
pub fn write_organizations(out: &Path, w: &World) -> Result<(), Error> {
    let mut s = String::new();
    for p in &w.providers {
        s.push_str(&organization(p).to_string());
        s.push('\n');
    }
    let path = out.join("fhir/Organization.ndjson");
    fs::write(&path, s).map_err(io(&path))
}

/// A minimal streaming JSON writer: the per-record resources are written straight into text
/// (no intermediate value tree), which is what makes FHIR output affordable at scale.
struct Jw {
    s: String,
    comma: bool,
}

impl Jw {
    fn new() -> Self {
        Jw {
            s: String::with_capacity(1024),
            comma: false,
        }
    }
    fn sep(&mut self) {
        if self.comma {
            self.s.push(',');
        }
    }
    fn open(&mut self, c: char) {
        self.sep();
        self.s.push(c);
        self.comma = false;
    }
    fn close(&mut self, c: char) {
        self.s.push(c);
        self.comma = true;
    }
    fn key(&mut self, k: &str) {
        self.sep();
        self.s.push('"');
        self.s.push_str(k);
        self.s.push_str("\":");
        self.comma = false;
    }
    fn str(&mut self, v: &str) {
        self.sep();
        self.s.push('"');
        for c in v.chars() {
            match c {
                '"' => self.s.push_str("\\\""),
                '\\' => self.s.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.s, "\\u{:04x}", c as u32);
                }
                c => self.s.push(c),
            }
        }
        self.s.push('"');
        self.comma = true;
    }
    fn num(&mut self, v: f64) {
        self.sep();
        let _ = write!(self.s, "{v}");
        self.comma = true;
    }
    fn raw(&mut self, r: &str) {
        self.sep();
        self.s.push_str(r);
        self.comma = true;
    }
    fn ks(&mut self, k: &str, v: &str) {
        self.key(k);
        self.str(v);
    }
    fn kn(&mut self, k: &str, v: f64) {
        self.key(k);
        self.num(v);
    }
    /// `"k":{"reference":"<r>"}`
    fn kref(&mut self, k: &str, r: &str) {
        self.key(k);
        self.open('{');
        self.ks("reference", r);
        self.close('}');
    }
    /// Start a resource with type, id and JP Core profile.
    fn begin(&mut self, ty: &str, id: &str, profile: Option<&str>) {
        self.s.clear();
        self.comma = false;
        self.open('{');
        self.ks("resourceType", ty);
        self.ks("id", id);
        if let Some(p) = profile {
            self.key("meta");
            self.open('{');
            self.key("profile");
            self.open('[');
            self.str(&format!("{JP}{p}"));
            self.close(']');
            self.close('}');
        }
    }
    /// `"k":{"coding":[{"system":s,"code":c,"display":d}…],"text":t}`
    fn kcc(&mut self, k: &str, codings: &[(&str, &str, &str)], text: Option<&str>) {
        self.key(k);
        self.open('{');
        self.key("coding");
        self.open('[');
        for (sys, code, disp) in codings {
            self.open('{');
            self.ks("system", sys);
            self.ks("code", code);
            if !disp.is_empty() {
                self.ks("display", disp);
            }
            self.close('}');
        }
        self.close(']');
        if let Some(t) = text {
            self.ks("text", t);
        }
        self.close('}');
    }
    /// `"k":{"value":v,"unit":u[,"system":UCUM,"code":c]}`
    fn kqty(&mut self, k: &str, v: f64, unit: &str, ucum: Option<&str>) {
        self.key(k);
        self.open('{');
        self.kn("value", v);
        self.ks("unit", unit);
        if let Some(c) = ucum {
            self.ks("system", "http://unitsofmeasure.org");
            self.ks("code", c);
        }
        self.close('}');
    }
}

const CAT_OBS: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// Write one person's bundles (one per provider that holds data on them) and append their
/// resources to the NDJSON buffers. Returns the number of bundles written.
pub fn write_person(
    _cfg: &Config,
    _r: &Reference,
    w: &World,
    p: &PersonOut,
    out: &Path,
    bufs: &mut [String],
) -> Result<u64, Error> {
    let mut n = 0;
    let mut j = Jw::new();
    let mut bundle = String::new();
    for (&prov, link) in &p.links {
        let pr = &w.providers[prov as usize];
        let h = &link.identity;
        let pid = format!("{}-{}", pr.code, h.id);
        let subject = format!("Patient/{pid}");
        let org = format!("Organization/{}", pr.code);
        bundle.clear();
        bundle.push_str(r#"{"resourceType":"Bundle","id":""#);
        bundle.push_str(&uuid_for(&format!("Bundle/{pid}")));
        bundle.push_str(r#"","type":"transaction","entry":["#);
        let mut first_entry = true;
        // Each resource is serialized once; the text goes to the NDJSON file and the bundle.
        let mut emit = |j: &Jw, ty: &str, id: &str, file: usize, bufs: &mut [String]| {
            if let Some(buf) = bufs.get_mut(file) {
                buf.push_str(&j.s);
                buf.push('\n');
            }
            if !first_entry {
                bundle.push(',');
            }
            first_entry = false;
            let url = format!("{ty}/{id}");
            bundle.push_str(r#"{"fullUrl":"urn:uuid:"#);
            bundle.push_str(&uuid_for(&url));
            bundle.push_str(r#"","resource":"#);
            bundle.push_str(&j.s);
            bundle.push_str(r#","request":{"method":"PUT","url":""#);
            bundle.push_str(&url);
            bundle.push_str("\"}}");
        };

        // Patient, with kanji (IDE) and kana (SYL) names as JP Core shows them.
        j.begin("Patient", &pid, Some("JP_Patient"));
        j.key("identifier");
        j.open('[');
        j.open('{');
        j.ks("system", &patient_id_system(pr));
        j.ks("value", &h.id);
        j.close('}');
        j.close(']');
        j.key("name");
        j.open('[');
        for (repr, fam, giv) in [
            ("IDE", &h.family, &h.given),
            ("SYL", &h.family_kana, &h.given_kana),
        ] {
            j.open('{');
            j.key("extension");
            j.open('[');
            j.open('{');
            j.ks("url", REPR);
            j.ks("valueCode", repr);
            j.close('}');
            j.close(']');
            j.ks("use", "official");
            j.ks("text", &format!("{fam} {giv}"));
            j.ks("family", fam);
            j.key("given");
            j.open('[');
            j.str(giv);
            j.close(']');
            j.close('}');
        }
        j.close(']');
        if !h.phone.is_empty() {
            j.key("telecom");
            j.open('[');
            j.open('{');
            j.ks("system", "phone");
            j.ks("value", &h.phone);
            j.ks("use", "home");
            j.close('}');
            j.close(']');
        }
        j.ks("gender", if p.male { "male" } else { "female" });
        j.ks("birthDate", &crate::output::ymd(h.birth));
        j.key("address");
        j.open('[');
        j.open('{');
        j.ks("text", &h.address);
        j.ks("postalCode", &h.postal);
        j.ks("country", "JP");
        j.close('}');
        j.close(']');
        j.kref("managingOrganization", &org);
        j.close('}');
        emit(&j, "Patient", &pid, file::FHIR_PATIENT, bufs);

        // Coverage with JP Core's 記号・番号・枝番 extensions.
        let cov_id = format!("{pid}-cov");
        j.begin("Coverage", &cov_id, Some("JP_Coverage"));
        j.key("extension");
        j.open('[');
        for (name, v) in [
            ("InsuredPersonSymbol", &h.symbol),
            ("InsuredPersonNumber", &h.number),
            ("InsuredPersonSubNumber", &h.branch),
        ] {
            if v.is_empty() {
                continue;
            }
            j.open('{');
            j.ks(
                "url",
                &format!(
                    "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_{name}"
                ),
            );
            j.ks("valueString", v);
            j.close('}');
        }
        j.close(']');
        j.ks("status", "active");
        j.kcc(
            "type",
            &[(
                "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "PUBLICPOL",
                "",
            )],
            None,
        );
        j.ks("subscriberId", &format!("{},{}", h.symbol, h.number));
        j.kref("beneficiary", &subject);
        j.ks("dependent", &h.branch);
        j.key("payor");
        j.open('[');
        let insurer = w.insurers.get(h.insurer as usize);
        match insurer.and_then(|i| i.provider) {
            Some(ip) => {
                j.open('{');
                j.ks(
                    "reference",
                    &format!("Organization/{}", w.providers[ip as usize].code),
                );
                j.close('}');
            }
            None => {
                j.open('{');
                j.key("identifier");
                j.open('{');
                j.ks("system", INSURER_OID);
                j.ks("value", &h.insurer_number);
                j.close('}');
                if let Some(i) = insurer {
                    j.ks("display", &i.name);
                }
                j.close('}');
            }
        }
        j.close(']');
        j.close('}');
        emit(&j, "Coverage", &cov_id, file::FHIR_COVERAGE, bufs);

        let mut seq = 0u32;
        for rec in p.recs.iter().filter(|r| r.prov == prov) {
            seq += 1;
            let date = crate::output::ymd(rec.date);
            let enc_ref = format!("Encounter/{pid}-e{}", rec.enc);
            match &rec.kind {
                RecKind::Encounter { class, end, dept } => {
                    let (code, display) = match class {
                        EncClass::Outpatient => ("AMB", "ambulatory"),
                        EncClass::Inpatient => ("IMP", "inpatient encounter"),
                        EncClass::Emergency => ("EMER", "emergency"),
                    };
                    let id = format!("{pid}-e{}", rec.enc);
                    j.begin("Encounter", &id, Some("JP_Encounter"));
                    j.ks("status", "finished");
                    j.key("class");
                    j.open('{');
                    j.ks("system", "http://terminology.hl7.org/CodeSystem/v3-ActCode");
                    j.ks("code", code);
                    j.ks("display", display);
                    j.close('}');
                    j.key("serviceType");
                    j.open('{');
                    j.ks("text", dept);
                    j.close('}');
                    j.kref("subject", &subject);
                    j.key("period");
                    j.open('{');
                    j.ks("start", &date);
                    j.ks("end", &crate::output::ymd(*end));
                    j.close('}');
                    j.kref("serviceProvider", &org);
                    j.close('}');
                    emit(&j, "Encounter", &id, file::FHIR_ENCOUNTER, bufs);
                }
                RecKind::Diagnosis {
                    icd10,
                    name,
                    suspected,
                    main,
                } => {
                    let id = format!("{pid}-c{seq}");
                    j.begin("Condition", &id, Some("JP_Condition"));
                    j.kcc(
                        "clinicalStatus",
                        &[(
                            "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "active",
                            "",
                        )],
                        None,
                    );
                    // 疑い病名 are provisional diagnoses.
                    let ver = if *suspected {
                        "provisional"
                    } else {
                        "confirmed"
                    };
                    j.kcc(
                        "verificationStatus",
                        &[(
                            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                            ver,
                            "",
                        )],
                        None,
                    );
                    let cat = if *main {
                        "encounter-diagnosis"
                    } else {
                        "problem-list-item"
                    };
                    j.key("category");
                    j.open('[');
                    j.open('{');
                    j.key("coding");
                    j.open('[');
                    j.open('{');
                    j.ks(
                        "system",
                        "http://terminology.hl7.org/CodeSystem/condition-category",
                    );
                    j.ks("code", cat);
                    j.close('}');
                    j.close(']');
                    j.close('}');
                    j.close(']');
                    let text = if *suspected {
                        format!("{name}の疑い")
                    } else {
                        (*name).to_owned()
                    };
                    j.kcc("code", &[(ICD10, icd10, "")], Some(&text));
                    j.kref("subject", &subject);
                    j.kref("encounter", &enc_ref);
                    j.ks("recordedDate", &date);
                    j.close('}');
                    emit(&j, "Condition", &id, file::FHIR_CONDITION, bufs);
                }
                RecKind::Prescription { drug, days, order } => {
                    let d = &DRUGS[*drug];
                    let id = format!("{pid}-m{seq}");
                    j.begin("MedicationRequest", &id, Some("JP_MedicationRequest"));
                    j.key("identifier");
                    j.open('[');
                    j.open('{');
                    j.ks("system", "urn:oid:1.2.392.100495.20.3.81");
                    j.ks("value", &order.to_string());
                    j.close('}');
                    j.close(']');
                    j.ks("status", "completed");
                    j.ks("intent", "order");
                    j.kcc(
                        "medicationCodeableConcept",
                        &[(YJ, d.yj, d.name)],
                        Some(d.name),
                    );
                    j.kref("subject", &subject);
                    j.kref("encounter", &enc_ref);
                    j.ks("authoredOn", &date);
                    j.key("dosageInstruction");
                    j.open('[');
                    j.open('{');
                    j.ks("text", d.usage);
                    j.key("doseAndRate");
                    j.open('[');
                    j.open('{');
                    j.kqty("doseQuantity", round(d.per_day, 3), d.unit, None);
                    j.close('}');
                    j.close(']');
                    j.close('}');
                    j.close(']');
                    j.key("dispenseRequest");
                    j.open('{');
                    j.kqty("expectedSupplyDuration", f64::from(*days), "日", Some("d"));
                    j.close('}');
                    j.close('}');
                    emit(&j, "MedicationRequest", &id, file::FHIR_MEDREQ, bufs);
                }
                RecKind::Dispensing {
                    drug,
                    days,
                    prescriber,
                } => {
                    let d = &DRUGS[*drug];
                    let id = format!("{pid}-d{seq}");
                    j.begin("MedicationDispense", &id, Some("JP_MedicationDispense"));
                    j.ks("status", "completed");
                    j.kcc(
                        "medicationCodeableConcept",
                        &[(YJ, d.yj, d.name)],
                        Some(d.name),
                    );
                    j.kref("subject", &subject);
                    j.key("performer");
                    j.open('[');
                    j.open('{');
                    j.kref("actor", &org);
                    j.close('}');
                    j.close(']');
                    j.kqty(
                        "quantity",
                        round(d.per_day * f64::from(*days), 3),
                        d.unit,
                        None,
                    );
                    j.kqty("daysSupply", f64::from(*days), "日", Some("d"));
                    j.ks("whenHandedOver", &date);
                    j.key("note");
                    j.open('[');
                    j.open('{');
                    j.ks(
                        "text",
                        &format!("処方元 {}", w.providers[*prescriber as usize].code),
                    );
                    j.close('}');
                    j.close(']');
                    j.close('}');
                    emit(&j, "MedicationDispense", &id, file::FHIR_MEDDISP, bufs);
                }
                RecKind::Lab { lab, value, .. } => {
                    let l = &LABS[*lab];
                    let id = format!("{pid}-o{seq}");
                    j.begin("Observation", &id, Some("JP_Observation_LabResult"));
                    j.ks("status", "final");
                    j.key("category");
                    j.open('[');
                    j.raw(&format!(
                        r#"{{"coding":[{{"system":"{CAT_OBS}","code":"laboratory"}}]}}"#
                    ));
                    j.close(']');
                    j.kcc(
                        "code",
                        &[(JLAC10, l.jlac10, l.name), (LOINC, l.loinc, "")],
                        Some(l.name),
                    );
                    j.kref("subject", &subject);
                    j.kref("encounter", &enc_ref);
                    j.ks("effectiveDateTime", &date);
                    j.kqty("valueQuantity", round(*value, l.decimals), l.unit, None);
                    let flag = if *value < l.low {
                        Some(("L", "Low"))
                    } else if *value > l.high {
                        Some(("H", "High"))
                    } else {
                        None
                    };
                    if let Some((c, disp)) = flag {
                        j.key("interpretation");
                        j.open('[');
                        j.open('{');
                        j.key("coding");
                        j.open('[');
                        j.open('{');
                        j.ks(
                            "system",
                            "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        );
                        j.ks("code", c);
                        j.ks("display", disp);
                        j.close('}');
                        j.close(']');
                        j.close('}');
                        j.close(']');
                    }
                    j.key("referenceRange");
                    j.open('[');
                    j.open('{');
                    j.kqty("low", l.low, l.unit, None);
                    j.kqty("high", l.high, l.unit, None);
                    j.close('}');
                    j.close(']');
                    j.close('}');
                    emit(&j, "Observation", &id, file::FHIR_OBSERVATION, bufs);
                }
                RecKind::Vital { item, value } => {
                    let it = &ITEMS[*item];
                    let id = format!("{pid}-o{seq}");
                    j.begin("Observation", &id, Some("JP_Observation_VitalSigns"));
                    j.ks("status", "final");
                    j.key("category");
                    j.open('[');
                    j.raw(&format!(
                        r#"{{"coding":[{{"system":"{CAT_OBS}","code":"vital-signs"}}]}}"#
                    ));
                    j.close(']');
                    j.kcc("code", &[(LOINC, it.loinc, it.name)], Some(it.name));
                    j.kref("subject", &subject);
                    j.kref("encounter", &enc_ref);
                    j.ks("effectiveDateTime", &date);
                    j.kqty(
                        "valueQuantity",
                        round(*value, item_decimals(*item)),
                        it.unit,
                        Some(it.unit),
                    );
                    j.close('}');
                    emit(&j, "Observation", &id, file::FHIR_OBSERVATION, bufs);
                }
                RecKind::Checkup {
                    program,
                    lab,
                    index,
                    value,
                } => {
                    let (code, loinc, name, unit, dec) = if *lab {
                        let l = &LABS[*index];
                        (l.jlac10, l.loinc, l.name, l.unit, l.decimals)
                    } else {
                        let it = &ITEMS[*index];
                        (it.code, it.loinc, it.name, it.unit, item_decimals(*index))
                    };
                    let id = format!("{pid}-o{seq}");
                    j.begin("Observation", &id, None);
                    j.ks("status", "final");
                    j.key("category");
                    j.open('[');
                    j.raw(&format!(
                        r#"{{"coding":[{{"system":"{CAT_OBS}","code":"exam"}}],"text":"{}"}}"#,
                        program.as_str()
                    ));
                    j.close(']');
                    j.kcc(
                        "code",
                        &[(JLAC10, code, name), (LOINC, loinc, "")],
                        Some(name),
                    );
                    j.kref("subject", &subject);
                    j.ks("effectiveDateTime", &date);
                    j.key("performer");
                    j.open('[');
                    j.open('{');
                    j.ks("reference", &org);
                    j.close('}');
                    j.close(']');
                    j.kqty("valueQuantity", round(*value, dec), unit, None);
                    j.close('}');
                    emit(&j, "Observation", &id, file::FHIR_OBSERVATION, bufs);
                }
                RecKind::Care { .. } | RecKind::Claim { .. } => {}
            }
        }
        bundle.push_str("]}");
        let dir = out.join("fhir/bundles").join(&pr.code);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("{}.json", h.id));
        fs::write(&path, &bundle).map_err(io(&path))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_deterministic_and_well_formed() {
        let a = uuid_for("Patient/1");
        assert_eq!(a, uuid_for("Patient/1"));
        assert_ne!(a, uuid_for("Patient/2"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }
}
