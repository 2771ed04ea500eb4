//! Finding 個人識別符号 (My Number, insurance numbers, passport and driving licence numbers) and
//! identifying descriptions (phone numbers, e-mail addresses) in any text.
//!
//! The text is NFKC-normalized first (full-width digits, letters, hyphens and spaces become
//! ASCII), numbers are read as groups of digits joined by single separators (space, hyphen and
//! its look-alikes, `ー`, parentheses), and each run of groups is classified by its length,
//! structure, check digit and the label in front of it. A number must stand alone: a digit run
//! glued to letters or digits (`p-0123…`, `3D046000002227101`, `1.5`) is part of something else,
//! which keeps random hexadecimal pseudonyms and code-system codes from being flagged.
//!
//! Hits carry a kind and a byte span of the input, never the value, so a caller can report counts
//! and positions without copying personal data into errors or logs.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

/// What a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    /// 個人番号 (My Number): 12 digits whose check digit is valid.
    MyNumber,
    /// 保険者番号: 8 digits (法別番号 + 都道府県番号 + 保険者別番号 + 検証番号) with a health-insurance
    /// 法別番号, a prefecture code and a valid check digit; next to a label (保険者), any 8 digits,
    /// or 6 digits (国民健康保険) with a prefecture code and a valid check digit.
    InsurerNumber,
    /// 被保険者記号・番号 next to its label (記号, 番号, 被保険者番号…).
    InsuredSymbolNumber,
    /// Japanese passport number: 2 letters and 7 digits.
    Passport,
    /// 運転免許証番号: 12 digits with a valid 公安委員会 code and check digit, or 12 digits next to
    /// the label 免許.
    DriverLicence,
    /// A Japanese phone number (identifying description, measure 1).
    Phone,
    /// An e-mail address (identifying description, measure 1).
    Email,
}

impl HitKind {
    /// Every kind.
    pub const ALL: [HitKind; 7] = [
        HitKind::MyNumber,
        HitKind::InsurerNumber,
        HitKind::InsuredSymbolNumber,
        HitKind::Passport,
        HitKind::DriverLicence,
        HitKind::Phone,
        HitKind::Email,
    ];

    /// Rule name used in findings.
    pub fn as_str(self) -> &'static str {
        match self {
            HitKind::MyNumber => "my_number",
            HitKind::InsurerNumber => "insurer_number",
            HitKind::InsuredSymbolNumber => "insured_symbol_number",
            HitKind::Passport => "passport",
            HitKind::DriverLicence => "driver_licence",
            HitKind::Phone => "phone",
            HitKind::Email => "email",
        }
    }

    /// Whether the kind is a 個人識別符号 (measure 2) rather than an identifying description
    /// (measure 1).
    pub fn is_identification_code(self) -> bool {
        !matches!(self, HitKind::Phone | HitKind::Email)
    }
}

/// One hit: its kind and the byte span in the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// What was found.
    pub kind: HitKind,
    /// Byte offset of the first byte in the input.
    pub start: usize,
    /// Byte offset one past the last byte in the input.
    pub end: usize,
}

/// Every hit in `text`, in order of position; hits never overlap.
pub fn scan(text: &str) -> Vec<Hit> {
    // Fast path: every kind needs a digit or an `@`; most values (codes, names, bands) have
    // neither, and the measures scan every value of a release.
    // Non-ASCII digits of any kind (full-width, circled…) become ASCII digits under NFKC.
    if !text.chars().any(|c| {
        c.is_ascii_digit()
            || c == '@'
            || (!c.is_ascii() && (c.is_numeric() || matches!(c, '＠' | '﹫')))
    }) {
        return Vec::new();
    }
    let norm = Norm::new(text);
    let mut hits: Vec<Hit> = Vec::new();
    numbers(&norm.s, &mut hits);
    passports(&norm.s, &mut hits);
    emails(&norm.s, &mut hits);
    labelled_symbols(&norm.s, &mut hits);
    // Keep the first of overlapping hits; at one position the longer one wins.
    hits.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits {
        if out.last().is_some_and(|l| h.start < l.end) {
            continue;
        }
        out.push(h);
    }
    // Back to the input's byte offsets.
    for h in &mut out {
        h.start = norm.orig_start(h.start);
        h.end = norm.orig_end(h.end);
    }
    out
}

