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
    move |source| Error::Io { path: path.to_path_buf(), source }
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
    for (&prov, link) in &p.links {
        let pr = &w.providers[prov as usize];
        let h = &link.identity;
        let pid = format!("{}-{}", pr.code, h.id);
        let subject = json!({"reference": format!("Patient/{pid}")});
        let mut entries: Vec<(&'static str, String, Value, usize)> = Vec::new();

        let mut telecom = Vec::new();
        if !h.phone.is_empty() {
            telecom.push(json!({"system": "phone", "value": h.phone, "use": "home"}));
        }
        let name = |repr: &str, family: &str, given: &str| {
            json!({
                "extension": [{"url": REPR, "valueCode": repr}],
                "use": "official",
                "text": format!("{family} {given}"),
                "family": family,
                "given": [given],
            })
        };
        let gender = if p.male { "male" } else { "female" };
        let patient = json!({
            "resourceType": "Patient",
            "id": pid,
            "meta": {"profile": [format!("{JP}JP_Patient")]},
            "identifier": [{"system": patient_id_system(pr), "value": h.id}],
            "name": [name("IDE", &h.family, &h.given), name("SYL", &h.family_kana, &h.given_kana)],
            "telecom": telecom,
            "gender": gender,
            "birthDate": h.birth.format("%Y-%m-%d").to_string(),
            "address": [{"text": h.address, "postalCode": h.postal, "country": "JP"}],
            "managingOrganization": {"reference": format!("Organization/{}", pr.code)},
        });
        entries.push(("Patient", pid.clone(), patient, file::FHIR_PATIENT));

        let cov_id = format!("{pid}-cov");
        let insurer = w.insurers.get(h.insurer as usize);
        let payor = match insurer.and_then(|i| i.provider) {
            Some(ip) => json!({"reference": format!("Organization/{}", w.providers[ip as usize].code)}),
            None => json!({
                "identifier": {"system": INSURER_OID, "value": h.insurer_number},
                "display": insurer.map(|i| i.name.as_str()).unwrap_or(""),
            }),
        };
        let mut ext = Vec::new();
        if !h.symbol.is_empty() {
            ext.push(json!({"url": format!("http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonSymbol"), "valueString": h.symbol}));
        }
        ext.push(json!({"url": "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonNumber", "valueString": h.number}));
        ext.push(json!({"url": "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPersonSubNumber", "valueString": h.branch}));
        let coverage = json!({
            "resourceType": "Coverage",
            "id": cov_id,
            "meta": {"profile": [format!("{JP}JP_Coverage")]},
            "extension": ext,
            "status": "active",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PUBLICPOL"}]},
            "subscriberId": format!("{},{}", h.symbol, h.number),
            "beneficiary": subject,
            "dependent": h.branch,
            "payor": [payor],
        });
        entries.push(("Coverage", cov_id, coverage, file::FHIR_COVERAGE));

        let enc_ref = |enc: u32| json!({"reference": format!("Encounter/{pid}-e{enc}")});
        let mut seq = 0u32;
        for rec in p.recs.iter().filter(|r| r.prov == prov) {
            seq += 1;
            let date = rec.date.format("%Y-%m-%d").to_string();
            match &rec.kind {
                RecKind::Encounter { class, end, dept } => {
                    let (code, display) = match class {
                        EncClass::Outpatient => ("AMB", "ambulatory"),
                        EncClass::Inpatient => ("IMP", "inpatient encounter"),
                        EncClass::Emergency => ("EMER", "emergency"),
                    };
                    let id = format!("{pid}-e{}", rec.enc);
                    let v = json!({
                        "resourceType": "Encounter",
                        "id": id,
                        "meta": {"profile": [format!("{JP}JP_Encounter")]},
                        "status": "finished",
                        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code, "display": display},
                        "serviceType": {"text": dept},
                        "subject": subject,
                        "period": {"start": date, "end": end.format("%Y-%m-%d").to_string()},
                        "serviceProvider": {"reference": format!("Organization/{}", pr.code)},
                    });
                    entries.push(("Encounter", id, v, file::FHIR_ENCOUNTER));
                }
                RecKind::Diagnosis { icd10, name, suspected, main } => {
                    let id = format!("{pid}-c{seq}");
                    let ver = if *suspected { "provisional" } else { "confirmed" };
                    let cat = if *main { "encounter-diagnosis" } else { "problem-list-item" };
                    let v = json!({
                        "resourceType": "Condition",
                        "id": id,
                        "meta": {"profile": [format!("{JP}JP_Condition")]},
                        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": ver}]},
                        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": cat}]}],
                        "code": {"coding": [{"system": ICD10, "code": icd10}], "text": if *suspected { format!("{name}の疑い") } else { (*name).to_owned() }},
                        "subject": subject,
                        "encounter": enc_ref(rec.enc),
                        "recordedDate": date,
                    });
                    entries.push(("Condition", id, v, file::FHIR_CONDITION));
                }
                RecKind::Prescription { drug, days, order } => {
                    let d = &DRUGS[*drug];
                    let id = format!("{pid}-m{seq}");
                    let v = json!({
                        "resourceType": "MedicationRequest",
                        "id": id,
                        "meta": {"profile": [format!("{JP}JP_MedicationRequest")]},
                        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.81", "value": order.to_string()}],
                        "status": "completed",
                        "intent": "order",
                        "medicationCodeableConcept": {"coding": [{"system": YJ, "code": d.yj, "display": d.name}], "text": d.name},
                        "subject": subject,
                        "encounter": enc_ref(rec.enc),
                        "authoredOn": date,
                        "dosageInstruction": [{
                            "text": d.usage,
                            "doseAndRate": [{"doseQuantity": {"value": round(d.per_day, 3), "unit": d.unit}}],
                        }],
                        "dispenseRequest": {"expectedSupplyDuration": {"value": days, "unit": "日", "system": "http://unitsofmeasure.org", "code": "d"}},
                    });
                    entries.push(("MedicationRequest", id, v, file::FHIR_MEDREQ));
                }
                RecKind::Lab { lab, value, .. } => {
                    let l = &LABS[*lab];
                    let id = format!("{pid}-o{seq}");
                    let mut v = json!({
                        "resourceType": "Observation",
                        "id": id,
                        "meta": {"profile": [format!("{JP}JP_Observation_LabResult")]},
                        "status": "final",
                        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                        "code": {"coding": [{"system": JLAC10, "code": l.jlac10, "display": l.name}, {"system": LOINC, "code": l.loinc}], "text": l.name},
                        "subject": subject,
                        "encounter": enc_ref(rec.enc),
                        "effectiveDateTime": date,
                        "valueQuantity": {"value": round(*value, l.decimals), "unit": l.unit},
                        "referenceRange": [{"low": {"value": l.low, "unit": l.unit}, "high": {"value": l.high, "unit": l.unit}}],
                    });
                    let flag = if *value < l.low { Some(("L", "Low")) } else if *value > l.high { Some(("H", "High")) } else { None };
                    if let (Some((c, disp)), Some(obj)) = (flag, v.as_object_mut()) {
                        obj.insert("interpretation".into(), json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": c, "display": disp}]}]));
                    }
                    entries.push(("Observation", id, v, file::FHIR_OBSERVATION));
                }
                RecKind::Vital { item, value } => {
                    let it = &ITEMS[*item];
                    let id = format!("{pid}-o{seq}");
                    let v = json!({
                        "resourceType": "Observation",
                        "id": id,
                        "meta": {"profile": [format!("{JP}JP_Observation_VitalSigns")]},
                        "status": "final",
                        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
                        "code": {"coding": [{"system": LOINC, "code": it.loinc, "display": it.name}], "text": it.name},
                        "subject": subject,
                        "encounter": enc_ref(rec.enc),
                        "effectiveDateTime": date,
                        "valueQuantity": {"value": round(*value, item_decimals(*item)), "unit": it.unit, "system": "http://unitsofmeasure.org", "code": it.unit},
                    });
                    entries.push(("Observation", id, v, file::FHIR_OBSERVATION));
                }
                RecKind::Checkup { program, lab, index, value } => {
                    let (code_sys, code, loinc, name, unit, dec) = if *lab {
                        let l = &LABS[*index];
                        (JLAC10, l.jlac10, l.loinc, l.name, l.unit, l.decimals)
                    } else {
                        let it = &ITEMS[*index];
                        (JLAC10, it.code, it.loinc, it.name, it.unit, item_decimals(*index))
                    };
                    let id = format!("{pid}-o{seq}");
                    let v = json!({
                        "resourceType": "Observation",
                        "id": id,
                        "status": "final",
                        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "exam"}], "text": program.as_str()}],
                        "code": {"coding": [{"system": code_sys, "code": code, "display": name}, {"system": LOINC, "code": loinc}], "text": name},
                        "subject": subject,
                        "effectiveDateTime": date,
                        "performer": [{"reference": format!("Organization/{}", pr.code)}],
                        "valueQuantity": {"value": round(*value, dec), "unit": unit},
                    });
                    entries.push(("Observation", id, v, file::FHIR_OBSERVATION));
                }
                RecKind::Dispensing { drug, days, prescriber } => {
                    let d = &DRUGS[*drug];
                    let id = format!("{pid}-d{seq}");
                    let v = json!({
                        "resourceType": "MedicationDispense",
                        "id": id,
                        "meta": {"profile": [format!("{JP}JP_MedicationDispense")]},
                        "status": "completed",
                        "medicationCodeableConcept": {"coding": [{"system": YJ, "code": d.yj, "display": d.name}], "text": d.name},
                        "subject": subject,
                        "performer": [{"actor": {"reference": format!("Organization/{}", pr.code)}}],
                        "quantity": {"value": round(d.per_day * f64::from(*days), 3), "unit": d.unit},
                        "daysSupply": {"value": days, "unit": "日", "system": "http://unitsofmeasure.org", "code": "d"},
                        "whenHandedOver": date,
                        "note": [{"text": format!("処方元 {}", w.providers[*prescriber as usize].code)}],
                    });
                    entries.push(("MedicationDispense", id, v, file::FHIR_MEDDISP));
                }
                RecKind::Care { .. } | RecKind::Claim { .. } => {}
            }
        }

        // Each resource is serialized once and the text reused for the NDJSON line and the
        // bundle entry.
        let bid = uuid_for(&format!("Bundle/{pid}"));
        let mut bundle = String::with_capacity(entries.len() * 600);
        bundle.push_str(r#"{"resourceType":"Bundle","id":""#);
        bundle.push_str(&bid);
        bundle.push_str(r#"","type":"transaction","entry":["#);
        for (i, (ty, id, res, f)) in entries.iter().enumerate() {
            let text = res.to_string();
            if let Some(buf) = bufs.get_mut(*f) {
                buf.push_str(&text);
                buf.push('\n');
            }
            if i > 0 {
                bundle.push(',');
            }
            let url = format!("{ty}/{id}");
            bundle.push_str(r#"{"fullUrl":"urn:uuid:"#);
            bundle.push_str(&uuid_for(&url));
            bundle.push_str(r#"","resource":"#);
            bundle.push_str(&text);
            bundle.push_str(r#","request":{"method":"PUT","url":"#);
            bundle.push_str(&Value::String(url).to_string());
            bundle.push_str("}}");
        }
        bundle.push_str("]}");
        let dir = out.join("fhir/bundles").join(&pr.code);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("{}.json", h.id));
        fs::write(&path, bundle).map_err(io(&path))?;
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
