//! [`Print`]: a fingerprint of a field's value, taken while the object is
//! decoded, for fields the guard does not read but must know changed (the
//! field inventory's platform-only fields: who changes them is judged,
//! not what they say). Equal values print equal; different values print
//! different but with a chance of 2⁻⁶⁴, under a key chosen per process,
//! so no writer can aim a value at another's print.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::OnceLock;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Fields by path, each with the print of its value (`None`: not set).
pub type Prints = Vec<(&'static str, Option<Print>)>;

/// A value's fingerprint: compare two, never read one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Print(u64);

impl fmt::Debug for Print {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Print(..)")
    }
}

fn hasher() -> impl Hasher {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    KEY.get_or_init(RandomState::new).build_hasher()
}

impl Print {
    /// The print of a value the guard already decodes into a type.
    pub fn of<T: Hash + ?Sized>(value: &T) -> Print {
        let mut h = hasher();
        value.hash(&mut h);
        Print(h.finish())
    }

    fn tagged(tag: u8, value: impl Hash) -> Print {
        Print::of(&(tag, value))
    }
}

impl<'de> Deserialize<'de> for Print {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Print, D::Error> {
        d.deserialize_any(PrintVisitor)
    }
}

/// Prints any JSON value without keeping it: scalars by type and value,
/// arrays in order, objects whatever the order of their keys (the API
/// server and a manifest may order them differently).
struct PrintVisitor;

impl<'de> Visitor<'de> for PrintVisitor {
    type Value = Print;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Print, E> {
        Ok(Print::tagged(1, v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Print, E> {
        Ok(Print::tagged(2, i128::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Print, E> {
        Ok(Print::tagged(2, i128::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Print, E> {
        Ok(Print::tagged(3, v.to_bits()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Print, E> {
        Ok(Print::tagged(4, v))
    }

    fn visit_unit<E>(self) -> Result<Print, E> {
        Ok(Print::tagged(0, ()))
    }

    fn visit_none<E>(self) -> Result<Print, E> {
        Ok(Print::tagged(0, ()))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Print, D::Error> {
        Print::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Print, A::Error> {
        let mut h = hasher();
        5u8.hash(&mut h);
        while let Some(Print(item)) = seq.next_element()? {
            item.hash(&mut h);
        }
        Ok(Print(h.finish()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Print, A::Error> {
        let (mut sum, mut len) = (0u64, 0u64);
        while let Some((Print(key), Print(value))) = map.next_entry()? {
            sum = sum.wrapping_add(Print::of(&(key, value)).0);
            len += 1;
        }
        Ok(Print::tagged(6, (sum, len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(json: &str) -> Print {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn equal_values_print_equal_whatever_their_key_order() {
        assert_eq!(print(r#"{"a": 1, "b": [1, "x"]}"#), print(r#"{"b": [1, "x"], "a": 1}"#));
        let tree: serde_json::Value = serde_json::from_str(r#"{"b": [1, "x"], "a": 1}"#).unwrap();
        assert_eq!(Print::deserialize(tree).unwrap(), print(r#"{"a": 1, "b": [1, "x"]}"#));
    }

    #[test]
    fn different_values_print_different() {
        let values = [
            r#"{"a": 1}"#,
            r#"{"a": 2}"#,
            r#"{"b": 1}"#,
            r#"{"a": "1"}"#,
            r#"[1, 2]"#,
            r#"[2, 1]"#,
            r#"{"a": 1, "b": 1}"#,
            r#"{"a": null}"#,
            r#"{}"#,
            r#"[]"#,
            "true",
            "1.5",
        ];
        for (i, a) in values.iter().enumerate() {
            for b in &values[i + 1..] {
                assert_ne!(print(a), print(b), "{a} vs {b}");
            }
        }
    }
}
