//! Reading manifests: files, directories (recursively), stdin; YAML
//! multi-document streams, JSON, and `List` objects; decoding the
//! documents of covered kinds. What `check` and `serve --facts-from` read.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::{Kind, Object};

/// Manifest inputs larger than this are refused (a repository is not that big).
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Flow collections (`[`, `{`) nested deeper than this are refused before
/// the YAML parser sees them: libyaml's work grows with the nesting depth
/// for every token, so 200,000 nested `[` would take minutes. Real
/// manifests nest a few levels, and serde's own limit (128 levels, block
/// and flow together) refuses anything deeper after parsing anyway.
pub const MAX_FLOW_DEPTH: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_INPUT_BYTES} bytes")]
    TooLarge { path: String },
    #[error("{path}:{line}: {message}")]
    Parse { path: String, line: usize, message: String },
    #[error("{path}:{line}: nested deeper than {MAX_FLOW_DEPTH} levels of [ and {{; refused without parsing")]
    TooDeep { path: String, line: usize },
    #[error("{path}: {}", helm_chart_message(path))]
    HelmChart { path: String },
}

/// What to do with a Helm chart: its templates are not manifests yet.
fn helm_chart_message(path: &str) -> String {
    format!(
        "a Helm chart (Chart.yaml): its templates are not manifests until rendered; \
         check the rendering: helm template RELEASE {path} | cnpg-guard check -"
    )
}

/// Said after a parse error of a text that holds `{{`: a template
/// (Helm, Go templates) parses as YAML only once rendered.
const TEMPLATE_HINT: &str =
    "; it holds {{ … }}: a template must be rendered first (e.g. helm template RELEASE CHART | cnpg-guard check -)";

impl InputError {
    /// The input the error is about (`<stdin>` for stdin).
    pub fn path(&self) -> &str {
        match self {
            InputError::Io { path, .. }
            | InputError::TooLarge { path }
            | InputError::Parse { path, .. }
            | InputError::TooDeep { path, .. }
            | InputError::HelmChart { path } => path,
        }
    }

    /// The line the error is about, where known.
    pub fn line(&self) -> Option<usize> {
        match self {
            InputError::Parse { line, .. } | InputError::TooDeep { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// One document of one input.
#[derive(Debug)]
pub struct Document {
    pub file: String,
    /// The 1-based line where the document's content starts (for the items
    /// of a `List`, the List's), where it could be told.
    pub line: Option<usize>,
    pub value: Value,
}

/// What [`read_all`] read: the documents of every readable input, and the
/// inputs that could not be read (each is reported; the others are still read).
#[derive(Debug, Default)]
pub struct Inputs {
    pub documents: Vec<Document>,
    pub unreadable: Vec<InputError>,
}

impl Inputs {
    /// Documents that look like Kubernetes objects (`apiVersion` and `kind`).
    pub fn object_count(&self) -> usize {
        self.documents
            .iter()
            .filter(|d| {
                d.value.get("apiVersion").is_some_and(Value::is_string)
                    && d.value.get("kind").is_some_and(Value::is_string)
            })
            .count()
    }
}

/// Reads every path (`-` is stdin) into documents, in a stable order. An
/// input that cannot be read is recorded in [`Inputs::unreadable`] and
/// contributes no document; the others are read all the same.
pub fn read_all(paths: &[String]) -> Inputs {
    let mut inputs = Inputs::default();
    for path in paths {
        if path == "-" {
            let name = "<stdin>";
            let mut bytes = Vec::new();
            let read = std::io::stdin().take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes);
            let result = match read {
                Err(source) => Err(InputError::Io {
                    path: name.into(),
                    source,
                }),
                Ok(_) if bytes.len() as u64 > MAX_INPUT_BYTES => Err(InputError::TooLarge { path: name.into() }),
                Ok(_) => text_of(name, bytes).and_then(|text| parse_documents(name, &text)),
            };
            inputs.add(result);
            continue;
        }
        let p = Path::new(path);
        if p.is_dir() {
            let mut files = Vec::new();
            let mut charts = Vec::new();
            if let Err(source) = walk(p, &mut files, &mut charts) {
                inputs.unreadable.push(InputError::Io {
                    path: path.clone(),
                    source,
                });
                continue;
            }
            files.sort();
            for f in files {
                inputs.add(read_file(&f));
            }
            charts.sort();
            for chart in charts {
                inputs.unreadable.push(InputError::HelmChart {
                    path: chart.display().to_string(),
                });
            }
        } else {
            inputs.add(read_file(p));
        }
    }
    inputs
}

impl Inputs {
    fn add(&mut self, result: Result<Vec<Document>, InputError>) {
        match result {
            Ok(docs) => self.documents.extend(docs),
            Err(e) => self.unreadable.push(e),
        }
    }
}

/// The manifest files under `dir`; a directory holding a `Chart.yaml` is a
/// Helm chart, reported in `charts` and not read.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, charts: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if dir.join("Chart.yaml").is_file() {
        charts.push(dir.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, out, charts)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            out.push(path);
        }
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<Vec<Document>, InputError> {
    let name = path.display().to_string();
    let io = |source| InputError::Io {
        path: name.clone(),
        source,
    };
    if std::fs::metadata(path).map_err(io)?.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge { path: name });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = text_of(&name, bytes)?;
    parse_documents(&name, &text)
}

/// The input as UTF-8 text, as kubectl reads it.
fn text_of(path: &str, bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        InputError::Parse {
            path: path.to_owned(),
            line: 1 + memchr::memchr_iter(b'\n', valid).count(),
            message: "not UTF-8 text".into(),
        }
    })
}

