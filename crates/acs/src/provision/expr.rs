//! Preset preconditions: a small expression language over parameters, tags, device identity
//! and Inform events, close to GenieACS's query syntax.
//!
//! ```text
//! expr    := or
//! or      := and ("OR" and)*
//! and     := unary ("AND" unary)*
//! unary   := "NOT" unary | compare
//! compare := operand [ op operand | "IS" ["NOT"] "NULL" | ["NOT"] "LIKE" operand ]
//! op      := "=" | "<>" | "!=" | "<" | "<=" | ">" | ">="
//! operand := "(" expr ")" | string | number | "true" | "false" | "NULL" | path
//! path    := name ("." name)*      -- name: letters, digits, "_", "-", "*"
//! ```
//!
//! Paths are parameters (`Device.DeviceInfo.SoftwareVersion`, `*` matches any instance),
//! `DeviceID.ID`/`.OUI`/`.ProductClass`/`.SerialNumber`/`.Manufacturer`, `Tags.<tag>` (true
//! when the device has the tag) and `Events.<code>` with spaces written as `_`
//! (`Events.0_BOOTSTRAP`). Keywords are case-insensitive. A missing value is NULL, and a
//! comparison with NULL is NULL (false at the top). Values that both read as numbers compare
//! as numbers; otherwise as strings. `LIKE` takes `%` (any run) and `_` (one character).

use std::fmt;

/// Where a precondition looks values up.
pub trait Facts {
    /// The values of a path (several when it has wildcards; none when unknown).
    fn values(&self, path: &str) -> Vec<String>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    Path(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, Op, Box<Expr>),
    Like { value: Box<Expr>, pattern: Box<Expr>, negated: bool },
    IsNull { value: Box<Expr>, negated: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A precondition that does not parse, with the character position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(String),
    Num(f64),
    Word(String),
    Sym(&'static str),
    LParen,
    RParen,
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let err = |position: usize, message: &str| ParseError { position, message: message.into() };
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push((pos, Token::LParen));
                i += 1;
            }
            ')' => {
                tokens.push((pos, Token::RParen));
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&(_, c)) = chars.get(i) else { return Err(err(pos, "unterminated string")) };
                    i += 1;
                    match c {
                        '\\' => {
                            let Some(&(_, next)) = chars.get(i) else { return Err(err(pos, "unterminated string")) };
                            s.push(next);
                            i += 1;
                        }
                        c if c == quote => break,
                        c => s.push(c),
                    }
                }
                tokens.push((pos, Token::Str(s)));
            }
            '=' => {
                tokens.push((pos, Token::Sym("=")));
                i += 1;
            }
            '!' | '<' | '>' => {
                let next = chars.get(i + 1).map(|&(_, c)| c);
                let sym = match (c, next) {
                    ('!', Some('=')) | ('<', Some('>')) => "<>",
                    ('<', Some('=')) => "<=",
                    ('>', Some('=')) => ">=",
                    ('<', _) => "<",
                    ('>', _) => ">",
                    _ => return Err(err(pos, "expected '!='")),
                };
                i += if sym.len() == 2 { 2 } else { 1 };
                tokens.push((pos, Token::Sym(sym)));
            }
            c if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|&(_, d)| d.is_ascii_digit())) => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|&(_, c)| c.is_ascii_digit() || c == '.') {
                    i += 1;
                }
                // A number immediately followed by name characters is a path node (`0_BOOTSTRAP`).
                if chars.get(i).is_some_and(|&(_, c)| is_name_char(c)) {
                    i = start;
                } else {
                    let text: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                    let n = text.parse().map_err(|_| err(pos, "invalid number"))?;
                    tokens.push((pos, Token::Num(n)));
                    continue;
                }
                let word = read_word(&chars, &mut i);
                tokens.push((pos, Token::Word(word)));
            }
            c if is_name_char(c) => {
                let word = read_word(&chars, &mut i);
                tokens.push((pos, Token::Word(word)));
            }
            other => return Err(err(pos, &format!("unexpected character {other:?}"))),
        }
    }
    Ok(tokens)
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '*' | '.')
}

