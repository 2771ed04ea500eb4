//! Every normalisation entry point on arbitrary text: no panic, and `text` is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_link::normalize;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let t = normalize::text(s);
    assert_eq!(normalize::text(&t), t);
    let _ = normalize::enlarge(&t);
    let _ = normalize::phonetic(&t);
    let _ = normalize::sex(s);
    let _ = normalize::date(s);
    let _ = tsunagu_model::era::parse_date(s);
    let _ = tsunagu_model::era::kanji_numeral(s);
    let p = normalize::postal(s).ok();
    let _ = normalize::address::split(s, p);
});
