//! Reading and validating a contract file. Every error names the file, the
//! line (where it can be known) and the field, so a broken ConfigMap is
//! fixed in one look.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::file::{API_VERSION, ContractFile, KIND};
use super::{
    Bootstrap, BreakGlass, Consumer, Contract, DEFAULT_ALLOWED_EXTENSIONS, DEFAULT_ALLOWED_IMAGES, SharedCluster,
};
use crate::names::{RESERVED_ROLES, is_reserved_database, is_reserved_role};

/// The break-glass group when the contract names none (and so the platform).
const DEFAULT_BREAK_GLASS_GROUP: &str = "railiance:platform-admins";

/// The seed's apps-pg contract, the default when no file is given.
pub const EMBEDDED_CONTRACT: &str = include_str!("../../deploy/base/contract.yaml");

/// Contract files are small; anything larger is a mistake, not a contract.
const MAX_CONTRACT_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{file}: cannot read the contract: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: the contract is larger than {MAX_CONTRACT_BYTES} bytes")]
    TooLarge { file: String },
    #[error("{file}:{line}:{column}: {field}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    #[error("{file}:{}{field}: {message}", position(*line, *column))]
    Invalid {
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        field: String,
        message: String,
    },
    /// Every problem of a file, one per line, each as above.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ContractError>),
}

/// `line:column: ` (or `line: `) of an error, where known.
fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{l}:{c}: "),
        (Some(l), None) => format!("{l}: "),
        _ => String::new(),
    }
}

impl ContractError {
    /// A short label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ContractError::Io { .. } => "io",
            ContractError::TooLarge { .. } => "too_large",
            ContractError::Syntax { .. } => "syntax",
            ContractError::Invalid { .. } | ContractError::Several(_) => "invalid",
        }
    }
}

/// Reads and validates the contract at `path`.
/// The contract at `path`, or the embedded one.
pub fn load(path: Option<&std::path::Path>) -> Result<Contract, ContractError> {
    match path {
        Some(p) => load_file(p),
        None => Contract::embedded(),
    }
}

pub fn load_file(path: &Path) -> Result<Contract, ContractError> {
    let file = path.display().to_string();
    let io = |source| ContractError::Io {
        file: file.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_CONTRACT_BYTES {
        return Err(ContractError::TooLarge { file });
    }
    let source = std::fs::read_to_string(path).map_err(io)?;
    parse(&source, &file)
}

/// Why a predefined role is never granted to a consumer: it is as good as
/// superuser in CloudNativePG's layout, or it reads or writes every
/// tenant's data.
fn superuser_equivalent(role: &str) -> Option<&'static str> {
    Some(match role {
        "pg_execute_server_program" => {
            "pg_execute_server_program, as good as superuser: COPY ... FROM PROGRAM runs as the server's OS user, \
             which CloudNativePG's `local all all peer map=local` line lets log in as postgres"
        }
        "pg_read_server_files" | "pg_write_server_files" => {
            "a role that reads or writes the server's files (configuration, every tenant's data files)"
        }
        "pg_read_all_data" | "pg_write_all_data" => "a role that reads or writes every tenant's tables",
        _ => return None,
    })
}

/// What a consumer granted a statistics role sees of the others.
fn sees_every_tenant(role: &str) -> Option<&'static str> {
    Some(match role {
        "pg_monitor" | "pg_read_all_stats" => {
            "every tenant's queries (pg_stat_activity, pg_stat_statements) and statistics"
        }
        "pg_stat_scan_tables" => "every tenant's table statistics",
        _ => return None,
    })
}

/// Parses and validates contract text; `file` names it in errors. Every
/// problem of the file is reported at once ([`ContractError::Several`]).
pub fn parse(source: &str, file: &str) -> Result<Contract, ContractError> {
    // YAML syntax first: the typed pass stops at its first missing field,
    // which a syntax error further down (an indentation slip) would
    // otherwise be reported as ("missing field `consumers`").
    if let Err(e) = serde_norway::from_str::<serde::de::IgnoredAny>(source) {
        let location = e.location();
        return Err(ContractError::Syntax {
            file: file.to_owned(),
            line: location.as_ref().map(|l| l.line()).unwrap_or(1),
            column: location.as_ref().map(|l| l.column()).unwrap_or(1),
            field: "(YAML syntax)".to_owned(),
            message: strip_location(&e.to_string()),
        });
    }
    let de = serde_norway::Deserializer::from_str(source);
    let raw: ContractFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let location = e.inner().location();
        let (field, message) = field_and_message(&e.path().to_string(), &strip_location(&e.inner().to_string()));
        ContractError::Syntax {
            file: file.to_owned(),
            line: location.as_ref().map(|l| l.line()).unwrap_or(1),
            column: location.as_ref().map(|l| l.column()).unwrap_or(1),
            field,
            message,
        }
    })?;
    let validator = Validator {
        source,
        file,
        errors: std::cell::RefCell::new(Vec::new()),
        warnings: std::cell::RefCell::new(Vec::new()),
    };
    let result = validator.compile(raw);
    let mut errors = validator.errors.take();
    match result {
        Ok(mut contract) if errors.is_empty() => {
            contract.warnings = validator.warnings.take();
            return Ok(contract);
        }
        Ok(_) => {}
        Err(e) => errors.push(e),
    }
    errors.sort_by_key(|e| match e {
        ContractError::Invalid { line, column, .. } => (line.unwrap_or(0), column.unwrap_or(0)),
        _ => (0, 0),
    });
    Err(if errors.len() == 1 {
        errors.remove(0)
    } else {
        ContractError::Several(errors)
    })
}

