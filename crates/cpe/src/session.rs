//! The SOAP side of one CPE session (TR-069 3.7, 3.7.1), without I/O.
//!
//! [`CpeSession`] starts with the Inform, negotiates the version from the InformResponse
//! (3.7.1.1, Table 6), then decides what each POST carries (3.7.1.3 Table 7): the response
//! to the ACS's request, one of the CPE's pending requests, or the empty POST. It honours
//! HoldRequests, resends a request the ACS answered with fault 8005 (at most three times in
//! a session, 3.7.1.6), echoes `cwmp:ID`, answers unknown methods with 9000 and malformed
//! arguments with 9003, and ends the session when the ACS's response is empty and the CPE
//! has sent its empty POST (3.7.1.4). Everything the ACS asks is handed to a [`Handler`].

use std::collections::VecDeque;

use cwmp_wire::rpc::{self, Inform};
use cwmp_wire::{DecodeError, EncodeOptions, Envelope, Fault, FaultCode, Limits, Message, Namespace, Version};

use crate::http::PostKind;

/// What a session needs to start.
#[derive(Debug, Clone)]
pub struct SessionSetup {
    pub inform: Inform,
    /// The namespace the Inform is written in (`cwmp-1-0` after a fallback to 1.0).
    pub namespace: Namespace,
    /// The highest version the CPE speaks in this session (1.0 after a fallback).
    pub version: Version,
    /// `SupportedCWMPVersions` (CPE at 1.4 or later, 3.7.1.1 item 2).
    pub supported_versions: Option<Vec<Version>>,
    /// `SessionTimeout` (1.3 or later), at least 30.
    pub session_timeout: Option<u32>,
    /// The CPE's pending requests announced by this Inform, with their ids.
    pub requests: Vec<(u64, Message)>,
    /// Resends after fault 8005 allowed in one session (3.7.1.6: 3).
    pub max_retries: u32,
    /// Bounds on the ACS's messages.
    pub limits: Limits,
}

/// The agent's side of a session.
pub trait Handler {
    /// The InformResponse arrived: the session is established (3.7.1.1 item 7) with
    /// `version`, and the events confirmed by an InformResponse are delivered.
    fn informed(&mut self, version: Version);
    /// An ACS request to answer (3.7.1.2).
    fn request(&mut self, message: Message) -> Result<Message, Fault>;
    /// The ACS answered the CPE's request `id` successfully: it and its events are
    /// delivered.
    fn delivered(&mut self, id: u64, response: Message);
    /// The ACS answered the CPE's request `id` with a fault other than 8005: it stays
    /// pending for a later session (3.7.1.6 item 2).
    fn refused(&mut self, id: u64, fault: &Fault);
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// POST this body (empty for the empty POST).
    Post { body: Vec<u8>, kind: PostKind },
    /// The session ended successfully (3.7.1.4): close the connection.
    Finished,
}

