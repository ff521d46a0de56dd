//! CloudNativePG's ClusterImageCatalog: an ImageCatalog every namespace's
//! Clusters (and 1.30 Poolers) may name, so cluster-scoped
//! (`api/v1/clusterimagecatalog_types.go`, v1.28.4 and v1.30.0).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Class::Checked;
use super::image_catalog::ImageCatalogSpec;
use super::{CNPG_GROUP, CUD, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::decode::{DecodeError, declared_kind, typed};
use crate::rules::id::RuleId::ImageAllowed;

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::ClusterImageCatalog,
    group: CNPG_GROUP,
    version: "v1",
    api_version: "postgresql.cnpg.io/v1",
    name: "ClusterImageCatalog",
    plural: "clusterimagecatalogs",
    namespaced: false,
    // DELETE: a Cluster whose catalog is gone stops reconciling (image-allowed).
    operations: CUD,
    reach: Reach::Everywhere,
    fields: &[
        ("componentImages", Checked(ImageAllowed)),
        ("images", Checked(ImageAllowed)),
    ],
    nested: &[],
    feeds: Feeds::Nothing,
    listed: Listed::Everywhere,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(
    input: D,
    track: bool,
) -> Result<ClusterImageCatalog, DecodeError> {
    let catalog: ClusterImageCatalog = typed(Kind::ClusterImageCatalog, input, track)?;
    declared_kind(Kind::ClusterImageCatalog, catalog.kind.as_deref())?;
    Ok(catalog)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClusterImageCatalog {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::model::lean_metadata")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ImageCatalogSpec,
}