/// serde_norway appends "at line X column Y"; we print the location first.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The field and the message of a syntax error, the field named once.
/// serde_norway prefixes its message with its own path, which names map
/// keys that serde_path_to_error cannot (`rules.?` for a rule id key), so
/// its path is preferred.
fn field_and_message(tracked: &str, message: &str) -> (String, String) {
    if let Some((path, rest)) = message.split_once(": ")
        && !path.is_empty()
        && !path.contains(char::is_whitespace)
        && !path.contains('`')
    {
        return (path.to_owned(), rest.to_owned());
    }
    let field = match tracked {
        "." => "(document)".to_owned(),
        p => p.replace(".?", ""),
    };
    (field, message.to_owned())
}

/// One step of a field path: a mapping key or a sequence index.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `sharedClusters[0].consumers[1].role` as steps.
fn steps(field: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    for part in field.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key.to_owned()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
    }
    Some(out)
}

/// The line and column of the value at `field` in `source`, as the YAML
/// parser saw it: the document is walked again to that node, which fails
/// on purpose so that the parser attaches its own position to the error.
/// A field that is not in the file (a default) gets its nearest ancestor's.
fn position_of(source: &str, field: &str) -> Option<(usize, usize)> {
    let mut steps = steps(field)?;
    loop {
        let de = serde_norway::Deserializer::from_str(source);
        if let Err(e) = serde::de::DeserializeSeed::deserialize(Probe(&steps), de)
            && let Some(l) = e.location()
        {
            return Some((l.line(), l.column()));
        }
        steps.pop()?;
    }
}

/// Walks to the node at its path and fails there (see [`position_of`]).
struct Probe<'a>(&'a [Step]);

impl<'de> serde::de::DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the node at the path")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let [Step::Key(want), rest @ ..] = self.0 else {
            return Err(serde::de::Error::custom("here"));
        };
        while let Some(key) = map.next_key::<String>()? {
            if &key == want {
                return map.next_value_seed(Probe(rest));
            }
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let [Step::Index(want), rest @ ..] = self.0 else {
            return Err(serde::de::Error::custom("here"));
        };
        for _ in 0..*want {
            if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Probe(rest)).map(|_| ())
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
}

impl Probe<'_> {
    /// A scalar is the node only when the path ends here.
    fn scalar<E: serde::de::Error>(&self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(E::custom("here"))
        } else {
            Ok(())
        }
    }
}

struct Validator<'a> {
    source: &'a str,
    file: &'a str,
    /// Problems found so far: validation goes on to report them all.
    errors: std::cell::RefCell<Vec<ContractError>>,
    /// What is legal but worth knowing, positioned like an error.
    warnings: std::cell::RefCell<Vec<String>>,
}

