//! HL7 v2 (ER7, pipe-and-hat) structural parsing and the character-set step in front of it.
//!
//! Why our own parser instead of a crates.io one (looked at in 2026-11 with `cargo info` and by
//! reading the sources of `hl7-parser` 0.3, `rust-hl7` 0.5 and `hl7-2` 0.2.7):
//! - `hl7-parser` is nom-based; its errors carry the unparsed rest of the input, i.e. patient
//!   names and ids, which must never reach an error or a log here, and its MSH parser `expect`s
//!   on the encoding characters. `rust-hl7` describes itself as "experimental only". `hl7-2`
//!   declares Rust 1.95 but brings generic, schema and struct modes of which we need none, and
//!   a dependency we would have to audit for the same error-content problem.
//! - SS-MIX2 files need handling none of them offer: ISO-2022-JP decoded *before* splitting (a
//!   JIS X 0208 byte pair may contain 0x7C `|` or 0x5E `^`), the 0x1C trailer, `~ISOIR87`.
//! - The structural grammar is small (five separators, escapes); a zero-copy splitter over the
//!   decoded text is ~300 lines, fuzzed (`fuzz/fuzz_targets/hl7_segments.rs`), and allocation-light
//!   for the 20,000 messages/s target.

use std::borrow::Cow;

use crate::normalise::{FlagKind, Flags};

/// Why a message could not be parsed. Carries positions, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Hl7Error {
    /// No MSH segment at the start.
    #[error("the message does not start with an MSH segment")]
    NoMsh,
    /// MSH-1/MSH-2 do not define usable separators.
    #[error("MSH-1/MSH-2 do not define five distinct separators")]
    BadSeparators,
    /// A segment id is not three upper-case letters or digits.
    #[error("segment {0}: the segment id is not three letters or digits")]
    BadSegmentId(u32),
    /// More segments than allowed.
    #[error("more than {0} segments")]
    TooManySegments(usize),
    /// A segment is longer than allowed.
    #[error("segment {0} is longer than the limit")]
    SegmentTooLong(u32),
}

/// The separators a message declares in MSH-1 and MSH-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separators {
    /// Field separator (`|`).
    pub field: char,
    /// Component separator (`^`).
    pub component: char,
    /// Repetition separator (`~`).
    pub repetition: char,
    /// Escape character (`\`), absent in some old messages.
    pub escape: Option<char>,
    /// Subcomponent separator (`&`).
    pub subcomponent: char,
}

impl Default for Separators {
    fn default() -> Self {
        Separators {
            field: '|',
            component: '^',
            repetition: '~',
            escape: Some('\\'),
            subcomponent: '&',
        }
    }
}

/// Limits on what one message may contain.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most segments in one text.
    pub max_segments: usize,
    /// Longest segment in bytes.
    pub max_segment_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_segments: 100_000,
            max_segment_bytes: 1 << 20,
        }
    }
}

/// One message: its separators and segments, borrowing the decoded text.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// Separators from MSH.
    pub separators: Separators,
    /// Segments in order, MSH first.
    pub segments: Vec<Segment<'a>>,
}

/// One segment.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    /// Segment id (`PID`).
    pub id: &'a str,
    /// 1-based position in the text (counting every segment of every message).
    pub index: u32,
    /// Fields by HL7 number: `fields[0]` is the id; for MSH, `fields[1]` is the field separator
    /// and `fields[2]` the encoding characters, as the standard numbers them.
    fields: Vec<&'a str>,
    seps: Separators,
}

