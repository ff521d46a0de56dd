//! Live facts and `audit` against a mocked API server behind a real
//! `kube::Client`: initial sync, a broken watch (last known facts, aged;
//! the fail-closed bound for role removal), fail-closed before the first sync,
//! the bootstrap password under another key and inside a DSN, a dangling
//! owner on role removal, and the audit in all three output formats.

mod mock_api;
mod support;

use std::sync::Arc;
use std::time::Duration;

use cnpg_guard::audit::{self, AuditFormat};
use cnpg_guard::contract::{self, Contract};
use cnpg_guard::decision::decide;
use cnpg_guard::facts::{Fact, Facts, LiveFacts};
use cnpg_guard::model::{Kind, Object, Operation, Review, User};
use mock_api::*;
use serde_json::{Value, json};

const PASSWORD: &str = "CANARY-live-9d2f";

fn contract() -> Contract {
    let src = contract::EMBEDDED_CONTRACT.replace(
        "        databases: [vergabe_db]\n",
        "        databases: [vergabe_db]\n      - namespace: shop\n        role: shop\n        databases: [shop_db]\n",
    );
    contract::parse(&src, "test").unwrap()
}

fn seeded() -> MockApi {
    let api = MockApi::default();
    api.set(CLUSTERS, vec![cluster(&["vergabe"])]);
    api.set(DATABASES, vec![database("vergabe-db", "vergabe", "vergabe_db")]);
    api.set(
        SECRETS,
        vec![secret(
            "databases",
            "apps-pg-credentials",
            json!({"username": "apps_admin", "password": PASSWORD}),
        )],
    );
    api
}

async fn synced(api: &MockApi, stale_after: Duration) -> (Arc<LiveFacts>, Contract) {
    let contract = contract();
    let live = LiveFacts::new(Arc::new(contract.clone()), stale_after);
    assert!(!live.synced(), "not ready before the watches sync");
    live.spawn_watches(api.client());
    wait_for(|| live.synced(), "initial sync").await;
    (live, contract)
}

async fn wait_for(f: impl FnMut() -> bool, what: &str) {
    assert!(
        support::eventually_async(Duration::from_secs(20), f).await,
        "timed out waiting for {what}"
    );
}

fn review(operation: Operation, new: Option<Value>, old: Option<Value>) -> Review {
    let current = new.as_ref().or(old.as_ref()).unwrap().clone();
    let kind = Kind::from_api_version(
        current["apiVersion"].as_str().unwrap(),
        current["kind"].as_str().unwrap(),
    )
    .unwrap();
    let decode = |v: Option<Value>| v.map(|v| Object::decode(kind, v).unwrap());
    Review {
        operation,
        kind,
        namespace: current["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
        name: current["metadata"]["name"].as_str().unwrap().to_owned(),
        object: decode(new),
        old_object: decode(old),
        // The platform: these tests are about facts, not who asks.
        user: User {
            username: "alice".into(),
            groups: vec!["railiance:platform-admins".into()],
        },
        dry_run: false,
        stored: false,
    }
}

#[tokio::test]
async fn initial_sync_answers_from_memory() {
    let api = seeded();
    let (live, contract) = synced(&api, Duration::from_secs(60)).await;
    let apps = contract.cluster("databases", "apps-pg").unwrap();
    assert_eq!(live.role_provisioned(apps, "vergabe"), Fact::Known(true));
    assert_eq!(live.role_provisioned(apps, "shop"), Fact::Known(false));
    assert_eq!(
        live.databases_owned_by(apps, "vergabe"),
        Fact::Known(vec!["databases/vergabe-db".to_owned()])
    );
    assert_eq!(live.is_bootstrap_password(apps, PASSWORD.as_bytes()), Fact::Known(true));
    assert_eq!(live.is_bootstrap_password(apps, b"other"), Fact::Known(false));

    // The bootstrap Secret is watched by name only.
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with(SECRETS) && r.contains("fieldSelector=metadata.name%3Dapps-pg-credentials")),
        "{requests:?}"
    );
    assert!(!requests.iter().any(|r| r.starts_with(ALL_SECRETS)), "{requests:?}");

    // Watch events update the index: the shop role gets provisioned.
    api.event(CLUSTERS, "MODIFIED", cluster(&["vergabe", "shop"]));
    wait_for(
        || live.role_provisioned(apps, "shop") == Fact::Known(true),
        "role provisioned",
    )
    .await;
}

