//! Version negotiation (TR-069 3.7.1.1, 3.7.4 Table 11; digest scenario 40) and the
//! fallback to CWMP 1.0 (3.2.1.1 item 2).

mod scripted_acs;

use cwmp_cpe::http::HttpResponse;
use cwmp_cpe::queue::TransferResult;
use cwmp_wire::rpc::*;
use cwmp_wire::{DateTime, Envelope, FaultCode, Header, Message, Namespace, Version};
use scripted_acs::*;

fn config(version: Version, session_timeout: Option<u32>) -> cwmp_cpe::agent::AgentConfig {
    cwmp_cpe::agent::AgentConfig { version, session_timeout, ..test_config() }
}

fn namespaces(h: &Harness) -> Vec<Namespace> {
    h.acs.seen().iter().filter_map(|s| s.envelope.as_ref().map(|e| e.namespace)).collect()
}

/// 40(a): a 1.4 CPE and a 1.4 ACS: UseCWMPVersion 1.4 in the cwmp-1-2 namespace.
#[test]
fn cpe_1_4_with_acs_1_4() {
    let mut h = Harness::with_config(config(Version::V1_4, Some(120)));
    let inform = h.acs.seen()[0].envelope.clone().unwrap();
    assert_eq!(inform.namespace, Namespace::Cwmp12);
    assert_eq!(inform.header.supported_cwmp_versions, Some(Version::ALL.to_vec()));
    assert_eq!(inform.header.session_timeout, Some(120));
    h.acs.push_request(GetRpcMethods {});
    h.connection_request();
    assert!(namespaces(&h).iter().all(|ns| *ns == Namespace::Cwmp12));
    assert_eq!(h.session_results(), [true, true]);
}

/// Headers per configured version: SupportedCWMPVersions only from 1.4, SessionTimeout only
/// from 1.3, the namespace of the version.
#[test]
fn headers_per_version() {
    for (version, ns, supported, timeout) in [
        (Version::V1_0, Namespace::Cwmp10, false, false),
        (Version::V1_1, Namespace::Cwmp11, false, false),
        (Version::V1_2, Namespace::Cwmp12, false, false),
        (Version::V1_3, Namespace::Cwmp12, false, true),
        (Version::V1_4, Namespace::Cwmp12, true, true),
    ] {
        let h = Harness::with_config(config(version, Some(45)));
        let inform = h.acs.seen()[0].envelope.clone().unwrap();
        assert_eq!(inform.namespace, ns, "{version}");
        assert_eq!(inform.header.supported_cwmp_versions.is_some(), supported, "{version}");
        assert_eq!(inform.header.session_timeout.is_some(), timeout, "{version}");
        if supported {
            let list = inform.header.supported_cwmp_versions.unwrap();
            assert!(list.iter().all(|v| *v <= version));
        }
        assert_eq!(h.session_results(), [true], "{version}");
    }
}

/// 40(c): the ACS picks a version the CPE did not offer: the CPE aborts, a failed session.
#[test]
fn use_cwmp_version_not_offered() {
    for (cpe, chosen) in [(Version::V1_4, Version::new(1, 5)), (Version::V1_3, Version::V1_3)] {
        let mut h = Harness::powered_off(config(cpe, None));
        h.acs.set_hook(move |seen, _| {
            let mut e = Envelope::new(Namespace::Cwmp12, InformResponse { max_envelopes: 1 });
            e.header = Header { use_cwmp_version: Some(chosen), ..Default::default() };
            (seen.method() == "Inform").then(|| xml(&e))
        });
        h.boot();
        assert_eq!(h.acs.methods(), ["Inform"], "nothing after the InformResponse");
        assert_eq!(h.session_results(), [false], "{cpe} offered, {chosen} chosen");
    }
}

/// Table 11: a 1.1-1.3 ACS ignores SupportedCWMPVersions and answers in its namespace; the
/// CPE takes the version from it (1.2 at most, never 1.3) and goes on in that namespace.
#[test]
fn version_from_the_response_namespace() {
    let mut h = Harness::powered_off(config(Version::V1_4, None));
    h.acs.script.ignore_supported_versions = true;
    h.acs.script.namespace = Some(Namespace::Cwmp11);
    h.acs.push_request(GetRpcMethods {});
    h.boot();
    let ns = namespaces(&h);
    assert_eq!(ns[0], Namespace::Cwmp12, "the Inform");
    assert_eq!(ns[1], Namespace::Cwmp11, "the response to a 1-1 request is in 1-1");
    assert_eq!(h.session_results(), [true]);
}

