//! Restart tests: the agent is killed at every step of a Download → TransferComplete and of
//! a ChangeDUState → DUStateChangeComplete; after the restart the agent state brings the
//! pending events and results back, and each result is delivered exactly once: once the
//! CPE has received the ACS's response, it never sends the request again.

mod scripted_acs;

use std::time::Duration;

use cwmp_cpe::queue::TransferResult;
use cwmp_wire::rpc::*;
use cwmp_wire::{DateTime, Message};
use scripted_acs::*;

/// What one run saw.
struct Outcome {
    /// Requests named `method` the ACS received.
    sent: usize,
    /// Responses to them the agent received.
    acknowledged: usize,
    /// Requests sent after one was acknowledged.
    sent_after_ack: usize,
    /// The FaultCode of each report the ACS received.
    codes: Vec<u32>,
    /// Steps taken.
    steps: usize,
}

/// Drives `h` with fine steps, finishing transfers and DU jobs as they come; kills and
/// reboots the agent at step `kill_at`. Runs until the outbox is empty.
fn run(mut h: Harness, method: &str, kill_at: usize) -> Outcome {
    let response = format!("{method}Response");
    let mut out = Outcome { sent: 0, acknowledged: 0, sent_after_ack: 0, codes: Vec::new(), steps: 0 };
    let mut step = 0;
    let mut killed = false;
    for _ in 0..10_000 {
        if step == kill_at && !killed {
            killed = true;
            h.kill();
            h.boot_quietly();
        }
        let acknowledges = h.pending.as_ref().is_some_and(|p| {
            cwmp_wire::decode(&p.body, &Default::default()).is_ok_and(|e| e.message.name() == response)
        });
        let seen_before = h.acs.seen().len();
        if h.fine_step() {
            step += 1;
            if acknowledges {
                out.acknowledged += 1;
            }
            if let Some(new) = h.acs.seen().get(seen_before)
                && new.method() == method
            {
                out.sent += 1;
                if out.acknowledged > 0 {
                    out.sent_after_ack += 1;
                }
                out.codes.push(report_code(new.envelope.as_ref().unwrap().message.clone()));
            }
            continue;
        }
        if !h.transfers.is_empty() {
            let now = h.now;
            let job = h.transfers.remove(0);
            h.agent().transfer_finished(now, job.id, TransferResult::success(DateTime::utc(now), DateTime::utc(now)));
            step += 1;
            continue;
        }
        if let Some((id, request)) = (!h.du_jobs.is_empty()).then(|| h.du_jobs.remove(0)) {
            let now = h.now;
            h.agent().du_state_change_finished(now, id, results_for(&request), Vec::new());
            step += 1;
            continue;
        }
        let idle = h.agent.as_ref().unwrap().state().outbox.is_empty()
            && h.agent.as_ref().unwrap().state().transfers.is_empty()
            && h.agent.as_ref().unwrap().state().du_jobs.is_empty();
        if idle && (killed || step < kill_at) {
            break;
        }
        // Waiting for a retry or a delayed start.
        let next = h.agent.as_ref().unwrap().poll_timeout().expect("a timer");
        assert!(next - h.now <= secs(3600), "no progress");
        h.now = next;
        let now = h.now;
        h.agent().handle_timeout(now);
    }
    out.steps = step;
    out
}

fn report_code(message: Message) -> u32 {
    match message {
        Message::TransferComplete(tc) => tc.fault_struct.fault_code,
        Message::DuStateChangeComplete(d) => d.results.iter().map(|r| r.fault.fault_code).max().unwrap_or(0),
        other => panic!("{}", other.name()),
    }
}

fn results_for(request: &ChangeDuState) -> Vec<OpResultStruct> {
    request
        .operations
        .iter()
        .map(|op| OpResultStruct {
            uuid: match op {
                OperationStruct::Install(i) => i.uuid.clone().unwrap_or_default(),
                OperationStruct::Update(u) => u.uuid.clone().unwrap_or_default(),
                OperationStruct::Uninstall(u) => u.uuid.clone(),
            },
            deployment_unit_ref: "Device.SoftwareModules.DeploymentUnit.1.".into(),
            version: "1".into(),
            current_state: "Installed".into(),
            resolved: true,
            execution_unit_ref_list: String::new(),
            start_time: DateTime::Unknown,
            complete_time: DateTime::Unknown,
            fault: DeploymentUnitFaultStruct::default(),
        })
        .collect()
}

fn with_download() -> Harness {
    let mut h = Harness::new();
    h.acs.push_request(download("dl", "1 Firmware Upgrade Image", "http://files.test/fw"));
    h.acs.push_request(ScheduleInform { delay_seconds: 30, command_key: "si".into() });
    h.connection_request();
    // The transfer was handed out when the session ended; the test driver finishes it.
    h
}

