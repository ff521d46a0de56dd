//! One decoder per kind, behind three doors: a JSON tree (`check`,
//! `audit`, live facts), a JSON text, and in place in the request (the
//! webhook's one pass). Errors name the offending field.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::Value;

use super::{Kind, Object};

fn not_an_object(kind: Kind) -> DecodeError {
    DecodeError {
        kind,
        field: "(object)".into(),
        message: "is not a JSON object".into(),
    }
}

fn says_it_is(kind: Kind, declared: &str) -> DecodeError {
    DecodeError {
        kind,
        field: "kind".into(),
        message: format!("the object says it is a {declared}"),
    }
}

/// An error when an object says it is another kind or version than `kind`.
fn declared_as(kind: Kind, api_version: Option<&str>, declared: Option<&str>) -> Result<(), DecodeError> {
    match (api_version, declared) {
        (_, Some(k)) if k != kind.as_str() => Err(Declared::Kind(k.to_owned()).into_error(kind)),
        (Some(v), _) if v != kind.api_version() => Err(Declared::ApiVersion(v.to_owned()).into_error(kind)),
        _ => Ok(()),
    }
}

/// What an object says it is, when that is not what it was decoded as.
pub(crate) enum Declared {
    ApiVersion(String),
    Kind(String),
}

impl Declared {
    pub(crate) fn into_error(self, kind: Kind) -> DecodeError {
        match self {
            Declared::Kind(k) => says_it_is(kind, &k),
            Declared::ApiVersion(v) => DecodeError {
                kind,
                field: "apiVersion".into(),
                message: format!("the object says it is {v}, not {}", kind.api_version()),
            },
        }
    }
}

/// An error when a CloudNativePG object says it is another kind than it
/// was decoded as (their structs keep the `kind` they read, so the object
/// is read once).
pub(crate) fn declared_kind(kind: Kind, declared: Option<&str>) -> Result<(), DecodeError> {
    match declared {
        Some(declared) if declared != kind.as_str() => Err(says_it_is(kind, declared)),
        _ => Ok(()),
    }
}

/// Decodes one `T`; with `track`, the error names the field.
pub(crate) fn typed<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    kind: Kind,
    input: D,
    track: bool,
) -> Result<T, DecodeError> {
    let (field, message) = if track {
        match serde_path_to_error::deserialize(input) {
            Ok(t) => return Ok(t),
            Err(e) => (e.path().to_string(), e.into_inner().to_string()),
        }
    } else {
        match T::deserialize(input) {
            Ok(t) => return Ok(t),
            Err(e) => (".".to_owned(), e.to_string()),
        }
    };
    Err(DecodeError {
        kind,
        field: if field == "." { "(object)".to_owned() } else { field },
        // serde quotes offending values; a Secret's must never be shown.
        message: if kind == Kind::Secret && !message.starts_with("missing field") {
            "has an invalid value (not shown: Secret)".to_owned()
        } else {
            message
        },
    })
}

/// An object that does not decode as its declared kind.
#[derive(Debug, thiserror::Error)]
#[error("{kind} {field}: {message}")]
pub struct DecodeError {
    pub kind: Kind,
    pub field: String,
    pub message: String,
}

impl Object {
    /// Decodes a JSON tree as `kind` (`check`, `audit`, live facts), naming
    /// the offending field on failure.
    pub fn decode(kind: Kind, value: Value) -> Result<Object, DecodeError> {
        if !value.is_object() {
            return Err(not_an_object(kind));
        }
        let said = |field: &str| value.get(field).and_then(Value::as_str);
        declared_as(kind, said("apiVersion"), said("kind"))?;
        Object::decode_from(kind, value, true)
    }

