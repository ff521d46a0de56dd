//! A small "apply" layer: what CloudNativePG 1.28.4's instance manager does
//! with a Cluster's and a Database's fields, as SQL and configuration files,
//! each statement citing its source in the CNPG repository at tag v1.28.4.
//!
//! Cluster -> pg_hba.conf + pg_ident.conf (CNPG's templates, the user lines
//! verbatim in between) + managed-role SQL; Database -> database SQL. Errors
//! CNPG would record in the object's status (and go on) are returned, not
//! raised.

use serde_json::Value;

use crate::server::Pg;

/// `pgx.Identifier{name}.Sanitize()`: a double-quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('\0', "").replace('"', "\"\""))
}

/// `pq.QuoteLiteral(s)`: a single-quoted literal, E'' when it holds a backslash.
pub fn literal(s: &str) -> String {
    let quoted = s.replace('\'', "''");
    if quoted.contains('\\') {
        format!(" E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// CNPG v1.28.4 pkg/postgres/configuration.go:97-130 (hbaTemplateString),
/// rendered by CreateHBARules (:595-614) with no LDAP configuration and the
/// default method of pkg/management/postgres/configuration.go:116
/// (scram-sha-256). The user rules are written verbatim, one template line
/// each (`{{ $rule -}}`): a rule holding a newline becomes two lines.
pub fn hba_conf(user_rules: &[String]) -> String {
    let mut s = String::from(
        "\n#\n# FIXED RULES\n#\n\n# Grant local access ('local' user map)\n\
         local all cnpg_metrics_exporter peer map=cnpg_metrics_exporter\n\
         local all all peer map=local\n\n\
         # Require client certificate authentication for the streaming_replica user\n\
         hostssl postgres streaming_replica all cert map=cnpg_streaming_replica\n\
         hostssl replication streaming_replica all cert map=cnpg_streaming_replica\n\
         hostssl all cnpg_pooler_pgbouncer all cert map=cnpg_pooler_pgbouncer\n\n\
         #\n# USER-DEFINED RULES\n#\n\n",
    );
    for rule in user_rules {
        s.push('\n');
        s.push_str(rule);
    }
    s.push_str("\n\n\n\n#\n# DEFAULT RULES\n#\nhost all all all scram-sha-256\n");
    s
}

/// CNPG v1.28.4 pkg/postgres/configuration.go:134-158 (identTemplateString),
/// rendered by CreateIdentRules (:620-637) from
/// pkg/management/postgres/configuration.go:221-226 (generatePostgresqlIdent):
/// `{{.Username}}` is the OS user that runs PostgreSQL
/// (getCurrentUserOrDefaultToInsecureMapping; `postgres` in CNPG's image,
/// here the server's user).
pub fn ident_conf(mappings: &[String], os_user: &str) -> String {
    let mut s = format!(
        "\n#\n# FIXED RULES\n#\n\n# Grant local access ('local' user map)\nlocal {os_user} postgres\n\n\
         # Grant streaming_replica access ('cnpg_streaming_replica' user map)\n\
         cnpg_streaming_replica streaming_replica streaming_replica\n\n\
         # Grant cnpg_pooler_pgbouncer access ('cnpg_pooler_pgbouncer' user map)\n\
         cnpg_pooler_pgbouncer cnpg_pooler_pgbouncer cnpg_pooler_pgbouncer\n\n\
         # Grant cnpg_metrics_exporter access via peer authentication on the Unix socket\n\
         cnpg_metrics_exporter {os_user} cnpg_metrics_exporter\n\n#\n# USER-DEFINED RULES\n#\n\n"
    );
    for rule in mappings {
        s.push('\n');
        s.push_str(rule);
    }
    s.push('\n');
    s
}

/// What CNPG does on a new instance before any managed role or Database.
pub fn bootstrap_instance(pg: &Pg, owner: &str, database: &str) {
    // CNPG v1.28.4 internal/cmd/manager/instance/run/lifecycle/run.go:229-238
    pg.superuser_ok(
        "postgres",
        &format!(
            "CREATE USER {r} REPLICATION;\n\
             COMMENT ON ROLE {r} IS 'Special user for streaming replication created by CloudNativePG';",
            r = ident("streaming_replica")
        ),
    );
    // CNPG v1.28.4 pkg/management/postgres/initdb.go:325-328
    pg.superuser_ok("postgres", &format!("CREATE ROLE {} LOGIN", ident(owner)));
    // CNPG v1.28.4 pkg/management/postgres/initdb.go:376-378
    pg.superuser_ok(
        "postgres",
        &format!("CREATE DATABASE {} OWNER {}", ident(database), ident(owner)),
    );
    // CNPG v1.28.4 pkg/management/postgres/utils/roles.go:54 (superuser
    // access disabled, the default: `postgres` has no password)
    pg.superuser_ok("postgres", "ALTER ROLE postgres WITH PASSWORD NULL");
}

/// CNPG v1.28.4 internal/management/controller/instance_controller.go:1366
/// -> reconcileUser (:1399-1433): the bootstrap owner's password from the
/// bootstrap Secret, refused when the Secret's username is another role.
pub fn set_bootstrap_password(pg: &Pg, owner: &str, secret: &Value) -> Result<(), String> {
    let (username, password) = basic_auth(secret)?;
    if username != owner {
        // CNPG v1.28.4 internal/management/controller/instance_controller.go:1422-1423
        return Err(format!("wrong username '{username}' in secret, expected '{owner}'"));
    }
    set_password_suppressed(pg, &format!("ALTER ROLE {} WITH PASSWORD", ident(owner)), &password)
}

/// CNPG v1.28.4 pkg/management/postgres/utils/roles.go:65-82
/// (ExecWithSuppressedLogging) around `prefix '<password>'`. CNPG encodes
/// the password as SCRAM-SHA-256 before sending it (utils/password.go:35);
/// here the server encodes it (password_encryption = scram-sha-256), the
/// path CNPG takes for a passthrough Secret: the stored verifier is the same
/// kind. The password never appears in an error message.
fn set_password_suppressed(pg: &Pg, statement_prefix: &str, password: &str) -> Result<(), String> {
    let sql = format!(
        "BEGIN;\nSET LOCAL log_statement = 'none';\nSET LOCAL log_min_error_statement = 'PANIC';\n{statement_prefix} {};\nCOMMIT;",
        literal(password)
    );
    let out = pg.superuser("postgres", &sql);
    if out.ok() {
        Ok(())
    } else {
        Err(redact(&out.text(), password))
    }
}

pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<redacted>")
    }
}

/// CNPG v1.28.4 internal/management/utils/secrets.go:32-44: `username` and
/// `password` of a basic-auth Secret (here from its stringData or data).
pub fn basic_auth(secret: &Value) -> Result<(String, String), String> {
    let get = |key: &str| -> Option<String> {
        if let Some(s) = secret.pointer(&format!("/stringData/{key}")).and_then(Value::as_str) {
            return Some(s.to_owned());
        }
        let b64 = secret.pointer(&format!("/data/{key}")).and_then(Value::as_str)?;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        String::from_utf8(bytes).ok()
    };
    let username = get("username").ok_or("username key doesn't exist inside the secret")?;
    let password = get("password").ok_or("password key doesn't exist inside the secret")?;
    Ok((username, password))
}

fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn flag(role: &Value, key: &str, default: bool) -> bool {
    role.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// What applying a Cluster did: per-role errors, as CNPG reports them in
/// `status.managedRolesStatus.cannotReconcile`.
#[derive(Debug, Default)]
pub struct ClusterApplied {
    pub role_errors: Vec<(String, String)>,
}

/// Cluster manifest -> pg_hba.conf, pg_ident.conf (reload), bootstrap owner
/// password, managed roles. `secrets` are the Secret manifests of the
/// Cluster's namespace.
pub fn apply_cluster(pg: &Pg, cluster: &Value, secrets: &[Value]) -> ClusterApplied {
    let namespace = cluster
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let find_secret = |name: &str| {
        secrets
            .iter()
            .find(|s| name_of(s) == name && s.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace))
    };
    // CNPG v1.28.4 pkg/management/postgres/configuration.go:103-126
    // (GeneratePostgresqlHBA from spec.postgresql.pg_hba) and :128-150
    // (RefreshPGHBA, then a reload); pg_ident from spec.postgresql.pg_ident
    // by RefreshPGIdent (:231-250).
    let hba = str_list(cluster.pointer("/spec/postgresql/pg_hba"));
    let ident_lines = str_list(cluster.pointer("/spec/postgresql/pg_ident"));
    pg.write_hba_ident(&hba_conf(&hba), &ident_conf(&ident_lines, &pg.os.name));
    pg.reload();

    let mut applied = ClusterApplied::default();
    if let (Some(owner), Some(secret_name)) = (
        cluster.pointer("/spec/bootstrap/initdb/owner").and_then(Value::as_str),
        cluster
            .pointer("/spec/bootstrap/initdb/secret/name")
            .and_then(Value::as_str),
    ) && let Some(secret) = find_secret(secret_name)
        && let Err(e) = set_bootstrap_password(pg, owner, secret)
    {
        applied.role_errors.push((owner.to_owned(), e));
    }

    let empty = Vec::new();
    let roles = cluster
        .pointer("/spec/managed/roles")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for role in roles {
        let name = role.get("name").and_then(Value::as_str).unwrap_or("");
        if let Err(e) = apply_role(pg, role, &find_secret) {
            applied.role_errors.push((name.to_owned(), e));
        }
    }
    applied
}

fn role_exists(pg: &Pg, name: &str) -> bool {
    pg.superuser_ok(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = {}",
            literal(name)
        ),
    ) == "1"
}

