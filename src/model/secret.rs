//! Reading Secret values without ever printing them.
//!
//! `data` arrives base64 (k8s-openapi decodes it), `stringData` in plain
//! text; rules see both through [`entries`], with the field path to name in
//! a message. Values are never part of any message.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::Secret;

/// One key of a Secret.
pub struct Entry<'a> {
    /// `data.KEY` or `stringData.KEY`.
    pub field: String,
    pub key: &'a str,
    pub value: Cow<'a, [u8]>,
}

impl Entry<'_> {
    /// The value as text, when it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

/// Every key of `data` and `stringData`.
pub fn entries(secret: &Secret) -> impl Iterator<Item = Entry<'_>> {
    let data = secret.data.iter().flatten().map(|(k, v)| Entry {
        field: format!("data.{k}"),
        key: k.as_str(),
        value: Cow::Borrowed(v.0.as_slice()),
    });
    let string_data = secret.string_data.iter().flatten().map(|(k, v)| Entry {
        field: format!("stringData.{k}"),
        key: k.as_str(),
        value: Cow::Borrowed(v.as_bytes()),
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
