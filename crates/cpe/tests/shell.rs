//! The agent on tokio against the scripted ACS over real TCP and TLS: one persistent
//! connection per session, the 401 answered on the same connection, a new connection after
//! the ACS closes one, HTTPS with CA validation (DNS name and IP address), a client
//! certificate, a Connection Request through the listener, a reboot through the hooks.

mod du_support;
mod scripted_acs;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cwmp_cpe::config::Config;
use cwmp_cpe::http::HttpResponse;
use cwmp_http::digest::{NONCE_RANDOM_LEN, Secret, ServerVerifier};
use cwmp_wire::rpc::*;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use scripted_acs::server::AcsServer;
use scripted_acs::{ScriptedAcs, Seen};
use tokio::sync::oneshot;

struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), cwmp_cpe::shell::ShellError>>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await.expect("stops").unwrap().unwrap();
    }
}

fn config_text(url: &str, dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
[acs]
url = "{url}"
password = "secret"
response_timeout = 30
{extra}
[device]
manufacturer = "ACME"
oui = "00D09E"
product_class = "STB"
serial_number = "SN1"
software_version = "1.0"
[cwmp]
periodic_inform = false
time_zone = "UTC"
[state]
dir = "{}"
[connection_request]
listen = "127.0.0.1:0"
advertised_host = "127.0.0.1"
username = "cr"
password = "crpw"
"#,
        dir.display()
    )
}

fn start_agent(url: &str, extra: &str) -> Running {
    start_agent_with(url, extra, "")
}

/// `extra` goes into `[acs]`, `tail` at the end of the file.
fn start_agent_with(url: &str, extra: &str, tail: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{}{tail}", config_text(url, dir.path(), extra));
    let config = Config::parse(&text).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(cwmp_cpe::shell::run(config, async {
        let _ = stopped.await;
    }));
    Running { stop: Some(stop), task, _dir: dir }
}

/// Waits until the ACS saw something that satisfies `f`.
async fn wait_for(acs: &AcsServer, what: &str, f: impl Fn(&[Seen]) -> bool) {
    for _ in 0..500 {
        if acs.with(|a| f(a.seen())) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}; saw {:?}", acs.with(|a| a.methods()));
}