#[tokio::test]
async fn database_owner_must_be_provisioned_first() {
    let api = seeded();
    let (live, contract) = synced(&api, Duration::from_secs(60)).await;
    let d = decide(
        &review(Operation::Create, Some(database("shop-db", "shop", "shop_db")), None),
        &contract,
        live.as_ref(),
    );
    assert!(!d.allowed);
    let v = d.denied().next().unwrap();
    assert_eq!((v.rule.as_str(), v.field.as_str()), ("owner-registered", "spec.owner"));
    assert!(v.fix.contains("provision the role first"), "{}", v.line());
    let ok = decide(
        &review(
            Operation::Create,
            Some(database("vergabe-db", "vergabe", "vergabe_db")),
            None,
        ),
        &contract,
        live.as_ref(),
    );
    assert!(ok.allowed, "{}", ok.message());
}

/// One Database CR per database, from the live watch: a second CR for
/// vergabe_db is denied naming the first; once the first is deleted (or
/// renamed to another database), the second is the only one.
#[tokio::test]
async fn a_second_database_cr_for_a_live_database_is_denied() {
    let api = seeded();
    let (live, contract) = synced(&api, Duration::from_secs(60)).await;
    let second = || {
        review(
            Operation::Create,
            Some(database("lockout", "vergabe", "vergabe_db")),
            None,
        )
    };
    let d = decide(&second(), &contract, live.as_ref());
    assert!(!d.allowed);
    let v = d.denied().next().unwrap();
    assert_eq!((v.rule.as_str(), v.field.as_str()), ("tenant-isolated", "spec.name"));
    assert!(v.what.contains("Database databases/vergabe-db"), "{}", v.line());

    let apps = contract.cluster("databases", "apps-pg").unwrap();
    api.event(
        DATABASES,
        "MODIFIED",
        database("vergabe-db", "vergabe", "vergabe_archive"),
    );
    wait_for(
        || live.database_crs_named(apps, "vergabe_db") == Fact::Known(vec![]),
        "name index update",
    )
    .await;
    assert_eq!(
        live.database_crs_named(apps, "vergabe_archive"),
        Fact::Known(vec!["databases/vergabe-db".to_owned()])
    );
    let d = decide(&second(), &contract, live.as_ref());
    assert!(d.allowed, "{}", d.message());
}

#[tokio::test]
async fn removing_a_role_a_live_database_owns_is_denied() {
    let api = seeded();
    let (live, contract) = synced(&api, Duration::from_secs(60)).await;
    let d = decide(
        &review(Operation::Update, Some(cluster(&[])), Some(cluster(&["vergabe"]))),
        &contract,
        live.as_ref(),
    );
    assert!(!d.allowed);
    let v = d.denied().next().unwrap();
    assert_eq!(
        (v.rule.as_str(), v.field.as_str()),
        ("role-registered", "spec.managed.roles")
    );
    assert!(v.what.contains("databases/vergabe-db"), "{}", v.line());

    // Once the Database is gone, the role may go.
    api.event(DATABASES, "DELETED", database("vergabe-db", "vergabe", "vergabe_db"));
    let apps = contract.cluster("databases", "apps-pg").unwrap();
    wait_for(
        || live.databases_owned_by(apps, "vergabe") == Fact::Known(vec![]),
        "owner index update",
    )
    .await;
    let d = decide(
        &review(Operation::Update, Some(cluster(&[])), Some(cluster(&["vergabe"]))),
        &contract,
        live.as_ref(),
    );
    assert!(d.allowed, "{}", d.message());
}

#[tokio::test]
async fn bootstrap_password_under_another_key_or_in_a_dsn() {
    let api = seeded();
    let (live, contract) = synced(&api, Duration::from_secs(60)).await;
    for (key, value) in [
        ("token", PASSWORD.to_owned()),
        (
            "DATABASE_URL",
            format!("postgresql://shop:{PASSWORD}@apps-pg-rw.databases.svc:5432/shop_db"),
        ),
        ("config", format!("host=apps-pg-rw user=shop password={PASSWORD}")),
    ] {
        let s = secret("shop", "copied", json!({ key: value }));
        let d = decide(&review(Operation::Create, Some(s), None), &contract, live.as_ref());
        assert!(!d.allowed, "{key}");
        let v = d.denied().next().unwrap();
        assert_eq!(
            (v.rule.as_str(), v.field.as_str()),
            ("bootstrap-secret-confined", format!("data.{key}").as_str())
        );
        assert!(!d.message().contains(PASSWORD), "{}", d.message());
    }
    let fine = secret("shop", "own", json!({"password": "shop-own-password"}));
    assert!(decide(&review(Operation::Create, Some(fine), None), &contract, live.as_ref()).allowed);
}

