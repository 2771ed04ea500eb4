//! Administrative sex, as recorded by providers.

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// Administrative sex. Providers code it as 1/2 (receipts, JIS X 0303), 男/女, M/F or FHIR's
/// `male`/`female`; all parse to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// 男.
    Male,
    /// 女.
    Female,
    /// Recorded as neither.
    Other,
    /// Not known or not recorded (JIS X 0303 code 0 or 9).
    Unknown,
}

impl Sex {
    /// Parse any of the common codings.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let t = input.trim();
        Ok(match t {
            "1" | "１" | "男" | "男性" | "M" | "m" | "male" | "Male" | "MALE" => Sex::Male,
            "2" | "２" | "女" | "女性" | "F" | "f" | "female" | "Female" | "FEMALE" => {
                Sex::Female
            }
            "O" | "o" | "other" | "その他" => Sex::Other,
            "" | "0" | "9" | "U" | "u" | "unknown" | "不明" => Sex::Unknown,
            _ => {
                return Err(ParseError::new(
                    "sex",
                    "must be 1/2, 男/女, M/F or male/female",
                ));
            }
        })
    }

    /// The name used in files and the lake.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codings_agree() {
        for s in ["1", "男", "M", "male"] {
            assert_eq!(Sex::parse(s).unwrap(), Sex::Male);
        }
        for s in ["2", "女", "F", "female"] {
            assert_eq!(Sex::parse(s).unwrap(), Sex::Female);
        }
        assert!(Sex::parse("3").is_err());
    }
}
