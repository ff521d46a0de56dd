//! The audit record's UPDATE patch (RFC 6902), computed from the JSON texts
//! of the old and new object as the API server sent them.
//!
//! The result equals `json_patch::diff` of the parsed objects, but only what
//! differs is parsed: object members and array elements whose text is
//! identical are compared as text and skipped, so a one-field change to a
//! large Cluster (or a new time in one `managedFields` entry) costs a scan,
//! not two JSON trees and a walk over them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use serde_json::Value;
use serde_json::value::RawValue;

/// The patch from `old` to `new`, two JSON texts. What differs is checked
/// as it is parsed; two identical texts are equal without being read.
pub fn diff(old: &str, new: &str) -> Result<Patch, serde_json::Error> {
    let mut patch = Patch::default();
    let mut path = PointerBuf::new();
    diff_raw(old, new, &mut path, &mut patch)?;
    Ok(patch)
}

/// An object key, borrowed from the JSON text unless it has escapes.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(Visitor)
    }
}

fn is_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

fn is_array(text: &str) -> bool {
    text.trim_start().starts_with('[')
}

fn diff_raw(old: &str, new: &str, path: &mut PointerBuf, patch: &mut Patch) -> serde_json::Result<()> {
    if old == new {
        return Ok(());
    }
    if is_array(old) && is_array(new) {
        let old: Vec<&RawValue> = serde_json::from_str(old)?;
        let new: Vec<&RawValue> = serde_json::from_str(new)?;
        return diff_elements(&old, &new, path, patch);
    }
    if !(is_object(old) && is_object(new)) {
        // Scalars or a change of type: json_patch on the parsed values,
        // its paths under ours.
        let sub = json_patch::diff(&serde_json::from_str(old)?, &serde_json::from_str(new)?);
        patch.0.extend(sub.0.into_iter().map(|op| under(path, op)));
        return Ok(());
    }
    // Sorted like serde_json's map, so the operations come in json_patch's
    // order. Keys are borrowed from the text (owned only when escaped).
    let old: BTreeMap<Key<'_>, &RawValue> = serde_json::from_str(old)?;
    let new: BTreeMap<Key<'_>, &RawValue> = serde_json::from_str(new)?;
    for (key, new_value) in &new {
        path.push_back(key.0.as_ref());
        match old.get(key) {
            Some(old_value) => diff_raw(old_value.get(), new_value.get(), path, patch)?,
            None => patch.0.push(PatchOperation::Add(AddOperation {
                path: path.clone(),
                value: serde_json::from_str::<Value>(new_value.get())?,
            })),
        }
        path.pop_back();
    }
    for key in old.keys().filter(|k| !new.contains_key(*k)) {
        path.push_back(key.0.as_ref());
        patch
            .0
            .push(PatchOperation::Remove(RemoveOperation { path: path.clone() }));
        path.pop_back();
    }
    Ok(())
}

/// Arrays index by index, as json_patch does: common indices diffed (as
/// text first), then the new array's extra elements added or the old one's
/// removed, each at the index the previous removals left it at. So a
/// changed `managedFields` entry is parsed only where it differs.
fn diff_elements(
    old: &[&RawValue],
    new: &[&RawValue],
    path: &mut PointerBuf,
    patch: &mut Patch,
) -> serde_json::Result<()> {
    let mut removed = 0;
    for index in 0..old.len().max(new.len()) {
        path.push_back(index - removed);
        match (old.get(index), new.get(index)) {
            (Some(old), Some(new)) => diff_raw(old.get(), new.get(), path, patch)?,
            (Some(_), None) => {
                removed += 1;
                patch
                    .0
                    .push(PatchOperation::Remove(RemoveOperation { path: path.clone() }));
            }
            (None, Some(new)) => patch.0.push(PatchOperation::Add(AddOperation {
                path: path.clone(),
                value: serde_json::from_str::<Value>(new.get())?,
            })),
            (None, None) => {}
        }
        path.pop_back();
    }
    Ok(())
}

