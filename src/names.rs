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
