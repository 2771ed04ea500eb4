//! The world persons live in: providers of every kind with official-looking codes, and the
//! health insurers (some of which are providers too). Built once from the world stream.

use std::collections::{HashMap, HashSet};

use chrono::{Days, NaiveDate};
use tsunagu_model::ProviderKind;

use crate::Error;
use crate::codes::with_luhn;
use crate::config::Config;
use crate::era::EraStyle;
use crate::reference::{PREFECTURES, Reference};
use crate::rng::{Rand, Stream};

/// Kinds of public health insurance (医療保険).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsKind {
    /// 全国健康保険協会 (協会けんぽ), one branch per prefecture; 法別番号 01.
    Kyokai,
    /// 健康保険組合 (company health insurance societies); 法別番号 06.
    Kumiai,
    /// 共済組合 (public servants' mutual aid); 法別番号 31–34.
    Kyosai,
    /// 国民健康保険 (municipal national health insurance); 6-digit number.
    Kokuho,
    /// 後期高齢者医療広域連合 (75 and over); 法別番号 39.
    Kouki,
}

/// A health insurer.
pub struct Insurer {
    /// 保険者番号 (8 digits, 6 for 国保) with its check digit.
    pub number: String,
    /// Kind.
    pub kind: InsKind,
    /// Index into [`PREFECTURES`].
    pub pref: u8,
    /// Name.
    pub name: String,
    /// The provider index when this insurer provides data.
    pub provider: Option<u32>,
}

/// How a provider spells kana.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KanaStyle {
    /// Full-width katakana (the standard).
    Katakana,
    /// Half-width katakana, as legacy receipt systems store it.
    HalfWidth,
    /// Hiragana.
    Hiragana,
}

/// How a provider codes sex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SexCoding {
    /// 1 / 2 (receipts, JIS X 0303).
    Digit,
    /// M / F.
    Letter,
    /// 男 / 女.
    Kanji,
    /// male / female.
    Word,
}

/// How a provider writes Gregorian dates in its identity file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateStyle {
    /// 1970-01-01
    Iso,
    /// 1970/01/01
    Slash,
    /// 19700101
    Compact,
    /// Japanese era.
    Era(EraStyle),
}

/// A provider's habits in holding identities.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Kana.
    pub kana: KanaStyle,
    /// Birth dates.
    pub date: DateStyle,
    /// Digits written full-width.
    pub full_width_digits: bool,
    /// Sex coding.
    pub sex: SexCoding,
    /// Postal code with a hyphen (160-0023).
    pub postal_hyphen: bool,
}

/// A provider (医療情報取扱事業者).
pub struct Provider {
    /// Kind.
    pub kind: ProviderKind,
    /// Official code (unique across providers).
    pub code: String,
    /// Name.
    pub name: String,
    /// Index into [`PREFECTURES`].
    pub pref: u8,
    /// The local government it is in.
    pub government: u32,
    /// Postal row of its address.
    pub postal_row: u32,
    /// Address.
    pub address: String,
    /// Phone.
    pub phone: String,
    /// Representative (代表者).
    pub representative: String,
    /// Date of its 届出.
    pub filing_date: NaiveDate,
    /// Reference of its 届出.
    pub filing_ref: String,
    /// Identity-holding habits.
    pub style: Style,
    /// The insurer it is, for insurers.
    pub insurer: Option<u32>,
    id_mult: u64,
    id_add: u64,
    id_width: u32,
}

impl Provider {
    /// The provider's own patient id (カルテ番号) for person `index`. A bijection on
    /// `0..10^width`, so ids are unique within the provider, look unrelated across providers,
    /// and need no shared counter between threads.
    pub fn local_id(&self, index: u64) -> String {
        let m = 10u64.pow(self.id_width);
        let v = ((u128::from(index) * u128::from(self.id_mult) + u128::from(self.id_add))
            % u128::from(m)) as u64;
        format!("{v:0w$}", w = self.id_width as usize)
    }
}

