//! The CloudNativePG (`postgresql.cnpg.io/v1`) fields the rules read. Only
//! those: everything else in the object is ignored, so a newer CNPG with more
//! fields still decodes. Field names follow the CNPG 1.28 CRDs.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::sync::OnceLock;

use serde::Deserialize;

use super::hba::{HbaEntry, Unreadable};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LocalObjectReference {
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Cluster {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "super::lean_metadata")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ClusterSpec,
}

impl Cluster {
    /// Names of the managed roles that exist (`ensure` not `absent`).
    pub fn present_roles(&self) -> impl Iterator<Item = &str> {
        self.spec
            .managed
            .iter()
            .flat_map(|m| &m.roles)
            .filter(|r| !r.is_absent())
            .map(|r| r.name.as_str())
    }
}

impl Cluster {
    /// `spec.postgresql`, or the empty default.
    pub fn postgresql(&self) -> &PostgresConfiguration {
        static EMPTY: PostgresConfiguration = PostgresConfiguration {
            pg_hba: Vec::new(),
            pg_ident: Vec::new(),
            enable_alter_system: None,
            hba: OnceLock::new(),
        };
        self.spec.postgresql.as_ref().unwrap_or(&EMPTY)
    }

    /// `spec.managed.services.additional[]`.
    pub fn additional_services(&self) -> &[ManagedService] {
        self.spec
            .managed
            .as_ref()
            .and_then(|m| m.services.as_ref())
            .map_or(&[], |s| s.additional.as_slice())
    }

    /// `spec.replica.enabled: true`: the cluster follows another one.
    pub fn is_replica(&self) -> bool {
        self.spec.replica.as_ref().and_then(|r| r.enabled) == Some(true)
    }

    /// `spec.replica.primary` names another cluster than `spec.replica.self`
    /// (default: this Cluster's name): in a distributed topology, this
    /// cluster is then a replica.
    pub fn primary_elsewhere(&self) -> Option<&str> {
        let replica = self.spec.replica.as_ref()?;
        let primary = replica.primary.as_deref()?;
        let me = replica
            .self_
            .as_deref()
            .or(self.metadata.name.as_deref())
            .unwrap_or_default();
        (primary != me).then_some(primary)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClusterSpec {
    #[serde(default)]
    pub bootstrap: Option<BootstrapConfiguration>,
    #[serde(default)]
    pub managed: Option<ManagedConfiguration>,
    #[serde(default)]
    pub postgresql: Option<PostgresConfiguration>,
    #[serde(default)]
    pub replica: Option<ReplicaClusterConfiguration>,
}

/// `spec.postgresql`: the fields that decide who may log in, and how.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostgresConfiguration {
    #[serde(default, rename = "pg_hba")]
    pub pg_hba: Vec<String>,
    #[serde(default, rename = "pg_ident")]
    pub pg_ident: Vec<String>,
    #[serde(default)]
    pub enable_alter_system: Option<bool>,
    /// `pg_hba` read as PostgreSQL reads it, once per object.
    #[serde(skip)]
    hba: OnceLock<Vec<HbaLines>>,
}

/// The lines of one pg_hba entry, each classified or why not.
pub type HbaLines = Vec<Result<HbaEntry, Unreadable>>;

impl PostgresConfiguration {
    /// Each `pg_hba` entry, line by line as PostgreSQL reads the file
    /// CloudNativePG writes it into; parsed the first time a rule asks.
    pub fn hba(&self) -> &[HbaLines] {
        self.hba
            .get_or_init(|| self.pg_hba.iter().map(|e| super::hba::parse_hba(e)).collect())
    }
}

/// `spec.replica`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReplicaClusterConfiguration {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// In a distributed topology: the cluster that is primary.
    #[serde(default)]
    pub primary: Option<String>,
    /// In a distributed topology: this cluster's own name there.
    #[serde(rename = "self", default)]
    pub self_: Option<String>,
}

/// `spec.managed.services`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ManagedServices {
    #[serde(default)]
    pub additional: Vec<ManagedService>,
}

/// `spec.managed.services.additional[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedService {
    #[serde(default)]
    pub selector_type: Option<String>,
    #[serde(default)]
    pub service_template: ServiceTemplate,
}

/// A CNPG `ServiceTemplateSpec`: how exposed the Service it makes is.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceTemplate {
    #[serde(default)]
    pub metadata: Option<ServiceTemplateMeta>,
    #[serde(default)]
    pub spec: Option<ServiceExposure>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceTemplateMeta {
    #[serde(default)]
    pub name: Option<String>,
}

