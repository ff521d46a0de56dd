//! The JSON diff engine behind the decision record's UPDATE patch (RFC
//! 6902), from the JSON texts of the old and new object as the API server
//! sent them: two texts, or the AdmissionReview body that holds both, when
//! the webhook's one pass typed the objects without keeping their texts
//! apart.
//!
//! The result equals `json_patch::diff` of the parsed objects, but neither
//! object is parsed into a tree. Each text is scanned once into a flat
//! [`Index`] of where its values and keys start and end; the walk then
//! compares members and elements as text and parses only the scalars that
//! differ and the values that are added. So a one-field change to a large
//! Cluster (or a new time in one `managedFields` entry) costs one scan of
//! each text (or of the body) and a few comparisons.

use std::borrow::Cow;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::Value;

/// Why no patch could be computed: a text that is not JSON.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("not a JSON text (at byte {0})")]
    Malformed(usize),
    #[error("the review has no request.object and request.oldObject")]
    NoObjects,
    #[error("an object key is not UTF-8")]
    NotUtf8,
    #[error("the text is too large to diff")]
    TooLarge,
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The patch from an UPDATE's old object to its new one where they sit in
/// an AdmissionReview body (`request.oldObject` and `request.object`): the
/// body is scanned once and both objects diffed in it.
pub fn diff_in_review(body: &[u8]) -> Result<Patch, PatchError> {
    let index = Index::new(body)?;
    let request = index.member(0, "request")?;
    let (old, new) = (index.member(request, "oldObject")?, index.member(request, "object")?);
    let mut walk = Walk::default();
    walk.value(&index, old, &index, new)?;
    Ok(walk.patch)
}

/// The patch from `old` to `new`, two JSON texts. Their structure is
/// checked as they are scanned; a scalar is read (and checked) only where
/// the two differ. Two identical texts are equal without being read.
pub fn diff(old: &str, new: &str) -> Result<Patch, PatchError> {
    let mut walk = Walk::default();
    if old != new {
        walk.value(&Index::new(old.as_bytes())?, 0, &Index::new(new.as_bytes())?, 0)?;
    }
    Ok(walk.patch)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Scalar,
    Object,
    Array,
    Key,
}

/// One value or object key of a text: its bytes are `start..end`, and
/// `next` is the node after it (after all of a container's members).
/// Offsets are `u32` (texts are request bodies, far below 4 GiB), so a node
/// takes 16 bytes: a text of many tiny values (`[0,0,…]`) indexes to at
/// most 8 times its size.
#[derive(Debug, Clone, Copy)]
struct Node {
    shape: Shape,
    start: u32,
    end: u32,
    next: u32,
}

const _: () = assert!(std::mem::size_of::<Node>() == 16);

/// Nesting deeper than this is refused (serde_json reads values up to 127
/// deep), so the walk's recursion is bounded.
const MAX_DEPTH: usize = 128;

/// An object member: its decoded key and its value's node.
type Member<'a> = (Cow<'a, [u8]>, usize);

/// A JSON text's values and keys in document order, node 0 the whole text.
struct Index<'a> {
    text: &'a [u8],
    nodes: Vec<Node>,
}

impl<'a> Index<'a> {
    fn new(text: &'a [u8]) -> Result<Self, PatchError> {
        // Every offset, and every node count plus one, fits a `u32`.
        if text.len() >= u32::MAX as usize {
            return Err(PatchError::TooLarge);
        }
        let mut index = Index {
            text,
            // Grown as needed past this: a large text is mostly long strings.
            nodes: Vec::with_capacity((text.len() / 8).clamp(1, 4096)),
        };
        index.scan().map_err(PatchError::Malformed)?;
        Ok(index)
    }

