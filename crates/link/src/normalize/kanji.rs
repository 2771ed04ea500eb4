//! Old and variant kanji (旧字体・異体字) folded to one form, so that 髙橋 and 高橋, 渡邊, 渡邉 and
//! 渡辺, 齋藤, 齊藤, 斉藤 and 斎藤 compare equal.
//!
//! The table lists the variants that occur in personal and place names in Japan: the 旧字体
//! of the 人名用漢字 and 常用漢字 lists that families still register (澤, 國, 櫻, 廣, 眞, 德…),
//! the well-known 異体字 of family names that systems store as separate characters (髙, 﨑,
//! 嵜, 邉, 濵, 嶋, 冨, 槇…) and characters outside the BMP that some systems emit for them
//! (𠮷, 𡈽). Compatibility ideographs (U+F900–U+FAFF) that Unicode already decomposes under
//! NFKC (塚, 神, 福…) are not listed: NFKC runs first. The twelve compatibility ideographs
//! without a decomposition (﨑 U+FA11 among them) are listed.
//!
//! Folding is deliberately generous (斉 with 斎, 龍 with 竜, 薗 with 園): in the registers the
//! same person is written either way, and the Fellegi–Sunter model still weighs a folded
//! agreement on its own evidence because the reading (kana) is compared separately.

use std::sync::LazyLock;

/// `(variant, canonical)` pairs. The canonical form is the one most systems use today.
pub const VARIANTS: &[(char, char)] = &[
    ('髙', '高'),
    ('﨑', '崎'),
    ('嵜', '崎'),
    ('碕', '崎'),
    ('邊', '辺'),
    ('邉', '辺'),
    ('澤', '沢'),
    ('齋', '斎'),
    ('齊', '斎'),
    ('斉', '斎'),
    ('濵', '浜'),
    ('濱', '浜'),
    ('廣', '広'),
    ('櫻', '桜'),
    ('眞', '真'),
    ('德', '徳'),
    ('嶋', '島'),
    ('嶌', '島'),
    ('國', '国'),
    ('圀', '国'),
    ('當', '当'),
    ('邨', '村'),
    ('冨', '富'),
    ('槇', '槙'),
    ('篭', '籠'),
    ('瀨', '瀬'),
    ('淺', '浅'),
    ('澁', '渋'),
    ('澀', '渋'),
    ('瀧', '滝'),
    ('藏', '蔵'),
    ('龍', '竜'),
    ('學', '学'),
    ('榮', '栄'),
    ('惠', '恵'),
    ('圓', '円'),
    ('壽', '寿'),
    ('實', '実'),
    ('莊', '荘'),
    ('來', '来'),
    ('黑', '黒'),
    ('亞', '亜'),
    ('兒', '児'),
    ('增', '増'),
    ('條', '条'),
    ('藝', '芸'),
    ('檜', '桧'),
    ('凜', '凛'),
    ('萬', '万'),
    ('彌', '弥'),
    ('與', '与'),
    ('龜', '亀'),
    ('縣', '県'),
    ('關', '関'),
    ('鐵', '鉄'),
    ('寶', '宝'),
    ('寳', '宝'),
    ('團', '団'),
    ('對', '対'),
    ('滿', '満'),
    ('靜', '静'),
    ('峯', '峰'),
    ('舘', '館'),
    ('𠮷', '吉'),
    ('𡈽', '土'),
    ('桒', '桑'),
    ('栁', '柳'),
    ('埜', '野'),
    ('廸', '迪'),
    ('晉', '晋'),
    ('曻', '昇'),
    ('禮', '礼'),
    ('壷', '壺'),
    ('嶽', '岳'),
    ('崗', '岡'),
    ('峽', '峡'),
    ('渕', '淵'),
    ('渊', '淵'),
    ('辨', '弁'),
    ('辯', '弁'),
    ('瓣', '弁'),
    ('會', '会'),
    ('舊', '旧'),
    ('氣', '気'),
    ('廳', '庁'),
    ('畫', '画'),
    ('豐', '豊'),
    ('禪', '禅'),
    ('鄕', '郷'),
    ('郞', '郎'),
    ('薗', '園'),
    ('內', '内'),
    ('戶', '戸'),
    ('户', '戸'),
    ('靑', '青'),
    ('覺', '覚'),
    ('鹽', '塩'),
    ('驛', '駅'),
    ('恆', '恒'),
    ('穗', '穂'),
    ('淸', '清'),
    ('巖', '巌'),
    ('奧', '奥'),
    ('黃', '黄'),
    ('硏', '研'),
    ('瑤', '瑶'),
    ('遙', '遥'),
    ('曾', '曽'),
    ('螢', '蛍'),
    ('杤', '栃'),
    ('桝', '枡'),
    ('靏', '鶴'),
    ('鷗', '鴎'),
    ('聰', '聡'),
    ('總', '総'),
    ('緣', '縁'),
    ('顯', '顕'),
    ('凉', '涼'),
    ('槗', '橋'),
    ('巢', '巣'),
    ('睿', '叡'),
    ('佛', '仏'),
    ('拜', '拝'),
    ('壯', '壮'),
    ('將', '将'),
    ('獎', '奨'),
    ('傳', '伝'),
    ('繩', '縄'),
];

