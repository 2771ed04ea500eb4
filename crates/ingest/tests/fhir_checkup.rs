//! An examination Observation that names a check-up programme (特定健診, 乳幼児健診, 学校健診) in
//! its category is an item of that check-up; other examinations stay plain observations.
#![allow(clippy::unwrap_used, clippy::panic)]

use tsunagu_ingest::fhir::{Limits, read_json};
use tsunagu_ingest::record::{Body, ClinicalData, Observation, SourceFile};

fn observations(bundle: &str) -> Vec<Observation> {
    let b = read_json(
        &SourceFile::new(1, "x.json"),
        bundle.as_bytes(),
        &Limits::default(),
    );
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    b.records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Clinical(c) => match &c.data {
                ClinicalData::Observation(o) => Some(o.clone()),
                _ => None,
            },
            Body::Identity(_) => None,
        })
        .collect()
}

fn bundle(category_code: &str, category_text: &str) -> String {
    format!(
        r#"{{"resourceType":"Bundle","type":"collection","entry":[
      {{"fullUrl":"urn:uuid:p1","resource":{{"resourceType":"Patient","id":"p1",
        "identifier":[{{"system":"urn:oid:1.2.392.100495.20.3.51.11234567","value":"000123"}}]}}}},
      {{"resource":{{"resourceType":"Observation","id":"o1","status":"final",
        "category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"{category_code}"}}],"text":"{category_text}"}}],
        "code":{{"coding":[{{"system":"urn:oid:1.2.392.200119.4.504","code":"9N001000000000001","display":"身長"}}]}},
        "subject":{{"reference":"urn:uuid:p1"}},
        "effectiveDateTime":"2021-05-10",
        "valueQuantity":{{"value":96.3,"unit":"cm"}}}}}}]}}"#
    )
}

#[test]
fn programme_named_in_the_category_makes_a_checkup_item() {
    let o = observations(&bundle("exam", "3歳児健診"));
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].program.as_deref(), Some("infant_3y"));
    let o = observations(&bundle("exam", "tokutei_kenshin"));
    assert_eq!(o[0].program.as_deref(), Some("tokutei_kenshin"));
}

#[test]
fn other_examinations_and_categories_are_not_checkups() {
    assert_eq!(observations(&bundle("exam", "Exam"))[0].program, None);
    assert_eq!(
        observations(&bundle("vital-signs", "特定健診"))[0].program,
        None
    );
}
