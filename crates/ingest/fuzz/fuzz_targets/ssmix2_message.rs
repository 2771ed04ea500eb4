//! ISO-2022-JP decoding, HL7 parsing and SS-MIX2 mapping of one stored file's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsunagu_ingest::record::SourceFile;
use tsunagu_ingest::ssmix2::{FileName, Options, parse_message_bytes};

fuzz_target!(|bytes: &[u8]| {
    let src = SourceFile::new(1, "fuzz");
    let lenient = Options {
        require_end_mark: false,
        ..Options::default()
    };
    let b = parse_message_bytes(&src, bytes, None, None, &lenient);
    // Every input is either records or rejections (or both), never lost.
    assert!(!b.records.is_empty() || !b.rejected.is_empty());
    let _ = parse_message_bytes(&src, bytes, None, Some("ADT-00"), &Options::default());
    if let Ok(name) = std::str::from_utf8(bytes) {
        let _ = FileName::parse(name);
    }
});
