//! Name grammars: Kubernetes object names and plain PostgreSQL identifiers.

/// RFC 1123 label: what namespaces and cluster names must be.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: what most object names (Secrets, policies) must be.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A PostgreSQL identifier that needs no quoting: lower-case letter or
/// underscore first, then letters, digits, underscores; at most 63 bytes.
pub fn is_pg_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_lowercase() || b == b'_' => {}
        _ => return false,
    }
    s.len() <= 63 && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Role names no consumer may have: the cluster's bootstrap role, and what
/// CloudNativePG reserves (`postgres`, `streaming_replica`, `cnpg_*`, `pg_*`;
/// see the CNPG CRDs). The one policy the contract loader, the rules and
/// `onboard` share.
pub fn is_reserved_role(name: &str, bootstrap_role: &str) -> bool {
    name == bootstrap_role || is_reserved_by_cnpg(name)
}

/// Database names no consumer may own: the bootstrap database, what
/// CloudNativePG reserves, and the templates.
pub fn is_reserved_database(name: &str, bootstrap_database: &str) -> bool {
    name == bootstrap_database || is_reserved_by_cnpg(name) || matches!(name, "template0" | "template1")
}

/// What [`is_reserved_role`] refuses, in words.
pub const RESERVED_ROLES: &str = "the bootstrap role, postgres, streaming_replica, cnpg_*, pg_*";
/// What [`is_reserved_database`] refuses, in words.
pub const RESERVED_DATABASES: &str = "the bootstrap database, postgres, template0/1, cnpg_*, pg_*";

/// Names CloudNativePG reserves for itself.
fn is_reserved_by_cnpg(name: &str) -> bool {
    matches!(name, "postgres" | "streaming_replica") || name.starts_with("cnpg_") || name.starts_with("pg_")
}

/// The registry host of an image reference, canonical: lower-cased (host
/// names are case-insensitive; the reference grammar allows upper case
/// there), without the default HTTPS port `:443` (the same server and
/// certificate), Docker Hub's old `index.docker.io` as `docker.io`. `None`
/// when it is no host name (with an optional numeric port).
fn canonical_host(host: &str) -> Option<String> {
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !name.split('.').all(label_ok) {
        return None;
    }
    let name = match name.to_ascii_lowercase() {
        n if n == "index.docker.io" => "docker.io".to_owned(),
        n => n,
    };
    match port {
        None | Some("443") => Some(name),
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(format!("{name}:{p}"))
        }
        Some(_) => None,
    }
}

/// Whether the first component of a reference is a registry host, as the
/// kubelet's reference parser decides it (distribution/reference
/// `splitDockerDomain`): it holds `.` or `:`, is `localhost`, or has upper
/// case; otherwise the image is on Docker Hub.
fn is_registry_host(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// One path component of a repository: `[a-z0-9]+` runs joined by `.`,
/// `_`, `__` or dashes (the reference grammar's path component).
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut separator = String::new();
    for &x in b {
        if alnum(x) {
            let ok = matches!(separator.as_str(), "" | "." | "_" | "__") || separator.bytes().all(|s| s == b'-');
            if !ok {
                return false;
            }
            separator.clear();
        } else if matches!(x, b'.' | b'_' | b'-') {
            separator.push(x as char);
        } else {
            return false;
        }
    }
    true
}

/// The repository an image reference (`[host[:port]/]path[:tag][@digest]`)
/// pulls from, canonical: the host as [`canonical_host`] writes it, Docker
/// Hub's implicit `docker.io/` and `library/` written out, tag and digest
/// left off. `None` when it is no valid reference (the kubelet refuses it
/// too).
pub fn image_repository(image: &str) -> Option<String> {
    let name = match image.split_once('@') {
        Some((name, digest)) if !digest.is_empty() && !digest.contains(char::is_whitespace) => name,
        Some(_) => return None,
        None => image,
    };
    let (host, path) = match name.split_once('/') {
        Some((first, rest)) if is_registry_host(first) => (canonical_host(first)?, rest),
        _ => ("docker.io".to_owned(), name),
    };
    let path = match path.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => {
            let tag_ok = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !tag_ok {
                return None;
            }
            path
        }
        _ => path,
    };
    if !path.split('/').all(is_path_component) {
        return None;
    }
    if host == "docker.io" && !path.contains('/') {
        return Some(format!("docker.io/library/{path}"));
    }
    Some(format!("{host}/{path}"))
}

