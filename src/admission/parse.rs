//! AdmissionReview bytes to a [`Review`]: the webhook's door into the
//! pipeline. Uses kube-core's admission types; judges nothing itself.

use std::borrow::Cow;
use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::admission::{AdmissionRequest, Operation as AdmissionOp};
use kube::core::{ApiResource, DynamicResourceScope, GroupVersionKind, Resource, TypeMeta};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{Kind, Object, Operation, Review, UpdateTexts, User};

const API_VERSION: &str = "admission.k8s.io/v1";

/// Why a body is not a review we can judge (HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum BadReview {
    #[error("the body is not a JSON AdmissionReview: {0}")]
    NotJson(String),
    #[error("apiVersion must be {API_VERSION}, found {0:?}")]
    ApiVersion(String),
    #[error("kind must be AdmissionReview, found {0:?}")]
    Kind(String),
    #[error("the AdmissionReview has no request")]
    NoRequest,
    #[error("request.uid is missing or empty")]
    NoUid,
    #[error("request.object is required for {0}")]
    NoObject(&'static str),
    #[error("request.oldObject is required for {0}")]
    NoOldObject(&'static str),
    #[error("request.{which} does not match request.kind: {source}")]
    Mismatch {
        which: &'static str,
        #[source]
        source: crate::model::DecodeError,
    },
}

/// An object of the request, kept as its JSON text (borrowed from the body)
/// until `request.kind` says what to decode it as. So the body is parsed
/// once, straight into the typed model: no JSON tree, no copy of a 1 MiB
/// Secret. A [`Resource`] like kube-core's `DynamicObject`; its metadata is
/// read from the text on first use.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct RawObject<'a> {
    #[serde(borrow)]
    json: &'a RawValue,
    #[serde(skip)]
    metadata: OnceLock<ObjectMeta>,
}

impl<'a> RawObject<'a> {
    /// The object's JSON text, as the API server sent it.
    pub fn json(&self) -> &'a str {
        self.json.get()
    }

    fn read_metadata(&self) -> ObjectMeta {
        #[derive(Deserialize)]
        struct Meta {
            #[serde(default)]
            metadata: ObjectMeta,
        }
        serde_json::from_str::<Meta>(self.json())
            .map(|m| m.metadata)
            .unwrap_or_default()
    }
}

impl Resource for RawObject<'_> {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }
    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }
    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }
    fn meta(&self) -> &ObjectMeta {
        self.metadata.get_or_init(|| self.read_metadata())
    }
    /// A parsed copy: changing it does not change the JSON text.
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        if self.metadata.get().is_none() {
            let meta = self.read_metadata();
            let _ = self.metadata.set(meta);
        }
        match self.metadata.get_mut() {
            Some(meta) => meta,
            None => unreachable!("metadata was set just above"),
        }
    }
}

/// The request as kube-apiserver sends it.
pub type Request<'a> = AdmissionRequest<RawObject<'a>>;

/// A request parsed far enough to answer it. Borrows the body.
pub enum Parsed<'a> {
    /// A covered kind: judge it. For UPDATE, where the old and new objects'
    /// JSON texts are (for the decision record's patch).
    Covered(Box<Request<'a>>, Box<Review>, Option<UpdateTexts<'a>>),
    /// A kind or operation the contract does not cover: allow untouched.
    NotCovered(Box<Request<'a>>),
}

/// The AdmissionReview envelope. kube-core's `AdmissionReview` flattens its
/// type fields into the review, which makes serde buffer the whole body
/// (objects included) into an intermediate tree first; reading the two
/// fields beside the request avoids that. `R` is the request: kube-core's
/// [`Request`], or [`OnePass`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "R: Deserialize<'de>"))]
struct Envelope<R> {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    request: Option<R>,
}

/// The order in which kube-apiserver writes an AdmissionRequest's fields
/// (`k8s.io/api/admission/v1`): `kind` and `operation` before the objects.
pub const APISERVER_FIELD_ORDER: [&str; 15] = [
    "uid",
    "kind",
    "resource",
    "subResource",
    "requestKind",
    "requestResource",
    "requestSubResource",
    "name",
    "namespace",
    "operation",
    "userInfo",
    "object",
    "oldObject",
    "dryRun",
    "options",
];

