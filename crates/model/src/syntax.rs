//! Value validation against a parameter's type and facets (TR-106 A.2.3: type, size, range,
//! enumeration, pattern, list syntax), and the canonical form values are stored in.

use cwmp_wire::DateTime;
use cwmp_wire::types::{decode_base64, decode_hex, parse_bool, parse_int};

use crate::facts::{BaseType, Size};
use crate::schema::Param;

/// Why a value is not acceptable for a parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("not a valid {0}")]
    Type(&'static str),
    #[error("length outside the allowed sizes")]
    Size,
    #[error("outside the allowed ranges")]
    Range,
    #[error("not one of the enumerated values")]
    Enumeration,
    #[error("a value only the CPE may report")]
    ReadOnlyValue,
    #[error("does not match the data model's pattern")]
    Pattern,
    #[error("list has too few or too many items")]
    Items,
    #[error("not unique among the rows of its table")]
    NotUnique,
    #[error("the referenced object or parameter does not exist")]
    Reference,
}

/// Who writes the value: an ACS may not set enumeration values marked read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    Acs,
    Device,
}

/// Checks `text` against the parameter's syntax and returns its canonical form: booleans as
/// `1`/`0`, integers without sign or leading zeros, list items without surrounding blanks.
pub fn check(param: &Param, text: &str, writer: Writer) -> Result<String, ValueError> {
    match &param.facts.list {
        None => check_item(param, text, writer),
        Some(list) => {
            if !list.size.is_empty() && !within(&list.size, text.chars().count()) {
                return Err(ValueError::Size);
            }
            let items: Vec<&str> =
                if text.trim().is_empty() { Vec::new() } else { text.split(',').map(str::trim).collect() };
            if (items.len() as u32) < list.min_items || list.max_items.is_some_and(|m| items.len() as u32 > m) {
                return Err(ValueError::Items);
            }
            let mut out = String::with_capacity(text.len());
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&check_item(param, item, writer)?);
            }
            Ok(out)
        }
    }
}

fn check_item(param: &Param, text: &str, writer: Writer) -> Result<String, ValueError> {
    let facts = &param.facts;
    let canonical = canonical(facts.base, text)?;
    let length = match facts.base {
        BaseType::Base64 => decode_base64(text).map_or(0, |b| b.len()),
        BaseType::HexBinary => text.len() / 2,
        _ => text.chars().count(),
    };
    if !facts.size.is_empty() && !within(&facts.size, length) {
        return Err(ValueError::Size);
    }
    if facts.base.is_integer() && !facts.range.is_empty() {
        let v: i128 = canonical.parse().map_err(|_| ValueError::Type(facts.base.name()))?;
        let inside = facts.range.iter().any(|r| {
            r.0.is_none_or(|min| v >= min)
                && r.1.is_none_or(|max| v <= max)
                && (r.2 <= 1 || (v - r.0.unwrap_or(0)).rem_euclid(r.2 as i128) == 0)
        });
        if !inside {
            return Err(ValueError::Range);
        }
    }
    if facts.base == BaseType::Decimal && !facts.decimal_range.is_empty() {
        let v: f64 = canonical.parse().map_err(|_| ValueError::Type("decimal"))?;
        if !facts.decimal_range.iter().any(|r| r.0.is_none_or(|min| v >= min) && r.1.is_none_or(|max| v <= max)) {
            return Err(ValueError::Range);
        }
    }
    if !facts.enumeration.is_empty() {
        if !facts.enumeration.contains(&canonical) {
            return Err(ValueError::Enumeration);
        }
        if writer == Writer::Acs && facts.read_only_values.contains(&canonical) {
            return Err(ValueError::ReadOnlyValue);
        }
    }
    if let Some(re) = param.pattern()
        && !re.is_match(&canonical)
    {
        return Err(ValueError::Pattern);
    }
    Ok(canonical)
}

fn within(sizes: &[Size], length: usize) -> bool {
    let length = length.min(u32::MAX as usize) as u32;
    sizes.iter().any(|s| length >= s.0 && s.1.is_none_or(|max| length <= max))
}

