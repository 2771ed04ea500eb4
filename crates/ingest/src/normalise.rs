//! Normalisation every parser applies: dates to ISO (Japanese era dates through
//! `tsunagu_model::era`), ICD-10 checks (syntax and WHO list through `tsunagu_model::icd10`),
//! half-width kana widened, 外字 (private-use characters) replaced by 〓 and flagged.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use tsunagu_model::Icd10Code;
use unicode_normalization::UnicodeNormalization;

use crate::record::When;

/// The geta mark (〓, U+3013) Japanese systems print for a character they cannot show.
pub const GETA: char = '〓';

/// A note on a value that was changed or could not be fully checked. Not an error: the record is
/// kept, and the note travels with it (and into reception statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flag {
    /// The field, as the source names it (`PID-5`, `Patient.name`, `family_name`).
    pub field: &'static str,
    /// What happened.
    pub kind: FlagKind,
}

/// What happened to a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlagKind {
    /// A 外字 / private-use character (or an existing 〓) was replaced by 〓.
    Gaiji,
    /// Half-width katakana were widened (NFKC on kana).
    HalfWidthKanaWidened,
    /// The ICD-10 code is well-formed but not in WHO's ICD-10 list (Japan's ICD-10 2013 has a
    /// few codes WHO 2019 lacks, so this is flagged, not refused).
    Icd10NotInList,
    /// A Japanese era date was converted to the Gregorian calendar.
    EraDateConverted,
    /// The HL7 character-set declaration (MSH-18) is spelled in a non-standard way (`~ISOIR87`).
    NonStandardCharsetDeclaration,
    /// An invalid optional value was dropped (e.g. a malformed postal code in an address).
    InvalidValueDropped,
    /// A code does not have the shape its code system requires (e.g. a JLAC10 code that is not
    /// 17 characters); kept as sent.
    CodeNotWellFormed,
}

/// Collects flags while a record is built.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flags(pub Vec<Flag>);

impl Flags {
    /// Note something about a field (once per field and kind).
    pub fn push(&mut self, field: &'static str, kind: FlagKind) {
        let f = Flag { field, kind };
        if !self.0.contains(&f) {
            self.0.push(f);
        }
    }

    /// Normalise a piece of text from input and note what changed. Empty (after trimming) gives
    /// `None`.
    pub fn text(&mut self, field: &'static str, s: &str) -> Option<String> {
        let t = s.trim();
        if t.is_empty() {
            return None;
        }
        let n = normalise_text(t);
        if n.widened {
            self.push(field, FlagKind::HalfWidthKanaWidened);
        }
        if n.gaiji {
            self.push(field, FlagKind::Gaiji);
        }
        Some(n.text)
    }
}

/// Result of [`normalise_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalisedText {
    /// The text.
    pub text: String,
    /// Half-width kana were widened.
    pub widened: bool,
    /// A private-use character or 〓 was found (and replaced by 〓).
    pub gaiji: bool,
}

fn is_halfwidth_kana(c: char) -> bool {
    ('\u{FF61}'..='\u{FF9F}').contains(&c)
}

/// Whether a character is a 外字 candidate: Unicode private use (BMP and planes 15–16), where
/// CP932 user-defined characters and vendor 外字 land.
pub fn is_private_use(c: char) -> bool {
    matches!(c as u32, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

/// Widen half-width katakana (ｶﾞ → ガ) by NFKC on kana runs only — NFKC over the whole text
/// would also fold full-width digits, ①, ㈱ and other characters people chose on purpose — and
/// replace private-use characters by 〓.
pub fn normalise_text(s: &str) -> NormalisedText {
    // Fast path: most values (codes, numbers, ASCII, ordinary kanji and kana) need no change.
    if s.is_ascii()
        || !s
            .chars()
            .any(|c| is_halfwidth_kana(c) || is_private_use(c) || c == GETA)
    {
        return NormalisedText {
            text: s.to_owned(),
            widened: false,
            gaiji: false,
        };
    }
    let mut out = String::with_capacity(s.len());
    let mut widened = false;
    let mut gaiji = false;
    let mut run = String::new();
    for c in s.chars() {
        if is_halfwidth_kana(c) {
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            out.extend(run.nfkc());
            run.clear();
            widened = true;
        }
        if is_private_use(c) || c == GETA {
            out.push(GETA);
            gaiji = true;
        } else {
            out.push(c);
        }
    }
    if !run.is_empty() {
        out.extend(run.nfkc());
        widened = true;
    }
    NormalisedText {
        text: out,
        widened,
        gaiji,
    }
}

/// Narrow full-width digits and common separators so date and number syntax can be checked.
pub fn narrow_digits(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '／' => '/',
            '－' | '−' | '‐' => '-',
            '．' => '.',
            '：' => ':',
            c => c,
        })
        .collect()
}