/// Why the SOAP side ended the session as failed (3.7.1.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionFailure {
    #[error("invalid SOAP from the ACS: {0}")]
    Invalid(DecodeError),
    #[error("the ACS answered the Inform with {0}")]
    InformFault(Fault),
    #[error("the ACS chose version {0}, which the CPE did not offer")]
    VersionNotOffered(Version),
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
    #[error("fault 8005 more than {0} times in one session")]
    TooManyRetries(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaiting {
    InformResponse,
    /// The response to the CPE's request `id` (method `name`).
    RequestResponse {
        id: u64,
        name: String,
    },
    /// The ACS's next message after a response or an empty POST.
    AcsMessage,
}

/// The SOAP state of one session.
#[derive(Debug)]
pub struct CpeSession {
    setup_version: Version,
    supported: Option<Vec<Version>>,
    version: Version,
    namespace: Namespace,
    informed: bool,
    hold_requests: bool,
    /// An empty POST was sent while HoldRequests was false: no more CPE requests in this
    /// session (3.7.1.3 item 4).
    final_empty_sent: bool,
    requests: VecDeque<(u64, Message)>,
    awaiting: Awaiting,
    /// The last CPE request sent, for a resend after 8005.
    last_request: Vec<u8>,
    retries: u32,
    max_retries: u32,
    next_id: u64,
    limits: Limits,
}

impl CpeSession {
    /// A session and its first POST, the Inform (3.7 item 1).
    pub fn start(setup: SessionSetup) -> (CpeSession, Step) {
        let mut envelope = Envelope::new(setup.namespace, setup.inform).with_id("1");
        envelope.header.supported_cwmp_versions = setup.supported_versions.clone();
        envelope.header.session_timeout = setup.session_timeout;
        let body = envelope.encode(&EncodeOptions::default());
        let session = CpeSession {
            setup_version: setup.version,
            supported: setup.supported_versions,
            version: setup.version,
            namespace: setup.namespace,
            informed: false,
            hold_requests: false,
            final_empty_sent: false,
            requests: setup.requests.into(),
            awaiting: Awaiting::InformResponse,
            last_request: body.clone(),
            retries: 0,
            max_retries: setup.max_retries,
            next_id: 2,
            limits: setup.limits,
        };
        (session, Step::Post { body, kind: PostKind::Request })
    }

    /// The version in use (the negotiated one once informed).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether the InformResponse has arrived.
    pub fn informed(&self) -> bool {
        self.informed
    }

    /// Takes the body of the ACS's HTTP response (empty for an empty response).
    pub fn handle_body(&mut self, body: &[u8], handler: &mut dyn Handler) -> Result<Step, SessionFailure> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return self.empty_response();
        }
        let envelope = match cwmp_wire::decode(body, &self.limits) {
            Ok(envelope) => envelope,
            Err(e) => return self.undecodable(e),
        };
        match std::mem::replace(&mut self.awaiting, Awaiting::AcsMessage) {
            Awaiting::InformResponse => self.inform_answered(envelope, handler),
            Awaiting::RequestResponse { id, name } => self.request_answered(id, &name, envelope, handler),
            Awaiting::AcsMessage => self.acs_message(envelope, handler),
        }
    }

    fn empty_response(&mut self) -> Result<Step, SessionFailure> {
        match &self.awaiting {
            Awaiting::InformResponse => Err(SessionFailure::ProtocolViolation("empty response to the Inform".into())),
            Awaiting::RequestResponse { name, .. } => {
                Err(SessionFailure::ProtocolViolation(format!("empty response while the {name} response is owed")))
            }
            Awaiting::AcsMessage => {
                // An empty response: the ACS has no more requests, HoldRequests is false.
                self.hold_requests = false;
                if self.final_empty_sent { Ok(Step::Finished) } else { Ok(self.next_post()) }
            }
        }
    }

    /// A body that is not a valid envelope. A well-formed request with bad arguments gets
    /// a fault (A.2.3, 9003, or 9004 for a limit); anything else fails the session.
    fn undecodable(&mut self, e: DecodeError) -> Result<Step, SessionFailure> {
        let is_request = e.method.as_deref().is_some_and(rpc::is_request);
        if self.awaiting == Awaiting::AcsMessage && is_request && !e.is_malformed() {
            tracing::warn!(error = %e, "invalid arguments in an ACS request");
            let namespace = e.namespace.unwrap_or(self.namespace);
            let fault = Fault::with_string(e.cpe_fault_code(), e.kind.to_string());
            let mut reply = Envelope::new(namespace, Message::Fault(fault));
            reply.header.id = e.id.clone();
            return Ok(Step::Post { body: reply.encode(&EncodeOptions::default()), kind: PostKind::Response });
        }
        Err(SessionFailure::Invalid(e))
    }

    fn inform_answered(&mut self, envelope: Envelope, handler: &mut dyn Handler) -> Result<Step, SessionFailure> {
        match envelope.message {
            Message::InformResponse(_) => {
                self.version = match envelope.header.use_cwmp_version {
                    // 3.7.1.1 items 3-4.
                    Some(v) if self.supported.as_ref().is_some_and(|s| s.contains(&v)) => v,
                    Some(v) => return Err(SessionFailure::VersionNotOffered(v)),
                    // Table 6: the namespace tells 1.0, 1.1 or 1.2, never 1.3.
                    None => self.setup_version.min(envelope.namespace.base_version()),
                };
                self.namespace = self.version.namespace();
                self.informed = true;
                self.hold_requests = envelope.header.hold_requests.unwrap_or(false);
                handler.informed(self.version);
                Ok(self.next_post())
            }
            Message::Fault(fault) if fault.code == FaultCode::RetryRequest => self.resend(Awaiting::InformResponse),
            Message::Fault(fault) => Err(SessionFailure::InformFault(fault)),
            other => Err(SessionFailure::ProtocolViolation(format!("{} in reply to the Inform", other.name()))),
        }
    }

    fn request_answered(
        &mut self,
        id: u64,
        name: &str,
        envelope: Envelope,
        handler: &mut dyn Handler,
    ) -> Result<Step, SessionFailure> {
        match envelope.message {
            Message::Fault(fault) if fault.code == FaultCode::RetryRequest => {
                self.resend(Awaiting::RequestResponse { id, name: name.to_owned() })
            }
            Message::Fault(fault) => {
                tracing::warn!(%fault, request = name, "the ACS refused a CPE request; it waits for a later session");
                handler.refused(id, &fault);
                self.hold_requests = envelope.header.hold_requests.unwrap_or(false);
                Ok(self.next_post())
            }
            message if message.name().strip_suffix("Response") == Some(name) => {
                handler.delivered(id, message);
                self.hold_requests = envelope.header.hold_requests.unwrap_or(false);
                Ok(self.next_post())
            }
            other => {
                Err(SessionFailure::ProtocolViolation(format!("{} while the {name} response is owed", other.name())))
            }
        }
    }

    fn acs_message(&mut self, envelope: Envelope, handler: &mut dyn Handler) -> Result<Step, SessionFailure> {
        if !envelope.message.is_request() {
            return Err(SessionFailure::ProtocolViolation(format!(
                "{} without an outstanding CPE request",
                envelope.message.name()
            )));
        }
        self.hold_requests = envelope.header.hold_requests.unwrap_or(false);
        let answer = match envelope.message {
            Message::Unknown(name) => {
                tracing::info!(method = %name, "unsupported method requested");
                Message::Fault(Fault::new(FaultCode::MethodNotSupported))
            }
            request => handler.request(request).unwrap_or_else(Message::Fault),
        };
        let mut reply = Envelope::new(envelope.namespace, answer);
        reply.header.id = envelope.header.id;
        self.awaiting = Awaiting::AcsMessage;
        Ok(Step::Post { body: reply.encode(&EncodeOptions::default()), kind: PostKind::Response })
    }

    /// 3.7.1.6: the identical request again, at most `max_retries` times per session.
    fn resend(&mut self, awaiting: Awaiting) -> Result<Step, SessionFailure> {
        self.retries += 1;
        if self.retries > self.max_retries {
            return Err(SessionFailure::TooManyRetries(self.max_retries));
        }
        tracing::info!(retry = self.retries, "fault 8005: sending the same request again");
        self.awaiting = awaiting;
        Ok(Step::Post { body: self.last_request.clone(), kind: PostKind::Request })
    }

    /// Table 7, when the last response held no request: a pending CPE request if
    /// HoldRequests is false and no empty POST ended the CPE's requests, else the empty
    /// POST.
    fn next_post(&mut self) -> Step {
        if !self.hold_requests
            && !self.final_empty_sent
            && let Some((id, message)) = self.requests.pop_front()
        {
            let name = message.name().to_owned();
            let body = Envelope::new(self.namespace, message)
                .with_id(self.next_id.to_string())
                .encode(&EncodeOptions::default());
            self.next_id += 1;
            self.last_request = body.clone();
            self.awaiting = Awaiting::RequestResponse { id, name };
            return Step::Post { body, kind: PostKind::Request };
        }
        if !self.hold_requests {
            self.final_empty_sent = true;
        }
        self.awaiting = Awaiting::AcsMessage;
        Step::Post { body: Vec::new(), kind: PostKind::Empty }
    }
}

