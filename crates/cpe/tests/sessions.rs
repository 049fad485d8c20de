//! Session scenarios of digest-sections-1-3.md "Test scenarios" (1-5, 8, 10, 25-28, 31-39)
//! against the scripted ACS, on virtual time.

mod scripted_acs;

use std::time::Duration;

use cwmp_cpe::agent::Effect;
use cwmp_cpe::http::HttpResponse;
use cwmp_cpe::queue::TransferResult;
use cwmp_http::digest::{NONCE_RANDOM_LEN, Secret, ServerVerifier};
use cwmp_wire::rpc::*;
use cwmp_wire::{DateTime, FaultCode, Header, Message, Value, Version};
use scripted_acs::*;

fn gpv(names: &[&str]) -> GetParameterValues {
    GetParameterValues { parameter_names: names.iter().map(|s| s.to_string()).collect() }
}

fn spv(name: &str, value: Value, key: &str) -> SetParameterValues {
    SetParameterValues { parameter_list: vec![ParameterValueStruct::new(name, value)], parameter_key: key.into() }
}

/// Scenario 1: factory-fresh boot.
#[test]
fn factory_fresh_boot() {
    let h = Harness::new();
    let first = &h.acs.seen()[0];
    assert_eq!(first.method(), "Inform");
    let envelope = first.envelope.as_ref().unwrap();
    let inform = first.inform().unwrap();
    assert_eq!(first.events(), ["0 BOOTSTRAP|", "1 BOOT|"]);
    assert_eq!(inform.retry_count, 0);
    assert_eq!(inform.max_envelopes, 1);
    assert_eq!(
        inform.device_id,
        DeviceIdStruct {
            manufacturer: "ACME".into(),
            oui: "00D09E".into(),
            product_class: "STB".into(),
            serial_number: "SN1".into()
        }
    );
    assert_eq!(envelope.header.supported_cwmp_versions, Some(Version::ALL.to_vec()));
    assert_eq!(envelope.header.session_timeout, None);
    // Every Forced Inform parameter of TR-181.
    for name in [
        "Device.RootDataModelVersion",
        "Device.DeviceInfo.HardwareVersion",
        "Device.DeviceInfo.SoftwareVersion",
        "Device.DeviceInfo.ProvisioningCode",
        "Device.ManagementServer.ParameterKey",
        "Device.ManagementServer.ConnectionRequestURL",
        "Device.ManagementServer.AliasBasedAddressing",
    ] {
        assert!(first.param(name).is_some(), "{name} missing from the Inform");
    }
    assert_eq!(first.param("Device.DeviceInfo.SoftwareVersion").as_deref(), Some("1.0"));
    assert!(!first.has_event("4 VALUE CHANGE"), "the boot-time identity is not a value change");
    // CurrentTime is the (virtual) local time with its offset.
    assert_eq!(inform.current_time, DateTime::Absolute { at: t0(), offset: jiff::tz::Offset::UTC });
}

/// Scenario 2: normal session close.
#[test]
fn normal_session_close() {
    let h = Harness::new();
    assert_eq!(h.acs.methods(), ["Inform", ""]);
    let empty = &h.acs.seen()[1];
    assert_eq!(empty.header("Content-Length"), Some("0"));
    assert_eq!(empty.header("Content-Type"), None);
    assert_eq!(empty.header("SOAPAction"), None);
    assert_eq!(h.session_results(), [true]);
    assert_eq!(h.agent.as_ref().unwrap().state().retry_count, 0);
    assert!(h.agent.as_ref().unwrap().state().events.is_empty(), "BOOTSTRAP and BOOT are delivered");
    // Nothing else happens without a reason.
    let mut h = h;
    h.run_for(Duration::from_secs(7 * 86400));
    assert_eq!(h.informs().len(), 1);
}

