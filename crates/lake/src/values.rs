//! Value types of the lake's columns. Each parses, so a row cannot hold a value its column's
//! documentation rules out.

use std::fmt;

use chrono::NaiveDate;

use crate::LakeError;

/// The internal person id that keys every table: `psn-` and 1–64 ASCII letters or digits, made
/// by the vault from randomness, so it reveals nothing about the person. In an extract (a lake of
/// linked persons) the key is the linkage's person id instead, `per-` and digits, which names a
/// cluster of vault subjects and is just as meaningless outside the producer. `Debug` and
/// `Display` print it: it is a pseudonym, not an identifier (it still never goes into a release;
/// the release path swaps it for release-scoped ids).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(String);

impl PersonId {
    const PREFIXES: [&'static str; 2] = ["psn-", "per-"];

    /// Parse an id made by the vault (`psn-…`) or by the linkage (`per-…`).
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let Some(rest) = Self::PREFIXES.iter().find_map(|p| s.strip_prefix(p)) else {
            return Err("person id must start with psn- or per-");
        };
        if rest.is_empty() || rest.len() > 64 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("person id must be psn- or per- and 1 to 64 ASCII letters or digits");
        }
        Ok(PersonId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonId({})", self.0)
    }
}

/// A calendar month, stored as the Date32 of its first day. Used for the birth month (the full
/// birth date is identifying and stays in the vault) and for a claim's service month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth(NaiveDate);

impl YearMonth {
    /// A month; `None` if the month is not 1–12 or the year is outside chrono's range.
    pub fn new(year: i32, month: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, 1).map(YearMonth)
    }

    /// The month a date falls in.
    pub fn of(date: NaiveDate) -> Self {
        use chrono::Datelike;
        // Day 1 of a valid date's own month always exists.
        YearMonth(date.with_day(1).unwrap_or(date))
    }

    /// The first day of the month.
    pub fn first_day(self) -> NaiveDate {
        self.0
    }
}

/// The first three digits of a 郵便番号: an area of tens of thousands of people or more, coarse
/// enough for the lake (the full code and the address stay in the vault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Postal3([u8; 3]);

impl Postal3 {
    /// Parse three ASCII digits.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        match s.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => Ok(Postal3([*a, *b, *c])),
            _ => Err("postal prefix must be 3 ASCII digits"),
        }
    }

    /// The prefix of a full postal code.
    pub fn of(code: &tsunagu_model::PostalCode) -> Self {
        let b = code.as_str().as_bytes();
        // A PostalCode is always 7 ASCII digits.
        Postal3([b[0], b[1], b[2]])
    }

    /// The three digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("000")
    }
}

/// Declares a closed vocabulary stored as text, with its spelling in the lake.
macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The spelling in the lake.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }

            /// Parse the lake's spelling.
            pub fn parse(s: &str) -> Result<Self, &'static str> {
                match s {
                    $($s => Ok($name::$v),)+
                    _ => Err(concat!("not a value of ", stringify!($name))),
                }
            }
        }
    };
}

vocabulary!(
    /// Encounter class.
    EncounterClass {
        /// 外来.
        Outpatient = "outpatient",
        /// 入院.
        Inpatient = "inpatient",
        /// 救急.
        Emergency = "emergency",
        /// 在宅 / 訪問.
        Home = "home",
        /// Anything else the source coded.
        Other = "other",
    }
);

vocabulary!(
    /// What kind of medication record.
    MedicationKind {
        /// 処方 (oral or external medicine ordered).
        Prescription = "prescription",
        /// 注射 ordered.
        Injection = "injection",
        /// Given to the patient (実施).
        Administration = "administration",
        /// Dispensed by a pharmacy (調剤).
        Dispensing = "dispensing",
        /// Reported as taken (FHIR MedicationStatement).
        Statement = "statement",
    }
);

vocabulary!(
    /// Observation category.
    ObservationCategory {
        /// 検体検査.
        Laboratory = "laboratory",
        /// Vital signs and body measurements.
        VitalSigns = "vital-signs",
        /// Anything else.
        Other = "other",
    }
);