#[cfg(test)]
mod tests {
    use cwmp_wire::rpc::*;
    use cwmp_wire::{DateTime, Header};

    use super::*;

    #[derive(Default)]
    struct Recorder {
        informed: Option<Version>,
        requests: Vec<String>,
        delivered: Vec<u64>,
        refused: Vec<(u64, u32)>,
    }

    impl Handler for Recorder {
        fn informed(&mut self, version: Version) {
            self.informed = Some(version);
        }
        fn request(&mut self, message: Message) -> Result<Message, Fault> {
            self.requests.push(message.name().to_owned());
            match message {
                Message::GetRpcMethods(_) => {
                    Ok(GetRpcMethodsResponse { method_list: vec!["GetRPCMethods".into()] }.into())
                }
                _ => Err(Fault::new(FaultCode::RequestDenied)),
            }
        }
        fn delivered(&mut self, id: u64, _response: Message) {
            self.delivered.push(id);
        }
        fn refused(&mut self, id: u64, fault: &Fault) {
            self.refused.push((id, fault.code.as_u32()));
        }
    }

    fn inform() -> Inform {
        Inform {
            device_id: DeviceIdStruct {
                manufacturer: "ACME".into(),
                oui: "00D09E".into(),
                product_class: "STB".into(),
                serial_number: "1".into(),
            },
            event: vec![EventStruct::new("1 BOOT", "")],
            max_envelopes: 1,
            current_time: DateTime::Unknown,
            retry_count: 0,
            parameter_list: vec![],
        }
    }