/// A request whose objects are typed in the same pass as the request where
/// kube-apiserver's field order allows: it sends `kind` and `operation`
/// before `object` and `oldObject`. An object is kept as text instead when
/// its kind or the operation is not known yet (see
/// [`APISERVER_FIELD_ORDER`]). An UPDATE's patch then finds the two
/// objects' texts in the body ([`UpdateTexts::InReview`]). Anything this pass
/// does not take (a malformed request, an object that does not decode or
/// says it is another kind) makes [`parse`] read the body again with
/// kube-core's [`Request`] and explain it. This pass is the one piece of
/// the parse kept for its cost: reading the objects as text first and
/// decoding them after scans every object twice (measured:
/// docs/benchmarks-history.md, "The restructuring round").
struct OnePass<'a> {
    request: Request<'a>,
    object: Option<Object>,
    old_object: Option<Object>,
}

impl<'de> Deserialize<'de> for OnePass<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        input.deserialize_map(OnePassVisitor)
    }
}

struct OnePassVisitor;

/// Decodes an object as the request's kind, in place.
struct InPlace(Kind);

impl<'de> serde::de::DeserializeSeed<'de> for InPlace {
    type Value = Option<Object>;
    fn deserialize<D: serde::Deserializer<'de>>(self, input: D) -> Result<Self::Value, D::Error> {
        Object::decode_in_place(self.0, input)
    }
}

impl<'de> serde::de::Visitor<'de> for OnePassVisitor {
    type Value = OnePass<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an AdmissionRequest")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;

        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "camelCase")]
        enum Field {
            Uid,
            Kind,
            Resource,
            SubResource,
            RequestKind,
            RequestResource,
            RequestSubResource,
            Name,
            Namespace,
            Operation,
            UserInfo,
            Object,
            OldObject,
            DryRun,
            Options,
            #[serde(other)]
            Other,
        }
        /// Reads a field once; a repeated field is an error, as in the
        /// derived decoder.
        fn once<'de, A: serde::de::MapAccess<'de>, T: Deserialize<'de>>(
            map: &mut A,
            slot: &mut Option<T>,
            name: &'static str,
        ) -> Result<(), A::Error> {
            if slot.is_some() {
                return Err(A::Error::duplicate_field(name));
            }
            *slot = Some(map.next_value()?);
            Ok(())
        }

        let (mut uid, mut kind, mut resource, mut sub_resource) = (None, None, None, None);
        let (mut request_kind, mut request_resource, mut request_sub_resource) = (None, None, None);
        let (mut name, mut namespace, mut operation, mut user_info) = (None, None, None, None);
        let (mut dry_run, mut options) = (None, None);
        // Each object: its text, or the typed object (`Some(None)`: null).
        let (mut new_raw, mut old_raw): (Option<Option<RawObject<'de>>>, _) = (None, None);
        let (mut new_typed, mut old_typed): (Option<Option<Object>>, _) = (None, None);
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Uid => once(&mut map, &mut uid, "uid")?,
                Field::Kind => once(&mut map, &mut kind, "kind")?,
                Field::Resource => once(&mut map, &mut resource, "resource")?,
                Field::SubResource => once(&mut map, &mut sub_resource, "subResource")?,
                Field::RequestKind => once(&mut map, &mut request_kind, "requestKind")?,
                Field::RequestResource => once(&mut map, &mut request_resource, "requestResource")?,
                Field::RequestSubResource => once(&mut map, &mut request_sub_resource, "requestSubResource")?,
                Field::Name => once(&mut map, &mut name, "name")?,
                Field::Namespace => once(&mut map, &mut namespace, "namespace")?,
                Field::Operation => once(&mut map, &mut operation, "operation")?,
                Field::UserInfo => once(&mut map, &mut user_info, "userInfo")?,
                Field::DryRun => once(&mut map, &mut dry_run, "dryRun")?,
                Field::Options => once(&mut map, &mut options, "options")?,
                Field::Object | Field::OldObject => {
                    let (raw, typed, name) = match field {
                        Field::Object => (&mut new_raw, &mut new_typed, "object"),
                        _ => (&mut old_raw, &mut old_typed, "oldObject"),
                    };
                    if raw.is_some() || typed.is_some() {
                        return Err(A::Error::duplicate_field(name));
                    }
                    match in_place_kind(kind.as_ref(), operation.as_ref()) {
                        Some(k) => *typed = Some(map.next_value_seed(InPlace(k))?),
                        None => *raw = Some(map.next_value()?),
                    }
                }
                Field::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        let request = AdmissionRequest {
            types: TypeMeta::default(),
            uid: uid.ok_or_else(|| A::Error::missing_field("uid"))?,
            kind: kind.ok_or_else(|| A::Error::missing_field("kind"))?,
            resource: resource.ok_or_else(|| A::Error::missing_field("resource"))?,
            sub_resource: sub_resource.flatten(),
            request_kind: request_kind.flatten(),
            request_resource: request_resource.flatten(),
            request_sub_resource: request_sub_resource.flatten(),
            name: name.unwrap_or_default(),
            namespace: namespace.flatten(),
            operation: operation.ok_or_else(|| A::Error::missing_field("operation"))?,
            user_info: user_info.ok_or_else(|| A::Error::missing_field("userInfo"))?,
            object: new_raw.flatten(),
            old_object: old_raw.flatten(),
            dry_run: dry_run.unwrap_or_default(),
            options: options.flatten(),
        };
        Ok(OnePass {
            request,
            object: new_typed.flatten(),
            old_object: old_typed.flatten(),
        })
    }
}

