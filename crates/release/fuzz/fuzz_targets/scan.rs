//! The identifier scanner on arbitrary text: never panics; hits are ordered, do not overlap and
//! lie on character boundaries; and a valid My Number appended after a space is always found.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_release::scan::{HitKind, scan};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let hits = scan(text);
    let mut last = 0;
    for h in &hits {
        assert!(h.start >= last && h.start < h.end && h.end <= text.len());
        assert!(text.is_char_boundary(h.start) && text.is_char_boundary(h.end));
        last = h.end;
    }
    // 123456789018 is a valid My Number: standing alone after any text, it must be found.
    let planted = format!("{text} 123456789018 ");
    let at = text.len() + 1;
    assert!(
        scan(&planted)
            .iter()
            .any(|h| h.kind == HitKind::MyNumber && h.start == at && h.end == at + 12)
    );
});
