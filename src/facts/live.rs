//! Facts from the live cluster: kube watches kept in memory, indexed for
//! hash lookups, answered without any API call while a review waits.
//!
//! Each watch follows the reflector protocol (`Init`, `InitApply`...,
//! `InitDone`, then `Apply`/`Delete`) but keeps only what the rules ask:
//! managed role names and the WAL-archiving plugin per shared Cluster,
//! Database owners per shared cluster, and the SHA-256 of the bootstrap
//! password (never the value).
//! When a watch breaks, its facts are kept and answered as [`Fact::Aged`]
//! (used, with a warning that says how old they are). Only two things fail
//! closed ([`Fact::Stale`]): any fact before its watch first synced, and
//! which Databases own a role once that watch has been broken for longer
//! than `stale_after` (a Database created meanwhile may own it).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher::{self, Event};

use super::store::Store;
use super::{Fact, Facts, WalArchiver};
use crate::contract::{Contract, SharedCluster};
use crate::model::kinds::{Descriptor, Feeds, KINDS};
use crate::model::{Kind, Object};

/// How often a watch that stays broken is logged again.
const REMIND_EVERY: Duration = Duration::from_secs(60);

/// The longest wait between two attempts to restart a broken watch.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The API resource of a covered kind.
pub fn api_resource(d: &Descriptor) -> ApiResource {
    ApiResource {
        group: d.group.into(),
        version: d.version.into(),
        api_version: d.api_version.into(),
        kind: d.name.into(),
        plural: d.plural.into(),
    }
}

/// Health of one watch.
#[derive(Debug, Clone)]
pub struct WatchHealth {
    pub synced: bool,
    pub broken_since: Option<Instant>,
    pub last_error: Option<String>,
    pub last_ok: Instant,
}

