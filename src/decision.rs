//! From findings to a verdict: modes, ratcheting, break-glass and exempt
//! users (docs/contract.md, "Decisions"). The webhook, `check` and `audit` all
//! call [`decide`]; none of them judges on its own.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::contract::{Contract, Identity, Mode};
use crate::facts::Facts;
use crate::model::{Operation, Review};
use crate::rules::{self, AgedFact, RatchetKey, RuleId, Skipped, Violation};

/// At most this many violations are listed in a denial message, and this
/// many warnings returned: a response stays small whatever the object holds
/// (the decision log keeps the rest, within its own bound).
pub const MAX_LISTED: usize = 20;

/// What became of one violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Disposition {
    /// Enforced: the request is denied.
    Denied,
    /// The rule is in warn mode.
    Warned,
    /// The rule is in audit mode: recorded only.
    Audited,
    /// The old object already had it (UPDATE): allowed with a warning.
    Ratcheted,
    /// A break-glass user overrode it: allowed, warned, audited.
    BreakGlass,
    /// The requester is exempt (the CNPG operator).
    Exempt,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Denied => "denied",
            Disposition::Warned => "warned",
            Disposition::Audited => "audited",
            Disposition::Ratcheted => "ratcheted",
            Disposition::BreakGlass => "break-glass",
            Disposition::Exempt => "exempt",
        }
    }
}

/// A violation with what became of it: the one "finding" of the guard,
/// as the decision record, `check`'s JSON and the policy reports show it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub violation: Violation,
    pub mode: Mode,
    pub disposition: Disposition,
}

impl Finding {
    /// `{rule, mode, disposition, field, message}`, the message a
    /// [`Violation::line`], cut to `max_message` characters (the cut
    /// marked with …) when given.
    pub fn serialize_cut<S: serde::Serializer>(&self, s: S, max_message: Option<usize>) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut message = self.violation.line();
        if let Some(max) = max_message
            && message.chars().count() > max
        {
            message = message.chars().take(max.saturating_sub(1)).collect::<String>() + "…";
        }
        let mut out = s.serialize_struct("Finding", 5)?;
        out.serialize_field("rule", self.violation.rule.as_str())?;
        out.serialize_field("mode", self.mode.as_str())?;
        out.serialize_field("disposition", self.disposition.as_str())?;
        out.serialize_field("field", &self.violation.field)?;
        out.serialize_field("message", &message)?;
        out.end()
    }
}

impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize_cut(s, None)
    }
}

/// The verdict on one review, with everything that led to it.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub allowed: bool,
    /// Who asked, as the contract knows them.
    pub identity: Identity,
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
    /// Checks answered from facts kept while a watch is broken.
    pub aged: Vec<AgedFact>,
    /// The break-glass reason, when break-glass was honoured.
    pub break_glass: Option<String>,
    /// A break-glass annotation was present but the user is not allowed to use it.
    pub break_glass_refused: bool,
    pub exempt: bool,
}

/// What a review comes to, as decision records, metrics and the API
/// server's audit annotations name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Allow,
    Deny,
    /// Allowed, with warnings.
    Warn,
    /// Denied by a rule, allowed by break-glass.
    BreakGlass,
    /// Allowed because the requester is exempt (the CNPG operator).
    Exempt,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Allow,
        Verdict::Deny,
        Verdict::Warn,
        Verdict::Exempt,
        Verdict::BreakGlass,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Warn => "warn",
            Verdict::BreakGlass => "break-glass",
            Verdict::Exempt => "exempt",
        }
    }
}

impl Decision {
    /// What the review comes to.
    pub fn verdict(&self) -> Verdict {
        if !self.allowed {
            Verdict::Deny
        } else if self.break_glass.is_some() && self.has(Disposition::BreakGlass) {
            Verdict::BreakGlass
        } else if self.exempt && self.has(Disposition::Exempt) {
            Verdict::Exempt
        } else if self.findings.iter().any(|f| f.disposition != Disposition::Audited) {
            Verdict::Warn
        } else {
            Verdict::Allow
        }
    }