/// The fields of a core/v1 `ServiceSpec` that expose pods beyond the
/// NetworkPolicy posture.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceExposure {
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    #[serde(default, rename = "externalIPs")]
    pub external_ips: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BootstrapConfiguration {
    #[serde(default)]
    pub initdb: Option<BootstrapInitDb>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct BootstrapInitDb {
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub secret: Option<SecretRef>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SecretRef {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ManagedConfiguration {
    #[serde(default)]
    pub roles: Vec<RoleConfiguration>,
    #[serde(default)]
    pub services: Option<ManagedServices>,
}

/// `spec.managed.roles[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleConfiguration {
    pub name: String,
    /// `present` (default) or `absent`.
    #[serde(default)]
    pub ensure: Option<String>,
    #[serde(default)]
    pub login: Option<bool>,
    #[serde(default)]
    pub superuser: Option<bool>,
    #[serde(default)]
    pub createdb: Option<bool>,
    #[serde(default)]
    pub createrole: Option<bool>,
    #[serde(default)]
    pub replication: Option<bool>,
    #[serde(default)]
    pub bypassrls: Option<bool>,
    #[serde(default)]
    pub password_secret: Option<LocalObjectReference>,
    #[serde(default)]
    pub in_roles: Vec<String>,
}

impl RoleConfiguration {
    pub fn is_absent(&self) -> bool {
        self.ensure.as_deref() == Some("absent")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Database {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "super::lean_metadata")]
    pub metadata: ObjectMeta,
    pub spec: DatabaseSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    pub name: String,
    pub owner: String,
    pub cluster: LocalObjectReference,
    #[serde(default)]
    pub ensure: Option<String>,
    #[serde(default)]
    pub database_reclaim_policy: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub is_template: Option<bool>,
    #[serde(default)]
    pub schemas: Vec<DatabaseObject>,
    #[serde(default)]
    pub extensions: Vec<DatabaseObject>,
    #[serde(default)]
    pub fdws: Vec<DatabaseObject>,
    #[serde(default)]
    pub servers: Vec<DatabaseObject>,
}

impl DatabaseSpec {
    /// `ensure: absent`: CNPG drops the database.
    pub fn is_absent(&self) -> bool {
        self.ensure.as_deref() == Some("absent")
    }

    /// `databaseReclaimPolicy: delete`: deleting the CR drops the database.
    pub fn reclaims_by_delete(&self) -> bool {
        self.database_reclaim_policy.as_deref() == Some("delete")
    }
}

/// An entry of a Database's `schemas`, `extensions`, `fdws` or `servers`:
/// the fields that decide who owns or may use it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DatabaseObject {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ensure: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub usage: Vec<UsageGrant>,
}

impl DatabaseObject {
    pub fn is_absent(&self) -> bool {
        self.ensure.as_deref() == Some("absent")
    }
}

/// `usage[]` of an FDW or foreign server: a role granted (or revoked) use.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UsageGrant {
    #[serde(default)]
    pub name: String,
    /// `grant` (default) or `revoke`.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
}

impl UsageGrant {
    pub fn is_revoke(&self) -> bool {
        self.type_.as_deref() == Some("revoke")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Pooler {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "super::lean_metadata")]
    pub metadata: ObjectMeta,
    pub spec: PoolerSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolerSpec {
    pub cluster: LocalObjectReference,
    #[serde(default)]
    pub pgbouncer: Option<PgBouncerSpec>,
    #[serde(default)]
    pub service_template: Option<ServiceTemplate>,
    /// The pgbouncer pods' template (read only where it can reach the
    /// cluster's credentials or the node).
    #[serde(default)]
    pub template: Option<PodTemplate>,
}

/// A pod template, as far as the rules read it: the node namespaces it
/// shares and every Secret it names.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodTemplate {
    #[serde(default)]
    pub spec: Option<PodSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub host_network: Option<bool>,
    #[serde(default, rename = "hostPID")]
    pub host_pid: Option<bool>,
    #[serde(default, rename = "hostIPC")]
    pub host_ipc: Option<bool>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub init_containers: Vec<Container>,
}

