//! Comparison of two tokenised records, field by field, into comparison levels.
//!
//! Everything here takes [`TokenTable`]s: the comparator cannot be handed plaintext.

use crate::record::{Grams, TokenTable};
use crate::schema::FieldKind;
use crate::token::Token;

/// Dice coefficient of two sorted, de-duplicated token (or gram) sets (0 when either is empty).
pub fn dice<T: Ord + Copy>(a: &[T], b: &[T]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    2.0 * common_by(a, b, |x| x) as f64 / (a.len() + b.len()) as f64
}

/// How many elements two slices sorted by `key` have in common (by key, each counted once
/// a side).
pub(crate) fn common_by<T: Copy, K: Ord>(a: &[T], b: &[T], key: impl Fn(T) -> K) -> usize {
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match key(a[i]).cmp(&key(b[j])) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common
}

/// Dice coefficient if it is at least `min`, else 0. Stops the merge as soon as `min` can no
/// longer be reached, which is what makes comparing random (mostly unrelated) pairs cheap.
#[inline]
pub fn dice_at_least<T: Ord + Copy>(a: &[T], b: &[T], min: f64) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let total = (a.len() + b.len()) as f64;
    // The ceiling of min·total/2, without a call to libm's `ceil` (the baseline x86-64
    // target has no rounding instruction) on a path run for every compared pair.
    let half = min * total / 2.0;
    let needed = half as usize + usize::from((half as usize as f64) < half);
    if needed > a.len().min(b.len()) {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        if common + (a.len() - i).min(b.len() - j) < needed {
            return 0.0;
        }
        // Without branches on the comparison: on unrelated sets which side advances is a coin
        // toss, and a mispredicted branch per step cost more than the step.
        let (x, y) = (a[i], b[j]);
        common += usize::from(x == y);
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    let d = 2.0 * common as f64 / total;
    if d >= min { d } else { 0.0 }
}

/// Bits per field in a packed comparison pattern.
pub const LEVEL_BITS: u32 = 4;
/// Most fields a schema may have (64 / [`LEVEL_BITS`]).
pub const MAX_FIELDS: usize = 16;

/// The level of field `f` in a packed pattern.
#[inline]
pub fn level_of(pattern: u64, f: usize) -> u8 {
    ((pattern >> (f as u32 * LEVEL_BITS)) & 0xF) as u8
}

/// Compares records of two token tables with the same schema (or a table with itself).
#[derive(Clone, Copy)]
pub struct Comparator<'a> {
    left: &'a TokenTable,
    right: &'a TokenTable,
    family: Option<usize>,
    given: Option<usize>,
}

/// Two tables cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompareError {
    /// The tables were encoded with different schemas.
    #[error("the two inputs were tokenised with different field sets")]
    SchemaMismatch,
    /// The tables' q-grams were numbered by different encoders.
    #[error("the two inputs were tokenised by different encoders and cannot be compared")]
    DifferentEncoders,
    /// More fields than a pattern can hold.
    #[error("at most {MAX_FIELDS} comparison fields are supported")]
    TooManyFields,
}

impl<'a> Comparator<'a> {
    /// A comparator over two tables (pass the same table twice to deduplicate).
    pub fn new(left: &'a TokenTable, right: &'a TokenTable) -> Result<Self, CompareError> {
        if left.schema() != right.schema() {
            return Err(CompareError::SchemaMismatch);
        }
        if !left.same_numbering(right) {
            return Err(CompareError::DifferentEncoders);
        }
        if left.schema().fields.len() > MAX_FIELDS {
            return Err(CompareError::TooManyFields);
        }
        Ok(Comparator {
            left,
            right,
            family: left.schema().position(FieldKind::FamilyName),
            given: left.schema().position(FieldKind::GivenName),
        })
    }