/// Waits until the agent has recorded a failed session, and returns why it failed.
async fn wait_for_failure(agent: &Running) -> String {
    let path = agent._dir.path().join("agent.json");
    for _ in 0..500 {
        if let Ok(bytes) = std::fs::read(&path) {
            let state: cwmp_cpe::persist::AgentState = serde_json::from_slice(&bytes).unwrap();
            if state.retry_count > 0 {
                return state.last_failure.expect("a failed session records why");
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for a failed session");
}

fn completed_sessions(seen: &[Seen]) -> usize {
    seen.iter().filter(|s| s.method().is_empty()).count()
}

#[tokio::test]
async fn a_session_over_one_persistent_connection() {
    let acs = AcsServer::start(ScriptedAcs::default()).await;
    acs.with(|a| {
        a.push_request(GetParameterValues { parameter_names: vec!["Device.DeviceInfo.SerialNumber".into()] });
        a.push_request(GetRpcMethods {});
    });
    let agent = start_agent(&acs.url("http", "/cwmp"), "");
    wait_for(&acs, "the boot session", |s| s.len() >= 4).await;
    let seen = acs.with(|a| a.seen().to_vec());
    assert_eq!(
        seen.iter().map(Seen::method).collect::<Vec<_>>(),
        ["Inform", "", "GetParameterValuesResponse", "GetRPCMethodsResponse"]
    );
    assert!(seen.iter().all(|s| s.connection == seen[0].connection), "one connection for the session");
    assert_eq!(seen[0].events(), ["0 BOOTSTRAP|", "1 BOOT|"]);
    let cr_url = seen[0].param("Device.ManagementServer.ConnectionRequestURL").unwrap();
    assert!(cr_url.starts_with("http://127.0.0.1:"), "{cr_url}");
    // A Connection Request through the listener opens the next session, on a new
    // connection (the first one was closed when the session ended).
    connection_request(&cr_url, "cr", "crpw").await;
    wait_for(&acs, "the connection request session", |s| completed_sessions(s) >= 2).await;
    let seen = acs.with(|a| a.seen().to_vec());
    let informs: Vec<&Seen> = seen.iter().filter(|s| s.method() == "Inform").collect();
    assert_eq!(informs[1].events(), ["6 CONNECTION REQUEST|"]);
    assert_ne!(informs[1].connection, informs[0].connection);
    agent.stop().await;
}

/// Sends an authenticated Connection Request (Digest, as an ACS does).
async fn connection_request(url: &str, user: &str, password: &str) {
    let url = url::Url::parse(url).unwrap();
    let addr: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap()).parse().unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let get = |authorization: Option<String>| {
        let mut builder = hyper::Request::builder().uri(url.path()).header("host", addr.to_string());
        if let Some(a) = authorization {
            builder = builder.header("authorization", a);
        }
        builder.body(Empty::<Bytes>::new()).unwrap()
    };
    let challenge = sender.send_request(get(None)).await.unwrap();
    assert_eq!(challenge.status(), 401);
    let header = challenge.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let _ = challenge.into_body().collect().await;
    let challenge = cwmp_http::digest::Challenge::parse(&header).unwrap();
    let mut client = cwmp_http::digest::Client::new(user, password, challenge, "0a4f113b").unwrap();
    let credentials = client.authorization("GET", url.path()).to_string();
    let answer = sender.send_request(get(Some(credentials))).await.unwrap();
    assert!(matches!(answer.status().as_u16(), 200 | 204), "{}", answer.status());
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty());
}

#[tokio::test]
async fn digest_challenge_answered_on_the_same_connection() {
    let verifier = ServerVerifier::new("acs", b"key".to_vec());
    let mut acs = ScriptedAcs::default();
    acs.set_hook(move |seen, _| {
        let now = seen.at.as_second() as u64;
        let authorized = seen
            .header("authorization")
            .and_then(|a| cwmp_http::auth::Authorization::parse(a).ok())
            .is_some_and(|a| match a {
                cwmp_http::auth::Authorization::Digest(c) => {
                    verifier.verify(&c, "POST", "/cwmp", Secret::Password("secret"), now, None).is_ok()
                }
                _ => false,
            });
        (!authorized).then(|| {
            let challenge = verifier.challenges(now, [3; NONCE_RANDOM_LEN], false)[0].to_string();
            HttpResponse::new(401).with_header("WWW-Authenticate", &challenge)
        })
    });
    let acs = AcsServer::start(acs).await;
    let agent = start_agent(&acs.url("http", "/cwmp"), "");
    wait_for(&acs, "the session", |s| completed_sessions(s) >= 1).await;
    let seen = acs.with(|a| a.seen().to_vec());
    assert_eq!(seen.iter().map(Seen::method).collect::<Vec<_>>(), ["Inform", "Inform", ""]);
    assert!(seen[0].header("authorization").is_none());
    assert_eq!(seen[1].connection, seen[0].connection, "the challenge is answered on the same connection");
    assert_eq!(seen[2].connection, seen[0].connection);
    agent.stop().await;
}

#[tokio::test]
async fn a_new_connection_after_the_acs_closes_one() {
    let mut acs = ScriptedAcs::default();
    acs.push_request(GetRpcMethods {});
    acs.set_hook(|seen, script| {
        let mut response = script.respond(seen);
        if seen.method() == "Inform" {
            response.headers.push(("Set-Cookie".into(), "session=42".into()));
            response.headers.push(("Connection".into(), "close".into()));
        }
        Some(response)
    });
    let acs = AcsServer::start(acs).await;
    let agent = start_agent(&acs.url("http", "/cwmp"), "");
    wait_for(&acs, "the session", |s| s.len() >= 3).await;
    let seen = acs.with(|a| a.seen().to_vec());
    assert_ne!(seen[1].connection, seen[0].connection, "a new connection after Connection: close");
    assert_eq!(seen[2].connection, seen[1].connection);
    assert_eq!(seen[1].header("cookie"), Some("session=42"), "cookies carried to the new connection");
    assert_eq!(seen[2].header("cookie"), Some("session=42"));
    agent.stop().await;
}

struct Pki {
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
    server: Arc<rustls::ServerConfig>,
    server_with_client_auth: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client_cert =
        CertificateParams::new(vec!["00D09E-STB-SN1".to_owned()]).unwrap().signed_by(&client_key, &ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = || rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key())
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let server_with_client_auth = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_cert.der().clone()], key())
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
        server: Arc::new(server),
        server_with_client_auth: Arc::new(server_with_client_auth),
    }
}