impl Validator<'_> {
    /// An error at `field`, positioned where the parser found its value.
    fn invalid(&self, field: impl Into<String>, _value: &str, message: impl Into<String>) -> ContractError {
        let field = field.into();
        let at = position_of(self.source, &field);
        ContractError::Invalid {
            file: self.file.to_owned(),
            line: at.map(|(l, _)| l),
            column: at.map(|(_, c)| c),
            field,
            message: message.into(),
        }
    }

    /// Records a problem and lets validation go on.
    fn report(&self, e: ContractError) {
        self.errors.borrow_mut().push(e);
    }

    fn compile(&self, raw: ContractFile) -> Result<Contract, ContractError> {
        if raw.api_version != API_VERSION {
            self.report(self.invalid(
                "apiVersion",
                &raw.api_version,
                format!("must be {API_VERSION}, found {:?}", raw.api_version),
            ));
        }
        if raw.kind != KIND {
            self.report(self.invalid("kind", &raw.kind, format!("must be {KIND}, found {:?}", raw.kind)));
        }
        if raw.shared_clusters.is_empty() {
            self.report(self.invalid(
                "sharedClusters",
                "sharedClusters",
                "at least one shared cluster is required",
            ));
        }

        // Every subject is the platform's or one consumer's: where each was
        // named first.
        let mut subjects_seen: HashMap<String, String> = HashMap::new();
        // Without `platform`, the break-glass groups administer the clusters.
        let (platform_at, platform_file) = match &raw.platform {
            Some(p) => ("platform", p.clone()),
            None => (
                "breakGlass",
                super::file::SubjectsFile {
                    groups: raw
                        .break_glass
                        .as_ref()
                        .and_then(|b| b.groups.clone())
                        .unwrap_or_else(|| vec![DEFAULT_BREAK_GLASS_GROUP.into()]),
                    ..super::file::SubjectsFile::default()
                },
            ),
        };
        let platform = self.subjects(platform_at, Some(&platform_file), &mut subjects_seen);
        let mut clusters = Vec::with_capacity(raw.shared_clusters.len());
        let mut seen = HashSet::new();
        for (i, c) in raw.shared_clusters.into_iter().enumerate() {
            let at = format!("sharedClusters[{i}]");
            self.dns_label(&format!("{at}.name"), &c.name)?;
            self.dns_label(&format!("{at}.namespace"), &c.namespace)?;
            if !seen.insert((c.namespace.clone(), c.name.clone())) {
                self.report(self.invalid(
                    format!("{at}.name"),
                    &c.name,
                    format!("cluster {}/{} is listed twice", c.namespace, c.name),
                ));
            }
            let name = c.name.clone();
            let subst = |s: &str| s.replace("apps-pg", &name);
            // CloudNativePG's own defaults for `spec.bootstrap.initdb`: owner
            // and database `app`, its Secret `<cluster>-app`. A contract for a
            // cluster bootstrapped otherwise (the seed's apps_admin) says so.
            let b = c.bootstrap.unwrap_or_default();
            let bootstrap = Bootstrap {
                role: b.role.unwrap_or_else(|| "app".into()),
                database: b.database.unwrap_or_else(|| "app".into()),
                secret: b.secret.unwrap_or_else(|| format!("{name}-app")),
            };
            self.pg_identifier(&format!("{at}.bootstrap.role"), &bootstrap.role)?;
            self.pg_identifier(&format!("{at}.bootstrap.database"), &bootstrap.database)?;
            self.dns_subdomain(&format!("{at}.bootstrap.secret"), &bootstrap.secret)?;

            let identity_label = c.identity_label.unwrap_or_else(|| {
                BTreeMap::from([("railiance.io/role".to_owned(), "shared-apps-database".to_owned())])
            });
            if identity_label.is_empty() {
                self.report(self.invalid(
                    format!("{at}.identityLabel"),
                    "identityLabel",
                    "must hold at least one label",
                ));
            }
            let client_label = c.client_label.unwrap_or_else(|| "railiance.io/postgres-client".into());
            if client_label.is_empty() {
                self.report(self.invalid(format!("{at}.clientLabel"), "clientLabel", "must not be empty"));
            }
            let operator_namespace = c.operator_namespace.unwrap_or_else(|| "cnpg-system".into());
            self.dns_label(&format!("{at}.operatorNamespace"), &operator_namespace)?;
            let default_deny_policy = c.default_deny_policy.unwrap_or_else(|| "default-deny-all".into());
            let baseline_policies = c.baseline_policies.unwrap_or_else(|| {
                [
                    "allow-egress-kube-api-apps-pg",
                    "allow-ingress-from-cnpg-operator-apps-pg",
                    "allow-ingress-from-app-namespaces-apps-pg",
                ]
                .iter()
                .map(|p| subst(p))
                .collect()
            });

            let allowed_extensions = match c.allowed_extensions {
                Some(list) => {
                    for (e, ext) in list.iter().enumerate() {
                        if ext.is_empty() || ext.len() > 63 || ext.chars().any(char::is_whitespace) {
                            self.report(self.invalid(
                                format!("{at}.allowedExtensions[{e}]"),
                                ext,
                                format!("{ext:?} is not an extension name"),
                            ));
                        }
                    }
                    list.into_iter().collect()
                }
                None => DEFAULT_ALLOWED_EXTENSIONS.iter().map(|e| (*e).to_owned()).collect(),
            };

            // Each entry canonical (host lower-cased, `:443` dropped), so
            // that matching is a plain prefix test at a `/` boundary.
            let allowed_images = c
                .allowed_images
                .unwrap_or_else(|| DEFAULT_ALLOWED_IMAGES.iter().map(|p| (*p).to_owned()).collect())
                .iter()
                .enumerate()
                .filter_map(|(e, entry)| match crate::names::image_prefix(entry) {
                    Ok(prefix) => Some(prefix),
                    Err(why) => {
                        self.report(self.invalid(format!("{at}.allowedImages[{e}]"), entry, why));
                        None
                    }
                })
                .collect();

            let allowed_certificate_secrets = c.allowed_certificate_secrets.unwrap_or_default();
            for (e, secret) in allowed_certificate_secrets.iter().enumerate() {
                let field = format!("{at}.allowedCertificateSecrets[{e}]");
                self.dns_subdomain(&field, secret)?;
                let credential = secret == &bootstrap.secret
                    || secret
                        .strip_prefix(c.name.as_str())
                        .is_some_and(|rest| matches!(rest, "-superuser" | "-app"));
                if credential {
                    self.report(self.invalid(
                        field,
                        secret,
                        format!("{secret:?} holds a role's password, not a certificate"),
                    ));
                }
            }

            // Lower case, so that matching ignores case as host names do.
            let auth_servers: Vec<String> = c
                .auth_servers
                .unwrap_or_default()
                .iter()
                .enumerate()
                .filter_map(|(e, host)| match auth_server(host) {
                    Ok(host) => Some(host),
                    Err(why) => {
                        self.report(self.invalid(format!("{at}.authServers[{e}]"), host, why));
                        None
                    }
                })
                .collect();

            let mut consumers = Vec::with_capacity(c.consumers.len());
            let mut roles: HashMap<String, usize> = HashMap::new();
            let mut namespaces: HashMap<String, usize> = HashMap::new();
            let mut databases: HashMap<String, usize> = HashMap::new();
            let mut secrets: HashMap<String, usize> = HashMap::new();
            for (j, k) in c.consumers.into_iter().enumerate() {
                let at = format!("{at}.consumers[{j}]");
                self.dns_label(&format!("{at}.namespace"), &k.namespace)?;
                self.pg_identifier(&format!("{at}.role"), &k.role)?;
                if is_reserved_role(&k.role, &bootstrap.role) {
                    self.report(self.invalid(
                        format!("{at}.role"),
                        &k.role,
                        format!("{:?} is reserved ({RESERVED_ROLES})", k.role),
                    ));
                }
                if k.namespace == c.namespace {
                    self.report(self.invalid(
                        format!("{at}.namespace"),
                        &k.namespace,
                        "a consumer cannot live in the shared namespace",
                    ));
                }
                if let Some(other) = roles.insert(k.role.clone(), j) {
                    self.report(self.invalid(
                        format!("{at}.role"),
                        &k.role,
                        format!("role {:?} is already registered by consumers[{other}]", k.role),
                    ));
                }
                if let Some(other) = namespaces.insert(k.namespace.clone(), j) {
                    self.report(self.invalid(
                        format!("{at}.namespace"),
                        &k.namespace,
                        format!(
                            "namespace {:?} is already registered by consumers[{other}]",
                            k.namespace
                        ),
                    ));
                }
                for (d, db) in k.databases.iter().enumerate() {
                    let field = format!("{at}.databases[{d}]");
                    self.pg_identifier(&field, db)?;
                    if is_reserved_database(db, &bootstrap.database) {
                        self.report(self.invalid(field.clone(), db, format!("database {db:?} is reserved")));
                    }
                    if let Some(other) = databases.insert(db.clone(), j) {
                        self.report(self.invalid(
                            field,
                            db,
                            format!("database {db:?} is already registered by consumers[{other}]"),
                        ));
                    }
                }
                if let Some(secret) = &k.password_secret {
                    let field = format!("{at}.passwordSecret");
                    self.dns_subdomain(&field, secret)?;
                    let generated = secret
                        .strip_prefix(c.name.as_str())
                        .is_some_and(|rest| matches!(rest, "-superuser" | "-app" | "-replication" | "-ca" | "-server"));
                    if *secret == bootstrap.secret || generated {
                        self.report(self.invalid(
                            field.clone(),
                            secret,
                            format!("{secret:?} is a credential of the cluster itself, not a role's own Secret"),
                        ));
                    }
                    if let Some(other) = secrets.insert(secret.clone(), j) {
                        self.report(self.invalid(
                            field,
                            secret,
                            format!("Secret {secret:?} is already the passwordSecret of consumers[{other}]"),
                        ));
                    }
                }
                consumers.push(Consumer {
                    namespace: k.namespace,
                    role: k.role,
                    databases: k.databases,
                    member_of: k.member_of,
                    password_secret: k.password_secret,
                    logical_replication: k.logical_replication,
                    subjects: self.subjects(&format!("{at}.subjects"), k.subjects.as_ref(), &mut subjects_seen),
                });
            }
            // Memberships are checked once every consumer role is known.
            for (j, k) in consumers.iter().enumerate() {
                for (m, member) in k.member_of.iter().enumerate() {
                    let field = format!("{at}.consumers[{j}].memberOf[{m}]");
                    self.pg_identifier(&field, member)?;
                    let why = if member == &bootstrap.role {
                        Some("the bootstrap role".to_owned())
                    } else if matches!(member.as_str(), "postgres" | "streaming_replica") {
                        Some("a role CloudNativePG reserves".to_owned())
                    } else if let Some(&other) = roles.get(member.as_str()).filter(|&&o| o != j) {
                        Some(format!("the role of consumers[{other}]"))
                    } else if member == &k.role {
                        Some("the consumer's own role".to_owned())
                    } else {
                        superuser_equivalent(member).map(str::to_owned)
                    };
                    if let Some(sees) = sees_every_tenant(member) {
                        let w = self.invalid(
                            field.clone(),
                            member,
                            format!("{member:?} lets consumer {} see {sees}", k.namespace),
                        );
                        self.warnings.borrow_mut().push(w.to_string());
                    }
                    if let Some(why) = why {
                        self.report(self.invalid(
                            field,
                            member,
                            format!("{member:?} is {why}: a consumer may not be granted it"),
                        ));
                    }
                }
            }
            clusters.push(SharedCluster::build(
                c.name,
                c.namespace,
                identity_label,
                bootstrap,
                client_label,
                operator_namespace,
                default_deny_policy,
                baseline_policies,
                allowed_extensions,
                allowed_images,
                allowed_certificate_secrets,
                auth_servers,
                consumers,
            ));
        }

        let bg = raw.break_glass.unwrap_or_default();
        let break_glass = BreakGlass {
            annotation: bg
                .annotation
                .unwrap_or_else(|| "cnpg-guard.railiance.io/break-glass".into()),
            groups: bg
                .groups
                .unwrap_or_else(|| vec![DEFAULT_BREAK_GLASS_GROUP.into()])
                .into_iter()
                .collect(),
        };
        let exempt_users = raw
            .exempt_users
            .unwrap_or_else(|| vec!["system:serviceaccount:cnpg-system:cnpg-manager".into()])
            .into_iter()
            .collect();
        let revision = {
            let digest = Sha256::digest(self.source.as_bytes());
            digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
        };
        Ok(Contract::build(
            clusters,
            break_glass,
            exempt_users,
            platform,
            raw.unknown_requesters.unwrap_or_default(),
            raw.rules.into_iter().collect(),
            revision,
        ))
    }

    /// Subjects at `at`, each checked: a non-empty user or group, a
    /// ServiceAccount as `namespace:name`; one named elsewhere already (the
    /// platform's, or another consumer's) is an error.
    fn subjects(
        &self,
        at: &str,
        file: Option<&super::file::SubjectsFile>,
        seen: &mut HashMap<String, String>,
    ) -> super::Subjects {
        let mut out = super::Subjects::default();
        let Some(file) = file else { return out };
        let mut claim = |field: String, key: String, value: &str| {
            if let Some(first) = seen.get(&key) {
                self.report(self.invalid(
                    field,
                    value,
                    format!("{value:?} is already a subject at {first}: a subject belongs to the platform or to one consumer"),
                ));
                false
            } else {
                seen.insert(key, field);
                true
            }
        };
        for (i, user) in file.users.iter().enumerate() {
            let field = format!("{at}.users[{i}]");
            if user.trim().is_empty() {
                self.report(self.invalid(field, user, "a user name cannot be empty"));
            } else if claim(field, format!("user:{user}"), user) {
                out.users.insert(user.clone());
            }
        }
        for (i, group) in file.groups.iter().enumerate() {
            let field = format!("{at}.groups[{i}]");
            if group.trim().is_empty() {
                self.report(self.invalid(field, group, "a group name cannot be empty"));
            } else if claim(field, format!("group:{group}"), group) {
                out.groups.insert(group.clone());
            }
        }
        for (i, sa) in file.service_accounts.iter().enumerate() {
            let field = format!("{at}.serviceAccounts[{i}]");
            match sa.split_once(':') {
                Some((ns, name)) if crate::names::is_dns_label(ns) && crate::names::is_dns_subdomain(name) => {
                    let user = format!("system:serviceaccount:{ns}:{name}");
                    if claim(field, format!("user:{user}"), sa) {
                        out.users.insert(user);
                    }
                }
                _ => self.report(self.invalid(field, sa, format!("{sa:?} is not a ServiceAccount as namespace:name"))),
            }
        }
        out
    }

    fn dns_label(&self, field: &str, value: &str) -> Result<(), ContractError> {
        if crate::names::is_dns_label(value) {
            Ok(())
        } else {
            self.report(self.invalid(field, value, format!("{value:?} is not a valid DNS label (RFC 1123)")));
            Ok(())
        }
    }

    fn dns_subdomain(&self, field: &str, value: &str) -> Result<(), ContractError> {
        if crate::names::is_dns_subdomain(value) {
            Ok(())
        } else {
            self.report(self.invalid(field, value, format!("{value:?} is not a valid object name")));
            Ok(())
        }
    }

    fn pg_identifier(&self, field: &str, value: &str) -> Result<(), ContractError> {
        if crate::names::is_pg_identifier(value) {
            Ok(())
        } else {
            self.report(self.invalid(
                field,
                value,
                format!("{value:?} is not a plain PostgreSQL identifier (a-z, 0-9, _; at most 63 bytes)"),
            ));
            Ok(())
        }
    }
}