/// `op` with `prefix` in front of its path.
fn under(prefix: &PointerBuf, mut op: PatchOperation) -> PatchOperation {
    let path = match &mut op {
        PatchOperation::Add(o) => &mut o.path,
        PatchOperation::Remove(o) => &mut o.path,
        PatchOperation::Replace(o) => &mut o.path,
        PatchOperation::Move(o) => &mut o.path,
        PatchOperation::Copy(o) => &mut o.path,
        PatchOperation::Test(o) => &mut o.path,
    };
    *path = prefix.concat(path);
    op
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn same_as_json_patch(old: &Value, new: &Value) {
        // Texts that differ from the canonical form, so the text shortcut
        // alone cannot decide.
        let old_text = serde_json::to_string_pretty(old).unwrap();
        let new_text = serde_json::to_string(new).unwrap();
        // The reference reads the same texts (serde_json may read a float's
        // last digit differently from the value that was written).
        let (old, new): (Value, Value) = (
            serde_json::from_str(&old_text).unwrap(),
            serde_json::from_str(&new_text).unwrap(),
        );
        assert_eq!(
            diff(&old_text, &new_text).unwrap(),
            json_patch::diff(&old, &new),
            "{old} -> {new}"
        );
    }

    #[test]
    fn equals_json_patch_on_typical_updates() {
        let old = json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
            "metadata": {"name": "apps-pg", "labels": {"a": "1", "gone": "x"}, "managedFields": [{"manager": "kubectl"}]},
            "spec": {"instances": 3, "managed": {"roles": [{"name": "a"}, {"name": "b"}]}, "x/y~z": 1}});
        let mut new = old.clone();
        new["spec"]["instances"] = json!(2);
        new["spec"]["managed"]["roles"] = json!([{"name": "b"}]);
        new["spec"]["x/y~z"] = json!(2);
        new["metadata"]["labels"] = json!({"a": "1", "new": "y"});
        new["metadata"]["managedFields"] = json!([{"manager": "kubectl"}, {"manager": "argocd"}]);
        same_as_json_patch(&old, &new);
        same_as_json_patch(&new, &old);
        same_as_json_patch(&old, &old);
        same_as_json_patch(&json!({"a": 1}), &json!([1]));
        same_as_json_patch(&json!({"a": 1.0}), &json!({"a": 1.0}));
        same_as_json_patch(&json!({"q\"k": 1, "x": {"\\": 1}}), &json!({"q\"k": 2, "x": {"\\": 2}}));
        assert!(diff(&old.to_string(), &old.to_string()).unwrap().0.is_empty());
        let patch = serde_json::to_value(diff(&old.to_string(), &new.to_string()).unwrap()).unwrap();
        assert!(
            patch
                .as_array()
                .unwrap()
                .contains(&json!({"op": "replace", "path": "/spec/instances", "value": 2}))
        );
        assert!(
            patch
                .as_array()
                .unwrap()
                .contains(&json!({"op": "replace", "path": "/spec/x~1y~0z", "value": 2}))
        );
    }

    #[test]
    fn bad_text_is_an_error() {
        assert!(diff("{", "{}").is_err());
        assert!(diff("{}", "{\"a\": }").is_err());
    }

    /// Keys and strings with what a JSON pointer or a text comparison could
    /// trip on: `/` and `~`, quotes, backslashes, control characters,
    /// non-ASCII.
    const TEXT: &str = "[a-c/~\"\\\\\n\t{}: é\u{1F600}]{0,3}";

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..3).prop_map(|n| json!(n)),
            (-1e3f64..1e3).prop_map(|f| json!(f)),
            Just(json!(u64::MAX)),
            TEXT.prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(TEXT, inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn equals_json_patch_on_any_pair(old in json_value(), new in json_value()) {
            same_as_json_patch(&old, &new);
        }
    }
}
