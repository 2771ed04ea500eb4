//! Reference data the generator draws from: names, postal codes, prefectures, the population
//! pyramid. Everything is embedded at compile time and parsed once; a parse failure is a build
//! defect (the files ship with the crate), reported as [`crate::Error::Reference`].

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::Error;

const FAMILY_NAMES: &str = include_str!("../data/family_names.csv");
const GIVEN_NAMES: &str = include_str!("../data/given_names.csv");

/// A prefecture: JIS X 0401 code, name, 2020 census population in thousands, and the area code
/// of its capital's fixed-line numbers (used to make plausible home phone numbers).
pub struct Prefecture {
    /// JIS X 0401 code, 1..=47.
    pub code: u8,
    /// Name as Japan Post writes it (with 都/道/府/県).
    pub name: &'static str,
    /// Population in thousands, 2020 census (令和2年国勢調査 人口等基本集計), rounded.
    pub pop_k: u32,
    /// Area code of the capital, with the leading 0.
    pub area_code: &'static str,
}

macro_rules! pref {
    ($c:expr, $n:expr, $p:expr, $a:expr) => {
        Prefecture {
            code: $c,
            name: $n,
            pop_k: $p,
            area_code: $a,
        }
    };
}

/// The 47 prefectures in JIS order. Populations: 2020 census (令和2年国勢調査), thousands.
pub static PREFECTURES: [Prefecture; 47] = [
    pref!(1, "北海道", 5225, "011"),
    pref!(2, "青森県", 1238, "017"),
    pref!(3, "岩手県", 1211, "019"),
    pref!(4, "宮城県", 2302, "022"),
    pref!(5, "秋田県", 960, "018"),
    pref!(6, "山形県", 1068, "023"),
    pref!(7, "福島県", 1833, "024"),
    pref!(8, "茨城県", 2867, "029"),
    pref!(9, "栃木県", 1933, "028"),
    pref!(10, "群馬県", 1939, "027"),
    pref!(11, "埼玉県", 7345, "048"),
    pref!(12, "千葉県", 6284, "043"),
    pref!(13, "東京都", 14048, "03"),
    pref!(14, "神奈川県", 9237, "045"),
    pref!(15, "新潟県", 2201, "025"),
    pref!(16, "富山県", 1035, "076"),
    pref!(17, "石川県", 1133, "076"),
    pref!(18, "福井県", 767, "0776"),
    pref!(19, "山梨県", 810, "055"),
    pref!(20, "長野県", 2048, "026"),
    pref!(21, "岐阜県", 1979, "058"),
    pref!(22, "静岡県", 3633, "054"),
    pref!(23, "愛知県", 7542, "052"),
    pref!(24, "三重県", 1770, "059"),
    pref!(25, "滋賀県", 1414, "077"),
    pref!(26, "京都府", 2578, "075"),
    pref!(27, "大阪府", 8838, "06"),
    pref!(28, "兵庫県", 5465, "078"),
    pref!(29, "奈良県", 1324, "0742"),
    pref!(30, "和歌山県", 923, "073"),
    pref!(31, "鳥取県", 553, "0857"),
    pref!(32, "島根県", 671, "0852"),
    pref!(33, "岡山県", 1888, "086"),
    pref!(34, "広島県", 2800, "082"),
    pref!(35, "山口県", 1342, "083"),
    pref!(36, "徳島県", 720, "088"),
    pref!(37, "香川県", 950, "087"),
    pref!(38, "愛媛県", 1335, "089"),
    pref!(39, "高知県", 692, "088"),
    pref!(40, "福岡県", 5135, "092"),
    pref!(41, "佐賀県", 811, "0952"),
    pref!(42, "長崎県", 1312, "095"),
    pref!(43, "熊本県", 1738, "096"),
    pref!(44, "大分県", 1124, "097"),
    pref!(45, "宮崎県", 1070, "0985"),
    pref!(46, "鹿児島県", 1588, "099"),
    pref!(47, "沖縄県", 1467, "098"),
];

/// Japan's population by five-year age band, 2020 census (令和2年国勢調査), thousands, both
/// sexes, bands 0–4, 5–9, …, 95–99, 100+ (ages with unknown age left out).
pub const PYRAMID_2020_K: [u32; 21] = [
    4541, 5114, 5376, 5706, 6320, 6384, 6714, 7498, 8476, 9868, 8738, 7940, 7442, 8236, 9189, 7065,
    5404, 3742, 1757, 493, 80,
];

