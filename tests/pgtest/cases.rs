//! The tests, in order. Admitted: what a tenant of the admitted setup can
//! and cannot do. Denied: `cnpg-guard check` denies the manifest (exit 1,
//! the rule and the field), and applied anyway, the harm shows on the server.

use serde_json::{Value, json};

use crate::cnpg::{ident, literal};
use crate::fixture::{Suite, Tenant, apply_all, apply_cluster, kind};
use crate::proc::Out;
use crate::server::{Login, Pg, show};

pub type Test = fn(&Suite);

/// The tests in the order they run, each named by its function.
macro_rules! tests {
    ($($f:ident),* $(,)?) => {
        &[$((stringify!($f), $f as Test)),*]
    };
}

pub const TESTS: &[(&str, Test)] = tests![
    admitted_setup_passes_check,
    admitted_tenant_works_in_its_own_database_over_tls,
    admitted_setup_needs_a_password_for_every_network_login,
    admitted_tenant_cannot_connect_to_other_databases,
    admitted_tenant_cannot_read_other_tenants_rows,
    admitted_tenant_still_sees_the_names_in_the_shared_catalogs,
    admitted_tenant_cannot_call_other_tenants_security_definer_function,
    per_consumer_hba_lines_written_by_hand_keep_tenants_apart,
    member_of_pg_monitor_sees_other_tenants_query_text,
    denied_in_roles_pg_read_all_data_reads_other_tenants_rows,
    denied_in_roles_other_tenants_role_reads_its_rows,
    denied_managed_bootstrap_role_made_superuser,
    denied_password_secret_of_another_role_is_refused_by_cnpg,
    denied_managed_bootstrap_role_with_a_password_secret_takes_over_its_login,
    denied_in_roles_pg_execute_server_program_runs_commands_and_becomes_superuser,
    denied_template_clone_copies_other_tenants_rows,
    denied_is_template_cannot_be_cloned_by_a_tenant_without_createdb,
    denied_schema_owned_by_other_tenant,
    denied_fdw_and_server_usage_granted_to_other_tenant,
    denied_fdw_owner_another_tenant_is_refused_by_postgresql,
    denied_untrusted_extension_is_not_usable_by_the_tenant_by_itself,
    denied_ensure_absent_drops_the_database,
    denied_hba_trust_line_logs_in_without_password,
    denied_hba_newline_form_logs_in_without_password,
    denied_ident_line_maps_to_the_bootstrap_role,
    denied_cluster_without_per_consumer_lines_lets_tenants_cross,
];

// ---------------------------------------------------------------- helpers

/// A server with the admitted setup applied (no role or database error).
fn admitted(s: &Suite) -> Pg {
    start(s, &s.admitted, true)
}

fn start(s: &Suite, docs: &[Value], strict: bool) -> Pg {
    let pg = s.server(docs);
    let applied = apply_all(&pg, docs);
    if strict {
        assert!(
            applied.role_errors.is_empty() && applied.database_errors.is_empty(),
            "CNPG would not reconcile the setup cleanly: roles {:?}, databases {:?}",
            applied.role_errors,
            applied.database_errors
        );
    }
    pg
}

fn rejected_by_hba(out: &Out) -> bool {
    let t = out.text();
    t.contains("pg_hba.conf rejects connection") || t.contains("no pg_hba.conf entry")
}

fn secret_of(t: &Tenant) -> String {
    format!("secret of {}", t.role)
}

/// The tenant's app, in its own database: a table with one row only it may
/// read, and a SECURITY DEFINER function returning that row (PUBLIC may
/// execute functions by default).
fn seed(pg: &Pg, t: &Tenant) {
    let out = pg.tcp(
        &t.login(&t.database),
        &format!(
            "CREATE TABLE public.secrets (id int PRIMARY KEY, v text);\n\
             INSERT INTO public.secrets VALUES (1, {});\n\
             CREATE FUNCTION public.peek(i int) RETURNS text LANGUAGE sql SECURITY DEFINER \
             AS $$ SELECT v FROM public.secrets WHERE id = i $$;\n\
             SELECT v FROM public.secrets WHERE id = 1;",
            literal(&secret_of(t))
        ),
    );
    assert!(
        out.ok() && out.stdout.trim() == secret_of(t),
        "{} could not create and read a table in its own database {}:\n{}",
        t.role,
        t.database,
        show(&out)
    );
}

/// How a role's privileges were exercised.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Path {
    /// Logged in over TCP with TLS and its password.
    Network,
    /// pg_hba keeps the role out of that database (the per-consumer lines):
    /// the same SQL in a superuser session after SET ROLE, which checks the
    /// role's privileges just the same.
    SetRole,
}

impl Path {
    fn how(self) -> &'static str {
        match self {
            Path::Network => "over TCP",
            Path::SetRole => "via SET ROLE (pg_hba keeps it out)",
        }
    }
}

/// `sql` as `login.user` in `login.database`: over the network when pg_hba
/// lets it in, else (see Path::SetRole) as the superuser after SET ROLE.
fn as_role(pg: &Pg, login: &Login, sql: &str) -> (Out, Path) {
    let out = pg.tcp(login, sql);
    if !rejected_by_hba(&out) {
        return (out, Path::Network);
    }
    let out = pg.superuser(login.database, &format!("SET ROLE {};\n{sql}", ident(login.user)));
    (out, Path::SetRole)
}

fn denial_note(check_ok: bool) -> &'static str {
    if check_ok { "denied" } else { "NOT DENIED" }
}

#[track_caller]
fn assert_denied(check: &crate::fixture::Check, ok: bool, what: &str) {
    assert!(
        ok,
        "cnpg-guard check did not deny {what} (exit {:?}); its findings:\n{}",
        check.code,
        check.lines()
    );
}

fn role_index(docs: &[Value], role: &str) -> usize {
    Suite::cluster(docs)
        .pointer("/spec/managed/roles")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .position(|r| r.get("name").and_then(Value::as_str) == Some(role))
        })
        .unwrap_or_else(|| panic!("Cluster apps-pg has no managed role {role}"))
}

fn managed_role_mut<'a>(docs: &'a mut [Value], role: &str) -> &'a mut Value {
    let i = role_index(docs, role);
    Suite::cluster_mut(docs)
        .pointer_mut(&format!("/spec/managed/roles/{i}"))
        .expect("managed role")
}