/// Splits a YAML stream (JSON is YAML) into documents; `List`s are
/// expanded. A leading UTF-8 byte-order mark is skipped; a mapping that
/// names a key twice is refused, as kubectl refuses it.
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<Document>, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(line) = too_deep(text.as_bytes(), MAX_FLOW_DEPTH) {
        return Err(InputError::TooDeep {
            path: file.to_owned(),
            line,
        });
    }
    let starts = document_lines(text);
    let mut values = Vec::new();
    for de in serde_norway::Deserializer::from_str(text) {
        match <Strict as serde::Deserialize>::deserialize(de) {
            Ok(Strict(v)) => values.push(v),
            Err(e) => {
                let mut message = yaml_message(&e);
                if text.contains("{{") {
                    message.push_str(TEMPLATE_HINT);
                }
                return Err(InputError::Parse {
                    path: file.to_owned(),
                    line: e.location().map_or(1, |l| l.line()),
                    message,
                });
            }
        }
    }
    // The lines are only used when they are known to belong to the documents
    // the parser found.
    let aligned = starts.len() == values.len();
    let mut docs = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let line = if aligned { starts.get(i).copied() } else { None };
        push(file, line, value, &mut docs);
    }
    Ok(docs)
}

/// serde_norway's message without its trailing position (printed first).
fn yaml_message(e: &serde_norway::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}

