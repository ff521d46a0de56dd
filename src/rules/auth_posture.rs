//! **auth-posture**: nobody reaches a shared cluster without
//! authenticating. `pg_hba` lines that skip or weaken authentication,
//! `pg_ident` maps onto privileged or other tenants' roles, and `ALTER
//! SYSTEM` (configuration the guard never sees) are refused.

use super::{Cx, Evidence, Rule, RuleId, written};
use crate::contract::SharedCluster;
use crate::model::hba::{self, Connection, HbaEntry, Token, Unreadable};
use crate::model::{Cluster, Pooler};

pub(super) const RULE: Rule = Rule {
    id: RuleId::AuthPosture,
    names: &[],
    checks: &[written!(Cluster, cluster), written!(Pooler, pooler)],
};

/// Methods that let a network client in without a real password or
/// certificate: `trust` (nothing), `password` (clear text), `ident` (the
/// client's word), `peer` (meaningless over a network).
const WEAK_METHODS: &[&str] = &["trust", "password", "ident", "peer"];

fn cluster(cx: &mut Cx<'_>, c: &Cluster) {
    let Some(shared) = cx.shared_cluster() else {
        return;
    };
    let pg = c.postgresql();
    for (i, (entry, lines)) in pg.pg_hba.iter().zip(pg.hba()).enumerate() {
        check_hba_entry(cx, &format!("spec.postgresql.pg_hba[{i}]"), entry, lines);
    }
    for (i, line) in pg.pg_ident.iter().enumerate() {
        check_ident_entry(cx, shared, &format!("spec.postgresql.pg_ident[{i}]"), line);
    }
    if pg.enable_alter_system == Some(true) {
        cx.violation(
            "spec.postgresql.enableAlterSystem",
            "ALTER SYSTEM changes the server's configuration (authentication included) where the guard cannot see it",
            "remove enableAlterSystem or set it to false; change parameters in spec.postgresql.parameters",
        );
    }
}

fn pooler(cx: &mut Cx<'_>, p: &Pooler) {
    if cx.referenced_cluster(&p.spec.cluster.name).is_none() {
        return;
    }
    for (i, entry) in p.spec.pgbouncer.iter().flat_map(|b| &b.pg_hba).enumerate() {
        check_hba_entry(
            cx,
            &format!("spec.pgbouncer.pg_hba[{i}]"),
            entry,
            &hba::parse_hba(entry),
        );
    }
}

/// Where line `line` of an entry is, in words, when the entry has several.
fn place(line: usize, lines: usize) -> String {
    if lines > 1 {
        format!("line {line} of the entry: ")
    } else {
        String::new()
    }
}

/// One `pg_hba` entry, line by line as PostgreSQL reads the file CNPG
/// writes: a `host*` line may not use a weak method; an `include`
/// directive is refused, since what it includes is not visible; a line the
/// guard cannot classify is refused, since it cannot vouch for it.
fn check_hba_entry(cx: &mut Cx<'_>, field: &str, entry: &str, lines: &[Result<HbaEntry, Unreadable>]) {
    let count = lines.len();
    for (n, line) in lines.iter().enumerate() {
        let at = place(n + 1, count);
        match line {
            Err(Unreadable { why, .. }) => cx.violation_with(
                Evidence::of(entry),
                field,
                format!(
                    "{at}the guard cannot read this pg_hba line as PostgreSQL would ({why}), so it cannot vouch for it"
                ),
                "write one rule per entry: TYPE DATABASE USER ADDRESS METHOD [OPTIONS], with a known method",
            ),
            Ok(HbaEntry::Include(kind)) => cx.violation(
                field,
                format!("{at}{kind} reads authentication rules from a file the guard cannot see"),
                "write the rules as pg_hba lines in the CR",
            ),
            Ok(HbaEntry::Line(line)) => {
                if line.connection == Connection::Local || !WEAK_METHODS.contains(&line.method.as_str()) {
                    continue;
                }
                let (kind, method) = (line.connection.as_str(), line.method.as_str());
                // The whole entry pins it: widened in place (another address), it is new.
                cx.violation_with(
                    Evidence::of(entry), field,
                    format!(
                        "{at}{kind} connections with method {method} get in without a real password or certificate ({})",
                        match method {
                            "trust" => "anyone who reaches the port logs in as any role, postgres included",
                            "password" => "the password crosses the network in clear text",
                            "ident" => "the client's own ident server vouches for it",
                            _ => "peer has no meaning over a network",
                        }
                    ),
                    "use scram-sha-256 (or cert) for host connections",
                );
            }
        }
    }
}