/// A Secret named in a pod template (Kubernetes defaults the name to "").
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SecretName {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Volume {
    #[serde(default)]
    pub secret: Option<SecretVolume>,
    #[serde(default)]
    pub projected: Option<ProjectedVolume>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolume {
    #[serde(default)]
    pub secret_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProjectedVolume {
    #[serde(default)]
    pub sources: Vec<ProjectedSource>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProjectedSource {
    #[serde(default)]
    pub secret: Option<SecretName>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub env_from: Vec<EnvFrom>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    #[serde(default)]
    pub value_from: Option<EnvSource>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvSource {
    #[serde(default)]
    pub secret_key_ref: Option<SecretName>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFrom {
    #[serde(default)]
    pub secret_ref: Option<SecretName>,
}

/// `spec.pgbouncer`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PgBouncerSpec {
    #[serde(default, rename = "pg_hba")]
    pub pg_hba: Vec<String>,
    #[serde(default)]
    pub paused: Option<bool>,
    /// The Secret pgbouncer's auth query logs in with.
    #[serde(default)]
    pub auth_query_secret: Option<LocalObjectReference>,
}

#[cfg(test)]
mod tests {
    use crate::model::{Kind, Object};

    #[test]
    fn metadata_keeps_what_rules_read_and_skips_managed_fields() {
        let json = r#"{"apiVersion":"postgresql.cnpg.io/v1","kind":"Cluster",
            "metadata":{"name":"apps-pg","namespace":"databases","uid":"u1","resourceVersion":"7",
              "labels":{"a":"b"},"annotations":{"c":"d",
                "kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Cluster\"}\n"},
              "managedFields":[{"manager":"kubectl","fieldsV1":{"f:spec":{".":{}}}}]},
            "spec":{"instances":3}}"#;
        let Ok(Object::Cluster(c)) = Object::decode_json(Kind::Cluster, json) else {
            panic!("decodes")
        };
        let m = &c.metadata;
        assert_eq!(m.name.as_deref(), Some("apps-pg"));
        assert_eq!(m.namespace.as_deref(), Some("databases"));
        assert_eq!(m.uid.as_deref(), Some("u1"));
        assert_eq!(m.resource_version.as_deref(), Some("7"));
        assert_eq!(m.labels.as_ref().unwrap()["a"], "b");
        assert_eq!(m.annotations.as_ref().unwrap().len(), 1, "kubectl's copy is skipped");
        assert_eq!(m.annotations.as_ref().unwrap()["c"], "d");
        assert!(m.managed_fields.is_none());

        let bad = r#"{"metadata":{"name":"x","labels":"oops"},"spec":{}}"#;
        let err = Object::decode_json(Kind::Cluster, bad).unwrap_err();
        assert_eq!(err.field, "metadata.labels");
        let none = r#"{"metadata":null,"spec":{}}"#;
        assert!(Object::decode_json(Kind::Cluster, none).is_ok());
        let no_annotations = r#"{"metadata":{"annotations":null},"spec":{}}"#;
        let Ok(Object::Cluster(c)) = Object::decode_json(Kind::Cluster, no_annotations) else {
            panic!("decodes")
        };
        assert!(c.metadata.annotations.is_none());
        let bad = r#"{"metadata":{"annotations":{"c":7}},"spec":{}}"#;
        let err = Object::decode_json(Kind::Cluster, bad).unwrap_err();
        assert_eq!(err.field, "metadata.annotations.c");
    }

    const DATABASE_SPEC: &str = r#""spec":{"name":"app","owner":"app","cluster":{"name":"apps-pg"}}"#;

    /// The declared kind is checked in the same read as the fields: an
    /// object that says it is another kind is refused whether or not it
    /// decodes as the requested kind, in one pass or from its text.
    #[rstest::rstest]
    #[case::decodes_as_requested(Kind::Database, "Cluster", DATABASE_SPEC, Some("Cluster"))]
    #[case::does_not_decode(Kind::Database, "Pooler", r#""spec":{"owner":7}"#, Some("Pooler"))]
    #[case::cluster_says_database(Kind::Cluster, "Database", r#""spec":{}"#, Some("Database"))]
    #[case::pooler_says_cluster(Kind::Pooler, "Cluster", r#""spec":{"cluster":{"name":"x"}}"#, Some("Cluster"))]
    #[case::matches(Kind::Database, "Database", DATABASE_SPEC, None)]
    fn the_declared_kind_is_checked(
        #[case] kind: Kind,
        #[case] declared: &str,
        #[case] spec: &str,
        #[case] refused_as: Option<&str>,
    ) {
        let json =
            format!(r#"{{"apiVersion":"postgresql.cnpg.io/v1","kind":"{declared}","metadata":{{"name":"x"}},{spec}}}"#);
        let from_text = Object::decode_json(kind, &json);
        let from_tree = Object::decode(kind, serde_json::from_str(&json).unwrap());
        match refused_as {
            Some(other) => {
                let e = from_text.unwrap_err();
                assert_eq!(
                    (e.field.as_str(), e.message),
                    ("kind", format!("the object says it is a {other}"))
                );
                let e = from_tree.unwrap_err();
                assert_eq!(
                    (e.field.as_str(), e.message),
                    ("kind", format!("the object says it is a {other}"))
                );
            }
            None => {
                assert_eq!(from_text.unwrap().kind(), kind);
                assert_eq!(from_tree.unwrap().kind(), kind);
            }
        }
    }
}