/// Providers and insurers, with indexes for choosing them.
pub struct World {
    /// Providers, in generation order (their index is their id inside the generator).
    pub providers: Vec<Provider>,
    /// Insurers.
    pub insurers: Vec<Insurer>,
    /// Candidate providers per kind (index of [`ProviderKind::ALL`]) and prefecture: those in
    /// the prefecture, or in the nearest prefecture by JIS code that has one.
    pub nearby: Vec<Vec<Vec<u32>>>,
    /// Municipality provider per local government.
    pub municipality_of: HashMap<u32, u32>,
    /// Public school operator (教育委員会) per local government.
    pub school_board_of: HashMap<u32, u32>,
    /// 協会けんぽ branch per prefecture.
    pub kyokai: Vec<u32>,
    /// 後期高齢者医療広域連合 per prefecture.
    pub kouki: Vec<u32>,
    /// 国保 per local government.
    pub kokuho: Vec<u32>,
    /// 健保組合 per prefecture.
    pub kumiai: Vec<Vec<u32>>,
    /// 共済組合 per prefecture.
    pub kyosai: Vec<Vec<u32>>,
    /// Cumulative weights of local governments (population proxy), for placing providers.
    pub gov_cum: Vec<f64>,
}

/// Index of a kind in [`ProviderKind::ALL`].
pub fn kind_index(k: ProviderKind) -> usize {
    ProviderKind::ALL.iter().position(|x| *x == k).unwrap_or(0)
}

const INDUSTRIES: [&str; 12] = [
    "電機",
    "化学",
    "印刷",
    "建設",
    "食品",
    "機械",
    "薬業",
    "運輸",
    "情報サービス",
    "商事",
    "精密",
    "繊維",
];
const FRIENDLY: [&str; 12] = [
    "さくら",
    "あおば",
    "ひまわり",
    "みどり",
    "ひかり",
    "つばさ",
    "こすもす",
    "すずらん",
    "やすらぎ",
    "ひだまり",
    "なごみ",
    "わかば",
];

/// Share of each kind among providers, in [`ProviderKind::ALL`] order. Japan has about 8,200
/// hospitals, 105,000 medical clinics, 62,000 pharmacies, tens of thousands of care
/// businesses, 1,741 municipalities, about 3,300 insurers; participants in a producer's
/// network skew toward the larger ones, hence the generous shares of the rare kinds.
pub const KIND_SHARES: [f64; 7] = [0.06, 0.40, 0.27, 0.12, 0.06, 0.05, 0.04];

