//! Scored pairs as CSV: `left_id,right_id,match_probability`, and with explanations the match
//! weight and each field's level and weight. Rows are formatted in parallel chunks and written
//! in the pairs' order, so the file is the same whatever the number of threads.

use std::io::Write;

use rayon::prelude::*;

use crate::compare::Comparator;
use crate::engine::{LinkOutcome, ScoredPair};
use crate::source::Ids;

/// Why pairs could not be written (the caller names the file).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The CSV writer failed (only on I/O: ids are written as they were read).
    #[error("{0}")]
    Csv(#[from] csv::Error),
    /// Writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Pairs one task formats (about 200 kB of CSV).
const CHUNK: usize = 4096;

/// What the pairs refer to: the two sides' ids and the names of their columns.
#[derive(Debug, Clone, Copy)]
pub struct PairIds<'a> {
    /// Ids of the left records (of the one file when deduplicating).
    pub left: &'a Ids,
    /// Ids of the right records.
    pub right: &'a Ids,
    /// Header of the two id columns.
    pub header: (&'a str, &'a str),
}

/// Write `outcome`'s links to `out` as CSV with a header row; with `explain`, the comparator of
/// the two tables the links were scored on adds each pair's weights. Returns `out`, to be
/// flushed and committed by the caller.
pub fn write_pairs<W: Write>(
    mut out: W,
    outcome: &LinkOutcome,
    ids: PairIds<'_>,
    explain: Option<&Comparator<'_>>,
) -> Result<W, OutputError> {
    let mut head = vec![
        ids.header.0.to_owned(),
        ids.header.1.to_owned(),
        "match_probability".to_owned(),
    ];
    if let Some(cmp) = explain {
        head.push("match_weight".to_owned());
        for f in &cmp.left().schema().fields {
            head.push(format!("{}_level", f.name()));
            head.push(format!("{}_weight", f.name()));
        }
    }
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(&head)?;
        w.flush()?;
    }
    // A few chunks per thread at a time: the formatted text held at once stays bounded however
    // many pairs there are.
    let wave = CHUNK * 2 * rayon::current_num_threads().max(1);
    for links in outcome.links.chunks(wave) {
        let parts: Vec<Result<Vec<u8>, OutputError>> = links
            .par_chunks(CHUNK)
            .map(|chunk| format_chunk(chunk, outcome, ids, explain))
            .collect();
        for part in parts {
            out.write_all(&part?)?;
        }
    }
    Ok(out)
}

/// The CSV rows of `links`.
fn format_chunk(
    links: &[ScoredPair],
    outcome: &LinkOutcome,
    ids: PairIds<'_>,
    explain: Option<&Comparator<'_>>,
) -> Result<Vec<u8>, OutputError> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(links.len() * 48));
    // Pairs come sorted by left record: the left walker decodes each id once.
    let (mut left, mut right) = (ids.left.walker(), ids.right.walker());
    let mut probability = String::new();
    let mut weights: Vec<String> = Vec::new();
    for p in links {
        probability.clear();
        fixed_6(p.probability, &mut probability);
        let (a, b) = (left.id(p.left as usize), right.id(p.right as usize));
        match explain {
            None => w.write_record([a, b, probability.as_str()])?,
            Some(cmp) => {
                let model = &outcome.model;
                weights.clear();
                weights.push(format!(
                    "{:.3}",
                    model.match_weight(cmp, p.left as usize, p.pattern)
                ));
                for fw in model.explain(cmp, p.left as usize, p.pattern) {
                    weights.push(fw.level.to_owned());
                    weights.push(format!("{:.3}", fw.weight));
                }
                let fixed = [a, b, probability.as_str()];
                w.write_record(fixed.into_iter().chain(weights.iter().map(String::as_str)))?;
            }
        }
    }
    w.into_inner().map_err(|e| OutputError::Io(e.into_error()))
}

/// `x` with six decimals, exactly as `format!("{x:.6}")` writes it (the decimal nearest the
/// binary value, ties to even), appended to `out`.
///
/// By hand because std's exact formatting falls back to big-number arithmetic for some values
/// (probabilities a hair below 1 among them), and every link row has one: here the scaled value
/// is one 128-bit product, then a shift. Values this does not cover (negative, not finite, or
/// 2⁵² and above) go to std.
pub fn fixed_6(x: f64, out: &mut String) {
    use std::fmt::Write as _;
    const SCALE: u128 = 1_000_000;
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7FF) as i32;
    let fraction = u128::from(bits & ((1u64 << 52) - 1));
    if bits >> 63 != 0 || exponent >= 1075 {
        // Negative, at least 2^52 (no fraction bits left to round), infinite or NaN.
        let _ = write!(out, "{x:.6}");
        return;
    }
    // x = mantissa · 2^-shift, shift ≥ 1 for every x below 2^52.
    let (mantissa, shift) = if exponent == 0 {
        (fraction, 1074)
    } else {
        (fraction | 1 << 52, 1075 - exponent)
    };
    let scaled = mantissa * SCALE;
    let units = if shift >= 128 {
        // x < 2^-75: x·10^6 is far below one half.
        0
    } else {
        let whole = scaled >> shift;
        let rest = scaled & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        whole + u128::from(rest > half || (rest == half && whole & 1 == 1))
    };
    let _ = write!(out, "{}.{:06}", units / SCALE, units % SCALE);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(x: f64) -> String {
        let mut s = String::new();
        fixed_6(x, &mut s);
        s
    }

    #[test]
    fn six_decimals_as_std_writes_them() {
        for x in [
            0.0,
            1.0,
            0.5,
            0.999_999_5,
            0.999_999_499_999_999_9,
            1.0 - f64::EPSILON,
            1.0 / 128.0,
            3.0 / 128.0,
            127.0 / 128.0,
            1e-7,
            5e-7,
            f64::MIN_POSITIVE,
            5e-324,
            123_456.789_012_5,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            -0.25,
            -0.0,
            f64::NAN,
            f64::INFINITY,
        ] {
            assert_eq!(text(x), format!("{x:.6}"), "{x:e}");
        }
    }

    proptest::proptest! {
        /// Any double, and any probability, as std formats it.
        #[test]
        fn any_double_as_std_writes_it(bits in proptest::num::u64::ANY, p in 0.0f64..=1.0) {
            let x = f64::from_bits(bits);
            proptest::prop_assert_eq!(text(x), format!("{x:.6}"));
            proptest::prop_assert_eq!(text(p), format!("{p:.6}"));
        }

        /// Exact ties (odd multiples of 2^-7 are halfway between two sixth decimals) round to
        /// even, as std does.
        #[test]
        fn ties_round_to_even(k in 0u32..(1 << 20)) {
            let x = f64::from(k) / 128.0;
            proptest::prop_assert_eq!(text(x), format!("{x:.6}"));
        }
    }
}