    /// Decodes the JSON text of one object as `kind` (the webhook), with the
    /// same decoder as [`Object::decode`]. It runs without tracking the
    /// path; only an object that does not decode is read again, tracking
    /// it, to name the offending field.
    pub fn decode_json(kind: Kind, json: &str) -> Result<Object, DecodeError> {
        if !json.trim_start().starts_with('{') {
            return Err(not_an_object(kind));
        }
        let whole = |track: bool| {
            let mut input = serde_json::Deserializer::from_str(json);
            let object = Object::decode_from(kind, &mut input, track)?;
            input.end().map_err(|e| DecodeError {
                kind,
                field: "(object)".into(),
                message: e.to_string(),
            })?;
            Ok(object)
        };
        whole(false).or_else(|_| {
            // An object that says it is another kind is named as such before
            // the details of why it does not decode as this one.
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Head<'a> {
                #[serde(borrow, default)]
                api_version: Option<std::borrow::Cow<'a, str>>,
                #[serde(borrow, default)]
                kind: Option<std::borrow::Cow<'a, str>>,
            }
            if let Ok(head) = serde_json::from_str::<Head<'_>>(json) {
                declared_as(kind, head.api_version.as_deref(), head.kind.as_deref())?;
            }
            whole(true)
        })
    }

    /// Decodes one object as `kind` straight from the deserializer of the
    /// document that holds it (`null` is `None`), so the webhook reads a
    /// request's object in the same pass as the request. An object that
    /// does not decode is an error: the caller's cue to read the object's
    /// text again and explain it with [`Object::decode_json`].
    pub fn decode_in_place<'de, D: serde::Deserializer<'de>>(kind: Kind, input: D) -> Result<Option<Object>, D::Error> {
        struct InPlace(Kind);
        impl<'de> serde::de::Visitor<'de> for InPlace {
            type Value = Option<Object>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a {} {}", self.0.api_version(), self.0)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                Object::decode_from(self.0, d, false)
                    .map(Some)
                    .map_err(serde::de::Error::custom)
            }
        }
        input.deserialize_option(InPlace(kind))
    }

    /// The one decoder per kind (each kind's descriptor has it): the lean
    /// wire types (`managedFields` and kubectl's last-applied copy skipped
    /// unparsed, a Secret's `data` borrowed until base64-decoded), checked
    /// against the kind the object says it is. With `track`, an error names
    /// the field.
    fn decode_from<'de, D: serde::Deserializer<'de>>(kind: Kind, input: D, track: bool) -> Result<Object, DecodeError> {
        Object::decode_as(kind, input, track)
    }
}

/// kubectl's copy of the last applied object, kept in an annotation.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The identity, labels and annotations of an object's metadata: what the
/// rules and reports read. The rest (`managedFields` above all: server
/// bookkeeping, often the largest part of a Cluster) is skipped unparsed, and
/// so is the [`LAST_APPLIED`] annotation: a second, escaped copy of the
/// object that no rule reads (the decision record's patch redacts it from the
/// object's text).
pub(crate) fn lean_metadata<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Default, serde::Deserialize)]
    #[serde(default, rename_all = "camelCase")]
    struct Lean {
        name: Option<String>,
        generate_name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        labels: Option<BTreeMap<String, String>>,
        #[serde(deserialize_with = "annotations_but_last_applied")]
        annotations: Option<BTreeMap<String, String>>,
        owner_references: Option<Vec<OwnerReference>>,
    }
    let lean = <Option<Lean> as serde::Deserialize>::deserialize(d)?.unwrap_or_default();
    Ok(ObjectMeta {
        name: lean.name,
        generate_name: lean.generate_name,
        namespace: lean.namespace,
        uid: lean.uid,
        resource_version: lean.resource_version,
        labels: lean.labels,
        annotations: lean.annotations,
        owner_references: lean.owner_references,
        ..ObjectMeta::default()
    })
}

/// An object's annotations without [`LAST_APPLIED`], whose value is skipped
/// unparsed.
fn annotations_but_last_applied<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Annotations;
    impl<'de> serde::de::Visitor<'de> for Annotations {
        type Value = Option<BTreeMap<String, String>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of strings")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut annotations = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if key == LAST_APPLIED {
                    map.next_value::<serde::de::IgnoredAny>()?;
                } else {
                    let value: String = map.next_value()?;
                    annotations.insert(key, value);
                }
            }
            Ok(Some(annotations))
        }
    }
    d.deserialize_option(Annotations)
}