#[tokio::test]
async fn https_with_ca_validation_by_name_and_address() {
    let pki = pki();
    let files = tempfile::tempdir().unwrap();
    let ca = files.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let acs = AcsServer::start_tls(ScriptedAcs::default(), pki.server.clone()).await;
        let url = format!("https://{host}:{}/cwmp", acs.addr.port());
        let agent = start_agent(&url, &format!("ca_file = \"{}\"", ca.display()));
        wait_for(&acs, "the session", |s| completed_sessions(s) >= 1).await;
        let seen = acs.with(|a| a.seen().to_vec());
        // Preemptive Basic over TLS with the 3.4.4 username.
        let basic = cwmp_http::basic::Credentials::parse(seen[0].header("authorization").unwrap()).unwrap();
        assert!(basic.matches("00D09E-STB-SN1", "secret"), "{host}");
        agent.stop().await;
    }
}

/// A CA and a server certificate for localhost that expired in 2021.
fn expired_server() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, date_time_ymd};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2021, 1, 1);
    let cert = params.signed_by(&key, &ca).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    (ca.pem(), Arc::new(server))
}

/// 3.3: a device without absolute time ignores the certificate's validity period; one that
/// knows the time refuses an expired certificate.
#[tokio::test]
async fn https_without_absolute_time_ignores_validity_periods() {
    let (ca_pem, server) = expired_server();
    let files = tempfile::tempdir().unwrap();
    let ca = files.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    for (time, connects) in [("unknown", true), ("known", false)] {
        let acs = AcsServer::start_tls(ScriptedAcs::default(), server.clone()).await;
        let url = format!("https://localhost:{}/cwmp", acs.addr.port());
        let agent = start_agent(&url, &format!("ca_file = \"{}\"\nabsolute_time = \"{time}\"", ca.display()));
        if connects {
            wait_for(&acs, "the session", |s| completed_sessions(s) >= 1).await;
        } else {
            let why = wait_for_failure(&agent).await;
            assert!(why.contains("invalid peer certificate: certificate expired"), "{why}");
            assert!(acs.with(|a| a.seen().is_empty()), "no request with an expired certificate");
        }
        agent.stop().await;
    }
}

#[tokio::test]
async fn https_with_an_unknown_ca_fails() {
    let pki = pki();
    let other = self::pki();
    let files = tempfile::tempdir().unwrap();
    let ca = files.path().join("other-ca.pem");
    std::fs::write(&ca, &other.ca_pem).unwrap();
    let acs = AcsServer::start_tls(ScriptedAcs::default(), pki.server.clone()).await;
    let url = format!("https://localhost:{}/cwmp", acs.addr.port());
    let agent = start_agent(&url, &format!("ca_file = \"{}\"", ca.display()));
    let why = wait_for_failure(&agent).await;
    // The other CA has the same name: the chain is refused at its signature.
    assert!(why.contains("invalid peer certificate: BadSignature"), "{why}");
    assert!(acs.with(|a| a.seen().is_empty()), "no request without a valid certificate");
    agent.stop().await;
}

#[tokio::test]
async fn https_with_a_client_certificate() {
    let pki = pki();
    let files = tempfile::tempdir().unwrap();
    let (ca, cert, key) = (files.path().join("ca.pem"), files.path().join("cpe.pem"), files.path().join("cpe.key"));
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    std::fs::write(&cert, &pki.client_cert_pem).unwrap();
    std::fs::write(&key, &pki.client_key_pem).unwrap();
    let acs = AcsServer::start_tls(ScriptedAcs::default(), pki.server_with_client_auth.clone()).await;
    let url = format!("https://localhost:{}/cwmp", acs.addr.port());
    let extra = format!(
        "ca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"",
        ca.display(),
        cert.display(),
        key.display()
    );
    let agent = start_agent(&url, &extra);
    wait_for(&acs, "the session", |s| completed_sessions(s) >= 1).await;
    agent.stop().await;
}

