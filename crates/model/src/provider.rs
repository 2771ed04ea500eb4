//! Providers (医療情報取扱事業者): their kinds and official codes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// The kinds of provider the Act names (design §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// 病院 (20 beds or more).
    Hospital,
    /// 診療所.
    Clinic,
    /// 薬局.
    Pharmacy,
    /// 介護事業所.
    CareFacility,
    /// 地方公共団体 (infant check-ups, vaccination, care insurance).
    Municipality,
    /// 医療保険者 (claims, 特定健診).
    Insurer,
    /// 学校設置者 (school check-ups).
    SchoolOperator,
}

impl ProviderKind {
    /// Every kind, in the order of design §1.
    pub const ALL: [ProviderKind; 7] = [
        ProviderKind::Hospital,
        ProviderKind::Clinic,
        ProviderKind::Pharmacy,
        ProviderKind::CareFacility,
        ProviderKind::Municipality,
        ProviderKind::Insurer,
        ProviderKind::SchoolOperator,
    ];

    /// The name used on the command line, in files and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Hospital => "hospital",
            ProviderKind::Clinic => "clinic",
            ProviderKind::Pharmacy => "pharmacy",
            ProviderKind::CareFacility => "care_facility",
            ProviderKind::Municipality => "municipality",
            ProviderKind::Insurer => "insurer",
            ProviderKind::SchoolOperator => "school_operator",
        }
    }

    /// The Japanese name, for documents a person reads.
    pub fn japanese(self) -> &'static str {
        match self {
            ProviderKind::Hospital => "病院",
            ProviderKind::Clinic => "診療所",
            ProviderKind::Pharmacy => "薬局",
            ProviderKind::CareFacility => "介護事業所",
            ProviderKind::Municipality => "地方公共団体",
            ProviderKind::Insurer => "医療保険者",
            ProviderKind::SchoolOperator => "学校設置者",
        }
    }

    /// Parse the name used on the command line.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        ProviderKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or(ParseError::new(
                "provider kind",
                "must be one of hospital, clinic, pharmacy, care_facility, municipality, insurer, school_operator",
            ))
    }

    /// How many digits an official code of this kind has: 医療機関コード (7, or 10 with the
    /// prefecture and table prefix), 介護保険事業所番号 (10), 地方公共団体コード (6),
    /// 保険者番号 (8, or 6 for 国民健康保険), and no national scheme for school operators.
    fn code_lengths(self) -> &'static [usize] {
        match self {
            ProviderKind::Hospital | ProviderKind::Clinic | ProviderKind::Pharmacy => &[7, 10],
            ProviderKind::CareFacility => &[10],
            ProviderKind::Municipality => &[6],
            ProviderKind::Insurer => &[6, 8],
            ProviderKind::SchoolOperator => &[4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        ProviderKind::parse(s)
    }
}

/// A provider's official code, digits only (full-width digits and hyphens accepted on input).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProviderCode(String);

impl ProviderCode {
    /// Parse a code for a provider of `kind`, checking the number of digits that kind uses.
    pub fn parse(kind: ProviderKind, input: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "provider code";
        let mut digits = String::with_capacity(input.len());
        for c in input.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                // Full-width digits, as typed in Japanese input methods.
                '０'..='９' => digits.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
                '-' | '－' | 'ー' | ' ' => {}
                _ => return Err(ParseError::new(WHAT, "must contain digits only")),
            }
        }
        if !kind.code_lengths().contains(&digits.len()) {
            return Err(ParseError::new(
                WHAT,
                match kind {
                    ProviderKind::Hospital | ProviderKind::Clinic | ProviderKind::Pharmacy => {
                        "a 医療機関コード has 7 digits (10 with prefecture and table)"
                    }
                    ProviderKind::CareFacility => "a 介護保険事業所番号 has 10 digits",
                    ProviderKind::Municipality => "a 地方公共団体コード has 6 digits",
                    ProviderKind::Insurer => "a 保険者番号 has 8 digits (6 for 国民健康保険)",
                    ProviderKind::SchoolOperator => "must have 4 to 13 digits",
                },
            ));
        }
        Ok(ProviderCode(digits))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(k.as_str()).unwrap(), k);
        }
        assert!(ProviderKind::parse("dentist").is_err());
    }

    #[test]
    fn codes_by_kind() {
        assert_eq!(
            ProviderCode::parse(ProviderKind::Hospital, "１３１２３４５")
                .unwrap()
                .as_str(),
            "1312345"
        );
        assert!(ProviderCode::parse(ProviderKind::Insurer, "06131234").is_ok());
        assert!(ProviderCode::parse(ProviderKind::Insurer, "0613123").is_err());
        assert!(ProviderCode::parse(ProviderKind::Municipality, "131016").is_ok());
        assert!(ProviderCode::parse(ProviderKind::Clinic, "13a2345").is_err());
    }
}
