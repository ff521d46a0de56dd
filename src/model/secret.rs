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
    /// `data.KEY` or `stringData.KEY`: the field a message names.
    pub fn field(&self) -> &str {
        self.field.get_or_init(|| [self.section, ".", self.key].concat())
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
    /// A string with an escape (which the API server never writes in
    /// base64) is not borrowed and fails here, leaving it to k8s-openapi.
    #[serde(borrow, default)]
    data: Option<BTreeMap<String, Option<&'a [u8]>>>,
    #[serde(default)]
    string_data: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    immutable: Option<bool>,
}

impl Wire<'_> {
    /// The Secret, or `None` when it is not a valid `v1` Secret; the caller
    /// then decodes the text with k8s-openapi to say why.
    pub(crate) fn into_secret(self) -> Option<Secret> {
        if self.api_version.is_some_and(|v| v != "v1") || self.kind.is_some_and(|k| k != "Secret") {
            return None;
        }
        let data = match self.data {
            None => None,
            Some(map) => Some(
                map.into_iter()
                    .map(|(k, v)| {
                        let bytes = match v {
                            None => Vec::new(),
                            Some(text) => base64_simd::STANDARD.decode_to_vec(text).ok()?,
                        };
                        Some((k, ByteString(bytes)))
                    })
                    .collect::<Option<BTreeMap<_, _>>>()?,
            ),
        };
        Some(Secret {
            data,
            immutable: self.immutable,
            metadata: self.metadata,
            string_data: self.string_data,
            type_: self.type_,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The webhook's fast path for a Secret's text (through [`Wire`]);
    /// `None` when it does not take it.
    fn decode_json(json: &str) -> Option<Secret> {
        use crate::model::{Kind, Object};
        let mut input = serde_json::Deserializer::from_str(json);
        match Object::decode_in_place(Kind::Secret, &mut input) {
            Ok(Some(Object::Secret(s))) if input.end().is_ok() => Some(*s),
            _ => None,
        }
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

    /// Secrets decode as k8s-openapi decodes them: through the fast decoder
    /// where it applies, through k8s-openapi where it does not.
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
            if let Some(fast) = decode_json(json) {
                assert_eq!(Some(fast), theirs, "{json}");
            }
        }
        // What the API server sends takes the fast path.
        assert!(decode_json(cases[0]).is_some());
        let big = format!(r#"{{"data":{{"blob":"{}"}}}}"#, "a2tr".repeat(300_000));
        assert_eq!(decode_json(&big).unwrap().data.unwrap()["blob"].0, vec![b'k'; 900_000]);
    }
}
