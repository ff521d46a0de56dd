//! CloudNativePG's Cluster: the shared cluster itself.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Class::{Checked, Harmless, PlatformOnly};
use super::{CNPG_GROUP, CUD, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::cnpg::{
    EnvVar, ExtensionConfiguration, ImageCatalogRef, LocalObjectReference, SecretKeySelector, SecretRef, ServiceTemplate,
};
use crate::model::decode::{DecodeError, declared_kind, typed};
use crate::model::hba::{HbaEntry, Unreadable};
use crate::model::print::{Print, Prints};
use crate::rules::id::RuleId::{AuthPosture, BootstrapSecretConfined, ClusterIdentity, DataRetained, ImageAllowed, NetworkPosture, RoleRegistered};

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::Cluster,
    group: CNPG_GROUP,
    version: "v1",
    api_version: "postgresql.cnpg.io/v1",
    name: "Cluster",
    plural: "clusters",
    namespaced: true,
    operations: CUD,
    reach: Reach::Everywhere,
    fields: &[
        ("affinity", Harmless),
        ("backup", PlatformOnly),
        ("bootstrap", Checked(ClusterIdentity)),
        ("bootstrap.initdb", Checked(ClusterIdentity)),
        ("bootstrap.pg_basebackup", PlatformOnly),
        ("bootstrap.recovery", PlatformOnly),
        // Only the Secrets CloudNativePG generates, or the contract's
        // allowedCertificateSecrets: a client CA signs streaming_replica.
        ("certificates", Checked(AuthPosture)),
        ("description", Harmless),
        ("enablePDB", Harmless),
        // A password for postgres, in <cluster>-superuser.
        ("enableSuperuserAccess", Checked(AuthPosture)),
        // The loader's variables (LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH):
        // native code in the server. envFrom stays the platform's.
        ("env", Checked(ImageAllowed)),
        ("envFrom", PlatformOnly),
        ("ephemeralVolumeSource", Harmless),
        ("ephemeralVolumesSizeLimit", Harmless),
        // Their Secrets: never the cluster's own credentials.
        ("externalClusters", Checked(BootstrapSecretConfined)),
        ("failoverDelay", Harmless),
        // Where the catalog is (its entries are judged at the catalog).
        ("imageCatalogRef", Checked(ImageAllowed)),
        ("imageName", Checked(ImageAllowed)),
        ("imagePullPolicy", Harmless),
        ("imagePullSecrets", Harmless),
        ("inheritedMetadata", PlatformOnly),
        ("instances", Harmless),
        ("livenessProbeTimeout", Harmless),
        ("logLevel", Harmless),
        ("managed", Checked(RoleRegistered)),
        ("managed.roles", Checked(RoleRegistered)),
        ("managed.services", Checked(NetworkPosture)),
        ("maxSyncReplicas", Harmless),
        ("minSyncReplicas", Harmless),
        ("monitoring", Harmless),
        ("nodeMaintenanceWindow", Harmless),
        // Which plugins run beside PostgreSQL, with which configuration;
        // its WAL-archiver entry is what a plugin Backup must match
        // (backup-confined reads it as a fact).
        ("plugins", PlatformOnly),
        ("podSecurityContext", PlatformOnly),
        ("postgresGID", PlatformOnly),
        ("postgresUID", PlatformOnly),
        ("postgresql", Checked(AuthPosture)),
        ("postgresql.enableAlterSystem", Checked(AuthPosture)),
        // Images mounted into the PostgreSQL pods, their libraries loaded
        // into the server: the image is checked; the paths inside it
        // (`extension_control_path`, `dynamic_library_path`, ...) only
        // point within that image.
        ("postgresql.extensions", Checked(ImageAllowed)),
        // Its server must be in the contract's authServers.
        ("postgresql.ldap", Checked(AuthPosture)),
        // Every value can be legitimate; tenant-isolated only warns when
        // every statement is logged (log_statement, log_min_duration_statement).
        ("postgresql.parameters", PlatformOnly),
        ("postgresql.pg_hba", Checked(AuthPosture)),
        ("postgresql.pg_ident", Checked(AuthPosture)),
        ("postgresql.promotionTimeout", Harmless),
        ("postgresql.shared_preload_libraries", PlatformOnly),
        ("postgresql.syncReplicaElectionConstraint", Harmless),
        ("postgresql.synchronous", Harmless),
        ("primaryUpdateMethod", Harmless),
        ("primaryUpdateStrategy", Harmless),
        ("priorityClassName", Harmless),
        // 1.30: the Secrets a pg_hba line may name as addresses
        // (`${podselector:NAME}`); auth-posture refuses such a line, which is
        // no address it can judge.
        ("podSelectorRefs", PlatformOnly),
        // 1.30: the timings of the primary's lease.
        ("primaryLease", Harmless),
        ("probes", Harmless),
        ("projectedVolumeTemplate", PlatformOnly),
        ("replica", Checked(DataRetained)),
        ("replica.enabled", Checked(DataRetained)),
        ("replica.minApplyDelay", Harmless),
        ("replica.primary", Checked(DataRetained)),
        ("replica.promotionToken", PlatformOnly),
        ("replica.self", Checked(DataRetained)),
        ("replica.source", PlatformOnly),
        ("replicationSlots", Harmless),
        ("resources", Harmless),
        ("schedulerName", Harmless),
        ("seccompProfile", PlatformOnly),
        ("securityContext", PlatformOnly),
        // 1.30: the operator binds the cluster's Secret-reading Role to it.
        ("serviceAccountName", Checked(BootstrapSecretConfined)),
        ("serviceAccountTemplate", PlatformOnly),
        ("smartShutdownTimeout", Harmless),
        ("startDelay", Harmless),
        ("stopDelay", Harmless),
        ("storage", PlatformOnly),
        ("superuserSecret", PlatformOnly),
        ("switchoverDelay", Harmless),
        ("tablespaces", PlatformOnly),
        ("topologySpreadConstraints", Harmless),
        ("walStorage", PlatformOnly),
    ],
    nested: &["postgresql", "managed", "bootstrap", "replica"],
    // Its managed roles: which roles are provisioned.
    feeds: Feeds::SharedNamespaces,
    listed: Listed::Everywhere,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<Cluster, DecodeError> {
    let cluster: Cluster = typed(Kind::Cluster, input, track)?;
    declared_kind(Kind::Cluster, cluster.kind.as_deref())?;
    Ok(cluster)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Cluster {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::model::lean_metadata")]
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
    /// Each platform-only field of the inventory with the print of its
    /// value (`None`: not set): what `platform-only` compares between the
    /// old and the new object.
    pub fn platform_only(&self) -> Prints {
        let s = &self.spec;
        let bootstrap = s.bootstrap.as_ref();
        let postgresql = s.postgresql.as_ref();
        let replica = s.replica.as_ref();
        vec![
            ("backup", s.backup),
            ("bootstrap.pg_basebackup", bootstrap.and_then(|b| b.pg_basebackup)),
            ("bootstrap.recovery", bootstrap.and_then(|b| b.recovery)),
            ("envFrom", s.env_from),
            ("inheritedMetadata", s.inherited_metadata),
            ("plugins", (!s.plugins.is_empty()).then(|| Print::of(&s.plugins))),
            ("podSecurityContext", s.pod_security_context),
            ("postgresGID", s.postgres_gid),
            ("postgresUID", s.postgres_uid),
            (
                "postgresql.parameters",
                postgresql
                    .filter(|p| !p.parameters.is_empty())
                    .map(|p| Print::of(&p.parameters)),
            ),
            (
                "postgresql.shared_preload_libraries",
                postgresql.and_then(|p| p.shared_preload_libraries),
            ),
            ("podSelectorRefs", s.pod_selector_refs),
            ("projectedVolumeTemplate", s.projected_volume_template),
            ("replica.promotionToken", replica.and_then(|r| r.promotion_token)),
            ("replica.source", replica.and_then(|r| r.source)),
            ("seccompProfile", s.seccomp_profile),
            ("securityContext", s.security_context),
            ("serviceAccountTemplate", s.service_account_template),
            ("storage", s.storage),
            ("superuserSecret", s.superuser_secret),
            ("tablespaces", s.tablespaces),
            ("walStorage", s.wal_storage),
        ]
    }

    /// `spec.postgresql`, or the empty default.
    pub fn postgresql(&self) -> &PostgresConfiguration {
        static EMPTY: PostgresConfiguration = PostgresConfiguration {
            pg_hba: Vec::new(),
            pg_ident: Vec::new(),
            enable_alter_system: None,
            extensions: Vec::new(),
            ldap: None,
            parameters: BTreeMap::new(),
            shared_preload_libraries: None,
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

    /// The enabled `spec.plugins[]` entry marked `isWALArchiver: true`: the
    /// plugin that archives the cluster's WAL, and so where its backups go.
    /// The first, as CloudNativePG picks it
    /// (`api/v1/cluster_funcs.go@v1.30.0:L1592-1601`,
    /// `GetEnabledWALArchivePluginName`); its webhook allows at most one.
    pub fn wal_archiver(&self) -> Option<&PluginConfiguration> {
        self.spec.plugins.iter().find(|p| p.is_wal_archiver && p.enabled != Some(false))
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
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    #[serde(default)]
    pub bootstrap: Option<BootstrapConfiguration>,
    /// The PostgreSQL image (else `imageCatalogRef`'s, else the operator's).
    #[serde(default)]
    pub image_name: Option<String>,
    #[serde(default)]
    pub image_catalog_ref: Option<ImageCatalogRef>,
    #[serde(default)]
    pub managed: Option<ManagedConfiguration>,
    #[serde(default)]
    pub postgresql: Option<PostgresConfiguration>,
    /// 1.30: the ServiceAccount the instances run as (default: the
    /// Cluster's name).
    #[serde(default)]
    pub service_account_name: Option<String>,
    #[serde(default)]
    pub replica: Option<ReplicaClusterConfiguration>,
    #[serde(default)]
    pub plugins: Vec<PluginConfiguration>,
    /// `true`: CloudNativePG gives `postgres` a password and writes it into
    /// `<cluster>-superuser` (default false: the password is NULL).
    #[serde(default)]
    pub enable_superuser_access: Option<bool>,
    #[serde(default)]
    pub certificates: Option<CertificatesConfiguration>,
    #[serde(default)]
    pub external_clusters: Vec<ExternalCluster>,
    /// The PostgreSQL container's environment.
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// The platform-only fields the rules do not otherwise read, printed
    /// (see [`Cluster::platform_only`]).
    #[serde(default)]
    pub backup: Option<Print>,
    #[serde(default)]
    pub env_from: Option<Print>,
    #[serde(default)]
    pub inherited_metadata: Option<Print>,
    #[serde(default)]
    pub pod_security_context: Option<Print>,
    #[serde(default, rename = "postgresGID")]
    pub postgres_gid: Option<Print>,
    #[serde(default, rename = "postgresUID")]
    pub postgres_uid: Option<Print>,
    #[serde(default)]
    pub pod_selector_refs: Option<Print>,
    #[serde(default)]
    pub projected_volume_template: Option<Print>,
    #[serde(default)]
    pub seccomp_profile: Option<Print>,
    #[serde(default)]
    pub security_context: Option<Print>,
    #[serde(default)]
    pub service_account_template: Option<Print>,
    #[serde(default)]
    pub storage: Option<Print>,
    #[serde(default)]
    pub superuser_secret: Option<Print>,
    #[serde(default)]
    pub tablespaces: Option<Print>,
    #[serde(default)]
    pub wal_storage: Option<Print>,
}

/// `spec.certificates`: the Secrets the cluster's TLS comes from, when not
/// the ones CloudNativePG generates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificatesConfiguration {
    #[serde(default, rename = "serverCASecret")]
    pub server_ca_secret: Option<String>,
    #[serde(default, rename = "serverTLSSecret")]
    pub server_tls_secret: Option<String>,
    #[serde(default, rename = "clientCASecret")]
    pub client_ca_secret: Option<String>,
    #[serde(default, rename = "replicationTLSSecret")]
    pub replication_tls_secret: Option<String>,
}

/// `spec.externalClusters[]`: another PostgreSQL server the cluster
/// connects to, and the Secrets it logs in with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalCluster {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub password: Option<SecretKeySelector>,
    #[serde(default)]
    pub ssl_cert: Option<SecretKeySelector>,
    #[serde(default)]
    pub ssl_key: Option<SecretKeySelector>,
}

/// `spec.postgresql.ldap`: CloudNativePG writes an `ldap` pg_hba line for
/// it when a bind mode is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LdapConfig {
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub bind_as_auth: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub bind_search_auth: Option<serde::de::IgnoredAny>,
}

impl LdapConfig {
    /// Whether CloudNativePG writes the LDAP line (`GetEnableLDAPAuth`,
    /// `api/v1/cluster_funcs.go` at v1.30.0: a bind mode is set).
    pub fn enabled(&self) -> bool {
        self.bind_as_auth.is_some() || self.bind_search_auth.is_some()
    }
}

/// `spec.plugins[]`: a plugin CloudNativePG loads for the cluster.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct PluginConfiguration {
    #[serde(default)]
    pub name: String,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default, rename = "isWALArchiver")]
    pub is_wal_archiver: bool,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
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
    /// Extension images mounted into the PostgreSQL pods.
    #[serde(default)]
    pub extensions: Vec<ExtensionConfiguration>,
    #[serde(default)]
    pub ldap: Option<LdapConfig>,
    /// PostgreSQL's configuration parameters (strings in the CRD; a number
    /// or boolean in a manifest is read as its text).
    #[serde(default, deserialize_with = "scalars")]
    pub parameters: BTreeMap<String, String>,
    #[serde(default, rename = "shared_preload_libraries")]
    pub shared_preload_libraries: Option<Print>,
    /// `pg_hba` read as PostgreSQL reads it, once per object.
    #[serde(skip)]
    hba: OnceLock<Vec<HbaLines>>,
}

fn scalars<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: BTreeMap<String, serde_json::Value> = Deserialize::deserialize(d)?;
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => Some((k, v.to_string())),
            _ => None,
        })
        .collect())
}

/// The lines of one pg_hba entry, each classified or why not.
pub type HbaLines = Vec<Result<HbaEntry, Unreadable>>;

impl PostgresConfiguration {
    /// Each `pg_hba` entry, line by line as PostgreSQL reads the file
    /// CloudNativePG writes it into; parsed the first time a rule asks.
    pub fn hba(&self) -> &[HbaLines] {
        self.hba
            .get_or_init(|| self.pg_hba.iter().map(|e| crate::model::hba::parse_hba(e)).collect())
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
    #[serde(default, rename = "promotionToken")]
    pub promotion_token: Option<Print>,
    #[serde(default)]
    pub source: Option<Print>,
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

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BootstrapConfiguration {
    #[serde(default)]
    pub initdb: Option<BootstrapInitDb>,
    #[serde(default)]
    pub pg_basebackup: Option<Print>,
    #[serde(default)]
    pub recovery: Option<Print>,
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
