//! Dates as Japanese providers write them: the era form (和暦: 昭和45年3月12日, S45.03.12,
//! 平成元年1月8日, ㍼45年…) and the Western form (1970-03-12, 1970/3/12, 19700312, 1970年3月12日),
//! with kanji numerals (昭和四十五年三月十二日) and full-width digits.
//!
//! Era boundaries are those of the Gregorian calendar as used by the Japanese government
//! (明治 from 1868-01-25, the Gregorian equivalent of 慶応4年1月1日, because 明治 was applied
//! retroactively to the whole year; 大正 from 1912-07-30; 昭和 from 1926-12-25; 平成 from
//! 1989-01-08; 令和 from 2019-05-01). A date outside its era (昭和64年1月8日, 平成31年5月1日)
//! is rejected rather than silently moved into the next era: it is a typo, and linkage must not
//! invent a birth date.
//!
//! Errors never carry the input, which is usually a birth date.

use chrono::{Datelike, NaiveDate};

/// A Japanese era (元号) from 明治 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Era {
    /// 明治 (M), 1868-01-25 – 1912-07-29.
    Meiji,
    /// 大正 (T), 1912-07-30 – 1926-12-24.
    Taisho,
    /// 昭和 (S), 1926-12-25 – 1989-01-07.
    Showa,
    /// 平成 (H), 1989-01-08 – 2019-04-30.
    Heisei,
    /// 令和 (R), 2019-05-01 –.
    Reiwa,
}

/// Why a date could not be parsed. Carries no part of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// The text matches none of the accepted forms.
    #[error("date: unrecognised format")]
    Format,
    /// Year, month or day is not a calendar date (e.g. February 30).
    #[error("date: no such calendar date")]
    NoSuchDate,
    /// The date falls outside the era it names (e.g. 昭和64年1月8日 or 平成元年1月7日).
    #[error("date: outside the era it names")]
    OutsideEra,
}

const fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(x) => x,
        None => panic!("invalid era boundary constant"),
    }
}

impl Era {
    /// Every era, oldest first.
    pub const ALL: [Era; 5] = [Era::Meiji, Era::Taisho, Era::Showa, Era::Heisei, Era::Reiwa];

    /// The first day of the era (Gregorian).
    pub const fn first_day(self) -> NaiveDate {
        match self {
            Era::Meiji => ymd(1868, 1, 25),
            Era::Taisho => ymd(1912, 7, 30),
            Era::Showa => ymd(1926, 12, 25),
            Era::Heisei => ymd(1989, 1, 8),
            Era::Reiwa => ymd(2019, 5, 1),
        }
    }

    /// The last day of the era, or `None` for the current one.
    pub fn last_day(self) -> Option<NaiveDate> {
        let next = match self {
            Era::Meiji => Era::Taisho,
            Era::Taisho => Era::Showa,
            Era::Showa => Era::Heisei,
            Era::Heisei => Era::Reiwa,
            Era::Reiwa => return None,
        };
        next.first_day().pred_opt()
    }

