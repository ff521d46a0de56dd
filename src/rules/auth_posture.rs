//! **auth-posture**: nobody reaches a shared cluster without
//! authenticating. `pg_hba` lines that skip or weaken authentication,
//! `pg_ident` maps onto privileged or other tenants' roles, and `ALTER
//! SYSTEM` (configuration the guard never sees) are refused; so are the
//! values that hand out the whole cluster: a password for `postgres`
//! (`enableSuperuserAccess`), certificate Secrets CloudNativePG did not
//! generate (a client CA signs who logs in as `streaming_replica`), and
//! passwords checked by an LDAP or RADIUS server the contract does not name
//! (`authServers`).

use super::{Cx, Evidence, Rule, RuleId, written};
use crate::contract::SharedCluster;
use crate::model::hba::{self, Connection, HbaEntry, Token, Unreadable};
use crate::model::kinds::cluster::CertificatesConfiguration;
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
        check_hba_entry(cx, shared, &format!("spec.postgresql.pg_hba[{i}]"), entry, lines);
    }
    if let Some(ldap) = pg.ldap.as_ref().filter(|l| l.enabled()) {
        let server = ldap.server.as_deref().unwrap_or_default();
        if server.is_empty() || !shared.allows_auth_server(server) {
            cx.violation(
                "spec.postgresql.ldap.server",
                format!(
                    "CloudNativePG adds `host all all 0.0.0.0/0 ldap ldapserver={server}` before its default rule: \
                     LDAP server {server:?}, which the contract does not name in authServers, would decide every \
                     role's password, postgres and the bootstrap role included"
                ),
                "remove spec.postgresql.ldap, or have the platform add the server to the contract's authServers",
            );
        }
    }
    if c.spec.enable_superuser_access == Some(true) {
        cx.violation(
            "spec.enableSuperuserAccess",
            format!(
                "CloudNativePG gives postgres a password and writes it into the {} Secret: whoever reads it logs \
                 in over the network as superuser, over every tenant's data",
                shared.superuser_secret()
            ),
            "remove enableSuperuserAccess or set it to false (postgres then has no password; the platform \
             reaches the cluster with kubectl cnpg psql)",
        );
    }
    if let Some(certs) = &c.spec.certificates {
        check_certificates(cx, shared, certs);
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
    let Some(shared) = cx.referenced_cluster(&p.spec.cluster.name) else {
        return;
    };
    for (i, entry) in p.spec.pgbouncer.iter().flat_map(|b| &b.pg_hba).enumerate() {
        check_hba_entry(
            cx,
            shared,
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
fn check_hba_entry(
    cx: &mut Cx<'_>,
    shared: &SharedCluster,
    field: &str,
    entry: &str,
    lines: &[Result<HbaEntry, Unreadable>],
) {
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
            Ok(HbaEntry::Line(line)) if matches!(line.method.as_str(), "ldap" | "radius") => {
                let (method, servers) = auth_servers(line);
                if let Some(why) = unnamed_server(shared, &servers) {
                    cx.violation_with(
                        Evidence::of(entry),
                        field,
                        format!(
                            "{at}method {method} lets {why} decide whether a password is right: whoever answers \
                             for it logs in as any role the line covers"
                        ),
                        format!(
                            "use scram-sha-256, or have the platform add the {method} server to the contract's \
                             authServers"
                        ),
                    );
                }
            }
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

/// The servers an `ldap` or `radius` line names: `ldapserver=` (a blank
/// separated list) and the host of `ldapurl=`; `radiusservers=` (a comma
/// separated list, or its older name `radiusserver`), as PostgreSQL reads
/// them (`src/backend/libpq/hba.c`, `parse_hba_auth_opt`).
fn auth_servers(line: &hba::HbaLine) -> (&str, Vec<String>) {
    let mut servers = Vec::new();
    for (name, value) in &line.options {
        match name.as_str() {
            "ldapserver" => servers.extend(value.split_ascii_whitespace().map(str::to_owned)),
            "ldapurl" => servers.push(url_host(value).to_owned()),
            "radiusservers" | "radiusserver" => servers.extend(value.split(',').map(|s| s.trim().to_owned())),
            _ => {}
        }
    }
    (line.method.as_str(), servers)
}

/// The host of an `ldap[s]://host[:port]/...` URL (empty when it names none).
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// Why the servers a line delegates to are not all the contract's, if not.
fn unnamed_server(shared: &SharedCluster, servers: &[String]) -> Option<String> {
    if servers.iter().all(|s| s.is_empty()) {
        return Some("a server found through DNS, named nowhere,".into());
    }
    let unnamed: Vec<&str> = servers
        .iter()
        .map(String::as_str)
        .filter(|s| s.is_empty() || !shared.allows_auth_server(s))
        .collect();
    (!unnamed.is_empty()).then(|| format!("{unnamed:?}, not in the contract's authServers,"))
}

/// `spec.certificates`: each Secret named is the one CloudNativePG
/// generates for that field, or one the contract allows. The fixed rules
/// CloudNativePG writes first in pg_hba let `streaming_replica` (every
/// database, and replication) and `cnpg_pooler_pgbouncer` in by a
/// certificate the client CA signed (`pkg/postgres/configuration.go` at
/// v1.30.0 and v1.28.4, `hostssl replication streaming_replica all cert`).
fn check_certificates(cx: &mut Cx<'_>, shared: &SharedCluster, certs: &CertificatesConfiguration) {
    for (key, secret, hands_out) in [
        (
            "clientCASecret",
            &certs.client_ca_secret,
            "its CA signs client certificates PostgreSQL accepts: whoever holds its key logs in as \
             streaming_replica (a copy of every tenant's data) or cnpg_pooler_pgbouncer",
        ),
        (
            "replicationTLSSecret",
            &certs.replication_tls_secret,
            "it is the client certificate streaming_replica logs in with: whoever holds its key reads every \
             tenant's data through replication",
        ),
        (
            "serverCASecret",
            &certs.server_ca_secret,
            "its CA vouches for the server: whoever holds its key can pose as the cluster to every client that \
             verifies it, and read their passwords",
        ),
        (
            "serverTLSSecret",
            &certs.server_tls_secret,
            "it is the server's own certificate and key: whoever holds them can pose as the cluster to its \
             clients, and read their passwords",
        ),
    ] {
        let Some(secret) = secret.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        if shared.allows_certificate_secret(key, secret) {
            continue;
        }
        cx.violation(
            format!("spec.certificates.{key}"),
            format!("Secret {secret:?} is not one CloudNativePG generates for the cluster, nor in the contract's allowedCertificateSecrets: {hands_out}"),
            format!(
                "remove spec.certificates.{key} (CloudNativePG then generates and rotates its own), or have the \
                 platform add {secret:?} to the contract's allowedCertificateSecrets"
            ),
        );
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

    /// The contract with an LDAP and a RADIUS server and a corporate CA.
    fn servers_contract() -> crate::contract::Contract {
        tenants_contract_with(
            "    authServers: [ldap.corp.example, radius.corp.example]\n    allowedCertificateSecrets: [corp-ca]\n",
        )
    }

    fn shared_spec(spec: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {{name: apps-pg, namespace: databases, \
             labels: {{railiance.io/role: shared-apps-database}}}}, spec: {spec}}}"
        )
    }

    #[rstest]
    #[case::reject_superuser_access("{enableSuperuserAccess: true}", Some("spec.enableSuperuserAccess"))]
    #[case::accept_superuser_access_off("{enableSuperuserAccess: false}", None)]
    #[case::accept_generated_certificates(
        "{certificates: {serverCASecret: apps-pg-ca, serverTLSSecret: apps-pg-server, clientCASecret: apps-pg-ca, replicationTLSSecret: apps-pg-replication}}",
        None
    )]
    #[case::accept_a_certificate_secret_the_contract_allows("{certificates: {clientCASecret: corp-ca}}", None)]
    #[case::accept_alt_names_only("{certificates: {serverAltDNSNames: [db.example]}}", None)]
    #[case::reject_client_ca_of_the_writer(
        "{certificates: {clientCASecret: my-ca}}",
        Some("spec.certificates.clientCASecret")
    )]
    #[case::reject_replication_certificate_of_the_writer(
        "{certificates: {replicationTLSSecret: my-replica-cert}}",
        Some("spec.certificates.replicationTLSSecret")
    )]
    #[case::reject_server_ca_of_the_writer(
        "{certificates: {serverCASecret: my-ca, serverTLSSecret: my-server}}",
        Some("spec.certificates.serverCASecret")
    )]
    #[case::reject_server_certificate_of_the_writer(
        "{certificates: {serverTLSSecret: apps-pg-ca}}",
        Some("spec.certificates.serverTLSSecret")
    )]
    #[case::accept_ldap_server_the_contract_names(
        "{postgresql: {pg_hba: ['hostssl all all all ldap ldapserver=ldap.corp.example ldapprefix=uid= \"ldapsuffix=,dc=corp\"']}}",
        None
    )]
    #[case::accept_ldap_server_in_another_case(
        "{postgresql: {pg_hba: ['hostssl all all all ldap ldapserver=LDAP.Corp.Example ldapbasedn=dc=corp']}}",
        None
    )]
    #[case::reject_ldap_server_of_the_writer(
        "{postgresql: {pg_hba: ['hostssl all all all ldap ldapserver=ldap.evil.example ldapbasedn=dc=x']}}",
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::reject_one_ldap_server_of_two_unnamed(
        "{postgresql: {pg_hba: ['hostssl all all all ldap \"ldapserver=ldap.corp.example ldap.evil.example\" ldapbasedn=dc=x']}}",
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::accept_ldap_url_the_contract_names(
        "{postgresql: {pg_hba: ['hostssl all all all ldap ldapurl=ldaps://ldap.corp.example:636/dc=corp?uid?sub']}}",
        None
    )]
    #[case::reject_ldap_url_of_the_writer(
        "{postgresql: {pg_hba: ['hostssl all all all ldap ldapurl=ldap://ldap.evil.example/dc=x?uid?sub']}}",
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::reject_ldap_without_a_server(
        "{postgresql: {pg_hba: ['hostssl all all all ldap ldapbasedn=dc=corp']}}",
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::reject_ldap_on_a_local_line(
        "{postgresql: {pg_hba: ['local all all ldap ldapserver=ldap.evil.example']}}",
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::accept_radius_servers_the_contract_names(
        "{postgresql: {pg_hba: ['hostssl all all all radius radiusservers=radius.corp.example radiussecrets=s']}}",
        None
    )]
    #[case::reject_radius_server_of_the_writer(
        "{postgresql: {pg_hba: ['hostssl all all all radius \"radiusservers=radius.corp.example,10.9.9.9\" radiussecrets=s']}}",
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::reject_radius_by_its_older_option_name(
        "{postgresql: {pg_hba: ['hostssl all all all radius radiusserver=10.9.9.9 radiussecret=s']}}",
        Some("spec.postgresql.pg_hba[0]")
    )]
    #[case::accept_cnpg_ldap_with_the_contracts_server(
        "{postgresql: {ldap: {server: ldap.corp.example, bindAsAuth: {prefix: 'uid=', suffix: ',dc=corp'}}}}",
        None
    )]
    #[case::reject_cnpg_ldap_of_the_writer(
        "{postgresql: {ldap: {server: ldap.evil.example, bindSearchAuth: {baseDN: 'dc=x'}}}}",
        Some("spec.postgresql.ldap.server")
    )]
    #[case::reject_cnpg_ldap_without_a_server(
        "{postgresql: {ldap: {bindAsAuth: {prefix: 'uid='}}}}",
        Some("spec.postgresql.ldap.server")
    )]
    #[case::accept_cnpg_ldap_without_a_bind_mode("{postgresql: {ldap: {server: ldap.evil.example}}}", None)]
    fn values_that_hand_out_the_cluster(#[case] spec: &str, #[case] field: Option<&str>) {
        let f = crate::rules::evaluate(&create(&shared_spec(spec)), &servers_contract(), &crate::facts::NoFacts);
        assert_only(&f, "auth-posture", field);
    }

    #[rstest]
    #[case::reject_ldap_server("{postgresql: {pg_hba: ['hostssl all all all ldap ldapserver=ldap.corp.example']}}")]
    #[case::reject_radius_server(
        "{postgresql: {pg_hba: ['hostssl all all all radius radiusservers=radius.corp.example radiussecrets=s']}}"
    )]
    #[case::reject_cnpg_ldap("{postgresql: {ldap: {server: ldap.corp.example, bindAsAuth: {prefix: 'uid='}}}}")]
    #[case::reject_certificate("{certificates: {clientCASecret: corp-ca}}")]
    fn by_default_no_server_and_no_certificate_secret_is_allowed(#[case] spec: &str) {
        let f = eval(&create(&shared_spec(spec)));
        assert!(
            f.violations.iter().any(|v| v.rule.as_str() == "auth-posture"),
            "{:#?}",
            f.violations
        );
    }

    #[test]
    fn a_pooler_ldap_line_is_judged_against_the_contract() {
        let yaml = "{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {name: pool, namespace: databases}, \
                    spec: {cluster: {name: apps-pg}, pgbouncer: {pg_hba: ['host all all all ldap ldapserver=ldap.evil.example']}}}";
        assert_only(&eval(&create(yaml)), "auth-posture", Some("spec.pgbouncer.pg_hba[0]"));
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
