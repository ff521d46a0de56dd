//! CloudNativePG's Backup: one on-demand backup of a cluster, run by the
//! operator and the target pod's instance manager
//! (`internal/controller/backup_controller.go`, v1.30.0).
//!
//! Only CREATE is intercepted. The CRD makes the whole spec immutable
//! (`oldSelf == self` on `spec`, both CRD sets), so an UPDATE cannot change
//! what a Backup does. DELETE is not intercepted either: a Backup has no
//! finalizer and the operator does nothing when one goes (no deletion
//! handling in `backup_controller.go@v1.30.0`), so the backup in the object
//! store and the cluster's data stay; only VolumeSnapshots follow their
//! Backup, and only when the Cluster's platform-only
//! `spec.backup.volumeSnapshot.snapshotOwnerReference` is `backup`
//! (`pkg/reconciler/backup/volumesnapshot/reconciler.go@v1.30.0:L99-104`;
//! `docs/src/backup.md@v1.30.0`, "Persistence of volume snapshot objects"):
//! the platform that chooses that has chosen that snapshots go with their
//! Backup objects.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Class::{Checked, Harmless};
use super::{C, CNPG_GROUP, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::cnpg::LocalObjectReference;
use crate::model::decode::{DecodeError, declared_kind, typed};
use crate::rules::id::RuleId::{BackupConfined, DataRetained};

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::Backup,
    group: CNPG_GROUP,
    version: "v1",
    api_version: "postgresql.cnpg.io/v1",
    name: "Backup",
    plural: "backups",
    namespaced: true,
    operations: C,
    reach: Reach::Everywhere,
    fields: &[
        ("cluster", Checked(BackupConfined)),
        ("method", Checked(BackupConfined)),
        // With volumeSnapshot, `false` fences the target instance.
        ("online", Checked(DataRetained)),
        // When an online backup checkpoints and whether it waits for the
        // WAL archive: timing, on the cluster's own store.
        ("onlineConfiguration", Harmless),
        ("pluginConfiguration", Checked(BackupConfined)),
        // Which instance is backed up (`primary`, `prefer-standby`); an
        // offline snapshot is denied whichever it fences.
        ("target", Harmless),
    ],
    nested: &[],
    feeds: Feeds::Nothing,
    listed: Listed::Everywhere,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<Backup, DecodeError> {
    let backup: Backup = typed(Kind::Backup, input, track)?;
    declared_kind(Kind::Backup, backup.kind.as_deref())?;
    Ok(backup)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Backup {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::model::lean_metadata")]
    pub metadata: ObjectMeta,
    pub spec: BackupSpec,
}

/// What a backup does: a Backup's `spec`, and the part of a
/// ScheduledBackup's `spec` the operator copies into every Backup it makes
/// (`api/v1/scheduledbackup_funcs.go@v1.30.0:L80-106`, `CreateBackup`), so
/// both kinds decode to it and the rules read them alike.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    pub cluster: LocalObjectReference,
    /// `barmanObjectStore` (the CRD's default), `volumeSnapshot` or `plugin`.
    #[serde(default)]
    pub method: Option<String>,
    /// Hot (`true`) or cold (`false`); unset: the Cluster's
    /// `spec.backup.volumeSnapshot.online`, else hot.
    #[serde(default)]
    pub online: Option<bool>,
    #[serde(default)]
    pub plugin_configuration: Option<BackupPluginConfiguration>,
}

impl BackupSpec {
    /// `method: plugin`: the backup runs in the plugin it names.
    pub fn is_plugin(&self) -> bool {
        self.method.as_deref() == Some("plugin")
    }

    /// `method: volumeSnapshot` with `online: false`: a cold snapshot,
    /// which fences the target instance while it is taken.
    pub fn is_offline_snapshot(&self) -> bool {
        self.method.as_deref() == Some("volumeSnapshot") && self.online == Some(false)
    }
}

/// `spec.pluginConfiguration`: the plugin the backup runs in and the
/// parameters it is handed (CloudNativePG passes them as they are, not
/// merged with the Cluster's plugin entry:
/// `internal/cnpi/plugin/client/backup.go@v1.30.0:L137-141`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BackupPluginConfiguration {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}
