//! For the bench, soak, attack and review_cost examples, the criterion
//! bench and the golden test: the request mix, the webhook's per-request
//! work without HTTP, /proc readings of the server process.

use std::time::Duration;

use super::fixture_json as fixture;

/// An AdmissionReview body as kube-apiserver writes it: compact, with the
/// request's fields in its order (`kind` and `operation` before the
/// objects, which the webhook's one-pass parse relies on). A plain
/// `serde_json::to_vec` of a `Value` would sort them.
pub fn apiserver_body(review: &serde_json::Value) -> Vec<u8> {
    let order = cnpg_guard::admission::APISERVER_FIELD_ORDER;
    let request = review["request"].as_object().expect("request");
    assert!(
        request.keys().all(|k| order.contains(&k.as_str())),
        "unknown request field"
    );
    let fields: Vec<String> = order
        .iter()
        .filter_map(|k| request.get(*k).map(|v| format!("{}:{v}", serde_json::Value::from(*k))))
        .collect();
    format!(
        r#"{{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{{{}}}}}"#,
        fields.join(",")
    )
    .into_bytes()
}

/// The request mix of `make bench`, shaped like kube-apiserver's
/// AdmissionReviews: (name, body, weight out of 100).
pub fn mix() -> Vec<(&'static str, Vec<u8>, u32)> {
    use base64::Engine;
    use serde_json::json;
    let mut cluster_update = fixture("cluster-create-allowed.json");
    let object = cluster_update["request"]["object"].clone();
    let mut new = object.clone();
    new["spec"]["instances"] = json!(2);
    cluster_update["request"]["operation"] = json!("UPDATE");
    cluster_update["request"]["options"] = json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"});
    cluster_update["request"]["oldObject"] = object;
    cluster_update["request"]["object"] = new;
    let mut big = fixture("secret-create-allowed.json");
    let blob = base64::engine::general_purpose::STANDARD.encode(vec![b'k'; 1024 * 1024 - 64 * 1024]);
    big["request"]["object"]["data"]["ca-bundle.pem"] = json!(blob);
    let file = |name: &str| apiserver_body(&fixture(name));
    vec![
        ("Namespace CREATE", file("namespace-create-allowed.json"), 15),
        ("Secret CREATE", file("secret-create-allowed.json"), 20),
        ("Secret UPDATE", file("secret-update-allowed.json"), 10),
        ("NetworkPolicy CREATE", file("networkpolicy-create-allowed.json"), 10),
        ("Database CREATE", file("database-create-allowed.json"), 15),
        ("Cluster UPDATE", apiserver_body(&cluster_update), 15),
        ("Secret 1 MiB", apiserver_body(&big), 1),
        ("deny: Namespace", file("namespace-create-denied.json"), 5),
        ("deny: Database", file("database-create-denied.json"), 5),
        ("deny: Secret", file("secret-create-denied.json"), 4),
    ]
}

/// The webhook's whole per-request work minus HTTP/TLS: the pure
/// [`cnpg_guard::admission::answer`] that `serve` calls (parse, decide,
/// response, decision record), with offline facts. Not inlined, so that
/// callgrind can count it alone.
#[inline(never)]
pub fn review_once(body: &[u8], contract: &cnpg_guard::contract::Contract) -> (Vec<u8>, Vec<u8>) {
    use cnpg_guard::admission::{Outcome, answer};
    use cnpg_guard::facts::NoFacts;
    let answer = answer(body, contract, &NoFacts, std::time::Instant::now());
    match answer.outcome {
        Outcome::Reviewed(verdict) => (answer.body, verdict.record),
        _ => panic!("the mix holds covered kinds only"),
    }
}

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`), 0 if unreadable.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) the process has used, from `/proc/PID/stat`.
pub fn proc_cpu(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}
