//! Any bytes: `decode_all` returns envelopes or an error, and never panics.

#![no_main]

use cwmp_wire::{Limits, decode_all};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_all(data, &Limits::default());
});
