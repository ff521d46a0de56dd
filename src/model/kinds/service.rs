//! Service, in the shared namespaces only: a Service can expose the
//! cluster's pods.

pub use k8s_openapi::api::core::v1::Service;

use super::{CU, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::decode::{DecodeError, typed};
use crate::model::lean::LeanService;

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::Service,
    group: "",
    version: "v1",
    api_version: "v1",
    name: "Service",
    plural: "services",
    namespaced: true,
    operations: CU,
    reach: Reach::SharedNamespaces,
    fields: &[],
    nested: &[],
    feeds: Feeds::Nothing,
    listed: Listed::SharedNamespaces,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<Service, DecodeError> {
    let wire: LeanService<'de> = typed(Kind::Service, input, track)?;
    wire.into_service().map_err(|d| d.into_error(Kind::Service))
}