    /// Reads the text into nodes, checking its structure; the error is
    /// where it is not JSON.
    fn scan(&mut self) -> Result<(), usize> {
        let b = self.text;
        let nodes = &mut self.nodes;
        // The containers not yet closed.
        let mut open: Vec<usize> = Vec::new();
        let mut i = skip_space(b, 0);
        loop {
            // A value starts at `i`.
            let c = *b.get(i).ok_or(i)?;
            match c {
                b'{' | b'[' => {
                    let (shape, close) = if c == b'{' {
                        (Shape::Object, b'}')
                    } else {
                        (Shape::Array, b']')
                    };
                    if open.len() == MAX_DEPTH {
                        return Err(i);
                    }
                    open.push(nodes.len());
                    nodes.push(Node {
                        shape,
                        start: i as u32,
                        end: i as u32,
                        next: 0,
                    });
                    i = skip_space(b, i + 1);
                    if b.get(i) != Some(&close) {
                        if shape == Shape::Object {
                            i = key(b, nodes, i)?;
                        }
                        continue;
                    }
                    // Empty: closed below.
                }
                b'"' => {
                    let end = string_end(b, i).ok_or(i)?;
                    leaf(nodes, Shape::Scalar, i, end);
                    i = end;
                }
                b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                    // A number or literal, read only if it differs.
                    let len = b[i..]
                        .iter()
                        .position(|c| !matches!(c, b'0'..=b'9' | b'a'..=b'z' | b'E' | b'+' | b'-' | b'.'))
                        .unwrap_or(b.len() - i);
                    leaf(nodes, Shape::Scalar, i, i + len);
                    i += len;
                }
                _ => return Err(i),
            }
            // After a value: closes, then a comma before the next value.
            loop {
                i = skip_space(b, i);
                let Some(&top) = open.last() else {
                    return if i == b.len() { Ok(()) } else { Err(i) };
                };
                let in_object = nodes[top].shape == Shape::Object;
                match (b.get(i), in_object) {
                    (Some(b','), _) => {
                        i = skip_space(b, i + 1);
                        if in_object {
                            i = key(b, nodes, i)?;
                        }
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        open.pop();
                        let next = nodes.len();
                        nodes[top].end = (i + 1) as u32;
                        nodes[top].next = next as u32;
                        i += 1;
                    }
                    _ => return Err(i),
                }
            }
        }
    }

    fn text(&self, node: usize) -> &'a [u8] {
        let n = self.nodes[node];
        &self.text[n.start as usize..n.end as usize]
    }

    /// A container's children: for an object its keys (each followed by
    /// its value), for an array its elements.
    fn children(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        let end = self.nodes[node].next as usize;
        let step = usize::from(self.nodes[node].shape == Shape::Object);
        let inside = move |at: &usize| *at < end;
        std::iter::successors(Some(node + 1).filter(inside), move |&at| {
            Some(self.nodes[at + step].next as usize).filter(inside)
        })
    }

    /// The value of an object's member `key` (the last, if repeated).
    fn member(&self, node: usize, key: &str) -> Result<usize, PatchError> {
        if self.nodes[node].shape != Shape::Object {
            return Err(PatchError::NoObjects);
        }
        let mut found = None;
        for at in self.children(node) {
            if *decode_key(self.text(at))? == *key.as_bytes() {
                found = Some(at + 1);
            }
        }
        found.ok_or(PatchError::NoObjects)
    }

    /// An object's members as (decoded key, value node), sorted by key like
    /// serde_json's map, the last of a repeated key kept as serde_json does.
    fn members(&self, node: usize) -> Result<Vec<Member<'a>>, PatchError> {
        let mut members = self
            .children(node)
            .map(|key| Ok((decode_key(self.text(key))?, key + 1)))
            .collect::<Result<Vec<_>, PatchError>>()?;
        members.sort_by(|a, b| a.0.cmp(&b.0));
        members.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = later.1;
            }
            same
        });
        Ok(members)
    }
}

