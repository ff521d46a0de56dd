//! The table of covered kinds: one row per kind, read by the kind lookups,
//! `audit`'s inventory and the tests that compare the shipped webhook
//! configuration with it.

use super::{Kind, Operation};

/// Where writes of a kind are intercepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Everywhere but the namespaces the webhook configuration excludes.
    Everywhere,
    /// Only in the shared clusters' namespaces (a second webhook entry).
    SharedNamespaces,
}

/// One covered kind.
#[derive(Debug)]
pub struct KindInfo {
    pub kind: Kind,
    /// API group (`""` for the core group).
    pub group: &'static str,
    pub version: &'static str,
    pub api_version: &'static str,
    pub name: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// The operations the webhook intercepts.
    pub operations: &'static [Operation],
    pub reach: Reach,
}

use Operation::{Create, Delete, Update};

const CUD: &[Operation] = &[Create, Update, Delete];
const CU: &[Operation] = &[Create, Update];

/// Every covered kind, in [`Kind`]'s order.
pub const KINDS: [KindInfo; 7] = [
    cnpg(Kind::Cluster, "Cluster", "clusters", CUD),
    cnpg(Kind::Database, "Database", "databases", CUD),
    cnpg(Kind::Pooler, "Pooler", "poolers", CU),
    KindInfo {
        kind: Kind::Namespace,
        group: "",
        version: "v1",
        api_version: "v1",
        name: "Namespace",
        plural: "namespaces",
        namespaced: false,
        operations: CUD,
        reach: Reach::Everywhere,
    },
    KindInfo {
        kind: Kind::NetworkPolicy,
        group: "networking.k8s.io",
        version: "v1",
        api_version: "networking.k8s.io/v1",
        name: "NetworkPolicy",
        plural: "networkpolicies",
        namespaced: true,
        operations: CUD,
        reach: Reach::Everywhere,
    },
    core(Kind::Secret, "Secret", "secrets", Reach::Everywhere),
    core(Kind::Service, "Service", "services", Reach::SharedNamespaces),
];

const fn cnpg(kind: Kind, name: &'static str, plural: &'static str, operations: &'static [Operation]) -> KindInfo {
    KindInfo {
        kind,
        group: "postgresql.cnpg.io",
        version: "v1",
        api_version: "postgresql.cnpg.io/v1",
        name,
        plural,
        namespaced: true,
        operations,
        reach: Reach::Everywhere,
    }
}

const fn core(kind: Kind, name: &'static str, plural: &'static str, reach: Reach) -> KindInfo {
    KindInfo {
        kind,
        group: "",
        version: "v1",
        api_version: "v1",
        name,
        plural,
        namespaced: true,
        operations: CU,
        reach,
    }
}

/// The table as JSON, for tools outside Rust (the review fixtures'
/// generator reads `tests/fixtures/kinds.json`, which a test keeps equal to
/// this).
pub fn table_json() -> serde_json::Value {
    serde_json::Value::Array(
        KINDS
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kind": k.name,
                    "group": k.group,
                    "version": k.version,
                    "plural": k.plural,
                    "namespaced": k.namespaced,
                    "operations": k.operations.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                    "where": match k.reach {
                        Reach::Everywhere => "everywhere",
                        Reach::SharedNamespaces => "shared namespaces",
                    },
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_kind_order_and_complete() {
        assert_eq!(KINDS.len(), Kind::ALL.len());
        for (row, kind) in KINDS.iter().zip(Kind::ALL) {
            assert_eq!(row.kind, kind);
            assert_eq!(Kind::from_group_kind(row.group, row.name), Some(kind));
            assert_eq!(Kind::from_api_version(row.api_version, row.name), Some(kind));
        }
    }
}
