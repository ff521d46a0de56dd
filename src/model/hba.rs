//! `pg_hba.conf` and `pg_ident.conf` entries read the way PostgreSQL reads
//! the files CloudNativePG writes.
//!
//! CloudNativePG writes each `spec.postgresql.pg_hba[]` and `pg_ident[]`
//! item (and each Pooler `spec.pgbouncer.pg_hba[]` item) into the file
//! verbatim, one item after another (`pkg/postgres/configuration.go`,
//! `hbaTemplateString` and `identTemplateString`, at v1.28.4 and v1.30.0).
//! So one item can hold several lines, and a line is what PostgreSQL's
//! tokenizer makes of it (`src/backend/libpq/hba.c`, `next_token`): lines
//! end at `\n` or `\r`, `#` outside quotes starts a comment, fields are
//! separated by blanks, a field is a comma-separated list, `"..."` quotes
//! (a quoted keyword such as `"all"` is a name, `""` a literal quote), and
//! a line ending in `\` continues on the next one.
//!
//! The guard judges every line by itself; a line it cannot classify is
//! reported as [`Unreadable`], never skipped.

/// One token of a field; `quoted` tokens are never keywords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub quoted: bool,
}

impl Token {
    /// Whether this is the unquoted keyword `word` (case-sensitive, as
    /// PostgreSQL compares keywords in these fields).
    pub fn is_keyword(&self, word: &str) -> bool {
        !self.quoted && self.text == word
    }
}

/// The connection types of a `pg_hba` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Local,
    Host,
    HostSsl,
    HostNoSsl,
    HostGssEnc,
    HostNoGssEnc,
}

impl Connection {
    fn parse(word: &str) -> Option<Connection> {
        Some(match word {
            "local" => Connection::Local,
            "host" => Connection::Host,
            "hostssl" => Connection::HostSsl,
            "hostnossl" => Connection::HostNoSsl,
            "hostgssenc" => Connection::HostGssEnc,
            "hostnogssenc" => Connection::HostNoGssEnc,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Local => "local",
            Connection::Host => "host",
            Connection::HostSsl => "hostssl",
            Connection::HostNoSsl => "hostnossl",
            Connection::HostGssEnc => "hostgssenc",
            Connection::HostNoGssEnc => "hostnogssenc",
        }
    }

    /// The transports a network connection of this type can use:
    /// (TLS, GSSAPI encryption, neither).
    pub fn transports(self) -> [bool; 3] {
        match self {
            Connection::Local => [false, false, false],
            Connection::Host => [true, true, true],
            Connection::HostSsl => [true, false, false],
            Connection::HostNoSsl => [false, true, true],
            Connection::HostGssEnc => [false, true, false],
            Connection::HostNoGssEnc => [true, false, true],
        }
    }
}

/// Every authentication method PostgreSQL (13 to 18) knows.
pub const METHODS: &[&str] = &[
    "trust",
    "reject",
    "md5",
    "password",
    "scram-sha-256",
    "gss",
    "sspi",
    "ident",
    "peer",
    "pam",
    "ldap",
    "radius",
    "cert",
    "bsd",
    "oauth",
];

/// One `pg_hba` line, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaLine {
    pub connection: Connection,
    pub databases: Vec<Token>,
    pub users: Vec<Token>,
    /// The address field of a `host*` line (`all`, a CIDR, an address whose
    /// mask follows, a host name, `samehost`, `samenet`).
    pub address: Option<Token>,
    /// Whether the address (with its mask) covers every client address.
    pub any_address: bool,
    /// Lower case.
    pub method: String,
    /// `name=value` options after the method.
    pub options: Vec<(String, String)>,
}

/// What one line of an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HbaEntry {
    Line(HbaLine),
    /// `include`, `include_if_exists`, `include_dir`: rules from a file.
    Include(String),
}

/// A line the guard cannot classify, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The line within the entry, from 1.
    pub line: usize,
    pub why: String,
}

/// A line's fields, each a list of tokens, or why it cannot be read.
type Fields = Result<Vec<Vec<Token>>, String>;

/// The non-empty lines of `entry`, each as PostgreSQL would tokenize it:
/// (line number from 1, fields, each a list of tokens). A line continued
/// with `\` is unreadable: which lines it joins depends on the whole file.
fn lines(entry: &str) -> Vec<(usize, Fields)> {
    let mut out = Vec::new();
    let physical: Vec<&str> = entry.split(['\n', '\r']).collect();
    for (i, line) in physical.iter().enumerate() {
        let fields = tokenize(line);
        match fields {
            Ok(f) if f.is_empty() => {}
            Ok(f) => {
                // PostgreSQL joins the lines before it strips comments.
                if line.trim_end().ends_with('\\') {
                    out.push((
                        i + 1,
                        Err("it ends in a backslash, which joins it to the next line of the file".to_owned()),
                    ));
                } else {
                    out.push((i + 1, Ok(f)));
                }
            }
            Err(why) => out.push((i + 1, Err(why))),
        }
    }
    out
}

