//! Hostile input, property-based (proptest): the AdmissionReview decoder,
//! every rule family over arbitrary JSON objects, the DSN/URI/pgpass parsers
//! and the contract loader never panic, and a canary Secret value never
//! reaches a message, warning or audit record.
//!
//! cargo-fuzz needs a nightly toolchain, which this project's machines do not
//! have; these suites are the fuzzing. `make fuzz` runs them with many more
//! cases (PROPTEST_CASES); every failure proptest shrinks is saved under
//! tests/regressions/ and replayed first on every run.

use cnpg_guard::admission;
use cnpg_guard::contract::{self, Contract};
use cnpg_guard::decision::decide;
use cnpg_guard::dsn;
use cnpg_guard::facts::{NoFacts, OfflineFacts};
use cnpg_guard::model::{Kind, Object, Operation, Review, User};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{Value, json};

mod support;

const CANARY: &str = "CANARY-prop-51c7e2";

fn config() -> Config {
    Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/regressions/hostile_input.txt",
        ))),
        ..Config::default()
    }
}

/// Arbitrary JSON, biased towards the shapes Kubernetes objects have.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9_./:@=-]{0,24}".prop_map(Value::String),
        prop_oneof![
            Just("apps_admin"),
            Just("apps-pg"),
            Just("databases"),
            Just("postgresql://apps_admin@h/db"),
            Just("In"),
            Just("Exists"),
            Just("absent"),
            Just("disabled"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-zA-Z]{1,10}",
                    Just("spec".to_owned()),
                    Just("metadata".to_owned()),
                    Just("labels".to_owned()),
                    Just("annotations".to_owned()),
                    Just("managed".to_owned()),
                    Just("roles".to_owned()),
                    Just("name".to_owned()),
                    Just("ingress".to_owned()),
                    Just("from".to_owned()),
                    Just("namespaceSelector".to_owned()),
                    Just("stringData".to_owned()),
                    Just("data".to_owned()),
                    Just("cluster".to_owned()),
                    Just("owner".to_owned()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(Kind::ALL.to_vec())
}

fn review_of(kind: Kind, object: Object, old: Option<Object>, op: Operation) -> Review {
    let meta = object.metadata().clone();
    Review {
        operation: op,
        kind,
        namespace: if kind.is_namespaced() {
            meta.namespace.unwrap_or_else(|| "databases".into())
        } else {
            String::new()
        },
        name: meta.name.unwrap_or_else(|| "x".into()),
        object: if op == Operation::Delete {
            None
        } else {
            Some(object.clone())
        },
        old_object: old.or_else(|| (op == Operation::Delete).then_some(object)),
        user: User {
            username: "fuzz".into(),
            groups: vec!["railiance:platform-admins".into()],
        },
        dry_run: false,
        stored: false,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn dsn_parsers_never_panic(s in "(postgres(ql)?://|jdbc:postgresql:|[a-z_]{1,8}=|'|\\\\|%[0-9a-f]{0,2}|@|:|/|\\?|&|\n| |[a-zA-Z0-9_*.-]{1,8}){0,40}") {
        for c in dsn::credentials(&s) {
            let _ = (c.user, c.password);
        }
    }

    #[test]
    fn dsn_parsers_never_panic_on_any_text(s in any::<String>()) {
        let _ = dsn::credentials(&s);
    }

    #[test]
    fn contract_loader_never_panics(s in any::<String>()) {
        let _ = contract::parse(&s, "fuzz.yaml");
    }

    #[test]
    fn contract_loader_never_panics_on_mutations(cut in 0usize..2000, insert in "[ :\\-\\[\\]{}a-z0-9\n]{0,6}") {
        let src = contract::EMBEDDED_CONTRACT;
        let at = cut.min(src.len());
        let at = (0..=at).rev().find(|i| src.is_char_boundary(*i)).unwrap_or(0);
        let mutated = format!("{}{}{}", &src[..at], insert, &src[at..]);
        let _ = contract::parse(&mutated, "fuzz.yaml");
    }

    #[test]
    fn admission_decoder_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = admission::parse(&bytes);
    }

    #[test]
    fn admission_decoder_never_panics_on_mutated_reviews(
        which in 0usize..6, cut in 0usize..4000, flip in 0usize..4000, byte in any::<u8>(), object in json_value()
    ) {
        let names = ["secret-create-denied.json", "cluster-update-denied.json", "networkpolicy-create-denied.json",
                     "namespace-update-ratchet.json", "database-create-allowed.json", "pooler-create-denied.json"];
        let text = std::fs::read(format!("tests/fixtures/reviews/{}", names[which])).unwrap();
        // Truncated, a byte flipped, and the object replaced by arbitrary JSON.
        let _ = admission::parse(&text[..cut.min(text.len())]);
        let mut flipped = text.clone();
        let i = flip % flipped.len();
        flipped[i] = byte;
        let _ = admission::parse(&flipped);
        let mut review: Value = serde_json::from_slice(&text).unwrap();
        review["request"]["object"] = object;
        if let Ok(admission::Parsed::Covered(req, r, _)) = admission::parse(review.to_string().as_bytes()) {
            let d = decide(&r, &Contract::embedded().unwrap(), &NoFacts);
            let _ = admission::to_body(admission::respond(&req, &d));
        }
    }

    #[test]
    fn every_rule_family_survives_arbitrary_objects(
        kind in kind(), spec in json_value(), extra in json_value(), old_spec in json_value(), op in 0u8..3
    ) {
        let c = Contract::embedded().unwrap();
        let build = |spec: &Value| {
            let mut o = json!({"apiVersion": kind.api_version(), "kind": kind.as_str(),
                "metadata": {"name": "apps-pg", "namespace": "databases",
                             "labels": {"railiance.io/postgres-client": "apps-pg", "railiance.io/role": "shared-apps-database"}}});
            for field in ["spec", "data", "stringData", "type"] {
                o[field] = spec.get(field).cloned().unwrap_or_else(|| spec.clone());
            }
            if let Value::Object(m) = &extra { for (k, v) in m { if k != "kind" { o[k] = v.clone(); } } }
            o
        };
        let op = [Operation::Create, Operation::Update, Operation::Delete][op as usize];
        if let Ok(object) = Object::decode(kind, build(&spec)) {
            let old = Object::decode(kind, build(&old_spec)).ok();
            let old = if op == Operation::Update { old } else { None };
            if op == Operation::Update && old.is_none() { return Ok(()); }
            let r = review_of(kind, object.clone(), old, op);
            let _ = decide(&r, &c, &NoFacts);
            let facts = OfflineFacts::from_objects(&c, [("databases", &object)]);
            let _ = decide(&r, &c, &facts);
        }
    }

    #[test]
    fn a_canary_secret_value_never_reaches_a_verdict(
        key in "[a-zA-Z_.]{1,12}", shape in 0usize..6, ns in prop::sample::select(vec!["shop", "databases"])
    ) {
        let value = match shape {
            0 => CANARY.to_owned(),
            1 => format!("postgresql://apps_admin:{CANARY}@apps-pg-rw.databases.svc/apps_meta"),
            2 => format!("host=h user=apps_admin password={CANARY}"),
            3 => format!("h:5432:db:apps_admin:{CANARY}"),
            4 => format!("jdbc:postgresql://h/db?user=apps_admin&password={CANARY}"),
            _ => format!("A=1\nPASSWORD={CANARY}\n"),
        };
        let c = Contract::embedded().unwrap();
        let bootstrap = Object::decode(Kind::Secret, json!({"metadata": {"name": "apps-pg-credentials", "namespace": "databases"},
            "stringData": {"username": "apps_admin", "password": CANARY}})).unwrap();
        let facts = OfflineFacts::from_objects(&c, [("databases", &bootstrap)]);
        let secret = Object::decode(Kind::Secret, json!({"metadata": {"name": "s", "namespace": ns,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": format!("{{\"stringData\":{{\"{key}\":\"{CANARY}\"}}}}")}},
            "stringData": {key.clone(): value}})).unwrap();
        let r = review_of(Kind::Secret, secret, None, Operation::Create);
        let d = decide(&r, &c, &facts);
        let record = cnpg_guard::decision_log::DecisionRecord::new("u", ("", "v1", "Secret"), &r, &d, "rev", std::time::Duration::ZERO, None);
        let everything = format!("{}\n{:?}\n{}\n{:?}", d.message(), d.warnings(), serde_json::to_string(&record).unwrap(), d.skipped);
        prop_assert!(!everything.contains(CANARY), "canary leaked: {everything}");
        if ns == "shop" && shape > 0 { prop_assert!(!d.allowed, "a leak in shape {shape} was allowed"); }
    }
}

/// An UPDATE whose objects nest a field 50,000 deep and differ at the
/// bottom: reviewed, and its audit record built, without exhausting the
/// stack (the patch refuses nesting deeper than serde_json reads; the
/// record then goes without a patch, and says why).
#[test]
fn deeply_nested_update_objects_are_reviewed_without_a_patch() {
    let text = std::fs::read_to_string("tests/fixtures/reviews/secret-update-allowed.json").expect("fixture");
    let mut review: Value = serde_json::from_str(&text).expect("fixture JSON");
    review["request"]["oldObject"]["x"] = json!("OLD-MARK");
    review["request"]["object"]["x"] = json!("NEW-MARK");
    let nested = |leaf: &str| format!("{}{leaf}{}", "[".repeat(50_000), "]".repeat(50_000));
    let body = review
        .to_string()
        .replace("\"OLD-MARK\"", &nested("1"))
        .replace("\"NEW-MARK\"", &nested("2"));
    // The review runs on a thread with a tokio worker's default stack.
    let (_, line) = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let contract = Contract::embedded().expect("embedded contract");
            support::bench::review_once(body.as_bytes(), &contract)
        })
        .expect("thread")
        .join()
        .expect("no stack overflow, no panic");
    let record: Value = serde_json::from_slice(&line).expect("audit line");
    assert_eq!(record["decision"], "allow");
    assert_eq!(record["operation"], "UPDATE");
    assert!(record.get("patch").is_none(), "{record}");
    // The missing patch is marked, never silently dropped.
    assert!(record["patchError"].as_str().is_some_and(|e| !e.is_empty()), "{record}");
}