/// The kind to decode an object as in place, when the fields read so far
/// allow it (see [`OnePass`]).
fn in_place_kind(kind: Option<&GroupVersionKind>, operation: Option<&AdmissionOp>) -> Option<Kind> {
    let kind = kind.filter(|k| k.version == "v1")?;
    let covered = Kind::from_group_kind(&kind.group, &kind.kind)?;
    (!matches!(operation?, AdmissionOp::Connect)).then_some(covered)
}

/// Parses a request body into a [`Review`]: in one pass where it can
/// ([`OnePass`]); otherwise through kube-core's request, which also
/// explains a body that is not a valid review.
pub fn parse(body: &[u8]) -> Result<Parsed<'_>, BadReview> {
    // The body is checked as UTF-8 once, 32 bytes at a time (simdutf8), and
    // read as text: serde_json then checks none of its strings again. A
    // body that is not UTF-8 goes the slow way, which names the byte.
    let one_pass = simdutf8::basic::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str::<Envelope<OnePass<'_>>>(text).ok());
    if let Some(envelope) = one_pass {
        let request = envelope.request.map(|one| {
            let typed = [one.object, one.old_object];
            (one.request, typed)
        });
        return covered(envelope.api_version, envelope.kind, request, body);
    }
    parse_slow(body)
}

/// Parses a request body through kube-core's request, the objects decoded
/// from their texts afterwards.
fn parse_slow(body: &[u8]) -> Result<Parsed<'_>, BadReview> {
    let envelope: Envelope<Request<'_>> = serde_json::from_slice(body).map_err(|e| explain(body, e))?;
    let request = envelope.request.map(|r| (r, [None, None]));
    covered(envelope.api_version, envelope.kind, request, body)
}