/// Scenario 3: ACS-driven read and write; the ACS's own change causes no new session.
#[test]
fn acs_driven_read_and_write() {
    let mut h = Harness::new();
    h.acs.push_request(gpv(&["Device.DeviceInfo.SoftwareVersion"]));
    h.acs.push_request(spv("Device.DeviceInfo.ProvisioningCode", Value::string("abc"), "pk1"));
    h.connection_request();
    assert_eq!(
        h.acs.methods(),
        ["Inform", "", "Inform", "", "GetParameterValuesResponse", "SetParameterValuesResponse"]
    );
    let gpv_response = &h.acs.seen()[4];
    assert_eq!(gpv_response.header("SOAPAction"), Some(""));
    let Some(Message::GetParameterValuesResponse(r)) = gpv_response.envelope.as_ref().map(|e| &e.message) else {
        panic!()
    };
    assert_eq!(r.parameter_list[0].value.text, "1.0");
    assert_eq!(gpv_response.envelope.as_ref().unwrap().header.id.as_deref(), Some("acs-1"));
    assert_eq!(h.value("Device.DeviceInfo.ProvisioningCode"), "abc");
    assert_eq!(h.value("Device.ManagementServer.ParameterKey"), "pk1");
    // ProvisioningCode has forced active notification, but the ACS set it: no session.
    h.run_for(Duration::from_secs(3600));
    assert_eq!(h.informs().len(), 2);
}

/// Scenario 4: cwmp:ID echo on responses and faults.
#[test]
fn cwmp_id_is_echoed() {
    let mut h = Harness::new();
    let mut sent = 0;
    h.acs.set_hook(move |seen, _| {
        if seen.method() != "Inform" && sent < 2 {
            sent += 1;
            let header = Header { id: Some("abc-42".into()), ..Default::default() };
            return Some(if sent == 1 {
                with_header(GetRpcMethods {}, header)
            } else {
                with_header(gpv(&["Device.No.Such"]), header)
            });
        }
        None
    });
    h.connection_request();
    let answers: Vec<_> =
        h.acs.seen().iter().filter_map(|s| s.envelope.as_ref()).filter(|e| !e.message.is_request()).collect();
    assert!(matches!(answers[0].message, Message::GetRpcMethodsResponse(_)));
    assert!(matches!(&answers[1].message, Message::Fault(f) if f.code == FaultCode::InvalidParameterName));
    for answer in answers {
        assert_eq!(answer.header.id.as_deref(), Some("abc-42"));
    }
}

/// Scenario 5: an unsupported method gets 9000 and the session continues.
#[test]
fn unsupported_method() {
    let mut h = Harness::new();
    h.acs.push_request(Message::Unknown("X_FOO_Bar".parse().unwrap()));
    h.acs.push_request(GetRpcMethods {});
    h.connection_request();
    let answers = &h.acs.script.answers;
    assert!(matches!(&answers[0].message, Message::Fault(f) if f.code == FaultCode::MethodNotSupported));
    assert!(matches!(answers[1].message, Message::GetRpcMethodsResponse(_)));
    assert_eq!(h.session_results(), [true, true]);
    // And deprecated methods not implemented.
    h.acs.push_request(GetOptions { option_name: String::new() });
    h.connection_request();
    assert!(matches!(h.acs.script.last_answer(), Message::Fault(f) if f.code == FaultCode::MethodNotSupported));
}

/// Scenario 8: an external change during a session is invisible to it and causes a new
/// session after it.
#[test]
fn external_change_during_a_session() {
    let mut h = Harness::new();
    h.set_local("Device.DeviceInfo.ProvisioningCode", "before");
    let informs_before = h.informs().len();
    // Start a session and change the value while it runs.
    h.acs.push_request(gpv(&["Device.DeviceInfo.ProvisioningCode"]));
    let now = h.now;
    h.agent().connection_request(now);
    // The Inform is out; the device changes the value before the InformResponse.
    h.agent().set_local(now, "Device.DeviceInfo.ProvisioningCode", "during").unwrap();
    h.pump();
    let Message::GetParameterValuesResponse(r) = h.acs.script.last_answer() else { panic!() };
    assert_eq!(r.parameter_list[0].value.text, "before", "transactional integrity");
    // The notification waits for the throttle (5 s since the last notification session).
    h.run_for(Duration::from_secs(10));
    // A new session follows with 4 VALUE CHANGE (forced active notification).
    let informs = h.informs();
    assert_eq!(informs.len(), informs_before + 2);
    let last = informs.last().unwrap();
    assert!(last.has_event("4 VALUE CHANGE"));
    assert_eq!(last.param("Device.DeviceInfo.ProvisioningCode").as_deref(), Some("during"));
}