/// While a watch is broken the last known facts keep answering, and the
/// decisions say how old they are; only a role removal (a Database created
/// meanwhile may own it) fails closed past `--stale-after`.
#[tokio::test]
async fn a_broken_watch_keeps_the_last_known_facts_and_says_how_old() {
    let api = seeded();
    let (live, contract) = synced(&api, Duration::from_millis(1500)).await;
    let apps = contract.cluster("databases", "apps-pg").unwrap();
    let db = || {
        review(
            Operation::Create,
            Some(database("vergabe-db", "vergabe", "vergabe_db")),
            None,
        )
    };
    let leak = || {
        review(
            Operation::Create,
            Some(secret("shop", "s", json!({"pw": PASSWORD}))),
            None,
        )
    };
    let drop_role = || review(Operation::Update, Some(cluster(&[])), Some(cluster(&["vergabe"])));

    api.set_broken(true);
    wait_for(
        || matches!(live.role_provisioned(apps, "vergabe"), Fact::Aged(true, _)),
        "aged facts",
    )
    .await;
    // Within the bound: the last known facts answer, with a warning.
    let d = decide(&db(), &contract, live.as_ref());
    assert!(d.allowed, "{}", d.message());
    let warnings = d.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("[owner-registered] facts ") && w.contains("old")),
        "{warnings:?}"
    );
    assert!(warnings.iter().all(|w| w.chars().count() <= 120));
    assert!(matches!(live.databases_owned_by(apps, "vergabe"), Fact::Aged(_, _)));

    // Past the bound (1.5 s): still the last known facts, for everything
    // but a role removal.
    wait_for(
        || matches!(live.databases_owned_by(apps, "vergabe"), Fact::Stale(_)),
        "facts past the bound",
    )
    .await;
    assert!(live.health().iter().any(|(_, _, _, broken)| *broken));
    let d = decide(&db(), &contract, live.as_ref());
    assert!(d.allowed, "{}", d.message());
    // Provisioning (clusters watch) and one CR per database (databases watch).
    let rules: Vec<&str> = d.aged.iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(rules, ["owner-registered", "tenant-isolated"], "{:?}", d.aged);
    // The bootstrap password is still caught from its last known fingerprint.
    let d = decide(&leak(), &contract, live.as_ref());
    assert!(!d.allowed);
    let v = d.denied().next().unwrap();
    assert_eq!(
        (v.rule.as_str(), v.field.as_str()),
        ("bootstrap-secret-confined", "data.pw")
    );
    assert!(
        d.warnings()
            .iter()
            .any(|w| w.starts_with("[bootstrap-secret-confined] facts "))
    );
    assert!(!format!("{:?} {:?}", d.message(), d.warnings()).contains(PASSWORD));
    // A compliant Secret is allowed, with the warning.
    let ok = review(
        Operation::Create,
        Some(secret("shop", "s", json!({"pw": "other"}))),
        None,
    );
    assert!(decide(&ok, &contract, live.as_ref()).allowed);
    // Removing a role fails closed.
    assert!(matches!(live.databases_owned_by(apps, "vergabe"), Fact::Stale(_)));
    let d = decide(&drop_role(), &contract, live.as_ref());
    assert!(!d.allowed);
    let v = d.denied().next().unwrap();
    assert_eq!(v.rule.as_str(), "role-registered");
    assert!(v.what.contains("cannot see the cluster state"), "{}", v.line());

    api.set_broken(false);
    wait_for(
        || live.role_provisioned(apps, "vergabe") == Fact::Known(true),
        "recovery",
    )
    .await;
    let d = decide(&db(), &contract, live.as_ref());
    assert!(
        d.allowed && d.aged.is_empty() && d.warnings().is_empty(),
        "{:?}",
        d.warnings()
    );
}

