//! Finding PostgreSQL credentials inside a Secret value: `postgres://` and
//! `postgresql://` URIs, JDBC URLs, libpq key=value DSNs and pgpass lines.
//!
//! The parsers are lenient (they read what libpq and pgJDBC would read) and
//! bounded (linear in the input, no backtracking). They return borrowed or
//! decoded user names and passwords; callers never print the passwords.

use std::borrow::Cow;

/// Where a credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Uri,
    Jdbc,
    KeyValue,
    Pgpass,
}

impl Form {
    pub fn describe(self) -> &'static str {
        match self {
            Form::Uri => "a PostgreSQL URI",
            Form::Jdbc => "a JDBC URL",
            Form::KeyValue => "a key=value DSN",
            Form::Pgpass => "a pgpass line",
        }
    }
}

/// A user (and maybe a password) found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential<'a> {
    pub form: Form,
    pub user: Option<Cow<'a, str>>,
    pub password: Option<Cow<'a, str>>,
}

/// Lines longer than this are not DSNs or pgpass lines (but URIs inside
/// them are still found).
const MAX_LINE: usize = 8 * 1024;

/// The lines of `text` as `str::lines` gives them (`\r\n` ends a line too;
/// no empty line after a final newline), found with a SIMD search: a value
/// can be a 1 MiB bundle, and this is several times faster over it.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text).filter(|t| !t.is_empty());
    std::iter::from_fn(move || {
        let t = rest?;
        Some(match memchr::memchr(b'\n', t.as_bytes()) {
            Some(i) => {
                rest = Some(&t[i + 1..]).filter(|r| !r.is_empty());
                t[..i].strip_suffix('\r').unwrap_or(&t[..i])
            }
            None => {
                rest = None;
                t
            }
        })
    })
}

/// Every credential in `text`, in order of appearance.
pub fn credentials(text: &str) -> Vec<Credential<'_>> {
    let mut out = Vec::new();
    uris(text, &mut out);
    for line in lines(text) {
        let line = line.trim();
        if line.is_empty() || line.len() > MAX_LINE || line.starts_with('#') {
            continue;
        }
        if let Some(c) = pgpass(line) {
            out.push(c);
        } else if let Some(c) = key_value(line) {
            out.push(c);
        }
    }
    out
}

/// URIs and JDBC URLs anywhere in the text (one linear pass, no copy: a
/// 1 MiB value is searched in place).
fn uris<'a>(text: &'a str, out: &mut Vec<Credential<'a>>) {
    let bytes = text.as_bytes();
    let has = |at: usize, word: &[u8]| {
        bytes
            .get(at..at + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    };
    let mut from = 0;
    for start in memchr::memchr2_iter(b'p', b'P', bytes) {
        if start < from || !has(start, b"postgres") {
            continue;
        }
        let jdbc = start >= 5 && has(start - 5, b"jdbc:");
        let tail = start + "postgres".len();
        let scheme = if has(tail, b"ql://") {
            "postgresql://".len()
        } else if has(tail, b"://") {
            "postgres://".len()
        } else if jdbc && has(tail, b"ql:") {
            "postgresql:".len()
        } else {
            continue;
        };
        let after = start + scheme;
        let end = text[after..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ','))
            .map(|i| after + i)
            .unwrap_or(text.len());
        out.push(parse_uri(&text[after..end], if jdbc { Form::Jdbc } else { Form::Uri }));
        from = end;
    }
}

/// `[user[:password]@]host[:port][/db][?k=v&...]` after the scheme.
fn parse_uri(rest: &str, form: Form) -> Credential<'_> {
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = before_query.split('/').next().unwrap_or("");
    let (mut user, mut password) = (None, None);
    if let Some((userinfo, _host)) = authority.rsplit_once('@') {
        match userinfo.split_once(':') {
            Some((u, p)) => {
                user = Some(percent_decode(u));
                password = Some(percent_decode(p));
            }
            None => user = Some(percent_decode(userinfo)),
        }
    }
    for pair in query.split(['&', ';']) {
        let Some((k, v)) = pair.split_once('=') else { continue };
        match k.to_ascii_lowercase().as_str() {
            "user" => user = Some(percent_decode(v)),
            "password" => password = Some(percent_decode(v)),
            _ => {}
        }
    }
    Credential {
        form,
        user: user.filter(|u| !u.is_empty()),
        password: password.filter(|p| !p.is_empty()),
    }
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// libpq keywords; a line is a DSN only if every key is one of them.
const LIBPQ_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
    "client_encoding",
    "service",
    "channel_binding",
    "gssencmode",
    "require_auth",
    "load_balance_hosts",
    "keepalives",
    "sslnegotiation",
];

/// `host=... user=... password='...'`: whitespace-separated, values may be
/// single-quoted with backslash escapes, spaces around `=` allowed.
fn key_value(line: &str) -> Option<Credential<'_>> {
    let mut rest = line;
    let (mut user, mut password, mut pairs) = (None, None, 0);
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        if !LIBPQ_KEYS.contains(&key) {
            return None;
        }
        rest = rest[eq + 1..].trim_start();
        let value: Cow<'_, str>;
        if let Some(quoted) = rest.strip_prefix('\'') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '\'' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            rest = &quoted[end?..];
            value = Cow::Owned(v);
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value = Cow::Borrowed(&rest[..end]);
            rest = &rest[end..];
        }
        pairs += 1;
        match key {
            "user" => user = Some(value),
            "password" => password = Some(value),
            _ => {}
        }
    }
    (pairs >= 2 || user.is_some()).then_some(())?;
    (user.is_some() || password.is_some()).then_some(Credential {
        form: Form::KeyValue,
        user,
        password,
    })
}