/// Share of men in each band of [`PYRAMID_2020_K`] (2020 census, rounded): slightly above one
/// half in youth, falling steeply past 80 as women live longer.
pub const MALE_SHARE_2020: [f64; 21] = [
    0.512, 0.512, 0.513, 0.514, 0.513, 0.512, 0.509, 0.507, 0.506, 0.506, 0.503, 0.500, 0.494,
    0.486, 0.470, 0.448, 0.412, 0.355, 0.272, 0.190, 0.120,
];

/// A family name: kanji and katakana reading.
pub struct FamilyName {
    /// Kanji spelling.
    pub kanji: String,
    /// Katakana reading.
    pub kana: String,
}

/// A given name: kanji and katakana reading.
pub struct GivenName {
    /// Kanji spelling.
    pub kanji: String,
    /// Katakana reading.
    pub kana: String,
}

/// One postal-code row: code, prefecture index into [`PREFECTURES`], municipality index into
/// [`Reference::municipalities`], town.
pub struct PostalRow {
    /// Seven digits.
    pub code: String,
    /// Index into [`PREFECTURES`].
    pub pref: u8,
    /// Index into [`Reference::municipalities`].
    pub muni: u32,
    /// 町域 (may be empty for municipality-level codes).
    pub town: String,
}

/// A municipality (市区町村, with a 政令市's 区 kept as Japan Post writes it).
pub struct Municipality {
    /// Index into [`PREFECTURES`].
    pub pref: u8,
    /// Name as Japan Post writes it (e.g. 札幌市北区).
    pub name: String,
    /// The local government (地方公共団体) it belongs to: a 政令市's 区 belongs to the city.
    pub government: u32,
    /// Number of postal rows with a town (our proxy for its size).
    pub rows: u32,
}

/// A local government (地方公共団体): a city, ward of Tokyo, town or village.
pub struct Government {
    /// Index into [`PREFECTURES`].
    pub pref: u8,
    /// Name (e.g. 札幌市).
    pub name: String,
    /// 全国地方公共団体コード (6 digits with check digit). The prefecture part is the real JIS
    /// code; the three-digit municipal part is assigned in Japan Post order, so codes look
    /// official but do not equal the real ones.
    pub code: String,
}

/// All reference tables, parsed once.
pub struct Reference {
    /// Family names.
    pub family: Vec<FamilyName>,
    /// Male given names.
    pub given_male: Vec<GivenName>,
    /// Female given names.
    pub given_female: Vec<GivenName>,
    /// Postal rows.
    pub postal: Vec<PostalRow>,
    /// Municipalities.
    pub municipalities: Vec<Municipality>,
    /// Local governments.
    pub governments: Vec<Government>,
    /// For each prefecture, the postal rows with a town (or the municipality-level row where a
    /// municipality has no other).
    pub rows_by_pref: Vec<Vec<u32>>,
    /// Cumulative prefecture population weights (for sampling).
    pub pref_cum: Vec<f64>,
}

static REFERENCE: OnceLock<Result<Reference, String>> = OnceLock::new();

/// The parsed reference tables.
pub fn reference() -> Result<&'static Reference, Error> {
    REFERENCE
        .get_or_init(build)
        .as_ref()
        .map_err(|e| Error::Reference(e.clone()))
}