/// Why a date could not be read. Never carries the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not a date in any accepted form.
    #[error(
        "not a date (expected YYYY-MM-DD, YYYYMMDD, YYYY/MM/DD, YYYY年M月D日 or a Japanese era date)"
    )]
    Syntax,
    /// Looks like a date but does not exist (e.g. 2月30日).
    #[error("no such calendar day")]
    NoSuchDay,
    /// A Japanese era date outside its era (昭和64年1月8日).
    #[error("the date lies outside its Japanese era")]
    OutsideEra,
}

/// Whether a date is written in a Japanese era: era name or letter first (昭和, S, ㍼), or the
/// 7-digit receipt form (era digit + YYMMDD).
pub fn is_era_form(s: &str) -> bool {
    let t = narrow_digits(s);
    match t.chars().next() {
        None => false,
        Some(c) if c.is_ascii_digit() => t.len() == 7 && t.bytes().all(|b| b.is_ascii_digit()),
        Some(_) => true,
    }
}

/// Parse a calendar date in the forms Japanese systems write: ISO, `yyyyMMdd`, `yyyy/M/d`,
/// `yyyy年M月d日`, and era dates (`昭和45年3月12日`, `S45.03.12`, `平成元年1月8日`, kanji
/// numerals, the receipt form `3450312`). The one converter of the project,
/// [`tsunagu_model::era::parse_date`], does the work, era boundaries included.
pub fn parse_date(s: &str) -> Result<NaiveDate, DateError> {
    use tsunagu_model::era::DateError as E;
    tsunagu_model::era::parse_date(s).map_err(|e| match e {
        E::Format => DateError::Syntax,
        E::NoSuchDate => DateError::NoSuchDay,
        E::OutsideEra => DateError::OutsideEra,
    })
}

/// The check-up programme a source names, as the lake names it (`tokutei_kenshin`, `infant_4m`,
/// `infant_18m`, `infant_3y`, `school`), from those names or their Japanese ones. `None` when the
/// text names none of them.
pub fn checkup_program(s: &str) -> Option<&'static str> {
    let t: String = narrow_digits(s)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some(match t.as_str() {
        "tokutei_kenshin" | "特定健診" | "特定健康診査" => "tokutei_kenshin",
        "infant_4m" | "乳児健診" | "4か月児健診" | "4ヶ月児健診" | "4か月児健康診査" => {
            "infant_4m"
        }
        "infant_18m" | "1歳6か月児健診" | "1歳6ヶ月児健診" | "1歳6か月児健康診査" => {
            "infant_18m"
        }
        "infant_3y" | "3歳児健診" | "3歳児健康診査" => "infant_3y",
        "school" | "学校健診" | "児童生徒等の健康診断" | "学校健康診断" => {
            "school"
        }
        _ => return None,
    })
}

