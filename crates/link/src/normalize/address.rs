//! Japanese addresses split into prefecture (都道府県), municipality (市区町村), town (町域) and
//! block numbers (丁目・番地・号), using Japan Post's postal-code table embedded in
//! `tsunagu-model`.
//!
//! `東京都千代田区千代田一丁目1番1号` and `千代田区千代田1-1-1` give the same parts. Kanji numerals
//! become digits only where they are block numbers (三丁目, 二番地), never inside a place name
//! (四谷, 一ツ橋, 北十条西).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use tsunagu_model::PostalCode;
use tsunagu_model::era::kanji_numeral;
use tsunagu_model::postal;

use super::text;

/// The parts of an address, each normalised by [`super::text`]. Empty strings for parts not
/// found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// 都道府県 (東京都).
    pub prefecture: String,
    /// 市区町村 (千代田区, 札幌市北区, 石狩郡当別町).
    pub municipality: String,
    /// 町域 (千代田, 北十条西).
    pub town: String,
    /// Block numbers joined by `-` (`1-1-1`).
    pub block: String,
    /// What follows the block numbers (building, room), normalised.
    pub rest: String,
}

// Japan Post's table is read as text (`tsunagu_model::postal::raw_csv`) rather than through
// `tsunagu_model::postal::table()`, whose general-purpose index (a map of vectors of places)
// takes ~38 MiB resident: linking 100,000 records must fit in a fraction of that, and splitting
// addresses needs only the compact directory below (~4 MiB besides the text itself).

/// Municipalities, towns and postal codes, normalised, in a few flat arrays.
struct Directory {
    prefectures: Vec<String>,
    /// Normalised municipality names; `muni_pref[i]` is the prefecture (index) of `munis[i]`.
    munis: Vec<String>,
    muni_pref: Vec<u8>,
    /// Per prefecture: (alias, municipality index), longest alias first. The alias is the name
    /// itself or, for a name with a 郡 part, the name without it (石狩郡当別町 → 当別町).
    aliases: Vec<Vec<(String, u32)>>,
    /// All normalised town names, one after another; `towns[m]` lists (start, end) in it of the
    /// towns of municipality `m`, longest first.
    town_text: String,
    towns: Vec<Vec<(u32, u32)>>,
    /// (postal code as a number, municipality index), sorted by code; a code's places in file
    /// order, consecutive duplicates removed.
    postal: Vec<(u32, u32)>,
}