/// The line of the first `[`/`{` that opens a flow collection deeper than
/// `limit`, counting every bracket (also in quotes and comments, which
/// only ever over-counts): a bound on the parser's work, checked in one
/// pass before the parser runs.
fn too_deep(text: &[u8], limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    for &b in text {
        match b {
            b'\n' => line += 1,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The line where each document of a YAML stream starts, in the order the
/// parser yields them: a document is explicit from a `---` line on, and
/// implicit (at the start, or after a `...` line) from its first content
/// line; an explicit one without content counts from its `---`.
fn document_lines(text: &str) -> Vec<usize> {
    fn marker(line: &str, m: &str) -> Option<bool> {
        let rest = line.strip_prefix(m)?;
        if rest.is_empty() || rest.starts_with([' ', '\t']) {
            let rest = rest.trim();
            Some(!rest.is_empty() && !rest.starts_with('#'))
        } else {
            None
        }
    }
    let mut starts = Vec::new();
    // (explicit marker line, first content line) of the open document.
    let mut explicit: Option<usize> = None;
    let mut content: Option<usize> = None;
    let finish = |explicit: Option<usize>, content: Option<usize>, starts: &mut Vec<usize>| {
        if let Some(line) = content.or(explicit) {
            starts.push(line);
        }
    };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(inline) = marker(line, "---") {
            finish(explicit, content, &mut starts);
            explicit = Some(n);
            content = inline.then_some(n);
        } else if marker(line, "...").is_some() {
            finish(explicit, content, &mut starts);
            explicit = None;
            content = None;
        } else if content.is_none() {
            let t = line.trim_start();
            let directive = explicit.is_none() && line.starts_with('%');
            if !(t.is_empty() || t.starts_with('#') || directive) {
                content = Some(n);
            }
        }
    }
    finish(explicit, content, &mut starts);
    starts
}

/// A JSON tree from YAML that refuses a mapping naming a key twice (where
/// serde_json's own `Value` keeps the last).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(NewKey(&out))? {
            let Strict(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key not yet in the mapping: refused while the parser is at the
/// key, so the error carries the duplicate's own line.
struct NewKey<'m>(&'m serde_json::Map<String, Value>);

impl<'de> serde::de::DeserializeSeed<'de> for NewKey<'_> {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_string(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NewKey<'_> {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<String, E> {
        if self.0.contains_key(key) {
            Err(E::custom(format_args!(
                "mapping key {key:?} already defined (duplicate key)"
            )))
        } else {
            Ok(key.to_owned())
        }
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
}

fn push(file: &str, line: Option<usize>, value: Value, docs: &mut Vec<Document>) {
    match value {
        Value::Null => {}
        Value::Object(mut map)
            if map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = map.remove("items") {
                for item in items {
                    push(file, line, item, docs);
                }
            }
        }
        value => docs.push(Document {
            file: file.to_owned(),
            line,
            value,
        }),
    }
}

/// One decoded object of a covered kind, and where it was read.
#[derive(Debug)]
pub struct Located {
    pub file: String,
    pub line: Option<usize>,
    pub namespace: String,
    pub name: String,
    pub object: Object,
}

/// An input, or an object in it, that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl From<&InputError> for Unreadable {
    fn from(e: &InputError) -> Self {
        let message = match e {
            InputError::Io { source, .. } => source.to_string(),
            InputError::TooLarge { .. } => format!("larger than {MAX_INPUT_BYTES} bytes"),
            InputError::Parse { message, .. } => message.clone(),
            InputError::TooDeep { .. } => {
                format!("nested deeper than {MAX_FLOW_DEPTH} levels of [ and {{; refused without parsing")
            }
            InputError::HelmChart { path } => helm_chart_message(path),
        };
        Unreadable {
            file: e.path().to_owned(),
            line: e.line(),
            message,
        }
    }
}

/// Typed objects from documents, plus the documents that were skipped and
/// those that could not be read.
pub struct Decoded {
    pub objects: Vec<Located>,
    pub skipped: Vec<SkippedDocument>,
    pub errors: Vec<Unreadable>,
}

/// A document that is not checked: not a Kubernetes object, or of a kind
/// the contract does not cover.
#[derive(Debug, Clone)]
pub struct SkippedDocument {
    pub file: String,
    pub line: Option<usize>,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub reason: &'static str,
}

/// CloudNativePG's kinds in `postgresql.cnpg.io/v1`. A kind of that group
/// that is not one of them is a misspelling (`Databse`), refused rather than
/// skipped: a misspelt Database would otherwise pass unchecked.
const CNPG_KINDS: [&str; 11] = [
    "Backup",
    "Cluster",
    "ClusterImageCatalog",
    "Database",
    "DatabaseRole",
    "FailoverQuorum",
    "ImageCatalog",
    "Pooler",
    "Publication",
    "ScheduledBackup",
    "Subscription",
];
const CNPG_GROUP: &str = "postgresql.cnpg.io";

/// Why a document of no covered kind is skipped, or the error when it
/// claims CloudNativePG's group with a kind or version CloudNativePG lacks.
fn skip_reason(value: &Value) -> Result<&'static str, String> {
    let (Some(api_version), Some(kind)) = (
        value.get("apiVersion").and_then(Value::as_str),
        value.get("kind").and_then(Value::as_str),
    ) else {
        return Ok("not a Kubernetes object (no apiVersion or kind)");
    };
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    if group == CNPG_GROUP {
        if !CNPG_KINDS.contains(&kind) {
            let near = CNPG_KINDS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(kind) || similar(k, kind))
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default();
            return Err(format!(
                "{api_version} has no kind {kind:?}{near}: CloudNativePG's kinds are {}; \
                 the API server would refuse it, and the guard cannot check it",
                CNPG_KINDS.join(", ")
            ));
        }
        if version != "v1" {
            return Err(format!(
                "{api_version} {kind}: CloudNativePG serves {CNPG_GROUP}/v1 only; the guard cannot check it"
            ));
        }
    }
    if value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .is_none()
        && Kind::from_api_version(api_version, kind).is_some()
    {
        return Ok("no metadata.name");
    }
    Ok("a kind the contract does not cover")
}