    fn has(&self, d: Disposition) -> bool {
        self.findings.iter().any(|f| f.disposition == d)
    }

    pub fn denied(&self) -> impl Iterator<Item = &Violation> {
        self.findings
            .iter()
            .filter(|f| f.disposition == Disposition::Denied)
            .map(|f| &f.violation)
    }

    /// The denial message: one line per violation, the first
    /// [`MAX_LISTED`] of them, then how many more the decision log holds.
    pub fn message(&self) -> String {
        let denied = self.denied().count();
        let mut lines: Vec<String> = self.denied().take(MAX_LISTED).map(Violation::line).collect();
        if denied > MAX_LISTED {
            lines.push(format!("… and {} more (see the decision log)", denied - MAX_LISTED));
        }
        if self.break_glass_refused {
            lines.push(
                "(a break-glass annotation is present, but the requesting user is in no break-glass group)".into(),
            );
        }
        lines.join("\n")
    }

    /// Admission warnings: short, one per allowed-but-noted violation.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .findings
            .iter()
            .filter(|f| {
                matches!(
                    f.disposition,
                    Disposition::Warned | Disposition::Ratcheted | Disposition::BreakGlass
                )
            })
            .map(|f| match f.disposition {
                Disposition::Ratcheted => f.violation.short_with("(pre-existing) "),
                Disposition::BreakGlass => f.violation.short_with("(break-glass) "),
                _ => f.violation.short(),
            })
            .collect();
        out.extend(self.aged.iter().map(AgedFact::short));
        out.dedup();
        if out.len() > MAX_LISTED {
            let more = out.len() - MAX_LISTED;
            out.truncate(MAX_LISTED);
            out.push(format!(
                "[cnpg-guard] … and {more} more warnings (see the decision log)"
            ));
        }
        out
    }

    /// The rule ids that found something, sorted.
    pub fn rules(&self) -> BTreeSet<RuleId> {
        self.findings.iter().map(|f| f.violation.rule).collect()
    }
}

/// Runs the rules on `review` and turns what they find into a verdict.
pub fn decide(review: &Review, contract: &Contract, facts: &dyn Facts) -> Decision {
    let found = rules::evaluate(review, contract, facts);
    let mut decision = Decision {
        allowed: true,
        identity: contract.identity(&review.user.username, &review.user.groups),
        skipped: found.skipped,
        aged: found.aged,
        ..Decision::default()
    };
    if found.violations.is_empty() {
        return decision;
    }

    let preexisting = preexisting(review, contract, facts);
    decision.exempt = contract.exempt_users.contains(&review.user.username);
    let annotation = review
        .current()
        .and_then(|o| o.annotation(&contract.break_glass.annotation))
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let privileged = review
        .user
        .groups
        .iter()
        .any(|g| contract.break_glass.groups.contains(g));
    let break_glass = match annotation {
        Some(reason) if privileged => Some(reason.to_owned()),
        Some(_) => {
            decision.break_glass_refused = true;
            None
        }
        None => None,
    };

    for mut violation in found.violations {
        let mode = contract.mode(violation.rule);
        let disposition = match mode {
            Mode::Audit => Disposition::Audited,
            Mode::Warn => Disposition::Warned,
            Mode::Enforce if violation.advisory => Disposition::Warned,
            Mode::Enforce if !violation.fail_closed && preexisting.contains(&violation.ratchet_key()) => {
                Disposition::Ratcheted
            }
            Mode::Enforce if decision.exempt => Disposition::Exempt,
            Mode::Enforce if break_glass.is_some() => Disposition::BreakGlass,
            Mode::Enforce => Disposition::Denied,
        };
        if disposition == Disposition::Denied {
            note_widened(&mut violation, &preexisting);
        }
        decision.findings.push(Finding {
            violation,
            mode,
            disposition,
        });
    }
    decision.allowed = !decision.has(Disposition::Denied);
    if decision.has(Disposition::BreakGlass) {
        decision.break_glass = break_glass;
    }
    if decision.allowed {
        decision.break_glass_refused = false;
    }
    decision
}

