//! **tenant-isolated**, inside PostgreSQL: each consumer role reaches only
//! its own databases.
//!
//! CloudNativePG creates databases with PostgreSQL's default access list
//! (PUBLIC may CONNECT), so `pg_hba.conf` is what keeps one tenant out of
//! another's database. The guard computes the file CloudNativePG writes
//! for a shared Cluster (`pkg/postgres/configuration.go`,
//! `hbaTemplateString`, v1.28.4 and v1.30.0): its fixed lines (they match
//! only `local` connections, `streaming_replica` and
//! `cnpg_pooler_pgbouncer`, never a consumer role), then the Cluster's
//! `spec.postgresql.pg_hba` lines in order, then the LDAP line when LDAP is
//! configured and the default `host all all all scram-sha-256` (or `md5`),
//! both of which let any role in. PostgreSQL uses the first line that
//! matches a connection's type, database, user and address; a consumer
//! whose first matching line for another tenant's database, the bootstrap
//! database, `postgres` or `template1` is not `reject` can log in there.

use std::collections::HashMap;

use super::Cx;
use crate::model::Cluster;
use crate::model::hba::{Connection, HbaEntry, HbaLine, Token};

/// Whether a line matches: yes, no, or the guard cannot tell (a regular
/// expression, a group membership, a file). An accepting line that may
/// match lets the role in; a rejecting one that may match stops nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    Maybe,
}

impl Match {
    fn any(tokens: &[Token], one: impl Fn(&Token) -> Match) -> Match {
        tokens.iter().map(one).fold(Match::No, |acc, m| match (acc, m) {
            (Match::Yes, _) | (_, Match::Yes) => Match::Yes,
            (Match::Maybe, _) | (_, Match::Maybe) => Match::Maybe,
            _ => Match::No,
        })
    }

    fn and(self, other: Match) -> Match {
        match (self, other) {
            (Match::No, _) | (_, Match::No) => Match::No,
            (Match::Yes, Match::Yes) => Match::Yes,
            _ => Match::Maybe,
        }
    }
}

/// A token whose matches the guard cannot list: a file (`@file`) or, from
/// PostgreSQL 16 on, a regular expression (`/...`, quoted or not).
fn unknowable(t: &Token) -> bool {
    t.text.starts_with('/') || (!t.quoted && t.text.starts_with('@'))
}

fn database_matches(line: &HbaLine, database: &str, role: &str) -> Match {
    Match::any(&line.databases, |t| {
        if t.is_keyword("all") {
            Match::Yes
        } else if t.is_keyword("sameuser") {
            if database == role { Match::Yes } else { Match::No }
        } else if t.is_keyword("samerole") || t.is_keyword("samegroup") {
            if database == role { Match::Yes } else { Match::Maybe }
        } else if t.is_keyword("replication") {
            Match::No
        } else if unknowable(t) {
            Match::Maybe
        } else if t.text == database {
            Match::Yes
        } else {
            Match::No
        }
    })
}

fn user_matches(line: &HbaLine, role: &str) -> Match {
    Match::any(&line.users, |t| {
        if t.is_keyword("all") {
            Match::Yes
        } else if !t.quoted && t.text.starts_with('+') {
            if &t.text[1..] == role { Match::Yes } else { Match::Maybe }
        } else if unknowable(t) {
            Match::Maybe
        } else if t.text == role {
            Match::Yes
        } else {
            Match::No
        }
    })
}

/// A line of the effective file and where it comes from.
struct Effective<'a> {
    line: &'a HbaLine,
    /// `spec.postgresql.pg_hba[i]`, or CloudNativePG's default.
    source: String,
}

/// The first network line that lets `role` into `database`, if any: a
/// connection over TLS, GSSAPI encryption or neither is kept out only once
/// a `reject` line certainly matching it from every address came first.
fn first_accepting<'a>(lines: &[&'a Effective<'a>], role: &str, database: &str) -> Option<&'a Effective<'a>> {
    let mut open = [true; 3];
    for &e in lines {
        let transports = e.line.connection.transports();
        if !open.iter().zip(transports).any(|(o, t)| *o && t) {
            continue;
        }
        let m = database_matches(e.line, database, role).and(user_matches(e.line, role));
        if m == Match::No {
            continue;
        }
        if e.line.method != "reject" {
            return Some(e);
        }
        if m == Match::Yes && e.line.any_address {
            for (o, t) in open.iter_mut().zip(transports) {
                *o &= !t;
            }
            if open.iter().all(|o| !o) {
                return None;
            }
        }
    }
    None
}