/// Two kind names one edit apart (a letter missing, added, changed or two
/// swapped): enough to name the kind a typo meant.
fn similar(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    match long.len() - short.len() {
        0 => {
            let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            diff.len() == 1
                || (diff.len() == 2 && diff[1] == diff[0] + 1 && a[diff[0]] == b[diff[1]] && a[diff[1]] == b[diff[0]])
        }
        1 => {
            let i = (0..short.len()).find(|&i| short[i] != long[i]).unwrap_or(short.len());
            short[i..] == long[i + 1..]
        }
        _ => false,
    }
}

/// Decodes the documents of covered kinds. Namespaced objects without a
/// namespace are taken to be in `default_namespace`, as kubectl would.
pub fn decode(documents: Vec<Document>, default_namespace: &str) -> Decoded {
    let mut out = Decoded {
        objects: Vec::new(),
        skipped: Vec::new(),
        errors: Vec::new(),
    };
    for doc in documents {
        let Some((kind, namespace, name)) = identify(&doc.value, default_namespace) else {
            let text = |key: &str| doc.value.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
            match skip_reason(&doc.value) {
                Ok(reason) => out.skipped.push(SkippedDocument {
                    api_version: text("apiVersion"),
                    kind: text("kind"),
                    name: doc
                        .value
                        .get("metadata")
                        .and_then(|m| m.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    file: doc.file,
                    line: doc.line,
                    reason,
                }),
                Err(message) => out.errors.push(Unreadable {
                    file: doc.file,
                    line: doc.line,
                    message,
                }),
            }
            continue;
        };
        match Object::decode(kind, doc.value) {
            Ok(object) => out.objects.push(Located {
                file: doc.file,
                line: doc.line,
                namespace,
                name,
                object,
            }),
            Err(e) => out.errors.push(Unreadable {
                file: doc.file,
                line: doc.line,
                message: format!(
                    "{kind} {}: cannot be read: {e}",
                    crate::model::display_name(&namespace, &name)
                ),
            }),
        }
    }
    out
}

/// The covered kind, namespace and name of a document, or `None` to skip it.
fn identify(value: &Value, default_namespace: &str) -> Option<(Kind, String, String)> {
    let api_version = value.get("apiVersion")?.as_str()?;
    let kind = Kind::from_api_version(api_version, value.get("kind")?.as_str()?)?;
    let meta = value.get("metadata")?;
    let name = meta.get("name")?.as_str()?.to_owned();
    let namespace = if kind.is_namespaced() {
        meta.get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(default_namespace)
            .to_owned()
    } else {
        String::new()
    };
    Some((kind, namespace, name))
}