fn hba_lines(docs: &[Value]) -> Vec<Value> {
    Suite::cluster(docs)
        .pointer("/spec/postgresql/pg_hba")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn set_hba(docs: &mut [Value], lines: Vec<Value>) {
    let cluster = Suite::cluster_mut(docs);
    let spec = cluster.get_mut("spec").and_then(Value::as_object_mut).expect("spec");
    let pg = spec.entry("postgresql").or_insert_with(|| json!({}));
    pg.as_object_mut()
        .expect("spec.postgresql")
        .insert("pg_hba".into(), Value::Array(lines));
}

fn bootstrap(s: &Suite) -> (String, String, String) {
    let cluster = Suite::cluster(&s.admitted);
    let owner = cluster
        .pointer("/spec/bootstrap/initdb/owner")
        .and_then(Value::as_str)
        .expect("owner");
    let db = cluster
        .pointer("/spec/bootstrap/initdb/database")
        .and_then(Value::as_str)
        .expect("database");
    let secret = cluster
        .pointer("/spec/bootstrap/initdb/secret/name")
        .and_then(Value::as_str)
        .expect("bootstrap secret");
    let secret = s
        .admitted
        .iter()
        .find(|d| kind(d) == "Secret" && crate::fixture::name(d) == secret)
        .expect("bootstrap Secret manifest");
    let (_, password) = crate::cnpg::basic_auth(secret).expect("bootstrap Secret");
    (owner.to_owned(), db.to_owned(), password)
}

// ------------------------------------------------------------- admitted

fn admitted_setup_passes_check(s: &Suite) {
    let check = s.check(&s.admitted);
    assert!(
        check.code == Some(0),
        "the admitted setup (deploy/examples/good + onboard for shop and lager) is not admitted by check (exit {:?}):\n{}",
        check.code,
        check.lines()
    );
    let tenants: Vec<String> = s
        .tenants()
        .iter()
        .map(|t| format!("{} ({})", t.role, t.database))
        .collect();
    assert!(
        tenants.len() >= 3,
        "expected vergabe and two onboarded tenants, got {tenants:?}"
    );
}

fn admitted_tenant_works_in_its_own_database_over_tls(s: &Suite) {
    let pg = admitted(s);
    for t in s.tenants() {
        seed(&pg, &t);
        let out = pg.tcp(
            &t.login(&t.database),
            "SELECT current_user || ' ' || current_database() || ' ' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        );
        assert_eq!(
            out.stdout.trim(),
            format!("{} {} true", t.role, t.database),
            "{} in {}:\n{}",
            t.role,
            t.database,
            show(&out)
        );
    }
}

/// The baseline of the pg_hba cases: no role logs in over the network
/// without its password.
fn admitted_setup_needs_a_password_for_every_network_login(s: &Suite) {
    let pg = admitted(s);
    let (owner, owner_db, _) = bootstrap(s);
    let mut logins: Vec<(String, String)> = vec![
        ("postgres".into(), "postgres".into()),
        (owner, owner_db),
        ("streaming_replica".into(), "postgres".into()),
    ];
    logins.extend(s.tenants().into_iter().map(|t| (t.role, t.database)));
    for (user, database) in &logins {
        let out = pg.tcp(
            &Login {
                user,
                database,
                password: None,
            },
            "SELECT 1",
        );
        assert!(
            !out.ok() && (out.text().contains("no password supplied") || out.text().contains("FATAL")),
            "{user} logged in to {database} without a password (or failed oddly):\n{}",
            show(&out)
        );
    }
}

fn admitted_tenant_cannot_connect_to_other_databases(s: &Suite) {
    let pg = admitted(s);
    let tenants = s.tenants();
    let (_, bootstrap_db, _) = bootstrap(s);
    let mut crossed = Vec::new();
    for t in &tenants {
        let mut targets: Vec<String> = tenants
            .iter()
            .filter(|o| o.role != t.role)
            .map(|o| o.database.clone())
            .collect();
        targets.extend([bootstrap_db.clone(), "postgres".into(), "template1".into()]);
        for db in targets {
            let out = pg.tcp(&t.login(&db), "SELECT current_database()");
            if out.ok() {
                crossed.push(format!("{} connected to {db}", t.role));
            } else {
                assert!(
                    rejected_by_hba(&out),
                    "{} -> {db} failed for another reason than pg_hba:\n{}",
                    t.role,
                    show(&out)
                );
            }
        }
    }
    assert!(
        crossed.is_empty(),
        "tenants of the admitted setup reach databases that are not theirs ({} connections):\n    {}\nthe effective pg_hba.conf:\n{}",
        crossed.len(),
        crossed.join("\n    "),
        crate::proc::indent(&pg.hba())
    );
}

fn admitted_tenant_cannot_read_other_tenants_rows(s: &Suite) {
    let pg = admitted(s);
    let tenants = s.tenants();
    for t in &tenants {
        seed(&pg, t);
    }
    let mut read = Vec::new();
    for a in &tenants {
        for b in tenants.iter().filter(|b| b.role != a.role) {
            let out = pg.tcp(&b.login(&a.database), "SELECT v FROM public.secrets");
            if out.ok() || out.stdout.contains(&secret_of(a)) {
                read.push(format!("{} read {}'s row in {}", b.role, a.role, a.database));
            } else {
                assert!(
                    rejected_by_hba(&out) || out.text().contains("permission denied"),
                    "{} reading {}: unexpected failure:\n{}",
                    b.role,
                    a.database,
                    show(&out)
                );
            }
        }
    }
    assert!(read.is_empty(), "cross-tenant reads:\n    {}", read.join("\n    "));
}

/// What pg_hba cannot hide: the cluster-wide catalogs. From its own
/// database a tenant reads every database's and every role's name (not
/// their contents); it sees other tenants' sessions only without their
/// query text.
fn admitted_tenant_still_sees_the_names_in_the_shared_catalogs(s: &Suite) {
    let pg = admitted(s);
    let tenants = s.tenants();
    let (a, b) = (&tenants[0], &tenants[1]);
    let out = pg.tcp(
        &a.login(&a.database),
        "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database",
    );
    assert!(out.ok(), "{}", show(&out));
    assert!(
        out.stdout.contains(&b.database),
        "{} lists {}: {}",
        a.role,
        b.database,
        show(&out)
    );
    let out = pg.tcp(
        &a.login(&a.database),
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{}'", b.role),
    );
    assert_eq!(out.stdout.trim(), "1", "{}", show(&out));
    s.note(
        "admitted tenant: shared catalogs",
        "-",
        "-",
        &format!(
            "yes, names only: {} lists every database (pg_database) and role (pg_roles), {} included",
            a.role, b.role
        ),
    );
}

fn admitted_tenant_cannot_call_other_tenants_security_definer_function(s: &Suite) {
    let pg = admitted(s);
    let tenants = s.tenants();
    for t in &tenants {
        seed(&pg, t);
    }
    let mut called = Vec::new();
    for a in &tenants {
        for b in tenants.iter().filter(|b| b.role != a.role) {
            let out = pg.tcp(&b.login(&a.database), "SELECT public.peek(1)");
            if out.stdout.contains(&secret_of(a)) {
                called.push(format!(
                    "{} called {}'s SECURITY DEFINER public.peek(1) in {} and got its row",
                    b.role, a.role, a.database
                ));
            } else {
                assert!(
                    rejected_by_hba(&out) || out.text().contains("permission denied"),
                    "{} calling {}'s function: unexpected outcome:\n{}",
                    b.role,
                    a.role,
                    show(&out)
                );
            }
        }
    }
    assert!(called.is_empty(), "cross-tenant calls:\n    {}", called.join("\n    "));
}

/// The per-consumer pg_hba lines, added by hand: each consumer its own
/// database over TLS, then one reject line for all consumers.
fn per_consumer_hba_lines_written_by_hand_keep_tenants_apart(s: &Suite) {
    let tenants = s.tenants();
    let mut docs = s.admitted.clone();
    let mut lines = hba_lines(&docs);
    for t in &tenants {
        lines.push(json!(format!("hostssl {} {} all scram-sha-256", t.database, t.role)));
    }
    let roles: Vec<&str> = tenants.iter().map(|t| t.role.as_str()).collect();
    lines.push(json!(format!("host all {} all reject", roles.join(","))));
    set_hba(&mut docs, lines);
    let pg = start(s, &docs, true);
    let (_, bootstrap_db, _) = bootstrap(s);
    for t in &tenants {
        seed(&pg, t);
        for db in tenants
            .iter()
            .filter(|o| o.role != t.role)
            .map(|o| o.database.clone())
            .chain([bootstrap_db.clone(), "postgres".into(), "template1".into()])
        {
            let out = pg.tcp(&t.login(&db), "SELECT 1");
            assert!(
                !out.ok() && out.text().contains("pg_hba.conf rejects connection"),
                "{} -> {db} with the per-consumer lines:\n{}",
                t.role,
                show(&out)
            );
        }
    }
    s.note(
        "hand-written per-consumer pg_hba lines",
        "-",
        "-",
        "no: every cross-tenant login rejected by pg_hba",
    );
}

/// Not denied: the contract's own example (`memberOf: [pg_monitor]`).
/// PostgreSQL shows every session's query text to pg_read_all_stats
/// members (through pg_monitor); measured against a tenant without it.
fn member_of_pg_monitor_sees_other_tenants_query_text(s: &Suite) {
    let case = "memberOf/inRoles [pg_monitor]";
    let vergabe = s.tenant("vergabe");
    let shop = s.tenant("shop");
    let lager = s.tenant("lager");
    let mut contract = s.contract_value();
    let consumers = contract
        .pointer_mut("/sharedClusters/0/consumers")
        .and_then(Value::as_array_mut)
        .expect("consumers");
    for c in consumers.iter_mut() {
        if c.get("role").and_then(Value::as_str) == Some("vergabe") {
            c["memberOf"] = json!(["pg_monitor"]);
        }
    }
    let contract_path = s.scratch_file(
        "contract-pg-monitor.yaml",
        &serde_norway::to_string(&contract).expect("contract YAML"),
    );
    let validate = crate::proc::run(
        std::process::Command::new(crate::support::guard_bin())
            .args(["contract", "validate"])
            .arg(&contract_path),
        None,
        std::time::Duration::from_secs(30),
    );
    let mut docs = s.admitted.clone();
    managed_role_mut(&mut docs, "vergabe")
        .as_object_mut()
        .expect("role")
        .insert("inRoles".into(), json!(["pg_monitor"]));
    let check = s.check_with(&docs, &contract_path);
    let (pg, applied) = admitted_then(s, &docs);
    assert!(applied.role_errors.is_empty(), "{:?}", applied.role_errors);
    let marker = "shop secret query text";
    let _running = pg.tcp_background(
        &shop.login(&shop.database),
        &format!("SELECT pg_sleep(5) AS \"{marker}\""),
    );
    let query = "SELECT coalesce(string_agg(query, ' | '), '') FROM pg_stat_activity WHERE usename = 'shop'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    let seen = loop {
        let out = pg.tcp(&vergabe.login(&vergabe.database), query);
        if out.stdout.contains(marker) {
            break true;
        }
        if std::time::Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let control = pg.tcp(&lager.login(&lager.database), query);
    let warned = validate.text().to_lowercase().contains("pg_monitor");
    s.note(
        case,
        "contract",
        &format!(
            "check exit {:?}{}",
            check.code,
            if warned { ", validate warns" } else { "" }
        ),
        &if seen {
            "yes: vergabe reads shop's query text in pg_stat_activity (lager sees <insufficient privilege>)".to_owned()
        } else {
            "no".to_owned()
        },
    );
    assert!(
        control.stdout.contains("insufficient privilege") && !control.stdout.contains(marker),
        "lager (no pg_monitor) should not see shop's query:\n{}",
        show(&control)
    );
    assert!(seen, "vergabe (pg_monitor) did not see shop's query text");
    assert_eq!(
        check.code,
        Some(0),
        "inRoles within the contract's memberOf should be admitted:\n{}",
        check.lines()
    );
}

// --------------------------------------------------------------- denied

/// Starts the admitted setup, seeds every tenant, then applies `docs` (a
/// changed Cluster and/or Databases) as CNPG would reconcile the update.
fn admitted_then(s: &Suite, docs: &[Value]) -> (Pg, crate::fixture::Applied) {
    let pg = admitted(s);
    for t in s.tenants() {
        seed(&pg, &t);
    }
    let applied = apply_all(&pg, docs);
    (pg, applied)
}

/// vergabe's managed role with `inRoles: [member_of]`: check's verdict, and
/// a server with the admitted setup (seeded) updated to it.
fn in_roles_case(s: &Suite, member_of: &str) -> (Pg, Tenant, Tenant, bool) {
    let vergabe = s.tenant("vergabe");
    let shop = s.tenant("shop");
    let mut docs = s.admitted.clone();
    managed_role_mut(&mut docs, "vergabe")
        .as_object_mut()
        .expect("role")
        .insert("inRoles".into(), json!([member_of]));
    let i = role_index(&docs, "vergabe");
    let check = s.check(&docs);
    let denied = check.denies(
        "role-registered",
        "Cluster",
        "apps-pg",
        &format!("spec.managed.roles[{i}].inRoles"),
    );
    let (pg, applied) = admitted_then(s, &docs);
    assert!(
        applied.role_errors.is_empty(),
        "CNPG refused the role: {:?}",
        applied.role_errors
    );
    (pg, vergabe, shop, denied)
}

fn denied_in_roles_pg_read_all_data_reads_other_tenants_rows(s: &Suite) {
    let case = "inRoles [pg_read_all_data]";
    let (pg, vergabe, shop, denied) = in_roles_case(s, "pg_read_all_data");
    let (out, path) = as_role(&pg, &vergabe.login(&shop.database), "SELECT v FROM public.secrets");
    let harm = out.stdout.trim() == secret_of(&shop);
    s.note(
        case,
        "role-registered",
        denial_note(denied),
        &if harm {
            format!("yes: vergabe read shop's row {}", path.how())
        } else {
            "no".into()
        },
    );
    assert!(
        harm,
        "vergabe (pg_read_all_data) did not read shop's row:\n{}",
        show(&out)
    );
    assert!(
        denied,
        "cnpg-guard check did not deny inRoles [pg_read_all_data] on role-registered"
    );
}

fn denied_in_roles_other_tenants_role_reads_its_rows(s: &Suite) {
    let case = "inRoles [shop] (another tenant)";
    let (pg, vergabe, shop, denied) = in_roles_case(s, "shop");
    let (out, path) = as_role(
        &pg,
        &vergabe.login(&shop.database),
        "SELECT v FROM public.secrets; DROP TABLE public.secrets; SELECT 'dropped'",
    );
    let harm = out.stdout.contains(&secret_of(&shop)) && out.stdout.contains("dropped");
    s.note(
        case,
        "role-registered",
        denial_note(denied),
        &if harm {
            format!("yes: vergabe read and dropped shop's table {}", path.how())
        } else {
            "no".into()
        },
    );
    assert!(
        harm,
        "vergabe (member of shop) did not read/drop shop's table:\n{}",
        show(&out)
    );
    assert!(
        denied,
        "cnpg-guard check did not deny inRoles [shop] on role-registered"
    );
}

fn denied_managed_bootstrap_role_made_superuser(s: &Suite) {
    let case = "managed role apps_admin superuser: true";
    let (owner, owner_db, owner_password) = bootstrap(s);
    let mut docs = s.admitted.clone();
    let roles = Suite::cluster_mut(&mut docs)
        .pointer_mut("/spec/managed/roles")
        .and_then(Value::as_array_mut)
        .expect("managed roles");
    roles.push(json!({"name": owner, "ensure": "present", "login": true, "superuser": true}));
    let i = roles.len() - 1;
    let check = s.check(&docs);
    let denied = check.denies(
        "role-registered",
        "Cluster",
        "apps-pg",
        &format!("spec.managed.roles[{i}].superuser"),
    );
    let (pg, applied) = admitted_then(s, &docs);
    assert!(
        applied.role_errors.is_empty(),
        "CNPG refused: {:?}",
        applied.role_errors
    );
    let shop = s.tenant("shop");
    let login = Login {
        user: &owner,
        database: &owner_db,
        password: Some(&owner_password),
    };
    let su = pg.tcp(&login, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user");
    let (read, path) = as_role(
        &pg,
        &Login {
            user: &owner,
            database: &shop.database,
            password: Some(&owner_password),
        },
        "SELECT v FROM public.secrets",
    );
    let harm = su.stdout.trim() == "t" && read.stdout.trim() == secret_of(&shop);
    s.note(
        case,
        "role-registered",
        denial_note(denied),
        &if harm {
            format!(
                "yes: {owner} logs in with its password as a superuser, reads shop's row {}",
                path.how()
            )
        } else {
            "no".into()
        },
    );
    assert!(
        harm,
        "{owner} is not a superuser reading shop's rows:\n{}{}",
        show(&su),
        show(&read)
    );
    assert_denied(&check, denied, "superuser: true on the bootstrap role");
}

fn denied_password_secret_of_another_role_is_refused_by_cnpg(s: &Suite) {
    let case = "passwordSecret of shop / bootstrap Secret";
    let vergabe = s.tenant("vergabe");
    let shop = s.tenant("shop");
    let (owner, _, owner_password) = bootstrap(s);
    let shop_secret = Suite::cluster(&s.admitted)
        .pointer(&format!(
            "/spec/managed/roles/{}/passwordSecret/name",
            role_index(&s.admitted, "shop")
        ))
        .and_then(Value::as_str)
        .expect("shop's passwordSecret")
        .to_owned();
    let bootstrap_secret = Suite::cluster(&s.admitted)
        .pointer("/spec/bootstrap/initdb/secret/name")
        .and_then(Value::as_str)
        .expect("bootstrap secret")
        .to_owned();
    let mut checks = Vec::new();
    let pg = admitted(s);
    let mut refusals = Vec::new();
    for (secret, username, password) in [
        (&shop_secret, "shop", &shop.password),
        (&bootstrap_secret, owner.as_str(), &owner_password),
    ] {
        let mut docs = s.admitted.clone();
        managed_role_mut(&mut docs, "vergabe")
            .as_object_mut()
            .expect("role")
            .insert("passwordSecret".into(), json!({"name": secret}));
        let i = role_index(&docs, "vergabe");
        let check = s.check(&docs);
        checks.push((
            secret.clone(),
            check.denies(
                "role-registered",
                "Cluster",
                "apps-pg",
                &format!("spec.managed.roles[{i}].passwordSecret"),
            ),
            check.lines(),
        ));
        let errors = apply_cluster(&pg, &docs);
        let expected = format!("wrong username '{username}' in secret, expected 'vergabe'");
        assert!(
            errors.iter().any(|(r, e)| r == "vergabe" && e == &expected),
            "CNPG should refuse the Secret with \"{expected}\"; errors: {errors:?}"
        );
        // vergabe keeps its own password; the other Secret's does not log it in.
        let own = pg.tcp(&vergabe.login(&vergabe.database), "SELECT 1");
        let other = pg.tcp(
            &Login {
                user: "vergabe",
                database: &vergabe.database,
                password: Some(password),
            },
            "SELECT 1",
        );
        assert!(own.ok(), "vergabe lost its own password:\n{}", show(&own));
        assert!(
            !other.ok() && other.text().contains("password authentication failed"),
            "vergabe logged in with {secret}'s password:\n{}",
            show(&other)
        );
        refusals.push(secret.clone());
    }
    let all_denied = checks.iter().all(|(_, d, _)| *d);
    s.note(
        case,
        "role-registered",
        denial_note(all_denied),
        "no: CNPG refuses a Secret of another username (defence in depth)",
    );
    for (secret, denied, lines) in &checks {
        assert!(*denied, "check did not deny passwordSecret {secret}:\n{lines}");
    }
}

/// A managed-role entry for the bootstrap role with a passwordSecret of the
/// right username (a new Secret in the shared namespace): CNPG sets the
/// bootstrap owner's password to whatever that Secret holds.
fn denied_managed_bootstrap_role_with_a_password_secret_takes_over_its_login(s: &Suite) {
    let case = "managed role apps_admin passwordSecret";
    let (owner, owner_db, owner_password) = bootstrap(s);
    let chosen = format!("chosen-by-the-writer-{}", std::process::id());
    let mut docs = s.admitted.clone();
    docs.push(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "apps-pg-admin-takeover", "namespace": "databases"},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": owner, "password": chosen},
    }));
    let roles = Suite::cluster_mut(&mut docs)
        .pointer_mut("/spec/managed/roles")
        .and_then(Value::as_array_mut)
        .expect("managed roles");
    roles.push(json!({"name": owner, "ensure": "present", "login": true,
                      "passwordSecret": {"name": "apps-pg-admin-takeover"}}));
    let i = roles.len() - 1;
    let check = s.check(&docs);
    let denied = check.denies(
        "role-registered",
        "Cluster",
        "apps-pg",
        &format!("spec.managed.roles[{i}]"),
    );
    let (pg, applied) = admitted_then(s, &docs);
    assert!(
        applied.role_errors.is_empty(),
        "CNPG refused: {:?}",
        applied.role_errors
    );
    let with_chosen = pg.tcp(
        &Login {
            user: &owner,
            database: &owner_db,
            password: Some(&chosen),
        },
        "SELECT current_user",
    );
    let with_bootstrap = pg.tcp(
        &Login {
            user: &owner,
            database: &owner_db,
            password: Some(&owner_password),
        },
        "SELECT current_user",
    );
    let harm = with_chosen.ok() && !with_bootstrap.ok();
    s.note(
        case,
        "role-registered",
        denial_note(denied),
        if harm {
            "yes: apps_admin logs in with the new Secret's password; the bootstrap Secret's no longer works"
        } else {
            "no"
        },
    );
    assert!(
        harm,
        "login with the chosen password:\n{}login with the bootstrap password:\n{}",
        show(&with_chosen),
        show(&with_bootstrap)
    );
    assert_denied(&check, denied, "a passwordSecret on the bootstrap role's managed entry");
}

