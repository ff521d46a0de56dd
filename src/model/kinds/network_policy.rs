//! NetworkPolicy: the shared namespaces' network posture.

pub use k8s_openapi::api::networking::v1::NetworkPolicy;

use super::{CUD, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::decode::{DecodeError, typed};
use crate::model::lean::LeanNetworkPolicy;

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::NetworkPolicy,
    group: "networking.k8s.io",
    version: "v1",
    api_version: "networking.k8s.io/v1",
    name: "NetworkPolicy",
    plural: "networkpolicies",
    namespaced: true,
    operations: CUD,
    reach: Reach::Everywhere,
    fields: &[],
    nested: &[],
    feeds: Feeds::Nothing,
    listed: Listed::SharedNamespaces,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<NetworkPolicy, DecodeError> {
    let wire: LeanNetworkPolicy<'de> = typed(Kind::NetworkPolicy, input, track)?;
    wire.into_network_policy().map_err(|d| d.into_error(Kind::NetworkPolicy))
}
