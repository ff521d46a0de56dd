//! Test builders: reviews from YAML, evaluation against the embedded
//! contract, and assertions on the rule id and field.

use serde_json::Value;

use super::{Report, evaluate};
use crate::contract::Contract;
use crate::facts::{Facts, NoFacts, OfflineFacts};
use crate::model::{Kind, Object, Operation, Review, User};

pub fn object(yaml: &str) -> Object {
    let value: Value = serde_norway::from_str(yaml).expect("test YAML");
    let kind = Kind::from_api_version(
        value["apiVersion"].as_str().expect("apiVersion"),
        value["kind"].as_str().expect("kind"),
    )
    .expect("covered kind");
    Object::decode(kind, value).expect("decodes")
}

fn review(operation: Operation, new: Option<&str>, old: Option<&str>) -> Review {
    let (object, old_object) = (new.map(self::object), old.map(self::object));
    let current = object.as_ref().or(old_object.as_ref()).expect("an object");
    let meta = current.metadata();
    let kind = current.kind();
    let name = meta.name.clone().unwrap_or_default();
    let namespace = if kind.is_namespaced() {
        meta.namespace.clone().unwrap_or_default()
    } else {
        String::new()
    };
    Review {
        operation,
        kind,
        namespace,
        name,
        object,
        old_object,
        // Nobody: the value rules' tests judge what an object says; the
        // identity rules' tests name their requester (`as_user`).
        user: User::default(),
        dry_run: false,
        stored: false,
    }
}

pub fn create(yaml: &str) -> Review {
    review(Operation::Create, Some(yaml), None)
}

pub fn update(old: &str, new: &str) -> Review {
    review(Operation::Update, Some(new), Some(old))
}

pub fn delete(old: &str) -> Review {
    review(Operation::Delete, None, Some(old))
}

/// The embedded apps-pg contract with a second consumer, `shop`, that the
/// platform grants `pg_monitor` and logical replication: two tenants to
/// keep apart.
pub fn contract() -> Contract {
    tenants_contract_with("")
}

/// [`contract`] with `cluster_fields` (indented YAML lines) added to the
/// shared cluster.
pub fn tenants_contract_with(cluster_fields: &str) -> Contract {
    let consumers = "    consumers:";
    let source = crate::contract::EMBEDDED_CONTRACT.replacen(
        consumers,
        &format!(
            "{cluster_fields}{consumers}\n      - {{namespace: shop-frontend, role: shop, databases: [shop_db], memberOf: [pg_monitor], logicalReplication: true}}"
        ),
        1,
    );
    crate::contract::parse(&source, "<tenants>").expect("test contract")
}

/// The test contract with subjects: vergabe's Flux ServiceAccount and
/// shop's group; the platform's group stays the break-glass group.
pub fn contract_with_subjects() -> Contract {
    let base = crate::contract::EMBEDDED_CONTRACT.replacen(
        "        databases: [vergabe_db]\n",
        "        databases: [vergabe_db]\n      - {namespace: shop-frontend, role: shop, databases: [shop_db], subjects: {groups: [team-shop]}}\n",
        1,
    );
    crate::contract::parse(&base, "<subjects>").expect("test contract")
}

/// `review` as sent by `username` in `groups`.
pub fn as_user(mut review: Review, username: &str, groups: &[&str]) -> Review {
    review.user = User {
        username: username.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    };
    review
}

pub fn eval(review: &Review) -> Report {
    evaluate(review, &contract(), &NoFacts)
}

pub fn eval_with(review: &Review, facts: &dyn Facts) -> Report {
    evaluate(review, &contract(), facts)
}

/// Offline facts from manifests.
pub fn facts_from(yamls: &[&str]) -> OfflineFacts {
    let objects: Vec<(String, Object)> = yamls
        .iter()
        .map(|y| {
            let o = object(y);
            (o.metadata().namespace.clone().unwrap_or_default(), o)
        })
        .collect();
    OfflineFacts::from_objects(&contract(), objects.iter().map(|(ns, o)| (ns.as_str(), o)))
}

/// With `Some(field)`: exactly the violations of `rule` are present, and
/// one is at `field`. With `None`: `rule` found nothing.
#[track_caller]
pub fn assert_only(findings: &Report, rule: &str, field: Option<&str>) {
    let lines: Vec<String> = findings.violations.iter().map(|v| v.line()).collect();
    let mine: Vec<_> = findings.violations.iter().filter(|v| v.rule.as_str() == rule).collect();
    match field {
        None => assert!(mine.is_empty(), "expected no {rule} violation, got {lines:#?}"),
        Some(field) => {
            assert!(
                mine.iter().any(|v| v.field == field),
                "expected a {rule} violation at {field}, got {lines:#?}"
            );
            for v in &mine {
                assert!(v.line().starts_with(&format!("[{rule}] ")), "{}", v.line());
                assert!(v.line().contains(". Fix: "), "{}", v.line());
            }
        }
    }
}