/// Scenario 10: Reboot after the session; one reboot for two calls, two M Reboot events.
#[test]
fn reboot_after_the_session() {
    let mut h = Harness::new();
    h.acs.push_request(Reboot { command_key: "rk1".into() });
    h.acs.push_request(Reboot { command_key: "rk2".into() });
    h.connection_request();
    // The reboot came after the final empty POST and 204.
    let ended = h.effects.iter().position(|(_, e)| *e == Effect::SessionEnded { success: true }).unwrap();
    let reboot_at = h.effects.iter().position(|(_, e)| *e == Effect::Reboot).unwrap();
    assert!(reboot_at > ended);
    assert_eq!(h.reboots, 1);
    let last = h.last_inform();
    assert_eq!(last.events(), ["1 BOOT|", "M Reboot|rk1", "M Reboot|rk2"]);
}

/// Scenarios 11 and 27: Download, then TransferComplete in a new session; 8005 on it is
/// resent, another fault leaves it for the next session.
#[test]
fn download_and_transfer_complete() {
    let mut h = Harness::new();
    h.acs.push_request(download("dl1", "1 Firmware Upgrade Image", "http://files.test/fw.bin"));
    h.connection_request();
    let Message::DownloadResponse(r) = h.acs.script.last_answer() else { panic!() };
    assert_eq!((r.status, r.start_time, r.complete_time), (1, DateTime::Unknown, DateTime::Unknown));
    assert_eq!(h.transfers.len(), 1, "the transfer starts after the session");
    let mut faults = vec![FaultCode::RetryRequest, FaultCode::RetryRequest, FaultCode::AcsInternalError];
    h.acs.set_hook(move |seen, _| {
        (seen.method() == "TransferComplete" && !faults.is_empty()).then(|| fault(faults.remove(0)))
    });
    h.finish_transfer(TransferResult::success(DateTime::utc(t0()), DateTime::utc(t0())));
    let inform = h.last_inform();
    assert_eq!(inform.events(), ["7 TRANSFER COMPLETE|", "M Download|dl1"]);
    let tail: Vec<String> = h.acs.methods().into_iter().rev().take(6).collect();
    // Inform, TC (8005), TC (8005), TC (8002), empty POST; before it, the Download session.
    assert_eq!(tail, ["", "TransferComplete", "TransferComplete", "TransferComplete", "Inform", "DownloadResponse"]);
    assert_eq!(h.session_results().last(), Some(&true), "a refused TransferComplete does not fail the session");
    // Still undelivered: the next session carries it again and the ACS now accepts it.
    h.run_until(Duration::from_secs(60), |h| h.agent.as_ref().unwrap().state().outbox.is_empty());
    let inform = h.last_inform();
    assert_eq!(inform.events(), ["7 TRANSFER COMPLETE|", "M Download|dl1"]);
    assert_eq!(inform.inform().unwrap().retry_count, 0, "the previous session succeeded");
}

/// Scenario 12: the ACS drops the connection before TransferCompleteResponse; the
/// retried session (even across a reboot) carries the events again.
#[test]
fn transfer_complete_not_confirmed() {
    let mut h = Harness::new();
    h.acs.push_request(download("dl2", "3 Vendor Configuration File", "http://files.test/cfg"));
    h.connection_request();
    let mut dropped = false;
    h.acs.set_hook(move |seen, _| {
        if seen.method() == "TransferComplete" && !dropped {
            dropped = true;
            return Some(HttpResponse::new(DROP));
        }
        None
    });
    h.finish_transfer(TransferResult::success(DateTime::utc(t0()), DateTime::utc(t0())));
    assert_eq!(h.session_results().last(), Some(&false));
    h.reboot_now();
    let inform = h.last_inform();
    assert_eq!(inform.events(), ["1 BOOT|", "7 TRANSFER COMPLETE|", "M Download|dl2"]);
    assert_eq!(inform.inform().unwrap().retry_count, 1);
    assert_eq!(h.acs.methods().iter().filter(|m| *m == "TransferComplete").count(), 2);
    assert!(h.agent.as_ref().unwrap().state().outbox.is_empty());
}