impl WatchHealth {
    fn new() -> Self {
        WatchHealth {
            synced: false,
            broken_since: None,
            last_error: None,
            last_ok: Instant::now(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    store: Store,
    health: HashMap<String, WatchHealth>,
}

/// Live facts, shared between the watch tasks and the reviews.
pub struct LiveFacts {
    contract: Arc<Contract>,
    state: RwLock<State>,
    stale_after: Duration,
}

/// Whether the API server serves `d`'s kind (its CRD is installed).
async fn served(client: &Client, d: &Descriptor) -> Result<bool, kube::Error> {
    match client.list_api_group_resources(d.api_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == d.plural)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// One watch: its name (`<plural>/<namespace>`, or
/// `<plural>/<namespace>/<name>` for a watch of one object), the kind and
/// namespace it covers, and the one object's name.
struct Watch {
    name: String,
    kind: Kind,
    namespace: String,
    object: Option<String>,
}

/// The name of the watch that feeds facts of `kind` in `ns` (`object`: a
/// watch of that one object).
fn watch_name(kind: Kind, ns: &str, object: Option<&str>) -> String {
    let plural = kind.descriptor().plural;
    match object {
        Some(name) => format!("{plural}/{ns}/{name}"),
        None => format!("{plural}/{ns}"),
    }
}

/// The watches the table of kinds asks for: per kind that feeds facts, one
/// per shared namespace, or one per bootstrap Secret.
fn watches(contract: &Contract) -> Vec<Watch> {
    let namespaces: BTreeSet<&str> = contract.clusters.iter().map(|c| c.namespace.as_str()).collect();
    let mut out = Vec::new();
    for d in KINDS {
        match d.feeds {
            Feeds::Nothing => {}
            Feeds::SharedNamespaces => out.extend(namespaces.iter().map(|ns| Watch {
                name: watch_name(d.kind, ns, None),
                kind: d.kind,
                namespace: (*ns).to_owned(),
                object: None,
            })),
            Feeds::BootstrapSecrets => out.extend(contract.clusters.iter().map(|c| Watch {
                name: watch_name(d.kind, &c.namespace, Some(&c.bootstrap.secret)),
                kind: d.kind,
                namespace: c.namespace.clone(),
                object: Some(c.bootstrap.secret.clone()),
            })),
        }
    }
    out
}

impl LiveFacts {
    /// Facts for the shared clusters of `contract`; no watch runs yet.
    pub fn new(contract: Arc<Contract>, stale_after: Duration) -> Arc<Self> {
        let mut state = State::default();
        for w in watches(&contract) {
            state.health.insert(w.name, WatchHealth::new());
        }
        Arc::new(LiveFacts {
            contract,
            state: RwLock::new(state),
            stale_after,
        })
    }

    /// Starts the watches the table of kinds asks for.
    pub fn spawn_watches(self: &Arc<Self>, client: Client) {
        for w in watches(&self.contract) {
            let d = w.kind.descriptor();
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &w.namespace, &api_resource(d));
            let config = match &w.object {
                Some(name) => watcher::Config::default().fields(&format!("metadata.name={name}")),
                None => watcher::Config::default(),
            };
            let facts = self.clone();
            let (kind, ns, name) = (w.kind, w.namespace, w.name);
            let watch = facts
                .clone()
                .run(name.clone(), api, config, move |s, ev| facts.fold(kind, &ns, s, ev));
            if d.optional {
                tokio::spawn(self.clone().when_served(client.clone(), d, name, watch));
            } else {
                tokio::spawn(watch);
            }
        }
    }

    /// Runs `watch` once the API server serves `d`'s kind. Until then there
    /// is no such watch (no health, no metric: a CloudNativePG without the
    /// kind has no objects of it, so the facts it would feed are complete),
    /// and the API server is asked again every minute.
    async fn when_served(
        self: Arc<Self>,
        client: Client,
        d: &'static Descriptor,
        name: String,
        watch: impl std::future::Future<Output = ()>,
    ) {
        let mut said = false;
        loop {
            match served(&client, d).await {
                Ok(true) => {
                    if said {
                        tracing::info!(watch = %name, kind = d.name, "the kind is served now; watching it");
                    }
                    self.write().health.entry(name).or_insert_with(WatchHealth::new);
                    return watch.await;
                }
                Ok(false) => {
                    if !said {
                        tracing::info!(watch = %name, kind = d.name, "the kind is not served (its CRD is not installed): nothing to watch; asking again every minute");
                        said = true;
                    }
                    self.write().health.remove(&name);
                }
                Err(e) => {
                    tracing::warn!(watch = %name, kind = d.name, error = %e, "cannot tell whether the kind is served; retrying")
                }
            }
            tokio::time::sleep(if said { REMIND_EVERY } else { MAX_BACKOFF }).await;
        }
    }

    /// Drives one watch for ever, folding its events into the state.
    async fn run<K, F>(self: Arc<Self>, name: String, api: Api<K>, config: watcher::Config, mut fold: F)
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
        F: FnMut(&mut State, Event<K>) + Send + 'static,
    {
        // After any error the stream is dropped and a fresh watcher starts
        // with a full list, so recovery is proven by a complete resync
        // (InitDone), never assumed from silence.
        let mut backoff = Duration::from_millis(250);
        let mut reminded = Instant::now();
        loop {
            // Buffers Init..InitDone so a relist replaces the state atomically.
            let mut buffer: Option<Vec<K>> = None;
            let mut stream = watcher::watcher(api.clone(), config.clone()).boxed();
            while let Some(event) = stream.next().await {
                match event {
                    Ok(Event::Init) => buffer = Some(Vec::new()),
                    Ok(Event::InitApply(o)) => buffer.get_or_insert_with(Vec::new).push(o),
                    Ok(Event::InitDone) => {
                        let objects = buffer.take().unwrap_or_default();
                        let count = objects.len();
                        self.update(&name, |s| {
                            fold(s, Event::Init);
                            for o in objects {
                                fold(s, Event::InitApply(o));
                            }
                            fold(s, Event::InitDone);
                        });
                        self.mark_synced(&name);
                        backoff = Duration::from_millis(250);
                        tracing::info!(watch = %name, objects = count, "watch synced");
                    }
                    Ok(ev) => self.update(&name, |s| fold(s, ev)),
                    Err(e) => {
                        let mut s = self.write();
                        if let Some(h) = s.health.get_mut(&name) {
                            // Once when it breaks, then once a minute while it stays broken.
                            let newly = h.broken_since.is_none();
                            let broken = h.broken_since.get_or_insert_with(Instant::now).elapsed();
                            if newly || reminded.elapsed() >= REMIND_EVERY {
                                reminded = Instant::now();
                                let secs = broken.as_secs();
                                match (h.synced, newly) {
                                    (true, true) => {
                                        tracing::warn!(watch = %name, error = %e, "watch broken; the last known facts are used, with a warning")
                                    }
                                    (true, _) => {
                                        tracing::warn!(watch = %name, error = %e, broken_seconds = secs, "watch still broken; the last known facts are used, with a warning")
                                    }
                                    (false, _) => {
                                        tracing::warn!(watch = %name, error = %e, broken_seconds = secs, "watch cannot sync: no facts are known yet, so reviews that need them are denied and /readyz is false until it does")
                                    }
                                }
                            }
                            h.last_error = Some(e.to_string());
                        }
                        break;
                    }
                }
            }
            // Capped low: after an API server restart the watches re-sync
            // within a couple of seconds of it being ready.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Folds good events in. A broken watch recovers only with a full
    /// resync: single events that trickle in before it do not clear it.
    fn update(&self, name: &str, f: impl FnOnce(&mut State)) {
        let mut s = self.write();
        f(&mut s);
        if let Some(h) = s.health.get_mut(name) {
            h.last_ok = Instant::now();
        }
    }

    fn mark_synced(&self, name: &str) {
        let mut s = self.write();
        if let Some(h) = s.health.get_mut(name) {
            if h.broken_since.take().is_some() {
                tracing::info!(watch = %name, "watch recovered");
            }
            h.synced = true;
            h.last_ok = Instant::now();
        }
    }

    /// Folds one event of a watch of `kind` in `ns` into the store. An
    /// object that cannot be read feeds nothing (its facts are unknown).
    fn fold(&self, kind: Kind, ns: &str, s: &mut State, ev: Event<DynamicObject>) {
        let (object, present) = match ev {
            Event::Init => {
                s.store.forget(&self.contract, ns, kind);
                return;
            }
            Event::InitDone => return,
            Event::Apply(o) | Event::InitApply(o) => (o, true),
            Event::Delete(o) => (o, false),
        };
        let name = object.metadata.name.clone().unwrap_or_default();
        if !present {
            s.store.put(&self.contract, ns, &name, kind, None);
            return;
        }
        // The object (a Secret's value among it) is dropped here; the store
        // keeps only what the rules ask (a password only as its hash).
        let decoded = decode(kind, object);
        if decoded.is_none() {
            tracing::warn!(%ns, %name, %kind, "cannot read the object; the facts it feeds are unknown");
        }
        s.store.put(&self.contract, ns, &name, kind, decoded.as_ref());
    }

    /// Whether every watch has synced once (readiness).
    pub fn synced(&self) -> bool {
        self.read().health.values().all(|h| h.synced)
    }

    /// (watch, synced, seconds since the last good event, broken) for metrics.
    pub fn health(&self) -> Vec<(String, bool, f64, bool)> {
        let s = self.read();
        let mut out: Vec<_> = s
            .health
            .iter()
            .map(|(n, h)| {
                (
                    n.clone(),
                    h.synced,
                    h.last_ok.elapsed().as_secs_f64(),
                    h.broken_since.is_some(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// How far the facts from `watch` can be trusted now.
    fn freshness(&self, s: &State, watch: &str) -> Freshness {
        let Some(h) = s.health.get(watch) else {
            return Freshness::Fresh;
        };
        if !h.synced {
            return Freshness::Unseen(format!(
                "watch {watch} has not synced yet: the guard has not seen the cluster state"
            ));
        }
        let Some(since) = h.broken_since else {
            return Freshness::Fresh;
        };
        // The facts were current until the watch broke (a quiet watch is
        // not an old one): their age is the outage's.
        let broken = since.elapsed();
        Freshness::Aged {
            note: format!(
                "{} s old (watch {watch} broken: {})",
                broken.as_secs(),
                h.last_error.as_deref().unwrap_or("unknown error")
            ),
            past_bound: broken > self.stale_after,
        }
    }

    /// `value` as the facts of every watch in `watches` allow: the least
    /// fresh of them decides.
    fn answer_all<T>(&self, s: &State, watches: &[String], age_matters: bool, value: impl FnOnce() -> T) -> Fact<T> {
        let mut worst = Freshness::Fresh;
        for w in watches {
            worst = match (worst, self.freshness(s, w)) {
                (Freshness::Unseen(r), _) | (_, Freshness::Unseen(r)) => Freshness::Unseen(r),
                (Freshness::Aged { note, past_bound }, Freshness::Aged { past_bound: p2, .. }) => Freshness::Aged {
                    note,
                    past_bound: past_bound || p2,
                },
                (Freshness::Aged { note, past_bound }, Freshness::Fresh)
                | (Freshness::Fresh, Freshness::Aged { note, past_bound }) => Freshness::Aged { note, past_bound },
                (Freshness::Fresh, Freshness::Fresh) => Freshness::Fresh,
            };
        }
        match worst {
            Freshness::Fresh => Fact::Known(value()),
            Freshness::Unseen(reason) => Fact::Stale(reason),
            Freshness::Aged { note, past_bound: true } if age_matters => Fact::Stale(note),
            Freshness::Aged { note, .. } => Fact::Aged(value(), note),
        }
    }

    /// `value` as the facts of `watch` allow: fresh, aged (used, with a
    /// note), or stale (fail closed). With `age_matters`, facts broken for
    /// longer than `--stale-after` are stale.
    fn answer<T>(&self, s: &State, watch: &str, age_matters: bool, value: impl FnOnce() -> T) -> Fact<T> {
        self.answer_all(s, &[watch.to_owned()], age_matters, value)
    }
}

/// See [`LiveFacts::freshness`].
enum Freshness {
    Fresh,
    /// Never synced: nothing is known.
    Unseen(String),
    /// The watch is broken; the last known facts are kept.
    Aged {
        note: String,
        past_bound: bool,
    },
}

fn decode(kind: Kind, object: DynamicObject) -> Option<Object> {
    let value = serde_json::to_value(object).ok()?;
    Object::decode(kind, value).ok()
}

impl Facts for LiveFacts {
    /// A role the last known Cluster had is still the best knowledge while
    /// its watch is broken: used, with a note of its age.
    fn role_provisioned(&self, cluster: &SharedCluster, role: &str) -> Fact<bool> {
        let s = self.read();
        let watches = [
            watch_name(Kind::Cluster, &cluster.namespace, None),
            watch_name(Kind::DatabaseRole, &cluster.namespace, None),
        ];
        self.answer_all(&s, &watches, false, || {
            s.store.role_in_cluster(cluster, role) || !s.store.database_roles_for(cluster, role).is_empty()
        })
    }

    fn role_in_cluster(&self, cluster: &SharedCluster, role: &str) -> Fact<bool> {
        let s = self.read();
        self.answer(&s, &watch_name(Kind::Cluster, &cluster.namespace, None), false, || {
            s.store.role_in_cluster(cluster, role)
        })
    }

    fn database_roles_for(&self, cluster: &SharedCluster, role: &str) -> Fact<Vec<String>> {
        let s = self.read();
        self.answer(
            &s,
            &watch_name(Kind::DatabaseRole, &cluster.namespace, None),
            false,
            || s.store.database_roles_for(cluster, role),
        )
    }

    fn database_role(&self, cluster: &SharedCluster, name: &str) -> Fact<Option<String>> {
        let s = self.read();
        self.answer(
            &s,
            &watch_name(Kind::DatabaseRole, &cluster.namespace, None),
            false,
            || s.store.database_role(cluster, name),
        )
    }

    /// A Database created while the watch is broken may own the role: past
    /// `--stale-after`, removing a role fails closed.
    fn databases_owned_by(&self, cluster: &SharedCluster, role: &str) -> Fact<Vec<String>> {
        let s = self.read();
        self.answer(&s, &watch_name(Kind::Database, &cluster.namespace, None), true, || {
            s.store.databases_owned_by(cluster, role)
        })
    }

    /// The last known Database CRs are the best knowledge while the watch
    /// is broken: used, with a note of their age (a duplicate is a
    /// conflict to report, not data to lose).
    fn database_crs_named(&self, cluster: &SharedCluster, database: &str) -> Fact<Vec<String>> {
        let s = self.read();
        self.answer(&s, &watch_name(Kind::Database, &cluster.namespace, None), false, || {
            s.store.database_crs_named(cluster, database)
        })
    }

    /// The catalog the last known Cluster named is the best knowledge while
    /// its watch is broken: used, with a note of its age.
    fn image_catalog(&self, cluster: &SharedCluster) -> Fact<Option<crate::model::cnpg::ImageCatalogRef>> {
        let s = self.read();
        self.answer(&s, &watch_name(Kind::Cluster, &cluster.namespace, None), false, || {
            s.store.image_catalog(cluster)
        })
    }

    /// The bootstrap password changes rarely: the last known fingerprint is
    /// used while the watch is broken.
    fn is_bootstrap_password(&self, cluster: &SharedCluster, value: &[u8]) -> Fact<bool> {
        let s = self.read();
        self.answer(
            &s,
            &watch_name(Kind::Secret, &cluster.namespace, Some(&cluster.bootstrap.secret)),
            false,
            || s.store.is_bootstrap_password(cluster, value).unwrap_or(false),
        )
    }

    /// The Cluster's plugins change rarely, and only in the platform's
    /// review: the last known entry is used while the watch is broken.
    fn wal_archiver(&self, cluster: &SharedCluster) -> Fact<Option<WalArchiver>> {
        let s = self.read();
        self.answer(&s, &watch_name(Kind::Cluster, &cluster.namespace, None), false, || {
            s.store.wal_archiver(cluster)
        })
    }
}
