//! Per-device determinism: `Math.random()` and the offset of `Date.now(interval)`.
//!
//! Both derive from the 64-bit seed the ACS gives per device (e.g. a hash of the device id),
//! with SplitMix64 (Steele, Lea, Flood 2014): small, fast, and statistically sound for this.

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a, to turn the string given to `Math.random.seed()` into a seed.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The per-device number `h` behind `Date.now(interval, variance)`: the offset is
/// `h % variance`. It is the high 32 bits of the SplitMix64 output for `seed ^ 0x5eed`, so it
/// is unrelated to the `Math.random()` sequence.
pub(crate) fn device_offset_base(seed: u64) -> u32 {
    (mix(seed ^ 0x5eed) >> 32) as u32
}

/// `Math.random()`: a SplitMix64 sequence, restarted from the seed on every run.
#[derive(Debug, Clone)]
pub(crate) struct Random {
    state: u64,
}

impl Random {
    pub(crate) fn new(seed: u64) -> Random {
        Random { state: seed }
    }

    /// `Math.random.seed(text)`: replaces the seed (GenieACS's legacy form).
    pub(crate) fn reseed(&mut self, text: &str) {
        self.state = fnv1a(text);
    }

    /// `Math.random.seedCombine(text)`: a new sequence that still depends on the device.
    pub(crate) fn reseed_combined(&mut self, device_seed: u64, text: &str) {
        self.state = mix(device_seed ^ fnv1a(text));
    }

    /// The next number in [0, 1), with 53 random bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        (mix(self.state) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // First outputs of the reference SplitMix64 for seed 0 (state incremented first).
        let mut state = 0u64;
        let mut next = || {
            state = state.wrapping_add(GOLDEN_GAMMA);
            mix(state)
        };
        assert_eq!(next(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(next(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn random_is_in_unit_interval_and_reproducible() {
        let mut a = Random::new(42);
        let mut b = Random::new(42);
        for _ in 0..10_000 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_f64().to_bits());
        }
        let mut c = Random::new(43);
        assert_ne!(Random::new(42).next_f64(), c.next_f64());
    }

    #[test]
    fn reseeding() {
        let mut a = Random::new(1);
        let mut b = Random::new(2);
        a.reseed("x");
        b.reseed("x");
        assert_eq!(a.next_f64(), b.next_f64());
        a.reseed_combined(1, "x");
        b.reseed_combined(2, "x");
        assert_ne!(a.next_f64(), b.next_f64());
    }

    #[test]
    fn offsets_differ_between_devices() {
        let offsets: std::collections::HashSet<u32> = (0..1000).map(device_offset_base).collect();
        assert!(offsets.len() > 990);
    }
}
