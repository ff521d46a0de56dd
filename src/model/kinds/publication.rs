//! CloudNativePG's Publication: `CREATE PUBLICATION` in one database of a
//! cluster, run by the operator as superuser
//! (`internal/management/controller/publication_controller_sql.go`, v1.28.4).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Class::{Checked, Harmless};
use super::{CNPG_GROUP, CUD, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::cnpg::LocalObjectReference;
use crate::model::decode::{DecodeError, declared_kind, typed};
use crate::rules::id::RuleId::{ClusterIdentity, DataRetained, TenantIsolated};

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::Publication,
    group: CNPG_GROUP,
    version: "v1",
    api_version: "postgresql.cnpg.io/v1",
    name: "Publication",
    plural: "publications",
    namespaced: true,
    operations: CUD,
    reach: Reach::Everywhere,
    fields: &[
        ("cluster", Checked(ClusterIdentity)),
        ("dbname", Checked(TenantIsolated)),
        ("name", Harmless),
        ("parameters", Harmless),
        ("publicationReclaimPolicy", Checked(DataRetained)),
        // What it publishes, within its own database (dbname is checked).
        ("target", Harmless),
    ],
    nested: &[],
    feeds: Feeds::Nothing,
    listed: Listed::Everywhere,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<Publication, DecodeError> {
    let publication: Publication = typed(Kind::Publication, input, track)?;
    declared_kind(Kind::Publication, publication.kind.as_deref())?;
    Ok(publication)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Publication {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::model::lean_metadata")]
    pub metadata: ObjectMeta,
    pub spec: PublicationSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicationSpec {
    pub cluster: LocalObjectReference,
    /// The database the publication is created in.
    pub dbname: String,
    #[serde(default)]
    pub publication_reclaim_policy: Option<String>,
}