/// The canonical text of a value of a base type, or a type error.
pub fn canonical(base: BaseType, text: &str) -> Result<String, ValueError> {
    let bad = || ValueError::Type(base.name());
    Ok(match base {
        BaseType::String => text.to_owned(),
        BaseType::Int => parse_int::<i32>(text).ok_or_else(bad)?.to_string(),
        BaseType::UnsignedInt => parse_int::<u32>(text).ok_or_else(bad)?.to_string(),
        BaseType::Long => parse_int::<i64>(text).ok_or_else(bad)?.to_string(),
        BaseType::UnsignedLong => parse_int::<u64>(text).ok_or_else(bad)?.to_string(),
        BaseType::Boolean => if parse_bool(text).ok_or_else(bad)? { "1" } else { "0" }.to_owned(),
        BaseType::DateTime => {
            DateTime::parse(text).map_err(|_| bad())?;
            text.to_owned()
        }
        BaseType::Base64 => {
            decode_base64(text).ok_or_else(bad)?;
            text.to_owned()
        }
        BaseType::HexBinary => {
            decode_hex(text).ok_or_else(bad)?;
            text.to_owned()
        }
        BaseType::Decimal => {
            let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
            let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
            let ok = !(int.is_empty() && frac.is_empty())
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(bad());
            }
            text.to_owned()
        }
    })
}