/// Whether 12 digits are a valid 個人番号: the check digit is 11 − (Σ Pn × Qn mod 11), 0 when the
/// remainder is 0 or 1, where Pn is the n-th digit from the right of the first 11 and Qn is
/// n + 1 for n ≤ 6 and n − 5 for n ≥ 7 (番号法施行令 第8条).
pub fn my_number_valid(digits: &[u8]) -> bool {
    if digits.len() != 12 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for n in 1..=11usize {
        let p = u32::from(digits[11 - n] - b'0');
        let q = if n <= 6 { n + 1 } else { n - 5 } as u32;
        sum += p * q;
    }
    let r = sum % 11;
    let check = if r <= 1 { 0 } else { 11 - r };
    u32::from(digits[11] - b'0') == check
}

/// The check digit of a 保険者番号 body (法別番号 + 都道府県番号 + 保険者別番号, or 都道府県番号 +
/// 保険者別番号 for 国保): from the last digit, multiply alternately by 2 and 1, add the digits of
/// the products, and take 10 − the last digit of the sum (0 when that digit is 0)
/// (保険者番号等の設定について, 厚生労働省).
pub fn insurer_check_digit(body: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &d) in body.iter().rev().enumerate() {
        let v = u32::from(d - b'0') * if i % 2 == 0 { 2 } else { 1 };
        sum += v / 10 + v % 10;
    }
    ((10 - sum % 10) % 10) as u8
}

/// Whether 8 (or 6, for 国保) digits are a 保険者番号 with a valid check digit and a plausible
/// prefecture code.
pub fn insurer_number_valid(digits: &[u8]) -> bool {
    if !(digits.len() == 8 || digits.len() == 6) || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let pref_at = digits.len() - 6;
    let pref = two(&digits[pref_at..pref_at + 2]);
    if !(1..=47).contains(&pref) {
        return false;
    }
    let (body, check) = digits.split_at(digits.len() - 1);
    insurer_check_digit(body) == check[0] - b'0'
}

/// 法別番号 of insurers whose 保険者番号 identify a person's insurance card (health insurance
/// schemes and the elderly scheme; public-expense numbers are not 保険者番号).
const HOBETSU: [u32; 11] = [1, 2, 3, 4, 6, 7, 31, 32, 33, 34, 39];

/// Whether 12 digits are a plausible 運転免許証番号: a 公安委員会 code and the 11th digit equal to
/// the last digit of 11 − (Σ digit × weight mod 11), weights 5 4 3 2 7 6 5 4 3 2. The algorithm is
/// not published by the police; it is the one documented by several public sources and is only
/// used to flag unlabelled numbers (labelled ones are flagged regardless).
pub fn driver_licence_valid(digits: &[u8]) -> bool {
    const W: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    const AUTHORITIES: [u32; 52] = [
        10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 25, 30, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50,
        51, 52, 53, 54, 55, 60, 61, 62, 63, 64, 65, 70, 71, 72, 73, 74, 80, 81, 82, 83, 90, 91, 92,
        93, 94, 95, 96, 97, 0,
    ];
    if digits.len() != 12 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !AUTHORITIES.contains(&two(&digits[..2])) {
        return false;
    }
    let sum: u32 = digits[..10]
        .iter()
        .zip(W)
        .map(|(&d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = (11 - sum % 11) % 10;
    u32::from(digits[10] - b'0') == check
}

fn two(d: &[u8]) -> u32 {
    u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0')
}

/// The NFKC form of a text with, for each of its bytes, the span of the input character it came
/// from (normalized per character, which is exact for the digits, letters and punctuation the
/// scanner looks at).
struct Norm {
    s: String,
    from: Vec<(usize, usize)>,
    len: usize,
}

impl Norm {
    fn new(text: &str) -> Self {
        let mut s = String::with_capacity(text.len());
        let mut from = Vec::with_capacity(text.len());
        let mut buf = [0u8; 4];
        for (o, c) in text.char_indices() {
            let span = (o, o + c.len_utf8());
            if c.is_ascii() {
                s.push(c);
                from.push(span);
                continue;
            }
            for n in std::iter::once(c).nfkc() {
                s.push_str(n.encode_utf8(&mut buf));
                from.extend(std::iter::repeat_n(span, n.len_utf8()));
            }
        }
        Norm {
            s,
            from,
            len: text.len(),
        }
    }

    fn orig_start(&self, i: usize) -> usize {
        self.from.get(i).map_or(self.len, |f| f.0)
    }

    fn orig_end(&self, i: usize) -> usize {
        if i == 0 {
            return 0;
        }
        self.from.get(i - 1).map_or(self.len, |f| f.1)
    }
}

/// Characters that join digit groups of one number.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '-' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF70}'
    )
}

