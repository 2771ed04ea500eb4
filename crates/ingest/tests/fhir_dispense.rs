//! JP Core MedicationDispense (what pharmacies send) maps to a dispensing medication record.
#![allow(clippy::unwrap_used, clippy::panic)]

use tsunagu_ingest::fhir::{Limits, read_json};
use tsunagu_ingest::record::{Body, ClinicalData, MedicationKind, SourceFile};

#[test]
fn medication_dispense_is_read_with_days_supplied() {
    let bundle = r#"{"resourceType":"Bundle","type":"collection","entry":[
      {"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","id":"p1",
        "identifier":[{"system":"urn:oid:1.2.392.100495.20.3.51.11234567","value":"000123"}]}},
      {"resource":{"resourceType":"MedicationDispense","id":"d1","status":"completed",
        "medicationCodeableConcept":{"coding":[{"system":"urn:oid:1.2.392.100495.20.1.73","code":"1141007F1063","display":"アセトアミノフェン錠200mg"}]},
        "subject":{"reference":"urn:uuid:p1"},
        "quantity":{"value":42.0,"unit":"錠"},
        "daysSupply":{"value":7,"unit":"日","system":"http://unitsofmeasure.org","code":"d"},
        "whenHandedOver":"2016-12-01"}}]}"#;
    let b = read_json(
        &SourceFile::new(1, "x.json"),
        bundle.as_bytes(),
        &Limits::default(),
    );
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    let meds: Vec<_> = b
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Clinical(c) => match &c.data {
                ClinicalData::Medication(m) => Some(m.clone()),
                _ => None,
            },
            Body::Identity(_) => None,
        })
        .collect();
    assert_eq!(meds.len(), 1);
    assert_eq!(meds[0].kind, MedicationKind::Dispensing);
    assert_eq!(meds[0].days, Some(7));
    assert_eq!(meds[0].code.as_ref().unwrap().code, "1141007F1063");
    assert_eq!(meds[0].total.as_ref().unwrap().unit.as_deref(), Some("錠"));
}