impl<'a> Segment<'a> {
    /// Field `n` (HL7 numbering, 1-based); empty when absent.
    pub fn field(&self, n: usize) -> Value<'a> {
        Value {
            raw: self.fields.get(n).copied().unwrap_or(""),
            seps: self.seps,
            level: Level::Field,
        }
    }

    /// Number of fields present (the highest field number).
    pub fn field_count(&self) -> usize {
        self.fields.len().saturating_sub(1)
    }

    /// The segment's position for reports.
    pub fn pos(&self) -> crate::record::SegmentPos {
        let mut id = [b'?'; 3];
        for (d, s) in id.iter_mut().zip(self.id.bytes()) {
            *d = s;
        }
        crate::record::SegmentPos {
            id,
            index: self.index,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Field,
    Repetition,
    Component,
    Subcomponent,
}

/// A field, repetition, component or subcomponent: raw (still escaped) text plus the separators
/// needed to go one level down.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    raw: &'a str,
    seps: Separators,
    level: Level,
}

impl<'a> Value<'a> {
    /// The raw text, escapes not yet resolved.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Empty, or the HL7 null `""`.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty() || self.raw == "\"\""
    }

    /// Repetitions of a field (a lower level has exactly one).
    pub fn repetitions(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        let seps = self.seps;
        let parts: Box<dyn Iterator<Item = &'a str>> = if self.level == Level::Field {
            Box::new(self.raw.split(seps.repetition))
        } else {
            Box::new(std::iter::once(self.raw))
        };
        parts.map(move |raw| Value {
            raw,
            seps,
            level: Level::Repetition,
        })
    }

    /// Repetition `i` (0-based) of a field.
    pub fn rep(&self, i: usize) -> Value<'a> {
        self.repetitions().nth(i).unwrap_or(Value {
            raw: "",
            seps: self.seps,
            level: Level::Repetition,
        })
    }

    /// Component `n` (1-based) of the first repetition.
    pub fn comp(&self, n: usize) -> Value<'a> {
        let base = match self.level {
            Level::Field => self.rep(0),
            _ => *self,
        };
        let raw = match base.level {
            Level::Field | Level::Repetition => base
                .raw
                .split(self.seps.component)
                .nth(n.saturating_sub(1))
                .unwrap_or(""),
            // Going below a component means subcomponents; below that there is nothing.
            Level::Component => return base.sub(n),
            Level::Subcomponent => {
                if n == 1 {
                    base.raw
                } else {
                    ""
                }
            }
        };
        Value {
            raw,
            seps: self.seps,
            level: Level::Component,
        }
    }

    /// Subcomponent `n` (1-based) of a component.
    pub fn sub(&self, n: usize) -> Value<'a> {
        let raw = match self.level {
            Level::Subcomponent => {
                if n == 1 {
                    self.raw
                } else {
                    ""
                }
            }
            _ => self
                .raw
                .split(self.seps.subcomponent)
                .nth(n.saturating_sub(1))
                .unwrap_or(""),
        };
        Value {
            raw,
            seps: self.seps,
            level: Level::Subcomponent,
        }
    }

    /// The text with escape sequences resolved.
    pub fn text(&self) -> Cow<'a, str> {
        unescape(self.raw, &self.seps)
    }

    /// The text, normalised (kana widened, 外字 flagged), or `None` when empty or null.
    pub fn norm(&self, field: &'static str, flags: &mut Flags) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        flags.text(field, &self.text())
    }
}