    fn tc() -> Message {
        TransferComplete {
            command_key: "k".into(),
            fault_struct: FaultStruct::success(),
            start_time: DateTime::Unknown,
            complete_time: DateTime::Unknown,
        }
        .into()
    }

    fn setup(requests: Vec<(u64, Message)>) -> SessionSetup {
        SessionSetup {
            inform: inform(),
            namespace: Namespace::Cwmp12,
            version: Version::V1_4,
            supported_versions: Some(Version::ALL.to_vec()),
            session_timeout: Some(60),
            requests,
            max_retries: 3,
            limits: Limits::default(),
        }
    }

    fn acs(message: impl Into<Message>, header: Header) -> Vec<u8> {
        let mut e = Envelope::new(Namespace::Cwmp12, message);
        e.header = header;
        e.encode(&EncodeOptions::default())
    }

    fn inform_response(use_version: Option<Version>, hold: Option<bool>) -> Vec<u8> {
        acs(
            InformResponse { max_envelopes: 1 },
            Header { use_cwmp_version: use_version, hold_requests: hold, ..Default::default() },
        )
    }

    fn posted(step: Step) -> (Vec<u8>, PostKind) {
        match step {
            Step::Post { body, kind } => (body, kind),
            Step::Finished => panic!("session finished early"),
        }
    }

    fn decode(body: &[u8]) -> Envelope {
        cwmp_wire::decode(body, &Limits::default()).unwrap()
    }

    #[test]
    fn inform_carries_the_version_headers() {
        let (_, step) = CpeSession::start(setup(vec![]));
        let (body, kind) = posted(step);
        assert_eq!(kind, PostKind::Request);
        let e = decode(&body);
        assert!(matches!(e.message, Message::Inform(_)));
        assert_eq!(e.header.supported_cwmp_versions, Some(Version::ALL.to_vec()));
        assert_eq!(e.header.session_timeout, Some(60));
    }

