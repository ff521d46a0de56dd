//! What the webhook answers for a review, as kube-apiserver sees it: the
//! real `cnpg-guard serve` over real HTTPS, fixtures shaped like real
//! AdmissionReviews. Allowed, denied and warned, the messages, the bad
//! reviews' 400s, the decision records, and the canary Secret value that
//! must come out nowhere.

mod support;

use base64::Engine;
use rstest::rstest;
use serde_json::Value;
use support::*;

fn rules_of(resp: &Value) -> Vec<String> {
    resp["response"]["auditAnnotations"]["rules"]
        .as_str()
        .map(|s| s.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[rstest]
#[case::namespace_allowed("namespace-create-allowed.json", true, &[], None)]
#[case::namespace_denied("namespace-create-denied.json", false, &["client-label-registered"], Some("metadata.labels[railiance.io/postgres-client]"))]
#[case::namespace_delete_shared("namespace-delete-databases.json", false, &["cluster-identity"], Some("metadata.name"))]
#[case::cluster_allowed("cluster-create-allowed.json", true, &[], None)]
#[case::cluster_update_denied("cluster-update-denied.json", false, &["cluster-identity", "role-registered"], Some("spec.managed.roles[1].name"))]
#[case::cluster_delete_denied("cluster-delete-denied.json", false, &["cluster-identity"], Some("metadata.name"))]
#[case::reject_an_unknown_requesters_storage_change("cluster-update-platform-only-denied.json", false, &["platform-only"], Some("spec.storage"))]
#[case::reject_an_unknown_requester_locking_a_tenant_out("database-update-unknown-denied.json", false, &["tenant-scoped"], Some("spec.owner"))]
#[case::accept_the_tenants_own_identity("database-update-consumer-allowed.json", true, &[], None)]
#[case::database_allowed("database-create-allowed.json", true, &[], None)]
#[case::database_denied("database-create-denied.json", false, &["owner-registered"], Some("spec.owner"))]
#[case::pooler_denied("pooler-create-denied.json", false, &["cluster-identity"], Some("metadata.namespace"))]
#[case::networkpolicy_allowed("networkpolicy-create-allowed.json", true, &[], None)]
#[case::networkpolicy_denied("networkpolicy-create-denied.json", false, &["network-posture"], Some("spec.ingress[0].from[0].ipBlock"))]
#[case::networkpolicy_delete_denied("networkpolicy-delete-denied.json", false, &["network-posture"], Some("metadata.name"))]
#[case::secret_allowed("secret-create-allowed.json", true, &[], None)]
#[case::secret_denied("secret-create-denied.json", false, &["bootstrap-secret-confined"], Some("data.username"))]
#[case::secret_update_allowed("secret-update-allowed.json", true, &[], None)]
#[case::uncovered_kind_allowed("configmap-create.json", true, &[], None)]
#[tokio::test]
async fn verdicts(#[case] name: &str, #[case] allowed: bool, #[case] rules: &[&str], #[case] field: Option<&str>) {
    let server = Server::start();
    let body = fixture(name);
    let uid = serde_json::from_str::<Value>(&body).unwrap()["request"]["uid"].clone();
    let (status, resp) = post(&server.client(), &server.url(), body).await;
    assert_eq!(status, 200);
    assert_eq!(resp["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(resp["kind"], "AdmissionReview");
    let r = &resp["response"];
    assert_eq!(r["uid"], uid);
    assert_eq!(r["allowed"], allowed, "{resp:#}");
    let mut got = rules_of(&resp);
    got.sort();
    assert_eq!(got, rules, "{resp:#}");
    if !allowed {
        assert_eq!(r["status"]["code"], 403);
        assert_eq!(r["status"]["reason"], "Forbidden");
        let message = r["status"]["message"].as_str().unwrap();
        for line in message.lines() {
            assert!(line.starts_with('[') && line.contains(". Fix: "), "{line}");
        }
        assert!(message.contains(&format!(": {}: ", field.unwrap())), "{message}");
        assert_eq!(r["auditAnnotations"]["decision"], "deny");
    }
    // One audit record per decision, for covered kinds.
    let records = server.audit_records();
    if name != "configmap-create.json" {
        assert_eq!(records.len(), 1, "{}", server.audit());
        assert_eq!(records[0]["uid"], uid);
        assert_eq!(records[0]["decision"], if allowed { "allow" } else { "deny" });
    }
}

#[tokio::test]
async fn dry_run_gets_the_same_verdict() {
    let server = Server::start();
    let client = server.client();
    let (_, real) = post(&client, &server.url(), fixture("database-create-denied.json")).await;
    let (_, dry) = post(&client, &server.url(), fixture("database-create-denied-dryrun.json")).await;
    assert_eq!(real["response"]["allowed"], false);
    assert_eq!(dry["response"]["allowed"], false);
    assert_eq!(
        real["response"]["status"]["message"],
        dry["response"]["status"]["message"]
    );
    let records = server.audit_records();
    assert_eq!(records[1]["dryRun"], true);
}

#[tokio::test]
async fn ratcheting_break_glass_and_exempt_users() {
    let server = Server::start();
    let client = server.client();

    let (_, r) = post(&client, &server.url(), fixture("namespace-update-ratchet.json")).await;
    assert_eq!(r["response"]["allowed"], true, "{r:#}");
    let warnings = r["response"]["warnings"].as_array().expect("warnings");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("[client-label-registered] (pre-existing)"),
        "{warnings:?}"
    );

    let (_, r) = post(&client, &server.url(), fixture("cluster-delete-breakglass.json")).await;
    assert_eq!(r["response"]["allowed"], true, "{r:#}");
    assert_eq!(r["response"]["auditAnnotations"]["decision"], "break-glass");
    assert_eq!(
        r["response"]["auditAnnotations"]["break-glass"],
        "CHG-1234 planned rebuild"
    );
    assert!(
        r["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("[cluster-identity] (break-glass)")
    );

    let (_, r) = post(
        &client,
        &server.url(),
        fixture("cluster-delete-breakglass-wrong-group.json"),
    )
    .await;
    assert_eq!(r["response"]["allowed"], false);
    assert!(
        r["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no break-glass group")
    );

    let (_, r) = post(&client, &server.url(), fixture("exempt-operator-update.json")).await;
    assert_eq!(r["response"]["allowed"], true, "{r:#}");
    assert_eq!(r["response"]["auditAnnotations"]["decision"], "exempt");

    let records = server.audit_records();
    assert_eq!(records.len(), 4);
    assert_eq!(records[1]["breakGlass"], "CHG-1234 planned rebuild");
    assert_eq!(records[1]["user"], "bob");
    // UPDATE records carry an RFC 6902 patch from old to new.
    let patch = records[0]["patch"].as_array().expect("patch");
    assert!(
        patch
            .iter()
            .any(|op| op["op"] == "add" && op["path"] == "/metadata/labels/team"),
        "{patch:?}"
    );
}

#[rstest]
#[case::not_json("this is not json", "not a JSON AdmissionReview")]
#[case::wrong_api_version(
    r#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#,
    "apiVersion must be admission.k8s.io/v1"
)]
#[case::missing_request(r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "has no request")]
#[tokio::test]
async fn bad_input_is_a_clear_400(#[case] body: &str, #[case] says: &str) {
    let server = Server::start();
    let (status, resp) = post(&server.client(), &server.url(), body.to_owned()).await;
    assert_eq!(status, 400);
    assert!(
        resp["response"]["status"]["message"].as_str().unwrap().contains(says),
        "{resp}"
    );
}

#[tokio::test]
async fn missing_uid_and_mismatched_kind_are_400() {
    let server = Server::start();
    let client = server.client();
    let mut review: Value = serde_json::from_str(&fixture("namespace-create-allowed.json")).unwrap();
    review["request"]["uid"] = Value::String(String::new());
    let (status, resp) = post(&client, &server.url(), review.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        resp["response"]["status"]["message"].as_str().unwrap().contains("uid"),
        "{resp}"
    );

    review["request"].as_object_mut().unwrap().remove("uid");
    let (status, _) = post(&client, &server.url(), review.to_string()).await;
    assert_eq!(status, 400);

    let (status, resp) = post(&client, &server.url(), fixture("mismatch-kind.json")).await;
    assert_eq!(status, 400);
    assert!(
        resp["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("does not match request.kind"),
        "{resp}"
    );
    // An AdmissionReview like every answer: denied with the code, and the
    // request's uid where it could be read.
    let sent: Value = serde_json::from_str(&fixture("mismatch-kind.json")).unwrap();
    assert_eq!(resp["kind"], "AdmissionReview");
    assert_eq!(resp["response"]["uid"], sent["request"]["uid"]);
    assert_eq!(resp["response"]["allowed"], false);
    assert_eq!(resp["response"]["status"]["code"], 400);
    assert!(!resp.to_string().contains(CANARY));
    assert!(
        server
            .metrics()
            .contains("cnpg_guard_rejected_requests_total{reason=\"bad_request\"} 3")
    );
}

/// Output is bounded whatever the object holds: a Cluster UPDATE that adds
/// 2,000 unregistered managed roles and drops a 20,000-element array gets a
/// denial listing 20 violations and how many more, and a decision record
/// line under 16 KiB whose patch is cut and marked.
#[tokio::test]
async fn output_is_bounded() {
    let server = Server::start();
    let mut review: Value = serde_json::from_str(&fixture("cluster-update-denied.json")).unwrap();
    let roles: Vec<Value> = (0..2000)
        .map(|i| serde_json::json!({"name": format!("intruder_{i}"), "login": true}))
        .collect();
    review["request"]["object"]["spec"]["managed"]["roles"] = Value::Array(roles);
    review["request"]["oldObject"]["spec"]["extra"] = Value::Array((0..20_000).map(Value::from).collect());
    let (status, resp) = post(&server.client(), &server.url(), review.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(resp["response"]["allowed"], false);
    let message = resp["response"]["status"]["message"].as_str().unwrap();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 21, "{message}");
    assert!(
        lines[20].starts_with("… and ") && lines[20].ends_with(" more (see the decision log)"),
        "{}",
        lines[20]
    );
    assert!(message.len() < 8 * 1024, "{} bytes", message.len());

    let raw = server.audit();
    let line = raw.lines().last().unwrap();
    assert!(line.len() < 16 * 1024, "a record line of {} bytes", line.len());
    let record: Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["decision"], "deny");
    assert!(
        record["findingsOmitted"].as_u64().unwrap() > 1900,
        "{}",
        record["findingsOmitted"]
    );
    let cut = &record["patchTruncated"];
    assert!(cut["total"].as_u64().unwrap() > 2000, "{cut}");
    assert_eq!(
        cut["kept"].as_u64().unwrap() as usize,
        record["patch"].as_array().unwrap().len()
    );
}

#[tokio::test]
async fn no_secret_value_in_responses_logs_audit_or_metrics() {
    let server = Server::start(); // RUST_LOG=trace: every level is checked
    let client = server.client();
    let encoded = base64::engine::general_purpose::STANDARD.encode(CANARY);
    let mut responses = String::new();
    // A Secret declared as another kind: the 400 must not echo it.
    let mut mismatch: Value = serde_json::from_str(&fixture("secret-create-denied.json")).unwrap();
    mismatch["request"]["kind"]["kind"] = Value::String("Namespace".into());
    // A Secret whose data does not decode: neither must that error.
    let mut undecodable: Value = serde_json::from_str(&fixture("secret-create-denied.json")).unwrap();
    undecodable["request"]["object"]["data"]["password"] = Value::String(format!("{CANARY}!!"));
    for (name, body) in [
        ("secret-create-allowed.json", fixture("secret-create-allowed.json")),
        ("secret-create-denied.json", fixture("secret-create-denied.json")),
        ("secret-update-allowed.json", fixture("secret-update-allowed.json")),
        ("mismatch", mismatch.to_string()),
        ("undecodable", undecodable.to_string()),
    ] {
        assert!(
            body.contains(CANARY) || body.contains(&encoded),
            "{name} must carry the canary"
        );
        let (_, resp) = post(&client, &server.url(), body).await;
        responses.push_str(&resp.to_string());
    }
    let everything = format!(
        "{responses}\n{}\n{}\n{}",
        server.logs(),
        server.audit(),
        server.metrics()
    );
    assert!(
        server.logs().contains("\"level\":\"DEBUG\""),
        "logs must be at debug/trace level for this test"
    );
    for needle in [CANARY, encoded.as_str(), &encoded[..encoded.len() - 4]] {
        assert!(
            !everything.contains(needle),
            "the canary {needle:?} leaked:\n{everything}"
        );
    }
    // The audit records exist and are redacted, not empty.
    let audit = server.audit();
    assert!(audit.contains("<redacted"), "{audit}");
    // The update's patch shows that the password changed, not to what.
    assert!(
        audit.contains(r#""path":"/data/password","value":"<redacted:changed>""#),
        "{audit}"
    );
}

/// Without a cluster, `--facts-from` manifests answer the checks that need
/// facts: the provisioning check runs instead of being skipped.
#[tokio::test]
async fn facts_from_manifests_replace_skipped_checks() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/good");
    let plain = Server::start();
    let with_facts = Server::start_with(Options {
        extra: vec!["--facts-from".into(), examples.display().to_string()],
        ..Options::default()
    });
    for server in [&plain, &with_facts] {
        let (_, r) = post(&server.client(), &server.url(), fixture("database-create-allowed.json")).await;
        assert_eq!(r["response"]["allowed"], true);
    }
    let skipped = |s: &Server| s.audit_records()[0]["skipped"].as_array().unwrap().len();
    assert_eq!(skipped(&plain), 2, "{}", plain.audit());
    assert_eq!(
        plain.audit_records()[0]["skipped"][0],
        "[owner-registered] Database databases/vergabe-db: role \"vergabe\" is provisioned \
         (no live cluster facts (offline))"
    );
    assert_eq!(
        plain.audit_records()[0]["skipped"][1],
        "[tenant-isolated] Database databases/vergabe-db: no other Database CR manages database \"vergabe_db\" \
         (no live cluster facts (offline))"
    );
    assert_eq!(skipped(&with_facts), 0, "{}", with_facts.audit());
    assert!(with_facts.logs().contains("offline facts loaded from manifests"));
}