/// PostgreSQL's `next_field_expand` over a whole line: fields separated by
/// blanks, each a comma-separated list of tokens.
fn tokenize(line: &str) -> Result<Vec<Vec<Token>>, String> {
    let mut fields: Vec<Vec<Token>> = Vec::new();
    let mut chars = line.chars().peekable();
    let mut field: Vec<Token> = Vec::new();
    loop {
        // Blanks between fields; a comma after a token keeps the field open.
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        if first == '#' {
            break;
        }
        let mut text = String::new();
        let (mut in_quote, mut quoted, mut was_quote, mut comma) = (false, false, false, false);
        while let Some(&c) = chars.peek() {
            if !in_quote && (c == ' ' || c == '\t') {
                break;
            }
            if c == '#' && !in_quote {
                break;
            }
            chars.next();
            if c == ',' && !in_quote {
                comma = true;
                break;
            }
            if c != '"' || was_quote {
                text.push(c);
            }
            was_quote = in_quote && c == '"' && !was_quote;
            if c == '"' {
                in_quote = !in_quote;
                quoted = true;
            }
        }
        if in_quote {
            return Err("it has an unterminated quote".to_owned());
        }
        if !text.is_empty() || quoted {
            field.push(Token { text, quoted });
        }
        if comma {
            // PostgreSQL skips blanks and commas before the next token of the list.
            while chars.peek().is_some_and(|c| matches!(c, ' ' | '\t' | ',')) {
                chars.next();
            }
            if chars.peek().is_some_and(|c| *c != '#') {
                continue;
            }
        }
        if !field.is_empty() {
            fields.push(std::mem::take(&mut field));
        }
    }
    if !field.is_empty() {
        fields.push(field);
    }
    Ok(fields)
}

/// Every line of a `pg_hba` entry: classified, or why not.
pub fn parse_hba(entry: &str) -> Vec<Result<HbaEntry, Unreadable>> {
    lines(entry)
        .into_iter()
        .map(|(line, fields)| {
            fields
                .and_then(|f| hba_line(&f))
                .map_err(|why| Unreadable { line, why })
        })
        .collect()
}

fn single<'a>(field: Option<&'a Vec<Token>>, what: &str) -> Result<&'a Token, String> {
    match field.map(Vec::as_slice) {
        Some([token]) => Ok(token),
        Some(_) => Err(format!("its {what} is a list")),
        None => Err(format!("it has no {what}")),
    }
}

fn hba_line(fields: &[Vec<Token>]) -> Result<HbaEntry, String> {
    let kind = single(fields.first(), "connection type")?;
    if !kind.quoted && kind.text.starts_with("include") {
        return Ok(HbaEntry::Include(kind.text.clone()));
    }
    let connection = Connection::parse(&kind.text)
        .filter(|_| !kind.quoted)
        .ok_or_else(|| format!("{:?} is not a connection type", kind.text))?;
    let databases = fields.get(1).ok_or("it has no database field")?.clone();
    let users = fields.get(2).ok_or("it has no user field")?.clone();
    let mut rest = 3;
    let (mut address, mut any_address) = (None, false);
    if connection != Connection::Local {
        let addr = single(fields.get(3), "address")?;
        rest = 4;
        any_address = addr.is_keyword("all");
        if let Some((ip, bits)) = addr.text.split_once('/') {
            let ip: std::net::IpAddr = ip.parse().map_err(|_| format!("{:?} is not an address", addr.text))?;
            let bits: u8 = bits.parse().map_err(|_| format!("{:?} has no valid mask", addr.text))?;
            any_address = bits == 0 && ip.is_unspecified();
        } else if let Ok(ip) = addr.text.parse::<std::net::IpAddr>() {
            let mask = single(fields.get(4), "address mask")?;
            let mask: std::net::IpAddr = mask
                .text
                .parse()
                .map_err(|_| format!("{:?} is not an address mask", mask.text))?;
            any_address = ip.is_unspecified() && mask.is_unspecified();
            rest = 5;
        }
        address = Some(addr.clone());
    }
    let method = single(fields.get(rest), "authentication method")?;
    let method_text = method.text.to_ascii_lowercase();
    if method.quoted || !METHODS.contains(&method_text.as_str()) {
        return Err(format!("{:?} is not an authentication method", method.text));
    }
    let mut options = Vec::new();
    for option in fields.iter().skip(rest + 1) {
        let token = single(Some(option), "option")?;
        let (name, value) = token
            .text
            .split_once('=')
            .ok_or_else(|| format!("option {:?} is not name=value", token.text))?;
        options.push((name.to_ascii_lowercase(), value.to_owned()));
    }
    Ok(HbaEntry::Line(HbaLine {
        connection,
        databases,
        users,
        address,
        any_address,
        method: method_text,
        options,
    }))
}

/// One `pg_ident` line: `MAP SYSTEM-USER PG-USER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentLine {
    pub map: Token,
    pub system: Token,
    pub role: Token,
}

