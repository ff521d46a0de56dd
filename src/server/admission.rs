//! AdmissionReview in, AdmissionReview out: the webhook's door into the
//! pipeline. Uses kube-core's admission types; judges nothing itself.

use std::borrow::Cow;
use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation as AdmissionOp};
use kube::core::response::StatusSummary;
use kube::core::{ApiResource, DynamicResourceScope, Resource, TypeMeta};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::decision::Decision;
use crate::model::{Kind, Object, Operation, Review, User};

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
    /// A covered kind: judge it. For UPDATE, the old and new objects' JSON
    /// texts (for the audit record's patch).
    Review(Box<Request<'a>>, Box<Review>, Option<(&'a str, &'a str)>),
    /// A kind or operation the contract does not cover: allow untouched.
    NotCovered(Box<Request<'a>>),
}

/// The AdmissionReview envelope. kube-core's `AdmissionReview` flattens its
/// type fields into the review, which makes serde buffer the whole body
/// (objects included) into an intermediate tree first; reading the two
/// fields beside kube-core's `AdmissionRequest` avoids that.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(borrow, default)]
    request: Option<Request<'a>>,
}

/// Parses a request body into a [`Review`].
pub fn parse(body: &[u8]) -> Result<Parsed<'_>, BadReview> {
    let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(|e| explain(body, e))?;
    if envelope.api_version != API_VERSION {
        return Err(BadReview::ApiVersion(envelope.api_version));
    }
    if envelope.kind != "AdmissionReview" {
        return Err(BadReview::Kind(envelope.kind));
    }
    let mut req = envelope.request.ok_or(BadReview::NoRequest)?;
    req.types = TypeMeta {
        api_version: envelope.api_version,
        kind: envelope.kind,
    };
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
    let object = decode("object", new_json)?;
    let old_object = decode("oldObject", old_json)?;
    match operation {
        Operation::Create if object.is_none() => return Err(BadReview::NoObject("CREATE")),
        Operation::Update if object.is_none() => return Err(BadReview::NoObject("UPDATE")),
        Operation::Update if old_object.is_none() => return Err(BadReview::NoOldObject("UPDATE")),
        Operation::Delete if old_object.is_none() => return Err(BadReview::NoOldObject("DELETE")),
        _ => {}
    }
    let patch_sources = match (operation, old_json, new_json) {
        (Operation::Update, Some(old), Some(new)) => Some((old, new)),
        _ => None,
    };
    let namespace = if kind.is_namespaced() {
        req.namespace.take().unwrap_or_default()
    } else {
        String::new()
    };
    let review = Review {
        operation,
        kind,
        namespace,
        name: std::mem::take(&mut req.name),
        object,
        old_object,
        user: User {
            username: req.user_info.username.take().unwrap_or_default(),
            groups: req.user_info.groups.take().unwrap_or_default(),
        },
        dry_run: req.dry_run,
    };
    Ok(Parsed::Review(Box::new(req), Box::new(review), patch_sources))
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

/// The admission response for a decision.
pub fn respond(req: &Request<'_>, decision: &Decision) -> AdmissionResponse {
    let mut resp = AdmissionResponse::from(req);
    if !decision.allowed {
        resp = resp.deny(decision.message());
        resp.result.code = 403;
        resp.result.reason = "Forbidden".into();
        resp.result.status = Some(StatusSummary::Failure);
    }
    let warnings = decision.warnings();
    if !warnings.is_empty() {
        resp.warnings = Some(warnings);
    }
    resp.audit_annotations
        .insert("decision".into(), decision.label().into());
    let rules = decision.rules();
    if !rules.is_empty() {
        resp.audit_annotations.insert(
            "rules".into(),
            rules.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        );
    }
    if let Some(reason) = &decision.break_glass {
        resp.audit_annotations.insert("break-glass".into(), reason.clone());
    }
    resp
}

/// Serializes a response review. Serializing these plain types cannot fail
/// in practice; if it ever did, the API server gets a well-formed error.
pub fn to_body(resp: AdmissionResponse) -> Vec<u8> {
    serde_json::to_vec(&resp.into_review()).unwrap_or_else(|e| {
        serde_json::to_vec(&serde_json::json!({"error": format!("cannot encode the response: {e}")}))
            .unwrap_or_default()
    })
}