/// One `spec.managed.roles[]` entry, as CNPG v1.28.4
/// internal/management/controller/roles/roles.go:135-210
/// (evaluateNextRoleActions) and runnable.go:222-277 (applyRoleActions)
/// reconcile it until it converges.
fn apply_role<'a>(pg: &Pg, role: &Value, find_secret: &dyn Fn(&str) -> Option<&'a Value>) -> Result<(), String> {
    let name = role.get("name").and_then(Value::as_str).unwrap_or("");
    // CNPG v1.28.4 roles/roles.go:159-161 with pkg/postgres/roles.go:31-51:
    // postgres, streaming_replica, cnpg_* and pg_* are never managed.
    if name == "postgres" || name == "streaming_replica" || name.starts_with("cnpg_") || name.starts_with("pg_") {
        return Err(format!("role {name} is reserved: ignored"));
    }
    let exists = role_exists(pg, name);
    let ensure_absent = role.get("ensure").and_then(Value::as_str) == Some("absent");
    if ensure_absent {
        if exists {
            // CNPG v1.28.4 internal/management/controller/roles/postgres.go:189
            let out = pg.superuser("postgres", &format!("DROP ROLE {}", ident(name)));
            if !out.ok() {
                return Err(out.text());
            }
        }
        return Ok(());
    }

    // The password: CNPG v1.28.4 roles/runnable.go:305-325 and getPassword
    // (:359-394), which refuses a Secret whose username is not the role (:383-386).
    let disable_password = flag(role, "disablePassword", false);
    let secret_name = role.pointer("/passwordSecret/name").and_then(Value::as_str);
    let password: Option<Option<String>> = match (secret_name, disable_password) {
        (None, false) => None,      // ignorePassword: no PASSWORD clause
        (None, true) => Some(None), // PASSWORD NULL
        (Some(s), true) => return Err(format!("cannot reconcile: password both provided and disabled: {s}")),
        (Some(s), false) => {
            let secret = find_secret(s).ok_or_else(|| format!("failed to get password secret {s}: not found"))?;
            let (username, password) = basic_auth(secret)?;
            if name.trim() != username.trim() {
                // CNPG v1.28.4 internal/management/controller/roles/runnable.go:383-385
                return Err(format!("wrong username '{username}' in secret, expected '{name}'"));
            }
            Some(Some(password.trim().to_owned()))
        }
    };

    // CNPG v1.28.4 roles/postgres.go:336-380 (appendRoleOptions); inherit
    // defaults to true (api/v1/cluster_funcs.go:426-431), connectionLimit to -1.
    let mut options = String::new();
    for (key, yes, no, default) in [
        ("bypassrls", " BYPASSRLS", " NOBYPASSRLS", false),
        ("createdb", " CREATEDB", " NOCREATEDB", false),
        ("createrole", " CREATEROLE", " NOCREATEROLE", false),
        ("inherit", " INHERIT", " NOINHERIT", true),
        ("login", " LOGIN", " NOLOGIN", false),
        ("replication", " REPLICATION", " NOREPLICATION", false),
        ("superuser", " SUPERUSER", " NOSUPERUSER", false),
    ] {
        options.push_str(if flag(role, key, default) { yes } else { no });
    }
    let limit = role.get("connectionLimit").and_then(Value::as_i64).unwrap_or(-1);
    options.push_str(&format!(" CONNECTION LIMIT {limit}"));
    let in_roles = str_list(role.get("inRoles"));

    let statement = if exists {
        // CNPG v1.28.4 internal/management/controller/roles/postgres.go:123-124 (Update)
        format!("ALTER ROLE {}{options}", ident(name))
    } else {
        // CNPG v1.28.4 internal/management/controller/roles/postgres.go:152-154 (Create),
        // IN ROLE from appendInRoleOptions (:324-334)
        let mut s = format!("CREATE ROLE {}{options}", ident(name));
        if !in_roles.is_empty() {
            let quoted: Vec<String> = in_roles.iter().map(|r| ident(r)).collect();
            s.push_str(&format!(" IN ROLE {}", quoted.join(",")));
        }
        s
    };
    // CNPG v1.28.4 roles/postgres.go:391-409 (appendPasswordOption) and
    // :105-111 (executeRoleStatement, logging suppressed with a password).
    match &password {
        Some(Some(p)) => set_password_suppressed(pg, &format!("{statement} PASSWORD"), p)?,
        Some(None) => {
            let out = pg.superuser("postgres", &format!("{statement} PASSWORD NULL"));
            if !out.ok() {
                return Err(out.text());
            }
        }
        None => {
            let out = pg.superuser("postgres", &statement);
            if !out.ok() {
                return Err(out.text());
            }
        }
    }
    if let Some(comment) = role.get("comment").and_then(Value::as_str) {
        // CNPG v1.28.4 internal/management/controller/roles/postgres.go:230-231
        pg.superuser_ok(
            "postgres",
            &format!("COMMENT ON ROLE {} IS {}", ident(name), literal(comment)),
        );
    }
    if exists {
        // Memberships of an existing role: CNPG v1.28.4 roles/runnable.go:261-269
        // (getRoleMembershipDiff, GetParentRoles postgres.go:304-310), then
        // UpdateMembership (postgres.go:263-294): GRANT/REVOKE in one transaction.
        let current = pg.superuser_ok(
            "postgres",
            &format!(
                "SELECT pg_catalog.pg_get_userbyid(roleid) FROM pg_catalog.pg_auth_members \
                 WHERE member = (SELECT oid FROM pg_catalog.pg_authid WHERE rolname = {})",
                literal(name)
            ),
        );
        let current: Vec<&str> = current.lines().filter(|l| !l.is_empty()).collect();
        let mut queries = Vec::new();
        for r in &in_roles {
            if !current.contains(&r.as_str()) {
                // CNPG v1.28.4 internal/management/controller/roles/postgres.go:264-266
                queries.push(format!("GRANT {} TO {}", ident(r), ident(name)));
            }
        }
        for r in &current {
            if !in_roles.iter().any(|x| x == r) {
                // CNPG v1.28.4 internal/management/controller/roles/postgres.go:270-272
                queries.push(format!("REVOKE {} FROM {}", ident(r), ident(name)));
            }
        }
        if !queries.is_empty() {
            let out = pg.superuser("postgres", &format!("BEGIN;\n{};\nCOMMIT;", queries.join(";\n")));
            if !out.ok() {
                return Err(out.text());
            }
        }
    }
    Ok(())
}