fn read_word(chars: &[(usize, char)], i: &mut usize) -> String {
    let mut word = String::new();
    while let Some(&(_, c)) = chars.get(*i) {
        if !is_name_char(c) {
            break;
        }
        word.push(c);
        *i += 1;
    }
    word
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(p, _)| *p)
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError { position: self.position(), message: message.into() }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("AND") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, ParseError> {
        let left = self.operand()?;
        if self.keyword("IS") {
            let negated = self.keyword("NOT");
            if !self.keyword("NULL") {
                return Err(self.error("expected NULL after IS"));
            }
            return Ok(Expr::IsNull { value: Box::new(left), negated });
        }
        let negated = self.keyword("NOT");
        if self.keyword("LIKE") {
            let pattern = self.operand()?;
            return Ok(Expr::Like { value: Box::new(left), pattern: Box::new(pattern), negated });
        }
        if negated {
            return Err(self.error("expected LIKE after NOT"));
        }
        let op = match self.peek() {
            Some(Token::Sym("=")) => Op::Eq,
            Some(Token::Sym("<>")) => Op::Ne,
            Some(Token::Sym("<")) => Op::Lt,
            Some(Token::Sym("<=")) => Op::Le,
            Some(Token::Sym(">")) => Op::Gt,
            Some(Token::Sym(">=")) => Op::Ge,
            _ => return Ok(left),
        };
        self.at += 1;
        let right = self.operand()?;
        Ok(Expr::Compare(Box::new(left), op, Box::new(right)))
    }

    fn operand(&mut self) -> Result<Expr, ParseError> {
        let Some(token) = self.peek().cloned() else { return Err(self.error("expected a value")) };
        self.at += 1;
        Ok(match token {
            Token::LParen => {
                let inner = self.or()?;
                if self.peek() != Some(&Token::RParen) {
                    return Err(self.error("expected ')'"));
                }
                self.at += 1;
                inner
            }
            Token::Str(s) => Expr::Literal(Literal::Str(s)),
            Token::Num(n) => Expr::Literal(Literal::Num(n)),
            Token::Word(w) if w.eq_ignore_ascii_case("true") => Expr::Literal(Literal::Bool(true)),
            Token::Word(w) if w.eq_ignore_ascii_case("false") => Expr::Literal(Literal::Bool(false)),
            Token::Word(w) if w.eq_ignore_ascii_case("null") => Expr::Literal(Literal::Null),
            Token::Word(w) if ["and", "or", "not", "is", "like"].iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                self.at -= 1;
                return Err(self.error(format!("expected a value, found {w}")));
            }
            Token::Word(w) => {
                if w.starts_with('.') || w.ends_with('.') || w.contains("..") {
                    self.at -= 1;
                    return Err(self.error(format!("invalid path {w:?}")));
                }
                Expr::Path(w)
            }
            Token::RParen | Token::Sym(_) => {
                self.at -= 1;
                return Err(self.error("expected a value"));
            }
        })
    }
}