/// A denied violation at a field where the old object already violated the
/// same rule with another value (a widened CIDR, another port, another
/// untrusted extension) says so: the old one alone would be ratcheted as
/// pre-existing, and the denial should not read like a first offence.
fn note_widened(violation: &mut Violation, preexisting: &BTreeSet<RatchetKey>) {
    let Some((_, _, old_what, _)) = preexisting
        .iter()
        .find(|(rule, field, _, _)| *rule == violation.rule && *field == violation.field)
    else {
        return;
    };
    let before = if *old_what == violation.what {
        String::new()
    } else {
        format!(" (before: {old_what})")
    };
    violation.what = format!(
        "{}; the old object already had a narrower or different violation at this field{before}, \
         which alone would be allowed as pre-existing: this change widens or replaces it",
        violation.what
    );
}

/// The verdict on a violation by absence (a protected object that does not
/// exist, see [`rules::missing`]): its rule's mode decides; there is no
/// request, so no ratcheting, exemption or break-glass.
pub fn decide_missing(violation: Violation, contract: &Contract) -> Decision {
    let mode = contract.mode(violation.rule);
    let disposition = match mode {
        Mode::Audit => Disposition::Audited,
        Mode::Warn => Disposition::Warned,
        Mode::Enforce => Disposition::Denied,
    };
    Decision {
        allowed: disposition != Disposition::Denied,
        findings: vec![Finding {
            violation,
            mode,
            disposition,
        }],
        ..Decision::default()
    }
}