    /// The left table.
    pub fn left(&self) -> &'a TokenTable {
        self.left
    }

    /// The right table.
    pub fn right(&self) -> &'a TokenTable {
        self.right
    }

    /// Packed levels of every field for the pair (`a` in left, `b` in right).
    #[inline]
    pub fn pattern(&self, a: usize, b: usize) -> u64 {
        let (ra, rb) = (Lazy(self.left, a), Lazy(self.right, b));
        let mut p = 0u64;
        for f in 0..self.left.schema().fields.len() {
            p |= u64::from(self.level_of(f, &ra, &rb)) << (f as u32 * LEVEL_BITS);
        }
        p
    }

    /// The tokens of record `i` of the left (`right` false) or right table, every field read
    /// once and appended to `out`, for comparing it with many records by
    /// [`Comparator::pattern_of_views`].
    pub fn view<'t>(&self, right: bool, i: usize, out: &mut Vec<FieldView<'t>>)
    where
        'a: 't,
    {
        let table: &'t TokenTable = if right { self.right } else { self.left };
        out.extend((0..table.schema().fields.len()).map(|f| {
            let c = table.column(f);
            FieldView {
                whole: c.whole(i),
                alt: c.alt(i),
                grams: c.grams(i),
            }
        }));
    }

    /// [`Comparator::pattern`] of two records read by [`Comparator::view`].
    #[inline]
    pub fn pattern_of_views(&self, a: &[FieldView<'_>], b: &[FieldView<'_>]) -> u64 {
        let mut p = 0u64;
        for f in 0..self.left.schema().fields.len().min(a.len()).min(b.len()) {
            p |= u64::from(self.level_of(f, &a, &b)) << (f as u32 * LEVEL_BITS);
        }
        p
    }

    /// The comparison level of field `f` (see [`FieldKind::levels`] for the names).
    pub fn level(&self, f: usize, a: usize, b: usize) -> u8 {
        self.level_of(f, &Lazy(self.left, a), &Lazy(self.right, b))
    }

    /// The level of field `f` between two records, however their tokens are read: in place
    /// (a pair compared once) or gathered (a record compared with many).
    #[inline]
    fn level_of(&self, f: usize, a: &impl Tokens, b: &impl Tokens) -> u8 {
        let kind = self.left.schema().fields[f];
        let (wa, wb) = (a.whole(f), b.whole(f));
        let (xa, xb) = (a.alt(f), b.alt(f));
        let same = |x: Token, y: Token| x.is_some() && x == y;
        match kind {
            FieldKind::FamilyName | FieldKind::GivenName => {
                if wa.is_none() || wb.is_none() {
                    return 0;
                }
                if wa == wb {
                    return 6;
                }
                if same(xa[0], xb[0]) || same(xa[1], xb[1]) {
                    return 5;
                }
                let other = if kind == FieldKind::FamilyName {
                    self.given
                } else {
                    self.family
                };
                if let Some(o) = other {
                    // 姓 and 名 share a key, so this field of one record can be compared with the
                    // other name field of the other record.
                    let ya = a.alt(o);
                    let yb = b.alt(o);
                    if (same(wa, b.whole(o)) || same(xa[0], yb[0]) || same(xa[1], yb[1]))
                        && (same(wb, a.whole(o)) || same(xb[0], ya[0]) || same(xb[1], ya[1]))
                    {
                        return 4;
                    }
                }
                let d = a.grams(f).dice_at_least(b.grams(f), 0.5);
                if d >= 0.75 {
                    3
                } else if d >= 0.5 {
                    2
                } else {
                    1
                }
            }
            FieldKind::BirthDate => {
                if wa.is_none() || wb.is_none() {
                    0
                } else if wa == wb {
                    4
                } else if same(xa[0], wb) || same(xb[0], wa) {
                    3
                } else if (1..4).filter(|&i| same(xa[i], xb[i])).count() >= 2 {
                    2
                } else {
                    1
                }
            }
            FieldKind::Sex => {
                if wa.is_none() || wb.is_none() {
                    0
                } else if wa == wb {
                    2
                } else {
                    1
                }
            }
            FieldKind::PostalCode => {
                if wa.is_none() || wb.is_none() {
                    0
                } else if wa == wb {
                    4
                } else if same(xa[1], xb[1]) {
                    3
                } else if same(xa[0], xb[0]) {
                    2
                } else {
                    1
                }
            }
            FieldKind::JpAddress => {
                if wa.is_none() || wb.is_none() {
                    0
                } else if wa == wb {
                    5
                } else if same(xa[0], xb[0]) {
                    4
                } else if a.grams(f).dice_at_least(b.grams(f), 0.8) >= 0.8 {
                    3
                } else if same(xa[1], xb[1]) {
                    2
                } else {
                    1
                }
            }
            FieldKind::Insurance => {
                if wa.is_none() || wb.is_none() {
                    0
                } else if wa == wb {
                    4
                } else if same(xa[1], xb[1]) || same(xa[2], xb[2]) {
                    3
                } else if same(xa[0], xb[0]) {
                    2
                } else {
                    1
                }
            }
            FieldKind::Text(_) => {
                if wa.is_none() || wb.is_none() {
                    return 0;
                }
                if wa == wb {
                    return 5;
                }
                if same(xa[0], xb[0]) {
                    return 4;
                }
                let d = a.grams(f).dice_at_least(b.grams(f), 0.6);
                if d >= 0.8 {
                    3
                } else if d >= 0.6 {
                    2
                } else {
                    1
                }
            }
        }
    }
}