/// Resolve HL7 escape sequences: `\F\ \S\ \T\ \R\ \E\` to the separators, `\Xhh…\` to bytes
/// (UTF-8), `\.br\` to a line break; highlighting (`\H\ \N\`), character-set switches
/// (`\Cxxyy\ \Mxxyyzz\`), other formatting commands and local `\Z…\` escapes are dropped. An
/// unknown or unterminated sequence stays as written.
pub fn unescape<'a>(raw: &'a str, seps: &Separators) -> Cow<'a, str> {
    let Some(esc) = seps.escape else {
        return Cow::Borrowed(raw);
    };
    if !raw.contains(esc) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(esc) {
        out.push_str(&rest[..i]);
        let after = &rest[i + esc.len_utf8()..];
        let Some(j) = after.find(esc) else {
            out.push_str(&rest[i..]);
            return Cow::Owned(out);
        };
        let seq = &after[..j];
        let consumed = i + esc.len_utf8() + j + esc.len_utf8();
        match seq {
            "F" => out.push(seps.field),
            "S" => out.push(seps.component),
            "T" => out.push(seps.subcomponent),
            "R" => out.push(seps.repetition),
            "E" => out.push(esc),
            "H" | "N" => {}
            ".br" => out.push('\n'),
            s if s.starts_with(".sp") => out.push('\n'),
            s if s.starts_with(".in")
                || s.starts_with(".ti")
                || s.starts_with(".sk")
                || s == ".ce"
                || s == ".fi"
                || s == ".nf" => {}
            s if s.starts_with('X') && s.len() > 1 => match hex_bytes(&s[1..]) {
                Some(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
                None => out.push_str(&rest[i..consumed]),
            },
            s if (s.starts_with('C') && s.len() == 5 || s.starts_with('M') && s.len() == 7)
                && s[1..].bytes().all(|b| b.is_ascii_hexdigit()) => {}
            s if s.starts_with('Z') => {}
            _ => out.push_str(&rest[i..consumed]),
        }
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Escape text for an HL7 field (the inverse of [`unescape`] for the five separators).
pub fn escape(text: &str, seps: &Separators) -> String {
    let esc = seps.escape.unwrap_or('\\');
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = if c == esc {
            Some('E')
        } else if c == seps.field {
            Some('F')
        } else if c == seps.component {
            Some('S')
        } else if c == seps.subcomponent {
            Some('T')
        } else if c == seps.repetition {
            Some('R')
        } else {
            None
        };
        match code {
            Some(k) => {
                out.push(esc);
                out.push(k);
                out.push(esc);
            }
            None => out.push(c),
        }
    }
    out
}

fn separators_from_msh(line: &str) -> Result<Separators, Hl7Error> {
    let mut chars = line.chars().skip(3);
    let field = chars.next().ok_or(Hl7Error::BadSeparators)?;
    let enc: Vec<char> = chars.take_while(|c| *c != field).take(5).collect();
    let ok = |c: &char| c.is_ascii_graphic() && !c.is_ascii_alphanumeric();
    if !ok(&field) || enc.len() < 2 || !enc.iter().all(ok) {
        return Err(Hl7Error::BadSeparators);
    }
    let seps = Separators {
        field,
        component: enc[0],
        repetition: enc[1],
        escape: enc.get(2).copied(),
        subcomponent: enc.get(3).copied().unwrap_or('&'),
    };
    let mut all = vec![
        seps.field,
        seps.component,
        seps.repetition,
        seps.subcomponent,
    ];
    all.extend(seps.escape);
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    if all.len() != n {
        return Err(Hl7Error::BadSeparators);
    }
    Ok(seps)
}

/// Split decoded text into messages. Segments end with CR (LF and CRLF are tolerated); MLLP
/// framing bytes (0x0B, 0x1C) and batch envelopes (FHS, BHS, BTS, FTS) are skipped.
pub fn parse<'a>(text: &'a str, limits: &Limits) -> Result<Vec<Message<'a>>, Hl7Error> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut messages: Vec<Message<'a>> = Vec::new();
    let mut index: u32 = 0;
    for line in text.split(['\r', '\n']) {
        let line = line.trim_matches(|c| c == '\u{0B}' || c == '\u{1C}');
        if line.is_empty() {
            continue;
        }
        index = index.saturating_add(1);
        if index as usize > limits.max_segments {
            return Err(Hl7Error::TooManySegments(limits.max_segments));
        }
        if line.len() > limits.max_segment_bytes {
            return Err(Hl7Error::SegmentTooLong(index));
        }
        let id = line.get(..3).ok_or(Hl7Error::BadSegmentId(index))?;
        if !id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(Hl7Error::BadSegmentId(index));
        }
        if matches!(id, "FHS" | "BHS" | "BTS" | "FTS") {
            continue;
        }
        if id == "MSH" {
            let seps = separators_from_msh(line)?;
            let mut fields: Vec<&str> = Vec::with_capacity(24);
            fields.push(&line[..3]);
            let fs_len = seps.field.len_utf8();
            fields.push(&line[3..3 + fs_len]);
            fields.extend(line[3 + fs_len..].split(seps.field));
            messages.push(Message {
                separators: seps,
                segments: vec![Segment {
                    id,
                    index,
                    fields,
                    seps,
                }],
            });
            continue;
        }
        let Some(msg) = messages.last_mut() else {
            return Err(Hl7Error::NoMsh);
        };
        let seps = msg.separators;
        let rest = &line[3..];
        // A segment id must be followed by the field separator or end the line.
        if !(rest.is_empty() || rest.starts_with(seps.field)) {
            return Err(Hl7Error::BadSegmentId(index));
        }
        let mut fields: Vec<&str> = Vec::with_capacity(16);
        fields.push(id);
        if !rest.is_empty() {
            fields.extend(rest[seps.field.len_utf8()..].split(seps.field));
        }
        msg.segments.push(Segment {
            id,
            index,
            fields,
            seps,
        });
    }
    if messages.is_empty() {
        return Err(Hl7Error::NoMsh);
    }
    Ok(messages)
}

