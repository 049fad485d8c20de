//! Who each simulated device is: its serial number from a pattern, and the secret path of
//! its Connection Request URL, both derived from its index so that nothing per device has
//! to be stored.

/// A serial-number pattern: literal text with one `{n}` (the device number) or `{n:0W}`
/// (zero-padded to `W` digits), e.g. `SIM{n:08}` → `SIM00000042`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialPattern {
    prefix: String,
    suffix: String,
    width: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("serial pattern {0:?}: use text with one {{n}} or {{n:0W}}, e.g. SIM{{n:08}}")]
pub struct PatternError(String);

impl SerialPattern {
    pub fn parse(pattern: &str) -> Result<SerialPattern, PatternError> {
        let error = || PatternError(pattern.to_owned());
        let start = pattern.find('{').ok_or_else(error)?;
        let end = start + pattern[start..].find('}').ok_or_else(error)?;
        let (prefix, suffix) = (&pattern[..start], &pattern[end + 1..]);
        if suffix.contains(['{', '}']) || prefix.contains('}') {
            return Err(error());
        }
        let width = match &pattern[start + 1..end] {
            "n" => 0,
            spec => {
                let digits = spec.strip_prefix("n:0").ok_or_else(error)?;
                digits.parse::<usize>().ok().filter(|w| (1..=20).contains(w)).ok_or_else(error)?
            }
        };
        let serial = SerialPattern { prefix: prefix.to_owned(), suffix: suffix.to_owned(), width };
        // TR-069 DeviceIdStruct: SerialNumber is string(64).
        if serial.serial(u64::MAX).len() > 64 {
            return Err(error());
        }
        Ok(serial)
    }

    /// The serial number of device `n`.
    pub fn serial(&self, n: u64) -> String {
        format!("{}{:0width$}{}", self.prefix, n, self.suffix, width = self.width)
    }
}

/// SplitMix64: a fast, well-mixed hash of a 64-bit value.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The path of device `index`'s Connection Request URL: `/<index>/<token>`, the token
/// random-looking and unique per device (TR-069 3.2.2.2: the path SHOULD be randomly
/// generated and unique per CPE), derived from the run's seed.
pub fn connection_request_path(seed: u64, index: u32) -> String {
    format!("/{index}/{:016x}", token(seed, index))
}

fn token(seed: u64, index: u32) -> u64 {
    mix(mix(seed ^ 0x636f_6e6e_7265_7121) ^ u64::from(index))
}

/// The device index a Connection Request path names, if its token is right.
pub fn parse_connection_request_path(seed: u64, path: &str) -> Option<u32> {
    let rest = path.strip_prefix('/')?;
    let (index, tok) = rest.split_once('/')?;
    let index: u32 = index.parse().ok()?;
    let tok = u64::from_str_radix(tok, 16).ok().filter(|_| tok.len() == 16)?;
    (tok == token(seed, index)).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = SerialPattern::parse("SIM{n:08}").unwrap();
        assert_eq!(p.serial(42), "SIM00000042");
        assert_eq!(p.serial(123_456_789), "SIM123456789");
        assert_eq!(SerialPattern::parse("{n}-x").unwrap().serial(7), "7-x");
        for bad in ["SIM", "SIM{n", "SIM{x}", "{n}{n}", "{n:8}", "{n:00}", "a}{n}", "{n:021}", &"x".repeat(60)] {
            assert!(SerialPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connection_request_paths_name_one_device_each() {
        let a = connection_request_path(1, 17);
        assert_eq!(parse_connection_request_path(1, &a), Some(17));
        assert_eq!(parse_connection_request_path(2, &a), None, "another run's seed");
        let b = connection_request_path(1, 18);
        assert_ne!(a.rsplit('/').next(), b.rsplit('/').next());
        let forged = format!("/18/{}", a.rsplit('/').next().unwrap());
        assert_eq!(parse_connection_request_path(1, &forged), None);
        for bad in ["", "/", "/17", "/x/0000000000000000", "/17/00", "17/0000000000000000"] {
            assert_eq!(parse_connection_request_path(1, bad), None, "{bad}");
        }
    }
}
