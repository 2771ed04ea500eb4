//! How providers distort identities: kana forms, old and variant kanji, stray spaces, typos,
//! full-width digits.

/// Pairs of (common form, old or variant form) found in Japanese family and given names.
pub const VARIANTS: [(char, char); 20] = [
    ('高', '髙'),
    ('崎', '﨑'),
    ('辺', '邊'),
    ('沢', '澤'),
    ('斎', '齋'),
    ('浜', '濵'),
    ('島', '嶋'),
    ('広', '廣'),
    ('桜', '櫻'),
    ('徳', '德'),
    ('国', '國'),
    ('竜', '龍'),
    ('寿', '壽'),
    ('恵', '惠'),
    ('真', '眞'),
    ('関', '關'),
    ('瀬', '瀨'),
    ('条', '條'),
    ('富', '冨'),
    ('吉', '𠮷'),
];

/// Whether `s` has a character with a variant form (in either direction).
pub fn has_variant(s: &str) -> bool {
    s.chars()
        .any(|c| VARIANTS.iter().any(|(a, b)| *a == c || *b == c))
}

/// Swap the first character that has a variant to its other form.
pub fn swap_variant(s: &str) -> String {
    let mut done = false;
    s.chars()
        .map(|c| {
            if done {
                return c;
            }
            for (a, b) in VARIANTS {
                if c == a {
                    done = true;
                    return b;
                }
                if c == b {
                    done = true;
                    return a;
                }
            }
            c
        })
        .collect()
}

/// Katakana to hiragana (ヴ stays).
pub fn to_hiragana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ァ'..='ヶ' if c != 'ヴ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

const HALF: [&str; 95] = [
    "ｧ", "ｱ", "ｨ", "ｲ", "ｩ", "ｳ", "ｪ", "ｴ", "ｫ", "ｵ", "ｶ", "ｶﾞ", "ｷ", "ｷﾞ", "ｸ", "ｸﾞ", "ｹ", "ｹﾞ", "ｺ",
    "ｺﾞ", "ｻ", "ｻﾞ", "ｼ", "ｼﾞ", "ｽ", "ｽﾞ", "ｾ", "ｾﾞ", "ｿ", "ｿﾞ", "ﾀ", "ﾀﾞ", "ﾁ", "ﾁﾞ", "ｯ", "ﾂ", "ﾂﾞ", "ﾃ",
    "ﾃﾞ", "ﾄ", "ﾄﾞ", "ﾅ", "ﾆ", "ﾇ", "ﾈ", "ﾉ", "ﾊ", "ﾊﾞ", "ﾊﾟ", "ﾋ", "ﾋﾞ", "ﾋﾟ", "ﾌ", "ﾌﾞ", "ﾌﾟ", "ﾍ", "ﾍﾞ",
    "ﾍﾟ", "ﾎ", "ﾎﾞ", "ﾎﾟ", "ﾏ", "ﾐ", "ﾑ", "ﾒ", "ﾓ", "ｬ", "ﾔ", "ｭ", "ﾕ", "ｮ", "ﾖ", "ﾗ", "ﾘ", "ﾙ", "ﾚ",
    "ﾛ", "ﾜ", "ﾜ", "ｲ", "ｴ", "ｦ", "ﾝ", "ｳﾞ", "ｶ", "ｹ", "ﾜﾞ", "ｲﾞ", "ｴﾞ", "ｦﾞ", "･", "ｰ", "ヽ", "ヾ",
    "ヿ",
];

/// Full-width katakana to half-width (ガ → ｶﾞ); other characters unchanged.
pub fn to_half_width(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            'ァ'..='ヿ' => out.push_str(HALF[(c as u32 - 'ァ' as u32) as usize]),
            '　' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// ASCII digits and hyphens to full-width.
pub fn to_full_width_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c),
            '-' => '－',
            _ => c,
        })
        .collect()
}

/// A kana slip at character `at` (modulo length): small kana written large, a voicing mark
/// dropped, or ヅ/ズ and ヂ/ジ confused. Returns `None` when no character can slip.
pub fn kana_slip(s: &str, at: usize) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    for k in 0..n {
        let i = (at + k) % n;
        let repl = match chars[i] {
            'ッ' => 'ツ',
            'ャ' => 'ヤ',
            'ュ' => 'ユ',
            'ョ' => 'ヨ',
            'ァ' => 'ア',
            'ィ' => 'イ',
            'ゥ' => 'ウ',
            'ェ' => 'エ',
            'ォ' => 'オ',
            'ヅ' => 'ズ',
            'ヂ' => 'ジ',
            'ズ' => 'ヅ',
            'ガ' | 'ギ' | 'グ' | 'ゲ' | 'ゴ' | 'ザ' | 'ジ' | 'ゼ' | 'ゾ' | 'ダ' | 'デ' | 'ド'
            | 'バ' | 'ビ' | 'ブ' | 'ベ' | 'ボ' => char::from_u32(chars[i] as u32 - 1)?,
            'パ' | 'ピ' | 'プ' | 'ペ' | 'ポ' => char::from_u32(chars[i] as u32 - 2)?,
            _ => continue,
        };
        let mut out = chars.clone();
        out[i] = repl;
        return Some(out.into_iter().collect());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_forms() {
        assert_eq!(to_hiragana("サトウ ジュンイチ"), "さとう じゅんいち");
        assert_eq!(to_half_width("ガッコウ　パン"), "ｶﾞｯｺｳ ﾊﾟﾝ");
        assert_eq!(to_half_width("ヴ"), "ｳﾞ");
        assert_eq!(to_full_width_digits("160-0023"), "１６０－００２３");
    }

    #[test]
    fn half_width_table_is_aligned() {
        // Spot checks across the table: a misaligned row would shift everything after it.
        for (full, half) in [
            ('ア', "ｱ"),
            ('ン', "ﾝ"),
            ('ヲ', "ｦ"),
            ('ポ', "ﾎﾟ"),
            ('ヨ', "ﾖ"),
            ('ワ', "ﾜ"),
            ('ー', "ｰ"),
        ] {
            assert_eq!(to_half_width(&full.to_string()), half, "{full}");
        }
    }

    #[test]
    fn variants_and_slips() {
        assert_eq!(swap_variant("高橋"), "髙橋");
        assert_eq!(swap_variant("髙橋"), "高橋");
        assert_eq!(swap_variant("渡辺"), "渡邊");
        assert!(has_variant("山﨑"));
        assert!(!has_variant("佐藤"));
        assert_eq!(kana_slip("ハットリ", 0).unwrap(), "ハツトリ");
        assert_eq!(kana_slip("ゴトウ", 0).unwrap(), "コトウ");
        assert!(kana_slip("サトウ", 0).is_none());
    }

    proptest::proptest! {
        #[test]
        fn noise_functions_never_panic_and_keep_length(s in "[ァ-ヶ一-龥ー　a-z0-9]{0,12}", at in 0usize..20) {
            let n = s.chars().count();
            proptest::prop_assert_eq!(to_hiragana(&s).chars().count(), n);
            proptest::prop_assert_eq!(swap_variant(&s).chars().count(), n);
            proptest::prop_assert_eq!(swap_variant(&swap_variant(&s)), s.clone());
            proptest::prop_assert!(to_half_width(&s).chars().count() >= n);
            if let Some(t) = kana_slip(&s, at) {
                proptest::prop_assert_eq!(t.chars().count(), n);
                proptest::prop_assert_ne!(t, s.clone());
            }
        }
    }
}
