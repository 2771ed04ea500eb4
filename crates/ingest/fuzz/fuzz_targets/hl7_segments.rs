//! HL7 v2 structural parsing: any text must parse or fail cleanly, and every accessor on what
//! parsed must be safe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_ingest::hl7::{self, Limits};

fuzz_target!(|text: &str| {
    let Ok(messages) = hl7::parse(text, &Limits::default()) else {
        return;
    };
    for m in &messages {
        let _ = m.message_type();
        for seg in &m.segments {
            let _ = seg.pos();
            for n in 0..seg.field_count() + 2 {
                let f = seg.field(n);
                for r in f.repetitions().take(4) {
                    for c in 1..4 {
                        let comp = r.comp(c);
                        let _ = comp.text();
                        let _ = comp.sub(2).text();
                    }
                }
                let _ = f.rep(5).comp(9).sub(3).text();
            }
        }
        let seps = m.separators;
        if seps.escape.is_some() {
            let escaped = hl7::escape(text, &seps);
            assert_eq!(hl7::unescape(&escaped, &seps), text);
        }
    }
});
