//! CloudNativePG's Pooler: pgbouncer in front of a cluster.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Class::{Checked, Harmless, PlatformOnly};
use super::{CNPG_GROUP, CU, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::cnpg::{ImageCatalogRef, LocalObjectReference, PodTemplate, ServiceTemplate};
use crate::model::print::{Print, Prints};
use crate::model::decode::{DecodeError, declared_kind, typed};
use crate::rules::id::RuleId::{
    AuthPosture, BootstrapSecretConfined, ClusterIdentity, DataRetained, ImageAllowed, NetworkPosture,
};

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::Pooler,
    group: CNPG_GROUP,
    version: "v1",
    api_version: "postgresql.cnpg.io/v1",
    name: "Pooler",
    plural: "poolers",
    namespaced: true,
    operations: CU,
    reach: Reach::Everywhere,
    fields: &[
        ("cluster", Checked(ClusterIdentity)),
        ("deploymentStrategy", Harmless),
        ("instances", Harmless),
        ("monitoring", Harmless),
        ("pgbouncer", Checked(AuthPosture)),
        ("pgbouncer.authQuery", PlatformOnly),
        ("pgbouncer.authQuerySecret", Checked(BootstrapSecretConfined)),
        ("pgbouncer.clientCASecret", PlatformOnly),
        ("pgbouncer.clientTLSSecret", PlatformOnly),
        // CloudNativePG 1.30 (not in the 1.28 CRD): pgbouncer's image, or
        // where in a catalog to find it.
        ("pgbouncer.image", Checked(ImageAllowed)),
        ("pgbouncer.imageCatalogRef", Checked(ImageAllowed)),
        ("pgbouncer.parameters", Harmless),
        ("pgbouncer.paused", Checked(DataRetained)),
        ("pgbouncer.pg_hba", Checked(AuthPosture)),
        ("pgbouncer.poolMode", Harmless),
        ("pgbouncer.serverCASecret", PlatformOnly),
        ("pgbouncer.serverTLSSecret", PlatformOnly),
        // 1.30: the operator binds the pooler's Secret-reading Role to it.
        ("serviceAccountName", Checked(BootstrapSecretConfined)),
        ("serviceTemplate", Checked(NetworkPosture)),
        // Also read by bootstrap-secret-confined (the Secrets it names) and
        // image-allowed (its containers' images); a field has one class.
        ("template", Checked(NetworkPosture)),
        ("type", Harmless),
    ],
    nested: &["pgbouncer"],
    feeds: Feeds::Nothing,
    listed: Listed::Everywhere,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<Pooler, DecodeError> {
    let pooler: Pooler = typed(Kind::Pooler, input, track)?;
    declared_kind(Kind::Pooler, pooler.kind.as_deref())?;
    Ok(pooler)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Pooler {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::model::lean_metadata")]
    pub metadata: ObjectMeta,
    pub spec: PoolerSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolerSpec {
    pub cluster: LocalObjectReference,
    #[serde(default)]
    pub pgbouncer: Option<PgBouncerSpec>,
    /// 1.30: the ServiceAccount the pgbouncer pods run as (default: the
    /// Pooler's name).
    #[serde(default)]
    pub service_account_name: Option<String>,
    #[serde(default)]
    pub service_template: Option<ServiceTemplate>,
    /// The pgbouncer pods' template (read only where it can reach the
    /// cluster's credentials or the node).
    #[serde(default)]
    pub template: Option<PodTemplate>,
}

/// `spec.pgbouncer`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PgBouncerSpec {
    #[serde(default, rename = "pg_hba")]
    pub pg_hba: Vec<String>,
    #[serde(default)]
    pub paused: Option<bool>,
    /// The Secret pgbouncer's auth query logs in with.
    #[serde(default)]
    pub auth_query_secret: Option<LocalObjectReference>,
    /// pgbouncer's image (CloudNativePG 1.30).
    #[serde(default)]
    pub image: Option<String>,
    /// pgbouncer's image from a catalog's `componentImages` (CloudNativePG 1.30).
    #[serde(default)]
    pub image_catalog_ref: Option<ImageCatalogRef>,
    /// The platform-only fields, printed (see [`Pooler::platform_only`]).
    #[serde(default)]
    pub auth_query: Option<Print>,
    #[serde(default, rename = "clientCASecret")]
    pub client_ca_secret: Option<Print>,
    #[serde(default, rename = "clientTLSSecret")]
    pub client_tls_secret: Option<Print>,
    #[serde(default, rename = "serverCASecret")]
    pub server_ca_secret: Option<Print>,
    #[serde(default, rename = "serverTLSSecret")]
    pub server_tls_secret: Option<Print>,
}

impl Pooler {
    /// Each platform-only field of the inventory with the print of its
    /// value (`None`: not set).
    pub fn platform_only(&self) -> Prints {
        let b = self.spec.pgbouncer.as_ref();
        vec![
            ("pgbouncer.authQuery", b.and_then(|b| b.auth_query)),
            ("pgbouncer.clientCASecret", b.and_then(|b| b.client_ca_secret)),
            ("pgbouncer.clientTLSSecret", b.and_then(|b| b.client_tls_secret)),
            ("pgbouncer.serverCASecret", b.and_then(|b| b.server_ca_secret)),
            ("pgbouncer.serverTLSSecret", b.and_then(|b| b.server_tls_secret)),
        ]
    }
}
