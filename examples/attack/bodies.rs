//! The AdmissionReviews the attack sends, shaped like kube-apiserver's.

use base64::Engine;
use serde_json::{Value, json};

use crate::support::bench::apiserver_body;
use crate::support::fixture_json as fixture;

/// Base64 of `n` bytes: about 4/3 n characters.
fn blob(n: usize) -> Value {
    json!(base64::engine::general_purpose::STANDARD.encode(vec![b'k'; n]))
}

/// A Secret UPDATE of about `size` bytes: two objects of half of it each.
pub fn secret_update(size: usize) -> Vec<u8> {
    let mut r = fixture("secret-update-allowed.json");
    r["request"]["object"]["data"]["blob"] = blob(size * 3 / 8);
    r["request"]["oldObject"]["data"]["blob"] = blob(size * 3 / 8);
    apiserver_body(&r)
}

/// A Secret CREATE of about `size` bytes.
pub fn secret_create(size: usize) -> Vec<u8> {
    let mut r = fixture("secret-create-allowed.json");
    r["request"]["object"]["data"]["blob"] = blob(size * 3 / 4);
    apiserver_body(&r)
}

/// A Cluster UPDATE of about `size` bytes that removes an array of small
/// numbers: the costliest shape to decode and diff per byte.
pub fn array_update(size: usize) -> Vec<u8> {
    let mut r = fixture("cluster-create-allowed.json");
    let object = r["request"]["object"].clone();
    let mut old = object.clone();
    // "123456," is 7 bytes.
    old["spec"]["extra"] = Value::Array((0..size / 7).map(|i| json!(100_000 + i % 900_000)).collect());
    r["request"]["operation"] = json!("UPDATE");
    r["request"]["options"] = json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"});
    r["request"]["oldObject"] = old;
    r["request"]["object"] = object;
    apiserver_body(&r)
}

/// A valid large review: an allowed Secret CREATE of about 1.2 MB (a
/// Secret near the API server's 1 MiB limit, base64 in JSON).
pub fn valid_large() -> Vec<(Vec<u8>, bool)> {
    vec![(secret_create(1_200_000), true)]
}

/// Valid reviews and whether each must be allowed.
pub fn valid() -> Vec<(Vec<u8>, bool)> {
    [
        ("namespace-create-allowed.json", true),
        ("database-create-denied.json", false),
        ("secret-create-allowed.json", true),
        ("networkpolicy-create-denied.json", false),
    ]
    .into_iter()
    .map(|(name, allowed)| (apiserver_body(&fixture(name)), allowed))
    .collect()
}