/// Checks the envelope and the request and decodes the objects still held
/// as text. `typed` holds the new and old objects [`OnePass`] decoded in
/// `body`.
fn covered<'a>(
    api_version: String,
    kind: String,
    request: Option<(Request<'a>, [Option<Object>; 2])>,
    body: &'a [u8],
) -> Result<Parsed<'a>, BadReview> {
    if api_version != API_VERSION {
        return Err(BadReview::ApiVersion(api_version));
    }
    if kind != "AdmissionReview" {
        return Err(BadReview::Kind(kind));
    }
    let (mut req, [typed_new, typed_old]) = request.ok_or(BadReview::NoRequest)?;
    req.types = TypeMeta { api_version, kind };
    if req.uid.is_empty() {
        return Err(BadReview::NoUid);
    }
    let operation = match req.operation {
        AdmissionOp::Create => Operation::Create,
        AdmissionOp::Update => Operation::Update,
        AdmissionOp::Delete => Operation::Delete,
        AdmissionOp::Connect => return Ok(Parsed::NotCovered(Box::new(req))),
    };
    let Some(kind) = Kind::from_group_kind(&req.kind.group, &req.kind.kind).filter(|_| req.kind.version == "v1") else {
        return Ok(Parsed::NotCovered(Box::new(req)));
    };
    if req.sub_resource.is_some() {
        return Ok(Parsed::NotCovered(Box::new(req)));
    }
    let new_json = req.object.take().map(|o| o.json());
    let old_json = req.old_object.take().map(|o| o.json());
    let decode = |which: &'static str, json: Option<&str>| -> Result<Option<Object>, BadReview> {
        json.map(|j| Object::decode_json(kind, j).map_err(|source| BadReview::Mismatch { which, source }))
            .transpose()
    };
    let object = match typed_new {
        Some(object) => Some(object),
        None => decode("object", new_json)?,
    };
    let old_object = match typed_old {
        Some(object) => Some(object),
        None => decode("oldObject", old_json)?,
    };
    match operation {
        Operation::Create if object.is_none() => return Err(BadReview::NoObject("CREATE")),
        Operation::Update if object.is_none() => return Err(BadReview::NoObject("UPDATE")),
        Operation::Update if old_object.is_none() => return Err(BadReview::NoOldObject("UPDATE")),
        Operation::Delete if old_object.is_none() => return Err(BadReview::NoOldObject("DELETE")),
        _ => {}
    }
    let patch_sources = match (operation, old_json, new_json) {
        (Operation::Update, Some(old), Some(new)) => Some(UpdateTexts::Texts { old, new }),
        // Typed in the one pass: the patch finds them in the body.
        (Operation::Update, _, _) => Some(UpdateTexts::InReview(body)),
        _ => None,
    };
    let namespace = if kind.is_namespaced() {
        req.namespace.take().unwrap_or_default()
    } else {
        String::new()
    };
    // A collection delete sends one review per object with no
    // `request.name`: the name is then only in the stored object.
    let name = match std::mem::take(&mut req.name) {
        name if !name.is_empty() => name,
        _ => [old_object.as_ref(), object.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|o| o.metadata().name.clone().filter(|n| !n.is_empty()))
            .unwrap_or_default(),
    };
    let review = Review {
        operation,
        kind,
        namespace,
        name,
        object,
        old_object,
        user: User {
            username: req.user_info.username.take().unwrap_or_default(),
            groups: req.user_info.groups.take().unwrap_or_default(),
        },
        dry_run: req.dry_run,
        stored: false,
    };
    Ok(Parsed::Covered(Box::new(req), Box::new(review), patch_sources))
}