/// One `pg_ident` entry, line by line: `MAP SYSTEM-USER PG-ROLE`. A map may
/// not let anyone in as the bootstrap role or a role CloudNativePG
/// reserves, and maps onto a consumer role only the identity of the same
/// name; a line the guard cannot classify is refused.
fn check_ident_entry(cx: &mut Cx<'_>, shared: &SharedCluster, field: &str, entry: &str) {
    let parsed = hba::parse_ident(entry);
    let count = parsed.len();
    for (n, line) in parsed.into_iter().enumerate() {
        let at = place(n + 1, count);
        let why = match line {
            Err(Unreadable { why, .. }) => Some(format!(
                "the guard cannot read this pg_ident line as PostgreSQL would ({why}), so it cannot vouch for it"
            )),
            Ok(l) => ident_target(shared, &l.system.text, &l.role),
        };
        if let Some(why) = why {
            cx.violation_with(
                Evidence::of(entry),
                field,
                format!("{at}{why}"),
                "map an identity only onto the consumer role of the same name, never a privileged role, one \
                 MAP SYSTEM-USER ROLE line per entry",
            );
        }
    }
}

/// Why mapping `system` onto `role` is refused, if it is.
fn ident_target(shared: &SharedCluster, system: &str, role: &Token) -> Option<String> {
    let quoted = role.quoted;
    let role = role.text.as_str();
    if role == shared.bootstrap.role || matches!(role, "postgres" | "streaming_replica") {
        return Some(format!("maps {system:?} onto the privileged role {role:?}"));
    }
    if role.contains('\\') || (!quoted && (role == "all" || role.starts_with('+'))) {
        return Some(format!("maps {system:?} onto roles the guard cannot name ({role:?})"));
    }
    let consumer = shared.consumer_by_role(role).filter(|_| system != role)?;
    Some(format!(
        "maps the identity {system:?} onto role {role:?} of consumer {}",
        consumer.namespace
    ))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    fn cluster(postgresql: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {{name: apps-pg, namespace: databases, \
             labels: {{railiance.io/role: shared-apps-database}}}}, spec: {{postgresql: {postgresql}}}}}"
        )
    }

    #[rstest]
    #[case::accept_scram("{pg_hba: ['hostssl all all 10.0.0.0/8 scram-sha-256']}", None)]
    #[case::accept_cert("{pg_hba: ['hostssl all all 0.0.0.0/0 cert']}", None)]
    #[case::accept_local_peer("{pg_hba: ['local all all peer']}", None)]
    #[case::reject_trust("{pg_hba: ['host all all 0.0.0.0/0 trust']}", Some("spec.postgresql.pg_hba[0]"))]
    #[case::reject_trust_with_mask(
        "{pg_hba: ['hostssl all all scram-sha-256', 'host all all 10.0.0.0 255.0.0.0 trust']}",
        Some("spec.postgresql.pg_hba[1]")
    )]
    #[case::reject_clear_text_password(
        "{pg_hba: ['hostnossl all all 0.0.0.0/0 password']}",
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::reject_ident(
        "{pg_hba: ['host vergabe_db vergabe 10.0.0.0/8 ident']}",
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::reject_peer_over_network("{pg_hba: ['HOST all all all PEER']}", Some("spec.postgresql.pg_hba[0]"))]
    #[case::reject_include("{pg_hba: ['include_if_exists /tmp/hba.conf']}", Some("spec.postgresql.pg_hba[0]"))]
    #[case::reject_trust_on_a_second_line(
        r#"{pg_hba: ["host all all 10.0.0.0/8 scram-sha-256\nhost all all 0.0.0.0/0 trust"]}"#,
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::reject_trust_after_a_carriage_return(
        r#"{pg_hba: ["hostssl all all all scram-sha-256\rhost all all 0.0.0.0/0 trust"]}"#,
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::reject_trust_after_a_comment(
        r#"{pg_hba: ["host all all 10.0.0.0/8 scram-sha-256 # ok\nhost all all 0.0.0.0/0 trust"]}"#,
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::reject_unknown_method("{pg_hba: ['host all all all bogus']}", Some("spec.postgresql.pg_hba[0]"))]
    #[case::reject_continued_line(
        r#"{pg_hba: ["host all all 10.0.0.0/8 scram-sha-256\\\nhost all all 0.0.0.0/0 trust"]}"#,
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::accept_two_good_lines(
        r#"{pg_hba: ["hostssl vergabe_db vergabe all scram-sha-256\nhost all vergabe all reject"]}"#,
        None
    )]
    #[case::accept_quoted_trust_word_as_database(r#"{pg_hba: ['hostssl "trust" vergabe all scram-sha-256']}"#, None)]
    #[case::accept_ident_self_map("{pg_ident: ['certs vergabe vergabe']}", None)]
    #[case::reject_ident_to_bootstrap_on_a_second_line(
        r#"{pg_ident: ["certs vergabe vergabe\ncerts shop apps_admin"]}"#,
        Some("spec.postgresql.pg_ident[0]")
    )]
    #[case::reject_ident_unreadable("{pg_ident: ['certs a,b vergabe']}", Some("spec.postgresql.pg_ident[0]"))]
    #[case::reject_ident_to_bootstrap("{pg_ident: ['certs alice apps_admin']}", Some("spec.postgresql.pg_ident[0]"))]
    #[case::reject_ident_to_postgres("{pg_ident: ['certs alice postgres']}", Some("spec.postgresql.pg_ident[0]"))]
    #[case::reject_ident_to_another_tenant("{pg_ident: ['certs vergabe shop']}", Some("spec.postgresql.pg_ident[0]"))]
    #[case::reject_ident_regex_role("{pg_ident: ['certs /^(.*)$ \\\\1']}", Some("spec.postgresql.pg_ident[0]"))]
    #[case::reject_alter_system("{enableAlterSystem: true}", Some("spec.postgresql.enableAlterSystem"))]
    #[case::accept_alter_system_off("{enableAlterSystem: false}", None)]
    fn clusters(#[case] postgresql: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&cluster(postgresql))), "auth-posture", field);
    }

    #[test]
    fn a_trust_line_reads_well() {
        let f = eval(&create(&cluster("{pg_hba: ['host all all 0.0.0.0/0 trust']}")));
        let v = f.violations.iter().find(|v| v.rule.as_str() == "auth-posture").unwrap();
        assert_eq!(
            v.line(),
            "[auth-posture] Cluster databases/apps-pg: spec.postgresql.pg_hba[0]: host connections with method trust \
             get in without a real password or certificate (anyone who reaches the port logs in as any role, postgres \
             included). Fix: use scram-sha-256 (or cert) for host connections."
        );
    }

    #[test]
    fn a_second_line_is_named_in_the_message() {
        let f = eval(&create(&cluster(
            r#"{pg_hba: ["host all all 10.0.0.0/8 scram-sha-256\nhost all all 0.0.0.0/0 trust"]}"#,
        )));
        let v = f.violations.iter().find(|v| v.rule.as_str() == "auth-posture").unwrap();
        assert!(
            v.what
                .starts_with("line 2 of the entry: host connections with method trust"),
            "{}",
            v.what
        );
    }

    #[test]
    fn a_cluster_that_is_not_shared_is_not_judged() {
        let yaml = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: other, namespace: team}, \
                    spec: {postgresql: {pg_hba: ['host all all 0.0.0.0/0 trust']}}}";
        assert_only(&eval(&create(yaml)), "auth-posture", None);
    }

    #[rstest]
    #[case::accept_md5("{pgbouncer: {pg_hba: ['host all all 10.0.0.0/8 md5']}}", None)]
    #[case::reject_trust(
        "{pgbouncer: {pg_hba: ['host all all 0.0.0.0/0 trust']}}",
        Some("spec.pgbouncer.pg_hba[0]")
    )]
    #[case::reject_trust_on_a_second_line(
        r#"{pgbouncer: {pg_hba: ["host all all 10.0.0.0/8 md5\nhost all all 0.0.0.0/0 trust"]}}"#,
        Some("spec.pgbouncer.pg_hba[0]")
    )]
    fn poolers(#[case] spec: &str, #[case] field: Option<&str>) {
        let spec = &spec[1..spec.len() - 1];
        let yaml = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {{name: pool, namespace: databases}}, \
             spec: {{cluster: {{name: apps-pg}}, {spec}}}}}"
        );
        assert_only(&eval(&create(&yaml)), "auth-posture", field);
    }
}