    #[test]
    fn normal_session_with_a_transfer_complete() {
        let (mut s, _) = CpeSession::start(setup(vec![(7, tc())]));
        let mut h = Recorder::default();
        let (body, _) = posted(s.handle_body(&inform_response(Some(Version::V1_4), None), &mut h).unwrap());
        assert_eq!(h.informed, Some(Version::V1_4));
        assert!(matches!(decode(&body).message, Message::TransferComplete(_)));
        let (body, kind) = posted(s.handle_body(&acs(TransferCompleteResponse {}, Header::default()), &mut h).unwrap());
        assert_eq!(h.delivered, [7]);
        assert!(body.is_empty());
        assert_eq!(kind, PostKind::Empty);
        assert_eq!(s.handle_body(b"", &mut h).unwrap(), Step::Finished);
    }

    #[test]
    fn acs_requests_are_answered_with_the_id_echoed() {
        let (mut s, _) = CpeSession::start(setup(vec![]));
        let mut h = Recorder::default();
        let (body, _) = posted(s.handle_body(&inform_response(None, None), &mut h).unwrap());
        assert!(body.is_empty());
        let request = acs(GetRpcMethods {}, Header { id: Some("abc-42".into()), ..Default::default() });
        let (body, kind) = posted(s.handle_body(&request, &mut h).unwrap());
        assert_eq!(kind, PostKind::Response);
        let e = decode(&body);
        assert_eq!(e.header.id.as_deref(), Some("abc-42"));
        assert!(matches!(e.message, Message::GetRpcMethodsResponse(_)));
        // A fault echoes the ID too.
        let request = acs(Reboot { command_key: "r".into() }, Header { id: Some("x".into()), ..Default::default() });
        let e = decode(&posted(s.handle_body(&request, &mut h).unwrap()).0);
        assert_eq!(e.header.id.as_deref(), Some("x"));
        assert!(matches!(e.message, Message::Fault(f) if f.code == FaultCode::RequestDenied));
        // The empty POST was already sent with HoldRequests false: the next 204 ends it.
        assert_eq!(s.handle_body(b"", &mut h).unwrap(), Step::Finished);
    }

    #[test]
    fn unknown_methods_get_9000_and_bad_arguments_9003() {
        let (mut s, _) = CpeSession::start(setup(vec![]));
        let mut h = Recorder::default();
        s.handle_body(&inform_response(None, None), &mut h).unwrap();
        let unknown = acs(Message::Unknown("X_FOO_Bar".parse().unwrap()), Header::default());
        let e = decode(&posted(s.handle_body(&unknown, &mut h).unwrap()).0);
        assert!(matches!(e.message, Message::Fault(f) if f.code == FaultCode::MethodNotSupported));
        let bad = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap:Header><cwmp:ID soap:mustUnderstand="1">7</cwmp:ID></soap:Header><soap:Body><cwmp:ScheduleInform><DelaySeconds>x</DelaySeconds><CommandKey></CommandKey></cwmp:ScheduleInform></soap:Body></soap:Envelope>"#;
        let e = decode(&posted(s.handle_body(bad, &mut h).unwrap()).0);
        assert_eq!(e.header.id.as_deref(), Some("7"));
        assert!(matches!(e.message, Message::Fault(f) if f.code == FaultCode::InvalidArguments));
        assert!(h.requests.is_empty());
    }

    #[test]
    fn hold_requests_defers_cpe_requests() {
        let (mut s, _) = CpeSession::start(setup(vec![(1, tc())]));
        let mut h = Recorder::default();
        let (body, _) = posted(s.handle_body(&inform_response(None, Some(true)), &mut h).unwrap());
        assert!(body.is_empty(), "HoldRequests=1: empty POST, no TransferComplete");
        let request = acs(GetRpcMethods {}, Header { hold_requests: Some(true), ..Default::default() });
        posted(s.handle_body(&request, &mut h).unwrap());
        // 204: HoldRequests is false again, so the TransferComplete goes now.
        let (body, _) = posted(s.handle_body(b"", &mut h).unwrap());
        assert!(matches!(decode(&body).message, Message::TransferComplete(_)));
    }