/// An `allowedImages` entry of the contract, canonical as
/// [`image_repository`] writes repositories: `host[:port]/` (a whole
/// registry), `host/path/` (every repository under that path) or
/// `host/path/repository` (that repository, any tag or digest). The host
/// is always written out (Docker Hub's official images are
/// `docker.io/library/`); tags and digests are refused (an entry names
/// where images come from, not which). `Err`: why the entry is refused.
pub fn image_prefix(entry: &str) -> Result<String, String> {
    if entry.is_empty() {
        return Err("must not be empty".into());
    }
    if entry.contains(char::is_whitespace) {
        return Err(format!("{entry:?} contains whitespace"));
    }
    if entry.contains('@') {
        return Err(format!(
            "{entry:?} names a digest: an entry names a registry, a path or a repository, not an image"
        ));
    }
    let Some((first, rest)) = entry.split_once('/') else {
        return Err(format!(
            "{entry:?} has no path: write {:?} for the whole registry",
            format!("{entry}/")
        ));
    };
    if !is_registry_host(first) {
        return Err(format!(
            "{entry:?} does not start with a registry host (write Docker Hub's as docker.io/, its official images as \
             docker.io/library/)"
        ));
    }
    let Some(host) = canonical_host(first) else {
        return Err(format!("{first:?} is not a registry host name"));
    };
    let (path, under) = match rest.strip_suffix('/') {
        Some(path) => (path, true),
        None => (rest, false),
    };
    if path.contains(':') {
        return Err(format!(
            "{entry:?} names a tag: an entry names a registry, a path or a repository, not an image"
        ));
    }
    if !path.is_empty() && !path.split('/').all(is_path_component) {
        return Err(format!(
            "{entry:?} is not a repository path (lower-case letters and digits joined by ., _, __ or -, one \
             / between components)"
        ));
    }
    Ok(match (path.is_empty(), under) {
        (true, _) => format!("{host}/"),
        (false, true) => format!("{host}/{path}/"),
        (false, false) => format!("{host}/{path}"),
    })
}

