//! Reading Secret values without ever printing them.
//!
//! `data` arrives base64 (k8s-openapi decodes it), `stringData` in plain
//! text; rules see both through [`entries`], with the field path to name in
//! a message. Values are never part of any message.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

/// One key of a Secret.
pub struct Entry<'a> {
    /// `data` or `stringData`.
    section: &'static str,
    pub key: &'a str,
    pub value: Cow<'a, [u8]>,
    /// [`Entry::field`], built when a message first names it.
    field: OnceCell<String>,
}

impl Entry<'_> {
    /// `data.KEY` or `stringData.KEY`: the field a message names; a key
    /// with a dot in it is bracketed (`stringData[.pgpass]`), as labels are,
    /// so the path reads one way.
    pub fn field(&self) -> &str {
        self.field.get_or_init(|| {
            if self.key.contains('.') {
                [self.section, "[", self.key, "]"].concat()
            } else {
                [self.section, ".", self.key].concat()
            }
        })
    }

    /// The value as text, when it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        // The value may be 1 MiB; a vector check is several times faster.
        simdutf8::basic::from_utf8(&self.value).ok()
    }
}

/// Every key of `data` and `stringData`.
pub fn entries(secret: &Secret) -> impl Iterator<Item = Entry<'_>> {
    let data = secret.data.iter().flatten().map(|(k, v)| Entry {
        section: "data",
        key: k.as_str(),
        value: Cow::Borrowed(v.0.as_slice()),
        field: OnceCell::new(),
    });
    let string_data = secret.string_data.iter().flatten().map(|(k, v)| Entry {
        section: "stringData",
        key: k.as_str(),
        value: Cow::Borrowed(v.as_bytes()),
        field: OnceCell::new(),
    });
    data.chain(string_data)
}

/// The value of `key` from `stringData` (which wins on the API server) or `data`.
pub fn value<'a>(secret: &'a Secret, key: &str) -> Option<&'a [u8]> {
    secret
        .string_data
        .as_ref()
        .and_then(|m| m.get(key))
        .map(|s| s.as_bytes())
        .or_else(|| secret.data.as_ref()?.get(key).map(|b| b.0.as_slice()))
}

/// A Secret as it comes over the wire, field for field like k8s-openapi's
/// `Secret`, with `data` values kept as the bytes of their JSON strings
/// (borrowed from the request: no copy of a 1 MiB value) until
/// [`Wire::into_secret`] decodes them with a SIMD base64 decoder. Read as
/// bytes, serde_json finds a string's end with a SIMD search and leaves
/// checking its characters to the base64 decoder, which accepts nothing but
/// base64: a 1 MiB value is read in one fast pass.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Wire<'a> {
    #[serde(borrow, default)]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "super::lean_metadata")]
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    /// Borrowed from a JSON text; copied only when the string has an
    /// escape (the API server writes none in base64) or comes from a tree.
    #[serde(borrow, default)]
    data: Option<BTreeMap<String, Option<Base64Text<'a>>>>,
    #[serde(default)]
    string_data: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    immutable: Option<bool>,
}

/// The text of a base64 `data` value, read as bytes: borrowed from a JSON
/// text (serde_json finds the string's end with a SIMD search and leaves
/// the characters to the base64 decoder), copied from an escaped string or
/// a JSON tree.
pub(crate) struct Base64Text<'a>(Cow<'a, [u8]>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Base64Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Text<'a> {
            type Value = Base64Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(Base64Text(Cow::Borrowed(v)))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Base64Text(Cow::Borrowed(v.as_bytes())))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Base64Text(Cow::Owned(v.to_vec())))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Base64Text(Cow::Owned(v.as_bytes().to_vec())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Base64Text(Cow::Owned(v.into_bytes())))
            }
        }
        d.deserialize_bytes(Text(std::marker::PhantomData))
    }
}

/// Why a [`Wire`] is not a Secret.
pub(crate) enum WireError {
    /// It says it is another kind or version.
    Declared(super::decode::Declared),
    /// The value of this `data` key is not base64.
    Base64(String),
}

impl Wire<'_> {
    /// The Secret, its `data` values base64-decoded.
    pub(crate) fn into_secret(self) -> Result<Secret, WireError> {
        match (&self.api_version, &self.kind) {
            (Some(v), _) if v != "v1" => {
                return Err(WireError::Declared(super::decode::Declared::ApiVersion(v.to_string())));
            }
            (_, Some(k)) if k != "Secret" => {
                return Err(WireError::Declared(super::decode::Declared::Kind(k.to_string())));
            }
            _ => {}
        }
        let data = match self.data {
            None => None,
            Some(map) => {
                let mut out = BTreeMap::new();
                for (k, v) in map {
                    let bytes = match v {
                        None => Vec::new(),
                        Some(text) => match decode_base64(&text.0) {
                            Some(bytes) => bytes,
                            None => return Err(WireError::Base64(k)),
                        },
                    };
                    out.insert(k, ByteString(bytes));
                }
                Some(out)
            }
        };
        Ok(Secret {
            data,
            immutable: self.immutable,
            metadata: self.metadata,
            string_data: self.string_data,
            type_: self.type_,
        })
    }
}