    /// The kanji name (昭和).
    pub const fn name(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    /// The one-letter abbreviation used on forms and in receipts (S for 昭和).
    pub const fn letter(self) -> char {
        match self {
            Era::Meiji => 'M',
            Era::Taisho => 'T',
            Era::Showa => 'S',
            Era::Heisei => 'H',
            Era::Reiwa => 'R',
        }
    }

    /// The era a date belongs to, with the era year (1 = 元年). `None` before 明治.
    pub fn of(date: NaiveDate) -> Option<(Era, u32)> {
        let era = Era::ALL.iter().rev().find(|e| date >= e.first_day())?;
        let year = date.year() - era.first_day().year() + 1;
        Some((*era, u32::try_from(year).ok()?))
    }

    /// The Gregorian date of an era date, checked against the era's boundaries.
    pub fn to_date(self, year: u32, month: u32, day: u32) -> Result<NaiveDate, DateError> {
        if year == 0 {
            return Err(DateError::NoSuchDate);
        }
        let y = i32::try_from(year)
            .ok()
            .and_then(|y| self.first_day().year().checked_add(y - 1))
            .ok_or(DateError::OutsideEra)?;
        let date = NaiveDate::from_ymd_opt(y, month, day).ok_or(DateError::NoSuchDate)?;
        if date < self.first_day() || self.last_day().is_some_and(|last| date > last) {
            return Err(DateError::OutsideEra);
        }
        Ok(date)
    }

    fn from_name(s: &str) -> Option<(Era, usize)> {
        for e in Era::ALL {
            if s.starts_with(e.name()) {
                return Some((e, e.name().len()));
            }
        }
        let c = s.chars().next()?;
        let era = match c.to_ascii_uppercase() {
            'M' => Era::Meiji,
            'T' => Era::Taisho,
            'S' => Era::Showa,
            'H' => Era::Heisei,
            'R' => Era::Reiwa,
            // One-kanji abbreviations seen on forms (明, 大, 昭, 平, 令).
            '明' => Era::Meiji,
            '大' => Era::Taisho,
            '昭' => Era::Showa,
            '平' => Era::Heisei,
            '令' => Era::Reiwa,
            _ => return None,
        };
        Some((era, c.len_utf8()))
    }
}

/// The value of a kanji numeral (`四十五` = 45, `二〇二四` = 2024, `百二` = 102, `千九百七十` = 1970),
/// or of ASCII digits. `元` (the first year of an era) is 1. `None` if the text is anything else
/// or overflows.
pub fn kanji_numeral(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if s == "元" {
        return Some(1);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let digit = |c: char| -> Option<u32> {
        Some(match c {
            '〇' | '零' | '0' => 0,
            '一' | '壱' | '1' => 1,
            '二' | '弐' | '2' => 2,
            '三' | '参' | '3' => 3,
            '四' | '4' => 4,
            '五' | '5' => 5,
            '六' | '6' => 6,
            '七' | '7' => 7,
            '八' | '8' => 8,
            '九' | '9' => 9,
            _ => return None,
        })
    };
    let has_unit = s
        .chars()
        .any(|c| matches!(c, '十' | '拾' | '百' | '千' | '万'));
    if !has_unit {
        // Positional: 二〇二四, 一九七〇.
        let mut v: u32 = 0;
        for c in s.chars() {
            v = v.checked_mul(10)?.checked_add(digit(c)?)?;
        }
        return Some(v);
    }
    // Multiplicative: 千九百七十, 四十五, 十二, 百二, 三万五千.
    let mut total: u32 = 0; // completed 万 groups
    let mut section: u32 = 0; // below 万
    let mut pending: Option<u32> = None; // a digit (or digits) awaiting its unit
    for c in s.chars() {
        let unit = match c {
            '十' | '拾' => 10,
            '百' => 100,
            '千' => 1000,
            '万' => 10_000,
            _ => {
                let d = digit(c)?;
                pending = Some(pending.unwrap_or(0).checked_mul(10)?.checked_add(d)?);
                continue;
            }
        };
        if unit == 10_000 {
            let group = section.checked_add(pending.take().unwrap_or(0))?;
            if group == 0 {
                return None;
            }
            total = total.checked_add(group.checked_mul(10_000)?)?;
            section = 0;
        } else {
            section = section.checked_add(pending.take().unwrap_or(1).checked_mul(unit)?)?;
        }
    }
    total
        .checked_add(section)?
        .checked_add(pending.unwrap_or(0))
}

/// Split text into the numbers it contains (ASCII digit runs, kanji numeral runs, `元`),
/// dropping separators (`.`, `/`, `-`, `年`, `月`, `日`, spaces).
fn numbers(s: &str) -> Result<Vec<(u32, usize)>, DateError> {
    let is_num = |c: char| {
        c.is_ascii_digit()
            || matches!(
                c,
                '〇' | '零'
                    | '一'
                    | '二'
                    | '三'
                    | '四'
                    | '五'
                    | '六'
                    | '七'
                    | '八'
                    | '九'
                    | '十'
                    | '百'
                    | '千'
                    | '元'
            )
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<(u32, usize)>| -> Result<(), DateError> {
        if !cur.is_empty() {
            let digits = cur.chars().count();
            let v = kanji_numeral(cur).ok_or(DateError::Format)?;
            out.push((v, digits));
            cur.clear();
        }
        Ok(())
    };
    for c in s.chars() {
        if is_num(c) {
            cur.push(c);
        } else if matches!(c, '.' | '/' | '-' | '年' | '月' | '日' | ' ' | '・' | ',') {
            flush(&mut cur, &mut out)?;
        } else {
            return Err(DateError::Format);
        }
    }
    flush(&mut cur, &mut out)?;
    Ok(out)
}

/// Fold the characters people use in dates to one form: full-width digits and punctuation to
/// ASCII (so `１９７０／３／１２` reads), square era signs (㍼) to their names, hyphen look-alikes
/// to `-`.
fn fold(input: &str) -> String {
    let mut s = String::with_capacity(input.len());
    for c in input.trim().chars() {
        match c {
            '０'..='９' => s.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            'Ａ'..='Ｚ' => s.push(char::from(b'A' + (c as u32 - 'Ａ' as u32) as u8)),
            'ａ'..='ｚ' => s.push(char::from(b'A' + (c as u32 - 'ａ' as u32) as u8)),
            '．' | '。' => s.push('.'),
            '／' => s.push('/'),
            '－' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | 'ー' | 'ｰ' => {
                s.push('-')
            }
            '\u{3000}' | '\t' => s.push(' '),
            '㍾' => s.push_str("明治"),
            '㍽' => s.push_str("大正"),
            '㍼' => s.push_str("昭和"),
            '㍻' => s.push_str("平成"),
            '\u{32FF}' => s.push_str("令和"),
            _ => s.push(c),
        }
    }
    s
}

/// Parse a date in any of the accepted forms (see the module documentation).
pub fn parse_date(input: &str) -> Result<NaiveDate, DateError> {
    let s = fold(input);
    let s = s.trim();
    if s.is_empty() {
        return Err(DateError::Format);
    }
    if let Some((era, len)) = Era::from_name(s) {
        let rest = s[len..].trim_start();
        let n = numbers(rest)?;
        return match n.as_slice() {
            [(y, _), (m, _), (d, _)] => era.to_date(*y, *m, *d),
            // S451203 / 4501203-style compact forms: YYMMDD after the era letter.
            [(v, 6)] => era.to_date(v / 10_000, (v / 100) % 100, v % 100),
            _ => Err(DateError::Format),
        };
    }
    // Receipt (レセプト) style: one digit era code then YYMMDD (1=明治 … 5=令和), 7 digits.
    let n = numbers(s)?;
    let date = match n.as_slice() {
        [(y, _), (m, _), (d, _)] if *y >= 1000 => {
            NaiveDate::from_ymd_opt(i32::try_from(*y).map_err(|_| DateError::Format)?, *m, *d)
        }
        [(v, 8)] => NaiveDate::from_ymd_opt(
            i32::try_from(v / 10_000).map_err(|_| DateError::Format)?,
            (v / 100) % 100,
            v % 100,
        ),
        [(v, 7)] => {
            let era = match v / 1_000_000 {
                1 => Era::Meiji,
                2 => Era::Taisho,
                3 => Era::Showa,
                4 => Era::Heisei,
                5 => Era::Reiwa,
                _ => return Err(DateError::Format),
            };
            let r = v % 1_000_000;
            return era.to_date(r / 10_000, (r / 100) % 100, r % 100);
        }
        _ => return Err(DateError::Format),
    };
    date.ok_or(DateError::NoSuchDate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn era_forms() {
        for s in [
            "昭和45年3月12日",
            "昭和４５年３月１２日",
            "昭和四十五年三月十二日",
            "S45.03.12",
            "s45.3.12",
            "S45/03/12",
            "S45-3-12",
            "Ｓ４５．０３．１２",
            "昭45.3.12",
            "㍼45年3月12日",
            "S450312",
            "3450312",
            "1970-03-12",
            "1970/3/12",
            "19700312",
            "1970年3月12日",
            "一九七〇年三月十二日",
            "千九百七十年三月十二日",
            " 昭和 45年 3月 12日 ",
        ] {
            assert_eq!(parse_date(s), Ok(d(1970, 3, 12)), "{s}");
        }
    }

    #[test]
    fn gannen() {
        assert_eq!(parse_date("平成元年1月8日"), Ok(d(1989, 1, 8)));
        assert_eq!(parse_date("令和元年5月1日"), Ok(d(2019, 5, 1)));
        assert_eq!(parse_date("昭和元年12月25日"), Ok(d(1926, 12, 25)));
        assert_eq!(parse_date("大正元年7月30日"), Ok(d(1912, 7, 30)));
        assert_eq!(parse_date("明治元年1月25日"), Ok(d(1868, 1, 25)));
        assert_eq!(parse_date("H1.1.8"), Ok(d(1989, 1, 8)));
        assert_eq!(parse_date("R1.5.1"), Ok(d(2019, 5, 1)));
    }

    #[test]
    fn every_boundary() {
        use DateError::OutsideEra;
        // 明治
        assert_eq!(parse_date("明治元年1月24日"), Err(OutsideEra));
        assert_eq!(parse_date("明治元年1月25日"), Ok(d(1868, 1, 25)));
        assert_eq!(parse_date("明治45年7月29日"), Ok(d(1912, 7, 29)));
        assert_eq!(parse_date("明治45年7月30日"), Err(OutsideEra));
        // 大正
        assert_eq!(parse_date("大正元年7月29日"), Err(OutsideEra));
        assert_eq!(parse_date("T1.7.30"), Ok(d(1912, 7, 30)));
        assert_eq!(parse_date("大正15年12月24日"), Ok(d(1926, 12, 24)));
        assert_eq!(parse_date("大正15年12月25日"), Err(OutsideEra));
        // 昭和
        assert_eq!(parse_date("昭和元年12月24日"), Err(OutsideEra));
        assert_eq!(parse_date("S1.12.25"), Ok(d(1926, 12, 25)));
        assert_eq!(parse_date("昭和64年1月7日"), Ok(d(1989, 1, 7)));
        assert_eq!(parse_date("昭和64年1月8日"), Err(OutsideEra));
        assert_eq!(parse_date("S65.1.1"), Err(OutsideEra));
        // 平成
        assert_eq!(parse_date("平成元年1月7日"), Err(OutsideEra));
        assert_eq!(parse_date("平成元年1月8日"), Ok(d(1989, 1, 8)));
        assert_eq!(parse_date("H31.4.30"), Ok(d(2019, 4, 30)));
        assert_eq!(parse_date("平成31年5月1日"), Err(OutsideEra));
        // 令和
        assert_eq!(parse_date("令和元年4月30日"), Err(OutsideEra));
        assert_eq!(parse_date("令和元年5月1日"), Ok(d(2019, 5, 1)));
        assert_eq!(parse_date("R7.11.25"), Ok(d(2025, 11, 25)));
    }

    #[test]
    fn rejects() {
        assert_eq!(parse_date("昭和45年2月30日"), Err(DateError::NoSuchDate));
        assert_eq!(parse_date("昭和0年1月1日"), Err(DateError::NoSuchDate));
        assert_eq!(parse_date("1970-02-30"), Err(DateError::NoSuchDate));
        for s in [
            "",
            "昭和",
            "X45.3.12",
            "昭和45年3月",
            "70-3-12",
            "abc",
            "昭和四十五年三月十二日生",
        ] {
            assert_eq!(parse_date(s), Err(DateError::Format), "{s}");
        }
    }

    #[test]
    fn era_of_date() {
        assert_eq!(Era::of(d(1989, 1, 7)), Some((Era::Showa, 64)));
        assert_eq!(Era::of(d(1989, 1, 8)), Some((Era::Heisei, 1)));
        assert_eq!(Era::of(d(2019, 4, 30)), Some((Era::Heisei, 31)));
        assert_eq!(Era::of(d(2019, 5, 1)), Some((Era::Reiwa, 1)));
        assert_eq!(Era::of(d(1868, 1, 24)), None);
        assert_eq!(Era::Showa.last_day(), Some(d(1989, 1, 7)));
        assert_eq!(Era::Reiwa.last_day(), None);
    }

    #[test]
    fn kanji_numerals() {
        assert_eq!(kanji_numeral("四十五"), Some(45));
        assert_eq!(kanji_numeral("十"), Some(10));
        assert_eq!(kanji_numeral("十二"), Some(12));
        assert_eq!(kanji_numeral("二十"), Some(20));
        assert_eq!(kanji_numeral("百二"), Some(102));
        assert_eq!(kanji_numeral("千九百七十"), Some(1970));
        assert_eq!(kanji_numeral("二〇二四"), Some(2024));
        assert_eq!(kanji_numeral("三万五千"), Some(35_000));
        assert_eq!(kanji_numeral("元"), Some(1));
        assert_eq!(kanji_numeral("壱"), Some(1));
        assert_eq!(kanji_numeral("四x"), None);
        assert_eq!(kanji_numeral(""), None);
    }

    proptest::proptest! {
        #[test]
        fn roundtrip_era_form(days in 0i64..60_000) {
            let date = d(1868, 1, 25) + chrono::Duration::days(days);
            let (era, y) = Era::of(date).unwrap();
            let text = format!("{}{}.{}.{}", era.letter(), y, date.month(), date.day());
            proptest::prop_assert_eq!(parse_date(&text), Ok(date));
            let kanji = format!("{}{}年{}月{}日", era.name(), if y == 1 { "元".to_owned() } else { y.to_string() }, date.month(), date.day());
            proptest::prop_assert_eq!(parse_date(&kanji), Ok(date));
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = parse_date(&s);
        }
    }
}