/// On UPDATE: what the old object already violated, judged as if created,
/// each at its field with its offending value.
///
/// This is a second pass of the rules, over the old object, and it runs
/// only when the new object has violations (most reviews have none). It
/// cannot be folded into the first pass: a rule reads one object whole
/// (a pg_hba line's meaning depends on the lines before it, a role's on the
/// other roles), so "what the old object violated" is only known by
/// judging the old object as the rules judge any object.
fn preexisting(review: &Review, contract: &Contract, facts: &dyn Facts) -> BTreeSet<RatchetKey> {
    let (Operation::Update, Some(old)) = (review.operation, &review.old_object) else {
        return BTreeSet::new();
    };
    // The old object as anyone's CREATE: what the object already violated,
    // not what this requester may write (a rule about the writer, as
    // tenant-scoped, is never pre-existing).
    let before = Review {
        operation: Operation::Create,
        object: Some(old.clone()),
        old_object: None,
        user: crate::model::User::default(),
        ..review.clone_header()
    };
    rules::evaluate(&before, contract, facts)
        .violations
        .into_iter()
        .filter(|v| !v.fail_closed)
        .map(|v| v.ratchet_key())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::NoFacts;
    use crate::rules::testing::*;

    const FOREIGN_NS: &str =
        "{apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {railiance.io/postgres-client: apps-pg}}}";
    const TWO_RULES: &str = "{apiVersion: v1, kind: Secret, metadata: {name: s, namespace: shop, annotations: {reflector.v1.k8s.emberstack.com/reflects: databases/apps-pg-credentials}}, stringData: {username: apps_admin}}";

    fn with_user(mut r: Review, user: &str, groups: &[&str]) -> Review {
        r.user.username = user.into();
        r.user.groups = groups.iter().map(|g| g.to_string()).collect();
        r
    }

    #[test]
    fn all_violations_are_reported_at_once() {
        let d = decide(&create(TWO_RULES), &contract(), &NoFacts);
        assert!(!d.allowed);
        let fields: Vec<_> = d.denied().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "metadata.annotations[reflector.v1.k8s.emberstack.com/reflects]",
                "stringData.username"
            ]
        );
        assert_eq!(d.message().lines().count(), 2);
        assert_eq!(d.verdict().as_str(), "deny");
    }

    #[test]
    fn warn_and_audit_modes_allow() {
        let src = crate::contract::EMBEDDED_CONTRACT.replace("rules: {}", "rules: {client-label-registered: warn}");
        let c = crate::contract::parse(&src, "t").unwrap();
        let d = decide(&create(FOREIGN_NS), &c, &NoFacts);
        assert!(d.allowed);
        assert_eq!(d.findings[0].disposition, Disposition::Warned);
        assert_eq!(d.warnings().len(), 1);
        assert!(d.warnings()[0].starts_with("[client-label-registered] "));
        assert_eq!(d.verdict().as_str(), "warn");

        let src = crate::contract::EMBEDDED_CONTRACT.replace("rules: {}", "rules: {client-label-registered: audit}");
        let c = crate::contract::parse(&src, "t").unwrap();
        let d = decide(&create(FOREIGN_NS), &c, &NoFacts);
        assert!(d.allowed);
        assert!(d.warnings().is_empty());
        assert_eq!(d.findings[0].disposition, Disposition::Audited);
        assert_eq!(d.verdict().as_str(), "allow");
    }

    #[test]
    fn ratcheting_allows_what_the_old_object_already_had() {
        let relabelled = FOREIGN_NS.replace("labels: {", "labels: {team: shop, ");
        let d = decide(&update(FOREIGN_NS, &relabelled), &contract(), &NoFacts);
        assert!(d.allowed, "{}", d.message());
        assert_eq!(d.findings[0].disposition, Disposition::Ratcheted);
        assert!(d.warnings()[0].contains("(pre-existing)"));

        // A new violation on UPDATE is still denied.
        let old = "{apiVersion: v1, kind: Namespace, metadata: {name: shop}}";
        let d = decide(&update(old, FOREIGN_NS), &contract(), &NoFacts);
        assert!(!d.allowed);
    }

    const POLICY: &str = "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: extra, namespace: databases}, spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.1.2.3/32}}], ports: [{port: 5432}]}]}}";
    const BOOTSTRAP: &str = "{apiVersion: v1, kind: Secret, metadata: {name: apps-pg-credentials, namespace: databases}, stringData: {username: apps_admin, password: Sup3r-Secret-Canary}}";

    fn shop_secret(string_data: &str) -> String {
        format!("{{apiVersion: v1, kind: Secret, metadata: {{name: s, namespace: shop}}, stringData: {string_data}}}")
    }

    fn dispositions(d: &Decision) -> Vec<(&str, &str, Disposition)> {
        d.findings
            .iter()
            .map(|f| (f.violation.rule.as_str(), f.violation.field.as_str(), f.disposition))
            .collect()
    }

    /// A widened pre-existing violation is denied, and its denial says the
    /// old object already had a narrower one there (not a first offence);
    /// a violation at a field the old object did not violate says nothing.
    #[test]
    fn a_widened_violation_says_the_old_object_had_a_narrower_one() {
        let widened = POLICY.replace("10.1.2.3/32", "0.0.0.0/0");
        let d = decide(&update(POLICY, &widened), &contract(), &NoFacts);
        assert!(!d.allowed);
        let message = d.message();
        assert!(
            message.contains("the old object already had a narrower or different violation at this field")
                && message.contains("this change widens or replaces it"),
            "{message}"
        );
        assert!(
            message.starts_with("[network-posture] NetworkPolicy databases/extra: spec.ingress[0].from[0].ipBlock: "),
            "{message}"
        );
        let fresh = "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: extra, namespace: databases}, spec: {podSelector: {}}}";
        let d = decide(&update(fresh, &widened), &contract(), &NoFacts);
        assert!(!d.allowed);
        assert!(!d.message().contains("already had"), "{}", d.message());
    }

    #[test]
    fn ratcheting_keeps_a_violation_only_at_its_field_with_its_value() {
        // An unrelated change of a policy that already had an ipBlock: ratcheted.
        let relabelled = POLICY.replace("name: extra,", "name: extra, labels: {team: x},");
        let d = decide(&update(POLICY, &relabelled), &contract(), &NoFacts);
        assert!(d.allowed, "{}", d.message());
        assert_eq!(
            dispositions(&d),
            [(
                "network-posture",
                "spec.ingress[0].from[0].ipBlock",
                Disposition::Ratcheted
            )]
        );

        // The same ipBlock widened to everything, its ports removed: new.
        let widened = POLICY
            .replace("10.1.2.3/32", "0.0.0.0/0")
            .replace(", ports: [{port: 5432}]", "");
        let d = decide(&update(POLICY, &widened), &contract(), &NoFacts);
        assert!(!d.allowed);
        assert_eq!(
            dispositions(&d),
            [(
                "network-posture",
                "spec.ingress[0].from[0].ipBlock",
                Disposition::Denied
            )]
        );
        // Only the ports removed: the rule is wider, so new too.
        let portless = POLICY.replace(", ports: [{port: 5432}]", "");
        assert!(!decide(&update(POLICY, &portless), &contract(), &NoFacts).allowed);

        // `username: apps_admin` already there; `user: apps_admin` added beside it.
        let old = shop_secret("{username: apps_admin}");
        let new = shop_secret("{username: apps_admin, user: apps_admin}");
        let d = decide(&update(&old, &new), &contract(), &NoFacts);
        assert!(!d.allowed);
        assert_eq!(
            dispositions(&d),
            [
                ("bootstrap-secret-confined", "stringData.user", Disposition::Denied),
                (
                    "bootstrap-secret-confined",
                    "stringData.username",
                    Disposition::Ratcheted
                ),
            ]
        );
    }

    #[test]
    fn ratcheting_a_copied_password_does_not_cover_another_key() {
        let old = shop_secret("{pw: Sup3r-Secret-Canary}");
        let new = shop_secret("{pw: Sup3r-Secret-Canary, pw2: Sup3r-Secret-Canary}");
        let facts = facts_from(&[BOOTSTRAP]);
        let d = decide(&update(&old, &new), &contract(), &facts);
        assert!(!d.allowed);
        assert_eq!(
            dispositions(&d),
            [
                ("bootstrap-secret-confined", "stringData.pw", Disposition::Ratcheted),
                ("bootstrap-secret-confined", "stringData.pw2", Disposition::Denied),
            ]
        );
        assert!(!d.message().contains("Sup3r-Secret-Canary"));
        assert!(!format!("{d:?}").contains("Sup3r-Secret-Canary"));
        // The same key, unchanged, on an unrelated update: still ratcheted.
        let relabelled = old.replace("name: s,", "name: s, labels: {a: b},");
        assert!(decide(&update(&old, &relabelled), &contract(), &facts).allowed);
    }

    #[test]
    fn a_review_without_a_name_is_denied_for_kinds_protected_by_name() {
        let mut r = delete(
            "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: default-deny-all, namespace: databases}, spec: {podSelector: {}}}",
        );
        r.name.clear();
        let d = decide(&r, &contract(), &NoFacts);
        assert!(!d.allowed);
        assert_eq!(
            dispositions(&d),
            [("network-posture", "metadata.name", Disposition::Denied)]
        );
        assert!(d.message().contains("names no object"), "{}", d.message());
    }

    #[test]
    fn break_glass_needs_the_annotation_and_the_group() {
        let cluster = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg, namespace: databases, annotations: {cnpg-guard.railiance.io/break-glass: INC-42 planned rebuild}}, spec: {}}";
        let admin = with_user(delete(cluster), "bob", &["railiance:platform-admins"]);
        let d = decide(&admin, &contract(), &NoFacts);
        assert!(d.allowed);
        assert_eq!(d.break_glass.as_deref(), Some("INC-42 planned rebuild"));
        assert_eq!(d.verdict().as_str(), "break-glass");
        assert!(d.warnings().iter().all(|w| w.chars().count() <= 120));

        let someone = with_user(delete(cluster), "eve", &["system:authenticated"]);
        let d = decide(&someone, &contract(), &NoFacts);
        assert!(!d.allowed);
        assert!(d.break_glass.is_none());
        assert!(d.message().contains("no break-glass group"));

        let no_annotation = cluster.replace("cnpg-guard.railiance.io/break-glass", "other");
        let d = decide(
            &with_user(delete(&no_annotation), "bob", &["railiance:platform-admins"]),
            &contract(),
            &NoFacts,
        );
        assert!(!d.allowed);
    }

    const APPS_PG: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg, namespace: databases, labels: {railiance.io/role: shared-apps-database}}, spec: {bootstrap: {initdb: {database: apps_meta, owner: apps_admin, secret: {name: apps-pg-credentials}}}, instances: 3, postgresql: {pg_hba: [PG_HBA]}}}";

    /// Each consumer kept to its own databases (tenant-isolated).
    const ISOLATED: &str = "'host vergabe_db vergabe all scram-sha-256', 'host all vergabe all reject', \
                            'host shop_db shop all scram-sha-256', 'host all shop all reject'";

    /// A `trust` line already on the shared cluster is ratcheted on an
    /// unrelated update (warned); a new one beside it is denied.
    #[test]
    fn tenant_isolation_rules_ratchet_like_the_others() {
        let trust = APPS_PG.replace("PG_HBA", &format!("{ISOLATED}, 'host all all 0.0.0.0/0 trust'"));
        let scaled = trust.replace("instances: 3", "instances: 4");
        let d = decide(&update(&trust, &scaled), &contract(), &NoFacts);
        assert!(d.allowed, "{}", d.message());
        assert_eq!(
            dispositions(&d),
            [("auth-posture", "spec.postgresql.pg_hba[4]", Disposition::Ratcheted)]
        );
        assert!(
            d.warnings()[0].starts_with("[auth-posture] (pre-existing) "),
            "{:?}",
            d.warnings()
        );

        let another = APPS_PG.replace(
            "PG_HBA",
            &format!("{ISOLATED}, 'host all all 0.0.0.0/0 trust', 'host all all 10.0.0.0/8 password'"),
        );
        let d = decide(&update(&trust, &another), &contract(), &NoFacts);
        assert!(!d.allowed);
        assert_eq!(
            dispositions(&d),
            [
                ("auth-posture", "spec.postgresql.pg_hba[4]", Disposition::Ratcheted),
                ("auth-posture", "spec.postgresql.pg_hba[5]", Disposition::Denied)
            ]
        );
        let widened = APPS_PG
            .replace("PG_HBA", &format!("{ISOLATED}, 'host all all 0.0.0.0/0 trust'"))
            .replace("0.0.0.0/0", "::/0");
        let d = decide(&update(&trust, &widened), &contract(), &NoFacts);
        assert!(!d.allowed, "a trust line changed in place is new");
    }

    /// Dropping a database is a break-glass act: denied, and allowed,
    /// warned and recorded for a break-glass group member who annotates it.
    #[test]
    fn deleting_a_database_that_reclaims_its_data_needs_break_glass() {
        let db = "{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {name: vergabe-db, namespace: databases, ANNOTATIONS}, spec: {name: vergabe_db, owner: vergabe, cluster: {name: apps-pg}, databaseReclaimPolicy: delete}}";
        let plain = db.replace("ANNOTATIONS", "annotations: {}");
        // Even the platform's: without break-glass, the data stays.
        let d = decide(
            &with_user(delete(&plain), "alice", &["railiance:platform-admins"]),
            &contract(),
            &NoFacts,
        );
        assert!(!d.allowed);
        assert_eq!(
            dispositions(&d),
            [("data-retained", "spec.databaseReclaimPolicy", Disposition::Denied)]
        );
        let annotated = db.replace(
            "ANNOTATIONS",
            "annotations: {cnpg-guard.railiance.io/break-glass: OPS-7 offboarding vergabe}",
        );
        let d = decide(
            &with_user(delete(&annotated), "bob", &["railiance:platform-admins"]),
            &contract(),
            &NoFacts,
        );
        assert!(d.allowed);
        assert_eq!(d.verdict().as_str(), "break-glass");
        assert_eq!(d.break_glass.as_deref(), Some("OPS-7 offboarding vergabe"));
        assert!(d.warnings()[0].starts_with("[data-retained] (break-glass) "));
    }

    #[test]
    fn exempt_users_are_allowed() {
        let r = with_user(
            create(FOREIGN_NS),
            "system:serviceaccount:cnpg-system:cnpg-manager",
            &[],
        );
        let d = decide(&r, &contract(), &NoFacts);
        assert!(d.allowed);
        assert_eq!(d.verdict().as_str(), "exempt");
    }
}