fn denied_in_roles_pg_execute_server_program_runs_commands_and_becomes_superuser(s: &Suite) {
    let case = "inRoles [pg_execute_server_program]";
    let (pg, vergabe, _shop, denied) = in_roles_case(s, "pg_execute_server_program");
    let login = vergabe.login(&vergabe.database);
    let (id, path) = as_role(
        &pg,
        &login,
        "CREATE TEMP TABLE o (line text); COPY o FROM PROGRAM 'id -un'; SELECT line FROM o",
    );
    assert!(
        id.ok() && id.stdout.trim() == pg.os.name,
        "COPY FROM PROGRAM as vergabe did not run `id -un` as {}:\n{}",
        pg.os.name,
        show(&id)
    );
    // The command runs as the server's OS user, whom CNPG's `local all all
    // peer map=local` line (pg_ident `local <os user> postgres`) logs in as
    // postgres over the Unix socket: vergabe makes itself a superuser.
    let psql = pg.bin.join("psql");
    let command = format!(
        "{} -X -w -h {} -p {} -U postgres -d postgres -c \"ALTER ROLE vergabe SUPERUSER\"",
        psql.display(),
        pg.sock.display(),
        pg.port
    );
    let (escalate, _) = as_role(
        &pg,
        &login,
        &format!(
            "CREATE TEMP TABLE o (line text); COPY o FROM PROGRAM {}; SELECT line FROM o",
            literal(&command)
        ),
    );
    let su = pg.superuser_ok("postgres", "SELECT rolsuper FROM pg_roles WHERE rolname = 'vergabe'");
    let harm = su == "t";
    s.note(
        case,
        "role-registered",
        denial_note(denied),
        &if harm {
            format!(
                "yes: `id -un` = {} {}; then psql as postgres via peer map=local: vergabe is superuser",
                pg.os.name,
                path.how()
            )
        } else {
            format!("partly: `id -un` = {}", pg.os.name)
        },
    );
    assert!(
        harm,
        "vergabe did not become superuser through COPY FROM PROGRAM:\n{}",
        show(&escalate)
    );
    assert!(denied, "check did not deny inRoles [pg_execute_server_program]");
}