/// Before the first sync nothing is known: the checks that need facts fail
/// closed (the pod is not ready then either).
#[tokio::test]
async fn before_the_first_sync_fact_checks_fail_closed() {
    let api = seeded();
    api.set_broken(true);
    let contract = contract();
    let live = LiveFacts::new(Arc::new(contract.clone()), Duration::from_secs(60));
    live.spawn_watches(api.client());
    let apps = contract.cluster("databases", "apps-pg").unwrap();
    assert!(matches!(live.role_provisioned(apps, "vergabe"), Fact::Stale(_)));
    let d = decide(
        &review(
            Operation::Create,
            Some(database("vergabe-db", "vergabe", "vergabe_db")),
            None,
        ),
        &contract,
        live.as_ref(),
    );
    assert!(!d.allowed);
    let v = d.denied().next().unwrap();
    assert_eq!((v.rule.as_str(), v.field.as_str()), ("owner-registered", "spec.owner"));
    assert!(v.what.contains("has not synced yet"), "{}", v.line());
}

fn audited_cluster() -> MockApi {
    let api = MockApi::default();
    api.set(ALL_CLUSTERS, vec![cluster(&["vergabe", "reporting"])]);
    api.set(
        ALL_DATABASES,
        vec![
            database("vergabe-db", "vergabe", "vergabe_db"),
            database("rogue", "apps_admin", "apps_meta"),
            {
                // Made while the webhook was off: a copy of vergabe's database.
                let mut clone = database("clone", "vergabe", "vergabe_db");
                clone["spec"]["template"] = json!("vergabe_db");
                clone
            },
        ],
    );
    api.set(ALL_POOLERS, vec![]);
    api.set(
        SERVICES,
        vec![json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "apps-pg-lb", "namespace": "databases", "resourceVersion": "1"},
            "spec": {"type": "LoadBalancer", "selector": {"cnpg.io/cluster": "apps-pg"}, "ports": [{"port": 5432}]}})],
    );
    api.set(
        NAMESPACES,
        vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "databases"}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "random-app", "labels": {"railiance.io/postgres-client": "apps-pg"}}}),
        ],
    );
    api.set(POLICIES, vec![]);
    api.forbid(ALL_SECRETS);
    api.set(
        SECRETS,
        vec![secret(
            "databases",
            "apps-pg-credentials",
            json!({"username": "apps_admin", "password": PASSWORD}),
        )],
    );
    api
}

#[tokio::test]
async fn audit_lists_and_reports_in_all_formats() {
    let api = audited_cluster();
    let contract = contract();
    let inventory = audit::inventory(&api.client(), &contract, true).await.unwrap();
    assert!(
        inventory
            .notes
            .iter()
            .any(|n| n.contains("cannot list Secrets cluster-wide")),
        "{:?}",
        inventory.notes
    );
    let (report, notes) = audit::judge(inventory, &contract);
    assert_eq!(report.exit_code(), 1);

    let text = audit::render(&report, &notes, AuditFormat::Text);
    assert!(
        text.contains("[role-registered] Cluster databases/apps-pg: spec.managed.roles[1].name"),
        "{text}"
    );
    assert!(
        text.contains("[owner-registered] Database databases/rogue: spec.owner"),
        "{text}"
    );
    assert!(
        text.contains("[client-label-registered] Namespace random-app"),
        "{text}"
    );
    assert!(text.contains("NOTE cannot list Secrets"), "{text}");
    assert!(
        text.contains("NOTE who wrote each object is not known to an audit: tenant-scoped and platform-only"),
        "{text}"
    );
    // Violations of the tenant-isolation rules made while the webhook was off.
    assert!(
        text.contains("[tenant-isolated] Database databases/clone: spec.template"),
        "{text}"
    );
    assert!(
        text.contains("[network-posture] Service databases/apps-pg-lb: spec.type"),
        "{text}"
    );

    let json: Value = serde_json::from_str(&audit::render(&report, &notes, AuditFormat::Json)).unwrap();
    assert!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["rule"] == "owner-registered" && i["name"] == "rogue" && i["field"] == "spec.owner")
    );

    let yaml = audit::render(&report, &notes, AuditFormat::Policyreport);
    let docs: Vec<Value> = yaml
        .split("---\n")
        .map(|d| serde_norway::from_str(d).unwrap())
        .collect();
    let cluster_report = docs.iter().find(|d| d["kind"] == "ClusterPolicyReport").unwrap();
    assert_eq!(cluster_report["apiVersion"], "wgpolicyk8s.io/v1alpha2");
    assert_eq!(cluster_report["results"][0]["rule"], "client-label-registered");
    assert_eq!(cluster_report["results"][0]["result"], "fail");
    assert_eq!(cluster_report["results"][0]["resources"][0]["name"], "random-app");
    let ns_report = docs
        .iter()
        .find(|d| d["kind"] == "PolicyReport" && d["metadata"]["namespace"] == "databases")
        .unwrap();
    assert!(ns_report["summary"]["fail"].as_u64().unwrap() >= 2);
    assert!(ns_report["summary"]["pass"].as_u64().unwrap() >= 1, "{ns_report}");
    for out in [text, yaml] {
        assert!(!out.contains(PASSWORD));
    }
}

