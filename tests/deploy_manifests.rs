//! The shipped deployment agrees with the code: the webhook intercepts
//! exactly what docs/contract.md lists (and the server handles), keeps the
//! cluster repairable, and the RBAC never reaches Secrets beyond the
//! bootstrap Secret; the overlays render with kustomize's default options;
//! the mounted contract is the embedded one; the self-protection policy
//! guards exactly the guard's own objects for the contract's break-glass
//! groups. (`cnpg-guard certs` itself: tests/cli.rs.)

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use cnpg_guard::model::kinds::{Feeds, KINDS, Listed, Reach};

use serde_json::Value;
use support::{copy_dir_except, root, yaml_docs, yaml_file};

#[test]
fn webhook_rules_are_exactly_the_contract_table() {
    let docs = yaml_file(&root().join("deploy/base/validatingwebhookconfiguration.yaml"));
    let hook = &docs[0]["webhooks"][0];
    let mut got = BTreeSet::new();
    for rule in hook["rules"].as_array().unwrap() {
        // The scope matches the kinds': a cluster-scoped kind (Namespace,
        // ClusterImageCatalog) is never matched by a `Namespaced` rule.
        let scopes: BTreeSet<&str> = rule["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| KINDS.iter().find(|k| k.plural == r.as_str().unwrap()))
            .map(|k| if k.namespaced { "Namespaced" } else { "Cluster" })
            .collect();
        let scope = rule["scope"].as_str().unwrap_or("*");
        assert!(
            scope == "*" || scopes.iter().all(|s| *s == scope),
            "rule {rule}: scope {scope}, its kinds are {scopes:?}"
        );
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
    // The table of covered kinds, everywhere-intercepted rows.
    let want: BTreeSet<String> = KINDS
        .iter()
        .filter(|k| k.reach == Reach::Everywhere)
        .flat_map(|k| {
            k.operations
                .iter()
                .map(move |o| format!("{}/{}/{}", k.group, k.plural, o.as_str()))
        })
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

/// Services are intercepted only in the shared namespaces, by a second
/// entry, so no other Service write waits on the guard; its namespaces are
/// the contract's.
#[test]
fn services_are_intercepted_only_in_the_shared_namespaces() {
    let docs = yaml_file(&root().join("deploy/base/validatingwebhookconfiguration.yaml"));
    let hooks = docs[0]["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    let first = &hooks[0];
    assert!(
        !first["rules"].to_string().contains("services"),
        "the main entry does not intercept Services"
    );
    let hook = &hooks[1];
    assert_eq!(hook["name"], "services.cnpg-guard.railiance.io");
    let shared: Vec<serde_json::Value> = KINDS
        .iter()
        .filter(|k| k.reach == Reach::SharedNamespaces)
        .map(|k| {
            serde_json::json!({"apiGroups": [k.group], "apiVersions": [k.version], "resources": [k.plural],
                "operations": k.operations.iter().map(|o| o.as_str()).collect::<Vec<_>>(), "scope": "Namespaced"})
        })
        .collect();
    assert_eq!(hook["rules"], serde_json::Value::Array(shared));
    for key in [
        "failurePolicy",
        "sideEffects",
        "timeoutSeconds",
        "matchPolicy",
        "clientConfig",
        "admissionReviewVersions",
    ] {
        assert_eq!(hook[key], first[key], "{key} as the main entry");
    }
    let contract: Value =
        serde_norway::from_str(&std::fs::read_to_string(root().join("deploy/base/contract.yaml")).unwrap()).unwrap();
    let shared: Vec<Value> = contract["sharedClusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["namespace"].clone())
        .collect();
    assert_eq!(
        hook["namespaceSelector"],
        serde_json::json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": shared}]})
    );
}

/// The RBAC lets the guard read every kind where the table of kinds says
/// `audit` lists it, and watch every kind whose objects feed its facts:
/// a kind added to the table without its RBAC fails here.
#[test]
fn rbac_reads_what_the_table_of_kinds_lists_and_watches() {
    let docs = yaml_file(&root().join("deploy/base/rbac.yaml"));
    let contract = cnpg_guard::contract::load_file(&root().join("deploy/base/contract.yaml")).unwrap();
    let grants = |doc_kind: &str, namespace: Option<&str>, group: &str, plural: &str, verb: &str| {
        docs.iter()
            .filter(|d| d["kind"] == doc_kind && namespace.is_none_or(|ns| d["metadata"]["namespace"] == ns))
            .flat_map(|d| d["rules"].as_array().into_iter().flatten())
            .any(|r| {
                let has = |key: &str, v: &str| r[key].as_array().is_some_and(|a| a.iter().any(|x| x == v));
                has("apiGroups", group) && has("resources", plural) && has("verbs", verb)
            })
    };
    for d in KINDS {
        let mut verbs = vec!["list"];
        if d.feeds != Feeds::Nothing {
            verbs.push("watch");
        }
        for verb in verbs {
            match d.listed {
                Listed::Everywhere => assert!(
                    grants("ClusterRole", None, d.group, d.plural, verb),
                    "the ClusterRole does not {verb} {}",
                    d.plural
                ),
                Listed::SharedNamespaces | Listed::BootstrapSecrets => {
                    for c in &contract.clusters {
                        assert!(
                            grants("Role", Some(&c.namespace), d.group, d.plural, verb),
                            "no Role in {} may {verb} {}",
                            c.namespace,
                            d.plural
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn rbac_reads_only_the_bootstrap_secret() {
    for doc in yaml_file(&root().join("deploy/base/rbac.yaml")) {
        for rule in doc["rules"].as_array().into_iter().flatten() {
            for verb in rule["verbs"].as_array().unwrap() {
                assert!(
                    ["get", "list", "watch"].contains(&verb.as_str().unwrap()),
                    "write verb {verb} in {doc}"
                );
            }
            if rule["resources"].as_array().unwrap().iter().any(|r| r == "secrets") {
                assert_eq!(doc["kind"], "Role", "Secrets only through a namespaced Role");
                // The contract's bootstrap Secret(s), in their shared namespace.
                let contract = cnpg_guard::contract::load_file(&root().join("deploy/base/contract.yaml")).unwrap();
                let (namespaces, secrets): (Vec<&str>, Vec<&str>) = contract
                    .clusters
                    .iter()
                    .map(|c| (c.namespace.as_str(), c.bootstrap.secret.as_str()))
                    .unzip();
                assert!(
                    namespaces.contains(&doc["metadata"]["namespace"].as_str().unwrap()),
                    "{doc}"
                );
                assert_eq!(rule["resourceNames"], serde_json::json!(secrets));
            }
        }
    }
}

#[test]
fn deployment_is_hardened() {
    let docs = yaml_file(&root().join("deploy/base/deployment.yaml"));
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

/// The final stage of a Dockerfile: its lines from the last `FROM` on,
/// comments and blank lines left out.
fn final_stage(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    lines[from..]
        .iter()
        .map(|l| l.trim_end().to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The registry Dockerfile (a builder stage) and Dockerfile.prebuilt (a
/// binary built on the host, `make image`) end in the same final stage: the
/// same image layout, FROM scratch, uid 65532, `serve` by default.
#[test]
fn both_dockerfiles_build_the_same_image() {
    let registry = final_stage("Dockerfile");
    let prebuilt = final_stage("Dockerfile.prebuilt");
    let same_source = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .map(|l| l.replace("COPY --from=builder /cnpg-guard ", "COPY cnpg-guard "))
            .collect()
    };
    assert_eq!(same_source(&registry), same_source(&prebuilt));
    assert_eq!(prebuilt[0], "FROM scratch");
    for line in [
        "COPY cnpg-guard /usr/local/bin/cnpg-guard",
        "USER 65532:65532",
        r#"ENTRYPOINT ["/usr/local/bin/cnpg-guard"]"#,
        r#"CMD ["serve"]"#,
    ] {
        assert!(prebuilt.iter().any(|l| l == line), "{line} missing from {prebuilt:?}");
    }
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    // Every bench and test target Cargo.toml declares by path has a
    // placeholder in the builder (benches/ is copied, tests/ is not): cargo
    // refuses a manifest whose declared target file is missing.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut declared = Vec::new();
    for (section, dir) in [("[[test]]", "tests"), ("[[bench]]", "benches")] {
        for block in manifest.split(section).skip(1) {
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("name = "))
                .map(|n| n.trim_matches('"'))
                .unwrap();
            declared.push(format!("> {dir}/{name}.rs"));
        }
    }
    assert!(declared.len() >= 3, "{declared:?}");
    for placeholder in declared {
        assert!(
            dockerfile.contains(&placeholder),
            "Dockerfile: no placeholder {placeholder}"
        );
    }
    // Both build the binary the same way: statically linked, glibc target.
    let script = std::fs::read_to_string(root().join("tests/image.sh")).unwrap();
    for text in [&dockerfile, &script] {
        assert!(text.contains("-C target-feature=+crt-static"));
        assert!(text.contains("--target x86_64-unknown-linux-gnu") || text.contains("--target \"$triple\""));
    }
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap()).collect())
        .unwrap_or_default()
}

fn kustomize(dir: &Path) -> std::process::Output {
    // Default options only: no flag that loosens what kustomize may read.
    Command::new("kubectl").arg("kustomize").arg(dir).output().unwrap()
}

/// The protected (resource, name) pairs: the policy's named rules must be
/// exactly UPDATE and DELETE of these.
const PROTECTED: &[(&str, &str, &str)] = &[
    (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        "cnpg-guard",
    ),
    ("", "namespaces", "cnpg-guard"),
    ("apps", "deployments", "cnpg-guard"),
    ("apps", "deployments/scale", "cnpg-guard"),
    ("", "configmaps", "cnpg-guard-contract"),
];

#[test]
fn overlays_render_with_default_kustomize_options() {
    if Command::new("kubectl").args(["version", "--client"]).output().is_err() {
        println!("SKIPPED overlays_render_with_default_kustomize_options: kubectl is not on PATH");
        return;
    }
    // A copy of deploy/ without any local key material, so the render is
    // proven to need only what the repository holds plus `make certs`.
    let tmp = tempfile::tempdir().unwrap();
    let deploy = tmp.path().join("deploy");
    let local_certs = root().join("deploy/overlays/self-signed/certs");
    copy_dir_except(&root().join("deploy"), &deploy, &|path| path == local_certs);
    let certs = deploy.join("overlays/self-signed/certs");
    let out = Command::new(env!("CARGO_BIN_EXE_cnpg-guard"))
        .args(["certs", "--out"])
        .arg(&certs)
        .args(["--service", "cnpg-guard", "--namespace", "cnpg-guard"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for file in ["ca.crt", "tls.crt", "tls.key"] {
        assert!(certs.join(file).exists(), "cnpg-guard certs wrote no {file}");
    }

    for overlay in ["cert-manager", "self-signed"] {
        let out = kustomize(&deploy.join("overlays").join(overlay));
        assert!(
            out.status.success(),
            "kubectl kustomize deploy/overlays/{overlay}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let docs = yaml_docs(&String::from_utf8(out.stdout).unwrap());
        assert!(find(&docs, "ValidatingAdmissionPolicy", "cnpg-guard-self-protection").is_some());
        let binding = find(&docs, "ValidatingAdmissionPolicyBinding", "cnpg-guard-self-protection")
            .unwrap_or_else(|| panic!("{overlay}: no binding"));
        assert_eq!(binding["spec"]["policyName"], "cnpg-guard-self-protection");
        let cm = find(&docs, "ConfigMap", "cnpg-guard-contract").unwrap();
        assert_eq!(cm["metadata"]["namespace"], "cnpg-guard");
        assert_eq!(
            cm["data"]["contract.yaml"].as_str().unwrap(),
            cnpg_guard::contract::EMBEDDED_CONTRACT,
            "{overlay}: the mounted contract is not the embedded one"
        );
        let hook = find(&docs, "ValidatingWebhookConfiguration", "cnpg-guard").unwrap();
        match overlay {
            "cert-manager" => assert_eq!(
                hook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
                "cnpg-guard/cnpg-guard-tls"
            ),
            _ => {
                let secret = find(&docs, "Secret", "cnpg-guard-tls").unwrap();
                assert_eq!(secret["type"], "kubernetes.io/tls");
                for webhook in hook["webhooks"].as_array().unwrap() {
                    let ca_b64 = webhook["clientConfig"]["caBundle"].as_str().unwrap();
                    use base64::Engine;
                    let ca = base64::engine::general_purpose::STANDARD
                        .decode(ca_b64.split_whitespace().collect::<String>())
                        .unwrap();
                    assert_eq!(ca, std::fs::read(certs.join("ca.crt")).unwrap(), "{}", webhook["name"]);
                }
            }
        }
    }

    // The patch the policy's comment documents for a GitOps controller
    // (variables[1] is exemptUsers) still lands on the right variable.
    let gitops = deploy.join("overlays/gitops");
    std::fs::create_dir_all(&gitops).unwrap();
    std::fs::write(
        gitops.join("kustomization.yaml"),
        "resources: [../cert-manager]\n\
         patches:\n\
         \x20 - target: {kind: ValidatingAdmissionPolicy, name: cnpg-guard-self-protection}\n\
         \x20   patch: |-\n\
         \x20     - op: replace\n\
         \x20       path: /spec/variables/1/expression\n\
         \x20       value: \"['system:serviceaccount:argocd:argocd-application-controller']\"\n",
    )
    .unwrap();
    let out = kustomize(&gitops);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs = yaml_docs(&String::from_utf8(out.stdout).unwrap());
    let var = &find(&docs, "ValidatingAdmissionPolicy", "cnpg-guard-self-protection").unwrap()["spec"]["variables"][1];
    assert_eq!(var["name"], "exemptUsers");
    assert!(
        var["expression"]
            .as_str()
            .unwrap()
            .contains("argocd-application-controller")
    );
}

#[test]
fn embedded_contract_is_the_base_file_the_configmap_is_built_from() {
    let file = std::fs::read_to_string(root().join("deploy/base/contract.yaml")).unwrap();
    assert_eq!(cnpg_guard::contract::EMBEDDED_CONTRACT, file);
    let kustomization = &yaml_file(&root().join("deploy/base/kustomization.yaml"))[0];
    let generator = kustomization["configMapGenerator"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "cnpg-guard-contract")
        .expect("a configMapGenerator for cnpg-guard-contract");
    assert_eq!(generator["namespace"], "cnpg-guard");
    assert_eq!(strs(&generator["files"]), ["contract.yaml"]);
    assert!(strs(&kustomization["resources"]).contains(&"self-protection.yaml"));
}

#[test]
fn self_protection_guards_exactly_the_guards_own_objects() {
    let docs = yaml_file(&root().join("deploy/base/self-protection.yaml"));
    let policy = find(&docs, "ValidatingAdmissionPolicy", "cnpg-guard-self-protection").unwrap();
    let binding = find(&docs, "ValidatingAdmissionPolicyBinding", "cnpg-guard-self-protection").unwrap();
    for doc in [policy, binding] {
        assert_eq!(doc["apiVersion"], "admissionregistration.k8s.io/v1");
    }
    assert_eq!(binding["spec"]["policyName"], "cnpg-guard-self-protection");
    assert_eq!(strs(&binding["spec"]["validationActions"]), ["Deny", "Audit"]);
    assert!(
        binding["spec"]["matchResources"].is_null(),
        "the binding narrows nothing"
    );
    let spec = &policy["spec"];
    assert_eq!(spec["failurePolicy"], "Fail");
    let constraints = &spec["matchConstraints"];
    assert_eq!(
        constraints["namespaceSelector"]["matchLabels"],
        serde_json::json!({"kubernetes.io/metadata.name": "cnpg-guard"})
    );

    // Named rules: exactly UPDATE and DELETE of the protected names.
    // Unnamed rules: DELETE only (collection deletes), of the same resources.
    let mut named = BTreeSet::new();
    let mut unnamed = BTreeSet::new();
    for rule in constraints["resourceRules"].as_array().unwrap() {
        assert_eq!(strs(&rule["apiVersions"]), ["*"]);
        for group in strs(&rule["apiGroups"]) {
            for resource in strs(&rule["resources"]) {
                for op in strs(&rule["operations"]) {
                    assert_ne!(op, "CREATE", "CREATE must stay unmatched (first installs)");
                    let names = strs(&rule["resourceNames"]);
                    if names.is_empty() {
                        assert_eq!(op, "DELETE", "an unnamed rule for {resource} must be DELETE only");
                        unnamed.insert((group.to_owned(), resource.to_owned()));
                    }
                    for name in names {
                        named.insert((group.to_owned(), resource.to_owned(), op.to_owned(), name.to_owned()));
                    }
                }
            }
        }
    }
    let want: BTreeSet<_> = PROTECTED
        .iter()
        .flat_map(|(g, r, n)| {
            ["UPDATE", "DELETE"].map(|op| (g.to_string(), r.to_string(), op.to_owned(), n.to_string()))
        })
        .collect();
    assert_eq!(named, want);
    for (group, resource) in &unnamed {
        assert!(
            PROTECTED.iter().any(|(g, r, _)| g == group && r == resource),
            "unnamed DELETE rule for {group}/{resource}, which protects nothing"
        );
    }
    // kube-apiserver never applies admission policies to policies and
    // bindings; a rule for them would only pretend.
    for (_, resource, _, _) in &named {
        assert!(
            !resource.starts_with("validatingadmissionpolic"),
            "{resource} cannot be protected"
        );
    }

    // The matchCondition that narrows the unnamed rules lists the same names.
    let conditions = spec["matchConditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 1);
    let expression = conditions[0]["expression"].as_str().unwrap();
    let list = &expression[expression.find("in [").expect("`in [...]` in the matchCondition")..];
    let listed: BTreeSet<&str> = list
        .split('\'')
        .skip(1)
        .step_by(2)
        .filter(|s| s.contains('/'))
        .collect();
    let want: BTreeSet<String> = PROTECTED
        .iter()
        .filter(|(_, r, _)| !r.contains('/'))
        .map(|(_, r, n)| format!("{r}/{n}"))
        .collect();
    assert_eq!(listed, want.iter().map(String::as_str).collect());

    // The names are the base's own objects.
    let deployment = &yaml_file(&root().join("deploy/base/deployment.yaml"))[0];
    assert_eq!(deployment["metadata"]["name"], "cnpg-guard");
    assert_eq!(deployment["metadata"]["namespace"], "cnpg-guard");
    let hook = &yaml_file(&root().join("deploy/base/validatingwebhookconfiguration.yaml"))[0];
    assert_eq!(hook["metadata"]["name"], "cnpg-guard");
    let namespace = &yaml_file(&root().join("deploy/base/namespace.yaml"))[0];
    assert_eq!(namespace["metadata"]["name"], "cnpg-guard");

    // Who may: the contract's break-glass groups, in one variable.
    let variables = spec["variables"].as_array().unwrap();
    assert_eq!(variables[0]["name"], "breakGlassGroups");
    assert_eq!(variables[1]["name"], "exemptUsers");
    let groups: BTreeSet<String> = serde_norway::from_str(variables[0]["expression"].as_str().unwrap()).unwrap();
    let contract = cnpg_guard::contract::Contract::embedded().unwrap();
    assert_eq!(groups, contract.break_glass.groups.iter().cloned().collect());
    assert!(groups.contains("railiance:platform-admins"));
    let exempt: Vec<String> = serde_norway::from_str(variables[1]["expression"].as_str().unwrap()).unwrap();
    assert_eq!(exempt, ["system:serviceaccount:cert-manager:cert-manager-cainjector"]);
    let validations = spec["validations"].as_array().unwrap();
    assert_eq!(validations.len(), 1);
    let allow = validations[0]["expression"].as_str().unwrap();
    for v in [
        "variables.inBreakGlassGroup",
        "variables.exemptUser",
        "variables.finishingDeletion",
    ] {
        assert!(allow.contains(v), "{v} missing from {allow}");
    }
    let message = validations[0]["messageExpression"].as_str().unwrap();
    assert!(message.contains("kubectl delete validatingwebhookconfiguration cnpg-guard"));
    let keys: Vec<&str> = spec["auditAnnotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["break-glass", "exempt"]);
}

#[test]
fn nothing_tells_anyone_to_loosen_kustomize() {
    // Spelled in two halves so this file does not match itself.
    let needles = [
        concat!("load-", "restrictor"),
        concat!("LoadRestr", "ictionsNone"),
        concat!("../../../", "certs"),
        concat!("deploy/", "contract.yaml"),
    ];
    let mut files = vec![];
    for top in [
        "README.md",
        "SECURITY.md",
        "docs",
        "Makefile",
        "Dockerfile",
        ".dockerignore",
        "deploy",
        "tests",
        ".ci",
    ] {
        let path = root().join(top);
        if path.is_dir() {
            collect_files(&path, &mut files);
        } else {
            files.push(path);
        }
    }
    let mut found = vec![];
    for file in files {
        let rel = file.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
        // tests/envtest* belong to the envtest suite, which renders whatever
        // layout deploy/ has (its own fallback for the old one).
        if rel.starts_with("tests/envtest") || rel.starts_with("deploy/overlays/self-signed/certs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for needle in needles {
            if text.contains(needle) {
                found.push(format!("{rel}: {needle}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "stale rendering instructions or paths:\n{}",
        found.join("\n")
    );
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The review fixtures' generator reads the table of covered kinds from
/// tests/fixtures/kinds.json; this keeps that file equal to the table
/// (`KINDS_WRITE=1 cargo test --test deploy_manifests` writes it anew).
#[test]
fn the_fixture_generator_reads_the_table_of_kinds() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kinds.json");
    let want = cnpg_guard::model::kinds::table_json();
    if std::env::var_os("KINDS_WRITE").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&want).unwrap() + "\n").unwrap();
    }
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        got, want,
        "tests/fixtures/kinds.json is not the table: KINDS_WRITE=1 writes it anew"
    );
    let generator =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reviews/make_fixtures.py"))
            .unwrap();
    assert!(generator.contains("kinds.json"), "make_fixtures.py reads the table");
}
