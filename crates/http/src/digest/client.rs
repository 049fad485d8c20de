//! The client side: answering a Digest challenge, with the nonce count kept per nonce.

use super::{Algorithm, Challenge, Credentials, Qop, ResponseInput, ha1_hex, response_hex};

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server offered qop values, but not `auth` (this crate does not do `auth-int`).
    #[error("the challenge offers qop {0:?} but not auth")]
    QopAuthNotOffered(Vec<Qop>),
}

/// Answers Digest challenges for one user and keeps the nonce count, so that one session
/// (or one connection) reuses the nonce with `nc` 1, 2, 3, … (RFC 7616 §3.4).
///
/// TR-069 3.4.5: the client SHOULD use a new cnonce for each new TCP connection, and 3.4.4:
/// after a challenge it SHOULD send `Authorization` on every later request on that
/// connection. The cnonce is supplied by the caller (from its random source).
#[derive(Debug, Clone)]
pub struct Client {
    username: String,
    password: String,
    challenge: Challenge,
    qop: Option<Qop>,
    cnonce: String,
    nc: u32,
}

impl Client {
    /// A client answering `challenge` as `username`, with `cnonce` for this nonce.
    pub fn new(
        username: impl Into<String>,
        password: impl Into<String>,
        challenge: Challenge,
        cnonce: impl Into<String>,
    ) -> Result<Self, ClientError> {
        let qop = choose_qop(&challenge)?;
        Ok(Self { username: username.into(), password: password.into(), challenge, qop, cnonce: cnonce.into(), nc: 0 })
    }

    /// Takes a new challenge (after another 401, for example `stale=true`). The nonce count
    /// restarts unless the nonce is the same; `cnonce` replaces the current one.
    pub fn update(&mut self, challenge: Challenge, cnonce: impl Into<String>) -> Result<(), ClientError> {
        let qop = choose_qop(&challenge)?;
        if challenge.nonce != self.challenge.nonce {
            self.nc = 0;
        }
        self.challenge = challenge;
        self.qop = qop;
        self.cnonce = cnonce.into();
        Ok(())
    }

    /// The credentials for the next request (`method` and request-target `uri` as in the
    /// request line). Each call counts one use of the nonce. `to_string()` gives the
    /// `Authorization` header value.
    pub fn authorization(&mut self, method: &str, uri: &str) -> Credentials {
        self.nc = self.nc.wrapping_add(1);
        let nc = format!("{:08x}", self.nc);
        let algorithm: Algorithm = self.challenge.algorithm;
        let ha1 = ha1_hex(algorithm.hash, &self.username, &self.challenge.realm, &self.password);
        // -sess needs a cnonce even in the RFC 2069 form.
        let send_cnonce = self.qop.is_some() || algorithm.session;
        let response = response_hex(
            &ha1,
            &ResponseInput {
                algorithm,
                nonce: &self.challenge.nonce,
                method,
                uri,
                qop: self.qop.map(|q| (q, nc.as_str(), self.cnonce.as_str())),
                cnonce: Some(&self.cnonce),
            },
        );
        Credentials {
            username: self.username.clone(),
            realm: self.challenge.realm.clone(),
            nonce: self.challenge.nonce.clone(),
            uri: uri.to_owned(),
            response,
            algorithm,
            qop: self.qop,
            nc: self.qop.map(|_| nc),
            cnonce: send_cnonce.then(|| self.cnonce.clone()),
            opaque: self.challenge.opaque.clone(),
        }
    }

    /// The challenge being answered.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// How many requests have used the current nonce.
    pub fn nonce_count(&self) -> u32 {
        self.nc
    }
}

/// `auth` if offered; the RFC 2069 form if no qop is offered.
fn choose_qop(challenge: &Challenge) -> Result<Option<Qop>, ClientError> {
    if challenge.qop.is_empty() {
        Ok(None)
    } else if challenge.qop.contains(&Qop::Auth) {
        Ok(Some(Qop::Auth))
    } else {
        Err(ClientError::QopAuthNotOffered(challenge.qop.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc7616_challenge(algorithm: &str) -> Challenge {
        format!(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
        )
        .parse()
        .unwrap()
    }

    /// RFC 7616 §3.9.1: the whole header for MD5 and the response for SHA-256.
    #[test]
    fn rfc7616_vectors() {
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let mut md5 = Client::new("Mufasa", "Circle of Life", rfc7616_challenge("MD5"), cnonce).unwrap();
        let c = md5.authorization("GET", "/dir/index.html");
        assert_eq!(
            c.to_string(),
            r#"Digest username="Mufasa", realm="http-auth@example.org", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", uri="/dir/index.html", algorithm=MD5, qop=auth, nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", response="8ca523f5e9506fed4657c9700eebdbec", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
        );
        let mut sha = Client::new("Mufasa", "Circle of Life", rfc7616_challenge("SHA-256"), cnonce).unwrap();
        assert_eq!(
            sha.authorization("GET", "/dir/index.html").response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn nc_increments_on_one_nonce_and_restarts_on_a_new_one() {
        let mut client = Client::new("u", "p", rfc7616_challenge("MD5"), "c1").unwrap();
        let first = client.authorization("POST", "/");
        let second = client.authorization("POST", "/");
        assert_eq!(first.nc.as_deref(), Some("00000001"));
        assert_eq!(second.nc.as_deref(), Some("00000002"));
        assert_ne!(first.response, second.response);
        assert_eq!(client.nonce_count(), 2);

        // A re-challenge with the same nonce keeps counting.
        client.update(rfc7616_challenge("MD5"), "c1").unwrap();
        assert_eq!(client.authorization("POST", "/").nc.as_deref(), Some("00000003"));

        let mut fresh = rfc7616_challenge("MD5");
        fresh.nonce = "new".into();
        fresh.stale = true;
        client.update(fresh, "c2").unwrap();
        let c = client.authorization("POST", "/");
        assert_eq!((c.nc.as_deref(), c.cnonce.as_deref(), c.nonce.as_str()), (Some("00000001"), Some("c2"), "new"));
    }

    #[test]
    fn rfc2069_and_sess_forms() {
        let plain: Challenge = r#"Digest realm="r", nonce="n""#.parse().unwrap();
        let c = Client::new("u", "p", plain, "cn").unwrap().authorization("GET", "/");
        assert_eq!((c.qop, c.nc.as_deref(), c.cnonce.as_deref()), (None, None, None));
        let header = c.to_string();
        assert!(!header.contains("nc=") && !header.contains("qop=") && !header.contains("cnonce="), "{header}");

        let sess: Challenge = r#"Digest realm="r", nonce="n", algorithm=MD5-sess"#.parse().unwrap();
        let c = Client::new("u", "p", sess, "cn").unwrap().authorization("GET", "/");
        assert_eq!(c.cnonce.as_deref(), Some("cn"), "MD5-sess without qop still needs the cnonce");
    }

    #[test]
    fn auth_int_only_is_refused() {
        let c: Challenge = r#"Digest realm="r", nonce="n", qop="auth-int""#.parse().unwrap();
        assert_eq!(Client::new("u", "p", c, "x").unwrap_err(), ClientError::QopAuthNotOffered(vec![Qop::AuthInt]));
    }
}