/// The shipped example's default-deny policy and baseline triplet.
fn good_policies() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/examples/good/apps-pg-networkpolicies.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// An absence is a violation too: the audit reports a missing default-deny
/// or baseline policy; with all four in place, none.
#[tokio::test]
async fn audit_reports_missing_protected_policies() {
    let api = audited_cluster();
    let contract = contract();
    let mut policies = good_policies();
    policies.retain(|p| p["metadata"]["name"] != "default-deny-all");
    api.set(POLICIES, policies);
    let (report, notes) = audit::judge(
        audit::inventory(&api.client(), &contract, true).await.unwrap(),
        &contract,
    );
    let text = audit::render(&report, &notes, AuditFormat::Text);
    assert!(
        text.contains("[network-posture] NetworkPolicy databases/default-deny-all: (object): the default-deny policy of databases does not exist"),
        "{text}"
    );
    assert!(!text.contains("allow-egress-kube-api-apps-pg: (object)"), "{text}");
    let json: Value = serde_json::from_str(&audit::render(&report, &notes, AuditFormat::Json)).unwrap();
    assert!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["rule"] == "network-posture" && i["name"] == "default-deny-all" && i["disposition"] == "denied")
    );
    let yaml = audit::render(&report, &notes, AuditFormat::Policyreport);
    assert!(yaml.contains("default-deny-all"), "{yaml}");

    api.set(POLICIES, vec![]);
    let (report, notes) = audit::judge(
        audit::inventory(&api.client(), &contract, true).await.unwrap(),
        &contract,
    );
    let text = audit::render(&report, &notes, AuditFormat::Text);
    for name in [
        "default-deny-all",
        "allow-egress-kube-api-apps-pg",
        "allow-ingress-from-cnpg-operator-apps-pg",
        "allow-ingress-from-app-namespaces-apps-pg",
    ] {
        assert!(
            text.contains(&format!("NetworkPolicy databases/{name}: (object)")),
            "{name}: {text}"
        );
    }
}

#[tokio::test]
async fn audit_of_a_clean_cluster_exits_zero_and_an_unreachable_one_errors() {
    let api = audited_cluster();
    api.set(ALL_CLUSTERS, vec![cluster(&["vergabe"])]);
    api.set(ALL_DATABASES, vec![database("vergabe-db", "vergabe", "vergabe_db")]);
    api.set(
        NAMESPACES,
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "vergabe-teilnahme", "labels": {"railiance.io/postgres-client": "apps-pg"}}})],
    );
    api.set(POLICIES, good_policies());
    api.set(SERVICES, vec![]);
    let contract = contract();
    let (report, _) = audit::judge(
        audit::inventory(&api.client(), &contract, true).await.unwrap(),
        &contract,
    );
    assert_eq!(
        report.exit_code(),
        0,
        "{}",
        audit::render(&report, &[], AuditFormat::Text)
    );

    api.set_broken(true);
    assert!(audit::inventory(&api.client(), &contract, true).await.is_err());
}

/// The age a decision gives aged facts is the outage's, not the time since
/// the watch's last event: a quiet watch was current until it broke.
#[tokio::test]
async fn aged_facts_count_from_the_break_not_from_the_last_event() {
    let api = seeded();
    let (live, contract) = synced(&api, Duration::from_secs(60)).await;
    let apps = contract.cluster("databases", "apps-pg").unwrap();
    // A quiet watch: no event for over two seconds.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    api.set_broken(true);
    wait_for(
        || matches!(live.role_provisioned(apps, "vergabe"), Fact::Aged(true, _)),
        "aged facts",
    )
    .await;
    let Fact::Aged(_, note) = live.role_provisioned(apps, "vergabe") else {
        panic!("not aged");
    };
    assert!(note.starts_with("0 s old (watch "), "{note}");
}
