//! **auth-posture**: nobody reaches a shared cluster without
//! authenticating. `pg_hba` lines that skip or weaken authentication,
//! `pg_ident` maps onto privileged or other tenants' roles, and `ALTER
//! SYSTEM` (configuration the guard never sees) are refused.

use super::{Cx, Evidence, RuleId};
use crate::contract::SharedCluster;
use crate::model::{Object, Operation};

const RULE: RuleId = RuleId::AuthPosture;

/// Methods that let a network client in without a real password or
/// certificate: `trust` (nothing), `password` (clear text), `ident` (the
/// client's word), `peer` (meaningless over a network).
const WEAK_METHODS: &[&str] = &["trust", "password", "ident", "peer"];

/// Every authentication method PostgreSQL knows: the method is the first
/// of these after a line's address.
const METHODS: &[&str] = &[
    "trust",
    "reject",
    "md5",
    "password",
    "scram-sha-256",
    "gss",
    "sspi",
    "ident",
    "peer",
    "pam",
    "ldap",
    "radius",
    "cert",
    "bsd",
    "oauth",
];

pub(super) fn check_cluster(cx: &mut Cx<'_>) {
    let r = cx.review;
    if r.operation == Operation::Delete {
        return;
    }
    let Some(shared) = cx.contract.cluster(&r.namespace, &r.name) else {
        return;
    };
    let Some(Object::Cluster(c)) = &r.object else { return };
    let pg = c.postgresql();
    for (i, line) in pg.pg_hba.iter().enumerate() {
        check_hba_line(cx, &format!("spec.postgresql.pg_hba[{i}]"), line);
    }
    for (i, line) in pg.pg_ident.iter().enumerate() {
        check_ident_line(cx, shared, &format!("spec.postgresql.pg_ident[{i}]"), line);
    }
    if pg.enable_alter_system == Some(true) {
        cx.violation(
            RULE,
            "spec.postgresql.enableAlterSystem",
            "ALTER SYSTEM changes the server's configuration (authentication included) where the guard cannot see it",
            "remove enableAlterSystem or set it to false; change parameters in spec.postgresql.parameters",
        );
    }
}

pub(super) fn check_pooler(cx: &mut Cx<'_>) {
    let r = cx.review;
    if r.operation == Operation::Delete {
        return;
    }
    let Some(Object::Pooler(p)) = &r.object else { return };
    if cx.referenced_cluster(&p.spec.cluster.name).is_none() {
        return;
    }
    for (i, line) in p.spec.pgbouncer.iter().flat_map(|b| &b.pg_hba).enumerate() {
        check_hba_line(cx, &format!("spec.pgbouncer.pg_hba[{i}]"), line);
    }
}

/// One `pg_hba.conf` line: a `host*` line may not use a weak method; an
/// `include` directive is refused, since what it includes is not visible.
fn check_hba_line(cx: &mut Cx<'_>, field: &str, line: &str) {
    let tokens: Vec<&str> = line.split('#').next().unwrap_or_default().split_whitespace().collect();
    let Some(&kind) = tokens.first() else { return };
    let kind = kind.to_ascii_lowercase();
    if kind.starts_with("include") {
        cx.violation(
            RULE,
            field,
            format!("{kind} reads authentication rules from a file the guard cannot see"),
            "write the rules as pg_hba lines in the CR",
        );
        return;
    }
    if !kind.starts_with("host") {
        return;
    }
    // host DATABASE USER ADDRESS [MASK] METHOD [OPTIONS]
    let method = tokens
        .iter()
        .skip(3)
        .map(|t| t.trim_matches('"').to_ascii_lowercase())
        .find(|t| METHODS.contains(&t.as_str()));
    if let Some(method) = method.filter(|m| WEAK_METHODS.contains(&m.as_str())) {
        // The whole line pins it: widened in place (another address), it is new.
        cx.violation_with(
            Evidence::of(line),
            RULE,
            field,
            format!(
                "{kind} connections with method {method} get in without a real password or certificate ({})",
                match method.as_str() {
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

/// One `pg_ident.conf` line: `MAP SYSTEM-USER PG-ROLE`. A map may not let
/// anyone in as the bootstrap role or a role CloudNativePG reserves, and
/// maps onto a consumer role only the identity of the same name.
fn check_ident_line(cx: &mut Cx<'_>, shared: &SharedCluster, field: &str, line: &str) {
    let tokens: Vec<&str> = line.split('#').next().unwrap_or_default().split_whitespace().collect();
    let [_, system, role, ..] = tokens.as_slice() else {
        return;
    };
    let (system, role) = (system.trim_matches('"'), role.trim_matches('"'));
    let why = ident_target(shared, system, role);
    if let Some(why) = why {
        cx.violation_with(
            Evidence::of(line),
            RULE,
            field,
            why,
            "map an identity only onto the consumer role of the same name, never a privileged role",
        );
    }
}

/// Why mapping `system` onto `role` is refused, if it is.
fn ident_target(shared: &SharedCluster, system: &str, role: &str) -> Option<String> {
    if role == shared.bootstrap.role || matches!(role, "postgres" | "streaming_replica") {
        return Some(format!("maps {system:?} onto the privileged role {role:?}"));
    }
    if role.contains('\\') || role == "all" || role.starts_with('+') {
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
    #[case::accept_ident_self_map("{pg_ident: ['certs vergabe vergabe']}", None)]
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
    fn poolers(#[case] spec: &str, #[case] field: Option<&str>) {
        let spec = &spec[1..spec.len() - 1];
        let yaml = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {{name: pool, namespace: databases}}, \
             spec: {{cluster: {{name: apps-pg}}, {spec}}}}}"
        );
        assert_only(&eval(&create(&yaml)), "auth-posture", field);
    }
}