/// 40(f): a 1.0-only ACS answers the 1.2 Inform in cwmp-1-0: the CPE continues in 1.0.
#[test]
fn acs_answers_in_1_0() {
    let mut h = Harness::new();
    h.acs.push_request(download("d", "2 Web Content", "http://files.test/w"));
    h.connection_request();
    h.acs.script.ignore_supported_versions = true;
    h.acs.script.namespace = Some(Namespace::Cwmp10);
    h.finish_transfer(TransferResult::success(DateTime::utc(t0()), DateTime::utc(t0())));
    let tc = h.acs.seen().iter().rev().find(|s| s.method() == "TransferComplete").unwrap();
    assert_eq!(tc.envelope.as_ref().unwrap().namespace, Namespace::Cwmp10);
    assert_eq!(h.session_results().last(), Some(&true));
}

/// 40(f) and 3.2.1.1 item 2: a 1.0-only ACS faults the first Inform: the retry falls back to
/// 1.0: the cwmp-1-0 namespace, no SupportedCWMPVersions, only 1.0 events.
#[test]
fn fallback_to_1_0_on_retry() {
    let mut h = Harness::powered_off(config(Version::V1_4, Some(60)));
    h.acs.set_hook(|seen, _| {
        let inform = seen.envelope.as_ref()?;
        (inform.namespace != Namespace::Cwmp10).then(|| {
            xml(&Envelope::new(Namespace::Cwmp10, Message::Fault(cwmp_wire::Fault::new(FaultCode::AcsRequestDenied))))
        })
    });
    h.boot();
    h.advance();
    let informs = h.informs();
    assert_eq!(informs.len(), 2);
    let retry = informs[1].envelope.as_ref().unwrap();
    assert_eq!(retry.namespace, Namespace::Cwmp10);
    assert_eq!(retry.header.supported_cwmp_versions, None);
    assert_eq!(retry.header.session_timeout, None);
    assert_eq!(h.session_results(), [false, true]);
    assert!(h.agent.as_ref().unwrap().state().fallback_v1_0);
    // 1.0 events only: an AUTONOMOUS TRANSFER COMPLETE waits, a 1.0 one goes.
    h.set_local("Device.ManagementServer.AutonomousTransferCompletePolicy.Enable", "1");
    let now = h.now;
    let queued = h.agent().autonomous_transfer_complete(
        now,
        AutonomousTransferComplete {
            announce_url: String::new(),
            transfer_url: "http://files.test/x".into(),
            is_download: true,
            file_type: "2 Web Content".into(),
            file_size: 0,
            target_file_name: String::new(),
            fault_struct: FaultStruct::success(),
            start_time: DateTime::Unknown,
            complete_time: DateTime::Unknown,
        },
    );
    assert!(queued);
    h.pump();
    h.connection_request();
    let last = h.last_inform();
    assert_eq!(last.events(), ["6 CONNECTION REQUEST|"]);
    assert!(!h.acs.methods().contains(&"AutonomousTransferComplete".to_owned()));
    // After a reboot the newer version is offered again (and refused again here).
    h.reboot_now();
    let informs = h.informs();
    let after_reboot = informs[informs.len() - 1].envelope.as_ref().unwrap();
    assert_eq!(after_reboot.namespace, Namespace::Cwmp12);
}

/// A fault to the Inform from an ACS that already accepted a newer version is not a reason
/// to fall back; neither is a connection failure.
#[test]
fn no_fallback_for_a_known_acs_or_a_network_failure() {
    let mut h = Harness::new();
    h.acs.set_hook(|seen, _| (seen.method() == "Inform").then(|| HttpResponse::new(503)));
    h.connection_request();
    h.advance();
    assert!(!h.agent.as_ref().unwrap().state().fallback_v1_0);
    assert!(h.informs().iter().all(|s| s.envelope.as_ref().unwrap().namespace == Namespace::Cwmp12));

    let mut h = Harness::powered_off(test_config());
    h.reachable = false;
    h.boot();
    h.reachable = true;
    h.advance();
    assert_eq!(h.last_inform().envelope.as_ref().unwrap().namespace, Namespace::Cwmp12);
}
