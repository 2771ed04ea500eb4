//! Japanese addresses split into prefecture (都道府県), municipality (市区町村), town (町域) and
//! block numbers (丁目・番地・号), using Japan Post's postal-code table embedded in
//! `tsunagu-model`.
//!
//! `東京都千代田区千代田一丁目1番1号` and `千代田区千代田1-1-1` give the same parts. Kanji numerals
//! become digits only where they are block numbers (三丁目, 二番地), never inside a place name
//! (四谷, 一ツ橋, 北十条西).

use std::fmt::Write as _;

use tsunagu_model::PostalCode;
use tsunagu_model::era::kanji_numeral;

use super::directory::DIRECTORY;
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
    /// The municipality's entry in the embedded directory, when it was found there: then
    /// `prefecture` and `municipality` are that entry's names, so every address with the same
    /// entry starts with the same text (the encoder tokenises that part once per entry). The
    /// number identifies a place, never a person, and means nothing outside this build.
    pub(crate) place: Option<u32>,
}

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

/// Parse block numbers (`1丁目2番3号`, `一丁目二番地三`, `1-2-3`) into `1-2-3` (appended to
/// `block`) and the rest (appended to `tail`).
fn parse_block(s: &str, block: &mut String, tail: &mut String) {
    // The numbers are written out as they are read (one string instead of one per number and
    // a joined copy: this runs for every address linked).
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
    tail.push_str(rest);
}

/// How many directory municipalities there are: every [`Address`]'s `place` is below this.
pub(crate) fn place_count() -> usize {
    DIRECTORY.muni_count()
}

thread_local! {
    /// Per-thread buffer of [`split_into`]'s normalised text.
    static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Split an address. The postal code, when known, tells the prefecture and municipality when the
/// address text leaves them out.
pub fn split(address: &str, postal: Option<PostalCode>) -> Address {
    let mut out = Address::default();
    split_into(address, postal, &mut out);
    out
}

/// [`split`] into `out`, reusing its strings (every address of a file is split into the
/// buffers of the one before).
pub fn split_into(address: &str, postal: Option<PostalCode>, out: &mut Address) {
    TEXT.with(|buf| match buf.try_borrow_mut() {
        Ok(mut s) => {
            super::text_to(address, &mut s);
            split_text(&s, postal, out);
        }
        // Only re-entry (which nothing here does) finds it borrowed.
        Err(_) => split_text(&text(address), postal, out),
    })
}

/// [`split_into`] of an address already normalised.
fn split_text(s: &str, postal: Option<PostalCode>, out: &mut Address) {
    let dir = &*DIRECTORY;
    let mut rest: &str = s;
    for part in [
        &mut out.prefecture,
        &mut out.municipality,
        &mut out.town,
        &mut out.block,
        &mut out.rest,
    ] {
        part.clear();
    }
    out.place = None;
    let mut pref: Option<usize> = None;
    let mut muni: Option<u32> = None;

    // Prefecture: written, or from the postal code.
    // The first character's bytes are compared before the name: most of the 47 names then
    // cost one compare instead of a call to memcmp.
    let head = rest.as_bytes().get(..3);
    if let Some(p) = dir
        .prefectures
        .iter()
        .position(|p| p.as_bytes().get(..3) == head && rest.starts_with(p.as_str()))
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
    // The postal code's places are looked up only when the text leaves something out (most
    // addresses are written in full, and the lookup is a search of the code table).
    let first_place = || postal.and_then(|c| dir.postal_munis(c).next());
    if pref.is_none()
        && let Some(m) = first_place()
    {
        pref = Some(dir.muni_pref(m));
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
        && let Some(m) = postal
            .into_iter()
            .flat_map(|c| dir.postal_munis(c))
            .find(|&m| pref.is_none_or(|p| dir.muni_pref(m) == p))
    {
        muni = Some(m);
        let written = dir.muni_name(m);
        if rest.starts_with(written) {
            rest = &rest[written.len()..];
        }
    }
    if let Some(p) = pref {
        out.prefecture.push_str(&dir.prefectures[p]);
    }
    if let Some(m) = muni {
        out.municipality.push_str(dir.muni_name(m));
        // A municipality is looked up within its prefecture (or gives it), so the two names
        // are the entry's.
        out.place = (pref == Some(dir.muni_pref(m))).then_some(m);
    }

    // Town: longest known town of the municipality; else the text before the block numbers.
    let known = muni.and_then(|m| dir.find_town(m, rest));
    let after_town = if let Some(t) = known {
        out.town.push_str(t);
        &rest[t.len()..]
    } else {
        let cut = block_start(rest).unwrap_or(rest.len());
        out.town.push_str(&rest[..cut]);
        &rest[cut..]
    };
    // 大字/字 prefixes are often written or left out.
    let start = block_start(after_town).unwrap_or(after_town.len());
    if !(out.town.is_empty() || start == 0) {
        // Text between the town and the numbers (e.g. 字 names) belongs to the town.
        out.town.push_str(&after_town[..start]);
    }
    parse_block(&after_town[start..], &mut out.block, &mut out.rest);
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
        // The directory entry stands for exactly these two names.
        let m = a.place.expect("a directory municipality");
        assert!((m as usize) < place_count());
        assert_eq!(DIRECTORY.muni_name(m), a.municipality);
        assert_eq!(DIRECTORY.prefectures[DIRECTORY.muni_pref(m)], a.prefecture);
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
        assert_eq!(a.place, None);
        assert_eq!(a.town, text("どこか遠く"));
        assert_eq!(split("", None), Address::default());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = split(&s, None);
        }

        /// Splitting into the parts of another address gives what splitting afresh gives.
        #[test]
        fn a_reused_address_changes_nothing(
            seq in proptest::collection::vec(proptest::sample::select(vec![
                "東京都千代田区千代田一丁目1番1号",
                "東京都新宿区四谷三丁目2番地の5 四谷ビル101",
                "北海道当別町弥生１２３",
                "千代田1-1",
                "どこか遠く",
                "",
            ]), 1..8)
        ) {
            let code = PostalCode::parse("1000001").ok();
            let mut reused = Address::default();
            for (i, a) in seq.iter().enumerate() {
                let postal = if i % 2 == 0 { code } else { None };
                split_into(a, postal, &mut reused);
                proptest::prop_assert_eq!(&reused, &split(a, postal));
            }
        }
    }
}