/// Stands for every foreign consumer database no line names: they all
/// match the same lines (`all`, a pattern), so one answer holds for all.
/// Not a name PostgreSQL allows, so it matches no literal.
const UNNAMED: &str = "\0unnamed";

/// Past this many consumers with a finding, the rest are summed up in one.
const MAX_FINDINGS: usize = 20;

/// Whether a user token names one role literally (not `all`, `+group`, a
/// file or a pattern).
fn literal_user(t: &Token) -> bool {
    t.quoted || !(t.text == "all" || t.text.starts_with(['+', '@', '/']))
}

/// The lines that keep `role` to its own `databases`, as `onboard`
/// writes them: its databases first, then everything else refused.
pub fn consumer_lines(role: &str, databases: &[String]) -> [String; 2] {
    [
        format!("host {} {role} all scram-sha-256", databases.join(",")),
        format!("host all {role} all reject"),
    ]
}

pub(super) fn cluster(cx: &mut Cx<'_>, c: &Cluster) {
    let Some(shared) = cx.shared_cluster() else {
        return;
    };
    // Lines the guard cannot read are denied by auth-posture; here they
    // match nothing.
    let parsed: Vec<(usize, &HbaLine)> = c
        .postgresql()
        .hba()
        .iter()
        .enumerate()
        .flat_map(|(i, lines)| {
            lines.iter().filter_map(move |l| match l {
                Ok(HbaEntry::Line(line)) if line.connection != Connection::Local => Some((i, line)),
                _ => None,
            })
        })
        .collect();
    let default = HbaLine {
        connection: Connection::Host,
        databases: vec![all()],
        users: vec![all()],
        address: Some(all()),
        any_address: true,
        method: "scram-sha-256".into(),
        options: Vec::new(),
    };
    let mut lines: Vec<Effective<'_>> = parsed
        .iter()
        .map(|&(i, line)| Effective {
            line,
            source: format!("spec.postgresql.pg_hba[{i}]"),
        })
        .collect();
    lines.push(Effective {
        line: &default,
        source: "CloudNativePG's closing line `host all all all scram-sha-256`".into(),
    });
    // Lines by the role they name; lines for all roles (or a pattern) apply
    // to every consumer. Each consumer walks only its own lines and those.
    let mut by_role: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut any_role: Vec<usize> = Vec::new();
    for (i, e) in lines.iter().enumerate() {
        if e.line.users.iter().all(literal_user) {
            for t in &e.line.users {
                let at = by_role.entry(t.text.as_str()).or_default();
                if at.last() != Some(&i) {
                    at.push(i);
                }
            }
        } else {
            any_role.push(i);
        }
    }
    let owner_of: HashMap<&str, &str> = shared
        .consumers
        .iter()
        .flat_map(|c| c.databases.iter().map(move |d| (d.as_str(), c.role.as_str())))
        .collect();
    let reserved = [shared.bootstrap.database.as_str(), "postgres", "template1"];
    let mut found = 0usize;
    let mut more: Vec<&str> = Vec::new();
    for consumer in &shared.consumers {
        let mine = by_role
            .get(consumer.role.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut order: Vec<usize> = mine.iter().chain(&any_role).copied().collect();
        order.sort_unstable();
        order.dedup();
        let relevant: Vec<&Effective<'_>> = order.iter().map(|&i| &lines[i]).collect();
        // Foreign consumer databases these lines name; the rest behave as one.
        let mut named: Vec<&str> = relevant
            .iter()
            .flat_map(|e| e.line.databases.iter())
            .map(|t| t.text.as_str())
            .filter(|d| owner_of.get(d).is_some_and(|owner| *owner != consumer.role))
            .collect();
        named.sort_unstable();
        named.dedup();
        let foreign_total = owner_of.len() - consumer.databases.len();
        let mut reached: Vec<String> = Vec::new();
        let mut through: Option<&str> = None;
        let mut reach = |database: &str| {
            let e = first_accepting(&relevant, &consumer.role, database)?;
            through.get_or_insert(e.source.as_str());
            Some(())
        };
        for &database in &named {
            if reach(database).is_some() {
                reached.push(database.to_owned());
            }
        }
        let unnamed = foreign_total - named.len();
        if unnamed > 0 && reach(UNNAMED).is_some() {
            if unnamed <= 5 {
                let mut rest: Vec<&str> = owner_of
                    .iter()
                    .filter(|(d, owner)| **owner != consumer.role && !named.contains(d))
                    .map(|(d, _)| *d)
                    .collect();
                rest.sort_unstable();
                reached.extend(rest.into_iter().map(str::to_owned));
                reached.sort();
            } else {
                reached.push(format!("{unnamed} other consumers' databases"));
            }
        }
        for database in reserved {
            if reach(database).is_some() {
                reached.push(database.to_owned());
            }
        }
        let Some(through) = through else { continue };
        found += 1;
        if found > MAX_FINDINGS {
            more.push(consumer.role.as_str());
            continue;
        }
        let [own, reject] = consumer_lines(&consumer.role, &consumer.databases);
        cx.violation(
            "spec.postgresql.pg_hba",
            format!(
                "consumer role {:?} ({}) can log in over the network to {} not its own: {} (first matching \
                 line: {through})",
                consumer.role,
                consumer.namespace,
                if reached.len() == 1 { "a database" } else { "databases" },
                reached.join(", ")
            ),
            format!(
                "add the lines {own:?} and {reject:?} to spec.postgresql.pg_hba, before any line that could \
                 match role {:?} (cnpg-guard onboard writes them)",
                consumer.role
            ),
        );
    }
    if !more.is_empty() {
        cx.violation(
            "spec.postgresql.pg_hba",
            format!(
                "{} more consumer roles can log in over the network to databases not their own (first: {})",
                more.len(),
                more[0]
            ),
            "add each consumer's two lines (cnpg-guard onboard writes them) before any line that could match it",
        );
    }
}

fn all() -> Token {
    Token {
        text: "all".into(),
        quoted: false,
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    /// vergabe and shop, each kept to its own database.
    const ISOLATED: &str = "'host vergabe_db vergabe all scram-sha-256', 'host all vergabe all reject', \
                            'host shop_db shop all scram-sha-256', 'host all shop all reject'";

    fn cluster(lines: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {{name: apps-pg, namespace: databases, \
             labels: {{railiance.io/role: shared-apps-database}}}}, spec: {{postgresql: {{pg_hba: [{lines}]}}}}}}"
        )
    }

    /// What the tenant-isolated findings say, vergabe's first.
    fn reached(lines: &str) -> Vec<String> {
        let f = eval(&create(&cluster(lines)));
        let mut what: Vec<String> = f
            .violations
            .iter()
            .filter(|v| v.rule.as_str() == "tenant-isolated")
            .map(|v| v.what.clone())
            .collect();
        what.sort_by_key(|w| !w.contains("\"vergabe\""));
        what
    }

    #[rstest]
    #[case::accept_each_consumer_kept_to_its_own(ISOLATED, None)]
    #[case::accept_one_combined_reject_line(
        "'hostssl vergabe_db vergabe all scram-sha-256', 'hostssl shop_db shop all scram-sha-256', \
         'host all vergabe,shop all reject'",
        None
    )]
    #[case::reject_no_lines_at_all("", Some("spec.postgresql.pg_hba"))]
    #[case::reject_a_consumer_left_out(
        "'host vergabe_db vergabe all scram-sha-256', 'host all vergabe all reject'",
        Some("spec.postgresql.pg_hba")
    )]
    #[case::reject_a_broad_line_first(
        "'host all all 10.0.0.0/8 scram-sha-256', 'host vergabe_db vergabe all scram-sha-256', \
         'host all vergabe all reject', 'host shop_db shop all scram-sha-256', 'host all shop all reject'",
        Some("spec.postgresql.pg_hba")
    )]
    #[case::reject_a_reject_line_for_tls_only(
        "'host vergabe_db vergabe all scram-sha-256', 'hostssl all vergabe all reject', \
         'host shop_db shop all scram-sha-256', 'host all shop all reject'",
        Some("spec.postgresql.pg_hba")
    )]
    #[case::accept_ssl_and_non_ssl_rejects(
        "'host vergabe_db vergabe all scram-sha-256', 'hostssl all vergabe all reject', \
         'hostnossl all vergabe all reject', 'host shop_db shop all scram-sha-256', 'host all shop all reject'",
        None
    )]
    #[case::reject_a_reject_from_some_addresses_only(
        "'host vergabe_db vergabe all scram-sha-256', 'host all vergabe 10.0.0.0/8 reject', \
         'host shop_db shop all scram-sha-256', 'host all shop all reject'",
        Some("spec.postgresql.pg_hba")
    )]
    #[case::reject_a_regex_database(
        "'host \"/^shop\" vergabe all scram-sha-256', 'host all vergabe all reject', \
         'host shop_db shop all scram-sha-256', 'host all shop all reject'",
        Some("spec.postgresql.pg_hba")
    )]
    #[case::reject_the_bootstrap_database_granted(
        "'host vergabe_db,apps_meta vergabe all scram-sha-256', 'host all vergabe all reject', \
         'host shop_db shop all scram-sha-256', 'host all shop all reject'",
        Some("spec.postgresql.pg_hba")
    )]
    #[case::accept_a_quoted_all_is_a_name(
        "'host \"all\" vergabe all scram-sha-256', 'host vergabe_db vergabe all scram-sha-256', \
         'host all vergabe all reject', 'host shop_db shop all scram-sha-256', 'host all shop all reject'",
        None
    )]
    fn reach(#[case] lines: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&cluster(lines))), "tenant-isolated", field);
    }

    #[test]
    fn the_message_names_the_consumer_the_databases_and_the_line() {
        let what = reached("");
        assert_eq!(what.len(), 2, "{what:?}");
        assert_eq!(
            what[0],
            "consumer role \"vergabe\" (vergabe-teilnahme) can log in over the network to databases not its own: \
             shop_db, apps_meta, postgres, template1 (first matching line: CloudNativePG's closing line `host \
             all all all scram-sha-256`)"
        );
        let what = reached(
            "'host all all 10.0.0.0/8 scram-sha-256', 'host vergabe_db vergabe all scram-sha-256', \
             'host all vergabe all reject', 'host shop_db shop all scram-sha-256', 'host all shop all reject'",
        );
        assert!(
            what[0].ends_with("(first matching line: spec.postgresql.pg_hba[0])"),
            "{what:?}"
        );
    }

    /// Many consumers: each walks only its own lines and those for every
    /// role; past 20 findings the rest are summed up in one.
    #[test]
    fn many_consumers_are_judged_each_and_summed_up() {
        let consumers: String = (0..30)
            .map(|i| format!("      - {{namespace: t{i}, role: r{i}, databases: [d{i}]}}\n"))
            .collect();
        let source = crate::contract::EMBEDDED_CONTRACT.replacen(
            "    consumers:",
            &format!("    consumers:\n{consumers}    # the registry:"),
            1,
        );
        let contract = crate::contract::parse(&source, "<many>").unwrap();
        let judge = |lines: &str| {
            crate::rules::evaluate(&create(&cluster(lines)), &contract, &crate::facts::NoFacts)
                .violations
                .into_iter()
                .filter(|v| v.rule.as_str() == "tenant-isolated")
                .map(|v| v.what)
                .collect::<Vec<_>>()
        };
        let open = judge("");
        assert_eq!(open.len(), 21, "{open:?}");
        assert!(
            open[0].contains("d1, d10, d11") || open[0].contains("other consumers' databases"),
            "{}",
            open[0]
        );
        assert_eq!(
            open[20],
            "11 more consumer roles can log in over the network to databases not their own (first: r20)"
        );
        let mut isolated: Vec<String> = (0..30)
            .map(|i| format!("'host d{i} r{i} all scram-sha-256', 'host all r{i} all reject'"))
            .collect();
        isolated.push("'host vergabe_db vergabe all scram-sha-256', 'host all vergabe all reject'".into());
        assert_eq!(judge(&isolated.join(", ")), Vec::<String>::new());
        // One consumer granted another's database by name: only it is reported.
        isolated[3] = "'host d3,d7 r3 all scram-sha-256', 'host all r3 all reject'".into();
        let one = judge(&isolated.join(", "));
        assert_eq!(one.len(), 1, "{one:?}");
        assert!(
            one[0].starts_with("consumer role \"r3\" (t3) can log in over the network to a database not its own: d7 "),
            "{}",
            one[0]
        );
    }

    #[test]
    fn an_unrelated_update_of_a_cluster_without_the_lines_only_warns() {
        let old = cluster("");
        let new = old.replace("spec: {", "spec: {instances: 2, ");
        let f = eval(&update(&old, &new));
        assert_only(&f, "tenant-isolated", Some("spec.postgresql.pg_hba"));
        let old_f = eval(&create(&old));
        let keys = |f: &crate::rules::Report| {
            f.violations
                .iter()
                .filter(|v| v.rule.as_str() == "tenant-isolated")
                .map(|v| v.ratchet_key())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(&f),
            keys(&old_f),
            "the same findings, so the ratchet keeps them as warnings"
        );
    }
}