/// Scenario 25: 8005 on the Inform: the identical Inform is resent, three times at most.
#[test]
fn inform_8005() {
    let mut h = Harness::powered_off(test_config());
    h.acs.set_hook(|seen, _| (seen.method() == "Inform").then(|| fault(FaultCode::RetryRequest)));
    h.boot();
    let informs = h.informs();
    assert_eq!(informs.len(), 4, "the first Inform and three resends");
    assert!(informs.iter().all(|s| s.body == informs[0].body), "identical requests");
    assert_eq!(h.session_results(), [false]);
    assert_eq!(h.agent.as_ref().unwrap().state().retry_count, 1);
}

/// Scenario 26: another fault on the Inform fails the session and it is retried.
#[test]
fn inform_fault_fails_the_session() {
    let mut h = Harness::powered_off(test_config());
    let mut faults = 1;
    h.acs.set_hook(move |seen, _| {
        if seen.method() == "Inform" && faults > 0 {
            faults -= 1;
            return Some(fault(FaultCode::AcsInternalError));
        }
        None
    });
    h.boot();
    assert_eq!(h.informs().len(), 1);
    h.advance();
    let informs = h.informs();
    assert_eq!(informs.len(), 2);
    let gap = informs[1].at - informs[0].at;
    assert!(gap >= secs(5) && gap <= secs(10), "{gap:?}");
    assert_eq!(informs[1].inform().unwrap().retry_count, 1);
    assert_eq!(informs[1].events(), ["0 BOOTSTRAP|", "1 BOOT|"]);
    assert_eq!(h.session_results(), [false, true]);
}

/// Scenario 28: HTTP 400 fails the session; nothing is resent in it.
#[test]
fn http_400_fails_the_session() {
    let mut h = Harness::new();
    h.acs.push_request(GetRpcMethods {});
    h.acs.set_hook(|seen, _| (seen.method() == "GetRPCMethodsResponse").then(|| HttpResponse::new(400)));
    h.connection_request();
    assert_eq!(&h.acs.methods()[2..], ["Inform", "", "GetRPCMethodsResponse"]);
    assert_eq!(h.session_results(), [true, false]);
}

/// Scenario 31: a redirect on the Inform; the same Inform goes to the new place, with the
/// cookies; the next session uses the original URL again.
#[test]
fn redirect_on_the_inform() {
    for status in [301, 302, 307] {
        let mut h = Harness::powered_off(test_config());
        let mut redirected = false;
        h.acs.set_hook(move |seen, _| {
            if seen.method() == "Inform" && !redirected {
                redirected = true;
                return Some(
                    HttpResponse::new(status)
                        .with_header("Location", "http://other.test:8080/acs")
                        .with_header("Set-Cookie", "route=a; Domain=acs.test"),
                );
            }
            None
        });
        h.boot();
        let seen = h.acs.seen();
        assert_eq!(seen[0].url, ACS_URL);
        assert_eq!(seen[1].url, "http://other.test:8080/acs");
        assert_eq!(seen[1].body, seen[0].body, "the same Inform");
        assert_eq!(seen[1].header("Cookie"), Some("route=a"));
        assert_eq!(seen[2].url, "http://other.test:8080/acs", "the session continues there");
        assert_eq!(h.session_results(), [true]);
        h.connection_request();
        assert_eq!(h.acs.seen()[3].url, ACS_URL, "{status}: the redirect is not saved");
        assert_eq!(h.value("Device.ManagementServer.URL"), ACS_URL);
    }
}

/// Scenario 32: five redirects in a row are followed, a sixth fails the session.
#[test]
fn redirect_limits() {
    for (redirects, success) in [(5, true), (6, false)] {
        let mut h = Harness::powered_off(test_config());
        let mut left = redirects;
        h.acs.set_hook(move |seen, _| {
            if seen.method() == "Inform" && left > 0 {
                left -= 1;
                return Some(HttpResponse::new(302).with_header("Location", &format!("/hop{left}")));
            }
            None
        });
        h.boot();
        assert_eq!(h.session_results(), [success], "{redirects} redirects");
    }
}

