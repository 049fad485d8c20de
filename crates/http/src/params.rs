//! The RFC 7235 §2.1 grammar shared by `WWW-Authenticate` and `Authorization`:
//!
//! ```text
//! challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param  = token BWS "=" BWS ( token / quoted-string )
//! ```
//!
//! Commas separate both the challenges of one header and the parameters of one challenge, so
//! a new challenge is recognised by a token that is not followed by `=`. The reader is
//! lenient in the ways real devices need: any case, extra whitespace and empty list
//! elements, a missing comma between parameters, an unterminated quoted string, quoted
//! values where tokens are expected and the reverse, and an unquoted `qop=auth,auth-int`.
//! It never fails: unreadable bytes are skipped.

/// One challenge or credentials: the scheme and its parameters, names in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthItem {
    pub scheme: String,
    pub token68: Option<String>,
    pub params: Vec<(String, String)>,
}

impl AuthItem {
    /// The first value of a parameter (names are compared case-insensitively).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, pos: usize) -> Option<u8> {
        self.s.as_bytes().get(pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn skip_ws_and_commas(&mut self) {
        while self.peek().is_some_and(|b| is_ws(b) || b == b',') {
            self.pos += 1;
        }
    }

    /// The end of the run of token characters starting at `from`.
    fn token_end(&self, from: usize) -> usize {
        let mut end = from;
        while self.peek_at(end).is_some_and(is_tchar) {
            end += 1;
        }
        end
    }

    fn ws_end(&self, from: usize) -> usize {
        let mut end = from;
        while self.peek_at(end).is_some_and(is_ws) {
            end += 1;
        }
        end
    }

    /// Whether a `name = value` parameter starts here (as opposed to a scheme or token68).
    fn at_param(&self) -> bool {
        let name_end = self.token_end(self.pos);
        if name_end == self.pos {
            return false;
        }
        let eq = self.ws_end(name_end);
        if self.peek_at(eq) != Some(b'=') {
            return false;
        }
        // `abc==` followed by the end or a comma is a token68, not a parameter.
        let mut after = eq;
        while self.peek_at(after) == Some(b'=') {
            after += 1;
        }
        let after = self.ws_end(after);
        let token68_like = self.s.as_bytes()[self.pos..name_end].iter().all(|&b| is_token68_char(b));
        !(token68_like && matches!(self.peek_at(after), None | Some(b',')))
    }

    fn take_token(&mut self) -> &'a str {
        let start = self.pos;
        self.pos = self.token_end(start);
        &self.s[start..self.pos]
    }

    /// A quoted-string (the cursor is on the opening quote), unescaped. An unterminated string
    /// runs to the end of the input.
    fn take_quoted(&mut self) -> String {
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.s[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return out;
                }
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        out.push(escaped);
                    }
                }
                c => out.push(c),
            }
        }
        self.pos = self.s.len();
        out
    }

    /// An unquoted value: everything up to a comma or whitespace.
    fn take_bare(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| b != b',' && !is_ws(b)) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }
}

