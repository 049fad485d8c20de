//! Whatever the decoder accepts, the encoder writes back as well-formed XML (checked by
//! roxmltree, an independent parser) in a form the decoder accepts, and one cycle reaches a
//! fixed point: encode(decode(encode(decode(x)))) == encode(decode(x)).
//! (The first cycle may normalise: an unknown `xsi:type` is written as `xsd:string`, a
//! `+00:00` offset as `Z`, `true` as `1`.)

#![no_main]

use cwmp_wire::{EncodeOptions, Limits, decode_all, encode_all};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(first) = decode_all(data, &limits) else { return };
    let options = EncodeOptions::default();
    let written = encode_all(&first, &options);
    // Several envelopes in one body are not one XML document: check each on its own.
    for envelope in &first {
        let xml = envelope.encode(&options);
        let xml = std::str::from_utf8(&xml).expect("we write UTF-8");
        if let Err(e) = roxmltree::Document::parse(xml) {
            panic!("our own output is not well-formed XML: {e}\n{xml}");
        }
    }
    let second = match decode_all(&written, &limits) {
        Ok(envelopes) => envelopes,
        Err(e) => panic!("our own output does not decode: {e}\n{}", String::from_utf8_lossy(&written)),
    };
    assert_eq!(encode_all(&second, &options), written, "encoding is not stable");
});
