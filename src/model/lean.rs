//! Namespace, NetworkPolicy and Service as the webhook reads them: field for field
//! like k8s-openapi's types, but with the lean metadata the rules read
//! ([`super::lean_metadata`]): `managedFields`, which k8s-openapi would build
//! into JSON trees and which is often the largest part of the object, is
//! skipped unparsed. `kind` and `apiVersion` are checked as k8s-openapi
//! checks them. The one decoder of these kinds, for the webhook, `check`
//! and `audit` alike.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus, Service, ServiceSpec};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::decode::Declared;

/// An object on the wire: its type fields, lean metadata, `spec` and
/// `status` (`IgnoredAny` for a kind without one).
#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "Spec: Deserialize<'de>, Status: Deserialize<'de>")
)]
struct Wire<'a, Spec, Status> {
    #[serde(borrow, default)]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "super::lean_metadata")]
    metadata: ObjectMeta,
    spec: Option<Spec>,
    status: Option<Status>,
}

impl<Spec, Status> Wire<'_, Spec, Status> {
    /// The object's fields, or what it says it is when that is another
    /// kind or version (an object that states neither is taken as asked).
    fn checked(self, api_version: &str, kind: &str) -> Result<(ObjectMeta, Option<Spec>, Option<Status>), Declared> {
        match (&self.api_version, &self.kind) {
            (Some(v), _) if v != api_version => Err(Declared::ApiVersion(v.to_string())),
            (_, Some(k)) if k != kind => Err(Declared::Kind(k.to_string())),
            _ => Ok((self.metadata, self.spec, self.status)),
        }
    }
}

/// A `v1` Namespace on the wire.
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct LeanNamespace<'a>(#[serde(borrow)] Wire<'a, NamespaceSpec, NamespaceStatus>);

impl LeanNamespace<'_> {
    /// The Namespace, or what the object says it is instead.
    pub(crate) fn into_namespace(self) -> Result<Namespace, Declared> {
        let (metadata, spec, status) = self.0.checked("v1", "Namespace")?;
        Ok(Namespace { metadata, spec, status })
    }
}

/// A `networking.k8s.io/v1` NetworkPolicy on the wire (it has no status).
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct LeanNetworkPolicy<'a>(#[serde(borrow)] Wire<'a, NetworkPolicySpec, IgnoredAny>);

impl LeanNetworkPolicy<'_> {
    /// The NetworkPolicy, or what the object says it is instead.
    pub(crate) fn into_network_policy(self) -> Result<NetworkPolicy, Declared> {
        let (metadata, spec, _) = self.0.checked("networking.k8s.io/v1", "NetworkPolicy")?;
        Ok(NetworkPolicy { metadata, spec })
    }
}

/// A `v1` Service on the wire (its status is not read).
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct LeanService<'a>(#[serde(borrow)] Wire<'a, ServiceSpec, IgnoredAny>);

