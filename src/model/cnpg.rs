//! The CloudNativePG (`postgresql.cnpg.io/v1`) structures more than one
//! kind shares (the kinds themselves are in `kinds/`). Only the fields the
//! rules read: everything else in an object is ignored, so a newer CNPG with
//! more fields still decodes.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LocalObjectReference {
    pub name: String,
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

/// A reference to an image catalog: a Cluster's `spec.imageCatalogRef`
/// (with a `major`) or, from 1.30, a Pooler's `spec.pgbouncer.imageCatalogRef`
/// (with a `key`); only where it points is read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImageCatalogRef {
    #[serde(default)]
    pub api_group: Option<String>,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// An `ExtensionConfiguration` (a Cluster's `spec.postgresql.extensions[]`,
/// a catalog's `spec.images[].extensions[]`): an image mounted into the
/// PostgreSQL pods, its libraries loaded into the server.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExtensionConfiguration {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: Option<ImageVolumeSource>,
}

/// A core/v1 `ImageVolumeSource`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageVolumeSource {
    #[serde(default)]
    pub reference: Option<String>,
}

/// A core/v1 `SecretKeySelector`, as far as the rules read it: the Secret.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SecretKeySelector {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SecretRef {
    #[serde(default)]
    pub name: String,
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
    pub image: Option<String>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub env_from: Vec<EnvFrom>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    #[serde(default)]
    pub name: String,
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