/// What applying a Database did: errors of the database or of its objects
/// (CNPG records those in `status.schemas[]` etc. and goes on).
#[derive(Debug, Default)]
pub struct DatabaseApplied {
    pub errors: Vec<String>,
}

fn ensure_of(obj: &Value) -> &str {
    obj.get("ensure").and_then(Value::as_str).unwrap_or("present")
}

/// Database manifest -> SQL: CNPG v1.28.4
/// internal/management/controller/database_controller.go:278-318
/// (reconcileDatabaseResource) and :320-356.
pub fn apply_database(pg: &Pg, database: &Value) -> DatabaseApplied {
    let mut applied = DatabaseApplied::default();
    let spec = database.get("spec").cloned().unwrap_or(Value::Null);
    let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
    let owner = spec.get("owner").and_then(Value::as_str).unwrap_or("");
    let exec = |db: &str, sql: String, errors: &mut Vec<String>| {
        let out = pg.superuser(db, &sql);
        if !out.ok() {
            errors.push(format!("{sql}: {}", out.text().trim()));
        }
        out.ok()
    };

    if ensure_of(&spec) == "absent" {
        // CNPG v1.28.4 database_controller.go:284-285 -> dropDatabase,
        // database_controller_sql.go:233
        exec(
            "postgres",
            format!("DROP DATABASE IF EXISTS {}", ident(name)),
            &mut applied.errors,
        );
        return applied;
    }

    // CNPG v1.28.4 database_controller_sql.go:61-80 (detectDatabase)
    let exists = pg.superuser_ok(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_catalog.pg_database WHERE datname = {}",
            literal(name)
        ),
    ) == "1";
    if exists {
        // CNPG v1.28.4 database_controller_sql.go:152-224 (updateDatabase)
        let current = pg.superuser_ok(
            "postgres",
            &format!(
                "SELECT pg_catalog.pg_get_userbyid(datdba) || '|' || datistemplate || '|' || datallowconn || '|' || datconnlimit \
                 FROM pg_catalog.pg_database WHERE datname = {}",
                literal(name)
            ),
        );
        let parts: Vec<&str> = current.split('|').collect();
        if let Some(allow) = spec.get("allowConnections").and_then(Value::as_bool)
            && Some(if allow { "t" } else { "f" }) != parts.get(2).copied()
        {
            // database_controller_sql.go:160-162
            exec(
                "postgres",
                format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {allow}", ident(name)),
                &mut applied.errors,
            );
        }
        if let Some(limit) = spec.get("connectionLimit").and_then(Value::as_i64)
            && Some(limit.to_string().as_str()) != parts.get(3).copied()
        {
            // database_controller_sql.go:173-175
            exec(
                "postgres",
                format!("ALTER DATABASE {} WITH CONNECTION LIMIT {limit}", ident(name)),
                &mut applied.errors,
            );
        }
        if let Some(t) = spec.get("isTemplate").and_then(Value::as_bool)
            && Some(if t { "t" } else { "f" }) != parts.get(1).copied()
        {
            // database_controller_sql.go:186-188
            exec(
                "postgres",
                format!("ALTER DATABASE {} WITH IS_TEMPLATE {t}", ident(name)),
                &mut applied.errors,
            );
        }
        if !owner.is_empty() && Some(owner) != parts.first().copied() {
            // database_controller_sql.go:199-202
            exec(
                "postgres",
                format!("ALTER DATABASE {} OWNER TO {}", ident(name), ident(owner)),
                &mut applied.errors,
            );
        }
    } else {
        // CNPG v1.28.4 database_controller_sql.go:82-140 (createDatabase)
        let mut sql = format!("CREATE DATABASE {} ", ident(name));
        if !owner.is_empty() {
            sql.push_str(&format!(" OWNER {}", ident(owner))); // :91-93
        }
        if let Some(t) = spec.get("template").and_then(Value::as_str) {
            sql.push_str(&format!(" TEMPLATE {}", ident(t))); // :94-96
        }
        if let Some(a) = spec.get("allowConnections").and_then(Value::as_bool) {
            sql.push_str(&format!(" ALLOW_CONNECTIONS {a}")); // :100-102
        }
        if let Some(l) = spec.get("connectionLimit").and_then(Value::as_i64) {
            sql.push_str(&format!(" CONNECTION LIMIT {l}")); // :103-105
        }
        if let Some(t) = spec.get("isTemplate").and_then(Value::as_bool) {
            sql.push_str(&format!(" IS_TEMPLATE {t}")); // :106-108
        }
        if let Some(e) = spec.get("encoding").and_then(Value::as_str) {
            sql.push_str(&format!(" ENCODING {}", ident(e))); // :109-111
        }
        if !exec("postgres", sql, &mut applied.errors) {
            return applied;
        }
    }

    // CNPG v1.28.4 database_controller.go:320-341 (reconcileDatabaseObjects),
    // each list through database_objects.go:70-105 (reconcile: create,
    // update, or drop for ensure: absent), in the database itself.
    let list = |key: &str| spec.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    for schema in list("schemas") {
        let s = schema.get("name").and_then(Value::as_str).unwrap_or("");
        let s_owner = schema.get("owner").and_then(Value::as_str).unwrap_or("");
        let current = pg.superuser_ok(
            name,
            &format!(
                "SELECT pg_catalog.pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace WHERE nspname = {}",
                literal(s)
            ),
        );
        match (current.is_empty(), ensure_of(&schema) == "absent") {
            (true, false) => {
                // database_controller_sql.go:384-393 (createDatabaseSchema)
                let mut sql = format!("CREATE SCHEMA {} ", ident(s));
                if !s_owner.is_empty() {
                    sql.push_str(&format!(" AUTHORIZATION {}", ident(s_owner)));
                }
                exec(name, sql, &mut applied.errors);
            }
            (false, false) if !s_owner.is_empty() && current != s_owner => {
                // database_controller_sql.go:403-412 (updateDatabaseSchema)
                exec(
                    name,
                    format!("ALTER SCHEMA {} OWNER TO {}", ident(s), ident(s_owner)),
                    &mut applied.errors,
                );
            }
            (false, true) => {
                // database_controller_sql.go:422-424 (dropDatabaseSchema)
                exec(name, format!("DROP SCHEMA IF EXISTS {}", ident(s)), &mut applied.errors);
            }
            _ => {}
        }
    }
    for ext in list("extensions") {
        let e = ext.get("name").and_then(Value::as_str).unwrap_or("");
        if ensure_of(&ext) == "absent" {
            // database_controller_sql.go:314-316 (dropDatabaseExtension)
            exec(
                name,
                format!("DROP EXTENSION IF EXISTS {}", ident(e)),
                &mut applied.errors,
            );
            continue;
        }
        // database_controller_sql.go:267-305 (createDatabaseExtension: search_path
        // pinned to "$user", public around CREATE EXTENSION)
        let mut sql = format!("CREATE EXTENSION IF NOT EXISTS {} ", ident(e));
        if let Some(v) = ext.get("version").and_then(Value::as_str) {
            sql.push_str(&format!(" VERSION {}", ident(v)));
        }
        if let Some(s) = ext.get("schema").and_then(Value::as_str) {
            sql.push_str(&format!(" SCHEMA {}", ident(s)));
        }
        exec(
            name,
            format!("SET search_path TO \"$user\", public;\n{sql};\nRESET search_path;"),
            &mut applied.errors,
        );
    }
    for fdw in list("fdws") {
        let f = fdw.get("name").and_then(Value::as_str).unwrap_or("");
        let current = pg.superuser_ok(
            name,
            &format!(
                "SELECT pg_catalog.pg_get_userbyid(fdwowner) FROM pg_catalog.pg_foreign_data_wrapper WHERE fdwname = {}",
                literal(f)
            ),
        );
        if ensure_of(&fdw) == "absent" {
            if !current.is_empty() {
                // database_controller_sql.go:750 (dropDatabaseFDW)
                exec(
                    name,
                    format!("DROP FOREIGN DATA WRAPPER IF EXISTS {}", ident(f)),
                    &mut applied.errors,
                );
            }
            continue;
        }
        if current.is_empty() {
            // database_controller_sql.go:606-636 (createDatabaseFDW)
            let mut sql = format!("CREATE FOREIGN DATA WRAPPER {} ", ident(f));
            match fdw.get("handler").and_then(Value::as_str) {
                Some("-") => sql.push_str("NO HANDLER "),
                Some(h) => sql.push_str(&format!("HANDLER {} ", ident(h))),
                None => {}
            }
            match fdw.get("validator").and_then(Value::as_str) {
                Some("-") => sql.push_str("NO VALIDATOR "),
                Some(v) => sql.push_str(&format!("VALIDATOR {} ", ident(v))),
                None => {}
            }
            if !exec(name, sql, &mut applied.errors) {
                continue;
            }
        } else if let Some(o) = fdw.get("owner").and_then(Value::as_str)
            && o != current
        {
            // database_controller_sql.go:711-720 (updateDatabaseFDW: owner)
            exec(
                name,
                format!("ALTER FOREIGN DATA WRAPPER {} OWNER TO {}", ident(f), ident(o)),
                &mut applied.errors,
            );
        }
        // database_controller_sql.go:517-519 -> applyObjectPrivilege (:552-592)
        usage(&fdw, "FOREIGN DATA WRAPPER", f, &mut |sql| {
            exec(name, sql, &mut applied.errors)
        });
    }
    for server in list("servers") {
        let s = server.get("name").and_then(Value::as_str).unwrap_or("");
        let exists = pg.superuser_ok(
            name,
            &format!(
                "SELECT count(*) FROM pg_catalog.pg_foreign_server WHERE srvname = {}",
                literal(s)
            ),
        ) == "1";
        if ensure_of(&server) == "absent" {
            if exists {
                // database_controller_sql.go:852 (dropDatabaseForeignServer)
                exec(name, format!("DROP SERVER IF EXISTS {}", ident(s)), &mut applied.errors);
            }
            continue;
        }
        if !exists {
            // database_controller_sql.go:795-807 (createDatabaseForeignServer)
            let fdw = server.get("fdw").and_then(Value::as_str).unwrap_or("");
            let mut sql = format!("CREATE SERVER {} FOREIGN DATA WRAPPER {} ", ident(s), ident(fdw));
            let opts: Vec<String> = server
                .get("options")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|o| {
                            Some(format!(
                                "{} {}",
                                ident(o.get("name")?.as_str()?),
                                literal(o.get("value")?.as_str()?)
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !opts.is_empty() {
                sql.push_str(&format!("OPTIONS ({})", opts.join(", ")));
            }
            if !exec(name, sql, &mut applied.errors) {
                continue;
            }
        }
        // database_controller_sql.go:524-527 -> applyObjectPrivilege (:552-592)
        usage(&server, "FOREIGN SERVER", s, &mut |sql| {
            exec(name, sql, &mut applied.errors)
        });
    }
    applied
}

/// CNPG v1.28.4 database_controller_sql.go:552-592 (applyObjectPrivilege):
/// GRANT/REVOKE USAGE per `usage[]` entry (type defaults to grant,
/// api/v1/database_types.go:320-324); PUBLIC stays a keyword (:537-542).
fn usage(obj: &Value, object_type: &str, object: &str, exec: &mut dyn FnMut(String) -> bool) {
    for u in obj.get("usage").and_then(Value::as_array).cloned().unwrap_or_default() {
        let grantee = u.get("name").and_then(Value::as_str).unwrap_or("");
        let grantee = if grantee.eq_ignore_ascii_case("public") {
            "PUBLIC".to_owned()
        } else {
            ident(grantee)
        };
        match u.get("type").and_then(Value::as_str).unwrap_or("grant") {
            // :568-569
            "grant" => exec(format!("GRANT USAGE ON {object_type} {} TO {grantee}", ident(object))),
            // :577-578
            "revoke" => exec(format!(
                "REVOKE USAGE ON {object_type} {} FROM {grantee}",
                ident(object)
            )),
            _ => true,
        };
    }
}
