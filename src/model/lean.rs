//! Namespace and NetworkPolicy as the webhook reads them: field for field
//! like k8s-openapi's types, but with the lean metadata the rules read
//! ([`super::lean_metadata`]): `managedFields`, which k8s-openapi would build
//! into JSON trees and which is often the largest part of the object, is
//! skipped unparsed. `kind` and `apiVersion` are checked as k8s-openapi
//! checks them. Anything these do not take is decoded by k8s-openapi, which
//! also says what is wrong.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::IgnoredAny;

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
    /// The object's fields, or `None` when it says it is another kind or
    /// version (k8s-openapi accepts an object that states neither).
    fn checked(self, api_version: &str, kind: &str) -> Option<(ObjectMeta, Option<Spec>, Option<Status>)> {
        let is = self.api_version.is_none_or(|v| v == api_version) && self.kind.is_none_or(|k| k == kind);
        is.then_some((self.metadata, self.spec, self.status))
    }
}

/// A `v1` Namespace on the wire.
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct LeanNamespace<'a>(#[serde(borrow)] Wire<'a, NamespaceSpec, NamespaceStatus>);

impl LeanNamespace<'_> {
    /// The Namespace, or `None` when the object says it is something else.
    pub(crate) fn into_namespace(self) -> Option<Namespace> {
        let (metadata, spec, status) = self.0.checked("v1", "Namespace")?;
        Some(Namespace { metadata, spec, status })
    }
}

/// A `networking.k8s.io/v1` NetworkPolicy on the wire (it has no status).
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct LeanNetworkPolicy<'a>(#[serde(borrow)] Wire<'a, NetworkPolicySpec, IgnoredAny>);

impl LeanNetworkPolicy<'_> {
    /// The NetworkPolicy, or `None` when the object says it is something else.
    pub(crate) fn into_network_policy(self) -> Option<NetworkPolicy> {
        let (metadata, spec, _) = self.0.checked("networking.k8s.io/v1", "NetworkPolicy")?;
        Some(NetworkPolicy { metadata, spec })
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
    /// k8s-openapi's error says what was expected (or names the field that
    /// does not decode); one that states neither is taken.
    #[rstest::rstest]
    #[case::namespace_kind(
        Kind::Namespace,
        r#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#,
        Some("expected Namespace")
    )]
    #[case::namespace_version(
        Kind::Namespace,
        r#"{"apiVersion":"v2","metadata":{"name":"a"}}"#,
        Some("expected v1")
    )]
    #[case::namespace_bare(Kind::Namespace, r#"{"metadata":{"name":"a"}}"#, None)]
    #[case::policy_kind(
        Kind::NetworkPolicy,
        r#"{"kind":"Namespace","metadata":{"name":"a"}}"#,
        Some("expected NetworkPolicy")
    )]
    #[case::policy_version(
        Kind::NetworkPolicy,
        r#"{"apiVersion":"v1","kind":"NetworkPolicy","spec":{}}"#,
        Some("expected networking.k8s.io/v1")
    )]
    #[case::policy_bad_spec(Kind::NetworkPolicy, r#"{"spec":{"podSelector":7}}"#, Some("spec.podSelector"))]
    #[case::policy_bare(Kind::NetworkPolicy, r#"{"spec":{"podSelector":{}}}"#, None)]
    fn another_kind_is_refused(#[case] kind: Kind, #[case] json: &str, #[case] refused: Option<&str>) {
        let decoded = Object::decode_json(kind, json);
        let mut input = serde_json::Deserializer::from_str(json);
        let in_place = Object::decode_in_place(kind, &mut input);
        match refused {
            Some(why) => {
                let e = decoded.unwrap_err();
                assert!(e.field.contains(why) || e.message.contains(why), "{e}");
                assert!(in_place.is_err());
            }
            None => {
                assert_eq!(decoded.unwrap().kind(), kind);
                assert_eq!(in_place.unwrap().unwrap().kind(), kind);
            }
        }
    }
}
