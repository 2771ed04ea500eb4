//! FHIR JSON: a Bundle or resource, and the same bytes as NDJSON, read at once and in pieces
//! against a first-pass index (the two must agree on how much was read).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_ingest::fhir::{Limits, NdjsonIndex, NdjsonPiece, read_json, read_ndjson};
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
    let (fa, fz) = (SourceFile::new(1, "a"), SourceFile::new(2, "b"));
    let whole = read_ndjson(&[(fa.clone(), a), (fz.clone(), z)], &limits);
    // The second file in two pieces, cut after a newline.
    let cut = z
        .iter()
        .position(|b| *b == b'\n')
        .map_or(z.len(), |p| p + 1);
    let lines_before = 1 + z[..cut].iter().filter(|b| **b == b'\n').count() as u64;
    let pieces = [
        NdjsonPiece {
            file: fa,
            bytes: a,
            first_line: 1,
        },
        NdjsonPiece {
            file: fz.clone(),
            bytes: &z[..cut],
            first_line: 1,
        },
        NdjsonPiece {
            file: fz,
            bytes: &z[cut..],
            first_line: lines_before,
        },
    ];
    let mut index = NdjsonIndex::new();
    for p in &pieces {
        index.add(p, &limits);
    }
    let ids = index.identities(&limits);
    let (mut n, mut rejected) = (ids.records.len(), ids.rejected.len());
    for p in &pieces {
        let b = index.read(std::slice::from_ref(p), &limits);
        n += b.records.len();
        rejected += b.rejected.len();
    }
    assert_eq!(n, whole.records.len());
    assert_eq!(rejected, whole.rejected.len());
});
