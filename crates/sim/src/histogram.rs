//! A latency histogram with bounded relative error and fixed memory (HDR style): values
//! below 64 have a bucket each; above, every power of two is split into 32 buckets, so a
//! recorded value is known to within about 3%. Values are microseconds.

use serde::Serialize;

/// Buckets below this value hold one value each.
const LINEAR: u64 = 64;
/// Sub-buckets per power of two above [`LINEAR`] (5 bits of precision).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for any `u64`.
const BUCKETS: usize = LINEAR as usize + (64 - 6) * SUB as usize;

#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram { counts: vec![0; BUCKETS].into_boxed_slice(), total: 0, sum: 0, max: 0 }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").field("total", &self.total).field("max", &self.max).finish_non_exhaustive()
    }
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    // The top SUB_BITS + 1 bits of v: 32..=63.
    let top = v >> (msb - SUB_BITS);
    (LINEAR + u64::from(msb - 6) * SUB + (top - SUB)) as usize
}

/// The largest value of bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let group = (i - LINEAR) / SUB;
    let top = SUB + (i - LINEAR) % SUB;
    let shift = group + 1;
    let bound = (u128::from(top + 1) << shift) - 1;
    u64::try_from(bound).unwrap_or(u64::MAX)
}

/// Percentiles of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        self.counts[index(micros)] += 1;
        self.total += 1;
        self.sum += u128::from(micros);
        self.max = self.max.max(micros);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
        self.sum = 0;
        self.max = 0;
    }

    /// The smallest recorded bucket bound below which `q` (0..=1) of the values lie.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }

    pub fn summary(&self) -> Summary {
        Summary {
            count: self.total,
            mean: if self.total == 0 { 0.0 } else { self.sum as f64 / self.total as f64 },
            p50: self.quantile(0.50),
            p95: self.quantile(0.95),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
            max: self.max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order_with_bounded_error() {
        let mut last = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            assert!(i >= last, "indices are monotonic at {v}");
            last = i;
            let hi = upper(i);
            assert!(hi >= v, "{v} above its bucket's bound {hi}");
            assert!((hi - v) as f64 <= v as f64 * 0.035 + 1.0, "{v}: bound {hi} too far");
        }
        assert_eq!(index(63), 63);
        assert_eq!(index(64), 64);
        assert_eq!(upper(64), 65);
    }

    #[test]
    fn quantiles_of_a_uniform_sample() {
        let mut h = Histogram::default();
        for v in 1..=10_000 {
            h.record(v);
        }
        let s = h.summary();
        assert_eq!(s.count, 10_000);
        assert!((s.mean - 5000.5).abs() < 1e-9);
        for (got, want) in [(s.p50, 5000), (s.p95, 9500), (s.p99, 9900)] {
            assert!(got >= want && got as f64 <= want as f64 * 1.035, "{got} vs {want}");
        }
        assert_eq!(s.max, 10_000);
        assert_eq!(h.quantile(1.0), 10_000);
    }

    #[test]
    fn merge_and_clear() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(10);
        b.record(1_000_000);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.summary().max, 1_000_000);
        assert_eq!(a.quantile(0.5), 10);
        a.clear();
        assert_eq!(a.summary(), Summary::default());
    }
}
