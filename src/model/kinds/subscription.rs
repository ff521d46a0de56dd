//! CloudNativePG's Subscription: `CREATE SUBSCRIPTION` in one database of
//! a cluster, from an external cluster the Cluster declares, run by the
//! operator as superuser
//! (`internal/management/controller/subscription_controller_sql.go`, v1.28.4).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Class::{Checked, Harmless, PlatformOnly};
use super::{CNPG_GROUP, CUD, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::cnpg::LocalObjectReference;
use crate::model::print::{Print, Prints};
use crate::model::decode::{DecodeError, declared_kind, typed};
use crate::rules::id::RuleId::{ClusterIdentity, DataRetained, TenantIsolated};

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::Subscription,
    group: CNPG_GROUP,
    version: "v1",
    api_version: "postgresql.cnpg.io/v1",
    name: "Subscription",
    plural: "subscriptions",
    namespaced: true,
    operations: CUD,
    reach: Reach::Everywhere,
    fields: &[
        ("cluster", Checked(ClusterIdentity)),
        ("dbname", Checked(TenantIsolated)),
        // Must be one the Cluster declares (CloudNativePG refuses others);
        // the Cluster's externalClusters are the platform's.
        ("externalClusterName", PlatformOnly),
        ("name", Harmless),
        ("parameters", Harmless),
        ("publicationDBName", Harmless),
        ("publicationName", Harmless),
        ("subscriptionReclaimPolicy", Checked(DataRetained)),
    ],
    nested: &[],
    feeds: Feeds::Nothing,
    listed: Listed::Everywhere,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<Subscription, DecodeError> {
    let subscription: Subscription = typed(Kind::Subscription, input, track)?;
    declared_kind(Kind::Subscription, subscription.kind.as_deref())?;
    Ok(subscription)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Subscription {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::model::lean_metadata")]
    pub metadata: ObjectMeta,
    pub spec: SubscriptionSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionSpec {
    pub cluster: LocalObjectReference,
    /// The database the subscription is created in.
    pub dbname: String,
    #[serde(default)]
    pub subscription_reclaim_policy: Option<String>,
    #[serde(default)]
    pub external_cluster_name: Option<String>,
}

impl Subscription {
    /// Each platform-only field of the inventory with the print of its
    /// value (`None`: not set).
    pub fn platform_only(&self) -> Prints {
        vec![("externalClusterName", self.spec.external_cluster_name.as_ref().map(Print::of))]
    }
}
