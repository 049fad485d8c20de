//! Preset preconditions: a small expression language over parameters, tags, device identity
//! and Inform events, close to GenieACS's query syntax.
//!
//! ```text
//! expr    := or
//! or      := and ("OR" and)*
//! and     := unary ("AND" unary)*
//! unary   := "NOT" unary | compare
//! compare := concat [ op concat | "IS" ["NOT"] "NULL" | ["NOT"] "LIKE" concat ]
//! op      := "=" | "<>" | "!=" | "<" | "<=" | ">" | ">="
//! concat  := sum ("||" sum)*
//! sum     := product (("+" | "-") product)*
//! product := operand (("*" | "/" | "%") operand)*
//! operand := "(" expr ")" | string | number | "true" | "false" | "NULL" | call | path
//! call    := ("NOW" | "UPPER" | "LOWER" | "ROUND" | "COALESCE") "(" [expr ("," expr)*] ")"
//! path    := name ("." name)*      -- name: letters, digits, "_", "-", "*"
//! ```
//!
//! This is GenieACS 1.2's expression language (without `CASE`). Paths are parameters
//! (`Device.DeviceInfo.SoftwareVersion`, `*` matches any instance) and the pseudo-parameters
//! of [`super::pseudo`]: `DeviceID.ID`/`.OUI`/`.ProductClass`/`.SerialNumber`/
//! `.Manufacturer`, `Tags.<tag>` (true when the device has the tag) and `Events.<code>`
//! (`Events.0_BOOTSTRAP`: the time of that event, when the session has it). Keywords and
//! function names are case-insensitive; operators other than `AND`, `OR`, `NOT` and the
//! comparisons need spaces around them (`a-b` is a path). A missing value is NULL, and a
//! comparison or computation with NULL is NULL (false at the top). Values that both read as
//! numbers compare as numbers; otherwise as strings. Dates are ms since the epoch, as `NOW()`
//! is. `LIKE` takes `%` (any run) and `_` (one character). Strings are `"…"` with `\`
//! escapes, or `'…'` where `''` is a quote.

use std::fmt;

/// Where a precondition looks values up.
pub trait Facts {
    /// The values of a path (several when it has wildcards; none when unknown).
    fn values(&self, path: &str) -> Vec<String>;

