//! Hostile and broken answers from the ACS: each fails the session (or gets the right
//! fault), the agent keeps running, retries, and loses nothing.

mod scripted_acs;

use cwmp_cpe::http::HttpResponse;
use cwmp_wire::rpc::*;
use cwmp_wire::{FaultCode, Message};
use scripted_acs::*;

const SOAP: &str =
    r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2">"#;

fn envelope(header: &str, body: &str) -> String {
    format!("{SOAP}<soap:Header>{header}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>")
}

fn text(body: impl Into<Vec<u8>>) -> HttpResponse {
    HttpResponse::new(200).with_header("Content-Type", "text/xml").with_body(body)
}

/// Answers that must fail a session when they come instead of the InformResponse.
fn bad_inform_answers() -> Vec<(&'static str, HttpResponse)> {
    let bomb = format!(
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "{}">]>{}"#,
        "x".repeat(10),
        envelope("", "<cwmp:InformResponse><MaxEnvelopes>&a;</MaxEnvelopes></cwmp:InformResponse>")
    );
    let gzip_bomb =
        cwmp_http::compression::encode(cwmp_http::compression::ContentEncoding::Gzip, &vec![b' '; 40 << 20]);
    vec![
        ("malformed XML", text("<soap:Envelope><unclosed>")),
        ("not XML", text("HTTP/1.1 hello")),
        ("not SOAP", text("<html><body>ACS</body></html>")),
        ("SOAP 1.2", text(r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>"#)),
        ("entity declaration", text(bomb)),
        ("two bodies", text(format!("{SOAP}<soap:Body/><soap:Body/></soap:Envelope>"))),
        ("empty body element", text(envelope("", ""))),
        (
            "two envelopes",
            text(format!(
                "{0}{0}",
                envelope("", "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>")
            )),
        ),
        (
            "unknown mustUnderstand header",
            text(envelope(
                r#"<x:Secret xmlns:x="urn:other" soap:mustUnderstand="1">1</x:Secret>"#,
                "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
            )),
        ),
        (
            "unknown CWMP namespace",
            text(
                r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-9-9"><soap:Body><c:InformResponse><MaxEnvelopes>1</MaxEnvelopes></c:InformResponse></soap:Body></soap:Envelope>"#,
            ),
        ),
        (
            "a request instead of the InformResponse",
            xml(&cwmp_wire::Envelope::new(cwmp_wire::Namespace::Cwmp12, GetRpcMethods {})),
        ),
        ("an empty 200", HttpResponse::new(200)),
        ("oversized body", text(vec![b' '; (16 << 20) + 1])),
        ("gzip bomb", text(gzip_bomb).with_header("Content-Encoding", "gzip")),
        ("unknown content coding", text("x").with_header("Content-Encoding", "br")),
        ("redirect without Location", HttpResponse::new(302)),
        ("redirect to ftp", HttpResponse::new(302).with_header("Location", "ftp://acs.test/")),
        ("401 without a challenge", HttpResponse::new(401)),
        ("401 with an unknown scheme", HttpResponse::new(401).with_header("WWW-Authenticate", "NTLM")),
        ("500", HttpResponse::new(500)),
        ("404", HttpResponse::new(404)),
        ("dropped connection", HttpResponse::new(DROP)),
    ]
}

#[test]
fn bad_answers_to_the_inform_fail_the_session_and_the_agent_recovers() {
    for (what, answer) in bad_inform_answers() {
        let mut h = Harness::powered_off(test_config());
        let mut answer = Some(answer);
        h.acs.set_hook(move |seen, _| if seen.method() == "Inform" { answer.take() } else { None });
        h.boot();
        assert_eq!(h.session_results(), [false], "{what}");
        h.advance();
        assert_eq!(h.session_results(), [false, true], "{what}: the retry succeeds");
        let retry = h.last_inform();
        assert_eq!(retry.events(), ["0 BOOTSTRAP|", "1 BOOT|"], "{what}: nothing lost");
        assert_eq!(retry.inform().unwrap().retry_count, 1, "{what}");
    }
}

/// A redirect loop: more than five redirects fail each session; the agent keeps retrying on
/// its schedule and succeeds once the loop is gone.
#[test]
fn redirect_loop() {
    let mut h = Harness::powered_off(test_config());
    h.acs.set_hook(|seen, _| {
        (seen.method() == "Inform").then(|| HttpResponse::new(307).with_header("Location", ACS_URL))
    });
    h.boot();
    h.advance();
    h.advance();
    assert_eq!(h.session_results(), [false, false, false]);
    assert_eq!(h.informs().len(), 18, "six POSTs per attempt");
    h.acs.hook = None;
    h.advance();
    assert_eq!(h.session_results().last(), Some(&true));
}

/// Broken requests inside a session: invalid arguments get 9003 with the ID echoed, the
/// session goes on.
#[test]
fn invalid_arguments_in_a_request() {
    let mut h = Harness::new();
    let mut sent = false;
    h.acs.set_hook(move |seen, _| {
        if seen.method() == "" && !sent {
            sent = true;
            return Some(text(envelope(
                r#"<cwmp:ID soap:mustUnderstand="1">bad-1</cwmp:ID>"#,
                "<cwmp:AddObject><ObjectName>Device.NAT.PortMapping.</ObjectName><ParameterKey>this key is much longer than thirty-two characters</ParameterKey></cwmp:AddObject>",
            )));
        }
        None
    });
    h.connection_request();
    let answer = h.acs.seen().iter().rev().find(|s| s.method() == "Fault").unwrap();
    let envelope = answer.envelope.as_ref().unwrap();
    assert_eq!(envelope.header.id.as_deref(), Some("bad-1"));
    assert!(matches!(&envelope.message, Message::Fault(f) if f.code == FaultCode::InvalidArguments));
    assert_eq!(h.session_results(), [true, true]);
}

/// A fault where no request was outstanding, a response nobody asked for: protocol
/// violations fail the session.
#[test]
fn stray_messages_inside_a_session() {
    for stray in [
        fault(FaultCode::AcsInternalError),
        xml(&cwmp_wire::Envelope::new(cwmp_wire::Namespace::Cwmp12, TransferCompleteResponse {})),
        xml(&cwmp_wire::Envelope::new(cwmp_wire::Namespace::Cwmp12, InformResponse { max_envelopes: 1 })),
    ] {
        let mut h = Harness::new();
        let mut stray = Some(stray);
        h.acs.set_hook(move |seen, _| if seen.method() == "" { stray.take() } else { None });
        h.connection_request();
        assert_eq!(h.session_results(), [true, false]);
        h.advance();
        assert_eq!(h.session_results(), [true, false, true]);
    }
}

/// Cookies that cannot be read are ignored; the session goes on.
#[test]
fn wrong_cookies() {
    let mut h = Harness::new();
    h.acs.push_request(GetRpcMethods {});
    h.acs.set_hook(|seen, script| {
        if seen.method() == "Inform" {
            let mut r = script.respond(seen);
            for bad in ["", "=novalue", "x", "a=b; Expires=garbage; Max-Age=zz", &format!("big={}", "v".repeat(10_000))]
            {
                r.headers.push(("Set-Cookie".into(), bad.to_owned()));
            }
            r.headers.push(("Set-Cookie".into(), "good=1".into()));
            return Some(r);
        }
        None
    });
    h.connection_request();
    assert_eq!(h.session_results(), [true, true]);
    let later = h.acs.seen().last().unwrap();
    let cookie = later.header("Cookie").unwrap_or_default();
    assert!(cookie.contains("good=1"), "{cookie}");
    assert!(!cookie.contains("vvvv"), "{cookie}");
}