/// Reads every challenge (or credentials) in one header value.
pub(crate) fn parse_items(input: &str) -> Vec<AuthItem> {
    let mut cur = Cursor { s: input, pos: 0 };
    let mut items = Vec::new();
    loop {
        cur.skip_ws_and_commas();
        let Some(b) = cur.peek() else { break };
        if !is_tchar(b) {
            // Junk where a scheme should be: skip one character (a whole UTF-8 sequence).
            cur.pos += input[cur.pos..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let scheme = cur.take_token().to_owned();
        let mut item = AuthItem { scheme, token68: None, params: Vec::new() };
        parse_body(&mut cur, &mut item);
        items.push(item);
    }
    items
}

/// Reads the token68 or the parameters of one item, stopping before the next scheme.
fn parse_body(cur: &mut Cursor<'_>, item: &mut AuthItem) {
    cur.skip_ws();
    if cur.peek().is_some_and(is_token68_char) && !cur.at_param() {
        // A token68 only if it is followed by the end or a comma, else it is the next scheme.
        let start = cur.pos;
        let mut end = start;
        while cur.peek_at(end).is_some_and(is_token68_char) {
            end += 1;
        }
        while cur.peek_at(end) == Some(b'=') {
            end += 1;
        }
        if matches!(cur.peek_at(cur.ws_end(end)), None | Some(b',')) {
            item.token68 = Some(cur.s[start..end].to_owned());
            cur.pos = end;
            return;
        }
    }
    loop {
        let save = cur.pos;
        cur.skip_ws_and_commas();
        let Some(b) = cur.peek() else { return };
        if cur.at_param() {
            let name = cur.take_token().to_ascii_lowercase();
            cur.skip_ws();
            cur.pos += 1; // '='
            cur.skip_ws();
            let value = if cur.peek() == Some(b'"') { cur.take_quoted() } else { cur.take_bare().to_owned() };
            item.params.push((name, value));
        } else if is_tchar(b) {
            // A bare token. After an unquoted `qop=auth` it continues the qop list; otherwise it
            // starts the next challenge.
            let end = cur.token_end(cur.pos);
            let word = &cur.s[cur.pos..end];
            let continues_qop = matches!(item.params.last(), Some((n, _)) if n == "qop")
                && (word.eq_ignore_ascii_case("auth") || word.eq_ignore_ascii_case("auth-int"))
                && matches!(cur.peek_at(cur.ws_end(end)), None | Some(b','));
            if !continues_qop {
                cur.pos = save;
                return;
            }
            if let Some((_, qop)) = item.params.last_mut() {
                qop.push(',');
                qop.push_str(word);
            }
            cur.pos = end;
        } else if b == b'"' {
            // A stray quoted string with no name: skip it.
            cur.take_quoted();
        } else {
            cur.pos += cur.s[cur.pos..].chars().next().map_or(1, char::len_utf8);
        }
    }
}

/// Writes a quoted-string, escaping `"` and `\` (RFC 7230 §3.2.6, RFC 7616 §3.4).
pub(crate) fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(item: &AuthItem) -> Vec<(&str, &str)> {
        item.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }

    #[test]
    fn one_digest_challenge() {
        let items = parse_items(r#"Digest realm="acs", qop="auth", nonce="abc=", opaque="x", algorithm=MD5"#);
        assert_eq!(items.len(), 1);
        assert!(items[0].is_scheme("digest"));
        assert_eq!(
            params(&items[0]),
            [("realm", "acs"), ("qop", "auth"), ("nonce", "abc="), ("opaque", "x"), ("algorithm", "MD5")]
        );
    }

    #[test]
    fn several_challenges_in_one_header() {
        let items = parse_items(r#"Basic realm="b", Digest realm="d", nonce="n", Negotiate, NTLM abc=="#);
        let schemes: Vec<_> = items.iter().map(|i| i.scheme.as_str()).collect();
        assert_eq!(schemes, ["Basic", "Digest", "Negotiate", "NTLM"]);
        assert_eq!(items[0].param("realm"), Some("b"));
        assert_eq!(items[1].param("nonce"), Some("n"));
        assert_eq!(items[3].token68.as_deref(), Some("abc=="));
    }

    #[test]
    fn token68_credentials() {
        let items = parse_items("Basic dXNlcjpwYXNz");
        assert_eq!(items[0].token68.as_deref(), Some("dXNlcjpwYXNz"));
        let items = parse_items("Basic YWJjOmQ=");
        assert_eq!(items[0].token68.as_deref(), Some("YWJjOmQ="));
        assert!(items[0].params.is_empty());
    }

    #[test]
    fn whitespace_case_and_empty_elements() {
        let items = parse_items("  digest   REALM = \"r\" ,, ,\tNonce=\"n\"\r\n , qop = auth  ");
        assert_eq!(items.len(), 1);
        assert_eq!(params(&items[0]), [("realm", "r"), ("nonce", "n"), ("qop", "auth")]);
    }

    #[test]
    fn unquoted_qop_list_stays_in_one_challenge() {
        let items = parse_items("Digest realm=r, qop=auth,auth-int, nonce=n");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].param("qop"), Some("auth,auth-int"));
        assert_eq!(items[0].param("nonce"), Some("n"));
    }

    #[test]
    fn missing_commas_and_escapes() {
        let items = parse_items(r#"Digest username="a\"b\\c" realm="r""#);
        assert_eq!(params(&items[0]), [("username", "a\"b\\c"), ("realm", "r")]);
    }

    #[test]
    fn unterminated_quote_runs_to_end() {
        let items = parse_items(r#"Digest realm="abc, nonce=x"#);
        assert_eq!(params(&items[0]), [("realm", "abc, nonce=x")]);
    }

    #[test]
    fn quoting_round_trip() {
        let mut s = String::new();
        push_quoted(&mut s, "we\"ird\\user");
        assert_eq!(s, r#""we\"ird\\user""#);
        let items = parse_items(&format!("Digest username={s}"));
        assert_eq!(items[0].param("username"), Some("we\"ird\\user"));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_items(&s);
        }

        #[test]
        fn never_panics_on_header_like_input(s in "[A-Za-z =,\"\\\\\t=/+é-]{0,60}") {
            let _ = parse_items(&s);
        }

        #[test]
        fn quoted_values_round_trip(name in "[a-z]{1,8}", value in "\\PC{0,30}") {
            let mut header = format!("Digest {name}=");
            push_quoted(&mut header, &value);
            header.push_str(", other=\"x\"");
            let items = parse_items(&header);
            prop_assert_eq!(items.len(), 1);
            prop_assert_eq!(items[0].param(&name), Some(value.as_str()));
        }
    }
}
