//! A running `cnpg-guard serve` over its life: the admin port (health,
//! readiness, metrics), a rotated certificate and a changed or broken
//! contract reloaded while serving, SIGTERM drained. Its start-up:
//! tests/startup.rs.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

#[tokio::test]
async fn admin_port_health_readiness_and_metrics() {
    // Started with a lower soft open-files limit than the hard one, it
    // raises its own (below).
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, soft.min(4096), hard);
    let server = Server::start();
    let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard);
    assert_eq!(admin_get(server.admin, "/healthz").unwrap().0, 200);
    assert_eq!(admin_get(server.admin, "/readyz").unwrap().0, 200);
    let client = server.client();
    post(&client, &server.url(), fixture("database-create-denied.json")).await;
    post(&client, &server.url(), fixture("namespace-create-allowed.json")).await;
    let m = server.metrics();
    for needle in [
        "cnpg_guard_reviews_total{kind=\"Database\",operation=\"CREATE\",decision=\"deny\"} 1",
        "cnpg_guard_reviews_total{kind=\"Namespace\",operation=\"CREATE\",decision=\"allow\"} 1",
        "cnpg_guard_violations_total{rule=\"owner-registered\",mode=\"enforce\"}",
        "cnpg_guard_review_duration_seconds_count 2",
        "# EOF",
    ] {
        assert!(m.contains(needle), "{needle} not in\n{m}");
    }
    // The open-files limit was raised to the hard limit at start.
    let logs = server.logs();
    let raised = logs
        .lines()
        .filter(|l| l.contains("file descriptor limit"))
        .find_map(|l| serde_json::from_str::<Value>(l).ok()?["open_files"].as_u64())
        .unwrap_or_else(|| panic!("no file descriptor limit line in\n{logs}"));
    if hard <= 1 << 20 {
        assert_eq!(raised, hard);
    }
}

#[tokio::test]
async fn certificate_rotation_while_serving() {
    let server = Server::start();
    let old_client = server.client();
    let (status, _) = post(&old_client, &server.url(), fixture("namespace-create-allowed.json")).await;
    assert_eq!(status, 200);

    // Garbage first: the last good certificate keeps being served.
    std::fs::write(&server.pki.cert, "not a certificate").unwrap();
    server
        .wait_for_metric("cnpg_guard_certificate_reloads_total{result=\"failed\"} 1")
        .await;
    let fresh_old = client(&server.pki.ca, None);
    assert_eq!(
        post(&fresh_old, &server.url(), fixture("namespace-create-allowed.json"))
            .await
            .0,
        200
    );
    assert!(server.logs().contains("cannot reload the serving certificate"));
    assert!(
        server
            .metrics()
            .contains("cnpg_guard_certificate_reloads_total{result=\"failed\"} 1")
    );

    // A renewed certificate from a new CA, as cert-manager would write it.
    let renewed = write_pki(server.dir.path(), "renewed-");
    std::fs::copy(&renewed.cert, &server.pki.cert).unwrap();
    std::fs::copy(&renewed.key, &server.pki.key).unwrap();
    server
        .wait_for_metric("cnpg_guard_certificate_reloads_total{result=\"ok\"} 1")
        .await;

    // The connection in use keeps working (it was established before).
    let (status, _) = post(&old_client, &server.url(), fixture("namespace-create-allowed.json")).await;
    assert_eq!(status, 200);
    // New connections get the renewed certificate.
    let new_client = client(&renewed.ca, None);
    assert_eq!(
        post(&new_client, &server.url(), fixture("namespace-create-allowed.json"))
            .await
            .0,
        200
    );
    let stale = client(&server.pki.ca, None);
    assert!(
        stale.post(server.url()).body("{}").send().await.is_err(),
        "old CA must no longer verify"
    );
    assert!(
        server
            .metrics()
            .contains("cnpg_guard_certificate_reloads_total{result=\"ok\"} 1")
    );
    assert!(server.metrics().contains("cnpg_guard_certificate_expiry_seconds"));
}

