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
}