    #[test]
    fn no_cpe_request_after_the_final_empty_post() {
        let (mut s, _) = CpeSession::start(setup(vec![]));
        let mut h = Recorder::default();
        let (body, _) = posted(s.handle_body(&inform_response(None, None), &mut h).unwrap());
        assert!(body.is_empty());
        s.requests.push_back((9, tc()));
        let request = acs(GetRpcMethods {}, Header::default());
        posted(s.handle_body(&request, &mut h).unwrap());
        assert_eq!(s.handle_body(b"", &mut h).unwrap(), Step::Finished);
    }

    #[test]
    fn fault_8005_resends_the_identical_request_three_times() {
        let (mut s, first) = CpeSession::start(setup(vec![]));
        let (inform_body, _) = posted(first);
        let mut h = Recorder::default();
        let retry = acs(Message::Fault(Fault::new(FaultCode::RetryRequest)), Header::default());
        for _ in 0..3 {
            let (body, _) = posted(s.handle_body(&retry, &mut h).unwrap());
            assert_eq!(body, inform_body);
        }
        assert_eq!(s.handle_body(&retry, &mut h), Err(SessionFailure::TooManyRetries(3)));
    }

    #[test]
    fn other_faults_to_the_inform_fail_the_session() {
        let (mut s, _) = CpeSession::start(setup(vec![]));
        let fault = acs(Message::Fault(Fault::new(FaultCode::AcsInternalError)), Header::default());
        assert!(matches!(s.handle_body(&fault, &mut Recorder::default()), Err(SessionFailure::InformFault(_))));
    }

    #[test]
    fn faults_to_other_requests_do_not_end_the_session() {
        let (mut s, _) = CpeSession::start(setup(vec![(1, tc()), (2, tc())]));
        let mut h = Recorder::default();
        s.handle_body(&inform_response(None, None), &mut h).unwrap();
        let fault = acs(Message::Fault(Fault::new(FaultCode::AcsInternalError)), Header::default());
        let (body, _) = posted(s.handle_body(&fault, &mut h).unwrap());
        assert_eq!(h.refused, [(1, 8002)]);
        assert!(matches!(decode(&body).message, Message::TransferComplete(_)), "the next request goes on");
    }

    #[test]
    fn version_negotiation() {
        // UseCWMPVersion not offered: abort.
        let offered = SessionSetup { supported_versions: Some(vec![Version::V1_0, Version::V1_4]), ..setup(vec![]) };
        let (mut s, _) = CpeSession::start(offered);
        assert_eq!(
            s.handle_body(&inform_response(Some(Version::V1_3), None), &mut Recorder::default()),
            Err(SessionFailure::VersionNotOffered(Version::V1_3))
        );
        // No UseCWMPVersion: the namespace tells the version (Table 6).
        let (mut s, _) = CpeSession::start(setup(vec![]));
        let mut h = Recorder::default();
        let v10 = Envelope::new(Namespace::Cwmp10, InformResponse { max_envelopes: 1 }).encode(&Default::default());
        s.handle_body(&v10, &mut h).unwrap();
        assert_eq!(h.informed, Some(Version::V1_0));
        assert_eq!(s.version(), Version::V1_0);
        let (mut s, _) = CpeSession::start(setup(vec![]));
        s.handle_body(&inform_response(None, None), &mut h).unwrap();
        assert_eq!(s.version(), Version::V1_2, "1.3 cannot be inferred");
    }

    #[test]
    fn protocol_violations_fail() {
        let (mut s, _) = CpeSession::start(setup(vec![]));
        let mut h = Recorder::default();
        assert!(matches!(s.handle_body(b"", &mut h), Err(SessionFailure::ProtocolViolation(_))));
        let (mut s, _) = CpeSession::start(setup(vec![]));
        assert!(matches!(s.handle_body(b"<not-xml", &mut h), Err(SessionFailure::Invalid(_))));
        let (mut s, _) = CpeSession::start(setup(vec![]));
        s.handle_body(&inform_response(None, None), &mut h).unwrap();
        let stray = acs(TransferCompleteResponse {}, Header::default());
        assert!(matches!(s.handle_body(&stray, &mut h), Err(SessionFailure::ProtocolViolation(_))));
    }
}