fn denied_template_clone_copies_other_tenants_rows(s: &Suite) {
    let case = "Database template: shop_db";
    let vergabe = s.tenant("vergabe");
    let shop = s.tenant("shop");
    let mut docs = s.admitted.clone();
    let db = Suite::database_mut(&mut docs, &vergabe.database);
    let db_name = crate::fixture::name(db).to_owned();
    db["spec"]["template"] = json!(shop.database);
    let check = s.check(&docs);
    let denied = check.denies("tenant-isolated", "Database", &db_name, "spec.template");
    // shop's database first, with its rows; vergabe's is created afterwards.
    let pg = s.server(&docs);
    assert!(apply_cluster(&pg, &docs).is_empty(), "roles");
    let shop_db = docs
        .iter()
        .find(|d| kind(d) == "Database" && d.pointer("/spec/name").and_then(Value::as_str) == Some(&shop.database))
        .expect("shop's Database");
    assert!(crate::cnpg::apply_database(&pg, shop_db).errors.is_empty());
    seed(&pg, &shop);
    for d in docs
        .iter()
        .filter(|d| kind(d) == "Database" && d.pointer("/spec/name").and_then(Value::as_str) != Some(&shop.database))
    {
        let errors = crate::cnpg::apply_database(&pg, d).errors;
        assert!(errors.is_empty(), "{errors:?}");
    }
    let copied = pg.superuser_ok(&vergabe.database, "SELECT v FROM public.secrets");
    let (peek, path) = as_role(&pg, &vergabe.login(&vergabe.database), "SELECT public.peek(1)");
    let harm = copied == secret_of(&shop) && peek.stdout.trim() == secret_of(&shop);
    s.note(
        case,
        "tenant-isolated",
        denial_note(denied),
        &if harm {
            format!(
                "yes: vergabe_db holds shop's rows; vergabe reads them through the copied definer function {}",
                path.how()
            )
        } else {
            format!("partly: copied rows: {copied:?}")
        },
    );
    assert!(harm, "the clone did not hand shop's row to vergabe:\n{}", show(&peek));
    assert_denied(&check, denied, "spec.template: shop_db");
}