#[tokio::test]
async fn reboot_restarts_the_agent_with_the_safe_hooks() {
    let acs = AcsServer::start(ScriptedAcs::default()).await;
    acs.with(|a| a.push_request(Reboot { command_key: "rk".into() }));
    let agent = start_agent(&acs.url("http", "/cwmp"), "");
    wait_for(&acs, "the session after the reboot", |s| completed_sessions(s) >= 2).await;
    let seen = acs.with(|a| a.seen().to_vec());
    let informs: Vec<&Seen> = seen.iter().filter(|s| s.method() == "Inform").collect();
    assert_eq!(informs[1].events(), ["1 BOOT|", "M Reboot|rk"]);
    agent.stop().await;
}

#[tokio::test]
async fn an_unreachable_acs_is_retried() {
    // A port with nothing listening: connection refused, the session fails and is retried
    // after 5-10 s; the agent keeps running and stops cleanly.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let agent = start_agent(&format!("http://127.0.0.1:{port}/cwmp"), "");
    let why = wait_for_failure(&agent).await;
    assert!(why.starts_with("connection failed"), "{why}");
    agent.stop().await;
}

#[tokio::test]
async fn download_applied_by_a_hook_command_and_reported() {
    let acs = AcsServer::start(ScriptedAcs::default()).await;
    acs.files.lock().unwrap().insert("/files/config.bin".into(), b"setting=1\n".to_vec());
    let url = acs.url("http", "/files/config.bin");
    let download = |key: &str, file_type: &str| scripted_acs::download(key, file_type, &url);
    acs.with(|a| {
        a.push_request(download("fw", "1 Firmware Upgrade Image"));
        a.push_request(download("cfg", "3 Vendor Configuration File"));
    });
    let hooks =
        "[hooks.apply]\n\"3 Vendor Configuration File\" = [\"/bin/sh\", \"-c\", \"test -s \\\"$CWMP_FILE\\\"\"]\n";
    let agent = start_agent_with(&acs.url("http", "/cwmp"), "", hooks);
    wait_for(&acs, "the TransferComplete", |s| s.iter().any(|x| x.method() == "TransferComplete")).await;
    wait_for(&acs, "its session's end", |s| completed_sessions(s) >= 2).await;
    let seen = acs.with(|a| a.seen().to_vec());
    let answers: Vec<_> = acs.with(|a| a.script.answers.iter().map(|e| e.message.clone()).collect());
    // No hook for firmware: 9003 at request time; the configuration file is applied.
    assert!(matches!(&answers[0], cwmp_wire::Message::Fault(f) if f.code == cwmp_wire::FaultCode::InvalidArguments));
    assert!(matches!(&answers[1], cwmp_wire::Message::DownloadResponse(r) if r.status == 1));
    let tc = seen.iter().find(|s| s.method() == "TransferComplete").unwrap();
    let Some(cwmp_wire::Message::TransferComplete(tc)) = tc.envelope.as_ref().map(|e| &e.message) else { panic!() };
    assert_eq!(tc.command_key, "cfg");
    assert_eq!(tc.fault_struct.fault_code, 0, "{}", tc.fault_struct.fault_string);
    assert!(matches!(tc.start_time, cwmp_wire::DateTime::Absolute { .. }));
    agent.stop().await;
}

#[tokio::test]
async fn change_du_state_reported_in_a_later_session() {
    let acs = AcsServer::start(ScriptedAcs::default()).await;
    acs.with(|a| {
        a.push_request(ChangeDuState {
            operations: vec![OperationStruct::Uninstall(UninstallOpStruct {
                uuid: "6ba7b811-9dad-51d1-80b4-00c04fd430c8".into(),
                version: None,
                execution_env_ref: None,
            })],
            command_key: Some("cdu".into()),
        })
    });
    let agent = start_agent(&acs.url("http", "/cwmp"), "");
    wait_for(&acs, "the DUStateChangeComplete", |s| s.iter().any(|x| x.method() == "DUStateChangeComplete")).await;
    wait_for(&acs, "its session's end", |s| completed_sessions(s) >= 2).await;
    let seen = acs.with(|a| a.seen().to_vec());
    let inform = seen.iter().filter(|s| s.method() == "Inform").nth(1).unwrap();
    assert_eq!(inform.events(), ["11 DU STATE CHANGE COMPLETE|", "M ChangeDUState|cdu"]);
    let report = seen.iter().find(|s| s.method() == "DUStateChangeComplete").unwrap();
    let Some(cwmp_wire::Message::DuStateChangeComplete(r)) = report.envelope.as_ref().map(|e| &e.message) else {
        panic!()
    };
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].fault.fault_code, 9028, "unknown deployment unit");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let leftovers: Vec<_> = std::fs::read_dir(agent._dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("change-du-state-"))
        .collect();
    assert!(leftovers.is_empty(), "the journal is removed once the results are in the outbox");
    agent.stop().await;
}

