//! Cross-checks of the Digest implementation against an independent one, the `digest_auth`
//! crate: our client against its server-side recomputation, and its client against our
//! server's verification.

use cwmp_http::digest::{
    Algorithm, Challenge, Client, Credentials, NonceCountGuard, Secret, ServerVerifier, VerifyError,
};
use digest_auth::{AlgorithmType, AuthContext, AuthorizationHeader, HttpMethod};

const NOW: u64 = 1_700_000_000;

fn theirs(algorithm: Algorithm) -> digest_auth::Algorithm {
    let algo = match algorithm.hash {
        cwmp_http::digest::HashFunction::Md5 => AlgorithmType::MD5,
        cwmp_http::digest::HashFunction::Sha256 => AlgorithmType::SHA2_256,
    };
    digest_auth::Algorithm::new(algo, algorithm.session)
}

const ALGORITHMS: [Algorithm; 4] = [Algorithm::MD5, Algorithm::MD5_SESS, Algorithm::SHA256, Algorithm::SHA256_SESS];

/// Our client's Authorization header, parsed by digest_auth and recomputed there the way a
/// server would (`AuthorizationHeader::digest`), gives the same response.
#[test]
fn our_client_against_their_server_check() {
    let verifier = ServerVerifier::new("cwmp@acs", b"k".to_vec()).with_algorithms(&ALGORITHMS);
    for challenge in verifier.challenges(NOW, [1; 12], false) {
        let algorithm = challenge.algorithm;
        let mut client = Client::new("00D09E-CPE-0123456789", "s3cret pass", challenge, "0a4f113b").unwrap();
        for nc in 1..=3u32 {
            let ours = client.authorization("POST", "/cwmp/acs").to_string();
            let mut parsed = AuthorizationHeader::parse(&ours).unwrap_or_else(|e| panic!("{ours}: {e}"));
            assert_eq!(parsed.nc, nc);
            assert_eq!(parsed.algorithm, theirs(algorithm));
            let sent = parsed.response.clone();
            let context = AuthContext::new_with_method(
                "00D09E-CPE-0123456789",
                "s3cret pass",
                "/cwmp/acs",
                None::<&[u8]>,
                HttpMethod::POST,
            );
            parsed.digest(&context);
            assert_eq!(parsed.response, sent, "{algorithm} nc={nc}");

            let wrong = AuthContext::new_with_method(
                "00D09E-CPE-0123456789",
                "wrong",
                "/cwmp/acs",
                None::<&[u8]>,
                HttpMethod::POST,
            );
            parsed.digest(&wrong);
            assert_ne!(parsed.response, sent);
        }
    }
}

/// digest_auth's client answers our challenge; our server accepts it, with the replay
/// guard following its nonce count, and rejects a wrong password.
#[test]
fn their_client_against_our_server() {
    let verifier = ServerVerifier::new("cwmp@acs", b"k".to_vec()).with_algorithms(&ALGORITHMS);
    for challenge in verifier.challenges(NOW, [2; 12], false) {
        let header = challenge.to_string();
        let mut prompt = digest_auth::parse(&header).unwrap_or_else(|e| panic!("{header}: {e}"));
        assert_eq!(prompt.algorithm, theirs(challenge.algorithm));
        let mut guard = NonceCountGuard::new(4);
        for _ in 0..3 {
            let mut context = AuthContext::new_with_method(
                "user \"quoted\"",
                "pa:ss",
                "/cwmp/acs?x=1",
                None::<&[u8]>,
                HttpMethod::POST,
            );
            context.set_custom_cnonce("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ");
            let answer = prompt.respond(&context).unwrap().to_string();
            let credentials = Credentials::parse(&answer).unwrap_or_else(|e| panic!("{answer}: {e}"));
            assert_eq!(credentials.username, "user \"quoted\"");
            let result = verifier.verify(
                &credentials,
                "POST",
                "/cwmp/acs?x=1",
                Secret::Password("pa:ss"),
                NOW,
                Some(&mut guard),
            );
            assert_eq!(result, Ok(()), "{answer}");
            assert_eq!(
                verifier.verify(
                    &credentials,
                    "POST",
                    "/cwmp/acs?x=1",
                    Secret::Password("pa:ss"),
                    NOW,
                    Some(&mut guard)
                ),
                Err(VerifyError::Replay(credentials.nonce_count().unwrap())),
                "the same header twice is a replay"
            );
        }
        let context = AuthContext::new_with_method("u", "wrong", "/", None::<&[u8]>, HttpMethod::GET);
        let answer = prompt.respond(&context).unwrap().to_string();
        let credentials = Credentials::parse(&answer).unwrap();
        assert_eq!(
            verifier.verify(&credentials, "GET", "/", Secret::Password("right"), NOW, None),
            Err(VerifyError::WrongResponse)
        );
    }
}

/// digest_auth writes challenges in its own shape (`qop` before `nonce`, `charset`,
/// `stale` unquoted); our client reads them and the RFC 7616 example response comes out.
#[test]
fn their_challenge_our_client() {
    let mut prompt = digest_auth::parse(
        r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
    )
    .unwrap();
    prompt.stale = true;
    let rewritten = prompt.to_string();
    let challenge: Challenge = rewritten.parse().unwrap();
    assert!(challenge.stale);
    let mut client =
        Client::new("Mufasa", "Circle of Life", challenge, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ").unwrap();
    assert_eq!(client.authorization("GET", "/dir/index.html").response, "8ca523f5e9506fed4657c9700eebdbec");
}