/// isTemplate: true on shop's database: any CREATEDB role could copy it.
/// Consumer roles have no CREATEDB (role-registered), so a tenant cannot.
fn denied_is_template_cannot_be_cloned_by_a_tenant_without_createdb(s: &Suite) {
    let case = "Database isTemplate: true";
    let vergabe = s.tenant("vergabe");
    let shop = s.tenant("shop");
    let mut docs = s.admitted.clone();
    let db = Suite::database_mut(&mut docs, &shop.database);
    let db_name = crate::fixture::name(db).to_owned();
    db["spec"]["isTemplate"] = json!(true);
    let check = s.check(&docs);
    let denied = check.denies("tenant-isolated", "Database", &db_name, "spec.isTemplate");
    let (pg, applied) = admitted_then(s, &docs);
    assert!(applied.database_errors.is_empty(), "{:?}", applied.database_errors);
    let is_template = pg.superuser_ok(
        "postgres",
        &format!(
            "SELECT datistemplate FROM pg_database WHERE datname = {}",
            literal(&shop.database)
        ),
    );
    assert_eq!(
        is_template, "t",
        "shop_db is not a template after CNPG's ALTER DATABASE"
    );
    let clone = pg.tcp(
        &vergabe.login(&vergabe.database),
        &format!("CREATE DATABASE vergabe_copy TEMPLATE {}", ident(&shop.database)),
    );
    let harm = clone.ok();
    s.note(
        case,
        "tenant-isolated",
        denial_note(denied),
        if harm {
            "yes: vergabe cloned shop_db"
        } else {
            "no: cloning needs CREATEDB, which no consumer role has (defence in depth)"
        },
    );
    assert!(
        !harm && clone.text().contains("permission denied to create database"),
        "vergabe and the template shop_db:\n{}",
        show(&clone)
    );
    assert_denied(&check, denied, "isTemplate: true");
}

