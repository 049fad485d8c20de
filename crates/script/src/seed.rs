//! Per-device determinism, the way GenieACS does it, so a script computes here what it
//! computes there: `Math.random()` is the ARC4-based generator of the `seedrandom` library
//! seeded with the device id, and `Date.now(interval)` is shifted by a per-device offset taken
//! from the MD5 of the device id.

use md5::{Digest, Md5};

/// GenieACS's per-device number behind `Date.now(interval, variance)` and preset refresh
/// offsets: the four little-endian 32-bit words of MD5(device id), XORed. The offset is this
/// number modulo the variance.
pub fn device_offset_base(device_id: &str) -> u32 {
    let digest = Md5::digest(device_id.as_bytes());
    digest.chunks_exact(4).fold(0, |acc, word| acc ^ u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}

const WIDTH: usize = 256;

/// ARC4 keyed the way `seedrandom` keys it, with the first 256 outputs dropped.
#[derive(Debug, Clone)]
struct Arc4 {
    s: [u8; WIDTH],
    i: u8,
    j: u8,
}

impl Arc4 {
    fn new(key: &[u8]) -> Arc4 {
        // An empty key is the key [0].
        let key: &[u8] = if key.is_empty() { &[0] } else { key };
        let mut s = [0u8; WIDTH];
        for (i, v) in s.iter_mut().enumerate() {
            *v = i as u8;
        }
        let mut j: u8 = 0;
        for i in 0..WIDTH {
            j = j.wrapping_add(key[i % key.len()]).wrapping_add(s[i]);
            s.swap(i, j as usize);
        }
        let mut arc4 = Arc4 { s, i: 0, j: 0 };
        arc4.next_bytes(WIDTH);
        arc4
    }

    /// The next `count` output bytes as one big-endian number (count <= 6 fits in an f64).
    fn next_bytes(&mut self, count: usize) -> f64 {
        let mut r = 0.0;
        for _ in 0..count {
            self.i = self.i.wrapping_add(1);
            let t = self.s[self.i as usize];
            self.j = self.j.wrapping_add(t);
            self.s[self.i as usize] = self.s[self.j as usize];
            self.s[self.j as usize] = t;
            let k = self.s[self.i as usize].wrapping_add(t);
            r = r * WIDTH as f64 + f64::from(self.s[k as usize]);
        }
        r
    }
}

/// `seedrandom`'s key schedule: each UTF-16 unit of the seed text is mixed into a key of at
/// most 256 bytes (the "smear" only comes into play past 256 units).
fn mix_key(seed: &str) -> Vec<u8> {
    let mut key: Vec<u8> = Vec::new();
    let mut smear: u32 = 0;
    for (j, unit) in seed.encode_utf16().enumerate() {
        let slot = j % WIDTH;
        if slot < key.len() {
            smear ^= u32::from(key[slot]) * 19;
            key[slot] = (smear.wrapping_add(u32::from(unit)) & 0xff) as u8;
        } else {
            // A slot not yet set counts as 0 in the smear, which leaves it unchanged.
            key.push((smear.wrapping_add(u32::from(unit)) & 0xff) as u8);
        }
    }
    key
}

/// `Math.random()`: `seedrandom(seed)`, restarted on every run, so every run of a session
/// (and every session) draws the same numbers for a device.
#[derive(Debug, Clone)]
pub(crate) struct Random {
    arc4: Arc4,
}

/// 2^52 and 2^53: a result carries 52 bits of randomness in the 53 of a double.
const SIGNIFICANCE: f64 = 4_503_599_627_370_496.0;
const OVERFLOW: f64 = 9_007_199_254_740_992.0;

impl Random {
    /// The generator for a seed text (`Math.random.seed()` takes its text form, see the prelude).
    pub(crate) fn new(seed: &str) -> Random {
        Random { arc4: Arc4::new(&mix_key(seed)) }
    }

    /// The next number in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        let mut n = self.arc4.next_bytes(6);
        let mut d = 281_474_976_710_656.0; // 256^6
        let mut x: u32 = 0;
        while n < SIGNIFICANCE {
            n = (n + f64::from(x)) * WIDTH as f64;
            d *= WIDTH as f64;
            x = self.arc4.next_bytes(1) as u32;
        }
        while n >= OVERFLOW {
            n /= 2.0;
            d /= 2.0;
            x >>= 1;
        }
        (n + f64::from(x)) / d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_seedrandom_reference() {
        // The example of seedrandom's documentation: `new Math.seedrandom('hello.')()`.
        assert_eq!(Random::new("hello.").next_f64(), 0.9282578795792454);
    }

    #[test]
    fn random_is_in_unit_interval_and_reproducible() {
        let mut a = Random::new("00D09E-HG-1");
        let mut b = Random::new("00D09E-HG-1");
        for _ in 0..10_000 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_f64().to_bits());
        }
        assert_ne!(Random::new("00D09E-HG-1").next_f64(), Random::new("00D09E-HG-2").next_f64());
        // Empty and long seeds (past 256 units the key is smeared) work.
        assert!((0.0..1.0).contains(&Random::new("").next_f64()));
        let long = "x".repeat(1000);
        assert_ne!(Random::new(&long).next_f64(), Random::new(&long[..256]).next_f64());
    }

    #[test]
    fn offset_base_is_md5_folded() {
        // MD5("") = d41d8cd9 8f00b204 e9800998 ecf8427e; its little-endian words XORed.
        let words = [0xd98c_1dd4u32, 0x04b2_008f, 0x9809_80e9, 0x7e42_f8ec];
        assert_eq!(device_offset_base(""), words.iter().fold(0, |a, w| a ^ w));
        // Computed with Node.js the way GenieACS computes it.
        assert_eq!(device_offset_base("00D09E-HG-E2E1"), 640_856_241);
    }
}