/// Scenario 33: a 307 in reply to a response: the same POST goes to the new URL.
#[test]
fn mid_session_redirect() {
    let mut h = Harness::new();
    h.acs.push_request(gpv(&["Device.DeviceInfo.SerialNumber"]));
    let mut done = false;
    h.acs.set_hook(move |seen, _| {
        if seen.method() == "GetParameterValuesResponse" && !done {
            done = true;
            return Some(HttpResponse::new(307).with_header("Location", "http://acs2.test/x"));
        }
        None
    });
    h.connection_request();
    let seen = h.acs.seen();
    let n = seen.len();
    assert_eq!(seen[n - 2].method(), "GetParameterValuesResponse");
    assert_eq!(seen[n - 2].url, ACS_URL);
    assert_eq!(seen[n - 1].url, "http://acs2.test/x");
    assert_eq!(seen[n - 1].body, seen[n - 2].body);
    assert_eq!(h.session_results(), [true, true]);
}

/// Scenario 34: Digest on the session; a second 401 after credentials fails.
#[test]
fn digest_auth_on_the_session() {
    let verifier = ServerVerifier::new("acs", b"key".to_vec());
    let mut h = Harness::powered_off(test_config());
    h.acs.set_hook(move |seen, _| {
        let now = seen.at.as_second() as u64;
        let ok =
            seen.header("Authorization").and_then(|a| cwmp_http::auth::Authorization::parse(a).ok()).is_some_and(|a| {
                match a {
                    cwmp_http::auth::Authorization::Digest(c) => {
                        c.username == USERNAME
                            && verifier.verify(&c, "POST", "/cwmp", Secret::Password("secret"), now, None).is_ok()
                    }
                    _ => false,
                }
            });
        if ok {
            return None;
        }
        let challenge = verifier.challenges(now, [9; NONCE_RANDOM_LEN], false)[0].to_string();
        Some(HttpResponse::new(401).with_header("WWW-Authenticate", &challenge))
    });
    h.boot();
    assert_eq!(h.acs.methods(), ["Inform", "Inform", ""]);
    assert!(h.acs.seen()[0].header("Authorization").is_none());
    assert!(h.acs.seen()[2].header("Authorization").is_some(), "credentials on later requests");
    assert_eq!(h.session_results(), [true]);

    // A wrong password: the second 401 fails the session.
    let verifier = ServerVerifier::new("acs", b"key".to_vec());
    let mut config = test_config();
    config.factory_defaults.push(("Device.ManagementServer.Password".into(), "wrong".into()));
    let mut h = Harness::powered_off(config);
    h.acs.set_hook(move |seen, _| {
        let challenge = verifier.challenges(seen.at.as_second() as u64, [9; NONCE_RANDOM_LEN], false)[0].to_string();
        Some(HttpResponse::new(401).with_header("WWW-Authenticate", &challenge))
    });
    h.boot();
    assert_eq!(h.acs.methods(), ["Inform", "Inform"]);
    assert_eq!(h.session_results(), [false]);
}

/// Scenario 35: preemptive Basic over TLS with the 3.4.4 username.
#[test]
fn preemptive_basic_over_tls() {
    let mut config = test_config();
    config.factory_defaults.push(("Device.ManagementServer.URL".into(), "https://acs.test/cwmp".into()));
    config.identity.push(("Device.DeviceInfo.ProductClass".into(), "Set-Top-Box".into()));
    let h = Harness::with_config(config);
    let authorization = h.acs.seen()[0].header("Authorization").unwrap().to_owned();
    let credentials = cwmp_http::basic::Credentials::parse(&authorization).unwrap();
    assert_eq!(credentials.username, "00D09E-Set%2DTop%2DBox-SN1");
    assert!(credentials.matches("00D09E-Set%2DTop%2DBox-SN1", "secret"));
}

