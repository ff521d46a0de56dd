//! CloudNativePG's ImageCatalog: the PostgreSQL image per major version
//! (and, from 1.30, component images such as pgbouncer's) that a Cluster or
//! Pooler of the same namespace names by `imageCatalogRef`
//! (`api/v1/imagecatalog_types.go`, v1.28.4 and v1.30.0). The operator
//! watches catalogs and rolls every Cluster that uses one onto its new
//! image (`internal/controller/cluster_controller.go`, v1.30.0).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Class::Checked;
use super::{CNPG_GROUP, CUD, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::cnpg::ExtensionConfiguration;
use crate::model::decode::{DecodeError, declared_kind, typed};
use crate::rules::id::RuleId::ImageAllowed;

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::ImageCatalog,
    group: CNPG_GROUP,
    version: "v1",
    api_version: "postgresql.cnpg.io/v1",
    name: "ImageCatalog",
    plural: "imagecatalogs",
    namespaced: true,
    // DELETE: a Cluster whose catalog is gone stops reconciling (image-allowed).
    operations: CUD,
    reach: Reach::Everywhere,
    fields: &[
        // pgbouncer's image for a 1.30 Pooler's `pgbouncer.imageCatalogRef`.
        ("componentImages", Checked(ImageAllowed)),
        // Each major's PostgreSQL image and its extension images.
        ("images", Checked(ImageAllowed)),
    ],
    nested: &[],
    feeds: Feeds::Nothing,
    listed: Listed::Everywhere,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<ImageCatalog, DecodeError> {
    let catalog: ImageCatalog = typed(Kind::ImageCatalog, input, track)?;
    declared_kind(Kind::ImageCatalog, catalog.kind.as_deref())?;
    Ok(catalog)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageCatalog {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::model::lean_metadata")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ImageCatalogSpec,
}

/// `ImageCatalogSpec`, which ImageCatalog and ClusterImageCatalog share.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageCatalogSpec {
    #[serde(default)]
    pub images: Vec<CatalogImage>,
    #[serde(default)]
    pub component_images: Vec<ComponentImage>,
}

/// `spec.images[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogImage {
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub extensions: Vec<ExtensionConfiguration>,
}

/// `spec.componentImages[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ComponentImage {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub image: String,
}