/// Whether the text before byte `i` allows a number to start there.
fn boundary_before(s: &str, i: usize) -> bool {
    match s[..i].chars().next_back() {
        None => true,
        Some(c) => !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == ','),
    }
}

/// Whether the text from byte `i` allows a number to end there.
fn boundary_after(s: &str, i: usize) -> bool {
    let mut it = s[i..].chars();
    match it.next() {
        None => true,
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => false,
        // A decimal point or thousands separator followed by a digit continues the number.
        Some('.' | ',') => !it.next().is_some_and(|d| d.is_ascii_digit()),
        Some(_) => true,
    }
}

/// The up to `n` characters before byte `i`.
fn window_before(s: &str, i: usize, n: usize) -> &str {
    let start = s[..i]
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(o, _)| o);
    &s[start..i]
}

fn has_any(window: &str, labels: &[&str]) -> bool {
    labels.iter().any(|l| window.contains(l))
}

const LICENCE_LABELS: [&str; 2] = ["免許", "licen"];
const INSURER_LABELS: [&str; 2] = ["保険者", "insurer"];
const PHONE_LABELS: [&str; 7] = ["電話", "携帯", "TEL", "Tel", "tel", "FAX", "連絡先"];

/// Digit runs joined by single separators, classified greedily (longest run of groups first).
fn numbers(s: &str, hits: &mut Vec<Hit>) {
    let b = s.as_bytes();
    // Groups of ASCII digits.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let st = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            groups.push((st, i));
        } else {
            i += 1;
        }
    }
    // Tokens: consecutive groups whose gap is exactly one separator character.
    let mut t = 0;
    while t < groups.len() {
        let mut u = t + 1;
        while u < groups.len() {
            let gap = &s[groups[u - 1].1..groups[u].0];
            let mut cs = gap.chars();
            let joined = matches!((cs.next(), cs.next()), (Some(c), None) if is_separator(c));
            if !joined {
                break;
            }
            u += 1;
        }
        classify_token(s, &groups[t..u], hits);
        t = u;
    }
}

