//! **backup-confined**: a backup of a shared cluster goes where the
//! Cluster's own WAL archive goes, and nowhere else. With `method: plugin`
//! the instance manager runs the plugin the Backup names and hands it the
//! Backup's parameters as they are, not merged with the Cluster's entry
//! (`pkg/management/postgres/webserver/plugin_backup.go@v1.30.0:L72-119`;
//! `internal/cnpi/plugin/client/backup.go@v1.30.0:L137-141`); the operator
//! only checks that the Cluster has some plugin
//! (`internal/controller/backup_controller.go@v1.30.0:L411-418`). What the
//! parameters mean is the plugin's: barman-cloud ignores them today, another
//! plugin (or a later barman-cloud) may write the whole database to the
//! object store they name. A ScheduledBackup is judged the same way: the
//! operator copies its method and pluginConfiguration into every Backup it
//! makes, under an identity the contract exempts.

use super::{Cx, Rule, RuleId, written};
use crate::facts::WalArchiver;
use crate::model::kinds::backup::{Backup, BackupSpec};
use crate::model::kinds::scheduled_backup::ScheduledBackup;

pub(super) const RULE: Rule = Rule {
    id: RuleId::BackupConfined,
    names: &[],
    checks: &[written!(Backup, backup), written!(ScheduledBackup, scheduled_backup)],
};

fn backup(cx: &mut Cx<'_>, b: &Backup) {
    plugin_confined(cx, &b.spec);
}

fn scheduled_backup(cx: &mut Cx<'_>, s: &ScheduledBackup) {
    plugin_confined(cx, &s.spec);
}

/// `method: plugin` on a shared cluster: the plugin of the Cluster's
/// WAL-archiver entry, with none but that entry's parameters.
fn plugin_confined(cx: &mut Cx<'_>, spec: &BackupSpec) {
    if !spec.is_plugin() {
        return;
    }
    let Some(shared) = cx.referenced_cluster(&spec.cluster.name) else {
        return;
    };
    let fact = cx.facts.wal_archiver(shared);
    let check = format!("the backup uses the WAL-archiving plugin of Cluster {}", shared.name);
    let Some(archiver) = cx.fact("spec.pluginConfiguration.name", &check, fact) else {
        return;
    };
    let Some(archiver) = archiver else {
        cx.violation(
            "spec.method",
            format!(
                "method: plugin, but Cluster {}/{} has no WAL-archiving plugin (no enabled spec.plugins[] entry \
                 with isWALArchiver: true), so no plugin of its own can take the backup",
                shared.namespace, shared.name
            ),
            "use the backup method the Cluster is set up for, or ask the platform team to configure its \
             WAL-archiving plugin first",
        );
        return;
    };
    let Some(config) = &spec.plugin_configuration else {
        cx.violation(
            "spec.pluginConfiguration",
            "method: plugin names no plugin",
            format!("set spec.pluginConfiguration.name to {:?}", archiver.name),
        );
        return;
    };
    if config.name != archiver.name {
        cx.violation(
            "spec.pluginConfiguration.name",
            format!(
                "plugin {:?} is not {}'s WAL-archiving plugin {:?}: the backup would run in another plugin, with \
                 whatever configuration it is handed, not into the cluster's own backup store",
                config.name, shared.name, archiver.name
            ),
            format!(
                "set spec.pluginConfiguration.name to {:?}, the plugin of the Cluster's isWALArchiver entry",
                archiver.name
            ),
        );
        return;
    }
    foreign_parameters(cx, &archiver, config.parameters.iter());
}

