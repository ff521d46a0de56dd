//! What the rules see: a [`Review`] of one write to one typed object.
//!
//! The webhook builds it from an AdmissionRequest, `check` from a manifest
//! (as a CREATE) and `audit` from a live object (as a CREATE); from here on
//! the pipeline is the same for all three.

pub mod cnpg;
mod decode;
pub mod hba;
pub mod kinds;
mod lean;
pub mod secret;

pub(crate) use decode::{Declared, lean_metadata};
pub use decode::{DecodeError, LAST_APPLIED};

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use cnpg::{Cluster, Database, Pooler};

/// The kinds the contract covers (docs/contract.md, "What is intercepted").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Cluster,
    Database,
    Pooler,
    Namespace,
    NetworkPolicy,
    Secret,
    /// Only in the shared namespaces: a Service can expose the cluster's pods.
    Service,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Cluster,
        Kind::Database,
        Kind::Pooler,
        Kind::Namespace,
        Kind::NetworkPolicy,
        Kind::Secret,
        Kind::Service,
    ];

    /// Its row in the table of covered kinds.
    pub fn info(self) -> &'static kinds::KindInfo {
        &kinds::KINDS[self as usize]
    }

    /// The covered kind for an API group and kind, or `None`.
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Kind> {
        kinds::KINDS
            .iter()
            .find(|k| k.group == group && k.name == kind)
            .map(|k| k.kind)
    }

    /// The covered kind for a manifest's `apiVersion` and `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Option<Kind> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Kind::from_group_kind(group, kind).filter(|k| k.info().version == version)
    }

    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    pub fn api_version(self) -> &'static str {
        self.info().api_version
    }

    pub fn is_namespaced(self) -> bool {
        self.info().namespaced
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed object of a covered kind.
#[derive(Debug, Clone)]
pub enum Object {
    Cluster(Box<Cluster>),
    Database(Box<Database>),
    Pooler(Box<Pooler>),
    Namespace(Box<Namespace>),
    NetworkPolicy(Box<NetworkPolicy>),
    Secret(Box<Secret>),
    Service(Box<Service>),
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Cluster(_) => Kind::Cluster,
            Object::Database(_) => Kind::Database,
            Object::Pooler(_) => Kind::Pooler,
            Object::Namespace(_) => Kind::Namespace,
            Object::NetworkPolicy(_) => Kind::NetworkPolicy,
            Object::Secret(_) => Kind::Secret,
            Object::Service(_) => Kind::Service,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Cluster(o) => &o.metadata,
            Object::Database(o) => &o.metadata,
            Object::Pooler(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
        }
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        annotation(self.metadata(), key)
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.metadata().labels.as_ref()
    }
}

pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

pub fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// Who asked.
#[derive(Debug, Clone, Default)]
pub struct User {
    pub username: String,
    pub groups: Vec<String>,
}

/// One write to one object: the unit every rule judges.
#[derive(Debug, Clone)]
pub struct Review {
    pub operation: Operation,
    pub kind: Kind,
    /// The object's namespace; empty for cluster-scoped kinds.
    pub namespace: String,
    pub name: String,
    /// The object after the write (`None` on DELETE).
    pub object: Option<Object>,
    /// The object before the write (`None` on CREATE).
    pub old_object: Option<Object>,
    pub user: User,
    pub dry_run: bool,
    /// Judged as stored in the cluster (`audit`): who wrote it is not
    /// known, so checks about the writer (only the operator may write a
    /// Service CloudNativePG generates) do not apply.
    pub stored: bool,
}

impl Review {
    /// A CREATE of `object` by nobody in particular: how `check` and
    /// `audit` enter the pipeline.
    pub fn create(object: Object, namespace: String, name: String) -> Review {
        Review {
            operation: Operation::Create,
            kind: object.kind(),
            namespace,
            name,
            object: Some(object),
            old_object: None,
            user: User::default(),
            dry_run: false,
            stored: false,
        }
    }

    /// The same request without its objects.
    pub fn clone_header(&self) -> Review {
        Review {
            operation: self.operation,
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            object: None,
            old_object: None,
            user: self.user.clone(),
            dry_run: self.dry_run,
            stored: self.stored,
        }
    }

    /// The object as it stands after the write, or as it stood before a DELETE.
    pub fn current(&self) -> Option<&Object> {
        self.object.as_ref().or(self.old_object.as_ref())
    }

    /// `ns/name`, or `name` for cluster-scoped objects.
    pub fn display_name(&self) -> String {
        display_name(&self.namespace, &self.name)
    }
}

/// `ns/name`, or `name` for cluster-scoped objects (no namespace): how
/// messages, reports and records name an object.
pub fn display_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        [namespace, "/", name].concat()
    }
}