impl World {
    /// Build the world for `cfg`.
    pub fn build(cfg: &Config, r: &Reference) -> Result<World, Error> {
        let mut rng = Rand::new(cfg.seed, Stream::World);
        let n = cfg.provider_count();
        let mut used: HashSet<String> = HashSet::new();

        // Local-government weights: prefecture population spread over its municipalities by
        // their number of postal towns (our only size proxy).
        let mut pref_rows = [0f64; 47];
        for m in &r.municipalities {
            pref_rows[m.pref as usize] += f64::from(m.rows.max(1));
        }
        let mut gov_w = vec![0f64; r.governments.len()];
        for m in &r.municipalities {
            let p = m.pref as usize;
            gov_w[m.government as usize] +=
                f64::from(PREFECTURES[p].pop_k) * f64::from(m.rows.max(1)) / pref_rows[p];
        }
        let mut gov_cum = Vec::with_capacity(gov_w.len());
        let mut acc = 0.0;
        for w in &gov_w {
            acc += w;
            gov_cum.push(acc);
        }

        // Insurers.
        let mut insurers = Vec::new();
        let mut kyokai = Vec::new();
        let mut kouki = Vec::new();
        let mut kumiai = Vec::new();
        let mut kyosai = Vec::new();
        for (p, pref) in PREFECTURES.iter().enumerate() {
            let short = pref.name.trim_end_matches(['都', '府', '県']);
            let short = if short.is_empty() { pref.name } else { short };
            let mut push = |number: String, kind, name: String| {
                insurers.push(Insurer {
                    number,
                    kind,
                    pref: p as u8,
                    name,
                    provider: None,
                });
                (insurers.len() - 1) as u32
            };
            kyokai.push(push(
                with_luhn(&format!("01{:02}001", pref.code)).unwrap_or_default(),
                InsKind::Kyokai,
                format!("全国健康保険協会{short}支部"),
            ));
            kouki.push(push(
                with_luhn(&format!("39{:02}001", pref.code)).unwrap_or_default(),
                InsKind::Kouki,
                format!("{}後期高齢者医療広域連合", pref.name),
            ));
            let societies = (pref.pop_k / 700).clamp(2, 20);
            let mut ks = Vec::new();
            for j in 0..societies {
                let num = with_luhn(&format!("06{:02}{:03}", pref.code, 100 + j * 7 + 3))
                    .unwrap_or_default();
                let ind = INDUSTRIES[(j as usize + p) % INDUSTRIES.len()];
                ks.push(push(
                    num,
                    InsKind::Kumiai,
                    format!("{short}{ind}健康保険組合"),
                ));
            }
            kumiai.push(ks);
            let mut cs = Vec::new();
            for (law, label) in [
                (31, "国家公務員共済組合"),
                (32, "地方職員共済組合"),
                (34, "公立学校共済組合"),
            ] {
                let num = with_luhn(&format!("{law}{:02}001", pref.code)).unwrap_or_default();
                cs.push(push(num, InsKind::Kyosai, format!("{label}{short}支部")));
            }
            kyosai.push(cs);
        }
        let mut kokuho = Vec::with_capacity(r.governments.len());
        for g in &r.governments {
            // 国保's 保険者番号 is the 6-digit form: prefecture, 3-digit insurer, check digit.
            let five = &g.code[..5];
            let number = with_luhn(five).unwrap_or_default();
            insurers.push(Insurer {
                number,
                kind: InsKind::Kokuho,
                pref: g.pref,
                name: format!("{}国民健康保険", g.name),
                provider: None,
            });
            kokuho.push((insurers.len() - 1) as u32);
        }

        // How many of each kind: proportional, at least one each.
        let mut counts: Vec<u32> = KIND_SHARES
            .iter()
            .map(|s| ((f64::from(n) * s).round() as u32).max(1))
            .collect();
        let total: u32 = counts.iter().sum();
        if total > n {
            counts[1] = counts[1].saturating_sub(total - n).max(1);
        } else {
            counts[1] += n - total;
        }

        let mut providers: Vec<Provider> = Vec::with_capacity(n as usize);
        let mut municipality_of = HashMap::new();
        let mut school_board_of = HashMap::new();
        let filing_base = cfg
            .start
            .checked_sub_days(Days::new(730))
            .unwrap_or(cfg.start);
        let span_days = (cfg.end - filing_base).num_days().max(1) / 3;

        for (ki, kind) in ProviderKind::ALL.into_iter().enumerate() {
            let mut made = 0;
            let mut attempts = 0;
            while made < counts[ki] && attempts < counts[ki] * 50 + 100 {
                attempts += 1;
                let gov_i = rng.pick_cum(&gov_cum) as u32;
                let gov = &r.governments[gov_i as usize];
                let pref = gov.pref;
                let pcode = PREFECTURES[pref as usize].code;
                let mut insurer = None;
                let (code, name) = match kind {
                    ProviderKind::Hospital | ProviderKind::Clinic | ProviderKind::Pharmacy => {
                        let table = if kind == ProviderKind::Pharmacy { 4 } else { 1 };
                        let nine = format!(
                            "{pcode:02}{table}{:02}{:04}",
                            rng.int(1, 40),
                            rng.int(1, 9999)
                        );
                        let fam = &r.family[rng.index(r.family.len())].kanji;
                        let stem = gov.name.trim_end_matches(['市', '区', '町', '村']);
                        let name = match kind {
                            ProviderKind::Hospital => {
                                let suffix = [
                                    "中央病院",
                                    "総合病院",
                                    "記念病院",
                                    "第一病院",
                                    "南病院",
                                    "東病院",
                                ];
                                if rng.chance(0.5) {
                                    format!("{stem}{}", suffix[rng.index(suffix.len())])
                                } else {
                                    format!("医療法人{fam}会 {fam}病院")
                                }
                            }
                            ProviderKind::Clinic => {
                                let suffix = [
                                    "内科クリニック",
                                    "医院",
                                    "内科医院",
                                    "クリニック",
                                    "小児科医院",
                                    "整形外科",
                                    "内科・循環器科",
                                ];
                                format!("{fam}{}", suffix[rng.index(suffix.len())])
                            }
                            _ => format!("{}薬局 {stem}店", FRIENDLY[rng.index(8)]),
                        };
                        (with_luhn(&nine).unwrap_or_default(), name)
                    }
                    ProviderKind::CareFacility => {
                        let nine = format!("{pcode:02}7{:06}", rng.int(0, 999_999));
                        let types = [
                            "介護老人福祉施設",
                            "介護老人保健施設",
                            "デイサービスセンター",
                            "訪問介護ステーション",
                            "グループホーム",
                        ];
                        let name = format!(
                            "{} {}",
                            types[rng.index(types.len())],
                            FRIENDLY[rng.index(FRIENDLY.len())]
                        );
                        (with_luhn(&nine).unwrap_or_default(), name)
                    }
                    ProviderKind::Municipality => {
                        if municipality_of.contains_key(&gov_i) {
                            continue;
                        }
                        (gov.code.clone(), gov.name.clone())
                    }
                    ProviderKind::Insurer => {
                        // Weighted toward the large insurers (協会けんぽ branches and
                        // 後期高齢者医療広域連合 of populous prefectures), which are the ones that
                        // join data networks and hold enough members for claims and 特定健診 to
                        // show up; the first insurer is always a 協会けんぽ branch so that even a
                        // small world has claims.
                        let kind_pick = rng.pick_weighted(&[0.45, 0.2, 0.05, 0.1, 0.2]);
                        let pick = match if made == 0 { 0 } else { kind_pick } {
                            0 => kyokai[pref as usize],
                            1 => {
                                let ks = &kumiai[pref as usize];
                                ks[rng.index(ks.len())]
                            }
                            2 => {
                                let cs = &kyosai[pref as usize];
                                cs[rng.index(cs.len())]
                            }
                            3 => kokuho[gov_i as usize],
                            _ => kouki[pref as usize],
                        };
                        if insurers[pick as usize].provider.is_some() {
                            continue;
                        }
                        insurer = Some(pick);
                        let ins = &insurers[pick as usize];
                        (ins.number.clone(), ins.name.clone())
                    }
                    ProviderKind::SchoolOperator => {
                        if rng.chance(0.75) {
                            if school_board_of.contains_key(&gov_i) {
                                continue;
                            }
                            (format!("8{}", gov.code), format!("{}教育委員会", gov.name))
                        } else {
                            let fam = &r.family[rng.index(r.family.len())].kanji;
                            (
                                format!("9{pcode:02}{:04}", rng.int(0, 9999)),
                                format!("学校法人{fam}学園"),
                            )
                        }
                    }
                };
                if code.is_empty() || !used.insert(code.clone()) {
                    continue;
                }
                let idx = providers.len() as u32;
                match kind {
                    ProviderKind::Municipality => {
                        municipality_of.insert(gov_i, idx);
                    }
                    ProviderKind::SchoolOperator if code.starts_with('8') => {
                        school_board_of.insert(gov_i, idx);
                    }
                    _ => {}
                }
                if let Some(i) = insurer {
                    insurers[i as usize].provider = Some(idx);
                }
                // The provider's address: a town of its local government.
                let rows = &r.rows_by_pref[pref as usize];
                let mut postal_row = rows[rng.index(rows.len())];
                for _ in 0..200 {
                    let cand = rows[rng.index(rows.len())];
                    if r.municipalities[r.postal[cand as usize].muni as usize].government == gov_i {
                        postal_row = cand;
                        break;
                    }
                }
                let row = &r.postal[postal_row as usize];
                let address = format!(
                    "{}{}{}{}-{}-{}",
                    PREFECTURES[pref as usize].name,
                    r.municipalities[row.muni as usize].name,
                    row.town,
                    rng.int(1, 5),
                    rng.int(1, 30),
                    rng.int(1, 20)
                );
                let area = PREFECTURES[pref as usize].area_code;
                let phone = format!(
                    "{area}{:0w$}",
                    rng.int(0, 10i64.pow(9 - area.len() as u32 + 1) - 1),
                    w = 10 - area.len()
                );
                let rep = {
                    let f = &r.family[rng.index(r.family.len())].kanji;
                    let g = if rng.chance(0.7) {
                        &r.given_male[rng.index(r.given_male.len())].kanji
                    } else {
                        &r.given_female[rng.index(r.given_female.len())].kanji
                    };
                    format!("{f} {g}")
                };
                let filing_date = filing_base
                    .checked_add_days(Days::new(rng.int(0, span_days) as u64))
                    .unwrap_or(filing_base);
                let filing_ref = format!(
                    "届出第{}-{:06}号",
                    chrono::Datelike::year(&filing_date),
                    idx + 1
                );
                let style = make_style(&mut rng, cfg);
                // Multiplier coprime to 10 so the id map is a bijection.
                let mut id_mult = (rng.u64() % 1_000_000_000) | 1;
                if id_mult.is_multiple_of(5) {
                    id_mult += 2;
                }
                let id_width = if kind == ProviderKind::Clinic { 8 } else { 10 };
                providers.push(Provider {
                    kind,
                    code,
                    name,
                    pref,
                    government: gov_i,
                    postal_row,
                    address,
                    phone,
                    representative: rep,
                    filing_date,
                    filing_ref,
                    style,
                    insurer,
                    id_mult,
                    id_add: rng.u64() % 1_000_000,
                    id_width,
                });
                made += 1;
            }
        }

        let mut nearby = Vec::with_capacity(7);
        for kind in ProviderKind::ALL {
            let mut per_pref: Vec<Vec<u32>> = vec![Vec::new(); 47];
            for (i, p) in providers.iter().enumerate() {
                // Private school operators are chosen by prefecture; boards by municipality.
                let eligible = p.kind == kind
                    && !(kind == ProviderKind::SchoolOperator && p.code.starts_with('8'));
                if eligible {
                    per_pref[p.pref as usize].push(i as u32);
                }
            }
            let resolved: Vec<Vec<u32>> = (0..47usize)
                .map(|p| {
                    (0..47usize)
                        .flat_map(|d| [p.checked_sub(d), Some(p + d)])
                        .flatten()
                        .filter(|&q| q < 47)
                        .map(|q| &per_pref[q])
                        .find(|v| !v.is_empty())
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            nearby.push(resolved);
        }

        Ok(World {
            providers,
            insurers,
            nearby,
            municipality_of,
            school_board_of,
            kyokai,
            kouki,
            kokuho,
            kumiai,
            kyosai,
            gov_cum,
        })
    }

    /// A provider of `kind` near prefecture `pref`, or `None` when the world has none.
    pub fn choose(&self, rng: &mut Rand, kind: ProviderKind, pref: u8) -> Option<u32> {
        let c = &self.nearby[kind_index(kind)][pref as usize];
        if c.is_empty() {
            None
        } else {
            Some(c[rng.index(c.len())])
        }
    }
}

fn make_style(rng: &mut Rand, cfg: &Config) -> Style {
    let n = &cfg.noise;
    let k = rng.f();
    let kana = if k < n.half_width_kana_providers {
        KanaStyle::HalfWidth
    } else if k < n.half_width_kana_providers + n.hiragana_providers {
        KanaStyle::Hiragana
    } else {
        KanaStyle::Katakana
    };
    let date = if rng.chance(n.era_birth_date_providers) {
        DateStyle::Era(if rng.chance(0.5) {
            EraStyle::Kanji
        } else {
            EraStyle::Letter
        })
    } else {
        match rng.pick_weighted(&[0.6, 0.3, 0.1]) {
            0 => DateStyle::Iso,
            1 => DateStyle::Slash,
            _ => DateStyle::Compact,
        }
    };
    let full_width_digits = rng.chance(n.full_width_digit_providers);
    let sex = match rng.pick_weighted(&[0.4, 0.3, 0.2, 0.1]) {
        0 => SexCoding::Digit,
        1 => SexCoding::Letter,
        2 => SexCoding::Kanji,
        _ => SexCoding::Word,
    };
    Style {
        kana,
        date,
        full_width_digits,
        sex,
        postal_hyphen: rng.chance(0.5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::luhn_valid;
    use crate::reference::reference;

    #[test]
    fn world_has_every_kind_with_valid_unique_codes() {
        let mut cfg = Config::new(1000, 42);
        cfg.providers = Some(400);
        let w = World::build(&cfg, reference().unwrap()).unwrap();
        assert_eq!(w.providers.len(), 400);
        let mut codes = HashSet::new();
        for p in &w.providers {
            assert!(codes.insert(p.code.clone()));
            match p.kind {
                ProviderKind::Hospital
                | ProviderKind::Clinic
                | ProviderKind::Pharmacy
                | ProviderKind::CareFacility => {
                    assert_eq!(p.code.len(), 10);
                    assert!(luhn_valid(&p.code));
                }
                ProviderKind::Municipality => {
                    let c = crate::codes::with_municipality_check(&p.code[..5]).unwrap();
                    assert_eq!(c, p.code);
                }
                ProviderKind::Insurer => assert!(luhn_valid(&p.code)),
                ProviderKind::SchoolOperator => assert_eq!(p.code.len(), 7),
            }
            tsunagu_model::ProviderCode::parse(p.kind, &p.code).unwrap();
        }
        for kind in ProviderKind::ALL {
            let n = w.providers.iter().filter(|p| p.kind == kind).count();
            let share = KIND_SHARES[kind_index(kind)];
            assert!((n as f64 - 400.0 * share).abs() <= 2.0, "{kind}: {n}");
        }
        for ins in &w.insurers {
            assert!(luhn_valid(&ins.number));
            assert!(
                ins.number.len() == 8 || (ins.kind == InsKind::Kokuho && ins.number.len() == 6)
            );
        }
    }

    #[test]
    fn local_ids_are_unique_per_provider() {
        let cfg = Config::new(100, 1);
        let w = World::build(&cfg, reference().unwrap()).unwrap();
        for p in w.providers.iter().take(5) {
            let ids: HashSet<String> = (0..5000).map(|i| p.local_id(i)).collect();
            assert_eq!(ids.len(), 5000);
        }
    }
}
