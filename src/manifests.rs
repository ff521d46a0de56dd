//! Reading manifests: files, directories (recursively), stdin; YAML
//! multi-document streams, JSON, and `List` objects; decoding the
//! documents of covered kinds. What `check` and `serve --facts-from` read.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::{Kind, Object};

/// Manifest inputs larger than this are refused (a repository is not that big).
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

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
    #[error("{path}: document {index}: {message}")]
    Parse {
        path: String,
        index: usize,
        message: String,
    },
}

/// One document of one input.
#[derive(Debug)]
pub struct Document {
    pub file: String,
    pub value: Value,
}

/// Reads every path (`-` is stdin) into documents, in a stable order.
pub fn read_all(paths: &[String]) -> Result<Vec<Document>, InputError> {
    let mut docs = Vec::new();
    for path in paths {
        if path == "-" {
            let mut text = String::new();
            std::io::stdin()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_string(&mut text)
                .map_err(|source| InputError::Io {
                    path: "<stdin>".into(),
                    source,
                })?;
            if text.len() as u64 > MAX_INPUT_BYTES {
                return Err(InputError::TooLarge { path: "<stdin>".into() });
            }
            parse_documents("<stdin>", &text, &mut docs)?;
            continue;
        }
        let p = Path::new(path);
        let io = |source| InputError::Io {
            path: path.clone(),
            source,
        };
        if p.is_dir() {
            let mut files = Vec::new();
            walk(p, &mut files).map_err(io)?;
            files.sort();
            for f in files {
                read_file(&f, &mut docs)?;
            }
        } else {
            read_file(p, &mut docs)?;
        }
    }
    Ok(docs)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            out.push(path);
        }
    }
    Ok(())
}

fn read_file(path: &Path, docs: &mut Vec<Document>) -> Result<(), InputError> {
    let name = path.display().to_string();
    let io = |source| InputError::Io {
        path: name.clone(),
        source,
    };
    if std::fs::metadata(path).map_err(io)?.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge { path: name });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    parse_documents(&name, &text, docs)
}

/// Splits a YAML stream (JSON is YAML) into documents; `List`s are expanded.
pub fn parse_documents(file: &str, text: &str, docs: &mut Vec<Document>) -> Result<(), InputError> {
    for (index, de) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value: Value = match serde::Deserialize::deserialize(de) {
            Ok(v) => v,
            Err(e) => {
                return Err(InputError::Parse {
                    path: file.to_owned(),
                    index: index + 1,
                    message: e.to_string(),
                });
            }
        };
        push(file, value, docs);
    }
    Ok(())
}

fn push(file: &str, value: Value, docs: &mut Vec<Document>) {
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
                    push(file, item, docs);
                }
            }
        }
        value => docs.push(Document {
            file: file.to_owned(),
            value,
        }),
    }
}

/// Typed objects from documents: `(file, namespace, name, object)`, plus
/// how many documents were skipped and which could not be read.
pub struct Decoded {
    pub objects: Vec<(String, String, String, Object)>,
    pub skipped: usize,
    pub errors: Vec<String>,
}

/// Decodes the documents of covered kinds. Namespaced objects without a
/// namespace are taken to be in `default_namespace`, as kubectl would.
pub fn decode(documents: Vec<Document>, default_namespace: &str) -> Decoded {
    let mut out = Decoded {
        objects: Vec::new(),
        skipped: 0,
        errors: Vec::new(),
    };
    for doc in documents {
        let Some((kind, namespace, name)) = identify(&doc.value, default_namespace) else {
            out.skipped += 1;
            continue;
        };
        match Object::decode(kind, doc.value) {
            Ok(object) => out.objects.push((doc.file, namespace, name, object)),
            Err(e) => out.errors.push(format!(
                "{}: {kind} {}: cannot be read: {e}",
                doc.file,
                crate::model::display_name(&namespace, &name)
            )),
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