/// Parse a year and month (診療年月): `YYYY-MM`, `YYYY/MM`, `YYYYMM`, `YYYY年M月`, the receipt's
/// era form (era digit + YYMM, `50504` = 令和5年4月), an era month (`令和5年4月`), or a full date
/// (its month). Era arithmetic is [`parse_date`]'s, on the first of the month.
pub fn parse_year_month(s: &str) -> Option<(i32, u32)> {
    use chrono::Datelike;
    let t = narrow_digits(s);
    let ym = |y: &str, m: &str| -> Option<(i32, u32)> {
        let (y, m) = (y.parse::<i32>().ok()?, m.parse::<u32>().ok()?);
        ((1868..=2200).contains(&y) && (1..=12).contains(&m)).then_some((y, m))
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if let Some((y, m)) = t.split_once(['-', '/'])
        && y.len() == 4
        && digits(y)
        && (1..=2).contains(&m.len())
        && digits(m)
    {
        return ym(y, m);
    }
    if digits(&t) && t.len() == 6 {
        return ym(&t[..4], &t[4..]);
    }
    let first = if digits(&t) && t.len() == 5 {
        format!("{t}01")
    } else if t.ends_with('月') {
        format!("{t}1日")
    } else {
        t
    };
    parse_date(&first).ok().map(|d| (d.year(), d.month()))
}

/// Parse a FHIR `date` / `dateTime` / `instant` (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`,
/// `YYYY-MM-DDThh:mm:ss[.s][Z|±hh:mm]`).
pub fn parse_fhir_datetime(s: &str) -> Result<When, DateError> {
    let s = s.trim();
    let b = s.as_bytes();
    let all_digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
    };
    match b.len() {
        4 if all_digits(0..4) => return s.parse().map(When::Year).map_err(|_| DateError::Syntax),
        7 if all_digits(0..4) && b[4] == b'-' && all_digits(5..7) => {
            let y: i32 = s[..4].parse().map_err(|_| DateError::Syntax)?;
            let m: u32 = s[5..7].parse().map_err(|_| DateError::Syntax)?;
            if !(1..=12).contains(&m) {
                return Err(DateError::NoSuchDay);
            }
            return Ok(When::Month(y, m));
        }
        10 => {
            if !(all_digits(0..4)
                && b[4] == b'-'
                && all_digits(5..7)
                && b[7] == b'-'
                && all_digits(8..10))
            {
                return Err(DateError::Syntax);
            }
            return NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(When::Date)
                .map_err(|_| DateError::NoSuchDay);
        }
        _ => {}
    }
    if s.len() > 40 || !s.is_ascii() {
        return Err(DateError::Syntax);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(When::Zoned(t));
    }
    // FHIR requires a zone when time is given, but many exporters omit it.
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(When::Local(t));
        }
    }
    Err(DateError::Syntax)
}

/// Parse an HL7 v2 TS/DTM: `YYYY[MM[DD[HH[MM[SS[.S{1,4}]]]]]][±ZZZZ]`. The offset, when given, is
/// kept; otherwise the time is local.
pub fn parse_hl7_ts(s: &str) -> Result<When, DateError> {
    let s = s.trim();
    if s.len() > 32 || !s.is_ascii() {
        return Err(DateError::Syntax);
    }
    let (main, zone) = match s.find(['+', '-']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let (digits, frac) = match main.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (main, None),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit())
        || frac
            .is_some_and(|f| f.is_empty() || f.len() > 4 || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DateError::Syntax);
    }
    let n = |r: std::ops::Range<usize>| -> Result<u32, DateError> {
        digits
            .get(r)
            .ok_or(DateError::Syntax)?
            .parse()
            .map_err(|_| DateError::Syntax)
    };
    let year = n(0..4)? as i32;
    if frac.is_some() && digits.len() != 14 {
        return Err(DateError::Syntax);
    }
    let naive = match digits.len() {
        4 => {
            return if zone.is_none() {
                Ok(When::Year(year))
            } else {
                Err(DateError::Syntax)
            };
        }
        6 => {
            let m = n(4..6)?;
            if !(1..=12).contains(&m) || zone.is_some() {
                return Err(DateError::NoSuchDay);
            }
            return Ok(When::Month(year, m));
        }
        8 => {
            let d =
                NaiveDate::from_ymd_opt(year, n(4..6)?, n(6..8)?).ok_or(DateError::NoSuchDay)?;
            if zone.is_some() {
                return Err(DateError::Syntax);
            }
            return Ok(When::Date(d));
        }
        10 | 12 | 14 => {
            let d =
                NaiveDate::from_ymd_opt(year, n(4..6)?, n(6..8)?).ok_or(DateError::NoSuchDay)?;
            let h = n(8..10)?;
            let mi = if digits.len() >= 12 { n(10..12)? } else { 0 };
            let sec = if digits.len() == 14 { n(12..14)? } else { 0 };
            let nanos = match frac {
                Some(f) => {
                    let v: u32 = f.parse().map_err(|_| DateError::Syntax)?;
                    v * 10u32.pow(9 - f.len() as u32)
                }
                None => 0,
            };
            let t = NaiveTime::from_hms_nano_opt(h, mi, sec, nanos).ok_or(DateError::NoSuchDay)?;
            NaiveDateTime::new(d, t)
        }
        _ => return Err(DateError::Syntax),
    };
    match zone {
        None => Ok(When::Local(naive)),
        Some(z) => {
            let zb = z.as_bytes();
            if zb.len() != 5 || !zb[1..].iter().all(u8::is_ascii_digit) {
                return Err(DateError::Syntax);
            }
            let hh: i32 = z[1..3].parse().map_err(|_| DateError::Syntax)?;
            let mm: i32 = z[3..5].parse().map_err(|_| DateError::Syntax)?;
            let secs = (hh * 3600 + mm * 60) * if zb[0] == b'-' { -1 } else { 1 };
            let off = chrono::FixedOffset::east_opt(secs).ok_or(DateError::Syntax)?;
            naive
                .and_local_timezone(off)
                .single()
                .map(When::Zoned)
                .ok_or(DateError::NoSuchDay)
        }
    }
}

