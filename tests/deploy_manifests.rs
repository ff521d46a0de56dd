//! The shipped deployment agrees with the code: the webhook intercepts
//! exactly what CONTRACT.md lists (and the server handles), keeps the
//! cluster repairable, and the RBAC never reaches Secrets beyond the
//! bootstrap Secret. Also `cnpg-guard certs`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use rustls_pki_types::pem::PemObject;
use serde_json::Value;

fn yaml_docs(rel: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

#[test]
fn webhook_rules_are_exactly_the_contract_table() {
    let docs = yaml_docs("deploy/base/validatingwebhookconfiguration.yaml");
    let hook = &docs[0]["webhooks"][0];
    let mut got = BTreeSet::new();
    for rule in hook["rules"].as_array().unwrap() {
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for op in rule["operations"].as_array().unwrap() {
                    assert_eq!(rule["apiVersions"], serde_json::json!(["v1"]));
                    got.insert(format!(
                        "{}/{}/{}",
                        group.as_str().unwrap(),
                        resource.as_str().unwrap(),
                        op.as_str().unwrap()
                    ));
                }
            }
        }
    }
    let want: BTreeSet<String> = [
        ("postgresql.cnpg.io", "clusters", &["CREATE", "UPDATE", "DELETE"][..]),
        ("postgresql.cnpg.io", "databases", &["CREATE", "UPDATE"]),
        ("postgresql.cnpg.io", "poolers", &["CREATE", "UPDATE"]),
        ("", "namespaces", &["CREATE", "UPDATE", "DELETE"]),
        ("networking.k8s.io", "networkpolicies", &["CREATE", "UPDATE", "DELETE"]),
        ("", "secrets", &["CREATE", "UPDATE"]),
    ]
    .iter()
    .flat_map(|(g, r, ops)| ops.iter().map(move |o| format!("{g}/{r}/{o}")))
    .collect();
    assert_eq!(got, want);
    assert_eq!(hook["failurePolicy"], "Fail");
    assert_eq!(hook["sideEffects"], "None");
    assert!(hook["timeoutSeconds"].as_u64().unwrap() <= 5);
    assert_eq!(hook["admissionReviewVersions"], serde_json::json!(["v1"]));
    assert_eq!(hook["matchPolicy"], "Equivalent");
    assert_eq!(hook["clientConfig"]["service"]["path"], "/validate");
    let excluded = &hook["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(excluded["key"], "kubernetes.io/metadata.name");
    assert_eq!(excluded["operator"], "NotIn");
    for ns in ["kube-system", "kube-node-lease", "cnpg-guard"] {
        assert!(
            excluded["values"].as_array().unwrap().iter().any(|v| v == ns),
            "{ns} must be excluded"
        );
    }
    assert!(!hook["matchConditions"].as_array().unwrap().is_empty());
}

#[test]
fn rbac_reads_only_the_bootstrap_secret() {
    for doc in yaml_docs("deploy/base/rbac.yaml") {
        for rule in doc["rules"].as_array().into_iter().flatten() {
            for verb in rule["verbs"].as_array().unwrap() {
                assert!(
                    ["get", "list", "watch"].contains(&verb.as_str().unwrap()),
                    "write verb {verb} in {doc}"
                );
            }
            if rule["resources"].as_array().unwrap().iter().any(|r| r == "secrets") {
                assert_eq!(doc["kind"], "Role", "Secrets only through a namespaced Role");
                assert_eq!(rule["resourceNames"], serde_json::json!(["apps-pg-credentials"]));
            }
        }
    }
}

#[test]
fn deployment_is_hardened() {
    let docs = yaml_docs("deploy/base/deployment.yaml");
    let spec = &docs[0]["spec"];
    assert_eq!(spec["replicas"], 2);
    let pod = &spec["template"]["spec"];
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    let drain: u64 = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| {
            a.as_str()
                .unwrap()
                .strip_prefix("--drain-timeout=")
                .map(|v| v.parse().unwrap())
        })
        .expect("--drain-timeout in args");
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > drain);
    // Every flag in args is one the binary accepts.
    let out = Command::new(env!("CARGO_BIN_EXE_cnpg-guard"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for arg in c["args"].as_array().unwrap().iter().skip(1) {
        let flag = arg.as_str().unwrap().split('=').next().unwrap();
        assert!(help.contains(flag), "{flag} is not a serve flag");
    }
}

#[test]
fn certs_writes_key_material_for_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cnpg-guard"))
        .args(["certs", "--out"])
        .arg(dir.path())
        .args(["--service", "guard", "--namespace", "sec", "--days", "7"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cert = std::fs::read(dir.path().join("tls.crt")).unwrap();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(&cert).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    let sans = format!("{:?}", parsed.subject_alternative_name().unwrap().unwrap().value);
    for name in ["guard.sec.svc", "guard.sec.svc.cluster.local"] {
        assert!(sans.contains(name), "{sans}");
    }
    let days = (parsed.validity().not_after.timestamp() - parsed.validity().not_before.timestamp()) / 86400;
    assert!((7..=8).contains(&days));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tls.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "tls.key must be private");
    }
    use base64::Engine;
    let bundle = std::fs::read_to_string(dir.path().join("ca-bundle.b64")).unwrap();
    let ca = base64::engine::general_purpose::STANDARD.decode(bundle.trim()).unwrap();
    assert_eq!(ca, std::fs::read(dir.path().join("ca.crt")).unwrap());
    assert!(!dir.path().join("ca.key").exists());
}
