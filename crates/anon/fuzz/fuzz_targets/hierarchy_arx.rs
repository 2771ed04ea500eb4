//! ARX hierarchy parsing on arbitrary text: never panics; an accepted hierarchy is a tree with one root whose
//! lookup tables agree with each other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_anon::Hierarchy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(h) = Hierarchy::parse_arx("attr", text) else { return };
    let top = h.height() - 1;
    assert_eq!(h.level_size(top), 1);
    let mut leaves = 0u64;
    for c in 0..h.level_size(0) as u32 {
        leaves += u64::from(h.leaves_under(0, c));
    }
    assert_eq!(leaves as usize, h.domain_size());
    for leaf in 0..h.domain_size() as u32 {
        for from in 0..h.height() {
            let up = h.up_table(from, top);
            assert_eq!(up[h.code(from, leaf) as usize], 0);
            if from < top {
                assert_eq!(h.parent(from, h.code(from, leaf)), h.code(from + 1, leaf));
            }
        }
        let first = h.leaf(h.label(0, h.code(0, leaf))).unwrap_or(u32::MAX);
        assert_eq!(h.code(0, first), h.code(0, leaf));
    }
});
