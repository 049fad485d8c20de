//! Round-trip property tests: every message type, encoded then decoded, comes back equal.

use proptest::prelude::*;

use crate::codec::XmlStruct;
use crate::envelope::{EncodeOptions, Envelope, Header, Limits, decode, decode_all, encode_all};
use crate::rpc::Message;
use crate::version::{Namespace, Version};

fn header() -> impl Strategy<Value = Header> {
    (
        proptest::option::of("[\\PC]{0,20}"),
        proptest::option::of(any::<bool>()),
        proptest::option::of(30u32..100_000),
        proptest::option::of(proptest::collection::vec(proptest::sample::select(Version::ALL.to_vec()), 1..5)),
        proptest::option::of(proptest::sample::select(Version::ALL.to_vec())),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(id, hold_requests, session_timeout, supported_cwmp_versions, use_cwmp_version, no_more_requests)| {
                Header {
                    id,
                    hold_requests,
                    session_timeout,
                    supported_cwmp_versions,
                    use_cwmp_version,
                    no_more_requests,
                }
            },
        )
}

fn namespace() -> impl Strategy<Value = Namespace> {
    prop_oneof![Just(Namespace::Cwmp10), Just(Namespace::Cwmp11), Just(Namespace::Cwmp12)]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (namespace(), header(), Message::strategy()).prop_map(|(namespace, header, message)| Envelope {
        namespace,
        header,
        message,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips(env in envelope(), decl in any::<bool>()) {
        let bytes = env.encode(&EncodeOptions { xml_declaration: decl });
        let back = decode(&bytes, &Limits::default())
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(back, env);
    }

    #[test]
    fn several_envelopes_round_trip(envs in proptest::collection::vec(envelope(), 0..4)) {
        let bytes = encode_all(&envs, &EncodeOptions::default());
        prop_assert_eq!(decode_all(&bytes, &Limits::default()).unwrap(), envs);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_all(&bytes, &Limits::default());
    }

    #[test]
    fn decoding_mangled_messages_never_panics(env in envelope(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = env.encode(&EncodeOptions::default());
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        let _ = decode_all(&bytes, &Limits::default());
        bytes.truncate(at);
        let _ = decode_all(&bytes, &Limits::default());
    }
}

#[test]
fn every_method_has_a_strategy() {
    // The strategy union covers each variant; make sure the name table agrees in size.
    assert_eq!(Message::NAMES.len(), 54);
    let _ = crate::fault::Fault::strategy();
}