fn classify_token(s: &str, groups: &[(usize, usize)], hits: &mut Vec<Hit>) {
    // My Numbers first, so that a phone-like neighbour (`03 1234 5678 9018`) cannot take their
    // groups; the rest is classified between them.
    let mut taken = vec![false; groups.len()];
    for i in 0..groups.len() {
        for j in [i + 1, i + 3] {
            if j > groups.len() || taken[i..j].iter().any(|&t| t) {
                continue;
            }
            let (start, end) = (groups[i].0, groups[j - 1].1);
            let lens: Vec<usize> = groups[i..j].iter().map(|g| g.1 - g.0).collect();
            let digits: Vec<u8> = groups[i..j]
                .iter()
                .flat_map(|g| s.as_bytes()[g.0..g.1].iter().copied())
                .collect();
            if (lens == [12] || lens == [4, 4, 4])
                && boundary_before(s, start)
                && boundary_after(s, end)
                && my_number_valid(&digits)
            {
                taken[i..j].iter_mut().for_each(|t| *t = true);
                hits.push(Hit {
                    kind: HitKind::MyNumber,
                    start,
                    end,
                });
            }
        }
    }
    let mut i = 0;
    while i < groups.len() {
        if taken[i] {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < groups.len() && !taken[j] {
            j += 1;
        }
        classify_groups(s, &groups[i..j], hits);
        i = j;
    }
}

fn classify_groups(s: &str, groups: &[(usize, usize)], hits: &mut Vec<Hit>) {
    let n = groups.len();
    let mut i = 0;
    while i < n {
        let mut matched = None;
        // A number spans at most 4 groups (`+81 90 1234 5678`).
        for j in (i + 1..=n.min(i + 4)).rev() {
            let start = groups[i].0;
            let end = groups[j - 1].1;
            if !boundary_before(s, start) || !boundary_after(s, end) {
                continue;
            }
            let lens: Vec<usize> = groups[i..j].iter().map(|g| g.1 - g.0).collect();
            let digits: Vec<u8> = groups[i..j]
                .iter()
                .flat_map(|g| s.as_bytes()[g.0..g.1].iter().copied())
                .collect();
            let plus = s[..start].ends_with('+');
            if let Some(kind) = classify(s, start, &digits, &lens, plus) {
                let start = if plus { start - 1 } else { start };
                matched = Some((j, Hit { kind, start, end }));
                break;
            }
        }
        match matched {
            Some((j, hit)) => {
                hits.push(hit);
                i = j;
            }
            None => i += 1,
        }
    }
}

fn classify(s: &str, start: usize, d: &[u8], lens: &[usize], plus: bool) -> Option<HitKind> {
    let window = window_before(s, start, 12);
    let single_or_444 = lens == [12] || lens == [4, 4, 4];
    if d.len() == 12 && single_or_444 {
        if my_number_valid(d) {
            return Some(HitKind::MyNumber);
        }
        if has_any(window, &LICENCE_LABELS) || driver_licence_valid(d) {
            return Some(HitKind::DriverLicence);
        }
    }
    if plus && d.starts_with(b"81") && (11..=12).contains(&d.len()) && lens.len() >= 2 {
        return Some(HitKind::Phone);
    }
    if d.first() == Some(&b'0') {
        let mobile = d.len() == 11 && matches!(&d[..3], b"070" | b"080" | b"090" | b"050" | b"020");
        let separated = lens.len() >= 2;
        let labelled = has_any(window, &PHONE_LABELS);
        let landline = d.len() == 10 && d[1] != b'0' && (separated || labelled);
        let free = d.len() == 10 && d.starts_with(b"0120") && (separated || labelled);
        let free11 = d.len() == 11 && d.starts_with(b"0800") && (separated || labelled);
        if mobile || landline || free || free11 {
            return Some(HitKind::Phone);
        }
    }
    if lens.len() == 1 && (d.len() == 8 || d.len() == 6) {
        let labelled = has_any(window, &INSURER_LABELS);
        if labelled && (d.len() == 8 || insurer_number_valid(d)) {
            return Some(HitKind::InsurerNumber);
        }
        if d.len() == 8 && HOBETSU.contains(&two(&d[..2])) && insurer_number_valid(d) {
            return Some(HitKind::InsurerNumber);
        }
    }
    None
}

/// Two ASCII capital letters and seven digits, standing alone.
fn passports(s: &str, hits: &mut Vec<Hit>) {
    let b = s.as_bytes();
    if b.len() < 9 {
        return;
    }
    for i in 0..=b.len() - 9 {
        if b[i].is_ascii_uppercase()
            && b[i + 1].is_ascii_uppercase()
            && b[i + 2..i + 9].iter().all(u8::is_ascii_digit)
            && boundary_before(s, i)
            && boundary_after(s, i + 9)
        {
            hits.push(Hit {
                kind: HitKind::Passport,
                start: i,
                end: i + 9,
            });
        }
    }
}

/// `local@domain.tld` with ASCII parts.
fn emails(s: &str, hits: &mut Vec<Hit>) {
    let b = s.as_bytes();
    for (at, _) in s.match_indices('@') {
        let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
        let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
        let mut st = at;
        while st > 0 && local(b[st - 1]) {
            st -= 1;
        }
        let mut en = at + 1;
        while en < b.len() && domain(b[en]) {
            en += 1;
        }
        // A trailing dot ends a sentence, not the domain.
        while en > at + 1 && b[en - 1] == b'.' {
            en -= 1;
        }
        let dom = &s[at + 1..en];
        let tld_ok = dom.rsplit_once('.').is_some_and(|(h, t)| {
            !h.is_empty() && t.len() >= 2 && t.bytes().all(|c| c.is_ascii_alphabetic())
        });
        if st < at && tld_ok {
            hits.push(Hit {
                kind: HitKind::Email,
                start: st,
                end: en,
            });
        }
    }
}

/// 被保険者記号・番号: a run of letters, digits and hyphens right after a label.
fn labelled_symbols(s: &str, hits: &mut Vec<Hit>) {
    const LABELS: [&str; 4] = ["記号", "番号", "保険証", "被保険者"];
    for label in LABELS {
        for (at, _) in s.match_indices(label) {
            let mut i = at + label.len();
            // Skip what joins a label to its value: `：`, spaces, `・番号`, `は`.
            let mut skipped = 0;
            while let Some(c) = s[i..].chars().next() {
                if skipped < 4 && matches!(c, ':' | ' ' | '・' | 'は' | '=' | '#' | '/') {
                    i += c.len_utf8();
                    skipped += 1;
                } else {
                    break;
                }
            }
            let st = i;
            let b = s.as_bytes();
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
                i += 1;
            }
            while i > st && b[i - 1] == b'-' {
                i -= 1;
            }
            let value = &s[st..i];
            if value.bytes().any(|c| c.is_ascii_digit()) && value.len() <= 24 {
                hits.push(Hit {
                    kind: HitKind::InsuredSymbolNumber,
                    start: st,
                    end: i,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A valid My Number from 11 digits.
    pub(crate) fn with_my_number_check(body: &[u8; 11]) -> String {
        let mut sum = 0u32;
        for n in 1..=11usize {
            let p = u32::from(body[11 - n]);
            let q = if n <= 6 { n + 1 } else { n - 5 } as u32;
            sum += p * q;
        }
        let r = sum % 11;
        let c = if r <= 1 { 0 } else { 11 - r };
        body.iter()
            .map(|d| char::from(b'0' + d))
            .chain(std::iter::once(char::from_digit(c, 10).unwrap_or('0')))
            .collect()
    }

    fn kinds(t: &str) -> Vec<HitKind> {
        scan(t).into_iter().map(|h| h.kind).collect()
    }

    #[test]
    fn my_number_check_digit_known_example() {
        // The example the Cabinet Office material uses for the check digit.
        assert!(my_number_valid(b"123456789018"));
        for c in b'0'..=b'9' {
            if c != b'8' {
                let mut d = *b"123456789018";
                d[11] = c;
                assert!(!my_number_valid(&d));
            }
        }
    }

    #[test]
    fn insurer_check_digit_known_example() {
        // 33120015: 33 (法別) 12 (千葉) 001 + check 5, the worked example of the 設定要領.
        assert_eq!(insurer_check_digit(b"3312001"), 5);
        assert!(insurer_number_valid(b"33120015"));
        assert!(!insurer_number_valid(b"33120016"));
        assert_eq!(kinds("33120015"), vec![HitKind::InsurerNumber]);
        // 国保 (6 digits) only with a label.
        let body = b"13001";
        let c = insurer_check_digit(body);
        let six = format!("13001{c}");
        assert!(kinds(&six).is_empty());
        assert_eq!(
            kinds(&format!("保険者番号:{six}")),
            vec![HitKind::InsurerNumber]
        );
    }

    #[test]
    fn finds_each_kind_with_spans() {
        let t =
            "患者 マイナンバー １２３４－５６７８－９０１８ 連絡 090-1234-5678 a.b@example.co.jp";
        let hs = scan(t);
        let ks: Vec<_> = hs.iter().map(|h| h.kind).collect();
        assert_eq!(ks, vec![HitKind::MyNumber, HitKind::Phone, HitKind::Email]);
        assert_eq!(&t[hs[0].start..hs[0].end], "１２３４－５６７８－９０１８");
        assert_eq!(&t[hs[1].start..hs[1].end], "090-1234-5678");
        assert_eq!(&t[hs[2].start..hs[2].end], "a.b@example.co.jp");
        assert_eq!(kinds("旅券 TK1234567"), vec![HitKind::Passport]);
        assert_eq!(kinds("TEL 03-1234-5678"), vec![HitKind::Phone]);
        assert_eq!(kinds("+81 90 1234 5678"), vec![HitKind::Phone]);
        assert_eq!(
            kinds("記号：１２３４ 番号：５６"),
            vec![HitKind::InsuredSymbolNumber; 2]
        );
        assert_eq!(kinds("免許証 301234567890"), vec![HitKind::DriverLicence]);
        // A phone-like prefix does not hide a My Number.
        assert_eq!(kinds("03 1234 5678 9018"), vec![HitKind::MyNumber]);
    }

    #[test]
    fn driver_licence_check_digit() {
        // Worked example of the public sources: 10 digits 4598033587 → check 2.
        assert!(driver_licence_valid(b"459803358720"));
        assert!(!driver_licence_valid(b"459803358730"));
    }

    #[test]
    fn ignores_codes_dates_pseudonyms_and_corporate_numbers() {
        for t in [
            "E11.9",
            "2024-01",
            "2024-01-15",
            "35-39",
            "90+",
            "3D046000002227101",
            "3969007F1020",
            "620000001",
            "p-0123456789abcdef",
            "r-123456789018abcd",
            "x123456789018",
            "0.123456789018",
            "1234567890123",
            "東京都府中市",
            "HbA1c 6.5%",
        ] {
            assert!(scan(t).is_empty(), "{t}");
        }
    }

    proptest! {
        #[test]
        fn valid_my_numbers_are_found_in_any_text(
            body in proptest::array::uniform11(0u8..10),
            pre in "\\PC{0,20}",
            post in "\\PC{0,20}",
            sep in prop_oneof![Just(""), Just(" "), Just("-")],
            wide in any::<bool>(),
        ) {
            let n = with_my_number_check(&body);
            let mut v = if sep.is_empty() {
                n.clone()
            } else {
                format!("{}{sep}{}{sep}{}", &n[..4], &n[4..8], &n[8..])
            };
            if wide {
                v = v.chars().map(|c| match c {
                    '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c),
                    '-' => '－',
                    c => c,
                }).collect();
            }
            // Surround with spaces: a number glued to other digits or letters is a different
            // number, by design.
            let text = format!("{pre} {v} {post}");
            let hits = scan(&text);
            let at = pre.len() + 1;
            prop_assert!(hits.iter().any(|h| h.kind == HitKind::MyNumber
                && h.start == at && h.end == at + v.len()), "{:?}", hits);
        }

        #[test]
        fn a_wrong_check_digit_is_not_a_my_number(
            body in proptest::array::uniform11(0u8..10),
            delta in 1u8..10,
            pre in "\\PC{0,20}",
        ) {
            let n = with_my_number_check(&body);
            let last = n.as_bytes()[11] - b'0';
            let bad = format!("{}{}", &n[..11], (last + delta) % 10);
            let text = format!("{pre} {bad} ");
            prop_assert!(!scan(&text).iter().any(|h| h.kind == HitKind::MyNumber));
        }

        #[test]
        fn never_panics_and_spans_are_char_boundaries(t in "\\PC{0,80}") {
            for h in scan(&t) {
                prop_assert!(h.start < h.end && h.end <= t.len());
                prop_assert!(t.is_char_boundary(h.start) && t.is_char_boundary(h.end));
            }
        }
    }
}
