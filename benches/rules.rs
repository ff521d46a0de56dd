//! The cost of one decision per kind (rules + decision, no HTTP): criterion.
//! `make bench` runs it; timings are never asserted in tests.

use std::path::Path;

use base64::Engine;
use cnpg_guard::contract::{self, Contract};
use cnpg_guard::decision::decide;
use cnpg_guard::facts::{NoFacts, OfflineFacts};
use cnpg_guard::model::{Kind, Object, Operation, Review, User};
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../tests/support/mod.rs"]
mod support;
use serde_json::{Value, json};

fn request(name: &str) -> Value {
    let text = std::fs::read_to_string(Path::new("tests/fixtures/reviews").join(name)).expect("fixture");
    serde_json::from_str::<Value>(&text).expect("json")["request"].clone()
}

fn review(req: &Value) -> Review {
    let kind = Kind::from_group_kind(
        req["kind"]["group"].as_str().unwrap(),
        req["kind"]["kind"].as_str().unwrap(),
    )
    .unwrap();
    let decode = |v: &Value| (!v.is_null()).then(|| Object::decode(kind, v.clone()).unwrap());
    Review {
        operation: match req["operation"].as_str().unwrap() {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            _ => Operation::Delete,
        },
        kind,
        namespace: req["namespace"].as_str().unwrap_or("").to_owned(),
        name: req["name"].as_str().unwrap().to_owned(),
        object: decode(&req["object"]),
        old_object: decode(&req["oldObject"]),
        user: User {
            username: "alice".into(),
            groups: vec!["system:authenticated".into()],
        },
        dry_run: false,
        stored: false,
    }
}

fn scale_contract(n: usize) -> (Contract, OfflineFacts) {
    let mut extra = String::new();
    for i in 0..n {
        extra.push_str(&format!(
            "      - {{namespace: app-{i}, role: app_{i}, databases: [app_{i}_db]}}\n"
        ));
    }
    let src = contract::EMBEDDED_CONTRACT.replace(
        "        databases: [vergabe_db]\n",
        &format!("        databases: [vergabe_db]\n{extra}"),
    );
    let c = contract::parse(&src, "scale").unwrap();
    let mut roles = vec![json!({"name": "vergabe"})];
    roles.extend((0..n).map(|i| json!({"name": format!("app_{i}")})));
    let cluster = Object::decode(
        Kind::Cluster,
        json!({"metadata": {"name": "apps-pg", "namespace": "databases"}, "spec": {"managed": {"roles": roles}}}),
    )
    .unwrap();
    let dbs: Vec<Object> = (0..n)
        .map(|i| {
            Object::decode(
                Kind::Database,
                json!({"metadata": {"name": format!("d{i}"), "namespace": "databases"},
                       "spec": {"name": format!("app_{i}_db"), "owner": format!("app_{i}"), "cluster": {"name": "apps-pg"}}}),
            )
            .unwrap()
        })
        .collect();
    let facts = OfflineFacts::from_objects(
        &c,
        std::iter::once(("databases", &cluster)).chain(dbs.iter().map(|d| ("databases", d))),
    );
    (c, facts)
}

fn bench(c: &mut Criterion) {
    let contract = Contract::embedded().unwrap();
    let cases = [
        ("namespace_create", "namespace-create-allowed.json"),
        ("namespace_deny", "namespace-create-denied.json"),
        ("secret_create", "secret-create-allowed.json"),
        ("secret_deny", "secret-create-denied.json"),
        ("secret_update", "secret-update-allowed.json"),
        ("networkpolicy_create", "networkpolicy-create-allowed.json"),
        ("database_create", "database-create-allowed.json"),
        ("cluster_update_deny", "cluster-update-denied.json"),
        ("cluster_create", "cluster-create-allowed.json"),
    ];
    let mut group = c.benchmark_group("decide");
    for (name, file) in cases {
        let r = review(&request(file));
        group.bench_function(name, |b| b.iter(|| decide(&r, &contract, &NoFacts)));
    }
    let mut big = request("secret-create-allowed.json");
    big["object"]["data"]["blob"] = json!(base64::engine::general_purpose::STANDARD.encode(vec![b'k'; 1024 * 1024]));
    let r = review(&big);
    group.bench_function("secret_1mib", |b| b.iter(|| decide(&r, &contract, &NoFacts)));

    // The webhook's whole per-request work minus HTTP/TLS: parse the
    // AdmissionReview, decide, build the response and the audit record.
    // The mix is `make bench`'s load (compact JSON, as the API server sends).
    let mix = support::bench::mix();
    let webhook = |body: &[u8]| support::bench::review_once(body, &contract);
    group.finish();
    let mut webhook_group = c.benchmark_group("webhook");
    for (name, body, _) in &mix {
        webhook_group.bench_function(*name, |b| b.iter(|| webhook(body)));
    }
    // One pass over the weighted mix: 100 requests, so the time per request
    // is this figure / 100.
    webhook_group.bench_function("mix_100_requests", |b| {
        b.iter(|| {
            for (_, body, weight) in &mix {
                for _ in 0..*weight {
                    std::hint::black_box(webhook(body));
                }
            }
        })
    });
    webhook_group.finish();
    // The audit record's UPDATE patch alone, from the two object texts as
    // the API server sends them, beside json_patch on parsed trees.
    let mut patch_group = c.benchmark_group("patch");
    for (name, body, _) in mix.iter().filter(|(n, _, _)| n.ends_with("UPDATE")) {
        let review: Value = serde_json::from_slice(body).unwrap();
        let old = review["request"]["oldObject"].to_string();
        let new = review["request"]["object"].to_string();
        patch_group.bench_function(*name, |b| b.iter(|| cnpg_guard::json_diff::diff(&old, &new).unwrap()));
        patch_group.bench_function(format!("{name} (json_patch on trees)"), |b| {
            b.iter(|| {
                let old: Value = serde_json::from_str(&old).unwrap();
                let new: Value = serde_json::from_str(&new).unwrap();
                json_patch::diff(&old, &new)
            })
        });
    }
    patch_group.finish();

    let mut group = c.benchmark_group("decide");

    let (scaled, facts) = scale_contract(10_000);
    for (name, file) in [
        ("scale_database_create", "database-create-allowed.json"),
        ("scale_cluster_create", "cluster-create-allowed.json"),
    ] {
        let r = review(&request(file));
        group.bench_function(name, |b| b.iter(|| decide(&r, &scaled, &facts)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