impl Expr {
    /// Parses a precondition. The empty text means "always".
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Ok(Expr::Literal(Literal::Bool(true)));
        }
        let mut parser = Parser { tokens, at: 0, end: text.len() };
        let expr = parser.or()?;
        if parser.at < parser.tokens.len() {
            return Err(parser.error("unexpected text after the expression"));
        }
        Ok(expr)
    }

    /// The parameter paths the expression reads (not DeviceID/Tags/Events).
    pub fn parameter_paths(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |e| {
            if let Expr::Path(p) = e
                && !["DeviceID.", "Tags.", "Events."].iter().any(|s| p.starts_with(s))
            {
                out.push(p.as_str());
            }
        });
        out
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Not(e) => e.visit(f),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(a, _, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::Like { value, pattern, .. } => {
                value.visit(f);
                pattern.visit(f);
            }
            Expr::IsNull { value, .. } => value.visit(f),
            Expr::Literal(_) | Expr::Path(_) => {}
        }
    }

    /// Whether the expression holds (NULL counts as false).
    pub fn matches(&self, facts: &dyn Facts) -> bool {
        self.truth(facts) == Some(true)
    }

    /// Three-valued truth: `None` is NULL.
    fn truth(&self, facts: &dyn Facts) -> Option<bool> {
        match self {
            Expr::Not(e) => e.truth(facts).map(|b| !b),
            Expr::And(a, b) => match (a.truth(facts), b.truth(facts)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::Or(a, b) => match (a.truth(facts), b.truth(facts)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Expr::Compare(a, op, b) => {
                let (left, right) = (a.values(facts), b.values(facts));
                any_pair(&left, &right, |l, r| compare(l, *op, r))
            }
            Expr::Like { value, pattern, negated } => {
                let (left, right) = (value.values(facts), pattern.values(facts));
                any_pair(&left, &right, |l, r| Some(like(l, r) != *negated))
            }
            Expr::IsNull { value, negated } => Some(value.values(facts).is_empty() != *negated),
            Expr::Literal(Literal::Bool(b)) => Some(*b),
            Expr::Literal(Literal::Null) => None,
            Expr::Literal(_) | Expr::Path(_) => {
                let values = self.values(facts);
                if values.is_empty() { None } else { Some(values.iter().any(|v| truthy(v))) }
            }
        }
    }

    fn values(&self, facts: &dyn Facts) -> Vec<String> {
        match self {
            Expr::Literal(Literal::Str(s)) => vec![s.clone()],
            Expr::Literal(Literal::Num(n)) => vec![format_number(*n)],
            Expr::Literal(Literal::Bool(b)) => vec![b.to_string()],
            Expr::Literal(Literal::Null) => vec![],
            Expr::Path(p) => facts.values(p),
            other => match other.truth(facts) {
                Some(b) => vec![b.to_string()],
                None => vec![],
            },
        }
    }
}

/// Whether any pair of values satisfies `f` (wildcard paths have several values).
fn any_pair(left: &[String], right: &[String], f: impl Fn(&str, &str) -> Option<bool>) -> Option<bool> {
    if left.is_empty() || right.is_empty() {
        return None;
    }
    let mut result = Some(false);
    for l in left {
        for r in right {
            match f(l, r) {
                Some(true) => return Some(true),
                None => result = None,
                Some(false) => {}
            }
        }
    }
    result
}

fn truthy(v: &str) -> bool {
    !matches!(v, "" | "0" | "false")
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
}

fn compare(l: &str, op: Op, r: &str) -> Option<bool> {
    let either_bool = matches!(l, "true" | "false") || matches!(r, "true" | "false");
    let ordering = match (bool_value(l), bool_value(r)) {
        (Some(a), Some(b)) if either_bool => a.cmp(&b),
        _ => match (l.trim().parse::<f64>(), r.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b)?,
            _ => l.cmp(r),
        },
    };
    use std::cmp::Ordering::*;
    Some(match op {
        Op::Eq => ordering == Equal,
        Op::Ne => ordering != Equal,
        Op::Lt => ordering == Less,
        Op::Le => ordering != Greater,
        Op::Gt => ordering == Greater,
        Op::Ge => ordering != Less,
    })
}

/// CWMP booleans (`1`/`true`, `0`/`false`) compare equal across spellings when one side is
/// written as a boolean.
fn bool_value(v: &str) -> Option<bool> {
    cwmp_wire::types::parse_bool(v)
}

