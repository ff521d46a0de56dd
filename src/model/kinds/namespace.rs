//! Namespace: a shared cluster's namespace, and the consumers' namespaces
//! that carry the client label.

pub use k8s_openapi::api::core::v1::Namespace;

use super::{CUD, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::decode::{DecodeError, typed};
use crate::model::lean::LeanNamespace;

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::Namespace,
    group: "",
    version: "v1",
    api_version: "v1",
    name: "Namespace",
    plural: "namespaces",
    namespaced: false,
    operations: CUD,
    reach: Reach::Everywhere,
    fields: &[],
    nested: &[],
    feeds: Feeds::Nothing,
    listed: Listed::Everywhere,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<Namespace, DecodeError> {
    let wire: LeanNamespace<'de> = typed(Kind::Namespace, input, track)?;
    wire.into_namespace().map_err(|d| d.into_error(Kind::Namespace))
}