/// The data model's SoftwareModules tables show what ChangeDUState installed (in the session
/// that reports it, without a VALUE CHANGE for the new rows), and the ACS's write of an EU's
/// RequestedState reaches the execution environment: the EU's Status changes, and its
/// default active notification (TR-181) makes a VALUE CHANGE session report it.
#[tokio::test]
async fn software_modules_tables_follow_the_execution_environment() {
    let mut scripted = ScriptedAcs::default();
    let prefix = "Device.SoftwareModules.";
    scripted.set_hook(move |seen, script| {
        if seen.method() == "DUStateChangeComplete" {
            script.requests.push_back(GetParameterValues { parameter_names: vec![prefix.into()] }.into());
            let requested = ParameterValueStruct::new(
                format!("{prefix}ExecutionUnit.1.RequestedState"),
                cwmp_wire::Value::string("Active"),
            );
            script
                .requests
                .push_back(SetParameterValues { parameter_list: vec![requested], parameter_key: "eu".into() }.into());
        }
        None
    });
    let acs = AcsServer::start(scripted).await;
    let package = du_support::package("app", "1.0", &[("svc", false)], true);
    acs.files.lock().unwrap().insert("/files/app.tgz".into(), package);
    let install = InstallOpStruct {
        url: acs.url("http", "/files/app.tgz"),
        uuid: None,
        username: None,
        password: None,
        execution_env_ref: None,
    };
    acs.with(|a| {
        a.push_request(ChangeDuState { operations: vec![OperationStruct::Install(install)], command_key: None })
    });
    let agent = start_agent(&acs.url("http", "/cwmp"), "");
    // Sessions: boot (ChangeDUState), its results (the reads and writes), the notification.
    wait_for(&acs, "the VALUE CHANGE of the EU's Status", |s| s.iter().filter(|x| x.method() == "Inform").count() >= 3)
        .await;
    let (seen, answers) = acs.with(|a| (a.seen().to_vec(), a.script.answers.clone()));
    let Some(values) = answers.iter().find_map(|e| match &e.message {
        Message::GetParameterValuesResponse(r) => Some(r),
        _ => None,
    }) else {
        panic!("{answers:?}")
    };
    for answer in &answers {
        assert!(!matches!(answer.message, Message::Fault(_)), "{answer:?}");
    }
    let value = |name: &str| {
        let path = format!("{prefix}{name}");
        values.parameter_list.iter().find(|p| p.name == path).map(|p| p.value.text.clone())
    };
    assert_eq!(value("DeploymentUnit.1.Name").as_deref(), Some("app"));
    assert_eq!(value("DeploymentUnit.1.Version").as_deref(), Some("1.0"));
    assert_eq!(value("DeploymentUnit.1.Status").as_deref(), Some("Installed"));
    assert_eq!(value("DeploymentUnit.1.ExecutionEnvRef").as_deref(), Some("Device.SoftwareModules.ExecEnv.1"));
    assert_eq!(value("DeploymentUnit.1.ExecutionUnitList").as_deref(), Some("Device.SoftwareModules.ExecutionUnit.1"));
    assert!(value("DeploymentUnit.1.UUID").is_some_and(|u| u.len() == 36));
    assert_eq!(value("ExecutionUnit.1.Name").as_deref(), Some("svc"));
    assert_eq!(value("ExecutionUnit.1.Status").as_deref(), Some("Idle"));
    assert_eq!(value("ExecEnv.1.Status").as_deref(), Some("Up"));
    assert_eq!(value("DeploymentUnit.2.Name"), None, "one DU");
    let informs: Vec<_> = seen.iter().filter(|x| x.method() == "Inform").collect();
    assert_eq!(
        informs[1].events(),
        ["11 DU STATE CHANGE COMPLETE|", "M ChangeDUState|"],
        "new rows are no VALUE CHANGE"
    );
    let report = informs[2];
    assert_eq!(report.events(), ["4 VALUE CHANGE|"]);
    assert_eq!(report.param(&format!("{prefix}ExecutionUnit.1.Status")).as_deref(), Some("Active"));
    // The tables once synced stay as they are: no further change, no further session.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(acs.with(|a| a.informs().len()), 3);
    agent.stop().await;
}

