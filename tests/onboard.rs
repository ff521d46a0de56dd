//! `cnpg-guard onboard` / `offboard` through the real binary: the generated
//! set passes `cnpg-guard check` once the registry entry and the role patch
//! are applied, every bad input is refused with exit 2 and nothing written,
//! a generated password stays in 0600 files, and offboarding runs in a safe
//! order.

mod support;

use std::path::Path;
use std::process::Output;

use rstest::rstest;
use serde_json::Value;
use support::cli::{self, stderr, stdout};
use support::{root, yaml_docs};

const FILES: [&str; 7] = [
    "01-contract-entry.yaml",
    "02-cluster-role-patch.yaml",
    "03-role-secret.yaml",
    "04-database.yaml",
    "05-namespace.yaml",
    "06-runtime-secret.yaml",
    "07-dsn-wiring.md",
];

fn guard(args: &[&str]) -> Output {
    cli::guard(args, None)
}

fn guard_with_stdin(args: &[&str], stdin: &str) -> Output {
    cli::guard(args, Some(stdin))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `onboard` of the consumer shop (role shop, database shop_db).
const ONBOARD_SHOP: [&str; 7] = [
    "onboard",
    "--namespace",
    "shop",
    "--role",
    "shop",
    "--database",
    "shop_db",
];

/// `onboard` of shop with `extra`, printed to stdout.
fn onboard_shop_with(extra: &[&str]) -> Output {
    guard(&[&ONBOARD_SHOP[..], extra].concat())
}

/// `onboard` of shop with `extra`, written to `out`.
fn onboard_shop(out: &Path, extra: &[&str]) -> Output {
    onboard_shop_with(&[&["--out", s(out)], extra].concat())
}

/// The embedded contract plus the registry entries of `entry` (step 1).
fn contract_with_entry(entry: &str, dest: &Path) {
    let mut contract: Value = serde_norway::from_str(&read(&root().join("deploy/base/contract.yaml"))).unwrap();
    let entries: Vec<Value> = serde_norway::from_str(entry).expect("step 1 is a list of registry entries");
    contract["sharedClusters"][0]["consumers"]
        .as_array_mut()
        .expect("consumers")
        .extend(entries);
    std::fs::write(dest, serde_norway::to_string(&contract).unwrap()).unwrap();
}

/// deploy/examples/good, with the Cluster patched by `patch` (step 2) when given.
fn good_examples(patch: Option<&str>, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(root().join("deploy/examples/good")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        let mut text = read(&path);
        if let (Some(patch), true) = (patch, name == "apps-pg-cluster.yaml") {
            let mut cluster = yaml_docs(&text).remove(0);
            let ops: json_patch::Patch = serde_norway::from_str(patch).expect("step 2 is an RFC 6902 patch");
            json_patch::patch(&mut cluster, &ops).expect("the patch applies to the seed's Cluster");
            text = serde_norway::to_string(&cluster).unwrap();
        }
        std::fs::write(dest.join(name), text).unwrap();
    }
}

fn objects_checked(check_stdout: &str) -> usize {
    let summary = check_stdout.lines().last().expect("summary line");
    summary
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no object count in {summary:?}"))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[rstest]
#[case::placeholder_password(false)]
#[case::generated_password(true)]
fn generated_set_passes_check_with_the_seeds_manifests(#[case] generate: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("onboarding/shop");
    let extra: &[&str] = if generate { &["--generate-password"] } else { &[] };
    let o = onboard_shop(&out, extra);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in FILES {
        assert!(out.join(f).is_file(), "{f} missing");
        assert!(stdout(&o).contains(f), "{f} not in the summary: {}", stdout(&o));
    }

    let contract = tmp.path().join("contract.yaml");
    contract_with_entry(&read(&out.join(FILES[0])), &contract);
    let patched = tmp.path().join("good");
    good_examples(Some(&read(&out.join(FILES[1]))), &patched);

    let good_alone = guard(&["check", "deploy/examples/good"]);
    assert_eq!(good_alone.status.code(), Some(0));
    let check = guard(&["check", "--contract", s(&contract), s(&patched), s(&out)]);
    let text = stdout(&check);
    assert_eq!(check.status.code(), Some(0), "{text}");
    assert!(text.contains(" 0 denied, 0 warned"), "{text}");
    assert!(!text.contains("SKIP"), "every check ran: {text}");
    // The Role Secret, the Database, the Namespace and the runtime Secret were checked.
    assert_eq!(
        objects_checked(&text),
        objects_checked(&stdout(&good_alone)) + 4,
        "{text}"
    );

    // Each step is needed: without the role patch, the Database is refused…
    let unpatched = tmp.path().join("good-unpatched");
    good_examples(None, &unpatched);
    let check = guard(&["check", "--contract", s(&contract), s(&unpatched), s(&out)]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout(&check).contains("provision the role first"),
        "{}",
        stdout(&check)
    );
    // …and without the registry entry, the role, the Database and the label are.
    let check = guard(&["check", s(&patched), s(&out)]);
    assert_eq!(check.status.code(), Some(1));
    for rule in ["role-registered", "owner-registered", "client-label-registered"] {
        assert!(
            stdout(&check).contains(&format!("[{rule}]")),
            "{rule}: {}",
            stdout(&check)
        );
    }
}

#[test]
fn generated_content_is_on_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    assert_eq!(onboard_shop(&out, &[]).status.code(), Some(0));

    let entry: Value = serde_norway::from_str(&read(&out.join(FILES[0]))).unwrap();
    assert_eq!(
        entry,
        serde_json::json!([{"namespace": "shop", "role": "shop", "databases": ["shop_db"]}])
    );

    let patch: Value = serde_norway::from_str(&read(&out.join(FILES[1]))).unwrap();
    assert_eq!(patch[0]["op"], "add");
    assert_eq!(patch[0]["path"], "/spec/managed/roles/-");
    let role = &patch[0]["value"];
    assert_eq!(role["name"], "shop");
    assert_eq!(role["login"], true);
    assert_eq!(role["ensure"], "present");
    for flag in ["superuser", "createdb", "createrole", "replication", "bypassrls"] {
        assert_eq!(role[flag], false, "{flag}");
    }
    assert_eq!(role["passwordSecret"]["name"], "apps-pg-role-shop");

    let secret = &yaml_docs(&read(&out.join(FILES[2])))[0];
    assert_eq!(secret["metadata"]["name"], "apps-pg-role-shop");
    assert_eq!(secret["metadata"]["namespace"], "databases");
    assert_eq!(secret["type"], "kubernetes.io/basic-auth");
    assert_eq!(secret["stringData"]["username"], "shop");
    assert_eq!(secret["stringData"]["password"], "REPLACE_WITH_ROLE_PASSWORD");

    let db = &yaml_docs(&read(&out.join(FILES[3])))[0];
    assert_eq!(db["kind"], "Database");
    assert_eq!(db["metadata"]["namespace"], "databases");
    assert_eq!(
        db["spec"],
        serde_json::json!({"name": "shop_db", "owner": "shop", "cluster": {"name": "apps-pg"},
                           "ensure": "present", "databaseReclaimPolicy": "retain"})
    );

    let ns_text = read(&out.join(FILES[4]));
    assert!(ns_text.contains("kubectl label namespace shop railiance.io/postgres-client=apps-pg"));
    let ns = &yaml_docs(&ns_text)[0];
    assert_eq!(ns["metadata"]["labels"]["railiance.io/postgres-client"], "apps-pg");

    let runtime = &yaml_docs(&read(&out.join(FILES[5])))[0];
    assert_eq!(runtime["metadata"]["namespace"], "shop");
    let data = &runtime["stringData"];
    assert_eq!(
        data["uri"],
        "postgresql://shop:REPLACE_WITH_ROLE_PASSWORD@apps-pg-rw.databases.svc:5432/shop_db"
    );
    assert_eq!(data["host"], "apps-pg-rw.databases.svc");
    assert_eq!(data["port"], "5432");
    assert_eq!(data["dbname"], "shop_db");
    assert_eq!(data["user"], "shop");
    assert!(!read(&out.join(FILES[5])).contains("apps_admin:"));

    let note = read(&out.join(FILES[6]));
    assert!(note.contains("apps-pg-rw.databases.svc"), "{note}");
    assert!(note.contains("5432"), "{note}");
}

#[test]
fn stdout_is_one_checkable_stream_in_step_order() {
    let o = onboard_shop_with(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let mut at = 0;
    for n in 1..=7 {
        let i = text[at..]
            .find(&format!("# step {n}: "))
            .unwrap_or_else(|| panic!("step {n} missing or out of order:\n{text}"));
        at += i;
    }
    // One valid YAML stream: entry, patch, four objects (the note is comments).
    let docs = yaml_docs(&text);
    assert_eq!(docs.len(), 6, "{text}");
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, ["Secret", "Database", "Namespace", "Secret"]);

    // It can be piped into `check` as it is.
    let tmp = tempfile::tempdir().unwrap();
    let contract = tmp.path().join("contract.yaml");
    contract_with_entry(&serde_norway::to_string(&docs[0]).unwrap(), &contract);
    let patched = tmp.path().join("good");
    good_examples(Some(&serde_norway::to_string(&docs[1]).unwrap()), &patched);
    let check = guard_with_stdin(&["check", "--contract", s(&contract), s(&patched), "-"], &text);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
}

#[rstest]
#[case::namespace_upper_case(&["--namespace=Shop"], "is not a valid namespace name")]
#[case::namespace_underscore(&["--namespace=shop_ns"], "is not a valid namespace name")]
#[case::namespace_leading_dash(&["--namespace=-shop"], "is not a valid namespace name")]
#[case::namespace_too_long(&["--namespace=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], "is not a valid namespace name")]
#[case::namespace_is_the_shared_one(&["--namespace=databases"], "is the shared namespace of apps-pg")]
#[case::role_with_dash(&["--role=shop-app"], "is not a plain PostgreSQL identifier")]
#[case::role_upper_case(&["--role=Shop"], "is not a plain PostgreSQL identifier")]
#[case::role_digit_first(&["--role=1shop"], "is not a plain PostgreSQL identifier")]
#[case::role_too_long(&["--role=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], "is not a plain PostgreSQL identifier")]
#[case::database_with_dash(&["--database=shop-db"], "is not a plain PostgreSQL identifier")]
#[case::role_bootstrap(&["--role=apps_admin"], "the bootstrap role of apps-pg")]
#[case::role_postgres(&["--role=postgres"], "--role \"postgres\" is reserved")]
#[case::role_streaming_replica(&["--role=streaming_replica"], "--role \"streaming_replica\" is reserved")]
#[case::role_cnpg_prefix(&["--role=cnpg_pooler_pgbouncer"], "is reserved")]
#[case::role_pg_prefix(&["--role=pg_monitor"], "is reserved")]
#[case::database_bootstrap(&["--database=apps_meta"], "the bootstrap database of apps-pg")]
#[case::database_postgres(&["--database=postgres"], "--database \"postgres\" is reserved")]
#[case::database_template0(&["--database=template0"], "is reserved")]
#[case::database_template1(&["--database=template1"], "is reserved")]
#[case::database_pg_prefix(&["--database=pg_stuff"], "is reserved")]
#[case::database_cnpg_prefix(&["--database=cnpg_stuff"], "is reserved")]
#[case::role_of_another_consumer(&["--role=vergabe"], "role \"vergabe\" is already registered to consumer \"vergabe-teilnahme\"")]
#[case::namespace_of_another_consumer(&["--namespace=vergabe-teilnahme"], "namespace \"vergabe-teilnahme\" is already registered to apps-pg with role \"vergabe\"")]
#[case::database_of_another_consumer(&["--database=vergabe_db"], "database \"vergabe_db\" is already registered to consumer \"vergabe-teilnahme\"")]
#[case::another_database_for_a_consumer(&["--namespace=vergabe-teilnahme", "--role=vergabe", "--database=vergabe_archive"], "onboard registers new consumers only")]
#[case::role_ending_in_underscore(&["--role=shop_"], "is not a valid Kubernetes object name")]
#[case::database_starting_with_underscore(&["--database=_shop"], "is not a valid Kubernetes object name")]
#[case::unknown_cluster(&["--cluster=gitea-db"], "unknown cluster \"gitea-db\"")]
#[case::unreadable_contract(&["--contract=does/not/exist.yaml"], "cannot read the contract")]
fn invalid_input_exits_2_and_writes_nothing(#[case] overrides: &[&str], #[case] expected: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // Defaults for a valid new consumer; each case overrides one or more.
    let mut args: Vec<String> = vec!["onboard".into()];
    for (flag, default) in [("--namespace", "shop"), ("--role", "shop"), ("--database", "shop_db")] {
        if !overrides.iter().any(|o| o.starts_with(&format!("{flag}="))) {
            args.push(format!("{flag}={default}"));
        }
    }
    args.extend(overrides.iter().map(|o| o.to_string()));
    args.extend(["--generate-password".to_owned(), format!("--out={}", s(&out))]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let o = guard(&args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
    assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
    // The line naming the contract (tests/cli.rs tests it), then errors only.
    assert!(
        stderr(&o).lines().skip(1).all(|l| l.starts_with("error: ")),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "", "nothing printed on error");
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "{args:?}: the --out dir stays empty"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = guard(&[
        "onboard",
        "--namespace=Bad_Ns",
        "--role=postgres",
        "--database=template1",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).lines().filter(|l| l.starts_with("error: ")).count(),
        3,
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn generate_password_without_out_is_refused() {
    let o = onboard_shop_with(&["--generate-password"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--generate-password needs --out"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
}

#[cfg(unix)]
#[test]
fn generated_password_stays_in_0600_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let o = onboard_shop(&out, &["--generate-password"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let role_secret = &yaml_docs(&read(&out.join(FILES[2])))[0];
    let password = role_secret["stringData"]["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 43, "32 bytes, base64url without padding");
    assert!(
        password
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    let runtime = &yaml_docs(&read(&out.join(FILES[5])))[0];
    assert_eq!(runtime["stringData"]["password"], password.as_str());
    assert_eq!(
        runtime["stringData"]["uri"],
        format!("postgresql://shop:{password}@apps-pg-rw.databases.svc:5432/shop_db")
    );

    for f in [FILES[2], FILES[5]] {
        assert_eq!(mode(&out.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&out) & 0o077, 0, "the directory made for a password is private");
    for f in FILES {
        assert!(!read(&out.join(f)).contains("REPLACE_WITH_ROLE_PASSWORD"), "{f}");
    }
    assert!(!stdout(&o).contains(&password) && !stderr(&o).contains(&password));

    // Re-running would replace the password: refused unless --force, nothing touched.
    let again = onboard_shop(&out, &["--generate-password"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert!(read(&out.join(FILES[2])).contains(&password));
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        FILES.len(),
        "no temporary files left"
    );
    let forced = onboard_shop(&out, &["--generate-password", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(!read(&out.join(FILES[2])).contains(&password), "a new password");
    assert!(!stdout(&forced).contains(&password) && !stderr(&forced).contains(&password));
}

#[test]
fn rerunning_for_the_registered_consumer_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("onboarding/vergabe");
    let args = [
        "onboard",
        "--cluster",
        "apps-pg",
        "--namespace",
        "vergabe-teilnahme",
        "--role",
        "vergabe",
        "--database",
        "vergabe_db",
        "--out",
        s(&out),
    ];
    let first = guard(&args);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stderr(&first).contains("idempotent"), "{}", stderr(&first));
    assert!(read(&out.join(FILES[0])).contains("Already registered"));
    let before: Vec<String> = FILES.iter().map(|f| read(&out.join(f))).collect();

    let second = guard(&args);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(
        stdout(&second).matches("(unchanged)").count(),
        FILES.len(),
        "{}",
        stdout(&second)
    );
    let after: Vec<String> = FILES.iter().map(|f| read(&out.join(f))).collect();
    assert_eq!(before, after);

    // What it generates for the seed's consumer is what the seed ships: the
    // examples with the Database and Namespace replaced by the generated ones pass.
    let tmp2 = tempfile::tempdir().unwrap();
    let good = tmp2.path().join("good");
    good_examples(None, &good);
    std::fs::remove_file(good.join("apps-pg-databases.yaml")).unwrap();
    std::fs::remove_file(good.join("consumer-namespace.yaml")).unwrap();
    std::fs::remove_file(good.join("vergabe-runtime-secret.yaml")).unwrap();
    std::fs::remove_file(good.join("apps-pg-role-vergabe.yaml")).unwrap();
    let check = guard(&["check", s(&good), s(&out)]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert!(!stdout(&check).contains("SKIP"), "{}", stdout(&check));
}

const TWO_CLUSTERS: &str = "apiVersion: cnpg-guard.railiance.io/v1alpha1
kind: Contract
sharedClusters:
  - name: apps-pg
    namespace: databases
    consumers:
      - {namespace: vergabe-teilnahme, role: vergabe, databases: [vergabe_db]}
      - {namespace: shop, role: shop, databases: [shop_db, shop_audit]}
  - name: reports-pg
    namespace: reporting
    consumers: []
";

/// A registered consumer the platform grants pg_monitor, with an allowed
/// extension: the role gets exactly that membership, the Database that
/// extension, and the set passes the tenant-isolation rules. An extension
/// outside allowedExtensions is refused before anything is written.
#[test]
fn memberships_come_from_member_of_and_extensions_from_allowed_extensions() {
    let tmp = tempfile::tempdir().unwrap();
    let contract = tmp.path().join("contract.yaml");
    contract_with_entry(
        "[{namespace: shop, role: shop, databases: [shop_db], memberOf: [pg_monitor]}]",
        &contract,
    );
    let out = tmp.path().join("onboarding/shop");
    let o = onboard_shop(&out, &["--contract", s(&contract), "--extension", "pgcrypto"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let patch: Value = serde_norway::from_str(&read(&out.join(FILES[1]))).unwrap();
    assert_eq!(patch[0]["value"]["inRoles"], serde_json::json!(["pg_monitor"]));
    let database = yaml_docs(&read(&out.join(FILES[3]))).remove(0);
    assert_eq!(
        database["spec"]["extensions"],
        serde_json::json!([{"name": "pgcrypto", "ensure": "present"}])
    );
    let patched = tmp.path().join("good");
    good_examples(Some(&read(&out.join(FILES[1]))), &patched);
    let check = guard(&["check", "--contract", s(&contract), s(&patched), s(&out)]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert!(stdout(&check).contains(" 0 denied, 0 warned"), "{}", stdout(&check));

    let refused = tmp.path().join("refused");
    let o = onboard_shop(&refused, &["--contract", s(&contract), "--extension", "dblink"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--extension \"dblink\" is not in apps-pg's allowedExtensions"),
        "{}",
        stderr(&o)
    );
    assert!(!refused.exists(), "nothing is written");
}

#[test]
fn another_cluster_from_a_contract_file() {
    let tmp = tempfile::tempdir().unwrap();
    let contract = tmp.path().join("contract.yaml");
    std::fs::write(&contract, TWO_CLUSTERS).unwrap();
    let base = ["onboard", "--contract", s(&contract), "--cluster", "reports-pg"];

    let mut args = base.to_vec();
    args.extend(["--namespace", "bi", "--role", "bi_reader", "--database", "bi"]);
    let o = guard(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("name: reports-pg-role-bi-reader"), "{text}");
    assert!(
        text.contains("postgresql://bi_reader:REPLACE_WITH_ROLE_PASSWORD@reports-pg-rw.reporting.svc:5432/bi"),
        "{text}"
    );
    assert!(text.contains("railiance.io/postgres-client: reports-pg"), "{text}");
    assert!(text.contains(&format!("in {}", s(&contract))), "{text}");

    // A namespace labelled for apps-pg cannot opt in to a second cluster.
    let mut args = base.to_vec();
    args.extend(["--namespace", "shop", "--role", "shop", "--database", "shop_db"]);
    let o = guard(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("can name only one cluster"), "{}", stderr(&o));
}

fn position(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} missing in:\n{text}"))
}

#[test]
fn offboard_prints_the_reverse_steps_in_a_safe_order() {
    let o = guard(&["offboard", "--namespace", "vergabe-teilnahme"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let order = [
        "# step 1: remove the namespace label",
        "kubectl label namespace vergabe-teilnahme railiance.io/postgres-client-",
        "# step 2: delete the runtime Secret",
        "kubectl delete secret vergabe-db-app -n vergabe-teilnahme",
        "# step 3: remove the Database CR",
        "databaseReclaimPolicy",
        "# BREAK-GLASS: dropping a database is a break-glass act (data-retained)",
        "WARNING: data loss",
        "#   the next three commands as a member of railiance:platform-admins (impersonating: append --as=<you> --as-group=<group>)",
        "kubectl annotate database vergabe-db -n databases cnpg-guard.railiance.io/break-glass='<ticket>: offboarding vergabe-teilnahme'\n",
        "kubectl patch database vergabe-db -n databases --type=merge -p '{\"spec\":{\"ensure\":\"absent\"}}'",
        "kubectl delete database vergabe-db -n databases",
        "# step 4: drop role vergabe",
        "/ensure\\\",\\\"value\\\":\\\"absent\\\"",
        "\\\"op\\\":\\\"remove\\\"",
        "kubectl delete secret apps-pg-role-vergabe -n databases",
        "# step 5: remove the registry entry",
        "cnpg-guard contract validate",
    ];
    let positions: Vec<usize> = order.iter().map(|n| position(&text, n)).collect();
    for (w, pair) in positions.windows(2).enumerate() {
        assert!(
            pair[0] < pair[1],
            "{:?} must come before {:?}:\n{text}",
            order[w],
            order[w + 1]
        );
    }
    // Every command line ends with the command, so flags can be appended
    // (--as, --dry-run=server) without landing in a shell comment.
    for l in text.lines().filter(|l| l.starts_with("    ")) {
        assert!(!l.contains(" #"), "a comment after a command: {l}");
    }
    let warning = text.lines().find(|l| l.starts_with("WARNING:")).unwrap();
    assert!(warning.contains("vergabe_db"), "{warning}");
    assert_eq!(text.lines().filter(|l| l.starts_with("WARNING:")).count(), 1);
}

#[test]
fn offboard_warns_for_every_database_of_the_consumer() {
    let tmp = tempfile::tempdir().unwrap();
    let contract = tmp.path().join("contract.yaml");
    std::fs::write(&contract, TWO_CLUSTERS).unwrap();
    let o = guard(&["offboard", "--contract", s(&contract), "--namespace", "shop"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("WARNING:")).collect();
    assert_eq!(warnings.len(), 2, "{text}");
    assert!(warnings[0].contains("shop_db") && warnings[1].contains("shop_audit"));
    assert!(text.contains("kubectl delete secret shop-audit-app -n shop"), "{text}");
    assert!(
        text.contains(&format!("cnpg-guard contract validate {}", s(&contract))),
        "{text}"
    );
}

#[rstest]
#[case::unknown_namespace(&["--namespace", "shop"], "not a registered consumer of apps-pg")]
#[case::invalid_namespace(&["--namespace", "Shop"], "is not a valid namespace name")]
#[case::unknown_cluster(&["--namespace", "vergabe-teilnahme", "--cluster", "nope"], "unknown cluster")]
fn offboard_refuses_what_is_not_registered(#[case] args: &[&str], #[case] expected: &str) {
    let mut all = vec!["offboard"];
    all.extend_from_slice(args);
    let o = guard(&all);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(expected), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
}

/// Step 2 for the Cluster as it is (`--cluster-object`): it applies to the
/// seed's Cluster without spec.managed and spec.postgresql, and to the
/// example Cluster that has both; a second run has nothing to add; an
/// object that is not the shared Cluster is refused.
#[test]
fn the_role_step_fits_the_cluster_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let good = yaml_docs(&read(&root().join("deploy/examples/good/apps-pg-cluster.yaml"))).remove(0);
    let mut bare = good.clone();
    bare["spec"].as_object_mut().unwrap().remove("managed");
    bare["spec"].as_object_mut().unwrap().remove("postgresql");
    for (case, cluster) in [("bare", bare), ("good", good)] {
        let file = dir.path().join(format!("{case}.yaml"));
        std::fs::write(&file, serde_norway::to_string(&cluster).unwrap()).unwrap();
        let out = dir.path().join(format!("{case}-1"));
        let o = onboard_shop(&out, &["--cluster-object", s(&file)]);
        assert_eq!(o.status.code(), Some(0), "{case}: {}", stderr(&o));
        let ops: json_patch::Patch =
            serde_norway::from_str(&read(&out.join("02-cluster-role-patch.yaml"))).expect("an RFC 6902 patch");
        let mut patched = cluster.clone();
        json_patch::patch(&mut patched, &ops).unwrap_or_else(|e| panic!("{case}: the patch applies: {e}"));
        let roles: Vec<&str> = patched["spec"]["managed"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        let hba: Vec<&str> = patched["spec"]["postgresql"]["pg_hba"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            hba[..2],
            ["host shop_db shop all scram-sha-256", "host all shop all reject"],
            "{case}"
        );
        if case == "good" {
            assert_eq!(roles, ["vergabe", "shop"]);
            assert_eq!(
                hba[2..],
                [
                    "host vergabe_db vergabe all scram-sha-256",
                    "host all vergabe all reject"
                ]
            );
        } else {
            assert_eq!(roles, ["shop"]);
        }
        std::fs::write(&file, serde_norway::to_string(&patched).unwrap()).unwrap();
        let again = dir.path().join(format!("{case}-2"));
        let o = onboard_shop(&again, &["--cluster-object", s(&file)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let ops: json_patch::Patch = serde_norway::from_str(&read(&again.join("02-cluster-role-patch.yaml"))).unwrap();
        assert!(ops.0.is_empty(), "{case}: a second run adds nothing: {ops:?}");
    }
    let o = guard_with_stdin(
        &[&ONBOARD_SHOP[..], &["--cluster-object", "-"]].concat(),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: databases}\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--cluster-object -: expected Cluster databases/apps-pg, found Secret databases/x"),
        "{}",
        stderr(&o)
    );
}

/// The files of `onboard --role-managed-by databaserole`: step 2 is the
/// Cluster's pg_hba lines (2a) and the DatabaseRole (2b).
const DR_FILES: [&str; 8] = [
    "01-contract-entry.yaml",
    "02a-cluster-hba-patch.yaml",
    "02b-database-role.yaml",
    "03-role-secret.yaml",
    "04-database.yaml",
    "05-namespace.yaml",
    "06-runtime-secret.yaml",
    "07-dsn-wiring.md",
];

const DATABASE_ROLE: [&str; 2] = ["--role-managed-by", "databaserole"];

/// With a DatabaseRole, the Cluster gets only the role's two pg_hba lines,
/// and the whole set passes `check` with the seed's manifests (the role
/// the platform grants pg_monitor gets it as inRoles). Without step 2a,
/// tenant-isolated denies the Cluster; without step 1, role-registered
/// denies the DatabaseRole.
#[rstest]
#[case::placeholder_password(false)]
#[case::generated_password(true)]
fn database_role_set_passes_check_with_the_seeds_manifests(#[case] generate: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let contract = tmp.path().join("contract.yaml");
    contract_with_entry(
        "[{namespace: shop, role: shop, databases: [shop_db], memberOf: [pg_monitor]}]",
        &contract,
    );
    let out = tmp.path().join("onboarding/shop");
    let mut extra = vec!["--contract", s(&contract)];
    extra.extend(DATABASE_ROLE);
    if generate {
        extra.push("--generate-password");
    }
    let o = onboard_shop(&out, &extra);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    assert_eq!(written, DR_FILES, "no Cluster role patch");
    for f in DR_FILES {
        assert!(stdout(&o).contains(f), "{f} not in the summary: {}", stdout(&o));
    }
    assert!(
        stdout(&o).contains("step 2a: pg_hba lines of role shop"),
        "{}",
        stdout(&o)
    );

    // Step 2a touches the Cluster's pg_hba only: the role is nowhere in it.
    let hba_patch = read(&out.join(DR_FILES[1]));
    let ops: Value = serde_norway::from_str(&hba_patch).unwrap();
    for op in ops.as_array().unwrap() {
        assert!(op["path"].as_str().unwrap().starts_with("/spec/postgresql"), "{op}");
    }
    let patched = tmp.path().join("good");
    good_examples(Some(&hba_patch), &patched);
    let cluster = yaml_docs(&read(&patched.join("apps-pg-cluster.yaml"))).remove(0);
    let roles: Vec<&str> = cluster["spec"]["managed"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(roles, ["vergabe"], "the Cluster manages no role for shop");
    assert_eq!(
        cluster["spec"]["postgresql"]["pg_hba"][0],
        "host shop_db shop all scram-sha-256"
    );

    let role = &yaml_docs(&read(&out.join(DR_FILES[2])))[0];
    assert_eq!(role["kind"], "DatabaseRole");
    assert_eq!(role["metadata"]["name"], "apps-pg-shop");
    assert_eq!(role["metadata"]["namespace"], "databases");
    assert_eq!(
        role["spec"],
        serde_json::json!({"cluster": {"name": "apps-pg"}, "name": "shop", "login": true,
                           "superuser": false, "createdb": false, "createrole": false,
                           "replication": false, "bypassrls": false, "inRoles": ["pg_monitor"],
                           "passwordSecret": {"name": "apps-pg-role-shop"},
                           "databaseRoleReclaimPolicy": "retain"})
    );

    let good_alone = guard(&["check", "deploy/examples/good"]);
    let check = guard(&["check", "--contract", s(&contract), s(&patched), s(&out)]);
    let text = stdout(&check);
    assert_eq!(check.status.code(), Some(0), "{text}");
    assert!(text.contains(" 0 denied, 0 warned"), "{text}");
    assert!(!text.contains("SKIP"), "every check ran: {text}");
    // The DatabaseRole, the role Secret, the Database, the Namespace and the runtime Secret.
    assert_eq!(
        objects_checked(&text),
        objects_checked(&stdout(&good_alone)) + 5,
        "{text}"
    );

    // Each step is needed: without the pg_hba lines, the Cluster is denied…
    let unpatched = tmp.path().join("good-unpatched");
    good_examples(None, &unpatched);
    let check = guard(&["check", "--contract", s(&contract), s(&unpatched), s(&out)]);
    assert_eq!(check.status.code(), Some(1), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("[tenant-isolated] Cluster databases/apps-pg: spec.postgresql.pg_hba"),
        "{}",
        stdout(&check)
    );
    // …and without the registry entry, the DatabaseRole, the Database and the label are.
    let check = guard(&["check", s(&patched), s(&out)]);
    assert_eq!(check.status.code(), Some(1));
    for denial in [
        "[role-registered] DatabaseRole databases/apps-pg-shop: spec.name",
        "[owner-registered]",
        "[client-label-registered]",
    ] {
        assert!(stdout(&check).contains(denial), "{denial}: {}", stdout(&check));
    }
}

/// The generated DatabaseRole is decoded and judged by role-registered:
/// as written nothing is found, and the same object made superuser, or
/// given a membership the contract does not grant, is denied at its field.
#[test]
fn the_database_role_is_judged_by_role_registered() {
    let tmp = tempfile::tempdir().unwrap();
    let contract = tmp.path().join("contract.yaml");
    contract_with_entry("[{namespace: shop, role: shop, databases: [shop_db]}]", &contract);
    let out = tmp.path().join("o");
    let o = onboard_shop(&out, &[&["--contract", s(&contract)][..], &DATABASE_ROLE].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let file = out.join(DR_FILES[2]);
    let check = guard(&["check", "--contract", s(&contract), "--output", "json", s(&file)]);
    let report: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(check.status.code(), Some(0), "{report}");
    assert_eq!(report["summary"]["objects"], 1, "{report}");
    assert_eq!(report["findings"], serde_json::json!([]), "{report}");
    assert_eq!(report["skippedDocuments"], serde_json::json!([]), "{report}");

    let written = read(&file);
    for (change, field) in [
        (("superuser: false", "superuser: true"), "spec.superuser"),
        (
            ("  passwordSecret:", "  inRoles: [pg_read_all_data]\n  passwordSecret:"),
            "spec.inRoles[0]",
        ),
        (
            ("name: apps-pg-role-shop", "name: apps-pg-credentials"),
            "spec.passwordSecret.name",
        ),
    ] {
        let bad = tmp.path().join("bad.yaml");
        assert!(written.contains(change.0), "{written}");
        std::fs::write(&bad, written.replacen(change.0, change.1, 1)).unwrap();
        let check = guard(&["check", "--contract", s(&contract), s(&bad)]);
        assert_eq!(check.status.code(), Some(1), "{field}: {}", stdout(&check));
        assert!(
            stdout(&check).contains(&format!(
                "[role-registered] DatabaseRole databases/apps-pg-shop: {field}:"
            )),
            "{field}: {}",
            stdout(&check)
        );
    }
}

/// One role, one place: the DatabaseRole with the Cluster patch of the
/// other way is denied by role-registered, and onboard refuses to write one
/// way into an `--out` that holds the other (even with --force), or a
/// DatabaseRole for a role the given Cluster already manages.
#[test]
fn a_role_is_never_written_to_two_places() {
    let tmp = tempfile::tempdir().unwrap();
    let contract = tmp.path().join("contract.yaml");
    contract_with_entry("[{namespace: shop, role: shop, databases: [shop_db]}]", &contract);
    let with_contract = ["--contract", s(&contract)];
    let by_cluster = tmp.path().join("by-cluster");
    let by_dr = tmp.path().join("by-databaserole");
    assert_eq!(onboard_shop(&by_cluster, &with_contract).status.code(), Some(0));
    let o = onboard_shop(&by_dr, &[&with_contract[..], &DATABASE_ROLE].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Both together: the Cluster's managed role and the DatabaseRole.
    let patched = tmp.path().join("good");
    good_examples(Some(&read(&by_cluster.join(FILES[1]))), &patched);
    let check = guard(&[
        "check",
        "--contract",
        s(&contract),
        s(&patched),
        s(&by_dr.join(DR_FILES[2])),
    ]);
    let text = stdout(&check);
    assert_eq!(check.status.code(), Some(1), "{text}");
    assert!(
        text.contains("[role-registered] DatabaseRole databases/apps-pg-shop: spec.name: role \"shop\" is already managed in Cluster databases/apps-pg (spec.managed.roles): one role is managed in one place"),
        "{text}"
    );
    assert!(
        text.contains("[role-registered] Cluster databases/apps-pg: spec.managed.roles[1].name: role \"shop\" is already managed by DatabaseRole databases/apps-pg-shop"),
        "{text}"
    );

    // One --out, the other way: refused before anything is written, even with --force.
    for (dir, extra, existing) in [
        (&by_cluster, &DATABASE_ROLE[..], FILES[1]),
        (&by_dr, &[][..], DR_FILES[2]),
    ] {
        let before: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        for force in [&[][..], &["--force"][..]] {
            let o = onboard_shop(dir, &[&with_contract[..], extra, force].concat());
            assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
            let err = stderr(&o);
            assert!(err.contains(&format!("{existing} already exists")), "{err}");
            assert!(err.contains("managed in two places"), "{err}");
            assert_eq!(stdout(&o), "");
        }
        let after: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(before, after, "nothing written");
    }

    // A DatabaseRole for a role the Cluster given already manages.
    let cluster = root().join("deploy/examples/good/apps-pg-cluster.yaml");
    let o = guard(&[
        "onboard",
        "--namespace",
        "vergabe-teilnahme",
        "--role",
        "vergabe",
        "--database",
        "vergabe_db",
        "--cluster-object",
        s(&cluster),
        "--role-managed-by",
        "databaserole",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("role \"vergabe\" is already in spec.managed.roles of Cluster databases/apps-pg"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "");
}

/// On stdout the DatabaseRole way is one stream too (2a and 2b in order),
/// and given the Cluster without pg_hba, step 2a creates the list.
#[test]
fn database_role_stream_and_cluster_object() {
    let o = onboard_shop_with(&DATABASE_ROLE);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let mut at = 0;
    for n in ["1", "2a", "2b", "3", "4", "5", "6", "7"] {
        at += text[at..]
            .find(&format!("# step {n}: "))
            .unwrap_or_else(|| panic!("step {n} missing or out of order:\n{text}"));
    }
    assert!(!text.contains("managed/roles"), "{text}");
    let docs = yaml_docs(&text);
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, ["DatabaseRole", "Secret", "Database", "Namespace", "Secret"]);
    let tmp = tempfile::tempdir().unwrap();
    let contract = tmp.path().join("contract.yaml");
    contract_with_entry(&serde_norway::to_string(&docs[0]).unwrap(), &contract);
    let patched = tmp.path().join("good");
    good_examples(Some(&serde_norway::to_string(&docs[1]).unwrap()), &patched);
    let check = guard_with_stdin(&["check", "--contract", s(&contract), s(&patched), "-"], &text);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));

    let mut bare = yaml_docs(&read(&root().join("deploy/examples/good/apps-pg-cluster.yaml"))).remove(0);
    bare["spec"].as_object_mut().unwrap().remove("postgresql");
    bare["spec"].as_object_mut().unwrap().remove("managed");
    let file = tmp.path().join("bare.yaml");
    std::fs::write(&file, serde_norway::to_string(&bare).unwrap()).unwrap();
    let out = tmp.path().join("o");
    let o = onboard_shop(&out, &[&DATABASE_ROLE[..], &["--cluster-object", s(&file)]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ops: json_patch::Patch = serde_norway::from_str(&read(&out.join(DR_FILES[1]))).unwrap();
    json_patch::patch(&mut bare, &ops).unwrap();
    assert_eq!(
        bare["spec"]["postgresql"]["pg_hba"],
        serde_json::json!(["host shop_db shop all scram-sha-256", "host all shop all reject"])
    );
    assert!(bare["spec"].get("managed").is_none(), "{bare}");
}

/// Offboarding a consumer whose role is a DatabaseRole: the DatabaseRole
/// set to reclaim by delete, then deleted, then its Secret, then the
/// pg_hba lines; never a patch of spec.managed.roles.
#[test]
fn offboard_drops_a_database_role() {
    let o = guard(&[
        "offboard",
        "--namespace",
        "vergabe-teilnahme",
        "--role-managed-by",
        "databaserole",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let order = [
        "if `kubectl get databaseroles -n databases` lists no DatabaseRole for vergabe, run offboard with --role-managed-by cluster instead",
        "# step 3: remove the Database CR",
        "kubectl delete database vergabe-db -n databases",
        "# step 4: drop role vergabe: set its DatabaseRole apps-pg-vergabe",
        "with retain leaves vergabe in PostgreSQL with its LOGIN and password",
        "while a Database CR is still owned by vergabe (data-retained",
        "# BREAK-GLASS: only if such a Database CR must stay",
        "    kubectl patch databaserole apps-pg-vergabe -n databases --type=merge -p '{\"spec\":{\"databaseRoleReclaimPolicy\":\"delete\"}}'\n",
        "    kubectl delete databaserole apps-pg-vergabe -n databases\n",
        "    kubectl delete secret apps-pg-role-vergabe -n databases\n",
        "index(\"host vergabe_db vergabe all scram-sha-256\")",
        "# step 5: remove the registry entry",
    ];
    let positions: Vec<usize> = order.iter().map(|n| position(&text, n)).collect();
    for (w, pair) in positions.windows(2).enumerate() {
        assert!(
            pair[0] < pair[1],
            "{:?} must come before {:?}:\n{text}",
            order[w],
            order[w + 1]
        );
    }
    assert!(!text.contains("managed/roles"), "{text}");
    assert!(!text.contains("managedRolesStatus"), "{text}");
    for l in text.lines().filter(|l| l.starts_with("    ")) {
        assert!(!l.contains(" #"), "a comment after a command: {l}");
    }
    // The default names the other way.
    let o = guard(&["offboard", "--namespace", "vergabe-teilnahme"]);
    assert!(
        stdout(&o)
            .contains("lists a DatabaseRole for vergabe, run offboard with --role-managed-by databaserole instead"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("kubectl delete databaserole"));
}

/// With `--service-account`, step 1 registers the consumer's GitOps
/// ServiceAccount as its subject, and the consumer's own steps (its
/// DatabaseRole, role Secret, Database, namespace label, runtime Secret)
/// pass `check --as` that ServiceAccount: its repository's CI admits what
/// the webhook will admit from it. The same files as another identity the
/// contract does not know are refused (tenant-scoped), and each step says
/// who applies it.
#[test]
fn a_consumers_service_account_applies_its_own_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("onboarding/shop");
    let o = onboard_shop(&out, &[&DATABASE_ROLE[..], &["--service-account", "flux"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let entry = read(&out.join(DR_FILES[0]));
    assert!(
        entry.contains("serviceAccounts:") && entry.contains("shop:flux"),
        "{entry}"
    );
    assert!(entry.contains("Applied by the platform"), "{entry}");
    let hba = read(&out.join(DR_FILES[1]));
    assert!(hba.contains("Applied by the platform"), "{hba}");
    let database = read(&out.join(DR_FILES[4]));
    assert!(
        database.contains("The consumer's ServiceAccount shop:flux may apply this step"),
        "{database}"
    );

    let contract = tmp.path().join("contract.yaml");
    contract_with_entry(&entry, &contract);
    let validate = guard(&["contract", "validate", s(&contract)]);
    assert_eq!(validate.status.code(), Some(0), "{}", stderr(&validate));
    let own: Vec<String> = DR_FILES[2..7].iter().map(|f| s(&out.join(f)).to_owned()).collect();
    let judged_as = |user: &str| {
        let mut args = vec!["check", "--contract", s(&contract), "--as", user];
        args.extend(own.iter().map(String::as_str));
        guard(&args)
    };
    let check = judged_as("system:serviceaccount:shop:flux");
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert!(stdout(&check).contains(" 0 denied"), "{}", stdout(&check));
    let check = judged_as("system:serviceaccount:shop:default");
    assert_eq!(check.status.code(), Some(1), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("[tenant-scoped] DatabaseRole databases/apps-pg-shop: spec.name: \"system:serviceaccount:shop:default\" is neither the platform nor a consumer's subject"),
        "{}",
        stdout(&check)
    );
}

#[test]
fn an_invalid_service_account_is_refused() {
    let o = onboard_shop_with(&["--service-account", "Flux_CD"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--service-account \"Flux_CD\" is not a valid ServiceAccount name"),
        "{}",
        stderr(&o)
    );
}