impl<'a> Message<'a> {
    /// The MSH segment.
    pub fn msh(&self) -> &Segment<'a> {
        // `parse` only creates a message with its MSH as the first segment.
        &self.segments[0]
    }

    /// MSH-9 message type and trigger (`ADT`, `A08`).
    pub fn message_type(&self) -> (Cow<'a, str>, Cow<'a, str>) {
        let f = self.msh().field(9);
        (f.comp(1).text(), f.comp(2).text())
    }

    /// Segments with a given id.
    pub fn segments_named<'s>(&'s self, id: &'s str) -> impl Iterator<Item = &'s Segment<'a>> + 's {
        self.segments.iter().filter(move |s| s.id == id)
    }

    /// The first segment with a given id.
    pub fn first(&self, id: &str) -> Option<&Segment<'a>> {
        self.segments.iter().find(|s| s.id == id)
    }
}

/// Why bytes could not be turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid ISO-2022-JP (and not declared UTF-8).
    #[error("not valid ISO-2022-JP")]
    Iso2022Jp,
}

/// Decode the bytes of an HL7 file. SS-MIX2 requires ISO-2022-JP (JIS X 0208 after `ESC $ B`,
/// declared in MSH-18 as `~ISO IR87`); pure ASCII is valid ISO-2022-JP too. A file that is not
/// 7-bit is accepted only when it is valid UTF-8 and its MSH-18 declares `UNICODE UTF-8`.
pub fn decode(bytes: &[u8], flags: &mut Flags) -> Result<String, DecodeError> {
    let text = if bytes.iter().all(|b| *b < 0x80) {
        let (cow, had_errors) = encoding_rs::ISO_2022_JP.decode_without_bom_handling(bytes);
        if had_errors {
            return Err(DecodeError::Iso2022Jp);
        }
        cow.into_owned()
    } else {
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::Iso2022Jp)?;
        let declared_utf8 = msh18(s)
            .iter()
            .any(|c| c == "UNICODEUTF-8" || c == "ISOIR192");
        if !declared_utf8 {
            return Err(DecodeError::Iso2022Jp);
        }
        s.to_owned()
    };
    let declared = msh18(&text);
    if declared.iter().any(|c| c == "ISOIR87")
        && !text
            .split(['\r', '\n'])
            .next()
            .unwrap_or("")
            .contains("ISO IR87")
    {
        // The `~ISOIR87` spelling: accepted, noted.
        flags.push("MSH-18", FlagKind::NonStandardCharsetDeclaration);
    } else if bytes.contains(&0x1B) && !declared.iter().any(|c| c == "ISOIR87") {
        flags.push("MSH-18", FlagKind::NonStandardCharsetDeclaration);
    }
    Ok(text)
}