/// Base64 as Kubernetes decodes a Secret's `data` (Go's decoder skips
/// `\r` and `\n`, so values wrapped over lines, as kustomize's
/// secretGenerator and `kubectl create secret -o yaml` write long ones,
/// decode). The common case, one line, is one SIMD pass; only a value that
/// does not decode so is searched for line breaks and decoded again
/// without them.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    if let Ok(bytes) = base64_simd::STANDARD.decode_to_vec(text) {
        return Some(bytes);
    }
    memchr::memchr2(b'\r', b'\n', text)?;
    let unwrapped: Vec<u8> = text.iter().copied().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
    base64_simd::STANDARD.decode_to_vec(&unwrapped).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same decoder ([`Wire`]) from a JSON tree, as `check` and
    /// `audit` read; `None` when it refuses the object.
    fn decode_tree(json: &str) -> Option<Secret> {
        use crate::model::{Kind, Object};
        match Object::decode(Kind::Secret, serde_json::from_str(json).ok()?) {
            Ok(Object::Secret(s)) => Some(*s),
            _ => None,
        }
    }

    /// Wrapped base64 decodes as Go's decoder reads it; other whitespace
    /// and broken padding stay refused.
    #[test]
    fn wrapped_base64_decodes_as_kubernetes_decodes_it() {
        assert_eq!(decode_base64(b"aGVs\nbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64(b"aGVs\r\nbG8=\n").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64(b"aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64(b"aGVs bG8="), None);
        assert_eq!(decode_base64(b"aGVs\tbG8="), None);
        assert_eq!(decode_base64(b"aGVs\nbG8"), None);
        let tree = decode_tree(r#"{"data":{"password":"aGVs\nbG8="}}"#).unwrap();
        assert_eq!(tree.data.unwrap()["password"].0, b"hello");
    }

    /// A value is text exactly when the standard library says it is UTF-8.
    #[test]
    fn an_entry_is_text_exactly_when_it_is_utf8() {
        let long_ascii = vec![b'k'; 100_000];
        let mut long_broken = long_ascii.clone();
        long_broken[99_999] = 0xc3;
        for (value, text) in [
            (b"plain".to_vec(), true),
            ("gr\u{fc}\u{df}e \u{1F600}".as_bytes().to_vec(), true),
            (vec![0xff, b'a'], false),
            (vec![b'a', 0xc3], false),
            (long_ascii, true),
            (long_broken, false),
        ] {
            let entry = Entry {
                section: "data",
                key: "k",
                value: Cow::Owned(value.clone()),
                field: OnceCell::new(),
            };
            assert_eq!(entry.field(), "data.k");
            assert_eq!(entry.text().is_some(), text);
            assert_eq!(entry.text().is_some(), std::str::from_utf8(&value).is_ok());
        }
    }

    /// Secrets decode as k8s-openapi decodes them, from a text and from a
    /// tree alike.
    #[test]
    fn decode_json_agrees_with_k8s_openapi() {
        use crate::model::{Kind, Object};
        let cases = [
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"n"},"data":{"a":"aGVsbG8=","b":null,"c":""},"stringData":{"x":"y"},"type":"Opaque","immutable":true}"#,
            r#"{"metadata":{"name":"s"},"data":{"k":"a2V5\u003d"}}"#,
            r#"{"data":{"a":"aGVs\u0062G8=","b":"aGVsbG8="}}"#,
            r#"{"kind":"Secret","data":null}"#,
            r#"{}"#,
            r#"{"kind":"ConfigMap","data":{}}"#,
            r#"{"apiVersion":"v2","kind":"Secret"}"#,
            r#"{"data":{"a":"not base64!"}}"#,
            r#"{"data":{"a":"aGVsbG8"}}"#,
            r#"{"data":{"a":1}}"#,
            r#"{"data":[]}"#,
            r#"{"immutable":"yes"}"#,
            // Raw control characters and non-ASCII inside a value: invalid
            // JSON or invalid base64, refused by both.
            "{\"data\":{\"a\":\"aGVs\u{1}bG8=\"}}",
            "{\"data\":{\"a\":\"aGVs\tbG8=\"}}",
            "{\"data\":{\"a\":\"aGVsbG\u{e9}=\"}}",
        ];
        for json in cases {
            let ours = match Object::decode_json(Kind::Secret, json) {
                Ok(Object::Secret(s)) => Some(*s),
                Ok(other) => panic!("{other:?}"),
                Err(_) => None,
            };
            let theirs = serde_json::from_str::<Secret>(json).ok();
            assert_eq!(ours, theirs, "{json}");
            if serde_json::from_str::<serde_json::Value>(json).is_ok() {
                assert_eq!(decode_tree(json), theirs, "{json}");
            }
        }
        assert!(decode_tree(cases[0]).is_some());
        let big = format!(r#"{{"data":{{"blob":"{}"}}}}"#, "a2tr".repeat(300_000));
        assert_eq!(decode_tree(&big).unwrap().data.unwrap()["blob"].0, vec![b'k'; 900_000]);
    }
}