/// `(variant, canonical)` pairs sorted by variant, and the filter bits in front of them.
type Folds = (Vec<(char, char)>, Box<[u64]>);

/// The table sorted by variant, for binary search (called for every character of every name
/// and address), and a bit per low 16 bits of a code point that some variant has: nearly every
/// kanji of a name or an address is not a variant, and one bit test then answers instead of a
/// search of the table.
static TABLE: LazyLock<Folds> = LazyLock::new(|| {
    let mut t = VARIANTS.to_vec();
    t.sort_unstable();
    let mut bits = vec![0u64; 1 << 10].into_boxed_slice();
    for &(v, _) in &t {
        let low = (v as u32 & 0xFFFF) as usize;
        if let Some(w) = bits.get_mut(low / 64) {
            *w |= 1 << (low % 64);
        }
    }
    (t, bits)
});

/// The canonical form of one character (itself when it is not a listed variant).
#[inline]
pub fn fold_char(c: char) -> char {
    // Every listed variant is a CJK ideograph (U+3400 and above): kana, Latin and digits skip
    // the lookup.
    if (c as u32) < 0x3400 {
        return c;
    }
    let (table, bits) = &*TABLE;
    let low = (c as u32 & 0xFFFF) as usize;
    if bits
        .get(low / 64)
        .is_none_or(|w| w & (1 << (low % 64)) == 0)
    {
        return c;
    }
    match table.binary_search_by_key(&c, |p| p.0) {
        Ok(i) => table[i].1,
        Err(_) => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization;

    /// The bit filter in front of the search never hides a variant: every code point from
    /// U+3400 through the supplementary planes' ideographs folds as a scan of the list says.
    #[test]
    fn fold_char_agrees_with_a_scan_of_the_list() {
        let scan = |c: char| VARIANTS.iter().find(|p| p.0 == c).map_or(c, |p| p.1);
        let mut folded = 0;
        for c in (0x3400u32..0x3_2000).filter_map(char::from_u32) {
            assert_eq!(fold_char(c), scan(c), "U+{:04X}", c as u32);
            folded += usize::from(fold_char(c) != c);
        }
        assert_eq!(folded, VARIANTS.len());
    }

    #[test]
    fn table_is_sound() {
        let variants: std::collections::HashSet<char> = VARIANTS.iter().map(|p| p.0).collect();
        assert_eq!(variants.len(), VARIANTS.len(), "duplicate variant");
        assert!(
            VARIANTS.iter().all(|(v, _)| *v as u32 >= 0x3400),
            "fold_char skips below U+3400"
        );
        for &(v, c) in VARIANTS {
            assert_ne!(v, c);
            // No chains: a canonical form is never itself a variant.
            assert!(
                !variants.contains(&c),
                "{c} is both canonical and a variant"
            );
            // NFKC runs first, so an entry NFKC would rewrite is dead.
            assert_eq!(
                v.to_string().nfkc().collect::<String>(),
                v.to_string(),
                "{v} changes under NFKC"
            );
        }
    }

    #[test]
    fn issue_examples() {
        for (a, b) in [
            ("髙", "高"),
            ("﨑", "崎"),
            ("邊", "辺"),
            ("邉", "辺"),
            ("澤", "沢"),
            ("齋", "斎"),
            ("齊", "斎"),
            ("濵", "浜"),
            ("廣", "広"),
            ("櫻", "桜"),
            ("眞", "真"),
            ("德", "徳"),
            ("嶋", "島"),
            ("國", "国"),
            ("當", "当"),
            ("邨", "村"),
            ("冨", "富"),
            ("槇", "槙"),
            ("篭", "籠"),
        ] {
            let a = a.chars().next().unwrap();
            let b = b.chars().next().unwrap();
            assert_eq!(fold_char(a), fold_char(b), "{a} {b}");
        }
        assert_eq!(fold_char('山'), '山');
    }
}