fn denied_schema_owned_by_other_tenant(s: &Suite) {
    let case = "schema in vergabe_db owned by shop";
    let vergabe = s.tenant("vergabe");
    let shop = s.tenant("shop");
    let mut docs = s.admitted.clone();
    let db = Suite::database_mut(&mut docs, &vergabe.database);
    let db_name = crate::fixture::name(db).to_owned();
    db["spec"]["schemas"] = json!([{"name": "shared", "owner": shop.role}]);
    let check = s.check(&docs);
    let denied = check.denies("tenant-isolated", "Database", &db_name, "spec.schemas[0].owner");
    let (pg, applied) = admitted_then(s, &docs);
    assert!(applied.database_errors.is_empty(), "{:?}", applied.database_errors);
    let owner = pg.superuser_ok(
        &vergabe.database,
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'shared'",
    );
    let (plant, path) = as_role(
        &pg,
        &shop.login(&vergabe.database),
        "CREATE FUNCTION shared.now() RETURNS text LANGUAGE sql AS $$ SELECT 'planted by shop' $$; SELECT shared.now()",
    );
    let harm = owner == shop.role && plant.stdout.trim() == "planted by shop";
    s.note(
        case,
        "tenant-isolated",
        denial_note(denied),
        &if harm {
            format!(
                "yes: shop owns a schema in vergabe_db and plants functions there {}",
                path.how()
            )
        } else {
            "no".into()
        },
    );
    assert!(harm, "owner {owner:?}; planting:\n{}", show(&plant));
    assert_denied(&check, denied, "a schema owned by shop in vergabe's Database");
}

fn denied_fdw_and_server_usage_granted_to_other_tenant(s: &Suite) {
    let case = "fdw/server usage granted to shop";
    let vergabe = s.tenant("vergabe");
    let shop = s.tenant("shop");
    let mut docs = s.admitted.clone();
    let db = Suite::database_mut(&mut docs, &vergabe.database);
    let db_name = crate::fixture::name(db).to_owned();
    db["spec"]["fdws"] = json!([{"name": "vergabe_fdw", "usage": [{"name": shop.role, "type": "grant"}]}]);
    db["spec"]["servers"] =
        json!([{"name": "vergabe_srv", "fdw": "vergabe_fdw", "usage": [{"name": shop.role, "type": "grant"}]}]);
    let check = s.check(&docs);
    let fdw_denied = check.denies("tenant-isolated", "Database", &db_name, "spec.fdws[0].usage");
    let srv_denied = check.denies("tenant-isolated", "Database", &db_name, "spec.servers[0].usage");
    let (pg, applied) = admitted_then(s, &docs);
    assert!(applied.database_errors.is_empty(), "{:?}", applied.database_errors);
    let (used, path) = as_role(
        &pg,
        &shop.login(&vergabe.database),
        "CREATE USER MAPPING FOR CURRENT_USER SERVER vergabe_srv; \
         CREATE SERVER shop_srv FOREIGN DATA WRAPPER vergabe_fdw; \
         SELECT count(*) FROM pg_foreign_server s JOIN pg_user_mappings m ON m.srvid = s.oid WHERE m.usename = current_user",
    );
    let harm = used.ok() && used.stdout.trim() == "1";
    s.note(
        case,
        "tenant-isolated",
        denial_note(fdw_denied && srv_denied),
        &if harm {
            format!(
                "yes: shop maps itself on vergabe's server and makes servers with vergabe's FDW {}",
                path.how()
            )
        } else {
            "no".into()
        },
    );
    assert!(harm, "shop could not use vergabe's FDW/server:\n{}", show(&used));
    assert!(
        fdw_denied && srv_denied,
        "check did not deny both usage grants (fdw {fdw_denied}, server {srv_denied}):\n{}",
        check.lines()
    );
}