/// SQL LIKE with `%` and `_`, iterative (no exponential backtracking).
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(Literal::Str(s)) => write!(f, "{s:?}"),
            Expr::Literal(Literal::Num(n)) => f.write_str(&format_number(*n)),
            Expr::Literal(Literal::Bool(b)) => write!(f, "{b}"),
            Expr::Literal(Literal::Null) => f.write_str("NULL"),
            Expr::Path(p) => f.write_str(p),
            Expr::Not(e) => write!(f, "NOT ({e})"),
            Expr::And(a, b) => write!(f, "({a}) AND ({b})"),
            Expr::Or(a, b) => write!(f, "({a}) OR ({b})"),
            Expr::Compare(a, op, b) => {
                let op = match op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                };
                write!(f, "{a} {op} {b}")
            }
            Expr::Like { value, pattern, negated } => {
                write!(f, "{value} {}LIKE {pattern}", if *negated { "NOT " } else { "" })
            }
            Expr::IsNull { value, negated } => write!(f, "{value} IS {}NULL", if *negated { "NOT " } else { "" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, Vec<&'static str>>);
    impl Facts for Map {
        fn values(&self, path: &str) -> Vec<String> {
            self.0.get(path).map(|v| v.iter().map(|s| s.to_string()).collect()).unwrap_or_default()
        }
    }

    fn facts() -> Map {
        Map(HashMap::from([
            ("Device.DeviceInfo.SoftwareVersion", vec!["1.2.3"]),
            ("Device.ManagementServer.PeriodicInformInterval", vec!["300"]),
            ("Device.IP.Interface.*.Enable", vec!["0", "1"]),
            ("DeviceID.ProductClass", vec!["Router"]),
            ("Tags.lab", vec!["true"]),
            ("Events.0_BOOTSTRAP", vec!["true"]),
        ]))
    }

    fn eval(text: &str) -> bool {
        Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).matches(&facts())
    }

    #[test]
    fn comparisons_and_logic() {
        assert!(eval(r#"Device.DeviceInfo.SoftwareVersion = "1.2.3""#));
        assert!(eval(r#"Device.DeviceInfo.SoftwareVersion <> '1.2.4'"#));
        assert!(eval("Device.ManagementServer.PeriodicInformInterval >= 300"));
        assert!(!eval("Device.ManagementServer.PeriodicInformInterval < 60"));
        assert!(eval("Device.ManagementServer.PeriodicInformInterval > 60 AND Tags.lab IS NOT NULL"));
        assert!(eval("Tags.prod IS NULL OR false"));
        assert!(eval(r#"NOT (DeviceID.ProductClass = "Switch")"#));
        assert!(eval(r#"DeviceID.ProductClass LIKE "Rou%""#));
        assert!(eval(r#"DeviceID.ProductClass NOT LIKE "Sw_tch""#));
        assert!(eval("Events.0_BOOTSTRAP"));
        assert!(!eval("Events.1_BOOT"));
        assert!(eval("Device.IP.Interface.*.Enable = true"), "any instance");
        assert!(eval(""));
    }

    #[test]
    fn null_is_not_true() {
        assert!(!eval("Device.Missing = 1"));
        assert!(!eval("NOT (Device.Missing = 1)"));
        assert!(eval("Device.Missing IS NULL"));
    }

    #[test]
    fn clear_errors() {
        let e = Expr::parse("Device.X = ").unwrap_err();
        assert_eq!(e.to_string(), "expected a value at position 11");
        assert!(Expr::parse("(Device.X = 1").unwrap_err().message.contains("')'"));
        assert!(Expr::parse("Device.X == 1").is_err());
        assert!(Expr::parse("\"open").unwrap_err().message.contains("unterminated"));
        assert!(Expr::parse("Device.X IS 3").unwrap_err().message.contains("NULL"));
        assert!(Expr::parse("Device.X = 1 Device.Y").unwrap_err().message.contains("unexpected text"));
        assert!(Expr::parse("Device..X = 1").is_err());
    }

    #[test]
    fn like_is_linear() {
        assert!(like("abc", "a%c"));
        assert!(like("abc", "%"));
        assert!(!like("abc", "a_"));
        let long = "a".repeat(10_000);
        assert!(!like(&long, &"%a".repeat(50).to_string().replace("%a%a", "%a%b")));
    }

    #[test]
    fn reports_parameter_paths() {
        let e = Expr::parse("Device.A = 1 AND Tags.x IS NULL AND (DeviceID.OUI = 'x' OR Device.B > 2)").unwrap();
        assert_eq!(e.parameter_paths(), vec!["Device.A", "Device.B"]);
    }
}
