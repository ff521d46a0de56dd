//! The table of covered kinds: one descriptor file per kind, and one list
//! of them ([`kinds!`] below) from which the [`Kind`] and [`Object`] enums,
//! the decoder's dispatch and [`KINDS`] are made.
//!
//! A descriptor says everything the rest of the guard needs to know about a
//! kind: its group, version, kind, plural and scope; the operations the
//! webhook intercepts and where; its typed wire struct and decoder; its
//! field inventory; and which facts it feeds. From the table come the kind
//! lookups, `audit`'s inventory, the live watches, the field-inventory test
//! and the webhook rules and RBAC the deploy tests expect.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::Operation;
use super::decode::DecodeError;
use crate::rules::id::RuleId;

/// The list of covered kinds, each `module::Type` (the descriptor file and
/// the typed object it decodes to, which is also the [`Kind`] and
/// [`Object`] variant). Order is the order of [`Kind::ALL`].
macro_rules! kinds {
    ($($module:ident :: $kind:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// A covered kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $($kind),*
        }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$kind),*];

            /// Its descriptor.
            pub fn descriptor(self) -> &'static Descriptor {
                match self {
                    $(Kind::$kind => &$module::DESCRIPTOR),*
                }
            }
        }

        /// A typed object of a covered kind.
        #[derive(Debug, Clone)]
        pub enum Object {
            $($kind(Box<$module::$kind>)),*
        }

        impl Object {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Object::$kind(_) => Kind::$kind),*
                }
            }

            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$kind(o) => &o.metadata),*
                }
            }

            /// The one decoder per kind (see `model/decode.rs` for its doors).
            pub(crate) fn decode_as<'de, D: serde::Deserializer<'de>>(
                kind: Kind,
                input: D,
                track: bool,
            ) -> Result<Object, DecodeError> {
                match kind {
                    $(Kind::$kind => $module::decode(input, track).map(|o| Object::$kind(Box::new(o)))),*
                }
            }
        }

        $(
            /// The typed object, when the [`Object`] is of this kind.
            impl<'a> TryFrom<&'a Object> for &'a $module::$kind {
                type Error = Kind;

                fn try_from(object: &'a Object) -> Result<Self, Kind> {
                    match object {
                        Object::$kind(o) => Ok(o),
                        other => Err(other.kind()),
                    }
                }
            }
        )*

        /// Every covered kind's descriptor, in [`Kind::ALL`]'s order.
        pub const KINDS: &[&Descriptor] = &[$(&$module::DESCRIPTOR),*];
    };
}

kinds! {
    cluster::Cluster,
    database::Database,
    pooler::Pooler,
    namespace::Namespace,
    network_policy::NetworkPolicy,
    secret::Secret,
    service::Service,
    publication::Publication,
    database_role::DatabaseRole,
    backup::Backup,
    scheduled_backup::ScheduledBackup,
    image_catalog::ImageCatalog,
    cluster_image_catalog::ClusterImageCatalog,
    subscription::Subscription,
}

/// Where writes of a kind are intercepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Everywhere but the namespaces the webhook configuration excludes.
    Everywhere,
    /// Only in the shared clusters' namespaces (a second webhook entry).
    SharedNamespaces,
}

/// Which facts objects of a kind feed, and so which live watches `serve`
/// keeps (the facts store folds them in; `check` folds manifests the same
/// way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feeds {
    /// None: no watch.
    Nothing,
    /// Every object of the kind in each shared namespace (one watch per
    /// shared namespace).
    SharedNamespaces,
    /// Only each shared cluster's bootstrap Secret (one watch per Secret,
    /// by name: the guard never lists a namespace's Secrets).
    BootstrapSecrets,
}

/// How `audit` lists a kind, and so the read access the guard's RBAC
/// grants for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// In every namespace (a ClusterRole), or all of a cluster-scoped kind.
    Everywhere,
    /// In the shared namespaces only (a Role in each).
    SharedNamespaces,
    /// Only each shared cluster's bootstrap Secret, by name; every one
    /// with a kubeconfig that may list them (`audit`'s own).
    BootstrapSecrets,
}

