//! Check digits of Japan's official numbering schemes, so generated codes pass the checks that
//! receipt and clinic systems run on input.

/// The check digit used by 保険者番号 (MHLW 保険者番号設定要領) and by the 10-digit
/// 医療機関コード (prefecture 2 + 点数表 1 + 郡市区 2 + number 4 + check 1): starting from the
/// rightmost digit, multiply by 2, 1, 2, 1, …; add the digits of each product; the check digit
/// is 10 minus the last digit of the sum (0 when that last digit is 0). This is the Luhn rule.
pub fn luhn_check_digit(digits: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = u32::from(c - b'0');
        let p = if i % 2 == 0 { d * 2 } else { d };
        sum += p / 10 + p % 10;
    }
    Some(((10 - sum % 10) % 10) as u8)
}

/// `digits` followed by its Luhn check digit.
pub fn with_luhn(digits: &str) -> Option<String> {
    let c = luhn_check_digit(digits)?;
    Some(format!("{digits}{c}"))
}

/// Whether the last digit of `code` is the Luhn check digit of the rest.
pub fn luhn_valid(code: &str) -> bool {
    match code.len().checked_sub(1) {
        Some(n) if n > 0 => {
            luhn_check_digit(&code[..n]).map(|c| b'0' + c) == code.as_bytes().get(n).copied()
        }
        _ => false,
    }
}

/// The check digit of a 全国地方公共団体コード (総務省): multiply the five digits by 6, 5, 4, 3, 2,
/// add, take the remainder modulo 11, subtract it from 11 and keep the last digit.
pub fn municipality_check_digit(five: &str) -> Option<u8> {
    if five.len() != 5 {
        return None;
    }
    let mut sum = 0u32;
    for (c, w) in five.bytes().zip([6u32, 5, 4, 3, 2]) {
        if !c.is_ascii_digit() {
            return None;
        }
        sum += u32::from(c - b'0') * w;
    }
    Some(((11 - sum % 11) % 10) as u8)
}

/// A five-digit municipal code followed by its check digit.
pub fn with_municipality_check(five: &str) -> Option<String> {
    let c = municipality_check_digit(five)?;
    Some(format!("{five}{c}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_official_codes() {
        // 千葉県警察 共済組合: 33120015 (MHLW example).
        assert_eq!(with_luhn("3312001").unwrap(), "33120015");
        // 協会けんぽ 東京支部: 01130012.
        assert!(luhn_valid("01130012"));
        // A 10-digit 医療機関コード printed on prescriptions.
        assert!(luhn_valid("0110113719"));
        assert!(!luhn_valid("0110113718"));
        // 千代田区 131016, 札幌市 011002, 横浜市 141003.
        assert_eq!(with_municipality_check("13101").unwrap(), "131016");
        assert_eq!(with_municipality_check("01100").unwrap(), "011002");
        assert_eq!(with_municipality_check("14100").unwrap(), "141003");
        assert!(luhn_check_digit("12a").is_none());
        assert!(!luhn_valid("5"));
    }

    proptest::proptest! {
        #[test]
        fn check_digits_validate_and_catch_single_digit_errors(digits in "[0-9]{5,12}", pos in 0usize..12, delta in 1u8..10) {
            let code = with_luhn(&digits).unwrap();
            proptest::prop_assert!(luhn_valid(&code));
            // Changing any one digit breaks the check (the Luhn rule catches all single errors).
            let pos = pos % digits.len();
            let mut bytes = code.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            proptest::prop_assert!(!luhn_valid(&String::from_utf8(bytes).unwrap()));
        }

        #[test]
        fn municipality_codes_have_six_digits(five in "[0-9]{5}") {
            let c = with_municipality_check(&five).unwrap();
            proptest::prop_assert_eq!(c.len(), 6);
            proptest::prop_assert!(c.starts_with(&five));
        }
    }
}