/// fdws[].owner naming another tenant: CNPG creates the FDW without an
/// owner (so the superuser owns it) and later runs ALTER FOREIGN DATA
/// WRAPPER ... OWNER TO, which PostgreSQL refuses for a non-superuser.
fn denied_fdw_owner_another_tenant_is_refused_by_postgresql(s: &Suite) {
    let case = "fdw owner: shop";
    let vergabe = s.tenant("vergabe");
    let shop = s.tenant("shop");
    let mut docs = s.admitted.clone();
    let db = Suite::database_mut(&mut docs, &vergabe.database);
    let db_name = crate::fixture::name(db).to_owned();
    db["spec"]["fdws"] = json!([{"name": "vergabe_fdw", "owner": shop.role}]);
    let check = s.check(&docs);
    let denied = check.denies("tenant-isolated", "Database", &db_name, "spec.fdws[0].owner");
    let (pg, first) = admitted_then(s, &docs);
    assert!(first.database_errors.is_empty(), "{:?}", first.database_errors);
    // The next reconciliation finds the FDW and aligns its owner.
    let second = apply_all(&pg, &docs);
    let owner = pg.superuser_ok(
        &vergabe.database,
        "SELECT pg_get_userbyid(fdwowner) FROM pg_foreign_data_wrapper WHERE fdwname = 'vergabe_fdw'",
    );
    let refused = second
        .database_errors
        .iter()
        .any(|e| e.contains("OWNER TO") && e.contains("must be a superuser"));
    let harm = owner == shop.role;
    s.note(
        case,
        "tenant-isolated",
        denial_note(denied),
        if harm {
            "yes: shop owns vergabe's FDW"
        } else {
            "no: PostgreSQL refuses a non-superuser FDW owner (defence in depth)"
        },
    );
    assert!(
        !harm && refused,
        "FDW owner {owner:?}; errors of the second reconciliation: {:?}",
        second.database_errors
    );
    assert_denied(&check, denied, "fdws[0].owner: shop");
}

/// Extensions outside allowedExtensions, created by CNPG's superuser in the
/// tenant's database: what the tenant can do with them by itself.
fn denied_untrusted_extension_is_not_usable_by_the_tenant_by_itself(s: &Suite) {
    let case = "extensions [file_fdw, dblink]";
    let vergabe = s.tenant("vergabe");
    let shop = s.tenant("shop");
    let mut docs = s.admitted.clone();
    let db = Suite::database_mut(&mut docs, &vergabe.database);
    let db_name = crate::fixture::name(db).to_owned();
    db["spec"]["extensions"] = json!([{"name": "file_fdw"}, {"name": "dblink"}]);
    let check = s.check(&docs);
    let denied = check.denies("tenant-isolated", "Database", &db_name, "spec.extensions[0]")
        && check.denies("tenant-isolated", "Database", &db_name, "spec.extensions[1]");
    let (pg, applied) = admitted_then(s, &docs);
    assert!(applied.database_errors.is_empty(), "{:?}", applied.database_errors);
    let login = vergabe.login(&vergabe.database);
    // file_fdw: reading server files needs USAGE on the FDW (superuser only).
    let file = pg.tcp(&login, "CREATE SERVER files FOREIGN DATA WRAPPER file_fdw");
    // dblink: a non-superuser must authenticate with a password, so it
    // reaches nothing the tenant could not reach with its own credentials.
    let peer = pg.tcp(
        &login,
        &format!(
            "SELECT * FROM dblink('host={} port={} dbname={} user=postgres', 'SELECT 1') AS t(x int)",
            pg.sock.display(),
            pg.port,
            shop.database
        ),
    );
    let harm = file.ok() || peer.ok();
    s.note(
        case,
        "tenant-isolated",
        denial_note(denied),
        if harm {
            "yes"
        } else {
            "no: file_fdw needs USAGE, dblink a password (defence in depth)"
        },
    );
    assert!(
        !file.ok() && file.text().contains("permission denied"),
        "vergabe and file_fdw:\n{}",
        show(&file)
    );
    assert!(
        !peer.ok() && peer.text().contains("required"),
        "vergabe and dblink over the socket as postgres:\n{}",
        show(&peer)
    );
    assert_denied(&check, denied, "untrusted extensions");
}

fn denied_ensure_absent_drops_the_database(s: &Suite) {
    let case = "Database ensure: absent";
    let vergabe = s.tenant("vergabe");
    let mut docs = s.admitted.clone();
    let db = Suite::database_mut(&mut docs, &vergabe.database);
    let db_name = crate::fixture::name(db).to_owned();
    db["spec"]["ensure"] = json!("absent");
    let check = s.check(&docs);
    let denied = check.denies("data-retained", "Database", &db_name, "spec.ensure");
    let (pg, applied) = admitted_then(s, &docs);
    assert!(applied.database_errors.is_empty(), "{:?}", applied.database_errors);
    let left = pg.superuser_ok(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname = {}",
            literal(&vergabe.database)
        ),
    );
    let login = pg.tcp(&vergabe.login(&vergabe.database), "SELECT 1");
    let harm = left == "0" && login.text().contains("does not exist");
    s.note(
        case,
        "data-retained",
        denial_note(denied),
        if harm {
            "yes: vergabe_db and its rows are gone"
        } else {
            "no"
        },
    );
    assert!(harm, "vergabe_db still there ({left}):\n{}", show(&login));
    assert_denied(&check, denied, "ensure: absent");
}