fn leaf(nodes: &mut Vec<Node>, shape: Shape, start: usize, end: usize) {
    let next = nodes.len() + 1;
    nodes.push(Node {
        shape,
        start: start as u32,
        end: end as u32,
        next: next as u32,
    });
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// An object key at `i` and its colon; where its value starts.
fn key(b: &[u8], nodes: &mut Vec<Node>, i: usize) -> Result<usize, usize> {
    if b.get(i) != Some(&b'"') {
        return Err(i);
    }
    let end = string_end(b, i).ok_or(i)?;
    leaf(nodes, Shape::Key, i, end);
    let colon = skip_space(b, end);
    if b.get(colon) != Some(&b':') {
        return Err(colon);
    }
    Ok(skip_space(b, colon + 1))
}

/// The end (past the closing quote) of the string whose opening quote is at
/// `open`.
fn string_end(b: &[u8], open: usize) -> Option<usize> {
    let mut at = open + 1;
    loop {
        let found = quote_or_escape(b, at)?;
        if b[found] == b'"' {
            return Some(found + 1);
        }
        at = found + 2;
    }
}

/// The first `"` or `\` at or after `at`. Most strings (keys, names) are
/// short: their first 32 bytes are checked 8 at a time, a longer rest with
/// memchr's vector search.
fn quote_or_escape(b: &[u8], mut at: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte of `v` that is zero (the lowest one exact).
    let zeros = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    for _ in 0..4 {
        let Some(chunk) = b.get(at..at + 8) else { break };
        let mut bytes = [0; 8];
        bytes.copy_from_slice(chunk);
        let x = u64::from_le_bytes(bytes);
        let hits = zeros(x ^ (ONES * u64::from(b'"'))) | zeros(x ^ (ONES * u64::from(b'\\')));
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    Some(at + memchr::memchr2(b'"', b'\\', b.get(at..)?)?)
}

/// An object key's text (with its quotes) decoded, as bytes: borrowed
/// unless it has escapes. Byte order is the order of serde_json's string
/// keys (UTF-8 sorts like the characters it encodes); a key is checked to
/// be UTF-8 only when it goes into a path ([`key_str`]).
fn decode_key(raw: &[u8]) -> Result<Cow<'_, [u8]>, PatchError> {
    let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
    if !inner.contains(&b'\\') {
        return Ok(Cow::Borrowed(inner));
    }
    Ok(Cow::Owned(serde_json::from_slice::<String>(raw)?.into_bytes()))
}

fn key_str(key: &[u8]) -> Result<&str, PatchError> {
    std::str::from_utf8(key).map_err(|_| PatchError::NotUtf8)
}

#[derive(Default)]
struct Walk {
    path: PointerBuf,
    patch: Patch,
}

impl Walk {
    /// Diffs old's node `o` against new's node `n`, as json_patch does.
    fn value(&mut self, old: &Index<'_>, o: usize, new: &Index<'_>, n: usize) -> Result<(), PatchError> {
        if old.text(o) == new.text(n) {
            return Ok(());
        }
        match (old.nodes[o].shape, new.nodes[n].shape) {
            (Shape::Object, Shape::Object) => self.object(old, o, new, n),
            (Shape::Array, Shape::Array) => self.array(old, o, new, n),
            _ => {
                // Scalars, or a change of type: equal values in different
                // texts (`1e2` and `100.0`, escapes) are no change.
                let new_value: Value = serde_json::from_slice(new.text(n))?;
                if serde_json::from_slice::<Value>(old.text(o))? != new_value {
                    self.patch.0.push(PatchOperation::Replace(ReplaceOperation {
                        path: self.path.clone(),
                        value: new_value,
                    }));
                }
                Ok(())
            }
        }
    }

    /// New's members in key order (diffed or added), then old's members
    /// that new lacks (removed).
    fn object(&mut self, old: &Index<'_>, o: usize, new: &Index<'_>, n: usize) -> Result<(), PatchError> {
        let (old_members, new_members) = (old.members(o)?, new.members(n)?);
        let find = |key: &[u8]| old_members.binary_search_by(|(k, _)| k.as_ref().cmp(key)).ok();
        for (key, value) in &new_members {
            let existing = find(key).map(|at| old_members[at].1);
            if existing.is_some_and(|o| old.text(o) == new.text(*value)) {
                continue;
            }
            self.path.push_back(key_str(key)?);
            match existing {
                Some(o) => self.value(old, o, new, *value)?,
                None => self.add(new, *value)?,
            }
            self.path.pop_back();
        }
        for (key, _) in &old_members {
            if new_members.binary_search_by(|(k, _)| k.cmp(key)).is_err() {
                self.path.push_back(key_str(key)?);
                self.remove();
                self.path.pop_back();
            }
        }
        Ok(())
    }

    /// Index by index, as json_patch does: common indices diffed, then the
    /// new array's extra elements added or the old one's removed, each at
    /// the index the previous removals left it at.
    fn array(&mut self, old: &Index<'_>, o: usize, new: &Index<'_>, n: usize) -> Result<(), PatchError> {
        let mut old_elements = old.children(o);
        let mut new_elements = new.children(n);
        let mut index = 0;
        loop {
            match (old_elements.next(), new_elements.next()) {
                (Some(o), Some(n)) => {
                    if old.text(o) != new.text(n) {
                        self.path.push_back(index);
                        self.value(old, o, new, n)?;
                        self.path.pop_back();
                    }
                    index += 1;
                }
                (Some(_), None) => {
                    // Each removal leaves the next old element at `index`.
                    self.path.push_back(index);
                    self.remove();
                    self.path.pop_back();
                }
                (None, Some(n)) => {
                    self.path.push_back(index);
                    self.add(new, n)?;
                    self.path.pop_back();
                    index += 1;
                }
                (None, None) => return Ok(()),
            }
        }
    }

    fn add(&mut self, new: &Index<'_>, n: usize) -> Result<(), PatchError> {
        self.patch.0.push(PatchOperation::Add(AddOperation {
            path: self.path.clone(),
            value: serde_json::from_slice(new.text(n))?,
        }));
        Ok(())
    }

    fn remove(&mut self) {
        self.patch.0.push(PatchOperation::Remove(RemoveOperation {
            path: self.path.clone(),
        }));
    }
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
        // A repeated key: the last one counts, as in serde_json's map.
        assert!(diff(r#"{"a":1,"a":2}"#, r#"{"a":2}"#).unwrap().0.is_empty());
        assert_eq!(
            serde_json::to_value(diff(r#"{"a":2}"#, r#"{"a":3,"a":1}"#).unwrap()).unwrap(),
            json!([{"op": "replace", "path": "/a", "value": 1}])
        );
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
        let good = r#"{"a": [1, {"b": "c\"d"}], "e": {}, "f": [], "g": null}"#;
        for bad in [
            "",
            " ",
            "{",
            "}",
            "{\"a\": }",
            "{\"a\":1,}",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1]",
            "[1}",
            "{} x",
            "\"open",
            "{,\"a\":1}",
            "{\"a\":tru}",
            "{\"a\":1 \"b\":2}",
            "[\"\\\"]",
            "{1:2}",
            "{\"a\":+}",
        ] {
            assert!(diff(bad, good).is_err(), "{bad:?}");
            assert!(diff(good, bad).is_err(), "{bad:?}");
        }
        // Nesting as deep as serde_json takes, and one level deeper.
        let nested = |depth: usize, leaf: &str| format!("{}{leaf}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(diff(&nested(128, "1"), &nested(128, "2")).unwrap().0.len(), 1);
        assert!(diff(&nested(129, "1"), &nested(129, "2")).is_err());
        assert!(diff(&nested(100_000, "1"), &nested(100_000, "2")).is_err());
        // From a review body: both objects must be there, and a key that
        // goes into a path must be UTF-8.
        let review = |request: &[u8]| [br#"{"request":"#.as_slice(), request, b"}"].concat();
        let body = review(br#"{"oldObject":{"a":1},"object":{"a":2}}"#);
        assert_eq!(diff_in_review(&body).unwrap().0.len(), 1);
        for (request, ops) in [
            (br#"{"object":{"a":2}}"#.as_slice(), None),
            (b"[]", None),
            (br#"{"oldObject":{},"object":[]}"#, Some(1)),
        ] {
            let body = review(request);
            let patch = diff_in_review(&body);
            assert_eq!(patch.as_ref().ok().map(|p| p.0.len()), ops, "{patch:?}");
        }
        let body = review(b"{\"oldObject\":{\"\xff\":1},\"object\":{\"\xff\":2}}");
        assert!(matches!(diff_in_review(&body), Err(PatchError::NotUtf8)));
        // Every cut of a text short of its end is not JSON.
        for cut in 0..good.len() {
            assert!(diff(&good[..cut], good).is_err(), "{:?}", &good[..cut]);
        }
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
        // Shrunk failures are kept with the others in tests/regressions/.
        #![proptest_config(proptest::test_runner::Config {
            failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
                "tests/regressions/json_diff.txt",
            ))),
            ..proptest::test_runner::Config::default()
        })]
        #[test]
        fn equals_json_patch_on_any_pair(old in json_value(), new in json_value()) {
            same_as_json_patch(&old, &new);
        }

        /// Any bytes in place of one: an error or a patch, never a panic.
        #[test]
        fn damaged_text_never_panics(value in json_value(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let text = value.to_string();
            let mut damaged = text.clone().into_bytes();
            let at = at.index(damaged.len());
            damaged[at] = byte;
            if let Ok(damaged) = String::from_utf8(damaged) {
                let _ = diff(&text, &damaged);
                let _ = diff(&damaged, &text);
            }
        }
    }
}
