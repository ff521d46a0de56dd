//! `cnpg-guard offboard`: onboarding in reverse, in the only safe order.
//! Each step removes what the next one would otherwise break: the label
//! first (no new connections), the runtime Secret, the Database CR (the
//! guard refuses to drop a role a Database still owns), the role, and the
//! registry entry last (before that, the guard would refuse the rest).
//! The role goes where onboarding put it: an entry of the Cluster's
//! `spec.managed.roles`, or its DatabaseRole.

use super::{RoleManagedBy, database_object_name, database_role_name, runtime_secret_name};
use crate::contract::{BreakGlass, Consumer, SharedCluster};

/// The offboarding plan as text: commands indented, `WARNING:` lines where
/// data is lost. Not a script: read it, then run the steps one by one.
pub(crate) fn plan(
    c: &SharedCluster,
    consumer: &Consumer,
    break_glass: &BreakGlass,
    contract_file: &str,
    managed_by: RoleManagedBy,
) -> String {
    let (ns, role) = (consumer.namespace.as_str(), consumer.role.as_str());
    let (cns, cname) = (c.namespace.as_str(), c.name.as_str());
    let dbs = consumer.databases.join(", ");
    let mut o = String::new();
    let mut line = |s: &str| {
        o.push_str(s);
        o.push('\n');
    };

    line(&format!(
        "# cnpg-guard offboard: consumer {ns} of Cluster {cns}/{cname} (role {role}, database(s) {dbs})"
    ));
    line("# Run the steps in this order, each once the previous one has taken effect.");
    line(&format!(
        "# Step 4 drops a role onboarded with {}: if `kubectl get databaseroles -n {cns}` lists {} DatabaseRole \
         for {role}, run offboard with {} instead.",
        managed_by.flag(),
        match managed_by {
            RoleManagedBy::Cluster => "a",
            RoleManagedBy::DatabaseRole => "no",
        },
        match managed_by {
            RoleManagedBy::Cluster => RoleManagedBy::DatabaseRole.flag(),
            RoleManagedBy::DatabaseRole => RoleManagedBy::Cluster.flag(),
        }
    ));
    line(&format!(
        "# Stop the app in {ns} first, and back up {dbs} (a CNPG Backup of {cname}, or pg_dump) before step 3."
    ));

    line("");
    line(&format!(
        "# step 1: remove the namespace label {}={cname} (no new connections from {ns}; the guard always allows it)",
        c.client_label
    ));
    line(&format!("    kubectl label namespace {ns} {}-", c.client_label));
    line("# GitOps: delete the label from the Namespace manifest.");

    line("");
    line(&format!(
        "# step 2: delete the runtime Secret(s) in {ns} (the app loses its DSN)"
    ));
    for db in &consumer.databases {
        line(&format!(
            "    kubectl delete secret {} -n {ns}",
            runtime_secret_name(db)
        ));
    }

    line("");
    line(&format!(
        "# step 3: remove the Database CR(s) of {role} in {cns} (names as cnpg-guard onboard writes them; \
         kubectl get databases -n {cns} shows them)"
    ));
    line("# databaseReclaimPolicy decides what deleting a CR does: retain (CNPG's default, and what onboard writes)");
    line(&format!(
        "# keeps the PostgreSQL database, still owned by {role}, so step 4 cannot drop the role; delete drops it."
    ));
    line("# ensure: absent makes CNPG drop the database while the CR still exists.");
    let mut groups: Vec<&str> = break_glass.groups.iter().map(String::as_str).collect();
    groups.sort_unstable();
    line(&format!(
        "# BREAK-GLASS: dropping a database is a break-glass act (data-retained): the guard refuses `ensure: absent` \
         and deleting a CR with databaseReclaimPolicy: delete unless a member of {} runs it on a CR that carries the \
         annotation {} with the ticket.",
        groups.join(" or "),
        break_glass.annotation
    ));
    for db in &consumer.databases {
        let obj = database_object_name(db);
        line(&format!(
            "WARNING: data loss: `ensure: absent` (or deleting a CR with databaseReclaimPolicy: delete) drops database {db} \
             and all its data in {cname}; it cannot be undone. Back it up first."
        ));
        line(&format!(
            "#   the next three commands as a member of {} (impersonating: append --as=<you> --as-group=<group>)",
            groups.join(" or ")
        ));
        line(&format!(
            "    kubectl annotate database {obj} -n {cns} {}='<ticket>: offboarding {ns}'",
            break_glass.annotation
        ));
        line(&format!(
            "    kubectl patch database {obj} -n {cns} --type=merge -p '{{\"spec\":{{\"ensure\":\"absent\"}}}}'"
        ));
        line(&format!(
            "#   wait until CNPG has applied it (kubectl get database {obj} -n {cns} -o yaml: status.applied true for the new generation), then"
        ));
        line(&format!("    kubectl delete database {obj} -n {cns}"));
    }
    line(
        "# To keep the data instead: ALTER DATABASE <name> OWNER TO another role, then delete the CR with databaseReclaimPolicy: retain.",
    );

    line("");
    let groups = groups.join(" or ");
    match managed_by {
        RoleManagedBy::Cluster => managed_role_step(&mut line, c, consumer),
        RoleManagedBy::DatabaseRole => database_role_step(&mut line, c, consumer, break_glass, &groups),
    }
    line(&format!(
        "# Then remove {role}'s two pg_hba lines (once the role is gone, they guard nothing); each patch tests the line first:"
    ));
    for hba_line in crate::rules::tenant_isolated::reach::consumer_lines(&consumer.role, &consumer.databases) {
        line(&format!(
            "    j=$(kubectl get cluster {cname} -n {cns} -o json | jq '.spec.postgresql.pg_hba | index(\"{hba_line}\")')"
        ));
        let test = format!(r#"{{"op":"test","path":"/spec/postgresql/pg_hba/$j","value":"{hba_line}"}}"#);
        let remove = format!(r#"[{test},{{"op":"remove","path":"/spec/postgresql/pg_hba/$j"}}]"#);
        line(&format!(
            "    kubectl patch cluster {cname} -n {cns} --type=json -p \"{}\"",
            remove.replace('"', "\\\"")
        ));
    }
    line("# GitOps: delete the two lines from spec.postgresql.pg_hba in the Cluster manifest.");

    line("");
    line(&format!(
        "# step 5: remove the registry entry from sharedClusters[name: {cname}].consumers in {contract_file}, validate and roll it out"
    ));
    line(&format!("#   - namespace: {ns}"));
    line(&format!("#     role: {role}"));
    line(&format!("#     databases: [{dbs}]"));
    line(&format!("    cnpg-guard contract validate {contract_file}"));
    line(&format!(
        "# From then on the guard refuses the label, a Database and the role for {ns} again."
    ));
    o
}

/// Step 4 for a role in the Cluster's `spec.managed.roles`: `ensure:
/// absent` (CNPG drops the role), then the entry, then its Secret.
fn managed_role_step(line: &mut impl FnMut(&str), c: &SharedCluster, consumer: &Consumer) {
    let role = consumer.role.as_str();
    let (cns, cname) = (c.namespace.as_str(), c.name.as_str());
    line(&format!(
        "# step 4: drop role {role} from Cluster {cns}/{cname}: first ensure: absent (CNPG drops the PostgreSQL role), then remove the entry"
    ));
    line(&format!(
        "# The guard refuses this while a Database CR still owns {role}; PostgreSQL refuses DROP ROLE while {role} owns a database or objects."
    ));
    line(&format!(
        "    i=$(kubectl get cluster {cname} -n {cns} -o json | jq '.spec.managed.roles | map(.name) | index(\"{role}\")')"
    ));
    // JSON patches guarded by a `test` op: a moved index fails instead of hitting another role.
    let test = format!(r#"{{"op":"test","path":"/spec/managed/roles/$i/name","value":"{role}"}}"#);
    let absent = format!(r#"[{test},{{"op":"add","path":"/spec/managed/roles/$i/ensure","value":"absent"}}]"#);
    let remove = format!(r#"[{test},{{"op":"remove","path":"/spec/managed/roles/$i"}}]"#);
    let quoted = |json: &str| format!("\"{}\"", json.replace('"', "\\\""));
    line(&format!(
        "    kubectl patch cluster {cname} -n {cns} --type=json -p {}",
        quoted(&absent)
    ));
    line(&format!(
        "#   wait until CNPG has dropped it (kubectl get cluster {cname} -n {cns} -o jsonpath='{{.status.managedRolesStatus}}'; \
         cannotReconcile says why not), then"
    ));
    line(&format!(
        "    kubectl patch cluster {cname} -n {cns} --type=json -p {}",
        quoted(&remove)
    ));
    line(&format!(
        "    kubectl delete secret {} -n {cns}",
        consumer.role_secret(cname)
    ));
    line(
        "# GitOps: the same two commits to the Cluster manifest (ensure: absent, then delete the entry) and delete the Secret.",
    );
}

/// Step 4 for a role a DatabaseRole manages: `databaseRoleReclaimPolicy:
/// delete`, then the CR (CNPG drops the role), then its Secret. With
/// `retain`, deleting the CR would leave the role able to log in, and once
/// its pg_hba lines are gone, CNPG's closing line lets it in everywhere.
fn database_role_step(
    line: &mut impl FnMut(&str),
    c: &SharedCluster,
    consumer: &Consumer,
    break_glass: &BreakGlass,
    groups: &str,
) {
    let role = consumer.role.as_str();
    let (cns, cname) = (c.namespace.as_str(), c.name.as_str());
    let object = database_role_name(cname, role);
    line(&format!(
        "# step 4: drop role {role}: set its DatabaseRole {object} (as cnpg-guard onboard names it) to \
         databaseRoleReclaimPolicy: delete, then delete it (CNPG drops the PostgreSQL role), then its Secret"
    ));
    line(&format!(
        "# onboard writes retain, and deleting a DatabaseRole with retain leaves {role} in PostgreSQL with its LOGIN and \
         password: once its pg_hba lines are gone (below), CNPG's closing line lets it in to every database."
    ));
    line(&format!(
        "# The guard refuses deleting a DatabaseRole with databaseRoleReclaimPolicy: delete while a Database CR is still \
         owned by {role} (data-retained; step 3 removes them), and warns when the policy is set to delete."
    ));
    line(&format!(
        "# BREAK-GLASS: only if such a Database CR must stay: a member of {groups} annotates the DatabaseRole with \
         {}='<ticket>: ...' and deletes it. PostgreSQL still refuses DROP ROLE while {role} owns a database or \
         objects (CNPG keeps the CR Terminating and retries; its status.message says why).",
        break_glass.annotation
    ));
    line(&format!(
        "    kubectl patch databaserole {object} -n {cns} --type=merge -p '{{\"spec\":{{\"databaseRoleReclaimPolicy\":\"delete\"}}}}'"
    ));
    line(&format!(
        "#   kubectl delete waits while CNPG drops the role; should it hang, kubectl get databaserole {object} -n {cns} \
         -o jsonpath='{{.status.message}}' says why"
    ));
    line(&format!("    kubectl delete databaserole {object} -n {cns}"));
    line(&format!(
        "    kubectl delete secret {} -n {cns}",
        consumer.role_secret(cname)
    ));
    line(
        "# GitOps: the same two commits to the DatabaseRole manifest (databaseRoleReclaimPolicy: delete, then delete \
         the manifest) and delete the Secret.",
    );
}