/// One field of one record's tokens, read once (see [`Comparator::view`]).
#[derive(Debug, Clone, Copy)]
pub struct FieldView<'t> {
    whole: Token,
    alt: [Token; 4],
    grams: Grams<'t>,
}

/// How [`Comparator::level_of`] reads a record's tokens.
trait Tokens {
    fn whole(&self, f: usize) -> Token;
    fn alt(&self, f: usize) -> [Token; 4];
    fn grams(&self, f: usize) -> Grams<'_>;
}

/// A record read in place from its table.
struct Lazy<'t>(&'t TokenTable, usize);

impl Tokens for Lazy<'_> {
    #[inline(always)]
    fn whole(&self, f: usize) -> Token {
        self.0.column(f).whole(self.1)
    }
    #[inline(always)]
    fn alt(&self, f: usize) -> [Token; 4] {
        self.0.column(f).alt(self.1)
    }
    #[inline(always)]
    fn grams(&self, f: usize) -> Grams<'_> {
        self.0.column(f).grams(self.1)
    }
}

impl Tokens for &[FieldView<'_>] {
    #[inline(always)]
    fn whole(&self, f: usize) -> Token {
        self.get(f).map_or(Token::NONE, |v| v.whole)
    }
    #[inline(always)]
    fn alt(&self, f: usize) -> [Token; 4] {
        self.get(f).map_or([Token::NONE; 4], |v| v.alt)
    }
    #[inline(always)]
    fn grams(&self, f: usize) -> Grams<'_> {
        self.get(f).map_or(Grams::Narrow(&[]), |v| v.grams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::LinkageKey;
    use crate::token::Tag;

    proptest::proptest! {
        #[test]
        fn early_exit_dice_agrees_with_dice(a in proptest::collection::vec(0u8..40, 0..12), b in proptest::collection::vec(0u8..40, 0..12), min in 0.1f64..1.0) {
            let k = LinkageKey::from_bytes([3; 32]).field_key("t");
            let toks = |v: &[u8]| {
                let mut t: Vec<Token> = v.iter().map(|x| k.token(Tag::Gram, &x.to_string())).collect();
                t.sort_unstable();
                t.dedup();
                t
            };
            let (ta, tb) = (toks(&a), toks(&b));
            let d = dice(&ta, &tb);
            let e = dice_at_least(&ta, &tb, min);
            if d >= min { proptest::prop_assert!((d - e).abs() < 1e-12); } else { proptest::prop_assert_eq!(e, 0.0); }
        }
    }
}