/// The value a parameter has when nothing set it: its data-model default, or the type's
/// empty value (`""`, `0`, false, Unknown Time).
pub fn initial(param: &Param) -> String {
    if let Some(d) = &param.facts.default {
        return check(param, &d.value, Writer::Device).unwrap_or_else(|_| d.value.clone());
    }
    if param.is_list() {
        return String::new();
    }
    match param.facts.base {
        BaseType::Int | BaseType::UnsignedInt | BaseType::Long | BaseType::UnsignedLong => "0".into(),
        BaseType::Decimal => "0".into(),
        BaseType::Boolean => "0".into(),
        BaseType::DateTime => "0001-01-01T00:00:00Z".into(),
        BaseType::String | BaseType::Base64 | BaseType::HexBinary => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::*;
    use crate::schema::{Child, Schema};

    fn param(facts: ParamFacts) -> (Schema, crate::schema::ParamId) {
        let mut obj = ObjectFacts::new("Box.");
        obj.parameters.push(facts);
        let schema = Schema::from_facts(FactFile { info: ModelInfo::default(), objects: vec![obj] }).unwrap();
        let Some(Child::Param(id)) = schema.lookup("Box.P") else { panic!() };
        (schema, id)
    }

    fn run(facts: ParamFacts, text: &str) -> Result<String, ValueError> {
        let (schema, id) = param(facts);
        check(schema.param(id), text, Writer::Acs)
    }

    #[test]
    fn types_are_checked_and_canonicalised() {
        let t = |base, text| run(ParamFacts::new("P", base), text);
        assert_eq!(t(BaseType::Boolean, "true"), Ok("1".into()));
        assert_eq!(t(BaseType::Boolean, "0"), Ok("0".into()));
        assert_eq!(t(BaseType::Boolean, "True"), Err(ValueError::Type("boolean")));
        assert_eq!(t(BaseType::UnsignedInt, "+0042"), Ok("42".into()));
        assert_eq!(t(BaseType::UnsignedInt, "-1"), Err(ValueError::Type("unsignedInt")));
        assert_eq!(t(BaseType::Int, "2147483648"), Err(ValueError::Type("int")));
        assert_eq!(t(BaseType::UnsignedLong, "18446744073709551615"), Ok("18446744073709551615".into()));
        assert_eq!(t(BaseType::Long, "-9223372036854775808"), Ok("-9223372036854775808".into()));
        assert!(t(BaseType::DateTime, "2018-03-01T12:00:00Z").is_ok());
        assert!(t(BaseType::DateTime, "yesterday").is_err());
        assert!(t(BaseType::HexBinary, "0aFF").is_ok());
        assert!(t(BaseType::HexBinary, "0aF").is_err());
        assert!(t(BaseType::Base64, "aGVsbG8=").is_ok());
        assert!(t(BaseType::Base64, "!!").is_err());
        assert!(t(BaseType::Decimal, "-12.5").is_ok());
        assert!(t(BaseType::Decimal, "1e5").is_err());
        assert!(t(BaseType::String, "anything").is_ok());
    }

    #[test]
    fn facets() {
        let mut sized = ParamFacts::new("P", BaseType::String);
        sized.size = vec![Size(0, Some(0)), Size(2, Some(4))];
        assert!(run(sized.clone(), "").is_ok());
        assert_eq!(run(sized.clone(), "a"), Err(ValueError::Size));
        assert!(run(sized.clone(), "äöüß").is_ok(), "lengths count characters");
        assert_eq!(run(sized, "abcde"), Err(ValueError::Size));

        let mut hex = ParamFacts::new("P", BaseType::HexBinary);
        hex.size = vec![Size(2, Some(2))];
        assert!(run(hex.clone(), "abcd").is_ok(), "binary sizes count bytes");
        assert_eq!(run(hex, "ab"), Err(ValueError::Size));

        let mut ranged = ParamFacts::new("P", BaseType::Int);
        ranged.range = vec![Range(Some(-1), Some(-1), 1), Range(Some(10), Some(20), 5)];
        assert!(run(ranged.clone(), "-1").is_ok());
        assert!(run(ranged.clone(), "15").is_ok());
        assert_eq!(run(ranged.clone(), "12"), Err(ValueError::Range));
        assert_eq!(run(ranged, "0"), Err(ValueError::Range));

        let mut e = ParamFacts::new("P", BaseType::String);
        e.enumeration = vec!["None".into(), "Requested".into()];
        e.read_only_values = vec!["None".into()];
        assert!(run(e.clone(), "Requested").is_ok());
        assert_eq!(run(e.clone(), "requested"), Err(ValueError::Enumeration));
        assert_eq!(run(e.clone(), "None"), Err(ValueError::ReadOnlyValue));
        let (schema, id) = param(e);
        assert!(check(schema.param(id), "None", Writer::Device).is_ok());

        let mut p = ParamFacts::new("P", BaseType::String);
        p.pattern = vec!["".into(), "[0-9A-F]{6}".into()];
        assert!(run(p.clone(), "00D09E").is_ok());
        assert!(run(p.clone(), "").is_ok());
        assert_eq!(run(p, "00d09e"), Err(ValueError::Pattern));
    }

    #[test]
    fn lists() {
        let mut l = ParamFacts::new("P", BaseType::UnsignedInt);
        l.list = Some(ListFacts { min_items: 1, max_items: Some(3), size: vec![Size(0, Some(10))] });
        l.range = vec![Range(Some(1), Some(9), 1)];
        assert_eq!(run(l.clone(), "1, 2,3"), Ok("1,2,3".into()));
        assert_eq!(run(l.clone(), ""), Err(ValueError::Items));
        assert_eq!(run(l.clone(), "1,2,3,4"), Err(ValueError::Items));
        assert_eq!(run(l.clone(), "1,22"), Err(ValueError::Range));
        assert_eq!(run(l.clone(), "1,x"), Err(ValueError::Type("unsignedInt")));
        assert_eq!(run(l, "1,2,      3"), Err(ValueError::Size));
    }

    #[test]
    fn initial_values() {
        let (s, id) = param(ParamFacts::new("P", BaseType::DateTime));
        assert_eq!(initial(s.param(id)), "0001-01-01T00:00:00Z");
        let mut b = ParamFacts::new("P", BaseType::Boolean);
        b.default = Some(DefaultFacts { kind: DefaultKind::Object, value: "true".into() });
        let (s, id) = param(b);
        assert_eq!(initial(s.param(id)), "1");
    }
}
