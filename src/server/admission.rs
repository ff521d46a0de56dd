//! AdmissionReview in, AdmissionReview out: the webhook's door into the
//! pipeline. Uses kube-core's admission types; judges nothing itself.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation as AdmissionOp};
use kube::core::response::StatusSummary;
use serde_json::Value;

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

/// A request parsed far enough to answer it.
pub enum Parsed {
    /// A covered kind: judge it. For UPDATE, the old and new objects as JSON
    /// (for the audit record's patch).
    Review(
        Box<AdmissionRequest<DynamicObject>>,
        Box<Review>,
        Option<(Value, Value)>,
    ),
    /// A kind or operation the contract does not cover: allow untouched.
    NotCovered(Box<AdmissionRequest<DynamicObject>>),
}

/// Parses a request body into a [`Review`].
pub fn parse(body: &[u8]) -> Result<Parsed, BadReview> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body).map_err(|e| explain(body, e))?;
    if review.types.api_version != API_VERSION {
        return Err(BadReview::ApiVersion(review.types.api_version));
    }
    if review.types.kind != "AdmissionReview" {
        return Err(BadReview::Kind(review.types.kind));
    }
    let mut req: AdmissionRequest<DynamicObject> = review.try_into().map_err(|_| BadReview::NoRequest)?;
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
    // Move the objects out of the request (no copy of a 1 MiB Secret); keep
    // their JSON only where the audit record needs it (the UPDATE patch).
    let new_json = req.object.take().map(into_value);
    let old_json = req.old_object.take().map(into_value);
    let patch_sources = match (operation, &old_json, &new_json) {
        (Operation::Update, Some(old), Some(new)) => Some((old.clone(), new.clone())),
        _ => None,
    };
    let decode = |which: &'static str, v: Option<Value>| -> Result<Option<Object>, BadReview> {
        v.map(|v| Object::decode(kind, v).map_err(|source| BadReview::Mismatch { which, source }))
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
    let namespace = if kind.is_namespaced() {
        req.namespace.clone().unwrap_or_default()
    } else {
        String::new()
    };
    let review = Review {
        operation,
        kind,
        namespace,
        name: req.name.clone(),
        object,
        old_object,
        user: User {
            username: req.user_info.username.clone().unwrap_or_default(),
            groups: req.user_info.groups.clone().unwrap_or_default(),
        },
        dry_run: req.dry_run,
    };
    Ok(Parsed::Review(Box::new(req), Box::new(review), patch_sources))
}

/// The object as plain JSON, built by moving its parts (no deep copy).
fn into_value(o: DynamicObject) -> Value {
    let mut value = match o.data {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    if let Ok(meta) = serde_json::to_value(&o.metadata) {
        value.insert("metadata".into(), meta);
    }
    if let Some(t) = o.types {
        value.insert("apiVersion".into(), Value::String(t.api_version));
        value.insert("kind".into(), Value::String(t.kind));
    }
    Value::Object(value)
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
pub fn respond(req: &AdmissionRequest<DynamicObject>, decision: &Decision) -> AdmissionResponse {
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