/// `hostname:port:database:username:password` with `\:` and `\\` escapes.
fn pgpass(line: &str) -> Option<Credential<'_>> {
    let mut fields: Vec<Cow<'_, str>> = Vec::with_capacity(5);
    let mut start = 0;
    let mut escaped = false;
    let mut owned: Option<String> = None;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            owned.get_or_insert_with(String::new).push(c);
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                owned.get_or_insert_with(|| line[start..i].to_owned());
            }
            ':' if fields.len() < 4 => {
                fields.push(match owned.take() {
                    Some(s) => Cow::Owned(s),
                    None => Cow::Borrowed(&line[start..i]),
                });
                start = i + 1;
            }
            c => {
                if let Some(s) = owned.as_mut() {
                    s.push(c);
                }
            }
        }
    }
    if fields.len() != 4 {
        return None;
    }
    fields.push(match owned.take() {
        Some(s) => Cow::Owned(s),
        None => Cow::Borrowed(&line[start..]),
    });
    let port = &fields[1];
    if !(port == "*" || (!port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()))) {
        return None;
    }
    if fields[0].is_empty() || fields[3].is_empty() || fields[0].contains('/') {
        return None;
    }
    let password = fields.pop();
    let user = fields.pop();
    Some(Credential {
        form: Form::Pgpass,
        user,
        password,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    proptest! {
        // Shrunk failures are kept with the others in tests/regressions/.
        #![proptest_config(proptest::test_runner::Config {
            failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
                "tests/regressions/dsn.txt",
            ))),
            ..proptest::test_runner::Config::default()
        })]
        /// `lines` splits exactly as `str::lines`.
        #[test]
        fn lines_are_str_lines(text in "[a\r\n\u{e9} ]{0,40}") {
            prop_assert_eq!(lines(&text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>());
        }
    }

    #[rstest]
    #[case("")]
    #[case("\n")]
    #[case("a")]
    #[case("a\n")]
    #[case("a\r\nb\r")]
    #[case("\r\n\r\n")]
    #[case("a\n\nb\n\n")]
    fn lines_edge_cases(#[case] text: &str) {
        assert_eq!(lines(text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>());
    }

    #[rstest]
    #[case::uri(
        "postgresql://apps_admin:pw@apps-pg-rw.databases.svc:5432/apps_meta",
        Form::Uri,
        "apps_admin",
        Some("pw")
    )]
    #[case::short_scheme("postgres://apps_admin@h/db", Form::Uri, "apps_admin", None)]
    #[case::uri_query_user(
        "postgresql://h:5432/db?user=apps_admin&password=pw",
        Form::Uri,
        "apps_admin",
        Some("pw")
    )]
    #[case::uri_percent_encoded("postgresql://apps%5Fadmin:p%40ss@h/db", Form::Uri, "apps_admin", Some("p@ss"))]
    #[case::uri_in_env_line(
        "DATABASE_URL=\"postgresql://apps_admin:pw@h/db\"",
        Form::Uri,
        "apps_admin",
        Some("pw")
    )]
    #[case::uppercase_scheme("POSTGRESQL://apps_admin:pw@h/db", Form::Uri, "apps_admin", Some("pw"))]
    #[case::jdbc(
        "jdbc:postgresql://h:5432/apps_meta?user=apps_admin&password=pw",
        Form::Jdbc,
        "apps_admin",
        Some("pw")
    )]
    #[case::jdbc_no_host("jdbc:postgresql:apps_meta?user=apps_admin", Form::Jdbc, "apps_admin", None)]
    #[case::key_value(
        "host=apps-pg-rw user=apps_admin dbname=apps_meta",
        Form::KeyValue,
        "apps_admin",
        None
    )]
    #[case::key_value_quoted(
        "host = h user = 'apps_admin' password = 'a b\\'c'",
        Form::KeyValue,
        "apps_admin",
        Some("a b'c")
    )]
    #[case::pgpass(
        "apps-pg-rw.databases.svc:5432:apps_meta:apps_admin:pw",
        Form::Pgpass,
        "apps_admin",
        Some("pw")
    )]
    #[case::pgpass_wildcards("*:*:*:apps_admin:p\\:w", Form::Pgpass, "apps_admin", Some("p:w"))]
    fn finds_the_user(#[case] text: &str, #[case] form: Form, #[case] user: &str, #[case] password: Option<&str>) {
        let found = credentials(text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].form, form);
        assert_eq!(found[0].user.as_deref(), Some(user));
        assert_eq!(found[0].password.as_deref(), password);
    }

    #[rstest]
    #[case::plain_password("s3cr3t")]
    #[case::yaml_line("key: value")]
    #[case::time("12:30:45")]
    #[case::url("https://example.com/a:b")]
    #[case::env_assignment("FOO=bar")]
    #[case::unterminated_quote("host=h user='apps_admin")]
    #[case::ipv6_like("fe80::1:2:3")]
    fn finds_nothing(#[case] text: &str) {
        assert_eq!(credentials(text), vec![]);
    }

    #[test]
    fn several_in_one_value() {
        let text = "# pgpass\nh:5432:db:vergabe:x\nh:5432:db:apps_admin:y\nURL=postgres://a@h/db postgres://b@h/db\n";
        let users: Vec<_> = credentials(text)
            .into_iter()
            .filter_map(|c| c.user.map(|u| u.into_owned()))
            .collect();
        assert_eq!(users, ["a", "b", "vergabe", "apps_admin"]);
    }

    #[test]
    fn hostile_input_is_bounded() {
        let big = "postgresql://".repeat(10_000) + &"a=".repeat(10_000) + &":".repeat(10_000);
        let _ = credentials(&big);
        let _ = credentials("%");
        let _ = credentials("postgresql://%4");
        let _ = credentials("jdbc:postgresql:");
    }
}