/// Whether a canonical repository ([`image_repository`]) is allowed by a
/// canonical entry ([`image_prefix`]): under it when the entry ends with
/// `/` (so `ghcr.io/cloudnative-pg/` never admits
/// `ghcr.io/cloudnative-pg.evil.example/x`), else equal to it.
pub fn image_under(repository: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        repository.starts_with(prefix)
    } else {
        repository == prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammars() {
        assert!(is_dns_label("vergabe-teilnahme"));
        assert!(!is_dns_label("Vergabe"));
        assert!(!is_dns_label("-a"));
        assert!(is_dns_subdomain("apps-pg.credentials"));
        assert!(is_pg_identifier("vergabe_db"));
        assert!(!is_pg_identifier("vergabe-db"));
        assert!(!is_pg_identifier("1db"));
        assert!(!is_pg_identifier(""));
    }

    #[rstest::rstest]
    #[case::cnpg("ghcr.io/cloudnative-pg/postgresql:16", Some("ghcr.io/cloudnative-pg/postgresql"))]
    #[case::digest(
        "ghcr.io/cloudnative-pg/postgresql:16@sha256:abc",
        Some("ghcr.io/cloudnative-pg/postgresql")
    )]
    #[case::default_port(
        "ghcr.io:443/cloudnative-pg/pgbouncer:1.25.1",
        Some("ghcr.io/cloudnative-pg/pgbouncer")
    )]
    #[case::upper_case_host("GHCR.IO/cloudnative-pg/postgresql:16", Some("ghcr.io/cloudnative-pg/postgresql"))]
    #[case::other_port(
        "ghcr.io:8443/cloudnative-pg/postgresql",
        Some("ghcr.io:8443/cloudnative-pg/postgresql")
    )]
    #[case::docker_hub_official("postgres:16", Some("docker.io/library/postgres"))]
    #[case::docker_hub_user("bitnami/postgresql", Some("docker.io/bitnami/postgresql"))]
    #[case::old_docker_hub("index.docker.io/library/postgres", Some("docker.io/library/postgres"))]
    #[case::localhost("localhost/pg:1", Some("localhost/pg"))]
    #[case::upper_case_path("ghcr.io/CloudNative-PG/postgresql", None)]
    #[case::dot_dot("ghcr.io/cloudnative-pg/../evil/pg", None)]
    #[case::empty("", None)]
    #[case::space("ghcr.io/cloudnative-pg/postgresql :16", None)]
    #[case::empty_digest("ghcr.io/cloudnative-pg/postgresql@", None)]
    fn image_repositories(#[case] image: &str, #[case] repository: Option<&str>) {
        assert_eq!(image_repository(image).as_deref(), repository);
    }

    #[rstest::rstest]
    #[case::path("ghcr.io/cloudnative-pg/", Ok("ghcr.io/cloudnative-pg/"))]
    #[case::registry("registry.example.net/", Ok("registry.example.net/"))]
    #[case::repository("ghcr.io/cloudnative-pg/postgresql", Ok("ghcr.io/cloudnative-pg/postgresql"))]
    #[case::spelled_host("GHCR.io:443/cloudnative-pg/", Ok("ghcr.io/cloudnative-pg/"))]
    #[case::with_port("mirror.internal:5000/cnpg/", Ok("mirror.internal:5000/cnpg/"))]
    #[case::empty("", Err("must not be empty"))]
    #[case::whitespace("ghcr.io/ cloudnative-pg/", Err("whitespace"))]
    #[case::digest("ghcr.io/cloudnative-pg/postgresql@sha256:abc", Err("digest"))]
    #[case::tag("ghcr.io/cloudnative-pg/postgresql:16", Err("names a tag"))]
    #[case::host_only("ghcr.io", Err("has no path"))]
    #[case::no_host("cloudnative-pg/", Err("does not start with a registry host"))]
    #[case::upper_path("ghcr.io/CloudNative-PG/", Err("not a repository path"))]
    #[case::double_slash("ghcr.io//x", Err("not a repository path"))]
    fn image_prefixes(#[case] entry: &str, #[case] want: Result<&str, &str>) {
        match (image_prefix(entry), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
            (got, want) => panic!("{entry:?}: {got:?}, wanted {want:?}"),
        }
    }

    #[rstest::rstest]
    #[case::under("ghcr.io/cloudnative-pg/postgresql:16", "ghcr.io/cloudnative-pg/", true)]
    #[case::look_alike_path("ghcr.io/cloudnative-pg.evil.example/x:1", "ghcr.io/cloudnative-pg/", false)]
    #[case::longer_name("ghcr.io/cloudnative-pgx/postgresql:16", "ghcr.io/cloudnative-pg/", false)]
    #[case::look_alike_host(
        "ghcr.io.evil.example/cloudnative-pg/postgresql:16",
        "ghcr.io/cloudnative-pg/",
        false
    )]
    #[case::default_port("ghcr.io:443/cloudnative-pg/postgresql:16", "ghcr.io/cloudnative-pg/", true)]
    #[case::other_port("ghcr.io:8443/cloudnative-pg/postgresql:16", "ghcr.io/cloudnative-pg/", false)]
    #[case::upper_case_host("GHCR.IO/cloudnative-pg/postgresql:16", "ghcr.io/cloudnative-pg/", true)]
    #[case::repository(
        "ghcr.io/cloudnative-pg/postgresql@sha256:abc",
        "ghcr.io/cloudnative-pg/postgresql",
        true
    )]
    #[case::repository_look_alike(
        "ghcr.io/cloudnative-pg/postgresql-evil:16",
        "ghcr.io/cloudnative-pg/postgresql",
        false
    )]
    #[case::docker_hub("postgres:16", "docker.io/library/", true)]
    #[case::docker_hub_user("evil/postgres:16", "docker.io/library/", false)]
    fn image_under_a_prefix(#[case] image: &str, #[case] entry: &str, #[case] allowed: bool) {
        let repository = image_repository(image).expect("a valid reference");
        assert_eq!(image_under(&repository, &image_prefix(entry).unwrap()), allowed);
    }
}