vocabulary!(
    /// Which check-up programme a check-up record belongs to.
    CheckupProgram {
        /// 特定健康診査 (insurers, ages 40–74).
        TokuteiKenshin = "tokutei_kenshin",
        /// 乳児健診 at about 4 months (municipality).
        Infant4m = "infant_4m",
        /// 1歳6か月児健診 (母子保健法 §12).
        Infant18m = "infant_18m",
        /// 3歳児健診 (母子保健法 §12).
        Infant3y = "infant_3y",
        /// 学校健診 (学校保健安全法).
        School = "school",
        /// Another programme.
        Other = "other",
    }
);

/// A table of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per person per provider: sex, birth month, death, coarse residence.
    Persons,
    /// Visits and admissions.
    Encounters,
    /// Diagnoses.
    Conditions,
    /// Prescriptions, injections, dispensings.
    Medications,
    /// Lab results and vital signs.
    Observations,
    /// Procedures performed.
    Procedures,
    /// Results of 特定健診, school and infant check-ups.
    Checkups,
    /// Lines of insurance claims (レセプト).
    Claims,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 8] = [
        Table::Persons,
        Table::Encounters,
        Table::Conditions,
        Table::Medications,
        Table::Observations,
        Table::Procedures,
        Table::Checkups,
        Table::Claims,
    ];

    /// The table's name: its directory in the lake and its name in key labels.
    pub fn name(self) -> &'static str {
        match self {
            Table::Persons => "persons",
            Table::Encounters => "encounters",
            Table::Conditions => "conditions",
            Table::Medications => "medications",
            Table::Observations => "observations",
            Table::Procedures => "procedures",
            Table::Checkups => "checkups",
            Table::Claims => "claims",
        }
    }

    /// The table of a name.
    pub fn from_name(s: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == s)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name of a part file, chosen by the caller and deterministic for its input (for example
/// `ssmix2-<sha256 of the source>`), so that re-running an interrupted ingest rewrites the same
/// part instead of adding a second copy. 1–128 characters of `a-z 0-9 - _ .`, starting with a
/// letter or digit: it names a file, so nothing that could escape the table directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartName(String);

impl PartName {
    /// Parse a part name.
    pub fn parse(s: &str) -> Result<Self, LakeError> {
        let ok_first = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok_first
            || s.len() > 128
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        {
            return Err(LakeError::PartName(
                "must be 1-128 characters of a-z, 0-9, '-', '_', '.', starting with a letter or digit",
            ));
        }
        Ok(PartName(s.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_ids_parse_strictly() {
        assert_eq!(
            PersonId::parse("psn-7K3M9Q").unwrap().as_str(),
            "psn-7K3M9Q"
        );
        for bad in [
            "",
            "psn-",
            "prs-ABC",
            "psn-AB C",
            "psn-山田",
            &format!("psn-{}", "A".repeat(65)),
        ] {
            assert!(PersonId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn part_names_cannot_escape_the_table() {
        assert!(PartName::parse("ssmix2-0a1b2c.v1").is_ok());
        for bad in ["", "../x", ".hidden", "a/b", "A", "x y", &"a".repeat(129)] {
            assert!(PartName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vocabularies_round_trip() {
        for v in CheckupProgram::ALL {
            assert_eq!(CheckupProgram::parse(v.as_str()), Ok(*v));
        }
        for v in EncounterClass::ALL {
            assert_eq!(EncounterClass::parse(v.as_str()), Ok(*v));
        }
        assert!(ObservationCategory::parse("lab").is_err());
        for t in Table::ALL {
            assert_eq!(Table::from_name(t.name()), Some(t));
        }
    }

    #[test]
    fn postal_prefix_and_month() {
        let pc = tsunagu_model::PostalCode::parse("100-0001").unwrap();
        assert_eq!(Postal3::of(&pc).as_str(), "100");
        assert!(Postal3::parse("10").is_err() && Postal3::parse("1a0").is_err());
        let d = NaiveDate::from_ymd_opt(1961, 7, 23).unwrap();
        assert_eq!(YearMonth::of(d), YearMonth::new(1961, 7).unwrap());
        assert!(YearMonth::new(2000, 13).is_none());
    }
}
