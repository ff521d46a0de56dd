//! Secret: the bootstrap credential and the consumers' role passwords.
//! Values are read through `model::secret` and never shown.

pub use k8s_openapi::api::core::v1::Secret;

use super::{CU, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::decode::{DecodeError, typed};
use crate::model::secret::{Wire, WireError};

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::Secret,
    group: "",
    version: "v1",
    api_version: "v1",
    name: "Secret",
    plural: "secrets",
    namespaced: true,
    operations: CU,
    reach: Reach::Everywhere,
    fields: &[],
    nested: &[],
    // The bootstrap password's fingerprint.
    feeds: Feeds::BootstrapSecrets,
    listed: Listed::BootstrapSecrets,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<Secret, DecodeError> {
    let wire: Wire<'de> = typed(Kind::Secret, input, track)?;
    wire.into_secret().map_err(|e| match e {
        WireError::Declared(d) => d.into_error(Kind::Secret),
        WireError::Base64(key) => DecodeError {
            kind: Kind::Secret,
            field: format!("data.{key}"),
            message: "is not valid base64 (value not shown: Secret)".into(),
        },
    })
}