fn no_password_logins(pg: &Pg) -> Vec<String> {
    let mut got = Vec::new();
    for (user, db) in [("postgres", "postgres"), ("shop", "shop_db")] {
        let out = pg.tcp(
            &Login {
                user,
                database: db,
                password: None,
            },
            "SELECT current_user || ' superuser=' || rolsuper FROM pg_roles WHERE rolname = current_user",
        );
        if out.ok() {
            got.push(out.stdout.trim().to_owned());
        }
    }
    got
}

fn hba_case(s: &Suite, case: &str, line: &str) {
    let mut docs = s.admitted.clone();
    let mut lines = hba_lines(&docs);
    lines.insert(0, json!(line));
    set_hba(&mut docs, lines);
    let check = s.check(&docs);
    let denied = check.denies("auth-posture", "Cluster", "apps-pg", "spec.postgresql.pg_hba[0]");
    let pg = start(s, &docs, true);
    let logins = no_password_logins(&pg);
    let harm = logins.iter().any(|l| l == "postgres superuser=true");
    s.note(
        case,
        "auth-posture",
        denial_note(denied),
        &if harm {
            format!("yes: no password: {}", logins.join(", "))
        } else {
            "no".into()
        },
    );
    assert!(
        harm,
        "no password-less login as postgres; logins {logins:?}; pg_hba.conf:\n{}",
        crate::proc::indent(&pg.hba())
    );
    assert_denied(&check, denied, &format!("pg_hba line {line:?}"));
}

fn denied_hba_trust_line_logs_in_without_password(s: &Suite) {
    hba_case(s, "pg_hba trust line", "host all all 0.0.0.0/0 trust");
}

fn denied_hba_newline_form_logs_in_without_password(s: &Suite) {
    hba_case(
        s,
        "pg_hba newline form",
        "host all all 10.0.0.0/8 scram-sha-256\nhost all all 0.0.0.0/0 trust",
    );
}

fn denied_ident_line_maps_to_the_bootstrap_role(s: &Suite) {
    let case = "pg_ident line -> bootstrap role";
    let (owner, owner_db, _) = bootstrap(s);
    // The OS user running this suite, in CNPG's `local` map (used by the
    // fixed `local all all peer map=local` line).
    let me = crate::server::OsUser::detect_suite_user();
    let line = format!("local {me} {owner}");
    let mut docs = s.admitted.clone();
    {
        let cluster = Suite::cluster_mut(&mut docs);
        let spec = cluster.get_mut("spec").and_then(Value::as_object_mut).expect("spec");
        let pgc = spec.entry("postgresql").or_insert_with(|| json!({}));
        pgc.as_object_mut()
            .expect("postgresql")
            .insert("pg_ident".into(), json!([line]));
    }
    let check = s.check(&docs);
    let denied = check.denies("auth-posture", "Cluster", "apps-pg", "spec.postgresql.pg_ident[0]");
    let pg = start(s, &docs, true);
    let map = pg.superuser_ok(
        "postgres",
        &format!(
            "SELECT map_name || ' ' || sys_name || ' ' || pg_username FROM pg_ident_file_mappings \
             WHERE pg_username = {} AND error IS NULL",
            literal(&owner)
        ),
    );
    let login = pg.socket_as_suite_user(&owner, &owner_db, "SELECT current_user");
    let harm = map == format!("local {me} {owner}") && login.ok() && login.stdout.trim() == owner;
    s.note(
        case,
        "auth-posture",
        denial_note(denied),
        &if harm {
            format!("yes: pg_ident_file_mappings has it; OS user {me} logs in as {owner} with no password (socket)")
        } else {
            format!("map in effect: {map:?}")
        },
    );
    assert!(harm, "map {map:?}; socket login as {owner}:\n{}", show(&login));
    assert_denied(&check, denied, &format!("pg_ident line {line:?}"));
}

fn denied_cluster_without_per_consumer_lines_lets_tenants_cross(s: &Suite) {
    let case = "Cluster without per-consumer pg_hba lines";
    let tenants = s.tenants();
    let names: Vec<&str> = tenants
        .iter()
        .flat_map(|t| [t.role.as_str(), t.database.as_str()])
        .collect();
    let mut docs = s.admitted.clone();
    let before = hba_lines(&docs);
    let kept: Vec<Value> = before
        .iter()
        .filter(|l| {
            let toks: Vec<&str> = l.as_str().unwrap_or("").split_whitespace().collect();
            let names_consumer = |i: usize| toks.get(i).is_some_and(|f| f.split(',').any(|x| names.contains(&x)));
            !(names_consumer(1) || names_consumer(2))
        })
        .cloned()
        .collect();
    let removed = before.len() - kept.len();
    set_hba(&mut docs, kept);
    let check = s.check(&docs);
    let denied = check.code == Some(1)
        && check.findings.iter().any(|f| {
            matches!(
                f.get("rule").and_then(Value::as_str),
                Some("tenant-isolated" | "auth-posture")
            ) && f.get("kind").and_then(Value::as_str) == Some("Cluster")
                && f.get("disposition").and_then(Value::as_str) == Some("denied")
        });
    let pg = start(s, &docs, true);
    let vergabe = s.tenant("vergabe");
    let shop = s.tenant("shop");
    seed(&pg, &shop);
    let out = pg.tcp(
        &vergabe.login(&shop.database),
        "SELECT current_database() || ' ' || public.peek(1)",
    );
    let harm = out.ok() && out.stdout.trim() == format!("{} {}", shop.database, secret_of(&shop));
    s.note(
        case,
        "tenant-isolated",
        denial_note(denied),
        &if harm {
            format!("yes: vergabe connects to shop_db, reads shop's row via peek() ({removed} lines removed)")
        } else {
            "no".into()
        },
    );
    assert!(harm, "vergabe did not cross into shop_db:\n{}", show(&out));
    assert!(
        denied,
        "cnpg-guard check did not deny the Cluster without the per-consumer pg_hba lines ({removed} removed) under tenant-isolated or auth-posture:\n{}",
        check.lines()
    );
}
