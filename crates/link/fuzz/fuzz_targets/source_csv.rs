//! Identity CSV of arbitrary bytes: read, normalise, tokenise, link with itself; no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_link::record::{Encoder, TokenTable};
use tsunagu_link::schema::Schema;
use tsunagu_link::token::LinkageKey;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = tsunagu_link::source::read_csv_from(data, std::path::Path::new("fuzz.csv"), None) else { return };
    let (ids, _) = tsunagu_link::source::normalise_all(&src.records);
    let schema = Schema::from_roles(|r| src.roles.contains(&r));
    let enc = Encoder::new(&LinkageKey::from_bytes([1; 32]), schema);
    let t = TokenTable::encode(&enc, &ids);
    let opts = tsunagu_link::engine::LinkOptions { u_samples: 1000, ..Default::default() };
    let _ = tsunagu_link::engine::dedupe(&t, &opts);
});