#[test]
fn download_and_transfer_complete_survive_a_kill_at_every_step() {
    let undisturbed = run(with_download(), "TransferComplete", usize::MAX);
    assert_eq!((undisturbed.sent, undisturbed.acknowledged, undisturbed.codes.as_slice()), (1, 1, &[0][..]));
    assert!(undisturbed.steps >= 8, "{} steps", undisturbed.steps);
    let mut resent = 0;
    for kill_at in 0..=undisturbed.steps {
        let out = run(with_download(), "TransferComplete", kill_at);
        assert!(out.sent >= 1, "kill at {kill_at}: the result was never sent");
        assert_eq!(out.acknowledged, 1, "kill at {kill_at}: acknowledged once");
        assert_eq!(out.sent_after_ack, 0, "kill at {kill_at}: sent again after its response arrived");
        // Killed while the transfer ran: it failed (interrupted, 9010); later: success.
        let expected = if kill_at == 0 { 9010 } else { 0 };
        assert!(out.codes.iter().all(|c| *c == expected), "kill at {kill_at}: {:?}", out.codes);
        resent += usize::from(out.sent > 1);
    }
    // Killed between the ACS receiving the TransferComplete and the CPE receiving its
    // response: sent twice, which the ACS must tolerate (3.7.1.5 item 2).
    assert_eq!(resent, 1);
}

#[test]
fn the_scheduled_inform_and_the_transfer_complete_both_arrive_after_a_kill() {
    let mut h = with_download();
    h.kill();
    h.boot();
    h.run_for(Duration::from_secs(120));
    let informs = h.informs();
    let reboot_inform = informs.iter().find(|s| s.has_event("1 BOOT") && s.inform().unwrap().retry_count == 0);
    assert!(reboot_inform.is_some());
    assert_eq!(informs.iter().filter(|s| s.has_event("3 SCHEDULED")).count(), 1);
    let tc_informs = informs.iter().filter(|s| s.has_event("7 TRANSFER COMPLETE")).count();
    assert_eq!(tc_informs, 1, "the interrupted download is reported once");
    let last_tc = h.acs.seen().iter().rev().find(|s| s.method() == "TransferComplete").unwrap();
    assert_eq!(report_code(last_tc.envelope.clone().unwrap().message), 9010);
}

fn with_change_du_state() -> Harness {
    let mut h = Harness::new();
    h.acs.push_request(ChangeDuState {
        operations: vec![
            OperationStruct::Install(InstallOpStruct {
                url: "http://files.test/pkg.tar".into(),
                uuid: Some("6ba7b810-9dad-51d1-80b4-00c04fd430c8".into()),
                username: None,
                password: None,
                execution_env_ref: None,
            }),
            OperationStruct::Uninstall(UninstallOpStruct {
                uuid: "6ba7b811-9dad-51d1-80b4-00c04fd430c8".into(),
                version: None,
                execution_env_ref: None,
            }),
        ],
        command_key: Some("cdu".into()),
    });
    h.connection_request();
    h
}

#[test]
fn change_du_state_survives_a_kill_at_every_step() {
    let undisturbed = run(with_change_du_state(), "DUStateChangeComplete", usize::MAX);
    assert_eq!((undisturbed.sent, undisturbed.acknowledged), (1, 1));
    for kill_at in 0..=undisturbed.steps {
        let out = run(with_change_du_state(), "DUStateChangeComplete", kill_at);
        assert!(out.sent >= 1, "kill at {kill_at}: the result was never sent");
        assert_eq!(out.acknowledged, 1, "kill at {kill_at}");
        assert_eq!(out.sent_after_ack, 0, "kill at {kill_at}");
    }
}

/// The state file is what brings things back: a kill before the agent saved nothing new
/// loses nothing it had acknowledged to the ACS (the Download was answered, so it is queued).
#[test]
fn the_agent_state_holds_the_queue_and_the_retry_count() {
    let mut h = with_download();
    assert!(!h.transfers.is_empty());
    h.reachable = false;
    let now = h.now;
    let job = h.transfers.remove(0);
    h.agent().transfer_finished(now, job.id, TransferResult::success(DateTime::utc(now), DateTime::utc(now)));
    h.pump();
    let saved = cwmp_cpe::persist::load(&mut h.agent_store.clone()).unwrap().unwrap();
    assert_eq!(saved.outbox.len(), 1);
    assert_eq!(saved.retry_count, 1);
    assert_eq!(saved.scheduled_informs.len(), 1);
    h.kill();
    h.reachable = true;
    h.boot();
    assert_eq!(h.last_inform().inform().unwrap().retry_count, 1);
    assert!(h.agent.as_ref().unwrap().state().outbox.is_empty());
}