/// Each parameter the Cluster's entry does not have with that value. The
/// values are never shown: a parameter may be a credential.
fn foreign_parameters<'a>(
    cx: &mut Cx<'_>,
    archiver: &WalArchiver,
    parameters: impl Iterator<Item = (&'a String, &'a String)>,
) {
    for (key, value) in parameters {
        let what = match archiver.parameters.get(key) {
            Some(own) if own == value => continue,
            Some(_) => format!(
                "differs from the value of the Cluster's {:?} entry: the plugin may send the backup to another \
                 object store than the cluster's own",
                archiver.name
            ),
            None => format!(
                "the Cluster's {:?} entry has no parameter {key:?}: the plugin may send the backup to another \
                 object store than the cluster's own",
                archiver.name
            ),
        };
        cx.violation(
            format!("spec.pluginConfiguration.parameters[{key}]"),
            what,
            format!(
                "remove spec.pluginConfiguration.parameters[{key}] (the plugin reads the Cluster's own entry), or set \
                 it to the Cluster's value"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    /// The shared Cluster with barman-cloud as its WAL archiver (store
    /// `apps-pg-store`), and a second, non-archiving plugin.
    const CLUSTER: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg, namespace: \
                           databases}, spec: {plugins: [{name: barman-cloud.cloudnative-pg.io, isWALArchiver: true, \
                           parameters: {barmanObjectName: apps-pg-store, serverName: apps-pg}}, \
                           {name: other.example.com}]}}";
    /// Its archiver entry disabled: it archives nothing.
    const CLUSTER_ARCHIVER_DISABLED: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: \
                           apps-pg, namespace: databases}, spec: {plugins: [{name: barman-cloud.cloudnative-pg.io, \
                           enabled: false, isWALArchiver: true, parameters: {barmanObjectName: apps-pg-store}}]}}";
    const CLUSTER_WITHOUT_ARCHIVER: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: \
                           apps-pg, namespace: databases}, spec: {plugins: [{name: barman-cloud.cloudnative-pg.io}]}}";

    fn backup(kind: &str, spec: &str) -> String {
        let schedule = if kind == "ScheduledBackup" {
            "schedule: '0 0 0 * * *', "
        } else {
            ""
        };
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: {kind}, metadata: {{name: b, namespace: databases}}, \
             spec: {{{schedule}cluster: {{name: apps-pg}}{spec}}}}}"
        )
    }

    const BARMAN: &str = ", method: plugin, pluginConfiguration: {name: barman-cloud.cloudnative-pg.io";

    #[rstest]
    #[case::accept_the_clusters_own_plugin(&format!("{BARMAN}}}"), None)]
    #[case::accept_the_clusters_own_parameters(
        &format!("{BARMAN}, parameters: {{barmanObjectName: apps-pg-store}}}}"),
        None
    )]
    #[case::reject_another_plugin(
        ", method: plugin, pluginConfiguration: {name: other.example.com}",
        Some("spec.pluginConfiguration.name")
    )]
    #[case::reject_another_object_store(
        &format!("{BARMAN}, parameters: {{barmanObjectName: attacker-store}}}}"),
        Some("spec.pluginConfiguration.parameters[barmanObjectName]")
    )]
    #[case::reject_a_parameter_the_entry_lacks(
        &format!("{BARMAN}, parameters: {{serverName: apps-pg, endpointURL: 'https://elsewhere'}}}}"),
        Some("spec.pluginConfiguration.parameters[endpointURL]")
    )]
    #[case::reject_plugin_without_a_configuration(", method: plugin", Some("spec.pluginConfiguration"))]
    #[case::accept_barman_object_store(", method: barmanObjectStore", None)]
    #[case::accept_the_default_method("", None)]
    #[case::accept_volume_snapshot(", method: volumeSnapshot", None)]
    fn plugin_backups(
        #[values("Backup", "ScheduledBackup")] kind: &str,
        #[case] spec: &str,
        #[case] field: Option<&str>,
    ) {
        let b = backup(kind, spec);
        assert_only(
            &eval_with(&create(&b), &facts_from(&[CLUSTER])),
            "backup-confined",
            field,
        );
    }

    #[rstest]
    #[case::reject_plugin_when_the_cluster_has_no_archiver(CLUSTER_WITHOUT_ARCHIVER)]
    #[case::reject_plugin_when_the_archiver_is_disabled(CLUSTER_ARCHIVER_DISABLED)]
    fn no_wal_archiver(#[values("Backup", "ScheduledBackup")] kind: &str, #[case] cluster: &str) {
        let b = backup(kind, &format!("{BARMAN}}}"));
        assert_only(
            &eval_with(&create(&b), &facts_from(&[cluster])),
            "backup-confined",
            Some("spec.method"),
        );
    }

    #[test]
    fn a_scheduled_backup_update_is_judged_as_written() {
        let old = backup("ScheduledBackup", &format!("{BARMAN}}}"));
        let new = backup(
            "ScheduledBackup",
            &format!("{BARMAN}, parameters: {{barmanObjectName: attacker-store}}}}"),
        );
        let f = eval_with(&update(&old, &new), &facts_from(&[CLUSTER]));
        assert_only(
            &f,
            "backup-confined",
            Some("spec.pluginConfiguration.parameters[barmanObjectName]"),
        );
    }

    #[test]
    fn accept_backups_of_other_clusters() {
        let other = "{apiVersion: postgresql.cnpg.io/v1, kind: Backup, metadata: {name: b, namespace: databases}, \
                     spec: {cluster: {name: gitea-db}, method: plugin, pluginConfiguration: {name: x}}}";
        assert_only(
            &eval_with(&create(other), &facts_from(&[CLUSTER])),
            "backup-confined",
            None,
        );
    }

    #[test]
    fn without_the_cluster_the_check_is_skipped() {
        let b = backup(
            "Backup",
            ", method: plugin, pluginConfiguration: {name: other.example.com}",
        );
        let f = eval(&create(&b));
        assert_only(&f, "backup-confined", None);
        let mine: Vec<_> = f
            .skipped
            .iter()
            .filter(|s| s.rule.as_str() == "backup-confined")
            .collect();
        assert_eq!(mine.len(), 1, "{f:?}");
        assert!(mine[0].check.contains("WAL-archiving plugin"));
    }

    #[test]
    fn messages_never_show_parameter_values() {
        let b = backup(
            "Backup",
            &format!("{BARMAN}, parameters: {{barmanObjectName: s3cr3t-value}}}}"),
        );
        let f = eval_with(&create(&b), &facts_from(&[CLUSTER]));
        let v = f
            .violations
            .iter()
            .find(|v| v.rule.as_str() == "backup-confined")
            .expect("a violation");
        assert!(!v.line().contains("s3cr3t-value"), "{}", v.line());
        assert!(!v.line().contains("apps-pg-store"), "{}", v.line());
        assert_eq!(
            v.line(),
            "[backup-confined] Backup databases/b: spec.pluginConfiguration.parameters[barmanObjectName]: differs \
             from the value of the Cluster's \"barman-cloud.cloudnative-pg.io\" entry: the plugin may send the backup \
             to another object store than the cluster's own. Fix: remove \
             spec.pluginConfiguration.parameters[barmanObjectName] (the plugin reads the Cluster's own entry), or set \
             it to the Cluster's value."
        );
    }
}
