//! Seeded randomness. Every random choice is drawn from ChaCha8 streams derived from the one
//! seed, so output depends on the seed and the configuration only — not on thread count or
//! scheduling.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Independent streams of one seed: the world (providers, insurers) and one per person.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Providers, insurers and anything built once.
    World,
    /// Everything about one person (index from 0).
    Person(u64),
}

/// A random source for one stream. ChaCha's 64-bit stream id separates persons, so person
/// `i`'s draws are the same whether it is generated first, last, or on another thread.
pub struct Rand(ChaCha8Rng);

impl Rand {
    /// The generator of `stream` under `seed`.
    pub fn new(seed: u64, stream: Stream) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        // Domain separation between the world and person streams.
        key[8] = match stream {
            Stream::World => 1,
            Stream::Person(_) => 2,
        };
        key[16..24].copy_from_slice(b"tsunagu!");
        let mut r = ChaCha8Rng::from_seed(key);
        if let Stream::Person(i) = stream {
            r.set_stream(i);
        }
        Rand(r)
    }

    /// Uniform in [0, 1).
    pub fn f(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }

    /// Uniform integer in [lo, hi] (inclusive); `lo` when the range is empty.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.0.random_range(lo..=hi)
        }
    }

    /// Uniform index below `n` (`n` > 0; 0 when `n` is 0).
    pub fn index(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { self.0.random_range(0..n) }
    }

    /// A raw 64-bit value.
    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f();
        let u2 = self.f();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Normal with mean `m` and standard deviation `s`.
    pub fn gauss(&mut self, m: f64, s: f64) -> f64 {
        m + s * self.normal()
    }

    /// Poisson-distributed count with mean `lambda` (Knuth's method; our means are small).
    pub fn poisson(&mut self, lambda: f64) -> u32 {
        if lambda <= 0.0 {
            return 0;
        }
        let l = (-lambda.min(30.0)).exp();
        let (mut k, mut p) = (0u32, 1.0);
        loop {
            p *= self.f();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }

    /// Index into a cumulative weight table.
    pub fn pick_cum(&mut self, cum: &[f64]) -> usize {
        let total = cum.last().copied().unwrap_or(0.0);
        let x = self.f() * total;
        cum.partition_point(|&c| c <= x)
            .min(cum.len().saturating_sub(1))
    }

    /// Index by weights.
    pub fn pick_weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.f() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rand::new(7, Stream::Person(3)).u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let b = Rand::new(7, Stream::Person(4)).u64();
        let c = Rand::new(8, Stream::Person(3)).u64();
        let w = Rand::new(7, Stream::World).u64();
        assert_ne!(a[0], b);
        assert_ne!(a[0], c);
        assert_ne!(a[0], w);
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut r = Rand::new(1, Stream::World);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| r.gauss(10.0, 2.0)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 10.0).abs() < 0.1, "{mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.1, "{var}");
        let p: u32 = (0..n).map(|_| r.poisson(2.5)).sum();
        assert!((f64::from(p) / n as f64 - 2.5).abs() < 0.1);
        let cum = [1.0, 1.0, 4.0];
        let mut counts = [0; 3];
        for _ in 0..n {
            counts[r.pick_cum(&cum)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((f64::from(counts[2]) / n as f64 - 0.75).abs() < 0.02);
    }
}