impl LeanService<'_> {
    /// The Service, or what the object says it is instead.
    pub(crate) fn into_service(self) -> Result<Service, Declared> {
        let (metadata, spec, _) = self.0.checked("v1", "Service")?;
        Ok(Service {
            metadata,
            spec,
            status: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Object};

    /// k8s-openapi's metadata less what lean metadata leaves out.
    fn leaner(mut meta: ObjectMeta) -> ObjectMeta {
        meta.managed_fields = None;
        if let Some(a) = meta.annotations.as_mut() {
            assert!(
                a.remove(crate::model::LAST_APPLIED).is_some(),
                "the fixture has kubectl's annotation"
            );
        }
        meta
    }

    /// Everything the rules can read decodes as k8s-openapi decodes it; only
    /// `managedFields`, kubectl's last-applied annotation and the other
    /// server bookkeeping lean metadata skips are left out.
    #[rstest::rstest]
    #[case::namespace(Kind::Namespace, "namespace-create-allowed.json")]
    #[case::namespace_denied(Kind::Namespace, "namespace-create-denied.json")]
    #[case::namespace_update(Kind::Namespace, "namespace-update-ratchet.json")]
    #[case::network_policy(Kind::NetworkPolicy, "networkpolicy-create-allowed.json")]
    #[case::network_policy_denied(Kind::NetworkPolicy, "networkpolicy-create-denied.json")]
    fn agrees_with_k8s_openapi(#[case] kind: Kind, #[case] fixture: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/reviews")
            .join(fixture);
        let review: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let object = &review["request"]["object"];
        assert!(
            object["metadata"]["managedFields"].is_array(),
            "the fixture has managedFields"
        );
        let json = object.to_string();
        match (kind, Object::decode_json(kind, &json).unwrap()) {
            (Kind::Namespace, Object::Namespace(lean)) => {
                let full: Namespace = serde_json::from_str(&json).unwrap();
                assert!(lean.metadata.managed_fields.is_none());
                assert_eq!((lean.spec.clone(), lean.status.clone()), (full.spec, full.status));
                assert_lean_metadata(&lean.metadata, full.metadata);
            }
            (Kind::NetworkPolicy, Object::NetworkPolicy(lean)) => {
                let full: NetworkPolicy = serde_json::from_str(&json).unwrap();
                assert!(lean.metadata.managed_fields.is_none());
                assert_eq!(lean.spec, full.spec);
                assert_lean_metadata(&lean.metadata, full.metadata);
            }
            (_, other) => panic!("decoded as {}", other.kind()),
        }
    }

    fn assert_lean_metadata(lean: &ObjectMeta, full: ObjectMeta) {
        let full = leaner(full);
        assert_eq!(
            (&lean.name, &lean.namespace, &lean.uid, &lean.resource_version),
            (&full.name, &full.namespace, &full.uid, &full.resource_version)
        );
        assert_eq!((&lean.labels, &lean.annotations), (&full.labels, &full.annotations));
    }

    /// An object that says it is another kind or version is not taken, and
    /// the error says what it says it is (or names the field that does not
    /// decode); one that states neither is taken. From a text and from a
    /// tree alike.
    #[rstest::rstest]
    #[case::namespace_kind(
        Kind::Namespace,
        r#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#,
        Some("says it is a ConfigMap")
    )]
    #[case::namespace_version(
        Kind::Namespace,
        r#"{"apiVersion":"v2","metadata":{"name":"a"}}"#,
        Some("says it is v2, not v1")
    )]
    #[case::namespace_bare(Kind::Namespace, r#"{"metadata":{"name":"a"}}"#, None)]
    #[case::policy_kind(
        Kind::NetworkPolicy,
        r#"{"kind":"Namespace","metadata":{"name":"a"}}"#,
        Some("says it is a Namespace")
    )]
    #[case::policy_version(
        Kind::NetworkPolicy,
        r#"{"apiVersion":"v1","kind":"NetworkPolicy","spec":{}}"#,
        Some("says it is v1, not networking.k8s.io/v1")
    )]
    #[case::policy_bad_spec(Kind::NetworkPolicy, r#"{"spec":{"podSelector":7}}"#, Some("spec.podSelector"))]
    #[case::policy_bare(Kind::NetworkPolicy, r#"{"spec":{"podSelector":{}}}"#, None)]
    fn another_kind_is_refused(#[case] kind: Kind, #[case] json: &str, #[case] refused: Option<&str>) {
        let decoded = Object::decode_json(kind, json);
        let from_tree = Object::decode(kind, serde_json::from_str(json).unwrap());
        match refused {
            Some(why) => {
                for e in [decoded.unwrap_err(), from_tree.unwrap_err()] {
                    assert!(e.field.contains(why) || e.message.contains(why), "{e}");
                }
            }
            None => {
                assert_eq!(decoded.unwrap().kind(), kind);
                assert_eq!(from_tree.unwrap().kind(), kind);
            }
        }
    }
}
