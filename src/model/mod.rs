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
pub mod mirror;
pub mod print;
pub mod secret;

pub(crate) use decode::lean_metadata;

pub use decode::{DecodeError, LAST_APPLIED};

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use kinds::cluster::Cluster;
pub use kinds::database::Database;
pub use kinds::pooler::Pooler;
pub use kinds::{Kind, Object};

impl Kind {
    /// Its descriptor (the row of the table of kinds).
    pub fn info(self) -> &'static kinds::Descriptor {
        self.descriptor()
    }
}

impl Object {
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

/// Where an UPDATE's two objects' JSON texts are, for the decision
/// record's patch: their own texts, or the AdmissionReview body they sit in
/// (`request.oldObject` and `request.object`), when the webhook typed them
/// while reading the body.
#[derive(Debug, Clone, Copy)]
pub enum UpdateTexts<'a> {
    Texts { old: &'a str, new: &'a str },
    InReview(&'a [u8]),
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
