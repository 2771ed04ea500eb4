//! Mapped CSV: the first byte picks a mapping (three hand-written ones, then each file of the
//! `tsunagu synth` layout, checked against a sender's provider code), the rest is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_ingest::csv_mapped::{Limits, Mapping, SYNTH_LAYOUT, read};
use tsunagu_ingest::record::SourceFile;

const OBSERVATION_CP932: &str = r#"
record = "observation"
encoding = "cp932"
header = false
date_format = "%Y/%m/%d"
[columns]
local_patient_id = 1
code = 2
code_system = 3
value = 4
unit = 5
effective = 6
"#;

const CONDITION: &str = r#"
record = "condition"
encoding = "euc-jp"
[columns]
local_patient_id = "pid"
icd10 = "icd"
onset = "onset"
"#;

fuzz_target!(|bytes: &[u8]| {
    let Some((&sel, body)) = bytes.split_first() else {
        return;
    };
    let pick = usize::from(sel) % (3 + SYNTH_LAYOUT.len());
    let mapping = match pick {
        0 => Mapping::jp_identity(),
        1 => match Mapping::from_toml(OBSERVATION_CP932) {
            Ok(m) => m,
            Err(_) => return,
        },
        2 => match Mapping::from_toml(CONDITION) {
            Ok(m) => m,
            Err(_) => return,
        },
        n => match Mapping::builtin_for_header(SYNTH_LAYOUT[n - 3].0.as_bytes()) {
            Some(m) => m.for_provider("1310000001"),
            None => return,
        },
    };
    let b = read(
        &SourceFile::new(1, "fuzz.csv"),
        body,
        &mapping,
        &Limits::default(),
    );
    for r in &b.rejected {
        let _ = r.to_string();
    }
    if let Ok(t) = std::str::from_utf8(body) {
        let _ = Mapping::from_toml(t);
    }
});