/// Scenario 36: cookies come back on every later POST, and are forgotten after the session.
#[test]
fn cookies() {
    let mut h = Harness::new();
    h.acs.push_request(GetRpcMethods {});
    h.acs.set_hook(|seen, script| {
        if seen.method() == "Inform" {
            let mut response = script.respond(seen);
            response.headers.push(("Set-Cookie".into(), "session=s1; Path=/".into()));
            response.headers.push(("Set-Cookie".into(), "node=n7; Domain=elsewhere.test".into()));
            return Some(response);
        }
        None
    });
    h.connection_request();
    let seen = h.acs.seen();
    for later in &seen[3..] {
        let cookie = later.header("Cookie").unwrap();
        assert!(cookie.contains("session=s1") && cookie.contains("node=n7"), "{cookie}");
    }
    h.acs.hook = None;
    h.connection_request();
    assert!(h.acs.seen().last().unwrap().header("Cookie").is_none(), "no cookie outlives its session");
}

/// Scenario 38: the ACS goes silent: after the response timeout the session fails, the
/// request is not resent in it, and the session is retried.
#[test]
fn acs_goes_silent() {
    let mut h = Harness::new();
    let mut silent = true;
    h.acs.set_hook(move |seen, _| {
        if seen.method() == "Inform" && silent {
            silent = false;
            return Some(HttpResponse::new(SILENCE));
        }
        None
    });
    let start = h.now;
    h.connection_request();
    assert_eq!(h.informs().len(), 2);
    h.advance();
    assert_eq!(h.session_results(), [true, false]);
    assert_eq!(h.now - start, secs(60), "the session fails after the response timeout");
    h.advance();
    assert_eq!(h.informs().len(), 3);
    let informs = h.informs();
    let gap = informs[2].at - informs[1].at;
    assert!(gap >= secs(65) && gap <= secs(70), "{gap:?}");
}

/// Scenario 39: HoldRequests.
#[test]
fn hold_requests() {
    let mut h = Harness::new();
    h.acs.push_request(download("dl", "2 Web Content", "http://files.test/web"));
    h.connection_request();
    let mut step = 0;
    h.acs.set_hook(move |seen, _| {
        step += 1;
        let hold = Header { hold_requests: Some(true), ..Default::default() };
        match step {
            1 => {
                let mut e = cwmp_wire::Envelope::new(cwmp_wire::Namespace::Cwmp12, InformResponse { max_envelopes: 1 });
                e.header = hold;
                Some(xml(&e))
            }
            2 => {
                assert_eq!(seen.method(), "", "HoldRequests: an empty POST, not the TransferComplete");
                Some(with_header(GetRpcMethods {}, hold))
            }
            3 => {
                assert_eq!(seen.method(), "GetRPCMethodsResponse");
                Some(HttpResponse::new(204))
            }
            _ => None,
        }
    });
    h.finish_transfer(TransferResult::success(DateTime::utc(t0()), DateTime::utc(t0())));
    let tail: Vec<String> = h.acs.methods().into_iter().rev().take(5).collect();
    assert_eq!(tail, ["", "TransferComplete", "GetRPCMethodsResponse", "", "Inform"]);
    assert!(h.agent.as_ref().unwrap().state().outbox.is_empty());
}

/// Scenario 47: the ACS sets HTTPCompression=GZIP, so the CPE compresses its POSTs; an ACS
/// that answers 415 fails the session and the retry goes uncompressed.
#[test]
fn http_compression_and_415() {
    let mut h = Harness::new();
    h.acs.push_request(spv("Device.ManagementServer.HTTPCompression", Value::string("GZIP"), ""));
    h.connection_request();
    h.connection_request();
    let compressed = h.last_inform();
    assert_eq!(compressed.header("Content-Encoding"), Some("gzip"));
    assert!(compressed.inform().is_some(), "the scripted ACS decompressed it");
    h.acs.set_hook(|seen, _| seen.header("Content-Encoding").is_some().then(|| HttpResponse::new(415)));
    h.connection_request();
    assert_eq!(h.session_results().last(), Some(&false));
    h.advance();
    assert_eq!(h.session_results().last(), Some(&true));
    assert_eq!(h.last_inform().header("Content-Encoding"), None, "compression turned off after 415");
}