/// Check an ICD-10 code: syntax through [`Icd10Code::parse`], membership through WHO's list
/// ([`Icd10Code::is_known`]). A well-formed code missing from the list is kept and flagged.
pub fn check_icd10(
    s: &str,
    field: &'static str,
    flags: &mut Flags,
) -> Result<Icd10Code, tsunagu_model::ParseError> {
    let code = Icd10Code::parse(s)?;
    if !code.is_known() {
        flags.push(field, FlagKind::Icd10NotInList);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn half_width_kana_is_widened_and_only_kana() {
        let n = normalise_text("ｶﾝｼﾞｬ ﾀﾛｳ ｶﾞｯｺｳ １２３ ㈱");
        assert_eq!(n.text, "カンジャ タロウ ガッコウ １２３ ㈱");
        assert!(n.widened && !n.gaiji);
        let n = normalise_text("山田");
        assert!(!n.widened && !n.gaiji);
        assert_eq!(n.text, "山田");
    }

    #[test]
    fn private_use_becomes_geta_and_is_flagged() {
        let n = normalise_text("髙\u{E000}橋\u{F8FF}");
        assert_eq!(n.text, "髙〓橋〓");
        assert!(n.gaiji);
        let mut f = Flags::default();
        assert_eq!(
            f.text("family_name", " \u{100000}田 ").as_deref(),
            Some("〓田")
        );
        assert_eq!(
            f.0,
            vec![Flag {
                field: "family_name",
                kind: FlagKind::Gaiji
            }]
        );
        assert_eq!(f.text("x", "   "), None);
    }

    #[test]
    fn dates_in_common_forms() {
        let d = NaiveDate::from_ymd_opt(1965, 4, 15).unwrap();
        for s in [
            "1965-04-15",
            "19650415",
            "1965/4/15",
            "1965年4月15日",
            "１９６５－０４－１５",
        ] {
            assert_eq!(parse_date(s), Ok(d), "{s}");
            assert!(!is_era_form(s));
        }
        assert_eq!(parse_date("2023-02-29"), Err(DateError::NoSuchDay));
        assert_eq!(parse_date("April 1"), Err(DateError::Syntax));
    }

    #[test]
    fn era_dates_convert_through_the_model() {
        let d = NaiveDate::from_ymd_opt(1965, 4, 15).unwrap();
        for s in ["昭和40年4月15日", "S40.04.15", "3400415"] {
            assert_eq!(parse_date(s), Ok(d), "{s}");
            assert!(is_era_form(s), "{s}");
        }
        assert_eq!(
            parse_date("令和元年5月1日"),
            Ok(NaiveDate::from_ymd_opt(2019, 5, 1).unwrap())
        );
        assert_eq!(parse_date("昭和64年1月8日"), Err(DateError::OutsideEra));
    }

    #[test]
    fn hl7_timestamps() {
        assert_eq!(
            parse_hl7_ts("19480405"),
            Ok(When::Date(NaiveDate::from_ymd_opt(1948, 4, 5).unwrap()))
        );
        let When::Local(t) = parse_hl7_ts("20111220224447.3399").unwrap() else {
            panic!()
        };
        assert_eq!(t.to_string(), "2011-12-20 22:44:47.339900");
        assert!(matches!(parse_hl7_ts("201112202100"), Ok(When::Local(_))));
        assert!(matches!(
            parse_hl7_ts("20111220224447+0900"),
            Ok(When::Zoned(_))
        ));
        assert_eq!(parse_hl7_ts("201107"), Ok(When::Month(2011, 7)));
        assert_eq!(parse_hl7_ts("M"), Err(DateError::Syntax));
        assert_eq!(parse_hl7_ts("20111320"), Err(DateError::NoSuchDay));
        assert_eq!(parse_hl7_ts("2011070112345"), Err(DateError::Syntax));
    }

    #[test]
    fn fhir_datetimes() {
        assert_eq!(parse_fhir_datetime("2017"), Ok(When::Year(2017)));
        assert_eq!(parse_fhir_datetime("2017-02"), Ok(When::Month(2017, 2)));
        assert!(matches!(
            parse_fhir_datetime("2021-10-19T17:39:00+09:00"),
            Ok(When::Zoned(_))
        ));
        assert!(matches!(
            parse_fhir_datetime("2021-10-19T17:39:00"),
            Ok(When::Local(_))
        ));
        assert_eq!(parse_fhir_datetime("2017-02-30"), Err(DateError::NoSuchDay));
        assert_eq!(parse_fhir_datetime("yesterday"), Err(DateError::Syntax));
    }

    #[test]
    fn icd10_checked_against_the_list() {
        let mut f = Flags::default();
        assert_eq!(
            check_icd10("K297", "PRB-10", &mut f).unwrap().as_str(),
            "K29.7"
        );
        assert!(f.0.is_empty());
        assert!(check_icd10("K2", "PRB-10", &mut f).is_err());
        // Well-formed, but U99 is not a WHO code.
        assert_eq!(
            check_icd10("U99.9", "PRB-10", &mut f).unwrap().as_str(),
            "U99.9"
        );
        assert_eq!(
            f.0,
            vec![Flag {
                field: "PRB-10",
                kind: FlagKind::Icd10NotInList
            }]
        );
    }

    proptest! {
        #[test]
        fn normalise_never_panics_and_leaves_no_pua(s in ".*") {
            let n = normalise_text(&s);
            prop_assert!(!n.text.chars().any(is_private_use));
            prop_assert!(!n.text.chars().any(is_halfwidth_kana));
        }

        #[test]
        fn iso_dates_round_trip(y in 1000i32..=9999, o in 0u32..366) {
            if let Some(d) = NaiveDate::from_yo_opt(y, o.max(1)) {
                prop_assert_eq!(parse_date(&d.format("%Y-%m-%d").to_string()), Ok(d));
                prop_assert_eq!(parse_date(&d.format("%Y%m%d").to_string()), Ok(d));
                prop_assert_eq!(parse_hl7_ts(&d.format("%Y%m%d").to_string()), Ok(When::Date(d)));
            }
        }

        #[test]
        fn date_parsers_never_panic(s in "\\PC{0,40}") {
            let _ = parse_date(&s);
            let _ = parse_hl7_ts(&s);
            let _ = parse_fhir_datetime(&s);
            let _ = is_era_form(&s);
        }
    }

    #[test]
    fn year_months() {
        assert_eq!(parse_year_month("2024-04"), Some((2024, 4)));
        assert_eq!(parse_year_month("２０２４／１２"), Some((2024, 12)));
        assert_eq!(parse_year_month("202404"), Some((2024, 4)));
        assert_eq!(parse_year_month("2024年4月"), Some((2024, 4)));
        assert_eq!(parse_year_month("令和5年4月"), Some((2023, 4)));
        assert_eq!(parse_year_month("50504"), Some((2023, 4)));
        assert_eq!(parse_year_month("2024-04-30"), Some((2024, 4)));
        for bad in [
            "2024-13", "202400", "24-04", "", "abc", "2024-4-", "1700-01",
        ] {
            assert_eq!(parse_year_month(bad), None, "{bad}");
        }
    }
}
