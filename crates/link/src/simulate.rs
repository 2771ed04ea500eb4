//! Made-up Japanese populations with known truth, for tests and benchmarks: two providers'
//! files of the same people, the second one written the way another system writes it
//! (variant kanji, half-width or hiragana kana, era dates, maiden names, moves, typos, swapped
//! family and given names). Names come from lists the caller supplies (see
//! `crates/synth/data`); addresses from the embedded postal table.

use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tsunagu_model::era::Era;
use tsunagu_model::postal;

use crate::normalize::kanji::VARIANTS;
use crate::record::RawRecord;
use crate::schema::Role;

/// Names to draw from: family (kanji, katakana) and given (kanji, katakana, female).
#[derive(Debug, Clone, Default)]
pub struct NamePools {
    /// 姓: (kanji, katakana).
    pub family: Vec<(String, String)>,
    /// 名: (kanji, katakana, is_female).
    pub given: Vec<(String, String, bool)>,
}

impl NamePools {
    /// From the CSV texts of `family_names.csv` (`kanji,hiragana,katakana`) and
    /// `given_names.csv` (`kanji,hiragana,katakana,sex`). Malformed lines are skipped.
    pub fn from_csv(family: &str, given: &str) -> NamePools {
        let family = family
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f.len() >= 3).then(|| (f[0].to_owned(), f[2].to_owned()))
            })
            .collect();
        let given = given
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f.len() >= 4).then(|| (f[0].to_owned(), f[2].to_owned(), f[3] == "female"))
            })
            .collect();
        NamePools { family, given }
    }
}

/// One simulated person's record as a provider holds it.
#[derive(Debug, Clone)]
pub struct SimRecord {
    /// Record id.
    pub id: String,
    /// Index of the true person.
    pub person: usize,
    /// The record.
    pub record: RawRecord,
}

/// The Japanese header written by [`to_csv`].
pub const HEADER: [Role; 14] = [
    Role::Id,
    Role::FamilyName,
    Role::GivenName,
    Role::FamilyNameKana,
    Role::GivenNameKana,
    Role::BirthDate,
    Role::Sex,
    Role::PostalCode,
    Role::Address,
    Role::Phone,
    Role::InsurerNumber,
    Role::InsuredSymbol,
    Role::InsuredNumber,
    Role::InsuredBranch,
];

struct Person {
    family: (String, String),
    given: (String, String),
    female: bool,
    birth: chrono::NaiveDate,
    postal: String,
    address: String,
    phone: String,
    insurer: String,
    symbol: String,
    number: String,
}

fn half_width(kana: &str) -> String {
    const FULL: &str = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンァィゥェォャュョッー";
    const HALF: &str = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝｧｨｩｪｫｬｭｮｯｰ";
    let full: Vec<char> = FULL.chars().collect();
    let half: Vec<char> = HALF.chars().collect();
    let mut out = String::new();
    for c in kana.chars() {
        // Voiced kana are the unvoiced one plus ﾞ (U+FF9E), semi-voiced plus ﾟ (U+FF9F).
        const VOICED: &str = "ガギグゲゴザジズゼゾダヂヅデドバビブベボヴ";
        const VOICED_BASE: &str = "カキクケコサシスセソタチツテトハヒフヘホウ";
        const SEMI: &str = "パピプペポ";
        const SEMI_BASE: &str = "ハヒフヘホ";
        let (base, mark) = if let Some(i) = VOICED.chars().position(|v| v == c) {
            (VOICED_BASE.chars().nth(i).unwrap_or(c), Some('ﾞ'))
        } else if let Some(i) = SEMI.chars().position(|v| v == c) {
            (SEMI_BASE.chars().nth(i).unwrap_or(c), Some('ﾟ'))
        } else {
            (c, None)
        };
        match full.iter().position(|f| *f == base) {
            Some(i) => out.push(half[i]),
            None => out.push(base),
        }
        if let Some(m) = mark {
            out.push(m);
        }
    }
    out
}