/// Every line of a `pg_ident` entry: three single tokens, or why not.
pub fn parse_ident(entry: &str) -> Vec<Result<IdentLine, Unreadable>> {
    lines(entry)
        .into_iter()
        .map(|(line, fields)| {
            fields
                .and_then(|f| match f.as_slice() {
                    [map, system, role] => Ok(IdentLine {
                        map: single(Some(map), "map name")?.clone(),
                        system: single(Some(system), "system user")?.clone(),
                        role: single(Some(role), "database role")?.clone(),
                    }),
                    [first, ..] if first.len() == 1 && first[0].text.starts_with("include") => Err(format!(
                        "{} reads mappings from a file the guard cannot see",
                        first[0].text
                    )),
                    _ => Err(format!("it has {} fields, not MAP SYSTEM-USER ROLE", f.len())),
                })
                .map_err(|why| Unreadable { line, why })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn line(entry: &str) -> HbaLine {
        match parse_hba(entry).as_slice() {
            [Ok(HbaEntry::Line(l))] => l.clone(),
            other => panic!("one line expected: {other:?}"),
        }
    }

    fn texts(tokens: &[Token]) -> Vec<&str> {
        tokens.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn fields_lists_and_quotes_as_postgresql_reads_them() {
        // pg_hba_file_rules of PostgreSQL 15 for the same lines:
        // {all} {a,b,c} 10.0.0.0 255.0.0.0 md5
        let l = line(r#"host "all" a,b, c 10.0.0.0 255.0.0.0 md5"#);
        assert_eq!(texts(&l.databases), ["all"]);
        assert!(l.databases[0].quoted && !l.databases[0].is_keyword("all"));
        assert_eq!(texts(&l.users), ["a", "b", "c"]);
        assert_eq!(l.method, "md5");
        assert!(!l.any_address);
        let l = line(r#"hostssl "a""b" x all cert map=m # comment"#);
        assert_eq!(texts(&l.databases), [r#"a"b"#]);
        assert_eq!(l.options, [("map".to_owned(), "m".to_owned())]);
        assert!(l.any_address);
        assert!(line("host all all 0.0.0.0/0 trust").any_address);
        assert!(line("host all all 0.0.0.0 0.0.0.0 TRUST").any_address);
        assert_eq!(line("host all all 0.0.0.0 0.0.0.0 TRUST").method, "trust");
        assert!(!line("host all all 10.0.0.0/8 trust").any_address);
        assert_eq!(line("local all all peer map=local").connection, Connection::Local);
    }

    #[rstest]
    #[case::newline("host all all 10.0.0.0/8 scram-sha-256\nhost all all 0.0.0.0/0 trust", 2)]
    #[case::carriage_return("host all all 10.0.0.0/8 scram-sha-256\rhost all all 0.0.0.0/0 trust", 2)]
    #[case::comment_then_newline("host all all 10.0.0.0/8 scram-sha-256 # x\nhost all all 0.0.0.0/0 trust", 2)]
    #[case::blank_lines("\n\nhost all all 0.0.0.0/0 trust\n\n", 1)]
    #[case::comment_only("# nothing", 0)]
    fn an_entry_is_split_into_lines(#[case] entry: &str, #[case] count: usize) {
        let parsed = parse_hba(entry);
        assert_eq!(parsed.len(), count, "{parsed:?}");
        assert!(parsed.iter().all(Result::is_ok));
    }

    #[rstest]
    #[case::continuation("host all all 10.0.0.0/8 scram-sha-256\\\nhost all all 0.0.0.0/0 trust", "backslash")]
    #[case::unknown_method("host all all all bogus", "not an authentication method")]
    #[case::quoted_method("host all all all \"trust\"", "not an authentication method")]
    #[case::unknown_type("hots all all all trust", "not a connection type")]
    #[case::no_method("host all all 10.0.0.0/8", "no authentication method")]
    #[case::no_mask("host all all 10.0.0.1 trust", "not an address mask")]
    #[case::bad_cidr("host all all 10.0.0.0/x trust", "no valid mask")]
    #[case::bad_option("host all all all ldap ldapserver", "not name=value")]
    #[case::open_quote("host \"all all all trust", "unterminated quote")]
    #[case::no_user("local all", "no user field")]
    fn lines_the_guard_cannot_classify(#[case] entry: &str, #[case] why: &str) {
        let parsed = parse_hba(entry);
        let Some(Err(u)) = parsed.iter().find(|p| p.is_err()) else {
            panic!("unreadable expected: {parsed:?}")
        };
        assert!(u.why.contains(why), "{}", u.why);
    }

    #[test]
    fn ident_lines() {
        let parsed = parse_ident("certs vergabe vergabe\ncerts shop apps_admin");
        assert_eq!(parsed.len(), 2);
        let Ok(second) = &parsed[1] else { panic!() };
        assert_eq!(second.role.text, "apps_admin");
        assert!(parse_ident("certs a,b c")[0].is_err());
        assert!(parse_ident("certs a")[0].is_err());
        assert!(parse_ident("include other.conf")[0].is_err());
    }
}
