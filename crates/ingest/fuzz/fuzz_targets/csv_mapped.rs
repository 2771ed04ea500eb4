//! Mapped CSV: the first byte picks a mapping, the rest is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_ingest::csv_mapped::{Limits, Mapping, read};
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
    let mapping = match sel % 3 {
        0 => Mapping::jp_identity(),
        1 => match Mapping::from_toml(OBSERVATION_CP932) {
            Ok(m) => m,
            Err(_) => return,
        },
        _ => match Mapping::from_toml(CONDITION) {
            Ok(m) => m,
            Err(_) => return,
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