fn hiragana(kana: &str) -> String {
    kana.chars()
        .map(|c| {
            if ('\u{30A1}'..='\u{30F6}').contains(&c) {
                char::from_u32(c as u32 - 0x60).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn kanji_numeral(n: u32) -> String {
    const D: [&str; 10] = ["", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    if n < 10 {
        return D[n as usize].to_owned();
    }
    let tens = n / 10;
    let ones = n % 10;
    format!(
        "{}十{}",
        if tens == 1 { "" } else { D[tens as usize] },
        D[ones as usize]
    )
}

fn variant_of(rng: &mut ChaCha8Rng, kanji: &str) -> String {
    kanji
        .chars()
        .map(|c| {
            let vs: Vec<char> = VARIANTS
                .iter()
                .filter(|(_, k)| *k == c)
                .map(|(v, _)| *v)
                .collect();
            if !vs.is_empty() && rng.random_bool(0.8) {
                *vs.choose(rng).unwrap_or(&c)
            } else {
                c
            }
        })
        .collect()
}

fn typo(rng: &mut ChaCha8Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.len() < 2 {
        return s.to_owned();
    }
    let i = rng.random_range(0..chars.len() - 1);
    match rng.random_range(0..3) {
        0 => chars.swap(i, i + 1),
        1 => {
            chars.remove(i);
        }
        _ => {
            let c = chars[i];
            if c.is_ascii_digit() {
                chars[i] = char::from(b'0' + rng.random_range(0..10u8));
            } else if ('\u{30A1}'..='\u{30F6}').contains(&c) {
                chars[i] = char::from_u32(0x30A2 + rng.random_range(0..80)).unwrap_or(c);
            }
        }
    }
    chars.into_iter().collect()
}

fn era_form(rng: &mut ChaCha8Rng, d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let (era, y) = Era::of(d).unwrap_or((Era::Showa, 1));
    match rng.random_range(0..4) {
        0 => format!(
            "{}{}年{}月{}日",
            era.name(),
            if y == 1 {
                "元".to_owned()
            } else {
                y.to_string()
            },
            d.month(),
            d.day()
        ),
        1 => format!("{}{:02}.{:02}.{:02}", era.letter(), y, d.month(), d.day()),
        2 => format!("{}/{}/{}", d.year(), d.month(), d.day()),
        _ => d.format("%Y%m%d").to_string(),
    }
}

fn make_person(
    rng: &mut ChaCha8Rng,
    pools: &NamePools,
    codes: &[tsunagu_model::PostalCode],
) -> Option<Person> {
    let family = pools.family.choose(rng)?.clone();
    let g = pools.given.choose(rng)?;
    let birth = chrono::NaiveDate::from_ymd_opt(1930, 1, 1)?
        + chrono::Duration::days(rng.random_range(0..32_000));
    let code = *codes.choose(rng)?;
    let place = code.places().first()?;
    let address = format!(
        "{}{}{}{}-{}-{}",
        place.prefecture,
        place.municipality,
        place.town,
        rng.random_range(1..10),
        rng.random_range(1..30),
        rng.random_range(1..20)
    );
    Some(Person {
        family,
        given: (g.0.clone(), g.1.clone()),
        female: g.2,
        birth,
        postal: code.as_str().to_owned(),
        address,
        phone: format!(
            "0{}-{:04}-{:04}",
            rng.random_range(30..99),
            rng.random_range(0..10_000),
            rng.random_range(0..10_000)
        ),
        insurer: format!("{:08}", rng.random_range(1_000_000..40_000_000)),
        symbol: format!("{}", rng.random_range(1..9999)),
        number: format!("{}", rng.random_range(1..999_999)),
    })
}

fn clean_record(p: &Person) -> RawRecord {
    let mut r = RawRecord::default();
    r.set(Role::FamilyName, p.family.0.clone());
    r.set(Role::GivenName, p.given.0.clone());
    r.set(Role::FamilyNameKana, p.family.1.clone());
    r.set(Role::GivenNameKana, p.given.1.clone());
    r.set(Role::BirthDate, p.birth.format("%Y-%m-%d").to_string());
    r.set(Role::Sex, if p.female { "2" } else { "1" });
    r.set(
        Role::PostalCode,
        format!("{}-{}", &p.postal[..3], &p.postal[3..]),
    );
    r.set(Role::Address, p.address.clone());
    r.set(Role::Phone, p.phone.clone());
    r.set(Role::InsurerNumber, p.insurer.clone());
    r.set(Role::InsuredSymbol, p.symbol.clone());
    r.set(Role::InsuredNumber, p.number.clone());
    r.set(Role::InsuredBranch, "00");
    r
}

fn messy_record(
    rng: &mut ChaCha8Rng,
    p: &Person,
    pools: &NamePools,
    codes: &[tsunagu_model::PostalCode],
    noise: f64,
) -> RawRecord {
    use chrono::Datelike;
    let mut r = clean_record(p);
    let hit = |rng: &mut ChaCha8Rng, prob: f64| rng.random_bool((prob * noise).min(1.0));
    // Family name: variant kanji, or a different one after marriage.
    let mut family = p.family.clone();
    if p.female
        && hit(rng, 0.08)
        && let Some(f) = pools.family.choose(rng)
    {
        family = f.clone();
    }
    r.set(Role::FamilyName, variant_of(rng, &family.0));
    let kana_style = rng.random_range(0..3);
    let style = |k: &str| match kana_style {
        0 => k.to_owned(),
        1 => half_width(k),
        _ => hiragana(k),
    };
    let mut fk = family.1.clone();
    let mut gk = p.given.1.clone();
    if hit(rng, 0.05) {
        fk = typo(rng, &fk);
    }
    if hit(rng, 0.05) {
        gk = typo(rng, &gk);
    }
    // Long vowels written out or with ー (サトウ / サトー).
    if rng.random_bool(0.3) {
        fk = fk.replace("ウ", "ー");
    }
    r.set(Role::FamilyNameKana, style(&fk));
    r.set(Role::GivenNameKana, style(&gk));
    if hit(rng, 0.1) {
        r.set(Role::GivenName, "");
    }
    if hit(rng, 0.03) {
        // Family and given entered the wrong way round.
        let (a, b) = (
            r.get(Role::FamilyName).to_owned(),
            r.get(Role::GivenName).to_owned(),
        );
        let (c, d) = (
            r.get(Role::FamilyNameKana).to_owned(),
            r.get(Role::GivenNameKana).to_owned(),
        );
        r.set(Role::FamilyName, b);
        r.set(Role::GivenName, a);
        r.set(Role::FamilyNameKana, d);
        r.set(Role::GivenNameKana, c);
    }
    // Birth date: another notation, sometimes a typo or day/month exchanged.
    let mut birth = p.birth;
    if hit(rng, 0.03) && birth.day() <= 12 {
        birth = chrono::NaiveDate::from_ymd_opt(birth.year(), birth.day(), birth.month())
            .unwrap_or(birth);
    } else if hit(rng, 0.03) {
        birth = birth.with_day(rng.random_range(1..29)).unwrap_or(birth);
    }
    r.set(Role::BirthDate, era_form(rng, birth));
    r.set(
        Role::Sex,
        match (rng.random_range(0..3), p.female) {
            (0, false) => "男",
            (0, true) => "女",
            (1, false) => "M",
            (1, true) => "F",
            (_, false) => "1",
            (_, true) => "2",
        },
    );
    // A move: another address and postal code.
    if hit(rng, 0.15) {
        if let Some(q) = make_person(rng, pools, codes) {
            r.set(Role::PostalCode, q.postal.clone());
            r.set(Role::Address, q.address);
        }
    } else {
        // Same place written differently: full-width digits, kanji 丁目, no prefecture.
        let a = p.address.clone();
        let parts: Vec<&str> = a.rsplitn(3, '-').collect();
        if parts.len() == 3 && rng.random_bool(0.5) {
            let head = parts[2];
            let (digit_pos, _) = head
                .char_indices()
                .rev()
                .find(|(_, c)| !c.is_ascii_digit())
                .unwrap_or((0, ' '));
            let split = digit_pos + head[digit_pos..].chars().next().map_or(0, char::len_utf8);
            if let Ok(ch) = head[split..].parse::<u32>() {
                r.set(
                    Role::Address,
                    format!(
                        "{}{}丁目{}番{}号",
                        &head[..split],
                        kanji_numeral(ch),
                        parts[1],
                        parts[0]
                    ),
                );
            }
        }
        r.set(
            Role::PostalCode,
            p.postal
                .chars()
                .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c))
                .collect::<String>(),
        );
    }
    if hit(rng, 0.3) {
        r.set(Role::Phone, "");
    }
    if hit(rng, 0.2) {
        // Changed job: another insurer and card.
        r.set(
            Role::InsurerNumber,
            format!("{:08}", rng.random_range(1_000_000..40_000_000)),
        );
        r.set(
            Role::InsuredSymbol,
            format!("{}", rng.random_range(1..9999)),
        );
        r.set(
            Role::InsuredNumber,
            format!("{}", rng.random_range(1..999_999)),
        );
    }
    r
}

/// Two providers' files: `n` people in the left file; `overlap` of them also in the right
/// file (written messily with `noise` scaling every error rate; 1.0 is realistic), plus
/// `n - overlap` people only in the right file. Deterministic for a seed.
pub fn two_sources(
    pools: &NamePools,
    n: usize,
    overlap: usize,
    noise: f64,
    seed: u64,
) -> (Vec<SimRecord>, Vec<SimRecord>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let codes = postal::table().codes();
    let people: Vec<Person> = (0..n + (n - overlap.min(n)))
        .filter_map(|_| make_person(&mut rng, pools, codes))
        .collect();
    let left: Vec<SimRecord> = people
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, p)| SimRecord {
            id: format!("L{i:07}"),
            person: i,
            record: clean_record(p),
        })
        .collect();
    let mut right: Vec<SimRecord> = Vec::new();
    for (i, p) in people.iter().enumerate() {
        if i < overlap.min(n) || i >= n {
            let record = messy_record(&mut rng, p, pools, codes, noise);
            right.push(SimRecord {
                id: String::new(),
                person: i,
                record,
            });
        }
    }
    // Shuffle the right file so that order carries no signal, then number it.
    let mut order: Vec<usize> = (0..right.len()).collect();
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    let mut shuffled: Vec<SimRecord> = order.into_iter().map(|i| right[i].clone()).collect();
    for (k, r) in shuffled.iter_mut().enumerate() {
        r.id = format!("R{k:07}");
    }
    (left, shuffled)
}

/// Write records as a Japanese-layout CSV.
pub fn to_csv(records: &[SimRecord], out: impl std::io::Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER.iter().map(|r| r.name()))?;
    for r in records {
        w.write_record(HEADER.iter().map(|role| {
            if *role == Role::Id {
                r.id.as_str()
            } else {
                r.record.get(*role)
            }
        }))?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize;

    #[test]
    fn half_width_round_trips_through_nfkc() {
        for k in [
            "サトウ",
            "ガッコウ",
            "パンダ",
            "ビョウイン",
            "ヴァイオリン",
            "ボブ",
            "ジョー",
        ] {
            assert_eq!(normalize::text(&half_width(k)), k, "{k}");
        }
        assert_eq!(normalize::text(&hiragana("サトウ")), "サトウ");
        assert_eq!(kanji_numeral(3), "三");
        assert_eq!(kanji_numeral(21), "二十一");
        assert_eq!(kanji_numeral(10), "十");
    }
}
