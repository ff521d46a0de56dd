//! A mocked Kubernetes API behind a real `kube::Client` (kube's tower-test
//! pattern): lists and watches served from memory, 403s where RBAC would
//! refuse, and a switch that breaks every watch.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::mpsc;

type RespBody = UnsyncBoxBody<Bytes, Infallible>;
type WatchSender = mpsc::UnboundedSender<Result<Frame<Bytes>, Infallible>>;

#[derive(Default)]
struct State {
    /// path -> objects (as JSON).
    lists: HashMap<String, Vec<Value>>,
    /// paths answered with 403 Forbidden.
    forbidden: Vec<String>,
    broken: bool,
    /// open watch streams, per path.
    watches: HashMap<String, Vec<WatchSender>>,
    resource_version: u64,
    pub requests: Vec<String>,
}

#[derive(Clone, Default)]
pub struct MockApi {
    state: Arc<Mutex<State>>,
}

fn full(status: StatusCode, body: Value) -> Response<RespBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed_unsync())
        .unwrap()
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

impl MockApi {
    /// A kube client served by this mock (tasks run on the current runtime).
    pub fn client(&self) -> kube::Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<RespBody>>();
        let me = self.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let response = me.answer(request);
                send.send_response(response);
            }
        });
        kube::Client::new(service, "default")
    }

    /// Serves `objects` at `path` (list and watch).
    pub fn set(&self, path: &str, objects: Vec<Value>) {
        self.state.lock().unwrap().lists.insert(path.to_owned(), objects);
    }

    pub fn forbid(&self, path: &str) {
        self.state.lock().unwrap().forbidden.push(path.to_owned());
    }

    /// Breaks (true) or restores (false) the API: open watches end, every
    /// request fails with 500 while broken.
    pub fn set_broken(&self, broken: bool) {
        let mut s = self.state.lock().unwrap();
        s.broken = broken;
        if broken {
            s.watches.clear();
        }
    }

    /// Sends a watch event (`ADDED`, `MODIFIED`, `DELETED`) to watchers of `path`.
    pub fn event(&self, path: &str, kind: &str, object: Value) {
        let mut s = self.state.lock().unwrap();
        s.resource_version += 1;
        let line = json!({"type": kind, "object": object}).to_string() + "\n";
        if let Some(senders) = s.watches.get_mut(path) {
            senders.retain(|tx| tx.send(Ok(Frame::data(Bytes::from(line.clone())))).is_ok());
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    fn answer(&self, request: Request<Body>) -> Response<RespBody> {
        let mut s = self.state.lock().unwrap();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or("").to_owned();
        s.requests.push(format!("{path}?{query}"));
        if s.broken {
            return full(
                StatusCode::INTERNAL_SERVER_ERROR,
                status(500, "InternalError", "mock API is down"),
            );
        }
        if s.forbidden.contains(&path) {
            return full(
                StatusCode::FORBIDDEN,
                status(403, "Forbidden", "forbidden by the mock's RBAC"),
            );
        }
        // GET of one object: /.../secrets/NAME
        if let Some((base, name)) = path.rsplit_once('/')
            && let Some(items) = s.lists.get(base)
            && !s.lists.contains_key(&path)
        {
            return match items.iter().find(|o| o["metadata"]["name"] == name) {
                Some(o) => full(StatusCode::OK, o.clone()),
                None => full(StatusCode::NOT_FOUND, status(404, "NotFound", "not found")),
            };
        }
        let Some(items) = s.lists.get(&path).cloned() else {
            return full(
                StatusCode::NOT_FOUND,
                status(404, "NotFound", "the server could not find the requested resource"),
            );
        };
        let items: Vec<Value> = match query
            .split('&')
            .find_map(|kv| kv.strip_prefix("fieldSelector=metadata.name%3D"))
        {
            Some(name) => items.into_iter().filter(|o| o["metadata"]["name"] == name).collect(),
            None => items,
        };
        let rv = s.resource_version.to_string();
        if query.contains("watch=true") {
            let (tx, rx) = mpsc::unbounded_channel();
            s.watches.entry(path).or_default().push(tx);
            let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(StreamBody::new(stream).boxed_unsync())
                .unwrap();
        }
        full(
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": rv}, "items": items}),
        )
    }
}

pub const CLUSTERS: &str = "/apis/postgresql.cnpg.io/v1/namespaces/databases/clusters";
pub const DATABASES: &str = "/apis/postgresql.cnpg.io/v1/namespaces/databases/databases";
pub const SECRETS: &str = "/api/v1/namespaces/databases/secrets";
pub const ALL_CLUSTERS: &str = "/apis/postgresql.cnpg.io/v1/clusters";
pub const ALL_DATABASES: &str = "/apis/postgresql.cnpg.io/v1/databases";
pub const ALL_POOLERS: &str = "/apis/postgresql.cnpg.io/v1/poolers";
pub const NAMESPACES: &str = "/api/v1/namespaces";
pub const POLICIES: &str = "/apis/networking.k8s.io/v1/namespaces/databases/networkpolicies";
pub const ALL_SECRETS: &str = "/api/v1/secrets";
pub const SERVICES: &str = "/api/v1/namespaces/databases/services";

pub fn cluster(roles: &[&str]) -> Value {
    let roles: Vec<Value> = roles
        .iter()
        .map(|r| json!({"name": r, "ensure": "present", "login": true}))
        .collect();
    json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
           "metadata": {"name": "apps-pg", "namespace": "databases", "resourceVersion": "1",
                        "labels": {"railiance.io/role": "shared-apps-database"}},
           "spec": {"instances": 1,
                    "bootstrap": {"initdb": {"database": "apps_meta", "owner": "apps_admin", "secret": {"name": "apps-pg-credentials"}}},
                    "managed": {"roles": roles},
                    "postgresql": {"pg_hba": [
                        "host vergabe_db vergabe all scram-sha-256", "host all vergabe all reject",
                        "host shop_db shop all scram-sha-256", "host all shop all reject"]}}})
}

pub fn database(name: &str, owner: &str, db: &str) -> Value {
    json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Database",
           "metadata": {"name": name, "namespace": "databases", "resourceVersion": "1"},
           "spec": {"name": db, "owner": owner, "cluster": {"name": "apps-pg"}}})
}

pub fn secret(ns: &str, name: &str, string_data: Value) -> Value {
    use base64::Engine;
    let data: serde_json::Map<String, Value> = string_data
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap())),
            )
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns, "resourceVersion": "1"},
           "type": "Opaque", "data": data})
}