    /// `NOW()`: the session's time, ms since the epoch.
    fn now(&self) -> i64;
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    Path(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, Op, Box<Expr>),
    Like {
        value: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
    },
    IsNull {
        value: Box<Expr>,
        negated: bool,
    },
    /// Arithmetic and `||`.
    Arith(Box<Expr>, Arith, Box<Expr>),
    Call(Function, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Concat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Now,
    Upper,
    Lower,
    Round,
    Coalesce,
}

impl Function {
    fn named(name: &str) -> Option<Function> {
        Some(match name.to_ascii_uppercase().as_str() {
            "NOW" => Function::Now,
            "UPPER" => Function::Upper,
            "LOWER" => Function::Lower,
            "ROUND" => Function::Round,
            "COALESCE" => Function::Coalesce,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Function::Now => "NOW",
            Function::Upper => "UPPER",
            Function::Lower => "LOWER",
            Function::Round => "ROUND",
            Function::Coalesce => "COALESCE",
        }
    }

    /// Allowed argument counts.
    fn arity(self) -> (usize, usize) {
        match self {
            Function::Now => (0, 0),
            Function::Upper | Function::Lower => (1, 1),
            Function::Round => (1, 2),
            Function::Coalesce => (1, usize::MAX),
        }
    }
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
    Comma,
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
            ',' => {
                tokens.push((pos, Token::Comma));
                i += 1;
            }
            '+' | '/' | '%' => {
                tokens.push((
                    pos,
                    Token::Sym(match c {
                        '+' => "+",
                        '/' => "/",
                        _ => "%",
                    }),
                ));
                i += 1;
            }
            '|' if chars.get(i + 1).is_some_and(|&(_, c)| c == '|') => {
                tokens.push((pos, Token::Sym("||")));
                i += 2;
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
                        // '' inside '…' is a quote.
                        '\'' if quote == '\'' && chars.get(i).is_some_and(|&(_, c)| c == '\'') => {
                            s.push('\'');
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

    /// The arithmetic operator at the cursor, if any (`*` and `-` come as words: they are
    /// also path characters).
    fn arith(&self, ops: &[Arith]) -> Option<Arith> {
        let op = match self.peek()? {
            Token::Sym("||") => Arith::Concat,
            Token::Sym("+") => Arith::Add,
            Token::Sym("/") => Arith::Div,
            Token::Sym("%") => Arith::Rem,
            Token::Word(w) if w == "-" => Arith::Sub,
            Token::Word(w) if w == "*" => Arith::Mul,
            _ => return None,
        };
        ops.contains(&op).then_some(op)
    }

    fn binary(&mut self, ops: &[Arith], next: fn(&mut Parser) -> Result<Expr, ParseError>) -> Result<Expr, ParseError> {
        let mut left = next(self)?;
        while let Some(op) = self.arith(ops) {
            self.at += 1;
            left = Expr::Arith(Box::new(left), op, Box::new(next(self)?));
        }
        Ok(left)
    }

    fn concat(&mut self) -> Result<Expr, ParseError> {
        self.binary(&[Arith::Concat], Parser::sum)
    }

    fn sum(&mut self) -> Result<Expr, ParseError> {
        self.binary(&[Arith::Add, Arith::Sub], Parser::product)
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        self.binary(&[Arith::Mul, Arith::Div, Arith::Rem], Parser::operand)
    }

    fn compare(&mut self) -> Result<Expr, ParseError> {
        let left = self.concat()?;
        if self.keyword("IS") {
            let negated = self.keyword("NOT");
            if !self.keyword("NULL") {
                return Err(self.error("expected NULL after IS"));
            }
            return Ok(Expr::IsNull { value: Box::new(left), negated });
        }
        let negated = self.keyword("NOT");
        if self.keyword("LIKE") {
            let pattern = self.concat()?;
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
        let right = self.concat()?;
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
            Token::Word(w) if self.peek() == Some(&Token::LParen) => {
                let Some(function) = Function::named(&w) else {
                    self.at -= 1;
                    return Err(self.error(format!("unknown function {w}")));
                };
                self.at += 1;
                let mut args = Vec::new();
                if self.peek() == Some(&Token::RParen) {
                    self.at += 1;
                } else {
                    loop {
                        args.push(self.or()?);
                        match self.peek() {
                            Some(Token::Comma) => self.at += 1,
                            Some(Token::RParen) => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err(self.error("expected ',' or ')'")),
                        }
                    }
                }
                let (min, max) = function.arity();
                if args.len() < min || args.len() > max {
                    return Err(self.error(format!("{} takes {min} to {max} arguments", function.name())));
                }
                Expr::Call(function, args)
            }
            Token::Word(w) => {
                if w.starts_with('.') || w.ends_with('.') || w.contains("..") {
                    self.at -= 1;
                    return Err(self.error(format!("invalid path {w:?}")));
                }
                Expr::Path(w)
            }
            Token::RParen | Token::Comma | Token::Sym(_) => {
                self.at -= 1;
                return Err(self.error("expected a value"));
            }
        })
    }
}

/// A comma-separated list of values (`"Device.X", 300, true`), as GenieACS's UI writes a
/// provision's arguments.
pub fn literal_list(text: &str) -> Result<Vec<serde_json::Value>, String> {
    let tokens = tokenize(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut expect_value = true;
    for (position, token) in tokens {
        let value = match (&token, expect_value) {
            (Token::Comma, false) => {
                expect_value = true;
                continue;
            }
            (Token::Str(s), true) => serde_json::Value::String(s.clone()),
            (Token::Num(n), true) if n.fract() == 0.0 && n.abs() < 9e15 => (*n as i64).into(),
            (Token::Num(n), true) => {
                serde_json::Number::from_f64(*n).map(serde_json::Value::Number).ok_or("bad number")?
            }
            (Token::Word(w), true) if w.eq_ignore_ascii_case("true") => true.into(),
            (Token::Word(w), true) if w.eq_ignore_ascii_case("false") => false.into(),
            (Token::Word(w), true) if w.eq_ignore_ascii_case("null") => serde_json::Value::Null,
            _ => {
                return Err(format!(
                    "only values (text, numbers, booleans) separated by commas, at position {position}"
                ));
            }
        };
        out.push(value);
        expect_value = false;
    }
    if expect_value && !out.is_empty() {
        return Err("a value is missing after the last comma".into());
    }
    Ok(out)
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
            Expr::Arith(a, _, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.visit(f)),
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
            Expr::Literal(_) | Expr::Path(_) | Expr::Arith(..) | Expr::Call(..) => {
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
            Expr::Arith(a, op, b) => {
                let (left, right) = (a.values(facts), b.values(facts));
                let mut out = Vec::new();
                for l in left.iter().take(MAX_VALUES) {
                    for r in right.iter().take(MAX_VALUES) {
                        if let Some(v) = arith(l, *op, r) {
                            out.push(v);
                        }
                    }
                }
                out
            }
            Expr::Call(function, args) => call(*function, args, facts),
            other => match other.truth(facts) {
                Some(b) => vec![b.to_string()],
                None => vec![],
            },
        }
    }
}

/// Most values of one side taken into a computation (wildcard paths have several).
const MAX_VALUES: usize = 64;

/// A value as a number, as GenieACS reads one for arithmetic: booleans as 1 and 0, text that
/// does not start with a number as 0.
fn number(v: &str) -> f64 {
    if let Some(b) = matches!(v, "true" | "false").then(|| v == "true") {
        return f64::from(u8::from(b));
    }
    let v = v.trim();
    let end = v
        .char_indices()
        .take_while(|&(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && matches!(c, '-' | '+')))
        .map(|(i, c)| i + c.len_utf8())
        .last()
        .unwrap_or(0);
    v[..end].parse().unwrap_or(0.0)
}

fn arith(l: &str, op: Arith, r: &str) -> Option<String> {
    let (a, b) = (number(l), number(r));
    let n = match op {
        Arith::Concat => return Some(format!("{l}{r}")),
        Arith::Add => a + b,
        Arith::Sub => a - b,
        Arith::Mul => a * b,
        Arith::Div if b == 0.0 => return None,
        Arith::Div => a / b,
        Arith::Rem if b.trunc() == 0.0 => return None,
        Arith::Rem => a % b.trunc(),
    };
    n.is_finite().then(|| format_number(n))
}

fn call(function: Function, args: &[Expr], facts: &dyn Facts) -> Vec<String> {
    let first = || args.first().map(|a| a.values(facts)).unwrap_or_default();
    match function {
        Function::Now => vec![facts.now().to_string()],
        Function::Upper => first().iter().map(|v| v.to_uppercase()).collect(),
        Function::Lower => first().iter().map(|v| v.to_lowercase()).collect(),
        Function::Round => {
            let places = match args.get(1).map(|a| a.values(facts)) {
                Some(p) if p.is_empty() => return vec![],
                Some(p) => number(&p[0]).trunc() as i32,
                None => 0,
            };
            let scale = 10f64.powi(places);
            first().iter().map(|v| format_number((number(v) * scale).round() / scale)).collect()
        }
        Function::Coalesce => args.iter().map(|a| a.values(facts)).find(|v| !v.is_empty()).unwrap_or_default(),
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
            Expr::Literal(Literal::Str(s)) => write!(f, "\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
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
            Expr::Arith(a, op, b) => {
                let op = match op {
                    Arith::Add => "+",
                    Arith::Sub => "-",
                    Arith::Mul => "*",
                    Arith::Div => "/",
                    Arith::Rem => "%",
                    Arith::Concat => "||",
                };
                write!(f, "({a}) {op} ({b})")
            }
            Expr::Call(function, args) => {
                write!(f, "{}(", function.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
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
        fn now(&self) -> i64 {
            10_000
        }
    }

    fn facts() -> Map {
        Map(HashMap::from([
            ("Device.DeviceInfo.SoftwareVersion", vec!["1.2.3"]),
            ("Device.ManagementServer.PeriodicInformInterval", vec!["300"]),
            ("Device.IP.Interface.*.Enable", vec!["0", "1"]),
            ("DeviceID.ProductClass", vec!["Router"]),
            ("Tags.lab", vec!["true"]),
            ("Events.0_BOOTSTRAP", vec!["9000"]),
            ("Device.Name", vec!["Box"]),
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
    fn genieacs_arithmetic_and_functions() {
        assert!(eval("Events.0_BOOTSTRAP > NOW() - 5000"));
        assert!(!eval("Events.0_BOOTSTRAP > now() - 500"));
        assert!(eval("Device.ManagementServer.PeriodicInformInterval * 2 = 600"));
        assert!(eval("Device.ManagementServer.PeriodicInformInterval / 7 % 5 > 2"));
        assert!(eval("Device.ManagementServer.PeriodicInformInterval + 1 - 1 = 300"));
        assert!(eval("2 + 3 * 4 = 14"), "precedence");
        assert!(eval("(2 + 3) * 4 = 20"));
        assert!(eval(r#"Device.Name || "-" || DeviceID.ProductClass = "Box-Router""#));
        assert!(eval(r#"UPPER(Device.Name) = "BOX" AND LOWER("AB") = 'ab'"#));
        assert!(eval("ROUND(2.567, 2) = 2.57 AND ROUND(2.5) = 3"));
        assert!(eval(r#"COALESCE(Device.Missing, Device.Name) = "Box""#));
        assert!(eval("(Device.Missing + 1) IS NULL"), "NULL spreads");
        assert!(eval("(1 / 0) IS NULL"));
        assert!(eval(r#"'it''s' = "it's""#));
        assert!(Expr::parse("FOO(1)").unwrap_err().message.contains("unknown function FOO"));
        assert!(Expr::parse("NOW(1)").unwrap_err().message.contains("NOW takes 0 to 0"));
        assert!(Expr::parse("UPPER(1, 2").is_err());
    }

    #[test]
    fn display_parses_back() {
        for text in [
            r#"Device.A = "q\"uo\\te" AND NOT (Tags.x IS NULL)"#,
            "Device.A * 2 + 1 > NOW() - 5 OR COALESCE(Device.B, 3) <> 4",
            r#"Device.A || "x" LIKE "%x" AND Device.B NOT LIKE 'y_'"#,
        ] {
            let e = Expr::parse(text).unwrap();
            assert_eq!(Expr::parse(&e.to_string()).unwrap(), e, "{e}");
        }
    }

    #[test]
    fn literal_lists() {
        assert_eq!(
            literal_list(r#""Device.X", 300, -1.5, true, null"#).unwrap(),
            vec![
                serde_json::json!("Device.X"),
                serde_json::json!(300),
                serde_json::json!(-1.5),
                serde_json::json!(true),
                serde_json::Value::Null
            ]
        );
        assert!(literal_list("").unwrap().is_empty());
        assert!(literal_list("Device.X").is_err());
        assert!(literal_list("1,").is_err());
        assert!(literal_list("1 2").is_err());
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