impl Directory {
    fn build() -> Directory {
        let prefectures: Vec<String> = postal::PREFECTURES.iter().map(|p| text(p.name)).collect();
        let mut munis: Vec<String> = Vec::new();
        let mut muni_pref: Vec<u8> = Vec::new();
        let mut muni_index: HashMap<(u8, String), u32> = HashMap::new();
        let mut town_text = String::new();
        let mut towns: Vec<Vec<(u32, u32)>> = Vec::new();
        let mut postal: Vec<(u32, u32)> = Vec::new();
        // Raw → normalised prefecture and municipality names repeat on every line: cache them.
        let mut pref_cache: HashMap<&'static str, Option<u8>> = HashMap::new();
        let mut muni_cache: HashMap<(u8, &'static str), u32> = HashMap::new();
        for line in tsunagu_model::postal::raw_csv().lines().skip(1) {
            let mut f = line.split(',');
            let (Some(code), Some(pref), Some(muni), Some(town)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let Ok(code) = code.parse::<u32>() else {
                continue;
            };
            let Some(p) = *pref_cache.entry(pref).or_insert_with(|| {
                let n = text(pref);
                prefectures
                    .iter()
                    .position(|x| *x == n)
                    .and_then(|i| u8::try_from(i).ok())
            }) else {
                continue;
            };
            let m = *muni_cache.entry((p, muni)).or_insert_with(|| {
                let n = text(muni);
                *muni_index.entry((p, n.clone())).or_insert_with(|| {
                    munis.push(n);
                    muni_pref.push(p);
                    towns.push(Vec::new());
                    (munis.len() - 1) as u32
                })
            });
            if postal.last() != Some(&(code, m)) {
                postal.push((code, m));
            }
            if !town.is_empty() {
                let t = text(town);
                let list = &mut towns[m as usize];
                // A municipality has at most a few hundred towns: a scan is cheaper than a set
                // of every town name.
                if !list
                    .iter()
                    .any(|&(s, e)| town_text[s as usize..e as usize] == *t)
                {
                    let start = town_text.len() as u32;
                    town_text.push_str(&t);
                    list.push((start, town_text.len() as u32));
                }
            }
        }
        // Stable sorts: among names of equal length the first in the file wins, as before.
        postal.sort_by_key(|&(c, _)| c);
        let mut aliases: Vec<Vec<(String, u32)>> = vec![Vec::new(); prefectures.len()];
        for (i, (name, &p)) in munis.iter().zip(&muni_pref).enumerate() {
            let list = &mut aliases[p as usize];
            list.push((name.clone(), i as u32));
            // People often drop the 郡 (石狩郡当別町 → 当別町).
            if let Some(pos) = name.find('郡') {
                let short = &name[pos + '郡'.len_utf8()..];
                if !short.is_empty() {
                    list.push((short.to_owned(), i as u32));
                }
            }
        }
        // Grouped by first character, longest first within a group (as towns below): a lookup
        // then tries the few names that can start `rest` instead of every name of the
        // prefecture (Hokkaidō has almost two hundred).
        for l in &mut aliases {
            l.sort_by_key(|(alias, _)| {
                (
                    alias.chars().next(),
                    std::cmp::Reverse(alias.chars().count()),
                )
            });
            l.shrink_to_fit();
        }
        // Grouped by first character (a lookup searches only the group `rest` starts with),
        // longest first within a group.
        for l in &mut towns {
            l.sort_by_key(|&(s, e)| {
                let t = &town_text[s as usize..e as usize];
                (t.chars().next(), std::cmp::Reverse(t.chars().count()))
            });
            l.shrink_to_fit();
        }
        town_text.shrink_to_fit();
        postal.shrink_to_fit();
        Directory {
            prefectures,
            munis,
            muni_pref,
            aliases,
            town_text,
            towns,
            postal,
        }
    }

    /// The municipality whose name (or 郡-less alias) starts `rest`, longest first: (bytes of
    /// the alias, municipality index).
    fn find_muni(&self, pref: usize, rest: &str) -> Option<(usize, u32)> {
        let list = self.aliases.get(pref)?;
        let first = rest.chars().next()?;
        let lo = list.partition_point(|(a, _)| a.chars().next() < Some(first));
        list[lo..]
            .iter()
            .take_while(|(a, _)| a.starts_with(first))
            .find(|(alias, _)| rest.starts_with(alias.as_str()))
            .map(|(a, m)| (a.len(), *m))
    }

    /// The municipalities (indices) of a postal code's places, in the table's order.
    fn postal_munis(&self, code: PostalCode) -> &[(u32, u32)] {
        let Ok(c) = code.as_str().parse::<u32>() else {
            return &[];
        };
        let lo = self.postal.partition_point(|&(x, _)| x < c);
        let hi = self.postal.partition_point(|&(x, _)| x <= c);
        &self.postal[lo..hi]
    }

    /// The longest known town of a municipality that starts `rest` (among equal lengths, the
    /// first in the postal table).
    fn find_town(&self, muni: u32, rest: &str) -> Option<&str> {
        let list = self.towns.get(muni as usize)?;
        let name = |&(s, e): &(u32, u32)| &self.town_text[s as usize..e as usize];
        // An empty name (it sorts first) is a prefix of anything: the last resort.
        let empty = list.first().map(name).filter(|t| t.is_empty());
        let Some(first) = rest.chars().next() else {
            return empty;
        };
        let lo = list.partition_point(|t| name(t).chars().next() < Some(first));
        list[lo..]
            .iter()
            .map(name)
            .take_while(|t| t.starts_with(first))
            .find(|t| rest.starts_with(t))
            .or(empty)
    }
}

static DIRECTORY: LazyLock<Directory> = LazyLock::new(Directory::build);

fn is_kanji_digit(c: char) -> bool {
    matches!(
        c,
        '〇' | '一' | '二' | '三' | '四' | '五' | '六' | '七' | '八' | '九' | '十' | '百' | '千'
    )
}

/// Does a block-number marker start here (丁目, 番地, 番, 号, の — folded to ノ —, -)?
fn marker_len(s: &str) -> Option<usize> {
    for m in ["丁目", "番地", "番", "号", "ノ", "-", "丁"] {
        if s.starts_with(m) {
            return Some(m.len());
        }
    }
    None
}

/// Position (byte) where the block numbers start: the first number (digits, or kanji numerals
/// followed by a marker or the end) in `s`.
fn block_start(s: &str) -> Option<usize> {
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c.is_ascii_digit() {
            return Some(i);
        }
        if is_kanji_digit(c) {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = iter.peek() {
                if is_kanji_digit(d) {
                    end = j + d.len_utf8();
                    iter.next();
                } else {
                    break;
                }
            }
            let after = &s[end..];
            if after.is_empty() || marker_len(after).is_some() {
                return Some(i);
            }
        }
    }
    None
}

/// Parse block numbers (`1丁目2番3号`, `一丁目二番地三`, `1-2-3`) into `1-2-3` and the rest.
fn parse_block(s: &str) -> (String, String) {
    // The numbers are written out as they are read (one string instead of one per number and
    // a joined copy: this runs for every address linked).
    let mut block = String::new();
    let mut rest = s;
    loop {
        let ascii = rest.starts_with(|c: char| c.is_ascii_digit());
        let num_end = rest
            .char_indices()
            .find(|(_, c)| {
                if ascii {
                    !c.is_ascii_digit()
                } else {
                    !is_kanji_digit(*c)
                }
            })
            .map_or(rest.len(), |(i, _)| i);
        if num_end == 0 {
            break;
        }
        // Kanji numerals count only as block numbers (三丁目), not as a name (四谷).
        if !(ascii || num_end == rest.len() || marker_len(&rest[num_end..]).is_some()) {
            break;
        }
        let Some(v) = kanji_numeral(&rest[..num_end]) else {
            break;
        };
        if !block.is_empty() {
            block.push('-');
        }
        // Writing to a String cannot fail.
        let _ = write!(block, "{v}");
        rest = &rest[num_end..];
        match marker_len(rest) {
            Some(len) => {
                rest = &rest[len..];
                // 番地 followed by の (3番地の2), 丁目 followed by -
                while let Some(len) = marker_len(rest) {
                    if rest[len..].starts_with(|c: char| c.is_ascii_digit() || is_kanji_digit(c))
                        || rest.len() == len
                    {
                        rest = &rest[len..];
                    } else {
                        break;
                    }
                }
            }
            None => break,
        }
    }
    (block, rest.to_owned())
}

/// Split an address. The postal code, when known, tells the prefecture and municipality when the
/// address text leaves them out.
pub fn split(address: &str, postal: Option<PostalCode>) -> Address {
    let dir = &*DIRECTORY;
    let s = text(address);
    let mut rest: &str = &s;
    let mut out = Address::default();
    let mut pref: Option<usize> = None;
    let mut muni: Option<u32> = None;

    // Prefecture: written, or from the postal code.
    if let Some(p) = dir
        .prefectures
        .iter()
        .position(|p| rest.starts_with(p.as_str()))
    {
        pref = Some(p);
        rest = &rest[dir.prefectures[p].len()..];
    } else if let Some(p) = dir.prefectures.iter().enumerate().position(|(i, p)| {
        // Written without its suffix (東京, 大阪) but followed by one of its municipalities.
        let stem = p.trim_end_matches(['都', '府', '県']);
        stem != p.as_str()
            && rest.starts_with(stem)
            && dir.find_muni(i, &rest[stem.len()..]).is_some()
    }) {
        pref = Some(p);
        rest = &rest[dir.prefectures[p]
            .trim_end_matches(['都', '府', '県'])
            .len()..];
    }
    let postal_places = postal.map(|c| dir.postal_munis(c)).unwrap_or(&[]);
    if pref.is_none()
        && let Some(&(_, m)) = postal_places.first()
    {
        pref = Some(dir.muni_pref[m as usize] as usize);
    }

    // Municipality: longest known name at the start; else the postal code's.
    if let Some(p) = pref {
        if let Some((len, m)) = dir.find_muni(p, rest) {
            muni = Some(m);
            rest = &rest[len..];
        }
    } else {
        // No prefecture anywhere: a municipality name that is unique across Japan.
        let mut hits =
            (0..dir.prefectures.len()).filter_map(|p| dir.find_muni(p, rest).map(|h| (p, h)));
        if let (Some((p, (len, m))), None) = (hits.next(), hits.next()) {
            pref = Some(p);
            muni = Some(m);
            rest = &rest[len..];
        }
    }
    if muni.is_none()
        && let Some(&(_, m)) = postal_places
            .iter()
            .find(|&&(_, m)| pref.is_none_or(|p| dir.muni_pref[m as usize] as usize == p))
    {
        muni = Some(m);
        let written = dir.munis[m as usize].as_str();
        if rest.starts_with(written) {
            rest = &rest[written.len()..];
        }
    }
    if let Some(p) = pref {
        out.prefecture = dir.prefectures[p].clone();
    }
    if let Some(m) = muni {
        out.municipality = dir.munis[m as usize].clone();
    }

    // Town: longest known town of the municipality; else the text before the block numbers.
    let known = muni.and_then(|m| dir.find_town(m, rest));
    let after_town = if let Some(t) = known {
        out.town = t.to_owned();
        &rest[t.len()..]
    } else {
        let cut = block_start(rest).unwrap_or(rest.len());
        out.town = rest[..cut].to_owned();
        &rest[cut..]
    };
    // 大字/字 prefixes are often written or left out.
    let start = block_start(after_town).unwrap_or(after_town.len());
    if out.town.is_empty() || start == 0 {
        let (block, tail) = parse_block(&after_town[start..]);
        out.block = block;
        out.rest = tail;
    } else {
        // Text between the town and the numbers (e.g. 字 names) belongs to the town.
        out.town.push_str(&after_town[..start]);
        let (block, tail) = parse_block(&after_town[start..]);
        out.block = block;
        out.rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_address_with_kanji_numerals() {
        let a = split("東京都千代田区千代田一丁目1番1号", None);
        assert_eq!(a.prefecture, "東京都");
        assert_eq!(a.municipality, "千代田区");
        assert_eq!(a.town, "千代田");
        assert_eq!(a.block, "1-1-1");
        let b = split("千代田区千代田１－１－１", None);
        assert_eq!(a, b);
    }

    #[test]
    fn place_names_keep_their_numerals() {
        let a = split("東京都新宿区四谷三丁目2番地の5 四谷ビル101", None);
        assert_eq!(a.municipality, "新宿区");
        assert_eq!(a.town, "四谷");
        assert_eq!(a.block, "3-2-5");
        assert_eq!(a.rest, "四谷ビル101");
        let s = split("北海道札幌市北区北十条西二丁目3", None);
        assert_eq!(s.municipality, "札幌市北区");
        assert_eq!(s.town, "北十条西");
        assert_eq!(s.block, "2-3");
    }

    /// The first-character grouping finds what a scan of every name of the prefecture finds:
    /// the longest name that starts the text, the first in the postal table among equals.
    #[test]
    fn municipality_lookup_agrees_with_a_full_scan() {
        let dir = &*DIRECTORY;
        for (p, list) in dir.aliases.iter().enumerate() {
            for (alias, _) in list {
                for rest in [alias.clone(), format!("{alias}1-2"), format!("{alias}町")] {
                    let want = list
                        .iter()
                        .filter(|(a, _)| rest.starts_with(a.as_str()))
                        .map(|(a, m)| (a.len(), *m))
                        .max_by_key(|&(len, m)| (len, std::cmp::Reverse(m)));
                    assert_eq!(dir.find_muni(p, &rest), want);
                }
            }
        }
        assert_eq!(dir.find_muni(0, ""), None);
    }

    #[test]
    fn postal_code_fills_missing_parts() {
        let code = PostalCode::parse("1000001").unwrap();
        let a = split("千代田1-1", Some(code));
        assert_eq!(a.prefecture, "東京都");
        assert_eq!(a.municipality, "千代田区");
        assert_eq!(a.town, "千代田");
        assert_eq!(a.block, "1-1");
    }

    #[test]
    fn prefecture_without_suffix_and_variants() {
        let a = split("大阪大阪市北区梅田３丁目１－１", None);
        assert_eq!(a.prefecture, "大阪府");
        assert_eq!(a.municipality, "大阪市北区");
        assert_eq!(a.town, "梅田");
        assert_eq!(a.block, "3-1-1");
    }

    #[test]
    fn county_may_be_omitted() {
        let a = split("北海道当別町弥生１２３", None);
        assert_eq!(a.municipality, text("石狩郡当別町"));
        assert_eq!(a.block, "123");
    }

    #[test]
    fn unknown_text_does_not_panic() {
        let a = split("どこか遠く", None);
        assert_eq!(a.prefecture, "");
        assert_eq!(a.town, text("どこか遠く"));
        assert_eq!(split("", None), Address::default());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = split(&s, None);
        }
    }
}
