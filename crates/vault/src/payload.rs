//! What the vault keeps about a person: everything that says who they are. Serialised to JSON
//! and sealed; never stored or logged in the clear. `Debug` prints counts only.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tsunagu_model::Sex;

use crate::{Error, Result};

/// Which script a name is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameKind {
    /// 漢字 (HL7 `I`, FHIR `IDE`).
    Kanji,
    /// カナ reading (HL7 `P`, FHIR `SYL`).
    Kana,
    /// Latin letters (HL7 `A`, FHIR `ABC`).
    Alphabetic,
    /// Not stated.
    Unspecified,
}

/// A person's name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PersonName {
    /// Kanji, kana…
    pub kind: NameKind,
    /// 姓.
    #[serde(default)]
    pub family: Option<String>,
    /// 名 (several given names joined by a space).
    #[serde(default)]
    pub given: Option<String>,
    /// The whole name as written, when the source gives one.
    #[serde(default)]
    pub full: Option<String>,
}

/// A postal address.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Address {
    /// 郵便番号 as given (seven digits when valid).
    #[serde(default)]
    pub postal_code: Option<String>,
    /// The address as one line.
    #[serde(default)]
    pub text: Option<String>,
}

/// The numbers on a health insurance card: 保険者番号, 記号, 番号, 枝番.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InsuranceCard {
    /// 保険者番号.
    #[serde(default)]
    pub insurer_number: Option<String>,
    /// 被保険者証記号.
    #[serde(default)]
    pub symbol: Option<String>,
    /// 被保険者証番号.
    #[serde(default)]
    pub number: Option<String>,
    /// 枝番.
    #[serde(default)]
    pub branch: Option<String>,
}

/// Another identifier of the person (個人識別符号 and the like): a system and a value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OtherIdentifier {
    /// Which system issued it (a URI or a short name).
    pub system: String,
    /// The identifier.
    pub value: String,
}

/// A date known to a year, a month or a day (sources do not always give a full birth date).
/// Written `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PartialDate {
    /// Only the year.
    Year(i32),
    /// Year and month (1–12).
    Month(i32, u32),
    /// A full date.
    Day(NaiveDate),
}

impl PartialDate {
    /// Parse `YYYY`, `YYYY-MM` or `YYYY-MM-DD`; impossible dates are refused.
    pub fn parse(input: &str) -> Result<Self> {
        const BAD: Error = Error::Input {
            what: "date",
            why: "must be YYYY, YYYY-MM or YYYY-MM-DD and a real date",
        };
        let t = input.trim();
        if !t.is_ascii() {
            return Err(BAD);
        }
        let year = |s: &str| -> Result<i32> {
            if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().map_err(|_| BAD)
            } else {
                Err(BAD)
            }
        };
        match t.len() {
            4 => Ok(PartialDate::Year(year(t)?)),
            7 if t.as_bytes()[4] == b'-' => {
                let y = year(&t[..4])?;
                let m_text = &t[5..];
                if !m_text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(BAD);
                }
                let m: u32 = m_text.parse().map_err(|_| BAD)?;
                if (1..=12).contains(&m) {
                    Ok(PartialDate::Month(y, m))
                } else {
                    Err(BAD)
                }
            }
            10 if t.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            }) =>
            {
                NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .map(PartialDate::Day)
                    .map_err(|_| BAD)
            }
            _ => Err(BAD),
        }
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartialDate::Year(y) => write!(f, "{y:04}"),
            PartialDate::Month(y, m) => write!(f, "{y:04}-{m:02}"),
            PartialDate::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
        }
    }
}

impl fmt::Debug for PartialDate {
    // A birth date is personal data: Debug shows the precision only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PartialDate::Year(_) => "PartialDate(year, redacted)",
            PartialDate::Month(..) => "PartialDate(month, redacted)",
            PartialDate::Day(_) => "PartialDate(day, redacted)",
        })
    }
}

impl TryFrom<String> for PartialDate {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        PartialDate::parse(&s)
    }
}

impl From<PartialDate> for String {
    fn from(d: PartialDate) -> String {
        d.to_string()
    }
}