/// How a field of a kind's `spec` is covered (the field inventory).
///
/// - **harmless**: no tenant gains access, and no data or service is lost,
///   through it;
/// - **checked**: a rule reads it (which one is named);
/// - **platform-only**: on a shared cluster only the platform team sets it;
///   every value can be legitimate, so its value is not judged, but who
///   changes it is (the rule `platform-only`, through the kind's
///   `platform_only()` prints, which must list exactly these fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Harmless,
    Checked(RuleId),
    PlatformOnly,
}

impl Class {
    pub fn describe(self) -> String {
        match self {
            Class::Harmless => "harmless".into(),
            Class::Checked(rule) => format!("checked ({rule})"),
            Class::PlatformOnly => "platform-only".into(),
        }
    }
}

/// One covered kind.
#[derive(Debug)]
pub struct Descriptor {
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
    /// The field inventory: each field under `spec` (top level, and one
    /// level below each of [`Descriptor::nested`]) and its class. Empty for
    /// the core kinds, whose schema is Kubernetes' own.
    pub fields: &'static [(&'static str, Class)],
    /// The fields whose children are inventoried too.
    pub nested: &'static [&'static str],
    pub feeds: Feeds,
    pub listed: Listed,
    /// Not served by every CloudNativePG version the guard supports
    /// (DatabaseRole is 1.30's): where its CRD is missing, its watch is not
    /// an error and its facts are empty.
    pub optional: bool,
}

/// The group of CloudNativePG's kinds.
pub const CNPG_GROUP: &str = "postgresql.cnpg.io";

use Operation::{Create, Delete, Update};

/// Create, update and delete.
pub(crate) const CUD: &[Operation] = &[Create, Update, Delete];
/// Create and update.
pub(crate) const CU: &[Operation] = &[Create, Update];
/// Create only.
pub(crate) const C: &[Operation] = &[Create];

impl Descriptor {
    /// The class of `spec.<path>`, if the inventory has it.
    pub fn class_of(&self, path: &str) -> Option<Class> {
        self.fields.iter().find(|(p, _)| *p == path).map(|(_, c)| *c)
    }
}

impl Kind {
    /// The covered kind for an API group and kind, or `None`.
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Kind> {
        KINDS
            .iter()
            .find(|k| k.group == group && k.name == kind)
            .map(|k| k.kind)
    }

    /// The covered kind for a manifest's `apiVersion` and `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Option<Kind> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Kind::from_group_kind(group, kind).filter(|k| k.descriptor().version == version)
    }

    pub fn as_str(self) -> &'static str {
        self.descriptor().name
    }

    pub fn api_version(self) -> &'static str {
        self.descriptor().api_version
    }

    pub fn is_namespaced(self) -> bool {
        self.descriptor().namespaced
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The table as JSON, for tools outside Rust (`cnpg-guard kinds` prints it;
/// the review fixtures' generator reads `tests/fixtures/kinds.json`, which a
/// test keeps equal to this).
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
            assert_eq!(row.kind, *kind);
            assert_eq!(Kind::from_group_kind(row.group, row.name), Some(*kind));
            assert_eq!(Kind::from_api_version(row.api_version, row.name), Some(*kind));
            let want = if row.group.is_empty() {
                row.version.to_owned()
            } else {
                format!("{}/{}", row.group, row.version)
            };
            assert_eq!(row.api_version, want);
        }
    }

    #[test]
    fn each_field_is_listed_once_and_nested_parents_are_listed() {
        for k in KINDS {
            let mut seen = std::collections::HashSet::new();
            for (path, _) in k.fields {
                assert!(seen.insert(*path), "{} spec.{path} listed twice", k.name);
            }
            for parent in k.nested {
                assert!(k.class_of(parent).is_some(), "{} spec.{parent}", k.name);
            }
        }
    }
}
