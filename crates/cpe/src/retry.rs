//! Session retry wait intervals (TR-069 3.2.1.1, Table 3).
//!
//! With `m` = `ManagementServer.CWMPRetryMinimumWaitInterval` (seconds, factory default 5)
//! and `k` = `ManagementServer.CWMPRetryIntervalMultiplier` (thousandths, factory default
//! 2000), the n-th retry after a reboot waits a random number of seconds in
//! `[m·(k/1000)^(j−1), m·(k/1000)^j]` with `j = min(n, 10)`: the range stops growing at the
//! tenth retry.
//!
//! Two counters are kept apart (digest trap 13): the retry *count* reported in the Inform
//! survives reboots, while the interval *index* `n` starts again after a reboot.

use std::time::Duration;

use rand::{Rng, RngExt as _};

/// Factory default of CWMPRetryMinimumWaitInterval (3.2.1.1).
pub const DEFAULT_MIN_WAIT: u32 = 5;
/// Factory default of CWMPRetryIntervalMultiplier (3.2.1.1).
pub const DEFAULT_MULTIPLIER: u32 = 2000;
/// From this retry on the range no longer grows (3.2.1.1 item 9).
pub const MAX_EXPONENT: u32 = 10;

/// `m` and `k` of Table 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryParams {
    /// Seconds, 1-65535.
    pub min_wait: u32,
    /// Thousandths, 1000-65535.
    pub multiplier: u32,
}

impl Default for RetryParams {
    fn default() -> RetryParams {
        RetryParams { min_wait: DEFAULT_MIN_WAIT, multiplier: DEFAULT_MULTIPLIER }
    }
}

impl RetryParams {
    /// The parameters as read from the data model; values outside the data model's ranges
    /// (an unset parameter reads 0) fall back to the factory defaults.
    pub fn from_model(min_wait: Option<u32>, multiplier: Option<u32>) -> RetryParams {
        RetryParams {
            min_wait: min_wait.filter(|m| (1..=65535).contains(m)).unwrap_or(DEFAULT_MIN_WAIT),
            multiplier: multiplier.filter(|k| (1000..=65535).contains(k)).unwrap_or(DEFAULT_MULTIPLIER),
        }
    }

    /// The range of the `n`-th retry (`n` ≥ 1) in seconds.
    pub fn range(&self, n: u32) -> (f64, f64) {
        let j = n.clamp(1, MAX_EXPONENT);
        let m = f64::from(self.min_wait);
        let k = f64::from(self.multiplier) / 1000.0;
        (m * k.powi(j as i32 - 1), m * k.powi(j as i32))
    }

    /// A random wait for the `n`-th retry, uniform over its range (3.2.1.1 item 4),
    /// with millisecond resolution.
    pub fn wait(&self, n: u32, rng: &mut impl Rng) -> Duration {
        let (lo, hi) = self.range(n);
        let (lo_ms, hi_ms) = ((lo * 1000.0).round() as u64, (hi * 1000.0).round() as u64);
        Duration::from_millis(if hi_ms > lo_ms { rng.random_range(lo_ms..=hi_ms) } else { lo_ms })
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn default_table() {
        let p = RetryParams::default();
        let expected = [
            (5.0, 10.0),
            (10.0, 20.0),
            (20.0, 40.0),
            (40.0, 80.0),
            (80.0, 160.0),
            (160.0, 320.0),
            (320.0, 640.0),
            (640.0, 1280.0),
            (1280.0, 2560.0),
            (2560.0, 5120.0),
            (2560.0, 5120.0),
            (2560.0, 5120.0),
        ];
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(p.range(i as u32 + 1), *want, "retry #{}", i + 1);
        }
    }

    #[test]
    fn parameters_from_the_acs() {
        let p = RetryParams::from_model(Some(10), Some(3000));
        assert_eq!(p.range(1), (10.0, 30.0));
        assert_eq!(p.range(2), (30.0, 90.0));
        // Unset values (0) and out-of-range values mean the factory defaults.
        assert_eq!(RetryParams::from_model(Some(0), Some(500)), RetryParams::default());
        assert_eq!(RetryParams::from_model(None, None), RetryParams::default());
    }

    #[test]
    fn waits_are_random_within_the_range() {
        let p = RetryParams::default();
        let mut rng = StdRng::seed_from_u64(7);
        let waits: Vec<Duration> = (0..200).map(|_| p.wait(3, &mut rng)).collect();
        assert!(waits.iter().all(|w| (Duration::from_secs(20)..=Duration::from_secs(40)).contains(w)));
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 100, "waits should spread over the range");
    }

    #[test]
    fn multiplier_of_one_gives_a_fixed_wait() {
        let p = RetryParams { min_wait: 30, multiplier: 1000 };
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(p.wait(12, &mut rng), Duration::from_secs(30));
    }
}