/// An `authServers` entry: a host name or an IP address, as pg_hba's
/// `ldapserver`/`radiusservers` and `spec.postgresql.ldap.server` name a
/// server (no scheme, port or list), returned in lower case.
fn auth_server(host: &str) -> Result<String, String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(host.to_ascii_lowercase());
    }
    let lower = host.to_ascii_lowercase();
    if crate::names::is_dns_subdomain(&lower) {
        Ok(lower)
    } else {
        Err(format!(
            "{host:?} is not a host name or IP address (no scheme, port, path or list)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_contract_is_the_seed() {
        let c = Contract::embedded().unwrap();
        let apps = c.cluster("databases", "apps-pg").unwrap();
        assert_eq!(apps.bootstrap.role, "apps_admin");
        assert_eq!(apps.bootstrap.secret, "apps-pg-credentials");
        assert_eq!(apps.consumer_by_role("vergabe").unwrap().namespace, "vergabe-teilnahme");
        assert!(
            c.exempt_users
                .contains("system:serviceaccount:cnpg-system:cnpg-manager")
        );
    }

    #[test]
    fn defaults_substitute_the_cluster_name() {
        let c = parse(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: shop-pg\n  namespace: db\n  consumers: []\n",
            "t.yaml",
        )
        .unwrap();
        let s = c.cluster("db", "shop-pg").unwrap();
        // Without `bootstrap`: CloudNativePG's initdb defaults.
        assert_eq!(
            (
                s.bootstrap.role.as_str(),
                s.bootstrap.database.as_str(),
                s.bootstrap.secret.as_str()
            ),
            ("app", "app", "shop-pg-app")
        );
        assert_eq!(s.baseline_policies[2], "allow-ingress-from-app-namespaces-shop-pg");
        assert_eq!(s.client_label, "railiance.io/postgres-client");
        assert_eq!(s.default_deny_policy, "default-deny-all");
    }

    #[test]
    fn syntax_error_names_file_line_and_field() {
        let src = "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  consumers:\n  - namespace: a\n    role: a\n    databases: nope\n";
        let e = parse(src, "c.yaml").unwrap_err().to_string();
        assert!(e.starts_with("c.yaml:9:"), "{e}");
        assert!(e.contains("sharedClusters[0].consumers[0].databases"), "{e}");
    }

    /// A YAML syntax error is reported as one, where the parser found it,
    /// not as the field the typed pass missed before reaching it.
    #[test]
    fn a_yaml_syntax_error_is_reported_as_one() {
        let src = "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n  - name: apps-pg\n    namespace: databases\n   consumers: []\n";
        let e = parse(src, "c.yaml").unwrap_err().to_string();
        assert!(e.starts_with("c.yaml:6:"), "{e}");
        assert!(e.contains("(YAML syntax)"), "{e}");
        assert!(!e.contains("missing field"), "{e}");
    }

    #[test]
    fn unknown_field_is_refused() {
        let src = "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  consumer: []\n";
        let e = parse(src, "c.yaml").unwrap_err().to_string();
        assert!(e.contains("unknown field `consumer`"), "{e}");
        assert!(e.contains("sharedClusters[0]"), "{e}");
    }

    #[test]
    fn duplicate_role_names_line_and_field() {
        let src = "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  consumers:\n  - {namespace: a, role: shop, databases: [a]}\n  - {namespace: b, role: shop, databases: [b]}\n";
        let e = parse(src, "c.yaml").unwrap_err();
        assert!(
            matches!(&e, ContractError::Invalid { field, .. } if field == "sharedClusters[0].consumers[1].role"),
            "{e}"
        );
    }

    #[rstest::rstest]
    #[case::bootstrap_role("app", Some("the bootstrap role"))]
    #[case::postgres("postgres", Some("a role CloudNativePG reserves"))]
    #[case::streaming_replica("streaming_replica", Some("a role CloudNativePG reserves"))]
    #[case::another_consumer("vergabe", Some("the role of consumers[0]"))]
    #[case::own_role("shop", Some("the consumer's own role"))]
    #[case::not_an_identifier("Pg-Monitor", Some("not a plain PostgreSQL identifier"))]
    #[case::execute_server_program("pg_execute_server_program", Some("as good as superuser"))]
    #[case::read_server_files("pg_read_server_files", Some("reads or writes the server's files"))]
    #[case::write_server_files("pg_write_server_files", Some("reads or writes the server's files"))]
    #[case::read_all_data("pg_read_all_data", Some("every tenant's tables"))]
    #[case::write_all_data("pg_write_all_data", Some("every tenant's tables"))]
    #[case::predefined_role("pg_monitor", None)]
    #[case::read_all_stats("pg_read_all_stats", None)]
    #[case::stat_scan_tables("pg_stat_scan_tables", None)]
    #[case::signal_backend("pg_signal_backend", None)]
    fn member_of_is_checked_at_load(#[case] member: &str, #[case] refused: Option<&str>) {
        let src = format!(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  consumers:\n  - {{namespace: a, role: vergabe, databases: [a]}}\n  - namespace: b\n    role: shop\n    databases: [b]\n    memberOf: [{member}]\n"
        );
        match (parse(&src, "c.yaml"), refused) {
            (Ok(c), None) => {
                let apps = c.cluster("databases", "apps-pg").unwrap();
                assert_eq!(apps.consumer_by_role("shop").unwrap().member_of, [member]);
                assert!(apps.consumer_by_role("vergabe").unwrap().member_of.is_empty());
            }
            (Err(e), Some(why)) => {
                let text = e.to_string();
                assert!(
                    matches!(&e, ContractError::Invalid { field, line: Some(11), .. }
                        if field == "sharedClusters[0].consumers[1].memberOf[0]"),
                    "{text}"
                );
                assert!(text.contains(why), "{text}");
            }
            (other, _) => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[rstest::rstest]
    #[case::own_name("vergabe-login", None)]
    #[case::bootstrap_secret("apps-pg-credentials", Some("a credential of the cluster itself"))]
    #[case::generated_secret("apps-pg-superuser", Some("a credential of the cluster itself"))]
    #[case::taken_by_another(
        "shop-login",
        Some("consumers[1].passwordSecret: Secret \"shop-login\" is already the passwordSecret of consumers[0]")
    )]
    #[case::not_a_name("Bad_Name", Some("sharedClusters[0].consumers[1].passwordSecret"))]
    fn password_secret_is_checked_at_load(#[case] secret: &str, #[case] refused: Option<&str>) {
        let src = format!(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  bootstrap: {{role: apps_admin, database: apps_meta, secret: apps-pg-credentials}}\n  consumers:\n  - namespace: b\n    role: shop\n    databases: [b]\n    passwordSecret: shop-login\n  - {{namespace: a, role: vergabe, databases: [a], passwordSecret: {secret}}}\n"
        );
        match (parse(&src, "c.yaml"), refused) {
            (Ok(c), None) => {
                let apps = c.cluster("databases", "apps-pg").unwrap();
                assert_eq!(apps.consumer_by_role("vergabe").unwrap().role_secret("apps-pg"), secret);
                assert_eq!(apps.consumer_by_role_secret("shop-login").unwrap().role, "shop");
                assert!(apps.consumer_by_role_secret("apps-pg-role-shop").is_none());
            }
            (Err(e), Some(why)) => assert!(e.to_string().contains(why), "{e}"),
            (other, _) => panic!("{:?}", other.map(|_| ())),
        }
    }

    /// Identities: the platform (default: the break-glass groups) and each
    /// consumer's subjects; a subject in two places is an error with its
    /// file, line and field; a requester is matched by user, group or
    /// ServiceAccount.
    #[rstest::rstest]
    #[case::ok("", "{serviceAccounts: ['b:flux'], groups: [team-b]}", None)]
    #[case::twice_in_consumers(
        "",
        "{users: [bob]}",
        Some(("sharedClusters[0].consumers[1].subjects.users[0]", 14, "already a subject at sharedClusters[0].consumers[0].subjects.users[0]"))
    )]
    #[case::consumer_and_platform(
        "platform: {groups: [ops]}\n",
        "{groups: [ops]}",
        Some(("sharedClusters[0].consumers[1].subjects.groups[0]", 15, "already a subject at platform.groups[0]"))
    )]
    #[case::consumer_and_default_platform(
        "",
        "{groups: ['railiance:platform-admins']}",
        Some(("sharedClusters[0].consumers[1].subjects.groups[0]", 14, "already a subject at breakGlass.groups[0]"))
    )]
    #[case::bad_service_account(
        "",
        "{serviceAccounts: [flux]}",
        Some(("sharedClusters[0].consumers[1].subjects.serviceAccounts[0]", 14, "not a ServiceAccount as namespace:name"))
    )]
    fn identities_are_checked_at_load(
        #[case] platform: &str,
        #[case] subjects: &str,
        #[case] refused: Option<(&str, usize, &str)>,
    ) {
        let src = format!(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\n{platform}sharedClusters:\n- name: apps-pg\n  namespace: databases\n  consumers:\n  - namespace: a\n    role: vergabe\n    databases: [a]\n    subjects: {{users: [bob]}}\n  - namespace: b\n    role: shop\n    databases: [b]\n    subjects: {subjects}\n"
        );
        match (parse(&src, "c.yaml"), refused) {
            (Ok(c), None) => {
                use super::super::Identity;
                assert_eq!(c.identity("bob", &[]), Identity::Consumer("a".into()));
                assert_eq!(
                    c.identity("system:serviceaccount:b:flux", &[]),
                    Identity::Consumer("b".into())
                );
                assert_eq!(c.identity("carol", &["team-b".into()]), Identity::Consumer("b".into()));
                assert_eq!(
                    c.identity("alice", &["railiance:platform-admins".into()]),
                    Identity::Platform
                );
                assert_eq!(
                    c.identity("bob", &["railiance:platform-admins".into()]),
                    Identity::Platform,
                    "a platform group makes a consumer's subject the platform"
                );
                assert_eq!(c.identity("system:serviceaccount:b:other", &[]), Identity::Unknown);
                assert_eq!(
                    c.identity("kubernetes-admin", &["system:masters".into()]),
                    Identity::Platform,
                    "system:masters is always the platform's"
                );
                for controller in [
                    "system:serviceaccount:cnpg-system:cnpg-manager",
                    "system:serviceaccount:kube-system:generic-garbage-collector",
                    "system:serviceaccount:kube-system:namespace-controller",
                ] {
                    assert_eq!(c.identity(controller, &[]), Identity::Controller, "{controller}");
                }
                assert!(matches!(c.requester("", &[]), super::super::Requester::Nobody));
                assert_eq!(c.unknown_requesters, super::super::UnknownRequesters::Deny);
            }
            (Err(e), Some((field, line, why))) => {
                let text = e.to_string();
                let found = match &e {
                    ContractError::Several(all) => all.iter().any(|e| {
                        matches!(e, ContractError::Invalid { field: f, line: Some(l), .. } if f == field && *l == line)
                    }),
                    ContractError::Invalid { field: f, line: Some(l), .. } => f == field && *l == line,
                    _ => false,
                };
                assert!(found, "{field} at line {line}: {text}");
                assert!(text.contains(why), "{text}");
            }
            (other, _) => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn unknown_requesters_is_deny_or_allow() {
        let base = "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters: [{name: apps-pg, namespace: databases, consumers: []}]\n";
        let allow = parse(&format!("{base}unknownRequesters: allow\n"), "c.yaml").unwrap();
        assert_eq!(allow.unknown_requesters, super::super::UnknownRequesters::Allow);
        let e = parse(&format!("{base}unknownRequesters: maybe\n"), "c.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.yaml:4") && e.contains("unknownRequesters") && e.contains("deny"),
            "{e}"
        );
    }

    #[rstest::rstest]
    #[case::monitor("pg_monitor", Some("every tenant's queries"))]
    #[case::stats("pg_read_all_stats", Some("every tenant's queries"))]
    #[case::scans("pg_stat_scan_tables", Some("every tenant's table statistics"))]
    #[case::none("pg_signal_backend", None)]
    fn statistics_roles_are_accepted_with_a_warning(#[case] member: &str, #[case] warned: Option<&str>) {
        let src = format!(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  consumers:\n  - namespace: b\n    role: shop\n    databases: [b]\n    memberOf: [{member}]\n"
        );
        let c = parse(&src, "c.yaml").unwrap();
        match warned {
            Some(what) => {
                assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
                let w = &c.warnings[0];
                assert!(w.starts_with("c.yaml:10:"), "{w}");
                assert!(
                    w.contains("sharedClusters[0].consumers[0].memberOf[0]") && w.contains(what),
                    "{w}"
                );
            }
            None => assert!(c.warnings.is_empty(), "{:?}", c.warnings),
        }
    }

    #[test]
    fn allowed_extensions_default_to_the_trusted_modules() {
        let c = Contract::embedded().unwrap();
        let apps = c.cluster("databases", "apps-pg").unwrap();
        assert!(apps.allowed_extensions.contains("pgcrypto") && apps.allowed_extensions.contains("uuid-ossp"));
        assert!(!apps.allowed_extensions.contains("dblink") && !apps.allowed_extensions.contains("plpython3u"));
        assert_eq!(apps.allowed_extensions.len(), 22);
        let e = parse(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  allowedExtensions: [pgcrypto, 'bad name']\n  consumers: []\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(
            matches!(&e, ContractError::Invalid { field, line: Some(6), .. } if field == "sharedClusters[0].allowedExtensions[1]"),
            "{e}"
        );
    }

    #[test]
    fn allowed_images_default_to_cloudnative_pgs_registry_path() {
        let c = Contract::embedded().unwrap();
        let apps = c.cluster("databases", "apps-pg").unwrap();
        assert_eq!(apps.allowed_images, ["ghcr.io/cloudnative-pg/"]);
        assert!(apps.allows_image("ghcr.io/cloudnative-pg/postgresql:16"));
        assert!(apps.allows_image("ghcr.io/cloudnative-pg/pgbouncer:1.25.1"));
        assert!(!apps.allows_image("ghcr.io/cloudnative-pg.evil.example/postgresql:16"));
        assert!(!apps.allows_image("postgres:16"));
    }

    #[test]
    fn allowed_images_are_canonical_and_an_empty_list_allows_none() {
        let c = parse(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  allowedImages: ['Mirror.Example.NET:443/cnpg/', docker.io/library/postgres]\n  consumers: []\n- name: b-pg\n  namespace: b\n  allowedImages: []\n  consumers: []\n",
            "c.yaml",
        )
        .unwrap();
        let apps = c.cluster("databases", "apps-pg").unwrap();
        assert_eq!(
            apps.allowed_images,
            ["mirror.example.net/cnpg/", "docker.io/library/postgres"]
        );
        assert!(apps.allows_image("mirror.example.net/cnpg/postgresql:16"));
        assert!(apps.allows_image("postgres:16"));
        assert!(!apps.allows_image("ghcr.io/cloudnative-pg/postgresql:16"));
        assert!(
            !c.cluster("b", "b-pg")
                .unwrap()
                .allows_image("ghcr.io/cloudnative-pg/postgresql:16")
        );
    }

    #[rstest::rstest]
    #[case::empty("''", "must not be empty")]
    #[case::whitespace("'ghcr.io/cloudnative-pg/ x'", "contains whitespace")]
    #[case::digest("'ghcr.io/cloudnative-pg/postgresql@sha256:0'", "names a digest")]
    #[case::tag("'ghcr.io/cloudnative-pg/postgresql:16'", "names a tag")]
    #[case::no_path("ghcr.io", "has no path")]
    #[case::no_host("cloudnative-pg/", "does not start with a registry host")]
    fn allowed_images_are_checked_at_load(#[case] entry: &str, #[case] why: &str) {
        let src = format!(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  allowedImages:\n    - ghcr.io/cloudnative-pg/\n    - {entry}\n  consumers: []\n"
        );
        let e = parse(&src, "c.yaml").unwrap_err();
        assert!(
            matches!(&e, ContractError::Invalid { field, line: Some(8), .. } if field == "sharedClusters[0].allowedImages[1]"),
            "{e}"
        );
        assert!(e.to_string().contains(why), "{e}");
    }

    #[test]
    fn bad_api_version_and_mode() {
        let e = parse(
            "apiVersion: v1\nkind: Contract\nsharedClusters: [{name: a, namespace: b, consumers: []}]\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(
            matches!(&e, ContractError::Invalid { field, line: Some(1), column: Some(13), .. } if field == "apiVersion"),
            "{e}"
        );
        let e = parse(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters: []\nrules: {network-posture: loud}\n",
            "c.yaml",
        )
        .unwrap_err();
        assert!(matches!(&e, ContractError::Syntax { line: 4, .. }), "{e}");
    }

    /// Semantic errors point at the offending value as the parser saw it
    /// (not the first text that looks like it), all of them at once.
    #[test]
    fn every_semantic_error_at_its_value() {
        let src = "apiVersion: cnpg-guard.railiance.io/v1alpha1
kind: Contract
sharedClusters:
- name: apps-pg
  namespace: databases
  consumers:
  - {namespace: shop, role: shop, databases: [shop]}
  - {namespace: shop, role: shop, databases: [shop, postgres]}
  - namespace: other
    role: app
    databases:
      - template1
";
        let e = parse(src, "c.yaml").unwrap_err();
        let ContractError::Several(errors) = &e else {
            panic!("{e}")
        };
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "c.yaml:8:17: sharedClusters[0].consumers[1].namespace: namespace \"shop\" is already registered by consumers[0]",
                "c.yaml:8:29: sharedClusters[0].consumers[1].role: role \"shop\" is already registered by consumers[0]",
                "c.yaml:8:47: sharedClusters[0].consumers[1].databases[0]: database \"shop\" is already registered by consumers[0]",
                "c.yaml:8:53: sharedClusters[0].consumers[1].databases[1]: database \"postgres\" is reserved",
                &format!("c.yaml:10:11: sharedClusters[0].consumers[2].role: \"app\" is reserved ({RESERVED_ROLES})"),
                "c.yaml:12:9: sharedClusters[0].consumers[2].databases[0]: database \"template1\" is reserved",
            ]
        );
        assert_eq!(e.to_string().lines().count(), 6);
    }

    /// Each field path is printed once, and a rule id key is named.
    #[test]
    fn syntax_errors_name_the_field_once() {
        let src = "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters: []\nrules: {network-posture: loud}\n";
        let e = parse(src, "c.yaml").unwrap_err().to_string();
        assert!(
            e.starts_with("c.yaml:4:26: rules.network-posture: unknown variant `loud`"),
            "{e}"
        );
        assert_eq!(e.matches("rules").count(), 1, "{e}");
        let src = "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters: []\nrules: {nonsense: warn}\n";
        let e = parse(src, "c.yaml").unwrap_err().to_string();
        assert!(!e.contains('?'), "{e}");
        assert!(e.starts_with("c.yaml:4:9: rules: unknown variant `nonsense`"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for src in ["", "\u{0}\u{1}", "[1, 2", "- a\n- b\n", "apiVersion: [", "{{{{"] {
            assert!(parse(src, "g.yaml").is_err(), "{src:?}");
        }
    }
    #[test]
    fn certificate_secrets_and_auth_servers_default_to_none() {
        let c = Contract::embedded().unwrap();
        let apps = c.cluster("databases", "apps-pg").unwrap();
        assert!(apps.allowed_certificate_secrets.is_empty() && apps.auth_servers.is_empty());
        assert!(apps.allows_certificate_secret("clientCASecret", "apps-pg-ca"));
        assert!(apps.allows_certificate_secret("replicationTLSSecret", "apps-pg-replication"));
        assert!(!apps.allows_certificate_secret("clientCASecret", "apps-pg-server"));
        assert!(!apps.allows_auth_server("ldap.example.com"));
    }

    #[test]
    fn certificate_secrets_and_auth_servers_are_read() {
        let c = parse(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  allowedCertificateSecrets: [apps-pg-corp-ca]\n  authServers: [LDAP.corp.example, 10.0.0.5, 'fd00::5']\n  consumers: []\n",
            "c.yaml",
        )
        .unwrap();
        let apps = c.cluster("databases", "apps-pg").unwrap();
        assert!(apps.allows_certificate_secret("serverCASecret", "apps-pg-corp-ca"));
        assert!(apps.allows_auth_server("ldap.corp.example") && apps.allows_auth_server("Ldap.Corp.Example"));
        assert!(apps.allows_auth_server("10.0.0.5") && apps.allows_auth_server("fd00::5"));
        assert!(!apps.allows_auth_server("ldap.evil.example"));
    }

    #[rstest::rstest]
    #[case::url("authServers", "'ldaps://ldap.corp.example'", "is not a host name")]
    #[case::port("authServers", "'ldap.corp.example:636'", "is not a host name")]
    #[case::list("authServers", "'a.example b.example'", "is not a host name")]
    #[case::empty("authServers", "''", "is not a host name")]
    #[case::bad_name("allowedCertificateSecrets", "Corp_CA", "is not a valid object name")]
    #[case::superuser("allowedCertificateSecrets", "apps-pg-superuser", "holds a role's password")]
    #[case::bootstrap("allowedCertificateSecrets", "apps-pg-credentials", "holds a role's password")]
    fn certificate_secrets_and_auth_servers_are_checked_at_load(
        #[case] key: &str,
        #[case] entry: &str,
        #[case] why: &str,
    ) {
        let src = format!(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  bootstrap: {{role: apps_admin, database: apps_meta, secret: apps-pg-credentials}}\n  {key}:\n    - {entry}\n  consumers: []\n"
        );
        let e = parse(&src, "c.yaml").unwrap_err();
        let expected = format!("sharedClusters[0].{key}[0]");
        assert!(
            matches!(&e, ContractError::Invalid { field, line: Some(8), .. } if *field == expected),
            "{e}"
        );
        assert!(e.to_string().contains(why), "{e}");
    }
}
