//! CloudNativePG's ScheduledBackup: Backups on a schedule. The operator
//! makes each Backup itself, under its own identity (which the contract
//! exempts), with the ScheduledBackup's cluster, target, method, online,
//! onlineConfiguration and pluginConfiguration copied verbatim
//! (`api/v1/scheduledbackup_funcs.go@v1.30.0:L80-106`, `CreateBackup`;
//! `internal/controller/scheduledbackup_controller.go@v1.30.0`): the rules
//! a Backup is judged by are applied here, to what it will copy.
//!
//! CREATE and UPDATE are intercepted (its spec is mutable but for
//! `cluster`); DELETE only stops the schedule.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Class::{Checked, Harmless};
use super::backup::BackupSpec;
use super::{CNPG_GROUP, CU, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::decode::{DecodeError, declared_kind, typed};
use crate::rules::id::RuleId::{BackupConfined, DataRetained};

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::ScheduledBackup,
    group: CNPG_GROUP,
    version: "v1",
    api_version: "postgresql.cnpg.io/v1",
    name: "ScheduledBackup",
    plural: "scheduledbackups",
    namespaced: true,
    operations: CU,
    reach: Reach::Everywhere,
    fields: &[
        // Who owns the Backups it makes (`none`, `self`, `cluster`):
        // deleting the owner deletes those Backup objects, not the backups
        // in the object store (see the Backup descriptor).
        ("backupOwnerReference", Harmless),
        ("cluster", Checked(BackupConfined)),
        // One Backup at once, besides the schedule.
        ("immediate", Harmless),
        ("method", Checked(BackupConfined)),
        // Copied into each Backup: with volumeSnapshot, `false` fences.
        ("online", Checked(DataRetained)),
        ("onlineConfiguration", Harmless),
        ("pluginConfiguration", Checked(BackupConfined)),
        // How often: a tight schedule costs I/O and storage on the
        // cluster's own store, not access or data.
        ("schedule", Harmless),
        ("suspend", Harmless),
        ("target", Harmless),
    ],
    nested: &[],
    feeds: Feeds::Nothing,
    listed: Listed::Everywhere,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<ScheduledBackup, DecodeError> {
    let scheduled: ScheduledBackup = typed(Kind::ScheduledBackup, input, track)?;
    declared_kind(Kind::ScheduledBackup, scheduled.kind.as_deref())?;
    Ok(scheduled)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScheduledBackup {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::model::lean_metadata")]
    pub metadata: ObjectMeta,
    /// Only the fields it copies into each Backup, which have a Backup's
    /// names and types: read as a Backup's spec.
    pub spec: BackupSpec,
}