fn build() -> Result<Reference, String> {
    let mut family = Vec::new();
    for (i, line) in FAMILY_NAMES.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 3 {
            return Err(format!(
                "family_names.csv line {}: expected 3 fields",
                i + 1
            ));
        }
        family.push(FamilyName {
            kanji: f[0].to_owned(),
            kana: f[2].to_owned(),
        });
    }
    let (mut given_male, mut given_female) = (Vec::new(), Vec::new());
    for (i, line) in GIVEN_NAMES.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 4 {
            return Err(format!("given_names.csv line {}: expected 4 fields", i + 1));
        }
        let g = GivenName {
            kanji: f[0].to_owned(),
            kana: f[2].to_owned(),
        };
        match f[3] {
            "male" => given_male.push(g),
            "female" => given_female.push(g),
            _ => return Err(format!("given_names.csv line {}: bad sex", i + 1)),
        }
    }
    let pref_index: HashMap<&str, u8> = PREFECTURES
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name, i as u8))
        .collect();
    let mut postal = Vec::new();
    let mut municipalities: Vec<Municipality> = Vec::new();
    let mut muni_index: HashMap<(u8, String), u32> = HashMap::new();
    let mut governments: Vec<Government> = Vec::new();
    let mut gov_index: HashMap<(u8, String), u32> = HashMap::new();
    let mut gov_seq = [0u32; 47];
    let table = tsunagu_model::postal::table();
    for code in table.codes() {
        for place in table.places(code) {
            let f = [
                code.as_str(),
                place.prefecture,
                place.municipality,
                place.town,
            ];
            let pref = *pref_index.get(f[1]).ok_or_else(|| {
                format!(
                    "postal code table: unknown prefecture at code index {}",
                    postal.len()
                )
            })?;
            let key = (pref, f[2].to_owned());
            let muni = match muni_index.get(&key) {
                Some(&m) => m,
                None => {
                    let gname = government_name(f[2]);
                    let gkey = (pref, gname.to_owned());
                    let government = match gov_index.get(&gkey) {
                        Some(&g) => g,
                        None => {
                            gov_seq[pref as usize] += 1;
                            let five = format!(
                                "{:02}{:03}",
                                PREFECTURES[pref as usize].code,
                                100 + gov_seq[pref as usize]
                            );
                            let code = crate::codes::with_municipality_check(&five)
                                .ok_or("municipality code")?;
                            governments.push(Government {
                                pref,
                                name: gname.to_owned(),
                                code,
                            });
                            let g = (governments.len() - 1) as u32;
                            gov_index.insert(gkey, g);
                            g
                        }
                    };
                    municipalities.push(Municipality {
                        pref,
                        name: f[2].to_owned(),
                        government,
                        rows: 0,
                    });
                    let m = (municipalities.len() - 1) as u32;
                    muni_index.insert(key, m);
                    m
                }
            };
            if !f[3].is_empty() {
                municipalities[muni as usize].rows += 1;
            }
            postal.push(PostalRow {
                code: f[0].to_owned(),
                pref,
                muni,
                town: f[3].to_owned(),
            });
        }
    }
    let mut rows_by_pref = vec![Vec::new(); 47];
    for (i, r) in postal.iter().enumerate() {
        if (!r.town.is_empty() && !is_building(&r.town))
            || municipalities[r.muni as usize].rows == 0
        {
            rows_by_pref[r.pref as usize].push(i as u32);
        }
    }
    let mut pref_cum = Vec::with_capacity(47);
    let mut acc = 0.0;
    for p in &PREFECTURES {
        acc += f64::from(p.pop_k);
        pref_cum.push(acc);
    }
    Ok(Reference {
        family,
        given_male,
        given_female,
        postal,
        municipalities,
        governments,
        rows_by_pref,
        pref_cum,
    })
}

/// Japan Post gives large office buildings their own codes (e.g. …オフィスタワー); people do not
/// live there, so residential addresses skip them.
fn is_building(town: &str) -> bool {
    const MARKS: [&str; 12] = [
        "ビル",
        "タワー",
        "オフィス",
        "階",
        "センター",
        "ヒルズ",
        "スクエア",
        "ゲート",
        "プレイス",
        "ポート",
        "フロント",
        "プラザ",
    ];
    MARKS.iter().any(|m| town.contains(m))
}

/// A 政令市's administrative ward (e.g. 札幌市北区) is not a local government; the city is.
fn government_name(muni: &str) -> &str {
    if muni.ends_with('区')
        && let Some(p) = muni.rfind('市')
    {
        let end = p + '市'.len_utf8();
        if end < muni.len() {
            return &muni[..end];
        }
    }
    muni
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_parses_and_is_complete() {
        let r = reference().unwrap();
        assert_eq!(r.family.len(), 499);
        assert_eq!(r.given_male.len() + r.given_female.len(), 13_208);
        assert_eq!(r.postal.len(), 124_185);
        assert!(r.rows_by_pref.iter().all(|v| !v.is_empty()));
        assert_eq!(government_name("札幌市北区"), "札幌市");
        assert_eq!(government_name("千代田区"), "千代田区");
        assert_eq!(government_name("四日市市"), "四日市市");
        let codes: std::collections::HashSet<_> = r.governments.iter().map(|g| &g.code).collect();
        assert_eq!(codes.len(), r.governments.len());
        // Sum of the pyramid equals the 2020 census total (126.1 M) within rounding.
        let total: u32 = PYRAMID_2020_K.iter().sum();
        assert!((125_000..127_000).contains(&total), "{total}");
    }
}