#[tokio::test]
async fn contract_reload_keeps_the_last_good_contract() {
    let contract = cnpg_guard::contract::EMBEDDED_CONTRACT.to_owned();
    let server = Server::start_with(Options {
        contract: Some(contract.clone()),
        ..Options::default()
    });
    let client = server.client();
    let (_, r) = post(&client, &server.url(), fixture("namespace-create-denied.json")).await;
    assert_eq!(r["response"]["allowed"], false);

    // Register random-app: the same request is now allowed.
    let path = server.dir.path().join("contract.yaml");
    let with_consumer = contract.replace(
        "        databases: [vergabe_db]\n",
        "        databases: [vergabe_db]\n      - namespace: random-app\n        role: random\n        databases: [random_db]\n",
    );
    std::fs::write(&path, &with_consumer).unwrap();
    server
        .wait_for_metric("cnpg_guard_contract_reloads_total{result=\"ok\"} 1")
        .await;
    let (_, r) = post(&client, &server.url(), fixture("namespace-create-denied.json")).await;
    assert_eq!(r["response"]["allowed"], true, "{}", server.logs());

    // A broken contract is refused, logged and counted; the last good one stays.
    std::fs::write(
        &path,
        "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters: [oops\n",
    )
    .unwrap();
    server
        .wait_for_metric("cnpg_guard_contract_reloads_total{result=\"failed\"} 1")
        .await;
    let (_, r) = post(&client, &server.url(), fixture("namespace-create-denied.json")).await;
    assert_eq!(r["response"]["allowed"], true);
    assert!(server.logs().contains("contract reload failed"), "{}", server.logs());
    let metrics = server.metrics();
    assert!(
        metrics.contains("cnpg_guard_contract_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cnpg_guard_contract_reloads_total{result=\"failed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn contract_deleted_truncated_or_garbage_keeps_the_last_good_one() {
    let server = Server::start_with(Options {
        contract: Some(cnpg_guard::contract::EMBEDDED_CONTRACT.to_owned()),
        ..Options::default()
    });
    let client = server.client();
    let path = server.dir.path().join("contract.yaml");
    let contract = cnpg_guard::contract::EMBEDDED_CONTRACT;
    let faults: [(&str, Option<String>); 3] = [
        ("deleted", None),
        ("truncated", Some(contract[..contract.len() / 3].to_owned())),
        ("garbage", Some("\u{0}\u{1}{{{{ not yaml".to_owned())),
    ];
    for (n, (fault, content)) in faults.into_iter().enumerate() {
        match content {
            None => std::fs::remove_file(&path).unwrap(),
            Some(c) => std::fs::write(&path, c).unwrap(),
        }
        server
            .wait_for_metric(&format!(
                "cnpg_guard_contract_reloads_total{{result=\"failed\"}} {}",
                n + 1
            ))
            .await;
        // Every valid review still gets a correct verdict.
        let (_, denied) = post(&client, &server.url(), fixture("namespace-create-denied.json")).await;
        assert_eq!(denied["response"]["allowed"], false, "{fault}");
        let (_, allowed) = post(&client, &server.url(), fixture("namespace-create-allowed.json")).await;
        assert_eq!(allowed["response"]["allowed"], true, "{fault}");
        // Still ready (it has a good contract), and the failure is visible.
        assert_eq!(admin_get(server.admin, "/readyz").unwrap().0, 200, "{fault}");
        let metrics = server.metrics();
        let want = format!("cnpg_guard_contract_reloads_total{{result=\"failed\"}} {}", n + 1);
        assert!(metrics.contains(&want), "{fault}: {want} not in\n{metrics}");
    }
    assert!(server.logs().contains("cannot read the contract"));
    assert!(server.logs().contains("contract reload failed"));
    assert!(server.child.id() > 0);
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let mut server = Server::start();
    let client = server.client();
    let url = server.url();
    let load = tokio::spawn(async move {
        let mut answered = 0;
        for _ in 0..400 {
            match client
                .post(&url)
                .body(fixture("database-create-denied.json"))
                .send()
                .await
            {
                Ok(resp) => {
                    let v: Value = resp.json().await.expect("a complete, valid answer");
                    assert_eq!(v["response"]["allowed"], false);
                    answered += 1;
                }
                Err(_) => break, // the listener is closed: no new connections
            }
        }
        answered
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || {
        let s = server.terminate();
        (s, server.logs())
    })
    .await
    .unwrap();
    assert!(status.0.success(), "exit {:?}: {}", status.0, status.1);
    assert!(status.1.contains("shutting down"));
    assert!(load.await.unwrap() > 0);
}
