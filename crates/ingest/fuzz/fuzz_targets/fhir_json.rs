//! FHIR JSON: a Bundle or resource, and the same bytes as NDJSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_ingest::fhir::{Limits, read_json, read_ndjson};
use tsunagu_ingest::record::SourceFile;

fuzz_target!(|bytes: &[u8]| {
    let file = SourceFile::new(1, "fuzz.json");
    let limits = Limits {
        max_string_chars: 256,
        ..Limits::default()
    };
    let b = read_json(&file, bytes, &limits);
    for r in &b.rejected {
        let _ = r.to_string();
    }
    let (a, z) = bytes.split_at(bytes.len() / 2);
    let _ = read_ndjson(
        &[(SourceFile::new(1, "a"), a), (SourceFile::new(2, "b"), z)],
        &limits,
    );
});