/// Says why a body did not decode: a wrong apiVersion or kind is named as
/// such, before the details of the request.
fn explain(body: &[u8], error: serde_json::Error) -> BadReview {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Head {
        api_version: Option<String>,
        kind: Option<String>,
    }
    match serde_json::from_slice::<Head>(body) {
        Ok(Head {
            api_version: Some(v), ..
        }) if v != API_VERSION => BadReview::ApiVersion(v),
        Ok(Head { kind: Some(k), .. }) if k != "AdmissionReview" => BadReview::Kind(k),
        _ => BadReview::NotJson(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn fixtures() -> Vec<(String, Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reviews");
        let mut all: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    serde_json::from_str(&text).unwrap(),
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn fixture(name: &str) -> Value {
        fixtures()
            .into_iter()
            .find_map(|(n, review)| (n == name).then_some(review))
            .unwrap()
    }

    /// Everything the handler reads from a parse.
    fn outcome(parsed: Result<Parsed<'_>, BadReview>) -> String {
        match parsed {
            Ok(Parsed::Covered(req, review, sources)) => {
                // The patch itself: the one pass finds the objects in the
                // body, the other path has their texts.
                let patch = sources.map(|s| {
                    match s {
                        UpdateTexts::Texts { old, new } => crate::json_diff::diff(old, new),
                        UpdateTexts::InReview(body) => crate::json_diff::diff_in_review(body),
                    }
                    .map_err(|e| e.to_string())
                });
                format!(
                    "review {} {:?} {:?} {:?} {review:?} {patch:?}",
                    req.uid, req.types, req.kind, req.resource
                )
            }
            Ok(Parsed::NotCovered(req)) => format!("not covered {} {:?} {:?}", req.uid, req.kind, req.operation),
            Err(e) => format!("error {e}"),
        }
    }

    /// The body with the request's fields in `order` (missing ones left
    /// out, unknown ones appended).
    fn with_order(review: &Value, order: &[&str]) -> Vec<u8> {
        let request = review["request"].as_object().unwrap();
        let fields: Vec<String> = order
            .iter()
            .filter_map(|k| request.get(*k).map(|v| format!("{}:{v}", Value::from(*k))))
            .collect();
        format!(
            r#"{{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{{{}}}}}"#,
            fields.join(",")
        )
        .into_bytes()
    }

    /// kube-apiserver's order, and a field it does not send.
    fn apiserver_order() -> Vec<&'static str> {
        APISERVER_FIELD_ORDER.into_iter().chain(["extra"]).collect()
    }

    /// Changes that take a body off the one-pass path, or make it invalid.
    fn mutate(review: &mut Value, which: usize) {
        let r = &mut review["request"];
        match which {
            1 => r["object"] = Value::Null,
            2 => r["oldObject"] = r["object"].clone(),
            3 => r["operation"] = json!("DELETE"),
            4 => r["operation"] = json!("UPDATE"),
            5 => r["object"]["kind"] = json!("ConfigMap"),
            6 => r["object"]["data"] = json!({"k": "not base64!"}),
            7 => r["object"]["metadata"] = json!("a string"),
            8 => r["object"] = json!([1, 2]),
            9 => r["kind"]["version"] = json!("v2"),
            10 => r["subResource"] = json!("status"),
            11 => r["uid"] = json!(""),
            12 => {
                r.as_object_mut().unwrap().remove("userInfo");
            }
            13 => r["operation"] = json!("CONNECT"),
            14 => r["extra"] = json!({"unknown": [1, {"a": null}]}),
            15 => r["object"]["stringData"] = json!({"k": "v"}),
            16 => r["dryRun"] = json!("yes"),
            _ => {}
        }
    }

    /// kube-apiserver's field order takes the one pass, and the objects it
    /// can type are typed in it.
    /// A collection delete (`DELETE .../networkpolicies?fieldSelector=...`):
    /// kube-apiserver sends one review per object with no `request.name`;
    /// the name is only in `oldObject`. Both parse paths find it there, and
    /// the protection holds.
    #[test]
    fn a_collection_delete_is_named_by_its_stored_object() {
        use crate::contract::Contract;
        use crate::decision::decide;
        use crate::facts::NoFacts;
        let contract = Contract::embedded().unwrap();
        for (fixture_name, name, rule) in [
            (
                "networkpolicy-delete-denied.json",
                "default-deny-all",
                "network-posture",
            ),
            ("cluster-delete-denied.json", "apps-pg", "cluster-identity"),
            ("namespace-delete-databases.json", "databases", "cluster-identity"),
        ] {
            let mut review = fixture(fixture_name);
            review["request"].as_object_mut().unwrap().remove("name");
            let body = serde_json::to_vec(&review).unwrap();
            for parsed in [parse(&body), parse_slow(&body)] {
                let Ok(Parsed::Covered(_, review, _)) = parsed else {
                    panic!("{fixture_name}: not a review")
                };
                assert_eq!(review.name, name, "{fixture_name}");
                let d = decide(&review, &contract, &NoFacts);
                assert!(!d.allowed, "{fixture_name}");
                assert!(d.message().contains(&format!("[{rule}] ")), "{}", d.message());
            }
        }
    }

    #[test]
    fn apiserver_order_takes_the_one_pass() {
        for (name, review) in fixtures() {
            let body = with_order(&review, &apiserver_order());
            if name == "mismatch-kind.json" {
                // The object is not the kind the request names: the fallback explains it.
                assert!(serde_json::from_slice::<Envelope<OnePass<'_>>>(&body).is_err());
                continue;
            }
            let envelope: Envelope<OnePass<'_>> =
                serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            let one = envelope.request.unwrap();
            let op = review["request"]["operation"].as_str().unwrap();
            let kind = review["request"]["kind"]["kind"].as_str().unwrap();
            let covered = matches!(
                kind,
                "Secret" | "Namespace" | "NetworkPolicy" | "Cluster" | "Database" | "Pooler"
            );
            let in_place = covered && op != "CONNECT";
            let has = |k: &str| !review["request"][k].is_null();
            assert_eq!(one.object.is_some(), in_place && has("object"), "{name}");
            assert_eq!(one.request.object.is_some(), !in_place && has("object"), "{name}");
            assert_eq!(one.old_object.is_some(), in_place && has("oldObject"), "{name}");
            assert_eq!(
                one.request.old_object.is_some(),
                !in_place && has("oldObject"),
                "{name}"
            );
        }
    }

    #[test]
    fn one_pass_and_the_kube_core_path_agree_on_every_fixture() {
        for (name, review) in fixtures() {
            let body = serde_json::to_vec(&review).unwrap();
            assert_eq!(outcome(parse(&body)), outcome(parse_slow(&body)), "{name}");
            let expected = match name.as_str() {
                "configmap-create.json" => "not covered",
                "mismatch-kind.json" => "error request.object does not match request.kind",
                _ => "review",
            };
            assert!(outcome(parse(&body)).starts_with(expected), "{name}");
        }
    }

    /// A CloudNativePG object that says it is another kind is refused with
    /// the same message whichever path reads it.
    #[test]
    fn a_cnpg_object_of_another_kind_is_refused_on_both_paths() {
        for (name, other) in [
            ("database-create-allowed.json", "Cluster"),
            ("cluster-delete-denied.json", "Pooler"),
        ] {
            let mut review = fixture(name);
            let which = if review["request"]["object"].is_null() {
                "oldObject"
            } else {
                "object"
            };
            review["request"][which]["kind"] = json!(other);
            let body = with_order(&review, &apiserver_order());
            let expected = format!("error request.{which} does not match request.kind");
            for got in [outcome(parse(&body)), outcome(parse_slow(&body))] {
                assert!(got.starts_with(&expected), "{name}: {got}");
                assert!(
                    got.ends_with(&format!("kind: the object says it is a {other}")),
                    "{name}: {got}"
                );
            }
        }
    }

    #[test]
    fn a_repeated_object_is_refused_as_before() {
        let review = fixture("secret-create-allowed.json");
        let body = String::from_utf8(with_order(&review, &apiserver_order())).unwrap();
        let object = review["request"]["object"].to_string();
        let twice = body.replacen(r#""dryRun""#, &format!(r#""object":{object},"dryRun""#), 1);
        let parsed = outcome(parse(twice.as_bytes()));
        assert!(parsed.contains("duplicate field `object`"), "{parsed}");
        assert_eq!(parsed, outcome(parse_slow(twice.as_bytes())));
    }

    /// A small body is checked as UTF-8 once, before the one pass, a large
    /// one read from bytes: text that is not ASCII reads as before, and a
    /// byte that is not UTF-8 is refused by the fallback, which names where
    /// it is.
    #[test]
    fn a_body_is_read_as_utf8_text() {
        let review = fixture("secret-create-allowed.json");
        let body = with_order(&review, &apiserver_order());
        let user = |name: &[u8]| {
            let at = body.windows(7).position(|w| w == b"\"alice\"").unwrap();
            [&body[..at + 1], name, &body[at + 6..]].concat()
        };
        let accented = user("al\u{ee}ce".as_bytes());
        let got = outcome(parse(&accented));
        assert!(got.contains("username: \"al\u{ee}ce\""), "{got}");
        assert_eq!(got, outcome(parse_slow(&accented)));
        let broken = user(b"al\xffce");
        let got = outcome(parse(&broken));
        assert!(
            got.starts_with("error the body is not a JSON AdmissionReview: invalid unicode code point"),
            "{got}"
        );
        assert_eq!(got, outcome(parse_slow(&broken)));
        // A body over the whole-body check's size is read from bytes: the
        // same outcomes.
        let padding = format!(r#""padding":"{}","#, "x".repeat(64 * 1024));
        for (body, good) in [(accented, true), (broken, false)] {
            let request = br#""request":{"#;
            let at = body.windows(request.len()).position(|w| w == request).unwrap() + request.len();
            let large = [&body[..at], padding.as_bytes(), &body[at..]].concat();
            assert!(large.len() > 64 * 1024);
            let got = outcome(parse(&large));
            assert_eq!(got.starts_with("review"), good, "{got}");
            assert_eq!(got, outcome(parse_slow(&large)));
        }
    }

    proptest! {
        // Shrunk failures are kept with the others in tests/regressions/.
        #![proptest_config(proptest::test_runner::Config {
            failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
                "tests/regressions/admission_parse.txt",
            ))),
            ..proptest::test_runner::Config::default()
        })]
        /// Whatever the field order and whatever is wrong with the request,
        /// the one pass (with its fallback) reads a body exactly as
        /// kube-core's request does.
        #[test]
        fn one_pass_agrees_with_the_kube_core_path(
            pick in 0usize..64,
            order in Just(apiserver_order()).prop_shuffle(),
            keep_order in any::<bool>(),
            mutation in 0usize..20,
        ) {
            let all = fixtures();
            let (name, mut review) = all[pick % all.len()].clone();
            mutate(&mut review, mutation);
            let order = if keep_order { apiserver_order() } else { order };
            let body = with_order(&review, &order);
            prop_assert_eq!(outcome(parse(&body)), outcome(parse_slow(&body)), "{} {:?}", name, order);
        }
    }
}