/// Everything that says who a person is, as one provider knows them.
///
/// Lists are kept as a set: [`crate::Vault::put_identity`] stores them sorted and without
/// duplicates, so the same facts presented in another order are the same content.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityPayload {
    /// The provider's own patient id (カルテ番号 / 患者ID).
    pub local_patient_id: Option<String>,
    /// Names, kanji and kana.
    pub names: Vec<PersonName>,
    /// 生年月日, with the precision the source gave.
    pub birth_date: Option<PartialDate>,
    /// Administrative sex.
    pub sex: Option<Sex>,
    /// Addresses.
    pub addresses: Vec<Address>,
    /// Telephone numbers as written.
    pub phones: Vec<String>,
    /// Insurance cards.
    pub insurance: Vec<InsuranceCard>,
    /// Other identifiers (My Number, passport, licence…).
    pub other_identifiers: Vec<OtherIdentifier>,
    /// Date of death, when recorded.
    pub deceased: Option<PartialDate>,
}

impl IdentityPayload {
    /// The canonical form: every list sorted and deduplicated.
    pub fn canonical(mut self) -> Self {
        fn set<T: Ord>(v: &mut Vec<T>) {
            v.sort();
            v.dedup();
        }
        set(&mut self.names);
        set(&mut self.addresses);
        set(&mut self.phones);
        set(&mut self.insurance);
        set(&mut self.other_identifiers);
        self
    }

    /// The bytes that are sealed and digested: JSON of the canonical form. Field order is the
    /// struct's, so equal content gives equal bytes.
    pub(crate) fn to_canonical_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.clone().canonical())
            .map_err(|_| Error::Corrupt("identity payload cannot be serialised".into()))
    }
}

impl fmt::Debug for IdentityPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityPayload")
            .field("local_patient_id", &self.local_patient_id.is_some())
            .field("names", &self.names.len())
            .field("birth_date", &self.birth_date.is_some())
            .field("sex", &self.sex.is_some())
            .field("addresses", &self.addresses.len())
            .field("phones", &self.phones.len())
            .field("insurance", &self.insurance.len())
            .field("other_identifiers", &self.other_identifiers.len())
            .field("deceased", &self.deceased.is_some())
            .finish()
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonName({:?}, redacted)", self.kind)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Address(redacted)")
    }
}

impl fmt::Debug for InsuranceCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InsuranceCard(redacted)")
    }
}

impl fmt::Debug for OtherIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtherIdentifier(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partial_dates_parse_and_round_trip() {
        for s in ["1948", "1948-02", "1948-02-29"] {
            assert_eq!(PartialDate::parse(s).unwrap().to_string(), s);
        }
        for s in [
            "1949-02-29",
            "1948-13",
            "1948-2",
            "48",
            "１９４８",
            "1948-02-3x",
            "",
        ] {
            assert!(PartialDate::parse(s).is_err(), "{s}");
        }
        let d = PartialDate::parse("1948-02-29").unwrap();
        assert!(!format!("{d:?}").contains("1948"));
    }

    #[test]
    fn canonical_form_ignores_order_and_duplicates() {
        let a = IdentityPayload {
            phones: vec!["2".into(), "1".into(), "2".into()],
            ..Default::default()
        };
        let b = IdentityPayload {
            phones: vec!["1".into(), "2".into()],
            ..Default::default()
        };
        assert_eq!(
            a.to_canonical_json().unwrap(),
            b.to_canonical_json().unwrap()
        );
    }

    #[test]
    fn debug_shows_no_content() {
        let p = IdentityPayload {
            local_patient_id: Some("P-778899".into()),
            names: vec![PersonName {
                kind: NameKind::Kanji,
                family: Some("山田".into()),
                given: Some("花子".into()),
                full: None,
            }],
            phones: vec!["090-1111-2222".into()],
            addresses: vec![Address {
                postal_code: Some("1000001".into()),
                text: Some("東京都千代田区千代田1-1".into()),
            }],
            ..Default::default()
        };
        let d = format!("{p:?} {:?} {:?}", p.names, p.addresses);
        for secret in ["778899", "山田", "花子", "1111", "1000001", "千代田"] {
            assert!(!d.contains(secret), "{d}");
        }
    }

    proptest! {
        #[test]
        fn partial_date_parse_never_panics(s in ".{0,12}") {
            if let Ok(d) = PartialDate::parse(&s) {
                prop_assert_eq!(PartialDate::parse(&d.to_string()).unwrap(), d);
            }
        }
    }
}
