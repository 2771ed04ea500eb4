//! Japanese era (和暦) date formatting, as many clinic and municipal systems print birth dates.

use chrono::{Datelike, NaiveDate};

/// An era: kanji name, one-letter abbreviation, first day.
struct Era {
    name: &'static str,
    letter: char,
    start: (i32, u32, u32),
}

/// Eras from the Meiji era on, newest first. Start days as proclaimed (明治 from 1868-01-25 as
/// the Gregorian equivalent of the start of Meiji 1, the convention of date libraries).
const ERAS: [Era; 5] = [
    Era {
        name: "令和",
        letter: 'R',
        start: (2019, 5, 1),
    },
    Era {
        name: "平成",
        letter: 'H',
        start: (1989, 1, 8),
    },
    Era {
        name: "昭和",
        letter: 'S',
        start: (1926, 12, 25),
    },
    Era {
        name: "大正",
        letter: 'T',
        start: (1912, 7, 30),
    },
    Era {
        name: "明治",
        letter: 'M',
        start: (1868, 1, 25),
    },
];

/// How an era date is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EraStyle {
    /// 昭和45年1月1日 (first year written 元年).
    Kanji,
    /// S45.01.01
    Letter,
}

/// Format `date` in the Japanese era form, or `None` before the Meiji era.
pub fn format(date: NaiveDate, style: EraStyle) -> Option<String> {
    let era = ERAS.iter().find(|e| {
        NaiveDate::from_ymd_opt(e.start.0, e.start.1, e.start.2).is_some_and(|s| date >= s)
    })?;
    let year = date.year() - era.start.0 + 1;
    Some(match style {
        EraStyle::Kanji => {
            let y = if year == 1 {
                "元".to_owned()
            } else {
                year.to_string()
            };
            format!("{}{}年{}月{}日", era.name, y, date.month(), date.day())
        }
        EraStyle::Letter => {
            format!(
                "{}{:02}.{:02}.{:02}",
                era.letter,
                year,
                date.month(),
                date.day()
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn era_boundaries() {
        assert_eq!(
            format(d(1970, 1, 1), EraStyle::Kanji).unwrap(),
            "昭和45年1月1日"
        );
        assert_eq!(
            format(d(1989, 1, 7), EraStyle::Letter).unwrap(),
            "S64.01.07"
        );
        assert_eq!(
            format(d(1989, 1, 8), EraStyle::Kanji).unwrap(),
            "平成元年1月8日"
        );
        assert_eq!(
            format(d(2019, 4, 30), EraStyle::Letter).unwrap(),
            "H31.04.30"
        );
        assert_eq!(
            format(d(2019, 5, 1), EraStyle::Kanji).unwrap(),
            "令和元年5月1日"
        );
        assert_eq!(
            format(d(1926, 12, 24), EraStyle::Letter).unwrap(),
            "T15.12.24"
        );
        assert_eq!(
            format(d(1912, 7, 29), EraStyle::Letter).unwrap(),
            "M45.07.29"
        );
        assert!(format(d(1800, 1, 1), EraStyle::Kanji).is_none());
    }

    proptest::proptest! {
        #[test]
        fn every_era_date_parses_back_with_the_model_parser(days in 0i64..(365 * 200)) {
            let date = d(1868, 1, 25) + chrono::Days::new(days as u64);
            for style in [EraStyle::Kanji, EraStyle::Letter] {
                let s = format(date, style).unwrap();
                proptest::prop_assert_eq!(tsunagu_model::era::parse_date(&s).unwrap(), date, "{}", s);
            }
        }
    }
}