/// MSH-18 repetitions, upper-cased and without spaces.
fn msh18(text: &str) -> Vec<String> {
    let first = text
        .trim_start_matches(['\u{FEFF}', '\u{0B}'])
        .split(['\r', '\n'])
        .next()
        .unwrap_or("");
    let Ok(seps) = separators_from_msh(first) else {
        return Vec::new();
    };
    let f = first
        .get(3 + seps.field.len_utf8()..)
        .unwrap_or("")
        .split(seps.field)
        .nth(16)
        .unwrap_or("");
    f.split(seps.repetition)
        .map(|r| {
            r.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_uppercase()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MSG: &str = "MSH|^~\\&|HIS|SEND|GW|RCV|20111220||ADT^A08^ADT_A01|1|P|2.5||||||~ISO IR87\r\
PID|0001||9999013^^^^PI~X1^^^^MR||患者^太郎^^^^^L^I~カンジャ^タロウ^^^^^L^P||19480405|M\r\
OBX|1|TX|9A100&IMP^所見^JC10||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\g\\X41\\h\\H\\i\\N\\j\\Q\\\r\x1c\r";

    #[test]
    fn splits_fields_repetitions_components_subcomponents() {
        let msgs = parse(MSG, &Limits::default()).unwrap();
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(m.segments.len(), 3);
        assert_eq!(m.msh().field(1).raw(), "|");
        assert_eq!(m.msh().field(2).raw(), "^~\\&");
        assert_eq!(m.msh().field(18).raw(), "~ISO IR87");
        let (t, e) = m.message_type();
        assert_eq!((t.as_ref(), e.as_ref()), ("ADT", "A08"));
        let pid = m.first("PID").unwrap();
        assert_eq!(pid.field(3).rep(0).comp(1).text(), "9999013");
        assert_eq!(pid.field(3).rep(1).comp(5).text(), "MR");
        assert_eq!(pid.field(3).repetitions().count(), 2);
        assert_eq!(pid.field(5).rep(1).comp(2).text(), "タロウ");
        assert_eq!(pid.field(5).rep(1).comp(8).text(), "P");
        assert!(pid.field(40).is_empty());
        let obx = m.first("OBX").unwrap();
        assert_eq!(obx.field(3).comp(1).sub(2).text(), "IMP");
        assert_eq!(obx.field(3).comp(1).sub(1).text(), "9A100");
        assert_eq!(
            obx.field(5).text(),
            "a|b^c&d~e\\f\ng".to_owned() + "Ahij\\Q\\"
        );
    }

    #[test]
    fn custom_separators_and_errors() {
        let m = parse("MSH#*!@%#A\rPID#1##x*y!z*w", &Limits::default()).unwrap();
        let pid = m[0].first("PID").unwrap();
        assert_eq!(pid.field(3).rep(0).comp(2).text(), "y");
        assert_eq!(pid.field(3).rep(1).comp(2).text(), "w");
        assert_eq!(
            parse("PID|1", &Limits::default()).unwrap_err(),
            Hl7Error::NoMsh
        );
        assert_eq!(parse("", &Limits::default()).unwrap_err(), Hl7Error::NoMsh);
        assert_eq!(
            parse("MSH|^^\\&", &Limits::default()).unwrap_err(),
            Hl7Error::BadSeparators
        );
        assert_eq!(
            parse("MSH", &Limits::default()).unwrap_err(),
            Hl7Error::BadSeparators
        );
        assert_eq!(
            parse("MSH|^~\\&\rpid|1", &Limits::default()).unwrap_err(),
            Hl7Error::BadSegmentId(2)
        );
        assert_eq!(
            parse("MSH|^~\\&\rPIDX|1", &Limits::default()).unwrap_err(),
            Hl7Error::BadSegmentId(2)
        );
        let lim = Limits {
            max_segments: 2,
            max_segment_bytes: 100,
        };
        assert_eq!(
            parse("MSH|^~\\&\rPID|\rPV1|", &lim).unwrap_err(),
            Hl7Error::TooManySegments(2)
        );
        // Errors never carry content.
        let e = parse("MSH|^~\\&\r患者|1", &Limits::default()).unwrap_err();
        assert!(!e.to_string().contains("患者"));
    }

    #[test]
    fn two_messages_in_one_text() {
        let m = parse(
            "MSH|^~\\&|A\rPID|1\nMSH|^~\\&|B\r\nPID|2",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].first("PID").unwrap().field(1).text(), "2");
        assert_eq!(m[1].first("PID").unwrap().index, 4);
    }

    #[test]
    fn iso_2022_jp_decodes_and_rejects_8bit() {
        let (bytes, _, _) = encoding_rs::ISO_2022_JP
            .encode("MSH|^~\\&|||||||ADT^A08|1|P|2.5||||||~ISO IR87\rPID|||1||患者^太郎");
        let mut f = Flags::default();
        let text = decode(&bytes, &mut f).unwrap();
        assert!(text.contains("患者^太郎"));
        assert!(f.0.is_empty());
        assert_eq!(decode(&[0xFB, 0xFC], &mut f), Err(DecodeError::Iso2022Jp));
        // A broken escape sequence.
        assert_eq!(
            decode(b"MSH|^~\\&\x1b$Bxx\x1b", &mut f),
            Err(DecodeError::Iso2022Jp)
        );
        let mut f = Flags::default();
        decode(b"MSH|^~\\&|||||||ADT^A08|1|P|2.5||||||~ISOIR87\r", &mut f).unwrap();
        assert_eq!(f.0[0].kind, FlagKind::NonStandardCharsetDeclaration);
        // UTF-8 only when declared.
        let utf8 = "MSH|^~\\&|||||||ADT^A08|1|P|2.5||||||UNICODE UTF-8\rPID|||1||患者";
        assert!(decode(utf8.as_bytes(), &mut Flags::default()).is_ok());
        let undeclared = "MSH|^~\\&|||||||ADT^A08|1|P|2.5\rPID|||1||患者";
        assert!(decode(undeclared.as_bytes(), &mut Flags::default()).is_err());
    }

    proptest! {
        #[test]
        fn escape_then_unescape_is_identity(s in "\\PC{0,60}") {
            let seps = Separators::default();
            let e = escape(&s, &seps);
            prop_assert!(!e.contains('|') && !e.contains('^') && !e.contains('~') && !e.contains('&'));
            prop_assert_eq!(unescape(&e, &seps), s);
        }

        #[test]
        fn fields_round_trip_through_a_segment(vals in proptest::collection::vec("\\PC{0,20}", 1..12)) {
            let seps = Separators::default();
            let body: Vec<String> = vals.iter().map(|v| escape(v, &seps)).collect();
            let text = format!("MSH|^~\\&|X\rZZZ|{}", body.join("|"));
            let msgs = parse(&text, &Limits::default()).unwrap();
            let seg = msgs[0].first("ZZZ").unwrap();
            for (i, v) in vals.iter().enumerate() {
                prop_assert_eq!(seg.field(i + 1).text(), v.trim_matches(|c| c == '\r' || c == '\n'));
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            if let Ok(msgs) = parse(&s, &Limits::default()) {
                for m in &msgs {
                    let _ = m.message_type();
                    for seg in &m.segments {
                        for n in 0..seg.field_count() + 2 {
                            let f = seg.field(n);
                            let _ = f.comp(2).sub(2).text();
                            let _ = f.rep(3).text();
                        }
                    }
                }
            }
        }
    }
}