/// `[[backend]]` in the configuration: a parameter's value lives in a file; the Inform
/// reads it there and the ACS's SetParameterValues writes it there.
#[tokio::test]
async fn a_configured_file_backend_holds_a_value() {
    let files = tempfile::tempdir().unwrap();
    let code = files.path().join("code");
    std::fs::write(&code, "from-the-file\n").unwrap();
    let mut scripted = ScriptedAcs::default();
    let set = ParameterValueStruct::new("Device.DeviceInfo.ProvisioningCode", cwmp_wire::Value::string("from-the-acs"));
    scripted.push_request(SetParameterValues { parameter_list: vec![set], parameter_key: "k".into() });
    let acs = AcsServer::start(scripted).await;
    let tail = format!("[[backend]]\nprefix = \"Device.DeviceInfo.ProvisioningCode\"\nfile = \"{}\"\n", code.display());
    let agent = start_agent_with(&acs.url("http", "/cwmp"), "", &tail);
    wait_for(&acs, "the session", |s| completed_sessions(s) >= 1).await;
    let seen = acs.with(|a| a.seen().to_vec());
    assert_eq!(seen[0].param("Device.DeviceInfo.ProvisioningCode").as_deref(), Some("from-the-file"));
    assert_eq!(std::fs::read_to_string(&code).unwrap(), "from-the-acs\n");
    agent.stop().await;
}

#[tokio::test]
async fn device_changes_from_the_integration_cause_a_notification() {
    let acs = AcsServer::start(ScriptedAcs::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(&config_text(&acs.url("http", "/cwmp"), dir.path(), "")).unwrap();
    let (changes, feed) = tokio::sync::mpsc::unbounded_channel();
    let integration = cwmp_cpe::shell::Integration { hooks: None, local_changes: Some(feed) };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(cwmp_cpe::shell::run_with(config, integration, async {
        let _ = stopped.await;
    }));
    wait_for(&acs, "the boot session", |s| completed_sessions(s) >= 1).await;
    // ProvisioningCode has forced active notification: a session follows the change.
    changes.send(("Device.DeviceInfo.ProvisioningCode".to_owned(), "from-the-device".to_owned())).unwrap();
    wait_for(&acs, "the VALUE CHANGE session", |s| completed_sessions(s) >= 2).await;
    let seen = acs.with(|a| a.seen().to_vec());
    let inform = seen.iter().filter(|s| s.method() == "Inform").nth(1).unwrap();
    assert_eq!(inform.events(), ["4 VALUE CHANGE|"]);
    assert_eq!(inform.param("Device.DeviceInfo.ProvisioningCode").as_deref(), Some("from-the-device"));
    let running = Running { stop: Some(stop), task, _dir: dir };
    running.stop().await;
}

/// Scenario 34: a 401 with `Connection: close`: the credentials go on a new connection.
#[tokio::test]
async fn a_challenge_with_connection_close() {
    let mut acs = ScriptedAcs::default();
    let mut challenged = false;
    acs.set_hook(move |seen, _| {
        if seen.method() == "Inform" && !challenged {
            challenged = true;
            return Some(
                HttpResponse::new(401)
                    .with_header("WWW-Authenticate", "Basic realm=\"acs\"")
                    .with_header("Connection", "close"),
            );
        }
        None
    });
    let acs = AcsServer::start(acs).await;
    let agent = start_agent(&acs.url("http", "/cwmp"), "");
    wait_for(&acs, "the session", |s| completed_sessions(s) >= 1).await;
    let seen = acs.with(|a| a.seen().to_vec());
    assert_eq!(seen.iter().map(Seen::method).collect::<Vec<_>>(), ["Inform", "Inform", ""]);
    assert_ne!(seen[1].connection, seen[0].connection);
    let basic = cwmp_http::basic::Credentials::parse(seen[1].header("authorization").unwrap()).unwrap();
    assert!(basic.matches("00D09E-STB-SN1", "secret"));
    agent.stop().await;
}
